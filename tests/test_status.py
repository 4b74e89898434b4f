"""`status` answers "did it run?" from the state and the schedule, with or without a
daemon: overdue fire times, runs whose process is gone, runs going now, late runs,
descriptions, --problems, and a table that fits a 100-column terminal."""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import record, wait_until

from cronplus.errors import ExitCode
from cronplus.model import RunEnd, RunStatus, Trigger


def lines_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip()]


def five_minutes_ago_aligned() -> datetime:
    """A */5 fire time a little over an hour ago."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    return now - timedelta(minutes=now.minute % 5) - timedelta(hours=1)


def human(t: datetime) -> str:
    return t.astimezone(UTC).isoformat(sep=" ", timespec="seconds")


EVERY_5 = """
    [jobs.sync]
    schedule = "*/5 * * * *"
    timezone = "UTC"
    command = "true"
    {extra}
"""


# -- overdue ----------------------------------------------------------------------------------


def test_a_fire_time_that_passed_with_no_run_is_overdue_and_fails_status(project, cli):
    project.write(EVERY_5.format(extra=""))
    last = five_minutes_ago_aligned()
    record(project.store(), "sync", last, "succeeded")
    result = cli("status")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    expected = last + timedelta(minutes=5)  # the oldest fire time after it, long passed
    assert f"sync: overdue: {human(expected)} has no run" in result.stdout
    (row,) = json.loads(cli("status", "--json").stdout)
    assert row["overdue"] == expected.isoformat()
    assert row["last_run"]["status"] == "succeeded"


def test_a_fire_time_within_start_grace_is_not_overdue_yet(project, cli):
    project.write(EVERY_5.format(extra='start_grace = "2h"'))
    record(project.store(), "sync", five_minutes_ago_aligned(), "succeeded")
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout)[0]["overdue"] is None


def test_only_fire_times_after_the_newest_run_count(project, cli):
    project.write(EVERY_5.format(extra=""))
    store = project.store()
    record(store, "sync", five_minutes_ago_aligned(), "succeeded")
    # A manual run made just now is the newest by logical time: nothing is after it.
    record(
        store, "sync", datetime.now(UTC) - timedelta(seconds=1), "succeeded", trigger=Trigger.MANUAL
    )
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout)[0]["overdue"] is None


@pytest.mark.parametrize("how", ["never run", "disabled", "paused"])
def test_never_run_disabled_and_paused_jobs_are_never_overdue(project, cli, how):
    project.write(EVERY_5.format(extra="enabled = false" if how == "disabled" else ""))
    if how != "never run":
        record(project.store(), "sync", five_minutes_ago_aligned(), "succeeded")
    if how == "paused":
        assert cli("pause", "sync").exit_code == ExitCode.OK
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.OK
    assert json.loads(result.stdout)[0]["overdue"] is None
    assert "overdue" not in cli("status").stdout


def test_an_after_job_waiting_for_its_upstream_run_is_not_overdue(project, cli):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    due = now - timedelta(minutes=10)  # passed, well beyond start_grace
    last = due.replace(year=due.year - 1)
    project.write(f"""
        [jobs.extract]
        schedule = "{due.minute} {due.hour} {due.day} {due.month} *"
        timezone = "UTC"
        command = "true"

        [jobs.load]
        after = ["extract"]
        command = "true"
    """)
    store = project.store()
    record(store, "extract", last, "succeeded")
    record(store, "load", last, "succeeded")
    # extract's run for `due` is still going (owned by this live process): load waits.
    record(store, "extract", due, "running")
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.OK
    rows = {r["job"]: r for r in json.loads(result.stdout)}
    assert rows["load"]["overdue"] is None
    assert rows["extract"]["overdue"] is None
    # Once extract's run is gone, nothing runs for `due`: load is overdue.
    store.finish_run(store.latest_run("extract").id, RunEnd(RunStatus.SUCCEEDED, None, now))
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    rows = {r["job"]: r for r in json.loads(result.stdout)}
    assert rows["load"]["overdue"] == due.isoformat()


def test_the_end_of_a_chain_is_not_overdue_while_its_root_runs_or_is_paused(project, cli):
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    due = now - timedelta(minutes=10)
    last = due.replace(year=due.year - 1)
    project.write(f"""
        [jobs.a]
        schedule = "{due.minute} {due.hour} {due.day} {due.month} *"
        timezone = "UTC"
        command = "true"

        [jobs.b]
        after = ["a"]
        command = "true"

        [jobs.c]
        after = ["b"]
        command = "true"
    """)
    store = project.store()
    for job in ("a", "b", "c"):
        record(store, job, last, "succeeded")
    record(store, "a", due, "running")  # a long run of the root, still going
    rows = {r["job"]: r for r in json.loads(cli("status", "--json").stdout)}
    assert [rows[j]["overdue"] for j in "abc"] == [None, None, None]
    # The root's fire time recorded skipped (paused): nothing after it is late either.
    store.finish_run(store.find_run("a", due).id, RunEnd(RunStatus.SKIPPED, "paused", now))
    result = cli("status", "--json")
    assert result.exit_code == ExitCode.OK
    assert [r["overdue"] for r in json.loads(result.stdout)] == [None, None, None]


# -- runs going now, late, orphaned ---------------------------------------------------------------


def test_a_run_going_now_shows_its_elapsed_time_even_when_it_is_not_the_newest(project, cli):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        timezone = "UTC"
        command = "true"
    """)
    store = project.store()
    now = datetime.now(UTC)
    # A backfill of an older date is going (this process owns it, so it is alive) ...
    older = record(store, "load", now - timedelta(seconds=65), "running", trigger=Trigger.BACKFILL)
    # ... while the newest run by logical time succeeded.
    record(store, "load", now - timedelta(seconds=10), "succeeded")
    result = cli("status")
    assert result.exit_code == ExitCode.OK
    assert re.search(
        rf"load: running for 1m0\ds: run {older.id} \(backfill\), logical time ", result.stdout
    ), result.stdout
    (row,) = json.loads(cli("status", "--json").stdout)
    (going,) = row["running"]
    assert (going["id"], going["status"], going["orphaned"], going["late"]) == (
        older.id,
        "running",
        False,
        False,
    )


