"""PRC business days (调休), coverage decisions, conventions and operator holiday files."""

from __future__ import annotations

import datetime as dt
import json
import pickle
from collections.abc import MutableMapping, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import chinese_calendar
import pytest
from structlog.testing import capture_logs

from ledger.core.calendar import (
    SOURCE_CHINESE_CALENDAR,
    SOURCE_WEEKENDS_ONLY,
    BusinessCalendar,
    BusinessDayConvention,
    CalendarError,
    HolidayFileError,
    chinese_calendar_years,
    load_calendar,
    load_calendar_dir,
    load_holiday_file,
    parse_holiday_data,
    prc_calendar,
)

D = dt.date
FOLLOWING = BusinessDayConvention.FOLLOWING
MODIFIED_FOLLOWING = BusinessDayConvention.MODIFIED_FOLLOWING
PRECEDING = BusinessDayConvention.PRECEDING
MODIFIED_PRECEDING = BusinessDayConvention.MODIFIED_PRECEDING
NONE = BusinessDayConvention.NONE

CAL = prc_calendar()
BEYOND = chinese_calendar_years()[-1] + 1  # 2027 with chinese_calendar 1.11


def _weekend_on_or_after(day: dt.date) -> dt.date:
    while day.weekday() < 5:
        day += dt.timedelta(days=1)
    return day


def _beyond_year_file(tmp_path: Path) -> tuple[Path, dt.date]:
    """Synthetic holiday data for BEYOND (test data, not an official notice)."""
    makeup = _weekend_on_or_after(D(BEYOND, 9, 26))
    path = tmp_path / f"holidays-{BEYOND}.yaml"
    national_day = "\n".join(f"  - {BEYOND}-10-0{d}" for d in range(1, 8))
    path.write_text(
        f"# synthetic test data\nyear: {BEYOND}\nsource: test fixture\nholidays:\n"
        f"  - {BEYOND}-01-01\n{national_day}\nworkdays:\n  - {makeup.isoformat()}\n",
        encoding="utf-8",
    )
    return path, makeup


def _weekend_warnings(logs: Sequence[MutableMapping[str, Any]]) -> list[MutableMapping[str, Any]]:
    return [e for e in logs if e.get("source") == SOURCE_WEEKENDS_ONLY]


# ----- coverage of chinese_calendar -----------------------------------------------------------


def test_chinese_calendar_coverage_matches_what_the_package_accepts() -> None:
    years = chinese_calendar_years()
    chinese_calendar.is_workday(D(years[0], 6, 1))
    chinese_calendar.is_workday(D(years[-1], 6, 1))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(years[0] - 1, 6, 1))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(D(years[-1] + 1, 6, 1))
    if version("chinese_calendar") == "1.11.0":
        assert years == range(2004, 2027)


def test_calendar_agrees_with_chinese_calendar_every_day_of_covered_years() -> None:
    day = D(chinese_calendar_years()[0], 1, 1)
    end = D(chinese_calendar_years()[-1], 12, 31)
    while day <= end:
        assert CAL.is_business_day(day) == chinese_calendar.is_workday(day), day
        day += dt.timedelta(days=1)


def test_source_for_each_year() -> None:
    assert CAL.source_for(2024) == SOURCE_CHINESE_CALENDAR == "chinese_calendar"
    assert CAL.source_for(BEYOND) == "weekends only"
    assert CAL.source_for(2003) == "weekends only"
    assert CAL.covered_years() == tuple(chinese_calendar_years())


# ----- the case: 2024-03-31 + 5 business days --------------------------------------


def test_qingming_2024_makeup_sunday_counts() -> None:
    # Qingming 2024: Apr 4-6 off, Sunday Apr 7 worked (调休上班); 003 L202 / domain extract L729.
    assert not any(CAL.is_business_day(D(2024, 4, d)) for d in (4, 5, 6))
    assert CAL.is_business_day(D(2024, 4, 7)) and D(2024, 4, 7).weekday() == 6
    assert CAL.is_makeup_workday(D(2024, 4, 7))
    # Apr 1, 2, 3, 7, 8
    assert CAL.add_business_days(D(2024, 3, 31), 5) == D(2024, 4, 8)
    assert CAL.business_days_after(D(2024, 3, 31), 4) == D(2024, 4, 7)


def test_registry_without_makeup_days_gives_the_other_reading() -> None:
    cal = prc_calendar(count_makeup_workdays=False)
    assert not cal.is_business_day(D(2024, 4, 7))
    assert cal.add_business_days(D(2024, 3, 31), 5) == D(2024, 4, 9)  # Apr 1, 2, 3, 8, 9


