"""Recoveries split into principal, interest and fees (RecoveryReceived v2): the tape's RECOVERY
row, postings, the v1 upcaster, loan and pool projections, posts and reversals; both backends."""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal

import pytest
from pydantic import ValidationError

from events.envelope import NewEvent
from events.model import load_event, upcast
from events.servicing import RecoveryReceived
from ledger.core import accounts
from ledger.servicing.operator import post_event, reverse_event
from ledger.servicing.servicer_import import import_servicer_tape
from ledger.servicing.tape_formats import TapeRejected
from projections.loans import loan_rows, loan_snapshots
from projections.pool import pool_periods
from projections.store import ProjectedStore
from tests.helpers import posted_by
from tests.test_boarding import BYD, balances, boarded_byd
from tests.test_servicer_import import HEADER

D = Decimal

# L4 is boarded with 30,000.00 outstanding (tests/test_boarding.py GOOD_LOANS)
DEFAULT_RECOVER_WRITE_OFF = (
    HEADER
    + "DEFAULT,L4,2021-09-30,,,,,95,over 90 days,R5\n"
    + "RECOVERY,L4,2021-09-30,5000.00,120.00,30.00,,,,R6\n"
    + "WRITE_OFF,L4,2021-09-30,25000.00,,,,,loss after recoveries,R7\n"
    + "RECOVERY,L4,2021-09-30,700.00,,50.00,,,,R8\n"
).encode()


def test_recovery_row_split_posts_to_the_right_accounts(store: ProjectedStore) -> None:
    boarded_byd(store)
    result = import_servicer_tape(store, BYD, DEFAULT_RECOVER_WRITE_OFF, file="sep.csv")
    first, second = (e for e in result.events if e.type == "RecoveryReceived")
    assert first.schema_version == 2
    assert first.data == {
        "loan_id": "L4",
        "value_date": "2021-09-30",
        "principal": "5000.00",
        "interest": "120.00",
        "fees": "30.00",
        "amount": "5150.00",
        "written_off": False,
        "reference": "R6",
    }
    assert (second.data["amount"], second.data["written_off"]) == ("750.00", True)

    bal = balances(store, BYD)
    # default 30,000 − recovered principal 5,000 − written off 25,000: nothing left defaulted
    assert bal.get(accounts.POOL_DEFAULTED, D(0)) == 0
    # the write-off of 25,000 less the 700 of principal recovered after it: the net loss
    assert bal[accounts.WRITTEN_OFF] == D("24300.00")
    # interest and fees recovered: 120 + 30 + 50
    assert bal[accounts.RECOVERY_INCOME] == D("-200.00")
    assert bal[accounts.SERVICER_HELD] == D("5900.00")
    assert accounts.INTEREST_INCOME not in bal and accounts.FEE_INCOME not in bal
    assert sum(bal.values()) == 0

    row = loan_rows(store, BYD)["L4"]
    assert (row["defaulted"], row["written_off"], row["defaulted_on"]) == (
        "30000.00",
        "25000.00",
        "2021-09-30",
    )
    assert (row["recoveries"], row["recovered_interest"], row["recovered_fees"]) == (
        "5700.00",
        "120.00",
        "80.00",
    )
    assert "recovered_interest" not in loan_rows(store, BYD)["L1"]  # only once it has any
    (period,) = [p for p in pool_periods(store, BYD) if p.period == "2021-09"]
    assert (period.recoveries, period.recovered_interest, period.recovered_fees) == (
        D("5700.00"),
        D("120.00"),
        D("80.00"),
    )
    assert period.written_off == D("25000.00")  # the gross write-off
    assert store.runner.compare(store, BYD) == []


