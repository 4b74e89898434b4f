"""`status --watch`: a look at the state every second, shown by rich `Live` on a
terminal and as a plain snapshot each second when piped; Ctrl-C ends it (exit 0)."""

from __future__ import annotations

import signal
import sys
import threading
from typing import TYPE_CHECKING

from cronplus.clock import system_clock
from cronplus.errors import ExitCode

if TYPE_CHECKING:
    from cronplus.cli._context import Context

EVERY_S = 1.0


def watch(obj: Context, names: list[str]) -> ExitCode:
    from cronplus import report
    from cronplus.paths import read_daemon_pid
    from cronplus.render.watch import live_view, print_snapshot

    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    clock = system_clock()
    store = obj.store()

    def look() -> report.Watch:
        now = clock.now()
        return report.watch(obj.config, store, names, now, read_daemon_pid(obj.paths))

    if not sys.stdout.isatty():
        while not stop.is_set():
            start = clock.monotonic()
            print_snapshot(look(), obj.paths.root)
            clock.wait(stop, max(EVERY_S - (clock.monotonic() - start), 0.0))
        return ExitCode.OK
    from rich.live import Live

    with Live(live_view(look()), auto_refresh=False, redirect_stderr=False) as live:
        while True:
            start = clock.monotonic()
            live.update(live_view(look()), refresh=True)
            if clock.wait(stop, max(EVERY_S - (clock.monotonic() - start), 0.0)):
                return ExitCode.OK
