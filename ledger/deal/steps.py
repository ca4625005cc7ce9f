"""The waterfall's steps as a deal file writes them: transfers, fees, interest, principal, top-ups,
shortfall cover, period returns, party payments, revolving purchases and ledger bookings."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from ledger.deal.types import DealModel, Formula, Identifier


class LedgerBooking(DealModel):
    """Book the amount a step paid into a non-cash ledger (+1 adds, -1 reduces)."""

    ledger: str
    sign: Literal[1, -1] = 1


class StepBase(DealModel):
    id: str = Field(min_length=1)
    clause: str = Field(min_length=1)
    when: Formula | None = None
    limit: Formula | None = None
    """Upper bound on what the step pays (re-evaluated when the step runs)."""
    record_in: tuple[LedgerBooking, ...] = ()
    description: str | None = None


class TransferStep(StepBase):
    """Cash from one trust account to another; ``amount`` omitted means everything there."""

    kind: Literal["transfer"]
    source: str = Field(alias="from")
    to: str
    amount: Formula | None = None


class PayFeesStep(StepBase):
    """Fees pari passu, pro rata to what is due; ``portion`` splits capped expenses."""

    kind: Literal["pay_fees"]
    source: str = Field(alias="from")
    fees: tuple[str, ...] = Field(min_length=1)
    portion: Literal["full", "within_cap", "above_cap"] = "full"


class PayInterestStep(StepBase):
    """Note interest (plus carried shortfall where the note carries it), pro rata if several."""

    kind: Literal["pay_interest"]
    source: str = Field(alias="from")
    notes: tuple[str, ...] = Field(min_length=1)


class PayPrincipalStep(StepBase):
    """Principal, sequential or pro rata, down to ``target_balance`` (total of ``notes``)."""

    kind: Literal["pay_principal"]
    source: str = Field(alias="from")
    notes: tuple[str, ...] = Field(min_length=1)
    method: Literal["sequential", "pro_rata"] = "sequential"
    target_balance: Formula | None = None
    """Total balance of ``notes`` after the payment (targeted balance / OC %); default zero."""
    amount: Formula | None = None


class TopUpStep(StepBase):
    """Credit reserves up to their targets, pro rata to their shortfalls."""

    kind: Literal["top_up"]
    source: str = Field(alias="from")
    accounts: tuple[str, ...] = Field(min_length=1)


class CoverShortfallStep(StepBase):
    """Move cash so ``to`` can pay every amount due under the ``covers`` steps."""

    kind: Literal["cover_shortfall"]
    source: str = Field(alias="from")
    to: str
    covers: tuple[str, ...] = Field(min_length=1)


class PayReturnStep(StepBase):
    """A subordinated period return: capped at the note's ``period_return_cap`` p.a. of its
    opening balance (not carried forward) when ``capped``, else everything left."""

    kind: Literal["pay_return"]
    source: str = Field(alias="from")
    note: str
    capped: bool = False


class PayStep(StepBase):
    """Pay a party: ``amount`` omitted means everything left (residual to the originator)."""

    kind: Literal["pay"]
    source: str = Field(alias="from")
    payee: Identifier
    amount: Formula | None = None


class PurchaseStep(StepBase):
    """Buy additional receivables (a revolving purchase) from ``seller`` with the cash in ``from``.

    ``offered`` is the balance of the eligible receivables on offer, measured on
    ``balance_basis``: their outstanding principal, or their Discounted Receivables Balance at
    the Additional Cut-Off Date (seed 001, the deal's ``discounted_balance``); ``price`` the
    price per unit of that balance (``1`` = par; seed 001: ``1 - 1.7%``).

    An offer listing its receivables (:class:`events.cycle.AdditionalReceivablesOffered`) is
    bought in whole loans: the longest prefix of the list, in its order, whose price
    ``round_fen(Σ balance × price)`` the cash (and ``limit``) pays; the loans bought are then
    boarded (:func:`ledger.servicing.additional.board_additional_receivables`). An offer of a
    balance alone buys the largest fen balance ``b <= offered`` whose price the cash pays. The
    price goes to ``payable:party:<seller>``, the balance bought to the ``record_balance_in``
    ledgers (``record_in`` books the price); nothing is bought when a pool-level revolving
    criterion (``eligibility`` with ``level: pool``) fails after the purchase.
    """

    kind: Literal["purchase"]
    source: str = Field(alias="from")
    seller: Identifier
    offered: Formula
    price: Formula
    balance_basis: Literal["principal", "discounted"] = "principal"
    record_balance_in: tuple[LedgerBooking, ...] = ()


class BookLedgerStep(StepBase):
    """Book a non-cash amount to a ledger (e.g. defaults to the PDL) with no cash movement."""

    kind: Literal["book_ledger"]
    ledger: str
    amount: Formula
    sign: Literal[1, -1] = 1


Step = Annotated[
    TransferStep
    | PayFeesStep
    | PayInterestStep
    | PayPrincipalStep
    | TopUpStep
    | CoverShortfallStep
    | PayReturnStep
    | PayStep
    | PurchaseStep
    | BookLedgerStep,
    Field(discriminator="kind"),
]
STEP_KINDS = frozenset(
    {
        "transfer",
        "pay_fees",
        "pay_interest",
        "pay_principal",
        "top_up",
        "cover_shortfall",
        "pay_return",
        "pay",
        "purchase",
        "book_ledger",
    }
)
