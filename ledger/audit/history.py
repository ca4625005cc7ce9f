"""Trace a balance to the events behind it (SPEC §1 auditor, §5 ``history``; issue 6 item 2).

For an account: every event with a posting (leg) on it, in chain order, with the leg's amount
and the running balance after it; the last running balance is the account's balance at that
point, the same figure ``balances`` prints. For a loan: every event on the loan's stream, its
postings, and the loan projection's row after it (balance, status, days past due...).

Each line carries the event's id, chain sequence, global position and SHA-256 hash (with the
previous hash), so an auditor can check any line against ``verify`` and the exported chain.
Pure folds over events read with the :class:`~ledger.audit.timeaxes.TimePoint` bounds: history as
of a
date, or as known at a time, is the same function over fewer events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.envelope import RecordedEvent
from ledger.audit.timeaxes import CURRENT, TimePoint
from ledger.core.money import ZERO
from projections.base import Row, State
from projections.loans import LoanProjection

if TYPE_CHECKING:
    from projections.store import ProjectedStore

__all__ = [
    "HistoryLine",
    "account_history",
    "history_json",
    "loan_history",
    "trace_account",
    "trace_loan",
]


@dataclass(frozen=True, slots=True)
class HistoryLine:
    """One event behind a balance."""

    event: RecordedEvent
    legs: tuple[tuple[str, Decimal], ...]
    amount: Decimal | None
    """The leg on the traced account (None for a loan's history)."""
    after: Mapping[str, Any]
    """The traced figure after this event: ``{"balance": ...}`` for an account, the loan row for a
    loan (empty when the event removed it)."""

    def as_dict(self) -> dict[str, Any]:
        e = self.event
        return {
            "position": e.position,
            "deal_seq": e.deal_seq,
            "event_id": e.event_id,
            "type": e.type,
            "stream_id": e.stream_id,
            "effective_date": e.effective_date.isoformat(),
            "recorded_at": e.recorded_at.isoformat(),
            "actor": e.actor,
            "role": e.role,
            "idempotency_key": e.idempotency_key,
            "hash": e.hash,
            "prev_hash": e.prev_hash,
            "amount": None if self.amount is None else str(self.amount),
            "postings": [{"account": a, "amount": str(v)} for a, v in self.legs],
            "after": dict(self.after),
        }


def _legs(event: RecordedEvent) -> tuple[tuple[str, Decimal], ...]:
    return tuple(event.event.legs())


def trace_account(events: Iterable[RecordedEvent], account: str) -> list[HistoryLine]:
    """The events with a leg on ``account`` and the running balance after each (pure)."""
    balance = ZERO
    out = []
    for event in events:
        legs = _legs(event)
        mine = [v for a, v in legs if a == account]
        if not mine:
            continue
        amount = sum(mine, ZERO)
        balance += amount
        out.append(HistoryLine(event, legs, amount, {"balance": str(balance)}))
    return out


def trace_loan(events: Iterable[RecordedEvent], loan_id: str) -> list[HistoryLine]:
    """The events that change ``loan_id``'s row and the row after each (pure: the loan
    projection's own fold, so the last row is the projection's row)."""
    projection = LoanProjection()
    state: State = {}
    out = []
    for event in events:
        changes = [(k, c) for k, c in projection.changes(event) if k == loan_id]
        if not changes:
            continue
        projection.apply_changes(state, event.deal_seq, changes)
        now = state.get(loan_id)
        row: Row = now.row if now else {}
        out.append(HistoryLine(event, _legs(event), None, row))
    return out


def account_history(
    store: ProjectedStore, deal_id: str, account: str, point: TimePoint = CURRENT
) -> list[HistoryLine]:
    return trace_account(store.read(deal_id, **point.bounds()), account)


def loan_history(
    store: ProjectedStore, deal_id: str, loan_id: str, point: TimePoint = CURRENT
) -> list[HistoryLine]:
    bounds = point.bounds()
    bounds["stream_id"] = f"loan-{loan_id}"
    return trace_loan(store.read(deal_id, **bounds), loan_id)


def history_json(
    deal_id: str, subject: Mapping[str, str], point: TimePoint, lines: list[HistoryLine]
) -> dict[str, Any]:
    return {
        "deal_id": deal_id,
        **subject,
        **point.as_dict(),
        "events": len(lines),
        "closing": dict(lines[-1].after) if lines else None,
        "lines": [line.as_dict() for line in lines],
    }
