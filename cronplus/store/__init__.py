"""Where runs are kept. All SQL lives in this package; callers speak the domain.

The contract (implemented by `SqliteStore`; PostgreSQL comes later):
- `claim_run(job, scheduled_for, trigger, status=, reason=)` -> Run | None: records the
  run for a logical time, or returns None when one exists. At most once, whoever asks.
- `reopen_run(run_id, allowed, status=)` -> Run | None: takes a recorded run back to run
  it again (backfill), or None when someone else took it first.
- `begin_attempt`, `set_attempt_pid`, `finish_attempt(waiting=)`, `finish_run(last_attempt=)`:
  the life of a claimed run, each one transaction, written before and after the process.
- `get_run`, `find_run`, `latest_run`, `runs_between`, `history`, `succeeded_jobs`,
  `unfinished_runs`: reads that return model objects.
"""

from __future__ import annotations

from cronplus.paths import StatePaths
from cronplus.store.sqlite import SqliteStore

Store = SqliteStore


def open_store(paths: StatePaths, *, create: bool = True) -> Store:
    """Open the state; with create=False a missing state reads as an empty one
    and nothing is written to disk (read-only commands on a fresh machine)."""
    if not paths.db.exists():
        if not create:
            return SqliteStore(":memory:")
        paths.create()
    return SqliteStore(paths.db)
