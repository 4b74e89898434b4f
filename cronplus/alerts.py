"""Alerts: what happened to a job, said once, through apprise, off the scheduling path.

The engine and the dispatcher report events (`run_ended`, `retrying`, `missed`,
`late`); this module decides whether they alert (the job's `on` list, dedupe
within `repeat_after`), writes the message, and delivers it through each channel
in a thread of its own. Every try is bounded (`TRY_TIMEOUT_S`, enforced by a join,
so a channel that accepts a connection and never answers cannot stall anything),
a failing channel is tried again with backoff, and the outcome is recorded in the
state (`cronplus alerts`).

URLs hold secrets (webhook tokens, SMTP passwords). They are expanded from
`${NAME}` only here, shown only as `redact(url)`, and scrubbed from any error
text before it is logged or stored. apprise is imported only to deliver,
and to check URLs for `validate`.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import parse_qsl, unquote, urlsplit

from cronplus._toml_lines import KeyLines
from cronplus.clock import Clock, system_clock
from cronplus.config import distrust
from cronplus.errors import ConfigError, Problem, StateError, did_you_mean
from cronplus.model import AlertsConfig, Config, Job, Run, RunStatus
from cronplus.store import Store
from cronplus.zones import human_time, zone

log = logging.getLogger("cronplus")

TRY_TIMEOUT_S = 10.0  # one delivery try through one channel ([alerts] timeout)
RETRIES = 3  # tries after the first, each after a longer pause
# Pauses of timeout/5 x 1, 2, 4 (2, 4 and 8 s by default): with the tries, a dead channel
# is recorded as not delivered within about a minute of the event.
TAIL_LINES = 20
TAIL_LINE_CHARS = 500  # a longer output line is cut there, marked with …
MAX_IN_FLIGHT = 64  # deliveries at once; beyond it an alert is recorded as not sent

WORDS = {
    "failure": "failed",
    "timeout": "timed out",
    "retry": "retrying",
    "recovery": "recovered",
    "missed": "missed a run",
    "late": "is late",
    "success": "succeeded",
    "config": "configuration rejected",
    "test": "test message",
}
# What repeats and is held within repeat_after, by event.
_KIND = {"failure": "failing", "timeout": "failing", "missed": "missed"}
_NOTIFY = {
    "failure": "failure",
    "timeout": "failure",
    "missed": "failure",
    "retry": "warning",
    "late": "warning",
    "config": "warning",
    "recovery": "success",
    "success": "success",
    "test": "info",
}
_VAR_RE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


# -- URLs and their secrets -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Channel:
    url: str  # expanded: a secret, never shown
    shown: str  # redact(url)

    def __repr__(self) -> str:  # a stray print or traceback must not leak it either
        return f"Channel({self.shown})"


# Schemes whose host part is a server's name. Many others keep a token there (slack://,
# discord://, pbul://o.TOKEN, tgram://BOT_TOKEN), so they show the scheme alone.
_HOST_SCHEMES = frozenset(
    f"{base}{s}"
    for base in (
        "mailto", "json", "xml", "form", "http", "mmost", "ntfy", "gotify",
        "matrix", "rocket", "apprise", "nctalk", "ncloud", "mqtt",
    )
    for s in ("", "s")
)  # fmt: skip


def _shows_host(url: str) -> str | None:
    """What `redact` shows of `url` after its scheme: the host, and its port if the URL
    has one (`smtp.example.com:587`); None where the host part may be a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in _HOST_SCHEMES:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return host if port is None else f"{host}:{port}"


def redact(url: str) -> str:
    """Scheme, host and port only, and the scheme alone where the host part may be a
    token; never the user, password, path or query."""
    try:
        scheme = urlsplit(url).scheme or "?"
    except ValueError:
        return "(unreadable URL)"
    host = _shows_host(url)
    return f"{scheme}://{host}" if host else f"{scheme}://…"


MIN_SECRET = 4  # shorter pieces are never scrubbed: a user name "u" would cut every word


