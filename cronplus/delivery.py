"""Delivery: alert messages out through apprise, checking URLs for apprise, and the
heartbeat ping. The only module that imports apprise, and only inside functions.

Every delivery runs in one bounded pool of threads, off the scheduling path. A try
through a channel runs in that pool too, and its sender waits for it at most the
try's timeout (plus a second): a channel that accepts a connection and never
answers, or a name that never resolves, costs a record of "no answer", never a
stalled daemon. apprise's own socket timeouts (cto, rto) are set to the same
timeout, so such a try ends by itself soon after. A failing channel is tried again
with backoff; the outcome goes to the caller's `on_done` (the alerter records it).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

from cronplus._toml_lines import KeyLines
from cronplus.clock import SystemClock
from cronplus.config import expand
from cronplus.errors import Problem, did_you_mean
from cronplus.model import AlertEvent, Config
from cronplus.redact import Channel, redact, scrub

if TYPE_CHECKING:
    from concurrent.futures import Future

log = logging.getLogger("cronplus")
T = TypeVar("T")

RETRIES = 3  # tries after the first, each after a longer pause
# Pauses of timeout/5 x 1, 2, 4 (2, 4 and 8 s by default): with the tries, a dead channel
# is recorded as not delivered within about a minute of the event.
MAX_IN_FLIGHT = 64  # deliveries at once; beyond it an alert is recorded as not sent

_clock = SystemClock()  # only monotonic time: how long a try took, apprise's words since

# apprise's word for each event's kind (its colour or icon in most services).
_NOTIFY = {
    AlertEvent.FAILURE: "failure",
    AlertEvent.TIMEOUT: "failure",
    AlertEvent.MISSED: "failure",
    AlertEvent.DEADLINE: "failure",  # a promise broken, as a missed run is
    AlertEvent.RETRY: "warning",
    AlertEvent.LATE: "warning",
    AlertEvent.CONFIG: "warning",
    AlertEvent.RECOVERY: "success",
    AlertEvent.SUCCESS: "success",
    AlertEvent.TEST: "info",
}


@dataclass(frozen=True, slots=True)
class Message:
    event: AlertEvent
    job: str | None
    run_id: int | None
    title: str
    body: str

    @property
    def notify_type(self) -> str:
        return _NOTIFY.get(self.event, "info")


OnDone = Callable[[Message, Channel, str | None], None]


class Sender:
    """Delivers messages through channels in one bounded pool; one per alerter."""

    def __init__(self, timeout: float, retries: int, on_done: OnDone) -> None:
        self.timeout = timeout  # seconds for one try
        self.retries = retries
        self._on_done = on_done  # (message, channel, error or None), once per delivery
        # Deliveries, and the tries they wait for: at most two threads per delivery.
        self._pool = _Workers(2 * MAX_IN_FLIGHT)
        self._pending: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._stopping = threading.Event()

    def send(self, message: Message, channel: Channel) -> None:
        """Deliver in the background; beyond MAX_IN_FLIGHT deliveries, record it unsent."""
        with self._lock:
            crowded = len(self._pending) >= MAX_IN_FLIGHT
            if not crowded:
                future = self._pool.submit(self._deliver, message, channel)
                self._pending.add(future)
        if crowded:
            self._on_done(message, channel, f"not sent: {MAX_IN_FLIGHT} alerts in flight")
            return
        future.add_done_callback(self._forget)

    def _forget(self, future: Future[None]) -> None:
        with self._lock:
            self._pending.discard(future)

    def _deliver(self, message: Message, channel: Channel) -> None:
        try:
            error, made = None, 0
            for n in range(1 + self.retries):
                # Pauses of timeout/5 x 1, 2, 4...; a stop ends them and the retries.
                if n and self._stopping.wait(self.timeout / 5 * 2 ** (n - 1)):
                    break
                error, made = self.try_once(message, channel), n + 1
                if error is None:
                    break
            if error is not None and self.retries:
                error = f"{error} (after {made} tries)"
            self._on_done(message, channel, error)
        except Exception:
            log.exception("event=alert-error channel=%s", channel.shown)

    def try_once(self, message: Message, channel: Channel) -> str | None:
        """One try through one channel, bounded by the timeout; None if delivered, else
        why not (scrubbed)."""
        future = self._pool.submit(_send, message, channel, self.timeout)
        try:
            error = future.result(self.timeout + 1.0)
        except TimeoutError:
            future.cancel()  # still queued behind stuck tries: it never goes out late
            return f"no answer within {self.timeout:g}s"
        return None if error is None else scrub(error, [channel])[:500]

    def flush(self, timeout: float | None = None) -> None:
        """Wait for deliveries in flight, at most `timeout` seconds."""
        from concurrent import futures

        deadline = None if timeout is None else _clock.monotonic() + timeout
        while True:
            with self._lock:
                pending = [f for f in self._pending if not f.done()]
            if not pending:
                return
            left = None if deadline is None else max(0.0, deadline - _clock.monotonic())
            futures.wait(pending, left)
            if deadline is not None and _clock.monotonic() >= deadline:
                return

    def stop(self) -> None:
        """No more retries: deliveries still going end after their current try (the
        process waits for the pool's threads when it exits)."""
        self._stopping.set()


class _Workers:
    """At most `size` daemon threads running submitted calls, started as calls wait for
    one. Daemon threads, unlike concurrent.futures' workers (joined at exit), never
    keep a finished command waiting for an apprise call stuck on a dead network."""

    def __init__(self, size: int) -> None:
        import queue

        self._size = size
        self._calls: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]]
        self._calls = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._started = self._idle = self._waiting = 0

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        from concurrent.futures import Future

        future: Future[T] = Future()
        with self._lock:
            self._calls.put((future, fn, args))
            self._waiting += 1
            if self._waiting > self._idle and self._started < self._size:
                self._started += 1
                name = f"alert-{self._started}"
                threading.Thread(target=self._work, name=name, daemon=True).start()
        return future

    def _work(self) -> None:
        while True:
            with self._lock:
                self._idle += 1
            future, fn, args = self._calls.get()
            with self._lock:
                self._idle -= 1
                self._waiting -= 1
            if not future.set_running_or_notify_cancel():
                continue  # cancelled while it waited
            try:
                future.set_result(fn(*args))
            except BaseException as e:  # handed to whoever waits on it
                future.set_exception(e)


