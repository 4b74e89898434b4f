"""The commands as a user runs them: CliRunner for each command, real subprocesses for
`python -m cronplus`, a detached `trigger` and the start-up imports of a piped `status`.

Runs are recorded either by really executing jobs (`trigger --wait`) or, for chosen
logical times in the past, straight through the store's own API.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from conftest import record, wait_until

from cronplus import procs
from cronplus.cli import cli as cli_group
from cronplus.errors import ExitCode
from cronplus.model import RunStatus, Trigger

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")

STATUS_KEYS = {
    "job",
    "description",
    "schedule",
    "timezone",
    "enabled",
    "paused_since",
    "last_run",
    "running",
    "overdue",
    "next_run",
    "deadline",  # issue 15: its latest deadline that passed
}
RUN_KEYS = {
    "id",
    "job",
    "scheduled_for",
    "trigger",
    "status",
    "attempts",
    "started_at",
    "finished_at",
    "duration_s",
    "exit_code",
    "signal",
    "reason",
    "attempt_details",
    "orphaned",
    "late",
    "interval_start",  # issue 15: data intervals
    "interval_end",
    "deadline_at",  # issue 15: deadlines
    "items",  # issue 16: a for_each run's items, null without for_each
    "file",  # issue 16: a watch run's file
    "host",  # issue 17: its last attempt's host
}
ATTEMPT_KEYS = {
    *("attempt", "trigger", "started_at", "finished_at", "exit_code", "signal", "log"),
    "host",  # issue 17
}
BAD = ["failed", "timed_out", "upstream_failed", "interrupted"]


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


# -- global options -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("defaults", "env", "option", "expected"),
    [
        pytest.param("", {}, [], "proj/.cronplus", id="default-beside-the-jobs-file"),
        pytest.param('[defaults]\nstate = "kept"\n', {}, [], "proj/kept", id="file"),
        pytest.param(
            '[defaults]\nstate = "kept"\n',
            {"CRONPLUS_STATE": "from-env"},
            [],
            "from-env",
            id="environment-over-file",
        ),
        pytest.param(
            '[defaults]\nstate = "kept"\n',
            {"CRONPLUS_STATE": "from-env"},
            ["--state", "from-option"],
            "from-option",
            id="option-over-environment",
        ),
    ],
)
def test_state_directory_follows_option_then_environment_then_file_then_default(
    project, defaults, env, option, expected
):
    from click.testing import CliRunner

    (project.root / "proj").mkdir()
    (project.root / "proj" / "jobs.toml").write_text(defaults + '[jobs.say]\ncommand = "true"\n')
    runner = CliRunner(env={"CRONPLUS_CONFIG": "proj/jobs.toml", **env})
    result = runner.invoke(cli_group, [*option, "trigger", "say", "--wait"], catch_exceptions=False)
    assert result.exit_code == ExitCode.OK, result.stderr
    assert (project.root / expected / "state.db").is_file()
    states = [p.parent for p in project.root.rglob("state.db")]
    assert states == [project.root / expected]


# -- validate -------------------------------------------------------------------------------


def test_validate_accepts_a_good_file_with_one_line_on_stdout(project, cli):
    project.write("""
        [jobs.extract]
        schedule = "0 3 * * *"
        command = "true"

        [jobs.load]
        after = ["extract"]
        command = "true"
    """)
    result = cli("validate")
    assert result.exit_code == ExitCode.OK
    assert result.stdout == "jobs.toml: 2 jobs, no problems\n"
    assert result.stderr == ""


def test_validate_prints_every_problem_one_per_line_then_the_count(project, cli):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        comand = "true"

        [jobs.sync]
        schedule = "0 4 * * *"
        command = "true"
        timezone = "Europe/Berln"
    """)
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        'jobs.toml:1: job "load": has neither command nor python '
        '(add command = "..." or python = "package.module:function")',
        'jobs.toml:3: job "load": unknown key "comand" (did you mean "command"?)',
        'jobs.toml:8: job "sync": timezone "Europe/Berln" is unknown '
        '(did you mean "Europe/Berlin"?)',
        "3 problems in jobs.toml; nothing was started.",
    ]
    no_traceback(result)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            '[jobs.load]\nschedule = "@daily"\ncomand = "true"\n',
            'jobs.toml:3: job "load": unknown key "comand" (did you mean "command"?)',
            id="unknown-key",
        ),
        pytest.param(
            '[jobs.alpha]\nschedule = "@daily"\ncommand = "true"\n\n'
            '[jobs.beta]\nafter = ["alpha", "gamma"]\ncommand = "true"\n\n'
            '[jobs.gamma]\nafter = ["beta"]\ncommand = "true"\n',
            "dependency cycle: beta -> gamma -> beta",
            id="cycle",
        ),
        pytest.param(
            '[jobs.load]\nschedule = "61 * * * *"\ncommand = "true"\n',
            'jobs.toml:2: job "load": schedule "61 * * * *": minute field "61" is out of range',
            id="bad-cron",
        ),
        pytest.param(
            '[jobs.load]\nschedule = "@daily"\ncommand = "true"\ntimezone = "Mars/Olympus"\n',
            'jobs.toml:4: job "load": timezone "Mars/Olympus" is unknown',
            id="bad-timezone",
        ),
        pytest.param(
            '[jobs.load]\nschedule = "@daily"\ncommand = "true"\n\n'
            '[jobs.report]\nafter = ["lod"]\ncommand = "true"\n',
            'jobs.toml:6: job "report": after "lod": no such job (did you mean "load"?)',
            id="unknown-after",
        ),
        pytest.param(
            '[jobs.load]\nschedule = "@daily"\ncommand = "true"\npython = "m:f"\n',
            'jobs.toml:1: job "load": has both command and python (keep one)',
            id="both-command-and-python",
        ),
        pytest.param(
            '[jobs.load]\nschedule = "@daily"\n',
            'jobs.toml:1: job "load": has neither command nor python',
            id="neither-command-nor-python",
        ),
        pytest.param(
            '[jobs.load]\nschedule = "@daily"\ncommand = "true"\nretries = -1\n',
            'jobs.toml:4: job "load": retries must be a whole number, 0 or more (got -1)',
            id="negative-retries",
        ),
    ],
)
def test_validate_reports_the_problem_with_file_line_and_job(project, cli, text, expected):
    project.write(text)
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert expected in result.stderr
    assert result.stderr.splitlines()[-1].endswith("in jobs.toml; nothing was started.")
    no_traceback(result)


