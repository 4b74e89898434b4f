"""`/` (`?hours=N`, default 24; `?page=P`): each job's last N hours as cells, its
last status and next fire time, the daemon, and `#problems`, the runs of the window
that ended without success, across all jobs.

At 1,000 jobs the page shows 50 jobs at a time (`_paging`): a row holds up to 96 cells
of ~160 bytes, and every job on one page would be megabytes of HTML and 50 times
the work of 20 jobs, where issue 13 allows 3 times. `#problems` covers every job
(and jobs no longer in the file): the `PROBLEMS_SHOWN` runs that ended badly last
(`?problems=all`: every one), read through the store's index of such runs by their
end."""

from __future__ import annotations

from datetime import datetime, tzinfo
from functools import cache

from cronplus import report
from cronplus.model import Run
from cronplus.paths import read_daemon_pid
from cronplus.web._html import Markup, attrs, escape, html, join
from cronplus.web._http import Request, Response
from cronplus.web._layout import badge, compressed, page, status_word, time_tag
from cronplus.web._paging import job_page, number
from cronplus.web._routes import route
from cronplus.web._window import MAX_CELLS, Bucket, Cell, FireTimes, Window, buckets, cells
from cronplus.zones import zone

PROBLEMS_SHOWN = 50  # a screen of them; `?problems=all` lists every one
MAX_HOURS = 24 * 31


@route("GET", r"/")
def overview(view, req: Request) -> Response:
    hours = number(req, "hours", 24, MAX_HOURS)
    loaded = view.loaded()
    config = loaded.config
    names = list(config.jobs)
    jobs = job_page(req, names)
    shown = jobs.shown
    window = Window(view.now().replace(microsecond=0), hours)
    with view.source.store() as store:
        rows = report.job_statuses(config, store, shown, window.now)
        runs = store.runs_between_of(shown, window.start, window.end)
        pruned = store.pruned_through(shown)
        every = req.query.get("problems") == "all"
        problems = store.ended_badly(window.start, 2**62 if every else PROBLEMS_SHOWN + 1)
    by_job: dict[str, list[Run]] = {}
    for r in runs:
        by_job.setdefault(r.job, []).append(r)
    times = FireTimes(config, window)
    body_rows = join(
        _row(
            r,
            cells(times.of(r.job), by_job.get(r.job.name, []), pruned.get(r.job.name)),
            window,
            hours > 24,
        )
        for r in rows
    )
    tz_of = {n: config.jobs[n].timezone for n in names}
    body = html(
        "{daemon}\n{form}\n{problems}\n"
        '<table id="overview"><caption>One row per job: a cell per run, oldest on the left, '
        "and one per fire time that passed with no run (or whose run was pruned)</caption>"
        '<thead><tr><th scope="col">Job</th><th scope="col">Last status</th>'
        '<th scope="col">Next fire time</th><th scope="col">Last {hours} hours</th></tr>'
        "</thead><tbody>\n{rows}</tbody></table>\n{pager}",
        daemon=_daemon(read_daemon_pid(loaded.paths)),
        form=_hours_form(hours),
        problems=_problems(problems, tz_of, hours, every),
        hours=hours,
        rows=body_rows,
        pager=jobs.nav("/", {"hours": hours}),
    )
    return compressed(req, page(f"Last {hours} hours", body, warning=loaded.warning))


def _row(r: report.JobStatus, row: list[Cell], window: Window, long: bool) -> Markup:
    job = r.job
    last = str(r.last_run.status) if r.last_run else ""
    if r.paused_since is not None:
        nxt = html("paused since {}", time_tag(r.paused_since, job.timezone))
    elif r.next_run is not None:
        nxt = time_tag(r.next_run, job.timezone, cls="next")
    else:
        nxt = Markup("-")
    z = zone(job.timezone)
    if len(row) > MAX_CELLS:
        drawn = join(_bucket(b, z, long) for b in buckets(row, window))
    else:
        drawn = join(_cell(c, z, long) for c in row)
    return html(
        '<tr data-job="{name}" data-last-status="{last}"><th scope="row">'
        '<a href="/jobs/{name}">{name}</a></th><td>{badge}</td><td>{nxt}</td>'
        '<td><ol class="cells" aria-label="{name}: {count} cells, oldest first">{drawn}</ol>'
        "</td></tr>\n",
        name=job.name,
        last=last,
        badge=badge(last or None),
        nxt=nxt,
        count=len(row),
        drawn=drawn,
    )


