"""Start lateness of a failing per-second job with a dead alert channel, against none.

Issue 5: delivery never blocks scheduling, even through a channel that accepts a
connection and never answers. The same failing `* * * * * *` job runs under the
daemon twice: first with no alerts (the floor), then with one json:// channel to a
socket that listens and never accepts, with the default 10 s timeout per try. Each
run's start lateness is its recorded start minus its fire time; every fire time in
the window must have a run.

    python bench/alerts.py [--seconds 20]

Exits 1 if the median with the dead channel is more than 2 ms over the floor's, or a
fire time has no run.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

from _daemon import start_daemon, stop_daemon  # noqa: E402

from cronplus.paths import StatePaths  # noqa: E402
from cronplus.store import open_store  # noqa: E402

JOB = '[jobs.tick]\nschedule = "* * * * * *"\ncommand = "exit 1"\n'
MAX_OVER_MS = 2.0


def measure(root: Path, alerts: str, seconds: float) -> tuple[list[float], int]:
    root.mkdir()
    (root / "jobs.toml").write_text(alerts + JOB)
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = start_daemon(root, env)
    time.sleep(seconds)
    stop_daemon(proc)
    store = open_store(StatePaths(root / "state"))
    runs = sorted(store.history("tick"), key=lambda r: r.scheduled_for)
    store.close()
    late = [(r.started_at - r.scheduled_for).total_seconds() * 1000 for r in runs if r.started_at]
    stamps = [int(r.scheduled_for.timestamp()) for r in runs]
    gaps = sum(b - a - 1 for a, b in zip(stamps, stamps[1:], strict=False))
    return late, gaps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    hole = socket.socket()
    hole.bind(("127.0.0.1", 0))
    hole.listen(0)
    port = hole.getsockname()[1]
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-") as tmp:
        floor, floor_gaps = measure(Path(tmp) / "floor", "", args.seconds)
        dead = f'[alerts]\nurls = ["json://127.0.0.1:{port}/hook"]\n'
        late, gaps = measure(Path(tmp) / "dead", dead, args.seconds)
    hole.close()
    f_med, d_med = statistics.median(floor), statistics.median(late)
    print(
        f"no alerts:    {len(floor)} runs, lateness median {f_med:.2f} ms, max {max(floor):.2f} ms"
    )
    print(f"dead channel: {len(late)} runs, lateness median {d_med:.2f} ms, max {max(late):.2f} ms")
    print(f"difference of medians {d_med - f_med:+.2f} ms (target at most +{MAX_OVER_MS:g} ms)")
    ok = d_med - f_med <= MAX_OVER_MS and gaps == 0 and floor_gaps == 0
    if gaps or floor_gaps:
        print(f"FAIL: fire times without a run: {floor_gaps} (no alerts), {gaps} (dead channel)")
    print("OK" if ok else "FAIL")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
