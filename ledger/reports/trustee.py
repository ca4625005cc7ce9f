"""The trustee's payment-date report (受托机构报告 / Trust Company Report), built from events alone.

What the seeds ask of it:

* seed 004 (BYD 2021-2), 月度受托机构报告 for each payment date, published on the 受托机构报告日
  (payment date − 5 business days), content per the 《信息披露指引》: securities overview, pool
  status, pool information over the life of the deal, credit enhancement; built from the
  servicer's and the custodian's reports (L832, L1754, L2185-2187, L2747, L2877;
  ``../shared/domain/seed004_byd.md`` §9);
* seed 001 (Driver China Thirteen), Trust Company Report (R3): principal and interest per class
  on the payment date, nominal amount outstanding after it and interest left unpaid, the Note
  Factor, the remaining General Cash Collateral (L12991-12995, L13013-13015, L20655-20688;
  ``seed001_notes_defs.md`` §2.1); the Cumulative Gross Loss Ratio and Early Amortisation Events
  come from the servicing report (L2675, L2693);
* seeds 002/003: the trustee decides the acceleration cure from the monthly servicer report
  (002 L228), so the trigger states are shown with their inputs.

Every section is folded from the deal's events known at ``known_at`` and effective on or before
the payment date (:mod:`ledger.reports.source`): the cycle's own events (``CollectionPeriodClosed``,
``TriggerEvaluated``, ``InterestAccrued``, ``FeeAccrued``, ``WaterfallExecuted``,
``DistributionPaid``) for what was paid, the pool projection for the pool, the ledger's legs for
the pots, ``ReconciliationCompleted`` for the bank reconciliation. Collections of the period are
the pool projection's, so a collection reversed after the payment date shows as restated while the
split and the waterfall stay as they were posted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.bank import ReconciliationCompleted
from events.cycle import (
    CYCLE_STREAM,
    CollectionPeriodClosed,
    DistributionPaid,
    FeeAccrued,
    InterestAccrued,
    TriggerEvaluated,
    WaterfallExecuted,
)
from events.envelope import RecordedEvent
from ledger import accounts
from ledger.deal.pool_rules import default_ratio_rule
from ledger.deal.schema import DealDefinition
from ledger.money import ZERO
from ledger.reports.model import Report, Section, Value
from ledger.reports.pool_figures import PeriodPool, delinquency_rows, month_key, period_pool
from ledger.reports.source import (
    History,
    ReportError,
    as_history,
    balances_of,
    deal_of,
    effective_until,
    known_text,
    pool_periods_of,
    read_events,
    report_dates,
    schedule_of,
)
from ledger.waterfall import posting_account
from projections.notes import factor
from projections.pool import PoolPeriod

if TYPE_CHECKING:
    from events.store import EventStore

__all__ = [
    "build_trustee_report",
    "collection_period_end",
    "default_ratio_trigger",
    "payment_dates",
    "trustee_report",
]

_CYCLE_TYPES = frozenset(
    {
        "CollectionPeriodClosed",
        "CleanUpCallExercised",
        "TriggerEvaluated",
        "InterestAccrued",
        "FeeAccrued",
        "WaterfallExecuted",
        "DistributionPaid",
    }
)


def payment_dates(events: Sequence[RecordedEvent]) -> list[date]:
    """The payment dates whose waterfall is among ``events``, in date order."""
    return sorted(
        {
            date.fromisoformat(e.data["payment_date"])
            for e in events
            if e.type == "WaterfallExecuted"
        }
    )


def collection_period_end(events: Sequence[RecordedEvent], payment_date: date) -> date | None:
    """The end of the collection period closed for ``payment_date`` (None if none was)."""
    day = payment_date.isoformat()
    for e in events:
        if e.type == "CollectionPeriodClosed" and e.data.get("payment_date") == day:
            return date.fromisoformat(e.data["collection_period_end"])
    return None


def trustee_report(
    store: EventStore, deal_id: str, payment_date: date, *, known_at: datetime | None = None
) -> Report:
    """The report of ``payment_date`` from the deal's events known at ``known_at``."""
    return build_trustee_report(
        read_events(store, deal_id, known_at), deal_id, payment_date, known_at=known_at
    )


