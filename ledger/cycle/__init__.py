"""The payment-date cycle (SPEC §1, §4): the trust's state at a determination date
(:mod:`~ledger.cycle.state`), the deal's schedule (:mod:`~ledger.cycle.schedule`), the pure plan
of one date's events (:mod:`~ledger.cycle.plan`), the walk over due dates that appends them
(:mod:`~ledger.cycle.walk`), the trustee's acts around a date (:mod:`~ledger.cycle.acts`) and the
scheduler service (:mod:`~ledger.cycle.scheduler`).

May import ``ledger.core``, ``events``, ``projections``, ``ledger.deal``, ``ledger.waterfall`` and
``ledger.servicing``.
"""
