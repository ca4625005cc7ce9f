"""Servicer-tape ingest into PostgreSQL: the real import path vs raw COPY, plus the full replay.

    python -m benchmarks.ingest [--loans 100000] [--rounds 3] [--seed 0] [--no-replay]
                                [--replay-loans 110000] [--replay-months 36] [--profile FILE]
                                [--events-only]

Per round, on fresh schemas:

* setup (not timed): the BYD 2021-2 deal file is loaded and a simulated pool of ``--loans``
  eligible loans (``ledger/simulation/``, seed 004's profile, drawn loans failing the deal's
  criteria dropped) is boarded through :func:`ledger.servicing.board_pool`, then ``ANALYZE`` (the
  statistics autovacuum would have after a bulk load; without them PostgreSQL filters the
  projection rows' keys instead of using the index and the import is 3x slower). The first
  month's servicer tape (one record per loan) is written to a CSV file.
* ingest (timed): :func:`ledger.servicing.import_servicer_tape` on that file, exactly what
  ``trust-ledger tape import`` runs: read and hash the file, parse and check every row, read the
  loan states from the live loan projection, the state checks, build the events, and one atomic
  append (idempotency, stream versions, hash chain, binary COPY, and every live projection of
  ``ProjectionRunner.default()`` in the same transaction).
* copy (timed): a raw psycopg binary ``COPY`` of exactly the event rows the import wrote (read
  back beforehand), in one transaction, into a second schema holding the same boarded pool: the
  floor.

Rates are events written per second (median over ``--rounds``). Then the replay, once: the
colleague's ``benchmarks/replay.py`` appends a simulated history (``--replay-loans`` loans over
``--replay-months`` months: about 3.2 million loan-level events) with projections deferred and
``run_replay`` rebuilds every projection from zero in a fresh process (its events/s and peak
RSS). ``--profile`` writes a cProfile of the last ingest and prints its top entries. The last line
is one JSON object. Target (SPEC §8): ``ingest_per_s >= 0.70 × copy_per_s``.

Each timed step also reports the CPU seconds it cost: this process (``getrusage``) and every
PostgreSQL process of the machine (``/proc``; zero for a remote server). ``ratio_bound_by_cpu`` is
the best ratio the import's CPU work would allow were it spread perfectly over every core: the
COPY's wall time over (the import's client + server CPU seconds / the number of cores). A bound
under 0.70 says no scheduling of the same work can meet the target on this machine.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import json
import os
import pstats
import resource
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa

from benchmarks.pg import fresh_schema, server_url
from events import db
from events.hashing import canonical_bytes
from events.store import COPY_SQL, COPY_TYPES, CanonicalJson, copy_cursor
from events.tables import events as events_table
from ledger.servicing.boarding import board_pool
from ledger.servicing.deals import deal_in_force, load_deal
from ledger.servicing.eligibility import eligible_rows
from ledger.servicing.servicer_import import import_servicer_tape
from ledger.servicing.tape_formats import BoardingRow
from ledger.servicing.tape_writers import format_boarding_csv, write_servicer_csv
from ledger.simulation.months import simulate_months
from ledger.simulation.pool import simulate_pool
from ledger.simulation.pool_profiles import profile
from projections.runner import ProjectionRunner
from projections.store import ProjectedStore

DEAL_FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "004_byd_2021_2.yaml"
DEAL = "byd_2021_2"


def make_inputs(n_loans: int, seed: int, directory: Path) -> tuple[bytes, Path, int]:
    """The boarding tape (bytes) of ``n_loans`` eligible loans and the first month's servicer
    tape (a file), with its number of records."""
    from ledger.deal import validate_deal_file

    deal = validate_deal_file(DEAL_FILE)
    prof = profile("004")
    pool: list[BoardingRow] = []
    draw = n_loans
    while len(pool) < n_loans:
        drawn = simulate_pool(
            prof, int(draw * 1.3) + 100, cut_off=deal.calendar.cut_off_date, seed=seed
        )
        pool = eligible_rows(deal, drawn)
        draw *= 2
    pool = pool[:n_loans]
    month = next(iter(simulate_months(pool, 1, seed=seed + 1)))
    tape = directory / f"servicer_{month.period_start:%Y-%m}.csv"
    write_servicer_csv(month.rows, tape)
    return format_boarding_csv(pool).encode(), tape, len(month.rows)


def _board(url: str, boarding: bytes) -> None:
    engine = db.make_engine(url)
    store = ProjectedStore(engine)
    load_deal(store, DEAL_FILE)
    board_pool(store, DEAL, boarding, file="boarding.csv")
    with engine.begin() as conn:  # statistics as autovacuum would have them after a bulk load
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()


def cpu_now() -> tuple[float, dict[int, float]]:
    """CPU seconds (user + system) used so far by this process, and by each PostgreSQL process of
    this machine (read from ``/proc``; none for a remote server)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    server: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for pid in os.listdir("/proc") if os.path.isdir("/proc") else ():
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/stat") as f:
                name, _, rest = f.read().rpartition(")")
        except OSError:  # the process ended meanwhile
            continue
        if name.endswith("(postgres"):
            fields = rest.split()
            server[int(pid)] = (int(fields[11]) + int(fields[12])) / tick
    return usage.ru_utime + usage.ru_stime, server


