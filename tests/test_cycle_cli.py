"""``run-due`` and the ``cycle`` commands (ledger/cli/cycle.py) on both backends."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import typer
from typer.testing import CliRunner, Result

from events import db
from ledger.cli.cycle import cycle_app, run_due_command
from ledger.core.logs import configure
from ledger.servicing.deals import load_deal
from projections.store import ProjectedStore
from tests.test_cycle import scaled_deal, servicing_events

app = typer.Typer()


@app.callback()
def main() -> None:
    configure("WARNING")  # as the main CLI does: logs would otherwise mix with the JSON


app.command("run-due")(run_due_command)
app.add_typer(cycle_app, name="cycle")
runner = CliRunner()


def _setup(url: str, tmp_path: Path) -> None:
    engine = db.make_engine(url)
    store = ProjectedStore(engine)
    path = scaled_deal("004_byd_2021_2.yaml", tmp_path)
    load_deal(store, path)
    store.append(servicing_events("byd_2021_2", dt.date(2021, 6, 18), 6, {}))
    engine.dispose()


def test_run_due_dry_run_then_post_then_nothing(db_url: str, tmp_path: Path) -> None:
    _setup(db_url, tmp_path)

    def cli(*args: str) -> Result:
        return runner.invoke(app, [*args, "--as", "officer:trustee", "--db", db_url])

    deal = ("--deal", "byd_2021_2")
    # without NotesIssued the BYD file has no closing date (L1737): a clear error
    r = cli("run-due", *deal, "--until", "2021-12-31")
    assert r.exit_code == 1 and "NotesIssued" in r.output
    r = cli("cycle", "issue-notes", *deal, "--closing-date", "2021-09-15")
    assert r.exit_code == 0, r.output
    args = ("run-due", *deal, "--until", "2021-12-31")
    dry = cli(*args, "--dry-run", "--format", "json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)
    assert [p["status"] for p in planned] == ["dry_run"] * 3
    posted = cli(*args, "--format", "json")
    assert posted.exit_code == 0, posted.output
    done = json.loads(posted.output)
    assert [p["status"] for p in done] == ["posted"] * 3
    assert [p["events"] for p in planned] == [p["events"] for p in done]
    again = cli(*args)
    assert again.exit_code == 0 and "nothing due" in again.output
    r = cli("cycle", "run", *deal, "--payment-date", "2021-10-26")
    assert r.exit_code == 0 and "already_posted" in r.output
    # only declared triggers can be declared
    r = cli(
        "cycle", "declare", *deal, "--trigger", "acc_e_cumulative_defaults", "--on", "2022-01-05"
    )
    assert r.exit_code == 1 and "no declared trigger" in r.output
    r = cli("cycle", "declare", *deal, "--trigger", "event_of_default", "--on", "2022-01-05")
    assert r.exit_code == 0, r.output
    r = cli("run-due", *deal, "--until", "2022-01-31")
    assert r.exit_code == 0, r.output
    assert "post_default" in r.output
