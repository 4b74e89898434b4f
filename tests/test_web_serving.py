"""Serving `cronplus web`: the guard (token, cookie, Host, POSTs), the safety headers,
the actions of --allow-trigger, the state left as it was, and the server's bounds.

Most refusals call the WSGI callable `App` with an environ (no socket); a few go
through a real `cronplus web` (the `web` fixture) or an in-process server."""

from __future__ import annotations

import io
import socket
import sqlite3
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit
from wsgiref.util import setup_testing_defaults

import pytest

from cronplus.clock import SystemClock
from cronplus.errors import UsageError
from cronplus.web import (
    NO_TOKEN_WARNING,
    check_exposure,
    parse_address,
    read_token,
)
from cronplus.web._app import App
from cronplus.web._guard import Settings
from cronplus.web._source import Source
from cronplus.web.pages.actions import action_forms

JOBS = """
[jobs.load]
schedule = "@daily"
command = "true"

[jobs.report]
command = "true"
after = ["load"]
"""
SAFETY = {
    "Content-Security-Policy": "default-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode()


def call(
    app: App,
    method: str = "GET",
    path: str = "/",
    query: str = "",
    headers: dict[str, str] | None = None,
    body: bytes = b"",
) -> Answer:
    """One request through the WSGI callable, as wsgiref would hand it over."""
    environ: dict = {}
    setup_testing_defaults(environ)  # Host: 127.0.0.1
    environ.update(
        REQUEST_METHOD=method,
        PATH_INFO=path,
        QUERY_STRING=query,
        CONTENT_LENGTH=str(len(body)),
        CONTENT_TYPE="application/x-www-form-urlencoded",
    )
    environ["wsgi.input"] = io.BytesIO(body)
    for name, value in (headers or {}).items():
        key = "HTTP_" + name.upper().replace("-", "_")
        if value is None:
            environ.pop(key, None)
        else:
            environ[key] = value
    got: dict = {}

    def start_response(status: str, response_headers: list[tuple[str, str]]) -> None:
        got["status"] = int(status.split()[0])
        got["headers"] = dict(response_headers)

    out = b"".join(app(environ, start_response))
    return Answer(got["status"], got["headers"], out)


@pytest.fixture
def make_app(project):
    project.write(JOBS)

    def make(host: str = "127.0.0.1", **settings) -> App:
        source = Source("jobs.toml", str(project.state), SystemClock())
        return App(source, Settings(host, 8421, **settings))

    return make


def post(app: App, path: str, *, csrf: str | None = None, origin: str | None = "http://127.0.0.1"):
    body = b"" if csrf is None else f"csrf_token={csrf}".encode()
    return call(app, "POST", path, headers={"Origin": origin}, body=body)


# -- every answer carries the safety headers ---------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "query", "headers", "status"),
    [
        ("GET", "/", "", {}, 200),
        ("HEAD", "/", "", {}, 200),
        ("GET", "/nothing/here", "", {}, 404),
        ("GET", "/api/nothing", "", {}, 404),
        ("GET", "/", "", {"Host": "evil.example"}, 421),
        ("POST", "/jobs/load/trigger", "", {}, 403),
        ("DELETE", "/", "", {}, 405),
        ("GET", "/static/app.css", "", {}, 200),
    ],
)
def test_every_answer_carries_the_safety_headers(make_app, method, path, query, headers, status):
    answer = call(make_app(), method, path, query, headers)
    assert answer.status == status
    for name, value in SAFETY.items():
        assert answer.headers[name] == value
    expected_cache = "max-age=300" if path.startswith("/static/") else "no-store"
    assert answer.headers["Cache-Control"] == expected_cache


@pytest.mark.parametrize(
    ("query", "headers", "status"),
    [("", {}, 401), ("token=s3cret", {}, 303)],
)
def test_token_answers_carry_the_safety_headers_too(make_app, query, headers, status):
    answer = call(make_app(token="s3cret"), "GET", "/", query, headers)
    assert answer.status == status
    for name, value in SAFETY.items():
        assert answer.headers[name] == value
    assert answer.headers["Cache-Control"] == "no-store"


