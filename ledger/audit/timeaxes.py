"""The two time axes of every figure (SPEC §1 auditor, §2.5; issue 6 item 1).

* **as of** an effective date: what the trust's books say for that business date — only events
  whose ``effective_date`` is on or before it;
* **known at** a recorded time: what the ledger knew then — only events recorded at or before it.

"As reported on 15 April" is ``known_at`` = the end of 15 April; "as restated today" is the
current state, which includes every later correction (an ``EventReversed`` keeps the original in
history and nets it out of every projection from when it is recorded). Both axes filter the events
and fold the pure projections from zero, so the answer is a replay, never a stored snapshot that
could have drifted; with neither axis given, the live rows are read (``verify`` proves they equal
a replay).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

from events.store import EventBounds
from projections.base import State
from projections.runner import ProjectionRunner

if TYPE_CHECKING:
    from projections.store import ProjectedStore

__all__ = ["CURRENT", "TimePoint", "parse_as_of", "parse_known_at", "state_at"]


@dataclass(frozen=True, slots=True)
class TimePoint:
    """A point on both axes; ``None`` on an axis means "no limit" (everything so far)."""

    as_of: date | None = None
    known_at: datetime | None = None

    def __post_init__(self) -> None:
        if self.known_at is not None and self.known_at.tzinfo is None:
            raise ValueError("known_at must carry a time zone")

    @property
    def current(self) -> bool:
        return self.as_of is None and self.known_at is None

    def bounds(self) -> EventBounds:
        out: EventBounds = {}
        if self.as_of is not None:
            out["effective_to"] = self.as_of
        if self.known_at is not None:
            out["recorded_until"] = self.known_at.astimezone(UTC)
        return out

    def describe(self) -> str:
        parts = []
        if self.as_of is not None:
            parts.append(f"as of {self.as_of.isoformat()}")
        if self.known_at is not None:
            parts.append(f"known at {self.known_at.astimezone(UTC).isoformat()}")
        return ", ".join(parts) or "current"

    def as_dict(self) -> dict[str, str | None]:
        return {
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "known_at": self.known_at.astimezone(UTC).isoformat() if self.known_at else None,
        }


CURRENT = TimePoint()
"""No bound on either axis: the live state."""


def parse_as_of(text: str) -> date:
    """An ISO date (``2024-04-15``)."""
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--as-of: {text!r} is not an ISO date (YYYY-MM-DD)") from None


def parse_known_at(text: str) -> datetime:
    """An ISO timestamp; one without a zone is UTC. A bare date means the end of that day (UTC):
    "as reported on 15 April" includes everything recorded on the 15th."""
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime.combine(day + timedelta(days=1), time(), UTC) - timedelta(
                microseconds=1
            )
        ts = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"--known-at: {text!r} is not an ISO timestamp (YYYY-MM-DD[THH:MM[:SS][+HH:MM]])"
        ) from None
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def state_at(
    store: ProjectedStore,
    deal_id: str,
    point: TimePoint = CURRENT,
    names: Sequence[str] | None = None,
) -> dict[str, State]:
    """The rows of the named projections (default: all) at ``point``: live rows when the point is
    current, else every event within both bounds folded from zero."""
    chosen = [p for p in store.runner.projections if names is None or p.name in names]
    unknown = set(names or ()) - {p.name for p in chosen}
    if unknown:
        raise ValueError(f"unknown projection(s): {', '.join(sorted(unknown))}")
    if point.current:
        return {p.name: store.runner.live(store, deal_id, p.name) for p in chosen}
    return ProjectionRunner(chosen).rebuild(store, deal_id, **point.bounds())
