"""The `cronplus` command: parse options, make one library call, hand the result to
`render`, map errors to exit codes.

Only click and light stdlib modules are imported here at start-up; every command
imports what it needs in its body, so a piped `status` never pays for rich,
croniter, apprise or filelock.
"""

from cronplus.cli import _act, _read  # noqa: F401 (each registers its commands on the group)
from cronplus.cli._group import cli, main

__all__ = ["cli", "main"]
