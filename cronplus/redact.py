"""Secrets in alert URLs: how a URL is shown, and scrubbing its pieces out of text.

Alert and heartbeat URLs hold secrets (webhook tokens, SMTP passwords). A URL is
shown only as `redact(url)` (scheme, host and port), and any text that may quote it
(an apprise error, an exception) goes through `scrub` before it is logged or stored.
Stdlib only, below everything that shows a channel.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit


@dataclass(frozen=True, slots=True)
class Channel:
    url: str  # expanded: a secret, never shown
    shown: str  # redact(url)

    def __repr__(self) -> str:  # a stray print or traceback must not leak it either
        return f"Channel({self.shown})"


# Schemes whose host part is a server's name. Many others keep a token there (slack://,
# discord://, pbul://o.TOKEN, tgram://BOT_TOKEN), so they show the scheme alone.
_HOST_SCHEMES = frozenset(
    f"{base}{s}"
    for base in (
        "mailto", "json", "xml", "form", "http", "mmost", "ntfy", "gotify",
        "matrix", "rocket", "apprise", "nctalk", "ncloud", "mqtt",
    )
    for s in ("", "s")
)  # fmt: skip


def _shows_host(url: str) -> str | None:
    """What `redact` shows of `url` after its scheme: the host, and its port if the URL
    has one (`smtp.example.com:587`); None where the host part may be a token."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return None
    if not host or parts.scheme.lower() not in _HOST_SCHEMES:
        return None
    if ":" in host:
        host = f"[{host}]"  # an IPv6 address
    return host if port is None else f"{host}:{port}"


def redact(url: str) -> str:
    """Scheme, host and port only, and the scheme alone where the host part may be a
    token; never the user, password, path or query."""
    try:
        scheme = urlsplit(url).scheme or "?"
    except ValueError:
        return "(unreadable URL)"
    host = _shows_host(url)
    return f"{scheme}://{host}" if host else f"{scheme}://…"


MIN_SECRET = 4  # shorter pieces are never scrubbed: a user name "u" would cut every word


def secrets_of(url: str) -> list[str]:
    """The pieces of a URL that may be secret, longest first, for scrubbing text: the
    whole URL, its user info, user, password, path, query, their segments and values
    (also percent-decoded), and a host that may be a token. Pieces shorter than
    MIN_SECRET characters are left out."""
    found = {url}
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    pieces = [parts.username, parts.password, parts.netloc, parts.path, parts.query]
    pieces += parts.path.split("/")
    for pair in parts.query.split("&"):
        pieces += pair.split("=", 1)[1:]
    pieces += [v for _, v in parse_qsl(parts.query)]
    if "@" in parts.netloc:
        pieces.append(parts.netloc.rsplit("@", 1)[0])  # user:password
    if parts.hostname:
        pieces += [parts.hostname, parts.netloc.rsplit("@", 1)[-1]]
    for piece in pieces:
        if piece:
            found.update({piece, unquote(piece)})
    shown = _shows_host(url)
    if shown:
        # Shown anyway: a server's name and port, not a secret.
        public = {shown.lower(), shown.rsplit(":", 1)[0].lower(), parts.hostname}
        found = {s for s in found if s.lower() not in public}
    return sorted((s for s in found if len(s) >= MIN_SECRET), key=len, reverse=True)


def scrub(text: str, channels: Iterable[Channel]) -> str:
    """`text` with every secret piece of the channels' URLs replaced by `***`, in one
    pass, the longest piece first wherever pieces overlap."""
    secrets = {s for channel in channels for s in secrets_of(channel.url)}
    if not secrets:
        return text
    pattern = "|".join(re.escape(s) for s in sorted(secrets, key=len, reverse=True))
    return re.sub(pattern, "***", text)
