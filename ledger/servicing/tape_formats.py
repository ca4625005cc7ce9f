"""Boarding and servicer tapes (SPEC §6): the pinned columns, the row models and the errors.

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

1. :func:`~ledger.servicing.tape_parse.parse_boarding_tape` /
:func:`~ledger.servicing.tape_parse.parse_servicer_tape` — syntax and per-row rules that need
   nothing but the row itself (types, required fields per record type, ordering of dates) plus
   within-file uniqueness of boarding ``loan_id``; they also compute the content hash
   (SHA-256 of the file's bytes) for idempotent re-import. :func:`scan_boarding_tape` /
   :func:`scan_servicer_tape` do the same without raising: the rows that parse and every error,
   for callers that add their own checks to one combined rejection
   (:mod:`ledger.servicing.servicer_import`, :mod:`ledger.servicing.boarding`).
2. :func:`~ledger.servicing.tape_checks.check_servicer_rows` — the semantic checks that need loan
state: a **pure function** of
   the parsed rows, a ``Mapping[str, LoanSnapshot]`` and the open collection period.

:func:`~ledger.servicing.tape_checks.validate_servicer_tape` runs both and raises one
:class:`TapeRejected` with everything."""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from ledger.core.amortisation import Amortization
from ledger.core.money import Money, Rate

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


# --- CSV reading ----------------------------------------------------------------------------------


def content_hash(data: bytes) -> str:
    """SHA-256 of a tape's bytes, lowercase hex: the idempotency key of a tape import."""
    return hashlib.sha256(data).hexdigest()


Kind = Literal["boarding", "servicer"]


def sniff_tape_kind(header_line: str) -> Kind | None:
    """Which tape a header line belongs to (by its pinned columns), or ``None``."""
    names = {h.strip().lstrip("\ufeff") for h in next(csv.reader([header_line]), [])}
    if set(BOARDING_COLUMNS) <= names:
        return "boarding"
    if set(SERVICER_COLUMNS) <= names:
        return "servicer"
    return None
