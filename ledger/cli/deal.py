"""``trust-ledger deal ...``: checks a deal file and prints its JSON Schema.

The main CLI mounts :data:`deal_app` as ``trust-ledger deal``; the store-backed commands
(``deal load``, ``deal list``) live with the event store.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from ledger.deal.loader import DealValidationError, validate_deal_file
from ledger.deal.schema import deal_json_schema

deal_app = typer.Typer(help="Deal definitions: validate a deal file, export its JSON Schema.")


@deal_app.command("validate")
def validate(file: Annotated[Path, typer.Argument(help="deal definition YAML file")]) -> None:
    """Validate FILE: exit 0 with a summary, or exit 1 listing every problem with its path."""
    try:
        deal = validate_deal_file(file)
    except DealValidationError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=1) from None
    steps = sum(len(s) for s in deal.waterfalls.values())
    assumed = sorted(k for k, p in deal.parameters.items() if p.assumed)
    typer.echo(
        f"{file}: OK — {deal.deal_id} ({deal.name}): {len(deal.notes)} notes, "
        f"{len(deal.accounts)} accounts, {len(deal.fees)} fees, {len(deal.triggers)} triggers, "
        f"{len(deal.waterfalls)} waterfall modes ({steps} steps)"
    )
    if assumed:
        typer.echo(f"assumed parameters: {', '.join(assumed)}")


@deal_app.command("schema")
def schema() -> None:
    """Print the JSON Schema of a deal file."""
    typer.echo(json.dumps(deal_json_schema(), indent=2, ensure_ascii=False, sort_keys=True))
