"""``trust-ledger reconcile`` (SPEC §5; issue 6 item 3): import custodian statements and match them
against the ledger's cash postings.

Mounted by the main CLI (``ledger/cli/``)::

    app.command("reconcile")(reconcile_command)

``reconcile --deal D --statement FILE [--statement FILE ...] [--format table|json]
[--account BANK=LEDGER ...] [--from DATE --to DATE] [--fail-on-breaks]``. The JSON has
``matched`` and ``breaks`` (lists, each item naming its ``account``) and ``accounts`` (per account:
period, bank and ledger closing balances, counts, and whether the file was already imported).

Exit codes, for a trustee's operations script: **0** when the statements were imported and
reconciled — breaks are a finding to work through, reported in the output and recorded in
``ReconciliationCompleted``, not a failure of the command; **1** when nothing was stored (a
rejected statement: every error names file, row, field and reason; an unknown deal); **2** for
bad options; with ``--fail-on-breaks``, **4** when any open break remains (for a script that must
stop on one).
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from events.store import StoreError
from ledger.audit.statement_import import (
    AccountReconciliation,
    import_statements,
    parse_account_map,
    reconcile_json,
)
from ledger.audit.statement_model import StatementRejected
from ledger.cli.common import AsOption, DbOption, acting, fail, open_store

__all__ = ["EXIT_BREAKS", "reconcile_command"]

EXIT_BREAKS = 4
"""Exit code of ``--fail-on-breaks`` when a break is open."""


def _day(text: str | None, what: str) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{what}: {text!r} is not a date (YYYY-MM-DD)", 2) from None


def _mapping(pairs: list[str]) -> dict[str, str]:
    try:
        return parse_account_map(pairs)
    except ValueError as exc:
        raise fail(f"--account {exc}", 2) from None


def _table(results: list[AccountReconciliation]) -> None:
    for r in results:
        c = r.result
        bank = "-" if c.bank_closing_balance is None else f"{c.bank_closing_balance:,.2f}"
        note = "  (already imported: nothing stored)" if r.duplicate else ""
        typer.echo(
            f"{c.account:<34} {c.period_start} to {c.period_end}  matched {len(c.matched):>5}  "
            f"breaks {len(c.breaks):>4}  bank closing {bank:>18}  "
            f"ledger closing {c.ledger_closing_balance:>18,.2f}{note}"
        )
        for b in c.breaks:
            line = f"line {b.bank_line}" if b.bank_line is not None else "-"
            typer.echo(
                f"    {b.kind:<18} {b.value_date}  {b.amount:>18,.2f}  {line:<10} "
                f"{b.reference or '-'}  {b.detail}"
            )


def reconcile_command(
    deal: Annotated[str, typer.Option("--deal", help="Deal id")],
    statement: Annotated[
        list[Path],
        typer.Option("--statement", help="Statement file: SPEC §6 CSV or camt.053 (repeatable)"),
    ],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    account: Annotated[
        list[str] | None,
        typer.Option("--account", help="BANK=LEDGER: map a bank account id (IBAN) to a ledger one"),
    ] = None,
    period_from: Annotated[
        str | None, typer.Option("--from", help="Statement period start (default: from the file)")
    ] = None,
    period_to: Annotated[
        str | None, typer.Option("--to", help="Statement period end (default: from the file)")
    ] = None,
    fail_on_breaks: Annotated[
        bool, typer.Option("--fail-on-breaks", help=f"Exit {EXIT_BREAKS} if any break is open")
    ] = False,
    as_: AsOption = None,
    db_url: DbOption = None,
) -> None:
    """Import custodian statements and reconcile them against the ledger's cash postings
    (re-importing a file stores nothing and reports the recorded reconciliation)."""
    who = acting(as_)

    if fmt not in ("table", "json"):
        raise fail(f"--format {fmt!r}: use table or json", 2)
    start, end = _day(period_from, "--from"), _day(period_to, "--to")
    if (start is None) != (end is None):
        raise fail("--from and --to go together", 2)
    period = (start, end) if start is not None and end is not None else None
    if period is not None and period[0] > period[1]:
        raise fail(f"--from {start} is after --to {end}", 2)
    mapping = _mapping(account or [])
    with open_store(db_url) as store:
        try:
            results = import_statements(
                store, deal, statement, account_map=mapping, period=period,
                actor=who.name, role=who.role,
            )  # fmt: skip
        except (StatementRejected, StoreError) as exc:
            raise fail(str(exc)) from None
    if fmt == "json":
        typer.echo(json.dumps(reconcile_json(deal, results), ensure_ascii=False, indent=2))
    else:
        _table(results)
    if fail_on_breaks and any(r.result.breaks for r in results):
        raise typer.Exit(EXIT_BREAKS)
