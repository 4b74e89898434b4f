"""`logs JOB -f`: a run's output as it is written, attempt after attempt, until the
run ends; the run not there yet is waited for. The store and the log files are read
again every `POLL_S`: a reader needs no word from the process that runs the job
(daemon, `trigger` or backfill alike)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, BinaryIO

from cronplus._logcap import read_present

if TYPE_CHECKING:
    from cronplus.clock import Clock
    from cronplus.model import Run
    from cronplus.store import Store

POLL_S = 0.2  # how late a line may show; a read of one run and a stat a look
_CHUNK = 1 << 16


def run_to_follow(store: Store, job: str, stop: threading.Event, clock: Clock) -> Run | None:
    """The job's newest run not over (waiting for its attempt if need be), else its
    newest run with output; with neither, the next run the job gets. None: `stop`."""
    latest = store.latest_run(job)
    if latest is not None and not latest.status.is_final:
        return latest
    started = store.latest_started(job)
    if started is not None:
        return started
    while not clock.wait(stop, POLL_S):
        newest = store.latest_run(job)
        if newest is not None and (latest is None or newest.id != latest.id):
            return newest
    return None


def follow_run(
    store: Store,
    run: Run,
    write: Callable[[bytes], None],
    stop: threading.Event,
    clock: Clock,
) -> Run | None:
    """Write `run`'s latest attempt's output so far, then what follows as it comes,
    `--- attempt N ---` before each later attempt, until the run is over (then what
    its attempts' logs hold, an attempt left open included): the run as it ended,
    or None when `stop` was set first."""
    first = max(len(run.attempts) - 1, 0)
    shown, log = first, None  # attempts written whole; the next one's log
    try:
        while True:
            # The run first, then its files: an attempt seen finished has its log complete.
            fresh = store.get_run(run.id)
            if fresh is None:  # deleted meanwhile (a retention): nothing more to show
                return run
            run = fresh
            while shown < len(run.attempts):
                attempt = run.attempts[shown]
                if log is None:
                    if shown > first:
                        write(f"--- attempt {attempt.number} ---\n".encode())
                    log = _Log()
                log.copy(attempt.log, write)
                if attempt.finished_at is None and not run.status.is_final:
                    break
                log.close()
                shown, log = shown + 1, None
            if run.status.is_final:
                return run
            if clock.wait(stop, POLL_S):
                return None
    finally:
        if log is not None:
            log.close()


class _Log:
    """One attempt's log, open from its first look to the attempt's end: a log
    compacted meanwhile (`max_log_bytes`: a new file renamed over it) is read on to
    its end, not from an offset counted in another file. A running log's freed middle
    reads as its marker line (`_logcap.read_present`), as `logs` shows it."""

    def __init__(self) -> None:
        self._f: BinaryIO | None = None

    def copy(self, path: str | None, write: Callable[[bytes], None]) -> None:
        """Write what was added since the last copy; a log not made yet is empty."""
        if self._f is None:
            if not path:
                return
            try:
                self._f = open(path, "rb")  # noqa: SIM115 - kept open across polls
            except FileNotFoundError:
                return
        while (part := read_present(self._f, _CHUNK))[1]:
            write(part[0])

    def close(self) -> None:
        if self._f is not None:
            self._f.close()
