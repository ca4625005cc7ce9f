"""Servicing operations over the event store: deals, boarding, servicer tapes, posts, reversals.

The I/O edge of the servicing work (SPEC §4-§6, issue 4 items 1-3): each function reads what it
needs from the store, runs the pure checks of :mod:`ledger.tapes` and :mod:`ledger.deal.pool_rules`
and appends one atomic batch. Nothing is stored when anything is wrong; a rejection lists every
problem as (file, row, field, reason) (:class:`ledger.tapes.TapeRejected`).

Choices made here (stated once):

* **Deal in force** — the last ``DealDefined`` on the deal's ``deal`` stream. :func:`load_deal` is
  idempotent by content hash (idempotency key ``deal-defined:<sha256>``): loading the same text
  again returns the original event, even after another version was loaded in between.
* **Eligibility at boarding** — each criterion with a ``test`` and ``boarding`` in ``applies_to``
  is evaluated with :func:`ledger.deal.pool_rules.eligibility_failures` on the loan fields the tape
  gives: an **extra column** named like the deal's ``loan_fields`` entry (number or
  ``true``/``false``), else a value **derived** from the pinned columns (:data:`DERIVED_FIELDS`,
  e.g. ``maturity_yyyymmdd``, ``original_term_months``, ``borrower_exposure``, Driver China
  Thirteen's ``discounted_receivables_balance`` at the cut-off). A criterion reading a field the
  tape neither carries nor implies (borrower age, LTV, ...) cannot be checked from the tape: it is
  reported in :attr:`ImportResult.unchecked` (like the deal's documentary criteria), not failed.
* **Open collection period** — from the deal's calendar: periods end on the calculation dates
  (``calculation_day`` in the month of ``first_calculation_date`` + k × ``frequency_months``), the
  first one starting on the cut-off date (included; a day early for deals that exclude it). The
  open period is the first one not ended by a ``CollectionPeriodClosed`` event (on the ``cycle``
  stream; its data's ``collection_period_end``). Callers may pass ``period=(start, end)`` instead
  (the CLI's ``--period-start/--period-end``).
* **Servicer tape events** — the mapping of ``events/servicing.py``: COLLECTION →
  ``CollectionReceived`` (plus a ``LoanDelinquencyReported`` when the row carries
  ``days_past_due``, which ``CollectionReceived`` has no field for: ``0`` = the loan is current
  again), DELINQUENCY → ``LoanDelinquencyReported``, DEFAULT → ``LoanDefaulted`` (principal = the
  row's, else the loan's outstanding principal then), RECOVERY → ``RecoveryReceived`` (the
  principal, interest and fees as the row splits them; ``written_off`` when the loan was written
  off before), WRITE_OFF → ``LoanWrittenOff``, REPURCHASE → ``LoanRepurchased``
  (price = principal + interest; ``from_defaulted`` from the loan's state). Idempotency keys are
  ``tape:<sha256>:<line>`` (``...:dpd`` for the delinquency of a collection), so a re-import is
  recognised before any state check and reported as a no-op with the original events. A row's
  extra columns are kept on every event it becomes (``extra``, SPEC §6).
"""

from __future__ import annotations

import hashlib
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa

from events.catalogue import CollectionReceived, DealDefined, EventReversed
from events.envelope import NewEvent, RecordedEvent, event_id_for
from events.hashing import canonical_bytes, check_no_floats
from events.model import Event, event_class
from events.servicing import (
    LoanBoarded,
    LoanDefaulted,
    LoanDelinquencyReported,
    LoanRepurchased,
    LoanWrittenOff,
    PoolBoarded,
    RecoveryReceived,
)
from events.store import EventStore, StoreError, gc_paused, iter_events
from events.tables import events as events_table
from events.tables import projection_rows
from ledger.amortisation import Amortization, add_months, loan_discounted_balance
from ledger.calendar_rules import calculation_date_for
from ledger.deal.loader import content_hash as deal_content_hash
from ledger.deal.loader import load_deal_text
from ledger.deal.pool_rules import eligibility_failures
from ledger.deal.schema import Criterion, DealDefinition
from ledger.expr import Value, parse
from ledger.journal import JournalEntry, Posting
from ledger.money import ZERO
from ledger.tapes import (
    BOARDING_COLUMNS,
    SERVICER_COLUMNS,
    BoardingRow,
    BoardingTape,
    LoanSnapshot,
    LoanStatus,
    RecordType,
    ServicerRow,
    ServicerTape,
    TapeError,
    TapeRejected,
    check_servicer_rows,
    content_hash,
    scan_boarding_tape,
    scan_servicer_tape,
    sniff_tape_kind,
    trusted,
)

