"""Deal date rules and the schedules they generate (seeds 001 and 003 shapes)."""

from __future__ import annotations

import datetime as dt
import itertools
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from ledger.core.calendar import (
    BusinessDayConvention,
    DateRules,
    DayCount,
    FrequentRemittanceMode,
    FrequentRemittanceRule,
    RelativeDate,
    RemittanceBasis,
    RemittanceRule,
    ScheduleError,
    calculation_date_for,
    frequent_remittance_dates,
    generate_schedule,
    iter_schedule,
    payment_date_for,
    period_for_collection_date,
    periodic_remittance_dates,
    prc_calendar,
    remittance_dates_per_receipt,
    schedule_period,
)

D = dt.date
CAL = prc_calendar()
NO_MAKEUP = prc_calendar(count_makeup_workdays=False)

# Seed 001 (Driver China Thirteen): cut-off 30 Jun 2021 excluded (L18575), issue date 17 Nov 2021,
# first Calculation Date 30 Nov 2021 (L17992), PD 26th modified following (L19661), deposit 6th BD
# before the PD (L10564), Servicer Report 7th BD after the Calculation Date (L20134), Trust Company
# Report 5th BD before the PD (L20667), record date BD before the PD (L20458), Account Bank Report
# 6th BD before the PD (L17574), last PD 26 Dec 2028 (L10602).
SEED001: dict[str, Any] = {
    "cut_off_date": "2021-06-30",
    "cut_off_date_in_first_period": False,
    "closing_date": "2021-11-17",
    "first_calculation_date": "2021-11-30",
    "last_calculation_date": "2028-11-30",
    "first_payment_date": "2021-12-27",
    "calculation_day": "last",
    "payment_day": 26,
    "business_day_convention": "modified_following",
    "remittance": {"basis": "before_payment_date", "business_days": 6},
    "remittance_below_required_rating": {"mode": "per_receipt", "business_days": 3},
    "servicer_report_business_days_after": 7,
    "trustee_report_business_days_before": 5,
    "other_dates": [
        {"name": "record_date", "anchor": "payment_date", "business_days": -1},
        {"name": "account_bank_report_date", "anchor": "payment_date", "business_days": -6},
    ],
    "day_count": "act/365f",
}

# Seed 003 (温惠 2024-1): cut-off 2024-01-02 included, first 计算日 2024-03-31 (L200), 回收款转付日
# 5th BD after the 计算日 (L202), 服务机构报告日 same (L236), 信托分配日 6th BD before the 支付日,
# 支付日 26th following (L238). The closing date is not in the extract: assumed 2024-03-20.
SEED003: dict[str, Any] = {
    "cut_off_date": "2024-01-02",
    "closing_date": "2024-03-20",
    "first_calculation_date": "2024-03-31",
    "payment_day": 26,
    "business_day_convention": "following",
    "determination_business_days_before": 6,
    "remittance": {"basis": "after_calculation_date", "business_days": 5},
    "remittance_below_required_rating": {"mode": "per_receipt", "business_days": 5},
    "servicer_report_business_days_after": 5,
}


def rules(base: dict[str, Any], **changes: Any) -> DateRules:
    return DateRules.model_validate({**base, **changes})


def test_seed001_worked_month() -> None:
    # domain extract "Worked month, PD of 27 Dec 2021"
    p = schedule_period(rules(SEED001), CAL, 1)
    assert p.calculation_date == D(2021, 11, 30)
    assert (p.collection_period_start, p.collection_period_end) == (D(2021, 7, 1), D(2021, 11, 30))
    assert p.servicer_report_date == D(2021, 12, 9)
    assert p.remittance_date == D(2021, 12, 17)
    assert p.date_named("account_bank_report_date") == D(2021, 12, 17)
    assert p.trustee_report_date == D(2021, 12, 20)
    assert p.date_named("record_date") == D(2021, 12, 24)
    assert p.payment_date_unadjusted == D(2021, 12, 26)
    assert p.payment_date == D(2021, 12, 27)
    assert (p.interest_period_start, p.interest_period_end) == (D(2021, 11, 17), D(2021, 12, 26))
    assert p.interest_days == 39
    assert p.year_fraction == Decimal("0.1068493150684931506849315068")
    assert p.determination_date is None
    with pytest.raises(KeyError):
        p.date_named("nope")


