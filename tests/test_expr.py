"""The safe expression language: grammar, Decimal evaluation, and refusal of everything else."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.expr import (
    Call,
    ExprError,
    Kind,
    Name,
    Value,
    check,
    evaluate,
    evaluate_bool,
    evaluate_date,
    evaluate_number,
    parse,
    rating_rank,
)

D = Decimal
ENV: dict[str, Value] = {
    "pool.balance": D("2066602069.76"),
    "pool.initial_balance": D("2353348391.45"),
    "notes.senior.balance": D("1730000000.00"),
    "triggers.acceleration": False,
    "ratings.servicer.CCXI": rating_rank("AA"),
}


def test_byd_liquidity_target_is_exact_decimal() -> None:
    # seed 004 L1058: max(1.2% × pool at period end, 0.5% × initial pool)
    # 0.012 × 2,066,602,069.76 = 24,799,224.83712 ; 0.005 × 2,353,348,391.45 = 11,766,741.95725
    value = evaluate("max(0.012 * pool.balance, 0.005 * pool.initial_balance)", ENV)
    assert value == D("24799224.83712")
    assert isinstance(value, Decimal)


def test_percent_suffix_means_hundredths() -> None:
    assert evaluate("1.2% * 1000", {}) == D("12.000")
    assert evaluate("1.2% == 0.012", {}) is True


def test_precedence_and_unary_minus() -> None:
    assert evaluate("1 + 2 * 3 - -4 / 2", {}) == D(9)
    assert evaluate("(1 + 2) * 3", {}) == D(9)
    assert evaluate("-max(1, 2) + min(5, 3, 4)", {}) == D(1)


def test_rounding_to_the_fen_up_and_down() -> None:
    # seed 001 L3723-3737 "no less than 5%": 100.00 × 5% / 95% = 5.2631.. → 5.27 (half-up 5.26
    # would be 4.996% of 105.26); floor_fen the other way; whole fen stay as they are
    assert evaluate("ceil_fen(100.00 * 0.05 / 0.95)", {}) == D("5.27")
    assert evaluate("floor_fen(100.00 * 0.05 / 0.95)", {}) == D("5.26")
    assert evaluate("ceil_fen(19.00 * 0.05 / 0.95)", {}) == D("1.00")
    assert evaluate("ceil_fen(-1.001)", {}) == D("-1.00")
    assert evaluate("floor_fen(-1.001)", {}) == D("-1.01")
    assert check(parse("ceil_fen(pool.balance)"), {"pool.balance": "number"}, "number") == []
    problems = check(parse("ceil_fen(triggers.acceleration)"), {"triggers.acceleration": "bool"})
    assert [p.reason for p in problems] == ["expected a number, got a bool"]
    for bad in ("ceil_fen(1, 2)", "floor_fen()", "ceil_fen"):
        with pytest.raises(ExprError):
            parse(bad)


def test_booleans_comparisons_and_if() -> None:
    assert evaluate("not triggers.acceleration and pool.balance > 0", ENV) is True
    assert evaluate("if(triggers.acceleration, 1, 2)", ENV) == D(2)
    assert evaluate("true or 1 / 0 > 1", {}) is True  # short-circuit: the division never runs
    assert evaluate("1 != 2", {}) is True


def test_ratings_compare_by_rank() -> None:
    # CCXI AA is not below A+ (seed 004 L914: commingling reserve when below A+)
    assert evaluate_bool("ratings.servicer.CCXI < 'A+'", ENV) is False
    assert evaluate_bool('ratings.servicer.CCXI >= "AAsf"', ENV) is True
    assert rating_rank(None) < rating_rank("D")


def test_names_lists_every_name() -> None:
    expr = parse("max(pool.balance, notes.senior.balance) + if(triggers.x, a.b, 0)")
    assert expr.names() == {"pool.balance", "notes.senior.balance", "triggers.x", "a.b"}
    assert isinstance(expr, Call) is False  # the top node is the '+'
    assert isinstance(parse("a.b"), Name)


@pytest.mark.parametrize(
    ("text", "column"),
    [
        ('__import__("os")', 1),
        ("pool.__class__", 6),
        ("pool._private", 6),
        ("lambda: 1", 7),
        ("x[0]", 2),
        ("open('f')", 1),
        ("eval(1)", 1),
        ("1 < 2 < 3", 7),
        ("'hello'", 1),
        ("1 +", 4),
        ("", 1),
        ("max(1)", 1),
        ("if(true, 1)", 1),
        ("1 ** 2", 4),
        ("a; b", 2),
        ("1.5.2", 1),
        ("f'x'", 2),
        ("a if b else c", 3),
        ("[1, 2]", 1),
        ("{}", 1),
        ("1e5", 1),
        ("0x10", 1),
    ],
)
def test_rejects_everything_outside_the_grammar(text: str, column: int) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert info.value.position == column - 1, str(info.value)
    assert f"column {column}" in str(info.value)


def test_unknown_names_are_errors_with_position() -> None:
    problems = check(parse("pool.balance + reserve_liq.balance"), {"pool.balance": "number"})
    assert [str(p) for p in problems] == ["unknown name 'reserve_liq.balance' at column 16"]
    with pytest.raises(ExprError, match="unknown name 'missing' at column 3"):
        evaluate("1+missing", {})


def test_static_kind_check() -> None:
    known: dict[str, Kind] = {"a": "number", "t": "bool"}
    assert check(parse("a + 1"), known, "number") == []
    assert [p.reason for p in check(parse("a + 1"), known, "bool")] == [
        "formula gives a number where a bool is needed"
    ]
    assert [p.reason for p in check(parse("t + 1"), known)] == ["expected a number, got a bool"]
    assert check(parse("if(t, a, t)"), known)


def test_runtime_errors() -> None:
    with pytest.raises(ExprError, match="division by zero"):
        evaluate("1 / (2 - 2)", {})
    with pytest.raises(ExprError, match="bool where a number"):
        evaluate_number("1 > 0", {})
    with pytest.raises(ExprError, match="expected a bool"):
        evaluate("not 1", {})


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=40))
def test_parser_accepts_only_its_grammar_or_raises_expr_error(text: str) -> None:
    # any text either parses to our own AST (whose names are plain dotted identifiers) or is an
    # ExprError: no other exception, and never a Python object
    try:
        expr = parse(text)
    except ExprError:
        return
    for name in expr.names():
        assert all(seg and not seg.startswith("_") for seg in name.split("."))
        assert "(" not in name and "[" not in name


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(sorted(set("_[]{}:;@`~^&|\\#$?")))))
def test_forbidden_characters_never_parse(noise: str) -> None:
    if not noise:
        return
    with pytest.raises(ExprError):
        parse(f"pool.balance + {noise}")


@settings(max_examples=200, deadline=None)
@given(
    st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False),
    st.decimals(min_value=-(10**9), max_value=10**9, places=2, allow_nan=False),
)
def test_arithmetic_matches_decimal(a: Decimal, b: Decimal) -> None:
    env = {"x.a": a, "x.b": b}
    assert evaluate("x.a + x.b * 2 - max(x.a, x.b)", env) == a + b * 2 - max(a, b)
    assert evaluate("x.a < x.b", env) is (a < b)


# --- dates -----------------------------------------------------------------------------------

DATES: dict[str, Value] = {
    "period.payment_date": dt.date(2025, 7, 18),
    "dates.closing": dt.date(2024, 1, 31),
    "x.n": D(12),
}


def test_date_literals_compare_exactly() -> None:
    assert evaluate("period.payment_date >= date('2025-07-18')", DATES) is True
    assert evaluate("period.payment_date > date('2025-07-18')", DATES) is False
    assert evaluate("date('2025-07-18') == period.payment_date", DATES) is True
    assert evaluate("max(dates.closing, date('2024-03-01'))", DATES) == dt.date(2024, 3, 1)


def test_months_clamp_to_the_month_end_and_days_are_calendar_days() -> None:
    # 31 Jan 2024 + 1 month = 29 Feb 2024 (leap year); + 13 months = 28 Feb 2025
    assert evaluate("dates.closing + months(1)", DATES) == dt.date(2024, 2, 29)
    assert evaluate("months(13) + dates.closing", DATES) == dt.date(2025, 2, 28)
    assert evaluate("dates.closing - months(2)", DATES) == dt.date(2023, 11, 30)
    assert evaluate("dates.closing + days(30)", DATES) == dt.date(2024, 3, 1)
    assert evaluate("dates.closing + months(x.n)", DATES) == dt.date(2025, 1, 31)
    # date − date is the number of days: 2024-01-31 .. 2025-07-18 = 334 + 200 = 534
    assert evaluate("period.payment_date - dates.closing", DATES) == D(534)
    assert (
        evaluate("period.payment_date <= dates.closing + months(12)", DATES) is False
    )  # 2025-07-18 is after 2025-01-31


def test_date_kinds_are_checked_statically() -> None:
    known: dict[str, Kind] = {"d": "date", "n": "number", "t": "bool"}
    assert check(parse("d + months(12) >= d"), known, "bool") == []
    assert check(parse("d - d"), known, "number") == []
    assert check(parse("if(t, d, d + days(1))"), known, "date") == []
    cases: list[tuple[str, Kind | None]] = [
        ("d + 1", None),
        ("d < 1", None),
        ("d * 2", None),
        ("months(1)", "number"),
        ("d + months(t)", "date"),
        ("max(d, n)", None),
        ("d", "number"),
        ("days(1) - d", None),
    ]
    reasons = [[p.reason for p in check(parse(text), known, want)] for text, want in cases]
    assert reasons == [
        ["cannot apply '+' to a date and a number"],
        ["cannot compare a date with a number"],
        ["cannot apply '*' to a date and a number"],
        ["formula gives a span (months/days) on its own"],
        ["expected a number, got a bool"],
        ["expected a date, got a number"],
        ["formula gives a date where a number is needed"],
        ["cannot apply '-' to a span and a date"],
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("date(2025)", "date() takes a quoted ISO date such as date('2025-07-18') at column 6"),
        ("date('2025-02-30')", "'2025-02-30' is not a date (YYYY-MM-DD) at column 6"),
        ("date('18/07/2025')", "'18/07/2025' is not a date (YYYY-MM-DD) at column 6"),
        ("date('2025-07-18'", "expected ')', found 'end of formula' at column 18"),
        ("weeks(2)", "unknown function 'weeks' at column 1"),
    ],
)
def test_date_syntax_errors(text: str, message: str) -> None:
    with pytest.raises(ExprError) as info:
        parse(text)
    assert str(info.value) == message


def test_date_runtime_errors() -> None:
    with pytest.raises(ExprError, match=r"months\(\) needs a whole number, got 1.5"):
        evaluate("dates.closing + months(1.5)", DATES)
    with pytest.raises(ExprError, match="formula gives a span"):
        evaluate("days(1)", {})
    with pytest.raises(ExprError, match="formula gives a date where a number is needed"):
        evaluate_number("dates.closing", DATES)
    with pytest.raises(ExprError, match="cannot compare a date with a number"):
        evaluate("dates.closing > 1", DATES)
    with pytest.raises(ExprError, match="date out of range"):
        evaluate("date('9999-12-31') + days(1)", {})
    assert evaluate_date("dates.closing + days(1)", DATES) == dt.date(2024, 2, 1)
