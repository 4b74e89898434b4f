"""A request and a response, over the WSGI environ: what the pages read (path,
query, form, cookies, headers) and what they answer (status, headers, body)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs

MAX_FORM_BYTES = 64 * 1024  # the only bodies we read are three tiny forms


class HttpError(Exception):
    """An answer other than the page: 400, 401, 403, 404, 405, 413."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


_DIGITS = re.compile(r"[0-9]{1,18}")  # ASCII only: str.isdigit and int() take "²", "١٢"


def whole_number(text: str, name: str) -> int:
    """A query's whole number, 0 to 10**18 - 1, in ASCII digits; else 400 saying so."""
    if not _DIGITS.fullmatch(text):
        raise HttpError(400, f'{name} "{text[:40]}" is not a whole number (0 to 18 digits)')
    return int(text)


def _nothing() -> None:
    pass


@dataclass
class Request:
    environ: dict[str, Any]
    method: str
    path: str
    query: dict[str, str]
    _form: dict[str, str] | None = None

    @classmethod
    def from_environ(cls, environ: dict[str, Any]) -> Request:
        raw = environ.get("PATH_INFO", "/") or "/"
        # WSGI hands PATH_INFO over as latin-1 decoded bytes; URLs are UTF-8.
        path = raw.encode("latin-1", "replace").decode("utf-8", "replace")
        query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        return cls(environ, environ.get("REQUEST_METHOD", "GET").upper(), path, query)

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key) or None
        return self.environ.get(f"HTTP_{key}")

    @property
    def cookies(self) -> dict[str, str]:
        """`name=value` pairs of the Cookie header, read one by one: a cookie another
        site on this host set (cookies ignore ports) that SimpleCookie would refuse,
        such as `prefs={"a":"b"}`, must not hide ours behind it."""
        found: dict[str, str] = {}
        for pair in self.environ.get("HTTP_COOKIE", "").split(";"):
            name, sep, value = pair.strip().partition("=")
            if sep and name and name not in found:
                found[name] = value.strip().strip('"')
        return found

    def form(self) -> dict[str, str]:
        """The body of an `application/x-www-form-urlencoded` POST."""
        if self._form is None:
            try:
                length = int(self.environ.get("CONTENT_LENGTH") or 0)
            except ValueError:
                raise HttpError(400, "bad Content-Length") from None
            if length > MAX_FORM_BYTES:
                raise HttpError(413, "form too large")
            body = self.environ["wsgi.input"].read(length) if length > 0 else b""
            self.environ.get("cronplus.request_read", _nothing)()  # the server's deadline
            text = body.decode("utf-8", "replace")
            self._form = {k: v[-1] for k, v in parse_qs(text).items()}
        return self._form


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: list[tuple[str, str]] = field(default_factory=list)
    cache: bool = False  # static files may be cached; pages, logs and JSON never
    # A body sent piece by piece instead of `body` (a raw log: never whole in memory),
    # without a Content-Length; closed when sent, or when the client goes away.
    stream: Iterable[bytes] | None = None

    @property
    def status_line(self) -> str:
        return f"{self.status} {HTTPStatus(self.status).phrase}"


def text_response(text: str, status: int = 200, content_type: str = "text/plain") -> Response:
    return Response(status, text.encode("utf-8"), f"{content_type}; charset=utf-8")


def json_response(obj: Any, status: int = 200) -> Response:
    # Compact: with `indent` json falls back to its pure-Python encoder, two thirds of
    # /api/status's time at 1,000 jobs; parsed, it is the CLI's --json all the same.
    body = json.dumps(obj, ensure_ascii=False, separators=(",", ":")) + "\n"
    return Response(status, body.encode("utf-8"), "application/json")


def redirect(location: str, headers: list[tuple[str, str]] | None = None) -> Response:
    return Response(
        303, b"", "text/plain; charset=utf-8", [("Location", location), *(headers or [])]
    )
