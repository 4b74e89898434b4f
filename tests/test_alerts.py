"""Alerts, delivered for real to receivers on loopback that the tests start: an SMTP
server (aiosmtpd) for mailto://, an HTTP server for json://, Mattermost's
Slack-format webhooks (mmost://) and heartbeat pings, and a socket that listens and
never answers for a dead channel."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import threading
import time
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cronplus.errors import ExitCode
from cronplus.model import RunStatus
from tests.conftest import wait_until

SECRET = "tok3nS3CR3Tvalue"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Http:
    """Records every request: (method, path, body)."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, str, bytes]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                outer.requests.append((self.command, self.path, self.rfile.read(n)))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            do_POST = do_GET = _record  # noqa: N815

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def posts(self, path: str) -> list[dict]:
        return [json.loads(b) for m, p, b in self.requests if m == "POST" and p == path]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Smtp:
    def __init__(self) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        outer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                outer.messages.append(
                    email.message_from_bytes(envelope.content, policy=email.policy.default)
                )
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"mailto://127.0.0.1:{self.port}?from=cronplus@example.com&to=ops@example.com"

    def close(self) -> None:
        self.controller.stop()


@pytest.fixture
def http():
    h = Http()
    yield h
    h.close()


@pytest.fixture
def smtp():
    s = Smtp()
    yield s
    s.close()


@pytest.fixture
def black_hole():
    """Listens, never accepts: connections complete in the kernel and hang there."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(0)
    yield s.getsockname()[1]
    s.close()


def jobs(urls: list[str], body: str, alerts_extra: str = "") -> str:
    quoted = ", ".join(f'"{u}"' for u in urls)
    return f"""
[alerts]
urls = [{quoted}]
{alerts_extra}

{body}
"""


FLAKY = """
[jobs.flaky]
command = 'echo "fetching"; echo "upstream API said 503" >&2; exit 3'
retries = 1
retry_delay = "0s"
"""


def test_a_failure_after_retries_is_one_message_with_the_output_tail(project, cli, http, smtp):
    project.write(jobs([f"json://127.0.0.1:{http.port}/hook", smtp.url], FLAKY))
    result = cli("trigger", "flaky", "--wait")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (post,) = http.posts("/hook")  # one message for the run, not one per attempt
    assert post["title"] == "cronplus: flaky failed"
    assert post["type"] == "failure"
    body = post["message"]
    for expected in (
        "Job: flaky",
        "Trigger: manual",
        "Status: failed: exit code 3 (after 2 attempts)",
        "Attempts: 2",
        "Exit code: 3",
        f"Host: {socket.gethostname()}",
        "Last 2 lines of attempt 2:\nfetching\nupstream API said 503",
        "See more: cronplus logs flaky --run 1",
    ):
        assert expected in body
    wait_until(lambda: smtp.messages)
    (mail,) = smtp.messages
    assert mail["Subject"] == "cronplus: flaky failed"
    assert mail["To"] == "ops@example.com"
    assert mail.get_content_type() == "text/plain"
    assert "upstream API said 503" in mail.get_content()
    records = json.loads(cli("alerts", "--json").stdout)
    assert sorted((r["event"], r["channel"], r["sent"]) for r in records) == [
        ("failure", "json://127.0.0.1", True),
        ("failure", "mailto://127.0.0.1", True),
    ]
    assert {tuple(sorted(r)) for r in records} == {
        ("channel", "error", "event", "id", "job", "run_id", "sent", "time")
    }
    assert {r["run_id"] for r in records} == {1} and {r["job"] for r in records} == {"flaky"}


def test_timeout_and_a_slack_format_webhook(project, cli, http):
    project.write(
        jobs(
            [f"mmost://127.0.0.1:{http.port}/hooktoken"],
            """
