"""Boarding and servicer tapes (SPEC §6): parsing, every validation error, round trips."""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from ledger.core.amortisation import Amortization
from ledger.core.text import control_character
from ledger.servicing.tape_checks import (
    check_boarding_rows,
    check_servicer_rows,
    validate_servicer_tape,
)
from ledger.servicing.tape_formats import (
    BOARDING_COLUMNS,
    SERVICER_COLUMNS,
    BoardingRow,
    RecordType,
    ServicerRow,
    TapeError,
    TapeRejected,
    content_hash,
    sniff_tape_kind,
    trusted,
)
from ledger.servicing.tape_parse import (
    parse_boarding_tape,
    parse_servicer_tape,
    read_boarding_tape,
    read_servicer_tape,
    scan_boarding_tape,
    scan_servicer_tape,
)
from ledger.servicing.tape_writers import (
    format_boarding_csv,
    format_servicer_csv,
    write_boarding_csv,
    write_servicer_csv,
)
from projections.loans import LoanSnapshot, LoanStatus

D = Decimal
BOARD_HEADER = ",".join(BOARDING_COLUMNS)
SERV_HEADER = ",".join(SERVICER_COLUMNS)
GOOD_LOAN = "L1,B1,2020-01-15,2023-01-15,100000.00,80000.50,0.0418,annuity,15,20,0"
PERIOD = (date(2021, 7, 1), date(2021, 7, 31))


def board(*rows: str, header: str = BOARD_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def serv(*rows: str, header: str = SERV_HEADER) -> bytes:
    return ("\n".join([header, *rows]) + "\n").encode()


def rejected(data: bytes, kind: str = "boarding", file: str = "tape.csv") -> list[TapeError]:
    parse = parse_boarding_tape if kind == "boarding" else parse_servicer_tape
    with pytest.raises(TapeRejected) as info:
        parse(data, file)
    return list(info.value.errors)


def only(errors: list[TapeError]) -> TapeError:
    assert len(errors) == 1, errors
    return errors[0]


# --- boarding tape --------------------------------------------------------------------------------


def test_boarding_parses_and_keeps_extra_columns() -> None:
    data = board(GOOD_LOAN + ",Shanghai,A1", header=BOARD_HEADER + ",branch,grade")
    tape = parse_boarding_tape(data, "b.csv")
    assert tape.file == "b.csv"
    assert tape.sha256 == hashlib.sha256(data).hexdigest() == content_hash(data)
    (row,) = tape.rows
    assert tape.lines == (2,)
    assert row == BoardingRow(
        loan_id="L1",
        borrower_id="B1",
        origination_date=date(2020, 1, 15),
        maturity_date=date(2023, 1, 15),
        original_principal="100000.00",
        outstanding_principal="80000.50",
        interest_rate="0.0418",
        amortization=Amortization.ANNUITY,
        payment_day=15,
        remaining_term_months=20,
        days_past_due=0,
        extra={"branch": "Shanghai", "grade": "A1"},
    )
    assert row.outstanding_principal == D("80000.50")
    assert isinstance(row.interest_rate, Decimal)
    with pytest.raises(ValidationError):  # frozen
        row.loan_id = "L2"


def test_boarding_columns_in_any_order_bom_and_whitespace() -> None:
    cols = list(reversed(BOARDING_COLUMNS))
    values = list(reversed(GOOD_LOAN.split(",")))
    data = "\ufeff" + ",".join(cols) + "\n" + ", ".join(values) + "\n\n"
    tape = parse_boarding_tape(data.encode("utf-8"), "b.csv")
    assert tape.rows[0].loan_id == "L1"
    assert tape.rows[0].outstanding_principal == D("80000.50")


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        ({2: "2020-13-01"}, "origination_date", "does not exist"),
        ({3: "15/01/2023"}, "maturity_date", "not ISO"),
        ({3: "2019-01-15"}, "maturity_date", "not after origination_date"),
        ({4: '"100,000.00"'}, "original_principal", "non-numeric"),
        ({4: "0.00", 5: "0.00"}, "original_principal", "must be positive"),
        ({5: "180000.00"}, "outstanding_principal", "exceeds original_principal"),
        ({5: "80000.555"}, "outstanding_principal", "more than 2 decimals"),
        ({5: "-1.00"}, "outstanding_principal", "negative amount"),
        ({6: "-0.01"}, "interest_rate", "negative rate"),
        ({6: "4.18"}, "interest_rate", "not a decimal fraction"),
        ({6: "4.18%"}, "interest_rate", "non-numeric rate"),
        ({7: "balloon"}, "amortization", "not one of annuity, level_principal, bullet"),
        ({8: "32"}, "payment_day", "not in 1..31"),
        ({8: "x"}, "payment_day", "not a whole number"),
        ({9: "-1"}, "remaining_term_months", "negative"),
        ({9: "0"}, "remaining_term_months", "principal outstanding"),
        ({10: "-3"}, "days_past_due", "negative"),
        ({0: ""}, "loan_id", "required field is empty"),
        ({1: ""}, "borrower_id", "required field is empty"),
    ],
)
def test_boarding_field_errors(change: dict[int, str], field: str, reason: str) -> None:
    values = GOOD_LOAN.split(",")
    for i, v in change.items():
        values[i] = v
    error = only(rejected(board(GOOD_LOAN.replace("L1", "L0"), ",".join(values))))
    assert (error.file, error.row, error.field) == ("tape.csv", 3, field)
    assert reason in error.reason
    assert str(error).startswith(f"tape.csv: line 3, field {field}: ")


