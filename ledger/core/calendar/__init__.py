"""The deal calendar: PRC business days (调休 included), date rules, schedules, day counts.

SPEC §3 (calendar bullet); issue 5 part 1. This module is the public face; the parts live in

- ``ledger.core.calendar.business``: :class:`BusinessCalendar` (which years come from
chinese_calendar,
  an operator holiday file or weekends only), conventions, business-day arithmetic;
- ``ledger.core.calendar.holidays``: the operator holiday file format and :func:`load_holiday_file`;
- ``ledger.core.calendar.daycount``: Act/365F, Act/360, 30E/360 and 30/360 as exact ``Decimal``;
- ``ledger.core.calendar.rules``: the frozen :class:`DateRules` model a deal file embeds and the
  :class:`SchedulePeriod` rows it generates.

Everything is pure except :func:`load_holiday_file` / :func:`load_calendar` (file reads) and the
structlog warning for a year without holiday data.
"""

from __future__ import annotations

from ledger.core.calendar.business import (
    OPERATOR_FILE_PREFIX,
    SOURCE_CHINESE_CALENDAR,
    SOURCE_WEEKENDS_ONLY,
    BusinessCalendar,
    BusinessDayConvention,
    CalendarError,
    YearDays,
    add_months,
    chinese_calendar_years,
    day_in_month,
    last_day_of_month,
    load_calendar,
    load_calendar_dir,
    prc_calendar,
)
from ledger.core.calendar.daycount import (
    DayCount,
    DayCountFraction,
    accrue,
    day_count_days,
    day_count_fraction,
    year_fraction,
)
from ledger.core.calendar.holidays import (
    HolidayFile,
    HolidayFileError,
    load_holiday_file,
    parse_holiday_data,
)
from ledger.core.calendar.rules import (
    DateAnchor,
    DateRules,
    FrequentRemittanceMode,
    FrequentRemittanceRule,
    RelativeDate,
    RemittanceBasis,
    RemittanceRule,
    ScheduleError,
    SchedulePeriod,
    calculation_date_for,
    frequent_remittance_dates,
    generate_schedule,
    iter_schedule,
    payment_date_for,
    period_for_collection_date,
    periodic_remittance_dates,
    remittance_dates_per_receipt,
    schedule_period,
)

__all__ = [
    "OPERATOR_FILE_PREFIX",
    "SOURCE_CHINESE_CALENDAR",
    "SOURCE_WEEKENDS_ONLY",
    "BusinessCalendar",
    "BusinessDayConvention",
    "CalendarError",
    "DateAnchor",
    "DateRules",
    "DayCount",
    "DayCountFraction",
    "FrequentRemittanceMode",
    "FrequentRemittanceRule",
    "HolidayFile",
    "HolidayFileError",
    "RelativeDate",
    "RemittanceBasis",
    "RemittanceRule",
    "ScheduleError",
    "SchedulePeriod",
    "YearDays",
    "accrue",
    "add_months",
    "calculation_date_for",
    "chinese_calendar_years",
    "day_count_days",
    "day_count_fraction",
    "day_in_month",
    "frequent_remittance_dates",
    "generate_schedule",
    "iter_schedule",
    "last_day_of_month",
    "load_calendar",
    "load_calendar_dir",
    "load_holiday_file",
    "parse_holiday_data",
    "payment_date_for",
    "period_for_collection_date",
    "periodic_remittance_dates",
    "prc_calendar",
    "remittance_dates_per_receipt",
    "schedule_period",
    "year_fraction",
]
