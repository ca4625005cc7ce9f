"""Payment-date cycle events (SPEC §4, issue 5): what the trustee's monthly cycle records.

A cycle is posted as one atomic batch (``ledger/cycle/``): :class:`CollectionPeriodClosed` →
:class:`MetricsDetermined` → :class:`CleanUpCallTested` (deals with a clean-up call; then
:class:`CleanUpCallExercised` when the originator calls the pool) → one :class:`TriggerEvaluated`
per trigger → :class:`InterestAccrued` / :class:`FeeAccrued` → :class:`WaterfallExecuted` →
:class:`DistributionPaid`. :class:`NotesIssued`, :class:`EventDeclared`, :class:`RatingChanged`,
:class:`FigureReported`, :class:`ExpenseIncurred` and :class:`CycleApproved` are posted by the
trustee, servicer or issuer outside the cycle.

Postings (``ledger/core/accounts.py`` and ``ledger.waterfall.posting_account``):

* remitted collections sit in ``trust:collections`` until the period is closed, which moves them
  into the deal's sub-accounts (``trust:income`` / ``trust:principal`` for seed 004,
  ``trust:distribution`` for seed 001) per the deal's collection split rules;
* the waterfall moves cash between ``trust:*`` / ``reserve:*`` accounts and out to payee accounts
  ``payable:<...>`` (the amounts held for payment on the payment date);
* :class:`DistributionPaid` empties the payee accounts: note principal reduces the note liability
  ``notes:<id>`` (credited by :class:`NotesIssued` against ``seller:consideration``, the price of
  the pool), everything else goes to ``paid:<...>``.

Accrual events are records without postings (the waterfall's postings pay what they accrued).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from events.model import Event, event_type, upcaster
from ledger.core import accounts
from ledger.core.journal import JournalEntry, entry_of
from ledger.core.money import ZERO, Money, Rate

CYCLE_STREAM = "cycle"


class _Part(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def note_account(note_id: str) -> str:
    """The note liability account (credit balance = the class's outstanding principal)."""
    return f"notes:{note_id}"


# ------------------------------------------------------------------------------ deal / control


class CapUsage(_Part):
    """How much of a cap the within-cap fees used in one cap period (``caps.<id>.period``)."""

    period_start: date | None = None
    """First day of the cap period (a payment date, the start of a cap year); ``None`` for a
    life-of-deal cap."""
    used: Money = ZERO


class NoteIssue(_Part):
    note_id: str
    class_name: str
    amount: Money


@event_type("NotesIssued")
class NotesIssued(Event):
    """The notes as issued on the closing date; the proceeds pay the originator for the pool.

    ``closing_date`` is the first interest period's start (信托生效日, seed 004 L1788; Issue Date,
    seed 001 L19301), needed where the deal file leaves it blank (seed 004 L1737).
    """

    closing_date: date
    notes: tuple[NoteIssue, ...] = Field(min_length=1)

    def legs(self) -> list[tuple[str, Decimal]]:
        legs: list[tuple[str, Decimal]] = []
        for n in self.notes:
            if n.amount:
                legs.append((accounts.SELLER_CONSIDERATION, n.amount))
                legs.append((note_account(n.note_id), -n.amount))
        return legs

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo="notes issued"),) if legs else ()

    def default_stream(self) -> str:
        return "deal"


@event_type("ReserveFunded")
class ReserveFunded(Event):
    """An account of the trust funded from the notes' issue proceeds on the closing date, in the
    batch of :class:`NotesIssued` (the deal file's ``accounts.<id>.funded_at_issue``). Seed 001
    L10996-11002: "The Issuer shall on the Issue Date deposit RMB 96,000,000.00 into the Cash
    Collateral Account"; L19108-19118: the Initial Receivables Purchase Price is the ADRB less
    the overcollateralisation and the Initial Cash Collateral Amount, so the seller receives the
    proceeds less the deposit: the legs move it from ``seller:consideration`` to the account."""

    account_id: str
    posting_account: str
    amount: Money
    clause: str

    def legs(self) -> list[tuple[str, Decimal]]:
        if not self.amount:
            return []
        return [(self.posting_account, self.amount), (accounts.SELLER_CONSIDERATION, -self.amount)]

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo=f"{self.account_id} funded at issue"),) if legs else ()

    def default_stream(self) -> str:
        return "deal"


