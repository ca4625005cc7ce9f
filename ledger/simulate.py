"""Seeded, deterministic simulator of a pool and its monthly servicer tapes.

* :func:`simulate_pool` draws a boarding tape shaped like a seed deal's pool
  (:mod:`ledger.pool_profiles`): balance, rate, term, seasoning and amortisation mix.
* :func:`simulate_months` walks the pool month by month and yields each collection period's
  servicer-tape rows: scheduled collections per the loan's amortisation schedule (the same
  :func:`ledger.amortisation.next_instalment` rule as :func:`ledger.amortisation.schedule`),
  full prepayments (SMM from a CPR), delinquency roll rates current→30→60→90→default, defaults,
  recoveries after a lag at a recovery rate followed by the write-off of the rest, repurchases
  with a small probability, and a stress knob (a default spike in one month) to breach triggers.

Randomness: one ``random.Random(seed)`` per call, no global state; every draw is an integer
(``getrandbits``/``randrange``) compared with integer thresholds, and every amount is a
``Decimal`` computed exactly and rounded half-up to the fen. The same inputs give the same rows.

Servicing model (our assumptions; the seeds publish no roll rates or CPR history):

* Collection periods are calendar months starting with the month of the pool's first instalment
  (the month after the cut-off for simulated pools). Each loan has one instalment due per month on
  its payment day; a scheduled collection is valued on that day.
* A loan ``k`` instalments behind (``k`` = 1, 2, 3 ≈ 1-30, 31-60, 61-90 days past due) each month
  either cures (pays every instalment in arrears plus the current one: a COLLECTION with
  ``days_past_due`` 0), rolls (misses again; after a fourth miss it defaults) or stays (pays one
  instalment, still ``k`` behind). Every delinquent loan gets one DELINQUENCY row at period end
  with its days past due (period end − oldest unpaid due date, at least 1).
* A default is a DEFAULT row (principal = the contractual principal outstanding) at period end; the
  loan leaves the performing pool. ``recovery_lag_months`` later a RECOVERY of
  ``recovery_rate × that principal`` is followed the same month by a WRITE_OFF of the rest.
* A prepayment is a full prepayment (BYD allows no partial ones, seed 004 L249): principal = the
  whole balance, interest = the month's interest, fees = ``prepayment_fee_rate × principal``.
* A repurchase (warranty breach) takes the whole principal plus the month's interest at period end.

Balance identity (tested): for every loan and in aggregate, the performing balance at the end =
boarding balance − collected principal − defaulted principal − repurchased principal.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from random import Random
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ledger.amortisation import (
    Amortization,
    add_months,
    due_date,
    level_amount,
    month_end,
    monthly_interest,
    next_instalment,
)
from ledger.money import ZERO, Rate, round_fen
from ledger.pool_profiles import Bucket, PoolProfile
from ledger.tapes import (
    BoardingRow,
    LoanSnapshot,
    LoanStatus,
    RecordType,
    ServicerRow,
    trusted,
    write_boarding_csv,
    write_servicer_csv,
)

__all__ = [
    "SimulatedMonth",
    "SimulationParams",
    "simulate_months",
    "simulate_pool",
    "write_boarding_csv",
    "write_history",
    "write_servicer_csv",
]

_BITS = 30
_SCALE = 1 << _BITS
_ONE = Decimal(1)
_MILLION = Decimal(1_000_000)


def _threshold(p: Decimal) -> int:
    """A probability as an integer threshold for ``getrandbits(_BITS) < threshold``."""
    return int((p * _SCALE).to_integral_value(rounding=ROUND_DOWN))


class SimulationParams(BaseModel):
    """Monthly behaviour of the simulated pool. Probabilities are per loan per month."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cpr: Rate = Decimal("0.08")
    """Annual constant prepayment rate; SMM = 1 − (1 − CPR)^(1/12)."""
    current_to_30: Rate = Decimal("0.012")
    cure_30: Rate = Decimal("0.45")
    roll_30_60: Rate = Decimal("0.30")
    cure_60: Rate = Decimal("0.30")
    roll_60_90: Rate = Decimal("0.45")
    cure_90: Rate = Decimal("0.15")
    roll_90_default: Rate = Decimal("0.70")
    recovery_rate: Rate = Decimal("0.19")
    """Share of the defaulted principal recovered; seed 001's vintages average 1 − net/gross ≈
    0.190 (seed001_notes_defs.md §6.3)."""
    recovery_lag_months: int = Field(default=4, ge=0)
    """Months from default to recovery and write-off (seed 001: net loss lags gross by about 3-6
    months); at least 1, so 0 means the month after the default."""
    repurchase_rate: Rate = Decimal("0.0002")
    prepayment_fee_rate: Rate = Decimal("0")
    """Fee on prepaid principal (seed 001: 3%, L1976; seed 004: 6%, L249)."""
    stress_month: int | None = Field(default=None, ge=1)
    """1-based month in which ``stress_default_rate`` of the performing loans default at once."""
    stress_default_rate: Rate = Decimal("0.05")
    first_period: date | None = None
    """First day of the first collection period; default: the month of the earliest first
    instalment in the pool."""


