"""The ``trust-ledger`` command (SPEC §5): the main options and the command groups, each defined
in its own module of :mod:`ledger.cli`."""

from __future__ import annotations

from typing import Annotated

import typer

from events import catalogue as _catalogue  # noqa: F401  (registers the event types)
from ledger.cli.audit import add_audit_commands
from ledger.cli.common import DbOption, State
from ledger.cli.cycle import cycle_app, run_due_command
from ledger.cli.deal import deal_app
from ledger.cli.reconcile import reconcile_command
from ledger.cli.report import report_app
from ledger.cli.services import demo, scheduler, serve
from ledger.cli.servicing import deal_store_commands, post, tape_app
from ledger.cli.store import db_app, events_app
from ledger.core.logs import configure

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Event-sourced servicing and trust-accounting ledger for securitisation trusts.",
)
app.add_typer(db_app, name="db")
app.add_typer(events_app, name="events")
app.add_typer(deal_store_commands(deal_app), name="deal")
app.add_typer(tape_app, name="tape")
app.command("post")(post)
app.add_typer(cycle_app, name="cycle")
app.command("run-due")(run_due_command)
add_audit_commands(app)
app.command("reconcile")(reconcile_command)
app.add_typer(report_app, name="report")
app.command("demo")(demo)
app.command("scheduler")(scheduler)
app.command("serve")(serve)


@app.callback()
def main(
    db_url: DbOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "WARNING",
) -> None:
    """Event-sourced servicing and trust-accounting ledger for securitisation trusts."""
    configure(log_level)
    State.url = db_url


if __name__ == "__main__":
    app()
