"""Shared fixtures: a project folder, the CLI, a real daemon subprocess, a fake clock."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from cronplus.cli import cli as cli_group
from cronplus.model import Attempt, AttemptResult, Claim, RunEnd, RunStatus, Trigger


class FakeClock:
    """A clock tests move by hand. Its wall time stands still until moved; its
    monotonic time runs as the real one does, plus every move, so the attempts it
    times (a timeout, kill_grace) still end while a test waits for them."""

    def __init__(self, start: datetime) -> None:
        self._now = start.astimezone(UTC)
        self._moved = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return time.monotonic() + self._moved

    def wait(self, wake: threading.Event, seconds: float) -> bool:
        """As the real clock's, on this clock's monotonic time: moving the clock past
        the end of the wait ends it at once."""
        end = self.monotonic() + seconds
        while not wake.is_set():
            left = end - self.monotonic()
            if left <= 0:
                return False
            wake.wait(min(left, 0.01))
        return True

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)
        self._moved += seconds

    def set(self, t: datetime) -> None:
        self.advance((t - self._now).total_seconds())


@contextlib.contextmanager
def traced_statements() -> Iterator[list[str]]:
    """Every statement issued, values bound, on the SQLite connections opened inside
    the block: what a command asks of the state."""
    issued: list[str] = []
    connect = sqlite3.connect

    def traced(*a, **kw):
        conn = connect(*a, **kw)
        conn.set_trace_callback(issued.append)
        return conn

    sqlite3.connect = traced
    try:
        yield issued
    finally:
        sqlite3.connect = connect


def wait_until(predicate: Callable[[], object], timeout: float = 10.0, interval: float = 0.05):
    """Poll until predicate() is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s: {predicate}")
        time.sleep(interval)


@dataclass
class Project:
    root: Path
    state: Path = field(init=False)

    def __post_init__(self) -> None:
        self.state = self.root / "state"

    @property
    def jobs_file(self) -> Path:
        return self.root / "jobs.toml"

    def write(self, text: str, name: str = "jobs.toml") -> Path:
        path = self.root / name
        path.write_text(textwrap.dedent(text).lstrip("\n"))
        return path

    def store(self):
        from cronplus.paths import StatePaths
        from cronplus.store import open_store

        return open_store(StatePaths(self.state))

    def config(self):
        from cronplus.config import load_config

        return load_config(self.jobs_file, display_path="jobs.toml")


@pytest.fixture(scope="session")
def pg_server():
    """A real PostgreSQL server of this test process's own (tests/pgserver.py)."""
    from tests.pgserver import start_server

    server = start_server()
    yield server
    server.remove()


