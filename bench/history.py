"""`status`, `status --on`, `history` and `logs` on a 1,000,000-run state, against a
2,016-run state of the same 20 jobs.

Issue 12, "A long history": each command's median on the long state is at most
1.5 x its median on the short one, and the long state takes under 400 bytes per run
(aim; printed, not a target that fails the bench).

    python bench/history.py [--repeat 15] [--runs 1000000]

How the states are made: `SqliteDb` (the store's SQLite connection layer) creates the
file with the real schema and PRAGMAs; the rows are then inserted with that layer's
transactions, 100,000 runs per transaction and `PRAGMA synchronous = OFF` on this
builder's connection only, with the columns the store's own calls write (claim,
begin and finish attempt, finish run: a finished run owned by nobody, its attempts
with their log path, pid and trigger). The per-run store calls would take minutes
for a million runs, the builder takes seconds. Each job's runs are its most recent
fire times before now, so the short state is the newest slice of the long one: the
date `status --on` reads and the runs `history` and `logs` show are the same in both.
Only the runs `logs` reads get a log file.

Every command runs as `python -m cronplus`, by a fresh venv's Python whose
site-packages hold only a path line to the dependencies (`status.py`'s), with stdout
to a pipe, the two states
interleaved run by run so machine noise hits both alike. Exits 1 if a ratio is missed.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Measure this checkout's cronplus, in this process and in every child.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from status import clean_env, make_venvs  # noqa: E402

from cronplus.store._db import to_db  # noqa: E402
from cronplus.store.sqlite import SqliteDb  # noqa: E402

MAX_RATIO = 1.5
AIM_BYTES_PER_RUN = 400
SHORT_RUNS = 2_016
BATCH = 100_000  # runs per transaction
LOG_JOB = "report"  # the job `history` and `logs` read
LOG_FILES = 5  # its newest runs that get log files

# 20 jobs: 15 every quarter hour (each at its own minute), 3 hourly, and a pipeline
# of two `after` jobs behind the first, so `status` also asks for upstream successes.
QUARTER = [(f"sync_{m:02d}", m) for m in range(15)]
HOURLY = [("hourly_a", 5), ("hourly_b", 25), ("hourly_c", 45)]
AFTER = [("load", "sync_00"), ("report", "load")]


def jobs_toml() -> str:
    parts = ['[defaults]\ntimezone = "UTC"\n']
    for name, m in QUARTER:
        parts.append(f'[jobs.{name}]\nschedule = "{m}-59/15 * * * *"\ncommand = "true"\n')
    for name, m in HOURLY:
        parts.append(f'[jobs.{name}]\nschedule = "{m} * * * *"\ncommand = "true"\n')
    for name, up in AFTER:
        parts.append(f'[jobs.{name}]\nafter = ["{up}"]\ncommand = "true"\n')
    return "\n".join(parts)


def job_times(now: datetime, count: int) -> list[tuple[str, int]]:
    """(job, fire time as epoch seconds) of the `count` runs: each job's newest fire
    times before `now`, the count split evenly, oldest first across all jobs."""
    names = [n for n, _ in QUARTER] + [n for n, _ in HOURLY] + [n for n, _ in AFTER]
    cadence = {n: (900, m * 60) for n, m in QUARTER} | {n: (3600, m * 60) for n, m in HOURLY}
    cadence |= {n: cadence["sync_00"] for n, _ in AFTER}
    end = int(now.timestamp()) - 60  # the newest fire time has run
    out = []
    for i, name in enumerate(names):
        step, offset = cadence[name]
        newest = (end - offset) // step * step + offset
        k = count // len(names) + (i < count % len(names))
        out += [(name, newest - j * step) for j in range(k)]
    out.sort(key=lambda p: (p[1], names.index(p[0])))
    return out


# (status, weight): mostly successes, every final status represented.
STATUS_MIX = (
    ("succeeded", 80),
    ("failed", 6),
    ("timed_out", 3),
    ("skipped", 4),
    ("upstream_failed", 3),
    ("interrupted", 4),
)
RUN_SQL = (
    "INSERT INTO runs (id, job, scheduled_for, trigger, status, reason, created_at,"
    " started_at, finished_at, attempts, owner_pid)"
    " VALUES (?, ?, ?, 'schedule', ?, ?, ?, ?, ?, ?, NULL)"
)
ATTEMPT_SQL = (
    "INSERT INTO attempts (run_id, number, started_at, finished_at, exit_code, signal,"
    " log, pid, trigger, counted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'schedule', ?)"
)


EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
STATUS_POOL = [s for s, weight in STATUS_MIX for _ in range(weight)]


def stamp(epoch_us: int) -> str:
    """The store's time text (`to_db`), quicker: a million runs need five million."""
    t = EPOCH + timedelta(microseconds=epoch_us)
    return t.isoformat(timespec="microseconds")[:-6] + "Z"


