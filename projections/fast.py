"""The fast rebuild: every default projection folded from zero in one pass over the stored
payloads, into native mutable state, encoded to rows once at the end (SPEC §8: replay ≥ 150,000
events/s).

The reference fold (:meth:`projections.base.Projection.fold`: ``changes`` then ``apply`` per event,
rows as JSON-able mappings of decimal strings) stays the definition; this module computes the same
rows faster, and ``tests/test_fast_rebuild.py`` pins that it does, row for row and ``last_seq`` for
``last_seq``, on both backends. What makes it fast:

* only the columns a fold reads (sequence, type, schema version, effective date, payload) are
  fetched, the effective date as ISO text, payloads parsed by orjson, no ``RecordedEvent`` nor
  pydantic model per event;
* the hot types (``CollectionReceived``, ``LoanDelinquencyReported``: nine events in ten of a
  servicing history) are folded by hand-written code over native state: a loan is a dict of the
  loan row's fields with the money ones as ``Decimal`` (no decimal string parsed and printed per
  event), the pool's per-loan working rows (``L:<loan>``) *are* the loan rows (the same fold of the
  same changes, so they are computed once), periods, remittance days and balances are dicts of
  ``Decimal``; each operation is the reference's, in the same order (zero normalised to ``0.00``
  where the reference does), so the strings printed at the end are the reference's;
* every other event (boarding, defaults, recoveries, write-offs, repurchases, reversals, the
  payment-date cycle, a payload not in dumped form) goes through the reference functions
  themselves on that loan's encoded row (:func:`projections.loans.apply_loan_change`,
  ``projections.pool._delta``, :func:`projections.remittance.remittance_change`,
  :class:`projections.notes.NotesProjection`), so rare types need no second implementation;
* postings come from the payload (:mod:`projections.legs`), the model only for other types;
* the garbage collector is paused during the fold: it creates no reference cycles, and the full
  collections it would otherwise run over an ever larger state are what made a long replay slower
  per event as it went.

* on PostgreSQL a large history is folded in parallel parts by loan (:func:`_parallel`, one
  process per part, :func:`default_parts`): a loan's state depends only on its own events, so
  part ``k`` reads the streams of the loans :func:`owner` gives it, plus every row of the other
  streams (the deal's, the cycle's), whose postings, remittance and notes part 0 alone folds. The
  parts' loans are disjoint and every other figure is a sum of exact decimals, printed with the
  exponent Decimal addition gives whatever the order (``projections.pool._sum``), so part 0 adds
  the others' into its own and the rows are the reference's (pinned by tests on random histories
  and on both backends). A loan event outside its loan's stream, which only one part would read,
  makes the parts refuse (:class:`Unpartitionable`) and the history is folded in one.

It serves a runner whose projections are all of the default kinds; any other runner folds by the
reference (:meth:`ProjectionRunner.rebuild` decides).
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from events.envelope import RecordedEvent
from events.model import Payload, event_class
from events.tables import events
from ledger.money import ZERO
from ledger.tapes import LoanStatus
from projections.balances import BalancesProjection
from projections.base import Projection, State, Versioned
from projections.legs import PAYLOAD_LEGS, payload_legs
from projections.loans import (
    DPD_LOG,
    LoanProjection,
    apply_loan_change,
    delinquency_bucket,
    loan_changes_of,
    payload_of,
)
from projections.notes import NOTE_EVENT_TYPES, NotesProjection
from projections.pool import PoolProjection, _delta
from projections.remittance import FIELDS as REMITTANCE_FIELDS
from projections.remittance import RemittanceProjection, remittance_change

if TYPE_CHECKING:
    from events.store import EventStore

__all__ = ["FAST_KINDS", "EventRow", "fast_rebuild", "read_rows", "recorded_of", "row_of", "serves"]

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
_ACCOUNTS = ("servicer:collections-held", "pool:principal", "income:interest", "income:fees")
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
    nor by :class:`ledger.cycle_state.CycleFolder`)."""
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


def _canonical(value: Any) -> bool:
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


