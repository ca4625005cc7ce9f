"""What a tape import reports (:class:`ImportResult`), refuses (:class:`ServicingError`) and
shares: the stages an import's progress callback sees, reading a source's bytes, the stored
events of a batch's keys."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Literal

import sqlalchemy as sa

from events.envelope import RecordedEvent
from events.store import StoreError, iter_events
from events.tables import events as events_table
from projections.store import ProjectedStore

TapeKind = Literal["boarding", "servicer"]
IMPORT_STAGES = ("parse", "validate", "store")
"""The stages of a tape import, in order; an import's ``step`` callback is called with each one
as it is done (SPEC §5: long imports show progress)."""
Step = Callable[[str], None]


def no_step(stage: str) -> None:
    """The default ``step``: no progress to show."""


class ServicingError(StoreError):
    """An operation refused for a reason that is not a row of a file (no deal, unknown event...)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a tape import did. ``duplicate``: the file was imported before, nothing was written and
    ``events`` are the originals."""

    kind: TapeKind
    deal_id: str
    file: str
    sha256: str
    events: list[RecordedEvent]
    duplicate: bool
    period: tuple[date, date] | None = None
    unchecked: tuple[str, ...] = field(default=())
    """Eligibility criteria that could not be evaluated from the tape (boarding), with why."""

    def summary(self) -> str:
        what = "already imported, nothing stored" if self.duplicate else "imported"
        head = f"{self.file}: {self.kind} tape {what}: {len(self.events)} event(s)"
        head += f", deal {self.deal_id}"
        if self.period is not None:
            head += f", collection period {self.period[0]} to {self.period[1]}"
        return head


def read_bytes(source: str | Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def stored_by_keys(store: ProjectedStore, deal_id: str, keys: Sequence[str]) -> list[RecordedEvent]:
    """The stored events of ``keys`` (in the order of the keys; missing ones left out)."""
    found: dict[str, RecordedEvent] = {}
    t = events_table
    with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
        for i in range(0, len(keys), 5000):
            q = sa.select(t).where(
                t.c.deal_id == deal_id, t.c.idempotency_key.in_(keys[i : i + 5000])
            )
            for ev in iter_events(conn, q):
                found[ev.idempotency_key] = ev
    return [found[k] for k in keys if k in found]
