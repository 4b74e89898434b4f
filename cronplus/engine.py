"""The daemon: when is the next fire time, sleep until then, hand due runs to dispatch.

`Engine.step(now)` holds all scheduling decisions and is tested with chosen
instants; `Engine.run()` is the only code that waits, on an Event, for at most
30 s at a time, so signals wake it and a stepped wall clock is noticed.
"""

from __future__ import annotations

import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from cronplus.alerts import Alerter
from cronplus.catchup import DOWN, JUMPED, catch_up, late, record
from cronplus.clock import Clock, system_clock
from cronplus.deadline_watch import DeadlineWatch
from cronplus.dispatch import Dispatcher
from cronplus.due import MAX_MISSED, Due, missed_while_down
from cronplus.engine_jobs import Reloads
from cronplus.engine_jobs import fired as _fired
from cronplus.engine_jobs import scheduled as _scheduled
from cronplus.errors import StateError, StateUnreachableError
from cronplus.file_watch import FileWatch
from cronplus.job_share import JobShare
from cronplus.model import PAUSED_REASON, Config, Job, Trigger
from cronplus.recovery import Adopted, releases_left, runs_to_resume
from cronplus.schedule import fire_times, is_reboot, parse_schedule
from cronplus.state_health import STATE_RETRY_S, state_down
from cronplus.store import Store

log = logging.getLogger("cronplus")

MAX_SLEEP_S = 30.0  # bounded, so a wall-clock jump is noticed within this long
JUMP_S = 5.0  # wall time moving this much more (or less) than monotonic time is a jump
CORRECTION = timedelta(hours=3)  # a step back over this is a correction (cron(8))
PAUSED = PAUSED_REASON  # the reason of a fire time skipped while its job is paused
ALIVE_EVERY = timedelta(seconds=10)  # how often the daemon notes it is alive in the state