def default_ratio_trigger(triggers: Sequence[TriggerEvaluated]) -> TriggerEvaluated | None:
    """The deal's cumulative default (or loss) ratio trigger among one date's evaluations: the
    first, by id, whose metric names defaults or losses and that has a threshold."""
    for t in sorted(triggers, key=lambda t: t.trigger_id):
        metric = (t.metric or "").lower()
        if t.threshold is not None and ("default" in metric or "loss" in metric):
            return t
    return None


class _Cycle:
    """One payment date's cycle events, parsed."""

    def __init__(self, events: Sequence[RecordedEvent], payment_date: date) -> None:
        day = payment_date.isoformat()
        mine = [
            e
            for e in events
            if e.stream_id == CYCLE_STREAM
            and e.type in _CYCLE_TYPES
            and e.data.get("payment_date") == day
        ]
        self.recorded = mine
        self.closed: CollectionPeriodClosed | None = None
        self.waterfall: WaterfallExecuted | None = None
        self.waterfall_seq = 0
        self.distribution: DistributionPaid | None = None
        self.triggers: list[TriggerEvaluated] = []
        self.interest: dict[str, InterestAccrued] = {}
        self.fees: dict[str, FeeAccrued] = {}
        for e in mine:
            ev = e.event
            if isinstance(ev, CollectionPeriodClosed):
                self.closed = ev
            elif isinstance(ev, WaterfallExecuted):
                self.waterfall, self.waterfall_seq = ev, e.deal_seq
            elif isinstance(ev, DistributionPaid):
                self.distribution = ev
            elif isinstance(ev, TriggerEvaluated):
                self.triggers.append(ev)
            elif isinstance(ev, InterestAccrued):
                self.interest[ev.note_id] = ev
            elif isinstance(ev, FeeAccrued):
                self.fees[ev.fee_id] = ev


def build_trustee_report(
    source: History | Sequence[RecordedEvent],
    deal_id: str,
    payment_date: date,
    *,
    known_at: datetime | None = None,
) -> Report:
    """The trustee report of ``payment_date`` from ``source``: the deal's events in chain order,
    as known at ``known_at`` (or a :class:`History` of them shared with other reports). Pure."""
    history = as_history(source)
    events = history.events
    dates = payment_dates(events)
    if payment_date not in dates:
        known = "" if known_at is None else f" as known at {known_text(known_at)}"
        listed = ", ".join(d.isoformat() for d in dates) or "none"
        raise ReportError(
            f"deal {deal_id!r} has no payment date {payment_date.isoformat()}{known}; "
            f"payment dates with a posted waterfall: {listed}"
        )
    upto = effective_until(events, payment_date)
    deal = deal_of(upto, deal_id)
    cycle = _Cycle(upto, payment_date)
    w = cycle.waterfall
    assert w is not None  # the date is one of payment_dates
    closed = cycle.closed
    start = closed.collection_period_start if closed else w.interest_period_start
    end = closed.collection_period_end if closed else w.interest_period_end
    periods = pool_periods_of(history.pool_rows(payment_date), deal)
    pool = period_pool(periods, start, end)
    before = balances_of(e for e in upto if e.deal_seq < cycle.waterfall_seq)
    chart_data = _history(upto, dates, payment_date, periods)

    sections = [
        _deal_section(deal, cycle, w, payment_date, start, end, known_at, upto),
        _dates(deal, upto, payment_date),
        _collections(pool),
        _split(closed),
        _available(deal, w, before),
        _waterfall(w),
        _notes(deal, cycle, w),
        _fees(deal, cycle, w),
        _reserves(deal, w, before),
        _pool(pool),
        _delinquency(pool),
        _default_ratio(deal, pool, cycle.triggers),
        _triggers(cycle.triggers),
        *_reconciliation(upto, deal, before, payment_date),
        chart_data,
        _cycle_events(cycle.recorded),
    ]
    return Report(
        kind="trustee",
        title=f"{deal.name} — 受托机构报告 / trustee report, payment date {payment_date}",
        deal_id=deal_id,
        report_date=payment_date,
        sections=tuple(sections),
    )


