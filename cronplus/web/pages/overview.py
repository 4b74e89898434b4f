"""`/`: every job's last N hours (to be filled: cells, buckets, #problems)."""

from __future__ import annotations

from cronplus import report
from cronplus.web._html import html, join
from cronplus.web._http import Response
from cronplus.web._layout import badge, page
from cronplus.web._routes import route


@route("GET", r"/")
def overview(view, req) -> Response:
    loaded = view.loaded()
    config = loaded.config
    with view.source.store() as store:
        rows = report.job_statuses(config, store, list(config.jobs), view.now())
    body = html(
        '<table id="overview"><thead><tr><th>Job</th><th>Last</th></tr></thead><tbody>{}'
        "</tbody></table>",
        join(
            html(
                '<tr data-job="{}"><th scope="row"><a href="/jobs/{}">{}</a></th><td>{}</td></tr>',
                r.job.name,
                r.job.name,
                r.job.name,
                badge(str(r.last_run.status) if r.last_run else None),
            )
            for r in rows
        ),
    )
    return page("Last 24 hours", body, warning=loaded.warning)
