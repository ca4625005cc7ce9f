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
from ledger.core.discounting import loan_drb
from ledger.cycle.acts import issue_notes, offer_additional_receivables
from ledger.cycle.schedule import deal_schedule
from ledger.cycle.state import CycleFolder
from ledger.cycle.walk import run_due
from ledger.deal import DealDefinition
from ledger.reports import servicer_report
from ledger.servicing.additional import board_additional_receivables, offer_of
from ledger.servicing.deals import deal_in_force, load_deal
from ledger.servicing.operator import post_event
from ledger.servicing.servicer_import import import_servicer_tape
from ledger.servicing.tape_formats import BoardingRow, TapeRejected
from ledger.servicing.tape_writers import write_boarding_csv
from projections.base import fold_all
from projections.loans import LoanProjection
from projections.pool import pool_periods
from projections.store import ProjectedStore
from tests.helpers import SERVICER, TRUSTEE, posted_by
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
    issued = issue_notes(store, "driver_china_13", who=TRUSTEE)
    assert issued.type == "NotesIssued"
    (funded,) = store.read("driver_china_13", types=["ReserveFunded"])
    assert funded.effective_date == dt.date(2021, 11, 17)  # the Issue Date (L10532)
    assert (funded.data["account_id"], funded.data["amount"]) == ("cash_collateral", "96000000.00")
    b = _balances(store, "driver_china_13")
    assert b["reserve:cash_collateral"] == D("96000000.00")
    assert b[accounts.SELLER_CONSIDERATION] == D("7864000000.00")
    assert b["notes:class_a"] + b["notes:sub"] == D("-7960000000.00")
    # the issue is recorded once: a second call posts nothing
    issue_notes(store, "driver_china_13", who=TRUSTEE)
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
    issue_notes(store, deal.deal_id, who=TRUSTEE)
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
                       idempotency_key=key, **posted_by("LoanBoarded"))  # fmt: skip


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


# ------------------------------------------------------ the revolving purchase, real path


def _additional(loan_id: str, instalment: str) -> BoardingRow:
    """An Additional Receivable at the 30 Nov 2021 cut-off: 0%, level principal, seven
    instalments of ``instalment`` on the 15th, Dec 2021 to Jun 2022 (originated 15 Jun 2020, 17
    instalments paid: eligible, L13742-13822 (e), (k), (l) 6 months to maturity, (m))."""
    seven = D(instalment) * 7
    return BoardingRow.model_validate({
        "loan_id": loan_id, "borrower_id": f"B-{loan_id}",
        "origination_date": dt.date(2020, 6, 15), "maturity_date": dt.date(2022, 6, 15),
        "original_principal": D(instalment) * 24, "outstanding_principal": seven,
        "interest_rate": D("0"), "amortization": "level_principal", "payment_day": 15,
        "remaining_term_months": 7, "days_past_due": 0,
    })  # fmt: skip


