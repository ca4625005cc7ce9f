"""The core every other layer may import: money (``Decimal`` to the fen), account names, journal
entries, the deal formula language (:mod:`ledger.core.expr`), the PRC business calendar and day
counts (:mod:`ledger.core.calendar`) and logging set-up.

Imports only the standard library and third-party packages, never ``events``, ``projections`` or
another ``ledger`` package.
"""
