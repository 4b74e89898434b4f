"""`cronplus init`: a starter jobs file, every key the loader knows in it, those not set
commented with what each does, so a new user reads the whole vocabulary in one place.
`tests/test_init.py` fails when the loader learns a key this file does not name."""

from __future__ import annotations

import errno
import os
from pathlib import Path

from cronplus.config._values import system_timezone
from cronplus.errors import UsageError

MODE = 0o600  # alert URLs with their passwords go in this file, as in import-crontab's

_HEAD = """\
# The cronplus jobs file, written by `cronplus init`. Check it with `cronplus validate`,
# see when jobs fire with `cronplus next`, start the daemon with `cronplus run`.
# Durations are "90s", "15m", "1h30m", "2d" or seconds. The README has every key.

[defaults]
timezone = "{timezone}"  # this host's zone: the zone of every job that names none
# Any job key but schedule, command, python, after, alerts and stdin can be set here.
# state = "state"          # the state directory (runs, logs), relative to this file
# max_parallel = 8         # attempts running at once, all jobs together (CPUs x 4)
# env_file = "alerts.env"  # a KEY=VALUE file ${{NAME}} in alert URLs may use
# lease = "30s"            # a process silent this long is dead (a beat each third; >= 3s)

# [alerts]
# urls = ["mailto://user:${{SMTP_PASSWORD}}@smtp.example.org?to=ops@example.org"]  # apprise
# on = ["failure", "timeout", "missed", "deadline"]  # also recovery, retry, success, late
# repeat_after = "1h"       # the same alert for a job again only after this long
# timeout = "10s"           # one delivery try
# heartbeat = "https://hc-ping.com/UUID"  # pinged while the daemon runs: who watches it
# heartbeat_every = "1m"

# [pools]                  # a limit shared by jobs: a job's pool = "warehouse" runs
# warehouse = 2            # at most this many of their attempts at once, all processes

[jobs.hello]
description = "say hello every five minutes"
schedule = "*/5 * * * *"
command = "echo hello from cronplus"

[jobs.after_hello]
description = "runs for each fire time of hello once hello succeeded for it"
after = ["hello"]
command = "echo hello succeeded"
"""

# Every other job key, as a comment under the last job: (key = example, what it does).
JOB_LINES = (
    ('python = "package.module:function"', "instead of command: a Python function"),
    ('shell = "/bin/bash"', "the shell for command (default /bin/sh)"),
    ('timezone = "UTC"', "this job's zone (default [defaults], else the host's)"),
    ("retries = 2", "attempts again after a failure or timeout (default 0)"),
    ('retry_delay = "30s"', "before the first retry (default 30s)"),
    ("retry_backoff = 2.0", "each later delay times this (default 2.0)"),
    ('retry_max_delay = "10m"', "caps a retry's delay (default none)"),
    ('timeout = "1h"', "an attempt running longer is stopped: timed_out (default none)"),
    ('kill_grace = "10s"', "SIGTERM, then SIGKILL this long after (default 10s)"),
    ('expected_duration = "20m"', "running longer alerts as late (default none)"),
    ('start_grace = "60s"', "a fire time not started within this is missed (default 60s)"),
    ('overlap = "skip"', "a fire time while the last run runs: skip, queue or replace"),
    ('catchup = "latest"', "fire times missed while down: latest, all or none"),
    ("catchup_limit = 100", 'at most this many runs for catchup = "all" (default 100)'),
    ('env = { GREETING = "hi" }', "environment variables, over [defaults].env"),
    ('cwd = "."', "working directory, relative to this file (default its folder)"),
    ("enabled = true", "false: not scheduled, still triggered by hand"),
    ("alerts = false", "or { urls = [...], on = [...] } over [alerts] (default [alerts])"),
    ('stdin = "input\\n"', "fed to the command instead of /dev/null"),
    ('user = "nobody"', "run as this user when cronplus runs as root (default none)"),
    ('max_log_bytes = "10M"', "an attempt's log keeps its first and last halves (0: all)"),
    ('jitter = "30s"', "a scheduled run starts up to this much later (default none)"),
    ("keep_runs = 1000", "the job's newest runs kept; older ones pruned (0: no limit)"),
    ("keep_days = 90", "runs that ended longer ago are pruned (0: no limit)"),
    ('pool = "warehouse"', "a [pools] name: waits for a free slot of it (default none)"),
    ("pool_slots = 1", "slots of the pool each attempt holds (default 1)"),
    ('deadline = "2h"', "the run for a fire time must succeed this long after it"),
    ('for_each = "ls in/"', "one run, the command once per stdout line ($CRONPLUS_ITEM)"),
    ("for_each_max = 1000", "more items than this fails the run"),
    ("item_parallel = 1", "items that go at once"),
    ('watch = "incoming/*.csv"', "instead of schedule: one run per file landing there"),
    ('settle = "5s"', "with watch: a file is taken once unchanged this long"),
    ('watch_rescan = "60s"', "with watch: the whole glob is scanned this often too"),
    ("max_queued = 1000", 'with watch and overlap = "queue": files waiting at most'),
    ("max_active = 2", "attempts of this job at once, on every host (default none)"),
)


def starter_text(timezone: str | None = None) -> str:
    """The file's text, in `timezone` (default: this host's zone, as the loader finds
    it for a job that names none)."""
    width = max(len(line) for line, _ in JOB_LINES)
    tail = "\n# Other job keys: uncomment one under a [jobs.NAME] table to set it.\n"
    tail += "".join(f"# {line:<{width}}  # {what}\n" for line, what in JOB_LINES)
    return _HEAD.format(timezone=timezone or system_timezone()) + tail


def write_starter(path: Path) -> None:
    """Create `path` with the starter text; a file already there is left alone.

    Missing folders above it are made 0755 (less what the umask takes), as `mkdir -p`
    makes them and as /etc/cron.d is: the file is the one holding secrets, and is
    0600 itself; a job's `user` may need to reach its folder (a Python job's module,
    its `cwd`)."""
    try:
        _make_folder(path.parent)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, MODE)
    except FileExistsError:
        raise UsageError(
            f"{path} exists; cronplus init writes a new file only "
            "(move it away, or choose another with -c)"
        ) from None
    except OSError as e:
        raise UsageError(f"cannot create {path}: {e.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(starter_text())


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
    except FileExistsError:  # not a folder: not "the jobs file exists"
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)) from None
