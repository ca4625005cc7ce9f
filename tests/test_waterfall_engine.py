"""The waterfall engine, one step kind at a time, on a small toy deal with hand-worked fen figures.

The toy period runs 2021-01-01 to 2021-01-31: 30 actual days (act/365f) and 30 days on 30/360.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from ledger.core.journal import apply_entries, trial_balance
from ledger.deal import DealDefinition, load_deal_text
from ledger.waterfall import (
    NoteState,
    WaterfallError,
    WaterfallResult,
    WaterfallState,
    run_waterfall,
    select_mode,
)

D = Decimal

BASE = """
deal_id: toy
name: toy deal
seed: test
parameters:
  a_coupon: {value: "0.10", assumed: true, comment: test}
agencies: {CCXI: {name: ccxi}}
parties:
  orig: {name: Originator, roles: [originator, servicer, subordinated_holder]}
  tr: {name: Trustee, roles: [trustee, custodian]}
metrics:
  pool.balance: {description: pool}
  pool.defaults_recent_period: {description: defaults this period}
notes:
  A: {class_name: A, rank: 1, amount: "1000.00", coupon: {kind: fixed, rate: params.a_coupon},
      interest_carry_forward: true, amortisation: sequential, legal_maturity: 2030-01-26,
      clause: c}
  B: {class_name: B, rank: 2, amount: "500.00", coupon: {kind: fixed, rate: "0.12"},
      day_count: 30/360, interest_carry_forward: false, amortisation: sequential,
      legal_maturity: 2030-01-26, clause: c}
  S: {class_name: S, rank: 3, amount: "300.00", coupon: {kind: none},
      period_return_cap: "0.05", interest_carry_forward: false, amortisation: sequential,
      legal_maturity: 2030-01-26, clause: c}
accounts:
  income: {name: income, kind: cash, clause: c}
  principal: {name: principal, kind: cash, clause: c}
  reserve: {name: reserve, kind: reserve, target: "0.02 * pool.balance", clause: c}
  reserve2: {name: reserve2, kind: reserve, target: "10", clause: c}
  tax_reserve: {name: tax reserve, kind: reserve, clause: c}
  pdl: {name: pdl, kind: ledger, clause: c}
caps:
  senior: {amount: "100", clause: c}
fees:
  trustee_fee: {payee: trustee, kind: rate, rate: "0.01", base: pool.balance,
                day_count: act/365f, clause: c}
  fixed_fee: {payee: custodian, kind: fixed, amount: "12.34", clause: c}
  exp_t: {payee: trustee, kind: expense, cap: senior, clause: c}
  exp_c: {payee: custodian, kind: expense, cap: senior, clause: c}
  tax: {payee: trustee, kind: tax, paid_into: tax_reserve, clause: c}
  backend_fee: {payee: servicer, kind: rate, rate: "0.002", base: pool.balance,
                day_count: act/365f, back_end: true, carry_forward: false, clause: c}
collection_split:
  - {item: interest, to: income, clause: c}
triggers:
  t1: {description: declared, declared: true, clause: c}
modes:
  - {mode: other, when: triggers.t1, clause: c}
default_mode: normal
waterfalls:
  other:
    - {id: x, kind: pay, from: income, payee: originator, clause: c}
  normal:
"""

CALENDAR = """
calendar:
  cut_off_date: 2020-12-01
  calculation_day: month_end
  first_calculation_date: 2020-12-31
  collection_period: monthly
  payment_day: 26
  payment_convention: following
  first_payment_date: 2021-01-26
  determination_date: {business_days: -6, relative_to: payment_date}
  interest_period_dates: unadjusted
  remittance:
    - {offset: {business_days: 6, relative_to: calculation_date}, clause: c}
  clause: c