@event_type("EventDeclared", version=2)
class EventDeclared(Event):
    """A declared event: a holders' resolution or the trustee's declaration puts a ``declared``
    trigger of the deal in effect (e.g. seed 004 L2640-2648 acceleration (h)-(k), L2799-2809
    events of default); ``revoked`` withdraws a declaration that is not sticky.

    ``declared_by`` is the name of whoever recorded the declaration (the caller's identity, never
    a request's body); ``basis`` is what it rests on. Version 1 held only the basis, under
    ``declared_by``; it is upcast with that value in both fields."""

    trigger_id: str = Field(min_length=1)
    declared_by: str = Field(min_length=1)
    basis: Literal["holders_resolution", "trustee", "originator", "servicer"]
    declared_on: date
    reference: str | None = None
    revoked: bool = False

    def default_stream(self) -> str:
        return "deal"


@upcaster("EventDeclared", 1)
def _declared_v1(data: dict[str, object]) -> dict[str, object]:
    return {**data, "basis": data["declared_by"]}


@event_type("CleanUpCallElected")
class CleanUpCallElected(Event):
    """The originator elects to exercise the clean-up call on the first payment date (on or
    after ``from_payment_date``) whose condition holds (seed 004 L781; seed 001 L18472-18490)."""

    from_payment_date: date
    reference: str | None = None

    def default_stream(self) -> str:
        return "deal"


class OfferedReceivable(_Part):
    """One receivable on offer: its balance at the Additional Cut-Off Date on the purchase
    step's basis (DRB for seed 001, outstanding principal for seed 002) and its rate."""

    loan_id: str = Field(min_length=1)
    balance: Money = Field(gt=0)
    rate: Rate


@event_type("AdditionalReceivablesOffered")
class AdditionalReceivablesOffered(Event):
    """The originator's offer of additional receivables for a payment date in the revolving
    period (seed 001 L17709-17723: Replenished Additional DRB; seed 002 L196-200: OPB of the
    loans offered). The cycle's ``purchase`` step buys what the available cash pays for, whole
    loans of ``receivables`` in their order; the servicer then boards the loans bought
    (:class:`AdditionalReceivablesPurchased` and one ``LoanBoarded`` each)."""

    payment_date: date
    balance: Money
    """Balance offered: DRB (seed 001) or outstanding principal (seed 002)."""
    weighted_average_rate: Rate | None = None
    loan_count: int = Field(default=0, ge=0)
    reference: str | None = None
    cut_off_date: date | None = None
    """The Additional Cut-Off Date the balances are measured at (seed 001 L17664-17668: the last
    day of the Monthly Period before the Additional Purchase Date; seed 002 L166: 00:00 on the
    持续购买基准日, i.e. the end of the day before)."""
    receivables: tuple[OfferedReceivable, ...] = ()

    @model_validator(mode="after")
    def _listed(self) -> AdditionalReceivablesOffered:
        if not self.receivables:
            return self
        total = sum((r.balance for r in self.receivables), ZERO)
        if total != self.balance:
            raise ValueError(f"balance {self.balance} is not the receivables' total {total}")
        if self.loan_count != len(self.receivables):
            raise ValueError(f"loan_count {self.loan_count} but {len(self.receivables)} listed")
        if len({r.loan_id for r in self.receivables}) != len(self.receivables):
            raise ValueError("a receivable is listed twice")
        if self.cut_off_date is None:
            raise ValueError("listed receivables need their cut_off_date")
        return self

    def default_stream(self) -> str:
        return "deal"


