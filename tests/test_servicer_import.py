"""Servicer tape import (issue 4 item 3): events, validation errors, idempotency, atomicity."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from events.envelope import NewEvent
from events.model import event_class
from ledger.cli.main import app as main_app
from ledger.core import accounts
from ledger.servicing.imports import import_tape
from ledger.servicing.periods import collection_periods, open_collection_period
from ledger.servicing.servicer_import import (
    import_servicer_tape,
    lean_loan_snapshots,
    servicer_events,
)
from ledger.servicing.tape_checks import validate_servicer_tape
from ledger.servicing.tape_formats import TapeRejected
from projections.loans import LoanSnapshot, LoanStatus, loan_snapshots
from projections.store import ProjectedStore
from tests.helpers import posted_by
from tests.test_boarding import BYD, balances, boarded_byd, cli_app

D = Decimal
HEADER = (
    "record_type,loan_id,value_date,principal,interest,fees,prepayment,days_past_due,reason,"
    "reference\n"
)
HAPPY = (
    HEADER
    + "COLLECTION,L1,2021-07-15,3000.00,325.33,,false,,,R1\n"
    + "COLLECTION,L2,2021-07-10,4166.67,650.00,,false,,,R2\n"
    + "DELINQUENCY,L3,2021-07-31,,,,,25,,R3\n"
    + "COLLECTION,L3,2021-08-20,2000.00,293.33,10.00,false,0,,R4\n"
    + "DEFAULT,L4,2021-09-30,,,,,95,over 90 days,R5\n"
    + "RECOVERY,L4,2021-09-30,5000.00,,,,,,R6\n"
    + "WRITE_OFF,L4,2021-09-30,25000.00,,,,,loss after recoveries,R7\n"
    + "REPURCHASE,L2,2021-09-30,145833.33,500.00,,,,warranty breach,R8\n"
).encode()


def test_servicer_tape_becomes_events(store: ProjectedStore) -> None:
    boarded_byd(store)
    result = import_servicer_tape(store, BYD, HAPPY, file="july.csv")
    assert not result.duplicate
    assert [str(d) for d in result.period or ()] == ["2021-06-18", "2021-09-30"]
    assert [e.type for e in result.events] == [
        "CollectionReceived",
        "CollectionReceived",
        "LoanDelinquencyReported",
        "CollectionReceived",
        "LoanDelinquencyReported",  # the collection's days_past_due 0: current again
        "LoanDefaulted",
        "RecoveryReceived",
        "LoanWrittenOff",
        "LoanRepurchased",
    ]
    by_key = {e.idempotency_key.rsplit(":", 1)[-1]: e for e in result.events}
    assert by_key["dpd"].data["days_past_due"] == 0
    default = by_key["6"]
    assert default.data["principal"] == "30000.00"  # the loan's outstanding principal then
    assert by_key["7"].data["amount"] == "5000.00"
    repurchase = by_key["9"].data
    assert (repurchase["price"], repurchase["principal"]) == ("146333.33", "145833.33")
    assert repurchase["from_defaulted"] is False
    assert all(e.idempotency_key.startswith(f"tape:{result.sha256}:") for e in result.events)
    assert result.events[0].effective_date == date(2021, 7, 15)

    snaps = loan_snapshots(store, BYD)
    assert lean_loan_snapshots(store, BYD) == snaps  # the import's lean read of the same rows
    assert snaps["L1"].outstanding_principal == D("77000.00")
    assert snaps["L2"].status is LoanStatus.REPURCHASED
    assert snaps["L3"].status is LoanStatus.PERFORMING and snaps["L3"].days_past_due == 0
    assert snaps["L4"].status is LoanStatus.WRITTEN_OFF
    bal = balances(store, BYD)
    assert bal[accounts.POOL_PRINCIPAL] == D("348000.00") - D("9166.67") - D("30000.00") - D(
        "145833.33"
    )
    assert bal[accounts.WRITTEN_OFF] == D("25000.00")
    assert sum(bal.values()) == 0
    assert store.runner.compare(store, BYD) == []


def test_reimport_is_a_reported_no_op(store: ProjectedStore) -> None:
    boarded_byd(store)
    first = import_servicer_tape(store, BYD, HAPPY, file="july.csv")
    head = store.head(BYD)
    again = import_servicer_tape(store, BYD, HAPPY, file="july-again.csv")
    assert again.duplicate
    assert [e.event_id for e in again.events] == [e.event_id for e in first.events]
    assert [e.hash for e in again.events] == [e.hash for e in first.events]
    assert store.head(BYD) == head
    assert "already imported, nothing stored" in again.summary()


ERRORS = [
    pytest.param(
        "COLLECTION,LX,2021-07-15,100.00,10.00,,false,,,R1\n",
        2,
        "loan_id",
        "unknown loan 'LX'",
        id="unknown-loan",
    ),
    pytest.param(
        "COLLECTION,L1,2021-07-15,abc,10.00,,false,,,R1\n",
        2,
        "principal",
        "non-numeric amount 'abc'",
        id="non-numeric",
    ),
    pytest.param(
        "COLLECTION,L1,2021-07-15,-5.00,10.00,,false,,,R1\n",
        2,
        "principal",
        "negative amount '-5.00'",
        id="negative",
    ),
    pytest.param(
        "COLLECTION,L1,2021-07-15,80000.01,10.00,,false,,,R1\n",
        2,
        "principal",
        "exceeds the outstanding principal 80000.00",
        id="above-outstanding",
    ),
    pytest.param(
        "COLLECTION,L1,2021-07-15,50000.00,,,false,,,R1\n"
        "COLLECTION,L1,2021-07-16,30000.01,,,false,,,R2\n",
        3,
        "principal",
        "after 50000.00 on earlier lines",
        id="above-outstanding-with-earlier-rows",
    ),
    pytest.param(
        "COLLECTION,L1,2021-10-01,100.00,10.00,,false,,,R1\n",
        2,
        "value_date",
        "outside the open collection period 2021-06-18 to 2021-09-30",
        id="outside-period",
    ),
    pytest.param(
        "COLLECTION,L1,2021-07-15,100.00,10.00,,false,,,R1\n"
        "COLLECTION,L1,2021-07-15,100.00,10.00,,false,,,R1\n",
        3,
        "reference",
        "duplicate record: same as line 2",
        id="duplicate",
    ),
    pytest.param(
        "DEFAULT,L1,2021-09-30,,,,,95,,R1\nDELINQUENCY,L1,2021-09-30,,,,,0,,R2\n",
        3,
        "days_past_due",
        "defaulted loan reported as performing",
        id="defaulted-as-performing",
    ),
    pytest.param(
        "REPURCHASE,L1,2021-09-30,80000.00,,,,,breach,R1\n"
        "REPURCHASE,L1,2021-09-30,1.00,,,,,breach,R2\n",
        3,
        "record_type",
        "repurchase of a loan already gone (status repurchased)",
        id="repurchase-gone",
    ),
]


@pytest.mark.parametrize(("rows", "line", "field", "reason"), ERRORS)
def test_each_validation_error_names_file_row_field_and_stores_nothing(
    store: ProjectedStore, rows: str, line: int, field: str, reason: str
) -> None:
    boarded_byd(store)
    head = store.head(BYD)
    with pytest.raises(TapeRejected) as info:
        import_servicer_tape(store, BYD, (HEADER + rows).encode(), file="tape.csv")
    errors = info.value.errors
    assert [(e.file, e.row, e.field) for e in errors] == [("tape.csv", line, field)]
    assert reason in errors[0].reason
    assert f"tape.csv: line {line}, field {field}: " in str(info.value)
    assert store.head(BYD) == head


def test_repurchase_of_a_loan_gone_in_an_earlier_tape(store: ProjectedStore) -> None:
    boarded_byd(store)
    import_servicer_tape(
        store, BYD, (HEADER + "COLLECTION,L4,2021-07-05,30000.00,,,true,,,P\n").encode()
    )
    head = store.head(BYD)
    with pytest.raises(TapeRejected) as info:
        import_servicer_tape(
            store, BYD, (HEADER + "REPURCHASE,L4,2021-09-30,1.00,,,,,breach,R\n").encode(), file="t"
        )
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "record_type")]
    assert "already gone (status paid_off)" in info.value.errors[0].reason
    assert store.head(BYD) == head


def test_a_tape_is_stored_whole_or_not_at_all(store: ProjectedStore) -> None:
    boarded_byd(store)
    head = store.head(BYD)
    good_rows = HAPPY.decode().split("\n", 1)[1]
    bad = (HEADER + good_rows + "COLLECTION,L9,2021-07-15,1.00,,,false,,,X\n").encode()
    with pytest.raises(TapeRejected) as info:
        import_servicer_tape(store, BYD, bad, file="bad.csv")
    assert [(e.row, e.field) for e in info.value.errors] == [(10, "loan_id")]
    assert store.head(BYD) == head
    assert list(store.read(BYD, types=["CollectionReceived"])) == []
    # every error of the file at once, syntax and state, in line order
    worse = (
        HEADER
        + "COLLECTION,L1,2021-07-15,x,,,false,,,A\nCOLLECTION,LZ,2021-07-15,1.00,,,false,,,B\n"
    ).encode()
    with pytest.raises(TapeRejected) as info:
        import_servicer_tape(store, BYD, worse, file="worse.csv")
    assert [(e.row, e.field) for e in info.value.errors] == [(2, "principal"), (3, "loan_id")]


def test_period_override_and_closed_periods(store: ProjectedStore) -> None:
    boarded_byd(store)
    october = (HEADER + "COLLECTION,L1,2021-10-15,100.00,10.00,,false,,,R1\n").encode()
    with pytest.raises(TapeRejected):
        import_servicer_tape(store, BYD, october)
    result = import_servicer_tape(
        store, BYD, october, period=(date(2021, 10, 1), date(2021, 10, 31))
    )
    assert len(result.events) == 1


def test_trusted_events_equal_validated_ones(store: ProjectedStore) -> None:
    """The import builds events without a second pydantic validation: the payloads and models
    must be exactly what the validated models give."""
    loans = {
        lid: LoanSnapshot(outstanding_principal=D(bal), status=LoanStatus.PERFORMING)
        for lid, bal in (
            ("L1", "80000.00"),
            ("L2", "150000.00"),
            ("L3", "88000.00"),
            ("L4", "30000.00"),
        )
    }
    tape = validate_servicer_tape(HAPPY, loans, (date(2021, 6, 18), date(2021, 9, 30)), "t.csv")
    built = servicer_events(BYD, tape, loans, actor="a", role="r")
    assert len(built) == 9
    for new in built:
        validated = event_class(new.type).model_validate(new.data)
        assert validated.payload() == new.data
        assert new.model == validated
        assert new.stream_id == validated.default_stream()
        assert new.validate() == validated


def test_cli_servicer_tape_import(db_url: str, store: ProjectedStore, tmp_path: Path) -> None:
    boarded_byd(store)
    runner = CliRunner()
    tape = tmp_path / "servicer_2021-07.csv"
    tape.write_bytes(HAPPY)
    args = ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(tape), "--db", db_url]
    r = runner.invoke(cli_app(), args)
    assert r.exit_code == 0, r.output
    assert "servicer tape imported: 9 event(s)" in r.output
    r = runner.invoke(cli_app(), args)
    assert r.exit_code == 0 and "already imported, nothing stored" in r.output
    october = tmp_path / "oct.csv"
    october.write_bytes((HEADER + "COLLECTION,L1,2021-10-15,100.00,10.00,,false,,,R9\n").encode())
    r = runner.invoke(
        cli_app(),
        ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(october), "--db", db_url],
    )
    assert r.exit_code == 1
    assert f"{october}: line 2, field value_date" in r.output
    window = ["--period-start", "2021-10-01", "--period-end", "2021-10-31"]
    r = runner.invoke(cli_app(), [*args[:5], BYD, str(october), "--db", db_url, *window])
    assert r.exit_code == 0, r.output
    assert import_tape(store, BYD, october).duplicate


def test_collection_periods_follow_the_deal_calendar() -> None:
    from itertools import islice

    from ledger.deal import validate_deal_file
    from tests.test_boarding import BYD_FILE, DC13_FILE

    dc13 = list(islice(collection_periods(validate_deal_file(DC13_FILE)), 3))
    assert [(str(a), str(b)) for a, b in dc13] == [
        ("2021-06-30", "2021-11-30"),
        ("2021-12-01", "2021-12-31"),
        ("2022-01-01", "2022-01-31"),
    ]
    byd = next(iter(collection_periods(validate_deal_file(BYD_FILE))))
    assert byd == (date(2021, 6, 18), date(2021, 9, 30))


def test_the_open_period_moves_on_once_the_period_is_closed(store: ProjectedStore) -> None:
    cycle = pytest.importorskip("events.cycle")
    boarded_byd(store)
    closed = cycle.CollectionPeriodClosed(
        payment_date=date(2021, 10, 26),
        period_index=1,
        collection_period_start=date(2021, 6, 18),
        collection_period_end=date(2021, 9, 30),
        determination_date=date(2021, 10, 18),
        items={},
        to_accounts={},
    )
    store.append(
        [
            NewEvent.of(
                closed,
                deal_id=BYD,
                stream_id=closed.default_stream(),
                effective_date=date(2021, 10, 18),
                idempotency_key="close-1",
                **posted_by("CollectionPeriodClosed"),
            )
        ]
    )
    assert open_collection_period(store, BYD) == (date(2021, 10, 1), date(2021, 10, 31))
    october = (HEADER + "COLLECTION,L1,2021-10-15,100.00,10.00,,false,,,R1\n").encode()
    assert len(import_servicer_tape(store, BYD, october).events) == 1
    july = (HEADER + "COLLECTION,L1,2021-07-15,100.00,10.00,,false,,,R2\n").encode()
    with pytest.raises(TapeRejected, match="outside the open collection period 2021-10-01"):
        import_servicer_tape(store, BYD, july)


# --- extra columns (SPEC §6: kept, not rejected) ------------------------------------------------

EXTRA_TAPE = (
    HEADER.rstrip("\n")
    + ",collector,branch\n"
    + "COLLECTION,L1,2021-07-15,3000.00,325.33,,false,0,,R1,Wang,Shanghai\n"
    + "DELINQUENCY,L3,2021-07-31,,,,,25,,R3,Li,\n"
    + "COLLECTION,L2,2021-07-10,4166.67,650.00,,false,,,R2,,\n"
    + "DEFAULT,L4,2021-09-30,,,,,95,over 90 days,R5,Zhao,Xi'an\n"
    + "RECOVERY,L4,2021-09-30,5000.00,,,,,,R6,Zhao,Xi'an\n"
    + "WRITE_OFF,L4,2021-09-30,25000.00,,,,,loss after recoveries,R7,Zhao,Xi'an\n"
    + "REPURCHASE,L2,2021-09-30,145833.33,500.00,,,,warranty breach,R8,Qian,Beijing\n"
).encode()


def test_extra_columns_are_kept_on_every_event_and_exported(
    db_url: str, store: ProjectedStore, tmp_path: Path
) -> None:
    boarded_byd(store)
    result = import_servicer_tape(store, BYD, EXTRA_TAPE, file="extra.csv")
    got = [(e.type, e.data.get("extra")) for e in result.events]
    wang = {"collector": "Wang", "branch": "Shanghai"}
    zhao = {"collector": "Zhao", "branch": "Xi'an"}
    assert got == [
        ("CollectionReceived", wang),
        ("LoanDelinquencyReported", wang),  # the collection's days_past_due report
        ("LoanDelinquencyReported", {"collector": "Li", "branch": ""}),
        ("CollectionReceived", {"collector": "", "branch": ""}),
        ("LoanDefaulted", zhao),
        ("RecoveryReceived", zhao),
        ("LoanWrittenOff", zhao),
        ("LoanRepurchased", {"collector": "Qian", "branch": "Beijing"}),
    ]
    for e in result.events:  # the models hold them too, and a read back validates them
        assert e.event.__dict__["extra"] == e.data["extra"]
        stored = store.get(BYD, e.event_id)
        assert stored is not None and stored.event == e.event

    out = tmp_path / "export.jsonl"
    r = CliRunner().invoke(
        main_app, ["--db", db_url, "events", "export", "--deal", BYD, "--out", str(out)]
    )
    assert r.exit_code == 0, r.output
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    exported = [(x["type"], x["data"].get("extra")) for x in lines if x["stream_id"] != "deal"]
    assert exported[-len(got) :] == got
    target = f"sqlite:///{tmp_path / 'copy.db'}"
    r = CliRunner().invoke(
        main_app, ["--db", target, "--as", "keeper:trustee", "events", "import", str(out)]
    )
    assert r.exit_code == 0, r.output
    again = tmp_path / "again.jsonl"
    CliRunner().invoke(
        main_app, ["--db", target, "events", "export", "--deal", BYD, "--out", str(again)]
    )
    assert again.read_bytes() == out.read_bytes()


def test_no_extra_columns_leave_payloads_as_before(store: ProjectedStore) -> None:
    """Without extra columns a payload has no ``extra`` key: the payloads (and so the hashes) of
    tapes imported before the field existed are what the models give now."""
    boarded_byd(store)
    result = import_servicer_tape(store, BYD, HAPPY)
    assert all("extra" not in e.data for e in result.events)
    collection = result.events[0]
    assert collection.data == {
        "loan_id": "L1",
        "value_date": "2021-07-15",
        "principal": "3000.00",
        "interest": "325.33",
        "fees": "0.00",
        "prepayment": False,
    }
    assert collection.event.payload() == collection.data


# --- progress on long imports (SPEC §5) ---------------------------------------------------------


def test_import_reports_each_stage_to_its_step_callback(store: ProjectedStore) -> None:
    from ledger.servicing.deals import load_deal
    from ledger.servicing.results import IMPORT_STAGES
    from tests.test_boarding import BYD_FILE, GOOD_TAPE

    load_deal(store, BYD_FILE)
    stages: list[str] = []
    import_tape(store, BYD, GOOD_TAPE, file="pool.csv", step=stages.append)
    assert stages == list(IMPORT_STAGES) == ["parse", "validate", "store"]
    stages.clear()
    import_tape(store, BYD, HAPPY, step=stages.append)
    assert stages == ["parse", "validate", "store"]
    stages.clear()
    import_tape(store, BYD, HAPPY, step=stages.append)  # a re-import stores nothing
    assert stages == ["parse"]
    stages.clear()
    bad = (HEADER + "COLLECTION,LX,2021-07-15,1.00,,,false,,,Z\n").encode()
    with pytest.raises(TapeRejected):
        import_tape(store, BYD, bad, step=stages.append)
    assert stages == ["parse"]


def test_progress_bar_only_on_a_terminal() -> None:
    import io

    from rich.console import Console

    from ledger.cli.servicing import import_progress

    piped = io.StringIO()
    with import_progress(Console(file=piped)) as step:
        for stage in ("parse", "validate", "store"):
            step(stage)
    assert piped.getvalue() == ""

    tty = io.StringIO()
    with import_progress(Console(file=tty, force_terminal=True, width=100)) as step:
        for stage in ("parse", "validate", "store"):
            step(stage)
    shown = tty.getvalue()
    assert "tape import: done" in shown and "3/3" in shown


def test_cli_tape_import_is_quiet_off_a_terminal_and_draws_on_one(
    db_url: str, store: ProjectedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from rich.console import Console

    import ledger.cli.servicing as cli_servicing

    boarded_byd(store)
    tape = tmp_path / "servicer_2021-07.csv"
    tape.write_bytes(HAPPY)
    args = ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(tape), "--db", db_url]
    r = CliRunner().invoke(cli_app(), args)
    assert r.exit_code == 0, r.output
    assert r.stderr == ""  # stderr is not a terminal here: no bar, no escape codes
    assert r.stdout.splitlines()[0].endswith(
        "servicer tape imported: 9 event(s), deal byd_2021_2, "
        "collection period 2021-06-18 to 2021-09-30"
    )

    screen = io.StringIO()
    monkeypatch.setattr(
        cli_servicing, "Console", lambda **_: Console(file=screen, force_terminal=True, width=100)
    )
    again = tmp_path / "servicer_2021-08.csv"
    again.write_bytes((HEADER + "COLLECTION,L1,2021-08-15,100.00,10.00,,false,,,R9\n").encode())
    r = CliRunner().invoke(
        cli_app(),
        ["tape", "import", "--as", "ops:servicer", "--deal", BYD, str(again), "--db", db_url],
    )
    assert r.exit_code == 0, r.output
    assert "tape import: done" in screen.getvalue() and "3/3" in screen.getvalue()
