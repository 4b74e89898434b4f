"""`cronplus migrate-state`: a SQLite state copied into PostgreSQL (issue 17)."""

from __future__ import annotations

from pathlib import Path

import click

from cronplus.cli._group import Context, pass_ctx


@click.command("migrate-state")
@click.option(
    "--from",
    "source",
    required=True,
    metavar="DIR",
    help="The SQLite state's folder (the one holding state.db).",
)
@click.option(
    "--to",
    "target",
    metavar="URL",
    help="The PostgreSQL database, postgresql://… (default: the configured state).",
)
@pass_ctx
def migrate_state(obj: Context, source: str, target: str | None) -> None:
    """Copy a SQLite state (runs, attempts, pauses, alerts) into PostgreSQL.

    Everything is copied in one transaction, run ids kept, and the source is only
    read. The target (--to, else the state --state, CRONPLUS_STATE or
    [defaults].state names) is brought to the current schema and must hold no runs
    (exit 2); a daemon holding the source must be stopped first (exit 1).

    \b
    Example:
      cronplus migrate-state --from .cronplus --to postgresql://cron@db:5432/cron
    """
    from cronplus.errors import UsageError
    from cronplus.paths import is_state_url, resolve_state_dir
    from cronplus.store._copy import migrate_state as migrate

    if target is not None and not is_state_url(target):
        raise UsageError("--to takes a PostgreSQL URL: postgresql://user@host:port/db")
    paths = resolve_state_dir(target, None, Path.cwd()) if target else obj.paths
    if paths.url is None:
        raise UsageError(
            f"the configured state {paths.root} is not a PostgreSQL database: give --to "
            "postgresql://…, or configure a PostgreSQL state (--state, CRONPLUS_STATE or "
            "[defaults].state)"
        )
    done = migrate(Path(source).expanduser().absolute(), paths)
    rows = done.rows
    click.echo(
        f"copied {_count(rows.get('runs', 0), 'run')}, "
        f"{_count(rows.get('attempts', 0), 'attempt')}, "
        f"{_count(rows.get('paused', 0), 'paused job')} and "
        f"{_count(rows.get('alerts', 0), 'alert')} from {done.source} to {done.target}"
    )


def _count(n: int, what: str) -> str:
    return f"{n:,} {what}{'s' * (n != 1)}"


COMMANDS = (migrate_state,)