def test_boarding_duplicate_loan_id_names_the_first_line() -> None:
    error = only(rejected(board(GOOD_LOAN, GOOD_LOAN.replace("B1", "B2"))))
    assert (error.row, error.field) == (3, "loan_id")
    assert "duplicate loan_id 'L1' (first on line 2)" in error.reason


def test_boarding_collects_every_error_in_one_rejection() -> None:
    bad = "L1,B1,2020-01-15,2019-01-15,100000.00,180000.5,4.18,balloon,32,-1,0"
    errors = rejected(board(GOOD_LOAN, bad, "L3,B3,x,2023-01-15,1.00,1.00,0,bullet,1,1,0"))
    fields = [(e.row, e.field) for e in errors]
    assert fields == [
        (3, "loan_id"),
        (3, "interest_rate"),
        (3, "amortization"),
        (3, "payment_day"),
        (3, "remaining_term_months"),
        (3, "maturity_date"),
        (3, "outstanding_principal"),
        (4, "origination_date"),
    ]
    message = str(TapeRejected(errors))
    assert "8 error(s)" in message
    assert "tape.csv: line 4, field origination_date" in message


def test_header_and_shape_errors() -> None:
    no_rate = BOARD_HEADER.replace(",interest_rate", "")
    error = only(rejected(board("x", header=no_rate)))
    assert (error.row, error.field, error.reason) == (
        1,
        "interest_rate",
        "required column missing from the header",
    )
    twice = only(rejected(board(header=BOARD_HEADER + ",loan_id")))
    assert (twice.row, twice.field) == (1, "loan_id")
    short = only(rejected(board(GOOD_LOAN, "L2,B2,2020-01-15")))
    assert (short.row, short.field) == (3, "")
    assert "3 fields, the header has 11" in short.reason
    empty = only(rejected(b""))
    assert (empty.row, empty.reason) == (0, "the file is empty: expected a header line")
    latin = only(rejected(board(GOOD_LOAN).replace(b"B1", b"\xe9\xe9")))
    assert latin.row in (0, 2) and "UTF-8" in latin.reason


def test_quoted_multiline_field_keeps_line_numbers() -> None:
    data = board(GOOD_LOAN + ',"a\nb"', "L2,B2,2020-01-15,2019-01-15,1.00,1.00,0,bullet,1,1,0,c")
    data = data.replace(BOARD_HEADER.encode(), (BOARD_HEADER + ",note").encode())
    error = only(rejected(data))
    assert (error.row, error.field) == (4, "maturity_date")  # record 2 starts on line 4


