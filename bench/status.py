"""`cronplus status`, piped, over 2,000 runs of 20 jobs; `cronplus --version` and
`cronplus --help`; each against `python -c pass` from a fresh virtual environment.

Issue 12, "CLI start": a piped `status` answers in at most 4 x the floor (and, from
issue 3, at most 150 ms), `--version` in at most 2 x and `--help` in at most 3 x;
`status` never imports rich, croniter, apprise, filelock or psycopg. Also lists the
modules a piped `status` imports and its ten most expensive imports
(`python -X importtime`).

    python bench/status.py [--repeat 15]

The floor is `python -c pass` run by a Python from a virtual environment this script
creates (`venv --without-pip`): nothing in its site-packages. cronplus runs in a
second fresh venv whose site-packages holds one path line pointing at this
interpreter's site-packages (its dependencies, e.g. click), so no `.pth` file runs
code at its start, as in a clean install. This checkout's cronplus comes first on
PYTHONPATH.

Every timed command runs with stdout to a pipe (not a terminal), in a fresh
temporary folder, interleaved with its floor so machine noise hits both alike.
Bytecode is cached in that folder (PYTHONPYCACHEPREFIX), as it is for a
pip-installed cronplus; the same figure without any .pyc files is printed for
information. Exits 1 if a target is missed.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import site
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Measure this checkout's cronplus, in this process and in every child, whatever copy
# (editable, regular or none) pip has installed.
REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cronplus.model import Attempt, AttemptResult, Claim, RunEnd, RunStatus, Trigger  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.store import open_store  # noqa: E402

MAX_RATIO = 4.0  # status
MAX_VERSION_RATIO = 2.0
MAX_HELP_RATIO = 3.0
MAX_STATUS_MS = 150.0
FORBIDDEN = ("rich", "croniter", "apprise", "filelock", "psycopg")
RUNS_PER_JOB = 100

# 20 jobs: 5- and 6-field expressions, @aliases, L and #, three time zones,
# two `after` pipelines (one with fan-in) and one triggered-only job.
JOBS_TOML = """
[defaults]
timezone = "UTC"

[jobs.heartbeat]
schedule = "*/10 * * * * *"
command = "true"

[jobs.ticker]
schedule = "30 */5 * * * *"
command = "true"

[jobs.minutely]
schedule = "* * * * *"
command = "true"

[jobs.quarter]
schedule = "*/15 * * * *"
command = "true"

[jobs.hourly]
schedule = "@hourly"
command = "true"

[jobs.nightly]
schedule = "0 2 * * *"
timezone = "Europe/Berlin"
command = "true"

[jobs.weekdays]
schedule = "30 6 * * MON-FRI"
timezone = "America/New_York"
command = "true"

[jobs.monthly]
schedule = "0 0 1 * *"
command = "true"

[jobs.month_end]
schedule = "0 23 L * *"
command = "true"

[jobs.second_tuesday]
schedule = "0 9 * * TUE#2"
timezone = "Europe/Berlin"
command = "true"

[jobs.weekly]
schedule = "@weekly"
command = "true"

[jobs.extract_a]
schedule = "0 3 * * *"
command = "true"

[jobs.extract_b]
schedule = "0 3 * * *"
command = "true"

[jobs.load]
after = ["extract_a", "extract_b"]
command = "true"

[jobs.report]
after = ["load"]
command = "true"

[jobs.publish]
after = ["report"]
command = "true"

[jobs.ingest]
schedule = "0,20,40 * * * * *"
command = "true"

[jobs.clean]
after = ["ingest"]
command = "true"

[jobs.index]
after = ["clean"]
command = "true"

