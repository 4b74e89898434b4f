"""What a user of several hosts sees (issue 17): real daemons, each with its own
CRONPLUS_HOST, on a real PostgreSQL state, and the commands a user types beside them.
Alerts are sent once per event whichever daemon sees it, two backfills over the same
days run each day once, the read commands and `cronplus web` work on the database,
pause and resume reach every daemon, and the password is in no output, log, file or
row (a `pg_dump` of the database)."""

from __future__ import annotations

import collections
import contextlib
import json
import os
import signal
import subprocess
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cronplus.paths import StatePaths
from tests.conftest import wait_until
from tests.pgserver import PASSWORD, USER, bindir
from tests.test_alerts import Http
from tests.test_cluster import LEASE, daemons_listed, rows
from tests.test_hosts import Hosts

pytestmark = pytest.mark.slow


class Cluster(Hosts):
    """`cronplus` processes on one project folder and state, each under a host name
    of its own (`Hosts`), daemons among them; every output kept, to look for the
    password in."""

    def __init__(self, root: Path, state: str | None) -> None:
        super().__init__(root, state)
        self.daemons: dict[str, subprocess.Popen] = {}
        self.background: list[subprocess.Popen] = []

    def run(self, *args: str, host: str | None = "desk") -> subprocess.CompletedProcess[str]:
        done = super().run(host, *args)
        assert "Traceback" not in done.stderr, done.stderr
        return done

    def spawn(self, *args: str, host: str, name: str) -> subprocess.Popen:
        """A process in the background, its output to NAME.out / NAME.err."""
        proc = subprocess.Popen(
            self.argv(*args),
            cwd=self.root,
            env=self.env(host),
            stdin=subprocess.DEVNULL,
            stdout=open(self.root / f"{name}.out", "wb"),  # noqa: SIM115 (the child holds it)
            stderr=open(self.root / f"{name}.err", "wb"),  # noqa: SIM115
            start_new_session=True,
        )
        self.background.append(proc)
        return proc

    def output(self, name: str) -> str:
        return (self.root / f"{name}.err").read_text(errors="replace")

    def start_daemons(self, url: str, *hosts: str) -> None:
        for h in hosts:
            self.daemons[h] = self.spawn("run", host=h, name=f"daemon-{h}")
        for h, proc in self.daemons.items():
            err = f"daemon-{h}"
            wait_until(
                lambda e=err, p=proc: "event=started" in self.output(e) or p.poll() is not None,
                30,
            )
            assert proc.poll() is None, self.output(f"daemon-{h}")
        wait_until(lambda: len(daemons_listed(url)) == len(hosts), 30)

    def stop(self) -> None:
        for proc in self.background:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.background:
            try:
                proc.wait(30)
            finally:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for h in self.daemons:
            self.outputs.append(self.output(f"daemon-{h}"))

    def stop_daemons(self) -> None:
        self.stop()
        for h, proc in self.daemons.items():
            assert proc.returncode == 0, self.output(f"daemon-{h}")
            assert "Traceback" not in self.output(f"daemon-{h}")


@pytest.fixture
def cluster(project, pg_url):
    c = Cluster(project.root, pg_url)
    yield c
    c.stop()
    assert not any(PASSWORD in text for text in c.outputs)


@pytest.fixture
def http():
    h = Http()
    yield h
    h.close()


def when(text: str) -> datetime:
    return datetime.fromisoformat(text)


# -- 1. alerts --------------------------------------------------------------------------------


