"""`cronplus run --web [HOST:]PORT`: `cronplus web` served by a supervised child of a
real daemon: its serving line on the daemon's stdout, restarted when it exits, stopped
with the daemon (even a SIGKILLed one), the token passed on by the environment."""

from __future__ import annotations

import http.client
import os
import re
import signal
import subprocess
import sys
from urllib.parse import urlsplit

import pytest

from tests.conftest import wait_until

pytestmark = pytest.mark.slow

JOBS = """
[jobs.load]
schedule = "@daily"
command = "true"
"""


def urls(d) -> list[str]:
    return re.findall(r"^cronplus web: serving (http://\S+)/$", d.stdout, flags=re.M)


def child_pids(d) -> list[int]:
    return [int(p) for p in re.findall(r"event=web_started pid=(\d+)", d.stderr)]


def get(url: str, headers: dict[str, str] | None = None) -> int:
    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        conn.request("GET", "/", headers=headers or {})
        return conn.getresponse().status
    finally:
        conn.close()


def gone(pid: int) -> bool:
    """Not running: no such process, or a zombie nobody reaped yet."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def start(project, daemon, *run_args: str, env: dict[str, str] | None = None):
    project.write(JOBS)
    d = daemon(run_args=("--web", *run_args), env={"CRONPLUS_WEB_TOKEN": "", **(env or {})})
    d.wait_started()
    wait_until(lambda: urls(d) or d.proc.poll() is not None, 15)
    assert d.proc.poll() is None, d.stderr
    return d


def test_the_child_serves_on_a_port_read_from_the_daemons_stdout(project, daemon):
    d = start(project, daemon, ":0")
    (url,) = urls(d)
    assert url.startswith("http://127.0.0.1:")
    assert get(url) == 200
    (pid,) = child_pids(d)
    assert pid != d.proc.pid
    assert d.terminate() == 0
    assert "event=stopped" in d.stderr
    wait_until(lambda: gone(pid), 5)


def test_a_child_that_exits_is_restarted(project, daemon):
    d = start(project, daemon, "127.0.0.1:0")
    (first,) = child_pids(d)
    os.kill(first, signal.SIGKILL)
    wait_until(lambda: len(urls(d)) == 2, 15)
    assert re.search(rf"event=web_exited pid={first} exit_code=-9 restart_in=1s", d.stderr)
    second = child_pids(d)[-1]
    assert second != first
    assert get(urls(d)[-1]) == 200
    assert d.terminate() == 0
    wait_until(lambda: gone(second), 5)


def test_the_token_the_daemon_was_given_passes_to_the_child(project, daemon):
    d = start(project, daemon, ":0", env={"CRONPLUS_WEB_TOKEN": "s3cret"})
    (url,) = urls(d)
    assert get(url) == 401
    assert get(url, {"Authorization": "Bearer s3cret"}) == 200
    assert "warning: no token" not in d.stderr
    assert d.terminate() == 0


def test_a_sigkilled_daemon_takes_its_child_along(project, daemon):
    d = start(project, daemon, ":0")
    (pid,) = child_pids(d)
    d.proc.send_signal(signal.SIGKILL)  # the daemon alone, not its group
    d.proc.wait()
    wait_until(lambda: gone(pid), 5)


@pytest.mark.parametrize("address", ["0.0.0.0:0", "nonsense", "127.0.0.1:http"])
def test_run_web_refuses_a_bad_or_exposed_address_before_starting(project, address):
    project.write(JOBS)
    env = {k: v for k, v in os.environ.items() if k != "CRONPLUS_WEB_TOKEN"}
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", "state"]
    result = subprocess.run(
        [*argv, "run", "--web", address], env=env, capture_output=True, text=True, timeout=20
    )
    assert result.returncode == 2, result.stderr
    assert "--web" in result.stderr
    if address.startswith("0.0.0.0"):
        assert "CRONPLUS_WEB_TOKEN" in result.stderr
    assert not project.state.exists()  # no daemon started
