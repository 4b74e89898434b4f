"""Executing a backfill's plan (see `backfill`), at most once whoever asks.

Up to `parallel` logical times at once, oldest first, each in its own worker: inside
one logical time the jobs run one after another in dependency order. The workers are
the one concurrency limit: each makes one attempt at a time. A new run is claimed
and a recorded one that did not succeed is reopened, both through the store's
guarded writes, so a logical run is executed once whoever asks (the daemon, a
`trigger`, another backfill).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import deque
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from cronplus.backfill import Action, BackfillResult, Outcome, Plan, Settled, pruned_upstream
from cronplus.clock import Clock, system_clock
from cronplus.cluster import register
from cronplus.errors import StateError
from cronplus.lanes import upstream_blocker
from cronplus.model import Claim, Config, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.recovery import SettleResult, settle_orphan
from cronplus.run_control import calling_on_signals
from cronplus.runner import Runner
from cronplus.store import Store

_US = timedelta(microseconds=1)
_WAIT_S = 0.2  # how often a run in progress elsewhere is looked at again
# Fire times claimed together, one commit for all (issue 12: a quick run paid three).
# More would leave more queued orphans for recovery to settle after a SIGKILL.
CLAIM_AHEAD = 16
_RERUNNABLE = (
    RunStatus.FAILED,
    RunStatus.TIMED_OUT,
    RunStatus.SKIPPED,
    RunStatus.UPSTREAM_FAILED,
    RunStatus.INTERRUPTED,
)


class _Backfill:
    def __init__(
        self,
        plan: Plan,
        config: Config,
        store: Store,
        paths: StatePaths,
        parallel: int,
        clock: Clock,
        on_settled: Callable[[Settled], None] | None,
    ) -> None:
        self.plan = plan
        self.config = config
        self.store = store
        self.clock = clock
        self.runner = Runner(config, store, paths, clock)  # no slots: the workers limit
        self.stop = self.runner.stop
        self.parallel = parallel
        self.on_settled = on_settled
        self.planned = set(plan.jobs)
        self.settled: dict[tuple[str, datetime], Settled] = {}
        self.interrupted = False
        self._lock = threading.Lock()
        self._times = deque(plan.times)
        self._snapshots = {
            (i.job, i.scheduled_for): _snapshot(i.run) for i in plan.items if i.run is not None
        }
        # Planned `pruned`: not run, and what is after them blocked (`_blocker`).
        self._pruned = {(i.job, i.scheduled_for) for i in plan.items if i.action is Action.PRUNED}
        self._through = store.pruned_through(u for n in plan.jobs for u in config.jobs[n].after)
        # The times to start next, oldest first, each with its first job's run when it
        # was claimed ahead (`_claim_ahead`); those not yet handed to the runner.
        self._next: deque[tuple[datetime, Run | None]] = deque()
        self._unstarted: dict[int, Run] = {}
        self._error: BaseException | None = None

    def interrupt(self) -> None:
        self.interrupted = True
        self.runner.stop_all()

    def run(self) -> None:
        workers = [
            threading.Thread(target=self._worker, name=f"backfill-{i}")
            for i in range(min(self.parallel, len(self._times)))
        ]
        for w in workers:
            w.start()
        try:
            for w in workers:
                while w.is_alive():
                    w.join(0.5)
        finally:
            self._unclaim()
        if self._error is not None:
            raise self._error

    def _worker(self) -> None:
        try:
            while not self.stop.is_set():
                with self._lock:
                    if not self._next:
                        self._claim_ahead()
                    if not self._next:
                        return
                    t, claimed = self._next.popleft()
                self._one_time(t, claimed)
        except BaseException as e:  # a broken state database: stop everything, report it
            with self._lock:
                self._error = self._error or e
            self.runner.stop_all()

    def _claim_ahead(self) -> None:
        """Move the next CLAIM_AHEAD times to `_next`, claiming their first job's runs
        in one transaction where nothing was recorded for them when planned and
        nothing can block that job (it is after no job). A time whose claim another
        process won meanwhile goes the usual way (`_one` finds its run)."""
        times = [self._times.popleft() for _ in range(min(CLAIM_AHEAD, len(self._times)))]
        first = self.plan.jobs[0]
        free = [
            t for t in times if (first, t) not in self._snapshots and (first, t) not in self._pruned
        ]
        claimed: dict[datetime, Run] = {}
        if free and not self.config.jobs[first].after:
            claim = Claim(owner=os.getpid(), now=self.clock.now())
            wanted = [(first, t, Trigger.BACKFILL) for t in free]
            runs = [r for r in self.store.claim_many(wanted, claim) if r is not None]
            claimed = {r.scheduled_for: r for r in runs}
            self._unstarted.update((r.id, r) for r in runs)
        self._next.extend((t, claimed.get(t)) for t in times)

    def _unclaim(self) -> None:
        """Give back the claims made ahead that a stop left unstarted; a state that
        cannot be written leaves them queued orphans, which recovery settles and the
        same backfill run again executes."""
        with self._lock:
            ids = list(self._unstarted)
            self._unstarted.clear()
        if ids:
            with contextlib.suppress(StateError):
                self.store.unclaim_runs(ids, owner=os.getpid())

    def _one_time(self, t: datetime, claimed: Run | None) -> None:
        """Every planned job for logical time `t`, each after the ones it is after;
        `claimed`: the first job's run, claimed ahead."""
        ended: dict[str, Settled] = {}  # planned job -> how its run for t came to an end
        for name in self.plan.jobs:
            if self.stop.is_set():
                return
            if (name, t) in self._pruned:
                continue
            settled = self._one(name, t, ended, claimed)
            if settled is None:
                return
            ended[name] = settled
            claimed = None

    def _one(
        self, name: str, t: datetime, ended: dict[str, Settled], claimed: Run | None = None
    ) -> Settled | None:
        """Run, skip or block one (job, logical time); None when stopped before its end.

        The run is executed here only while it is as the plan found it (or as this
        process settled it). Once another process has claimed, run or recorded it,
        its outcome is used instead: a logical run is executed once, whoever asks.
        """
        if claimed is not None:  # claimed ahead: nothing blocks it, nobody else has it
            return self._execute(name, t, claimed)
        blocker = self._blocker(name, t, ended)
        seen = self._snapshots.get((name, t))  # the run as planned; None: no run
        # Nothing was recorded when planned: try to claim first, and look only if that
        # fails (a read less per run in the common case of a fresh range).
        look = seen is not None
        while not self.stop.is_set():
            existing = self.store.find_run(name, t) if look else None
            look = True
            if existing is not None and not existing.status.is_final:
                if not self._wait_for(existing):
                    # An orphan this process settled: it is ours to run again.
                    seen = _snapshot(self.store.get_run(existing.id))
                continue
            if existing is not None and _snapshot(existing) != seen:
                return self._settle(name, t, _their_outcome(existing), existing)
            if existing is not None and existing.status is RunStatus.SUCCEEDED:
                if not self.plan.rerun:
                    return self._settle(name, t, Outcome.SKIPPED, existing)
                if blocker:
                    # --rerun, but what it is after failed now: its earlier success stays.
                    return self._settle(name, t, Outcome.UPSTREAM_FAILED, existing)
            run = self._take(name, t, existing, blocker)
            if run is None:
                continue  # someone else got there first: use what they did
            if blocker:
                return self._settle(name, t, Outcome.UPSTREAM_FAILED, run)
            return self._execute(name, t, run)
        return None

    def _execute(self, name: str, t: datetime, run: Run) -> Settled | None:
        """Execute a run this process claimed or reopened; None when a stop cut it."""
        with self._lock:
            if self._unstarted.pop(run.id, None) is not None and self.stop.is_set():
                self._unstarted[run.id] = run  # not started: given back with the rest
                return None
        got = self.runner.execute(run, Trigger.BACKFILL)
        settled = self._settle(name, t, _outcome_of(got), got)
        if settled.outcome is Outcome.INTERRUPTED and self.stop.is_set():
            return None
        return settled

    def _take(
        self, name: str, t: datetime, existing: Run | None, blocker: str | None
    ) -> Run | None:
        """Claim (job, t), or reopen its run: to run it, or (with a `blocker`) to
        record it upstream_failed. None if another process changed it first."""
        allowed = (*_RERUNNABLE, RunStatus.SUCCEEDED) if self.plan.rerun else _RERUNNABLE
        status = RunStatus.UPSTREAM_FAILED if blocker else RunStatus.QUEUED
        now = self.clock.now()
        owner = None if blocker else os.getpid()  # a final status has no owner
        claim = Claim(owner=owner, now=now, status=status, reason=blocker)
        if existing is None:
            return self.store.claim_run(name, t, Trigger.BACKFILL, claim)
        return self.store.reopen_run(existing.id, allowed, claim)

    def _blocker(self, name: str, t: datetime, ended: dict[str, Settled]) -> str | None:
        """Why `name` cannot run for `t`: a job it is after has no success for `t`.

        A job outside the plan whose run for `t` is still going is waited for: the
        process running it will start `name`'s run if this one does not."""
        for u in self.config.jobs[name].after:
            if (u, t) in self._pruned:
                return pruned_upstream(u, t, self.plan.timezone)
            if u in self.planned:
                up = ended[u]
                if up.outcome in (Outcome.FAILED, Outcome.INTERRUPTED):
                    return f'upstream job "{u}" run {up.run.id} ended {up.run.status}'
                if up.outcome is Outcome.UPSTREAM_FAILED:
                    return f'upstream job "{u}" run {up.run.id} is upstream_failed'
                continue
            run = self.store.find_run(u, t)
            while run is not None and not run.status.is_final and not self.stop.is_set():
                self._wait_for(run)
                run = self.store.get_run(run.id)
            why = upstream_blocker(self.store, [u], t, self.plan.timezone)
            if why is not None and run is None and t <= self._through.get(u, t - _US):
                return pruned_upstream(u, t, self.plan.timezone)
            if why is not None:
                return why
        return None

    def _wait_for(self, run: Run) -> bool:
        """Wait until a run some other process is executing ends. False if it was an
        orphan (its process is gone) that this process settled instead."""
        while not self.stop.is_set():
            current = self.store.get_run(run.id)
            if current is None or current.status.is_final:
                return True
            settled = settle_orphan(self.store, current, self.clock, self.config.jobs.get(run.job))
            if settled is SettleResult.SETTLED:
                return False
            if settled is SettleResult.LIVE:
                self.stop.wait(_WAIT_S)
        return True

    def _settle(self, name: str, t: datetime, outcome: Outcome, run: Run) -> Settled:
        s = Settled(name, t, outcome, run)
        with self._lock:
            self.settled[(name, t)] = s
        if self.on_settled is not None:
            self.on_settled(s)
        return s


