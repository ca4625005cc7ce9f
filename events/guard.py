"""What every append must satisfy beyond its payloads: the role policy and the sealed periods.

:class:`LedgerGuard` is the store's one hook (:meth:`events.store.EventStore.append` calls
:meth:`~LedgerGuard.check` inside the append's transaction, once the deal's chain head is locked
and the batch is known not to be a retry). Every writer goes through it: tape imports, operator
posts and reversals, the cycle and the trustee's acts, statements, deal loads, the importer. So
the rules hold whichever front end or library call asked, and a seal cannot slip in between the
check and the write (the head is locked).

* **Roles** (:mod:`events.policy`): each event's recorded ``role`` may post its type; a
  reversal's role may reverse the type it reverses, and that type is the stored original's.
* **Sealed periods** (:mod:`events.seal`): nothing effective on or before the last seal's
  ``sealed_through``; a :class:`~events.seal.PeriodSealed` names the chain head it follows and
  starts where the previous seal ended.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from operator import attrgetter
from typing import Any, Protocol

import sqlalchemy as sa

from events.envelope import NewEvent
from events.policy import PolicyError, check_events
from events.seal import latest_seal, sealed_through
from events.tables import events

_KIND = attrgetter("actor", "role", "type")

"""An event's (actor, role, type): what the policy judges, the payload aside."""
_EFFECTIVE = attrgetter("effective_date")


class SealedPeriodError(Exception):
    """An event effective in a sealed period, or a seal that does not continue the chain."""


class ChainMoved(SealedPeriodError):
    """A seal names a chain head that is no longer the head: seal again."""


class AppendGuard(Protocol):
    def check(
        self,
        conn: sa.Connection,
        deal_id: str,
        new: Sequence[NewEvent],
        last_seq: int,
        last_hash: str,
    ) -> None:
        """Raise to refuse the batch (nothing of it is stored)."""
        ...


class LedgerGuard:
    """The ledger's rules for every append (see the module)."""

    def check(
        self,
        conn: sa.Connection,
        deal_id: str,
        new: Sequence[NewEvent],
        last_seq: int,
        last_hash: str,
    ) -> None:
        kinds = set(map(_KIND, new))  # a tape: 100,000 events, one actor and a few types
        reversing = any(t == "EventReversed" for _, _, t in kinds)
        reversals = [e for e in new if e.type == "EventReversed"] if reversing else []
        check_events((a, r, t, {}) for a, r, t in kinds if t != "EventReversed")
        check_events((e.actor, e.role, e.type, e.data) for e in reversals)
        if reversals:
            _check_reversed_types(conn, deal_id, new, reversals)
        sealing = any(t == "PeriodSealed" for _, _, t in kinds)
        _check_seals(conn, deal_id, new, last_seq, last_hash, sealing)


def _check_reversed_types(
    conn: sa.Connection, deal_id: str, new: Sequence[NewEvent], reversals: list[NewEvent]
) -> None:
    """A reversal's ``reversed_type`` (what the policy judged) is the original's stored type."""
    in_batch = {e.event_id: e.type for e in new}
    wanted = [str(e.data.get("reversed_event_id")) for e in reversals]
    rows = conn.execute(
        sa.select(events.c.event_id, events.c.type).where(
            events.c.deal_id == deal_id, events.c.event_id.in_(wanted)
        )
    )
    stored = {str(event_id): str(type_name) for event_id, type_name in rows}
    for e, target in zip(reversals, wanted, strict=True):
        actual = stored.get(target, in_batch.get(target))
        if actual != e.data.get("reversed_type"):
            found = f"is a {actual}" if actual else "is not in the deal"
            raise PolicyError(
                f"reversal {e.idempotency_key!r} names {e.data.get('reversed_type')} "
                f"{target} but that event {found}",
                "a reversal names the type of the event it reverses",
            )


def _check_seals(
    conn: sa.Connection,
    deal_id: str,
    new: Sequence[NewEvent],
    last_seq: int,
    last_hash: str,
    sealing: bool,
) -> None:
    seal = latest_seal(conn, deal_id)
    through = sealed_through(seal)
    if not sealing and (through is None or min(map(_EFFECTIVE, new)) > through):
        return
    for i, e in enumerate(new):
        if through is not None and e.effective_date <= through:
            assert seal is not None
            raise SealedPeriodError(
                f"{e.type} (key {e.idempotency_key!r}) is effective {e.effective_date}, in a "
                f"sealed period: deal {deal_id} is sealed through {through} (seal of payment "
                f"date {seal['payment_date']}); date a correction after {through}"
            )
        if e.type == "PeriodSealed":
            _check_seal(deal_id, e.data, seal, last_seq + i, last_hash if i == 0 else None)
            seal, through = e.data, sealed_through(e.data)


def _check_seal(
    deal_id: str,
    data: dict[str, Any],
    previous: dict[str, Any] | None,
    seq_before: int,
    hash_before: str | None,
) -> None:
    """A seal follows the event before it, and starts where the previous seal ended."""
    where = f"seal of {deal_id} payment date {data['payment_date']}"
    head = (int(data["head_seq"]), str(data["head_hash"]))
    if head[0] != seq_before or (hash_before is not None and head[1] != hash_before):
        raise ChainMoved(
            f"{where} names chain head seq {head[0]} hash {head[1][:16]}… but the event before "
            f"it is seq {seq_before}"
            + (f" hash {hash_before[:16]}…" if hash_before is not None else "")
            + ": the chain moved; seal again"
        )
    first = 1 if previous is None else int(previous["head_seq"]) + 1
    if int(data["first_seq"]) != first:
        raise SealedPeriodError(f"{where} starts at seq {data['first_seq']}, not {first}")
    if previous is not None and _day(data["sealed_through"]) <= _day(previous["sealed_through"]):
        raise SealedPeriodError(
            f"{where} seals through {data['sealed_through']}, not after the previous seal's "
            f"{previous['sealed_through']}"
        )


def _day(value: Any) -> date:
    return date.fromisoformat(str(value))
