"""Keeps live read models in step with the events, and rebuilds them from zero (SPEC §2.5).

Live rows are written in the same transaction as the append that caused them, together with a
per-projection checkpoint (the tracking table), so a reader never sees events without their
effects. A bulk load may defer projection (``append(..., project=False)``); :meth:`catch_up` then
folds what the checkpoint has not yet seen, in bounded transactions.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from events.envelope import RecordedEvent
from events.hashing import canonical_json
from events.tables import projection_checkpoints, projection_rows
from projections.balances import BalancesProjection
from projections.base import Projection, Row, State, Versioned
from projections.rows import live_rows

if TYPE_CHECKING:
    from events.store import EventStore

_CHUNK = 2000


@dataclass(frozen=True, slots=True)
class RowDiff:
    projection: str
    key: str
    live: Versioned | None
    rebuilt: Versioned | None

    @property
    def first_seq(self) -> int:
        """The earliest event behind either side of the difference."""
        seqs = [v.last_seq for v in (self.live, self.rebuilt) if v is not None]
        return min(seqs)

    def describe(self) -> str:
        def show(v: Versioned | None) -> str:
            return (
                "absent" if v is None else f"{canonical_json(dict(v.row))} (event seq {v.last_seq})"
            )

        return (
            f"{self.projection}[{self.key}]: live {show(self.live)} != rebuilt {show(self.rebuilt)}"
        )


def _upsert(conn: sa.Connection) -> Any:
    """The dialect's INSERT with ``ON CONFLICT`` support (same syntax on both backends)."""
    from sqlalchemy.dialects import postgresql, sqlite

    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _set_checkpoint(conn: sa.Connection, deal_id: str, name: str, last_seq: int) -> None:
    stmt = _upsert(conn)(projection_checkpoints).values(
        deal_id=deal_id, projection=name, last_seq=last_seq
    )
    conn.execute(
        stmt.on_conflict_do_update(
            index_elements=["deal_id", "projection"], set_={"last_seq": stmt.excluded.last_seq}
        )
    )