def test_validate_without_a_jobs_file_says_so_and_exits_2(project, cli):
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert "jobs.toml: file not found (create it or pass -c/--config PATH)" in result.stderr
    no_traceback(result)


def test_validate_reports_a_toml_syntax_error_with_line_and_column(project, cli):
    project.write('[jobs.load]\nschedule "@daily"\ncommand = "true"\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.splitlines() == [
        "jobs.toml:2:10: Expected '=' after a key in a key/value pair",
        "1 problem in jobs.toml; nothing was started.",
    ]
    no_traceback(result)


def test_read_commands_answer_with_a_warning_while_the_jobs_file_is_invalid(project, cli):
    # They used to refuse: "did it run?" must not wait for the file to be fixed.
    project.write('[jobs.load]\nschedule = "@daily"\ncomand = "true"\n')
    result = cli("status")
    assert result.exit_code == ExitCode.OK
    assert result.stderr.startswith("Warning: jobs.toml has 2 problems")
    assert "daemon: not running" in result.stdout
    assert not project.state.exists()


# -- status ---------------------------------------------------------------------------------


def test_status_on_a_fresh_state_shows_never_run_and_creates_nothing(project, cli):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        timezone = "Europe/Berlin"
        command = "true"
    """)
    result = cli("status")
    assert result.exit_code == ExitCode.OK
    (row,) = [line for line in lines_of(result.stdout) if line.startswith("load")]
    assert "never run" in row
    assert "Europe/Berlin" in row
    assert f"daemon: not running (state {project.state})" in result.stdout
    for args in (
        ["status", "--json"],
        ["status", "--on", "2024-01-16"],
        ["history", "load"],
        ["next", "load"],
        ["logs", "load"],
    ):
        cli(*args)
    assert not project.state.exists()


def test_status_json_has_the_documented_shape_with_times_in_the_job_zone(project, cli):
    project.write("""
        [jobs.berlin]
        schedule = "0 3 * * *"
        timezone = "Europe/Berlin"
        command = "true"

        [jobs.ny]
        schedule = "0 9 * * *"
        timezone = "America/New_York"
        command = "true"
    """)
    when = datetime(2024, 7, 1, 3, 0, tzinfo=BERLIN)
    run = record(project.store(), "berlin", when, "succeeded", exits=(1, 0))
    result = cli("status", "--json")
    # Every 03:00 since that run passed with no run: berlin is overdue, which fails status.
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    berlin, ny = json.loads(result.stdout)
    assert berlin["overdue"] == "2024-07-02T03:00:00+02:00"
    assert ny["overdue"] is None  # never run: nothing to be overdue after
    assert berlin["description"] is None and berlin["running"] == []
    assert set(berlin) == set(ny) == STATUS_KEYS
    assert (berlin["job"], berlin["schedule"], berlin["timezone"], berlin["enabled"]) == (
        "berlin",
        "0 3 * * *",
        "Europe/Berlin",
        True,
    )
    last = berlin["last_run"]
    assert set(last) == RUN_KEYS
    assert last["id"] == run.id
    assert last["scheduled_for"] == "2024-07-01T03:00:00+02:00"
    assert last["started_at"] == "2024-07-01T03:00:00+02:00"
    assert last["finished_at"] == "2024-07-01T03:00:20+02:00"
    assert (last["trigger"], last["status"], last["attempts"]) == ("schedule", "succeeded", 2)
    assert (last["exit_code"], last["signal"], last["reason"]) == (0, None, None)
    assert last["duration_s"] == 20.0
    first, second = last["attempt_details"]
    assert set(first) == set(second) == ATTEMPT_KEYS
    assert (first["attempt"], first["exit_code"], second["attempt"], second["exit_code"]) == (
        1,
        1,
        2,
        0,
    )
    assert second["started_at"] == "2024-07-01T03:00:10+02:00"
    assert second["log"] == f"/nowhere/{run.id}-2.log"
    next_berlin = datetime.fromisoformat(berlin["next_run"])
    assert next_berlin > datetime.now(UTC)
    assert next_berlin.utcoffset() == next_berlin.astimezone(BERLIN).utcoffset()
    assert next_berlin.time().isoformat() == "03:00:00"
    assert ny["last_run"] is None
    next_ny = datetime.fromisoformat(ny["next_run"])
    assert next_ny.utcoffset() in (timedelta(hours=-5), timedelta(hours=-4))
    assert next_ny.time().isoformat() == "09:00:00"


def test_status_json_gives_the_signal_and_no_exit_code_for_a_killed_attempt(project, cli):
    project.write('[jobs.slow]\nschedule = "@daily"\ntimezone = "UTC"\ncommand = "sleep 9"\n')
    when = datetime(2024, 7, 1, tzinfo=UTC)
    record(project.store(), "slow", when, "timed_out", signal="SIGKILL", reason="timed out")
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (row,) = json.loads(result.stdout)
    last = row["last_run"]
    assert (last["status"], last["exit_code"], last["signal"]) == ("timed_out", None, "SIGKILL")
    assert last["attempt_details"][0]["signal"] == "SIGKILL"


@pytest.mark.parametrize(
    ("status", "code"),
    [(s, ExitCode.NOT_SUCCEEDED) for s in BAD]
    + [(s, ExitCode.OK) for s in ("succeeded", "skipped", "running")],
)
def test_status_exit_code_follows_the_latest_finished_run(project, cli, status, code):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        timezone = "UTC"
        command = "true"
    """)
    # Recorded just now, so no fire time is overdue after it.
    record(project.store(), "load", datetime.now(UTC) - timedelta(seconds=30), status)
    result = cli("status")
    assert result.exit_code == code
    (row,) = [line for line in lines_of(result.stdout) if line.startswith("load")]
    assert f" {status} " in row
    assert cli("status", "--json").exit_code == code


