"""The `cronplus` group: its global options, the one place errors become exit codes,
and its commands, each module imported only when one of its commands runs or shows
its help (issue 12: a piped `status` pays for neither the acting commands nor their
imports, and `cronplus --help` imports no command at all)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cronplus import __version__
from cronplus.cli._table import (
    COMMANDS,
    CONFIG_DEFAULT,
    CONFIG_ENV,
    CONFIG_HELP,
    CONFIG_METAVAR,
    CONFIG_OPTIONS,
    GROUP_HELP,
    HELP_OPTIONS,
    STATE_HELP,
    STATE_METAVAR,
    STATE_OPTION,
    VERSION_HELP,
)


def module_commands(module: str) -> tuple[click.Command, ...]:
    """The commands a module of `cronplus.cli` defines, importing it."""
    if module == "_read":
        from cronplus.cli._read import COMMANDS as read_commands

        return read_commands
    if module == "_import":
        from cronplus.cli._import import COMMANDS as import_commands

        return import_commands
    if module == "_web":
        from cronplus.cli._web import COMMANDS as web_commands

        return web_commands
    if module == "_init":
        from cronplus.cli._init import COMMANDS as init_commands

        return init_commands
    if module == "_pools":
        from cronplus.cli._pools import COMMANDS as pools_commands

        return pools_commands
    if module == "_prune":
        from cronplus.cli._prune import COMMANDS as prune_commands

        return prune_commands
    if module == "_metrics":
        from cronplus.cli._metrics import COMMANDS as metrics_commands

        return metrics_commands
    if module == "_migrate":
        from cronplus.cli._migrate import COMMANDS as migrate_commands

        return migrate_commands
    if module == "_service":
        from cronplus.cli._service import COMMANDS as service_commands

        return service_commands
    from cronplus.cli._act import COMMANDS as act_commands

    return act_commands


class CronplusGroup(click.Group):
    """Imports a command's module when the command is asked for, and turns every
    CronplusError into its message on stderr and its exit code."""

    @property
    def commands(self) -> dict[str, click.Command]:
        """Every command, all modules imported (for tests, docs and did-you-mean)."""
        for module in sorted({m for m, _ in COMMANDS.values()}):
            self._load(module)
        return self._commands

    @commands.setter
    def commands(self, value: dict[str, click.Command]) -> None:
        self._commands = dict(value)

    def _load(self, module: str) -> None:
        from cronplus.cli._completion import add_completions

        for cmd in module_commands(module):
            add_completions(cmd)
            self._commands.setdefault(cmd.name or "", cmd)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in COMMANDS and cmd_name not in self._commands:
            self._load(COMMANDS[cmd_name][0])
        return self._commands.get(cmd_name)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list, each with its first sentence whole (click cuts it at the
        terminal's width with "..."), wrapped under the command instead."""
        with formatter.section("Commands"):
            formatter.write_dl([(name, COMMANDS[name][1]) for name in self.list_commands(ctx)])

    def invoke(self, ctx: click.Context) -> Any:
        from cronplus.cli._context import error_text
        from cronplus.errors import CronplusError, ExitCode

        try:
            return super().invoke(ctx)
        except CronplusError as e:
            click.echo(error_text(e), err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:
            # `cronplus logs JOB | head`: the reader left; that is not an error.
            sys.stderr.close()
            ctx.exit(ExitCode.OK)


@click.group(
    cls=CronplusGroup,
    help=GROUP_HELP,
    context_settings={"help_option_names": list(HELP_OPTIONS)},
)
@click.option(
    *CONFIG_OPTIONS,
    "config_path",
    default=CONFIG_DEFAULT,
    envvar=CONFIG_ENV,
    show_default=True,
    metavar=CONFIG_METAVAR,
    help=CONFIG_HELP,
)
@click.option(STATE_OPTION, metavar=STATE_METAVAR, help=STATE_HELP)
@click.version_option(__version__, message="cronplus %(version)s", help=VERSION_HELP)
@click.pass_context
def cli(ctx: click.Context, config_path: str, state: str | None) -> None:
    # Its help is GROUP_HELP, which `cronplus --help` prints without click too.
    from cronplus.cli._group import Context, warn

    ctx.obj = Context(config_path, state, warn)
