"""The servicer's monthly report (月度服务机构报告 / Monthly Servicing Report), from events alone.

What the seeds ask of it:

* seed 001 (Driver China Thirteen) R1, on each Servicer Report Performance Date (7th business
  day after the Calculation Date): the Cumulative Gross Loss Ratio, delinquency buckets with the
  number of delinquent contracts and their balances, stratification tables and the amortisation
  profile of the pool (L2655-2709, L19527-19531; ``../shared/domain/seed001_notes_defs.md`` §2.1);
  the Monthly Collateral true-up rests on it (L2602-2628);
* seed 004 (BYD 2021-2), for each collection period on the 服务机构报告日 (计算日 + 6 business
  days): collections split into income and principal, defaults, delinquency buckets, pool balance
  — the trustee's source for the severe-delinquency cure (L877, L1758, L2650, L2875;
  ``seed004_byd.md`` §9);
* seeds 002/003: delivered on the 服务机构报告日, 计算日 + 5 business days (003 L236; 002 L192,
  L228); late delivery is a servicer termination event (003 L986).

Its period is one of the deal's collection periods (``ledger.servicing.collection_periods``),
named by its last day. Figures are folds over the deal's events known at ``known_at`` and
effective on or before the period end: the pool projection (collections, defaults, recoveries,
repurchases, write-offs, delinquency, the loans for the stratification) and the remittance
projection (what the servicer holds, since when, against what collateral: the commingling
exposure, seed 004 L1066, seed 001 L2546-2653).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.envelope import RecordedEvent
from ledger.core.discounting import aggregate_drb
from ledger.core.money import ZERO
from ledger.deal.pool_rules import DefaultRatioRule, default_ratio_rule
from ledger.deal.schema import DealDefinition
from ledger.reports.model import Report, Section, Value
from ledger.reports.pool_figures import PeriodPool, delinquency_rows, month_key, period_pool, share
from ledger.reports.source import (
    History,
    ReportError,
    as_history,
    deal_of,
    effective_until,
    known_text,
    pool_periods_of,
    read_events,
    report_dates,
    schedule_of,
)
from ledger.servicing.periods import collection_periods
from projections.pool import BUCKETS, PoolPeriod
from projections.remittance import FIELDS, exposure, remittance_periods

if TYPE_CHECKING:
    from projections.store import ProjectedStore

__all__ = ["build_servicer_report", "report_periods", "servicer_report"]

_ACTIVE = ("performing", "delinquent")
_SCHEDULE_REACH = 200
"""Days past a period end within which its payment date falls (seed 001's first period pays
about a month after it ends; no seed pays later than that)."""


def report_periods(
    deal: DealDefinition, events: Sequence[RecordedEvent]
) -> list[tuple[date, date]]:
    """The deal's collection periods that have begun by the last effective date among
    ``events`` (the periods a servicer report can be asked for)."""
    last = max((e.effective_date for e in events), default=deal.calendar.cut_off_date)
    out = []
    for start, end in collection_periods(deal):
        if start > last:
            break
        out.append((start, end))
    return out


def servicer_report(
    store: ProjectedStore, deal_id: str, period_end: date, *, known_at: datetime | None = None
) -> Report:
    """The servicer's report of the collection period ending ``period_end``."""
    return build_servicer_report(
        read_events(store, deal_id, known_at), deal_id, period_end, known_at=known_at
    )


def build_servicer_report(
    source: History | Sequence[RecordedEvent],
    deal_id: str,
    period_end: date,
    *,
    known_at: datetime | None = None,
) -> Report:
    """The servicer's report of the collection period ending ``period_end``, from ``source``: the
    deal's events in chain order, as known at ``known_at`` (or a :class:`History` of them shared
    with other reports). Pure."""
    history = as_history(source)
    events = history.events
    deal = deal_of(events, deal_id)
    periods = report_periods(deal, events)
    found = next(((s, e) for s, e in periods if e == period_end), None)
    if found is None:
        listed = ", ".join(e.isoformat() for _, e in periods) or "none"
        raise ReportError(
            f"deal {deal_id!r} has no collection period ending {period_end.isoformat()}; "
            f"collection periods end on: {listed}"
        )
    start, end = found
    upto = effective_until(events, end)
    rows = history.pool_rows(end)
    months = pool_periods_of(rows, deal)
    pool = period_pool(months, start, end)
    remit = history.remittance_rows(end)
    sections = [
        Section.fields(
            "deal",
            "Deal and period",
            [
                ("deal_id", deal.deal_id),
                ("deal_name", deal.name),
                ("seed", deal.seed),
                ("collection_period_start", start),
                ("collection_period_end", end),
                ("months", ", ".join(pool.months)),
                ("as_of", end),
                ("known_at", known_text(known_at) if known_at else "everything recorded"),
                ("events_folded", len(upto)),
                ("last_event_seq", upto[-1].deal_seq if upto else 0),
            ],
            "seed 001 L2655-2709; seed 004 L877, L1758, L2875; seed 003 L236",
        ),
        _dates(deal, upto, end),
        _stratification(pool, default_ratio_rule(deal), _adrb(deal, rows, end)),
        _collections(pool),
        _delinquency(pool),
        _credit_events(pool),
        *_strata(rows, end),
        *_remittance(remit, start, end),
        _history(months, end),
    ]
    return Report(
        kind="servicer",
        title=f"{deal.name} — 服务机构报告 / servicer report, collection period {start} to {end}",
        deal_id=deal_id,
        report_date=end,
        sections=tuple(sections),
    )