def test_status_exit_code_ignores_a_failure_of_a_disabled_job(project, cli):
    project.write("""
        [jobs.old]
        schedule = "0 3 * * *"
        timezone = "UTC"
        command = "false"
        enabled = false
    """)
    record(project.store(), "old", datetime(2024, 7, 1, 3, tzinfo=UTC), "failed")
    result = cli("status")
    assert result.exit_code == ExitCode.OK
    assert "failed" in result.stdout
    (row,) = json.loads(cli("status", "--json").stdout)
    assert (row["enabled"], row["next_run"], row["last_run"]["status"]) == (False, None, "failed")


def test_status_gives_no_next_run_to_a_job_whose_pipeline_has_a_disabled_job(project, cli):
    project.write("""
        [jobs.extract]
        schedule = "0 3 * * *"
        command = "true"
        enabled = false

        [jobs.load]
        after = ["extract"]
        command = "true"

        [jobs.other]
        schedule = "0 4 * * *"
        command = "true"
    """)
    rows = {r["job"]: r for r in json.loads(cli("status", "--json").stdout)}
    assert rows["extract"]["next_run"] is None
    assert rows["load"]["next_run"] is None  # the daemon never fires its pipeline
    assert rows["load"]["schedule"] == "0 3 * * *"
    assert rows["other"]["next_run"] is not None


