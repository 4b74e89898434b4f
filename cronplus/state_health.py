"""Whether the state can be written: one outage is logged once (event=state-error),
retried every STATE_RETRY_S, and its end logged once (event=state-ok), whoever meets
it: the engine's step or a run's thread.

A full disk or a read-only file system must not end a run or lose a fire time: the
writes wait for the state instead (`StateHealth.write`), and the engine tries its
step again (`failed`, then `ok`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TypeVar

from cronplus.errors import StateError
from cronplus.zones import zone

log = logging.getLogger("cronplus")

STATE_RETRY_S = 5.0  # how often a state write refused (disk full, read-only) is tried again
T = TypeVar("T")


def state_down(now: datetime, timezone: str, unreachable: bool = False) -> str:
    """The reason of a fire time that could not start because the state could not be
    written until `now` (shown in the job's zone); `unreachable`: a state database
    that could not be reached (issue 17)."""
    until = now.astimezone(zone(timezone)).strftime("%H:%M:%S")
    if unreachable:
        return f"state database unreachable until {until}"
    return f"the state could not be written (disk full?) until {until}"


class StateHealth:
    """Whether the state can be written, as the engine and the run threads find it: an
    outage is logged once and its end once, whoever meets them, and its end wakes the
    writers waiting to try again."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._failing = False
        self.on_ok: Callable[[], None] | None = None  # the engine: its fire times wait too

    def write(
        self,
        stop: threading.Event,
        write: Callable[[], T],
        on_refused: Callable[[], None] | None = None,
    ) -> T:
        """Do a state write that cannot be skipped. While the state refuses it, it is
        tried again every STATE_RETRY_S (`on_refused` is called once, at the first
        refusal); on a `stop` it gives up, raising the StateError."""
        refused = False
        while True:
            try:
                result = write()
            except StateError as e:
                self.failed(e)
                if not refused:
                    refused = True
                    if on_refused is not None:
                        on_refused()
                if not stop.is_set():
                    self._pause()
                if stop.is_set():
                    raise
                continue
            if refused:
                self.ok()
            return result

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

    def _pause(self) -> None:
        """Before trying a refused write again: STATE_RETRY_S, or less if another write
        went through meanwhile, or wake() was called."""
        with self._cond:
            if self._failing:
                self._cond.wait(STATE_RETRY_S)

    def wake(self) -> None:
        with self._cond:
            self._cond.notify_all()
