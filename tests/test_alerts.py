"""Alerts, delivered for real to receivers on loopback that the tests start: an SMTP
server (aiosmtpd) for mailto://, an HTTP server for json://, Mattermost's
Slack-format webhooks (mmost://) and heartbeat pings, and a socket that listens and
never answers for a dead channel."""

from __future__ import annotations

import email
import email.policy
import json
import socket
import subprocess
import sys
import textwrap
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cronplus.errors import ExitCode
from cronplus.model import Claim, RunStatus, Trigger
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
        # serve_forever looks for a shutdown every poll_interval: its default 0.5 s was
        # half a second of teardown for every test that used this receiver.
        threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True).start()

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
        ("failure", f"json://127.0.0.1:{http.port}", True),
        ("failure", f"mailto://127.0.0.1:{smtp.port}", True),
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
    name = "extract"
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            f'[jobs.{name}]\ncommand = "true"\nretries = 1\nretry_delay = "0s"\n'
            f'[jobs.load]\nafter = ["{name}"]\ncommand = "true"\n',
        )
    )
    # Where the job's log folder must go, a file: no attempt of it can open its log.
    (project.state / "logs").mkdir(parents=True)
    (project.state / "logs" / name).write_text("in the way")
    assert cli("trigger", name, "--wait").exit_code == ExitCode.NOT_SUCCEEDED
    (run,) = project.store().history(name)
    assert run.status is RunStatus.FAILED and len(run.attempts) == 2
    assert run.reason.startswith("cannot write log ")
    assert run.reason.endswith(" (after 2 attempts)")
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


def test_the_backfill_summary_counts_what_was_pruned(project, cli, http):
    """The summary's counts add up to what was planned: pruned times are named."""
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            '[jobs.daily]\nschedule = "0 3 * * *"\ntimezone = "UTC"\ncommand = "true"\n'
            "keep_runs = 1\nkeep_days = 0\n",
            'on = ["success"]',
        )
    )
    span = ("backfill", "daily", "--from", "2026-10-01", "--to", "2026-10-03")
    assert cli(*span).exit_code == ExitCode.OK
    assert cli("trigger", "daily", "--wait").exit_code == ExitCode.OK  # the newest run
    assert json.loads(cli("prune", "--json").stdout)[0]["runs_deleted"] == 3
    assert cli(*span).exit_code == ExitCode.OK
    posts = http.posts("/hook")
    first, second = [p for p in posts if p["title"].startswith("cronplus: backfill")]
    assert "Planned 3: 3 succeeded" in first["message"] and "pruned" not in first["message"]
    assert "Planned 3: 0 succeeded" in second["message"]
    assert ", 3 pruned" in second["message"]


# -- the daemon ---------------------------------------------------------------------------


