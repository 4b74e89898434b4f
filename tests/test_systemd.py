"""Fitting into systemd (issue 14): the unit `cronplus service --systemd` prints, checked
by `systemd-analyze verify`, and the daemon's sd_notify messages received on a real
NOTIFY_SOCKET."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest
from conftest import wait_until

from cronplus.clock import system_clock
from cronplus.sdnotify import notifier_from_env
from cronplus.unit import quote

JOBS = """
    [jobs.nightly]
    schedule = "@daily"
    command = "true"
    kill_grace = "2m"
"""


def unit_lines(text: str) -> dict[str, list[str]]:
    """key -> its values, over the whole unit."""
    out: dict[str, list[str]] = {}
    for line in text.splitlines():
        if "=" in line:
            key, value = line.split("=", 1)
            out.setdefault(key, []).append(value)
    return out


def verify(unit: str, tmp_path: Path, *, user: bool = False) -> None:
    """`systemd-analyze verify` on the unit; where it is missing, CI installs it."""
    analyze = shutil.which("systemd-analyze")
    assert analyze is not None, "systemd-analyze is missing: .ci/run installs Debian's systemd"
    path = tmp_path / "cronplus.service"
    path.write_text(unit)
    runtime = tmp_path / "runtime"  # a user manager needs a runtime folder
    runtime.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(runtime)}
    argv = [analyze, *(["--user"] if user else []), "--man=no", "verify", str(path)]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stderr == "", done.stderr  # no warning either


def test_system_unit_runs_this_python_on_this_file_and_state(project, cli):
    project.write(JOBS)
    result = cli("service", "--systemd")
    assert result.exit_code == 0, result.stderr
    keys = unit_lines(result.stdout)
    assert result.stdout.startswith("[Unit]\n")
    assert "[Service]" in result.stdout and "[Install]" in result.stdout
    assert keys["Type"] == ["notify"]
    state, jobs = project.state, project.jobs_file
    assert keys["ExecStart"] == [f"{sys.executable} -m cronplus -c {jobs} --state {state} run"]
    assert keys["ExecReload"] == ["/bin/kill -HUP $MAINPID"]
    assert keys["KillMode"] == ["mixed"]
    assert keys["Restart"] == ["on-failure"]
    assert keys["RestartPreventExitStatus"] == ["2"]
    assert keys["WatchdogSec"] == ["60"]
    assert keys["TimeoutStopSec"] == ["150"]  # the longest kill_grace and 30 s to record
    assert keys["WantedBy"] == ["multi-user.target"]
    assert keys["After"] == ["network-online.target"]
    if os.geteuid() == 0:
        assert "User" not in keys
    else:
        import pwd

        assert keys["User"] == [pwd.getpwuid(os.geteuid()).pw_name]
    verify(result.stdout, project.root)


def test_user_unit_has_no_user_and_wants_default_target(project, cli):
    project.write(JOBS)
    result = cli("service", "--systemd", "--user")
    assert result.exit_code == 0, result.stderr
    keys = unit_lines(result.stdout)
    assert keys["WantedBy"] == ["default.target"]
    assert "User" not in keys
    assert "After" not in keys  # a user manager has no network-online.target
    verify(result.stdout, project.root, user=True)


def test_paths_with_spaces_and_specifiers_are_quoted_for_systemd(tmp_path, monkeypatch):
    folder = tmp_path / "my jobs 100%$HOME"
    folder.mkdir()
    (folder / "jobs.toml").write_text('[jobs.a]\nschedule = "@daily"\ncommand = "true"\n')
    monkeypatch.chdir(folder)
    monkeypatch.delenv("CRONPLUS_STATE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))
    done = subprocess.run(
        [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "service", "--systemd"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    exec_start = unit_lines(done.stdout)["ExecStart"][0]
    escaped = str(folder).replace("%", "%%").replace("$", "$$")
    assert f'-c "{escaped}/jobs.toml" --state "{escaped}/.cronplus" run' in exec_start
    verify(done.stdout, tmp_path)


def test_quote_escapes_what_systemd_would_read_otherwise():
    assert quote("/srv/jobs.toml") == "/srv/jobs.toml"
    assert quote("a b") == '"a b"'
    assert quote('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert quote("50%") == "50%%"
    assert quote("$X") == "$$X"
    assert quote("") == '""'


def test_service_without_a_kind_exits_2_saying_what_to_write(project, cli):
    project.write(JOBS)
    result = cli("service")
    assert result.exit_code == 2
    assert "cronplus service --systemd [--user]" in result.stderr
    assert result.stdout == ""


# -- sd_notify ------------------------------------------------------------------------------


def receive(sock: socket.socket, timeout: float) -> str | None:
    sock.settimeout(timeout)
    try:
        return sock.recv(4096).decode()
    except TimeoutError:
        return None


@pytest.mark.slow
def test_daemon_notifies_ready_watchdog_and_stopping(project, daemon):
    project.write("""
        [jobs.tick]
        schedule = "* * * * * *"
        command = "env > env.txt"
    """)
    folder = tempfile.mkdtemp(prefix="sdn")  # a socket's path must be short
    address = os.path.join(folder, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        d = daemon(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "2000000"})
        assert receive(sock, 20) == "READY=1"
        assert "event=started" in d.stderr  # ready once the previous daemon's runs are taken over
        ready = time.monotonic()
        pings = []
        while len(pings) < 2 and time.monotonic() - ready < 3.5:
            message = receive(sock, 3.5)
            assert message in ("WATCHDOG=1", None)
            if message:
                pings.append(time.monotonic() - ready)
        assert len(pings) >= 2, pings  # every half of WATCHDOG_USEC: about 1 s apart
        assert pings[1] <= 3.2
        wait_until(lambda: (project.root / "env.txt").exists(), timeout=10)
        d.proc.send_signal(15)
        while (message := receive(sock, 10)) == "WATCHDOG=1":
            pass
        assert message == "STOPPING=1"
        assert d.proc.wait(30) == 0
    shutil.rmtree(folder)
    # The jobs are not the service systemd watches: they get none of its variables.
    env = (project.root / "env.txt").read_text()
    assert "NOTIFY_SOCKET" not in env and "WATCHDOG_USEC" not in env


@pytest.mark.slow
def test_abstract_socket_and_a_watchdog_meant_for_another_pid(project, daemon):
    project.write(JOBS)
    name = f"@cronplus-test-{os.getpid()}-{time.monotonic_ns()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind("\0" + name[1:])
        env = {"NOTIFY_SOCKET": name, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
        d = daemon(env=env)
        assert receive(sock, 20) == "READY=1"
        assert receive(sock, 1.0) is None  # the watchdog is pid 1's, not the daemon's
        assert d.terminate() == 0
        assert receive(sock, 5) == "STOPPING=1"


def test_a_watchdog_shorter_than_cronplus_can_keep_is_floored_and_named(monkeypatch, caplog):
    monkeypatch.setenv("NOTIFY_SOCKET", "/nonexistent/notify")
    monkeypatch.setenv("WATCHDOG_USEC", "1")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    with caplog.at_level("WARNING", logger="cronplus"):
        notifier = notifier_from_env(system_clock())
    assert notifier is not None and notifier.ping_every_s == 0.1
    notifier.close()
    assert "event=watchdog-too-short" in caplog.text
    assert "WATCHDOG_USEC=1 asks for a ping every 5e-07s" in caplog.text


@pytest.mark.slow
def test_a_tiny_watchdog_does_not_make_the_daemon_busy_loop(project, daemon):
    project.write(JOBS)
    folder = tempfile.mkdtemp(prefix="sdn")
    address = os.path.join(folder, "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
        sock.bind(address)
        d = daemon(env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "1"})
        assert receive(sock, 20) == "READY=1"
        pings, end = 0, time.monotonic() + 1.0
        while time.monotonic() < end:
            pings += receive(sock, 0.2) == "WATCHDOG=1"
        # The loop wakes every 0.1 s at most: some 10 pings a second, not thousands.
        assert pings <= 30, pings
        assert d.terminate() == 0
    shutil.rmtree(folder)
    assert d.stderr.count("event=watchdog-too-short") == 1
