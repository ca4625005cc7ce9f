"""Two time axes and history (issue 6 items 1–2), on both backends: a figure "as reported then"
and "as restated now" after a reversal; every event and posting behind a balance."""

from __future__ import annotations

import datetime as dt
import json
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from ledger.audit.history import account_history, loan_history
from ledger.audit.timeaxes import CURRENT, TimePoint, parse_known_at, state_at
from ledger.cli.main import app
from ledger.core import accounts
from ledger.cycle.walk import run_due
from ledger.servicing.operator import post_event, reverse_event
from projections.store import ProjectedStore
from tests.test_boarding import BYD, POOL_TOTAL, boarded_byd
from tests.test_cycle import byd_setup  # noqa: F401  (fixture)

D = Decimal
C1 = {"loan_id": "L1", "value_date": "2021-07-15", "principal": "3000.00", "interest": "325.33"}
C2 = {"loan_id": "L1", "value_date": "2021-08-15", "principal": "3010.00", "interest": "313.13"}


def _balances(store: ProjectedStore, point: TimePoint) -> dict[str, Decimal]:
    rows = state_at(store, BYD, point, ["balances"])["balances"]
    return {k: D(v.row["balance"]) for k, v in rows.items() if D(v.row["balance"])}


def _restated(store: ProjectedStore) -> tuple[str, dt.datetime]:
    """Two collections on L1, the moment they were reported, then the first reversed (restated
    with effect from 2021-08-20). Returns the reversed event's id and the reporting moment."""
    boarded_byd(store)
    first = post_event(store, "CollectionReceived", BYD, C1, "ops", "servicer")
    post_event(store, "CollectionReceived", BYD, C2, "ops", "servicer")
    time.sleep(0.01)
    reported = dt.datetime.now(dt.UTC)
    time.sleep(0.01)
    reverse_event(store, BYD, first.event_id, "keyed twice", effective_date=dt.date(2021, 8, 20))
    return first.event_id, reported


def test_as_reported_then_and_as_restated_now(store: ProjectedStore) -> None:
    _, reported = _restated(store)
    both = POOL_TOTAL - D("3000.00") - D("3010.00")
    only_second = POOL_TOTAL - D("3010.00")

    now = _balances(store, CURRENT)
    assert now[accounts.POOL_PRINCIPAL] == only_second
    assert now[accounts.SERVICER_HELD] == D("3323.13")
    # as reported: what the ledger knew before the reversal was recorded
    then = _balances(store, TimePoint(known_at=reported))
    assert then[accounts.POOL_PRINCIPAL] == both
    assert then[accounts.SERVICER_HELD] == D("3325.33") + D("3323.13")
    # effective-date axis: the reversal takes effect on 2021-08-20
    assert _balances(store, TimePoint(as_of=dt.date(2021, 7, 31)))[accounts.POOL_PRINCIPAL] == (
        POOL_TOTAL - D("3000.00")
    )
    assert _balances(store, TimePoint(as_of=dt.date(2021, 8, 19)))[accounts.POOL_PRINCIPAL] == both
    assert (
        _balances(store, TimePoint(as_of=dt.date(2021, 8, 20)))[accounts.POOL_PRINCIPAL]
        == only_second
    )
    # both axes at once: as of 31 August, as known before the reversal
    assert (
        _balances(store, TimePoint(as_of=dt.date(2021, 8, 31), known_at=reported))[
            accounts.POOL_PRINCIPAL
        ]
        == both
    )
    # a replay with no bound is the live state
    assert _balances(store, CURRENT) == {
        k: D(v.row["balance"])
        for k, v in state_at(store, BYD, TimePoint(as_of=dt.date(2099, 1, 1)))["balances"].items()
        if D(v.row["balance"])
    }

    loans_then = state_at(store, BYD, TimePoint(known_at=reported), ["loans"])["loans"]
    loans_now = state_at(store, BYD, CURRENT, ["loans"])["loans"]
    assert D(loans_then["L1"].row["balance"]) == D("80000.00") - D("6010.00")
    assert D(loans_now["L1"].row["balance"]) == D("80000.00") - D("3010.00")


