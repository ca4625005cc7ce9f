"""Every metric and every trigger test of every seed deal file is computed on the dates of a
scenario, never defaulted (issue 13, part A).

Each seed deal runs 14 payment dates on the test pool of ``tests/test_cycle.py`` (three loans
default in the eighth month) plus four loans that prepay, pay penalties, are repurchased, and go
75 then 95 days overdue before they default and recover; every figure the deal reads as reported
is reported once, and additional receivables are offered where the deal revolves. The test lists
each deal's metrics: each has a value in the cycle's ``MetricsDetermined`` on some date and is
non-zero (a bool: true) on one; each trigger is evaluated on every date; the clean-up call is
tested on every date.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from events.catalogue import CollectionReceived
from events.cycle import FigureReported, OfferedReceivable
from events.envelope import NewEvent
from events.model import Event
from events.servicing import (
    LoanBoarded,
    LoanDefaulted,
    LoanDelinquencyReported,
    LoanRepurchased,
    RecoveryReceived,
)
from ledger.core.amortisation import add_months
from ledger.cycle.acts import issue_notes, offer_additional_receivables
from ledger.cycle.schedule import deal_schedule
from ledger.cycle.walk import run_due
from ledger.deal.names import metric_kind
from ledger.servicing.deals import deal_in_force, load_deal
from projections.store import ProjectedStore
from tests.helpers import SERVICER, TRUSTEE, posted_by
from tests.test_cycle import scaled_deal, servicing_events

D = Decimal

SEEDS = {
    "000_weshare_lease_abn.yaml": [
        "pool.balance", "pool.balance_period_start", "pool.cumulative_defaults",
        "collections.interest", "collections.fees_penalties", "collections.prepayment_fees",
        "collections.recovery_income", "collections.repurchase_interest", "collected.income",
    ],
    "001_driver_china_13.yaml": [
        "pool.adrb", "pool.adrb_start", "pool.cumulative_gross_loss_ratio",
        "revolving.offered_balance", "last_pd.revolving", "last_pd.accounts.accumulation.closing",
        "last_pd.purchases.price", "last_pd.purchases.balance", "pool.clean_up_settlement_amount",
    ],
    "002_xinrong_2024_1.yaml": [
        "pool.balance", "pool.balance_period_start", "collection.days", "pool.cumulative_defaults",
        "pool.outstanding_balance", "pool.outstanding_balance_period_start",
        "pool.delinquent_balance_61_90", "pool.severe_delinquency_ratio_avg3",
        "revolving.offered_balance", "revolving.offered_wac", "pool.wac", "pool.clean_up_price",
    ],
    "003_wenhui_2024_1.yaml": [
        "pool.balance", "pool.balance_period_start", "pool.cumulative_defaults",
        "pool.cumulative_default_ratio", "collections.interest", "collections.fees_penalties",
        "collections.prepayment_fees", "collections.repurchase_interest",
        "collections.recovery_income", "collected.income", "reported_for_date.dist_tax_release",
        "dry_run.notes.A.balance", "dry_run.notes.B.balance", "dry_run.notes.C.balance",
        "pool.outstanding_balance", "pool.clean_up_price",
    ],
    "004_byd_2021_2.yaml": [
        "pool.balance", "pool.outstanding_balance", "pool.defaults_recent_period",
        "pool.defaults_prior_periods", "pool.cumulative_defaults", "pool.cumulative_default_ratio",
        "pool.delinquent_balance_61_90", "pool.principal_collected_before_period",
        "pool.severe_delinquency_ratio_avg3", "collections.principal_scheduled",
        "collections.principal_prepaid", "collections.interest", "collections.fees_penalties",
        "collections.prepayment_fees", "collections.repurchase_interest",
        "collections.recovery_income", "collected.income", "collected.scheduled",
        "reported.originator_borrower_debts", "reported_for_date.commingled_income",
        "reported_for_date.commingled_principal", "reported_for_date.unpaid_setoff_income",
        "reported_for_date.unpaid_setoff_principal", "pool.clean_up_price",
    ],
}  # fmt: skip
"""Per seed deal file, every metric it declares (the test checks the list is the file's)."""


def _new(ev: Event, deal_id: str, day: dt.date, key: str) -> NewEvent:
    return NewEvent.of(ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=day,
                       idempotency_key=key, **posted_by(ev.type_name))  # fmt: skip


def special_loans(deal_id: str, cut_off: dt.date) -> list[NewEvent]:
    """Four loans of 10,000.00 whose events give every collection item and delinquency."""

    def month(m: int, day: int = 15) -> dt.date:
        return dt.date(*add_months(cut_off.year, cut_off.month, m), day)

    out = []
    for lid in ("X1", "X2", "X3", "X4"):
        ev = LoanBoarded(
            loan_id=lid, borrower_id=lid, origination_date=dt.date(2020, 6, 15),
            maturity_date=month(36), original_principal=D("10000.00"),
            outstanding_principal=D("10000.00"), interest_rate=D("0.06"),
            amortization="level_principal", payment_day=15, remaining_term_months=36,
            days_past_due=0, cut_off_date=cut_off,
        )  # fmt: skip
        out.append(_new(ev, deal_id, cut_off, f"x-board:{lid}"))
    events: list[tuple[dt.date, Event]] = [
        (month(2), CollectionReceived(loan_id="X1", value_date=month(2), principal=D("10000.00"),
                                      fees=D("100.00"), prepayment=True)),
        (month(2), CollectionReceived(loan_id="X2", value_date=month(2), interest=D("50.00"),
                                      fees=D("20.00"))),
        (month(3), LoanRepurchased(loan_id="X3", value_date=month(3), reason="warranty breach",
                                   price=D("10050.00"), principal=D("10000.00"))),
        (month(7, 28), LoanDelinquencyReported(loan_id="X4", value_date=month(7, 28),
                                               days_past_due=75)),
        (month(8, 28), LoanDelinquencyReported(loan_id="X4", value_date=month(8, 28),
                                               days_past_due=95)),
        (month(9, 20), LoanDefaulted(loan_id="X4", value_date=month(9, 20),
                                     principal=D("10000.00"))),
        (month(10), RecoveryReceived(loan_id="X4", value_date=month(10), principal=D("2000.00"),
                                     interest=D("100.00"))),
    ]  # fmt: skip
    return out + [_new(ev, deal_id, day, f"x:{i}") for i, (day, ev) in enumerate(events)]


def reports(deal_id: str, names: list[str], pds: list[dt.date]) -> list[NewEvent]:
    """One report of each reported figure the deal reads, effective before the second date."""
    out = []
    for name in names:
        kind, figure = name.split(".")
        pd = pds[1] if kind == "reported_for_date" else None
        day = pds[0] + dt.timedelta(days=1)
        ev = FigureReported(name=figure, amount=D("1234.56"), payment_date=pd)
        out.append(_new(ev, deal_id, day, f"report:{name}"))
    return out


@pytest.mark.parametrize("src", sorted(SEEDS))
def test_every_metric_and_trigger_is_computed(
    store: ProjectedStore, tmp_path: Path, src: str
) -> None:
    deal_id = load_deal(store, scaled_deal(src, tmp_path)).deal_id
    deal = deal_in_force(store, deal_id)
    assert list(deal.metrics) == SEEDS[src]
    issue_notes(store, deal_id, who=TRUSTEE)
    cut_off, first = deal.calendar.cut_off_date, deal.calendar.first_payment_date
    store.append(servicing_events(deal_id, cut_off, 20, {8: 3}))
    store.append(special_loans(deal_id, cut_off))
    closing = deal.calendar.closing_date or deal.calendar.assumed_closing_date
    pds = [p.payment_date for p in deal_schedule(deal, closing, first + dt.timedelta(days=40))]
    reported = [n for n in deal.metrics if n.startswith(("reported.", "reported_for_date."))]
    if reported:
        store.append(reports(deal_id, reported, pds))
    if deal.revolving_period is not None:
        # the second payment date of 001 (26 Jan 2022) and the first of 002 (26 Jun 2024)
        pd = dt.date(2022, 1, 26) if deal.deal_id == "driver_china_13" else first
        offered = [OfferedReceivable(loan_id="R1", balance=D("20000.00"), rate=D("0.09"))]
        cut = pd.replace(day=1) - dt.timedelta(days=1)
        offer_additional_receivables(
            store, deal_id, pd, cut, offered, pd - dt.timedelta(20), who=SERVICER
        )
    until = dt.date(*add_months(first.year, first.month, 13), 28)
    results = run_due(store, deal_id, until)
    assert len(results) == 14
    determined: list[dict[str, Any]] = [
        e.data["values"] for e in store.read(deal_id, types=["MetricsDetermined"])
    ]
    assert len(determined) == 14
    for name in deal.metrics:
        seen = [v[name] for v in determined if name in v]
        assert seen, f"{src}: {name} never computed"
        if metric_kind(deal, name) == "bool":
            assert True in seen, f"{src}: {name} never true"
        else:
            assert any(D(x) != 0 for x in seen), f"{src}: {name} zero on every date"
    evaluated = [e.data["trigger_id"] for e in store.read(deal_id, types=["TriggerEvaluated"])]
    assert sorted(evaluated) == sorted(list(deal.triggers) * 14)
    tested = list(store.read(deal_id, types=["CleanUpCallTested"]))
    assert len(tested) == (14 if deal.clean_up_call is not None else 0)
