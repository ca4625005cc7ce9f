"""The pool projection per collection period (issue 4, item 5).

**Period rule.** An event belongs to the collection period of its *effective date*; a period is a
calendar month, keyed ``"YYYY-MM"``. (The deals' own Calculation-Date-to-Calculation-Date periods
in ``ledger/core/calendar/`` all end on a month end for the seed deals, so they coincide with
calendar
months; a deal whose periods do not would map its dates here.) A boarding at a cut-off date falls in
the cut-off's month, so the first collection period opens with the boarded balance.

**Rows.** Two kinds of key, both small:

* ``"L:<loan_id>"`` — the loan's state as :mod:`projections.loans` folds it (the same pure
  :func:`~projections.loans.apply_loan_change`), kept here so that each event's effect on the pool
  aggregates can be computed from the loan's state before and after it;
* ``"YYYY-MM"`` — what happened in the period, every figure a **delta** (flows, and the change of
  each aggregate that describes the performing pool): ``boarded`` (the cut-off pool and later
  purchases), ``scheduled`` and ``prepaid`` principal, ``interest``, ``fees``, ``defaults``
  (principal at default) and ``n_defaults``, ``recoveries`` (principal recovered),
  ``recovered_interest``/``recovered_fees`` (present once nonzero), ``written_off``, ``repurchased``
  principal and ``repurchase_price``, ``default_paid`` (collections on defaulted loans), then
  ``balance`` (performing principal), ``count`` (performing loans), ``bal_rate`` (Σ balance ×
  rate), ``bal_maturity`` (Σ balance × maturity month index) and ``dq`` (per delinquency bucket:
  ``[Δcount, "Δbalance"]``).

Each event moves the loan's contribution (remove what it contributed before, add what it
contributes after), so buckets, weighted averages and balances are exact sums maintained
incrementally; the period's figures at its end are the running sums up to it, which
:func:`pool_report` computes (opening = the previous period's closing, closing = opening + Δ,
cumulative default ratio, SMM and CPR, weighted average rate and remaining term). Period rows are
additive, so late events (an earlier effective date) and reversals land where they belong.

The cumulative default ratio follows the deal's definition
(:func:`ledger.deal.pool_rules.default_ratio_rule`; :func:`pool_periods` takes the deal): by
default cumulative defaulted principal / cumulative boarded principal (the initial pool balance,
growing with purchases), the definition of the seeds 000 and 002–004. Driver China Thirteen's
Cumulative Gross Loss Ratio (seed 001 L18684–L18696) is Σ Discounted Receivables Balance of the
defaulted loans / the Aggregate Cut-Off Date DRB: :func:`pool_report` computes each defaulted loan's
DRB at its default date from its ``L:`` row (its boarding terms and its principal at default, by
the deal's one DRB definition, :func:`ledger.core.discounting.drb_on`) when reporting, so the fold
stays deal-agnostic.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from functools import lru_cache
from typing import TYPE_CHECKING, Any

from events.envelope import RecordedEvent
from ledger.core.discounting import DrbConvention, drb_on
from ledger.core.money import ZERO
from ledger.deal.pool_rules import PRINCIPAL_DEFAULT_RATIO, DefaultRatioRule, default_ratio_rule
from projections.base import Projection, Row, State, Versioned
from projections.loans import (
    LoanChange,
    apply_loan_change,
    delinquency_bucket,
    loan_changes,
)
from projections.rows import live_rows

if TYPE_CHECKING:
    from events.store import EventStore
    from ledger.deal.schema import DealDefinition

__all__ = ["BUCKETS", "PoolPeriod", "PoolProjection", "period_of", "pool_periods", "pool_report"]

BUCKETS = ("current", "1-30", "31-60", "61-90", "90+")
_ACTIVE = ("performing", "delinquent")

_FLOWS = (
    "boarded",
    "scheduled",
    "prepaid",
    "interest",
    "fees",
    "defaults",
    "recoveries",
    "recovered_interest",
    "recovered_fees",
    "written_off",
    "repurchased",
    "repurchase_price",
    "default_paid",
)
_LOAN_FIELD = {"defaults": "defaulted", "recoveries": "recoveries"}
_TOUCHES: dict[str, tuple[str, ...]] = {
    "CollectionReceived": ("scheduled", "prepaid", "interest", "fees", "default_paid"),
    "LoanDelinquencyReported": (),
    "LoanDefaulted": ("defaults",),
    "RecoveryReceived": ("recoveries", "recovered_interest", "recovered_fees"),
    "LoanWrittenOff": ("written_off",),
    "LoanRepurchased": ("repurchased", "repurchase_price", "default_paid"),
    "LoanBoarded": ("boarded",),
}


def period_of(event: RecordedEvent) -> str:
    d = event.effective_date
    return f"{d.year:04d}-{d.month:02d}"


def _maturity_index(row: Mapping[str, Any]) -> int:
    m = row.get("maturity")
    return int(m[:4]) * 12 + int(m[5:7]) - 1 if m else 0


def _contribution(row: Mapping[str, Any] | None) -> tuple[Decimal, str, Decimal, int] | None:
    """``(balance, bucket, rate, maturity index)`` of a loan in the performing pool, else None."""
    if row is None or row["status"] not in _ACTIVE:
        return None
    balance = Decimal(row["balance"])
    if balance <= 0:
        return None
    return (
        balance,
        delinquency_bucket(row["dpd"]),
        Decimal(row.get("rate", "0")),
        _maturity_index(row),
    )


def loan_period_delta(
    old: Mapping[str, Any] | None, new: Mapping[str, Any], kind: str
) -> dict[str, Any]:
    """The period delta of one loan change: flows and the loan's change of contribution."""
    delta: dict[str, Any] = {}
    for flow in _TOUCHES[kind]:
        f = _LOAN_FIELD.get(flow, flow)
        # (recovered interest/fees are in a loan row only once it has any)
        before = old.get(f, "0.00") if old is not None else "0.00"
        after = new.get(f, "0.00")
        if after != before:
            delta[flow] = Decimal(after) - Decimal(before)
    if kind == "LoanDefaulted":
        delta["n_defaults"] = new["n_default"] - (old["n_default"] if old is not None else 0)
    before_balance = old["balance"] if old is not None else "0.00"
    after_balance = new["balance"]
    moved = None
    if after_balance != before_balance:
        moved = delta["balance"] = Decimal(after_balance) - Decimal(before_balance)
    if (
        old is not None
        and old["status"] in _ACTIVE
        and new["status"] in _ACTIVE
        and before_balance != "0.00"
        and after_balance != "0.00"
        and before_balance[0] != "-"
        and after_balance[0] != "-"
        and delinquency_bucket(old["dpd"]) == delinquency_bucket(new["dpd"])
    ):
        # the common case (an instalment of a loan staying in its bucket), without recomputing
        # both contributions: only the balance moved
        if moved is not None:
            delta["bal_rate"] = moved * Decimal(new.get("rate", "0"))
            delta["bal_maturity"] = moved * _maturity_index(new)
            delta["dq"] = {delinquency_bucket(new["dpd"]): [0, moved]}
        return delta
    a, b = _contribution(old), _contribution(new)
    if a != b:
        dq: dict[str, list[Any]] = {}
        count = 0
        bal_rate = ZERO
        bal_mat = ZERO
        for c, sign in ((a, -1), (b, 1)):
            if c is None:
                continue
            bal, bucket, rate, mat = c
            signed = bal if sign > 0 else -bal
            count += sign
            bal_rate += signed * rate
            bal_mat += signed * mat
            n, s = dq.get(bucket, (0, ZERO))
            dq[bucket] = [n + sign, s + signed]
        delta["count"] = count
        delta["bal_rate"] = bal_rate
        delta["bal_maturity"] = bal_mat
        delta["dq"] = dq
    return delta


