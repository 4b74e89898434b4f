"""Data intervals (issue 15): each run covers [its schedule's previous fire time, its
logical time), in CRONPLUS_INTERVAL_START/_END, a Python job's `interval_start` and
`interval_end`, and the run JSON.

The runs are real: `backfill` and `trigger` run as `python -m cronplus` processes
(`trigger` on a clock moved to the DST days by CRONPLUS_CLOCK_FILE), and each job
writes what `env` shows it, so what is checked is what a job saw.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from cronplus.schedule import parse_schedule, previous_fire
from tests.conftest import wait_until

BERLIN = ZoneInfo("Europe/Berlin")
# What the job saw: its logical time, then its interval variables (none: no line).
# One write per run, so that a reader never sees a run's line without its interval
# (the daemon test reads the file while runs go) and overlapping runs never interleave.
WRITE_ENV = (
    'seen="$(echo "run $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR"; env | grep CRONPLUS_INTERVAL'
    ' | sort)"; echo "$seen" >> seen.txt'
)


def jobs(*tables: str) -> str:
    return '[defaults]\ntimezone = "Europe/Berlin"\n\n' + "\n".join(tables)


def job(name: str, *lines: str) -> str:
    return f"[jobs.{name}]\ncommand = '{WRITE_ENV}'\n" + "\n".join(lines) + "\n"


def cronplus(project, *args: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state), *args],
        cwd=project.root,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def seen(project) -> dict[str, dict[str, str | None]]:
    """'job logical time' -> {"start", "end"} as the job's environment had them."""
    out: dict[str, dict[str, str | None]] = {}
    current: dict[str, str | None] = {}
    for line in (project.root / "seen.txt").read_text().splitlines():
        if line.startswith("run "):
            current = out.setdefault(line[4:], {"start": None, "end": None})
        else:
            name, _, value = line.partition("=")
            current[name.removeprefix("CRONPLUS_INTERVAL_").lower()] = value
    return out


def at(*args: int, fold: int = 0) -> str:
    return datetime(*args, tzinfo=BERLIN, fold=fold).isoformat()


def test_daily_backfill_across_both_dst_changes(project):
    project.write(jobs(job("daily", 'schedule = "0 3 * * *"')))
    cronplus(project, "backfill", "daily", "--from", "2026-03-28", "--to", "2026-03-30")
    cronplus(project, "backfill", "daily", "--from", "2026-10-24", "--to", "2026-10-26")
    got = seen(project)
    for day, before in [
        ((2026, 3, 28), (2026, 3, 27)),
        ((2026, 3, 29), (2026, 3, 28)),  # spring forward: 23 hours
        ((2026, 3, 30), (2026, 3, 29)),
        ((2026, 10, 24), (2026, 10, 23)),
        ((2026, 10, 25), (2026, 10, 24)),  # fall back: 25 hours
        ((2026, 10, 26), (2026, 10, 25)),
    ]:
        end = at(*day, 3)
        assert got[f"daily {end}"] == {"start": at(*before, 3), "end": end}
    short, long_ = got[f"daily {at(2026, 3, 29, 3)}"], got[f"daily {at(2026, 10, 25, 3)}"]
    assert hours(short) == 23 and hours(long_) == 25


def hours(interval: dict[str, str | None]) -> float:
    start, end = (datetime.fromisoformat(interval[k] or "") for k in ("start", "end"))
    return (end - start).total_seconds() / 3600


def test_hourly_backfill_across_both_dst_changes(project):
    project.write(jobs(job("hourly", 'schedule = "0 * * * *"')))
    cronplus(
        project, "backfill", "hourly", "--from", "2026-03-29T00:00", "--to", "2026-03-29T04:00"
    )
    cronplus(
        project, "backfill", "hourly", "--from", "2026-10-25T01:00", "--to", "2026-10-25T04:00"
    )
    got = seen(project)
    spring = [at(2026, 3, 29, h) for h in (0, 1, 3, 4)]  # 02:00 does not exist
    autumn = [at(2026, 10, 25, 1), at(2026, 10, 25, 2), at(2026, 10, 25, 2, fold=1)]
    autumn += [at(2026, 10, 25, 3), at(2026, 10, 25, 4)]
    assert sorted(got) == sorted(f"hourly {t}" for t in spring + autumn)
    for times in (spring, autumn):
        for start, end in zip(times, times[1:], strict=False):
            assert got[f"hourly {end}"] == {"start": start, "end": end}
            assert hours(got[f"hourly {end}"]) == 1  # even across the change
    assert got[f"hourly {spring[0]}"]["start"] == at(2026, 3, 28, 23)


def trigger_at(project, name: str, instant: datetime) -> None:
    """`trigger NAME --wait` in a process whose clock reads `instant` (give or take
    the moments it takes)."""
    clock = project.root / "clock"
    clock.write_text(str((instant - datetime.now(UTC)).total_seconds()))
    cronplus(project, "trigger", name, "--wait", env={"CRONPLUS_CLOCK_FILE": str(clock)})


