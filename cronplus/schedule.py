"""Cron expressions: reading them, and the one function that says when a job fires.

cronplus evaluates cron itself rather than through croniter: a piped `status` must
compute next fire times without croniter's ~50 ms import, and the daemon, `next`,
`status` and `backfill` must all agree, so they all call `fire_times` (issue 3).
The rules are cronie's, numbered in docs/cron-semantics.md; croniter is only the
tests' oracle. The day rule (which dates of a month pass the day fields) is in
_schedule_days.py. Standard library only.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import TYPE_CHECKING

from cronplus._schedule_days import CronSchedule, dates_between, fires_ever, never_fires

if TYPE_CHECKING:
    from zoneinfo import ZoneInfo

__all__ = [
    "REBOOT",
    "CronSchedule",
    "ScheduleError",
    "fire_times",
    "fire_times_between",
    "fires_ever",
    "is_reboot",
    "never_fires",
    "parse_schedule",
    "previous_fire",
    "step_notes",
]

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
REBOOT = "@reboot"  # not a time: once at each daemon start (issue 14)
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"], 1
    )
}
_WEEKDAYS = {n: i for i, n in enumerate(["sun", "mon", "tue", "wed", "thu", "fri", "sat"])}
_DAY = timedelta(days=1)
_SECOND = timedelta(seconds=1)
_MILLISECOND = timedelta(milliseconds=1)
_CORRECTION = timedelta(hours=3)  # a zone's offset change over this is no DST (rule 11)
# Leaves room for the day arithmetic below without overflowing datetime.max.
_END_OF_TIME = datetime(9999, 12, 28, tzinfo=UTC)
# How far back `previous_fire` looks: no logical time is older than this.
_START_OF_TIME = datetime(1900, 1, 1, tzinfo=UTC)


class ScheduleError(ValueError):
    """A cron expression cronplus cannot read; the message names the field and the fault."""


class _Field:
    """A field's name for messages, its range and its names (a plain class: cheap to import)."""

    __slots__ = ("name", "lo", "hi", "names", "name_hint")

    def __init__(
        self, name: str, lo: int, hi: int, names: dict[str, int] | None = None, hint: str = ""
    ) -> None:
        self.name, self.lo, self.hi, self.names, self.name_hint = name, lo, hi, names, hint


_SEC = _Field("second", 0, 59)
_MIN = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MON = _Field("month", 1, 12, _MONTHS, " or a month name (JAN-DEC)")
_DOW = _Field("day-of-week", 0, 7, _WEEKDAYS, " or a weekday name (SUN-SAT)")


def _error(f: _Field, text: str, item: str, what: str) -> ScheduleError:
    """Quote the whole field, and the faulty part of it when that is not the whole."""
    if item == text:
        return ScheduleError(f'{f.name} field "{text}" {what}')
    shown = item if item.isdigit() else f'"{item}"'
    return ScheduleError(f'{f.name} field "{text}": {shown} {what}')


def _value(f: _Field, text: str, token: str) -> int:
    if token.isascii() and token.isdigit():
        n = int(token)
        if not f.lo <= n <= f.hi:
            raise _error(f, text, token, f"is out of range {f.lo}-{f.hi}")
        return n
    if f.names and token.lower() in f.names:
        return f.names[token.lower()]
    raise _error(f, text, token, f"is not a number{f.name_hint}")


def _plain(f: _Field, text: str, item: str) -> range:
    """`*`, `a`, `a-b`, each optionally `/step`; a step counts from the range's start."""
    body, slash, step_text = item.partition("/")
    if body == "*" or (body == "?" and (f is _DOM or f is _DOW)):
        start, end = f.lo, f.hi
    elif "-" in body:
        a, _, b = body.partition("-")
        start, end = _value(f, text, a), _value(f, text, b)
        if f is _DOW and end == 0 and start > 0:
            end = 7  # FRI-SUN: a weekday range ending at Sunday ends at 7
        if start > end:
            raise _error(f, text, body, "runs backwards")
    else:
        start = _value(f, text, body)
        if slash and f is _DOW and start == 7:
            # 7/N would step from Sunday past Saturday and match nothing; cronie refuses it
            raise _error(f, text, item, f"starts a step at 7 (use 0/{step_text}: 0 is Sunday too)")
        # a/s means a-max/s, as croniter and Quartz read it (cronie rejects it)
        end = (6 if f is _DOW else f.hi) if slash else start
    step = 1
    if slash:
        if not (step_text.isascii() and step_text.isdigit()):
            raise _error(f, text, item, f'has a step "{step_text}" that is not a number')
        step = int(step_text)
        if step < 1:
            raise _error(f, text, item, f"has a step {step}; a step is 1 or more")
    # A step past the range's end leaves its first value only, as in cronie (`step_notes`).
    return range(start, end + 1, step)