__all__ = [
    "DERIVED_FIELDS",
    "IMPORT_STAGES",
    "ImportResult",
    "ServicingError",
    "board_pool",
    "boarding_events",
    "check_eligibility",
    "collection_periods",
    "deal_in_force",
    "eligible_rows",
    "import_servicer_tape",
    "import_tape",
    "list_deals",
    "load_deal",
    "loan_fields_of",
    "negate_entries",
    "open_collection_period",
    "post_event",
    "post_operator_event",
    "posted_json",
    "record_deal",
    "reverse_event",
    "servicer_events",
    "tape_kind",
]

DEAL_STREAM = "deal"
CLOSED_TYPE = "CollectionPeriodClosed"
CYCLE_STREAM = "cycle"
TapeKind = Literal["boarding", "servicer"]
IMPORT_STAGES = ("parse", "validate", "store")
"""The stages of a tape import, in order; an import's ``step`` callback is called with each one
as it is done (SPEC §5: long imports show progress)."""
Step = Callable[[str], None]


def _no_step(stage: str) -> None:
    """The default ``step``: no progress to show."""


class ServicingError(StoreError):
    """An operation refused for a reason that is not a row of a file (no deal, unknown event...)."""


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What a tape import did. ``duplicate``: the file was imported before, nothing was written and
    ``events`` are the originals."""

    kind: TapeKind
    deal_id: str
    file: str
    sha256: str
    events: list[RecordedEvent]
    duplicate: bool
    period: tuple[date, date] | None = None
    unchecked: tuple[str, ...] = field(default=())
    """Eligibility criteria that could not be evaluated from the tape (boarding), with why."""

    def summary(self) -> str:
        what = "already imported, nothing stored" if self.duplicate else "imported"
        head = f"{self.file}: {self.kind} tape {what}: {len(self.events)} event(s)"
        head += f", deal {self.deal_id}"
        if self.period is not None:
            head += f", collection period {self.period[0]} to {self.period[1]}"
        return head


# ---------------------------------------------------------------------------------- deals


def load_deal(
    store: EventStore,
    path: str | Path,
    *,
    actor: str = "operator",
    role: str = "trustee",
    effective_date: date | None = None,
) -> RecordedEvent:
    """Validate a deal file and record it as ``DealDefined`` (idempotent by content hash).

    Raises :class:`ledger.deal.loader.DealValidationError` listing every problem of the file.
    ``effective_date`` defaults to the deal's cut-off date (deterministic).
    """
    p = Path(path)
    return record_deal(
        store, p.read_text(encoding="utf-8"), str(p),
        actor=actor, role=role, effective_date=effective_date,
    )  # fmt: skip


def record_deal(
    store: EventStore,
    text: str,
    source: str,
    *,
    actor: str = "operator",
    role: str = "trustee",
    effective_date: date | None = None,
) -> RecordedEvent:
    """:func:`load_deal` of a deal file's text (``source`` names it in the errors)."""
    deal = load_deal_text(text, source)
    digest = deal_content_hash(text)
    event = DealDefined(name=deal.name, content=text, content_hash=digest)
    new = NewEvent.of(
        event,
        deal_id=deal.deal_id,
        stream_id=DEAL_STREAM,
        effective_date=effective_date or deal.calendar.cut_off_date,
        idempotency_key=f"deal-defined:{digest}",
        actor=actor,
        role=role,
    )
    _DEALS[digest] = deal
    return store.append([new]).events[0]


