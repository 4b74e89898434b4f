"""The daemon idle with 20 and with 1,000 hourly jobs: its memory, and how often it wakes up.

Issue 12, "Idle": RSS <= 25 MiB with 20 hourly jobs and <= 40 MiB with 1,000, and
in both no wake-ups between due times beyond the bounded re-check (the engine
sleeps at most MAX_SLEEP_S, 30 s, at a time, so a window of 65 s allows 3
wake-ups of the one waiting thread).

    python bench/idle.py [--seconds 65] [--jobs 20,1000]

Each job is due at a minute past the hour chosen so that none fires during the
run. The two daemons (one per --jobs size, each with its own state) idle side by
side, in the same window. The floor is an idle `python -c "import time;
time.sleep(...)"` started beside them: its RSS, and its wake-ups over the same
window (none). Wake-ups are voluntary context switches read from
/proc/PID/task/*/status, summed over the process's threads, at the start and end
of the window (reading /proc does not wake the process). Bytecode is cached in the
run's temporary folder (PYTHONPYCACHEPREFIX) by a first, unmeasured start, as pip's
.pyc files would be. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

# Measure this checkout's cronplus, in this process and in every child, whatever copy
# (editable, regular or none) pip has installed.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _daemon import START_TIMEOUT_S, start_daemon, stop_daemon  # noqa: E402

from cronplus.engine import MAX_SLEEP_S  # noqa: E402

# RSS target per number of jobs (issue 12); a size not listed gets the largest.
MAX_RSS_MIB = {20: 25.0, 1000: 40.0}
SETTLE_S = 3.0  # after `event=started`, before RSS is read and the window opens


def jobs_toml(now: datetime, seconds: float, jobs: int) -> str:
    """`jobs` hourly jobs spread over the minutes that can't come up in the next
    `seconds` + margin (several jobs share a minute when there are more than 60)."""
    skip = math.ceil((seconds + START_TIMEOUT_S + SETTLE_S) / 60) + 1
    free = 60 - skip
    if free < 1:
        sys.exit(f"--seconds {seconds:g} is too long for hourly jobs that must not fire")
    parts = []
    for i in range(jobs):
        minute = (now.minute + skip + i % free) % 60
        parts.append(
            f'[jobs.hourly_{i:04d}]\nschedule = "{minute} * * * *"\n'
            f'timezone = "UTC"\ncommand = "echo {i}"\n'
        )
    return "\n".join(parts)


def proc_status(path: str) -> dict[str, str]:
    """/proc/PID/status or /proc/PID/task/TID/status as a dict."""
    with open(path) as f:
        return dict(line.rstrip("\n").split(":\t", 1) for line in f if ":\t" in line)


def rss_mib(pid: int) -> tuple[float, float]:
    """(VmRSS, VmHWM) in MiB."""
    st = proc_status(f"/proc/{pid}/status")
    return int(st["VmRSS"].split()[0]) / 1024, int(st["VmHWM"].split()[0]) / 1024


def switches(pid: int) -> dict[int, tuple[int, int]]:
    """Per thread: (voluntary, involuntary) context switches so far."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            st = proc_status(f"/proc/{pid}/task/{tid}/status")
        except FileNotFoundError:  # the thread ended meanwhile
            continue
        out[int(tid)] = (int(st["voluntary_ctxt_switches"]), int(st["nonvoluntary_ctxt_switches"]))
    return out


def wakeups(before: dict[int, tuple[int, int]], after: dict[int, tuple[int, int]]) -> dict:
    """Per thread alive at the end: voluntary switches during the window (a thread born
    during the window counts from zero)."""
    return {tid: v - before.get(tid, (0, 0))[0] for tid, (v, _) in after.items()}


