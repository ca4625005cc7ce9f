"""Rules of the seeds the cycle did not compute before issue 13, each with a hand-computed figure:
Driver China Thirteen's Early Amortisation Event (b) and clean-up test (seed 001 items 1, 7),
温惠's expected-maturity accelerations (seed 003 item 14), 盛世融迪's reserve inputs and business
days (seed 004 items 12, 13).

The payment dates are planned by :func:`ledger.cycle.plan.plan_cycle` from a determination state
built here, as the cycle's fold would give it, so every event of the date is checked.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.core.calendar import SchedulePeriod
from ledger.core.expr import ExprError
from ledger.cycle.plan import plan_cycle
from ledger.cycle.schedule import deal_schedule
from ledger.cycle.state import DeterminationState
from ledger.deal import DealDefinition, validate_deal_file
from ledger.deal.names import metric_kind
from ledger.waterfall import NoteState, WaterfallState, run_waterfall, select_mode
from ledger.waterfall.env import DealEnv
from ledger.waterfall.triggers import evaluate_trigger
from tests.waterfall_checks import cash_conserved

D = Decimal
DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"


@pytest.fixture(scope="module")
def driver() -> DealDefinition:
    return validate_deal_file(DEALS / "001_driver_china_13.yaml")


@pytest.fixture(scope="module")
def wenhui() -> DealDefinition:
    return validate_deal_file(DEALS / "003_wenhui_2024_1.yaml")


@pytest.fixture(scope="module")
def byd() -> DealDefinition:
    return validate_deal_file(DEALS / "004_byd_2021_2.yaml")


def with_param(deal: DealDefinition, name: str, value: str) -> DealDefinition:
    params = dict(deal.parameters)
    params[name] = params[name].model_copy(update={"value": D(value)})
    return deal.model_copy(update={"parameters": params})


def period_of(deal: DealDefinition, closing: dt.date, payment_date: dt.date) -> SchedulePeriod:
    (period,) = [
        p
        for p in deal_schedule(deal, closing, payment_date + dt.timedelta(days=5))
        if p.payment_date == payment_date
    ]
    return period


def zero_metrics(deal: DealDefinition, **values: Decimal | bool) -> dict[str, Decimal | bool]:
    """Every declared metric (false / zero), then ``values`` (``__`` for ``.``)."""
    out: dict[str, Decimal | bool] = {
        n: (False if metric_kind(deal, n) == "bool" else D(0)) for n in deal.metrics
    }
    out.update({k.replace("__", "."): v for k, v in values.items()})
    return out


def determination(
    deal: DealDefinition,
    period: SchedulePeriod,
    closing: dt.date,
    next_as_of: dt.date,
    **ws: Any,
) -> DeterminationState:
    """The trust at ``period``'s determination date, nothing left to split."""
    waterfall = WaterfallState(
        payment_date=period.payment_date,
        period_index=period.index,
        interest_period_start=period.interest_period_start,
        interest_period_end=period.interest_period_end,
        closing_date=closing,
        collection_period_end=period.collection_period_end,
        next_determination_date=next_as_of,
        **ws,
    )
    return DeterminationState(
        deal_id=deal.deal_id,
        waterfall=waterfall,
        declared=frozenset(),
        collections_cash=D(0),
        unsplit_items={},
        note_originals={nid: n.amount for nid, n in deal.notes.items()},
        pool_performing=D(0),
        pool_defaulted=D(0),
    )


def planned(
    deal: DealDefinition, state: DeterminationState, period: SchedulePeriod
) -> dict[str, Any]:
    """The planned events of the date by type (a list for the repeated ones)."""
    out: dict[str, Any] = {}
    for e in plan_cycle(deal, state, period):
        if e.type in ("TriggerEvaluated", "InterestAccrued", "FeeAccrued"):
            out.setdefault(e.type, []).append(e.data)
        else:
            out[e.type] = e.data
    return out


# ------------------------------------------------------------- seed 001 item 1: EAE (b)


def driver_state(deal: DealDefinition, day: dt.date, index: int, **kw: Any) -> WaterfallState:
    metrics = zero_metrics(deal, **kw.pop("metrics", {}))
    return WaterfallState(
        payment_date=day,
        period_index=index,
        interest_period_start=day - dt.timedelta(days=30),
        interest_period_end=day,
        notes={
            "class_a": NoteState(balance=D("7136000000.00")),
            "sub": NoteState(balance=D("824000000.00")),
        },
        metrics=metrics,
        **kw,
    )


