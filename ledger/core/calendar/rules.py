"""A deal's date rules (frozen pydantic model) and the period schedule they generate.

SPEC §3 (calendar bullet) and issue 5 part 1: calculation date, collection period, remittance date
(switching with the servicer's rating), distribution/determination date (n business days before
payment), payment date (day and convention), report dates, interest periods.

Seed rules this model expresses (each field's docstring names its clause):

- 计算日 / Calculation Date: last calendar day of each month (001 L17992, 003 L200, 004 L1778).
- 收款期间 / Collections Period: from one calculation date (excluded) to the next (included); the
  first from the cut-off date, included in 003/004 (003 L200, 004 L1786) but excluded in 001
  (L18575).
- 支付日 / Payment Date: the 26th, following (002 L216, 003 L238, 004 L2885) or modified following
  (001 L19661–L19675), in the month after the calculation date.
- 信托分配日: 6th business day before the payment date (003 L238, 004 L1756).
- 回收款转付日 (rated servicer): 5th/6th business day after the calculation date (003 L202, 004
  L1760–L1768, the latter "no later than the 信托分配日") or 7th business day before the payment
  date "not earlier than the 计算日" (002 L218), or 6th business day before the PD (001
  L10564–L10588); below the required rating: n-th business day after each receipt (001
  L2649–L2653: 3rd; 002 L218: 8th; 004 L1760–L1768: 3rd; 003 L202: within 5).
- Report dates: servicer report 7th/5th/6th business day after the calculation date (001 L20134,
  003 L236, 004 L194); trustee report 5th business day before the PD (001 L20667).
- Interest Period: from one unadjusted Interest Calculation Date (the 26th) included to the next
  excluded; the first from the Issue Date (001 L19301–L19311, 004 L2654–L2656).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ledger.core.calendar.business import (
    BusinessCalendar,
    BusinessDayConvention,
    CalendarError,
    add_months,
    day_in_month,
    last_day_of_month,
)
from ledger.core.calendar.daycount import DayCount, DayCountFraction, day_count_fraction

PositiveInt = Annotated[int, Field(ge=1)]
DayOfMonth = Annotated[int, Field(ge=1, le=31)]
CalculationDay = DayOfMonth | Literal["last", "month_end"]
"""A fixed day of the month, or 'last' (alias 'month_end'): the last calendar day."""
MAX_ADJUSTMENT_DAYS = 14  # the longest PRC holiday block moves a date by 9 days (Feb 2026)
MAX_SCHEDULE_PERIODS = 1200  # 100 years of monthly periods: a guard against runaway loops


class ScheduleError(CalendarError):
    """Date rules that produce an impossible period (e.g. a determination date before the period
    has closed)."""


def calculation_date_for(year: int, month: int, calculation_day: CalculationDay) -> dt.date:
    """The (unadjusted) calculation date in ``year``-``month``: its last day or a fixed day."""
    if isinstance(calculation_day, str):  # "last" or "month_end"
        return last_day_of_month(year, month)
    return day_in_month(year, month, calculation_day)


def payment_date_for(
    year: int,
    month: int,
    payment_day: int,
    convention: BusinessDayConvention,
    calendar: BusinessCalendar,
) -> dt.date:
    """The payment date in ``year``-``month``: ``payment_day`` (clamped to month end), adjusted.

    E.g. 001's PD: "the 26th day of each month or, in the event such day is not a Business Day, on
    the next following Business Day unless that day falls in the next calendar month" (L19661).
    """
    return calendar.adjust(day_in_month(year, month, payment_day), convention)


class RemittanceBasis(StrEnum):
    """What the rated servicer's once-a-period remittance date is counted from."""

    AFTER_CALCULATION_DATE = "after_calculation_date"
    BEFORE_PAYMENT_DATE = "before_payment_date"


class RemittanceRule(BaseModel):
    """The rated servicer's remittance date, once per collection period.

    003: "the 5th business day after each 计算日" (L202); 004: the 6th business day after each
    calculation date "but no later than the corresponding 信托分配日" (L1760–L1768); 002: "the 7th
    business day before each 支付日, but not earlier than the 计算日" (L218); 001: the 6th Business
    Day before each PD (L10564–L10588).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    basis: RemittanceBasis
    business_days: PositiveInt
    not_before_calculation_date: bool = False
    """Floor: the first business day on or after the calculation date (002 L218)."""
    not_after_determination_date: bool = False
    """Cap: the determination/distribution date (004 L1760–L1768)."""


class FrequentRemittanceMode(StrEnum):
    """How a servicer below its required rating remits (the deal picks one)."""

    PER_RECEIPT = "per_receipt"
    """The n-th business day after each receipt (001 L2649–L2653, 002 L218, 004 L1760–L1768)."""
    EVERY_K_BUSINESS_DAYS = "every_k_business_days"
    """Every k-th business day (k = 1: daily)."""


class FrequentRemittanceRule(BaseModel):
    """Remittance while the servicer is below its required rating (or after a perfection event)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    mode: FrequentRemittanceMode
    business_days: PositiveInt