def test_status_of_named_jobs_lists_only_those(project, cli):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        command = "true"

        [jobs.sync]
        schedule = "0 4 * * *"
        command = "false"
    """)
    record(project.store(), "sync", datetime(2024, 7, 1, 4, tzinfo=UTC), "failed")
    result = cli("status", "load", "--json")
    assert result.exit_code == ExitCode.OK  # sync's failure is not asked about
    assert [r["job"] for r in json.loads(result.stdout)] == ["load"]


def test_status_of_an_unknown_job_exits_2_with_did_you_mean(project, cli):
    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "true"\n')
    result = cli("status", "lod")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == 'Error: no job named "lod" (did you mean "load"?)\n'
    assert result.stdout == ""


def test_status_names_the_daemon_holding_the_state(project, cli, daemon):
    project.write('[jobs.manual]\ncommand = "true"\n')
    d = daemon()
    d.wait_started()
    result = cli("status")
    assert result.exit_code == ExitCode.OK
    # Issue 17: the daemon as the state lists it (its lock alone: `daemon: running, pid N`).
    line = f"daemon: {procs.host()} pid {d.proc.pid}, last heartbeat "
    assert line in result.stdout and f"(state {project.state})" in result.stdout


# -- status --on ----------------------------------------------------------------------------

DAY = "2024-01-16"  # a Tuesday, safely in the past


@pytest.fixture
def six_hourly(project):
    project.write("""
        [jobs.sync]
        schedule = "0 */6 * * *"
        timezone = "Europe/Berlin"
        command = "true"
    """)
    return project.store()


def at(hour: int, minute: int = 0, second: int = 0, micro: int = 0, day: int = 16) -> datetime:
    return datetime(2024, 1, day, hour, minute, second, micro, tzinfo=BERLIN)


def test_status_on_sets_every_fire_time_beside_its_run_and_marks_those_with_none(
    project, cli, six_hourly
):
    store = six_hourly
    record(store, "sync", at(0), "succeeded")
    record(store, "sync", at(6), "skipped", reason="previous run 1 of the job was still running")
    record(store, "sync", at(18), "succeeded", trigger=Trigger.BACKFILL)
    record(store, "sync", at(9, 15, 30, 123456), "succeeded", trigger=Trigger.MANUAL)
    # 2024-01-15T23:30Z is 00:30 on the 16th in Berlin: it belongs to that date.
    record(
        store,
        "sync",
        datetime(2024, 1, 15, 23, 30, tzinfo=UTC),
        "succeeded",
        trigger=Trigger.MANUAL,
    )
    record(store, "sync", at(0, 30, day=17), "failed", trigger=Trigger.MANUAL)
    record(store, "sync", at(18, day=15), "failed")

    result = cli("status", "--on", DAY)
    assert result.exit_code == ExitCode.OK  # skipped and "no run" do not count
    header, *rows = lines_of(result.stdout)
    assert header.split()[:3] == ["JOB", "TIME", "STATUS"]
    assert [row.split()[:2] for row in rows] == [["sync", DAY]] * 6
    times_and_words = [(row.split()[2], " ".join(row.split()[3:5])) for row in rows]
    assert times_and_words == [
        ("00:00:00+01:00", "succeeded schedule"),
        ("00:30:00+01:00", "succeeded manual"),
        ("06:00:00+01:00", "skipped schedule"),
        ("09:15:30+01:00", "succeeded manual"),
        ("12:00:00+01:00", "no run"),
        ("18:00:00+01:00", "succeeded backfill"),
    ]
    assert "previous run 1 of the job was still running" in rows[2]


def test_status_on_today_shows_a_manual_run_made_by_trigger(project, cli):
    project.write("""
        [jobs.report]
        timezone = "America/New_York"
        command = "true"
    """)
    assert cli("trigger", "report", "--wait").exit_code == ExitCode.OK
    (run,) = runs_of(cli, "report")
    today = datetime.fromisoformat(run["scheduled_for"]).date().isoformat()
    result = cli("status", "--on", today, "--json")
    assert result.exit_code == ExitCode.OK
    (day,) = json.loads(result.stdout)
    assert [(r["id"], r["trigger"], r["status"]) for r in day["runs"]] == [
        (run["id"], "manual", "succeeded")
    ]
    (row,) = lines_of(cli("status", "--on", today).stdout)[1:]
    assert row.split()[0] == "report" and "succeeded  manual" in row


def test_status_on_json_has_fire_times_runs_and_no_run(project, cli, six_hourly):
    store = six_hourly
    record(store, "sync", at(0), "succeeded")
    record(store, "sync", at(9, 15, 30, 123456), "succeeded", trigger=Trigger.MANUAL)
    result = cli("status", "--on", DAY, "--json")
    assert result.exit_code == ExitCode.OK
    (day,) = json.loads(result.stdout)
    assert set(day) == {"job", "date", "fire_times", "runs", "no_run", "pruned", "by_fire_time"}
    assert (day["job"], day["date"]) == ("sync", DAY)
    assert day["fire_times"] == [f"{DAY}T{h}:00:00+01:00" for h in ("00", "06", "12", "18")]
    assert day["no_run"] == [f"{DAY}T{h}:00:00+01:00" for h in ("06", "12", "18")]
    assert [r["scheduled_for"] for r in day["runs"]] == [
        f"{DAY}T00:00:00+01:00",
        f"{DAY}T09:15:30.123456+01:00",
    ]
    assert all(set(r) == RUN_KEYS for r in day["runs"])
    assert [r["trigger"] for r in day["runs"]] == ["schedule", "manual"]


@pytest.mark.parametrize("status", BAD)
def test_status_on_exits_1_when_a_run_of_that_date_did_not_succeed(
    project, cli, six_hourly, status
):
    record(six_hourly, "sync", at(6), status)
    result = cli("status", "--on", DAY)
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (row,) = [r for r in lines_of(result.stdout) if "06:00:00" in r]
    assert status in row.split()


def test_status_on_exit_code_ignores_runs_of_other_dates_and_fire_times_without_run(
    project, cli, six_hourly
):
    record(six_hourly, "sync", at(6, day=15), "failed")
    record(six_hourly, "sync", at(6, day=17), "failed")
    result = cli("status", "--on", DAY, "--json")
    assert result.exit_code == ExitCode.OK
    (day,) = json.loads(result.stdout)
    assert day["runs"] == []
    assert len(day["no_run"]) == 4


def test_status_on_a_future_date_lists_fire_times_not_yet_due(project, cli, six_hourly):
    future = (datetime.now(BERLIN) + timedelta(days=3)).date().isoformat()
    result = cli("status", "--on", future, "--json")
    assert result.exit_code == ExitCode.OK
    (day,) = json.loads(result.stdout)
    assert len(day["fire_times"]) == 4
    assert day["no_run"] == []
    rows = lines_of(cli("status", "--on", future).stdout)[1:]
    assert len(rows) == 4 and all("not yet due" in r for r in rows)


@pytest.mark.parametrize(
    ("schedule", "zone", "date", "fire_times"),
    [
        pytest.param(
            "30 2 * * *",
            "Europe/Berlin",
            "2026-10-25",
            ["2026-10-25T02:30:00+02:00"],
            id="berlin-fall-back-fixed-time-runs-once-in-first-pass",
        ),
        pytest.param(
            "30 2 * * *",
            "Europe/Berlin",
            "2026-03-29",
            ["2026-03-29T03:00:00+02:00"],
            id="berlin-spring-forward-fixed-time-runs-after-the-gap",
        ),
        pytest.param(
            "*/30 1 * * *",
            "America/New_York",
            "2026-11-01",
            [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:30:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T01:30:00-05:00",
            ],
            id="new-york-fall-back-wildcard-runs-in-both-passes",
        ),
        pytest.param(
            "*/30 2 * * *",
            "America/New_York",
            "2026-03-08",
            [],
            id="new-york-spring-forward-wildcard-times-in-the-gap-do-not-happen",
        ),
    ],
)
def test_status_on_a_dst_date_lists_the_fire_times_cron_would(
    project, cli, schedule, zone, date, fire_times
):
    project.write(f"""
        [jobs.nightly]
        schedule = "{schedule}"
        timezone = "{zone}"
        command = "true"
    """)
    result = cli("status", "--on", date, "--json")
    assert result.exit_code == ExitCode.OK
    (day,) = json.loads(result.stdout)
    assert day["fire_times"] == fire_times


def test_status_on_a_fall_back_date_matches_runs_in_both_passes(project, cli):
    project.write("""
        [jobs.tick]
        schedule = "30 * * * *"
        timezone = "America/New_York"
        command = "true"
    """)
    store = project.store()
    first = datetime(2024, 11, 3, 1, 30, tzinfo=NEW_YORK)  # 05:30Z
    second = datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=NEW_YORK)  # 06:30Z
    record(store, "tick", first, "succeeded")
    record(store, "tick", second, "failed")
    result = cli("status", "--on", "2024-11-03", "--json")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (day,) = json.loads(result.stdout)
    assert len(day["fire_times"]) == 25
    assert day["fire_times"][1:3] == ["2024-11-03T01:30:00-04:00", "2024-11-03T01:30:00-05:00"]
    assert [(r["scheduled_for"], r["status"]) for r in day["runs"]] == [
        ("2024-11-03T01:30:00-04:00", "succeeded"),
        ("2024-11-03T01:30:00-05:00", "failed"),
    ]
    assert len(day["no_run"]) == 23
    rows = [r for r in lines_of(cli("status", "--on", "2024-11-03").stdout) if "01:30:00" in r]
    assert [r.split()[3] for r in rows] == ["succeeded", "failed"]


def test_status_on_shows_an_after_job_its_pipeline_fire_times(project, cli):
    project.write("""
        [jobs.extract]
        schedule = "0 3 * * *"
        timezone = "America/New_York"
        command = "true"

        [jobs.load]
        after = ["extract"]
        command = "true"
    """)
    store = project.store()
    when = datetime(2024, 1, 16, 3, tzinfo=NEW_YORK)
    record(store, "extract", when, "failed")
    record(store, "load", when, "upstream_failed", reason='upstream job "extract" run 1 failed')
    result = cli("status", "load", "--on", DAY, "--json")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (day,) = json.loads(result.stdout)
    assert day["fire_times"] == ["2024-01-16T03:00:00-05:00"]
    assert [(r["status"], r["attempts"], r["exit_code"]) for r in day["runs"]] == [
        ("upstream_failed", 0, None)
    ]
    assert day["no_run"] == []


def test_status_on_a_job_without_schedule_lists_its_manual_runs(project, cli):
    project.write('[jobs.adhoc]\ntimezone = "UTC"\ncommand = "true"\n')
    record(
        project.store(),
        "adhoc",
        datetime(2024, 1, 16, 12, tzinfo=UTC),
        "succeeded",
        trigger=Trigger.MANUAL,
    )
    result = cli("status", "--on", DAY)
    assert result.exit_code == ExitCode.OK
    (row,) = lines_of(result.stdout)[1:]
    assert row.split()[:6] == ["adhoc", DAY, "12:00:00+00:00", "succeeded", "manual", "1"]


@pytest.mark.parametrize("bad", ["2024-13-01", "tuesday", "16/01/2024"])
def test_status_on_an_invalid_date_exits_2(project, cli, six_hourly, bad):
    result = cli("status", "--on", bad)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == f'Error: --on "{bad}" is not a date (use YYYY-MM-DD)\n'
    assert result.stdout == ""


# -- history --------------------------------------------------------------------------------


def test_history_lists_runs_newest_first_and_honours_limit(project, cli):
    project.write(
        '[jobs.load]\nschedule = "0 3 * * *"\ntimezone = "Europe/Berlin"\ncommand = "true"\n'
    )
    store = project.store()
    ids = [
        record(store, "load", datetime(2024, 1, d, 3, tzinfo=BERLIN), s).id
        for d, s in [(14, "succeeded"), (15, "failed"), (16, "skipped")]
    ]
    result = cli("history", "load", "--json")
    assert result.exit_code == ExitCode.OK
    runs = json.loads(result.stdout)
    assert [r["id"] for r in runs] == ids[::-1]
    assert runs[0]["scheduled_for"] == "2024-01-16T03:00:00+01:00"
    assert all(set(r) == RUN_KEYS for r in runs)
    limited = cli("history", "load", "--limit", "2")
    assert limited.exit_code == ExitCode.OK
    header, *rows = lines_of(limited.stdout)
    assert header.split()[0] == "RUN"
    assert [r.split()[0] for r in rows] == [str(ids[2]), str(ids[1])]
    assert "skipped" in rows[0] and "failed" in rows[1]


def test_history_of_a_job_removed_from_the_file_is_kept(project, cli):
    project.write("""
        [jobs.old]
        schedule = "0 3 * * *"
        command = "true"

        [jobs.keep]
        schedule = "0 4 * * *"
        command = "true"
    """)
    run = record(project.store(), "old", datetime(2024, 1, 16, 3, tzinfo=UTC), "failed")
    project.write('[jobs.keep]\nschedule = "0 4 * * *"\ncommand = "true"\n')
    result = cli("history", "old", "--json")
    assert result.exit_code == ExitCode.OK
    (shown,) = json.loads(result.stdout)
    assert (shown["id"], shown["status"]) == (run.id, "failed")
    assert shown["scheduled_for"] == "2024-01-16T03:00:00+00:00"
    assert "failed" in cli("history", "old").stdout


def test_history_of_an_unknown_job_without_runs_exits_2(project, cli):
    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "true"\n')
    result = cli("history", "laod")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == 'Error: no job named "laod" (did you mean "load"?)\n'


def test_trigger_wait_runs_an_async_python_job(project, cli):
    (project.root / "asyncjobs.py").write_text(
        "import asyncio\n"
        "from pathlib import Path\n\n"
        "async def main(scheduled_for):\n"
        "    await asyncio.sleep(0.01)\n"
        "    Path('ran.txt').write_text(scheduled_for.tzinfo.key)\n"
    )
    project.write("""
        [jobs.aio]
        python = "asyncjobs:main"
        timezone = "America/New_York"
    """)
    assert cli("trigger", "aio", "--wait").exit_code == ExitCode.OK
    assert (project.root / "ran.txt").read_text() == "America/New_York"
    assert cli("logs", "aio").stdout == ""


# -- logs -----------------------------------------------------------------------------------


def test_logs_show_the_latest_run_by_default_and_any_run_by_id(project, cli):
    project.write("""
        [jobs.say]
        command = 'echo "run $CRONPLUS_RUN_ID attempt $CRONPLUS_ATTEMPT"'
    """)
    assert cli("trigger", "say", "--wait").exit_code == ExitCode.OK
    assert cli("trigger", "say", "--wait").exit_code == ExitCode.OK
    first, second = sorted(r["id"] for r in json.loads(cli("history", "say", "--json").stdout))
    latest = cli("logs", "say")
    assert latest.exit_code == ExitCode.OK
    assert latest.stdout == f"run {second} attempt 1\n"
    assert cli("logs", "say", "--run", str(first)).stdout == f"run {first} attempt 1\n"


def test_logs_show_the_last_attempt_of_a_retried_run_or_the_one_asked_for(project, cli):
    project.write("""
        [jobs.flaky]
        command = 'echo "attempt $CRONPLUS_ATTEMPT"; [ "$CRONPLUS_ATTEMPT" -ge 2 ]'
        retries = 2
        retry_delay = "0s"
    """)
    assert cli("trigger", "flaky", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "flaky").stdout == "attempt 2\n"
    assert cli("logs", "flaky", "--attempt", "1").stdout == "attempt 1\n"
    beyond = cli("logs", "flaky", "--attempt", "3")
    assert beyond.exit_code == ExitCode.USAGE
    assert "has 2 attempt(s), not 3" in beyond.stderr


def test_logs_replace_bytes_that_are_not_utf8(project, cli):
    project.write(r"""
        [jobs.binary]
        command = "printf '\\377\\376 ok\\n'"
    """)
    assert cli("trigger", "binary", "--wait").exit_code == ExitCode.OK
    result = cli("logs", "binary")
    assert result.exit_code == ExitCode.OK
    assert result.stdout == "\ufffd\ufffd ok\n"


def test_logs_write_utf8_even_when_stdout_is_ascii(project, cli):
    project.write(r"""
        [jobs.binary]
        command = "printf '\\377 caf\\303\\251\\n'"
    """)
    assert cli("trigger", "binary", "--wait").exit_code == ExitCode.OK
    result = subprocess.run(
        [sys.executable, "-m", "cronplus", "--state", str(project.state), "logs", "binary"],
        capture_output=True,
        timeout=30,
        env={**os.environ, "PYTHONIOENCODING": "ascii"},
    )
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == "\ufffd café\n".encode()


def test_logs_of_an_unknown_run_exit_2(project, cli):
    project.write('[jobs.say]\ncommand = "echo hi"\n')
    assert cli("trigger", "say", "--wait").exit_code == ExitCode.OK
    result = cli("logs", "say", "--run", "999")
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr == 'Error: job "say" has no run 999 (see: cronplus history say)\n'
    assert result.stdout == ""


# -- trigger --------------------------------------------------------------------------------

PIPELINE = """
    [jobs.extract]
    schedule = "0 3 * * *"
    timezone = "Europe/Berlin"
    command = "{extract}"

    [jobs.load]
    after = ["extract"]
    command = "true"

    [jobs.report]
    after = ["load"]
    command = "true"
