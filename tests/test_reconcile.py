"""Matching a bank statement against ledger postings (pure; issue 6 item 3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from events.bank import BankLine, LedgerPosting
from ledger.audit.reconcile import Reconciliation, reconcile, statement_lines
from ledger.audit.statement_model import balances_of
from ledger.core.calendar.business import BusinessCalendar
from ledger.core.money import ZERO

D = Decimal
START = date(2022, 1, 3)
END = START + timedelta(days=27)
WEEKENDS = BusinessCalendar.weekends_only()


def posting(n: int, day: date, amount: str, reference: str = "") -> LedgerPosting:
    return LedgerPosting(
        event_id=f"e{n}", deal_seq=n, event_type="T", value_date=day, amount=D(amount),
        reference=reference,
    )  # fmt: skip


def line(n: int, day: date, amount: str | Decimal, reference: str = "") -> BankLine:
    return BankLine(line_no=n, value_date=day, amount=D(amount), reference=reference)


def rechain(lines: Sequence[BankLine], opening: Decimal) -> list[BankLine]:
    """The bank's own running balance over (modified) lines, as a real statement carries it."""
    out, balance = [], opening
    for x in lines:
        balance += x.amount
        out.append(x.model_copy(update={"balance_after": balance}))
    return out


def run(
    lines: Sequence[BankLine], postings: Sequence[LedgerPosting], opening: Decimal = ZERO
) -> Reconciliation:
    return reconcile(
        lines,
        postings,
        period_end=END,
        ledger_closing_balance=opening + sum((p.amount for p in postings), D("0.00")),
        bank_closing_balance=balances_of(lines)[1],
        next_business_day=WEEKENDS.next_business_day,
    )


# --- properties -----------------------------------------------------------------------------------

amounts = st.integers(min_value=-(10**9), max_value=10**9).filter(bool).map(lambda c: D(c) / 100)
postings_strategy = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=27),
        amounts,
        st.sampled_from(["remittance 2022-01", "WaterfallExecuted 2022-01-26 third", "fee", "x"]),
    ),
    min_size=1,
    max_size=25,
).map(
    lambda xs: [
        posting(i + 1, START + timedelta(days=d), str(a), r) for i, (d, a, r) in enumerate(xs)
    ]
)
openings = st.integers(min_value=0, max_value=10**9).map(lambda c: D(c) / 100)


@given(postings_strategy, openings)
def test_a_statement_generated_from_the_postings_has_no_breaks(
    postings: list[LedgerPosting], opening: Decimal
) -> None:
    lines = statement_lines(postings, opening)
    result = run(lines, postings, opening)
    assert result.breaks == ()
    assert sorted(n for m in result.matched for n in m.bank_lines) == [x.line_no for x in lines]
    assert sorted(p.deal_seq for m in result.matched for p in m.postings) == [
        p.deal_seq for p in postings
    ]
    assert result.bank_closing_balance == result.ledger_closing_balance


@given(postings_strategy, openings, st.data())
def test_a_missing_line_is_exactly_one_unmatched_ledger_break(
    postings: list[LedgerPosting], opening: Decimal, data: st.DataObject
) -> None:
    lines = list(statement_lines(postings, opening))
    k = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    gone = lines.pop(k)
    (brk,) = run(rechain(lines, opening), postings, opening).breaks
    assert (brk.kind, brk.amount, brk.value_date) == (
        "unmatched_ledger",
        gone.amount,
        gone.value_date,
    )


@given(postings_strategy, openings, st.integers(min_value=0, max_value=27), amounts, st.data())
def test_an_extra_line_is_exactly_one_unmatched_bank_break(
    postings: list[LedgerPosting],
    opening: Decimal,
    day: int,
    amount: Decimal,
    data: st.DataObject,
) -> None:
    lines = list(statement_lines(postings, opening))
    reference = data.draw(st.sampled_from(["", "bank charge", "fee", postings[0].reference]))
    extra = line(len(lines) + 2, START + timedelta(days=day), amount, reference)
    lines.insert(data.draw(st.integers(min_value=0, max_value=len(lines))), extra)
    (brk,) = run(rechain(lines, opening), postings, opening).breaks
    assert (brk.kind, brk.amount, brk.bank_line is not None) == ("unmatched_bank", amount, True)


