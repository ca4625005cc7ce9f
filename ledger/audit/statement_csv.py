"""Bank statements as SPEC §6 CSV: parsing, and writing statement lines back out (the demo's
simulated custodian statements)."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Mapping

from events.bank import BankLine
from ledger.audit.statement_model import (
    STATEMENT_COLUMNS,
    AccountStatement,
    FieldError,
    StatementError,
    StatementFile,
    StatementRejected,
    balances_of,
    file_sha256,
    iso_date,
    parse_amount,
    statement_period,
)
from ledger.core.text import control_character

# --- CSV ------------------------------------------------------------------------------------------


def parse_csv(data: bytes, name: str, account_map: Mapping[str, str]) -> StatementFile:
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
        controls = [
            (n, p)
            for n, v in zip(names, values, strict=True)
            if (p := control_character(v.strip()))
        ]
        for column, problem in controls:
            error(row, column, problem)
        if controls:
            continue
        get = {n: values[i].strip() for n, i in index.items()}
        fields: dict[str, object] = {}
        ok = True
        for column, parse in (
            ("value_date", iso_date),
            ("amount", lambda t: parse_amount(t, "amount")),
            ("balance_after", lambda t: parse_amount(t, "balance_after") if t else None),
        ):
            try:
                fields[column] = parse(get[column])
            except FieldError as exc:
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
        start, end = statement_period(lines, None, None, account)
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
    return StatementFile(name, file_sha256(data), "csv", tuple(statements))


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
