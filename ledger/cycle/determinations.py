"""The engine's determinations (docs/primitives.md) from the folded trust, and the deal's formula
metrics over them (issue 13).

:func:`period_end_figures` takes, at each collection period end, the figures a period end fixes
(pool balances, defaults, delinquency, collections by item, the ADRB of seed 001, …) for the
names the deal declares; :func:`formula_metrics` evaluates the deal's formula metrics on them;
:func:`state_metrics` assembles a determination date's metrics: the last period end's figures,
averages over the last periods, and the figures a determination date fixes (the offer of
additional receivables, the previous payment date's waterfall, reported figures).

Every name is computed as the catalogue defines it (:mod:`ledger.deal.primitives`); a name that
cannot be determined on a date is left out, so that a formula reading it fails there.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any

from ledger.core import accounts
from ledger.core.calendar import SchedulePeriod
from ledger.core.discounting import aggregate_drb
from ledger.core.expr import ExprError, Value, evaluate
from ledger.core.money import ZERO
from ledger.deal.pool_rules import default_ratio_rule
from ledger.deal.primitives import PRINCIPAL_ITEMS, Primitive, family_of
from ledger.deal.schema import DealDefinition
from projections.base import State
from projections.pool import discounted_ratio_parts

_RATIO = Decimal("0.0000000001")


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


@dataclass
class PeriodEnd:
    """What one collection period end fixed."""

    end: dt.date
    pool_balance: Decimal
    outstanding: Decimal
    cum_defaults: Decimal
    boarded: Decimal
    collected: dict[str, Decimal]
    """Collections by item, cumulated from the cut-off to the period end."""
    adrb: Decimal | None = None
    values: dict[str, Value] = field(default_factory=dict)
    """The declared period-end determinations and the formula metrics' values of the period
    (an averaged metric: its value for this period alone)."""


@dataclass(frozen=True)
class LastPaymentDate:
    """The latest payment date whose waterfall was executed (``last_pd.*``)."""

    payment_date: dt.date
    revolving: bool
    closing: Mapping[str, Decimal]
    purchase_price: Decimal
    purchase_balance: Decimal


def declared_primitives(deal: DealDefinition) -> dict[str, Primitive]:
    """The engine determinations the deal declares (metrics without a formula)."""
    out: dict[str, Primitive] = {}
    for name, decl in deal.metrics.items():
        family = family_of(name) if decl.formula is None else None
        if family is not None:
            out[name] = family
    return out


def adrb(deal: DealDefinition, loans: State, day: dt.date) -> Decimal:
    """Seed 001's Aggregate Discounted Receivables Balance at the end of ``day`` (L17790-17794),
    by the deal's one DRB definition (its ``discounted_balance`` block)."""
    conv = deal.drb_convention()
    if conv is None:  # pragma: no cover - refused by the deal checks
        raise ExprError(f"deal {deal.deal_id} has no discounted_balance block")
    return aggregate_drb((v.row for v in loans.values()), day, conv)


def adrb_start_date(payment_date: dt.date) -> dt.date:
    """The day before the Monthly Period of ``payment_date`` starts: the end of the month two
    months before it (seed 001 L19520-19522: the Monthly Period is the calendar month before the
    payment date; the Servicer Fee base is the ADRB "as of the beginning" of it). 27 Dec 2021
    → 31 Oct 2021; 26 Jan 2022 → 30 Nov 2021."""
    month_before = payment_date.replace(day=1) - dt.timedelta(days=1)
    return month_before.replace(day=1) - dt.timedelta(days=1)


def _ratio(a: Decimal, b: Decimal) -> Decimal:
    return (a / b).quantize(_RATIO) if b > 0 else ZERO


def period_end_figures(
    deal: DealDefinition,
    period: SchedulePeriod,
    previous: PeriodEnd | None,
    *,
    balances: Mapping[str, Decimal],
    loans: State | None,
    collected: Mapping[str, Decimal],
    cum_defaults: Decimal,
    boarded: Decimal,
    adrb_at: Mapping[dt.date, Decimal],
) -> PeriodEnd:
    """The figures of ``period``'s collection period end; ``loans`` ``None`` (a light period,
    which no planned date looks back to) leaves the loan-level ones out."""
    declared = declared_primitives(deal)
    end = period.collection_period_end
    pool = balances.get(accounts.POOL_PRINCIPAL, ZERO)
    defaulted = balances.get(accounts.POOL_DEFAULTED, ZERO)
    before = previous.collected if previous else {}
    prior_defaults = previous.cum_defaults if previous else ZERO
    figures: dict[str, Value] = {
        "pool.balance": pool,
        "pool.defaulted_balance": defaulted,
        "pool.outstanding_balance": pool + defaulted,
        "pool.balance_period_start": previous.pool_balance if previous else boarded,
        "pool.outstanding_balance_period_start": previous.outstanding if previous else boarded,
        "pool.boarded_balance": boarded,
        "pool.defaults_recent_period": cum_defaults - prior_defaults,
        "pool.defaults_prior_periods": prior_defaults,
        "pool.cumulative_defaults": cum_defaults,
        "pool.principal_collected_before_period": sum(
            (v for k, v in before.items() if k in PRINCIPAL_ITEMS), ZERO
        ),
        "collection.days": Decimal((end - period.collection_period_start).days + 1),
    }
    for name in declared:
        if name.startswith("collections."):
            item = name.split(".")[1]
            figures[name] = collected.get(item, ZERO) - before.get(item, ZERO)
    value_of_adrb: Decimal | None = None
    if loans is not None:
        figures.update(_loan_figures(deal, declared, loans, end, pool))
        if "pool.adrb" in declared or "pool.adrb_start" in declared:
            value_of_adrb = adrb(deal, loans, end)
            figures["pool.adrb"] = value_of_adrb
        if "pool.adrb_start" in declared:
            start = adrb_start_date(period.payment_date)
            if previous is not None and previous.end == start and previous.adrb is not None:
                figures["pool.adrb_start"] = previous.adrb
            elif start in adrb_at:
                figures["pool.adrb_start"] = adrb_at[start]
    return PeriodEnd(
        end=end,
        pool_balance=pool,
        outstanding=pool + defaulted,
        cum_defaults=cum_defaults,
        boarded=boarded,
        collected=dict(collected),
        adrb=value_of_adrb,
        values={k: v for k, v in figures.items() if k in declared},
    )


