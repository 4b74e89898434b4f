"""Deadlines on the read side (issue 15): a piped `status` over many jobs that all have
a `deadline`, against the same jobs without one.

    python bench/deadlines.py [--jobs 10000] [--repeat 7]

`--jobs` jobs on four schedules (every 5 minutes, hourly, daily, weekdays) in four zones,
each with its two latest fire times in the state as runs (succeeded, in time), written
through the store in one transaction per thousand jobs. `status` judges each job's latest
passed deadline (`status` marks a job whose deadline was missed): the run to judge is
most often the newest one it reads anyway, and the fire time before a deadline is found
once per (schedule, zone, deadline), so the cost is a small constant per job.

Floor: the same jobs file without `deadline`, interleaved run by run. Target: the
median ≤ 1.5 × floor. Exits 1 if it is missed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cronplus.model import Attempt, Claim, RunEnd, RunStatus, Trigger  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.schedule import parse_schedule, previous_fire  # noqa: E402
from cronplus.store import open_store  # noqa: E402
from cronplus.zones import zone  # noqa: E402

SCHEDULES = ("*/5 * * * *", "0 * * * *", "0 3 * * *", "30 6 * * 1-5")
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
MAX_RATIO = 1.5


def build(root: Path, jobs: int, deadline: str | None, now: datetime) -> None:
    lines = []
    for i in range(jobs):
        expr, tz = SCHEDULES[i % 4], ZONES[(i // 4) % 4]
        lines.append(f'[jobs.j{i}]\nschedule = "{expr}"\ntimezone = "{tz}"\ncommand = "true"\n')
        lines[-1] += f'deadline = "{deadline}"\n' if deadline else ""
    (root / "jobs.toml").write_text("\n".join(lines))
    os.chmod(root / "jobs.toml", 0o600)
    latest = {}
    for expr in SCHEDULES:
        for tz in ZONES:
            t2 = previous_fire(parse_schedule(expr), zone(tz), now)
            t1 = previous_fire(parse_schedule(expr), zone(tz), t2)
            latest[expr, tz] = (t1, t2)
    store = open_store(StatePaths(root / "state"))
    try:
        for first in range(0, jobs, 1000):
            wanted = [
                (f"j{i}", t, Trigger.SCHEDULE)
                for i in range(first, min(first + 1000, jobs))
                for t in latest[SCHEDULES[i % 4], ZONES[(i // 4) % 4]]
            ]
            claimed = store.claim_many(wanted, Claim(owner=os.getpid(), now=now))
            for run in claimed:
                assert run is not None
                begun = run.scheduled_for + timedelta(seconds=1)
                store.begin_attempt(run.id, Attempt(1, begun), owner=os.getpid())
                ended = begun + timedelta(seconds=1)
                store.finish_run(run.id, RunEnd(RunStatus.SUCCEEDED, None, ended))
    finally:
        store.close()


def status(root: Path) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    args = [sys.executable, "-m", "cronplus", "-c", str(root / "jobs.toml")]
    args += ["--state", str(root / "state"), "status"]
    t0 = time.perf_counter()
    done = subprocess.run(args, env=env, capture_output=True)
    took = time.perf_counter() - t0
    if done.returncode != 0 or b"deadline missed" in done.stdout:
        raise SystemExit(f"status exited {done.returncode}: {done.stderr.decode()[-300:]}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-deadlines-") as tmp:
        plain, timed = Path(tmp) / "plain", Path(tmp) / "deadlines"
        plain.mkdir()
        timed.mkdir()
        t0 = time.perf_counter()
        build(plain, args.jobs, None, now)
        build(timed, args.jobs, "1m", now)
        print(f"built two states of {args.jobs:,} jobs in {time.perf_counter() - t0:.1f} s")
        status(plain), status(timed)  # the read commands' cache of the jobs file, filled
        floors, figures = [], []
        for _ in range(args.repeat):
            floors.append(status(plain))
            figures.append(status(timed))
    floor, figure = statistics.median(floors), statistics.median(figures)
    ratio = figure / floor
    print(f"piped status, {args.jobs:,} jobs, median of {args.repeat}:")
    print(f"  floor: no deadline              {floor * 1000:8.1f} ms")
    print(f"  a 1m deadline on every job      {figure * 1000:8.1f} ms  ({ratio:.2f} x floor)")
    ok = ratio <= MAX_RATIO
    print(f"target: <= {MAX_RATIO} x floor: {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