@pytest.fixture
def pg_url(pg_server) -> str:
    """The URL of a fresh database on `pg_server`, with its password."""
    return pg_server.url(pg_server.new_database())


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CRONPLUS_STATE", raising=False)
    monkeypatch.delenv("CRONPLUS_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / ".cache"))  # not the user's cache
    return Project(tmp_path)


@pytest.fixture
def cli(project: Project) -> Callable[..., Result]:
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(
            cli_group,
            ["-c", "jobs.toml", "--state", str(project.state), *args],
            catch_exceptions=False,
            prog_name="cronplus",
        )

    return invoke


class Daemon:
    def __init__(
        self,
        project: Project,
        *extra: str,
        run_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        state: str | None = None,
    ) -> None:
        self.project = project
        n = len(list(project.root.glob("daemon-*.stderr")))
        self.stderr_path = project.root / f"daemon-{n + 1}.stderr"
        self.stdout_path = project.root / f"daemon-{n + 1}.stdout"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in stop())
        self._stdout = open(self.stdout_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cronplus",
                "-c",
                str(project.jobs_file),
                "--state",
                state or str(project.state),
                *extra,
                "run",
                *run_args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=self._stdout,
            stderr=self._stderr,
            start_new_session=True,
            cwd=project.root,
            env=None if env is None else {**os.environ, **env},
        )

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @property
    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def wait_started(self, timeout: float = 15.0) -> None:
        wait_until(lambda: "event=started" in self.stderr or self.proc.poll() is not None, timeout)
        assert self.proc.poll() is None, f"daemon exited:\n{self.stderr}"

    def terminate(self, timeout: float = 30.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.kill()

    def kill(self) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()
        self._stderr.close()
        self._stdout.close()


@pytest.fixture
def daemon(project: Project, request: pytest.FixtureRequest) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def start(*extra: str, **kwargs) -> Daemon:
        d = Daemon(project, *extra, **kwargs)
        started.append(d)
        return d

    yield start
    failed = getattr(request.node, "rep_call", None) is not None and request.node.rep_call.failed
    for d in started:
        d.terminate() if d.proc.poll() is None else d.kill()
        if failed:
            print(f"--- daemon stderr ---\n{d.stderr}")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The real-daemon tests (marked slow) first, in their order: under pytest-xdist
    the longest tests then overlap each other instead of making a tail at the end."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.hookimpl(hookwrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    outcome = yield
    rep = outcome.get_result()
    setattr(item, f"rep_{rep.when}", rep)


def record(
    store,
    job: str,
    when: datetime,
    status: str,
    *,
    trigger: Trigger = Trigger.SCHEDULE,
    exits: tuple[int | None, ...] = (0,),
    signal: str | None = None,
    reason: str | None = None,
):
    """Record one run of `job` for logical time `when`, as dispatch would have.

    `exits` gives each attempt's exit code; `signal` marks the last attempt as killed.
    skipped and upstream_failed runs are recorded without attempts, as dispatch does.
    """
    status = RunStatus(status)
    if status in (RunStatus.SKIPPED, RunStatus.UPSTREAM_FAILED):
        return store.claim_run(
            job, when, trigger, Claim(owner=None, now=when, status=status, reason=reason or "why")
        )
    run = store.claim_run(job, when, trigger, Claim(owner=os.getpid(), now=when))
    assert run is not None
    t = when
    for n, code in enumerate(exits, 1):
        store.begin_attempt(
            run.id, Attempt(n, t, log=f"/nowhere/{run.id}-{n}.log"), owner=os.getpid()
        )
        if status is RunStatus.RUNNING and n == len(exits):
            return run
        killed = signal if n == len(exits) else None
        result = AttemptResult(
            status=RunStatus.SUCCEEDED if code == 0 else RunStatus.FAILED,
            started_at=t,
            finished_at=t + timedelta(seconds=2),
            exit_code=None if killed else code,
            signal=killed,
        )
        store.finish_attempt(run.id, n, result)
        t += timedelta(seconds=10)
    store.finish_run(
        run.id, RunEnd(status, reason or (None if status == "succeeded" else "why"), t)
    )
    return run


# -- cronplus web: a real server, and real headless Chromium ------------------------------------


class WebServer:
    """A real `cronplus web` subprocess over the project; `url` once it listens."""

    def __init__(self, project: Project, *args: str, env: dict[str, str] | None = None) -> None:
        self.project = project
        self.stderr_path = project.root / f"web-{time.monotonic_ns()}.stderr"
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115 (closed in stop())
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cronplus",
                "-c",
                str(project.jobs_file),
                "--state",
                str(project.state),
                "web",
                "--port",
                "0",
                *args,
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            cwd=project.root,
            env={**os.environ, **(env or {})},
        )
        line = self.proc.stdout.readline().decode()
        assert line.startswith("cronplus web: serving http://"), (line, self.stderr)
        self.url = line.split("serving ", 1)[1].strip().rstrip("/")

    @property
    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def get(self, path: str, headers: dict[str, str] | None = None):
        """(status, headers, body bytes) of a GET, without following redirects."""
        return self.request("GET", path, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ):
        import http.client
        from urllib.parse import urlsplit

        parts = urlsplit(self.url)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            return resp.status, dict(resp.getheaders()), resp.read()
        finally:
            conn.close()

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(10)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.proc.stdout.close()
            self._stderr.close()


@pytest.fixture
def web(project: Project) -> Iterator[Callable[..., WebServer]]:
    """Start `cronplus web --port 0 ARGS...` over the project; stopped at the end."""
    started: list[WebServer] = []

    def start(*args: str, env: dict[str, str] | None = None) -> WebServer:
        server = WebServer(project, *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium per test worker (Debian's chromium and chromium-driver)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,900",
        "--no-first-run",
        "--disable-extensions",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    driver.set_page_load_timeout(20)
    yield driver
    driver.quit()


@pytest.fixture
def browser(chromium):
    """The worker's Chromium, with its cookies cleared before each test."""
    chromium.delete_all_cookies()
    return chromium
