"""`cronplus backfill` throughput against the cost of starting processes.

Issue 12, "Backfill": backfilling 1,440 runs of a `true` job (one day of a
per-minute schedule) with `--parallel 2` takes at most 2 x the time of 1,440
sequential `sh -c true` spawns from Python, measured in the same run, with all
1,440 runs recorded. A per-second `true` job backfilled with `--parallel 2 --yes`
and its progress bar on a terminal (a pseudo-terminal here) is held to the same
2 x its own number of spawns: one hour (3,600 runs) by default, the whole day of
issue 12 (86,400 runs) with `--per-second-hours 24` (about 5 minutes: the floor
alone is two times 86,400 spawns). Also reports the wall time of 365 days of a
3-job chain of `true` with `--parallel 1` and `--parallel 4` (1,095 runs each).

    python bench/backfill.py [--repeat 3] [--chain-days 365] [--per-second-hours 1]

Each backfill starts from an empty state in a temporary folder, runs as
`sys.executable -m cronplus`, and is checked afterwards: every planned run is in
the state and succeeded. The per-minute and chain backfills have stdout and
stderr on pipes (plain progress lines, as in a script or cron); the per-second
one has its stderr on a pseudo-terminal, read and checked for the bar's last
count. The floor is timed right before and right after the backfill and the
mean of the two is used, so noise hits both alike; the per-minute target holds
for the median ratio of --repeat such rounds. Each per-minute round also prints the
CPU per run of the backfill process itself and of the job processes it started,
beside the CPU of one floor spawn (read from /proc/PID/stat before the process is
reaped, so the figures are the process's own, which the load disturbs less than the
wall time). Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import pty
import resource
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_RATIO = 2.0
RUNS = 1440

MINUTELY = """
[jobs.tick]
schedule = "* * * * *"
timezone = "UTC"
command = "true"
"""

PER_SECOND = """
[jobs.tick]
schedule = "* * * * * *"
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
    return backfill_cpu(folder, toml, job, frm, to, parallel)[0]


def backfill_cpu(
    folder: Path, toml: str, job: str, frm: str, to: str, parallel: int
) -> tuple[float, float, float]:
    """The backfill's wall time, its own CPU (user + sys of the cronplus process) and
    its children's (the job processes it waited for), in seconds. Both CPU times
    are read from /proc/PID/stat while the ended process is a zombie, before it is
    reaped (waitid with WNOWAIT)."""
    folder.mkdir()
    (folder / "jobs.toml").write_text(toml)
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", "state"]
    argv += ["backfill", job, "--from", frm, "--to", to, "--parallel", str(parallel)]
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, cwd=folder, env=env(), stdout=out, stderr=out)
        os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
        took = time.perf_counter() - start
        fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        code = proc.wait()
        if code != 0:
            out.seek(0)
            sys.exit(f"backfill failed ({code}):\n{out.read()[-3000:].decode(errors='replace')}")
    tick = os.sysconf("SC_CLK_TCK")
    own, children = (
        (int(fields[11]) + int(fields[12])) / tick,
        (int(fields[13]) + int(fields[14])) / tick,
    )
    return took, own, children


def floor_cpu(n: int) -> tuple[float, float]:
    """`spawn_floor(n)`'s wall time and the CPU of its n children, in seconds."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    took = spawn_floor(n)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def backfill_on_a_terminal(folder: Path, hours: int) -> tuple[float, str]:
    """`hours` hours of the per-second job, --parallel 2 --yes, its stderr on a
    pseudo-terminal (so the progress bar draws); the wall time and the screen's tail."""
    folder.mkdir()
    (folder / "jobs.toml").write_text(PER_SECOND)
    to = "2026-01-01" if hours == 24 else f"2026-01-01T{hours - 1:02d}:59:59"
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", "state"]
    argv += ["backfill", "tick", "--from", "2026-01-01", "--to", to, "--parallel", "2", "--yes"]
    primary, secondary = pty.openpty()
    start = time.perf_counter()
    wide = {**env(), "COLUMNS": "200"}  # the whole bar, its count uncut
    proc = subprocess.Popen(argv, cwd=folder, env=wide, stdout=subprocess.DEVNULL, stderr=secondary)
    os.close(secondary)
    tail = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the terminal closed: the process is gone
            break
        if not chunk:
            break
        tail = (tail + chunk)[-4096:]
    code = proc.wait()
    took = time.perf_counter() - start
    os.close(primary)
    screen = tail.decode(errors="replace")
    if code != 0:
        sys.exit(f"backfill failed ({code}):\n{screen}")
    return took, screen


