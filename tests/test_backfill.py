"""`cronplus backfill`, against real job processes and a real SQLite state.

Jobs append `JOB LOGICAL_TIME` to a file when they end, so each test checks what
actually ran as well as what was recorded.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta

import pytest

from cronplus.errors import ExitCode
from cronplus.model import Claim, RunStatus, Trigger
from tests.conftest import wait_until

# A shell job that records what ran, in the order it ended.
APPEND = 'echo "$CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR $CRONPLUS_TRIGGER" >> ran.txt'

CHAIN = f"""
[defaults]
timezone = "UTC"

[jobs.extract]
schedule = "0 3 * * *"
command = '{APPEND}'

[jobs.transform]
after = ["extract"]
command = '{APPEND}'

[jobs.load]
after = ["transform"]
command = '{APPEND}'
"""

DAYS = [date(2026, 10, 1) + timedelta(days=i) for i in range(14)]


def ran(project) -> list[tuple[str, str]]:
    path = project.root / "ran.txt"
    if not path.exists():
        return []
    return [tuple(line.split()[:2]) for line in path.read_text().splitlines()]


def runs(project, job):
    store = project.store()
    try:
        return sorted(store.history(job), key=lambda r: r.scheduled_for)
    finally:
        store.close()


def logical(d: date, hour: int = 3) -> str:
    return datetime(d.year, d.month, d.day, hour, tzinfo=UTC).isoformat()


# `python -m cronplus` that writes its plan's details to ./planned once it has planned,
# so a test knows what the plan saw before it lets the world change.
_NOTE_PLAN = """
import os, pathlib, cronplus.backfill as b
from cronplus.cli import main
plan_backfill = b.plan_backfill
def noted(*args, **kwargs):
    plan = plan_backfill(*args, **kwargs)
    pathlib.Path("planned.tmp").write_text("\\n".join(str(i.detail) for i in plan.items))
    os.replace("planned.tmp", "planned")
    return plan
b.plan_backfill = noted
main()
"""


def backfill_process(project, *args: str, note_plan: bool = False) -> subprocess.Popen:
    launch = ["-c", _NOTE_PLAN] if note_plan else ["-m", "cronplus"]
    return subprocess.Popen(
        [
            sys.executable,
            *launch,
            "-c",
            str(project.jobs_file),
            "--state",
            str(project.state),
            "backfill",
            *args,
        ],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


# -- the whole chain --------------------------------------------------------------------------


def test_a_chain_over_14_days_runs_each_job_once_per_day_in_order(project, cli):
    project.write(CHAIN)
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-14")
    assert result.exit_code == ExitCode.OK, result.output
    assert "planned 42: 42 succeeded, 0 failed, 0 interrupted, 0 skipped" in result.stdout

    expected = [(job, logical(d)) for d in DAYS for job in ("extract", "transform", "load")]
    assert ran(project) == expected  # --parallel 1: oldest first, in dependency order
    for job in ("extract", "transform", "load"):
        recorded = runs(project, job)
        assert [r.scheduled_for for r in recorded] == [
            datetime.fromisoformat(logical(d)) for d in DAYS
        ]
        assert {(r.status, r.trigger, len(r.attempts)) for r in recorded} == {
            (RunStatus.SUCCEEDED, Trigger.BACKFILL, 1)
        }
    # Ordinary runs: history and status --on show them.
    day = cli("status", "--on", "2026-10-05", "load", "--json")
    (report,) = json.loads(day.stdout)
    assert [(r["trigger"], r["status"]) for r in report["runs"]] == [("backfill", "succeeded")]
    assert report["no_run"] == []


def test_running_it_again_runs_nothing_and_reports_already_succeeded(project, cli):
    project.write(CHAIN)
    cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-03")
    before = ran(project)
    again = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-03", "--json")
    assert again.exit_code == ExitCode.OK
    out = json.loads(again.stdout)
    assert (out["planned"], out["succeeded"], out["skipped"], out["failed"]) == (9, 0, 9, 0)
    assert len(out["runs"]) == 9 and {r["status"] for r in out["runs"]} == {"succeeded"}
    assert ran(project) == before


def test_failed_runs_are_run_again_as_new_attempts_of_the_same_run(project, cli):
    # transform fails while fail-on-<date> exists, and prints its attempt number.
    project.write(
        CHAIN.replace(
            """[jobs.transform]
