"""`cronplus import-crontab` and the `stdin` job key it needs (issue 14)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import tomllib
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cronplus.errors import ExitCode

CRONTABS = Path(__file__).parent / "data" / "crontabs"
WORKTREE = Path(__file__).resolve().parent.parent


def cronplus(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """The real command, in a subprocess, as a cron user runs it."""
    env = {**os.environ, "PYTHONPATH": str(WORKTREE), "XDG_CACHE_HOME": str(cwd / ".cache")}
    return subprocess.run(
        [sys.executable, "-m", "cronplus", *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def imported(project, text: str, *options: str) -> tuple[dict, subprocess.CompletedProcess]:
    source = project.write(text, "crontab")
    done = cronplus("import-crontab", str(source), *options, cwd=project.root)
    return tomllib.loads(done.stdout) if done.stdout else {}, done


# -- the stdin key ------------------------------------------------------------------------------


def test_stdin_is_fed_to_the_command_instead_of_dev_null(project, cli):
    project.write(
        """
        [jobs.read]
        command = "cat; echo end"
        stdin = "line one\\nline two\\n"
        """
    )
    assert cli("trigger", "read", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "read").stdout == "line one\nline two\nend\n"


def test_a_job_without_stdin_still_reads_dev_null(project, cli):
    project.write('[jobs.read]\ncommand = "cat; echo end"\n')
    assert cli("trigger", "read", "--wait").exit_code == ExitCode.OK
    assert cli("logs", "read").stdout == "end\n"


def test_stdin_must_be_a_string_and_is_no_default(project, cli):
    project.write('[defaults]\nstdin = "x"\n[jobs.a]\ncommand = "true"\nstdin = 3\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert "jobs.toml:2: [defaults] stdin can't be a default (set it on each job)" in result.stderr
    assert 'jobs.toml:5: job "a": stdin must be a string (got 3)' in result.stderr


def test_the_read_commands_cache_withholds_stdin(project, cli):
    project.write('[jobs.db]\ncommand = "mysql"\nstdin = "password=hunter2\\n"\n')
    assert cli("status").exit_code == ExitCode.OK
    assert cli("next").exit_code == ExitCode.OK
    cached = [p.read_bytes() for p in (project.root / ".cache").rglob("*") if p.is_file()]
    assert cached, "status keeps a cache entry"
    assert not any(b"hunter2" in data for data in cached)
