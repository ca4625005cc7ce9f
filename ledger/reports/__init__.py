"""Reports built purely from a deal's events (issue 6 item 4, SPEC §5 ``report``):

* :func:`trustee_report` — the payment-date report (受托机构报告), :mod:`ledger.reports.trustee`;
* :func:`servicer_report` — the servicer's monthly report, :mod:`ledger.reports.servicer`;

both as known at any recorded time (``known_at``) and rendered by :func:`render` as JSON, CSV,
HTML with charts or XLSX, byte-identical when rebuilt from the same events.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Literal

from ledger.reports.files import report_csv, report_html, report_json
from ledger.reports.model import Report, Section
from ledger.reports.servicer import build_servicer_report, report_periods, servicer_report
from ledger.reports.source import History, ReportError, deal_of, read_events
from ledger.reports.trustee import (
    build_trustee_report,
    collection_period_end,
    payment_dates,
    trustee_report,
)
from ledger.reports.xlsx import report_xlsx
from projections.store import ProjectedStore

__all__ = [
    "FORMATS",
    "Format",
    "History",
    "Kind",
    "Report",
    "ReportError",
    "Section",
    "build_report",
    "build_servicer_report",
    "build_trustee_report",
    "collection_period_end",
    "deal_of",
    "payment_dates",
    "read_events",
    "render",
    "report_periods",
    "servicer_report",
    "trustee_report",
    "write_report",
]

Format = Literal["json", "csv", "html", "xlsx"]
FORMATS: tuple[Format, ...] = ("json", "csv", "html", "xlsx")
Kind = Literal["trustee", "servicer"]


def _latest(days: list[date], as_of: date, what: str) -> date:
    """The last of ``days`` on or before ``as_of``."""
    before = [d for d in days if d <= as_of]
    if not before:
        listed = ", ".join(d.isoformat() for d in days) or "none"
        raise ReportError(f"no {what} on or before {as_of.isoformat()}; {what}s: {listed}")
    return before[-1]


def build_report(
    store: ProjectedStore,
    kind: Kind,
    deal_id: str,
    day: date | None = None,
    *,
    as_of: date | None = None,
    known_at: datetime | None = None,
) -> Report:
    """The trustee's report of payment date ``day`` or the servicer's of the collection period
    ending on ``day``; with ``as_of`` instead, the latest one on or before it. As known at
    ``known_at`` (every recorded event when None). Raises :class:`ReportError` naming the dates
    that exist."""
    if (day is None) == (as_of is None):
        raise ValueError("give exactly one of a date or as_of")
    events = read_events(store, deal_id, known_at)
    if kind == "trustee":
        pd = day if as_of is None else _latest(payment_dates(events), as_of, "payment date")
        assert pd is not None
        return build_trustee_report(events, deal_id, pd, known_at=known_at)
    if as_of is None:
        end = day
    else:
        ends = [e for _, e in report_periods(deal_of(events, deal_id), events)]
        end = _latest(ends, as_of, "collection period end")
    assert end is not None
    return build_servicer_report(events, deal_id, end, known_at=known_at)


def render(report: Report, fmt: Format) -> bytes:
    """The report's file in ``fmt`` (text formats UTF-8)."""
    if fmt == "xlsx":
        return report_xlsx(report)
    if fmt == "json":
        return report_json(report).encode()
    if fmt == "csv":
        return report_csv(report).encode()
    if fmt == "html":
        return report_html(report).encode()
    raise ValueError(f"unknown report format {fmt!r}; one of {', '.join(FORMATS)}")


def write_report(report: Report, path: Path, fmt: Format) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(render(report, fmt))
    return path