class DateAnchor(StrEnum):
    """The schedule date a :class:`RelativeDate` counts from."""

    CALCULATION_DATE = "calculation_date"
    COLLECTION_PERIOD_END = "collection_period_end"  # the same day as the calculation date
    PAYMENT_DATE = "payment_date"
    CLOSING_DATE = "closing_date"


class RelativeDate(BaseModel):
    """A further named date: ``business_days`` after (> 0) or before (< 0) an anchor.

    E.g. 001's Account Bank Report Date (PD − 6, L17574), Trust Beneficiary Interest Registration
    Date (PD − 1, L20458), 004's 资金保管机构报告日 (L194).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, Field(min_length=1)]
    anchor: DateAnchor
    business_days: int
    not_later_than_determination_date: bool = False
    """Cap at the determination date (e.g. 004 L1760–L1768 "no later than the 信托分配日")."""

    @model_validator(mode="after")
    def _nonzero(self) -> RelativeDate:
        if self.business_days == 0:
            raise ValueError(f"{self.name}: business_days must be non-zero (+n after, -n before)")
        return self


class DateRules(BaseModel):
    """A deal's calendar rules, self-contained so a deal file can embed it as ``calendar:``.

    Periods are numbered from 1. Period i has calculation date C(i) (``first_calculation_date``
    moved by (i − 1) × ``collection_period_months`` months), collection period (C(i−1), C(i)]
    (the first from ``cut_off_date``), payment date in the month ``payment_month_offset`` months
    after C(i), and the interest period ending on that payment date.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    cut_off_date: dt.date
    """初始起算日 / Initial Cut-Off Date: start of the first collection period."""
    cut_off_date_in_first_period: bool = True
    """True: the first period runs from the cut-off date included (003 L200, 004 L1786); False:
    excluded (001 L18575, "from the Cut-Off Date (excluding that day)")."""
    closing_date: dt.date
    """信托生效日 / Issue (Closing) Date: start of the first interest period (001 L19301)."""
    first_calculation_date: dt.date
    """The first 计算日 (001 L17992: 30 Nov 2021; 003 L200: 2024-03-31; 004 L1778)."""
    last_calculation_date: dt.date | None = None
    """The last 计算日, if known (001 L17992: the month-end before the last PD)."""
    first_payment_date: dt.date | None = None
    """Optional cross-check: the first payment date as the documents state it (adjusted or not;
    001 L10534: 27 Dec 2021; 003 L238: 2024-04-26). The schedule refuses a mismatch."""
    calculation_day: CalculationDay = "last"
    """'last' = last calendar day of the month (001 L17992, 003 L200, 004 L1778) or a fixed day."""
    collection_period_months: Annotated[int, Field(ge=1, le=12)] = 1
    """1 = monthly collection periods and payment dates, 3 = quarterly (must divide 12)."""
    payment_day: DayOfMonth
    """Day of month of the payment date before adjustment (the 26th in all seeds)."""
    payment_month_offset: Annotated[int, Field(ge=0, le=12)] = 1
    """The payment date falls this many months after its calculation date's month (1 in all
    seeds: calculation date 31 Mar → payment date 26 Apr, 003 L238)."""
    business_day_convention: BusinessDayConvention = BusinessDayConvention.FOLLOWING
    """Applied to the payment date (001: modified following, L19661; 002/003/004: following)."""
    determination_business_days_before: PositiveInt | None = None
    """信托分配日 / distribution (determination) date = this many business days before the
    adjusted payment date (003 L238, 004 L1756: 6)."""
    remittance: RemittanceRule | None = None
    """回收款转付日 while the servicer holds its required ratings."""
    remittance_below_required_rating: FrequentRemittanceRule | None = None
    """回收款转付日 once the servicer is below its required rating (the deal's triggers switch)."""
    servicer_report_business_days_after: PositiveInt | None = None
    """服务机构报告日 = this many business days after the calculation date (001 L20134: 7,
    003 L236: 5, 004 L194: 6)."""
    trustee_report_business_days_before: PositiveInt | None = None
    """受托机构报告日 = this many business days before the payment date (001 L20667: 5)."""
    other_dates: tuple[RelativeDate, ...] = ()
    """Further named dates (record date, account bank report date, ...)."""
    interest_period_dates: Literal["unadjusted", "adjusted"] = "unadjusted"
    """'unadjusted': interest periods run between unadjusted payment days, so business-day
    adjustment does not change accrual days (001 L19301–L19311, 004 L2654–L2656); 'adjusted':
    between adjusted payment dates."""
    day_count: DayCount = DayCount.ACT_365_FIXED
    """Day count of the schedule's ``year_fraction`` column (001 L11489–L11497: Act/365)."""

    @model_validator(mode="after")
    def _consistent(self) -> DateRules:
        if 12 % self.collection_period_months:
            raise ValueError(
                f"collection_period_months {self.collection_period_months} must divide 12"
            )
        first = self.first_calculation_date
        expected = calculation_date_for(first.year, first.month, self.calculation_day)
        if first != expected:
            raise ValueError(
                f"first_calculation_date {first} does not follow calculation_day "
                f"{self.calculation_day!r} (expected {expected})"
            )
        if self.cut_off_date > first or (
            self.cut_off_date == first and not self.cut_off_date_in_first_period
        ):
            raise ValueError(
                f"cut_off_date {self.cut_off_date} leaves the first collection period "
                f"(to {first}) empty"
            )
        first_pd = self.unadjusted_payment_date(first)
        if first_pd <= first:
            raise ValueError(
                f"the first payment date {first_pd} is not after the first calculation date "
                f"{first}; check payment_day / payment_month_offset"
            )
        if (
            self.first_payment_date is not None
            and abs((self.first_payment_date - first_pd).days) > MAX_ADJUSTMENT_DAYS
        ):
            raise ValueError(
                f"first_payment_date {self.first_payment_date} is not the payment day "
                f"{first_pd} or a business-day adjustment of it"
            )
        if self.closing_date >= first_pd:
            raise ValueError(
                f"closing_date {self.closing_date} is not before the first payment date {first_pd}"
            )
        last = self.last_calculation_date
        if last is not None:
            if last < first:
                raise ValueError(f"last_calculation_date {last} is before {first}")
            months = (last.year - first.year) * 12 + last.month - first.month
            on_grid = months % self.collection_period_months == 0 and last == (
                calculation_date_for(last.year, last.month, self.calculation_day)
            )
            if not on_grid:
                raise ValueError(
                    f"last_calculation_date {last} is not a calculation date of this schedule"
                )
        names = [d.name for d in self.other_dates]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"other_dates names repeated: {', '.join(duplicates)}")
        return self

    def calculation_date(self, index: int) -> dt.date:
        """The calculation date of period ``index`` (1-based)."""
        if index < 1:
            raise ScheduleError(f"period index {index} must be >= 1")
        first = self.first_calculation_date
        year, month = add_months(
            first.year, first.month, (index - 1) * self.collection_period_months
        )
        return calculation_date_for(year, month, self.calculation_day)

    def unadjusted_payment_date(self, calculation_date: dt.date) -> dt.date:
        """The payment day in the month ``payment_month_offset`` after ``calculation_date``."""
        year, month = add_months(
            calculation_date.year, calculation_date.month, self.payment_month_offset
        )
        return day_in_month(year, month, self.payment_day)