def test_early_amortisation_event_b_on_two_consecutive_payment_dates(
    driver: DealDefinition,
) -> None:
    """Item 1 (L18813-18817, L17646-17654): the Accumulation Balance (balance brought forward +
    the date's Accumulation Amount, before the purchase) above 15% of the ADRB at the end of
    the Monthly Period on two consecutive payment dates. PD n's balance includes its own item
    sixth, so it is tested on PD n+1; the EAE occurs when PD n is the second breaching date,
    and PD n+1 amortises (audit §1 (d)).

    PD 1 (27 Dec 2021): 1,000,000,000.00 credited, nothing offered; ADRB 6,258,741,108.01:
    1bn > 15% × 6,258,741,108.01 = 938,811,166.2015 (15.98%). PD 2 (26 Jan 2022): balance
    1,300,000,000.00 against 6,000,000,000.00: 1.3bn > 900,000,000.00 (21.67%).
    """
    tid = "eae_b_accumulation"

    def last(closing: str, price: str = "0", bought: str = "0") -> dict[str, Any]:
        return {
            "last_pd__revolving": True,
            "last_pd__accounts__accumulation__closing": D(closing),
            "last_pd__purchases__price": D(price),
            "last_pd__purchases__balance": D(bought),
        }

    # PD 1: no previous payment date (its figures have no value, and are not read)
    first = driver_state(driver, dt.date(2021, 12, 27), 1, metrics={})
    first = first.model_copy(
        update={"metrics": {k: v for k, v in first.metrics.items() if "last_pd" not in k}}
    )
    assert not evaluate_trigger(driver, tid, first).breached
    # PD 2 tests PD 1: breached once, not yet in effect, still revolving
    pd2 = driver_state(
        driver, dt.date(2022, 1, 26), 2,
        metrics={**last("1000000000.00"), "pool__adrb_start": D("6258741108.01")},
    )  # fmt: skip
    out2 = evaluate_trigger(driver, tid, pd2)
    assert (out2.breached, out2.in_effect) == (True, False)
    assert out2.watch is not None and out2.watch.evaluations == 1
    # PD 3 tests PD 2: the second consecutive breach, in effect: the Revolving Period has ended
    # and 28 Feb 2022 amortises (it would otherwise be the last revolving date)
    pd3 = driver_state(
        driver, dt.date(2022, 2, 28), 3,
        metrics={**last("1300000000.00"), "pool__adrb_start": D("6000000000.00")},
        trigger_watch={tid: out2.watch},
        accounts={"accumulation": D("1300000000.00")},
    )  # fmt: skip
    out3 = evaluate_trigger(driver, tid, pd3)
    assert (out3.breached, out3.in_effect) == (True, True)
    after = pd3.model_copy(update={"triggers": {tid: True}})
    assert select_mode(driver, after) == "amortising"
    assert DealEnv(driver, after)["defs.class_a_targeted_oc_pct"] == D("0.23")
    result = run_waterfall(driver, after)
    assert result.paid("accumulation.close") == D("1300000000.00")  # L11105-11111
    cash_conserved(result, driver)
    # exactly 15% is not "exceeds"
    equal = driver_state(
        driver, dt.date(2022, 1, 26), 2,
        metrics={**last("900000000.00"), "pool__adrb_start": D("6000000000.00")},
    )  # fmt: skip
    assert not evaluate_trigger(driver, tid, equal).breached
    # a previous date outside the Revolving Period has no Accumulation Balance
    not_revolving = pd2.model_copy(update={"metrics": {**pd2.metrics, "last_pd.revolving": False}})
    assert not evaluate_trigger(driver, tid, not_revolving).breached


def test_early_amortisation_event_b_before_or_after_the_purchase(driver: DealDefinition) -> None:
    """The two readings (rule sheet §4): PD 2 bought DRB 1,000,000,000.00 for 983,000,000.00,
    leaving 317,000,000.00. Before the purchase (chosen, L17646-17654): 317m + 983m = 1.3bn >
    15% × 6bn. After it (params.eae_accumulation_after_purchase = 1): 317m against 15% × (6bn +
    1bn) = 1.05bn: 4.53%, no breach."""
    tid = "eae_b_accumulation"
    metrics = {
        "last_pd__revolving": True,
        "last_pd__accounts__accumulation__closing": D("317000000.00"),
        "last_pd__purchases__price": D("983000000.00"),
        "last_pd__purchases__balance": D("1000000000.00"),
        "pool__adrb_start": D("6000000000.00"),
    }
    state = driver_state(driver, dt.date(2022, 2, 28), 3, metrics=metrics)
    assert evaluate_trigger(driver, tid, state).breached
    after = with_param(driver, "eae_accumulation_after_purchase", "1")
    assert not evaluate_trigger(after, tid, state).breached