def test_a_run_past_its_expected_duration_shows_late(project, cli):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        timezone = "UTC"
        command = "true"
        expected_duration = "1m"
    """)
    record(project.store(), "load", datetime.now(UTC) - timedelta(seconds=65), "running")
    result = cli("status")
    (row,) = [line for line in lines_of(result.stdout) if line.startswith("load ")]
    assert "running (late) for 1m0" in row
    (obj,) = json.loads(cli("status", "--json").stdout)
    assert obj["last_run"]["late"] is True and obj["last_run"]["orphaned"] is False
    history = json.loads(cli("history", "load", "--json").stdout)
    assert history[0]["late"] is True


def test_a_run_whose_trigger_was_killed_shows_its_process_is_gone(project, cli):
    project.write("""
        [jobs.slow]
        command = "sleep 1"
    """)
    trigger = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cronplus",
            "--state",
            str(project.state),
            "trigger",
            "slow",
            "--wait",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=project.root,
    )
    try:
        wait_until(lambda: project.state.joinpath("state.db").exists(), 15)
        store = project.store()
        run = wait_until(lambda: (r := store.latest_run("slow")) and r.attempts and r, 15)
        # Started, not only recorded (under load the kill could come in between).
        wait_until(lambda: Path(run.attempts[0].log + ".status").exists(), 15)
        # Its job is still going: the run is not orphaned while the job runs.
        going = cli("status", "--json")
        assert json.loads(going.stdout)[0]["last_run"]["orphaned"] is False
        trigger.kill()
        trigger.wait()
    finally:
        trigger.kill()
    status_file = Path(run.attempts[0].log + ".status")
    wait_until(lambda: status_file.read_text().strip() == "0", 15)
    time.sleep(0.1)  # the wrapper exits right after writing
    result = cli("status")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (row,) = [line for line in lines_of(result.stdout) if line.startswith("slow ")]
    assert "running (its process is gone)" in row
    (obj,) = json.loads(cli("status", "--json").stdout)
    assert obj["last_run"]["status"] == "running" and obj["last_run"]["orphaned"] is True
    # Read commands wrote nothing: it is still recorded running.
    assert project.store().get_run(run.id).status is RunStatus.RUNNING
    assert json.loads(cli("history", "slow", "--json").stdout)[0]["orphaned"] is True


def test_status_on_counts_an_orphaned_run_of_that_date_as_not_succeeded(project, cli):
    project.write("""
        [jobs.load]
        command = "true"
    """)
    when = datetime.now(UTC) - timedelta(minutes=1)
    # A process that claims the run and exits before running it: its owner is gone.
    claim = (
        "import sys; from datetime import datetime; from cronplus.model import Claim, Trigger;"
        "from cronplus.paths import StatePaths; from cronplus.store import open_store;"
        "s = open_store(StatePaths(__import__('pathlib').Path(sys.argv[1])));"
        "t = datetime.fromisoformat(sys.argv[2]);"
        "s.claim_run('load', t, Trigger.MANUAL, Claim(owner=__import__('os').getpid(), now=t))"
    )
    subprocess.run([sys.executable, "-c", claim, str(project.state), when.isoformat()], check=True)
    day = when.date().isoformat()
    result = cli("status", "--on", day)
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    assert "queued (its process is gone)" in result.stdout
    (obj,) = json.loads(cli("status", "--on", day, "--json").stdout)
    assert obj["runs"][0]["orphaned"] is True


# -- description, --problems ------------------------------------------------------------------


def test_description_shows_in_status_of_a_job_and_in_json(project, cli):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        command = "true"
        description = "Loads the warehouse from the nightly extract"
    """)
    assert "load: Loads the warehouse from the nightly extract" in cli("status", "load").stdout
    (obj,) = json.loads(cli("status", "--json").stdout)
    assert obj["description"] == "Loads the warehouse from the nightly extract"


