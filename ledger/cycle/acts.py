"""The trustee's and the originator's acts around payment dates, each one event: the notes'
issue, a declared event, the clean-up call's election, an offer of additional receivables and
the approval of a cycle.

Each act is posted by ``who`` (an :class:`~events.policy.Identity`): its name is the event's
actor and the name an approval or a declaration records, its role is judged by the policy
(:mod:`events.policy`): the trustee issues the notes, declares, records the clean-up election and
approves; the servicer (the originator's servicer) offers additional receivables."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Literal

from events.cycle import (
    AdditionalReceivablesOffered,
    CleanUpCallElected,
    CycleApproved,
    EventDeclared,
    NoteIssue,
    NotesIssued,
    OfferedReceivable,
    ReserveFunded,
)
from events.envelope import NewEvent, RecordedEvent
from events.model import Event
from events.policy import Identity
from ledger.core.expr import evaluate_number
from ledger.core.money import ZERO, round_fen
from ledger.cycle.schedule import CycleError
from ledger.deal.schema import DealDefinition
from ledger.servicing.deals import deal_in_force
from ledger.waterfall import posting_account
from projections.store import ProjectedStore

# ============================================================================ trustee actions


def _append_one(
    store: ProjectedStore, deal_id: str, ev: Event, day: dt.date, key: str, who: Identity
) -> RecordedEvent:
    new = NewEvent.of(
        ev, deal_id=deal_id, stream_id=ev.default_stream(), effective_date=day,
        idempotency_key=key, actor=who.name, role=who.role,
    )  # fmt: skip
    return store.append([new]).events[0]


def issue_notes(
    store: ProjectedStore, deal_id: str, closing_date: dt.date | None = None, *, who: Identity
) -> RecordedEvent:
    """Record the notes of the deal in force as issued on ``closing_date`` (default: the deal
    file's closing date, else the date it assumes), and each account the deal funds from the
    proceeds at issue (``funded_at_issue``: seed 001's Cash Collateral Account, L10996-11002),
    as one batch; idempotent. Returns the ``NotesIssued``."""
    deal = deal_in_force(store, deal_id)
    closing = closing_date or deal.calendar.closing_date or deal.calendar.assumed_closing_date
    if closing is None:
        raise CycleError(f"deal {deal_id} has no closing date in its file: give one")
    batch = [
        NewEvent.of(
            ev,
            deal_id=deal_id,
            stream_id=ev.default_stream(),
            effective_date=closing,
            idempotency_key=key,
            actor=who.name,
            role=who.role,
        )
        for ev, key in issue_events(deal, closing)
    ]
    return store.append(batch).events[0]


def issue_events(deal: DealDefinition, closing: dt.date) -> list[tuple[Event, str]]:
    """The events of the issue on ``closing``, each with its idempotency key: the notes of
    ``deal`` (``NotesIssued``) and every account the deal funds from the proceeds
    (``ReserveFunded``, ``accounts.<id>.funded_at_issue``). Pure: :func:`issue_notes` records
    them; a forecast of a deal not yet issued folds them as if recorded."""
    issued: list[tuple[Event, str]] = [
        (
            NotesIssued(
                closing_date=closing,
                notes=tuple(
                    NoteIssue(note_id=nid, class_name=n.class_name, amount=n.amount)
                    for nid, n in deal.notes.items()
                ),
            ),
            "notes-issued",
        )
    ]
    params = {f"params.{k}": p.value for k, p in deal.parameters.items()}
    for aid, account in deal.accounts.items():
        if account.funded_at_issue is None:
            continue
        amount = round_fen(evaluate_number(account.funded_at_issue, params))
        if amount < 0:
            raise CycleError(f"accounts.{aid}.funded_at_issue gives {amount}, below zero")
        funded = ReserveFunded(
            account_id=aid,
            posting_account=posting_account(deal, aid),
            amount=amount,
            clause=account.clause,
        )
        issued.append((funded, f"reserve-funded:{aid}"))
    return issued


def declare_event(
    store: ProjectedStore,
    deal_id: str,
    trigger_id: str,
    declared_on: dt.date,
    basis: Literal["holders_resolution", "trustee", "originator", "servicer"],
    reference: str | None = None,
    revoked: bool = False,
    *,
    who: Identity,
) -> RecordedEvent:
    """Post an :class:`EventDeclared` for a ``declared`` trigger of the deal, declared by
    ``who`` on ``basis`` (a holders' resolution, the trustee's own declaration, ...)."""
    deal = deal_in_force(store, deal_id)
    trigger = deal.triggers.get(trigger_id)
    if trigger is None or not trigger.declared:
        raise CycleError(f"deal {deal_id} has no declared trigger {trigger_id!r}")
    ev = EventDeclared(
        trigger_id=trigger_id, declared_by=who.name, basis=basis, declared_on=declared_on,
        reference=reference, revoked=revoked,
    )  # fmt: skip
    key = f"declared:{trigger_id}:{declared_on.isoformat()}:{'revoked' if revoked else 'on'}"
    return _append_one(store, deal_id, ev, declared_on, key, who)


def elect_clean_up_call(
    store: ProjectedStore,
    deal_id: str,
    from_payment_date: dt.date,
    reference: str | None = None,
    *,
    who: Identity,
) -> RecordedEvent:
    """The originator's election to exercise the clean-up call once its condition holds, as the
    trustee records it."""
    ev = CleanUpCallElected(from_payment_date=from_payment_date, reference=reference)
    key = f"clean-up-elected:{from_payment_date.isoformat()}"
    return _append_one(store, deal_id, ev, from_payment_date, key, who)


def offer_additional_receivables(
    store: ProjectedStore,
    deal_id: str,
    payment_date: dt.date,
    cut_off_date: dt.date,
    receivables: Sequence[OfferedReceivable],
    offered_on: dt.date,
    reference: str | None = None,
    *,
    who: Identity,
) -> RecordedEvent:
    """The originator's offer of additional receivables for a revolving payment date, each with
    its balance at the Additional Cut-Off Date ``cut_off_date`` on the deal's purchase basis
    (:func:`ledger.servicing.additional.offer_of`); it must be effective (``offered_on``) by that
    date's determination date to be bought. The offer's balance is their total and its weighted
    average rate theirs, weighted by balance."""
    if not receivables:
        raise CycleError(f"deal {deal_id}: an offer lists the receivables offered")
    balance = sum((r.balance for r in receivables), ZERO)
    wac = sum((r.balance * r.rate for r in receivables), ZERO) / balance
    ev = AdditionalReceivablesOffered(
        payment_date=payment_date,
        balance=balance,
        weighted_average_rate=wac.quantize(Decimal("0.0000000001")),
        loan_count=len(receivables),
        reference=reference,
        cut_off_date=cut_off_date,
        receivables=tuple(receivables),
    )
    key = f"receivables-offered:{payment_date.isoformat()}"
    return _append_one(store, deal_id, ev, offered_on, key, who)


def approve_cycle(
    store: ProjectedStore, deal_id: str, payment_date: dt.date, who: Identity
) -> RecordedEvent:
    """The trustee's approval of one payment date's cycle (then run it again to post it)."""
    ev = CycleApproved(payment_date=payment_date, approved_by=who.name)
    key = f"cycle-approval:{payment_date.isoformat()}"
    return _append_one(store, deal_id, ev, payment_date, key, who)