class ProjectionRunner:
    def __init__(self, projections: Sequence[Projection[Any]]) -> None:
        self.projections = list(projections)

    @classmethod
    def default(cls) -> ProjectionRunner:
        from projections.loans import LoanProjection
        from projections.notes import NotesProjection
        from projections.pool import PoolProjection
        from projections.remittance import RemittanceProjection

        return cls(
            [
                BalancesProjection(),
                LoanProjection(),
                PoolProjection(),
                RemittanceProjection(),
                NotesProjection(),
            ]
        )

    # ------------------------------------------------------------------ live

    def live_batch(
        self, conn: sa.Connection, deal_id: str, first_seq: int
    ) -> LiveBatch | FastLiveBatch | None:
        """Start folding a batch that will be appended from ``first_seq``, inside the append's
        transaction (the store's :class:`~events.store.Projector` interface); None for a runner
        without projections. A projection that was deferred first folds its backlog."""
        from events.store import events_query, iter_events

        if not self.projections:
            return None
        for projection in self.projections:
            done = self._checkpoint(conn, deal_id, projection.name)
            if done < first_seq - 1:
                backlog = iter_events(
                    conn, events_query(deal_id, after_seq=done, until_seq=first_seq - 1)
                )
                self._fold_into_table(conn, deal_id, projection, backlog)
        from projections.fast_rows import serves

        if serves(self.projections):
            return FastLiveBatch(self, conn, deal_id, first_seq)
        return LiveBatch(self, conn, deal_id)

    def catch_up(self, store: EventStore, deal_id: str, batch: int = 50_000) -> int:
        """Fold events the live projections have not seen; returns how many events were folded."""
        from events.store import events_query, iter_events

        total = 0
        while True:
            with store.engine.begin() as conn:
                done = min(
                    (self._checkpoint(conn, deal_id, p.name) for p in self.projections),
                    default=0,
                )
                chunk = list(
                    iter_events(conn, events_query(deal_id, after_seq=done, until_seq=done + batch))
                )
                if not chunk:
                    return total
                for projection in self.projections:
                    mine = self._checkpoint(conn, deal_id, projection.name)
                    self._fold_into_table(
                        conn, deal_id, projection, (e for e in chunk if e.deal_seq > mine)
                    )
                total += len(chunk)

    def write_live(
        self, conn: sa.Connection, deal_id: str, states: dict[str, State], through_seq: int
    ) -> int:
        """Make ``states`` (a rebuild through ``through_seq``) the live rows: every other row of
        these projections for the deal deleted, checkpoints at ``through_seq``. Returns the rows
        written."""
        written = 0
        for projection in self.projections:
            rows = states[projection.name]
            conn.execute(
                projection_rows.delete().where(
                    projection_rows.c.deal_id == deal_id,
                    projection_rows.c.projection == projection.name,
                )
            )
            self._store_rows(conn, deal_id, projection.name, {}, rows)
            _set_checkpoint(conn, deal_id, projection.name, through_seq)
            written += len(rows)
        return written

    def _checkpoint(self, conn: sa.Connection, deal_id: str, name: str) -> int:
        v = conn.execute(
            sa.select(projection_checkpoints.c.last_seq).where(
                projection_checkpoints.c.deal_id == deal_id,
                projection_checkpoints.c.projection == name,
            )
        ).scalar()
        return int(v or 0)

    def _fold_into_table(
        self,
        conn: sa.Connection,
        deal_id: str,
        projection: Projection[Any],
        events_: Iterable[RecordedEvent],
    ) -> None:
        changes = [(e.deal_seq, list(projection.changes(e))) for e in events_]
        if changes:
            self._write_changes(conn, deal_id, projection, changes, changes[-1][0])

    def _write_changes(
        self,
        conn: sa.Connection,
        deal_id: str,
        projection: Projection[Any],
        changes: list[tuple[int, list[tuple[str, Any]]]],
        through_seq: int,
    ) -> None:
        """Apply computed changes to the live rows they touch and move the checkpoint to
        ``through_seq`` (the last event of the batch, whether it changed anything or not)."""
        touched = list(dict.fromkeys(key for _, cs in changes for key, _ in cs))
        state = self._load(conn, deal_id, projection.name, touched)
        before = dict(state)
        for seq, cs in changes:
            projection.apply_changes(state, seq, cs)
        self._store_rows(conn, deal_id, projection.name, before, state)
        _set_checkpoint(conn, deal_id, projection.name, through_seq)

    def _load(self, conn: sa.Connection, deal_id: str, name: str, keys: list[str] | None) -> State:
        """The stored rows of ``keys`` (None: every row of the projection)."""
        out: State = {}
        t = projection_rows
        if conn.dialect.name == "postgresql":
            return _load_pg(conn, deal_id, name, keys)
        if keys is None:
            q = sa.select(t.c.key, t.c.value, t.c.last_seq).where(
                t.c.deal_id == deal_id, t.c.projection == name
            )
            return {k: Versioned(v, int(s)) for k, v, s in conn.execute(q)}
        for i in range(0, len(keys), _CHUNK):
            q = sa.select(t.c.key, t.c.value, t.c.last_seq).where(
                t.c.deal_id == deal_id, t.c.projection == name, t.c.key.in_(keys[i : i + _CHUNK])
            )
            for key, value, last_seq in conn.execute(q):
                out[key] = Versioned(value, int(last_seq))
        return out

    def _store_rows(
        self, conn: sa.Connection, deal_id: str, name: str, before: State, after: State
    ) -> None:
        t = projection_rows
        gone = [k for k in before if k not in after]
        for i in range(0, len(gone), _CHUNK):
            conn.execute(
                t.delete().where(
                    t.c.deal_id == deal_id,
                    t.c.projection == name,
                    t.c.key.in_(gone[i : i + _CHUNK]),
                )
            )
        changed = [(k, v) for k, v in after.items() if before.get(k) != v]
        if conn.dialect.name == "postgresql" and len(changed) > _CHUNK:
            _copy_upsert(conn, deal_id, name, changed)
            return
        rows = [
            {
                "deal_id": deal_id,
                "projection": name,
                "key": k,
                "value": dict(v.row),
                "last_seq": v.last_seq,
            }
            for k, v in changed
        ]
        if rows:
            # one statement, executed for many parameter sets: compiled once and cached
            stmt = _upsert(conn)(t)
            conn.execute(
                stmt.on_conflict_do_update(
                    index_elements=["deal_id", "projection", "key"],
                    set_={"value": stmt.excluded.value, "last_seq": stmt.excluded.last_seq},
                ),
                rows,
            )

    # ------------------------------------------------------------------ rebuild

    def rebuild(self, store: EventStore, deal_id: str, **bounds: Any) -> dict[str, State]:
        """Every projection folded from zero over the deal's events within ``bounds`` (one
        streamed pass): by :mod:`projections.fast` when every projection is of a default kind
        (the same rows, pinned by a test), else by :meth:`rebuild_reference`."""
        from projections.fast import fast_rebuild
        from projections.fast_rows import serves

        if serves(self.projections):
            return fast_rebuild(store, deal_id, self.projections, **bounds)
        return self.rebuild_reference(store, deal_id, **bounds)

    def rebuild_reference(self, store: EventStore, deal_id: str, **bounds: Any) -> dict[str, State]:
        """The reference rebuild: each projection's own ``fold``, event by event."""
        states: dict[str, State] = {p.name: {} for p in self.projections}
        pairs = [(p.fold, states[p.name]) for p in self.projections]
        for event in store.read(deal_id, **bounds):
            for fold, state in pairs:
                fold(state, event)
        return states

    def live(self, store: EventStore, deal_id: str, name: str) -> State:
        return live_rows(store.engine, deal_id, name)

    def compare(self, store: EventStore, deal_id: str) -> list[RowDiff]:
        """Differences between the live rows and a rebuild from zero, earliest event first."""
        rebuilt = self.rebuild(store, deal_id)
        diffs: list[RowDiff] = []
        for p in self.projections:
            live = self.live(store, deal_id, p.name)
            fresh = rebuilt[p.name]
            for key in sorted(set(live) | set(fresh)):
                a, b = live.get(key), fresh.get(key)
                if (
                    a is None
                    or b is None
                    or normal_json(a.row) != normal_json(b.row)
                    or a.last_seq != b.last_seq
                ):
                    diffs.append(RowDiff(p.name, key, a, b))
        return sorted(diffs, key=lambda d: (d.first_seq, d.projection, d.key))


