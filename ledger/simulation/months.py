"""Simulated months of servicing: each loan's collections, prepayments, delinquencies, defaults,
recoveries and repurchases as servicer-tape rows, reproducible from a seed."""

from __future__ import annotations

import itertools
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from random import Random
from typing import Any

from ledger.core.amortisation import (
    Amortization,
    due_date,
    level_amount,
    month_end,
    monthly_interest,
    next_instalment,
)
from ledger.core.money import ZERO, round_fen
from ledger.servicing.tape_formats import BoardingRow, RecordType, ServicerRow, trusted
from ledger.servicing.tape_writers import write_boarding_csv, write_servicer_csv
from ledger.simulation.pool import (
    PROBABILITY_BITS,
    SimulatedMonth,
    SimulationParams,
    probability_threshold,
    simulate_pool,
)
from ledger.simulation.pool_profiles import PoolProfile
from projections.loans import LoanSnapshot, LoanStatus

# --- months ---------------------------------------------------------------------------------------

_ROW_DEFAULTS: dict[str, Any] = dict.fromkeys(ServicerRow.model_fields)

_ONE = Decimal(1)


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
        smm=probability_threshold(smm),
        current_to_30=probability_threshold(p.current_to_30),
        cure=(
            probability_threshold(p.cure_30),
            probability_threshold(p.cure_60),
            probability_threshold(p.cure_90),
        ),
        roll=(
            probability_threshold(p.roll_30_60),
            probability_threshold(p.roll_60_90),
            probability_threshold(p.roll_90_default),
        ),
        repurchase=probability_threshold(p.repurchase_rate),
        stress=probability_threshold(p.stress_default_rate),
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
    ``loans`` mapping to check the next month's tape against (:func:`ledger.servicing.tape_formats.
    check_servicer_rows`). Deterministic for a given pool, params and seed.

    Rows appended to ``pool`` (a list) between two months are serviced from the next month on:
    the receivables a revolving purchase bought (the demo's Additional Receivables).
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
        loans.extend(_Loan(row, _first_due_index(row)) for row in pool[len(loans) :])
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
                                value_date=start + timedelta(days=bits(PROBABILITY_BITS) % span),
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

            if t.repurchase and bits(PROBABILITY_BITS) < t.repurchase:
                add(
                    construct(
                        record_type=RecordType.REPURCHASE,
                        loan_id=lid,
                        value_date=end,
                        principal=loan.balance,
                        interest=monthly_interest(loan.balance, loan.rate)
                        if p.repurchase_interest
                        else None,
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
            shock = stressed and bits(PROBABILITY_BITS) < t.stress
            if shock:
                pays, after = 0, 4
            elif k == 0:
                if bits(PROBABILITY_BITS) < t.smm:
                    principal = loan.balance
                    interest = monthly_interest(principal, loan.rate)
                    fee = round_fen(principal * fee_rate) if fee_rate else None
                    add(
                        construct(
                            record_type=collection,
                            loan_id=lid,
                            value_date=start + timedelta(days=bits(PROBABILITY_BITS) % span),
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
                if bits(PROBABILITY_BITS) < t.current_to_30:
                    pays, after = 0, 1
                else:
                    pays, after = 1, 0
            else:
                draw = bits(PROBABILITY_BITS)
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
