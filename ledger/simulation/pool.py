"""Seeded, deterministic simulator of a pool and its monthly servicer tapes.

* :func:`simulate_pool` draws a boarding tape shaped like a seed deal's pool
  (:mod:`ledger.simulation.pool_profiles`): balance, rate, term, seasoning and amortisation mix.
* :func:`simulate_months` walks the pool month by month and yields each collection period's
  servicer-tape rows: scheduled collections per the loan's amortisation schedule (the same
  :func:`ledger.core.amortisation.next_instalment` rule as
  :func:`ledger.core.amortisation.schedule`),
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
* A repurchase (warranty breach) takes the whole principal at period end, with the month's
  interest as the accrued unpaid interest when ``repurchase_interest`` (the ledger computes the
  price from the deal's formula, ``ledger/servicing/repurchase.py``).

Balance identity (tested): for every loan and in aggregate, the performing balance at the end =
boarding balance − collected principal − defaulted principal − repurchased principal.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping, Sequence
from datetime import date
from decimal import ROUND_DOWN, Decimal
from random import Random
from typing import NamedTuple

from pydantic import BaseModel, ConfigDict, Field

from ledger.core.amortisation import (
    Amortization,
    add_months,
    due_date,
)
from ledger.core.money import Rate, round_fen
from ledger.servicing.tape_formats import BoardingRow, ServicerRow, trusted
from ledger.simulation.pool_profiles import Bucket, PoolProfile
from projections.loans import LoanSnapshot

PROBABILITY_BITS = 30
_SCALE = 1 << PROBABILITY_BITS
_ONE = Decimal(1)
_MILLION = Decimal(1_000_000)


def probability_threshold(p: Decimal) -> int:
    """A probability as an integer threshold for ``getrandbits(PROBABILITY_BITS) < threshold``."""
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
    repurchase_interest: bool = True
    """REPURCHASE rows carry the month's interest (the accrued unpaid interest a price formula
    such as seed 004's L2763 takes as a term); off for a deal whose price has no such term
    (seed 001: the DRB, L13432-13446), whose tape then states no price but the principal."""
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
    shared = probability_threshold(Decimal(profile.shared_borrower_per_million) / _MILLION)
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
        if i == 0 or rng.getrandbits(PROBABILITY_BITS) >= shared:
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
