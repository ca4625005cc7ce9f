"""Auditor commands of ``trust-ledger`` (SPEC §1, §5; issue 6 items 1–2): ``balances``, ``loans``,
``triggers`` and ``history``, each on both time axes (``--as-of DATE``, ``--known-at TIMESTAMP``;
see :mod:`ledger.timeaxes`).

Mounted by the main CLI (``ledger/cli.py``) with :func:`add_audit_commands`. The store is opened
through ``ledger.cli_common.open_store`` when a command runs, with the same ``--db`` option.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping
from decimal import Decimal
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from events.store import EventStore
from ledger.cli_common import DbOption, DealOption, fail, open_store, require_deal
from ledger.history import account_history, history_json, loan_history
from ledger.money import ZERO
from ledger.timeaxes import TimePoint, parse_as_of, parse_known_at, state_at

__all__ = ["add_audit_commands"]

# piped output is not cut to 80 columns: ids and hashes are what an auditor greps for
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)

AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="Effective date (YYYY-MM-DD): events effective on or before it"),
]
KnownAtOption = Annotated[
    str | None,
    typer.Option(
        "--known-at",
        help="Recorded time (ISO timestamp, UTC if no zone; a date = end of that day): "
        "what the ledger knew then",
    ),
]
FormatOption = Annotated[str, typer.Option("--format", help="table or json")]


def _point(as_of: str | None, known_at: str | None) -> TimePoint:
    try:
        return TimePoint(
            as_of=parse_as_of(as_of) if as_of else None,
            known_at=parse_known_at(known_at) if known_at else None,
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json"):
        raise fail(f"--format: unknown format {fmt!r} (table, json)", 2)


def _emit(doc: Mapping[str, Any]) -> None:
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=False) + "\n")


def _rows(store: EventStore, deal: str, point: TimePoint, name: str) -> dict[str, Any]:
    require_deal(store, deal)
    state = state_at(store, deal, point, [name])[name]
    return {k: dict(v.row) for k, v in sorted(state.items())}


def balances(
    deal: DealOption,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    fmt: FormatOption = "table",
    db_url: DbOption = None,
) -> None:
    """Every account's balance (live, or replayed as of a date / as known at a time)."""
    _check_format(fmt)
    point = _point(as_of, known_at)
    with open_store(db_url) as store:
        rows = _rows(store, deal, point, "balances")
    result = {k: Decimal(v["balance"]) for k, v in rows.items()}
    if fmt == "json":
        _emit(
            {"deal_id": deal, **point.as_dict(), "balances": {k: str(v) for k, v in result.items()}}
        )
        return
    table = Table(title=f"Balances — {deal} ({point.describe()})")
    table.add_column("account")
    table.add_column("balance", justify="right")
    for k, v in result.items():
        table.add_row(k, f"{v:,.2f}")
    table.add_row("[b]trial balance[/b]", f"{sum(result.values(), ZERO):,.2f}")
    out.print(table)


_LOAN_COLUMNS = (
    "status",
    "dpd",
    "balance",
    "defaulted",
    "recoveries",
    "repurchased",
    "written_off",
)


def loans(
    deal: DealOption,
    loan: Annotated[
        list[str] | None, typer.Option("--loan", help="Loan id (repeatable; default every loan)")
    ] = None,
    status: Annotated[
        str | None, typer.Option("--status", help="Only loans in this status")
    ] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    fmt: FormatOption = "table",
    db_url: DbOption = None,
) -> None:
    """Loan states: status, days past due, balances (live, as of a date or as known at a time)."""
    _check_format(fmt)
    point = _point(as_of, known_at)
    with open_store(db_url) as store:
        rows = _rows(store, deal, point, "loans")
    missing = [lid for lid in loan or () if lid not in rows]
    if missing:
        raise fail(f"deal {deal!r} has no loan {', '.join(missing)} ({point.describe()})")
    chosen = {
        k: v
        for k, v in rows.items()
        if (not loan or k in loan) and (status is None or v.get("status") == status)
    }
    if fmt == "json":
        _emit({"deal_id": deal, **point.as_dict(), "loans": chosen})
        return
    table = Table(title=f"Loans — {deal} ({point.describe()}): {len(chosen)}")
    table.add_column("loan")
    for col in _LOAN_COLUMNS:
        table.add_column(col, justify="left" if col == "status" else "right")
    for k, v in chosen.items():
        table.add_row(k, *(str(v.get(col, "")) for col in _LOAN_COLUMNS))
    out.print(table)


