"""The tape checks that need more than a row: unique loans on a boarding tape, and a servicer
tape's rows against the loans' state and the open collection period (pure functions)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from decimal import Decimal
from pathlib import Path

from ledger.servicing.tape_formats import (
    BoardingRow,
    RecordType,
    ServicerRow,
    ServicerTape,
    TapeError,
    TapeRejected,
)
from ledger.servicing.tape_parse import AMOUNT_FIELDS, scan_servicer_tape
from projections.loans import GONE, LoanSnapshot, LoanStatus


def check_boarding_rows(
    rows: Sequence[BoardingRow], file: str = "<rows>", lines: Sequence[int] | None = None
) -> list[TapeError]:
    """Whole-tape checks on boarding rows built in code (pure): duplicate ``loan_id``.

    :func:`parse_boarding_tape` applies the same rule while reading. ``lines`` gives each row's
    line number (default: as if row ``i`` were on line ``i + 2``).
    """
    where = list(lines) if lines is not None else [i + 2 for i in range(len(rows))]
    first: dict[str, int] = {}
    errors = []
    for row, line in zip(rows, where, strict=True):
        if row.loan_id in first:
            errors.append(
                TapeError(
                    file,
                    line,
                    "loan_id",
                    f"duplicate loan_id {row.loan_id!r} (first on line {first[row.loan_id]})",
                )
            )
        else:
            first[row.loan_id] = line
    return errors


def _dup_key(row: ServicerRow) -> tuple[object, ...]:
    return (
        row.record_type,
        row.loan_id,
        row.value_date,
        row.principal,
        row.interest,
        row.fees,
        row.days_past_due,
        row.reference,
    )


def check_servicer_rows(
    rows: Sequence[ServicerRow],
    loans: Mapping[str, LoanSnapshot],
    period: tuple[date, date],
    *,
    file: str = "<rows>",
    lines: Sequence[int] | None = None,
) -> list[TapeError]:
    """Semantic checks of servicer rows against loan state (pure; returns errors, never raises).

    ``loans`` is each loan's state before the tape; ``period`` the open collection period
    ``(start, end)``, both inclusive; ``lines`` each row's line in the file (default ``i + 2``).
    Rows are applied in order, so a later row sees the effect of earlier rows of the same file
    (a DEFAULT then a RECOVERY of the same loan is fine; two collections together above the
    outstanding principal are not). The rules, each reported on the field named:

    * ``loan_id`` — **unknown loan**: not in ``loans`` (no further checks on that row).
    * ``principal``/``interest``/``fees`` — **negative amount** (rows built in code, not parsed).
    * ``value_date`` — **outside the open collection period**.
    * ``reference`` — **duplicate record**: same record type, loan, value date, principal,
      interest, fees, days past due and reference as an earlier row of the file.
    * ``principal`` — **principal above the outstanding balance**: for COLLECTION, DEFAULT,
      WRITE_OFF and REPURCHASE, principal greater than the loan's outstanding principal less the
      principal already collected, written off or repurchased by earlier rows of this file;
      likewise a RECOVERY's principal on a defaulted loan not written off (what it recovers is
      the defaulted principal outstanding, which it reduces for later rows: a WRITE_OFF after a
      RECOVERY takes what is left).
    * **Defaulted loan reported as performing.** Default is sticky (once defaulted, always
      defaulted: seed 004 L2792–L2797; seed 001 defines it as contract termination, L18725–L18731).
      A loan is defaulted when its snapshot status is ``defaulted``/``written_off`` or an earlier
      row of this file is its DEFAULT. On such a loan it is an error to report
      ``DELINQUENCY`` with ``days_past_due`` 0 (field ``days_past_due``), a ``COLLECTION`` with
      ``days_past_due`` 0, i.e. marked as curing it (field ``days_past_due``), or a second
      ``DEFAULT`` (field ``record_type``). Cash on a defaulted loan is a RECOVERY; a COLLECTION
      without a curing ``days_past_due`` is accepted (arrears paid after termination).
    * ``record_type`` — **repurchase of a loan already gone**: REPURCHASE of a loan repurchased,
      written off or paid off (by status, or by an earlier REPURCHASE/WRITE_OFF row of the file).
      Likewise COLLECTION, DELINQUENCY, DEFAULT and WRITE_OFF of a gone loan.
    * ``record_type`` — RECOVERY or WRITE_OFF of a loan that is not defaulted (nor written off,
      for a recovery): losses are only recognised after a default.
    """
    start, end = period
    where = list(lines) if lines is not None else [i + 2 for i in range(len(rows))]
    errors: list[TapeError] = []
    remaining: dict[str, Decimal] = {}
    status: dict[str, LoanStatus] = {}
    seen: dict[tuple[object, ...], int] = {}

    for row, line in zip(rows, where, strict=True):

        def err(column: str, reason: str, line: int = line) -> None:
            errors.append(TapeError(file, line, column, reason))

        kind = row.record_type
        loan_id = row.loan_id
        snap = loans.get(loan_id)
        if snap is None:
            err("loan_id", f"unknown loan {loan_id!r}")
            continue
        for column in AMOUNT_FIELDS:
            value: Decimal | None = getattr(row, column)
            if value is not None and value < 0:
                err(column, f"negative amount {value}")
        if not start <= row.value_date <= end:
            err(
                "value_date",
                f"value_date {row.value_date} is outside the open collection period "
                f"{start} to {end}",
            )
        key = _dup_key(row)
        if key in seen:
            err("reference", f"duplicate record: same as line {seen[key]}")
        else:
            seen[key] = line

        state = status.get(loan_id, snap.status)
        left = remaining.get(loan_id, snap.outstanding_principal)
        defaulted = state in (LoanStatus.DEFAULTED, LoanStatus.WRITTEN_OFF)
        gone = state in GONE
        principal = row.principal if row.principal is not None else Decimal(0)

        if gone and kind is not RecordType.RECOVERY:
            verb = "repurchase of" if kind is RecordType.REPURCHASE else f"{kind.value} on"
            err("record_type", f"{verb} a loan already gone (status {state.value})")
            continue
        if kind is RecordType.RECOVERY and not defaulted:
            err("record_type", f"RECOVERY on a loan that is not defaulted (status {state.value})")
        if kind is RecordType.WRITE_OFF and not defaulted:
            err("record_type", f"WRITE_OFF of a loan that is not defaulted (status {state.value})")
        if defaulted and row.days_past_due == 0:
            if kind is RecordType.DELINQUENCY:
                err("days_past_due", "defaulted loan reported as performing (days_past_due 0)")
            elif kind is RecordType.COLLECTION:
                err(
                    "days_past_due",
                    "COLLECTION marked as curing a defaulted loan (days_past_due 0): "
                    "default is sticky",
                )
        if kind is RecordType.DEFAULT and defaulted:
            err("record_type", "DEFAULT of a loan already defaulted")

        if kind in (
            RecordType.COLLECTION,
            RecordType.DEFAULT,
            RecordType.WRITE_OFF,
            RecordType.REPURCHASE,
        ):
            if principal > left:
                already = snap.outstanding_principal - left
                note = f" after {already} on earlier lines of this file" if already else ""
                err(
                    "principal",
                    f"principal {principal} exceeds the outstanding principal {left}{note}",
                )
            elif kind is not RecordType.DEFAULT:
                remaining[loan_id] = left - principal
        elif kind is RecordType.RECOVERY and state is LoanStatus.DEFAULTED and principal:
            if principal > left:
                err(
                    "principal",
                    f"recovered principal {principal} exceeds the defaulted principal "
                    f"outstanding {left}: recovered interest and fees go in their own columns",
                )
            else:
                remaining[loan_id] = left - principal

        if kind is RecordType.DEFAULT:
            status[loan_id] = LoanStatus.DEFAULTED
        elif kind is RecordType.WRITE_OFF:
            status[loan_id] = LoanStatus.WRITTEN_OFF
        elif kind is RecordType.REPURCHASE:
            status[loan_id] = LoanStatus.REPURCHASED
    return errors


def validate_servicer_tape(
    source: str | Path | bytes,
    loans: Mapping[str, LoanSnapshot],
    period: tuple[date, date],
    file: str | None = None,
) -> ServicerTape:
    """Parse a servicer tape and run :func:`check_servicer_rows` on every row that parsed.

    Raises one :class:`TapeRejected` with the syntax and the semantic errors together, ordered by
    line; returns the tape (rows + SHA-256) when it is clean.
    """
    tape, errors = scan_servicer_tape(source, file)
    errors = errors + check_servicer_rows(
        tape.rows, loans, period, file=tape.file, lines=tape.lines
    )
    if errors:
        raise TapeRejected(sorted(errors, key=lambda e: e.row))
    return tape
