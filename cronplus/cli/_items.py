"""`logs JOB --item N` (issue 16): the output of one item of a for_each run."""

from __future__ import annotations

from cronplus.errors import CronplusError, UsageError
from cronplus.store import Store


def item_log(
    store: Store, job: str, run_id: int | None, index: int, attempt: int | None
) -> tuple[str, str]:
    """The log of item `index`'s attempt (default: its last) of run `run_id` (default:
    the job's newest run), and how to name it in a message."""
    run = store.get_run(run_id) if run_id is not None else store.latest_run(job)
    if run is None or run.job != job:
        which = f"no run {run_id}" if run_id is not None else "no run yet"
        raise UsageError(f'job "{job}" has {which} (see: cronplus history {job})')
    items = store.items_of([run.id]).get(run.id)
    if items is None:
        raise UsageError(f"run {run.id} of {job} has no items (its job has no for_each)")
    if index >= len(items):
        raise UsageError(f"run {run.id} has {len(items)} item(s), index {index} is not one")
    tries = items[index].attempts
    if not tries:
        raise CronplusError(f'item {index} ("{items[index].item}") of run {run.id} has not run')
    number = attempt or len(tries)
    if number > len(tries):
        raise UsageError(f"item {index} of run {run.id} has {len(tries)} attempt(s), not {number}")
    return tries[number - 1].log or "", f"run {run.id} item {index} attempt {number}"
