"""Single events by an operator and their reversal (issue 4 item 3), on both backends."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from ledger.core import accounts
from ledger.servicing.operator import negate_entries, post_event, reverse_event
from ledger.servicing.results import ServicingError
from ledger.servicing.tape_formats import TapeRejected
from projections.loans import LoanStatus, loan_snapshots
from projections.store import ProjectedStore
from tests.test_boarding import BYD, POOL_TOTAL, balances, boarded_byd, cli_app

D = Decimal
COLLECTION = {
    "loan_id": "L1",
    "value_date": "2021-07-15",
    "principal": "3000.00",
    "interest": "325.33",
    "prepayment": False,
}


def test_post_then_reverse_nets_out_in_every_projection(store: ProjectedStore) -> None:
    boarded_byd(store)
    before = balances(store, BYD)
    posted = post_event(store, "CollectionReceived", BYD, COLLECTION, "ops", "servicer")
    assert posted.stream_id == "loan-L1" and posted.actor == "ops"
    assert str(posted.effective_date) == "2021-07-15"
    after = balances(store, BYD)
    assert after[accounts.POOL_PRINCIPAL] == POOL_TOTAL - D("3000.00")
    assert after[accounts.SERVICER_HELD] == D("3325.33")
    assert loan_snapshots(store, BYD)["L1"].outstanding_principal == D("77000.00")

    # a retried post (same payload) returns the original
    again = post_event(store, "CollectionReceived", BYD, COLLECTION, "ops", "servicer")
    assert again.event_id == posted.event_id and store.head(BYD)[0] == posted.deal_seq

    reversal = reverse_event(
        store, BYD, posted.event_id, "keyed against the wrong loan", "ops", "servicer"
    )
    assert reversal.type == "EventReversed" and reversal.stream_id == posted.stream_id
    assert reversal.effective_date == posted.effective_date
    data = reversal.data
    assert data["reversed_event_id"] == posted.event_id
    assert data["reversed_data"] == posted.data
    # the reversal's entries are the exact negation of the original's
    original_entries = posted.event.entries()
    reversed_entries = reversal.event.entries()
    assert len(reversed_entries) == len(original_entries) == 1
    for a, b in zip(reversed_entries, original_entries, strict=True):
        assert [(p.account, p.amount) for p in a.postings] == [
            (p.account, -p.amount) for p in b.postings
        ]
    assert negate_entries(posted.event) == reversed_entries

    netted = balances(store, BYD)
    assert {k: v for k, v in netted.items() if v} == {k: v for k, v in before.items() if v}
    assert loan_snapshots(store, BYD)["L1"].outstanding_principal == D("80000.00")
    assert store.runner.compare(store, BYD) == []
    # the original stays in history
    assert store.get(BYD, posted.event_id) is not None

    # retrying the same reversal returns it; reversing again with another reason is refused
    retried = reverse_event(
        store, BYD, posted.event_id, "keyed against the wrong loan", "ops", "servicer"
    )
    assert (retried.event_id, retried.hash) == (reversal.event_id, reversal.hash)
    with pytest.raises(ServicingError, match="already reversed"):
        reverse_event(store, BYD, posted.event_id, "again", "ops", "servicer")
    with pytest.raises(ServicingError, match="is a reversal"):
        reverse_event(store, BYD, reversal.event_id, "undo the undo", "ops", "servicer")
    with pytest.raises(ServicingError, match="has no event"):
        reverse_event(store, BYD, "00000000-0000-0000-0000-000000000000", "nothing")
    assert store.runner.compare(store, BYD) == []


def test_reversing_a_default_restores_the_loan(store: ProjectedStore) -> None:
    boarded_byd(store)
    default = post_event(
        store,
        "LoanDefaulted",
        BYD,
        {"loan_id": "L4", "value_date": "2021-09-30", "principal": "30000.00"},
    )
    assert loan_snapshots(store, BYD)["L4"].status is LoanStatus.DEFAULTED
    assert balances(store, BYD)[accounts.POOL_DEFAULTED] == D("30000.00")
    reverse_event(store, BYD, default.event_id, "default reported in error", "ops", "servicer")
    assert loan_snapshots(store, BYD)["L4"].status is LoanStatus.PERFORMING
    assert balances(store, BYD)[accounts.POOL_DEFAULTED] == 0
    assert store.runner.compare(store, BYD) == []


@pytest.mark.parametrize(
    ("type_name", "data", "field", "reason"),
    [
        pytest.param(
            "CollectionReceived",
            {**COLLECTION, "principal": "80000.01"},
            "principal",
            "exceeds the outstanding principal",
            id="above-outstanding",
        ),
        pytest.param(
            "CollectionReceived",
            {**COLLECTION, "loan_id": "LX"},
            "loan_id",
            "unknown loan",
            id="unknown-loan",
        ),
        pytest.param(
            "CollectionReceived",
            {**COLLECTION, "value_date": "2021-10-01"},
            "value_date",
            "outside the open collection period",
            id="outside-period",
        ),
        pytest.param(
            "CollectionReceived",
            {**COLLECTION, "principal": "-1.00"},
            "",
            "must not be negative",
            id="negative",
        ),
        pytest.param(
            "CollectionReceived",
            {**COLLECTION, "principal": 3000.5},
            "",
            "float",
            id="float",
        ),
        pytest.param(
            "CollectionReceived",
            {**COLLECTION, "principal": "abc"},
            "principal",
            "not a decimal number",
            id="non-numeric",
        ),
        pytest.param(
            "RecoveryReceived",
            {"loan_id": "L1", "value_date": "2021-07-15", "amount": "10.00"},
            "record_type",
            "not defaulted",
            id="recovery-on-performing",
        ),
        pytest.param(
            "LoanRepurchased",
            {
                "loan_id": "L1",
                "value_date": "2021-09-30",
                "reason": "breach",
                "price": "80000.00",
                "principal": "80000.00",
                "from_defaulted": True,
            },
            "from_defaulted",
            "from_defaulted must be false",
            id="repurchase-from-defaulted-mismatch",
        ),
    ],
)
def test_post_is_validated_like_a_tape_row(
    store: ProjectedStore, type_name: str, data: dict[str, object], field: str, reason: str
) -> None:
    boarded_byd(store)
    head = store.head(BYD)
    with pytest.raises(TapeRejected) as info:
        post_event(store, type_name, BYD, data)
    errors = info.value.errors
    assert len(errors) == 1
    assert errors[0].file == f"post {type_name}" and errors[0].field == field
    assert reason in errors[0].reason
    assert store.head(BYD) == head


def test_types_that_are_not_posted_by_hand(store: ProjectedStore) -> None:
    boarded_byd(store)
    for name, role in (
        ("DealDefined", "trustee"),
        ("LoanBoarded", "servicer"),
        ("PoolBoarded", "servicer"),
        ("EventReversed", "servicer"),
        ("WaterfallExecuted", "trustee"),
        ("PeriodSealed", "trustee"),
        ("BankStatementImported", "trustee"),
    ):
        with pytest.raises(ServicingError, match="cannot be posted directly"):
            post_event(store, name, BYD, {}, "ops", role)
    with pytest.raises(ServicingError, match="unknown event type"):
        post_event(store, "NoSuchEvent", BYD, {})


def test_cli_post_and_reversal(db_url: str, store: ProjectedStore) -> None:
    boarded_byd(store)
    runner = CliRunner()
    app = cli_app()
    db = ["--db", db_url, "--as", "ops:servicer"]
    r = runner.invoke(
        app,
        ["post", "CollectionReceived", "--deal", BYD, "--data", json.dumps(COLLECTION), *db],
    )
    assert r.exit_code == 0, r.output
    posted = json.loads(r.output)
    assert posted["type"] == "CollectionReceived" and posted["stream_id"] == "loan-L1"
    reversal = {"event_id": posted["event_id"], "reason": "wrong loan"}
    r = runner.invoke(app, ["post", "reversal", "--deal", BYD, "--data", json.dumps(reversal), *db])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["type"] == "EventReversed"
    assert balances(store, BYD)[accounts.SERVICER_HELD] == 0
    assert store.runner.compare(store, BYD) == []

    r = runner.invoke(
        app,
        ["post", "reversal", "--deal", BYD, "--data", json.dumps(reversal | {"reason": "x"}), *db],
    )
    assert r.exit_code == 1 and "already reversed" in r.output
    too_much = json.dumps({**COLLECTION, "principal": "90000.00"})
    r = runner.invoke(app, ["post", "CollectionReceived", "--deal", BYD, "--data", too_much, *db])
    assert r.exit_code == 1
    assert "post CollectionReceived: line 1, field principal" in r.output
    r = runner.invoke(app, ["post", "CollectionReceived", "--deal", BYD, "--data", "{", *db])
    assert r.exit_code == 1 and "not JSON" in r.output
