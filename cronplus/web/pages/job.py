"""`/jobs/NAME`: a job's schedule, its next fire times and its history, newest first,
filtered by a GET form as `cronplus history` lists it (a job removed from the file
keeps its history). `env` shows its keys only: the values may be secrets."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from typing import Any, TypeVar

from cronplus import report
from cronplus.config import pipeline_schedule
from cronplus.model import Job, Run, RunStatus, Trigger
from cronplus.render._base import duration, going_word
from cronplus.store import Store
from cronplus.web._html import Markup, attrs, html, join
from cronplus.web._http import HttpError, Response, whole_number
from cronplus.web._layout import badge, page, status_word, time_tag
from cronplus.web._routes import route
from cronplus.web.pages.actions import action_forms

HISTORY_LIMIT = 20  # as `cronplus history`
MAX_LIMIT = 2**62  # as `cronplus history --limit`: SQLite's integers are 64-bit
NEXT_COUNT = 10
_When = TypeVar("_When", date, datetime)


@dataclass(frozen=True, slots=True)
class HistoryFilter:
    """What `form#history-filter` asks: None matches anything. `since`/`until` are
    dates of the logical time in the job's zone, both inclusive."""

    status: RunStatus | None = None
    trigger: Trigger | None = None
    since: date | None = None
    until: date | None = None
    limit: int = HISTORY_LIMIT


def parse_filter(query: dict[str, str]) -> HistoryFilter:
    """The filter in a query string; 400 with the accepted values for a bad one."""
    status = _choice(query, "status", RunStatus)
    trigger = _choice(query, "trigger", Trigger)
    since, until = _date(query, "since"), _date(query, "until")
    if since and until and since > until:
        raise HttpError(400, f"since {since} is after until {until}")
    text = query.get("limit", "").strip()
    limit = whole_number(text, "limit") if text else HISTORY_LIMIT
    if limit < 1:
        raise HttpError(400, f"limit {limit} is less than 1")
    return HistoryFilter(status, trigger, since, until, min(limit, MAX_LIMIT))


def _choice(query: dict[str, str], key: str, kind: type[StrEnum]) -> Any:
    text = query.get(key, "").strip()
    if not text:
        return None
    try:
        return kind(text)
    except ValueError:
        accepted = ", ".join(str(v) for v in kind)
        raise HttpError(400, f'{key} "{text}" is not one of: {accepted}') from None


def _date(query: dict[str, str], key: str) -> date | None:
    text = query.get(key, "").strip()
    return parse_day(text, key) if text else None


def parse_day(text: str, key: str) -> date:
    """A YYYY-MM-DD date of the years the commands take; 400 otherwise."""
    return parse_when(text, key, date)


def parse_when(text: str, key: str, kind: type[_When]) -> _When:
    """A date, or with `kind` datetime an ISO date-time, of the years the commands take
    (2 to 9998: a time near the calendar's ends cannot be shifted into every zone)."""
    what = "an ISO date-time" if kind is datetime else "a date (use YYYY-MM-DD)"
    try:
        value = kind.fromisoformat(text)
    except ValueError:
        raise HttpError(400, f'{key} "{text}" is not {what}') from None
    if not 2 <= value.year <= 9998:
        raise HttpError(400, f'{key} "{text}" is out of range (years 2 to 9998)')
    return value


def filtered_runs(store: Store, name: str, tz: str, f: HistoryFilter) -> list[Run]:
    """The job's runs that `f` keeps, newest first (as `history`), at most `f.limit`:
    one read through the job's (job, logical time) index, however long its history."""
    return store.history(
        name,
        f.limit,
        status=f.status,
        trigger=f.trigger,
        start=report.day_bounds(f.since, tz)[0] if f.since else None,
        end=report.day_bounds(f.until, tz)[1] if f.until else None,
    )


@route("GET", r"/jobs/(?P<name>[^/]+)")
def job_page(view, req, name: str) -> Response:
    f = parse_filter(req.query)
    loaded = view.loaded()
    job = loaded.config.jobs.get(name)
    tz = job.timezone if job else "UTC"
    now = view.now()
    with view.source.store() as store:
        runs = filtered_runs(store, name, tz, f)
        if job is None and not runs and store.latest_run(name) is None:
            raise HttpError(404, f'no job "{name}" in the jobs file, and no run of it')
        words = [_word(r, report.going_state(store, r, job, now)) for r in runs]
        paused = store.paused_jobs().get(name)
    if job is None:
        facts = html(
            '<p class="note">{} is no longer in the jobs file; its history is kept.</p>', name
        )
        upcoming: list[datetime] = []
    else:
        facts = _facts(loaded.config, job, paused)
        upcoming = report.upcoming(loaded.config, job, now, NEXT_COUNT)
    body = html(
        "{facts}{actions}<h2>Next fire times</h2>{upcoming}"
        '<h2 id="history-title">History</h2>{form}{history}',
        facts=facts,
        actions=action_forms(view, name) if job else Markup(""),
        upcoming=_upcoming(upcoming, tz, job),
        form=_filter_form(name, f),
        history=_history(runs, words, tz),
    )
    return page(f"Job {name}", body, warning=loaded.warning)