def rows_of(run_id: int, job: str, fired: int, rng: random.Random, logs: str) -> tuple:
    """A run's row and its attempts' rows, as the store's calls leave them."""
    status = STATUS_POOL[int(rng.random() * len(STATUS_POOL))]
    t = fired * 1_000_000
    if status in ("skipped", "upstream_failed"):
        done = stamp(t)
        return (run_id, job, done, status, "bench: not run", done, None, done, 0), ()
    tries = 2 if status != "succeeded" and rng.random() < 0.5 else 1
    start = t + 3_000
    attempts = []
    for n in range(1, tries + 1):
        end = start + int(rng.uniform(0.1, 30) * 1e6)
        last = n == tries
        exit_code = 0 if last and status == "succeeded" else 3
        signal = None
        if last and status == "timed_out":
            exit_code, signal = None, "SIGTERM"
        log = f"{logs}/{job}/{run_id}-{n}.log"
        counted = 0 if last and status == "interrupted" else 1
        attempts.append(
            (run_id, n, stamp(start), stamp(end), exit_code, signal, log, 4000 + n, counted)
        )
        start = end + 2_000_000
    reason = None if status == "succeeded" else f"bench: {status}"
    fired_at = stamp(t)
    run = (run_id, job, fired_at, status, reason, fired_at, attempts[0][2], stamp(end), tries)
    return run, attempts


def build_state(state: Path, count: int, now: datetime) -> float:
    """A state of `count` runs (see the module's docstring); seconds it took."""
    t0 = time.perf_counter()
    sample = datetime(2026, 3, 29, 1, 59, 59, 999_999, UTC)
    assert stamp((sample - EPOCH) // timedelta(microseconds=1)) == to_db(sample)
    state.mkdir(mode=0o700)
    (state / "logs").mkdir(mode=0o700)
    logs = str(state / "logs")
    db = SqliteDb(state / "state.db")
    db.rows("PRAGMA synchronous = OFF")  # this builder's connection only
    rng = random.Random(12)
    times = job_times(now, count)
    newest_logged = set([i for i, (job, _) in enumerate(times) if job == LOG_JOB][-LOG_FILES:])
    for lo in range(0, count, BATCH):
        with db.tx() as tx:
            for i in range(lo, min(lo + BATCH, count)):
                job, fired = times[i]
                run, attempts = rows_of(i + 1, job, fired, rng, logs)
                tx.run(RUN_SQL, run)
                for a in attempts:
                    tx.run(ATTEMPT_SQL, a)
                    if i in newest_logged:
                        log = Path(a[6])
                        log.parent.mkdir(mode=0o700, exist_ok=True)
                        log.write_text(f"run {i + 1} attempt {a[1]} of {job}\n")
    db.rows("PRAGMA wal_checkpoint(TRUNCATE)")
    db.close()
    return time.perf_counter() - t0


def timed(argv: list[str], env: dict[str, str]) -> float:
    """Wall time of one run, stdout to a pipe; fails loudly on an unexpected exit (1 is
    `status` finding a failed run; `history` and `logs` must exit 0)."""
    t0 = time.perf_counter()
    proc = subprocess.run(argv, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=120)
    elapsed = time.perf_counter() - t0
    if proc.returncode not in ((0, 1) if "status" in argv else (0,)):
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode()}")
    return elapsed


def commands(now: datetime) -> dict[str, list[str]]:
    return {
        "status": ["status"],
        "status --on": ["status", "--on", now.date().isoformat()],
        "history --limit 50": ["history", LOG_JOB, "--limit", "50"],
        "logs": ["logs", LOG_JOB],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each command")
    parser.add_argument("--runs", type=int, default=1_000_000, help="runs in the long state")
    args = parser.parse_args()
    repeat = max(3, min(args.repeat, 100))
    now = datetime.now(UTC)

    with tempfile.TemporaryDirectory(prefix="cronplus-bench-history-") as tmp:
        root = Path(tmp)
        # No inherited CRONPLUS_* or PYTHONDONTWRITEBYTECODE: bytecode is cached in the
        # folder, as pip compiles it (with that variable set, every run compiled every
        # module: 240 ms a command where 70 ms is the truth).
        env = clean_env(root / "pycache")
        env["XDG_CACHE_HOME"] = str(root / "cache")  # the read commands' cache, here
        # cronplus runs in a fresh venv: an interpreter whose site-packages run code at
        # start (this one's do) adds the same time to both figures of a ratio.
        _, py = make_venvs(root)
        jobs = root / "jobs.toml"
        jobs.write_text(jobs_toml())
        sizes = {"short": SHORT_RUNS, "long": args.runs}
        for name, count in sizes.items():
            took = build_state(root / name, count, now)
            print(f"built the {name} state: {count:,} runs in {took:.1f} s")
        per_run = (root / "long" / "state.db").stat().st_size / args.runs
        cmds = commands(now)
        argv = {
            (c, s): [py, "-m", "cronplus", "-c", str(jobs), "--state", str(root / s)] + rest
            for c, rest in cmds.items()
            for s in sizes
        }
        for a in argv.values():  # warm the page cache and the .pyc files
            timed(a, env)
        times: dict[tuple[str, str], list[float]] = {k: [] for k in argv}
        for _ in range(repeat):
            for key, a in argv.items():
                times[key].append(timed(a, env))

    print(f"{repeat} timed runs of each command (median); the machine may be shared")
    print(f"{'command':<20} {SHORT_RUNS:>9,} runs {args.runs:>11,} runs   ratio")
    failures = []
    for c in cmds:
        short, long_ = (statistics.median(times[c, s]) for s in sizes)
        print(f"{c:<20} {short * 1000:9.1f} ms {long_ * 1000:11.1f} ms   {long_ / short:4.2f} x")
        if long_ > MAX_RATIO * short:
            failures.append(f"{c} {long_ / short:.2f} x > {MAX_RATIO} x")
    print(f"state size: {per_run:.0f} bytes per run (aim: under {AIM_BYTES_PER_RUN})")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print(
        f"OK: every command on {args.runs:,} runs within {MAX_RATIO} x its {SHORT_RUNS:,}-run time"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