@dataclass(frozen=True)
class SchedulePeriod:
    """One period of a deal's schedule. Collection period dates are both inclusive; the interest
    period runs from ``interest_period_start`` included to ``interest_period_end`` excluded."""

    index: int
    calculation_date: dt.date
    collection_period_start: dt.date
    collection_period_end: dt.date
    remittance_date: dt.date | None
    servicer_report_date: dt.date | None
    determination_date: dt.date | None
    trustee_report_date: dt.date | None
    payment_date_unadjusted: dt.date
    payment_date: dt.date
    interest_period_start: dt.date
    interest_period_end: dt.date
    interest_days: int
    day_count: DayCount
    year_fraction: Decimal
    other_dates: tuple[tuple[str, dt.date], ...] = ()

    def interest_fraction(self, day_count: DayCount | None = None) -> DayCountFraction:
        """The interest period as days/basis, in ``day_count`` (default: the rules' one)."""
        return day_count_fraction(
            self.interest_period_start, self.interest_period_end, day_count or self.day_count
        )

    def date_named(self, name: str) -> dt.date:
        """One of ``other_dates`` by name."""
        for key, value in self.other_dates:
            if key == name:
                return value
        raise KeyError(f"period {self.index} has no date named {name!r}")

    def in_collection_period(self, day: dt.date) -> bool:
        """True when ``day`` falls in this collection period."""
        return self.collection_period_start <= day <= self.collection_period_end


