"""Deal definition files: shape, cross-references and formulas, each error with its YAML path."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from ledger.cli.deal import deal_app
from ledger.deal import (
    DealValidationError,
    deal_json_schema,
    load_deal_text,
    validate_deal_file,
)
from ledger.deal.steps import PayFeesStep, TopUpStep

ROOT = Path(__file__).resolve().parents[1]
BYD = ROOT / "ledger" / "deals" / "004_byd_2021_2.yaml"

MINIMAL = """
deal_id: toy
name: toy deal
seed: test
parameters:
  coupon: {value: "0.05", assumed: true, comment: "test"}
agencies: {CCXI: {name: ccxi}}
parties:
  orig: {name: Originator, roles: [originator, servicer], ratings: {CCXI: A}}
  tr: {name: Trustee, roles: [trustee]}
metrics:
  pool.balance: {description: pool}
notes:
  A: {class_name: A, rank: 1, amount: "100.00", coupon: {kind: fixed, rate: params.coupon},
      interest_carry_forward: true, amortisation: sequential, legal_maturity: 2030-01-26,
      clause: c}
accounts:
  cash: {name: cash, kind: cash, clause: c}
  reserve: {name: reserve, kind: reserve, target: "0.1 * pool.balance", clause: c}
  pdl: {name: pdl, kind: ledger, clause: c}
fees:
  trustee_fee: {payee: trustee, kind: fixed, amount: "1.00", clause: c}
collection_split:
  - {item: interest, to: cash, clause: c}
default_mode: normal
waterfalls:
  normal:
    - {id: s1, kind: pay_fees, from: cash, fees: [trustee_fee], clause: c}
    - {id: s2, kind: top_up, from: cash, accounts: [reserve], clause: c}
    - {id: s3, kind: pay_interest, from: cash, notes: [A], clause: c}
    - {id: s4, kind: pay_principal, from: cash, notes: [A], clause: c}
    - {id: s5, kind: pay, from: cash, payee: originator, clause: c}
calendar:
  cut_off_date: 2021-06-18
  calculation_day: month_end
  first_calculation_date: 2021-09-30
  collection_period: monthly
  payment_day: 26
  payment_convention: following
  first_payment_date: 2021-10-26
  determination_date: {business_days: -6, relative_to: payment_date}
  interest_period_dates: unadjusted
  remittance:
    - {offset: {business_days: 6, relative_to: calculation_date}, clause: c}
  clause: c
