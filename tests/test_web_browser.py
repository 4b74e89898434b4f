"""cronplus web as a browser meets it: nothing fetched from anywhere but the server,
the --allow-trigger forms working from the server's own pages, and refused from
another site's."""

from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

JOBS = """
[jobs.extract]
schedule = "0 3 * * *"
command = "echo extracted"

[jobs.load]
after = ["extract"]
command = "echo loaded"
"""


def requested_urls(browser) -> list[str]:
    """Every URL the browser asked for since the last call (Chromium's performance log)."""
    urls = []
    for entry in browser.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        if message["method"] == "Network.requestWillBeSent":
            urls.append(message["params"]["request"]["url"])
    return urls


def test_no_page_makes_the_browser_fetch_anything_from_anywhere_else(project, cli, web, browser):
    project.write(JOBS)
    assert cli("trigger", "extract", "--wait").exit_code == 0
    server = web()
    browser.get_log("performance")  # drop what earlier tests left
    pages = ["/", "/graph", "/ledger", "/jobs/extract", "/runs/1", "/runs/1/attempts/1/log"]
    for path in pages:
        browser.get(server.url + path)
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script("return document.readyState") == "complete"
        )
    urls = requested_urls(browser)
    assert {server.url + p for p in pages} <= set(urls)
    assert server.url + "/static/app.css" in urls
    assert server.url + "/static/app.js" in urls
    # data: URLs travel nowhere (Chromium's own icon of the ledger's date picker is one).
    elsewhere = [u for u in urls if not u.startswith((server.url + "/", "data:"))]
    assert elsewhere == []


def status_json(cli) -> dict:
    result = cli("status", "--json")
    return {row["job"]: row for row in json.loads(result.output)}


def test_pause_resume_and_trigger_work_from_the_job_page(project, cli, web, browser):
    project.write(JOBS)
    server = web("--allow-trigger")
    browser.get(server.url + "/jobs/extract")

    def click_and_reload(action: str) -> None:
        """Post the form and wait for the page it answers: the same URL, a new page."""
        browser.execute_script("window.beforeThePost = true")  # gone once a page replaces it
        browser.find_element(By.CSS_SELECTOR, f'form[action$="/{action}"] button').click()
        WebDriverWait(browser, 10).until(
            lambda b: b.execute_script(
                "return window.beforeThePost === undefined && document.readyState === 'complete'"
            )
        )
        assert browser.current_url == server.url + "/jobs/extract"

    click_and_reload("pause")
    assert status_json(cli)["extract"]["paused_since"] is not None
    click_and_reload("resume")
    assert status_json(cli)["extract"]["paused_since"] is None

    browser.find_element(By.CSS_SELECTOR, 'form[action="/jobs/extract/trigger"] button').click()
    WebDriverWait(browser, 10).until(lambda b: "/runs/" in b.current_url)
    run_id = browser.current_url.rsplit("/", 1)[1]
    run = browser.find_element(By.CSS_SELECTOR, "#run")
    assert run.get_attribute("data-run-id") == run_id
    assert run.get_attribute("data-job") == "extract"
    assert run.get_attribute("data-trigger") == "manual"
    # The page follows the run to its end by itself (app.js), with no reload asked for.
    WebDriverWait(browser, 20).until(
        lambda b: (
            b.find_element(By.CSS_SELECTOR, "#run").get_attribute("data-status") == "succeeded"
        )
    )
    assert "extracted" in browser.find_element(By.CSS_SELECTOR, "pre#log").text


@pytest.fixture
def other_site(tmp_path: Path):
    """Another web site on loopback, whose page holds a form posting to cronplus."""
    root = tmp_path / "other-site"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            pass

    site = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    thread = threading.Thread(target=site.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{site.server_address[1]}"
    site.shutdown()
    site.server_close()


def test_a_form_on_another_site_cannot_pause_a_job(project, cli, web, browser, other_site):
    project.write(JOBS)
    server = web("--allow-trigger")
    # The attacker even knows the csrf token: the Origin alone refuses it.
    browser.get(server.url + "/jobs/extract")
    token = browser.find_element(By.CSS_SELECTOR, 'input[name="csrf_token"]').get_attribute("value")
    root, site_url = other_site
    (root / "evil.html").write_text(
        f'<!doctype html><form method="post" action="{server.url}/jobs/extract/pause">'
        f'<input type="hidden" name="csrf_token" value="{token}">'
        '<button id="go">win a prize</button></form>'
    )
    browser.get(site_url + "/evil.html")
    browser.find_element(By.ID, "go").click()
    WebDriverWait(browser, 10).until(lambda b: b.current_url.startswith(server.url))
    assert "Refused" in browser.title
    assert status_json(cli)["extract"]["paused_since"] is None