def test_a_black_hole_channel_keeps_the_schedule_on_time(project, daemon, black_hole):
    project.write(
        jobs(
            [f"json://127.0.0.1:{black_hole}/hook"],
            '[jobs.tick]\nschedule = "* * * * * *"\ncommand = "exit 1"\n',
            'timeout = "0.5s"',
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

    # 4 tries of 0.5 s with pauses of 0.2, 0.4 and 0.8 s: recorded within about 3.5 s.
    (row,) = wait_until(alert_rows, timeout=20)
    d.terminate()
    assert (row.event, row.sent, row.channel) == (
        "failure",
        False,
        f"json://127.0.0.1:{black_hole}",
    )
    assert row.error.endswith("(after 4 tries)")
    assert "127.0.0.1" in row.error
    store = project.store()
    runs = sorted(store.history("tick"), key=lambda r: r.scheduled_for)
    store.close()
    assert len(runs) >= 3
    seconds = [r.scheduled_for.timestamp() for r in runs]
    assert seconds == [seconds[0] + i for i in range(len(seconds))]  # no fire time lost
    failed = [r for r in runs if r.status is RunStatus.FAILED]
    # The stop may cut the run going at that moment short: that one alone.
    cut = [r for r in runs if r.status.is_final and r.status is not RunStatus.FAILED]
    assert len(failed) >= 3 and len(cut) <= 1, [(r.status, r.reason) for r in runs]
    assert all(r.status is RunStatus.INTERRUPTED and "stopped" in r.reason for r in cut)
    late = [(r.started_at - r.scheduled_for).total_seconds() for r in failed + cut]
    assert max(late) < 0.5


def test_missed_after_a_restart_names_only_the_fire_times_recorded_skipped(project, daemon, http):
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            """
[jobs.tick]
schedule = "* * * * * *"
timezone = "UTC"
start_grace = "1s"
command = "true"
""",
        )
    )
    first = daemon()
    first.wait_started()
    wait_until(lambda: any(r.status.is_final for r in project.store().history("tick")))
    first.terminate()
    before = max(r.scheduled_for for r in project.store().history("tick"))
    # Down until 3 s after the last run: its next fire times pass start_grace (1 s).
    time.sleep(max(0.0, (before - datetime.now(UTC)).total_seconds() + 3))
    second = daemon()
    second.wait_started()
    wait_until(lambda: http.posts("/hook"), timeout=15)
    second.terminate()
    runs = sorted(project.store().history("tick"), key=lambda r: r.scheduled_for)
    skipped = [r.scheduled_for for r in runs if r.reason == "daemon was down"]
    (caught,) = [r for r in runs if r.trigger is Trigger.CATCHUP]
    assert skipped and caught.scheduled_for > max(skipped)
    assert skipped[0] == before + timedelta(seconds=1)  # the first one it missed
    assert caught.status is RunStatus.SUCCEEDED
    (post,) = http.posts("/hook")
    assert post["title"] == "cronplus: tick missed a run"
    if len(skipped) == 1:
        what = f"Fire time {skipped[0]:%Y-%m-%d %H:%M:%S+00:00} passed without a run"
    else:
        what = (
            f"{len(skipped)} fire times passed without a run, from "
            f"{skipped[0]:%Y-%m-%d %H:%M:%S+00:00} to {skipped[-1]:%Y-%m-%d %H:%M:%S+00:00}"
        )
    assert f"\n{what}: daemon was down.\n" in post["message"]


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
    assert {r["channel"] for r in rows} == {
        f"json://127.0.0.1:{http.port}",
        f"json://127.0.0.1:{dead}",
    }
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


def test_validate_checks_every_alert_url_offline_and_shows_no_secret(project, cli, monkeypatch):
    monkeypatch.setenv("HOOK_HOST", "bad host")
    monkeypatch.delenv("NOT_SET", raising=False)
    project.write(f"""
[alerts]
urls = [
  "json://127.0.0.1:9/{SECRET}",
  "foo://{SECRET}@example.com/x",
  "{SECRET}",
]
heartbeat = "ftp://{SECRET}@example.com/"

[jobs.a]
command = "true"
alerts = {{ urls = ["slak://T000/B000/{SECRET}"] }}

[jobs.b]
command = "true"
[jobs.b.alerts]
urls = ["json://${{HOOK_HOST}}/{SECRET}", "slack://${{NOT_SET}}"]

[jobs.c]
command = "true"
alerts = {{ on = ["success"] }}
""")
    result = cli("validate")
    assert result.exit_code == ExitCode.USAGE
    apprise_form = '(apprise URLs look like "mailto://..." or "slack://...")'
    assert result.stderr.splitlines() == [
        'jobs.toml: job "b": [jobs.b.alerts] urls: variable "NOT_SET" is not set'
        " (export it, or set it in [defaults] env_file)",
        'jobs.toml:2: [alerts] urls: "foo://…": apprise has no "foo://" service',
        f'jobs.toml:2: [alerts] urls: a URL without "scheme://" {apprise_form}',
        'jobs.toml:7: [alerts] heartbeat: "ftp://…" is not an http:// or https:// URL'
        " (the daemon requests it)",
        'jobs.toml:11: job "a": alerts.urls: "slak://…": apprise has no "slak://" service'
        ' (did you mean "slack"?)',
        'jobs.toml:16: job "b": alerts.urls: "json://bad host" is not a URL apprise can use'
        " (check its form in apprise's documentation)",
        "6 problems in jobs.toml; nothing was started.",
    ]
    assert SECRET not in result.output


