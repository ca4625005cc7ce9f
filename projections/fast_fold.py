"""The fast fold itself (:class:`Fold`): native state, the hot event types by hand, the rest
through the reference functions; see :mod:`projections.fast`."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from events.model import Payload, event_class
from ledger.core.money import ZERO
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
from projections.pool import PoolProjection, loan_period_delta
from projections.remittance import FIELDS as REMITTANCE_FIELDS
from projections.remittance import RemittanceProjection, remittance_change

if TYPE_CHECKING:
    pass
from projections.fast_rows import (
    HOT_ACCOUNTS,
    EventRow,
    Unpartitionable,
    decode_loan,
    decode_period,
    encode_loan,
    encode_period,
    is_canonical,
    owner,
    recorded_of,
)


class Fold:
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
        if not (is_canonical(pr) and is_canonical(it) and is_canonical(fe)):
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
                held, pool, interest, fees = HOT_ACCOUNTS
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
                    delta = loan_period_delta(old, new, change[1])
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
            HOT_ACCOUNTS,
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
                        self.periods[k] = decode_period(v.row)
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
                    pool[period] = Versioned(encode_period(row), self.period_seq[period])
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