class Measured:
    """One process over the window: RSS at its start and end, switches per thread."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.rss, self.hwm = rss_mib(pid)
        self.before = switches(pid)
        self.after: dict[int, tuple[int, int]] = {}
        self.rss_end = 0.0

    def end(self) -> None:
        self.after = switches(self.pid)
        self.rss_end, _ = rss_mib(self.pid)

    def wakeups(self) -> dict[int, int]:
        return wakeups(self.before, self.after)

    def involuntary(self) -> int:
        return sum(v for _, v in self.after.values()) - sum(v for _, v in self.before.values())


def measure(roots: list[Path], env: dict[str, str], seconds: float) -> tuple[list, Measured]:
    """Start a daemon in each root and the floor, let them settle, watch the window."""
    for root in roots:  # writes the .pyc files, as pip does on install, so that the
        stop_daemon(start_daemon(root, env))  # measured daemons don't carry the compiler
    procs: list[subprocess.Popen[bytes]] = []
    try:
        procs += [start_daemon(root, env) for root in roots]
        sleep_s = int(seconds + START_TIMEOUT_S + SETTLE_S + 60)
        floor = subprocess.Popen(
            [sys.executable, "-c", f"import time; time.sleep({sleep_s})"],
            env=env,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        procs.append(floor)
        time.sleep(SETTLE_S)
        measured = [Measured(p.pid) for p in procs]
        time.sleep(seconds)
        for m in measured:
            m.end()
    finally:
        codes = [stop_daemon(p) for p in procs]
    for root, code in zip(roots, codes, strict=False):
        if code != 0:
            print((root / "daemon.stderr").read_text(errors="replace"))
            sys.exit(f"the daemon in {root} exited {code}")
    return measured[:-1], measured[-1]


def report(jobs: int, root: Path, d: Measured, f: Measured, seconds: float) -> list[str]:
    """Print one daemon's figures beside the floor's; return the targets it missed."""
    max_rss = MAX_RSS_MIB.get(jobs, max(MAX_RSS_MIB.values()))
    stderr = (root / "daemon.stderr").read_text(errors="replace")
    fired = [line for line in stderr.splitlines() if " job=" in line]
    d_wake, f_wake = d.wakeups(), f.wakeups()
    d_total, f_total = sum(d_wake.values()), sum(f_wake.values())
    bound = math.floor(seconds / MAX_SLEEP_S) + 1
    print(f"daemon idle with {jobs:,} hourly jobs (none due in the window)")
    print(
        f"RSS     daemon {d.rss:5.1f} MiB (peak {d.hwm:.1f}, {d.rss_end:.1f} at the end)"
        f"   floor (idle python) {f.rss:5.1f} MiB (peak {f.hwm:.1f})"
        f"   difference {d.rss - f.rss:5.1f} MiB   (target <= {max_rss:g} MiB)"
    )
    per_thread = ", ".join(f"{tid}: {n}" for tid, n in sorted(d_wake.items()))
    print(
        f"wake-ups in {seconds:g} s: daemon {d_total} over {len(d.after)} thread(s) ({per_thread};"
        f" {d.involuntary()} involuntary)   floor {f_total}"
        f"   (bound: one re-check every {MAX_SLEEP_S:g} s = {bound})"
    )
    if fired:
        print("jobs fired during the window, so it was not idle:\n" + "\n".join(fired[:10]))
    failures = []
    if d.rss > max_rss:
        failures.append(f"{jobs} jobs: RSS {d.rss:.1f} MiB > {max_rss:g} MiB")
    if d_total > bound:
        failures.append(f"{jobs} jobs: {d_total} wake-ups > {bound}")
    if fired:
        failures.append(f"{jobs} jobs: a job fired during the window")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=65.0, help="wake-up window (default 65)")
    parser.add_argument("--jobs", default="20,1000", help="daemon sizes, side by side")
    args = parser.parse_args()
    seconds = max(5.0, min(args.seconds, 1800.0))
    sizes = [int(n) for n in args.jobs.split(",")]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)

    with tempfile.TemporaryDirectory(prefix="cronplus-bench-idle-") as tmp:
        now = datetime.now(UTC)
        roots = []
        for jobs in sizes:
            root = Path(tmp) / f"jobs-{jobs}"
            root.mkdir()
            (root / "jobs.toml").write_text(jobs_toml(now, seconds, jobs))
            roots.append(root)
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        daemons, floor = measure(roots, env, seconds)
        failures = []
        for jobs, root, d in zip(sizes, roots, daemons, strict=True):
            failures += report(jobs, root, d, floor, seconds)
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print("OK: targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
