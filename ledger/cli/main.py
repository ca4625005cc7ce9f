"""The ``trust-ledger`` command (SPEC §5): the main options and the command groups, each defined
in its own module of :mod:`ledger.cli`."""

from __future__ import annotations

import errno
import sqlite3
from typing import Annotated, Any

import sqlalchemy as sa
import typer
from typer.core import TyperGroup

from events import catalogue as _catalogue  # noqa: F401  (registers the event types)
from events.guard import SealedPeriodError
from events.policy import PolicyError
from events.store import StoreError
from ledger.cli.audit import add_audit_commands
from ledger.cli.common import AsOption, DbOption, State, fail
from ledger.cli.cycle import cycle_app, run_due_command
from ledger.cli.deal import deal_app
from ledger.cli.reconcile import reconcile_command
from ledger.cli.report import report_app
from ledger.cli.seal import seal_app
from ledger.cli.services import demo, scheduler, serve
from ledger.cli.servicing import deal_store_commands, post, tape_app
from ledger.cli.store import db_app, events_app
from ledger.core.logs import configure


def _one_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


class _Refusals(TyperGroup):
    """The main command: a refusal that reaches it (the policy, a sealed period, a lost database
    connection, a full disk) is one line on stderr and exit 1, never a traceback."""

    def invoke(self, ctx: Any) -> Any:  # typer's own (vendored) click Context
        try:
            return super().invoke(ctx)
        except (PolicyError, SealedPeriodError, StoreError) as exc:
            raise fail(str(exc)) from None
        except (sa.exc.OperationalError, sa.exc.InterfaceError, sqlite3.OperationalError) as exc:
            raise fail(f"database: {_one_line(exc)}") from None
        except RecursionError:
            raise fail("the input is nested too deeply to read") from None
        except OSError as exc:
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise fail(f"disk full: {exc.filename or 'writing'}: {exc.strerror}") from None
            raise


app = typer.Typer(
    cls=_Refusals,
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
app.add_typer(seal_app, name="seal")
app.command("demo")(demo)
app.command("scheduler")(scheduler)
app.command("serve")(serve)


@app.callback()
def main(
    db_url: DbOption = None,
    as_: AsOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "WARNING",
) -> None:
    """Event-sourced servicing and trust-accounting ledger for securitisation trusts."""
    configure(log_level)
    State.url = db_url
    State.acting = as_


if __name__ == "__main__":
    app()
