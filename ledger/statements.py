"""Custodian bank statements (SPEC §6 bank statement; ISO 20022 camt.053): parsing and writing.

Pure: bytes in, per-account statements out (:func:`parse_statement`), and statement lines back out
as SPEC §6 CSV (:func:`format_statement_csv`). Storing and reconciling them is
``ledger/statement_import.py``.

**CSV** (SPEC §6): one row per movement on a trust bank account, header naming at least
``account, value_date, amount, reference, balance_after`` (any order; extra columns are kept per
line in ``extra``). ``amount`` is signed as the bank signs it (a credit to the trust account is
positive), a decimal string of at most two decimals; ``value_date`` ISO; ``reference`` and
``balance_after`` may be empty. One file may hold several accounts. A line's ``line_no`` is its
physical line in the file (header = 1), as in a spreadsheet.

**camt.053** (``BkToCstmrStmt``, versions .001.02 to .001.08 and later: elements are found by
local name, so any ``urn:iso:std:iso:20022:tech:xsd:camt.053.001.NN`` namespace reads the same):
each ``Stmt`` gives the account (``Acct/Id/IBAN`` or ``Acct/Id/Othr/Id``), the period
(``FrToDt``, else the ``OPBD``/``CLBD`` balance dates, else the entries' value dates), the opening
(``OPBD``, or ``PRCD``) and closing (``CLBD``) booked balances, and one line per *booked* ``Ntry``
(status ``BOOK``; pending and information-only entries are not movements yet and are left out):
``Amt`` signed by ``CdtDbtInd`` (``CRDT`` +, ``DBIT`` −; a reversal entry is signed by its own
indicator too), ``ValDt/Dt`` (else ``BookgDt``), and the reference the payer gave — the first of
``NtryDtls/TxDtls/Refs/EndToEndId`` (unless ``NOTPROVIDED``), ``RmtInf/Ustrd``, ``NtryRef``,
``AcctSvcrRef``; every one of them is kept in ``extra``. Several ``Stmt`` of one account in a
file (daily statements sent together) make one statement of that account; a line's ``line_no``
is its entry's position among that account's ``Ntry`` elements in file order (pending entries
count, so the numbers are those of the file). The file is parsed with the standard library's
``xml.etree`` after refusing any ``<!DOCTYPE``/``<!ENTITY``: camt.053 never declares a DTD, so
nothing is lost, and entity expansion and external entities — the XML attacks ``defusedxml`` guards
against — cannot occur (no extra dependency for one check).

The bank's account identifier is taken as the ledger account name (``trust:collections``) unless
``account_map`` maps it (e.g. an IBAN to ``trust:distribution``). Every problem is a
:class:`StatementError` naming file, row (CSV line or camt.053 statement/entry), field and reason;
:class:`StatementRejected` carries them all and nothing of the file is used.
"""

from __future__ import annotations

import csv
import hashlib
import io
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from events.bank import BankLine
from ledger.money import MoneyError, money

__all__ = [
    "STATEMENT_COLUMNS",
    "AccountStatement",
    "StatementError",
    "StatementFile",
    "StatementFormat",
    "StatementRejected",
    "balances_of",
    "format_statement_csv",
    "parse_statement",
    "statement_file_name",
]

STATEMENT_COLUMNS: tuple[str, ...] = (
    "account",
    "value_date",
    "amount",
    "reference",
    "balance_after",
)
"""The pinned bank statement columns, in SPEC §6 order (the order the writer uses)."""

StatementFormat = Literal["csv", "camt.053"]

CAMT053_NAMESPACE = "urn:iso:std:iso:20022:tech:xsd:camt.053."
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_PLAIN = re.compile(r"[+-]?\d+(\.\d+)?")
"""An amount as SPEC §6 writes it: no thousands separators, no exponent."""


@dataclass(frozen=True, slots=True)
class StatementError:
    """One reason a statement file is rejected. ``row`` is the CSV line (header = 1) or the
    camt.053 location (``Stmt 1 Ntry 3``); empty for the file as a whole."""

    file: str
    row: str
    field: str
    reason: str

    def __str__(self) -> str:
        where = self.row or "file"
        what = f", field {self.field}" if self.field else ""
        return f"{self.file}: {where}{what}: {self.reason}"