def _cli(store: ProjectedStore, *args: str) -> Any:
    url = store.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(app, ["--db", url, *args])
    return result


def test_cli_balances_and_loans_on_both_axes(store: ProjectedStore) -> None:
    _, reported = _restated(store)
    now = _cli(store, "balances", "--deal", BYD, "--format", "json")
    assert now.exit_code == 0, now.output
    doc = json.loads(now.stdout)
    assert doc["as_of"] is None and doc["known_at"] is None
    assert D(doc["balances"][accounts.SERVICER_HELD]) == D("3323.13")

    then = _cli(
        store, "balances", "--deal", BYD, "--known-at", reported.isoformat(), "--format", "json"
    )
    assert then.exit_code == 0, then.output
    doc = json.loads(then.stdout)
    assert doc["known_at"] == reported.isoformat()
    assert D(doc["balances"][accounts.SERVICER_HELD]) == D("6648.46")
    # the trial balance is zero on every axis
    assert sum(D(v) for v in doc["balances"].values()) == 0

    early = _cli(store, "balances", "--deal", BYD, "--as-of", "2021-07-31", "--format", "json")
    assert D(json.loads(early.stdout)["balances"][accounts.SERVICER_HELD]) == D("3325.33")

    loans = _cli(
        store, "loans", "--deal", BYD, "--loan", "L1", "--known-at", reported.isoformat(),
        "--format", "json",
    )  # fmt: skip
    assert loans.exit_code == 0, loans.output
    assert json.loads(loans.stdout)["loans"]["L1"]["balance"] == "73990.00"
    table = _cli(store, "loans", "--deal", BYD, "--status", "performing")
    assert table.exit_code == 0 and "L1" in table.stdout


def test_cli_rejects_bad_axes_and_unknown_subjects(store: ProjectedStore) -> None:
    boarded_byd(store)
    bad = _cli(store, "balances", "--deal", BYD, "--as-of", "31/07/2021")
    assert bad.exit_code == 2 and "--as-of: '31/07/2021' is not an ISO date" in bad.stderr
    bad = _cli(store, "balances", "--deal", BYD, "--known-at", "yesterday")
    assert bad.exit_code == 2 and "--known-at: 'yesterday'" in bad.stderr
    assert "no deal 'nope'" in _cli(store, "balances", "--deal", "nope").stderr
    assert "no loan L99" in _cli(store, "loans", "--deal", BYD, "--loan", "L99").stderr
    both = _cli(store, "history", "--deal", BYD, "--loan", "L1", "--account", "x")
    assert both.exit_code == 2 and "exactly one of --loan or --account" in both.stderr
    none = _cli(store, "history", "--deal", BYD, "--account", "trust:nowhere")
    assert none.exit_code == 1 and "no event touches account 'trust:nowhere'" in none.stderr


def test_known_at_parsing() -> None:
    assert parse_known_at("2024-04-15") == dt.datetime(2024, 4, 15, 23, 59, 59, 999999, dt.UTC)
    assert parse_known_at("2024-04-15T08:00") == dt.datetime(2024, 4, 15, 8, tzinfo=dt.UTC)
    shanghai = parse_known_at("2024-04-15T08:00:00+08:00")
    assert shanghai.astimezone(dt.UTC) == dt.datetime(2024, 4, 15, 0, tzinfo=dt.UTC)
    with pytest.raises(ValueError, match="known_at must carry a time zone"):
        TimePoint(known_at=dt.datetime(2024, 4, 15))