def test_status_on_problems_keeps_only_fire_times_that_did_not_succeed(project, cli):
    project.write("""
        [jobs.sync]
        schedule = "0 */6 * * *"
        timezone = "UTC"
        command = "true"
    """)
    store = project.store()
    day = datetime(2024, 1, 16, tzinfo=UTC)
    record(store, "sync", day, "succeeded")
    record(store, "sync", day + timedelta(hours=6), "failed")
    record(store, "sync", day + timedelta(hours=12), "skipped", reason="paused")
    result = cli("status", "--on", "2024-01-16", "--problems")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    rows = lines_of(result.stdout)[1:]
    assert [r.split()[2] for r in rows] == ["06:00:00+00:00", "12:00:00+00:00", "18:00:00+00:00"]
    assert [r.split()[3] for r in rows] == ["failed", "skipped", "no"]
    (obj,) = json.loads(cli("status", "--on", "2024-01-16", "--problems", "--json").stdout)
    assert obj["fire_times"] == [f"2024-01-16T{h}:00:00+00:00" for h in ("06", "12", "18")]
    assert [r["status"] for r in obj["runs"]] == ["failed", "skipped"]
    assert obj["no_run"] == ["2024-01-16T18:00:00+00:00"]
    assert cli("status", "--problems").exit_code == ExitCode.USAGE


# -- on a terminal ------------------------------------------------------------------------------


def on_terminal(project, *args: str, columns: int = 100) -> str:
    """Run cronplus on a real pseudo-terminal `columns` wide; return what it printed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 50, columns, 0, 0))
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    env["TERM"] = "xterm"
    proc = subprocess.Popen(
        [sys.executable, "-m", "cronplus", "--state", str(project.state), *args],
        stdin=follower,
        stdout=follower,
        stderr=follower,
        cwd=project.root,
        env=env,
        start_new_session=True,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # EIO: the other side closed
            break
        if not chunk:
            break
        chunks.append(chunk)
    proc.wait(30)
    os.close(leader)
    text = b"".join(chunks).decode(errors="replace")
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", text).replace("\r", "")


def test_status_on_a_100_column_terminal_wraps_no_status_word_or_time(project):
    project.write("""
        [jobs.nightly_warehouse_load]
        schedule = "30 2 * * MON-FRI"
        timezone = "America/Argentina/Buenos_Aires"
        command = "true"

        [jobs.transform_customers]
        after = ["nightly_warehouse_load"]
        command = "true"
    """)
    store = project.store()
    then = datetime.now(UTC) - timedelta(days=3)
    record(store, "nightly_warehouse_load", then, "upstream_failed")
    record(store, "transform_customers", then, "upstream_failed")
    out = on_terminal(project, "-c", "jobs.toml", "status")
    lines = out.splitlines()
    assert "│" in out  # drawn by rich, not the plain fallback
    # (The last line names the state, as long as tmp_path: longer under pytest-xdist.)
    assert lines and max(len(line) for line in lines[:-1]) <= 100, out
    assert sum("upstream_failed" in line for line in lines) == 2, out
    local = then.astimezone(__import__("zoneinfo").ZoneInfo("America/Argentina/Buenos_Aires"))
    assert sum(local.strftime("%Y-%m-%d %H:%M:%S") in line for line in lines) == 2, out


def test_a_table_too_wide_for_the_terminal_prints_plain_one_line_per_job(project):
    project.write("""
        [jobs.nightly_warehouse_load]
        schedule = "30 2 * * MON-FRI"
        timezone = "America/Argentina/Buenos_Aires"
        command = "true"
    """)
    record(project.store(), "nightly_warehouse_load", datetime.now(UTC), "running")
    out = on_terminal(project, "-c", "jobs.toml", "status", columns=60)
    assert "│" not in out
    (row,) = [line for line in out.splitlines() if line.startswith("nightly_warehouse_load")]
    assert "30 2 * * MON-FRI America/Argentina/Buenos_Aires" in row
    assert "running for " in row


def test_a_long_status_on_prints_plain_on_a_terminal(project):
    project.write("""
        [jobs.tick]
        schedule = "* * * * * *"
        timezone = "UTC"
        command = "true"
    """)
    out = on_terminal(project, "-c", "jobs.toml", "status", "--on", "2024-01-16")
    lines = out.splitlines()
    assert len(lines) == 86_401  # a header and every second of the day
    assert "─" not in out and "│" not in out  # no rich box: printed plain
    assert lines[1].split()[:3] == ["tick", "2024-01-16", "00:00:00+00:00"]


def test_a_short_status_on_a_terminal_is_a_rich_table(project):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        command = "true"
    """)
    assert "│" in on_terminal(project, "-c", "jobs.toml", "status")


