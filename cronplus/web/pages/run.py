"""`/runs/ID` (`?attempt=N`, default the last): a run, its attempts, and the tail of an
attempt's log read from the file's end; `/runs/ID/attempts/N/log` the raw log
(`?offset=B`: from byte B). A running run's page follows its output and status:
app.js asks the raw log from where the page stopped and `/api/runs/ID`, and with
`?follow=1` (no script) the page asks to be loaded again while the run is going."""

from __future__ import annotations

from cronplus import report
from cronplus.model import Attempt, Run
from cronplus.render._base import duration, going_word
from cronplus.web._html import Markup, attrs, html, join
from cronplus.web._http import HttpError, Response, whole_number
from cronplus.web._layout import badge, page, status_word, time_tag
from cronplus.web._logs import TAIL_LINES, raw_log_response, tail
from cronplus.web._routes import route
from cronplus.web.pages.items import items_table

REFRESH_S = 2  # ?follow=1: how often the page is loaded again while the run is going
TIME = "%Y-%m-%d %H:%M:%S"


@route("GET", r"/runs/(?P<run_id>[0-9]+)")
def run_page(view, req, run_id: str) -> Response:
    loaded = view.loaded()
    now = view.now()
    with view.source.store() as store:
        run = find_run(store, run_id)
        job = loaded.config.jobs.get(run.job)
        going = report.going_state(store, run, job, now)
        fanned = items_table(store, run)  # issue 16: a for_each run's items
    tz = job.timezone if job else "UTC"
    number = _attempt_number(run, req.query.get("attempt"))
    refresh = req.query.get("follow") == "1" and not run.status.is_final
    live = not run.status.is_final and number == len(run.attempts) and not refresh
    word = status_word(run.status) if run.status.is_final else going_word(run, going)
    body = html(
        "{run}{items}{attempts}{log}",
        run=_run_facts(run, tz, word, live, number),
        items=fanned,
        attempts=_attempts(run, tz, number) if not fanned or run.attempts else "",
        log=_log(run, number),
    )
    resp = page(f"Run {run.id} of {run.job}", body, warning=loaded.warning)
    if refresh:  # a header, not an inline <meta>: it works without any script at all
        resp.headers.append(("Refresh", str(REFRESH_S)))
    return resp


def find_run(store, run_id: str) -> Run:
    """The run of a URL's id; 404 when there is none (an id past SQLite's integers too)."""
    run = store.get_run(int(run_id)) if len(run_id) <= 18 else None
    if run is None:
        raise HttpError(404, f"no run {run_id}")
    return run


def _attempt_number(run: Run, text: str | None) -> int:
    """`?attempt=N`, 1 to the run's attempts; the last by default (0: none yet)."""
    if text is None or text == "":
        return len(run.attempts)
    number = whole_number(text, "attempt")
    if not 1 <= number <= len(run.attempts):
        raise HttpError(404, f"run {run.id} has {len(run.attempts)} attempt(s), not {number}")
    return number


def _run_facts(run: Run, tz: str, word: str, live: bool, number: int) -> Markup:
    rows = [
        ("Job", html('<a href="/jobs/{}">{}</a>', run.job, run.job)),
        ("Logical time", time_tag(run.scheduled_for, tz, TIME + " %Z")),
        ("Trigger", str(run.trigger)),
        *(  # issue 16: a watch run's file
            [
                (
                    "File",
                    html('<span id="run-file">{}</span> ({} bytes)', run.file.path, run.file.size),
                )
            ]
            if run.file is not None
            else []
        ),
        ("Status", html('<span id="run-status">{}</span>', badge(str(run.status), word))),
        ("Reason", run.reason or "-"),
        ("Started", time_tag(run.started_at, tz, TIME)),
        ("Finished", time_tag(run.finished_at, tz, TIME)),
        ("Duration", duration(run.duration_s)),
    ]
    items = join(html("<dt>{}</dt><dd>{}</dd>", k, v) for k, v in rows)
    return html(
        '<dl class="facts" id="run"{}>{}</dl>',
        attrs(
            data_run_id=run.id,
            data_job=run.job,
            data_status=run.status,
            data_trigger=run.trigger,
            data_attempts=len(run.attempts),
            data_follow="1" if live else None,
            data_api=f"/api/runs/{run.id}",
        ),
        items,
    )