def test_history_of_an_account_traces_its_balance(store: ProjectedStore) -> None:
    reversed_id, reported = _restated(store)
    lines = account_history(store, BYD, accounts.SERVICER_HELD)
    assert [line.event.type for line in lines] == [
        "CollectionReceived", "CollectionReceived", "EventReversed",
    ]  # fmt: skip
    assert [line.amount for line in lines] == [D("3325.33"), D("3323.13"), D("-3325.33")]
    assert [line.after["balance"] for line in lines] == ["3325.33", "6648.46", "3323.13"]
    # the closing balance is the balance the ledger reports, and every line is the stored event
    live = store.runner.live(store, BYD, "balances")[accounts.SERVICER_HELD].row["balance"]
    assert lines[-1].after["balance"] == live
    stored = {e.event_id: e for e in store.read(BYD)}
    for line in lines:
        assert stored[line.event.event_id].hash == line.event.hash
    assert lines[0].event.event_id == reversed_id
    # as known before the reversal
    assert (
        len(account_history(store, BYD, accounts.SERVICER_HELD, TimePoint(known_at=reported))) == 2
    )

    out = _cli(
        store, "history", "--deal", BYD, "--account", accounts.SERVICER_HELD, "--format", "json"
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["account"] == accounts.SERVICER_HELD and doc["events"] == 3
    assert doc["closing"] == {"balance": "3323.13"}
    first = doc["lines"][0]
    assert first["event_id"] == reversed_id and first["hash"] == stored[reversed_id].hash
    assert first["prev_hash"] == stored[reversed_id].prev_hash
    assert {"account": accounts.POOL_PRINCIPAL, "amount": "-3000.00"} in first["postings"]
    table = _cli(store, "history", "--deal", BYD, "--account", accounts.SERVICER_HELD)
    assert table.exit_code == 0 and "EventReversed" in table.stdout


def test_history_of_a_loan_ends_at_its_projection_row(store: ProjectedStore) -> None:
    _, reported = _restated(store)
    lines = loan_history(store, BYD, "L1")
    assert [line.event.type for line in lines] == [
        "LoanBoarded", "CollectionReceived", "CollectionReceived", "EventReversed",
    ]  # fmt: skip
    assert [line.after["balance"] for line in lines] == [
        "80000.00", "77000.00", "73990.00", "76990.00",
    ]  # fmt: skip
    live = store.runner.live(store, BYD, "loans")["L1"].row
    assert dict(lines[-1].after) == dict(live)
    then = loan_history(store, BYD, "L1", TimePoint(known_at=reported))
    assert then[-1].after["balance"] == "73990.00"
    out = _cli(store, "history", "--deal", BYD, "--loan", "L1", "--as-of", "2021-07-31")
    assert out.exit_code == 0, out.output
    assert "CollectionReceived" in out.stdout and "EventReversed" not in out.stdout


def test_trigger_states_as_of_a_payment_date(
    store: ProjectedStore,
    byd_setup: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    deal = byd_setup()
    posted = [r for r in run_due(store, deal.deal_id, dt.date(2022, 3, 31)) if r.status == "posted"]
    assert len(posted) >= 3
    first, last = posted[0].payment_date, posted[-1].payment_date

    def triggers(point: TimePoint) -> dict[str, Any]:
        rows = state_at(store, deal.deal_id, point, ["notes"])["notes"]
        return {k: v.row for k, v in rows.items() if k.startswith("trigger:")}

    assert triggers(TimePoint(as_of=first - dt.timedelta(days=1))) == {}
    at_first = triggers(TimePoint(as_of=first))
    assert at_first and all(r["as_of"] <= first.isoformat() for r in at_first.values())
    assert triggers(TimePoint(as_of=last)) == triggers(CURRENT)

    out = _cli(
        store, "triggers", "--deal", deal.deal_id, "--as-of", first.isoformat(), "--format", "json"
    )
    assert out.exit_code == 0, out.output
    doc = json.loads(out.stdout)
    assert doc["triggers"] == {k.removeprefix("trigger:"): v for k, v in at_first.items()}
    table = _cli(store, "triggers", "--deal", deal.deal_id)
    assert table.exit_code == 0 and next(iter(at_first)).removeprefix("trigger:") in table.stdout