# ---------------------------------------------------------------------------------- sections


def _deal_section(
    deal: DealDefinition,
    cycle: _Cycle,
    w: WaterfallExecuted,
    payment_date: date,
    start: date,
    end: date,
    known_at: datetime | None,
    upto: Sequence[RecordedEvent],
) -> Section:
    closed = cycle.closed
    return Section.fields(
        "deal",
        "Deal and dates",
        [
            ("deal_id", deal.deal_id),
            ("deal_name", deal.name),
            ("seed", deal.seed),
            ("payment_date", payment_date),
            ("period_index", w.period_index),
            ("collection_period_start", start),
            ("collection_period_end", end),
            ("determination_date", closed.determination_date if closed else None),
            ("interest_period_start", w.interest_period_start),
            ("interest_period_end", w.interest_period_end),
            ("waterfall_mode", w.mode),
            # seed 001 L20667-20688 (v): the report says when it is the last payment date
            ("final_payment_date", all(n.closing == 0 for n in w.notes)),
            ("as_of", payment_date),
            ("known_at", known_text(known_at) if known_at else "everything recorded"),
            ("events_folded", len(upto)),
            ("last_event_seq", upto[-1].deal_seq if upto else 0),
        ],
        "seed 004 L1754, L2747, L2877; seed 001 L12991-12995; SPEC §5",
    )


def _dates(deal: DealDefinition, events: Sequence[RecordedEvent], payment_date: date) -> Section:
    period = next(
        (p for p in schedule_of(deal, events, payment_date) if p.payment_date == payment_date),
        None,
    )
    return Section.fields(
        "dates",
        "The payment date's calendar (deal calendar rules)",
        report_dates(period) if period else [("schedule", "the deal has no closing date")],
        "seed 004 L1754-1790 (受托机构报告日 = payment date - 5 business days); seed 001 "
        "L10594-10600 (Trust Company Report Date)",
    )


def _collections(pool: PeriodPool) -> Section:
    rows: list[tuple[str, Value]] = [
        ("principal_scheduled", pool.scheduled_principal),
        ("principal_prepaid", pool.prepayments),
        ("interest", pool.interest),
        ("fees", pool.fees),
        ("recoveries", pool.recoveries),
        ("repurchases", pool.repurchase_price),
        ("total", pool.collections),
    ]
    return Section.fields(
        "collections",
        "Collections of the collection period (pool projection, as restated)",
        rows,
        "seed 004 L2441-2457, L2728-2744 (income and principal collections); seed 001 R1 (i)",
    )


def _split(closed: CollectionPeriodClosed | None) -> Section:
    rows: list[tuple[Value, ...]] = []
    if closed is not None:
        for item, amount in sorted(closed.items.items()):
            rows.append(("item", item, amount))
        for account, amount in sorted(closed.to_accounts.items()):
            rows.append(("to_account", account, amount))
        rows.append(("unremitted", "collected, not yet remitted", closed.unremitted))
    return Section.table(
        "collections_split",
        "Collections split into the trust's accounts on this date (CollectionPeriodClosed)",
        ("line", "name", "amount"),
        rows,
        "seed 004 L2441-2457, L2728-2744; seed 001 L18553-18563",
    )


