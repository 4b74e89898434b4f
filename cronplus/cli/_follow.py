"""`logs JOB -f`: `follow.py`'s reading written to stdout as UTF-8 as it comes, Ctrl-C
a quiet stop (exit 130, as `tail -f` gives: a script's `&&` does not go on)."""

from __future__ import annotations

import codecs
import signal
import sys
import threading
from typing import TYPE_CHECKING

from cronplus.cli._group import warn
from cronplus.cli._tail import elsewhere, follow_elsewhere
from cronplus.clock import system_clock
from cronplus.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from cronplus.store import Store

INTERRUPTED = 130  # 128 + SIGINT, the shell's word for a command stopped by Ctrl-C


def follow_logs(store: Store, job: str, run_id: int | None) -> int:
    from cronplus.follow import follow_run, run_to_follow
    from cronplus.model import RunStatus

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    clock = system_clock()
    if run_id is not None:
        run = store.get_run(run_id)
        if run is None or run.job != job:
            raise UsageError(f'job "{job}" has no run {run_id} (see: cronplus history {job})')
    else:
        run = run_to_follow(store, job, stop, clock)
    if run is not None and run.attempts and elsewhere(run.attempts[-1]):
        code = follow_elsewhere(store, run, lambda: clock.wait(stop, 1.0))  # issue 17
        return INTERRUPTED if code is None else code
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    out = sys.stdout.buffer

    def write(chunk: bytes) -> None:
        out.write(decoder.decode(chunk).encode())
        out.flush()

    ended = None if run is None else follow_run(store, run, write, stop, clock)
    out.write(decoder.decode(b"", final=True).encode())
    out.flush()
    if ended is None:
        return INTERRUPTED
    if not ended.attempts:
        warn(f"run {ended.id} of {job} never started ({ended.status}: {ended.reason})")
    return ExitCode.OK if ended.status is RunStatus.SUCCEEDED else ExitCode.NOT_SUCCEEDED
