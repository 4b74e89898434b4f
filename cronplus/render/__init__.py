"""What the commands print: rich tables on a terminal, plain aligned text when piped,
and every --json shape, defined once.

Each shape is a function of the library's objects (`*_json` returns the data,
`print_*` writes it, `*_line(s)` returns the text), so a web view can serve exactly
the JSON the CLI prints by calling the same functions. The commands use this package
only through the names listed here, each imported from its module on first use, so
a command loads only the modules of the shapes it prints.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

_MODULE_OF = {
    # _base.py
    "count_text": "_base",
    "duration": "_base",
    "going_run_json": "_base",
    "going_word": "_base",
    "human_time": "_base",
    "is_terminal": "_base",
    "iso": "_base",
    "print_json": "_base",
    "print_line": "_base",
    "print_lines": "_base",
    "print_log": "_base",
    "print_table": "_base",
    "run_json": "_base",
    "run_word": "_base",
    "short_time": "_base",
    "zone": "_base",
    # actions.py
    "alert_test_line": "actions",
    "mark_lines": "actions",
    "pause_line": "actions",
    "resume_line": "actions",
    "run_line": "actions",
    "trigger_lines": "actions",
    "validate_line": "actions",
    # backfill.py
    "BackfillProgress": "backfill",
    "backfill_json": "backfill",
    "interrupted_note": "backfill",
    "plan_json": "backfill",
    "plan_notes": "backfill",
    "plan_summary": "backfill",
    "print_backfill": "backfill",
    "print_plan": "backfill",
    # reports.py
    "alerts_json": "reports",
    "day_json": "reports",
    "history_json": "reports",
    "next_json": "reports",
    "print_alerts": "reports",
    "print_day": "reports",
    "print_history": "reports",
    "print_next": "reports",
    "print_status": "reports",
    "status_json": "reports",
    "status_notes": "reports",
    # metrics.py
    "metrics_text": "metrics",
    # pools.py
    "pools_json": "pools",
    "print_pools": "pools",
    # prune.py
    "print_prune": "prune",
    "prune_json": "prune",
    # progress.py
    "Progress": "progress",
    # daemons.py
    "daemon_lines": "daemons",
    "daemons_json": "daemons",
    "print_daemons": "daemons",
}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    globals()[name] = value  # the next use is a plain attribute
    return value