# ----- Spring Festival and National Day weeks -----------------------------------------------


def test_spring_festival_2024_with_makeup_sundays() -> None:
    # Feb 10-17 off; Sun Feb 4 and Sun Feb 18 worked.
    assert CAL.is_business_day(D(2024, 2, 4))
    assert CAL.is_business_day(D(2024, 2, 9))  # 除夕 was a working day in 2024
    assert not any(CAL.is_business_day(D(2024, 2, d)) for d in range(10, 18))
    assert CAL.is_business_day(D(2024, 2, 18))
    assert CAL.add_business_days(D(2024, 2, 8), 2) == D(2024, 2, 18)
    assert CAL.adjust(D(2024, 2, 12), FOLLOWING) == D(2024, 2, 18)
    assert CAL.adjust(D(2024, 2, 12), PRECEDING) == D(2024, 2, 9)
    assert CAL.business_days_before(D(2024, 2, 19), 2) == D(2024, 2, 9)
    # Feb 2-29: 20 weekdays - 5 holiday weekdays (12-16) + 2 make-up Sundays (4, 18)
    assert CAL.count_business_days(D(2024, 2, 1), D(2024, 2, 29)) == 17


def test_spring_festival_2025_makeup_sunday_and_saturday() -> None:
    # Jan 28 - Feb 4 off; Sun Jan 26 and Sat Feb 8 worked.
    assert CAL.is_business_day(D(2025, 1, 26))
    assert CAL.is_business_day(D(2025, 2, 8))
    assert CAL.add_business_days(D(2025, 1, 27), 1) == D(2025, 2, 5)
    assert CAL.business_days_after(D(2025, 1, 31), 5) == D(2025, 2, 10)  # 5, 6, 7, 8(Sat), 10
    # a payment date on the 26th lands on the make-up Sunday and stays there
    assert CAL.adjust(D(2025, 1, 26), FOLLOWING) == D(2025, 1, 26)


def test_spring_festival_2026_distribution_date() -> None:
    # Feb 15-23 off; Sat Feb 14 and Sat Feb 28 worked. 6 BD before PD Thu 26 Feb:
    # 25, 24, 14 (Sat), 13, 12, 11.
    assert CAL.business_days_before(D(2026, 2, 26), 6) == D(2026, 2, 11)


def test_national_day_2024_makeup_sunday_and_saturday() -> None:
    # Oct 1-7 off; Sun Sep 29 and Sat Oct 12 worked.
    assert CAL.is_business_day(D(2024, 9, 29)) and CAL.is_business_day(D(2024, 10, 12))
    assert not any(CAL.is_business_day(D(2024, 10, d)) for d in range(1, 8))
    assert CAL.add_business_days(D(2024, 9, 27), 1) == D(2024, 9, 29)
    assert CAL.add_business_days(D(2024, 9, 30), 1) == D(2024, 10, 8)
    assert CAL.add_business_days(D(2024, 10, 8), -2) == D(2024, 9, 29)
    assert CAL.adjust(D(2024, 9, 28), FOLLOWING) == D(2024, 9, 29)


def test_national_day_2023_modified_following_rolls_back_into_september() -> None:
    # Sep 29 - Oct 6 off; Sat Oct 7 and Sun Oct 8 worked.
    assert CAL.adjust(D(2023, 9, 29), FOLLOWING) == D(2023, 10, 7)
    assert CAL.adjust(D(2023, 9, 29), MODIFIED_FOLLOWING) == D(2023, 9, 28)
    assert CAL.adjust(D(2023, 9, 30), MODIFIED_FOLLOWING) == D(2023, 9, 28)


# ----- conventions at month ends ------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "convention", "expected"),
    [
        (D(2024, 11, 30), NONE, D(2024, 11, 30)),
        (D(2024, 11, 30), FOLLOWING, D(2024, 12, 2)),
        (D(2024, 11, 30), MODIFIED_FOLLOWING, D(2024, 11, 29)),
        (D(2024, 11, 30), PRECEDING, D(2024, 11, 29)),
        (D(2024, 6, 1), PRECEDING, D(2024, 5, 31)),
        (D(2024, 6, 1), MODIFIED_PRECEDING, D(2024, 6, 3)),
        (D(2024, 11, 29), MODIFIED_FOLLOWING, D(2024, 11, 29)),  # business day: unchanged
        # 001: first PD 26 Dec 2021 (Sun) -> Mon 27 Dec (L10534); 26 Dec 2026 (Sat) -> 28 Dec
        (D(2021, 12, 26), MODIFIED_FOLLOWING, D(2021, 12, 27)),
        (D(2026, 12, 26), MODIFIED_FOLLOWING, D(2026, 12, 28)),
        # 26 Feb 2022 (Sat): following stays in February
        (D(2022, 2, 26), MODIFIED_FOLLOWING, D(2022, 2, 28)),
    ],
)
def test_conventions(day: dt.date, convention: BusinessDayConvention, expected: dt.date) -> None:
    assert CAL.adjust(day, convention) == expected