def test_each_event_is_alerted_once_whichever_daemon_sees_it(project, cluster, pg_url, http):
    """Two failing per-second jobs (repeat_after left at 1h: one failure alert each, as
    one daemon alone would send), and a job whose every run misses its deadline: one
    deadline alert per fire time, though both daemons check deadlines."""
    project.write(
        f"""
[defaults]
{LEASE}
timezone = "UTC"

[alerts]
urls = ["json://127.0.0.1:{http.port}/hook"]

[jobs.f1]
schedule = "* * * * * *"
command = "exit 3"

[jobs.f2]
schedule = "* * * * * *"
command = "exit 3"

[jobs.late]
schedule = "*/4 * * * * *"
command = "sleep 3"
deadline = "1s"
"""
    )
    cluster.start_daemons(pg_url, "a", "b")

    def deadlines_passed() -> list[str]:
        """`late`'s fire times whose deadline passed 2 s ago or more."""
        now = datetime.now(UTC)
        got = rows(pg_url, "SELECT scheduled_for FROM cronplus.runs WHERE job = 'late'")
        return [t for (t,) in got if when(t) + timedelta(seconds=3) < now]

    def failures() -> int:
        return rows(pg_url, "SELECT count(*) FROM cronplus.runs WHERE status = 'failed'")[0][0]

    wait_until(lambda: len(deadlines_passed()) >= 2 and failures() >= 10, 40)
    due = deadlines_passed()
    cluster.stop_daemons()
    posts = http.posts("/hook")
    titles = collections.Counter(p["title"] for p in posts)
    assert titles["cronplus: f1 failed"] == 1, titles
    assert titles["cronplus: f2 failed"] == 1, titles
    failed = rows(pg_url, "SELECT DISTINCT job FROM cronplus.runs WHERE status = 'failed'")
    assert sorted(failed) == [("f1",), ("f2",)]  # the other failures were held

    deadline = [p for p in posts if p["title"] == "cronplus: late missed its deadline"]
    alerted = [p["message"].split("Logical time: ", 1)[1].split("\n", 1)[0] for p in deadline]
    assert len(alerted) == len(set(alerted)), alerted  # once per fire time
    # Every fire time of `late` whose deadline passed while both daemons ran is alerted.
    assert {when(t) for t in due} <= {when(t) for t in alerted}
    assert sum(titles.values()) == 2 + len(alerted), titles  # nothing else, nothing twice

    shown = cluster.run("alerts", "--json", "--limit", "1000")
    assert shown.returncode == 0, shown.stderr
    records = json.loads(shown.stdout)
    assert all(r["sent"] for r in records)
    assert collections.Counter((r["job"], r["event"]) for r in records) == {
        ("f1", "failure"): 1,
        ("f2", "failure"): 1,
        ("late", "deadline"): len(alerted),
    }


# -- 2. backfills -----------------------------------------------------------------------------


def test_two_backfills_over_the_same_days_beside_daemons_run_each_day_once(
    project, cluster, pg_url
):
    project.write(
        f"""
[defaults]
{LEASE}

[jobs.tick]
schedule = "* * * * * *"
command = "true"

[jobs.daily]
schedule = "0 3 * * *"
timezone = "UTC"
command = 'echo "$CRONPLUS_SCHEDULED_FOR $CRONPLUS_HOST" >> days.log; sleep 1'
"""
    )
    cluster.start_daemons(pg_url, "d1", "d2")
    first = cluster.spawn(
        "backfill", "daily", "--from", "2026-10-01", "--to", "2026-10-04", host="bf1", name="bf1"
    )
    second = cluster.spawn(
        "backfill", "daily", "--from", "2026-10-02", "--to", "2026-10-05", host="bf2", name="bf2"
    )
    assert first.wait(60) == 0, cluster.output("bf1")
    assert second.wait(60) == 0, cluster.output("bf2")
    cluster.outputs += [cluster.output("bf1"), cluster.output("bf2")]

    lines = (project.root / "days.log").read_text().splitlines()
    ran = dict(line.split() for line in lines)
    assert len(lines) == len(ran) == 5  # each logical day executed exactly once
    assert sorted(when(t).date().day for t in ran) == [1, 2, 3, 4, 5]
    assert set(ran.values()) == {"bf1", "bf2"}  # both backfills ran some of them
    assert all(ran[t] == "bf1" for t in ran if when(t).day == 1)
    assert all(ran[t] == "bf2" for t in ran if when(t).day == 5)

    history = cluster.run("history", "daily", "--json")
    assert history.returncode == 0, history.stderr
    runs = json.loads(history.stdout)
    assert len(runs) == 5
    for run in runs:
        assert (run["status"], run["trigger"]) == ("succeeded", "backfill")
        (attempt,) = run["attempt_details"]
        assert run["host"] == attempt["host"] == ran[run["scheduled_for"]]  # its own host

    on = cluster.run("status", "daily", "--on", "2026-10-03", "--json")
    assert on.returncode == 0, on.stderr
    assert '"succeeded"' in on.stdout and "2026-10-03T03:00:00" in on.stdout
    table = cluster.run("status", "daily", "--on", "2026-10-03")
    assert table.returncode == 0 and "succeeded" in table.stdout, table.stdout
    assert rows(pg_url, "SELECT count(*) FROM cronplus.runs WHERE job = 'tick'")[0][0] >= 3
    cluster.stop_daemons()


