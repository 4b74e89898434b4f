"""This process in the state's list of the processes executing runs (issue 17): its
registration, its heartbeat every third of `lease` on the database's clock, and its
leaving at a clean stop.

Every `cronplus run`, `trigger` and `backfill` registers, so that `status` lists the
live daemons and a daemon can tell a dead peer (its heartbeat older than its lease)
from one cut off for a moment. A daemon's host name (`CRONPLUS_HOST`) is its own: a
second daemon under a name a live one holds is refused; one under the name of a dead
one (gone from this machine, or silent past its lease) takes it, and its take-over
adopts what the predecessor left (`Registration.previous`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import timedelta
from types import TracebackType

from cronplus import procs
from cronplus.clock import Clock, system_clock
from cronplus.errors import CronplusError, StateError
from cronplus.model import ProcessRecord
from cronplus.store import Store

log = logging.getLogger("cronplus")

DAEMON = "daemon"
_TRIES = 3  # a dead holder forgotten, then the name tried again (another may race us)


class NameHeldError(CronplusError):
    """A live daemon holds this process's host name (exit 1)."""

    def __init__(self, holder: ProcessRecord, silent: timedelta) -> None:
        ago = max(0, int(silent.total_seconds()))
        super().__init__(
            f'another cronplus daemon holds the host name "{holder.host}" (pid {holder.pid},'
            f" last heartbeat {ago}s ago): stop it, or give this daemon another CRONPLUS_HOST"
        )


class Registration:
    """This process as the state lists it, heartbeating from a thread of its own until
    `unregister`. `previous`: the dead daemon whose name this one took, if any."""

    def __init__(
        self,
        store: Store,
        kind: str,
        lease: timedelta,
        clock: Clock,
        running: Callable[[], int],
        on_lost: Callable[[Registration], None] | None,
    ) -> None:
        self.store = store
        self.kind = kind
        self.lease = lease
        self.clock = clock
        self.pid = procs.me()[0]
        self.running = running  # the attempts this process executes now
        self.on_lost = on_lost or _log_lost
        self.previous: ProcessRecord | None = None
        self.lost = False  # our row was forgotten: declared dead; no beats until `renew`
        self._relist_failed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def renew(self) -> None:
        """Register (again, after a loss): raises NameHeldError while a live daemon
        holds the name; a dead holder is forgotten and kept as `previous`."""
        pid, boot, ticks = procs.me()
        for _ in range(_TRIES):
            holder = self.store.register_process(self.kind, pid, self.lease, boot, ticks)
            if holder is None:
                self.lost = False
                return
            silent = self.store.db_now() - holder.heartbeat_at
            if not _dead(holder, silent, boot):
                raise NameHeldError(holder, silent)
            log.info(
                "event=name_taken host=%s pid=%d detail='its daemon pid %d is dead'",
                holder.host,
                pid,
                holder.pid,
            )
            self.store.forget_process(holder.host, holder.pid, holder.heartbeat_at)
            self.previous = holder
        raise NameHeldError(holder, silent)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._beat, name="cronplus-heartbeat", daemon=True)
        self._thread.start()

    def unregister(self) -> None:
        """A clean stop: no more beats, and the process leaves the list at once."""
        self._stop.set()
        if self._thread is not None:  # a beat stuck on a silent server ends by its timeout
            self._thread.join(self.lease.total_seconds())
        try:
            self.store.forget_process(self.store.host, self.pid)
        except StateError as e:  # it leaves once its lease has passed instead
            log.error("event=unregister_failed detail=%r", str(e))

    def __enter__(self) -> Registration:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.unregister()

    def _beat(self) -> None:
        every = self.lease.total_seconds() / 3
        failing = False
        while not self.clock.wait(self._stop, every):
            if self.lost:
                self._list_again()
                continue
            try:
                beat = self.store.heartbeat(self.pid, self.running())
            except StateError as e:  # the database away: tried again at the next beat
                if not failing:
                    log.error("event=heartbeat_failed detail=%r; retrying", str(e))
                failing = True
                continue
            if failing:
                log.info("event=heartbeat_ok")
                failing = False
            if beat is None:
                self.lost = True
                self.on_lost(self)
                self._list_again()

    def _list_again(self) -> None:
        """Declared dead and back: list this process again, at every beat until it is
        (the database away, or the name taken meanwhile: said once)."""
        try:
            self.renew()
        except CronplusError as e:
            if not self._relist_failed:
                log.error("event=registration_failed detail=%r; trying again", str(e))
            self._relist_failed = True
            return
        self._relist_failed = False
        log.info("event=registered_again host=%s pid=%d", self.store.host, self.pid)


def register(
    store: Store,
    kind: str,
    lease: timedelta,
    clock: Clock | None = None,
    *,
    running: Callable[[], int] = lambda: 0,
    on_lost: Callable[[Registration], None] | None = None,
) -> Registration:
    """List this process as executing runs (`kind`: daemon, trigger or backfill) and
    start its heartbeat. Raises NameHeldError for a daemon whose name a live one holds,
    having written nothing. `on_lost`: called from the heartbeat's thread when the
    state no longer lists this process (another declared it dead)."""
    registration = Registration(store, kind, lease, clock or system_clock(), running, on_lost)
    registration.renew()
    registration.start()
    return registration


def _dead(holder: ProcessRecord, silent: timedelta, boot: str | None) -> bool:
    """A holder of our name is dead: gone from this machine (same boot), or silent past
    its lease by the database's clock."""
    here = holder.boot_id is not None and holder.boot_id == boot
    if here and procs.gone(holder.host, holder.pid, holder.boot_id, holder.start_ticks):
        return True
    return silent > holder.lease


def _log_lost(registration: Registration) -> None:
    log.error(
        "event=registration_lost host=%s pid=%d detail='the state no longer lists this"
        " process: another declared it dead'",
        registration.store.host,
        registration.pid,
    )
