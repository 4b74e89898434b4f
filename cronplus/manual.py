"""Runs made by hand: `mark` records a run's outcome without running it."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from cronplus.alerts import Alerter
from cronplus.clock import Clock, system_clock
from cronplus.dispatch import Dispatcher
from cronplus.errors import CronplusError, UsageError
from cronplus.events import log_event
from cronplus.model import Claim, Config, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.recovery import settle_orphan
from cronplus.run_control import SIGNAL_LOOK_S, calling_on_signals
from cronplus.store import Store

# Statuses `mark` may set, and the recorded ones it may set them over.
MARKABLE = (RunStatus.SUCCEEDED, RunStatus.SKIPPED)
_MARK_OVER = (
    RunStatus.FAILED,
    RunStatus.TIMED_OUT,
    RunStatus.SKIPPED,
    RunStatus.UPSTREAM_FAILED,
    RunStatus.INTERRUPTED,
)


def mark_run(
    config: Config,
    store: Store,
    paths: StatePaths,
    job: str,
    at: datetime,
    status: RunStatus,
    reason: str,
    *,
    release: bool = False,
    clock: Clock | None = None,
    alerter: Alerter | None = None,
    install_signals: Iterable[int] = (),
) -> tuple[Run, list[Run]]:
    """`mark`: record (job, logical time `at`) as `status` by hand, as Airflow's "mark
    success" does: a new run with trigger `manual` and no attempts, or an existing
    run that did not succeed, which keeps its id, trigger and attempts. With
    `release` (a succeeded mark), the jobs after it run now for that logical time, as
    they would have after a real success, and each of `install_signals` interrupts
    them, as for `trigger`. Returns the marked run and those runs."""
    clock = clock or system_clock()
    now = clock.now()
    claim = Claim(owner=None, now=now, status=status, reason=reason)
    run = store.claim_run(job, at, Trigger.MANUAL, claim)
    if run is None:
        existing = store.find_run(job, at)
        assert existing is not None  # the claim failed because it exists
        if not existing.status.is_final:
            # Its process may be gone (a killed trigger or backfill): settle it first.
            settle_orphan(store, existing, clock, config.jobs.get(job))
            existing = store.get_run(existing.id) or existing
        if not existing.status.is_final:
            raise CronplusError(
                f"run {existing.id} of {job} is {existing.status}: wait for it to end "
                f"(cronplus status {job})"
            )
        if existing.status is RunStatus.SUCCEEDED:
            raise UsageError(
                f"run {existing.id} of {job} for that time succeeded already; nothing to mark"
            )
        run = store.reopen_run(existing.id, _MARK_OVER, claim)
        if run is None:
            raise CronplusError(f"run {existing.id} of {job} changed meanwhile; try again")
    log_event(run, f"marked-{status}", None, reason)
    if not release or status is not RunStatus.SUCCEEDED:
        return run, []
    dispatcher = Dispatcher(config, store, paths, clock=clock, alerter=alerter, keep_finished=True)
    with calling_on_signals(install_signals, dispatcher.shutdown):
        dispatcher.release(run)
        dispatcher.wait_all(SIGNAL_LOOK_S)
    return run, sorted(dispatcher.finished, key=lambda r: r.id)