# -- 3. the CLI on a PostgreSQL state ---------------------------------------------------------


def per_second(*names: str) -> str:
    return "".join(
        f'\n[jobs.{n}]\nschedule = "* * * * * *"\n'
        f"command = 'echo \"$CRONPLUS_JOB $CRONPLUS_HOST $CRONPLUS_SCHEDULED_FOR\"'\n"
        for n in names
    )


def runs_after(url: str, job: str, t: datetime) -> list[str]:
    """Logical times of `job`'s executed runs after t (skipped ones are not)."""
    got = rows(
        url,
        "SELECT scheduled_for FROM cronplus.runs WHERE job = %s AND attempts > 0",
        (job,),
    )
    return [s for (s,) in got if when(s) > t]


def web_status(cluster: Cluster) -> list[dict]:
    """`cronplus web` started as its own process on a free loopback port: /api/status."""
    web = cluster.spawn("web", "--port", "0", host="webhost", name="web")
    out = cluster.root / "web.out"
    wait_until(lambda: out.read_text().startswith("cronplus web: serving http://"), 30)
    url = out.read_text().split("serving ", 1)[1].split()[0].rstrip("/")
    with urllib.request.urlopen(f"{url}/api/status", timeout=15) as resp:
        assert resp.status == 200
        body = json.loads(resp.read())
    web.send_signal(signal.SIGTERM)
    assert web.wait(15) == 0
    cluster.outputs += [out.read_text(), cluster.output("web")]
    return body


def exercise_the_cli(project, cluster: Cluster, url: str) -> None:
    """Each command a user of several hosts types, checked."""
    listed = cluster.run("status", "--daemons", "--json")
    assert listed.returncode == 0, listed.stderr
    pids = {d["host"]: d["pid"] for d in json.loads(listed.stdout)}
    assert pids == {h: p.pid for h, p in cluster.daemons.items()}

    status = cluster.run("status")
    assert status.returncode == 0, status.stdout + status.stderr
    for h, pid in pids.items():
        assert f"daemon: {h} pid {pid}, last heartbeat " in status.stdout
    shown = StatePaths(project.root, url=url).shown
    assert shown.startswith(f"postgresql://{USER}@127.0.0.1:") and PASSWORD not in shown
    assert f"(state {shown})" in status.stdout

    history = cluster.run("history", "p1", "--json", "--limit", "100")
    assert history.returncode == 0, history.stderr
    runs = [r for r in json.loads(history.stdout) if r["status"] == "succeeded"]
    assert len(runs) >= 3 and {r["host"] for r in runs} <= set(pids)
    for r in runs:
        assert r["host"] == r["attempt_details"][0]["host"]

    run = runs[0]
    logs = cluster.run("logs", "p1", "--run", str(run["id"]), host="elsewhere")
    assert logs.returncode == 0, logs.stderr
    assert logs.stdout.startswith(f"p1 {run['host']} ")  # the kept tail: what it printed
    assert f'ran on host "{run["host"]}"' in logs.stderr

    nxt = cluster.run("next", "p1")
    assert nxt.returncode == 0 and nxt.stdout.strip(), nxt.stderr

    paused = cluster.run("pause", "p1")
    assert paused.returncode == 0, paused.stderr
    paused_at = datetime.now().astimezone()
    time.sleep(4)
    assert [
        t for t in runs_after(url, "p1", paused_at) if when(t) > paused_at + timedelta(seconds=2)
    ] == []
    assert len(runs_after(url, "p2", paused_at)) >= 2  # the other job goes on
    resumed = cluster.run("resume", "p1")
    assert resumed.returncode == 0, resumed.stderr
    resumed_at = datetime.now().astimezone()
    wait_until(lambda: len(runs_after(url, "p1", resumed_at)) >= 2, 20)

    api = web_status(cluster)
    assert {j["job"] for j in api} >= {"p1", "p2"}, api
    assert {j["last_run"]["host"] for j in api if j["last_run"]} <= set(pids)


