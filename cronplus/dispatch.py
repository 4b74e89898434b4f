"""One logical run: attempts through the executor, retry delays, and what it releases.

The daemon, `trigger` and `backfill` share this, so retries behave the same
whoever executes the run; the daemon and `trigger` also release dependents and
apply `overlap` here (`start`). Each run executes in its own thread: a run
waiting for a retry must not hold up other jobs.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from cronplus import executor
from cronplus.alerts import Alerter
from cronplus.clock import Clock, system_clock
from cronplus.errors import CronplusError, StateError
from cronplus.events import log_event
from cronplus.graph import downstream
from cronplus.model import Attempt, AttemptResult, Config, Job, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.store import Store

log = logging.getLogger("cronplus")

STOPPED_REASON = "interrupted: cronplus stopped while the run was going"
STATE_RETRY_S = 5.0  # how often a state write refused (disk full, read-only) is tried again
T = TypeVar("T")


def state_down(now: datetime, timezone: str) -> str:
    """The reason of a fire time that could not start because the state could not be
    written until `now` (shown in the job's zone)."""
    until = now.astimezone(ZoneInfo(timezone)).strftime("%H:%M:%S")
    return f"the state could not be written (disk full?) until {until}"


class StateHealth:
    """Whether the state can be written, as the engine and the run threads find it: an
    outage is logged once (event=state-error) and its end once (event=state-ok),
    whoever meets them, and its end wakes the writers waiting to try again."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._failing = False
        self.on_ok: Callable[[], None] | None = None  # the engine: its fire times wait too

    def failed(self, error: StateError) -> None:
        with self._cond:
            first, self._failing = not self._failing, True
        if first:
            log.error(
                "event=state-error detail=%r; nothing starts until it can be written,"
                " retrying every %gs",
                str(error),
                STATE_RETRY_S,
            )

    def ok(self) -> None:
        """A write refused before went through."""
        with self._cond:
            was, self._failing = self._failing, False
            self._cond.notify_all()
        if was:
            log.info("event=state-ok detail='the state can be written again'")
            if self.on_ok is not None:
                self.on_ok()

    def pause(self) -> None:
        """Before trying a refused write again: STATE_RETRY_S, or less if another write
        went through meanwhile, or wake() was called."""
        with self._cond:
            if self._failing:
                self._cond.wait(STATE_RETRY_S)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class SlotPool:
    """At most `size` attempts at once; waiting runs get a slot oldest logical time first."""

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiting: list[tuple[datetime, int]] = []
        self._cond = threading.Condition()

    def acquire(self, key: tuple[datetime, int], stop: threading.Event) -> bool:
        with self._cond:
            heapq.heappush(self._waiting, key)
            while not (self._free > 0 and self._waiting[0] == key):
                if stop.is_set():
                    self._waiting.remove(key)
                    heapq.heapify(self._waiting)
                    self._cond.notify_all()
                    return False
                self._cond.wait()
            heapq.heappop(self._waiting)
            self._free -= 1
            self._cond.notify_all()
            return True

    @property
    def waiting(self) -> int:
        with self._cond:
            return len(self._waiting)

    def release(self) -> None:
        with self._cond:
            self._free += 1
            self._cond.notify_all()

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()


class Dispatcher:
    """Executes claimed runs in worker threads and releases their dependents."""

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
    ) -> None:
        self.config = config
        self.alerter = alerter
        self.store = store
        self.paths = paths
        self.clock = clock or system_clock()
        self.stop = threading.Event()
        self.state = StateHealth()
        # Attempts at once: the argument, else [defaults].max_parallel, else CPUs x 4.
        self._slots = SlotPool(max_parallel or config.max_parallel or default_max_parallel())
        self._lock = threading.Lock()
        self._active: dict[str, int] = {}  # job -> id of its run in this process
        # job -> runs waiting for its active run, in order: one for overlap = "queue", or
        # a catch-up backlog (and the fire times that come due behind it).
        self._queued: dict[str, deque[Run]] = {}
        self._catching_up: set[str] = set()  # jobs whose catch-up queue has not drained
        self._cancel: dict[int, threading.Event] = {}  # run id -> set to cut it short
        self._cancel_reason: dict[int, str] = {}  # ... and why, for an attempt not yet begun
        self._spent: dict[int, int] = {}  # resumed runs waiting in _queued -> attempts spent
        self._handles: dict[int, executor.AttemptHandle] = {}
        self._stuck: set[int] = set()  # runs waiting for a state write to go through
        self._threads: set[threading.Thread] = set()
        # Every run recorded, for `trigger` to print; a daemon or a backfill would grow
        # it without bound, so only who asks keeps it.
        self.keep_finished = keep_finished
        self.finished: list[Run] = []
        # The daemon sets it: runs its stop cuts short are run again at its next start.
        self.resume_after_stop = False

    # -- what the engine and trigger call --------------------------------------------------

    def active_run(self, job: str) -> int | None:
        with self._lock:
            return self._active.get(job)

    def submit(
        self,
        run: Run,
        *,
        spent: int | None = None,
        adopted: executor.AttemptHandle | AttemptResult | None = None,
        release: bool = True,
    ) -> None:
        """Execute a claimed run in a new thread, then (with `release`) its dependents.
        `spent` and `adopted` are as for `execute`."""
        with self._lock:
            self._active[run.job] = run.id
            if spent is None:
                spent = self._spent.pop(run.id, None)
            t = threading.Thread(
                target=self._run_thread,
                args=(run, spent, adopted, release),
                name=f"run-{run.id}",
            )
            self._threads.add(t)
            t.start()  # under the lock: wait_all() must never find it not yet started

    def resume(self, runs: list[tuple[Run, int]]) -> None:
        """Runs of one job a stop or crash cut short, reopened, with the attempts each
        has spent: they run one after another, like a catch-up."""
        with self._lock:
            self._spent.update((run.id, spent) for run, spent in runs)
        self.catch_up([run for run, _ in runs])

    def catch_up(self, runs: list[Run]) -> None:
        """Claimed catch-up runs of one job, oldest first: they run one after another,
        whatever `overlap` says, and fire times due meanwhile queue behind them."""
        if not runs:
            return
        name = runs[0].job
        with self._lock:
            self._catching_up.add(name)
            self._queued.setdefault(name, deque()).extend(runs)
            idle = name not in self._active
            first = self._queued[name].popleft() if idle else None
        if first is not None:
            self.submit(first)

    def start(self, job: Job, t: datetime, trigger: Trigger, now: datetime) -> None:
        """Claim and start `job`'s run for logical time `t`, applying the job's `overlap`
        rule when a run of it is still going in this process."""
        with self._lock:
            catching_up = job.name in self._catching_up
        if catching_up:
            run = self.store.claim_run(job.name, t, trigger, now=now)
            if run is not None:
                with self._lock:
                    self._queued.setdefault(job.name, deque()).append(run)
                log_event(run, "queued", None, "behind the catch-up runs")
            return
        active = self.active_run(job.name)
        if active is not None and job.overlap == "skip":
            with self._lock:
                stuck = active in self._stuck
            if stuck:  # it is not running: its state write waits for the state
                why = state_down(now, job.timezone)
            else:
                why = f"previous run {active} of the job was still running"
            self._skip(job.name, t, trigger, why)
            return
        if active is not None and job.overlap == "queue":
            with self._lock:
                waiting = self._queued.get(job.name)
            if waiting:
                why = f"run {waiting[0].id} of the job was already queued behind run {active}"
                self._skip(job.name, t, trigger, why)
                return
        run = self.store.claim_run(job.name, t, trigger, now=now)
        if run is None:
            # Blocked earlier by an upstream that has succeeded since (marked by hand, or
            # run again): it runs now, as the same run.
            existing = self.store.find_run(job.name, t)
            if existing is not None and existing.status is RunStatus.UPSTREAM_FAILED:
                run = self.store.reopen_run(existing.id, [RunStatus.UPSTREAM_FAILED], now=now)
        if run is None:
            log.info("job=%s event=exists detail='a run for %s exists'", job.name, t.isoformat())
            return
        if active is not None and job.overlap == "queue":
            with self._lock:
                if self._active.get(job.name) == active:
                    self._queued.setdefault(job.name, deque()).append(run)
                    log_event(run, "queued", None, f"behind run {active}")
                    return
        if active is not None and job.overlap == "replace":
            self._cut_short(active, f"interrupted: replaced by run {run.id} (overlap = replace)")
        self.submit(run)

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
        run = self.store.claim_run(
            name, t, trigger, status=status, reason=reason, now=self.clock.now()
        )
        if run is None:
            return None
        log_event(run, str(status), None, reason)
        self._keep(run)
        if missed:
            self.alert("missed", name, [t], reason)
        return run

    def _skip(self, name: str, t: datetime, trigger: Trigger, why: str) -> None:
        self.record(name, t, trigger, RunStatus.SKIPPED, why, missed=True)

    def _cut_short(self, run_id: int, reason: str) -> None:
        with self._lock:
            handle = self._handles.get(run_id)
            cancel = self._cancel.get(run_id)
            self._cancel_reason[run_id] = reason
        if cancel is not None:
            cancel.set()  # a run waiting for its next retry
        if handle is not None:
            handle.interrupt(reason)

    def shutdown(self) -> None:
        """Start nothing more, interrupt running attempts (TERM, KILL after kill_grace)."""
        self.stop.set()
        self.state.wake()  # a write waiting for the state gives up
        self._slots.wake()
        with self._lock:
            handles = list(self._handles.values())
            cancels = list(self._cancel.values())
            queued = [run for runs in self._queued.values() for run in runs]
            self._queued.clear()
        for c in cancels:
            c.set()
        for h in handles:
            h.interrupt(STOPPED_REASON)
        for run in queued:
            # While the state cannot be written, the next start finds the run queued and
            # does the same.
            with contextlib.suppress(StateError):
                self.store.finish_run(
                    run.id,
                    RunStatus.INTERRUPTED,
                    "interrupted: cronplus stopped while the run was queued behind another",
                    self.clock.now(),
                    resume_spent=0 if self.resume_after_stop else None,
                )

    def wait_all(self, timeout: float | None = None) -> None:
        while True:
            with self._lock:
                threads = list(self._threads)
            if not threads:
                return
            for t in threads:
                t.join(timeout)

    # -- one run ---------------------------------------------------------------------------

    def _run_thread(
        self,
        run: Run,
        spent: int | None,
        adopted: executor.AttemptHandle | AttemptResult | None,
        release: bool,
    ) -> None:
        try:
            try:
                final = self.execute(run, spent=spent, adopted=adopted, release=release)
            except Exception as e:
                if isinstance(e, StateError) and self.stop.is_set():
                    # A state write gave up at the stop: the outage is logged already.
                    log_event(run, "unrecorded", None, _UNRECORDED)
                    return
                # A bug, or the state vanished: record it on the run (if its end is not
                # recorded already) and keep the daemon alive.
                log.exception("job=%s run=%s event=error", run.job, run.id)
                try:
                    now = self.store.get_run(run.id)
                    if now is not None and not now.status.is_final:
                        self.store.finish_run(
                            run.id,
                            RunStatus.INTERRUPTED,
                            "cronplus failed while running it",
                            self.clock.now(),
                        )
                except Exception:
                    log.exception("job=%s run=%s event=error-recording", run.job, run.id)
                return
            if release:
                try:
                    self._release(run, final.status)
                except StateError:  # only on a stop; the run's end is recorded, with its
                    log_event(run, "unreleased", None, _UNRELEASED)  # release still to do
                except Exception:  # the run's end is recorded; a restart releases it
                    log.exception("job=%s run=%s event=error-releasing", run.job, run.id)
        finally:
            with self._lock:
                if self._active.get(run.job) == run.id:
                    del self._active[run.job]
                self._threads.discard(threading.current_thread())
                self._cancel.pop(run.id, None)
                self._cancel_reason.pop(run.id, None)
                self._stuck.discard(run.id)
                backlog = self._queued.get(run.job)
                waiting = backlog.popleft() if backlog and not self.stop.is_set() else None
                if not backlog:
                    self._queued.pop(run.job, None)
                    if waiting is None:
                        self._catching_up.discard(run.job)  # drained: overlap applies again
            if waiting is not None:
                self.submit(waiting)  # its turn now

    def execute(
        self,
        run: Run,
        trigger: Trigger | None = None,
        *,
        spent: int | None = None,
        adopted: executor.AttemptHandle | AttemptResult | None = None,
        release: bool = True,
    ) -> Run:
        """Attempts with retries; returns the run as recorded at its end.

        A run that has attempts already (a backfill running it again) numbers on from
        them with a fresh retry budget, unless `spent` says how many of them count
        against it (a run resumed after a daemon's stop). `trigger` names who executes
        these attempts when that is not the run's own trigger. `adopted`: the run's
        last attempt, started by a cronplus process that died, is still going (a
        handle) or ended unrecorded (its result); it is this call's first attempt.
        """
        job = self.config.jobs.get(run.job)
        if job is None:  # removed by a reload while the run waited
            return self._gone(run)
        trigger = trigger or run.trigger
        attempts = list(run.attempts)
        if adopted is not None:
            attempts.pop()  # re-added with its end
        first = len(attempts) + 1
        used = spent or 0  # attempts counted against the retries so far
        allowed = max(job.retry.retries + 1 - used, 1)  # attempts this call may make
        budget = allowed - 1
        status, reason = RunStatus.INTERRUPTED, "cronplus stopped before the run started"
        resume: int | None = None  # attempts spent, when the daemon's stop cut it short
        pending: tuple[int, AttemptResult] | None = None  # recorded with the run's end
        late: threading.Timer | None = None
        cancel = threading.Event()  # set by shutdown, or by overlap = replace
        with self._lock:
            self._cancel[run.id] = cancel
            if run.id in self._cancel_reason:  # replaced before it got this far
                cancel.set()
        if self.stop.is_set():
            cancel.set()
        started_at = run.started_at  # as the store keeps it: when the first attempt began
        for n in range(budget + 1):
            number = first + n
            if n == 0 and adopted is not None:
                # Already going: it needs no slot, and waiting for one could not stop it.
                previous = run.attempts[-1]
                late = self._late_timer(job, run, previous.started_at)
                result, attempt = self._watch(
                    job, run, number, adopted, Path(previous.log or ""), previous.trigger
                )
                begun = previous.started_at
            else:
                if not self._slots.acquire((run.scheduled_for, run.id), self.stop):
                    resume = used
                    break
                if cancel.is_set() and not self.stop.is_set():  # replaced before it began
                    self._slots.release()
                    with self._lock:
                        reason = self._cancel_reason.get(run.id, "interrupted: replaced")
                    status = RunStatus.INTERRUPTED
                    break
                if late is None:
                    late = self._late_timer(job, run, None)
                try:
                    result, attempt, begun = self._attempt(job, run, number, trigger)
                finally:
                    self._slots.release()
            attempts.append(attempt)
            started_at = started_at or begun
            status, reason = result.status, result.reason
            if status is RunStatus.INTERRUPTED and self.stop.is_set():
                resume = used  # cut short by the stop: that attempt does not count
            used += 1
            if status in (RunStatus.SUCCEEDED, RunStatus.INTERRUPTED) or n == budget:
                pending = (number, result)
                break
            # Never an OverflowError: RetryPolicy clamps what no timedelta can hold.
            wait_s = job.retry.delay_before_retry(n + 1).total_seconds()
            why = f"attempt {number} {reason}; retry in {wait_s:g}s"
            self._write(run.id, self.store.finish_attempt, run.id, number, result, waiting=why)
            self._unstuck(run.id)  # waiting for its retry, as if the state had never failed
            log_event(run, "retry", number, why)
            self.alert("retrying", run, why)
            # A wait past what threading can take (some 292 years) waits that long:
            # until the stop.
            if cancel.wait(min(wait_s, threading.TIMEOUT_MAX)):
                if self.stop.is_set():
                    resume = used
                status = RunStatus.INTERRUPTED
                reason = (
                    "interrupted: cronplus stopped while the run waited for a retry"
                    if self.stop.is_set()
                    else "interrupted: replaced by a newer run while it waited for a retry"
                )
                break
        if late is not None:
            late.cancel()  # its outcome is known: it can no longer be late
        made = len(attempts) - first + 1  # attempts this call made
        if status is not RunStatus.SUCCEEDED and reason and made > 1:
            reason = f"{reason} (after {made} attempts)"
        finished = self.clock.now()
        # One transaction for the last attempt and the run's end: a run is a handful of
        # writes, and a backfill of a thousand quick runs feels each one.
        if not self.resume_after_stop or status is not RunStatus.INTERRUPTED:
            resume = None
        self._write(
            run.id,
            self.store.finish_run,
            run.id,
            status,
            reason,
            finished,
            last_attempt=pending,
            resume_spent=resume,
            release=release
            and self.resume_after_stop
            and resume is None
            and self._has_dependents(run.job),
        )
        log_event(run, str(status), None, reason)
        done = replace(
            run,
            status=status,
            reason=None if status is RunStatus.SUCCEEDED else reason,
            started_at=started_at,
            finished_at=finished,
            attempts=tuple(attempts),
        )
        self._keep(done)
        if not (status is RunStatus.INTERRUPTED and self.stop.is_set()):
            self.alert("run_ended", done)
        return done

    def _write(self, run_id: int, write: Callable[..., T], *args: object, **kwargs: object) -> T:
        """A state write run `run_id` cannot go on without. While the state cannot be
        written (a full disk, a read-only file system) it is tried again every
        STATE_RETRY_S, and the run waits; on a stop it gives up (StateError), and the
        next start settles the run from what its attempt left beside its log.

        A run held up so is marked stuck until it runs again (`_unstuck`) or ends:
        a fire time its job's overlap skips meanwhile is skipped for the state."""
        failing = False
        while True:
            try:
                result = write(*args, **kwargs)
            except StateError as e:
                self.state.failed(e)
                if not failing:
                    failing = True
                    with self._lock:
                        self._stuck.add(run_id)
                if not self.stop.is_set():
                    self.state.pause()
                if self.stop.is_set():
                    raise
                continue
            if failing:
                self.state.ok()
            return result

    def _unstuck(self, run_id: int) -> None:
        with self._lock:
            self._stuck.discard(run_id)

    def _gone(self, run: Run) -> Run:
        why = f'job "{run.job}" was removed from the jobs file'
        now = self.clock.now()
        self._write(run.id, self.store.finish_run, run.id, RunStatus.SKIPPED, why, now)
        log_event(run, "skipped", None, why)
        return replace(run, status=RunStatus.SKIPPED, reason=why, finished_at=now)

    def _late_timer(self, job: Job, run: Run, since: datetime | None) -> threading.Timer | None:
        """Log `late` (and alert it, if an alert wants it) once the run has gone on past
        expected_duration, counted from its first attempt's start (`since`, else now):
        time queued for a slot is not late."""
        if job.expected_duration is None:
            return None
        expected = job.expected_duration.total_seconds()
        left = expected
        if since is not None:
            left -= (self.clock.now() - since).total_seconds()
        late = threading.Timer(max(left, 0.0), self._late, (run, expected))
        late.daemon = True
        late.start()
        return late

    def _late(self, run: Run, expected: float) -> None:
        log_event(run, "late", None, f"still running after its expected_duration of {expected:g}s")
        self.alert("late", run)

    def _attempt(
        self, job: Job, run: Run, number: int, trigger: Trigger
    ) -> tuple[AttemptResult, Attempt, datetime]:
        """Start one attempt and wait for it; its end is recorded by the caller.
        Returns the result, the attempt as recorded, and when it was begun."""
        log_path = self.paths.attempt_log(job.name, run.id, number)  # its folder: made at start
        started = self.clock.now()
        # Not started unless recorded: a full disk holds the run here until it can be.
        self._write(
            run.id, self.store.begin_attempt, run.id, number, started, str(log_path), trigger
        )
        self._unstuck(run.id)  # running from here on
        handle: executor.AttemptHandle | AttemptResult
        try:
            env = executor.build_env(
                job,
                run_id=run.id,
                attempt=number,
                trigger=str(trigger),
                scheduled_for=run.scheduled_for,
            )
            handle = executor.start_attempt(job, env, log_path, jobs_folder=self.config.folder)
        except Exception as e:
            # It did not start: a failed attempt with the cause, retried and alerted as
            # any failure. What the environment or the job's values cause needs no
            # traceback; anything else is a bug, and the log shows where.
            if not isinstance(e, OSError | ValueError | OverflowError):
                log.exception("job=%s run=%s attempt=%s event=error", run.job, run.id, number)
            cause = e.strerror if isinstance(e, OSError) and e.strerror else e
            why = f"cannot start: {cause}"
            handle = AttemptResult(RunStatus.FAILED, started, self.clock.now(), reason=why)
        if not isinstance(handle, AttemptResult):
            log_event(run, "start", number)
        result, attempt = self._watch(job, run, number, handle, log_path, trigger)
        return result, attempt, started

    def _watch(
        self,
        job: Job,
        run: Run,
        number: int,
        handle: executor.AttemptHandle | AttemptResult,
        log_path: Path,
        trigger: Trigger,
    ) -> tuple[AttemptResult, Attempt]:
        """Wait for a started attempt (or take the result of one that could not start
        or already ended); its end is recorded by the caller."""
        pid = None
        if isinstance(handle, AttemptResult):
            result = handle
        else:
            pid = handle.pid
            with self._lock:
                self._handles[run.id] = handle
                cancel = self._cancel.get(run.id)
                cut = self._cancel_reason.get(run.id)
            # Cut short while it was being started, before there was a handle to stop.
            if self.stop.is_set():
                handle.interrupt(STOPPED_REASON)
            elif cancel is not None and cancel.is_set() and cut is not None:
                handle.interrupt(cut)
            try:
                # A help, not a need: a later daemon finds the job by its status path.
                with contextlib.suppress(StateError):
                    self.store.set_attempt_pid(run.id, number, handle.pid)
                result = handle.wait()
            finally:
                with self._lock:
                    self._handles.pop(run.id, None)
        log_event(
            run,
            "end" if result.status is RunStatus.SUCCEEDED else str(result.status),
            number,
            result.reason,
        )
        attempt = Attempt(
            number=number,
            started_at=result.started_at,
            finished_at=result.finished_at,
            exit_code=result.exit_code,
            signal=result.signal,
            log=str(log_path),
            pid=pid,
            trigger=trigger,
        )
        return result, attempt

    def _keep(self, run: Run) -> None:
        if self.keep_finished:
            with self._lock:
                self.finished.append(run)

    def alert(self, event: str, *args: object) -> None:
        """Tell the alerter; its failure (a locked state, no thread to spare) is logged,
        never allowed to change a run's outcome, stop its dependents or the engine."""
        if self.alerter is None:
            return
        try:
            getattr(self.alerter, event)(*args)
        except Exception:
            log.exception("event=alert-error detail='%s'", event)

    # -- dependents -----------------------------------------------------------------------

    def _has_dependents(self, job: str) -> bool:
        return any(job in j.after for j in self.config.jobs.values())

    def release(self, run: Run) -> None:
        """Start `run`'s dependents (or block them) if its process could not: the
        daemon's start does this for the runs its previous life had not released."""
        self._release(run, run.status)

    def _release(self, run: Run, status: RunStatus) -> None:
        """Start the dependents that are now ready, or block everything downstream."""
        # Claims are idempotent, so a release the state refused is simply done again.
        self._write(run.id, self.__release, run, status)
        if self.resume_after_stop and not self.stop.is_set():
            # A stop may have cut the release short: then the row stays for the next start.
            with contextlib.suppress(StateError):
                self.store.released(run.id)

    def __release(self, run: Run, status: RunStatus) -> None:
        jobs = self.config.jobs
        deps = {name: j.after for name, j in jobs.items()}
        if run.job not in deps:
            return  # removed by a reload: nothing runs after it any more
        if status is RunStatus.INTERRUPTED and self.stop.is_set():
            # Cut short by a stop, not failed: its dependents get their runs once it is
            # run again, instead of being blocked for good.
            return
        if status is not RunStatus.SUCCEEDED:
            why = f'upstream job "{run.job}" run {run.id} ended {status}'
            for name in downstream(deps, run.job):
                self._record(name, run, RunStatus.UPSTREAM_FAILED, why)
            return
        for j in jobs.values():
            if run.job not in j.after:
                continue
            if self.stop.is_set():
                return
            if self.store.succeeded_jobs(j.after, run.scheduled_for) != set(j.after):
                continue  # fan-in: the last upstream to succeed releases it
            if not j.enabled:
                self._record(j.name, run, RunStatus.SKIPPED, f'job "{j.name}" is disabled')
                continue
            if j.name in self.store.paused_jobs():
                self._record(j.name, run, RunStatus.SKIPPED, "paused")
                continue
            self._start_dependent(j, run)

    def _record(self, job: str, upstream: Run, status: RunStatus, reason: str) -> None:
        """Record a run for upstream's logical time that will not execute."""
        self.record(job, upstream.scheduled_for, upstream.trigger, status, reason)

    def _start_dependent(self, job: Job, upstream: Run) -> None:
        self.start(job, upstream.scheduled_for, upstream.trigger, self.clock.now())


_UNRECORDED = "the state could not be written before the stop; the next start settles it"
_UNRELEASED = "the state could not be written before the stop; the next start releases it"


def default_max_parallel() -> int:
    return (os.cpu_count() or 1) * 4


def run_now(
    config: Config,
    store: Store,
    paths: StatePaths,
    job: str,
    *,
    on_claimed: Callable[[Run], None] | None = None,
    install_signals: Iterable[int] = (),
    clock: Clock | None = None,
    alerter: Alerter | None = None,
) -> list[Run]:
    """`trigger`: a manual run of `job` at this instant, then its downstream jobs.

    Returns every run it recorded (executed or blocked), oldest first. With or
    without a daemon: the run is claimed in the store like any other.
    """
    clock = clock or system_clock()
    dispatcher = Dispatcher(config, store, paths, clock=clock, alerter=alerter, keep_finished=True)
    now = clock.now()
    run = store.claim_run(job, now, Trigger.MANUAL, now=now)
    if run is None:
        raise CronplusError(f'a run of "{job}" for {now.isoformat()} exists already; try again')
    if on_claimed is not None:
        on_claimed(run)
    # Stop signals interrupt the runs while they go; the caller's handlers come back after.
    previous = {signum: signal.getsignal(signum) for signum in install_signals}
    for signum in previous:
        signal.signal(signum, lambda *_: dispatcher.shutdown())
    try:
        dispatcher.submit(run)
        dispatcher.wait_all()
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
    return sorted(dispatcher.finished, key=lambda r: r.id)
