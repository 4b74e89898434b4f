"""Where the pages read from: the jobs file (read again when it changes, falling
back as the read commands do while it has problems) and the state, opened read-only
for each request and closed after it, so a page never holds it and a state made
after the server started is seen at the next request."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cronplus.clock import Clock
from cronplus.model import Config
from cronplus.paths import StatePaths, resolve_state_dir
from cronplus.reading import config_for_reading
from cronplus.store import Store, open_store


@dataclass(frozen=True, slots=True)
class Loaded:
    config: Config
    warning: str | None  # why this is not the jobs file as written (shown on every page)
    paths: StatePaths


class Source:
    """The jobs file and the state a server shows. Thread-safe."""

    def __init__(self, config_path: str, state_option: str | None, clock: Clock) -> None:
        self.config_path = config_path
        self.state_option = state_option
        self.clock = clock
        self._lock = threading.Lock()
        self._key: tuple[int, int, int] | None = None
        self._loaded: Loaded | None = None

    def load(self) -> Loaded:
        """The configuration, read again only when the file's inode, size or mtime
        changed. Raises the file's ConfigError when nothing can stand in for it."""
        try:
            st = os.stat(self.config_path)
            key: tuple[int, int, int] | None = (st.st_ino, st.st_size, st.st_mtime_ns)
        except OSError:
            key = None
        with self._lock:
            if self._loaded is None or key is None or key != self._key:
                reading = config_for_reading(self.config_path, self.state_option, upgrade=False)
                config = reading.config
                paths = resolve_state_dir(self.state_option, config.state, config.folder)
                self._loaded = Loaded(config, reading.warning, paths)
                self._key = key
            return self._loaded

    @contextmanager
    def store(self) -> Iterator[Store]:
        """The state, read-only (a missing state reads as an empty one, and one an older
        cronplus wrote is refused, never upgraded); closed after."""
        store = open_store(self.load().paths, create=False, upgrade=False)
        try:
            yield store
        finally:
            store.close()

    @property
    def folder(self) -> Path:
        return Path(self.config_path).absolute().parent