def _send(message: Message, channel: Channel, timeout: float) -> str | None:
    """One try through apprise; None if delivered, else why not (not yet scrubbed)."""
    start = _clock.monotonic()
    try:
        import apprise

        _quiet_apprise()
        sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
        if not sender.add(_with_timeouts(channel.url, timeout)):
            return "apprise does not accept this URL (check its scheme and form)"
        ok = sender.notify(
            body=message.body,
            title=message.title,
            notify_type=message.notify_type,
            body_format=apprise.NotifyFormat.TEXT,
        )
    except Exception as e:  # a plugin's bug must not take the daemon down
        return f"{type(e).__name__}: {e}"
    if ok:
        return None
    said = _captured.since(start, urlsplit(channel.url).hostname or "")
    return "; ".join(said[-2:]) or "the channel did not accept it"


class _Captured(logging.Handler):
    """apprise's own warnings, which say why a try failed. apprise may log them from
    threads of its own, so they are kept with their time and matched to a try by
    time and host (the messages name the host)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((_clock.monotonic(), record.getMessage()))
        del self.records[:-200]

    def since(self, start: float, host: str) -> list[str]:
        """What apprise said since `start` about `host`; nothing else, since another
        channel's words could carry that channel's token."""
        return [m for t, m in list(self.records) if t >= start and host and host in m]


_captured = _Captured()


def _quiet_apprise() -> None:
    """apprise logs whole URLs at DEBUG and some at WARNING: keep its records to the
    capture above (scrubbed before use), never on stderr."""
    logger = logging.getLogger("apprise")
    logger.setLevel(logging.WARNING)
    logger.propagate = False
    if _captured not in logger.handlers:
        logger.addHandler(_captured)


def _with_timeouts(url: str, seconds: float) -> str:
    """apprise's socket timeouts (cto, rto) unless the URL sets its own."""
    query = urlsplit(url).query
    keys = {k for k, _ in parse_qsl(query)}
    extra = [f"{k}={seconds:g}" for k in ("cto", "rto") if k not in keys]
    if not extra:
        return url
    return url + ("&" if "?" in url else "?") + "&".join(extra)