class SimulatedMonth(NamedTuple):
    """One collection period of a simulated history."""

    period_start: date
    period_end: date
    rows: list[ServicerRow]
    loans: Mapping[str, LoanSnapshot]
    """Every loan's state at the end of the period (after the rows)."""


# --- pool -----------------------------------------------------------------------------------------


def _below(rng: Random, n: int) -> int:
    """An integer in ``[0, n)`` from 64 random bits (bias below 2^-30 for n < 2^34)."""
    return rng.getrandbits(64) % n


class _Picker:
    """Draws a bucket by weight, then a value uniformly in it, with integer draws only."""

    def __init__(self, buckets: Sequence[Bucket]) -> None:
        self.buckets = tuple(buckets)
        self.cum: list[int] = []
        total = 0
        for b in self.buckets:
            if b.weight < 0 or b.high < b.low:
                raise ValueError(f"bad bucket {b}")
            total += b.weight
            self.cum.append(total)
        if total <= 0:
            raise ValueError("buckets have no weight")
        self.total = total

    def bucket(self, rng: Random) -> Bucket:
        return self.buckets[bisect.bisect_right(self.cum, _below(rng, self.total))]

    def value(self, rng: Random) -> int:
        b = self.bucket(rng)
        return b.low if b.low == b.high else b.low + _below(rng, b.high - b.low + 1)


def _remaining_fraction(rate: Decimal, n: int, paid: int, method: Amortization) -> Decimal:
    """Share of the original principal still outstanding after ``paid`` of ``n`` instalments."""
    if paid <= 0 or method is Amortization.BULLET:
        return _ONE
    if method is Amortization.LEVEL_PRINCIPAL or rate == 0:
        return Decimal(n - paid) / n
    g = _ONE + rate / 12
    gn = g**n
    return (gn - g**paid) / (gn - _ONE)


def simulate_pool(
    profile: PoolProfile, n_loans: int, cut_off: date | None = None, seed: int = 0
) -> list[BoardingRow]:
    """A boarding tape of ``n_loans`` loans shaped like ``profile`` at ``cut_off``.

    Every loan is current at the cut-off (``days_past_due`` 0); its first instalment falls in the
    month after the cut-off and its maturity is its last instalment. The original principal is
    the amount that amortises down to the drawn balance over the drawn seasoning.
    """
    if n_loans < 0:
        raise ValueError("n_loans must not be negative")
    rng = Random(seed)
    cut = cut_off or profile.cut_off
    balance = _Picker(profile.outstanding_fen)
    rate = _Picker(profile.rate_millionths)
    season = _Picker(profile.seasoning_months)
    if profile.original_term_months:
        term: _Picker | None = _Picker(profile.original_term_months)
        left: _Picker | None = None
    elif profile.remaining_term_months:
        term, left = None, _Picker(profile.remaining_term_months)
    else:
        raise ValueError(f"profile {profile.key} has neither original nor remaining terms")
    max_term = profile.max_original_term
    methods = [m for m, _ in profile.amortization]
    method_cum: list[int] = []
    acc = 0
    for _, w in profile.amortization:
        acc += w
        method_cum.append(acc)
    rem_lo, rem_hi = profile.remaining_term_range
    day_lo, day_hi = profile.payment_days
    shared = _threshold(Decimal(profile.shared_borrower_per_million) / _MILLION)
    prefix = profile.loan_id_prefix
    width = max(7, len(str(n_loans)))

    rows: list[BoardingRow] = []
    borrower = 0
    for i in range(n_loans):
        lo = max(rem_lo, 1)
        if term is not None:
            n = term.value(rng)
            s = season.value(rng)
            remaining = min(max(n - s, lo), rem_hi)
            n = max(n, remaining)
        else:
            assert left is not None
            remaining = min(max(left.value(rng), lo), rem_hi)
            n = remaining + season.value(rng)
            if max_term is not None:
                n = max(min(n, max_term), remaining)
        s = n - remaining
        outstanding = Decimal(balance.value(rng)).scaleb(-2)  # fen -> CNY, exponent -2
        annual = Decimal(rate.value(rng)) / _MILLION
        method = methods[bisect.bisect_right(method_cum, _below(rng, acc))]
        day = day_lo + _below(rng, day_hi - day_lo + 1)
        if i == 0 or rng.getrandbits(_BITS) >= shared:
            borrower += 1
        original = max(
            round_fen(outstanding / _remaining_fraction(annual, n, s, method)), outstanding
        )
        fy, fm = add_months(cut.year, cut.month, 1)
        oy, om = add_months(fy, fm, -s - 1)
        my, mm = add_months(fy, fm, remaining - 1)
        rows.append(
            trusted(
                BoardingRow,
                {
                    "loan_id": f"{prefix}{i + 1:0{width}d}",
                    "borrower_id": f"{prefix}B{borrower:0{width}d}",
                    "origination_date": due_date(oy, om, day),
                    "maturity_date": due_date(my, mm, day),
                    "original_principal": original,
                    "outstanding_principal": outstanding,
                    "interest_rate": annual,
                    "amortization": method,
                    "payment_day": day,
                    "remaining_term_months": remaining,
                    "days_past_due": 0,
                    "extra": {},
                },
            )
        )
    return rows


