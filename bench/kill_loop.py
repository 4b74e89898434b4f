"""SIGKILL the daemon at random points of a busy schedule, over and over, then count
the runs lost and the runs executed twice (issue 6: both must be 0).

    python bench/kill_loop.py [--kills 100] [--seed 1]

Three jobs, every second, `catchup = "all"`:
- `tick` appends its logical time to tick.txt at once;
- `tock` runs after `tick` and appends its time to tock.txt after 0.3 s;
- `slow` sleeps 0.7 s, then appends to slow.txt (`overlap = "skip"`), so a kill
  often finds it running and the next daemon must adopt it.

Each round starts `cronplus run`, waits a random 0.2-2.5 s after `event=started`
and SIGKILLs it (only the daemon: its jobs live on). After the last round a daemon
runs until every fire time so far is settled, `cronplus pause` stops new ones, and
it is stopped with SIGTERM. Then, from the state and the files:

- scheduled: fire times of `tick` and `slow` from the first to the last recorded
  one, plus one `tock` per succeeded `tick`;
- lost: a fire time with no run, a run not in a final state, a run that ended
  other than succeeded (overlap and pause skips are counted apart, by policy), or
  a succeeded run whose time is not in its file;
- twice: a time in a file more than once, or in a file while its run did not
  succeed.

Exit 1 if anything was lost or executed twice. The test suite runs it with a few
kills (tests/test_faults.py).
"""

from __future__ import annotations

import argparse
import collections
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(Path(__file__).parent))
from _daemon import start_daemon, stop_daemon  # noqa: E402

JOBS = """\
[defaults]
catchup = "all"
timezone = "UTC"

[jobs.tick]
schedule = "* * * * * *"
command = 'echo "$CRONPLUS_SCHEDULED_FOR" >> tick.txt'

[jobs.tock]
after = ["tick"]
command = 'sleep 0.3; echo "$CRONPLUS_SCHEDULED_FOR" >> tock.txt'

[jobs.slow]
schedule = "* * * * * *"
overlap = "skip"
command = 'sleep 0.7; echo "$CRONPLUS_SCHEDULED_FOR" >> slow.txt'
"""


def kill_loop(root: Path, kills: int, seed: int, log=print) -> dict[str, int]:
    """Run the loop in `root` (empty) and return the figures."""
    rng = random.Random(seed)
    (root / "jobs.toml").write_text(JOBS)
    env = dict(os.environ)  # this checkout's cronplus, whatever pip installed
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    for n in range(kills):
        proc = start_daemon(root, env)
        time.sleep(rng.uniform(0.2, 2.5))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        _keep_stderr(root, n)
        if (n + 1) % 10 == 0:
            log(f"  {n + 1} kills")
    proc = start_daemon(root, env)
    _settle(root)
    cli = [sys.executable, "-m", "cronplus", "-c", str(root / "jobs.toml")]
    cli += ["--state", str(root / "state")]
    subprocess.run([*cli, "pause", "tick", "slow"], check=True, capture_output=True, env=env)
    time.sleep(3)  # effective within 2 s
    _settle(root, until=datetime.now(UTC))
    stop_daemon(proc)
    _keep_stderr(root, kills)
    figures = count(root)
    logs = "".join(p.read_text(errors="replace") for p in root.glob("daemon-*.stderr"))
    figures["adopted"] = logs.count("event=adopted")  # jobs that outlived a killed daemon
    figures["resumed"] = logs.count("event=resumed")  # runs it had left unfinished
    return figures


def _keep_stderr(root: Path, n: int) -> None:
    err = root / "daemon.stderr"
    if err.exists():
        err.rename(root / f"daemon-{n}.stderr")


def _rows(root: Path, sql: str, args: tuple = ()) -> list[tuple]:
    conn = sqlite3.connect(root / "state" / "state.db", timeout=30)
    try:
        return conn.execute(sql, args).fetchall()
    finally:
        conn.close()


