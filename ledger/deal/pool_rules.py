"""Loan- and pool-level rules of a deal: eligibility tests, the repurchase price, and how the
deal measures its cumulative default ratio (SPEC §3).

Pure functions over one loan's fields (``loan.<field>`` in the deal's formulas, declared under
``loan_fields``). Boarding tapes and revolving purchases call :func:`eligibility_failures`; a
repurchase event calls :func:`repurchase_price` (seed 004 L2763: outstanding principal + written
off principal + unpaid interest; seed 001 L13432-13446: the Discounted Receivables Balance).
The pool projection asks :func:`default_ratio_rule` which definition of the cumulative default
ratio the deal uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from ledger.core.discounting import DrbConvention
from ledger.core.expr import ExprError, Value, evaluate_bool, evaluate_number
from ledger.core.money import ZERO, round_fen
from ledger.deal.schema import Criterion, DealDefinition


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


# --- cumulative default ratio ---------------------------------------------------------------------

GROSS_LOSS_METRIC = "pool.cumulative_gross_loss_ratio"
"""The metric a deal declares when its ratio is Driver China Thirteen's Cumulative Gross Loss Ratio
(seed 001 L18684-18696), measured on Discounted Receivables Balances."""


@dataclass(frozen=True, slots=True)
class DefaultRatioRule:
    """How a deal measures its cumulative default ratio.

    ``principal`` (seeds 000, 002-004; e.g. seed 004 L2670 累计违约率): the principal of every
    loan at its default, cumulated, over the principal boarded (the initial pool, plus purchases).

    ``discounted`` (seed 001 L18684-18696, the Cumulative Gross Loss Ratio): "(i) the numerator of
    which is the sum of the Discounted Receivables Balances of all Defaulted Receivables from the
    Cut-Off Date through the end of such Monthly Period and (ii) the denominator of which is the
    Aggregate Cut-Off Date Discounted Receivables Balance" — the ADRB "as of the Initial Cut-Off
    Date (being RMB 8,000,082,110.39) and any Additional Cut-Off Date" (L17772-17778). So the
    denominator is ``initial_base`` (the deal's ``params.cut_off_adrb``) plus, for receivables
    boarded after ``initial_cut_off`` (Additional Receivables), their DRB at their own cut-off.
    Each defaulted loan enters the numerator at its DRB on its default date (the seed does not say
    at which date; the default — termination, L18725-18731 — is the event that makes it a
    Defaulted Receivable), by the deal's one DRB definition ``drb`` (its ``discounted_balance``
    block, :mod:`ledger.core.discounting`). Recoveries do not reduce it: a gross ratio.
    """

    metric: str
    basis: Literal["principal", "discounted"]
    clause: str
    label: str
    """The definition in words, printed beside the figure (every report and the demo)."""
    drb: DrbConvention | None = None
    initial_base: Decimal = ZERO
    initial_cut_off: date | None = None


PRINCIPAL_DEFAULT_RATIO = DefaultRatioRule(
    metric="pool.cumulative_default_ratio",
    basis="principal",
    clause="seed 004 L2670 (累计违约率); seeds 000, 002, 003 likewise on principal",
    label="cumulative default ratio: principal of the loans at their default, cumulated (gross:"
    " recoveries not netted) / principal boarded",
)
"""The principal-based ratio, for deals that do not define another."""


def default_ratio_rule(deal: DealDefinition) -> DefaultRatioRule:
    """The cumulative default ratio by the deal's own definition: the discounted one of seed 001
    when the deal declares :data:`GROSS_LOSS_METRIC` (with a ``discounted_balance`` block and
    ``params.cut_off_adrb``, which it then needs), else :data:`PRINCIPAL_DEFAULT_RATIO`."""
    if GROSS_LOSS_METRIC not in deal.metrics:
        return PRINCIPAL_DEFAULT_RATIO
    conv = deal.drb_convention()
    missing = ["a discounted_balance block"] if conv is None else []
    if "cut_off_adrb" not in deal.parameters:
        missing.append("parameter cut_off_adrb")
    if conv is None or missing:
        raise ExprError(
            f"deal {deal.deal_id} declares {GROSS_LOSS_METRIC} (on Discounted Receivables "
            f"Balances) but no {' and no '.join(missing)}"
        )
    return DefaultRatioRule(
        metric=GROSS_LOSS_METRIC,
        basis="discounted",
        clause="seed 001 L18684-18696 (Cumulative Gross Loss Ratio), L17772-17778 (denominator)",
        label="Cumulative Gross Loss Ratio: Σ DRB of the Defaulted Receivables at their default"
        " (gross: recoveries not netted) / Aggregate Cut-Off Date DRB",
        drb=conv,
        initial_base=deal.parameters["cut_off_adrb"].value,
        initial_cut_off=deal.calendar.cut_off_date,
    )
