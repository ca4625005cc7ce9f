"""Pool figures of a collection period, from the pool projection's calendar months (pure).

:mod:`projections.pool` keys its figures by calendar month; a deal's collection period is one or
more whole months (seed 001's first period runs from cut-off over five months, L19453-19496; the
others are calendar months ending on the 计算日, seed 004 L1758, seed 003 L236). A period's
figures are the sum of its months' flows, its opening balance the first month's and everything
"at the end" (balance, loans, delinquency buckets, cumulative defaults, weighted averages) the
last month's. A period without a month of its own (nothing happened in it) carries the state of
the last month before it, with no flows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from ledger.core.money import ZERO
from projections.pool import BUCKETS, PoolPeriod

__all__ = ["PeriodPool", "delinquency_rows", "month_key", "period_pool", "share"]

_RATIO = Decimal("0.00000001")
_ONE = Decimal(1)


def month_key(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


@dataclass(frozen=True, slots=True)
class PeriodPool:
    start: date
    end: date
    months: tuple[str, ...]
    opening_balance: Decimal
    closing_balance: Decimal
    boarded: Decimal
    scheduled_principal: Decimal
    prepayments: Decimal
    interest: Decimal
    fees: Decimal
    defaults: Decimal
    defaults_count: int
    recoveries: Decimal
    written_off: Decimal
    repurchases: Decimal
    repurchase_price: Decimal
    loans: int
    buckets: dict[str, tuple[int, Decimal]]
    cumulative_defaults: Decimal
    cumulative_boarded: Decimal
    cumulative_default_ratio: Decimal
    """By the deal's definition (:func:`ledger.deal.pool_rules.default_ratio_rule`): numerator
    over denominator below."""
    default_ratio_numerator: Decimal
    default_ratio_denominator: Decimal
    smm: Decimal
    """Single monthly mortality over the period: 1 − (Π(1 − SMMᵢ))^(1/n) of its n months."""
    cpr: Decimal
    wa_rate: Decimal
    wa_remaining_term: Decimal

    @property
    def collections(self) -> Decimal:
        return (
            self.scheduled_principal
            + self.prepayments
            + self.interest
            + self.fees
            + self.recoveries
            + self.repurchase_price
        )


def period_pool(periods: Mapping[str, PoolPeriod], start: date, end: date) -> PeriodPool:
    """The pool figures of the collection period ``start``..``end`` (both inclusive)."""
    first, last = month_key(start), month_key(end)
    inside = [periods[k] for k in sorted(periods) if first <= k <= last]
    before = [periods[k] for k in sorted(periods) if k < first]
    at_end = inside[-1] if inside else (before[-1] if before else None)
    opening = inside[0].opening_balance if inside else (at_end.closing_balance if at_end else ZERO)

    def total(name: str) -> Decimal:
        return sum((getattr(p, name) for p in inside), ZERO)

    survival = _ONE
    for p in inside:
        survival *= _ONE - p.smm
    n = len(inside)
    if n == 0:
        smm = ZERO
    elif n == 1:
        smm = inside[0].smm
    else:
        smm = (_ONE - survival ** (_ONE / n)).quantize(_RATIO)
    cpr = (_ONE - (_ONE - smm) ** 12).quantize(_RATIO)
    empty = {b: (0, ZERO) for b in BUCKETS}
    return PeriodPool(
        start=start,
        end=end,
        months=tuple(p.period for p in inside),
        opening_balance=opening,
        closing_balance=at_end.closing_balance if at_end else ZERO,
        boarded=total("boarded"),
        scheduled_principal=total("scheduled_principal"),
        prepayments=total("prepayments"),
        interest=total("interest"),
        fees=total("fees"),
        defaults=total("defaults"),
        defaults_count=sum((p.defaults_count for p in inside), 0),
        recoveries=total("recoveries"),
        written_off=total("written_off"),
        repurchases=total("repurchases"),
        repurchase_price=total("repurchase_price"),
        loans=at_end.loans if at_end else 0,
        buckets=dict(at_end.buckets) if at_end else empty,
        cumulative_defaults=at_end.cumulative_defaults if at_end else ZERO,
        cumulative_boarded=at_end.cumulative_boarded if at_end else ZERO,
        cumulative_default_ratio=at_end.cumulative_default_ratio if at_end else ZERO,
        default_ratio_numerator=at_end.default_ratio_numerator if at_end else ZERO,
        default_ratio_denominator=at_end.default_ratio_denominator if at_end else ZERO,
        smm=smm,
        cpr=cpr,
        wa_rate=at_end.wa_rate if at_end else ZERO,
        wa_remaining_term=at_end.wa_remaining_term if at_end else ZERO,
    )


def delinquency_rows(pool: PeriodPool) -> list[tuple[str, int, Decimal, Decimal]]:
    """``(bucket, loans, balance, share of the pool)`` at the period end, then the total."""
    rows = []
    for bucket in BUCKETS:
        n, balance = pool.buckets.get(bucket, (0, ZERO))
        rows.append((bucket, n, balance, share(balance, pool.closing_balance)))
    total = sum((r[1] for r in rows), 0)
    rows.append(
        ("total", total, pool.closing_balance, share(pool.closing_balance, pool.closing_balance))
    )
    return rows


def share(part: Decimal, whole: Decimal) -> Decimal:
    """``part / whole`` to 8 decimals (0 when there is no whole)."""
    return (part / whole).quantize(_RATIO) if whole else ZERO
