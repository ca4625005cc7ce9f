"""``python -m ledger.cli``: the ``trust-ledger`` command."""

from ledger.cli.main import app

app()
