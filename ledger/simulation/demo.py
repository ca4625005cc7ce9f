"""``trust-ledger demo``: the main job end to end on a simulated pool shaped like a seed deal.

Imperative shell only: it drives the same functions an operator's and a trustee's commands do —
record the deal, board a simulated boarding tape, issue the notes, import a simulated servicer
tape each month, remit the month's collections, run every payment date that has fallen due
(close the period, evaluate triggers, run the waterfall, distribute) — and then verifies the whole
history (hash chain and replay-equals-live).

The simulated pool is a few thousand loans, not the seed's tens of thousands, so the deal in
force is the seed's deal file with its note amounts and RMB parameters scaled to the pool
(:func:`scaled_deal_text`), written to ``out/`` and recorded like any deal definition. Every tape
imported is written to ``out/tapes/`` first, so what the ledger holds can be traced to files;
the monthly figures go to ``out/demo-summary.{json,csv}``.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import yaml

from events.envelope import NewEvent
from events.servicing import CollectionsRemitted
from ledger.audit.statement_import import write_and_reconcile
from ledger.audit.verify import verify
from ledger.core import accounts
from ledger.core.discounting import boarding_drb
from ledger.core.money import ZERO, round_fen
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import CycleResult, run_due
from ledger.deal.loader import validate_deal_file
from ledger.deal.pool_rules import default_ratio_rule
from ledger.deal.schema import DealDefinition
from ledger.reports import (
    FORMATS,
    History,
    build_servicer_report,
    build_trustee_report,
    collection_period_end,
    payment_dates,
    read_events,
    write_report,
)
from ledger.servicing.boarding import board_pool
from ledger.servicing.deals import load_deal
from ledger.servicing.eligibility import eligible_rows
from ledger.servicing.periods import collection_periods
from ledger.servicing.repurchase import INTEREST_FIELD, price_fields
from ledger.servicing.servicer_import import import_servicer_tape
from ledger.servicing.tape_formats import BoardingRow
from ledger.servicing.tape_writers import write_boarding_csv, write_servicer_csv
from ledger.simulation.months import simulate_months
from ledger.simulation.pool import SimulatedMonth, SimulationParams, simulate_pool
from ledger.simulation.pool_profiles import profile
from ledger.simulation.revolving import (
    DEMO_TRUSTEE,
    RevolvingPurchase,
    buy_additional_receivables,
    purchase_rows,
    revolving_periods,
)
from projections.base import State
from projections.pool import pool_periods
from projections.store import ProjectedStore

DEALS_DIR = Path(__file__).resolve().parent.parent / "deals"

"""The demo plays every party: as the trustee it issues the notes and runs the payment dates."""


def deal_file(seed: str) -> Path:
    """The shipped deal file of a seed deal, by seed number ("001") or deal id."""
    for path in sorted(DEALS_DIR.glob("*.yaml")):
        if path.name.startswith(f"{seed}_") or path.stem.split("_", 1)[1] == seed:
            return path
    known = ", ".join(p.stem for p in sorted(DEALS_DIR.glob("*.yaml")))
    raise ValueError(f"no seed deal {seed!r}; shipped deals: {known}")


POOL_PARAMETERS = ("cut_off_adrb", "initial_pool_balance")
"""The parameter holding the pool balance at cut-off, by the names the deal files use:
``cut_off_adrb`` is on the discounted basis (seed 001's Aggregate Cut-Off Date DRB,
L17772-17778), ``initial_pool_balance`` on principal."""


def scaled_deal_text(
    text: str, pool_principal: Decimal, pool_adrb: Decimal | None = None
) -> tuple[str, Decimal, list[str]]:
    """The deal file scaled to a simulated pool: note amounts and RMB parameters times
    ``f = pool balance / <the deal's cut-off pool parameter>``. RMB parameters are those written
    with two decimals and at least 1,000 (rates and ratios never are).

    The pool balance is on the basis of the deal's pool parameter: a deal measuring its pool in
    Discounted Receivables Balances (``cut_off_adrb``, seed 001 L17772-17778: the CGLR
    denominator, the clean-up and 10% bases) is scaled by the pool's ADRB at cut-off
    (``pool_adrb``), which becomes its ``cut_off_adrb`` exactly, so that the notes and the
    overcollateralisation keep the seed's proportions (OC = ADRB − notes = 40,082,110.39 × f);
    a principal-based deal by ``pool_principal``. Returns the new text, the factor and the
    scaled parameter names."""
    data = yaml.safe_load(text)
    params = data["parameters"]
    pool_param = next((p for p in POOL_PARAMETERS if p in params), None)
    if pool_param is None:
        raise ValueError(f"the deal file names none of {POOL_PARAMETERS} as its pool balance")
    if pool_param == "cut_off_adrb" and pool_adrb is None:
        raise ValueError("the deal's pool parameter is cut_off_adrb: give the pool's ADRB")
    pool = pool_adrb if pool_param == "cut_off_adrb" and pool_adrb is not None else pool_principal
    factor = pool / Decimal(str(params[pool_param]["value"]))

    def scale(value: object) -> str:
        return str(round_fen(Decimal(str(value)) * factor))

    for note in data["notes"].values():
        note["amount"] = scale(note["amount"])
    scaled = []
    for name, p in params.items():
        v = Decimal(str(p["value"]))
        if v.as_tuple().exponent == -2 and v >= 1000:
            p["value"] = str(pool) if name == pool_param else scale(v)
            p["comment"] = f"demo: scaled by {factor:.10f} to the simulated pool"
            scaled.append(name)
    basis = "ADRB" if pool_param == "cut_off_adrb" else "principal"
    header = (
        f"# {data['name']}: seed deal scaled to a simulated pool of {pool:,.2f} ({basis} at "
        f"cut-off; factor {factor:.10f})\n"
    )
    return header + yaml.safe_dump(data, allow_unicode=True, sort_keys=False), factor, scaled


@dataclass(frozen=True)
class MonthFigures:
    """One simulated month. The cumulative defaults are the deal's own definition
    (:func:`ledger.deal.pool_rules.default_ratio_rule`, ``DemoResult.default_ratio``): its
    numerator, denominator and ratio at the month's end, the figures of the pool report, so the
    trustee and servicer reports print the same numbers. They are gross (recoveries are not
    netted): they never go down."""

    period_start: date
    period_end: date
    records: int
    pool_balance: Decimal
    remitted: Decimal
    cumulative_defaults: Decimal
    cumulative_default_base: Decimal
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
    scale_factor: Decimal
    closing_date: date
    closing_date_assumed: bool
    cycles: list[dict[str, Any]]
    reconciliation: list[dict[str, str | int | None]] = field(default_factory=list)
    """Per trust bank account: the statement written to ``bank-statement-<account>.csv`` and
    its reconciliation (matched, breaks, closing balances)."""
    default_ratio: str = ""
    """The definition the months' cumulative defaults follow, in words."""
    purchases: list[RevolvingPurchase] = field(default_factory=list)
    """Additional Receivables bought on each payment date of the revolving period."""
    stress: dict[str, str] | None = None
    """The stress month, when the demo has one: its number, calendar month and default rate."""