def triggers(
    deal: DealOption,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    fmt: FormatOption = "table",
    db_url: DbOption = None,
) -> None:
    """Trigger states from the latest evaluation, and declared events."""
    _check_format(fmt)
    point = _point(as_of, known_at)
    with open_store(db_url) as store:
        rows = _rows(store, deal, point, "notes")
    found = {
        k.split(":", 1)[1]: v for k, v in rows.items() if k.startswith(("trigger:", "declared:"))
    }
    if fmt == "json":
        _emit(
            {
                "deal_id": deal,
                **point.as_dict(),
                "triggers": {
                    k.removeprefix("trigger:"): v
                    for k, v in rows.items()
                    if k.startswith("trigger:")
                },
                "declared": {
                    k.removeprefix("declared:"): v
                    for k, v in rows.items()
                    if k.startswith("declared:")
                },
            }
        )
        return
    table = Table(title=f"Triggers — {deal} ({point.describe()})")
    table.add_column("trigger", no_wrap=True)
    for col in ("in effect", "breached", "value", "threshold", "as of"):
        table.add_column(col)
    for k, v in rows.items():
        if k.startswith("trigger:"):
            table.add_row(
                k.removeprefix("trigger:"), str(v.get("in_effect")), str(v.get("breached")),
                str(v.get("value")), str(v.get("threshold")), str(v.get("as_of")),
            )  # fmt: skip
        elif k.startswith("declared:"):
            table.add_row(
                k.removeprefix("declared:") + " (declared)", str(v.get("declared")), "", "", "",
                str(v.get("on")),
            )  # fmt: skip
    if not found:
        out.print(f"no trigger evaluated for {deal} ({point.describe()})")
        return
    out.print(table)


def history(
    deal: DealOption,
    loan: Annotated[str | None, typer.Option("--loan", help="Loan id")] = None,
    account: Annotated[str | None, typer.Option("--account", help="Ledger account")] = None,
    as_of: AsOfOption = None,
    known_at: KnownAtOption = None,
    fmt: FormatOption = "table",
    db_url: DbOption = None,
) -> None:
    """Every event and posting behind a loan's or an account's balance, with ids and hashes."""
    _check_format(fmt)
    if (loan is None) == (account is None):
        raise fail("give exactly one of --loan or --account", 2)
    point = _point(as_of, known_at)
    with open_store(db_url) as store:
        if deal not in store.deals():
            raise fail(f"no deal {deal!r} in the store")
        if loan is not None:
            lines = loan_history(store, deal, loan, point)
            subject = {"loan_id": loan}
        else:
            assert account is not None
            lines = account_history(store, deal, account, point)
            subject = {"account": account}
    if not lines:
        what = f"loan {loan!r}" if loan is not None else f"account {account!r}"
        raise fail(f"deal {deal!r}: no event touches {what} ({point.describe()})")
    doc = history_json(deal, subject, point, lines)
    if fmt == "json":
        _emit(doc)
        return
    title = f"History of {next(iter(subject.values()))} — {deal} ({point.describe()})"
    table = Table(title=title)
    for col in ("seq", "effective", "type", "amount", "after"):
        table.add_column(col, justify="right" if col in ("seq", "amount") else "left", no_wrap=True)
    for col in ("event id", "hash"):
        table.add_column(col, overflow="fold")
    for line in lines:
        e = line.event
        after = (
            line.after.get("balance", "")
            if account is not None
            else f"{line.after.get('status', 'gone')} {line.after.get('balance', '')}"
        )
        amount = "" if line.amount is None else f"{line.amount:,.2f}"
        table.add_row(
            str(e.deal_seq), e.effective_date.isoformat(), e.type, amount, str(after),
            e.event_id, e.hash[:16] + "…",
        )  # fmt: skip
    out.print(table)
    out.print(f"{len(lines)} events; closing {json.dumps(doc['closing'], ensure_ascii=False)}")


def add_audit_commands(app: typer.Typer) -> None:
    app.command("balances")(balances)
    app.command("loans")(loans)
    app.command("triggers")(triggers)
    app.command("history")(history)
