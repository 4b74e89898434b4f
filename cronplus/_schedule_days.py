"""The day rule of cron expressions: which dates of a month a schedule fires on.

`CronSchedule` is what `schedule.parse_schedule` reads an expression into; this module
says which days of a month pass its two day fields (rule 2 of docs/cron-semantics.md)
and its extensions (rule 8: L, LW, nW, nL, DAY#k), whether any date ever does, and
why not. Split from schedule.py, which keeps the syntax and the times of day with DST.
Standard library only: a piped `status` imports it.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

_MONTH_NAMES: tuple[str, ...] = (
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
)
_MONTH_NAMES += ("September", "October", "November", "December")
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True, slots=True)
class CronSchedule:
    """A parsed expression. Hashable, so parses are cached and shared."""

    expr: str  # as written
    fixed_time: bool  # neither minute nor hour field starts with "*" (DST rules 3-5)
    seconds: tuple[int, ...]  # sorted; (0,) for five fields
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    months: frozenset[int]
    days: frozenset[int]  # plain day-of-month numbers
    last_day: bool  # L
    last_weekday: bool  # LW: the last day, moved back to Friday from a weekend
    nearest_weekday: int  # nW: n (the month's last day if shorter) to a weekday; 0: none
    weekdays: frozenset[int]  # 0 is Sunday
    last_weekdays: frozenset[int]  # nL: the last weekday n of the month
    nth_weekdays: frozenset[tuple[int, int]]  # DAY#k as (weekday, k)
    day_or: bool  # neither day field starts with "*": a day may match either (rule 2)


@lru_cache(maxsize=16_384)  # the same few months, asked by every job (issue 12)
def _month_days(s: CronSchedule, year: int, month: int) -> tuple[int, ...]:
    """The days of one month that pass the day rule, in order."""
    leap = month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    n = _DAYS_IN_MONTH[month] + leap
    first = (date(year, month, 1).weekday() + 1) % 7  # cron weekday of the 1st
    last = (first + n - 1) % 7
    by_date = {d for d in s.days if d <= n}
    if s.last_day:
        by_date.add(n)
    if s.last_weekday:
        by_date.add(n - {6: 1, 0: 2}.get(last, 0))  # from Saturday or Sunday back to Friday
    if s.nearest_weekday:
        by_date.add(_nearest_weekday(min(s.nearest_weekday, n), first, n))
    by_weekday: set[int] = set()
    for wd in s.weekdays:
        by_weekday.update(range(1 + (wd - first) % 7, n + 1, 7))
    for wd in s.last_weekdays:
        by_weekday.add(n - (last - wd) % 7)
    for wd, k in s.nth_weekdays:
        if (d := 1 + (wd - first) % 7 + 7 * (k - 1)) <= n:
            by_weekday.add(d)
    return tuple(sorted(by_date | by_weekday if s.day_or else by_date & by_weekday))


def _nearest_weekday(day: int, first: int, n: int) -> int:
    """The weekday nearest `day` in a month of `n` days whose 1st is cron weekday
    `first`, never leaving the month: a Saturday moves to the Friday before unless it is
    the 1st (then to Monday the 3rd), a Sunday to the Monday after unless it is the last
    day (then to the Friday before)."""
    weekday = (first + day - 1) % 7
    if weekday == 6:
        return day - 1 if day > 1 else day + 2
    if weekday == 0:
        return day + 1 if day < n else day - 2
    return day


@lru_cache(maxsize=16_384)  # a jobs file may hold 10,000 schedules (issue 12)
def fires_ever(s: CronSchedule) -> bool:
    """Whether any date passes the day rule: "0 0 30 2 *" never fires, so `fire_times`
    must end rather than search, and the jobs file is refused.

    The day rule sees a month only as its length and the weekday of its 1st. Each such
    pair the calendar ever has occurs in 2000-2027: with no century year skipping a leap
    year among them (2000 is a leap year), those 28 years are a whole Julian cycle,
    holding each of the 14 kinds of year. So at most 28 x 12 months are looked at, and
    a rule none of them passes never fires (tests check this against 400 years, the
    Gregorian cycle).
    """
    return any(_month_days(s, year, m) for year in range(2000, 2028) for m in s.months)


def never_fires(s: CronSchedule) -> str | None:
    """Why no date ever passes the day rule (`never fires: ...` in the jobs file's
    problems), or None when some date does."""
    if fires_ever(s):
        return None
    any_weekday = s.weekdays == frozenset(range(7)) and not (s.last_weekdays or s.nth_weekdays)
    if any_weekday and s.days and not (s.day_or or s.last_day or s.last_weekday):
        days = [str(d) for d in sorted(s.days)]  # each past every chosen month's end
        months = [_MONTH_NAMES[m] for m in sorted(s.months)]
        return f"no month has a {_either(days)} {_either(months)}"
    return "no date matches its day-of-month, month and day-of-week fields together"


def _either(words: list[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} or {words[-1]}"


def dates_between(s: CronSchedule, first: date, last: date) -> Iterator[date]:
    """Matching dates from `first` to `last`, month by month, so rare rules are found fast."""
    year, month = first.year, first.month
    while (year, month) <= (last.year, last.month):
        if month in s.months:
            for d in _month_days(s, year, month):
                if first <= (day := date(year, month, d)) <= last:
                    yield day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
