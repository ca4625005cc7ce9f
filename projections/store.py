"""The event store with the live read models composed around it.

:class:`events.store.EventStore` appends and reads events and knows nothing of projections but
its :class:`~events.store.Projector` interface; :class:`ProjectedStore` passes it a
:class:`~projections.runner.ProjectionRunner` (the default projections unless told otherwise), so
every append keeps the read models live, and adds what needs both: rebuilding the live rows.
This is the store the ledger's capabilities, the CLI and the API work with.
"""

from __future__ import annotations

import sqlalchemy as sa

from events.store import EventStore, gc_paused
from projections.runner import ProjectionRunner


class ProjectedStore(EventStore):
    """An :class:`EventStore` whose appends keep ``runner``'s projections live."""

    def __init__(self, engine: sa.Engine, runner: ProjectionRunner | None = None) -> None:
        self.runner = runner if runner is not None else ProjectionRunner.default()
        super().__init__(engine, self.runner)

    def rebuild_live(self, deal_id: str) -> int:
        """Replace the deal's live projection rows and checkpoints with a rebuild from zero: after
        a projection's definition changed, or to repair rows ``verify`` found altered. The chain
        head stays locked meanwhile, so no append interleaves. Returns the rows written."""
        with gc_paused(), self.engine.begin() as conn:
            head, _ = self.lock_head(conn, deal_id)
            states = self.runner.rebuild(self, deal_id, until_seq=head)
            return self.runner.write_live(conn, deal_id, states, head)
