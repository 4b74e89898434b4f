"""`max_log_bytes`: an attempt's log keeps its first and last `max_log_bytes / 2`
bytes around one line `[cronplus: N bytes omitted]`.

The constraints (issue 14): no process per attempt (the job writes straight into its
log, which is what lets an attempt outlive the daemon and be adopted), no kept byte
lost, and while the job runs the log never takes more than `max_log_bytes` + 1 MiB
on disk. So the job keeps appending (its fd is O_APPEND) and whoever watches the
attempt (the process that started it, or the daemon that adopted it) frees the
middle as it goes: past the limit it punches a hole (`fallocate(PUNCH_HOLE |
KEEP_SIZE)`) over the bytes between the head and the newest `max_log_bytes / 2`, so
the file's size grows but its blocks do not. When nothing may write the log any
more the file is rewritten as head + marker + tail and renamed over the log
(`compact`): when the attempt is over and its process group is empty. Background
processes the job left (`cmd &`) hold the log open and may write on: the log stays
watched until the group is empty (looked at every `LINGER_S`), so none of their
output goes to a file already replaced. A process that left the group (`setsid`)
cannot be seen.

Watching is one thread per cronplus process, asleep on one inotify descriptor with a
watch (`IN_MODIFY`) per capped log: it wakes when a job writes, not on a timer, and
an idle daemon does nothing. One descriptor, not one per attempt: inotify allows 128
per user by default. Without inotify (or past its limits) the log is still compacted
at the end. The bound is kept by reacting, not by blocking the writer (only a pipe
through a reader could, and that is a process per attempt, or output lost with the
daemon): a job writing faster than the thread gets a CPU passes it by what it writes
meanwhile. The thread runs at nice -10 where it may (root) for that reason.
`bench/log_cap.py`: 200 MiB at ~1 GB/s with a 1 MiB cap peaked at 3.3-4.3 MB on a
2-core machine at load 14; `tests/test_log_cap.py` holds the bound for a writer of
~120 MiB/s.

Readers of a running log see the hole as zeros; `read_present` gives them the
marker line in its place (SEEK_DATA / SEEK_HOLE).
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import select
import struct
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

if TYPE_CHECKING:
    import ctypes

SLACK = 1 << 20  # how far past max_log_bytes a running log may go on disk
_PUNCH_STEP = 1 << 18  # freed at least this much at a time: fewer calls, well within SLACK
_IN_MODIFY, _IN_CLOEXEC = 0x2, 0o2000000
_PUNCH = 0x02 | 0x01  # FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE
_EVENT = struct.Struct("iIII")  # wd, mask, cookie, len (then len bytes of name)
_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | os.O_NOFOLLOW
_MARKER = re.compile(rb"\[cronplus: (\d+) bytes omitted\]\n")
LINGER_S = 2.0  # how often a log that processes the job left behind may write is looked at


def marker(omitted: int) -> bytes:
    return f"[cronplus: {omitted} bytes omitted]\n".encode()


def _libc() -> ctypes.CDLL:
    import ctypes  # only where a log is capped: a reader of logs need not load it

    libc = ctypes.CDLL(None, use_errno=True)
    libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
    libc.inotify_add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
    return libc


class Watch:
    """One running attempt's log, capped as it grows."""

    def __init__(self, fd: int, cap: int, block: int) -> None:
        self.fd = fd
        self.cap = cap
        self.tail = cap - cap // 2
        self.hole_end = -(-(cap // 2) // block) * block  # the head, rounded up to a block
        self.block = block
        self.wd = -1

    def check(self, libc: ctypes.CDLL) -> None:
        """Free what lies between the head and the newest `tail` bytes, whole blocks
        only (a partial block's bytes would read as zeros, and free nothing)."""
        end = (os.fstat(self.fd).st_size - self.tail) // self.block * self.block
        step = end - self.hole_end
        if step >= _PUNCH_STEP and libc.fallocate(self.fd, _PUNCH, self.hole_end, step) == 0:
            self.hole_end = end


class Capper:
    """The process's one watching thread and its inotify descriptor, made at the
    first capped attempt."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._watches: dict[int, Watch] = {}
        self._lingering: list[tuple[Watch, Path, int]] = []  # over, but written still
        self._libc: ctypes.CDLL | None = None
        self._inotify = self._wake = -1

    def watch(self, path: Path, cap: int) -> Watch | None:
        """Start capping `path` live; None when the cap is off or cannot be watched."""
        if cap <= 0:
            return None
        try:
            fd = os.open(path, _LOG_FLAGS)
        except OSError:
            return None
        watch = Watch(fd, cap, max(4096, os.fstat(fd).st_blksize))
        with self._lock:
            if self._libc is None:
                self._start()
            if self._inotify < 0:
                return watch  # compacted at the end all the same
            assert self._libc is not None
            watch.wd = self._libc.inotify_add_watch(self._inotify, os.fsencode(path), _IN_MODIFY)
            if watch.wd >= 0:
                self._watches[watch.wd] = watch
                watch.check(self._libc)  # what it wrote before the watch began
        return watch

    def finish(self, watch: Watch | None, path: Path, group: int | None = None) -> None:
        """Stop watching and leave the log as head + marker + tail, once nothing may
        write it: while the attempt's process group `group` has members (background
        processes the job left, holding the log open) the log stays watched, and is
        compacted when the thread finds the group empty (it looks every `LINGER_S`)."""
        if watch is None:
            return
        if group is not None and _group_lives(group, grace=True):
            with self._lock:
                if self._wake >= 0:
                    self._lingering.append((watch, path, group))
                    os.write(self._wake, b"\0")  # its poll gets a timeout
                    return
            self._stop(watch)  # no thread to look later: the log is left whole
            return
        self._stop(watch)
        with contextlib.suppress(OSError):  # the log gone or unwritable: left as it is
            compact(path, watch.cap)

    def ended(self, path: Path, cap: int, group: int | None) -> None:
        """An attempt that ended with no watcher: its log compacted now, or watched
        until `group` (its wrapper's) is empty."""
        if group is not None and cap > 0 and _group_lives(group):
            self.finish(self.watch(path, cap), path, group)
        elif cap > 0:
            with contextlib.suppress(OSError):
                compact(path, cap)

    def _stop(self, watch: Watch) -> None:
        with self._lock:
            if self._watches.pop(watch.wd, None) is not None and self._libc is not None:
                self._libc.inotify_rm_watch(self._inotify, watch.wd)
            os.close(watch.fd)

    def _start(self) -> None:
        self._libc = libc = _libc()
        self._inotify = libc.inotify_init1(_IN_CLOEXEC)
        wake_r, self._wake = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        threading.Thread(
            target=self._loop, args=(wake_r,), name="cronplus-logcap", daemon=True
        ).start()

    def _loop(self, wake_r: int) -> None:
        assert self._libc is not None
        # Ahead of the jobs for the CPU when root may (on Linux, this thread alone):
        # its lag behind a fast writer is what the log can overshoot by.
        with contextlib.suppress(OSError):
            os.setpriority(os.PRIO_PROCESS, 0, -10)
        from cronplus.clock import SystemClock  # only here: a reader of logs need not load it

        clock, poller, look_at = SystemClock(), select.poll(), 0.0
        poller.register(wake_r, select.POLLIN)
        if self._inotify >= 0:
            poller.register(self._inotify, select.POLLIN)
        while True:
            wait = None if not self._lingering else max(0, look_at - clock.monotonic())
            ready = {fd for fd, _ in poller.poll(None if wait is None else math.ceil(wait * 1000))}
            if wake_r in ready:
                os.read(wake_r, 4096)
            if self._inotify in ready:
                self._punch(os.read(self._inotify, 65536))
            if self._lingering and clock.monotonic() >= look_at:
                self._settle()
                look_at = clock.monotonic() + LINGER_S

    def _punch(self, data: bytes) -> None:
        seen: set[int] = set()
        at = 0
        while at < len(data):
            wd, _mask, _cookie, size = _EVENT.unpack_from(data, at)
            seen.add(wd)
            at += _EVENT.size + size
        with self._lock:
            for wd in seen:
                watch = self._watches.get(wd)
                if watch is not None:
                    with contextlib.suppress(OSError):
                        watch.check(self._libc)

    def _settle(self) -> None:
        """Compact the lingering logs whose group is now empty."""
        with self._lock:
            done = [item for item in self._lingering if not _group_lives(item[2])]
            self._lingering = [item for item in self._lingering if item not in done]
        for watch, path, _group in done:
            self._stop(watch)
            with contextlib.suppress(OSError):
                compact(path, watch.cap)


def _group_lives(group: int, *, grace: bool = False) -> bool:
    """Whether process group `group` has members (zombies too: an adopted wrapper's
    parent reaps it a moment after it ends, hence the `grace` of up to ~60 ms)."""
    for pause in (0.004, 0.008, 0.016, 0.032, 0) if grace else (0,):
        try:
            os.killpg(group, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # a member we may not signal: one all the same
        time.sleep(pause)
    return True


def compact(path: Path, cap: int) -> None:
    """Rewrite the log at `path` as its first `cap // 2` bytes, one marker line and
    its last `cap - cap // 2`, if it is longer than `cap`; the new file replaces
    the old at once (readers see one or the other). A log compacted already is left
    as it is; bytes added after its marker since are counted into it."""
    head_n, tail_n = cap // 2, cap - cap // 2
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if cap <= 0 or size <= head_n + tail_n:
            return
        head = f.read(head_n)
        sep = b"" if head.endswith(b"\n") else b"\n"
        kept = _MARKER.match(f.read(len(sep) + 48), len(sep))  # a marker after the head
        omitted, cut = (int(kept[1]), kept.end()) if kept else (0, 0)
        omitted += size - tail_n - (head_n + cut)
        if kept and size - tail_n <= head_n + cut:
            return
        f.seek(size - tail_n)
        tail = f.read(tail_n)
    temp = path.with_name(path.name + ".cap")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(head + sep + marker(omitted) + tail)
    os.replace(temp, path)


def _extent(fd: int, pos: int, n: int) -> tuple[int, int]:
    """Where the data at or after `pos` begins and ends: (pos, pos) when there is none,
    (pos, pos + n) on a file system without SEEK_DATA."""
    raw = os.lseek(fd, 0, os.SEEK_CUR)  # a BinaryIO's buffer assumes the fd's offset: kept
    try:
        data_at = os.lseek(fd, pos, os.SEEK_DATA)
        return data_at, os.lseek(fd, data_at, os.SEEK_HOLE)
    except OSError as exc:  # ENXIO: nothing after pos; else no SEEK_DATA here: all data
        return (pos, pos) if exc.errno == errno.ENXIO else (pos, pos + n)
    finally:
        os.lseek(fd, raw, os.SEEK_SET)


def read_present(f: BinaryIO, n: int) -> tuple[bytes, int]:
    """Up to `n` bytes of `f` from its position, where a running capped log's freed
    middle (a hole) reads as one marker line, not zeros: (bytes, how far `f` moved).
    A hole is passed whole, however long, with the bytes after it: a hole punched
    further while they were read is read past again, so one hole is one marker.
    (b"", 0) at the end."""
    pos = f.tell()
    while True:
        data_at, hole_at = _extent(f.fileno(), pos, n)
        f.seek(data_at)
        data = f.read(min(n, hole_at - data_at))
        again, still = _extent(f.fileno(), pos, n)
        if again == data_at and still >= data_at + len(data):  # none of it punched since
            break
    if data_at > pos:
        return marker(data_at - pos) + data, data_at - pos + len(data)
    return data, len(data)


def tail_text(path: Path, n: int) -> str | None:
    """The last `n` bytes of the log at `path` as text, kept in the state with the
    attempt's end (issue 17: its log file stays on its host): UTF-8, a character cut at
    the start dropped whole, any other bad byte as U+FFFD; a hole (a log still being
    capped) as its marker line. None when the log cannot be read (never made, or gone)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            f.seek(max(0, size - n))
            parts = []
            while f.tell() < size:  # not past it: a writer left behind may go on
                data, _ = read_present(f, size - f.tell())
                if not data:
                    break
                parts.append(data)
    except OSError:
        return None
    data = b"".join(parts)[-n:]
    if size > n:
        cut = 0
        while cut < 3 and cut < len(data) and 0x80 <= data[cut] < 0xC0:
            cut += 1  # continuation bytes of a character whose start was cut off
        data = data[cut:]
    return data.decode("utf-8", errors="replace")


CAPPER = Capper()
