"""The ``trust-ledger`` command (SPEC §5)."""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Annotated

import structlog
import typer
from rich.console import Console
from rich.table import Table

from events import catalogue as _catalogue  # noqa: F401  (registers the event types)
from events.envelope import NewEvent
from events.jsonl import ImportRejected, read_jsonl, write_export
from events.model import json_schemas
from events.store import AppendResult, StoreError
from ledger import db
from ledger.cli_audit import add_audit_commands
from ledger.cli_common import DbOption, State, fail, open_store, require_deal
from ledger.cli_cycle import cycle_app, run_due_command
from ledger.cli_reconcile import reconcile_command
from ledger.cli_report import report_app
from ledger.cli_servicing import deal_store_commands, post, tape_app
from ledger.deal.cli import deal_app
from ledger.logs import configure
from ledger.verify import verify as verify_store

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Event-sourced servicing and trust-accounting ledger for securitisation trusts.",
)
db_app = typer.Typer(no_args_is_help=True, help="Database schema.")
events_app = typer.Typer(no_args_is_help=True, help="Import, export and describe events.")
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

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)
log = structlog.get_logger("trust-ledger")


@app.callback()
def main(
    db_url: DbOption = None,
    log_level: Annotated[str, typer.Option(help="DEBUG, INFO, WARNING")] = "WARNING",
) -> None:
    """Event-sourced servicing and trust-accounting ledger for securitisation trusts."""
    configure(log_level)
    State.url = db_url


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
def events_import(file: Path, db_url: DbOption = None) -> None:
    """Import events from a JSON-lines file: all of it, or nothing if any line is bad."""
    if not file.is_file():
        raise fail(f"{file}: no such file")
    try:
        lines = read_jsonl(file)
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


@app.command()
def verify(
    deal: Annotated[str | None, typer.Option("--deal", help="One deal (default all)")] = None,
    db_url: DbOption = None,
) -> None:
    """Recompute every hash chain and check that a replay from zero equals the live projections."""
    with open_store(db_url) as store:
        reports = verify_store(store, deal)
    if not reports:
        out.print("no deals in the store")
    bad = 0
    for r in reports:
        if r.ok:
            out.print(f"deal {r.deal_id}: OK — {r.events} events, chain head {r.head_hash}")
            continue
        bad += 1
        err.print(f"[red]deal {r.deal_id}: FAILED[/red] — first bad event: {r.first_problem()}")
        for p in r.chain[1:20]:
            err.print(f"  chain: {p.describe()}", highlight=False)
        for d in r.projections[:20]:
            err.print(f"  replay: {d.describe()}", highlight=False)
    if bad:
        raise typer.Exit(1)


@app.command()
def rebuild(
    deal: Annotated[str | None, typer.Option("--deal", help="One deal (default all)")] = None,
    db_url: DbOption = None,
) -> None:
    """Replace the live projection rows with a replay from zero (after a projection's definition
    changed, or to repair rows `verify` found altered); the events are not touched."""
    with open_store(db_url) as store:
        if deal is not None:
            require_deal(store, deal)
        for d in [deal] if deal is not None else store.deals():
            rows = store.rebuild_live(d)
            out.print(f"deal {d}: {rows} live rows rebuilt from {store.head(d)[0]} events")


