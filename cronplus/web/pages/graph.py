"""`/graph`: the `after` graph, laid out on the server (`_layout_graph.py`) as an
inline `svg#graph`, each job a link to its page with its latest run's status as a
shape and a word; and `ul#edges`, the same edges in words. `/graph.svg` is the same
drawing alone.

The drawing sets its colours and shapes with SVG attributes rather than classes, so
`/graph.svg` looks the same opened alone or in an `<img>`, where no stylesheet
reaches it. The colours are app.css's; the shapes follow its glyphs (a filled
square for `failed`, an outlined, crossed one for `upstream_failed`: apart in
greyscale too)."""

from __future__ import annotations

from cronplus.config import config_dag
from cronplus.model import Config
from cronplus.web._html import Markup, attrs, escape, html, join
from cronplus.web._http import Response
from cronplus.web._layout import page, status_word
from cronplus.web._layout_graph import NODE_H, NODE_W, Layout, layout
from cronplus.web._routes import route

NAME_CHARS = 24  # longer names are cut, the whole name in the link's title
SQUEEZE_FROM = 15  # names this long are fitted to the box (textLength), never past it
TEXT_X = 30
TEXT_W = NODE_W - TEXT_X - 8

# Each glyph inside the 12 x 12 square at (10, 17) of its box; trusted literals.
GLYPHS = {
    "succeeded": '<circle cx="16" cy="23" r="6" fill="#00785a"/>',
    "failed": '<rect x="10" y="17" width="12" height="12" fill="#b8420b"/>',
    "upstream_failed": '<rect x="11" y="18" width="10" height="10" fill="none" stroke="#b8420b"'
    ' stroke-width="2"/><path d="M11 28L21 18" stroke="#b8420b" stroke-width="2"/>',
    "timed_out": '<path d="M16 16L23 23L16 30L9 23z" fill="#8e3b86"/>',
    "interrupted": '<rect x="11" y="18" width="10" height="10" fill="none" stroke="#7a6000"'
    ' stroke-width="2"/><rect x="11" y="18" width="5" height="10" fill="#7a6000"/>',
    "running": '<path d="M10 17L22 23L10 29z" fill="#005a9c"/>',
    "queued": '<circle cx="16" cy="23" r="5" fill="none" stroke="#005a9c" stroke-width="2"/>',
    "skipped": '<rect x="10" y="21" width="12" height="3" fill="#606060"/>',
    "never": '<circle cx="16" cy="23" r="2.5" fill="#555"/>',
}
ARROW = (
    '<defs><marker id="graph-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8"'
    ' markerHeight="8" orient="auto"><path d="M0 0L10 5L0 10z" fill="#555"/></marker></defs>'
)


def statuses(view, config: Config) -> dict[str, str]:
    """Each job's latest run's status; a job that never ran is left out."""
    with view.source.store() as store:
        latest = store.latest_runs(config.jobs)
    return {name: str(runs[0].status) for name, runs in latest.items()}


def drawing(config: Config, status: dict[str, str]) -> tuple[Markup, Layout]:
    """The `svg#graph` of `config`'s jobs, and its layout."""
    deps = {name: job.after for name, job in config.jobs.items()}
    placed = layout(deps, config_dag(config).order)
    nodes = join(_node(b.name, b.x, b.y, status.get(b.name)) for b in placed.boxes)
    edges = join(
        html(
            '<g class="edge" data-from="{}" data-to="{}"><path d="{}" fill="none"'
            ' stroke="#555" stroke-width="1.5" marker-end="url(#graph-arrow)"/></g>',
            e.first,
            e.then,
            e.path,
        )
        for e in placed.edges
    )
    svg = html(
        '<svg id="graph" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}"'
        ' viewBox="0 0 {w} {h}" font-family="system-ui, sans-serif" font-size="13"'
        ' role="group" aria-label="Jobs and the jobs they run after">{arrow}'
        '<g class="edges">{edges}</g><g class="nodes">{nodes}</g></svg>',
        w=placed.width,
        h=placed.height,
        arrow=Markup(ARROW),
        edges=edges,
        nodes=nodes,
    )
    return svg, placed


# One template for every node (a trusted literal, its sizes filled in once); only the
# name, position, status and glyph vary, each escaped once however often it appears.
_NODE = (
    '<g class="node"{attrs} transform="translate({x},{y})"><a href="/jobs/{name}">'
    "<title>{name}: {word}</title>"
    f'<rect class="box" width="{NODE_W}" height="{NODE_H}" rx="4" fill="#fff" stroke="#767676"/>'
    f'{{glyph}}<text x="{TEXT_X}" y="19" fill="#1a1a1a"{{fit}}>{{shown}}</text>'
    f'<text class="word" x="{TEXT_X}" y="37" fill="#555">{{word}}</text></a></g>'
)
_FIT = attrs(textLength=TEXT_W, lengthAdjust="spacingAndGlyphs")
_GLYPHS = {status: Markup(shape) for status, shape in GLYPHS.items()}


def _node(name: str, x: int, y: int, status: str | None) -> Markup:
    shown = name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"
    return html(
        _NODE,
        attrs=attrs(data_job=name, data_status=status),
        x=x,
        y=y,
        name=escape(name),
        word=escape(status_word(status) if status else "never run"),
        glyph=_GLYPHS.get(status or "never", _GLYPHS["never"]),
        fit=_FIT if len(shown) >= SQUEEZE_FROM else Markup(""),
        shown=shown,
    )


@route("GET", r"/graph")
def graph_page(view, req) -> Response:
    loaded = view.loaded()
    svg, placed = drawing(loaded.config, statuses(view, loaded.config))
    words = join(
        html(
            '<li data-from="{}" data-to="{}"><a href="/jobs/{}">{}</a> runs after '
            '<a href="/jobs/{}">{}</a></li>',
            e.first,
            e.then,
            e.then,
            e.then,
            e.first,
            e.first,
        )
        for e in placed.edges
    )
    none = Markup("") if placed.edges else html("<p>No job runs after another.</p>")
    body = html(
        '<p><a href="/graph.svg">This graph as SVG</a></p>'
        '<div class="graph-wrap">{}</div>\n<h2>Edges</h2>{}<ul id="edges">{}</ul>',
        svg,
        none,
        words,
    )
    return page("Graph", body, warning=loaded.warning)


@route("GET", r"/graph\.svg")
def graph_svg(view, req) -> Response:
    config = view.loaded().config
    svg, _ = drawing(config, statuses(view, config))
    body = '<?xml version="1.0" encoding="utf-8"?>\n' + svg + "\n"
    return Response(200, body.encode("utf-8"), "image/svg+xml; charset=utf-8")
