"""Reading a tape's fields: amounts, rates, whole numbers, dates and flags as SPEC §6 pins them,
and the CSV reader that collects every error with its line and column."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import IO

from ledger.core.amortisation import Amortization
from ledger.core.text import control_character
from ledger.servicing.tape_formats import RecordType, TapeError, content_hash

# --- field parsers --------------------------------------------------------------------------------

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_NEG_AMOUNT = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INT = re.compile(r"-?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FEN = Decimal("0.01")
RECORD_TYPES = {r.value: r for r in RecordType}
AMORTIZATIONS = {a.value: a for a in Amortization}


class FieldError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _amount(text: str) -> Decimal:
    if _AMOUNT.fullmatch(text) and len(text.partition(".")[0].lstrip("0")) > 15:
        raise FieldError(f"amount {text[:20]!r}… is out of range (it must be below 10^15)")
    if _AMOUNT.fullmatch(text):
        if len(text) > 3 and text[-3] == ".":
            return Decimal(text)
        return Decimal(text).quantize(_FEN)
    if _NEG_AMOUNT.fullmatch(text):
        raise FieldError(f"negative amount {text!r}: amounts are not signed")
    if _DECIMAL.fullmatch(text) and len(text.partition(".")[2]) > 2:
        raise FieldError(f"amount {text!r} has more than 2 decimals")
    raise FieldError(f"non-numeric amount {text!r}: expected a decimal string like 1234.56")


def parse_rate(text: str) -> Decimal:
    if len(text) > 40:
        raise FieldError(f"rate {text[:40]!r}… is longer than any rate")
    if not _DECIMAL.fullmatch(text):
        raise FieldError(f"non-numeric rate {text!r}: expected a decimal fraction like 0.0488")
    value = Decimal(text)
    if value < 0:
        raise FieldError(f"negative rate {text!r}")
    if value >= 1:
        raise FieldError(f"rate {text!r} is not a decimal fraction (0.0488 means 4.88%)")
    return value


def _int(text: str, what: str) -> int:
    if not _INT.fullmatch(text):
        raise FieldError(f"{what} {text[:40]!r} is not a whole number")
    if len(text.lstrip("-0")) > 9:
        raise FieldError(f"{what} {text[:40]!r} is out of range")
    return int(text)


class _Dates(dict[str, date]):
    """ISO date parser with a cache: a tape repeats a few dozen dates over many rows."""

    def __missing__(self, text: str) -> date:
        if not _DATE.fullmatch(text):
            raise FieldError(f"date {text!r} is not ISO YYYY-MM-DD")
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise FieldError(f"date {text!r} does not exist") from None
        self[text] = value
        return value


def parse_bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise FieldError(f"{text!r} is not true or false")


@dataclass
class Sheet:
    """Reading state of one CSV: its name, the errors so far and a date cache."""

    file: str
    errors: list[TapeError] = field(default_factory=list)
    dates: _Dates = field(default_factory=_Dates)

    def error(self, row: int, column: str, reason: str) -> None:
        self.errors.append(TapeError(self.file, row, column, reason))


def read_records(
    stream: IO[bytes], sheet: Sheet, pinned: tuple[str, ...]
) -> Iterator[tuple[int, list[str], dict[str, str]]]:
    """Stream the records of a CSV: ``(line, pinned fields in pinned order, extra fields)``,
    every field stripped of surrounding whitespace."""
    text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader, None)
    except (UnicodeDecodeError, csv.Error) as exc:
        sheet.error(0, "", f"cannot read the file as UTF-8 CSV: {exc}")
        return
    if header is None:
        sheet.error(0, "", "the file is empty: expected a header line")
        return
    names = [h.strip() for h in header]
    for name in names:
        problem = control_character(name)
        if problem is not None:
            sheet.error(1, name.encode("unicode_escape").decode(), f"column name: {problem}")
            return
    seen: set[str] = set()
    for name in names:
        if name in seen:
            sheet.error(1, name, "column appears twice in the header")
        seen.add(name)
    for name in pinned:
        if name not in seen:
            sheet.error(1, name, "required column missing from the header")
    if sheet.errors:
        return
    width = len(names)
    position = {n: i for i, n in enumerate(names)}
    index = [position[n] for n in pinned]
    pinned_set = frozenset(pinned)
    extra_index = [(i, n) for i, n in enumerate(names) if n not in pinned_set]
    last_line = reader.line_num
    while True:
        try:
            values = next(reader, None)
        except (UnicodeDecodeError, csv.Error) as exc:
            sheet.error(last_line + 1, "", f"cannot read the record: {exc}")
            return
        if values is None:
            return
        line = last_line + 1
        last_line = reader.line_num
        if not values or (not values[0].strip() and not any(v.strip() for v in values)):
            continue  # blank line
        if len(values) != width:
            sheet.error(line, "", f"record has {len(values)} fields, the header has {width}")
            continue
        if control_character("".join(values), multiline=True) is not None:
            for name, value in zip(names, values, strict=True):
                problem = control_character(value.strip(), multiline=True)
                if problem is not None:
                    sheet.error(line, name, problem)
            continue
        extra = {n: values[i].strip() for i, n in extra_index} if extra_index else {}
        yield line, [values[i].strip() for i in index], extra


def open_tape(source: str | Path | bytes, file: str | None) -> tuple[IO[bytes], str, str]:
    """The stream to parse, the file's name for errors and the SHA-256 of its bytes.

    A path is hashed in a first streaming pass (64 KiB chunks), then parsed streaming."""
    if isinstance(source, bytes):
        return io.BytesIO(source), file or "<bytes>", content_hash(source)
    path = Path(source)
    digest = hashlib.sha256()
    with path.open("rb") as raw:
        while chunk := raw.read(1 << 16):
            digest.update(chunk)
    return path.open("rb"), file or str(path), digest.hexdigest()


class RowReader:
    """Parses the fields of one record, collecting ``(column, reason)`` errors."""

    __slots__ = ("bad", "line", "sheet")

    def __init__(self, sheet: Sheet, line: int) -> None:
        self.sheet = sheet
        self.line = line
        self.bad = False

    def error(self, column: str, reason: str) -> None:
        self.bad = True
        self.sheet.error(self.line, column, reason)

    def required(self, column: str, text: str) -> str | None:
        if text:
            return text
        self.error(column, "required field is empty")
        return None

    def amount(self, column: str, text: str) -> Decimal | None:
        if not text:
            return None
        try:
            return _amount(text)
        except FieldError as exc:
            self.error(column, exc.reason)
            return None

    def date(self, column: str, text: str) -> date | None:
        if not text:
            self.error(column, "required field is empty")
            return None
        try:
            return self.sheet.dates[text]
        except FieldError as exc:
            self.error(column, exc.reason)
            return None

    def integer(self, column: str, text: str, required: bool) -> int | None:
        if not text:
            if required:
                self.error(column, "required field is empty")
            return None
        try:
            value = _int(text, column)
        except FieldError as exc:
            self.error(column, exc.reason)
            return None
        if value < 0:
            self.error(column, f"{column} {value} is negative")
        return value
