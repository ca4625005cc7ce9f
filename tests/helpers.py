"""Small builders shared by the tests."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

from events.catalogue import AdjustmentPosted, CollectionReceived
from events.envelope import NewEvent
from ledger.core.journal import transfer

DEAL = "DEAL-1"


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
        ev, deal_id=deal, stream_id="deal", effective_date=date(2024, 3, 1), idempotency_key=key
    )
