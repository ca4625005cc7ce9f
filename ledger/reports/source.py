"""The events a report is built from, and the pure folds over them (SPEC §2.5, issue 6 item 1).

A report reads the deal's events once, bounded on the **known-at** axis (``recorded_until``: what
the ledger knew at that time, :mod:`ledger.audit.timeaxes`), and every figure is a fold of the pure
projections over those events, bounded again on the **as-of** axis (effective date on or before
the report's date). Nothing is read from the live projection tables, so a report rebuilt from an
exported and re-imported history is the same report.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.envelope import RecordedEvent
from ledger.audit.timeaxes import TimePoint
from ledger.core.calendar import SchedulePeriod
from ledger.core.money import ZERO
from ledger.cycle.schedule import deal_schedule
from ledger.deal.loader import load_deal_text
from ledger.deal.pool_rules import default_ratio_rule
from ledger.deal.schema import DealDefinition
from projections.base import Projection, State, fold_all
from projections.loans import LOAN_EVENT_TYPES
from projections.pool import PoolPeriod, PoolProjection, pool_report
from projections.remittance import RemittanceProjection

if TYPE_CHECKING:
    from projections.store import ProjectedStore

__all__ = [
    "History",
    "ReportError",
    "as_history",
    "balances_of",
    "deal_of",
    "effective_until",
    "known_text",
    "pool_periods_of",
    "read_events",
    "report_dates",
    "rows_of",
    "schedule_of",
]


class ReportError(ValueError):
    """A report cannot be built: unknown deal, payment date or period (the message says which
    exist)."""


def known_text(known_at: datetime) -> str:
    """A known-at time as the reports print it: ISO 8601 in UTC, whatever zone it was given in."""
    return known_at.astimezone(UTC).isoformat()


def read_events(
    store: ProjectedStore, deal_id: str, known_at: datetime | None = None
) -> list[RecordedEvent]:
    """The deal's events in chain order, as known at ``known_at`` (all when None)."""
    events = list(store.read(deal_id, **TimePoint(known_at=known_at).bounds()))
    if not events:
        when = "" if known_at is None else f" known at {known_text(known_at)}"
        raise ReportError(f"deal {deal_id!r} has no events{when}")
    return events


def effective_until(events: Iterable[RecordedEvent], day: date) -> list[RecordedEvent]:
    """The events effective on or before ``day`` (the as-of axis), chain order kept."""
    return [e for e in events if e.effective_date <= day]


_DEALS: dict[str, DealDefinition] = {}


def deal_of(events: Sequence[RecordedEvent], deal_id: str) -> DealDefinition:
    """The deal definition last recorded among ``events``."""
    last = None
    for e in events:
        if e.type == "DealDefined":
            last = e
    if last is None:
        raise ReportError(f"deal {deal_id!r} has no definition among its events")
    digest = str(last.data["content_hash"])
    deal = _DEALS.get(digest)
    if deal is None:
        deal = _DEALS[digest] = load_deal_text(str(last.data["content"]), f"DealDefined {deal_id}")
    return deal


def rows_of(projection: Projection[Any], events: Iterable[RecordedEvent]) -> dict[str, Any]:
    """A projection folded from zero over ``events``: key → row."""
    state: State = fold_all(projection, events)
    return {k: v.row for k, v in state.items()}


def pool_periods_of(rows: Mapping[str, Any], deal: DealDefinition) -> dict[str, PoolPeriod]:
    """Every calendar month's pool figures (:func:`projections.pool.pool_report`) by month, the
    cumulative default ratio by the deal's own definition (:func:`default_ratio_rule`)."""
    return {p.period: p for p in pool_report(rows, default_ratio_rule(deal))}


def as_history(source: History | Sequence[RecordedEvent]) -> History:
    return source if isinstance(source, History) else History(source)


