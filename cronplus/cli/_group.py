"""What the click commands share: how they get the `Context` (`_context.py`), their
common options and parsers."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import click

from cronplus.cli._context import Context
from cronplus.errors import UsageError

pass_ctx = click.make_pass_decorator(Context)


def warn(line: str) -> None:
    click.echo(line, err=True)


def json_option(help: str = "Print JSON.") -> Any:  # noqa: A002 (click's own word)
    """The one `--json` flag of every command that prints JSON."""
    return click.option("--json", "as_json", is_flag=True, help=help)


MAX_LIMIT = 2**62  # SQLite's integers are 64-bit; a larger --limit means "all" anyway


def limit_option(what: str) -> Any:
    return click.option(
        "--limit",
        type=click.IntRange(min=1, max=MAX_LIMIT, clamp=True),
        default=20,
        show_default=True,
        help=f"How many {what} at most, newest first.",
    )


def parse_date(text: str, option: str) -> date:
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise UsageError(f'{option} "{text}" is not a date (use YYYY-MM-DD)') from None
    check_year(day.year, text, option)
    return day


def check_year(year: int, text: str, option: str) -> None:
    """Times near the calendar's ends cannot be shifted into every zone: the commands
    take the years backfill takes."""
    if not 2 <= year <= 9998:
        raise UsageError(f'{option} "{text}" is out of range (years 2 to 9998)')


def parse_after(text: str, tz: str, option: str = "--after") -> datetime:
    from cronplus.zones import zone

    try:
        t = datetime.fromisoformat(text)
    except ValueError:
        raise UsageError(
            f'{option} "{text}" is not an ISO date-time '
            "(use e.g. 2026-03-29T02:00 or 2026-03-29T02:00+01:00)"
        ) from None
    check_year(t.year, text, option)
    return t if t.tzinfo else t.replace(tzinfo=zone(tz))
