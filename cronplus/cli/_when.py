"""The filters `history` takes: a WHEN (a date, an ISO date-time as `backfill --from`
reads it, or a duration ago) and the words of `--status`/`--trigger`."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from enum import StrEnum
from typing import TypeVar

from cronplus.errors import UsageError

W = TypeVar("W", bound=StrEnum)


def parse_when(text: str, tz: str, option: str, now: datetime) -> datetime:
    """`24h`, `7d`, `1h30m`: that long before `now`; a date: the start of that day in
    `tz`; an ISO date-time: read in `tz` unless it has its offset."""
    from cronplus.backfill import parse_bound
    from cronplus.config._values import parse_duration

    text = text.strip()
    if text[-1:] in ("d", "h", "m", "s"):
        try:
            return now - parse_duration(text)
        except (ValueError, OverflowError):
            pass
    else:
        for kind in (date, datetime):
            try:
                kind.fromisoformat(text)
            except ValueError:
                continue
            return parse_bound(text, tz, option, end=False)
    raise UsageError(
        f'{option} "{text}" is not a date, an ISO date-time or a duration ago '
        "(use e.g. 2026-11-01, 2026-11-01T02:00, 24h or 7d)"
    )


def parse_words(given: Iterable[str], kind: type[W], option: str) -> tuple[W, ...]:
    """The words of a repeatable option that also takes `a,b`, each one of `kind`'s."""
    words: dict[W, None] = {}
    for part in (w.strip() for text in given for w in text.split(",")):
        try:
            words[kind(part)] = None
        except ValueError:
            valid = ", ".join(str(v) for v in kind)
            raise UsageError(f'{option} "{part}" is not one of: {valid}') from None
    return tuple(words)