def test_an_error_under_api_is_json(make_app):
    answer = call(make_app(), "GET", "/api/nothing")
    assert answer.headers["Content-Type"] == "application/json"
    assert "error" in answer.text


# -- Host on a loopback bind (DNS rebinding) ----------------------------------------------------


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "127.0.0.1:8421", "localhost", "LOCALHOST:8421", "[::1]", "[::1]:8421"],
)
def test_a_loopback_server_answers_its_own_names(make_app, host):
    assert call(make_app(), headers={"Host": host}).status == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "evil.example:8421", "127.0.0.1.evil.example", "10.0.0.1", None]
)
def test_a_loopback_server_refuses_any_other_host(make_app, host):
    answer = call(make_app(), headers={"Host": host})
    assert 400 <= answer.status < 500
    assert "--allow-host" in answer.text


def test_the_bound_address_is_one_of_its_names(make_app):
    app = make_app(host="127.0.0.2")
    assert call(app, headers={"Host": "127.0.0.2:8421"}).status == 200


def test_allow_host_adds_a_name_with_or_without_a_port(make_app):
    app = make_app(allow_hosts=("cron.example.org",))
    assert call(app, headers={"Host": "cron.example.org"}).status == 200
    assert call(app, headers={"Host": "cron.example.org:443"}).status == 200
    assert call(app, headers={"Host": "other.example.org"}).status == 421


def test_a_non_loopback_server_leaves_host_to_the_token(make_app):
    app = make_app(host="0.0.0.0", token="s3cret")
    auth = {"Host": "anything.example", "Authorization": "Bearer s3cret"}
    assert call(app, headers=auth).status == 200


# -- the token ----------------------------------------------------------------------------------


def test_a_set_token_is_required_on_loopback_too(make_app):
    app = make_app(token="s3cret")
    for path in ("/", "/nothing", "/static/app.css", "/api/status"):
        answer = call(app, "GET", path)
        assert answer.status == 401, path
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    assert call(app, headers={"Authorization": "Bearer wrong"}).status == 401
    assert call(app, query="token=wrong").status == 401
    assert call(app, headers={"Authorization": "Bearer s3cret"}).status == 200


def test_token_in_the_query_once_sets_the_cookie_and_redirects_without_it(make_app):
    app = make_app(token="s3cret")
    answer = call(app, "GET", "/", "hours=6&token=s3cret")
    assert answer.status == 303
    assert answer.headers["Location"] == "/?hours=6"
    cookie = answer.headers["Set-Cookie"]
    attributes = {a.strip() for a in cookie.split(";")[1:]}
    assert {"HttpOnly", "SameSite=Strict", "Path=/"} <= attributes
    assert "s3cret" not in cookie  # the cookie carries a value derived from it
    pair = cookie.split(";")[0]
    assert call(app, headers={"Cookie": pair}).status == 200
    assert call(app, headers={"Cookie": "cronplus_token=s3cret"}).status == 401
    assert call(app, headers={"Cookie": "cronplus_token=forged"}).status == 401


def test_another_sites_cookie_on_this_host_never_hides_ours(make_app):
    """Cookies ignore ports: another local app's cookie SimpleCookie would refuse
    (a JSON value, a space) comes before ours in the header."""
    app = make_app(token="s3cret")
    ours = call(app, "GET", "/", "token=s3cret").headers["Set-Cookie"].split(";")[0]
    for theirs in ('prefs={"a":"b"}', "a=b c", "x", '="odd"'):
        assert call(app, headers={"Cookie": f"{theirs}; {ours}"}).status == 200, theirs
        assert call(app, headers={"Cookie": f"{ours}; {theirs}"}).status == 200, theirs


def test_the_redirect_never_leaves_the_server(make_app):
    app = make_app(token="s3cret")
    answer = call(app, "GET", "//evil.example/x", "token=s3cret")
    assert answer.status == 303
    location = answer.headers["Location"]
    assert location.startswith("/") and not location.startswith("//")
    assert urlsplit(location).netloc == ""


