"""`for_each` (issue 16): one run, the job's command once per item.

Before the run's items, the job's `for_each` command runs (the job's environment,
cwd, shell, user and timeout), its stderr to `<run>-items.log` and its stdout to
`<run>-items.txt` beside the run's logs; each non-empty line is an item. The list is
recorded once (`Store.set_items`): a run resumed after a crash, or run again by a
backfill, reuses it and runs only the items that did not succeed. Each item has its
own attempts (`<run>-item<I>-<N>.log`), the job's retries, its pool's slots and a
`max_parallel` slot per attempt, with `CRONPLUS_ITEM` and `CRONPLUS_ITEM_INDEX`;
at most `item_parallel` items go at once, each on a `RunControl` of its own that the
run's control cuts short or stops.

The run's own `attempts` stay empty: the runner records the run's end from what
`ItemRunner.execute` answers.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from cronplus import _wrapper, executor
from cronplus.clock import Clock
from cronplus.events import log_event
from cronplus.late import late_timer
from cronplus.model import Attempt, AttemptResult, Item, Job, Run, RunStatus, Trigger
from cronplus.paths import StatePaths
from cronplus.pools import Pools
from cronplus.run_control import STOPPED_REASON, RunControl, SlotPool
from cronplus.spawner import Spawner
from cronplus.store import Store

Outcome = tuple[RunStatus, str | None]  # how the run ends
Write = Callable[..., Any]  # the runner's `write`: a state write retried while refused
SHOWN = 100  # at most this many characters of an item in the run's reason
LOOK_S = 1.0  # at most this long between the run thread's looks at its items


def listing_log(paths: StatePaths, job: str, run_id: int) -> Path:
    """The for_each command's stderr; its stdout (the items) is beside it, `.txt`."""
    return paths.logs / job / f"{run_id}-items.log"


def item_log(paths: StatePaths, job: str, run_id: int, index: int, number: int) -> Path:
    return paths.logs / job / f"{run_id}-item{index}-{number}.log"