@app.command()
def demo(
    deal: Annotated[str, typer.Option("--deal", help="seed deal: 000-004 or a deal id")] = "001",
    loans: Annotated[int, typer.Option(help="loans in the simulated pool")] = 2000,
    months: Annotated[int, typer.Option(help="months of servicing")] = 24,
    out_dir: Annotated[Path, typer.Option("--out", help="output directory")] = Path("out"),
    db_url: DbOption = None,
) -> None:
    """Board a simulated pool shaped like a seed deal, service it month by month, verify."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger.demo import run_demo

    with open_store(db_url) as store, Progress(
        TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(),
        console=err, disable=not err.is_terminal,
    ) as progress:  # fmt: skip
        task = progress.add_task("starting", total=months + 6)

        def step(what: str) -> None:
            progress.update(task, description=what, advance=1)

        try:
            result = run_demo(store, deal, loans=loans, months=months, out_dir=out_dir, step=step)
        except ValueError as exc:
            raise fail(str(exc)) from None
    table = Table(title=f"{result.deal_name} ({result.deal_id}) — {result.loans} loans, "
                  f"initial balance {result.initial_balance:,.2f}")  # fmt: skip
    for col in ("month", "records", "pool balance", "remitted", "cum. defaults", "% of pool"):
        table.add_column(col, justify="left" if col == "month" else "right", no_wrap=True)
    for m in result.months:
        table.add_row(
            f"{m.period_end:%Y-%m}", str(m.records), f"{m.pool_balance:,.2f}",
            f"{m.remitted:,.2f}", f"{m.defaulted_cumulative:,.2f}",
            f"{m.cumulative_default_ratio:.4%}",
        )  # fmt: skip
    out.print(table)
    modes: dict[str, int] = {}
    breached: dict[str, str] = {}
    for c in result.cycles:
        modes[c["mode"]] = modes.get(c["mode"], 0) + 1
        for name, t in c["triggers"].items():
            if t.get("in_effect"):
                breached.setdefault(name, c["payment_date"])
    out.print(
        f"{len(result.cycles)} payment dates run ("
        + ", ".join(f"{m}: {n}" for m, n in modes.items())
        + "); triggers breached: "
        + (", ".join(f"{k} from {d}" for k, d in breached.items()) or "none")
    )
    recon = result.reconciliation
    out.print(
        f"custodian statements reconciled: {len(recon)} accounts, "
        f"{sum(int(r['lines'] or 0) for r in recon)} lines, "
        f"{sum(int(r['breaks'] or 0) for r in recon)} breaks"
    )
    status = "OK" if result.verified else "FAILED: " + "; ".join(result.problems)
    out.print(f"{result.events} events; verify {status}; files in {result.out_dir}/")
    if not result.verified:
        raise typer.Exit(1)


@app.command()
def scheduler(
    deal: Annotated[
        list[str] | None, typer.Option("--deal", help="Deal id (repeatable; default every deal)")
    ] = None,
    at: Annotated[str, typer.Option("--at", help="Daily run time, Beijing time (HH:MM)")] = "06:00",
    db_url: DbOption = None,
) -> None:
    """Run the payment-date service: catch up now, then post each deal's due dates daily."""
    from ledger.scheduler import serve

    try:
        hour, minute = (int(p) for p in at.split(":"))
    except ValueError:
        raise fail(f"--at {at!r}: use HH:MM", 2) from None
    url = db.resolve_url(db_url or State.url)
    with open_store(url) as store:
        deals = deal or store.deals()
    if not deals:
        raise fail("no deals in the store: load a deal first (trust-ledger deal load FILE)")
    out.print(f"scheduler: {', '.join(deals)} daily at {at} Asia/Shanghai; Ctrl-C stops")
    try:
        serve(url, deals, hour=hour, minute=minute)
    except (KeyboardInterrupt, SystemExit):
        out.print("scheduler stopped")


KEYS_ENV = "TRUST_LEDGER_API_KEYS"


@app.command()
def serve(
    keys: Annotated[
        Path | None,
        typer.Option(
            "--keys",
            help=f"Token file: lines of TOKEN NAME ROLE (servicer, trustee, auditor); "
            f"default ${KEYS_ENV}",
        ),
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8000,
    db_url: DbOption = None,
) -> None:
    """Run the HTTP API (ledger/api.py): the servicer's, trustee's and auditor's operations
    behind bearer tokens; OpenAPI documentation at /docs."""
    import os

    import uvicorn

    from ledger.api import KeyFileError, create_app, parse_keys

    path = keys or (Path(os.environ[KEYS_ENV]) if os.environ.get(KEYS_ENV) else None)
    if path is None:
        raise fail(f"give --keys FILE or set {KEYS_ENV}: no token, no API", 2)
    try:
        callers = parse_keys(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise fail(f"{path}: {exc.strerror}") from None
    except KeyFileError as exc:
        raise fail(str(exc)) from None
    with open_store(db_url) as store:
        out.print(f"serving {len(callers)} token(s) on http://{host}:{port} (docs at /docs)")
        uvicorn.run(create_app(store, callers), host=host, port=port, log_level="info")


if __name__ == "__main__":  # python -m ledger.cli
    app()
