"""`cronplus backfill` throughput against the cost of starting processes.

Issue 4, "Performance": backfilling 1,440 runs of a `true` job (one day of a
per-minute schedule) with `--parallel 2` takes at most 3 x the time of 1,440
sequential `sh -c true` spawns from Python, measured in the same run, with all
1,440 runs recorded. Also reports the wall time of 365 days of a 3-job chain of
`true` with `--parallel 1` and `--parallel 4` (1,095 runs each).

    python bench/backfill.py [--repeat 3] [--chain-days 365]

Each backfill starts from an empty state in a temporary folder, runs as
`sys.executable -m cronplus` with stdout and stderr to pipes (plain progress
lines, as in a script or cron), and is checked afterwards: every planned run is in
the state and succeeded. The floor is timed right before and right after the
backfill and the mean of the two is used, so noise hits both alike; the target
holds for the median ratio of --repeat such rounds. Exits 1 if it is missed.
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_RATIO = 3.0
RUNS = 1440

MINUTELY = """
[jobs.tick]
schedule = "* * * * *"
timezone = "UTC"
command = "true"
"""

CHAIN = """
[defaults]
timezone = "UTC"

[jobs.extract]
schedule = "0 3 * * *"
command = "true"

[jobs.transform]
after = ["extract"]
command = "true"

[jobs.load]
after = ["transform"]
command = "true"
"""


def env() -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(REPO), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def spawn_floor(n: int) -> float:
    """n sequential `sh -c true` spawns from Python, in seconds."""
    start = time.perf_counter()
    for _ in range(n):
        subprocess.run(["sh", "-c", "true"], check=True)
    return time.perf_counter() - start


def backfill(folder: Path, toml: str, job: str, frm: str, to: str, parallel: int) -> float:
    folder.mkdir()
    (folder / "jobs.toml").write_text(toml)
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", "state"]
    argv += ["backfill", job, "--from", frm, "--to", to, "--parallel", str(parallel)]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=folder, env=env(), capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"backfill failed ({done.returncode}):\n{done.stdout}\n{done.stderr[-2000:]}")
    return took


def recorded(folder: Path) -> dict[str, int]:
    db = sqlite3.connect(folder / "state" / "state.db")
    try:
        rows = db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    finally:
        db.close()
    return dict(rows)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of backfill vs floor")
    parser.add_argument("--chain-days", type=int, default=365)
    args = parser.parse_args()
    ok = True
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-") as tmp:
        root = Path(tmp)
        spawn_floor(50)  # warm the page cache and the shell
        ratios = []
        for i in range(args.repeat):
            before = spawn_floor(RUNS)
            folder = root / f"minutely-{i}"
            took = backfill(folder, MINUTELY, "tick", "2026-01-01", "2026-01-01", 2)
            after = spawn_floor(RUNS)
            floor = (before + after) / 2
            counts = recorded(folder)
            ratios.append(took / floor)
            print(
                f"round {i + 1}: 1,440 runs of `true`, --parallel 2: {took:.2f} s; floor "
                f"(1,440 sequential `sh -c true` spawns, mean of {before:.2f} s before and "
                f"{after:.2f} s after): {floor:.2f} s; ratio {took / floor:.2f} x; "
                f"recorded {counts}"
            )
            if counts != {"succeeded": RUNS}:
                print(f"FAIL: expected {RUNS} succeeded runs, got {counts}")
                ok = False
        ratio = statistics.median(ratios)
        print(
            f"median ratio {ratio:.2f} x over {args.repeat} rounds (target at most {MAX_RATIO:g} x)"
        )
        if ratio > MAX_RATIO:
            print("FAIL: over the target")
            ok = False

        days = args.chain_days
        first = date(2025, 1, 1)
        frm, to = first.isoformat(), (first + timedelta(days=days - 1)).isoformat()
        for parallel in (1, 4):
            folder = root / f"chain-{parallel}"
            took = backfill(folder, CHAIN, "extract", frm, to, parallel)
            counts = recorded(folder)
            print(
                f"{days} days of a 3-job chain ({days * 3:,} runs), --parallel {parallel}: "
                f"{took:.2f} s ({days * 3 / took:.0f} runs/s)  recorded {counts}"
            )
            if counts != {"succeeded": days * 3}:
                print(f"FAIL: expected {days * 3} succeeded runs, got {counts}")
                ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
