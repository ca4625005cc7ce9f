"""Heying / All Trust lease ABN 2023-2 (seed 000) payment dates worked by hand.

The deck fixes the four classes (L102), the 2.40% reserve (L193), C1's "principal and Expected
Total Yield after all senior classes are paid off" (L107) and the post-EoD class-by-class order
(L183); its payment diagrams are blank (L164-171), so the pre-EoD order and every rate are the
ASSUMED design of docs/deals/000_weshare_lease_abn.md: A 2.80%, B 3.50%, C1 yield 5.00%, Act/365;
taxes 3.26% of income collections; admin 0.05% + servicer 0.30% p.a. of the pool at the start of
the collection period; expense cap 150,000.00 per payment date.

Modes: the deal has a normal (pre-EoD) and a post-default order only. The deck has no revolving
period ("Pass-through Amortization", L107), no acceleration event distinct from the EoD (L182-183)
and no clean-up call (extract §5); the last test pins that.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.core.money import round_fen
from ledger.deal import DealDefinition, validate_deal_file
from ledger.waterfall import NoteState, WaterfallState, run_waterfall, select_mode
from ledger.waterfall.env import DealEnv
from tests.waterfall_checks import cash_conserved

D = Decimal
FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "000_weshare_lease_abn.yaml"


@pytest.fixture(scope="module")
def weshare() -> DealDefinition:
    return validate_deal_file(FILE)


def notes(a: str, b: str, c1: str = "46000000.00", c2: str = "37000000.00") -> dict[str, NoteState]:
    return {
        "A": NoteState(balance=D(a)),
        "B": NoteState(balance=D(b)),
        "C1": NoteState(balance=D(c1)),
        "C2": NoteState(balance=D(c2)),
    }


def state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    """A 31-day interest period 2024-05-27 .. 2024-06-27 (payment dates on the 27th, L106)."""
    metrics: dict[str, Decimal | bool] = {name: D(0) for name in deal.metrics}
    metrics.update(kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2024, 6, 27),
        "period_index": 9,
        "interest_period_start": dt.date(2024, 5, 27),
        "interest_period_end": dt.date(2024, 6, 27),
        "metrics": metrics,
    }
    fields.update(kw)
    return WaterfallState(**fields)


def test_reserve_target_is_2_40_pct_of_the_original_notes(weshare: DealDefinition) -> None:
    def target(a: str, b: str) -> Decimal:
        value = DealEnv(weshare, state(weshare, notes=notes(a, b)))["targets.reserve"]
        assert isinstance(value, Decimal)
        return round_fen(value)

    # L193: 2.40% x original principal of the notes 386,000,000.00 (L97, L102) = 9,264,000.00;
    # the base is the original amount, so it does not step down as the notes amortise
    assert target("244000000.00", "59000000.00") == D("9264000.00")
    assert target("1000.00", "59000000.00") == D("9264000.00")
    assert target("0.00", "1.00") == D("9264000.00")
    # ASSUMED step to zero once Class A and B are repaid (sheet §4)
    assert target("0.00", "0.00") == D("0.00")


def test_normal_date_cures_the_pdl_and_turbos_class_a(weshare: DealDefinition) -> None:
    # Sheet example 1: A 200m, B 59m, pool at period start 342,100,000.00, income 1,900,000.00,
    # principal 10,000,000.00, expenses in cap 20,000.00, defaults 500,000.00, reserve at target
    s = state(
        weshare,
        notes=notes("200000000.00", "59000000.00"),
        accounts={
            "income": D("1900000.00"),
            "principal": D("10000000.00"),
            "reserve": D("9264000.00"),
        },
        fees_incurred={"expenses": D("20000.00")},
        metrics={
            "pool.balance_period_start": D("342100000.00"),
            "collected.income": D("1900000.00"),
            "pool.cumulative_defaults": D("500000.00"),
        },
    )
    result = run_waterfall(weshare, s)
    assert result.mode == "normal"
    assert result.paid("reserve.release") == 0  # 9,264,000.00 is the target
    assert result.paid("reserve.draw") == 0
    assert result.paid("principal.1") == 0
    # 1: 3.26% x 1,900,000.00 = 61,940.00
    assert result.paid("income.1") == D("61940.00")
    # 2: admin 342,100,000.00 x 0.05% x 31/365 = 5,302,550/365 = 14,527.534.. -> 14,527.53;
    #    servicer x 0.30% = 31,815,300/365 = 87,165.205.. -> 87,165.21; expenses 20,000.00
    assert [line.paid for line in result.lines("income.2")] == [
        D("14527.53"),
        D("87165.21"),
        D("20000.00"),
    ]
    # 3: A 200,000,000.00 x 2.80% x 31/365 = 173,600,000/365 = 475,616.438.. -> 475,616.44
    assert result.paid("income.3") == D("475616.44")
    # 4: B 59,000,000.00 x 3.50% x 31/365 = 64,015,000/365 = 175,383.561.. -> 175,383.56
    assert result.paid("income.4") == D("175383.56")
    assert result.paid("income.5") == 0
    # 6: PDL = defaults 500,000.00 + cover 0 - cured 0 -> principal
    assert result.paid("income.6") == D("500000.00")
    assert result.closing_accounts["cum_pdl_cured"] == D("500000.00")
    # 8: 1,900,000.00 - 61,940.00 - 121,692.74 - 475,616.44 - 175,383.56 - 500,000.00
    #    = 565,367.26 turbo to principal (L188)
    assert result.paid("income.8") == D("565367.26")
    # Class A: 10,000,000.00 + 500,000.00 + 565,367.26 = 11,065,367.26 -> 188,934,632.74 left
    assert result.paid("principal.2") == D("11065367.26")
    assert result.note_balances["A"] == D("188934632.74")
    assert result.paid("principal.3") == 0
    # C1's Expected Total Yield 46,000,000.00 x 5% x 31/365 = 71,300,000/365 = 195,342.465..
    # -> 195,342.47 is not paid while the seniors are outstanding; it is carried (L107)
    (c1_yield,) = result.lines("principal.5")
    assert (c1_yield.due, c1_yield.paid, c1_yield.carried_forward) == (
        D("195342.47"),
        D("0.00"),
        D("195342.47"),
    )
    assert result.interest_shortfalls["C1"] == D("195342.47")
    cash_conserved(result, weshare)


def short_income_state(deal: DealDefinition, reserve: str) -> WaterfallState:
    # Sheet example 2: 30-day period 2024-05-27 .. 06-26, A 150m, B 59m, pool 290,000,000.00,
    # income 400,000.00, principal 9,000,000.00, expenses 20,000.00, no defaults
    return state(
        deal,
        interest_period_end=dt.date(2024, 6, 26),
        notes=notes("150000000.00", "59000000.00"),
        accounts={"income": D("400000.00"), "principal": D("9000000.00"), "reserve": D(reserve)},
        fees_incurred={"expenses": D("20000.00")},
        metrics={
            "pool.balance_period_start": D("290000000.00"),
            "collected.income": D("400000.00"),
        },
    )


def test_reserve_covers_senior_costs_before_principal(weshare: DealDefinition) -> None:
    result = run_waterfall(weshare, short_income_state(weshare, "9264000.00"))
    # items 1-4: taxes 3.26% x 400,000.00 = 13,040.00; admin 290m x 0.05% x 30/365 =
    # 4,350,000/365 = 11,917.808.. -> 11,917.81; servicer x 0.30% = 26,100,000/365 = 71,506.849..
    # -> 71,506.85; expenses 20,000.00; A 150m x 2.80% x 30/365 = 126,000,000/365 = 345,205.479..
    # -> 345,205.48; B 59m x 3.50% x 30/365 = 61,950,000/365 = 169,726.027.. -> 169,726.03;
    # total 631,396.17, so the reserve draws 631,396.17 - 400,000.00 = 231,396.17
    assert result.paid("reserve.draw") == D("231396.17")
    assert result.paid("principal.1") == 0
    assert result.paid("income.3") == D("345205.48")
    assert result.paid("income.4") == D("169726.03")
    (top_up,) = result.lines("income.5")
    assert (top_up.due, top_up.paid) == (D("231396.17"), D("0.00"))
    # the whole 9,000,000.00 of principal repays Class A: 150m -> 141,000,000.00
    assert result.note_balances["A"] == D("141000000.00")
    assert result.closing_accounts["reserve"] == D("9032603.83")  # 9,264,000.00 - 231,396.17
    assert result.closing_accounts["cum_principal_to_income"] == 0
    cash_conserved(result, weshare)


def test_principal_covers_what_the_reserve_cannot(weshare: DealDefinition) -> None:
    result = run_waterfall(weshare, short_income_state(weshare, "100000.00"))
    # same dues 631,396.17: reserve gives all its 100,000.00, principal the remaining
    # 631,396.17 - 400,000.00 - 100,000.00 = 131,396.17 (recorded as principal-to-income cover)
    assert result.paid("reserve.draw") == D("100000.00")
    assert result.paid("principal.1") == D("131396.17")
    assert result.closing_accounts["cum_principal_to_income"] == D("131396.17")
    # top-up due 9,264,000.00 and PDL cure due 131,396.17, nothing left to pay either
    assert [line.due for line in result.lines("income.5")] == [D("9264000.00")]
    (cure,) = result.lines("income.6")
    assert (cure.due, cure.paid) == (D("131396.17"), D("0.00"))
    # Class A gets 9,000,000.00 - 131,396.17 = 8,868,603.83 -> 141,131,396.17 left
    assert result.paid("principal.2") == D("8868603.83")
    assert result.note_balances["A"] == D("141131396.17")
    cash_conserved(result, weshare)


def test_seniors_repaid_release_the_reserve_to_c1_then_its_yield_then_c2(
    weshare: DealDefinition,
) -> None:
    s = state(
        weshare,
        notes={
            "A": NoteState(balance=D("0.00")),
            "B": NoteState(balance=D("0.00")),
            "C1": NoteState(balance=D("46000000.00"), interest_shortfall=D("1000000.00")),
            "C2": NoteState(balance=D("37000000.00")),
        },
        accounts={
            "income": D("600000.00"),
            "principal": D("40000000.00"),
            "reserve": D("9264000.00"),
        },
        metrics={
            "pool.balance_period_start": D("80000000.00"),
            "collected.income": D("600000.00"),
        },
    )
    result = run_waterfall(weshare, s)
    # the target is 0 once A and B are repaid: the whole 9,264,000.00 goes to principal
    assert result.paid("reserve.release") == D("9264000.00")
    # taxes 3.26% x 600,000.00 = 19,560.00; admin 80m x 0.05% x 31/365 = 1,240,000/365 =
    # 3,397.260.. -> 3,397.26; servicer x 0.30% = 7,440,000/365 = 20,383.561.. -> 20,383.56
    assert result.paid("income.1") == D("19560.00")
    assert result.paid("income.2") == D("23780.82")
    # remainder 600,000.00 - 19,560.00 - 23,780.82 = 556,659.18 to principal
    assert result.paid("income.8") == D("556659.18")
    # principal 40,000,000.00 + 9,264,000.00 + 556,659.18 = 49,820,659.18:
    # C1 principal first (L107) 46,000,000.00, then its yield 195,342.47 + 1,000,000.00 carried
    # = 1,195,342.47, then C2 2,625,316.71
    assert result.paid("principal.4") == D("46000000.00")
    assert result.paid("principal.5") == D("1195342.47")
    assert result.interest_shortfalls["C1"] == 0
    assert result.paid("principal.6") == D("2625316.71")
    assert result.note_balances["C2"] == D("34374683.29")
    assert result.closing_accounts["reserve"] == 0
    cash_conserved(result, weshare)


def post_default_state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    # Sheet example 3: A 60m, B 59m, pool 180,000,000.00, income 900,000.00, principal
    # 8,000,000.00, reserve 9,264,000.00, expenses 100,000.00
    return state(
        deal,
        notes=notes("60000000.00", "59000000.00"),
        accounts={
            "income": D("900000.00"),
            "principal": D("8000000.00"),
            "reserve": D("9264000.00"),
        },
        fees_incurred={"expenses": D("100000.00")},
        metrics={
            "pool.balance_period_start": D("180000000.00"),
            "collected.income": D("900000.00"),
        },
        **kw,
    )


def test_post_default_pays_class_a_in_full_before_class_b_interest(
    weshare: DealDefinition,
) -> None:
    s = post_default_state(weshare, triggers={"event_of_default": True})
    assert select_mode(weshare, s) == "post_default"
    result = run_waterfall(weshare, s)
    # pot 900,000.00 + 8,000,000.00 + 9,264,000.00 = 18,164,000.00
    assert result.paid("pool.reserve") == D("9264000.00")
    # taxes 3.26% x 900,000.00 = 29,340.00; admin 180m x 0.05% x 31/365 = 2,790,000/365 =
    # 7,643.835.. -> 7,643.84; servicer 16,740,000/365 = 45,863.013.. -> 45,863.01; expenses
    # 100,000.00 uncapped
    assert result.paid("default.1") == D("29340.00")
    assert result.paid("default.2") == D("153506.85")
    # A interest 60m x 2.80% x 31/365 = 52,080,000/365 = 142,684.931.. -> 142,684.93
    assert result.paid("default.3") == D("142684.93")
    # A principal: 18,164,000.00 - 29,340.00 - 153,506.85 - 142,684.93 = 17,838,468.22
    assert result.paid("default.4") == D("17838468.22")
    assert result.note_balances["A"] == D("42161531.78")
    # B interest 175,383.56 comes only after Class A is repaid (L183): unpaid, carried
    (b_interest,) = result.lines("default.5")
    assert (b_interest.due, b_interest.paid) == (D("175383.56"), D("0.00"))
    assert result.interest_shortfalls["B"] == D("175383.56")
    assert result.paid("default.6") == 0
    cash_conserved(result, weshare)

    # the same cash before an EoD pays Class B interest ahead of any Class A principal
    normal = run_waterfall(weshare, post_default_state(weshare))
    assert normal.mode == "normal"
    assert normal.paid("income.4") == D("175383.56")


def test_the_deal_has_no_revolving_acceleration_or_clean_up_mode(weshare: DealDefinition) -> None:
    assert set(weshare.waterfalls) == {"normal", "post_default"}
    assert weshare.clean_up_call is None
    assert [rule.mode for rule in weshare.modes] == ["post_default"]
