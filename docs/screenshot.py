"""Draw docs/web-overview.png, the README's picture of `cronplus web`'s `/`.

A small jobs file and the last 24 hours of its runs (recorded through the store, as
the daemon records them), served by a real `cronplus web` and photographed by
headless Chromium (Debian's chromium and chromium-driver, selenium):

    python docs/screenshot.py [OUT.png]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from cronplus.model import Attempt, AttemptResult, Claim, RunEnd, RunStatus, Trigger  # noqa: E402
from cronplus.paths import StatePaths  # noqa: E402
from cronplus.store import open_store  # noqa: E402

JOBS = """\
[defaults]
timezone = "UTC"

[jobs.backup]
schedule = "30 2 * * *"
command = "pg_dump shop > /srv/backup/shop.sql"

[jobs.sync_crm]
schedule = "*/15 * * * *"
command = "python sync_crm.py"

[jobs.extract]
schedule = "0 */2 * * *"
command = "python extract.py"

[jobs.load]
after = ["extract"]
command = "python load.py"

[jobs.report]
after = ["load"]
command = "python report.py"

[jobs.rotate_logs]
schedule = "0 * * * *"
command = "logrotate /etc/logrotate.d/app"
"""


def record(store, job: str, when: datetime, status: RunStatus, logs: Path) -> None:
    if status in (RunStatus.SKIPPED, RunStatus.UPSTREAM_FAILED):
        reason = "load did not succeed" if status is RunStatus.UPSTREAM_FAILED else "paused"
        claim = Claim(owner=None, now=when, status=status, reason=reason)
        store.claim_run(job, when, Trigger.SCHEDULE, claim)
        return
    run = store.claim_run(job, when, Trigger.SCHEDULE, Claim(owner=os.getpid(), now=when))
    log = logs / job / f"{run.id}-1.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text(f"{job}: starting\n{job}: done\n")
    store.begin_attempt(run.id, Attempt(1, when, log=str(log)), owner=os.getpid())
    end = when + timedelta(seconds=42)
    failed = status is not RunStatus.SUCCEEDED
    result = AttemptResult(status, when, end, exit_code=1 if failed else 0, signal=None)
    store.finish_attempt(run.id, 1, result)
    store.finish_run(run.id, RunEnd(status, "exit code 1" if failed else None, end))


def build(root: Path, now: datetime) -> None:
    (root / "jobs.toml").write_text(JOBS)
    paths = StatePaths(root / "state")
    store = open_store(paths)
    down = (now - timedelta(hours=9), now - timedelta(hours=7, minutes=50))  # a reboot
    t = (now - timedelta(hours=24)).replace(minute=0, second=0, microsecond=0)
    while t < now - timedelta(minutes=1):
        if not down[0] <= t < down[1]:
            _fire(store, t, paths.root / "logs")
        t += timedelta(minutes=15)
    store.close()


def _fire(store, t: datetime, logs: Path) -> None:
    ok, failed = RunStatus.SUCCEEDED, RunStatus.FAILED
    record(store, "sync_crm", t, failed if t.hour == 4 and t.minute == 30 else ok, logs)
    if t.minute == 0:
        record(store, "rotate_logs", t, ok, logs)
    if t.minute == 0 and t.hour % 2 == 0:
        record(store, "extract", t, ok, logs)
        bad_load = t.hour == 6
        record(store, "load", t, failed if bad_load else ok, logs)
        record(store, "report", t, RunStatus.UPSTREAM_FAILED if bad_load else ok, logs)
    if t.hour == 2 and t.minute == 30:
        record(store, "backup", t, ok, logs)


def main() -> None:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    out = Path(sys.argv[1] if len(sys.argv) > 1 else REPO / "docs" / "web-overview.png")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        build(root, datetime.now(UTC))
        server = subprocess.Popen(
            [sys.executable, "-m", "cronplus", "--state", "state", "web", "--port", "0"],
            cwd=root,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = server.stdout.readline().decode().split("serving ", 1)[1].strip()
            options = webdriver.ChromeOptions()
            options.binary_location = "/usr/bin/chromium"
            for arg in ("--headless=new", "--no-sandbox", "--window-size=1200,900"):
                options.add_argument(arg)
            driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
            try:
                driver.get(url)
                driver.save_screenshot(str(out))
            finally:
                driver.quit()
        finally:
            server.terminate()
            server.wait()
    print(f"wrote {out}")  # noqa: T201 (a script)


if __name__ == "__main__":
    main()