def _settle(root: Path, until: datetime | None = None, timeout: float = 300.0) -> None:
    """Wait until every run is final and the catch-up has reached `until` (default:
    two seconds ago) for both scheduled jobs."""
    deadline = time.monotonic() + timeout
    target = until or datetime.now(UTC) - timedelta(seconds=2)
    stamp = target.strftime("%Y-%m-%dT%H:%M:%S")
    while time.monotonic() < deadline:
        open_runs = _rows(root, "SELECT count(*) FROM runs WHERE status IN ('queued','running')")
        reached = _rows(
            root,
            "SELECT count(DISTINCT job) FROM runs WHERE job IN ('tick','slow')"
            " AND scheduled_for >= ?",
            (stamp,),
        )
        if open_runs[0][0] == 0 and reached[0][0] == 2:
            return
        time.sleep(0.2)
    raise SystemExit("the runs did not settle within 300 s")


def count(root: Path) -> dict[str, int]:
    runs: dict[str, dict[str, tuple[str, str]]] = collections.defaultdict(dict)
    for job, t, status, reason in _rows(
        root, "SELECT job, scheduled_for, status, coalesce(reason, '') FROM runs"
    ):
        runs[job][_second(t)] = (status, reason)
    files = {}
    for job in ("tick", "tock", "slow"):
        path = root / f"{job}.txt"
        lines = path.read_text().split() if path.exists() else []
        files[job] = collections.Counter(_second(x) for x in lines)
    figures = dict.fromkeys(
        ("scheduled", "lost", "twice", "skipped_overlap", "skipped_paused", "unfinished"), 0
    )
    problems: list[str] = []

    def check(job: str, t: str) -> None:
        figures["scheduled"] += 1
        status, reason = runs[job].get(t, ("none", ""))
        if status == "skipped" and reason == "paused":
            figures["skipped_paused"] += 1
        elif status == "skipped" and "still running" in reason:
            figures["skipped_overlap"] += 1
        elif status != "succeeded" or files[job][t] == 0:
            figures["lost"] += 1
            figures["unfinished"] += status in ("queued", "running")
            problems.append(f"lost {job} {t}: {status} {reason!r}, in file {files[job][t]}x")

    for job in ("tick", "slow"):
        times = sorted(runs[job])
        first = datetime.fromisoformat(times[0])
        last = datetime.fromisoformat(times[-1])
        t = first
        while t <= last:
            check(job, t.isoformat())
            t += timedelta(seconds=1)
    for t, (status, _) in sorted(runs["tick"].items()):
        if status == "succeeded":
            check("tock", t)
    for job, counter in files.items():
        for t, n in counter.items():
            if n > 1 or runs[job].get(t, ("none",))[0] != "succeeded":
                figures["twice"] += 1
                problems.append(f"twice {job} {t}: {n}x in file, run {runs[job].get(t)}")
    for p in problems[:20]:
        print(" ", p, file=sys.stderr)
    return figures


def _second(t: str) -> str:
    """Both the state's UTC text and the jobs' $CRONPLUS_SCHEDULED_FOR, as one key."""
    return datetime.fromisoformat(t).astimezone(UTC).isoformat()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=100)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronplus-kill-") as tmp:
        started = time.monotonic()
        print(f"kill loop: {args.kills} SIGKILLs of `cronplus run` (seed {args.seed})")
        f = kill_loop(Path(tmp), args.kills, args.seed)
        took = time.monotonic() - started
    print(
        f"runs scheduled {f['scheduled']}, lost {f['lost']}, executed twice {f['twice']}"
        f" (target 0 and 0); skipped by overlap {f['skipped_overlap']}, by pause"
        f" {f['skipped_paused']}; adopted {f['adopted']} running or ended jobs, resumed"
        f" {f['resumed']} runs; {took:.0f} s"
    )
    return 1 if f["lost"] or f["twice"] else 0


if __name__ == "__main__":
    sys.exit(main())