after = ["extract"]
command = '""",
            """[jobs.transform]
after = ["extract"]
retries = 1
retry_delay = "0s"
command = 'echo attempt=$CRONPLUS_ATTEMPT trigger=$CRONPLUS_TRIGGER; test -e fail-on-$CRONPLUS_LOGICAL_DATE && exit 4; """,  # noqa: E501
        )
    )
    (project.root / "fail-on-2026-10-02").touch()
    first = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-03")
    assert first.exit_code == ExitCode.NOT_SUCCEEDED
    assert (
        "planned 9: 7 succeeded, 1 failed, 0 interrupted, 0 skipped (already succeeded), "
        "1 upstream_failed" in (first.stdout)
    )
    failed = next(r for r in runs(project, "transform") if r.status is not RunStatus.SUCCEEDED)
    assert (failed.status, len(failed.attempts)) == (RunStatus.FAILED, 2)
    blocked = next(r for r in runs(project, "load") if r.status is not RunStatus.SUCCEEDED)
    assert blocked.status is RunStatus.UPSTREAM_FAILED
    assert f'upstream job "transform" run {failed.id} ended failed' == blocked.reason

    (project.root / "fail-on-2026-10-02").unlink()
    lines_before = len(ran(project))
    second = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-03", "--json")
    assert second.exit_code == ExitCode.OK, second.output
    out = json.loads(second.stdout)
    assert (out["succeeded"], out["skipped"], out["failed"], out["upstream_failed"]) == (2, 7, 0, 0)
    # Only the two runs that had not succeeded ran, as the same runs.
    assert ran(project)[lines_before:] == [
        ("transform", logical(DAYS[1])),
        ("load", logical(DAYS[1])),
    ]
    again = next(r for r in runs(project, "transform") if r.id == failed.id)
    assert again.status is RunStatus.SUCCEEDED
    # A fresh retry budget, attempts numbered on: 1 and 2 failed, 3 succeeded.
    assert [a.number for a in again.attempts] == [1, 2, 3]
    assert [a.trigger for a in again.attempts] == [Trigger.BACKFILL] * 3
    log = cli("logs", "transform", "--run", str(again.id), "--attempt", "3").stdout
    assert log.strip() == "attempt=3 trigger=backfill"
    load_again = next(r for r in runs(project, "load") if r.id == blocked.id)
    assert (load_again.status, len(load_again.attempts)) == (RunStatus.SUCCEEDED, 1)


def test_a_scheduled_run_run_again_keeps_its_trigger_and_marks_the_new_attempts(project, cli):
    project.write(CHAIN)
    store = project.store()
    t = datetime(2026, 10, 1, 3, tzinfo=UTC)
    run = store.claim_run(
        "extract",
        t,
        Trigger.SCHEDULE,
        Claim(owner=None, now=t, status=RunStatus.SKIPPED, reason="x"),
    )
    store.close()
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-01", "--only")
    assert result.exit_code == ExitCode.OK, result.output
    (got,) = runs(project, "extract")
    assert (got.id, got.trigger, got.status) == (run.id, Trigger.SCHEDULE, RunStatus.SUCCEEDED)
    assert [a.trigger for a in got.attempts] == [Trigger.BACKFILL]
    assert ran(project) == [("extract", logical(DAYS[0]))]


def test_rerun_runs_succeeded_ones_again_keeping_their_history(project, cli):
    project.write(CHAIN)
    cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-02")
    ids = {r.scheduled_for: r.id for r in runs(project, "load")}
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-02", "--rerun")
    assert result.exit_code == ExitCode.OK, result.output
    assert "planned 6: 6 succeeded, 0 failed, 0 interrupted, 0 skipped" in result.stdout
    assert Counter(ran(project)) == {
        (job, logical(d)): 2 for d in DAYS[:2] for job in ("extract", "transform", "load")
    }
    for r in runs(project, "load"):
        assert r.id == ids[r.scheduled_for]
        assert [a.number for a in r.attempts] == [1, 2]


# -- what is planned ----------------------------------------------------------------------------


