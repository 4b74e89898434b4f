"""`cronplus metrics` at 1,000 jobs and 1,000,000 runs, against the same 1,000 jobs
with 10,000 runs; and the CPU the state's run totals add to each run.

Issue 14: metrics must stay quick at that size (a few set-based reads, no query per
job per series, nothing that walks the runs). Target: its median on the million
runs at most 1.5 x its median on the 10,000 (the runs must not matter; the jobs
do: 19 lines each). Printed beside it, for reading: a piped `status` of each state,
and both commands on `history.py`'s 20 jobs with 2,016 runs.

    python bench/metrics.py [--repeat 9] [--runs 1000000]

The states are `web.py`'s (made by `history.py`'s builder, whose inserts go through
schema 7's triggers as any write does). Commands run as `python -m cronplus` from
`status.py`'s fresh venv, stdout to a pipe, interleaved run by run.

The second figure: CPU (user + sys, `time.process_time`) per run of `claim_run`,
`begin_attempt` and `finish_run` through the store, 2,000 runs of 50 jobs a round,
with schema 7's two triggers and with them dropped, rounds interleaved; printed, no
target (aim: under 0.1 ms a run).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest import mock

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import history  # noqa: E402
import web  # noqa: E402
from status import clean_env, make_venvs  # noqa: E402

from cronplus.model import Attempt, AttemptResult, Claim, RunEnd, RunStatus, Trigger  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.store import open_store  # noqa: E402

MAX_RATIO = 1.5
AIM_TRIGGER_US = 100.0
FEW_RUNS = 10_000
T = datetime(2026, 11, 2, tzinfo=UTC)


def store_round(with_triggers: bool, runs: int = 2_000) -> float:
    """CPU microseconds per run of a claim, its attempt and its end."""
    folder = Path(tempfile.mkdtemp())
    store = open_store(StatePaths(folder / "state"))
    if not with_triggers:
        store._db._conn.executescript(  # type: ignore[attr-defined]
            "DROP TRIGGER run_totals_on_insert; DROP TRIGGER run_totals_on_end;"
        )
    t0 = time.process_time()
    for k in range(runs):
        t = T + timedelta(minutes=k)
        run = store.claim_run(f"job{k % 50}", t, Trigger.SCHEDULE, Claim(owner=1, now=t))
        assert run is not None
        store.begin_attempt(run.id, Attempt(1, t, log="/x"), owner=1)
        end = t + timedelta(seconds=3)
        result = AttemptResult(RunStatus.SUCCEEDED, t, end, exit_code=0)
        store.finish_run(run.id, RunEnd(RunStatus.SUCCEEDED, None, end, last_attempt=(1, result)))
    took = time.process_time() - t0
    store.close()
    shutil.rmtree(folder)
    return took / runs * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--runs", type=int, default=1_000_000)
    args = parser.parse_args()
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-metrics-") as tmp:
        root = Path(tmp)
        states = web.build_states(root, args.runs, now)
        with mock.patch.object(history, "job_times", web.big_times):
            history.build_state(root / "state-few", FEW_RUNS, now)
        states["few"] = root / "state-few"
        jobs = {"20": "20", "1000": "1000", "few": "1000"}
        _, py = make_venvs(root)
        env = clean_env(root / "pycache")
        argv = {
            (size, cmd): [py, "-m", "cronplus", "-c", str(root / f"jobs-{jobs[size]}.toml")]
            + ["--state", str(states[size]), cmd]
            for size in ("20", "few", "1000")
            for cmd in ("metrics", "status")
        }
        for a in argv.values():  # the bytecode cache, and a state read once
            history.timed(a, env)
        times: dict[tuple[str, str], list[float]] = {k: [] for k in argv}
        for _ in range(args.repeat):
            for key, a in argv.items():
                times[key].append(history.timed(a, env))
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        label = {"20": "20 jobs, 2,016 runs", "few": f"1,000 jobs, {FEW_RUNS:,} runs"}
        label["1000"] = f"1,000 jobs, {args.runs:,} runs"
        for (size, cmd), ms in med.items():
            print(f"{cmd:8} {label[size]:>28}: {ms:7.1f} ms (median of {args.repeat})")
        ratio = med["1000", "metrics"] / med["few", "metrics"]
        print(f"metrics, {args.runs:,} runs / {FEW_RUNS:,}: {ratio:.2f} x (target <= {MAX_RATIO})")
        print(f"metrics / status at {args.runs:,} runs: ", end="")
        print(f"{med['1000', 'metrics'] / med['1000', 'status']:.2f} x (printed)")
    per_run: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(9):
        for with_triggers in (False, True):
            per_run[with_triggers].append(store_round(with_triggers))
    without, with_ = (statistics.median(per_run[k]) for k in (False, True))
    print(f"store CPU per run: {without:.0f} us without the totals, {with_:.0f} us with them")
    print(f"  added: {with_ - without:.0f} us (aim < {AIM_TRIGGER_US:.0f})")
    return 0 if ratio <= MAX_RATIO else 1


if __name__ == "__main__":
    sys.exit(main())
