"""Loan amortisation schedules and the discounted receivables balance (pure functions).

Conventions (the seeds do not fix per-loan mechanics, so these are ours, stated once):

* One instalment a month, due on the loan's ``payment_day``; in a month shorter than that day the
  due date is clamped to the month's last day (a loan paying on the 31st pays on 30 April and on
  28/29 February).
* Interest per instalment is ``opening balance × annual rate / 12`` (30/360 with whole months,
  the usual convention for monthly-instalment auto loans), rounded half-up to the fen.
* ``annuity`` (French, 等额本息): a level instalment ``P·i / (1 − (1 + i)^−n)`` rounded half-up
  to the fen; principal = instalment − interest. At a 0% rate this is ``P / n``, i.e. level
  principal.
* ``level_principal`` (等额本金): principal ``P / n`` rounded half-up to the fen, interest on top.
* ``bullet``: interest only, all principal with the last instalment.
* The **last instalment absorbs the rounding**: its principal is whatever is left, so the principal
  column always sums exactly to the balance being amortised. No row's principal ever exceeds its
  opening balance (tiny balances over many months cannot go negative).

Discounted Receivables Balance (Driver China Thirteen, seed 001). The Master Definitions Schedule
defines it at seed L18755 (quoted in ``../shared/domain/seed001_notes_defs.md`` line 606):

    "Discounted Receivables Balance" means in respect of each Receivable, the cash flow of its
    scheduled periodic payments of principal and interest (if any) payable by the relevant
    Borrower [...] discounted as of the relevant date at the Discount Rate on the basis of a
    360-day year with 30 days per month.

and the Discount Rate at seed L18753 (seed001_notes_defs.md line 605): "5.1371 percent. per annum".

Discounting convention: in a 30/360 year every month is one period of ``rate / 12``. With
``basis="month"`` (the default) an instalment falling due in the k-th calendar month after the
month of the valuation date is discounted for k whole periods (an instalment due later in the
valuation month itself for 0). This reproduces the seed's Cash Run Out Schedule, where
``ADRB_t = ADRB_{t-1} × (1 + 5.1371%/12) − scheduled cash_t`` holds on every row
(seed001_notes_defs.md §0 "Base-case accretion identity", seed L4148–L4313) — which a fractional
day count would not. ``basis="30/360"`` discounts for
``days_30e_360(valuation date, due date) / 30`` periods instead (fractional powers), for
valuations in the middle of a month.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Literal, Protocol

from ledger.core.money import FEN, ZERO, MoneyError, money, round_fen, to_decimal

DISCOUNT_RATE_DC13 = Decimal("0.051371")
"""Driver China Thirteen's Discount Rate, 5.1371% p.a. (seed 001 L18753)."""

_TWELVE = Decimal(12)
_ONE = Decimal(1)
_THIRTY = Decimal(30)


class Amortization(StrEnum):
    """How a loan repays principal (SPEC §6 boarding tape ``amortization``)."""

    ANNUITY = "annuity"
    LEVEL_PRINCIPAL = "level_principal"
    BULLET = "bullet"


@dataclass(frozen=True, slots=True)
class ScheduleRow:
    """One instalment of a loan's schedule; all amounts in CNY quantized to the fen."""

    number: int
    due_date: date
    opening_balance: Decimal
    interest: Decimal
    principal: Decimal
    instalment: Decimal
    closing_balance: Decimal


# --- dates ----------------------------------------------------------------------------------------


@lru_cache(maxsize=8192)
def due_date(year: int, month: int, payment_day: int) -> date:
    """The due date in a month: ``payment_day``, clamped to the month's last day (cached)."""
    if not 1 <= payment_day <= 31:
        raise ValueError(f"payment_day {payment_day} is not in 1..31")
    last = calendar.monthrange(year, month)[1]
    return date(year, month, min(payment_day, last))


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    """``(year, month)`` shifted by ``months`` (may be negative)."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


def month_end(d: date) -> date:
    """The last calendar day of ``d``'s month."""
    return date(d.year, d.month, calendar.monthrange(d.year, d.month)[1])