def test_the_cli_on_a_postgresql_state_beside_two_daemons(project, cluster, pg_url):
    project.write(f"[defaults]\n{LEASE}\n" + per_second("p1", "p2"))
    cluster.start_daemons(pg_url, "h1", "h2")
    wait_until(lambda: len(runs_after(pg_url, "p1", datetime(2000, 1, 1, tzinfo=UTC))) >= 3, 20)
    exercise_the_cli(project, cluster, pg_url)
    cluster.stop_daemons()


# -- 4. the password ---------------------------------------------------------------------------


def test_the_password_is_in_no_output_log_file_or_row(project, pg_server, pg_url, http):
    """The URL, password inside, in the jobs file's [defaults].state: after daemons
    and every command ran, it is in no output, no file under the project folder
    (the daemons' logs, `.cronplus/`, the read commands' config cache:
    XDG_CACHE_HOME is there, see the `project` fixture), and no row of the database."""
    project.write(
        f"""
[defaults]
state = "{pg_url}"
{LEASE}

[alerts]
urls = ["json://127.0.0.1:{http.port}/hook"]
{per_second("p1", "p2")}
[jobs.broken]
command = "exit 3"
"""
    )
    cluster = Cluster(project.root, None)
    try:
        cluster.start_daemons(pg_url, "h1", "h2")
        wait_until(lambda: len(runs_after(pg_url, "p1", datetime(2000, 1, 1, tzinfo=UTC))) >= 3, 20)
        exercise_the_cli(project, cluster, pg_url)
        for args in (("alerts", "--json"), ("history", "--json"), ("validate",)):
            done = cluster.run(*args)
            assert done.returncode == 0, done.stderr
        assert cluster.run("trigger", "p2", "--wait").returncode == 0
        assert cluster.run("trigger", "broken", "--wait").returncode == 1  # an alert
        cluster.stop_daemons()
    finally:
        cluster.stop()
    assert http.posts("/hook")  # the alerts went out
    assert not [text for text in cluster.outputs if PASSWORD in text]

    jobs_file = project.jobs_file.resolve()
    leaked = [
        str(path)
        for path in project.root.rglob("*")
        if path.is_file() and path.resolve() != jobs_file and PASSWORD.encode() in path.read_bytes()
    ]
    assert leaked == []
    assert os.environ["XDG_CACHE_HOME"] == str(project.root / ".cache")  # looked in above

    dbname = pg_url.rsplit("/", 1)[1]
    dump = subprocess.run(
        [
            str(bindir() / "pg_dump"),
            "-h",
            "127.0.0.1",
            "-p",
            str(pg_server.port),
            "-U",
            USER,
            dbname,
        ],
        env={**os.environ, "PGPASSWORD": PASSWORD},
        capture_output=True,
        timeout=60,
    )
    assert dump.returncode == 0, dump.stderr
    assert b"cronplus.runs" in dump.stdout and b"COPY cronplus.attempts" in dump.stdout
    assert PASSWORD.encode() not in dump.stdout, "the password is in a row of the database"
