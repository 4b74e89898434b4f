"""`cronplus service --systemd`: a systemd unit that runs this cronplus on this jobs
file and state (issue 14). `Type=notify`: the daemon says when it schedules and feeds
the watchdog from its loop (`sdnotify.py`).
"""

from __future__ import annotations

import os
import pwd
import sys
from datetime import timedelta

TYPE_CHECKING = False
if TYPE_CHECKING:
    from pathlib import Path

    from cronplus.model import Config

WATCHDOG_S = 60  # the engine wakes at least every 30 s anyway: a ping each wake
STOP_MARGIN = timedelta(seconds=30)  # beyond the longest kill_grace, for recording the ends
_SYSTEMD_STOP_DEFAULT = timedelta(seconds=90)


def systemd_unit(config: Config, config_path: Path, state: Path, *, user: bool) -> str:
    """The unit's text. `user`: for `systemctl --user` (no `User=`, `default.target`);
    otherwise a system unit that runs as the user writing it, unless that is root."""
    argv = [sys.executable, "-m", "cronplus", "-c", str(config_path), "--state", str(state), "run"]
    described = str(config_path).replace("%", "%%")  # a specifier otherwise
    unit = ["[Unit]", f"Description=cronplus: the jobs of {described}"]
    if not user:  # a user manager has no network-online.target
        unit += ["Wants=network-online.target", "After=network-online.target"]
    service = [
        "[Service]",
        "Type=notify",
        f"ExecStart={' '.join(quote(a) for a in argv)}",
        "ExecReload=/bin/kill -HUP $MAINPID",
        # SIGTERM to the daemon alone: it stops its jobs itself (kill_grace) and records
        # them; whatever is left once it exited is killed.
        "KillMode=mixed",
        f"TimeoutStopSec={int(_stop_timeout(config).total_seconds())}",
        "Restart=on-failure",
        "RestartPreventExitStatus=2",  # a bad jobs file or option: restarting cannot help
        f"WatchdogSec={WATCHDOG_S}",
    ]
    if not user and os.geteuid() != 0:
        service.append(f"User={pwd.getpwuid(os.geteuid()).pw_name}")  # the owner of the state
    install = ["[Install]", f"WantedBy={'default.target' if user else 'multi-user.target'}"]
    return "\n".join([*unit, "", *service, "", *install]) + "\n"


def _stop_timeout(config: Config) -> timedelta:
    graces = [job.kill_grace for job in config.jobs.values()]
    return max(_SYSTEMD_STOP_DEFAULT, max(graces, default=timedelta(0)) + STOP_MARGIN)


def quote(arg: str) -> str:
    """One word of a systemd command line: `%` specifiers and `$` variables escaped,
    and quoted with C escapes when it holds a space, a quote or a backslash."""
    arg = arg.replace("%", "%%").replace("$", "$$")
    if arg and not any(c.isspace() or c in "\"'\\;" for c in arg):
        return arg
    escaped = arg.replace("\\", "\\\\").replace('"', '\\"')
    for c, e in (("\n", "\\n"), ("\t", "\\t")):
        escaped = escaped.replace(c, e)
    return f'"{escaped}"'
