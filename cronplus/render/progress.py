"""Progress of a long command (backfill) on stderr."""

from __future__ import annotations

import sys
from typing import Any


class Progress:
    """Progress of a long command on stderr: a rich bar on a terminal (done / failed /
    skipped, rate, ETA), else one plain line per step. Safe to call from threads."""

    def __init__(self, total: int, title: str) -> None:
        import threading

        self.total = total
        self.done = 0
        self.counts = {"ok": 0, "failed": 0, "interrupted": 0, "skipped": 0}
        self._lock = threading.Lock()
        self._bar: Any = None
        if sys.stderr.isatty():
            self._bar = _rich_progress(title)
            self._task = self._bar.add_task(title, total=total, **self.counts)
            self._bar.start()

    def advance(self, kind: str, line: str, *, show: bool = False) -> None:
        """One step ended; `kind` is ok, failed, interrupted or skipped. `show` prints `line` above
        the bar too (failures); without a bar every line is printed."""
        with self._lock:
            self.done += 1
            self.counts[kind] += 1
            if self._bar is None:
                width = len(str(self.total))
                sys.stderr.write(f"[{self.done:>{width}}/{self.total}] {line}\n")
                sys.stderr.flush()
                return
            if show:
                self._bar.console.print(line, markup=False, highlight=False)
            self._bar.update(self._task, advance=1, **self.counts)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _rich_progress(title: str) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        ProgressColumn,
        TextColumn,
        TimeRemainingColumn,
    )
    from rich.progress import Progress as RichProgress
    from rich.text import Text

    class Rate(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("-/s" if speed is None else f"{speed:.1f}/s", style="progress.data.speed")

    return RichProgress(
        TextColumn("{task.description}"),
        BarColumn(bar_width=24),
        MofNCompleteColumn(),
        TextColumn(
            "[green]{task.fields[ok]} done[/] [red]{task.fields[failed]} failed[/] "
            "[yellow]{task.fields[interrupted]} interrupted[/] "
            "[dim]{task.fields[skipped]} skipped[/]"
        ),
        Rate(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
    )
