"""Fitting into the host (issue 14): `cronplus service --systemd [--user]`, the unit
that runs this daemon under systemd, and `cronplus completion SHELL`, the shell's
completion script (its answers are `_completion.py`'s)."""

from __future__ import annotations

from pathlib import Path

import click

from cronplus.cli._group import Context, pass_ctx
from cronplus.errors import UsageError


@click.command()
@click.option("--systemd", is_flag=True, help="A systemd service unit (the only kind so far).")
@click.option("--user", is_flag=True, help="For `systemctl --user` instead of the system.")
@pass_ctx
def service(obj: Context, systemd: bool, user: bool) -> None:
    """Print a service unit that runs this daemon on this jobs file and state.

    The unit runs `cronplus run` with this Python and the absolute -c and --state,
    as Type=notify: the daemon tells systemd when it schedules (READY=1), feeds its
    watchdog from its loop (WatchdogSec) and says when it stops. systemctl reload
    re-reads the jobs file (SIGHUP); a failure restarts it, but not a bad jobs file
    (exit 2). Without --user it is a system unit that runs as you, unless you are
    root.

    \b
    Example:
      cronplus -c /etc/cronplus/jobs.toml service --systemd > /etc/systemd/system/cronplus.service
      cronplus -c ~/jobs.toml service --systemd --user > ~/.config/systemd/user/cronplus.service
    """
    from cronplus.unit import systemd_unit

    if not systemd:
        raise UsageError("say which service manager: cronplus service --systemd [--user]")
    config = obj.config
    config_path = Path(obj.config_path).expanduser().absolute()
    text = systemd_unit(config, config_path, obj.paths.root, user=user)
    click.echo(text, nl=False)


@click.command()
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print the shell completion script for bash, zsh or fish.

    Commands and options complete, JOB arguments from the jobs file (the line's own
    -c, else as every command finds it), --status and --trigger from their words.
    Load it from the shell's start-up file; `_CRONPLUS_COMPLETE=bash_source cronplus`
    prints the same, as for any click program.

    \b
    Example:
      eval "$(cronplus completion bash)"        # in ~/.bashrc
      cronplus completion fish > ~/.config/fish/completions/cronplus.fish
    """
    from cronplus.cli._completion import source

    click.echo(source(click.get_current_context().find_root().command, shell))


COMMANDS = (service, completion)
