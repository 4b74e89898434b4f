"""`cronplus web`: the local screen for 03:00."""

from __future__ import annotations

import click

from cronplus.cli._group import Context, pass_ctx


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8421,
    show_default=True,
    help="Port to listen on (0: any free).",
)
@click.option(
    "--token-file",
    metavar="FILE",
    help="Require the token on FILE's first line (else env CRONPLUS_WEB_TOKEN, if set).",
)
@click.option(
    "--allow-host",
    "allow_hosts",
    multiple=True,
    metavar="NAME",
    help="Also answer requests for Host NAME (a proxy's name); repeatable.",
)
@click.option(
    "--allow-trigger", is_flag=True, help="Offer trigger, pause and resume on the job pages."
)
@pass_ctx
def web(
    obj: Context,
    host: str,
    port: int,
    token_file: str | None,
    allow_hosts: tuple[str, ...],
    allow_trigger: bool,
) -> None:
    """Serve a local web view of the jobs and their runs, until SIGTERM or Ctrl-C.

    The last 24 hours of every job, the failures, each run's log, the graph of `after`
    and the fire times of any date beside their runs (the ledger), and the --json
    shapes under /api/. It needs no daemon and only reads the state, unless
    --allow-trigger. It listens on 127.0.0.1 by default; another address needs a
    token (CRONPLUS_WEB_TOKEN or --token-file), and anything beyond this machine a
    TLS proxy in front.

    \b
    Example:
      cronplus -c jobs.toml web --port 8421
    """
    from cronplus.web import read_token, serve

    token = read_token(token_file)
    serve(
        obj.config_path,
        obj.state_option,
        host=host,
        port=port,
        token=token,
        allow_hosts=allow_hosts,
        allow_trigger=allow_trigger,
    )


COMMANDS = (web,)
