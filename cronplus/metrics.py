"""`cronplus metrics`: the figures Prometheus reads, gathered from the state, the jobs
file and the schedule (render's `metrics_text` writes them out); and the small HTTP
server that `run --metrics-port` serves them from.

A fixed number of reads whatever the number of jobs (issue 14: 1,000 jobs, a million
runs): the totals and the last durations the state keeps as runs end (a few rows a
job, never counted from the runs), each job's latest runs and the runs not over,
each read once for every job.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from cronplus.errors import CronplusError, UsageError
from cronplus.model import RunStatus
from cronplus.report import on_schedule, upcoming
from cronplus.store import RECENT_KEPT, open_store

if TYPE_CHECKING:
    from collections.abc import Callable
    from contextlib import ExitStack
    from http.server import HTTPServer

    from cronplus.model import Config
    from cronplus.paths import StatePaths
    from cronplus.store import Store

log = logging.getLogger("cronplus")

QUANTILES = (0.5, 0.9, 0.99)
RECENT_RUNS = RECENT_KEPT  # the runs the quantiles are taken over
FINAL = tuple(s for s in RunStatus if s.is_final)
# What `latest_run(finished_only=True)` can be, as `status` judges a job by: a skipped
# fire time does not hide the failure before it.
LAST_STATUSES = tuple(s for s in FINAL if s is not RunStatus.SKIPPED)
PATH = "/metrics"
SOCKET_TIMEOUT_S = 10.0  # a client that stalls holds the one serving thread this long


@dataclass(frozen=True, slots=True)
class JobFigures:
    """One job's figures; every job has all of them (0, or NaN for a quantile of no
    run), so a query never meets a series that is missing."""

    name: str
    runs: dict[RunStatus, int]  # each final status: how many times a run ended with it
    quantiles: tuple[float, ...]  # of QUANTILES, over its RECENT_RUNS latest timed runs
    duration_sum_s: float  # every run that had an attempt, ever
    duration_count: int
    last_success_at: datetime | None  # the latest `finished_at` of a succeeded run
    last_status: RunStatus | None  # its latest finished run's (LAST_STATUSES)
    running: int  # its runs not over (queued or running), as `status --json` lists them
    next_fire_at: datetime | None


@dataclass(frozen=True, slots=True)
class Figures:
    jobs: tuple[JobFigures, ...]
    daemon_up: bool


def gather(config: Config, store: Store, now: datetime, *, daemon_up: bool) -> Figures:
    """Every job's figures, in the jobs file's order."""
    names = list(config.jobs)
    totals = store.run_totals(names)
    recent = store.recent_durations(names)
    latest = store.latest_runs(names)
    going = Counter(r.job for r in store.unfinished_runs())
    scheduled = on_schedule(config)
    jobs = []
    for name in names:
        mine = totals.get(name, {})
        ok = mine.get(RunStatus.SUCCEEDED)
        finished = latest.get(name, (None, None))[1]
        nxt = upcoming(config, config.jobs[name], now, 1) if name in scheduled else []
        jobs.append(
            JobFigures(
                name=name,
                runs={s: mine[s].runs if s in mine else 0 for s in FINAL},
                quantiles=quantiles(recent.get(name, []), QUANTILES),
                duration_sum_s=sum(t.timed_s for t in mine.values()),
                duration_count=sum(t.timed for t in mine.values()),
                last_success_at=ok.last_finished_at if ok else None,
                last_status=finished.status if finished else None,
                running=going[name],
                next_fire_at=nxt[0] if nxt else None,
            )
        )
    return Figures(tuple(jobs), daemon_up)


def read_figures(config: Config, paths: StatePaths, now: datetime, *, daemon_up: bool) -> Figures:
    """`gather` on the state opened read-only for this one answer (a scrape comes from
    another thread than the daemon's store lives in)."""
    store = open_store(paths, create=False)
    try:
        return gather(config, store, now, daemon_up=daemon_up)
    finally:
        store.close()


def quantiles(values: list[float], qs: tuple[float, ...]) -> tuple[float, ...]:
    """Each q-quantile of `values`, linear between the two nearest ranks (as numpy's
    default); NaN for none, as Prometheus writes a summary with no observation."""
    xs = sorted(values)
    if not xs:
        return tuple(math.nan for _ in qs)
    out = []
    for q in qs:
        pos = q * (len(xs) - 1)
        lo = math.floor(pos)
        hi = min(lo + 1, len(xs) - 1)
        out.append(xs[lo] + (xs[hi] - xs[lo]) * (pos - lo))
    return tuple(out)


def serve_metrics(stack: ExitStack, host: str, port: int, page: Callable[[], str]) -> str:
    """Answer GET /metrics with `page()` (404 elsewhere) from one thread, until `stack`
    closes; the URL it listens at. Raises UsageError when it cannot listen there.
    The thread sleeps in a selector until a connection or the stop comes: no wake-up
    while nobody scrapes (idle.py counts them)."""
    import selectors
    import socket

    from cronplus.web import _load_http_without_ssl

    _load_http_without_ssl()  # http.server without ssl: 4.6 MiB of an idle daemon's RSS
    server = _bind(host, port, page)
    stop_r, stop_w = socket.socketpair()
    selector = selectors.DefaultSelector()
    selector.register(server, selectors.EVENT_READ)
    selector.register(stop_r, selectors.EVENT_READ)

    def loop() -> None:
        while all(key.fileobj is server for key, _ in selector.select()):
            server.handle_request()

    thread = threading.Thread(target=loop, name="cronplus-metrics", daemon=True)
    thread.start()
    for close in (server.server_close, stop_r.close, stop_w.close, selector.close):
        stack.callback(close)
    stack.callback(thread.join, SOCKET_TIMEOUT_S)
    stack.callback(stop_w.send, b"x")
    bound = server.server_address[1]
    return f"http://{_url_host(host)}:{bound}{PATH}"


def _bind(host: str, port: int, page: Callable[[], str]) -> HTTPServer:
    import socket
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Handler(BaseHTTPRequestHandler):
        timeout = SOCKET_TIMEOUT_S  # StreamRequestHandler sets it on the socket

        def do_GET(self) -> None:  # noqa: N802 (http.server's name)
            if self.path.split("?", 1)[0] != PATH:
                self._answer(404, "not found: the metrics are at /metrics\n")
                return
            try:
                body = page()
            except CronplusError as e:  # the state cannot be read just now
                log.warning("event=metrics_error detail='%s'", e)
                self._answer(503, f"{e}\n")
                return
            self._answer(200, body, "text/plain; version=0.0.4; charset=utf-8")

        def _answer(self, code: int, text: str, kind: str = "text/plain; charset=utf-8") -> None:
            data = text.encode()
            self.send_response(code)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass  # no access log: the daemon's log is for events

    class Server(HTTPServer):
        address_family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET

    try:
        return Server((host.strip("[]"), port), Handler)
    except OSError as e:
        where = f"{_url_host(host)}:{port}"
        raise UsageError(f"--metrics-port: cannot listen on {where}: {e.strerror or e}") from None


def _url_host(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host