"""


def runs_of(cli, job: str) -> list[dict]:
    result = cli("history", job, "--json")
    assert result.exit_code == ExitCode.OK
    return json.loads(result.stdout)


def test_trigger_wait_runs_the_job_then_its_downstream_for_the_same_logical_time(project, cli):
    project.write(PIPELINE.format(extract="true"))
    before = datetime.now(UTC)
    result = cli("trigger", "extract", "--wait")
    after = datetime.now(UTC)
    assert result.exit_code == ExitCode.OK
    (extract,) = runs_of(cli, "extract")
    (load,) = runs_of(cli, "load")
    (report,) = runs_of(cli, "report")
    for run in (extract, load, report):
        assert (run["trigger"], run["status"]) == ("manual", "succeeded")
        assert run["scheduled_for"] == extract["scheduled_for"]
    logical = datetime.fromisoformat(extract["scheduled_for"])
    assert logical.utcoffset() == logical.astimezone(BERLIN).utcoffset()
    # The instant of the call to the microsecond, not rounded to a second.
    assert before <= logical <= after
    shown = [line.split()[0] for line in lines_of(result.stdout)]
    assert shown == ["extract", "load", "report"]


def test_trigger_wait_exits_1_and_marks_downstream_upstream_failed(project, cli):
    project.write(PIPELINE.format(extract="exit 4"))
    result = cli("trigger", "extract", "--wait")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (extract,) = runs_of(cli, "extract")
    assert (extract["status"], extract["exit_code"]) == ("failed", 4)
    for job in ("load", "report"):
        (run,) = runs_of(cli, job)
        assert (run["status"], run["trigger"], run["attempts"], run["exit_code"]) == (
            "upstream_failed",
            "manual",
            0,
            None,
        )
        assert run["scheduled_for"] == extract["scheduled_for"]
        assert f'"extract" run {extract["id"]}' in run["reason"]


def test_trigger_wait_skips_a_disabled_downstream_job_without_failing(project, cli):
    project.write("""
        [jobs.extract]
        command = "true"

        [jobs.load]
        after = ["extract"]
        command = "true"
        enabled = false
    """)
    result = cli("trigger", "extract", "--wait")
    assert result.exit_code == ExitCode.OK
    (load,) = runs_of(cli, "load")
    assert (load["status"], load["reason"]) == ("skipped", 'job "load" is disabled')


def test_every_trigger_is_a_new_run(project, cli):
    project.write('[jobs.say]\ncommand = "true"\n')
    for _ in range(3):
        assert cli("trigger", "say", "--wait").exit_code == ExitCode.OK
    runs = runs_of(cli, "say")
    assert len({r["scheduled_for"] for r in runs}) == len({r["id"] for r in runs}) == 3


def test_trigger_runs_a_disabled_job(project, cli):
    project.write('[jobs.off]\nschedule = "@daily"\ncommand = "true"\nenabled = false\n')
    assert cli("trigger", "off", "--wait").exit_code == ExitCode.OK
    (run,) = runs_of(cli, "off")
    assert (run["status"], run["trigger"]) == ("succeeded", "manual")


def test_trigger_passes_its_run_metadata_in_the_environment(project, cli):
    project.write("""
        [jobs.env]
        timezone = "America/New_York"
        command = 'echo "$CRONPLUS_JOB $CRONPLUS_TRIGGER $CRONPLUS_RUN_ID $CRONPLUS_SCHEDULED_FOR"'
    """)
    assert cli("trigger", "env", "--wait").exit_code == ExitCode.OK
    (run,) = runs_of(cli, "env")
    assert cli("logs", "env").stdout == f"env manual {run['id']} {run['scheduled_for']}\n"


def test_trigger_wait_logs_events_to_stderr_once_each_time_it_runs(project, cli):
    project.write('[jobs.say]\ncommand = "echo hi"\n')
    for _ in range(2):
        result = cli("trigger", "say", "--wait")
        assert result.exit_code == ExitCode.OK
        events = [line.split("event=")[1] for line in lines_of(result.stderr)]
        assert events == ["start", "end", "succeeded"]
        assert "event=" not in result.stdout
    handlers = logging.getLogger("cronplus").handlers
    assert len(handlers) == 1


def test_trigger_wait_leaves_the_callers_signal_handlers_in_place(project, cli):
    project.write('[jobs.say]\ncommand = "true"\n')
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    assert cli("trigger", "say", "--wait").exit_code == ExitCode.OK
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before


def test_trigger_of_an_unknown_job_exits_2(project, cli):
    project.write('[jobs.load]\ncommand = "true"\n')
    result = cli("trigger", "laod", "--wait")
    assert result.exit_code == ExitCode.USAGE
    assert 'no job named "laod" (did you mean "load"?)' in result.stderr
    assert not project.state.exists()


def test_trigger_without_wait_prints_the_run_id_and_finishes_in_the_background(project, cli):
    project.write("""
        [jobs.bg]
        command = 'sleep 0.5; echo "done $CRONPLUS_TRIGGER"'
    """)
    result = cli("trigger", "bg")
    assert result.exit_code == ExitCode.OK
    run_id = int(result.stdout.strip())
    store = project.store()
    run = wait_until(
        lambda: (r := store.get_run(run_id)) is not None and r.status.is_final and r, 20
    )
    assert (run.job, run.status, run.trigger) == ("bg", RunStatus.SUCCEEDED, Trigger.MANUAL)
    assert cli("logs", "bg").stdout == "done manual\n"


def test_the_library_starts_a_detached_trigger_and_returns_its_run_id(project):
    from cronplus.paths import StatePaths
    from cronplus.trigger import start_detached

    project.write("""
        [jobs.bg]
        command = 'echo "done $CRONPLUS_TRIGGER"'
    """)
    run_id = start_detached("jobs.toml", StatePaths(project.state), "bg")
    store = project.store()
    run = wait_until(
        lambda: (r := store.get_run(run_id)) is not None and r.status.is_final and r, 20
    )
    assert (run.job, run.status, run.trigger) == ("bg", RunStatus.SUCCEEDED, Trigger.MANUAL)
    assert Path(run.last_attempt.log).read_text() == "done manual\n"


def test_a_detached_trigger_that_claims_nothing_says_why_with_its_exit_code(project):
    from cronplus.paths import StatePaths
    from cronplus.trigger import DetachedStartError, start_detached

    project.write('[jobs.load]\ncommand = "true"\n')
    with pytest.raises(DetachedStartError) as raised:
        start_detached("jobs.toml", StatePaths(project.state), "laod")
    assert raised.value.exit_code == ExitCode.USAGE
    assert raised.value.output == 'Error: no job named "laod" (did you mean "load"?)'


# -- next -----------------------------------------------------------------------------------


def test_next_over_spring_forward_runs_a_fixed_time_job_after_the_gap(project, cli):
    project.write("""
        [jobs.nightly]
        schedule = "30 2 * * *"
        timezone = "Europe/Berlin"
        command = "true"
    """)
    result = cli("next", "nightly", "--after", "2026-03-28T12:00+01:00", "-n", "2", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout) == [
        {
            "job": "nightly",
            "fire_times": ["2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
        }
    ]
    piped = cli("next", "nightly", "--after", "2026-03-28T12:00+01:00", "-n", "2")
    assert lines_of(piped.stdout)[1:] == [
        "nightly  2026-03-29 03:00:00+02:00",
        "nightly  2026-03-30 02:30:00+02:00",
    ]


def test_next_lists_fire_times_strictly_after_the_given_instant(project, cli):
    project.write(
        '[jobs.nightly]\nschedule = "30 2 * * *"\ntimezone = "Europe/Berlin"\ncommand = "true"\n'
    )
    result = cli("next", "nightly", "--after", "2026-03-30T02:30:00+02:00", "-n", "1", "--json")
    assert json.loads(result.stdout)[0]["fire_times"] == ["2026-03-31T02:30:00+02:00"]


def test_next_reads_a_naive_after_in_the_job_zone(project, cli):
    project.write("""
        [jobs.ny]
        schedule = "0 9 * * *"
        timezone = "America/New_York"
        command = "true"
    """)
    # 09:30 in New York is after that day's 09:00; read as UTC it would be before it.
    result = cli("next", "ny", "--after", "2026-03-08T09:30", "-n", "1", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout)[0]["fire_times"] == ["2026-03-09T09:00:00-04:00"]


def test_next_without_a_job_lists_every_job_with_its_pipeline_times(project, cli):
    project.write("""
        [jobs.extract]
        schedule = "0 3 * * *"
        timezone = "America/New_York"
        command = "true"

        [jobs.load]
        after = ["extract"]
        command = "true"

        [jobs.adhoc]
        command = "true"
    """)
    result = cli("next", "--after", "2026-01-10T00:00-05:00", "-n", "2", "--json")
    assert result.exit_code == ExitCode.OK
    times = ["2026-01-10T03:00:00-05:00", "2026-01-11T03:00:00-05:00"]
    assert json.loads(result.stdout) == [
        {"job": "extract", "fire_times": times},
        {"job": "load", "fire_times": times},
        {"job": "adhoc", "fire_times": []},
    ]


def test_next_without_after_starts_from_now(project, cli):
    project.write('[jobs.tick]\nschedule = "* * * * *"\ntimezone = "UTC"\ncommand = "true"\n')
    before = datetime.now(UTC)
    (row,) = json.loads(cli("next", "tick", "-n", "3", "--json").stdout)
    times = [datetime.fromisoformat(t) for t in row["fire_times"]]
    assert before < times[0] <= before + timedelta(minutes=1)
    assert [b - a for a, b in zip(times, times[1:], strict=False)] == [timedelta(minutes=1)] * 2


@pytest.mark.parametrize("bad", ["tomorrow", "2026-02-30T00:00", "03:00"])
def test_next_with_a_bad_after_exits_2(project, cli, bad):
    project.write('[jobs.tick]\nschedule = "@daily"\ncommand = "true"\n')
    result = cli("next", "--after", bad)
    assert result.exit_code == ExitCode.USAGE
    assert result.stderr.startswith(f'Error: --after "{bad}" is not an ISO date-time')
    no_traceback(result)


def test_next_of_an_unknown_job_exits_2(project, cli):
    project.write('[jobs.tick]\nschedule = "@daily"\ncommand = "true"\n')
    result = cli("next", "tik")
    assert result.exit_code == ExitCode.USAGE
    assert 'no job named "tik" (did you mean "tick"?)' in result.stderr


# -- help and start-up ----------------------------------------------------------------------


def test_python_m_cronplus_works_like_the_script(project):
    result = subprocess.run(
        [sys.executable, "-m", "cronplus", "--help"], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("Usage: cronplus ")
    for command in cli_group.commands:
        if not cli_group.commands[command].hidden:
            assert command in result.stdout


@pytest.mark.parametrize("command", sorted(cli_group.commands))
def test_every_command_has_help_with_an_example(project, cli, command):
    result = cli(command, "--help")
    assert result.exit_code == ExitCode.OK
    assert "Example" in result.stdout
    assert cli_group.commands[command].get_short_help_str()


def test_version_names_the_package(project, cli):
    result = cli("--version")
    assert result.exit_code == ExitCode.OK
    assert result.stdout.startswith("cronplus ")


def test_version_answered_without_click_is_what_click_answers(project):
    """`cronplus --version` alone is answered before click is imported (issue 12); with
    a global option first, click answers. Both print pyproject.toml's version."""
    import tomllib

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    version = tomllib.loads(pyproject.read_text())["project"]["version"]
    answers = [
        subprocess.run(
            [sys.executable, "-m", "cronplus", *argv, "--version"],
            capture_output=True,
            text=True,
            timeout=30,
            cwd=project.root,
        )
        for argv in ([], ["-c", "jobs.toml"])
    ]
    assert [(a.returncode, a.stdout) for a in answers] == [(0, f"cronplus {version}\n")] * 2


