"""The state as the user's machine has it: read-only to the caller, not a folder, damaged;
and dates and counts at the ends of what a command can take. Never a traceback."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from cronplus.cli import cli as cli_group
from cronplus.errors import ExitCode

JOBS = """
    [jobs.load]
    schedule = "0 3 * * *"
    timezone = "UTC"
    command = "echo loaded"
"""


def invoke(project, state: Path, *args: str):
    return CliRunner().invoke(
        cli_group,
        ["-c", str(project.jobs_file), "--state", str(state), *args],
        catch_exceptions=False,
    )


def no_traceback(result) -> None:
    assert "Traceback" not in result.stdout + result.stderr


@pytest.fixture
def read_only_view(tmp_path: Path) -> Iterator:
    """`view(folder)` bind-mounts `folder` read-only elsewhere and returns that path:
    what a read-only mount, or another user's state, looks like to the caller (root
    included: the kernel refuses every write)."""
    mounts: list[Path] = []

    def view(folder: Path) -> Path:
        target = tmp_path / f"ro-{len(mounts)}"
        target.mkdir()
        subprocess.run(["mount", "--bind", str(folder), str(target)], check=True)
        mounts.append(target)
        subprocess.run(["mount", "-o", "remount,bind,ro", str(target)], check=True)
        return target

    yield view
    for target in reversed(mounts):
        subprocess.run(["umount", "-l", str(target)], check=False)


def triggered_state(project) -> None:
    """A state with one run of `load`, written by a process that has exited (so SQLite
    has folded its write-ahead log into the database and removed it)."""
    project.write(JOBS)
    subprocess.run(
        [sys.executable, "-m", "cronplus", "--state", str(project.state)]
        + ["trigger", "load", "--wait"],
        cwd=project.root,
        check=True,
        capture_output=True,
    )
    assert not Path(f"{project.state}/state.db-wal").exists()


def test_read_commands_work_on_a_read_only_state_and_trigger_says_it_cannot_write(
    project, read_only_view
):
    triggered_state(project)
    view = read_only_view(project.state)
    status = invoke(project, view, "status", "--json")
    assert status.exit_code == ExitCode.OK, status.output
    assert json.loads(status.stdout)[0]["last_run"]["status"] == "succeeded"
    history = invoke(project, view, "history", "load")
    assert history.exit_code == ExitCode.OK and "succeeded" in history.stdout
    logs = invoke(project, view, "logs", "load")
    assert logs.exit_code == ExitCode.OK and logs.stdout == "loaded\n"
    assert invoke(project, view, "next").exit_code == ExitCode.OK
    assert invoke(project, view, "alerts").exit_code == ExitCode.OK
    day = json.loads(status.stdout)[0]["last_run"]["scheduled_for"][:10]
    assert invoke(project, view, "status", "--on", day).exit_code == ExitCode.OK
    trigger = invoke(project, view, "trigger", "load", "--wait")
    assert trigger.exit_code == ExitCode.NOT_SUCCEEDED
    assert f"cannot write the state in {view}" in trigger.stderr
    backfill = invoke(project, view, "backfill", "load", "--from", day, "--to", day, "--rerun")
    assert backfill.exit_code == ExitCode.NOT_SUCCEEDED
    assert "cannot write the state" in backfill.stderr
    run = invoke(project, view, "run")
    assert run.exit_code == ExitCode.NOT_SUCCEEDED
    assert f"cannot use the state folder {view}" in run.stderr
    for result in (status, history, logs, trigger, backfill, run):
        no_traceback(result)


def test_a_read_only_state_a_live_process_is_writing_is_read_through_its_log(
    project, read_only_view
):
    triggered_state(project)
    # Another process holds the database open with a commit still in its WAL.
    writer = sqlite3.connect(project.state / "state.db", isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("UPDATE runs SET reason = 'from the WAL'")
        assert Path(f"{project.state}/state.db-wal").stat().st_size > 0
        view = read_only_view(project.state)
        result = invoke(project, view, "history", "load", "--json")
        assert result.exit_code == ExitCode.OK, result.output
        assert json.loads(result.stdout)[0]["reason"] == "from the WAL"
    finally:
        writer.close()


def test_an_empty_state_folder_the_caller_cannot_write_reads_as_a_fresh_state(
    project, read_only_view, tmp_path
):
    project.write(JOBS)
    empty = tmp_path / "empty"
    empty.mkdir()
    view = read_only_view(empty)
    result = invoke(project, view, "status")
    assert result.exit_code == ExitCode.OK, result.output
    assert "never run" in result.stdout
    trigger = invoke(project, view, "trigger", "load", "--wait")
    assert trigger.exit_code == ExitCode.NOT_SUCCEEDED
    no_traceback(trigger)


@pytest.mark.parametrize(
    "command", [["status"], ["history", "load"], ["trigger", "load", "--wait"]]
)
def test_a_state_db_that_is_a_directory_exits_2(project, command):
    project.write(JOBS)
    (project.state / "state.db").mkdir(parents=True)
    result = invoke(project, project.state, *command)
    assert result.exit_code == ExitCode.USAGE
    assert f"{project.state / 'state.db'} is not a regular file" in result.stderr
    no_traceback(result)


def test_a_damaged_state_db_says_what_to_do(project):
    project.write(JOBS)
    project.state.mkdir()
    (project.state / "state.db").write_bytes(b"this is not an SQLite database" * 100)
    for command in (["status"], ["trigger", "load", "--wait"]):
        result = invoke(project, project.state, *command)
        assert result.exit_code == ExitCode.NOT_SUCCEEDED
        assert "move it away to start with an empty state" in result.stderr
        assert ".recover" in result.stderr
        no_traceback(result)


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--on", "0001-01-01"],
        ["status", "--on", "9999-12-31"],
        ["next", "--after", "0001-01-01T00:00"],
        ["next", "--after", "9999-12-31T23:59"],
    ],
)
def test_dates_outside_years_2_to_9998_exit_2(project, args):
    project.write(JOBS)
    result = invoke(project, project.state, *args)
    assert result.exit_code == ExitCode.USAGE
    assert "is out of range (years 2 to 9998)" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_traceback(result)


def test_a_huge_history_limit_means_all(project):
    triggered_state(project)
    result = invoke(project, project.state, "history", "load", "--limit", "9" * 23)
    assert result.exit_code == ExitCode.OK
    assert "succeeded" in result.stdout


def test_next_caps_n_at_10000_with_a_note(project):
    project.write(JOBS)
    result = invoke(project, project.state, "next", "-n", "100000000", "--json")
    assert result.exit_code == ExitCode.OK
    assert len(json.loads(result.stdout)[0]["fire_times"]) == 10_000
    assert "more than 10,000" in result.stderr


def test_a_read_only_state_whose_log_cannot_be_read_says_why(project, read_only_view, tmp_path):
    # A WAL with commits and no shared-memory file, on a read-only mount (a copy of a
    # live state, say): SQLite cannot read it; the message says why, in one line.
    import shutil

    triggered_state(project)
    writer = sqlite3.connect(project.state / "state.db", isolation_level=None)
    try:
        writer.execute("PRAGMA wal_autocheckpoint = 0")
        writer.execute("UPDATE runs SET reason = 'in the WAL'")
        copy = tmp_path / "copy"
        copy.mkdir()
        for name in ("state.db", "state.db-wal"):
            shutil.copy(project.state / name, copy / name)
    finally:
        writer.close()
    view = read_only_view(copy)
    result = invoke(project, view, "status")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    assert "it is read-only here, and the commits in its write-ahead log" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    no_traceback(result)
