"""Retention (issue 14): each job's `keep_runs` / `keep_days`, applied to the state,
its runs and their logs; `cronplus prune` now, the daemon's `Pruner` at its start and
every 10 minutes.

Layer 3, beside `recovery`: it needs only the store, the state's paths and the
model (layer 4 and 5), and both the daemon (layer 2) and the `prune` command use it.
Runs go a bounded batch (`BATCH`) per transaction, so the state's write lock, which
the scheduler's claims wait for, is never held long; the logs are deleted after each
commit, outside it. The daemon does this on its own thread, never the engine's."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cronplus._wrapper import status_path_for
from cronplus.clock import Clock
from cronplus.errors import StateError
from cronplus.model import Config, Job
from cronplus.paths import StatePaths
from cronplus.store import PrunedRun, Store, open_store

log = logging.getLogger("cronplus")

BATCH = 500  # runs deleted per transaction: the write lock held a few ms, not seconds
EVERY = timedelta(minutes=10)  # how often the daemon prunes, after once at its start


@dataclass(frozen=True, slots=True)
class Pruned:
    """What retention removed of one job (or, in a dry run, would remove)."""

    job: str
    runs_deleted: int = 0
    logs_deleted: int = 0  # files: attempt logs and their `.status` files
    bytes_freed: int = 0  # those files' sizes


def prune(
    config: Config,
    store: Store,
    paths: StatePaths,
    now: datetime,
    *,
    dry_run: bool = False,
    between: Callable[[], bool] = lambda: False,
    stopped: Callable[[], bool] = lambda: False,
) -> list[Pruned]:
    """Apply every job's retention as of `now`: one `Pruned` per job of `config`, in
    file order (zeros included). `dry_run`: nothing is changed, what would go is
    reported. `between`: called after each batch (the daemon paces itself there);
    True ends the pass. `stopped`: asked before each job and each batch; True ends
    the pass (the jobs not reached get zeros)."""
    out = []
    ending = False
    for job in config.jobs.values():
        if ending or stopped():
            ending = True
            out.append(Pruned(job.name))
        elif dry_run:
            runs = store.prunable_runs(
                job.name, job.keep_runs, _ended_before(job, now), _fan_in(config, job)
            )
            files = [(f, _size(f)) for f in _run_files(paths, job, runs)]
            found = [size for _, size in files if size is not None]
            out.append(Pruned(job.name, len(runs), len(found), sum(found)))
        else:
            done, ending = _prune_job(store, paths, (config, job), now, (between, stopped))
            out.append(done)
    return out


def _fan_in(config: Config, job: Job) -> list[str]:
    """The jobs whose unfinished run for a logical time keeps `job`'s success for it:
    its direct dependents and their other upstream jobs (the last of them to succeed
    releases the dependent, and looks for this success then)."""
    after_it = [j for j in config.jobs.values() if job.name in j.after]
    names = [j.name for j in after_it] + [u for j in after_it for u in j.after]
    return [n for n in dict.fromkeys(names) if n != job.name]


def _prune_job(
    store: Store,
    paths: StatePaths,
    where: tuple[Config, Job],
    now: datetime,
    pace: tuple[Callable[[], bool], Callable[[], bool]],
) -> tuple[Pruned, bool]:
    """One job's runs a batch at a time; with True when the pass is to end."""
    config, job = where
    between, stopped = pace
    ended_before = _ended_before(job, now)
    runs = logs = size = 0
    if not job.keep_runs and ended_before is None:
        return Pruned(job.name), False
    watch = _fan_in(config, job)
    while not (ending := stopped()):
        gone = store.prune_runs(job.name, job.keep_runs, ended_before, watch, limit=BATCH)
        runs += len(gone)
        for f in _run_files(paths, job, gone):
            freed = _unlink(f)
            if freed is not None:
                logs, size = logs + 1, size + freed
        if len(gone) < BATCH:
            break
        if ending := between():
            break
    return Pruned(job.name, runs, logs, size), ending


