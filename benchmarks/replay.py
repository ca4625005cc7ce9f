"""Full replay of a deal into every projection (SPEC §8: >= 150,000 events/s; peak RSS reported).

    python -m benchmarks.replay [--loans 110000] [--months 36] [--batch 50000]

``main`` simulates a pool and its servicing history (:mod:`ledger.simulation`), turns every servicer
row into its loan-level events (:func:`history_events`), appends them to a fresh PostgreSQL schema
(:mod:`benchmarks.pg`) in large batches with ``project=False``, then measures
:func:`run_replay`: :meth:`projections.runner.ProjectionRunner.rebuild` of the deal from zero into
every projection of ``ProjectionRunner.default()``, streamed from the database.

:func:`run_replay` runs the rebuild in a fresh Python process so that the peak RSS it reports is the
replay's own (not the generator's, nor the caller's). On a machine with two CPUs or more the rebuild
folds the loans in two parts, each in a process of its own (``projections/fast.py``): the RSS
reported is then the sum of their peaks. ``TRUST_LEDGER_REBUILD_PARTS=1`` measures the rebuild in
one process. The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from events import catalogue  # noqa: F401  (registers the event types)
from events.envelope import NewEvent
from ledger.core.money import ZERO
from ledger.servicing.tape_formats import BoardingRow, RecordType, ServicerRow
from ledger.simulation.months import simulate_months
from ledger.simulation.pool import SimulatedMonth, SimulationParams, simulate_pool
from ledger.simulation.pool_profiles import PROFILES

DEAL = "REPLAY"

__all__ = ["boarding_events", "history_events", "main", "month_events", "run_replay"]


def _new(
    deal_id: str, type_: str, data: dict[str, Any], when: date, key: str, stream: str
) -> NewEvent:
    # payloads built here are exactly what the event models dump (tests validate them); marked
    # checked so that bulk appends skip validating millions of them again
    return NewEvent(
        deal_id=deal_id,
        stream_id=stream,
        type=type_,
        schema_version=1,
        data=data,
        effective_date=when,
        idempotency_key=key,
        actor="servicer",
        role="servicer",  # every event here is the servicer's (events/policy.py)
        checked=True,
    )


def boarding_events(deal_id: str, pool: Sequence[BoardingRow], cut_off: date) -> list[NewEvent]:
    """``LoanBoarded`` for every loan of a boarding tape, then ``PoolBoarded``."""
    out = []
    total = ZERO
    cut = cut_off.isoformat()
    for row in pool:
        total += row.outstanding_principal
        out.append(
            _new(
                deal_id,
                "LoanBoarded",
                {
                    "loan_id": row.loan_id,
                    "borrower_id": row.borrower_id,
                    "origination_date": row.origination_date.isoformat(),
                    "maturity_date": row.maturity_date.isoformat(),
                    "original_principal": str(row.original_principal),
                    "outstanding_principal": str(row.outstanding_principal),
                    "interest_rate": str(row.interest_rate),
                    "amortization": str(row.amortization),
                    "payment_day": row.payment_day,
                    "remaining_term_months": row.remaining_term_months,
                    "days_past_due": row.days_past_due,
                    "cut_off_date": cut,
                    "extra": dict(row.extra),
                },
                cut_off,
                f"board-{row.loan_id}",
                f"loan-{row.loan_id}",
            )
        )
    out.append(
        _new(
            deal_id,
            "PoolBoarded",
            {
                "file_name": "boarding.csv",
                "file_sha256": "0" * 64,
                "cut_off_date": cut,
                "loan_count": len(pool),
                "aggregate_principal": str(total),
            },
            cut_off,
            "pool-boarded",
            "deal",
        )
    )
    return out


def _m(value: Decimal | None) -> str:
    return str(value) if value is not None else "0.00"


def row_events(deal_id: str, row: ServicerRow) -> Iterator[NewEvent]:
    """The events of one servicer-tape row (SPEC §6 record types, ``events/servicing.py``).

    A COLLECTION that reports ``days_past_due`` is followed by a ``LoanDelinquencyReported`` with
    it (a collection curing a loan reports 0); a RECOVERY's amount is its principal, interest and
    fees together; a REPURCHASE's price is its principal plus interest.
    """
    kind = row.record_type
    loan = row.loan_id
    when = row.value_date
    day = when.isoformat()
    key = f"{row.reference}"
    stream = f"loan-{loan}"
    if kind is RecordType.COLLECTION:
        yield _new(
            deal_id,
            "CollectionReceived",
            {
                "loan_id": loan,
                "value_date": day,
                "principal": _m(row.principal),
                "interest": _m(row.interest),
                "fees": _m(row.fees),
                "prepayment": bool(row.prepayment),
            },
            when,
            key,
            stream,
        )
        if row.days_past_due is not None:
            yield _new(
                deal_id,
                "LoanDelinquencyReported",
                {
                    "loan_id": loan,
                    "value_date": day,
                    "days_past_due": row.days_past_due,
                    "reference": row.reference,
                },
                when,
                f"{key}-dpd",
                stream,
            )
    elif kind is RecordType.DELINQUENCY:
        yield _new(
            deal_id,
            "LoanDelinquencyReported",
            {
                "loan_id": loan,
                "value_date": day,
                "days_past_due": row.days_past_due,
                "reference": row.reference,
            },
            when,
            key,
            stream,
        )
    elif kind is RecordType.DEFAULT:
        yield _new(
            deal_id,
            "LoanDefaulted",
            {
                "loan_id": loan,
                "value_date": day,
                "principal": _m(row.principal),
                "days_past_due": row.days_past_due,
                "reason": row.reason,
                "reference": row.reference,
            },
            when,
            key,
            stream,
        )
    elif kind is RecordType.RECOVERY:
        amount = sum((v for v in (row.principal, row.interest, row.fees) if v is not None), ZERO)
        yield _new(
            deal_id,
            "RecoveryReceived",
            {"loan_id": loan, "value_date": day, "amount": str(amount), "reference": row.reference},
            when,
            key,
            stream,
        )
    elif kind is RecordType.WRITE_OFF:
        yield _new(
            deal_id,
            "LoanWrittenOff",
            {
                "loan_id": loan,
                "value_date": day,
                "amount": _m(row.principal),
                "reason": row.reason,
                "reference": row.reference,
            },
            when,
            key,
            stream,
        )
    elif kind is RecordType.REPURCHASE:
        principal = row.principal or ZERO
        yield _new(
            deal_id,
            "LoanRepurchased",
            {
                "loan_id": loan,
                "value_date": day,
                "reason": row.reason or "repurchase",
                "price": str(principal + (row.interest or ZERO)),
                "principal": str(principal),
                "from_defaulted": False,
                "reference": row.reference,
            },
            when,
            key,
            stream,
        )


def month_events(deal_id: str, month: SimulatedMonth, remit_after_days: int = 6) -> list[NewEvent]:
    """A simulated month's events, then the servicer remitting everything it collected in the month
    (``CollectionsRemitted``) ``remit_after_days`` after the period end."""
    out: list[NewEvent] = []
    collected = ZERO
    for row in month.rows:
        out.extend(row_events(deal_id, row))
        if row.record_type in (RecordType.COLLECTION, RecordType.RECOVERY, RecordType.REPURCHASE):
            for v in (row.principal, row.interest, row.fees):
                if v is not None:
                    collected += v
    if collected:
        when = month.period_end + timedelta(days=remit_after_days)
        out.append(
            _new(
                deal_id,
                "CollectionsRemitted",
                {
                    "value_date": when.isoformat(),
                    "amount": str(collected),
                    "period_start": month.period_start.isoformat(),
                    "period_end": month.period_end.isoformat(),
                    "reference": f"remit-{month.period_start:%Y%m}",
                },
                when,
                f"remit-{month.period_start:%Y%m}",
                "deal",
            )
        )
    return out


def history_events(
    deal_id: str,
    pool: Sequence[BoardingRow],
    months: int,
    params: SimulationParams | None = None,
    seed: int = 1,
    cut_off: date | None = None,
) -> Iterator[list[NewEvent]]:
    """The boarding events, then each simulated month's events (one list per month)."""
    first = min((r.maturity_date for r in pool), default=date(2024, 1, 1))
    cut = cut_off or date(first.year, first.month, 1) - timedelta(days=1)
    yield boarding_events(deal_id, pool, cut)
    for month in simulate_months(pool, months, params, seed=seed):
        yield month_events(deal_id, month)


