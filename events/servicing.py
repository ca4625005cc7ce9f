"""Servicing events (SPEC §4): what the servicer reports, one event per loan-level fact.

Tape record types map one to one (SPEC §6): COLLECTION → :class:`CollectionReceived`
(``events/catalogue.py``), DELINQUENCY → :class:`LoanDelinquencyReported`, DEFAULT →
:class:`LoanDefaulted`, RECOVERY → :class:`RecoveryReceived`, WRITE_OFF → :class:`LoanWrittenOff`,
REPURCHASE → :class:`LoanRepurchased`. Loan events live on the stream ``loan-<loan_id>``.

Postings (``ledger/core/accounts.py``): the pool of performing receivables is ``pool:principal``;
a default moves the loan's balance to ``pool:defaulted``, a write-off takes what is left of it
from there to ``loss:written-off``; cash the servicer collects sits in
``servicer:collections-held`` until it is remitted to the trust account (``trust:collections``).

**Recoveries** (:class:`RecoveryReceived`, schema version 2) carry the tape's split. Recovered
*principal* is the receivable itself coming back: it reduces ``pool:defaulted`` (the defaulted
principal not yet recovered or written off), so that a default, its recoveries and the write-off
of the rest leave nothing there; on a loan already written off it reduces ``loss:written-off``
instead (a recovery of a loss already recognised: the ledger keeps the *net* loss, the loan and
pool projections the gross write-off — net loss is "outstanding balances less vehicle sales
proceeds and any other recoveries", seed 001 L13883-13893). Recovered *interest and fees* are
``income:recoveries``: the deals split collections into recovery principal and recovery income
(``collection_split`` items ``recovery_principal`` / ``recovery_income``, e.g. seed 004 L2454 (d)
and L2740 (c)), and keeping them apart from ``income:interest``/``income:fees`` keeps those the
performing pool's. Version 1 payloads held one lump ``amount``; they are upcast with the whole
amount as principal, which is how the loan projection and the servicer-tape checks always
counted it (it reduced the defaulted principal outstanding).

**Extra columns** of a servicer-tape row are kept on the event it becomes (``extra``, SPEC §6);
the payload leaves ``extra`` out when it is empty, so events without extra columns keep the
payloads (and hashes) they had before the field existed. ``LoanBoarded`` always had it and
always writes it.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from pydantic import Field, model_validator

from events.model import Event, Payload, event_type, upcaster
from ledger.core import accounts
from ledger.core.journal import JournalEntry, entry_of
from ledger.core.money import ZERO, Money, Rate

MAX_DAYS_PAST_DUE = 10_000
"""Days past due beyond any plausible value (some 27 years, longer than any loan of the seeds
and its recovery) are refused, from a tape or a post."""


class LoanEvent(Event):
    """An event about one loan, on that loan's stream."""

    loan_id: str = Field(min_length=1)
    extra: dict[str, str] = Field(default_factory=dict)
    """The tape row's extra columns (SPEC §6: kept, not rejected); left out of the payload when
    empty."""

    def payload(self) -> Payload:
        data = self.model_dump(mode="json")
        if not self.extra:
            del data["extra"]
        return data

    def default_stream(self) -> str:
        return f"loan-{self.loan_id}"

    def legs(self) -> list[tuple[str, Decimal]]:
        # no postings unless the type says so (Event.legs derives them from entries(), which
        # derives entries from legs() here: without this, a report such as
        # LoanDelinquencyReported recursed forever)
        return []

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo=f"{self.type_name} {self.loan_id}"),) if legs else ()


@event_type("LoanBoarded")
class LoanBoarded(LoanEvent):
    """One loan of the pool at cut-off, as the boarding tape gave it (SPEC §6)."""

    borrower_id: str
    origination_date: date
    maturity_date: date
    original_principal: Money
    outstanding_principal: Money
    interest_rate: Rate
    amortization: str
    payment_day: int = Field(ge=1, le=31)
    remaining_term_months: int = Field(ge=0)
    days_past_due: int = Field(ge=0, le=MAX_DAYS_PAST_DUE)
    cut_off_date: date

    def payload(self) -> Payload:
        # written with ``extra`` always, also when empty, since the first LoanBoarded
        return self.model_dump(mode="json")

    def legs(self) -> list[tuple[str, Decimal]]:
        if not self.outstanding_principal:
            return []
        return [
            (accounts.POOL_PRINCIPAL, self.outstanding_principal),
            (accounts.SELLER_CONSIDERATION, -self.outstanding_principal),
        ]


@event_type("PoolBoarded")
class PoolBoarded(Event):
    """The boarding tape as a whole: closes the pool at cut-off (its loans are LoanBoarded)."""

    file_name: str
    file_sha256: str
    cut_off_date: date
    loan_count: int = Field(ge=0)
    aggregate_principal: Money


@event_type("LoanDelinquencyReported")
class LoanDelinquencyReported(LoanEvent):
    value_date: date
    days_past_due: int = Field(ge=0, le=MAX_DAYS_PAST_DUE)
    reference: str | None = None