def test_token_file_is_its_first_line_stripped(tmp_path, monkeypatch):
    monkeypatch.setenv("CRONPLUS_WEB_TOKEN", "from-env")
    f = tmp_path / "token"
    f.write_text("  abc def \t\nsecond line\n")
    assert read_token(str(f)) == "abc def"
    assert read_token(None) == "from-env"
    monkeypatch.delenv("CRONPLUS_WEB_TOKEN")
    assert read_token(None) is None
    f.write_text("\n")
    with pytest.raises(UsageError, match="first line is empty"):
        read_token(str(f))
    with pytest.raises(UsageError, match="cannot read"):
        read_token(str(tmp_path / "missing"))


def test_a_non_loopback_address_needs_a_token():
    for host in ("0.0.0.0", "192.168.1.10", "::", "example.org"):
        with pytest.raises(UsageError, match="CRONPLUS_WEB_TOKEN.*--token-file"):
            check_exposure(host, None)
        check_exposure(host, "s3cret")
    for host in ("127.0.0.1", "127.0.0.2", "localhost", "::1", "[::1]"):
        check_exposure(host, None)


def test_web_on_a_non_loopback_address_without_a_token_exits_2(cli, project, monkeypatch):
    project.write(JOBS)
    monkeypatch.delenv("CRONPLUS_WEB_TOKEN", raising=False)
    result = cli("web", "--host", "0.0.0.0", "--port", "0")
    assert result.exit_code == 2
    assert "CRONPLUS_WEB_TOKEN" in result.output and "--token-file" in result.output


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("8421", ("127.0.0.1", 8421)),
        (":0", ("127.0.0.1", 0)),
        ("0.0.0.0:8421", ("0.0.0.0", 8421)),
        ("localhost:80", ("localhost", 80)),
        ("[::1]:8421", ("::1", 8421)),
    ],
)
def test_web_addresses(text, address):
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["", "x", "host:", "host:http", "1:2:3", "99999"])
def test_bad_web_addresses(text):
    with pytest.raises(UsageError, match=r"\[HOST:\]PORT"):
        parse_address(text)


# -- read-only by default; --allow-trigger ------------------------------------------------------


def test_a_read_only_server_refuses_every_post_and_shows_no_action(make_app):
    app = make_app()
    csrf = app.view.settings.csrf
    for action in ("trigger", "pause", "resume"):
        answer = post(app, f"/jobs/load/{action}", csrf=csrf)
        assert answer.status == 403, action
        assert "read-only" in answer.text
    assert action_forms(app.view, "load") == ""
    page = call(app).text
    assert 'method="post"' not in page.lower()  # GET forms (filters) are no actions
    assert "csrf" not in page


def test_action_forms_offer_the_three_posts_with_the_csrf_token(make_app):
    app = make_app(allow_trigger=True)
    forms = action_forms(app.view, "load")
    csrf = app.view.settings.csrf
    for action in ("trigger", "pause", "resume"):
        assert f'method="post" action="/jobs/load/{action}"' in forms
    assert forms.count(f'<input type="hidden" name="csrf_token" value="{csrf}">') == 3


def test_the_csrf_token_is_new_at_each_start(make_app):
    assert make_app().view.settings.csrf != make_app().view.settings.csrf
    assert len(make_app().view.settings.csrf) >= 32


@pytest.mark.parametrize(
    ("csrf", "origin", "why"),
    [
        (None, "http://127.0.0.1", "csrf_token"),
        ("wrong", "http://127.0.0.1", "csrf_token"),
        ("", "http://127.0.0.1", "csrf_token"),
        ("GOOD", None, "page of this server"),
        ("GOOD", "null", "page of this server"),
        ("GOOD", "http://evil.example", "page of this server"),
        ("GOOD", "http://127.0.0.1:9999", "page of this server"),
        ("GOOD", "http://127.0.0.1/path", "page of this server"),
    ],
)
def test_a_post_without_the_csrf_token_or_from_elsewhere_is_refused(make_app, csrf, origin, why):
    app = make_app(allow_trigger=True)
    if csrf == "GOOD":
        csrf = app.view.settings.csrf
    answer = post(app, "/jobs/load/pause", csrf=csrf, origin=origin)
    assert answer.status == 403
    assert why in answer.text
    from cronplus.paths import StatePaths

    assert not StatePaths(app.view.source.load().paths.root).db.exists()