def _available(
    deal: DealDefinition, w: WaterfallExecuted, before: Mapping[str, Decimal]
) -> Section:
    rows: list[tuple[Value, ...]] = []
    total = ZERO
    for aid, acc in deal.accounts.items():
        if acc.kind == "ledger":
            continue
        account = posting_account(deal, aid)
        balance = before.get(account, ZERO)
        total += balance
        rows.append((aid, acc.name, acc.kind, account, balance))
    rows.append(("total", "sum of the pots", "", "", total))
    rows.append(("waterfall_available", "as the waterfall recorded it", "", "", w.available))
    return Section.table(
        "available_funds",
        "Available funds by account before the waterfall",
        ("account", "name", "kind", "ledger_account", "balance"),
        rows,
        "seed 001 L18553-18563 (Available Distribution Amount); seed 004 L2441-2457, L2728-2744",
    )


def _waterfall(w: WaterfallExecuted) -> Section:
    rows: list[tuple[Value, ...]] = [
        (
            s.step_id,
            s.clause,
            s.kind,
            s.source,
            s.destination,
            s.due,
            s.paid,
            s.shortfall,
            s.carried_forward,
            s.skipped,
        )
        for s in w.steps
    ]
    rows.append(("total", "", "", "", "", None, w.paid_out, None, None, False))
    rows.append(("retained", "", "", "", "", None, w.retained, None, None, False))
    return Section.table(
        "waterfall",
        f"Waterfall ({w.mode}): every step due, paid, shortfall",
        (
            "step_id",
            "clause",
            "kind",
            "source",
            "destination",
            "due",
            "paid",
            "shortfall",
            "carried_forward",
            "skipped",
        ),
        rows,
        "SPEC §4 WaterfallExecuted; the deal file's waterfall clauses per step",
    )


def _notes(deal: DealDefinition, cycle: _Cycle, w: WaterfallExecuted) -> Section:
    paid: dict[tuple[str, str], Decimal] = {}
    if cycle.distribution is not None:
        for p in cycle.distribution.payments:
            if p.note_id is not None:
                key = (p.note_id, p.kind)
                paid[key] = paid.get(key, ZERO) + p.amount
    rows = []
    for n in w.notes:
        spec = deal.notes.get(n.note_id)
        accrued = cycle.interest.get(n.note_id)
        rows.append(
            (
                n.note_id,
                spec.class_name if spec else "",
                n.original,
                n.opening,
                Decimal(factor(n.opening, n.original)),
                accrued.due if accrued else None,
                paid.get((n.note_id, "interest"), ZERO),
                paid.get((n.note_id, "principal"), ZERO),
                paid.get((n.note_id, "return"), ZERO),
                n.closing,
                Decimal(factor(n.closing, n.original)),
                n.interest_shortfall,
            )
        )
    return Section.table(
        "notes",
        "Notes: balances, payments and factors per class",
        (
            "note_id",
            "class",
            "original",
            "balance_before",
            "factor_before",
            "interest_due",
            "interest_paid",
            "principal_paid",
            "return_paid",
            "balance_after",
            "factor_after",
            "interest_unpaid_carried",
        ),
        rows,
        "seed 001 L13013-13015, L20667-20688 (i)-(iii): P&I per class, outstanding, Note Factor; "
        "seed 004 L2877 securities overview",
    )


def _fees(deal: DealDefinition, cycle: _Cycle, w: WaterfallExecuted) -> Section:
    rows = []
    for fid, fee in deal.fees.items():
        accrued = cycle.fees.get(fid)
        targets = {f"payable:fee:{fid}", *([fee.paid_into] if fee.paid_into else [])}
        paid = sum((s.paid for s in w.steps if s.destination in targets), ZERO)
        unpaid = w.fees_unpaid.get(fid, ZERO)
        if accrued is None and not paid and not unpaid:
            continue
        rows.append(
            (
                fid,
                fee.payee,
                accrued.carried_in if accrued else ZERO,
                accrued.accrued if accrued else ZERO,
                accrued.due if accrued else ZERO,
                paid,
                unpaid,
            )
        )
    return Section.table(
        "fees",
        "Fees, expenses and taxes: due, paid, unpaid carried forward",
        ("fee_id", "payee", "carried_in", "accrued", "due", "paid", "unpaid_carried"),
        rows,
        "seed 004 L980-987 (expenses, senior expense cap); seed 001 R1 (v)",
    )


