"""`max_log_bytes` (issue 14): a job writing 200 MiB as fast as it can
(`head -c … /dev/zero | tr '\\0' x`) with `max_log_bytes = "1M"`, through
`cronplus trigger --wait`. Prints the log's peak size on disk (st_blocks × 512,
sampled every 0.5 ms while it runs), its final size and the marker's N, and the wall
time against the same job with `max_log_bytes = 0` (the floor), interleaved. Also
the cost per attempt of watching and finishing a short log, in process.

Targets: the final log is exactly head + marker + tail with N = 200 MiB - 1 MiB;
capped wall time ≤ 1.5 × floor. The peak is printed against its bound (1 MiB + 1 MiB):
a GB/s writer can pass it by what it writes while the watching thread waits for a CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, os.fspath(ROOT))

from cronplus import _logcap  # noqa: E402

MIB = 1 << 20
TOTAL = 200 * MIB


def one_run(folder: Path, cap: str) -> tuple[float, int, Path]:
    """(wall seconds, peak bytes on disk, the log) of one triggered run."""
    state = folder / f"state-{cap}-{time.monotonic_ns()}"
    (folder / "jobs.toml").write_text(
        f"[jobs.flood]\ncommand = \"head -c {TOTAL} /dev/zero | tr '\\\\0' x\"\n"
        f"max_log_bytes = {cap}\n"
    )
    env = {**os.environ, "PYTHONPATH": os.fspath(ROOT)}
    argv = [sys.executable, "-m", "cronplus", "-c", "jobs.toml", "--state", os.fspath(state)]
    began = time.perf_counter()
    proc = subprocess.Popen(
        [*argv, "trigger", "flood", "--wait"], cwd=folder, env=env, stdout=subprocess.DEVNULL
    )
    peak = 0
    while proc.poll() is None:
        for log in (state / "logs").glob("*/*.log"):
            with contextlib.suppress(FileNotFoundError):
                peak = max(peak, log.stat().st_blocks * 512)
        time.sleep(0.0005)
    wall = time.perf_counter() - began
    if proc.returncode != 0:
        sys.exit(f"the run failed: exit {proc.returncode}")
    (log,) = (state / "logs").glob("*/*.log")
    return wall, peak, log


def per_attempt_cost(folder: Path, n: int = 2000) -> float:
    """Seconds per watch + finish of a 100-byte log (what every attempt pays)."""
    log = folder / "small.log"
    log.write_bytes(b"x" * 100)
    began = time.perf_counter()
    for _ in range(n):
        _logcap.CAPPER.finish(_logcap.CAPPER.watch(log, 10 * MIB), log)
    return (time.perf_counter() - began) / n


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-", dir=os.getcwd()) as tmp:
        folder = Path(tmp)
        capped, floor, peaks = [], [], []
        ok = True
        for _ in range(args.repeat):
            wall, _, log = one_run(folder, "0")
            floor.append(wall)
            log.unlink()
            wall, peak, log = one_run(folder, '"1M"')
            capped.append(wall)
            peaks.append(peak)
            data = log.read_bytes()
            shape = b"x" * (MIB // 2) + b"\n" + _logcap.marker(TOTAL - MIB) + b"x" * (MIB // 2)
            ok &= data == shape
            print(f"final size {len(data)} bytes; marker {data[MIB // 2 + 1 :][:40]!r}")
        cost = per_attempt_cost(folder)
    ratio = statistics.median(capped) / statistics.median(floor)
    print(f"peak on disk while running: {', '.join(str(p) for p in peaks)} bytes")
    print(f"  bound max_log_bytes + 1 MiB = {MIB + _logcap.SLACK}")
    print(f"wall: capped {statistics.median(capped):.3f} s, floor {statistics.median(floor):.3f} s")
    print(f"  ratio {ratio:.2f} (target <= 1.5)")
    print(f"watch + finish per attempt: {cost * 1e6:.1f} us")
    print(f"final shape exact: {ok}")
    return 0 if ok and ratio <= 1.5 else 1


if __name__ == "__main__":
    sys.exit(main())