def _dates(deal: DealDefinition, events: Sequence[RecordedEvent], end: date) -> Section:
    """The calendar of the payment date this collection period pays on (its servicer report
    date among them)."""
    period = next(
        (
            p
            for p in schedule_of(deal, events, end + timedelta(days=_SCHEDULE_REACH))
            if p.collection_period_end == end
        ),
        None,
    )
    return Section.fields(
        "dates",
        "The period's calendar (deal calendar rules)",
        report_dates(period) if period else [("schedule", "not scheduled (no closing date)")],
        "seed 004 L1758 (服务机构报告日 = 计算日 + 6 business days); seed 001 L20134-20136; "
        "seed 003 L236",
    )


def _adrb(deal: DealDefinition, rows: Mapping[str, Any], end: date) -> Decimal | None:
    """The Aggregate DRB at the period end by the deal's one definition (the waterfall's
    ``pool.adrb``, seed 001 L17790-17794); None for a deal that does not discount."""
    conv = deal.drb_convention()
    if conv is None:
        return None
    loans = (r for k, r in rows.items() if k.startswith("L:"))
    return aggregate_drb(loans, end, conv)


def _stratification(pool: PeriodPool, rule: DefaultRatioRule, adrb: Decimal | None) -> Section:
    discounted = [] if adrb is None else [("aggregate_discounted_receivables_balance", adrb)]
    return Section.fields(
        "pool",
        "The pool at the period end",
        [
            ("opening_balance", pool.opening_balance),
            ("boarded", pool.boarded),
            ("closing_balance", pool.closing_balance),
            *discounted,
            ("loans", pool.loans),
            ("wa_rate", pool.wa_rate),
            ("wa_remaining_term_months", pool.wa_remaining_term),
            ("smm", pool.smm),
            ("cpr", pool.cpr),
            ("cumulative_default_definition", rule.label),
            ("cumulative_defaults", pool.default_ratio_numerator),
            ("cumulative_default_base", pool.default_ratio_denominator),
            ("cumulative_default_ratio", pool.cumulative_default_ratio),
        ],
        "seed 001 L2655-2709 (vi) Cumulative Gross Loss Ratio, (xiii) amortisation profile; "
        "seed 004 L2875 pool balance",
    )


def _collections(pool: PeriodPool) -> Section:
    return Section.fields(
        "collections",
        "Collections of the period by type",
        [
            ("principal_scheduled", pool.scheduled_principal),
            ("principal_prepaid", pool.prepayments),
            ("interest", pool.interest),
            ("fees", pool.fees),
            ("recoveries", pool.recoveries),
            ("repurchase_price", pool.repurchase_price),
            ("total", pool.collections),
        ],
        "seed 004 L2875 (collections split into income and principal)",
    )


def _delinquency(pool: PeriodPool) -> Section:
    return Section.table(
        "delinquency",
        "Delinquency buckets at the period end (days past due): loans and balance",
        ("bucket", "loans", "balance", "share_of_pool"),
        delinquency_rows(pool),
        "seed 001 L2655-2709 (ix); seed 004 L2650, L2875",
    )


def _credit_events(pool: PeriodPool) -> Section:
    return Section.fields(
        "credit_events",
        "Defaults, recoveries, repurchases and write-offs of the period",
        [
            ("defaults_count", pool.defaults_count),
            ("defaults_principal", pool.defaults),
            ("recoveries", pool.recoveries),
            ("repurchased_principal", pool.repurchases),
            ("repurchase_price", pool.repurchase_price),
            ("written_off", pool.written_off),
        ],
        "seed 004 L2875 (defaults); seed 001 L18725-18731 (Defaulted Receivable)",
    )