@given(postings_strategy, openings, amounts, st.data())
def test_an_altered_amount_is_exactly_one_amount_difference(
    postings: list[LedgerPosting], opening: Decimal, delta: Decimal, data: st.DataObject
) -> None:
    lines = list(statement_lines(postings, opening))
    k = data.draw(st.integers(min_value=0, max_value=len(lines) - 1))
    lines[k] = lines[k].model_copy(update={"amount": lines[k].amount + delta})
    (brk,) = run(rechain(lines, opening), postings, opening).breaks
    assert (brk.kind, brk.amount, brk.reference) == ("amount_difference", delta, lines[k].reference)
    assert brk.posting is not None and brk.bank_line is not None


# --- rules ----------------------------------------------------------------------------------------


def test_many_bank_lines_to_one_posting_and_many_postings_to_one_line() -> None:
    d = date(2022, 1, 26)
    postings = [
        posting(1, d, "1000.00", "remittance 2022-01"),
        posting(2, d, "-30.00", "WaterfallExecuted 2022-01-26 first"),
        posting(3, d, "-70.00", "WaterfallExecuted 2022-01-26 second"),
    ]
    lines = [
        line(2, d, "600.00", "remittance 2022-01"),  # the servicer paid in two transfers
        line(3, d, "400.00", "remittance 2022-01"),
        line(4, d, "-100.00", "fees 2022-01"),  # the bank paid two fees in one
    ]
    result = run(lines, postings)
    assert result.breaks == ()
    assert [(m.bank_lines, [p.deal_seq for p in m.postings], m.rule) for m in result.matched] == [
        ((2, 3), [1], "many-to-one"),
        ((4,), [2, 3], "many-to-one"),
    ]


def test_value_dates_one_business_day_apart_match_only_with_the_tolerance() -> None:
    friday, monday = date(2022, 1, 7), date(2022, 1, 10)
    postings = [posting(1, friday, "-500.00", "WaterfallExecuted 2022-01-07 first")]
    lines = [line(2, monday, "-500.00", "PAYMENT 88231")]
    (match,) = run(lines, postings).matched
    assert match.rule == "date+amount±1bd"
    strict = reconcile(
        lines, postings, period_end=END, ledger_closing_balance=D("-500.00"),
        bank_closing_balance=D("-500.00"),
    )  # fmt: skip
    assert [b.kind for b in strict.breaks] == ["unmatched_bank", "unmatched_ledger"]
    # two business days apart is not a match even with the tolerance
    assert run([line(2, date(2022, 1, 11), "-500.00")], postings).matched == ()


def test_without_a_shared_reference_an_altered_amount_is_two_breaks() -> None:
    d = date(2022, 1, 10)
    result = run([line(2, d, "101.00")], [posting(1, d, "100.00")])
    assert [(b.kind, b.amount) for b in result.breaks] == [
        ("unmatched_bank", D("101.00")),
        ("unmatched_ledger", D("100.00")),
    ]


def test_a_balance_difference_is_what_the_open_items_do_not_explain() -> None:
    d = date(2022, 1, 10)
    postings = [posting(1, d, "100.00", "r"), posting(2, d, "50.00", "s")]
    # the bank started from 10.00 more than the ledger and lacks the 50.00
    lines = rechain([line(2, d, "100.00", "r")], D("10.00"))
    result = reconcile(
        lines, postings, period_end=END, ledger_closing_balance=D("150.00"),
        bank_closing_balance=balances_of(lines)[1],
    )  # fmt: skip
    assert [(b.kind, b.amount) for b in result.breaks] == [
        ("unmatched_ledger", D("50.00")),
        ("balance_difference", D("10.00")),
    ]
    assert result.breaks[1].value_date == END
    # no closing balance on the statement: nothing to compare
    assert [b.kind for b in run([line(2, d, "100.00", "r")], postings).breaks] == [
        "unmatched_ledger"
    ]