def _load_pg(conn: sa.Connection, deal_id: str, name: str, keys: list[str] | None) -> State:
    """:meth:`ProjectionRunner._load` on PostgreSQL: one array parameter (an IN list of
    thousands of literals is planned as a scan of the whole table, which grows with every batch),
    the values parsed by orjson on the driver's cursor."""
    import orjson
    from psycopg.types.json import set_json_loads

    raw: Any = conn.connection.driver_connection
    sql = "SELECT key, value, last_seq FROM projection_rows WHERE deal_id = %s AND projection = %s"
    params: list[Any] = [deal_id, name]
    if keys is not None:
        sql += " AND key = ANY(%s)"
        params.append(keys)
    with raw.cursor() as cursor:
        set_json_loads(orjson.loads, cursor)
        cursor.execute(sql, params)
        return {k: Versioned(v, int(s)) for k, v, s in cursor}


def _copy_upsert(
    conn: sa.Connection, deal_id: str, name: str, changed: list[tuple[str, Versioned]]
) -> None:
    """Many live rows at once on PostgreSQL: COPY them into a temporary table, then one upsert
    (an executemany of tens of thousands of upserts costs several times more)."""
    from events.hashing import canonical_bytes
    from events.store import CanonicalJson, copy_cursor

    cursor = copy_cursor(conn.connection.driver_connection)  # type: ignore[arg-type]
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS projection_rows_stage "
        "(LIKE projection_rows INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    with cursor.copy(
        "COPY projection_rows_stage (deal_id, projection, key, value, last_seq) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["text", "text", "text", "jsonb", "bigint"])
        for key, v in changed:
            copy.write_row(
                (deal_id, name, key, CanonicalJson(canonical_bytes(dict(v.row))), v.last_seq)
            )
    cursor.execute(
        "INSERT INTO projection_rows (deal_id, projection, key, value, last_seq) "
        "SELECT deal_id, projection, key, value, last_seq FROM projection_rows_stage "
        "ON CONFLICT (deal_id, projection, key) DO UPDATE "
        "SET value = EXCLUDED.value, last_seq = EXCLUDED.last_seq"
    )
    cursor.execute("DELETE FROM projection_rows_stage")


