"""Deadlines on the read side (issue 15): `status --on` says of each fire time whether
its deadline was met, missed or is still ahead; `status` marks a job whose latest
deadline was missed; the run JSON carries `deadline_at`. On real time: the fire times
judged lie hours away from now, so no test straddles a deadline."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import record

from cronplus.errors import ExitCode
from cronplus.model import Trigger

NOW = datetime.now(UTC)
# A daily hour twelve hours from now: its latest fire time is 12-13 h ago (a deadline of
# an hour long passed) and its next 11-12 h ahead, whenever the test runs.
LAST = (NOW - timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
DAY = LAST.date().isoformat()
DAILY = f"0 {LAST.hour} * * *"


def jobs(**deadlines: str | None) -> str:
    """One daily job in UTC per name, with its deadline (None: none)."""
    parts = []
    for name, deadline in deadlines.items():
        parts.append(f'[jobs.{name}]\nschedule = "{DAILY}"\ntimezone = "UTC"\ncommand = "true"\n')
        parts[-1] += f'deadline = "{deadline}"\n' if deadline else ""
    return "\n".join(parts)


def iso(t: datetime) -> str:
    return t.astimezone(UTC).isoformat()


def day_json(cli, *args: str) -> dict[str, dict]:
    result = cli("status", "--on", DAY, *args, "--json")
    return {r["job"]: r for r in json.loads(result.stdout)}


def status_json(cli) -> dict[str, dict]:
    return {r["job"]: r for r in json.loads(cli("status", "--json").stdout)}


def table(text: str) -> dict[str, list[str]]:
    """A piped table's rows by their first cell, each split on its two-space columns."""
    rows = [[c.strip() for c in line.split("  ") if c.strip()] for line in text.splitlines()]
    return {r[0]: r for r in rows if r}


def test_status_on_says_whether_each_deadline_was_met_missed_or_is_ahead(project, cli):
    # record() ends a one-attempt run 10 s after its logical time.
    project.write(jobs(ontime="1m", late="5s", failed="1h", absent="1h", ahead="30d", plain=None))
    store = project.store()
    record(store, "ontime", LAST, "succeeded")
    record(store, "late", LAST, "succeeded")
    record(store, "failed", LAST, "failed", exits=(1,))
    record(store, "plain", LAST, "succeeded")
    result = cli("status", "--on", DAY)
    rows = table(result.stdout)
    assert rows["JOB"][:4] == ["JOB", "TIME", "STATUS", "DEADLINE"]
    words = {job: rows[job][3] for job in ("ontime", "late", "failed", "absent", "ahead", "plain")}
    assert words == {
        "ontime": "met",
        "late": "missed",
        "failed": "missed",
        "absent": "missed",
        "ahead": "ahead",
        "plain": "-",
    }
    got = day_json(cli)
    deadline = {job: r["by_fire_time"][0]["deadline"] for job, r in got.items()}
    assert deadline["ontime"] == {"at": iso(LAST + timedelta(minutes=1)), "met": True}
    assert deadline["late"] == {"at": iso(LAST + timedelta(seconds=5)), "met": False}
    assert deadline["failed"]["met"] is False
    assert deadline["absent"] == {"at": iso(LAST + timedelta(hours=1)), "met": False}
    assert deadline["ahead"] == {"at": iso(LAST + timedelta(days=30)), "met": None}
    assert deadline["plain"] == {"at": None, "met": None}
    # Each entry names its fire time (as in fire_times) and its run.
    entry = got["ontime"]["by_fire_time"][0]
    assert entry["fire_time"] == got["ontime"]["fire_times"][0] == iso(LAST)
    assert entry["run_id"] == got["ontime"]["runs"][0]["id"]
    assert got["absent"]["by_fire_time"][0]["run_id"] is None
    # A missed deadline of a run that succeeded changes no exit code: the runs went well.
    assert cli("status", "--on", DAY, "ontime", "late").exit_code == ExitCode.OK