[jobs.slow]
command = "sleep 5"
timeout = "1s"
kill_grace = "1s"
""",
        )
    )
    assert cli("trigger", "slow", "--wait").exit_code == ExitCode.NOT_SUCCEEDED
    (post,) = http.posts("/hooks/hooktoken")
    assert post["text"].startswith("cronplus: slow timed out")
    assert "Status: timed_out: timed out after 1s" in post["text"]


def test_recovery_after_a_failure(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            "[jobs.api]\ncommand = 'test ! -e down'\n",
            'on = ["failure", "recovery"]',
        )
    )
    (project.root / "down").touch()
    cli("trigger", "api", "--wait")
    (project.root / "down").unlink()
    assert cli("trigger", "api", "--wait").exit_code == ExitCode.OK
    assert cli("trigger", "api", "--wait").exit_code == ExitCode.OK  # no second recovery
    titles = [p["title"] for p in http.posts("/hook")]
    assert titles == ["cronplus: api failed", "cronplus: api recovered"]
    assert http.posts("/hook")[1]["type"] == "success"


def test_repeats_are_held_and_folded_into_the_next_message(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            "[jobs.api]\ncommand = 'exit 1'\n",
            'repeat_after = "2s"',
        )
    )
    for _ in range(3):
        cli("trigger", "api", "--wait")
    assert len(http.posts("/hook")) == 1  # the second and third were held
    time.sleep(2.1)
    cli("trigger", "api", "--wait")
    posts = http.posts("/hook")
    assert len(posts) == 2
    assert "And 2 more failures since " in posts[1]["message"]
    assert "held back by repeat_after" in posts[1]["message"]


def test_a_failed_pipeline_root_alerts_once(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            """
[jobs.extract]
command = "exit 2"
[jobs.transform]
after = ["extract"]
command = "true"
[jobs.load]
after = ["transform"]
command = "true"
""",
        )
    )
    result = cli("trigger", "extract", "--wait")
    assert "upstream_failed" in result.stdout
    assert [p["title"] for p in http.posts("/hook")] == ["cronplus: extract failed"]


def test_a_run_that_cannot_start_fails_alerts_as_a_failure_and_blocks_its_dependent(
    project, cli, http
):
    name = "x" * 300  # a valid job name, too long for the folder of its logs
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            f'[jobs.{name}]\ncommand = "true"\nretries = 1\nretry_delay = "0s"\n'
            f'[jobs.load]\nafter = ["{name}"]\ncommand = "true"\n',
        )
    )
    assert cli("trigger", name, "--wait").exit_code == ExitCode.NOT_SUCCEEDED
    (run,) = project.store().history(name)
    assert run.status is RunStatus.FAILED and len(run.attempts) == 2
    assert run.reason.startswith("cannot write log ")
    assert run.reason.endswith(": File name too long (after 2 attempts)")
    (load,) = project.store().history("load")
    assert load.status is RunStatus.UPSTREAM_FAILED
    assert [p["title"] for p in http.posts("/hook")] == [f"cronplus: {name} failed"]


def test_a_late_run_alerts_while_it_runs(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            '[jobs.report]\ncommand = "sleep 2"\nexpected_duration = "1s"\n',
            'on = ["late"]',
        )
    )
    assert cli("trigger", "report", "--wait").exit_code == ExitCode.OK
    (post,) = http.posts("/hook")
    assert post["title"] == "cronplus: report is late" and post["type"] == "warning"
    assert "Still running after its expected_duration of 1s." in post["message"]
    assert "Status: running" in post["message"]


def test_a_backfill_sends_one_summary_alert(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            '[jobs.daily]\nschedule = "0 3 * * *"\ntimezone = "UTC"\ncommand = "exit 4"\n',
        )
    )
    result = cli("backfill", "daily", "--from", "2026-10-01", "--to", "2026-10-03")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (post,) = http.posts("/hook")
    assert post["title"] == "cronplus: backfill of daily failed"
    assert "Planned 3: 0 succeeded, 3 failed" in post["message"]
    assert post["message"].count("exit code 4") == 3


# -- the daemon ---------------------------------------------------------------------------


def test_a_black_hole_channel_keeps_the_schedule_on_time(project, daemon, black_hole):
    project.write(
        jobs(
            [f"json://127.0.0.1:{black_hole}/hook"],
            '[jobs.tick]\nschedule = "* * * * * *"\ncommand = "exit 1"\n',
            'timeout = "1s"',
        )
    )
    d = daemon()
    d.wait_started()

    def alert_rows():
        store = project.store()
        try:
            return store.recent_alerts(10)
        finally:
            store.close()

    # 4 tries of 1 s with pauses of 0.2, 0.4 and 0.8 s: recorded within about 6 s.
    (row,) = wait_until(alert_rows, timeout=20)
    d.terminate()
    assert (row.event, row.sent, row.channel) == ("failure", False, "json://127.0.0.1")
    assert row.error.endswith("(after 4 tries)")
    assert "127.0.0.1" in row.error
    store = project.store()
    runs = sorted(store.history("tick"), key=lambda r: r.scheduled_for)
    store.close()
    assert len(runs) >= 6
    seconds = [r.scheduled_for.timestamp() for r in runs]
    assert seconds == [seconds[0] + i for i in range(len(seconds))]  # no fire time lost
    finished = [r for r in runs if r.status.is_final]
    assert {r.status for r in finished} == {RunStatus.FAILED}
    late = [(r.started_at - r.scheduled_for).total_seconds() for r in finished]
    assert max(late) < 0.5


def test_missed_runs_while_the_daemon_was_down_alert_after_restart(project, daemon, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            '[jobs.tick]\nschedule = "* * * * * *"\ncommand = "true"\n',
        )
    )
    first = daemon()
    first.wait_started()
    wait_until(lambda: any(r.status.is_final for r in project.store().history("tick")))
    first.terminate()
    time.sleep(2.5)
    second = daemon()
    second.wait_started()
    wait_until(lambda: http.posts("/hook"), timeout=15)
    second.terminate()
    (post,) = http.posts("/hook")
    assert post["title"] == "cronplus: tick missed a run"
    assert "fire times passed without a run" in post["message"]
    assert ": daemon was down." in post["message"]


def test_heartbeat_pings_arrive(project, daemon, http, monkeypatch):
    monkeypatch.setenv("HC_UUID", "abc-123")
    project.write(
        f"""