[jobs.adhoc]
description = "triggered only"
command = "true"
"""

# (status, weight): mostly successes, every other status represented.
STATUS_MIX = (
    (RunStatus.SUCCEEDED, 80),
    (RunStatus.FAILED, 6),
    (RunStatus.TIMED_OUT, 3),
    (RunStatus.SKIPPED, 4),
    (RunStatus.UPSTREAM_FAILED, 3),
    (RunStatus.INTERRUPTED, 4),
)


def job_names() -> list[str]:
    return [
        line[len("[jobs.") : -1] for line in JOBS_TOML.splitlines() if line.startswith("[jobs.")
    ]


def fill_history(state: Path, now: datetime) -> int:
    """100 runs per job through the real store API, newest an hour before `now`."""
    rng = random.Random(3)
    statuses = [s for s, _ in STATUS_MIX]
    weights = [w for _, w in STATUS_MIX]
    store = open_store(StatePaths(state))
    count = 0
    try:
        for name in job_names():
            trigger = Trigger.MANUAL if name == "adhoc" else Trigger.SCHEDULE
            for k in range(RUNS_PER_JOB, 0, -1):
                t = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=k)
                status = rng.choices(statuses, weights)[0]
                if status in (RunStatus.SKIPPED, RunStatus.UPSTREAM_FAILED):
                    not_run = Claim(owner=None, now=t, status=status, reason="bench: not run")
                    run = store.claim_run(name, t, trigger, not_run)
                    assert run is not None
                    count += 1
                    continue
                run = store.claim_run(name, t, trigger, Claim(owner=os.getpid(), now=t))
                assert run is not None
                tries = 2 if status is not RunStatus.SUCCEEDED and rng.random() < 0.5 else 1
                start = t + timedelta(milliseconds=3)
                for n in range(1, tries + 1):
                    end = start + timedelta(seconds=rng.uniform(0.1, 30))
                    ok = n == tries and status is RunStatus.SUCCEEDED
                    store.begin_attempt(
                        run.id,
                        Attempt(n, start, log=str(state / f"{run.id}-{n}.log")),
                        owner=os.getpid(),
                    )
                    store.finish_attempt(
                        run.id,
                        n,
                        AttemptResult(
                            status=status if n == tries else RunStatus.FAILED,
                            started_at=start,
                            finished_at=end,
                            exit_code=0 if ok else (None if status.name == "TIMED_OUT" else 3),
                            signal="SIGTERM" if status.name == "TIMED_OUT" else None,
                        ),
                    )
                    start = end + timedelta(seconds=2)
                reason = None if status is RunStatus.SUCCEEDED else f"bench: {status}"
                store.finish_run(run.id, RunEnd(status, reason, end))
                count += 1
    finally:
        store.close()
    return count


def make_project(root: Path) -> tuple[Path, Path, int]:
    """The 20 jobs' file and a state with their 2,000 runs, in `root` (also for
    completion.py, whose floor is this script's `status`)."""
    jobs = root / "jobs.toml"
    jobs.write_text(JOBS_TOML.lstrip())
    state = root / "state"
    return jobs, state, fill_history(state, datetime.now(UTC))


