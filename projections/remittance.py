"""Servicer remittance: collections held by the servicer vs remitted to the trust (issue 4, item 6).

Key: the value date ``YYYY-MM-DD`` of each cash movement (the event's effective date). Row, all
decimal strings, additive:

* ``collected`` — cash the servicer collected for the trust that day: collections (principal,
  interest, fees), recoveries, repurchase prices;
* ``remitted`` — paid over to the trust account (``CollectionsRemitted``);
* ``netted`` — Monthly Collateral applied against the Collections owed (Driver China Thirteen);
* ``posted`` / ``released`` — Monthly Collateral posted (parts 1 and 2) / released to the servicer.

The servicer's balance ``servicer:collections-held`` is the balances projection's; this one adds
what a trustee asks of it (:func:`exposure`): how much is held at any date, **since when** (first
in, first out: the oldest collection date not yet covered by remittances), how much Monthly
Collateral stands against it and the net commingling exposure; and per collection period
(:func:`remittance_periods`, calendar months as in :mod:`projections.pool`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.envelope import RecordedEvent
from events.model import Payload
from ledger.core.money import ZERO
from projections.base import Projection, Row
from projections.loans import payload_of
from projections.rows import live_rows

if TYPE_CHECKING:
    from events.store import EventStore

__all__ = [
    "Exposure",
    "RemittancePeriod",
    "RemittanceProjection",
    "commingling",
    "exposure",
    "remittance_periods",
]

FIELDS = ("collected", "remitted", "netted", "posted", "released")
Change = dict[str, Decimal]


def _amount(data: Mapping[str, Any], *names: str) -> Decimal:
    total = ZERO
    for n in names:
        v = data.get(n)
        if v is not None:
            total += Decimal(v)
    return total


def _change(kind: str, data: Mapping[str, Any]) -> Change | None:
    if kind == "CollectionReceived":
        a = _amount(data, "principal", "interest", "fees")
        return {"collected": a} if a else None
    if kind == "RecoveryReceived":
        return {"collected": Decimal(data["amount"])}
    if kind == "LoanRepurchased":
        a = Decimal(data["price"])
        return {"collected": a} if a else None
    if kind == "CollectionsRemitted":
        a = Decimal(data["amount"])
        return {"remitted": a} if a else None
    if kind == "MonthlyCollateralPosted":
        field = {"part1": "posted", "part2": "posted", "netted": "netted", "released": "released"}
        return {field[data["kind"]]: Decimal(data["amount"])}
    return None


_TYPES = frozenset(
    {
        "CollectionReceived",
        "RecoveryReceived",
        "LoanRepurchased",
        "CollectionsRemitted",
        "MonthlyCollateralPosted",
    }
)


def remittance_change(kind: str, version: int, stored: Payload) -> Change | None:
    """The change an event (its type, schema version and stored payload) makes to the row of its
    value date; None for events that move no servicer cash."""
    sign = 1
    if kind in _TYPES:
        data = payload_of(kind, version, stored)
    elif kind == "EventReversed" and stored.get("reversed_type") in _TYPES:
        kind = stored["reversed_type"]
        data = stored.get("reversed_data") or {}
        sign = -1
    else:
        return None
    change = _change(kind, data)
    if change is None:
        return None
    if sign < 0:
        change = {k: -v for k, v in change.items()}
    return change


class RemittanceProjection(Projection[Change]):
    """Key: value date. Row: ``collected``, ``remitted``, ``netted``, ``posted``, ``released``."""

    name = "remittance"
    additive = True

    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, Change]]:
        change = remittance_change(event.type, event.schema_version, event.data)
        if change is None:
            return ()
        return ((event.effective_date.isoformat(), change),)

    def merge(self, first: Change, second: Change) -> Change:
        out = dict(first)
        for k, v in second.items():
            out[k] = out.get(k, ZERO) + v
        return out

    def apply(self, row: Row | None, change: Change) -> Row:
        new: dict[str, Any] = dict(row) if row is not None else dict.fromkeys(FIELDS, "0.00")
        for k, v in change.items():
            new[k] = str(Decimal(new[k]) + v)  # order-free, as projections.pool._sum
        return new


# --- queries --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Exposure:
    as_of: date
    held: Decimal
    """Collected and not yet remitted (nor netted against Monthly Collateral)."""
    held_since: date | None
    """The oldest collection date whose cash is still held (first in, first out)."""
    collateral: Decimal
    """Monthly Collateral standing in the trust's account (posted − netted − released)."""
    net_exposure: Decimal
    """What the trust would lose to the servicer's insolvency: held less collateral, at least 0."""


def _days(rows: Mapping[str, Mapping[str, Any]], as_of: date | None) -> list[tuple[str, Any]]:
    stop = as_of.isoformat() if as_of else None
    return sorted((k, v) for k, v in rows.items() if stop is None or k <= stop)


def exposure(rows: Mapping[str, Mapping[str, Any]], as_of: date) -> Exposure:
    """The commingling position at the end of ``as_of`` (pure, from the projection's rows)."""
    days = _days(rows, as_of)
    total = {f: sum((Decimal(r[f]) for _, r in days), ZERO) for f in FIELDS}
    paid = total["remitted"] + total["netted"]
    held = total["collected"] - paid
    since: date | None = None
    if held > 0:
        cum = ZERO
        for day, r in days:
            cum += Decimal(r["collected"])
            if cum > paid:
                since = date.fromisoformat(day)
                break
    collateral = total["posted"] - total["netted"] - total["released"]
    return Exposure(as_of, held, since, collateral, max(held - collateral, ZERO))


@dataclass(frozen=True, slots=True)
class RemittancePeriod:
    period: str
    collected: Decimal
    remitted: Decimal
    netted: Decimal
    collateral_posted: Decimal
    collateral_released: Decimal
    at_end: Exposure
    peak_held: Decimal
    """The most held at the end of any day of the period."""


def remittance_periods(rows: Mapping[str, Mapping[str, Any]]) -> list[RemittancePeriod]:
    """Per calendar month: flows, the position at the month's last movement and the peak held."""
    days = _days(rows, None)
    out: list[RemittancePeriod] = []
    held = ZERO
    i = 0
    while i < len(days):
        period = days[i][0][:7]
        sums = dict.fromkeys(FIELDS, ZERO)
        peak = held
        last = days[i][0]
        while i < len(days) and days[i][0][:7] == period:
            day, r = days[i]
            for f in FIELDS:
                sums[f] += Decimal(r[f])
            held += Decimal(r["collected"]) - Decimal(r["remitted"]) - Decimal(r["netted"])
            peak = max(peak, held)
            last = day
            i += 1
        out.append(
            RemittancePeriod(
                period,
                sums["collected"],
                sums["remitted"],
                sums["netted"],
                sums["posted"],
                sums["released"],
                exposure(rows, date.fromisoformat(last)),
                peak,
            )
        )
    return out


def commingling(store: EventStore, deal_id: str, as_of: date) -> Exposure:
    """:func:`exposure` from the live rows."""
    live = live_rows(store.engine, deal_id, RemittanceProjection.name)
    return exposure({k: v.row for k, v in live.items()}, as_of)
