"""The read commands and the daemon's start with 1,000 and 10,000 jobs, against 20.

Issue 12, "Many jobs": with 1,000 generated jobs `validate` takes at most 0.5 s, a
piped `status` and `next` at most 1.5 x their 20-job figure, `status --on` today at
most 2 s; with 10,000 every command completes, `status` takes at most 5 x its
20-job figure, and the daemon schedules its first fire time within 3 s.

    python bench/many_jobs.py [--repeat 5]

The jobs files are generated in a temporary folder (see `jobs_toml`): a realistic
mix of 5- and 6-field schedules, four time zones, `after` chains with fan-in, and
one job in 25 disabled. Each job's state holds its two latest fire times as runs
(written through the store API), so nothing is overdue and `status` reads real
rows. cronplus runs in a fresh venv whose site-packages hold only a path line to
the dependencies (`status.py`'s), so no unrelated start-up code dilutes the ratios.
The commands run with stdout to a pipe, interleaved size by size in each
round; the figure is the median. The daemon's start is timed on the 10,000 jobs plus a
per-second probe, from `cronplus run`'s spawn to the probe's first start (its
`date +%s.%N`): every first fire time is scheduled by then, and the figure includes
up to a second of waiting for the probe's fire time. The `event=started` line's time
is printed too. The read commands' cache of the checked jobs file lives in the
temporary folder; "status, no cache" is each run with an empty one (the first
after an edit). Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import shutil
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

from _daemon import stop_daemon  # noqa: E402
from status import make_venvs  # noqa: E402

from cronplus.model import Claim, RunStatus, Trigger  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.schedule import fire_times, parse_schedule  # noqa: E402
from cronplus.store import open_store  # noqa: E402
from cronplus.zones import zone  # noqa: E402

SIZES = (20, 1_000, 10_000)
ZONES = ("UTC", "Europe/Berlin", "America/New_York", "Asia/Tokyo")
VALIDATE_MAX_S = 0.5
RATIO_1K_MAX = 1.5  # status and next at 1,000 jobs, over 20
ON_TODAY_MAX_S = 2.0
STATUS_10K_MAX = 5.0
DAEMON_START_MAX_S = 3.0
# The read commands keep the checked jobs file (config/_cache.py), so from the second
# round on they read it from there: the first `status` after an edit of the file is
# this row, each of its runs with an empty cache.
COLD = "status, no cache"


def jobs_toml(n: int) -> tuple[str, dict[str, tuple[str, str]]]:
    """The jobs file, and each scheduled root's (schedule, zone).

    Blocks of 10 jobs: a pipeline of four (a root, two jobs after it, one after
    both: fan-in) and six lone jobs, alternately 5- and 6-field, in four zones."""
    parts: list[str] = []
    roots: dict[str, tuple[str, str]] = {}
    for i in range(n):
        name, block, k = f"job{i:05d}", i // 10, i % 10
        tz = ZONES[block % len(ZONES)]
        lines = [f"[jobs.{name}]", f'command = "echo {name}"']
        if k in (1, 2):
            lines.append(f'after = ["job{block * 10:05d}"]')
        elif k == 3:
            lines.append(f'after = ["job{block * 10 + 1:05d}", "job{block * 10 + 2:05d}"]')
        else:
            minute = i % 60
            schedule = (
                f"{minute} {i % 24} * * *"
                if k % 2 == 0
                else f"{i % 60} {minute}/15 * * * *"  # 6 fields: seconds first
            )
            lines += [f'schedule = "{schedule}"', f'timezone = "{tz}"']
            roots[name] = (schedule, tz)
        if i % 25 == 24:
            lines.append("enabled = false")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n", roots


def fill_state(state: Path, n: int, roots: dict[str, tuple[str, str]], now: datetime) -> int:
    """Each job's two latest fire times before `now`, succeeded (jobs after a root
    share its times)."""
    store = open_store(StatePaths(state))
    count = 0
    try:
        for i in range(n):
            name = f"job{i:05d}"
            root = name if name in roots else f"job{i // 10 * 10:05d}"
            schedule, tz = roots[root]
            times = _last_two(schedule, tz, now)
            for t in times:
                done = Claim(owner=None, now=t, status=RunStatus.SUCCEEDED)
                if store.claim_run(name, t, Trigger.SCHEDULE, done) is not None:
                    count += 1
    finally:
        store.close()
    return count


def _last_two(schedule: str, tz: str, now: datetime) -> list[datetime]:
    last: list[datetime] = []
    for t in fire_times(parse_schedule(schedule), zone(tz), after=now - timedelta(days=2)):
        if t > now:
            break
        last = [*last[-1:], t]
    return last


def clean_env(pycache: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRONPLUS_") and k not in ("PYTHONSTARTUP", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    env["PYTHONPYCACHEPREFIX"] = str(pycache)  # compiled once, as pip would
    env["XDG_CACHE_HOME"] = str(pycache.parent / "cache")  # the read commands' cache, here
    return env


def timed(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    """Wall time of one run, stdout to a pipe; exit 0 or 1 (a bad run) only."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=300
    )
    elapsed = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        sys.exit(f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode()[-2000:]}")
    return elapsed


PROBE = """
[jobs.probe]
schedule = "* * * * * *"
timezone = "UTC"
command = 'date +%s.%N >> probe.out'
"""


