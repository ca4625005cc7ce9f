"""A deal's vocabulary is closed (issue 13, part A): every name a formula reads is an engine
primitive (docs/primitives.md) the deal declares, or a formula of the file; ``deal validate``
refuses anything else and every formula that fails on a synthetic state, with its YAML path and
line; a formula that still fails on a payment date stops that date with its file and line."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from events.envelope import NewEvent
from events.servicing import LoanBoarded
from ledger.cycle.acts import issue_notes
from ledger.cycle.schedule import CycleError
from ledger.cycle.walk import run_due
from ledger.deal import DealValidationError, load_deal_text, validate_deal_file
from ledger.deal.loader import line_of
from ledger.servicing.deals import load_deal
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE, posted_by

D = Decimal
BYD = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "004_byd_2021_2.yaml"
TEXT = BYD.read_text(encoding="utf-8")


def problems(text: str) -> list[str]:
    with pytest.raises(DealValidationError) as info:
        load_deal_text(text, "byd.yaml")
    return [p.describe() for p in info.value.problems]


def line(text: str, fragment: str) -> int:
    """The 1-based line of ``fragment``'s first occurrence."""
    return text[: text.index(fragment)].count("\n") + 1


def edited(old: str, new: str) -> str:
    assert TEXT.count(old) == 1, old
    return TEXT.replace(old, new)


def test_every_seed_deal_validates() -> None:
    for path in sorted(BYD.parent.glob("*.yaml")):
        validate_deal_file(path)


def test_a_metric_that_is_neither_a_primitive_nor_a_formula_is_refused_at_its_line() -> None:
    text = edited(
        "metrics:\n",
        "metrics:\n  pool.accumulation_over_15pct_twice: {kind: bool, description: EAE (b)}\n",
    )
    assert problems(text) == [
        "metrics.pool.accumulation_over_15pct_twice: not an engine primitive "
        f"(docs/primitives.md) and no formula (line {line(text, 'pool.accumulation_over')})"
    ]


def test_a_primitive_must_be_declared_with_its_kind_and_parameters() -> None:
    undeclared = edited("price: pool.clean_up_price", "price: pool.wac")
    assert problems(undeclared) == [
        "clean_up_call.price: unknown name 'pool.wac' at column 1 (an engine primitive: "
        f"declare it under metrics:) (line {line(undeclared, 'price: pool.wac')})"
    ]
    kind = edited(
        "  pool.balance:\n    description:", "  pool.balance:\n    kind: bool\n    description:"
    )
    assert problems(kind)[0].startswith(
        "metrics.pool.balance.kind: the primitive pool.balance is a number"
    )
    adrb = edited("metrics:\n", "metrics:\n  pool.adrb: {description: ADRB}\n")
    assert problems(adrb) == [
        "metrics.pool.adrb: the primitive pool.adrb needs discounted_balance "
        f"(line {line(adrb, '  pool.adrb:')})"
    ]
    dry = edited(
        'target: "if(defs.servicer_lacks_required_rating, defs.commingling_reserve_amount, 0)"',
        'target: "if(defs.servicer_lacks_required_rating, dry_run.notes.senior.balance, 0)"',
    )
    assert (
        "unknown name 'dry_run.notes.senior.balance' at column 41 (an engine primitive for "
        "trigger formulas only, under metrics:)"
    ) in problems(dry)[0]


def test_a_formula_metric_reads_period_figures_only() -> None:
    text = edited(
        '    formula: "pool.cumulative_defaults / params.initial_pool_balance"',
        '    formula: "pool.cumulative_defaults / notes.senior.balance"',
    )
    assert problems(text)[0].startswith(
        "metrics.pool.cumulative_default_ratio.formula: unknown name 'notes.senior.balance'"
    )
    average = edited(
        '    formula: "pool.cumulative_defaults / params.initial_pool_balance"',
        '    formula: "pool.severe_delinquency_ratio_avg3"',
    )
    assert "unknown name 'pool.severe_delinquency_ratio_avg3'" in problems(average)[0]
    own = edited("  pool.clean_up_price:\n    formula:", "  pool.adrb:\n    formula:")
    assert problems(own)[0].startswith("metrics.pool.adrb: metric name is reserved or malformed")