def _encode_period(period: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in period.items():
        if k == "dq":
            out[k] = {b: [n, str(s)] for b, (n, s) in v.items()}
        elif type(v) is Decimal:
            out[k] = str(v)
        else:
            out[k] = v
    return out


def _decode_period(row: Any) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in row.items():
        if k == "dq":
            out[k] = {b: [n, Decimal(x)] for b, (n, x) in v.items()}
        elif isinstance(v, str):
            out[k] = Decimal(v)
        else:
            out[k] = v
    return out


class _Fold:
    """Native state of the default projections and the fold over event rows."""

    def __init__(
        self,
        deal_id: str,
        projections: Sequence[Projection[Any]],
        part: tuple[int, int] | None = None,
    ) -> None:
        self.deal_id = deal_id
        self.part = part
        """``(k, n)``: this fold owns the loans :func:`owner` gives ``k`` (:meth:`other_stream`)."""
        self.other_loans: dict[str, Versioned] = {}
        """Loan rows merged in from the other parts (:meth:`merge`), already encoded."""
        self.projections = list(projections)
        names = {p.name for p in projections}
        self.do_bal = BalancesProjection.name in names
        self.do_loans = LoanProjection.name in names
        self.do_pool = PoolProjection.name in names
        self.do_rem = RemittanceProjection.name in names
        self.notes = next((p for p in projections if isinstance(p, NotesProjection)), None)
        self.balances_p = BalancesProjection()
        self.need_loans = self.do_loans or self.do_pool
        self.bal: dict[str, Decimal] = {}
        self.bal_seq: dict[str, int] = {}
        self.loans: dict[str, dict[str, Any]] = {}
        self.loan_seq: dict[str, int] = {}
        self.terms: dict[str, tuple[Decimal, int]] = {}
        self.periods: dict[str, dict[str, Any]] = {}
        self.period_seq: dict[str, int] = {}
        self.rem: dict[str, list[Decimal]] = {}
        self.rem_seq: dict[str, int] = {}
        self.notes_state: State = {}

    # ------------------------------------------------------------------ shared pieces

    def _terms(self, lid: str, loan: dict[str, Any]) -> tuple[Decimal, int]:
        """``(rate, maturity month index)`` of a loan, as ``projections.pool`` reads them."""
        t = self.terms.get(lid)
        if t is None:
            m = loan.get("maturity")
            mat = int(m[:4]) * 12 + int(m[5:7]) - 1 if m else 0
            t = self.terms[lid] = (Decimal(loan.get("rate", "0")), mat)
        return t

    def _add_period(self, period: str, delta: dict[str, Any], seq: int) -> None:
        """``projections.pool.add_delta`` on the native period."""
        row = self.periods.get(period)
        if row is None:
            row = self.periods[period] = {}
        for k, v in delta.items():
            if k == "dq":
                dq = row.get("dq")
                if dq is None:
                    dq = row["dq"] = {}
                for bucket, (n, s) in v.items():
                    cur = dq.get(bucket)
                    if cur is None:
                        dq[bucket] = [n, ZERO + s]
                    else:
                        cur[0] += n
                        cur[1] += s
            elif k == "count" or k == "n_defaults":
                row[k] = row.get(k, 0) + v
            else:
                old = row.get(k)
                row[k] = (ZERO if old is None else old) + v
        self.period_seq[period] = seq

    @staticmethod
    def _contributions(
        delta: dict[str, Any],
        a: tuple[Decimal, str, Decimal, int] | None,
        b: tuple[Decimal, str, Decimal, int] | None,
    ) -> None:
        """The general branch of ``projections.pool._delta``: the loan's contribution moved."""
        if a == b:
            return
        dq: dict[str, list[Any]] = {}
        count = 0
        bal_rate = ZERO
        bal_mat = ZERO
        for c, sign in ((a, -1), (b, 1)):
            if c is None:
                continue
            bal, bucket, rate, mat = c
            signed = bal if sign > 0 else -bal
            count += sign
            bal_rate += signed * rate
            bal_mat += signed * mat
            n, s = dq.get(bucket, (0, ZERO))
            dq[bucket] = [n + sign, s + signed]
        delta["count"] = count
        delta["bal_rate"] = bal_rate
        delta["bal_maturity"] = bal_mat
        delta["dq"] = dq

    # ------------------------------------------------------------------ hot types

    def collection(self, seq: int, day: str, data: Payload) -> bool:
        """A ``CollectionReceived`` (current version, dumped form); False leaves it to
        :meth:`generic`, having changed nothing."""
        pr, it, fe = data.get("principal"), data.get("interest"), data.get("fees")
        if not (_canonical(pr) and _canonical(it) and _canonical(fe)):
            return False
        loan = None
        if self.need_loans:
            lid = data["loan_id"]
            loan = self.loans.get(lid)
            if loan is None:
                return False
        p = ZERO if pr is None else Decimal(pr)
        i = ZERO if it is None else Decimal(it)
        f = ZERO if fe is None else Decimal(fe)
        if self.do_bal:  # projections.legs._collection
            total = p + i + f
            if total != 0:
                bal, bseq = self.bal, self.bal_seq
                held, pool, interest, fees = _ACCOUNTS
                bal[held] = bal.get(held, ZERO) + total
                bseq[held] = seq
                if p:
                    bal[pool] = bal.get(pool, ZERO) - p
                    bseq[pool] = seq
                if i:
                    bal[interest] = bal.get(interest, ZERO) - i
                    bseq[interest] = seq
                if f:
                    bal[fees] = bal.get(fees, ZERO) - f
                    bseq[fees] = seq
        if self.do_rem:  # remittance: collected = principal + interest + fees
            a = ZERO
            for v in (pr, it, fe):
                if v is not None:
                    a += Decimal(v)
            if a:
                r = self.rem.get(day)
                if r is None:
                    r = self.rem[day] = [ZERO, ZERO, ZERO, ZERO, ZERO]
                r[0] += a
                self.rem_seq[day] = seq
        if loan is None:
            return True
        # projections.loans.apply_loan_change, sign +1
        delta: dict[str, Any] = {}
        old_bal = loan["balance"]
        if p:
            if loan["n_default"] > 0:
                before = loan["default_paid"]
                t = before + p
                loan["default_paid"] = t if t else ZERO
                delta["default_paid"] = loan["default_paid"] - before
            else:
                t = old_bal - p
                loan["balance"] = t if t else ZERO
                field = "prepaid" if data.get("prepayment") else "scheduled"
                before = loan[field]
                t = before + p
                loan[field] = t if t else ZERO
                delta[field] = loan[field] - before
        for field, amount, a in (("interest", it, i), ("fees", fe, f)):
            if amount is not None and amount not in ("0", "0.00"):
                before = loan[field]
                t = before + a
                loan[field] = t if t else ZERO
                if a:
                    delta[field] = loan[field] - before
        lid = data["loan_id"]
        self.loan_seq[lid] = seq
        if not self.do_pool:
            return True
        # projections.pool._delta
        new_bal = loan["balance"]
        moved = None
        if new_bal != old_bal:
            moved = delta["balance"] = new_bal - old_bal
        if loan["n_repurchase"] <= 0 and loan["n_write_off"] <= 0 and loan["n_default"] <= 0:
            # active unless paid off; a contribution needs a positive balance (so not paid off)
            bucket = delinquency_bucket(loan["dpd"])
            if old_bal > 0 and new_bal > 0:
                if moved is not None:
                    rate, mat = self._terms(lid, loan)
                    delta["bal_rate"] = moved * rate
                    delta["bal_maturity"] = moved * mat
                    delta["dq"] = {bucket: [0, moved]}
            else:
                rate, mat = self._terms(lid, loan)
                a_ = (old_bal, bucket, rate, mat) if old_bal > 0 else None
                b_ = (new_bal, bucket, rate, mat) if new_bal > 0 else None
                self._contributions(delta, a_, b_)
        if delta:
            self._add_period(day[:7], delta, seq)
        return True

    def delinquency(self, seq: int, day: str, data: Payload) -> bool:
        """A ``LoanDelinquencyReported`` (current version); False leaves it to :meth:`generic`."""
        if not self.need_loans:
            return True  # no postings, no cash: nothing else folds it
        dpd = data["days_past_due"]
        lid = data["loan_id"]
        loan = self.loans.get(lid)
        if type(dpd) is not int or loan is None:
            return False
        old_dpd = loan["dpd"]
        log = loan["dpd_log"]
        log.append(dpd)
        if len(log) > DPD_LOG:
            del log[:-DPD_LOG]
        loan["dpd"] = dpd
        self.loan_seq[lid] = seq
        if not self.do_pool:
            return True
        if loan["n_repurchase"] > 0 or loan["n_write_off"] > 0 or loan["n_default"] > 0:
            return True
        bal = loan["balance"]
        if bal <= 0:
            return True
        old_bucket, new_bucket = delinquency_bucket(old_dpd), delinquency_bucket(dpd)
        if old_bucket == new_bucket:
            return True
        rate, mat = self._terms(lid, loan)
        delta: dict[str, Any] = {}
        self._contributions(delta, (bal, old_bucket, rate, mat), (bal, new_bucket, rate, mat))
        self._add_period(day[:7], delta, seq)
        return True

    # ------------------------------------------------------------------ everything else

    def generic(
        self,
        seq: int,
        kind: str,
        version: int,
        day: str,
        data: Payload,
        cash: bool = True,
        loan_stream: bool = True,
    ) -> None:
        """Any event through the reference functions (the loan's row encoded, then decoded).

        In a part (:meth:`other_stream`): ``cash`` false leaves postings, remittance and notes to
        part 0; a loan change of a loan another part owns is that part's, unless the event came
        from a loan's stream (only its owner reads it): then the history cannot be split so."""
        if self.do_bal and cash:
            legs = (
                payload_legs(kind, payload_of(kind, version, data))
                if kind in PAYLOAD_LEGS
                else None
            )
            if legs is None:  # what BalancesProjection.changes falls back to: the model
                legs = list(
                    self.balances_p.changes(
                        recorded_of(self.deal_id, (seq, kind, version, day, data))
                    )
                )
            bal, bseq = self.bal, self.bal_seq
            for account, amount in legs:
                bal[account] = bal.get(account, ZERO) + amount
                bseq[account] = seq
        if self.need_loans:
            for lid, change in loan_changes_of(kind, version, data):
                if self.part is not None and owner(lid, self.part[1]) != self.part[0]:
                    if loan_stream:
                        raise Unpartitionable(f"event {seq}: loan {lid} outside its stream")
                    continue
                loan = self.loans.get(lid)
                old = encode_loan(loan) if loan is not None else None
                new = apply_loan_change(old, change)
                if self.do_pool:
                    delta = _delta(old, new, change[1])
                    if delta:
                        self._add_period(day[:7], delta, seq)
                self.loans[lid] = decode_loan(new)
                self.loan_seq[lid] = seq
                self.terms.pop(lid, None)
        if self.do_rem and cash:
            change_ = remittance_change(kind, version, data)
            if change_ is not None:
                r = self.rem.get(day)
                if r is None:
                    r = self.rem[day] = [ZERO, ZERO, ZERO, ZERO, ZERO]
                for field, v in change_.items():
                    r[REMITTANCE_FIELDS.index(field)] += v
                self.rem_seq[day] = seq
        if self.notes is not None and cash and kind in NOTE_EVENT_TYPES:
            self.notes.fold(
                self.notes_state, recorded_of(self.deal_id, (seq, kind, version, day, data))
            )

    def run(self, rows: Iterable[EventRow]) -> None:
        from events import catalogue  # noqa: F401  (the event types this fold asks about)

        hot_c = event_class("CollectionReceived").schema_version
        hot_d = event_class("LoanDelinquencyReported").schema_version
        collection, delinquency, generic = self.collection, self.delinquency, self.generic
        full = self.do_bal and self.do_loans and self.do_pool and self.do_rem
        loans, loan_seq, periods, rem, rem_seq = (
            self.loans,
            self.loan_seq,
            self.periods,
            self.rem,
            self.rem_seq,
        )
        period_seq, terms, bucket_of = self.period_seq, self._terms, delinquency_bucket
        dec = Decimal
        # postings of the inlined collections, summed here and added to the balances at the end
        # (their sums are exact, so the order of the additions cannot change them)
        held = pool_p = income_i = income_f = ZERO
        held_seq = pool_seq = income_i_seq = income_f_seq = 0
        last_day = ""
        per: dict[str, Any] = {}
        rem_day: list[Decimal] = []
        for seq, kind, version, day, data in rows:
            if kind == "CollectionReceived":
                if version != hot_c:
                    generic(seq, kind, version, day, data)
                    continue
                if full:
                    # the common case inlined: a performing loan's instalment that leaves a
                    # positive balance; every other case goes to collection() (same rows)
                    pr, it, fe = data.get("principal"), data.get("interest"), data.get("fees")
                    lid = data.get("loan_id")
                    loan = loans.get(lid)  # type: ignore[arg-type]
                    if (
                        loan is not None
                        and type(pr) is str
                        and type(it) is str
                        and type(fe) is str
                        and len(pr) > 3
                        and len(it) > 3
                        and len(fe) > 3
                        and pr[-3] == "."
                        and it[-3] == "."
                        and fe[-3] == "."
                        and loan["n_default"] <= 0
                        and loan["n_write_off"] <= 0
                        and loan["n_repurchase"] <= 0
                    ):
                        p = dec(pr)
                        old_bal = loan["balance"]
                        new_bal = old_bal - p
                        if p and old_bal > 0 and new_bal > 0:
                            i, f = dec(it), dec(fe)
                            total = p + i + f
                            held += total
                            held_seq = seq
                            pool_p -= p
                            pool_seq = seq
                            if day != last_day:
                                last_day = day
                                period = day[:7]
                                per = periods.get(period)  # type: ignore[assignment]
                                if per is None:
                                    per = periods[period] = {}
                                rem_day = rem.get(day)  # type: ignore[assignment]
                                if rem_day is None:
                                    rem_day = rem[day] = [ZERO, ZERO, ZERO, ZERO, ZERO]
                            period_seq[period] = seq
                            rem_seq[day] = seq
                            rem_day[0] += total
                            loan["balance"] = new_bal
                            field = "prepaid" if data.get("prepayment") else "scheduled"
                            before = loan[field]
                            t = before + p
                            t = loan[field] = t if t else ZERO
                            d = t - before
                            v = per.get(field)
                            per[field] = (ZERO if v is None else v) + d
                            if it != "0.00" and it != "0":
                                before = loan["interest"]
                                t = before + i
                                t = loan["interest"] = t if t else ZERO
                                if i:
                                    income_i -= i
                                    income_i_seq = seq
                                    d = t - before
                                    v = per.get("interest")
                                    per["interest"] = (ZERO if v is None else v) + d
                            if fe != "0.00" and fe != "0":
                                before = loan["fees"]
                                t = before + f
                                t = loan["fees"] = t if t else ZERO
                                if f:
                                    income_f -= f
                                    income_f_seq = seq
                                    d = t - before
                                    v = per.get("fees")
                                    per["fees"] = (ZERO if v is None else v) + d
                            loan_seq[lid] = seq  # type: ignore[index]
                            moved = new_bal - old_bal
                            v = per.get("balance")
                            per["balance"] = (ZERO if v is None else v) + moved
                            rate, mat = terms(lid, loan)  # type: ignore[arg-type]
                            v = per.get("bal_rate")
                            per["bal_rate"] = (ZERO if v is None else v) + moved * rate
                            v = per.get("bal_maturity")
                            per["bal_maturity"] = (ZERO if v is None else v) + moved * mat
                            dq = per.get("dq")
                            if dq is None:
                                dq = per["dq"] = {}
                            bucket = bucket_of(loan["dpd"])
                            cur = dq.get(bucket)
                            if cur is None:
                                dq[bucket] = [0, ZERO + moved]
                            else:
                                cur[1] += moved
                            continue
                if not collection(seq, day, data):
                    generic(seq, kind, version, day, data)
            elif kind == "LoanDelinquencyReported":
                if version != hot_d or not delinquency(seq, day, data):
                    generic(seq, kind, version, day, data)
            else:
                generic(seq, kind, version, day, data)
        bal, bal_seq = self.bal, self.bal_seq
        for account, total, last in zip(
            _ACCOUNTS,
            (held, pool_p, income_i, income_f),
            (held_seq, pool_seq, income_i_seq, income_f_seq),
            strict=True,
        ):
            if last:
                bal[account] = bal.get(account, ZERO) + total
                bal_seq[account] = max(bal_seq.get(account, 0), last)

    # ------------------------------------------------------------------ parts

    def other_stream(self, seq: int, kind: str, version: int, day: str, data: Payload) -> None:
        """A row of a stream other than a loan's (the deal's, the cycle's), which every part reads
        (:func:`read_rows`), folded in its order among the loans' rows: its postings, remittance
        and notes by part 0 only, its loan changes by the part owning the loan."""
        self.generic(seq, kind, version, day, data, self.part is None or self.part[0] == 0, False)

    def partial(self) -> dict[str, Any]:
        """What a part hands to part 0 (:meth:`merge`): its loans encoded, the additive rest."""
        return {
            "loans": {lid: (encode_loan(v), self.loan_seq[lid]) for lid, v in self.loans.items()},
            "bal": (self.bal, self.bal_seq),
            "periods": (self.periods, self.period_seq),
            "rem": (self.rem, self.rem_seq),
        }

    def merge(self, other: dict[str, Any]) -> None:
        """Add another part's :meth:`partial`. The parts' loans are disjoint; every other figure
        is a sum of exact decimals, whose value and printed exponent do not depend on the order of
        the additions (``projections.pool._sum``), and ``last_seq`` is the later of the two."""
        for lid, (row, seq) in other["loans"].items():
            self.other_loans[lid] = Versioned(row, seq)
        bal, bal_seq = other["bal"]
        for account, v in bal.items():
            self.bal[account] = self.bal.get(account, ZERO) + v
            self.bal_seq[account] = max(self.bal_seq.get(account, 0), bal_seq[account])
        periods, period_seq = other["periods"]
        for period, row in periods.items():
            last = max(self.period_seq.get(period, 0), period_seq[period])
            self._add_period(period, row, last)
        rem, rem_seq = other["rem"]
        for day, r in rem.items():
            mine_r = self.rem.get(day)
            if mine_r is None:
                mine_r = self.rem[day] = [ZERO, ZERO, ZERO, ZERO, ZERO]
            for j, v in enumerate(r):
                mine_r[j] += v
            self.rem_seq[day] = max(self.rem_seq.get(day, 0), rem_seq[day])

    # ------------------------------------------------------------------ rows

    def load(self, states: dict[str, State]) -> None:
        """Start from stored rows (a live batch: the rows its events touch): the inverse of
        :meth:`states`. The pool's ``L:`` rows are taken from the loans' when both are given
        (the caller checks that they are the same rows)."""
        for name, rows in states.items():
            if name == BalancesProjection.name:
                for k, v in rows.items():
                    self.bal[k] = Decimal(v.row["balance"])
                    self.bal_seq[k] = v.last_seq
            elif name == LoanProjection.name or (
                name == PoolProjection.name and LoanProjection.name not in states
            ):
                pool = name == PoolProjection.name
                for k, v in rows.items():
                    if pool and not k.startswith("L:"):
                        continue
                    lid = k[2:] if pool else k
                    self.loans[lid] = decode_loan(dict(v.row))
                    self.loan_seq[lid] = v.last_seq
            if name == PoolProjection.name:
                for k, v in rows.items():
                    if not k.startswith("L:"):
                        self.periods[k] = _decode_period(v.row)
                        self.period_seq[k] = v.last_seq
            elif name == RemittanceProjection.name:
                for k, v in rows.items():
                    self.rem[k] = [Decimal(v.row[f]) for f in REMITTANCE_FIELDS]
                    self.rem_seq[k] = v.last_seq
            elif name == NotesProjection.name:
                self.notes_state = dict(rows)

    def states(self) -> dict[str, State]:
        out: dict[str, State] = {}
        loan_rows: dict[str, Versioned] = {}
        if self.need_loans:
            seqs = self.loan_seq
            loan_rows = {
                lid: Versioned(encode_loan(loan), seqs[lid]) for lid, loan in self.loans.items()
            }
            loan_rows.update(self.other_loans)
        for p in self.projections:
            if isinstance(p, BalancesProjection):
                out[p.name] = {
                    a: Versioned({"balance": str(v)}, self.bal_seq[a]) for a, v in self.bal.items()
                }
            elif isinstance(p, LoanProjection):
                out[p.name] = loan_rows
            elif isinstance(p, PoolProjection):
                pool: State = {f"L:{lid}": v for lid, v in loan_rows.items()}
                for period, row in self.periods.items():
                    pool[period] = Versioned(_encode_period(row), self.period_seq[period])
                out[p.name] = pool
            elif isinstance(p, RemittanceProjection):
                out[p.name] = {
                    day: Versioned(
                        {f: str(v) for f, v in zip(REMITTANCE_FIELDS, r, strict=True)},
                        self.rem_seq[day],
                    )
                    for day, r in self.rem.items()
                }
            elif isinstance(p, NotesProjection):
                out[p.name] = self.notes_state
        return out


def read_rows(
    store: EventStore,
    deal_id: str,
    bounds: dict[str, Any],
    part: tuple[int, int] | None = None,
    other: Callable[[int, str, int, str, Payload], None] | None = None,
) -> Iterator[EventRow]:
    """The deal's events within ``bounds`` (:func:`events.store.events_query`), only the columns
    a fold reads (:data:`EventRow`). PostgreSQL: a server-side cursor, the date formatted by the
    server, payloads parsed by orjson. ``part=(k, n)`` with ``other`` (PostgreSQL): the rows of
    the loan streams :func:`owner` gives ``k``; every row of another stream is handed to
    ``other`` instead (:meth:`_Fold.other_stream`), in its place in the order."""
    from events.store import events_query

    q = events_query(deal_id, **{k: v for k, v in bounds.items() if k != "batch"})
    if store.dialect != "postgresql":
        q = q.with_only_columns(
            events.c.deal_seq,
            events.c.type,
            events.c.schema_version,
            events.c.effective_date,
            events.c.data,
        )
        with store.engine.connect().execution_options(sqlite_readonly=True) as conn:
            result = conn.execute(q.execution_options(stream_results=True, yield_per=5000))
            for row in result:
                yield row[0], row[1], row[2], row[3].isoformat(), row[4]
        return
    import orjson

    columns: list[Any] = [
        events.c.deal_seq,
        events.c.type,
        events.c.schema_version,
        sa.cast(events.c.effective_date, sa.Text),
        sa.cast(events.c.data, sa.Text),
    ]
    if part is not None:
        k, n = part
        loan_stream = events.c.stream_id.startswith(LOAN_STREAM, autoescape=True)
        last_char = sa.func.ascii(sa.func.right(events.c.stream_id, 1))
        columns.append(loan_stream)
        q = q.where(sa.or_(~loan_stream, sa.func.mod(last_char, n) == k))
    q = q.with_only_columns(*columns)
    sql = str(q.compile(dialect=store.engine.dialect, compile_kwargs={"literal_binds": True}))
    batches: queue.Queue[list[tuple[Any, ...]] | BaseException | None] = queue.Queue(maxsize=4)

    stop = threading.Event()

    def fetch() -> None:
        # a thread of its own: it waits for the server (without the GIL) while the caller folds
        try:
            with store.engine.connect() as conn:
                raw: Any = conn.connection.driver_connection
                with raw.cursor() as plain:  # dates as ISO text whatever the server's DateStyle
                    plain.execute("SET LOCAL datestyle = 'ISO, YMD'")
                with raw.cursor(name="fast_rebuild") as cursor:
                    cursor.itersize = 5000
                    cursor.execute(sql)
                    while not stop.is_set() and (rows := cursor.fetchmany(5000)):
                        batches.put(rows)
            batches.put(None)
        except BaseException as exc:  # handed to the caller, raised there
            batches.put(exc)

    thread = threading.Thread(target=fetch, name="fast-rebuild-reader", daemon=True)
    thread.start()
    loads = orjson.loads
    try:
        while True:
            got = batches.get()
            if got is None:
                break
            if isinstance(got, BaseException):
                raise got
            if part is None:
                for seq, kind, version, day, text in got:
                    yield seq, kind, version, day, loads(text)
            else:
                assert other is not None
                for seq, kind, version, day, text, loan_stream in got:
                    if loan_stream:
                        yield seq, kind, version, day, loads(text)
                    else:
                        other(seq, kind, version, day, loads(text))
    finally:
        # a caller that stops early: the reader stops at its next batch
        stop.set()
        while thread.is_alive():
            with contextlib.suppress(queue.Empty):
                batches.get(timeout=0.1)
        thread.join()


def fast_rebuild(
    store: EventStore,
    deal_id: str,
    projections: Sequence[Projection[Any]],
    parts: int | None = None,
    **bounds: Any,
) -> dict[str, State]:
    """Every projection (all of :data:`FAST_KINDS`, see :func:`serves`) folded from zero over the
    deal's events within ``bounds``: the rows :meth:`ProjectionRunner.rebuild_reference` gives.
    ``parts``: fold in that many parallel parts by loan (default :func:`default_parts`; a history
    a part cannot fold alone is folded in one)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        n = parts if parts is not None else default_parts(store, deal_id)
        if n > 1:
            with contextlib.suppress(Unpartitionable):
                return _parallel(store, deal_id, projections, bounds, n)
        fold = _Fold(deal_id, projections)
        fold.run(read_rows(store, deal_id, bounds))
        return fold.states()
    finally:
        if enabled:
            gc.enable()


PARALLEL_FROM = 500_000
"""Events from which a PostgreSQL rebuild folds in parallel parts (a part's process takes about a
second to start)."""


def default_parts(store: EventStore, deal_id: str) -> int:
    """Parts for a rebuild of ``deal_id``: ``TRUST_LEDGER_REBUILD_PARTS`` if set, else one per
    CPU (at most 2) on PostgreSQL for a deal of at least :data:`PARALLEL_FROM` events, else 1."""
    env = os.environ.get("TRUST_LEDGER_REBUILD_PARTS")
    if env:
        if not env.isdigit() or int(env) < 1:
            raise ValueError(f"TRUST_LEDGER_REBUILD_PARTS={env!r}: a whole number, 1 or more")
        return int(env)
    if store.dialect != "postgresql" or store.head(deal_id)[0] < PARALLEL_FROM:
        return 1
    return min(2, os.cpu_count() or 1)


def _parallel(
    store: EventStore,
    deal_id: str,
    projections: Sequence[Projection[Any]],
    bounds: dict[str, Any],
    n: int,
) -> dict[str, State]:
    """The rebuild in ``n`` parts by loan (:func:`owner`): parts 1..n-1 in processes of their
    own, part 0 here, merged (:meth:`_Fold.merge`). Every part reads the rows of streams other
    than loans'. Raises :class:`Unpartitionable` if a part finds an event it cannot fold alone."""
    if store.dialect != "postgresql":
        raise Unpartitionable("parts are read from PostgreSQL")
    # a fresh interpreter per part (not a fork: the caller may run threads and hold connections;
    # not multiprocessing's spawn: it re-runs the caller's main script)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    args = (store.engine.url.render_as_string(hide_password=False), deal_id, list(projections))
    workers: list[subprocess.Popen[bytes]] = []
    try:
        for k in range(1, n):
            proc = subprocess.Popen(
                [sys.executable, "-m", "projections.fast_part"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                env=env,
            )
            workers.append(proc)
            assert proc.stdin is not None
            with proc.stdin:
                pickle.dump((*args, bounds, (k, n)), proc.stdin)
        fold = _Fold(deal_id, projections, part=(0, n))
        fold.run(read_rows(store, deal_id, bounds, (0, n), fold.other_stream))
        for proc in workers:
            assert proc.stdout is not None
            try:
                status, value = pickle.load(proc.stdout)
            except EOFError:
                raise RuntimeError(
                    f"a rebuild part ended with no result (exit {proc.wait()})"
                ) from None
            if status == "unpartitionable":
                raise Unpartitionable(value)
            if status != "ok":
                raise RuntimeError(f"rebuild part failed:\n{value}")
            fold.merge(value)
        return fold.states()
    finally:
        for proc in workers:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()


def part_main() -> None:
    """A part of :func:`_parallel` (``python -m projections.fast_part``): its arguments pickled on
    standard input, ``(status, partial or reason)`` pickled on standard output."""
    from events.store import EventStore
    from ledger import db

    url, deal_id, projections, bounds, part = pickle.load(sys.stdin.buffer)
    sys.stdout.flush()
    out = os.fdopen(os.dup(1), "wb")  # the result's channel; anything else printed goes to stderr
    os.dup2(2, 1)
    gc.disable()
    engine = db.make_engine(url)
    try:
        fold = _Fold(deal_id, projections, part=part)
        fold.run(read_rows(EventStore(engine), deal_id, bounds, part, fold.other_stream))
        result: tuple[str, Any] = ("ok", fold.partial())
    except Unpartitionable as exc:
        result = ("unpartitionable", str(exc))
    except Exception:
        result = ("error", traceback.format_exc())
    finally:
        engine.dispose()
    with out:
        pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)


def fold_rows(
    deal_id: str, projections: Sequence[Projection[Any]], rows: Iterable[EventRow]
) -> dict[str, State]:
    """The fast fold of given event rows (what :func:`fast_rebuild` does after reading)."""
    fold = _Fold(deal_id, projections)
    fold.run(rows)
    return fold.states()


def fold_parts(
    deal_id: str,
    projections: Sequence[Projection[Any]],
    rows: Sequence[tuple[int, str, int, str, Payload, str]],
    n: int,
) -> dict[str, State]:
    """What :func:`_parallel` computes, in this process, from rows with their stream id: part
    ``k`` folds the rows :func:`read_rows` gives it, then part 0 merges the others'. Raises
    :class:`Unpartitionable` as :func:`_parallel` does."""

    def part_rows(fold: _Fold, k: int) -> Iterator[EventRow]:
        for seq, kind, version, day, data, stream in rows:
            if not stream.startswith(LOAN_STREAM):
                fold.other_stream(seq, kind, version, day, data)
            elif stream_owner(stream, n) == k:
                yield seq, kind, version, day, data

    folds = [_Fold(deal_id, projections, part=(k, n)) for k in range(n)]
    for k, fold in enumerate(folds):
        fold.run(part_rows(fold, k))
    for fold in folds[1:]:
        folds[0].merge(fold.partial())
    return folds[0].states()