def test_scan_boarding_keeps_the_good_rows_and_every_error() -> None:
    """The public lenient read: what parses, plus every error parse_boarding_tape would raise."""
    bad = "L3,B3,x,2023-01-15,1.00,1.00,0,bullet,1,1,0"
    data = board(GOOD_LOAN, GOOD_LOAN.replace("B1", "B2"), bad, GOOD_LOAN.replace("L1", "L4"))
    tape, errors = scan_boarding_tape(data, "scan.csv")
    assert [(r.loan_id, r.borrower_id) for r in tape.rows] == [
        ("L1", "B1"),
        ("L1", "B2"),  # a duplicate parses: the error says which line it repeats
        ("L4", "B1"),
    ]
    assert tape.lines == (2, 3, 5)
    assert tape.sha256 == content_hash(data)
    assert [(e.file, e.row, e.field) for e in errors] == [
        ("scan.csv", 3, "loan_id"),
        ("scan.csv", 4, "origination_date"),
    ]
    assert errors == rejected(data, file="scan.csv")
    clean, none = scan_boarding_tape(board(GOOD_LOAN))
    assert none == [] and clean == parse_boarding_tape(board(GOOD_LOAN))


def test_scan_servicer_keeps_the_good_rows_and_every_error(tmp_path: Path) -> None:
    data = serv(
        "COLLECTION,P1,2021-07-15,100.00,,,false,,,a",
        "COLLECTION,P1,2021-07-15,x,,,false,,,b",
        "DELINQUENCY,P1,2021-07-31,,,,,12,,c",
    )
    path = tmp_path / "s.csv"
    path.write_bytes(data)
    tape, errors = scan_servicer_tape(path)
    assert [r.record_type for r in tape.rows] == [RecordType.COLLECTION, RecordType.DELINQUENCY]
    assert tape.lines == (2, 4) and tape.file == str(path)
    assert [(e.row, e.field) for e in errors] == [(3, "principal")]
    assert errors == rejected(data, kind="servicer", file=str(path))


def test_check_boarding_rows_for_rows_built_in_code() -> None:
    tape = parse_boarding_tape(board(GOOD_LOAN))
    errors = check_boarding_rows([*tape.rows, *tape.rows], file="api")
    assert errors == [TapeError("api", 3, "loan_id", "duplicate loan_id 'L1' (first on line 2)")]


def test_boarding_round_trip_through_a_file(tmp_path: Path) -> None:
    tape = parse_boarding_tape(board(GOOD_LOAN + ",x", header=BOARD_HEADER + ",branch"))
    path = tmp_path / "boarding.csv"
    digest = write_boarding_csv(tape.rows, path)
    again = read_boarding_tape(path)
    assert again.rows == tape.rows
    assert again.sha256 == digest == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.read_text().splitlines()[0] == BOARD_HEADER + ",branch"
    assert format_boarding_csv(tape.rows).encode() == path.read_bytes()
    assert sniff_tape_kind(BOARD_HEADER) == "boarding"
    assert sniff_tape_kind(SERV_HEADER) == "servicer"
    assert sniff_tape_kind("a,b") is None


def test_models_refuse_floats() -> None:
    with pytest.raises(ValueError):
        LoanSnapshot(outstanding_principal=1.5, status=LoanStatus.PERFORMING)
    with pytest.raises(ValueError):
        ServicerRow(
            record_type=RecordType.COLLECTION,
            loan_id="L1",
            value_date=date(2021, 7, 1),
            principal=10.25,
        )


def test_trusted_construction_equals_validated() -> None:
    values: dict[str, Any] = {
        "record_type": RecordType.COLLECTION,
        "loan_id": "L1",
        "value_date": date(2021, 7, 15),
        "principal": D("1.00"),
        "interest": D("0.10"),
        "fees": None,
        "prepayment": False,
        "days_past_due": None,
        "reason": None,
        "reference": "r",
        "extra": {},
    }
    fast = trusted(ServicerRow, dict(values))
    assert fast == ServicerRow(**values) == ServicerRow.model_construct(**values)
    assert fast.model_dump() == ServicerRow(**values).model_dump()


