"""A job's `user`: who its attempt runs as, and the exec shim that switches to them.

Only the job's own process switches; its wrapper (`_wrapper`) stays the starter's
user. The wrapper writes the status file beside the log, in the state's
owner-only folders, which a switched user could not enter; it leads the
attempt's session, so a timeout still signals the whole group and a daemon that
restarts finds it by its argv (`find_wrapper`) exactly as before. The job's output
fd is opened by the starter and inherited, so it still goes to its log.

The switch is this file run by the wrapper, `python -I _runas.py NAME UID GID FD ARGV...`:
it reads the job's environment from FD, sets the supplementary groups (initgroups),
the gid, then the uid, and execs ARGV with that environment (looked up on its PATH).
The wrapper and the shim run as root, so nothing of the job's may reach them: they
get `ROOT_ENV` alone (a job's `LD_PRELOAD` or `LD_LIBRARY_PATH` would load its code
into them as root, its `PYTHONPATH` choose the shim's), and the shim is isolated
(`-I`). The job's environment travels in a memfd rather than in argv, which every
user can read in /proc, since its values may be secrets; the shim closes it before
the exec. A shim of our own rather than `setpriv`/`runuser`: util-linux is not on
every host, and the same calls are all there is to it. Its cost, one interpreter
start per attempt, is paid only by jobs that name another user.

A switched job's environment starts as cron's does (`environ`), not from the
starter's: the daemon's own variables (the web token, the secrets alert URLs read,
root's `XDG_RUNTIME_DIR`) are not the job's user's to see.
"""

from __future__ import annotations

import os
import pwd
import shutil
import sys
from collections.abc import Mapping

ROOT_ENV = {"PATH": "/usr/bin:/bin"}  # the wrapper's and the shim's, as root
CRON_PATH = "/usr/local/bin:/usr/bin:/bin"  # a switched job's PATH unless it sets one
# The starter's variables a switched job still gets: how text, dates and times are
# shown (no secret), so its output reads as it does under cronplus's own user.
PASSED = ("LANG", "LANGUAGE", "TZ")
# Those of each run (executor.build_env); other CRONPLUS_* variables (the web
# token) are the daemon's own.
RUN_VARIABLES = (
    "CRONPLUS_JOB",
    "CRONPLUS_RUN_ID",
    "CRONPLUS_ATTEMPT",
    "CRONPLUS_TRIGGER",
    "CRONPLUS_SCHEDULED_FOR",
    "CRONPLUS_LOGICAL_DATE",
    "CRONPLUS_INTERVAL_START",
    "CRONPLUS_INTERVAL_END",
    "CRONPLUS_FILE",
    "CRONPLUS_HOST",
)


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


def environ(
    entry: pwd.struct_passwd, env: Mapping[str, str], own: Mapping[str, str], shell: str
) -> dict[str, str]:
    """A switched job's environment, as cron builds one: `PATH`, `SHELL`, and `HOME`,
    `USER`, `LOGNAME` from the password database; the starter's locale and `TZ`
    (`PASSED`, `LC_*`); then the job's own `env` (`own`, which may set any of these);
    then the run's `CRONPLUS_*` variables, read from `env` (the attempt's)."""
    base = {"PATH": CRON_PATH, "SHELL": shell}
    base.update(HOME=entry.pw_dir, USER=entry.pw_name, LOGNAME=entry.pw_name)
    passed = {k: v for k, v in env.items() if k in PASSED or k.startswith("LC_")}
    result = {**base, **passed, **own}
    result.update((k, env[k]) for k in RUN_VARIABLES if k in env)
    if "/" not in shell and "SHELL" not in own:  # a bare name: its path, as a login sets it
        result["SHELL"] = shutil.which(shell, path=result["PATH"]) or shell
    return result


class Switch:
    """The switch of one attempt to `entry`: the job's environment `env`, held in a
    memfd (`fd`) that the shim the wrapper runs reads. `close()` once started."""

    def __init__(self, entry: pwd.struct_passwd, env: dict[str, str]) -> None:
        data = b"".join(_entry(k, v) for k, v in env.items())  # ValueError as Popen's
        self.entry = entry
        self.env = env
        self.fd = os.memfd_create("cronplus-env", os.MFD_CLOEXEC)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(self.fd, view) :]
        except OSError:
            os.close(self.fd)
            raise

    def argv(self, child: list[str]) -> list[str]:
        """`child`, run as `entry` by the shim, which the wrapper passes `fd` to."""
        ids = [self.entry.pw_name, str(self.entry.pw_uid), str(self.entry.pw_gid), str(self.fd)]
        return [sys.executable, "-I", __file__, *ids, *child]

    def close(self) -> None:
        os.close(self.fd)


def _entry(name: str, value: str) -> bytes:
    """`NAME=value` and a NUL, refused as Popen refuses it."""
    key, text = os.fsencode(name), os.fsencode(value)
    if not key or b"=" in key or b"\0" in key:
        raise ValueError("illegal environment variable name")
    if b"\0" in text:
        raise ValueError("embedded null byte")
    return key + b"=" + text + b"\0"


def _read_env(fd: int) -> dict[bytes, bytes]:
    chunks, offset = [], 0
    while chunk := os.pread(fd, 1 << 16, offset):
        chunks.append(chunk)
        offset += len(chunk)
    os.close(fd)
    pairs = (item.partition(b"=") for item in b"".join(chunks).split(b"\0") if item)
    return {key: value for key, _, value in pairs}


def main(args: list[str]) -> int:
    name, uid, gid, fd, *child = args
    try:
        env = _read_env(int(fd))
        os.initgroups(name, int(gid))
        os.setgid(int(gid))
        os.setuid(int(uid))
        os.execvpe(child[0], child, env)
    except OSError as exc:
        print(f"cronplus: cannot run {child[0]!r} as {name}: {exc.strerror}", file=sys.stderr)  # noqa: T201
        return 126 if isinstance(exc, PermissionError) else 127
    return 127  # execvpe returns only by raising


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
