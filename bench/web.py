"""`cronplus web`: its pages' server time and size, its start, its memory, what it
imports, and the daemon beside it under `run --web`.

Issue 13, "Performance": with 20 jobs and 2,016 runs, `/` and `/api/status` take
<= 30 ms of server time and weigh <= 150 KiB; with 1,000 jobs and 1,000,000 runs
they stay within 3 x their 20-job time; a run page over a 50 MB log takes <= 30 ms;
the server listens <= 0.5 s after exec; idle it holds <= 30 MiB RSS and grows
< 2 MiB over 1,000 requests; it never imports rich, croniter, apprise or filelock;
the daemon's figures are unchanged under `run --web`.

    python bench/web.py [--requests 50] [--runs 1000000] [--daemon-seconds 35]

The states: the 20-job one is `history.py`'s short state (2,016 runs, its 20 jobs);
the 1,000-job one is built by `history.py`'s builder (the real schema through
`SqliteDb`, 100,000 runs per transaction) over 1,000 jobs in blocks of ten (eight
quarter-hourly, one hourly, one `after` the block's first job), each job its 1,000
newest fire times. The run page's run is the 20-job state's newest `report` run,
its last attempt's log a 50 MB file.

Server time is measured two ways, interleaved request by request with a floor,
`/static/app.css` (the same guard, routing and headers, and a body from memory):
in-process, the WSGI callable (`App`) called with an environ, as `_server.py` calls
it; and over HTTP, a real `cronplus web` (a fresh venv's Python, as in `status.py`)
asked with `http.client`, connection to last byte. Both ask as a browser does, with
`Accept-Encoding: gzip, deflate, br`: the weight is what travels (the unzipped size is
printed beside it; `/` and `/ledger` travel gzipped). A page not written yet answers
404: it is printed as such and its target left out, so this script measures
whatever the checkout has.

Start: Popen to the serving line on stdout, beside a fresh venv's `python -c pass`.
Memory: VmRSS from /proc/PID/status right after the serving line (idle), after one
request of each page (warm, printed), and after 1,000 requests cycling through the
pages; beside an idle `python -c "import time; time.sleep(...)"`. Imports: the real
server run under `python -X importtime`, asked for every page once, then stopped;
its import log holds every module the process imported, at start or in a request
(a debug route or an in-process copy would not be the process that serves). The
daemon under `run --web`: two daemons over 20 idle hourly jobs side by side, one
with `--web 127.0.0.1:0`, their RSS and wake-ups as `idle.py` reads them; skipped,
saying so, while `run` has no `--web`. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import gzip
import http.client
import io
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import history  # noqa: E402
from _daemon import START_TIMEOUT_S, stop_daemon  # noqa: E402
from idle import SETTLE_S, Measured, rss_mib  # noqa: E402
from idle import jobs_toml as idle_jobs_toml  # noqa: E402
from status import clean_env, make_venvs  # noqa: E402

from cronplus.clock import system_clock  # noqa: E402
from cronplus.engine import MAX_SLEEP_S  # noqa: E402
from cronplus.store.sqlite import SqliteDb  # noqa: E402
from cronplus.web._app import App  # noqa: E402
from cronplus.web._guard import Settings  # noqa: E402
from cronplus.web._source import Source  # noqa: E402

MAX_PAGE_MS = 30.0
MAX_PAGE_KIB = 150.0  # as it travels: a browser asks for gzip
ACCEPT_ENCODING = "gzip, deflate, br"  # what Chromium sends
MAX_BIG_RATIO = 3.0
MAX_LISTEN_S = 0.5
MAX_RSS_MIB = 30.0
MAX_GROWTH_MIB = 2.0
MAX_DAEMON_RSS_GROWTH_MIB = 1.0  # "unchanged": within what two runs of idle.py differ by
FORBIDDEN = ("rich", "croniter", "apprise", "filelock")
FLOOR = "/static/app.css"
LOG_MB = 50
BIG_JOBS = 1_000
MANY_REQUESTS = 1_000
STARTS = 10


def big_jobs_toml() -> str:
    parts = ['[defaults]\ntimezone = "UTC"\n']
    for name, step, minute, after in big_jobs():
        if after:
            parts.append(f'[jobs.{name}]\nafter = ["{after}"]\ncommand = "true"\n')
        else:
            cron = f"{minute}-59/15 * * * *" if step == 900 else f"{minute} * * * *"
            parts.append(f'[jobs.{name}]\nschedule = "{cron}"\ncommand = "true"\n')
    return "\n".join(parts)


def big_jobs() -> list[tuple[str, int, int, str | None]]:
    """(name, seconds between fire times, minute, the job it is after) of 1,000 jobs."""
    out: list[tuple[str, int, int, str | None]] = []
    for block in range(BIG_JOBS // 10):
        first = f"b{block:03d}_q0"
        for q in range(8):
            out.append((f"b{block:03d}_q{q}", 900, (block + q) % 15, None))
        out.append((f"b{block:03d}_hourly", 3600, block % 60, None))
        out.append((f"b{block:03d}_after", 900, block % 15, first))
    return out


def big_times(now: datetime, count: int) -> list[tuple[str, int]]:
    """`history.job_times` for the 1,000 jobs: each job's newest fire times."""
    jobs = big_jobs()
    end = int(now.timestamp()) - 60
    out = []
    for i, (_, step, minute, _after) in enumerate(jobs):
        newest = (end - minute * 60) // step * step + minute * 60
        k = count // len(jobs) + (i < count % len(jobs))
        out += [(i, newest - j * step) for j in range(k)]
    out.sort(key=lambda p: (p[1], p[0]))
    return [(jobs[i][0], t) for i, t in out]