@pytest.mark.parametrize(
    ("expr", "instant", "start"),
    [
        # a daily job triggered on the fall-back day covers from that day's 03:00
        ("0 3 * * *", datetime(2026, 10, 25, 11, 30, tzinfo=UTC), at(2026, 10, 25, 3)),
        # before its 03:00 on the spring-forward day: from the day before's
        ("0 3 * * *", datetime(2026, 3, 29, 0, 30, tzinfo=UTC), at(2026, 3, 28, 3)),
        # in the second 02:xx of the fall-back day: from the second 02:00
        ("0 * * * *", datetime(2026, 10, 25, 1, 30, tzinfo=UTC), at(2026, 10, 25, 2, fold=1)),
        # in the first: from the first
        ("0 * * * *", datetime(2026, 10, 25, 0, 30, tzinfo=UTC), at(2026, 10, 25, 2)),
        # just after the spring gap: from 03:00 (02:00 never was)
        ("0 * * * *", datetime(2026, 3, 29, 1, 30, tzinfo=UTC), at(2026, 3, 29, 3)),
    ],
)
def test_trigger_ends_at_its_instant_and_starts_at_the_previous_fire_time(
    project, expr, instant, start
):
    project.write(jobs(job("job", f'schedule = "{expr}"')))
    trigger_at(project, "job", instant)
    [(key, interval)] = seen(project).items()
    logical = key.split()[1]
    assert interval == {"start": start, "end": logical}
    assert abs(datetime.fromisoformat(logical) - instant) < timedelta(seconds=60)


def test_after_job_gets_its_pipelines_interval_and_no_schedule_gets_none(project, cli):
    project.write(
        jobs(
            job("extract", 'schedule = "0 3 * * *"'),
            job("load", 'after = ["extract"]'),
            job("adhoc"),
        )
    )
    cronplus(project, "backfill", "extract", "--from", "2026-10-25", "--to", "2026-10-25")
    cronplus(project, "trigger", "adhoc", "--wait")
    got = seen(project)
    end = at(2026, 10, 25, 3)
    interval = {"start": at(2026, 10, 24, 3), "end": end}
    assert got[f"extract {end}"] == interval
    assert got[f"load {end}"] == interval  # the pipeline's, though load has no schedule
    [adhoc] = [v for k, v in got.items() if k.startswith("adhoc ")]
    assert adhoc == {"start": None, "end": None}  # the variables were not set

    history = {r["job"]: r for r in json.loads(cli("history", "--json").output)}
    assert history["load"]["interval_start"] == interval["start"]
    assert history["load"]["interval_end"] == end
    assert history["adhoc"]["interval_start"] is None
    assert history["adhoc"]["interval_end"] is None
    status = {r["job"]: r for r in json.loads(cli("status", "--json").output)}
    assert status["extract"]["last_run"]["interval_start"] == interval["start"]
    assert status["adhoc"]["last_run"]["interval_end"] is None


def test_history_json_of_many_runs_walks_to_the_same_intervals(project, cli):
    project.write(jobs(job("hourly", 'schedule = "0 * * * *"')))
    args = ("backfill", "hourly", "--from", "2026-10-24T20:00", "--to", "2026-10-25T06:00")
    backfilled = json.loads(cronplus(project, *args, "--json"))["runs"]
    history = json.loads(cli("history", "hourly", "--json", "--limit", "100").output)
    assert len(history) == 12  # one hour repeated
    got = seen(project)
    for r in history:
        env = got[f"hourly {r['scheduled_for']}"]
        assert (r["interval_start"], r["interval_end"]) == (env["start"], env["end"])
        end = datetime.fromisoformat(r["interval_end"])
        searched = previous_fire(parse_schedule("0 * * * *"), BERLIN, end)
        assert datetime.fromisoformat(r["interval_start"]) == searched  # walked, not searched

    def spans(runs):
        return sorted((r["id"], r["interval_start"], r["interval_end"]) for r in runs)

    assert spans(backfilled) == spans(history)  # `backfill --json` shows them too


PYJOB = """
import pathlib

def main(interval_start, interval_end, scheduled_for):
    assert interval_start.tzinfo is not None and interval_end == scheduled_for
    pathlib.Path("py.txt").write_text(
        f"{interval_start.isoformat()} {interval_end.isoformat()} {interval_start.tzinfo}"
    )

def bare(interval_start=1, interval_end=2):
    pathlib.Path("bare.txt").write_text(f"{interval_start} {interval_end}")
"""


