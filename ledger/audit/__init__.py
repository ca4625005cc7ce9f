"""The auditor's and the trustee's tools over recorded events: the two time axes
(:mod:`~ledger.audit.timeaxes`), the history behind a figure (:mod:`~ledger.audit.history`),
read documents (:mod:`~ledger.audit.queries`), the chain and replay check
(:mod:`~ledger.audit.verify`), bank statements (:mod:`~ledger.audit.statements`) and their
reconciliation (:mod:`~ledger.audit.reconcile`, :mod:`~ledger.audit.statement_import`).

May import ``ledger.core``, ``events``, ``projections``, ``ledger.deal``, ``ledger.waterfall``,
``ledger.servicing`` and ``ledger.cycle``.
"""