@event_type("AdditionalReceivablesPurchased")
class AdditionalReceivablesPurchased(Event):
    """The receivables a payment date's ``purchase`` step bought, boarded from their tape
    (SPEC §4): one ``LoanBoarded`` each, cut off at ``cut_off_date`` and effective the day
    after it, from when their collections belong to the trust (seed 002 L200: the transfer dates
    back to the 持续购买基准日; seed 001 prices them at their DRB at the Additional Cut-Off
    Date, L17709-17723). The price was paid by the cycle (``WaterfallExecuted``)."""

    payment_date: date
    cut_off_date: date
    file_name: str
    file_sha256: str
    loan_count: int = Field(ge=1)
    aggregate_principal: Money
    balance: Money
    """The balance bought on the purchase step's basis (the ``PurchaseLine``'s)."""
    price: Money

    def default_stream(self) -> str:
        return "deal"


@event_type("RatingChanged")
class RatingChanged(Event):
    """A rating agency changes (or withdraws, ``grade`` null) a party's grade: the ratings the
    deal's formulas read from the next determination date on (``ratings.<party or role>.<agency>``,
    e.g. seed 004 L2465-2468 必备评级等级, L914 commingling reserve, L1074 set-off reserve)."""

    party_id: str = Field(min_length=1)
    agency: str = Field(min_length=1)
    grade: str | None = None
    reference: str | None = None

    def default_stream(self) -> str:
        return "deal"


@event_type("FigureReported")
class FigureReported(Event):
    """A figure the ledger cannot compute from its own events, reported for the deal's formulas
    (docs/primitives.md): ``reported.<name>`` is the latest one of that name (a standing figure,
    e.g. the originator's debts to its borrowers, seed 004 L1076 term B), and
    ``reported_for_date.<name>`` the sum of those for ``payment_date`` (e.g. commingled
    collections the trustee identified for the date, seed 004 L1066)."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    amount: Money
    payment_date: date | None = None
    reference: str | None = None

    def default_stream(self) -> str:
        return "deal"


@event_type("ExpenseIncurred")
class ExpenseIncurred(Event):
    """An expense or tax of the deal incurred (an invoice, a tax assessment): the amount of a
    fee of kind ``expense`` or ``tax`` without an amount formula, due on the first payment date
    whose determination date is on or after the event's effective date (e.g. seed 004 L981-982
    fees and reimbursable expenses as invoiced; seed 001 L3693-3703)."""

    fee_id: str = Field(min_length=1)
    amount: Money
    reference: str | None = None

    def default_stream(self) -> str:
        return "deal"


@event_type("CycleApproved")
class CycleApproved(Event):
    """The trustee approves the cycle of one payment date (deals that require approval)."""

    payment_date: date
    approved_by: str = Field(min_length=1)
    reference: str | None = None

    def default_stream(self) -> str:
        return CYCLE_STREAM


# ------------------------------------------------------------------------------ the cycle


class CycleEvent(Event):
    """An event of one payment date's cycle, on the ``cycle`` stream."""

    payment_date: date
    period_index: int = Field(ge=1)

    def default_stream(self) -> str:
        return CYCLE_STREAM


@event_type("CollectionPeriodClosed")
class CollectionPeriodClosed(CycleEvent):
    """The collection period is closed: the remitted collections are split into the deal's
    sub-accounts per its collection split rules (seed 004 L2441-2457 principal, L2728-2744
    income; seed 001 L18553-18563 a single Available Distribution Amount).

    ``items`` are the collections of each kind moved now (those collected up to the period end
    and remitted by the determination date, earlier ones not yet split included); ``to_accounts``
    the cash moved into each posting account; ``unremitted`` what was collected but not yet
    remitted (it is split on a later date once remitted).
    """

    collection_period_start: date
    collection_period_end: date
    determination_date: date
    items: dict[str, Money]
    to_accounts: dict[str, Money]
    unremitted: Money = ZERO

    @model_validator(mode="after")
    def _consistent(self) -> CollectionPeriodClosed:
        moved = sum(self.to_accounts.values(), ZERO)
        if moved != sum(self.items.values(), ZERO):
            raise ValueError(f"to_accounts total {moved} differs from the items total")
        if any(v < 0 for v in self.to_accounts.values()):
            raise ValueError("a split amount is negative")
        return self

    def legs(self) -> list[tuple[str, Decimal]]:
        legs = [(a, v) for a, v in sorted(self.to_accounts.items()) if v]
        total = sum((v for _, v in legs), ZERO)
        if not total:
            return []
        return [*legs, (accounts.TRUST_COLLECTIONS, -total)]

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo="collection period closed: split"),) if legs else ()


