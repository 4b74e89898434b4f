"""`cronplus trigger`: a manual run of a job now, then its downstream jobs, in the
foreground or in a detached process of its own.

The detached process is this module run as `python -m cronplus.trigger`: it loads
the jobs file itself, runs the job as the foreground does, and tells its starter
the run id it claimed before it lets go of the starter's pipes.
"""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from cronplus.alerts import Alerter
from cronplus.clock import Clock, system_clock
from cronplus.cluster import register
from cronplus.dispatch import Dispatcher
from cronplus.errors import ConfigError, CronplusError, ExitCode, UnknownJobError, UsageError
from cronplus.model import Claim, Config, Run, RunFile, Trigger
from cronplus.paths import STATE_ENV, StatePaths
from cronplus.run_control import SIGNAL_LOOK_S, calling_on_signals
from cronplus.store import Store


@dataclass(frozen=True, slots=True)
class Triggered:
    runs: list[Run]  # every run recorded (executed or blocked), oldest first
    not_run: list[tuple[str, str]]  # (job, why) downstream with no run at that time

    @property
    def ok(self) -> bool:
        """As for `status`: a downstream run skipped (disabled, or its previous run
        still going) did not fail; only failed, timed_out, upstream_failed,
        interrupted do."""
        return bool(self.runs) and not any(r.status.is_bad for r in self.runs)


def run_now(
    config: Config,
    store: Store,
    paths: StatePaths,
    job: str,
    *,
    on_claimed: Callable[[Run], None] | None = None,
    install_signals: Iterable[int] = (),
    clock: Clock | None = None,
    alerter: Alerter | None = None,
    file: str | None = None,
) -> list[Run]:
    """`trigger`: a manual run of `job` at this instant, then its downstream jobs.

    Returns every run it recorded (executed or blocked), oldest first. With or
    without a daemon: the run is claimed in the store like any other. `file`: a run
    for that file as it is now (`trigger --file`, issue 16), a version run at most once.
    """
    clock = clock or system_clock()
    dispatcher = Dispatcher(config, store, paths, clock=clock, alerter=alerter, keep_finished=True)
    now = clock.now()
    claim = Claim(owner=os.getpid(), now=now)
    if file is not None:
        version = file_version(file)
        run = store.claim_file_run(job, now, Trigger.MANUAL, claim, version)
        if run is None:
            raise CronplusError(
                f'"{job}" has a run for {version.path} as it is now already'
                " (a version runs once; change the file to run it again)"
            )
    else:
        run = store.claim_run(job, now, Trigger.MANUAL, claim)
    if run is None:
        raise CronplusError(f'a run of "{job}" for {now.isoformat()} exists already; try again')
    if on_claimed is not None:
        on_claimed(run)
    # Stop signals interrupt the runs while they go; the state lists this process
    # meanwhile (issue 17).
    slots = dispatcher.runner.slots
    with (
        register(store, "trigger", config.lease, clock, running=lambda: slots.in_use),
        calling_on_signals(install_signals, dispatcher.shutdown),
    ):
        dispatcher.submit(run)
        dispatcher.wait_all(SIGNAL_LOOK_S)
    return sorted(dispatcher.finished, key=lambda r: r.id)


def trigger_now(
    config: Config,
    store: Store,
    paths: StatePaths,
    job: str,
    *,
    alerter: Alerter,
    on_claimed: Callable[[Run], None] | None = None,
    file: str | None = None,
) -> Triggered:
    """Run `job` now and then its downstream jobs; SIGTERM and SIGINT interrupt them.
    The alerts are delivered before it returns."""
    import signal

    from cronplus.report import not_run_downstream

    runs = run_now(
        config,
        store,
        paths,
        job,
        on_claimed=on_claimed,
        install_signals=(signal.SIGTERM, signal.SIGINT),
        alerter=alerter,
        file=file,
    )
    alerter.flush()
    return Triggered(runs, not_run_downstream(config, job, runs))


def file_version(path: str) -> RunFile:
    """`path` (absolute from here on) as it is now: the version `trigger --file` runs."""
    absolute = os.path.abspath(path)
    try:
        st = os.stat(absolute)
    except OSError as e:
        raise UsageError(f"--file {path}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise UsageError(f"--file {path}: not a regular file")
    return RunFile(absolute, st.st_size, st.st_mtime_ns, st.st_ino)


# -- detached -----------------------------------------------------------------------------------


class DetachedStartError(Exception):
    """The detached process ended before it claimed a run; `output` is what it said."""

    def __init__(self, output: str, exit_code: int) -> None:
        super().__init__(output)
        self.output = output
        self.exit_code = exit_code


def start_detached(config_path: str, state: StatePaths, job: str, file: str | None = None) -> int:
    """Start the trigger of `job` in its own session; return the id of the run it
    claimed, once claimed. `config_path` as the user wrote it (messages show it). A
    PostgreSQL state's URL goes in the environment, not on the command line, where
    any user's `ps` would show its password."""
    import subprocess

    env = None
    if state.url is not None:
        env = {**os.environ, STATE_ENV: state.url}
    where = "" if state.url is not None else str(state.root)
    argv = [sys.executable, "-m", "cronplus.trigger", config_path, where, job]
    argv += [file] if file is not None else []
    child = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    assert child.stdout is not None and child.stderr is not None
    with child.stdout, child.stderr:
        line = child.stdout.readline().decode().strip()
        if line:
            return int(line)
        err = child.stderr.read().decode()
    code = child.wait()
    output = err.rstrip() or f"Error: the trigger process exited with {code}"
    raise DetachedStartError(output, code or ExitCode.NOT_SUCCEEDED)


def _tell_and_let_go(run: Run) -> None:
    """Tell the starter the run id, then let go of its pipes (and so of its terminal)."""
    sys.stdout.write(f"{run.id}\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.dup2(devnull, 2)


def _warn(line: str) -> None:
    sys.stderr.write(line + "\n")


def _detached(config_path: str, state: str, job: str, file: str | None = None) -> int:
    """The detached process: what `trigger --wait` does, its exit code, its messages."""
    from cronplus.config import load_config, warn_alert_env
    from cronplus.events import log_to_stderr
    from cronplus.paths import resolve_state_dir
    from cronplus.store import open_store

    try:
        config = load_config(Path(config_path), display_path=config_path)
        if job not in config.jobs:
            raise UnknownJobError(job, config.jobs)
        paths = resolve_state_dir(state or None, config.state, config.folder)
        log_to_stderr()
        store = open_store(paths, create=True)
        warn_alert_env(config, config_path, strict=False, warn=_warn)
        alerter = Alerter(config, store, warn_missing=False)
        triggered = trigger_now(
            config, store, paths, job, alerter=alerter, on_claimed=_tell_and_let_go, file=file
        )
    except ConfigError as e:
        _warn(str(e))
        return e.exit_code
    except CronplusError as e:
        _warn(f"Error: {e}")
        return e.exit_code
    return ExitCode.OK if triggered.ok else ExitCode.NOT_SUCCEEDED


if __name__ == "__main__":
    sys.exit(_detached(*sys.argv[1:]))
