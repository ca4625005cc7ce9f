"""Boarding and servicer tapes (SPEC §6): parsing, validation and writing.

The CSV formats are pinned — external parties produce them — so parsing is strict about the
pinned columns and lenient about everything else:

* the header must name every pinned column (any order); **extra columns are kept**, per row, in
  ``extra: dict[str, str]``;
* amounts are decimal strings in CNY with at most two decimals (``1234.5``, ``1234.50``; no
  thousands separators, no exponent); rates are decimal fractions (``0.0488``, never ``4.88``);
  dates ISO ``YYYY-MM-DD``; ``prepayment`` is ``true``/``false``; unused fields are empty;
* surrounding whitespace in a field is ignored; a UTF-8 byte-order mark is accepted.

Parsing **collects every error** instead of stopping at the first: each is a :class:`TapeError`
naming the file, the row, the field and the reason, and one :class:`TapeRejected` carries them all.
``TapeError.row`` is the **1-based physical line number in the file where the record starts**, the
header being line 1 — so the first data record is line 2, which is also its row number in a
spreadsheet. Header problems are reported on line 1; a file that cannot be read as UTF-8 on line 0.

Stages:

1. :func:`parse_boarding_tape` / :func:`parse_servicer_tape` — syntax and per-row rules that need
   nothing but the row itself (types, required fields per record type, ordering of dates) plus
   within-file uniqueness of boarding ``loan_id``; they also compute the content hash
   (SHA-256 of the file's bytes) for idempotent re-import. :func:`scan_boarding_tape` /
   :func:`scan_servicer_tape` do the same without raising: the rows that parse and every error,
   for callers that add their own checks to one combined rejection (``ledger/servicing.py``).
2. :func:`check_servicer_rows` — the semantic checks that need loan state: a **pure function** of
   the parsed rows, a ``Mapping[str, LoanSnapshot]`` and the open collection period.

:func:`validate_servicer_tape` runs both and raises one :class:`TapeRejected` with everything.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import IO, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ledger.amortisation import Amortization
from ledger.money import Money, Rate

__all__ = [
    "BOARDING_COLUMNS",
    "SERVICER_COLUMNS",
    "Amortization",
    "BoardingRow",
    "BoardingTape",
    "LoanSnapshot",
    "LoanStatus",
    "RecordType",
    "ServicerRow",
    "ServicerTape",
    "TapeError",
    "TapeRejected",
    "check_boarding_rows",
    "check_servicer_rows",
    "content_hash",
    "format_boarding_csv",
    "format_servicer_csv",
    "parse_boarding_tape",
    "parse_servicer_tape",
    "read_boarding_tape",
    "read_servicer_tape",
    "scan_boarding_tape",
    "scan_servicer_tape",
    "sniff_tape_kind",
    "trusted",
    "validate_servicer_tape",
    "write_boarding_csv",
    "write_servicer_csv",
]

BOARDING_COLUMNS: tuple[str, ...] = (
    "loan_id",
    "borrower_id",
    "origination_date",
    "maturity_date",
    "original_principal",
    "outstanding_principal",
    "interest_rate",
    "amortization",
    "payment_day",
    "remaining_term_months",
    "days_past_due",
)
"""The pinned boarding-tape columns, in SPEC §6 order (the order the writer uses)."""

SERVICER_COLUMNS: tuple[str, ...] = (
    "record_type",
    "loan_id",
    "value_date",
    "principal",
    "interest",
    "fees",
    "prepayment",
    "days_past_due",
    "reason",
    "reference",
)
"""The pinned servicer-tape columns, in SPEC §6 order (the order the writer uses)."""


# --- models ---------------------------------------------------------------------------------------


class RecordType(StrEnum):
    """Servicer-tape record types (SPEC §6)."""

    COLLECTION = "COLLECTION"
    DELINQUENCY = "DELINQUENCY"
    DEFAULT = "DEFAULT"
    RECOVERY = "RECOVERY"
    WRITE_OFF = "WRITE_OFF"
    REPURCHASE = "REPURCHASE"


class LoanStatus(StrEnum):
    """Loan status as the servicer-tape checks see it (the loan projection's coarse status)."""

    PERFORMING = "performing"
    DELINQUENT = "delinquent"
    DEFAULTED = "defaulted"
    REPURCHASED = "repurchased"
    WRITTEN_OFF = "written_off"
    PAID_OFF = "paid_off"


GONE: frozenset[LoanStatus] = frozenset(
    {LoanStatus.REPURCHASED, LoanStatus.WRITTEN_OFF, LoanStatus.PAID_OFF}
)
"""Statuses of a loan that has left the pool for good."""

_FROZEN = ConfigDict(frozen=True, extra="forbid")
_M = TypeVar("_M", bound=BaseModel)


class BoardingRow(BaseModel):
    """One loan of a boarding tape (SPEC §6)."""

    model_config = _FROZEN

    loan_id: str = Field(min_length=1)
    borrower_id: str = Field(min_length=1)
    origination_date: date
    maturity_date: date
    original_principal: Money
    outstanding_principal: Money
    interest_rate: Rate
    amortization: Amortization
    payment_day: int = Field(ge=1, le=31)
    remaining_term_months: int = Field(ge=0)
    days_past_due: int = Field(ge=0)
    extra: dict[str, str] = Field(default_factory=dict)


class ServicerRow(BaseModel):
    """One record of a monthly servicer tape (SPEC §6). Unused fields are ``None``.

    Amount fields by record type (checked by :func:`parse_servicer_tape`):

    ============ ===================================================================================
    COLLECTION   ``principal``, ``interest``, ``fees`` (at least one, total > 0; missing = 0),
                 ``prepayment`` required; ``days_past_due`` optional = days past due *after* the
                 collection (``0`` = the collection brings the loan current).
    DELINQUENCY  ``days_past_due`` required; no amounts.
    DEFAULT      ``principal`` optional = the outstanding principal at default; ``days_past_due``
                 and ``reason`` optional.
    RECOVERY     cash recovered on a defaulted or written-off loan: ``principal``/``interest``/
                 ``fees``, total > 0.
    WRITE_OFF    ``principal`` required (≥ 0) = the principal written off.
    REPURCHASE   ``principal`` required (> 0) = principal repurchased (the loan's whole outstanding
                 principal), ``interest`` optional = accrued interest in the price; ``reason``
                 required.
    ============ ===================================================================================
    """

    model_config = _FROZEN

    record_type: RecordType
    loan_id: str = Field(min_length=1)
    value_date: date
    principal: Money | None = None
    interest: Money | None = None
    fees: Money | None = None
    prepayment: bool | None = None
    days_past_due: int | None = Field(default=None, ge=0)
    reason: str | None = None
    reference: str | None = None
    extra: dict[str, str] = Field(default_factory=dict)


_BOARDING_FIELDS = tuple(BoardingRow.model_fields)
_SERVICER_FIELDS = tuple(ServicerRow.model_fields)


class LoanSnapshot(BaseModel):
    """What the servicer-tape checks need to know about a loan before the tape is applied.

    ``outstanding_principal`` is the contractual principal still owed (for a defaulted loan: not
    yet recovered or written off).
    """

    model_config = _FROZEN

    outstanding_principal: Money
    status: LoanStatus
    days_past_due: int = Field(default=0, ge=0)


def trusted(cls: type[_M], values: dict[str, Any]) -> _M:
    """Build a row model from values that are already exactly typed and checked (by this module's
    parsers or the simulator), skipping pydantic validation: same result as ``model_construct``
    with every field given, at a third of the cost (tested against it)."""
    obj = cls.__new__(cls)
    object.__setattr__(obj, "__dict__", values)
    object.__setattr__(obj, "__pydantic_fields_set__", set(values))
    object.__setattr__(obj, "__pydantic_extra__", None)
    object.__setattr__(obj, "__pydantic_private__", None)
    return obj


@dataclass(frozen=True, slots=True)
class TapeError:
    """One reason a tape is rejected. ``row`` is the 1-based line number in the file (header = 1;
    0 = the file as a whole); ``field`` is the column name (empty for whole-row problems)."""

    file: str
    row: int
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"line {self.row}" if self.row else "file"
        what = f", field {self.field}" if self.field else ""
        return f"{self.file}: {where}{what}: {self.reason}"


class TapeRejected(ValueError):
    """A tape with at least one error; ``errors`` lists every one, in file order."""

    def __init__(self, errors: Sequence[TapeError]) -> None:
        self.errors: tuple[TapeError, ...] = tuple(errors)
        head = f"tape rejected with {len(self.errors)} error(s)"
        shown = "\n".join(f"  {e}" for e in self.errors[:200])
        more = f"\n  ... and {len(self.errors) - 200} more" if len(self.errors) > 200 else ""
        super().__init__(f"{head}:\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class BoardingTape:
    """A parsed boarding tape: ``lines[i]`` is the file line of ``rows[i]``."""

    file: str
    sha256: str
    rows: tuple[BoardingRow, ...]
    lines: tuple[int, ...] = field(repr=False)


@dataclass(frozen=True, slots=True)
class ServicerTape:
    """A parsed servicer tape: ``lines[i]`` is the file line of ``rows[i]``."""

    file: str
    sha256: str
    rows: tuple[ServicerRow, ...]
    lines: tuple[int, ...] = field(repr=False)


# --- field parsers --------------------------------------------------------------------------------

_AMOUNT = re.compile(r"[0-9]+(?:\.[0-9]{1,2})?")
_NEG_AMOUNT = re.compile(r"-[0-9]+(?:\.[0-9]+)?")
_DECIMAL = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")
_INT = re.compile(r"-?[0-9]+")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_FEN = Decimal("0.01")
_RECORD_TYPES = {r.value: r for r in RecordType}
_AMORTIZATIONS = {a.value: a for a in Amortization}


class _FieldError(Exception):
    def __init__(self, reason: str) -> None:
        self.reason = reason


def _amount(text: str) -> Decimal:
    if _AMOUNT.fullmatch(text):
        if len(text) > 3 and text[-3] == ".":
            return Decimal(text)
        return Decimal(text).quantize(_FEN)
    if _NEG_AMOUNT.fullmatch(text):
        raise _FieldError(f"negative amount {text!r}: amounts are not signed")
    if _DECIMAL.fullmatch(text) and len(text.partition(".")[2]) > 2:
        raise _FieldError(f"amount {text!r} has more than 2 decimals")
    raise _FieldError(f"non-numeric amount {text!r}: expected a decimal string like 1234.56")


def _rate(text: str) -> Decimal:
    if not _DECIMAL.fullmatch(text):
        raise _FieldError(f"non-numeric rate {text!r}: expected a decimal fraction like 0.0488")
    value = Decimal(text)
    if value < 0:
        raise _FieldError(f"negative rate {text!r}")
    if value >= 1:
        raise _FieldError(f"rate {text!r} is not a decimal fraction (0.0488 means 4.88%)")
    return value


def _int(text: str, what: str) -> int:
    if not _INT.fullmatch(text):
        raise _FieldError(f"{what} {text!r} is not a whole number")
    return int(text)


class _Dates(dict[str, date]):
    """ISO date parser with a cache: a tape repeats a few dozen dates over many rows."""

    def __missing__(self, text: str) -> date:
        if not _DATE.fullmatch(text):
            raise _FieldError(f"date {text!r} is not ISO YYYY-MM-DD")
        try:
            value = date.fromisoformat(text)
        except ValueError:
            raise _FieldError(f"date {text!r} does not exist") from None
        self[text] = value
        return value


def _bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise _FieldError(f"{text!r} is not true or false")


# --- CSV reading ----------------------------------------------------------------------------------


def content_hash(data: bytes) -> str:
    """SHA-256 of a tape's bytes, lowercase hex: the idempotency key of a tape import."""
    return hashlib.sha256(data).hexdigest()


@dataclass
class _Sheet:
    """Reading state of one CSV: its name, the errors so far and a date cache."""

    file: str
    errors: list[TapeError] = field(default_factory=list)
    dates: _Dates = field(default_factory=_Dates)

    def error(self, row: int, column: str, reason: str) -> None:
        self.errors.append(TapeError(self.file, row, column, reason))


def _records(
    stream: IO[bytes], sheet: _Sheet, pinned: tuple[str, ...]
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
        extra = {n: values[i].strip() for i, n in extra_index} if extra_index else {}
        yield line, [values[i].strip() for i in index], extra


def _open(source: str | Path | bytes, file: str | None) -> tuple[IO[bytes], str, str]:
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


class _Row:
    """Parses the fields of one record, collecting ``(column, reason)`` errors."""

    __slots__ = ("bad", "line", "sheet")

    def __init__(self, sheet: _Sheet, line: int) -> None:
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
        except _FieldError as exc:
            self.error(column, exc.reason)
            return None

    def date(self, column: str, text: str) -> date | None:
        if not text:
            self.error(column, "required field is empty")
            return None
        try:
            return self.sheet.dates[text]
        except _FieldError as exc:
            self.error(column, exc.reason)
            return None

    def integer(self, column: str, text: str, required: bool) -> int | None:
        if not text:
            if required:
                self.error(column, "required field is empty")
            return None
        try:
            value = _int(text, column)
        except _FieldError as exc:
            self.error(column, exc.reason)
            return None
        if value < 0:
            self.error(column, f"{column} {value} is negative")
        return value


# --- boarding tape --------------------------------------------------------------------------------


def _boarding_row(
    line: int, v: list[str], extra: dict[str, str], sheet: _Sheet
) -> BoardingRow | None:
    (
        t_loan,
        t_borrower,
        t_orig,
        t_mat,
        t_original,
        t_outstanding,
        t_rate,
        t_method,
        t_day,
        t_term,
        t_dpd,
    ) = v
    r = _Row(sheet, line)
    loan_id = r.required("loan_id", t_loan)
    borrower_id = r.required("borrower_id", t_borrower)
    origination = r.date("origination_date", t_orig)
    maturity = r.date("maturity_date", t_mat)
    if not t_original:
        r.error("original_principal", "required field is empty")
    original = r.amount("original_principal", t_original)
    if not t_outstanding:
        r.error("outstanding_principal", "required field is empty")
    outstanding = r.amount("outstanding_principal", t_outstanding)
    rate: Decimal | None = None
    if not t_rate:
        r.error("interest_rate", "required field is empty")
    else:
        try:
            rate = _rate(t_rate)
        except _FieldError as exc:
            r.error("interest_rate", exc.reason)
    method = _AMORTIZATIONS.get(t_method)
    if method is None:
        if t_method:
            allowed = ", ".join(_AMORTIZATIONS)
            r.error("amortization", f"amortization {t_method!r} is not one of {allowed}")
        else:
            r.error("amortization", "required field is empty")
    day = r.integer("payment_day", t_day, True)
    if day is not None and not 1 <= day <= 31:
        r.error("payment_day", f"payment_day {day} is not in 1..31")
    term = r.integer("remaining_term_months", t_term, True)
    dpd = r.integer("days_past_due", t_dpd, True)

    if origination is not None and maturity is not None and maturity <= origination:
        r.error(
            "maturity_date",
            f"maturity_date {maturity} is not after origination_date {origination}",
        )
    if original is not None and original <= 0:
        r.error("original_principal", "original_principal must be positive")
    if original is not None and outstanding is not None and outstanding > original:
        r.error(
            "outstanding_principal",
            f"outstanding_principal {outstanding} exceeds original_principal {original}",
        )
    if term == 0 and outstanding and dpd == 0:
        r.error(
            "remaining_term_months",
            "remaining_term_months is 0 with principal outstanding, yet days_past_due is 0",
        )
    if r.bad:
        return None
    return trusted(
        BoardingRow,
        {
            "loan_id": loan_id,
            "borrower_id": borrower_id,
            "origination_date": origination,
            "maturity_date": maturity,
            "original_principal": original,
            "outstanding_principal": outstanding,
            "interest_rate": rate,
            "amortization": method,
            "payment_day": day,
            "remaining_term_months": term,
            "days_past_due": dpd,
            "extra": extra,
        },
    )


def check_boarding_rows(
    rows: Sequence[BoardingRow], file: str = "<rows>", lines: Sequence[int] | None = None
) -> list[TapeError]:
    """Whole-tape checks on boarding rows built in code (pure): duplicate ``loan_id``.

    :func:`parse_boarding_tape` applies the same rule while reading. ``lines`` gives each row's
    line number (default: as if row ``i`` were on line ``i + 2``).
    """
    where = list(lines) if lines is not None else [i + 2 for i in range(len(rows))]
    first: dict[str, int] = {}
    errors = []
    for row, line in zip(rows, where, strict=True):
        if row.loan_id in first:
            errors.append(
                TapeError(
                    file,
                    line,
                    "loan_id",
                    f"duplicate loan_id {row.loan_id!r} (first on line {first[row.loan_id]})",
                )
            )
        else:
            first[row.loan_id] = line
    return errors


def scan_boarding_tape(
    source: str | Path | bytes, file: str | None = None
) -> tuple[BoardingTape, list[TapeError]]:
    """Read a whole boarding tape without raising: the rows that parse and every error, in line
    order (syntax, per-row rules and duplicate ``loan_id``; a duplicate row still parses, so it is
    among the rows). For callers that add their own checks to one combined rejection, such as the
    eligibility checks of :func:`ledger.servicing.board_pool`."""
    stream, name, sha256 = _open(source, file)
    sheet = _Sheet(name)
    rows: list[BoardingRow] = []
    lines: list[int] = []
    first: dict[str, int] = {}
    with stream:
        for line, values, extra in _records(stream, sheet, BOARDING_COLUMNS):
            loan_id = values[0]
            if loan_id in first:
                sheet.error(
                    line,
                    "loan_id",
                    f"duplicate loan_id {loan_id!r} (first on line {first[loan_id]})",
                )
            elif loan_id:
                first[loan_id] = line
            row = _boarding_row(line, values, extra, sheet)
            if row is not None:
                rows.append(row)
                lines.append(line)
    tape = BoardingTape(name, sha256, tuple(rows), tuple(lines))
    return tape, sorted(sheet.errors, key=lambda e: e.row)


def parse_boarding_tape(source: str | Path | bytes, file: str | None = None) -> BoardingTape:
    """Read a whole boarding tape (a path, or the file's bytes) and validate every row.

    Raises :class:`TapeRejected` listing every error; on success returns the rows and the SHA-256
    of the file's bytes. ``file`` names the file in errors (default: the path, or ``<bytes>``).
    """
    tape, errors = scan_boarding_tape(source, file)
    if errors:
        raise TapeRejected(errors)
    return tape


def read_boarding_tape(path: str | Path) -> BoardingTape:
    """:func:`parse_boarding_tape` of a file on disk."""
    return parse_boarding_tape(Path(path))


# --- servicer tape --------------------------------------------------------------------------------

_AMOUNT_FIELDS = ("principal", "interest", "fees")


def _servicer_row(
    line: int, v: list[str], extra: dict[str, str], sheet: _Sheet
) -> ServicerRow | None:
    t_kind, t_loan, t_date, t_p, t_i, t_f, t_pre, t_dpd, reason, reference = v
    r = _Row(sheet, line)
    kind = _RECORD_TYPES.get(t_kind)
    if kind is None:
        if t_kind:
            allowed = ", ".join(_RECORD_TYPES)
            r.error("record_type", f"record_type {t_kind!r} is not one of {allowed}")
        else:
            r.error("record_type", "required field is empty")
    loan_id = r.required("loan_id", t_loan)
    value_date = r.date("value_date", t_date)
    principal = r.amount("principal", t_p) if t_p else None
    interest = r.amount("interest", t_i) if t_i else None
    fees = r.amount("fees", t_f) if t_f else None
    prepayment: bool | None = None
    if t_pre:
        try:
            prepayment = _bool(t_pre)
        except _FieldError as exc:
            r.error("prepayment", exc.reason)
    dpd = r.integer("days_past_due", t_dpd, False) if t_dpd else None
    if kind is not None:
        for column, why in _record_rules(kind, v, principal, interest, fees, prepayment):
            r.error(column, why)
    if r.bad:
        return None
    return trusted(
        ServicerRow,
        {
            "record_type": kind,
            "loan_id": loan_id,
            "value_date": value_date,
            "principal": principal,
            "interest": interest,
            "fees": fees,
            "prepayment": prepayment,
            "days_past_due": dpd,
            "reason": reason or None,
            "reference": reference or None,
            "extra": extra,
        },
    )


def _record_rules(
    kind: RecordType,
    v: list[str],
    principal: Decimal | None,
    interest: Decimal | None,
    fees: Decimal | None,
    prepayment: bool | None,
) -> list[tuple[str, str]]:
    """Per-record-type required and forbidden fields; ``v`` are the raw texts, the amounts are
    ``None`` when empty or malformed (malformed ones are reported already). Amounts are never
    negative here, so they total zero exactly when none is positive."""
    _, _, _, t_p, t_i, t_f, t_pre, t_dpd, t_reason, _ = v
    out: list[tuple[str, str]] = []
    given = bool(t_p or t_i or t_f)
    parsed = (not t_p or principal is not None) and (not t_i or interest is not None)
    zero = parsed and (not t_f or fees is not None) and not (principal or interest or fees)

    if kind is RecordType.COLLECTION:
        if not given:
            out.append(("principal", "COLLECTION needs principal, interest or fees"))
        elif zero:
            out.append(("principal", "COLLECTION amounts total zero"))
        if not t_pre:
            out.append(("prepayment", "COLLECTION needs prepayment true or false"))
        elif prepayment is True and not principal:
            out.append(("principal", "a prepayment needs a positive principal"))
        return out
    if kind is RecordType.DELINQUENCY:
        if not t_dpd:
            out.append(("days_past_due", "DELINQUENCY needs days_past_due"))
        unused: tuple[str, ...] = ("principal", "interest", "fees", "prepayment")
    elif kind is RecordType.DEFAULT:
        unused = ("interest", "fees", "prepayment")
    elif kind is RecordType.RECOVERY:
        if not given:
            out.append(
                ("principal", "RECOVERY needs a positive amount (principal, interest or fees)")
            )
        elif zero:
            out.append(("principal", "RECOVERY needs a positive amount; these total zero"))
        unused = ("prepayment",)
    elif kind is RecordType.WRITE_OFF:
        if not t_p:
            out.append(("principal", "WRITE_OFF needs the principal written off"))
        unused = ("interest", "fees", "prepayment")
    else:  # REPURCHASE
        if not t_p:
            out.append(("principal", "REPURCHASE needs the principal repurchased"))
        elif principal == 0:
            out.append(("principal", "REPURCHASE principal must be positive"))
        if not t_reason:
            out.append(("reason", "REPURCHASE needs a reason"))
        unused = ("fees", "prepayment")
    if t_p or t_i or t_f or t_pre:
        raw = {"principal": t_p, "interest": t_i, "fees": t_f, "prepayment": t_pre}
        out.extend(
            (column, f"{kind} does not use {column}: leave it empty")
            for column in unused
            if raw[column]
        )
    return out


def scan_servicer_tape(
    source: str | Path | bytes, file: str | None = None
) -> tuple[ServicerTape, list[TapeError]]:
    """Read a whole servicer tape without raising: the rows that parse and every syntax and
    per-record-type error, in line order. The first stage of :func:`validate_servicer_tape`, for
    callers that run :func:`check_servicer_rows` themselves (with loan state from a store)."""
    stream, name, sha256 = _open(source, file)
    sheet = _Sheet(name)
    rows: list[ServicerRow] = []
    lines: list[int] = []
    with stream:
        for line, values, extra in _records(stream, sheet, SERVICER_COLUMNS):
            row = _servicer_row(line, values, extra, sheet)
            if row is not None:
                rows.append(row)
                lines.append(line)
    tape = ServicerTape(name, sha256, tuple(rows), tuple(lines))
    return tape, sheet.errors


def parse_servicer_tape(source: str | Path | bytes, file: str | None = None) -> ServicerTape:
    """Read a whole servicer tape (a path, or the file's bytes) and check every row's syntax and
    per-record-type fields. Raises :class:`TapeRejected` listing every error.

    The checks that need loan state are :func:`check_servicer_rows` (or use
    :func:`validate_servicer_tape` for both in one pass with one combined error list).
    """
    tape, errors = scan_servicer_tape(source, file)
    if errors:
        raise TapeRejected(errors)
    return tape


def read_servicer_tape(path: str | Path) -> ServicerTape:
    """:func:`parse_servicer_tape` of a file on disk."""
    return parse_servicer_tape(Path(path))


def _dup_key(row: ServicerRow) -> tuple[object, ...]:
    return (
        row.record_type,
        row.loan_id,
        row.value_date,
        row.principal,
        row.interest,
        row.fees,
        row.days_past_due,
        row.reference,
    )


def check_servicer_rows(
    rows: Sequence[ServicerRow],
    loans: Mapping[str, LoanSnapshot],
    period: tuple[date, date],
    *,
    file: str = "<rows>",
    lines: Sequence[int] | None = None,
) -> list[TapeError]:
    """Semantic checks of servicer rows against loan state (pure; returns errors, never raises).

    ``loans`` is each loan's state before the tape; ``period`` the open collection period
    ``(start, end)``, both inclusive; ``lines`` each row's line in the file (default ``i + 2``).
    Rows are applied in order, so a later row sees the effect of earlier rows of the same file
    (a DEFAULT then a RECOVERY of the same loan is fine; two collections together above the
    outstanding principal are not). The rules, each reported on the field named:

    * ``loan_id`` — **unknown loan**: not in ``loans`` (no further checks on that row).
    * ``principal``/``interest``/``fees`` — **negative amount** (rows built in code, not parsed).
    * ``value_date`` — **outside the open collection period**.
    * ``reference`` — **duplicate record**: same record type, loan, value date, principal,
      interest, fees, days past due and reference as an earlier row of the file.
    * ``principal`` — **principal above the outstanding balance**: for COLLECTION, DEFAULT,
      WRITE_OFF and REPURCHASE, principal greater than the loan's outstanding principal less the
      principal already collected, written off or repurchased by earlier rows of this file;
      likewise a RECOVERY's principal on a defaulted loan not written off (what it recovers is
      the defaulted principal outstanding, which it reduces for later rows: a WRITE_OFF after a
      RECOVERY takes what is left).
    * **Defaulted loan reported as performing.** Default is sticky (once defaulted, always
      defaulted: seed 004 L2792–L2797; seed 001 defines it as contract termination, L18725–L18731).
      A loan is defaulted when its snapshot status is ``defaulted``/``written_off`` or an earlier
      row of this file is its DEFAULT. On such a loan it is an error to report
      ``DELINQUENCY`` with ``days_past_due`` 0 (field ``days_past_due``), a ``COLLECTION`` with
      ``days_past_due`` 0, i.e. marked as curing it (field ``days_past_due``), or a second
      ``DEFAULT`` (field ``record_type``). Cash on a defaulted loan is a RECOVERY; a COLLECTION
      without a curing ``days_past_due`` is accepted (arrears paid after termination).
    * ``record_type`` — **repurchase of a loan already gone**: REPURCHASE of a loan repurchased,
      written off or paid off (by status, or by an earlier REPURCHASE/WRITE_OFF row of the file).
      Likewise COLLECTION, DELINQUENCY, DEFAULT and WRITE_OFF of a gone loan.
    * ``record_type`` — RECOVERY or WRITE_OFF of a loan that is not defaulted (nor written off,
      for a recovery): losses are only recognised after a default.
    """
    start, end = period
    where = list(lines) if lines is not None else [i + 2 for i in range(len(rows))]
    errors: list[TapeError] = []
    remaining: dict[str, Decimal] = {}
    status: dict[str, LoanStatus] = {}
    seen: dict[tuple[object, ...], int] = {}

    for row, line in zip(rows, where, strict=True):

        def err(column: str, reason: str, line: int = line) -> None:
            errors.append(TapeError(file, line, column, reason))

        kind = row.record_type
        loan_id = row.loan_id
        snap = loans.get(loan_id)
        if snap is None:
            err("loan_id", f"unknown loan {loan_id!r}")
            continue
        for column in _AMOUNT_FIELDS:
            value: Decimal | None = getattr(row, column)
            if value is not None and value < 0:
                err(column, f"negative amount {value}")
        if not start <= row.value_date <= end:
            err(
                "value_date",
                f"value_date {row.value_date} is outside the open collection period "
                f"{start} to {end}",
            )
        key = _dup_key(row)
        if key in seen:
            err("reference", f"duplicate record: same as line {seen[key]}")
        else:
            seen[key] = line

        state = status.get(loan_id, snap.status)
        left = remaining.get(loan_id, snap.outstanding_principal)
        defaulted = state in (LoanStatus.DEFAULTED, LoanStatus.WRITTEN_OFF)
        gone = state in GONE
        principal = row.principal if row.principal is not None else Decimal(0)

        if gone and kind is not RecordType.RECOVERY:
            verb = "repurchase of" if kind is RecordType.REPURCHASE else f"{kind.value} on"
            err("record_type", f"{verb} a loan already gone (status {state.value})")
            continue
        if kind is RecordType.RECOVERY and not defaulted:
            err("record_type", f"RECOVERY on a loan that is not defaulted (status {state.value})")
        if kind is RecordType.WRITE_OFF and not defaulted:
            err("record_type", f"WRITE_OFF of a loan that is not defaulted (status {state.value})")
        if defaulted and row.days_past_due == 0:
            if kind is RecordType.DELINQUENCY:
                err("days_past_due", "defaulted loan reported as performing (days_past_due 0)")
            elif kind is RecordType.COLLECTION:
                err(
                    "days_past_due",
                    "COLLECTION marked as curing a defaulted loan (days_past_due 0): "
                    "default is sticky",
                )
        if kind is RecordType.DEFAULT and defaulted:
            err("record_type", "DEFAULT of a loan already defaulted")

        if kind in (
            RecordType.COLLECTION,
            RecordType.DEFAULT,
            RecordType.WRITE_OFF,
            RecordType.REPURCHASE,
        ):
            if principal > left:
                already = snap.outstanding_principal - left
                note = f" after {already} on earlier lines of this file" if already else ""
                err(
                    "principal",
                    f"principal {principal} exceeds the outstanding principal {left}{note}",
                )
            elif kind is not RecordType.DEFAULT:
                remaining[loan_id] = left - principal
        elif kind is RecordType.RECOVERY and state is LoanStatus.DEFAULTED and principal:
            if principal > left:
                err(
                    "principal",
                    f"recovered principal {principal} exceeds the defaulted principal "
                    f"outstanding {left}: recovered interest and fees go in their own columns",
                )
            else:
                remaining[loan_id] = left - principal

        if kind is RecordType.DEFAULT:
            status[loan_id] = LoanStatus.DEFAULTED
        elif kind is RecordType.WRITE_OFF:
            status[loan_id] = LoanStatus.WRITTEN_OFF
        elif kind is RecordType.REPURCHASE:
            status[loan_id] = LoanStatus.REPURCHASED
    return errors


def validate_servicer_tape(
    source: str | Path | bytes,
    loans: Mapping[str, LoanSnapshot],
    period: tuple[date, date],
    file: str | None = None,
) -> ServicerTape:
    """Parse a servicer tape and run :func:`check_servicer_rows` on every row that parsed.

    Raises one :class:`TapeRejected` with the syntax and the semantic errors together, ordered by
    line; returns the tape (rows + SHA-256) when it is clean.
    """
    tape, errors = scan_servicer_tape(source, file)
    errors = errors + check_servicer_rows(
        tape.rows, loans, period, file=tape.file, lines=tape.lines
    )
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    return tape


# --- writing --------------------------------------------------------------------------------------


def _text(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _extra_columns(rows: Iterable[BoardingRow | ServicerRow], pinned: tuple[str, ...]) -> list[str]:
    names: dict[str, None] = {}
    for row in rows:
        for name in row.extra:
            if name not in pinned:
                names.setdefault(name)
    return list(names)


def _format(
    rows: Sequence[BoardingRow] | Sequence[ServicerRow], pinned: tuple[str, ...]
) -> Iterator[str]:
    extra = _extra_columns(rows, pinned)
    buffer = io.StringIO()
    # RFC 4180 line ends: with "\r\n" as terminator the writer also quotes fields holding a bare
    # "\r", which a "\n" terminator would leave unquoted (and the reader would split the record)
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([*pinned, *extra])
    yield buffer.getvalue()
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        d = row.__dict__
        writer.writerow([_text(d[c]) for c in pinned] + [row.extra.get(name, "") for name in extra])
        yield buffer.getvalue()


def format_boarding_csv(rows: Sequence[BoardingRow]) -> str:
    """The boarding tape as CSV text: the SPEC §6 columns in order, then any extra columns."""
    return "".join(_format(rows, BOARDING_COLUMNS))


def format_servicer_csv(rows: Sequence[ServicerRow]) -> str:
    """The servicer tape as CSV text: the SPEC §6 columns in order, then any extra columns."""
    return "".join(_format(rows, SERVICER_COLUMNS))


def _write(chunks: Iterable[str], path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("w", encoding="utf-8", newline="") as out:
        for chunk in chunks:
            out.write(chunk)
            digest.update(chunk.encode("utf-8"))
    return digest.hexdigest()


def write_boarding_csv(rows: Sequence[BoardingRow], path: str | Path) -> str:
    """Write a boarding tape (UTF-8, RFC 4180 ``\\r\\n`` line ends); returns its SHA-256."""
    return _write(_format(rows, BOARDING_COLUMNS), path)


def write_servicer_csv(rows: Sequence[ServicerRow], path: str | Path) -> str:
    """Write a servicer tape (UTF-8, RFC 4180 ``\\r\\n`` line ends); returns its SHA-256."""
    return _write(_format(rows, SERVICER_COLUMNS), path)


Kind = Literal["boarding", "servicer"]


def sniff_tape_kind(header_line: str) -> Kind | None:
    """Which tape a header line belongs to (by its pinned columns), or ``None``."""
    names = {h.strip().lstrip("\ufeff") for h in next(csv.reader([header_line]), [])}
    if set(BOARDING_COLUMNS) <= names:
        return "boarding"
    if set(SERVICER_COLUMNS) <= names:
        return "servicer"
    return None