def test_status_on_without_deadlines_prints_as_before(project, cli):
    project.write(jobs(plain=None))
    record(project.store(), "plain", LAST, "succeeded")
    result = cli("status", "--on", DAY)
    assert "DEADLINE" not in result.stdout
    assert table(result.stdout)["JOB"] == [
        "JOB",
        "TIME",
        "STATUS",
        "TRIGGER",
        "RUN",
        "ATTEMPTS",
        "REASON",
    ]
    assert day_json(cli)["plain"]["by_fire_time"][0]["deadline"] == {"at": None, "met": None}


def test_status_marks_a_job_whose_latest_deadline_was_missed(project, cli):
    project.write(jobs(ontime="1m", late="5s", absent="1h", plain=None, new="1h", paused="1h"))
    store = project.store()
    for name in ("ontime", "late", "plain"):
        record(store, name, LAST, "succeeded")
    record(store, "absent", LAST - timedelta(days=1), "succeeded")  # none for LAST
    record(store, "paused", LAST - timedelta(days=1), "succeeded")
    record(store, "paused", LAST, "skipped", reason="paused")
    result = cli("status")
    rows = table(result.stdout)
    assert "late (deadline missed)" in rows
    assert "absent (deadline missed)" in rows
    assert "ontime" in rows and "plain" in rows
    # Never run (just added): not judged, as it is never overdue; a fire time skipped
    # while paused is the user's own "not now", and the daemon alerts neither.
    assert "new" in rows and "paused" in rows
    notes = [line for line in result.stdout.splitlines() if "deadline missed:" in line]
    assert notes == [
        f"late: deadline missed: the run for {LAST:%Y-%m-%d %H:%M:%S}+00:00 had not succeeded"
        f" by {LAST + timedelta(seconds=5):%Y-%m-%d %H:%M:%S}+00:00 (it succeeded late,"
        f" at {LAST + timedelta(seconds=10):%Y-%m-%d %H:%M:%S}+00:00)",
        f"absent: deadline missed: the run for {LAST:%Y-%m-%d %H:%M:%S}+00:00 had not"
        f" succeeded by {LAST + timedelta(hours=1):%Y-%m-%d %H:%M:%S}+00:00 (no run)",
    ]
    got = status_json(cli)
    assert got["ontime"]["deadline"] == {
        "fire_time": iso(LAST),
        "at": iso(LAST + timedelta(minutes=1)),
        "met": True,
    }
    assert got["late"]["deadline"]["met"] is False
    assert got["absent"]["deadline"]["met"] is False
    assert got["plain"]["deadline"] is None
    assert got["new"]["deadline"] is None and got["paused"]["deadline"] is None
    # A success after its deadline is not a bad run: the exit code stays 0 (`absent`,
    # with no run for a fire time long passed, is overdue: that is what exits 1).
    assert cli("status", "ontime", "late").exit_code == ExitCode.OK
    assert cli("status", "absent").exit_code == ExitCode.NOT_SUCCEEDED


def test_status_reads_the_run_of_a_deadline_that_is_not_the_newest(project, cli):
    """A manual run made since: the judged run is read again, for every such job at once."""
    project.write(jobs(fails="1h", ok="1h"))
    store = project.store()
    record(store, "fails", LAST, "failed", exits=(1,))
    record(store, "ok", LAST, "succeeded")
    for name in ("fails", "ok"):
        assert cli("trigger", name, "--wait").exit_code == ExitCode.OK
    result = cli("status")
    assert "fails (deadline missed)" in table(result.stdout)
    assert f"{LAST + timedelta(hours=1):%H:%M:%S}+00:00 (its run is failed)" in result.stdout
    got = status_json(cli)
    assert got["fails"]["last_run"]["trigger"] == "manual"
    assert got["fails"]["deadline"]["met"] is False
    assert got["ok"]["deadline"] == {
        "fire_time": iso(LAST),
        "at": iso(LAST + timedelta(hours=1)),
        "met": True,
    }


