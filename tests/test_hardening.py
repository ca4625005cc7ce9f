"""Hardened inputs (issue 14 item 4): each input that gave a traceback or a 500 now gets a clear
one-line error naming file, row or field, and nothing of it is stored; on both backends.

CLI, library and HTTP API alike: a bare CR in a tape's header, ``1e308`` as an amount, 100,000
levels of YAML or JSON nesting, a deal file that is not UTF-8, a statement named ``..`` or with a
NUL, a stored payload with three decimals, a lost database, a full disk, control characters in
text, days past due beyond any plausible value, an unbounded or a slow request body, a key file
others may read, the documentation behind the token, a 404 that lists only the caller's deals,
formulas in report cells, and ``report --out`` through a link or into a missing folder.
"""

from __future__ import annotations

import asyncio
import errno
import io
import json
import os
from collections.abc import Iterator, MutableMapping
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from typer.testing import CliRunner

from ledger.api.app import create_app
from ledger.api.auth import KeyFileError, parse_keys, read_keys
from ledger.api.limits import RequestLimits
from ledger.audit.verify import verify
from ledger.cli.main import app
from ledger.reports import render
from ledger.reports.model import Report, Section
from projections.store import ProjectedStore
from tests.conftest import owner_execute
from tests.test_api import KEYS, auth
from tests.test_boarding import BYD, BYD_FILE, boarded_byd
from tests.test_servicer_import import HEADER

runner = CliRunner()
DEEP = 100_000


def cli(db_url: str, *args: str) -> Any:
    return runner.invoke(app, ["--db", db_url, *args])


def _one_line(result: Any) -> str:
    """The refusal: exit 1 or 2, no traceback, the message on one line of stderr."""
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return str(result.output)


@pytest.fixture
def api(store: ProjectedStore) -> Iterator[TestClient]:
    with TestClient(create_app(store, parse_keys(KEYS, "keys.txt"))) as c:
        yield c


# -------------------------------------------------------------------------- tapes and posts


def test_a_bare_cr_in_a_tape_header_is_named(
    db_url: str, store: ProjectedStore, tmp_path: Path, api: TestClient
) -> None:
    boarded_byd(store)
    head = store.head(BYD)
    tape = tmp_path / "cr.csv"
    tape.write_bytes(HEADER.replace("loan_id,", "loan_id\r,").encode())
    out = _one_line(cli(db_url, "--as", "s:servicer", "tape", "import", "--deal", BYD, str(tape)))
    assert f"{tape}: line 1" in out and "bare carriage return" in out
    r = api.post(f"/deals/{BYD}/tapes?file=cr.csv", content=tape.read_bytes(),
                 headers=auth("servicer"))  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["row"] == 1
    assert store.head(BYD) == head


@pytest.mark.parametrize(
    ("row", "field", "reason"),
    [
        ("COLLECTION,L\x001,2021-07-15,1.00,1.00,,false,,,R1", "loan_id", "U+0000"),
        ("COLLECTION,L1,2021-07-15,1.00,1.00,,false,,,R\x1b[31m", "reference", "U+001B"),
        ("COLLECTION,L1,2021-07-15,1.00,1.00,,false,,,\u202eR1", "reference", "U+202E"),
        ("DELINQUENCY,L3,2021-07-31,,,,,99999,,R3", "days_past_due", "beyond any plausible"),
        ("COLLECTION,L1,2021-07-15,1" + "0" * 30 + ".00,1.00,,false,,,R1", "principal", "range"),
        ("DELINQUENCY,L3,2021-07-31,,,,," + "9" * 5000 + ",,R3", "days_past_due", "range"),
    ],
    ids=["nul", "escape", "bidi", "dpd", "huge-amount", "huge-int"],
)
def test_tape_fields_from_outside_are_checked(
    store: ProjectedStore, row: str, field: str, reason: str
) -> None:
    from ledger.servicing.servicer_import import import_servicer_tape
    from ledger.servicing.tape_formats import TapeRejected

    boarded_byd(store)
    head = store.head(BYD)
    with pytest.raises(TapeRejected) as refused:
        import_servicer_tape(store, BYD, (HEADER + row + "\n").encode(), file="t.csv")
    (error,) = refused.value.errors
    assert (error.file, error.row, error.field) == ("t.csv", 2, field)
    assert reason in error.reason
    assert store.head(BYD) == head


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"principal": "1e308"}, "principal", "out of range"),
        ({"principal": "1" * 400}, "principal", "out of range"),
        ({"loan_id": "L\x001"}, "loan_id", "U+0000"),
        ({"interest": "NaN"}, "interest", "not a finite number"),
    ],
)
def test_a_post_is_checked_like_a_tape_row(
    db_url: str, store: ProjectedStore, api: TestClient, data: dict[str, str], field: str,
    reason: str,
) -> None:  # fmt: skip
    boarded_byd(store)
    head = store.head(BYD)
    payload = {"loan_id": "L1", "value_date": "2021-07-15", "principal": "1.00"} | data
    out = _one_line(cli(db_url, "--as", "s:servicer", "post", "CollectionReceived", "--deal", BYD,
                        "--data", json.dumps(payload)))  # fmt: skip
    assert f"field {field}" in out and reason in out
    r = api.post(f"/deals/{BYD}/events", json={"type": "CollectionReceived", "data": payload},
                 headers=auth("servicer"))  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == field
    assert store.head(BYD) == head