Progress = Callable[[str], None]


def _balances(store: ProjectedStore, deal_id: str) -> dict[str, Decimal]:
    rows = store.runner.live(store, deal_id, "balances")
    return {k: Decimal(v.row["balance"]) for k, v in rows.items()}


def service_month(
    store: ProjectedStore,
    deal_id: str,
    month: SimulatedMonth,
    period: tuple[date, date],
    tapes: Path,
) -> Decimal:
    """One simulated month as the servicer lives it: its tape written to ``tapes`` and imported
    into the deal's collection ``period``, then everything the servicer holds remitted to the
    trust account at the month's end. Returns the amount remitted (zero or less: none)."""
    start, end = month.period_start, month.period_end
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
    return held


@dataclass(frozen=True)
class DemoDeal:
    """A seed deal scaled to a simulated pool, loaded, boarded and its notes issued."""

    deal: DealDefinition
    pool: list[BoardingRow]
    initial: Decimal
    factor: Decimal
    closing: date
    tapes: Path


def set_up_deal(
    store: ProjectedStore,
    seed: str,
    loans: int,
    random_seed: int,
    out_dir: Path,
    step: Progress = lambda _: None,
) -> DemoDeal:
    """Draw ``loans`` loans shaped like the seed's pool (those failing its criteria dropped),
    scale the seed's deal file to them (``out_dir/deal-<id>.yaml``), load it, board the pool
    from a tape written to ``out_dir/tapes`` and issue the notes."""
    path = deal_file(seed)
    seed_deal = validate_deal_file(path)
    deal_id = seed_deal.deal_id
    tapes = out_dir / "tapes"
    tapes.mkdir(parents=True, exist_ok=True)

    step(f"drawing {loans} loans shaped like seed {seed_deal.seed}'s pool")
    cut_off = seed_deal.calendar.cut_off_date
    pool = eligible_rows(
        seed_deal, simulate_pool(profile(seed_deal.seed), loans, cut_off, random_seed)
    )
    initial = sum((r.outstanding_principal for r in pool), ZERO)
    conv = seed_deal.drb_convention()
    adrb = None if conv is None else sum((boarding_drb(r, cut_off, conv) for r in pool), ZERO)
    text, factor, _ = scaled_deal_text(path.read_text(encoding="utf-8"), initial, adrb)
    scaled = out_dir / f"deal-{deal_id}.yaml"
    scaled.write_text(text, encoding="utf-8")
    load_deal(store, scaled, effective_date=cut_off)
    deal = validate_deal_file(scaled)

    step(f"boarding {len(pool)} loans, issuing the notes")
    boarding = tapes / "boarding.csv"
    write_boarding_csv(pool, boarding)
    board_pool(store, deal_id, boarding)
    # seeds 000 and 004 leave the closing (trust effective) date blank: the demo takes the date
    # the deal file assumes (calendar.assumed_closing_date, with its reason), and says so
    issue_notes(store, deal_id, who=DEMO_TRUSTEE)
    closing = deal.calendar.closing_date or deal.calendar.assumed_closing_date
    assert closing is not None  # issue_notes refuses a deal without either
    return DemoDeal(deal, pool, initial, factor, closing, tapes)


