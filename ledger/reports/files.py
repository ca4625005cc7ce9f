"""Report files: JSON, CSV and HTML with inline SVG charts, rendered from a report alone.

Pure rendering (a :class:`~ledger.reports.model.Report` in, text out; no clock, no dict order
that is not the report's own), so the same events give byte-identical files (SPEC §2.8):

* JSON — sorted keys, decimals and dates as strings;
* CSV — one file in long format ``section,row,field,value`` (``row`` is empty for a section of
  fields, else the table row from 1); text that would start a spreadsheet formula is prefixed
  with ``'`` (:func:`~ledger.reports.model.csv_text`);
* HTML — a table per section and charts (pool balance, note balances, cumulative default ratio
  against its trigger threshold, delinquency buckets) as inline SVG: no script, no asset.

XLSX is :mod:`ledger.reports.xlsx`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape

from ledger.reports.model import Report, Section, csv_text, text_of

__all__ = ["charts", "report_csv", "report_html", "report_json", "svg_bars", "svg_chart"]

_COLOURS = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df", "#bf3989", "#0a7b83")


def report_json(report: Report) -> str:
    return json.dumps(report.as_json(), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def report_csv(report: Report) -> str:
    """The whole report as one CSV: ``section,row,field,value``."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(("section", "row", "field", "value"))
    for s in report.sections:
        if s.kind == "fields":
            for field, value in s.rows:
                writer.writerow((s.name, "", csv_text(field), csv_text(value)))
        else:
            for i, row in enumerate(s.rows, start=1):
                for column, value in zip(s.columns, row, strict=True):
                    writer.writerow((s.name, i, column, csv_text(value)))
    return buf.getvalue()


# ------------------------------------------------------------------------------------ charts


def _scale(values: Sequence[Decimal]) -> Decimal:
    return max(values, default=Decimal(1)) or Decimal(1)


