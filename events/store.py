"""The append-only event store: one interface over SQLite and PostgreSQL (SPEC §2, §7).

An append runs in one transaction: lock the deal's chain head (``SELECT ... FOR UPDATE`` on
PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` already holds the database's write lock), settle
idempotency, check expected stream versions, chain the hashes, write the rows (PostgreSQL through
``COPY``) and hand each event to the :class:`Projector` composed around the store, if any, which
brings its live read models up to date in the same transaction. A batch is stored whole or not at
all.

The store knows nothing of projections beyond that interface: :mod:`projections.store` composes
the default read models around it.

One hook: once the head is locked and the batch is known to be new, the store's
:class:`~events.guard.AppendGuard` (default :class:`~events.guard.LedgerGuard`: the role policy
and the sealed periods) sees the batch inside the transaction and may refuse it. Every writer
appends through here, so every writer is held to those rules.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Protocol, TypedDict, Unpack

import psycopg
import sqlalchemy as sa
import structlog
from psycopg.adapt import Dumper
from psycopg.pq import Format

from events.envelope import NewEvent, RecordedEvent, event_id_for
from events.guard import AppendGuard, LedgerGuard
from events.hashing import (
    GENESIS,
    canonical_bytes,
    chain_hash,
    check_no_floats,
    header_values,
    timestamp_text,
)
from events.tables import chain_heads, events

log = structlog.get_logger(__name__)

NO_STREAM = 0
"""Expected version of a stream that must not exist yet."""

_CHUNK = 5000
_COLUMNS = [c.name for c in events.columns]
# COPY writes a recorded event's fields as they are: they must follow the table's column order
if RecordedEvent._fields[: len(_COLUMNS)] != tuple(_COLUMNS):
    raise RuntimeError("RecordedEvent fields and the events table columns are out of step")
COPY_SQL = f"COPY events ({', '.join(_COLUMNS)}) FROM STDIN (FORMAT BINARY)"
COPY_TYPES = [
    "bigint", "text", "text", "bigint", "text", "integer", "text", "integer", "date",
    "timestamptz", "text", "text", "text", "text", "text", "jsonb", "text", "text",
]  # fmt: skip
"""Binary COPY (cheaper for the server to read than text) needs each column's type."""


class CanonicalJson(bytes):
    """Canonical JSON bytes bound for a jsonb column, written without serialising them again."""


class _CanonicalJsonDumper(Dumper):
    """Binary jsonb is a version byte (1) followed by the JSON text. Registered for the jsonb
    oid on the COPY's cursor, so ``set_types`` picks it for the data column."""

    format = Format.BINARY
    oid = 3802  # jsonb

    def dump(self, obj: CanonicalJson) -> bytes:
        return b"\x01" + obj


def copy_cursor(connection: psycopg.Connection[Any]) -> psycopg.Cursor[Any]:
    """A cursor ready for :data:`COPY_SQL`: canonical payloads go out as binary jsonb as is."""
    cursor = connection.cursor()
    cursor.adapters.register_dumper(CanonicalJson, _CanonicalJsonDumper)
    return cursor


@contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector paused for a bulk step. A batch of 100,000 events creates
    millions of acyclic objects (freed by reference counting anyway); each creation past the
    threshold ran a collection over everything alive, which cost more than the append itself."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class LiveFold(Protocol):
    """The live fold of one append, inside its transaction: each event as it is written, then
    :meth:`finish` before the chain head moves."""

    def add(self, event: RecordedEvent) -> None: ...

    def finish(self) -> None: ...


class Projector(Protocol):
    """What the store asks of the read models composed around it (:mod:`projections.store`)."""

    def live_batch(self, conn: sa.Connection, deal_id: str, first_seq: int) -> LiveFold | None:
        """A fold for a batch that will be appended from ``first_seq``, or None when there is
        nothing to keep live."""
        ...


class StoreError(Exception):
    """Base of the store's errors."""


class ConcurrencyError(StoreError):
    """Another writer appended to a stream since the version the caller expected."""


class IdempotencyConflict(StoreError):
    """An idempotency key was reused with a different event."""


class InvalidEvent(StoreError):
    """An event that does not validate against its registered type."""