def test_validate_accepts_the_readmes_alert_urls(project, cli, monkeypatch):
    monkeypatch.setenv("HC_UUID", "0b1c2d3e")
    monkeypatch.setenv("HOOK", "127.0.0.1:9/hook")
    project.write(
        jobs(
            [
                "slack://T000/B000/XXXX/#ops",
                "mailtos://cron:pw@smtp.example.com?to=ops@example.com&from=cron@example.com",
                "json://${HOOK}",
            ],
            '[jobs.x]\ncommand = "true"\nalerts = { urls = ["ntfy://topic"] }\n',
            'heartbeat = "https://hc-ping.com/${HC_UUID}"',
        )
    )
    result = cli("validate")
    assert (result.exit_code, result.stderr) == (ExitCode.OK, "")


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
    assert lines[0] == f"json://127.0.0.1:{http.port}  delivered"
    assert lines[1].startswith(f"json://127.0.0.1:{dead}  failed: ")
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


def test_record_time_is_iso_with_the_jobs_offset(project, cli, http):
    job = '[jobs.x]\ncommand = "exit 1"\ntimezone = "UTC"\n'  # not the machine's zone
    project.write(jobs([f"json://127.0.0.1:{http.port}/h"], job))
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
    from cronplus.redact import Channel, redact, scrub

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


def test_an_alerter_failure_never_changes_a_run_or_stops_its_dependents(project, caplog):
    from cronplus.alerts import Alerter
    from cronplus.paths import StatePaths
    from cronplus.trigger import run_now

    project.write(
        jobs(
            ["json://127.0.0.1:9/x"],
            '[jobs.a]\ncommand = "true"\n[jobs.b]\nafter = ["a"]\ncommand = "true"\n',
            'on = ["success"]',
        )
    )

    class Broken:
        """A state the alerter cannot read or write: every call raises."""

        def __getattr__(self, name):
            def fail(*args):
                raise RuntimeError("alerts are broken")

            return fail

    store, config = project.store(), project.config()
    alerter = Alerter(config, Broken())
    runs = run_now(config, store, StatePaths(project.state), "a", alerter=alerter)
    assert [(r.job, r.status) for r in runs] == [
        ("a", RunStatus.SUCCEEDED),
        ("b", RunStatus.SUCCEEDED),
    ]
    assert [r.getMessage() for r in caplog.records if "alert-error" in r.getMessage()] == [
        "event=alert-error detail='run_ended'",
        "event=alert-error detail='run_ended'",
    ]
    store.close()


def test_a_job_disabled_for_a_while_has_not_missed_anything(project, daemon, http):
    from datetime import timedelta

    from cronplus.model import Claim, Trigger

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
        "tick",
        slot - timedelta(minutes=20),
        Trigger.SCHEDULE,
        Claim(owner=None, now=slot - timedelta(minutes=20), status=RunStatus.SUCCEEDED),
    )
    store.close()
    project.write(toml.replace("ENABLED", "false"))
    d = daemon()
    d.wait_started()
    d.terminate()
    project.write(toml.replace("ENABLED", "true"))
    d = daemon()
    d.wait_started()
    # The stop comes after the start's catch-up (run() starts before it looks at a
    # stop), and waits for the alerts that catch-up sent: no sleep needed.
    assert d.terminate() == 0
    assert http.posts("/hook") == []
    assert "alert" not in d.stderr
    store = project.store()
    # What a missed fire time would have left: a run recorded skipped, "daemon was down".
    assert [r.scheduled_for for r in store.history("tick")] == [slot - timedelta(minutes=20)]
    store.close()


# -- what a user tripped on ---------------------------------------------------------------


def test_channels_on_one_host_are_told_apart_by_port_then_position(project, cli, http, smtp):
    from cronplus.redact import redact

    dead = free_port()
    project.write(
        jobs(
            [
                f"json://127.0.0.1:{http.port}/a",
                f"json://127.0.0.1:{dead}/b",
                f"json://127.0.0.1:{http.port}/c?token={SECRET}",
                f"json://ops:{SECRET}@127.0.0.1:{http.port}/d",
                smtp.url,
            ],
            '[jobs.x]\ncommand = "true"\n',
            'timeout = "1s"',
        )
    )
    result = cli("alert-test")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    shown = [
        f"json://127.0.0.1:{http.port} #1",
        f"json://127.0.0.1:{dead}",
        f"json://127.0.0.1:{http.port} #3",
        f"json://127.0.0.1:{http.port} #4",
        f"mailto://127.0.0.1:{smtp.port}",
    ]
    lines = result.stdout.splitlines()
    assert [line.split("  ")[0] for line in lines] == shown
    assert [line.split("  ")[1] == "delivered" for line in lines] == [True, False, True, True, True]
    records = json.loads(cli("alerts", "--json").stdout)
    assert [r["channel"] for r in records] == shown[::-1]
    assert SECRET not in result.output
    assert redact("mailtos://cron:pw@smtp.example.com:587/x?to=a@b.c") == (
        "mailtos://smtp.example.com:587"
    )
    assert redact("json://[::1]:8080/hook") == "json://[::1]:8080"
    assert redact(f"tgram://123456:{SECRET}@127.0.0.1:99/chat") == "tgram://…"