def make_venvs(root: Path) -> tuple[str, str]:
    """Two fresh venvs: the floor's, with nothing installed, and the one cronplus runs
    in, whose only addition is a path line to this interpreter's site-packages (where
    click and the other dependencies are). A path line runs no code, unlike the
    `import` lines of other `.pth` files there, which would make every start slower."""
    pythons = []
    for name, deps in (("venv-floor", False), ("venv-run", True)):
        folder = root / name
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(folder)], check=True)
        python = folder / "bin" / "python"
        if deps:
            probe = [str(python), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"]
            purelib = Path(subprocess.run(probe, capture_output=True, text=True).stdout.strip())
            lines = "".join(f"{p}\n" for p in site.getsitepackages())
            (purelib / "cronplus-bench-deps.pth").write_text(lines)
        pythons.append(str(python))
    return pythons[0], pythons[1]


def clean_env(pycache: Path | None) -> dict[str, str]:
    """No inherited CRONPLUS_* settings. With `pycache`, bytecode is cached there, as
    for a pip-installed cronplus (pip compiles .pyc files); without, every module is
    compiled from source on every run (PYTHONDONTWRITEBYTECODE on an editable install).
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("CRONPLUS_")
        and k not in ("PYTHONSTARTUP", "PYTHONPYCACHEPREFIX", "PYTHONDONTWRITEBYTECODE")
    }
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    if pycache is None:
        env["PYTHONDONTWRITEBYTECODE"] = "1"
    else:
        env["PYTHONPYCACHEPREFIX"] = str(pycache)
    return env


CPU_S: dict[str, list[float]] = {}  # user + sys of each timed child, by command


def cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], cwd: Path, env: dict[str, str], ok: tuple[int, ...], name: str) -> float:
    """Wall time of one run, stdout to a pipe; fails loudly on an unexpected exit.
    Its CPU time (children run one at a time) goes to CPU_S under `name` (not its
    argv: status with and without .pyc files share one)."""
    c0, t0 = cpu_s(), time.perf_counter()
    proc = subprocess.run(
        argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=60
    )
    elapsed = time.perf_counter() - t0
    CPU_S.setdefault(name, []).append(cpu_s() - c0)
    if proc.returncode not in ok:
        sys.exit(
            f"{' '.join(argv)} exited {proc.returncode}:\n{proc.stderr.decode(errors='replace')}"
        )
    return elapsed


def import_report(argv: list[str], cwd: Path, env: dict[str, str]) -> tuple[list[str], list]:
    """Forbidden top-level packages the command imported, and its import log rows."""
    proc = subprocess.run(
        [argv[0], "-X", "importtime", *argv[1:]],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    rows = []
    for line in proc.stderr.decode(errors="replace").splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|")
        rows.append((int(self_us), int(cumulative_us), name.rstrip()))
    imported = {name.strip().split(".")[0] for _, _, name in rows}
    return [m for m in FORBIDDEN if m in imported], rows


def imported_modules(rows: list) -> list[str]:
    """From an import log: the top-level packages outside the standard library."""
    names = [name.strip() for _, _, name in rows]
    tops = {n.split(".")[0] for n in names}
    # `copy` tries org.python.core and `site` tries sitecustomize: both fail, both logged.
    probes = {"cronplus", "org", "sitecustomize", "usercustomize"}
    others = sorted(t for t in tops - probes if t not in sys.stdlib_module_names)
    return [t for t in others if not t.startswith("_")]


def stdlib_modules(rows: list) -> list[str]:
    """From an import log: the standard library modules it imported, by full name (the
    ones `python -c pass` imports itself cost nothing more)."""
    import importlib.util

    names = [name.strip() for _, _, name in rows]
    return [
        n
        for n in dict.fromkeys(names)
        if n.split(".")[0] in sys.stdlib_module_names
        and not n.startswith("_")
        and importlib.util.find_spec(n) is not None  # not a probe that failed, such as nt
    ]


def modules_after_status(
    argv: list[str], cwd: Path, env: dict[str, str]
) -> tuple[list[str], str, list[str]]:
    """Runs the status command path in-process; lists the forbidden modules left in
    sys.modules, says which cronplus package ran, and lists its modules in sys.modules
    (the import log misses those importlib.import_module imports, such as render's)."""
    driver = textwrap.dedent(
        """
        import runpy, sys
        forbidden, sys.argv = sys.argv[1].split(","), ["cronplus", *sys.argv[2:]]
        import cronplus.cli
        try:
            runpy.run_module("cronplus", run_name="__main__", alter_sys=True)
        except SystemExit:
            pass
        found = sorted(m for m in sys.modules if m.split(".")[0] in forbidden)
        ours = sorted(m for m in sys.modules if m.split(".")[0] == "cronplus")
        sys.stderr.write("OURS:" + ",".join(ours) + "\\n")
        sys.stderr.write("FROM:" + cronplus.cli.__file__ + "\\n")
        sys.stderr.write("FOUND:" + ",".join(found) + "\\n")
        """
    )
    proc = subprocess.run(
        [argv[0], "-c", driver, ",".join(FORBIDDEN), *argv[3:]],
        cwd=cwd,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=60,
    )
    err = proc.stderr.decode(errors="replace").splitlines()
    found = [x[len("FOUND:") :] for x in err if x.startswith("FOUND:")]
    where = [x[len("FROM:") :] for x in err if x.startswith("FROM:")]
    ours = [x[len("OURS:") :] for x in err if x.startswith("OURS:")]
    if not found or not where or not ours:
        sys.exit("the sys.modules check did not finish:\n" + "\n".join(err))
    return [m for m in found[-1].split(",") if m], where[-1], ours[-1].split(",")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f} ms"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=15, help="timed runs of each command")
    args = parser.parse_args()
    repeat = max(3, min(args.repeat, 200))

    with tempfile.TemporaryDirectory(prefix="cronplus-bench-status-") as tmp:
        root = Path(tmp)
        jobs, state, n_runs = make_project(root)
        env = clean_env(root / "pycache")
        env_nopyc = clean_env(None)
        floor_py, py = make_venvs(root)

        argvs = {
            "floor": [floor_py, "-c", "pass"],
            "status": [py, "-m", "cronplus", "-c", str(jobs), "--state", str(state), "status"],
            "version": [py, "-m", "cronplus", "--version"],
            "help": [py, "-m", "cronplus", "--help"],
        }

        # The output must be the real thing: one row per job, plain text (piped).
        out = subprocess.run(
            argvs["status"], cwd=root, env=env, stdin=subprocess.DEVNULL, capture_output=True
        )
        text = out.stdout.decode()
        if out.returncode not in (0, 1) or len(text.splitlines()) < len(job_names()) + 1:
            sys.exit(f"status failed ({out.returncode}):\n{text}{out.stderr.decode()}")

        for argv in argvs.values():  # warm the page cache and .pyc files
            timed(argv, root, env, (0, 1), "warm")
        forbidden_log, rows = import_report(argvs["status"], root, env)
        # The standard library modules status imports, imported by the floor's Python
        # with nothing else: the part of status's start no cronplus change can remove.
        argvs["stdlib"] = [floor_py, "-c", "import " + ", ".join(stdlib_modules(rows))]
        timed(argvs["stdlib"], root, env, (0,), "warm")
        times: dict[str, list[float]] = {k: [] for k in (*argvs, "floor_nopyc", "status_nopyc")}
        for _ in range(repeat):
            for name, argv in argvs.items():
                times[name].append(timed(argv, root, env, (0, 1), name))
            times["floor_nopyc"].append(timed(argvs["floor"], root, env_nopyc, (0,), "-"))
            times["status_nopyc"].append(
                timed(argvs["status"], root, env_nopyc, (0, 1), "status_nopyc")
            )

        forbidden_mods, cli_file, ours = modules_after_status(argvs["status"], root, env)

    med = {k: statistics.median(v) for k, v in times.items()}
    report(med, times, argvs, n_runs, repeat, cli_file, rows, ours)
    print(f"status imports none of {', '.join(FORBIDDEN)}:")
    print(f"  importtime log: {', '.join(forbidden_log) or 'none found'}")
    print(f"  sys.modules after the status path: {', '.join(forbidden_mods) or 'none found'}")

    f, s = med["floor"], med["status"]
    failures = [
        f"{name} median {med[name] / f:.1f} x floor > {limit:g} x"
        for name, limit in (
            ("status", MAX_RATIO),
            ("version", MAX_VERSION_RATIO),
            ("help", MAX_HELP_RATIO),
        )
        if med[name] > limit * f
    ]
    if s * 1000 > MAX_STATUS_MS:
        failures.append(f"status median {s * 1000:.1f} ms > {MAX_STATUS_MS:g} ms")
    if forbidden_log or forbidden_mods:
        failures.append(f"status imported {', '.join(forbidden_log or forbidden_mods)}")
    print()
    if failures:
        print("MISSED: " + "; ".join(failures))
        return 1
    print("OK: all targets met")
    return 0


def report(
    med: dict,
    times: dict,
    argvs: dict,
    n_runs: int,
    repeat: int,
    cli_file: str,
    rows: list,
    ours: list[str],
) -> None:
    f = med["floor"]
    print(f"cronplus measured: {Path(cli_file).parent}")
    print(f"history: {n_runs} runs of {len(job_names())} jobs; {repeat} timed runs each (median)")
    print(f"floor    python -c pass (fresh venv)  {ms(f)}   (min {ms(min(times['floor']))})")
    for name, shown, limit in (
        ("status", "cronplus status | cat   ", MAX_RATIO),
        ("version", "cronplus --version | cat", MAX_VERSION_RATIO),
        ("help", "cronplus --help | cat    ", MAX_HELP_RATIO),
    ):
        print(
            f"{name:8} {shown}     {ms(med[name])}   = {med[name] / f:4.1f} x floor"
            f"   (min {ms(min(times[name]))}; target <= {limit:g} x)"
        )
    cpu = {k: statistics.median(CPU_S[k]) for k in argvs}
    print(
        "cpu (user+sys, median; information, less disturbed by other load): "
        + ", ".join(f"{k} {v * 1000:.1f} ms" for k, v in cpu.items())
        + " = "
        + ", ".join(f"{k} {v / cpu['floor']:.1f} x" for k, v in cpu.items() if k != "floor")
    )
    lib = med["stdlib"]
    print(
        f"stdlib   python -c 'import <the {len(argvs['stdlib'][2].split(','))} standard library"
        f" modules status imports>'  {ms(lib)}   = {lib / f:4.1f} x floor   (information: the"
        " part of status's start that is not cronplus's)"
    )
    fn, sn = med["floor_nopyc"], med["status_nopyc"]
    print(
        f"status without .pyc files             {ms(sn)}   = {sn / fn:4.1f} x floor {ms(fn)}"
        "   (information: PYTHONDONTWRITEBYTECODE=1, every module compiled from source)"
    )
    print()
    others = imported_modules(rows)
    print(f"status imports {len(ours)} cronplus modules: {', '.join(ours)}")
    print(f"  and outside the standard library: {', '.join(others) or 'nothing'}")
    print()
    print("status: top 10 imports by self time (python -X importtime)")
    print(f"  {'self ms':>8} {'cumul ms':>9}  module")
    for self_us, cum_us, name in sorted(rows, reverse=True)[:10]:
        print(f"  {self_us / 1000:8.1f} {cum_us / 1000:9.1f}  {name.strip()}")
    total = sum(r[0] for r in rows) / 1000
    print(f"  total self time of {len(rows)} imports: {total:.1f} ms")
    print()


if __name__ == "__main__":
    sys.exit(main())