def test_seed001_across_year_end_and_spring_festival() -> None:
    p1, p2, p3 = generate_schedule(rules(SEED001), CAL, periods=3)
    assert [p.index for p in (p1, p2, p3)] == [1, 2, 3]
    # period 2: December 2021 -> PD Wed 26 Jan 2022
    assert (p2.collection_period_start, p2.collection_period_end) == (
        D(2021, 12, 1),
        D(2021, 12, 31),
    )
    assert p2.servicer_report_date == D(2022, 1, 12)  # Jan 1-3 off: 4, 5, 6, 7, 10, 11, 12
    assert p2.remittance_date == D(2022, 1, 18)
    assert p2.trustee_report_date == D(2022, 1, 19)
    assert p2.payment_date == D(2022, 1, 26)
    assert (p2.interest_period_start, p2.interest_period_end, p2.interest_days) == (
        D(2021, 12, 26),
        D(2022, 1, 26),
        31,
    )
    # period 3: calculation date 31 Jan 2022 in the Spring Festival (Jan 31 - Feb 6 off);
    # PD 26 Feb 2022 is a Saturday -> Monday 28 Feb; interest still to the unadjusted 26th
    assert p3.collection_period_start == D(2022, 1, 1)
    assert p3.servicer_report_date == D(2022, 2, 15)  # Feb 7, 8, 9, 10, 11, 14, 15
    assert p3.payment_date == D(2022, 2, 28)
    assert p3.trustee_report_date == D(2022, 2, 21)
    assert p3.remittance_date == D(2022, 2, 18)
    assert (p3.interest_period_start, p3.interest_period_end, p3.interest_days) == (
        D(2022, 1, 26),
        D(2022, 2, 26),
        31,
    )


def test_seed001_full_schedule_is_contiguous() -> None:
    schedule = generate_schedule(rules(SEED001), CAL)
    assert len(schedule) == 85  # Dec 2021 .. Dec 2028 (L10602)
    assert schedule[-1].payment_date == D(2028, 12, 26)
    # 26 Dec 2026 is a Saturday: the Scheduled Repayment Date is Mon 28 Dec 2026 (L18335)
    assert schedule[60].payment_date == D(2026, 12, 28)
    for prev, cur in itertools.pairwise(schedule):
        assert cur.collection_period_start == prev.collection_period_end + dt.timedelta(days=1)
        assert cur.interest_period_start == prev.interest_period_end
        assert cur.payment_date > prev.payment_date
        assert cur.payment_date.month == cur.payment_date_unadjusted.month  # modified following


def test_seed003_first_period_with_qingming_makeup_day() -> None:
    # domain extract 002_003 L725-L729: 2024-04-08 with make-up days counted, else 2024-04-09
    p = schedule_period(rules(SEED003), CAL, 1)
    assert (p.collection_period_start, p.collection_period_end) == (D(2024, 1, 2), D(2024, 3, 31))
    assert p.remittance_date == D(2024, 4, 8)
    assert p.servicer_report_date == D(2024, 4, 8)
    assert p.payment_date == D(2024, 4, 26)
    assert p.determination_date == D(2024, 4, 18)
    assert (p.interest_period_start, p.interest_period_end, p.interest_days) == (
        D(2024, 3, 20),
        D(2024, 4, 26),
        37,
    )
    q = schedule_period(rules(SEED003), NO_MAKEUP, 1)
    assert q.remittance_date == D(2024, 4, 9)