@event_type("LoanDefaulted")
class LoanDefaulted(LoanEvent):
    """The loan meets the deal's default definition; ``principal`` is its balance then."""

    value_date: date
    principal: Money
    days_past_due: int | None = Field(default=None, ge=0, le=MAX_DAYS_PAST_DUE)
    reason: str | None = None
    reference: str | None = None

    def legs(self) -> list[tuple[str, Decimal]]:
        if not self.principal:
            return []
        return [
            (accounts.POOL_DEFAULTED, self.principal),
            (accounts.POOL_PRINCIPAL, -self.principal),
        ]


@event_type("RecoveryReceived", version=2)
class RecoveryReceived(LoanEvent):
    """Cash recovered on a defaulted (or written-off) loan, collected by the servicer, split as the
    tape's RECOVERY row gives it (SPEC §6: principal, interest, fees).

    ``amount`` is the cash received, always ``principal + interest + fees``: when omitted it is
    that sum; given alone (a version 1 payload, a hand post of one lump) it is all principal.
    ``written_off`` says the loan's default had been written off before the recovery, which moves
    the principal's posting from ``pool:defaulted`` to ``loss:written-off`` (module notes).
    """

    value_date: date
    principal: Money = ZERO
    interest: Money = ZERO
    fees: Money = ZERO
    amount: Money = ZERO
    written_off: bool = False
    reference: str | None = None

    @model_validator(mode="after")
    def _split(self) -> RecoveryReceived:
        for name in ("principal", "interest", "fees"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        parts = self.principal + self.interest + self.fees
        if not parts and self.amount:
            self.__dict__["principal"] = self.amount
        elif not self.amount:
            self.__dict__["amount"] = parts
        elif self.amount != parts:
            raise ValueError(f"amount {self.amount} is not principal + interest + fees ({parts})")
        if self.amount <= 0:
            raise ValueError("amount must be positive")
        return self

    def legs(self) -> list[tuple[str, Decimal]]:
        legs = [(accounts.SERVICER_HELD, self.amount)]
        if self.principal:
            pool = accounts.WRITTEN_OFF if self.written_off else accounts.POOL_DEFAULTED
            legs.append((pool, -self.principal))
        income = self.interest + self.fees
        if income:
            legs.append((accounts.RECOVERY_INCOME, -income))
        return legs


@upcaster("RecoveryReceived", 1)
def _recovery_v1_to_v2(data: Payload) -> Payload:
    """Version 1 recorded one lump ``amount`` (the tape's principal + interest + fees together);
    everything counted it as principal recovered (the loan projection's defaulted principal
    outstanding, the write-off limit), so version 2 reads it as principal."""
    return {
        **data,
        "principal": data["amount"],
        "interest": "0.00",
        "fees": "0.00",
        "written_off": False,
    }


@event_type("LoanWrittenOff")
class LoanWrittenOff(LoanEvent):
    """What remains of a defaulted loan's balance is written off."""

    value_date: date
    amount: Money
    reason: str | None = None
    reference: str | None = None

    def legs(self) -> list[tuple[str, Decimal]]:
        if not self.amount:
            return []
        return [(accounts.WRITTEN_OFF, self.amount), (accounts.POOL_DEFAULTED, -self.amount)]


@event_type("LoanRepurchased")
class LoanRepurchased(LoanEvent):
    """The originator buys the loan back; the price is paid to the servicer's collections.

    ``principal`` is the outstanding principal taken out of the pool (performing or defaulted,
    per ``from_defaulted``); any difference between price and principal is repurchase income
    (accrued interest, premium) or, if negative, a loss.
    """

    value_date: date
    reason: str = Field(min_length=1)
    price: Money
    principal: Money
    from_defaulted: bool = False
    reference: str | None = None

    def legs(self) -> list[tuple[str, Decimal]]:
        pool = accounts.POOL_DEFAULTED if self.from_defaulted else accounts.POOL_PRINCIPAL
        legs: list[tuple[str, Decimal]] = []
        if self.price:
            legs.append((accounts.SERVICER_HELD, self.price))
        if self.principal:
            legs.append((pool, -self.principal))
        difference = self.price - self.principal
        if difference:
            legs.append((accounts.REPURCHASE_INCOME, -difference))
        return legs


@event_type("CollectionsRemitted")
class CollectionsRemitted(Event):
    """The servicer pays collections over to the trust account (SPEC §4)."""

    value_date: date
    amount: Money
    period_start: date | None = None
    period_end: date | None = None
    reference: str | None = None

    def legs(self) -> list[tuple[str, Decimal]]:
        if not self.amount:
            return []
        return [(accounts.TRUST_COLLECTIONS, self.amount), (accounts.SERVICER_HELD, -self.amount)]

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo="collections remitted"),) if legs else ()


__all__ = [
    "CollectionsRemitted",
    "LoanBoarded",
    "LoanDefaulted",
    "LoanDelinquencyReported",
    "LoanEvent",
    "LoanRepurchased",
    "LoanWrittenOff",
    "PoolBoarded",
    "RecoveryReceived",
]

# Monthly Collateral (Driver China Thirteen) registers itself on import
from events import collateral as _collateral  # noqa: E402,F401
