"""Start lateness of a per-second job under the real daemon, against a bare loop.

Issue 3, "Performance": from a fire time to the job's own `date`, the daemon's
median is within 10 ms of a bare Python loop that sleeps to each second and
spawns `sh -c 'date +%s.%N >> f'`, and its p90 within 30 ms (aim: within 2 ms).

    python bench/lateness.py [--seconds 30]

The floor loop runs for half the time before the daemon and half after it, so a
change in the machine's load during the run weighs on both alike. The daemon
runs `python -m cronplus -c jobs.toml --state STATE run` on a job with
`schedule = "* * * * * *"` and `command = 'date +%s.%N >> out'`, and is stopped
with SIGTERM. Lateness is each recorded time minus its whole second. Exits 1 if
a target is missed.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Measure this checkout's cronplus, in this process and in every child, whatever copy
# (editable, regular or none) pip has installed.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _daemon import start_daemon, stop_daemon  # noqa: E402

from cronplus.paths import StatePaths  # noqa: E402
from cronplus.store import open_store  # noqa: E402

MAX_MEDIAN_DIFF_MS = 10.0
MAX_P90_DIFF_MS = 30.0
AIM_DIFF_MS = 2.0

JOBS_TOML = """\
[jobs.tick]
schedule = "* * * * * *"
timezone = "UTC"
command = 'date +%s.%N >> out'
"""


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return env


def floor_loop(folder: Path, seconds: int) -> None:
    """The peer the issue measured: sleep to each whole second, spawn the job, go on."""
    children: list[subprocess.Popen[bytes]] = []
    try:
        t = math.floor(time.time()) + 1
        for _ in range(seconds):
            delay = t - time.time()
            if delay > 0:
                time.sleep(delay)
            children.append(subprocess.Popen(["sh", "-c", "date +%s.%N >> f"], cwd=folder))
            children = [c for c in children if c.poll() is None]
            t += 1
    finally:
        for c in children:
            try:
                c.wait(10)
            except subprocess.TimeoutExpired:
                c.kill()
                c.wait()


def daemon_run(folder: Path, seconds: int, env: dict[str, str]) -> tuple[str, int | None]:
    """Run the daemon for `seconds` after it logged `event=started`; return its stderr
    and exit code."""
    proc = start_daemon(folder, env)
    try:
        time.sleep(seconds)
    finally:
        code = stop_daemon(proc)
    return (folder / "daemon.stderr").read_text(errors="replace"), code


def lateness_ms(path: Path) -> list[float]:
    """Recorded time minus its whole second, oldest first (sorted: jobs may finish out
    of order). Assumes less than a second of lateness; `check_seconds` verifies it."""
    values = sorted(float(x) for x in path.read_text().split())
    return [(v - math.floor(v)) * 1000 for v in values]


def check_seconds(path: Path, expected: int) -> str:
    """A second with two samples, or fewer samples than seconds, would mean a start
    more than a second late (or a missed one), which the lateness figures cannot show."""
    secs = [math.floor(float(x)) for x in path.read_text().split()]
    dupes = len(secs) - len(set(secs))
    return f"{len(secs)} samples for {expected} seconds, {dupes} seconds with two"


def stats(xs: list[float]) -> tuple[float, float, float, float]:
    q = statistics.quantiles(xs, n=10, method="inclusive")
    return statistics.median(xs), q[8], min(xs), max(xs)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=30, help="daemon run time (default 30)")
    args = parser.parse_args()
    seconds = max(4, min(args.seconds, 600))

    with tempfile.TemporaryDirectory(prefix="cronplus-bench-lateness-") as tmp:
        root = Path(tmp)
        floor_dir, daemon_dir = root / "floor", root / "daemon"
        floor_dir.mkdir()
        daemon_dir.mkdir()
        (daemon_dir / "jobs.toml").write_text(JOBS_TOML)

        floor_loop(floor_dir, seconds // 2)
        stderr, code = daemon_run(daemon_dir, seconds, clean_env())
        floor_loop(floor_dir, seconds - seconds // 2)

        if code != 0 or not (daemon_dir / "out").exists():
            print(stderr)
            sys.exit(f"the daemon exited {code} or recorded nothing")
        floor = lateness_ms(floor_dir / "f")
        daemon = lateness_ms(daemon_dir / "out")
        floor_check = check_seconds(floor_dir / "f", seconds)
        daemon_check = check_seconds(daemon_dir / "out", seconds)
        store = open_store(StatePaths(daemon_dir / "state"), create=False)
        runs = store.history("tick")
        store.close()

    by_status: dict[str, int] = {}
    for r in runs:
        by_status[str(r.status)] = by_status.get(str(r.status), 0) + 1
    fm, fp, fmin, fmax = stats(floor)
    dm, dp, dmin, dmax = stats(daemon)
    print(f"start lateness of a per-second job, {seconds} s each (ms after the whole second)")
    print(f"{'':28}{'median':>8}{'p90':>8}{'min':>8}{'max':>8}")
    print(f"{'floor  (bare loop + sh -c)':28}{fm:8.2f}{fp:8.2f}{fmin:8.2f}{fmax:8.2f}")
    print(f"{'daemon (cronplus run)':28}{dm:8.2f}{dp:8.2f}{dmin:8.2f}{dmax:8.2f}")
    print(
        f"{'difference':28}{dm - fm:8.2f}{dp - fp:8.2f}"
        f"      (targets: median <= {MAX_MEDIAN_DIFF_MS:g}, p90 <= {MAX_P90_DIFF_MS:g};"
        f" aim <= {AIM_DIFF_MS:g})"
    )
    print(f"floor:  {floor_check}")
    print(f"daemon: {daemon_check}; runs in its state: {by_status}")

    failures = []
    if dm - fm > MAX_MEDIAN_DIFF_MS:
        failures.append(f"median {dm - fm:.2f} ms over the floor > {MAX_MEDIAN_DIFF_MS:g} ms")
    if dp - fp > MAX_P90_DIFF_MS:
        failures.append(f"p90 {dp - fp:.2f} ms over the floor > {MAX_P90_DIFF_MS:g} ms")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1

    def met(diff: float) -> str:
        return "met" if diff <= AIM_DIFF_MS else "not met"

    print(f"OK: targets met; aim of {AIM_DIFF_MS:g} ms: median {met(dm - fm)}, p90 {met(dp - fp)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
