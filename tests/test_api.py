"""The HTTP API (``trust-ledger serve``, ``ledger/api/``) on both backends.

A BYD 2021-2 deal (seed 004) scaled to a small simulated pool is run through the API the way its
parties would: the servicer boards the pool and imports three monthly tapes, remits the
collections; the trustee runs the first payment date and reconciles a custodian statement; the
auditor reads balances, history and the trustee report and verifies. Every answer is compared
with the library call the CLI makes; the refusals (token, role, unknown deal, bad tape, float
amount) are checked, and a refused tape stores nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from ledger.api.app import KeyFileError, create_app, parse_keys
from ledger.audit.queries import balances_doc, history_of
from ledger.audit.statement_csv import format_statement_csv, statement_file_name
from ledger.audit.statement_import import ledger_statements
from ledger.audit.timeaxes import CURRENT
from ledger.audit.verify import verify
from ledger.core import accounts
from ledger.core.money import ZERO
from ledger.deal import validate_deal_file
from ledger.reports import build_report, render
from ledger.servicing.deals import deal_in_force
from ledger.servicing.eligibility import eligible_rows
from ledger.servicing.periods import collection_periods
from ledger.servicing.tape_writers import format_boarding_csv, write_servicer_csv
from ledger.simulation.demo import scaled_deal_text
from ledger.simulation.months import simulate_months
from ledger.simulation.pool import SimulationParams, simulate_pool
from ledger.simulation.pool_profiles import profile
from projections.store import ProjectedStore

DEAL = "byd_2021_2"
SEED_FILE = Path(__file__).resolve().parents[1] / "ledger" / "deals" / "004_byd_2021_2.yaml"
TOKENS = {
    "servicer": "servicer-token-0123456789",
    "trustee": "trustee-token-0123456789",
    "auditor": "auditor-token-0123456789",
}
KEYS = "\n".join(["# token name role", *(f"{t} {role}-desk {role}" for role, t in TOKENS.items())])


def auth(role: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[role]}"}


@pytest.fixture
def client(store: ProjectedStore) -> Iterator[TestClient]:
    with TestClient(create_app(store, parse_keys(KEYS, "keys.txt"))) as c:
        yield c


def _head(store: ProjectedStore) -> int:
    return store.head(DEAL)[0]


@pytest.fixture
def serviced(store: ProjectedStore, client: TestClient, tmp_path: Path) -> ProjectedStore:
    """Through the API: the trustee loads the deal (scaled to the pool) and issues the notes;
    the servicer boards the pool, imports three months of tapes and remits each month."""
    cut_off = dt.date(2021, 6, 18)
    pool = eligible_rows(
        validate_deal_file(SEED_FILE), simulate_pool(profile("004"), 60, cut_off, 7)
    )
    initial = sum((r.outstanding_principal for r in pool), ZERO)
    text, _, _ = scaled_deal_text(SEED_FILE.read_text(encoding="utf-8"), initial)
    r = client.post(
        "/deals", params={"file": "byd.yaml"}, content=text.encode(), headers=auth("trustee")
    )
    assert r.status_code == 200, r.text
    assert r.json()["deal_id"] == DEAL and r.json()["type"] == "DealDefined"

    r = client.post(
        f"/deals/{DEAL}/tapes?file=boarding.csv",
        content=format_boarding_csv(pool).encode(),
        headers=auth("servicer"),
    )
    assert r.status_code == 200, r.text
    assert r.json()["kind"] == "boarding"
    assert r.json()["events"] == len(pool) + 1  # LoanBoarded each, and PoolBoarded
    r = client.post(
        f"/deals/{DEAL}/notes-issued", json={"closing_date": "2021-09-15"}, headers=auth("trustee")
    )
    assert r.status_code == 200, r.text

    first = next(iter(collection_periods(deal_in_force(store, DEAL))))
    params = SimulationParams(first_period=cut_off + dt.timedelta(days=1))
    for month in simulate_months(pool, 4, params, 7):  # June (no rows) to September
        tape = tmp_path / f"servicer-{month.period_end:%Y-%m}.csv"
        write_servicer_csv(month.rows, tape)
        r = client.post(
            f"/deals/{DEAL}/tapes",
            params={"file": tape.name, "period_start": first[0], "period_end": first[1]},
            content=tape.read_bytes(),
            headers=auth("servicer"),
        )
        assert r.status_code == 200, r.text
        held = Decimal(
            balances_doc(store, DEAL, CURRENT)["balances"].get(accounts.SERVICER_HELD, "0")
        )
        if held <= 0:
            continue
        end = month.period_end.isoformat()
        remit = {
            "type": "CollectionsRemitted",
            "data": {
                "value_date": end,
                "amount": str(held),
                "period_start": str(month.period_start),
                "period_end": end,
                "reference": f"remittance {end}",
            },
            "idempotency_key": f"remit:{end}",
        }
        r = client.post(f"/deals/{DEAL}/events", json=remit, headers=auth("servicer"))
        assert r.status_code == 200, r.text
    return store


def test_tokens_and_roles(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok"}
    assert client.get("/deals").status_code == 401
    bad = client.get("/deals", headers={"Authorization": "Bearer not-a-token-of-ours"})
    assert bad.status_code == 401 and bad.headers["www-authenticate"] == "Bearer"
    assert client.get("/whoami", headers=auth("auditor")).json() == {
        "name": "auditor-desk",
        "role": "auditor",
    }
    # an auditor reads; it posts nothing
    refused = client.post(
        f"/deals/{DEAL}/run-due", json={"until": "2021-10-26"}, headers=auth("auditor")
    )
    assert refused.status_code == 403 and "role auditor may not" in refused.json()["detail"]
    assert (
        client.post(f"/deals/{DEAL}/tapes", content=b"x", headers=auth("trustee")).status_code
        == 403
    )
    # a deal the store does not hold is named with the ones it does
    missing = client.get("/deals/nope/balances", headers=auth("auditor"))
    assert missing.status_code == 404 and "no deal 'nope'" in missing.json()["detail"]


def test_a_bad_deal_file_names_path_and_line_and_stores_nothing(
    store: ProjectedStore, client: TestClient
) -> None:
    text = SEED_FILE.read_text(encoding="utf-8").replace("payment_day: 26", "payment_day: 42")
    assert text != SEED_FILE.read_text(encoding="utf-8")
    r = client.post(
        "/deals", params={"file": "bad.yaml"}, content=text.encode(), headers=auth("trustee")
    )
    assert r.status_code == 422
    problems = r.json()["problems"]
    assert any(p["path"].startswith("calendar.payment_day") and p["line"] for p in problems)
    assert "bad.yaml" in r.json()["detail"]
    assert store.deals() == []
    refused = client.post("/deals", content=text.encode(), headers=auth("servicer"))
    assert refused.status_code == 403


def test_key_file_errors_name_line_and_reason() -> None:
    with pytest.raises(KeyFileError) as exc:
        parse_keys("short servicer-desk servicer\nlong-enough-token-0001 x admin\nonly two\n", "k")
    text = str(exc.value)
    assert "k: line 1: token: shorter than 16" in text
    assert "k: line 2: role: 'admin' is not one of servicer, trustee, auditor" in text
    assert "k: line 3: expected TOKEN NAME ROLE" in text
    with pytest.raises(KeyFileError, match="line 2: token: the same token"):
        parse_keys("tok-0123456789abcdef a servicer\ntok-0123456789abcdef b trustee\n", "k")
    with pytest.raises(KeyFileError, match="no token"):
        parse_keys("# nothing\n", "k")


def test_the_parties_run_a_payment_date_through_the_api(
    serviced: ProjectedStore, client: TestClient
) -> None:
    store = serviced
    run = client.post(
        f"/deals/{DEAL}/run-due", json={"until": "2021-10-26"}, headers=auth("trustee")
    )
    assert run.status_code == 200, run.text
    assert [c["status"] for c in run.json()] == ["posted"]
    again = client.post(
        f"/deals/{DEAL}/run-due", json={"until": "2021-10-26"}, headers=auth("trustee")
    )
    assert again.json() == []

    # what the auditor reads is what the CLI's JSON says
    got = client.get(f"/deals/{DEAL}/balances", headers=auth("auditor")).json()
    assert got == json.loads(json.dumps(balances_doc(store, DEAL, CURRENT)))
    assert sum(Decimal(v) for v in got["balances"].values()) == 0
    early = client.get(
        f"/deals/{DEAL}/balances", params={"as_of": "2021-07-31"}, headers=auth("auditor")
    ).json()
    assert early["as_of"] == "2021-07-31" and early["balances"] != got["balances"]
    hist = client.get(
        f"/deals/{DEAL}/history",
        params={"account": accounts.TRUST_COLLECTIONS},
        headers=auth("auditor"),
    ).json()
    _, lines = history_of(store, DEAL, CURRENT, account=accounts.TRUST_COLLECTIONS)
    assert hist["events"] == len(lines) and hist["closing"] == dict(lines[-1].after)
    assert client.get(f"/deals/{DEAL}/history", headers=auth("auditor")).status_code == 422
    loans = client.get(
        f"/deals/{DEAL}/loans", params={"status": "performing"}, headers=auth("servicer")
    ).json()["loans"]
    assert loans and all(v["status"] == "performing" for v in loans.values())
    assert (
        client.get(
            f"/deals/{DEAL}/loans", params={"loan": "NOPE"}, headers=auth("servicer")
        ).status_code
        == 404
    )
    trig = client.get(f"/deals/{DEAL}/triggers", headers=auth("auditor")).json()
    assert trig["triggers"], "the cycle evaluated the deal's triggers"

    report = client.get(
        f"/deals/{DEAL}/reports/trustee", params={"date": "2021-10-26"}, headers=auth("auditor")
    )
    assert report.status_code == 200
    built = build_report(store, "trustee", DEAL, dt.date(2021, 10, 26))
    assert report.content == render(built, "json")
    html = client.get(
        f"/deals/{DEAL}/reports/trustee",
        params={"as_of": "2021-12-31", "format": "html"},
        headers=auth("trustee"),
    )
    assert html.headers["content-type"].startswith("text/html") and html.content == render(
        built, "html"
    )
    unknown = client.get(
        f"/deals/{DEAL}/reports/trustee", params={"date": "2021-11-26"}, headers=auth("auditor")
    )
    assert unknown.status_code == 404 and "2021-10-26" in unknown.json()["detail"]

    # the trustee reconciles the custodian's statement of the collection account: no break
    st = ledger_statements(store, DEAL, [accounts.TRUST_COLLECTIONS])[0]
    rec = client.post(
        f"/deals/{DEAL}/statements",
        params={"file": statement_file_name(st.account)},
        content=format_statement_csv([st]).encode(),
        headers=auth("trustee"),
    )
    assert rec.status_code == 200, rec.text
    assert rec.json()["breaks"] == [] and rec.json()["matched"]

    ok = client.get(f"/deals/{DEAL}/verify", headers=auth("auditor")).json()
    assert ok["ok"] is True and ok["events"] == _head(store)
    assert verify(store, DEAL)[0].ok


def test_posts_record_the_caller_and_refusals_store_nothing(
    serviced: ProjectedStore, client: TestClient, tmp_path: Path
) -> None:
    store = serviced
    head = _head(store)
    collections = list(store.read(DEAL, types=["CollectionReceived"]))
    assert {e.actor for e in collections} == {"servicer-desk"}
    assert {e.role for e in collections} == {"servicer"}

    # a tape with a bad row: every error named, nothing stored
    bad = (
        "record_type,loan_id,value_date,principal,interest,fees,prepayment,days_past_due,"
        "reason,reference\r\n"
        f"COLLECTION,{collections[0].data['loan_id']},2021-08-15,abc,1.00,,false,0,,\r\n"
        "COLLECTION,NO-SUCH-LOAN,2021-08-15,1.00,1.00,,false,0,,\r\n"
    )
    r = client.post(
        f"/deals/{DEAL}/tapes",
        params={"file": "bad.csv"},
        content=bad.encode(),
        headers=auth("servicer"),
    )
    assert r.status_code == 422
    errors = r.json()["errors"]
    assert {(e["file"], e["row"], e["field"]) for e in errors} >= {
        ("bad.csv", 2, "principal"),
        ("bad.csv", 3, "loan_id"),
    }
    assert _head(store) == head

    # a float amount is refused (SPEC §2.3), by field
    flt = {"type": "AdjustmentPosted", "data": {"amount": 1.5}}
    r = client.post(f"/deals/{DEAL}/events", json=flt, headers=auth("trustee"))
    assert r.status_code == 422 and _head(store) == head

    # a servicer's collection is reversed by the servicer, not the trustee (events/policy.py);
    # the reversal nets the event out and says who did it
    target = collections[0]
    rev = {"type": "reversal", "data": {"event_id": target.event_id, "reason": "keyed twice"}}
    r = client.post(f"/deals/{DEAL}/events", json=rev, headers=auth("trustee"))
    assert r.status_code == 403 and "reversed by servicer" in r.json()["rule"]
    r = client.post(f"/deals/{DEAL}/events", json=rev, headers=auth("servicer"))
    assert r.status_code == 200, r.text
    posted = store.get(DEAL, r.json()["event_id"])
    assert posted is not None and (posted.actor, posted.role) == ("servicer-desk", "servicer")
    again = client.post(f"/deals/{DEAL}/events", json=rev, headers=auth("servicer"))
    assert again.json()["event_id"] == posted.event_id and _head(store) == head + 1

    # the same tape again is a reported no-op
    tape = max(tmp_path.glob("servicer-*.csv"), key=lambda p: p.stat().st_size)
    period = next(iter(collection_periods(deal_in_force(store, DEAL))))
    r = client.post(
        f"/deals/{DEAL}/tapes",
        params={"file": tape.name, "period_start": period[0], "period_end": period[1]},
        content=tape.read_bytes(),
        headers=auth("servicer"),
    )
    assert r.status_code == 200 and r.json()["duplicate"] is True
    assert _head(store) == head + 1

    approval = client.post(
        f"/deals/{DEAL}/approvals", json={"payment_date": "2021-10-26"}, headers=auth("servicer")
    )
    assert approval.status_code == 403


def test_serve_command_refuses_bad_keys_and_serves(tmp_path: Path) -> None:
    """``trust-ledger serve`` end to end: refused without tokens or with a bad token file; with a
    good one it answers on its port (a real uvicorn process over an SQLite store)."""
    from typer.testing import CliRunner

    from ledger.cli.main import app

    db_url = f"sqlite:///{tmp_path / 'api.db'}"
    runner = CliRunner()
    none = runner.invoke(app, ["--db", db_url, "serve"], env={"TRUST_LEDGER_API_KEYS": ""})
    assert none.exit_code == 2 and "give --keys FILE" in none.stderr
    bad = tmp_path / "bad-keys.txt"
    bad.write_text("short x servicer\n", encoding="utf-8")
    bad.chmod(0o600)
    refused = runner.invoke(app, ["--db", db_url, "serve", "--keys", str(bad)])
    assert refused.exit_code == 1 and "line 1: token: shorter than 16" in refused.stderr

    keys = tmp_path / "keys.txt"
    keys.write_text(KEYS, encoding="utf-8")
    keys.chmod(0o600)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    cmd = [
        sys.executable,
        "-m",
        "ledger.cli",
        "--db",
        db_url,
        "serve",
        "--keys",
        str(keys),
        "--port",
        str(port),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}") as http:
                    assert http.get("/health").json() == {"status": "ok"}
                    me = http.get("/whoami", headers=auth("trustee")).json()
                    assert me == {"name": "trustee-desk", "role": "trustee"}
                    assert http.get("/deals", headers=auth("auditor")).json() == []
                break
            except httpx.TransportError:
                assert proc.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer in 60 s"
                time.sleep(0.2)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