@dataclass
class Timed:
    """Wall seconds of a timed step and the CPU seconds it cost this process and the server (the
    server's processes alive at its end: a backend closed meanwhile is not the step's)."""

    wall: float
    client_cpu: float
    server_cpu: float

    @classmethod
    def since(cls, t0: float, cpu0: tuple[float, dict[int, float]]) -> Timed:
        wall = time.perf_counter() - t0
        client, server = cpu_now()
        used = sum(v - cpu0[1].get(pid, 0.0) for pid, v in server.items())
        return cls(wall, client - cpu0[0], used)


def run_ingest(
    url: str, tape: Path, profile_to: Path | None = None, events_only: bool = False
) -> tuple[Timed, int]:
    engine = db.make_engine(url)
    # --events-only: a store with no live read model, so the append writes the events alone
    store = ProjectedStore(engine, ProjectionRunner([]) if events_only else None)
    deal_in_force(store, DEAL)  # parse the deal once, as a running service would have
    prof = cProfile.Profile() if profile_to is not None else None
    cpu0, t0 = cpu_now(), time.perf_counter()
    if prof is not None:
        prof.enable()
    result = import_servicer_tape(store, DEAL, tape)
    if prof is not None:
        prof.disable()
    timed = Timed.since(t0, cpu0)
    if prof is not None and profile_to is not None:
        prof.dump_stats(str(profile_to))
    engine.dispose()
    assert not result.duplicate
    return timed, len(result.events)


def read_rows(url: str, after_position: int) -> list[tuple[object, ...]]:
    engine = db.make_engine(url)
    cols = [c.name for c in events_table.columns]
    q = (
        sa.select(events_table)
        .where(events_table.c.position > after_position)
        .order_by(events_table.c.position)
    )
    with engine.connect() as conn:
        rows = [
            tuple(
                CanonicalJson(canonical_bytes(v)) if c == "data" else v
                for c, v in zip(cols, r, strict=True)
            )
            for r in conn.execute(q)
        ]
    engine.dispose()
    return rows


def max_position(url: str) -> int:
    engine = db.make_engine(url)
    with engine.connect() as conn:
        v = conn.execute(sa.select(sa.func.max(events_table.c.position))).scalar()
    engine.dispose()
    return int(v or 0)


