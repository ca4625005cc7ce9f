"""Reports built purely from a deal's events (issue 6 item 4, SPEC §5 ``report``):

* :func:`trustee_report` — the payment-date report (受托机构报告), :mod:`ledger.reports.trustee`;
* :func:`servicer_report` — the servicer's monthly report, :mod:`ledger.reports.servicer`;

both as known at any recorded time (``known_at``) and rendered by :func:`render` as JSON, CSV,
HTML with charts or XLSX, byte-identical when rebuilt from the same events.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ledger.report_files import report_csv, report_html, report_json
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

__all__ = [
    "FORMATS",
    "Format",
    "History",
    "Report",
    "ReportError",
    "Section",
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
