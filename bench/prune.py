"""Retention (issue 14): the longest prune transaction, and a per-second job's
lateness while the daemon prunes, against its lateness once the prune is over.

    python bench/prune.py [--jobs 100] [--runs 2000] [--after 20]

Two states alike: `--jobs` jobs (never due: `0 0 1 1 *`) of `--runs` runs each, one
attempt with its log and `.status` file each, every run succeeded and recent, so the
default `keep_runs = 1000` lets half of them go (100,000 runs, 200,000 files).

1. In this process: `retention.prune` over the first state, each `Store.prune_runs`
   call (one transaction of at most 500 runs) timed. Target: the longest ≤ 50 ms, the
   p99 lateness budget below (a claim of the engine waits for it at most that long).
   Beside it, for reading, one `claim_run` on the same state.
2. A real daemon on the second state with a per-second job (`date +%s.%N >> out`), as
   `lateness.py` runs it: the daemon prunes at its start on its own thread. Samples
   between `event=started` and `event=pruned` are "during", the `--after` seconds
   after it the floor. Targets: median ≤ floor + 5 ms, max ≤ floor max + 50 ms, and
   every second has its sample. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _daemon import start_daemon, stop_daemon  # noqa: E402

from cronplus import retention  # noqa: E402
from cronplus.config import load_config  # noqa: E402
from cronplus.model import Claim, Trigger  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.store import open_store  # noqa: E402
from cronplus.store._db import to_db  # noqa: E402

MAX_TX_MS = 50.0
MAX_MEDIAN_DIFF_MS = 5.0
MAX_MAX_DIFF_MS = 50.0
TICK = """[jobs.tick]
schedule = "* * * * * *"
command = 'date +%s.%N >> out'
"""


def jobs_toml(jobs: int) -> str:
    head = '[defaults]\ntimezone = "UTC"\n\n' + TICK
    return head + "".join(
        f'\n[jobs.j{i:03}]\nschedule = "0 0 1 1 *"\ncommand = "true"\n' for i in range(jobs)
    )


def build_state(root: Path, jobs: int, runs: int) -> None:
    """jobs.toml and a state of `jobs` × `runs` succeeded runs, ending a minute ago."""
    (root / "jobs.toml").write_text(jobs_toml(jobs))
    paths = StatePaths(root / "state")
    open_store(paths).close()  # the schema
    import sqlite3

    conn = sqlite3.connect(paths.db, isolation_level=None)
    conn.execute("PRAGMA synchronous = OFF")
    end = datetime.now(UTC) - timedelta(minutes=1)
    run_id = 0
    conn.execute("BEGIN")
    for j in range(jobs):
        job = f"j{j:03}"
        (paths.logs / job).mkdir(mode=0o700)
        for k in range(runs):
            run_id += 1
            t = to_db(end - timedelta(minutes=runs - k))
            conn.execute(
                "INSERT INTO runs (id, job, scheduled_for, trigger, status, created_at,"
                " started_at, finished_at, attempts) VALUES (?, ?, ?, 'schedule', 'succeeded',"
                " ?, ?, ?, 1)",
                (run_id, job, t, t, t, t),
            )
            log = paths.attempt_log(job, run_id, 1)
            conn.execute(
                "INSERT INTO attempts (run_id, number, started_at, finished_at, exit_code, log)"
                " VALUES (?, 1, ?, ?, 0, ?)",
                (run_id, t, t, str(log)),
            )
            log.write_text(f"run {run_id} of {job}\n")
            log.with_name(log.name + ".status").write_text("0\n")
    conn.execute("COMMIT")
    conn.close()


class Timed:
    """The store, each `prune_runs` call (one transaction) timed."""

    def __init__(self, store) -> None:
        self._store = store
        self.ms: list[float] = []

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    def prune_runs(self, *args, **kwargs):
        t0 = time.perf_counter()
        try:
            return self._store.prune_runs(*args, **kwargs)
        finally:
            self.ms.append((time.perf_counter() - t0) * 1000)


def in_process(root: Path) -> bool:
    paths = StatePaths(root / "state")
    store = open_store(paths)
    config = load_config(root / "jobs.toml")
    timed = Timed(store)
    t0 = time.perf_counter()
    done = retention.prune(config, timed, paths, datetime.now(UTC))  # type: ignore[arg-type]
    total = time.perf_counter() - t0
    t1 = time.perf_counter()
    store.claim_run(
        "tick",
        datetime(2000, 1, 1, tzinfo=UTC),
        Trigger.MANUAL,
        Claim(owner=os.getpid(), now=datetime.now(UTC)),
    )
    claim_ms = (time.perf_counter() - t1) * 1000
    store.close()
    deleted = sum(p.runs_deleted for p in done)
    files = sum(p.logs_deleted for p in done)
    longest = max(timed.ms)
    p99 = statistics.quantiles(timed.ms, n=100)[98]
    print(f"1. in process: {deleted:,} runs and {files:,} files pruned in {total:.2f} s,")
    print(
        f"   {len(timed.ms)} transactions: median {statistics.median(timed.ms):.1f} ms, p99"
        f" {p99:.1f} ms, longest {longest:.1f} ms (target <= {MAX_TX_MS:g}); one claim_run"
        f" {claim_ms:.2f} ms"
    )
    return longest <= MAX_TX_MS


def instant(line: str) -> float:
    return datetime.fromisoformat(line.split(" ", 1)[0]).timestamp()


def with_daemon(root: Path, after_s: int) -> bool:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    proc = start_daemon(root, env)
    err = root / "daemon.stderr"
    try:
        deadline = time.monotonic() + 600
        while b"event=pruned" not in err.read_bytes():
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit(f"the daemon did not prune:\n{err.read_text()}")
            time.sleep(0.2)
        time.sleep(after_s)
    finally:
        code = stop_daemon(proc)
    lines = err.read_text().splitlines()
    started = instant(next(x for x in lines if "event=started" in x))
    pruned_line = next(x for x in lines if "event=pruned" in x)
    pruned = instant(pruned_line)
    stamps = sorted(float(x) for x in (root / "out").read_text().split())
    during = [(s - math.floor(s)) * 1000 for s in stamps if started <= s < pruned]
    floor = [(s - math.floor(s)) * 1000 for s in stamps if s >= pruned + 1]
    seconds = {math.floor(s) for s in stamps if started + 1 <= s < pruned + after_s - 1}
    expected = math.floor(pruned + after_s - 1) - math.ceil(started + 1)
    print(f"2. daemon: {pruned_line.split(' ', 1)[1]} (exit {code})")
    if len(during) < 2 or len(floor) < 2:
        print(f"   too few samples: {len(during)} during, {len(floor)} after")
        return False
    dm, fm = statistics.median(during), statistics.median(floor)
    print("   per-second job's lateness (ms)   median     max   samples")
    print(f"   during the prune            {dm:10.2f}{max(during):8.2f}{len(during):10}")
    print(f"   after it (floor)            {fm:10.2f}{max(floor):8.2f}{len(floor):10}")
    print(
        f"   difference                  {dm - fm:10.2f}{max(during) - max(floor):8.2f}"
        f"   (targets: median <= {MAX_MEDIAN_DIFF_MS:g}, max <= {MAX_MAX_DIFF_MS:g})"
    )
    print(f"   {len(seconds)} seconds with a sample of about {expected}")
    return (
        code == 0
        and dm - fm <= MAX_MEDIAN_DIFF_MS
        and max(during) - max(floor) <= MAX_MAX_DIFF_MS
        and len(seconds) >= expected
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--after", type=int, default=20, help="floor seconds after the prune")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-prune-") as tmp:
        one, two = Path(tmp) / "one", Path(tmp) / "two"
        for root in (one, two):
            root.mkdir()
            t0 = time.perf_counter()
            build_state(root, args.jobs, args.runs)
        built = time.perf_counter() - t0
        os.sync()  # the builder's 400,000 files on disk, not written back during the prune
        print(f"states: {args.jobs} jobs x {args.runs:,} runs, built in {built:.1f} s each")
        ok = in_process(one)
        ok = with_daemon(two, args.after) and ok
    print("all targets met" if ok else "a target was missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
