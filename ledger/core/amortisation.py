"""Loan amortisation schedules (pure functions).

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

Seed 001's Discounted Receivables Balance, computed from these schedules, is defined once in
:mod:`ledger.core.discounting`.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from functools import lru_cache
from typing import Protocol

from ledger.core.money import FEN, ZERO, MoneyError, money, round_fen, to_decimal

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
