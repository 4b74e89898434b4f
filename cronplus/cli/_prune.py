"""`cronplus prune`: apply each job's retention (`keep_runs`, `keep_days`) now."""

from __future__ import annotations

import click

from cronplus.cli._group import Context, json_option, pass_ctx


@click.command()
@click.option("--dry-run", is_flag=True, help="Change nothing; report what would go.")
@json_option("Print one JSON array: an object per job of the jobs file, in its order.")
@pass_ctx
def prune(obj: Context, dry_run: bool, as_json: bool) -> None:
    """Delete the runs and logs each job's keep_runs and keep_days let go, now.

    A run goes once it is not among its job's keep_runs newest, or it ended over
    keep_days ago. Always kept: the runs a job is judged by (its latest run, latest
    finished one, latest succeeded one, latest scheduled one), unfinished runs, those a
    stopped daemon must resume or release, and an upstream success a running
    dependent still needs. A running daemon does the same at its start and every 10
    minutes. Counters of `cronplus metrics` are not lowered.

    \b
    Example:
      cronplus prune --dry-run
    """
    from cronplus import render
    from cronplus.clock import system_clock
    from cronplus.retention import prune as prune_runs

    config = obj.config  # a file with problems prunes nothing: exit 2, as `run` does
    if dry_run:  # a read: an older state is not upgraded for it (it says so, exit 1)
        from cronplus.store import open_store

        store = open_store(obj.paths, create=False, upgrade=False)
    else:
        store = obj.store(create=True)
    pruned = prune_runs(config, store, obj.paths, system_clock().now(), dry_run=dry_run)
    if as_json:
        render.print_json(render.prune_json(pruned))
    else:
        render.print_prune(pruned, dry_run=dry_run)


COMMANDS = (prune,)