def _sum(text: str | None, d: Decimal) -> str:
    """``text + d``, printed with the exponent Decimal addition gives (the least of the terms',
    so a zero sum of ``balance × rate`` terms prints as, say, ``0E-8``): a period's figures then
    do not depend on the order their events are added in, which a rebuild that folds the loans in
    parallel parts relies on (``projections/fast.py``)."""
    return str((Decimal(text) if text is not None else ZERO) + d)


def add_delta(row: Row | None, delta: Mapping[str, Any]) -> dict[str, Any]:
    """A period row plus a delta (pure)."""
    new: dict[str, Any] = dict(row) if row is not None else {}
    for k, v in delta.items():
        if k == "dq":
            dq = dict(new.get("dq", {}))
            for bucket, (n, s) in v.items():
                n0, s0 = dq.get(bucket, (0, "0.00"))
                dq[bucket] = [n0 + n, _sum(s0, s)]
            new["dq"] = dq
        elif k in ("count", "n_defaults"):
            new[k] = new.get(k, 0) + v
        else:
            new[k] = _sum(new.get(k), v)
    return new


class PoolProjection(Projection[Any]):
    """Per-period pool figures (see the module docstring). Changes of a loan event come in pairs:
    the loan's state row, then the period row, which takes the delta between the loan's state
    before and after."""

    name = "pool"

    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, Any]]:
        found = loan_changes(event)
        if not found:
            return ()
        period = period_of(event)
        out: list[tuple[str, Any]] = []
        for loan_id, change in found:
            out.append((f"L:{loan_id}", change))
            out.append((period, None))  # filled in by apply_changes from the loan row's change
        return out

    def apply(self, row: Row | None, change: Any) -> Row | None:
        if isinstance(change, tuple):  # a loan change
            return apply_loan_change(row, change)
        return add_delta(row, change)

    def apply_changes(self, state: State, seq: int, changes: Iterable[tuple[str, Any]]) -> State:
        pending: tuple[Mapping[str, Any] | None, Mapping[str, Any], str] | None = None
        for key, change in changes:
            current = state.get(key)
            if change is None:  # the period row of the loan change just applied
                assert pending is not None
                old, new, kind = pending
                delta = loan_period_delta(old, new, kind)
                if delta:
                    state[key] = Versioned(add_delta(current.row if current else None, delta), seq)
                pending = None
                continue
            loan_change: LoanChange = change
            before = current.row if current else None
            after = apply_loan_change(before, loan_change)
            state[key] = Versioned(after, seq)
            pending = (before, after, loan_change[1])
        return state


