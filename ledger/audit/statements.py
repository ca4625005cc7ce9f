"""Custodian bank statements (SPEC §6 bank statement; ISO 20022 camt.053): parsing and writing.

Pure: bytes in, per-account statements out (:func:`parse_statement`; the formats in
:mod:`~ledger.audit.statement_csv` and :mod:`~ledger.audit.camt053`, the models in
:mod:`~ledger.audit.statement_model`), and statement lines back out as SPEC §6 CSV
(:func:`~ledger.audit.statement_csv.format_statement_csv`). Storing and reconciling them is
:mod:`ledger.audit.statement_import`.

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
:class:`StatementRejected` carries them all and nothing of the file is used."""

from __future__ import annotations

from collections.abc import Mapping

from ledger.audit.camt053 import parse_camt
from ledger.audit.statement_csv import parse_csv
from ledger.audit.statement_model import StatementFile, StatementFormat

# --- entry points ---------------------------------------------------------------------------------


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
        return parse_camt(data, file, mapping, currency)
    return parse_csv(data, file, mapping)
