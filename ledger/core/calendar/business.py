"""PRC business days with make-up working days (调休), and business-day arithmetic.

SPEC §3 (calendar bullet): "business days follow the PRC calendar including make-up working days
(调休)". Seed definitions: "any day on which commercial banks in the PRC are open for business,
except Saturdays, Sundays and nationwide public holidays" (001 L17980–L17984); 工作日 "a normal
corporate-banking day of PRC commercial banks, excluding statutory rest days and holidays" (004
L2555). Seed 001's Chinese text counts make-up working days as business days, "subject to the
requirements of the Registry" (001 L19661–L19689, see the structure extract's note 23); the
:attr:`BusinessCalendar.count_makeup_workdays` switch lets a deal follow a Registry that does not.

Where the day data for a year comes from is an explicit, testable decision
(:meth:`BusinessCalendar.source_for`), in this order:

1. an operator holiday file for that year (``ledger.core.calendar.holidays``), which also overrides
the
   bundled data (e.g. to apply a late State Council change);
2. the ``chinese_calendar`` package for the years it covers (2004–2026 in version 1.11; derived
   from its data, see :func:`chinese_calendar_years`);
3. otherwise weekends only, with a structlog warning naming the year, once per year and calendar.

Everything here is pure apart from that warning; the only file I/O is
``ledger.core.calendar.holidays.load_holiday_file`` and :func:`load_calendar`.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

import structlog

from ledger.core.calendar.holidays import HolidayFile, load_holiday_file

SOURCE_CHINESE_CALENDAR = "chinese_calendar"
SOURCE_WEEKENDS_ONLY = "weekends only"
OPERATOR_FILE_PREFIX = "operator file "
MAX_SEARCH_DAYS = 400  # no real calendar has a run of non-business days this long


class CalendarError(ValueError):
    """A date rule that cannot be evaluated (e.g. no business day within a year of a date)."""


class BusinessDayConvention(StrEnum):
    """How a date that is not a business day is moved (values as written in a deal file).

    ``modified_following`` is seed 001's general date rule: "the first following day that is a
    Business Day, unless that day falls in the next calendar month, in which case that date will
    be the first preceding day that is a Business Day" (001 L20951; Payment Date L19661–L19675).
    ``following`` is seeds 002/003/004's payment date rule ("if not a business day, the next
    business day", 004 L2885, 002 L216).
    """

    NONE = "none"
    FOLLOWING = "following"
    MODIFIED_FOLLOWING = "modified_following"
    PRECEDING = "preceding"
    MODIFIED_PRECEDING = "modified_preceding"


@dataclass(frozen=True)
class YearDays:
    """Exceptions to the Monday–Friday week for one year, and where they come from."""

    year: int
    holidays: frozenset[dt.date]
    workdays: frozenset[dt.date]
    source: str


def chinese_calendar_years() -> range:
    """The years the installed ``chinese_calendar`` covers (it raises for any other year)."""
    from chinese_calendar import constants

    years = [d.year for d in constants.holidays]
    return range(min(years), max(years) + 1)


@functools.cache
def _chinese_calendar_data() -> tuple[YearDays, ...]:
    from chinese_calendar import constants

    by_year: list[YearDays] = []
    for year in chinese_calendar_years():
        holidays = frozenset(d for d in constants.holidays if d.year == year)
        workdays = frozenset(d for d in constants.workdays if d.year == year)
        by_year.append(YearDays(year, holidays, workdays, SOURCE_CHINESE_CALENDAR))
    return tuple(by_year)


def _from_holiday_file(hf: HolidayFile) -> YearDays:
    return YearDays(hf.year, hf.holidays, hf.workdays, OPERATOR_FILE_PREFIX + hf.origin)


def last_day_of_month(year: int, month: int) -> dt.date:
    """The last calendar day of ``year``-``month``."""
    if month == 12:
        return dt.date(year, 12, 31)
    return dt.date(year, month + 1, 1) - dt.timedelta(days=1)


def day_in_month(year: int, month: int, day: int) -> dt.date:
    """``day`` of the month, clamped to the month's last day (31 → 30 Apr, 29 → 28 Feb 2025)."""
    if not 1 <= day <= 31:
        raise CalendarError(f"day of month {day} is outside 1..31")
    return min(dt.date(year, month, 1) + dt.timedelta(days=day - 1), last_day_of_month(year, month))