@dataclass(frozen=True, slots=True)
class AppendResult:
    events: list[RecordedEvent]
    duplicate: bool
    """True when the whole batch was already stored (an idempotent retry): nothing was written."""


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def _row_to_event(row: Any) -> RecordedEvent:
    """A row of ``select(events)``: its columns come in table order, which is the order of
    :class:`RecordedEvent`'s fields (checked at import). SQLite gives back naive timestamps."""
    values = tuple(row)
    return RecordedEvent._make((*values[:9], _utc(values[9]), *values[10:], []))


def _chunks(items: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(items), _CHUNK):
        yield items[i : i + _CHUNK]


class EventBounds(TypedDict, total=False):
    """Filters of a deal's event read: chain range, stream, effective dates, types, known-at."""

    stream_id: str | None
    after_seq: int
    until_seq: int | None
    effective_from: date | None
    effective_to: date | None
    types: Iterable[str] | None
    recorded_until: datetime | None


def events_query(
    deal_id: str,
    *,
    stream_id: str | None = None,
    after_seq: int = 0,
    until_seq: int | None = None,
    effective_from: date | None = None,
    effective_to: date | None = None,
    types: Iterable[str] | None = None,
    recorded_until: datetime | None = None,
) -> sa.Select[Any]:
    """The query for a deal's events in chain order, filtered by the given bounds."""
    q = sa.select(events).where(events.c.deal_id == deal_id, events.c.deal_seq > after_seq)
    if until_seq is not None:
        q = q.where(events.c.deal_seq <= until_seq)
    if stream_id is not None:
        q = q.where(events.c.stream_id == stream_id)
    if effective_from is not None:
        q = q.where(events.c.effective_date >= effective_from)
    if effective_to is not None:
        q = q.where(events.c.effective_date <= effective_to)
    if types is not None:
        q = q.where(events.c.type.in_(list(types)))
    if recorded_until is not None:
        q = q.where(events.c.recorded_at <= _utc(recorded_until))
    return q.order_by(events.c.deal_seq)


def iter_events(
    conn: sa.Connection, q: sa.Select[Any], batch: int = 2000
) -> Iterator[RecordedEvent]:
    """Stream the rows of ``q`` as events without materialising them all (server-side cursor on
    PostgreSQL, ``batch`` rows at a time)."""
    result = conn.execute(q.execution_options(stream_results=True, yield_per=batch))
    for row in result:
        yield _row_to_event(row)


def _copy_out(conn: sa.Connection, q: sa.Select[Any]) -> Iterator[RecordedEvent]:
    """The rows of ``q`` as events, streamed with a binary ``COPY ... TO STDOUT`` and payloads
    parsed by orjson (PostgreSQL): about twice as fast as the server-side cursor, which matters
    to every whole-history reader (``verify``'s chain check, the reference rebuild, reports)."""
    import orjson
    from psycopg.types.json import set_json_loads

    compiled = q.compile(dialect=conn.dialect, compile_kwargs={"render_postcompile": True})
    raw: Any = conn.connection.driver_connection
    make = RecordedEvent._make
    with raw.cursor() as cursor:
        set_json_loads(orjson.loads, cursor)
        with cursor.copy(f"COPY ({compiled}) TO STDOUT (FORMAT BINARY)", compiled.params) as copy:
            copy.set_types(COPY_TYPES)
            for row in copy.rows():
                yield make((*row[:9], row[9].astimezone(UTC), *row[10:], []))


