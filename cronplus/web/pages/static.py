"""The one CSS and the one JS file, shipped in the package (no CDN, no fonts)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from cronplus.web._http import Response
from cronplus.web._routes import route

STATIC = Path(__file__).resolve().parent.parent / "static"
TYPES = {"css": "text/css; charset=utf-8", "js": "text/javascript; charset=utf-8"}


@cache
def _read(name: str) -> bytes:
    return (STATIC / name).read_bytes()


@route("GET", r"/static/(?P<name>app\.(?:css|js))")
def static_file(view: object, req: object, name: str) -> Response:
    return Response(200, _read(name), TYPES[name.rsplit(".", 1)[1]], cache=True)
