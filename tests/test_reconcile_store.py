"""Importing and reconciling custodian statements on both backends (issue 6 item 3).

A BYD 2021-2 deal (seed 004, scaled to a 40-loan pool) is serviced for 8 months and its first six
payment dates are run; the statements the custodian would send are generated from the ledger's own
postings and reconciled, then tampered with.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from events.bank import BankLine, BankStatementImported, ReconciliationCompleted
from ledger.audit.statement_csv import format_statement_csv, statement_file_name
from ledger.audit.statement_import import deal_bank_accounts, import_statements, ledger_statements
from ledger.audit.statement_model import AccountStatement, StatementRejected
from ledger.audit.verify import verify
from ledger.cli.reconcile import EXIT_BREAKS, reconcile_command
from ledger.core.logs import configure
from ledger.cycle.acts import issue_notes
from ledger.cycle.walk import run_due
from ledger.servicing.deals import deal_in_force, load_deal
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE
from tests.test_cycle import scaled_deal, servicing_events

D = Decimal
DEAL = "byd_2021_2"


@pytest.fixture
def byd(store: ProjectedStore, tmp_path: Path) -> str:
    load_deal(store, scaled_deal("004_byd_2021_2.yaml", tmp_path))
    deal = deal_in_force(store, DEAL)
    issue_notes(store, DEAL, dt.date(2021, 9, 15), who=TRUSTEE)
    store.append(servicing_events(DEAL, deal.calendar.cut_off_date, 8, {}))
    results = run_due(store, DEAL, dt.date(2022, 3, 31))
    assert [r.status for r in results] == ["posted"] * 6
    return DEAL


def _write(st: AccountStatement, folder: Path, lines: list[BankLine] | None = None) -> Path:
    if lines is not None:  # a tampered statement: the bank's running balance over its lines
        balance, chained = st.opening_balance or D("0.00"), []
        for x in lines:
            balance += x.amount
            chained.append(x.model_copy(update={"balance_after": balance}))
        st = AccountStatement(
            account=st.account, bank_account=st.bank_account, period_start=st.period_start,
            period_end=st.period_end, lines=tuple(chained),
        )  # fmt: skip
    path = folder / statement_file_name(st.account)
    path.write_text(format_statement_csv([st]), encoding="utf-8")
    return path


def _count(store: ProjectedStore) -> int:
    return sum(1 for _ in store.read(DEAL))


def test_statements_from_the_ledger_reconcile_with_zero_breaks(
    store: ProjectedStore, byd: str, tmp_path: Path
) -> None:
    statements = ledger_statements(store, byd)
    accounts = {st.account for st in statements}
    assert {"trust:collections", "trust:income", "trust:principal"} <= accounts
    assert accounts <= deal_bank_accounts(store, byd)
    paths = [_write(st, tmp_path) for st in statements]
    results = import_statements(store, byd, paths)
    assert len(results) == len(statements)
    for r, st in zip(results, statements, strict=True):
        c = r.result
        assert not r.duplicate
        assert c.account == st.account and c.breaks == ()
        assert sum(len(m.bank_lines) for m in c.matched) == len(st.lines)
        assert c.bank_closing_balance == c.ledger_closing_balance == st.closing_balance
        imported = r.statement.event
        assert isinstance(imported, BankStatementImported)
        assert imported.lines == st.lines and imported.format == "csv"
        assert r.statement.stream_id == r.reconciliation.stream_id == f"bank-{st.account}"
        assert r.reconciliation.causation_id == r.statement.event_id == c.statement_event_id
    # the ledger's balances: what the statements close at
    balances = store.runner.live(store, byd, "balances")
    for st in statements:
        assert D(balances[st.account].row["balance"]) == st.closing_balance
    assert all(v.ok for v in verify(store, byd))


def test_one_altered_one_missing_one_extra_line_are_exactly_three_breaks(
    store: ProjectedStore, byd: str, tmp_path: Path
) -> None:
    (st,) = ledger_statements(store, byd, ["trust:income"])
    lines = list(st.lines)
    unique = [
        i for i, x in enumerate(lines) if Counter(y.reference for y in lines)[x.reference] == 1
    ]
    altered_at, missing_at = unique[3], unique[10]
    assert altered_at < missing_at
    missing = lines.pop(missing_at)
    lines[altered_at] = lines[altered_at].model_copy(
        update={"amount": lines[altered_at].amount + D("12.34")}
    )
    extra = BankLine(
        line_no=99, value_date=dt.date(2022, 2, 9), amount=D("-35.00"), reference="bank charge"
    )
    lines.append(extra)
    before = _count(store)
    (r,) = import_statements(store, byd, [_write(st, tmp_path, lines)])
    c = r.result
    assert [(b.kind, b.amount, b.bank_line) for b in c.breaks] == [
        ("amount_difference", D("12.34"), altered_at + 2),  # CSV line: header is line 1
        ("unmatched_bank", D("-35.00"), len(lines) + 1),
        ("unmatched_ledger", missing.amount, None),
    ]
    altered_posting, missing_posting = c.breaks[0].posting, c.breaks[2].posting
    assert altered_posting is not None and missing_posting is not None
    assert altered_posting.reference == lines[altered_at].reference
    assert (missing_posting.reference, missing_posting.value_date) == (
        missing.reference,
        missing.value_date,
    )
    # the bank's closing balance differs by exactly what the three breaks explain
    assert c.bank_closing_balance is not None
    assert c.bank_closing_balance - c.ledger_closing_balance == D("12.34") - D("35.00") - (
        missing.amount
    )
    assert sum(len(m.bank_lines) for m in c.matched) == len(lines) - 2
    assert _count(store) == before + 2
    stored = store.get(byd, r.reconciliation.event_id)
    assert stored is not None and isinstance(stored.event, ReconciliationCompleted)
    assert stored.event.breaks == c.breaks


def test_reimporting_a_statement_stores_nothing(
    store: ProjectedStore, byd: str, tmp_path: Path
) -> None:
    paths = [_write(st, tmp_path) for st in ledger_statements(store, byd)]
    first = import_statements(store, byd, paths)
    count = _count(store)
    again = import_statements(store, byd, paths)
    assert all(r.duplicate for r in again)
    assert [r.reconciliation.event_id for r in again] == [r.reconciliation.event_id for r in first]
    assert _count(store) == count
    # a statement recorded once, even when the ledger has moved on since
    store.append(servicing_events(DEAL, dt.date(2021, 6, 18), 9, {})[-1:])
    assert all(r.duplicate for r in import_statements(store, byd, paths[:1]))
    assert _count(store) == count + 1


def test_a_bad_statement_stores_nothing_and_names_row_and_field(
    store: ProjectedStore, byd: str, tmp_path: Path
) -> None:
    good = _write(ledger_statements(store, byd, ["trust:collections"])[0], tmp_path)
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "account,value_date,amount,reference,balance_after\n"
        "trust:income,2022-01-26,100.00,x,100.00\n"
        "trust:income,2022-01-27,12.345,y,\n",
        encoding="utf-8",
    )
    stranger = tmp_path / "stranger.csv"
    stranger.write_text(
        "account,value_date,amount,reference,balance_after\n"
        "trust:income,2022-01-26,100.00,x,\n"
        "servicer:collections-held,2022-01-26,5.00,y,\n",
        encoding="utf-8",
    )
    before = _count(store)
    with pytest.raises(StatementRejected) as info:
        import_statements(store, byd, [good, bad, stranger])
    errors = [(e.file, e.row, e.field) for e in info.value.errors]
    assert errors == [
        ("bad.csv", "line 3", "amount"),
        ("stranger.csv", "line 3", "account"),
    ]
    assert "not a trust bank account of deal byd_2021_2" in str(info.value)
    assert _count(store) == before
    # a statement period that leaves out one of the lines
    with pytest.raises(StatementRejected, match="line 2, field value_date: 2021"):
        import_statements(store, byd, [good], period=(dt.date(2021, 9, 1), dt.date(2021, 9, 30)))
    assert _count(store) == before


def test_camt053_statement_maps_its_account_and_reports_breaks(
    store: ProjectedStore, byd: str, tmp_path: Path
) -> None:
    (st,) = ledger_statements(store, byd, ["trust:collections"])
    first = st.lines[0]
    xml = f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"><BkToCstmrStmt>
<GrpHdr><MsgId>M1</MsgId><CreDtTm>2022-04-01T06:00:00+08:00</CreDtTm></GrpHdr>
<Stmt><Id>S1</Id><Acct><Id><Othr><Id>31050161393600001234</Id></Othr></Id><Ccy>CNY</Ccy></Acct>
<Ntry><Amt Ccy="CNY">{first.amount}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Sts><Cd>BOOK</Cd></Sts>
<ValDt><Dt>{first.value_date}</Dt></ValDt>
<NtryDtls><TxDtls><RmtInf><Ustrd>collections</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>
</Stmt></BkToCstmrStmt></Document>"""
    path = tmp_path / "camt.xml"
    path.write_text(xml, encoding="utf-8")
    with pytest.raises(StatementRejected, match="'31050161393600001234' is not a trust bank"):
        import_statements(store, byd, [path])
    day = first.value_date
    with pytest.raises(
        StatementRejected, match=r"camt\.xml: 31050161393600001234 Ntry 1, field value_date"
    ):
        import_statements(
            store, byd, [path], account_map={"31050161393600001234": "trust:collections"},
            period=(day + dt.timedelta(days=1), day + dt.timedelta(days=30)),
        )  # fmt: skip
    (r,) = import_statements(
        store, byd, [path], account_map={"31050161393600001234": "trust:collections"}
    )
    c = r.result
    assert c.account == "trust:collections" and c.bank_closing_balance is None
    (m,) = c.matched
    assert m.rule == "date+amount" and m.postings[0].event_type == "CollectionsRemitted"
    assert c.breaks == ()
    assert (c.period_start, c.period_end) == (first.value_date, first.value_date)


