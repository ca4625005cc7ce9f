"""``trust-ledger demo``: the main job end to end on a simulated pool shaped like a seed deal.

Imperative shell only: it drives the same functions an operator's commands do — load the deal
file, board a simulated boarding tape, import a simulated servicer tape each month, remit the
month's collections to the trust account — and then verifies the whole history (hash chain and
replay-equals-live). Every tape it imports is written to ``out/tapes/`` first, so what the ledger
holds can be traced to files; the monthly figures go to ``out/demo-summary.{json,csv}``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path

from events.envelope import NewEvent
from events.servicing import CollectionsRemitted
from events.store import EventStore
from ledger import accounts
from ledger.deal.loader import validate_deal_file
from ledger.money import ZERO
from ledger.pool_profiles import profile
from ledger.servicing import (
    board_pool,
    collection_periods,
    eligible_rows,
    import_servicer_tape,
    load_deal,
)
from ledger.simulate import SimulationParams, simulate_months, simulate_pool
from ledger.tapes import write_boarding_csv, write_servicer_csv
from ledger.verify import verify

DEALS_DIR = Path(__file__).resolve().parent / "deals"


def deal_file(seed: str) -> Path:
    """The shipped deal file of a seed deal, by seed number ("001") or deal id."""
    for path in sorted(DEALS_DIR.glob("*.yaml")):
        if path.name.startswith(f"{seed}_") or path.stem.split("_", 1)[1] == seed:
            return path
    known = ", ".join(p.stem for p in sorted(DEALS_DIR.glob("*.yaml")))
    raise ValueError(f"no seed deal {seed!r}; shipped deals: {known}")


@dataclass(frozen=True)
class MonthFigures:
    period_start: date
    period_end: date
    records: int
    pool_balance: Decimal
    remitted: Decimal
    defaulted_cumulative: Decimal
    cumulative_default_ratio: Decimal


@dataclass(frozen=True)
class DemoResult:
    deal_id: str
    deal_name: str
    loans: int
    initial_balance: Decimal
    months: list[MonthFigures]
    events: int
    verified: bool
    problems: list[str]
    out_dir: Path


Progress = Callable[[str], None]


def _balances(store: EventStore, deal_id: str) -> dict[str, Decimal]:
    rows = store.runner.live(store, deal_id, "balances")
    return {k: Decimal(v.row["balance"]) for k, v in rows.items()}


def run_demo(
    store: EventStore,
    seed: str = "001",
    *,
    loans: int = 2000,
    months: int = 24,
    stress_month: int | None = 14,
    random_seed: int = 20211117,
    out_dir: Path = Path("out"),
    step: Progress = lambda _: None,
) -> DemoResult:
    """Board, service ``months`` months, remit, verify. ``step`` is told of each stage."""
    path = deal_file(seed)
    deal = validate_deal_file(path)
    deal_id = deal.deal_id
    tapes = out_dir / "tapes"
    tapes.mkdir(parents=True, exist_ok=True)

    step(f"deal {deal_id}: recording {path.name}")
    load_deal(store, path, effective_date=deal.calendar.cut_off_date)

    step(f"boarding {loans} simulated loans shaped like seed {deal.seed}")
    drawn = simulate_pool(profile(deal.seed), loans, deal.calendar.cut_off_date, random_seed)
    pool = eligible_rows(deal, drawn)
    boarding = tapes / "boarding.csv"
    write_boarding_csv(pool, boarding)
    board_pool(store, deal_id, boarding)
    initial = sum((r.outstanding_principal for r in pool), ZERO)

    # the simulator works in calendar months from the day after cut-off; each month's tape is
    # imported into the deal's collection period that contains it (seed 001's first period runs
    # from cut-off to the first calculation date, five months)
    deal_periods = list(islice(collection_periods(deal), months + 12))
    first_day = deal.calendar.cut_off_date + timedelta(days=1)
    params = SimulationParams(stress_month=stress_month, first_period=first_day)
    figures: list[MonthFigures] = []
    for month in simulate_months(pool, months, params, random_seed):
        start, end = month.period_start, month.period_end
        period = next(p for p in deal_periods if p[0] <= end <= p[1])
        step(f"servicing {start} to {end}")
        tape = tapes / f"servicer-{end:%Y-%m}.csv"
        write_servicer_csv(month.rows, tape)
        import_servicer_tape(store, deal_id, tape, period=period)
        held = _balances(store, deal_id).get(accounts.SERVICER_HELD, ZERO)
        if held > 0:
            remit = CollectionsRemitted(
                value_date=end, amount=held, period_start=start, period_end=end,
                reference=f"remittance {end:%Y-%m}",
            )  # fmt: skip
            store.append(
                [
                    NewEvent.of(
                        remit,
                        deal_id=deal_id,
                        stream_id="remittance",
                        effective_date=end,
                        idempotency_key=f"remit:{end.isoformat()}",
                        actor="servicer",
                        role="servicer",
                    )
                ]
            )
        bal = _balances(store, deal_id)
        defaulted = bal.get(accounts.POOL_DEFAULTED, ZERO) + bal.get(accounts.WRITTEN_OFF, ZERO)
        figures.append(
            MonthFigures(
                period_start=start,
                period_end=end,
                records=len(month.rows),
                pool_balance=bal.get(accounts.POOL_PRINCIPAL, ZERO),
                remitted=max(held, ZERO),
                defaulted_cumulative=defaulted,
                cumulative_default_ratio=(defaulted / initial).quantize(Decimal("0.000001"))
                if initial
                else ZERO,
            )
        )

    step("verifying the hash chain and replay = live")
    report = verify(store, deal_id)[0]
    result = DemoResult(
        deal_id=deal_id,
        deal_name=deal.name,
        loans=len(pool),
        initial_balance=initial,
        months=figures,
        events=report.events,
        verified=report.ok,
        problems=[p for p in [report.first_problem()] if p],
        out_dir=out_dir,
    )
    write_summary(result)
    return result


def write_summary(result: DemoResult) -> None:
    """``demo-summary.json`` and ``demo-summary.csv`` in the output directory."""
    rows = [{k: str(v) for k, v in asdict(m).items()} for m in result.months]
    doc = {
        "deal_id": result.deal_id,
        "deal_name": result.deal_name,
        "loans": result.loans,
        "initial_balance": str(result.initial_balance),
        "events": result.events,
        "verified": result.verified,
        "problems": result.problems,
        "months": rows,
    }
    (result.out_dir / "demo-summary.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with (result.out_dir / "demo-summary.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["period_start"])
        writer.writeheader()
        writer.writerows(rows)