def _weekday(text: str, token: str) -> int:
    return _value(_DOW, text, token) % 7


def _parse_field(f: _Field, text: str) -> tuple[set[int], set[str | tuple[int, ...]]]:
    """Return the field's plain values and its L/LW/nL/# terms."""
    values: set[int] = set()
    special: set[str | tuple[int, ...]] = set()
    for item in text.split(","):
        upper = item.upper()
        if not item:
            raise ScheduleError(f'{f.name} field "{text}" has an empty list item')
        if f is _DOM and upper in ("L", "LW"):
            special.add(upper)
        elif f is _DOM and upper.endswith("W"):  # nW alone is read by `_nearest`
            raise _error(f, text, item, "(the weekday nearest a day) must be the field's only item")
        elif f is _DOW and "#" in item:
            day, _, k = item.partition("#")
            if not (k.isascii() and k.isdigit() and 1 <= int(k) <= 5):
                raise _error(f, text, item, f'has "#{k}"; expected #1 to #5')
            special.add((_weekday(text, day), int(k)))
        elif f is _DOW and upper == "L":
            raise _error(f, text, item, "needs a weekday before L (5L is the last Friday)")
        elif f is _DOW and upper.endswith("L"):
            special.add((_weekday(text, item[:-1]),))
        else:
            values.update(_plain(f, text, item))
    return values, special


def _fields(expr: str) -> list[str]:
    """The six fields, seconds first, of an expression or alias."""
    fields = expr.split()
    if len(fields) == 1 and fields[0].startswith("@"):
        alias = fields[0].lower()
        if alias not in _ALIASES:
            known = ", ".join(_ALIASES)
            raise ScheduleError(f'unknown alias "{fields[0]}" (expected one of {known})')
        fields = _ALIASES[alias].split()
    if len(fields) not in (5, 6):
        raise ScheduleError(f"expected 5 or 6 fields, got {len(fields)}")
    if len(fields) == 5:
        fields.insert(0, "0")
    return fields


def is_reboot(expr: str | None) -> bool:
    """`@reboot`: fired by the daemon's start, never by a time, so it has no fire times;
    every caller of `parse_schedule` on a job's schedule asks this first."""
    return expr is not None and expr.strip().lower() == REBOOT


def step_notes(expr: str) -> list[str]:
    """What a valid expression means that its writer may not expect: a step larger than
    its range (`*/60` minutes), which cronie accepts and reads as the range's first value."""
    notes: list[str] = []
    if is_reboot(expr):
        return notes
    for f, text in zip((_SEC, _MIN, _HOUR, _DOM, _MON, _DOW), _fields(expr), strict=True):
        for item in text.split(","):
            if "/" not in item or "#" in item:
                continue
            r = _plain(f, text, item)
            if len(r) == 1 and r.stop - 1 > r.start:
                step = item.partition("/")[2]
                notes.append(
                    f'{f.name} field "{text}": step {step} is larger than {r.start}-{r.stop - 1},'
                    f" so only {r.start} matches, as in cron"
                )
    return notes


def _nearest(text: str) -> int:
    """n for a day-of-month field `nW` (the weekday nearest day n), else 0."""
    if text.upper().endswith("W") and text.upper() != "LW" and "," not in text:
        return _value(_DOM, text, text[:-1])
    return 0


