"""Double entry: balanced journal entries of postings between accounts (SPEC §2.4).

Sign convention: a posting's amount is a debit when positive and a credit when negative, so every
entry sums to zero and so does the trial balance at every position. Cash (asset) accounts hold
positive balances; funding, note and payee accounts mirror them with negative balances.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, field_validator, model_validator

from ledger.core.money import ZERO, Money


class UnbalancedEntry(ValueError):
    """A journal entry whose postings do not sum to zero."""


class Posting(BaseModel):
    """One leg of an entry: ``amount`` > 0 debits ``account``, < 0 credits it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    account: str
    amount: Money

    @field_validator("account")
    @classmethod
    def _account_name(cls, v: str) -> str:
        if not v or v.strip() != v or " " in v:
            raise ValueError(f"account name {v!r} must be non-empty without spaces")
        return v


class JournalEntry(BaseModel):
    """A balanced set of postings, with a memo saying why (e.g. a waterfall step's clause)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    postings: tuple[Posting, ...]
    memo: str = ""

    @model_validator(mode="after")
    def _balanced(self) -> JournalEntry:
        if len(self.postings) < 2:
            raise UnbalancedEntry("a journal entry needs at least two postings")
        total = sum((p.amount for p in self.postings), ZERO)
        if total != 0:
            raise UnbalancedEntry(f"postings sum to {total}, not 0 ({self.memo or 'no memo'})")
        return self


def entry_of(legs: Sequence[tuple[str, Decimal]], memo: str = "") -> JournalEntry:
    """A balanced entry from (account, amount) legs of already-exact amounts (event fields).

    Checks the balance itself and skips pydantic's per-field validation: this is on the hot path of
    every projection, and the amounts come from validated ``Money`` fields.
    """
    if len(legs) < 2:
        raise UnbalancedEntry("a journal entry needs at least two postings")
    total = sum((amount for _, amount in legs), ZERO)
    if total != 0:
        raise UnbalancedEntry(f"postings sum to {total}, not 0 ({memo or 'no memo'})")
    postings = tuple(Posting.model_construct(account=a, amount=x) for a, x in legs)
    return JournalEntry.model_construct(postings=postings, memo=memo)


def transfer(debit: str, credit: str, amount: Decimal, memo: str = "") -> JournalEntry:
    """Move ``amount`` into ``debit`` out of ``credit`` (e.g. cash to a reserve account)."""
    return JournalEntry(
        postings=(Posting(account=debit, amount=amount), Posting(account=credit, amount=-amount)),
        memo=memo,
    )


def apply_entries(
    balances: Mapping[str, Decimal], entries: Iterable[JournalEntry]
) -> dict[str, Decimal]:
    """Pure: the balances after posting ``entries``."""
    out = dict(balances)
    for entry in entries:
        for p in entry.postings:
            out[p.account] = out.get(p.account, ZERO) + p.amount
    return out


def trial_balance(balances: Mapping[str, Decimal]) -> Decimal:
    """Sum of every account's balance: zero in a consistent ledger."""
    return sum(balances.values(), ZERO)
