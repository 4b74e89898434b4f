"""The WSGI callable: one request in, one response out, with the guard's checks
before any page and the same safety headers on every answer. It needs no socket:
tests call it with an environ, and `_server.py` serves it."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cronplus.errors import CronplusError
from cronplus.web._guard import Settings, check_host, check_post, check_token
from cronplus.web._html import html
from cronplus.web._http import HttpError, Request, Response, json_response
from cronplus.web._layout import page
from cronplus.web._routes import find
from cronplus.web._source import Loaded, Source

log = logging.getLogger("cronplus.web")

SAFETY_HEADERS = (
    # No inline script or style anywhere: the one CSS and JS file come from /static.
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    # same-origin, not no-referrer: with no-referrer Chromium sends `Origin: null` on a
    # same-origin POST, which the trigger forms' check must refuse.
    ("Referrer-Policy", "same-origin"),
)


@dataclass(frozen=True, slots=True)
class View:
    """What a handler reads: the jobs file and state (`source`), how the server was
    started (`settings`), and the time."""

    source: Source
    settings: Settings

    def now(self) -> datetime:
        return self.source.clock.now()

    def loaded(self) -> Loaded:
        return self.source.load()


class App:
    """`cronplus web`'s WSGI application."""

    def __init__(self, source: Source, settings: Settings) -> None:
        import cronplus.web.pages  # noqa: F401  (registers every route)

        self.view = View(source, settings)

    def __call__(
        self, environ: dict[str, Any], start_response: Callable[..., Any]
    ) -> Iterable[bytes]:
        req = Request.from_environ(environ)
        resp = self.answer(req)
        headers = [("Content-Type", resp.content_type)]
        if resp.stream is None:
            headers.append(("Content-Length", str(len(resp.body))))
        headers += SAFETY_HEADERS
        headers.append(("Cache-Control", "max-age=300" if resp.cache else "no-store"))
        headers += resp.headers
        start_response(resp.status_line, headers)
        if resp.stream is None:
            return [b"" if req.method == "HEAD" else resp.body]
        if req.method == "HEAD":
            getattr(resp.stream, "close", lambda: None)()
            return [b""]
        return resp.stream  # the server closes it (PEP 3333), sent or not

    def answer(self, req: Request) -> Response:
        try:
            return self._dispatch(req)
        except HttpError as e:
            return error_response(req, e.status, e.message)
        except CronplusError as e:  # the jobs file or the state cannot be read now
            return error_response(req, 503, str(e))
        except Exception:
            log.exception("cronplus web: error answering %s %s", req.method, req.path)
            return error_response(req, 500, "internal error (the server's stderr has details)")

    def _dispatch(self, req: Request) -> Response:
        settings = self.view.settings
        check_host(settings, req)
        cookie_redirect = check_token(settings, req)
        if cookie_redirect is not None:
            return cookie_redirect
        if req.method == "POST":
            check_post(settings, req)
        elif req.method not in ("GET", "HEAD"):
            raise HttpError(405, f"{req.method} is not answered here")
        route, params, other_method = find(req.method, req.path)
        if route is None:
            if other_method:
                raise HttpError(405, f"{req.method} is not answered at {req.path}")
            raise HttpError(404, f"nothing at {req.path}")
        return route.handler(self.view, req, **params)


def error_response(req: Request, status: int, message: str) -> Response:
    """An error as the asker reads it: JSON under /api/, a page elsewhere."""
    if req.path.startswith("/api/"):
        resp = json_response({"error": message}, status)
    else:
        titles = {
            401: "Token required",
            403: "Refused",
            404: "Not found",
            421: "Wrong host",
            503: "Unavailable",
        }
        title = titles.get(status, "Error")
        resp = page(title, html('<p class="error">{}</p>', message), status=status)
    if status == 401:
        resp.headers.append(("WWW-Authenticate", 'Bearer realm="cronplus"'))
    return resp
