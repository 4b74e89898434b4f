"""A started attempt watched to its end: `AttemptHandle` waits on its process (a pidfd,
no polling), enforces the job's timeout, and stops its whole group on a timeout or an
interrupt (TERM, kill_grace, KILL); the same for an attempt adopted from a dead cronplus
(`executor.adopt_attempt`). Times come from the caller's `Clock`; no store."""

from __future__ import annotations

import contextlib
import math
import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from cronplus import _logcap, _wrapper
from cronplus.clock import Clock
from cronplus.model import TAIL_BYTES, AttemptResult, Job, RunStatus

_MAX_POLL_MS = 3_600_000  # longest single wait for an attempt's end; the loop goes on
_GROUP_CHECK_MAX_S = 0.05  # longest pause between checks that a stopping group is gone


class AttemptHandle:
    """A started attempt. `wait()` (one worker thread) owns it; `interrupt()` may be
    called from any thread."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes] | _wrapper.SurvivingWrapper,
        job: Job,
        log_path: Path,
        status_path: Path,
        started_at: datetime,
        started_mono: float,
        clock: Clock,
    ) -> None:
        self.pid = popen.pid  # == pgid: the wrapper leads its own session
        self.started_at = started_at
        self.log_path = log_path
        self.status_path = status_path
        self._popen = popen
        self._job = job
        self._started_mono = started_mono
        self._now = clock.now
        self._monotonic = clock.monotonic
        # A pidfd turns "the process ended" into a readable fd, and the pipe turns
        # interrupt() into one, so wait() blocks on both at once without polling.
        # Both exist after Popen returns, so they add nothing to start lateness.
        self._pidfd = os.pidfd_open(popen.pid)
        self._wake_r, self._wake_w = os.pipe()
        self._lock = threading.Lock()  # interrupt() vs closing the fds in wait()
        self._wait_lock = threading.Lock()
        self._closed = False
        self._interrupt_reason: str | None = None
        self._result: AttemptResult | None = None
        self._cap: _logcap.Watch | None = None
        self._watched = False

    def wait(self) -> AttemptResult:
        """Block until the attempt is over, enforcing the job's timeout, and say how it ended.

        Also performs the kill sequence for `interrupt()`, so a worker thread must be
        in `wait()` for an interrupt to take effect. Calling it again returns the same
        result. The result has the log's tail (`with_tail`), read once it is capped.
        """
        with self._wait_lock:
            if self._result is None:
                self._watch_log()
                try:
                    result = self._wait()
                finally:
                    self._close()
                    _logcap.CAPPER.finish(self._cap, self.log_path, self.pid)
                self._result = with_tail(result, self.log_path)
            return self._result

    def ended_within(self, seconds: float) -> bool:
        """Wait up to `seconds` (never past the timeout) for the attempt to end or be
        interrupted; True if it did, or if its timeout is up. `wait()` still says how
        it ended. What is worth doing only for an attempt that goes on (recording its
        pid) waits on this first: a quick attempt then costs no such write."""
        self._watch_log()
        timed_out = False
        if self._job.timeout is not None:
            left = self._started_mono + self._job.timeout.total_seconds() - self._monotonic()
            timed_out = left <= seconds
            seconds = min(seconds, left)
        if seconds <= 0:
            return True
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        return bool(poller.poll(math.ceil(seconds * 1000))) or timed_out

    def _watch_log(self) -> None:
        """Have the process's log-capping thread (`_logcap`) watch the log, once, from
        the worker thread: not on the way from one start to the next (runs due
        together start back to back). An adopted attempt is capped by its adopter."""
        if not self._watched:
            self._watched = True
            self._cap = _logcap.CAPPER.watch(self.log_path, self._job.max_log_bytes)

    def interrupt(self, reason: str = "interrupted: cronplus stopped") -> None:
        """Ask `wait()` to stop the attempt's whole group: TERM, then KILL after kill_grace.

        The result is `interrupted` with `reason`, unless the job ended on its own first
        or a timeout is already stopping it.
        """
        with self._lock:
            if self._closed or self._interrupt_reason is not None:
                return
            self._interrupt_reason = reason
            os.write(self._wake_w, b"\0")  # written once, so it can never block

    def _wait(self) -> AttemptResult:
        timeout = self._job.timeout
        deadline = None
        if timeout is not None:
            deadline = self._started_mono + timeout.total_seconds()
            timeout_reason = f"timed out after {_format(timeout)}"
        poller = select.poll()  # not select(): fds above 1024 are fine in a busy daemon
        poller.register(self._pidfd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        while True:
            timeout_ms = None
            if deadline is not None:
                remaining = deadline - self._monotonic()
                if remaining <= 0:
                    status, reason = RunStatus.TIMED_OUT, timeout_reason
                    break
                # Capped: poll cannot take a wait of centuries (an allowed timeout);
                # the loop simply waits again.
                timeout_ms = min(math.ceil(remaining * 1000), _MAX_POLL_MS)
            ready = {fd for fd, _ in poller.poll(timeout_ms)}
            if self._pidfd in ready:  # ended on its own; wins over a simultaneous interrupt
                self._popen.wait()
                return self._result_from_exit()
            if self._wake_r in ready:
                status, reason = RunStatus.INTERRUPTED, self._interrupt_reason
                break
        self._stop_group()
        exit_code, signal_name = self._outcome()
        if status is RunStatus.INTERRUPTED and exit_code == 0 and signal_name is None:
            # The job ran to its end and says it succeeded: a TERM landing while the
            # wrapper forks it is lost (the fork keeps the wrapper's trap until its
            # exec), or the job finished its work on TERM. Called interrupted, it
            # would be run again at the next start.
            return _wrapper.exited(0, None, self.started_at, self._now())
        return AttemptResult(
            status=status,
            started_at=self.started_at,
            finished_at=self._now(),
            exit_code=exit_code,
            signal=signal_name,
            reason=reason,
        )

    def _stop_group(self) -> None:
        """TERM the whole group, give it kill_grace, then KILL whatever is left.

        The whole group, not just our child: `sh -c` jobs leave grandchildren (yacron
        signals only its child and they survive). The wrapper outlives the job (it
        traps TERM), so its exit means the job is gone; background processes the job
        started may remain, so the group is checked until it is empty or the grace ends.
        """
        grace_end = self._monotonic() + self._job.kill_grace.total_seconds()
        self._signal_group(signal.SIGTERM)
        if not self._wait_leader(grace_end):
            self._signal_group(signal.SIGKILL)
            self._popen.wait()
            return
        pause = 0.005
        while self._group_alive():
            remaining = grace_end - self._monotonic()
            if remaining <= 0:
                self._signal_group(signal.SIGKILL)
                return
            time.sleep(min(pause, remaining))
            pause = min(pause * 2, _GROUP_CHECK_MAX_S)

    def _wait_leader(self, until: float) -> bool:
        """Wait for the wrapper to exit until `until` (monotonic); reap it if it did."""
        poller = select.poll()
        poller.register(self._pidfd, select.POLLIN)
        while True:
            remaining = until - self._monotonic()
            if poller.poll(max(0, math.ceil(remaining * 1000))):
                self._popen.wait()
                return True
            if remaining <= 0:
                return False

    def _signal_group(self, sig: signal.Signals) -> None:
        # Already gone, or a member we may not signal: either way nothing more to do.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.pid, sig)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _outcome(self) -> tuple[int | None, str | None]:
        """The job's own status from the status file; else what the wrapper's exit says."""
        recorded = _wrapper.read_status_file(self.status_path)
        if recorded is not None:
            return recorded
        returncode = self._popen.returncode
        if returncode is None:  # adopted: not our child, and it wrote no status
            return None, None
        if returncode < 0:  # the wrapper itself was killed, so the job was too
            return None, _wrapper.signal_name(-returncode)
        return _wrapper.decode_shell_status(returncode)

    def _result_from_exit(self) -> AttemptResult:
        if isinstance(self._popen, _wrapper.SurvivingWrapper):
            return _wrapper.ended_attempt(self.status_path, self.started_at, self._now())
        exit_code, signal_name = self._outcome()
        return _wrapper.exited(exit_code, signal_name, self.started_at, self._now())

    def _close(self) -> None:
        with self._lock:
            self._closed = True
            for fd in (self._pidfd, self._wake_r, self._wake_w):
                os.close(fd)


def with_tail(result: AttemptResult, log_path: Path) -> AttemptResult:
    """`result` with the last TAIL_BYTES of the attempt's log (issue 17: the state
    keeps them, for `logs` on a host that does not have the file). Every ended
    attempt's result comes through here: watched, adopted, or found ended."""
    return replace(result, tail=_logcap.tail_text(log_path, TAIL_BYTES))


def _format(duration: timedelta) -> str:
    """'2s', '0.5s', '1h30m': the way durations are written in jobs.toml."""
    total = duration.total_seconds()
    if total < 60 or total != int(total):
        return f"{total:g}s"
    hours, rest = divmod(int(total), 3600)
    minutes, seconds = divmod(rest, 60)
    return "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