def test_seed003_monthly_schedule_across_year_end() -> None:
    schedule = generate_schedule(rules(SEED003), CAL, until=D(2025, 3, 1))
    assert [p.index for p in schedule] == list(range(1, 12))
    nov, dec, jan = schedule[8:11]
    assert (nov.calculation_date, nov.payment_date) == (D(2024, 11, 30), D(2024, 12, 26))
    assert nov.remittance_date == D(2024, 12, 6)
    assert nov.determination_date == D(2024, 12, 18)
    # December 2024 collections: PD 26 Jan 2025 is a make-up Sunday, a business day
    assert (dec.collection_period_start, dec.collection_period_end) == (
        D(2024, 12, 1),
        D(2024, 12, 31),
    )
    assert dec.remittance_date == D(2025, 1, 8)  # Jan 1 off: 2, 3, 6, 7, 8
    assert dec.determination_date == D(2025, 1, 17)
    assert dec.payment_date == D(2025, 1, 26) and dec.payment_date.weekday() == 6
    assert (dec.interest_period_start, dec.interest_period_end, dec.interest_days) == (
        D(2024, 12, 26),
        D(2025, 1, 26),
        31,
    )
    # January 2025 ends inside the Spring Festival (Jan 28 - Feb 4; Sat Feb 8 worked)
    assert jan.remittance_date == D(2025, 2, 10)
    assert jan.determination_date == D(2025, 2, 18)
    assert jan.payment_date == D(2025, 2, 26)
    # a Registry that ignores make-up days pays on Monday 27 Jan 2025 instead
    assert schedule_period(rules(SEED003), NO_MAKEUP, 10).payment_date == D(2025, 1, 27)


def test_interest_periods_on_adjusted_dates_when_the_deal_says_so() -> None:
    p3 = schedule_period(rules(SEED001, interest_period_dates="adjusted"), CAL, 3)
    assert (p3.interest_period_start, p3.interest_period_end, p3.interest_days) == (
        D(2022, 1, 26),
        D(2022, 2, 28),
        33,
    )
    p4 = schedule_period(rules(SEED001, interest_period_dates="adjusted"), CAL, 4)
    assert p4.interest_period_start == D(2022, 2, 28)


def test_quarterly_schedule() -> None:
    r = rules(SEED003, collection_period_months=3, day_count="30e/360")
    q1, q2, q3, q4 = generate_schedule(r, CAL, periods=4)
    assert [q.calculation_date for q in (q1, q2, q3, q4)] == [
        D(2024, 3, 31),
        D(2024, 6, 30),
        D(2024, 9, 30),
        D(2024, 12, 31),
    ]
    assert (q2.collection_period_start, q2.collection_period_end) == (D(2024, 4, 1), D(2024, 6, 30))
    assert [q.payment_date for q in (q1, q2, q3, q4)] == [
        D(2024, 4, 26),
        D(2024, 7, 26),
        D(2024, 10, 28),  # 26 Oct 2024 is a Saturday
        D(2025, 1, 26),  # make-up Sunday
    ]
    assert (q2.interest_days, q3.interest_days) == (91, 92)
    assert q2.year_fraction == Decimal("0.25")  # 30E/360: three 30-day months
    assert q2.interest_fraction(DayCount.ACT_365_FIXED).days == 91


def test_fixed_calculation_day() -> None:
    assert calculation_date_for(2024, 2, "last") == D(2024, 2, 29)
    assert calculation_date_for(2024, 2, "month_end") == D(2024, 2, 29)
    assert calculation_date_for(2024, 2, 31) == D(2024, 2, 29)
    assert calculation_date_for(2025, 2, 20) == D(2025, 2, 20)
    r = rules(
        SEED003, calculation_day=20, first_calculation_date="2024-03-20", closing_date="2024-03-10"
    )
    p1, p2 = generate_schedule(r, CAL, periods=2)
    assert (p1.collection_period_start, p1.collection_period_end) == (D(2024, 1, 2), D(2024, 3, 20))
    assert (p2.collection_period_start, p2.collection_period_end) == (
        D(2024, 3, 21),
        D(2024, 4, 20),
    )


def test_payment_date_for_clamps_the_day_and_adjusts() -> None:
    mf = BusinessDayConvention.MODIFIED_FOLLOWING
    assert payment_date_for(2024, 11, 31, mf, CAL) == D(2024, 11, 29)  # 30 Nov 2024 is a Saturday
    assert payment_date_for(2023, 9, 29, mf, CAL) == D(2023, 9, 28)  # National Day 2023
    assert payment_date_for(2025, 1, 26, BusinessDayConvention.FOLLOWING, CAL) == D(2025, 1, 26)


