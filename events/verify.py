"""Tamper evidence: recompute a deal's hash chain (SPEC §2.2).

Detects an edited row (hash mismatch), a removed row (gap in the deal's sequence or a broken
``prev_hash`` link), re-ordered rows (sequence or position out of order, broken link) and a chain
head that no longer matches the last event (rows removed from the end).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from events.envelope import RecordedEvent
from events.hashing import GENESIS, canonical_bytes, chain_hash, header_values, timestamp_text


@dataclass(frozen=True, slots=True)
class ChainProblem:
    deal_id: str
    deal_seq: int
    event_id: str | None
    position: int | None
    event_type: str | None
    reason: str

    def describe(self) -> str:
        where = f"deal {self.deal_id} event seq {self.deal_seq}"
        if self.event_id:
            where += f" (id {self.event_id}, position {self.position}, {self.event_type})"
        return f"{where}: {self.reason}"


def recompute_hash(e: RecordedEvent) -> str:
    header = header_values(
        e.event_id, e.deal_id, e.deal_seq, e.stream_id, e.stream_version, e.type,
        e.schema_version, e.effective_date, timestamp_text(e.recorded_at), e.actor, e.role,
        e.idempotency_key, e.correlation_id, e.causation_id, e.prev_hash,
    )  # fmt: skip
    return chain_hash(header, canonical_bytes(e.data))


def check_chain(
    deal_id: str, events: Iterable[RecordedEvent], head: tuple[int, str]
) -> list[ChainProblem]:
    """Every break in the deal's chain, first one first. ``events`` in deal-sequence order."""
    problems: list[ChainProblem] = []
    expected_seq, prev_hash, prev_position = 1, GENESIS, 0

    def problem(e: RecordedEvent, reason: str) -> None:
        problems.append(ChainProblem(deal_id, e.deal_seq, e.event_id, e.position, e.type, reason))

    for e in events:
        if e.deal_seq != expected_seq:
            problem(e, f"sequence {e.deal_seq} where {expected_seq} was expected: event(s) removed")
        if e.position <= prev_position:
            problem(e, f"position {e.position} not after {prev_position}: events re-ordered")
        if e.prev_hash != prev_hash:
            problem(
                e, "previous-hash link broken: an event before it was removed, altered or moved"
            )
        actual = recompute_hash(e)
        if actual != e.hash:
            problem(e, f"stored hash {e.hash[:16]}… != recomputed {actual[:16]}…: event altered")
        expected_seq, prev_hash, prev_position = e.deal_seq + 1, e.hash, e.position
    last_seq, last_hash = head
    if (expected_seq - 1, prev_hash) != (last_seq, last_hash):
        problems.append(
            ChainProblem(
                deal_id,
                last_seq,
                None,
                None,
                None,
                f"chain head records seq {last_seq} hash {last_hash[:16]}… but the events end at "
                f"seq {expected_seq - 1} hash {prev_hash[:16]}…: events removed from the end",
            )
        )
    return problems
