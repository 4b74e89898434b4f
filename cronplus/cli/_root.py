"""The `cronplus` group: its global options, the one place errors become exit codes,
and its commands, each module imported only when one of its commands runs or shows
its help (issue 12: a piped `status` pays for neither the acting commands nor their
imports, and `cronplus --help` imports no command at all)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cronplus import __version__

# Each command: the module that defines it and the first sentence of its help, which
# `cronplus --help` lists without importing that module. tests/test_docs.py checks
# both against the commands themselves.
COMMANDS: dict[str, tuple[str, str]] = {
    "alert-test": ("_act", "Send a test message through the alert channels (JOB's, or [alerts]')."),
    "alerts": ("_read", "Recent alerts and whether each channel took them: was anyone told?"),
    "backfill": (
        "_act",
        "Run every fire time of JOB from --from to --to again, then the jobs after it.",
    ),
    "history": (
        "_read",
        "A job's runs, newest first (a job removed from the file keeps its history).",
    ),
    "logs": (
        "_read",
        "Print the output a run's attempt captured (latest run and attempt by default).",
    ),
    "mark": ("_act", "Record a run's outcome by hand: JOB at --at as succeeded or skipped."),
    "next": ("_read", "Upcoming fire times, in each job's time zone."),
    "pause": ("_act", "Stop scheduling jobs until resumed; their fire times are recorded skipped."),
    "resume": (
        "_act",
        "Schedule paused jobs again, from their next fire time (nothing is caught up).",
    ),
    "run": ("_act", "Run the daemon in the foreground until SIGTERM or Ctrl-C."),
    "status": (
        "_read",
        "Did it run? Each job's last run, what is running, what is overdue, and the next "
        "fire time; with --on, every fire time of that date beside its run.",
    ),
    "trigger": ("_act", "Run a job now (and then its downstream jobs), with or without a daemon."),
    "validate": (
        "_act",
        "Check the jobs file and print every problem, one per line (exit 2 if any).",
    ),
}


def module_commands(module: str) -> tuple[click.Command, ...]:
    """The commands a module of `cronplus.cli` defines, importing it."""
    if module == "_read":
        from cronplus.cli._read import COMMANDS as read_commands

        return read_commands
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
        for cmd in module_commands(module):
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
        from cronplus.errors import ConfigError, CronplusError, ExitCode

        try:
            return super().invoke(ctx)
        except ConfigError as e:
            click.echo(str(e), err=True)
            ctx.exit(e.exit_code)
        except CronplusError as e:
            click.echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except BrokenPipeError:
            # `cronplus logs JOB | head`: the reader left; that is not an error.
            sys.stderr.close()
            ctx.exit(ExitCode.OK)


@click.group(cls=CronplusGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--config",
    "config_path",
    default="jobs.toml",
    envvar="CRONPLUS_CONFIG",
    show_default=True,
    metavar="PATH",
    help="The jobs file (env CRONPLUS_CONFIG).",
)
@click.option(
    "--state",
    metavar="DIR",
    help="State directory (env CRONPLUS_STATE; default [defaults].state, else .cronplus/ "
    "beside the jobs file).",
)
@click.version_option(__version__, message="cronplus %(version)s")
@click.pass_context
def cli(ctx: click.Context, config_path: str, state: str | None) -> None:
    """cronplus: cron with history, dependencies, retries and an answer to "did it run?".

    \b
    Example:
      cronplus -c examples/jobs.toml run      # the daemon
      cronplus -c examples/jobs.toml status   # did it run?
    """
    from cronplus.cli._group import Context

    ctx.obj = Context(config_path, state)
