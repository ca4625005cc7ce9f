"""What a parsed bank statement is (per-account statements of one file) and how a statement file is
refused (every error with its file, line and field); the field parsers both formats share."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Literal

from events.bank import BankLine
from ledger.core.money import MoneyError, money

STATEMENT_COLUMNS: tuple[str, ...] = (
    "account",
    "value_date",
    "amount",
    "reference",
    "balance_after",
)
"""The pinned bank statement columns, in SPEC §6 order (the order the writer uses)."""

StatementFormat = Literal["csv", "camt.053"]

CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053."
DATE_PATTERN = re.compile(r"\d{4}-\d{2}-\d{2}")
PLAIN_AMOUNT = re.compile(r"[+-]?\d+(\.\d+)?")
"""An amount as SPEC §6 writes it: no thousands separators, no exponent."""


@dataclass(frozen=True, slots=True)
class StatementError:
    """One reason a statement file is rejected. ``row`` is the CSV line (header = 1) or the
    camt.053 location (``Stmt 1 Ntry 3``); empty for the file as a whole."""

    file: str
    row: str
    field: str
    reason: str

    def __str__(self) -> str:
        where = self.row or "file"
        what = f", field {self.field}" if self.field else ""
        return f"{self.file}: {where}{what}: {self.reason}"


class StatementRejected(ValueError):
    """A statement file with at least one error; ``errors`` lists every one, in file order."""

    def __init__(self, errors: Sequence[StatementError]) -> None:
        self.errors: tuple[StatementError, ...] = tuple(errors)
        shown = "\n".join(f"  {e}" for e in self.errors[:100])
        more = f"\n  ... and {len(self.errors) - 100} more" if len(self.errors) > 100 else ""
        super().__init__(f"statement rejected with {len(self.errors)} error(s):\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class AccountStatement:
    """The movements of one bank account over a period, as the custodian reported them.

    ``account`` is the ledger account; ``bank_account`` the identifier in the file; ``first_row``
    where the account first appears (for errors about the account itself)."""

    account: str
    bank_account: str
    period_start: date
    period_end: date
    lines: tuple[BankLine, ...]
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    statement_id: str | None = None
    first_row: str = ""


@dataclass(frozen=True, slots=True)
class StatementFile:
    """A parsed statement file: its name, content hash, format and one statement per account."""

    file: str
    sha256: str
    format: StatementFormat
    statements: tuple[AccountStatement, ...] = field(default=())


class FieldError(ValueError):
    """A field's value is wrong; ``field`` names it where the caller does not know which."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.field = field


def iso_date(text: str) -> date:
    if not DATE_PATTERN.fullmatch(text):
        raise FieldError(f"date {text!r} is not ISO YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise FieldError(f"date {text!r} does not exist") from None


def parse_amount(text: str, what: str) -> Decimal:
    if not PLAIN_AMOUNT.fullmatch(text):
        raise FieldError(f"{what} {text!r} is not a plain decimal (sign, digits, point)")
    try:
        return money(text, what)
    except MoneyError as exc:
        raise FieldError(str(exc)) from None


def balances_of(lines: Sequence[BankLine]) -> tuple[Decimal | None, Decimal | None]:
    """Opening and closing balance implied by the lines' ``balance_after`` (in file order): the
    first known balance less the movements up to it, the last known plus the movements after it.
    ``(None, None)`` when no line carries a balance."""
    known = [i for i, line in enumerate(lines) if line.balance_after is not None]
    if not known:
        return None, None
    first, last = known[0], known[-1]
    first_bal, last_bal = lines[first].balance_after, lines[last].balance_after
    assert first_bal is not None and last_bal is not None
    opening = first_bal - sum((line.amount for line in lines[: first + 1]), Decimal("0.00"))
    closing = last_bal + sum((line.amount for line in lines[last + 1 :]), Decimal("0.00"))
    return opening, closing


def statement_period(
    lines: Sequence[BankLine], start: date | None, end: date | None, where: str
) -> tuple[date, date]:
    dates = [line.value_date for line in lines]
    lo = start or (min(dates) if dates else end)
    hi = end or (max(dates) if dates else start)
    if lo is None or hi is None:
        raise FieldError(f"{where}: no period given and no entries to take it from")
    return lo, hi


def file_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