class History:
    """One deal's events (as known at one time) and the folds every report of it needs, shared
    by the reports of several dates: the demo writes two reports for each payment date from one
    read of the history.

    :meth:`pool_rows` folds the pool projection over the events effective on or before a date.
    Asked for a later date, it folds only the new events when, for every loan they touch, they
    come after (in chain order) that loan's events folded so far: a loan's row depends on its
    own events in order, and the period rows are sums of each loan event's delta (additive,
    :mod:`projections.pool`), so that is the same fold as one from zero. Otherwise (a reversal
    or a late event recorded after later-dated events of its loan) it folds from zero.
    """

    def __init__(self, events: Sequence[RecordedEvent]) -> None:
        self.events = events
        self._loan_events: list[tuple[str, RecordedEvent]] = []
        for e in events:
            if e.type in LOAN_EVENT_TYPES:
                self._loan_events.append((str(e.data.get("loan_id")), e))
            elif e.type == "EventReversed" and e.data.get("reversed_type") in LOAN_EVENT_TYPES:
                original = e.data.get("reversed_data") or {}
                self._loan_events.append((str(original.get("loan_id")), e))
        self._pool = PoolProjection()
        self._state: State = {}
        self._day: date | None = None
        self._last: dict[str, int] = {}
        """Loan id → chain sequence of its last event folded."""
        self._remittance: dict[str, Any] | None = None

    def _fold(self, chosen: list[tuple[str, RecordedEvent]]) -> None:
        for loan, e in chosen:
            self._pool.fold(self._state, e)
            self._last[loan] = e.deal_seq

    def pool_rows(self, day: date) -> dict[str, Any]:
        """The pool projection's rows over the events effective on or before ``day``."""
        start = self._day
        if start is not None and day >= start:
            new = [(loan, e) for loan, e in self._loan_events if start < e.effective_date <= day]
            if all(e.deal_seq > self._last.get(loan, 0) for loan, e in new):
                self._fold(new)
                self._day = day
                return {k: v.row for k, v in self._state.items()}
        self._state, self._last = {}, {}
        self._fold([(loan, e) for loan, e in self._loan_events if e.effective_date <= day])
        self._day = day
        return {k: v.row for k, v in self._state.items()}

    def remittance_rows(self, until: date) -> dict[str, Any]:
        """The remittance projection's rows as of ``until``. Its rows are keyed by effective date
        and additive, so folding every event once and keeping the days up to ``until`` is the
        same as folding the events effective up to it."""
        if self._remittance is None:
            self._remittance = rows_of(RemittanceProjection(), self.events)
        stop = until.isoformat()
        return {k: v for k, v in self._remittance.items() if k <= stop}


def balances_of(events: Iterable[RecordedEvent]) -> dict[str, Decimal]:
    """Every account's balance after ``events`` (the balances projection's fold of the legs)."""
    out: dict[str, Decimal] = {}
    for e in events:
        for account, amount in e.event.legs():
            out[account] = out.get(account, ZERO) + amount
    return out


def schedule_of(
    deal: DealDefinition, events: Sequence[RecordedEvent], until: date
) -> tuple[SchedulePeriod, ...]:
    """The deal's periods with a payment date up to ``until`` (``ledger.cycle.state``), closing
    on the date the notes were issued where the deal file leaves it blank (seed 004 L1737); none
    while there is no closing date at all."""
    closing = deal.calendar.closing_date
    for e in events:
        if e.type == "NotesIssued":
            closing = date.fromisoformat(e.data["closing_date"])
    if closing is None:
        return ()
    return deal_schedule(deal, closing, until)


def report_dates(period: SchedulePeriod) -> list[tuple[str, date | None]]:
    """The period's named dates as the deal's calendar rules give them (report dates, seed 004
    L1754-1790; seed 001 L10530-10624; seed 003 L236)."""
    named: list[tuple[str, date | None]] = [
        ("calculation_date", period.calculation_date),
        ("remittance_date", period.remittance_date),
        ("determination_date", period.determination_date),
        ("payment_date", period.payment_date),
    ]
    named += [(f"{name}_date", day) for name, day in period.other_dates]
    return named