def test_convention_values_read_like_a_deal_file() -> None:
    assert BusinessDayConvention("modified_following") is MODIFIED_FOLLOWING
    assert CAL.adjust(D(2024, 11, 30), "modified_following") == D(2024, 11, 29)  # type: ignore[arg-type]


def test_add_business_days_zero_and_guards() -> None:
    assert CAL.add_business_days(D(2024, 4, 5), 0) == D(2024, 4, 7)
    assert CAL.add_business_days(D(2024, 4, 8), 0) == D(2024, 4, 8)
    with pytest.raises(CalendarError):
        CAL.business_days_after(D(2024, 4, 8), 0)
    with pytest.raises(CalendarError):
        CAL.business_days_before(D(2024, 4, 8), -1)
    assert CAL.count_business_days(D(2024, 4, 8), D(2024, 3, 31)) == -5


# ----- years beyond chinese_calendar --------------------------------------------------------


def test_beyond_coverage_without_file_is_weekends_only_with_one_warning_naming_the_year() -> None:
    cal = prc_calendar()
    with capture_logs() as logs:
        assert cal.is_business_day(D(BEYOND, 1, 1)) == (D(BEYOND, 1, 1).weekday() < 5)
        assert cal.is_business_day(D(BEYOND, 10, 1)) == (D(BEYOND, 10, 1).weekday() < 5)
        cal.add_business_days(D(BEYOND, 3, 1), 40)
    warnings = _weekend_warnings(logs)
    assert len(warnings) == 1
    (warning,) = warnings
    assert warning["log_level"] == "warning"
    assert warning["year"] == BEYOND
    assert str(BEYOND) in str(warning["event"])
    assert cal.source_for(BEYOND) == "weekends only"


def test_each_uncovered_year_warns_once() -> None:
    cal = BusinessCalendar.weekends_only()
    with capture_logs() as logs:
        cal.add_business_days(D(2031, 12, 20), 20)
        cal.add_business_days(D(2031, 12, 20), 20)
    assert [e["year"] for e in _weekend_warnings(logs)] == [2031, 2032]


def test_covered_years_do_not_warn() -> None:
    with capture_logs() as logs:
        CAL.add_business_days(D(2024, 3, 31), 5)
    assert _weekend_warnings(logs) == []


def test_beyond_coverage_with_operator_file(tmp_path: Path) -> None:
    path, makeup = _beyond_year_file(tmp_path)
    cal = load_calendar([path])
    assert cal.source_for(BEYOND) == f"operator file {path}"
    assert cal.source_for(2024) == "chinese_calendar"
    with capture_logs() as logs:
        assert not cal.is_business_day(D(BEYOND, 10, 1))
        assert not cal.is_business_day(D(BEYOND, 1, 1))
        assert cal.is_business_day(makeup) and makeup.weekday() >= 5
        next_day = cal.add_business_days(D(BEYOND, 9, 30), 1)
    assert _weekend_warnings(logs) == []
    assert next_day == cal.adjust(D(BEYOND, 10, 8), FOLLOWING)
    assert next_day >= D(BEYOND, 10, 8)


def test_load_calendar_dir(tmp_path: Path) -> None:
    path, _ = _beyond_year_file(tmp_path)
    (tmp_path / "README.txt").write_text("not a holiday file", encoding="utf-8")
    cal = load_calendar_dir(tmp_path)
    assert cal.source_for(BEYOND) == f"operator file {path}"
    assert load_calendar_dir(None) == CAL
    with pytest.raises(CalendarError, match="not a directory"):
        load_calendar_dir(tmp_path / "missing")


def test_operator_file_overrides_chinese_calendar_for_a_covered_year(tmp_path: Path) -> None:
    path = tmp_path / "holidays-2024.yaml"
    path.write_text("year: 2024\nholidays: [2024-04-08]\n", encoding="utf-8")
    with capture_logs() as logs:
        cal = load_calendar([path])
    assert [e["year"] for e in logs] == [2024]
    assert cal.source_for(2024) == f"operator file {path}"
    assert not cal.is_business_day(D(2024, 4, 8))
    assert not cal.is_business_day(D(2024, 4, 7))  # the file lists no make-up days


