"""Cron expressions a cron user already has (issue 14): what cronie accepts is
accepted and means what it means there, what cronie refuses is refused naming the
field, and what can never fire is a problem in the jobs file, not a silent job."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from cronplus.errors import ExitCode
from cronplus.schedule import (
    ScheduleError,
    fire_times,
    never_fires,
    parse_schedule,
    step_notes,
)

AFTER = "2026-01-01T00:00+00:00"


def fires(expr: str, n: int, after: str = AFTER) -> list[str]:
    times = fire_times(parse_schedule(expr), ZoneInfo("UTC"), datetime.fromisoformat(after))
    return [t.isoformat(timespec="minutes") for t in islice(times, n)]


# --- A step larger than its field's range ----------------------------------------------


@pytest.mark.parametrize(
    ("expr", "same_as"),
    [
        ("*/60 * * * *", "0 * * * *"),
        ("*/100 * * * *", "0 * * * *"),
        ("0 */24 * * *", "0 0 * * *"),
        ("0 0 */31 * *", "0 0 1 * *"),
        ("0 0 1 */12 *", "0 0 1 1 *"),
        ("0 0 * * */8", "0 0 * * 0"),
        ("*/60 0 * * * *", "0 0 * * * *"),
    ],
)
def test_a_step_larger_than_its_range_means_the_first_value_as_in_cronie(expr, same_as):
    assert fires(expr, 30) == fires(same_as, 30)


def test_a_day_of_week_step_counts_against_0_to_7():
    assert step_notes("0 0 * * */7") == []  # 0 and 7: Sunday, twice
    assert fires("0 0 * * */7", 2) == ["2026-01-04T00:00+00:00", "2026-01-11T00:00+00:00"]
    assert step_notes("0 0 * * */8") == [
        'day-of-week field "*/8": step 8 is larger than 0-7, so only 0 matches, as in cron'
    ]


@pytest.mark.parametrize(
    ("expr", "notes"),
    [
        ("*/59 * * * *", []),
        ("59/5 * * * *", []),  # one value already: nothing is left out
        ("@hourly", []),
        ("*/60 * * * *", ['minute field "*/60": step 60 is larger than 0-59, so only 0 matches']),
        ("0 1,*/24 * * *", ['hour field "1,*/24": step 24 is larger than 0-23, so only 0 matches']),
        ("0 0 10-20/15 * *", ['day-of-month field "10-20/15": step 15 is larger than 10-20, so']),
    ],
)
def test_step_notes_name_the_field_and_what_is_left(expr, notes):
    got = step_notes(expr)
    assert len(got) == len(notes)
    assert all(g.startswith(n) for g, n in zip(got, notes, strict=True))


def test_validate_notes_a_step_larger_than_its_range_and_exits_0(project, cli):
    project.write(
        '[jobs.a]\ncommand = "true"\nschedule = "*/60 * * * *"\n'
        '[jobs.b]\ncommand = "true"\nschedule = "0 */24 * * *"\n'
    )
    result = cli("validate")
    assert result.exit_code == ExitCode.OK
    assert result.stderr.splitlines() == [
        'jobs.toml:3: job "a": note: schedule "*/60 * * * *": minute field "*/60": step 60 is'
        " larger than 0-59, so only 0 matches, as in cron",
        'jobs.toml:6: job "b": note: schedule "0 */24 * * *": hour field "*/24": step 24 is'
        " larger than 0-23, so only 0 matches, as in cron",
    ]
    assert "2 jobs, no problems" in result.stdout


# --- Never fires ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("* * 30 2 *", "no month has a 30 February"),
        ("0 0 31 4 *", "no month has a 31 April"),
        ("0 0 30,31 2 *", "no month has a 30 or 31 February"),
        ("0 0 31 2,4,6,9,11 *", "no month has a 31 February, April, June, September or November"),
        ("0 0 30 feb ?", "no month has a 30 February"),
        ("0 0 0 31 2 *", "no month has a 31 February"),
        # every third day of February stops at the 28th; a fifth Monday is the 29th
        ("0 0 */3 2 MON#5", "no date matches its day-of-month, month and day-of-week fields"),
        ("0 0 */2 2 */7", None),  # an odd day of February that is a Sunday: often
        ("* * 30 2 1", None),  # both day fields restricted: either, so Mondays in February
        ("0 0 29 2 *", None),  # leap years
        ("0 0 L 2 *", None),
        ("0 0 * 2 MON#5", None),  # a 29 February that is a Monday
    ],
)
def test_never_fires_says_why(expr, why):
    got = never_fires(parse_schedule(expr))
    assert got == why if why is None else got.startswith(why)


def test_validate_refuses_a_schedule_that_never_fires_saying_why(project, cli):
    project.write('[jobs.a]\ncommand = "true"\nschedule = "* * 30 2 *"\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(
        'jobs.toml:3: job "a": schedule "* * 30 2 *" never fires: no month has a 30 February'
        " (see the README's schedule syntax)\n"
    )


def test_a_schedule_that_fires_on_either_day_field_is_accepted(project, cli):
    project.write('[jobs.a]\ncommand = "true"\nschedule = "* * 30 2 1"\n')
    assert cli("validate").exit_code == ExitCode.OK
    assert fires("0 0 30 2 1", 2) == ["2026-02-02T00:00+00:00", "2026-02-09T00:00+00:00"]


# --- nW: the weekday nearest day n -----------------------------------------------------------


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # 1 August 2026 is a Saturday: Monday the 3rd, never Friday 31 July
        ("0 0 1W * *", "2026-07-15T00:00+00:00", "2026-08-03T00:00+00:00"),
        # 31 May 2026 is a Sunday and the last day: the Friday before, never 1 June
        ("0 0 31W * *", "2026-05-15T00:00+00:00", "2026-05-29T00:00+00:00"),
        # April has no 31st: its last day, a Thursday
        ("0 0 31W * *", "2026-04-15T00:00+00:00", "2026-04-30T00:00+00:00"),
        # February 2026's last day is Saturday the 28th: the Friday before
        ("0 0 30W * *", "2026-02-15T00:00+00:00", "2026-02-27T00:00+00:00"),
        # 15 March 2026 is a Sunday: Monday the 16th; 14 March, a Saturday: Friday the 13th
        ("0 0 15W * *", "2026-03-01T00:00+00:00", "2026-03-16T00:00+00:00"),
        ("0 0 14W * *", "2026-03-01T00:00+00:00", "2026-03-13T00:00+00:00"),
        ("0 0 15W * *", "2026-01-01T00:00+00:00", "2026-01-15T00:00+00:00"),  # a Thursday
    ],
)
def test_nearest_weekday_never_leaves_its_month(expr, after, expected):
    assert fires(expr, 1, after) == [expected]


def test_nearest_weekday_combines_with_day_of_week_as_either():
    assert [t[8:10] for t in fires("0 0 15W 3 MON", 6)] == ["02", "09", "16", "23", "30"] + ["01"]
    # a day field starting with "*" makes it "and": nW is never a Sunday
    assert never_fires(parse_schedule("0 0 15W 3 */7")).startswith("no date matches")


@pytest.mark.parametrize("n", [1, 2, 14, 15, 28, 29, 30, 31])
def test_nearest_weekday_agrees_with_croniter(n):
    start = datetime(2020, 1, 1)
    oracle = croniter(f"0 0 {n}W * *", start)
    expected = [oracle.get_next(datetime) for _ in range(12 * 30)]
    got = fires(f"0 0 {n}W * *", 12 * 30, "2020-01-01T00:00+00:00")
    assert got == [t.replace(tzinfo=UTC).isoformat(timespec="minutes") for t in expected]


@pytest.mark.parametrize(
    ("expr", "message"),
    [
        ("0 0 1W,15 * *", 'day-of-month field "1W,15": "1W" (the weekday nearest a day) must be'),
        ("0 0 0W * *", 'day-of-month field "0W": 0 is out of range 1-31'),
        ("0 0 32W * *", 'day-of-month field "32W": 32 is out of range 1-31'),
        ("0 0 W * *", 'day-of-month field "W": "" is not a number'),
        ("0 0 1-5W * *", 'day-of-month field "1-5W": "1-5" is not a number'),
    ],
)
def test_nearest_weekday_is_a_single_day_of_month_item(expr, message):
    with pytest.raises(ScheduleError) as caught:
        parse_schedule(expr)
    assert str(caught.value).startswith(message)


# --- A zone's change of over 3 hours is a correction, not DST (cron(8)) ------------------------


def zone_fires(expr: str, zone: str, after: str, n: int) -> list[str]:
    tz = ZoneInfo(zone)
    times = fire_times(parse_schedule(expr), tz, datetime.fromisoformat(after))
    return [t.astimezone(tz).isoformat(timespec="minutes") for t in islice(times, n)]


def test_skipped_day_is_a_correction_fixed_time_is_not_caught_up():
    # Pacific/Apia went from -10 to +14 at the end of 29 December 2011: the 30th never was
    assert zone_fires("30 2 * * *", "Pacific/Apia", "2011-12-28T12:00-10:00", 2) == [
        "2011-12-29T02:30-10:00",
        "2011-12-31T02:30+14:00",
    ]


def test_repeated_day_is_a_correction_fixed_time_runs_again():
    # Pacific/Kwajalein went from +11 to -12 at the end of 30 September 1969 (wall time):
    # 01:00 to midnight of the 30th came twice
    assert zone_fires("30 2 * * *", "Pacific/Kwajalein", "1969-09-29T12:00+11:00", 3) == [
        "1969-09-30T02:30+11:00",
        "1969-09-30T02:30-12:00",
        "1969-10-01T02:30-12:00",
    ]


def test_a_change_of_exactly_3_hours_is_still_dst():
    # Antarctica/Casey went from +08 to +11 at 02:00 on 18 October 2009
    assert zone_fires("30 2 * * *", "Antarctica/Casey", "2009-10-17T00:00+08:00", 2) == [
        "2009-10-17T02:30+08:00",
        "2009-10-18T05:00+11:00",
    ]