class StatementRejected(ValueError):
    """A statement file with at least one error; ``errors`` lists every one, in file order."""

    def __init__(self, errors: Sequence[StatementError]) -> None:
        self.errors: tuple[StatementError, ...] = tuple(errors)
        shown = "\n".join(f"  {e}" for e in self.errors[:100])
        more = f"\n  ... and {len(self.errors) - 100} more" if len(self.errors) > 100 else ""
        super().__init__(f"statement rejected with {len(self.errors)} error(s):\n{shown}{more}")


@dataclass(frozen=True, slots=True)
class AccountStatement:
    """The movements of one bank account over a period, as the custodian reported them.

    ``account`` is the ledger account; ``bank_account`` the identifier in the file; ``first_row``
    where the account first appears (for errors about the account itself)."""

    account: str
    bank_account: str
    period_start: date
    period_end: date
    lines: tuple[BankLine, ...]
    opening_balance: Decimal | None = None
    closing_balance: Decimal | None = None
    statement_id: str | None = None
    first_row: str = ""


@dataclass(frozen=True, slots=True)
class StatementFile:
    """A parsed statement file: its name, content hash, format and one statement per account."""

    file: str
    sha256: str
    format: StatementFormat
    statements: tuple[AccountStatement, ...] = field(default=())


class _FieldError(ValueError):
    """A field's value is wrong; ``field`` names it where the caller does not know which."""

    def __init__(self, reason: str, field: str = "") -> None:
        super().__init__(reason)
        self.field = field


