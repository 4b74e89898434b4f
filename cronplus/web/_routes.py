"""The URL table: each page module registers its handlers with `route`, and `App`
finds the one a request asks for. A handler gets the `View` and the request, and
the URL's named groups as keyword arguments, and returns a `Response`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

Handler = Callable[..., Any]


@dataclass(frozen=True, slots=True)
class Route:
    method: str
    pattern: re.Pattern[str]
    handler: Handler


ROUTES: list[Route] = []


def route(method: str, path: str) -> Callable[[Handler], Handler]:
    """Register a handler for `method` on `path`, a regex matched whole; a job name
    is `(?P<name>[^/]+)`, a run id `(?P<run_id>[0-9]+)`."""

    def register(handler: Handler) -> Handler:
        ROUTES.append(Route(method, re.compile(path), handler))
        return handler

    return register


def find(method: str, path: str) -> tuple[Route | None, dict[str, str], bool]:
    """(the route, its groups, whether the path exists under another method)."""
    other_method = False
    for r in ROUTES:
        m = r.pattern.fullmatch(path)
        if m is None:
            continue
        if r.method == method or (method == "HEAD" and r.method == "GET"):
            return r, m.groupdict(), False
        other_method = True
    return None, {}, other_method