@pytest.mark.parametrize(
    ("formula", "why"),
    [
        ("1 / 0", "division by zero"),
        ("params.tax_rate / 0", "division by zero"),
        ("defs.pool_balance / (params.pool_balance_includes_defaulted - 1)", "division by zero"),
        ("if(dates.cut_off + months(1000000000000000) > period.end, 0, 1)", "date out of range"),
        ("if(dates.closing + days(1000000000000000) > period.end, 0, 1)", "date out of range"),
        # the branch a first payment date does not take is evaluated too
        ("if(defs.pool_balance > 0, 1, 1 / 0)", "division by zero"),
        ("if(triggers.trust_terminated, collected.income / 0, 0)", "division by zero"),
    ],
)
def test_a_formula_that_fails_on_a_synthetic_state_is_refused_at_load(
    formula: str, why: str
) -> None:
    text = edited("    amount: params.paying_agent_fee_monthly\n", f'    amount: "{formula}"\n')
    (problem,) = problems(text)
    assert problem.startswith("fees.paying_agent_fee.amount: fails when evaluated on a synthetic")
    assert why in problem
    assert problem.endswith(f"(line {line(text, formula)})")


def test_a_condition_on_fixed_values_takes_its_real_branch_only() -> None:
    # paying_agent_fee_monthly is 0: the division is never reached on any date
    text = edited(
        "    amount: params.paying_agent_fee_monthly\n",
        '    amount: "if(params.paying_agent_fee_monthly > 0, 100 / '
        'params.paying_agent_fee_monthly, 0)"\n',
    )
    load_deal_text(text)


def test_a_type_error_is_refused_at_load() -> None:
    text = edited("    amount: params.paying_agent_fee_monthly\n", "    amount: dates.cut_off\n")
    assert problems(text) == [
        "fees.paying_agent_fee.amount: formula gives a date where a number is needed at "
        f"column 1 (line {line(text, 'amount: dates.cut_off')})"
    ]


def test_a_formula_that_fails_on_a_payment_date_stops_it_with_its_file_and_line(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """The synthetic state has defaults; the first payment date has none: the fee divides by
    zero there. The date is not posted, and the error names the file and the formula's line."""
    formula = "params.paying_agent_fee_monthly + 1000 / pool.defaults_recent_period"
    text = edited("    amount: params.paying_agent_fee_monthly\n", f'    amount: "{formula}"\n')
    path = tmp_path / "byd.yaml"
    path.write_text(text, encoding="utf-8")
    deal_id = load_deal(store, path).deal_id
    issue_notes(store, deal_id, who=TRUSTEE)
    boarded = LoanBoarded(
        loan_id="L1", borrower_id="B1", origination_date=dt.date(2020, 6, 15),
        maturity_date=dt.date(2024, 6, 15), original_principal=D("1000.00"),
        outstanding_principal=D("1000.00"), interest_rate=D("0.05"),
        amortization="level_principal", payment_day=15, remaining_term_months=36,
        days_past_due=0, cut_off_date=dt.date(2021, 6, 18),
    )  # fmt: skip
    new = NewEvent.of(
        boarded, deal_id=deal_id, stream_id=boarded.default_stream(),
        effective_date=dt.date(2021, 6, 18), idempotency_key="b", **posted_by("LoanBoarded"),
    )  # fmt: skip
    store.append([new])
    head = store.head(deal_id)
    with pytest.raises(CycleError) as info:
        run_due(store, deal_id, dt.date(2021, 12, 31))
    message = str(info.value)
    assert message.startswith("payment date 2021-10-26 of deal byd_2021_2 not posted: ")
    assert f"{path}, line {line(text, formula)} (fees.paying_agent_fee.amount)" in message
    assert "division by zero" in message
    assert store.head(deal_id) == head
    assert not list(store.read(deal_id, types=["CollectionPeriodClosed"]))


def test_line_of_reads_dotted_keys() -> None:
    import yaml

    root = yaml.compose("metrics:\n  pool.balance:\n    formula: x\n  b: 1\n")
    assert line_of(root, "metrics.pool.balance.formula") == 3
    assert line_of(root, "metrics.b") == 4
