"""Payment-date cycle commands of ``trust-ledger`` (SPEC §5; issue 5 items 3-4).

Mounted by the main CLI (``ledger/cli/``)::

    from ledger.cli.cycle import cycle_app, run_due_command

    app.command("run-due")(run_due_command)
    app.add_typer(cycle_app, name="cycle")

``run-due --deal D --until DATE [--dry-run] [--format table|json]`` posts every due payment date
(idempotent: a second run posts nothing; each cycle posted is sealed); ``cycle run`` runs one
payment date (``--approve`` records the trustee's approval with it), ``cycle approve``, ``cycle
declare``, ``cycle issue-notes`` and ``cycle elect-clean-up`` record the trustee's acts. Each
acts as ``--as NAME:ROLE`` (``ledger.cli.common.acting``). The store is opened through
``ledger.cli.common.open_store`` with the same ``--db`` option.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date
from decimal import Decimal
from typing import Annotated, Literal

import typer

from events.store import StoreError
from ledger.cli.common import AsOption, DbOption, DealOption, acting, fail, open_store
from ledger.cycle.acts import approve_cycle, declare_event, elect_clean_up_call, issue_notes
from ledger.cycle.schedule import CycleError
from ledger.cycle.walk import CycleResult, cycle_result_json, run_cycle, run_due

__all__ = ["cycle_app", "run_due_command"]

cycle_app = typer.Typer(no_args_is_help=True, help="Payment-date cycles and the trustee's acts.")

FormatOption = Annotated[str, typer.Option("--format", help="table or json")]


def _day(text: str, what: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{what}: {text!r} is not a date (YYYY-MM-DD)") from None


def _paid_out(result: CycleResult) -> Decimal | None:
    for e in result.events:
        if e.type == "WaterfallExecuted":
            return Decimal(str(e.data["paid_out"]))
    return None


def _print(results: Sequence[CycleResult], fmt: str) -> None:
    if fmt == "json":
        typer.echo(
            json.dumps([cycle_result_json(r) for r in results], ensure_ascii=False, indent=2)
        )
        return
    if not results:
        typer.echo("nothing due: every payment date up to then is posted")
        return
    for r in results:
        paid = _paid_out(r)
        typer.echo(
            f"{r.payment_date}  period {r.period_index:>3}  {r.status:<16} "
            f"mode {r.mode or '-':<18} paid out {paid if paid is not None else '-':>18}  "
            f"{len(r.events)} event(s)"
        )


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise fail(f"--format {fmt!r}: use table or json")


def run_due_command(
    deal: DealOption,
    until: Annotated[str, typer.Option("--until", help="Last payment date to run (YYYY-MM-DD)")],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show exactly what would be posted; post nothing")
    ] = False,
    fmt: FormatOption = "table",
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Post every due payment-date cycle up to --until (each one atomic and sealed; reruns post
    nothing)."""
    _check_format(fmt)
    who = acting(as_)
    day = _day(until, "--until")
    with open_store(db_url) as store:
        try:
            results = run_due(store, deal, day, dry_run=dry_run, who=who)
        except (CycleError, StoreError) as exc:
            raise fail(str(exc)) from None
    _print(results, fmt)
    if any(r.status == "pending_approval" for r in results):
        typer.echo(
            "stopped: the cycle above awaits the trustee's approval (cycle approve)", err=True
        )
        raise typer.Exit(3)


@cycle_app.command("run")
def cycle_run(
    deal: DealOption,
    payment_date: Annotated[str, typer.Option("--payment-date", help="YYYY-MM-DD")],
    dry_run: Annotated[bool, typer.Option("--dry-run")] = False,
    approve: Annotated[
        bool, typer.Option("--approve", help="Approve it (as --as) and post it")
    ] = False,
    fmt: FormatOption = "table",
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Run one payment date's cycle (every earlier one must be posted)."""
    _check_format(fmt)
    who = acting(as_)
    day = _day(payment_date, "--payment-date")
    with open_store(db_url) as store:
        try:
            result = run_cycle(store, deal, day, dry_run=dry_run, approve=approve, who=who)
        except (CycleError, StoreError) as exc:
            raise fail(str(exc)) from None
    _print([result], fmt)
    if result.status == "pending_approval":
        raise typer.Exit(3)


@cycle_app.command("approve")
def cycle_approve(
    deal: DealOption,
    payment_date: Annotated[str, typer.Option("--payment-date", help="YYYY-MM-DD")],
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Record the trustee's (--as) approval of a payment date's cycle (run-due then posts it)."""
    who = acting(as_)
    day = _day(payment_date, "--payment-date")
    with open_store(db_url) as store:
        try:
            ev = approve_cycle(store, deal, day, who)
        except StoreError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"approved {deal} {day} by {who.name} (event {ev.event_id})")


Declarer = Literal["holders_resolution", "trustee", "originator", "servicer"]


@cycle_app.command("declare")
def cycle_declare(
    deal: DealOption,
    trigger: Annotated[str, typer.Option("--trigger", help="A declared trigger of the deal")],
    on: Annotated[str, typer.Option("--on", help="Declaration date (YYYY-MM-DD)")],
    basis: Annotated[
        str,
        typer.Option("--basis", help="holders_resolution, trustee, originator or servicer"),
    ] = "holders_resolution",
    reference: Annotated[str | None, typer.Option("--reference")] = None,
    revoke: Annotated[bool, typer.Option("--revoke", help="Withdraw the declaration")] = False,
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Declare an event (holders' resolution / trustee declaration) for a declared trigger,
    recorded as declared by --as."""
    who = acting(as_)
    day = _day(on, "--on")
    declarers: tuple[Declarer, ...] = ("holders_resolution", "trustee", "originator", "servicer")
    on_basis = next((d for d in declarers if d == basis), None)
    if on_basis is None:
        raise fail(f"--basis {basis!r}: use one of {', '.join(declarers)}")
    with open_store(db_url) as store:
        try:
            ev = declare_event(
                store, deal, trigger, day, on_basis, reference, revoked=revoke, who=who
            )
        except (CycleError, StoreError) as exc:
            raise fail(str(exc)) from None
    typer.echo(f"{'revoked' if revoke else 'declared'} {trigger} on {day} (event {ev.event_id})")


@cycle_app.command("issue-notes")
def cycle_issue_notes(
    deal: DealOption,
    closing_date: Annotated[
        str | None, typer.Option("--closing-date", help="Default: the deal file's closing date")
    ] = None,
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Record the deal's notes as issued on the closing date (idempotent)."""
    who = acting(as_)
    day = _day(closing_date, "--closing-date") if closing_date else None
    with open_store(db_url) as store:
        try:
            ev = issue_notes(store, deal, day, who=who)
        except (CycleError, StoreError) as exc:
            raise fail(str(exc)) from None
    typer.echo(f"notes of {deal} issued on {ev.effective_date} (event {ev.event_id})")


@cycle_app.command("elect-clean-up")
def cycle_elect_clean_up(
    deal: DealOption,
    from_payment_date: Annotated[str, typer.Option("--from", help="First payment date")],
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Record the originator's election to exercise the clean-up call once it is available."""
    who = acting(as_)
    day = _day(from_payment_date, "--from")
    with open_store(db_url) as store:
        try:
            ev = elect_clean_up_call(store, deal, day, who=who)
        except StoreError as exc:
            raise fail(str(exc)) from None
    typer.echo(f"clean-up call elected from {day} (event {ev.event_id})")