def build_states(root: Path, runs: int, now: datetime) -> dict[str, Path]:
    """jobs files and states: "20" (history.py's short one) and "1000"."""
    (root / "jobs-20.toml").write_text(history.jobs_toml())
    (root / "jobs-1000.toml").write_text(big_jobs_toml())
    took = history.build_state(root / "state-20", history.SHORT_RUNS, now)
    print(f"built the 20-job state: {history.SHORT_RUNS:,} runs in {took:.1f} s")
    with mock.patch.object(history, "job_times", big_times):
        took = history.build_state(root / "state-1000", runs, now)
    print(f"built the {BIG_JOBS:,}-job state: {runs:,} runs in {took:.1f} s")
    return {"20": root / "state-20", "1000": root / "state-1000"}


def big_log(state: Path) -> tuple[int, int]:
    """Give the newest `report` run's last attempt a 50 MB log: (run id, attempt)."""
    db = SqliteDb(state / "state.db")
    try:
        row = db.rows(
            "SELECT a.run_id, a.number, a.log FROM attempts a JOIN runs r ON r.id = a.run_id"
            " WHERE r.job = ? ORDER BY r.scheduled_for DESC, a.number DESC LIMIT 1",
            (history.LOG_JOB,),
        )[0]
    finally:
        db.close()
    line = b"the job said something of no importance at all, at some length, as jobs do\n"
    log = Path(row["log"])
    log.parent.mkdir(mode=0o700, exist_ok=True)
    with open(log, "wb") as f:
        chunk = line * (1 << 14)
        for _ in range(LOG_MB * 1_000_000 // len(chunk) + 1):
            f.write(chunk)
    return int(row["run_id"]), int(row["number"])


class InProcess:
    """The WSGI callable over one state, called as `_server.py` calls it."""

    def __init__(self, jobs: Path, state: Path) -> None:
        self.app = App(Source(str(jobs), str(state), system_clock()), Settings("127.0.0.1", 8421))

    def get(self, path: str) -> tuple[int, bytes, float]:
        environ = {
            "REQUEST_METHOD": "GET",
            "PATH_INFO": path.split("?")[0],
            "QUERY_STRING": path.partition("?")[2],
            "HTTP_HOST": "127.0.0.1:8421",
            "HTTP_ACCEPT_ENCODING": ACCEPT_ENCODING,
            "wsgi.input": io.BytesIO(),
        }
        got: list[str] = []
        t0 = time.perf_counter()
        body = b"".join(self.app(environ, lambda status, headers: got.append(status)))
        return int(got[0].split()[0]), body, time.perf_counter() - t0


class Server:
    """A real `cronplus web --port 0`, stdout read up to its serving line."""

    def __init__(self, py: str, jobs: Path, state: Path, env: dict, *pre: str) -> None:
        argv = [py, *pre, "-m", "cronplus", "-c", str(jobs), "--state", str(state), "web"]
        self.stderr = tempfile.TemporaryFile()  # noqa: SIM115 (read after stop())
        self.t0 = time.perf_counter()
        self.proc = subprocess.Popen(
            [*argv, "--port", "0"], env=env, stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=self.stderr,
        )  # fmt: skip
        line = self.proc.stdout.readline().decode()
        self.listening_s = time.perf_counter() - self.t0
        if not line.startswith("cronplus web: serving http://"):
            self.stop()
            sys.exit(f"cronplus web did not start: {line!r}\n{self.stderr_text()}")
        self.port = int(line.rstrip().rstrip("/").rsplit(":", 1)[1])

    def get(self, path: str) -> tuple[int, bytes, float]:
        t0 = time.perf_counter()
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request("GET", path, headers={"Accept-Encoding": ACCEPT_ENCODING})
            resp = conn.getresponse()
            body = resp.read()
        finally:
            conn.close()
        return resp.status, body, time.perf_counter() - t0

    def stderr_text(self) -> str:
        self.stderr.seek(0)
        return self.stderr.read().decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc.stdout.close()


def median_ms(xs: list[float]) -> float:
    return statistics.median(xs) * 1000


def time_pages(targets: dict[tuple, tuple], repeat: int) -> dict[tuple, tuple]:
    """label -> (HTTP status, body bytes on the wire, median ms, unzipped bytes): each
    target (client, path) asked once to warm up, then `repeat` rounds, every target
    once a round."""
    first = {label: client.get(path) for label, (client, path) in targets.items()}
    times: dict[tuple, list[float]] = {label: [] for label in targets}
    for _ in range(repeat):
        for label, (client, path) in targets.items():
            times[label].append(client.get(path)[2])
    return {
        k: (first[k][0], len(first[k][1]), median_ms(v), raw_size(first[k][1]))
        for k, v in times.items()
    }


def raw_size(body: bytes) -> int:
    """The body's size once a browser has unzipped it (gzip: its magic bytes)."""
    return len(gzip.decompress(body)) if body[:2] == b"\x1f\x8b" else len(body)


def page_figures(clients: dict, pages: dict[str, list[str]], repeat: int) -> list[str]:
    """Print each page's server time and size beside the floor; the targets missed."""
    targets = {
        (size, path, where): (clients[size, where], path)
        for size, paths in pages.items()
        for path in [*paths, FLOOR]
        for where in ("wsgi", "http")
    }
    got = time_pages(targets, repeat)
    print(f"\nserver time, median of {repeat} requests (in-process WSGI call / over HTTP)")
    print(
        f"(asked as a browser asks: Accept-Encoding: {ACCEPT_ENCODING}; KiB on the wire / unzipped)"
    )
    head = f"{'page':<24} {'jobs':>5} {'status':>6} {'KiB':>7} {'raw KiB':>8}"
    print(f"{head} {'in-process':>11} {'HTTP':>9}")
    failures = []
    for size, paths in pages.items():
        for path in [*paths, FLOOR]:
            status, size_b, wsgi, raw_b = got[size, path, "wsgi"]
            over = got[size, path, "http"][2]
            name = "floor " + path if path == FLOOR else path
            print(
                f"{name:<24} {size:>5} {status:>6} {size_b / 1024:7.1f} {raw_b / 1024:8.1f}"
                f" {wsgi:8.2f} ms"
                f" {over:6.2f} ms"
            )
            if status != 200 or path == FLOOR:
                continue
            if size == "20" and path in ("/", "/api/status") or path.startswith("/runs/"):
                worst = max(wsgi, over)
                if worst > MAX_PAGE_MS:
                    failures.append(f"{path} ({size} jobs) {worst:.1f} ms > {MAX_PAGE_MS:g} ms")
                if not path.startswith("/runs/") and size_b > MAX_PAGE_KIB * 1024:
                    failures.append(f"{path} {size_b / 1024:.0f} KiB > {MAX_PAGE_KIB:g} KiB")
    print(f"{BIG_JOBS:,} jobs against 20 (targets <= {MAX_BIG_RATIO:g} x)")
    for path in ("/", "/api/status", "/graph"):
        if got["20", path, "wsgi"][0] != 200 or got["1000", path, "wsgi"][0] != 200:
            print(f"  {path}: not served yet (status {got['1000', path, 'wsgi'][0]})")
            continue
        ratios = [got["1000", path, w][2] / got["20", path, w][2] for w in ("wsgi", "http")]
        note = "" if path != "/graph" else "   (information: no target)"
        print(f"  {path:<12} in-process {ratios[0]:5.2f} x   HTTP {ratios[1]:5.2f} x{note}")
        if path != "/graph" and max(ratios) > MAX_BIG_RATIO:
            failures.append(f"{path} at {BIG_JOBS:,} jobs {max(ratios):.2f} x > {MAX_BIG_RATIO:g}")
    return failures


def listening(floor_py: str, py: str, jobs: Path, state: Path, env: dict) -> list[str]:
    """Popen to the serving line, beside `python -c pass`, interleaved."""
    web_s, floor_s = [], []
    for _ in range(STARTS):
        t0 = time.perf_counter()
        subprocess.run([floor_py, "-c", "pass"], env=env, check=True)
        floor_s.append(time.perf_counter() - t0)
        server = Server(py, jobs, state, env)
        web_s.append(server.listening_s)
        server.stop()
    web, floor = statistics.median(web_s), statistics.median(floor_s)
    print(
        f"\nlistening after exec, median of {STARTS}: {web * 1000:.1f} ms"
        f"   floor (python -c pass, fresh venv) {floor * 1000:.1f} ms   {web / floor:.1f} x"
        f"   (target <= {MAX_LISTEN_S * 1000:g} ms)"
    )
    return [f"listening {web:.2f} s > {MAX_LISTEN_S:g} s"] if web > MAX_LISTEN_S else []


def memory(floor_py: str, py: str, jobs: Path, state: Path, env: dict, paths: list) -> list[str]:
    """VmRSS idle, after one request of each page, after 1,000 requests."""
    sleeper = subprocess.Popen(
        [floor_py, "-c", "import time; print(flush=True); time.sleep(600)"],
        env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
    )  # fmt: skip
    sleeper.stdout.readline()
    floor = rss_mib(sleeper.pid)[0]
    sleeper.kill()
    sleeper.wait()
    server = Server(py, jobs, state, env)
    try:
        idle = rss_mib(server.proc.pid)[0]
        for path in paths:
            server.get(path)
        warm = rss_mib(server.proc.pid)[0]
        for i in range(MANY_REQUESTS - len(paths)):
            server.get(paths[i % len(paths)])
        after, peak = rss_mib(server.proc.pid)
    finally:
        server.stop()
    growth = after - idle
    print(
        f"\nRSS: idle {idle:.1f} MiB (target <= {MAX_RSS_MIB:g})   floor (idle python, fresh venv)"
        f" {floor:.1f} MiB\n     after each page once {warm:.1f} MiB; after {MANY_REQUESTS:,}"
        f" requests {after:.1f} MiB (peak {peak:.1f}): grew {growth:.2f} MiB from idle"
        f" (target < {MAX_GROWTH_MIB:g}), {after - warm:.2f} MiB from warm"
    )
    failures = []
    if idle > MAX_RSS_MIB:
        failures.append(f"idle RSS {idle:.1f} MiB > {MAX_RSS_MIB:g} MiB")
    if growth >= MAX_GROWTH_MIB:
        failures.append(f"RSS grew {growth:.2f} MiB over {MANY_REQUESTS:,} requests")
    return failures


def imports(py: str, jobs: Path, state: Path, env: dict, paths: list) -> list[str]:
    """Every module the real server imported, at start or serving each page once."""
    server = Server(py, jobs, state, env, "-X", "importtime")
    try:
        for path in paths:
            server.get(path)
    finally:
        server.stop()
    names = {
        line.rsplit("|", 1)[1].strip().split(".")[0]
        for line in server.stderr_text().splitlines()
        if line.startswith("import time:") and "|" in line and "cumulative" not in line
    }
    found = sorted(m for m in FORBIDDEN if m in names)
    stdlib = sys.stdlib_module_names
    others = [n for n in names if n not in stdlib and not n.startswith(("cronplus", "_sysconf"))]
    # The log also holds imports tried and failed (copy's `org.python.core`, site's
    # `sitecustomize`): keep those the server's Python can find.
    find = "import importlib.util as u, sys; print(*[n for n in sys.argv[1:] if u.find_spec(n)])"
    found_out = subprocess.run([py, "-c", find, *others], env=env, capture_output=True, text=True)
    outside = sorted(found_out.stdout.split())
    print(
        f"\nimports of the server after every page once ({len(paths)} pages): {len(names)}"
        f" top-level modules; outside the standard library: {', '.join(outside) or 'none'};"
        f" forbidden ({', '.join(FORBIDDEN)}): {', '.join(found) or 'none'}"
    )
    return [f"the server imported {', '.join(found)}"] if found else []


def start_daemon(py: str, root: Path, env: dict, *extra: str) -> subprocess.Popen[bytes]:
    """`cronplus run EXTRA...` in root, once it logged `event=started` (and, with
    `--web`, once its child's serving line reached the daemon's stdout)."""
    out, err = root / "daemon.stdout", root / "daemon.stderr"
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen(
            [py, "-m", "cronplus", "-c", str(root / "jobs.toml"), "--state",
             str(root / "state"), "run", *extra],
            cwd=root, env=env, stdin=subprocess.DEVNULL, stdout=o, stderr=e,
            start_new_session=True,
        )  # fmt: skip
    deadline = time.monotonic() + START_TIMEOUT_S
    while b"event=started" not in err.read_bytes() or (
        extra and b"cronplus web: serving" not in out.read_bytes()
    ):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_daemon(proc)
            sys.exit(f"the daemon did not start:\n{err.read_text()}{out.read_text()}")
        time.sleep(0.05)
    return proc


def children(pid: int) -> list[int]:
    """The processes `pid` started, from any of its threads (the web child is started
    by the daemon's supervising thread, so it is that task's child, not the main's)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(p) for p in (task / "children").read_text().split()]
    return found


def daemons(py: str, root: Path, env: dict, seconds: float) -> list[str]:
    """Two daemons over 20 idle hourly jobs side by side, one with `--web`: RSS and
    wake-ups of the daemon process (not its web child) over the same window."""
    helped = subprocess.run([py, "-m", "cronplus", "run", "--help"], env=env, capture_output=True)
    if b"--web" not in helped.stdout:
        print(
            "\ndaemon under `run --web`: not measured, this checkout's `cronplus run` has no"
            " --web yet (this part runs once it has)"
        )
        return []
    now = datetime.now(UTC)
    kinds = {"plain": (), "web": ("--web", "127.0.0.1:0")}
    for kind in kinds:
        (root / f"daemon-{kind}").mkdir()
        (root / f"daemon-{kind}" / "jobs.toml").write_text(idle_jobs_toml(now, seconds, 20))
    for kind, extra in kinds.items():  # writes the .pyc files first, as idle.py does
        stop_daemon(start_daemon(py, root / f"daemon-{kind}", env, *extra))
    procs = {kind: start_daemon(py, root / f"daemon-{kind}", env, *e) for kind, e in kinds.items()}
    try:
        time.sleep(SETTLE_S)
        measured = {kind: Measured(p.pid) for kind, p in procs.items()}
        time.sleep(seconds)
        for m in measured.values():
            m.end()
        child = children(procs["web"].pid)
        child_rss = rss_mib(child[0])[0] if child else float("nan")
    finally:
        codes = {kind: stop_daemon(p) for kind, p in procs.items()}
    bound = int(seconds // MAX_SLEEP_S) + 1
    plain, web = measured["plain"], measured["web"]
    wake = {kind: sum(m.wakeups().values()) for kind, m in measured.items()}
    print(
        f"\ndaemon, 20 idle hourly jobs, {seconds:g} s side by side: RSS {plain.rss:.1f} MiB"
        f" plain, {web.rss:.1f} MiB with --web (its web child: {child_rss:.1f} MiB);"
        f" wake-ups {wake['plain']} plain, {wake['web']} with --web (bound {bound});"
        f" exit codes on SIGTERM {codes['plain']}, {codes['web']}"
    )
    failures = []
    if web.rss > plain.rss + MAX_DAEMON_RSS_GROWTH_MIB:
        failures.append(f"daemon RSS with --web {web.rss - plain.rss:+.1f} MiB")
    if wake["web"] > max(bound, wake["plain"]):
        failures.append(f"daemon wake-ups with --web {wake['web']} > {bound}")
    if codes["web"] != 0:
        failures.append(f"the daemon with --web exited {codes['web']} on SIGTERM")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=50, help="timed requests of each page")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs of the 1,000 jobs")
    parser.add_argument("--daemon-seconds", type=float, default=35.0, help="idle window")
    args = parser.parse_args()
    repeat = max(5, min(args.requests, 1000))
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-web-") as tmp:
        root = Path(tmp)
        env = clean_env(root / "pycache")
        env["XDG_CACHE_HOME"] = str(root / "cache")  # the jobs file's cache, here
        for k in [k for k in os.environ if k.startswith("CRONPLUS_")]:
            del os.environ[k]  # the in-process App reads the same as the servers
        os.environ["XDG_CACHE_HOME"] = env["XDG_CACHE_HOME"]
        floor_py, py = make_venvs(root)
        states = build_states(root, args.runs, now)
        jobs = {size: root / f"jobs-{size}.toml" for size in states}
        run_id, attempt = big_log(states["20"])
        run = f"/runs/{run_id}"
        pages = {"20": ["/", "/api/status", run, "/graph"], "1000": ["/", "/api/status", "/graph"]}
        servers = {size: Server(py, jobs[size], states[size], env) for size in states}
        try:
            clients = {(size, "http"): server for size, server in servers.items()}
            clients |= {(size, "wsgi"): InProcess(jobs[size], states[size]) for size in states}
            failures = page_figures(clients, pages, repeat)
        finally:
            for server in servers.values():
                server.stop()
        small = (jobs["20"], states["20"], env)
        job = history.LOG_JOB
        every = [*pages["20"], "/graph.svg", f"/jobs/{job}", f"/api/jobs/{job}/history?limit=20",
                 f"/api/runs/{run_id}", f"/api/next?job={job}&n=5", "/ledger", FLOOR,
                 "/static/app.js"]  # fmt: skip
        failures += listening(floor_py, py, *small)
        failures += memory(floor_py, py, *small, every)
        failures += imports(py, *small, [*every, f"{run}/attempts/{attempt}/log"])
        failures += daemons(py, root, env, max(5.0, args.daemon_seconds))
    print("\nthe machine may be shared: ratios to the floors above are the figures to compare")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print("OK: every target met (pages not served yet are left out, as printed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
