"""Several daemons on one PostgreSQL state (issue 17, "Scale"): runs/s sustained.

    python bench/cluster.py [--daemons 1,2,3] [--max-n 1500] [--window 10] [--quick]

Starts a real PostgreSQL server (tests/pgserver.py), then for each daemon count runs
that many `cronplus run` processes (each its own CRONPLUS_HOST, one shared jobs
folder, `lease = "3s"`) on N per-second `true` jobs, N raised (25, 50, 100, 200,
300, ...) until a fire time in the window is skipped or unrecorded, or p90 start
lateness passes 1 s. Each level has a fresh database and folder: the daemons start
on a file with nothing due, all are listed in `cronplus.processes`, then the N jobs
are written (and SIGHUP sent); once every job has an owner, plus 2 s, a window of W
whole seconds is measured, then the daemons get SIGTERM. From the database, per
(job, second) of the window: its run, status and start lateness (runs.started_at -
scheduled_for); duplicates (runs with more than one attempt row, attempt number or
(host, pid): the unique key forbids a second run row); the share of each daemon
(hosts of the attempts); transactions per run (pg_stat_database.xact_commit over the
window / runs; it counts read transactions too, and the statistics are flushed about
once a second, so it is approximate).

Floor, same run: `true` started and reaped one after another by this Python
(`subprocess.run`), and through cronplus's own spawn path (`executor.start_attempt`
with its wrapper and log file, then `wait()`), before and after the levels.
Targets (issue 17): 1 daemon >= 300 runs/s, 2 and 3 no fewer, <= 3 transactions per
run, duplicates and unrecorded fire times 0. Exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import psycopg  # noqa: E402

from cronplus.clock import SystemClock  # noqa: E402
from cronplus.config import load_config  # noqa: E402
from cronplus.executor import build_env, start_attempt  # noqa: E402
from tests.pgserver import start_server  # noqa: E402

LEVELS = (25, 50, 100, 200, 300, 400, 500, 600, 800, 1000, 1200, 1500, 2000)
MAX_P90_S = 1.0
MIN_RUNS_S = 300.0
MAX_XACT_PER_RUN = 3.0
HEAD = '[defaults]\ntimezone = "UTC"\nlease = "3s"\n\n'
IDLE = '[jobs.idle]\nschedule = "0 0 1 1 *"\ncommand = "true"\n'  # never due in a run


def jobs_text(n: int) -> str:
    return (
        HEAD
        + IDLE
        + "".join(
            f'\n[jobs.j{i:04}]\nschedule = "* * * * * *"\ncommand = "true"\n' for i in range(n)
        )
    )


def write_jobs(folder: Path, text: str) -> None:
    tmp = folder / "jobs.toml.new"
    tmp.write_text(text)
    os.chmod(tmp, 0o600)
    tmp.replace(folder / "jobs.toml")


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def wait_until(check, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out waiting for {what}")
        time.sleep(0.2)


def one(url: str, sql: str) -> int:
    with psycopg.connect(url, autocommit=True) as conn:
        return conn.execute(sql).fetchone()[0]


def spawn_floor(folder: Path, seconds: float) -> tuple[float, float]:
    """Sequential `true` per second: plain subprocess.run, then cronplus's spawn path."""
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        subprocess.run(["true"], check=True)
        n += 1
    plain = n / (time.perf_counter() - t0)
    write_jobs(folder, HEAD + IDLE)
    job, clock = load_config(folder / "jobs.toml").jobs["idle"], SystemClock()
    scheduled = datetime(2026, 1, 1, tzinfo=UTC)
    t0, n = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        env = build_env(job, run_id=n, attempt=1, trigger="schedule", scheduled_for=scheduled)
        log = folder / "logs" / f"{n}.log"
        handle = start_attempt(job, env, log, jobs_folder=folder, clock=clock)
        if handle.wait().exit_code != 0:  # type: ignore[union-attr]
            raise SystemExit("the spawn-path floor's `true` failed")
        n += 1
    return plain, n / (time.perf_counter() - t0)


