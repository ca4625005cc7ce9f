"""Operator-supplied PRC holiday files for years the bundled calendar data does not cover.

SPEC §3 (calendar bullet) and issue 5 part 1: business days follow the PRC calendar including
make-up working days (调休); a year the calendar data does not cover is handled explicitly by an
operator-supplied holiday file per year.

File format (YAML, or JSON, which the YAML loader reads too), one file per calendar year::

    # 国务院办公厅关于2027年部分节假日安排的通知 (copy the State Council notice here)
    year: 2027
    source: "国办发明电〔2026〕N号"     # optional free text: where the dates come from
    holidays:                        # required: every non-working day of the official holiday
      - 2027-01-01                   # blocks (weekend days inside a block may be listed too)
      - 2027-02-06
    workdays:                        # optional: make-up working days (调休上班), i.e. Saturdays
      - 2027-02-14                   # or Sundays on which banks are open

Rules checked (each failure names the file, the field and the reason): the top level is a mapping
with only the keys ``year``, ``source``, ``holidays`` and ``workdays``; ``year`` is an integer in
1900..2200; every date is an ISO ``YYYY-MM-DD`` date (a YAML date or a string) inside ``year``;
no date is listed twice; no date is both a holiday and a workday; every workday is a Saturday or
Sunday (a weekday is a working day anyway, so listing it would hide a typo).

Only :func:`load_holiday_file` performs I/O; :func:`parse_holiday_data` is pure.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

ALLOWED_KEYS = frozenset({"year", "source", "holidays", "workdays"})
MIN_YEAR = 1900
MAX_YEAR = 2200


class _DatesAsTextLoader(yaml.SafeLoader):
    """SafeLoader that leaves YAML timestamps as text, so every date (a malformed one too) goes
    through :func:`_parse_date` and its error names the field."""


def _timestamp_as_text(loader: yaml.SafeLoader, node: yaml.Node) -> object:
    return loader.construct_scalar(node)  # type: ignore[arg-type]


_DatesAsTextLoader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp_as_text)


class HolidayFileError(ValueError):
    """A holiday file that cannot be used; names the file, the field and the reason."""

    def __init__(self, origin: str, field: str, reason: str) -> None:
        self.origin = origin
        self.field = field
        self.reason = reason
        super().__init__(f"{origin}: field {field!r}: {reason}")


@dataclass(frozen=True)
class HolidayFile:
    """The validated content of one operator holiday file (one calendar year).

    ``holidays`` are days on which banks are closed although they may be weekdays; ``workdays``
    are weekend days on which banks are open (make-up working days, 调休上班).
    """

    origin: str
    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str = ""


def _is_datetime(text: str) -> bool:
    try:
        dt.datetime.fromisoformat(text)
    except ValueError:
        return False
    return True


def _parse_date(value: object, origin: str, field: str, year: int) -> dt.date:
    if isinstance(value, dt.datetime):
        raise HolidayFileError(origin, field, f"{value!r} has a time of day; give a date only")
    if isinstance(value, dt.date):
        parsed = value
    elif isinstance(value, str):
        text = value.strip()
        try:
            parsed = dt.date.fromisoformat(text)
        except ValueError:
            if len(text) > 10 and _is_datetime(text):
                raise HolidayFileError(
                    origin, field, f"{value!r} has a time of day; give a date only"
                ) from None
            raise HolidayFileError(
                origin, field, f"{value!r} is not an ISO date YYYY-MM-DD"
            ) from None
    else:
        raise HolidayFileError(
            origin, field, f"{value!r} ({type(value).__name__}) is not a date YYYY-MM-DD"
        )
    if parsed.year != year:
        raise HolidayFileError(origin, field, f"{parsed.isoformat()} is not in year {year}")
    return parsed


def _parse_dates(data: Mapping[str, object], key: str, origin: str, year: int) -> list[dt.date]:
    raw = data.get(key)
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise HolidayFileError(origin, key, f"must be a list of dates, got {type(raw).__name__}")
    dates: list[dt.date] = []
    seen: set[dt.date] = set()
    for i, item in enumerate(raw):
        field = f"{key}[{i}]"
        parsed = _parse_date(item, origin, field, year)
        if parsed in seen:
            raise HolidayFileError(origin, field, f"{parsed.isoformat()} is listed twice")
        seen.add(parsed)
        dates.append(parsed)
    return dates


def parse_holiday_data(data: object, origin: str) -> HolidayFile:
    """Validate already-parsed holiday data (a mapping) from ``origin`` (a path or a label)."""
    if not isinstance(data, Mapping):
        raise HolidayFileError(
            origin,
            "<top level>",
            f"must be a mapping with keys year/holidays/workdays, got {type(data).__name__}",
        )
    unknown = sorted(str(k) for k in data if k not in ALLOWED_KEYS)
    if unknown:
        raise HolidayFileError(
            origin, unknown[0], f"unknown key (allowed: {', '.join(sorted(ALLOWED_KEYS))})"
        )
    if "year" not in data:
        raise HolidayFileError(origin, "year", "missing")
    year = data["year"]
    if isinstance(year, bool) or not isinstance(year, int):
        raise HolidayFileError(origin, "year", f"must be an integer year, got {year!r}")
    if not MIN_YEAR <= year <= MAX_YEAR:
        raise HolidayFileError(origin, "year", f"{year} is outside {MIN_YEAR}..{MAX_YEAR}")
    if "holidays" not in data:
        raise HolidayFileError(origin, "holidays", "missing (use [] for a year without holidays)")
    source = data.get("source", "")
    if source is None:
        source = ""
    if not isinstance(source, str):
        raise HolidayFileError(origin, "source", f"must be text, got {type(source).__name__}")
    holidays = _parse_dates(data, "holidays", origin, year)
    workdays = _parse_dates(data, "workdays", origin, year)
    holiday_set = frozenset(holidays)
    for i, day in enumerate(workdays):
        field = f"workdays[{i}]"
        if day in holiday_set:
            raise HolidayFileError(
                origin, field, f"{day.isoformat()} is listed both as a holiday and a workday"
            )
        if day.weekday() < 5:
            raise HolidayFileError(
                origin,
                field,
                f"{day.isoformat()} is a {day.strftime('%A')}; make-up working days are "
                "Saturdays or Sundays",
            )
    return HolidayFile(
        origin=origin,
        year=year,
        holidays=holiday_set,
        workdays=frozenset(workdays),
        source=source,
    )


def load_holiday_file(path: str | Path) -> HolidayFile:
    """Read and validate one operator holiday file (YAML or JSON); the only I/O in the calendar."""
    origin = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise HolidayFileError(origin, "<file>", f"cannot be read: {exc.strerror or exc}") from exc
    try:
        data = yaml.load(text, Loader=_DatesAsTextLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise HolidayFileError(origin, "<file>", f"is not valid YAML/JSON{where}") from exc
    return parse_holiday_data(data, origin)