def _remittance_date(
    rule: RemittanceRule,
    calculation_date: dt.date,
    payment_date: dt.date,
    determination_date: dt.date | None,
    calendar: BusinessCalendar,
) -> dt.date:
    if rule.basis is RemittanceBasis.AFTER_CALCULATION_DATE:
        result = calendar.business_days_after(calculation_date, rule.business_days)
    else:
        result = calendar.business_days_before(payment_date, rule.business_days)
    if rule.not_before_calculation_date:
        result = max(result, calendar.adjust(calculation_date, BusinessDayConvention.FOLLOWING))
    if rule.not_after_determination_date:
        if determination_date is None:
            raise ScheduleError(
                "remittance.not_after_determination_date needs determination_business_days_before"
            )
        result = min(result, determination_date)
    return result


def schedule_period(rules: DateRules, calendar: BusinessCalendar, index: int) -> SchedulePeriod:
    """Period ``index`` (1-based) of the schedule ``rules`` define, on ``calendar``."""
    calc = rules.calculation_date(index)
    if rules.last_calculation_date is not None and calc > rules.last_calculation_date:
        raise ScheduleError(
            f"period {index} (calculation date {calc}) is after last_calculation_date "
            f"{rules.last_calculation_date}"
        )
    if index == 1:
        start = rules.cut_off_date
        if not rules.cut_off_date_in_first_period:
            start += dt.timedelta(days=1)
        interest_start = rules.closing_date
    else:
        previous_calc = rules.calculation_date(index - 1)
        start = previous_calc + dt.timedelta(days=1)
        previous_unadjusted = rules.unadjusted_payment_date(previous_calc)
        interest_start = (
            calendar.adjust(previous_unadjusted, rules.business_day_convention)
            if rules.interest_period_dates == "adjusted"
            else previous_unadjusted
        )
    unadjusted = rules.unadjusted_payment_date(calc)
    payment = calendar.adjust(unadjusted, rules.business_day_convention)
    if (
        index == 1
        and rules.first_payment_date is not None
        and rules.first_payment_date not in (unadjusted, payment)
    ):
        raise ScheduleError(
            f"first_payment_date {rules.first_payment_date} does not match the rules: "
            f"{unadjusted} adjusted by {rules.business_day_convention.value} is {payment}"
        )
    interest_end = payment if rules.interest_period_dates == "adjusted" else unadjusted
    if interest_end <= interest_start:
        raise ScheduleError(
            f"period {index}: interest period {interest_start} to {interest_end} is empty"
        )

    determination = None
    if rules.determination_business_days_before is not None:
        determination = calendar.business_days_before(
            payment, rules.determination_business_days_before
        )
        if determination <= calc:
            raise ScheduleError(
                f"period {index}: determination date {determination} is not after the "
                f"calculation date {calc}"
            )
    remittance = (
        _remittance_date(rules.remittance, calc, payment, determination, calendar)
        if rules.remittance is not None
        else None
    )
    servicer_report = (
        calendar.business_days_after(calc, rules.servicer_report_business_days_after)
        if rules.servicer_report_business_days_after is not None
        else None
    )
    trustee_report = (
        calendar.business_days_before(payment, rules.trustee_report_business_days_before)
        if rules.trustee_report_business_days_before is not None
        else None
    )
    anchors = {
        DateAnchor.CALCULATION_DATE: calc,
        DateAnchor.COLLECTION_PERIOD_END: calc,
        DateAnchor.PAYMENT_DATE: payment,
        DateAnchor.CLOSING_DATE: rules.closing_date,
    }
    others: list[tuple[str, dt.date]] = []
    for rel in rules.other_dates:
        when = calendar.add_business_days(anchors[rel.anchor], rel.business_days)
        if rel.not_later_than_determination_date:
            if determination is None:
                raise ScheduleError(
                    f"other_dates {rel.name!r}: not_later_than_determination_date needs "
                    "determination_business_days_before"
                )
            when = min(when, determination)
        others.append((rel.name, when))
    fraction = day_count_fraction(interest_start, interest_end, rules.day_count)
    return SchedulePeriod(
        index=index,
        calculation_date=calc,
        collection_period_start=start,
        collection_period_end=calc,
        remittance_date=remittance,
        servicer_report_date=servicer_report,
        determination_date=determination,
        trustee_report_date=trustee_report,
        payment_date_unadjusted=unadjusted,
        payment_date=payment,
        interest_period_start=interest_start,
        interest_period_end=interest_end,
        interest_days=(interest_end - interest_start).days,
        day_count=rules.day_count,
        year_fraction=fraction.to_decimal(),
        other_dates=tuple(others),
    )