# --- report ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PoolPeriod:
    """One collection period's pool figures at its end."""

    period: str
    opening_balance: Decimal
    closing_balance: Decimal
    boarded: Decimal
    """Principal boarded in the period: the cut-off pool, purchases."""
    scheduled_principal: Decimal
    prepayments: Decimal
    interest: Decimal
    fees: Decimal
    defaults: Decimal
    """Principal of loans defaulting in the period, at their balance when defaulting."""
    defaults_count: int
    recoveries: Decimal
    """Principal recovered on defaulted loans in the period."""
    recovered_interest: Decimal
    recovered_fees: Decimal
    """Interest and fees recovered on defaulted loans in the period (recovery income)."""
    written_off: Decimal
    repurchases: Decimal
    repurchase_price: Decimal
    loans: int
    """Performing (incl. delinquent) loans with a balance at the end of the period."""
    buckets: dict[str, tuple[int, Decimal]]
    """Delinquency buckets at the end of the period: count and balance."""
    cumulative_defaults: Decimal
    cumulative_boarded: Decimal
    cumulative_default_ratio: Decimal
    """By the deal's definition: ``default_ratio_numerator / default_ratio_denominator``."""
    default_ratio_numerator: Decimal
    """Principal basis: ``cumulative_defaults``; Driver China Thirteen: Σ DRB at default."""
    default_ratio_denominator: Decimal
    """Principal basis: ``cumulative_boarded``; Driver China Thirteen: the Aggregate Cut-Off Date
    DRB (the initial one and any Additional Cut-Off Date's)."""
    smm: Decimal
    cpr: Decimal
    wa_rate: Decimal
    wa_remaining_term: Decimal
    """Months from the period's month to maturity, weighted by balance."""


