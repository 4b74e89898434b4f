"""What starts a claimed run and what follows it: the per-job lanes (`overlap`, the
queue, a catch-up backlog), the stop, and releasing the jobs after a finished run.

The daemon and `trigger` share this; each run executes in its own thread through
`runner` (which `backfill` uses directly): a run waiting for a retry must not hold
up other jobs.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import datetime
from functools import partial
from typing import Concatenate, ParamSpec

from cronplus import executor, jitter, starts
from cronplus.alerts import Alerter
from cronplus.clock import Clock, system_clock
from cronplus.config import config_dag
from cronplus.errors import StateError
from cronplus.events import log_event
from cronplus.lanes import Lane, overlap_skips, upstream_blocker
from cronplus.model import (
    AttemptResult,
    Claim,
    Config,
    Job,
    Overlap,
    Run,
    RunEnd,
    RunStatus,
    Trigger,
)
from cronplus.paths import StatePaths
from cronplus.run_control import RunControl, SlotPool
from cronplus.run_thread import execute_logged
from cronplus.runner import Runner
from cronplus.state_health import StateHealth
from cronplus.store import Store
from cronplus.workers import Workers

log = logging.getLogger("cronplus")
P = ParamSpec("P")  # an Alerter method's own parameters

_UNRELEASED = "the state could not be written before the stop; the next start releases it"
_QUEUED_AT_STOP = "interrupted: cronplus stopped while the run was queued behind another"
_WAITING_AT_STOP = "interrupted: cronplus stopped while the run waited out its jitter"


class Dispatcher:
    """Starts claimed runs in worker threads, one lane per job, and releases their
    dependents."""

    def __init__(
        self,
        config: Config,
        store: Store,
        paths: StatePaths,
        *,
        max_parallel: int | None = None,
        clock: Clock | None = None,
        keep_finished: bool = False,
        alerter: Alerter | None = None,
        resume_after_stop: bool = False,
    ) -> None:
        # Attempts at once: the argument, else [defaults].max_parallel, else CPUs x 4.
        size = max_parallel or config.max_parallel or default_max_parallel()
        slots = SlotPool(size)
        self.runner = Runner(
            config,
            store,
            paths,
            clock or system_clock(),
            slots=slots,
            alerter=alerter,
            keep_finished=keep_finished,
            resume_after_stop=resume_after_stop,
        )
        self.store = store
        self.clock = self.runner.clock
        self.stop = self.runner.stop
        self.state: StateHealth = self.runner.state
        self.spawner = self.runner.spawner  # the engine has log folders made ahead
        self._lock = threading.Lock()
        self._lanes: dict[str, Lane] = {}
        self._workers = Workers(keep=size)  # each run's thread, parked once it is done
        self.waiting = jitter.Waiting(self.clock)  # runs claimed, waiting out their jitter

    @property
    def config(self) -> Config:
        return self.runner.config

    @config.setter
    def config(self, config: Config) -> None:
        self.runner.config = config  # a reload: runs going on finish as configured

    @property
    def alerter(self) -> Alerter | None:
        return self.runner.alerter

    @property
    def resume_after_stop(self) -> bool:
        return self.runner.resume_after_stop

    @property
    def finished(self) -> list[Run]:
        """Every run recorded, with keep_finished (for `trigger` to print)."""
        return self.runner.finished

    # -- what the engine and trigger call --------------------------------------------------

    def submit(
        self,
        run: Run,
        *,
        spent: int | None = None,
        adopted: executor.AttemptHandle | AttemptResult | None = None,
        release: bool = True,
        holds_slot: bool = False,
        control: RunControl | None = None,
        job: Job | None = None,
    ) -> None:
        """Execute a claimed run in a new thread, then (with `release`) its dependents.
        `spent`, `adopted`, `holds_slot` and `job` are as for `Runner.execute`;
        `control`: the run's, made when it was claimed."""
        control = control or RunControl(run.id)
        with self._lock:
            lane = self._lane(run.job)
            if lane.active is None or lane.active is control:  # never over a newer run
                lane.active = control  # also while it waits out its jitter
        # A scheduled or catch-up run waits out its jitter; so does one resumed that
        # never had an attempt (a mass restart stays spread out).
        fresh = adopted is None and release and not run.attempts
        job_now = job or self.config.jobs.get(run.job)
        if fresh and self.waiting.hold(run, control, job_now, spent):
            return  # started by start_waited once its delay is over
        kw = {"spent": spent, "adopted": adopted, "holds_slot": holds_slot, "job": job}
        self._thread(run, control, release=release, **kw)

    def _thread(self, run: Run, control: RunControl, *, release: bool = True, **kw: object) -> None:
        execute = partial(self.runner.execute, run, release=release, control=control, **kw)
        # Counted from here on: wait_all() never finds it not yet started.
        task = partial(self._run_thread, run, control, execute, release)
        self._workers.submit(f"run-{run.id}", task)

    def start_waited(self, now: datetime) -> None:
        """Start the runs whose jitter is over (the engine asks at each step); one whose
        delayed start passed over start_grace ago is recorded skipped, and missed."""
        for run, control, spent, late_s in self.waiting.due():
            if control.is_cut:
                continue  # replaced: its end is recorded; it never starts
            why = jitter.too_late(self.config.jobs.get(run.job), late_s)
            if why is None:
                self._thread(run, control, spent=spent)  # no second delay
                continue
            with contextlib.suppress(StateError):  # else the next start settles it
                self.store.finish_run(run.id, RunEnd(RunStatus.SKIPPED, why, now))
                self.alert(Alerter.missed, run.job, [run.scheduled_for], why)
            self._next_in_lane(run.job, control)

    def resume(self, runs: list[tuple[Run, int]]) -> None:
        """Runs of one job a stop or crash cut short, reopened, with the attempts each
        has spent: they run one after another, like a catch-up."""
        self._queue_behind(list(runs))

    def catch_up(self, runs: list[Run]) -> None:
        """Claimed catch-up runs of one job, oldest first: they run one after another,
        whatever `overlap` says, and fire times due meanwhile queue behind them."""
        self._queue_behind([(run, None) for run in runs])

    def _queue_behind(self, runs: list[tuple[Run, int | None]]) -> None:
        if not runs:
            return
        with self._lock:
            lane = self._lane(runs[0][0].job)
            lane.catching_up = True
            lane.queue.extend(runs)
            first = lane.queue.popleft() if lane.active is None else None
        if first is not None:
            self.submit(first[0], spent=first[1])

    def replace_with(self, run: Run) -> None:
        """A claimed file run of an overlap = "replace" job: it starts in place of the
        job's run going (`_replace`), or, while runs wait behind that one (a catch-up
        backlog, resumed runs), last behind them, as a fire time due then would."""
        with self._lock:
            lane = self._lane(run.job)
            active = lane.active if not lane.queue else None
        if active is None:
            self.catch_up([run])  # idle, or behind the backlog
        else:
            self._replace(active, run)

    def queued(self, job: str) -> int:
        """How many runs of `job` wait in its lane (the one going not counted)."""
        with self._lock:
            return len(self._lanes[job].queue) if job in self._lanes else 0

    def going(self) -> list[RunControl]:
        """The controls of the runs going in this process, one per job."""
        with self._lock:
            return [lane.active for lane in self._lanes.values() if lane.active is not None]

    def idle(self, job: str) -> bool:
        """No run of `job` goes or waits in this process: `overlap` has nothing to say."""
        with self._lock:
            lane = self._lanes.get(job)
            return lane is None or not (lane.active or lane.queue or lane.catching_up)

    def start_together(
        self, fires: Sequence[tuple[Job, datetime]], trigger: Trigger, now: datetime
    ) -> None:
        """`start` for fire times of `idle` jobs, one each, due at `now`: claimed in one
        transaction, their first attempts started together (`starts`) before any of
        their threads exists. A fire time with a run already goes through `start`."""
        runs = self.store.claim_many(
            [(job.name, t, trigger) for job, t in fires], Claim(owner=os.getpid(), now=now)
        )
        claimed = [run for run in runs if run is not None]
        with self._lock:  # each lane busy from its claim on, as with `start`
            controls = [RunControl(run.id) for run in claimed]
            for run, control in zip(claimed, controls, strict=True):
                self._lane(run.job).active = control
        firsts = starts.start_first_attempts(self.runner, claimed)
        for (run, first, job), control in zip(firsts, controls, strict=True):
            kw = {"adopted": first, "holds_slot": first is not None, "job": job}
            self.submit(run, control=control, **kw)
        for (job, t), run in zip(fires, runs, strict=True):
            if run is None:
                self.start(job, t, trigger, now)

    def start(self, job: Job, t: datetime, trigger: Trigger, now: datetime) -> None:
        """Claim and start `job`'s run for logical time `t`, applying the job's `overlap`
        rule when a run of it is still going in this process."""
        with self._lock:
            lane = self._lane(job.name)
            catching_up, active = lane.catching_up, lane.active
            waiting = lane.queue[0][0] if lane.queue else None
        if catching_up:
            run = self.store.claim_run(job.name, t, trigger, Claim(owner=os.getpid(), now=now))
            if run is not None:
                with self._lock:
                    lane.queue.append((run, None))
                log_event(run, "queued", None, "behind the catch-up runs")
            return
        why = overlap_skips(job, active, waiting, now)
        if why is not None:
            self._skip(job.name, t, trigger, why)
            return
        run = self._claim(job, t, trigger, now)
        if run is None:
            return
        if active is not None and job.overlap is Overlap.QUEUE:
            with self._lock:
                if lane.active is active:
                    lane.queue.append((run, None))
                    log_event(run, "queued", None, f"behind run {active.run_id}")
                    return
        if active is not None and job.overlap is Overlap.REPLACE:
            self._replace(active, run)
            return
        self.submit(run)

    def _replace(self, active: RunControl, run: Run) -> None:
        """overlap = replace: `run` starts in place of the run `active`, which is cut
        short; one still waiting out its jitter never starts and ends here and now."""
        why = f"interrupted: replaced by run {run.id} (overlap = replace)"
        active.cut_short(why)
        control = RunControl(run.id)
        with self._lock:
            lane = self._lane(run.job)
            if lane.active is active:
                lane.active = control  # the job's run from now on, not the one cut short
        waited = self.waiting.remove(active.run_id)
        if waited is not None:
            now = self.clock.now()
            with contextlib.suppress(StateError):  # else the next start settles it
                self.store.finish_run(waited.id, RunEnd(RunStatus.INTERRUPTED, why, now))
                log_event(waited, str(RunStatus.INTERRUPTED), None, why)
                done = replace(waited, status=RunStatus.INTERRUPTED, reason=why, finished_at=now)
                self.runner.keep(done)
                self.alert(Alerter.run_ended, done)
                self.release(done, active)  # as a replaced run's: its dependents blocked
        self.submit(run, control=control)

    def _claim(self, job: Job, t: datetime, trigger: Trigger, now: datetime) -> Run | None:
        run = self.store.claim_run(job.name, t, trigger, Claim(owner=os.getpid(), now=now))
        if run is None:
            # Blocked earlier by an upstream that has succeeded since (marked by hand, or
            # run again): it runs now, as the same run.
            existing = self.store.find_run(job.name, t)
            if existing is not None and existing.status is RunStatus.UPSTREAM_FAILED:
                run = self.store.reopen_run(
                    existing.id, [RunStatus.UPSTREAM_FAILED], Claim(owner=os.getpid(), now=now)
                )
        if run is None:
            log.info("job=%s event=exists detail='a run for %s exists'", job.name, t.isoformat())
        return run

    def record(
        self,
        name: str,
        t: datetime,
        trigger: Trigger,
        status: RunStatus,
        reason: str,
        *,
        missed: bool = False,
    ) -> Run | None:
        """Record a run for (name, t) that will not execute (skipped, upstream_failed);
        with `missed`, a fire time that passed without a run, which alerts. None if
        (name, t) had a run already."""
        claim = Claim(owner=None, now=self.clock.now(), status=status, reason=reason)
        run = self.store.claim_run(name, t, trigger, claim)
        if run is None:
            return None
        log_event(run, str(status), None, reason)
        self.runner.keep(run)
        if missed:
            self.alert(Alerter.missed, name, [t], reason)
        return run

    def _skip(self, name: str, t: datetime, trigger: Trigger, why: str) -> None:
        self.record(name, t, trigger, RunStatus.SKIPPED, why, missed=True)

    def alert(
        self, event: Callable[Concatenate[Alerter, P], None], *args: P.args, **kw: P.kwargs
    ) -> None:
        """Tell the alerter (see `Runner.alert`)."""
        self.runner.alert(event, *args, **kw)

    def shutdown(self) -> None:
        """Start nothing more, interrupt running attempts (TERM, KILL after kill_grace)."""
        self.runner.stop_all()
        with self._lock:
            queued = [(run, _QUEUED_AT_STOP) for ln in self._lanes.values() for run, _ in ln.queue]
            queued += [(run, _WAITING_AT_STOP) for run in self.waiting.take_all()]
            for lane in self._lanes.values():
                lane.queue.clear()
        for run, why in queued:
            # While the state cannot be written, the next start finds the run queued and
            # does the same.
            with contextlib.suppress(StateError):
                resume = 0 if self.resume_after_stop else None
                end = RunEnd(RunStatus.INTERRUPTED, why, self.clock.now(), resume_spent=resume)
                self.store.finish_run(run.id, end)

    def wait_all(self, timeout: float | None = None) -> None:
        """Wait for every run's thread, and the runs they start, to end."""
        self._workers.wait_idle(timeout)

    # -- one run's thread ------------------------------------------------------------------

    def _lane(self, job: str) -> Lane:
        """`job`'s lane (with the lock held)."""
        lane = self._lanes.get(job)
        if lane is None:
            lane = self._lanes[job] = Lane()
        return lane

    def _run_thread(
        self, run: Run, control: RunControl, execute: Callable[[], Run], release: bool
    ) -> None:
        try:
            final = execute_logged(run, execute, self.store, self.clock, self.stop)
            if final is not None and release:
                try:
                    self.release(final, control)
                except StateError:  # only on a stop; the run's end is recorded, with its
                    log_event(run, "unreleased", None, _UNRELEASED)  # release still to do
                except Exception:  # the run's end is recorded; a restart releases it
                    log.exception("job=%s run=%s event=error-releasing", run.job, run.id)
        finally:
            self._next_in_lane(run.job, control)

    def _next_in_lane(self, job: str, control: RunControl) -> None:
        """A run's thread ends: free its lane, and start the run waiting behind it."""
        with self._lock:
            lane = self._lane(job)
            if lane.active is control:
                lane.active = None
            waiting = lane.queue.popleft() if lane.queue and not self.stop.is_set() else None
            if not lane.queue and waiting is None:
                lane.catching_up = False  # drained: overlap applies again
        if waiting is not None:
            self.submit(waiting[0], spent=waiting[1])  # its turn now

    # -- dependents -----------------------------------------------------------------------

    def release(self, run: Run, control: RunControl | None = None) -> None:
        """Start the dependents of a finished run that are now ready, or block everything
        downstream of a failed one. The daemon's start also does this for the runs
        whose release its previous life did not finish (the `release` table)."""
        # Claims are idempotent, so a release the state refused is simply done again.
        self.runner.write(control, self._start_or_block_dependents, run)
        # A run's own thread: its end marked a release only if the job has dependents,
        # and a mark to drop is a commit per run (issue 12); at a start, always.
        marked = control is None or self.runner.has_dependents(run.job)
        if self.resume_after_stop and not self.stop.is_set() and marked:
            # A stop may have cut the release short: then the row stays for the next start.
            with contextlib.suppress(StateError):
                self.store.mark_released(run.id)

    def _start_or_block_dependents(self, run: Run) -> None:
        config = self.config  # one reading: a reload may swap it meanwhile
        jobs = config.jobs
        if run.job not in jobs:
            return  # removed by a reload: nothing runs after it any more
        if run.status is RunStatus.INTERRUPTED and self.stop.is_set():
            # Cut short by a stop, not failed: its dependents get their runs once it is
            # run again, instead of being blocked for good.
            return
        if run.status is not RunStatus.SUCCEEDED:
            why = f'upstream job "{run.job}" run {run.id} ended {run.status}'
            for name in config_dag(config).downstream(run.job):
                self._record(name, run, RunStatus.UPSTREAM_FAILED, why)
            return
        for j in map(jobs.__getitem__, config_dag(config).dependents(run.job)):
            if self.stop.is_set():
                return
            if upstream_blocker(self.store, j.after, run.scheduled_for, j.timezone):
                continue  # fan-in: the last upstream to succeed releases it
            if not j.enabled:
                self._record(j.name, run, RunStatus.SKIPPED, f'job "{j.name}" is disabled')
                continue
            if j.name in self.store.paused_jobs():
                self._record(j.name, run, RunStatus.SKIPPED, "paused")
                continue
            self.start(j, run.scheduled_for, run.trigger, self.clock.now())

    def _record(self, job: str, upstream: Run, status: RunStatus, reason: str) -> None:
        """Record a run for upstream's logical time that will not execute."""
        self.record(job, upstream.scheduled_for, upstream.trigger, status, reason)


def default_max_parallel() -> int:
    return (os.cpu_count() or 1) * 4
