"""Account balances: the sum of every posting to each account (SPEC §2.4)."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from events.envelope import RecordedEvent
from ledger.money import ZERO
from projections.base import Projection, Row


class BalancesProjection(Projection[Decimal]):
    """Key: account name. Row: ``{"balance": "<decimal>"}``; zero-balance accounts are kept."""

    name = "balances"
    additive = True

    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, Decimal]]:
        return event.event.legs()

    def merge(self, first: Decimal, second: Decimal) -> Decimal:
        return first + second

    def apply(self, row: Row | None, change: Decimal) -> Row:
        before = Decimal(row["balance"]) if row else ZERO
        return {"balance": str(before + change)}