_RATIO = Decimal("0.00000001")
_DEFAULT_RATIO = Decimal("0.0000000001")
"""The cumulative default ratio to 10 decimals, as the payment-date cycle evaluates its trigger
on it (``ledger.cycle.state``): the report and the trigger print one number."""
_ONE = Decimal(1)


def _month(iso: str) -> str:
    return iso[:7]


_TERMS = ("boarded", "rate", "amortization", "payment_day", "maturity", "remaining_term")


@lru_cache(maxsize=1 << 17)
def _drb(terms: tuple[Any, ...], balance: str, on: str, conv: DrbConvention) -> Decimal:
    """A loan's DRB at ``on`` on ``balance`` (its boarding ``terms``): fixed once the loan has
    defaulted or been boarded, so computed once per process (reports are asked for often)."""
    row = dict(zip(_TERMS, terms, strict=True))
    return drb_on(row, Decimal(balance), date.fromisoformat(on), conv)


def _discounted_steps(
    loans: Iterable[Mapping[str, Any]], rule: DefaultRatioRule
) -> tuple[list[tuple[str, Decimal]], list[tuple[str, Decimal]]]:
    """``(month, DRB)`` of every standing default at its default date, and of every loan boarded
    after the deal's initial cut-off at its own cut-off (Additional Receivables), by the month
    they count from (an Additional Receivable from the month after its cut-off: seed 001's
    Additional Cut-Off Date is the last day of a Monthly Period, L17664-17668, and the
    receivable is bought on the next Payment Date; the CGLR of the Monthly Period ending on the
    cut-off, evaluated for that Payment Date, is before the purchase).
    ``loans`` are loan rows with their boarding terms (the loan projection's rows, or this
    projection's ``L:`` rows)."""
    defaults: list[tuple[str, Decimal]] = []
    additional: list[tuple[str, Decimal]] = []
    conv = rule.drb
    if conv is None:
        raise ValueError(f"{rule.metric}: a discounted ratio needs the deal's DRB convention")
    initial = rule.initial_cut_off.isoformat() if rule.initial_cut_off is not None else None
    for row in loans:
        if "rate" not in row:
            continue
        if row["n_default"] > 0 and "defaulted_on" in row:
            on = row["defaulted_on"]
            terms = tuple(row[t] for t in _TERMS)
            defaults.append((_month(on), _drb(terms, row["defaulted"], on, conv)))
        cut_off = row["cut_off"]
        if initial is not None and cut_off > initial:  # ISO dates compare as text
            terms = tuple(row[t] for t in _TERMS)
            # a Purchased Receivable from the day after its Additional Cut-Off Date (it is
            # boarded then, its collections are the trust's from then on)
            joins = (date.fromisoformat(cut_off) + timedelta(days=1)).isoformat()
            additional.append((_month(joins), _drb(terms, row["boarded"], cut_off, conv)))
    return sorted(defaults), sorted(additional)


def _running(steps: list[tuple[str, Decimal]]) -> Callable[[str], Decimal]:
    """A function of a period giving the sum of the steps in months up to it (periods asked in
    increasing order)."""
    i = 0
    total = ZERO

    def upto(period: str) -> Decimal:
        nonlocal i, total
        while i < len(steps) and steps[i][0] <= period:
            total += steps[i][1]
            i += 1
        return total

    return upto


def discounted_ratio_parts(
    loans: Iterable[Mapping[str, Any]], rule: DefaultRatioRule, until: date
) -> tuple[Decimal, Decimal]:
    """Numerator and denominator of seed 001's Cumulative Gross Loss Ratio at the end of
    ``until``'s month (L18684-18696, L17772-17778): Σ DRB of the standing defaults at their
    default dates, over ``params.cut_off_adrb`` plus the DRB of Additional Receivables at their
    cut-off dates. The payment-date cycle evaluates its trigger with this, from the loan rows of
    its determination date, so the trigger and the pool report agree."""
    default_steps, additional_steps = _discounted_steps(loans, rule)
    month = _month(until.isoformat())
    return _running(default_steps)(month), rule.initial_base + _running(additional_steps)(month)