def add_months(year: int, month: int, months: int) -> tuple[int, int]:
    """(year, month) shifted by ``months`` (may be negative)."""
    index = year * 12 + (month - 1) + months
    return index // 12, index % 12 + 1


@dataclass(frozen=True)
class BusinessCalendar:
    """A PRC business-day calendar built from data (immutable; safe to share).

    ``years`` holds the per-year exceptions; a year not in it is weekends only (and warned about).
    ``count_makeup_workdays=False`` treats make-up Saturdays/Sundays as non-business days.
    """

    years: tuple[YearDays, ...] = ()
    count_makeup_workdays: bool = True
    _by_year: dict[int, YearDays] = field(init=False, repr=False, compare=False)
    _warned: set[int] = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        by_year: dict[int, YearDays] = {}
        for yd in self.years:
            if yd.year in by_year:
                raise CalendarError(
                    f"year {yd.year} given twice ({by_year[yd.year].source}; {yd.source})"
                )
            by_year[yd.year] = yd
        object.__setattr__(self, "_by_year", by_year)  # private; a plain dict so it pickles
        object.__setattr__(self, "_warned", set())

    # ----- construction -------------------------------------------------------------------

    @classmethod
    def prc(
        cls, holiday_files: Iterable[HolidayFile] = (), *, count_makeup_workdays: bool = True
    ) -> BusinessCalendar:
        """chinese_calendar's years, with operator holiday files added or overriding by year."""
        files = list(holiday_files)
        seen: dict[int, str] = {}
        for hf in files:
            if hf.year in seen:
                raise CalendarError(
                    f"two holiday files for year {hf.year}: {seen[hf.year]} and {hf.origin}"
                )
            seen[hf.year] = hf.origin
        data = {yd.year: yd for yd in _chinese_calendar_data()}
        log = structlog.get_logger(__name__)
        for hf in files:
            if hf.year in data:
                log.warning(
                    "calendar.operator_file_overrides_chinese_calendar",
                    year=hf.year,
                    file=hf.origin,
                )
            data[hf.year] = _from_holiday_file(hf)
        return cls(tuple(data[y] for y in sorted(data)), count_makeup_workdays)

    @classmethod
    def weekends_only(cls) -> BusinessCalendar:
        """No holiday data at all (every year warns); for tests and what-if runs."""
        return cls(())

    # ----- coverage -----------------------------------------------------------------------

    def source_for(self, year: int) -> str:
        """'chinese_calendar', 'operator file <path>' or 'weekends only' for ``year``."""
        yd = self._by_year.get(year)
        return yd.source if yd is not None else SOURCE_WEEKENDS_ONLY

    def covered_years(self) -> tuple[int, ...]:
        """Years with holiday data (from chinese_calendar or an operator file)."""
        return tuple(sorted(self._by_year))

    def _year(self, year: int) -> YearDays | None:
        yd = self._by_year.get(year)
        if yd is None and year not in self._warned:
            self._warned.add(year)
            structlog.get_logger(__name__).warning(
                f"no PRC holiday data for {year}: business days are weekends-only for {year}; "
                f"supply an operator holiday file for {year}",
                year=year,
                source=SOURCE_WEEKENDS_ONLY,
            )
        return yd

    # ----- single days --------------------------------------------------------------------

    def is_business_day(self, day: dt.date) -> bool:
        """True when PRC banks are open on ``day`` (make-up working days included by default)."""
        yd = self._year(day.year)
        if yd is not None:
            if day in yd.workdays:
                return self.count_makeup_workdays
            if day in yd.holidays:
                return False
        return day.weekday() < 5

    def is_makeup_workday(self, day: dt.date) -> bool:
        """True for a Saturday/Sunday that is an official working day (调休上班)."""
        yd = self._year(day.year)
        return yd is not None and day in yd.workdays

    def _step(self, day: dt.date, direction: int) -> dt.date:
        current = day
        for _ in range(MAX_SEARCH_DAYS):
            current += dt.timedelta(days=direction)
            if self.is_business_day(current):
                return current
        raise CalendarError(f"no business day within {MAX_SEARCH_DAYS} days of {day}")

    def next_business_day(self, day: dt.date) -> dt.date:
        """The first business day strictly after ``day``."""
        return self._step(day, 1)

    def previous_business_day(self, day: dt.date) -> dt.date:
        """The last business day strictly before ``day``."""
        return self._step(day, -1)

    # ----- conventions --------------------------------------------------------------------

    def adjust(self, day: dt.date, convention: BusinessDayConvention) -> dt.date:
        """Move ``day`` to a business day by ``convention`` (unchanged if already one)."""
        conv = BusinessDayConvention(convention)
        if conv is BusinessDayConvention.NONE or self.is_business_day(day):
            return day
        if conv is BusinessDayConvention.FOLLOWING:
            return self.next_business_day(day)
        if conv is BusinessDayConvention.PRECEDING:
            return self.previous_business_day(day)
        if conv is BusinessDayConvention.MODIFIED_FOLLOWING:
            following = self.next_business_day(day)
            return following if following.month == day.month else self.previous_business_day(day)
        preceding = self.previous_business_day(day)  # MODIFIED_PRECEDING
        return preceding if preceding.month == day.month else self.next_business_day(day)

    # ----- counting -----------------------------------------------------------------------

    def add_business_days(self, day: dt.date, n: int) -> dt.date:
        """The ``n``-th business day after ``day`` (``n`` > 0) or before it (``n`` < 0).

        ``day`` itself is never counted, whether or not it is a business day: "the 5th business
        day after each 计算日" (003 L202) from Sun 31 Mar 2024 counts Apr 1, 2, 3, 7 (make-up
        Sunday), 8. ``n`` = 0 returns ``day`` if it is a business day, else the next one.
        """
        if n == 0:
            return self.adjust(day, BusinessDayConvention.FOLLOWING)
        direction = 1 if n > 0 else -1
        current = day
        for _ in range(abs(n)):
            current = self._step(current, direction)
        return current

    def business_days_after(self, day: dt.date, n: int) -> dt.date:
        """ "The ``n``-th business day after ``day``" (``n`` ≥ 1), e.g. 003 L202, 001 L20134."""
        if n < 1:
            raise CalendarError(f"'{n} business days after' needs n >= 1")
        return self.add_business_days(day, n)

    def business_days_before(self, day: dt.date, n: int) -> dt.date:
        """ "The ``n``-th business day before ``day``" (``n`` ≥ 1), e.g. 信托分配日 = 支付日 − 6
        (003 L238, 004 L1756), Trust Company Report Date = PD − 5 (001 L20667)."""
        if n < 1:
            raise CalendarError(f"'{n} business days before' needs n >= 1")
        return self.add_business_days(day, -n)

    def business_days_in(self, start: dt.date, end: dt.date) -> Iterator[dt.date]:
        """Business days from ``start`` to ``end``, both included, in order."""
        current = start
        while current <= end:
            if self.is_business_day(current):
                yield current
            current += dt.timedelta(days=1)

    def count_business_days(self, start: dt.date, end: dt.date) -> int:
        """Business days in (``start``, ``end``]: how many business days ``end`` is after ``start``
        (e.g. a 5-business-day grace period after a 支付日, 003 L825). Negative if ``end`` <
        ``start``."""
        if end < start:
            return -self.count_business_days(end, start)
        return sum(1 for _ in self.business_days_in(start + dt.timedelta(days=1), end))


