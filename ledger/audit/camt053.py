"""Bank statements as ISO 20022 camt.053 XML (``BkToCstmrStmt``, versions .001.02 and later):
booked entries, balances and references; see :mod:`ledger.audit.statements`."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from events.bank import BankLine
from ledger.audit.statement_model import (
    CAMT053_NAMESPACE,
    AccountStatement,
    FieldError,
    StatementError,
    StatementFile,
    StatementRejected,
    file_sha256,
    iso_date,
    statement_period,
)
from ledger.core.money import MoneyError, money
from ledger.core.text import control_character

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
        return iso_date(day)
    return _stamp_date(_text(el, _ns_path("DtTm")))


def _stamp_date(stamp: str) -> date | None:
    """The date of an ISO 8601 timestamp (``2022-03-31T23:59:59+08:00``); None when empty."""
    if not stamp:
        return None
    try:
        return datetime.fromisoformat(stamp.replace("Z", "+00:00")).date()
    except ValueError:
        raise FieldError(f"timestamp {stamp!r} is not ISO 8601") from None


def _signed(el: ET.Element, currency: str) -> Decimal:
    """``Amt`` signed by ``CdtDbtInd`` (credit positive), in the ledger's currency."""
    amt = el.find(_ns_path("Amt"))
    if amt is None or not (amt.text or "").strip():
        raise FieldError("missing", "Amt")
    ccy = amt.get("Ccy", "")
    if ccy != currency:
        raise FieldError(f"currency {ccy or '(none)'!r}: the ledger keeps {currency}", "Amt/@Ccy")
    try:
        value = money(amt.text or "", "Amt")
    except MoneyError as exc:
        raise FieldError(str(exc), "Amt") from None
    if value < 0:
        raise FieldError(f"{value} is negative (the sign is CdtDbtInd's)", "Amt")
    indicator = _text(el, _ns_path("CdtDbtInd"))
    if indicator == "CRDT":
        return value
    if indicator == "DBIT":
        return -value
    raise FieldError(f"{indicator!r} is neither CRDT nor DBIT", "CdtDbtInd")


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
    except FieldError as exc:
        raise FieldError(str(exc), "ValDt") from None
    if value_date is None:
        raise FieldError("missing (and no BookgDt)", "ValDt")
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
    for key, value in extra.items():
        problem = control_character(value)
        if problem is not None:
            raise FieldError(problem, key)
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


def parse_camt(
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
    except (ET.ParseError, LookupError, ValueError) as exc:  # LookupError: unknown encoding
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
        if (problem := control_character(bank)) is not None:
            errors.append(StatementError(name, where, "Acct/Id", problem))
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
            except FieldError as exc:
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
        except FieldError as exc:
            errors.append(StatementError(name, where, "FrToDt", str(exc)))
        lines: list[BankLine] = []
        for n, ntry in enumerate(stmt.findall(_ns_path("Ntry")), start=1):
            try:
                line = _entry(ntry, n, currency)
            except FieldError as exc:
                errors.append(StatementError(name, f"{where} Ntry {n}", exc.field, str(exc)))
                continue
            if line is not None:
                lines.append(line)
        try:
            start, end = statement_period(lines, start, end, where)
        except FieldError as exc:
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
    return StatementFile(name, file_sha256(data), "camt.053", tuple(statements))
