"""Reading the live projection rows of a deal (the ``projection_rows`` table)."""

from __future__ import annotations

import sqlalchemy as sa

from events.tables import projection_rows
from projections.base import State, Versioned


def live_rows(engine: sa.Engine, deal_id: str, name: str) -> State:
    """The live rows of projection ``name`` for ``deal_id``, each with the sequence of the event
    that last changed it."""
    t = projection_rows
    with engine.connect().execution_options(sqlite_readonly=True) as conn:
        q = sa.select(t.c.key, t.c.value, t.c.last_seq).where(
            t.c.deal_id == deal_id, t.c.projection == name
        )
        return {k: Versioned(v, int(s)) for k, v, s in conn.execute(q)}