def per_second(root: Path, hours: int) -> bool:
    """The per-second figure; True if it met its target."""
    runs = hours * 3600
    spawn_floor(50)
    before = spawn_floor(runs)
    took, screen = backfill_on_a_terminal(root / "per-second", hours)
    after = spawn_floor(runs)
    floor = (before + after) / 2
    counts = recorded(root / "per-second")
    bar = f"{runs}/{runs}" in screen or f"{runs:,}/{runs:,}" in screen
    print(
        f"{hours} h of a per-second `true` job ({runs:,} runs), --parallel 2 --yes, progress "
        f"bar on a terminal: {took:.2f} s; floor ({runs:,} sequential `sh -c true` spawns, "
        f"mean of {before:.2f} s before and {after:.2f} s after): {floor:.2f} s; ratio "
        f"{took / floor:.2f} x (target at most {MAX_RATIO:g} x); bar reached "
        f"{runs:,}/{runs:,}: {'yes' if bar else 'no'}; recorded {counts}"
    )
    ok = counts == {"succeeded": runs} and bar and took / floor <= MAX_RATIO
    if not ok:
        last = screen.rsplit("backfill", 1)[-1]  # the bar's last drawing
        print(f"FAIL: the per-second backfill missed its target; the bar ended: {last!r}")
    return ok


def recorded(folder: Path) -> dict[str, int]:
    db = sqlite3.connect(folder / "state" / "state.db")
    try:
        rows = db.execute("SELECT status, count(*) FROM runs GROUP BY status").fetchall()
    finally:
        db.close()
    return dict(rows)


def per_minute(root: Path, repeat: int) -> bool:
    """The 1,440-run figure over `repeat` rounds; True if it met its target."""
    ok = True
    ratios = []
    for i in range(repeat):
        before, cpu_before = floor_cpu(RUNS)
        folder = root / f"minutely-{i}"
        took, own, children = backfill_cpu(folder, MINUTELY, "tick", "2026-01-01", "2026-01-01", 2)
        after, cpu_after = floor_cpu(RUNS)
        floor = (before + after) / 2
        counts = recorded(folder)
        ratios.append(took / floor)
        ms = 1000 / RUNS  # seconds over all runs -> ms per run
        print(
            f"round {i + 1}: 1,440 runs of `true`, --parallel 2: {took:.2f} s; floor "
            f"(1,440 sequential `sh -c true` spawns, mean of {before:.2f} s before and "
            f"{after:.2f} s after): {floor:.2f} s; ratio {took / floor:.2f} x; "
            f"recorded {counts}; CPU per run: backfill process {own * ms:.2f} ms, its "
            f"job processes {children * ms:.2f} ms (floor's spawn "
            f"{(cpu_before + cpu_after) / 2 * ms:.2f} ms)"
        )
        if counts != {"succeeded": RUNS}:
            print(f"FAIL: expected {RUNS} succeeded runs, got {counts}")
            ok = False
    ratio = statistics.median(ratios)
    print(f"median ratio {ratio:.2f} x over {repeat} rounds (target at most {MAX_RATIO:g} x)")
    if ratio > MAX_RATIO:
        print("FAIL: over the target")
        ok = False
    return ok


def chain(root: Path, days: int) -> bool:
    """The chain's wall times with --parallel 1 and 4; True if every run succeeded."""
    ok = True
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
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="rounds of backfill vs floor")
    parser.add_argument("--chain-days", type=int, default=365)
    parser.add_argument(
        "--per-second-hours",
        type=int,
        default=1,
        choices=range(0, 25),
        metavar="{0..24}",
        help="hours of a per-second job to backfill (24: 86,400 runs, ~5 min; 0: skip)",
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-") as tmp:
        root = Path(tmp)
        spawn_floor(50)  # warm the page cache and the shell
        ok = per_minute(root, args.repeat)
        if args.per_second_hours:
            ok = per_second(root, args.per_second_hours) and ok
        ok = chain(root, args.chain_days) and ok
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