def test_a_pipelines_last_job_is_judged_on_the_pipelines_logical_time(project, cli):
    project.write(
        f"""
        [jobs.extract]
        schedule = "{DAILY}"
        timezone = "UTC"
        command = "true"

        [jobs.load]
        after = ["extract"]
        deadline = "1m"
        command = "true"

        [jobs.report]
        after = ["load"]
        deadline = "1m"
        command = "true"
        """
    )
    store = project.store()
    record(store, "extract", LAST, "succeeded")
    record(store, "load", LAST, "succeeded")  # done 10 s after the pipeline's time
    record(store, "report", LAST, "succeeded", exits=(1, 1, 1, 1, 1, 1, 0))  # 70 s after
    got = day_json(cli)
    assert got["extract"]["by_fire_time"][0]["deadline"] == {"at": None, "met": None}
    assert got["load"]["by_fire_time"][0]["deadline"] == {
        "at": iso(LAST + timedelta(minutes=1)),
        "met": True,
    }
    assert got["report"]["by_fire_time"][0]["deadline"]["met"] is False
    assert table(cli("status", "--on", DAY, "report").stdout)["report"][3] == "missed"
    status = status_json(cli)
    assert status["load"]["deadline"]["fire_time"] == iso(LAST)
    assert status["load"]["deadline"]["met"] is True
    assert status["report"]["deadline"]["met"] is False
    assert status["extract"]["deadline"] is None


def test_the_run_json_carries_deadline_at_null_for_a_manual_run(project, cli):
    project.write(jobs(load="2h", plain=None))
    record(project.store(), "load", LAST, "succeeded")
    record(project.store(), "plain", LAST, "succeeded")
    assert cli("trigger", "load", "--wait").exit_code == ExitCode.OK
    runs = json.loads(cli("history", "load", "--json").stdout)
    by_trigger = {r["trigger"]: r for r in runs}
    assert by_trigger["schedule"]["deadline_at"] == iso(LAST + timedelta(hours=2))
    assert by_trigger["manual"]["deadline_at"] is None
    (plain,) = json.loads(cli("history", "plain", "--json").stdout)
    assert plain["deadline_at"] is None
    # Across jobs, in status and in status --on, the same field.
    across = json.loads(cli("history", "--json").stdout)
    assert {r["job"]: r["deadline_at"] for r in across if r["trigger"] == "schedule"} == {
        "load": iso(LAST + timedelta(hours=2)),
        "plain": None,
    }
    assert status_json(cli)["load"]["last_run"]["deadline_at"] is None  # the manual run
    day = day_json(cli, "load")["load"]
    # LAST's day holds the manual run too when the test runs after noon UTC.
    by = {r["trigger"]: r["deadline_at"] for r in day["runs"]}
    assert by.pop("schedule") == iso(LAST + timedelta(hours=2))
    assert by in ({}, {"manual": None})


def test_mark_by_hand_after_the_deadline_is_a_missed_deadline(project, cli):
    """`mark` records a manual run for the fire time: it succeeded now, long after."""
    project.write(jobs(load="1h"))
    at = LAST.isoformat()
    assert cli("mark", "load", "succeeded", "--at", at).exit_code == ExitCode.OK
    got = day_json(cli)["load"]
    assert got["by_fire_time"][0]["deadline"]["met"] is False
    assert got["runs"][0]["trigger"] == str(Trigger.MANUAL)
    assert got["runs"][0]["deadline_at"] is None


