"""Driver China Thirteen (seed 001): targeted OC 20%/23%/100%, the 5% subordinated floor, the cash
collateral target max(1.2% ADRB, min(80m, Class A)) and payment dates worked by hand.

Assumed (the circular leaves them blank): Class A coupon 3.00%, Sub coupon 5.00%; other fees nil.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from events.cycle import OfferedReceivable
from ledger.core.journal import apply_entries, trial_balance
from ledger.core.money import round_fen
from ledger.deal import DealDefinition, validate_deal_file
from ledger.deal.names import metric_kind
from ledger.waterfall import NoteState, WaterfallState, run_waterfall
from ledger.waterfall.engine import WaterfallError
from ledger.waterfall.env import DealEnv

D = Decimal
FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "001_driver_china_13.yaml"


@pytest.fixture(scope="module")
def driver() -> DealDefinition:
    return validate_deal_file(FILE)


def driver_state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    metrics: dict[str, Decimal | bool] = {
        name: (False if metric_kind(deal, name) == "bool" else D(0)) for name in deal.metrics
    }
    metrics.update(kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2022, 3, 28),
        "period_index": 4,
        "interest_period_start": dt.date(2022, 2, 26),
        "interest_period_end": dt.date(2022, 3, 26),
        "notes": {
            "class_a": NoteState(balance=D("5000000000.00")),
            "sub": NoteState(balance=D("824000000.00")),
        },
        "metrics": metrics,
    }
    fields.update(kw)
    return WaterfallState(**fields)


def env_value(deal: DealDefinition, state: WaterfallState, name: str) -> Decimal:
    value = DealEnv(deal, state)[name]
    assert isinstance(value, Decimal)
    return value


def test_class_a_targeted_oc_switches_20_23_100(driver: DealDefinition) -> None:
    # L18424-18442: 20% in the Revolving Period, 23% after it, 100% with a CE Increase Condition
    # the Revolving Period runs to the PD in February 2022 (Mon 28 Feb, L19916-19922)
    pd2 = {"period_index": 2, "payment_date": dt.date(2022, 1, 26)}
    revolving = driver_state(driver, **pd2)
    assert env_value(driver, revolving, "defs.class_a_targeted_oc_pct") == D("0.20")
    assert env_value(driver, driver_state(driver), "defs.class_a_targeted_oc_pct") == D("0.23")
    ceic = driver_state(driver, **pd2, triggers={"eae_f_ce_increase": True})
    assert env_value(driver, ceic, "defs.class_a_targeted_oc_pct") == D("1")
    # an Early Amortisation Event ends the Revolving Period early (PD 2 → 23%)
    eae = driver_state(driver, **pd2, triggers={"eae_de_originator": True})
    assert env_value(driver, eae, "defs.class_a_targeted_oc_pct") == D("0.23")


def test_revolving_period_ends_on_the_february_2022_payment_date(driver: DealDefinition) -> None:
    # L19916-19922: to (and including) the PD in February 2022 = 28 Feb 2022 (26 Feb a Saturday)
    def revolving(day: dt.date, **kw: Any) -> bool:
        value = DealEnv(driver, driver_state(driver, payment_date=day, **kw))["period.revolving"]
        assert isinstance(value, bool)
        return value

    assert revolving(dt.date(2021, 12, 27)) and revolving(dt.date(2022, 2, 28))
    assert not revolving(dt.date(2022, 3, 28))
    # any Early Amortisation Event (a trigger with an end_revolving consequence) ends it early
    assert not revolving(dt.date(2022, 1, 26), triggers={"eae_b_accumulation": True})
    assert not revolving(dt.date(2022, 1, 26), triggers={"foreclosure_event": True})
    # the Clean-Up Call has no end_revolving consequence
    assert revolving(dt.date(2022, 1, 26), triggers={"clean_up_exercised": True})
    assert driver.revolving_end_triggers() == (
        "eae_a_servicer_replacement",
        "eae_b_accumulation",
        "eae_c_oc_floor",
        "eae_de_originator",
        "eae_f_ce_increase",
        "foreclosure_event",
    )


def test_cash_collateral_target(driver: DealDefinition) -> None:
    def target(adrb: str, class_a: str, index: int = 4) -> Decimal:
        s = driver_state(
            driver,
            period_index=index,
            payment_date=dt.date(2021, 12, 27) if index == 1 else dt.date(2022, 3, 28),
            metrics={"pool.adrb": D(adrb)},
            notes={"class_a": NoteState(balance=D(class_a)), "sub": NoteState(balance=D("1.00"))},
        )
        return round_fen(env_value(driver, s, "targets.cash_collateral"))

    # L20202-20218: the Initial Cash Collateral Amount during the Revolving Period
    assert target("6258741108.01", "7136000000.00", index=1) == D("96000000.00")
    # after: max(1.2% × ADRB, min(80m, Class A))
    # 1.2% × 5,255,301,144.23 = 63,063,613.73 < min(80m, 5bn) = 80m
    assert target("5255301144.23", "5000000000.00") == D("80000000.00")
    # 1.2% × 8,000,082,110.39 = 96,000,985.32476 > 80m
    assert target("8000082110.39", "5000000000.00") == D("96000985.32")
    # Class A down to 50m: max(1.2% × 2,392,602,594.65 = 28,711,231.14, min(80m, 50m)) = 50m
    assert target("2392602594.65", "50000000.00") == D("50000000.00")
    # Class A repaid: 1.2% × 163,796,210.69 = 1,965,554.528.. → 1,965,554.53
    assert target("163796210.69", "0.00") == D("1965554.53")


def test_amortising_payment_date_with_sub_floor_and_cca_release(driver: DealDefinition) -> None:
    state = driver_state(
        driver,
        accounts={"distribution": D("400000000.00"), "cash_collateral": D("96000000.00")},
        metrics={"pool.adrb": D("6000000000.00"), "pool.adrb_start": D("6300000000.00")},
    )
    result = run_waterfall(driver, state)
    assert result.mode == "amortising"
    # second: Servicer Fee 1%/12 × 6,300,000,000.00 = 5,250,000.00 (L20008-20014)
    assert result.paid("second") == D("5250000.00")
    # fourth: 5,000,000,000.00 × 3% × 28/365 = 11,506,849.315.. → 11,506,849.32
    assert result.paid("fourth") == D("11506849.32")
    # fifth: target max(72m, min(80m, 5bn)) = 80m < 96m held → nothing
    assert result.paid("fifth") == 0
    # sixth: Targeted Note Balance 6bn − 23% × 6bn = 4,620,000,000.00 → 380,000,000.00 due, paid
    # from 400m − 5.25m − 11,506,849.32 = 383,243,150.68
    assert result.paid("sixth") == D("380000000.00")
    # seventh: 824,000,000.00 × 5% × 28/365 = 3,160,547.945.. → 3,160,547.95; 82,602.73 left
    assert result.paid("seventh") == D("3160547.95")
    # eighth: floor 4,620,000,000.00 × 5%/95% = 243,157,894.736.. → 243,157,894.74; all the
    # 82,602.73 left goes to Sub principal
    (eighth,) = result.lines("eighth")
    assert (eighth.due, eighth.paid) == (D("580842105.26"), D("82602.73"))
    assert result.paid("ninth") == 0
    # CCA excess 96m − 80m = 16m: Sub interest already paid, then Sub principal above its floor
    assert result.paid("cca.release.first") == 0
    assert result.paid("cca.release.second") == D("16000000.00")
    assert result.paid("cca.release.third") == 0
    assert result.closing_accounts["cash_collateral"] == D("80000000.00")
    assert result.note_balances == {"class_a": D("4620000000.00"), "sub": D("807917397.27")}
    assert trial_balance(apply_entries({}, result.entries)) == 0


def test_sub_floor_rounds_up_so_that_no_less_than_5pct_holds(driver: DealDefinition) -> None:
    """Seed 001 L3723-3737: Sub after repayment "no less than 5% of the then outstanding
    principal amount of the Notes". The floor S >= A/19 is rounded up to the fen (``ceil_fen``);
    half-up would leave the Sub a fraction of a fen below 5%."""
    state = driver_state(
        driver,
        accounts={"distribution": D("1000000000.00"), "cash_collateral": D("80000000.00")},
        metrics={"pool.adrb": D("6000000000.10"), "pool.adrb_start": D("6300000000.00")},
    )
    result = run_waterfall(driver, state)
    # sixth: TNB round(6,000,000,000.10 × 0.77 = 4,620,000,000.077) = 4,620,000,000.08, so
    # 5,000,000,000.00 − 4,620,000,000.08 = 379,999,999.92
    assert result.paid("sixth") == D("379999999.92")
    a = result.note_balances["class_a"]
    assert a == D("4620000000.08")
    # floor: 4,620,000,000.08 / 19 = 243,157,894.74105.. → 243,157,894.75 (half-up: .74, and
    # 5% × (4,620,000,000.08 + 243,157,894.74) = 243,157,894.7410 > .74 would fail the floor)
    (eighth,) = result.lines("eighth")
    assert (eighth.due, eighth.paid) == (D("580842105.25"), D("580842105.25"))
    s = result.note_balances["sub"]
    assert s == D("243157894.75")
    assert s * 95 >= a * 5  # S >= 5% × (A + S), exactly
    assert (s - D("0.01")) * 95 < a * 5  # and no fen more is kept back
    # ninth: 1bn − 5,250,000.00 − 11,506,849.32 − 379,999,999.92 − 3,160,547.95 − 580,842,105.25
    assert result.paid("ninth") == D("19240497.56")
    # exact multiples of 19 fen stay exact: ceil_fen(19.00 × 5% / 95%) = 1.00
    exact = driver_state(driver, notes={"class_a": NoteState(balance=D("19.00")),
                                        "sub": NoteState(balance=D("824000000.00"))})  # fmt: skip
    assert env_value(driver, exact, "defs.sub_floor_balance") == D("1.00")


def test_revolving_payment_date_accumulates_and_buys_receivables(driver: DealDefinition) -> None:
    # first PD 27 Dec 2021; interest 17 Nov - 26 Dec = 39 days; November collections of the
    # run-out table (L4148-4313): principal 347,230,959.06 + interest 28,279,627.84
    state = driver_state(
        driver,
        payment_date=dt.date(2021, 12, 27),
        period_index=1,
        interest_period_start=dt.date(2021, 11, 17),
        interest_period_end=dt.date(2021, 12, 26),
        accounts={"distribution": D("375510586.90"), "cash_collateral": D("96000000.00")},
        notes={
            "class_a": NoteState(balance=D("7136000000.00")),
            "sub": NoteState(balance=D("824000000.00")),
        },
        metrics={
            "pool.adrb": D("6258741108.01"),
            "pool.adrb_start": D("6605972067.07"),
            "revolving.offered_balance": D("400000000.00"),
        },
    )
    result = run_waterfall(driver, state)
    assert result.mode == "revolving"
    # Servicer Fee 1%/12 × 6,605,972,067.07 = 5,504,976.722.. → 5,504,976.72
    assert result.paid("second") == D("5504976.72")
    # Class A interest 7,136,000,000.00 × 3% × 39/365 = 22,874,301.369.. → 22,874,301.37
    assert result.paid("fourth") == D("22874301.37")
    # Class A Cash Component (7,136,000,000.00 / 0.80 − 6,258,741,108.01) × 98.3%
    # = 2,661,258,891.99 × 0.983 = 2,616,017,490.826.. → 2,616,017,490.83 due; only
    # 375,510,586.90 − 5,504,976.72 − 22,874,301.37 = 347,131,308.81 is there
    (sixth,) = result.lines("sixth")
    assert (sixth.due, sixth.paid) == (D("2616017490.83"), D("347131308.81"))
    # Additional Receivables bought out of the Accumulation Account on the same PD (L11099-11105)
    # at 98.3% of their DRB (L17709-17723): DRB 400,000,000.00 offered costs 393,200,000.00; the
    # 347,131,308.81 there buys 347,131,308.81 / 0.983 = 353,134,596.958.. and, with the price
    # rounded half-up, 353,134,596.96 × 0.983 = 347,131,308.81168 → 347,131,308.81 (one fen
    # more, .97, would cost 347,131,308.82)
    (purchase,) = result.lines("sixth.purchase")
    assert (purchase.due, purchase.paid) == (D("393200000.00"), D("347131308.81"))
    assert purchase.destination == "payable:party:originator"
    (bought,) = result.purchases
    assert (bought.seller, bought.offered, bought.balance, bought.price) == (
        "originator",
        D("400000000.00"),
        D("353134596.96"),
        D("347131308.81"),
    )
    assert result.closing_accounts["accumulation"] == D("0.00")
    # Class A does not amortise; Sub interest 824m × 5% × 39/365 = 4,402,191.78 is carried
    assert result.note_balances["class_a"] == D("7136000000.00")
    assert result.interest_shortfalls["sub"] == D("4402191.78")
    # the CCA target is 96m during the Revolving Period: no release
    assert result.closing_accounts["cash_collateral"] == D("96000000.00")


def test_listed_receivables_are_bought_whole_in_the_offers_order(driver: DealDefinition) -> None:
    # the first PD of the test above: 347,131,308.81 in the Accumulation Account after item
    # sixth; the offer lists four receivables by DRB, bought whole, the longest prefix of the
    # list the account pays for at 98.3% (L17709-17723)
    listed = (
        OfferedReceivable(loan_id="R1", balance=D("200000000.00"), rate=D("0.04")),
        OfferedReceivable(loan_id="R2", balance=D("150000000.00"), rate=D("0.05")),
        OfferedReceivable(loan_id="R3", balance=D("3200000.00"), rate=D("0.06")),
        OfferedReceivable(loan_id="R4", balance=D("100.00"), rate=D("0.06")),
    )
    total = sum((r.balance for r in listed), D(0))
    state = driver_state(
        driver,
        payment_date=dt.date(2021, 12, 27),
        period_index=1,
        interest_period_start=dt.date(2021, 11, 17),
        interest_period_end=dt.date(2021, 12, 26),
        accounts={"distribution": D("375510586.90"), "cash_collateral": D("96000000.00")},
        notes={
            "class_a": NoteState(balance=D("7136000000.00")),
            "sub": NoteState(balance=D("824000000.00")),
        },
        metrics={
            "pool.adrb": D("6258741108.01"),
            "pool.adrb_start": D("6605972067.07"),
            "revolving.offered_balance": total,
        },
        offered_receivables=listed,
    )
    result = run_waterfall(driver, state)
    (bought,) = result.purchases
    # R1 + R2 = 350,000,000.00 × 0.983 = 344,050,000.00; + R3: 353,200,000.00 × 0.983 =
    # 347,195,600.00 > 347,131,308.81, so R3 is not bought, nor R4 after it (the offer's order)
    assert bought.loan_ids == ("R1", "R2")
    assert (bought.balance, bought.price) == (D("350000000.00"), D("344050000.00"))
    assert bought.available == D("347131308.81")
    assert result.closing_accounts["accumulation"] == D("3081308.81")
    # the offer's balance is the listed loans' total, or the run refuses
    wrong = state.model_copy(
        update={"metrics": {**state.metrics, "revolving.offered_balance": D("1.00")}}
    )
    with pytest.raises(WaterfallError, match=r"receivables listed total 353200100\.00"):
        run_waterfall(driver, wrong)


def test_post_foreclosure_uses_the_cash_collateral_and_pays_class_a_first(
    driver: DealDefinition,
) -> None:
    state = driver_state(
        driver,
        accounts={"distribution": D("100000000.00"), "cash_collateral": D("80000000.00")},
        metrics={"pool.adrb": D("1000000000.00"), "pool.adrb_start": D("1200000000.00")},
        triggers={"foreclosure_event": True},
    )
    result = run_waterfall(driver, state)
    assert result.mode == "post_foreclosure"
    # 180,000,000.00 pooled − fee 1,000,000.00 − interest 11,506,849.32 = 167,493,150.68
    assert result.paid("fifth") == D("167493150.68")
    assert result.paid("seventh") == 0
    assert result.closing_accounts["cash_collateral"] == 0


def test_every_step_cites_the_circular(driver: DealDefinition) -> None:
    for steps in driver.waterfalls.values():
        for step in steps:
            assert step.clause.startswith("seed 001 L"), step.id


def test_clean_up_call_lifts_the_subordinated_floor(driver: DealDefinition) -> None:
    # Class A repaid, Clean-Up Call exercised (item eighth (ii), L3731-3737): Sub to zero
    state = driver_state(
        driver,
        accounts={"distribution": D("900000000.00"), "cash_collateral": D("0.00")},
        notes={
            "class_a": NoteState(balance=D("0.00")),
            "sub": NoteState(balance=D("824000000.00")),
        },
        metrics={"pool.adrb": D("700000000.00"), "pool.adrb_start": D("720000000.00")},
        triggers={"clean_up_exercised": True},
    )
    result = run_waterfall(driver, state)
    # servicer fee 1%/12 × 720,000,000.00 = 600,000.00; CCA target max(1.2% × 700m = 8.4m,
    # min(80m, 0)) = 8,400,000.00; Sub interest 824m × 5% × 28/365 = 3,160,547.95
    assert result.paid("fifth") == D("8400000.00")
    assert result.paid("seventh") == D("3160547.95")
    assert result.paid("eighth") == D("824000000.00")
    # 900,000,000.00 − 600,000.00 − 8,400,000.00 − 3,160,547.95 − 824,000,000.00 = 63,839,452.05
    assert result.paid("ninth") == D("63839452.05")
    without_call = run_waterfall(driver, state.model_copy(update={"triggers": {}}))
    # with Class A at zero the 5% floor is 0 as well (S >= 5% × (0 + S) only binds S = 0)
    assert without_call.paid("eighth") == D("824000000.00")


def early_amortisation_state(driver: DealDefinition, trigger: str) -> WaterfallState:
    # PD 2 (26 Jan 2022, interest 26 Dec - 26 Jan = 31 days) is still in the Revolving Period but an
    # Early Amortisation Event ends it (L18807-18845); Sub interest 4,402,191.78 carried from PD 1
    return driver_state(
        driver,
        payment_date=dt.date(2022, 1, 26),
        period_index=2,
        interest_period_start=dt.date(2021, 12, 26),
        interest_period_end=dt.date(2022, 1, 26),
        accounts={"distribution": D("400000000.00"), "cash_collateral": D("96000000.00")},
        notes={
            "class_a": NoteState(balance=D("7136000000.00")),
            "sub": NoteState(balance=D("824000000.00"), interest_shortfall=D("4402191.78")),
        },
        metrics={"pool.adrb": D("6000000000.00"), "pool.adrb_start": D("6258741108.01")},
        triggers={trigger: True},
    )


def test_ce_increase_condition_turbos_class_a_and_keeps_the_cash_collateral(
    driver: DealDefinition,
) -> None:
    result = run_waterfall(driver, early_amortisation_state(driver, "eae_f_ce_increase"))
    assert result.mode == "amortising"
    # second: 1%/12 x 6,258,741,108.01 = 62,587,411.0801/12 = 5,215,617.590.. -> 5,215,617.59
    assert result.paid("second") == D("5215617.59")
    # fourth: 7,136,000,000.00 x 3% x 31/365 = 6,636,480,000/365 = 18,182,136.986.. -> 18,182,136.99
    assert result.paid("fourth") == D("18182136.99")
    # fifth: target max(1.2% x 6bn = 72m, min(80m, Class A)) = 80m < 96m held: nothing
    assert result.paid("fifth") == 0
    # sixth: Targeted OC 100% (L18424-18442): target 6bn - 100% x 6bn = 0, so the whole Class A
    # is due; paid 400,000,000.00 - 5,215,617.59 - 18,182,136.99 = 376,602,245.42
    (sixth,) = result.lines("sixth")
    assert (sixth.due, sixth.paid) == (D("7136000000.00"), D("376602245.42"))
    assert result.note_balances["class_a"] == D("6759397754.58")
    # seventh: 824m x 5% x 31/365 = 1,277,200,000/365 = 3,499,178.082.. -> 3,499,178.08 + carried
    # 4,402,191.78 = 7,901,369.86, nothing left: carried again
    assert result.interest_shortfalls["sub"] == D("7901369.86")
    # no CCA release while a Credit Enhancement Increase Condition is in effect (L11004-11007):
    # the 16m above the 80m target stays
    assert all(line.skipped for line in result.lines("cca.release.first"))
    assert result.closing_accounts["cash_collateral"] == D("96000000.00")
    assert trial_balance(apply_entries({}, result.entries)) == 0


def test_other_early_amortisation_event_targets_23pct_and_releases_the_cca_excess(
    driver: DealDefinition,
) -> None:
    result = run_waterfall(driver, early_amortisation_state(driver, "eae_de_originator"))
    assert result.mode == "amortising"
    # sixth: 23% OC: target 6bn - 23% x 6bn = 4,620,000,000.00 -> 2,516,000,000.00 due, the same
    # 376,602,245.42 paid
    (sixth,) = result.lines("sixth")
    assert (sixth.due, sixth.paid) == (D("2516000000.00"), D("376602245.42"))
    # CCA excess 96m - 80m = 16m: first Sub interest 7,901,369.86, then Sub principal with the
    # 16,000,000.00 - 7,901,369.86 = 8,098,630.14 left (floor 6,759,397,754.58 x 5%/95% =
    # 355,757,776.56, far below 824m)
    assert result.paid("cca.release.first") == D("7901369.86")
    assert result.paid("cca.release.second") == D("8098630.14")
    assert result.paid("cca.release.third") == 0
    assert result.note_balances["sub"] == D("815901369.86")
    assert result.closing_accounts["cash_collateral"] == D("80000000.00")


def test_enforcement_repays_class_a_in_full_then_sub_interest_and_principal(
    driver: DealDefinition,
) -> None:
    # Post-Foreclosure Order of Priority (L3756-3806): Class A 100m left, CCA 80m joins the funds
    state = driver_state(
        driver,
        accounts={"distribution": D("300000000.00"), "cash_collateral": D("80000000.00")},
        notes={
            "class_a": NoteState(balance=D("100000000.00")),
            "sub": NoteState(balance=D("824000000.00")),
        },
        metrics={"pool.adrb": D("900000000.00"), "pool.adrb_start": D("950000000.00")},
        triggers={"foreclosure_event": True},
    )
    result = run_waterfall(driver, state)
    assert result.mode == "post_foreclosure"
    assert result.paid("pool.cca") == D("80000000.00")
    # servicer fee 1%/12 x 950,000,000.00 = 791,666.666.. -> 791,666.67
    assert result.paid("second") == D("791666.67")
    # Class A interest 100m x 3% x 28/365 = 84,000,000/365 = 230,136.986.. -> 230,136.99
    assert result.paid("fourth") == D("230136.99")
    assert result.paid("fifth") == D("100000000.00")
    # Sub interest 824m x 5% x 28/365 = 3,160,547.95; Sub principal (floor 0 with Class A repaid):
    # 380,000,000.00 - 791,666.67 - 230,136.99 - 100,000,000.00 - 3,160,547.95 = 275,817,648.39
    assert result.paid("sixth") == D("3160547.95")
    assert result.paid("seventh") == D("275817648.39")
    assert result.paid("eighth") == 0
    assert result.note_balances == {"class_a": D("0.00"), "sub": D("548182351.61")}
    assert trial_balance(apply_entries({}, result.entries)) == 0