def test_days_past_due_beyond_any_plausible_value_is_refused_on_post(
    store: ProjectedStore, api: TestClient
) -> None:
    boarded_byd(store)
    body = {
        "type": "LoanDelinquencyReported",
        "data": {"loan_id": "L3", "value_date": "2021-07-31", "days_past_due": 99999},
    }
    r = api.post(f"/deals/{BYD}/events", json=body, headers=auth("servicer"))  # fmt: skip
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "days_past_due"


# ------------------------------------------------------------------------ nesting and encoding


def test_deep_nesting_is_refused_by_name(
    db_url: str, store: ProjectedStore, tmp_path: Path, api: TestClient
) -> None:
    boarded_byd(store)
    head = store.head(BYD)
    deep_yaml = tmp_path / "deep.yaml"
    deep_yaml.write_text("a: " + "[" * DEEP + "]" * DEEP + "\n")
    out = _one_line(cli(db_url, "deal", "validate", str(deep_yaml)))
    assert f"{deep_yaml}" in out and "nested too deeply" in out
    out = _one_line(cli(db_url, "--as", "t:trustee", "deal", "load", str(deep_yaml)))
    assert "nested too deeply" in out
    r = api.post("/deals?file=deep.yaml", content=deep_yaml.read_bytes(), headers=auth("trustee"))
    assert r.status_code in (413, 422)  # the body limit or the loader, never a 500
    deep_json = '{"a":' * DEEP + "1" + "}" * DEEP
    out = _one_line(cli(db_url, "--as", "s:servicer", "post", "CollectionReceived", "--deal", BYD,
                        "--data", deep_json))  # fmt: skip
    assert "nested too deeply" in out
    lines = tmp_path / "deep.jsonl"
    lines.write_text(deep_json + "\n")
    out = _one_line(cli(db_url, "--as", "t:trustee", "events", "import", str(lines)))
    assert f"{lines}:1: (line): nested too deeply" in out
    with TestClient(create_app(store, parse_keys(KEYS, "k"), limits=False)) as unlimited:
        r = unlimited.post(
            f"/deals/{BYD}/events",
            content=deep_json.encode(),
            headers={**auth("servicer"), "content-type": "application/json"},
        )
    assert r.status_code in (400, 422), r.text  # FastAPI's own refusal of an unreadable body
    assert store.head(BYD) == head


