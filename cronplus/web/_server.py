"""Serving the WSGI app with the standard library: `wsgiref.simple_server`, one
thread per request but at most `MAX_REQUESTS` at once (the accept loop waits for a
free one). A client must have sent its whole request within `SOCKET_TIMEOUT_S` of
connecting, or its connection is cut: a client that stalls half-way, or trickles a
byte at a time (each read then never times out by itself), holds no thread for long."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer

MAX_REQUESTS = 16
SOCKET_TIMEOUT_S = 10.0
STOP_POLL_S = 0.5  # a stop is noticed within this long
REQUEST_READ = "cronplus.request_read"  # environ: call once the body is read


class _Handler(WSGIRequestHandler):
    timeout = SOCKET_TIMEOUT_S  # StreamRequestHandler sets it on the socket

    def setup(self) -> None:
        super().setup()
        # The whole request (line, headers, a form's body) within the timeout of the
        # connection: cut when the app starts its answer, or at the end.
        self._deadline = threading.Timer(SOCKET_TIMEOUT_S, self._cut)
        self._deadline.daemon = True
        self._deadline.start()

    def _cut(self) -> None:
        """Too slow: the blocked read returns at once, and the request ends."""
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def parse_request(self) -> bool:
        ok = super().parse_request()
        if ok and self.headers.get("Content-Length", "0").strip() in ("", "0"):
            self._deadline.cancel()  # no body to wait for: the request is in
        return ok

    def get_environ(self) -> dict[str, Any]:
        environ = super().get_environ()
        environ[REQUEST_READ] = self._deadline.cancel  # a body read: the request is in
        return environ

    def finish(self) -> None:
        self._deadline.cancel()
        super().finish()

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base's name)
        pass  # no access log: stderr is for problems

    def end_headers(self) -> None:
        """Only http.server's own answers (a malformed request: 400, 414, 431) come
        through here, the app's are written by wsgiref: they get the headers too."""
        from cronplus.web._app import SAFETY_HEADERS

        for name, value in (*SAFETY_HEADERS, ("Cache-Control", "no-store")):
            self.send_header(name, value)
        super().end_headers()


class BoundedServer(ThreadingMixIn, WSGIServer):
    """A thread per request, at most MAX_REQUESTS at once."""

    daemon_threads = True  # a stalled client never holds the process at exit
    # socketserver's default backlog is 5: a burst of connections beyond it waits for
    # the client's SYN to be sent again (1 s, then 2 s...) before it is even accepted.
    request_queue_size = 64
    block_on_close = False

    def __init__(self, address: tuple[str, int], family: socket.AddressFamily) -> None:
        self.address_family = family
        self._slots = threading.BoundedSemaphore(MAX_REQUESTS)
        self.stopping = threading.Event()
        super().__init__(address, _Handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        # The accept loop waits here while 16 are being answered; a stop ends the wait.
        while not self._slots.acquire(timeout=0.2):
            if self.stopping.is_set():
                self.shutdown_request(request)
                return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or stalled past the timeout is no error of ours."""
        err = sys.exc_info()[1]
        if isinstance(err, OSError | TimeoutError):
            return
        super().handle_error(request, client_address)


def bind(host: str, port: int) -> BoundedServer:
    """A server listening on host:port (port 0: one the system picks). Raises OSError."""
    family = socket.AF_INET6 if ":" in host.strip("[]") else socket.AF_INET
    return BoundedServer((host.strip("[]"), port), family)


def url_host(host: str) -> str:
    host = host.strip("[]")
    return f"[{host}]" if ":" in host else host


def serve_forever(server: BoundedServer, app: Any) -> None:
    """Serve until SIGTERM, SIGINT or `server.stopping`, then return (the caller exits
    0). Its own loop rather than `serve_forever`'s: a stop is one Event, safe to set
    from a signal handler or a thread, even before the loop started."""
    server.set_app(app)
    server.timeout = STOP_POLL_S  # how long one handle_request waits for a connection

    def stop(signum: int, frame: object) -> None:
        server.stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        while not server.stopping.is_set():
            server.handle_request()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        server.server_close()


def stop_at_eof(server: BoundedServer, stream: Any) -> None:
    """Stop the server once `stream` ends (its writer, the supervising daemon, gone)."""

    def watch() -> None:
        while stream.read(4096):
            pass
        server.stopping.set()

    threading.Thread(target=watch, name="cronplus-web-parent", daemon=True).start()
