"""`/pools`: `cronplus pools` as a page, `table#pools` with one `tr[data-pool]` per pool
(the file's in its order, then those only the state still names): its size, the slots
in use, the runs holding them and the runs waiting in serving order, each a link to
its run. `/api/pools`: the same as `pools --json`. Both from `pool_report`."""

from __future__ import annotations

from cronplus.model import Job, PoolEntry
from cronplus.pool_report import PoolState, pool_states
from cronplus.render.pools import pools_json, zone_of
from cronplus.web._html import Markup, html, join
from cronplus.web._http import Request, Response, json_response
from cronplus.web._layout import compressed, page, time_tag
from cronplus.web._routes import route

_TIME = "%Y-%m-%d %H:%M:%S"


@route("GET", r"/pools")
def pools(view, req: Request) -> Response:
    loaded = view.loaded()
    config = loaded.config
    with view.source.store() as store:
        states = pool_states(config, store)
    if not states:
        body = html('<p class="empty">{} has no [pools] table.</p>', view.source.config_path)
        return page("Pools", body, warning=loaded.warning)
    body = html(
        '<table id="pools"><caption>Each pool\'s slots in use and by which runs, then the '
        "runs waiting for it in the order they will be served</caption><thead><tr>"
        '<th scope="col">Pool</th><th scope="col">Size</th><th scope="col">In use</th>'
        '<th scope="col">Holding</th><th scope="col">Waiting, next first</th></tr></thead>'
        "<tbody>\n{}</tbody></table>\n",
        join(_row(p, config.jobs) for p in states),
    )
    return compressed(req, page("Pools", body, warning=loaded.warning))


@route("GET", r"/api/pools")
def api_pools(view, req: Request) -> Response:
    config = view.loaded().config
    with view.source.store() as store:
        states = pool_states(config, store)
    return json_response(pools_json(states, config.jobs))


def _row(p: PoolState, jobs: dict[str, Job]) -> Markup:
    size = "removed from the jobs file" if p.size is None else p.size
    return html(
        '<tr data-pool="{}" data-size="{}" data-in-use="{}"><th scope="row">{}</th>'
        "<td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>\n",
        p.pool,
        "" if p.size is None else p.size,
        p.in_use,
        p.pool,
        size,
        p.in_use,
        _entries(p.holders, jobs, "ul", "holders", held=True, gone=p.gone),
        _entries(p.waiting, jobs, "ol", "waiting", held=False, gone=p.gone),
    )


def _entries(
    entries: tuple[PoolEntry, ...],
    jobs: dict[str, Job],
    tag: str,
    cls: str,
    *,
    held: bool,
    gone: frozenset[int],
) -> Markup:
    if not entries:
        return Markup("none")
    items = join(
        html(
            '<li data-run-id="{}"><a href="/runs/{}">run {}</a> {} · {} · {}{}{}</li>',
            e.run_id,
            e.run_id,
            e.run_id,
            e.job,
            f"{e.slots} slot{'s' * (e.slots != 1)}",
            html("{} pid {} · ", e.host, e.pid) if held else "",
            html("since {}", time_tag(e.since, zone_of(jobs, e.job), _TIME)),
            Markup(' · <strong class="gone">process gone</strong>') if e.run_id in gone else "",
        )
        for e in entries
    )
    return html('<{} class="{}">{}</{}>', Markup(tag), cls, items, Markup(tag))