def svg_chart(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[Decimal | None]],
    *, percent: bool = False, width: int = 640, height: int = 220,
) -> str:  # fmt: skip
    """A line chart of one or more series over ``labels`` (points may be missing)."""
    pad_l, pad_r, pad_t, pad_b = 80, 150, 28, 28
    top = _scale([v for s in series.values() for v in s if v is not None])
    n = max(len(labels) - 1, 1)

    def x(i: int) -> Decimal:
        return pad_l + Decimal(width - pad_l - pad_r) * i / n

    def y(v: Decimal) -> Decimal:
        return pad_t + Decimal(height - pad_t - pad_b) * (1 - v / top)

    def fmt(v: Decimal) -> str:
        return f"{v * 100:.2f}%" if percent else f"{v:,.0f}"

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - pad_r}" y2="{height - pad_b}" '
        'stroke="#888"/>',
        f'<text x="{pad_l - 6}" y="{pad_t + 4}" font-size="10" text-anchor="end">{fmt(top)}</text>',
        f'<text x="{pad_l - 6}" y="{height - pad_b}" font-size="10" text-anchor="end">0</text>',
    ]
    if labels:
        parts.append(
            f'<text x="{pad_l}" y="{height - 10}" font-size="10">{escape(labels[0])}</text>'
            f'<text x="{width - pad_r}" y="{height - 10}" font-size="10" text-anchor="end">'
            f"{escape(labels[-1])}</text>"
        )
    for k, (name, points) in enumerate(series.items()):
        colour = _COLOURS[k % len(_COLOURS)]
        coords = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, v in enumerate(points) if v is not None)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>'
        )
        parts.append(
            f'<text x="{width - pad_r + 8}" y="{pad_t + 14 * (k + 1)}" font-size="11" '
            f'fill="{colour}">{escape(name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def svg_bars(
    title: str, bars: Sequence[tuple[str, Decimal]], *, width: int = 640, height: int = 220
) -> str:
    """A bar chart: one bar per (label, value), labelled with its value."""
    pad_l, pad_r, pad_t, pad_b = 80, 20, 28, 40
    top = _scale([v for _, v in bars])
    slot = Decimal(width - pad_l - pad_r) / max(len(bars), 1)
    base = height - pad_b
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'role="img" aria-label="{escape(title)}">',
        f'<text x="{pad_l}" y="16" font-size="13" font-weight="bold">{escape(title)}</text>',
        f'<line x1="{pad_l}" y1="{base}" x2="{width - pad_r}" y2="{base}" stroke="#888"/>',
    ]
    for i, (label, value) in enumerate(bars):
        h = Decimal(base - pad_t) * value / top
        x0 = pad_l + slot * i + slot / 8
        parts.append(
            f'<rect x="{x0:.1f}" y="{base - h:.1f}" width="{slot * 3 / 4:.1f}" height="{h:.1f}" '
            f'fill="{_COLOURS[i % len(_COLOURS)]}"/>'
            f'<text x="{x0 + slot * 3 / 8:.1f}" y="{base + 14}" font-size="10" '
            f'text-anchor="middle">{escape(label)}</text>'
            f'<text x="{x0 + slot * 3 / 8:.1f}" y="{base - h - 3:.1f}" font-size="10" '
            f'text-anchor="middle">{value:,.0f}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _column(section: Section, name: str) -> list[Decimal | None]:
    i = section.columns.index(name)
    return [v if isinstance(v, Decimal) else None for v in (r[i] for r in section.rows)]


def charts(report: Report) -> list[str]:
    """The report's charts, from its ``history`` and ``delinquency`` sections."""
    history = report.section("history")
    labels = [text_of(r[0]) for r in history.rows]
    out = [svg_chart("Pool balance", labels, {"pool": _column(history, "pool_balance")})]
    if report.kind == "trustee":
        notes = {
            c.removeprefix("note_"): _column(history, c)
            for c in history.columns
            if c.startswith("note_")
        }
        out.append(svg_chart("Note balances", labels, notes))
        ratio = {
            "pool ratio": _column(history, "cumulative_default_ratio"),
            "trigger ratio": _column(history, "trigger_ratio"),
            "threshold": _column(history, "trigger_threshold"),
        }
    else:
        ratio = {"pool ratio": _column(history, "cumulative_default_ratio")}
    out.append(svg_chart("Cumulative default ratio vs trigger", labels, ratio, percent=True))
    dq = report.section("delinquency")
    bars = [
        (str(r[0]), r[2])
        for r in dq.rows
        if r[0] not in ("current", "total") and isinstance(r[2], Decimal)
    ]
    out.append(svg_bars("Delinquent balance by bucket (days past due)", bars))
    return out


# ------------------------------------------------------------------------------------ HTML


def _cell(value: object) -> str:
    return escape(text_of(value))  # type: ignore[arg-type]


def _section_html(s: Section) -> str:
    if s.kind == "fields":
        head = "<tr><th>field</th><th>value</th></tr>"
        body = "".join(f"<tr><td>{_cell(k)}</td><td>{_cell(v)}</td></tr>" for k, v in s.rows)
    else:
        head = "<tr>" + "".join(f"<th>{escape(c)}</th>" for c in s.columns) + "</tr>"
        body = "".join(
            "<tr>" + "".join(f"<td>{_cell(c)}</td>" for c in row) + "</tr>" for row in s.rows
        )
    source = f'<p class="src">{escape(s.source)}</p>' if s.source else ""
    return (
        f'<h2 id="{escape(s.name)}">{escape(s.title)}</h2>{source}'
        f"<table><thead>{head}</thead><tbody>{body}</tbody></table>"
    )


def report_html(report: Report) -> str:
    """The report as one self-contained HTML page: charts, then every section as a table."""
    toc = "".join(
        f'<li><a href="#{escape(s.name)}">{escape(s.title)}</a></li>' for s in report.sections
    )
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(report.title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1200px}"
        "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}.src{color:#666;font-size:11px}"
        "</style></head><body>"
        f"<h1>{escape(report.title)}</h1><ul>{toc}</ul>"
        + "".join(f"<div>{c}</div>" for c in charts(report))
        + "".join(_section_html(s) for s in report.sections)
        + "</body></html>\n"
    )
