"""HTML that is escaped unless it says otherwise: every page is built from `html()`
templates (trusted literals written here) whose arguments are escaped, unless they
are `Markup` already (another template's output). Job output, job names and
reasons can therefore never become markup by accident."""

from __future__ import annotations

from collections.abc import Iterable
from html import escape as _escape


class Markup(str):
    """Text that is HTML already: not escaped again."""

    __slots__ = ()

    def __html__(self) -> str:
        return self


def escape(value: object) -> Markup:
    """`value` as HTML text: Markup as it is, None as nothing, anything else escaped
    (quotes too, so it is safe inside an attribute)."""
    if isinstance(value, Markup):
        return value
    if value is None:
        return Markup("")
    return Markup(_escape(str(value), quote=True))


def html(template: str, *args: object, **kwargs: object) -> Markup:
    """`template.format(...)` with every argument escaped. `template` must be a
    literal written in this package, never data."""
    return Markup(
        template.format(*(escape(a) for a in args), **{k: escape(v) for k, v in kwargs.items()})
    )


def join(parts: Iterable[object], sep: str = "") -> Markup:
    """Pieces one after the other, each escaped unless it is Markup."""
    return Markup(sep.join(escape(p) for p in parts))


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
