"""Schedule semantics (issue 3, docs/cron-semantics.md): parsing, the day rule, extensions, DST.

No clock and no sleeping: every test passes the instant to start from. croniter is
used only here, as an oracle for plain syntax in UTC, where it agrees with cronie.
"""

from __future__ import annotations

import calendar
import random
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from cronplus.schedule import (
    CronSchedule,
    ScheduleError,
    fire_times,
    fire_times_between,
    fires_ever,
    parse_schedule,
)

BERLIN = "Europe/Berlin"
NEW_YORK = "America/New_York"


def fires(expr: str, zone: str, after: str, n: int | None = None, until: str | None = None):
    """The next fire times as ISO strings in the job's zone, as `next` prints them."""
    tz = ZoneInfo(zone)
    end = datetime.fromisoformat(until) if until else None
    times = fire_times(parse_schedule(expr), tz, datetime.fromisoformat(after), end)
    return [t.astimezone(tz).isoformat(timespec="minutes") for t in islice(times, n)]


def days(expr: str, after: str, until: str) -> list[int]:
    """Days of the month on which a daily-or-rarer schedule fires, in UTC."""
    return [int(t[8:10]) for t in fires(expr, "UTC", after, until=until)]


# --- DST: spring forward ------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [
        pytest.param(
            "30 2 * * *",
            BERLIN,
            "2026-03-29T00:00+01:00",
            ["2026-03-29T03:00+02:00", "2026-03-30T02:30+02:00"],
            id="2026-03-29T02:30+01:00-Europe/Berlin",
        ),
        pytest.param(
            "30 2 * * *",
            NEW_YORK,
            "2026-03-08T00:00-05:00",
            ["2026-03-08T03:00-04:00", "2026-03-09T02:30-04:00"],
            id="2026-03-08T02:30-05:00-America/New_York",
        ),
        pytest.param(  # read literally, 0-23/2 is fixed-time, unlike */2
            "0 0-23/2 * * *",
            NEW_YORK,
            "2026-03-08T01:00-05:00",
            ["2026-03-08T03:00-04:00", "2026-03-08T04:00-04:00"],
            id="2026-03-08T02:00-05:00-America/New_York-0-23/2",
        ),
    ],
)
def test_spring_forward_fixed_time_runs_at_gap_end(expr, zone, after, expected):
    assert fires(expr, zone, after, 2) == expected


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        pytest.param(
            "0 */2 * * *",
            "2026-03-08T00:00-05:00",
            ["2026-03-08T04:00-04:00", "2026-03-08T06:00-04:00"],
            id="2026-03-08T02:00-05:00-0-*/2",
        ),
        pytest.param(
            "*/30 2 * * *",
            "2026-03-07T12:00-05:00",
            ["2026-03-09T02:00-04:00", "2026-03-09T02:30-04:00"],
            id="2026-03-08T02:00-05:00-*/30-2",
        ),
    ],
)
def test_spring_forward_wildcard_times_in_gap_do_not_happen(expr, after, expected):
    assert fires(expr, NEW_YORK, after, 2) == expected


def test_spring_forward_wildcard_quarter_hours_skip_the_gap_hour():
    day = fires("*/15 * * * *", NEW_YORK, "2026-03-07T23:59-05:00", until="2026-03-08T23:59-04:00")
    assert len(day) == 23 * 4
    assert not [t for t in day if t[11:13] == "02"]
    assert day[7:9] == ["2026-03-08T01:45-05:00", "2026-03-08T03:00-04:00"]


@pytest.mark.parametrize(
    ("expr", "expected"),
    [
        pytest.param(
            "15,45 2 * * *",
            ["2026-03-29T03:00+02:00", "2026-03-30T02:15+02:00", "2026-03-30T02:45+02:00"],
            id="2026-03-29T02:15+01:00,02:45+01:00",
        ),
        pytest.param(  # 02:00 moves to 03:00, which is also a time of its own
            "0 2,3 * * *",
            ["2026-03-29T03:00+02:00", "2026-03-30T02:00+02:00", "2026-03-30T03:00+02:00"],
            id="2026-03-29T02:00+01:00,03:00+02:00",
        ),
        pytest.param(
            "0-59 2 * * *",
            ["2026-03-29T03:00+02:00", "2026-03-30T02:00+02:00", "2026-03-30T02:01+02:00"],
            id="2026-03-29T02:00+01:00-02:59+01:00",
        ),
    ],
)
def test_spring_forward_several_fixed_times_in_gap_run_once(expr, expected):
    assert fires(expr, BERLIN, "2026-03-29T00:00+01:00", 3) == expected


