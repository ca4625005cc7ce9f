"""``trust-ledger seal``: the trustee's signing key and the receipts of sealed periods (SPEC §2.2).

    trust-ledger seal keygen --out FILE
    trust-ledger seal export --deal D (--payment-date DATE | --all) --key FILE --out DIR

``keygen`` writes an Ed25519 private key (PEM, mode 0600) and its public key beside it
(``FILE.pub``); ``export`` signs the receipt of each sealed period asked for and writes one JSON
file per period into DIR, refusing a seal the ledger no longer matches. ``verify --receipts DIR``
checks them against the ledger (:mod:`ledger.cli.audit`).
"""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Annotated

import typer

from ledger.audit.receipts import ReceiptError, export_receipts, keygen
from ledger.cli.common import DbOption, DealOption, fail, open_store, require_deal
from ledger.core.files import UnsafePath

__all__ = ["seal_app"]

seal_app = typer.Typer(
    no_args_is_help=True, help="Signing keys and signed receipts of sealed payment periods."
)


@seal_app.command("keygen")
def seal_keygen(
    out: Annotated[Path, typer.Option("--out", help="Private key file to create (mode 0600)")],
) -> None:
    """Create the trustee's Ed25519 signing key (and FILE.pub, the public key to hand out)."""
    try:
        private, public = keygen(out)
    except UnsafePath as exc:
        raise fail(str(exc)) from None
    typer.echo(
        f"private key {private} (mode 0600, keep it apart from the ledger); public key {public}"
    )


@seal_app.command("export")
def seal_export(
    deal: DealOption,
    key: Annotated[Path, typer.Option("--key", help="The trustee's private key (seal keygen)")],
    out: Annotated[Path, typer.Option("--out", help="Folder for the receipts")],
    payment_date: Annotated[
        str | None, typer.Option("--payment-date", help="The sealed payment date (YYYY-MM-DD)")
    ] = None,
    every: Annotated[bool, typer.Option("--all", help="Every sealed period")] = False,
    db_url: DbOption = None,
) -> None:
    """Sign and write the receipt of a sealed period (or of every one) of --deal."""
    if (payment_date is None) == (not every):
        raise fail("give exactly one of --payment-date DATE or --all", 2)
    try:
        day = date.fromisoformat(payment_date) if payment_date else None
    except ValueError:
        raise fail(f"--payment-date: {payment_date!r} is not a date (YYYY-MM-DD)", 2) from None
    with open_store(db_url) as store:
        require_deal(store, deal)
        try:
            written = export_receipts(store, deal, day, key, out)
        except (ReceiptError, UnsafePath) as exc:
            raise fail(str(exc)) from None
    for path in written:
        typer.echo(str(path))
