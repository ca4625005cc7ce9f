"""Report commands of ``trust-ledger`` (SPEC §5 ``report``; issue 6 items 1 and 4).

Mounted by the main CLI (``ledger/cli.py``) as ``app.add_typer(report_app, name="report")``::

    trust-ledger report trustee  --deal D --payment-date DATE --format html|json|csv|xlsx
                                 [--out FILE] [--known-at TIMESTAMP]
    trust-ledger report servicer --deal D --period-end DATE  --format ... [--out FILE]
                                 [--known-at TIMESTAMP]

Without ``--out`` a text format goes to standard output; XLSX needs ``--out``. ``--known-at``
builds the report from what the ledger knew at that time ("as reported on 15 April"); without it
every recorded event counts ("as restated today"). An unknown payment date or period end is an
error that names the ones that exist.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from events.store import EventStore
from ledger.cli_common import DbOption, DealOption, fail, open_store
from ledger.reports import FORMATS, Format, Report, ReportError, render
from ledger.reports import servicer_report as build_servicer
from ledger.reports import trustee_report as build_trustee
from ledger.timeaxes import parse_known_at

__all__ = ["report_app"]

report_app = typer.Typer(
    no_args_is_help=True, help="The trustee's payment-date report and the servicer's report."
)

FormatOption = Annotated[str, typer.Option("--format", help="html, json, csv or xlsx")]
OutOption = Annotated[
    Path | None, typer.Option("--out", help="File to write (default: standard output)")
]
KnownAtOption = Annotated[
    str | None,
    typer.Option(
        "--known-at",
        help="Recorded time (ISO timestamp, UTC if no zone; a date = end of that day): "
        "the report as the ledger knew it then",
    ),
]


def _day(text: str, option: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise fail(f"{option}: {text!r} is not a date (YYYY-MM-DD)", 2) from None


def _format(text: str) -> Format:
    for fmt in FORMATS:
        if text == fmt:
            return fmt
    raise fail(f"--format: unknown format {text!r} ({', '.join(FORMATS)})", 2)


def _known(text: str | None) -> datetime | None:
    try:
        return parse_known_at(text) if text else None
    except ValueError as exc:
        raise fail(str(exc), 2) from None


def _emit(
    build: Callable[[EventStore], Report], db_url: str | None, fmt: Format, out: Path | None
) -> None:
    if fmt == "xlsx" and out is None:
        raise fail("--format xlsx needs --out FILE", 2)
    with open_store(db_url) as store:
        try:
            report = build(store)
        except ReportError as exc:
            raise fail(str(exc)) from None
    data = render(report, fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_bytes(data)
    typer.echo(f"{out}: {report.kind} report, {len(data)} bytes")


@report_app.command("trustee")
def trustee(
    deal: DealOption,
    payment_date: Annotated[str, typer.Option("--payment-date", help="Payment date (YYYY-MM-DD)")],
    fmt: FormatOption = "html",
    out: OutOption = None,
    known_at: KnownAtOption = None,
    db_url: DbOption = None,
) -> None:
    """The trustee's payment-date report (受托机构报告)."""
    day = _day(payment_date, "--payment-date")
    chosen, when = _format(fmt), _known(known_at)
    _emit(lambda s: build_trustee(s, deal, day, known_at=when), db_url, chosen, out)


@report_app.command("servicer")
def servicer(
    deal: DealOption,
    period_end: Annotated[
        str, typer.Option("--period-end", help="Last day of the collection period (YYYY-MM-DD)")
    ],
    fmt: FormatOption = "html",
    out: OutOption = None,
    known_at: KnownAtOption = None,
    db_url: DbOption = None,
) -> None:
    """The servicer's monthly report of one collection period (服务机构报告)."""
    day = _day(period_end, "--period-end")
    chosen, when = _format(fmt), _known(known_at)
    _emit(lambda s: build_servicer(s, deal, day, known_at=when), db_url, chosen, out)
