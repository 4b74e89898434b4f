"""`watch` (issue 16): a job run once for each file version landing under its glob.

inotify (as `watch.py` uses it for the jobs file) on the folders the glob names says
which file changed: that file (and those waiting to settle) is stat'ed, never the whole
folder, and a file the glob does not match wakes nobody. A full scan of the glob at the
start, every `watch_rescan`, after a queue overflow and when a folder is made or moved
finds what inotify never reports (NFS, a write through a shared memory map). A version
(path, inode, size, mtime) not run yet is taken once it has not changed for `settle`,
its run claimed with the version (`Store.claim_file_run`: at most once, whoever sees
it), its logical time the instant it was first seen settled.

The runs of a job go one after another (a file is work that must not be lost: with
`overlap` "skip" a file arriving while a run goes waits its turn too); with "queue" at
most `max_queued` wait, and a file beyond is recorded skipped and alerted missed; with
"replace" a new file's run stops the one going (recorded interrupted), as a schedule's
would, except behind a catch-up backlog, which it joins. The versions found when the
engine starts (files that arrived while no daemon ran) go through `catchup`. The engine's
loop calls `check` at `first()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import fnmatch
import glob
import logging
import os
import select
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cronplus.alerts import Alerter
from cronplus.dispatch import Dispatcher
from cronplus.errors import StateError
from cronplus.events import log_event
from cronplus.model import Catchup, Claim, Config, Job, Overlap, RunFile, RunStatus, Trigger
from cronplus.watch import _EVENT, _IN_Q_OVERFLOW, _MASK

log = logging.getLogger("cronplus")
_IN_ISDIR = 0x40000000  # the event is about a folder: scan the whole glob
_IN_IGNORED = 0x8000  # a watch removed (its folder deleted, or inotify_rm_watch)

DOWN = "arrived while no daemon ran"
_NOW = datetime.min.replace(tzinfo=UTC)  # due at once


@dataclass
class _Watched:
    """One `watch` job's files as this process sees them."""

    job: Job
    done: set[RunFile]  # versions with a run (or recorded skipped)
    pending: dict[str, tuple[RunFile, datetime]] = field(default_factory=dict)  # first seen
    rescan_at: datetime | None = None  # None: scan at the next check
    found: list[RunFile] = field(default_factory=list)  # at the start: catchup's
    missing_logged: bool = False