def test_additional_receivables_are_offered_bought_whole_and_boarded(
    store: ProjectedStore, tmp_path: Path
) -> None:
    """Seed 001 L3741-3747, L10604-10624, L17709-17723: on the Additional Purchase Date 27 Dec
    2021 the Originator offers receivables cut off on 30 Nov 2021; the Accumulation Account buys
    whole loans, in the offer's order, at 98.3% of their DRB, as far as its balance goes.

    DRB at 30 Nov 2021 of seven 0% instalments I (b = 1 + 0.051371/12): I × Σ_{k=1..7} b^-k =
    I × 6.8816574168.. : A1 35,000.00 → 240,858.01; A2 37,000.00 → 254,621.32; A3 34,000.00 →
    233,976.35. The Accumulation Account holds 612,120.43 after item sixth (the cycle's
    figure, the first PD's Servicer Fee on the ADRB at 31 Oct 2021, issue 13 item 3): A1 + A2
    cost round(495,479.33 × 0.983 = 487,056.181..) = 487,056.18, with A3 717,054.93 >
    612,120.43, so A1 and A2 are bought and 125,064.25 stays in the account."""
    load_deal(store, scaled_deal("001_driver_china_13.yaml", tmp_path))
    deal = deal_in_force(store, DC13)
    issue_notes(store, DC13, who=TRUSTEE)
    store.append(servicing_events(DC13, deal.calendar.cut_off_date, 8, {}))
    rows = [_additional("A1", "35000.00"), _additional("A2", "37000.00"),
            _additional("A3", "34000.00")]  # fmt: skip
    cut_off, pd = dt.date(2021, 11, 30), dt.date(2021, 12, 27)
    b = 1 + D("0.051371") / 12
    factor = sum(1 / b**k for k in range(1, 8))
    drb = [(D(i) * factor).quantize(D("0.01")) for i in ("35000", "37000", "34000")]
    assert drb == [D("240858.01"), D("254621.32"), D("233976.35")]
    offer = offer_of(deal, rows, cut_off)
    assert [r.balance for r in offer] == drb
    offer_additional_receivables(
        store, DC13, pd, cut_off, offer, dt.date(2021, 12, 17), who=SERVICER
    )
    assert [r.status for r in run_due(store, DC13, pd)] == ["posted"]
    (w,) = waterfalls(store, DC13)
    (line,) = w.purchases
    assert line.available == D("612120.43")
    assert (line.offered, line.loan_ids) == (sum(drb, D(0)), ("A1", "A2"))
    assert (line.balance, line.price) == (D("495479.33"), D("487056.18"))
    after = _balances(store, DC13)
    assert after["trust:accumulation"] == D("612120.43") - D("487056.18") == D("125064.25")
    # the price is paid to the Originator on the Payment Date (item ninth pays nothing: the
    # Class A Cash Component took everything after item fifth)
    (paid,) = store.read(DC13, types=["DistributionPaid"])
    to_originator = [p for p in paid.data["payments"]
                     if p["payee_account"] == "payable:party:originator"]  # fmt: skip
    assert [p["amount"] for p in to_originator] == ["487056.18"]
    # the boarding tape must hold exactly the loans bought, at the balances offered
    tape = tmp_path / "additional.csv"
    write_boarding_csv(rows, tape)
    with pytest.raises(TapeRejected, match="loan A3 was not bought"):
        board_additional_receivables(store, DC13, pd, tape)
    changed = [rows[0], rows[1].model_copy(update={"outstanding_principal": D("259000.01")})]
    write_boarding_csv(changed, tape)
    with pytest.raises(TapeRejected, match=r"loan A2 measures .* offered at 254621\.32"):
        board_additional_receivables(store, DC13, pd, tape)
    write_boarding_csv(rows[:2], tape)
    board_additional_receivables(store, DC13, pd, tape)
    boarded = {e.data["loan_id"]: e for e in store.read(DC13, types=["LoanBoarded"])}
    assert {boarded[x].effective_date for x in ("A1", "A2")} == {dt.date(2021, 12, 1)}
    assert {boarded[x].data["cut_off_date"] for x in ("A1", "A2")} == {"2021-11-30"}
    (purchased,) = store.read(DC13, types=["AdditionalReceivablesPurchased"])
    assert (purchased.data["balance"], purchased.data["price"]) == ("495479.33", "487056.18")
    # boarded again: a no-op
    assert board_additional_receivables(store, DC13, pd, tape).duplicate
    # December: the CGLR's Aggregate Cut-Off Date DRB grows by their DRB at the cut-off
    # (L17772-17778), from the month after it; the ADRB of the cycle is the report's
    by_month = {p.period: p for p in pool_periods(store, DC13, deal)}
    base = deal.parameters["cut_off_adrb"].value
    assert by_month["2021-11"].default_ratio_denominator == base
    assert by_month["2021-12"].default_ratio_denominator == base + D("495479.33")
    check_one_adrb(store, deal, dt.date(2021, 12, 31))


def check_one_adrb(store: ProjectedStore, deal: DealDefinition, end: dt.date) -> None:
    """Item 4: the ADRB the waterfall uses (the cycle's fold at the period end) is the sum of
    the loans' own DRBs (the loan projection) and the servicer report's figure."""
    events = [e for e in store.read(deal.deal_id) if e.effective_date <= end]
    events.sort(key=lambda e: (e.effective_date, e.deal_seq))
    folder = CycleFolder(deal)
    folder.feed_all(events)
    period = next(p for p in deal_schedule(deal, None, dt.date(2022, 12, 31))
                  if p.collection_period_end == end)  # fmt: skip
    folder.close_period(period)
    cycle_adrb = folder.period_ends[-1].adrb
    conv = deal.drb_convention()
    assert conv is not None
    loans = fold_all(LoanProjection(), events)
    own = sum((loan_drb(v.row, end, conv) for v in loans.values()), D(0))
    assert cycle_adrb == own
    report = servicer_report(store, deal.deal_id, end)
    assert report.section("pool").get("aggregate_discounted_receivables_balance") == own
