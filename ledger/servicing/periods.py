"""A deal's collection periods and the one open for servicer tapes.

**Open collection period** — from the deal's calendar: periods end on the calculation dates
  (``calculation_day`` in the month of ``first_calculation_date`` + k × ``frequency_months``), the
  first one starting on the cut-off date (included; a day early for deals that exclude it). The
  open period is the first one not ended by a ``CollectionPeriodClosed`` event (on the ``cycle``
  stream; its data's ``collection_period_end``). Callers may pass ``period=(start, end)`` instead
  (the CLI's ``--period-start/--period-end``)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, timedelta
from typing import Literal

from ledger.core.amortisation import add_months
from ledger.core.calendar.rules import calculation_date_for
from ledger.deal.schema import DealDefinition
from ledger.servicing.deals import deal_in_force
from projections.store import ProjectedStore

CLOSED_TYPE = "CollectionPeriodClosed"
CYCLE_STREAM = "cycle"


# ---------------------------------------------------------------------------------- periods


def collection_periods(deal: DealDefinition) -> Iterable[tuple[date, date]]:
    """The deal's collection periods ``(start, end)``, both inclusive, from the first on."""
    cal = deal.calendar
    day: int | Literal["last"] = (
        "last" if cal.calculation_day == "month_end" else cal.calculation_day
    )
    first = cal.first_calculation_date
    start = cal.cut_off_date
    k = 0
    while True:
        y, m = add_months(first.year, first.month, k * cal.frequency_months)
        end = calculation_date_for(y, m, day)
        yield start, end
        start = end + timedelta(days=1)
        k += 1


def _closed_until(store: ProjectedStore, deal_id: str) -> date | None:
    last: date | None = None
    # on the cycle stream (events/cycle.py): the stream index keeps this off the deal's loan events
    for ev in store.read(deal_id, stream_id=CYCLE_STREAM, types=[CLOSED_TYPE]):
        value = ev.data.get("collection_period_end")
        if isinstance(value, str):
            end = date.fromisoformat(value)
            last = end if last is None or end > last else last
    return last


def open_collection_period(
    store: ProjectedStore, deal_id: str, deal: DealDefinition | None = None
) -> tuple[date, date]:
    """The first collection period of the deal's calendar not closed yet (see module notes)."""
    deal = deal or deal_in_force(store, deal_id)
    closed = _closed_until(store, deal_id)
    for start, end in collection_periods(deal):
        if closed is None or end > closed:
            return start, end
    raise AssertionError("unreachable")  # pragma: no cover - the generator is endless