# --- servicer tape: syntax and per-record-type fields -------------------------------------------


def test_servicer_parses_every_record_type_and_keeps_extras(tmp_path: Path) -> None:
    data = serv(
        "COLLECTION,L1,2021-07-15,1000.00,300.5,,false,,,r1,x",
        "COLLECTION,L2,2021-07-20,5000.00,20.00,150.00,true,,,r2,",
        "DELINQUENCY,L3,2021-07-31,,,,,45,,r3,",
        "DEFAULT,L4,2021-07-31,900.00,,,,95,termination,r4,",
        "RECOVERY,L5,2021-07-10,300.00,,,,,,r5,",
        "WRITE_OFF,L5,2021-07-31,600.00,,,,,,r6,",
        "REPURCHASE,L6,2021-07-31,700.00,2.50,,,,warranty breach,r7,",
        header=SERV_HEADER + ",channel",
    )
    tape = parse_servicer_tape(data, "s.csv")
    kinds = [r.record_type for r in tape.rows]
    assert kinds == [RecordType.COLLECTION, *RecordType]
    first = tape.rows[0]
    assert first.interest == D("300.50")
    assert first.fees is None
    assert first.prepayment is False
    assert first.extra == {"channel": "x"}
    assert tape.rows[1].prepayment is True
    assert tape.rows[2].days_past_due == 45
    assert tape.rows[6].reason == "warranty breach"
    assert tape.lines == (2, 3, 4, 5, 6, 7, 8)
    path = tmp_path / "s.csv"
    write_servicer_csv(tape.rows, path)
    assert read_servicer_tape(path).rows == tape.rows
    assert format_servicer_csv(tape.rows).encode() == path.read_bytes()


@pytest.mark.parametrize(
    ("line", "field", "reason"),
    [
        ("PAYMENT,L1,2021-07-15,1.00,,,false,,,", "record_type", "not one of COLLECTION"),
        ("COLLECTION,,2021-07-15,1.00,,,false,,,", "loan_id", "required field is empty"),
        ("COLLECTION,L1,,1.00,,,false,,,", "value_date", "required field is empty"),
        ("COLLECTION,L1,2021-07-15,abc,,,false,,,", "principal", "non-numeric amount 'abc'"),
        ("COLLECTION,L1,2021-07-15,-5.00,,,false,,,", "principal", "negative amount '-5.00'"),
        ("COLLECTION,L1,2021-07-15,1.001,,,false,,,", "principal", "more than 2 decimals"),
        ("COLLECTION,L1,2021-07-15,1.00,1e3,,false,,,", "interest", "non-numeric amount"),
        ("COLLECTION,L1,2021-07-15,1.00,.5,,false,,,", "interest", "non-numeric amount '.5'"),
        ("COLLECTION,L1,2021-07-15,1.00,+5,,false,,,", "interest", "non-numeric amount '+5'"),
        ("COLLECTION,L1,2021-07-15,1.00,5.,,false,,,", "interest", "non-numeric amount '5.'"),
        ("COLLECTION,L1,2021-07-15,1.00,,-0.10,false,,,", "fees", "negative amount"),
        ("COLLECTION,L1,2021-07-15,1.00,,,yes,,,", "prepayment", "'yes' is not true or false"),
        ("COLLECTION,L1,2021-07-15,1.00,,,,,,", "prepayment", "needs prepayment"),
        ("COLLECTION,L1,2021-07-15,,,,false,,,", "principal", "needs principal, interest or fees"),
        ("COLLECTION,L1,2021-07-15,0.00,0,,false,,,", "principal", "total zero"),
        ("COLLECTION,L1,2021-07-15,,5.00,,true,,,", "principal", "prepayment needs a positive"),
        ("COLLECTION,L1,2021-07-15,1.00,,,false,-2,,", "days_past_due", "negative"),
        ("DELINQUENCY,L1,2021-07-31,,,,,,,", "days_past_due", "DELINQUENCY needs days_past_due"),
        ("DELINQUENCY,L1,2021-07-31,,,,,3.5,,", "days_past_due", "not a whole number"),
        ("DELINQUENCY,L1,2021-07-31,5.00,,,,30,,", "principal", "does not use principal"),
        ("DEFAULT,L1,2021-07-31,5.00,1.00,,,,,", "interest", "DEFAULT does not use interest"),
        ("RECOVERY,L1,2021-07-31,,,,,,,", "principal", "RECOVERY needs a positive amount"),
        ("RECOVERY,L1,2021-07-31,0.00,,,,,,", "principal", "RECOVERY needs a positive amount"),
        ("RECOVERY,L1,2021-07-31,1.00,,,false,,,", "prepayment", "does not use prepayment"),
        ("WRITE_OFF,L1,2021-07-31,,,,,,,", "principal", "WRITE_OFF needs the principal"),
        ("WRITE_OFF,L1,2021-07-31,1.00,,2.00,,,,", "fees", "WRITE_OFF does not use fees"),
        ("REPURCHASE,L1,2021-07-31,1.00,,,,,,", "reason", "REPURCHASE needs a reason"),
        ("REPURCHASE,L1,2021-07-31,,,,,,breach,", "principal", "needs the principal"),
        ("REPURCHASE,L1,2021-07-31,0.00,,,,,breach,", "principal", "must be positive"),
        ("COLLECTION,L1,2021-02-30,1.00,,,false,,,", "value_date", "does not exist"),
    ],
)
def test_servicer_field_errors(line: str, field: str, reason: str) -> None:
    ok = "COLLECTION,L9,2021-07-15,1.00,,,false,,,"
    error = only(rejected(serv(ok, line), "servicer", "july.csv"))
    assert (error.file, error.row, error.field) == ("july.csv", 3, field)
    assert reason in error.reason, error.reason


