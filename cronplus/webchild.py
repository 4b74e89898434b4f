"""`cronplus run --web [HOST:]PORT`: `cronplus web` served by a child process of the
daemon, so a page never holds the scheduler's GIL.

The child is `python -m cronplus -c CONFIG --state STATE web --host H --port P`, on
the daemon's own jobs file and state, with the daemon's environment (a
`CRONPLUS_WEB_TOKEN` passes on) and its stdout (the child's serving line tells where
`:0` landed) and stderr. It is restarted whenever it exits, after a backoff that
doubles from 1 s to 60 s (back to 1 s once a child served for a minute); each start
and exit is a `key=value` event line in the daemon's log. The daemon stops it on its
way out (SIGTERM, then SIGKILL after 5 s); a daemon that dies without stopping it
(SIGKILL) closes the child's stdin by dying, and the child stops at that end
(`web.SUPERVISED_ENV`), so no server outlives its daemon holding the port.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
from contextlib import ExitStack
from pathlib import Path

from cronplus.clock import Clock, system_clock
from cronplus.paths import STATE_ENV, StatePaths
from cronplus.web import SUPERVISED_ENV

log = logging.getLogger("cronplus")

BACKOFF_FIRST_S = 1.0
BACKOFF_MAX_S = 60.0
STEADY_S = 60.0  # a child that served this long starts the next backoff from the first
STOP_GRACE_S = 5.0


def web_argv(config_path: str, state: Path | None, host: str, port: int) -> list[str]:
    """`state` None: the child finds the state in its environment (a PostgreSQL URL,
    which must not be on a command line any user's `ps` shows)."""
    return [
        sys.executable,
        "-m",
        "cronplus",
        "-c",
        config_path,
        *(() if state is None else ("--state", str(state))),
        "web",
        "--host",
        host,
        "--port",
        str(port),
    ]


class WebChild:
    """One supervised `cronplus web` process at a time, until `stop`."""

    def __init__(
        self, argv: list[str], clock: Clock | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.argv = argv
        self.env = env or {}
        self.clock = clock or system_clock()
        self._stopping = threading.Event()
        self._lock = threading.Lock()  # a stop and a spawn never cross
        self._proc: subprocess.Popen[bytes] | None = None
        self._thread = threading.Thread(target=self._supervise, name="cronplus-web", daemon=True)

    @property
    def pid(self) -> int | None:
        proc = self._proc
        return proc.pid if proc is not None else None

    def start(self) -> None:
        self._thread.start()

    def _spawn(self) -> subprocess.Popen[bytes] | None:
        with self._lock:
            if self._stopping.is_set():
                return None
            self._proc = subprocess.Popen(
                self.argv,
                stdin=subprocess.PIPE,  # its end is the daemon's end
                env={**os.environ, **self.env, SUPERVISED_ENV: "1"},
            )
        log.info("event=web_started pid=%d", self._proc.pid)
        return self._proc

    def _supervise(self) -> None:
        delay = BACKOFF_FIRST_S
        while (proc := self._spawn()) is not None:
            started = self.clock.monotonic()
            code = proc.wait()
            if self._stopping.is_set():
                return
            if self.clock.monotonic() - started >= STEADY_S:
                delay = BACKOFF_FIRST_S
            log.info("event=web_exited pid=%d exit_code=%d restart_in=%gs", proc.pid, code, delay)
            if self.clock.wait(self._stopping, delay):
                return
            delay = min(delay * 2, BACKOFF_MAX_S)

    def stop(self) -> None:
        """Stop the child (TERM, then KILL after `STOP_GRACE_S`) and restart none."""
        with self._lock:
            self._stopping.set()
            proc = self._proc
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(STOP_GRACE_S)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            if proc.stdin is not None:
                proc.stdin.close()
        self._thread.join(STOP_GRACE_S)


def start_web_child(
    stack: ExitStack, config_path: str, state: StatePaths, host: str, port: int
) -> None:
    """Start serving `cronplus web` from a supervised child; stopped when `stack` closes."""
    if state.url is not None:
        env = {STATE_ENV: state.url}
        child = WebChild(web_argv(config_path, None, host, port), env=env)
    else:
        child = WebChild(web_argv(config_path, state.root, host, port))
    child.start()
    stack.callback(child.stop)