def run_demo(
    store: ProjectedStore,
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
    setup = set_up_deal(store, seed, loans, random_seed, out_dir, step)
    deal, deal_id, pool, tapes = setup.deal, setup.deal.deal_id, setup.pool, setup.tapes
    initial, cut_off, closing = setup.initial, deal.calendar.cut_off_date, setup.closing

    # the simulator works in calendar months from the day after cut-off; each month's tape is
    # imported into the deal's collection period that contains it (seed 001's first period runs
    # from cut-off to the first calculation date, five months)
    deal_periods = list(islice(collection_periods(deal), months + 12))
    first_day = deal.calendar.cut_off_date + timedelta(days=1)
    # the stress month defaults 12% of the performing loans at once, breaching the cumulative
    # default/loss triggers of 001, 002 and 004 (seed 003's short bullet loans have mostly
    # repaid by then, and seed 000 has only declared events)
    params = SimulationParams(
        repurchase_interest=INTEREST_FIELD in price_fields(deal),
        stress_month=stress_month,
        stress_default_rate=Decimal("0.12"),
        first_period=first_day,
    )
    # seeds 001 and 002: on each payment date of the revolving period, Additional Receivables
    # are offered, bought by the cycle and boarded, then serviced with the pool (its list grows)
    serviced = list(pool)
    revolving = revolving_periods(deal, closing)
    purchases: list[RevolvingPurchase] = []
    posted: list[CycleResult] = []
    seen: list[Serviced] = []
    for month in simulate_months(serviced, months, params, random_seed):
        start, end = month.period_start, month.period_end
        period = next(p for p in deal_periods if p[0] <= end <= p[1])
        step(f"servicing {start} to {end}")
        held = service_month(store, deal_id, month, period, tapes)
        bal = _balances(store, deal_id)
        seen.append((start, end, len(month.rows), bal.get(accounts.POOL_PRINCIPAL, ZERO), held))
        if end in revolving:
            step(f"offering additional receivables for {revolving[end].payment_date}")
            average = initial / len(pool)
            bought = buy_additional_receivables(
                store, deal, revolving[end], profile(deal.seed), average, random_seed, tapes
            )
            if bought is not None:
                purchases.append(bought.purchase)
                serviced.extend(bought.rows)
                posted.extend(bought.cycles)

    # every payment date still due, in date order, each one atomic batch; each folds the state
    # as of its determination date, so one run after the servicing gives the same cycles as a
    # run each month (and reads the history once, not once a month); the revolving dates ran
    # above, since what they buy is serviced from the next month
    last_end = seen[-1][1] if seen else cut_off
    step(f"running every payment date up to {last_end}")
    posted += [
        r for r in run_due(store, deal_id, last_end, who=DEMO_TRUSTEE) if r.status == "posted"
    ]
    notes = notes_after_each(store, deal_id, posted)
    cycles = [cycle_summary(r, notes[r.payment_date]) for r in posted]
    figures = month_figures(store, deal, seen)

    # the custodian's statement of each trust bank account, as the ledger says it should read,
    # written out and reconciled: every movement matched, no break (issue 6 item 3)
    step("writing the custodian's statements and reconciling them")
    reconciliation = write_and_reconcile(store, deal_id, out_dir)

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
        scale_factor=setup.factor,
        closing_date=closing,
        closing_date_assumed=deal.calendar.closing_date is None,
        cycles=cycles,
        reconciliation=reconciliation,
        default_ratio=default_ratio_rule(deal).label,
        purchases=purchases,
        stress=None
        if stress_month is None or stress_month > months
        else {
            "month": str(stress_month),
            "period": _month_of(first_day, stress_month - 1),
            "default_rate": str(params.stress_default_rate),
            "what": "that share of the performing loans defaults at once in that month",
        },
    )
    write_summary(result)
    step("writing the trustee and servicer reports of every payment date")
    write_reports(store, deal_id, out_dir)
    return result