def _iso_date(text: str) -> date:
    if not _DATE.fullmatch(text):
        raise _FieldError(f"date {text!r} is not ISO YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise _FieldError(f"date {text!r} does not exist") from None


def _amount(text: str, what: str) -> Decimal:
    if not _PLAIN.fullmatch(text):
        raise _FieldError(f"{what} {text!r} is not a plain decimal (sign, digits, point)")
    try:
        return money(text, what)
    except MoneyError as exc:
        raise _FieldError(str(exc)) from None


def balances_of(lines: Sequence[BankLine]) -> tuple[Decimal | None, Decimal | None]:
    """Opening and closing balance implied by the lines' ``balance_after`` (in file order): the
    first known balance less the movements up to it, the last known plus the movements after it.
    ``(None, None)`` when no line carries a balance."""
    known = [i for i, line in enumerate(lines) if line.balance_after is not None]
    if not known:
        return None, None
    first, last = known[0], known[-1]
    first_bal, last_bal = lines[first].balance_after, lines[last].balance_after
    assert first_bal is not None and last_bal is not None
    opening = first_bal - sum((line.amount for line in lines[: first + 1]), Decimal("0.00"))
    closing = last_bal + sum((line.amount for line in lines[last + 1 :]), Decimal("0.00"))
    return opening, closing


def _period(
    lines: Sequence[BankLine], start: date | None, end: date | None, where: str
) -> tuple[date, date]:
    dates = [line.value_date for line in lines]
    lo = start or (min(dates) if dates else end)
    hi = end or (max(dates) if dates else start)
    if lo is None or hi is None:
        raise _FieldError(f"{where}: no period given and no entries to take it from")
    return lo, hi


# --- CSV ------------------------------------------------------------------------------------------


def _parse_csv(data: bytes, name: str, account_map: Mapping[str, str]) -> StatementFile:
    errors: list[StatementError] = []

    def error(row: int, column: str, reason: str) -> None:
        errors.append(StatementError(name, f"line {row}" if row else "", column, reason))

    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise StatementRejected([StatementError(name, "", "", f"not UTF-8: {exc}")]) from None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise StatementRejected([StatementError(name, "line 1", "", str(exc))]) from None
    if header is None:
        raise StatementRejected([StatementError(name, "", "", "the file is empty")])
    names = [h.strip() for h in header]
    for column in STATEMENT_COLUMNS:
        if column not in names:
            error(1, column, "required column missing from the header")
    for column in {n for n in names if names.count(n) > 1}:
        error(1, column, "column appears twice in the header")
    if errors:
        raise StatementRejected(errors)
    index = {n: i for i, n in enumerate(names)}
    extra_columns = [(i, n) for i, n in enumerate(names) if n not in STATEMENT_COLUMNS]
    by_account: dict[str, list[BankLine]] = {}
    first_row: dict[str, int] = {}
    bank_of: dict[str, str] = {}
    last_line = reader.line_num
    while True:
        try:
            values = next(reader, None)
        except csv.Error as exc:
            error(last_line + 1, "", f"cannot read the record: {exc}")
            break
        if values is None:
            break
        row, last_line = last_line + 1, reader.line_num
        if not any(v.strip() for v in values):
            continue
        if len(values) != len(names):
            error(row, "", f"record has {len(values)} fields, the header has {len(names)}")
            continue
        get = {n: values[i].strip() for n, i in index.items()}
        fields: dict[str, object] = {}
        ok = True
        for column, parse in (
            ("value_date", _iso_date),
            ("amount", lambda t: _amount(t, "amount")),
            ("balance_after", lambda t: _amount(t, "balance_after") if t else None),
        ):
            try:
                fields[column] = parse(get[column])
            except _FieldError as exc:
                error(row, column, str(exc))
                ok = False
        account = get["account"]
        if not account:
            error(row, "account", "empty: every movement names its account")
            ok = False
        if not ok:
            continue
        ledger_account = account_map.get(account, account)
        first_row.setdefault(ledger_account, row)
        bank_of.setdefault(ledger_account, account)
        by_account.setdefault(ledger_account, []).append(
            BankLine.model_validate(
                {
                    "line_no": row,
                    "reference": get["reference"],
                    "extra": {n: values[i].strip() for i, n in extra_columns},
                    **fields,
                }
            )
        )
    if not errors and not by_account:
        error(0, "", "no movements: the file has a header and no rows")
    if errors:
        raise StatementRejected(errors)
    statements = []
    for account, lines in by_account.items():
        start, end = _period(lines, None, None, account)
        opening, closing = balances_of(lines)
        statements.append(
            AccountStatement(
                account=account,
                bank_account=bank_of[account],
                period_start=start,
                period_end=end,
                lines=tuple(lines),
                opening_balance=opening,
                closing_balance=closing,
                first_row=f"line {first_row[account]}",
            )
        )
    return StatementFile(name, _sha256(data), "csv", tuple(statements))


# --- camt.053 -------------------------------------------------------------------------------------


def _text(el: ET.Element | None, path: str) -> str:
    if el is None:
        return ""
    found = el.find(path)
    return (found.text or "").strip() if found is not None else ""


def _ns_path(*names: str) -> str:
    return "/".join(f"{{*}}{n}" for n in names)


def _xml_date(el: ET.Element | None) -> date | None:
    """``<Dt>`` or ``<DtTm>`` under ``el`` as a date (the date part of a timestamp)."""
    if el is None:
        return None
    day = _text(el, _ns_path("Dt"))
    if day:
        return _iso_date(day)
    return _stamp_date(_text(el, _ns_path("DtTm")))


def _stamp_date(stamp: str) -> date | None:
    """The date of an ISO 8601 timestamp (``2022-03-31T23:59:59+08:00``); None when empty."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
    except ValueError:
        raise _FieldError(f"timestamp {stamp!r} is not ISO 8601") from None


def _signed(el: ET.Element, currency: str) -> Decimal:
    """``Amt`` signed by ``CdtDbtInd`` (credit positive), in the ledger's currency."""
    amt = el.find(_ns_path("Amt"))
    if amt is None or not (amt.text or "").strip():
        raise _FieldError("missing", "Amt")
    ccy = amt.get("Ccy", "")
    if ccy != currency:
        raise _FieldError(f"currency {ccy or '(none)'!r}: the ledger keeps {currency}", "Amt/@Ccy")
    try:
        value = money(amt.text or "", "Amt")
    except MoneyError as exc:
        raise _FieldError(str(exc), "Amt") from None
    if value < 0:
        raise _FieldError(f"{value} is negative (the sign is CdtDbtInd's)", "Amt")
    indicator = _text(el, _ns_path("CdtDbtInd"))
    if indicator == "CRDT":
        return value
    if indicator == "DBIT":
        return -value
    raise _FieldError(f"{indicator!r} is neither CRDT nor DBIT", "CdtDbtInd")


def _account_id(stmt: ET.Element) -> str:
    acct = stmt.find(_ns_path("Acct", "Id"))
    return _text(acct, _ns_path("IBAN")) or _text(acct, _ns_path("Othr", "Id"))


_REFERENCE_FIELDS: tuple[tuple[str, str], ...] = (
    ("end_to_end_id", _ns_path("NtryDtls", "TxDtls", "Refs", "EndToEndId")),
    ("remittance_info", _ns_path("NtryDtls", "TxDtls", "RmtInf", "Ustrd")),
    ("entry_ref", _ns_path("NtryRef")),
    ("account_servicer_ref", _ns_path("AcctSvcrRef")),
)


def _entry(ntry: ET.Element, n: int, currency: str) -> BankLine | None:
    """One ``Ntry`` as a bank line (None when it is not booked)."""
    status = _text(ntry, _ns_path("Sts")) or _text(ntry, _ns_path("Sts", "Cd"))
    if status and status != "BOOK":
        return None
    amount = _signed(ntry, currency)
    try:
        value_date = _xml_date(ntry.find(_ns_path("ValDt"))) or _xml_date(
            ntry.find(_ns_path("BookgDt"))
        )
    except _FieldError as exc:
        raise _FieldError(str(exc), "ValDt") from None
    if value_date is None:
        raise _FieldError("missing (and no BookgDt)", "ValDt")
    extra: dict[str, str] = {}
    for key, path in _REFERENCE_FIELDS:
        value = _text(ntry, path)
        if value:
            extra[key] = value
    for key, path in (
        ("booking_date", _ns_path("BookgDt", "Dt")),
        ("reversal", _ns_path("RvslInd")),
        ("additional_info", _ns_path("AddtlNtryInf")),
        ("bank_transaction_code", _ns_path("BkTxCd", "Prtry", "Cd")),
    ):
        value = _text(ntry, path)
        if value:
            extra[key] = value
    e2e = extra.get("end_to_end_id", "")
    reference = next(
        (
            v
            for v in (
                "" if e2e == "NOTPROVIDED" else e2e,
                extra.get("remittance_info", ""),
                extra.get("entry_ref", ""),
                extra.get("account_servicer_ref", ""),
            )
            if v
        ),
        "",
    )
    return BankLine(
        line_no=n, value_date=value_date, amount=amount, reference=reference, extra=extra
    )


@dataclass
class _Acc:
    """One account's statements in a camt.053 file, gathered (several ``Stmt`` may name it)."""

    bank_account: str
    first_row: str
    lines: list[BankLine] = field(default_factory=list)
    entries: int = 0
    ids: list[str] = field(default_factory=list)
    periods: list[tuple[date, date, Decimal | None, Decimal | None]] = field(default_factory=list)


def _parse_camt(
    data: bytes, name: str, account_map: Mapping[str, str], currency: str
) -> StatementFile:
    errors: list[StatementError] = []
    head = data[:4096].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in data.upper():
        raise StatementRejected(
            [StatementError(name, "", "", "a DTD or entity declaration: camt.053 has none")]
        )
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise StatementRejected(
            [StatementError(name, "", "", f"not well-formed XML: {exc}")]
        ) from None
    ns = root.tag[1:].split("}", 1)[0] if root.tag.startswith("{") else ""
    if not ns.startswith(CAMT053_NAMESPACE) or not root.tag.endswith("}Document"):
        raise StatementRejected(
            [StatementError(name, "", "Document", f"not a camt.053 document (root {root.tag})")]
        )
    stmts = root.findall(_ns_path("BkToCstmrStmt", "Stmt"))
    if not stmts:
        raise StatementRejected([StatementError(name, "", "Stmt", "no statement in the file")])
    accounts: dict[str, _Acc] = {}
    for s, stmt in enumerate(stmts, start=1):
        sid = _text(stmt, _ns_path("Id"))
        where = f"Stmt {s}" + (f" ({sid})" if sid else "")
        bank = _account_id(stmt)
        if not bank:
            errors.append(StatementError(name, where, "Acct/Id", "no IBAN or Othr/Id"))
            continue
        acct_ccy = _text(stmt, _ns_path("Acct", "Ccy"))
        if acct_ccy and acct_ccy != currency:
            errors.append(
                StatementError(name, where, "Acct/Ccy", f"{acct_ccy}: the ledger keeps {currency}")
            )
            continue
        opening = closing = None
        start = end = None
        for b, bal in enumerate(stmt.findall(_ns_path("Bal")), start=1):
            code = _text(bal, _ns_path("Tp", "CdOrPrtry", "Cd"))
            if code not in ("OPBD", "PRCD", "CLBD"):
                continue
            try:
                amount = _signed(bal, currency)
                day = _xml_date(bal.find(_ns_path("Dt")))
            except _FieldError as exc:
                errors.append(
                    StatementError(name, f"{where} Bal {b} ({code})", exc.field or "Dt", str(exc))
                )
                continue
            if code == "CLBD":
                closing, end = amount, day
            elif opening is None or code == "OPBD":
                opening, start = amount, day
        try:
            frto = stmt.find(_ns_path("FrToDt"))
            if frto is not None:
                start = _stamp_date(_text(frto, _ns_path("FrDtTm"))) or start
                end = _stamp_date(_text(frto, _ns_path("ToDtTm"))) or end
        except _FieldError as exc:
            errors.append(StatementError(name, where, "FrToDt", str(exc)))
        lines: list[BankLine] = []
        for n, ntry in enumerate(stmt.findall(_ns_path("Ntry")), start=1):
            try:
                line = _entry(ntry, n, currency)
            except _FieldError as exc:
                errors.append(StatementError(name, f"{where} Ntry {n}", exc.field, str(exc)))
                continue
            if line is not None:
                lines.append(line)
        try:
            start, end = _period(lines, start, end, where)
        except _FieldError as exc:
            errors.append(StatementError(name, where, "FrToDt", str(exc)))
            continue
        if start > end:
            errors.append(StatementError(name, where, "FrToDt", f"period {start} after {end}"))
            continue
        account = account_map.get(bank, bank)
        acc = accounts.setdefault(account, _Acc(bank, where))
        offset = acc.entries
        acc.lines.extend(
            line.model_copy(update={"line_no": offset + line.line_no}) if offset else line
            for line in lines
        )
        acc.entries += len(stmt.findall(_ns_path("Ntry")))
        acc.ids.append(sid)
        acc.periods.append((start, end, opening, closing))
    if errors:
        raise StatementRejected(errors)
    statements = []
    for account, acc in accounts.items():
        periods = sorted(acc.periods, key=lambda p: (p[0], p[1]))
        statements.append(
            AccountStatement(
                account=account,
                bank_account=acc.bank_account,
                period_start=periods[0][0],
                period_end=periods[-1][1],
                lines=tuple(acc.lines),
                opening_balance=periods[0][2],
                closing_balance=periods[-1][3],
                statement_id=",".join(i for i in acc.ids if i) or None,
                first_row=acc.first_row,
            )
        )
    return StatementFile(name, _sha256(data), "camt.053", tuple(statements))


# --- entry points ---------------------------------------------------------------------------------


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sniff_format(data: bytes) -> StatementFormat:
    """camt.053 when the file is XML (starts with ``<`` after a BOM and white space), else CSV."""
    return "camt.053" if data.lstrip(b"\xef\xbb\xbf \t\r\n").startswith(b"<") else "csv"


def parse_statement(
    data: bytes,
    file: str,
    *,
    account_map: Mapping[str, str] | None = None,
    fmt: StatementFormat | None = None,
    currency: str = "CNY",
) -> StatementFile:
    """Parse a statement file's bytes (format sniffed unless given) into one statement per
    account; raises :class:`StatementRejected` naming every problem."""
    mapping = dict(account_map or {})
    kind = fmt or sniff_format(data)
    if kind == "camt.053":
        return _parse_camt(data, file, mapping, currency)
    return _parse_csv(data, file, mapping)


def format_statement_csv(statements: Iterable[AccountStatement]) -> str:
    """SPEC §6 CSV of the statements' lines (their ``bank_account`` in the account column), with
    the extra columns of the first line that has any after the pinned ones."""
    rows = [(s.bank_account, line) for s in statements for line in s.lines]
    extra = list(dict.fromkeys(k for _, line in rows for k in line.extra))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([*STATEMENT_COLUMNS, *extra])
    for bank, line in rows:
        writer.writerow(
            [
                bank,
                line.value_date.isoformat(),
                str(line.amount),
                line.reference,
                "" if line.balance_after is None else str(line.balance_after),
                *(line.extra.get(k, "") for k in extra),
            ]
        )
    return out.getvalue()


def statement_file_name(account: str) -> str:
    """``bank-statement-trust-collections.csv`` for ``trust:collections`` (no ``:`` in names)."""
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", account).strip("-")
    return f"bank-statement-{safe}.csv"
