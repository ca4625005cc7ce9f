"""A deal's payment-date schedule: its date rules from the deal file, the business calendar and
each period's determination date."""

from __future__ import annotations

import datetime as dt
import re

from ledger.core.calendar import (
    BusinessCalendar,
    BusinessDayConvention,
    DateAnchor,
    DateRules,
    RelativeDate,
    SchedulePeriod,
    generate_schedule,
    prc_calendar,
)
from ledger.deal.schema import DealDefinition

_ANCHORS = {
    "payment_date": DateAnchor.PAYMENT_DATE,
    "calculation_date": DateAnchor.CALCULATION_DATE,
    "collection_period_end": DateAnchor.COLLECTION_PERIOD_END,
    "closing_date": DateAnchor.CLOSING_DATE,
}


class CycleError(ValueError):
    """The cycle cannot be planned or posted (missing closing date, an earlier date not posted,
    a posting that would take a cash account negative)."""


# ---------------------------------------------------------------------------------- calendar


def date_rules(deal: DealDefinition, closing_date: dt.date | None = None) -> DateRules:
    """The calendar's date rules from the deal file's ``calendar`` (the closing date from
    ``NotesIssued`` where the file leaves it blank, seed 004 L1737)."""
    c = deal.calendar
    closing = closing_date or c.closing_date
    if closing is None:
        raise CycleError(
            f"deal {deal.deal_id} has no closing date in its file: post NotesIssued first"
        )
    det = c.determination_date
    before = None
    if det.relative_to == "payment_date" and det.business_days < 0:
        before = -det.business_days
    cut_off_excluded = re.search(r"cut-off date[^;]*\(excl", c.collection_period, re.IGNORECASE)
    others = tuple(
        RelativeDate(name=name, anchor=_ANCHORS[o.relative_to], business_days=o.business_days)
        for name, o in sorted(c.report_dates.items())
        if o.relative_to in _ANCHORS and o.business_days != 0
    )
    return DateRules(
        cut_off_date=c.cut_off_date,
        cut_off_date_in_first_period=cut_off_excluded is None,
        closing_date=closing,
        first_calculation_date=c.first_calculation_date,
        first_payment_date=c.first_payment_date,
        calculation_day="last" if c.calculation_day == "month_end" else c.calculation_day,
        collection_period_months=c.frequency_months,
        payment_day=c.payment_day,
        business_day_convention=BusinessDayConvention(c.payment_convention),
        determination_business_days_before=before,
        other_dates=others,
        interest_period_dates=c.interest_period_dates,
    )


_CALENDARS: dict[bool, BusinessCalendar] = {}


def business_calendar(makeup_workdays: bool = True) -> BusinessCalendar:
    """The PRC business calendar (built once per process and rule): ``makeup_workdays`` says
    whether an official make-up working day (调休) is a business day."""
    if makeup_workdays not in _CALENDARS:
        _CALENDARS[makeup_workdays] = prc_calendar(count_makeup_workdays=makeup_workdays)
    return _CALENDARS[makeup_workdays]


def deal_calendar(deal: DealDefinition) -> BusinessCalendar:
    """The deal's business days: PRC, make-up working days as its ``calendar.makeup_workdays``
    says (seed 004 L2555)."""
    return business_calendar(deal.calendar.makeup_workdays == "business_day")


def deal_schedule(
    deal: DealDefinition, closing_date: dt.date | None, until: dt.date
) -> tuple[SchedulePeriod, ...]:
    """Every period whose payment date is on or before ``until``."""
    return generate_schedule(date_rules(deal, closing_date), deal_calendar(deal), until=until)


def determination_date(period: SchedulePeriod) -> dt.date:
    return period.determination_date or period.payment_date