# --- CLI ------------------------------------------------------------------------------------------

app = typer.Typer()


@app.callback()
def main() -> None:
    configure("WARNING")


app.command("reconcile")(reconcile_command)


def test_reconcile_cli_json_and_exit_codes(
    store: ProjectedStore, byd: str, tmp_path: Path, db_url: str
) -> None:
    statements = ledger_statements(store, byd, ["trust:collections", "trust:principal"])
    clean = _write(statements[0], tmp_path)
    st = statements[1]
    broken = _write(st, tmp_path, list(st.lines[1:]))
    runner = CliRunner()

    def cli(*args: str) -> tuple[int, str]:
        r = runner.invoke(
            app, ["reconcile", "--deal", byd, *args, "--as", "keeper:trustee", "--db", db_url]
        )
        return r.exit_code, r.output

    code, out = cli("--statement", str(clean), "--statement", str(broken), "--format", "json")
    assert code == 0, out
    doc = json.loads(out)
    assert isinstance(doc["matched"], list) and isinstance(doc["breaks"], list)
    assert [a["account"] for a in doc["accounts"]] == ["trust:collections", "trust:principal"]
    assert [a["breaks"] for a in doc["accounts"]] == [0, 1]
    assert doc["accounts"][0]["bank_closing_balance"] == str(statements[0].closing_balance)
    assert doc["accounts"][0]["ledger_closing_balance"] == str(statements[0].closing_balance)
    (brk,) = doc["breaks"]
    assert brk["account"] == "trust:principal" and brk["kind"] == "unmatched_ledger"
    assert brk["amount"] == str(st.lines[0].amount)
    assert len(doc["matched"]) == sum(len(s.lines) for s in statements) - 1
    assert {m["account"] for m in doc["matched"]} == {"trust:collections", "trust:principal"}
    # again: nothing stored, the recorded reconciliation reported; --fail-on-breaks exits 4
    code, out = cli("--statement", str(broken), "--format", "json", "--fail-on-breaks")
    assert code == EXIT_BREAKS
    assert json.loads(out)["accounts"][0]["already_imported"] is True
    code, out = cli("--statement", str(clean), "--fail-on-breaks")
    assert code == 0 and "already imported" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("account,value_date,amount\n", encoding="utf-8")
    code, out = cli("--statement", str(bad))
    assert code == 1 and "bad.csv: line 1, field reference" in out
    code, out = cli("--statement", str(clean), "--format", "xml")
    assert code == 2