@event_type("MetricsDetermined")
class MetricsDetermined(CycleEvent):
    """Every metric the deal declares, as determined for the payment date (issue 13): the
    engine's determinations (docs/primitives.md) and the deal's formula metrics, the figures the
    triggers, targets and fees of the date read. A name missing from ``values`` had no value on
    the date (e.g. the previous payment date's figures on the first one)."""

    as_of: date
    collection_period_end: date
    values: dict[str, StrictBool | Rate]


@event_type("CleanUpCallTested")
class CleanUpCallTested(CycleEvent):
    """The clean-up call on a payment date (seed 001 L18472-18490; seed 004 L781): whether its
    condition and its proviso hold, whether the originator elected it and whether it is
    exercised, on every date whether or not it is."""

    condition_met: bool
    proviso_met: bool | None = None
    """``None`` when the deal has no proviso, or the condition does not hold (not tested)."""
    price: Money | None = None
    note_obligations: Money | None = None
    notes_repaid: bool | None = None
    """Whether a dry run of the date with the call exercised repays every class in full."""
    available: bool
    elected: bool
    exercised: bool
    reason: str


@event_type("TriggerEvaluated")
class TriggerEvaluated(CycleEvent):
    """One trigger at the determination date: the metric, threshold and result, and whether it
    is in effect (sticky triggers stay in effect; curable ones follow their cure)."""

    trigger_id: str
    clause: str
    as_of: date
    metric: str | None = None
    value: Rate | None = None
    comparison: str | None = None
    threshold: Rate | None = None
    condition: str | None = None
    declared: bool = False
    inputs: dict[str, str] = Field(default_factory=dict)
    breached: bool
    in_effect: bool
    was_in_effect: bool
    sticky: bool
    watch_since: date | None = None
    """A change waiting out the trigger's window (breach/cure days or evaluations): since when."""
    watch_evaluations: int | None = Field(default=None, ge=1)
    """... and on how many consecutive evaluations."""


class AccrualBase(CycleEvent):
    interest_period_start: date
    interest_period_end: date


@event_type("InterestAccrued")
class InterestAccrued(AccrualBase):
    """Note interest of the period: round_fen(opening balance × rate × day count) plus the
    shortfall carried from earlier dates where the note carries it (seed 004 L1811-1818;
    seed 001 L11520-11524)."""

    note_id: str
    opening_balance: Money
    rate: Rate
    day_count: str
    accrued: Money
    carried_in: Money = ZERO
    due: Money


@event_type("FeeAccrued")
class FeeAccrued(AccrualBase):
    """A fee, expense or tax due on this payment date (current + unpaid carried forward)."""

    fee_id: str
    payee: str
    accrued: Money
    carried_in: Money = ZERO
    due: Money


class StepLine(_Part):
    """One line of the waterfall: one payee or destination of one step."""

    step_id: str
    clause: str
    kind: str
    source: str | None
    destination: str
    due: Money
    paid: Money
    shortfall: Money
    carried_forward: Money
    skipped: bool = False
    failed_tests: tuple[str, ...] = ()
    """Purchase steps: the pool-level criteria that failed, so nothing was bought."""


class PurchaseLine(_Part):
    """Receivables a revolving ``purchase`` step bought (seed 001 L11099-11105, L17709-17723):
    the balance to board and the price paid to the seller, out of the cash ``available`` to the
    step; ``loan_ids`` the whole loans bought of a listed offer."""

    step_id: str
    seller: str
    offered: Money
    balance: Money
    price: Money
    available: Money = ZERO
    loan_ids: tuple[str, ...] = ()


class NoteLine(_Part):
    """A class of notes through the waterfall."""

    note_id: str
    original: Money
    opening: Money
    closing: Money
    interest_shortfall: Money
    """Carried to the next payment date."""


