"""Eligibility tests, repurchase prices and clean-up call conditions of the shipped deals."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from ledger.core.expr import ExprError, Value
from ledger.deal import DealDefinition, validate_deal_file
from ledger.deal.pool_rules import eligibility_failures, repurchase_price
from ledger.waterfall import NoteState, WaterfallState
from ledger.waterfall.triggers import clean_up_call_available

D = Decimal
DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"


@pytest.fixture(scope="module")
def byd() -> DealDefinition:
    return validate_deal_file(DEALS / "004_byd_2021_2.yaml")


@pytest.fixture(scope="module")
def driver() -> DealDefinition:
    return validate_deal_file(DEALS / "001_driver_china_13.yaml")


GOOD_BYD_LOAN: dict[str, Value] = {
    "borrower_age_at_origination": D(35),
    "remaining_term_years_at_origination": D(3),
    "max_days_late_ever": D(0),
    "maturity_yyyymmdd": D(20240315),
    "origination_yyyymmdd": D(20210315),
    "is_new_energy_vehicle": True,
    "initial_ltv": D("0.80"),
    "original_term_months": D(36),
    "remaining_term_months": D(33),
    "monthly_level_payment_or_principal": True,
}


def test_byd_eligibility(byd: DealDefinition) -> None:
    assert eligibility_failures(byd, GOOD_BYD_LOAN) == []
    # L1357 age 18-60; L1375 new-energy vehicle and LTV <= 85%; L1373 maturity <= 2025-04-30
    bad = {
        **GOOD_BYD_LOAN,
        "borrower_age_at_origination": D(61),
        "initial_ltv": D("0.86"),
        "maturity_yyyymmdd": D(20250501),
    }
    assert [c.id for c in eligibility_failures(byd, bad)] == ["1", "11", "13"]
    # L1361: age 35 + remaining term 30 years = 65 is not below 65
    assert [
        c.id
        for c in eligibility_failures(
            byd, {**GOOD_BYD_LOAN, "remaining_term_years_at_origination": D(30)}
        )
    ] == ["5"]


def test_missing_or_undeclared_loan_fields_are_errors(byd: DealDefinition) -> None:
    partial = {k: v for k, v in GOOD_BYD_LOAN.items() if k != "initial_ltv"}
    with pytest.raises(ExprError, match=r"criterion 13: unknown name 'loan\.initial_ltv'"):
        eligibility_failures(byd, partial)
    with pytest.raises(ExprError, match="not declared"):
        eligibility_failures(byd, {**GOOD_BYD_LOAN, "colour": D(1)})


def test_repurchase_prices(byd: DealDefinition, driver: DealDefinition) -> None:
    # seed 004 L2763: outstanding 100,000.00 + written off 5,000.00 + unpaid interest 123.45
    loan: dict[str, Value] = {
        "outstanding_principal": D("100000.00"),
        "written_off_principal": D("5000.00"),
        "accrued_unpaid_interest": D("123.45"),
    }
    assert repurchase_price(byd, loan) == D("105123.45")
    # seed 001 L13432-13446: at the Discounted Receivables Balance
    assert repurchase_price(driver, {"discounted_receivables_balance": D("88888.88")}) == D(
        "88888.88"
    )


def state(
    pool: dict[str, Value],
    notes: dict[str, NoteState],
    index: int = 20,
    day: dt.date = dt.date(2023, 6, 26),
) -> WaterfallState:
    return WaterfallState(
        payment_date=day,
        period_index=index,
        interest_period_start=dt.date(2023, 5, 26),
        interest_period_end=dt.date(2023, 6, 26),
        notes=notes,
        metrics=pool,
    )


def byd_pool(performing: str, defaulted: str = "0.00") -> dict[str, Value]:
    return {
        "pool.balance": D(performing),
        "pool.outstanding_balance": D(performing) + D(defaulted),
    }


def test_byd_clean_up_call_condition(byd: DealDefinition) -> None:
    senior = {"senior": NoteState(balance=D("500000000.00")), "sub": NoteState(balance=D("1.00"))}
    # L781: pool <= 10% × 2,353,348,391.45 = 235,334,839.145
    assert clean_up_call_available(byd, state(byd_pool("235334839.14"), senior))
    assert not clean_up_call_available(byd, state(byd_pool("235334839.15"), senior))
    # issue 13 item 9: the pool balance counts defaulted loans not written off (L2899-2901,
    # L2788): performing 230,000,000.00 + defaulted 10,000,000.00 = 240,000,000.00 > 10%
    assert not clean_up_call_available(byd, state(byd_pool("230000000.00", "10000000.00"), senior))
    # or once the senior class is repaid, whatever the pool
    repaid = {"senior": NoteState(balance=D("0.00")), "sub": NoteState(balance=D("1.00"))}
    assert clean_up_call_available(byd, state(byd_pool("900000000.00"), repaid))


def test_driver_clean_up_call_condition(driver: DealDefinition) -> None:
    notes = {"class_a": NoteState(balance=D("1.00")), "sub": NoteState(balance=D("1.00"))}
    low: dict[str, Value] = {"pool.adrb": D("800008211.03")}  # < 10% × 8,000,082,110.39
    assert clean_up_call_available(driver, state(low, notes))
    assert not clean_up_call_available(driver, state({"pool.adrb": D("800008211.04")}, notes))
    # not during the Revolving Period (L18472-18490), which runs to the PD of 28 Feb 2022
    assert not clean_up_call_available(driver, state(low, notes, index=2, day=dt.date(2022, 1, 26)))