_DEALS: dict[str, DealDefinition] = {}
"""Parsed deal definitions by content hash (parsing YAML is the slow part)."""


def _last_deal_event(store: EventStore, deal_id: str) -> RecordedEvent | None:
    last = None
    for ev in store.read(deal_id, stream_id=DEAL_STREAM, types=["DealDefined"]):
        last = ev
    return last


def deal_in_force(store: EventStore, deal_id: str) -> DealDefinition:
    """The deal definition recorded last for ``deal_id``; :class:`ServicingError` if none."""
    ev = _last_deal_event(store, deal_id)
    if ev is None:
        raise ServicingError(f"deal {deal_id!r} has no definition in this store: run `deal load`")
    digest = str(ev.data["content_hash"])
    deal = _DEALS.get(digest)
    if deal is None:
        deal = _DEALS[digest] = load_deal_text(str(ev.data["content"]), f"DealDefined {deal_id}")
    return deal


def list_deals(store: EventStore) -> list[dict[str, str | None]]:
    """Every deal in the store with the name of its definition in force (``None`` if it has none),
    sorted by deal id: ``[{"deal_id": ..., "name": ...}]``."""
    out: list[dict[str, str | None]] = []
    for deal_id in store.deals():
        ev = _last_deal_event(store, deal_id)
        out.append({"deal_id": deal_id, "name": None if ev is None else str(ev.data["name"])})
    return out


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


def _closed_until(store: EventStore, deal_id: str) -> date | None:
    last: date | None = None
    # on the cycle stream (events/cycle.py): the stream index keeps this off the deal's loan events
    for ev in store.read(deal_id, stream_id=CYCLE_STREAM, types=[CLOSED_TYPE]):
        value = ev.data.get("collection_period_end")
        if isinstance(value, str):
            end = date.fromisoformat(value)
            last = end if last is None or end > last else last
    return last


def open_collection_period(
    store: EventStore, deal_id: str, deal: DealDefinition | None = None
) -> tuple[date, date]:
    """The first collection period of the deal's calendar not closed yet (see module notes)."""
    deal = deal or deal_in_force(store, deal_id)
    closed = _closed_until(store, deal_id)
    for start, end in collection_periods(deal):
        if closed is None or end > closed:
            return start, end
    raise AssertionError("unreachable")  # pragma: no cover - the generator is endless


# ---------------------------------------------------------------------------------- tapes


def tape_kind(source: str | Path | bytes) -> TapeKind:
    """Boarding or servicer tape, from the header line (:func:`ledger.tapes.sniff_tape_kind`)."""
    if isinstance(source, bytes):
        head = source[:65536]
    else:
        with Path(source).open("rb") as fh:
            head = fh.read(65536)
    line = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    kind = sniff_tape_kind(line)
    if kind is None:
        name = "<bytes>" if isinstance(source, bytes) else str(source)
        raise TapeRejected(
            [
                TapeError(
                    name,
                    1,
                    "",
                    "header is neither a boarding tape ("
                    + ", ".join(BOARDING_COLUMNS)
                    + ") nor a servicer tape ("
                    + ", ".join(SERVICER_COLUMNS)
                    + ")",
                )
            ]
        )
    return kind


def import_tape(
    store: EventStore,
    deal_id: str,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    period: tuple[date, date] | None = None,
    actor: str = "servicer",
    role: str = "servicer",
    step: Step = _no_step,
) -> ImportResult:
    """Import a boarding or a servicer tape, whichever the header says; ``step`` is called with
    each of :data:`IMPORT_STAGES` as it is done."""
    if tape_kind(source) == "boarding":
        return board_pool(store, deal_id, source, file=file, actor=actor, role=role, step=step)
    return import_servicer_tape(
        store, deal_id, source, file=file, period=period, actor=actor, role=role, step=step
    )


def _read_bytes(source: str | Path | bytes) -> bytes:
    return source if isinstance(source, bytes) else Path(source).read_bytes()


