"""One claimed run, start to end: its attempts through the executor, its retries, its
late timer and its final write.

The daemon, `trigger` (through `dispatch`) and `backfill` share this, so retries
behave the same whoever executes the run. What starts a run and what follows it
(overlap, queues, dependents) is `dispatch`'s.

One word counts attempts: a run's attempts are numbered from 1 (`number`); those
that count against the job's `retries` are `spent` (an attempt a stop cut short
does not count, so the run is resumed with it unspent); `made` are the attempts one
`execute` call made.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from cronplus import executor
from cronplus.alerts import Alerter
from cronplus.clock import Clock
from cronplus.config import config_dag
from cronplus.errors import StateError
from cronplus.events import log_event
from cronplus.items import ItemRunner
from cronplus.late import late_timer
from cronplus.model import Attempt, AttemptResult, Config, Job, Run, RunEnd, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.pools import Pools
from cronplus.run_control import RunControl, SlotPool
from cronplus.spawner import Spawner
from cronplus.state_health import StateHealth
from cronplus.store import Store

log = logging.getLogger("cronplus")

PID_AFTER_S = 0.1  # an attempt going on this long gets its wrapper's pid recorded

T = TypeVar("T")
P = ParamSpec("P")  # an Alerter method's own parameters


@dataclass
class _Tally:
    """Where one `execute` call stands: the run's attempts and how it ends."""

    attempts: list[Attempt]
    spent: int  # attempts counted against the retries so far
    started_at: datetime | None  # when the run's first attempt began
    made: int = 0  # attempts this call made
    status: RunStatus = RunStatus.INTERRUPTED
    reason: str | None = "cronplus stopped before the run started"
    last: tuple[int, AttemptResult] | None = None  # recorded with the run's end
    stopped: bool = False  # the stop cut it short: resumed at the next start
    late: threading.Timer | None = None  # logs `late` past expected_duration