def first_due_date(after: date, payment_day: int) -> date:
    """The first due date strictly after ``after`` (e.g. the first instalment after a cut-off)."""
    candidate = due_date(after.year, after.month, payment_day)
    if candidate > after:
        return candidate
    y, m = add_months(after.year, after.month, 1)
    return due_date(y, m, payment_day)


def due_dates(first_due: date, payment_day: int, n: int) -> list[date]:
    """``n`` monthly due dates starting with the month of ``first_due``."""
    out = []
    for k in range(n):
        y, m = add_months(first_due.year, first_due.month, k)
        out.append(due_date(y, m, payment_day))
    return out


def days_30e_360(start: date, end: date) -> int:
    """Days between two dates on the 30E/360 basis (30-day months, the 31st counts as the 30th)."""
    d1 = min(start.day, 30)
    d2 = min(end.day, 30)
    return 360 * (end.year - start.year) + 30 * (end.month - start.month) + (d2 - d1)


# --- instalments ----------------------------------------------------------------------------------


def monthly_interest(balance: Decimal, annual_rate: Decimal) -> Decimal:
    """One month's interest on ``balance`` at ``annual_rate`` (30/360), half-up to the fen."""
    return round_fen(balance * annual_rate / _TWELVE)


def level_amount(principal: Decimal, annual_rate: Decimal, n: int, method: Amortization) -> Decimal:
    """The amount that stays level over the schedule.

    ``annuity``: the instalment (principal + interest); ``level_principal``: the principal part;
    ``bullet``: zero (no principal until the last instalment). Half-up to the fen.
    """
    if n < 1:
        raise ValueError(f"a schedule needs at least one instalment, got {n}")
    if method is Amortization.BULLET:
        return ZERO
    if method is Amortization.LEVEL_PRINCIPAL or annual_rate == 0:
        return round_fen(principal / n)
    i = annual_rate / _TWELVE
    return round_fen(principal * i / (_ONE - (_ONE + i) ** -n))


def next_instalment(
    balance: Decimal,
    annual_rate: Decimal,
    remaining: int,
    method: Amortization,
    level: Decimal,
) -> tuple[Decimal, Decimal]:
    """``(interest, principal)`` of the next instalment.

    ``remaining`` counts this instalment (1 = the last one, which takes the whole balance);
    ``level`` is :func:`level_amount` of the schedule. This is the single rule both
    :func:`schedule` and the simulator apply, so they agree to the fen.
    """
    # monthly_interest() inlined (hot in the simulator): inputs here are already Decimal
    interest = (
        (balance * annual_rate / _TWELVE).quantize(FEN, rounding=ROUND_HALF_UP)
        if annual_rate
        else ZERO
    )
    if remaining <= 1:
        return interest, balance
    if method is Amortization.BULLET:
        return interest, ZERO
    # level principal, and an annuity at 0% (which is level principal), repay ``level``
    annuity = method is Amortization.ANNUITY and annual_rate != 0
    principal = level - interest if annuity else level
    return interest, min(max(principal, ZERO), balance)


def schedule(
    principal: object,
    annual_rate: object,
    n: int,
    method: Amortization | str,
    first_due: date,
    payment_day: int | None = None,
) -> tuple[ScheduleRow, ...]:
    """The full monthly schedule amortising ``principal`` over ``n`` instalments.

    ``first_due`` is the first instalment's date; later ones fall on ``payment_day`` (default: the
    day of ``first_due``) of each following month, clamped to the month end. ``principal`` is
    money (str/int/Decimal, at most two decimals), ``annual_rate`` a decimal fraction (``0.0418``).
    """
    balance = money(principal, "principal")
    rate = to_decimal(annual_rate, "rate")
    if balance < 0:
        raise MoneyError(f"principal {balance} is negative")
    if rate < 0:
        raise MoneyError(f"rate {rate} is negative")
    kind = Amortization(method)
    day = first_due.day if payment_day is None else payment_day
    level = level_amount(balance, rate, n, kind)
    rows = []
    for k, when in enumerate(due_dates(first_due, day, n)):
        interest, paid = next_instalment(balance, rate, n - k, kind, level)
        closing = balance - paid
        rows.append(
            ScheduleRow(
                number=k + 1,
                due_date=when,
                opening_balance=balance,
                interest=interest,
                principal=paid,
                instalment=paid + interest,
                closing_balance=closing,
            )
        )
        balance = closing
    return tuple(rows)