# A row holds up to 96 cells and a page 50 rows, so a cell is one f-string rather than
# an `html()` template: every value in it is a number, an ISO time or clock made here
# from a datetime, or a status or trigger word escaped once (`_once`) — none is text
# from a job, so nothing in a cell can become markup.
def _cell(c: Cell, z: tzinfo, long: bool) -> Markup:
    local = c.time.astimezone(z)
    when = local.isoformat()
    label = f"{_once(_word(c.status))} {_clock(local, long)}"
    status = _once(c.status)
    if c.run is None:
        return Markup(
            f'<li data-status="{status}" data-time="{when}"><a href="/ledger?date={when[:10]}"'
            f' aria-label="{label}"></a></li>'
        )
    run_id = int(c.run.id)
    return Markup(
        f'<li data-status="{status}" data-time="{when}" data-run-id="{run_id}" data-trigger='
        f'"{_once(c.run.trigger)}"><a href="/runs/{run_id}" aria-label="{label}"></a></li>'
    )


def _bucket(b: Bucket, z: tzinfo, long: bool) -> Markup:
    when = b.time.astimezone(z).isoformat()
    if b.status is None:
        return html(
            '<li class="empty" data-time="{}" data-count="0" aria-hidden="true"></li>', when
        )
    label = f"worst {_word(b.status)}, {b.count} cells from {_clock(b.time.astimezone(z), long)}"
    return html(
        '<li data-status="{}" data-time="{}" data-count="{}">'
        '<a href="/ledger?date={}" aria-label="{}"></a></li>',
        b.status,
        when,
        b.count,
        when[:10],
        label,
    )


@cache
def _word(status: str) -> str:
    return status_word(status)


@cache
def _once(word: str) -> Markup:
    return escape(str(word))


def _clock(local: datetime, long: bool) -> str:
    """`03:15`, or `12-04 03:15` in a window longer than a day (strftime is slower)."""
    short = f"{local.hour:02}:{local.minute:02}"
    return f"{local.month:02}-{local.day:02} {short}" if long else short


def _daemon(pid: int | None) -> Markup:
    if pid is None:
        return html('<p id="daemon" data-running="false">Daemon: not running</p>')
    shown = f"pid {pid}" if pid else "pid unknown"
    return html('<p id="daemon" data-running="true">Daemon: running, {}</p>', shown)


def _hours_form(hours: int) -> Markup:
    return html(
        '<form class="window" method="get" action="/"><label>Hours '
        '<input type="number" name="hours" min="1" max="{}" value="{}"></label> '
        "<button>Show</button></form>",
        MAX_HOURS,
        hours,
    )


def _problems(runs: list[Run], tz_of: dict[str, str], hours: int, every: bool) -> Markup:
    items = join(
        html(
            '<li{}><a href="/runs/{}">{} {} run {}</a> at {}{}</li>\n',
            attrs(data_run_id=r.id, data_job=r.job, data_status=str(r.status)),
            r.id,
            badge(str(r.status)),
            r.job,
            r.id,
            time_tag(r.scheduled_for, tz_of.get(r.job, "UTC")),
            html(": {}", r.reason) if r.reason else "",
        )
        for r in (runs if every else runs[:PROBLEMS_SHOWN])
    )
    if not runs:
        note = html(
            '<p class="none">No run ended failed, timed out, upstream failed or interrupted.</p>'
        )
    elif len(runs) > PROBLEMS_SHOWN and not every:
        note = html(
            '<p class="more">The {} that ended last. <a id="problems-all" '
            'href="/?hours={}&amp;problems=all">Show every one</a></p>',
            PROBLEMS_SHOWN,
            hours,
        )
    else:
        note = Markup("")
    return html(
        '<section aria-labelledby="problems-title"><h2 id="problems-title">'
        "Ended without success in the last {} hours</h2>{}"
        '<ul id="problems">\n{}</ul></section>',
        hours,
        note,
        items,
    )
