"""Single events posted by an operator (``trust-ledger post``, ``POST /deals/{deal}/events``),
validated like a tape row, and reversals (``EventReversed``) that net an event out."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import date
from typing import Any

from events.catalogue import EventReversed
from events.envelope import NewEvent, RecordedEvent, event_id_for
from events.hashing import canonical_bytes, check_no_floats
from events.model import Event, event_class
from events.servicing import (
    LoanRepurchased,
    RecoveryReceived,
)
from ledger.core.expr import ExprError
from ledger.core.journal import JournalEntry, Posting
from ledger.deal.schema import DealDefinition
from ledger.servicing.deals import deal_in_force
from ledger.servicing.periods import open_collection_period
from ledger.servicing.repurchase import (
    INTEREST_FIELD,
    RepurchasePriceError,
    price_fields,
    stated_price_error,
)
from ledger.servicing.results import ServicingError
from ledger.servicing.servicer_import import lean_loan_snapshots, loan_rows_of
from ledger.servicing.tape_checks import check_servicer_rows
from ledger.servicing.tape_formats import RecordType, ServicerRow, TapeError, TapeRejected, trusted
from projections.loans import LoanStatus
from projections.store import ProjectedStore

# ---------------------------------------------------------------------------------- posts

_AS_ROW: dict[str, RecordType] = {
    "CollectionReceived": RecordType.COLLECTION,
    "LoanDelinquencyReported": RecordType.DELINQUENCY,
    "LoanDefaulted": RecordType.DEFAULT,
    "RecoveryReceived": RecordType.RECOVERY,
    "LoanWrittenOff": RecordType.WRITE_OFF,
    "LoanRepurchased": RecordType.REPURCHASE,
}
"""Event types an operator may post that are tape records, checked like one."""

_NOT_POSTABLE = {
    "DealDefined": "use `deal load FILE`",
    "LoanBoarded": "board loans with `tape import` (a boarding tape)",
    "PoolBoarded": "board loans with `tape import` (a boarding tape)",
    "EventReversed": 'use `post reversal --data \'{"event_id": ..., "reason": ...}\'`',
}


def _row_of(ev: Event) -> ServicerRow:
    """The servicer-tape record an event posted by hand stands for (for the state checks)."""
    d = ev.__dict__
    kind = _AS_ROW[ev.type_name]
    values: dict[str, Any] = dict.fromkeys(ServicerRow.model_fields)
    values.update(record_type=kind, loan_id=d["loan_id"], value_date=d["value_date"])
    values["extra"] = dict(d.get("extra") or {})
    values["reference"] = d.get("reference")
    values["reason"] = d.get("reason")
    values["days_past_due"] = d.get("days_past_due")
    if kind is RecordType.COLLECTION:
        values.update(
            principal=d["principal"],
            interest=d["interest"],
            fees=d["fees"],
            prepayment=d["prepayment"],
        )
    elif kind is RecordType.DEFAULT:
        values["principal"] = d["principal"]
    elif kind is RecordType.RECOVERY:
        values.update(principal=d["principal"], interest=d["interest"], fees=d["fees"])
    elif kind is RecordType.WRITE_OFF:
        values["principal"] = d["amount"]
    elif kind is RecordType.REPURCHASE:
        values["principal"] = d["principal"]
    return trusted(ServicerRow, values)


def _repurchase_price_errors(
    store: ProjectedStore, deal: DealDefinition, ev: LoanRepurchased, where: str
) -> list[TapeError]:
    """A posted repurchase's price must be the deal's (:mod:`ledger.servicing.repurchase`), unless
    the deal's formula takes the accrued unpaid interest as a term: then price − principal is that
    interest, the servicer's figure."""
    if deal.repurchase_price is None or INTEREST_FIELD in price_fields(deal):
        return []
    row = loan_rows_of(store, deal.deal_id, [ev.loan_id])[ev.loan_id]
    try:
        _, problem = stated_price_error(deal, row, ev.principal, None, ev.value_date, ev.price)
    except (RepurchasePriceError, ExprError) as exc:
        return [TapeError(where, 1, "price", str(exc))]
    return [] if problem is None else [TapeError(where, 1, "price", problem)]


