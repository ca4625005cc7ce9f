"""Sealing a payment date's period (SPEC §2.2): after the cycle, the trustee posts
:class:`~events.seal.PeriodSealed` with the deal's chain head and the Merkle root over every event
since the previous seal. From then on nothing effective on or before the period's collection
period end is accepted (:class:`events.guard.LedgerGuard`); receipts of the seals are signed and
checked by :mod:`ledger.audit.receipts`."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa

from events.cycle import CYCLE_STREAM
from events.envelope import NewEvent, RecordedEvent, event_id_for
from events.guard import ChainMoved
from events.merkle import merkle_root
from events.policy import Identity
from events.seal import SEAL_STREAM, PeriodSealed, latest_seal
from events.tables import events
from ledger.cycle.schedule import CycleError
from projections.store import ProjectedStore

_ATTEMPTS = 5
"""Appends that move the head between reading it and posting the seal make the guard refuse the
seal; it is read and posted again, at most this many times."""


def seal_key(payment_date: dt.date) -> str:
    return f"seal:{payment_date.isoformat()}"


def _closed_period_end(store: ProjectedStore, deal_id: str, payment_date: dt.date) -> dt.date:
    day = payment_date.isoformat()
    for e in store.read(
        deal_id, effective_from=payment_date, effective_to=payment_date,
        types=["CollectionPeriodClosed"],
    ):  # fmt: skip
        if e.data["payment_date"] == day:
            return dt.date.fromisoformat(e.data["collection_period_end"])
    raise CycleError(f"deal {deal_id} has no cycle posted for {day}: run it before sealing it")


def _period_hashes(store: ProjectedStore, deal_id: str, first: int, head: int) -> list[str]:
    """The hashes of events ``first`` to ``head``, checked to link one to the next (a seal
    never covers a chain already broken: ``verify`` names the break)."""
    with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
        rows = conn.execute(
            sa.select(events.c.deal_seq, events.c.prev_hash, events.c.hash)
            .where(
                events.c.deal_id == deal_id,
                events.c.deal_seq >= first,
                events.c.deal_seq <= head,
            )
            .order_by(events.c.deal_seq)
        ).all()
    out: list[str] = []
    expected = first
    for seq, prev, this in rows:
        if seq != expected or (out and prev != out[-1]):
            raise CycleError(
                f"deal {deal_id}: the chain is broken at seq {seq}; run `verify` before sealing"
            )
        out.append(str(this))
        expected += 1
    if expected != head + 1:
        raise CycleError(f"deal {deal_id}: events {expected} to {head} are missing; run `verify`")
    return out


def seal_period(
    store: ProjectedStore, deal_id: str, payment_date: dt.date, *, who: Identity
) -> RecordedEvent:
    """Post the seal of ``payment_date``'s period (idempotent: the seal already posted is
    returned). The date's cycle must be posted; a later date sealed already is refused."""
    through = _closed_period_end(store, deal_id, payment_date)
    for _ in range(_ATTEMPTS):
        with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
            last = latest_seal(conn, deal_id)
        if last is not None and last["payment_date"] == payment_date.isoformat():
            done = store.get(deal_id, event_id_for(deal_id, seal_key(payment_date)))
            if done is not None:
                return done
        if last is not None and dt.date.fromisoformat(last["sealed_through"]) >= through:
            raise CycleError(
                f"deal {deal_id} is sealed through {last['sealed_through']} (payment date "
                f"{last['payment_date']}): {payment_date} can no longer be sealed"
            )
        first = 1 if last is None else int(last["head_seq"]) + 1
        head_seq, head_hash = store.head(deal_id)
        seal = PeriodSealed(
            payment_date=payment_date,
            sealed_through=through,
            first_seq=first,
            head_seq=head_seq,
            head_hash=head_hash,
            merkle_root=merkle_root(_period_hashes(store, deal_id, first, head_seq)),
        )
        new = NewEvent.of(
            seal, deal_id=deal_id, stream_id=SEAL_STREAM, effective_date=payment_date,
            idempotency_key=seal_key(payment_date), actor=who.name, role=who.role,
        )  # fmt: skip
        try:
            return store.append([new]).events[0]
        except ChainMoved:
            continue
    raise CycleError(f"deal {deal_id}: the chain kept moving; seal {payment_date} again")


def last_posted(conn: sa.Connection, deal_id: str) -> dt.date | None:
    """The last payment date whose cycle is posted: the payment date of the last
    ``DistributionPaid`` on the cycle stream (an index probe, however long the history)."""
    row = conn.execute(
        sa.select(events.c.data)
        .where(
            events.c.deal_id == deal_id,
            events.c.stream_id == CYCLE_STREAM,
            events.c.type == "DistributionPaid",
        )
        .order_by(events.c.stream_version.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else dt.date.fromisoformat(row.data["payment_date"])


def seal_last_posted(
    store: ProjectedStore, deal_id: str, until: dt.date, who: Identity
) -> RecordedEvent | None:
    """Seal the last payment date posted, if it is not sealed yet (a crash between a cycle and
    its seal); None when there is nothing to seal."""
    with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
        posted = last_posted(conn, deal_id)
        last = latest_seal(conn, deal_id)
    if posted is None or posted > until:
        return None
    if last is not None and dt.date.fromisoformat(last["payment_date"]) >= posted:
        return None
    return seal_period(store, deal_id, posted, who=who)