def _stored_by_keys(store: EventStore, deal_id: str, keys: Sequence[str]) -> list[RecordedEvent]:
    """The stored events of ``keys`` (in the order of the keys; missing ones left out)."""
    found: dict[str, RecordedEvent] = {}
    t = events_table
    with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
        for i in range(0, len(keys), 5000):
            q = sa.select(t).where(
                t.c.deal_id == deal_id, t.c.idempotency_key.in_(keys[i : i + 5000])
            )
            for ev in iter_events(conn, q):
                found[ev.idempotency_key] = ev
    return [found[k] for k in keys if k in found]


# --- boarding ---------------------------------------------------------------------------------


def _months_between(start: date, end: date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - 1 if end.day < start.day else months


def _yyyymmdd(d: date) -> Decimal:
    return Decimal(d.year * 10000 + d.month * 100 + d.day)


@dataclass(frozen=True, slots=True)
class _PoolFacts:
    cut_off: date
    pool_outstanding: Decimal
    pool_original: Decimal
    by_borrower_outstanding: Mapping[str, Decimal]
    by_borrower_original: Mapping[str, Decimal]


def _original_term(r: BoardingRow) -> int:
    return _months_between(r.origination_date, r.maturity_date)


DERIVED_FIELDS: dict[str, tuple[tuple[str, ...], Callable[[BoardingRow, _PoolFacts], Value]]] = {
    "outstanding_principal": (("outstanding_principal",), lambda r, p: r.outstanding_principal),
    "outstanding_at_cutoff": (("outstanding_principal",), lambda r, p: r.outstanding_principal),
    "original_principal": (("original_principal",), lambda r, p: r.original_principal),
    "rate": (("interest_rate",), lambda r, p: r.interest_rate),
    "days_past_due": (("days_past_due",), lambda r, p: Decimal(r.days_past_due)),
    "days_overdue_at_cutoff": (("days_past_due",), lambda r, p: Decimal(r.days_past_due)),
    "days_late_now": (("days_past_due",), lambda r, p: Decimal(r.days_past_due)),
    "remaining_term_months": (
        ("remaining_term_months",),
        lambda r, p: Decimal(r.remaining_term_months),
    ),
    "maturity_yyyymmdd": (("maturity_date",), lambda r, p: _yyyymmdd(r.maturity_date)),
    "expiry_yyyymmdd": (("maturity_date",), lambda r, p: _yyyymmdd(r.maturity_date)),
    "origination_yyyymmdd": (("origination_date",), lambda r, p: _yyyymmdd(r.origination_date)),
    "original_term_months": (
        ("origination_date", "maturity_date"),
        lambda r, p: Decimal(_original_term(r)),
    ),
    "remaining_term_years_at_origination": (
        ("origination_date", "maturity_date"),
        lambda r, p: Decimal(_original_term(r)) / 12,
    ),
    "months_to_maturity": (
        ("maturity_date",),
        lambda r, p: Decimal(_months_between(p.cut_off, r.maturity_date)),
    ),
    "instalments_paid": (
        ("origination_date", "maturity_date", "remaining_term_months"),
        lambda r, p: Decimal(max(_original_term(r) - r.remaining_term_months, 0)),
    ),
    "repayments_made": (
        ("origination_date", "maturity_date", "remaining_term_months"),
        lambda r, p: Decimal(max(_original_term(r) - r.remaining_term_months, 0)),
    ),
    "is_bullet": (("amortization",), lambda r, p: r.amortization is Amortization.BULLET),
    "monthly_level_payment_or_principal": (
        ("amortization",),
        lambda r, p: r.amortization in (Amortization.ANNUITY, Amortization.LEVEL_PRINCIPAL),
    ),
    "borrower_exposure": (
        ("borrower_id", "outstanding_principal"),
        lambda r, p: p.by_borrower_outstanding[r.borrower_id],
    ),
    "pool_share_at_cutoff": (
        ("outstanding_principal",),
        lambda r, p: r.outstanding_principal / p.pool_outstanding if p.pool_outstanding else ZERO,
    ),
    "borrower_contract_share": (
        ("borrower_id", "original_principal"),
        lambda r, p: (
            p.by_borrower_original[r.borrower_id] / p.pool_original if p.pool_original else ZERO
        ),
    ),
    "discounted_receivables_balance": (
        ("outstanding_principal", "interest_rate", "remaining_term_months", "maturity_date"),
        lambda r, p: loan_discounted_balance(r, p.cut_off),
    ),
    "written_off_principal": ((), lambda r, p: ZERO),
}
"""Loan fields a boarding tape implies: field → (tape columns it comes from, how)."""


def _criterion_fields(crit: Criterion) -> frozenset[str]:
    assert crit.test is not None
    return frozenset(
        n.removeprefix("loan.") for n in parse(crit.test).names() if n.startswith("loan.")
    )


def _extra_value(kind: str, text: str) -> Value:
    if kind == "bool":
        if text.lower() in ("true", "1", "yes"):
            return True
        if text.lower() in ("false", "0", "no"):
            return False
        raise ValueError(f"{text!r} is not true or false")
    try:
        value = Decimal(text)
    except ArithmeticError:
        raise ValueError(f"{text!r} is not a number") from None
    if not value.is_finite():
        raise ValueError(f"{text!r} is not a number")
    return value


def loan_fields_of(
    deal: DealDefinition, tape: BoardingTape, needed: Iterable[str] | None = None
) -> tuple[list[dict[str, Value]], list[TapeError]]:
    """Each loan's ``loan.*`` fields for the deal's formulas, from its extra columns (by field
    name) or derived from the pinned columns (:data:`DERIVED_FIELDS`); malformed extra values are
    errors on that column. ``needed`` limits the fields computed (default: every declared one)."""
    wanted = [
        f for f in (needed if needed is not None else deal.loan_fields) if f in deal.loan_fields
    ]
    facts = _pool_facts(deal, tape.rows)
    out: list[dict[str, Value]] = []
    errors: list[TapeError] = []
    for row, line in zip(tape.rows, tape.lines, strict=True):
        env: dict[str, Value] = {}
        for name in wanted:
            text = row.extra.get(name)
            if text:
                try:
                    env[name] = _extra_value(deal.loan_fields[name].kind, text)
                except ValueError as exc:
                    errors.append(TapeError(tape.file, line, name, str(exc)))
            elif name in DERIVED_FIELDS:
                env[name] = DERIVED_FIELDS[name][1](row, facts)
        out.append(env)
    return out, errors


def _pool_facts(deal: DealDefinition, rows: Sequence[BoardingRow]) -> _PoolFacts:
    out_by: dict[str, Decimal] = {}
    orig_by: dict[str, Decimal] = {}
    for r in rows:
        out_by[r.borrower_id] = out_by.get(r.borrower_id, ZERO) + r.outstanding_principal
        orig_by[r.borrower_id] = orig_by.get(r.borrower_id, ZERO) + r.original_principal
    return _PoolFacts(
        cut_off=deal.calendar.cut_off_date,
        pool_outstanding=sum(out_by.values(), ZERO),
        pool_original=sum(orig_by.values(), ZERO),
        by_borrower_outstanding=out_by,
        by_borrower_original=orig_by,
    )


def check_eligibility(
    deal: DealDefinition, tape: BoardingTape
) -> tuple[list[TapeError], tuple[str, ...]]:
    """Every (file, row, field, reason) of an ineligible loan, and the criteria that could not be
    checked from this tape (pure)."""
    testable = [c for c in deal.eligibility if c.test is not None and "boarding" in c.applies_to]
    needed = (
        frozenset().union(*(_criterion_fields(c) for c in testable)) if testable else frozenset()
    )
    envs, errors = loan_fields_of(deal, tape, needed)
    extra_names = set().union(*(r.extra.keys() for r in tape.rows)) if tape.rows else set()
    available = (set(DERIVED_FIELDS) | extra_names) & set(deal.loan_fields)
    checkable: list[Criterion] = []
    unchecked: list[str] = []
    for c in testable:
        missing = sorted(_criterion_fields(c) - available)
        if missing:
            unchecked.append(f"{c.id}: needs {', '.join(missing)} (not on the tape)")
        else:
            checkable.append(c)
    unchecked += [f"{c.id}: documentary" for c in deal.eligibility if c.test is None]
    trimmed = deal.model_copy(update={"eligibility": tuple(checkable)})
    bad_lines = {e.row for e in errors}
    for row, line, env in zip(tape.rows, tape.lines, envs, strict=True):
        if line in bad_lines:
            continue
        usable = [c for c in checkable if _criterion_fields(c) <= env.keys()]
        if len(usable) != len(checkable):
            trimmed_row = trimmed.model_copy(update={"eligibility": tuple(usable)})
            failed = eligibility_failures(trimmed_row, env, "boarding")
        else:
            failed = eligibility_failures(trimmed, env, "boarding")
        for crit in failed:
            names = sorted(_criterion_fields(crit))
            columns: list[str] = []
            for n in names:
                src = DERIVED_FIELDS[n][0] if n in DERIVED_FIELDS and n not in row.extra else (n,)
                columns.extend(c for c in src if c not in columns)
            values = ", ".join(f"loan.{n}={env[n]}" for n in names)
            errors.append(
                TapeError(
                    tape.file,
                    line,
                    ",".join(columns),
                    f"loan {row.loan_id} is ineligible: criterion {crit.id} ({crit.text}) "
                    f"fails with {values} [{crit.clause}]",
                )
            )
    return errors, tuple(unchecked)


def eligible_rows(deal: DealDefinition, rows: Sequence[BoardingRow]) -> list[BoardingRow]:
    """The rows that pass the deal's checkable boarding criteria (pure; for simulated pools,
    whose draws do not know the deal's eligibility criteria)."""
    tape = BoardingTape("<rows>", "", tuple(rows), tuple(range(2, len(rows) + 2)))
    errors, _ = check_eligibility(deal, tape)
    bad = {e.row for e in errors}
    return [r for r, line in zip(rows, tape.lines, strict=True) if line not in bad]


def _parse_boarding(data: bytes, name: str) -> tuple[BoardingTape, list[TapeError]]:
    """A boarding tape's parsed rows and its syntax errors, so that a rejection lists the
    malformed and the ineligible loans together (:func:`ledger.tapes.scan_boarding_tape`)."""
    return scan_boarding_tape(data, name)


def _parse_servicer(data: bytes, name: str) -> tuple[ServicerTape, list[TapeError]]:
    """A servicer tape's parsed rows and its syntax errors (:func:`ledger.tapes.
    scan_servicer_tape`, the first stage of :func:`ledger.tapes.validate_servicer_tape`)."""
    return scan_servicer_tape(data, name)


def boarding_events(
    deal: DealDefinition, tape: BoardingTape, *, actor: str, role: str
) -> list[NewEvent]:
    """One ``LoanBoarded`` per row and a closing ``PoolBoarded`` (pure)."""
    cut_off = deal.calendar.cut_off_date
    out: list[NewEvent] = []
    total = ZERO
    for row, line in zip(tape.rows, tape.lines, strict=True):
        ev = LoanBoarded(
            loan_id=row.loan_id,
            borrower_id=row.borrower_id,
            origination_date=row.origination_date,
            maturity_date=row.maturity_date,
            original_principal=row.original_principal,
            outstanding_principal=row.outstanding_principal,
            interest_rate=row.interest_rate,
            amortization=row.amortization.value,
            payment_day=row.payment_day,
            remaining_term_months=row.remaining_term_months,
            days_past_due=row.days_past_due,
            cut_off_date=cut_off,
            extra=dict(row.extra),
        )
        total += row.outstanding_principal
        out.append(
            NewEvent.of(
                ev,
                deal_id=deal.deal_id,
                stream_id=ev.default_stream(),
                effective_date=cut_off,
                idempotency_key=f"board:{tape.sha256}:{line}",
                actor=actor,
                role=role,
            )
        )
    pool = PoolBoarded(
        file_name=Path(tape.file).name,
        file_sha256=tape.sha256,
        cut_off_date=cut_off,
        loan_count=len(tape.rows),
        aggregate_principal=total,
    )
    out.append(
        NewEvent.of(
            pool,
            deal_id=deal.deal_id,
            stream_id=pool.default_stream(),
            effective_date=cut_off,
            idempotency_key=f"board:{tape.sha256}:pool",
            actor=actor,
            role=role,
        )
    )
    return out


def board_pool(
    store: EventStore,
    deal_id: str,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    actor: str = "servicer",
    role: str = "servicer",
    step: Step = _no_step,
) -> ImportResult:
    """Board a boarding tape as the deal's pool at cut-off, in one atomic batch (``step``: see
    :func:`import_tape`).

    Raises :class:`TapeRejected` listing every malformed or ineligible loan (nothing stored), or
    :class:`ServicingError` when the deal has no definition or already has another pool.
    """
    deal = deal_in_force(store, deal_id)
    data = _read_bytes(source)
    name = file or ("<bytes>" if isinstance(source, bytes) else str(source))
    sha = content_hash(data)
    pool_key = f"board:{sha}:pool"
    done = _stored_by_keys(store, deal_id, [pool_key])
    tape, syntax = _parse_boarding(data, name)
    step("parse")
    if done:
        keys = [f"board:{sha}:{line}" for line in tape.lines] + [pool_key]
        return ImportResult(
            "boarding", deal_id, name, sha, _stored_by_keys(store, deal_id, keys), True
        )
    other = list(store.read(deal_id, types=["PoolBoarded"]))
    if other:
        prior = other[0].data
        raise ServicingError(
            f"deal {deal_id!r} already has its pool, boarded from {prior['file_name']} "
            f"(sha256 {prior['file_sha256']}); later loans come as additional purchases"
        )
    errors, unchecked = check_eligibility(deal, tape)
    errors = syntax + errors
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    step("validate")
    new = boarding_events(deal, tape, actor=actor, role=role)
    result = store.append(new)
    step("store")
    return ImportResult(
        "boarding", deal_id, name, sha, result.events, result.duplicate, None, unchecked
    )


# --- servicer tapes ----------------------------------------------------------------------------


_SNAPSHOT_FIELDS = ("status", "balance", "defaulted", "recoveries", "default_paid", "written_off")


def _loan_snapshots(store: EventStore, deal_id: str) -> Mapping[str, LoanSnapshot]:
    """Each loan's state from the live loan projection (``projections/loans.py``), as its
    ``loan_snapshots`` gives it, reading only the fields a snapshot needs (the whole rows, with
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
) -> list[NewEvent]:
    """The events of a servicer tape whose rows passed :func:`check_servicer_rows` (pure).

    ``LoanDefaulted.principal`` without a tape principal is the loan's outstanding principal then:
    the snapshot's less what earlier rows of the file collected, wrote off or repurchased."""
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
            price = principal + (d["interest"] or ZERO)
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
    store: EventStore,
    deal_id: str,
    source: str | Path | bytes,
    *,
    file: str | None = None,
    period: tuple[date, date] | None = None,
    actor: str = "servicer",
    role: str = "servicer",
    step: Step = _no_step,
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
    store: EventStore,
    deal_id: str,
    source: str | Path | bytes,
    file: str | None,
    period: tuple[date, date] | None,
    actor: str,
    role: str,
    step: Step,
) -> ImportResult:
    data = _read_bytes(source)
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
                "servicer", deal_id, name, sha, _stored_by_keys(store, deal_id, keys), True
            )
    window = period or open_collection_period(store, deal_id, deal)
    loans = _loan_snapshots(store, deal_id)
    errors = syntax + check_servicer_rows(tape.rows, loans, window, file=name, lines=tape.lines)
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    step("validate")
    new = servicer_events(deal_id, tape, loans, actor=actor, role=role)
    if not new:
        return ImportResult("servicer", deal_id, name, sha, [], False, window)
    result = store.append(new)
    step("store")
    return ImportResult("servicer", deal_id, name, sha, result.events, result.duplicate, window)


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


def post_event(
    store: EventStore,
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
        loans = _loan_snapshots(store, deal_id)
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
    store: EventStore,
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
    store: EventStore,
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
