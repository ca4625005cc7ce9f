"""The events a report is built from, and the pure folds over them (SPEC §2.5, issue 6 item 1).

A report reads the deal's events once, bounded on the **known-at** axis (``recorded_until``: what
the ledger knew at that time, :mod:`ledger.timeaxes`), and every figure is a fold of the pure
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
from ledger.deal.loader import load_deal_text
from ledger.deal.schema import DealDefinition
from ledger.money import ZERO
from ledger.timeaxes import TimePoint
from projections.base import Projection, State, fold_all
from projections.pool import PoolPeriod, PoolProjection, pool_report
from projections.remittance import RemittanceProjection

if TYPE_CHECKING:
    from events.store import EventStore

__all__ = [
    "ReportError",
    "balances_of",
    "deal_of",
    "effective_until",
    "known_text",
    "pool_periods_of",
    "pool_state",
    "read_events",
    "remittance_rows",
    "rows_of",
]


class ReportError(ValueError):
    """A report cannot be built: unknown deal, payment date or period (the message says which
    exist)."""


def known_text(known_at: datetime) -> str:
    """A known-at time as the reports print it: ISO 8601 in UTC, whatever zone it was given in."""
    return known_at.astimezone(UTC).isoformat()


def read_events(
    store: EventStore, deal_id: str, known_at: datetime | None = None
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


def pool_state(events: Iterable[RecordedEvent]) -> dict[str, Any]:
    """The pool projection's rows (periods ``YYYY-MM`` and loans ``L:<id>``)."""
    return rows_of(PoolProjection(), events)


def pool_periods_of(rows: Mapping[str, Any]) -> dict[str, PoolPeriod]:
    """Every calendar month's pool figures (:func:`projections.pool.pool_report`) by month."""
    return {p.period: p for p in pool_report(rows)}


def remittance_rows(events: Iterable[RecordedEvent]) -> dict[str, Any]:
    return rows_of(RemittanceProjection(), events)


def balances_of(events: Iterable[RecordedEvent]) -> dict[str, Decimal]:
    """Every account's balance after ``events`` (the balances projection's fold of the legs)."""
    out: dict[str, Decimal] = {}
    for e in events:
        for account, amount in e.event.legs():
            out[account] = out.get(account, ZERO) + amount
    return out
