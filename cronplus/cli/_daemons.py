"""`status --daemons` (issue 17): the live daemons on the state, as a table or JSON."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cronplus.errors import ExitCode, UsageError

if TYPE_CHECKING:
    from cronplus.cli._context import Context


def show_daemons(
    obj: Context, jobs: tuple[str, ...], on_date: str | None, other: bool, *, as_json: bool
) -> ExitCode:
    """The `cronplus run` processes whose heartbeat is within their lease; exit 0
    whenever the state could be read. `other`: --problems or --watch was given too."""
    from cronplus import render
    from cronplus.cli._status import live_daemons

    if jobs or on_date is not None or other:
        raise UsageError(
            "--daemons shows only the daemons; leave out JOB, --on, --problems and --watch"
        )
    daemons, db_now = live_daemons(obj.store())
    if as_json:
        render.print_json(render.daemons_json(daemons))
    else:
        render.print_daemons(daemons, db_now)
    return ExitCode.OK
