"""Who may read and who may act: the token, the `Host` a loopback server answers
(DNS rebinding), and the checks on a POST (`--allow-trigger`, its `Origin`, the
form's `csrf_token`). Every refusal is an `HttpError` with a sentence saying why."""

from __future__ import annotations

import hmac
import ipaddress
import secrets
from dataclasses import dataclass, field
from urllib.parse import urlencode

from cronplus.web._http import HttpError, Request, Response, redirect

TOKEN_COOKIE = "cronplus_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Settings:
    """What a server was started with. `host`/`port` are the bound address."""

    host: str
    port: int
    token: str | None = None
    allow_hosts: tuple[str, ...] = ()
    allow_trigger: bool = False
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def host_name(header: str) -> str:
    """A `Host` header without its port: `[::1]:8421` → `::1`, `a.b:80` → `a.b`."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def check_host(settings: Settings, req: Request) -> None:
    """A loopback server answers only its own names: a page on another site cannot
    reach it through a name that resolves to 127.0.0.1 (DNS rebinding)."""
    if not settings.loopback:
        return
    name = host_name(req.header("Host") or "")
    allowed = {settings.host.strip("[]").lower(), *LOOPBACK_NAMES}
    allowed.update(host_name(h) for h in settings.allow_hosts)
    if name not in allowed:
        raise HttpError(
            421,
            f"this server answers only to {settings.host} and localhost; "
            "behind a proxy, start it with --allow-host NAME",
        )


def check_token(settings: Settings, req: Request) -> Response | None:
    """None when the request may go on; a 303 setting the cookie for `?token=`;
    raises 401 without the token."""
    if settings.token is None:
        return None
    given = req.query.get("token")
    if given is not None and _same(given, settings.token):
        rest = {k: v for k, v in req.query.items() if k != "token"}
        location = req.path + (f"?{urlencode(rest)}" if rest else "")
        cookie = f"{TOKEN_COOKIE}={settings.token}; Path=/; HttpOnly; SameSite=Strict"
        return redirect(location, [("Set-Cookie", cookie)])
    auth = req.header("Authorization") or ""
    if auth.startswith("Bearer ") and _same(auth[7:].strip(), settings.token):
        return None
    cookie = req.cookies.get(TOKEN_COOKIE)
    if cookie is not None and _same(cookie, settings.token):
        return None
    raise HttpError(
        401,
        "a token is required: send Authorization: Bearer TOKEN, or open the page once "
        "with ?token=TOKEN",
    )


def check_post(settings: Settings, req: Request) -> None:
    """A POST acts: only with --allow-trigger, from a page of this server (its
    `Origin`), carrying the form's csrf_token."""
    if not settings.allow_trigger:
        raise HttpError(403, "this server is read-only (start it with --allow-trigger to act)")
    origin = req.header("Origin")
    expected = {f"http://{req.header('Host') or ''}".lower()}
    if origin is None or origin == "null" or origin.lower() not in expected:
        raise HttpError(403, "refused: the request does not come from a page of this server")
    if not _same(req.form().get("csrf_token", ""), settings.csrf):
        raise HttpError(403, "refused: the form's csrf_token is missing or wrong")


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
