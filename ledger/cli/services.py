"""The long-running services and the demo: ``trust-ledger scheduler``, ``serve`` and ``demo``."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from events import db
from ledger.cli.common import DbOption, State, fail, open_store

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def demo(
    deal: Annotated[str, typer.Option("--deal", help="seed deal: 000-004 or a deal id")] = "001",
    loans: Annotated[int, typer.Option(help="loans in the simulated pool")] = 2000,
    months: Annotated[int, typer.Option(help="months of servicing")] = 24,
    out_dir: Annotated[Path, typer.Option("--out", help="output directory")] = Path("out"),
    db_url: DbOption = None,
) -> None:
    """Board a simulated pool shaped like a seed deal, service it month by month, verify."""
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from ledger.simulation.demo import run_demo

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
    columns = ("month", "records", "pool balance", "remitted", "cum. defaults*", "base*", "ratio*")
    for col in columns:
        table.add_column(col, justify="left" if col == "month" else "right", no_wrap=True)
    for m in result.months:
        table.add_row(
            f"{m.period_end:%Y-%m}", str(m.records), f"{m.pool_balance:,.2f}",
            f"{m.remitted:,.2f}", f"{m.cumulative_defaults:,.2f}",
            f"{m.cumulative_default_base:,.2f}", f"{m.cumulative_default_ratio:.4%}",
        )  # fmt: skip
    # a file or a pipe gets the whole table (a terminal keeps its own width)
    (out if out.is_terminal else Console(soft_wrap=True, width=132)).print(table)
    out.print(f"* {result.default_ratio} (as in the trustee and servicer reports)")
    if result.stress is not None:
        st = result.stress
        out.print(
            f"stress month {st['month']} ({st['period']}): {Decimal(st['default_rate']):.0%} "
            "of the performing loans default at once"
        )
    for p in result.purchases:
        out.print(
            f"revolving purchase {p.payment_date}: {p.bought_loans} of {p.offered_loans} "
            f"receivables offered (cut-off {p.cut_off_date}), {p.balance:,.2f} ({p.basis}) "
            f"for {p.price:,.2f} out of {p.available:,.2f} available"
            + (f"; failed: {', '.join(p.failed_tests)}" if p.failed_tests else "")
        )
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


def scheduler(
    deal: Annotated[
        list[str] | None, typer.Option("--deal", help="Deal id (repeatable; default every deal)")
    ] = None,
    at: Annotated[str, typer.Option("--at", help="Daily run time, Beijing time (HH:MM)")] = "06:00",
    db_url: DbOption = None,
) -> None:
    """Run the payment-date service: catch up now, then post each deal's due dates daily."""
    from ledger.cycle.scheduler import serve

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
    """Run the HTTP API (ledger/api/): the servicer's, trustee's and auditor's operations
    behind bearer tokens; OpenAPI documentation at /docs."""
    import os

    import uvicorn

    from ledger.api.app import KeyFileError, create_app, parse_keys

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
