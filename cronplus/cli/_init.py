"""`cronplus init`: a commented starter jobs file at the `-c` path (issue 14)."""

from __future__ import annotations

from pathlib import Path

import click

from cronplus.cli._group import Context, pass_ctx, warn


@click.command()
@pass_ctx
def init(obj: Context) -> None:
    """Write a commented starter jobs file at the -c path (exit 2 if it exists).

    It sets [defaults] timezone to this host's zone, holds one job and one job after
    it, and lists every other key commented with what it does; the file (mode 0600:
    alert URLs with passwords go in it) passes `cronplus validate`.

    \b
    Examples:
      cronplus init
      cronplus -c /etc/cronplus/jobs.toml init
    """
    from cronplus.starter import write_starter

    path = Path(obj.config_path)
    write_starter(path)
    warn(f"Wrote {path}: check it with `cronplus validate`, start with `cronplus run`.")


COMMANDS = (init,)
