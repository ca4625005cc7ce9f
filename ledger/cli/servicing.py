"""Servicing commands of ``trust-ledger`` (SPEC §5): ``tape import``, ``post``, ``deal load|list``.

Mounted by the main CLI (``ledger/cli/``)::

    from ledger.cli.servicing import deal_store_commands, post, tape_app

    app.add_typer(tape_app, name="tape")
    app.command("post")(post)
    deal_store_commands(deal_app)  # adds `deal load` and `deal list` to the deal app

The store is opened through ``ledger.cli.common.open_store``, with the same ``--db`` option.

``tape import`` shows a progress bar over the import's stages (parse, validate, store) on stderr
when stderr is a terminal, and nothing otherwise (SPEC §5: long work shows a progress bar on a
terminal; output piped or captured stays clean).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from events.store import StoreError
from ledger.cli.common import AsOption, DbOption, DealOption, acting, fail, open_store
from ledger.deal.loader import DealValidationError
from ledger.servicing.deals import list_deals, load_deal
from ledger.servicing.imports import import_tape
from ledger.servicing.operator import post_operator_event, posted_json
from ledger.servicing.results import IMPORT_STAGES, Step
from ledger.servicing.tape_formats import TapeRejected

__all__ = ["deal_store_commands", "import_progress", "post", "tape_app"]

tape_app = typer.Typer(no_args_is_help=True, help="Boarding and servicer tapes (SPEC §6).")


def _period(start: date | None, end: date | None) -> tuple[date, date] | None:
    if start is None and end is None:
        return None
    if start is None or end is None:
        raise fail("give both --period-start and --period-end, or neither")
    if end < start:
        raise fail(f"--period-end {end} is before --period-start {start}")
    return start, end


@contextmanager
def import_progress(console: Console | None = None) -> Iterator[Step]:
    """A ``step`` callback for :func:`ledger.servicing.import_tape` driving a rich progress bar
    over :data:`~ledger.servicing.IMPORT_STAGES` on ``console`` (default: stderr), shown only when
    that console is a terminal; elsewhere the bar is disabled and writes nothing."""
    console = console if console is not None else Console(stderr=True)
    with Progress(
        TextColumn("tape import: {task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(IMPORT_STAGES[0], total=len(IMPORT_STAGES))

        def step(stage: str) -> None:
            done = IMPORT_STAGES.index(stage) + 1
            now = IMPORT_STAGES[done] if done < len(IMPORT_STAGES) else "done"
            progress.update(task, completed=done, description=now)

        yield step


@tape_app.command("import")
def tape_import(
    file: Annotated[Path, typer.Argument(help="boarding or servicer tape (CSV)")],
    deal: DealOption,
    period_start: Annotated[
        str | None,
        typer.Option(help="open collection period, first day (default: from the deal calendar)"),
    ] = None,
    period_end: Annotated[str | None, typer.Option(help="open collection period, last day")] = None,
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Import FILE for --deal: a boarding tape (the pool at cut-off) or a monthly servicer tape,
    told apart by the header. All or nothing; re-importing the same file stores nothing."""
    who = acting(as_)
    if not file.is_file():
        raise fail(f"{file}: no such file")
    try:
        window = _period(
            date.fromisoformat(period_start) if period_start else None,
            date.fromisoformat(period_end) if period_end else None,
        )
    except ValueError as exc:
        raise fail(f"period: {exc}") from None
    with open_store(db_url) as store:
        try:
            with import_progress() as step:
                result = import_tape(
                    store, deal, file, period=window, step=step, actor=who.name, role=who.role
                )
        except TapeRejected as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        except StoreError as exc:
            raise fail(str(exc)) from None
    typer.echo(result.summary())
    for note in result.unchecked:
        typer.echo(f"  eligibility not checked from the tape: {note}")


def post(
    type_name: Annotated[
        str, typer.Argument(metavar="TYPE", help="event type (e.g. CollectionReceived) or reversal")
    ],
    deal: DealOption,
    data: Annotated[str, typer.Option("--data", help="payload as JSON (amounts as strings)")],
    key: Annotated[
        str | None, typer.Option("--key", help="idempotency key (default: hash of the payload)")
    ] = None,
    effective_date: Annotated[
        str | None, typer.Option(help="effective date (default: the payload's value_date)")
    ] = None,
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Post one event by an operator, validated like a tape row. TYPE reversal takes
    --data '{"event_id": ..., "reason": ...}' and nets the event out."""
    who = acting(as_)
    try:
        payload: Any = json.loads(data)
    except json.JSONDecodeError as exc:
        raise fail(f"--data is not JSON: {exc}") from None
    except RecursionError:
        raise fail("--data is nested too deeply to read") from None
    if not isinstance(payload, dict):
        raise fail("--data must be a JSON object")
    try:
        when = date.fromisoformat(effective_date) if effective_date else None
    except ValueError as exc:
        raise fail(f"--effective-date: {exc}") from None
    with open_store(db_url) as store:
        try:
            recorded = post_operator_event(
                store, type_name, deal, payload, who.name, who.role,
                idempotency_key=key, effective_date=when,
            )  # fmt: skip
        except TapeRejected as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        except StoreError as exc:
            raise fail(str(exc)) from None
    typer.echo(json.dumps(posted_json(recorded)))


def deal_load(
    file: Annotated[Path, typer.Argument(help="deal definition YAML file")],
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Validate FILE and record it as the deal's definition in force (DealDefined)."""
    who = acting(as_)
    with open_store(db_url) as store:
        try:
            recorded = load_deal(store, file, actor=who.name, role=who.role)
        except DealValidationError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from None
        except OSError as exc:
            raise fail(f"{file}: {exc}") from None
        except StoreError as exc:
            raise fail(str(exc)) from None
    typer.echo(
        f"{file}: deal {recorded.deal_id} recorded (DealDefined {recorded.event_id}, "
        f"sha256 {recorded.data['content_hash']})"
    )


def deal_list(
    output_format: Annotated[str, typer.Option("--format", help="text or json")] = "text",
    db_url: DbOption = None,
) -> None:
    """List the deals in the store with the name of the definition in force."""
    if output_format not in ("text", "json"):
        raise fail(f"--format {output_format!r}: use text or json")
    with open_store(db_url) as store:
        deals = list_deals(store)
    if output_format == "json":
        typer.echo(json.dumps(deals, ensure_ascii=False))
        return
    for d in deals:
        typer.echo(f"{d['deal_id']}\t{d['name'] or '(no definition loaded)'}")


def deal_store_commands(deal_app: typer.Typer) -> typer.Typer:
    """Add ``load`` and ``list`` to the deal app (``ledger/deal/cli.py``'s ``deal_app``)."""
    deal_app.command("load")(deal_load)
    deal_app.command("list")(deal_list)
    return deal_app