def test_a_deal_file_that_is_not_utf8_is_named(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(BYD_FILE.read_text(encoding="utf-8").encode("gb18030"))
    for args in (("deal", "validate", str(bad)), ("--as", "t:trustee", "deal", "load", str(bad))):
        out = _one_line(cli(db_url, *args))
        assert f"{bad}" in out and "not UTF-8 text (byte" in out
    bidi = tmp_path / "bidi.yaml"
    bidi.write_text(BYD_FILE.read_text(encoding="utf-8").replace("name: ", "name: \u202e", 1))
    out = _one_line(cli(db_url, "deal", "validate", str(bidi)))
    assert "control character U+202E" in out
    assert cli(db_url, "deal", "list", "--format", "json").output.strip() == "[]"


def test_an_import_line_that_is_not_utf8_or_holds_a_control_character(
    db_url: str, tmp_path: Path
) -> None:
    f = tmp_path / "x.jsonl"
    line = {"deal_id": "D", "type": "AdjustmentPosted", "effective_date": "2024-01-01",
            "idempotency_key": "k\x07", "data": {}}  # fmt: skip
    f.write_bytes(b"\xff\xfe\n" + json.dumps(line).encode() + b"\n")
    out = _one_line(cli(db_url, "--as", "t:trustee", "events", "import", str(f)))
    assert f"{f}:1: (line): not UTF-8" in out
    assert f"{f}:2: idempotency_key: control character U+0007" in out


# ------------------------------------------------------------------------------- statements


@pytest.mark.parametrize("name", ["..", "a\x00b", "../etc/passwd", "", "a/b.csv"])
def test_a_statement_name_is_a_plain_file_name(
    store: ProjectedStore, api: TestClient, name: str
) -> None:
    boarded_byd(store)
    r = api.post(f"/deals/{BYD}/statements", params={"file": name}, content=b"x",
                 headers=auth("trustee"))  # fmt: skip
    assert r.status_code == 422 and "file name alone" in r.json()["detail"]


def test_statement_text_with_control_characters_is_named(store: ProjectedStore) -> None:
    from ledger.audit.statement_model import StatementRejected
    from ledger.audit.statements import parse_statement

    csv = b"account,value_date,amount,reference,balance_after\nacc,2021-07-01,1.00,R\x00,\n"
    with pytest.raises(StatementRejected) as refused:
        parse_statement(csv, "s.csv")
    (error,) = refused.value.errors
    assert (error.file, error.row, error.field) == ("s.csv", "line 2", "reference")


# ------------------------------------------------------------------------------ stored data


def test_verify_names_a_stored_payload_it_cannot_read(db_url: str, store: ProjectedStore) -> None:
    boarded_byd(store)
    target = next(iter(store.read(BYD, types=["LoanBoarded"])))
    data = dict(target.data) | {"outstanding_principal": "80000.001"}
    owner_execute(store.engine, "UPDATE events SET data = :d WHERE event_id = :e",
                  d=json.dumps(data), e=target.event_id)  # fmt: skip
    (report,) = verify(store, BYD)
    assert not report.ok
    named = [p for p in report.chain if p.event_id == target.event_id]
    assert any("stored payload does not validate" in p.reason for p in named)
    out = _one_line(cli(db_url, "verify", "--deal", BYD))
    assert target.event_id in out and "Traceback" not in out


def test_a_lost_database_is_one_line(tmp_path: Path, store: ProjectedStore) -> None:
    gone = "postgresql+psycopg://nobody@127.0.0.1:9/none?connect_timeout=2"
    out = _one_line(cli(gone, "balances", "--deal", "D"))
    assert out.startswith("error: database:") and len(out.strip().splitlines()) == 1
    from events import db

    engine = db.make_engine(gone)
    with TestClient(create_app(ProjectedStore(engine), parse_keys(KEYS, "k"))) as c:
        r = c.get("/deals", headers=auth("auditor"))
    assert r.status_code == 503 and "database is unavailable" in r.json()["detail"]


def test_a_full_disk_is_one_line(
    db_url: str, store: ProjectedStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.cli.report as report_cli

    def full(path: Path, data: bytes, **_: Any) -> Path:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(report_cli, "write_file", full)
    monkeypatch.setattr(report_cli, "build_report", lambda *a, **k: _report("x"))
    args = ("report", "trustee", "--deal", "D", "--payment-date", "2021-10-26", "--format", "csv")
    out = _one_line(cli(db_url, *args, "--out", str(tmp_path / "r.csv")))
    assert out.strip() == f"error: disk full: {tmp_path / 'r.csv'}: No space left on device"


# -------------------------------------------------------------------------------- the API


def test_request_bodies_are_bounded_per_endpoint(store: ProjectedStore, api: TestClient) -> None:
    boarded_byd(store)
    head = store.head(BYD)
    big = {"type": "CollectionReceived", "data": {"loan_id": "L1", "pad": "x" * 100_000}}
    r = api.post(f"/deals/{BYD}/events", json=big, headers=auth("servicer"))
    assert r.status_code == 413 and "limited to 65536 bytes" in r.json()["detail"]
    r = api.post(f"/deals/{BYD}/tapes", headers={**auth("servicer"),
                 "content-length": str(10**12)}, content=b"")  # fmt: skip
    assert r.status_code == 413 and "a tape is limited" in r.json()["detail"]
    assert store.head(BYD) == head


def test_a_slow_body_times_out() -> None:
    """A client that stops sending gets 408 and the app never runs."""
    called: list[bool] = []

    async def app_(scope: Any, receive: Any, send: Any) -> None:
        called.append(True)

    sent: list[MutableMapping[str, Any]] = []

    async def receive() -> MutableMapping[str, Any]:
        await asyncio.sleep(3600)
        return {}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    limits = RequestLimits(app_, idle_timeout=0.05)
    chunked = [(b"transfer-encoding", b"chunked")]
    scope = {"type": "http", "method": "POST", "path": "/deals/D/tapes", "headers": chunked}
    asyncio.run(limits(scope, receive, send))
    assert sent[0]["status"] == 408 and not called


def test_a_key_file_others_may_read_is_refused(tmp_path: Path) -> None:
    keys = tmp_path / "keys.txt"
    keys.write_text(KEYS, encoding="utf-8")
    keys.chmod(0o644)
    with pytest.raises(KeyFileError, match=r"too open.*chmod 600"):
        read_keys(keys)
    keys.chmod(0o600)
    assert len(read_keys(keys)) == 3
    link = tmp_path / "link.txt"
    link.symlink_to(keys)
    with pytest.raises(KeyFileError):
        read_keys(link)


def test_docs_need_a_token_and_no_cdn(api: TestClient) -> None:
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert api.get(path).status_code in (401, 404), path
    assert api.get("/docs").status_code == 401 and api.get("/openapi.json").status_code == 401
    doc = api.get("/openapi.json", headers=auth("auditor"))
    assert doc.status_code == 200 and doc.json()["info"]["title"] == "trust-ledger"
    page = api.get("/docs", headers=auth("auditor"))
    assert page.status_code == 200 and "SwaggerUIBundle" in page.text
    assert "<script src" not in page.text and "<link" not in page.text
    assert "cdn.jsdelivr" not in page.text and "unpkg" not in page.text
    assert '"openapi":"3.' in page.text.replace(" ", "")  # the document is inline


def test_a_404_lists_only_the_deals_the_caller_may_read(store: ProjectedStore) -> None:
    boarded_byd(store)
    store.append([__import__("tests.helpers").helpers.adjustment("1.00", deal="OTHER")])
    keys = parse_keys(
        "scoped-token-0123456789 scoped auditor OTHER\neverything-0123456789 all auditor\n"
    )
    scoped = {"Authorization": "Bearer scoped-token-0123456789"}
    with TestClient(create_app(store, keys)) as c:
        r = c.get("/deals/nope/balances", headers=scoped)
        assert r.status_code == 404 and "OTHER" in r.text and BYD not in r.text
        r = c.get(f"/deals/{BYD}/balances", headers=scoped)  # not the caller's: no such deal
        assert r.status_code == 404 and BYD + "'" in r.text and "OTHER" in r.text
        assert [d["deal_id"] for d in c.get("/deals", headers=scoped).json()] == ["OTHER"]
        every = c.get("/deals", headers={"Authorization": "Bearer everything-0123456789"})
        assert [d["deal_id"] for d in every.json()] == sorted([BYD, "OTHER"])


# -------------------------------------------------------------------------------- reports


def _report(reference: str) -> Report:
    section = Section.table(
        "recon", "Reconciliation", ("reference", "amount", "loan_id"),
        [(reference, Decimal("-12.50"), "-5"), ("@SUM(A1)", Decimal("3.00"), "\tx")],
    )  # fmt: skip
    return Report("trustee", "t", "D", date(2021, 10, 26), (section,))


def test_report_cells_never_start_a_formula() -> None:
    report = _report('=HYPERLINK("http://x","y")')
    csv = render(report, "csv").decode()
    assert "'=HYPERLINK" in csv and "'@SUM(A1)" in csv and "'-5" in csv and "'\tx" in csv
    assert "recon,1,amount,-12.50" in csv  # numbers stay numbers
    ws = load_workbook(io.BytesIO(render(report, "xlsx"))).active
    assert ws is not None
    cells = {c.value: c for row in ws.iter_rows() for c in row if c.value is not None}
    for text in ('=HYPERLINK("http://x","y")', "@SUM(A1)", "-5"):
        assert cells[text].data_type == "s" and cells[text].quotePrefix, text
    assert cells[Decimal("-12.50")].data_type == "n"


def test_report_out_follows_no_link_and_makes_no_folder(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import ledger.cli.report as report_cli

    monkeypatch.setattr(report_cli, "build_report", lambda *a, **k: _report("x"))
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    link = tmp_path / "r.csv"
    link.symlink_to(victim)
    args = ("report", "trustee", "--deal", "D", "--payment-date", "2021-10-26", "--format", "csv")
    out = _one_line(cli(db_url, *args, "--out", str(link)))
    assert "symbolic link" in out and victim.read_text() == "keep me"
    missing = tmp_path / "no" / "such" / "r.csv"
    out = _one_line(cli(db_url, *args, "--out", str(missing)))
    assert "does not exist" in out and not (tmp_path / "no").exists()
    good = tmp_path / "ok.csv"
    assert cli(db_url, *args, "--out", str(good)).exit_code == 0
    assert os.stat(good).st_size > 0
