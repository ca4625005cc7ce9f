"""Exact money, allocation and double entry (SPEC §2.3, §2.4), with hypothesis properties."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ledger.core.journal import JournalEntry, Posting, apply_entries, transfer, trial_balance
from ledger.core.money import MoneyError, allocate, money, round_fen

amounts = st.decimals(
    min_value=Decimal("-1e12"),
    max_value=Decimal("1e12"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)
weights = st.lists(
    st.decimals(
        min_value=Decimal(0),
        max_value=Decimal("1e9"),
        places=4,
        allow_nan=False,
        allow_infinity=False,
    ),
    min_size=1,
    max_size=12,
).filter(lambda ws: sum(ws) > 0)


def test_money_rejects_float_and_excess_precision() -> None:
    with pytest.raises(MoneyError, match="float"):
        money(0.1)
    with pytest.raises(MoneyError, match="more than 2 decimals"):
        money("1.005")
    with pytest.raises(MoneyError, match="not a decimal"):
        money("abc")
    with pytest.raises(MoneyError, match="finite"):
        money("NaN")
    assert money("12") == Decimal("12.00") and str(money(3)) == "3.00"


def test_round_fen_is_half_up() -> None:
    assert round_fen(Decimal("0.005")) == Decimal("0.01")
    assert round_fen(Decimal("-0.005")) == Decimal("-0.01")
    assert round_fen(Decimal("2.344999")) == Decimal("2.34")


def test_allocate_largest_remainder_with_deterministic_ties() -> None:
    assert allocate(Decimal("100.00"), [Decimal(1)] * 3) == [
        Decimal("33.34"),
        Decimal("33.33"),
        Decimal("33.33"),
    ]
    # remainders .5/.5: the fen goes to the earlier position
    assert allocate(Decimal("0.01"), [Decimal(1), Decimal(1)]) == [Decimal("0.01"), Decimal("0.00")]
    # largest remainder wins over position: 0.10 * 2/3 = 0.0666.. (rem .67) vs 0.0333.. (rem .33)
    assert allocate(Decimal("0.10"), [Decimal(1), Decimal(2)]) == [Decimal("0.03"), Decimal("0.07")]
    assert allocate(Decimal("-0.05"), [Decimal(1), Decimal(1)]) == [
        Decimal("-0.03"),
        Decimal("-0.02"),
    ]
    with pytest.raises(MoneyError):
        allocate(Decimal("1.00"), [Decimal(0)])
    with pytest.raises(MoneyError):
        allocate(Decimal("1.00"), [Decimal(-1), Decimal(2)])


@given(amounts, weights)
def test_allocation_conserves_every_fen(total: Decimal, ws: list[Decimal]) -> None:
    shares = allocate(total, ws)
    assert sum(shares, Decimal(0)) == total
    assert all(s == s.quantize(Decimal("0.01")) for s in shares)
    weight_sum = sum(ws)
    for share, w in zip(shares, ws, strict=True):
        exact = total * w / weight_sum
        assert abs(share - exact) < Decimal("0.01")  # never more than one fen from pro rata


def test_unbalanced_entry_refused() -> None:
    with pytest.raises(ValueError, match=r"sum to 0\.01"):
        JournalEntry(
            postings=(
                Posting(account="a", amount=Decimal("1.00")),
                Posting(account="b", amount=Decimal("-0.99")),
            )
        )
    with pytest.raises(ValueError, match="at least two"):
        JournalEntry(postings=(Posting(account="a", amount=Decimal("0.00")),))
    with pytest.raises(ValueError, match="float"):
        Posting(account="a", amount=1.0)


@given(
    st.lists(
        st.tuples(
            st.sampled_from(
                ["trust:income", "trust:principal", "reserve:liq", "notes:A", "fees:trustee"]
            ),
            st.sampled_from(["trust:income", "notes:A", "equity:seller"]),
            amounts,
        ),
        min_size=1,
        max_size=30,
    )
)
def test_every_entry_balances_and_trial_balance_is_zero(
    moves: list[tuple[str, str, Decimal]],
) -> None:
    entries = [transfer(d, c, a) for d, c, a in moves]
    for e in entries:
        assert sum((p.amount for p in e.postings), Decimal(0)) == 0
    assert trial_balance(apply_entries({}, entries)) == 0


@given(amounts, weights)
def test_pro_rata_postings_balance(total: Decimal, ws: list[Decimal]) -> None:
    shares = allocate(abs(total), ws)
    legs = [Posting(account=f"notes:{i}", amount=s) for i, s in enumerate(shares)]
    entry = JournalEntry(postings=(*legs, Posting(account="trust:principal", amount=-abs(total))))
    assert trial_balance(apply_entries({}, [entry])) == 0