def test_scrubbing_removes_whole_secrets_but_no_short_pieces_of_words():
    from cronplus.redact import Channel, redact, scrub

    token, password = "Zq9xK2mW7pL4vN8r", "s3cr3t@pass"
    urls = [
        "json://u:pw@127.0.0.1:9/x",  # a short user and password: never scrubbed alone
        f"mailtos://opsbot:{password.replace('@', '%40')}@smtp.example.com:587?to=a@b.c",
        f"json://hooks.example.com/hook/{token}?key=k3yV4lue99",
        f"slack://T0123ABCD/B0123ABCD/{token}",
    ]
    channels = [Channel(u, redact(u)) for u in urls]
    text = (
        "A Connection error occurred sending JSON notification to 127.0.0.1. "
        f"User opsbot at smtp.example.com:587 refused {password} and "
        f"{password.replace('@', '%40')}; {urls[2]} said 403 for {token}x and key=k3yV4lue99; "
        f"slack said no to T0123ABCD ({urls[3]})."
    )
    assert scrub(text, channels) == (
        "A Connection error occurred sending JSON notification to 127.0.0.1. "
        "User *** at smtp.example.com:587 refused *** and ***; *** said 403 for ***x and "
        "***; slack said no to *** (***)."
    )


def test_a_short_user_name_leaves_a_delivery_error_readable(project, cli):
    dead = free_port()
    project.write(
        jobs(
            [f"json://u:{SECRET}@127.0.0.1:{dead}/hook"],
            '[jobs.x]\ncommand = "true"\n',
            'timeout = "1s"',
        )
    )
    result = cli("alert-test")
    assert result.exit_code == ExitCode.NOT_SUCCEEDED
    (line,) = result.stdout.splitlines()
    prefix = f"json://127.0.0.1:{dead}  failed: "
    assert line.startswith(prefix)
    error = line.removeprefix(prefix)
    assert "Connection error occurred" in error and "*" not in error
    assert SECRET not in result.output


def test_retry_alert_states_its_reason_once_and_tails_are_clean_and_short(project, cli, http):
    (project.root / "out.bin").write_bytes(
        b"\x1b[1;31mERROR\x1b[0m \x1b]0;title\x07done\tok \x00" + b"x" * 10_000 + b"\r\n"
    )
    (project.root / "big.bin").write_bytes(
        b"first\n" + b"y" * 70_000 + b"\n\x1b[32mlast\x1b[0m\x1b[K line\n"
    )
    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            """
[jobs.noisy]
command = "if test -e again; then cat big.bin; else touch again; cat out.bin; fi; exit 3"
retries = 1
retry_delay = "0s"
""",
            'on = ["retry", "failure"]',
        )
    )
    cli("trigger", "noisy", "--wait")
    by_title = {p["title"]: p["message"] for p in http.posts("/hook")}
    retry, failure = by_title["cronplus: noisy retrying"], by_title["cronplus: noisy failed"]
    assert "\nStatus: retrying (attempt 1 exit code 3; retry in 0s)\n" in retry
    assert retry.count("exit code 3; retry in 0s") == 1
    # One line of 10,000 characters, cut to 500; the line of 70,000 is cut at both ends
    # (only its end is within the last 64 KB of output).
    line = "ERROR done\tok " + "x" * (499 - len("ERROR done\tok ")) + "…"
    assert f"\n\nLast line of attempt 1:\n{line}\n\nSee more: " in retry
    ys = "…" + "y" * 498 + "…"
    assert f"\n\nLast 2 lines of attempt 2:\n{ys}\nlast line\n\nSee more: " in failure
    for body in (retry, failure):
        assert len(body) < 1_500
        assert not any(c < " " and c not in "\t\n" or "\x7f" <= c <= "\x9f" for c in body)


