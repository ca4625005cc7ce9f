"""A report as an XLSX workbook, one sheet per section, byte-identical when rebuilt (SPEC §2.8).

openpyxl stamps the workbook's ``modified`` time with the clock when it saves and each zip entry
with the time it was written. So the document properties are set to the report's date, the
``dcterms:created``/``dcterms:modified`` elements of ``docProps/core.xml`` are rewritten to it
after saving, and the package is rewritten with every entry in openpyxl's own (fixed) order, one
fixed timestamp, permissions and compression.

Text that would start a formula (``=``, ``+``, ``-``, ``@``, tab, CR: a reference or a name from
outside) is written as a string cell with the quote prefix, never as a formula.
"""

from __future__ import annotations

import io
import re
import zipfile
from datetime import date, datetime, time
from decimal import Decimal

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from ledger.reports.model import Report, Section, starts_formula, text_of

__all__ = ["report_xlsx"]

_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
_STAMP = re.compile(rb"(<dcterms:(created|modified)[^>]*>)[^<]*(</dcterms:\2>)")


def _cell(value: object) -> object:
    """Numbers stay numbers (Decimal is written exactly as its text), the rest is text."""
    if isinstance(value, bool) or value is None:
        return text_of(value)
    if isinstance(value, Decimal | int):
        return value
    return text_of(value)  # type: ignore[arg-type]


def _number_format(value: Decimal) -> str:
    """A decimal shows as many places as it was computed to (money 2, ratios 8 or 10)."""
    exponent = value.as_tuple().exponent
    places = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return "#,##0" + ("." + "0" * places if places else "")


def _sheet(wb: Workbook, s: Section, first: bool) -> None:
    ws = wb.active if first else wb.create_sheet()
    assert ws is not None
    ws.title = s.name
    bold = Font(bold=True)
    ws.append([s.title])
    ws.cell(row=1, column=1).font = bold
    if s.source:
        ws.append([s.source])
    ws.append(list(s.columns))
    header = ws.max_row
    for c in ws[header]:
        c.font = bold
    widths = [len(c) for c in s.columns]
    for row in s.rows:
        ws.append([_cell(v) for v in row])
        for i, v in enumerate(row):
            widths[i] = max(widths[i], len(text_of(v)))
            if isinstance(v, Decimal):
                ws.cell(row=ws.max_row, column=i + 1).number_format = _number_format(v)
            elif starts_formula(v):
                cell = ws.cell(row=ws.max_row, column=i + 1)
                cell.data_type = "s"
                cell.quotePrefix = True
    for i, width in enumerate(widths):
        ws.column_dimensions[get_column_letter(i + 1)].width = min(width + 2, 60)
    ws.freeze_panes = ws.cell(row=header + 1, column=1)


def _normalise(raw: bytes, stamp: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw)) as src, zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == "docProps/core.xml":
                data = _STAMP.sub(lambda m: m.group(1) + stamp + m.group(3), data)
            fixed = zipfile.ZipInfo(info.filename, date_time=_ZIP_TIME)
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            fixed.create_system = 0
            dst.writestr(fixed, data, compresslevel=6)
    return out.getvalue()


def report_xlsx(report: Report) -> bytes:
    """The workbook's bytes: a sheet per section (title, source, header row, rows)."""
    wb = Workbook()
    moment = datetime.combine(report.report_date, time())
    wb.properties.creator = "trust-ledger"
    wb.properties.title = report.title
    wb.properties.created = moment
    wb.properties.modified = moment
    for i, s in enumerate(report.sections):
        _sheet(wb, s, i == 0)
    buf = io.BytesIO()
    wb.save(buf)
    return _normalise(buf.getvalue(), _iso(report.report_date))


def _iso(day: date) -> bytes:
    return f"{day.isoformat()}T00:00:00Z".encode()
