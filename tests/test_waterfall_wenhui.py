"""温惠 2024-1 (seed 003, Bank of Wenzhou SME bullet loans) payment dates worked by hand.

The rating report paraphrases clauses 11.5 / 11.6 of the trust contract: income order L228,
principal order L230, post-default order L234-242, Sub period return L142, acceleration events
L917-947. Blank terms are the ASSUMED parameters of docs/deals/003_wenhui_2024_1.md: A 2.80%,
B 2.90%, C 3.50%, Act/365; taxes 3.26% of income collections; trustee 0.020% + custodian 0.005% +
paying agent 0.003% p.a. of the aggregate note balance; back-end servicer fee 0.10% p.a. of the pool
at the start of the collection period; annual expense cap 1,000,000.00.

Modes: normal (11.5), accelerated (11.5 with income step 9 all to principal) and post-default
(11.6). No revolving period (static pool, L44) and no separate clean-up order (L204 names the call
only; its proceeds run through the mode in force, tested in the last test).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.deal import DealDefinition, validate_deal_file
from ledger.deal.names import metric_kind
from ledger.waterfall import (
    CapUsage,
    NoteState,
    WaterfallResult,
    WaterfallState,
    evaluate_trigger,
    run_waterfall,
    select_mode,
)
from ledger.waterfall.triggers import clean_up_call_available
from tests.waterfall_checks import cash_conserved

D = Decimal
FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "003_wenhui_2024_1.yaml"
SUB = "159952900.00"


@pytest.fixture(scope="module")
def wenhui() -> DealDefinition:
    return validate_deal_file(FILE)


def notes(a: str, b: str = "210000000.00", c: str = "342000000.00") -> dict[str, NoteState]:
    return {
        "A": NoteState(balance=D(a)),
        "B": NoteState(balance=D(b)),
        "C": NoteState(balance=D(c)),
        "sub": NoteState(balance=D(SUB)),
    }


def state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    """PD 2024-08-26; a 31-day interest period 2024-07-26 .. 08-26 unless given."""
    metrics: dict[str, Decimal | bool] = {
        name: (False if metric_kind(deal, name) == "bool" else D(0)) for name in deal.metrics
    }
    metrics.update(kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2024, 8, 26),
        "period_index": 5,
        "interest_period_start": dt.date(2024, 7, 26),
        "interest_period_end": dt.date(2024, 8, 26),
        "notes": notes("2000000000.00"),
        "metrics": metrics,
    }
    fields.update(kw)
    return WaterfallState(**fields)


def example_1(deal: DealDefinition, **kw: Any) -> WaterfallState:
    # Sheet example 1: A 2bn, B 210m, C 342m, Sub 159,952,900.00 (aggregate 2,711,952,900.00);
    # income 10,000,000.00, principal 600,000,000.00, expenses 50,000.00 (in cap), cumulative
    # defaults 2,000,000.00 (PDL 2,000,000.00)
    metrics = {
        "collected.income": D("10000000.00"),
        "pool.cumulative_defaults": D("2000000.00"),
        **kw.pop("metrics", {}),
    }
    return state(
        deal,
        notes=notes("2000000000.00"),
        accounts={"income": D("10000000.00"), "principal": D("600000000.00")},
        fees_incurred={"trustee_expenses": D("50000.00")},
        metrics=metrics,
        **kw,
    )


def test_normal_date_pays_the_capped_sub_return(wenhui: DealDefinition) -> None:
    result = run_waterfall(wenhui, example_1(wenhui))
    assert result.mode == "normal"
    assert result.paid("principal.1") == 0  # income pays items 1-6 itself
    # 1: 3.26% x 10,000,000.00 = 326,000.00 into the 信托分配(税收)账户
    assert result.paid("income.1") == D("326000.00")
    assert result.closing_accounts["dist_tax"] == D("326000.00")
    # 3: on 2,711,952,900.00 x 31/365: trustee 0.020% 16,814,108/365 = 46,066.049.. -> 46,066.05;
    #    custodian 0.005% 4,203,527/365 = 11,516.512.. -> 11,516.51; paying agent 0.003%
    #    2,522,116.2/365 = 6,909.907.. -> 6,909.91; expenses 50,000.00: 114,492.47
    assert [line.paid for line in result.lines("income.3")][:4] == [
        D("46066.05"),
        D("11516.51"),
        D("6909.91"),
        D("50000.00"),
    ]
    # 4: 2bn x 2.80% x 31/365 = 1,736,000,000/365 = 4,756,164.383.. -> 4,756,164.38
    assert result.paid("income.4") == D("4756164.38")
    # 5: 210m x 2.90% x 31/365 = 188,790,000/365 = 517,232.876.. -> 517,232.88
    assert result.paid("income.5") == D("517232.88")
    # 6: 342m x 3.50% x 31/365 = 371,070,000/365 = 1,016,630.136.. -> 1,016,630.14
    assert result.paid("income.6") == D("1016630.14")
    assert result.paid("income.7") == D("2000000.00")  # PDL cure to principal
    # 9a: Sub 159,952,900.00 x 5% x 31/365 = 247,926,995/365 = 679,252.041.. -> 679,252.04
    assert result.paid("income.9a") == D("679252.04")
    # 9b: 10,000,000.00 - 326,000.00 - 114,492.47 - 4,756,164.38 - 517,232.88 - 1,016,630.14
    #     - 2,000,000.00 - 679,252.04 = 590,228.09
    assert result.paid("income.9b") == D("590228.09")
    # Class A: 600,000,000.00 + 2,000,000.00 + 590,228.09 = 602,590,228.09
    assert result.paid("principal.2") == D("602590228.09")
    assert result.note_balances["A"] == D("1397409771.91")
    cash_conserved(result, wenhui)


def test_acceleration_sends_the_sub_return_to_principal(wenhui: DealDefinition) -> None:
    s = example_1(wenhui, triggers={"acc_e_cumulative_defaults": True})
    assert select_mode(wenhui, s) == "accelerated"
    result = run_waterfall(wenhui, s)
    # steps 1-8 as in the normal date; step 9: 679,252.04 + 590,228.09 = 1,269,480.13 to principal
    assert result.paid("income.9") == D("1269480.13")
    assert result.lines("income.9a") == ()
    # Class A 600,000,000.00 + 2,000,000.00 + 1,269,480.13 = 603,269,480.13
    assert result.paid("principal.2") == D("603269480.13")
    assert result.note_balances["A"] == D("1396730519.87")
    assert result.interest_shortfalls["sub"] == 0  # nothing owed to the Sub class for it
    cash_conserved(result, wenhui)


def test_principal_covers_through_class_c_interest_not_the_sub_return(
    wenhui: DealDefinition,
) -> None:
    # Sheet example 2: PD 2024-07-26, 30 days (06-26 .. 07-26), A 1.4bn; income 4,000,000.00,
    # principal 300,000,000.00; expenses 50,000.00 of which 20,000.00 fit what is left of the
    # annual cap; cumulative defaults 1,500,000.00
    s = state(
        wenhui,
        payment_date=dt.date(2024, 7, 26),
        period_index=4,
        interest_period_start=dt.date(2024, 6, 26),
        interest_period_end=dt.date(2024, 7, 26),
        notes=notes("1400000000.00"),
        accounts={"income": D("4000000.00"), "principal": D("300000000.00")},
        fees_incurred={"trustee_expenses": D("50000.00")},
        metrics={
            "collected.income": D("4000000.00"),
            "pool.cumulative_defaults": D("1500000.00"),
        },
        # 980,000.00 of the 1,000,000.00 annual cap already used in the trust year from
        # 2024-03-29 (L769): 20,000.00 left
        cap_usage={
            "annual_expense_cap": CapUsage(period_start=dt.date(2024, 3, 29), used=D("980000.00"))
        },
    )
    result = run_waterfall(wenhui, s)
    # items 1-6: taxes 130,400.00; fees on 2,111,952,900.00 x 30/365: 12,671,717.4/365 =
    # 34,717.034.. -> 34,717.03, 3,167,929.35/365 = 8,679.258.. -> 8,679.26, 1,900,757.61/365 =
    # 5,207.555.. -> 5,207.56, + 20,000.00 within the cap = 68,603.85; A 1.4bn x 2.80% x 30/365 =
    # 1,176,000,000/365 = 3,221,917.808.. -> 3,221,917.81; B 182,700,000/365 = 500,547.945.. ->
    # 500,547.95; C 359,100,000/365 = 983,835.616.. -> 983,835.62; total 4,905,305.23
    # principal step 1 covers 905,305.23 (L230)
    assert result.paid("principal.1") == D("905305.23")
    assert result.closing_accounts["cum_principal_to_income"] == D("905305.23")
    assert result.paid("income.3") == D("68603.85")
    # 7: PDL 1,500,000.00 + 905,305.23 due, unpaid; 8: 30,000.00 above the cap, carried
    (cure,) = result.lines("income.7")
    assert (cure.due, cure.paid) == (D("2405305.23"), D("0.00"))
    assert result.fees_unpaid["trustee_expenses"] == D("30000.00")
    # 9a: 159,952,900.00 x 5% x 30/365 = 239,929,350/365 = 657,340.684.. -> 657,340.68 due,
    # nothing paid and nothing carried (L228: every shortfall is carried except this one)
    (ret,) = result.lines("income.9a")
    assert (ret.due, ret.paid, ret.carried_forward) == (D("657340.68"), D("0.00"), D("0.00"))
    assert result.interest_shortfalls["sub"] == 0
    # Class A: 300,000,000.00 - 905,305.23 = 299,094,694.77
    assert result.paid("principal.2") == D("299094694.77")
    assert result.note_balances["A"] == D("1100905305.23")
    cash_conserved(result, wenhui)


def test_sub_return_is_capped_at_5_pct_and_never_catches_up(wenhui: DealDefinition) -> None:
    # a date on which only 300,000.00 is left for the Sub return: example 1 with cumulative
    # defaults 2,969,480.13, so the PDL cure takes 969,480.13 more
    short = run_waterfall(
        wenhui, example_1(wenhui, metrics={"pool.cumulative_defaults": D("2969480.13")})
    )
    (ret,) = short.lines("income.9a")
    assert (ret.due, ret.paid, ret.shortfall, ret.carried_forward) == (
        D("679252.04"),
        D("300000.00"),
        D("379252.04"),
        D("0.00"),
    )
    assert short.interest_shortfalls["sub"] == 0
    assert short.paid("income.9b") == 0

    # the next date has plenty of income (31 days, 08-26 .. 09-26): the return is the cap for
    # this period only, 679,252.04, even if a caller claims the 379,252.04 as owed
    later = example_1(
        wenhui,
        payment_date=dt.date(2024, 9, 26),
        period_index=6,
        interest_period_start=dt.date(2024, 8, 26),
        interest_period_end=dt.date(2024, 9, 26),
    )
    later = later.model_copy(
        update={
            "notes": {
                **later.notes,
                "sub": NoteState(balance=D(SUB), interest_shortfall=D("379252.04")),
            }
        }
    )
    full = run_waterfall(wenhui, later)
    assert full.paid("income.9a") == D("679252.04")
    assert full.paid("income.9b") == D("590228.09")  # the rest to principal, as on example 1

    # a short period (PD 2025-02-26 .. 03-26, 28 days) pays less: 159,952,900.00 x 5% x 28/365
    # = 223,934,060/365 = 613,517.972.. -> 613,517.97
    february = example_1(
        wenhui,
        payment_date=dt.date(2025, 3, 26),
        period_index=12,
        interest_period_start=dt.date(2025, 2, 26),
        interest_period_end=dt.date(2025, 3, 26),
    )
    assert run_waterfall(wenhui, february).paid("income.9a") == D("613517.97")


def backend_state(deal: DealDefinition, principal: str) -> WaterfallState:
    # A and B repaid, C 10,000,000.00 left; income 1,000,000.00; pool at the start of the collection
    # period 300,000,000.00; back-end fee 1,000,000.00 accrued unpaid from earlier dates
    return state(
        deal,
        notes=notes("0.00", "0.00", "10000000.00"),
        accounts={"income": D("1000000.00"), "principal": D(principal)},
        fees_unpaid={"backend_servicer_fee": D("1000000.00")},
        metrics={
            "collected.income": D("1000000.00"),
            "pool.balance_period_start": D("300000000.00"),
        },
    )


def test_back_end_servicer_fee_is_paid_after_class_c_principal(wenhui: DealDefinition) -> None:
    result = run_waterfall(wenhui, backend_state(wenhui, "12000000.00"))
    # income: taxes 3.26% x 1,000,000.00 = 32,600.00; fees on 169,952,900.00 x 31/365:
    # 1,053,707.98/365 = 2,886.871.. -> 2,886.87, 263,426.995/365 = 721.717.. -> 721.72,
    # 158,056.197/365 = 433.030.. -> 433.03; C interest 10m x 3.50% x 31/365 = 10,850,000/365 =
    # 29,726.027.. -> 29,726.03; Sub return 679,252.04 (C still outstanding);
    # 1,000,000.00 - 32,600.00 - 4,041.62 - 29,726.03 - 679,252.04 = 254,380.31 to principal
    assert result.paid("income.3") == D("4041.62")
    assert result.paid("income.6") == D("29726.03")
    assert result.paid("income.9b") == D("254380.31")
    # the back-end fee is no income item: 300m x 0.10% x 31/365 = 9,300,000/365 = 25,479.452..
    # -> 25,479.45 + 1,000,000.00 carried = 1,025,479.45, paid at principal step 5 (L230)
    # principal 12,000,000.00 + 254,380.31 = 12,254,380.31: C 10,000,000.00, fee 1,025,479.45,
    # Sub principal 1,228,900.86
    assert result.paid("principal.4") == D("10000000.00")
    assert result.paid("principal.5") == D("1025479.45")
    assert result.paid("principal.6") == D("1228900.86")
    assert result.note_balances["sub"] == D("158723999.14")
    assert result.fees_unpaid["backend_servicer_fee"] == 0
    cash_conserved(result, wenhui)

    # with principal 5,000,000.00 Class C takes 5,254,380.31 and the fee waits, carried in full
    short = run_waterfall(wenhui, backend_state(wenhui, "5000000.00"))
    assert short.paid("principal.4") == D("5254380.31")
    (fee,) = short.lines("principal.5")
    assert (fee.due, fee.paid, fee.carried_forward) == (
        D("1025479.45"),
        D("0.00"),
        D("1025479.45"),
    )
    assert short.paid("income.9a") == D("679252.04")  # the Sub return ranks ahead of the fee


def test_post_default_pays_class_by_class(wenhui: DealDefinition) -> None:
    # Sheet example 3: A 200m, B 210m, C 342m, Sub 159,952,900.00 (aggregate 911,952,900.00);
    # pot = income 3,000,000.00 + principal 250,000,000.00; expenses 200,000.00 (uncapped);
    # back-end fee 1,000,000.00 accrued
    s = state(
        wenhui,
        notes=notes("200000000.00"),
        accounts={"income": D("3000000.00"), "principal": D("250000000.00")},
        fees_incurred={"trustee_expenses": D("200000.00")},
        fees_unpaid={"backend_servicer_fee": D("1000000.00")},
        metrics={"collected.income": D("3000000.00")},
        triggers={"event_of_default": True, "acc_e_cumulative_defaults": True},
    )
    assert select_mode(wenhui, s) == "post_default"
    result = run_waterfall(wenhui, s)
    assert result.paid("default.1") == D("97800.00")  # 3.26% x 3,000,000.00
    # fees on 911,952,900.00 x 31/365: 5,654,107.98/365 = 15,490.706.. -> 15,490.71;
    # 1,413,526.995/365 = 3,872.676.. -> 3,872.68; 848,116.197/365 = 2,323.606.. -> 2,323.61;
    # + 200,000.00 = 221,687.00
    assert result.paid("default.3") == D("221687.00")
    # A interest 200m x 2.80% x 31/365 = 173,600,000/365 = 475,616.438.. -> 475,616.44, then
    # A principal in full, then B interest 517,232.88 (L240)
    assert result.paid("default.4") == D("475616.44")
    assert result.paid("default.5") == D("200000000.00")
    assert result.paid("default.6") == D("517232.88")
    # B principal: 253,000,000.00 - 97,800.00 - 221,687.00 - 475,616.44 - 200,000,000.00
    # - 517,232.88 = 51,687,663.68
    assert result.paid("default.7") == D("51687663.68")
    assert result.note_balances["B"] == D("158312336.32")
    # C interest 1,016,630.14 and the back-end fee are carried; no Sub return after default
    assert result.interest_shortfalls["C"] == D("1016630.14")
    assert result.fees_unpaid["backend_servicer_fee"] == D("1000000.00")
    assert result.paid("default.12") == 0
    cash_conserved(result, wenhui)


def test_expected_maturity_shortfall_accelerates_and_latches(wenhui: DealDefinition) -> None:
    # L928: at the first 信托分配日 before the Class A expected maturity 2025-07-26 (PD Mon
    # 2025-07-28, distribution date 2025-07-18; the next one 2025-08-18) the 11.5.2 principal
    # order cannot repay Class A: the dry run of the date leaves it outstanding
    tid = "acc_f_class_a_expected_maturity"
    test_date = {
        "payment_date": dt.date(2025, 7, 28),
        "next_determination_date": dt.date(2025, 8, 18),
    }
    day = dt.date(2025, 7, 18)
    failed = state(wenhui, **test_date, metrics={"dry_run.notes.A.balance": D("0.01")})
    out = evaluate_trigger(wenhui, tid, failed, as_of=day)
    assert (out.breached, out.in_effect) == (True, True)
    repaid = state(wenhui, **test_date, metrics={"dry_run.notes.A.balance": D("0.00")})
    assert not evaluate_trigger(wenhui, tid, repaid, as_of=day).in_effect
    # a month earlier (2025-06-18, next 2025-07-18: both before 2025-07-26) is not the test date
    earlier = state(
        wenhui,
        payment_date=dt.date(2025, 6, 26),
        next_determination_date=day,
        metrics={"dry_run.notes.A.balance": D("0.01")},
    )
    assert not evaluate_trigger(wenhui, tid, earlier, as_of=dt.date(2025, 6, 18)).breached
    # later dates no longer run the test, but the acceleration stays (sticky)
    later = state(wenhui, triggers={tid: True}, next_determination_date=dt.date(2025, 9, 18))
    assert evaluate_trigger(wenhui, tid, later, as_of=dt.date(2025, 8, 18)).in_effect
    # the same for Class B (2025-09-26: distribution date 2025-09-18, L929) and Class C
    # (2025-11-26: 2025-11-18, L930)
    for tid_x, note, det, nxt in (
        ("acc_g_class_b_expected_maturity", "B", dt.date(2025, 9, 18), dt.date(2025, 10, 20)),
        ("acc_h_class_c_expected_maturity", "C", dt.date(2025, 11, 18), dt.date(2025, 12, 18)),
    ):
        short = state(
            wenhui,
            next_determination_date=nxt,
            metrics={f"dry_run.notes.{note}.balance": D("1.00")},
        )
        assert evaluate_trigger(wenhui, tid_x, short, as_of=det).in_effect
    # in effect it is an acceleration: example 1's Sub return goes to principal instead
    accelerated = example_1(wenhui, triggers={tid: True})
    result = run_waterfall(wenhui, accelerated)
    assert result.mode == "accelerated"
    assert result.paid("income.9") == D("1269480.13")


def test_expected_maturity_lagging_reading(wenhui: DealDefinition) -> None:
    """The other reading of L928-930 (params.expected_maturity_test_lagging = 1): the class is
    still outstanding on the payment date after the one on or after its expected maturity."""
    params = dict(wenhui.parameters)
    params["expected_maturity_test_lagging"] = params["expected_maturity_test_lagging"].model_copy(
        update={"value": D(1)}
    )
    lagging = wenhui.model_copy(update={"parameters": params})
    tid = "acc_f_class_a_expected_maturity"
    # PD 2025-08-26: its interest period starts on the PD 2025-07-28, after 2025-07-26
    after = state(
        lagging,
        payment_date=dt.date(2025, 8, 26),
        interest_period_start=dt.date(2025, 7, 28),
        interest_period_end=dt.date(2025, 8, 26),
        notes=notes("1.00"),
    )
    assert evaluate_trigger(lagging, tid, after, as_of=dt.date(2025, 8, 18)).in_effect
    repaid = after.model_copy(update={"notes": notes("0.00")})
    assert not evaluate_trigger(lagging, tid, repaid, as_of=dt.date(2025, 8, 18)).breached
    # PD 2025-07-28 itself (period from 2025-06-26): not yet
    at_maturity = state(
        lagging,
        payment_date=dt.date(2025, 7, 28),
        interest_period_start=dt.date(2025, 6, 26),
        interest_period_end=dt.date(2025, 7, 28),
        notes=notes("1.00"),
    )
    assert not evaluate_trigger(lagging, tid, at_maturity, as_of=dt.date(2025, 7, 18)).breached


def test_clean_up_date_repays_every_class_and_pays_the_residual(wenhui: DealDefinition) -> None:
    # ASSUMED clean-up at 10% of the initial pool: 10% x 2,885,952,900.00 = 288,595,290.00
    def available(pool: str) -> bool:
        return clean_up_call_available(wenhui, state(wenhui, metrics={"pool.balance": D(pool)}))

    assert available("288595290.00") is True
    assert available("288595290.01") is False
    # PD 2025-06-26 (05-26 .. 06-26, 31 days): the settlor buys the remaining loans; the proceeds
    # (principal part 540,000,000.00, interest part 2,000,000.00) join the period's collections
    # (20,000,000.00 principal, 1,000,000.00 income) and run through the normal order (L204 gives
    # no separate one). A repaid, B 50m, C 342m; back-end fee 2,000,000.00 accrued unpaid.
    s = state(
        wenhui,
        payment_date=dt.date(2025, 6, 26),
        period_index=15,
        interest_period_start=dt.date(2025, 5, 26),
        interest_period_end=dt.date(2025, 6, 26),
        notes=notes("0.00", "50000000.00"),
        accounts={"income": D("3000000.00"), "principal": D("560000000.00")},
        fees_unpaid={"backend_servicer_fee": D("2000000.00")},
        metrics={
            "pool.balance": D("280000000.00"),
            "collected.income": D("3000000.00"),
            "pool.balance_period_start": D("300000000.00"),
        },
    )
    result = run_waterfall(wenhui, s)
    assert result.mode == "normal"
    # income: taxes 3.26% x 3,000,000.00 = 97,800.00; fees on 551,952,900.00 x 31/365:
    # 3,422,107.98/365 = 9,375.638.. -> 9,375.64, 855,526.995/365 = 2,343.909.. -> 2,343.91,
    # 513,316.197/365 = 1,406.345.. -> 1,406.35 (13,125.90); B 50m x 2.90% x 31/365 =
    # 44,950,000/365 = 123,150.684.. -> 123,150.68; C 1,016,630.14; Sub return 679,252.04;
    # 3,000,000.00 - 97,800.00 - 13,125.90 - 123,150.68 - 1,016,630.14 - 679,252.04
    # = 1,070,041.24 to principal
    assert result.paid("income.3") == D("13125.90")
    assert result.paid("income.5") == D("123150.68")
    assert result.paid("income.9a") == D("679252.04")
    assert result.paid("income.9b") == D("1070041.24")
    # principal 561,070,041.24: B 50,000,000.00, C 342,000,000.00, back-end fee 300m x 0.10% x
    # 31/365 = 25,479.45 + 2,000,000.00 = 2,025,479.45, Sub 159,952,900.00, residual
    # 561,070,041.24 - 50,000,000.00 - 342,000,000.00 - 2,025,479.45 - 159,952,900.00
    # = 7,091,661.79 to the Sub class as its return
    assert result.paid("principal.3") == D("50000000.00")
    assert result.paid("principal.4") == D("342000000.00")
    assert result.paid("principal.5") == D("2025479.45")
    assert result.paid("principal.6") == D("159952900.00")
    assert result.paid("principal.7") == D("7091661.79")
    assert all(balance == 0 for balance in result.note_balances.values())
    cash_conserved(result, wenhui)


def test_annual_expense_cap_resets_each_trust_year(wenhui: DealDefinition) -> None:
    # L769 每年优先支出费用上限: 1,000,000.00 (assumed) per trust year from the effective date
    # 2024-03-29. With the whole first year's cap used, PD 2025-03-26 (still year 1) pays the
    # 50,000.00 of expenses above the cap (step 8); PD 2025-04-28 (year 2 from 2025-03-29) pays it
    # within the cap (step 3)
    full = {"annual_expense_cap": CapUsage(period_start=dt.date(2024, 3, 29), used=D("1000000.00"))}

    def run(day: dt.date) -> WaterfallResult:
        s = state(
            wenhui,
            payment_date=day,
            accounts={"income": D("10000000.00")},
            fees_incurred={"custodian_expenses": D("50000.00")},
            cap_usage=full,
        )
        return run_waterfall(wenhui, s)

    year1 = run(dt.date(2025, 3, 26))
    (line,) = [x for x in year1.lines("income.3") if x.destination.endswith("custodian_expenses")]
    assert line.paid == 0
    assert year1.paid("income.8") == D("50000.00")
    assert year1.cap_usage["annual_expense_cap"].used == D("1000000.00")
    year2 = run(dt.date(2025, 4, 28))
    (line,) = [x for x in year2.lines("income.3") if x.destination.endswith("custodian_expenses")]
    assert line.paid == D("50000.00")
    assert year2.paid("income.8") == 0
    assert year2.cap_usage["annual_expense_cap"] == CapUsage(
        period_start=dt.date(2025, 3, 29), used=D("50000.00")
    )


def test_replacement_failure_accelerates_after_90_days(wenhui: DealDefinition) -> None:
    # L926 (d)(i): a replacement is required (declared, seen first on 2024-05-20) and no successor
    # is found within 90 days: 2024-08-17 is 89 days later, 2024-08-18 is 90 (11 + 30 + 31 + 18)
    def outcome(day: dt.date, watch: Any) -> Any:
        s = state(wenhui, trigger_watch={"acc_d_replacement_failure": watch} if watch else {})
        return evaluate_trigger(wenhui, "acc_d_replacement_failure", s, declared=True, as_of=day)

    first = outcome(dt.date(2024, 5, 20), None)
    assert not first.in_effect and first.watch is not None
    assert not outcome(dt.date(2024, 8, 17), first.watch).in_effect
    fired = outcome(dt.date(2024, 8, 18), first.watch)
    assert fired.in_effect and fired.watch is None
    # (d)(ii) the backup servicer stopping with no successor accelerates at once
    s = state(wenhui, triggers={"acc_d_backup_servicer_gap": True})
    assert select_mode(wenhui, s) == "accelerated"
