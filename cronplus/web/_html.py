"""HTML that is escaped unless it says otherwise: every page is built from `html()`
templates (trusted literals written here) whose arguments are escaped, unless they
are `Markup` already (another template's output). Job output, job names and
reasons can therefore never become markup by accident."""

from __future__ import annotations

import re
from collections.abc import Iterable
from html import escape as _escape


class Markup(str):
    """Text that is HTML already: not escaped again."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


_EMPTY = Markup("")
# What html.escape(quote=True) rewrites: text without any of these is left as it is,
# which a page of 2,000 cells asks of mostly times, numbers and status words.
_SPECIAL = re.compile("[&<>\"']").search


def escape(value: object) -> Markup:
    """`value` as HTML text: Markup as it is, None as nothing, anything else escaped
    (quotes too, so it is safe inside an attribute)."""
    cls = type(value)
    if cls is Markup:
        return value  # type: ignore[return-value]
    if cls is int:
        return Markup(value)
    if value is None:
        return _EMPTY
    if isinstance(value, Markup):
        return value
    text = str(value)
    return Markup(text if _SPECIAL(text) is None else _escape(text, quote=True))


def html(template: str, *args: object, **kwargs: object) -> Markup:
    """`template.format(...)` with every argument escaped. `template` must be a
    literal written in this package, never data."""
    if kwargs:
        named = {k: escape(v) for k, v in kwargs.items()}
        return Markup(template.format(*[escape(a) for a in args], **named))
    return Markup(template.format(*[escape(a) for a in args]))


def join(parts: Iterable[object], sep: str = "") -> Markup:
    """Pieces one after the other, each escaped unless it is Markup."""
    return Markup(sep.join([escape(p) for p in parts]))


def attrs(**values: object) -> Markup:
    """` name="value"` pairs: `data_run_id` is written `data-run-id`; None leaves the
    attribute out, True writes it bare, anything else is escaped."""
    out = []
    for name, value in values.items():
        if value is None or value is False:
            continue
        key = name.rstrip("_").replace("_", "-")
        out.append(f" {key}" if value is True else f' {key}="{escape(value)}"')
    return Markup("".join(out))
