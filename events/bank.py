"""Bank statements and their reconciliation (SPEC §4 control events, §6 bank statement, issue 6).

The custodian (资金保管机构) reports every movement on a trust bank account. A statement, as
imported, is recorded whole as :class:`BankStatementImported` (one event per account and file,
idempotent by the file's content hash); matching it against the ledger's cash postings on that
account is recorded as :class:`ReconciliationCompleted`, with every match and every break. Neither
posts to the ledger: a break is a question for the trustee, not a correction.

Both live on the stream ``bank-<account>``. Amounts are signed as the bank signs them: a credit to
the trust's bank account is positive, which is the sign of a debit leg on the ledger's asset
account (``ledger/core/accounts.py``).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from events.model import Event, event_type
from ledger.core.money import Money


class BankLine(BaseModel):
    """One movement on the statement, as the bank reported it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    line_no: int = Field(ge=1, description="row of the CSV (header = 1) or entry of the camt.053")
    value_date: date
    amount: Money = Field(description="signed: credit to the trust account positive")
    reference: str = ""
    balance_after: Money | None = None
    extra: dict[str, str] = Field(default_factory=dict, description="columns beyond SPEC §6")


@event_type("BankStatementImported")
class BankStatementImported(Event):
    """A custodian statement for one trust bank account, as received."""

    account: str = Field(min_length=1, description="the ledger account, e.g. trust:collections")
    file_name: str
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    format: Literal["csv", "camt.053"]
    statement_id: str | None = None
    period_start: date
    period_end: date
    opening_balance: Money | None = None
    closing_balance: Money | None = None
    lines: tuple[BankLine, ...]

    def default_stream(self) -> str:
        return f"bank-{self.account}"


class LedgerPosting(BaseModel):
    """One leg of a ledger event on the reconciled account."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    event_id: str
    deal_seq: int
    event_type: str
    value_date: date
    amount: Money
    reference: str = ""


class Match(BaseModel):
    """Bank lines and ledger postings that settle each other (many-to-one either way)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bank_lines: tuple[int, ...] = Field(min_length=1)
    postings: tuple[LedgerPosting, ...] = Field(min_length=1)
    value_date: date
    amount: Money
    rule: str = Field(description="how they were matched, e.g. 'reference', 'date+amount'")


BreakKind = Literal["unmatched_bank", "unmatched_ledger", "amount_difference", "balance_difference"]
"""``amount_difference``: a bank line and a ledger posting with the same reference but different
amounts, one break (``amount`` = bank minus ledger) carrying both ``bank_line`` and ``posting``."""


class Break(BaseModel):
    """Something the bank and the ledger disagree on."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: BreakKind
    value_date: date
    amount: Money = Field(
        description="the unmatched amount; bank minus ledger for an amount_difference; for a "
        "balance_difference the part of bank minus ledger closing balance no other break explains"
    )
    reference: str = ""
    bank_line: int | None = None
    posting: LedgerPosting | None = None
    detail: str = ""


@event_type("ReconciliationCompleted")
class ReconciliationCompleted(Event):
    """The outcome of matching one imported statement against the ledger's postings."""

    account: str = Field(min_length=1)
    statement_event_id: str
    file_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    period_start: date
    period_end: date
    matched: tuple[Match, ...]
    breaks: tuple[Break, ...]
    bank_closing_balance: Money | None = None
    ledger_closing_balance: Money

    def default_stream(self) -> str:
        return f"bank-{self.account}"
