"""`/pools` in real headless Chromium over a real `cronplus web` (issue 15): reached from
every page's navigation, `table#pools` with one `tr[data-pool]` per pool in the order
`pools --json` lists them, holders and waiting runs linked to their run pages;
`/api/pools` is `pools --json`."""

from __future__ import annotations

import json

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from test_pools_view import busy_warehouse


def loaded(browser) -> None:
    WebDriverWait(browser, 10).until(
        lambda b: b.execute_script("return document.readyState") == "complete"
    )


def test_pools_page_shows_holders_and_the_line_linked_to_their_runs(project, cli, web, browser):
    a, b, c, d, e = busy_warehouse(project)
    server = web()
    browser.get(server.url + "/")
    loaded(browser)
    browser.find_element(By.CSS_SELECTOR, 'nav a[href="/pools"]').click()
    loaded(browser)
    assert browser.current_url == server.url + "/pools"
    rows = browser.find_elements(By.CSS_SELECTOR, "table#pools tbody tr[data-pool]")
    assert [r.get_attribute("data-pool") for r in rows] == ["warehouse", "api"]
    warehouse, api = rows
    assert warehouse.get_attribute("data-in-use") == "2"
    holders = warehouse.find_elements(By.CSS_SELECTOR, "ul.holders li a")
    assert [h.get_attribute("href") for h in holders] == [
        f"{server.url}/runs/{a.id}",
        f"{server.url}/runs/{b.id}",
    ]
    assert "h1 pid" in holders[0].find_element(By.XPATH, "..").text
    waiting = warehouse.find_elements(By.CSS_SELECTOR, "ol.waiting li")
    assert [int(w.get_attribute("data-run-id")) for w in waiting] == [e.id, c.id, d.id]
    assert api.find_elements(By.CSS_SELECTOR, "li") == []
    assert "none" in api.text
    waiting[0].find_element(By.TAG_NAME, "a").click()  # the next run served: its page
    loaded(browser)
    assert browser.current_url == f"{server.url}/runs/{e.id}"
    assert "queued" in browser.find_element(By.ID, "main").text
    status, _, body = server.get("/api/pools")
    assert status == 200
    assert json.loads(body) == json.loads(cli("pools", "--json").output)


def test_pools_page_without_pools_says_so(project, web, browser):
    project.write('[jobs.a]\nschedule = "@daily"\ncommand = "true"\n')
    server = web()
    browser.get(server.url + "/pools")
    loaded(browser)
    assert browser.find_elements(By.ID, "pools") == []
    assert "has no [pools] table" in browser.find_element(By.ID, "main").text
    assert json.loads(server.get("/api/pools")[2]) == []


def test_pools_is_behind_the_guard(project, web):
    busy_warehouse(project)
    server = web(env={"CRONPLUS_WEB_TOKEN": "s3cret"})
    for path in ("/pools", "/api/pools"):
        assert server.get(path)[0] == 401, path
        assert server.get(path, {"Authorization": "Bearer s3cret"})[0] == 200, path
