"""The JSON under /api/, each in the shape `--json` prints, from render's own
functions over report's answers (never rebuilt here): `/api/status` (`?on=DATE`:
`status --on`), `/api/jobs/NAME/history?limit=N`, `/api/runs/ID` (one run as in
`history --json`), `/api/next?job=NAME&n=N&after=ISO`. Errors are `{"error": ...}`."""

from __future__ import annotations

from datetime import datetime

from cronplus import report
from cronplus.intervals import Intervals
from cronplus.reading import with_items
from cronplus.render._base import going_run_json
from cronplus.render.reports import day_json, history_json, next_json, status_json
from cronplus.web._http import HttpError, Response, json_response, whole_number
from cronplus.web._routes import route
from cronplus.web.pages.job import HISTORY_LIMIT, MAX_LIMIT, parse_day, parse_when
from cronplus.web.pages.run import find_run
from cronplus.zones import zone

MAX_NEXT = 10_000  # as `cronplus next -n`: more is listed as this many


@route("GET", r"/api/status")
def api_status(view, req) -> Response:
    config = view.loaded().config
    names = list(config.jobs)
    now = view.now()
    on = req.query.get("on")
    with view.source.store() as store:
        if on:
            day = parse_day(on, "on")
            reports = [report.day_report(config, store, config.jobs[n], day, now) for n in names]
            return json_response(day_json(reports, Intervals(config)))
        rows = report.job_statuses(config, store, names, now)
    return json_response(status_json(rows, Intervals(config)))


@route("GET", r"/api/jobs/(?P<name>[^/]+)/history")
def api_history(view, req, name: str) -> Response:
    limit = _count(req.query.get("limit"), "limit", HISTORY_LIMIT, MAX_LIMIT)
    config = view.loaded().config
    job = config.jobs.get(name)
    now = view.now()
    with view.source.store() as store:
        runs = with_items(store, store.history(name, limit), config)  # issue 16
        if job is None and not runs:
            raise HttpError(404, f'no job "{name}" in the jobs file, and no run of it')
        states = [report.going_state(store, r, job, now) for r in runs]
    zone_ = job.timezone if job else "UTC"
    return json_response(history_json(runs, zone_, states, Intervals(config)))


@route("GET", r"/api/runs/(?P<run_id>[0-9]+)")
def api_run(view, req, run_id: str) -> Response:
    config = view.loaded().config
    with view.source.store() as store:
        (run,) = with_items(store, [find_run(store, run_id)], config)  # issue 16
        job = config.jobs.get(run.job)
        going = report.going_state(store, run, job, view.now())
    span = Intervals(config).of_run(run)
    tz = job.timezone if job else "UTC"
    return json_response(going_run_json(run, tz, going, span, job))


@route("GET", r"/api/next")
def api_next(view, req) -> Response:
    config = view.loaded().config
    count = min(_count(req.query.get("n"), "n", 5, None), MAX_NEXT)
    name = req.query.get("job")
    if name and name not in config.jobs:
        raise HttpError(404, f'no job "{name}" in the jobs file')
    jobs = [config.jobs[name]] if name else list(config.jobs.values())
    after = req.query.get("after")
    now = view.now()
    upcoming = [
        (j, report.upcoming(config, j, _after(after, j.timezone) if after else now, count))
        for j in jobs
    ]
    return json_response(next_json(upcoming))


def _count(text: str | None, key: str, default: int, most: int | None) -> int:
    if text is None or text == "":
        return default
    value = whole_number(text, key)
    if value < 1:
        raise HttpError(400, f"{key} {value} is less than 1")
    return value if most is None else min(value, most)


def _after(text: str, tz: str) -> datetime:
    """`next --after`: an ISO date-time, in the job's zone when it has no offset."""
    t = parse_when(text, "after", datetime)
    return t if t.tzinfo else t.replace(tzinfo=zone(tz))
