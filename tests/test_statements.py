"""Parsing custodian statements: SPEC §6 CSV and ISO 20022 camt.053 (issue 6 item 3)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from events.bank import BankLine
from ledger.audit.statement_csv import format_statement_csv, statement_file_name
from ledger.audit.statement_model import AccountStatement, StatementRejected
from ledger.audit.statements import parse_statement

D = Decimal
DATA = Path(__file__).resolve().parent / "data"


def _errors(data: bytes, name: str = "s.csv", **kw: object) -> list[tuple[str, str, str]]:
    with pytest.raises(StatementRejected) as info:
        parse_statement(data, name, **kw)  # type: ignore[arg-type]
    return [(e.row, e.field, e.reason) for e in info.value.errors]


# --- camt.053 -------------------------------------------------------------------------------------


def test_camt053_v02_sample_parses_to_the_booked_entries() -> None:
    data = (DATA / "camt053_v02_collections.xml").read_bytes()
    parsed = parse_statement(
        data,
        "camt053_v02_collections.xml",
        account_map={"31050161393600001234": "trust:collections"},
    )
    assert parsed.format == "camt.053"
    (st,) = parsed.statements
    assert (st.account, st.bank_account) == ("trust:collections", "31050161393600001234")
    assert (st.period_start, st.period_end) == (date(2022, 3, 1), date(2022, 3, 31))
    assert (st.opening_balance, st.closing_balance) == (D("1000000.00"), D("1345678.90"))
    assert st.statement_id == "STMT-2022-03-31-001"
    # entry 4 is pending (Sts PDNG): not a movement; the reversal (entry 5) is signed by its own
    # CdtDbtInd; the reference is EndToEndId, else Ustrd, else NtryRef, else AcctSvcrRef
    assert [(x.line_no, x.value_date, x.amount, x.reference) for x in st.lines] == [
        (1, date(2022, 3, 3), D("2345678.90"), "remittance 2022-02"),
        (2, date(2022, 3, 10), D("-2000000.00"), "transfer to income account"),
        (3, date(2022, 3, 31), D("-150.00"), "FEE-0331"),
        (5, date(2022, 3, 31), D("150.00"), "BANKREF-0331-10"),
    ]
    assert st.lines[0].extra == {
        "end_to_end_id": "remittance 2022-02",
        "remittance_info": "Collections February 2022",
        "entry_ref": "NR20220303-0001",
        "account_servicer_ref": "BANKREF-0303-01",
        "booking_date": "2022-03-03",
        "bank_transaction_code": "TRF-IN",
    }
    assert st.lines[3].extra["reversal"] == "true"
    assert all(x.balance_after is None for x in st.lines)
    # the booked entries explain the booked balances
    assert st.opening_balance is not None
    assert st.opening_balance + sum(x.amount for x in st.lines) == st.closing_balance


def test_camt053_v08_sample_merges_daily_statements_of_an_account() -> None:
    data = (DATA / "camt053_v08_distribution.xml").read_bytes()
    parsed = parse_statement(
        data, "v08.xml", account_map={"CN5810200000123456789012": "reserve:cash_collateral"}
    )
    dist, cca = parsed.statements
    assert dist.account == "trust:distribution"
    assert dist.statement_id == "DIST-20220426,DIST-20220427"
    assert (dist.period_start, dist.period_end) == (date(2022, 4, 26), date(2022, 4, 27))
    assert (dist.opening_balance, dist.closing_balance) == (D("0.00"), D("387654.33"))
    assert dist.lines == (
        BankLine(
            line_no=1,
            value_date=date(2022, 4, 26),
            amount=D("1200000.00"),
            reference="CollectionPeriodClosed 2022-04-26",
            extra={
                "end_to_end_id": "CollectionPeriodClosed 2022-04-26",
                "entry_ref": "D0426-1",
                "account_servicer_ref": "ICBC-0426-77",
                "booking_date": "2022-04-26",
            },
        ),
        BankLine(
            line_no=2,
            value_date=date(2022, 4, 27),
            amount=D("-800000.00"),
            reference="Class A principal 2022-04",
            extra={
                "remittance_info": "Class A principal 2022-04",
                "account_servicer_ref": "ICBC-0427-12",
                "booking_date": "2022-04-27",
            },
        ),
        BankLine(
            line_no=3,
            value_date=date(2022, 4, 27),
            amount=D("-12345.67"),
            reference="D0427-2",
            extra={"entry_ref": "D0427-2", "booking_date": "2022-04-27"},
        ),
    )
    # an IBAN account mapped to the ledger's; PRCD stands in for a missing OPBD; no entries
    assert (cca.account, cca.bank_account) == (
        "reserve:cash_collateral",
        "CN5810200000123456789012",
    )
    assert cca.lines == ()
    assert (cca.opening_balance, cca.closing_balance) == (D("96000000.00"), D("96000000.00"))


def _camt(entry: str, ns: str = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08") -> bytes:
    return f"""<?xml version="1.0"?>