def test_an_upstream_gap_blocks_only_its_own_logical_time(project, cli):
    project.write(CHAIN)
    cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-05", "--only")
    store = project.store()
    gap = next(r for r in store.history("extract") if r.scheduled_for.day == 3)
    store.reopen_run(
        gap.id,
        [RunStatus.SUCCEEDED],
        Claim(owner=None, now=gap.scheduled_for, status=RunStatus.FAILED, reason="exit 1"),
    )
    store.close()

    result = cli("backfill", "transform", "--from", "2026-10-01", "--to", "2026-10-05")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    assert (
        "planned 10: 8 succeeded, 0 failed, 0 interrupted, 0 skipped (already succeeded), "
        "2 upstream_failed" in (result.stdout)
    )
    by_day = {r.scheduled_for.day: r for r in runs(project, "transform")}
    assert {d for d, r in by_day.items() if r.status is RunStatus.SUCCEEDED} == {1, 2, 4, 5}
    assert by_day[3].status is RunStatus.UPSTREAM_FAILED
    assert by_day[3].reason == (
        'upstream job "extract" has no successful run for 2026-10-03 03:00:00+00:00'
    )
    assert (
        runs(project, "load")[2].reason
        == f'upstream job "transform" run {by_day[3].id} is upstream_failed'
    )
    # extract is upstream, so it was not run again.
    assert Counter(job for job, _ in ran(project))["extract"] == 5


def test_with_upstream_runs_the_jobs_it_is_after_too(project, cli):
    project.write(CHAIN)
    result = cli(
        "backfill",
        "transform",
        "--from",
        "2026-10-01",
        "--to",
        "2026-10-02",
        "--with-upstream",
        "--only",
    )
    assert result.exit_code == ExitCode.OK, result.output
    assert ran(project) == [
        ("extract", logical(DAYS[0])),
        ("transform", logical(DAYS[0])),
        ("extract", logical(DAYS[1])),
        ("transform", logical(DAYS[1])),
    ]


def test_only_runs_the_job_alone(project, cli):
    project.write(CHAIN)
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-02", "--only")
    assert result.exit_code == ExitCode.OK
    assert {job for job, _ in ran(project)} == {"extract"}


def test_dst_fall_back_day_has_one_run_of_a_fixed_time_job(project, cli):
    project.write(
        f"""
        [jobs.nightly]
        schedule = "30 2 * * *"
        timezone = "Europe/Berlin"
        command = '{APPEND}'
        """
    )
    result = cli("backfill", "nightly", "--from", "2026-10-24", "--to", "2026-10-26", "--json")
    assert result.exit_code == ExitCode.OK, result.output
    times = [r["scheduled_for"] for r in json.loads(result.stdout)["runs"]]
    # 25 October is the fall-back day: 02:30 comes twice, the job runs in the first pass.
    assert times == [
        "2026-10-24T02:30:00+02:00",
        "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00",
    ]
    assert [t for _, t in ran(project)] == times


def test_a_datetime_bound_without_offset_is_read_in_the_job_zone(project, cli):
    project.write(
        f"""
        [jobs.hourly]
        schedule = "0 * * * *"
        timezone = "America/New_York"
        command = '{APPEND}'
        """
    )
    result = cli(
        "backfill", "hourly", "--from", "2026-06-01T10:00", "--to", "2026-06-01T12:00", "--json"
    )
    assert [r["scheduled_for"] for r in json.loads(result.stdout)["runs"]] == [
        "2026-06-01T10:00:00-04:00",
        "2026-06-01T11:00:00-04:00",
        "2026-06-01T12:00:00-04:00",
    ]
    utc = cli(
        "backfill",
        "hourly",
        "--from",
        "2026-06-01T16:00+00:00",
        "--to",
        "2026-06-01T16:00Z",
        "--dry-run",
        "--json",
    )
    assert [i["scheduled_for"] for i in json.loads(utc.stdout)["plan"]] == [
        "2026-06-01T12:00:00-04:00"
    ]


def test_a_range_reaching_into_the_future_leaves_those_fire_times_out(project, cli):
    project.write(
        f"""
        [jobs.daily]
        schedule = "0 0 * * *"
        timezone = "UTC"
        command = '{APPEND}'
        """
    )
    today = datetime.now(UTC).date()
    start, end = today - timedelta(days=2), today + timedelta(days=5)
    result = cli("backfill", "daily", "--from", start.isoformat(), "--to", end.isoformat())
    assert result.exit_code == ExitCode.OK, result.output
    # Today's midnight has passed; the next 5 midnights have not.
    assert "5 fire times later than now were left out" in result.stdout
    assert len(ran(project)) == 3


