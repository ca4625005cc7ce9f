"""``trust-ledger db`` and ``trust-ledger events``: the schema, and events in and out as JSON
lines."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from events import db
from events.envelope import NewEvent
from events.jsonl import ImportRejected, read_jsonl, write_export
from events.model import json_schemas
from events.store import AppendResult, StoreError
from ledger.cli.common import AsOption, DbOption, State, acting, fail, open_store

db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
events_app = typer.Typer(no_args_is_help=True, help="Import, export and describe events.")
out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


@db_app.command("upgrade")
def db_upgrade(db_url: DbOption = None) -> None:
    """Apply the Alembic migrations."""
    engine = db.make_engine(db_url or State.url)
    db.upgrade(engine)
    out.print(f"database at {engine.url.render_as_string(hide_password=True)} is up to date")
    engine.dispose()


@events_app.command("schema")
def events_schema() -> None:
    """Print the JSON Schema of every event type."""
    sys.stdout.write(
        json.dumps(json_schemas(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    )


@events_app.command("import")
def events_import(file: Path, as_: AsOption = None, db_url: DbOption = None) -> None:
    """Import events from a JSON-lines file: all of it, or nothing if any line is bad. A line
    without actor and role is posted as --as; lines recorded by others (an export) are restored
    as recorded, by the trustee only."""
    who = acting(as_)
    if not file.is_file():
        raise fail(f"{file}: no such file")
    try:
        lines = read_jsonl(file, who)
    except ImportRejected as exc:
        raise fail(f"{file}: {exc}") from None
    by_deal: dict[str, list[int]] = {}
    for i, line in enumerate(lines):
        by_deal.setdefault(line.event.deal_id, []).append(i)

    def check_hashes(results: list[AppendResult]) -> None:
        for idx, result in zip(by_deal.values(), results, strict=True):
            for i, recorded in zip(idx, result.events, strict=True):
                want = lines[i].expected_hash
                if want is not None and want != recorded.hash:
                    raise StoreError(
                        f"{file}:{lines[i].line}: hash: the event chains to {recorded.hash} in "
                        f"this store, not {want}: the file is not a complete export of its deal "
                        "(or was altered)"
                    )

    batches: list[tuple[Sequence[NewEvent], Mapping[str, int]]] = [
        ([lines[i].event for i in idx], {}) for idx in by_deal.values()
    ]
    with open_store(db_url) as store:
        try:
            results = store.append_batches(batches, before_commit=check_hashes)
        except StoreError as exc:
            raise fail(f"{file}: {exc}") from None
    new = sum(len(r.events) for r in results if not r.duplicate)
    dup = sum(len(r.events) for r in results if r.duplicate)
    out.print(f"{file}: {new} event(s) imported, {dup} already present, {len(by_deal)} deal(s)")


@events_app.command("export")
def events_export(
    deal: Annotated[str, typer.Option("--deal", help="Deal id")],
    output: Annotated[Path | None, typer.Option("--out", help="File (default stdout)")] = None,
    db_url: DbOption = None,
) -> None:
    """Export a deal's events as JSON lines, in chain order."""
    with open_store(db_url) as store:
        if output is None:
            write_export(store.read(deal), sys.stdout)
        else:
            with output.open("w", encoding="utf-8", newline="\n") as fh:
                n = write_export(store.read(deal), fh)
            err.print(f"{n} event(s) written to {output}")