# --- DST: fall back -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [
        pytest.param(
            "30 1 * * *",
            NEW_YORK,
            "2026-10-31T12:00-04:00",
            ["2026-11-01T01:30-04:00", "2026-11-02T01:30-05:00"],
            id="2026-11-01T01:30-04:00-America/New_York",
        ),
        pytest.param(
            "30 2 * * *",
            BERLIN,
            "2026-10-24T12:00+02:00",
            ["2026-10-25T02:30+02:00", "2026-10-26T02:30+01:00"],
            id="2026-10-25T02:30+02:00-Europe/Berlin",
        ),
    ],
)
def test_fall_back_fixed_time_runs_once_in_first_pass(expr, zone, after, expected):
    assert fires(expr, zone, after, 2) == expected


@pytest.mark.parametrize(
    ("expr", "zone", "after", "expected"),
    [
        pytest.param(
            "30 1 * * *",
            NEW_YORK,
            "2026-11-01T01:15-05:00",
            "2026-11-02T01:30-05:00",
            id="2026-11-01T01:15-05:00-America/New_York",
        ),
        pytest.param(
            "30 2 * * *",
            BERLIN,
            "2026-10-25T02:15+01:00",
            "2026-10-26T02:30+01:00",
            id="2026-10-25T02:15+01:00-Europe/Berlin",
        ),
    ],
)
def test_fall_back_fixed_time_after_in_second_pass_runs_next_day(expr, zone, after, expected):
    assert fires(expr, zone, after, 1) == [expected]


def test_fall_back_wildcard_runs_in_both_passes():
    assert fires(
        "0 * * * *", NEW_YORK, "2026-11-01T00:00-04:00", until="2026-11-01T03:00-05:00"
    ) == [
        "2026-11-01T01:00-04:00",
        "2026-11-01T01:00-05:00",
        "2026-11-01T02:00-05:00",
        "2026-11-01T03:00-05:00",
    ]


def test_fall_back_wildcard_after_in_first_pass_still_gets_second_pass():
    expected = ["2026-11-01T01:00-05:00", "2026-11-01T01:30-05:00", "2026-11-02T01:00-05:00"]
    assert fires("*/30 1 * * *", NEW_YORK, "2026-11-01T01:45-04:00", 3) == expected


def test_fall_back_second_pass_comes_after_later_first_pass_times():
    """01:00-05:00 is the same instant as 02:00-04:00 would be: order is by instant."""
    got = fires("*/20 0-2 * * *", NEW_YORK, "2026-11-01T00:50-04:00", 7)
    assert got == [
        "2026-11-01T01:00-04:00",
        "2026-11-01T01:20-04:00",
        "2026-11-01T01:40-04:00",
        "2026-11-01T01:00-05:00",
        "2026-11-01T01:20-05:00",
        "2026-11-01T01:40-05:00",
        "2026-11-01T02:00-05:00",
    ]


def test_fall_back_fixed_hourly_list_runs_24_times_wildcard_25():
    day = {"after": "2026-10-31T23:59-04:00", "until": "2026-11-01T23:59-05:00"}
    assert len(fires("0 0-23 * * *", NEW_YORK, **day)) == 24
    assert len(fires("0 * * * *", NEW_YORK, **day)) == 25


def test_fall_back_weekly_sunday_0200_runs_once():
    assert fires("0 2 * * SUN", BERLIN, "2026-10-24T12:00+02:00", 2) == [
        "2026-10-25T02:00+02:00",
        "2026-11-01T02:00+01:00",
    ]


# --- DST: against a brute force written from the rules ------------------------------


