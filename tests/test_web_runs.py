"""`/jobs/NAME`, `/runs/ID` and the raw log of `cronplus web`, in real headless Chromium
over a real server and a CLI-made state (issue 13: Pages, Precise points)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from conftest import record, wait_until
from selenium.common.exceptions import NoAlertPresentException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from cronplus.model import Trigger

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def css(browser, selector):
    return browser.find_elements(By.CSS_SELECTOR, selector)


def attr(elements, name):
    return [e.get_attribute(name) for e in elements]


def run_id_of(cli, job: str) -> int:
    return json.loads(cli("history", job, "--limit", "1", "--json").stdout)[0]["id"]


# -- /jobs/NAME ---------------------------------------------------------------------------------


def test_job_page_shows_schedule_next_fire_times_and_history_newest_first(
    project, cli, web, browser
):
    project.write(
        """
        [jobs.load]
        schedule = "0 3 * * *"
        timezone = "Europe/Paris"
        description = "loads the night's files"
        command = "true"
        env = { API_KEY = "hunter2-value", REGION = "eu-west-value" }
        """
    )
    store = project.store()
    statuses = ["succeeded", "failed", "timed_out", "skipped", "upstream_failed"]
    for i in range(25):
        record(
            store, "load", T0 + timedelta(days=i), statuses[i % 5], exits=(0 if i % 5 == 0 else 1,)
        )
    store.close()
    server = web()
    browser.get(server.url + "/jobs/load")
    text = browser.find_element(By.CSS_SELECTOR, "main#main").text
    assert "0 3 * * *" in text and "Europe/Paris" in text and "loads the night's files" in text
    assert "API_KEY" in text and "REGION" in text
    assert "hunter2" not in browser.page_source and "eu-west-value" not in browser.page_source

    times = attr(css(browser, "ol#next-fire-times time[datetime]"), "datetime")
    expected = json.loads(cli("next", "load", "-n", "10", "--json").stdout)[0]["fire_times"]
    assert times == expected and len(times) == 10

    rows = css(browser, "table#history tr[data-run-id][data-status][data-trigger]")
    assert len(rows) == 20  # the default limit, as `cronplus history`
    history = json.loads(cli("history", "load", "--json").stdout)
    assert attr(rows, "data-run-id") == [str(r["id"]) for r in history]
    assert attr(rows, "data-status") == [r["status"] for r in history]
    assert set(attr(rows, "data-trigger")) == {"schedule"}
    first_time = rows[0].find_element(By.CSS_SELECTOR, "time").get_attribute("datetime")
    assert first_time == history[0]["scheduled_for"]  # the job's offset, as in the JSON
    link = rows[0].find_element(By.CSS_SELECTOR, "a")
    assert link.get_attribute("href") == f"{server.url}/runs/{history[0]['id']}"


def test_history_filter_by_status_trigger_dates_in_the_jobs_zone_and_limit(
    project, cli, web, browser
):
    project.write(
        """
        [jobs.load]
        schedule = "30 0 * * *"
        timezone = "Europe/Paris"
        command = "true"
        """
    )
    store = project.store()
    # 23:30 UTC on the 1st is 00:30 on the 2nd in Paris (UTC+1 in March).
    day1 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)
    runs = {
        "a": record(store, "load", day1 - timedelta(days=1), "succeeded"),  # Paris 2026-03-01
        "b": record(store, "load", day1, "failed", exits=(1,)),  # Paris 2026-03-02
        "c": record(store, "load", day1 + timedelta(days=1), "succeeded"),  # 2026-03-03
        "d": record(store, "load", day1 + timedelta(days=2), "failed", exits=(1,)),  # 03-04
        "e": record(store, "load", day1 + timedelta(hours=5), "failed", trigger=Trigger.MANUAL),
    }
    store.close()
    ids = {k: str(r.id) for k, r in runs.items()}
    server = web()

    def shown(query: str) -> list[str]:
        browser.get(f"{server.url}/jobs/load?{query}")
        return attr(css(browser, "table#history tr[data-run-id]"), "data-run-id")

    assert shown("") == [ids[k] for k in "dceba"]
    assert shown("since=2026-03-02&until=2026-03-03") == [ids[k] for k in "ceb"]
    assert shown("until=2026-03-01") == [ids["a"]]
    assert shown("since=2026-03-04") == [ids["d"]]
    assert shown("status=failed&trigger=schedule") == [ids["d"], ids["b"]]
    assert shown("trigger=manual") == [ids["e"]]
    assert shown("status=failed&limit=2") == [ids["d"], ids["e"]]
    assert shown("status=interrupted") == []
    assert css(browser, "#history-empty")

    # The form itself: choose a status, submit with the keyboard; the URL says it.
    browser.get(f"{server.url}/jobs/load")
    form = browser.find_element(By.CSS_SELECTOR, "form#history-filter")
    assert form.get_attribute("method") == "get"
    form.find_element(By.CSS_SELECTOR, "select[name=status] option[value=failed]").click()
    form.find_element(By.CSS_SELECTOR, "input[name=limit]").send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: "status=failed" in b.current_url)
    assert attr(css(browser, "table#history tr[data-run-id]"), "data-status") == ["failed"] * 3
    chosen = browser.find_element(By.CSS_SELECTOR, "select[name=status] option:checked")
    assert chosen.get_attribute("value") == "failed"


def test_the_history_filter_is_one_indexed_read_whatever_it_asks(project):
    """Filtering in SQL, through UNIQUE (job, logical time): a filter that matches
    nothing in a long history reads no run at all, never a scan of `runs`."""
    import sqlite3

    from conftest import traced_statements
    from test_query_plans import _ON_RUNS, full_scans

    from cronplus.model import RunStatus
    from cronplus.web.pages.job import filtered_runs, parse_filter

    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "true"\n')
    store = project.store()
    for i in range(30):
        record(store, "load", T0 + timedelta(days=i), "failed" if i % 3 else "succeeded")
    store.close()
    asks = [
        ({}, 20),
        ({"status": "failed", "limit": "5"}, 5),
        ({"status": "queued"}, 0),
        ({"trigger": "manual"}, 0),
        ({"since": "2026-03-05", "until": "2026-03-06", "status": "succeeded"}, 0),
        ({"since": "2026-03-04", "until": "2026-03-04"}, 1),
        ({"until": "2026-03-10"}, 10),
    ]
    with traced_statements() as issued:
        store = project.store()
        for query, count in asks:
            runs = filtered_runs(store, "load", "UTC", parse_filter(query))
            assert len(runs) == count, query
            if "status" in query:
                assert {r.status for r in runs} <= {RunStatus(query["status"])}
        store.close()
    reads = [s for s in issued if s.startswith("SELECT") and _ON_RUNS.search(s)]
    assert len(reads) >= len(asks)
    conn = sqlite3.connect(project.state / "state.db")
    for sql in reads:
        assert full_scans(conn, sql) == [], sql


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("status=done", 'status "done" is not one of: queued, running, succeeded'),
        ("trigger=cron", 'trigger "cron" is not one of: schedule, manual'),
        ("since=yesterday", 'since "yesterday" is not a date (use YYYY-MM-DD)'),
        ("until=2026-13-01", 'until "2026-13-01" is not a date'),
        ("since=2026-03-05&until=2026-03-01", "since 2026-03-05 is after until 2026-03-01"),
        ("limit=many", 'limit "many" is not a whole number'),
        ("limit=0", "limit 0 is less than 1"),
    ],
)
def test_a_bad_history_filter_answers_400_saying_why(project, web, query, words):
    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "true"\n')
    status, headers, body = web().get(f"/jobs/load?{query}")
    assert status == 400, body
    assert words in body.decode().replace("&quot;", '"')


def test_a_removed_job_keeps_its_history_and_an_unknown_one_is_404(project, cli, web, browser):
    project.write('[jobs.old]\nschedule = "@daily"\ncommand = "true"\n')
    store = project.store()
    kept = record(store, "old", T0, "failed", exits=(2,))
    store.close()
    project.write('[jobs.new]\nschedule = "@daily"\ncommand = "true"\n')
    server = web()
    browser.get(server.url + "/jobs/old")
    rows = css(browser, "table#history tr[data-run-id]")
    assert attr(rows, "data-run-id") == [str(kept.id)]
    assert "no longer in the jobs file" in browser.find_element(By.CSS_SELECTOR, "main").text
    assert server.get("/jobs/nothing")[0] == 404
    assert server.get("/jobs/new")[0] == 200


# -- /runs/ID -----------------------------------------------------------------------------------


def test_run_page_hooks_and_attempts_with_a_signal(project, web, browser):
    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "true"\n')
    store = project.store()
    run = record(store, "load", T0, "failed", exits=(1, None), signal="SIGKILL", reason="killed")
    store.close()
    server = web()
    browser.get(f"{server.url}/runs/{run.id}")
    box = browser.find_element(By.CSS_SELECTOR, "#run[data-run-id][data-job][data-status]")
    assert box.get_attribute("data-run-id") == str(run.id)
    assert box.get_attribute("data-job") == "load"
    assert box.get_attribute("data-status") == "failed"
    assert box.get_attribute("data-trigger") == "schedule"
    assert box.get_attribute("data-follow") is None  # over: nothing to follow
    rows = css(browser, "table#attempts tr[data-attempt]")
    assert attr(rows, "data-attempt") == ["1", "2"]
    assert attr(rows, "data-exit-code") == ["1", ""]  # the second was killed by a signal
    assert attr(rows, "data-signal") == [None, "SIGKILL"]
    assert "killed" in rows[1].text
    # The last attempt by default; its log is gone, and the page says so.
    assert "2" in browser.find_element(By.CSS_SELECTOR, "tr.shown").get_attribute("data-attempt")
    assert "gone" in browser.find_element(By.CSS_SELECTOR, "#log-missing").text
    assert not css(browser, "pre#log")
    browser.get(f"{server.url}/runs/{run.id}?attempt=1")
    assert css(browser, "tr.shown")[0].get_attribute("data-attempt") == "1"
    for path in (
        f"/runs/{run.id + 100}",
        "/runs/99999999999999999999999",
        f"/runs/{run.id}?attempt=3",
        f"/runs/{run.id}?attempt=0",
    ):
        assert server.get(path)[0] == 404, path
    assert server.get(f"/runs/{run.id}/attempts/2/log")[0] == 404  # gone
    assert server.get(f"/runs/{run.id}/attempts/3/log")[0] == 404
    assert server.get(f"/runs/{run.id}?attempt=x")[0] == 400


def test_a_big_log_shows_exactly_its_last_1000_lines_and_the_raw_log_reads_from_an_offset(
    project, cli, web, browser
):
    project.write(
        """
        [jobs.chatty]
        command = "seq 1 5000 | sed 's/^/line /'"
        """
    )
    assert cli("trigger", "chatty", "--wait").exit_code == 0
    run_id = run_id_of(cli, "chatty")
    server = web()
    browser.get(f"{server.url}/runs/{run_id}")
    pre = browser.find_element(By.CSS_SELECTOR, "pre#log")
    lines = pre.get_attribute("textContent").split("\n")
    assert lines[-1] == ""  # the log's final newline
    assert len(lines[:-1]) == 1000
    assert lines[0] == "line 4001" and lines[-2] == "line 5000"
    note = browser.find_element(By.CSS_SELECTOR, "#log-note")
    assert "Earlier lines" in note.text  # outside the pre
    raw = browser.find_element(By.CSS_SELECTOR, "a#log-raw")
    assert raw.get_attribute("href") == f"{server.url}/runs/{run_id}/attempts/1/log"

    log = Path(
        json.loads(cli("history", "chatty", "--json").stdout)[0]["attempt_details"][0]["log"]
    )
    data = log.read_bytes()
    status, headers, body = server.get(f"/runs/{run_id}/attempts/1/log")
    assert status == 200 and body == data
    assert headers["Content-Type"].startswith("text/plain")
    assert headers["Cache-Control"] == "no-store"
    status, headers, body = server.get(f"/runs/{run_id}/attempts/1/log?offset=1000")
    assert body == data[1000:] and headers["X-Next-Offset"] == str(len(data))
    assert server.get(f"/runs/{run_id}/attempts/1/log?offset={len(data) + 5}")[2] == b""
    for odd in ("-1", "%C2%B2", "%D9%A1%D9%A2", "9" * 5000):  # never a 500, never read
        assert server.get(f"/runs/{run_id}/attempts/1/log?offset={odd}")[0] == 400


def test_the_tail_is_read_from_the_end_of_a_huge_log(tmp_path):
    from cronplus.web._logs import TAIL_BYTES, read_range, tail

    path = tmp_path / "big.log"
    with open(path, "wb") as f:
        f.write(b"x" * 40_000_000 + b"\n")  # a 40 MB first line: never read
        f.write(b"".join(b"line %d\n" % i for i in range(1, 3001)))
    t = tail(str(path))
    assert t.lines == 1000 and t.text.startswith("line 2001\n") and t.text.endswith("line 3000\n")
    assert t.end == path.stat().st_size
    # Lines longer than the budget: at most TAIL_BYTES, from the first line starting in them.
    path.write_bytes(b"a" * 300_000 + b"\n" + b"b" * 100 + b"\n" + b"c" * 200_000)
    t = tail(str(path))
    assert t.text == "b" * 100 + "\n" + "c" * 200_000 and t.lines == 2
    path.write_bytes(b"c" * 300_000)  # one line longer than the budget: its end
    assert tail(str(path)).text == "c" * TAIL_BYTES
    # Not UTF-8: replaced; a character not fully written yet waits for the next read.
    path.write_bytes(b"\xffok\n" + "é".encode()[:1])
    assert tail(str(path)).text == "\ufffdok\n"
    assert read_range(str(path), 0) == ("\ufffdok\n", 4)
    # Once the attempt ended, no more bytes will come: the cut character is shown.
    assert tail(str(path), going=False).text == "\ufffdok\n\ufffd"
    assert read_range(str(path), 0, going=False) == ("\ufffdok\n\ufffd", 5)
    with open(path, "ab") as f:
        f.write("é".encode()[1:] + b"\n")
    assert read_range(str(path), 4) == ("é\n", 7)


def test_job_output_is_text_not_markup_and_bad_bytes_are_replaced(project, cli, web, browser):
    project.write(
        """
        [jobs.evil]
        command = "printf '<script>alert(1)</script>\\\\n<b>bold</b>\\\\n\\\\377ok\\\\n'"
        """
    )
    cli("trigger", "evil", "--wait")
    run_id = run_id_of(cli, "evil")
    server = web()
    browser.get(f"{server.url}/runs/{run_id}")
    pre = browser.find_element(By.CSS_SELECTOR, "pre#log")
    assert pre.get_attribute("textContent") == "<script>alert(1)</script>\n<b>bold</b>\n\ufffdok\n"
    assert not css(browser, "pre#log *")  # no element made of the output
    with pytest.raises(NoAlertPresentException):
        browser.switch_to.alert.text  # noqa: B018
    body = server.get(f"/runs/{run_id}/attempts/1/log")[2]
    assert body == "<script>alert(1)</script>\n<b>bold</b>\n\ufffdok\n".encode()


# -- following a running run ---------------------------------------------------------------------

WAITER = """
[jobs.slow]
command = "echo first; while [ ! -f go ]; do sleep 0.05; done; echo second"
"""


@pytest.fixture
def waiting_run(project, cli):
    """Start `start_waiting_run`; its job is let go at the end whatever the test did, so
    no job is left looping after a failed test."""
    yield lambda: start_waiting_run(project, cli)
    (project.root / "go").touch()


def start_waiting_run(project, cli) -> int:
    """A detached run that printed its first line and waits for the file `go`."""
    project.write(WAITER)
    result = cli("trigger", "slow")
    assert result.exit_code == 0, result.output
    run_id = int(re.search(r"\d+", result.stdout).group())

    def first_line_written():
        out = cli("history", "slow", "--json").stdout
        runs = json.loads(out) if out.strip() else []
        details = runs[0]["attempt_details"] if runs else []
        log = Path(details[0]["log"]) if details else None
        return log is not None and log.exists() and log.read_text() == "first\n"

    wait_until(first_line_written, timeout=20)
    return run_id


def test_a_running_runs_page_follows_its_output_and_status_without_reload(
    project, cli, web, browser, waiting_run
):
    run_id = waiting_run()
    server = web()
    browser.get_log("browser")  # drop what earlier tests left
    browser.get(f"{server.url}/runs/{run_id}")
    box = browser.find_element(By.CSS_SELECTOR, "#run")
    assert box.get_attribute("data-status") == "running"
    assert box.get_attribute("data-follow") == "1"
    assert (
        browser.find_element(By.CSS_SELECTOR, "pre#log").get_attribute("textContent") == "first\n"
    )
    browser.execute_script("window.cronplusMark = 42;")
    (project.root / "go").touch()
    WebDriverWait(browser, 20).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "succeeded"
        )
    )
    pre = browser.find_element(By.CSS_SELECTOR, "pre#log")
    assert pre.get_attribute("textContent") == "first\nsecond\n"
    assert browser.execute_script("return window.cronplusMark") == 42  # never reloaded
    word = browser.find_element(By.CSS_SELECTOR, "#run-status .status")
    assert word.get_attribute("data-status") == "succeeded" and "succeeded" in word.text
    row = browser.find_element(By.CSS_SELECTOR, "#attempts tr[data-attempt='1']")
    assert row.get_attribute("data-exit-code") == "0"
    logged = browser.get_log("browser")
    errors = [e["message"] for e in logged if e["level"] == "SEVERE"]
    assert [e for e in errors if "favicon.ico" not in e] == []  # no script error, no CSP refusal


def test_follow_1_reloads_the_page_without_any_script_while_the_run_goes(
    project, cli, web, browser, waiting_run
):
    run_id = waiting_run()
    server = web()
    status, headers, _ = server.get(f"/runs/{run_id}?follow=1")
    assert headers.get("Refresh") == "2"
    assert "Refresh" not in server.get(f"/runs/{run_id}")[1]  # the script follows instead
    browser.get(f"{server.url}/runs/{run_id}?follow=1")
    assert browser.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-follow") is None
    browser.execute_script("window.cronplusMark = 42;")
    (project.root / "go").touch()
    WebDriverWait(browser, 20).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "succeeded"
        )
    )
    assert browser.execute_script("return window.cronplusMark") is None  # loaded again
    pre = browser.find_element(By.CSS_SELECTOR, "pre#log")
    assert pre.get_attribute("textContent") == "first\nsecond\n"
    assert "Refresh" not in server.get(f"/runs/{run_id}?follow=1")[1]  # over: no more


# -- keyboard -----------------------------------------------------------------------------------


def tab_through(browser, most: int = 40) -> list[str]:
    """What Tab focuses from the top of the page to its end (each element's id, name or
    text), checking each one shows a focus ring."""
    browser.execute_script("document.activeElement.blur(); window.scrollTo(0, 0);")
    seen = []
    for _ in range(most):
        browser.switch_to.active_element.send_keys(Keys.TAB)
        el = browser.switch_to.active_element
        if el.tag_name == "body":
            return seen
        style = "return getComputedStyle(arguments[0]).outlineStyle"
        outline = browser.execute_script(style, el)
        assert outline != "none", el.get_attribute("outerHTML")[:80]  # a visible focus ring
        seen.append(el.get_attribute("id") or el.get_attribute("name") or el.text)
    raise AssertionError(f"Tab never left the page: {seen}")


def test_tab_reaches_the_skip_link_first_then_links_forms_and_the_log(project, cli, web, browser):
    project.write('[jobs.load]\nschedule = "@daily"\ncommand = "echo hi"\n')
    cli("trigger", "load", "--wait")
    run_id = run_id_of(cli, "load")
    server = web()
    browser.get(f"{server.url}/jobs/load")
    seen = tab_through(browser)
    order = ["status", "trigger", "since", "until", "limit", "Filter", str(run_id)]
    nav = ["Skip to content", "Last 24 hours", "Graph", "Ledger", "Pools"]
    assert seen == [*nav, *order], seen
    browser.get(f"{server.url}/runs/{run_id}")
    seen = tab_through(browser)
    assert seen[:6] == [*nav, "load"], seen
    assert seen[6:] == ["1", "log-raw", "log"], seen  # the attempt, the raw log, the log


def test_the_raw_log_is_streamed_never_whole_in_the_servers_memory(project, cli, web):
    """dagu's trap (a 216 MB log loaded whole): the raw log goes out a chunk at a time."""
    project.write(
        """
        [jobs.chatty]
        command = "echo small"
        """
    )
    assert cli("trigger", "chatty", "--wait").exit_code == 0
    run_id = run_id_of(cli, "chatty")
    log = Path(
        json.loads(cli("history", "chatty", "--json").stdout)[0]["attempt_details"][0]["log"]
    )
    line = "é log line that goes on for a while, then ends\n".encode()
    with open(log, "wb") as f:
        for _ in range(80 * 1024 * 1024 // (len(line) * 4096)):
            f.write(line * 4096)
    size = log.stat().st_size
    server = web()

    def rss_kib() -> int:
        status = Path(f"/proc/{server.proc.pid}/status").read_text()
        return int(next(s for s in status.splitlines() if s.startswith("VmRSS")).split()[1])

    assert server.get("/")[0] == 200
    before = rss_kib()
    status, headers, body = server.get(f"/runs/{run_id}/attempts/1/log")
    grown_mib = (rss_kib() - before) / 1024
    assert status == 200 and len(body) == size and body[: len(line)] == line
    assert headers["X-Next-Offset"] == str(size)
    assert grown_mib < 16, f"serving an {size >> 20} MiB log grew the server by {grown_mib:.0f} MiB"


def test_a_character_cut_by_a_chunk_comes_out_whole(tmp_path, monkeypatch):
    from cronplus.web import _logs

    monkeypatch.setattr(_logs, "CHUNK", 3)
    path = tmp_path / "x.log"
    path.write_bytes(b"a" + "é€".encode() + b"\xff!")  # é and € each cut by a chunk
    stream, end = _logs.open_range(str(path))
    assert b"".join(stream).decode() == "aé€\ufffd!" and end == path.stat().st_size


def test_a_log_that_begins_with_an_empty_line_keeps_it(project, cli, web, browser):
    """An HTML parser drops one newline right after <pre>: the page writes one more."""
    project.write(
        """
        [jobs.spaced]
        command = "printf '\\nhello\\n'"
        """
    )
    assert cli("trigger", "spaced", "--wait").exit_code == 0
    server = web()
    browser.get(f"{server.url}/runs/{run_id_of(cli, 'spaced')}")
    pre = browser.find_element(By.CSS_SELECTOR, "pre#log")
    assert pre.get_attribute("textContent") == "\nhello\n"
