"""Importing custodian statements and reconciling them (issue 6 item 3): the imperative shell.

:func:`import_statements` parses statement files (``ledger/audit/statements.py``), checks that every
account in them is a trust bank account of the deal, matches each against the ledger's cash
postings (``ledger/audit/reconcile.py``) and appends, per account and file,
``BankStatementImported``
then ``ReconciliationCompleted`` on the stream ``bank-<account>`` — all files in **one** append
batch, so a bad file stores nothing. The idempotency key is the file's SHA-256 and the account:
importing the same file again finds its statements already recorded and appends nothing (the
stored reconciliation is reported). Both are effective at the statement's period end, or on the
first open day when that end lies in a sealed period (the period itself stays in the payload).

:func:`ledger_statements` is the other direction: the statement a custodian would send for each
cash account, generated from the ledger's own postings (the demo writes and reconciles them).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from events.bank import BankStatementImported, ReconciliationCompleted
from events.envelope import NewEvent, RecordedEvent, event_id_for
from events.seal import open_date
from ledger.audit.reconcile import cash_postings, closing_balance, reconcile, statement_lines
from ledger.audit.statement_csv import format_statement_csv, statement_file_name
from ledger.audit.statement_model import (
    AccountStatement,
    StatementError,
    StatementFile,
    StatementRejected,
    balances_of,
)
from ledger.audit.statements import parse_statement
from ledger.core import accounts
from ledger.core.calendar.business import prc_calendar
from ledger.servicing.deals import deal_in_force
from ledger.waterfall import posting_account
from projections.store import ProjectedStore

__all__ = [
    "TRUST_BANK_GROUPS",
    "AccountReconciliation",
    "deal_bank_accounts",
    "import_statements",
    "ledger_statements",
    "parse_account_map",
    "reconcile_json",
    "write_and_reconcile",
]

TRUST_BANK_GROUPS = ("trust", "reserve")
"""Groups of the accounts the custodian keeps for the trust (``ledger/core/accounts.py``); the
servicer's collection account (``servicer:``) is not the custodian's and is not reconciled here."""


@dataclass(frozen=True, slots=True)
class AccountReconciliation:
    """One account of one imported file: its two events, and whether they were already stored."""

    file: str
    statement: RecordedEvent
    reconciliation: RecordedEvent
    duplicate: bool

    @property
    def result(self) -> ReconciliationCompleted:
        ev = self.reconciliation.event
        assert isinstance(ev, ReconciliationCompleted)
        return ev


def deal_bank_accounts(store: ProjectedStore, deal_id: str) -> set[str]:
    """The deal's trust bank accounts: ``trust:collections``, every cash and reserve account of
    the deal definition (``posting_account``), and any other ``trust:``/``reserve:`` account the
    ledger has posted to (e.g. ``trust:monthly-collateral``, seed 001 L2546-2653)."""
    deal = deal_in_force(store, deal_id)
    out = {accounts.TRUST_COLLECTIONS}
    out |= {posting_account(deal, a) for a, acc in deal.accounts.items() if acc.kind != "ledger"}
    balances = store.runner.live(store, deal_id, "balances")
    out |= {a for a in balances if a.split(":", 1)[0] in TRUST_BANK_GROUPS}
    return out


def _keys(sha256: str, account: str) -> tuple[str, str]:
    return f"bank-statement:{sha256}:{account}", f"reconciliation:{sha256}:{account}"


def _check(
    parsed: StatementFile,
    bank_accounts: set[str],
    deal_id: str,
    period: tuple[date, date] | None,
) -> list[StatementError]:
    errors = []
    known = ", ".join(sorted(bank_accounts))
    for st in parsed.statements:
        if st.account not in bank_accounts:
            errors.append(
                StatementError(
                    parsed.file,
                    st.first_row,
                    "account",
                    f"{st.bank_account!r}"
                    + (f" (mapped to {st.account!r})" if st.account != st.bank_account else "")
                    + f" is not a trust bank account of deal {deal_id} ({known})",
                )
            )
        if period is not None:
            for line in st.lines:
                if not period[0] <= line.value_date <= period[1]:
                    errors.append(
                        StatementError(
                            parsed.file,
                            f"line {line.line_no}"
                            if parsed.format == "csv"
                            else f"{st.bank_account} Ntry {line.line_no}",
                            "value_date",
                            f"{line.value_date} is outside the statement period "
                            f"{period[0]} to {period[1]}",
                        )
                    )
    return errors


def _with_period(st: AccountStatement, period: tuple[date, date] | None) -> AccountStatement:
    if period is None:
        return st
    return AccountStatement(
        account=st.account,
        bank_account=st.bank_account,
        period_start=period[0],
        period_end=period[1],
        lines=st.lines,
        opening_balance=st.opening_balance,
        closing_balance=st.closing_balance,
        statement_id=st.statement_id,
        first_row=st.first_row,
    )


def parse_account_map(pairs: Iterable[str]) -> dict[str, str]:
    """``BANK=LEDGER`` pairs (a bank account id, e.g. an IBAN, and the ledger account it is) as a
    map; a malformed pair raises :class:`ValueError` naming it."""
    out = {}
    for pair in pairs:
        bank, sep, ledger = pair.partition("=")
        if not sep or not bank.strip() or not ledger.strip():
            raise ValueError(f"{pair!r}: use BANK_ACCOUNT=LEDGER_ACCOUNT")
        out[bank.strip()] = ledger.strip()
    return out


def import_statements(
    store: ProjectedStore,
    deal_id: str,
    paths: Sequence[Path],
    *,
    account_map: Mapping[str, str] | None = None,
    period: tuple[date, date] | None = None,
    actor: str = "trustee",
    role: str = "trustee",
    date_tolerance: bool = True,
) -> list[AccountReconciliation]:
    """Import and reconcile statement files (see the module docstring); raises
    :class:`StatementRejected` naming file, row, field and reason, storing nothing.

    ``period`` overrides the statement period (a CSV's is otherwise its first to last value
    date); ``date_tolerance`` lets a bank value date one PRC business day from the ledger's match.
    """
    bank_accounts = deal_bank_accounts(store, deal_id)
    parsed: list[StatementFile] = []
    errors: list[StatementError] = []
    for path in paths:
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            errors.append(StatementError(str(path), "", "", f"cannot read: {exc.strerror}"))
            continue
        try:
            f = parse_statement(data, Path(path).name, account_map=account_map)
        except StatementRejected as exc:
            errors.extend(exc.errors)
            continue
        errors.extend(_check(f, bank_accounts, deal_id, period))
        parsed.append(f)
    if errors:
        raise StatementRejected(errors)

    todo: list[tuple[StatementFile, AccountStatement]] = []
    done: list[AccountReconciliation] = []
    seen: set[tuple[str, str]] = set()
    for f in parsed:
        for st in f.statements:
            if (f.sha256, st.account) in seen:
                continue  # the same file given twice
            seen.add((f.sha256, st.account))
            import_key, recon_key = _keys(f.sha256, st.account)
            stored = store.get(deal_id, event_id_for(deal_id, import_key))
            recon = store.get(deal_id, event_id_for(deal_id, recon_key))
            if stored is not None and recon is not None:
                done.append(AccountReconciliation(f.file, stored, recon, duplicate=True))
            else:
                todo.append((f, _with_period(st, period)))
    if not todo:
        return done

    postings = cash_postings(store.read(deal_id), {st.account for _, st in todo})
    calendar = prc_calendar() if date_tolerance else None
    new: list[NewEvent] = []
    for f, st in todo:
        import_key, recon_key = _keys(f.sha256, st.account)
        imported = BankStatementImported(
            account=st.account,
            file_name=f.file,
            file_sha256=f.sha256,
            format=f.format,
            statement_id=st.statement_id,
            period_start=st.period_start,
            period_end=st.period_end,
            opening_balance=st.opening_balance,
            closing_balance=st.closing_balance,
            lines=st.lines,
        )
        ledger = postings[st.account]
        result = reconcile(
            st.lines,
            [p for p in ledger if st.period_start <= p.value_date <= st.period_end],
            period_end=st.period_end,
            ledger_closing_balance=closing_balance(ledger, st.period_end),
            bank_closing_balance=st.closing_balance,
            next_business_day=calendar.next_business_day if calendar else None,
        )
        statement_id = event_id_for(deal_id, import_key)
        completed = ReconciliationCompleted(
            account=st.account,
            statement_event_id=statement_id,
            file_sha256=f.sha256,
            period_start=st.period_start,
            period_end=st.period_end,
            matched=result.matched,
            breaks=result.breaks,
            bank_closing_balance=result.bank_closing_balance,
            ledger_closing_balance=result.ledger_closing_balance,
        )
        for ev, key, cause in ((imported, import_key, None), (completed, recon_key, statement_id)):
            new.append(
                NewEvent.of(
                    ev,
                    deal_id=deal_id,
                    stream_id=ev.default_stream(),
                    effective_date=open_date(store.engine, deal_id, st.period_end),
                    idempotency_key=key,
                    actor=actor,
                    role=role,
                    causation_id=cause,
                )
            )
    recorded = store.append(new).events
    for n, (f, _) in enumerate(todo):
        done.append(AccountReconciliation(f.file, recorded[2 * n], recorded[2 * n + 1], False))
    return done


def ledger_statements(
    store: ProjectedStore,
    deal_id: str,
    bank_accounts: Iterable[str] | None = None,
    period: tuple[date, date] | None = None,
) -> list[AccountStatement]:
    """The statement a custodian would send for each account (default: every trust bank account
    of the deal with postings), generated from the ledger's own postings: one line per leg in the
    period (default: the account's first to last posting), the event's reference and the running
    balance from the ledger's balance the day before."""
    wanted = sorted(
        bank_accounts if bank_accounts is not None else deal_bank_accounts(store, deal_id)
    )
    postings = cash_postings(store.read(deal_id), wanted)
    out = []
    for account in wanted:
        legs = postings[account]
        if not legs and period is None:
            continue
        start, end = period or (legs[0].value_date, legs[-1].value_date)
        opening = closing_balance(legs, start - timedelta(days=1))
        lines = statement_lines([p for p in legs if start <= p.value_date <= end], opening)
        _, closing = balances_of(lines)
        out.append(
            AccountStatement(
                account=account,
                bank_account=account,
                period_start=start,
                period_end=end,
                lines=lines,
                opening_balance=opening,
                closing_balance=opening if closing is None else closing,
            )
        )
    return out


def write_and_reconcile(
    store: ProjectedStore, deal_id: str, folder: Path
) -> list[dict[str, str | int | None]]:
    """What the demo does as the custodian and the trustee: write each trust bank account's
    statement, generated from the ledger, to ``folder/bank-statement-<account>.csv``, import and
    reconcile them all; one summary row per account."""
    statements = ledger_statements(store, deal_id)
    paths = []
    for st in statements:
        path = folder / statement_file_name(st.account)
        path.write_text(format_statement_csv([st]), encoding="utf-8")
        paths.append(path)
    rows: list[dict[str, str | int | None]] = []
    for st, r in zip(statements, import_statements(store, deal_id, paths), strict=True):
        c = r.result
        rows.append(
            {
                "account": c.account,
                "file": r.file,
                "period_start": c.period_start.isoformat(),
                "period_end": c.period_end.isoformat(),
                "lines": len(st.lines),
                "matched": len(c.matched),
                "breaks": len(c.breaks),
                "bank_closing_balance": None
                if c.bank_closing_balance is None
                else str(c.bank_closing_balance),
                "ledger_closing_balance": str(c.ledger_closing_balance),
            }
        )
    return rows


def reconcile_json(deal_id: str, results: list[AccountReconciliation]) -> dict[str, Any]:
    """The command's JSON: per-account summary, every match and every break (each with its
    account), as recorded in ``ReconciliationCompleted``."""
    accounts = []
    matched: list[dict[str, Any]] = []
    breaks: list[dict[str, Any]] = []
    for r in results:
        c = r.result
        accounts.append(
            {
                "account": c.account,
                "file": r.file,
                "file_sha256": c.file_sha256,
                "already_imported": r.duplicate,
                "statement_event_id": r.statement.event_id,
                "reconciliation_event_id": r.reconciliation.event_id,
                "period_start": c.period_start.isoformat(),
                "period_end": c.period_end.isoformat(),
                "bank_closing_balance": None
                if c.bank_closing_balance is None
                else str(c.bank_closing_balance),
                "ledger_closing_balance": str(c.ledger_closing_balance),
                "matched": len(c.matched),
                "breaks": len(c.breaks),
            }
        )
        matched += [{"account": c.account, **m.model_dump(mode="json")} for m in c.matched]
        breaks += [{"account": c.account, **b.model_dump(mode="json")} for b in c.breaks]
    return {"deal_id": deal_id, "accounts": accounts, "matched": matched, "breaks": breaks}