def iter_schedule(rules: DateRules, calendar: BusinessCalendar) -> Iterator[SchedulePeriod]:
    """Periods 1, 2, ... lazily; ends after ``last_calculation_date`` if the rules set one."""
    for index in itertools.count(1):
        calc = rules.calculation_date(index)
        if rules.last_calculation_date is not None and calc > rules.last_calculation_date:
            return
        yield schedule_period(rules, calendar, index)


def generate_schedule(
    rules: DateRules,
    calendar: BusinessCalendar,
    *,
    periods: int | None = None,
    until: dt.date | None = None,
) -> tuple[SchedulePeriod, ...]:
    """The schedule: the first ``periods`` periods, and/or those whose payment date is on or
    before ``until``, and never past ``last_calculation_date``. One bound must be given."""
    if periods is None and until is None and rules.last_calculation_date is None:
        raise ScheduleError("generate_schedule needs periods, until or last_calculation_date")
    if periods is not None and periods < 0:
        raise ScheduleError(f"periods {periods} must be >= 0")
    result: list[SchedulePeriod] = []
    for period in iter_schedule(rules, calendar):
        if periods is not None and period.index > periods:
            break
        if until is not None and period.payment_date > until:
            break
        if period.index > MAX_SCHEDULE_PERIODS:
            raise ScheduleError(f"schedule longer than {MAX_SCHEDULE_PERIODS} periods")
        result.append(period)
    return tuple(result)


def period_for_collection_date(
    rules: DateRules, calendar: BusinessCalendar, day: dt.date
) -> SchedulePeriod:
    """The period whose collection period contains ``day`` (e.g. a collection's value date)."""
    first_start = rules.cut_off_date + dt.timedelta(
        days=0 if rules.cut_off_date_in_first_period else 1
    )
    if day < first_start:
        raise ScheduleError(f"{day} is before the first collection period ({first_start})")
    for period in iter_schedule(rules, calendar):
        if day <= period.collection_period_end:
            return period
        if period.index > MAX_SCHEDULE_PERIODS:
            break
    raise ScheduleError(f"{day} is after the last collection period")


# ----- remittance while the servicer is below its required rating -------------------------


def remittance_dates_per_receipt(
    receipts: Iterable[dt.date], business_days: int, calendar: BusinessCalendar
) -> tuple[tuple[dt.date, dt.date], ...]:
    """(receipt date, remittance date) for each receipt: the ``business_days``-th business day
    after receipt ("on the third (3rd) Business Day after receipt", 001 L2649–L2653)."""
    return tuple(
        (receipt, calendar.business_days_after(receipt, business_days))
        for receipt in sorted(set(receipts))
    )


def periodic_remittance_dates(
    start: dt.date, end: dt.date, every_k: int, calendar: BusinessCalendar
) -> tuple[dt.date, ...]:
    """Every ``every_k``-th business day from ``start`` to ``end`` (both included), starting
    with the first business day on or after ``start``; ``every_k`` = 1 is daily remittance."""
    if every_k < 1:
        raise CalendarError(f"every_k {every_k} must be >= 1")
    return tuple(itertools.islice(calendar.business_days_in(start, end), 0, None, every_k))


def frequent_remittance_dates(
    rule: FrequentRemittanceRule,
    start: dt.date,
    end: dt.date,
    calendar: BusinessCalendar,
    receipts: Iterable[dt.date] = (),
) -> tuple[dt.date, ...]:
    """The remittance dates in [``start``, ``end``] under ``rule``: per receipt (from the receipt
    dates given) or every k business days."""
    if rule.mode is FrequentRemittanceMode.EVERY_K_BUSINESS_DAYS:
        return periodic_remittance_dates(start, end, rule.business_days, calendar)
    pairs = remittance_dates_per_receipt(receipts, rule.business_days, calendar)
    return tuple(sorted({due for _, due in pairs if start <= due <= end}))
