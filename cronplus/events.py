"""The daemon's log: one `key=value` line per event, on stderr, with its UTC time.

Every module that logs a run's events uses `log_event`; the commands that run jobs
(`run`, `trigger`, `mark`) call `log_to_stderr` once.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

from cronplus.model import Run

log = logging.getLogger("cronplus")


def log_event(run: Run, event: str, attempt: int | None = None, detail: str | None = None) -> None:
    """One line per event, `key=value` so it greps and parses."""
    parts = [f"job={run.job}", f"run={run.id}"]
    if attempt is not None:
        parts.append(f"attempt={attempt}")
    parts.append(f"event={event}")
    if detail:
        parts.append(f"detail={detail!r}")
    log.info(" ".join(parts))


def log_to_stderr() -> None:
    """One line per event on stderr, starting with the UTC time in ISO 8601.

    Idempotent, and always writes to the current sys.stderr: `trigger` can run more
    than once in one process (tests, CliRunner), which must not stack handlers or
    keep writing to a stream swapped out since.
    """

    class Formatter(logging.Formatter):
        def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
            return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")

    class StderrHandler(logging.StreamHandler):  # type: ignore[type-arg]
        @property  # type: ignore[override]
        def stream(self) -> Any:
            return sys.stderr

        @stream.setter
        def stream(self, _: Any) -> None:
            pass

    logger = logging.getLogger("cronplus")
    if not any(h.get_name() == "cronplus-stderr" for h in logger.handlers):
        handler = StderrHandler()
        handler.set_name("cronplus-stderr")
        handler.setFormatter(Formatter("%(asctime)s %(message)s"))
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
