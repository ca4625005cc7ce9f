"""The monthly servicer tape: its rows checked against the loans' state and turned into events.

**Servicer tape events** — the mapping of ``events/servicing.py``: COLLECTION →
  ``CollectionReceived`` (plus a ``LoanDelinquencyReported`` when the row carries
  ``days_past_due``, which ``CollectionReceived`` has no field for: ``0`` = the loan is current
  again), DELINQUENCY → ``LoanDelinquencyReported``, DEFAULT → ``LoanDefaulted`` (principal = the
  row's, else the loan's outstanding principal then), RECOVERY → ``RecoveryReceived`` (the
  principal, interest and fees as the row splits them; ``written_off`` when the loan was written
  off before), WRITE_OFF → ``LoanWrittenOff``, REPURCHASE → ``LoanRepurchased``
  (price = the deal's ``repurchase_price`` computed by the ledger,
  :mod:`ledger.servicing.repurchase`, a stated principal + interest checked against it; principal
  + interest for a deal without one; ``from_defaulted`` from the loan's state). Idempotency keys are
  ``tape:<sha256>:<line>`` (``...:dpd`` for the delinquency of a collection), so a re-import is
  recognised before any state check and reported as a no-op with the original events. A row's
  extra columns are kept on every event it becomes (``extra``, SPEC §6)."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from events.catalogue import CollectionReceived
from events.envelope import NewEvent, event_id_for
from events.model import Event
from events.servicing import (
    LoanDefaulted,
    LoanDelinquencyReported,
    LoanRepurchased,
    LoanWrittenOff,
    RecoveryReceived,
)
from events.store import gc_paused
from events.tables import projection_rows
from ledger.core.expr import ExprError
from ledger.core.money import ZERO
from ledger.deal.schema import DealDefinition
from ledger.servicing.deals import deal_in_force
from ledger.servicing.periods import open_collection_period
from ledger.servicing.repurchase import (
    INTEREST_FIELD,
    RepurchasePriceError,
    price_fields,
    stated_price_error,
)
from ledger.servicing.results import ImportResult, Step, no_step, read_bytes, stored_by_keys
from ledger.servicing.tape_checks import check_servicer_rows
from ledger.servicing.tape_formats import (
    RecordType,
    ServicerTape,
    TapeError,
    TapeRejected,
    trusted,
)
from ledger.servicing.tape_parse import scan_servicer_tape
from projections.loans import LoanSnapshot, LoanStatus
from projections.store import ProjectedStore


def _parse_servicer(data: bytes, name: str) -> tuple[ServicerTape, list[TapeError]]:
    """A servicer tape's parsed rows and its syntax errors (:func:`ledger.servicing.tape_formats.
    scan_servicer_tape`, the first stage of
    :func:`ledger.servicing.tape_formats.validate_servicer_tape`)."""
    return scan_servicer_tape(data, name)


# --- servicer tapes ----------------------------------------------------------------------------


_SNAPSHOT_FIELDS = ("status", "balance", "defaulted", "recoveries", "default_paid", "written_off")


def lean_loan_snapshots(store: ProjectedStore, deal_id: str) -> Mapping[str, LoanSnapshot]:
    """Each loan's state from the live loan projection (``projections/loans.py``), as its
    ``lean_loan_snapshots`` gives it, reading only the fields a snapshot needs (the whole rows, with
    their terms and delinquency log, cost twice as much to fetch and decode for 100,000 loans)."""
    loans = importlib.import_module("projections.loans")
    outstanding: Callable[[Mapping[str, Any]], Decimal] = loans.loan_outstanding
    name = loans.LoanProjection.name
    out: dict[str, LoanSnapshot] = {}
    statuses = {s.value: s for s in LoanStatus}
    with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
        if store.dialect == "postgresql":
            # the driver's cursor: SQLAlchemy's result processing of 100,000 rows of seven
            # extracted fields cost more than the query
            fields = ", ".join(f"value->>'{f}'" for f in ("dpd", *_SNAPSHOT_FIELDS))
            raw: Any = conn.connection.driver_connection
            with raw.cursor() as cursor:
                cursor.execute(
                    f"SELECT key, {fields} FROM projection_rows "
                    "WHERE deal_id = %s AND projection = %s",
                    [deal_id, name],
                )
                rows: Iterable[Sequence[Any]] = cursor.fetchall()  # one call, not one per row
        else:
            t = projection_rows
            columns = [t.c.value[f].as_string() for f in ("dpd", *_SNAPSHOT_FIELDS)]
            rows = conn.execute(
                sa.select(t.c.key, *columns).where(t.c.deal_id == deal_id, t.c.projection == name)
            )
        for key, dpd, *values in rows:
            row = dict(zip(_SNAPSHOT_FIELDS, values, strict=True))
            out[key] = trusted(
                LoanSnapshot,
                {
                    "outstanding_principal": outstanding(row),
                    "status": statuses[row["status"]],
                    "days_past_due": int(dpd or 0),
                },
            )
    return out


def loan_rows_of(
    store: ProjectedStore, deal_id: str, loan_ids: Iterable[str]
) -> dict[str, Mapping[str, Any]]:
    """The whole live loan projection rows (terms included) of ``loan_ids`` only."""
    name = importlib.import_module("projections.loans").LoanProjection.name
    wanted = sorted(set(loan_ids))
    t = projection_rows
    out: dict[str, Mapping[str, Any]] = {}
    with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
        for start in range(0, len(wanted), 500):
            q = sa.select(t.c.key, t.c.value).where(
                t.c.deal_id == deal_id,
                t.c.projection == name,
                t.c.key.in_(wanted[start : start + 500]),
            )
            out.update({k: v for k, v in conn.execute(q)})
    return out


def repurchase_prices(
    store: ProjectedStore, deal: DealDefinition, tape: ServicerTape, file: str
) -> tuple[dict[int, Decimal], list[TapeError]]:
    """The deal's repurchase price of each REPURCHASE line of ``tape`` (rows already checked),
    and an error for each line whose stated price (principal + interest, where the deal's
    formula does not take the interest as a term) is not it (seed 001 L13432-13446)."""
    lines = [
        (row, line)
        for row, line in zip(tape.rows, tape.lines, strict=True)
        if row.record_type is RecordType.REPURCHASE
    ]
    if not lines or deal.repurchase_price is None:
        return {}, []
    rows = loan_rows_of(store, deal.deal_id, (r.loan_id for r, _ in lines))
    interest_is_a_term = INTEREST_FIELD in price_fields(deal)
    prices: dict[int, Decimal] = {}
    errors: list[TapeError] = []
    for r, line in lines:
        assert r.principal is not None
        stated = None if interest_is_a_term or r.interest is None else r.principal + r.interest
        try:
            price, problem = stated_price_error(
                deal, rows[r.loan_id], r.principal, r.interest, r.value_date, stated
            )
        except (RepurchasePriceError, ExprError) as exc:
            errors.append(TapeError(file, line, "principal", str(exc)))
            continue
        if problem is not None:
            errors.append(TapeError(file, line, "interest", problem))
        prices[line] = price
    return prices, errors


_COLLECTION = CollectionReceived
_MONEY_FIELDS = ("principal", "interest", "fees")


def _new(
    cls: type[Event],
    values: dict[str, Any],
    payload: dict[str, Any],
    *,
    deal_id: str,
    loan_id: str,
    effective: date,
    key: str,
    actor: str,
    role: str,
    extra: dict[str, str],
) -> NewEvent:
    """A loan event built from values already exactly typed and checked (the parsed, state-checked
    tape row): no second pydantic validation; ``payload`` is what the model's ``payload()`` gives
    (a test pins the equality for every record type). ``extra``: the row's extra columns."""
    values["extra"] = extra
    if extra:
        payload["extra"] = dict(extra)
    return NewEvent(
        deal_id=deal_id,
        stream_id=f"loan-{loan_id}",
        type=cls.type_name,
        schema_version=cls.schema_version,
        data=payload,
        effective_date=effective,
        idempotency_key=key,
        actor=actor,
        role=role,
        checked=True,
        model=trusted(cls, values),
    )


def _s(d: Decimal | None) -> str | None:
    return None if d is None else str(d)


def servicer_events(
    deal_id: str,
    tape: ServicerTape,
    loans: Mapping[str, LoanSnapshot],
    *,
    actor: str,
    role: str,
    key_prefix: str | None = None,
    prices: Mapping[int, Decimal] | None = None,
) -> list[NewEvent]:
    """The events of a servicer tape whose rows passed :func:`check_servicer_rows` (pure).

    ``LoanDefaulted.principal`` without a tape principal is the loan's outstanding principal then:
    the snapshot's less what earlier rows of the file collected, wrote off or repurchased.
    ``prices``: the repurchase price of each REPURCHASE line (:func:`repurchase_prices`); a line
    without one is priced principal + interest."""
    prefix = key_prefix if key_prefix is not None else f"tape:{tape.sha256}"
    remaining: dict[str, Decimal] = {}
    defaulted: set[str] = set()
    written_off: set[str] = set()
    out: list[NewEvent] = []
    add = out.append
    for row, line in zip(tape.rows, tape.lines, strict=True):
        d = row.__dict__
        kind = d["record_type"]
        lid = d["loan_id"]
        vd = d["value_date"]
        vds = vd.isoformat()
        principal = d["principal"]
        ref = d["reference"]
        key = f"{prefix}:{line}"
        common = {"deal_id": deal_id, "loan_id": lid, "effective": vd, "actor": actor, "role": role}
        common["extra"] = d["extra"]
        snap = loans[lid]
        if kind is RecordType.COLLECTION:
            p = principal if principal is not None else ZERO
            i = d["interest"] if d["interest"] is not None else ZERO
            f = d["fees"] if d["fees"] is not None else ZERO
            pre = bool(d["prepayment"])
            values = {
                "loan_id": lid,
                "value_date": vd,
                "principal": p,
                "interest": i,
                "fees": f,
                "prepayment": pre,
            }
            payload = {
                "loan_id": lid,
                "value_date": vds,
                "principal": str(p),
                "interest": str(i),
                "fees": str(f),
                "prepayment": pre,
            }
            add(_new(_COLLECTION, values, payload, key=key, **common))
            if p:
                remaining[lid] = remaining.get(lid, snap.outstanding_principal) - p
            dpd = d["days_past_due"]
            if dpd is not None:
                values = {"loan_id": lid, "value_date": vd, "days_past_due": dpd, "reference": ref}
                payload = {
                    "loan_id": lid,
                    "value_date": vds,
                    "days_past_due": dpd,
                    "reference": ref,
                }
                add(_new(LoanDelinquencyReported, values, payload, key=f"{key}:dpd", **common))
        elif kind is RecordType.DELINQUENCY:
            dpd = d["days_past_due"]
            values = {"loan_id": lid, "value_date": vd, "days_past_due": dpd, "reference": ref}
            payload = {"loan_id": lid, "value_date": vds, "days_past_due": dpd, "reference": ref}
            add(_new(LoanDelinquencyReported, values, payload, key=key, **common))
        elif kind is RecordType.DEFAULT:
            p = (
                principal
                if principal is not None
                else remaining.get(lid, snap.outstanding_principal)
            )
            defaulted.add(lid)
            values = {
                "loan_id": lid,
                "value_date": vd,
                "principal": p,
                "days_past_due": d["days_past_due"],
                "reason": d["reason"],
                "reference": ref,
            }
            payload = {**values, "value_date": vds, "principal": str(p)}
            add(_new(LoanDefaulted, values, payload, key=key, **common))
        elif kind is RecordType.RECOVERY:
            p, i, f = (d[c] if d[c] is not None else ZERO for c in _MONEY_FIELDS)
            values = {
                "loan_id": lid,
                "value_date": vd,
                "principal": p,
                "interest": i,
                "fees": f,
                "amount": p + i + f,
                "written_off": lid in written_off or snap.status is LoanStatus.WRITTEN_OFF,
                "reference": ref,
            }
            payload = {**values, "value_date": vds}
            for c in (*_MONEY_FIELDS, "amount"):
                payload[c] = str(values[c])
            add(_new(RecoveryReceived, values, payload, key=key, **common))
        elif kind is RecordType.WRITE_OFF:
            assert principal is not None
            remaining[lid] = remaining.get(lid, snap.outstanding_principal) - principal
            written_off.add(lid)
            values = {
                "loan_id": lid,
                "value_date": vd,
                "amount": principal,
                "reason": d["reason"],
                "reference": ref,
            }
            payload = {**values, "value_date": vds, "amount": str(principal)}
            add(_new(LoanWrittenOff, values, payload, key=key, **common))
        else:  # REPURCHASE
            assert principal is not None
            price = (prices or {}).get(line, principal + (d["interest"] or ZERO))
            from_defaulted = lid in defaulted or snap.status is LoanStatus.DEFAULTED
            remaining[lid] = remaining.get(lid, snap.outstanding_principal) - principal
            values = {
                "loan_id": lid,
                "value_date": vd,
                "reason": d["reason"],
                "price": price,
                "principal": principal,
                "from_defaulted": from_defaulted,
                "reference": ref,
            }
            payload = {
                **values,
                "value_date": vds,
                "price": str(price),
                "principal": str(principal),
            }
            add(_new(LoanRepurchased, values, payload, key=key, **common))
    return out


def import_servicer_tape(
    store: ProjectedStore,
    deal_id: str,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    period: tuple[date, date] | None = None,
    actor: str = "servicer",
    role: str = "servicer",
    step: Step = no_step,
) -> ImportResult:
    """Import a monthly servicer tape: every record checked, then one atomic batch (``step``: see
    :func:`import_tape`).

    A file imported before (same SHA-256) is recognised first and reported as a no-op
    (``duplicate``) with the original events. Otherwise raises :class:`TapeRejected` listing every
    syntax and state error (file, row, field, reason) and stores nothing.
    """
    with gc_paused():  # every row becomes several objects: see events.store.gc_paused
        return _import_servicer_tape(store, deal_id, source, file, period, actor, role, step)


def _import_servicer_tape(
    store: ProjectedStore,
    deal_id: str,
    source: str | Path | bytes,
    file: str | None,
    period: tuple[date, date] | None,
    actor: str,
    role: str,
    step: Step,
) -> ImportResult:
    data = read_bytes(source)
    name = file or ("<bytes>" if isinstance(source, bytes) else str(source))
    deal = deal_in_force(store, deal_id)
    tape, syntax = _parse_servicer(data, name)
    step("parse")
    sha = tape.sha256
    if tape.rows:
        first = f"tape:{sha}:{tape.lines[0]}"
        if store.get(deal_id, event_id_for(deal_id, first)) is not None:
            keys = []
            for row, line in zip(tape.rows, tape.lines, strict=True):
                keys.append(f"tape:{sha}:{line}")
                if row.record_type is RecordType.COLLECTION and row.days_past_due is not None:
                    keys.append(f"tape:{sha}:{line}:dpd")
            return ImportResult(
                "servicer", deal_id, name, sha, stored_by_keys(store, deal_id, keys), True
            )
    window = period or open_collection_period(store, deal_id, deal)
    loans = lean_loan_snapshots(store, deal_id)
    errors = syntax + check_servicer_rows(tape.rows, loans, window, file=name, lines=tape.lines)
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    prices, price_errors = repurchase_prices(store, deal, tape, name)
    if price_errors:
        raise TapeRejected(price_errors)
    step("validate")
    new = servicer_events(deal_id, tape, loans, actor=actor, role=role, prices=prices)
    if not new:
        return ImportResult("servicer", deal_id, name, sha, [], False, window)
    result = store.append(new)
    step("store")
    return ImportResult("servicer", deal_id, name, sha, result.events, result.duplicate, window)