def reference(expr: str, tz: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """Step through UTC minute by minute and apply rules 3-5 of docs/cron-semantics.md literally.

    Instants in (start, end]; only for `*` day fields and whole-minute times.
    """
    s = parse_schedule(expr)

    def hits(wall: datetime) -> bool:
        return wall.hour in s.hours and wall.minute in s.minutes

    out: set[datetime] = set()
    minute = timedelta(minutes=1)
    instant = start + minute
    prev = start.astimezone(tz).replace(tzinfo=None)
    while instant <= end:
        local = instant.astimezone(tz)
        wall = local.replace(tzinfo=None, fold=0)
        skipped = wall - prev - minute  # wall time jumped forward: those times did not exist
        # rule 11: a change of over 3 hours is a correction, where fixed-time is wildcard
        repeated = local.utcoffset() - local.replace(fold=0).utcoffset()
        fixed = s.fixed_time and skipped <= timedelta(hours=3) and -repeated <= timedelta(hours=3)
        if (
            fixed
            and skipped
            and any(hits(prev + minute * (i + 1)) for i in range(skipped // minute))
        ):
            out.add(instant)
        if hits(wall) and (local.fold == 0 or not fixed):
            out.add(instant)
        prev = wall
        instant += minute
    return sorted(out)


TRANSITIONS = [
    pytest.param(BERLIN, "2026-03-29", id="2026-03-29-Europe/Berlin"),
    pytest.param(BERLIN, "2026-10-25", id="2026-10-25-Europe/Berlin"),
    pytest.param(NEW_YORK, "2026-03-08", id="2026-03-08-America/New_York"),
    pytest.param(NEW_YORK, "2026-11-01", id="2026-11-01-America/New_York"),
    pytest.param("Australia/Lord_Howe", "2026-04-05", id="2026-04-05-Australia/Lord_Howe"),
    pytest.param("Australia/Lord_Howe", "2026-10-04", id="2026-10-04-Australia/Lord_Howe"),
    pytest.param("America/St_Johns", "2005-10-30", id="2005-10-29T23:01-America/St_Johns"),
    pytest.param("Asia/Beirut", "2026-10-25", id="2026-10-24T23:00-Asia/Beirut"),
    pytest.param("America/Santiago", "2026-09-06", id="2026-09-06T00:00-America/Santiago"),
    pytest.param("Pacific/Apia", "2011-12-30", id="2011-12-30-Pacific/Apia-skipped-day"),
    pytest.param("Pacific/Kwajalein", "1969-10-01", id="1969-09-30-Pacific/Kwajalein-repeated-day"),
    pytest.param("Pacific/Kwajalein", "1993-08-21", id="1993-08-21-Pacific/Kwajalein-skipped-day"),
    pytest.param("Antarctica/Casey", "2009-10-18", id="2009-10-18-Antarctica/Casey-3h-forward"),
    pytest.param("Antarctica/Casey", "2010-03-05", id="2010-03-05-Antarctica/Casey-3h-back"),
]
DST_EXPRESSIONS = [
    "30 2 * * *",
    "0 * * * *",
    "*/15 * * * *",
    "15,45 1,2 * * *",
    "0 0 * * *",
    "30 23 * * *",
    "0 0-23/2 * * *",
    "0 */2 * * *",
    "59 23 * * *",
    "* 0 * * *",
    "1 0 * * *",
    "0-59 2 * * *",
    "*/20 0-3,22,23 * * *",
]


@pytest.mark.parametrize(("zone", "day"), TRANSITIONS)
def test_dst_transitions_match_brute_force_of_the_rules(zone, day):
    tz = ZoneInfo(zone)
    start = datetime.fromisoformat(day).replace(tzinfo=tz).astimezone(UTC) - timedelta(days=1)
    end = start + timedelta(days=3)
    for expr in DST_EXPRESSIONS:
        expected = reference(expr, tz, start, end)
        schedule = parse_schedule(expr)
        assert list(fire_times(schedule, tz, start, end)) == expected, expr
        for after in (start + timedelta(minutes=17 * i) for i in range(3 * 24 * 60 // 17)):
            nxt = [t for t in expected if t > after][:3]
            got = list(islice(fire_times(schedule, tz, after, end), 3))
            assert got == nxt, (expr, after.astimezone(tz).isoformat())


def test_six_fields_seconds_first_follow_the_same_dst_rules():
    for zone, after in [
        (BERLIN, "2026-03-28T12:00+01:00"),
        (BERLIN, "2026-10-24T12:00+02:00"),
        (BERLIN, "2026-10-25T02:15+01:00"),
        (NEW_YORK, "2026-11-01T00:00-04:00"),
    ]:
        assert fires("0 30 2 * * *", zone, after, 3) == fires("30 2 * * *", zone, after, 3)
        assert fires("0 0 * * * *", zone, after, 30) == fires("0 * * * *", zone, after, 30)
    assert parse_schedule("* 30 2 * * *").fixed_time  # seconds never make a job wildcard


def test_six_fields_put_seconds_first():
    tz = ZoneInfo("UTC")
    after = datetime(2026, 1, 1, tzinfo=UTC)
    got = list(islice(fire_times(parse_schedule("*/20 1 * * * *"), tz, after), 4))
    assert [t.strftime("%H:%M:%S") for t in got] == ["00:01:00", "00:01:20", "00:01:40", "01:01:00"]


# --- The iterator's contract ------------------------------------------------------------


def test_fire_times_are_utc_instants_strictly_after_after():
    tokyo = datetime(2026, 1, 1, 9, 0, tzinfo=ZoneInfo("Asia/Tokyo"))  # 00:00Z, a fire time
    got = list(islice(fire_times(parse_schedule("0 * * * *"), ZoneInfo(BERLIN), tokyo), 2))
    assert got == [datetime(2026, 1, 1, 1, tzinfo=UTC), datetime(2026, 1, 1, 2, tzinfo=UTC)]
    assert all(t.tzinfo is UTC for t in got)
    mid_second = datetime(2026, 1, 1, 0, 0, 0, 500_000, tzinfo=UTC)
    got = next(fire_times(parse_schedule("* * * * * *"), ZoneInfo("UTC"), mid_second))
    assert got == datetime(2026, 1, 1, 0, 0, 1, tzinfo=UTC)


def test_until_is_inclusive_and_ends_the_iterator():
    got = fires("0 * * * *", "UTC", "2026-01-01T00:00+00:00", until="2026-01-01T03:00+00:00")
    assert got == ["2026-01-01T01:00+00:00", "2026-01-01T02:00+00:00", "2026-01-01T03:00+00:00"]
    assert fires("* * * * *", "UTC", "2026-01-01T03:00+00:00", until="2026-01-01T02:00+00:00") == []


def test_fire_times_between_includes_both_ends():
    tz = ZoneInfo(NEW_YORK)
    start = datetime(2026, 11, 1, tzinfo=tz).astimezone(UTC)
    got = fire_times_between(parse_schedule("@hourly"), tz, start, start + timedelta(hours=2))
    assert [t.astimezone(tz).isoformat() for t in got] == [
        "2026-11-01T00:00:00-04:00",
        "2026-11-01T01:00:00-04:00",
        "2026-11-01T01:00:00-05:00",
    ]


def test_naive_datetimes_are_refused():
    s, utc = parse_schedule("* * * * *"), ZoneInfo("UTC")
    with pytest.raises(ValueError, match="aware"):
        fire_times(s, utc, datetime(2026, 1, 1))
    with pytest.raises(ValueError, match="aware"):
        fire_times(s, utc, datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 1, 2))


def test_iterator_ends_near_the_end_of_time():
    got = fires("0 0 * * *", "UTC", "9999-12-20T00:00+00:00")
    assert got[-1] == "9999-12-28T00:00+00:00"


def test_per_second_day_yields_every_second():
    tz = ZoneInfo(BERLIN)
    s = parse_schedule("* * * * * *")
    for day, count in [("2026-06-01", 86_400), ("2026-03-29", 82_800), ("2026-10-25", 90_000)]:
        start = datetime.fromisoformat(day).replace(tzinfo=tz)
        end = (start + timedelta(days=1)).astimezone(UTC) - timedelta(seconds=1)
        got = fire_times_between(s, tz, start, end)
        assert len(got) == count
        assert all(b - a == timedelta(seconds=1) for a, b in zip(got, got[1:], strict=False))


def test_never_firing_expression_ends():
    after = "2026-01-01T00:00+00:00"
    assert fires("0 0 30 2 *", "UTC", after) == []
    assert fires("0 0 31 4,6,9,11 *", "UTC", after) == []


def test_28_years_hold_every_kind_of_month_four_centuries_do():
    # fires_ever looks at 2000-2027 only: the day rule sees a month as its length and
    # the weekday of its 1st, and the Gregorian calendar repeats every 400 years.
    def kinds(years: range) -> set[tuple[int, int, int]]:
        return {(m, *calendar.monthrange(y, m)) for y in years for m in range(1, 13)}

    assert kinds(range(2000, 2028)) == kinds(range(2000, 2400))


@pytest.mark.parametrize(
    "expr, ever",
    [
        ("0 0 30 2 *", False),
        ("0 0 31 4,6,9,11 *", False),
        ("0 0 29 2 *", True),
        ("0 0 * 2 MON#5", True),  # only when 29 February is a Monday
        ("0 0 29 2 ?", True),
    ],
)
def test_fires_ever(expr, ever):
    assert fires_ever(parse_schedule(expr)) is ever


def test_rare_expression_is_found_years_ahead():
    assert fires("0 0 29 2 *", "UTC", "2026-01-01T00:00+00:00", 2) == [
        "2028-02-29T00:00+00:00",
        "2032-02-29T00:00+00:00",
    ]
    assert fires("0 0 29 2 *", "UTC", "2096-03-01T00:00+00:00", 1) == ["2104-02-29T00:00+00:00"]


# --- Syntax and the day rule --------------------------------------------------------------

JAN = {"after": "2025-12-31T12:00+00:00", "until": "2026-01-31T23:59+00:00"}


def test_day_rule_either_when_neither_field_starts_with_star():
    assert days("0 0 13 * FRI", **JAN) == [2, 9, 13, 16, 23, 30]


def test_day_rule_both_when_a_field_starts_with_star():
    assert days("0 0 */2 * MON", **JAN) == [5, 19]  # odd days that are Mondays
    assert days("0 0 * * MON", **JAN) == [5, 12, 19, 26]
    assert days("0 0 ? * MON", **JAN) == [5, 12, 19, 26]
    assert days("0 0 1,15 * *", **JAN) == [1, 15]


def test_day_rule_full_range_is_not_a_star():
    assert days("0 0 1-31 * MON", **JAN) == list(range(1, 32))


def test_sunday_is_0_and_7_and_names_any_case():
    sundays = [4, 11, 18, 25]
    for dow in ("0", "7", "SUN", "sun", "Sun"):
        assert days(f"0 0 * * {dow}", **JAN) == sundays
    assert days("0 0 * * mon-FRI", **JAN)[:5] == [1, 2, 5, 6, 7]
    assert fires("0 0 1 jan,JUL *", "UTC", "2026-01-01T00:00+00:00", 2) == [
        "2026-07-01T00:00+00:00",
        "2027-01-01T00:00+00:00",
    ]


@pytest.mark.parametrize("dow", ["FRI-SUN", "fri-sun", "5-0", "5-7"])
def test_weekday_range_ending_at_sunday_wraps(dow):
    assert days(f"0 0 * * {dow}", **JAN) == [2, 3, 4, 9, 10, 11, 16, 17, 18, 23, 24, 25, 30, 31]


def test_step_restarts_at_start_of_field():
    got = fires("*/25 * * * *", "UTC", "2025-12-31T23:59+00:00", 6)
    assert [t[11:16] for t in got] == ["00:00", "00:25", "00:50", "01:00", "01:25", "01:50"]
    got = fires("0 */23 * * *", "UTC", "2025-12-31T23:59+00:00", 3)
    assert [t[11:16] for t in got] == ["00:00", "23:00", "00:00"]
    got = fires("5/20 * * * *", "UTC", "2025-12-31T23:59+00:00", 4)
    assert [t[11:16] for t in got] == ["00:05", "00:25", "00:45", "01:05"]


def test_last_day_of_month():
    got = fires("0 0 L * *", "UTC", "2027-12-31T12:00+00:00", 3)
    assert got == ["2028-01-31T00:00+00:00", "2028-02-29T00:00+00:00", "2028-03-31T00:00+00:00"]


def test_last_weekday_of_month_moves_back_from_weekend():
    got = fires("0 0 LW * *", "UTC", "2025-12-31T12:00+00:00", 5)
    assert [t[:10] for t in got] == [
        "2026-01-30",  # the 31st is a Saturday
        "2026-02-27",  # the 28th is a Saturday
        "2026-03-31",  # a Tuesday
        "2026-04-30",
        "2026-05-29",  # the 31st is a Sunday
    ]


@pytest.mark.parametrize("dow", ["5L", "FRIL", "fril"])
def test_last_friday_of_month(dow):
    got = fires(f"0 0 * * {dow}", "UTC", "2025-12-31T12:00+00:00", 3)
    assert [t[:10] for t in got] == ["2026-01-30", "2026-02-27", "2026-03-27"]


def test_nth_weekday_of_month():
    got = fires("0 0 * * MON#2", "UTC", "2025-12-31T12:00+00:00", 3)
    assert [t[:10] for t in got] == ["2026-01-12", "2026-02-09", "2026-03-09"]
    got = fires("0 0 * * 1#5", "UTC", "2025-12-31T12:00+00:00", 2)  # only months with five
    assert [t[:10] for t in got] == ["2026-03-30", "2026-06-29"]


def test_nth_weekday_with_day_of_month_is_either():
    got = fires("0 0 1 * MON#2", "UTC", "2025-12-31T12:00+00:00", 4)
    assert [t[:10] for t in got] == ["2026-01-01", "2026-01-12", "2026-02-01", "2026-02-09"]


def test_extensions_combine_in_a_list():
    assert days("0 0 * * MON#1,FRI#3,5L", **JAN) == [5, 16, 30]
    assert days("0 0 1,L * *", **JAN) == [1, 31]


def test_aliases():
    assert parse_schedule("@DAILY").expr == "@DAILY"
    for alias, same in [
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@monthly", "0 0 1 * *"),
        ("@weekly", "0 0 * * 0"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@Hourly", "0 * * * *"),
    ]:
        after = "2026-10-24T12:00+02:00"
        assert fires(alias, BERLIN, after, 3) == fires(same, BERLIN, after, 3)
        assert parse_schedule(alias).fixed_time == (alias.lower() != "@hourly")


@pytest.mark.parametrize(
    ("expr", "fixed"),
    [
        ("30 2 * * *", True),
        ("0 0-23/2 * * *", True),
        ("0 */2 * * *", False),
        ("* 2 * * *", False),
        ("30 * * * *", False),
        ("*/5 0 * * *", False),
    ],
)
def test_fixed_time_is_read_literally(expr, fixed):
    assert parse_schedule(expr).fixed_time is fixed


def test_schedules_are_hashable_and_parses_shared():
    s = parse_schedule("0 3 * * *")
    assert isinstance(s, CronSchedule)
    assert {s: 1}[parse_schedule("0 3 * * *")] == 1
    assert parse_schedule("0 3 * * *") is s


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("", "expected 5 or 6 fields, got 0"),
        ("* * * *", "expected 5 or 6 fields, got 4"),
        ("* * * * * * *", "expected 5 or 6 fields, got 7"),
        ("@reboot", 'unknown alias "@reboot" (expected one of @yearly, @annually, @monthly'),
        ("60 0 0 * * *", 'second field "60" is out of range 0-59'),
        ("61 * * * *", 'minute field "61" is out of range 0-59'),
        ("5,61 * * * *", 'minute field "5,61": 61 is out of range 0-59'),
        ("5-61 * * * *", 'minute field "5-61": 61 is out of range 0-59'),
        ("0 24 * * *", 'hour field "24" is out of range 0-23'),
        ("0 0 32 * *", 'day-of-month field "32" is out of range 1-31'),
        ("0 0 0 * *", 'day-of-month field "0" is out of range 1-31'),
        ("0 0 * 13 *", 'month field "13" is out of range 1-12'),
        ("0 0 * * 8", 'day-of-week field "8" is out of range 0-7'),
        ("x * * * *", 'minute field "x" is not a number'),
        ("? * * * *", 'minute field "?" is not a number'),
        ("-5 * * * *", 'minute field "-5": "" is not a number'),
        ("0 0 * foo *", 'month field "foo" is not a number or a month name (JAN-DEC)'),
        ("0 0 * * funday", 'day-of-week field "funday" is not a number or a weekday name'),
        ("30-10 * * * *", 'minute field "30-10" runs backwards'),
        ("0 0 * * SAT-MON", 'day-of-week field "SAT-MON" runs backwards'),
        ("*/0 * * * *", 'minute field "*/0" has a step 0; a step is 1 or more'),
        ("*/x * * * *", 'minute field "*/x" has a step "x" that is not a number'),
        ("1,,2 * * * *", 'minute field "1,,2" has an empty list item'),
        ("0 0 L-2 * *", 'day-of-month field "L-2": "L" is not a number'),
        ("0 0 * * MON#6", 'day-of-week field "MON#6" has "#6"; expected #1 to #5'),
        ("0 0 * * L", 'day-of-week field "L" needs a weekday before L (5L is the last Friday)'),
        ("0 0 * * 9L", 'day-of-week field "9L": 9 is out of range 0-7'),
        ("0 0 * * 7/2", 'day-of-week field "7/2" starts a step at 7 (use 0/2: 0 is Sunday too)'),
        ("0 0 * * 1,7/3", 'day-of-week field "1,7/3": "7/3" starts a step at 7 (use 0/3'),
        ("0 L * * *", 'hour field "L" is not a number'),
    ],
)
def test_invalid_expression_says_what_is_wrong(expr, message):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expr)
    assert str(caught.value).startswith(message)
    assert isinstance(caught.value, ValueError)


# --- croniter as an oracle, in UTC, on syntax it reads as cronie does ----------------------


def random_field(rng: random.Random, lo: int, hi: int, names: list[str] | None = None) -> str:
    def value(a: int, b: int) -> str:
        n = rng.randint(a, b)
        return names[n - lo] if names and rng.random() < 0.4 else str(n)

    def term() -> str:
        a = rng.randint(lo, hi - 1)
        b = rng.randint(a + 1, hi)  # croniter misreads a-a ("21-21" as "*")
        kind = rng.choice(["value", "range", "range-step", "star-step", "value-step"])
        step = str(rng.randint(1, max(1, (hi - lo) // 2)))
        if kind == "value":
            return value(a, a)
        if kind == "range":
            return f"{value(a, a)}-{value(b, b)}"
        if kind == "range-step":
            return f"{a}-{b}/{step}"
        if kind == "value-step":
            return f"{a}/{step}"
        return f"*/{step}"

    roll = rng.random()
    if roll < 0.3:
        return "*"
    if roll < 0.75:
        return term()
    return ",".join(term() for _ in range(rng.randint(2, 3)))


def random_expression(rng: random.Random) -> str:
    months = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
    weekdays = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
    fields = [
        random_field(rng, 0, 59),
        random_field(rng, 0, 23),
        random_field(rng, 1, 31),
        random_field(rng, 1, 12, [m.upper() if rng.random() < 0.5 else m for m in months]),
        random_field(rng, 0, 6, [d.capitalize() for d in weekdays]),
    ]
    # croniter treats a day field as "*" when a star is anywhere in it, cronie only when
    # the field starts with one: put star terms first, where both agree.
    for i in (2, 4):
        fields[i] = ",".join(sorted(fields[i].split(","), key=lambda t: not t.startswith("*")))
    if rng.random() < 0.3:
        fields.insert(0, random_field(rng, 0, 59))
    return " ".join(fields)


@pytest.mark.parametrize("seed", range(8))
def test_agrees_with_croniter_in_utc(seed):
    rng = random.Random(seed)
    tz = ZoneInfo("UTC")
    for _ in range(40):
        expr = random_expression(rng)
        start = datetime(2020, 1, 1) + timedelta(seconds=rng.randrange(10 * 365 * 86400))
        six = len(expr.split()) == 6
        oracle = croniter(expr, start, implement_cron_bug=True, second_at_beginning=six)
        expected = [oracle.get_next(datetime) for _ in range(25)]
        got = list(islice(fire_times(parse_schedule(expr), tz, start.replace(tzinfo=UTC)), 25))
        assert [t.replace(tzinfo=None) for t in got] == expected, (expr, start)


# --- Import cost ---------------------------------------------------------------------------


def test_schedule_imports_only_the_standard_library():
    code = (
        "import sys; before = set(sys.modules); import cronplus.schedule; "
        "new = set(sys.modules) - before; "
        "print(sorted(m for m in new if m.split('.')[0] not in sys.stdlib_module_names))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "['cronplus', 'cronplus._schedule_days', 'cronplus.schedule']"