# --- servicer tape: semantic checks against loan state -------------------------------------------


def snap(balance: str, status: LoanStatus = LoanStatus.PERFORMING, dpd: int = 0) -> LoanSnapshot:
    return LoanSnapshot(outstanding_principal=balance, status=status, days_past_due=dpd)


LOANS = {
    "P1": snap("10000.00"),
    "P2": snap("500.00"),
    "DQ": snap("8000.00", LoanStatus.DELINQUENT, 45),
    "DF": snap("7000.00", LoanStatus.DEFAULTED, 120),
    "WO": snap("0.00", LoanStatus.WRITTEN_OFF),
    "RP": snap("0.00", LoanStatus.REPURCHASED),
    "PO": snap("0.00", LoanStatus.PAID_OFF),
}


def semantic(*lines: str) -> list[TapeError]:
    with pytest.raises(TapeRejected) as info:
        validate_servicer_tape(serv(*lines), LOANS, PERIOD, "aug.csv")
    return list(info.value.errors)


def test_clean_tape_validates() -> None:
    tape = validate_servicer_tape(
        serv(
            "COLLECTION,P1,2021-07-15,400.00,41.67,,false,,,a",
            "COLLECTION,DQ,2021-07-20,800.00,60.00,100.00,false,0,,b",
            "RECOVERY,DF,2021-07-10,1000.00,,,,,,c",
            "WRITE_OFF,DF,2021-07-31,6000.00,,,,,,d",
            "RECOVERY,WO,2021-07-12,50.00,,,,,,e",
            "DEFAULT,P2,2021-07-31,500.00,,,,,,f",
            "RECOVERY,P2,2021-07-31,20.00,,,,,,g",
        ),
        LOANS,
        PERIOD,
    )
    assert len(tape.rows) == 7


def test_unknown_loan() -> None:
    error = only(semantic("COLLECTION,NOPE,2021-07-15,1.00,,,false,,,"))
    assert (error.file, error.row, error.field) == ("aug.csv", 2, "loan_id")
    assert error.reason == "unknown loan 'NOPE'"


