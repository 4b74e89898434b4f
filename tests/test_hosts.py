"""Issue 17, "Hosts" and "Seeing it": each process is named by CRONPLUS_HOST, which its
jobs get; every attempt records its host (the run JSON shows it); the state keeps the
last 64 KiB of each attempt's output, which `logs` prints where the log file is not on
this host, naming the host it ran on. On SQLite and on PostgreSQL, as real processes."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from pgserver import PASSWORD

from cronplus import _logcap
from cronplus.model import TAIL_BYTES

JOBS = """
    [jobs.hello]
    command = 'echo "host=$CRONPLUS_HOST"'

    [jobs.chatty]
    command = '''python3 -c "import sys; [sys.stdout.write(f'{i:07d}\\n') for i in range(25600)]"'''

    [jobs.slow]
    command = "echo started; sleep 30"

    [jobs.pyhost]
    python = "hostjob:main"

    [jobs.cut]
    command = "echo before the timeout; sleep 30"
    timeout = "1s"
    kill_grace = "1s"
"""
PYJOB = """
import os


def main():
    print("python host=" + os.environ["CRONPLUS_HOST"])
"""
CHATTY = "".join(f"{i:07d}\n" for i in range(25600))  # 200 KiB


class Hosts:
    """`cronplus` run as a process of a chosen CRONPLUS_HOST on one state; every
    output kept, to look for the password in."""

    def __init__(self, root: Path, state: str | None) -> None:
        self.root, self.state = root, state  # state None: the jobs file's [defaults].state
        self.outputs: list[str] = []

    def argv(self, *args: str) -> list[str]:
        state = ["--state", self.state] if self.state else []
        return [sys.executable, "-m", "cronplus", "-c", "jobs.toml", *state, *args]

    def env(self, host: str | None) -> dict[str, str]:
        """None: no CRONPLUS_HOST, so the name is what `hostname` prints."""
        env = {k: v for k, v in os.environ.items() if k not in ("CRONPLUS_STATE", "CRONPLUS_HOST")}
        return env if host is None else {**env, "CRONPLUS_HOST": host}

    def run(self, host: str | None, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            self.argv(*args),
            cwd=self.root,
            env=self.env(host),
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.outputs += [done.stdout, done.stderr]
        return done

    def last_run(self, host: str, job: str) -> dict:
        done = self.run(host, "history", job, "--json", "--limit", "1")
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)[0]

    def no_password(self) -> None:
        assert not any(PASSWORD in text for text in self.outputs)


@pytest.fixture(params=["sqlite", "postgres"])
def hosts(request: pytest.FixtureRequest, project) -> Hosts:
    project.write(JOBS)
    project.write(PYJOB, "hostjob.py")
    postgres = request.param == "postgres"
    h = Hosts(project.root, request.getfixturevalue("pg_url") if postgres else str(project.state))
    yield h
    h.no_password()


def test_attempt_records_host_and_the_job_sees_it(hosts: Hosts) -> None:
    done = hosts.run("alpha", "trigger", "hello", "--wait")
    assert done.returncode == 0, done.stderr
    run = hosts.last_run("beta", "hello")
    assert run["host"] == "alpha"
    (attempt,) = run["attempt_details"]
    assert attempt["host"] == "alpha"
    assert os.path.isabs(attempt["log"])
    assert Path(attempt["log"]).read_text() == "host=alpha\n"
    status = hosts.run("beta", "status", "hello", "--json")
    assert json.loads(status.stdout)[0]["last_run"]["host"] == "alpha"


def test_a_python_job_sees_cronplus_host(hosts: Hosts) -> None:
    assert hosts.run("alpha", "trigger", "pyhost", "--wait").returncode == 0
    assert hosts.run("alpha", "logs", "pyhost").stdout == "python host=alpha\n"


def test_a_timed_out_attempt_keeps_its_tail(hosts: Hosts) -> None:
    assert hosts.run("alpha", "trigger", "cut", "--wait").returncode == 1
    run = hosts.last_run("alpha", "cut")
    assert run["status"] == "timed_out"
    shown = hosts.run("beta", "logs", "cut")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("before the timeout\n")  # then the shell's "Terminated"
    assert shown.stdout == Path(run["attempt_details"][0]["log"]).read_text()


def test_without_cronplus_host_the_name_is_the_host_name(hosts: Hosts) -> None:
    assert hosts.run(None, "trigger", "hello", "--wait").returncode == 0
    shown = hosts.run(None, "logs", "hello")
    assert shown.stdout == f"host={socket.gethostname()}\n"
    assert shown.stderr == ""
    run = hosts.last_run(None, "hello")
    assert run["host"] == run["attempt_details"][0]["host"] == socket.gethostname()


def test_logs_on_another_host_prints_the_kept_tail_naming_the_host(hosts: Hosts) -> None:
    assert hosts.run("alpha", "trigger", "hello", "--wait").returncode == 0
    log = Path(hosts.last_run("alpha", "hello")["attempt_details"][0]["log"])
    log.write_text("this host's file, not the run's output\n")  # beta must not read it
    shown = hosts.run("beta", "logs", "hello")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "host=alpha\n"
    assert 'ran on host "alpha"' in shown.stderr
    assert "last 64 KiB" in shown.stderr
    followed = hosts.run("beta", "logs", "hello", "-f")  # ended: its tail, its outcome
    assert followed.returncode == 0, followed.stderr
    assert followed.stdout == "host=alpha\n"
    assert 'ran on host "alpha"' in followed.stderr
    here = hosts.run("alpha", "logs", "hello")  # on its own host: the file, as before
    assert here.stdout == "this host's file, not the run's output\n"
    assert here.stderr == ""


def test_logs_prints_the_kept_tail_when_the_log_file_is_missing(hosts: Hosts) -> None:
    assert hosts.run("alpha", "trigger", "hello", "--wait").returncode == 0
    log = Path(hosts.last_run("alpha", "hello")["attempt_details"][0]["log"])
    log.unlink()
    shown = hosts.run("alpha", "logs", "hello")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == "host=alpha\n"
    assert f"is missing ({log})" in shown.stderr


def test_a_long_output_keeps_exactly_its_last_64_kib(hosts: Hosts) -> None:
    assert hosts.run("alpha", "trigger", "chatty", "--wait").returncode == 0
    log = Path(hosts.last_run("alpha", "chatty")["attempt_details"][0]["log"])
    assert log.read_text() == CHATTY
    shown = hosts.run("beta", "logs", "chatty")
    assert shown.returncode == 0, shown.stderr
    assert len(shown.stdout) == TAIL_BYTES
    assert shown.stdout == CHATTY[-TAIL_BYTES:]


def test_a_run_going_on_another_host_has_no_tail_yet(hosts: Hosts, project) -> None:
    """No tail while it goes: `logs` elsewhere says where it goes (exit 1, as a log gone);
    `logs -f` says it cannot follow it, waits for the run's end and exits as -f does."""
    from conftest import wait_until

    trigger = subprocess.Popen(
        hosts.argv("trigger", "slow", "--wait"),
        cwd=hosts.root,
        env=hosts.env("alpha"),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:

        def going() -> dict | None:
            runs = json.loads(hosts.run("beta", "history", "slow", "--json").stdout)
            return runs[0] if runs and runs[0]["status"] == "running" else None

        log = Path(wait_until(going, 30)["attempt_details"][0]["log"])
        wait_until(lambda: log.exists() and log.read_text() == "started\n", 30)
        log.rename(log.with_name("moved"))  # as it would be seen from another host
        shown = hosts.run("beta", "logs", "slow")
        assert shown.returncode == 1
        assert 'is going on host "alpha"' in shown.stderr
        followed = subprocess.Popen(
            hosts.argv("logs", "slow", "-f"),
            cwd=hosts.root,
            env=hosts.env("beta"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        time.sleep(2)
        assert followed.poll() is None  # it waits for the run's end
    finally:
        os.killpg(trigger.pid, 15)
        trigger.wait(30)
    _, err = followed.communicate(timeout=30)
    assert followed.returncode == 1  # the run was cut short: not succeeded
    assert 'is going on host "alpha": its log cannot be followed from here' in err


@pytest.mark.parametrize(
    ("written", "kept"),
    [
        pytest.param(b"ab" * 40_000, b"ab" * 32_768, id="ascii"),
        # 3-byte characters: the last 64 KiB starts inside one, which is dropped whole
        pytest.param("€".encode() * 30_000, "€".encode() * 21_845, id="cut-character"),
        pytest.param(b"short\xff\n", "short\ufffd\n".encode(), id="bad-byte"),
        pytest.param(b"", b"", id="empty"),
    ],
)
def test_tail_text_is_the_last_64_kib_as_utf8(tmp_path: Path, written: bytes, kept: bytes) -> None:
    log = tmp_path / "1-1.log"
    log.write_bytes(written)
    assert _logcap.tail_text(log, TAIL_BYTES) == kept.decode()
    assert _logcap.tail_text(tmp_path / "missing.log", TAIL_BYTES) is None


def test_an_attempt_found_ended_or_cut_short_keeps_its_tail(tmp_path: Path) -> None:
    """Recovery's results (an attempt that ended unwatched, or closed with its outcome
    unknown) carry the tail as a watched attempt's do."""
    from datetime import UTC, datetime

    from cronplus import executor
    from cronplus._wrapper import status_path_for
    from cronplus.clock import SystemClock
    from cronplus.model import RunStatus

    log = tmp_path / "1-1.log"
    log.write_text("ran while nobody watched\n")
    status_path_for(log).write_text("0\n")
    started = datetime(2026, 12, 5, tzinfo=UTC)
    ended = executor.ended_attempt(None, log, started, SystemClock())
    assert (ended.status, ended.tail) == (RunStatus.SUCCEEDED, "ran while nobody watched\n")
    cut = executor.cut_short(str(log), started, started)
    assert (cut.status, cut.tail) == (RunStatus.INTERRUPTED, "ran while nobody watched\n")
    assert executor.cut_short(None, started, started).tail is None
