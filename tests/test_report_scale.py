"""`status` and `next` over many jobs: jobs that share a schedule share its fire times,
worked out once (issue 12), and what is shared is what each job would have got.
Counted calls, not timings (timings live in bench/)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import islice

import pytest

from cronplus import report
from cronplus.model import Claim, RunStatus, Trigger
from cronplus.schedule import fire_times, parse_schedule
from cronplus.zones import zone


@pytest.fixture(autouse=True)
def nothing_kept() -> None:
    report._kept.clear()


@pytest.fixture
def walks(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The schedule walks report starts, by expression."""
    started: list[str] = []

    def counted(schedule, tz, after, until=None):
        started.append(schedule.expr)
        return fire_times(schedule, tz, after, until)

    monkeypatch.setattr(report, "fire_times", counted)
    return started


def many(n: int) -> str:
    """n jobs on two schedules, half of them in pipelines."""
    parts = []
    for i in range(n):
        if i % 4 == 1:
            parts.append(f'[jobs.j{i}]\nafter = ["j{i - 1}"]\ncommand = "true"\n')
        else:
            cron = "*/5 * * * *" if i % 2 == 0 else "0 3 * * *"
            parts.append(f'[jobs.j{i}]\nschedule = "{cron}"\ntimezone = "Europe/Berlin"\n')
            parts[-1] += 'command = "true"\n'
    return "\n".join(parts)


def test_next_walks_each_shared_schedule_once(project, walks) -> None:
    project.write(many(200))
    config = project.config()
    now = datetime(2026, 3, 29, 0, 30, tzinfo=UTC)
    got = {}
    for k, job in enumerate(config.jobs.values()):
        # `next` reads the clock per job: each asks a little later than the one before.
        got[job.name] = report.upcoming(config, job, now + timedelta(microseconds=k), 5)
    assert sorted(set(walks)) == ["*/5 * * * *", "0 3 * * *"]
    assert len(walks) == 2
    tz = zone("Europe/Berlin")
    for job in config.jobs.values():
        expr = report.pipeline_schedule(config, job.name)[0]
        assert got[job.name] == list(islice(fire_times(parse_schedule(expr), tz, now), 5))


def test_status_walks_once_per_schedule_and_last_run(project, walks) -> None:
    project.write(many(200))
    config = project.config()
    store = project.store()
    last = datetime(2026, 3, 29, 0, 0, tzinfo=UTC)
    for name in config.jobs:
        store.claim_run(
            name, last, Trigger.SCHEDULE, Claim(owner=None, now=last, status=RunStatus.SUCCEEDED)
        )
    rows = report.job_statuses(config, store, list(config.jobs), last + timedelta(minutes=1))
    assert len(walks) == 2
    assert {r.next_run for r in rows} == {
        datetime(2026, 3, 29, 0, 5, tzinfo=UTC),
        datetime(2026, 3, 29, 1, 0, tzinfo=UTC),  # 03:00 in Berlin, summer time from 02:00
    }


@pytest.mark.parametrize("expr", ["30 2 * * *", "*/20 * * * *", "0 1-3 * * *", "15 2 * * 0"])
@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "Australia/Lord_Howe"])
def test_a_kept_answer_is_what_a_walk_gives(expr: str, tz: str) -> None:
    """Asked from later and later instants across both DST changes of a year (gaps,
    repeated hours, a half-hour shift), the kept answer is reused only when it is
    the walk's answer."""
    schedule = parse_schedule(expr)
    start = datetime(2026, 3, 7, tzinfo=UTC)
    for step in range(0, 24 * 280, 7):
        after = start + timedelta(hours=step, minutes=step % 60)
        expected = tuple(islice(fire_times(schedule, zone(tz), after), 3))
        assert report._fire_times(expr, tz, after, 3) == expected, after