"""


def toy(steps: str) -> DealDefinition:
    """The toy deal with ``steps`` (YAML list items, 4-space indented) as mode ``normal``."""
    return load_deal_text(BASE + steps + CALENDAR)


def state(**kw: Any) -> WaterfallState:
    fields: dict[str, Any] = {
        "payment_date": dt.date(2021, 2, 26),
        "period_index": 1,
        "interest_period_start": dt.date(2021, 1, 1),
        "interest_period_end": dt.date(2021, 1, 31),
        "notes": {
            "A": NoteState(balance=D("1000.00")),
            "B": NoteState(balance=D("500.00")),
            "S": NoteState(balance=D("300.00")),
        },
        "metrics": {"pool.balance": D("36500.00"), "pool.defaults_recent_period": D("0")},
    }
    fields.update(kw)
    return WaterfallState(**fields)


def lines(result: WaterfallResult, step_id: str) -> list[tuple[str, str, str, str, str]]:
    """(destination, due, paid, shortfall, carried) of each line of a step, as strings."""
    return [
        (s.destination, str(s.due), str(s.paid), str(s.shortfall), str(s.carried_forward))
        for s in result.lines(step_id)
    ]


def assert_books_balance(result: WaterfallResult) -> None:
    """Postings move exactly the cash the balances show, and the trial balance is zero."""
    after = apply_entries({}, result.entries)
    assert trial_balance(after) == 0
    for aid in ("income", "principal", "reserve", "reserve2", "tax_reserve"):
        group = "trust" if aid in ("income", "principal") else "reserve"
        moved = after.get(f"{group}:{aid}", D(0))
        assert result.opening_accounts[aid] + moved == result.closing_accounts[aid]
        assert result.closing_accounts[aid] >= 0


def test_rate_and_fixed_fees_pro_rata_with_carry_forward() -> None:
    deal = toy(
        "    - {id: f, kind: pay_fees, from: income, fees: [trustee_fee, fixed_fee], clause: c}\n"
    )
    # trustee fee = 36,500.00 × 1% × 30/365 = 30.00; fixed fee 12.34; due 42.34, cash 40.00.
    # allocate(40.00, [30.00, 12.34]): 4000 fen × 30/42.34 = 2834.199.. → 2834,
    # 4000 × 12.34/42.34 = 1165.800.. → 1165; the 1 fen left goes to the larger remainder (.800)
    # → 28.34 and 11.66; shortfalls 1.66 and 0.68 are carried forward.
    result = run_waterfall(deal, state(accounts={"income": D("40.00")}))
    assert lines(result, "f") == [
        ("payable:fee:trustee_fee", "30.00", "28.34", "1.66", "1.66"),
        ("payable:fee:fixed_fee", "12.34", "11.66", "0.68", "0.68"),
    ]
    assert result.fees_unpaid["trustee_fee"] == D("1.66")
    assert result.closing_accounts["income"] == D("0.00")
    assert_books_balance(result)


def test_unpaid_fees_from_earlier_dates_are_due_again() -> None:
    deal = toy("    - {id: f, kind: pay_fees, from: income, fees: [fixed_fee], clause: c}\n")
    # 12.34 this date + 0.68 carried = 13.02
    result = run_waterfall(
        deal, state(accounts={"income": D("50.00")}, fees_unpaid={"fixed_fee": D("0.68")})
    )
    assert lines(result, "f") == [("payable:fee:fixed_fee", "13.02", "13.02", "0.00", "0.00")]


def test_capped_expenses_and_above_cap_routing() -> None:
    deal = toy(
        "    - {id: senior, kind: pay_fees, from: income, fees: [exp_t, exp_c],"
        " portion: within_cap, clause: c}\n"
        "    - {id: interest, kind: pay_interest, from: income, notes: [A], clause: c}\n"
        "    - {id: excess, kind: pay_fees, from: income, fees: [exp_t, exp_c],"
        " portion: above_cap, clause: c}\n"
    )
    # incurred 80.00 + 40.00 = 120.00 > cap 100.00: within-cap shares allocate(100, [80, 40])
    # = 66.67 / 33.33 (6666.67 and 3333.33 fen; the spare fen to the .67 remainder);
    # above the cap 13.33 / 6.67 is paid only after note A's interest (1000 × 10% × 30/365 =
    # 8.219.. → 8.22).
    result = run_waterfall(
        deal,
        state(
            accounts={"income": D("200.00")},
            fees_incurred={"exp_t": D("80.00"), "exp_c": D("40.00")},
        ),
    )
    assert lines(result, "senior") == [
        ("payable:fee:exp_t", "66.67", "66.67", "0.00", "0.00"),
        ("payable:fee:exp_c", "33.33", "33.33", "0.00", "0.00"),
    ]
    assert result.paid("interest") == D("8.22")
    assert lines(result, "excess") == [
        ("payable:fee:exp_t", "13.33", "13.33", "0.00", "0.00"),
        ("payable:fee:exp_c", "6.67", "6.67", "0.00", "0.00"),
    ]
    # 200.00 − 100.00 − 8.22 − 20.00 = 71.78 left
    assert result.closing_accounts["income"] == D("71.78")
    assert result.fees_unpaid["exp_t"] == result.fees_unpaid["exp_c"] == D("0.00")
    assert result.fees_unpaid["fixed_fee"] == D("12.34")  # no step of this waterfall pays it


def test_tax_is_reserved_not_paid_out() -> None:
    deal = toy("    - {id: tax, kind: pay_fees, from: income, fees: [tax], clause: c}\n")
    result = run_waterfall(
        deal, state(accounts={"income": D("10.00")}, fees_incurred={"tax": D("3.21")})
    )
    assert lines(result, "tax") == [("tax_reserve", "3.21", "3.21", "0.00", "0.00")]
    assert result.closing_accounts["tax_reserve"] == D("3.21")
    assert result.paid_out == D("0.00")
    assert_books_balance(result)


def test_interest_with_and_without_carry_forward() -> None:
    deal = toy("    - {id: i, kind: pay_interest, from: income, notes: [A, B], clause: c}\n")
    # A: 1000.00 × 10% × 30/365 = 8.219.. → 8.22, plus 1.00 carried = 9.22 (A carries shortfalls)
    # B: 500.00 × 12% × 30/360 = 5.00 (30/360: Jan 1 → Jan 31 counts 30 days)
    # cash 5.00 pro rata: 500 fen × 9.22/14.22 = 324.19.. → 324, × 5/14.22 = 175.80.. → 176
    notes = {
        "A": NoteState(balance=D("1000.00"), interest_shortfall=D("1.00")),
        "B": NoteState(balance=D("500.00")),
    }
    result = run_waterfall(deal, state(accounts={"income": D("5.00")}, notes=notes))
    assert lines(result, "i") == [
        ("payable:note:A:interest", "9.22", "3.24", "5.98", "5.98"),
        ("payable:note:B:interest", "5.00", "1.76", "3.24", "0.00"),
    ]
    assert result.interest_shortfalls == {"A": D("5.98"), "B": D("0.00"), "S": D("0.00")}


def test_sequential_principal_until_zero() -> None:
    deal = toy("    - {id: p, kind: pay_principal, from: principal, notes: [A, B], clause: c}\n")
    result = run_waterfall(deal, state(accounts={"principal": D("1200.00")}))
    assert lines(result, "p") == [
        ("payable:note:A:principal", "1000.00", "1000.00", "0.00", "0.00"),
        ("payable:note:B:principal", "500.00", "200.00", "300.00", "0.00"),
    ]
    assert result.note_balances == {"A": D("0.00"), "B": D("300.00"), "S": D("300.00")}
    assert_books_balance(result)


def test_pro_rata_principal_conserves_every_fen() -> None:
    deal = toy(
        "    - {id: p, kind: pay_principal, from: principal, notes: [A, B, S],"
        " method: pro_rata, clause: c}\n"
    )
    # 100.00 over balances 1000/500/300 (1800): 10000 fen × 1000/1800 = 5555.55.. → 5555,
    # × 500/1800 = 2777.77.. → 2777, × 300/1800 = 1666.66.. → 1666; 2 spare fen go to the
    # largest remainders (.77 then .66) → 55.55, 27.78, 16.67.
    result = run_waterfall(deal, state(accounts={"principal": D("100.00")}))
    assert [line[2] for line in lines(result, "p")] == ["55.55", "27.78", "16.67"]
    assert result.paid("p") == D("100.00")


def test_principal_to_a_targeted_balance_from_oc_percentage() -> None:
    deal = toy(
        "    - {id: p, kind: pay_principal, from: principal, notes: [A],"
        ' target_balance: "pool.balance * (1 - 0.20)", clause: c}\n'
    )
    # targeted OC 20%: A may stay at 1,100.00 × 80% = 880.00, so 120.00 is due
    result = run_waterfall(
        deal,
        state(
            accounts={"principal": D("500.00")},
            metrics={"pool.balance": D("1100.00"), "pool.defaults_recent_period": D("0")},
        ),
    )
    assert lines(result, "p") == [("payable:note:A:principal", "120.00", "120.00", "0.00", "0.00")]
    assert result.closing_accounts["principal"] == D("380.00")


def test_reserve_top_up_pro_rata_by_shortfall() -> None:
    deal = toy(
        "    - {id: r, kind: top_up, from: income, accounts: [reserve, reserve2], clause: c}\n"
    )
    # targets: 2% × 36,500.00 = 730.00 (holds 700.00 → short 30.00) and 10.00 (short 10.00);
    # 20.00 split 3:1 → 15.00 and 5.00
    result = run_waterfall(deal, state(accounts={"income": D("20.00"), "reserve": D("700.00")}))
    assert lines(result, "r") == [
        ("reserve", "30.00", "15.00", "15.00", "0.00"),
        ("reserve2", "10.00", "5.00", "5.00", "0.00"),
    ]
    assert result.closing_accounts["reserve"] == D("715.00")
    assert result.paid_out == 0
    assert_books_balance(result)


def test_reserve_excess_released_through_its_own_order() -> None:
    excess = '"max(0, accounts.reserve.balance - targets.reserve)"'
    deal = toy(
        f"    - {{id: r1, kind: pay_interest, from: reserve, notes: [B], limit: {excess},"
        " clause: c}\n"
        f"    - {{id: r2, kind: pay_principal, from: reserve, notes: [S], limit: {excess},"
        " clause: c}\n"
        f"    - {{id: r3, kind: pay, from: reserve, payee: originator, limit: {excess},"
        " clause: c}\n"
    )
    # reserve 800.00, target 730.00: only the 70.00 excess is released, B's interest 5.00 first,
    # then S's principal with the 65.00 left; the originator gets nothing; 730.00 stays
    result = run_waterfall(deal, state(accounts={"reserve": D("800.00")}))
    assert result.paid("r1") == D("5.00")
    assert result.paid("r2") == D("65.00")
    assert result.paid("r3") == D("0.00")
    assert result.closing_accounts["reserve"] == D("730.00")


def test_cover_shortfall_of_another_waterfall_up_to_step_k() -> None:
    deal = toy(
        "    - {id: p1, kind: cover_shortfall, from: principal, to: income,"
        " covers: [i1, i2], clause: c}\n"
        "    - {id: i1, kind: pay_fees, from: income, fees: [fixed_fee], clause: c}\n"
        "    - {id: i2, kind: pay_interest, from: income, notes: [A], clause: c}\n"
        "    - {id: i3, kind: pay_fees, from: income, fees: [trustee_fee], clause: c}\n"
    )
    # income must pay 12.34 + 8.22 = 20.56 but holds 5.00: principal covers 15.56 (not i3's 30.00)
    result = run_waterfall(deal, state(accounts={"income": D("5.00"), "principal": D("100.00")}))
    assert lines(result, "p1") == [("income", "15.56", "15.56", "0.00", "0.00")]
    assert result.paid("i1") + result.paid("i2") == D("20.56")
    assert result.paid("i3") == D("0.00")
    assert result.closing_accounts["principal"] == D("84.44")


def test_pdl_booking_and_cure() -> None:
    deal = toy(
        "    - {id: book, kind: book_ledger, ledger: pdl, amount: pool.defaults_recent_period,"
        " clause: c}\n"
        "    - {id: cure, kind: transfer, from: income, to: principal,"
        " amount: accounts.pdl.balance, record_in: [{ledger: pdl, sign: -1}], clause: c}\n"
    )
    # PDL opens at 10.00, defaults of 50.00 booked → 60.00; income 30.00 cures 30.00 of it
    result = run_waterfall(
        deal,
        state(
            accounts={"income": D("30.00"), "pdl": D("10.00")},
            metrics={"pool.balance": D("36500.00"), "pool.defaults_recent_period": D("50.00")},
        ),
    )
    assert lines(result, "cure") == [("principal", "60.00", "30.00", "30.00", "0.00")]
    assert result.closing_accounts["pdl"] == D("30.00")
    assert result.closing_accounts["principal"] == D("30.00")
    assert_books_balance(result)


def test_capped_subordinated_return_is_not_carried_and_residual_goes_to_originator() -> None:
    deal = toy(
        "    - {id: ret, kind: pay_return, from: income, note: S, capped: true, clause: c}\n"
        "    - {id: res, kind: pay, from: income, payee: originator, clause: c}\n"
    )
    # 300.00 × 5% p.a. × 30/365 = 1.2328.. → 1.23; capped, no carry-forward; 8.77 residual
    result = run_waterfall(deal, state(accounts={"income": D("10.00")}))
    assert lines(result, "ret") == [("payable:note:S:return", "1.23", "1.23", "0.00", "0.00")]
    assert lines(result, "res") == [("payable:party:originator", "8.77", "8.77", "0.00", "0.00")]
    short = run_waterfall(deal, state(accounts={"income": D("1.00")}))
    assert lines(short, "ret") == [("payable:note:S:return", "1.23", "1.00", "0.23", "0.00")]


def test_back_end_fee_paid_after_notes() -> None:
    deal = toy(
        "    - {id: i, kind: pay_interest, from: income, notes: [A], clause: c}\n"
        "    - {id: back, kind: pay_fees, from: income, fees: [backend_fee], clause: c}\n"
    )
    # back-end fee 36,500.00 × 0.2% × 30/365 = 6.00; after A's 8.22 only 1.78 is left; not carried
    result = run_waterfall(deal, state(accounts={"income": D("10.00")}))
    assert lines(result, "back") == [("payable:fee:backend_fee", "6.00", "1.78", "4.22", "0.00")]


def test_condition_skips_a_step_and_mode_follows_triggers() -> None:
    deal = toy(
        '    - {id: s, kind: pay, from: income, payee: trustee, amount: "1",'
        ' when: "period.index > 1", clause: c}\n'
    )
    result = run_waterfall(deal, state(accounts={"income": D("10.00")}))
    (line,) = result.lines("s")
    assert line.skipped and line.paid == 0
    assert select_mode(deal, state()) == "normal"
    triggered = state(accounts={"income": D("10.00")}, triggers={"t1": True})
    assert select_mode(deal, triggered) == "other"
    assert run_waterfall(deal, triggered).paid("x") == D("10.00")


def test_inconsistent_states_are_refused() -> None:
    deal = toy("    - {id: s, kind: pay, from: income, payee: trustee, clause: c}\n")
    with pytest.raises(WaterfallError, match="opens negative"):
        run_waterfall(deal, state(accounts={"income": D("-0.01")}))
    with pytest.raises(WaterfallError, match="does not define"):
        run_waterfall(deal, state(accounts={"reserve_liq": D("1.00")}))
    with pytest.raises(WaterfallError, match="no waterfall mode"):
        run_waterfall(deal, state(), mode="accelerated")
    # a declared metric the state does not supply has no value: reading it fails, never 0
    with pytest.raises(WaterfallError, match=r"pool\.balance has no value on 2021-02-26"):
        run_waterfall(deal, state(metrics={}))


def test_state_and_result_round_trip_through_json() -> None:
    deal = toy(
        "    - {id: f, kind: pay_fees, from: income, fees: [trustee_fee, fixed_fee], clause: c}\n"
    )
    s = state(accounts={"income": D("40.00")}, triggers={"t1": False})
    assert WaterfallState.model_validate_json(s.model_dump_json()) == s
    result = run_waterfall(deal, s)
    assert WaterfallResult.model_validate_json(result.model_dump_json()) == result
    assert '"paid":"28.34"' in result.model_dump_json()  # money as exact strings, never floats
