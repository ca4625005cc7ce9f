"""The fast rebuild: every default projection folded from zero in one pass over the stored
payloads, into native mutable state, encoded to rows once at the end (SPEC §8: replay ≥ 150,000
events/s).

The reference fold (:meth:`projections.base.Projection.fold`: ``changes`` then ``apply`` per event,
rows as JSON-able mappings of decimal strings) stays the definition; this module computes the same
rows faster, and ``tests/test_fast_rebuild.py`` pins that it does, row for row and ``last_seq`` for
``last_seq``, on both backends. What makes it fast:

* only the columns a fold reads (sequence, type, schema version, effective date, payload) are
  fetched, the effective date as ISO text, payloads parsed by orjson, no ``RecordedEvent`` nor
  pydantic model per event;
* the hot types (``CollectionReceived``, ``LoanDelinquencyReported``: nine events in ten of a
  servicing history) are folded by hand-written code over native state: a loan is a dict of the
  loan row's fields with the money ones as ``Decimal`` (no decimal string parsed and printed per
  event), the pool's per-loan working rows (``L:<loan>``) *are* the loan rows (the same fold of the
  same changes, so they are computed once), periods, remittance days and balances are dicts of
  ``Decimal``; each operation is the reference's, in the same order (zero normalised to ``0.00``
  where the reference does), so the strings printed at the end are the reference's;
* every other event (boarding, defaults, recoveries, write-offs, repurchases, reversals, the
  payment-date cycle, a payload not in dumped form) goes through the reference functions
  themselves on that loan's encoded row (:func:`projections.loans.apply_loan_change`,
  ``projections.pool._delta``, :func:`projections.remittance.remittance_change`,
  :class:`projections.notes.NotesProjection`), so rare types need no second implementation;
* postings come from the payload (:mod:`projections.legs`), the model only for other types;
* the garbage collector is paused during the fold: it creates no reference cycles, and the full
  collections it would otherwise run over an ever larger state are what made a long replay slower
  per event as it went.

* on PostgreSQL a large history is folded in parallel parts by loan (:func:`parallel_rebuild`, one
  process per part, :func:`default_parts`): a loan's state depends only on its own events, so
  part ``k`` reads the streams of the loans :func:`owner` gives it, plus every row of the other
  streams (the deal's, the cycle's), whose postings, remittance and notes part 0 alone folds. The
  parts' loans are disjoint and every other figure is a sum of exact decimals, printed with the
  exponent Decimal addition gives whatever the order (``projections.pool._sum``), so part 0 adds
  the others' into its own and the rows are the reference's (pinned by tests on random histories
  and on both backends). A loan event outside its loan's stream, which only one part would read,
  makes the parts refuse (:class:`Unpartitionable`) and the history is folded in one.

It serves a runner whose projections are all of the default kinds; any other runner folds by the
reference (:meth:`ProjectionRunner.rebuild` decides).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from events.model import Payload
from events.tables import events
from projections.base import Projection, State

if TYPE_CHECKING:
    from events.store import EventStore
from projections.fast_fold import Fold
from projections.fast_rows import (
    LOAN_STREAM,
    EventRow,
    Unpartitionable,
    stream_owner,
)


def read_rows(
    store: EventStore,
    deal_id: str,
    bounds: dict[str, Any],
    part: tuple[int, int] | None = None,
    other: Callable[[int, str, int, str, Payload], None] | None = None,
) -> Iterator[EventRow]:
    """The deal's events within ``bounds`` (:func:`events.store.events_query`), only the columns
    a fold reads (:data:`EventRow`). PostgreSQL: a server-side cursor, the date formatted by the
    server, payloads parsed by orjson. ``part=(k, n)`` with ``other`` (PostgreSQL): the rows of
    the loan streams :func:`owner` gives ``k``; every row of another stream is handed to
    ``other`` instead (:meth:`Fold.other_stream`), in its place in the order."""
    from events.store import events_query

    q = events_query(deal_id, **{k: v for k, v in bounds.items() if k != "batch"})
    if store.dialect != "postgresql":
        q = q.with_only_columns(
            events.c.deal_seq,
            events.c.type,
            events.c.schema_version,
            events.c.effective_date,
            events.c.data,
        )
        with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
            result = conn.execute(q.execution_options(stream_results=True, yield_per=5000))
            for row in result:
                yield row[0], row[1], row[2], row[3].isoformat(), row[4]
        return
    import orjson

    columns: list[Any] = [
        events.c.deal_seq,
        events.c.type,
        events.c.schema_version,
        sa.cast(events.c.effective_date, sa.Text),
        sa.cast(events.c.data, sa.Text),
    ]
    if part is not None:
        k, n = part
        loan_stream = events.c.stream_id.startswith(LOAN_STREAM, autoescape=True)
        last_char = sa.func.ascii(sa.func.right(events.c.stream_id, 1))
        columns.append(loan_stream)
        q = q.where(sa.or_(~loan_stream, sa.func.mod(last_char, n) == k))
    q = q.with_only_columns(*columns)
    sql = str(q.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    batches: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=4)

    stop = threading.Event()

    def fetch() -> None:
        # a thread of its own: it waits for the server (without the GIL) while the caller folds
        try:
            with store.engine.connect() as conn:
                raw: Any = conn.connection.driver_connection
                with raw.cursor() as plain:  # dates as ISO text whatever the server's DateStyle
                    plain.execute("SET LOCAL datestyle = 'ISO, YMD'")
                with raw.cursor(name="fast_rebuild") as cursor:
                    cursor.itersize = 5000
                    cursor.execute(sql)
                    while not stop.is_set() and (rows := cursor.fetchmany(5000)):
                        batches.put(rows)
            batches.put(None)
        except BaseException as exc:  # handed to the caller, raised there
            batches.put(exc)

    thread = threading.Thread(target=fetch, name="fast-rebuild-reader", daemon=True)
    thread.start()
    loads = orjson.loads
    try:
        while True:
            got = batches.get()
            if got is None:
                break
            if isinstance(got, BaseException):
                raise got
            if part is None:
                for seq, kind, version, day, text in got:
                    yield seq, kind, version, day, loads(text)
            else:
                assert other is not None
                for seq, kind, version, day, text, loan_stream in got:
                    if loan_stream:
                        yield seq, kind, version, day, loads(text)
                    else:
                        other(seq, kind, version, day, loads(text))
    finally:
        # a caller that stops early: the reader stops at its next batch
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)
        thread.join()


def fast_rebuild(
    store: EventStore,
    deal_id: str,
    projections: Sequence[Projection[Any]],
    parts: int | None = None,
    **bounds: Any,
) -> dict[str, State]:
    """Every projection (all of :data:`FAST_KINDS`, see :func:`serves`) folded from zero over the
    deal's events within ``bounds``: the rows :meth:`ProjectionRunner.rebuild_reference` gives.
    ``parts``: fold in that many parallel parts by loan (default :func:`default_parts`; a history
    a part cannot fold alone is folded in one)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        n = parts if parts is not None else default_parts(store, deal_id)
        if n > 1:
            with contextlib.suppress(Unpartitionable):
                return parallel_rebuild(store, deal_id, projections, bounds, n)
        fold = Fold(deal_id, projections)
        fold.run(read_rows(store, deal_id, bounds))
        return fold.states()
    finally:
        if enabled:
            gc.enable()


