"""Deadlines on the web view (issue 15), in a real headless Chromium: the ledger says of
each fire time whether its deadline was met, missed or is ahead, in words, and marks
the row (`data-deadline`); `/api/status?on=DATE` carries the same field as
`status --on --json`."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from conftest import record
from selenium.webdriver.common.by import By

# As tests/test_deadline_status.py: a daily hour 12-13 h ago, its deadlines long passed.
LAST = (datetime.now(UTC) - timedelta(hours=12)).replace(minute=0, second=0, microsecond=0)
DAY = LAST.date().isoformat()
JOBS = f"""
[jobs.ontime]
schedule = "0 {LAST.hour} * * *"
timezone = "UTC"
deadline = "1m"
command = "true"

[jobs.late]
schedule = "0 {LAST.hour} * * *"
timezone = "UTC"
deadline = "5s"
command = "true"

[jobs.absent]
schedule = "0 {LAST.hour} * * *"
timezone = "UTC"
deadline = "30d"
command = "true"

[jobs.plain]
schedule = "0 {LAST.hour} * * *"
timezone = "UTC"
command = "true"
"""


def test_the_ledger_marks_a_missed_deadline_in_words(project, cli, web, browser):
    project.write(JOBS)
    store = project.store()
    for name in ("ontime", "late", "plain"):
        record(store, name, LAST, "succeeded")  # ends 10 s after its logical time
    store.close()
    server = web()
    browser.get(f"{server.url}/ledger?date={DAY}&job=late")
    row = browser.find_element(By.CSS_SELECTOR, "table#ledger tr[data-deadline]")
    assert row.get_attribute("data-deadline") == "missed"
    assert row.get_attribute("data-job") == "late"
    # The word is in the row's text, not only in its colour or an attribute.
    assert "missed (due by" in row.text
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table#ledger thead th")]
    assert headers[3] == "Deadline"

    browser.get(f"{server.url}/ledger?date={DAY}")
    marks = browser.execute_script(
        "return Object.fromEntries([...document.querySelectorAll('table#ledger tr[data-time]')]"
        ".map(tr => [tr.dataset.job, tr.dataset.deadline ?? null]));"
    )
    assert marks == {"ontime": "met", "late": "missed", "absent": "ahead", "plain": None}
    plain = browser.find_element(By.CSS_SELECTOR, 'tr[data-job="plain"]')
    assert plain.find_elements(By.TAG_NAME, "td")[2].text == "-"  # its Deadline cell

    # /api/status?on=DATE serves status --on --json, deadlines and all.
    status, _, body = server.get(f"/api/status?on={DAY}")
    assert status == 200
    api = json.loads(body)
    assert api == json.loads(cli("status", "--on", DAY, "--json").stdout)
    deadlines = {r["job"]: r["by_fire_time"][0]["deadline"]["met"] for r in api}
    assert deadlines == {"ontime": True, "late": False, "absent": None, "plain": None}


def test_a_ledger_without_deadlines_has_no_deadline_column(project, web, browser):
    project.write(JOBS.replace('deadline = "1m"\n', "").split("[jobs.late]")[0])
    server = web()
    browser.get(f"{server.url}/ledger?date={DAY}")
    headers = [th.text for th in browser.find_elements(By.CSS_SELECTOR, "table#ledger thead th")]
    assert "Deadline" not in headers
    assert not browser.find_elements(By.CSS_SELECTOR, "tr[data-deadline]")
