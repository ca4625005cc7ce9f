"""One payment-date cycle on a 100,000-loan pool (SPEC §8: <= 1 s), against a raw read of the events
the cycle reads.

    python -m benchmarks.cycle [--loans 119000] [--months 6] [--seed 0]

Setup (not timed), on a fresh PostgreSQL schema (:mod:`benchmarks.pg`): the BYD 2021-2 deal file
scaled to a simulated pool (:func:`ledger.simulation.demo.set_up_deal`: ``--loans`` drawn, about
84% of
them eligible, so the default boards about 100,000; loaded, boarded, notes issued), then
``--months`` simulated months, each imported as a servicer tape and remitted
(:func:`ledger.simulation.demo.service_month`), exactly as the demo does.

Timed, for each payment date that has fallen due in order: :func:`ledger.cycle.run_due` up to that
date (one cycle: read the history, fold it to the determination date, plan, append one batch), and
a raw binary ``COPY`` out of the same events (every event of the deal effective on or before the
payment date) decoded by psycopg: the floor of any cycle that reads its history. The last line is
one JSON object with the last cycle's figures (the longest history).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from datetime import timedelta
from itertools import islice
from pathlib import Path

import psycopg

from benchmarks.pg import fresh_schema, server_url
from events import db
from events.store import COPY_TYPES
from ledger.cycle.schedule import deal_schedule
from ledger.cycle.walk import run_due
from ledger.servicing.periods import collection_periods
from ledger.simulation.demo import service_month, set_up_deal
from ledger.simulation.months import simulate_months
from ledger.simulation.pool import SimulationParams
from projections.store import ProjectedStore


def raw_read(url: str, deal_id: str, until: object) -> tuple[float, int]:
    """Seconds to COPY out and decode every event of the deal effective on or before ``until``."""
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        t0 = time.perf_counter()
        n = 0
        sql = (
            "COPY (SELECT * FROM events WHERE deal_id = {} AND effective_date <= {} "
            "ORDER BY deal_seq) TO STDOUT (FORMAT BINARY)"
        )
        query = psycopg.sql.SQL(sql).format(deal_id, until)
        with cur.copy(query) as copy:
            copy.set_types(COPY_TYPES)
            for _ in copy.rows():
                n += 1
        return time.perf_counter() - t0, n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--loans", type=int, default=119_000, help="loans drawn (84%% eligible)")
    ap.add_argument("--months", type=int, default=6)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    from ledger.core.logs import configure

    configure("WARNING")
    with (
        tempfile.TemporaryDirectory() as tmp,
        server_url() as base,
        fresh_schema(base, "cycle_bench") as url,
    ):
        engine = db.make_engine(url)
        store = ProjectedStore(engine)
        t0 = time.perf_counter()
        setup = set_up_deal(store, "004", args.loans, args.seed, Path(tmp), print)
        deal = setup.deal
        periods = list(islice(collection_periods(deal), args.months + 12))
        params = SimulationParams(first_period=deal.calendar.cut_off_date + timedelta(days=1))
        last_end = deal.calendar.cut_off_date
        for month in simulate_months(setup.pool, args.months, params, args.seed):
            period = next(p for p in periods if p[0] <= month.period_end <= p[1])
            service_month(store, deal.deal_id, month, period, setup.tapes)
            last_end = month.period_end
        with engine.begin() as conn:  # statistics as autovacuum would have them
            conn.exec_driver_sql("ANALYZE")
        took = time.perf_counter() - t0
        print(f"setup: {len(setup.pool):,} loans, {args.months} months in {took:.0f} s")
        result: dict[str, object] = {}
        for p in deal_schedule(deal, setup.closing, last_end):
            t0 = time.perf_counter()
            posted = run_due(store, deal.deal_id, p.payment_date)
            cycle_s = time.perf_counter() - t0
            read_s, n = raw_read(url, deal.deal_id, p.payment_date)
            statuses = [r.status for r in posted]
            print(
                f"{p.payment_date}: cycle {cycle_s:.2f} s ({statuses}), raw read of its "
                f"{n:,} events {read_s:.2f} s",
                flush=True,
            )
            result = {
                "loans": len(setup.pool),
                "payment_date": p.payment_date.isoformat(),
                "history_events": n,
                "cycle_s": round(cycle_s, 3),
                "raw_read_s": round(read_s, 3),
                "cycle_vs_raw_read": round(cycle_s / read_s, 2),
            }
        engine.dispose()
    print(json.dumps(result))


if __name__ == "__main__":
    main()
