"""A job's `user`: who its attempt runs as, and the exec shim that switches to them.

Only the job's own process switches; its wrapper (`_wrapper`) stays the starter's
user. The wrapper writes the status file beside the log, in the state's
owner-only folders, which a switched user could not enter; it leads the
attempt's session, so a timeout still signals the whole group and a daemon that
restarts finds it by its argv (`find_wrapper`) exactly as before. The job's output
fd is opened by the starter and inherited, so it still goes to its log.

The switch is this file run by the wrapper, `python -I _runas.py NAME UID GID ARGV...`:
it sets the supplementary groups (initgroups), the gid, then the uid, and execs
ARGV. Isolated (`-I`, the standard library only): it runs as root in the job's
environment, whose `PYTHONPATH` or `PYTHONSTARTUP` must not choose its code.
A shim of our own rather than `setpriv`/`runuser`: util-linux is not on every
host, and the same three calls are all there is to it. Its cost, one interpreter
start per attempt, is paid only by jobs that name another user.
"""

from __future__ import annotations

import os
import pwd
import sys
from collections.abc import Mapping


def target(user: str | None) -> pwd.struct_passwd | str | None:
    """The passwd entry to switch to for `user`; None when no switch is needed (no
    `user`, or this process's own); else why the attempt cannot run, as a reason."""
    if user is None:
        return None
    try:
        entry = pwd.getpwuid(int(user)) if user.isdigit() else pwd.getpwnam(user)
    except (KeyError, OverflowError):
        return f'cannot run as user "{user}": the user does not exist'
    me = os.geteuid()
    if entry.pw_uid == me:
        return None
    if me != 0:
        return (
            f'cannot run as user "{user}": only root can switch users (cronplus runs as uid {me})'
        )
    return entry


def argv(entry: pwd.struct_passwd | None, child: list[str]) -> list[str]:
    """`child`, run as `entry` when one is given."""
    if entry is None:
        return child
    ids = [entry.pw_name, str(entry.pw_uid), str(entry.pw_gid)]
    return [sys.executable, "-I", __file__, *ids, *child]


def environ(
    entry: pwd.struct_passwd | None, env: Mapping[str, str], own: Mapping[str, str]
) -> Mapping[str, str]:
    """`env` with `HOME`, `USER` and `LOGNAME` of `entry` (as cron sets them), unless
    the job's own `env` (`own`) sets them."""
    if entry is None:
        return env
    user = {"HOME": entry.pw_dir, "USER": entry.pw_name, "LOGNAME": entry.pw_name}
    return {**env, **{k: v for k, v in user.items() if k not in own}}


def main(args: list[str]) -> int:
    name, uid, gid, *child = args
    try:
        os.initgroups(name, int(gid))
        os.setgid(int(gid))
        os.setuid(int(uid))
        os.execvp(child[0], child)
    except OSError as exc:
        print(f"cronplus: cannot run {child[0]!r} as {name}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 126 if isinstance(exc, PermissionError) else 127
    return 127  # execvp returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