# ------------------------------------------------------------- seed 001 item 7: clean-up


def clean_up_date(deal: DealDefinition, adrb: str) -> tuple[DeterminationState, SchedulePeriod]:
    """Audit §7 (d): amortising PD 26 Jun 2024 (interest 26 May - 26 Jun, 31 days); ADRB at the
    end of the Monthly Period ``adrb``, at its start 810,000,000.00; Class A 560,000,000.00, Sub
    240,000,000.00; Distribution Account 30,000,000.00, GCCA 80,000,000.00; item-3 fees
    300,000.00; the clean-up price is the ADRB (no loss adjustment)."""
    closing = dt.date(2021, 11, 17)
    period = period_of(deal, closing, dt.date(2024, 6, 26))
    metrics = zero_metrics(
        deal,
        pool__adrb=D(adrb),
        pool__adrb_start=D("810000000.00"),
        pool__clean_up_settlement_amount=D(adrb),
    )
    state = determination(
        deal, period, closing, dt.date(2024, 7, 18),
        accounts={"distribution": D("30000000.00"), "cash_collateral": D("80000000.00")},
        notes={"class_a": NoteState(balance=D("560000000.00")),
               "sub": NoteState(balance=D("240000000.00"))},
        fees_incurred={"trust_company_fee": D("300000.00")},
        metrics=metrics,
    )  # fmt: skip
    return state, period


def test_clean_up_call_condition_and_proviso_recorded_on_the_date(driver: DealDefinition) -> None:
    """Item 7 (L18472-18490): the ADRB 790,000,000.00 is below 10% of 8,000,082,110.39; the
    Notes' obligations are 560,000,000.00 + 560m × 3% × 31/365 (1,426,849.32) + 240,000,000.00
    + 240m × 5% × 31/365 (1,019,178.08) = 802,446,027.40. With the date's funds (chosen reading)
    the call repays every Note: 790m + 30m = 820m covers the Servicer Fee 675,000.00, the fees
    300,000.00 and 802,446,027.40. The proceeds alone (790m) would not."""
    state, period = clean_up_date(driver, "790000000.00")
    events = planned(driver, state, period)
    tested = events["CleanUpCallTested"]
    assert tested == {
        "payment_date": "2024-06-26",
        "period_index": period.index,
        "condition_met": True,
        "proviso_met": True,
        "price": "790000000.00",
        "note_obligations": "802446027.40",
        "notes_repaid": True,
        "available": True,
        "elected": False,
        "exercised": False,
        "reason": "available, not elected",
    }
    assert "CleanUpCallExercised" not in events
    # "the proceeds of such purchase" alone (params.clean_up_proviso_proceeds_only = 1)
    literal = with_param(driver, "clean_up_proviso_proceeds_only", "1")
    only = planned(literal, state, period)["CleanUpCallTested"]
    assert (only["condition_met"], only["proviso_met"], only["available"]) == (True, False, False)
    assert only["reason"] == "proviso not met (clean_up_call.proviso)"
    # the condition: 800,008,211.04 is not below 800,008,211.039
    high, _ = clean_up_date(driver, "800008211.04")
    above = planned(driver, high, period)["CleanUpCallTested"]
    assert (above["condition_met"], above["proviso_met"], above["price"]) == (False, None, None)


def test_clean_up_call_elected_is_exercised_and_repays_every_note(driver: DealDefinition) -> None:
    state, period = clean_up_date(driver, "790000000.00")
    elected = DeterminationState(**{**state.__dict__, "clean_up_elected": True})
    events = planned(driver, elected, period)
    assert events["CleanUpCallTested"]["exercised"] is True
    assert events["CleanUpCallExercised"]["price"] == "790000000.00"
    closing = {n["note_id"]: n["closing"] for n in events["WaterfallExecuted"]["notes"]}
    assert closing == {"class_a": "0.00", "sub": "0.00"}


# ------------------------------------------------------------- seed 003 item 14


