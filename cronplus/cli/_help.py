"""`cronplus --help` without click (issue 12: importing click was two thirds of it).

The text is the group's help as click lays it out (usage, the help paragraphs, the
options and the commands as definition lists, wrapped to the terminal's width the
way click's HelpFormatter wraps them), built from the one table click's group is
built from (`_table`). tests/test_cli_fast.py compares it with click's own at
several widths, so a click that lays help out otherwise fails there.
"""

from __future__ import annotations

import os
import sys

from cronplus.cli._table import (
    COMMANDS,
    CONFIG_DEFAULT,
    CONFIG_HELP,
    CONFIG_METAVAR,
    CONFIG_OPTIONS,
    GROUP_HELP,
    HELP_HELP,
    HELP_OPTIONS,
    STATE_HELP,
    STATE_METAVAR,
    STATE_OPTION,
    VERSION_HELP,
)

USAGE = "Usage: cronplus [OPTIONS] COMMAND [ARGS]..."


def main(argv: list[str]) -> None:
    """Prints the help and exits for `cronplus --help` (or -h); else returns."""
    if len(argv) != 1 or argv[0] not in HELP_OPTIONS or os.environ.get("_CRONPLUS_COMPLETE"):
        return
    sys.stdout.write(group_help(help_width()) + "\n")
    sys.exit(0)


def help_width() -> int:
    """Click's: the terminal's columns (COLUMNS first, as shutil reads them), at most
    80, less 2, at least 50."""
    try:
        columns = int(os.environ["COLUMNS"])
    except (KeyError, ValueError):
        columns = 0
    if columns <= 0:
        try:
            columns = os.get_terminal_size(sys.__stdout__.fileno()).columns or 80
        except (AttributeError, ValueError, OSError):
            columns = 80
    return max(min(columns, 80) - 2, 50)


def group_help(width: int) -> str:
    options = [
        (
            f"{', '.join(CONFIG_OPTIONS)} {CONFIG_METAVAR}",
            f"{CONFIG_HELP}  [default: {CONFIG_DEFAULT}]",
        ),
        (f"{STATE_OPTION} {STATE_METAVAR}", STATE_HELP),
        ("--version", VERSION_HELP),
        (", ".join(HELP_OPTIONS), HELP_HELP),
    ]
    commands = [(name, COMMANDS[name][1]) for name in sorted(COMMANDS)]
    return "\n".join(
        [
            USAGE,
            "",
            _paragraphs(GROUP_HELP, width, "  "),
            "",
            "Options:",
            _definitions(options, width),
            "",
            "Commands:",
            _definitions(commands, width),
        ]
    )


def _definitions(rows: list[tuple[str, str]], width: int) -> str:
    """click's write_dl, two columns indented by 2: terms padded to the longest (at
    most 30), each text wrapped beside its term."""
    first = min(max(len(term) for term, _ in rows), 30) + 2
    lines = []
    for term, text in rows:
        wrapped = _paragraphs(text, max(width - first - 2, 10), "").splitlines()
        if len(term) <= first - 2:
            lines.append(f"  {term:<{first}}{wrapped[0]}")
        else:
            lines += [f"  {term}", f"{'':>{first + 2}}{wrapped[0]}"]
        lines += [f"{'':>{first + 2}}{line}" for line in wrapped[1:]]
    return "\n".join(lines)


def _paragraphs(text: str, width: int, indent: str) -> str:
    """click's wrap_text(preserve_paragraphs=True) for the texts of `_table` (no tabs,
    no indented paragraphs): blank lines part paragraphs; each is refilled, but one
    that opens with a line holding only \\b keeps its lines."""
    import textwrap

    out = []
    for block in text.strip("\n").split("\n\n"):
        lines = block.splitlines()
        if lines[0].strip() == "\b":
            out.append("\n".join(indent + line for line in lines[1:]))
        else:
            words = " ".join([lines[0].lstrip(), *lines[1:]])
            wrapper = textwrap.TextWrapper(
                width, initial_indent=indent, subsequent_indent=indent, replace_whitespace=False
            )
            out.append(wrapper.fill(words))
    return "\n\n".join(out)