"""


def problems_of(text: str) -> list[str]:
    with pytest.raises(DealValidationError) as info:
        load_deal_text(text, "deal.yaml")
    return [str(p) for p in info.value.problems]


def test_minimal_deal_loads() -> None:
    deal = load_deal_text(MINIMAL)
    assert deal.notes["A"].amount == Decimal("100.00")
    assert deal.roles() == {"originator": "orig", "servicer": "orig", "trustee": "tr"}


def test_byd_deal_file_validates_and_cites_the_seed_for_every_step() -> None:
    deal = validate_deal_file(BYD)
    assert deal.deal_id == "byd_2021_2"
    assert set(deal.waterfalls) == {"normal", "accelerated", "post_default", "post_termination"}
    for steps in deal.waterfalls.values():
        for step in steps:
            assert step.clause.startswith("seed 004 L"), step.id
    income7 = next(s for s in deal.waterfalls["normal"] if s.id == "income.7")
    assert "a+b+c-d" in income7.clause and "L986" in income7.clause
    # every assumed parameter says why
    assumed = {k: p for k, p in deal.parameters.items() if p.assumed}
    assert "senior_coupon" in assumed and all(p.comment for p in assumed.values())
    # pro-rata groups as the prospectus lists them (L982, L985)
    step3 = next(s for s in deal.waterfalls["normal"] if s.id == "income.3")
    assert isinstance(step3, PayFeesStep) and step3.portion == "within_cap"
    step6 = next(s for s in deal.waterfalls["normal"] if s.id == "income.6")
    assert isinstance(step6, TopUpStep)
    assert step6.accounts == ("liquidity_reserve", "service_transfer_reserve")


def test_unknown_account_is_reported_with_yaml_path() -> None:
    text = MINIMAL.replace("accounts: [reserve]", "accounts: [reserve_liq]")
    assert problems_of(text) == ["waterfalls.normal[1].accounts[0]: unknown account 'reserve_liq'"]


def test_every_problem_is_listed_at_once() -> None:
    text = (
        MINIMAL.replace("fees: [trustee_fee]", "fees: [trustee_fees]")
        .replace("notes: [A], clause: c}\n    - {id: s4", "notes: [B], clause: c}\n    - {id: s4")
        .replace("to: cash, clause: c}\ndefault_mode", "to: kash, clause: c}\ndefault_mode")
        .replace('target: "0.1 * pool.balance"', 'target: "0.1 * pool.balanse"')
        .replace("payee: originator", "payee: sponsor")
        .replace("default_mode: normal", "default_mode: amortising")
    )
    assert problems_of(text) == [
        "accounts.reserve.target: unknown name 'pool.balanse' at column 7 (neither an engine "
        "primitive, docs/primitives.md, nor defined here)",
        "collection_split[0].to: unknown account 'kash'",
        "default_mode: unknown waterfall mode 'amortising'",
        "waterfalls.normal[0].fees[0]: unknown fee 'trustee_fees'",
        "waterfalls.normal[2].notes[0]: unknown note 'B'",
        "waterfalls.normal[4].payee: unknown role 'sponsor' (no party holds it, not vacant)",
    ]


def test_shape_errors_carry_paths() -> None:
    text = MINIMAL.replace('amount: "100.00"', 'amount: "100.001"').replace(
        "kind: top_up, from: cash", "kind: top_up, form: cash"
    )
    problems = problems_of(text)
    assert "notes.A.amount: amount '100.001' has more than 2 decimals" in problems
    assert "waterfalls.normal[1].from: Field required" in problems
    assert "waterfalls.normal[1].form: Extra inputs are not permitted" in problems


def test_formula_syntax_error_has_path_and_column() -> None:
    text = MINIMAL.replace('target: "0.1 * pool.balance"', 'target: "0.1 * __import__(1)"')
    assert problems_of(text) == [
        "accounts.reserve.target: name segment '__import__' may not start with '_' at column 7"
    ]


def test_formula_kinds_are_checked() -> None:
    text = MINIMAL.replace("{id: s5, kind: pay,", '{id: s5, when: "pool.balance + 1", kind: pay,')
    assert problems_of(text) == [
        "waterfalls.normal[4].when: formula gives a number where a bool is needed at column 14"
    ]


def test_ledger_cannot_pay_cash_and_steps_must_be_unique() -> None:
    text = MINIMAL.replace("{id: s5, kind: pay, from: cash", "{id: s1, kind: pay, from: pdl")
    assert problems_of(text) == [
        "waterfalls.normal[4].id: duplicate step id 's1' (also [0])",
        "waterfalls.normal[4].from: account 'pdl' is a ledger, expected cash or reserve",
    ]


def test_assumed_parameter_needs_comment() -> None:
    text = MINIMAL.replace('assumed: true, comment: "test"', "assumed: true")
    assert problems_of(text) == [
        "parameters.coupon: an assumed parameter needs a comment saying why and from where"
    ]


def test_yaml_numbers_are_exact_and_duplicate_keys_rejected() -> None:
    deal = load_deal_text(MINIMAL.replace('amount: "100.00"', "amount: 100.10"))
    assert deal.notes["A"].amount == Decimal("100.10")
    dup = MINIMAL.replace("seed: test", "seed: test\nseed: again")
    (problem,) = problems_of(dup)
    assert "duplicate key 'seed'" in problem and "line 5" in problem


def test_yaml_syntax_error_names_the_line() -> None:
    (problem,) = problems_of("deal_id: [unclosed\nname: x\n")
    assert "line 2" in problem and "YAML error" in problem


def test_json_schema_export() -> None:
    schema = deal_json_schema()
    assert schema["title"] == "DealDefinition"
    assert {"notes", "accounts", "waterfalls", "triggers", "calendar"} <= set(schema["properties"])
    assert "from" in yaml.safe_dump(schema)  # steps are written with 'from', the alias


def test_cli_validate(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(deal_app, ["validate", str(BYD)])
    assert ok.exit_code == 0, ok.output
    assert "OK" in ok.output and "senior_coupon" in ok.output
    bad = tmp_path / "bad.yaml"
    bad.write_text(MINIMAL.replace("accounts: [reserve]", "accounts: [reserve_liq]"))
    result = runner.invoke(deal_app, ["validate", str(bad)])
    assert result.exit_code == 1
    assert "waterfalls.normal[1].accounts[0]: unknown account 'reserve_liq'" in result.output


def test_problems_carry_the_yaml_line() -> None:
    text = MINIMAL.replace("accounts: [reserve]", "accounts: [reserve_liq]")
    with pytest.raises(DealValidationError) as info:
        load_deal_text(text, "deal.yaml")
    (problem,) = info.value.problems
    assert (
        text.splitlines()[problem.line - 1 if problem.line else 0]
        .strip()
        .startswith("- {id: s2, kind: top_up")
    )
    assert f"(line {problem.line})" in str(info.value)