class Runner:
    """Executes claimed runs; each call to `execute` owns one run until its end."""

    def __init__(
        self,
        config: Config,
        store: Store,
        paths: StatePaths,
        clock: Clock,
        *,
        slots: SlotPool | None = None,  # None: the caller limits how many runs go at once
        alerter: Alerter | None = None,
        keep_finished: bool = False,
        resume_after_stop: bool = False,
    ) -> None:
        self.config = config  # the engine swaps it on a reload
        self.store = store
        self.paths = paths
        self.clock = clock
        self.spawner = Spawner(paths, clock, lambda: self.config)
        self.slots = slots or SlotPool(None)
        self.pools = Pools(store, clock, lambda: self.config, partial(self.write, None))
        self.alerter = alerter
        self.stop = threading.Event()
        self.items = ItemRunner(store, paths, clock, self.spawner, self.pools, self.slots,
                                self.stop, lambda: self.config.folder, self._late)  # fmt: skip
        self.state = StateHealth()
        # The daemon's: runs its stop cuts short are run again at its next start.
        self.resume_after_stop = resume_after_stop
        # Every run recorded, for `trigger` to print; a daemon or a backfill would grow
        # it without bound, so only who asks keeps it.
        self.keep_finished = keep_finished
        self.finished: list[Run] = []
        self._lock = threading.Lock()
        self._controls: dict[int, RunControl] = {}  # the runs executing now

    # -- what dispatch and backfill call ---------------------------------------------------

    def execute(
        self,
        run: Run,
        trigger: Trigger | None = None,
        *,
        spent: int | None = None,
        adopted: executor.AttemptHandle | AttemptResult | None = None,
        release: bool = True,
        control: RunControl | None = None,
        holds_slot: bool = False,
        job: Job | None = None,
    ) -> Run:
        """Attempts with retries; returns the run as recorded at its end.

        A run that has attempts already (a backfill running it again) numbers on from
        them with a fresh retry budget, unless `spent` says how many of them count
        against it (a run resumed after a daemon's stop). `trigger` names who executes
        these attempts when that is not the run's own trigger. `adopted`: the run's
        last attempt, started by a cronplus process that died, is still going (a
        handle) or ended unrecorded (its result); it is this call's first attempt.
        With `holds_slot`, `adopted` is a first attempt started with others due at the
        same instant (`starts`), holding a slot of the pool until it ends, and `job` is
        the job it was started as: a reload since then neither skips the run (its
        process is running) nor changes its timeout or retries.
        `release`: its dependents follow it (the final write marks that, for a
        daemon's next start, if a crash cuts the release short).
        """
        control = control or RunControl(run.id)
        job = job or self.config.jobs.get(run.job)
        if job is None:  # removed by a reload while the run waited
            return self._gone(run, control)
        with self._lock:
            self._controls[run.id] = control
        if self.stop.is_set():
            control.stop()
        try:
            if job.for_each is not None:  # issue 16: its items' attempts, not the run's
                tally = _Tally([], 0, run.started_at)
                write = partial(self.write, control)
                end = self.items.execute(job, run, trigger or run.trigger, control, write)
                tally.status, tally.reason = end
                tally.stopped = end[0] is RunStatus.INTERRUPTED and self.stop.is_set()
                return self._finish(run, tally, release=release, control=control)
            first = (adopted, holds_slot) if adopted is not None else None
            tally = self._attempts(job, run, trigger or run.trigger, spent or 0, first, control)
            return self._finish(run, tally, release=release, control=control)
        finally:
            with self._lock:
                self._controls.pop(run.id, None)

    def stop_all(self) -> None:
        """Start nothing more, interrupt running attempts (TERM, KILL after kill_grace)
        and the runs waiting for a retry."""
        self.stop.set()
        self.state.wake()  # a write waiting for the state gives up
        self.slots.wake()
        with self._lock:
            controls = list(self._controls.values())
        for control in controls:
            control.stop()

    def write(
        self, control: RunControl | None, write: Callable[..., T], *args: object, **kwargs: object
    ) -> T:
        """A state write a run cannot go on without. While the state cannot be written
        (a full disk, a read-only file system) it is tried again, and the run waits,
        marked stuck (a fire time its job's overlap skips meanwhile is skipped for the
        state); on a stop it gives up (StateError), and the next start settles the run
        from what its attempt left beside its log."""
        stuck = control.mark_stuck if control is not None else None
        return self.state.write(self.stop, lambda: write(*args, **kwargs), stuck)

    def keep(self, run: Run) -> None:
        if self.keep_finished:
            with self._lock:
                self.finished.append(run)

    def alert(
        self, event: Callable[Concatenate[Alerter, P], None], *args: P.args, **kw: P.kwargs
    ) -> None:
        """Tell the alerter, through one of its methods and that method's own arguments;
        its failure (a locked state, no thread to spare) is logged, never allowed to
        change a run's outcome, stop its dependents or the engine."""
        if self.alerter is None:
            return
        try:
            event(self.alerter, *args, **kw)
        except Exception:
            log.exception("event=alert-error detail='%s'", event.__name__)

    # -- the attempts ----------------------------------------------------------------------

    def _attempts(
        self,
        job: Job,
        run: Run,
        trigger: Trigger,
        spent: int,
        going: tuple[executor.AttemptHandle | AttemptResult, bool] | None,
        control: RunControl,
    ) -> _Tally:
        """Make the run's attempts until one succeeds, is cut short, or none is left.
        `going`: the first is started already (adopted, or started with others), and
        whether it holds a slot."""
        attempts = list(run.attempts)
        if going is not None:
            attempts.pop()  # re-added with its end
        first = len(attempts) + 1  # the number of this call's first attempt
        allowed = max(job.retry.retries + 1 - spent, 1)  # attempts this call may make
        tally = _Tally(attempts, spent, run.started_at)
        try:
            while True:
                number = first + tally.made
                if tally.made == 0 and going is not None:
                    # Already going: it needs no slot, and waiting for one could not stop it.
                    previous = run.attempts[-1]
                    tally.late = late_timer(job, run, previous.started_at, self.clock, self._late)
                    log_path = Path(previous.log or "")
                    watched = (run, number, going[0], log_path, previous.trigger, control)
                    try:
                        result, attempt = self._watch(*watched)
                    finally:
                        if going[1]:
                            self.slots.put_back()
                        else:  # adopted: recovery moved its pool slots to this process
                            self.pools.release(run.id, adopted=True)
                    begun = previous.started_at
                else:
                    ended = self._held_attempt(job, run, number, trigger, control, tally)
                    if ended is None:
                        return tally
                    result, attempt, begun = ended
                if self._counted(tally, number, result, attempt, begun, allowed=allowed):
                    return tally
                if not self._wait_for_retry(job, run, number, result, tally, control):
                    return tally
        finally:
            if tally.late is not None:
                tally.late.cancel()  # its outcome is known: it can no longer be late

    def _held_attempt(
        self, job: Job, run: Run, number: int, trigger: Trigger, control: RunControl, tally: _Tally
    ) -> tuple[AttemptResult, Attempt, datetime] | None:
        """One attempt holding what it needs while it goes: its pool's slots, then a
        slot of `max_parallel`. None (and the tally says why) when the run ends before.

        The pool first: a run waiting for a pool (for as long as other processes' runs
        hold it) holds no slot of this process meanwhile; holding its pool's slots
        while it waits for a `max_parallel` slot lasts only as long as this process's
        own attempts, which hold no slot they wait for."""
        if not self.pools.take(job, run, number, control, partial(self.write, control)):
            self._not_begun(control, tally)
            return None
        try:
            if not self._slot_for(run, control, tally):
                return None
            try:
                if tally.late is None:
                    tally.late = late_timer(job, run, None, self.clock, self._late)
                return self._attempt(job, run, number, trigger, control)
            finally:
                self.slots.put_back()
        finally:
            self.pools.release(run.id)

    def _slot_for(self, run: Run, control: RunControl, tally: _Tally) -> bool:
        """Take a slot for the run's next attempt; False (and the tally says why) when
        the run ends before it: the stop, or a newer run replaced it meanwhile."""
        key = (run.scheduled_for, run.id)
        if not self.slots.take(key, self.stop):
            tally.stopped = True
            return False
        if control.is_cut and not self.stop.is_set():  # replaced before it began
            self.slots.put_back()
            self._not_begun(control, tally)
            return False
        return True

    def _not_begun(self, control: RunControl, tally: _Tally) -> None:
        """The run ends before its next attempt began: the stop, or a newer run."""
        if self.stop.is_set():
            tally.stopped = True
        else:
            tally.status = RunStatus.INTERRUPTED
            tally.reason = control.reason or "interrupted: replaced"

    def _counted(
        self,
        tally: _Tally,
        number: int,
        result: AttemptResult,
        attempt: Attempt,
        begun: datetime,
        *,
        allowed: int,
    ) -> bool:
        """Count an ended attempt; True if the run ends with it."""
        tally.attempts.append(attempt)
        tally.started_at = tally.started_at or begun
        tally.status, tally.reason = result.status, result.reason
        tally.made += 1
        if result.status is RunStatus.INTERRUPTED and self.stop.is_set():
            tally.stopped = True  # cut short by the stop: that attempt does not count
        else:
            tally.spent += 1
        if result.status in (RunStatus.SUCCEEDED, RunStatus.INTERRUPTED) or tally.made == allowed:
            tally.last = (number, result)
            return True
        return False

    def _wait_for_retry(
        self,
        job: Job,
        run: Run,
        number: int,
        result: AttemptResult,
        tally: _Tally,
        control: RunControl,
    ) -> bool:
        """Record the failed attempt and wait the retry delay; False if a stop or a
        newer run cut the wait short (the run is then interrupted)."""
        # Never an OverflowError: RetryPolicy clamps what no timedelta can hold.
        wait_s = job.retry.delay_before_retry(tally.made).total_seconds()
        why = f"attempt {number} {result.reason}; retry in {wait_s:g}s"
        self.write(control, self.store.finish_attempt, run.id, number, result, waiting=why)
        control.stuck = False  # waiting for its retry, as if the state had never failed
        log_event(run, "retry", number, why)
        self.alert(Alerter.retrying, run, why)
        if not control.wait(wait_s, self.clock):  # on the run's clock, like its attempts
            return True
        tally.status = RunStatus.INTERRUPTED
        if self.stop.is_set():
            tally.stopped = True
            tally.reason = "interrupted: cronplus stopped while the run waited for a retry"
        else:
            tally.reason = "interrupted: replaced by a newer run while it waited for a retry"
        return False

    def _attempt(
        self, job: Job, run: Run, number: int, trigger: Trigger, control: RunControl
    ) -> tuple[AttemptResult, Attempt, datetime]:
        """Start one attempt and wait for it; its end is recorded by the caller.
        Returns the result, the attempt as recorded, and when it was begun."""
        log_path = self.paths.attempt_log(job.name, run.id, number)  # its folder: made at start
        started = self.clock.now()
        # Not started unless recorded: a full disk holds the run here until it can be.
        begun = Attempt(number, started, log=str(log_path), trigger=trigger)
        self.write(control, self.store.begin_attempt, run.id, begun, owner=os.getpid())
        control.stuck = False  # running from here on
        handle = self.spawner.spawn(
            self.config.folder, job, run, number, trigger, log_path, started
        )
        result, attempt = self._watch(run, number, handle, log_path, trigger, control)
        return result, attempt, started

    def _watch(
        self,
        run: Run,
        number: int,
        handle: executor.AttemptHandle | AttemptResult,
        log_path: Path,
        trigger: Trigger | None,
        control: RunControl,
    ) -> tuple[AttemptResult, Attempt]:
        """Wait for a started attempt (or take the result of one that could not start
        or already ended); its end is recorded by the caller."""
        pid = None
        if isinstance(handle, AttemptResult):
            result = handle
        else:
            pid = handle.pid
            with control.watching(handle, self.stop):
                # A help, not a need: a later daemon finds the job by its status path.
                # So it is a write only an attempt still going after PID_AFTER_S
                # costs, not each of a backfill's quick runs (issue 12).
                if not handle.ended_within(PID_AFTER_S):
                    with contextlib.suppress(StateError):
                        self.store.set_attempt_pid(run.id, number, handle.pid)
                result = handle.wait()
        ended = "end" if result.status is RunStatus.SUCCEEDED else str(result.status)
        log_event(run, ended, number, result.reason, exit_code=result.exit_code)
        attempt = Attempt(
            number=number,
            started_at=result.started_at,
            finished_at=result.finished_at,
            exit_code=result.exit_code,
            signal=result.signal,
            log=str(log_path),
            pid=pid,
            trigger=trigger,
            host=self.store.host,  # as recorded (issue 17)
        )
        return result, attempt

    # -- the end ---------------------------------------------------------------------------

    def _finish(self, run: Run, tally: _Tally, *, release: bool, control: RunControl) -> Run:
        """The final write: the last attempt's end and the run's end in one transaction
        (a run is a handful of writes, and a backfill of a thousand quick runs feels
        each one), with what a daemon's next start needs: the run to resume, or the
        release still to do."""
        status, reason = tally.status, tally.reason
        if status is not RunStatus.SUCCEEDED and reason and tally.made > 1:
            reason = f"{reason} (after {tally.made} attempts)"
        resume: int | None = None  # attempts spent, when the daemon's stop cut it short
        if tally.stopped and self.resume_after_stop and status is RunStatus.INTERRUPTED:
            resume = tally.spent
        finished = self.clock.now()
        mark_release = (
            release and self.resume_after_stop and resume is None and self.has_dependents(run.job)
        )
        end = RunEnd(status, reason, finished, last_attempt=tally.last, resume_spent=resume)
        self.write(
            control, self.store.finish_run, run.id, end, release=mark_release, owner=os.getpid()
        )
        log_event(run, str(status), None, reason)
        done = replace(
            run,
            status=status,
            reason=None if status is RunStatus.SUCCEEDED else reason,
            started_at=tally.started_at,
            finished_at=finished,
            attempts=tuple(tally.attempts),
        )
        self.keep(done)
        if not (status is RunStatus.INTERRUPTED and self.stop.is_set()):
            self.alert(Alerter.run_ended, done)
        return done

    def _gone(self, run: Run, control: RunControl) -> Run:
        why = f'job "{run.job}" was removed from the jobs file'
        now = self.clock.now()
        self.write(control, self.store.finish_run, run.id, RunEnd(RunStatus.SKIPPED, why, now))
        log_event(run, "skipped", None, why)
        return replace(run, status=RunStatus.SKIPPED, reason=why, finished_at=now)

    def has_dependents(self, job: str) -> bool:
        """Whether jobs run after `job`: only then does its end mark a release to do."""
        config = self.config  # one reading: a reload may swap it meanwhile
        # The config's graph, worked out once: not a look at every job per run (issue 12).
        return job in config.jobs and bool(config_dag(config).dependents(job))

    def _late(self, run: Run, expected: float) -> None:
        """The late timer's end (`late`): the run went on past its expected_duration."""
        log_event(run, "late", None, f"still running after its expected_duration of {expected:g}s")
        self.alert(Alerter.late, run)
