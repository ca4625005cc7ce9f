"""What a report is: titled sections of typed values, rendered alike to JSON, CSV, HTML and XLSX.

A section is either a list of named fields (``fields``) or a table (``table``: columns and rows).
Values are ``Decimal`` (money exact to the fen, ratios as computed), ``int``, ``bool``, ``date``,
``str`` or ``None``; never ``float``, never a clock reading, so a report built twice from the same
events is the same value (SPEC §2.8) and every renderer is a pure function of it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any, Literal

__all__ = ["FORMULA_START", "Report", "Section", "Value", "csv_text", "starts_formula", "text_of"]

Value = Decimal | bool | int | str | date | None


def text_of(value: Value) -> str:
    """A value as report text: decimals as written, dates ISO, booleans ``yes``/``no``."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return format(value, "f")  # fixed point: 0.00000000, never 0E-8
    return str(value)


FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
"""What makes a spreadsheet read a cell as a formula (OWASP: CSV injection)."""


def starts_formula(value: Value) -> bool:
    """Whether ``value`` is text (from outside: a reference, a loan id, a name) that a
    spreadsheet would run as a formula. Numbers are never text here: a negative amount is a
    ``Decimal``, not a string."""
    return isinstance(value, str) and value.startswith(FORMULA_START)


def csv_text(value: Value) -> str:
    """:func:`text_of` for a CSV cell: text that would start a formula is prefixed with ``'``,
    which spreadsheets show as text."""
    text = text_of(value)
    return "'" + text if starts_formula(value) else text


def json_of(value: Value) -> Any:
    """A value for JSON: decimals and dates as strings, the rest as they are."""
    if isinstance(value, Decimal | date):
        return text_of(value)
    return value


@dataclass(frozen=True, slots=True)
class Section:
    """One part of a report. ``name`` is its key in JSON and CSV and its sheet in XLSX (at most
    31 characters); ``source`` cites the seed clause or SPEC section that asks for it."""

    name: str
    title: str
    kind: Literal["fields", "table"]
    columns: tuple[str, ...]
    rows: tuple[tuple[Value, ...], ...]
    source: str = ""

    def __post_init__(self) -> None:
        if len(self.name) > 31:
            raise ValueError(f"section name {self.name!r} is longer than a sheet name may be")
        for row in self.rows:
            if len(row) != len(self.columns):
                raise ValueError(f"section {self.name}: row {row!r} does not fit {self.columns}")

    @classmethod
    def fields(
        cls, name: str, title: str, items: Iterable[tuple[str, Value]], source: str = ""
    ) -> Section:
        return cls(name, title, "fields", ("field", "value"), tuple(items), source)

    @classmethod
    def table(
        cls,
        name: str,
        title: str,
        columns: Sequence[str],
        rows: Iterable[Sequence[Value]],
        source: str = "",
    ) -> Section:
        return cls(name, title, "table", tuple(columns), tuple(tuple(r) for r in rows), source)

    def get(self, field: str) -> Value:
        """A field's value (``fields`` sections)."""
        for k, v in self.rows:
            if k == field:
                return v
        raise KeyError(f"section {self.name} has no field {field!r}")

    def records(self) -> list[dict[str, Value]]:
        """The rows of a table as column → value."""
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]

    def as_json(self) -> dict[str, Any]:
        body: Any
        if self.kind == "fields":
            body = {str(k): json_of(v) for k, v in self.rows}
        else:
            body = [
                {c: json_of(v) for c, v in zip(self.columns, r, strict=True)} for r in self.rows
            ]
        return {"title": self.title, "source": self.source, "data": body}


@dataclass(frozen=True, slots=True)
class Report:
    """A whole report. ``report_date`` (the payment date or the period end) also stamps the
    XLSX document properties, so nothing in a file depends on when it was written."""

    kind: Literal["trustee", "servicer"]
    title: str
    deal_id: str
    report_date: date
    sections: tuple[Section, ...]

    def section(self, name: str) -> Section:
        for s in self.sections:
            if s.name == name:
                return s
        raise KeyError(f"{self.kind} report has no section {name!r}")

    def as_json(self) -> dict[str, Any]:
        return {
            "report": self.kind,
            "title": self.title,
            "deal_id": self.deal_id,
            "report_date": self.report_date.isoformat(),
            "section_order": [s.name for s in self.sections],
            "sections": {s.name: s.as_json() for s in self.sections},
        }
