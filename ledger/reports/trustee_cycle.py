"""One payment date's cycle events as the trustee report reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import TYPE_CHECKING

from events.cycle import (
    CYCLE_STREAM,
    CollectionPeriodClosed,
    DistributionPaid,
    FeeAccrued,
    InterestAccrued,
    TriggerEvaluated,
    WaterfallExecuted,
)
from events.envelope import RecordedEvent

if TYPE_CHECKING:
    pass


CYCLE_TYPES = frozenset(
    {
        "CollectionPeriodClosed",
        "CleanUpCallExercised",
        "TriggerEvaluated",
        "InterestAccrued",
        "FeeAccrued",
        "WaterfallExecuted",
        "DistributionPaid",
    }
)


class PaymentDateCycle:
    """One payment date's cycle events, parsed."""

    def __init__(self, events: Sequence[RecordedEvent], payment_date: date) -> None:
        day = payment_date.isoformat()
        mine = [
            e
            for e in events
            if e.stream_id == CYCLE_STREAM
            and e.type in CYCLE_TYPES
            and e.data.get("payment_date") == day
        ]
        self.recorded = mine
        self.closed: CollectionPeriodClosed | None = None
        self.waterfall: WaterfallExecuted | None = None
        self.waterfall_seq = 0
        self.distribution: DistributionPaid | None = None
        self.triggers: list[TriggerEvaluated] = []
        self.interest: dict[str, InterestAccrued] = {}
        self.fees: dict[str, FeeAccrued] = {}
        for e in mine:
            ev = e.event
            if isinstance(ev, CollectionPeriodClosed):
                self.closed = ev
            elif isinstance(ev, WaterfallExecuted):
                self.waterfall, self.waterfall_seq = ev, e.deal_seq
            elif isinstance(ev, DistributionPaid):
                self.distribution = ev
            elif isinstance(ev, TriggerEvaluated):
                self.triggers.append(ev)
            elif isinstance(ev, InterestAccrued):
                self.interest[ev.note_id] = ev
            elif isinstance(ev, FeeAccrued):
                self.fees[ev.fee_id] = ev


def default_ratio_trigger(triggers: Sequence[TriggerEvaluated]) -> TriggerEvaluated | None:
    """The deal's cumulative default (or loss) ratio trigger among one date's evaluations: the
    first, by id, whose metric names defaults or losses and that has a threshold."""
    for t in sorted(triggers, key=lambda t: t.trigger_id):
        metric = (t.metric or "").lower()
        if t.threshold is not None and ("default" in metric or "loss" in metric):
            return t
    return None
