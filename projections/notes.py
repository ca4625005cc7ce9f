"""Notes and triggers projection: what the cycle events say about the notes and trigger states.

Keys and rows (money as decimal strings, exact to the fen):

* ``note:<id>`` — ``original``, ``balance``, ``factor`` (balance / original, 10 decimals),
  ``interest_shortfall`` (carried to the next payment date), ``interest_paid`` /
  ``principal_paid`` / ``return_paid`` (cumulative, from :class:`DistributionPaid`),
  ``last_payment_date``;
* ``fee:<id>`` — ``unpaid`` (carried forward), ``last_payment_date``;
* ``trigger:<id>`` — ``in_effect``, ``breached``, ``sticky``, ``as_of``, ``value``, ``threshold``
  from the latest :class:`TriggerEvaluated`;
* ``declared:<trigger id>`` — ``declared`` (an :class:`EventDeclared` not revoked), ``on``, ``by``;
* ``cycle`` — ``last_payment_date``, ``period_index``, ``mode`` of the latest waterfall.

Pure fold over the events (SPEC §2.5); the cycle (``ledger/cycle/``) folds the same projection
in memory to build the state of each determination date.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from events.envelope import RecordedEvent
from events.model import upcast
from projections.base import Projection, Row

__all__ = ["NOTE_EVENT_TYPES", "NotesProjection", "factor"]

NOTE_EVENT_TYPES = frozenset(
    {
        "NotesIssued",
        "WaterfallExecuted",
        "DistributionPaid",
        "TriggerEvaluated",
        "EventDeclared",
    }
)
_FACTOR = Decimal("0.0000000001")

Change = tuple[str, dict[str, Any]]
"""``(what, data)``: how the row changes."""


def factor(balance: Decimal, original: Decimal) -> str:
    """Pool-factor style note factor, 10 decimals (1 for a class issued at zero)."""
    if original == 0:
        return str(Decimal(1).quantize(_FACTOR))
    return str((balance / original).quantize(_FACTOR))


def _note_row(row: Row | None) -> dict[str, Any]:
    base: dict[str, Any] = {
        "original": "0.00",
        "balance": "0.00",
        "factor": factor(Decimal(0), Decimal(0)),
        "interest_shortfall": "0.00",
        "interest_paid": "0.00",
        "principal_paid": "0.00",
        "return_paid": "0.00",
        "last_payment_date": None,
    }
    if row:
        base.update(row)
    return base


class NotesProjection(Projection[Change]):
    """Keys: see the module docstring."""

    name = "notes"

    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, Change]]:
        kind = event.type
        if kind not in NOTE_EVENT_TYPES:
            return []
        data = upcast(kind, event.schema_version, event.data)
        out: list[tuple[str, Change]] = []
        if kind == "NotesIssued":
            for n in data["notes"]:
                out.append((f"note:{n['note_id']}", ("issued", n)))
        elif kind == "WaterfallExecuted":
            pd = data["payment_date"]
            for n in data["notes"]:
                out.append((f"note:{n['note_id']}", ("waterfall", {**n, "payment_date": pd})))
            for fid, unpaid in sorted(data["fees_unpaid"].items()):
                out.append((f"fee:{fid}", ("fee", {"unpaid": unpaid, "payment_date": pd})))
            for cid, usage in sorted(data.get("cap_usage", {}).items()):
                out.append((f"cap:{cid}", ("cap", usage)))
            cycle = {"last_payment_date": pd, "period_index": data["period_index"]}
            out.append(("cycle", ("cycle", {**cycle, "mode": data["mode"]})))
        elif kind == "DistributionPaid":
            for p in data["payments"]:
                if p.get("note_id") and p["kind"] in ("interest", "principal", "return"):
                    out.append((f"note:{p['note_id']}", ("paid", p)))
        elif kind == "TriggerEvaluated":
            keep = ("in_effect", "breached", "sticky", "as_of", "value", "threshold")
            row = {k: data[k] for k in keep}
            row["watch_since"] = data.get("watch_since")
            row["watch_evaluations"] = data.get("watch_evaluations")
            out.append((f"trigger:{data['trigger_id']}", ("trigger", row)))
        elif kind == "EventDeclared":
            row = {
                "declared": not data.get("revoked", False),
                "on": data["declared_on"],
                "by": data["declared_by"],
            }
            out.append((f"declared:{data['trigger_id']}", ("declared", row)))
        return out

    def apply(self, row: Row | None, change: Change) -> Row | None:
        what, data = change
        if what in ("trigger", "declared", "cycle", "cap"):
            return dict(data)
        if what == "fee":
            return {"unpaid": data["unpaid"], "last_payment_date": data["payment_date"]}
        new = _note_row(row)
        if what == "issued":
            amount = data["amount"]
            new.update(original=amount, balance=amount, interest_shortfall="0.00")
        elif what == "waterfall":
            new.update(
                original=data["original"],
                balance=data["closing"],
                interest_shortfall=data["interest_shortfall"],
                last_payment_date=data["payment_date"],
            )
        elif what == "paid":
            field = f"{data['kind']}_paid"
            new[field] = str(Decimal(new[field]) + Decimal(data["amount"]))
        new["factor"] = factor(Decimal(new["balance"]), Decimal(new["original"]))
        return new
