"""Loan projection: status transitions, sticky default, reversal netting, snapshots (issue 4.4)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events.catalogue import CollectionReceived, EventReversed
from events.envelope import NewEvent, RecordedEvent
from events.model import Event
from events.servicing import (
    LoanBoarded,
    LoanDefaulted,
    LoanDelinquencyReported,
    LoanRepurchased,
    LoanWrittenOff,
    RecoveryReceived,
)
from ledger.core.discounting import DrbConvention, loan_drb
from projections.loans import (
    LoanStatus,
    delinquency_bucket,
    loan_rows,
    loan_snapshots,
    scheduled_vs_paid,
)
from projections.store import ProjectedStore

DEAL = "LOANS-1"
CUT = date(2024, 2, 29)
_n = iter(range(1, 1_000_000))


def new(ev: Event, when: date, stream: str = "deal") -> NewEvent:
    loan = getattr(ev, "loan_id", None)
    return NewEvent.of(
        ev,
        deal_id=DEAL,
        stream_id=f"loan-{loan}" if loan else stream,
        effective_date=when,
        idempotency_key=f"k-{next(_n)}",
    )


def boarded(loan: str, principal: str = "12000.00", dpd: int = 0) -> NewEvent:
    return new(
        LoanBoarded(
            loan_id=loan,
            borrower_id=f"B{loan}",
            origination_date=date(2023, 2, 15),
            maturity_date=date(2025, 2, 15),
            original_principal=Decimal("24000.00"),
            outstanding_principal=Decimal(principal),
            interest_rate=Decimal("0.06"),
            amortization="level_principal",
            payment_day=15,
            remaining_term_months=12,
            days_past_due=dpd,
            cut_off_date=CUT,
        ),
        CUT,
    )


def collected(
    loan: str, principal: str, interest: str = "0.00", *, on: date, prepay: bool = False
) -> NewEvent:
    return new(
        CollectionReceived(
            loan_id=loan,
            value_date=on,
            principal=Decimal(principal),
            interest=Decimal(interest),
            prepayment=prepay,
        ),
        on,
    )


def dpd(loan: str, days: int, on: date) -> NewEvent:
    return new(LoanDelinquencyReported(loan_id=loan, value_date=on, days_past_due=days), on)


def reverse(original: RecordedEvent, on: date) -> NewEvent:
    rev = EventReversed(
        reversed_event_id=original.event_id,
        reversed_type=original.type,
        reversed_data=original.data,
        reason="posted in error",
        reversed_entries=tuple(
            e.model_copy(
                update={
                    "postings": tuple(
                        p.model_copy(update={"amount": -p.amount}) for p in e.postings
                    )
                }
            )
            for e in original.event.entries()
        ),
    )
    return new(rev, on, stream=original.stream_id)


def one(store: ProjectedStore, ev: NewEvent) -> RecordedEvent:
    return store.append([ev]).events[0]


def test_status_transitions_sticky_default_and_snapshots(store: ProjectedStore) -> None:
    store.append([boarded("A"), boarded("B"), boarded("C", "500.00")])
    snaps = loan_snapshots(store, DEAL)
    assert {k: (s.status, s.outstanding_principal) for k, s in snaps.items()} == {
        "A": (LoanStatus.PERFORMING, Decimal("12000.00")),
        "B": (LoanStatus.PERFORMING, Decimal("12000.00")),
        "C": (LoanStatus.PERFORMING, Decimal("500.00")),
    }
    store.append(
        [
            collected("A", "1000.00", "60.00", on=date(2024, 3, 15)),
            dpd("B", 16, date(2024, 3, 31)),
            collected("C", "500.00", "2.50", on=date(2024, 3, 10), prepay=True),
        ]
    )
    snaps = loan_snapshots(store, DEAL)
    assert snaps["A"].status is LoanStatus.PERFORMING
    assert snaps["A"].outstanding_principal == Decimal("11000.00")
    assert (snaps["B"].status, snaps["B"].days_past_due) == (LoanStatus.DELINQUENT, 16)
    assert snaps["C"].status is LoanStatus.PAID_OFF and snaps["C"].outstanding_principal == 0
    # B rolls to 90+ and defaults; a later "current" report does not cure it (sticky)
    store.append([dpd("B", 47, date(2024, 4, 30)), dpd("B", 77, date(2024, 5, 31))])
    assert delinquency_bucket(loan_snapshots(store, DEAL)["B"].days_past_due) == "61-90"
    store.append(
        [
            new(
                LoanDefaulted(
                    loan_id="B",
                    value_date=date(2024, 6, 30),
                    principal=Decimal("12000.00"),
                    days_past_due=107,
                ),
                date(2024, 6, 30),
            ),
            dpd("B", 0, date(2024, 7, 31)),
        ]
    )
    b = loan_snapshots(store, DEAL)["B"]
    assert (b.status, b.outstanding_principal, b.days_past_due) == (
        LoanStatus.DEFAULTED,
        Decimal("12000.00"),
        0,
    )
    store.append(
        [
            new(
                RecoveryReceived(
                    loan_id="B", value_date=date(2024, 10, 3), amount=Decimal("2280.00")
                ),
                date(2024, 10, 3),
            ),
            new(
                LoanWrittenOff(
                    loan_id="B", value_date=date(2024, 10, 31), amount=Decimal("9720.00")
                ),
                date(2024, 10, 31),
            ),
            new(
                LoanRepurchased(
                    loan_id="A",
                    value_date=date(2024, 10, 31),
                    reason="warranty breach",
                    price=Decimal("11055.00"),
                    principal=Decimal("11000.00"),
                ),
                date(2024, 10, 31),
            ),
        ]
    )
    rows = loan_rows(store, DEAL)
    assert rows["B"]["status"] == "written_off"
    assert rows["B"]["defaulted"] == "12000.00" and rows["B"]["recoveries"] == "2280.00"
    assert rows["A"]["status"] == "repurchased" and rows["A"]["balance"] == "0.00"
    snaps = loan_snapshots(store, DEAL)
    assert snaps["A"].outstanding_principal == 0 and snaps["B"].outstanding_principal == 0
    assert store.runner.compare(store, DEAL) == []


def test_reversal_nets_out_every_kind(store: ProjectedStore) -> None:
    store.append([boarded("A"), boarded("B", dpd=20)])
    before = loan_rows(store, DEAL)
    assert before["B"]["status"] == "delinquent" and before["B"]["dpd"] == 20
    originals = [
        one(store, collected("A", "1000.00", "60.00", on=date(2024, 3, 15))),
        one(store, dpd("B", 51, date(2024, 3, 31))),
        one(
            store,
            new(
                LoanDefaulted(
                    loan_id="B", value_date=date(2024, 4, 30), principal=Decimal("12000.00")
                ),
                date(2024, 4, 30),
            ),
        ),
        one(
            store,
            new(
                RecoveryReceived(
                    loan_id="B", value_date=date(2024, 5, 3), amount=Decimal("100.00")
                ),
                date(2024, 5, 3),
            ),
        ),
        one(
            store,
            new(
                LoanWrittenOff(
                    loan_id="B", value_date=date(2024, 5, 31), amount=Decimal("11900.00")
                ),
                date(2024, 5, 31),
            ),
        ),
        one(
            store,
            new(
                LoanRepurchased(
                    loan_id="A",
                    value_date=date(2024, 5, 31),
                    reason="breach",
                    price=Decimal("11000.00"),
                    principal=Decimal("11000.00"),
                ),
                date(2024, 5, 31),
            ),
        ),
    ]
    mid = loan_rows(store, DEAL)
    assert mid["A"]["status"] == "repurchased" and mid["B"]["status"] == "written_off"
    # undo the write-off only: back to defaulted, still owed net of the recovery
    store.append([reverse(originals[4], date(2024, 6, 1))])
    b = loan_snapshots(store, DEAL)["B"]
    assert (b.status, b.outstanding_principal) == (LoanStatus.DEFAULTED, Decimal("11900.00"))
    # undo everything else, newest first: the rows are the boarding rows again
    for original in reversed(originals[:4] + originals[5:]):
        store.append([reverse(original, date(2024, 6, 2))])
    after = loan_rows(store, DEAL)
    for loan in ("A", "B"):
        assert {k: v for k, v in after[loan].items()} == dict(before[loan]), loan
    assert store.runner.compare(store, DEAL) == []


def test_scheduled_vs_paid_and_discounted_balance(store: ProjectedStore) -> None:
    store.append([boarded("A"), collected("A", "1000.00", "60.00", on=date(2024, 3, 15))])
    row = loan_rows(store, DEAL)["A"]
    sv = scheduled_vs_paid(row, date(2024, 4, 30))
    assert (sv.scheduled_principal, sv.paid_principal, sv.instalments_due) == (
        Decimal("2000.00"),
        Decimal("1000.00"),
        2,
    )
    assert sv.arrears == Decimal("1000.00")
    drb = loan_drb(row, date(2024, 3, 31), DrbConvention(Decimal("0.051371")))
    assert Decimal("10000") < drb < Decimal("11500")
    assert drb == drb.quantize(Decimal("0.01"))