def post_event(
    store: ProjectedStore,
    type_name: str,
    deal_id: str,
    data: Mapping[str, Any],
    actor: str = "operator",
    role: str = "servicer",
    *,
    idempotency_key: str | None = None,
    effective_date: date | None = None,
    period: tuple[date, date] | None = None,
) -> RecordedEvent:
    """Post one event by an operator, validated like a tape row.

    The payload is validated by its event model (floats refused); a loan-level servicing event is
    also checked against the loan's state and the open collection period like the tape record it
    stands for (:func:`check_servicer_rows`). The idempotency key defaults to a hash of the type
    and payload, so a retried post returns the original. Errors: :class:`TapeRejected` (each with
    the field) for the payload, :class:`ServicingError` for types that cannot be posted.
    """
    where = f"post {type_name}"
    if type_name in _NOT_POSTABLE:
        raise ServicingError(f"{type_name} cannot be posted directly: {_NOT_POSTABLE[type_name]}")
    try:
        cls = event_class(type_name)
    except LookupError as exc:
        raise ServicingError(str(exc)) from None
    try:
        check_no_floats(dict(data))
        ev = cls.model_validate(dict(data))
    except (TypeError, ValueError) as exc:
        raise TapeRejected(_validation_errors(where, exc)) from None
    if type_name in _AS_ROW:
        deal = deal_in_force(store, deal_id)
        loans = lean_loan_snapshots(store, deal_id)
        window = period or open_collection_period(store, deal_id, deal)
        row = _row_of(ev)
        errors = check_servicer_rows([row], loans, window, file=where, lines=[1])
        snap = loans.get(row.loan_id)
        if isinstance(ev, LoanRepurchased) and snap is not None and not errors:
            is_defaulted = snap.status is LoanStatus.DEFAULTED
            if ev.from_defaulted != is_defaulted:
                errors.append(
                    TapeError(
                        where,
                        1,
                        "from_defaulted",
                        f"the loan is {snap.status.value}: from_defaulted must be "
                        f"{str(is_defaulted).lower()}",
                    )
                )
        if isinstance(ev, LoanRepurchased) and not errors:
            errors += _repurchase_price_errors(store, deal, ev, where)
        if isinstance(ev, RecoveryReceived) and snap is not None and not errors:
            is_written_off = snap.status is LoanStatus.WRITTEN_OFF
            if ev.written_off != is_written_off:
                errors.append(
                    TapeError(
                        where,
                        1,
                        "written_off",
                        f"the loan is {snap.status.value}: written_off must be "
                        f"{str(is_written_off).lower()}",
                    )
                )
        if errors:
            raise TapeRejected(errors)
    payload = ev.payload()
    key = (
        idempotency_key
        or "post:" + hashlib.sha256(canonical_bytes([type_name, payload])).hexdigest()
    )
    value_date = ev.__dict__.get("value_date")
    when = effective_date or (value_date if isinstance(value_date, date) else None)
    if when is None:
        raise ServicingError(f"{type_name} has no value_date: give the effective date")
    new = NewEvent.of(
        ev,
        deal_id=deal_id,
        stream_id=ev.default_stream(),
        effective_date=when,
        idempotency_key=key,
        actor=actor,
        role=role,
    )
    return store.append([new]).events[0]


def _validation_errors(where: str, exc: Exception) -> list[TapeError]:
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        out = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"])
            out.append(TapeError(where, 1, loc, str(e["msg"]).removeprefix("Value error, ")))
        return out
    return [TapeError(where, 1, "", str(exc))]


def negate_entries(ev: Event) -> tuple[JournalEntry, ...]:
    """The exact negation of an event's journal entries, verified posting by posting."""
    out: list[JournalEntry] = []
    for entry in ev.entries():
        neg = JournalEntry(
            postings=tuple(Posting(account=p.account, amount=-p.amount) for p in entry.postings),
            memo=f"reversal: {entry.memo}" if entry.memo else "reversal",
        )
        exact = len(neg.postings) == len(entry.postings) and all(
            a.account == b.account and a.amount == -b.amount and a.amount + b.amount == 0
            for a, b in zip(neg.postings, entry.postings, strict=True)
        )
        if not exact:  # pragma: no cover - a broken Posting model would be the only cause
            raise ServicingError("reversal entries are not the exact negation of the original's")
        out.append(neg)
    return tuple(out)


def reverse_event(
    store: ProjectedStore,
    deal_id: str,
    event_id: str,
    reason: str,
    actor: str = "operator",
    role: str = "trustee",
    *,
    effective_date: date | None = None,
) -> RecordedEvent:
    """Append ``EventReversed`` netting out ``event_id`` (same stream, same effective date by
    default); the original stays in history. Refuses an unknown event, a reversal, a deal
    definition and an event reversed already (a retry with the same reason returns the original
    reversal)."""
    original = store.get(deal_id, event_id)
    if original is None:
        raise ServicingError(f"deal {deal_id!r} has no event {event_id!r}")
    if original.type == "EventReversed":
        raise ServicingError(f"event {event_id} is a reversal: post the original again instead")
    if original.type == "DealDefined":
        raise ServicingError("a deal definition is not reversed: load the corrected deal file")
    key = f"reverse:{event_id}"
    done = store.get(deal_id, event_id_for(deal_id, key))
    if done is not None and done.data.get("reason") != reason:
        raise ServicingError(f"event {event_id} was already reversed by {done.event_id}")
    reversal = EventReversed(
        reversed_event_id=event_id,
        reversed_type=original.type,
        reversed_data=dict(original.data),
        reason=reason,
        reversed_entries=negate_entries(original.event),
    )
    new = NewEvent.of(
        reversal,
        deal_id=deal_id,
        stream_id=original.stream_id,
        effective_date=effective_date or original.effective_date,
        idempotency_key=key,
        actor=actor,
        role=role,
    )
    return store.append([new]).events[0]


def post_operator_event(
    store: ProjectedStore,
    type_name: str,
    deal_id: str,
    data: Mapping[str, Any],
    actor: str,
    role: str,
    *,
    idempotency_key: str | None = None,
    effective_date: date | None = None,
) -> RecordedEvent:
    """What ``trust-ledger post`` and the HTTP API's ``POST .../events`` do: ``reversal`` (payload
    ``{"event_id", "reason"}``) through :func:`reverse_event`, any other type through
    :func:`post_event`."""
    if type_name.lower() != "reversal":
        return post_event(
            store, type_name, deal_id, data, actor, role,
            idempotency_key=idempotency_key, effective_date=effective_date,
        )  # fmt: skip
    missing = [k for k in ("event_id", "reason") if not data.get(k)]
    if missing:
        raise ServicingError(f"a reversal's data needs {' and '.join(missing)}")
    return reverse_event(
        store, deal_id, str(data["event_id"]), str(data["reason"]), actor, role,
        effective_date=effective_date,
    )  # fmt: skip


def posted_json(recorded: RecordedEvent) -> dict[str, Any]:
    """What a posted event is reported as: its id, type, place in the chain and hash."""
    return {
        "event_id": recorded.event_id,
        "type": recorded.type,
        "deal_id": recorded.deal_id,
        "deal_seq": recorded.deal_seq,
        "stream_id": recorded.stream_id,
        "hash": recorded.hash,
    }
