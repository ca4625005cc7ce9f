"""The loan projection: one row per loan, folded from its servicing events (issue 4, item 4).

Key: ``loan_id``. The row (JSON-able; money as decimal strings, exact to the fen):

========================= =========================================================================
``status``                ``performing``, ``delinquent``, ``defaulted``, ``repurchased``,
                          ``written_off`` or ``paid_off``
                          (:class:`ledger.servicing.tape_formats.LoanStatus` values);
                          the delinquency bucket follows from ``dpd`` (:func:`delinquency_bucket`)
``dpd``                   days past due as last reported (boarding tape, delinquency reports, the
                          default)
``dpd_log``               the last :data:`DPD_LOG` reported values, newest last (to undo a reversed
                          report; a reversal of an older report than those is not undone exactly)
``balance``               performing principal: boarded − collected − defaulted − repurchased
``boarded``               principal boarded (the cut-off balance, plus later purchases)
``scheduled``/``prepaid`` principal collected as instalments / as prepayments while performing
``interest``/``fees``     interest and fees collected
``defaulted``             principal at default (the loan's balance then); ``defaulted_on`` the
                          value date of the default standing (present once defaulted)
``recoveries``            principal recovered after default (a version-1 recovery: its amount)
``recovered_interest``/``recovered_fees``  interest and fees recovered after default (present
                          once a recovery carried them)
``default_paid``          principal collected (COLLECTION) after default
``written_off``           principal written off
``repurchased``           principal repurchased; ``repurchase_price`` the price paid
``n_default``/``n_write_off``/``n_repurchase``  how many such events stand (net of reversals)
terms                     ``rate``, ``amortization``, ``payment_day``, ``maturity``,
                          ``remaining_term``, ``cut_off``, ``boarded_on`` (from ``LoanBoarded``)
========================= =========================================================================

Status: repurchased, else written off, else defaulted (**sticky**: a default stands until it is
reversed, whatever is reported afterwards — seed 004 L2792–L2797, seed 001 L18725–L18731), else
paid off (boarded and nothing left), else delinquent (``dpd`` > 0), else performing. It is derived
from the counters on every change, so an ``EventReversed`` (which carries the original's type and
payload) undoes the original by applying it with the opposite sign, and the status follows.

Fast path: :meth:`LoanProjection.changes` reads the stored payload (``event.data``) instead of
validating it through pydantic again (it was validated when appended); a payload stored at an older
schema version is upcast first.

Scheduled vs paid is a query on a row (:func:`scheduled_vs_paid`), computed from the boarding
terms with :mod:`ledger.core.amortisation`; so is the Driver China Thirteen Discounted Receivables
Balance (:func:`ledger.core.discounting.loan_drb`): they depend on the valuation date, not only
on the events.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from events.envelope import RecordedEvent
from events.model import Payload, event_class, upcast
from ledger.core.amortisation import (
    Amortization,
    ScheduleRow,
    add_months,
    due_date,
    schedule,
)
from ledger.core.money import ZERO, Money
from projections.base import Projection, Row
from projections.rows import live_rows

if TYPE_CHECKING:
    from events.store import EventStore


class LoanStatus(StrEnum):
    """Loan status as the servicer-tape checks see it (the loan projection's coarse status)."""

    PERFORMING = "performing"
    DELINQUENT = "delinquent"
    DEFAULTED = "defaulted"
    REPURCHASED = "repurchased"
    WRITTEN_OFF = "written_off"
    PAID_OFF = "paid_off"


GONE: frozenset[LoanStatus] = frozenset(
    {LoanStatus.REPURCHASED, LoanStatus.WRITTEN_OFF, LoanStatus.PAID_OFF}
)
"""Statuses of a loan that has left the pool for good."""


class LoanSnapshot(BaseModel):
    """What the servicer-tape checks need to know about a loan before the tape is applied.

    ``outstanding_principal`` is the contractual principal still owed (for a defaulted loan: not
    yet recovered or written off).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    outstanding_principal: Money
    status: LoanStatus
    days_past_due: int = Field(default=0, ge=0)


__all__ = [
    "DPD_LOG",
    "LOAN_EVENT_TYPES",
    "LoanChange",
    "LoanProjection",
    "ScheduledVsPaid",
    "delinquency_bucket",
    "loan_outstanding",
    "loan_rows",
    "loan_snapshot",
    "loan_snapshots",
    "payload_of",
    "scheduled_vs_paid",
]

DPD_LOG = 12
"""How many reported days-past-due values a row keeps to undo reversed reports."""

LOAN_EVENT_TYPES = frozenset(
    {
        "LoanBoarded",
        "CollectionReceived",
        "LoanDelinquencyReported",
        "LoanDefaulted",
        "RecoveryReceived",
        "LoanWrittenOff",
        "LoanRepurchased",
    }
)

LoanChange = tuple[int, str, Payload]
"""``(sign, event type, payload)``: +1 applies the event, -1 undoes it (a reversal)."""

_VERSIONS: dict[str, int] = {}


def payload_of(type_: str, version: int, data: Payload) -> Payload:
    """The stored payload at the type's current schema version (upcast only when it is older)."""
    current = _VERSIONS.get(type_)
    if current is None:
        current = _VERSIONS[type_] = event_class(type_).schema_version
    return data if version == current else upcast(type_, version, data)


def _d(value: Any) -> Decimal:
    return Decimal(value) if value is not None else ZERO


def _add(text: str, delta: Decimal) -> str:
    v = Decimal(text) + delta
    return str(v if v else ZERO)


_MONEY_FIELDS = (
    "balance",
    "boarded",
    "scheduled",
    "prepaid",
    "interest",
    "fees",
    "defaulted",
    "recoveries",
    "default_paid",
    "written_off",
    "repurchased",
    "repurchase_price",
)


def _empty() -> dict[str, Any]:
    row: dict[str, Any] = dict.fromkeys(_MONEY_FIELDS, "0.00")
    row.update(
        status=LoanStatus.PERFORMING.value,
        dpd=0,
        dpd_log=[],
        n_default=0,
        n_write_off=0,
        n_repurchase=0,
    )
    return row


def _status(row: Mapping[str, Any]) -> str:
    if row["n_repurchase"] > 0:
        return LoanStatus.REPURCHASED.value
    if row["n_write_off"] > 0:
        return LoanStatus.WRITTEN_OFF.value
    if row["n_default"] > 0:
        return LoanStatus.DEFAULTED.value
    if Decimal(row["balance"]) == 0 and Decimal(row["boarded"]) > 0:
        return LoanStatus.PAID_OFF.value
    if row["dpd"] > 0:
        return LoanStatus.DELINQUENT.value
    return LoanStatus.PERFORMING.value


def _report_dpd(row: dict[str, Any], sign: int, dpd: int) -> None:
    log = list(row["dpd_log"])
    if sign > 0:
        log.append(dpd)
        del log[:-DPD_LOG]
    else:
        for i in range(len(log) - 1, -1, -1):
            if log[i] == dpd:
                del log[i]
                break
    row["dpd_log"] = log
    row["dpd"] = log[-1] if log else 0


def apply_loan_change(row: Row | None, change: LoanChange) -> dict[str, Any]:
    """The loan row after one change (pure: ``row`` is not modified)."""
    sign, kind, data = change
    new: dict[str, Any] = dict(row) if row is not None else _empty()
    if kind == "CollectionReceived":
        principal = _d(data.get("principal"))
        if principal:
            p = principal if sign > 0 else -principal
            if new["n_default"] > 0:
                new["default_paid"] = _add(new["default_paid"], p)
            else:
                new["balance"] = _add(new["balance"], -p)
                field = "prepaid" if data.get("prepayment") else "scheduled"
                new[field] = _add(new[field], p)
        for field in ("interest", "fees"):
            amount = data.get(field)
            if amount is not None and amount not in ("0", "0.00"):
                a = Decimal(amount)
                new[field] = _add(new[field], a if sign > 0 else -a)
    elif kind == "LoanDelinquencyReported":
        _report_dpd(new, sign, int(data["days_past_due"]))
    elif kind == "LoanDefaulted":
        p = _d(data.get("principal"))
        p = p if sign > 0 else -p
        new["defaulted"] = _add(new["defaulted"], p)
        new["balance"] = _add(new["balance"], -p)
        new["n_default"] += sign
        if sign > 0:
            new["defaulted_on"] = data["value_date"]
        elif new["n_default"] <= 0:
            new.pop("defaulted_on", None)
        if data.get("days_past_due") is not None:
            _report_dpd(new, sign, int(data["days_past_due"]))
    elif kind == "RecoveryReceived":
        # a reversal carries the original's payload as stored: a version-1 one has only the lump
        # amount, which version 2 reads as principal (events/servicing.py)
        a = Decimal(data["principal"] if "principal" in data else data["amount"])
        new["recoveries"] = _add(new["recoveries"], a if sign > 0 else -a)
        for field, part in (("recovered_interest", "interest"), ("recovered_fees", "fees")):
            amount = data.get(part)
            if amount is not None and amount not in ("0", "0.00"):
                a = Decimal(amount)
                new[field] = _add(new.get(field, "0.00"), a if sign > 0 else -a)
    elif kind == "LoanWrittenOff":
        a = Decimal(data["amount"])
        new["written_off"] = _add(new["written_off"], a if sign > 0 else -a)
        new["n_write_off"] += sign
    elif kind == "LoanRepurchased":
        p = Decimal(data["principal"])
        price = Decimal(data["price"])
        if sign < 0:
            p, price = -p, -price
        new["repurchased"] = _add(new["repurchased"], p)
        new["repurchase_price"] = _add(new["repurchase_price"], price)
        if data.get("from_defaulted"):
            new["default_paid"] = _add(new["default_paid"], p)
        else:
            new["balance"] = _add(new["balance"], -p)
        new["n_repurchase"] += sign
    elif kind == "LoanBoarded":
        p = Decimal(data["outstanding_principal"])
        p = p if sign > 0 else -p
        new["boarded"] = _add(new["boarded"], p)
        new["balance"] = _add(new["balance"], p)
        if sign > 0:
            new.update(
                rate=data["interest_rate"],
                amortization=data["amortization"],
                payment_day=data["payment_day"],
                maturity=data["maturity_date"],
                remaining_term=data["remaining_term_months"],
                cut_off=data["cut_off_date"],
            )
        _report_dpd(new, sign, int(data.get("days_past_due") or 0))
    new["status"] = _status(new)
    return new


def loan_changes(event: RecordedEvent) -> list[tuple[str, LoanChange]]:
    """The (loan id, change) pairs of one event: none for events about no loan."""
    return loan_changes_of(event.type, event.schema_version, event.data)


def loan_changes_of(kind: str, version: int, stored: Payload) -> list[tuple[str, LoanChange]]:
    """:func:`loan_changes` from an event's type, schema version and stored payload."""
    if kind in LOAN_EVENT_TYPES:
        data = payload_of(kind, version, stored)
        return [(data["loan_id"], (1, kind, data))]
    if kind == "EventReversed":
        data = stored
        original = data.get("reversed_type")
        if original in LOAN_EVENT_TYPES:
            payload = data.get("reversed_data") or {}
            if "loan_id" in payload:
                return [(payload["loan_id"], (-1, original, payload))]
    return []


class LoanProjection(Projection[LoanChange]):
    """Key: loan id. Row: see the module docstring."""

    name = "loans"

    def changes(self, event: RecordedEvent) -> Iterable[tuple[str, LoanChange]]:
        return loan_changes(event)

    def apply(self, row: Row | None, change: LoanChange) -> Row:
        return apply_loan_change(row, change)


# --- queries --------------------------------------------------------------------------------------


def delinquency_bucket(dpd: int) -> str:
    """``current``, ``1-30``, ``31-60``, ``61-90`` or ``90+``."""
    if dpd <= 0:
        return "current"
    if dpd <= 30:
        return "1-30"
    if dpd <= 60:
        return "31-60"
    if dpd <= 90:
        return "61-90"
    return "90+"


def default_outstanding(row: Mapping[str, Any]) -> Decimal:
    """Principal of a defaulted loan not yet recovered, collected, repurchased or written off."""
    left = (
        Decimal(row["defaulted"])
        - Decimal(row["recoveries"])
        - Decimal(row["default_paid"])
        - Decimal(row["written_off"])
    )
    return max(left, ZERO)


_NOTHING_OWED = (LoanStatus.REPURCHASED.value, LoanStatus.WRITTEN_OFF.value)
_DEFAULTED = LoanStatus.DEFAULTED.value


def loan_outstanding(row: Mapping[str, Any]) -> Decimal:
    """The contractual principal still owed (for a defaulted loan: not yet recovered or written
    off), as :class:`ledger.servicing.tape_formats.LoanSnapshot` means it."""
    status = row["status"]
    if status in _NOTHING_OWED:
        return ZERO
    if status == _DEFAULTED:
        return default_outstanding(row) + max(Decimal(row["balance"]), ZERO)
    return Decimal(row["balance"])


def loan_snapshot(row: Mapping[str, Any]) -> LoanSnapshot:
    return LoanSnapshot.model_construct(
        outstanding_principal=loan_outstanding(row),
        status=LoanStatus(row["status"]),
        days_past_due=int(row["dpd"]),
    )


def loan_rows(store: EventStore, deal_id: str) -> dict[str, Mapping[str, Any]]:
    """Every loan's live row."""
    live = live_rows(store.engine, deal_id, LoanProjection.name)
    return {k: v.row for k, v in live.items()}


def loan_snapshots(store: EventStore, deal_id: str) -> dict[str, LoanSnapshot]:
    """Each loan's state from the live loan projection, for the servicer-tape checks
    (:func:`ledger.servicing.tape_formats.check_servicer_rows`)."""
    return {k: loan_snapshot(row) for k, row in loan_rows(store, deal_id).items()}


def _schedule(row: Mapping[str, Any]) -> tuple[ScheduleRow, ...]:
    if "rate" not in row:
        return ()
    n = int(row["remaining_term"])
    if n < 1:
        return ()
    maturity = date.fromisoformat(row["maturity"])
    y, m = add_months(maturity.year, maturity.month, -(n - 1))
    return schedule(
        Decimal(row["boarded"]),
        Decimal(row["rate"]),
        n,
        Amortization(row["amortization"]),
        due_date(y, m, int(row["payment_day"])),
        int(row["payment_day"]),
    )


@dataclass(frozen=True, slots=True)
class ScheduledVsPaid:
    as_of: date
    scheduled_principal: Decimal
    """Principal due by ``as_of`` under the boarding schedule."""
    paid_principal: Decimal
    """Principal collected (instalments and prepayments) by the last event folded."""
    instalments_due: int

    @property
    def arrears(self) -> Decimal:
        """Scheduled principal not yet paid (never negative: prepaid principal is not arrears)."""
        return max(self.scheduled_principal - self.paid_principal, ZERO)


def scheduled_vs_paid(row: Mapping[str, Any], as_of: date) -> ScheduledVsPaid:
    """Principal scheduled by ``as_of`` (from the boarding terms and
    :mod:`ledger.core.amortisation`)
    against principal paid."""
    due = [r for r in _schedule(row) if r.due_date <= as_of]
    scheduled = sum((r.principal for r in due), ZERO)
    paid = Decimal(row["scheduled"]) + Decimal(row["prepaid"])
    return ScheduledVsPaid(as_of, scheduled, paid, len(due))
