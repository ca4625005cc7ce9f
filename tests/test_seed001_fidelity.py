"""Driver China Thirteen (seed 001) as its documents say, end to end on both backends: the Cash
Collateral Account funded at issue, one Discounted Receivables Balance everywhere, the
repurchase price computed by the ledger, and Additional Receivables offered, bought whole and
boarded (issue 13, seed 001 items 2, 4, 6 and the revolving purchase)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

from ledger.core import accounts
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import run_due
from ledger.servicing.deals import deal_in_force, load_deal
from projections.store import ProjectedStore
from tests.test_cycle import DEALS, scaled_deal, servicing_events, waterfalls

D = Decimal


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
