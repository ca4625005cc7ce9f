"""欣荣 2024-1 (seed 002, Ruifude auto loans, one revolving purchase) payment dates by hand.

The rating report paraphrases the trust contract: the income order L246, the principal order L248,
the post-default order L250, the triggers L222-236 and the reserve targets L302-304. Blank terms are
the ASSUMED parameters of docs/deals/002_xinrong_2024_1.md: senior 3.40% Act/365; participants'
fees 0.01% p.a. of the aggregate note balance; servicer fee 0.10% p.a. of the pool at the start of
the collection period x collection-period days / 365; expense cap 150,000.00 per payment date;
purchase at par; severe-delinquency level 1.5%; clean-up at 10%.

Modes: revolving (only the first distribution, L135), amortising (also the accelerated order: an
acceleration event only changes where income step 9 goes and ends the revolving period, L246,
L274), post-default (L250). No separate clean-up waterfall (L192 only names the call).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.core.money import round_fen
from ledger.deal import DealDefinition, validate_deal_file
from ledger.deal.names import metric_kind
from ledger.waterfall import (
    NoteState,
    WaterfallState,
    evaluate_trigger,
    run_waterfall,
    select_mode,
)
from ledger.waterfall.env import DealEnv
from ledger.waterfall.triggers import clean_up_call_available
from tests.waterfall_checks import cash_conserved

D = Decimal
FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "002_xinrong_2024_1.yaml"


@pytest.fixture(scope="module")
def xinrong() -> DealDefinition:
    return validate_deal_file(FILE)


def state(deal: DealDefinition, senior: str = "1763000000.00", **kw: Any) -> WaterfallState:
    metrics: dict[str, Decimal | bool] = {
        name: (False if metric_kind(deal, name) == "bool" else D(0)) for name in deal.metrics
    }
    metrics.update(kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2024, 6, 26),
        "period_index": 1,
        "interest_period_start": dt.date(2024, 5, 16),
        "interest_period_end": dt.date(2024, 6, 26),
        "collection_period_end": dt.date(2024, 5, 31),
        "notes": {
            "senior": NoteState(balance=D(senior)),
            "sub": NoteState(balance=D("437000000.00")),
        },
        "metrics": metrics,
    }
    fields.update(kw)
    return WaterfallState(**fields)


def first_date(deal: DealDefinition, **kw: Any) -> WaterfallState:
    # Sheet example 1: PD 2024-06-26, interest 2024-05-16 .. 06-26 = 41 days, collection period
    # 2024-01-01 .. 05-31 = 152 days; income 70,000,000.00, principal 500,000,000.00; taxes
    # 10,000.00, issuance costs advanced 500,000.00, expenses 100,000.00; defaults 3,000,000.00;
    # the buyer elects loans with OPB 480,000,000.00 at 2024-06-01
    return state(
        deal,
        accounts={"income": D("70000000.00"), "principal": D("500000000.00")},
        fees_incurred={
            "taxes_and_levies": D("10000.00"),
            "issuance_expenses_advanced": D("500000.00"),
            "participants_expenses": D("100000.00"),
        },
        metrics={
            "pool.balance_period_start": D("2412815100.00"),
            "collection.days": D("152"),
            "pool.cumulative_defaults": D("3000000.00"),
            "revolving.offered_balance": D("480000000.00"),
            "revolving.offered_wac": D("0.0850"),
            "pool.balance": D("1900000000.00"),
            "pool.wac": D("0.0900"),
        },
        **kw,
    )


def test_revolving_first_date_pays_the_sub_return_and_buys_loans(xinrong: DealDefinition) -> None:
    result = run_waterfall(xinrong, first_date(xinrong))
    assert result.mode == "revolving"
    assert result.paid("income.1") == D("10000.00")
    assert result.paid("income.2") == D("500000.00")
    # 3: 2,200,000,000.00 x 0.01% x 41/365 = 9,020,000/365 = 24,712.328.. -> 24,712.33 + 100,000.00
    assert result.paid("income.3") == D("124712.33")
    # 4: skipped, 瑞福德汽金 is originator and servicer (L246)
    assert all(line.skipped for line in result.lines("income.4"))
    # 5: 1,763,000,000.00 x 3.40% x 41/365 = 2,457,622,000/365 = 6,733,210.958.. -> 6,733,210.96
    assert result.paid("income.5") == D("6733210.96")
    assert result.paid("income.6") == 0  # servicer rated: reserve targets 0 (L302 (a), L304)
    assert result.paid("income.7") == D("3000000.00")  # defaults made good to principal
    # 8: 2,412,815,100.00 x 0.10% x 152/365 = 366,747,895.2/365 = 1,004,788.754.. -> 1,004,788.75
    assert result.paid("income.8") == D("1004788.75")
    # 9: revolving, no acceleration: 70,000,000.00 - 10,000.00 - 500,000.00 - 124,712.33
    #    - 6,733,210.96 - 3,000,000.00 - 1,004,788.75 = 58,627,287.96 as the Sub return (L246)
    assert result.paid("income.9") == D("58627287.96")
    # principal 500,000,000.00 + 3,000,000.00: purchase at par 480,000,000.00, 23,000,000.00 stays
    assert result.paid("principal.R2") == D("480000000.00")
    assert result.closing_accounts["principal"] == D("23000000.00")
    assert result.closing_accounts["cum_purchased_opb"] == D("480000000.00")
    assert result.note_balances["senior"] == D("1763000000.00")  # no amortisation yet
    cash_conserved(result, xinrong)


def test_acceleration_in_the_revolving_period_ends_it(xinrong: DealDefinition) -> None:
    # L135: the revolving period ends on the day an acceleration event occurs; L246: the income
    # remainder then goes to principal. The trigger state is fresh (the revolving_ended latch has
    # not seen it yet), so the mode rule itself has to test the acceleration.
    s = first_date(xinrong, triggers={"acc_f_severe_delinquency": True})
    assert select_mode(xinrong, s) == "amortising"
    result = run_waterfall(xinrong, s)
    assert result.paid("income.9") == D("58627287.96")  # to principal, not to the Sub class
    assert result.lines("principal.R2") == ()  # no purchase
    # senior 500,000,000.00 + 3,000,000.00 + 58,627,287.96 = 561,627,287.96
    assert result.paid("principal.A2") == D("561627287.96")
    assert result.note_balances["senior"] == D("1201372712.04")
    cash_conserved(result, xinrong)


def test_cdr_denominator_grows_with_the_revolving_purchase(xinrong: DealDefinition) -> None:
    def cdr(purchased: str, end: dt.date) -> tuple[Decimal, bool]:
        """The ratio and trigger for the collection period ending ``end``, tested on its
        determination date (about 18 days later)."""
        s = state(
            xinrong,
            accounts={"cum_purchased_opb": D(purchased)},
            metrics={"pool.cumulative_defaults": D("80000000.00")},
            collection_period_end=end,
        )
        out = evaluate_trigger(
            xinrong, "acc_e_cumulative_defaults", s, as_of=end + dt.timedelta(days=18)
        )
        assert out.value is not None
        return out.value.quantize(D("0.000001")), out.in_effect

    # L234: A = 80,000,000.00 of defaults; B = 2,412,815,100.00 initial pool (+ purchases).
    # Without the purchase 80,000,000 / 2,412,815,100 = 3.3156% > 3% (first year, L224 (e))
    assert cdr("0.00", dt.date(2024, 11, 30)) == (D("0.033156"), True)
    # with the 480,000,000.00 bought at 2024-06-01: 80,000,000 / 2,892,815,100 = 2.7655% <= 3%
    assert cdr("480000000.00", dt.date(2024, 11, 30)) == (D("0.027655"), False)
    # after the first year the level is 6%
    assert cdr("0.00", dt.date(2025, 6, 30)) == (D("0.033156"), False)
    # "某一收款期间结束时" (L224 (e)): the year is that of the collection period's end, within
    # dates.closing + months(12) = 2024-05-16 + 12 months = 2025-05-16 inclusive: the period
    # ending 2025-04-30 (tested 2025-05-18, after the anniversary) is still in the first year
    assert cdr("0.00", dt.date(2025, 4, 30)) == (D("0.033156"), True)
    assert cdr("0.00", dt.date(2025, 5, 31)) == (D("0.033156"), False)
    s = state(
        xinrong,
        metrics={"pool.cumulative_defaults": D("80000000.00")},
        collection_period_end=dt.date(2025, 5, 31),
    )
    late = evaluate_trigger(xinrong, "acc_e_cumulative_defaults", s, as_of=dt.date(2025, 6, 18))
    assert late.threshold == D("0.06")


def test_severe_delinquency_acceleration_is_reversible_and_cdr_is_not(
    xinrong: DealDefinition,
) -> None:
    def avg3(value: str, was: bool) -> bool:
        s = state(
            xinrong,
            period_index=5,
            payment_date=dt.date(2024, 10, 28),
            metrics={"pool.severe_delinquency_ratio_avg3": D(value)},
            triggers={"acc_f_severe_delinquency": was},
        )
        return evaluate_trigger(xinrong, "acc_f_severe_delinquency", s).in_effect

    # L224 (f): 3-period average above 1.5% (level assumed) accelerates
    assert avg3("0.0151", was=False) is True
    assert avg3("0.0150", was=False) is False
    # L228: once it falls *below* the level the pre-acceleration order is restored; at exactly
    # 1.5% it is neither above nor below, so the acceleration stays
    assert avg3("0.0150", was=True) is True
    assert avg3("0.0149", was=True) is False
    # the cured acceleration no longer drives the mode (period 5 is in amortisation anyway)
    cured = state(
        xinrong,
        period_index=5,
        payment_date=dt.date(2024, 10, 28),  # 26 Oct a Saturday
        triggers={"acc_f_severe_delinquency": False},
    )
    assert select_mode(xinrong, cured) == "amortising"
    # the CDR acceleration (e) latches (sticky): a lower ratio later does not lift it
    s = state(
        xinrong,
        metrics={"pool.cumulative_defaults": D("1.00")},
        triggers={"acc_e_cumulative_defaults": True},
    )
    assert evaluate_trigger(xinrong, "acc_e_cumulative_defaults", s).in_effect is True


def test_servicer_downgrade_funds_both_reserves_with_principal_cover(
    xinrong: DealDefinition,
) -> None:
    # Sheet example 2: PD 2024-08-26 (07-26 .. 08-26 = 31 days), senior 1.5bn, pool at period
    # start 1,950,000,000.00 (July, 31 days), income 13,000,000.00, principal 60,000,000.00;
    # taxes 10,000.00, expenses 230,000.00; defaults 2,500,000.00; servicer BBB+ / BBB-
    s = state(
        xinrong,
        senior="1500000000.00",
        payment_date=dt.date(2024, 8, 26),
        period_index=3,
        interest_period_start=dt.date(2024, 7, 26),
        interest_period_end=dt.date(2024, 8, 26),
        accounts={"income": D("13000000.00"), "principal": D("60000000.00")},
        fees_incurred={"taxes_and_levies": D("10000.00"), "participants_expenses": D("230000.00")},
        ratings={"ruifude": {"Lianhe": "BBB+", "CBR": "BBB-"}},
        metrics={
            "pool.balance_period_start": D("1950000000.00"),
            "collection.days": D("31"),
            "pool.cumulative_defaults": D("2500000.00"),
        },
    )
    # the items (1)-(5) of the 2nd PD after the date, projected by defs.income_items_1_to_5_next_pd
    # (assumed reading of L302 (c)): taxes 0 (netted by the servicer), expenses at the cap
    # 150,000.00, fees (1.5bn + 437m) x 0.01% x 31/365 and senior interest 1.5bn x 3.40% x 31/365
    # = 51,193,700 x 31/365 = 4,347,958.0822 → 4,497,958.0822
    items = DealEnv(xinrong, s)["defs.income_items_1_to_5_next_pd"]
    assert isinstance(items, Decimal) and round_fen(items) == D("4497958.08")
    result = run_waterfall(xinrong, s)
    assert result.mode == "amortising"
    # 6: liquidity 2 x 4,497,958.0822 = 8,995,916.16 (L302 (c)); service transfer: the assumed
    #    estimates 1,500,000.00 + 500,000.00 = 2,000,000.00 (L304, nothing paid yet)
    assert [line.paid for line in result.lines("income.6")] == [D("8995916.16"), D("2000000.00")]
    # items 1-6: 10,000.00 + 166,451.23 + 4,331,506.85 + 10,995,916.16 = 15,503,874.24;
    # principal covers 15,503,874.24 - 13,000,000.00 = 2,503,874.24 (L248 incl. the reserve gaps)
    assert result.paid("principal.1") == D("2503874.24")
    assert result.closing_accounts["cum_principal_to_income"] == D("2503874.24")
    assert result.paid("income.3") == D("166451.23")  # expenses capped at 150,000.00
    # 7: PDL 2,500,000.00 + 2,503,874.24 due, nothing left; 8: servicer fee 1,950,000,000.00 x
    #    0.10% x 31/365 = 60,450,000/365 = 165,616.438.. -> 165,616.44 carried
    (cure,) = result.lines("income.7")
    assert (cure.due, cure.paid) == (D("5003874.24"), D("0.00"))
    assert result.fees_unpaid["servicer_fee"] == D("165616.44")
    # senior 60,000,000.00 - 2,503,874.24 = 57,496,125.76; above-cap 80,000.00 carried (A3)
    assert result.paid("principal.A2") == D("57496125.76")
    assert result.note_balances["senior"] == D("1442503874.24")
    assert result.fees_unpaid["participants_expenses"] == D("80000.00")
    cash_conserved(result, xinrong)


def short_income(deal: DealDefinition, **kw: Any) -> WaterfallState:
    # amortising PD 2024-08-26 (31 days), senior 1.5bn, pool 1,950,000,000.00, income
    # 4,000,000.00, principal 60,000,000.00, taxes 10,000.00, servicer rated (reserves 0)
    return state(
        deal,
        senior="1500000000.00",
        payment_date=dt.date(2024, 8, 26),
        period_index=3,
        interest_period_start=dt.date(2024, 7, 26),
        interest_period_end=dt.date(2024, 8, 26),
        accounts={"income": D("4000000.00"), "principal": D("60000000.00")},
        fees_incurred={"taxes_and_levies": D("10000.00")},
        metrics={"pool.balance_period_start": D("1950000000.00"), "collection.days": D("31")},
        **kw,
    )


def test_servicer_fee_step_4_or_8_depends_on_originator_being_servicer(
    xinrong: DealDefinition,
) -> None:
    # dues: taxes 10,000.00; fees 16,451.23; servicer fee 165,616.44; senior 4,331,506.85
    own = run_waterfall(xinrong, short_income(xinrong))
    # originator = servicer: the fee is step 8, behind the PDL cure and not covered by principal
    # (L248 "发起机构为贷款服务机构时应支付的服务报酬除外"): cover 10,000.00 + 16,451.23
    # + 4,331,506.85 - 4,000,000.00 = 357,958.08
    assert all(line.skipped for line in own.lines("income.4"))
    assert own.paid("principal.1") == D("357958.08")
    (fee,) = own.lines("income.8")
    assert (fee.due, fee.paid, fee.carried_forward) == (D("165616.44"), D("0.00"), D("165616.44"))
    assert own.paid("principal.A2") == D("59642041.92")  # 60,000,000.00 - 357,958.08

    # the successor holds the required ratings (Lianhe A, CBR BBB), so no reserve is needed
    rated = {pid: dict(p.ratings) for pid, p in xinrong.parties.items()}
    rated["successor_servicer"] = {"Lianhe": "AA", "CBR": "A"}
    replaced = short_income(
        xinrong,
        role_holders={**xinrong.roles(), "servicer": "successor_servicer"},
        ratings=rated,
    )
    third = run_waterfall(xinrong, replaced)
    # originator is not the servicer: step 4, senior to interest and covered by principal:
    # 357,958.08 + 165,616.44 = 523,574.52
    assert third.paid("income.4") == D("165616.44")
    assert third.paid("principal.1") == D("523574.52")
    assert all(line.skipped for line in third.lines("income.8"))
    assert third.paid("principal.A2") == D("59476425.48")  # 60,000,000.00 - 523,574.52
    cash_conserved(own, xinrong)
    cash_conserved(third, xinrong)


def post_default(deal: DealDefinition, fault: bool) -> WaterfallState:
    # Sheet example 3: 30-day period, senior 800m, pool 1,100,000,000.00; income 7,000,000.00 +
    # principal 45,000,000.00 + reserves 12,000,000.00 + 2,000,000.00 = pot 66,000,000.00;
    # taxes 10,000.00, all expenses 300,000.00
    return state(
        deal,
        senior="800000000.00",
        payment_date=dt.date(2024, 12, 26),
        period_index=7,
        interest_period_start=dt.date(2024, 11, 26),
        interest_period_end=dt.date(2024, 12, 26),
        accounts={
            "income": D("7000000.00"),
            "principal": D("45000000.00"),
            "liquidity_reserve": D("12000000.00"),
            "service_transfer_reserve": D("2000000.00"),
        },
        fees_incurred={"taxes_and_levies": D("10000.00"), "participants_expenses": D("300000.00")},
        triggers={"event_of_default": True, "eod_caused_by_servicer": fault},
        metrics={"pool.balance_period_start": D("1100000000.00"), "collection.days": D("30")},
    )


def test_post_default_servicer_fee_step_4_or_7_depends_on_fault(xinrong: DealDefinition) -> None:
    # 3: 1,237,000,000.00 x 0.01% x 30/365 = 3,711,000/365 = 10,167.123.. -> 10,167.12 + 300,000.00
    #    uncapped; servicer fee 1.1bn x 0.10% x 30/365 = 33,000,000/365 = 90,410.958.. -> 90,410.96;
    # senior interest 800m x 3.40% x 30/365 = 816,000,000/365 = 2,235,616.438.. -> 2,235,616.44
    no_fault = run_waterfall(xinrong, post_default(xinrong, fault=False))
    assert no_fault.mode == "post_default"
    assert no_fault.paid("default.3") == D("310167.12")
    assert no_fault.paid("default.4") == D("90410.96")
    assert no_fault.paid("default.5") == D("2235616.44")
    # 66,000,000.00 - 10,000.00 - 310,167.12 - 90,410.96 - 2,235,616.44 = 63,353,805.48
    assert no_fault.paid("default.6") == D("63353805.48")
    assert all(line.skipped for line in no_fault.lines("default.7"))
    assert no_fault.note_balances["senior"] == D("736646194.52")

    fault = run_waterfall(xinrong, post_default(xinrong, fault=True))
    assert all(line.skipped for line in fault.lines("default.4"))
    # senior principal first: 66,000,000.00 - 10,000.00 - 310,167.12 - 2,235,616.44 = 63,444,216.44
    assert fault.paid("default.6") == D("63444216.44")
    (fee,) = fault.lines("default.7")
    assert (fee.due, fee.paid, fee.carried_forward) == (D("90410.96"), D("0.00"), D("90410.96"))
    assert fault.note_balances["senior"] == D("736555783.56")
    cash_conserved(no_fault, xinrong)
    cash_conserved(fault, xinrong)


def test_clean_up_threshold_counts_the_purchased_loans(xinrong: DealDefinition) -> None:
    def available(pool: str) -> bool:
        s = state(
            xinrong,
            accounts={"cum_purchased_opb": D("480000000.00")},
            metrics={"pool.balance": D(pool)},
        )
        return clean_up_call_available(xinrong, s)

    # ASSUMED 10% x (2,412,815,100.00 + 480,000,000.00) = 289,281,510.00
    assert available("289281510.00") is True
    assert available("289281510.01") is False


def test_clean_up_date_repays_both_classes_and_the_above_cap_expenses(
    xinrong: DealDefinition,
) -> None:
    # PD 2025-06-26 (05-26 .. 06-26, 31 days): the settlor exercises the clean-up (pool
    # 280,000,000.00 <= 289,281,510.00); the price joins the collections: income 2,000,000.00,
    # principal 700,000,000.00. Senior 250m; taxes 10,000.00; expenses 180,000.00 (150,000.00
    # within the cap); pool at the start of the collection period 300m (31 days)
    s = state(
        xinrong,
        senior="250000000.00",
        payment_date=dt.date(2025, 6, 26),
        period_index=13,
        interest_period_start=dt.date(2025, 5, 26),
        interest_period_end=dt.date(2025, 6, 26),
        accounts={
            "income": D("2000000.00"),
            "principal": D("700000000.00"),
            "cum_purchased_opb": D("480000000.00"),
        },
        fees_incurred={"taxes_and_levies": D("10000.00"), "participants_expenses": D("180000.00")},
        metrics={
            "pool.balance": D("280000000.00"),
            "pool.balance_period_start": D("300000000.00"),
            "collection.days": D("31"),
        },
    )
    assert clean_up_call_available(xinrong, s)
    result = run_waterfall(xinrong, s)
    assert result.mode == "amortising"
    # 3: 687,000,000.00 x 0.01% x 31/365 = 2,129,700/365 = 5,834.794.. -> 5,834.79 + 150,000.00
    assert result.paid("income.3") == D("155834.79")
    # 5: 250m x 3.40% x 31/365 = 263,500,000/365 = 721,917.808.. -> 721,917.81
    assert result.paid("income.5") == D("721917.81")
    # 8: 300m x 0.10% x 31/365 = 9,300,000/365 = 25,479.452.. -> 25,479.45
    assert result.paid("income.8") == D("25479.45")
    # 9: 2,000,000.00 - 10,000.00 - 155,834.79 - 721,917.81 - 25,479.45 = 1,086,767.95
    assert result.paid("income.9") == D("1086767.95")
    # principal 701,086,767.95: senior 250m, above-cap 30,000.00 (L248), Sub 437m, residual
    # 701,086,767.95 - 250,000,000.00 - 30,000.00 - 437,000,000.00 = 14,056,767.95
    assert result.paid("principal.A2") == D("250000000.00")
    assert result.paid("principal.A3") == D("30000.00")
    assert result.paid("principal.A4") == D("437000000.00")
    assert result.paid("principal.A5") == D("14056767.95")
    cash_conserved(result, xinrong)


def test_revolving_purchase_needs_pool_wac_of_8pct_after_it(xinrong: DealDefinition) -> None:
    # L164 (p): pool WAC after the purchase at least 8%. Pool 1,900,000,000.00 at 7.80% plus
    # 480,000,000.00 at 8.50%: (148,200,000 + 40,800,000) / 2,380,000,000 = 7.941..% < 8%
    s = first_date(xinrong)
    low = s.model_copy(update={"metrics": {**s.metrics, "pool.wac": D("0.0780")}})
    result = run_waterfall(xinrong, low)
    (line,) = result.lines("principal.R2")
    assert (line.due, line.paid, line.failed_tests) == (D("480000000.00"), D("0.00"), ("p",))
    assert result.closing_accounts["principal"] == D("503000000.00")  # nothing spent
    assert result.closing_accounts["cum_purchased_opb"] == D("0.00")
    cash_conserved(result, xinrong)


def test_revolving_purchase_is_capped_by_the_principal_account(xinrong: DealDefinition) -> None:
    # offered 600,000,000.00 at par; the principal sub-account holds 500,000,000.00 + 3,000,000.00
    # made good by income step 7 = 503,000,000.00, which buys 503,000,000.00 of OPB. WAC after:
    # (1,900,000,000 × 9% + 503,000,000 × 8.5%) / 2,403,000,000 = 213,755,000 / 2,403,000,000
    # = 8.895..% >= 8%
    s = first_date(xinrong)
    big = s.model_copy(
        update={"metrics": {**s.metrics, "revolving.offered_balance": D("600000000.00")}}
    )
    result = run_waterfall(xinrong, big)
    (line,) = result.lines("principal.R2")
    assert (line.due, line.paid) == (D("600000000.00"), D("503000000.00"))
    assert result.closing_accounts["principal"] == D("0.00")
    assert result.closing_accounts["cum_purchased_opb"] == D("503000000.00")
    (bought,) = result.purchases
    assert (bought.seller, bought.balance) == ("seller", D("503000000.00"))
    cash_conserved(result, xinrong)


def test_revolving_period_ends_with_the_first_payment_date(xinrong: DealDefinition) -> None:
    # L135: 持续购买期 to 2024-06-26 (excluded) at the latest; the 2024-06-26 distribution is made
    # on 2024-06-18, inside it; the next payment date 2024-07-26 is in the amortisation period
    assert select_mode(xinrong, first_date(xinrong)) == "revolving"
    later = first_date(xinrong, payment_date=dt.date(2024, 7, 26), period_index=2)
    assert select_mode(xinrong, later) == "amortising"
    # an event of default or a servicer termination event ends it directly (L135 (3), (4))
    for tid in ("acc_b_servicer_termination", "acc_e_cumulative_defaults", "revolving_ended"):
        assert select_mode(xinrong, first_date(xinrong, triggers={tid: True})) == "amortising"
    assert "revolving_ended" in xinrong.revolving_end_triggers()
    assert "servicer_downgrade_reserves" not in xinrong.revolving_end_triggers()
