"""Payment-date report files: JSON, CSV and HTML with charts, rendered from figures alone.

Pure rendering (figures in, text out, no clock), so the same events give byte-identical files
(SPEC §2.8). The HTML charts are inline SVG polylines: no script, no external asset. The full
trustee report of issue 6 (reconciliation, servicer report, XLSX) builds on these.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from html import escape
from typing import Any

STEP_COLUMNS = (
    "step_id", "clause", "kind", "source", "destination", "due", "paid", "shortfall",
    "carried_forward", "skipped",
)  # fmt: skip


def report_json(report: Mapping[str, Any]) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def steps_csv(steps: Sequence[Mapping[str, Any]]) -> str:
    """The waterfall of one payment date, a row per step."""
    buf = io.StringIO()
    writer = csv.DictWriter(
        buf, fieldnames=STEP_COLUMNS, extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    for step in steps:
        writer.writerow({k: step.get(k, "") for k in STEP_COLUMNS})
    return buf.getvalue()


def svg_chart(
    title: str, labels: Sequence[str], series: Mapping[str, Sequence[Decimal | None]],
    *, percent: bool = False, width: int = 640, height: int = 220,
) -> str:  # fmt: skip
    """A line chart of one or more series over ``labels`` (points may be missing)."""
    pad_l, pad_r, pad_t, pad_b = 80, 150, 28, 28
    values = [v for s in series.values() for v in s if v is not None]
    top = max(values, default=Decimal(1)) or Decimal(1)
    n = max(len(labels) - 1, 1)
    colours = ("#1f6feb", "#d1242f", "#1a7f37", "#9a6700", "#8250df")

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
        colour = colours[k % len(colours)]
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


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def report_html(report: Mapping[str, Any], charts: Sequence[str]) -> str:
    """One payment date: charts, triggers, waterfall steps and notes."""
    triggers = [
        (t["trigger_id"], t.get("clause", ""), t.get("value") or "", t.get("comparison") or "",
         t.get("threshold") or "", "yes" if t.get("in_effect") else "no")
        for t in report["triggers"].values()
    ]  # fmt: skip
    steps = [
        (s["step_id"], s.get("source", ""), s.get("destination", ""), s["due"], s["paid"],
         s["shortfall"], s.get("clause", ""))
        for s in report["steps"] if not s.get("skipped")
    ]  # fmt: skip
    notes = [
        (k.removeprefix("note:"), n["balance"], n["factor"], n["interest_shortfall"])
        for k, n in sorted(report["notes"].items())
    ]
    pool = report.get("pool", {})
    title = f"{report['deal_name']} — payment date {report['payment_date']}"
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>"
        "body{font-family:sans-serif;margin:2em;max-width:1100px}"
        "table{border-collapse:collapse;margin:1em 0;font-size:12px}"
        "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}"
        "td:first-child,th:first-child{text-align:left}</style></head><body>"
        f"<h1>{escape(title)}</h1>"
        f"<p>受托机构报告 · mode <b>{escape(str(report['mode']))}</b> · pool balance "
        f"{escape(str(pool.get('pool_balance', '')))} · cumulative default ratio "
        f"{escape(str(pool.get('cumulative_default_ratio', '')))}</p>"
        + "".join(f"<div>{c}</div>" for c in charts)
        + "<h2>Triggers</h2>"
        + _table(("trigger", "clause", "value", "test", "threshold", "in effect"), triggers)
        + "<h2>Waterfall</h2>"
        + _table(("step", "from", "to", "due", "paid", "shortfall", "clause"), steps)
        + "<h2>Notes</h2>"
        + _table(("class", "balance", "factor", "interest shortfall"), notes)
        + "</body></html>\n"
    )
