"""`run --log-format json` (issue 14): one JSON object per line on stderr, every line,
from a real daemon running a job that succeeds and one that fails."""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime

import pytest
from conftest import wait_until

from cronplus.events import json_fields


def objects(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines()]  # every line, or it raises


@pytest.mark.slow
def test_every_line_is_a_json_object_with_the_events_of_a_run(project, daemon):
    project.write("""
        [jobs.good]
        schedule = "* * * * * *"
        command = "echo fine"

        [jobs.bad]
        schedule = "* * * * * *"
        command = "exit 3"
        retries = 1
        retry_delay = "0s"
    """)
    d = daemon(run_args=("--log-format", "json"))

    def ended(job: str) -> bool:
        return any(o["event"] == "run_ended" and o.get("job") == job for o in objects(d.stderr))

    wait_until(lambda: ended("good") and ended("bad") or d.proc.poll() is not None, 20)
    assert d.terminate() == 0
    logged = objects(d.stderr)
    assert logged[0]["event"] == "daemon_started"
    assert logged[-1]["event"] == "daemon_stopped"
    for o in logged:
        assert {"time", "level", "event", "msg"} <= o.keys()
        assert o["time"].endswith("+00:00")
        assert datetime.fromisoformat(o["time"]).utcoffset() == UTC.utcoffset(None)
        assert o["level"] in ("info", "warning", "error")
        assert "=" not in o["event"] and "-" not in o["event"]
    events = {o["event"] for o in logged}
    assert {"daemon_started", "attempt_started", "attempt_ended", "run_ended"} <= events
    assert "daemon_stopping" in events

    def first(event: str, job: str, **want) -> dict:
        return next(
            o
            for o in logged
            if o["event"] == event and o.get("job") == job and want.items() <= o.items()
        )

    started = first("attempt_started", "bad", attempt=1)
    assert isinstance(started["run_id"], int)
    failed = first("attempt_ended", "bad", attempt=2, run_id=started["run_id"])
    assert failed["status"] == "failed" and failed["exit_code"] == 3
    assert failed["msg"] == "exit code 3"
    run = first("run_ended", "bad", run_id=started["run_id"])
    assert run["status"] == "failed" and "attempt" not in run
    assert run["msg"] == "exit code 3 (after 2 attempts)"
    good = first("attempt_ended", "good", attempt=1)
    assert good["status"] == "succeeded" and good["exit_code"] == 0
    assert first("run_ended", "good", run_id=good["run_id"])["status"] == "succeeded"
    assert first("daemon_started", None)["pid"] == d.proc.pid


def record(msg: str, *args: object, level: int = logging.INFO, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("cronplus", level, __file__, 1, msg, args, exc_info)


def test_a_text_line_becomes_fields_with_its_detail_as_msg():
    line = record("event=reloaded jobs=%d added=%s changed=- removed=%s", 3, "tock", "tick")
    assert json_fields(line) | {"time": "-"} == {
        "time": "-",
        "level": "info",
        "event": "reloaded",
        "msg": "reloaded",
        "jobs": 3,
        "added": "tock",
        "changed": "-",
        "removed": "tick",
    }
    quoted = json_fields(record("event=state-error detail=%r", "it's full"))
    assert quoted["event"] == "state_error" and quoted["msg"] == "it's full"
    held = json_fields(record("job=%s run=%s event=alert-held detail='%s'", "a b", 4, "x"))
    assert held["run_id"] == 4 and held["msg"] == "x"


def test_an_exception_keeps_its_traceback_on_the_one_line():
    try:
        raise ValueError("boom")
    except ValueError:
        fields = json_fields(
            record("event=reload-error", level=logging.ERROR, exc_info=sys.exc_info())
        )
    assert fields["level"] == "error" and fields["event"] == "reload_error"
    assert "ValueError: boom" in fields["traceback"]
    assert "\n" not in json.dumps(fields)