def test_a_range_wholly_in_the_future_is_an_error(project, cli):
    project.write(CHAIN)
    later = datetime.now(UTC).date() + timedelta(days=3)
    result = cli("backfill", "extract", "--from", later.isoformat(), "--to", later.isoformat())
    assert result.exit_code == ExitCode.USAGE
    assert "has come yet (1 fire time later than now was left out)" in result.stderr
    assert not project.state.exists()


def test_dry_run_prints_the_plan_and_creates_nothing(project, cli):
    project.write(CHAIN)
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-02", "--dry-run")
    assert result.exit_code == ExitCode.OK
    assert result.stdout.splitlines() == [
        f"2026-10-0{d} 03:00:00+00:00  {job:<9}  would-run"
        for d in (1, 2)
        for job in ("extract", "transform", "load")
    ]
    assert "nothing was run" in result.stderr
    assert not project.state.exists() and ran(project) == []


def test_dry_run_classifies_against_what_is_recorded(project, cli):
    project.write(CHAIN)
    cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-01")
    store = project.store()
    (t,) = [r for r in store.history("transform")]
    store.reopen_run(
        t.id,
        [RunStatus.SUCCEEDED],
        Claim(owner=None, now=t.scheduled_for, status=RunStatus.FAILED, reason="exit 1"),
    )
    count_before = len(store.history("load"))
    store.close()
    result = cli(
        "backfill", "transform", "--from", "2026-10-01", "--to", "2026-10-02", "--dry-run", "--json"
    )
    plan = {(i["job"], i["scheduled_for"][:10]): i for i in json.loads(result.stdout)["plan"]}
    assert plan["transform", "2026-10-01"]["plan"] == "would-run"
    assert plan["transform", "2026-10-01"]["detail"] == f"run {t.id} again (failed, 1 attempt)"
    assert plan["load", "2026-10-01"]["plan"] == "already-succeeded"
    assert plan["transform", "2026-10-02"]["plan"] == "blocked"
    assert plan["load", "2026-10-02"]["plan"] == "blocked"
    assert plan["load", "2026-10-02"]["detail"] == 'upstream job "transform" is blocked'
    store = project.store()
    assert len(store.history("load")) == count_before
    store.close()


# -- parallel and concurrent ------------------------------------------------------------------

TIMED = """
[defaults]
timezone = "UTC"

[jobs.a]
schedule = "0 * * * *"
command = 'echo "start $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ev.txt; sleep 0.1;\
 echo "end $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ev.txt'

[jobs.b]
after = ["a"]
command = 'echo "start $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ev.txt; sleep 0.1;\
 echo "end $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ev.txt'

[jobs.c]
after = ["a", "b"]
command = 'echo "start $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ev.txt; sleep 0.1;\
 echo "end $CRONPLUS_JOB $CRONPLUS_SCHEDULED_FOR" >> ev.txt'
"""


def events(project) -> list[tuple[str, str, str]]:
    return [tuple(line.split()) for line in (project.root / "ev.txt").read_text().splitlines()]


def test_parallel_runs_logical_times_at_once_but_never_breaks_dependency_order(project, cli):
    project.write(TIMED)
    result = cli(
        "backfill", "a", "--from", "2026-10-01T00:00", "--to", "2026-10-01T11:00", "--parallel", "4"
    )
    assert result.exit_code == ExitCode.OK, result.output
    ev = events(project)
    pos = {e: i for i, e in enumerate(ev)}
    assert len(ev) == len(pos) == 12 * 3 * 2  # every run started and ended once
    for _, _, t in ev:
        assert pos["end", "a", t] < pos["start", "b", t]
        assert pos["end", "b", t] < pos["start", "c", t]
    running, most = set(), 0
    for kind, job, t in ev:
        (running.add if kind == "start" else running.discard)((job, t))
        most = max(most, len(running))
    assert 2 <= most <= 4


