"""The frame every page shares (skip link, navigation, `main#main`, the one CSS and
JS file) and the small pieces pages repeat: a status as its glyph and word, a time."""

from __future__ import annotations

from datetime import datetime

from cronplus.render._base import iso
from cronplus.web._html import Markup, attrs, html, join
from cronplus.web._http import Request, Response
from cronplus.zones import zone

NAV = (("/", "Last 24 hours"), ("/graph", "Graph"), ("/ledger", "Ledger"), ("/pools", "Pools"))
NO_RUN = "no_run"  # a fire time that passed with no run
NOT_YET_DUE = "not_yet_due"  # a fire time of the day still to come
PRUNED = "pruned"  # a fire time whose run retention deleted (issue 14)
WORDS = {NO_RUN: "no run", NOT_YET_DUE: "not yet due", "upstream_failed": "upstream failed"}


def status_word(status: str) -> str:
    """A status as people read it: `timed_out` → `timed out`, `no_run` → `no run`."""
    return WORDS.get(status, status.replace("_", " "))


def glyph(status: str | None) -> Markup:
    """The shape the CSS draws for a status (never colour alone); hidden from screen
    readers, which read the word beside it."""
    return html('<span class="glyph g-{}" aria-hidden="true"></span>', status or "none")


def badge(status: str | None, word: str | None = None) -> Markup:
    """A status as its glyph and its word."""
    text = word or (status_word(status) if status else "never run")
    return html(
        '<span class="status"{}>{}<span class="word">{}</span></span>',
        attrs(data_status=status),
        glyph(status),
        text,
    )


def time_tag(
    t: datetime | None, tz: str, fmt: str = "%Y-%m-%d %H:%M", cls: str | None = None
) -> Markup:
    """`<time datetime=ISO>` in the job's zone, with its offset, as in the JSON."""
    if t is None:
        return Markup("-")
    local = t.astimezone(zone(tz))
    return html("<time{}>{}</time>", attrs(class_=cls, datetime=iso(t, tz)), local.strftime(fmt))


def page(title: str, body: Markup, *, warning: str | None = None, status: int = 200) -> Response:
    """A whole HTML page: `body` goes inside `main#main`."""
    nav = join((html('<a href="{}">{}</a>', href, text) for href, text in NAV), " ")
    notice = html('<p class="warning" role="status">{}</p>', warning) if warning else Markup("")
    doc = html(
        "<!doctype html>\n"
        '<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>{title} · cronplus</title>"
        '<link rel="stylesheet" href="/static/app.css">'
        '<script src="/static/app.js" defer></script></head>\n'
        '<body><a class="skip" href="#main">Skip to content</a>\n'
        '<header><nav aria-label="cronplus"><span class="brand">cronplus</span> {nav}</nav>'
        "</header>\n{notice}"
        '<main id="main" tabindex="-1"><h1>{title}</h1>\n{body}</main></body></html>\n',
        title=title,
        nav=nav,
        notice=notice,
        body=body,
    )
    return Response(status, doc.encode("utf-8"))


def compressed(req: Request, resp: Response) -> Response:
    """`resp` gzipped when the browser takes gzip: the overview's cells repeat their
    attributes, and 20 jobs' 96 cells each (~300 KiB) travel as ~30 KiB (issue 13
    asks 150 KiB at most). Level 1: under a millisecond for such a page. Only pages
    without secrets (no csrf_token) use it, so compression cannot leak one (BREACH)."""
    if len(resp.body) < 1024 or not _takes_gzip(req.header("Accept-Encoding") or ""):
        return resp
    import gzip

    resp.body = gzip.compress(resp.body, 1, mtime=0)
    resp.headers += [("Content-Encoding", "gzip"), ("Vary", "Accept-Encoding")]
    return resp


def _takes_gzip(accept: str) -> bool:
    for part in accept.split(","):
        name, _, params = part.strip().partition(";")
        if name.strip().lower() == "gzip":
            return params.replace(" ", "") not in ("q=0", "q=0.0", "q=0.00", "q=0.000")
    return False