# --- a loan's schedule from its tape terms --------------------------------------------------------


class LoanTerms(Protocol):
    """What a schedule needs from a loan (a boarding-tape row has all of it)."""

    @property
    def outstanding_principal(self) -> Decimal: ...
    @property
    def interest_rate(self) -> Decimal: ...
    @property
    def remaining_term_months(self) -> int: ...
    @property
    def amortization(self) -> Amortization: ...
    @property
    def payment_day(self) -> int: ...
    @property
    def maturity_date(self) -> date: ...


def loan_schedule(loan: LoanTerms) -> tuple[ScheduleRow, ...]:
    """The remaining schedule of a boarded loan: its outstanding principal amortised over its
    remaining term, the last instalment falling due in the month of its maturity date."""
    n = loan.remaining_term_months
    if n < 1:
        return ()
    y, m = add_months(loan.maturity_date.year, loan.maturity_date.month, -(n - 1))
    first = due_date(y, m, loan.payment_day)
    return schedule(
        loan.outstanding_principal,
        loan.interest_rate,
        n,
        loan.amortization,
        first,
        loan.payment_day,
    )


# --- discounted receivables balance ---------------------------------------------------------------


def _periods(valuation: date, due: date, basis: Literal["month", "30/360"]) -> Decimal:
    if basis == "month":
        return Decimal((due.year - valuation.year) * 12 + (due.month - valuation.month))
    return Decimal(days_30e_360(valuation, due)) / _THIRTY


def discounted_balance(
    cash_flows: Iterable[tuple[date, Decimal]],
    valuation_date: date,
    discount_rate: Decimal = DISCOUNT_RATE_DC13,
    basis: Literal["month", "30/360"] = "month",
) -> Decimal:
    """Present value at ``valuation_date`` of the cash flows falling due **after** it.

    Each flow is discounted at ``(1 + discount_rate/12) ** -periods`` (see the module docstring for
    the two bases); the sum is computed at full precision and rounded half-up to the fen once.
    """
    rate = to_decimal(discount_rate, "discount rate")
    base = _ONE + rate / _TWELVE
    total = Decimal(0)
    for when, amount in cash_flows:
        if when <= valuation_date:
            continue
        periods = _periods(valuation_date, when, basis)
        if periods == periods.to_integral_value():
            factor = base ** -int(periods)
        else:
            factor = base**-periods
        total += amount * factor
    return total.quantize(FEN, rounding=ROUND_HALF_UP)


def schedule_discounted_balance(
    rows: Sequence[ScheduleRow],
    valuation_date: date,
    discount_rate: Decimal = DISCOUNT_RATE_DC13,
    basis: Literal["month", "30/360"] = "month",
) -> Decimal:
    """The Discounted Receivables Balance of one loan: PV of its remaining instalments
    (principal + interest) due after ``valuation_date``, at seed 001's Discount Rate by default."""
    return discounted_balance(
        ((r.due_date, r.instalment) for r in rows), valuation_date, discount_rate, basis
    )


def loan_discounted_balance(
    loan: LoanTerms,
    valuation_date: date,
    discount_rate: Decimal = DISCOUNT_RATE_DC13,
    basis: Literal["month", "30/360"] = "month",
) -> Decimal:
    """The DRB of a boarded loan (:func:`loan_schedule`) at ``valuation_date``."""
    return schedule_discounted_balance(loan_schedule(loan), valuation_date, discount_rate, basis)


def aggregate_discounted_balance(
    schedules: Iterable[Sequence[ScheduleRow]],
    valuation_date: date,
    discount_rate: Decimal = DISCOUNT_RATE_DC13,
    basis: Literal["month", "30/360"] = "month",
) -> Decimal:
    """Aggregate DRB: the sum of the per-loan DRBs (each already rounded to the fen), as the
    deal's "aggregate of all Discounted Receivables Balance" (seed L17790)."""
    return sum(
        (schedule_discounted_balance(s, valuation_date, discount_rate, basis) for s in schedules),
        ZERO,
    )