def test_python_job_declaring_its_interval(project):
    (project.root / "pyjobs.py").write_text(PYJOB)
    project.write(
        jobs(
            '[jobs.py]\nschedule = "0 3 * * *"\npython = "pyjobs:main"\n',
            '[jobs.bare]\npython = "pyjobs:bare"\n',
        )
    )
    cronplus(project, "backfill", "py", "--from", "2026-10-25", "--to", "2026-10-25")
    start, end, zone = (project.root / "py.txt").read_text().split()
    assert (start, end, zone) == (at(2026, 10, 24, 3), at(2026, 10, 25, 3), "Europe/Berlin")
    cronplus(project, "trigger", "bare", "--wait")
    assert (project.root / "bare.txt").read_text() == "None None"


def test_reboot_job_has_no_interval(project):
    project.write(jobs(job("boot", 'schedule = "@reboot"')))
    cronplus(project, "trigger", "boot", "--wait")
    [boot] = seen(project).values()
    assert boot == {"start": None, "end": None}


@pytest.mark.parametrize(
    ("expr", "before", "expected"),
    [
        ("0 3 * * *", datetime(2026, 10, 25, 3, tzinfo=BERLIN), datetime(2026, 10, 24, 3)),
        ("@yearly", datetime(2026, 6, 1, tzinfo=BERLIN), datetime(2026, 1, 1)),
        ("0 0 29 2 *", datetime(2026, 6, 1, tzinfo=BERLIN), datetime(2024, 2, 29)),
        ("* * * * * *", datetime(2026, 6, 1, tzinfo=BERLIN), datetime(2026, 5, 31, 23, 59, 59)),
        # Dense fire times long before `before`: found by halving, not a walk over them.
        ("* * * * 1 *", datetime(2026, 12, 2, tzinfo=BERLIN), datetime(2026, 1, 31, 23, 59, 59)),
        (
            "* * 9-17 * * 1-5",
            datetime(2026, 12, 7, 9, tzinfo=BERLIN),
            datetime(2026, 12, 4, 17, 59, 59),
        ),
        ("30 2 * * *", datetime(2026, 3, 30, 2, 30, tzinfo=BERLIN), datetime(2026, 3, 29, 3)),
    ],
)
def test_previous_fire(expr, before, expected):
    found = previous_fire(parse_schedule(expr), BERLIN, before)
    assert found is not None
    assert found.astimezone(BERLIN).replace(tzinfo=None) == expected


def test_previous_fire_of_a_schedule_that_never_fired_ends():
    # 1900 is as far back as it looks: a date before any fire time gives None, quickly
    early = datetime(1900, 1, 2, tzinfo=UTC)
    assert previous_fire(parse_schedule("0 0 29 2 *"), BERLIN, early) is None
    assert (
        previous_fire(parse_schedule("0 0 30 2 *"), BERLIN, datetime(2026, 1, 1, tzinfo=UTC))
        is None
    )


def test_daemons_scheduled_runs_cover_from_the_fire_time_before(project, daemon):
    project.write(jobs(job("tick", 'schedule = "*/2 * * * * *"', 'timezone = "UTC"')))
    d = daemon()
    d.wait_started()
    wait_until(lambda: (project.root / "seen.txt").exists() and len(seen(project)) >= 2)
    d.terminate()
    for key, interval in seen(project).items():
        end = datetime.fromisoformat(key.split()[1])
        assert interval == {
            "start": (end - timedelta(seconds=2)).isoformat(),
            "end": key.split()[1],
        }


def test_a_job_a_scheduled_job_triggers_inherits_no_interval(project, cli):
    """The variables are cronplus's per run: a job without a schedule, triggered from
    inside a scheduled job's run, must not see its parent's interval."""
    inner = f"{sys.executable} -m cronplus -c jobs.toml --state {project.state}"
    project.write(
        jobs(
            '[jobs.outer]\nschedule = "0 3 * * *"\n'
            f"command = '{WRITE_ENV}; {inner} trigger inner --wait'\n",
            job("inner"),
        )
    )
    cronplus(project, "backfill", "outer", "--from", "2026-10-25", "--to", "2026-10-25")
    got = seen(project)
    assert got[f"outer {at(2026, 10, 25, 3)}"]["start"] == at(2026, 10, 24, 3)
    [inner_seen] = [v for k, v in got.items() if k.startswith("inner ")]
    assert inner_seen == {"start": None, "end": None}


def test_a_bug_in_the_interval_never_keeps_a_run_from_starting(project, monkeypatch):
    from cronplus.intervals import Intervals
    from cronplus.model import RunStatus
    from cronplus.paths import StatePaths
    from cronplus.trigger import run_now

    def broken(self, run):
        raise RuntimeError("interval bug")

    monkeypatch.setattr(Intervals, "of_run", broken)
    project.write(jobs(job("daily", 'schedule = "0 3 * * *"')))
    config, store = project.config(), project.store()
    (run,) = run_now(config, store, StatePaths(project.state), "daily")
    assert run.status is RunStatus.SUCCEEDED  # started, without the variables
    [daily] = seen(project).values()
    assert daily == {"start": None, "end": None}
    store.close()
