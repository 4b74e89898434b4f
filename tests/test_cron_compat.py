"""Cron expressions a cron user already has (issue 14): what cronie accepts is
accepted and means what it means there, what cronie refuses is refused naming the
field, and what can never fire is a problem in the jobs file, not a silent job."""

from __future__ import annotations

from datetime import datetime
from itertools import islice
from zoneinfo import ZoneInfo

import pytest

from cronplus.errors import ExitCode
from cronplus.schedule import fire_times, never_fires, parse_schedule, step_notes

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
