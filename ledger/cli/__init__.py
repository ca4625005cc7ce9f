"""The ``trust-ledger`` command (:mod:`~ledger.cli.main`), one module per command group. The only
place, with :mod:`ledger.api`, that parses arguments; every command calls a capability below."""