def run_copy(url: str, rows: list[tuple[object, ...]]) -> Timed:
    """Raw binary COPY of the prepared rows in one transaction (as the import is one batch)."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn:
        cpu0, t0 = cpu_now(), time.perf_counter()
        with conn.transaction(), copy_cursor(conn) as cur, cur.copy(COPY_SQL) as copy:
            copy.set_types(COPY_TYPES)
            for row in rows:
                copy.write_row(row)
        return Timed.since(t0, cpu0)


def _replay(base: str, n_loans: int, months: int) -> dict[str, float] | None:
    """The colleague's replay benchmark (``benchmarks/replay.py``): a simulated history of
    ``n_loans`` loans over ``months`` months appended with projections deferred, then
    ``run_replay`` rebuilds every projection from zero in a fresh process."""
    try:
        replay = importlib.import_module("benchmarks.replay")
    except ImportError:
        return None
    with fresh_schema(base, "ingest_replay") as url:
        pool = simulate_pool(next(iter(replay.PROFILES.values())), n_loans, seed=0)
        t0 = time.perf_counter()
        n = replay.load_history(
            url, replay.DEAL, replay.history_events(replay.DEAL, pool, months), 50_000
        )
        print(
            f"replay history: {n:,} events appended in {time.perf_counter() - t0:.0f} s", flush=True
        )
        out: Any = replay.run_replay(url, replay.DEAL)
    return dict(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--loans", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--no-replay", action="store_true")
    ap.add_argument("--replay-loans", type=int, default=110_000)
    ap.add_argument("--replay-months", type=int, default=36)
    ap.add_argument("--profile", type=Path, help="write a cProfile of the last ingest here")
    ap.add_argument(
        "--events-only",
        action="store_true",
        help="not the import path: the same import with no live projection (what it would cost "
        "were the projections written after the commit)",
    )
    args = ap.parse_args()
    from ledger.core.logs import configure

    configure("WARNING")
    ingests: list[Timed] = []
    copies: list[Timed] = []
    n_events = 0
    with tempfile.TemporaryDirectory() as tmp:
        print(f"simulating {args.loans:,} eligible loans and one month ...", flush=True)
        boarding, tape, records = make_inputs(args.loans, args.seed, Path(tmp))
        print(f"servicer tape: {records:,} records, {tape.stat().st_size:,} bytes", flush=True)
        with server_url() as base:
            print(f"server: {sa.make_url(base).render_as_string(hide_password=True)}", flush=True)
            for r in range(1, args.rounds + 1):
                with fresh_schema(base, "ingest_ours") as url:
                    _board(url, boarding)
                    start = max_position(url)
                    last = r == args.rounds
                    profile_to = args.profile if last else None
                    timed, n_events = run_ingest(url, tape, profile_to, args.events_only)
                    ingests.append(timed)
                    rows = read_rows(url, start)
                with fresh_schema(base, "ingest_copy") as url:
                    _board(url, boarding)
                    copies.append(run_copy(url, rows))
                i, c = ingests[-1], copies[-1]
                print(
                    f"round {r}: ingest {n_events / i.wall:,.0f} events/s ({i.wall:.2f} s; CPU "
                    f"{i.client_cpu:.2f} s here, {i.server_cpu:.2f} s server), copy "
                    f"{len(rows) / c.wall:,.0f} rows/s ({c.wall:.2f} s; CPU {c.client_cpu:.2f} s "
                    f"here, {c.server_cpu:.2f} s server)",
                    flush=True,
                )
            replay = None
            if not args.no_replay:
                print("replay ...", flush=True)
                replay = _replay(base, args.replay_loans, args.replay_months)
    ingest = n_events / statistics.median(i.wall for i in ingests)
    copy_rate = n_events / statistics.median(c.wall for c in copies)
    print(f"ingest / copy = {ingest / copy_rate:.2f} (target >= 0.70)")
    # the best ratio the import's CPU work allows, were it spread perfectly over every core
    cores = os.cpu_count() or 1
    cpu = statistics.median(i.client_cpu + i.server_cpu for i in ingests)
    bound = n_events / copy_rate / (cpu / cores)
    if args.profile is not None:
        pstats.Stats(str(args.profile)).sort_stats("cumulative").print_stats(25)
    result: dict[str, float] = {
        "ingest_per_s": round(ingest),
        "copy_per_s": round(copy_rate),
        "ratio_vs_copy": round(ingest / copy_rate, 3),
        "events": n_events,
        "tape_records": records,
        "events_only": args.events_only,
        "ingest_client_cpu_s": round(statistics.median(i.client_cpu for i in ingests), 2),
        "ingest_server_cpu_s": round(statistics.median(i.server_cpu for i in ingests), 2),
        "copy_client_cpu_s": round(statistics.median(c.client_cpu for c in copies), 2),
        "copy_server_cpu_s": round(statistics.median(c.server_cpu for c in copies), 2),
        "cores": cores,
        "ratio_bound_by_cpu": round(bound, 3),
    }
    if replay is not None:
        result["replay_events"] = round(replay["replay_events"])
        result["replay_per_s"] = round(replay["replay_per_s"])
        result["replay_peak_rss_mb"] = round(replay["replay_peak_rss_mb"], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