# -- URLs apprise cannot use (validate) -----------------------------------------------------


def unusable_urls(config: Config, env: Mapping[str, str]) -> list[Problem]:
    """Alert URLs apprise cannot read, and a heartbeat that is not an http(s) URL, each
    located on its key's line and shown only as `redact` shows it.

    Checked after `${NAME}` expansion and offline (apprise only parses them); a URL
    with a variable `env` does not set is reported by config as unset. Imports
    apprise only when there is a URL to check.
    """
    lines = _key_lines(config.path)
    found: list[Problem] = []

    def check(path: tuple[str, ...], job: str | None, label: str, url: str) -> None:
        expanded = expand(url, env)
        why = (
            None if expanded is None else _why_unusable(expanded, heartbeat=path[-1] == "heartbeat")
        )
        if why is not None:
            line = lines.line_of(*path) if lines is not None else None
            found.append(Problem(config.path.name, line, job, f"{label}: {why}"))

    inherited: tuple[str, ...] = ()
    if config.alerts is not None:
        inherited = config.alerts.urls
        for url in config.alerts.urls:
            check(("alerts", "urls"), None, "[alerts] urls", url)
        if config.alerts.heartbeat:
            check(("alerts", "heartbeat"), None, "[alerts] heartbeat", config.alerts.heartbeat)
    for job in config.jobs.values():
        if job.alerts is not None and job.alerts.urls != inherited:  # its own urls
            for url in job.alerts.urls:
                check(("jobs", job.name, "alerts", "urls"), job.name, "alerts.urls", url)
    return found


def _key_lines(path: Path) -> KeyLines | None:
    try:
        return KeyLines(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError):  # gone or changed since it was loaded
        return None


def _why_unusable(url: str, *, heartbeat: bool) -> str | None:
    """Why `url` cannot be used, or None; never quoting more of it than `redact` shows."""
    shown = redact(url) if "://" in url else None
    if heartbeat:
        # The daemon requests the heartbeat itself, with urllib: apprise is not involved.
        try:
            parts = urlsplit(url)
            ok = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
        except ValueError:
            ok = False
        what = f'"{shown}" is not' if shown else "a URL without a scheme, not"
        return None if ok else f"{what} an http:// or https:// URL (the daemon requests it)"
    if shown is None:
        return 'a URL without "scheme://" (apprise URLs look like "mailto://..." or "slack://...")'
    import apprise

    _quiet_apprise()
    try:
        if apprise.Apprise().add(url):
            return None
    except Exception:  # a plugin's bug is no reason to stop checking the file
        pass
    scheme = url.partition("://")[0].lower()
    known = _apprise_schemes()
    if known and scheme not in known:
        hint = did_you_mean(scheme, known)
        return f'"{shown}": apprise has no "{scheme}://" service{hint}'
    return f'"{shown}" is not a URL apprise can use (check its form in apprise\'s documentation)'


def _apprise_schemes() -> list[str]:
    """The schemes apprise knows, or [] if this apprise cannot list them."""
    try:
        from apprise.manager_plugins import NotificationManager

        return sorted(NotificationManager().schemas())
    except Exception:
        return []


# -- heartbeat ------------------------------------------------------------------------------


class Heartbeat:
    """Requests a URL every `every` while the daemon runs, so an outside monitor
    (healthchecks.io and the like) notices when the daemon is gone."""

    def __init__(self, url: str, every: timedelta, timeout: float) -> None:
        self.channel = Channel(url, redact(url))
        self.every = every.total_seconds()
        self.timeout = timeout
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.ping()
            self._stop.wait(self.every)

    def ping(self) -> bool:
        import urllib.request

        try:
            with urllib.request.urlopen(self.channel.url, timeout=self.timeout) as response:
                response.read(1024)
            return True
        except Exception as e:
            why = scrub(f"{type(e).__name__}: {e}", [self.channel])
            log.warning("event=heartbeat-failed channel=%s detail=%r", self.channel.shown, why)
            return False