[alerts]
heartbeat = "http://127.0.0.1:{http.port}/ping/${{HC_UUID}}"
heartbeat_every = "1s"

[jobs.idle]
schedule = "0 0 1 1 *"
command = "true"
"""
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: len([r for r in http.requests if r[1] == "/ping/abc-123"]) >= 2, 10)
    d.terminate()
    assert {m for m, p, _ in http.requests} == {"GET"}


# -- secrets and configuration ------------------------------------------------------------


def test_secrets_never_reach_output_logs_or_state(project, cli, http, daemon, monkeypatch):
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    dead = free_port()  # nothing listens: the delivery fails and its error is stored
    project.write(
        jobs(
            [
                f"json://127.0.0.1:{http.port}/${{HOOK_TOKEN}}",
                f"json://user:{SECRET}@127.0.0.1:{dead}/x/${{HOOK_TOKEN}}",
            ],
            '[jobs.bad]\nschedule = "* * * * * *"\ncommand = "exit 1"\n',
            'timeout = "1s"',
        )
    )
    d = daemon()
    d.wait_started()
    wait_until(lambda: len(project.store().recent_alerts(10)) == 2, timeout=20)
    d.terminate()
    assert http.posts(f"/{SECRET}")  # the real URL was used
    outputs = [
        cli("alerts", "--json").output,
        cli("alerts").output,
        cli("alert-test", "bad").output,
        cli("status").output,
        cli("validate").output,
    ]
    leaks = [o for o in outputs if SECRET in o]
    files = [p for p in project.root.rglob("*") if p.is_file() and p.name != "jobs.toml"]
    assert any(p.name == "state.db" for p in files) and any(p.suffix == ".stderr" for p in files)
    leaks += [str(p) for p in files if SECRET.encode() in p.read_bytes()]
    assert leaks == []
    rows = json.loads(cli("alerts", "--json").stdout)
    assert {r["channel"] for r in rows} == {"json://127.0.0.1"}
    assert any(not r["sent"] and r["error"] for r in rows)


def test_a_missing_variable_fails_validate_run_and_alert_test_but_not_trigger(project, cli):
    project.write(jobs(["slack://${SLACK_TOKEN}"], '[jobs.x]\ncommand = "true"\n'))
    for args in (("validate",), ("run",), ("alert-test",)):
        result = cli(*args)
        assert result.exit_code == ExitCode.USAGE, args
        assert '[alerts] urls: variable "SLACK_TOKEN" is not set' in result.stderr
        assert "jobs.toml" in result.stderr
    result = cli("trigger", "x", "--wait")
    assert result.exit_code == ExitCode.OK
    assert result.stderr.count('variable "SLACK_TOKEN" is not set') == 1
    assert "alerts skip that URL" in result.stderr


def test_an_env_file_provides_variables(project, cli, http):
    (project.root / "alerts.env").write_text(f"# secrets\nexport HOOK='{SECRET}'\n")
    project.write(
        '[defaults]\nenv_file = "alerts.env"\n'
        + jobs([f"json://127.0.0.1:{http.port}/${{HOOK}}"], '[jobs.x]\ncommand = "exit 1"\n')
    )
    assert cli("validate").exit_code == ExitCode.OK
    cli("trigger", "x", "--wait")
    assert len(http.posts(f"/{SECRET}")) == 1


def test_alert_test_reports_each_channel(project, cli, http):
    dead = free_port()
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/t", f"json://127.0.0.1:{dead}/t"],
            '[jobs.x]\ncommand = "true"\n',
            'timeout = "1s"',
        )
    )
    result = cli("alert-test")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    lines = result.stdout.splitlines()
    assert lines[0] == "json://127.0.0.1  delivered"
    assert lines[1].startswith("json://127.0.0.1  failed: ")
    (post,) = http.posts("/t")
    assert post["title"] == "cronplus: test message" and post["type"] == "info"
    assert [r["event"] for r in json.loads(cli("alerts", "--json").stdout)] == ["test", "test"]


def test_a_job_can_turn_alerts_off_or_use_its_own(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/team"],
            f"""