class LiveBatch:
    """The live fold of one append: changes are computed as each event is written (overlapping
    the database's work on the previous rows) and applied to the tables by :meth:`finish`.
    Changes of additive projections are merged per key as they come."""

    def __init__(self, runner: ProjectionRunner, conn: sa.Connection, deal_id: str) -> None:
        self.runner, self.conn, self.deal_id = runner, conn, deal_id
        self.last_seq = 0
        self.sequential: list[list[tuple[int, list[tuple[str, Any]]]]] = [
            [] for _ in runner.projections
        ]
        self.merged: list[dict[str, tuple[Any, int]]] = [{} for _ in runner.projections]

    def add(self, event: RecordedEvent) -> None:
        seq = self.last_seq = event.deal_seq
        for i, projection in enumerate(self.runner.projections):
            if projection.additive:
                merged = self.merged[i]
                for key, change in projection.changes(event):
                    if key in merged:
                        change = projection.merge(merged[key][0], change)
                    merged[key] = (change, seq)
            else:
                self.sequential[i].append((seq, list(projection.changes(event))))

    def finish(self) -> None:
        if not self.last_seq:
            return
        for i, projection in enumerate(self.runner.projections):
            changes = self.sequential[i] or [
                (seq, [(key, change)]) for key, (change, seq) in self.merged[i].items()
            ]
            self.runner._write_changes(self.conn, self.deal_id, projection, changes, self.last_seq)


class FastLiveBatch:
    """The live fold of one append for a runner of default projections (:mod:`projections.fast`):
    the events are kept as the fold reads them, and :meth:`finish` loads the rows they touch,
    folds them natively and writes back the rows that changed, in the append's transaction. The
    same rows as :class:`LiveBatch` (both equal the reference fold, which ``verify`` checks); a
    pool whose per-loan rows are not the loans' rows falls back to :class:`LiveBatch`."""

    def __init__(
        self, runner: ProjectionRunner, conn: sa.Connection, deal_id: str, first_seq: int
    ) -> None:
        self.runner, self.conn, self.deal_id, self.first_seq = runner, conn, deal_id, first_seq
        self.rows: list[tuple[int, str, int, str, Any]] = []
        self.recorded: list[RecordedEvent] = []

    def add(self, event: RecordedEvent) -> None:
        from projections.fast_rows import row_of

        self.recorded.append(event)
        self.rows.append(row_of(event))

    def finish(self) -> None:
        from projections.fast_fold import Fold
        from projections.loans import loan_changes_of

        if not self.rows:
            return
        conn, deal_id, runner = self.conn, self.deal_id, self.runner
        names = {p.name for p in runner.projections}
        lids = list(
            dict.fromkeys(
                lid for seq, k, v, d, data in self.rows for lid, _ in loan_changes_of(k, v, data)
            )
        )
        periods = list(dict.fromkeys(d[:7] for _, _, _, d, _ in self.rows))
        days = list(dict.fromkeys(d for _, _, _, d, _ in self.rows))
        loaded: dict[str, State] = {}
        postgres = conn.dialect.name == "postgresql"
        # the pool's per-loan rows (``L:<loan>``) are the loans' rows: the same fold of the same
        # events, and live_batch has brought every projection to the same checkpoint; so the
        # loans' rows are loaded once, and the pool's are written as copies of them
        shared = "loans" in names and "pool" in names
        for name in names:
            if name == "loans":
                keys: list[str] | None = lids
            elif name == "pool":
                # the per-loan rows are the loans' (checked above), unless there are no loans
                keys = periods if shared else [f"L:{lid}" for lid in lids] + periods
            elif name == "remittance":
                keys = days
            else:  # balances, notes: a few rows each
                keys = None
            loaded[name] = runner._load(conn, deal_id, name, keys)
        fold = Fold(deal_id, runner.projections)
        fold.load(loaded)
        fold.run(self.rows)
        states = fold.states()
        last = self.rows[-1][0]
        first = self.first_seq
        changed = {
            p.name: {k: v for k, v in states[p.name].items() if v.last_seq >= first}
            for p in runner.projections
        }
        if postgres:
            if shared:
                changed["pool"] = {k: v for k, v in changed["pool"].items() if k[:2] != "L:"}
            _copy_upsert_all(conn, deal_id, changed)
            if shared:
                _copy_loan_rows_to_pool(conn, deal_id, list(changed["loans"]))
        else:
            for name, rows in changed.items():
                runner._store_rows(conn, deal_id, name, {}, rows)
        for projection in runner.projections:
            _set_checkpoint(conn, deal_id, projection.name, last)


