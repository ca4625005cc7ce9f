"""The trustee report's pool sections: pool, delinquency, the cumulative default ratio, triggers,
reconciliation, history and the cycle's events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.bank import ReconciliationCompleted
from events.cycle import (
    CYCLE_STREAM,
    CollectionPeriodClosed,
    TriggerEvaluated,
    WaterfallExecuted,
)
from events.envelope import RecordedEvent
from ledger.core import accounts
from ledger.core.money import ZERO
from ledger.deal.pool_rules import default_ratio_rule
from ledger.deal.schema import DealDefinition
from ledger.reports.model import Section, Value
from ledger.reports.pool_figures import PeriodPool, delinquency_rows, month_key
from ledger.waterfall import posting_account
from projections.pool import PoolPeriod

if TYPE_CHECKING:
    pass
from ledger.reports.trustee_cycle import default_ratio_trigger


def pool_section(pool: PeriodPool) -> Section:
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


def delinquency_section(pool: PeriodPool) -> Section:
    return Section.table(
        "delinquency",
        "Delinquency buckets at the collection period end (days past due)",
        ("bucket", "loans", "balance", "share_of_pool"),
        delinquency_rows(pool),
        "seed 001 L2655-2709 (ix) delinquency buckets; seed 004 L2650 (severe delinquency)",
    )


def default_ratio_section(
    deal: DealDefinition, pool: PeriodPool, triggers: Sequence[TriggerEvaluated]
) -> Section:
    rule = default_ratio_rule(deal)
    measure = f"pool: {rule.label}"
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


def triggers_section(triggers: Sequence[TriggerEvaluated]) -> Section:
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


def reconciliation_section(
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


def history_section(
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


def cycle_events_section(recorded: Sequence[RecordedEvent]) -> Section:
    return Section.table(
        "cycle_events",
        "The events behind this report's payment-date figures",
        ("deal_seq", "type", "event_id", "effective_date", "hash"),
        [(e.deal_seq, e.type, e.event_id, e.effective_date, e.hash) for e in recorded],
        "SPEC §1 auditor: trace any report line to the events behind it",
    )
