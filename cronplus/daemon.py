"""`cronplus run`: the daemon's composition root.

It holds the state folder (its lock and pidfile), opens the state, takes over what
a dead daemon left, wires the alerter, dispatcher and engine together, installs the
signal handlers, the jobs-file watcher and the heartbeat, then runs the engine.
Everything it opens is closed through one `ExitStack`, in the reverse order, also
when the engine raises: a failed daemon never leaves a lock, a pidfile or a thread
behind for the next one to trip over.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import time
from contextlib import ExitStack
from typing import TYPE_CHECKING

from cronplus.alerts import Alerter
from cronplus.clock import Clock, system_clock
from cronplus.cluster import DAEMON, Registration, register
from cronplus.config import alert_values, check_alert_env, expand
from cronplus.delivery import Heartbeat
from cronplus.dispatch import Dispatcher
from cronplus.engine import Engine
from cronplus.engine_jobs import record_config
from cronplus.errors import DaemonRunningError, StateError, StateUnreachableError
from cronplus.job_share import JobShare
from cronplus.paths import StatePaths, owner_only_file, read_daemon_pid
from cronplus.recovery import Adopted, take_over
from cronplus.retention import Pruner
from cronplus.store import Store, open_store

if TYPE_CHECKING:
    from collections.abc import Callable
    from datetime import timedelta

    from cronplus.metrics import Figures
    from cronplus.model import Config, ProcessRecord
    from cronplus.sdnotify import Notifier

log = logging.getLogger("cronplus")

FLUSH_S = 15.0  # deliveries still going at the stop get this long; then they are logged
_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)
_LOCK_WAIT_S = 1.0  # how long a held lock is tried again before giving up
_LOCK_TRIES = 20


def run_daemon(
    config: Config,
    paths: StatePaths,
    clock: Clock | None = None,
    *,
    display_path: str | None = None,
    web: tuple[str, int] | None = None,
    metrics: tuple[str, int, Callable[[Figures], str]] | None = None,
) -> None:
    """`cronplus run`: one daemon per state directory, in the foreground, until signalled.
    It reads the jobs file again on SIGHUP and when the file changes; `display_path`
    is how messages name it. `web`: (host, port) of a `cronplus web` child to serve.
    `metrics`: (host, port, render's `metrics_text`, which the daemon may not import)
    to serve /metrics at, from a thread."""
    from cronplus.config import load_config
    from cronplus.watch import FileWatcher

    clock = clock or system_clock()
    # The engine starts runs on time while run threads record theirs: each of its waits
    # on the state ends in a wait for the GIL, up to the switch interval (5 ms by
    # default) behind every busy thread; a shorter one keeps a start's lateness, and a
    # state transaction's lock, short (bench/cluster.py).
    sys.setswitchinterval(0.0005)
    # A variable an alert URL needs and nobody set: refuse to start rather than run
    # for days with alerts nobody receives.
    check_alert_env(config, config.path.name)
    with ExitStack() as stack:
        _keep_signals(stack)  # first in, so the handlers outlive the flush of alerts
        # Until the engine can reload, a SIGHUP (a reload asked for too early) must not kill it.
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        _hold(stack, paths)
        notifier = _notifier(stack, clock)  # before any child could inherit its variables
        store = _open_waiting(paths, config.lease, clock)
        stack.callback(store.close)
        registration = _register(stack, store, config, clock)
        adopted = _take_over(store, config, clock, registration.previous)
        alerter = Alerter(config, store, clock=clock)
        stack.callback(alerter.close)
        stack.callback(alerter.flush, timeout=FLUSH_S)  # runs before the close
        dispatcher = Dispatcher(
            config, store, paths, clock=clock, alerter=alerter, resume_after_stop=True
        )
        # Should the engine raise, the runs it started stop and record their end while
        # the store is still open (the engine's own stop does this too; twice is harmless).
        stack.callback(dispatcher.wait_all)
        stack.callback(dispatcher.shutdown)
        registration.running = lambda: dispatcher.runner.slots.in_use
        registration.on_lost = lambda r: _lost(r, dispatcher)
        engine = Engine(
            config,
            store,
            dispatcher,
            clock=clock,
            adopted=adopted,
            load=lambda: load_config(config.path, display_path=display_path),
            share=_share(store, paths, dispatcher, clock, config.lease, lambda: engine.config),
        )
        _watchdog(engine, notifier)
        _start_heartbeat(stack, config)
        _route_signals(engine, notifier)
        watcher = FileWatcher(config.path, engine.request_reload, clock=clock)
        watcher.start()
        stack.callback(watcher.stop)
        _start_beside(stack, engine, paths, clock, web, metrics)
        log.info("event=started pid=%d state=%s jobs=%d", os.getpid(), paths.root, len(config.jobs))
        engine.run()
    log.info("event=stopped")


def _share(
    store: Store,
    paths: StatePaths,
    dispatcher: Dispatcher,
    clock: Clock,
    lease: timedelta,
    config: Callable[[], Config],
) -> JobShare | None:
    """On a PostgreSQL state several daemons run at once, each firing its share of the
    scheduled jobs (job_share.py); on SQLite the one daemon fires them all."""
    if paths.url is None:
        return None
    from cronplus.sweep import resume_due, sweep_dead

    return JobShare(
        store,
        os.getpid(),
        lease,
        idle=dispatcher.idle,
        sweep=lambda dead, now: sweep_dead(store, dead, now),
        resume=lambda now, owns: resume_due(store, config(), dispatcher, now, owns),
        clock=clock,
    )


def _watchdog(engine: Engine, notifier: Notifier | None) -> None:
    """systemd's watchdog: the engine's loop pings it, waking at least as often."""
    if notifier is not None:
        engine.on_loop = notifier.loop
        engine.max_sleep_s = min(engine.max_sleep_s, notifier.ping_every_s or engine.max_sleep_s)


def _start_beside(
    stack: ExitStack,
    engine: Engine,
    paths: StatePaths,
    clock: Clock,
    web: tuple[str, int] | None,
    metrics: tuple[str, int, Callable[[Figures], str]] | None,
) -> None:
    """What runs beside the scheduler, off its thread: the web child, /metrics, the pruner."""
    if web is not None:
        from cronplus.webchild import start_web_child

        start_web_child(stack, str(engine.config.path), paths, *web)
    if metrics is not None:
        _serve_metrics(stack, engine, paths, clock, *metrics)
    pruner = Pruner(lambda: engine.config, paths, clock)
    pruner.start()
    stack.callback(pruner.stop)


def _serve_metrics(
    stack: ExitStack,
    engine: Engine,
    paths: StatePaths,
    clock: Clock,
    host: str,
    port: int,
    text: Callable[[Figures], str],
) -> None:
    """/metrics from a thread of the daemon: the jobs it runs now (a reload included),
    the state read as `cronplus metrics` reads it."""
    from cronplus.metrics import read_figures, serve_metrics

    def page() -> str:
        return text(read_figures(engine.config, paths, clock.now(), daemon_up=True))

    url = serve_metrics(stack, host, port, page)
    log.info("event=metrics_started url=%s", url)


def _hold(stack: ExitStack, paths: StatePaths) -> None:
    """Take the state folder's lock (one daemon per state) and write the pidfile;
    both are given back when `stack` closes."""
    try:
        paths.create()
        owner_only_file(paths.lock)
        fd = _lock(paths)
        stack.callback(os.close, fd)  # closing the descriptor gives the lock back
        stack.callback(paths.pidfile.unlink, missing_ok=True)
        owner_only_file(paths.pidfile)
        paths.pidfile.write_text(f"{os.getpid()}\n")
    except OSError as e:  # a read-only or full state folder: one line, not a traceback
        raise StateError(f"cannot use the state folder {paths.root}: {e.strerror}") from e


def _lock(paths: StatePaths) -> int:
    """The state's lock, held by an open descriptor: `flock` directly, as
    `read_daemon_pid` probes it (filelock imports asyncio: 4 MiB of an idle daemon's
    RSS, issue 12). A daemon still stopping gets `_LOCK_WAIT_S` to let go."""
    import fcntl

    fd = os.open(paths.lock, os.O_RDWR | os.O_CLOEXEC)
    for _ in range(_LOCK_TRIES):
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            time.sleep(_LOCK_WAIT_S / _LOCK_TRIES)
        except OSError:
            os.close(fd)
            raise
    os.close(fd)
    raise DaemonRunningError(str(paths.root), read_daemon_pid(paths))


def _open_waiting(paths: StatePaths, lease: timedelta, clock: Clock) -> Store:
    """The state, opened to write; a state database out of reach (a PostgreSQL server
    not up yet) is logged at each try and tried again, 1 s after the first, then twice
    as long each time up to a third of the lease, until it answers or a signal ends
    the daemon."""
    import threading

    wait, never = 1.0, threading.Event()
    while True:
        try:
            return open_store(paths)
        except StateUnreachableError as e:
            log.error("event=state-unreachable detail=%r; trying again in %gs", str(e), wait)
        clock.wait(never, wait)
        wait = min(wait * 2, max(lease.total_seconds() / 3, 1.0))


def _register(stack: ExitStack, store: Store, config: Config, clock: Clock) -> Registration:
    """List this daemon on the state under its host name (issue 17); it leaves the list
    when `stack` closes, after its runs' ends are recorded."""
    registration = register(store, DAEMON, config.lease, clock)
    stack.callback(registration.unregister)
    return registration


def _lost(registration: Registration, dispatcher: Dispatcher) -> None:
    """Another daemon judged this one dead (cut off from the state past its lease): its
    runs were taken over, so their attempts here are killed, and their ends are not
    recorded over the new owner's (`Store.finish_run`); its jobs go at the next check
    (`job_share`). The registration then lists it again, to take a share anew."""
    log.error("event=registration_lost pid=%d detail='declared dead by others'", os.getpid())
    store, me = registration.store, (registration.store.host, os.getpid())
    for control in dispatcher.going():
        with contextlib.suppress(StateError):
            if store.run_owner(control.run_id) != me:
                control.cut_short("interrupted: taken over while this daemon was cut off")


def _take_over(
    store: Store, config: Config, clock: Clock, previous: ProcessRecord | None
) -> list[Adopted]:
    """Settle or adopt what the previous daemon left, then note this one as the owner.
    `previous`: the dead daemon whose host name this one took (issue 17)."""
    if previous is not None:
        log.info(
            "event=replaces host=%s pid=%d started_at=%s",
            previous.host,
            previous.pid,
            previous.started_at.isoformat(),
        )
        store.drop_job_owners(previous.host, previous.pid)  # its jobs: free to take again
    last = previous.pid if previous is not None else store.last_daemon_pid()
    adopted = take_over(store, config, clock, last)
    store.mark_daemon_started(os.getpid())  # after: a crash in take_over keeps the last
    record_config(store, config)
    return adopted


def _start_heartbeat(stack: ExitStack, config: Config) -> None:
    if config.alerts is None or not config.alerts.heartbeat:
        return
    url = expand(config.alerts.heartbeat, alert_values(config))
    assert url is not None  # run_daemon checked its variables
    heartbeat = Heartbeat(url, config.alerts.heartbeat_every, config.alerts.timeout.total_seconds())
    heartbeat.start()
    stack.callback(heartbeat.stop)


def _keep_signals(stack: ExitStack) -> None:
    """Give the handlers back as they were once the daemon is done (it may run inside
    another program, a test for one)."""
    before = {s: signal.getsignal(s) for s in _SIGNALS}
    for s, handler in before.items():
        stack.callback(signal.signal, s, handler)


def _notifier(stack: ExitStack, clock: Clock) -> Notifier | None:
    """systemd's notify socket, if the daemon runs under a `Type=notify` unit."""
    from cronplus.sdnotify import notifier_from_env

    notifier = notifier_from_env(clock)
    if notifier is not None:
        stack.callback(notifier.close)
    return notifier


def _route_signals(engine: Engine, notifier: Notifier | None) -> None:
    def on_signal(signum: int, _frame: object) -> None:
        log.info("event=stopping detail='%s'", signal.Signals(signum).name)
        if notifier is not None:
            notifier.stopping()
        engine.request_stop()

    def on_hangup(_signum: int, _frame: object) -> None:
        log.info("event=reload detail='SIGHUP'")
        engine.request_reload()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_hangup)