def test_pause_and_resume_answer_303_to_the_job(make_app, project):
    app = make_app(allow_trigger=True)
    csrf = app.view.settings.csrf
    answer = post(app, "/jobs/load/pause", csrf=csrf)
    assert (answer.status, answer.headers["Location"]) == (303, "/jobs/load")
    store = project.store()
    assert set(store.paused_jobs()) == {"load"}
    answer = post(app, "/jobs/load/resume", csrf=csrf)
    assert (answer.status, answer.headers["Location"]) == (303, "/jobs/load")
    assert store.paused_jobs() == {}
    store.close()


def test_an_action_on_an_unknown_job_is_404(make_app):
    app = make_app(allow_trigger=True)
    for action in ("trigger", "pause", "resume"):
        assert post(app, f"/jobs/nope/{action}", csrf=app.view.settings.csrf).status == 404


def test_an_https_origin_through_a_proxy_is_this_server(make_app):
    app = make_app(allow_trigger=True, allow_hosts=("cron.example.org",))
    answer = call(
        app,
        "POST",
        "/jobs/load/pause",
        headers={"Host": "cron.example.org", "Origin": "https://cron.example.org"},
        body=f"csrf_token={app.view.settings.csrf}".encode(),
    )
    assert answer.status == 303


def test_trigger_starts_a_detached_run_and_answers_303_to_it(make_app, project):
    app = make_app(allow_trigger=True)
    answer = post(app, "/jobs/load/trigger", csrf=app.view.settings.csrf)
    assert answer.status == 303, answer.text
    location = answer.headers["Location"]
    assert location.startswith("/runs/")
    run_id = int(location.removeprefix("/runs/"))
    store = project.store()
    try:
        (run,) = [r for r in store.history("load") if r.id == run_id]
        assert str(run.trigger) == "manual"
    finally:
        store.close()


# -- the state is read, never created nor upgraded ----------------------------------------------


def test_a_missing_state_stays_missing(make_app, project):
    app = make_app()
    for path in ("/", "/jobs/load", "/api/status", "/ledger", "/graph", "/runs/1"):
        call(app, "GET", path)
    assert not project.state.exists()


def older_state(project):
    """A state as the first cronplus wrote it (schema 1); its StatePaths."""
    from cronplus.paths import StatePaths
    from cronplus.store.schema import MIGRATIONS

    paths = StatePaths(project.state)
    paths.create()
    conn = sqlite3.connect(paths.db)
    for statement in MIGRATIONS[0]:
        conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    return paths


def test_an_older_state_is_not_upgraded(make_app, project):
    paths = older_state(project)
    app = make_app()
    for path in ("/", "/jobs/load", "/api/status"):
        answer = call(app, "GET", path)
        assert answer.status != 500, answer.text
    assert sqlite3.connect(paths.db).execute("PRAGMA user_version").fetchone()[0] == 1


# -- through a real `cronplus web` ---------------------------------------------------------------


def test_web_serves_warns_once_without_a_token_and_exits_0_on_sigterm(project, web):
    project.write(JOBS)
    server = web()
    assert server.url.startswith("http://127.0.0.1:")
    status, headers, _ = server.get("/", {"Host": "127.0.0.1"})
    assert status == 200
    assert server.stop() == 0
    assert server.stderr.splitlines().count(NO_TOKEN_WARNING) == 1
    assert server.stderr.strip() == NO_TOKEN_WARNING
    assert not project.state.exists()


def test_web_defaults_to_127_0_0_1_port_8421():
    from cronplus.cli._web import web

    defaults = {p.name: p.default for p in web.params}
    assert (defaults["host"], defaults["port"]) == ("127.0.0.1", 8421)


def test_web_with_a_token_file_asks_for_it_and_does_not_warn(project, web):
    project.write(JOBS)
    (project.root / "token").write_text("s3cret \n")
    server = web("--token-file", "token", env={"CRONPLUS_WEB_TOKEN": ""})
    assert server.get("/")[0] == 401
    assert server.get("/", {"Authorization": "Bearer s3cret"})[0] == 200
    assert server.stop() == 0
    assert "warning" not in server.stderr


