"""Parsing boarding and servicer tapes: every row's syntax and the rules that need nothing but the
row (types, required fields per record type, the order of dates), every error collected."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from events.servicing import MAX_DAYS_PAST_DUE
from ledger.servicing.tape_fields import (
    AMORTIZATIONS,
    RECORD_TYPES,
    FieldError,
    RowReader,
    Sheet,
    open_tape,
    parse_bool,
    parse_rate,
    read_records,
)
from ledger.servicing.tape_formats import (
    BOARDING_COLUMNS,
    SERVICER_COLUMNS,
    BoardingRow,
    BoardingTape,
    RecordType,
    ServicerRow,
    ServicerTape,
    TapeError,
    TapeRejected,
    trusted,
)


def _days_past_due(r: RowReader, dpd: int | None) -> int | None:
    if dpd is not None and dpd > MAX_DAYS_PAST_DUE:
        r.error(
            "days_past_due",
            f"days_past_due {dpd} is beyond any plausible value (at most {MAX_DAYS_PAST_DUE})",
        )
        return None
    return dpd


# --- boarding tape --------------------------------------------------------------------------------


def _boarding_row(
    line: int, v: list[str], extra: dict[str, str], sheet: Sheet
) -> BoardingRow | None:
    (
        t_loan,
        t_borrower,
        t_orig,
        t_mat,
        t_original,
        t_outstanding,
        t_rate,
        t_method,
        t_day,
        t_term,
        t_dpd,
    ) = v
    r = RowReader(sheet, line)
    loan_id = r.required("loan_id", t_loan)
    borrower_id = r.required("borrower_id", t_borrower)
    origination = r.date("origination_date", t_orig)
    maturity = r.date("maturity_date", t_mat)
    if not t_original:
        r.error("original_principal", "required field is empty")
    original = r.amount("original_principal", t_original)
    if not t_outstanding:
        r.error("outstanding_principal", "required field is empty")
    outstanding = r.amount("outstanding_principal", t_outstanding)
    rate: Decimal | None = None
    if not t_rate:
        r.error("interest_rate", "required field is empty")
    else:
        try:
            rate = parse_rate(t_rate)
        except FieldError as exc:
            r.error("interest_rate", exc.reason)
    method = AMORTIZATIONS.get(t_method)
    if method is None:
        if t_method:
            allowed = ", ".join(AMORTIZATIONS)
            r.error("amortization", f"amortization {t_method!r} is not one of {allowed}")
        else:
            r.error("amortization", "required field is empty")
    day = r.integer("payment_day", t_day, True)
    if day is not None and not 1 <= day <= 31:
        r.error("payment_day", f"payment_day {day} is not in 1..31")
    term = r.integer("remaining_term_months", t_term, True)
    dpd = _days_past_due(r, r.integer("days_past_due", t_dpd, True))

    if origination is not None and maturity is not None and maturity <= origination:
        r.error(
            "maturity_date",
            f"maturity_date {maturity} is not after origination_date {origination}",
        )
    if original is not None and original <= 0:
        r.error("original_principal", "original_principal must be positive")
    if original is not None and outstanding is not None and outstanding > original:
        r.error(
            "outstanding_principal",
            f"outstanding_principal {outstanding} exceeds original_principal {original}",
        )
    if term == 0 and outstanding and dpd == 0:
        r.error(
            "remaining_term_months",
            "remaining_term_months is 0 with principal outstanding, yet days_past_due is 0",
        )
    if r.bad:
        return None
    return trusted(
        BoardingRow,
        {
            "loan_id": loan_id,
            "borrower_id": borrower_id,
            "origination_date": origination,
            "maturity_date": maturity,
            "original_principal": original,
            "outstanding_principal": outstanding,
            "interest_rate": rate,
            "amortization": method,
            "payment_day": day,
            "remaining_term_months": term,
            "days_past_due": dpd,
            "extra": extra,
        },
    )


def scan_boarding_tape(
    source: str | Path | bytes, file: str | None = None
) -> tuple[BoardingTape, list[TapeError]]:
    """Read a whole boarding tape without raising: the rows that parse and every error, in line
    order (syntax, per-row rules and duplicate ``loan_id``; a duplicate row still parses, so it is
    among the rows). For callers that add their own checks to one combined rejection, such as the
    eligibility checks of :func:`ledger.servicing.board_pool`."""
    stream, name, sha256 = open_tape(source, file)
    sheet = Sheet(name)
    rows: list[BoardingRow] = []
    lines: list[int] = []
    first: dict[str, int] = {}
    with stream:
        for line, values, extra in read_records(stream, sheet, BOARDING_COLUMNS):
            loan_id = values[0]
            if loan_id in first:
                sheet.error(
                    line,
                    "loan_id",
                    f"duplicate loan_id {loan_id!r} (first on line {first[loan_id]})",
                )
            elif loan_id:
                first[loan_id] = line
            row = _boarding_row(line, values, extra, sheet)
            if row is not None:
                rows.append(row)
                lines.append(line)
    tape = BoardingTape(name, sha256, tuple(rows), tuple(lines))
    return tape, sorted(sheet.errors, key=lambda e: e.row)


def parse_boarding_tape(source: str | Path | bytes, file: str | None = None) -> BoardingTape:
    """Read a whole boarding tape (a path, or the file's bytes) and validate every row.

    Raises :class:`TapeRejected` listing every error; on success returns the rows and the SHA-256
    of the file's bytes. ``file`` names the file in errors (default: the path, or ``<bytes>``).
    """
    tape, errors = scan_boarding_tape(source, file)
    if errors:
        raise TapeRejected(errors)
    return tape


def read_boarding_tape(path: str | Path) -> BoardingTape:
    """:func:`parse_boarding_tape` of a file on disk."""
    return parse_boarding_tape(Path(path))


# --- servicer tape --------------------------------------------------------------------------------

AMOUNT_FIELDS = ("principal", "interest", "fees")


def _servicer_row(
    line: int, v: list[str], extra: dict[str, str], sheet: Sheet
) -> ServicerRow | None:
    t_kind, t_loan, t_date, t_p, t_i, t_f, t_pre, t_dpd, reason, reference = v
    r = RowReader(sheet, line)
    kind = RECORD_TYPES.get(t_kind)
    if kind is None:
        if t_kind:
            allowed = ", ".join(RECORD_TYPES)
            r.error("record_type", f"record_type {t_kind!r} is not one of {allowed}")
        else:
            r.error("record_type", "required field is empty")
    loan_id = r.required("loan_id", t_loan)
    value_date = r.date("value_date", t_date)
    principal = r.amount("principal", t_p) if t_p else None
    interest = r.amount("interest", t_i) if t_i else None
    fees = r.amount("fees", t_f) if t_f else None
    prepayment: bool | None = None
    if t_pre:
        try:
            prepayment = parse_bool(t_pre)
        except FieldError as exc:
            r.error("prepayment", exc.reason)
    dpd = _days_past_due(r, r.integer("days_past_due", t_dpd, False)) if t_dpd else None
    if kind is not None:
        for column, why in _record_rules(kind, v, principal, interest, fees, prepayment):
            r.error(column, why)
    if r.bad:
        return None
    return trusted(
        ServicerRow,
        {
            "record_type": kind,
            "loan_id": loan_id,
            "value_date": value_date,
            "principal": principal,
            "interest": interest,
            "fees": fees,
            "prepayment": prepayment,
            "days_past_due": dpd,
            "reason": reason or None,
            "reference": reference or None,
            "extra": extra,
        },
    )


def _record_rules(
    kind: RecordType,
    v: list[str],
    principal: Decimal | None,
    interest: Decimal | None,
    fees: Decimal | None,
    prepayment: bool | None,
) -> list[tuple[str, str]]:
    """Per-record-type required and forbidden fields; ``v`` are the raw texts, the amounts are
    ``None`` when empty or malformed (malformed ones are reported already). Amounts are never
    negative here, so they total zero exactly when none is positive."""
    _, _, _, t_p, t_i, t_f, t_pre, t_dpd, t_reason, _ = v
    out: list[tuple[str, str]] = []
    given = bool(t_p or t_i or t_f)
    parsed = (not t_p or principal is not None) and (not t_i or interest is not None)
    zero = parsed and (not t_f or fees is not None) and not (principal or interest or fees)

    if kind is RecordType.COLLECTION:
        if not given:
            out.append(("principal", "COLLECTION needs principal, interest or fees"))
        elif zero:
            out.append(("principal", "COLLECTION amounts total zero"))
        if not t_pre:
            out.append(("prepayment", "COLLECTION needs prepayment true or false"))
        elif prepayment is True and not principal:
            out.append(("principal", "a prepayment needs a positive principal"))
        return out
    if kind is RecordType.DELINQUENCY:
        if not t_dpd:
            out.append(("days_past_due", "DELINQUENCY needs days_past_due"))
        unused: tuple[str, ...] = ("principal", "interest", "fees", "prepayment")
    elif kind is RecordType.DEFAULT:
        unused = ("interest", "fees", "prepayment")
    elif kind is RecordType.RECOVERY:
        if not given:
            out.append(
                ("principal", "RECOVERY needs a positive amount (principal, interest or fees)")
            )
        elif zero:
            out.append(("principal", "RECOVERY needs a positive amount; these total zero"))
        unused = ("prepayment",)
    elif kind is RecordType.WRITE_OFF:
        if not t_p:
            out.append(("principal", "WRITE_OFF needs the principal written off"))
        unused = ("interest", "fees", "prepayment")
    else:  # REPURCHASE
        if not t_p:
            out.append(("principal", "REPURCHASE needs the principal repurchased"))
        elif principal == 0:
            out.append(("principal", "REPURCHASE principal must be positive"))
        if not t_reason:
            out.append(("reason", "REPURCHASE needs a reason"))
        unused = ("fees", "prepayment")
    if t_p or t_i or t_f or t_pre:
        raw = {"principal": t_p, "interest": t_i, "fees": t_f, "prepayment": t_pre}
        out.extend(
            (column, f"{kind} does not use {column}: leave it empty")
            for column in unused
            if raw[column]
        )
    return out


def scan_servicer_tape(
    source: str | Path | bytes, file: str | None = None
) -> tuple[ServicerTape, list[TapeError]]:
    """Read a whole servicer tape without raising: the rows that parse and every syntax and
    per-record-type error, in line order. The first stage of :func:`validate_servicer_tape`, for
    callers that run :func:`check_servicer_rows` themselves (with loan state from a store)."""
    stream, name, sha256 = open_tape(source, file)
    sheet = Sheet(name)
    rows: list[ServicerRow] = []
    lines: list[int] = []
    with stream:
        for line, values, extra in read_records(stream, sheet, SERVICER_COLUMNS):
            row = _servicer_row(line, values, extra, sheet)
            if row is not None:
                rows.append(row)
                lines.append(line)
    tape = ServicerTape(name, sha256, tuple(rows), tuple(lines))
    return tape, sheet.errors


def parse_servicer_tape(source: str | Path | bytes, file: str | None = None) -> ServicerTape:
    """Read a whole servicer tape (a path, or the file's bytes) and check every row's syntax and
    per-record-type fields. Raises :class:`TapeRejected` listing every error.

    The checks that need loan state are :func:`check_servicer_rows` (or use
    :func:`validate_servicer_tape` for both in one pass with one combined error list).
    """
    tape, errors = scan_servicer_tape(source, file)
    if errors:
        raise TapeRejected(errors)
    return tape


def read_servicer_tape(path: str | Path) -> ServicerTape:
    """:func:`parse_servicer_tape` of a file on disk."""
    return parse_servicer_tape(Path(path))
