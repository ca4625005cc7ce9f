"""Small builders shared by the tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import TypedDict

from events.catalogue import AdjustmentPosted, CollectionReceived
from events.envelope import NewEvent
from events.policy import Identity, rule_of
from ledger.core.journal import transfer

DEAL = "DEAL-1"
TRUSTEE = Identity("trustee-officer", "trustee")
SERVICER = Identity("servicer-ops", "servicer")


class Poster(TypedDict):
    actor: str
    role: str


def posted_by(type_name: str, reversed_type: str | None = None) -> Poster:
    """``actor`` and ``role`` for a test event of ``type_name``: a role the policy lets post it
    (for a reversal, one that may reverse ``reversed_type``)."""
    rule = rule_of(reversed_type or "") if type_name == "EventReversed" else rule_of(type_name)
    role = sorted(rule.reverse if type_name == "EventReversed" else rule.post)[0]
    return Poster(actor=f"{role}-ops", role=role)


def collection(
    n: int,
    *,
    deal: str = DEAL,
    loan: str | None = None,
    principal: str = "100.00",
    interest: str = "5.00",
    key: str | None = None,
) -> NewEvent:
    loan_id = loan or f"L{n:06d}"
    ev = CollectionReceived(
        loan_id=loan_id,
        value_date=date(2024, 3, 1 + n % 28),
        principal=Decimal(principal),
        interest=Decimal(interest),
    )
    return NewEvent.of(
        ev,
        deal_id=deal,
        stream_id=ev.default_stream(),
        effective_date=ev.value_date,
        idempotency_key=key or f"col-{n}",
        actor="servicer-ops",
        role="servicer",
    )


def adjustment(
    amount: str,
    *,
    deal: str = DEAL,
    key: str = "adj-1",
    debit: str = "trust:income",
    credit: str = "equity:seller",
) -> NewEvent:
    ev = AdjustmentPosted(entry=transfer(debit, credit, Decimal(amount)), reason="test")
    return NewEvent.of(
        ev, deal_id=deal, stream_id="deal", effective_date=date(2024, 3, 1), idempotency_key=key,
        actor="trustee-ops", role="trustee",
    )  # fmt: skip
