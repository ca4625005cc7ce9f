"""Account balances: the sum of every posting to each account (SPEC §2.4).

Postings of the loan-level types are read from the payload (:mod:`projections.legs`, pinned equal
to the models' ``legs()``); other types ask their model."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from events.envelope import RecordedEvent
from ledger.core.money import ZERO
from projections.base import Projection, Row
from projections.legs import payload_legs
from projections.loans import payload_of


class BalancesProjection(Projection[Decimal]):
    """Key: account name. Row: ``{"balance": "<decimal>"}``; zero-balance accounts are kept."""

    name = "balances"
    additive = True

    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, Decimal]]:
        if event.model_cache:  # the writer's model (an append): its legs cost nothing more
            return event.model_cache[0].legs()
        kind = event.type
        legs = payload_legs(kind, payload_of(kind, event.schema_version, event.data))
        return legs if legs is not None else event.event.legs()

    def merge(self, first: Decimal, second: Decimal) -> Decimal:
        return first + second

    def apply(self, row: Row | None, change: Decimal) -> Row:
        before = Decimal(row["balance"]) if row else ZERO
        return {"balance": str(before + change)}
