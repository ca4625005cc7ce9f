"""The rows the fast fold reads (``EventRow``) and writes: encoding and decoding loan and period
rows, which projections the fast path serves, and which part owns a stream."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.envelope import RecordedEvent
from events.model import Payload
from projections.balances import BalancesProjection
from projections.base import Projection
from projections.loans import (
    LoanProjection,
    LoanStatus,
)
from projections.notes import NotesProjection
from projections.pool import PoolProjection
from projections.remittance import RemittanceProjection

if TYPE_CHECKING:
    pass


FAST_KINDS: tuple[type[Projection[Any]], ...] = (
    BalancesProjection,
    LoanProjection,
    PoolProjection,
    RemittanceProjection,
    NotesProjection,
)

EventRow = tuple[int, str, int, str, Payload]
"""``(deal_seq, type, schema_version, effective date ISO, stored payload)``: what the fold reads."""

_HOT_MONEY = ("balance", "boarded", "scheduled", "prepaid", "interest", "fees", "default_paid")
"""Loan-row fields the hot code adds to: held as Decimal (the others stay as the reference
prints them; the reference functions update them on the encoded row)."""
HOT_ACCOUNTS = ("servicer:collections-held", "pool:principal", "income:interest", "income:fees")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_PERFORMING, _DELINQUENT = LoanStatus.PERFORMING.value, LoanStatus.DELINQUENT.value


def row_of(event: RecordedEvent) -> EventRow:
    """The columns of an event a fold reads (the inverse of :func:`recorded_of`)."""
    return (
        event.deal_seq,
        event.type,
        event.schema_version,
        event.effective_date.isoformat(),
        event.data,
    )


def recorded_of(deal_id: str, row: EventRow) -> RecordedEvent:
    """The event of a row as the reference ``changes`` read it (type, version, payload,
    effective date, sequence; the other envelope fields are not read by any default projection,
    nor by :class:`ledger.cycle.state.CycleFolder`)."""
    seq, kind, version, day, data = row
    return RecordedEvent(
        0, "", deal_id, seq, "", 0, kind, version, date.fromisoformat(day), _EPOCH,
        "", "", "", None, None, data, "", "", [],
    )  # fmt: skip


LOAN_STREAM = "loan-"
"""Prefix of a loan's own stream (``ledger.servicing``): the unit a parallel rebuild splits by."""


class Unpartitionable(Exception):
    """This history cannot be folded in parts exactly: the caller folds it in one."""


def stream_owner(stream_id: str, n: int) -> int:
    """The part (of ``n``) that reads a loan's stream: its id's last character, as
    :func:`read_rows` selects it on the server (``mod(ascii(right(stream_id, 1)), n)``)."""
    return ord(stream_id[-1]) % n


def owner(loan_id: str, n: int) -> int:
    """The part (of ``n``) that folds loan ``loan_id``: the one reading the loan's stream."""
    return stream_owner(LOAN_STREAM + loan_id, n)


def serves(projections: Sequence[Projection[Any]]) -> bool:
    """Whether every projection is one of the default kinds (each at most once)."""
    kinds = [type(p) for p in projections]
    return all(k in FAST_KINDS for k in kinds) and len(set(kinds)) == len(kinds)


def is_canonical(value: Any) -> bool:
    """A money string as a model dumps it (two decimals), or absent."""
    return value is None or (type(value) is str and len(value) >= 4 and value[-3] == ".")


def _status(loan: dict[str, Any]) -> str:
    """:func:`projections.loans._status` of the native loan."""
    if loan["n_repurchase"] > 0:
        return LoanStatus.REPURCHASED.value
    if loan["n_write_off"] > 0:
        return LoanStatus.WRITTEN_OFF.value
    if loan["n_default"] > 0:
        return LoanStatus.DEFAULTED.value
    if loan["balance"] == 0 and loan["boarded"] > 0:
        return LoanStatus.PAID_OFF.value
    if loan["dpd"] > 0:
        return _DELINQUENT
    return _PERFORMING


def encode_loan(loan: dict[str, Any]) -> dict[str, Any]:
    row = {k: (str(v) if type(v) is Decimal else v) for k, v in loan.items()}
    row["dpd_log"] = list(loan["dpd_log"])
    row["status"] = _status(loan)
    return row


def decode_loan(row: dict[str, Any]) -> dict[str, Any]:
    loan = dict(row)
    del loan["status"]
    for f in _HOT_MONEY:
        loan[f] = Decimal(loan[f])
    loan["dpd_log"] = list(loan["dpd_log"])
    return loan


def encode_period(period: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in period.items():
        if k == "dq":
            out[k] = {b: [n, str(s)] for b, (n, s) in v.items()}
        elif type(v) is Decimal:
            out[k] = str(v)
        else:
            out[k] = v
    return out


def decode_period(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "dq":
            out[k] = {b: [n, Decimal(x)] for b, (n, x) in v.items()}
        elif isinstance(v, str):
            out[k] = Decimal(v)
        else:
            out[k] = v
    return out
