"""Child-side shim for Python jobs: `python -m cronplus._pyjob "pkg.mod:func" JOBS_FOLDER ZONE`.

It runs in its own interpreter (started by the executor's wrapper), so a crash, a hang
or a leaked thread in a job cannot touch cronplus. Stdlib only: importing the rest of
cronplus here would slow every Python job down and tie jobs to the daemon's
dependencies. Exit codes (issue 3, "Python jobs"): returning is 0, an uncaught
exception prints its traceback to stderr (the attempt's log) and is 1, `SystemExit(n)`
is n (Python handles it), and a function that cannot be found is 1 with a one-line
message. An `async def` function is run to its end with `asyncio.run`.
"""

from __future__ import annotations

import importlib
import inspect
import os
import sys
import traceback
from collections.abc import Callable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

_PASSABLE = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def main(argv: list[str]) -> int:
    spec, jobs_folder, *rest = argv
    zone = rest[0] if rest else None  # the job's IANA zone, for scheduled_for
    # sys.path[0] is the entry for the current directory (-m); the jobs file's folder
    # takes its place, so the job's modules win over anything in its cwd. With
    # PYTHONSAFEPATH there is no such entry, and sys.path[0] must stay.
    if sys.flags.safe_path:
        sys.path.insert(0, jobs_folder)
    else:
        sys.path[0] = jobs_folder
    # Block-buffered stdout would put printed lines after a later traceback in the log.
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]

    module_name, _, attr = spec.partition(":")
    if not module_name or not attr:
        return _complain(f'python = "{spec}" must look like "package.module:function"')
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        if isinstance(exc, ModuleNotFoundError) and _names_module(exc, module_name):
            return _complain(
                f'module "{module_name}" not found '
                f'(looked in the jobs folder "{jobs_folder}" first, then sys.path)'
            )
        return _print_traceback(exc)
    func: Any = module
    for part in attr.split("."):
        try:
            func = getattr(func, part)
        except AttributeError:
            return _complain(f'module "{module_name}" has no function "{attr}"')
    if not callable(func):
        return _complain(f'"{spec}" is not a function')

    try:
        kwargs = _arguments_for(func, zone)
    except (KeyError, ValueError) as exc:
        return _complain(f"bad run metadata in the environment: {exc} (is cronplus running this?)")
    try:
        result = func(**kwargs)
        if inspect.iscoroutine(result):  # an async def job: calling it ran nothing yet
            import asyncio  # here: it takes a while to import, and most jobs are not async

            asyncio.run(result)
    except Exception as exc:
        return _print_traceback(exc)
    return 0


def _arguments_for(func: Callable[..., object], zone: str | None) -> dict[str, object]:
    """Pass `job`, `scheduled_for`, `attempt`, `interval_start`, `interval_end` (None
    for a run without a data interval), `item` (None outside a for_each run) and `file`
    (None for a run not made for a file) only to parameters the function declares (all
    of them but a None if it takes **kwargs), so a job may ask for as much as it needs."""
    values: dict[str, object] = {
        "job": os.environ["CRONPLUS_JOB"],
        "scheduled_for": _in_zone(
            datetime.fromisoformat(os.environ["CRONPLUS_SCHEDULED_FOR"]), zone
        ),
        "attempt": int(os.environ["CRONPLUS_ATTEMPT"]),
        "item": os.environ.get("CRONPLUS_ITEM"),  # a for_each run's item (issue 16)
    }
    for end in ("start", "end"):
        text = os.environ.get(f"CRONPLUS_INTERVAL_{end.upper()}")
        values[f"interval_{end}"] = _in_zone(datetime.fromisoformat(text), zone) if text else None
    values["file"] = os.environ.get("CRONPLUS_FILE")  # a `watch` run's file (issue 16)
    try:
        params = inspect.signature(func).parameters
    except (TypeError, ValueError):  # some builtins have no signature: pass nothing
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return {k: v for k, v in values.items() if v is not None}  # no interval: as before
    return {k: v for k, v in values.items() if k in params and params[k].kind in _PASSABLE}


def _in_zone(when: datetime, zone: str | None) -> datetime:
    """The same instant with the job's ZoneInfo, so adding a day follows its DST rules;
    with the fixed offset it came with if the zone cannot be loaded."""
    if zone:
        try:
            return when.astimezone(ZoneInfo(zone))
        except (KeyError, ValueError, OSError):  # ZoneInfoNotFoundError is a KeyError
            pass
    return when


def _names_module(exc: ModuleNotFoundError, module_name: str) -> bool:
    """True if the job's module (or a package above it) is missing, rather than
    something the module itself imports, which deserves its traceback."""
    return exc.name is not None and (module_name + ".").startswith(exc.name + ".")


def _complain(message: str) -> int:
    sys.stderr.write(f"cronplus: {message}\n")
    return 1


def _print_traceback(exc: BaseException) -> int:
    # Start at the job's own frame: this shim's and asyncio's are noise to its author.
    tb = exc.__traceback__
    while tb is not None and _is_ours(tb.tb_frame.f_globals.get("__name__", "")):
        tb = tb.tb_next
    sys.stdout.flush()
    traceback.print_exception(type(exc), exc, tb, file=sys.stderr)
    return 1


def _is_ours(module: str) -> bool:
    return module in (__name__, "asyncio") or module.startswith("asyncio.")


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