def test_web_allow_host_through_a_real_server(project, web):
    project.write(JOBS)
    server = web("--allow-host", "cron.example.org", "--allow-host", "other.example")
    assert server.get("/", {"Host": "cron.example.org:8080"})[0] == 200
    assert server.get("/", {"Host": "other.example"})[0] == 200
    assert server.get("/", {"Host": "evil.example"})[0] == 421


def raw(url: str) -> socket.socket:
    parts = urlsplit(url)
    return socket.create_connection((parts.hostname, parts.port), timeout=15)


def test_a_malformed_request_is_answered_with_the_safety_headers(project, web):
    project.write(JOBS)
    server = web()
    with raw(server.url) as s:
        s.sendall(b"GET / x HTTP/1.0\r\n\r\n")  # bad syntax: http.server answers
        reply = b""
        while chunk := s.recv(4096):
            reply += chunk
    head = reply.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.0 400")
    for name, value in SAFETY.items():
        assert f"{name}: {value}" in head


def test_stalled_clients_delay_no_other(project, web):
    project.write(JOBS)
    server = web()
    stalled = [raw(server.url) for _ in range(6)]
    try:
        for s in stalled:
            s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0")  # half a request, then nothing
        started = time.monotonic()
        assert server.get("/")[0] == 200
        assert time.monotonic() - started < 3.0  # a server one at a time would wait 10 s each
    finally:
        for s in stalled:
            s.close()


@pytest.mark.slow
def test_a_half_sent_request_is_dropped_after_the_socket_timeout(project, web):
    project.write(JOBS)
    server = web()
    with raw(server.url) as s:
        s.settimeout(30)
        s.sendall(b"GET / HTTP/1.1\r\nHost: 127.0")
        started = time.monotonic()
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            data = b""
        waited = time.monotonic() - started
    assert data == b""  # closed without an answer
    assert 9.0 <= waited <= 15.0


@pytest.mark.slow
def test_clients_trickling_a_request_are_cut_10_s_after_they_connect(project, web):
    """A byte every 2 s never trips the timeout of one read: 16 such clients would hold
    every thread for ever. The whole request is due within 10 s of connecting."""
    project.write(JOBS)
    server = web()
    started = time.monotonic()
    tricklers = [(raw(server.url), time.monotonic()) for _ in range(16)]
    cut_after: list[float] = []

    def trickle(s, connected: float) -> None:
        for byte in b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
            try:
                s.sendall(bytes([byte]))
                time.sleep(2 if byte == ord("a") else 0)
            except OSError:
                break
            s.settimeout(0)
            try:
                if s.recv(1) == b"":
                    break  # the server closed it
            except BlockingIOError:
                pass
            except OSError:
                break
        cut_after.append(time.monotonic() - connected)

    threads = [threading.Thread(target=trickle, args=pair) for pair in tricklers]
    for t in threads:
        t.start()
    try:
        time.sleep(1)
        assert server.get("/")[0] == 200  # the 17th waits for a slot, at most ~10 s
        assert time.monotonic() - started < 14
    finally:
        for t in threads:
            t.join(30)
        for s, _ in tricklers:
            s.close()
    assert len(cut_after) == 16
    assert all(9.0 <= t <= 14.0 for t in cut_after), cut_after


def test_at_most_16_requests_are_answered_at_once():
    from cronplus.web._server import MAX_REQUESTS, bind

    release = threading.Event()
    lock = threading.Lock()
    going = [0, 0]  # now, most at once

    def app(environ, start_response):
        with lock:
            going[0] += 1
            going[1] = max(going[1], going[0])
        release.wait(10)
        with lock:
            going[0] -= 1
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"ok"]

    server = bind("127.0.0.1", 0)
    port = server.server_address[1]
    # serve_forever installs signal handlers, which only the main thread may: by hand.
    server.set_app(app)
    server.timeout = 0.2
    loop = threading.Thread(target=_serve_until, args=(server,), daemon=True)
    loop.start()
    answers: list[bytes] = []

    def client() -> None:
        with socket.create_connection(("127.0.0.1", port), timeout=15) as s:
            s.sendall(b"GET / HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
            reply = b""
            while chunk := s.recv(4096):
                reply += chunk
            answers.append(reply)

    clients = [threading.Thread(target=client) for _ in range(MAX_REQUESTS + 4)]
    try:
        for c in clients:
            c.start()
        deadline = time.monotonic() + 10
        while going[0] < MAX_REQUESTS and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.3)  # had the bound leaked, the other four would be in by now
        assert going[1] == MAX_REQUESTS
        release.set()
        for c in clients:
            c.join(15)
        assert len(answers) == MAX_REQUESTS + 4
        assert all(a.startswith(b"HTTP/1.0 200") for a in answers)
    finally:
        release.set()
        server.stopping.set()
        loop.join(5)
        server.server_close()


