"""The demo's revolving purchases: on each payment date of the revolving period the originator
offers Additional Receivables, the payment date's cycle buys what its cash pays for, and the
servicer boards the loans bought, which are then serviced like the rest of the pool.

Every step is the operators' own path (:mod:`ledger.servicing.additional`): the candidates are
drawn shaped like the seed's pool as at the Additional Cut-Off Date (the end of the collection
period before the payment date: seed 001 L17664-17668; seed 002 L166, 00:00 on 2024-06-01),
those failing a revolving eligibility criterion are dropped, the offer is recorded by the
determination date, ``run_due`` posts the cycle (the ``purchase`` step buys whole loans at the
deal's price) and the loans bought are boarded from their tape. The offer is sized to the cash
the purchase step has (read from a dry run of the cycle): seed 001's originator assigns
receivables for the Accumulation Account's balance (L3741-3747, L19883-19897, chosen at random,
L818-824); seed 002's buyer elects a list the principal sub-account pays for (L196-198), the
highest-rate loans first so that the pool's WAC stays at 8% or more (L164 (p)).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date
from decimal import Decimal
from pathlib import Path

from ledger.core.calendar import SchedulePeriod
from ledger.core.expr import evaluate_number
from ledger.core.money import ZERO, round_fen
from ledger.cycle.acts import offer_additional_receivables
from ledger.cycle.schedule import deal_schedule, determination_date
from ledger.cycle.walk import CycleResult, run_due
from ledger.deal.schema import DealDefinition
from ledger.servicing.additional import (
    board_additional_receivables,
    offer_of,
    offered_balance,
    purchase_step,
)
from ledger.servicing.eligibility import eligible_rows
from ledger.servicing.tape_formats import BoardingRow
from ledger.servicing.tape_writers import write_boarding_csv
from ledger.simulation.pool import simulate_pool
from ledger.simulation.pool_profiles import PoolProfile
from projections.store import ProjectedStore


@dataclass(frozen=True)
class RevolvingPurchase:
    """What one payment date of the revolving period bought."""

    payment_date: date
    cut_off_date: date
    basis: str
    available: Decimal
    """Cash the purchase step had (the Accumulation Account / the principal sub-account)."""
    offered_loans: int
    offered_balance: Decimal
    bought_loans: int
    balance: Decimal
    price: Decimal
    failed_tests: tuple[str, ...]
    tape: str | None


def revolving_periods(deal: DealDefinition, closing: date) -> dict[date, SchedulePeriod]:
    """The payment dates of the deal's revolving period, by the end of their collection period
    (the Additional Cut-Off Date); none for a deal that buys nothing."""
    rp = deal.revolving_period
    if rp is None or not any(
        s.kind == "purchase" for steps in deal.waterfalls.values() for s in steps
    ):
        return {}
    schedule = deal_schedule(deal, closing, rp.last_payment_date)
    return {p.collection_period_end: p for p in schedule}


def _dry_purchase(
    store: ProjectedStore, deal: DealDefinition, period: SchedulePeriod
) -> Decimal | None:
    """The cash the payment date's purchase step has, from a dry run of its cycle (None when
    the payment date buys nothing: its revolving period has ended)."""
    planned = run_due(store, deal.deal_id, period.payment_date, dry_run=True)
    for result in planned:
        if result.payment_date != period.payment_date:
            continue
        for e in result.events:
            if e.type == "WaterfallExecuted" and e.data.get("purchases"):
                return Decimal(e.data["purchases"][0]["available"])
    return None


def _candidates(
    deal: DealDefinition,
    profile: PoolProfile,
    period: SchedulePeriod,
    want: Decimal,
    average: Decimal,
    seed: int,
) -> list[BoardingRow]:
    """Eligible receivables as at the period's Additional Cut-Off Date measuring at least
    ``want`` in all (more are drawn until they do), in the order the seller offers them."""
    cut_off = period.collection_period_end
    shaped = dataclasses.replace(
        profile, loan_id_prefix=f"{profile.loan_id_prefix}R{period.index}-"
    )
    n = int(want / average * Decimal("1.3")) + 20
    while True:
        drawn = simulate_pool(shaped, n, cut_off, seed + period.index)
        rows = eligible_rows(deal, drawn, "revolving", cut_off)
        total = sum((offered_balance(deal, r, cut_off) for r in rows), ZERO)
        if total >= want or n > 200_000:
            break
        n *= 2
    pool_tests = any(c.level == "pool" and "revolving" in c.applies_to for c in deal.eligibility)
    if pool_tests:  # the buyer keeps the pool's criteria: the highest rates first
        rows.sort(key=lambda r: (-r.interest_rate, r.loan_id))
    return rows


@dataclass(frozen=True)
class Bought:
    """A revolving payment date in the demo: the purchase, the rows boarded (to service from
    the next month) and the cycles posted on the way (the payment date's own among them)."""

    purchase: RevolvingPurchase
    rows: list[BoardingRow]
    cycles: list[CycleResult]


def buy_additional_receivables(
    store: ProjectedStore,
    deal: DealDefinition,
    period: SchedulePeriod,
    profile: PoolProfile,
    average_balance: Decimal,
    seed: int,
    tapes: Path,
) -> Bought | None:
    """Offer, buy (posting the payment date's cycle) and board Additional Receivables for one
    revolving payment date; None, and nothing posted, when the payment date buys nothing (its
    revolving period has ended, or no cash to buy with)."""
    available = _dry_purchase(store, deal, period)
    if available is None or available <= 0:
        return None
    step = purchase_step(deal)
    params = {f"params.{k}": p.value for k, p in deal.parameters.items()}
    price = evaluate_number(step.price, params)
    cut_off = period.collection_period_end
    rows = _candidates(deal, profile, period, available / price, average_balance, seed)
    chosen: list[BoardingRow] = []
    measured = ZERO
    for r in rows:
        more = offered_balance(deal, r, cut_off)
        if round_fen((measured + more) * price) > available:
            continue
        chosen.append(r)
        measured += more
    if not chosen:
        return None
    offer = offer_of(deal, chosen, cut_off)
    offer_additional_receivables(
        store, deal.deal_id, period.payment_date, cut_off, offer, determination_date(period),
        reference=f"demo offer {period.payment_date}",
    )  # fmt: skip
    posted = run_due(store, deal.deal_id, period.payment_date)
    line = next(
        p
        for r in posted
        for e in r.events
        if e.type == "WaterfallExecuted"
        for p in e.data.get("purchases", ())
    )
    steps = next(e.data["steps"] for r in posted for e in r.events if e.type == "WaterfallExecuted")
    failed = tuple(t for s in steps if s["step_id"] == step.id for t in s.get("failed_tests", ()))
    bought_ids = set(line.get("loan_ids", ()))
    bought = [r for r in chosen if r.loan_id in bought_ids]
    tape = None
    if bought:
        path = tapes / f"additional-{period.payment_date}.csv"
        write_boarding_csv(bought, path)
        board_additional_receivables(store, deal.deal_id, period.payment_date, path)
        tape = path.name
    purchase = RevolvingPurchase(
        payment_date=period.payment_date,
        cut_off_date=cut_off,
        basis=_basis(step.balance_basis),
        available=available,
        offered_loans=len(offer),
        offered_balance=measured,
        bought_loans=len(bought),
        balance=Decimal(line["balance"]),
        price=Decimal(line["price"]),
        failed_tests=failed,
        tape=tape,
    )
    return Bought(purchase, bought, [r for r in posted if r.status == "posted"])


def _basis(basis: str) -> str:
    if basis == "discounted":
        return "Discounted Receivables Balance at the Additional Cut-Off Date"
    return "outstanding principal at the Additional Cut-Off Date"


def purchase_rows(purchases: Sequence[RevolvingPurchase]) -> list[dict[str, str]]:
    """The purchases as summary rows (strings)."""
    return [
        {k: ", ".join(v) if isinstance(v, tuple) else str(v) for k, v in asdict(p).items()}
        for p in purchases
    ]
