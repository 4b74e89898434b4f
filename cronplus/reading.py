"""The configuration the read commands (status, history, logs, alerts, next) use.

They keep working while the jobs file has problems: then they read the configuration
the daemon last ran from that file (its reduced copy, kept in the state), else the
jobs that can be read, and say so in one warning. A file that cannot be read or
parsed, with no daemon's copy to fall back on, is refused as usual: a mistyped `-c`
must not look like a quiet system. The commands that act (`run`, `trigger`,
`backfill`, `mark`) never fall back.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from cronplus.config import load_config_kept, load_config_text, readable_jobs
from cronplus.errors import ConfigError, StateError
from cronplus.model import Config, Run
from cronplus.paths import StatePaths, resolve_state_dir

if TYPE_CHECKING:
    from cronplus.backfill import BackfillResult
    from cronplus.store import Store


@dataclass(frozen=True, slots=True)
class Reading:
    config: Config
    warning: str | None  # why this is not the jobs file as written, for stderr


def config_for_reading(
    config_path: str, state_option: str | None, *, upgrade: bool = True
) -> Reading:
    """The jobs file, or while it has problems what can stand in for it (see the module
    doc); raises the file's ConfigError when nothing can. `upgrade=False`: an older
    state is not upgraded to read the daemon's copy (`cronplus web`)."""
    try:
        return Reading(load_config_kept(Path(config_path), display_path=config_path), None)
    except ConfigError as e:
        error = e
    path = Path(config_path)
    readable = readable_jobs(path, config_path)
    # The state is where the file says, as far as it can be read (else the default).
    config = readable or Config(path=path.absolute(), jobs={})
    recorded = _recorded_config(config, config_path, state_option, upgrade)
    if recorded is not None:
        config = replace(recorded, state=config.state)
        how = "the configuration the daemon last ran from it"
    elif readable is None:
        raise error
    else:
        how = f"the {len(readable.jobs)} job(s) that can be read"
    n = len(error.problems)
    warning = (
        f"Warning: {config_path} has {n} problem{'s' * (n != 1)} (the first: "
        f"{error.problems[0]}; cronplus validate lists them); showing {how}"
    )
    return Reading(config, warning)


def _recorded_config(
    config: Config, display: str, state_option: str | None, upgrade: bool
) -> Config | None:
    """The configuration the daemon last ran from this file, kept in the state."""
    from cronplus.store import open_store

    paths: StatePaths = resolve_state_dir(state_option, config.state, config.folder)
    try:
        store = open_store(paths, create=False, upgrade=upgrade)
        try:
            saved = store.config_copy()
        finally:
            store.close()
    except StateError:
        return None
    if saved is None or saved.path != str(config.path):
        return None
    try:
        return load_config_text(saved.text, config.path, display)
    except ConfigError:
        return None


def with_items(store: Store, runs: list[Run], config: Config) -> list[Run]:
    """`runs`, those of a job with `for_each` holding their items (issue 16): one read
    for all of them, none when no job of theirs fans out."""
    ids = [r.id for r in runs if r.job in config.jobs and config.jobs[r.job].for_each]
    found = store.items_of(ids) if ids else {}
    return [replace(r, items=tuple(found[r.id])) if r.id in found else r for r in runs]


def settled_with_items(store: Store, result: BackfillResult, config: Config) -> BackfillResult:
    """A backfill's `result`, its settled runs holding their items (one read)."""
    runs = with_items(store, [s.run for s in result.settled], config)
    settled = tuple(replace(s, run=r) for s, r in zip(result.settled, runs, strict=True))
    return replace(result, settled=settled)