def test_recovered_principal_is_capped_at_the_defaulted_principal_outstanding(
    store: ProjectedStore,
) -> None:
    boarded_byd(store)
    too_much = (
        HEADER
        + "DEFAULT,L4,2021-09-30,,,,,95,over 90 days,R5\n"
        + "RECOVERY,L4,2021-09-30,30000.01,,,,,,R6\n"
    ).encode()
    with pytest.raises(TapeRejected) as info:
        import_servicer_tape(store, BYD, too_much, file="sep.csv")
    (error,) = info.value.errors
    assert (error.file, error.row, error.field) == ("sep.csv", 3, "principal")
    assert error.reason.startswith(
        "recovered principal 30000.01 exceeds the defaulted principal outstanding 30000.00"
    )
    # a write-off after a recovery takes what is left, not the principal at default
    over = (
        HEADER
        + "DEFAULT,L4,2021-09-30,,,,,95,over 90 days,R5\n"
        + "RECOVERY,L4,2021-09-30,5000.00,900.00,,,,,R6\n"
        + "WRITE_OFF,L4,2021-09-30,25000.01,,,,,loss,R7\n"
    ).encode()
    with pytest.raises(TapeRejected) as info:
        import_servicer_tape(store, BYD, over, file="sep.csv")
    (error,) = info.value.errors
    assert (error.row, error.field) == (4, "principal")
    assert "exceeds the outstanding principal 25000.00 after 5000.00 on earlier lines" in (
        error.reason
    )
    assert store.runner.compare(store, BYD) == []
    assert len(list(store.read(BYD, types=["LoanDefaulted"]))) == 0  # nothing of either stored


def test_model_derives_checks_and_refuses() -> None:
    base = {"loan_id": "L", "value_date": "2021-09-30"}
    split = RecoveryReceived.model_validate({**base, "principal": "10.00", "fees": "1.5"})
    assert (split.amount, split.interest, split.fees) == (D("11.50"), D("0.00"), D("1.50"))
    lump = RecoveryReceived.model_validate({**base, "amount": "10.00"})
    assert (lump.principal, lump.amount) == (D("10.00"), D("10.00"))
    assert lump.legs() == [
        (accounts.SERVICER_HELD, D("10.00")),
        (accounts.POOL_DEFAULTED, D("-10.00")),
    ]
    both = RecoveryReceived.model_validate({**base, "principal": "10.00", "amount": "10.00"})
    assert both == lump
    for bad, why in (
        ({"principal": "10.00", "amount": "10.01"}, "is not principal + interest + fees"),
        ({"interest": "-1.00", "principal": "5.00"}, "interest must not be negative"),
        ({}, "amount must be positive"),
        ({"principal": 1.5}, "float"),
    ):
        with pytest.raises(ValidationError, match=re.escape(why)):
            RecoveryReceived.model_validate({**base, **bad})
    after_write_off = RecoveryReceived.model_validate(
        {**base, "principal": "7.00", "interest": "2.00", "written_off": True}
    )
    assert after_write_off.legs() == [
        (accounts.SERVICER_HELD, D("9.00")),
        (accounts.WRITTEN_OFF, D("-7.00")),
        (accounts.RECOVERY_INCOME, D("-2.00")),
    ]


