"""Servicing: what the servicer sends and what the ledger makes of it (SPEC §4-§6).

- tapes: :mod:`~ledger.servicing.tape_formats` (the pinned columns, row models, errors),
  :mod:`~ledger.servicing.tape_fields` (field parsers), :mod:`~ledger.servicing.tape_parse`,
  :mod:`~ledger.servicing.tape_checks` (checks against loan state),
  :mod:`~ledger.servicing.tape_writers`;
- boarding and eligibility: :mod:`~ledger.servicing.boarding`, :mod:`~ledger.servicing.eligibility`;
- the monthly tape: :mod:`~ledger.servicing.servicer_import`; either kind:
:mod:`~ledger.servicing.imports`;
- single events and reversals by an operator: :mod:`~ledger.servicing.operator`;
- collection periods: :mod:`~ledger.servicing.periods`;
- loan arithmetic: :mod:`~ledger.core.amortisation`, :mod:`~ledger.core.discounting`.

May import ``ledger.core``, ``events``, ``projections``, ``ledger.deal`` and ``ledger.waterfall``.
"""
