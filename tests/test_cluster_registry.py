"""The processes on a state (issue 17): each `cronplus run`, `trigger` and `backfill`
registered with a heartbeat every third of its lease, one live daemon per host name,
a stopped daemon gone from `status --daemons` at once and a dead one after its lease.
Real daemons on a real PostgreSQL server (and SQLite), real time."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Project, wait_until
from pgserver import PASSWORD

from cronplus import procs
from cronplus.errors import ExitCode
from cronplus.paths import StatePaths
from cronplus.store import open_store

pytestmark = pytest.mark.slow

LEASE_3S = """
[defaults]
lease = "3s"

[jobs.nap]
schedule = "* * * * * *"
command = "sleep 30"

[jobs.manual]
command = "sleep 3"
"""


def cronplus(
    root: Path, state: str, *args: str, host: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **({"CRONPLUS_HOST": host} if host else {})}
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", state, *args]
    return subprocess.run(argv, cwd=root, env=env, capture_output=True, text=True, timeout=120)


def listed(root: Path, state: str) -> list[dict]:
    """`status --daemons --json`, which exits 0 whenever it could read the state."""
    result = cronplus(root, state, "status", "--daemons", "--json")
    assert result.returncode == ExitCode.OK, result.stderr
    assert PASSWORD not in result.stdout + result.stderr
    return json.loads(result.stdout)


def hosts(root: Path, state: str) -> dict[str, dict]:
    return {d["host"]: d for d in listed(root, state)}


def start(daemon, url: str, host: str):
    d = daemon("--state", url, env={"CRONPLUS_HOST": host})  # the last --state wins
    d.wait_started(30)
    return d


def test_two_daemons_with_their_own_host_names_share_one_folder(project, daemon, pg_url):
    project.write(LEASE_3S)
    web1, web2 = start(daemon, pg_url, "web1"), start(daemon, pg_url, "web2")
    assert (project.root / ".cronplus" / "daemon.web1.lock").exists()
    assert (project.root / ".cronplus" / "daemon.web2.pid").read_text() == f"{web2.proc.pid}\n"
    shown = wait_until(lambda: (h := hosts(project.root, pg_url)).keys() == {"web1", "web2"} and h)
    assert (shown["web1"]["pid"], shown["web2"]["pid"]) == (web1.proc.pid, web2.proc.pid)
    for d in shown.values():
        assert d["started_at"].endswith("+00:00") and d["heartbeat_at"].endswith("+00:00")
    # The job sleeps: the daemon executing it says so at its next heartbeat.
    wait_until(lambda: sum(d["running"] for d in listed(project.root, pg_url)) >= 1, 30)

    table = cronplus(project.root, pg_url, "status", "--daemons")
    headers = ["HOST", "PID", "STARTED", "HEARTBEAT", "RUNNING"]
    assert table.stdout.splitlines()[0].split() == headers
    assert [line.split()[0] for line in table.stdout.splitlines()[1:]] == ["web1", "web2"]
    status = cronplus(project.root, pg_url, "status")
    shown_url = StatePaths(project.root, url=pg_url).shown
    assert f"daemon: web1 pid {web1.proc.pid}, last heartbeat " in status.stdout
    assert f"daemon: web2 pid {web2.proc.pid}, last heartbeat " in status.stdout
    assert f"(state {shown_url})" in status.stdout and PASSWORD not in status.stdout


def test_a_second_daemon_under_a_live_ones_host_name_exits_1_naming_it(
    project, daemon, pg_url, tmp_path
):
    project.write(LEASE_3S)
    web1 = start(daemon, pg_url, "web1")
    wait_until(lambda: "web1" in hosts(project.root, pg_url), 30)
    # Another machine as far as the local lock goes: a folder of its own, the same file.
    other = tmp_path / "other"
    other.mkdir()
    shutil.copy(project.jobs_file, other / "jobs.toml")
    result = cronplus(other, pg_url, "run", host="web1")
    assert result.returncode == ExitCode.NOT_SUCCEEDED
    assert (
        f'Error: another cronplus daemon holds the host name "web1" (pid {web1.proc.pid},'
        " last heartbeat "
    ) in result.stderr
    assert "s ago): stop it, or give this daemon another CRONPLUS_HOST" in result.stderr
    assert "Traceback" not in result.stderr and PASSWORD not in result.stderr
    assert [d["pid"] for d in listed(project.root, pg_url)] == [web1.proc.pid]


def _kill(d) -> None:
    os.killpg(d.proc.pid, signal.SIGKILL)
    d.proc.wait()


def test_a_killed_daemon_stays_listed_until_its_lease_has_passed(project, daemon, pg_url):
    project.write(LEASE_3S)
    web1 = start(daemon, pg_url, "web1")
    wait_until(lambda: "web1" in hosts(project.root, pg_url), 30)
    _kill(web1)
    store = open_store(StatePaths(project.root / ".cronplus", url=pg_url))
    try:
        # Its row stays, and counts as live, while its last heartbeat is within the lease.
        (row,) = store.processes()
        assert row.pid == web1.proc.pid and store.db_now() - row.heartbeat_at < row.lease
        assert procs.live([row], store.db_now()) == [row]
        wait_until(lambda: "web1" not in hosts(project.root, pg_url), 30)
        assert store.db_now() - row.heartbeat_at > row.lease  # it left only past its lease
    finally:
        store.close()


def test_a_daemon_restarted_under_its_name_right_after_a_kill_takes_it(project, daemon, pg_url):
    project.write(LEASE_3S)
    first = start(daemon, pg_url, "web1")
    wait_until(lambda: "web1" in hosts(project.root, pg_url), 30)
    _kill(first)
    second = start(daemon, pg_url, "web1")  # within the lease: gone from this machine
    assert [d["pid"] for d in listed(project.root, pg_url)] == [second.proc.pid]
    assert f"event=name_taken host=web1 pid={second.proc.pid}" in second.stderr


def test_a_stopped_daemon_leaves_the_list_at_once(project, daemon, pg_url):
    project.write(LEASE_3S)
    web1 = start(daemon, pg_url, "web1")
    wait_until(lambda: "web1" in hosts(project.root, pg_url), 30)
    assert web1.terminate() == 0
    assert listed(project.root, pg_url) == []
    assert not (project.root / ".cronplus" / "daemon.web1.pid").exists()


def test_a_lease_under_3s_is_refused_at_its_line(project, cli):
    project.write('[defaults]\nlease = "2s"\n\n[jobs.a]\ncommand = "true"\n')
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert 'jobs.toml:2: [defaults] lease must be at least "3s" (got "2s")' in result.stderr


def _processes(project: Project, url: str) -> list[tuple[str, int, int]]:
    store = open_store(StatePaths(project.root / ".cronplus", url=url))
    try:
        return [(p.kind, p.pid, p.running) for p in store.processes()]
    finally:
        store.close()


def test_a_trigger_and_a_backfill_register_while_they_execute(project, pg_url):
    project.write(LEASE_3S.replace("* * * * * *", "0 3 * * *").replace("sleep 30", "sleep 3"))
    env = {**os.environ, "CRONPLUS_HOST": "cli1"}
    for args, kind in (
        (["trigger", "manual", "--wait"], "trigger"),
        (["backfill", "nap", "--from", "2026-01-01", "--to", "2026-01-01", "--yes"], "backfill"),
    ):
        argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", pg_url, *args]
        proc = subprocess.Popen(argv, cwd=project.root, env=env, stdout=subprocess.DEVNULL)
        try:
            # Listed, then its next heartbeat counts the attempt it executes.
            wait_until(lambda p=proc, k=kind: (k, p.pid, 1) in _processes(project, pg_url), 30)
            assert listed(project.root, pg_url) == []  # not a daemon
            assert proc.wait(60) == ExitCode.OK
        finally:
            proc.kill()
        assert _processes(project, pg_url) == []


def test_a_detached_trigger_registers_until_its_run_ends(project, pg_url):
    project.write(LEASE_3S)
    result = cronplus(project.root, pg_url, "trigger", "manual", host="cli1")
    assert result.returncode == ExitCode.OK, result.stderr
    row = wait_until(lambda: [p for p in _processes(project, pg_url) if p[2] == 1], 30)
    assert row[0][0] == "trigger" and row[0][1] != os.getpid()
    wait_until(lambda: _processes(project, pg_url) == [], 30)


def test_status_daemons_on_a_sqlite_state_lists_its_daemon(project, daemon):
    project.write(LEASE_3S)
    d = daemon(env={"CRONPLUS_HOST": "solo"})
    d.wait_started()
    state = str(project.state)
    shown = wait_until(lambda: listed(project.root, state), 30)
    assert [(x["host"], x["pid"]) for x in shown] == [("solo", d.proc.pid)]
    status = cronplus(project.root, state, "status")
    assert f"daemon: solo pid {d.proc.pid}, last heartbeat " in status.stdout
    assert f"(state {state})" in status.stdout
    assert (project.state / "daemon.lock").exists()  # SQLite: today's files
    assert d.terminate() == 0
    assert listed(project.root, state) == []
    assert "daemon: not running" in cronplus(project.root, state, "status").stdout