def pool_report(
    rows: Mapping[str, Mapping[str, Any]], rule: DefaultRatioRule = PRINCIPAL_DEFAULT_RATIO
) -> list[PoolPeriod]:
    """Every period's figures from the projection's rows (pure); the cumulative default ratio by
    ``rule`` (:func:`ledger.deal.pool_rules.default_ratio_rule` of the deal)."""
    periods = sorted(k for k in rows if not k.startswith("L:"))
    discounted = rule.basis == "discounted"
    if discounted:
        loans = (r for k, r in rows.items() if k.startswith("L:"))
        default_steps, additional_steps = _discounted_steps(loans, rule)
        drb_defaulted, drb_additional = _running(default_steps), _running(additional_steps)
    out: list[PoolPeriod] = []
    balance = cum_def = cum_board = bal_rate = bal_mat = ZERO
    count = 0
    dq: dict[str, tuple[int, Decimal]] = {b: (0, ZERO) for b in BUCKETS}

    def d(row: Mapping[str, Any], k: str) -> Decimal:
        return Decimal(row[k]) if k in row else ZERO

    for p in periods:
        r = rows[p]
        opening = balance
        balance += d(r, "balance")
        count += r.get("count", 0)
        bal_rate += d(r, "bal_rate")
        bal_mat += d(r, "bal_maturity")
        for bucket, (n, s) in r.get("dq", {}).items():
            n0, s0 = dq[bucket]
            dq[bucket] = (n0 + n, s0 + Decimal(s))
        cum_def += d(r, "defaults")
        cum_board += d(r, "boarded")
        if discounted:
            numerator = drb_defaulted(p)
            denominator = rule.initial_base + drb_additional(p)
        else:
            numerator, denominator = cum_def, cum_board
        scheduled, prepaid = d(r, "scheduled"), d(r, "prepaid")
        base = opening - scheduled
        smm = (prepaid / base).quantize(_RATIO) if base > 0 else ZERO
        cpr = (_ONE - (_ONE - smm) ** 12).quantize(_RATIO)
        index = int(p[:4]) * 12 + int(p[5:7]) - 1
        out.append(
            PoolPeriod(
                period=p,
                opening_balance=opening,
                closing_balance=balance,
                boarded=d(r, "boarded"),
                scheduled_principal=scheduled,
                prepayments=prepaid,
                interest=d(r, "interest"),
                fees=d(r, "fees"),
                defaults=d(r, "defaults"),
                defaults_count=r.get("n_defaults", 0),
                recoveries=d(r, "recoveries"),
                recovered_interest=d(r, "recovered_interest"),
                recovered_fees=d(r, "recovered_fees"),
                written_off=d(r, "written_off"),
                repurchases=d(r, "repurchased"),
                repurchase_price=d(r, "repurchase_price"),
                loans=count,
                buckets=dict(dq),
                cumulative_defaults=cum_def,
                cumulative_boarded=cum_board,
                cumulative_default_ratio=(numerator / denominator).quantize(_DEFAULT_RATIO)
                if denominator
                else ZERO,
                default_ratio_numerator=numerator,
                default_ratio_denominator=denominator,
                smm=smm,
                cpr=cpr,
                wa_rate=(bal_rate / balance).quantize(Decimal("0.000001")) if balance else ZERO,
                wa_remaining_term=(bal_mat / balance - index).quantize(Decimal("0.01"))
                if balance
                else ZERO,
            )
        )
    return out


def pool_periods(
    store: EventStore, deal_id: str, deal: DealDefinition | None = None
) -> list[PoolPeriod]:
    """The pool report from the live rows; with ``deal``, its cumulative default ratio is the
    deal's own definition (else the principal-based one)."""
    live = live_rows(store.engine, deal_id, PoolProjection.name)
    rule = default_ratio_rule(deal) if deal is not None else PRINCIPAL_DEFAULT_RATIO
    return pool_report({k: v.row for k, v in live.items()}, rule)
