"""`/ledger?date=YYYY-MM-DD` (default: today in the host's zone; `&job=NAME` for one
job; 50 jobs a page, `&page=N`, as `/`): `status --on` as a table, every fire time of
the date beside its run (or `no_run`, or `not_yet_due` for one still to come), then
the date's other runs, from the same `report.day_report` the command prints. When a
job shown has a `deadline`, a Deadline column says of each row met, missed or ahead,
in words, and the row carries `data-deadline` (none for a row without a deadline)."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from urllib.parse import urlencode

from cronplus import report
from cronplus.deadline_report import Verdict
from cronplus.model import Run
from cronplus.render._base import going_word, iso
from cronplus.web._html import Markup, attrs, html, join
from cronplus.web._http import HttpError, Request, Response
from cronplus.web._layout import (
    NO_RUN,
    NOT_YET_DUE,
    PRUNED,
    badge,
    compressed,
    page,
    status_word,
    time_tag,
)
from cronplus.web._paging import job_page
from cronplus.web._routes import route

_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@route("GET", r"/ledger")
def ledger(view, req: Request) -> Response:
    now = view.now()
    day = _day(req.query.get("date"), now)
    loaded = view.loaded()
    config = loaded.config
    only = req.query.get("job") or None
    if only is not None and only not in config.jobs:
        raise HttpError(404, f'no job "{only}" in {view.source.config_path}')
    jobs = job_page(req, [only] if only else list(config.jobs))
    with view.source.store() as store:
        reports = [report.day_report(config, store, config.jobs[n], day, now) for n in jobs.shown]
    keep = {"job": only} if only else {}
    timed = any(r.job.deadline is not None for r in reports)

    def to(d: date) -> str:
        return f"/ledger?{urlencode({'date': d.isoformat(), **keep})}"

    body = html(
        '<form class="day" method="get" action="/ledger"><label>Date '
        '<input type="date" name="date" value="{day}" required></label>{hidden} '
        "<button>Show</button></form>\n"
        '<nav class="days" aria-label="other dates"><a rel="prev" href="{prev_href}">'
        'Previous day ({prev})</a> <a rel="next" href="{next_href}">Next day ({next})'
        "</a></nav>\n"
        '<table id="ledger"><caption>Every fire time of {day} beside its run, in each job\'s '
        'zone, then the other runs of the date</caption><thead><tr><th scope="col">Job</th>'
        '<th scope="col">Time</th><th scope="col">Status</th>{deadline}<th scope="col">Trigger</th>'
        '<th scope="col">Run</th><th scope="col">Attempts</th><th scope="col">Reason</th>'
        "</tr></thead><tbody>\n{rows}</tbody></table>\n{pager}",
        day=day.isoformat(),
        deadline=Markup('<th scope="col">Deadline</th>') if timed else "",
        hidden=html('<input type="hidden" name="job" value="{}">', only) if only else "",
        prev=(day - timedelta(days=1)).isoformat(),
        prev_href=to(day - timedelta(days=1)),
        next=(day + timedelta(days=1)).isoformat(),
        next_href=to(day + timedelta(days=1)),
        rows=join(_rows(r, timed) for r in reports),
        pager=jobs.nav("/ledger", {"date": day.isoformat(), **keep}),
    )
    return compressed(req, page(f"Ledger of {day.isoformat()}", body, warning=loaded.warning))


def _day(text: str | None, now: datetime) -> date:
    """The date asked for; today in the host's local zone when none is."""
    if text is None or text == "":
        return now.astimezone().date()
    try:
        if not _DATE.fullmatch(text):
            raise ValueError
        day = date.fromisoformat(text)
    except ValueError:
        raise HttpError(400, f'date "{text}" is not a date (use YYYY-MM-DD)') from None
    if not 2 <= day.year <= 9998:  # as the commands: every zone can shift it
        raise HttpError(400, f'date "{text}" is out of range (years 2 to 9998)')
    return day


def _rows(r: report.DayReport, timed: bool) -> Markup:
    """The job's rows in time order, as `status --on` prints them; `timed`: the table
    has a Deadline column."""
    lines: list[tuple[datetime, int, Markup]] = []
    for s in r.slots:
        v = r.verdict(s)
        if s.run is None:
            lines.append((s.fire_time, 0, _no_run_row(r, s, _deadline(v, r, timed))))
        else:
            lines.append((s.fire_time, s.run.id, _run_row(r, s.run, _deadline(v, r, timed))))
    for run in r.other_runs:
        cell = _deadline(r.run_verdict(run), r, timed)
        lines.append((run.scheduled_for, run.id, _run_row(r, run, cell)))
    if not lines:
        return html(
            '<tr data-job="{}" class="nothing"><th scope="row">{}</th>'
            '<td colspan="{}">no fire times on this date</td></tr>\n',
            r.job.name,
            r.job.name,
            7 if timed else 6,
        )
    lines.sort(key=lambda x: (x[0], x[1]))
    return join(row for _, _, row in lines)


def _deadline(v: Verdict, r: report.DayReport, timed: bool) -> tuple[Markup, Markup]:
    """The row's `data-deadline` attribute and its Deadline cell (none without the
    column): the verdict's word, and the instant it is due by."""
    if not timed:
        return Markup(""), Markup("")
    word = v.word
    if word == "-":
        return Markup(""), Markup("<td>-</td>")
    due = time_tag(v.at, r.job.timezone, "%Y-%m-%d %H:%M:%S")
    return attrs(data_deadline=word), html("<td>{} (due by {})</td>", word, due)


def _no_run_row(r: report.DayReport, s: report.Slot, deadline: tuple[Markup, Markup]) -> Markup:
    t = s.fire_time
    status = PRUNED if r.is_pruned(s) else NO_RUN if s.due else NOT_YET_DUE
    tz = r.job.timezone
    return html(
        '<tr data-job="{}" data-time="{}" data-status="{}"{}><th scope="row">{}</th>'
        "<td>{}</td><td>{}</td>{}<td>-</td><td>-</td><td>-</td><td></td></tr>\n",
        r.job.name,
        iso(t, tz),
        status,
        deadline[0],
        r.job.name,
        time_tag(t, tz, "%H:%M:%S"),
        badge(status, status_word(status)),
        deadline[1],
    )


def _run_row(r: report.DayReport, run: Run, deadline: tuple[Markup, Markup]) -> Markup:
    tz = r.job.timezone
    return html(
        '<tr data-job="{}" data-time="{}" data-status="{}" data-run-id="{}" data-trigger="{}"{}>'
        '<th scope="row">{}</th><td>{}</td><td>{}</td>{}<td>{}</td><td><a href="/runs/{}">{}</a>'
        "</td><td>{}</td><td>{}</td></tr>\n",
        r.job.name,
        iso(run.scheduled_for, tz),
        run.status,
        run.id,
        run.trigger,
        deadline[0],
        r.job.name,
        time_tag(run.scheduled_for, tz, "%H:%M:%S"),
        badge(str(run.status), going_word(run, r.state_of(run))),
        deadline[1],
        run.trigger,
        run.id,
        run.id,
        len(run.attempts),
        run.reason or "",
    )