def _month_of(first: date, offset: int) -> str:
    index = first.year * 12 + first.month - 1 + offset
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


Serviced = tuple[date, date, int, Decimal, Decimal]
"""A month serviced: first and last day, tape records, pool balance after it, cash remitted."""


def month_figures(
    store: ProjectedStore, deal: DealDefinition, seen: list[Serviced]
) -> list[MonthFigures]:
    """Each month's figures; its cumulative defaults by the deal's definition, from the pool
    report (:func:`projections.pool.pool_periods`) the reports print."""
    by_month = {p.period: p for p in pool_periods(store, deal.deal_id, deal)}
    out = []
    for start, end, records, balance, held in seen:
        p = by_month.get(f"{end:%Y-%m}")
        out.append(
            MonthFigures(
                period_start=start,
                period_end=end,
                records=records,
                pool_balance=balance,
                remitted=max(held, ZERO),
                cumulative_defaults=p.default_ratio_numerator if p else ZERO,
                cumulative_default_base=p.default_ratio_denominator if p else ZERO,
                cumulative_default_ratio=p.cumulative_default_ratio if p else ZERO,
            )
        )
    return out


def notes_after_each(
    store: ProjectedStore, deal_id: str, cycles: list[CycleResult]
) -> dict[date, dict[str, Any]]:
    """The note rows of the (pure) notes projection as they stood after each cycle: one fold
    over the history, read off at each cycle's last event."""
    projection = next(p for p in store.runner.projections if p.name == "notes")
    marks = {r.recorded[-1].deal_seq: r.payment_date for r in cycles if r.recorded}
    state: State = {}
    out: dict[date, dict[str, Any]] = {}
    for event in store.read(deal_id, until_seq=max(marks, default=0)):
        projection.fold(state, event)
        if event.deal_seq in marks:
            out[marks[event.deal_seq]] = {
                k: dict(v.row) for k, v in state.items() if k.startswith("note:")
            }
    return out


def cycle_summary(result: CycleResult, notes: dict[str, Any]) -> dict[str, Any]:
    """What a payment date did, from the events it posted: mode, triggers, each waterfall step
    (due, paid, shortfall) and the note balances after it."""
    out: dict[str, Any] = {
        "payment_date": result.payment_date.isoformat(),
        "mode": result.mode,
        "triggers": {},
        "steps": [],
        "notes": notes,
    }
    for e in result.recorded:
        if e.type == "TriggerEvaluated":
            out["triggers"][e.data.get("trigger_id", e.data.get("trigger", "?"))] = e.data
        elif e.type == "WaterfallExecuted":
            out["steps"] = e.data.get("steps", [])
    return out


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
        "scale_factor": str(result.scale_factor),
        "closing_date": result.closing_date.isoformat(),
        "closing_date_assumed": result.closing_date_assumed,
        "stress_month": result.stress,
        "cumulative_defaults_definition": result.default_ratio,
        "revolving_purchases": purchase_rows(result.purchases),
        "months": rows,
        "payment_dates": result.cycles,
        "bank_reconciliation": {
            "breaks": sum(int(r["breaks"] or 0) for r in result.reconciliation),
            "accounts": result.reconciliation,
        },
    }
    (result.out_dir / "demo-summary.json").write_text(
        json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    with (result.out_dir / "demo-summary.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else ["period_start"])
        writer.writeheader()
        writer.writerows(rows)


def write_reports(store: ProjectedStore, deal_id: str, out_dir: Path) -> list[Path]:
    """Both reports of every payment date in every format, built from the events alone
    (:mod:`ledger.reports`): ``reports/trustee-<payment date>.{html,json,csv,xlsx}`` and
    ``reports/servicer-<collection period end>.*``. The history is read once."""
    folder = out_dir / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    history = History(read_events(store, deal_id))
    written: list[Path] = []
    for day in payment_dates(history.events):
        # the period end before its payment date: the pool is folded forward, date after date
        end = collection_period_end(history.events, day)
        if end is not None:
            servicer = build_servicer_report(history, deal_id, end)
            for fmt in FORMATS:
                written.append(write_report(servicer, folder / f"servicer-{end}.{fmt}", fmt))
        trustee = build_trustee_report(history, deal_id, day)
        for fmt in FORMATS:
            written.append(write_report(trustee, folder / f"trustee-{day}.{fmt}", fmt))
    return written
