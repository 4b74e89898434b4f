"""A busy daemon: 1,000 jobs spread over every second of the minute, and a probe.

Issue 12, "A busy daemon": with 1,000 jobs (about 17 due each second) and a
per-second probe job, the probe's start lateness has its median within 5 ms of
the floor's and its p99 within 50 ms, every fire time of every job in the window
has exactly one run and none was skipped; the daemon's own CPU per run started
is printed (aim: under 1 ms).

    python bench/busy.py [--seconds 60]

The floor is `lateness.py`'s bare loop (sleep to each whole second, spawn
`sh -c 'date +%s.%N >> f'`), run for a quarter of the time before the daemon and
a quarter after. Job i runs `true` at second i % 60 of every minute, in UTC; the
probe runs `date +%s.%N >> out` every second. The window starts a second after
`event=started`; the daemon's CPU is its own user + sys time over the window
(`/proc/PID/stat`, not its children's), divided by the runs whose fire time falls
in it. Exits 1 if a target is missed.

Beside it, for reading only (no target): a bare loop that does what the daemon must
do at each second without its bookkeeping: spawn as many `sh -c true` as jobs are
due with the probe, back to back, then the probe's command (or it first, with
`--probe-first`). On two cores the probe defined last cannot start before the
processes spawned ahead of it, whoever spawns them.

The jobs file sets `max_parallel = 32` (`--max-parallel`): about 18 runs fall due
at each second, and the default limit, CPUs x 4, is 8 on two cores, so with it the
last runs of each second wait for a slot by design (a limit the user chose, not a
start cost); the figure is about what it costs the daemon to start them.
`--max-parallel 0` leaves the default.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from _daemon import start_daemon, stop_daemon  # noqa: E402
from lateness import check_seconds, clean_env, floor_loop, lateness_ms  # noqa: E402

from cronplus.model import RunStatus  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.schedule import fire_times, parse_schedule  # noqa: E402
from cronplus.store import open_store  # noqa: E402
from cronplus.zones import zone  # noqa: E402

JOBS = 1_000
MAX_MEDIAN_DIFF_MS = 5.0
MAX_P99_DIFF_MS = 50.0
AIM_CPU_MS = 1.0


def jobs_toml(probe_first: bool, max_parallel: int) -> str:
    """The probe last in the file (so it starts after the other jobs due with it), or
    first."""
    defaults = f"[defaults]\nmax_parallel = {max_parallel}\n" if max_parallel else ""
    jobs = [
        f'[jobs.j{i:04d}]\nschedule = "{i % 60} * * * * *"\ntimezone = "UTC"\ncommand = "true"\n'
        for i in range(JOBS)
    ]
    probe = '[jobs.probe]\nschedule = "* * * * * *"\ntimezone = "UTC"\n'
    probe += "command = 'date +%s.%N >> out'\n"
    return defaults + "\n".join([probe, *jobs] if probe_first else [*jobs, probe])


def batch_floor(folder: Path, seconds: int, probe_first: bool) -> list[float]:
    """Each second, the runs due with the probe spawned by a bare loop, the probe's
    last (or first): its lateness in ms, one per second."""
    children: list[subprocess.Popen[bytes]] = []
    t = math.floor(time.time()) + 1
    for _ in range(seconds):
        time.sleep(max(0.0, t - time.time()))
        others = [["sh", "-c", "true"]] * sum(1 for i in range(JOBS) if i % 60 == t % 60)
        probe = ["sh", "-c", "date +%s.%N >> batch"]
        for argv in [probe, *others] if probe_first else [*others, probe]:
            kw = {"stdin": subprocess.DEVNULL, "start_new_session": True, "cwd": folder}
            children.append(subprocess.Popen(argv, **kw))
        children = [c for c in children if c.poll() is None]
        t += 1
    for c in children:
        c.wait()
    return lateness_ms(folder / "batch")


def cpu_s(pid: int, task: int | None = None) -> float:
    """The process's own user + sys time (fields 14 and 15 of /proc/PID/stat), or one
    of its threads' (`task`; the main thread's id is the pid)."""
    where = f"/proc/{pid}" if task is None else f"/proc/{pid}/task/{task}"
    fields = Path(f"{where}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def p99(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=100, method="inclusive")[98]


def check_runs(
    state: Path, start: datetime, end: datetime
) -> tuple[int, list[str], list[float], list[float]]:
    """Runs with a fire time in [start, end): their number, what is wrong, and each
    one's lateness as the daemon recorded it (its first attempt's start, in ms), then
    the probe's alone."""
    store = open_store(StatePaths(state), create=False)
    wrong: list[str] = []
    late: list[float] = []
    probe_late: list[float] = []
    count = 0
    utc = zone("UTC")
    try:
        names = [f"j{i:04d}" for i in range(JOBS)] + ["probe"]
        for i, name in enumerate(names):
            expr = "* * * * * *" if name == "probe" else f"{i % 60} * * * * *"
            tick = timedelta(microseconds=1)
            want = list(fire_times(parse_schedule(expr), utc, start - tick, end - tick))
            runs = store.runs_between(name, start, end)
            got = [r.scheduled_for for r in runs]
            if sorted(got) != want:
                wrong.append(f"{name}: {len(got)} runs for {len(want)} fire times")
            skipped = [r for r in runs if r.status is RunStatus.SKIPPED]
            if skipped:
                wrong.append(f"{name}: {len(skipped)} skipped ({skipped[0].reason})")
            count += len(runs)
            mine = [
                (r.attempts[0].started_at - r.scheduled_for).total_seconds() * 1000
                for r in runs
                if r.attempts
            ]
            late += mine
            if name == "probe":
                probe_late = mine
    finally:
        store.close()
    return count, wrong, late, probe_late


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=60, help="daemon window (default 60)")
    parser.add_argument(
        "--probe-first", action="store_true", help="define the probe first, not last"
    )
    parser.add_argument(
        "--max-parallel", type=int, default=32, help="[defaults] max_parallel (0: CPUs x 4)"
    )
    args = parser.parse_args()
    seconds = max(10, min(args.seconds, 600))
    floor_s = max(4, seconds // 4)
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-busy-") as tmp:
        root = Path(tmp)
        floor_dir, daemon_dir = root / "floor", root / "daemon"
        floor_dir.mkdir()
        daemon_dir.mkdir()
        (daemon_dir / "jobs.toml").write_text(jobs_toml(args.probe_first, args.max_parallel))
        floor_loop(floor_dir, floor_s)
        batch = batch_floor(floor_dir, floor_s, args.probe_first)
        proc = start_daemon(daemon_dir, clean_env())
        try:
            time.sleep(math.ceil(time.time()) + 1 - time.time())  # to a whole second, +1
            start = datetime.fromtimestamp(round(time.time()), UTC)
            cpu0, main0 = cpu_s(proc.pid), cpu_s(proc.pid, proc.pid)
            time.sleep(seconds)
            cpu, main = cpu_s(proc.pid) - cpu0, cpu_s(proc.pid, proc.pid) - main0
            end = start + timedelta(seconds=seconds)
        finally:
            code = stop_daemon(proc)
        floor_loop(floor_dir, floor_s)
        if code != 0 or not (daemon_dir / "out").exists():
            print((daemon_dir / "daemon.stderr").read_text(errors="replace")[-3000:])
            sys.exit(f"the daemon exited {code} or the probe recorded nothing")
        probe = [
            (float(x) - math.floor(float(x))) * 1000
            for x in (daemon_dir / "out").read_text().split()
            if start.timestamp() <= float(x) < end.timestamp()
        ]
        floor = lateness_ms(floor_dir / "f")
        floor_check = check_seconds(floor_dir / "f", 2 * floor_s)
        runs, wrong, late, probe_late = check_runs(daemon_dir / "state", start, end)
    where = "first" if args.probe_first else "last"
    print(f"the probe is defined {where}: it starts {where} of the runs due with it")
    print(f"max_parallel: {args.max_parallel or 'the default, CPUs x 4'}")
    print(
        f"every run's first attempt start, as recorded, after its fire time (ms):"
        f" median {statistics.median(late):.2f}, p99 {p99(late):.2f}, n {len(late)}"
    )
    # What comes before the spawns (the wake-up, the claim, the attempts' record), told
    # from the spawns themselves: the probe's process starts the rest of its lateness later.
    print(f"the probe's, alone: median {statistics.median(probe_late):.2f}")
    print(
        f"a bare loop spawning the runs due with the probe, it {where}:"
        f" its lateness median {statistics.median(batch):.2f}, p99 {p99(batch):.2f} ms"
    )
    if runs:
        # The engine's thread (the main one) starts the runs; the runs' threads watch them.
        print(f"daemon CPU per run in its engine thread alone: {main / runs * 1000:.3f} ms")
    return report(floor, probe, floor_check, seconds, runs, cpu, wrong)


def report(
    floor: list[float],
    probe: list[float],
    floor_check: str,
    seconds: int,
    runs: int,
    cpu: float,
    wrong: list[str],
) -> int:
    fm, fp = statistics.median(floor), p99(floor)
    dm, dp = statistics.median(probe), p99(probe)
    per_run_ms = cpu / runs * 1000 if runs else float("nan")
    print(f"{JOBS:,} jobs over every second of the minute + a per-second probe, {seconds} s")
    print(f"{'start lateness (ms)':32}{'median':>8}{'p99':>8}{'n':>6}")
    print(f"{'floor  (bare loop + sh -c)':32}{fm:8.2f}{fp:8.2f}{len(floor):6}  ({floor_check})")
    print(f"{'probe  (cronplus run)':32}{dm:8.2f}{dp:8.2f}{len(probe):6}")
    print(
        f"{'difference':32}{dm - fm:8.2f}{dp - fp:8.2f}"
        f"        (targets: median <= {MAX_MEDIAN_DIFF_MS:g}, p99 <= {MAX_P99_DIFF_MS:g})"
    )
    print(
        f"runs with a fire time in the window: {runs:,}; daemon CPU {cpu:.2f} s,"
        f" {per_run_ms:.3f} ms per run (aim < {AIM_CPU_MS:g} ms)"
    )
    checks = [
        (len(probe) >= seconds - 1, f"the probe started {len(probe)} times in {seconds} s"),
        (dm - fm <= MAX_MEDIAN_DIFF_MS, f"median {dm - fm:.2f} ms over the floor"),
        (dp - fp <= MAX_P99_DIFF_MS, f"p99 {dp - fp:.2f} ms over the floor"),
    ]
    failures = wrong[:10] + [why for ok, why in checks if not ok]
    if not failures:
        print("OK: every fire time in the window has one run, none skipped; lateness targets met")
    else:
        print("MISSED: " + "; ".join(failures))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