def _step_of(memo: str) -> str:
    return memo.split(": ", 1)[0]


def _reserves(deal: DealDefinition, w: WaterfallExecuted, before: Mapping[str, Decimal]) -> Section:
    """Each reserve's balance before and after the waterfall and its target. The target is the
    one the waterfall evaluated: a top-up step's due is target − balance at that step, so target
    = the balance before the step (opening plus the postings of the steps before it) + due. A
    top-up with nothing due says only that the balance was at or above its target."""
    order = list(dict.fromkeys(s.step_id for s in w.steps))
    rows = []
    for aid, acc in deal.accounts.items():
        if acc.kind != "reserve":
            continue
        account = posting_account(deal, aid)
        opening = before.get(account, ZERO)
        moved = sum(
            (p.amount for e in w.postings for p in e.postings if p.account == account), ZERO
        )
        closing = opening + moved
        target: Decimal | None = None
        status = "no top-up step in this mode"
        for line in w.steps:
            if line.kind != "top_up" or line.destination != aid:
                continue
            upto = order.index(line.step_id)
            at_step = opening + sum(
                (
                    p.amount
                    for e in w.postings
                    if _step_of(e.memo) in order and order.index(_step_of(e.memo)) < upto
                    for p in e.postings
                    if p.account == account
                ),
                ZERO,
            )
            if line.due > 0:
                target = at_step + line.due
                status = "at target" if closing >= target else "below target"
            else:
                status = "at or above target"
        shortfall = max(ZERO, target - closing) if target is not None else None
        rows.append((aid, acc.name, opening, moved, closing, target, shortfall, status))
    return Section.table(
        "reserves",
        "Reserve accounts: balance against target",
        (
            "account",
            "name",
            "balance_before",
            "waterfall_movement",
            "balance_after",
            "target",
            "shortfall",
            "status",
        ),
        rows,
        "seed 001 L20202-20218, L20667-20688 (iv) General Cash Collateral; seed 004 L1052-1058, "
        "L2461-2463 必备流动性储备金额",
    )


def _pool(pool: PeriodPool) -> Section:
    return Section.fields(
        "pool",
        "Pool performance of the collection period",
        [
            ("collection_period_start", pool.start),
            ("collection_period_end", pool.end),
            ("months", ", ".join(pool.months)),
            ("opening_balance", pool.opening_balance),
            ("boarded", pool.boarded),
            ("scheduled_principal", pool.scheduled_principal),
            ("prepayments", pool.prepayments),
            ("defaults", pool.defaults),
            ("defaults_count", pool.defaults_count),
            ("repurchases", pool.repurchases),
            ("recoveries", pool.recoveries),
            ("written_off", pool.written_off),
            ("closing_balance", pool.closing_balance),
            ("loans", pool.loans),
            ("smm", pool.smm),
            ("cpr", pool.cpr),
            ("wa_rate", pool.wa_rate),
            ("wa_remaining_term_months", pool.wa_remaining_term),
        ],
        "seed 004 L2877 pool status (资产池状况); seed 001 R1 (xi), (xiii)",
    )


def _delinquency(pool: PeriodPool) -> Section:
    return Section.table(
        "delinquency",
        "Delinquency buckets at the collection period end (days past due)",
        ("bucket", "loans", "balance", "share_of_pool"),
        delinquency_rows(pool),
        "seed 001 L2655-2709 (ix) delinquency buckets; seed 004 L2650 (severe delinquency)",
    )


