"""Simulated servicing for demonstrations and tests: pool profiles shaped like the seed deals
(:mod:`~ledger.simulation.pool_profiles`), the pool and month simulator
(:mod:`~ledger.simulation.simulate`) and the ``demo`` command's run
(:mod:`~ledger.simulation.demo`).

May import every capability below the front ends; never ``ledger.cli`` or ``ledger.api``.
"""