def _attempts(run: Run, tz: str, shown: int) -> Markup:
    if not run.attempts:
        return html('<p class="note" id="no-attempt">{}</p>', _no_attempt(run))
    rows = join(_attempt_row(run, a, tz, a.number == shown) for a in run.attempts)
    return html(
        '<h2>Attempts</h2><table id="attempts"><thead><tr><th scope="col">Attempt</th>'
        '<th scope="col">Trigger</th><th scope="col">Started</th><th scope="col">Finished</th>'
        '<th scope="col">Exit code</th><th scope="col">Signal</th><th scope="col">Reason</th>'
        "</tr></thead><tbody>{}</tbody></table>",
        rows,
    )


def _no_attempt(run: Run) -> str:
    if run.status.is_final:
        return f"No attempt: this run never started ({status_word(run.status)}: {run.reason})."
    return "No attempt yet: the run waits to start."


def _attempt_row(run: Run, a: Attempt, tz: str, shown: bool) -> Markup:
    last = a.number == len(run.attempts)
    return html(
        '<tr{}><td><a href="/runs/{}?attempt={}"{}>{}</a></td><td>{}</td><td>{}</td>'
        '<td class="finished">{}</td><td class="exit">{}</td><td class="signal">{}</td>'
        "<td>{}</td></tr>",
        attrs(
            data_attempt=a.number,
            data_exit_code="" if a.exit_code is None else a.exit_code,
            data_signal=a.signal,
            class_="shown" if shown else None,
        ),
        run.id,
        a.number,
        attrs(aria_current="true" if shown else None),
        a.number,
        a.trigger or run.trigger,
        time_tag(a.started_at, tz, TIME),
        time_tag(a.finished_at, tz, TIME),
        "-" if a.exit_code is None else a.exit_code,
        a.signal or "-",
        (run.reason or "-") if last and run.status.is_final else "-",
    )


def _log(run: Run, number: int) -> Markup:
    """The shown attempt's log: its last TAIL_LINES lines, the note about earlier ones
    outside `pre#log`, and the link to all of it."""
    if number == 0:
        return Markup("")
    path = run.attempts[number - 1].log
    raw = f"/runs/{run.id}/attempts/{number}/log"
    try:
        t = tail(path or "", going=run.attempts[number - 1].finished_at is None)
    except FileNotFoundError:
        return html('<p class="error" id="log-missing">The log file is gone: {}</p>', path or "-")
    except OSError as e:
        return html('<p class="error" id="log-missing">The log cannot be read: {}</p>', e)
    note = Markup("")
    if t.start > 0:
        note = html(
            '<p class="note" id="log-note">Earlier lines are not shown: the last {} lines '
            "(at most 256 KiB) follow, from byte {} of {}.</p>",
            f"{min(t.lines, TAIL_LINES):,}",
            f"{t.start:,}",
            f"{t.end:,}",
        )
    return html(
        "<h2>Log of attempt {n}</h2>{note}"
        '<p><a id="log-raw" href="{raw}" type="text/plain">The whole log, as plain text</a></p>'
        # The newline after <pre> is the one an HTML parser drops: a first empty line
        # of the log then stays.
        '<pre id="log" tabindex="0"{a}>\n{text}</pre>',
        n=number,
        note=note,
        a=attrs(data_offset=t.end, aria_label=f"log of attempt {number}"),
        text=t.text,
        raw=raw,
    )


@route("GET", r"/runs/(?P<run_id>[0-9]+)/attempts/(?P<number>[0-9]+)/log")
def raw_log(view, req, run_id: str, number: str) -> Response:
    """The attempt's log as text/plain from byte `?offset=` (0 by default); the header
    `X-Next-Offset` says where to ask from next (bytes, as the file counts them)."""
    with view.source.store() as store:
        run = find_run(store, run_id)
    n = _attempt_number(run, number)
    if n == 0:
        raise HttpError(404, f"run {run.id} has no attempt")
    offset = whole_number(req.query.get("offset", "0") or "0", "offset")
    path = run.attempts[n - 1].log or ""
    going = run.attempts[n - 1].finished_at is None
    return raw_log_response(path, offset, going=going, what=f"run {run.id} attempt {n}")
