"""Report commands of ``trust-ledger`` (SPEC §5 ``report``; issue 6 items 1 and 4).

Mounted by the main CLI (``ledger/cli/``) as ``app.add_typer(report_app, name="report")``::

    trust-ledger report trustee  --deal D --payment-date DATE --format html|json|csv|xlsx
                                 [--out FILE] [--known-at TIMESTAMP]
    trust-ledger report servicer --deal D --period-end DATE  --format ... [--out FILE]
                                 [--known-at TIMESTAMP]

Without ``--out`` a text format goes to standard output; XLSX needs ``--out``, which is written
into a folder that exists (none is created) and never through a symbolic link. ``--known-at``
builds the report from what the ledger knew at that time ("as reported on 15 April"); without it
every recorded event counts ("as restated today"). An unknown payment date or period end is an
error that names the ones that exist.
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from pathlib import Path
from typing import Annotated

import typer

from ledger.audit.timeaxes import parse_known_at
from ledger.cli.common import DbOption, DealOption, fail, open_store
from ledger.core.files import UnsafePath, write_file
from ledger.reports import FORMATS, Format, Kind, ReportError, build_report, render

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
    kind: Kind,
    deal: str,
    dates: tuple[date | None, date | None],
    known_at: datetime | None,
    db_url: str | None,
    fmt: Format,
    out: Path | None,
) -> None:
    if fmt == "xlsx" and out is None:
        raise fail("--format xlsx needs --out FILE", 2)
    day, as_of = dates
    with open_store(db_url) as store:
        try:
            report = build_report(store, kind, deal, day, as_of=as_of, known_at=known_at)
        except ReportError as exc:
            raise fail(str(exc)) from None
    data = render(report, fmt)
    if out is None:
        sys.stdout.buffer.write(data)
        sys.stdout.flush()
        return
    try:
        write_file(out, data)
    except UnsafePath as exc:
        raise fail(str(exc)) from None
    typer.echo(f"{out}: {report.kind} report, {len(data)} bytes")


AsOfOption = Annotated[
    str | None,
    typer.Option("--as-of", help="The latest report on or before this date (YYYY-MM-DD)"),
]


def _date_or_as_of(
    exact: str | None, as_of: str | None, name: str
) -> tuple[date | None, date | None]:
    if (exact is None) == (as_of is None):
        raise fail(f"give exactly one of {name} or --as-of", 2)
    return (
        _day(exact, name) if exact is not None else None,
        _day(as_of, "--as-of") if as_of is not None else None,
    )


@report_app.command("trustee")
def trustee(
    deal: DealOption,
    payment_date: Annotated[
        str | None, typer.Option("--payment-date", help="Payment date (YYYY-MM-DD)")
    ] = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = "html",
    out: OutOption = None,
    known_at: KnownAtOption = None,
    db_url: DbOption = None,
) -> None:
    """The trustee's payment-date report (受托机构报告) of one payment date, or the latest one on
    or before --as-of."""
    dates = _date_or_as_of(payment_date, as_of, "--payment-date")
    _emit("trustee", deal, dates, _known(known_at), db_url, _format(fmt), out)


@report_app.command("servicer")
def servicer(
    deal: DealOption,
    period_end: Annotated[
        str | None,
        typer.Option("--period-end", help="Last day of the collection period (YYYY-MM-DD)"),
    ] = None,
    as_of: AsOfOption = None,
    fmt: FormatOption = "html",
    out: OutOption = None,
    known_at: KnownAtOption = None,
    db_url: DbOption = None,
) -> None:
    """The servicer's monthly report (服务机构报告) of one collection period, or of the latest
    period ended on or before --as-of."""
    dates = _date_or_as_of(period_end, as_of, "--period-end")
    _emit("servicer", deal, dates, _known(known_at), db_url, _format(fmt), out)