def _loan_figures(
    deal: DealDefinition,
    declared: Mapping[str, Primitive],
    loans: State,
    end: dt.date,
    pool: Decimal,
) -> dict[str, Value]:
    """The figures read from the loans' rows at the period end."""
    wanted = {
        "pool.delinquent_balance_61_90",
        "pool.delinquent_balance_over_60",
        "pool.wac",
        "pool.cumulative_gross_loss_ratio",
    } & declared.keys()
    if not wanted:
        return {}
    severe = over_60 = weighted = ZERO
    for v in loans.values():
        row = v.row
        status = row["status"]
        if status == "delinquent" and int(row["dpd"]) > 60:
            over_60 += _d(row["balance"])
            if int(row["dpd"]) <= 90:
                severe += _d(row["balance"])
        if status in ("performing", "delinquent") and "rate" in row:
            weighted += _d(row["balance"]) * _d(row["rate"])
    out: dict[str, Value] = {
        "pool.delinquent_balance_61_90": severe,
        "pool.delinquent_balance_over_60": over_60,
        "pool.wac": _ratio(weighted, pool),
    }
    if "pool.cumulative_gross_loss_ratio" in wanted:
        rule = default_ratio_rule(deal)
        numerator, denominator = discounted_ratio_parts((v.row for v in loans.values()), rule, end)
        out["pool.cumulative_gross_loss_ratio"] = _ratio(numerator, denominator)
    return out


class _PeriodEnv(dict[str, Value]):
    """A formula metric's names: a declared one without a value fails when read."""

    def __init__(self, values: Mapping[str, Value], declared: set[str], end: dt.date) -> None:
        super().__init__(values)
        self.declared, self.end = declared, end

    def __contains__(self, name: object) -> bool:
        return super().__contains__(name) or name in self.declared

    def __missing__(self, name: str) -> Value:
        raise ExprError(f"{name} has no value at the period end {self.end}")


def formula_metrics(deal: DealDefinition, end: PeriodEnd) -> None:
    """Evaluate the deal's formula metrics on ``end``'s figures (into ``end.values``), in the
    order the file declares them. A failure raises :class:`ExprError` with the formula's path."""
    values: dict[str, Value] = {f"params.{k}": p.value for k, p in deal.parameters.items()}
    values["dates.cut_off"] = deal.calendar.cut_off_date
    values["dates.first_payment"] = deal.calendar.first_payment_date
    values.update(end.values)
    env = _PeriodEnv(values, set(deal.metrics), end.end)
    for name, decl in deal.metrics.items():
        if decl.formula is None:
            continue
        path = f"metrics.{name}.formula"
        try:
            value = evaluate(decl.formula, env)
        except ExprError as exc:
            raise ExprError(
                f"{path} (collection period ending {end.end}): {exc}", path=path
            ) from None
        env[name] = value
        end.values[name] = value


def state_metrics(
    deal: DealDefinition,
    ends: list[PeriodEnd],
    payment_date: dt.date,
    *,
    offer: tuple[Decimal, Decimal | None] | None,
    last_pd: LastPaymentDate | None,
    reported: Mapping[str, Decimal],
    reported_for: Mapping[tuple[str, dt.date], Decimal],
) -> dict[str, Value]:
    """The declared metrics of a determination date that have a value on it."""
    now = ends[-1]
    out: dict[str, Value] = {}
    for name, decl in deal.metrics.items():
        if decl.formula is not None:
            n = decl.average_of_periods or 1
            window = [e.values[name] for e in ends[-n:] if name in e.values]
            if n == 1 and window:
                out[name] = window[0]
            elif window and len(window) == min(n, len(ends)):
                with localcontext() as ctx:
                    ctx.prec = 40
                    out[name] = sum((_d(v) for v in window), ZERO) / len(window)
            continue
        family = family_of(name)
        assert family is not None  # refused by the deal checks otherwise
        if family.timing == "period_end":
            if name in now.values:
                out[name] = now.values[name]
        elif family.timing == "determination_date":
            value = _determination_date_value(
                name, payment_date, offer, last_pd, reported, reported_for
            )
            if value is not None:
                out[name] = value
    return out


def _determination_date_value(
    name: str,
    payment_date: dt.date,
    offer: tuple[Decimal, Decimal | None] | None,
    last_pd: LastPaymentDate | None,
    reported: Mapping[str, Decimal],
    reported_for: Mapping[tuple[str, dt.date], Decimal],
) -> Value | None:
    parts = name.split(".")
    if name == "revolving.offered_balance":
        return offer[0] if offer is not None else ZERO
    if name == "revolving.offered_wac":
        return ZERO if offer is None else offer[1]
    if parts[0] == "reported":
        return reported.get(parts[1])
    if parts[0] == "reported_for_date":
        return reported_for.get((parts[1], payment_date), ZERO)
    if last_pd is None:
        return None
    if name == "last_pd.revolving":
        return last_pd.revolving
    if name == "last_pd.purchases.price":
        return last_pd.purchase_price
    if name == "last_pd.purchases.balance":
        return last_pd.purchase_balance
    return last_pd.closing.get(parts[2])  # last_pd.accounts.<id>.closing
