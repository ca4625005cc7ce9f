"""Trustee and servicer reports built from events (issue 6 item 4), on both backends.

A scaled BYD 2021-2 (seed 004) runs six payment dates, the fifth accelerated by the cumulative
default ratio; the reports must agree with the cycle's events to the fen, render in every format,
come out byte-identical from a store rebuilt by exporting and re-importing the events, and answer
"as reported then" and "as restated now" around a reversed collection.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from openpyxl import load_workbook

from events import db
from events.bank import Break, ReconciliationCompleted
from events.cycle import DistributionPaid, InterestAccrued, TriggerEvaluated, WaterfallExecuted
from events.envelope import NewEvent
from events.guard import SealedPeriodError
from events.jsonl import export_lines, parse_line
from events.model import Event
from events.seal import latest_seal
from ledger.audit.timeaxes import parse_known_at
from ledger.cycle.walk import run_due
from ledger.deal import DealDefinition
from ledger.reports import (
    FORMATS,
    History,
    Report,
    ReportError,
    build_servicer_report,
    build_trustee_report,
    payment_dates,
    read_events,
    render,
    servicer_report,
    trustee_report,
)
from ledger.servicing.operator import reverse_event
from projections.store import ProjectedStore
from tests.helpers import TRUSTEE, posted_by
from tests.test_cycle import seed_deal

D = Decimal
UNTIL = dt.date(2022, 3, 31)


@pytest.fixture
def byd(store: ProjectedStore, tmp_path: Path) -> DealDefinition:
    deal = seed_deal(store, tmp_path, "004_byd_2021_2.yaml", dt.date(2021, 9, 15), {7: 3})
    results = run_due(store, deal.deal_id, UNTIL)
    assert [r.status for r in results] == ["posted"] * 6
    return deal


@pytest.fixture
def fresh_store(
    store: ProjectedStore, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[ProjectedStore]:
    """An empty store on the *other* backend: a rebuild there must give the same bytes, so
    nothing in a report depends on the database."""
    if store.dialect == "postgresql":
        engine = db.make_engine(f"sqlite:///{tmp_path / 'rebuilt.db'}")
        db.upgrade(engine)
        yield ProjectedStore(engine)
        engine.dispose()
        return
    with db.scratch_schema(request.getfixturevalue("pg_url"), "r") as url:
        engine = db.make_engine(url)
        yield ProjectedStore(engine)
        engine.dispose()


def _cycle(store: ProjectedStore, deal_id: str, day: dt.date, kind: type[Event]) -> list[Any]:
    return [
        e.event
        for e in store.read(deal_id, types=[kind.type_name])
        if e.data["payment_date"] == day.isoformat()
    ]


def _all_files(store: ProjectedStore, deal: DealDefinition) -> dict[str, bytes]:
    events = read_events(store, deal.deal_id)
    files: dict[str, bytes] = {}
    for day in payment_dates(events):
        t = trustee_report(store, deal.deal_id, day)
        end = t.section("deal").get("collection_period_end")
        assert isinstance(end, dt.date)
        s = servicer_report(store, deal.deal_id, end)
        for fmt in FORMATS:
            files[f"trustee-{day}.{fmt}"] = render(t, fmt)
            files[f"servicer-{end}.{fmt}"] = render(s, fmt)
    return files


def test_trustee_report_agrees_with_the_cycle_events_to_the_fen(
    store: ProjectedStore, byd: DealDefinition
) -> None:
    days = payment_dates(read_events(store, byd.deal_id))
    assert len(days) == 6
    for day in days:
        report = trustee_report(store, byd.deal_id, day)
        (w,) = _cycle(store, byd.deal_id, day, WaterfallExecuted)
        (paid,) = _cycle(store, byd.deal_id, day, DistributionPaid)
        steps = report.section("waterfall").records()
        assert len(steps) == len(w.steps) + 2
        for line, row in zip(w.steps, steps, strict=False):
            assert (row["step_id"], row["due"], row["paid"], row["shortfall"]) == (
                line.step_id, line.due, line.paid, line.shortfall
            )  # fmt: skip
            assert row["carried_forward"] == line.carried_forward
        assert steps[-2]["paid"] == w.paid_out and steps[-1]["paid"] == w.retained
        # the pots before the waterfall add up to what it had available
        pots = {r["account"]: r["balance"] for r in report.section("available_funds").records()}
        assert pots["total"] == pots["waterfall_available"] == w.available
        # notes: balances, factors and payments as the cycle posted them
        interest = {a.note_id: a for a in _cycle(store, byd.deal_id, day, InterestAccrued)}
        notes = {r["note_id"]: r for r in report.section("notes").records()}
        assert set(notes) == {n.note_id for n in w.notes}
        for n in w.notes:
            row = notes[n.note_id]
            assert row["balance_before"] == n.opening and row["balance_after"] == n.closing
            assert row["factor_after"] == (n.closing / n.original).quantize(D("1E-10"))
            pays = {p.kind: p.amount for p in paid.payments if p.note_id == n.note_id}
            assert row["interest_paid"] == pays.get("interest", D(0))
            assert row["principal_paid"] == pays.get("principal", D(0))
            assert row["principal_paid"] == n.opening - n.closing
            if n.note_id in interest:
                assert row["interest_due"] == interest[n.note_id].due
        triggers = _cycle(store, byd.deal_id, day, TriggerEvaluated)
        rows = {r["trigger_id"]: r for r in report.section("triggers").records()}
        assert set(rows) == {t.trigger_id for t in triggers}
        for t in triggers:
            assert (rows[t.trigger_id]["in_effect"], rows[t.trigger_id]["value"]) == (
                t.in_effect, t.value
            )  # fmt: skip
        assert report.section("deal").get("waterfall_mode") == w.mode
        # no statement imported: every trust account says so
        recon = report.section("reconciliation").records()
        assert recon and {r["status"] for r in recon} == {"not reconciled"}
    first = trustee_report(store, byd.deal_id, days[0])
    assert first.section("deal").get("final_payment_date") is False
    # 受托机构报告日 = 5 business days before the payment date (seed 004 L1754)
    dates = first.section("dates")
    assert (dates.get("payment_date"), dates.get("trustee_report_date")) == (
        dt.date(2021, 10, 26), dt.date(2021, 10, 19)
    )  # fmt: skip
    # the fifth date is accelerated by the cumulative default ratio, and the report shows why
    fifth = trustee_report(store, byd.deal_id, days[4])
    measures = fifth.section("cumulative_default").records()
    hit = next(r for r in measures if str(r["measure"]).startswith("trigger acc_e"))
    assert hit["breached"] is True and hit["threshold"] == D("0.015")
    assert hit["ratio"] is not None and D(str(hit["ratio"])) > D("0.015")
    history = fifth.section("history").records()
    assert [r["payment_date"] for r in history] == days[:5]
    assert history[-1]["mode"] == "accelerated"


def test_servicer_report_figures(store: ProjectedStore, byd: DealDefinition) -> None:
    events = read_events(store, byd.deal_id)
    # collection period 7 of the servicing helper: three loans default (see tests/test_cycle.py)
    report = servicer_report(store, byd.deal_id, dt.date(2022, 1, 31))
    # 服务机构报告日 = 6th business day after the 计算日 (seed 004 L1758): the Spring Festival
    # holiday runs 31 Jan - 6 Feb 2022, so Feb 7, 8, 9, 10, 11 and 14
    assert report.section("dates").get("servicer_report_date") == dt.date(2022, 2, 14)
    credit = report.section("credit_events")
    assert credit.get("defaults_count") == 3
    defaulted = [
        e.event for e in events
        if e.type == "LoanDefaulted" and e.effective_date.strftime("%Y-%m") == "2022-01"
    ]  # fmt: skip
    assert credit.get("defaults_principal") == sum((d.principal for d in defaulted), D(0))  # type: ignore[attr-defined]
    collected = [
        e.event for e in events
        if e.type == "CollectionReceived" and e.effective_date.strftime("%Y-%m") == "2022-01"
    ]  # fmt: skip
    col = report.section("collections")
    assert col.get("principal_scheduled") == sum((c.principal for c in collected), D(0))  # type: ignore[attr-defined]
    assert col.get("interest") == sum((c.interest for c in collected), D(0))  # type: ignore[attr-defined]
    pool = report.section("pool")
    strata = report.section("strata_rate").records()
    assert sum((D(str(r["balance"])) for r in strata), D(0)) == pool.get("closing_balance")
    assert sum((int(str(r["loans"])) for r in strata), 0) == pool.get("loans")
    # remittances: January's collections are remitted on 3 February, so all are held at the end
    comm = report.section("commingling")
    assert comm.get("held_by_servicer") == col.get("total")
    assert comm.get("held_since") == dt.date(2022, 1, 15)


def test_unknown_dates_name_the_dates_that_exist(
    store: ProjectedStore, byd: DealDefinition
) -> None:
    with pytest.raises(ReportError, match=r"no payment date 2021-12-01.*2021-10-26"):
        trustee_report(store, byd.deal_id, dt.date(2021, 12, 1))
    with pytest.raises(ReportError, match=r"no collection period ending 2021-12-15.*2021-11-30"):
        servicer_report(store, byd.deal_id, dt.date(2021, 12, 15))
    with pytest.raises(ReportError, match="no events"):
        trustee_report(store, "nope", dt.date(2021, 12, 1))


def test_reports_identical_after_a_full_rebuild(
    store: ProjectedStore, fresh_store: ProjectedStore, byd: DealDefinition
) -> None:
    first = _all_files(store, byd)
    assert len(first) == 6 * 2 * len(FORMATS)
    again = _all_files(store, byd)
    assert again == first  # nothing depends on the clock
    # export every event, import into an empty store on the other backend: the same chain, the
    # same reports
    lines = list(export_lines(store.read(byd.deal_id)))
    parsed = [parse_line(line, TRUSTEE)[0] for line in lines]
    assert all(p is not None for p in parsed)
    assert fresh_store.dialect != store.dialect
    fresh_store.append([p for p in parsed if p is not None])
    assert fresh_store.head(byd.deal_id) == store.head(byd.deal_id)
    rebuilt = _all_files(fresh_store, byd)
    assert rebuilt.keys() == first.keys()
    for name in first:
        assert rebuilt[name] == first[name], name


def test_xlsx_opens_and_holds_the_figures(store: ProjectedStore, byd: DealDefinition) -> None:
    day = payment_dates(read_events(store, byd.deal_id))[4]
    report = trustee_report(store, byd.deal_id, day)
    data = render(report, "xlsx")
    wb = load_workbook(io.BytesIO(data))
    assert wb.sheetnames == [s.name for s in report.sections]
    ws = wb["waterfall"]
    header = [c.value for c in ws[3]]
    assert header[:3] == ["step_id", "clause", "kind"]
    (w,) = _cycle(store, byd.deal_id, day, WaterfallExecuted)
    paid = {r[0]: r[header.index("paid")] for r in ws.iter_rows(min_row=4, values_only=True)}
    assert D(str(paid["total"])) == w.paid_out
    notes = wb["notes"]
    nh = [c.value for c in notes[3]]
    closing = {
        r[0]: r[nh.index("balance_after")] for r in notes.iter_rows(min_row=4, values_only=True)
    }
    for n in w.notes:
        assert D(str(closing[n.note_id])) == n.closing
    col = nh.index("balance_after") + 1
    assert notes.cell(row=4, column=col).number_format == "#,##0.00"  # money to the fen
    assert (
        notes.cell(row=4, column=nh.index("factor_after") + 1).number_format == "#,##0.0000000000"
    )
    # the package is stamped with the payment date, never the clock
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        assert {i.date_time for i in z.infolist()} == {(1980, 1, 1, 0, 0, 0)}
        core = z.read("docProps/core.xml").decode()
    assert core.count(f"{day.isoformat()}T00:00:00Z") == 2


def _last_recorded(store: ProjectedStore, deal_id: str) -> dt.datetime:
    return list(store.read(deal_id))[-1].recorded_at


def test_known_at_gives_as_reported_and_a_sealed_date_is_never_restated(
    store: ProjectedStore, byd: DealDefinition
) -> None:
    day = payment_dates(read_events(store, byd.deal_id))[2]
    reported = trustee_report(store, byd.deal_id, day)
    end = reported.section("deal").get("collection_period_end")
    assert isinstance(end, dt.date)
    serviced = servicer_report(store, byd.deal_id, end)
    before = _last_recorded(store, byd.deal_id)
    # a collection of that period turns out to be a bounced payment, found after the period
    # was sealed (SPEC §2.2): dated in the period, its reversal is refused; by default it is
    # dated in the open period, so the sealed date's reports stay what they were
    collection = next(
        e for e in store.read(byd.deal_id, types=["CollectionReceived"])
        if e.effective_date <= end and e.effective_date.strftime("%Y-%m") == end.strftime("%Y-%m")
    )  # fmt: skip
    with pytest.raises(SealedPeriodError, match="sealed period"):
        reverse_event(
            store, byd.deal_id, collection.event_id, "payment bounced",
            effective_date=collection.effective_date,
        )  # fmt: skip
    reversal = reverse_event(store, byd.deal_id, collection.event_id, "payment bounced")
    with store.engine.connect() as conn:
        sealed = latest_seal(conn, byd.deal_id)
    assert sealed is not None
    through = dt.date.fromisoformat(sealed["sealed_through"])
    assert reversal.effective_date == through + dt.timedelta(days=1)
    restated = trustee_report(store, byd.deal_id, day)
    then = trustee_report(store, byd.deal_id, day, known_at=before)
    # "as reported then" is the report made then: every figure the same, only the stated
    # known-at differs (and asked twice, the same bytes); and the sealed date is not restated
    for a, b, c in zip(then.sections, reported.sections, restated.sections, strict=True):
        if a.name == "deal":
            assert {r[0] for r in set(a.rows) ^ set(b.rows)} == {"known_at"}
        else:
            assert a == b == c, a.name
    again = trustee_report(store, byd.deal_id, day, known_at=before)
    assert all(render(again, fmt) == render(then, fmt) for fmt in FORMATS)
    s_now = servicer_report(store, byd.deal_id, end)
    s_then = servicer_report(store, byd.deal_id, end, known_at=before)
    assert s_then.section("collections") == serviced.section("collections")
    assert s_now.section("collections") == s_then.section("collections")


def test_report_model_rejects_misfit_rows() -> None:
    from ledger.reports import Section

    with pytest.raises(ValueError, match="does not fit"):
        Section.table("x", "X", ("a", "b"), [(1,)])
    with pytest.raises(ValueError, match="longer than a sheet name"):
        Section.fields("x" * 32, "X", [])
    r = Report(
        "servicer",
        "t",
        "d",
        dt.date(2024, 1, 31),
        (Section.fields("deal", "D", [("a", D("1.50"))]),),
    )
    assert r.as_json()["sections"]["deal"]["data"] == {"a": "1.50"}


def test_cli_writes_the_reports_and_names_the_dates_that_exist(
    store: ProjectedStore, byd: DealDefinition, db_url: str, tmp_path: Path
) -> None:
    from typer.testing import CliRunner

    from ledger.cli.main import app

    runner = CliRunner()
    day = payment_dates(read_events(store, byd.deal_id))[1]
    base = ["--db", db_url, "report"]
    deal = ["--deal", byd.deal_id]
    r = runner.invoke(
        app, [*base, "trustee", *deal, "--payment-date", str(day), "--format", "json"]
    )
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == render(trustee_report(store, byd.deal_id, day), "json")
    target = tmp_path / "t.xlsx"
    args = ["--payment-date", str(day), "--format", "xlsx", "--out", str(target)]
    r = runner.invoke(app, [*base, "trustee", *deal, *args])
    assert r.exit_code == 0, r.output
    assert target.read_bytes() == render(trustee_report(store, byd.deal_id, day), "xlsx")
    end = dt.date(2021, 11, 30)
    args = ["--period-end", str(end), "--format", "csv", "--known-at", "2999-01-01"]
    r = runner.invoke(app, [*base, "servicer", *deal, *args])
    assert r.exit_code == 0, r.output
    later = parse_known_at("2999-01-01")  # the end of that day: everything recorded so far
    assert r.stdout_bytes == render(servicer_report(store, byd.deal_id, end, known_at=later), "csv")
    assert b"known_at,2999-01-01T23:59:59.999999+00:00" in r.stdout_bytes
    # an unknown payment date names the dates there are; nothing is written
    missing = tmp_path / "missing.html"
    args = ["--payment-date", "2021-12-01", "--out", str(missing)]
    r = runner.invoke(app, [*base, "trustee", *deal, *args])
    assert r.exit_code == 1 and "no payment date 2021-12-01" in r.output
    assert "2021-10-26, 2021-11-26" in r.output and not missing.exists()
    r = runner.invoke(app, [*base, "trustee", *deal, "--payment-date", str(day), "--format", "pdf"])
    assert r.exit_code == 2 and "unknown format 'pdf'" in r.output
    r = runner.invoke(
        app, [*base, "trustee", *deal, "--payment-date", str(day), "--format", "xlsx"]
    )
    assert r.exit_code == 2 and "needs --out" in r.output
    args = ["--payment-date", str(day), "--known-at", "yesterday"]
    r = runner.invoke(app, [*base, "trustee", *deal, *args])
    assert r.exit_code == 2 and "--known-at: 'yesterday' is not an ISO timestamp" in r.output
    r = runner.invoke(app, [*base, "servicer", *deal, "--period-end", "30/11/2021"])
    assert r.exit_code == 2 and "--period-end: '30/11/2021' is not a date" in r.output
    # --as-of: the latest report on or before the date
    dates = payment_dates(read_events(store, byd.deal_id))
    as_of = dates[2] - dt.timedelta(days=1)
    r = runner.invoke(app, [*base, "trustee", *deal, "--as-of", str(as_of), "--format", "json"])
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == render(trustee_report(store, byd.deal_id, dates[1]), "json")
    r = runner.invoke(app, [*base, "servicer", *deal, "--as-of", "2021-12-30", "--format", "json"])
    assert r.exit_code == 0, r.output
    assert r.stdout_bytes == render(servicer_report(store, byd.deal_id, end), "json")
    early = str(dates[0] - dt.timedelta(days=1))
    r = runner.invoke(app, [*base, "trustee", *deal, "--as-of", early])
    assert r.exit_code == 1 and f"no payment date on or before {early}" in r.output
    r = runner.invoke(app, [*base, "trustee", *deal])
    assert r.exit_code == 2 and "exactly one of --payment-date or --as-of" in r.output


def _reconciled(deal_id: str, end: dt.date, breaks: tuple[Break, ...], key: str) -> NewEvent:
    ev = ReconciliationCompleted(
        account="trust:income",
        statement_event_id=f"statement-{key}",
        file_sha256="ab" * 32,
        period_start=end.replace(day=1),
        period_end=end,
        matched=(),
        breaks=breaks,
        bank_closing_balance=D("100.00"),
        ledger_closing_balance=D("90.00"),
    )
    return NewEvent.of(
        ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=end,
        idempotency_key=f"recon:{key}", **posted_by(ev.type_name),
    )  # fmt: skip


def test_reconciliation_status_is_the_latest_statement_before_the_payment_date(
    store: ProjectedStore, tmp_path: Path
) -> None:
    byd = seed_deal(store, tmp_path, "004_byd_2021_2.yaml", dt.date(2021, 9, 15), {7: 3})
    gap = Break(
        kind="unmatched_bank", value_date=dt.date(2021, 11, 20), amount=D("10.00"),
        reference="BANK-FEE", bank_line=7, detail="bank charge not in the ledger",
    )  # fmt: skip
    # reconciled before the payment dates are run (and their periods sealed)
    store.append([_reconciled(byd.deal_id, dt.date(2021, 11, 30), (gap,), "nov")])
    store.append([_reconciled(byd.deal_id, dt.date(2022, 1, 31), (), "jan")])
    run_due(store, byd.deal_id, UNTIL)
    days = payment_dates(read_events(store, byd.deal_id))

    def status(day: dt.date) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        report = trustee_report(store, byd.deal_id, day)
        rows = {r["account"]: r for r in report.section("reconciliation").records()}
        return rows["trust:income"], report.section("reconciliation_breaks").records()

    before, breaks = status(days[1])  # 2021-11-26: no statement ends by then
    assert before["status"] == "not reconciled" and breaks == []
    dec, breaks = status(days[2])  # 2021-12-27: November's statement, one open break
    assert dec["status"] == "1 open break(s)" and dec["difference"] == D("10.00")
    assert [(b["kind"], b["amount"], b["bank_line"]) for b in breaks] == [
        ("unmatched_bank", D("10.00"), 7)
    ]
    feb, breaks = status(days[4])  # 2022-02-28: January's statement, no break left
    assert feb["status"] == "reconciled" and breaks == []
    assert feb["statement_end"] == dt.date(2022, 1, 31)


def test_one_history_shared_by_many_reports_gives_the_same_reports(
    store: ProjectedStore, byd: DealDefinition
) -> None:
    """The demo folds the pool once for all dates; with a late reversal in the history (recorded
    after events effective later than it) the shared fold must still equal a fold from zero."""
    events = read_events(store, byd.deal_id)
    days = payment_dates(events)
    late = next(
        e for e in events if e.type == "CollectionReceived" and e.effective_date.month == 11
    )
    reverse_event(store, byd.deal_id, late.event_id, "payment bounced")
    events = read_events(store, byd.deal_id)
    fresh = {d: trustee_report(store, byd.deal_id, d) for d in days}
    ends = [fresh[d].section("deal").get("collection_period_end") for d in days]
    served = {e: servicer_report(store, byd.deal_id, e) for e in ends}  # type: ignore[arg-type]
    for order in (days, days[::-1], [days[3], days[0], days[5], days[1]]):
        shared = History(events)
        for d in order:
            assert build_trustee_report(shared, byd.deal_id, d) == fresh[d]
            end = fresh[d].section("deal").get("collection_period_end")
            assert build_servicer_report(shared, byd.deal_id, end) == served[end]  # type: ignore[arg-type]