def test_value_date_outside_open_period() -> None:
    errors = semantic(
        "COLLECTION,P1,2021-06-30,1.00,,,false,,,a", "COLLECTION,P1,2021-08-01,1.00,,,false,,,b"
    )
    assert [(e.row, e.field) for e in errors] == [(2, "value_date"), (3, "value_date")]
    assert "outside the open collection period 2021-07-01 to 2021-07-31" in errors[0].reason


def test_principal_above_outstanding_cumulatively_within_the_file() -> None:
    errors = semantic(
        "COLLECTION,P2,2021-07-15,300.00,,,false,,,a",
        "COLLECTION,P2,2021-07-16,300.00,,,false,,,b",
    )
    error = only(errors)
    assert (error.row, error.field) == (3, "principal")
    assert error.reason == (
        "principal 300.00 exceeds the outstanding principal 200.00 "
        "after 300.00 on earlier lines of this file"
    )
    single = only(semantic("REPURCHASE,P2,2021-07-31,500.01,,,,,breach,"))
    assert (single.row, single.field) == (2, "principal")
    assert single.reason == "principal 500.01 exceeds the outstanding principal 500.00"


def test_duplicate_record() -> None:
    line = "COLLECTION,P1,2021-07-15,100.00,5.00,,false,,,ref-1"
    error = only(semantic(line, line.replace("ref-1", "ref-2"), line))
    assert (error.row, error.field) == (4, "reference")
    assert error.reason == "duplicate record: same as line 2"


def test_defaulted_loan_reported_as_performing() -> None:
    errors = semantic(
        "DELINQUENCY,DF,2021-07-31,,,,,0,,a",
        "COLLECTION,DF,2021-07-20,100.00,,,false,0,,b",
        "DEFAULT,DF,2021-07-31,6900.00,,,,,,c",
        # defaulted earlier in the same file: sticky
        "DEFAULT,P1,2021-07-30,10000.00,,,,,,d",
        "DELINQUENCY,P1,2021-07-31,,,,,0,,e",
    )
    assert [(e.row, e.field) for e in errors] == [
        (2, "days_past_due"),
        (3, "days_past_due"),
        (4, "record_type"),
        (6, "days_past_due"),
    ]
    assert errors[0].reason == "defaulted loan reported as performing (days_past_due 0)"
    assert "COLLECTION marked as curing a defaulted loan" in errors[1].reason
    assert errors[2].reason == "DEFAULT of a loan already defaulted"


def test_defaulted_loan_may_still_be_reported_delinquent_or_pay_arrears() -> None:
    tape = validate_servicer_tape(
        serv(
            "DELINQUENCY,DF,2021-07-31,,,,,150,,a",
            "COLLECTION,DF,2021-07-20,100.00,,,false,,,b",
        ),
        LOANS,
        PERIOD,
    )
    assert len(tape.rows) == 2


def test_repurchase_of_a_loan_already_gone() -> None:
    errors = semantic(
        "REPURCHASE,RP,2021-07-31,1.00,,,,,breach,a",
        "REPURCHASE,WO,2021-07-31,1.00,,,,,breach,b",
        "REPURCHASE,PO,2021-07-31,1.00,,,,,breach,c",
        "REPURCHASE,P2,2021-07-30,500.00,,,,,breach,d",
        "REPURCHASE,P2,2021-07-31,500.00,,,,,breach again,e",
        "COLLECTION,PO,2021-07-15,1.00,,,false,,,f",
    )
    # line 5 is a valid repurchase; line 6 repeats it for a loan now gone
    assert [(e.row, e.field) for e in errors] == [(r, "record_type") for r in (2, 3, 4, 6, 7)]
    assert errors[0].reason == "repurchase of a loan already gone (status repurchased)"
    assert errors[1].reason == "repurchase of a loan already gone (status written_off)"
    assert errors[2].reason == "repurchase of a loan already gone (status paid_off)"
    assert errors[3].reason == "repurchase of a loan already gone (status repurchased)"
    assert errors[4].reason == "COLLECTION on a loan already gone (status paid_off)"


