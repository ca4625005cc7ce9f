"""``trust-ledger verify``: the hash chain and replay-equals-live, per deal (SPEC §2.2, §2.5).

A stored payload the code cannot read (a tampered amount with three decimals, a field removed)
is reported as a problem of the event that holds it, never a crash of the replay."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from events.envelope import RecordedEvent
from events.verify import ChainProblem, check_chain
from projections.runner import RowDiff
from projections.store import ProjectedStore


@dataclass(frozen=True)
class DealVerification:
    deal_id: str
    events: int
    head_hash: str
    chain: list[ChainProblem] = field(default_factory=list)
    projections: list[RowDiff] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.chain and not self.projections

    def first_problem(self) -> str | None:
        if self.chain:
            return self.chain[0].describe()
        if self.projections:
            return f"replay differs from live at event seq {self.projections[0].first_seq}: " + (
                self.projections[0].describe()
            )
        return None


def verify_deal(store: ProjectedStore, deal_id: str) -> DealVerification:
    head = store.head(deal_id)
    counted = 0

    def counting() -> Iterator[RecordedEvent]:
        nonlocal counted
        for e in store.read(deal_id):
            counted += 1
            yield e

    chain = check_chain(deal_id, counting(), head)
    try:
        diffs = store.runner.compare(store, deal_id)
    except (ValueError, ArithmeticError, KeyError, TypeError) as exc:
        return DealVerification(
            deal_id, counted, head[1], [*chain, *_unreadable(store, deal_id, exc)]
        )
    return DealVerification(deal_id, counted, head[1], chain, diffs)


def _unreadable(store: ProjectedStore, deal_id: str, exc: Exception) -> list[ChainProblem]:
    """The events whose stored payload does not validate (the replay stopped on one)."""
    out = []
    for e in store.read(deal_id):
        try:
            e.event  # noqa: B018  (parsing the payload is the check)
        except (ValueError, ArithmeticError, KeyError, TypeError) as bad:
            reason = str(bad).strip().replace("\n", " ")
            out.append(
                ChainProblem(deal_id, e.deal_seq, e.event_id, e.position, e.type,
                             f"stored payload does not validate: {reason}")
            )  # fmt: skip
    if not out:  # the replay failed on something else: say what
        out.append(
            ChainProblem(deal_id, 0, None, None, None, f"the replay from zero failed: {exc}")
        )
    return out


def verify(store: ProjectedStore, deal_id: str | None = None) -> list[DealVerification]:
    deals = [deal_id] if deal_id else store.deals()
    return [verify_deal(store, d) for d in deals]
