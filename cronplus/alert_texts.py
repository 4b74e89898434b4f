"""Alert message texts: what each alert says (title and body), as pure functions of
the run, job and times they are about; `alerts.Alerter` decides which are sent.

A run's message ends with the tail of its last attempt's output, as a terminal would
leave it (escape sequences and control characters removed, long lines cut)."""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Sequence
from datetime import datetime

from cronplus.delivery import Message
from cronplus.model import AlertEvent, Job, Run
from cronplus.zones import human_time, zone

TAIL_LINES = 20
TAIL_LINE_CHARS = 500  # a longer output line is cut there, marked with …

# Each event's words in a message's title.
WORDS = {
    AlertEvent.FAILURE: "failed",
    AlertEvent.TIMEOUT: "timed out",
    AlertEvent.RETRY: "retrying",
    AlertEvent.RECOVERY: "recovered",
    AlertEvent.MISSED: "missed a run",
    AlertEvent.LATE: "is late",
    AlertEvent.DEADLINE: "missed its deadline",
    AlertEvent.SUCCESS: "succeeded",
    AlertEvent.CONFIG: "configuration rejected",
    AlertEvent.TEST: "test message",
}


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
    event: AlertEvent, run: Run, tz: str, *, fold: str | None = None, status: str | None = None
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


def fold_text(event: AlertEvent, held: int, since: datetime | None, tz: str) -> str | None:
    if not held:
        return None
    noun = {"missed": "missed fire time"}.get(event, "failure")
    when = f" since {human_time(since, tz)}" if since else ""
    return f"And {held} more {noun}{'s' if held != 1 else ''}{when}, held back by repeat_after."


def late_message(run: Run, tz: str, expected_s: float) -> Message:
    message = run_message(AlertEvent.LATE, run, tz)
    body = f"Still running after its expected_duration of {expected_s:g}s.\n\n" + message.body
    return Message(AlertEvent.LATE, run.job, run.id, message.title, body)


def missed_message(
    name: str, times: Sequence[datetime], why: str, tz: str, fold: str | None
) -> Message:
    if len(times) == 1:
        what = f"Fire time {human_time(times[0], tz)} passed without a run: {why}."
    else:
        what = (
            f"{len(times)} fire times passed without a run, from {human_time(times[0], tz)} "
            f"to {human_time(times[-1], tz)}: {why}."
        )
    lines = [f"Job: {name}", what, f"Host: {socket.gethostname()}"]
    if fold:
        lines.append(fold)
    lines += ["", f"See: cronplus status --on {times[-1].astimezone(zone(tz)).date()} {name}"]
    title = f"cronplus: {name} {WORDS[AlertEvent.MISSED]}"
    return Message(AlertEvent.MISSED, name, None, title, "\n".join(lines))


def deadline_message(
    job: Job,
    t: datetime,
    run: Run | None,
    *,
    down: bool,
    more: int = 0,
    since: datetime | None = None,
) -> Message:
    """The run for fire time `t` had not succeeded by its deadline; what it does now.
    `more`: that many earlier fire times, from `since`, missed theirs too (one line)."""
    assert job.deadline is not None
    tz = job.timezone
    now = "no run" if run is None else f"{run.status}" + (f": {run.reason}" if run.reason else "")
    lines = [
        f"Job: {job.name}",
        f"Logical time: {human_time(t, tz)}",
        f"Deadline: {human_time(t + job.deadline, tz)}, and no run for it had succeeded by then.",
        f"Now: {now}",
    ]
    if down:
        lines.append("Sent as the daemon started: the daemon was down at the deadline.")
    if more and since is not None:
        times = f"{more} more fire time{'s' if more != 1 else ''}"
        their = "their deadline" if more != 1 else "its deadline"
        lines.append(f"And {times} since {human_time(since, tz)} missed {their}.")
    lines.append(f"Host: {socket.gethostname()}")
    lines.append("")
    if run is not None:
        lines.append(f"See more: cronplus logs {job.name} --run {run.id}")
    if more and since is not None:
        lines.append(f"See: {_days_problems(job.name, since, t, tz)}")
    elif run is None:
        lines.append(f"See: cronplus status --on {t.astimezone(zone(tz)).date()} {job.name}")
    title = f"cronplus: {job.name} {WORDS[AlertEvent.DEADLINE]}"
    return Message(AlertEvent.DEADLINE, job.name, run.id if run else None, title, "\n".join(lines))


def _days_problems(name: str, first: datetime, last: datetime, tz: str) -> str:
    """The command listing the fire times that did not succeed from `first` to `last`."""
    days = [x.astimezone(zone(tz)).date() for x in (first, last)]
    command = f"cronplus status --on {days[0]} {name} --problems"
    return command if days[0] == days[1] else f"{command} (and each day to {days[1]})"


def config_message(where: str, problems: Sequence[str]) -> Message:
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
    return Message(AlertEvent.CONFIG, None, None, f"cronplus: {WORDS[AlertEvent.CONFIG]}", body)


def alert_test_message(name: str | None, now: datetime) -> Message:
    body = "\n".join(
        [
            "This is a test alert from cronplus.",
            f"Job: {name or '(all jobs: [alerts])'}",
            f"Host: {socket.gethostname()}",
            f"Sent at: {now.isoformat(timespec='seconds')}",
        ]
    )
    return Message(AlertEvent.TEST, name, None, f"cronplus: {WORDS[AlertEvent.TEST]}", body)