class EventStore:
    """Append and read events; the same code on both backends, ``COPY`` for bulk on PostgreSQL."""

    def __init__(
        self,
        engine: sa.Engine,
        projector: Projector | None = None,
        guard: AppendGuard | None = None,
    ) -> None:
        self.engine = engine
        self.dialect = engine.dialect.name
        self.projector = projector
        self.guard: AppendGuard = guard if guard is not None else LedgerGuard()

    # ------------------------------------------------------------------ writing

    def append(
        self,
        new: Sequence[NewEvent],
        expected: Mapping[str, int] | None = None,
        *,
        project: bool = True,
    ) -> AppendResult:
        """Append a batch for one deal atomically.

        ``expected`` maps stream ids to the version the caller last saw (``NO_STREAM`` for a new
        stream); streams not named are appended at whatever version they are. With ``project``
        false the live projections are left to :meth:`ProjectionRunner.catch_up` (bulk loads).
        """
        return self.append_batches([(new, expected or {})], project=project)[0]

    def append_batches(
        self,
        batches: Sequence[tuple[Sequence[NewEvent], Mapping[str, int]]],
        *,
        project: bool = True,
        before_commit: Callable[[list[AppendResult]], None] | None = None,
    ) -> list[AppendResult]:
        """Append several per-deal batches in one transaction: all are stored or none.

        ``before_commit`` sees the results inside the transaction; raising there stores nothing.
        """
        for new, _ in batches:
            if new and any(e.deal_id != new[0].deal_id for e in new):
                raise StoreError("a batch belongs to one deal")
            self._check_payloads(new)
        results: list[AppendResult] = []
        try:
            with gc_paused(), self.engine.begin() as conn:
                for new, expected in batches:
                    results.append(self._append_in(conn, new, expected, project))
                if before_commit is not None:
                    before_commit(results)
        except (sa.exc.IntegrityError, psycopg.IntegrityError) as exc:
            raise self._explain_integrity([e for b, _ in batches for e in b], exc) from exc
        return results

    def _append_in(
        self,
        conn: sa.Connection,
        new: Sequence[NewEvent],
        expected: Mapping[str, int],
        project: bool,
    ) -> AppendResult:
        if not new:
            return AppendResult([], duplicate=False)
        deal_id = new[0].deal_id
        last_seq, last_hash = self.lock_head(conn, deal_id)
        replay = self._replayed(conn, new)
        if replay is not None:
            log.info("append.idempotent_retry", deal_id=deal_id, events=len(replay))
            return AppendResult(replay, duplicate=True)
        self.guard.check(conn, deal_id, new, last_seq, last_hash)
        versions = self._stream_versions(conn, deal_id, {e.stream_id for e in new} | set(expected))
        self._check_expected(versions, expected)
        live = None
        if project and self.projector is not None:
            live = self.projector.live_batch(conn, deal_id, last_seq + 1)
        first_position = self._reserve_positions(conn, len(new))
        chained = self._chain(new, last_seq, last_hash, versions, first_position)
        recorded = self._write(conn, chained, live)
        conn.execute(
            chain_heads.update()
            .where(chain_heads.c.deal_id == deal_id)
            .values(last_seq=recorded[-1].deal_seq, last_hash=recorded[-1].hash)
        )
        if live is not None:
            live.finish()
        log.debug("append.done", deal_id=deal_id, events=len(recorded))
        return AppendResult(recorded, duplicate=False)

    def _check_payloads(self, new: Sequence[NewEvent]) -> None:
        for i, e in enumerate(new):
            if not e.checked:
                try:
                    check_no_floats(e.data)
                    e.validate()
                except Exception as exc:
                    raise InvalidEvent(
                        f"event {i + 1} ({e.type}, key {e.idempotency_key!r}): {exc}"
                    ) from exc

    def lock_head(self, conn: sa.Connection, deal_id: str) -> tuple[int, str]:
        """The deal's chain head (last sequence, last hash), locked until ``conn`` commits: no
        append to the deal interleaves (``FOR UPDATE`` on PostgreSQL; SQLite's ``BEGIN
        IMMEDIATE`` already holds the database's write lock). Creates the head of a new deal."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            conn.execute(
                pg_insert(chain_heads)
                .values(deal_id=deal_id, last_seq=0, last_hash=GENESIS)
                .on_conflict_do_nothing()
            )
            locked = conn.execute(
                sa.select(chain_heads.c.last_seq, chain_heads.c.last_hash)
                .where(chain_heads.c.deal_id == deal_id)
                .with_for_update()
            ).one()
            return int(locked.last_seq), str(locked.last_hash)
        row = conn.execute(
            sa.select(chain_heads.c.last_seq, chain_heads.c.last_hash).where(
                chain_heads.c.deal_id == deal_id
            )
        ).one_or_none()
        if row is None:
            conn.execute(
                chain_heads.insert().values(deal_id=deal_id, last_seq=0, last_hash=GENESIS)
            )
            return 0, GENESIS
        return int(row.last_seq), str(row.last_hash)

    def _replayed(self, conn: sa.Connection, new: Sequence[NewEvent]) -> list[RecordedEvent] | None:
        """The stored batch when ``new`` is a retry of it; None when the batch is new.

        The first event's key decides (batches are atomic, so a retry finds all of its keys or
        none); a key of a later event that is already used surfaces as a unique-key violation.
        """
        first = new[0]
        found = conn.execute(
            sa.select(events.c.position).where(
                events.c.deal_id == first.deal_id,
                events.c.idempotency_key == first.idempotency_key,
            )
        ).one_or_none()
        if found is None:
            return None
        stored = self._by_keys(conn, first.deal_id, [e.idempotency_key for e in new])
        for e in new:
            original = stored.get(e.idempotency_key)
            if original is None or not original.same_content(e):
                raise IdempotencyConflict(
                    f"idempotency key {e.idempotency_key!r} of deal {e.deal_id!r} was already "
                    f"used for a different event"
                    + ("" if original is None else f" ({original.type} {original.event_id})")
                )
        return [stored[e.idempotency_key] for e in new]

    def _by_keys(
        self, conn: sa.Connection, deal_id: str, keys: Sequence[str]
    ) -> dict[str, RecordedEvent]:
        out: dict[str, RecordedEvent] = {}
        for chunk in _chunks(keys):
            for row in conn.execute(
                sa.select(events).where(
                    events.c.deal_id == deal_id, events.c.idempotency_key.in_(chunk)
                )
            ):
                ev = _row_to_event(row)
                out[ev.idempotency_key] = ev
        return out

    def _stream_versions(
        self, conn: sa.Connection, deal_id: str, stream_ids: Iterable[str]
    ) -> dict[str, int]:
        streams = sorted(stream_ids)
        versions = dict.fromkeys(streams, 0)
        if self.dialect == "postgresql":
            # one array parameter on the driver's cursor (for a 100,000-loan tape, SQLAlchemy's
            # per-element processing of chunked array parameters cost 0.33 s of 0.53 s), and one
            # backward index probe per stream: "stream_id = ANY(...) GROUP BY" is planned as a
            # scan of the whole table once the array is large, which grows with every month
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cursor:
                cursor.execute(
                    "SELECT s, (SELECT max(stream_version) FROM events "
                    "WHERE deal_id = %s AND stream_id = s) FROM unnest(%s::text[]) AS s",
                    [deal_id, streams],
                )
                versions.update((s, v) for s, v in cursor if v is not None)
            return versions
        for chunk in _chunks(streams):
            q = (
                sa.select(events.c.stream_id, sa.func.max(events.c.stream_version))
                .where(events.c.deal_id == deal_id, events.c.stream_id.in_(chunk))
                .group_by(events.c.stream_id)
            )
            for stream_id, version in conn.execute(q):
                versions[stream_id] = int(version)
        return versions

    @staticmethod
    def _check_expected(versions: Mapping[str, int], expected: Mapping[str, int]) -> None:
        for stream_id, want in expected.items():
            have = versions.get(stream_id, 0)
            if have != want:
                raise ConcurrencyError(
                    f"stream {stream_id!r} is at version {have}, expected {want}: another writer "
                    f"appended first; reload and retry"
                )

    def _chain(
        self,
        new: Sequence[NewEvent],
        last_seq: int,
        last_hash: str,
        versions: dict[str, int],
        first_position: int,
    ) -> Iterator[tuple[RecordedEvent, bytes]]:
        """Chain the batch lazily: each event with its canonical payload, hashed on the way to the
        database so that hashing overlaps the server's work."""
        now = datetime.now(UTC)
        now_text = timestamp_text(now)
        seq, prev = last_seq, last_hash
        for position, e in enumerate(new, start=first_position):
            seq += 1
            version = versions[e.stream_id] = versions[e.stream_id] + 1
            if e.recorded_at is None:
                recorded_at, recorded_text = now, now_text
            else:
                recorded_at = _utc(e.recorded_at)
                recorded_text = timestamp_text(recorded_at)
            event_id = event_id_for(e.deal_id, e.idempotency_key)
            data_json = canonical_bytes(e.data)
            this = chain_hash(
                header_values(
                    event_id, e.deal_id, seq, e.stream_id, version, e.type, e.schema_version,
                    e.effective_date, recorded_text, e.actor, e.role, e.idempotency_key,
                    e.correlation_id, e.causation_id, prev,
                ),
                data_json,
            )  # fmt: skip
            recorded = RecordedEvent(
                position, event_id, e.deal_id, seq, e.stream_id, version, e.type,
                e.schema_version, e.effective_date, recorded_at, e.actor, e.role,
                e.idempotency_key, e.correlation_id, e.causation_id, e.data, prev, this,
                [e.model] if e.model is not None else [],
            )  # fmt: skip
            prev = this
            yield recorded, data_json

    def _reserve_positions(self, conn: sa.Connection, n: int) -> int:
        """The first of ``n`` consecutive global positions taken for this batch."""
        if self.dialect == "postgresql":
            first = conn.exec_driver_sql(f"SELECT reserve_event_positions({int(n)})").scalar_one()
            return int(first)
        # SQLite: the write lock is held since BEGIN IMMEDIATE, nobody else can take positions
        return int(conn.execute(sa.select(sa.func.max(events.c.position))).scalar() or 0) + 1

    def _write(
        self,
        conn: sa.Connection,
        chained: Iterator[tuple[RecordedEvent, bytes]],
        live: LiveFold | None,
    ) -> list[RecordedEvent]:
        """Write the chained events (one ``COPY`` on PostgreSQL, where hashing the next event
        overlaps the server's work on the last) and fold them into the live batch."""
        recorded: list[RecordedEvent] = []
        if self.dialect == "postgresql":
            cursor = copy_cursor(conn.connection.driver_connection)  # type: ignore[arg-type]
            with cursor.copy(COPY_SQL) as copy:
                copy.set_types(COPY_TYPES)
                for r, data_json in chained:
                    copy.write_row((*r[:15], CanonicalJson(data_json), r.prev_hash, r.hash))
                    recorded.append(r)
                    if live is not None:
                        live.add(r)
            return recorded
        for r, _ in chained:
            recorded.append(r)
            if live is not None:
                live.add(r)
        conn.execute(events.insert(), [{c: getattr(r, c) for c in _COLUMNS} for r in recorded])
        return recorded

    def _explain_integrity(self, new: Sequence[NewEvent], exc: Exception) -> Exception:
        text = str(getattr(exc, "orig", exc))
        # event ids are derived from (deal, idempotency key): a clash on either is a reused key
        if "idempotency" in text or "event_id" in text:
            with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
                used = self._by_keys(conn, new[0].deal_id, [e.idempotency_key for e in new])
            keys = ", ".join(repr(k) for k in list(used)[:5])
            return IdempotencyConflict(
                f"idempotency key(s) {keys} of deal {new[0].deal_id!r} already used by other events"
            )
        if "stream" in text:
            return ConcurrencyError(f"concurrent append to the same stream: {text}")
        return StoreError(f"append refused by the database: {text}")

    # ------------------------------------------------------------------ reading

    def read(
        self, deal_id: str, *, batch: int = 2000, **bounds: Unpack[EventBounds]
    ) -> Iterator[RecordedEvent]:
        """A deal's events in chain order within ``bounds`` (see :func:`events_query`), streamed
        (server-side cursor on PostgreSQL)."""
        q = events_query(deal_id, **bounds)
        with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
            if self.dialect == "postgresql":
                yield from _copy_out(conn, q)
            else:
                yield from iter_events(conn, q, batch)

    def read_positions(
        self, start: int = 1, stop: int | None = None, batch: int = 2000
    ) -> Iterator[RecordedEvent]:
        """Every deal's events with ``start <= position < stop``, in global position order."""
        q = sa.select(events).where(events.c.position >= start)
        if stop is not None:
            q = q.where(events.c.position < stop)
        with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
            yield from iter_events(conn, q.order_by(events.c.position), batch)

    def get(self, deal_id: str, event_id: str) -> RecordedEvent | None:
        with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
            row = conn.execute(
                sa.select(events).where(events.c.deal_id == deal_id, events.c.event_id == event_id)
            ).one_or_none()
        return None if row is None else _row_to_event(row)

    def stream_version(self, deal_id: str, stream_id: str) -> int:
        with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
            v = conn.execute(
                sa.select(sa.func.max(events.c.stream_version)).where(
                    events.c.deal_id == deal_id, events.c.stream_id == stream_id
                )
            ).scalar()
        return int(v or 0)

    def deals(self) -> list[str]:
        with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
            return [
                r[0] for r in conn.execute(sa.select(chain_heads.c.deal_id).order_by("deal_id"))
            ]

    def head(self, deal_id: str) -> tuple[int, str]:
        """The deal's last sequence number and hash as recorded in the chain head."""
        with self.engine.connect().execution_options(sqlite_readonly=True) as conn:
            row = conn.execute(
                sa.select(chain_heads.c.last_seq, chain_heads.c.last_hash).where(
                    chain_heads.c.deal_id == deal_id
                )
            ).one_or_none()
        return (0, GENESIS) if row is None else (int(row.last_seq), str(row.last_hash))
