"""Projections are pure folds over a deal's events (SPEC §2.5).

A projection says, for one event, which rows it changes and how (:meth:`Projection.changes`), and
how a change turns one row into the next (:meth:`Projection.apply`). Both are pure. Rows are small
JSON-able mappings keyed by a string, so the same fold serves the in-memory rebuild and the live
tables, and the two can be compared row by row.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Generic, TypeVar

from events.envelope import RecordedEvent

Row = Mapping[str, Any]
C = TypeVar("C")


@dataclass(frozen=True, slots=True)
class Versioned:
    """A row with the chain sequence number of the event that last changed it."""

    row: Row
    last_seq: int


State = dict[str, Versioned]


class Projection(ABC, Generic[C]):
    """A keyed fold: ``state, event -> state`` applied one row at a time."""

    name: ClassVar[str]

    @abstractmethod
    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, C]]:
        """The (key, change) pairs this event makes; nothing for events it ignores."""

    @abstractmethod
    def apply(self, row: Row | None, change: C) -> Row | None:
        """The row after ``change`` (None deletes it)."""

    additive: ClassVar[bool] = False
    """True when consecutive changes to one key may be merged first (``apply(apply(r, a), b) ==
    apply(r, merge(a, b))``): the live fold of a batch then touches each row once."""

    def merge(self, first: C, second: C) -> C:
        raise NotImplementedError(f"{self.name} changes are not additive")

    def fold(self, state: State, event: RecordedEvent) -> State:
        """``state`` with ``event`` applied. The rows themselves are never mutated; the mapping is
        updated in place for speed, so callers own ``state``."""
        return self.apply_changes(state, event.deal_seq, self.changes(event))

    def apply_changes(self, state: State, seq: int, changes: Iterable[tuple[str, C]]) -> State:
        for key, change in changes:
            current = state.get(key)
            row = self.apply(current.row if current else None, change)
            if row is None:
                state.pop(key, None)
            else:
                state[key] = Versioned(row, seq)
        return state


def fold_all(projection: Projection[Any], events: Iterable[RecordedEvent]) -> State:
    state: State = {}
    for event in events:
        projection.fold(state, event)
    return state
