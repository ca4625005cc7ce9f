"""Append throughput into PostgreSQL: our store vs raw COPY vs the eventsourcing library.

    python -m benchmarks.append [--events 200000] [--batch 10000] [--rounds 3]

* ours: loan-level ``CollectionReceived`` events appended through ``ProjectedStore.append`` in
  batches: idempotency and stream-version checks, the SHA-256 hash chain, COPY, and the live
  projections in the same transaction — by default the double-entry balances (``--projections
  ledger``); ``--projections all`` adds every registered read model (loans, pool, remittance,
  notes), whose cost the ingest benchmark measures on the real tape-import path.
* copy: a raw psycopg ``COPY`` of exactly the rows our store wrote (read back beforehand) into an
  identical empty table (same indexes and triggers): the floor a database can do.
* eventsourcing: the same payloads through eventsourcing 9.x's ``PostgresApplicationRecorder``
  (``insert_events``, one stored event per loan event, same batch size), no hash chain.

Each contender runs ``--rounds`` times on a fresh schema; the median events/s is reported. The last
line is one JSON object. Target (SPEC §8): ours >= 0.70 of copy.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from datetime import date, timedelta
from decimal import Decimal

import psycopg
import sqlalchemy as sa

from benchmarks.pg import fresh_schema, server_url
from events import db
from events.catalogue import CollectionReceived
from events.envelope import NewEvent
from events.hashing import canonical_bytes, canonical_json
from events.store import COPY_SQL, COPY_TYPES, CanonicalJson, copy_cursor
from events.tables import events as events_table
from projections.balances import BalancesProjection
from projections.runner import ProjectionRunner
from projections.store import ProjectedStore

DEAL = "BENCH"


def make_events(n: int) -> list[NewEvent]:
    out = []
    start = date(2024, 1, 1)
    for i in range(n):
        ev = CollectionReceived(
            loan_id=f"L{i % 100_000:07d}",
            value_date=start + timedelta(days=i % 28),
            principal=Decimal(1000 + i % 997) / 10 * Decimal("1.00"),
            interest=Decimal(i % 389) / 100,
            prepayment=i % 50 == 0,
        )
        out.append(
            NewEvent.of(
                ev,
                deal_id=DEAL,
                stream_id=ev.default_stream(),
                effective_date=ev.value_date,
                idempotency_key=f"bench-{i}",
                actor="servicer",
                role="servicer",
            )
        )
    return out


def run_ours(url: str, new: list[NewEvent], batch: int, projections: str = "ledger") -> float:
    engine = db.make_engine(url)
    runner = (
        ProjectionRunner.default()
        if projections == "all"
        else ProjectionRunner([BalancesProjection()])
    )
    store = ProjectedStore(engine, runner)
    t0 = time.perf_counter()
    for i in range(0, len(new), batch):
        store.append(new[i : i + batch])
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def read_rows(url: str) -> list[tuple[object, ...]]:
    engine = db.make_engine(url)
    cols = [c.name for c in events_table.columns]
    with engine.connect() as conn:
        rows = [
            tuple(
                CanonicalJson(canonical_bytes(v)) if c == "data" else v
                for c, v in zip(cols, r, strict=True)
            )
            for r in conn.execute(sa.select(events_table).order_by(events_table.c.position))
        ]
    engine.dispose()
    return rows


def run_copy(url: str, rows: list[tuple[object, ...]], batch: int) -> float:
    """Raw binary COPY (psycopg's fastest path) of the prepared rows, ``batch`` per transaction."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        t0 = time.perf_counter()
        for i in range(0, len(rows), batch):
            with conn.transaction(), copy_cursor(conn) as cur, cur.copy(COPY_SQL) as copy:
                copy.set_types(COPY_TYPES)
                for row in rows[i : i + batch]:
                    copy.write_row(row)
        return time.perf_counter() - t0


def run_eventsourcing(url: str, new: list[NewEvent], batch: int) -> float:
    from eventsourcing.persistence import StoredEvent
    from eventsourcing.postgres import PostgresApplicationRecorder, PostgresDatastore

    parsed = sa.make_url(url)
    schema = parsed.query["options"].split("=", 1)[1]  # type: ignore[union-attr]
    datastore = PostgresDatastore(
        dbname=parsed.database or "postgres",
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or "postgres",
        password=parsed.password or "",
        schema=schema,
    )
    recorder = PostgresApplicationRecorder(datastore)
    recorder.create_table()
    versions: dict[str, int] = {}
    stored: list[StoredEvent] = []
    for e in new:
        version = versions.get(e.stream_id, 0) + 1
        versions[e.stream_id] = version
        stored.append(
            StoredEvent(
                originator_id=uuid.uuid5(uuid.NAMESPACE_URL, e.stream_id),
                originator_version=version,
                topic=f"events.catalogue:{e.type}",
                state=canonical_json(e.data).encode(),
            )
        )
    t0 = time.perf_counter()
    for i in range(0, len(stored), batch):
        recorder.insert_events(stored[i : i + batch])
    elapsed = time.perf_counter() - t0
    datastore.close()
    return elapsed


def median_rate(n: int, runs: list[float]) -> float:
    return n / statistics.median(runs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--projections", choices=("ledger", "all"), default="ledger")
    args = ap.parse_args()
    n, batch = args.events, args.batch
    print(f"generating {n:,} loan-level events; live projections: {args.projections}", flush=True)
    new = make_events(n)
    times: dict[str, list[float]] = {"ours": [], "copy": [], "eventsourcing": []}
    with server_url() as base:
        print(f"server: {sa.make_url(base).render_as_string(hide_password=True)}", flush=True)
        for r in range(1, args.rounds + 1):
            with fresh_schema(base, "bench_ours") as url:
                times["ours"].append(run_ours(url, new, batch, args.projections))
                rows = read_rows(url)
            with fresh_schema(base, "bench_copy") as url:
                times["copy"].append(run_copy(url, rows, batch))
            with fresh_schema(base, "bench_es", migrate=False) as url:
                times["eventsourcing"].append(run_eventsourcing(url, new, batch))
            summary = ", ".join(f"{k} {n / v[-1]:,.0f}/s" for k, v in times.items())
            print(f"round {r}: {summary}", flush=True)
    ours, copy_, es = (median_rate(n, times[k]) for k in ("ours", "copy", "eventsourcing"))
    print(f"{'contender':<15}{'events/s':>14}{'vs ours':>10}")
    for name, rate in (("ours", ours), ("copy", copy_), ("eventsourcing", es)):
        print(f"{name:<15}{rate:>14,.0f}{rate / ours:>10.2f}")
    print(
        f"ours / copy = {ours / copy_:.2f} (target >= 0.70); ours / eventsourcing = {ours / es:.2f}"
    )
    result: dict[str, float] = {
        "ours_per_s": round(ours),
        "copy_per_s": round(copy_),
        "eventsourcing_per_s": round(es),
        "ratio_vs_copy": round(ours / copy_, 3),
        "ratio_vs_eventsourcing": round(ours / es, 3),
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
