"""Properties of the waterfall for any state: cash is conserved, never negative, fen-exact."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.core.journal import apply_entries, trial_balance
from ledger.deal import DealDefinition, load_deal_text, validate_deal_file
from ledger.deal.names import metric_kind
from ledger.waterfall import NoteState, WaterfallState, posting_account, run_waterfall

D = Decimal
DEALS_DIR = Path(__file__).resolve().parents[1] / "ledger" / "deals"
DEALS = {path.name: validate_deal_file(path) for path in sorted(DEALS_DIR.glob("*.yaml"))}


def amounts(max_value: int) -> st.SearchStrategy[Decimal]:
    return st.one_of(
        st.just(D("0.00")),
        st.decimals(min_value=0, max_value=max_value, places=2, allow_nan=False),
    )


@st.composite
def deal_states(draw: st.DrawFn, deal: DealDefinition) -> WaterfallState:
    """Any state of ``deal``: random balances, metrics, unpaid amounts and trigger states."""
    accounts = {a: draw(amounts(500_000_000)) for a in deal.accounts}
    metrics: dict[str, Decimal | bool] = {}
    for name in deal.metrics:
        kind = metric_kind(deal, name)
        metrics[name] = draw(st.booleans()) if kind == "bool" else draw(amounts(50_000_000))
    for name in ("pool.balance", "pool.outstanding_balance", "pool.adrb", "pool.adrb_start"):
        if name in deal.metrics:
            metrics[name] = draw(amounts(9_000_000_000))
    start = dt.date(2022, 1, 26) + dt.timedelta(days=draw(st.integers(0, 400)))
    days = draw(st.integers(28, 31))
    triggers = {t: draw(st.integers(0, 4)) == 0 for t in deal.triggers}
    notes = {
        nid: NoteState(
            balance=draw(amounts(int(note.amount))),
            interest_shortfall=draw(amounts(1_000_000)) if note.interest_carry_forward else D(0),
        )
        for nid, note in deal.notes.items()
    }
    expenses = [f for f, fee in deal.fees.items() if fee.kind in ("expense", "tax")]
    return WaterfallState(
        payment_date=start + dt.timedelta(days=days),
        period_index=draw(st.integers(1, 40)),
        interest_period_start=start,
        interest_period_end=start + dt.timedelta(days=days),
        accounts=accounts,
        notes=notes,
        fees_incurred={f: draw(amounts(500_000)) for f in expenses},
        fees_unpaid={f: draw(amounts(100_000)) for f in deal.fees if draw(st.booleans())},
        metrics=metrics,
        triggers=triggers,
    )


@st.composite
def any_deal_state(draw: st.DrawFn) -> tuple[DealDefinition, WaterfallState]:
    deal = DEALS[draw(st.sampled_from(sorted(DEALS)))]
    return deal, draw(deal_states(deal))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(any_deal_state())
def test_any_state_conserves_cash_and_never_overdraws(
    case: tuple[DealDefinition, WaterfallState],
) -> None:
    deal, state = case
    cash = [a for a, acc in deal.accounts.items() if acc.kind != "ledger"]
    result = run_waterfall(deal, state)
    opening = sum((state.accounts[a] for a in cash), D(0))
    closing = sum((result.closing_accounts[a] for a in cash), D(0))
    # cash in = paid out of the trust + retained in its accounts
    assert opening == result.paid_out + closing
    for a in cash:
        assert result.closing_accounts[a] >= 0, a
    # every line pays between nothing and what is due
    for line in result.steps:
        assert D(0) <= line.paid <= line.due or line.kind == "book_ledger", line
        assert line.shortfall == line.due - line.paid
        assert D(0) <= line.carried_forward <= max(line.shortfall, D(0))
    # the postings explain every balance change, and the books balance
    moved = apply_entries({}, result.entries)
    assert trial_balance(moved) == 0
    for a in deal.accounts:
        change = moved.get(posting_account(deal, a), D(0))
        assert state.accounts.get(a, D(0)) + change == result.closing_accounts[a], a
    external = sum((v for k, v in moved.items() if k.startswith("payable:")), D(0))
    assert external == result.paid_out
    for nid, balance in result.note_balances.items():
        assert D(0) <= balance <= state.notes[nid].balance


GROUP = """
deal_id: g
name: group
seed: test
parties: {p: {name: P, roles: [trustee]}}
notes:
  A: {class_name: A, rank: 1, amount: "1.00", coupon: {kind: none},
      interest_carry_forward: false, amortisation: sequential, legal_maturity: 2030-01-01,
      clause: c}
accounts: {cash: {name: cash, kind: cash, clause: c}}
fees:
{fees}
collection_split: [{item: interest, to: cash, clause: c}]
default_mode: normal
waterfalls:
  normal: [{id: g, kind: pay_fees, from: cash, fees: [{ids}], clause: c}]
calendar:
  cut_off_date: 2020-01-01
  calculation_day: month_end
  first_calculation_date: 2020-01-31
  collection_period: monthly
  payment_day: 26
  payment_convention: following
  first_payment_date: 2020-02-26
  determination_date: {business_days: -6, relative_to: payment_date}
  interest_period_dates: unadjusted
  remittance: [{offset: {business_days: 6, relative_to: calculation_date}, clause: c}]
  clause: c
"""


def group_deal(n: int) -> DealDefinition:
    fees = "\n".join(f"  f{i}: {{payee: trustee, kind: expense, clause: c}}" for i in range(n))
    ids = ", ".join(f"f{i}" for i in range(n))
    return load_deal_text(GROUP.replace("{fees}", fees).replace("{ids}", ids))


GROUP_DEALS = {n: group_deal(n) for n in range(1, 8)}


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.decimals(min_value=0, max_value=10**7, places=2), min_size=1, max_size=7),
    st.decimals(min_value=0, max_value=10**7, places=2),
)
def test_pro_rata_groups_conserve_every_fen(dues: list[Decimal], cash: Decimal) -> None:
    deal = GROUP_DEALS[len(dues)]
    state = WaterfallState(
        payment_date=dt.date(2020, 2, 26),
        period_index=1,
        interest_period_start=dt.date(2020, 1, 26),
        interest_period_end=dt.date(2020, 2, 26),
        accounts={"cash": cash},
        notes={},
        fees_incurred={f"f{i}": d for i, d in enumerate(dues)},
    )
    result = run_waterfall(deal, state)
    paid = [line.paid for line in result.lines("g")]
    assert sum(paid, D(0)) == min(sum(dues, D(0)), cash)
    assert all(D(0) <= p <= d for p, d in zip(paid, dues, strict=True))
    assert result.closing_accounts["cash"] == cash - sum(paid, D(0))
    if cash >= sum(dues, D(0)):
        assert paid == dues
