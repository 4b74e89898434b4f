"""The daemon idle with 20 hourly jobs: its memory, and how often it wakes up.

Issue 3, "Performance": RSS <= 30 MiB (aim: 25), and no wake-ups between due
times beyond the bounded re-check (the engine sleeps at most MAX_SLEEP_S, 30 s,
at a time, so a window of 65 s allows 3 wake-ups of the one waiting thread).

    python bench/idle.py [--seconds 65]

Each job is due at a minute past the hour chosen so that none fires during the
run. The floor is an idle `python -c "import time; time.sleep(...)"` started
beside the daemon: its RSS, and its wake-ups over the same window (none).
Wake-ups are voluntary context switches read from /proc/PID/task/*/status,
summed over the process's threads, at the start and end of the window (reading
/proc does not wake the process). Bytecode is cached in the run's temporary
folder (PYTHONPYCACHEPREFIX) by a first, unmeasured start, as pip's .pyc files
would be. Exits 1 if a target is missed.
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

MAX_RSS_MIB = 30.0
AIM_RSS_MIB = 25.0
JOBS = 20
SETTLE_S = 3.0  # after `event=started`, before RSS is read and the window opens


def jobs_toml(now: datetime, seconds: float) -> str:
    """20 hourly jobs, each at its own minute, none of them in the next `seconds` + margin."""
    skip = math.ceil((seconds + START_TIMEOUT_S + SETTLE_S) / 60) + 1
    if skip + JOBS > 60:
        sys.exit(f"--seconds {seconds:g} is too long for {JOBS} hourly jobs that must not fire")
    parts = []
    for i in range(JOBS):
        minute = (now.minute + skip + i) % 60
        parts.append(
            f'[jobs.hourly_{i:02d}]\nschedule = "{minute} * * * *"\n'
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=65.0, help="wake-up window (default 65)")
    args = parser.parse_args()
    seconds = max(5.0, min(args.seconds, 1800.0))
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)

    with tempfile.TemporaryDirectory(prefix="cronplus-bench-idle-") as tmp:
        root = Path(tmp)
        (root / "jobs.toml").write_text(jobs_toml(datetime.now(UTC), seconds))
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # A first start writes the .pyc files, as pip does on install, so that the
        # measured daemon does not carry the compiler's leftovers in its RSS.
        stop_daemon(start_daemon(root, env))
        procs: list[subprocess.Popen[bytes]] = []
        try:
            procs.append(start_daemon(root, env))
            daemon = procs[0]
            sleep_s = int(seconds + START_TIMEOUT_S + SETTLE_S + 60)
            floor = subprocess.Popen(
                [sys.executable, "-c", f"import time; time.sleep({sleep_s})"],
                env=env,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            procs.append(floor)
            time.sleep(SETTLE_S)

            d_rss, d_hwm = rss_mib(daemon.pid)
            f_rss, f_hwm = rss_mib(floor.pid)
            d_before, f_before = switches(daemon.pid), switches(floor.pid)
            time.sleep(seconds)
            d_after, f_after = switches(daemon.pid), switches(floor.pid)
            d_rss_end, _ = rss_mib(daemon.pid)
        finally:
            codes = [stop_daemon(p) for p in procs]
        stderr = (root / "daemon.stderr").read_text(errors="replace")

    if codes[0] != 0:
        print(stderr)
        sys.exit(f"the daemon exited {codes[0]}")
    fired = [line for line in stderr.splitlines() if " job=" in line]
    d_wake, f_wake = wakeups(d_before, d_after), wakeups(f_before, f_after)
    d_total, f_total = sum(d_wake.values()), sum(f_wake.values())
    bound = math.floor(seconds / MAX_SLEEP_S) + 1
    involuntary = sum(v for _, v in d_after.values()) - sum(v for _, v in d_before.values())

    print(f"daemon idle with {JOBS} hourly jobs (none due in the window)")
    print(
        f"RSS     daemon {d_rss:5.1f} MiB (peak {d_hwm:.1f}, {d_rss_end:.1f} at the end)"
        f"   floor (idle python) {f_rss:5.1f} MiB (peak {f_hwm:.1f})"
        f"   difference {d_rss - f_rss:5.1f} MiB"
        f"   (target <= {MAX_RSS_MIB:g} MiB, aim {AIM_RSS_MIB:g})"
    )
    per_thread = ", ".join(f"{tid}: {n}" for tid, n in sorted(d_wake.items()))
    print(
        f"wake-ups in {seconds:g} s: daemon {d_total} over {len(d_after)} thread(s) ({per_thread};"
        f" {involuntary} involuntary)   floor {f_total}"
        f"   (bound: one re-check every {MAX_SLEEP_S:g} s = {bound})"
    )
    if fired:
        print("jobs fired during the window, so it was not idle:\n" + "\n".join(fired))

    failures = []
    if d_rss > MAX_RSS_MIB:
        failures.append(f"RSS {d_rss:.1f} MiB > {MAX_RSS_MIB:g} MiB")
    if d_total > bound:
        failures.append(f"{d_total} wake-ups > {bound}")
    if fired:
        failures.append("a job fired during the window")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    aim = "met" if d_rss <= AIM_RSS_MIB else "not met"
    print(f"OK: targets met; RSS aim of {AIM_RSS_MIB:g} MiB {aim}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