def test_two_backfills_of_one_range_execute_each_logical_run_once(project):
    project.write(TIMED)
    args = ("a", "--from", "2026-10-01T00:00", "--to", "2026-10-01T07:00", "--parallel", "2")
    procs = [backfill_process(project, *args) for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    starts = Counter((job, t) for kind, job, t in events(project) if kind == "start")
    assert len(starts) == 8 * 3 and set(starts.values()) == {1}
    store = project.store()
    for job in "abc":
        assert [r.status for r in store.history(job)] == [RunStatus.SUCCEEDED] * 8
    store.close()


# -- interrupted ------------------------------------------------------------------------------


def test_sigterm_interrupts_and_the_same_command_finishes_without_running_anything_twice(
    project, cli
):
    # Each job ends after 0.8 s and appends its line only then: long enough that the
    # signal, sent once a run is seen going, still finds it going on a loaded machine
    # (with 0.3 s it once arrived just after the run ended).
    project.write(CHAIN.replace("command = '", "command = 'sleep 0.8; "))
    args = ("extract", "--from", "2026-10-01", "--to", "2026-10-05")
    proc = backfill_process(project, *args, "--json")

    def going() -> bool:  # the signal must find a run in its 0.8 s, not between two
        jobs = ("extract", "transform", "load")
        return any(r.status is RunStatus.RUNNING for j in jobs for r in runs(project, j))

    wait_until(lambda: len(ran(project)) >= 4 and going(), timeout=30)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.NOT_SUCCEEDED, err
    assert "backfill interrupted:" in err and "run the same command again" in err
    done = ran(project)
    assert 4 <= len(done) < 15
    cut = [r for job in ("extract", "transform", "load") for r in runs(project, job)]
    assert all(r.status.is_final for r in cut)
    interrupted = [r for r in cut if r.status is RunStatus.INTERRUPTED]
    assert interrupted  # the run going at the signal was cut short
    assert all(r.status in (RunStatus.SUCCEEDED, RunStatus.INTERRUPTED) for r in cut)
    # Counted as interrupted, not as failed; the flag stays beside the count.
    summary = json.loads(out)
    assert (summary["failed"], summary["interrupted_runs"]) == (0, len(interrupted))
    assert summary["interrupted"] is True
    # The plain progress lines say so too.
    assert " interrupted (run " in err

    result = cli("backfill", *args)
    assert result.exit_code == ExitCode.OK, result.output
    assert Counter(ran(project)) == {
        (job, logical(d)): 1 for d in DAYS[:5] for job in ("extract", "transform", "load")
    }
    for r in interrupted:
        again = next(x for x in runs(project, r.job) if x.id == r.id)
        assert again.status is RunStatus.SUCCEEDED
        assert again.attempts[-1].number == len(r.attempts) + 1


def test_a_run_in_progress_elsewhere_is_waited_for_not_run_again(project, cli):
    project.write(CHAIN.replace("command = '", "command = 'sleep 1; ", 1))
    trigger_like = backfill_process(
        project, "extract", "--from", "2026-10-01", "--to", "2026-10-01", "--only"
    )
    wait_until(lambda: any(r.status is RunStatus.RUNNING for r in runs(project, "extract")))
    started = time.monotonic()
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-01")
    assert result.exit_code == ExitCode.OK, result.output
    assert time.monotonic() - started > 0.3  # it waited for the other process's run
    trigger_like.communicate(timeout=30)
    assert Counter(ran(project)) == {
        (job, logical(DAYS[0])): 1 for job in ("extract", "transform", "load")
    }


# -- bad input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("extrct", "--from", "2026-10-01", "--to", "2026-10-02"), 'no job named "extrct"'),
        (
            ("extract", "--from", "2026-10-05", "--to", "2026-10-02"),
            '--from "2026-10-05" is after --to "2026-10-02"',
        ),
        (
            ("extract", "--from", "2026-13-01", "--to", "2026-10-02"),
            '--from "2026-13-01" is not a date or an ISO date-time',
        ),
        (
            ("extract", "--from", "2026-10-01", "--to", "yesterday"),
            '--to "yesterday" is not a date or an ISO date-time',
        ),
        (
            ("extract", "--from", "2026-10-01T04:00", "--to", "2026-10-01T05:00"),
            'no fire time of "extract" (0 3 * * *, UTC) falls between',
        ),
        (("manual", "--from", "2026-10-01", "--to", "2026-10-02"), 'job "manual" has no schedule'),
        (
            ("extract", "--from", "0001-01-01", "--to", "2026-10-02"),
            '--from "0001-01-01" is out of range',
        ),
        (
            ("extract", "--from", "2026-10-01", "--to", "9999-12-31"),
            '--to "9999-12-31" is out of range',
        ),
    ],
)
def test_bad_input_is_a_clear_error_with_exit_2(project, cli, args, message):
    project.write(CHAIN + '\n[jobs.manual]\ncommand = "true"\n')
    result = cli("backfill", *args)
    assert result.exit_code == ExitCode.USAGE
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not project.state.exists()