def _band(value: Decimal, width: Decimal, unit: str) -> tuple[Decimal, str]:
    low = (value // width) * width
    return low, f"{low}{unit} to <{low + width}{unit}"


def _strata(rows: Mapping[str, Any], end: date) -> list[Section]:
    """Stratification of the performing pool at the period end by interest rate (bands of two
    percentage points) and by remaining term (bands of 12 months), from the loans' rows."""
    end_index = end.year * 12 + end.month - 1
    by_rate: dict[Decimal, list[Any]] = {}
    by_term: dict[Decimal, list[Any]] = {}
    total = ZERO
    for key in sorted(rows):
        if not key.startswith("L:"):
            continue
        row = rows[key]
        balance = Decimal(row["balance"])
        if row["status"] not in _ACTIVE or balance <= 0:
            continue
        total += balance
        pct = Decimal(row.get("rate", "0")) * 100
        r_low, r_label = _band(pct, Decimal(2), "%")
        m = row.get("maturity")
        months = Decimal(int(m[:4]) * 12 + int(m[5:7]) - 1 - end_index) if m else Decimal(0)
        t_low, t_label = _band(max(months, Decimal(0)), Decimal(12), "m")
        for table, low, label in ((by_rate, r_low, r_label), (by_term, t_low, t_label)):
            entry = table.setdefault(low, [label, 0, ZERO])
            entry[1] += 1
            entry[2] += balance
    out = []
    for name, title, table in (
        ("strata_rate", "Stratification by interest rate", by_rate),
        ("strata_term", "Stratification by remaining term (months)", by_term),
    ):
        out.append(
            Section.table(
                name,
                title,
                ("band", "loans", "balance", "share_of_pool"),
                [(lbl, n, bal, share(bal, total)) for _, (lbl, n, bal) in sorted(table.items())],
                "seed 001 L2655-2709 (xi) stratification tables",
            )
        )
    return out


def _remittance(rows: Mapping[str, Any], start: date, end: date) -> list[Section]:
    first, last = start.isoformat(), end.isoformat()
    keys = [k for k in sorted(rows) if first <= k <= last]
    flows = [[Decimal(rows[k][f]) for f in FIELDS] for k in keys]
    days: list[tuple[Value, ...]] = [
        (date.fromisoformat(k), *f) for k, f in zip(keys, flows, strict=True)
    ]
    at_end = exposure(rows, end)
    peak = max(
        (
            p.peak_held
            for p in remittance_periods(rows)
            if month_key(start) <= p.period <= month_key(end)
        ),
        default=ZERO,
    )
    sums = [sum((f[i] for f in flows), ZERO) for i in range(len(FIELDS))]
    totals: list[tuple[str, Value]] = [
        (f"{f}_in_period", v) for f, v in zip(FIELDS, sums, strict=True)
    ]
    source = "seed 004 L1066 (commingling); seed 001 L2546-2653 (Monthly Collateral); SPEC §4"
    return [
        Section.fields(
            "commingling",
            "Remittances and commingling exposure at the period end",
            [
                *totals,
                ("held_by_servicer", at_end.held),
                ("held_since", at_end.held_since),
                ("monthly_collateral", at_end.collateral),
                ("net_exposure", at_end.net_exposure),
                ("peak_held_in_period", peak),
            ],
            source,
        ),
        Section.table(
            "remittances",
            "Cash collected and remitted by value date",
            ("value_date", *FIELDS),
            days,
            source,
        ),
    ]


def _history(months: Mapping[str, PoolPeriod], end: date) -> Section:
    rows: list[tuple[Value, ...]] = []
    for key in sorted(months):
        if key > month_key(end):
            break
        p = months[key]
        late = sum((p.buckets.get(b, (0, ZERO))[1] for b in BUCKETS[2:]), ZERO)
        rows.append(
            (key, p.closing_balance, p.loans, p.cumulative_default_ratio, late, p.smm, p.cpr)
        )
    return Section.table(
        "history",
        "Month by month to the period end (chart data)",
        (
            "month",
            "pool_balance",
            "loans",
            "cumulative_default_ratio",
            "delinquent_31_plus",
            "smm",
            "cpr",
        ),
        rows,
        "seed 001 L2655-2709 (xiii) amortisation profile of the pool",
    )
