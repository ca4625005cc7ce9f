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

from collections.abc import Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING

from events.envelope import RecordedEvent
from ledger.reports.model import Report
from ledger.reports.pool_figures import period_pool
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
)

if TYPE_CHECKING:
    from projections.store import ProjectedStore
from ledger.reports.trustee_cash import (
    available_section,
    collections_section,
    dates_section,
    deal_section,
    fees_section,
    notes_section,
    purchases_section,
    reserves_section,
    split_section,
    waterfall_section,
)
from ledger.reports.trustee_cycle import PaymentDateCycle
from ledger.reports.trustee_pool import (
    cycle_events_section,
    default_ratio_section,
    delinquency_section,
    history_section,
    pool_section,
    reconciliation_section,
    triggers_section,
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
    store: ProjectedStore, deal_id: str, payment_date: date, *, known_at: datetime | None = None
) -> Report:
    """The report of ``payment_date`` from the deal's events known at ``known_at``."""
    return build_trustee_report(
        read_events(store, deal_id, known_at), deal_id, payment_date, known_at=known_at
    )


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
    cycle = PaymentDateCycle(upto, payment_date)
    w = cycle.waterfall
    assert w is not None  # the date is one of payment_dates
    closed = cycle.closed
    start = closed.collection_period_start if closed else w.interest_period_start
    end = closed.collection_period_end if closed else w.interest_period_end
    periods = pool_periods_of(history.pool_rows(payment_date), deal)
    pool = period_pool(periods, start, end)
    before = balances_of(e for e in upto if e.deal_seq < cycle.waterfall_seq)
    chart_data = history_section(upto, dates, payment_date, periods)

    sections = [
        deal_section(deal, cycle, w, payment_date, start, end, known_at, upto),
        dates_section(deal, upto, payment_date),
        collections_section(pool),
        split_section(closed),
        available_section(deal, w, before),
        waterfall_section(w),
        *purchases_section(w),
        notes_section(deal, cycle, w),
        fees_section(deal, cycle, w),
        reserves_section(deal, w, before),
        pool_section(pool),
        delinquency_section(pool),
        default_ratio_section(deal, pool, cycle.triggers),
        triggers_section(cycle.triggers),
        *reconciliation_section(upto, deal, before, payment_date),
        chart_data,
        cycle_events_section(cycle.recorded),
    ]
    return Report(
        kind="trustee",
        title=f"{deal.name} — 受托机构报告 / trustee report, payment date {payment_date}",
        deal_id=deal_id,
        report_date=payment_date,
        sections=tuple(sections),
    )