def secrets_of(url: str) -> list[str]:
    """The pieces of a URL that may be secret, longest first, for scrubbing text: the
    whole URL, its user info, user, password, path, query, their segments and values
    (also percent-decoded), and a host that may be a token. Pieces shorter than
    MIN_SECRET characters are left out."""
    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    pieces = [parts.username, parts.password, parts.netloc, parts.path, parts.query]
    pieces += parts.path.split("/")
    for pair in parts.query.split("&"):
        pieces += pair.split("=", 1)[1:]
    pieces += [v for _, v in parse_qsl(parts.query)]
    if "@" in parts.netloc:
        pieces.append(parts.netloc.rsplit("@", 1)[0])  # user:password
    if parts.hostname:
        pieces += [parts.hostname, parts.netloc.rsplit("@", 1)[-1]]
    for piece in pieces:
        if piece:
            found.update({piece, unquote(piece)})
    shown = _shows_host(url)
    if shown:
        # Shown anyway: a server's name and port, not a secret.
        public = {shown.lower(), shown.rsplit(":", 1)[0].lower(), parts.hostname}
        found = {s for s in found if s.lower() not in public}
    return sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True)


def scrub(text: str, channels: Iterable[Channel]) -> str:
    """`text` with every secret piece of the channels' URLs replaced by `***`, in one
    pass, the longest piece first wherever pieces overlap."""
    secrets = {s for channel in channels for s in secrets_of(channel.url)}
    if not secrets:
        return text
    pattern = "|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True))
    return re.sub(pattern, "***", text)


def read_env_file(path: str | Path) -> dict[str, str]:
    """KEY=VALUE lines; `#` comments, blank lines and a leading `export ` are allowed,
    and one pair of surrounding quotes is removed."""
    text: str | None = None
    try:
        with open(path, "rb") as f:
            why = distrust(os.fstat(f.fileno()))
            text = None if why else f.read().decode("utf-8")
    except (OSError, UnicodeDecodeError) as e:
        why = e.strerror if isinstance(e, OSError) else "it is not UTF-8 text"
    if why or text is None:
        problem = Problem(Path(path).name, None, None, f"[defaults] env_file {path}: {why}")
        raise ConfigError([problem], Path(path).name) from None
    values = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.removeprefix("export ").split("=", 1)
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


def alert_env(config: Config) -> dict[str, str]:
    """The variables `${NAME}` may use: the environment, over the env_file's."""
    env = {}
    if config.env_file:
        env.update(read_env_file(config.env_file))  # ConfigError if it cannot be read
    env.update(os.environ)
    return env


def _display(config: Config) -> str:
    return config.path.name


def effective(config: Config, job: Job | None) -> AlertsConfig | None:
    """The alerts settings that apply to `job` (its own table over [alerts]); None when
    it sends none."""
    if job is None:
        return config.alerts
    if not job.alerts_enabled:
        return None
    return job.alerts or config.alerts


def missing_variables(config: Config, env: Mapping[str, str]) -> list[Problem]:
    """Every `${NAME}` in an alert or heartbeat URL that `env` does not set."""
    where = _display(config)
    problems = []
    tables: list[tuple[str, str | None, AlertsConfig]] = []
    if config.alerts is not None:
        tables.append(("[alerts]", None, config.alerts))
    tables += [
        (f"[jobs.{j.name}.alerts]", j.name, j.alerts) for j in config.jobs.values() if j.alerts
    ]
    seen = set()
    for label, job, table in tables:
        urls = [("urls", u) for u in table.urls]
        if table.heartbeat and job is None:
            urls.append(("heartbeat", table.heartbeat))
        for key, url in urls:
            for name in _VAR_RE.findall(url):
                if name not in env and (label, key, name) not in seen:
                    seen.add((label, key, name))
                    problems.append(
                        Problem(
                            where,
                            None,
                            job,
                            f'{label} {key}: variable "{name}" is not set '
                            "(export it, or set it in [defaults] env_file)",
                        )
                    )
    return problems


def expand(url: str, env: Mapping[str, str]) -> str | None:
    """The URL with `${NAME}` filled in, or None if a variable is not set."""
    try:
        return _VAR_RE.sub(lambda m: env[m.group(1)], url)
    except KeyError:
        return None