def test_alert_times_are_in_the_jobs_zone_and_utc_without_a_job(project, cli, http):
    toml = jobs(
        [f"json://127.0.0.1:{http.port}/h"],
        '[jobs.kolkata]\ncommand = "exit 1"\ntimezone = "Asia/Kolkata"\n'
        '[jobs.gone]\ncommand = "exit 1"\ntimezone = "Asia/Kolkata"\n',
    )
    project.write(toml)
    cli("trigger", "kolkata", "--wait")
    cli("trigger", "gone", "--wait")
    project.write(toml.split("[jobs.gone]")[0])  # removed from the jobs file
    assert cli("alert-test").exit_code == ExitCode.OK
    rows = json.loads(cli("alerts", "--json").stdout)
    offsets = {r["job"]: datetime.fromisoformat(r["time"]).utcoffset() for r in rows}
    assert offsets == {None: timedelta(0), "gone": timedelta(0), "kolkata": timedelta(hours=5.5)}
    for r in rows:
        assert abs((datetime.now(UTC) - datetime.fromisoformat(r["time"])).total_seconds()) < 60
    table = cli("alerts").stdout.splitlines()[1:]
    by_job = {line.split()[4]: line.split()[2] for line in table}  # ID DATE TIME EVENT JOB
    assert by_job["kolkata"].endswith("+05:30")
    assert by_job["gone"].endswith("+00:00") and by_job["-"].endswith("+00:00")


# -- missed: only fire times that got no run ---------------------------------------------

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def _engine(project, http, catchup, start):
    """A per-minute job whose last scheduled run was at T0, and an engine with real
    alerts whose clock reads `start`."""
    from cronplus.alerts import Alerter
    from cronplus.dispatch import Dispatcher
    from cronplus.engine import Engine
    from cronplus.paths import StatePaths
    from tests.conftest import FakeClock

    project.write(
        jobs(
            [f"json://127.0.0.1:{http.port}/hook"],
            f"""
[jobs.m]
schedule = "* * * * *"
timezone = "UTC"
catchup = "{catchup}"
command = "true"
""",
        )
    )
    store = project.store()
    store.claim_run(
        "m", T0, Trigger.SCHEDULE, Claim(owner=None, now=T0, status=RunStatus.SUCCEEDED)
    )
    config, clock = project.config(), FakeClock(start)
    alerter = Alerter(config, store, clock=clock, env={})
    dispatcher = Dispatcher(config, store, StatePaths(project.state), clock=clock, alerter=alerter)
    return Engine(config, store, dispatcher, clock=clock), store, dispatcher, alerter


def _missed_text(times):
    def at(t):
        return f"{t:%Y-%m-%d %H:%M:%S+00:00}"

    if len(times) == 1:
        return f"Fire time {at(times[0])} passed without a run: daemon was down."
    return (
        f"{len(times)} fire times passed without a run, from {at(times[0])} "
        f"to {at(times[-1])}: daemon was down."
    )


@pytest.mark.parametrize(
    ("catchup", "skipped"), [("latest", [1, 2, 3]), ("all", []), ("none", [1, 2, 3, 4])]
)
def test_missed_after_downtime_names_only_what_got_no_run(project, http, catchup, skipped):
    # Down from T0 until 0.25 s after the fire time T0+5 min: that one is merely late.
    engine, store, dispatcher, alerter = _engine(
        project, http, catchup, T0 + timedelta(minutes=5, seconds=0.25)
    )
    engine.start(engine.clock.now())
    dispatcher.wait_all()
    alerter.flush(10)
    runs = {r.scheduled_for: r for r in store.history("m")}
    late = runs[T0 + timedelta(minutes=5)]
    assert (late.trigger, late.status, late.reason) == (
        Trigger.SCHEDULE,
        RunStatus.SUCCEEDED,
        None,
    )
    missed = [T0 + timedelta(minutes=i) for i in skipped]
    assert [t for t, r in sorted(runs.items()) if r.status is RunStatus.SKIPPED] == missed
    posts = http.posts("/hook")
    if not missed:
        assert posts == []
    else:
        (post,) = posts
        assert post["title"] == "cronplus: m missed a run"
        assert _missed_text(missed) in post["message"]
    store.close()


