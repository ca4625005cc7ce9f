"""The HTTP API (SPEC §5) for the servicer, the trustee and the auditor. With :mod:`ledger.cli`, the
only place that parses HTTP; every route calls a capability below."""
