"""for_each (issue 16): what one item costs on top of running its command, and that the
cost per item stays flat as the list grows.

    python bench/for_each.py [--small 300] [--large 3000] [--repeat 3]

A job `fan` with `for_each = "seq 1 N"` and `command = "true"`, run by
`cronplus trigger fan --wait` from an empty state, for N = `--small` and N = `--large`.

Floor: the same N `sh -c true` run one after another by this Python
(`subprocess.run`), timed right before each cronplus run. The figure is the overhead
per item, (cronplus - floor) / N, the median over the rounds. Targets: at N =
`--large`, ≤ 2 ms per item; and the per-item overhead at `--large` ≤ 1.5 × that at
`--small` (nothing grows with the square of the items). Every run must succeed with N
items. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MAX_MS_PER_ITEM = 2.0
MAX_GROWTH = 1.5


def floor(n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run(["sh", "-c", "true"], check=True)
    return time.perf_counter() - t0


def cronplus(root: Path, n: int) -> float:
    (root / "jobs.toml").write_text(
        f'[jobs.fan]\nfor_each = "seq 1 {n}"\nfor_each_max = {n}\ncommand = "true"\n'
        'timezone = "UTC"\n'
    )
    os.chmod(root / "jobs.toml", 0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CRONPLUS_")}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    base = [sys.executable, "-m", "cronplus", "-c", str(root / "jobs.toml")]
    base += ["--state", str(root / "state")]
    t0 = time.perf_counter()
    done = subprocess.run([*base, "trigger", "fan", "--wait"], env=env, capture_output=True)
    took = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"trigger exited {done.returncode}: {done.stderr.decode()[-300:]}")
    runs = json.loads(subprocess.run([*base, "history", "fan", "--json"], env=env,
                                     capture_output=True, check=True).stdout)  # fmt: skip
    items = runs[0]["items"] or []
    if runs[0]["status"] != "succeeded" or len(items) != n:
        raise SystemExit(f"run {runs[0]['status']} with {len(items)} items of {n}")
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=300)
    parser.add_argument("--large", type=int, default=3000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    per_item: dict[int, list[float]] = {args.small: [], args.large: []}
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-for-each-") as tmp:
        for i in range(args.repeat):
            for n in per_item:
                root = Path(tmp) / f"{n}-{i}"
                root.mkdir()
                bare = floor(n)
                took = cronplus(root, n)
                per_item[n].append((took - bare) / n * 1000)
                print(f"  {n:5} items: cronplus {took:6.2f} s, floor {bare:6.2f} s")
    small, large = statistics.median(per_item[args.small]), statistics.median(per_item[args.large])
    growth = large / small if small > 0 else float("inf")
    print(f"overhead per item, median of {args.repeat}:")
    print(f"  {args.small:5} items: {small:5.2f} ms")
    print(f"  {args.large:5} items: {large:5.2f} ms  ({growth:.2f} x the small list's)")
    ok = large <= MAX_MS_PER_ITEM and growth <= MAX_GROWTH
    print(
        f"target: <= {MAX_MS_PER_ITEM} ms per item at {args.large}, <= {MAX_GROWTH} x the"
        f" small list's: {'met' if ok else 'MISSED'}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
