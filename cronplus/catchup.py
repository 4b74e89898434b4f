"""Fire times that passed without a run, for the engine: through the job's `catchup`
policy (after a downtime or a forward clock jump), or started late within its
start_grace.

Kept apart from the engine's loop: what to do with a list of passed fire times is
one decision, whoever found them (`Engine.start`, `Engine.jumped`).
"""

from __future__ import annotations

import os
from datetime import datetime

from cronplus.alerts import Alerter
from cronplus.dispatch import Dispatcher
from cronplus.events import log_event
from cronplus.model import Catchup, Claim, Job, Run, RunStatus, Trigger
from cronplus.store import Store

JUMPED = "the clock jumped forward"  # the reason of a fire time a forward jump skipped
DOWN = "daemon was down"  # ... and of one that passed while no daemon ran


def catch_up(
    dispatcher: Dispatcher, job: Job, missed: list[datetime], now: datetime, reason: str
) -> None:
    """`catchup`: latest runs the newest missed fire time, all runs up to
    catchup_limit of the newest, oldest first, none runs none; the rest are recorded
    skipped, and they alone alert as missed (a run caught up was not missed). The
    runs queue one after another, whatever `overlap` says."""
    keep = {Catchup.NONE: 0, Catchup.LATEST: 1, Catchup.ALL: job.catchup_limit}[job.catchup]
    run_times = missed[len(missed) - keep :] if keep else []
    store = dispatcher.store
    runs: list[Run] = []
    skipped: list[datetime] = []
    try:
        for t in missed:
            if t in run_times:
                runs += _claim(store, job.name, t, Trigger.CATCHUP, now, "catchup", reason)
            elif record(dispatcher, job.name, t, reason):
                skipped.append(t)
    finally:
        # What was claimed runs even if the state refused a later write; doing the
        # whole list again (see Engine._drain) claims and records only what is missing.
        dispatcher.catch_up(runs)
        if skipped:
            dispatcher.alert(Alerter.missed, job.name, skipped, reason)


def late(dispatcher: Dispatcher, job: Job, times: list[datetime], now: datetime) -> None:
    """Fire times within start_grace that passed while no daemon ran: scheduled runs,
    started late, one after another behind any catch-up runs (claimed here, so
    the alive mark that follows Engine.start() never passes an unclaimed one)."""
    runs: list[Run] = []
    try:
        for t in times:
            runs += _claim(dispatcher.store, job.name, t, Trigger.SCHEDULE, now, "late", DOWN)
    finally:
        dispatcher.catch_up(runs)


def _claim(
    store: Store, name: str, t: datetime, trigger: Trigger, now: datetime, event: str, why: str
) -> list[Run]:
    """Claim (name, t) to run it after a downtime: the run, or none if it exists."""
    run = store.claim_run(name, t, trigger, Claim(owner=os.getpid(), now=now))
    if run is None:
        return []
    log_event(run, event, None, why)
    return [run]


def record(
    dispatcher: Dispatcher, name: str, t: datetime, reason: str, *, missed: bool = False
) -> bool:
    """A fire time recorded skipped; `missed` alerts it at once (paused ones never
    alert; catch_up alerts the ones it skipped together). False if it had a run
    already."""
    run = dispatcher.record(name, t, Trigger.SCHEDULE, RunStatus.SKIPPED, reason, missed=missed)
    return run is not None