@event_type("WaterfallExecuted")
class WaterfallExecuted(CycleEvent):
    """The waterfall of the payment date in its mode: every step and its balanced postings
    (SPEC §4). ``available`` is the cash in the trust and reserve accounts before it,
    ``paid_out`` what left them, ``retained`` what stays (available = paid_out + retained)."""

    mode: str
    interest_period_start: date
    interest_period_end: date
    steps: tuple[StepLine, ...]
    postings: tuple[JournalEntry, ...]
    notes: tuple[NoteLine, ...]
    fees_unpaid: dict[str, Money]
    purchases: tuple[PurchaseLine, ...] = ()
    cap_usage: dict[str, CapUsage] = Field(default_factory=dict)
    """Cap id → its period and the amount used including this date: the next date's input."""
    available: Money
    paid_out: Money
    retained: Money

    @model_validator(mode="after")
    def _conserved(self) -> WaterfallExecuted:
        if self.available != self.paid_out + self.retained:
            raise ValueError(
                f"available {self.available} != paid out {self.paid_out} + retained {self.retained}"
            )
        return self

    def entries(self) -> tuple[JournalEntry, ...]:
        return self.postings


class Payment(_Part):
    payee_account: str
    """The ``payable:...`` account the waterfall paid into."""
    kind: Literal["interest", "principal", "return", "fee", "party"]
    note_id: str | None = None
    amount: Money


def payment_counter_account(payment: Payment) -> str:
    """Where a payment goes: note principal reduces the note liability, the rest is paid out."""
    if payment.kind == "principal" and payment.note_id is not None:
        return note_account(payment.note_id)
    return "paid:" + payment.payee_account.split(":", 1)[1]


@event_type("DistributionPaid")
class DistributionPaid(CycleEvent):
    """What each payee and class of notes is paid on the payment date, out of the amounts the
    waterfall set aside for it (the paying agent's distribution)."""

    payments: tuple[Payment, ...]

    def legs(self) -> list[tuple[str, Decimal]]:
        legs: list[tuple[str, Decimal]] = []
        for p in self.payments:
            if p.amount:
                legs.append((payment_counter_account(p), p.amount))
                legs.append((p.payee_account, -p.amount))
        return legs

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo="distribution paid"),) if legs else ()


@event_type("CleanUpCallExercised")
class CleanUpCallExercised(CycleEvent):
    """The originator buys the remaining pool at the clean-up price (seed 004 L781, L2696;
    seed 001 L18472-18531); the proceeds are clean-up collections of the payment date."""

    price: Money
    performing_principal: Money
    defaulted_principal: Money
    to_account: str
    """The posting account the proceeds are paid into (the ``cleanup_principal`` split rule)."""

    def legs(self) -> list[tuple[str, Decimal]]:
        legs: list[tuple[str, Decimal]] = []
        if self.price:
            legs.append((self.to_account, self.price))
        if self.performing_principal:
            legs.append((accounts.POOL_PRINCIPAL, -self.performing_principal))
        if self.defaulted_principal:
            legs.append((accounts.POOL_DEFAULTED, -self.defaulted_principal))
        diff = self.price - self.performing_principal - self.defaulted_principal
        if diff:
            legs.append(("income:clean-up", -diff))
        return legs

    def entries(self) -> tuple[JournalEntry, ...]:
        legs = self.legs()
        return (entry_of(legs, memo="clean-up call"),) if legs else ()


__all__ = [
    "CYCLE_STREAM",
    "AdditionalReceivablesOffered",
    "AdditionalReceivablesPurchased",
    "CleanUpCallElected",
    "CleanUpCallExercised",
    "CleanUpCallTested",
    "CollectionPeriodClosed",
    "CycleApproved",
    "CycleEvent",
    "DistributionPaid",
    "EventDeclared",
    "ExpenseIncurred",
    "FeeAccrued",
    "FigureReported",
    "InterestAccrued",
    "MetricsDetermined",
    "NoteIssue",
    "NoteLine",
    "NotesIssued",
    "OfferedReceivable",
    "Payment",
    "PurchaseLine",
    "RatingChanged",
    "ReserveFunded",
    "StepLine",
    "TriggerEvaluated",
    "WaterfallExecuted",
    "note_account",
    "payment_counter_account",
]
