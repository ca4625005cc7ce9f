"""The waterfall's input (:class:`WaterfallState`) and output (:class:`WaterfallResult`).

The state is the trust at the determination date (信托分配日, seed 004 L1756): every account's
balance (cash sub-accounts, reserves, non-cash ledgers), note balances with carried interest
shortfalls, fees incurred and unpaid, the metrics the projections computed, trigger states, role
holders and ratings, and the interest period's dates. Everything is a frozen model.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, model_validator

from events.cycle import CapUsage, OfferedReceivable
from ledger.core.journal import JournalEntry
from ledger.core.money import ZERO, Money, Rate


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class NoteState(_Model):
    """A class of notes before this payment date."""

    balance: Money
    interest_shortfall: Money = ZERO
    """Unpaid interest carried forward from earlier payment dates (carry-forward notes only)."""
    rate: Rate | None = None
    """Coupon fixing for this period (floating notes); default: the deal's coupon formula."""


class TriggerWatch(_Model):
    """A change of a trigger's state waiting out its window (``breach_days`` / ``cure_days``
    and the ``_evaluations`` counts): since when, and on how many consecutive evaluations, the
    trigger has failed (not yet in effect) or been cured (still in effect)."""

    since: dt.date
    evaluations: int = Field(default=1, ge=1)


class WaterfallState(_Model):
    """The trust on a determination date, as the projections see it."""

    payment_date: dt.date
    period_index: int = Field(ge=1)
    interest_period_start: dt.date
    interest_period_end: dt.date
    """Excluded: interest accrues on ``[start, end)`` (seed 004 L1788-1790)."""
    accounts: dict[str, Money] = Field(default_factory=dict)
    """Balances by deal account id (cash, reserve and ledger); a missing account holds zero."""
    notes: dict[str, NoteState]
    fees_incurred: dict[str, Money] = Field(default_factory=dict)
    """Expense and tax amounts incurred for this date (fees without an amount formula): the
    ``ExpenseIncurred`` events effective after the previous determination date."""
    fees_unpaid: dict[str, Money] = Field(default_factory=dict)
    """Fee amounts unpaid on earlier dates, carried forward."""
    metrics: dict[str, StrictBool | Rate] = Field(default_factory=dict)
    """The deal's declared metrics (determinations and formula metrics) with a value on this
    date; a declared one missing has no value on the date (reading it is an error)."""
    triggers: dict[str, StrictBool] = Field(default_factory=dict)
    role_holders: dict[str, str | None] | None = None
    """Role → party id now (after a servicer replacement); default: the deal's parties."""
    ratings: dict[str, dict[str, str]] | None = None
    """Party → agency → grade now; default: the ratings in the deal file."""
    cap_usage: dict[str, CapUsage] = Field(default_factory=dict)
    """Cap id → what was used before this date in its period (the previous result's
    ``cap_usage``); a usage of an earlier period, or none, counts as nothing used."""
    trigger_watch: dict[str, TriggerWatch] = Field(default_factory=dict)
    """Trigger id → the pending change from the previous evaluation (its outcome's ``watch``);
    only triggers with a breach or cure window have one."""
    closing_date: dt.date | None = None
    """The notes' issue (trust effective) date, ``dates.closing``; default: the deal file's."""
    collection_period_end: dt.date | None = None
    """``period.collection_end``: the last day of the payment date's collection period."""
    next_determination_date: dt.date | None = None
    """``period.next_as_of``: the next payment date's determination date."""
    offered_receivables: tuple[OfferedReceivable, ...] = ()
    """The receivables offered for this payment date, in the offer's order (a ``purchase``
    step buys whole loans of them); empty when no offer lists them."""

    @model_validator(mode="after")
    def _period_order(self) -> WaterfallState:
        if self.interest_period_end < self.interest_period_start:
            raise ValueError("interest period ends before it starts")
        return self


class StepResult(_Model):
    """One line of a waterfall: one payee (or destination) of one step."""

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
    """The step's ``when`` condition did not hold, so nothing was due."""
    failed_tests: tuple[str, ...] = ()
    """Purchase steps: ids of the pool-level criteria that failed, so nothing was bought."""


class Purchase(_Model):
    """Receivables a ``purchase`` step bought: the balance boarded and the cash paid for it."""

    step_id: str
    seller: str
    """The seller's role; the price is paid to ``payable:party:<seller>``."""
    offered: Money
    balance: Money
    price: Money
    available: Money = ZERO
    """The cash the step could spend (its source account, within its ``limit``)."""
    loan_ids: tuple[str, ...] = ()
    """The whole loans bought, of an offer listing its receivables."""


class WaterfallResult(_Model):
    """The waterfall of one payment date: ordered lines and the balanced postings behind them."""

    mode: str
    payment_date: dt.date
    steps: tuple[StepResult, ...]
    entries: tuple[JournalEntry, ...]
    opening_accounts: dict[str, Money]
    closing_accounts: dict[str, Money]
    note_balances: dict[str, Money]
    interest_shortfalls: dict[str, Money]
    fees_unpaid: dict[str, Money]
    paid_out: Money
    """Cash that left the trust accounts (to holders, fee payees, the originator)."""
    purchases: tuple[Purchase, ...] = ()
    """Revolving purchases made by ``purchase`` steps (the loans to board)."""
    cap_usage: dict[str, CapUsage] = Field(default_factory=dict)
    """Cap id → its period and the amount used including this date (next state's input)."""

    def lines(self, step_id: str) -> tuple[StepResult, ...]:
        """The result lines of one step."""
        return tuple(s for s in self.steps if s.step_id == step_id)

    def paid(self, step_id: str) -> Decimal:
        """Total paid by one step."""
        return sum((s.paid for s in self.lines(step_id)), ZERO)