def test_a_reason_with_brackets_is_printed_as_written_on_a_terminal(project):
    """rich reads a plain str cell as markup: a reason holding "[red]" lost it, and a
    lone "[/]" made the table raise."""
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        command = "true"
    """)
    store = project.store()
    when = datetime.now(UTC) - timedelta(hours=1)
    record(store, "load", when, "skipped", reason="why [/] and [red]not[/red]")
    day = when.date().isoformat()
    out = on_terminal(project, "-c", "jobs.toml", "history", "load", columns=200)
    assert "│" in out and "Traceback" not in out, out
    assert "why [/] and [red]not[/red]" in out, out
    on = on_terminal(project, "-c", "jobs.toml", "status", "--on", day, columns=200)
    assert "why [/] and [red]not[/red]" in on, on


def test_the_json_of_status_on_and_history_is_renders_shape_of_the_librarys_answer(project, cli):
    """What `--json` prints is render's function of report's answer, byte for byte: the
    functions a web view calls to serve the same JSON."""
    from cronplus import render, report
    from cronplus.intervals import Intervals

    project.write("""
        [jobs.load]
        schedule = "@yearly"
        command = "true"
        [jobs.adhoc]
        command = "true"
    """)
    jan1 = datetime(datetime.now(UTC).year, 1, 1, tzinfo=UTC)
    store = project.store()
    record(store, "load", jan1, "succeeded", exits=(1, 0))
    record(store, "adhoc", jan1 + timedelta(hours=1), "running", trigger=Trigger.MANUAL)
    config = project.config()
    now = datetime.now(UTC)

    def printed(data: object) -> str:
        return json.dumps(data, indent=2) + "\n"

    spans = Intervals(config)
    rows = report.job_statuses(config, store, list(config.jobs), now)
    assert cli("status", "--json").stdout == printed(render.status_json(rows, spans))
    day = [report.day_report(config, store, job, jan1.date(), now) for job in config.jobs.values()]
    on = cli("status", "--on", jan1.date().isoformat(), "--json")
    assert on.stdout == printed(render.day_json(day, spans))
    runs = store.history("load", 20)
    states = [report.going_state(store, r, config.jobs["load"], now) for r in runs]
    history = cli("history", "load", "--json")
    assert history.stdout == printed(render.history_json(runs, "UTC", states, spans))
    assert json.loads(history.stdout)[0]["attempts"] == 2


@pytest.mark.parametrize("ago_min", [-30, 0, 1, 4, 6, 14, 16, 60 * 24, 60 * 24 * 400])
@pytest.mark.parametrize("paused", [False, True])
def test_next_and_overdue_from_one_walk_agree_with_the_two_walks(project, ago_min, paused):
    """A status finds a job's next fire time and its overdue one from a single walk of
    its schedule when it can: the answers are those of `upcoming` and `overdue`."""
    from cronplus import report
    from cronplus.model import Claim

    project.write("""
        [jobs.tick]
        schedule = "*/5 * * * *"
        start_grace = "5m"
        command = "true"
    """)
    config, store = project.config(), project.store()
    now = datetime(2026, 11, 23, 10, 2, 30, tzinfo=UTC)
    at = now.replace(second=0) - timedelta(minutes=ago_min)
    last = store.claim_run(
        "tick", at, Trigger.SCHEDULE, Claim(owner=None, now=at, status=RunStatus.SUCCEEDED)
    )
    job, expr = config.jobs["tick"], "*/5 * * * *"
    got = report._next_and_overdue(config, store, job, last, now, expr, not paused)
    want_late = None if paused else report.overdue(config, store, job, last, now, expr)
    assert got == (report.upcoming(config, job, now, 1)[0], want_late)
    store.close()