def prc_calendar(
    holiday_files: Iterable[HolidayFile] = (), *, count_makeup_workdays: bool = True
) -> BusinessCalendar:
    """The PRC calendar: chinese_calendar data plus any operator holiday files."""
    return BusinessCalendar.prc(holiday_files, count_makeup_workdays=count_makeup_workdays)


def load_calendar(
    holiday_files: Iterable[str | Path] = (), *, count_makeup_workdays: bool = True
) -> BusinessCalendar:
    """Load operator holiday files from disk and build the PRC calendar (the explicit loader)."""
    files = [load_holiday_file(p) for p in holiday_files]
    return prc_calendar(files, count_makeup_workdays=count_makeup_workdays)


HOLIDAY_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def load_calendar_dir(
    directory: str | Path | None, *, count_makeup_workdays: bool = True
) -> BusinessCalendar:
    """The PRC calendar plus every ``*.yaml``/``*.yml``/``*.json`` holiday file in ``directory``
    (sorted by name; ``None`` or an empty directory: chinese_calendar only)."""
    if directory is None:
        return prc_calendar(count_makeup_workdays=count_makeup_workdays)
    root = Path(directory)
    if not root.is_dir():
        raise CalendarError(f"holiday directory {root} does not exist or is not a directory")
    paths = sorted(p for p in root.iterdir() if p.suffix.lower() in HOLIDAY_FILE_SUFFIXES)
    return load_calendar(paths, count_makeup_workdays=count_makeup_workdays)