def test_class_c_unpaid_at_its_expected_maturity_accelerates_the_same_date(
    wenhui: DealDefinition,
) -> None:
    """Item 14 (L930, L945; audit §14 (d)): 2025-11-18 is the first 信托分配日 before Class C's
    expected maturity 2025-11-26 (PD 2025-11-26, interest 2025-10-27 .. 11-26, 30 days). Class C
    342,000,000.00, Sub 159,952,900.00; income 2,000,000.00, principal 300,000,000.00.

    The dry run in the normal order: taxes 3.26% × 2,000,000.00 = 65,200.00; fees on
    501,952,900.00 × 30/365 = 8,251.28 + 2,062.82 + 1,237.69 = 11,551.79; C interest
    342m × 3.5% × 30/365 = 983,835.62; Sub return 159,952,900.00 × 5% × 30/365 = 657,340.68;
    the rest 282,071.91 to principal: C gets 300,282,071.91 and 41,717,928.09 stays unpaid, so
    (h) occurs that date (L945) and the real waterfall runs accelerated: no Sub return, income
    step 9 sends 939,412.59 to principal and C ends at 41,060,587.41."""
    closing = dt.date(2024, 3, 29)
    period = period_of(wenhui, closing, dt.date(2025, 11, 26))
    assert (period.determination_date, period.interest_days) == (dt.date(2025, 11, 18), 30)
    metrics = zero_metrics(
        wenhui,
        collected__income=D("2000000.00"),
        pool__balance=D("400000000.00"),
        pool__balance_period_start=D("400000000.00"),
        pool__outstanding_balance=D("400000000.00"),
        pool__clean_up_price=D("400000000.00"),
    )
    state = determination(
        wenhui, period, closing, dt.date(2025, 12, 18),
        accounts={"income": D("2000000.00"), "principal": D("300000000.00")},
        notes={"A": NoteState(balance=D(0)), "B": NoteState(balance=D(0)),
               "C": NoteState(balance=D("342000000.00")),
               "sub": NoteState(balance=D("159952900.00"))},
        metrics=metrics,
    )  # fmt: skip
    events = planned(wenhui, state, period)
    values = events["MetricsDetermined"]["values"]
    assert D(values["dry_run.notes.C.balance"]) == D("41717928.09")
    (acc_h,) = [t for t in events["TriggerEvaluated"]
                if t["trigger_id"] == "acc_h_class_c_expected_maturity"]  # fmt: skip
    assert (acc_h["breached"], acc_h["in_effect"], acc_h["was_in_effect"]) == (True, True, False)
    w = events["WaterfallExecuted"]
    assert w["mode"] == "accelerated"
    paid = {s["step_id"]: D(s["paid"]) for s in w["steps"]}
    assert paid["income.1"] == D("65200.00")
    assert paid["income.9"] == D("939412.59")
    closing_c = [n["closing"] for n in w["notes"] if n["note_id"] == "C"]
    assert closing_c == ["41060587.41"]
    # (f) and (g) test other dates: not breached here
    others = [t["breached"] for t in events["TriggerEvaluated"]
              if t["trigger_id"] in ("acc_f_class_a_expected_maturity",
                                     "acc_g_class_b_expected_maturity")]  # fmt: skip
    assert others == [False, False]


# ------------------------------------------------------------- seed 004 item 12: reserves


def byd_state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    metrics = zero_metrics(deal, **kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2021, 12, 27),
        "period_index": 3,
        "interest_period_start": dt.date(2021, 11, 26),
        "interest_period_end": dt.date(2021, 12, 26),
        "notes": {
            "senior": NoteState(balance=D("1500000000.00")),
            "sub": NoteState(balance=D("270000000.00")),
        },
        "metrics": metrics,
        # BYD AF (originator and servicer) downgraded to CCXI A: below A+ (L2465-2468)
        "ratings": {**{p: dict(v.ratings) for p, v in deal.parties.items()},
                    "byd_af": {"CCXI": "A", "CBR": "A-"}},
    }  # fmt: skip
    fields.update(kw)
    return WaterfallState(**fields)


