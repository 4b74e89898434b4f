"""A run's thread, as the dispatcher runs it: its execution with any error logged and
recorded on the run (if its end is not recorded already), never raised, so that one
run's bug or a vanished state leaves the daemon and the other runs alive."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from cronplus.clock import Clock
from cronplus.errors import StateError
from cronplus.events import log_event
from cronplus.executor import cut_short
from cronplus.model import Run, RunEnd, RunStatus
from cronplus.store import Store

log = logging.getLogger("cronplus")

_UNRECORDED = "the state could not be written before the stop; the next start settles it"


def execute_logged(
    run: Run, execute: Callable[[], Run], store: Store, clock: Clock, stop: threading.Event
) -> Run | None:
    """`execute` the run in its thread: an error is logged and recorded on the run
    (if its end is not recorded already), never raised; None then."""
    try:
        return execute()
    except Exception as e:
        if isinstance(e, StateError) and stop.is_set():
            # A state write gave up at the stop: the outage is logged already.
            log_event(run, "unrecorded", None, _UNRECORDED)
            return None
        # A bug, or the state vanished: record it on the run and keep the daemon alive.
        log.exception("job=%s run=%s event=error", run.job, run.id)
        try:
            now = store.get_run(run.id)
            if now is not None and not now.status.is_final:
                why, at, last = "cronplus failed while running it", clock.now(), None
                going = now.last_attempt
                if going is not None and going.finished_at is None:  # closed with it
                    last = (going.number, cut_short(going.log, going.started_at, at))
                end = RunEnd(RunStatus.INTERRUPTED, why, at, last_attempt=last)
                store.finish_run(run.id, end)
        except Exception:
            log.exception("job=%s run=%s event=error-recording", run.job, run.id)
        return None