def daemon_start_s(folder: Path, env: dict[str, str], py: str) -> tuple[float, float]:
    """`cronplus run` on the jobs plus a per-second probe, restarted on a state that a
    daemon left just now (so no catch-up runs start): seconds from the spawn to its
    `event=started` line, and to the probe's first start (the first fire time is
    scheduled before that; it includes up to a second of waiting for it)."""
    (folder / "daemon.toml").write_text((folder / "jobs.toml").read_text() + PROBE)
    out, err_path = folder / "probe.out", folder / "daemon.stderr"
    out.unlink(missing_ok=True)
    state = folder / "daemon-state"
    shutil.rmtree(state, ignore_errors=True)
    shutil.copytree(folder / "state", state)
    store = open_store(StatePaths(state))
    store.mark_daemon_alive(datetime.now(UTC))  # a restart: a daemon ran until now
    store.close()
    t0 = time.time()
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(
            [py, "-m", "cronplus", "-c", "daemon.toml", "--state", str(state), "run"],
            cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=err, start_new_session=True,
        )  # fmt: skip
    try:
        started = None
        while not out.exists() or not out.read_text().strip():
            if started is None and b"event=started" in err_path.read_bytes():
                started = time.time() - t0
            if proc.poll() is not None or time.time() - t0 > 120:
                sys.exit(f"the daemon did not start:\n{err_path.read_text()[-2000:]}")
            time.sleep(0.01)
        first = float(out.read_text().split()[0]) - t0
        return (first if started is None else started), first
    finally:
        stop_daemon(proc)


COMMANDS = {
    "validate": ["validate"],
    "status": ["status"],
    "next": ["next"],
    "status --on today": ["status", "--on", datetime.now().date().isoformat()],
    COLD: ["status"],
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="rounds (default 5)")
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-many-") as tmp:
        root = Path(tmp)
        env = clean_env(root / "pycache")
        # cronplus runs in a fresh venv: an interpreter whose site-packages run code at
        # start (this one's do) adds the same tens of ms to every figure, and a ratio
        # to the 20-job figure would hide that much of cronplus's own cost.
        _, py = make_venvs(root)
        folders = {}
        for n in SIZES:
            folder = root / str(n)
            folder.mkdir()
            text, roots = jobs_toml(n)
            (folder / "jobs.toml").write_text(text)
            t0 = time.perf_counter()
            runs = fill_state(folder / "state", n, roots, now)
            print(f"{n:>6} jobs: {runs:,} runs written in {time.perf_counter() - t0:.1f} s")
            folders[n] = folder
        figures: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.repeat):
            for label, cmd in COMMANDS.items():
                for n in SIZES:
                    folder = folders[n]
                    argv = [py, "-m", "cronplus", "-c", "jobs.toml"]
                    argv += ["--state", "state", *cmd]
                    if label == COLD:
                        cold = root / f"cold-{len(figures.get((label, n), []))}-{n}"
                        run_env = {**env, "XDG_CACHE_HOME": str(cold)}
                    else:
                        run_env = env
                    figures.setdefault((label, n), []).append(timed(argv, folder, run_env))
        starts = [daemon_start_s(folders[10_000], env, py) for _ in range(3)]
    return report(figures, starts, args.repeat)


def report(
    figures: dict[tuple[str, int], list[float]], starts: list[tuple[float, float]], repeat: int
) -> int:
    med = {k: statistics.median(v) for k, v in figures.items()}
    print(f"\nmedian wall time of {repeat} runs, stdout piped (s); ratio to 20 jobs")
    print(f"{'command':20}" + "".join(f"{n:>10,}" for n in SIZES) + f"{'1k/20':>8}{'10k/20':>8}")
    for label in COMMANDS:
        row = "".join(f"{med[label, n]:10.3f}" for n in SIZES)
        r1, r10 = (med[label, n] / med[label, 20] for n in SIZES[1:])
        print(f"{label:20}{row}{r1:8.2f}{r10:8.2f}")
    logged = statistics.median(s[0] for s in starts)
    start_s = statistics.median(s[1] for s in starts)
    print(
        f"daemon at 10,000 jobs + a per-second probe (median of 3): spawn to event=started"
        f" {logged:.2f} s, to the probe's first start {start_s:.2f} s"
    )
    checks = [
        ("validate, 1,000 jobs", med["validate", 1_000], VALIDATE_MAX_S, "s"),
        ("status, 1,000/20", med["status", 1_000] / med["status", 20], RATIO_1K_MAX, "x"),
        ("next, 1,000/20", med["next", 1_000] / med["next", 20], RATIO_1K_MAX, "x"),
        ("status --on today, 1,000 jobs", med["status --on today", 1_000], ON_TODAY_MAX_S, "s"),
        ("status, 10,000/20", med["status", 10_000] / med["status", 20], STATUS_10K_MAX, "x"),
        ("daemon start, 10,000 jobs", start_s, DAEMON_START_MAX_S, "s"),
    ]
    misses = 0
    for what, value, limit, unit in checks:
        ok = value <= limit
        misses += not ok
        print(f"{'ok  ' if ok else 'MISS'} {what}: {value:.2f} {unit} (target <= {limit:g} {unit})")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
