"""Seed 001's Discounted Receivables Balance, defined once (``ledger/core/discounting.py``):
hand-computed figures, the readings a deal file chooses between, and every caller agreeing."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from ledger.core.amortisation import add_months, due_date, schedule
from ledger.core.discounting import (
    DrbConvention,
    aggregate_drb,
    boarding_drb,
    drb_exact,
    drb_on,
    loan_drb,
)
from ledger.deal import validate_deal_file
from ledger.servicing.tape_formats import BoardingRow
from ledger.simulation.pool import simulate_pool
from ledger.simulation.pool_profiles import DRIVER_CHINA_13

D = Decimal
DEALS = Path(__file__).resolve().parents[1] / "ledger" / "deals"
RATE = D("0.051371")  # seed 001 L18753
SEED = DrbConvention(RATE)  # month, proportional, per receivable: the deal file's choices


def row(principal: str, rate: str, n: int, maturity: date, day: int, **kw: Any) -> dict[str, Any]:
    """A loan projection row as ``LoanBoarded`` leaves it (then ``kw`` overrides)."""
    out: dict[str, Any] = {
        "boarded": principal, "rate": rate, "remaining_term": n,
        "maturity": maturity.isoformat(), "amortization": "annuity", "payment_day": day,
        "status": "performing", "balance": principal,
    }  # fmt: skip
    out.update(kw)
    return out


def test_the_deal_file_states_each_reading() -> None:
    deal = validate_deal_file(DEALS / "001_driver_china_13.yaml")
    assert deal.drb_convention() == SEED
    for other in ("000_weshare_lease_abn", "002_xinrong_2024_1", "004_byd_2021_2"):
        assert validate_deal_file(DEALS / f"{other}.yaml").drb_convention() is None


def test_three_zero_rate_instalments_hand_example() -> None:
    # 1,000.00 due 15 Jul, 15 Aug, 15 Sep 2021 valued at 30 Jun 2021 (seed 001 L18753-18771):
    #   v = 1 / (1 + 0.051371/12) = 0.9957373315, v^2 = 0.9914928333, v^3 = 0.9872664280
    #   DRB = 1000 × (v + v^2 + v^3) = 2,974.4965927 → 2,974.50
    zero = row("3000.00", "0", 3, date(2021, 9, 15), 15)
    assert loan_drb(zero, date(2021, 6, 30), SEED) == D("2974.50")
    # July paid on schedule, at 31 Jul: 1000 × (v + v^2) = 1,987.2301647 → 1,987.23
    assert loan_drb({**zero, "balance": "2000.00"}, date(2021, 7, 31), SEED) == D("1987.23")
    # basis 30/360: 15, 45 and 75 days = 0.5, 1.5, 2.5 periods:
    #   1000 × (v^0.5 + v^1.5 + v^2.5) = 2,980.8565793 → 2,980.86
    thirty = DrbConvention(RATE, basis="30/360")
    assert loan_drb(zero, date(2021, 6, 30), thirty) == D("2980.86")


def test_contractual_instalments_not_reamortised() -> None:
    # 20,000.00 at 6%, annuity, due 26 Jul/Aug/Sep 2021: instalments 6,733.44, 6,733.44,
    # 6,733.45 (the last absorbs the rounding); at the cut-off 30 Jun 2021 both readings give
    # 6,733.44 v + 6,733.44 v^2 + 6,733.45 v^3 = 20,028.6042.. → 20,028.60
    loan = row("20000.00", "0.06", 3, date(2021, 9, 26), 26)
    rows = schedule("20000.00", "0.06", 3, "annuity", date(2021, 7, 26))
    assert [r.instalment for r in rows] == [D("6733.44"), D("6733.44"), D("6733.45")]
    assert loan_drb(loan, date(2021, 6, 30), SEED) == D("20028.60")
    # July paid on schedule (balance 13,366.56), at 31 Jul 2021 (Aug 1 period, Sep 2):
    # proportional (the contract's instalments): 6,733.44 v + 6,733.45 v^2 = 13,380.904995..
    on_schedule = {**loan, "balance": "13366.56"}
    assert drb_exact(on_schedule, date(2021, 7, 31), SEED).quantize(D("0.000001")) == D(
        "13380.904995"
    )
    assert loan_drb(on_schedule, date(2021, 7, 31), SEED) == D("13380.90")
    # reamortise: 13,366.56 over 2 instalments = 6,733.45 + 6,733.44 → 13,380.905038.. → .91
    reamortise = DrbConvention(RATE, modification="reamortise")
    assert loan_drb(on_schedule, date(2021, 7, 31), reamortise) == D("13380.91")
    # a prepayment down to 10,000.00: 13,380.904995 × 10,000.00 / 13,366.56 = 10,010.732002
    # → 10,010.73 (re-amortising over the same dates gives 5,037.53 + 5,037.53 → 10,010.73)
    prepaid = {**loan, "balance": "10000.00"}
    assert loan_drb(prepaid, date(2021, 7, 31), SEED) == D("10010.73")
    assert loan_drb(prepaid, date(2021, 7, 31), reamortise) == D("10010.73")


def test_adrb_is_the_sum_of_the_receivables_drbs() -> None:
    # "the aggregate of all Discounted Receivables Balance" (L17790-17794): two on-schedule
    # loans are 13,380.90 + 13,380.90 = 26,761.80; rounding the unrounded sum once would give
    # 26,761.809990.. → 26,761.81 (rounding: aggregate)
    loan = {**row("20000.00", "0.06", 3, date(2021, 9, 26), 26), "balance": "13366.56"}
    assert aggregate_drb([loan, loan], date(2021, 7, 31), SEED) == D("26761.80")
    aggregate = DrbConvention(RATE, rounding="aggregate")
    assert aggregate_drb([loan, loan], date(2021, 7, 31), aggregate) == D("26761.81")


def test_what_has_left_the_pool_has_no_drb() -> None:
    loan = row("20000.00", "0.06", 3, date(2021, 9, 26), 26)
    for status in ("defaulted", "repurchased", "written_off", "paid_off"):
        assert loan_drb({**loan, "status": status}, date(2021, 6, 30), SEED) == 0
    # ... but its DRB at default (the CGLR numerator, L18684-18696) is the same function on the
    # loan as it stood: 13,366.56 at 31 Jul 2021 = 13,380.90
    gone = {**loan, "status": "defaulted", "balance": "0.00"}
    assert drb_on(gone, D("13366.56"), date(2021, 7, 31), SEED) == D("13380.90")
    # past its last due date a loan is worth its balance, undiscounted
    assert loan_drb({**loan, "balance": "6699.95"}, date(2021, 9, 30), SEED) == D("6699.95")
    # a balance without boarding terms cannot be valued: refused, not zero
    with pytest.raises(ValueError, match="no boarding terms"):
        loan_drb({"status": "performing", "balance": "1.00"}, date(2021, 6, 30), SEED)


def test_accretion_identity_of_the_run_out_table() -> None:
    # ADRB_t = ADRB_{t-1} × (1 + r/12) − cash_t on every row of the seed's run-out table
    # (L4148-4313): a loan paying on schedule, valued at each month end, does the same (to the
    # fen of each month's rounding)
    loan = row("85000.00", "0.0418", 28, date(2023, 10, 26), 26)
    rows = schedule("85000.00", "0.0418", 28, "annuity", date(2021, 7, 26))
    prev = loan_drb(loan, date(2021, 6, 30), SEED)
    for k, r in enumerate(rows):
        end = due_date(*add_months(2021, 7, k), 31)
        loan = {**loan, "balance": str(r.closing_balance)}
        now = loan_drb(loan, end, SEED)
        assert abs(prev * (1 + RATE / 12) - r.instalment - now) <= D("0.01")
        prev = now
    assert prev == 0


def test_boarding_field_is_the_same_function() -> None:
    # the boarding tape's discounted_receivables_balance and the cycle's ADRB at the cut-off
    # are one figure; seed 001's pool: ADRB 8,000,082,110.39 against principal
    # 8,013,822,317.49 (L4385, L4391), 0.99829 (4.18% WA rate below the 5.1371% Discount Rate)
    pool: list[BoardingRow] = simulate_pool(DRIVER_CHINA_13, 500, seed=12)
    cut_off = DRIVER_CHINA_13.cut_off
    tape = sum((boarding_drb(r, cut_off, SEED) for r in pool), D("0.00"))
    rows = [
        row(str(r.outstanding_principal), str(r.interest_rate), r.remaining_term_months,
            r.maturity_date, r.payment_day, amortization=r.amortization.value)
        for r in pool
    ]  # fmt: skip
    assert aggregate_drb(rows, cut_off, SEED) == tape
    principal = sum((r.outstanding_principal for r in pool), D("0.00"))
    assert D("0.985") < tape / principal < D("1.0")