def test_a_clock_jump_alerts_missed_only_for_what_it_skipped(project, http):
    engine, store, dispatcher, alerter = _engine(project, http, "latest", T0)
    engine.start(T0)
    now = T0 + timedelta(minutes=5, seconds=0.25)
    engine.clock.set(now)
    engine.jumped(T0, now)
    engine.step(now)
    dispatcher.wait_all()
    alerter.flush(10)
    runs = {r.scheduled_for: r for r in store.history("m")}
    assert runs[T0 + timedelta(minutes=4)].trigger is Trigger.CATCHUP
    assert runs[T0 + timedelta(minutes=5)].trigger is Trigger.SCHEDULE
    (post,) = http.posts("/hook")
    missed = [T0 + timedelta(minutes=i) for i in (1, 2, 3)]
    assert (
        _missed_text(missed).replace("daemon was down", "the clock jumped forward")
        in post["message"]
    )
    store.close()


# -- delivery: one bounded pool --------------------------------------------------------------


def test_a_delivery_beyond_the_limit_in_flight_is_recorded_unsent(black_hole, monkeypatch):
    from cronplus import delivery
    from cronplus.model import AlertEvent
    from cronplus.redact import Channel

    monkeypatch.setattr(delivery, "MAX_IN_FLIGHT", 1)
    outcomes = []
    sender = delivery.Sender(0.5, 0, lambda m, c, error: outcomes.append((c.shown, error)))
    message = delivery.Message(AlertEvent.TEST, None, None, "title", "body")
    hole = Channel(f"json://127.0.0.1:{black_hole}/hook", "hole")
    sender.send(message, hole)
    sender.send(message, Channel(f"json://127.0.0.1:{black_hole}/other", "other"))
    assert outcomes == [("other", "not sent: 1 alerts in flight")]  # at once
    sender.flush(10)
    assert [shown for shown, _ in outcomes] == ["other", "hole"]
    assert outcomes[1][1] is not None


def test_a_stopped_sender_tries_a_failing_channel_no_more(monkeypatch):
    from cronplus import delivery
    from cronplus.model import AlertEvent
    from cronplus.redact import Channel

    tries = []
    monkeypatch.setattr(delivery, "_send", lambda *args: tries.append(1) or "refused")
    done = threading.Event()
    sender = delivery.Sender(60.0, 3, lambda m, c, error: done.set())
    message = delivery.Message(AlertEvent.TEST, None, None, "title", "body")
    sender.send(message, Channel("json://127.0.0.1:9/x", "json://127.0.0.1:9"))
    wait_until(lambda: tries)  # the first try failed; the next would be 12 s later
    sender.stop()
    assert done.wait(5)
    assert len(tries) == 1


def test_a_try_stuck_on_a_dead_network_never_keeps_the_process_from_exiting(tmp_path):
    """A command flushes its alerts for a bounded time and exits; an apprise call still
    stuck past its timeout must not hold the process (nor be sent late)."""
    script = tmp_path / "stuck.py"
    script.write_text(
        textwrap.dedent("""
        import time
        from cronplus import delivery
        from cronplus.model import AlertEvent
        from cronplus.redact import Channel

        delivery._send = lambda *args: time.sleep(30)  # a call no timeout reaches
        done = []
        sender = delivery.Sender(0.5, 0, lambda m, c, error: done.append(error))
        message = delivery.Message(AlertEvent.TEST, None, None, "title", "body")
        sender.send(message, Channel("json://127.0.0.1:9/x", "json://127.0.0.1:9"))
        sender.flush(5)
        print(done)
        """)
    )
    started = time.monotonic()
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "['no answer within 0.5s']"
    assert time.monotonic() - started < 10  # not the 30 s the stuck call takes


def test_every_event_a_job_can_alert_on_has_its_notify_type_chosen():
    """apprise's type gives a message its colour and icon: a new event (deadline) must
    say whether it is a failure, a warning or a success, not fall through to info."""
    from cronplus.delivery import _NOTIFY
    from cronplus.model import ON_EVENTS, AlertEvent

    assert set(ON_EVENTS) <= set(_NOTIFY)
    assert _NOTIFY[AlertEvent.DEADLINE] == "failure"
