"""盛世融迪 2021-2 (seed 004) payment dates worked by hand from the prospectus rules.

Assumptions (the prospectus leaves them open; domain extract §6.5): senior coupon 3.00%
(``params.senior_coupon``), trust effective date 2021-09-15, scheduled cash flows of the
现金流归集表 (L1213-1268). Where a test says "fees zero" the assumed fee rates are set to 0.
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
from ledger.waterfall.triggers import clean_up_call_available
from tests.waterfall_checks import cash_conserved

D = Decimal
BYD_FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "004_byd_2021_2.yaml"


@pytest.fixture(scope="module")
def byd() -> DealDefinition:
    return validate_deal_file(BYD_FILE)


def without_fees(deal: DealDefinition) -> DealDefinition:
    params = dict(deal.parameters)
    for key in ("trustee_fee_rate", "custodian_fee_rate", "servicer_fee_rate"):
        params[key] = params[key].model_copy(update={"value": D(0)})
    return deal.model_copy(update={"parameters": params})


def byd_state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    metrics: dict[str, Decimal | bool] = {name: D(0) for name in deal.metrics}
    metrics.update(kw.pop("metrics", {}))
    fields: dict[str, Any] = {
        "payment_date": dt.date(2021, 10, 26),
        "period_index": 1,
        "interest_period_start": dt.date(2021, 9, 15),
        "interest_period_end": dt.date(2021, 10, 26),
        "notes": {
            "senior": NoteState(balance=D("1730000000.00")),
            "sub": NoteState(balance=D("270000000.00")),
        },
        "metrics": metrics,
    }
    fields.update(kw)
    return WaterfallState(**fields)


def test_liquidity_reserve_target_is_max_of_pool_pct_and_initial_floor(byd: DealDefinition) -> None:
    def target(pool: str, senior: str = "1730000000.00") -> Decimal:
        s = byd_state(
            byd,
            metrics={"pool.outstanding_balance": D(pool)},
            notes={"senior": NoteState(balance=D(senior)), "sub": NoteState(balance=D("1.00"))},
        )
        value = DealEnv(byd, s)["targets.liquidity_reserve"]
        assert isinstance(value, Decimal)
        return round_fen(value)

    # L1058/L2463: 1.2% × 2,066,602,069.76 = 24,799,224.83712 → 24,799,224.84
    assert target("2066602069.76") == D("24799224.84")
    # pool 946,327,314.91 (2022-11 row, L1235): 1.2% = 11,355,927.78 < 0.5% × 2,353,348,391.45
    # = 11,766,741.95725 → the floor 11,766,741.96 binds
    assert target("946327314.91") == D("11766741.96")
    # the floor binds from pool 980,561,829.77 down: 1.2% × 980,561,829.78 = 11,766,741.95736
    assert target("980561829.78") == D("11766741.96")
    assert target("990000000.00") == D("11880000.00")
    # zero once the senior class is repaid (L2461)
    assert target("500000000.00", senior="0.00") == D("0.00")


def test_first_payment_date_principal_covers_income_and_funds_the_reserve(
    byd: DealDefinition,
) -> None:
    deal = without_fees(byd)
    # collection period 1 (2021-06-18..09-30, rows 2021-06..09): principal 286,746,321.69,
    # interest 4,965,973.93; pool at 09-30 2,066,602,069.76 (L1213-1222)
    state = byd_state(
        deal,
        accounts={"income": D("4965973.93"), "principal": D("286746321.69")},
        metrics={"pool.outstanding_balance": D("2066602069.76")},
    )
    result = run_waterfall(deal, state)
    assert result.mode == "normal"
    # senior interest 1,730,000,000 × 3% × 41/365 = 5,829,863.013.. → 5,829,863.01 (L1811-1818)
    assert result.paid("income.5") == D("5829863.01")
    # liquidity reserve to 24,799,224.84 (empty before)
    assert result.paid("income.6") == D("24799224.84")
    # principal step 1: 5,829,863.01 + 24,799,224.84 − 4,965,973.93 = 25,663,113.92 (L998)
    assert result.paid("principal.1") == D("25663113.92")
    assert result.closing_accounts["cum_principal_to_income"] == D("25663113.92")  # term c
    # income step 7: a+b+c−d = 0 (c counts previous payment dates only), step 9 nothing left
    assert result.paid("income.7") == 0
    # senior principal 286,746,321.69 − 25,663,113.92 = 261,083,207.77 → 1,468,916,792.23 left
    assert result.paid("principal.2") == D("261083207.77")
    assert result.note_balances["senior"] == D("1468916792.23")
    # servicer fee step skipped: BYD AF is originator and servicer (L983)
    assert all(line.skipped for line in result.lines("income.4"))
    cash_conserved(result, deal)


def test_second_payment_date_releases_and_refills_the_reserve(byd: DealDefinition) -> None:
    deal = without_fees(byd)
    # period 2 = row 2021-10: principal 81,162,158.36, interest 1,317,116.44, pool end
    # 1,985,439,911.40 (L1222); reserve 24,799,224.84 and c = 25,663,113.92 from date 1
    state = byd_state(
        deal,
        payment_date=dt.date(2021, 11, 26),
        period_index=2,
        interest_period_start=dt.date(2021, 10, 26),
        interest_period_end=dt.date(2021, 11, 26),
        accounts={
            "income": D("1317116.44"),
            "principal": D("81162158.36"),
            "liquidity_reserve": D("24799224.84"),
            "cum_principal_to_income": D("25663113.92"),
        },
        notes={
            "senior": NoteState(balance=D("1468916792.23")),
            "sub": NoteState(balance=D("270000000.00")),
        },
        metrics={"pool.outstanding_balance": D("1985439911.40")},
    )
    result = run_waterfall(deal, state)
    # the whole reserve goes to income first (L1056)
    assert result.paid("r.9.5-liquidity") == D("24799224.84")
    # interest 1,468,916,792.23 × 3% × 31/365 = 3,742,719.498.. → 3,742,719.50
    assert result.paid("income.5") == D("3742719.50")
    # new target 1.2% × 1,985,439,911.40 = 23,825,278.9368 → 23,825,278.94
    assert result.closing_accounts["liquidity_reserve"] == D("23825278.94")
    # cover: 3,742,719.50 + 23,825,278.94 − (1,317,116.44 + 24,799,224.84) = 1,451,657.16
    assert result.paid("principal.1") == D("1451657.16")
    # income step 7 due a+b+c−d = 25,663,113.92 but nothing is left: shortfall, never cured
    (step7,) = result.lines("income.7")
    assert (step7.due, step7.paid, step7.shortfall) == (
        D("25663113.92"),
        D("0.00"),
        D("25663113.92"),
    )
    # senior principal 81,162,158.36 − 1,451,657.16 = 79,710,501.20 (domain extract §6.5)
    assert result.paid("principal.2") == D("79710501.20")
    assert result.closing_accounts["cum_principal_to_income"] == D("27114771.08")
    cash_conserved(result, deal)


def excess_income_state(deal: DealDefinition, **kw: Any) -> WaterfallState:
    """A later date with plenty of income: senior 100m, pool 500m, 30-day period."""
    fields: dict[str, Any] = {
        "payment_date": dt.date(2022, 10, 26),
        "period_index": 13,
        "interest_period_start": dt.date(2022, 9, 26),
        "interest_period_end": dt.date(2022, 10, 26),
        "accounts": {
            "income": D("5000000.00"),
            "principal": D("20000000.00"),
            "liquidity_reserve": D("11766741.96"),
            "cum_principal_to_income": D("2000000.00"),
            "cum_income_to_principal": D("700000.00"),
        },
        "notes": {
            "senior": NoteState(balance=D("100000000.00")),
            "sub": NoteState(balance=D("270000000.00")),
        },
        "fees_incurred": {"trustee_expenses": D("200000.00")},
        "metrics": {
            # taxes = 3.26% (assumed) × income collections 306,748.47 = 10,000.000122 → 10,000.00
            "collected.income": D("306748.47"),
            "pool.outstanding_balance": D("500000000.00"),
            "pool.defaults_recent_period": D("1000000.00"),
            "pool.defaults_prior_periods": D("500000.00"),
        },
    }
    fields.update(kw)
    return byd_state(deal, **fields)


def test_income_step_7_moves_a_plus_b_plus_c_minus_d_and_caps_expenses(
    byd: DealDefinition,
) -> None:
    result = run_waterfall(byd, excess_income_state(byd))
    # available income 5,000,000.00 + reserve 11,766,741.96 = 16,766,741.96
    # 1: taxes 10,000.00 → tax reserve
    assert result.closing_accounts["tax_reserve"] == D("10000.00")
    # 3: trustee 500m × 0.03% × 30/365 = 12,328.767.. → 12,328.77; custodian 500m × 0.005% ×
    #    30/365 = 2,054.794.. → 2,054.79; trustee expenses 200,000.00 capped at 150,000.00
    assert result.paid("income.3") == D("164383.56")
    # 5: 100m × 3% × 30/365 = 246,575.342.. → 246,575.34
    assert result.paid("income.5") == D("246575.34")
    # 6: target max(1.2% × 500m = 6m, floor 11,766,741.96) = 11,766,741.96 (reserve was emptied)
    assert result.paid("income.6") == D("11766741.96")
    # steps 1-6 need 12,187,700.86 < 16,766,741.96: no principal cover
    assert result.paid("principal.1") == 0
    # 7: a + b + c − d = 1,000,000 + 500,000 + 2,000,000 − 700,000 = 2,800,000.00 (L986)
    assert result.paid("income.7") == D("2800000.00")
    assert result.closing_accounts["cum_income_to_principal"] == D("3500000.00")  # d grows
    # 8: trustee expenses above the cap 50,000.00 (L987)
    assert result.paid("income.8") == D("50000.00")
    # 9: 16,766,741.96 − 12,187,700.86 − 2,800,000.00 − 50,000.00 = 1,729,041.10 to principal
    assert result.paid("income.9") == D("1729041.10")
    # senior principal 20,000,000.00 + 2,800,000.00 + 1,729,041.10 = 24,529,041.10
    assert result.paid("principal.2") == D("24529041.10")
    cash_conserved(result, byd)


def test_acceleration_sends_all_income_to_principal_and_skips_step_8(byd: DealDefinition) -> None:
    state = excess_income_state(byd, triggers={"acc_f_severe_delinquency": True})
    assert select_mode(byd, state) == "accelerated"
    result = run_waterfall(byd, state)
    # after steps 1-6 (12,187,700.86): 4,579,041.10 all to principal; no above-cap expenses;
    # nothing is recorded in d (it counts only the no-acceleration transfer)
    assert result.paid("income.7") == D("4579041.10")
    assert result.lines("income.8") == ()
    assert result.closing_accounts["cum_income_to_principal"] == D("700000.00")
    assert result.paid("principal.2") == D("24579041.10")
    cash_conserved(result, byd)


def post_default_state(deal: DealDefinition, caused_by_servicer: bool) -> WaterfallState:
    return excess_income_state(
        deal,
        accounts={
            "income": D("1000000.00"),
            "principal": D("50000000.00"),
            "liquidity_reserve": D("11766741.96"),
        },
        fees_incurred={},
        metrics={  # no income collections, so no taxes
            "collected.income": D("0.00"),
            "pool.outstanding_balance": D("500000000.00"),
        },
        triggers={"event_of_default": True, "eod_caused_by_servicer": caused_by_servicer},
    )


def test_post_default_servicer_fee_position_depends_on_fault(byd: DealDefinition) -> None:
    # pooled: 1,000,000.00 + 50,000,000.00 + 11,766,741.96 = 62,766,741.96
    # fees 12,328.77 + 2,054.79; servicer fee 500m × 0.05% × 30/365 = 20,547.945.. → 20,547.95;
    # interest 246,575.34
    not_caused = run_waterfall(byd, post_default_state(byd, caused_by_servicer=False))
    assert not_caused.mode == "post_default"
    assert not_caused.paid("default.4") == D("20547.95")
    # 62,766,741.96 − 14,383.56 − 20,547.95 − 246,575.34 = 62,485,235.11 of senior principal
    assert not_caused.paid("default.6") == D("62485235.11")
    assert all(line.skipped for line in not_caused.lines("default.7"))

    caused = run_waterfall(byd, post_default_state(byd, caused_by_servicer=True))
    assert all(line.skipped for line in caused.lines("default.4"))
    # senior principal first: 62,766,741.96 − 14,383.56 − 246,575.34 = 62,505,783.06
    assert caused.paid("default.6") == D("62505783.06")
    (fee,) = caused.lines("default.7")
    assert (fee.due, fee.paid) == (D("20547.95"), D("0.00"))  # after the senior class, nothing left
    cash_conserved(caused, byd)


def test_servicer_fee_is_paid_once_the_servicer_is_not_the_originator(byd: DealDefinition) -> None:
    state = excess_income_state(
        byd,
        role_holders={**byd.roles(), "servicer": "successor_servicer"},
        fees_incurred={},
    )
    result = run_waterfall(byd, state)
    assert result.paid("income.4") == D("20547.95")  # 500m × 0.05% × 30/365


def test_post_termination_returns_commingling_reserve_and_pays_residual(
    byd: DealDefinition,
) -> None:
    deal = without_fees(byd)
    state = byd_state(
        deal,
        accounts={
            "income": D("100.00"),
            "principal": D("1000.00"),
            "commingling_reserve": D("55.00"),
        },
        notes={"senior": NoteState(balance=D("0.00")), "sub": NoteState(balance=D("900.00"))},
        triggers={"trust_terminated": True, "event_of_default": True},
    )
    result = run_waterfall(deal, state)
    assert result.mode == "post_termination"
    assert result.paid("release.commingling") == D("55.00")  # back to the servicer (L914)
    assert result.paid("end.7") == D("900.00")
    assert result.paid("end.8") == D("200.00")  # 1,100.00 pooled − 900.00 sub principal
    cash_conserved(result, deal)


def test_mode_priority(byd: DealDefinition) -> None:
    def mode(**triggers: bool) -> str:
        return select_mode(byd, byd_state(byd, triggers=triggers))

    assert mode() == "normal"
    assert mode(acc_e_cumulative_defaults=True) == "accelerated"
    assert mode(acc_e_cumulative_defaults=True, event_of_default=True) == "post_default"
    assert mode(event_of_default=True, trust_terminated=True) == "post_termination"


def test_clean_up_call_condition(byd: DealDefinition) -> None:
    def available(pool: str, senior: str = "1730000000.00") -> bool:
        s = byd_state(
            byd,
            metrics={"pool.outstanding_balance": D(pool)},
            notes={"senior": NoteState(balance=D(senior)), "sub": NoteState(balance=D("1.00"))},
        )
        return clean_up_call_available(byd, s)

    # L781: pool at most 10% of the initial pool 2,353,348,391.45 = 235,334,839.145, so a balance
    # in fen qualifies up to 235,334,839.14 ...
    assert available("235334839.14") is True
    assert available("235334839.15") is False
    # ... or whenever the senior class is repaid, whatever the pool
    assert available("900000000.00", senior="0.00") is True


def test_clean_up_date_runs_the_post_termination_order(byd: DealDefinition) -> None:
    # The originator buys back the last 230,000,000.00 of pool at a fair value split into
    # principal 210,000,000.00 and interest 500,000.00 (L2696: negotiated, an input), on top of
    # the period's 20,000,000.00 principal and 1,000,000.00 income; the trust terminates, so the
    # PD Sat 2023-01-28 (26 Jan is a Spring Festival holiday, 28 Jan a 调休 working day) uses the
    # post-termination order (L1024-1036). Interest period 2022-12-26 .. 2023-01-26: 31 days.
    state = byd_state(
        byd,
        payment_date=dt.date(2023, 1, 28),
        period_index=16,
        interest_period_start=dt.date(2022, 12, 26),
        interest_period_end=dt.date(2023, 1, 26),
        accounts={
            "income": D("1500000.00"),
            "principal": D("230000000.00"),
            "liquidity_reserve": D("11766741.96"),
            "commingling_reserve": D("3000000.00"),
        },
        notes={
            "senior": NoteState(balance=D("150000000.00")),
            "sub": NoteState(balance=D("270000000.00")),
        },
        fees_incurred={"trustee_expenses": D("200000.00")},
        metrics={"pool.outstanding_balance": D("230000000.00")},
        triggers={"trust_terminated": True},
    )
    result = run_waterfall(byd, state)
    assert result.mode == "post_termination"
    # the commingling reserve is not trust property: back to the servicer (L914)
    assert result.paid("release.commingling") == D("3000000.00")
    # pot 1,500,000.00 + 230,000,000.00 + reserve 11,766,741.96 = 243,266,741.96
    # 3: trustee 230m x 0.03% x 31/365 = 2,139,000/365 = 5,860.274.. -> 5,860.27; custodian
    #    x 0.005% = 356,500/365 = 976.712.. -> 976.71; expenses 200,000.00 uncapped (L1028-1030)
    assert result.paid("end.3") == D("206836.98")
    # 4: servicer fee (如有, L1032) 230m x 0.05% x 31/365 = 3,565,000/365 = 9,767.123.. -> 9,767.12
    assert result.paid("end.4") == D("9767.12")
    # 5: 150m x 3% x 31/365 = 139,500,000/365 = 382,191.780.. -> 382,191.78; 6: senior in full
    assert result.paid("end.5") == D("382191.78")
    assert result.paid("end.6") == D("150000000.00")
    # 7: Sub principal 243,266,741.96 - 206,836.98 - 9,767.12 - 382,191.78 - 150,000,000.00
    #    = 92,667,946.08; nothing left as Sub return
    assert result.paid("end.7") == D("92667946.08")
    assert result.paid("end.8") == 0
    assert result.note_balances == {"senior": D("0.00"), "sub": D("177332053.92")}
    cash_conserved(result, byd)


def test_pool_balance_with_defaulted_loans_drives_the_reserve_and_principal(
    byd: DealDefinition,
) -> None:
    """Item 9 (L2899-2901, L2788, L2463; audit §9 (d2)): PD 2021-11-26 (31 days), the pool at
    2021-10-31 is 1,990,000,000.00 performing + 10,000,000.00 defaulted and not written off =
    2,000,000,000.00. Senior 1,500,000,000.00; income 1,400,000.00, principal 81,000,000.00,
    liquidity reserve 24,800,000.00; term c 25,663,113.92, term a 10,000,000.00."""
    state = byd_state(
        byd,
        payment_date=dt.date(2021, 11, 26),
        period_index=2,
        interest_period_start=dt.date(2021, 10, 26),
        interest_period_end=dt.date(2021, 11, 26),
        accounts={
            "income": D("1400000.00"),
            "principal": D("81000000.00"),
            "liquidity_reserve": D("24800000.00"),
            "cum_principal_to_income": D("25663113.92"),
        },
        notes={
            "senior": NoteState(balance=D("1500000000.00")),
            "sub": NoteState(balance=D("270000000.00")),
        },
        metrics={
            "pool.balance": D("1990000000.00"),
            "pool.outstanding_balance": D("2000000000.00"),
            "pool.defaults_recent_period": D("10000000.00"),
        },
    )
    result = run_waterfall(byd, state)
    # fees on 2bn × 31/365: trustee 0.03% → 50,958.90; custodian 0.005% → 8,493.15
    assert result.paid("income.3") == D("50958.90") + D("8493.15")
    assert result.paid("income.5") == D("3821917.81")  # 1.5bn × 3% × 31/365
    # liquidity target max(1.2% × 2bn, 0.5% × initial) = 24,000,000.00 (not 23,880,000.00)
    assert result.paid("income.6") == D("24000000.00")
    # principal step 1 covers steps 1-6: 50,958.90 + 8,493.15 + 3,821,917.81 + 24,000,000.00
    # − (1,400,000.00 + 24,800,000.00) = 1,681,369.86
    assert result.paid("principal.1") == D("1681369.86")
    (step7,) = result.lines("income.7")
    assert (step7.due, step7.paid) == (D("35663113.92"), D("0.00"))
    assert result.paid("principal.2") == D("79318630.14")
    assert result.note_balances["senior"] == D("1420681369.86")
    # with the performing pool only (params.pool_balance_includes_defaulted = 0): 23,880,000.00
    params = dict(byd.parameters)
    flag = params["pool_balance_includes_defaulted"].model_copy(update={"value": D(0)})
    performing = byd.model_copy(
        update={"parameters": {**params, "pool_balance_includes_defaulted": flag}}
    )
    assert run_waterfall(performing, state).paid("income.6") == D("23880000.00")
    cash_conserved(result, byd)
