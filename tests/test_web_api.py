"""`cronplus web`'s JSON under /api/: the CLI's `--json` shapes, equal to what the CLI
prints for the same state (issue 13: Pages, Precise points)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from conftest import record
from selenium.webdriver.common.by import By

from cronplus.model import Trigger

T0 = datetime(2026, 3, 1, 2, 0, tzinfo=UTC)

JOBS = """
[jobs.extract]
schedule = "0 3 * * *"
timezone = "Europe/Paris"
command = "true"

[jobs.load]
after = ["extract"]
command = "true"
expected_duration = "1h"

[jobs.weekly]
schedule = "@weekly"
timezone = "America/New_York"
command = "true"

[jobs.manual_only]
command = "true"

[jobs.off]
schedule = "@daily"
command = "true"
enabled = false
"""


@pytest.fixture
def state(project, cli):
    """Runs of every kind: over, failed with retries, killed, going (its process alive:
    this one), skipped, a manual one, a paused job, and a job removed from the file."""
    project.write(JOBS + '\n[jobs.gone]\nschedule = "@daily"\ncommand = "true"\n')
    store = project.store()
    ids = {}
    for day in range(3):
        t = T0 + timedelta(days=day)
        ids[f"extract{day}"] = record(store, "extract", t, "succeeded").id
        ids[f"load{day}"] = record(store, "load", t, "failed", exits=(1, 2)).id
    ids["killed"] = record(store, "weekly", T0, "timed_out", exits=(None,), signal="SIGKILL").id
    ids["skipped"] = record(store, "weekly", T0 + timedelta(days=7), "skipped").id
    ids["manual"] = record(store, "manual_only", T0, "succeeded", trigger=Trigger.MANUAL).id
    ids["going"] = record(store, "extract", T0 + timedelta(days=3), "running").id
    ids["gone"] = record(store, "gone", T0, "failed", exits=(3,)).id
    store.close()
    project.write(JOBS)  # `gone` is removed; its history stays
    assert cli("pause", "weekly").exit_code == 0
    return ids


def api(server, path: str):
    status, headers, body = server.get(path)
    assert headers["Content-Type"] == "application/json", (path, headers)
    return status, json.loads(body)


def cli_json(cli, *args: str):
    result = cli(*args, "--json")
    return json.loads(result.stdout)


def test_api_status_equals_status_json(state, cli, web):
    server = web()
    status, body = api(server, "/api/status")
    assert status == 200
    # Nothing in this shape depends on the instant asked but the next fire times, and
    # these jobs' next ones are days apart.
    assert body == cli_json(cli, "status")
    assert [j["job"] for j in body] == ["extract", "load", "weekly", "manual_only", "off"]
    assert body[0]["running"][0]["id"] == state["going"]


@pytest.mark.parametrize("day", ["2026-03-01", "2026-03-02", "2026-03-08"])
def test_api_status_on_a_date_equals_status_on_json(state, cli, web, day):
    status, body = api(web(), f"/api/status?on={day}")
    assert status == 200
    assert body == cli_json(cli, "status", "--on", day)


def test_api_history_equals_history_json_and_keeps_a_removed_jobs(state, cli, web):
    server = web()
    for job, query, args in [
        ("load", "", ()),
        ("load", "?limit=2", ("--limit", "2")),
        ("extract", "?limit=100", ("--limit", "100")),
        ("weekly", "", ()),
        ("gone", "", ()),  # removed from the file: its history, in UTC, as the CLI
    ]:
        status, body = api(server, f"/api/jobs/{job}/history{query}")
        assert status == 200
        assert body == cli_json(cli, "history", job, *args), (job, query)
    assert len(api(server, "/api/jobs/load/history?limit=2")[1]) == 2


def test_api_run_is_the_run_as_history_shows_it(state, cli, web):
    server = web()
    for key in ("load1", "killed", "skipped", "manual", "going", "gone"):
        run_id = state[key]
        status, body = api(server, f"/api/runs/{run_id}")
        assert status == 200
        job = body["job"]
        expected = [r for r in cli_json(cli, "history", job, "--limit", "100") if r["id"] == run_id]
        assert [body] == expected, key


def test_api_next_equals_next_json(state, cli, web):
    server = web()
    after = "2026-03-29T01:30"  # Paris springs forward at 02:00 that night
    status, body = api(server, f"/api/next?job=extract&n=3&after={after}")
    assert status == 200
    assert body == cli_json(cli, "next", "extract", "-n", "3", "--after", after)
    assert body[0]["fire_times"][0] == "2026-03-29T03:00:00+02:00"
    status, body = api(server, f"/api/next?n=4&after={after}%2B05:00")
    assert body == cli_json(cli, "next", "-n", "4", "--after", after + "+05:00")
    # From now: every job, 5 fire times, as `next` with no argument. Days apart here,
    # so the instant the two are asked at does not matter.
    assert api(server, "/api/next")[1] == cli_json(cli, "next")
    assert api(server, "/api/next?job=weekly&n=2")[1] == cli_json(cli, "next", "weekly", "-n", "2")


@pytest.mark.parametrize(
    ("path", "code", "words"),
    [
        ("/api/jobs/nothing/history", 404, 'no job "nothing"'),
        ("/api/runs/999999", 404, "no run 999999"),
        ("/api/runs/99999999999999999999999", 404, "no run 99999999999999999999999"),
        ("/api/next?job=nothing", 404, 'no job "nothing"'),
        ("/api/jobs/load/history?limit=x", 400, 'limit "x" is not a whole number'),
        ("/api/jobs/load/history?limit=0", 400, "limit 0 is less than 1"),
        ("/api/next?n=-2", 400, 'n "-2" is not a whole number'),
        ("/api/next?after=tomorrow", 400, 'after "tomorrow" is not an ISO date-time'),
        ("/api/status?on=2026-02-30", 400, 'on "2026-02-30" is not a date'),
        ("/api/status?on=0001-01-01", 400, "out of range"),
        ("/api/nothing", 404, "nothing at /api/nothing"),
        # int() takes digits str.isdigit() calls so and a number of 5,000 digits: 400s
        ("/api/next?n=%C2%B2", 400, 'n "²" is not a whole number'),
        ("/api/next?n=%D9%A1%D9%A2", 400, 'n "١٢" is not a whole number'),
        ("/api/next?n=" + "9" * 5000, 400, "is not a whole number (0 to 18 digits)"),
        ("/api/jobs/load/history?limit=%2B5", 400, 'limit "+5" is not a whole number'),
    ],
)
def test_api_errors_are_json_with_their_status(state, web, path, code, words):
    status, body = api(web(), path)
    assert status == code and words in body["error"], body


def test_the_json_reads_in_a_real_browser(state, cli, web, browser):
    server = web()
    browser.get(f"{server.url}/api/runs/{state['killed']}")
    text = browser.find_element(By.TAG_NAME, "body").text
    body = json.loads(text)
    assert body["attempt_details"][0]["signal"] == "SIGKILL"
    assert body["status"] == "timed_out" and body["exit_code"] is None


def test_the_pages_and_json_import_no_rich_croniter_apprise_or_filelock(state, project):
    """Every URL here answered in a fresh process through the WSGI callable; then none
    of the heavy libraries is loaded (issue 13: Performance)."""
    import subprocess
    import sys

    script = f"""
import io, sys
from cronplus.clock import system_clock
from cronplus.web._app import App
from cronplus.web._guard import Settings
from cronplus.web._source import Source
app = App(Source("jobs.toml", {str(project.state)!r}, system_clock()), Settings("127.0.0.1", 1))
for url in sys.argv[1:]:
    path, _, query = url.partition("?")
    env = {{"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": query,
           "HTTP_HOST": "127.0.0.1", "wsgi.input": io.BytesIO()}}
    status = []
    b"".join(app(env, lambda s, h: status.append(s)))
    assert status[0].startswith("200"), (url, status)
heavy = ("rich", "croniter", "apprise", "filelock")
print(sorted(m for m in sys.modules if m.split(".")[0] in heavy))
"""
    urls = [
        "/jobs/load",
        "/jobs/gone",
        f"/runs/{state['load1']}",
        f"/runs/{state['load1']}?attempt=1",
        "/api/status",
        "/api/status?on=2026-03-01",
        "/api/jobs/load/history",
        f"/api/runs/{state['going']}",
        "/api/next",
    ]
    out = subprocess.run(
        [sys.executable, "-c", script, *urls], capture_output=True, text=True, cwd=project.root
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
