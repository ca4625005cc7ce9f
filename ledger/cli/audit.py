"""Auditor commands of ``trust-ledger`` (SPEC §1, §5; issue 6 items 1–2): ``balances``, ``loans``,
``triggers`` and ``history``, each on both time axes (``--as-of DATE``, ``--known-at TIMESTAMP``;
see :mod:`ledger.audit.timeaxes`).

Mounted by the main CLI (``ledger/cli/``) with :func:`add_audit_commands`. The store is opened
through ``ledger.cli.common.open_store`` when a command runs, with the same ``--db`` option.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any

import typer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from rich.console import Console
from rich.table import Table

from ledger.audit.history import history_json
from ledger.audit.queries import QueryError, balances_doc, history_of, loans_doc, triggers_doc
from ledger.audit.receipts import (
    ReceiptCheck,
    ReceiptError,
    check_receipts,
    inclusion,
    key_id,
    load_public_key,
    read_receipt,
    signed_by,
)
from ledger.audit.timeaxes import TimePoint, parse_as_of, parse_known_at
from ledger.audit.verify import verify as verify_store
from ledger.cli.common import DbOption, DealOption, fail, open_store, require_deal
from ledger.core.money import ZERO
from projections.store import ProjectedStore

__all__ = ["add_audit_commands"]

# piped output is not cut to 80 columns: ids and hashes are what an auditor greps for
out = Console(soft_wrap=True, width=None if sys.stdout.isatty() else 200)
err = Console(stderr=True, soft_wrap=True)

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


def _read(query: Callable[[], Mapping[str, Any]]) -> Mapping[str, Any]:
    try:
        return query()
    except QueryError as exc:
        raise fail(str(exc)) from None


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
        doc = _read(lambda: balances_doc(store, deal, point))
    if fmt == "json":
        _emit(doc)
        return
    result = {k: Decimal(v) for k, v in doc["balances"].items()}
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
        doc = _read(lambda: loans_doc(store, deal, point, loan, status))
    if fmt == "json":
        _emit(doc)
        return
    chosen = doc["loans"]
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
        doc = _read(lambda: triggers_doc(store, deal, point))
    if fmt == "json":
        _emit(doc)
        return
    table = Table(title=f"Triggers — {deal} ({point.describe()})")
    table.add_column("trigger", no_wrap=True)
    for col in ("in effect", "breached", "value", "threshold", "as of"):
        table.add_column(col)
    for k, v in doc["declared"].items():  # the key order of the stored rows: declared first
        table.add_row(
            k + " (declared)", str(v.get("declared")), "", "", "", str(v.get("on")),
        )  # fmt: skip
    for k, v in doc["triggers"].items():
        table.add_row(
            k, str(v.get("in_effect")), str(v.get("breached")), str(v.get("value")),
            str(v.get("threshold")), str(v.get("as_of")),
        )  # fmt: skip
    if not doc["declared"] and not doc["triggers"]:
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
        try:
            subject, lines = history_of(store, deal, point, loan=loan, account=account)
        except QueryError as exc:
            raise fail(str(exc)) from None
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


def verify(
    deal: Annotated[str | None, typer.Option("--deal", help="One deal (default all)")] = None,
    receipts: Annotated[
        Path | None,
        typer.Option("--receipts", help="Folder of seal receipts to check (needs --deal)"),
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="The trustee's public key (FILE.pub)")
    ] = None,
    event: Annotated[
        str | None, typer.Option("--event", help="Event id: prove it is in --receipt's period")
    ] = None,
    receipt: Annotated[Path | None, typer.Option("--receipt", help="One seal receipt")] = None,
    db_url: DbOption = None,
) -> None:
    """Recompute every hash chain and check that a replay from zero equals the live projections;
    with --receipts, that the ledger still holds what each signed receipt sealed; with --event
    and --receipt, an inclusion proof of one event in a sealed period."""
    key = _public_key(public_key)
    if (event is None) != (receipt is None):
        raise fail("--event and --receipt go together", 2)
    if event is not None and receipt is not None:
        _prove(event, receipt, key, db_url)
        return
    if receipts is not None and deal is None:
        raise fail("--receipts needs --deal", 2)
    with open_store(db_url) as store:
        if deal is not None:
            require_deal(store, deal)
        reports = verify_store(store, deal)
        checks = [] if receipts is None or deal is None else _receipts(store, deal, receipts, key)
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
    for c in checks:
        (out if c.ok else err).print(c.describe(), highlight=False)
    failed = [c for c in checks if not c.ok]
    if failed:
        err.print(f"{len(failed)} of {len(checks)} receipt(s) no longer match the ledger")
    if bad or failed:
        raise typer.Exit(1)


def _public_key(path: Path | None) -> Ed25519PublicKey | None:
    if path is None:
        return None
    try:
        return load_public_key(path)
    except ReceiptError as exc:
        raise fail(str(exc), 2) from None


def _receipts(
    store: ProjectedStore, deal: str, folder: Path, key: Ed25519PublicKey | None
) -> list[ReceiptCheck]:
    if not folder.is_dir():
        raise fail(f"{folder}: no such folder", 2)
    paths = sorted(folder.glob("*.json"))
    checks = check_receipts(store, deal, paths, key)
    if not checks:
        raise fail(f"{folder}: no receipt of deal {deal}")
    if key is None:
        err.print("note: without --public-key the receipts are only checked against each other")
    return checks


def _prove(event: str, path: Path, key: Ed25519PublicKey | None, db_url: str | None) -> None:
    try:
        receipt = read_receipt(path)
    except ReceiptError as exc:
        raise fail(str(exc)) from None
    if key is not None and not signed_by(receipt, key):
        raise fail(f"{path}: not signed by the trustee's key {key_id(key)}")
    with open_store(db_url) as store:
        require_deal(store, receipt.deal_id)
        try:
            proof = inclusion(store, receipt, event)
        except ReceiptError as exc:
            raise fail(str(exc)) from None
    _emit(proof)
    if not proof["included"]:
        err.print(f"event {event} is NOT what {path} sealed: the ledger was altered")
        raise typer.Exit(1)


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


def add_audit_commands(app: typer.Typer) -> None:
    app.command("balances")(balances)
    app.command("loans")(loans)
    app.command("triggers")(triggers)
    app.command("history")(history)
    app.command("verify")(verify)
    app.command("rebuild")(rebuild)