class Engine(Reloads):
    max_sleep_s = MAX_SLEEP_S  # the daemon lowers it to feed systemd's watchdog in time
    on_loop: Callable[[], None] | None = None  # once a turn of the loop (sd_notify)

    def __init__(
        self,
        config: Config,
        store: Store,
        dispatcher: Dispatcher,
        *,
        clock: Clock | None = None,
        adopted: list[Adopted] | None = None,
        load: Callable[[], Config] | None = None,
        share: JobShare | None = None,
    ) -> None:
        self.config = config
        self._adopted = adopted or []
        self.store = store
        self.dispatcher = dispatcher
        self.clock = clock or system_clock()
        self._iters: dict[str, Iterator[datetime]] = {}
        self._due = Due()
        self._next = self._due.at  # each scheduled job's next fire time
        self._wake = threading.Event()
        dispatcher.state.on_ok = self._wake.set  # a run's write went through: try again now
        dispatcher.waiting.on_hold = self._wake.set  # a run waits out its jitter: see when
        self._alive_marked = datetime.min.replace(tzinfo=UTC)
        self._stopping = False
        self._reload = False
        self._load = load
        self._state_failing = False
        self._unreachable = False  # the failing state is a database out of reach
        self._jumped_over: dict[str, list[datetime]] = {}  # job -> fire times to catch up
        self._held: dict[str, list[datetime]] = {}  # job -> fire times the state held up
        self._together: dict[str, tuple[Job, datetime]] = {}  # started at the step's end
        self._deadlines = DeadlineWatch(config, store, dispatcher.alert)  # one more due time
        self._files = FileWatch(config, dispatcher, self._wake.set)  # `watch` jobs (issue 16)
        # Several daemons on one state (issue 17): the scheduled jobs this one fires.
        self._share = share
        self._alive_at_start: datetime | None = None

    def start(self, now: datetime) -> None:
        """Take up what the previous daemon left (adopted and resumed runs), then the
        fire times that passed while no daemon ran: older than the job's start_grace,
        they go through its catch-up policy (those it records skipped alert as
        missed); within it, they are merely late and run."""
        last_alive = self.store.daemon_alive()
        self._alive_at_start = last_alive  # for the jobs of a shared state never owned
        paused = self.store.paused_jobs()
        self._resume(paused, now)
        for job in self.config.jobs.values():
            if _fired(job) and is_reboot(job.schedule):
                self._reboot(job, now, paused)
            if not _scheduled(job) or not self._owns(job.name):
                continue
            self._take_up(job, last_alive, now, paused)
        self._deadlines.start(last_alive, now)  # those passed while down; theirs to come
        self._files.start(now)
        self._mark_alive(now)  # after: a crash before this finds the same fire times

    def _take_up(
        self, job: Job, since: datetime | None, now: datetime, paused: dict[str, datetime]
    ) -> None:
        """Fire `job` from `now` on, after the fire times since `since` that have no run:
        older than its start_grace through its catch-up policy, else merely late."""
        if job.name not in paused:  # a paused job's fire times are not caught up
            missed = missed_while_down(self.store, job, since, now)
            horizon = now - job.start_grace
            catch_up(self.dispatcher, job, [t for t in missed if t <= horizon], now, DOWN)
            late(self.dispatcher, job, [t for t in missed if t > horizon], now)
        self._follow(job, now)

    def _owns(self, name: str) -> bool:
        return self._share is None or self._share.owns(name)

    def _share_check(self, now: datetime) -> None:
        """The jobs followed made what the share says: one handed over or lost is fired
        here no more; one taken is taken up from where its last owner consumed its fire
        times (never owned: from the last daemon's end at this one's start, later from
        now, as a reload follows a new job). What fails is done at the next check."""
        share = self._share
        if share is None or not share.due(now):
            return
        share.check(now, [j.name for j in self.config.jobs.values() if _scheduled(j)])
        for name in [n for n in self._iters if not share.owns(n)]:
            self._iters.pop(name)
            self._next.pop(name, None)
        pending = share.pending()
        paused = self.store.paused_jobs() if pending else {}
        for name, since in pending.items():
            job = self.config.jobs.get(name)
            if job is not None and _scheduled(job) and name not in self._iters:
                self._take_up(job, self._alive_at_start if since is None else since, now, paused)
            share.taken_up(name)
        share.mark_through(now)  # every job owned is followed: consumed up to now
        self._alive_at_start = now

    def _reboot(self, job: Job, now: datetime, paused: dict[str, datetime]) -> None:
        """`@reboot`: one run per daemon start, its logical time the start instant. It
        has no fire times, so nothing to catch up or miss, and a reload never runs it."""
        if job.name in paused:
            self._skip(job.name, now, PAUSED)
        else:
            self.dispatcher.start(job, now, Trigger.SCHEDULE, now)

    def _follow(self, job: Job, now: datetime) -> None:
        """Fire `job` from its first fire time after `now` on."""
        assert job.schedule is not None
        it = fire_times(parse_schedule(job.schedule), ZoneInfo(job.timezone), after=now)
        self._iters[job.name] = it
        self._due.set(job.name, next(it, None))

    # -- reload ---------------------------------------------------------------------------

    def request_reload(self) -> None:
        """From SIGHUP or the file watcher: read the jobs file again at the next wake."""
        self._reload = True
        self._wake.set()

    def _resume(self, paused: dict[str, datetime], now: datetime) -> None:
        """Before anything new: the attempts adopted from a dead daemon, then the runs a
        stop or crash cut short, while their job's retries last (an attempt cut short
        does not count). A job paused, disabled or gone since is not resumed."""
        for a in self._adopted:
            self.dispatcher.submit(a.run, spent=a.spent, adopted=a.handle, release=a.ours)
        self._adopted = []
        if self._share is None:  # else each job's owner resumes its runs (job_share.py)
            for runs in runs_to_resume(self.store, self.config, paused, now).values():
                self.dispatcher.resume(runs)
        for run in releases_left(self.store):
            self.dispatcher.release(run)  # its dependents, once

    def jumped(self, before: datetime, now: datetime) -> None:
        """The wall clock moved from `before` to `now` by a step, not by waiting.

        Forward (an NTP step, a resume from suspend): the fire times it passed over
        are handled like those of a downtime, through the job's catch-up policy and a
        missed alert (a paused job's are dropped). Backward: nothing is due until the
        clock is back where it was; the runs that exist are never run again, because
        each job's next fire time stays where it was. Back by over 3 hours, the step
        is a correction (cron(8)): the clock was wrong, and every job follows the new
        time at once; a fire time that already has a record (made while the clock was
        ahead) keeps it, since a logical time runs at most once, and so does one whose
        record retention pruned meanwhile: each job follows from after that."""
        corrected = before - now > CORRECTION
        log.info(
            "event=clock-jump detail='%s by %ss%s'",
            "forward" if now > before else "backward",
            round(abs((now - before).total_seconds()), 3),
            ", over 3 h: a correction, schedules follow the new time" if corrected else "",
        )
        if corrected:
            try:
                through = self.store.pruned_through(list(self._next))
            except StateError:
                through = {}  # unreadable now: the claims still refuse what has a record
            for name in list(self._next):
                self._follow(self.config.jobs[name], max(now, through.get(name, now)))
            self._deadlines.corrected(now, through)
        if now < before:
            return
        for name in list(self._next):
            job = self.config.jobs[name]
            # Fire times still within start_grace are merely late: step() starts them.
            horizon = now - job.start_grace
            passed: deque[datetime] = deque(maxlen=MAX_MISSED)
            t: datetime | None = self._next[name]
            while t is not None and t <= horizon:
                passed.append(t)
                t = next(self._iters[name], None)
            self._due.set(name, t)
            if passed:
                self._jumped_over.setdefault(name, []).extend(passed)

    def _drain(self, now: datetime) -> None:
        """Catch up the fire times a forward jump passed over (in step(), so a state
        that cannot be written keeps them for the next try)."""
        if not self._jumped_over:
            return
        paused = self.store.paused_jobs()
        for name, missed in list(self._jumped_over.items()):
            job = self.config.jobs.get(name)
            if job is not None and name not in paused:
                catch_up(self.dispatcher, job, missed, now, JUMPED)
            del self._jumped_over[name]

    def _mark_alive(self, now: datetime) -> None:
        if self._state_failing:
            return  # fire times up to now may be unrecorded: the next start must see them
        try:
            self.store.mark_daemon_alive(now)
        except StateError:
            return  # tried again at the next wake; the step logs the state's trouble
        self._alive_marked = now

    def next_due(self) -> datetime | None:
        """The next fire time, end of a run's jitter or deadline, whichever comes first."""
        times = (self._due.first(), self.dispatcher.waiting.first(), self._deadlines.first())
        times += (self._files.first(), self._share.first() if self._share else None)
        return min((t for t in times if t is not None), default=None)

    def step(self, now: datetime) -> datetime | None:
        """Start every run due at `now`; return the next instant anything is due.

        A fire time is consumed only once its run is claimed or recorded. While the
        state cannot be written (a full disk, a read-only file system) nothing is
        started, the error is logged once, and the step is tried again every
        STATE_RETRY_S. Once it can be, the fire times due meanwhile are recorded
        skipped with that reason (they alert as missed), but for each job's newest,
        which starts if it is still within start_grace."""
        try:
            self._step(now)
        except StateError as e:
            self.dispatcher.state.failed(e)
            if self._share is not None:
                self._share.disconnected()  # judge no other daemon dead on this streak
            self._state_failing = True
            self._unreachable = isinstance(e, StateUnreachableError)
            return now + timedelta(seconds=self._retry_s())
        if self._state_failing:
            self.dispatcher.state.ok()
            self._state_failing = False
        nxt = self.next_due()
        if nxt is not None:  # made while it waits, not by the runs' first start (issue 12)
            self.dispatcher.spawner.make_folders(self._due.due_by(nxt))
        return nxt

    def _retry_s(self) -> float:
        """How soon a step the state refused is tried again: within a third of the
        lease on a shared state, so a database back is noticed before any lease ends."""
        if self._share is None:
            return STATE_RETRY_S
        return min(STATE_RETRY_S, self._share.lease.total_seconds() / 3)

    def _step(self, now: datetime) -> None:
        self.dispatcher.start_waited(now)
        self._drain(now)
        paused: dict[str, datetime] | None = None  # read once per step, only if due
        try:
            while (name := self._due.pop_due(now)) is not None:
                try:  # a read refused too (a database out of reach) gives it back
                    if paused is None:
                        paused = self.store.paused_jobs()
                    self._fire_due(name, now, name in paused)
                finally:  # back in the heap at its first fire time not yet consumed
                    self._due.back(name)
            self._start_together(now)
        except BaseException:  # taken from their jobs, never claimed: theirs again
            for job, t in reversed(self._together.values()):
                later = self._next.get(job.name)
                rest = self._iters[job.name]
                self._iters[job.name] = itertools.chain([] if later is None else [later], rest)
                self._due.set(job.name, t)
            raise
        finally:
            self._together = {}
        self._deadlines.check(now)  # after the starts: a run due now is not "no run"
        self._files.check(now)
        self._share_check(now)  # after the starts: fire times up to now are consumed

    def _start_together(self, now: datetime) -> None:
        """Idle jobs' fire times due at once: one claim, one write of their attempts,
        their processes back to back (issue 12)."""
        if self._together:
            self.dispatcher.start_together(list(self._together.values()), Trigger.SCHEDULE, now)
            self._together = {}

    def _fire_due(self, name: str, now: datetime, paused: bool) -> None:
        """Start (or record) each fire time of `name` up to `now`, oldest first."""
        job = self.config.jobs[name]
        # The state could not be written at the last step: what came due since waited.
        waited = self._state_failing
        t: datetime | None = self._next[name]
        while t is not None and t <= now:
            it = self._iters[name]
            if waited and not paused:
                later = next(it, None)  # is t the newest due?
                try:
                    if (later is not None and later <= now) or now - t > job.start_grace:
                        # A run may exist already: claimed with its instant's batch
                        # before a later write failed. Only a time recorded here alerts.
                        if self._skip(name, t, state_down(now, job.timezone, self._unreachable)):
                            self._held.setdefault(name, []).append(t)
                    else:
                        self._fire(name, t, now)
                except BaseException:
                    if later is not None:  # not consumed: tried again next step
                        self._iters[name] = itertools.chain((later,), it)
                    raise
            else:
                if paused:
                    self._skip(name, t, PAUSED)
                else:
                    self._fire(name, t, now)
                later = next(it, None)  # after the start: it waits for nothing
            t = later
            if t is None:
                del self._next[name]
            else:
                self._next[name] = t
        held = self._held.pop(name, None)
        if held:  # one alert for them all, once the state took them all
            self.dispatcher.alert(
                Alerter.missed, name, held, state_down(now, job.timezone, self._unreachable)
            )

    def _fire(self, name: str, t: datetime, now: datetime) -> None:
        grace = self.config.jobs[name].start_grace
        if now - t > grace:
            why = f"cronplus could not start it within {grace.total_seconds():g}s"
            self._skip(name, t, f"{why} of its fire time", missed=True)
            return
        job = self.config.jobs[name]
        if name in self._together:
            self._start_together(now)  # its earlier fire time first: overlap sees it going
        elif self.dispatcher.idle(name) and job.jitter is None:  # jitter: not together
            self._together[name] = (job, t)  # consumed: given back if never claimed
            return
        self.dispatcher.start(job, t, Trigger.SCHEDULE, now)

    def _skip(self, name: str, t: datetime, reason: str, *, missed: bool = False) -> bool:
        return record(self.dispatcher, name, t, reason, missed=missed)

    # -- the loop ----------------------------------------------------------------------------

    def request_stop(self) -> None:
        self._stopping = True
        self.dispatcher.stop.set()  # also ends a state write retried during start()
        self.dispatcher.state.wake()
        self._wake.set()

    def run(self) -> None:
        self.start(self.clock.now())
        last: tuple[datetime, float] | None = None  # wall and monotonic time of the last step
        while not self._stopping:
            now, mono = self.clock.now(), self.clock.monotonic()
            if last is not None:
                drift = (now - last[0]).total_seconds() - (mono - last[1])
                if abs(drift) > JUMP_S:
                    self.jumped(last[0] + timedelta(seconds=mono - last[1]), now)
            last = (now, mono)
            if self._reload and self._load is not None:
                self._reload = False
                self.reload(now)
            nxt = self.step(now)
            # After the step: every fire time up to `now` is claimed or recorded, so a
            # crash after this mark loses none of them (the next start looks from here).
            if now - self._alive_marked >= ALIVE_EVERY or now < self._alive_marked:
                self._mark_alive(now)
            if self.on_loop is not None:
                self.on_loop()
            timeout = self.max_sleep_s
            fresh = self.clock.now()
            if fresh < now:
                timeout = 0.0  # the clock went back during the step: notice it now
            elif nxt is not None:
                # A fresh reading: starting runs in step() took time that must not
                # be slept on top of the wait (it made every start ~0.6 ms later).
                remaining = (nxt - fresh).total_seconds()
                timeout = min(max(remaining, 0.0), self.max_sleep_s)
            self._wake.wait(timeout)
            self._wake.clear()
        self._files.close()
        self.dispatcher.shutdown()
        self.dispatcher.wait_all()
        if self._share is not None and last is not None:
            self._share.give_all(last[0])  # the next owners take them up from here
        if last is not None:
            # As of the last step: fire times after it were not started by anyone, so
            # the next start must find them (a stop can take kill_grace seconds).
            self._mark_alive(last[0])