def test_more_than_100000_runs_need_yes(project, cli):
    project.write(
        """
        [jobs.often]
        schedule = "* * * * *"
        timezone = "UTC"
        command = "true"
        """
    )
    args = ("often", "--from", "2026-01-01", "--to", "2026-03-11", "--dry-run", "--json")
    refused = cli("backfill", *args)
    assert refused.exit_code == ExitCode.USAGE
    assert "more than 100,000 runs" in refused.stderr and "--yes" in refused.stderr
    allowed = cli("backfill", *args, "--yes")
    assert allowed.exit_code == ExitCode.OK
    assert json.loads(allowed.stdout)["planned"] == 70 * 1440


def test_json_runs_are_the_runs_as_recorded(project, cli):
    # load fails its first attempt and succeeds on its retry.
    project.write(
        CHAIN
        + """
[jobs.report]
after = ["load"]
retries = 2
retry_delay = "0s"
command = 'test $CRONPLUS_ATTEMPT -ge 2 || exit 5'
"""
    )
    result = cli("backfill", "extract", "--from", "2026-10-01", "--to", "2026-10-02", "--json")
    assert result.exit_code == ExitCode.OK, result.output
    printed = {r["id"]: r for r in json.loads(result.stdout)["runs"]}
    recorded = {}
    for job in ("extract", "transform", "load", "report"):
        recorded.update({r["id"]: r for r in json.loads(cli("history", job, "--json").stdout)})
    assert printed == recorded
    reports = [r for r in printed.values() if r["job"] == "report"]
    assert [r["attempts"] for r in reports] == [2, 2]


def test_progress_is_a_bar_on_a_terminal_and_lines_when_piped(project):
    import os
    import pty

    project.write(CHAIN)
    args = ("extract", "--from", "2026-10-01", "--to", "2026-10-02")
    piped = backfill_process(project, *args)
    _, err = piped.communicate(timeout=60)
    # extract's two fire times are claimed together (runs 1 and 2), then transform's.
    assert err.splitlines()[:2] == [
        "[1/6] extract 2026-10-01 03:00:00+00:00 succeeded (run 1, attempt 1)",
        "[2/6] transform 2026-10-01 03:00:00+00:00 succeeded (run 3, attempt 1)",
    ]

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", str(project.state)]
        + ["backfill", *args, "--rerun"],
        cwd=project.root,
        stdout=subprocess.PIPE,
        stderr=secondary,
    )
    os.close(secondary)
    screen = b""
    while True:
        try:
            chunk = os.read(primary, 4096)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        screen += chunk
    os.close(primary)
    proc.communicate(timeout=60)
    text = screen.decode(errors="replace")
    assert proc.returncode == 0
    assert "6/6" in text and "6 done" in text and "0 failed" in text and "/s" in text
    assert "[1/6]" not in text