# --- replay ---------------------------------------------------------------------------------------


def _replay_here(url: str, deal_id: str) -> dict[str, float]:
    from events import db
    from projections.runner import ProjectionRunner
    from projections.store import ProjectedStore

    engine = db.make_engine(url)
    store = ProjectedStore(engine)
    runner = ProjectionRunner.default()
    t0 = time.perf_counter()
    states = runner.rebuild(store, deal_id)
    elapsed = time.perf_counter() - t0
    n, _ = store.head(deal_id)
    engine.dispose()
    # the rebuild may fold in parallel parts (projections/fast.py), each in a process of its own:
    # their peak added to this one's, as if every peak fell at the same moment (an upper bound)
    rss_kb = _own_peak_rss_kb() + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return {
        "replay_events": float(n),
        "replay_seconds": round(elapsed, 3),
        "replay_per_s": round(n / elapsed, 1) if elapsed else 0.0,
        "replay_peak_rss_mb": round(rss_kb / 1024, 1),
        "replay_rows": float(sum(len(s) for s in states.values())),
    }


def _own_peak_rss_kb() -> int:
    """This process's peak RSS since it started its program: ``VmHWM`` (Linux). ``ru_maxrss`` is
    not that: Linux carries it across ``exec``, so a process started by a large one (the ingest
    benchmark, after generating the history) reports its parent's size as its own peak."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def run_replay(url: str, deal_id: str) -> dict[str, float]:
    """Rebuild every projection of ``deal_id`` from zero, in a fresh process; returns
    ``replay_events``, ``replay_per_s`` and ``replay_peak_rss_mb`` (the child's peak RSS, with its
    parts'), plus ``replay_seconds`` and ``replay_rows``."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.replay", "--replay-only", url, deal_id],
        cwd=root,
        check=True,
        capture_output=True,
        text=True,
    )
    result: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_history(url: str, deal_id: str, batches: Iterable[list[NewEvent]], batch: int) -> int:
    """Append the batches in chunks of ``batch`` events with the live projections deferred, then
    ``VACUUM ANALYZE`` the events and ``CHECKPOINT`` (PostgreSQL): the state of a history written
    over months, which autovacuum and the checkpointer have long visited. Right after a bulk load
    the first scan would instead set every row's hint bits, and race autovacuum and the flushing of
    gigabytes of dirty pages for the two CPUs, which is not what a replay costs."""
    import sqlalchemy as sa

    from events import db
    from projections.store import ProjectedStore

    engine = db.make_engine(url)
    store = ProjectedStore(engine)
    pending: list[NewEvent] = []
    n = 0
    for month in batches:
        pending.extend(month)
        while len(pending) >= batch:
            store.append(pending[:batch], project=False)
            n += batch
            del pending[:batch]
    if pending:
        store.append(pending, project=False)
        n += len(pending)
    if store.dialect == "postgresql":
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("VACUUM (ANALYZE) events")
            with contextlib.suppress(sa.exc.ProgrammingError):  # needs pg_checkpoint: best effort
                conn.exec_driver_sql("CHECKPOINT")
    engine.dispose()
    return n


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=110_000)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--batch", type=int, default=50_000)
    parser.add_argument("--profile", default=next(iter(PROFILES)))
    parser.add_argument("--replay-only", nargs=2, metavar=("URL", "DEAL"))
    args = parser.parse_args(argv)
    if args.replay_only:
        print(json.dumps(_replay_here(*args.replay_only)))
        return
    from benchmarks.pg import fresh_schema, server_url

    with server_url() as base, fresh_schema(base, "replay") as url:
        t0 = time.perf_counter()
        pool = simulate_pool(PROFILES[args.profile], args.loans, seed=0)
        n = load_history(url, DEAL, history_events(DEAL, pool, args.months), args.batch)
        load_s = time.perf_counter() - t0
        print(f"generated and appended {n} events in {load_s:.1f} s", file=sys.stderr)
        result = run_replay(url, DEAL)
    print(json.dumps({"generated_events": n, "generate_seconds": round(load_s, 1), **result}))


if __name__ == "__main__":
    main()