# --- months ---------------------------------------------------------------------------------------

_ROW_DEFAULTS: dict[str, Any] = dict.fromkeys(ServicerRow.model_fields)


def _row(**values: Any) -> ServicerRow:
    return trusted(ServicerRow, {**_ROW_DEFAULTS, **values})


_GONE = (LoanStatus.REPURCHASED, LoanStatus.WRITTEN_OFF, LoanStatus.PAID_OFF)


class _Loan:
    """Mutable per-loan state, private to one :func:`simulate_months` run."""

    __slots__ = (
        "balance",
        "default_principal",
        "dpd",
        "due_index",
        "first_index",
        "level",
        "loan_id",
        "method",
        "missed",
        "n_left",
        "payment_day",
        "rate",
        "recover_at",
        "status",
    )

    def __init__(self, row: BoardingRow, first_index: int) -> None:
        self.loan_id = row.loan_id
        self.balance: Decimal = row.outstanding_principal
        self.rate: Decimal = row.interest_rate
        method = row.amortization
        self.method = method if type(method) is Amortization else Amortization(method)
        self.payment_day = row.payment_day
        # A loan boarded in arrears: its last ceil(dpd / 30) instalments (at most 3) before the
        # first period are unpaid and still to pay, on top of its remaining term.
        self.missed = min(-(-row.days_past_due // 30), 3) if row.days_past_due > 0 else 0
        self.n_left = max(row.remaining_term_months, 1) + self.missed
        self.level = level_amount(self.balance, self.rate, self.n_left, self.method)
        # month index (year * 12 + month - 1) of the next unpaid instalment
        self.first_index = first_index
        self.due_index = first_index - self.missed
        self.dpd = row.days_past_due
        self.status = LoanStatus.DELINQUENT if self.missed else LoanStatus.PERFORMING
        if self.balance == 0:
            self.status = LoanStatus.PAID_OFF
        self.default_principal = ZERO
        self.recover_at = 0

    def pay_next(self) -> tuple[Decimal, Decimal]:
        """Pay the next instalment of the schedule: ``(principal, interest)``."""
        interest, principal = next_instalment(
            self.balance, self.rate, self.n_left, self.method, self.level
        )
        self.balance -= principal
        self.n_left -= 1
        self.due_index += 1
        return principal, interest


def _first_due_index(row: BoardingRow) -> int:
    m = row.maturity_date
    return m.year * 12 + m.month - 1 - (max(row.remaining_term_months, 1) - 1)


def _index_date(index: int, day: int) -> date:
    return due_date(index // 12, index % 12 + 1, day)


class _Snapshots(Mapping[str, LoanSnapshot]):
    """Loan states frozen at one period end; :class:`LoanSnapshot` objects built on access."""

    def __init__(self, states: dict[str, tuple[Decimal, LoanStatus, int]]) -> None:
        self._states = states

    def __getitem__(self, key: str) -> LoanSnapshot:
        balance, status, dpd = self._states[key]
        return LoanSnapshot.model_construct(
            outstanding_principal=balance, status=status, days_past_due=dpd
        )

    def __iter__(self) -> Iterator[str]:
        return iter(self._states)

    def __len__(self) -> int:
        return len(self._states)


@dataclass(frozen=True, slots=True)
class _Thresholds:
    smm: int
    current_to_30: int
    cure: tuple[int, int, int]
    roll: tuple[int, int, int]
    repurchase: int
    stress: int


def _thresholds(p: SimulationParams) -> _Thresholds:
    for name in (
        "cpr",
        "current_to_30",
        "cure_30",
        "roll_30_60",
        "cure_60",
        "roll_60_90",
        "cure_90",
        "roll_90_default",
        "recovery_rate",
        "repurchase_rate",
        "stress_default_rate",
    ):
        value = getattr(p, name)
        if not 0 <= value <= 1:
            raise ValueError(f"{name} {value} is not a probability in [0, 1]")
    for cure, roll, k in ((p.cure_30, p.roll_30_60, 30), (p.cure_60, p.roll_60_90, 60)):
        if cure + roll > 1:
            raise ValueError(f"cure + roll at {k} days exceed 1")
    if p.cure_90 + p.roll_90_default > 1:
        raise ValueError("cure + roll at 90 days exceed 1")
    smm = _ONE - (_ONE - p.cpr) ** (_ONE / 12) if p.cpr < 1 else _ONE
    return _Thresholds(
        smm=_threshold(smm),
        current_to_30=_threshold(p.current_to_30),
        cure=(_threshold(p.cure_30), _threshold(p.cure_60), _threshold(p.cure_90)),
        roll=(
            _threshold(p.roll_30_60),
            _threshold(p.roll_60_90),
            _threshold(p.roll_90_default),
        ),
        repurchase=_threshold(p.repurchase_rate),
        stress=_threshold(p.stress_default_rate),
    )


def simulate_months(
    pool: Sequence[BoardingRow],
    months: int,
    params: SimulationParams | None = None,
    seed: int = 0,
) -> Iterator[SimulatedMonth]:
    """Yield ``months`` collection periods of servicer-tape rows for ``pool``.

    Each :class:`SimulatedMonth` has the period (first and last day, inclusive), the rows in the
    order they happened (per loan, in pool order) and every loan's state at the period end — the
    ``loans`` mapping to check the next month's tape against (:func:`ledger.tapes.
    check_servicer_rows`). Deterministic for a given pool, params and seed.
    """
    p = params or SimulationParams()
    t = _thresholds(p)
    rng = Random(seed)
    bits = rng.getrandbits
    loans = [_Loan(row, _first_due_index(row)) for row in pool]
    if p.first_period is not None:
        index = p.first_period.year * 12 + p.first_period.month - 1
    elif loans:
        index = min(loan.first_index for loan in loans)
    else:
        return
    fee_rate = p.prepayment_fee_rate
    recovery_rate = p.recovery_rate
    lag = p.recovery_lag_months
    construct = _row
    collection, delinquency = RecordType.COLLECTION, RecordType.DELINQUENCY
    performing, delinquent = LoanStatus.PERFORMING, LoanStatus.DELINQUENT
    defaulted = LoanStatus.DEFAULTED

    for month in range(1, months + 1):
        start = date(index // 12, index % 12 + 1, 1)
        end = month_end(start)
        span = (end - start).days + 1
        due_on = [start] + [start.replace(day=min(d, end.day)) for d in range(1, 32)]
        stressed = p.stress_month == month
        rows: list[ServicerRow] = []
        add = rows.append
        tag = f"S{start:%Y%m}-"
        seq = itertools.count(1)

        for loan in loans:
            status = loan.status
            if status in _GONE:
                continue
            lid = loan.loan_id
            if status is defaulted:
                if month >= loan.recover_at:
                    owed = loan.default_principal
                    recovered = min(round_fen(owed * recovery_rate), owed)
                    if recovered > 0:
                        add(
                            construct(
                                record_type=RecordType.RECOVERY,
                                loan_id=lid,
                                value_date=start + timedelta(days=bits(_BITS) % span),
                                principal=recovered,
                                reference=f"{tag}{next(seq)}",
                                extra={},
                            )
                        )
                    add(
                        construct(
                            record_type=RecordType.WRITE_OFF,
                            loan_id=lid,
                            value_date=end,
                            principal=owed - recovered,
                            reason="loss after recoveries",
                            reference=f"{tag}{next(seq)}",
                            extra={},
                        )
                    )
                    loan.default_principal = ZERO
                    loan.status = LoanStatus.WRITTEN_OFF
                continue
            if loan.first_index > index:
                continue  # first instalment not yet due (pool boarded ahead of the period)

            if t.repurchase and bits(_BITS) < t.repurchase:
                add(
                    construct(
                        record_type=RecordType.REPURCHASE,
                        loan_id=lid,
                        value_date=end,
                        principal=loan.balance,
                        interest=monthly_interest(loan.balance, loan.rate),
                        reason="eligibility warranty breach",
                        reference=f"{tag}{next(seq)}",
                        extra={},
                    )
                )
                loan.balance = ZERO
                loan.status = LoanStatus.REPURCHASED
                loan.dpd = 0
                continue
            k = loan.missed
            shock = stressed and bits(_BITS) < t.stress
            if shock:
                pays, after = 0, 4
            elif k == 0:
                if bits(_BITS) < t.smm:
                    principal = loan.balance
                    interest = monthly_interest(principal, loan.rate)
                    fee = round_fen(principal * fee_rate) if fee_rate else None
                    add(
                        construct(
                            record_type=collection,
                            loan_id=lid,
                            value_date=start + timedelta(days=bits(_BITS) % span),
                            principal=principal,
                            interest=interest,
                            fees=fee,
                            prepayment=True,
                            reference=f"{tag}{next(seq)}",
                            extra={},
                        )
                    )
                    loan.balance = ZERO
                    loan.n_left = 0
                    loan.status = LoanStatus.PAID_OFF
                    continue
                if bits(_BITS) < t.current_to_30:
                    pays, after = 0, 1
                else:
                    pays, after = 1, 0
            else:
                draw = bits(_BITS)
                cure = t.cure[k - 1]
                if draw < cure:
                    pays, after = k + 1, 0
                elif draw < cure + t.roll[k - 1]:
                    pays, after = 0, k + 1
                else:
                    pays, after = 1, k
            if after > 3:  # a fourth missed instalment (> 90 days), or the stress spike
                add(
                    construct(
                        record_type=RecordType.DEFAULT,
                        loan_id=lid,
                        value_date=end,
                        principal=loan.balance,
                        days_past_due=loan.dpd if k else None,
                        reason="stress scenario" if shock else "over 90 days past due",
                        reference=f"{tag}{next(seq)}",
                        extra={},
                    )
                )
                loan.default_principal = loan.balance
                loan.balance = ZERO
                loan.missed = 0
                loan.status = defaulted
                loan.recover_at = month + max(lag, 1)
                continue

            due = due_on[loan.payment_day]
            principal_paid = ZERO
            interest_paid = ZERO
            for _ in range(min(pays, loan.n_left)):
                pr, it = loan.pay_next()
                principal_paid += pr
                interest_paid += it
            if pays:
                cured = k > 0 and after == 0
                add(
                    construct(
                        record_type=collection,
                        loan_id=lid,
                        value_date=due,
                        principal=principal_paid,
                        interest=interest_paid,
                        prepayment=False,
                        days_past_due=0 if cured else None,
                        reference=f"{tag}{next(seq)}",
                        extra={},
                    )
                )
            loan.missed = after
            if loan.balance == 0:
                loan.status = LoanStatus.PAID_OFF
                loan.missed = 0
                loan.dpd = 0
                continue
            if after:
                oldest = _index_date(loan.due_index, loan.payment_day)
                loan.dpd = max((end - oldest).days, 1)
                loan.status = delinquent
                add(
                    construct(
                        record_type=delinquency,
                        loan_id=lid,
                        value_date=end,
                        days_past_due=loan.dpd,
                        reference=f"{tag}{next(seq)}",
                        extra={},
                    )
                )
            else:
                loan.dpd = 0
                loan.status = performing

        states = {
            loan.loan_id: (
                loan.default_principal if loan.status is defaulted else loan.balance,
                loan.status,
                loan.dpd,
            )
            for loan in loans
        }
        yield SimulatedMonth(start, end, rows, _Snapshots(states))
        index += 1


def write_history(
    profile: PoolProfile,
    n_loans: int,
    months: int,
    directory: str | Path,
    params: SimulationParams | None = None,
    seed: int = 0,
) -> list[Path]:
    """Simulate a pool and ``months`` of servicing; write ``boarding.csv`` and
    ``servicer_YYYY-MM.csv`` files into ``directory``. Returns the paths, boarding tape first."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    pool = simulate_pool(profile, n_loans, seed=seed)
    paths = [out / "boarding.csv"]
    write_boarding_csv(pool, paths[0])
    for month in simulate_months(pool, months, params, seed=seed + 1):
        path = out / f"servicer_{month.period_start:%Y-%m}.csv"
        write_servicer_csv(month.rows, path)
        paths.append(path)
    return paths