def test_version_1_payload_is_upcast_with_its_amount_as_principal(store: ProjectedStore) -> None:
    v1 = {"loan_id": "L4", "value_date": "2021-09-30", "amount": "5000.00", "reference": "R6"}
    assert upcast("RecoveryReceived", 1, v1) == {
        **v1,
        "principal": "5000.00",
        "interest": "0.00",
        "fees": "0.00",
        "written_off": False,
    }
    assert load_event("RecoveryReceived", 1, v1) == RecoveryReceived(
        loan_id="L4", value_date=date(2021, 9, 30), principal=D("5000.00"), reference="R6"
    )

    boarded_byd(store)
    default = (HEADER + "DEFAULT,L4,2021-09-30,,,,,95,over 90 days,R5\n").encode()
    import_servicer_tape(store, BYD, default)
    old = NewEvent(  # as written before version 2, stored as it was (raw, validated on append)
        deal_id=BYD,
        stream_id="loan-L4",
        type="RecoveryReceived",
        schema_version=1,
        data=v1,
        effective_date=date(2021, 9, 30),
        idempotency_key="v1-recovery",
        **posted_by("RecoveryReceived"),
    )
    (recorded,) = store.append([old]).events
    assert recorded.schema_version == 1 and recorded.data == v1  # never rewritten
    assert balances(store, BYD)[accounts.POOL_DEFAULTED] == D("25000.00")
    row = loan_rows(store, BYD)["L4"]
    assert row["recoveries"] == "5000.00" and "recovered_interest" not in row
    assert loan_snapshots(store, BYD)["L4"].outstanding_principal == D("25000.00")

    # its reversal carries the version-1 payload; the projections net it out all the same
    reverse_event(store, BYD, recorded.event_id, "posted twice")
    assert balances(store, BYD)[accounts.POOL_DEFAULTED] == D("30000.00")
    assert loan_rows(store, BYD)["L4"]["recoveries"] == "0.00"
    assert store.runner.compare(store, BYD) == []


def test_post_checks_written_off_and_reversal_nets_the_split(store: ProjectedStore) -> None:
    boarded_byd(store)
    import_servicer_tape(store, BYD, (HEADER + "DEFAULT,L4,2021-09-30,,,,,95,x,R5\n").encode())
    data = {"loan_id": "L4", "value_date": "2021-09-30", "principal": "100.00", "fees": "5.00"}
    with pytest.raises(TapeRejected) as info:
        post_event(store, "RecoveryReceived", BYD, {**data, "written_off": True})
    (error,) = info.value.errors
    assert (error.field, error.reason) == (
        "written_off",
        "the loan is defaulted: written_off must be false",
    )
    with pytest.raises(TapeRejected, match="exceeds the defaulted principal outstanding"):
        post_event(store, "RecoveryReceived", BYD, {**data, "principal": "30000.01"})

    posted = post_event(store, "RecoveryReceived", BYD, data)
    assert posted.data["amount"] == "105.00"
    row = loan_rows(store, BYD)["L4"]
    assert (row["recoveries"], row["recovered_fees"]) == ("100.00", "5.00")
    assert balances(store, BYD)[accounts.RECOVERY_INCOME] == D("-5.00")
    reverse_event(store, BYD, posted.event_id, "wrong loan")
    row = loan_rows(store, BYD)["L4"]
    assert (row["recoveries"], row["recovered_fees"]) == ("0.00", "0.00")
    (period,) = [p for p in pool_periods(store, BYD) if p.period == "2021-09"]
    assert (period.recoveries, period.recovered_fees) == (D(0), D(0))
    assert balances(store, BYD).get(accounts.RECOVERY_INCOME, D(0)) == 0
    assert store.runner.compare(store, BYD) == []


def test_cycle_splits_recoveries_into_principal_and_income(store: ProjectedStore) -> None:
    """The payment-date cycle's collection split (ledger/cycle/state.py): recovered principal is
    the deals' ``recovery_principal`` item, recovered interest and fees ``recovery_income``
    (seed 004 L2454 (d), L2740 (c))."""
    from ledger.cycle.state import CycleFolder
    from ledger.servicing.deals import deal_in_force

    boarded_byd(store)
    result = import_servicer_tape(store, BYD, DEFAULT_RECOVER_WRITE_OFF)
    folder = CycleFolder(deal_in_force(store, BYD))
    folder.feed_all(store.read(BYD))
    assert folder.collected == {"recovery_principal": D("5700.00"), "recovery_income": D("200.00")}
    first = next(e for e in result.events if e.type == "RecoveryReceived")
    folder.feed(reverse_event(store, BYD, first.event_id, "wrong loan"))
    assert folder.collected == {"recovery_principal": D("700.00"), "recovery_income": D("50.00")}