def unusable_urls(config: Config, env: Mapping[str, str]) -> list[Problem]:
    """Alert URLs apprise cannot read, and a heartbeat that is not an http(s) URL, each
    located on its key's line and shown only as `redact` shows it.

    Checked after `${NAME}` expansion and offline (apprise only parses them); a URL
    with a variable `env` does not set is `missing_variables`' to report. Imports
    apprise only when there is a URL to check.
    """
    lines = _key_lines(config.path)
    where = _display(config)
    found: list[Problem] = []

    def check(path: tuple[str, ...], job: str | None, label: str, url: str) -> None:
        expanded = expand(url, env)
        why = (
            None if expanded is None else _why_unusable(expanded, heartbeat=path[-1] == "heartbeat")
        )
        if why is not None:
            line = lines.line_of(*path) if lines is not None else None
            found.append(Problem(where, line, job, f"{label}: {why}"))

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


# -- messages -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Message:
    event: str
    job: str | None
    run_id: int | None
    title: str
    body: str

    @property
    def notify_type(self) -> str:
        return _NOTIFY.get(self.event, "info")


def _tail(path: str | None, lines: int = TAIL_LINES) -> list[str]:
    """The last `lines` lines of an attempt's output, each as a terminal would leave it
    (after its last carriage return), without escape sequences or control characters,
    and cut to TAIL_LINE_CHARS."""
    if not path:
        return []
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            start = max(0, f.tell() - 64 * 1024)
            f.seek(max(0, start - 1))
            data = f.read()
    except OSError:
        return []
    cut = start > 0 and data[:1] != b"\n"  # the window begins within a line
    if start > 0:
        data = data[1:]
    if cut:
        data = data.lstrip(bytes(range(0x80, 0xC0)))  # the rest of a cut character
    raw = data.decode("utf-8", errors="replace").split("\n")
    if raw[-1] == "":
        raw.pop()  # the newline that ends the last line
    if cut and raw:
        raw[0] = "…" + raw[0]
    return [_clean(line) for line in raw[-lines:]]


# Escape sequences: CSI (colours, cursor moves), OSC (window titles, links), ESC with
# intermediates (ESC ( B) and the two-character ones (ESC 7); then the control
# characters left, except tab, and Unicode line separators.
_ESCAPES_RE = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"
    r"|\x1b[ -/]*[0-~]"
)
_CONTROLS_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f-\x9f\u2028\u2029]")


def _clean(line: str) -> str:
    line = line.rstrip("\r").rsplit("\r", 1)[-1]
    line = _CONTROLS_RE.sub("", _ESCAPES_RE.sub("", line))
    if len(line) > TAIL_LINE_CHARS:
        line = line[: TAIL_LINE_CHARS - 1] + "…"
    return line


def run_message(
    event: str, run: Run, tz: str, *, fold: str | None = None, status: str | None = None
) -> Message:
    """The message about `run`; `status` replaces its Status line's text."""
    last = run.last_attempt
    if status is None:
        status = f"{run.status}" + (f": {run.reason}" if run.reason else "")
    lines = [
        f"Job: {run.job}",
        f"Logical time: {human_time(run.scheduled_for, tz)}",
        f"Trigger: {run.trigger}",
        f"Status: {status}",
        f"Attempts: {len(run.attempts)}",
    ]
    if run.duration_s is not None:
        lines.append(f"Duration: {run.duration_s:.1f}s")
    if last is not None and last.signal:
        lines.append(f"Signal: {last.signal}")
    elif last is not None and last.exit_code is not None:
        lines.append(f"Exit code: {last.exit_code}")
    lines.append(f"Host: {socket.gethostname()}")
    if fold:
        lines.append(fold)
    tail = _tail(last.log if last else None)
    if tail:
        what = "Last line" if len(tail) == 1 else f"Last {len(tail)} lines"
        lines += ["", f"{what} of attempt {last.number if last else '?'}:", *tail]
    lines += ["", f"See more: cronplus logs {run.job} --run {run.id}"]
    title = f"cronplus: {run.job} {WORDS[event]}"
    return Message(event, run.job, run.id, title, "\n".join(lines))


