"""Tell the daemon when its jobs file changed, without waking it when nothing did.

Linux inotify through ctypes (no dependency): a thread blocks on the watch of the
file's folder, so an idle daemon still wakes only for its schedule. The folder,
not the file, because editors save by writing a new file and renaming it over the
old one, which would end a watch on the file itself. Changes are debounced: the
callback runs once the file has been quiet for `quiet` seconds.

A jobs file that is a symlink is edited through its target: the folder of each
link on the way to the file is watched too, and the chain is followed again after
each change, so a link pointed at another file is noticed, then that file's edits.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import select
import struct
import threading
from collections.abc import Callable
from pathlib import Path

from cronplus.clock import Clock, system_clock

log = logging.getLogger("cronplus")

# <sys/inotify.h>
_IN_MODIFY = 0x002
_IN_ATTRIB = 0x004
_IN_CLOSE_WRITE = 0x008
_IN_MOVED_FROM = 0x040
_IN_MOVED_TO = 0x080
_IN_CREATE = 0x100
_IN_DELETE = 0x200
_IN_Q_OVERFLOW = 0x4000  # events were dropped: any of them may have been ours
_MASK = (
    _IN_MODIFY | _IN_ATTRIB | _IN_CLOSE_WRITE | _IN_MOVED_FROM | _IN_MOVED_TO | _IN_CREATE
    | _IN_DELETE
)  # fmt: skip
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len; then len bytes of name
_MAX_LINKS = 40  # symlinks followed at most, as the kernel does


class FileWatcher:
    def __init__(
        self,
        path: Path,
        on_change: Callable[[], None],
        quiet: float = 0.5,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or system_clock()
        self.path = Path(os.path.abspath(path))
        self.on_change = on_change
        self.quiet = quiet
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        self._watches: dict[int, set[bytes]] = {}  # watch -> names in its folder that matter
        self._wake_r, self._wake_w = os.pipe()
        self._thread: threading.Thread | None = None

    def start(self) -> bool:
        """Start watching; False (and a log line) where inotify is not available, in
        which case SIGHUP still reloads."""
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
            self._libc, self._fd = libc, fd
            try:
                self._follow()
            except OSError:
                os.close(fd)
                self._fd = -1
                raise
        except (OSError, AttributeError) as e:
            log.warning("event=watch-unavailable detail='%s; reload with SIGHUP'", e)
            return False
        self._thread = threading.Thread(target=self._loop, name="watch", daemon=True)
        self._thread.start()
        return True

    def stop(self) -> None:
        os.write(self._wake_w, b"\0")
        if self._thread is not None:
            self._thread.join(5)
        for fd in (self._fd, self._wake_r, self._wake_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)

    def _follow(self) -> None:
        """Watch the folder of the file and of every symlink on the way to it (again
        after each change: a link may point elsewhere now). The file's own folder must
        be watchable (else OSError); a missing folder a link points into is skipped."""
        assert self._libc is not None
        watches: dict[int, set[bytes]] = {}
        for n, (folder, name) in enumerate(_chain(self.path)):
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK)
            if wd < 0:
                if n == 0:
                    err = ctypes.get_errno()
                    raise OSError(err, os.strerror(err))
                continue
            watches.setdefault(wd, set()).add(os.fsencode(name))
        for wd in set(self._watches) - set(watches):
            self._libc.inotify_rm_watch(self._fd, wd)  # a folder no link leads into now
        self._watches = watches

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._wake_r, select.POLLIN)
        pending_since: float | None = None
        while True:
            timeout = None
            if pending_since is not None:
                timeout = max(0, int((pending_since + self.quiet - self.clock.monotonic()) * 1000))
            ready = {fd for fd, _ in poller.poll(timeout)}
            if self._wake_r in ready:
                return
            if self._fd in ready and self._changed():
                pending_since = self.clock.monotonic()  # quiet time starts again
                with contextlib.suppress(OSError):
                    self._follow()
                continue
            if pending_since is not None and self.clock.monotonic() >= pending_since + self.quiet:
                pending_since = None
                try:
                    self.on_change()
                except Exception:
                    log.exception("event=reload-error")

    def _changed(self) -> bool:
        """Read every pending event: did one touch the file, or a link on the way to it?"""
        changed = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except BlockingIOError:
                return changed
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                offset += _EVENT.size
                name = data[offset : offset + length].rstrip(b"\0")
                # After an overflow, any of the events dropped may have been ours.
                if mask & _IN_Q_OVERFLOW or name in self._watches.get(wd, ()):
                    changed = True
                offset += length


def _chain(path: Path) -> list[tuple[Path, str]]:
    """(folder, name) of `path`, then of each symlink's target in turn, to the file."""
    hops = []
    for _ in range(_MAX_LINKS + 1):
        hops.append((path.parent, path.name))
        try:
            target = os.readlink(path)
        except OSError:  # not a link, or missing: the end of the chain
            break
        # A relative target is relative to the folder the link really is in.
        path = Path(os.path.normpath(os.path.join(os.path.realpath(path.parent), target)))
    return hops
