"""The `cronplus` command: parse options, make one library call, hand the result to
`render`, map errors to exit codes.

Start-up is what each command needs, no more (issue 12): this package imports
nothing; `cronplus --version`, `cronplus --help` (`_help.py`) and the plain forms of
`cronplus status` (`_status.py`) answer without importing click, byte for byte as
click would; the group (`_root.py`) imports a command's module only when that
command runs or shows its help, and every command imports what it needs in its
body, so a piped `status` never pays for rich, croniter or apprise, nor for the
other commands.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing itself costs a --version 5 ms (issue 12)
if TYPE_CHECKING:
    from cronplus.cli._root import CronplusGroup

__all__ = ["cli", "main"]


def main() -> None:
    argv = sys.argv[1:]
    if argv == ["--version"]:  # what click's --version prints, without click
        from cronplus import __version__

        sys.stdout.write(f"cronplus {__version__}\n")
        return
    if argv[:1] in (["--help"], ["-h"]):  # the group's help, without click
        from cronplus.cli._help import main as help_main

        help_main(argv)
    if "status" in argv:  # the plain forms, without click; it exits if it answers
        from cronplus.cli._status import main as status_main

        status_main(argv)
    import os  # loaded already by the interpreter's start

    if "_CRONPLUS_COMPLETE" in os.environ:  # a Tab: the common answers without click
        from cronplus.cli._completion import main as completion_main

        completion_main()
    from cronplus.cli._root import cli

    cli(prog_name="cronplus")


def __getattr__(name: str) -> CronplusGroup:
    """`from cronplus.cli import cli` imports the group (and click) only then."""
    if name == "cli":
        from cronplus.cli._root import cli

        return cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