@lru_cache(maxsize=16_384)  # a jobs file may hold 10,000 schedules (issue 12)
def parse_schedule(expr: str) -> CronSchedule:
    """Parse a 5-field, 6-field (seconds first) or @alias expression, or say what is wrong."""
    sec, minute, hour, dom, month, dow = _fields(expr)
    nearest = _nearest(dom)
    days, dom_special = _parse_field(_DOM, dom) if not nearest else (set(), set())
    weekdays, dow_special = _parse_field(_DOW, dow)
    return CronSchedule(
        expr=expr,
        fixed_time=not (minute.startswith("*") or hour.startswith("*")),
        seconds=tuple(sorted(_parse_field(_SEC, sec)[0])),
        minutes=tuple(sorted(_parse_field(_MIN, minute)[0])),
        hours=tuple(sorted(_parse_field(_HOUR, hour)[0])),
        months=frozenset(_parse_field(_MON, month)[0]),
        days=frozenset(days),
        last_day="L" in dom_special,
        last_weekday="LW" in dom_special,
        nearest_weekday=nearest,
        weekdays=frozenset(d % 7 for d in weekdays),
        last_weekdays=frozenset(t[0] for t in dow_special if isinstance(t, tuple) and len(t) == 1),
        nth_weekdays=frozenset(t for t in dow_special if isinstance(t, tuple) and len(t) == 2),
        day_or=not (dom.startswith(("*", "?")) or dow.startswith(("*", "?"))),
    )


def _day_seconds(s: CronSchedule, start: int) -> Iterator[int]:
    """Matching seconds of the day from `start` on, in order."""
    for h in s.hours:
        if h * 3600 + 3599 < start:
            continue
        for m in s.minutes:
            base = h * 3600 + m * 60
            if base >= start:
                for sec in s.seconds:
                    yield base + sec
            elif base + 59 >= start:
                yield from (base + sec for sec in s.seconds if base + sec >= start)


def _wall_offset(wall: datetime) -> timedelta:
    offset = wall.utcoffset()
    assert offset is not None  # a ZoneInfo always has one
    return offset


def _offset(tz: ZoneInfo, instant: datetime) -> timedelta:
    return _wall_offset(instant.astimezone(tz))


def _transition(tz: ZoneInfo, lo: datetime, hi: datetime) -> datetime:
    """The first instant after `lo`, up to `hi`, that has `hi`'s offset.

    zoneinfo has no public list of transitions, so bisect; they fall on whole seconds.
    """
    target = _offset(tz, hi)
    lo_s, hi_s = 0, int((hi - lo).total_seconds())
    while hi_s - lo_s > 1:
        mid = (lo_s + hi_s) // 2
        if _offset(tz, lo + mid * _SECOND) == target:
            hi_s = mid
        else:
            lo_s = mid
    return lo + hi_s * _SECOND


@lru_cache(maxsize=4_096)  # 10,000 jobs ask about the same few days (issue 12)
def _day_offsets(tz: ZoneInfo, day: date) -> tuple[timedelta, ...]:
    """The zone's offsets at the start of `day` and of the next, each in both folds:
    all four equal means no transition touches the day."""
    d0 = datetime(day.year, day.month, day.day, tzinfo=tz)
    return tuple(_wall_offset(d.replace(fold=f)) for d in (d0, d0 + _DAY) for f in (0, 1))


def _instants(s: CronSchedule, tz: ZoneInfo, first: datetime, last: date) -> Iterator[datetime]:
    """Instants of the wall times from `first` (naive) on, non-decreasing, maybe repeated.

    A day whose offset is the same at both ends takes the fast path: one offset, no
    zoneinfo call per time. On a transition day, each wall time is placed against the
    transition (before it, after it, both: a repeated hour, or neither: a gap) and held
    in a heap until no later wall time can land before it, because a second-pass instant
    comes after later first-pass ones, and a repeated hour may even span midnight
    (America/St_Johns, until 2011). Since 1900 no zone has changed its offset twice
    within four days, so a day and its edges see at most one transition.
    """
    pending: list[datetime] = []
    for day in dates_between(s, first.date(), last):
        start = first.hour * 3600 + first.minute * 60 + first.second if day == first.date() else 0
        offs = _day_offsets(tz, day)
        base = datetime(day.year, day.month, day.day, tzinfo=UTC)
        if offs.count(offs[0]) == 4:
            while pending:
                yield heapq.heappop(pending)
            base -= offs[0]
            for sod in _day_seconds(s, start):
                yield base + timedelta(seconds=sod)
            continue
        lo, hi = base - max(offs), base + _DAY - min(offs)
        before, after = _offset(tz, lo), _offset(tz, hi)
        change = _transition(tz, lo, hi)
        # Over 3 hours is a correction, not DST (cron(8)): fixed-time as wildcard (rule 11)
        fixed = s.fixed_time and abs(after - before) <= _CORRECTION
        for sod in _day_seconds(s, start):
            wall = base + timedelta(seconds=sod)  # wall-clock numerals, labelled UTC
            first_pass = wall < change + before
            second_pass = wall >= change + after
            # Every later wall time lands at or after this bound, so what is below it is final.
            bound = wall - (before if first_pass else after)
            while pending and pending[0] < bound:
                yield heapq.heappop(pending)
            if first_pass:
                heapq.heappush(pending, wall - before)
            if second_pass and not (first_pass and fixed):
                heapq.heappush(pending, wall - after)  # a wildcard job runs in both passes
            if not first_pass and not second_pass and fixed:
                heapq.heappush(pending, change)  # in the gap: run once, right after it
    while pending:
        yield heapq.heappop(pending)


