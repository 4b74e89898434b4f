"""The daemon's log: one line per event, on stderr, with its UTC time: `key=value`
(`text`), or one JSON object (`json`, issue 14).

Every module that logs a run's events uses `log_event`; the commands that run jobs
(`run`, `trigger`, `mark`) call `log_to_stderr` once.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

from cronplus.model import Run, RunStatus

log = logging.getLogger("cronplus")

LOG_FORMATS = ("text", "json")
_FINAL = {str(s) for s in RunStatus if s.is_final}
# The text log's words for what the JSON log names after its subject.
_RENAMED = {
    "started": "daemon_started",
    "stopping": "daemon_stopping",
    "stopped": "daemon_stopped",
    "start": "attempt_started",
}
_INTEGERS = {"run_id", "attempt", "exit_code", "pid", "jobs"}
_PAIR = re.compile(r"""([a-z_][\w-]*)=('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|\S*)""")


def log_event(
    run: Run,
    event: str,
    attempt: int | None = None,
    detail: str | None = None,
    *,
    exit_code: int | None = None,
) -> None:
    """One line per event, `key=value` so it greps and parses (the JSON log takes
    the same values from the record, `exit_code` too)."""
    parts = [f"job={run.job}", f"run={run.id}"]
    if attempt is not None:
        parts.append(f"attempt={attempt}")
    parts.append(f"event={event}")
    if detail:
        parts.append(f"detail={detail!r}")
    fields = {"job": run.job, "run_id": run.id, "attempt": attempt, "event": event}
    fields.update(detail=detail, exit_code=exit_code)
    log.info(" ".join(parts), extra={"cronplus": fields})


def json_fields(record: logging.LogRecord) -> dict[str, Any]:
    """A record as the JSON log's object: `time`, `level`, `event`, `msg`, then `job`,
    `run_id`, `attempt`, `status`, `exit_code` and whatever else the line says."""
    given = getattr(record, "cronplus", None)
    fields = dict(given) if given is not None else _parse(record.getMessage())
    event = str(fields.pop("event", None) or "message")
    detail = fields.pop("detail", None)
    status = None
    if event in _FINAL or event == "end":
        status = "succeeded" if event == "end" else event
        event = "run_ended" if fields.get("attempt") is None else "attempt_ended"
    time = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")
    event = _RENAMED.get(event, event.replace("-", "_"))
    if detail is None:  # the event in words: "run ended: failed", "daemon stopped"
        detail = event.replace("_", " ") + (f": {status}" if status else "")
    out: dict[str, Any] = {
        "time": time,
        "level": record.levelname.lower(),
        "event": event,
        "msg": detail,
    }
    if status is not None:
        out["status"] = status
    out.update((k, v) for k, v in fields.items() if v is not None)
    if record.exc_info:
        out["traceback"] = logging.Formatter().formatException(record.exc_info)
    return out


def _parse(text: str) -> dict[str, Any]:
    """The `key=value` pairs of a line logged as text (`run` becomes `run_id`)."""
    import ast

    fields: dict[str, Any] = {}
    for key, raw in _PAIR.findall(text):
        value: Any = raw
        if raw[:1] in "'\"" and len(raw) > 1:
            try:
                value = ast.literal_eval(raw)
            except (ValueError, SyntaxError):
                value = raw[1:-1]
        name = "run_id" if key == "run" else key.replace("-", "_")
        if name in _INTEGERS and isinstance(value, str) and value.isdigit():
            value = int(value)
        fields[name] = value
    return fields


class _TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return json.dumps(json_fields(record), ensure_ascii=False, default=str)


def log_to_stderr(log_format: str = "text") -> None:
    """One line per event on stderr, starting with the UTC time in ISO 8601 (`text`),
    or one JSON object per line (`json`).

    Idempotent, and always writes to the current sys.stderr: `trigger` can run more
    than once in one process (tests, CliRunner), which must not stack handlers or
    keep writing to a stream swapped out since.
    """

    class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
        @property  # type: ignore[override]
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, _: Any) -> None:
            pass

    logger = logging.getLogger("cronplus")
    handler = next((h for h in logger.handlers if h.get_name() == "cronplus-stderr"), None)
    if handler is None:
        handler = StderrHandler()
        handler.set_name("cronplus-stderr")
        logger.addHandler(handler)
    handler.setFormatter(_JsonFormatter() if log_format == "json" else _TextFormatter())
    logger.setLevel(logging.INFO)
