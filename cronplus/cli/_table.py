"""The `cronplus` group's table of commands and its global options, without click: the
click group (`_root.py`) is built from them, and so are the answers given without
click (`_status.py`, `_help.py`), so the two cannot drift apart (issue 12)."""

from __future__ import annotations

GROUP_HELP = """cronplus: cron with history, dependencies, retries and an answer to "did it run?".

\b
Example:
  cronplus -c examples/jobs.toml run      # the daemon
  cronplus -c examples/jobs.toml status   # did it run?
"""
HELP_OPTIONS = ("-h", "--help")
HELP_HELP = "Show this message and exit."  # click's words for its help option
VERSION_HELP = "Show the version and exit."
CONFIG_OPTIONS = ("-c", "--config")
CONFIG_DEFAULT = "jobs.toml"
CONFIG_ENV = "CRONPLUS_CONFIG"
CONFIG_METAVAR = "PATH"
CONFIG_HELP = f"The jobs file (env {CONFIG_ENV})."
STATE_OPTION = "--state"
STATE_METAVAR = "DIR"
STATE_HELP = (
    "State directory (env CRONPLUS_STATE; default [defaults].state, else .cronplus/ "
    "beside the jobs file)."
)

# Each command: the module that defines it and the first sentence of its help, which
# `cronplus --help` lists without importing that module. tests/test_docs.py checks
# both against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "alert-test": ("_act", "Send a test message through the alert channels (JOB's, or [alerts]')."),
    "alerts": ("_read", "Recent alerts and whether each channel took them: was anyone told?"),
    "backfill": (
        "_act",
        "Run every fire time of JOB from --from to --to again, then the jobs after it.",
    ),
    "completion": ("_service", "Print the shell completion script for bash, zsh or fish."),
    "history": (
        "_read",
        "Runs of the JOBs named, else of every job, newest logical time first.",
    ),
    "import-crontab": (
        "_import",
        "Turn a crontab into a jobs file: FILE, - for stdin, else `crontab -l`.",
    ),
    "init": ("_init", "Write a commented starter jobs file at the -c path (exit 2 if it exists)."),
    "logs": (
        "_read",
        "Print the output a run's attempt captured (latest run and attempt by default).",
    ),
    "mark": ("_act", "Record a run's outcome by hand: JOB at --at as succeeded or skipped."),
    "metrics": (
        "_metrics",
        "Print each job's figures for Prometheus: runs, durations, last success, next fire.",
    ),
    "next": ("_read", "Upcoming fire times, in each job's time zone."),
    "pause": ("_act", "Stop scheduling jobs until resumed; their fire times are recorded skipped."),
    "pools": (
        "_pools",
        "Each pool's size, slots in use (by which runs, jobs and hosts), and the runs waiting.",
    ),
    "prune": ("_prune", "Delete the runs and logs each job's keep_runs and keep_days let go, now."),
    "resume": (
        "_act",
        "Schedule paused jobs again, from their next fire time (nothing is caught up).",
    ),
    "run": ("_act", "Run the daemon in the foreground until SIGTERM or Ctrl-C."),
    "service": (
        "_service",
        "Print a service unit that runs this daemon on this jobs file and state.",
    ),
    "status": (
        "_read",
        "Did it run? Each job's last run, what is running, what is overdue, and the next "
        "fire time; with --on, every fire time of that date beside its run.",
    ),
    "trigger": ("_act", "Run a job now (and then its downstream jobs), with or without a daemon."),
    "validate": (
        "_act",
        "Check the jobs file and print every problem, one per line (exit 2 if any).",
    ),
    "web": ("_web", "Serve a local web view of the jobs and their runs, until SIGTERM or Ctrl-C."),
    "migrate-state": (
        "_migrate",
        "Copy a SQLite state (runs, attempts, pauses, alerts) into PostgreSQL.",
    ),
}