def test_status_subprocess_runs_in_the_jobs_file_folder_by_default(project):
    """`cronplus status` with no options reads ./jobs.toml and .cronplus/ beside it."""
    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "true"\n')
    result = subprocess.run(
        [sys.executable, "-m", "cronplus", "status", "--json"],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=project.root,
    )
    assert result.returncode == 0, result.stderr
    assert [r["job"] for r in json.loads(result.stdout)] == ["load"]
    assert not Path(project.root, ".cronplus").exists()


@pytest.mark.parametrize(
    "command", [["trigger", "ok", "--wait"], ["run"], ["status"], ["history", "ok"]]
)
def test_a_state_path_that_is_a_file_is_a_clear_error(project, command):
    project.write("""
        [jobs.ok]
        command = "true"
    """)
    (project.root / "afile").write_text("")
    result = CliRunner().invoke(
        cli_group,
        ["-c", "jobs.toml", "--state", str(project.root / "afile"), *command],
        catch_exceptions=False,
    )
    assert result.exit_code == ExitCode.USAGE
    assert f"the state directory {project.root / 'afile'} is not a directory" in result.stderr
    assert "Traceback" not in result.stderr


def test_trigger_of_a_fan_in_root_says_which_downstream_jobs_did_not_run_and_why(project, cli):
    project.write("""
        [jobs.extract_a]
        schedule = "0 3 * * *"
        command = "true"

        [jobs.extract_b]
        schedule = "0 3 * * *"
        command = "true"

        [jobs.transform]
        after = ["extract_a", "extract_b"]
        command = "true"

        [jobs.load]
        after = ["transform"]
        command = "true"
    """)
    result = cli("trigger", "extract_a", "--wait")
    assert result.exit_code == ExitCode.OK, result.output
    lines = lines_of(result.stdout)
    assert lines[0].startswith("extract_a  run 1  succeeded")
    assert lines[1:] == [
        "transform: not run, waits for extract_b at this logical time",
        "load: not run, waits for transform",
    ]


def test_a_timeout_of_centuries_is_a_timeout_that_never_comes(project, cli):
    project.write("""
        [jobs.patient]
        command = "true"
        timeout = "900000000d"
    """)
    assert cli("validate").exit_code == ExitCode.OK
    result = cli("trigger", "patient", "--wait")
    assert result.exit_code == ExitCode.OK, result.output
    assert "Traceback" not in result.output
    assert "patient  run 1  succeeded" in result.stdout