class FileWatch:
    """Every `watch` job of the configuration; inotify's watches are set on creation
    (before the daemon logs `event=started`), with a snapshot of the files there."""

    def __init__(self, config: Config, dispatcher: Dispatcher, wake: Callable[[], None]) -> None:
        self.dispatcher = dispatcher
        self.store = dispatcher.store
        self._wake = wake
        self._lock = threading.Lock()
        # job -> the paths inotify named, or None: scan the whole glob (a folder made
        # or moved, an overflow). A named path costs a stat, not a scan of the folder.
        self._dirty: dict[str, set[str] | None] = {}
        self._wds: dict[int, dict[str, str]] = {}  # watch -> its jobs and their globs
        self._wd_folder: dict[int, str] = {}  # watch -> its folder, as the glob names it
        self._jobs: dict[str, _Watched] = {}
        self._fd = -1
        self._libc: ctypes.CDLL | None = None
        self._thread: threading.Thread | None = None
        self._stop_r, self._stop_w = -1, -1
        self.reconfigure(config, None)

    # -- the engine's hooks ------------------------------------------------------------

    def reconfigure(self, config: Config, now: datetime | None) -> None:
        """Follow `config`'s watch jobs: a new or changed one is watched from now on,
        the files already there found as at a start (through `catchup`)."""
        jobs = {n: j for n, j in config.jobs.items() if _watching(j)}
        if jobs and self._fd < 0 and self._thread is None:  # once: its folders watched next
            self._open()
        for name in list(self._jobs):
            if name not in jobs or jobs[name].watch != self._jobs[name].job.watch:
                del self._jobs[name]
                self._unfollow(name)
        for name, job in jobs.items():
            known = self._jobs.get(name)
            if known is not None:
                known.job = job
                continue
            w = self._jobs[name] = _Watched(job, self.store.file_versions(name))
            self._follow(w)
            w.found = [v for v in _scan(job) if v not in w.done]
            if now is not None:
                self._catch_up(w, now)

    def start(self, now: datetime) -> None:
        """The files found when the engine started: through each job's `catchup`."""
        for w in self._jobs.values():
            self._catch_up(w, now)

    def first(self) -> datetime | None:
        """When `check` is next due (a pending file settles, a rescan), or None."""
        times = [t for w in self._jobs.values() for t in _due(w)]
        return min(times, default=None)

    def check(self, now: datetime) -> None:
        """Scan the jobs inotify marked, whose rescan is due or whose file may have
        settled; start a run for each version settled."""
        with self._lock:
            dirty, self._dirty = self._dirty, {}
        paused = None
        for name, w in self._jobs.items():
            due = name in dirty or any(t <= now for t in _due(w))
            if not due:
                continue
            if paused is None:
                paused = self.store.paused_jobs()
            if name in paused:  # its files wait: none is lost, none recorded
                w.rescan_at = now + w.job.watch_rescan
                w.pending.clear()
                continue
            whole = dirty.get(name, set()) is None or w.rescan_at is None or w.rescan_at <= now
            self._scan_job(w, now, None if whole else dirty.get(name, set()))

    def close(self) -> None:
        if self._stop_w >= 0:
            os.write(self._stop_w, b"\0")
        if self._thread is not None:
            self._thread.join(5)
        for fd in (self._fd, self._stop_r, self._stop_w):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._fd = self._stop_r = self._stop_w = -1

    # -- scanning ------------------------------------------------------------------------

    def _scan_job(self, w: _Watched, now: datetime, paths: set[str] | None = None) -> None:
        """The whole glob (`paths` None), else only the files inotify named and those
        waiting to settle: one stat each, whatever else the folder holds."""
        job = w.job
        if paths is None:
            w.rescan_at = now + job.watch_rescan
            self._follow(w)  # a folder made since is watched from now on
            found = _scan(job)
        else:
            found = _versions(paths | set(w.pending))  # paths: matched as inotify named them
        seen: dict[str, tuple[RunFile, datetime]] = {}
        settled = []
        for v in found:
            if v in w.done:
                continue
            before = w.pending.get(v.path)
            if before is None or before[0] != v:
                seen[v.path] = (v, now)  # new, or changed: quiet from now
            elif now - before[1] >= job.settle:
                settled.append(v)
            else:
                seen[v.path] = before
        w.pending = seen
        for v in sorted(settled, key=lambda v: (v.mtime_ns, v.path)):
            self._take(w, v, now)

    def _take(self, w: _Watched, v: RunFile, now: datetime, *, behind: bool = False) -> None:
        """Claim the run of a settled version and queue it behind the job's runs (with
        overlap = "replace", unless `behind`: in place of the run going); with
        overlap = "queue" and max_queued files waiting, record it skipped (missed)."""
        job = w.job
        if job.overlap is Overlap.QUEUE and self.dispatcher.queued(job.name) >= job.max_queued:
            why = f"{job.max_queued} files were already queued (max_queued)"
            if self._record(w, v, now, why):
                self.dispatcher.alert(Alerter.missed, job.name, [now], why)
            return
        run = self.store.claim_file_run(
            job.name, now, Trigger.FILE, Claim(owner=os.getpid(), now=now), v
        )
        w.done.add(v)
        if run is not None:
            log_event(run, "file", None, v.path)
            if job.overlap is Overlap.REPLACE and not behind:
                self.dispatcher.replace_with(run)
            else:
                self.dispatcher.catch_up([run])

    def _record(self, w: _Watched, v: RunFile, now: datetime, why: str) -> bool:
        claim = Claim(owner=None, now=now, status=RunStatus.SKIPPED, reason=why)
        run = self.store.claim_file_run(w.job.name, now, Trigger.FILE, claim, v)
        w.done.add(v)
        if run is not None:
            log_event(run, "skipped", None, f"{v.path}: {why}")
        return run is not None

    def _catch_up(self, w: _Watched, now: datetime) -> None:
        """`catchup` for the files found at the start that were quiet already (the
        others settle as arrivals): latest runs the newest, all up to catchup_limit
        of the newest, oldest first, none runs none; the rest are recorded skipped and
        alerted missed."""
        job, found, w.found = w.job, w.found, []
        quiet = sorted(
            (v for v in found if now - v.mtime >= job.settle), key=lambda v: (v.mtime_ns, v.path)
        )
        keep = {Catchup.NONE: 0, Catchup.LATEST: 1, Catchup.ALL: job.catchup_limit}[job.catchup]
        run = quiet[len(quiet) - keep :] if keep else []
        skipped = []
        try:
            for v in quiet:
                if v in run:
                    self._take(w, v, now, behind=True)  # one after another
                elif self._record(w, v, now, f"{DOWN} (catchup = {job.catchup})"):
                    skipped.append(now)
        except StateError:
            w.found = [v for v in found if v not in w.done]
            raise
        if skipped:
            self.dispatcher.alert(
                Alerter.missed, job.name, skipped, f"{DOWN}: {len(skipped)} files"
            )

    # -- inotify -----------------------------------------------------------------------

    def _open(self) -> None:
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            fd = libc.inotify_init1(os.O_CLOEXEC | os.O_NONBLOCK)
            if fd < 0:
                raise OSError(ctypes.get_errno(), "inotify_init1")
        except (OSError, AttributeError) as e:
            log.warning("event=watch-unavailable detail='%s; files found by rescans only'", e)
            return
        self._libc, self._fd = libc, fd
        self._stop_r, self._stop_w = os.pipe()
        self._thread = threading.Thread(target=self._loop, name="file-watch", daemon=True)
        self._thread.start()

    def _follow(self, w: _Watched) -> None:
        """Watch the folders `w`'s glob names (the nearest that exists while it is missing)."""
        if self._libc is None:
            return
        folders, missing = _folders(w.job.watch or "")
        if missing and not w.missing_logged:
            log.info(
                "job=%s event=watch-missing detail='%s does not exist yet'", w.job.name, missing
            )
        w.missing_logged = bool(missing)
        for folder in folders:
            wd = self._libc.inotify_add_watch(self._fd, os.fsencode(folder), _MASK)
            if wd >= 0:
                with self._lock:
                    self._wds.setdefault(wd, {})[w.job.name] = w.job.watch or ""
                    self._wd_folder[wd] = folder

    def _unfollow(self, name: str) -> None:
        """Forget job `name`'s folders; a folder no other job watches is watched no more."""
        with self._lock:
            for wd, jobs in list(self._wds.items()):
                if jobs.pop(name, None) is not None and not jobs:
                    del self._wds[wd], self._wd_folder[wd]
                    if self._libc is not None:
                        self._libc.inotify_rm_watch(self._fd, wd)
            self._dirty.pop(name, None)

    def _loop(self) -> None:
        poller = select.poll()
        poller.register(self._fd, select.POLLIN)
        poller.register(self._stop_r, select.POLLIN)
        while True:
            ready = {fd for fd, _ in poller.poll()}
            if self._stop_r in ready:
                return
            if self._read_events():
                self._wake()

    def _read_events(self) -> bool:
        """Mark each job an event concerns: the path, when it names a file its glob
        matches; the whole glob after an overflow or for a folder made, moved or gone.
        A file the glob does not match wakes nobody."""
        marked = False
        while True:
            try:
                data = os.read(self._fd, 64 * 1024)
            except (BlockingIOError, OSError):
                return marked
            offset = 0
            while offset + _EVENT.size <= len(data):
                wd, mask, _cookie, length = _EVENT.unpack_from(data, offset)
                name = os.fsdecode(data[offset + _EVENT.size : offset + _EVENT.size + length])
                offset += _EVENT.size + length
                with self._lock:
                    if mask & _IN_IGNORED:  # its folder is gone: so is the watch
                        self._wd_folder.pop(wd, None)
                        jobs = self._wds.pop(wd, {})
                    elif mask & _IN_Q_OVERFLOW:  # events dropped: every job rescans
                        jobs = {job: "" for wds in self._wds.values() for job in wds}
                    else:
                        jobs = self._wds.get(wd, {})
                    path = os.path.join(self._wd_folder.get(wd, ""), name.rstrip("\0"))
                    whole = mask & (_IN_Q_OVERFLOW | _IN_ISDIR) or not name.rstrip("\0")
                    for job, pattern in jobs.items():
                        if whole:
                            self._dirty[job] = None
                        elif _matches(pattern, path) and self._dirty.get(job, set()) is not None:
                            self._dirty.setdefault(job, set()).add(os.path.abspath(path))
                        else:
                            continue
                        marked = True