def _serve_until(server) -> None:
    while not server.stopping.is_set():
        server.handle_request()


def test_an_older_state_is_not_upgraded_while_the_jobs_file_has_problems(make_app, project):
    paths = older_state(project)
    app = make_app()
    project.write(JOBS + "\n[jobs.broken]\ncommand = 3\n")  # problems: the fallback reads the state
    for path in ("/", "/jobs/load", "/api/status"):
        call(app, "GET", path)
    assert sqlite3.connect(paths.db).execute("PRAGMA user_version").fetchone()[0] == 1


def test_sigterm_stops_the_server_while_16_clients_stall(project, web):
    project.write(JOBS)
    server = web()
    stalled = [raw(server.url) for _ in range(18)]
    try:
        for s in stalled:
            s.sendall(b"GET / HTTP/1.1\r\n")
        time.sleep(0.5)  # let the accept loop take them: 16 answering, one waiting
        started = time.monotonic()
        assert server.stop() == 0
        assert time.monotonic() - started < 3.0  # not the 10 s a stalled one holds its slot
    finally:
        for s in stalled:
            s.close()


@pytest.mark.parametrize("port", ["99999", "-1", "http"])
def test_a_port_out_of_range_is_a_usage_error_not_a_traceback(project, cli, port):
    project.write(JOBS)
    result = cli("web", "--port", port)
    assert result.exit_code == 2
    assert "--port" in result.output and "Traceback" not in result.output


def test_a_host_header_that_is_no_host_name_is_refused(make_app):
    app = make_app()
    for host in ("localhost:1@evil.example", "127.0.0.1 evil", "localhost:", "[::1", ""):
        assert call(app, headers={"Host": host}).status == 421, host
    for host in ("localhost", "LOCALHOST:8421", "127.0.0.1:1", "[::1]:8421"):
        assert call(app, headers={"Host": host}).status == 200, host


def test_behind_a_proxy_that_rewrites_host_the_allowed_name_is_the_origin(make_app):
    """nginx sends Host: 127.0.0.1:8421 by default; the browser's Origin is the public
    name, which --allow-host names."""
    csrf_of = lambda app: app.view.settings.csrf  # noqa: E731
    proxied = make_app(allow_trigger=True, allow_hosts=("cron.example.org",))
    body = f"csrf_token={csrf_of(proxied)}".encode()
    for origin, status in (
        ("https://cron.example.org", 303),
        ("https://cron.example.org:8443", 303),
        ("https://evil.example", 403),
        ("https://cron.example.org.evil.example", 403),
    ):
        headers = {"Host": "127.0.0.1:8421", "Origin": origin}
        answer = call(proxied, "POST", "/jobs/load/pause", headers=headers, body=body)
        assert answer.status == status, origin
    plain = make_app(allow_trigger=True)
    headers = {"Host": "127.0.0.1:8421", "Origin": "https://cron.example.org"}
    body = f"csrf_token={csrf_of(plain)}".encode()
    assert call(plain, "POST", "/jobs/load/pause", headers=headers, body=body).status == 403


def test_a_token_beyond_ascii_works_as_a_bearer_token(make_app):
    app = make_app(token="sécret")
    header = "Bearer sécret".encode().decode("latin-1")  # as WSGI hands a header over
    assert call(app, headers={"Authorization": header}).status == 200
    assert call(app, headers={"Authorization": "Bearer secret"}).status == 401