def _copy_loan_rows_to_pool(conn: sa.Connection, deal_id: str, lids: list[str]) -> None:
    """The pool's per-loan rows set to the loans' rows just written, inside the server."""
    raw: Any = conn.connection.driver_connection
    with raw.cursor() as cursor:
        cursor.execute(
            "INSERT INTO projection_rows (deal_id, projection, key, value, last_seq) "
            "SELECT deal_id, 'pool', 'L:' || key, value, last_seq FROM projection_rows "
            "WHERE deal_id = %s AND projection = 'loans' AND key = ANY(%s) "
            "ON CONFLICT (deal_id, projection, key) DO UPDATE "
            "SET value = EXCLUDED.value, last_seq = EXCLUDED.last_seq",
            [deal_id, lids],
        )


def _copy_upsert_all(conn: sa.Connection, deal_id: str, changed: dict[str, State]) -> None:
    """Every changed row of a live batch in one ``COPY`` and one upsert (PostgreSQL). The pool's
    per-loan rows are the loans' row objects: serialised once."""
    from events.hashing import canonical_bytes
    from events.store import CanonicalJson, copy_cursor

    cursor = copy_cursor(conn.connection.driver_connection)  # type: ignore[arg-type]
    cursor.execute(
        "CREATE TEMP TABLE IF NOT EXISTS projection_rows_stage "
        "(LIKE projection_rows INCLUDING DEFAULTS) ON COMMIT DELETE ROWS"
    )
    encoded: dict[int, CanonicalJson] = {}
    with cursor.copy(
        "COPY projection_rows_stage (deal_id, projection, key, value, last_seq) "
        "FROM STDIN (FORMAT BINARY)"
    ) as copy:
        copy.set_types(["text", "text", "text", "jsonb", "bigint"])
        for name, rows in changed.items():
            for key, v in rows.items():
                data = encoded.get(id(v.row))
                if data is None:
                    data = encoded[id(v.row)] = CanonicalJson(canonical_bytes(dict(v.row)))
                copy.write_row((deal_id, name, key, data, v.last_seq))
    cursor.execute(
        "INSERT INTO projection_rows (deal_id, projection, key, value, last_seq) "
        "SELECT deal_id, projection, key, value, last_seq FROM projection_rows_stage "
        "ON CONFLICT (deal_id, projection, key) DO UPDATE "
        "SET value = EXCLUDED.value, last_seq = EXCLUDED.last_seq"
    )
    cursor.execute("DELETE FROM projection_rows_stage")


def normal_json(row: Row) -> str:
    return canonical_json(dict(row))
