"""`cronplus status` without click (issue 12: click and what it imports were a fifth of
a piped status's start).

`main` answers the forms people type, `cronplus [-c F] [--state D] status [--json]
[JOB...]`, exactly as the click command does: the same options and defaults (`_table`),
the same `Context`, the same body (`show_status`, which the click command calls too),
the same words on stderr and exit codes. Any other argument list goes to click, which
also answers --help, errors in the arguments, `--on` and shell completion.
tests/test_cli_fast.py runs every form both ways and compares the bytes.
"""

from __future__ import annotations

import os
import sys

from cronplus.cli._table import CONFIG_DEFAULT, CONFIG_ENV, CONFIG_OPTIONS, STATE_OPTION
from cronplus.clock import system_clock
from cronplus.errors import ExitCode

TYPE_CHECKING = False  # typing costs a quick command's start (issue 12)
if TYPE_CHECKING:
    from collections.abc import Sequence
    from datetime import datetime

    from cronplus.cli._context import Context
    from cronplus.model import ProcessRecord
    from cronplus.store import Store


def job_names(obj: Context, jobs: Sequence[str]) -> list[str]:
    """The jobs `status JOB...` asks for (each one checked), else every job."""
    obj.read_config()
    return [obj.job(n).name for n in jobs] or list(obj.config.jobs)


def show_status(obj: Context, names: list[str], *, chosen: bool, as_json: bool) -> ExitCode:
    """Each job's last run, what is running, what is overdue, the next fire time."""
    from cronplus import render, report
    from cronplus.paths import read_daemon_pid

    now = system_clock().now()
    store = obj.store()
    rows = report.job_statuses(obj.config, store, names, now)
    if as_json:
        from cronplus.intervals import Intervals

        render.print_json(render.status_json(rows, Intervals(obj.config)))
    else:
        daemons = live_daemons(store)
        pid = read_daemon_pid(obj.paths)
        render.print_status(rows, pid, obj.paths.shown, now, chosen, daemons=daemons)
    return ExitCode.NOT_SUCCEEDED if any(r.is_bad for r in rows) else ExitCode.OK


def live_daemons(store: Store) -> tuple[list[ProcessRecord], datetime]:
    """The daemons the state lists whose heartbeat is within their lease (issue 17),
    and the database's clock they were judged by."""
    from cronplus.procs import live

    now = store.db_now()
    return live((p for p in store.processes() if p.kind == "daemon"), now), now


def parse(argv: Sequence[str]) -> tuple[str, str | None, list[str], bool] | None:
    """(jobs file, --state, jobs, --json) of a plain `status` argument list, or None
    for anything else: an unknown option, `--`, `-cFILE`, a value that is empty or starts
    with `-`, --help."""
    config, state = os.environ.get(CONFIG_ENV) or CONFIG_DEFAULT, None
    i = 0
    while i < len(argv) and argv[i] != "status":
        option, value = argv[i], None
        if option.startswith("--") and "=" in option:
            option, value = option.split("=", 1)
            i += 1
        elif i + 1 < len(argv):
            value = argv[i + 1]
            i += 2
        if not value or value[0] == "-" or option not in (*CONFIG_OPTIONS, STATE_OPTION):
            return None
        if option == STATE_OPTION:
            state = value
        else:
            config = value
    if i == len(argv):
        return None
    jobs = [a for a in argv[i + 1 :] if a != "--json"]
    if any(a.startswith("-") for a in jobs):
        return None
    return config, state, jobs, len(jobs) < len(argv) - i - 1


def main(argv: Sequence[str]) -> None:
    """Exits with status's answer, or returns when click must answer `argv`."""
    parsed = parse(argv)
    # Click writes stderr through its own stream when it is not UTF-8, and completes
    # shell words when asked to: both its business.
    if parsed is None or os.environ.get("_CRONPLUS_COMPLETE") or not _utf8(sys.stderr):
        return
    from cronplus.cli._context import Context, error_text
    from cronplus.errors import CronplusError

    config, state, jobs, as_json = parsed
    obj = Context(config, state, _warn)
    try:
        names = job_names(obj, jobs)
        code = show_status(obj, names, chosen=bool(jobs), as_json=as_json)
    except CronplusError as e:
        _warn(error_text(e))
        code = e.exit_code
    except BrokenPipeError:  # `cronplus status | head`: not an error (as under click)
        sys.stderr.close()
        code = ExitCode.OK
    except KeyboardInterrupt:  # click's words
        _warn("\nAborted!")
        code = ExitCode.NOT_SUCCEEDED
    sys.exit(code)


def _utf8(stream: object) -> bool:
    encoding = getattr(stream, "encoding", None) or ""
    return encoding.lower().replace("-", "").replace("_", "") == "utf8"


def _warn(line: str) -> None:
    """A line on stderr as click.echo writes it: ANSI escapes dropped unless a terminal."""
    if "\x1b" in line and not sys.stderr.isatty():
        import re

        line = re.sub(r"\033\[[;?0-9]*[a-zA-Z]", "", line)
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
