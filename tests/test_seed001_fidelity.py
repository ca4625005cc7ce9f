"""Driver China Thirteen (seed 001) as its documents say, end to end on both backends: the Cash
Collateral Account funded at issue, one Discounted Receivables Balance everywhere, the
repurchase price computed by the ledger, and Additional Receivables offered, bought whole and
boarded (issue 13, seed 001 items 2, 4, 6 and the revolving purchase)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pytest

from events.envelope import NewEvent
from events.servicing import LoanBoarded
from ledger.core import accounts
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import run_due
from ledger.servicing.deals import deal_in_force, load_deal
from ledger.servicing.operator import post_event
from ledger.servicing.servicer_import import import_servicer_tape
from ledger.servicing.tape_formats import TapeRejected
from projections.store import ProjectedStore
from tests.test_cycle import DEALS, scaled_deal, servicing_events, waterfalls

D = Decimal
DC13 = "driver_china_13"


def _balances(store: ProjectedStore, deal_id: str) -> dict[str, Decimal]:
    rows = store.runner.live(store, deal_id, "balances")
    return {k: D(v.row["balance"]) for k, v in rows.items()}


def test_cash_collateral_is_funded_at_issue_from_the_proceeds(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 001 L10999-11002: "The Issuer shall on the Issue Date deposit RMB 96,000,000.00 into
    the Cash Collateral Account"; L19108-19118: the Initial Receivables Purchase Price
    7,864,000,000.00 = ADRB 8,000,082,110.39 − OC 40,082,110.39 − 96,000,000.00. The seed's own
    deal file, notes issued 17 Nov 2021:

    ========================  ==================  ==============  ==================
    account                   NotesIssued         ReserveFunded   total
    ========================  ==================  ==============  ==================
    notes:class_a             −7,136,000,000.00                   −7,136,000,000.00
    notes:sub                   −824,000,000.00                     −824,000,000.00
    seller:consideration      +7,960,000,000.00   −96,000,000.00  +7,864,000,000.00
    reserve:cash_collateral                       +96,000,000.00     +96,000,000.00
    ========================  ==================  ==============  ==================
    """
    load_deal(store, DEALS / "001_driver_china_13.yaml")
    issued = issue_notes(store, "driver_china_13")
    assert issued.type == "NotesIssued"
    (funded,) = store.read("driver_china_13", types=["ReserveFunded"])
    assert funded.effective_date == dt.date(2021, 11, 17)  # the Issue Date (L10532)
    assert (funded.data["account_id"], funded.data["amount"]) == ("cash_collateral", "96000000.00")
    b = _balances(store, "driver_china_13")
    assert b["reserve:cash_collateral"] == D("96000000.00")
    assert b[accounts.SELLER_CONSIDERATION] == D("7864000000.00")
    assert b["notes:class_a"] + b["notes:sub"] == D("-7960000000.00")
    # the issue is recorded once: a second call posts nothing
    issue_notes(store, "driver_china_13")
    assert len(list(store.read("driver_china_13", types=["ReserveFunded"]))) == 1


