"""The `watch` keys (issue 16): a job run when a file lands. Their checks across a
job's table and its pipeline, and the model's fields, kept apart from `_loader`."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Any

from cronplus import graph
from cronplus.config._checks import Checks, Where

WATCH_KEYS = ("watch", "settle", "watch_rescan", "max_queued")


def absolute_glob(glob: str, folder: Path) -> str:
    """A `watch` glob made absolute: relative ones are relative to the jobs file's folder."""
    glob = os.path.expanduser(glob)
    return glob if os.path.isabs(glob) else os.path.join(folder, glob)


def check_watch(
    loader: Checks,
    tables: dict[str, dict[str, Any]],
    values: dict[str, dict[str, Any]],
    deps: dict[str, tuple[str, ...]],
) -> None:
    """A `watch` job has no schedule and no after; every root of a pipeline with a
    watch job watches the same glob. A missing folder is no problem: it may appear."""
    for name, table in tables.items():
        where = Where(("jobs", name), job=name)
        if "watch" in table and "schedule" in table:
            loader.report(
                where,
                "watch",
                "has both watch and schedule: a job runs on a file or at times, not both"
                " (keep one)",
            )
        elif "watch" in table and table.get("after"):
            loader.report(
                where,
                "watch",
                "has after, so it can't have its own watch (it runs after its pipeline's"
                " root; remove watch)",
            )
    for group in graph.pipelines(deps):
        roots = [n for n in group if not deps.get(n)]
        watches = {r: values[r].get("watch") for r in roots}
        if len(roots) > 1 and any(watches.values()):
            loader.disagree(  # type: ignore[attr-defined]  # the Loader's
                roots, "watch", watches, "give every job in it without after the same watch"
            )


def watch_fields(job: dict[str, Any], defaults: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The model's watch fields of one job, its own values over [defaults]."""
    get = {**defaults, **job}.get
    glob = job.get("watch")
    return {
        "watch": absolute_glob(glob, folder) if glob else None,
        "settle": get("settle", timedelta(seconds=5)),
        "watch_rescan": get("watch_rescan", timedelta(seconds=60)),
        "max_queued": get("max_queued", 1000),
    }