def test_remittance_cap_at_the_distribution_date() -> None:
    # 004 L1760-L1768: "no later than the corresponding 信托分配日". Synthetic: PD on the 12th.
    r = rules(
        SEED003,
        first_calculation_date="2024-01-31",
        closing_date="2024-01-20",
        payment_day=12,
        determination_business_days_before=3,
        remittance={
            "basis": "after_calculation_date",
            "business_days": 8,
            "not_after_determination_date": True,
        },
    )
    p = schedule_period(r, CAL, 1)
    assert p.payment_date == D(2024, 2, 18)  # 12 Feb in the Spring Festival -> make-up Sunday
    assert p.determination_date == D(2024, 2, 7)  # 9, 8, 7
    assert p.remittance_date == D(2024, 2, 7)  # uncapped: Feb 9 (1, 2, 4, 5, 6, 7, 8, 9)


def test_other_dates_on_every_anchor() -> None:
    r = rules(
        SEED003,
        other_dates=[
            {"name": "a", "anchor": "collection_period_end", "business_days": 6},
            {"name": "b", "anchor": "closing_date", "business_days": 1},
            {
                "name": "c",
                "anchor": "calculation_date",
                "business_days": 14,
                "not_later_than_determination_date": True,
            },
        ],
    )
    p = schedule_period(r, CAL, 1)
    assert p.date_named("a") == D(2024, 4, 9)  # 1, 2, 3, 7, 8, 9
    assert p.date_named("b") == D(2024, 3, 21)
    assert p.date_named("c") == D(2024, 4, 18)  # capped at the 信托分配日 (uncapped: 19 Apr)
    without = r.model_copy(update={"determination_business_days_before": None})
    with pytest.raises(ScheduleError, match="needs determination_business_days_before"):
        schedule_period(without, CAL, 1)


def test_remittance_floor_at_the_calculation_date() -> None:
    # 002 L218: 7th BD before the 支付日 "but not earlier than the 计算日".
    # Synthetic: PD on the 7th.
    base = {**SEED003, "first_calculation_date": "2024-04-30", "payment_day": 7}
    base.pop("determination_business_days_before")
    floor = {"basis": "before_payment_date", "business_days": 7}
    assert schedule_period(rules(base, remittance=floor), CAL, 1).remittance_date == D(2024, 4, 24)
    capped = {**floor, "not_before_calculation_date": True}
    assert schedule_period(rules(base, remittance=capped), CAL, 1).remittance_date == D(2024, 4, 30)


def test_remittance_below_required_rating() -> None:
    # per receipt, 3rd BD after (001 L2649-L2653): Fri 27 Sep 2024 -> 29 (Sun), 30, Oct 8
    assert remittance_dates_per_receipt(
        [D(2024, 9, 27), D(2024, 9, 27), D(2024, 10, 12)], 3, CAL
    ) == (
        (D(2024, 9, 27), D(2024, 10, 8)),
        (D(2024, 10, 12), D(2024, 10, 16)),
    )
    # business days 25 Sep - 14 Oct 2024: 25, 26, 27, 29, 30, Oct 8, 9, 10, 11, 12, 14
    daily = periodic_remittance_dates(D(2024, 9, 25), D(2024, 10, 14), 1, CAL)
    assert len(daily) == 11 and D(2024, 9, 29) in daily and D(2024, 10, 12) in daily
    assert periodic_remittance_dates(D(2024, 9, 25), D(2024, 10, 14), 2, CAL) == (
        D(2024, 9, 25),
        D(2024, 9, 27),
        D(2024, 9, 30),
        D(2024, 10, 9),
        D(2024, 10, 11),
        D(2024, 10, 14),
    )
    every2 = FrequentRemittanceRule(
        mode=FrequentRemittanceMode.EVERY_K_BUSINESS_DAYS, business_days=2
    )
    assert frequent_remittance_dates(every2, D(2024, 9, 25), D(2024, 10, 14), CAL)[2] == D(
        2024, 9, 30
    )
    per_receipt = rules(SEED001).remittance_below_required_rating
    assert per_receipt is not None
    assert frequent_remittance_dates(
        per_receipt,
        D(2024, 10, 1),
        D(2024, 10, 31),
        CAL,
        receipts=[D(2024, 9, 27), D(2024, 10, 30)],
    ) == (D(2024, 10, 8),)


