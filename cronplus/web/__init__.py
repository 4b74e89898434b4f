"""`cronplus web`: one local screen for 03:00, served by the standard library.

`App` (`_app.py`) is a WSGI callable over the jobs file and the state (`_source.py`),
guarded by `_guard.py`; the pages (`pages/`) build HTML through `_html.py`, where
everything is escaped unless it is markup already, and JSON through `render`'s
`--json` functions. `_server.py` serves it on `wsgiref`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from cronplus.errors import UsageError

TOKEN_ENV = "CRONPLUS_WEB_TOKEN"
# Set by `cronplus run --web` on its child: the end of the child's stdin (the daemon
# gone, even SIGKILLed) stops it, so no server outlives its daemon holding the port.
SUPERVISED_ENV = "CRONPLUS_WEB_SUPERVISED"
DEFAULT_HOST = "127.0.0.1"
NO_TOKEN_WARNING = (
    "cronplus web: warning: no token: any local user can read the job logs "
    f"(set {TOKEN_ENV} or --token-file)"
)


def read_token(token_file: str | None) -> str | None:
    """The token: `--token-file`'s first line, else $CRONPLUS_WEB_TOKEN, else None."""
    if token_file is not None:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise UsageError(f"--token-file {token_file}: cannot read it ({e})") from None
        token = lines[0].strip() if lines else ""
        if not token:
            raise UsageError(f"--token-file {token_file}: its first line is empty")
        return token
    return os.environ.get(TOKEN_ENV) or None


def check_exposure(host: str, token: str | None, option: str = "--host") -> None:
    """Raise UsageError (exit 2) for an address other machines can reach, without a
    token: say how to set one."""
    from cronplus.web._guard import is_loopback

    if not is_loopback(host) and token is None:
        raise UsageError(
            f"{option} {host} is reachable from other machines: set a token first "
            f"({TOKEN_ENV}=..., or --token-file FILE), and put a TLS proxy in front"
        )


def parse_address(text: str) -> tuple[str, int]:
    """`[HOST:]PORT` (`8421`, `:0`, `0.0.0.0:8421`, `[::1]:8421`) → (host, port);
    the host defaults to 127.0.0.1. Raises UsageError."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host = ""
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not port.isdigit() or int(port) > 65535 or (":" in host and not text.startswith("[")):
        raise UsageError(f"--web {text}: expected [HOST:]PORT, e.g. 8421 or 127.0.0.1:8421")
    return host or DEFAULT_HOST, int(port)


def _load_http_without_ssl() -> None:
    """Import `wsgiref`'s server without `ssl`, in the process that serves. http.server
    imports http.client, which imports ssl only to offer HTTPS connections: 4.6 MiB of
    OpenSSL a plain-HTTP server on loopback (or behind a TLS proxy) never uses. While
    they load, `import ssl` fails and http.client goes without HTTPS; afterwards ssl
    can be imported as usual. Nothing when http.client is already loaded."""
    if "http.client" in sys.modules or "ssl" in sys.modules:
        return
    sys.modules["ssl"] = None  # type: ignore[assignment]  (import ssl: ImportError)
    try:
        import wsgiref.simple_server  # noqa: F401
    finally:
        del sys.modules["ssl"]


def serve(
    config_path: str,
    state_option: str | None,
    *,
    host: str,
    port: int,
    token: str | None,
    allow_hosts: tuple[str, ...] = (),
    allow_trigger: bool = False,
) -> None:
    """Serve until SIGTERM or Ctrl-C. Raises UsageError for an address it may not or
    cannot bind, ConfigError when the jobs file cannot be read."""
    _load_http_without_ssl()
    from cronplus.clock import system_clock
    from cronplus.web._app import App
    from cronplus.web._guard import Settings
    from cronplus.web._server import bind, serve_forever, stop_at_eof, url_host
    from cronplus.web._source import Source

    check_exposure(host, token)
    source = Source(config_path, state_option, system_clock())
    source.load()  # a jobs file that cannot be read stops here, before listening
    try:
        server = bind(host, port)
    except OSError as e:
        raise UsageError(f"cannot listen on {url_host(host)}:{port}: {e.strerror or e}") from None
    bound_port = server.server_address[1]
    settings = Settings(host, bound_port, token, allow_hosts, allow_trigger)
    app = App(source, settings)
    if token is None:
        print(NO_TOKEN_WARNING, file=sys.stderr, flush=True)
    if os.environ.get(SUPERVISED_ENV) == "1":
        stop_at_eof(server, sys.stdin.buffer)
    print(f"cronplus web: serving http://{url_host(host)}:{bound_port}/", flush=True)
    serve_forever(server, app)
