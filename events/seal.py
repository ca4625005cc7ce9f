"""Sealed payment periods (SPEC §2.2): the chain head anchored outside the database.

After a payment date's cycle the trustee seals the period (:class:`PeriodSealed`): the deal's
chain head (sequence and hash) and the Merkle root (:mod:`events.merkle`) over every event
appended since the previous seal. A receipt of the seal, signed by the trustee's key and kept
apart from the ledger (:mod:`ledger.audit.receipts`), then proves what the ledger held, even
against someone able to rewrite the database and recompute every hash.

Events effective on or before a seal's ``sealed_through`` (the sealed payment date's collection
period end) are refused (:class:`events.guard.LedgerGuard`): a correction is dated in the open
period and references what it corrects (``EventReversed``).

The queries here read a deal's seals through a partial index on ``type = 'PeriodSealed'``
(migration 0004): a probe per append, whatever the size of the deal.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from pydantic import Field, model_validator

from events.model import Event, event_type
from events.tables import events

SEAL_STREAM = "seal"
_HASH = r"^[0-9a-f]{64}$"


@event_type("PeriodSealed")
class PeriodSealed(Event):
    """The trustee's seal of one payment date's period: events ``first_seq`` to ``head_seq`` of
    the deal's chain, their Merkle root, and the head's hash."""

    payment_date: date
    sealed_through: date
    """The end of the collection period closed for ``payment_date``: events effective on or
    before it are refused once the seal is posted."""
    first_seq: int = Field(ge=1)
    head_seq: int = Field(ge=1)
    head_hash: str = Field(pattern=_HASH)
    merkle_root: str = Field(pattern=_HASH)

    @model_validator(mode="after")
    def _range(self) -> PeriodSealed:
        if self.head_seq < self.first_seq:
            raise ValueError(f"head_seq {self.head_seq} is before first_seq {self.first_seq}")
        return self

    def default_stream(self) -> str:
        return SEAL_STREAM


_IS_SEAL = events.c.type == sa.literal_column("'PeriodSealed'")
"""Inline literal, not a parameter: the partial index ``ix_events_seals`` is chosen only when
the query's predicate matches its own."""


def latest_seal(conn: sa.Connection, deal_id: str) -> dict[str, Any] | None:
    """The payload of the deal's last seal (None before the first)."""
    row = conn.execute(
        sa.select(events.c.data)
        .where(events.c.deal_id == deal_id, _IS_SEAL)
        .order_by(events.c.deal_seq.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else dict(row.data)


def seals(conn: sa.Connection, deal_id: str) -> list[tuple[int, str, dict[str, Any]]]:
    """Every seal of the deal as ``(deal_seq, event_id, payload)``, in chain order."""
    rows = conn.execute(
        sa.select(events.c.deal_seq, events.c.event_id, events.c.data)
        .where(events.c.deal_id == deal_id, _IS_SEAL)
        .order_by(events.c.deal_seq)
    )
    return [(int(r.deal_seq), str(r.event_id), dict(r.data)) for r in rows]


def chain_hashes(conn: sa.Connection, deal_id: str, first_seq: int, last_seq: int) -> list[str]:
    """The stored hashes of events ``first_seq`` to ``last_seq`` of the deal, in chain order."""
    rows = conn.execute(
        sa.select(events.c.hash)
        .where(
            events.c.deal_id == deal_id,
            events.c.deal_seq >= first_seq,
            events.c.deal_seq <= last_seq,
        )
        .order_by(events.c.deal_seq)
    )
    return [str(h) for (h,) in rows]


def sealed_through(payload: dict[str, Any] | None) -> date | None:
    """The last effective date a seal closes (None: nothing sealed)."""
    return None if payload is None else date.fromisoformat(str(payload["sealed_through"]))


def open_date(engine: sa.Engine, deal_id: str, wanted: date) -> date:
    """``wanted``, or the first day after the deal's sealed periods if it falls in one: where a
    correction of an event in a sealed period is dated by default."""
    with engine.connect().execution_options(sqlite_readonly=True) as conn:
        through = sealed_through(latest_seal(conn, deal_id))
    return wanted if through is None or wanted > through else through + timedelta(days=1)