def test_a_failing_run_another_backfill_is_executing_is_not_run_again(project):
    project.write(
        """
        [jobs.broken]
        schedule = "0 * * * *"
        timezone = "UTC"
        command = '''
            echo "$CRONPLUS_SCHEDULED_FOR $CRONPLUS_ATTEMPT" >> ran.txt
            until [ -e release ]; do sleep 0.05; done; exit 3'''
        """
    )
    args = ("broken", "--from", "2026-10-01T00:00", "--to", "2026-10-01T03:00", "--parallel", "4")
    first = backfill_process(project, *args)
    # The four hold until released, so they are all running at once however slow the
    # machine is (a fixed sleep let one end before the last began, or before the second
    # backfill had planned: then running them again was right).
    wait_until(
        lambda: [r.status for r in runs(project, "broken")] == [RunStatus.RUNNING] * 4, timeout=60
    )
    # Planned while the first one executes all four: it waits and takes their outcome.
    second = backfill_process(project, *args, "--json", note_plan=True)
    planned = project.root / "planned"
    wait_until(planned.exists, timeout=60)
    assert all("in another cronplus process; wait" in d for d in planned.read_text().split("\n"))
    (project.root / "release").touch()
    out, _ = second.communicate(timeout=60)
    first.communicate(timeout=60)
    assert (first.returncode, second.returncode) == (1, 1)
    assert json.loads(out)["failed"] == 4
    lines = (project.root / "ran.txt").read_text().splitlines()
    assert sorted(lines) == [f"2026-10-01T0{h}:00:00+00:00 1" for h in range(4)]
    assert [len(r.attempts) for r in runs(project, "broken")] == [1, 1, 1, 1]


def test_an_upstream_run_still_going_elsewhere_is_waited_for(project, cli):
    project.write(CHAIN.replace("command = '", "command = 'sleep 1; ", 1))
    upstream = backfill_process(
        project, "extract", "--from", "2026-10-01", "--to", "2026-10-01", "--only"
    )
    wait_until(lambda: any(r.status is RunStatus.RUNNING for r in runs(project, "extract")))
    result = cli("backfill", "transform", "--from", "2026-10-01", "--to", "2026-10-01", "--only")
    assert result.exit_code == ExitCode.OK, result.output
    upstream.communicate(timeout=30)
    assert [r.status for r in runs(project, "transform")] == [RunStatus.SUCCEEDED]


def test_with_upstream_and_a_disabled_upstream_job_blocks_the_job(project, cli):
    project.write(CHAIN.replace("[jobs.extract]\n", "[jobs.extract]\nenabled = false\n"))
    args = ("transform", "--from", "2026-10-01", "--to", "2026-10-01", "--with-upstream")
    plan = cli("backfill", *args, "--dry-run")
    # Something is blocked: exit 1, as the real run below does.
    assert plan.exit_code == ExitCode.NOT_SUCCEEDED, plan.output
    assert 'transform  blocked  upstream job "extract" has no successful run' in plan.stdout
    assert "left out, disabled or after a disabled job: extract" in plan.stderr
    result = cli("backfill", *args)
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    assert [r.status for r in runs(project, "load")] == [RunStatus.UPSTREAM_FAILED]
    assert runs(project, "extract") == []


def test_a_day_in_a_zone_that_falls_back_at_midnight_keeps_both_passes_of_its_last_hour(
    project, cli
):
    project.write(
        """
        [jobs.half]
        schedule = "30 * * * *"
        timezone = "America/Santiago"
        command = "true"
        """
    )
    # Clocks go back from 00:00 on 5 April to 23:00 on the 4th, and an hourly job runs in
    # both passes of that hour: both belong to the 4th, none to the 5th.
    day = cli("backfill", "half", "--from", "2026-04-04", "--to", "2026-04-04", "--dry-run")
    lines = day.stdout.splitlines()
    assert len(lines) == 25
    assert lines[-2:] == [
        "2026-04-04 23:30:00-03:00  half  would-run",
        "2026-04-04 23:30:00-04:00  half  would-run",
    ]
    after = cli("backfill", "half", "--from", "2026-04-05", "--to", "2026-04-05", "--dry-run")
    assert after.stdout.splitlines()[0] == "2026-04-05 00:30:00-04:00  half  would-run"


def test_only_an_attempt_that_goes_on_gets_its_pid_recorded(project, cli):
    """Issue 12: the pid is a help for a later daemon (it finds a wrapper by its status
    path anyway), so a quick attempt is not worth the write; one going on is."""
    project.write(
        """
        [defaults]
        timezone = "UTC"
        [jobs.quick]
        schedule = "0 3 * * *"
        command = "true"
        [jobs.slow]
        schedule = "0 3 * * *"
        command = "sleep 0.5"
        """
    )
    for job in ("quick", "slow"):
        assert cli("backfill", job, "--from", "2026-10-01", "--to", "2026-10-01").exit_code == 0
    [quick], [slow] = runs(project, "quick"), runs(project, "slow")
    assert quick.attempts[0].pid is None
    assert slow.attempts[0].pid is not None
