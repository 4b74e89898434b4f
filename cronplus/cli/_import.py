"""`cronplus import-crontab`: a crontab as a jobs file (issue 14)."""

from __future__ import annotations

import sys

import click

from cronplus.cli._group import warn
from cronplus.errors import ExitCode


@click.command(name="import-crontab")
@click.argument("source", metavar="[FILE|-]", required=False)
@click.option("-o", "output", metavar="FILE", help="Write the jobs file here (created 0600).")
@click.option("--force", is_flag=True, help="Replace the -o FILE if it exists.")
@click.option("--system", is_flag=True, help="A system crontab: a user column before the command.")
@click.option("--prefix", default="", metavar="P", help="Put P in front of every job name.")
def import_crontab(
    source: str | None, output: str | None, force: bool, system: bool, prefix: str
) -> None:
    """Turn a crontab into a jobs file: FILE, - for stdin, else `crontab -l`.

    Each entry becomes a job, in line order, its schedule as written; cron's variables
    become timezone, shell, env and alert URLs, and the comment above an entry its
    description. Every line not imported is printed on stderr as FILE:LINE: left out:
    REASON: LINE, every caveat as FILE:LINE: note: ... Exit 0 if all was imported, 1 if
    lines were left out (the file is still written), 2 if nothing was written.

    \b
    Example:
      cronplus import-crontab /etc/cron.d/backup --system -o jobs.toml
      crontab -l | cronplus import-crontab - > jobs.toml
    """
    from cronplus import crontab_import

    if source == "-":
        text, display = click.get_text_stream("stdin").read(), "<stdin>"
    else:
        text, display = crontab_import.crontab_source(source)
    crontab = crontab_import.read_crontab(text, display, system=system)
    toml = crontab_import.jobs_toml(crontab, display, prefix)
    if output is None:
        sys.stdout.write(toml)
    else:
        crontab_import.write_jobs_file(output, toml, force=force)
    for _, message in crontab.messages:
        warn(message)
    sys.exit(ExitCode.NOT_SUCCEEDED if crontab.left_out else ExitCode.OK)


COMMANDS = (import_crontab,)