def test_two_files_for_one_year_are_refused(tmp_path: Path) -> None:
    a = parse_holiday_data({"year": 2030, "holidays": []}, "a.yaml")
    b = parse_holiday_data({"year": 2030, "holidays": []}, "b.yaml")
    with pytest.raises(
        CalendarError, match=r"two holiday files for year 2030: a\.yaml and b\.yaml"
    ):
        prc_calendar([a, b])


def test_json_holiday_file(tmp_path: Path) -> None:
    path = tmp_path / "h.json"
    path.write_text(
        json.dumps({"year": 2030, "holidays": ["2030-10-01"], "workdays": ["2030-09-29"]}),
        encoding="utf-8",
    )
    hf = load_holiday_file(path)
    assert hf.year == 2030
    assert hf.holidays == frozenset({D(2030, 10, 1)})
    assert hf.workdays == frozenset({D(2030, 9, 29)})
    assert hf.origin == str(path)


def test_no_business_day_for_a_year_is_an_error_not_a_hang() -> None:
    files = [
        parse_holiday_data(
            {"year": y, "holidays": [D(y, 1, 1) + dt.timedelta(days=i) for i in range(365)]},
            f"all-off-{y}.yaml",
        )
        for y in (2030, 2031)
    ]
    cal = BusinessCalendar.prc(files)
    with pytest.raises(CalendarError, match="no business day"):
        cal.adjust(D(2030, 6, 1), FOLLOWING)


# ----- malformed holiday files ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "field", "reason"),
    [
        ("- 2030-01-01\n", "<top level>", "must be a mapping"),
        ("holidays: []\n", "year", "missing"),
        ("year: '2030'\nholidays: []\n", "year", "must be an integer"),
        ("year: 1800\nholidays: []\n", "year", "outside"),
        ("year: 2030\n", "holidays", "missing"),
        ("year: 2030\nholidays: []\nholiday: []\n", "holiday", "unknown key"),
        ("year: 2030\nholidays: 2030-01-01\n", "holidays", "must be a list"),
        ("year: 2030\nholidays: [2030-13-01]\n", "holidays[0]", "not an ISO date"),
        ("year: 2030\nholidays: [2030-01-01, 2031-01-01]\n", "holidays[1]", "not in year 2030"),
        ("year: 2030\nholidays: [2030-01-01, 2030-01-01]\n", "holidays[1]", "listed twice"),
        ("year: 2030\nholidays: [5]\n", "holidays[0]", "is not a date"),
        ("year: 2030\nholidays: [2030-01-01 10:00:00]\n", "holidays[0]", "time of day"),
        ('{"year": 2030, "holidays": ["2030-02-30"]}', "holidays[0]", "not an ISO date"),
        ("year: 2030\nholidays: []\nworkdays: [2030-10-09]\n", "workdays[0]", "Wednesday"),
        (
            "year: 2030\nholidays: [2030-09-29]\nworkdays: [2030-09-29]\n",
            "workdays[0]",
            "both as a holiday and a workday",
        ),
        ("year: 2030\nsource: [x]\nholidays: []\n", "source", "must be text"),
        ("year: 2030\nholidays: [\n", "<file>", "not valid YAML/JSON at line"),
    ],
)
def test_malformed_holiday_file_names_file_field_and_reason(
    tmp_path: Path, text: str, field: str, reason: str
) -> None:
    path = tmp_path / "holidays-2030.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(HolidayFileError) as info:
        load_holiday_file(path)
    err = info.value
    assert err.origin == str(path)
    assert err.field == field
    assert reason in err.reason
    assert str(path) in str(err) and field in str(err)


def test_missing_holiday_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.yaml"
    with pytest.raises(HolidayFileError) as info:
        load_calendar([path])
    assert info.value.origin == str(path)
    assert info.value.field == "<file>"
    assert "cannot be read" in info.value.reason


def test_calendar_pickles(tmp_path: Path) -> None:
    path, _ = _beyond_year_file(tmp_path)
    cal = load_calendar([path])
    copy = pickle.loads(pickle.dumps(cal))
    assert copy == cal
    assert copy.add_business_days(D(2024, 3, 31), 5) == D(2024, 4, 8)
    assert copy.source_for(BEYOND) == f"operator file {path}"


def test_calendar_is_immutable_and_comparable() -> None:
    with pytest.raises(AttributeError):
        CAL.count_makeup_workdays = False  # type: ignore[misc]
    assert prc_calendar() == CAL
    assert hash(prc_calendar()) == hash(CAL)
    assert prc_calendar(count_makeup_workdays=False) != CAL