def test_first_payment_date_does_not_fund_the_cca_out_of_collections(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """With the account funded at issue, item fifth (top-up to the Specified Cash Collateral
    Account Balance, 96m × f while revolving, L20202-20206) is due nothing on the first PD; the
    collections after items first-fourth go to item sixth (L3709-3717)."""
    path = scaled_deal("001_driver_china_13.yaml", tmp_path)
    load_deal(store, path)
    deal = deal_in_force(store, "driver_china_13")
    issue_notes(store, deal.deal_id)
    cca = deal.parameters["initial_cash_collateral"].value
    assert _balances(store, deal.deal_id)["reserve:cash_collateral"] == cca
    store.append(servicing_events(deal.deal_id, deal.calendar.cut_off_date, 6, {}))
    (first,) = run_due(store, deal.deal_id, dt.date(2021, 12, 31))
    (w,) = waterfalls(store, deal.deal_id)
    (fifth,) = [s for s in w.steps if s.step_id == "fifth"]
    assert (fifth.due, fifth.paid) == (D("0.00"), D("0.00"))
    paid = {s.step_id: s.paid for s in w.steps}
    before_sixth = paid["second"] + paid["fourth"]
    distribution = next(
        D(v) for k, v in first.events[0].data["to_accounts"].items() if k == "trust:distribution"
    )
    assert paid["sixth"] == distribution - before_sixth


# ------------------------------------------------------------------ item 6: repurchase at DRB

HEADER = (
    "record_type,loan_id,value_date,principal,interest,fees,prepayment,days_past_due,reason,"
    "reference\n"
)


def _loan(loan_id: str, principal: str, rate: str, maturity: dt.date, day: int) -> NewEvent:
    ev = LoanBoarded(
        loan_id=loan_id, borrower_id=f"B-{loan_id}", origination_date=dt.date(2021, 1, 10),
        maturity_date=maturity, original_principal=D(principal), outstanding_principal=D(principal),
        interest_rate=D(rate), amortization="annuity", payment_day=day, remaining_term_months=3,
        days_past_due=0, cut_off_date=dt.date(2021, 6, 30),
    )  # fmt: skip
    cut_off = dt.date(2021, 6, 30)
    key = f"board:{loan_id}"
    return NewEvent.of(ev, deal_id=DC13, stream_id=ev.default_stream(), effective_date=cut_off,
                       idempotency_key=key)  # fmt: skip


def test_repurchase_price_is_the_discounted_receivables_balance(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 001 L13432-13446: a repurchase "at a price equal to their then outstanding
    Discounted Receivables Balance", computed by the ledger at the end of the month of the value
    date (``repurchase_price.valuation: month_end``), b = 1 + 0.051371/12:

    * R1: 20,000.00 at 6%, annuity, 6,733.44 / 6,733.44 / 6,733.45 due 26 Jul/Aug/Sep 2021;
      July paid on schedule (principal 6,633.44), repurchased 31 Jul 2021 with 13,366.56
      outstanding: 6,733.44/b + 6,733.45/b² = 13,380.904995.. → 13,380.90 (principal +
      one month's interest, the old rule, would be 13,366.56 + 66.83 = 13,433.39);
    * R2: 3,000.00 at 0%, 1,000.00 due 15 Aug, 15 Sep, 15 Oct 2021, repurchased 31 Jul:
      1,000 × (1/b + 1/b² + 1/b³) = 2,974.4965.. → 2,974.50, below its principal: the pool
      loses 25.50 (income:repurchase −25.50).
    """
    load_deal(store, scaled_deal("001_driver_china_13.yaml", tmp_path))
    store.append([
        _loan("R1", "20000.00", "0.06", dt.date(2021, 9, 26), 26),
        _loan("R2", "3000.00", "0", dt.date(2021, 10, 15), 15),
        _loan("R3", "3000.00", "0", dt.date(2021, 10, 15), 15),
    ])  # fmt: skip
    july = tmp_path / "july.csv"
    window = (dt.date(2021, 7, 1), dt.date(2021, 11, 30))
    # a tape stating principal + interest: not the deal's price, refused with both figures
    july.write_text(
        HEADER
        + "COLLECTION,R1,2021-07-26,6633.44,100.00,,false,,,c1\n"
        + "REPURCHASE,R1,2021-07-31,13366.56,66.83,,,,warranty (e),r1\n",
        encoding="utf-8",
    )
    with pytest.raises(TapeRejected) as refused:
        import_servicer_tape(store, "driver_china_13", july, period=window)
    (error,) = refused.value.errors
    assert (error.row, error.field) == (3, "interest")
    assert "price 13433.39 is not the deal's repurchase price 13380.90" in error.reason
    assert "DRB 13380.90 at 2021-07-31" in error.reason
    assert not list(store.read("driver_china_13", types=["LoanRepurchased"]))
    # without a stated price the ledger derives it
    july.write_text(
        HEADER
        + "COLLECTION,R1,2021-07-26,6633.44,100.00,,false,,,c1\n"
        + "REPURCHASE,R1,2021-07-31,13366.56,,,,,warranty (e),r1\n"
        + "REPURCHASE,R2,2021-07-31,3000.00,,,,,warranty (e),r2\n",
        encoding="utf-8",
    )
    import_servicer_tape(store, "driver_china_13", july, period=window)
    bought = {
        e.data["loan_id"]: e.data for e in store.read("driver_china_13", types=["LoanRepurchased"])
    }
    assert (bought["R1"]["price"], bought["R1"]["principal"]) == ("13380.90", "13366.56")
    assert (bought["R2"]["price"], bought["R2"]["principal"]) == ("2974.50", "3000.00")
    b = _balances(store, "driver_china_13")
    # R1: 14.34 above principal, R2: 25.50 below → −11.16 of repurchase income
    assert b[accounts.REPURCHASE_INCOME] == D("11.16")
    assert b[accounts.SERVICER_HELD] == D("6733.44") + D("13380.90") + D("2974.50")
    # an operator's post is checked the same way: R3 is R2's twin
    post = {"loan_id": "R3", "value_date": "2021-07-31", "reason": "x", "principal": "3000.00"}
    refused_price = r"price 3000\.00 is not the deal.s repurchase price 2974\.50"
    with pytest.raises(TapeRejected, match=refused_price):
        post_event(store, "LoanRepurchased", DC13, {**post, "price": "3000.00"}, period=window)
    posted = post_event(store, "LoanRepurchased", DC13, {**post, "price": "2974.50"}, period=window)
    assert posted.data["price"] == "2974.50"