<Document xmlns="{ns}"><BkToCstmrStmt><Stmt><Id>S-1</Id>
<Acct><Id><Othr><Id>trust:collections</Id></Othr></Id></Acct>
<Ntry><Amt Ccy="CNY">10.00</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<ValDt><Dt>2022-01-04</Dt></ValDt></Ntry>
{entry}
</Stmt></BkToCstmrStmt></Document>""".encode()


def test_camt053_errors_name_statement_entry_and_field() -> None:
    bad = _camt(
        '<Ntry><Amt Ccy="CNY">5.001</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        "<ValDt><Dt>2022-01-05</Dt></ValDt></Ntry>"
        '<Ntry><Amt Ccy="USD">5.00</Amt><CdtDbtInd>CRDT</CdtDbtInd>'
        "<ValDt><Dt>2022-01-05</Dt></ValDt></Ntry>"
        '<Ntry><Amt Ccy="CNY">5.00</Amt><CdtDbtInd>CR</CdtDbtInd>'
        "<ValDt><Dt>2022-01-05</Dt></ValDt></Ntry>"
        '<Ntry><Amt Ccy="CNY">5.00</Amt><CdtDbtInd>DBIT</CdtDbtInd>'
        "<ValDt><Dt>2022-02-30</Dt></ValDt></Ntry>"
    )
    errors = _errors(bad, "bad.xml")
    assert [(row, field) for row, field, _ in errors] == [
        ("Stmt 1 (S-1) Ntry 2", "Amt"),
        ("Stmt 1 (S-1) Ntry 3", "Amt/@Ccy"),
        ("Stmt 1 (S-1) Ntry 4", "CdtDbtInd"),
        ("Stmt 1 (S-1) Ntry 5", "ValDt"),
    ]
    assert "more than 2 decimals" in errors[0][2]
    assert "'USD'" in errors[1][2]
    assert "does not exist" in errors[3][2]
    with pytest.raises(StatementRejected, match=r"bad\.xml: Stmt 1 \(S-1\) Ntry 2, field Amt"):
        parse_statement(bad, "bad.xml")


def test_camt053_refuses_other_documents_and_dtds() -> None:
    other = _camt("", ns="urn:iso:std:iso:20022:tech:xsd:camt.052.001.08")
    assert _errors(other, "x.xml")[0][1] == "Document"
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b'<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.02">&lol;</Document>'
    )
    assert "DTD" in _errors(bomb, "x.xml")[0][2]
    assert "not well-formed" in _errors(b"<Document><BkToCstmrStmt>", "x.xml")[0][2]


# --- CSV ------------------------------------------------------------------------------------------

CSV = (
    "account,value_date,amount,reference,balance_after,channel\n"
    "trust:collections,2022-01-04,1000.00,remittance 2021-12,1000.00,CNAPS\n"
    "trust:income,2022-01-26,300,,,\n"
    'trust:collections,2022-01-26,-400.5,"split, income",599.50,internal\n'
    "\n"
    "trust:collections,2022-01-27,-99.50,,,\n"
)


def test_csv_statement_per_account_with_extra_columns_and_balances() -> None:
    parsed = parse_statement(CSV.encode(), "stmt.csv")
    assert parsed.format == "csv"
    coll, income = parsed.statements
    assert coll.account == "trust:collections" and income.account == "trust:income"
    assert [(x.line_no, x.amount, x.reference, x.balance_after) for x in coll.lines] == [
        (2, D("1000.00"), "remittance 2021-12", D("1000.00")),
        (4, D("-400.50"), "split, income", D("599.50")),
        (6, D("-99.50"), "", None),
    ]
    assert coll.lines[0].extra == {"channel": "CNAPS"}
    # balances from the running balance: opening before the first, closing after the last line
    assert (coll.opening_balance, coll.closing_balance) == (D("0.00"), D("500.00"))
    assert (coll.period_start, coll.period_end) == (date(2022, 1, 4), date(2022, 1, 27))
    assert (income.opening_balance, income.closing_balance) == (None, None)
    assert coll.first_row == "line 2" and income.first_row == "line 3"


def test_csv_errors_name_line_and_field_and_are_all_collected() -> None:
    bad = (
        "account,value_date,amount,reference,balance_after\n"
        "trust:collections,2022-01-04,1000.001,r,\n"
        "trust:collections,04/01/2022,10.00,r,\n"
        ",2022-01-04,10.00,r,abc\n"
        "trust:collections,2022-01-04,10.00\n"
        "trust:collections,2022-01-04,1.5e3,r,\n"
    )
    assert _errors(bad.encode()) == [
        ("line 2", "amount", "amount '1000.001' has more than 2 decimals"),
        ("line 3", "value_date", "date '04/01/2022' is not ISO YYYY-MM-DD"),
        (
            "line 4",
            "balance_after",
            "balance_after 'abc' is not a plain decimal (sign, digits, point)",
        ),
        ("line 4", "account", "empty: every movement names its account"),
        ("line 5", "", "record has 3 fields, the header has 5"),
        ("line 6", "amount", "amount '1.5e3' is not a plain decimal (sign, digits, point)"),
    ]
    assert ("line 1", "balance_after", "required column missing from the header") in _errors(
        b"account,value_date,amount,reference\ntrust:collections,2022-01-04,1.00,r\n"
    )
    assert _errors(b"account,value_date,amount,reference,balance_after\n")[0][2].startswith(
        "no movements"
    )
    assert "not UTF-8" in _errors(b"account,value_date\n\xff\xfe\n")[0][2]


def test_csv_written_by_the_ledger_parses_back_to_the_same_lines() -> None:
    lines = (
        BankLine(line_no=2, value_date=date(2022, 1, 4), amount=D("5.00"), reference="a, b",
                 balance_after=D("5.00"), extra={"channel": "x"}),
        BankLine(line_no=3, value_date=date(2022, 1, 5), amount=D("-2.50"), reference="",
                 balance_after=D("2.50"), extra={"channel": ""}),
    )  # fmt: skip
    st = AccountStatement(
        account="trust:income", bank_account="trust:income", period_start=date(2022, 1, 4),
        period_end=date(2022, 1, 5), lines=lines,
    )  # fmt: skip
    (back,) = parse_statement(format_statement_csv([st]).encode(), "x.csv").statements
    assert back.lines == lines
    assert statement_file_name("trust:collections") == "bank-statement-trust-collections.csv"
    assert statement_file_name("reserve:cash_collateral") == (
        "bank-statement-reserve-cash_collateral.csv"
    )