def start_daemons(folder: Path, url: str, count: int) -> list[subprocess.Popen]:
    procs = []
    for i in range(count):
        env = {**clean_env(), "CRONPLUS_HOST": f"h{i + 1}"}
        argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", url, "run"]
        with open(folder / f"daemon{i + 1}.stderr", "wb") as err:
            procs.append(
                subprocess.Popen(
                    argv,
                    cwd=folder,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=err,
                    start_new_session=True,
                )  # fmt: skip
            )
    return procs


def stop_daemons(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def listed(url: str) -> int:
    try:
        return one(url, "SELECT count(*) FROM cronplus.processes WHERE kind = 'daemon'")
    except psycopg.errors.UndefinedTable:
        return 0


def xacts(url: str) -> int:
    return one(url, "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")


def sleep_to(t: float) -> None:
    time.sleep(max(0.0, t - time.time()))


def level(server, base: Path, daemons: int, n: int, window: int) -> dict:
    """One measured window of `daemons` daemons on n per-second jobs."""
    url = server.url(server.new_database())
    folder = base / f"d{daemons}n{n}"
    folder.mkdir()
    write_jobs(folder, HEAD + IDLE)
    procs = start_daemons(folder, url, daemons)
    try:
        alive = lambda: all(p.poll() is None for p in procs)  # noqa: E731
        wait_until(lambda: not alive() or listed(url) == daemons, 60, "the daemons to register")
        write_jobs(folder, jobs_text(n))
        for p in procs:
            p.send_signal(signal.SIGHUP)
        owned = "SELECT count(*) FROM cronplus.job_owners WHERE host IS NOT NULL AND job <> 'idle'"
        wait_until(lambda: not alive() or one(url, owned) == n, 120, f"{n} jobs to be owned")
        if not alive():
            errs = "".join(
                (folder / f"daemon{i + 1}.stderr").read_text()[-800:] for i in range(daemons)
            )
            raise SystemExit(f"a daemon exited:\n{errs}")
        t0 = math.ceil(time.time() + 2)
        sleep_to(t0)
        x0 = xacts(url)
        sleep_to(t0 + window)
        x1 = xacts(url)
        sleep_to(t0 + window + 3)  # the window's last runs recorded
    finally:
        stop_daemons(procs)
    return measure(url, n, window, t0, x1 - x0)


RUNS_SQL = """
SELECT r.job, r.scheduled_for, r.status, r.started_at, r.attempts,
       count(a.number), max(a.number), count(DISTINCT (a.host, a.pid)), min(a.host)
FROM cronplus.runs r LEFT JOIN cronplus.attempts a ON a.run_id = r.id
WHERE r.scheduled_for >= %s AND r.scheduled_for < %s AND r.job <> 'idle'
GROUP BY r.id
"""


def measure(url: str, n: int, window: int, t0: int, xact: int) -> dict:
    start = datetime.fromtimestamp(t0, UTC)
    text = lambda t: t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")  # noqa: E731 the store's fixed width
    with psycopg.connect(url, autocommit=True) as conn:
        rows = conn.execute(
            RUNS_SQL, (text(start), text(start + timedelta(seconds=window)))
        ).fetchall()
    statuses: dict[str, int] = {}
    late, hosts, dup = [], {}, 0
    for _job, sched, status, started, attempts, rows_a, max_a, execs, host in rows:
        statuses[status] = statuses.get(status, 0) + 1
        if started:
            late.append(
                (datetime.fromisoformat(started) - datetime.fromisoformat(sched)).total_seconds()
            )
        dup += attempts > 1 or rows_a > 1 or (max_a or 0) > 1 or execs > 1
        if host:
            hosts[host] = hosts.get(host, 0) + 1
    succeeded = statuses.get("succeeded", 0)
    late.sort()
    pct = lambda q: late[min(len(late) - 1, int(q * len(late)))] if late else float("nan")  # noqa: E731
    shares = [c / len(rows) for c in hosts.values()] if rows else [0.0]
    return {
        "n": n, "runs_s": succeeded / window, "p50": pct(0.5), "p90": pct(0.9),
        "skipped": len(rows) - succeeded, "unrecorded": n * window - len(rows), "dup": dup,
        "share": (min(shares), max(shares), len(hosts)), "xact": xact / max(succeeded, 1),
        "statuses": statuses,
    }  # fmt: skip


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def clean(r: dict) -> bool:
    return r["skipped"] == 0 and r["unrecorded"] == 0 and r["p90"] <= MAX_P90_S


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--daemons", default="1,2,3")
    parser.add_argument("--max-n", type=int, default=1500)
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--quick", action="store_true", help="a smoke check: N 25 and 50, 3 s")
    args = parser.parse_args()
    counts = [int(c) for c in args.daemons.split(",")]
    levels = [n for n in LEVELS if n <= args.max_n]
    window, floor_s = args.window, 3.0
    if args.quick:
        levels, window, floor_s = [n for n in (25, 50) if n <= args.max_n], 3, 1.0
    print(f"load average before: {load()} ({os.cpu_count()} CPUs)")
    server = start_server()
    results: dict[int, list[dict]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="cronplus-bench-cluster-") as tmp:
            base = Path(tmp)
            (base / "floor").mkdir()
            floors = [spawn_floor(base / "floor", floor_s)]
            print(f"floor before: {floors[0][0]:.0f} spawns/s (subprocess.run `true`),"
                  f" {floors[0][1]:.0f}/s (cronplus spawn path)")  # fmt: skip
            print(f"window {window} s, lease 3 s; lateness = runs.started_at - scheduled_for")
            print(" daemons     N  runs/s  p50 ms  p90 ms  skipped  unrecorded  dup"
                  "  share min-max   xact/run")  # fmt: skip
            for count in counts:
                results[count] = []
                for n in levels:
                    r = level(server, base, count, n, window)
                    results[count].append(r)
                    lo, hi, k = r["share"]
                    print(f" {count:7} {n:5} {r['runs_s']:7.1f} {r['p50'] * 1000:7.1f}"
                          f" {r['p90'] * 1000:7.1f} {r['skipped']:8} {r['unrecorded']:11}"
                          f" {r['dup']:4}  {lo:5.2f}-{hi:4.2f} ({k})  {r['xact']:6.2f}"
                          + ("" if clean(r) else f"  <- stop {r['statuses']}"),
                          flush=True)  # fmt: skip
                    if not clean(r):
                        break
            floors.append(spawn_floor(base / "floor", floor_s))
    finally:
        server.remove()
    plain = statistics.mean(f[0] for f in floors)
    path = statistics.mean(f[1] for f in floors)
    print(f"floor after: {floors[1][0]:.0f} spawns/s, {floors[1][1]:.0f}/s;"
          f" mean {plain:.0f}/s plain, {path:.0f}/s spawn path")  # fmt: skip
    print(f"load average after: {load()}")
    return report(results, plain, path, quick=args.quick)


def report(results: dict[int, list[dict]], plain: float, path: float, *, quick: bool) -> int:
    """Each count's best clean level against the targets; True if all are met."""
    ok, one_daemon = True, None
    for count, rs in results.items():
        good = [r for r in rs if clean(r)]
        best = max(good, key=lambda r: r["runs_s"]) if good else None
        runs_s = best["runs_s"] if best else 0.0
        one_daemon = runs_s if count == 1 else one_daemon
        xact = max((r["xact"] for r in good), default=float("nan"))
        dup, unrec = sum(r["dup"] for r in rs), sum(r["unrecorded"] for r in good)
        vs_one = f", {runs_s / one_daemon:.2f} x 1 daemon" if one_daemon and count != 1 else ""
        print(f"{count} daemon(s): best {runs_s:.1f} runs/s (N {best['n'] if best else '-'}),"
              f" {runs_s / plain:.2f} x the plain floor, {runs_s / path:.2f} x the spawn path"
              f"{vs_one}; xact/run at most {xact:.2f}; duplicates {dup};"
              f" unrecorded (clean levels) {unrec}")  # fmt: skip
        checks = {
            f">= {MIN_RUNS_S:.0f} runs/s": runs_s >= MIN_RUNS_S,
            f"<= {MAX_XACT_PER_RUN:.0f} xact/run": xact <= MAX_XACT_PER_RUN,
            "duplicates 0": dup == 0,
            "unrecorded 0": unrec == 0,
        }
        print("  " + "; ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in checks.items()))
        ok = ok and all(checks.values())
    if quick:
        print("--quick: a smoke check, its levels are too small for the targets")
        return 0
    print(f"all targets: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