def _fold_text(event: str, held: int, since: datetime | None, tz: str) -> str | None:
    if not held:
        return None
    noun = {"missed": "missed fire time"}.get(event, "failure")
    when = f" since {human_time(since, tz)}" if since else ""
    return f"And {held} more {noun}{'s' if held != 1 else ''}{when}, held back by repeat_after."


# -- delivery -------------------------------------------------------------------------------


class _Captured(logging.Handler):
    """apprise's own warnings, which say why a try failed. apprise may log them from
    threads of its own, so they are kept with their time and matched to a try by
    time and host (the messages name the host)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[tuple[float, str]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append((time.monotonic(), record.getMessage()))
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


def send_once(message: Message, channel: Channel, timeout: float) -> str | None:
    """One try through one channel, bounded by `timeout`; None if delivered, else why
    not (scrubbed)."""
    outcome: dict[str, str | None] = {}

    def call() -> None:
        start = time.monotonic()
        try:
            import apprise

            _quiet_apprise()
            sender = apprise.Apprise(asset=apprise.AppriseAsset(async_mode=False))
            if not sender.add(_with_timeouts(channel.url, timeout)):
                outcome["error"] = "apprise does not accept this URL (check its scheme and form)"
                return
            ok = sender.notify(
                body=message.body,
                title=message.title,
                notify_type=message.notify_type,
                body_format=apprise.NotifyFormat.TEXT,
            )
            if ok:
                outcome["error"] = None
            else:
                said = _captured.since(start, urlsplit(channel.url).hostname or "")
                outcome["error"] = "; ".join(said[-2:]) or "the channel did not accept it"
        except Exception as e:  # a plugin's bug must not take the daemon down
            outcome["error"] = f"{type(e).__name__}: {e}"

    t = threading.Thread(target=call, name=f"alert-{channel.shown}", daemon=True)
    t.start()
    t.join(timeout + 1.0)
    if t.is_alive() or "error" not in outcome:
        return f"no answer within {timeout:g}s"
    error = outcome["error"]
    return None if error is None else scrub(error, [channel])[:500]


class Alerter:
    """Turns run events into messages and delivers them; one per process."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock | None = None,
        env: Mapping[str, str] | None = None,
        retries: int = RETRIES,
        warn_missing: bool = True,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock or system_clock()
        self.env = dict(os.environ) if env is None else dict(env)
        settings = config.alerts or AlertsConfig()
        self.try_timeout = settings.timeout.total_seconds()
        self.retries = retries
        self.backoff = self.try_timeout / 5
        self._threads: set[threading.Thread] = set()
        self._lock = threading.Lock()
        self._closed = False
        self._warn_missing_vars = warn_missing  # False: the caller warned already
        self._warned: set[str] = set()

    def reconfigure(self, config: Config, env: Mapping[str, str] | None = None) -> None:
        """A reloaded jobs file: its channels, events and timeouts from now on."""
        self.config = config
        if env is not None:
            self.env = dict(env)
        settings = config.alerts or AlertsConfig()
        self.try_timeout = settings.timeout.total_seconds()
        self.backoff = self.try_timeout / 5

    # -- who gets told --------------------------------------------------------------------

    def channels(self, job: Job | None) -> list[Channel]:
        settings = effective(self.config, job)
        if settings is None:
            return []
        found = []
        for position, template in enumerate(settings.urls, 1):
            url = expand(template, self.env)
            if url is None:
                self._warn_missing(template)
                continue
            found.append((position, url, redact(url)))
        # Channels that look the same redacted are told apart by their place in `urls`.
        same = Counter(shown for _, _, shown in found)
        return [
            Channel(url, f"{shown} #{position}" if same[shown] > 1 else shown)
            for position, url, shown in found
        ]

    def _warn_missing(self, template: str) -> None:
        names = [n for n in _VAR_RE.findall(template) if n not in self.env]
        key = ",".join(names)
        if self._warn_missing_vars and key not in self._warned:
            self._warned.add(key)
            log.warning(
                "event=alert-skipped detail='variable %s not set; alerts skip that URL'", key
            )

    def wants(self, job: Job | None, event: str) -> bool:
        settings = effective(self.config, job)
        return settings is not None and event in settings.on and bool(settings.urls)

    @property
    def repeat_after(self) -> timedelta:
        return (self.config.alerts or AlertsConfig()).repeat_after

    # -- events ---------------------------------------------------------------------------

    def run_ended(self, run: Run) -> None:
        job = self.config.jobs.get(run.job)
        if job is None:
            return
        if run.status is RunStatus.SUCCEEDED:
            settings = effective(self.config, job)
            if settings is None or not settings.urls:
                return  # no reads or writes per run for jobs that send no alerts
            before = self.store.previous_final(run.job, run.id)
            held, since = self.store.clear_holds(run.job, "failing")
            self.store.clear_holds(run.job, "missed")
            # Its own failure, not an upstream one or a daemon stop: those never alerted.
            recovered = before is not None and before.status in (
                RunStatus.FAILED,
                RunStatus.TIMED_OUT,
            )
            if recovered and self.wants(job, "recovery"):
                fold = _fold_text("failure", held, since, job.timezone)
                self._emit(run_message("recovery", run, job.timezone, fold=fold), job)
            if self.wants(job, "success"):
                self._emit(run_message("success", run, job.timezone), job)
            return
        event = {RunStatus.FAILED: "failure", RunStatus.TIMED_OUT: "timeout"}.get(run.status)
        if event is None or not self.wants(job, event):
            return  # upstream_failed: the root cause alerts; interrupted: a stop
        held = self.store.hold_or_send(run.job, _KIND[event], self.clock.now(), self.repeat_after)
        if held is None:
            log.info("job=%s run=%s event=alert-held detail='%s'", run.job, run.id, event)
            return
        fold = _fold_text(event, *held, job.timezone)
        self._emit(run_message(event, run, job.timezone, fold=fold), job)

    def retrying(self, run: Run, why: str) -> None:
        job = self.config.jobs.get(run.job)
        if job is None or not self.wants(job, "retry"):
            return
        current = self.store.get_run(run.id) or run
        # The run's reason while it waits is `why` itself: say it once.
        message = run_message("retry", current, job.timezone, status=f"retrying ({why})")
        self._emit(message, job)

    def late(self, run: Run) -> None:
        job = self.config.jobs.get(run.job)
        if job is None or not self.wants(job, "late") or job.expected_duration is None:
            return
        current = self.store.get_run(run.id) or run
        if current.status.is_final:
            return
        expected = job.expected_duration.total_seconds()
        message = run_message("late", current, job.timezone)
        body = f"Still running after its expected_duration of {expected:g}s.\n\n" + message.body
        self._emit(Message("late", run.job, run.id, message.title, body), job)

    def missed(self, name: str, times: list[datetime], why: str) -> None:
        job = self.config.jobs.get(name)
        if job is None or not times or not self.wants(job, "missed"):
            return
        held = self.store.hold_or_send(name, "missed", self.clock.now(), self.repeat_after)
        if held is None:
            log.info("job=%s event=alert-held detail='missed'", name)
            return
        tz = job.timezone
        if len(times) == 1:
            what = f"Fire time {human_time(times[0], tz)} passed without a run: {why}."
        else:
            what = (
                f"{len(times)} fire times passed without a run, from {human_time(times[0], tz)} "
                f"to {human_time(times[-1], tz)}: {why}."
            )
        lines = [f"Job: {name}", what, f"Host: {socket.gethostname()}"]
        fold = _fold_text("missed", *held, tz)
        if fold:
            lines.append(fold)
        lines += ["", f"See: cronplus status --on {times[-1].astimezone(zone(tz)).date()} {name}"]
        self._emit(
            Message("missed", name, None, f"cronplus: {name} {WORDS['missed']}", "\n".join(lines)),
            job,
        )

    def summary(self, job_name: str, title: str, body: str, *, failed: bool) -> None:
        """One message for a whole backfill."""
        job = self.config.jobs.get(job_name)
        event = "failure" if failed else "success"
        if job is None or not self.wants(job, event):
            return
        self._emit(Message(event, job_name, None, title, body), job)

    # -- delivery -------------------------------------------------------------------------

    def _emit(self, message: Message, job: Job | None) -> None:
        for channel in self.channels(job):
            t = threading.Thread(
                target=self._deliver, args=(message, channel), name="alert", daemon=True
            )
            with self._lock:
                crowded = len(self._threads) >= MAX_IN_FLIGHT
                if not crowded:
                    self._threads.add(t)
            if crowded:
                self.record(message, channel, f"not sent: {MAX_IN_FLIGHT} alerts in flight")
                continue
            t.start()

    def _deliver(self, message: Message, channel: Channel) -> None:
        try:
            error = None
            tries = 1 + self.retries
            for n in range(tries):
                error = send_once(message, channel, self.try_timeout)
                if error is None:
                    break
                if n + 1 < tries:
                    time.sleep(self.backoff * 2**n)
            if error is not None and tries > 1:
                error = f"{error} (after {tries} tries)"
            self.record(message, channel, error)
        except Exception:
            log.exception("event=alert-error channel=%s", channel.shown)
        finally:
            with self._lock:
                self._threads.discard(threading.current_thread())

    def record(self, message: Message, channel: Channel, error: str | None) -> None:
        with self._lock:
            closed = self._closed
        if not closed:
            try:
                self.store.record_alert(
                    self.clock.now(),
                    message.event,
                    message.job,
                    message.run_id,
                    channel.shown,
                    error is None,
                    error,
                )
            except StateError as e:  # a full disk: the log line below is all there is
                log.warning("event=alert-unrecorded detail=%r", str(e))
        log.log(
            logging.INFO if error is None else logging.WARNING,
            "job=%s event=alert alert=%s channel=%s sent=%s%s",
            message.job or "-",
            message.event,
            channel.shown,
            "yes" if error is None else "no",
            f" detail={error!r}" if error else "",
        )

    def close(self) -> None:
        """The store is closing: outcomes of deliveries still going are logged only."""
        with self._lock:
            self._closed = True

    def flush(self, timeout: float | None = None) -> None:
        """Wait for deliveries in flight (trigger and backfill, before they exit)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            with self._lock:
                pending = list(self._threads)
            if not pending:
                return
            for t in pending:
                left = None if deadline is None else max(0.0, deadline - time.monotonic())
                t.join(left)
            if deadline is not None and time.monotonic() >= deadline:
                return

    # -- alert-test -----------------------------------------------------------------------

    def config_rejected(self, where: str, problems: list[str]) -> None:
        """A changed jobs file the daemon refused: told through [alerts] (whatever its
        `on` says: nothing else would tell anyone the change did not take effect)."""
        body = "\n".join(
            [
                f"The jobs file {where} changed and has problems; the daemon keeps",
                "running the configuration it had. Fix the file: it is read again when",
                "saved, or on SIGHUP.",
                "",
                *problems,
                "",
                f"Host: {socket.gethostname()}",
            ]
        )
        message = Message("config", None, None, f"cronplus: {WORDS['config']}", body)
        self._emit(message, None)

    def test(self, job: Job | None) -> list[tuple[Channel, str | None]]:
        """Send a test message through each channel now; (channel, error or None)."""
        name = job.name if job else None
        body = "\n".join(
            [
                "This is a test alert from cronplus.",
                f"Job: {name or '(all jobs: [alerts])'}",
                f"Host: {socket.gethostname()}",
                f"Sent at: {datetime.now(UTC).isoformat(timespec='seconds')}",
            ]
        )
        message = Message("test", name, None, f"cronplus: {WORDS['test']}", body)
        results = []
        for channel in self.channels(job):
            error = send_once(message, channel, self.try_timeout)
            self.record(message, channel, error)
            results.append((channel, error))
        return results


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
