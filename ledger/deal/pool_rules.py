"""Loan-level rules of a deal: eligibility tests and the repurchase price (SPEC §3).

Pure functions over one loan's fields (``loan.<field>`` in the deal's formulas, declared under
``loan_fields``). Boarding tapes and revolving purchases call :func:`eligibility_failures`; a
repurchase event calls :func:`repurchase_price` (seed 004 L2763: outstanding principal + written
off principal + unpaid interest; seed 001 L13432-13446: the Discounted Receivables Balance).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from decimal import Decimal
from typing import Literal

from ledger.deal.schema import Criterion, DealDefinition
from ledger.expr import ExprError, Value, evaluate_bool, evaluate_number
from ledger.money import round_fen


def loan_env(deal: DealDefinition, loan: Mapping[str, Value]) -> dict[str, Value]:
    """The names a loan formula reads: ``params.*`` and ``loan.<field>`` for each given field."""
    unknown = sorted(set(loan) - set(deal.loan_fields))
    if unknown:
        raise ExprError(f"loan fields not declared by deal {deal.deal_id}: {unknown}")
    env: dict[str, Value] = {f"params.{k}": p.value for k, p in deal.parameters.items()}
    env.update({f"loan.{k}": v for k, v in loan.items()})
    return env


def eligibility_failures(
    deal: DealDefinition,
    loan: Mapping[str, Value],
    stage: Literal["boarding", "revolving"] = "boarding",
) -> list[Criterion]:
    """The machine-checkable criteria of ``stage`` the loan fails (empty: eligible).

    Criteria without a ``test`` are documentary (checked by people) and never fail here.
    """
    env = loan_env(deal, loan)
    failed = []
    for crit in deal.eligibility:
        if crit.test is None or stage not in crit.applies_to or crit.level != "loan":
            continue
        try:
            ok = evaluate_bool(crit.test, env)
        except ExprError as exc:
            raise ExprError(f"eligibility criterion {crit.id}: {exc}") from None
        if not ok:
            failed.append(crit)
    return failed


class _Layered(Mapping[str, Value]):
    """``top`` over ``base`` without evaluating ``base``'s lazy names."""

    def __init__(self, top: Mapping[str, Value], base: Mapping[str, Value]) -> None:
        self.top, self.base = top, base

    def __getitem__(self, name: str) -> Value:
        return self.top[name] if name in self.top else self.base[name]

    def __contains__(self, name: object) -> bool:
        return name in self.top or name in self.base

    def __iter__(self) -> Iterator[str]:
        yield from self.top
        yield from (n for n in self.base if n not in self.top)

    def __len__(self) -> int:
        return sum(1 for _ in self)


def pool_criteria_failures(
    deal: DealDefinition,
    env: Mapping[str, Value],
    purchased_balance: Decimal,
    price_paid: Decimal,
) -> list[Criterion]:
    """The pool-level revolving criteria that fail after buying ``purchased_balance`` for
    ``price_paid`` (``env``: the deal's names, e.g. a waterfall's
    :class:`~ledger.waterfall.env.DealEnv`); seed 002 L164 (p)."""
    names = _Layered({"purchase.balance": purchased_balance, "purchase.price": price_paid}, env)
    failed = []
    for crit in deal.eligibility:
        if crit.level != "pool" or crit.test is None or "revolving" not in crit.applies_to:
            continue
        try:
            ok = evaluate_bool(crit.test, names)
        except ExprError as exc:
            raise ExprError(f"eligibility criterion {crit.id}: {exc}") from None
        if not ok:
            failed.append(crit)
    return failed


def repurchase_price(deal: DealDefinition, loan: Mapping[str, Value]) -> Decimal:
    """The repurchase price of one loan, rounded to the fen."""
    if deal.repurchase_price is None:
        raise ExprError(f"deal {deal.deal_id} defines no repurchase price")
    return round_fen(evaluate_number(deal.repurchase_price.formula, loan_env(deal, loan)))