def test_status_judges_many_jobs_deadlines_with_a_fixed_number_of_reads(project, monkeypatch):
    """Counted, not timed: one read for every job whose judged run is not its newest,
    and for those one walk back per (schedule, zone, deadline), whatever the jobs; a
    job whose newest run is the judged one walks nothing (status has the fire time
    after it)."""
    from cronplus import deadline_report, report

    n = 200
    project.write("\n".join(jobs(**{f"j{i}": f"{1 + i % 2}h"}) for i in range(n)))
    store = project.store()
    for i in range(n):
        record(store, f"j{i}", LAST, "succeeded")
        if i % 2:  # a newer run: its judged run must be read again
            record(store, f"j{i}", NOW - timedelta(minutes=1), "succeeded", trigger=Trigger.MANUAL)
    reads: list[str] = []
    walks: list[str] = []
    for method in ("history_of", "find_run", "runs_between", "pruned_through", "get_run"):
        real = getattr(store, method)
        monkeypatch.setattr(
            store, method, lambda *a, _r=real, _m=method, **k: reads.append(_m) or _r(*a, **k)
        )
    real_walk = deadline_report.previous_fire
    monkeypatch.setattr(
        deadline_report,
        "previous_fire",
        lambda *a: walks.append(a[0].expr) or real_walk(*a),
    )
    config = project.config()
    rows = report.job_statuses(config, store, list(config.jobs), datetime.now(UTC))
    assert all(r.deadline is not None and r.deadline.met is True for r in rows)
    assert reads == ["history_of"]  # all found: none asked whether retention let it go
    assert walks == [DAILY]  # the odd jobs' (2h): the even ones' newest run is judged


def test_a_fire_time_whose_run_retention_pruned_has_no_verdict(project, cli):
    """Whether its run succeeded in time went with it: neither met nor missed."""
    project.write(jobs(load="1h") + "keep_runs = 1\n")
    store = project.store()
    record(store, "load", LAST - timedelta(days=1), "succeeded")
    record(store, "load", LAST, "succeeded")
    assert cli("prune").exit_code == ExitCode.OK
    day = (LAST - timedelta(days=1)).date().isoformat()
    got = json.loads(cli("status", "--on", day, "--json").stdout)[0]
    assert got["pruned"] == [iso(LAST - timedelta(days=1))]
    assert got["by_fire_time"][0]["deadline"] == {
        "at": iso(LAST - timedelta(days=1) + timedelta(hours=1)),
        "met": None,
    }
    assert table(cli("status", "--on", day).stdout)["load"][2:4] == ["pruned", "-"]


def test_a_rerun_after_the_deadline_does_not_undo_a_deadline_met(project, cli):
    """`backfill --rerun` adds an attempt to the run for T: its first attempt succeeded
    by the deadline, so the deadline was met (the daemon alerted nothing), whatever the
    run's end is now."""
    project.write(jobs(load="1m"))
    record(project.store(), "load", LAST, "succeeded")  # ended 10 s after LAST
    at = LAST.isoformat()
    assert cli("backfill", "load", "--from", at, "--to", at, "--rerun", "--yes").exit_code == 0
    got = day_json(cli)["load"]
    assert got["runs"][0]["attempts"] == 2
    assert got["by_fire_time"][0]["deadline"] == {
        "at": iso(LAST + timedelta(minutes=1)),
        "met": True,
    }
    assert status_json(cli)["load"]["deadline"]["met"] is True
    assert "deadline missed" not in cli("status").stdout


def test_a_run_reopened_after_a_success_in_time_has_met_its_deadline():
    """While a rerun goes (the run is `running` again), its earlier success stands; an
    attempt that succeeded only after the deadline does not count."""
    from cronplus.deadlines import met
    from cronplus.model import Attempt, Run, RunStatus

    t, at = LAST, LAST + timedelta(hours=1)
    ok = Attempt(1, t, t + timedelta(minutes=5), exit_code=0)
    rerun = Attempt(2, NOW - timedelta(minutes=1))
    run = Run(1, "load", t, Trigger.SCHEDULE, RunStatus.RUNNING, attempts=(ok, rerun))
    assert met(at, run, NOW) is True
    late = Attempt(1, t, at + timedelta(minutes=5), exit_code=0)
    run = Run(1, "load", t, Trigger.SCHEDULE, RunStatus.RUNNING, attempts=(late, rerun))
    assert met(at, run, NOW) is False
