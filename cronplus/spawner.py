"""Start the process of a recorded attempt, with what is the same for every run of a
job worked out once per process rather than once per run.

Issue 12, a busy daemon: each of the runs due at one instant paid, before its
process could start, a copy of cronplus's environment (decoding every variable), a
read of /proc/self/status for the umask, and at a job's first run the `mkdir` of its
log folder, the slowest call on the way after the fork itself. Now the environment
is copied once, the umask read once (cronplus never changes its own), and the
engine has the log folders of the jobs due at its next wake-up made while it waits
(`make_folders`); the executor still makes a missing one itself, so a folder
removed meanwhile costs that run the `mkdir`, as before, and nothing else.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from pathlib import Path

from cronplus import _wrapper, executor
from cronplus.clock import Clock
from cronplus.events import log_event
from cronplus.intervals import Intervals
from cronplus.model import AttemptResult, Config, Job, Run, RunStatus, Trigger
from cronplus.paths import StatePaths

log = logging.getLogger("cronplus")


class Spawner:
    """Starts attempts' processes for one cronplus process (its environment and umask
    as they were when it was made)."""

    def __init__(
        self, paths: StatePaths, clock: Clock, config: Callable[[], Config] | None = None
    ) -> None:
        self.paths = paths
        self.clock = clock
        self._config = config  # the runs' configuration now, for their data intervals
        self._intervals: Intervals | None = None
        self._environ = dict(os.environ)
        self._umask = _wrapper.current_umask()
        self._envs: dict[str, tuple[Job, dict[str, str]]] = {}  # job -> (that job, its base)
        self._folders: set[str] = set()  # jobs whose log folder is known to exist

    def make_folders(self, jobs: Iterable[str]) -> None:
        """Make the log folders of `jobs` not known to exist, ahead of their runs. One
        that cannot be made is left to the run, which says why."""
        for name in jobs:
            if name not in self._folders:
                with contextlib.suppress(OSError):
                    (self.paths.logs / name).mkdir(mode=0o700, parents=True, exist_ok=True)
                    self._folders.add(name)

    def spawn(
        self,
        jobs_folder: Path,
        job: Job,
        run: Run,
        number: int,
        trigger: Trigger,
        log_path: Path,
        begun: datetime,
        *,
        announce: bool = True,
        extra: Mapping[str, str] | None = None,
    ) -> executor.AttemptHandle | AttemptResult:
        """Start the process of an attempt recorded `begun`: its handle, or the failed
        result of one that could not start. With `announce`, its `start` is logged.
        `extra`: variables over the attempt's environment (a for_each item's)."""
        handle: executor.AttemptHandle | AttemptResult
        try:
            env = executor.build_env(
                job,
                run_id=run.id,
                attempt=number,
                trigger=str(trigger),
                scheduled_for=run.scheduled_for,
                base_env=self._base_env(job),
                interval=self._interval(run),
            )
            env.update(extra or {})
            if run.file is not None:  # a `watch` run's file (issue 16)
                env["CRONPLUS_FILE"] = run.file.path
            else:
                env.pop("CRONPLUS_FILE", None)
            handle = executor.start_attempt(
                job, env, log_path, jobs_folder=jobs_folder, clock=self.clock, umask=self._umask
            )
        except Exception as e:
            # It did not start: a failed attempt with the cause, retried and alerted as
            # any failure. What the environment or the job's values cause needs no
            # traceback; anything else is a bug, and the log shows where.
            if not isinstance(e, OSError | ValueError | OverflowError):
                log.exception("job=%s run=%s attempt=%s event=error", run.job, run.id, number)
            cause = e.strerror if isinstance(e, OSError) and e.strerror else e
            why = f"cannot start: {cause}"
            handle = AttemptResult(RunStatus.FAILED, begun, self.clock.now(), reason=why)
        if not isinstance(handle, AttemptResult):
            self._folders.add(job.name)  # its log was opened in it
            if announce:
                log_event(run, "start", number)
        return handle

    def _interval(self, run: Run) -> tuple[datetime, datetime] | None:
        """The run's data interval, by the configuration of now (one `Intervals` per
        configuration, so consecutive runs of a job walk on from each other)."""
        if self._config is None:
            return None
        try:
            config, known = self._config(), self._intervals
            if known is None or known.config is not config:
                known = self._intervals = Intervals(config)
            return known.of_run(run)
        except Exception:  # a bug here must not keep the run from starting: no interval
            log.exception("job=%s run=%s event=error detail='its data interval'", run.job, run.id)
            return None

    def _base_env(self, job: Job) -> dict[str, str]:
        """cronplus's environment with `job`'s env over it, made once per job (and again
        for the new job a reload makes)."""
        known = self._envs.get(job.name)
        if known is None or known[0] is not job:
            known = self._envs[job.name] = (job, {**self._environ, **job.env})
        return known[1]
