"""trust-ledger's application: the deal, its servicing, its payment dates, its audit and its front
ends.

Packages, from the bottom floor up (a package imports only from packages below it, and from
``events`` and ``projections``, which sit between ``core`` and the rest; ``tests/test_layers.py``
enforces it):

- :mod:`ledger.core` — money, accounts, journal entries, the formula language, the calendar;
- :mod:`ledger.deal` — the deal definition: schema, checks, loader, the deal records in the store;
- :mod:`ledger.waterfall` — the pure waterfall engine and trigger evaluation;
- :mod:`ledger.servicing` — boarding, tapes, eligibility, servicer import, operator events,
  amortisation and discounted balances;
- :mod:`ledger.cycle` — the payment-date cycle: trust state, plan, walk, trustee acts, scheduler;
- :mod:`ledger.audit` — time axes, history, verify, bank statements and reconciliation;
- :mod:`ledger.reports` — the trustee and servicer reports and their file formats;
- :mod:`ledger.simulation` — the pool simulator, pool profiles and the demo;
- :mod:`ledger.api` and :mod:`ledger.cli` — the front ends, the only places that parse HTTP or
  command-line arguments.

See ``docs/architecture.md``.
"""
