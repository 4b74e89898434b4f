"""`cronplus prune`: what retention removed (or, with --dry-run, would), per job."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from cronplus.render._base import print_table

if TYPE_CHECKING:
    from cronplus.retention import Pruned


def prune_json(pruned: Sequence[Pruned]) -> list[dict[str, Any]]:
    """One object per job, in the jobs file's order, zeros included."""
    return [asdict(p) for p in pruned]


def print_prune(pruned: Sequence[Pruned], *, dry_run: bool = False) -> None:
    verb = "WOULD GO" if dry_run else "DELETED"
    print_table(
        ["JOB", f"RUNS {verb}", f"LOGS {verb}", "BYTES"],
        [[p.job, str(p.runs_deleted), str(p.logs_deleted), str(p.bytes_freed)] for p in pruned],
    )