[jobs.quiet]
command = "exit 1"
alerts = false

[jobs.own]
command = "exit 1"
alerts = {{ urls = ["json://127.0.0.1:{http.port}/own"] }}
""",
        )
    )
    cli("trigger", "quiet", "--wait")
    cli("trigger", "own", "--wait")
    assert http.posts("/team") == []
    assert [p["title"] for p in http.posts("/own")] == ["cronplus: own failed"]


def test_record_time_is_utc_iso(project, cli, http):
    project.write(jobs([f"json://127.0.0.1:{http.port}/h"], '[jobs.x]\ncommand = "exit 1"\n'))
    cli("trigger", "x", "--wait")
    (row,) = json.loads(cli("alerts", "--json").stdout)
    t = datetime.fromisoformat(row["time"])
    assert t.utcoffset().total_seconds() == 0
    assert abs((datetime.now(UTC) - t).total_seconds()) < 60


def test_retry_alerts_say_what_failed_and_when_the_next_try_is(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            FLAKY,
            'on = ["retry", "failure"]',
        )
    )
    cli("trigger", "flaky", "--wait")
    by_title = {p["title"]: p for p in http.posts("/hook")}  # delivered concurrently
    assert sorted(by_title) == ["cronplus: flaky failed", "cronplus: flaky retrying"]
    retry = by_title["cronplus: flaky retrying"]
    assert retry["type"] == "warning"
    assert "Status: retrying (attempt 1 exit code 3; retry in 0s)" in retry["message"]


def test_redaction_hides_tokens_kept_where_a_host_would_be():
    from cronplus.alerts import Channel, redact, scrub

    token = "o.gn5kj6nfhv736i7jc3cj3qlriyhgl98b"
    assert redact(f"pbul://{token}") == "pbul://…"
    assert redact("slack://T000/B000/XXXX/#ops") == "slack://…"
    assert redact("mailtos://cron:pw@smtp.example.com?to=a@b.c") == "mailtos://smtp.example.com"
    channel = Channel(f"pbul://{token}", "pbul://…")
    assert token not in scrub(f"An invalid token ({token}) was given", [channel])


def test_an_unreadable_env_file_fails_validate_but_only_warns_in_trigger(project, cli):
    (project.root / "alerts.env").write_bytes(b"HOOK=\xff\xfe\n")
    project.write(
        '[defaults]\nenv_file = "alerts.env"\n'
        + jobs(["json://127.0.0.1:9/${HOOK}"], '[jobs.x]\ncommand = "true"\n')
    )
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    assert "env_file" in result.stderr and "not UTF-8" in result.stderr
    assert "Traceback" not in result.output
    triggered = cli("trigger", "x", "--wait")
    assert triggered.exit_code == ExitCode.OK
    assert "Warning:" in triggered.stderr


def test_a_failed_root_recovering_sends_one_recovery_not_one_per_job(project, cli, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            """
[jobs.extract]
command = 'test ! -e down'
[jobs.load]
after = ["extract"]
command = "true"
""",
            'on = ["failure", "recovery"]',
        )
    )
    (project.root / "down").touch()
    cli("trigger", "extract", "--wait")
    (project.root / "down").unlink()
    cli("trigger", "extract", "--wait")
    assert [p["title"] for p in http.posts("/hook")] == [
        "cronplus: extract failed",
        "cronplus: extract recovered",
    ]


def test_an_alerter_failure_never_changes_a_run_or_stops_its_dependents(project):
    from cronplus.dispatch import run_now
    from cronplus.paths import StatePaths

    project.write(
        jobs(
            ["json://127.0.0.1:9/x"],
            '[jobs.a]\ncommand = "true"\n[jobs.b]\nafter = ["a"]\ncommand = "true"\n',
            'on = ["success"]',
        )
    )

    class Broken:
        def __getattr__(self, name):
            def fail(*args):
                raise RuntimeError("alerts are broken")

            return fail

    store = project.store()
    runs = run_now(project.config(), store, StatePaths(project.state), "a", alerter=Broken())
    assert [(r.job, r.status) for r in runs] == [
        ("a", RunStatus.SUCCEEDED),
        ("b", RunStatus.SUCCEEDED),
    ]
    store.close()


def test_a_job_disabled_for_a_while_has_not_missed_anything(project, daemon, http):
    from datetime import timedelta

    from cronplus.model import Trigger

    toml = jobs(
        [f"json://127.0.0.1:{http.port}/hook"],
        '[jobs.tick]\nschedule = "*/10 * * * *"\ncommand = "true"\nenabled = ENABLED\n',
    )
    # Its last scheduled run was two fire times ago; since then a daemon ran with the
    # job disabled, so nothing was missed while no daemon ran.
    now = datetime.now(UTC)
    slot = now.replace(minute=now.minute - now.minute % 10, second=0, microsecond=0)
    store = project.store()
    store.claim_run(
        "tick", slot - timedelta(minutes=20), Trigger.SCHEDULE, status=RunStatus.SUCCEEDED
    )
    store.close()
    project.write(toml.replace("ENABLED", "false"))
    d = daemon()
    d.wait_started()
    d.terminate()
    project.write(toml.replace("ENABLED", "true"))
    d = daemon()
    d.wait_started()
    time.sleep(1.5)  # a missed alert would be delivered on loopback by now
    d.terminate()
    assert http.posts("/hook") == []
    assert "alert" not in d.stderr