def fire_times(
    schedule: CronSchedule, tz: ZoneInfo, after: datetime, until: datetime | None = None
) -> Iterator[datetime]:
    """Fire times strictly after `after` and up to `until` (inclusive), as UTC instants.

    Times are computed on wall time in `tz` under rules 3-5 of docs/cron-semantics.md. The
    iterator ends at `until`, at once when no date can ever match, or near the year 9999.
    """
    for bound in (after, until):
        if bound is not None and bound.utcoffset() is None:
            raise ValueError(f"fire_times needs aware datetimes, got {bound!r}")
    start = after.astimezone(UTC)
    stop = _END_OF_TIME if until is None else min(until.astimezone(UTC), _END_OF_TIME)
    return _fire_times(schedule, tz, start, stop)


def _fire_times(
    s: CronSchedule, tz: ZoneInfo, after: datetime, stop: datetime
) -> Iterator[datetime]:
    if after >= stop or not fires_ever(s):
        return
    # A fall-back within the next day repeats wall times earlier than after's own,
    # and their second pass is still to come; start from the earliest such wall time.
    first = after + min(_offset(tz, after), _offset(tz, after + _DAY))
    latest = after
    for instant in _instants(s, tz, first.replace(tzinfo=None), (stop + _DAY).date()):
        if instant > latest:  # drops what is not after `after`, and gap-end duplicates
            if instant > stop:
                return
            latest = instant
            yield instant


def fire_times_between(
    schedule: CronSchedule, tz: ZoneInfo, start: datetime, end: datetime
) -> list[datetime]:
    """Fire times t with start <= t <= end, e.g. every slot of one day for `status --on`."""
    return list(fire_times(schedule, tz, start - timedelta(microseconds=1), end))


def previous_fire(schedule: CronSchedule, tz: ZoneInfo, before: datetime) -> datetime | None:
    """The last fire time strictly before `before` (a run's data interval starts there),
    under the same rules as `fire_times`, which it asks forward: a window back from
    `before`, growing fourfold from the time to the next fire time, until a fire time
    falls in it; then the window is halved towards `before` while one still does, down
    to a millisecond (fire times are whole seconds, so one is left). Each look takes one
    fire time, never a walk over all those in the window (a per-second job in January
    asked in December). None if the schedule never fired since 1900."""
    if before.utcoffset() is None:
        raise ValueError(f"previous_fire needs an aware datetime, got {before!r}")
    end = before.astimezone(UTC) - timedelta(microseconds=1)
    if not fires_ever(schedule) or end <= _START_OF_TIME:
        return None
    here = before.astimezone(UTC)
    following = next(_fire_times(schedule, tz, here, _END_OF_TIME), None)
    window = max(_SECOND, following - here) if following else _SECOND
    while True:
        low = max(end - window, _START_OF_TIME)
        found = next(_fire_times(schedule, tz, low, end), None)
        if found is not None:
            break
        if low == _START_OF_TIME:
            return None
        window *= 4
    if next(_fire_times(schedule, tz, found, end), None) is None:
        return found  # the usual case: the window holds one fire time
    high = end  # no fire time after `high` up to `end`
    while high - low > _MILLISECOND:
        middle = low + (high - low) / 2
        later = next(_fire_times(schedule, tz, middle, end), None)
        if later is None:
            high = middle
        else:
            low, found = middle, later
    return found