def _ended_before(job: Job, now: datetime) -> datetime | None:
    return now - timedelta(days=job.keep_days) if job.keep_days else None


def _log_files(paths: StatePaths, job: str, runs: list[PrunedRun]) -> Iterator[Path]:
    for run in runs:
        for number in run.attempts:
            log_path = paths.attempt_log(job, run.id, number)
            yield log_path
            yield status_path_for(log_path)


def _run_files(paths: StatePaths, job: Job, runs: list[PrunedRun]) -> list[Path]:
    """The runs' attempt logs, and a for_each run's item files: looked for when the job
    has for_each, or a run has no attempts of its own (a for_each since removed)."""
    fanned = job.for_each or any(not r.attempts for r in runs)
    items = _item_files(paths, job.name, runs) if fanned else []
    return [*_log_files(paths, job.name, runs), *items]


def _item_files(paths: StatePaths, job: str, runs: list[PrunedRun]) -> list[Path]:
    """A for_each run's listing and item logs (issue 16), `RUN-item…`: found in one look
    at the job's log folder per batch, not one per run."""
    ids = {str(r.id) for r in runs}
    try:
        names = os.listdir(paths.logs / job)
    except OSError:
        return []
    return [paths.logs / job / n for n in names if "-item" in n and n.split("-item")[0] in ids]


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def _unlink(path: Path) -> int | None:
    """Delete `path`; its size, or None when there was none to delete (never written,
    or removed by hand)."""
    size = _size(path)
    try:
        os.unlink(path)
    except FileNotFoundError:
        return None
    except OSError as e:  # the state's folder made read-only meanwhile: keep pruning runs
        log.warning("event=prune_log_failed path=%s detail=%r", path, e.strerror)
        return None
    return size


class Pruner:
    """The daemon's retention: a thread of its own that prunes at the daemon's start and
    every `EVERY`, with the jobs the daemon runs then (a reload included).

    It opens a connection of its own: SQLite checkpoints the WAL inside a commit, and
    on the daemon's shared connection the engine's next claim would wait for that too
    (bench/prune.py: a per-second job up to 130 ms late under load). After each batch
    it rests as long as the batch took, so the disk it shares with the jobs' spawns is
    never its alone."""

    def __init__(self, config: Callable[[], Config], paths: StatePaths, clock: Clock) -> None:
        self._config = config
        self._paths = paths
        self._clock = clock
        self._stop = threading.Event()
        self._mark = 0.0
        self._failed = False
        self._thread = threading.Thread(target=self._loop, name="cronplus-prune", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._pass()
            except StateError as e:  # the state refused a write: try again next time
                log.warning("event=prune_failed detail=%r", str(e))
            except Exception as e:  # a bug or an odd disk: say so, and keep the thread
                if self._failed:
                    log.warning("event=prune_failed detail=%r", repr(e))
                else:  # the traceback once, not every 10 minutes
                    log.exception("event=prune_failed detail=%r", repr(e))
                self._failed = True
            self._stop.wait(EVERY.total_seconds())

    def _pass(self) -> None:
        started = self._mark = self._clock.monotonic()
        store = open_store(self._paths)
        try:
            done = prune(
                self._config(),
                store,
                self._paths,
                self._clock.now(),
                between=self._between,
                stopped=self._stop.is_set,
            )
        finally:
            store.close()
        if any(p.runs_deleted for p in done):
            log.info(
                "event=pruned runs=%d logs=%d bytes=%d ms=%.0f",
                sum(p.runs_deleted for p in done),
                sum(p.logs_deleted for p in done),
                sum(p.bytes_freed for p in done),
                (self._clock.monotonic() - started) * 1000,
            )

    def _between(self) -> bool:
        """Rest as long as the last batch took (at most a second); True to stop."""
        took = self._clock.monotonic() - self._mark
        stopped = self._stop.wait(min(max(took, 0.0), 1.0))
        self._mark = self._clock.monotonic()
        return stopped