PARALLEL_FROM = 500_000
"""Events from which a PostgreSQL rebuild folds in parallel parts (a part's process takes about a
second to start)."""


def default_parts(store: EventStore, deal_id: str) -> int:
    """Parts for a rebuild of ``deal_id``: ``TRUST_LEDGER_REBUILD_PARTS`` if set, else one per
    CPU (at most 2) on PostgreSQL for a deal of at least :data:`PARALLEL_FROM` events, else 1."""
    env = os.environ.get("TRUST_LEDGER_REBUILD_PARTS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"TRUST_LEDGER_REBUILD_PARTS={env!r}: a whole number, 1 or more")
        return int(env)
    if store.dialect != "postgresql" or store.head(deal_id)[0] < PARALLEL_FROM:
        return 1
    return min(2, os.cpu_count() or 1)


def parallel_rebuild(
    store: EventStore,
    deal_id: str,
    projections: Sequence[Projection[Any]],
    bounds: dict[str, Any],
    n: int,
) -> dict[str, State]:
    """The rebuild in ``n`` parts by loan (:func:`owner`): parts 1..n-1 in processes of their
    own, part 0 here, merged (:meth:`Fold.merge`). Every part reads the rows of streams other
    than loans'. Raises :class:`Unpartitionable` if a part finds an event it cannot fold alone."""
    if store.dialect != "postgresql":
        raise Unpartitionable("parts are read from PostgreSQL")
    # a fresh interpreter per part (not a fork: the caller may run threads and hold connections;
    # not multiprocessing's spawn: it re-runs the caller's main script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    args = (store.engine.url.render_as_string(hide_password=False), deal_id, list(projections))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for k in range(1, n):
            proc = subprocess.Popen(
                [sys.executable, "-m", "projections.fast_part"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            workers.append(proc)
            assert proc.stdin is not None
            with proc.stdin:
                pickle.dump((*args, bounds, (k, n)), proc.stdin)
        fold = Fold(deal_id, projections, part=(0, n))
        fold.run(read_rows(store, deal_id, bounds, (0, n), fold.other_stream))
        for proc in workers:
            assert proc.stdout is not None
            try:
                status, value = pickle.load(proc.stdout)
            except EOFError:
                raise RuntimeError(
                    f"a rebuild part ended with no result (exit {proc.wait()})"
                ) from None
            if status == "unpartitionable":
                raise Unpartitionable(value)
            if status != "ok":
                raise RuntimeError(f"rebuild part failed:\n{value}")
            fold.merge(value)
        return fold.states()
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def part_main() -> None:
    """A part of :func:`parallel_rebuild` (``python -m projections.fast_part``): its arguments
    pickled on
    standard input, ``(status, partial or reason)`` pickled on standard output."""
    from events import db
    from events.store import EventStore

    url, deal_id, projections, bounds, part = pickle.load(sys.stdin.buffer)
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")  # the result's channel; anything else printed goes to stderr
    os.dup2(2, 1)
    gc.disable()
    engine = db.make_engine(url)
    try:
        fold = Fold(deal_id, projections, part=part)
        fold.run(read_rows(EventStore(engine), deal_id, bounds, part, fold.other_stream))
        result: tuple[str, Any] = ("ok", fold.partial())
    except Unpartitionable as exc:
        result = ("unpartitionable", str(exc))
    except Exception:
        result = ("error", traceback.format_exc())
    finally:
        engine.dispose()
    with out:
        pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)


def fold_rows(
    deal_id: str, projections: Sequence[Projection[Any]], rows: Iterable[EventRow]
) -> dict[str, State]:
    """The fast fold of given event rows (what :func:`fast_rebuild` does after reading)."""
    fold = Fold(deal_id, projections)
    fold.run(rows)
    return fold.states()


def fold_parts(
    deal_id: str,
    projections: Sequence[Projection[Any]],
    rows: Sequence[tuple[int, str, int, str, Payload, str]],
    n: int,
) -> dict[str, State]:
    """What :func:`parallel_rebuild` computes, in this process, from rows with their stream id: part
    ``k`` folds the rows :func:`read_rows` gives it, then part 0 merges the others'. Raises
    :class:`Unpartitionable` as :func:`parallel_rebuild` does."""

    def part_rows(fold: Fold, k: int) -> Iterator[EventRow]:
        for seq, kind, version, day, data, stream in rows:
            if not stream.startswith(LOAN_STREAM):
                fold.other_stream(seq, kind, version, day, data)
            elif stream_owner(stream, n) == k:
                yield seq, kind, version, day, data

    folds = [Fold(deal_id, projections, part=(k, n)) for k in range(n)]
    for k, fold in enumerate(folds):
        fold.run(part_rows(fold, k))
    for fold in folds[1:]:
        folds[0].merge(fold.partial())
    return folds[0].states()
