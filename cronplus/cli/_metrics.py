"""`cronplus metrics`: the jobs' figures in Prometheus's text format, on stdout or in a
file replaced whole (node_exporter's textfile collector)."""

from __future__ import annotations

import os
from pathlib import Path

import click

from cronplus.cli._group import Context, pass_ctx
from cronplus.errors import UsageError


@click.command()
@click.option(
    "-o",
    "--output",
    metavar="FILE",
    help="Write to FILE instead of stdout, replacing it whole (node_exporter's textfile "
    "collector never reads half a file).",
)
@pass_ctx
def metrics(obj: Context, output: str | None) -> None:
    """Print each job's figures for Prometheus: runs, durations, last success, next fire.

    The text format Prometheus scrapes, one series set per job of the jobs file,
    labelled job_name: cronplus_job_runs_total{status} (counter),
    cronplus_job_duration_seconds (summary: quantiles 0.5, 0.9, 0.99 of the last 100
    runs with an attempt), cronplus_job_last_success_timestamp_seconds,
    cronplus_job_last_run_status{status}, cronplus_job_running,
    cronplus_job_next_fire_timestamp_seconds, and cronplus_daemon_up. It only reads the
    state. A daemon serves the same at /metrics with `run --metrics-port PORT`.

    \b
    Example:
      cronplus -c jobs.toml metrics -o /var/lib/node_exporter/textfile/cronplus.prom
    """
    from cronplus import render
    from cronplus.clock import system_clock
    from cronplus.metrics import read_figures
    from cronplus.paths import read_daemon_pid

    config = obj.read_config()
    paths = obj.paths
    up = read_daemon_pid(paths) is not None
    text = render.metrics_text(read_figures(config, paths, system_clock().now(), daemon_up=up))
    if output is None:
        click.echo(text, nl=False)
    else:
        replace_file(Path(output), text)


def replace_file(path: Path, text: str) -> None:
    """Write `text` to a new file beside `path`, then rename it over `path`: a reader
    sees the old file or the new one, never a part. The temporary name does not end in
    `.prom`, so the textfile collector never reads it. Readable by others (umask
    permitting): node_exporter runs as its own user."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
    except OSError as e:
        raise UsageError(f"cannot write {path}: {e.strerror or e}") from None


COMMANDS = (metrics,)
