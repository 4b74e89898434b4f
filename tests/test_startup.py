"""What each quick command imports (issue 12): a piped `status` exactly the modules it
uses and not click, `--help` neither a command nor click, `--version` not even its
table. A new import on these paths fails here, not only in bench/status.py's timings."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from conftest import record

# Libraries no quick command may pay for: the heavy ones (see ARCHITECTURE.md), and
# what --json, the daemon and the package metadata need.
NEVER = ("rich", "croniter", "apprise", "filelock", "psycopg", "asyncio", "json")
NEVER_MODULES = ("importlib.metadata",)

STATUS_MODULES = {
    "cronplus",
    "cronplus._schedule_days",
    "cronplus._toml_lines",
    "cronplus.cli",
    "cronplus.cli._context",
    "cronplus.cli._status",
    "cronplus.cli._table",
    "cronplus.clock",
    "cronplus.config",
    "cronplus.config._cache",
    "cronplus.config._checks",
    "cronplus.config._env",
    "cronplus.config._loader",
    "cronplus.config._pool_checks",  # split from _loader
    "cronplus.config._values",
    "cronplus.config._watch",  # issue 16
    "cronplus.errors",
    "cronplus.graph",
    "cronplus.model",
    "cronplus.paths",
    "cronplus.leases",  # issue 17: is a run's owner alive, on this host or another
    "cronplus.procs",
    "cronplus.reading",
    "cronplus.render",
    "cronplus.render._base",
    "cronplus.render.daemons",  # issue 17: status's daemon lines
    "cronplus.render.reports",
    "cronplus.report",
    "cronplus.schedule",
    "cronplus.store",
    "cronplus.store._contract_cluster",  # issue 17: part of the Store Protocol
    "cronplus.store._contract_side",
    "cronplus.store._db",
    "cronplus.store._open",
    "cronplus.store._sql",
    "cronplus.store._sql_claim",  # a claim's insert, shared by _sql and _sql_files
    "cronplus.store._sql_cluster",  # issue 17: part of SqlStore
    "cronplus.store._sql_files",  # issue 16: part of SqlStore
    "cronplus.store._sql_pools",
    "cronplus.store._sql_items",  # issue 16: part of SqlStore
    "cronplus.store._sql_prune",
    "cronplus.store._sql_read",
    "cronplus.store._sql_side",
    "cronplus.store.schema",
    "cronplus.store.schema_hosts",  # issue 17: the tables of schema 14, for both backends
    "cronplus.store.sqlite",
    "cronplus.zones",
}


# `python -m cronplus ARGV`, noting at exit the modules it imported. sys.modules, not
# `-X importtime`'s log: that misses what importlib.import_module imports (render's).
DRIVER = """
import atexit, runpy, sys
before = set(sys.modules)
out = sys.argv[1]
def note():
    with open(out, "w") as f:
        f.write("\\n".join(sorted(set(sys.modules) - before)))
atexit.register(note)
sys.argv = ["cronplus", *sys.argv[2:]]
runpy.run_module("cronplus", run_name="__main__", alter_sys=True)
"""


def imported(*argv: str, cwd) -> tuple[set[str], subprocess.CompletedProcess]:
    """The modules `python -m cronplus ARGV` imports, stdout piped, beyond those the
    interpreter's start (site, the .pth files of its site-packages) and runpy import."""
    out = Path(cwd) / "modules.txt"
    proc = subprocess.run(
        [sys.executable, "-c", DRIVER, str(out), *argv],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )
    return set(out.read_text().split()), proc


def forbidden(modules: set[str]) -> list[str]:
    return sorted(m for m in modules if m.split(".")[0] in NEVER or m.startswith(NEVER_MODULES))


def test_a_piped_status_imports_exactly_the_modules_it_uses(project):
    project.write("""
        [jobs.load]
        schedule = "0 3 * * *"
        timezone = "Europe/Berlin"
        command = "true"

        [jobs.report]
        after = ["load"]
        command = "true"
    """)
    record(project.store(), "load", datetime.now(UTC) - timedelta(seconds=30), "succeeded")
    modules, proc = imported(
        "-c", "jobs.toml", "--state", str(project.state), "status", cwd=project.root
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "load " in proc.stdout and "succeeded" in proc.stdout
    assert "daemon: not running" in proc.stdout
    assert {m for m in modules if m.split(".")[0] == "cronplus"} == STATUS_MODULES
    assert forbidden(modules) == []
    assert "cronplus.cli._status" in modules  # what the check reads is the command's own
    assert "click" not in modules


def test_help_lists_the_commands_without_importing_any_nor_click(project):
    modules, proc = imported("--help", cwd=project.root)
    assert proc.returncode == 0 and "status" in proc.stdout and "backfill" in proc.stdout
    assert {m for m in modules if m.split(".")[0] in ("cronplus", "click")} == {
        "cronplus",
        "cronplus.cli",
        "cronplus.cli._help",
        "cronplus.cli._table",
    }
    assert forbidden(modules) == []


def test_version_alone_imports_no_click(project):
    modules, proc = imported("--version", cwd=project.root)
    assert proc.returncode == 0 and proc.stdout.startswith("cronplus ")
    assert {m for m in modules if m.split(".")[0] in ("cronplus", "click")} == {
        "cronplus",
        "cronplus.cli",
    }
    assert forbidden(modules) == []
