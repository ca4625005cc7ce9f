"""The event catalogue (SPEC §4): what can happen to a trust, as frozen pydantic payloads.

Account names used by the postings follow ``ledger/core/accounts.py``.
"""

from __future__ import annotations

import hashlib
from datetime import date
from decimal import Decimal
from typing import Any

from pydantic import Field, model_validator

from events.model import Event, Payload, event_type
from ledger.core import accounts
from ledger.core.journal import JournalEntry, entry_of
from ledger.core.money import ZERO, Money


@event_type("DealDefined")
class DealDefined(Event):
    """The deal definition in force, recorded with its content hash (SPEC §2.5)."""

    name: str
    content: str
    content_hash: str

    @model_validator(mode="after")
    def _hash_matches(self) -> DealDefined:
        actual = hashlib.sha256(self.content.encode()).hexdigest()
        if actual != self.content_hash:
            raise ValueError(f"content_hash {self.content_hash} does not match content ({actual})")
        return self


@event_type("AdjustmentPosted")
class AdjustmentPosted(Event):
    """A manual, balanced adjustment by the trustee, with its reason."""

    entry: JournalEntry
    reason: str = Field(min_length=1)

    def entries(self) -> tuple[JournalEntry, ...]:
        return (self.entry,)


@event_type("CollectionReceived")
class CollectionReceived(Event):
    """A borrower's payment collected by the servicer (held until remitted to the trust)."""

    loan_id: str
    value_date: date
    principal: Money = ZERO
    interest: Money = ZERO
    fees: Money = ZERO
    prepayment: bool = False
    extra: dict[str, str] = Field(default_factory=dict)
    """The tape row's extra columns (SPEC §6: kept, not rejected); left out of the payload when
    empty, so collections without them keep the payloads and hashes they always had."""

    def payload(self) -> Payload:
        data = self.model_dump(mode="json")
        if not self.extra:
            del data["extra"]
        return data

    @model_validator(mode="after")
    def _non_negative(self) -> CollectionReceived:
        for name in ("principal", "interest", "fees"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        return self

    def default_stream(self) -> str:
        return f"loan-{self.loan_id}"

    def legs(self) -> list[tuple[str, Decimal]]:
        total = self.principal + self.interest + self.fees
        if total == 0:
            return []
        legs = [(accounts.SERVICER_HELD, total)]
        if self.principal:
            legs.append((accounts.POOL_PRINCIPAL, -self.principal))
        if self.interest:
            legs.append((accounts.INTEREST_INCOME, -self.interest))
        if self.fees:
            legs.append((accounts.FEE_INCOME, -self.fees))
        return legs

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo=f"collection {self.loan_id}"),) if legs else ()


@event_type("EventReversed")
class EventReversed(Event):
    """Nets out an earlier event; the original stays in history (SPEC §2.1).

    ``reversed_data`` is the original's payload and ``reversed_entries`` the exact negation of its
    entries, both checked when the reversal is posted, so every projection can net the original
    out from this event alone (balances post the negated entries; loan and pool projections undo
    the original payload).
    """

    reversed_event_id: str
    reversed_type: str
    reversed_data: dict[str, Any] = Field(default_factory=dict)
    reason: str = Field(min_length=1)
    reversed_entries: tuple[JournalEntry, ...] = ()

    def entries(self) -> tuple[JournalEntry, ...]:
        return self.reversed_entries


# the servicing catalogue registers itself on import
from events import servicing as _servicing  # noqa: E402,F401

# isort: split
# the payment-date cycle catalogue registers itself on import
from events import cycle as _cycle  # noqa: E402,F401

# isort: split
# bank statements and reconciliation register themselves on import
from events import bank as _bank  # noqa: E402,F401

# isort: split
# period seals register themselves on import
from events import seal as _seal  # noqa: E402,F401