def _default_ratio(
    deal: DealDefinition, pool: PeriodPool, triggers: Sequence[TriggerEvaluated]
) -> Section:
    rule = default_ratio_rule(deal)
    measure = (
        "pool: Σ DRB of defaulted receivables at default / (cut-off ADRB + additional ADRB)"
        if rule.basis == "discounted"
        else "pool: cumulative defaulted principal / principal boarded"
    )
    rows: list[tuple[Value, ...]] = [
        (
            measure,
            pool.default_ratio_numerator,
            pool.default_ratio_denominator,
            pool.cumulative_default_ratio,
            None,
            None,
            None,
            rule.clause,
        )
    ]
    for t in sorted(triggers, key=lambda t: t.trigger_id):
        metric = (t.metric or "").lower()
        if t.threshold is None or not ("default" in metric or "loss" in metric):
            continue
        rows.append(
            (
                f"trigger {t.trigger_id}: {t.metric}",
                None,
                None,
                t.value,
                t.comparison,
                t.threshold,
                t.breached,
                t.clause,
            )
        )
    return Section.table(
        "cumulative_default",
        "Cumulative default ratio against the trigger threshold",
        ("measure", "defaulted", "boarded", "ratio", "test", "threshold", "breached", "clause"),
        rows,
        "seed 004 L2670 (acceleration (e)); seed 001 L2675, L18684-18696 (Cumulative Gross Loss "
        "Ratio); seed 003 L927",
    )


def _triggers(triggers: Sequence[TriggerEvaluated]) -> Section:
    rows = [
        (
            t.trigger_id,
            t.clause,
            t.as_of,
            t.metric,
            t.value,
            t.comparison,
            t.threshold,
            t.condition,
            t.declared,
            t.breached,
            t.was_in_effect,
            t.in_effect,
            t.sticky,
            t.watch_since,
            t.watch_evaluations,
            "; ".join(f"{k}={v}" for k, v in sorted(t.inputs.items())),
        )
        for t in sorted(triggers, key=lambda t: t.trigger_id)
    ]
    return Section.table(
        "triggers",
        "Trigger states at the determination date",
        (
            "trigger_id",
            "clause",
            "as_of",
            "metric",
            "value",
            "test",
            "threshold",
            "condition",
            "declared",
            "breached",
            "was_in_effect",
            "in_effect",
            "sticky",
            "watch_since",
            "watch_evaluations",
            "inputs",
        ),
        rows,
        "seed 004 L2191-2200 (acceleration events, events of default); seed 001 L2693, "
        "L12314-12316 (Early Amortisation Event); seed 002 L228",
    )


def _reconciliation(
    events: Sequence[RecordedEvent],
    deal: DealDefinition,
    balances: Mapping[str, Decimal],
    payment_date: date,
) -> list[Section]:
    """The latest reconciliation of each trust bank account whose statement ends on or before
    the payment date, with its open breaks; an account never reconciled says so."""
    latest: dict[str, tuple[date, int, ReconciliationCompleted]] = {}
    for e in events:
        if e.type != "ReconciliationCompleted":
            continue
        ev = e.event
        assert isinstance(ev, ReconciliationCompleted)
        if ev.period_end > payment_date:
            continue
        key = (ev.period_end, e.deal_seq)
        if ev.account not in latest or key > latest[ev.account][:2]:
            latest[ev.account] = (ev.period_end, e.deal_seq, ev)
    names = {accounts.TRUST_COLLECTIONS} | set(latest)
    names |= {posting_account(deal, a) for a, acc in deal.accounts.items() if acc.kind != "ledger"}
    names |= {a for a in balances if a.split(":", 1)[0] in ("trust", "reserve")}
    rows: list[tuple[Value, ...]] = []
    breaks: list[tuple[Value, ...]] = []
    for account in sorted(names):
        found = latest.get(account)
        if found is None:
            rows.append((account, "not reconciled", None, None, 0, 0, None, None, None))
            continue
        r = found[2]
        diff = (
            None
            if r.bank_closing_balance is None
            else r.bank_closing_balance - r.ledger_closing_balance
        )
        status = "reconciled" if not r.breaks else f"{len(r.breaks)} open break(s)"
        rows.append(
            (
                account,
                status,
                r.period_start,
                r.period_end,
                len(r.matched),
                len(r.breaks),
                r.bank_closing_balance,
                r.ledger_closing_balance,
                diff,
            )
        )
        for b in r.breaks:
            breaks.append(
                (
                    account,
                    b.kind,
                    b.value_date,
                    b.amount,
                    b.reference,
                    b.bank_line,
                    b.posting.event_id if b.posting else None,
                    b.detail,
                )
            )
    source = "seed 004 L1772, L2879 (custodian report); seed 001 L17564-17578 (Account Bank Report)"
    return [
        Section.table(
            "reconciliation",
            "Bank reconciliation status per trust account (latest statement)",
            (
                "account",
                "status",
                "statement_start",
                "statement_end",
                "matched",
                "breaks",
                "bank_closing",
                "ledger_closing",
                "difference",
            ),
            rows,
            source,
        ),
        Section.table(
            "reconciliation_breaks",
            "Open reconciliation breaks",
            (
                "account",
                "kind",
                "value_date",
                "amount",
                "reference",
                "bank_line",
                "event_id",
                "detail",
            ),
            breaks,
            source,
        ),
    ]