def test_reserve_targets_once_the_servicer_and_originator_are_downgraded(
    byd: DealDefinition,
) -> None:
    """Item 12: the commingling amount (L2616-2621) is the collections expected over the
    transfer periods (2, assumed), at least the next period's: 2 × the latest period's scheduled
    principal and interest 95,000,000.00 = 190,000,000.00; the set-off amount (L1076) is
    min(A = pool 2,000,000,000.00, B = the originator's debts to borrowers as reported,
    35,000,000.00); the service transfer and notice amount (L2547) the estimated costs
    1,500,000.00 + 500,000.00, less the notice costs once they are due (perfection event (b),
    the originator's downgrade, L2552)."""
    metrics = {
        "collections__principal_scheduled": D("80000000.00"),
        "collections__interest": D("15000000.00"),
        "collected__scheduled": D("95000000.00"),
        "pool__outstanding_balance": D("2000000000.00"),
        "reported__originator_borrower_debts": D("35000000.00"),
    }
    state = byd_state(byd, metrics=metrics)
    env = DealEnv(byd, state)
    assert env["targets.commingling_reserve"] == D("190000000.00")
    assert env["targets.setoff_reserve"] == D("35000000.00")
    assert env["targets.service_transfer_reserve"] == D("2000000.00")
    more = {**metrics, "reported__originator_borrower_debts": D("2500000000.00")}
    assert DealEnv(byd, byd_state(byd, metrics=more))["targets.setoff_reserve"] == D(
        "2000000000.00"
    )
    # rated again: no reserve is required
    rated = state.model_copy(update={"ratings": None})
    for account in ("commingling_reserve", "setoff_reserve", "service_transfer_reserve"):
        assert DealEnv(byd, rated)[f"targets.{account}"] == 0
    # the originator's debts not reported: a downgraded date cannot set the target
    unreported = {k: v for k, v in state.metrics.items()
                  if k != "reported.originator_borrower_debts"}  # fmt: skip
    with pytest.raises(ExprError, match=r"reported\.originator_borrower_debts has no value"):
        DealEnv(byd, state.model_copy(update={"metrics": unreported}))["targets.setoff_reserve"]


def test_transfer_and_notice_costs_are_paid_once_from_the_reserve(byd: DealDefinition) -> None:
    """L1088-1094, L2547 (c): on the first date after the originator's downgrade (perfection
    event (b)) the notice costs 500,000.00 are paid from the service transfer reserve (here
    2,000,000.00), its estimate becomes zero and the target 1,500,000.00; the next date after the
    servicing is transferred pays the transfer costs 1,500,000.00, and the target is zero."""
    metrics = {"pool__outstanding_balance": D("2000000000.00")}
    first = byd_state(
        byd,
        metrics=metrics,
        triggers={"originator_downgrade": True, "servicer_downgrade": True},
        accounts={"income": D("10000000.00"), "service_transfer_reserve": D("2000000.00")},
    )
    one = run_waterfall(byd, first)
    assert one.paid("r.9.9-notice-costs") == D("500000.00")
    assert one.paid("r.9.9-transfer-costs") == 0
    assert one.closing_accounts["notice_costs_paid"] == D("500000.00")
    assert one.paid("r.9.9-excess") == 0  # 1,500,000.00 left = the target
    cash_conserved(one, byd)
    second = first.model_copy(update={
        "accounts": {**one.closing_accounts, "income": D("10000000.00")},
        "triggers": {**first.triggers, "servicer_replaced": True},
        "payment_date": dt.date(2022, 1, 26),
    })  # fmt: skip
    two = run_waterfall(byd, second)
    assert two.paid("r.9.9-notice-costs") == 0  # paid once
    assert two.paid("r.9.9-transfer-costs") == D("1500000.00")
    assert two.closing_accounts["service_transfer_reserve"] == 0
    assert DealEnv(byd, second)["targets.service_transfer_reserve"] == D("0")


# ------------------------------------------------------------- seed 004 item 13: 调休


def test_official_make_up_working_days_are_business_days_by_the_deal_rule(
    byd: DealDefinition,
) -> None:
    """Item 13 (L2555: a business day is a day PRC banks normally open for corporate business):
    26 Jan 2023 falls in the Spring Festival; 28 and 29 Jan are official make-up working days,
    so the 16th payment date is Saturday 28 Jan 2023 (L2885). A deal whose documents do not
    count them (calendar.makeup_workdays: not_business_day) pays on Monday 30 Jan; the
    determination date of 26 Jun 2023 moves too (Sunday 25 Jun is a make-up day)."""
    closing = dt.date(2021, 9, 15)
    until = dt.date(2023, 6, 30)
    counts = {p.index: p for p in deal_schedule(byd, closing, until)}
    calendar = byd.calendar.model_copy(update={"makeup_workdays": "not_business_day"})
    other = byd.model_copy(update={"calendar": calendar})
    skips = {p.index: p for p in deal_schedule(other, closing, until)}
    assert counts[16].payment_date == dt.date(2023, 1, 28)
    assert skips[16].payment_date == dt.date(2023, 1, 30)
    assert counts[21].determination_date == dt.date(2023, 6, 15)
    assert skips[21].determination_date == dt.date(2023, 6, 14)
    # the interest periods keep the unadjusted 26th (L2656)
    assert counts[16].interest_days == skips[16].interest_days == 31