def _snapshot(run: Run | None) -> tuple[int, RunStatus, int] | None:
    """What tells whether someone else touched a run: its status and attempt count."""
    return None if run is None else (run.id, run.status, len(run.attempts))


def _outcome_of(run: Run) -> Outcome:
    """How a run this backfill executed counts."""
    if run.status is RunStatus.SUCCEEDED:
        return Outcome.SUCCEEDED
    if run.status is RunStatus.INTERRUPTED:
        return Outcome.INTERRUPTED
    return Outcome.FAILED


def _their_outcome(run: Run) -> Outcome:
    """A run another process executed or recorded, counted like ours."""
    if run.status is RunStatus.SUCCEEDED:
        return Outcome.SKIPPED
    if run.status is RunStatus.UPSTREAM_FAILED:
        return Outcome.UPSTREAM_FAILED
    if run.status is RunStatus.INTERRUPTED:
        return Outcome.INTERRUPTED
    return Outcome.FAILED


def run_backfill(
    plan: Plan,
    config: Config,
    store: Store,
    paths: StatePaths,
    *,
    parallel: int = 1,
    clock: Clock | None = None,
    on_settled: Callable[[Settled], None] | None = None,
    install_signals: Iterable[int] = (),
) -> BackfillResult:
    """Execute `plan`. Stop signals cut running attempts short (`interrupted`) and start
    nothing more; what did not finish is picked up by the same command run again."""
    clock = clock or system_clock()
    backfill = _Backfill(plan, config, store, paths, parallel, clock, on_settled)
    slots = backfill.runner.slots
    with (
        register(store, "backfill", config.lease, clock, running=lambda: slots.in_use),
        calling_on_signals(install_signals, backfill.interrupt),
    ):
        backfill.run()
    order = [(i.job, i.scheduled_for) for i in plan.items]
    settled = tuple(backfill.settled[k] for k in order if k in backfill.settled)
    return BackfillResult(plan=plan, settled=settled, interrupted=backfill.interrupted)
