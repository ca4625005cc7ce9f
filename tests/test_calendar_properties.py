"""Hypothesis properties of business-day arithmetic, conventions and schedules."""

from __future__ import annotations

import datetime as dt
import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.core.calendar import (
    BusinessCalendar,
    BusinessDayConvention,
    DateRules,
    DayCount,
    chinese_calendar_years,
    day_count_days,
    generate_schedule,
    parse_holiday_data,
    prc_calendar,
)

YEARS = chinese_calendar_years()
# stay clear of the last covered year's end so +/- 60 business days never leaves coverage
DATES = st.dates(dt.date(YEARS[0], 4, 1), dt.date(YEARS[-1], 9, 30))
STEPS = st.integers(min_value=1, max_value=60)
PRC = prc_calendar()
NO_MAKEUP = prc_calendar(count_makeup_workdays=False)
OPERATOR = BusinessCalendar.prc(
    [
        parse_holiday_data(
            {
                "year": 2030,
                "holidays": [dt.date(2030, 2, d) for d in range(2, 10)],
                "workdays": [dt.date(2030, 1, 26), dt.date(2030, 2, 10)],
            },
            "synthetic-2030.yaml",
        )
    ]
)
CALENDARS_BY_NAME = {"prc": PRC, "prc-without-makeup-days": NO_MAKEUP}
CALENDARS = st.sampled_from(sorted(CALENDARS_BY_NAME))


@settings(max_examples=300, deadline=None)
@given(day=DATES, n=st.integers(min_value=0, max_value=60), which=CALENDARS)
def test_adding_business_days_lands_on_a_business_day_and_is_monotone(
    day: dt.date, n: int, which: str
) -> None:
    cal = CALENDARS_BY_NAME[which]
    landed = cal.add_business_days(day, n)
    assert cal.is_business_day(landed)
    assert landed >= day
    nxt = cal.add_business_days(day, n + 1)
    # strictly monotone in n; only n = 0 from a non-business day lands where n = 1 does
    assert nxt > landed or (n == 0 and not cal.is_business_day(day) and nxt == landed)
    if n >= 1:
        assert landed > day
        assert cal.count_business_days(day, landed) == n


@settings(max_examples=300, deadline=None)
@given(day=DATES, n=STEPS, which=CALENDARS)
def test_going_forward_then_back_returns_to_the_preceding_business_day(
    day: dt.date, n: int, which: str
) -> None:
    cal = CALENDARS_BY_NAME[which]
    forward = cal.add_business_days(day, n)
    assert cal.add_business_days(forward, -n) == cal.adjust(day, BusinessDayConvention.PRECEDING)
    back = cal.business_days_before(day, n)
    assert back < day and cal.is_business_day(back)
    # (back, day] holds the n - 1 business days in between, plus day itself if it is one
    expected = n if cal.is_business_day(day) else n - 1
    assert cal.count_business_days(back, day) == expected


@settings(max_examples=300, deadline=None)
@given(day=DATES, which=CALENDARS)
def test_conventions(day: dt.date, which: str) -> None:
    cal = CALENDARS_BY_NAME[which]
    f = cal.adjust(day, BusinessDayConvention.FOLLOWING)
    p = cal.adjust(day, BusinessDayConvention.PRECEDING)
    mf = cal.adjust(day, BusinessDayConvention.MODIFIED_FOLLOWING)
    mp = cal.adjust(day, BusinessDayConvention.MODIFIED_PRECEDING)
    assert cal.adjust(day, BusinessDayConvention.NONE) == day
    for adjusted in (f, p, mf, mp):
        assert cal.is_business_day(adjusted)
    assert p <= day <= f
    assert mf.month == day.month and mp.month == day.month  # PRC months always have a business day
    assert mf in (f, p) and mp in (f, p)
    if cal.is_business_day(day):
        assert f == p == mf == mp == day
    else:
        assert all(not cal.is_business_day(d) for d in _days(p + dt.timedelta(days=1), f))


def _days(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days)]


@settings(max_examples=100, deadline=None)
@given(day=st.dates(dt.date(2030, 1, 1), dt.date(2030, 11, 30)), n=STEPS)
def test_operator_file_calendar_properties(day: dt.date, n: int) -> None:
    landed = OPERATOR.add_business_days(day, n)
    assert OPERATOR.is_business_day(landed)
    assert OPERATOR.count_business_days(day, landed) == n
    assert not OPERATOR.is_business_day(dt.date(2030, 2, 4))  # a Monday holiday
    assert OPERATOR.is_business_day(dt.date(2030, 2, 10))  # a make-up Sunday


@settings(max_examples=60, deadline=None)
@given(
    first_month=st.integers(min_value=0, max_value=150),
    payment_day=st.integers(min_value=1, max_value=31),
    convention=st.sampled_from(
        [BusinessDayConvention.FOLLOWING, BusinessDayConvention.MODIFIED_FOLLOWING]
    ),
    adjusted=st.booleans(),
)
def test_schedules_are_contiguous(
    first_month: int, payment_day: int, convention: BusinessDayConvention, adjusted: bool
) -> None:
    year, month = divmod(YEARS[0] * 12 + first_month, 12)
    first_calc = (dt.date(year, month + 1, 28) + dt.timedelta(days=4)).replace(
        day=1
    ) - dt.timedelta(days=1)
    rules = DateRules(
        cut_off_date=first_calc - dt.timedelta(days=90),
        closing_date=first_calc - dt.timedelta(days=10),
        first_calculation_date=first_calc,
        payment_day=payment_day,
        business_day_convention=convention,
        interest_period_dates="adjusted" if adjusted else "unadjusted",
        trustee_report_business_days_before=1,
    )
    schedule = generate_schedule(rules, PRC, periods=24)
    assert len(schedule) == 24
    for prev, cur in itertools.pairwise(schedule):
        assert cur.collection_period_start == prev.collection_period_end + dt.timedelta(days=1)
        assert cur.interest_period_start == prev.interest_period_end
        assert cur.payment_date > prev.payment_date
        assert cur.calculation_date < cur.payment_date
    for period in schedule:
        assert PRC.is_business_day(period.payment_date)
        assert (
            period.interest_days == (period.interest_period_end - period.interest_period_start).days
        )
        assert period.interest_days > 0
        assert (
            day_count_days(
                period.interest_period_start, period.interest_period_end, DayCount.ACT_360
            )
            == period.interest_days
        )