def _word(run: Run, going: report.Going) -> str:
    return going_word(run, going) if not run.status.is_final else status_word(run.status)


def _facts(config, job: Job, paused: datetime | None) -> Markup:
    expr, _ = pipeline_schedule(config, job.name)
    if job.after:
        schedule = html(
            "after {} (the pipeline runs on <code>{}</code>)",
            ", ".join(job.after),
            expr or "triggers only",
        )
    else:
        schedule = html("<code>{}</code>", expr) if expr else Markup("triggered only")
    rows = [
        ("Schedule", schedule),
        ("Timezone", job.timezone),
        ("Description", job.description or "-"),
        ("Enabled", "yes" if job.enabled else "no (disabled in the jobs file)"),
    ]
    if paused is not None:
        rows.append(("Paused", html("since {}", time_tag(paused, job.timezone))))
    if job.env:
        keys = join((html("<code>{}</code>", k) for k in sorted(job.env)), ", ")
        rows.append(("Environment", html("{} (values not shown)", keys)))
    items = join(html("<dt>{}</dt><dd>{}</dd>", k, v) for k, v in rows)
    return html('<dl class="facts" id="job"{}>{}</dl>', attrs(data_job=job.name), items)


def _upcoming(times: list[datetime], tz: str, job: Job | None) -> Markup:
    items = join(html("<li>{}</li>", time_tag(t, tz, "%Y-%m-%d %H:%M:%S %Z")) for t in times)
    note = Markup("")
    if not times:
        note = html(
            '<p class="note">{}</p>', "none: it runs only when triggered" if job else "none"
        )
    return html('<ol id="next-fire-times">{}</ol>{}', items, note)


def _filter_form(name: str, f: HistoryFilter) -> Markup:
    def options(values: list[str], chosen: object) -> Markup:
        return join(
            html(
                "<option{}>{}</option>", attrs(value=v, selected=v == str(chosen or "")), v or "any"
            )
            for v in values
        )

    return html(
        '<form id="history-filter" method="get" action="/jobs/{name}"'
        ' aria-labelledby="history-title">'
        '<label>Status <select name="status">{statuses}</select></label> '
        '<label>Trigger <select name="trigger">{triggers}</select></label> '
        '<label>Since <input name="since" value="{since}"{date}></label> '
        '<label>Until <input name="until" value="{until}"{date}></label> '
        '<label>Limit <input type="number" name="limit" min="1" value="{limit}"></label> '
        '<button type="submit">Filter</button></form>',
        name=name,
        statuses=options(["", *(str(s) for s in RunStatus)], f.status),
        triggers=options(["", *(str(t) for t in Trigger)], f.trigger),
        since=f.since.isoformat() if f.since else "",
        until=f.until.isoformat() if f.until else "",
        limit=f.limit,
        date=Markup(' size="10" placeholder="YYYY-MM-DD" pattern="[0-9]{4}-[0-9]{2}-[0-9]{2}"'),
    )


def _history(runs: list[Run], words: list[str], tz: str) -> Markup:
    if not runs:
        return html('<p class="note" id="history-empty">{}</p>', "No runs match.")
    rows = join(
        html(
            '<tr{}><td><a href="/runs/{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td>'
            "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            attrs(data_run_id=r.id, data_status=r.status, data_trigger=r.trigger),
            r.id,
            r.id,
            time_tag(r.scheduled_for, tz, "%Y-%m-%d %H:%M:%S"),
            r.trigger,
            badge(str(r.status), word),
            len(r.attempts),
            duration(r.duration_s),
            exit_text(r),
            r.reason or "",
        )
        for r, word in zip(runs, words, strict=True)
    )
    return html(
        '<table id="history"><thead><tr><th scope="col">Run</th><th scope="col">Logical time</th>'
        '<th scope="col">Trigger</th><th scope="col">Status</th><th scope="col">Attempts</th>'
        '<th scope="col">Duration</th><th scope="col">Exit</th><th scope="col">Reason</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def exit_text(run: Run) -> str:
    """The last attempt's exit: its signal when killed, else its code; `-` for none."""
    last = run.last_attempt
    if last is None or (last.exit_code is None and last.signal is None):
        return "-"
    return last.signal or str(last.exit_code)
