"""Shell completion's answers against a piped `cronplus status` (issue 14: "Completion
answers within 1.5 x a piped `status`").

    python bench/completion.py [--repeat 15]

The floor is `status.py`'s piped `cronplus status` over 20 jobs and 2,000 runs, from
the same fresh venv with bytecode cached, interleaved with each completion request
so machine noise hits both alike. A request is what click's bash script runs on a
Tab: `_CRONPLUS_COMPLETE=bash_complete COMP_WORDS=... COMP_CWORD=... cronplus`. The
JOB and `--status` requests are the ones answered without click and have the target;
a command name (click's own completion) is printed for information. Exits 1 if a
target is missed or an answer is wrong.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from status import clean_env, make_project, make_venvs, ms, timed

MAX_RATIO = 1.5


def requests(jobs: Path) -> dict[str, tuple[str, list[str], bool]]:
    """name -> (the line typed so far, the values expected, whether the target applies)."""
    return {
        "job (status)": (f"cronplus -c {jobs} status extract_", ["extract_a", "extract_b"], True),
        "job (history)": (f"cronplus -c {jobs} history ", [], True),
        "--status value": (f"cronplus -c {jobs} history load --status f", ["failed"], True),
        "command name (click)": ("cronplus st", ["status"], False),
    }


def request_env(env: dict[str, str], words: str) -> dict[str, str]:
    cword = len(words.split(" ")) - 1
    return {**env, "_CRONPLUS_COMPLETE": "bash_complete", "COMP_WORDS": words,
            "COMP_CWORD": str(cword)}  # fmt: skip


def check(py: str, root: Path, env: dict[str, str], words: str, expected: list[str]) -> None:
    """The answer is the real thing, not an early exit."""
    out = subprocess.run([py, "-m", "cronplus"], cwd=root, env=request_env(env, words),
                         capture_output=True, text=True, timeout=60)  # fmt: skip
    got = [line.split(",", 1)[1] for line in out.stdout.splitlines() if line]
    if out.returncode != 0 or (expected and got != expected) or not got:
        sys.exit(f"{words!r} answered {out.returncode}: {out.stdout!r} {out.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each command")
    repeat = max(3, min(parser.parse_args().repeat, 200))
    with tempfile.TemporaryDirectory(prefix="cronplus-bench-completion-") as tmp:
        root = Path(tmp)
        jobs, state, n_runs = make_project(root)
        env = clean_env(root / "pycache")
        _, py = make_venvs(root)
        status = [py, "-m", "cronplus", "-c", str(jobs), "--state", str(state), "status"]
        asked = requests(jobs)
        for words, expected, _ in asked.values():
            check(py, root, env, words, expected)
        envs = {name: request_env(env, words) for name, (words, _, _) in asked.items()}
        for name in ("warm", *asked):  # page cache and .pyc files
            timed(status, root, env, (0, 1), "warm")
            timed([py, "-m", "cronplus"], root, envs.get(name, envs["job (status)"]), (0,), "w")
        times: dict[str, list[float]] = {"status": [], **{name: [] for name in asked}}
        for _ in range(repeat):
            for name in asked:
                times["status"].append(timed(status, root, env, (0, 1), "status"))
                times[name].append(timed([py, "-m", "cronplus"], root, envs[name], (0,), name))
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["status"]
    print(f"floor: cronplus status | cat, {n_runs} runs of 20 jobs: {ms(floor)} "
          f"(median of {len(times['status'])}, min {ms(min(times['status']))})")  # fmt: skip
    failures = []
    for name, (_, _, target) in asked.items():
        ratio = med[name] / floor
        goal = f"target <= {MAX_RATIO:g} x" if target else "information"
        print(f"{name:22} {ms(med[name])} = {ratio:4.2f} x status   (min {ms(min(times[name]))}; "
              f"{goal})")  # fmt: skip
        if target and ratio > MAX_RATIO:
            failures.append(f"{name} {ratio:.2f} x > {MAX_RATIO:g} x")
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print("OK: all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
