"""Who may read and who may act: the token, the `Host` a loopback server answers
(DNS rebinding), and the checks on a POST (`--allow-trigger`, its `Origin`, the
form's `csrf_token`). Every refusal is an `HttpError` with a sentence saying why."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

from cronplus.web._http import HttpError, Request, Response, redirect

TOKEN_COOKIE = "cronplus_token"
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True, slots=True)
class Settings:
    """What a server was started with. `host`/`port` are the bound address; `csrf`
    is the forms' token, random for each start."""

    host: str
    port: int
    token: str | None = None
    allow_hosts: tuple[str, ...] = ()
    allow_trigger: bool = False
    csrf: str = field(default_factory=lambda: _random_token())

    @property
    def loopback(self) -> bool:
        return is_loopback(self.host)

    @property
    def cookie_value(self) -> str:
        """What the cookie carries: derived from the token, never the token itself
        (a token with a `;` or a space would not survive a cookie either)."""
        import hashlib
        import hmac

        assert self.token is not None
        key = self.token.encode("utf-8")
        return hmac.new(key, b"cronplus web cookie", hashlib.sha256).hexdigest()


# hashlib, hmac and secrets load OpenSSL's libcrypto (4 MiB): imported where used, so
# that `run --web`, which checks its address here, leaves the daemon as small as it was.
def _random_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


_HOST = re.compile(r"(\[[0-9a-f:.]+\]|[a-z0-9.-]+)(:[0-9]{1,5})?")


def host_name(header: str) -> str:
    """A `Host` header without its port: `[::1]:8421` → `::1`, `a.b:80` → `a.b`; ""
    for anything that is no host name (`localhost:1@evil.com`)."""
    m = _HOST.fullmatch(header.strip().lower())
    return m.group(1).strip("[]") if m else ""


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
    """None when the request may go on; a 303 to the same URL without `?token=`,
    setting the cookie; raises 401 without the token."""
    if settings.token is None:
        return None
    given = req.query.get("token")
    if given is not None and _same(given, settings.token):
        return _cookie_redirect(settings, req)
    # Header values reach WSGI decoded as latin-1: a UTF-8 token's bytes, read back.
    auth = (
        (req.header("Authorization") or "").encode("latin-1", "replace").decode("utf-8", "replace")
    )
    if auth[:7].lower() == "bearer " and _same(auth[7:].strip(), settings.token):
        return None
    cookie = req.cookies.get(TOKEN_COOKIE)
    if cookie is not None and _same(cookie, settings.cookie_value):
        return None
    raise HttpError(
        401,
        "a token is required: send Authorization: Bearer TOKEN, or open the page once "
        "with ?token=TOKEN",
    )


def _cookie_redirect(settings: Settings, req: Request) -> Response:
    rest = {k: v for k, v in req.query.items() if k != "token"}
    # Our own path, never `//host/...` (which a browser reads as another site).
    path = "/" + quote(req.path, safe="/:@!$&'()*+,;=-._~").lstrip("/")
    location = path + (f"?{urlencode(rest)}" if rest else "")
    cookie = f"{TOKEN_COOKIE}={settings.cookie_value}; Path=/; HttpOnly; SameSite=Strict"
    return redirect(location, [("Set-Cookie", cookie)])


def check_post(settings: Settings, req: Request) -> None:
    """A POST acts: only with --allow-trigger, from a page of this server (its
    `Origin`: refused when missing or `null`), carrying the form's csrf_token."""
    if not settings.allow_trigger:
        raise HttpError(403, "this server is read-only (start it with --allow-trigger to act)")
    if not same_origin(req.header("Origin"), req.header("Host"), settings.allow_hosts):
        raise HttpError(403, "refused: the request does not come from a page of this server")
    if not _same(req.form().get("csrf_token", ""), settings.csrf):
        raise HttpError(403, "refused: the form's csrf_token is missing or wrong")


def same_origin(origin: str | None, host: str | None, allowed: tuple[str, ...] = ()) -> bool:
    """`Origin` names the site the request was asked for (`Host`), or a name given
    with --allow-host (a TLS proxy that rewrites `Host`): http, or https through the
    proxy. A missing or `null` Origin is no proof."""
    if not origin or not host or origin == "null":
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or parts.path:
        return False
    netloc = parts.netloc.lower()
    return netloc == host.strip().lower() or (
        bool(allowed) and host_name(netloc) in {host_name(a) for a in allowed}
    )


def _same(a: str, b: str) -> bool:
    """Constant-time equality (the time a wrong guess takes tells nothing)."""
    import hmac

    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