def test_recovery_and_write_off_need_a_default() -> None:
    errors = semantic(
        "RECOVERY,P1,2021-07-15,10.00,,,,,,a",
        "WRITE_OFF,P1,2021-07-31,10.00,,,,,,b",
    )
    assert [(e.row, e.field) for e in errors] == [(2, "record_type"), (3, "record_type")]
    assert errors[0].reason == "RECOVERY on a loan that is not defaulted (status performing)"


def test_negative_amount_on_rows_built_in_code() -> None:
    row = ServicerRow.model_construct(
        record_type=RecordType.COLLECTION,
        loan_id="P1",
        value_date=date(2021, 7, 15),
        principal=D("-1.00"),
        interest=None,
        fees=None,
        prepayment=False,
        days_past_due=None,
        reason=None,
        reference=None,
        extra={},
    )
    errors = check_servicer_rows([row], LOANS, PERIOD, file="api")
    assert errors == [TapeError("api", 2, "principal", "negative amount -1.00")]


def test_syntax_and_semantic_errors_reported_together_in_line_order() -> None:
    errors = semantic(
        "COLLECTION,NOPE,2021-07-15,1.00,,,false,,,a",
        "COLLECTION,P1,2021-07-15,x,,,false,,,b",
        "COLLECTION,P1,2021-09-15,1.00,,,false,,,c",
    )
    assert [(e.row, e.field) for e in errors] == [
        (2, "loan_id"),
        (3, "principal"),
        (4, "value_date"),
    ]


def test_check_is_pure_and_does_not_touch_inputs() -> None:
    tape = parse_servicer_tape(serv("COLLECTION,P1,2021-07-15,100.00,,,false,,,a"))
    before = dict(LOANS)
    assert check_servicer_rows(tape.rows, LOANS, PERIOD) == []
    assert check_servicer_rows(tape.rows, LOANS, PERIOD) == []
    assert before == LOANS


# --- round trips of arbitrary rows --------------------------------------------------------------

_TEXT = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    min_size=1,
    max_size=12,
).filter(lambda t: t == t.strip() and t != "" and control_character(t, multiline=True) is None)
"""Any text a tape field may hold: control characters are refused (ledger/core/text.py)."""
_FEN = st.integers(min_value=0, max_value=10**13).map(lambda n: D(n).scaleb(-2))
_POSITIVE = st.integers(min_value=1, max_value=10**13).map(lambda n: D(n).scaleb(-2))
_EXTRA = st.dictionaries(st.sampled_from(["branch", "note", "渠道", "ref 2"]), _TEXT, max_size=3)


@st.composite
def servicer_rows(draw: st.DrawFn) -> ServicerRow:
    kind = draw(
        st.sampled_from([RecordType.COLLECTION, RecordType.DELINQUENCY, RecordType.REPURCHASE])
    )
    values: dict[str, Any] = {
        "record_type": kind,
        "loan_id": draw(_TEXT),
        "value_date": draw(st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))),
        "reference": draw(st.none() | _TEXT),
        "extra": draw(_EXTRA),
    }
    if kind is RecordType.COLLECTION:
        values["principal"] = draw(_POSITIVE)
        values["interest"] = draw(st.none() | _FEN)
        values["fees"] = draw(st.none() | _FEN)
        values["prepayment"] = draw(st.booleans())
        values["days_past_due"] = draw(st.none() | st.integers(min_value=0, max_value=999))
    elif kind is RecordType.DELINQUENCY:
        values["days_past_due"] = draw(st.integers(min_value=0, max_value=999))
    else:
        values["principal"] = draw(_POSITIVE)
        values["interest"] = draw(st.none() | _FEN)
        values["reason"] = draw(_TEXT)
    return ServicerRow(**values)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(servicer_rows(), max_size=8))
def test_any_servicer_rows_round_trip(rows: list[ServicerRow]) -> None:
    text = format_servicer_csv(rows)
    tape = parse_servicer_tape(text.encode("utf-8"), "rt.csv")
    names = {name for r in rows for name in r.extra}
    assert [
        r.model_copy(update={"extra": {n: r.extra.get(n, "") for n in names}}) for r in rows
    ] == list(tape.rows)
    assert tape.sha256 == content_hash(text.encode("utf-8"))