def test_period_for_collection_date() -> None:
    r = rules(SEED001)
    assert period_for_collection_date(r, CAL, D(2021, 7, 1)).index == 1
    assert period_for_collection_date(r, CAL, D(2021, 12, 31)).index == 2
    assert period_for_collection_date(r, CAL, D(2028, 11, 30)).index == 85
    with pytest.raises(ScheduleError, match="before the first collection period"):
        period_for_collection_date(r, CAL, D(2021, 6, 30))  # the cut-off day is excluded (L18575)
    with pytest.raises(ScheduleError, match="after the last"):
        period_for_collection_date(r, CAL, D(2028, 12, 1))
    assert period_for_collection_date(rules(SEED003), CAL, D(2024, 1, 2)).index == 1


def test_first_payment_date_cross_check() -> None:
    assert schedule_period(rules(SEED003, first_payment_date="2024-04-26"), CAL, 1).index == 1
    assert schedule_period(rules(SEED001, first_payment_date="2021-12-26"), CAL, 1).index == 1
    with pytest.raises(ScheduleError, match="first_payment_date 2021-12-28 does not match"):
        schedule_period(rules(SEED001, first_payment_date="2021-12-28"), CAL, 1)
    with pytest.raises(ValidationError, match="not the payment day"):
        rules(SEED001, first_payment_date="2022-01-26")


def test_schedule_bounds() -> None:
    with pytest.raises(ScheduleError, match="needs periods, until or last_calculation_date"):
        generate_schedule(rules(SEED003), CAL)
    assert generate_schedule(rules(SEED003), CAL, periods=0) == ()
    assert len(generate_schedule(rules(SEED001), CAL, periods=200)) == 85
    with pytest.raises(ScheduleError, match="after last_calculation_date"):
        schedule_period(rules(SEED001), CAL, 86)
    with pytest.raises(ScheduleError, match="must be >= 1"):
        schedule_period(rules(SEED001), CAL, 0)
    assert next(iter_schedule(rules(SEED003), CAL)).index == 1


def test_determination_date_must_follow_the_calculation_date() -> None:
    r = rules(SEED003, payment_day=5)  # 6 BD before 5 Apr 2024 is in March
    with pytest.raises(ScheduleError, match=r"determination date .* is not after the calculation"):
        schedule_period(r, CAL, 1)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"first_calculation_date": "2024-03-30"}, "does not follow calculation_day"),
        ({"cut_off_date": "2024-04-01"}, "first collection period"),
        ({"payment_month_offset": 0}, "is not after the first calculation date"),
        ({"closing_date": "2024-04-26"}, "is not before the first payment date"),
        ({"last_calculation_date": "2024-05-30"}, "is not a calculation date"),
        ({"collection_period_months": 5}, "must divide 12"),
        ({"payment_day": 32}, "less than or equal to 31"),
        ({"business_day_convention": "nearest"}, "business_day_convention"),
        ({"day_count": "act/act"}, "day_count"),
        ({"determination_business_days_before": 0}, "greater than or equal to 1"),
        ({"paymentday": 26}, "Extra inputs are not permitted"),
        (
            {
                "other_dates": [
                    {"name": "x", "anchor": "payment_date", "business_days": -1},
                    {"name": "x", "anchor": "payment_date", "business_days": -2},
                ]
            },
            "other_dates names repeated: x",
        ),
        (
            {"other_dates": [{"name": "x", "anchor": "payment_date", "business_days": 0}]},
            "must be non-zero",
        ),
    ],
)
def test_invalid_rules_are_rejected(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        rules(SEED003, **changes)


def test_rules_are_frozen_hashable_and_export_a_schema() -> None:
    r = rules(SEED001)
    with pytest.raises(ValidationError):
        r.payment_day = 25  # type: ignore[misc]
    assert hash(r) == hash(rules(SEED001))
    assert r.remittance == RemittanceRule(
        basis=RemittanceBasis.BEFORE_PAYMENT_DATE, business_days=6
    )
    assert r.other_dates[0] == RelativeDate(
        name="record_date", anchor="payment_date", business_days=-1
    )
    schema = DateRules.model_json_schema()
    assert "payment_day" in schema["required"]
    assert DateRules.model_validate_json(r.model_dump_json()) == r