def _history(
    events: Sequence[RecordedEvent],
    dates: Sequence[date],
    payment_date: date,
    periods: Mapping[str, PoolPeriod],
) -> Section:
    """Every payment date up to this one: pool balance at its collection period end, the
    cumulative default ratio and its trigger, and each class's balance after it (the charts)."""
    wanted = [d for d in dates if d <= payment_date]
    by_date: dict[date, dict[str, Any]] = {d: {"triggers": []} for d in wanted}
    for e in events:
        if e.stream_id != CYCLE_STREAM or e.type not in (
            "CollectionPeriodClosed",
            "TriggerEvaluated",
            "WaterfallExecuted",
        ):
            continue
        day = date.fromisoformat(e.data["payment_date"])
        if day not in by_date:
            continue
        ev = e.event
        if isinstance(ev, CollectionPeriodClosed):
            by_date[day]["end"] = ev.collection_period_end
        elif isinstance(ev, TriggerEvaluated):
            by_date[day]["triggers"].append(ev)
        elif isinstance(ev, WaterfallExecuted):
            by_date[day]["waterfall"] = ev
    note_ids: list[str] = []
    for d in wanted:
        for n in by_date[d]["waterfall"].notes:
            if n.note_id not in note_ids:
                note_ids.append(n.note_id)
    months = sorted(periods)
    rows = []
    for d in wanted:
        info = by_date[d]
        w: WaterfallExecuted = info["waterfall"]
        end = info.get("end", w.interest_period_end)
        upto = [m for m in months if m <= month_key(end)]
        at = periods[upto[-1]] if upto else None
        t = default_ratio_trigger(info["triggers"])
        closing = {n.note_id: n.closing for n in w.notes}
        rows.append(
            (
                d,
                w.mode,
                at.closing_balance if at else ZERO,
                at.cumulative_default_ratio if at else ZERO,
                t.value if t else None,
                t.threshold if t else None,
                *(closing.get(n) for n in note_ids),
            )
        )
    return Section.table(
        "history",
        "Payment dates to this one (chart data)",
        (
            "payment_date",
            "mode",
            "pool_balance",
            "cumulative_default_ratio",
            "trigger_ratio",
            "trigger_threshold",
            *(f"note_{n}" for n in note_ids),
        ),
        rows,
        "seed 004 L2877 pool information over the life of the deal",
    )


def _cycle_events(recorded: Sequence[RecordedEvent]) -> Section:
    return Section.table(
        "cycle_events",
        "The events behind this report's payment-date figures",
        ("deal_seq", "type", "event_id", "effective_date", "hash"),
        [(e.deal_seq, e.type, e.event_id, e.effective_date, e.hash) for e in recorded],
        "SPEC §1 auditor: trace any report line to the events behind it",
    )
