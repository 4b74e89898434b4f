"""`cronplus pools`: each pool's size, the slots in use and by which runs, and the runs
waiting for it, in the order they will be served."""

from __future__ import annotations

import click

from cronplus.cli._group import Context, json_option, pass_ctx


@click.command()
@json_option()
@pass_ctx
def pools(obj: Context, as_json: bool) -> None:
    """Each pool's size, slots in use (by which runs, jobs and hosts), and the runs waiting.

    One row per run holding slots (its host and the pid of the cronplus process that
    took them), then one per run waiting, in the order they will be served (oldest
    logical time first, then claim order; `waiting 1` is next). A pool removed from
    the jobs file while a run still holds or waits for it is listed last, its size
    `removed` (null in --json). It only reads the state.

    \b
    Examples:
      cronplus pools
      cronplus pools --json | jq '.[] | select(.waiting != [])'
    """
    from cronplus import render
    from cronplus.pool_report import pool_states

    config = obj.read_config()
    states = pool_states(config, obj.store())
    if as_json:
        render.print_json(render.pools_json(states, config.jobs))
    else:
        render.print_pools(states, config.jobs, obj.config_path)


COMMANDS = (pools,)
