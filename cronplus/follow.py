"""`logs JOB -f`: a run's output as it is written, attempt after attempt, until the
run ends; the run not there yet is waited for. The store and the log files are read
again every `POLL_S`: a reader needs no word from the process that runs the job
(daemon, `trigger` or backfill alike)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

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
    `--- attempt N ---` before each later attempt, until the run is over: the run as
    it ended, or None when `stop` was set first."""
    first = max(len(run.attempts) - 1, 0)
    shown, offset, headed = first, 0, False  # attempts written whole; of the next
    while True:
        # The run first, then its files: an attempt seen finished has its log complete.
        fresh = store.get_run(run.id)
        if fresh is None:  # deleted meanwhile (a retention): nothing more to show
            return run
        run = fresh
        while shown < len(run.attempts):
            attempt = run.attempts[shown]
            if shown > first and not headed:
                write(f"--- attempt {attempt.number} ---\n".encode())
                headed = True
            offset = _copy(attempt.log, offset, write)
            if attempt.finished_at is None:
                break
            shown, offset, headed = shown + 1, 0, False
        if run.status.is_final and shown >= len(run.attempts):
            return run
        if clock.wait(stop, POLL_S):
            return None


def _copy(path: str | None, offset: int, write: Callable[[bytes], None]) -> int:
    """Write `path`'s bytes from `offset` on; the new offset. A log not made yet is
    empty; one cut shorter than `offset` (`max_log_bytes` keeps its end) goes on from
    its new end."""
    if not path:
        return offset
    try:
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            if size < offset:
                return size
            f.seek(offset)
            while chunk := f.read(_CHUNK):
                write(chunk)
                offset += len(chunk)
    except FileNotFoundError:
        pass
    return offset