def _watching(job: Job) -> bool:
    return job.watch is not None and job.enabled and not job.after


def _due(w: _Watched) -> list[datetime]:
    times = [t + w.job.settle for _, t in w.pending.values()]
    return times + ([w.rescan_at] if w.rescan_at is not None else [_NOW])


def _scan(job: Job) -> list[RunFile]:
    """Each regular file matching the job's glob, as its version now."""
    return _versions(glob.glob(job.watch or "", recursive=True))


def _versions(paths: Iterable[str]) -> list[RunFile]:
    """Each of `paths` that is a regular file, as its version now."""
    found = []
    for path in paths:
        try:
            st = os.stat(path)
        except OSError:
            continue  # gone meanwhile
        if stat.S_ISREG(st.st_mode):
            found.append(RunFile(os.path.abspath(path), st.st_size, st.st_mtime_ns, st.st_ino))
    return found


def _matches(pattern: str, path: str) -> bool:
    """Would `glob.glob(pattern, recursive=True)` list `path` (as the folders the glob
    names spell it)? Part by part; `**` stands for any number of folders; a wildcard
    never matches a name starting with "." (as glob)."""
    return _match_parts(pattern.split(os.sep), path.split(os.sep))


def _match_parts(pats: list[str], parts: list[str]) -> bool:
    if not pats:
        return not parts
    head = pats[0]
    if head == "**":  # zero folders, or one more (not hidden) and still `**`
        if _match_parts(pats[1:], parts):
            return True
        return bool(parts) and not parts[0].startswith(".") and _match_parts(pats, parts[1:])
    if not parts:
        return False
    if parts[0].startswith(".") and not head.startswith(".") and glob.has_magic(head):
        return False
    return fnmatch.fnmatchcase(parts[0], head) and _match_parts(pats[1:], parts[1:])


def _folders(pattern: str) -> tuple[list[str], str | None]:
    """The folders to watch for `pattern`: its folder, or with a wildcard in its folder
    part, the fixed part and every folder under it; while that is missing, the nearest
    folder above it that exists (and the missing one, to log)."""
    parts = os.path.dirname(pattern).split(os.sep)
    fixed = []
    for part in parts:
        if glob.has_magic(part):
            break
        fixed.append(part)
    base = os.sep.join(fixed) or os.sep
    if not os.path.isdir(base):
        up = base
        while not os.path.isdir(up):
            up = os.path.dirname(up)
        return [up], base
    if len(fixed) == len(parts) and os.path.basename(pattern) != "**":  # "in/**": all under
        return [base], None
    return [base] + [os.path.join(d, s) for d, subs, _ in os.walk(base) for s in subs], None