class ItemRunner:
    """Runs the items of `for_each` runs for a `Runner` (its store, spawner, pools,
    slots and stop)."""

    def __init__(
        self,
        store: Store,
        paths: StatePaths,
        clock: Clock,
        spawner: Spawner,
        pools: Pools,
        slots: SlotPool,
        stop: threading.Event,
        folder: Callable[[], Path],
        on_late: Callable[[Run, float], None],
    ) -> None:
        self.store, self.paths, self.clock = store, paths, clock
        self.spawner, self.pools, self.slots, self.stop = spawner, pools, slots, stop
        self._folder = folder  # the jobs file's folder (a reload may change it)
        self._on_late = on_late  # the run went on past expected_duration

    def execute(
        self, job: Job, run: Run, trigger: Trigger, control: RunControl, write: Write
    ) -> Outcome:
        """The run's items, listed first unless listed before; how the run ends. Late
        once the whole run goes on past expected_duration (its items are its work)."""
        late = late_timer(job, run, None, self.clock, self._on_late)
        try:
            return self._execute(job, run, trigger, control, write)
        finally:
            if late is not None:
                late.cancel()

    def _execute(
        self, job: Job, run: Run, trigger: Trigger, control: RunControl, write: Write
    ) -> Outcome:
        listed = self.store.items_of([run.id]).get(run.id)
        found: list[str] = []
        if listed is None:
            got = self._list(job, run, trigger, control)
            if isinstance(got, tuple):
                return got
            if len(got) > job.for_each_max:
                why = f"for_each gave {len(got)} items, more than for_each_max ({job.for_each_max})"
                return RunStatus.FAILED, why
            found = got
        items = write(self.store.set_items, run.id, found, owner=os.getpid(), now=self.clock.now())
        log_event(run, "items", None, f"{len(items)} items")
        todo = [i for i in items if i.status is not RunStatus.SUCCEEDED]
        ended = self._run_all(job, run, trigger, control, todo, write)
        return self._outcome(run, items, ended, control.reason)

    def _list(
        self, job: Job, run: Run, trigger: Trigger, control: RunControl
    ) -> list[str] | Outcome:
        """Run the for_each command: its stdout's non-empty lines, or how the run ends."""
        log_path = listing_log(self.paths, job.name, run.id)
        out = log_path.with_suffix(".txt")
        lister = replace(
            job, command=f'( {job.for_each}\n) > "$CRONPLUS_ITEMS_OUT"', python=None, stdin=None
        )
        begun = self.clock.now()
        # One a dead cronplus left going writes to `out`: watched to its end, its lines
        # taken, rather than a second one run beside it into the same file.
        pid = (
            _wrapper.find_wrapper(_wrapper.status_path_for(log_path)) if log_path.exists() else None
        )
        if pid is not None:
            handle = executor.adopt_attempt(lister, pid, log_path, begun, clock=self.clock)
        else:
            handle = self.spawner.spawn(
                self._folder(), lister, run, 1, trigger, log_path, begun,
                announce=False, extra={"CRONPLUS_ITEMS_OUT": str(out)},
            )  # fmt: skip
        result = self._wait(handle, control)
        if result.status is not RunStatus.SUCCEEDED:
            return result.status, f"for_each {result.reason}"
        try:
            text = out.read_text(errors="replace")
        except OSError as e:
            return RunStatus.FAILED, f"for_each: cannot read its output: {e.strerror}"
        # Lines end at "\n" (or "\r\n") only: `splitlines` would also cut an item
        # at a form feed, "\x1c" or U+2028, all of which a file name may hold.
        lines = (line.removesuffix("\r") for line in text.split("\n"))
        return [line for line in lines if line.strip()]

    def _wait(self, handle: executor.AttemptHandle | AttemptResult, control: RunControl):
        if isinstance(handle, AttemptResult):
            return handle
        with control.watching(handle, self.stop):
            return handle.wait()

    def _run_all(
        self,
        job: Job,
        run: Run,
        trigger: Trigger,
        control: RunControl,
        todo: list[Item],
        write: Write,
    ) -> dict[int, AttemptResult | None]:
        """Each item of `todo`, `item_parallel` at once: each one's last result (None:
        the run was cut short or stopped before it began)."""
        ended: dict[int, AttemptResult | None] = {i.index: None for i in todo}
        queue = list(reversed(todo))
        lock = threading.Lock()
        children: list[RunControl] = []

        def work() -> None:
            mine = RunControl(run.id)
            with lock:
                children.append(mine)
            try:
                while not mine.is_cut:
                    with lock:
                        if not queue:
                            return
                        item = queue.pop()
                    ended[item.index] = self._item(job, run, trigger, item, mine, write)
            finally:
                wake.set()  # the run's thread looks whether all are done

        threads = [
            threading.Thread(target=work, name=f"cronplus-item-{run.id}-{n}", daemon=True)
            for n in range(min(job.item_parallel, len(todo)))
        ]
        wake = threading.Event()  # a worker ended, or the run was cut short or stopped
        with control.waking(wake):
            for t in threads:
                t.start()
            while any(t.is_alive() for t in threads):
                wake.wait(LOOK_S)
                wake.clear()
                if control.is_cut:
                    with lock:
                        for child in children:
                            why = control.reason
                            child.cut_short(why) if why and not self.stop.is_set() else child.stop()
                    for t in threads:
                        t.join()
        return ended

    def _item(
        self,
        job: Job,
        run: Run,
        trigger: Trigger,
        item: Item,
        control: RunControl,
        write: Write,
    ) -> AttemptResult | None:
        """One item's attempts until one succeeds, is cut short, or none is left."""
        number = len(item.attempts)
        result: AttemptResult | None = None
        if _left(item):
            result = self._left_going(job, run, item, control, write)  # a crash cut it short
            if result is not None and result.status is RunStatus.SUCCEEDED:
                return result
        for made in range(1, job.retry.retries + 2):
            number += 1
            result = self._attempt(job, run, trigger, item, number, control, write)
            if result is None or result.status in (RunStatus.SUCCEEDED, RunStatus.INTERRUPTED):
                return result
            if made == job.retry.retries + 1:
                return result
            wait_s = job.retry.delay_before_retry(made).total_seconds()
            log_event(
                run, "retry", number, f"item {item.index} {result.reason}; retry in {wait_s:g}s"
            )
            if control.wait(wait_s, self.clock):
                return AttemptResult(RunStatus.INTERRUPTED, result.started_at, self.clock.now(),
                                     reason=control.reason or STOPPED_REASON)  # fmt: skip
        return result

    def _left_going(
        self, job: Job, run: Run, item: Item, control: RunControl, write: Write
    ) -> AttemptResult | None:
        """An item attempt a dead cronplus left unfinished: watched to its end if its job
        still runs, its result taken if it ended unwatched, else recorded interrupted."""
        last = item.attempts[-1]
        log_path = Path(last.log or "")
        status_path = _wrapper.status_path_for(log_path)
        pid = _wrapper.find_wrapper(status_path, None)
        if pid is not None:
            going = executor.adopt_attempt(job, pid, log_path, last.started_at, clock=self.clock)
            result = self._wait(going, control)
        elif _wrapper.trace_of(status_path) is _wrapper.Trace.ENDED:
            result = executor.ended_attempt(job, log_path, last.started_at, self.clock)
        else:
            why = "interrupted: the job ended while no cronplus watched, its outcome unknown"
            result = AttemptResult(RunStatus.INTERRUPTED, last.started_at, self.clock.now(),
                                   reason=why)  # fmt: skip
        write(self.store.finish_item_attempt, run.id, item.index, last.number, result)
        # The slots it held (recovery kept them, for a dead process) go back now.
        self.pools.release(run.id, adopted=True, item=item.index)
        return result

    def _attempt(
        self,
        job: Job,
        run: Run,
        trigger: Trigger,
        item: Item,
        number: int,
        control: RunControl,
        write: Write,
    ) -> AttemptResult | None:
        """One attempt of an item, holding its pool's slots then a slot; None when the
        run was cut short or stopped before it began."""
        if not self.pools.take(job, run, number, control, write, item=item.index):
            return None
        try:
            if not self.slots.take((run.scheduled_for, run.id), self.stop):
                return None
            try:
                if control.is_cut:
                    return None
                return self._go(job, run, trigger, item, number, control, write)
            finally:
                self.slots.put_back()
        finally:
            self.pools.release(run.id, item=item.index)

    def _go(
        self,
        job: Job,
        run: Run,
        trigger: Trigger,
        item: Item,
        number: int,
        control: RunControl,
        write: Write,
    ) -> AttemptResult:
        log_path = item_log(self.paths, job.name, run.id, item.index, number)
        begun = self.clock.now()
        attempt = Attempt(number, begun, log=str(log_path), trigger=trigger)
        write(self.store.begin_item_attempt, run.id, item.index, attempt, owner=os.getpid())
        extra = {"CRONPLUS_ITEM": item.item, "CRONPLUS_ITEM_INDEX": str(item.index)}
        handle = self.spawner.spawn(
            self._folder(), job, run, number, trigger, log_path, begun, announce=False, extra=extra
        )
        result = self._wait(handle, control)
        write(self.store.finish_item_attempt, run.id, item.index, number, result)
        word = "end" if result.status is RunStatus.SUCCEEDED else str(result.status)
        detail = f"item {item.index}" + (f" {result.reason}" if result.reason else "")
        log_event(run, word, number, detail, exit_code=result.exit_code)
        return result

    def _outcome(
        self,
        run: Run,
        items: list[Item],
        ended: dict[int, AttemptResult | None],
        cut: str | None,
    ) -> Outcome:
        """The run's end: succeeded when every item did; `cut`: why the run was cut
        short (overlap = replace names the run replacing it)."""
        if not items:
            return RunStatus.SUCCEEDED, "0 items"
        results = {i: r for i, r in ended.items()}
        if any(r is None or r.status is RunStatus.INTERRUPTED for r in results.values()):
            if self.stop.is_set():
                return RunStatus.INTERRUPTED, STOPPED_REASON
            return RunStatus.INTERRUPTED, cut or "interrupted: replaced by a newer run"
        failed = [
            (i, r)
            for i, r in sorted(results.items())
            if r is not None and r.status is not RunStatus.SUCCEEDED
        ]
        if not failed:
            return RunStatus.SUCCEEDED, None
        index, first = failed[0]
        text = next(i.item for i in items if i.index == index)
        text = text if len(text) <= SHOWN else text[: SHOWN - 1] + "…"  # a reason stays short
        why = f'{len(failed)} of {len(items)} items failed: first "{text}": {first.reason}'
        return RunStatus.FAILED, why


def _left(item: Item) -> bool:
    """Whether a dead cronplus left the item's last attempt unfinished."""
    return bool(item.attempts) and item.attempts[-1].finished_at is None
