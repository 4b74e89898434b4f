"""cronplus web end to end: a real server, a real Chromium."""

from __future__ import annotations

from selenium.webdriver.common.by import By


def test_the_overview_lists_every_job_in_file_order_in_a_real_browser(project, cli, web, browser):
    project.write(
        """
        [jobs.zeta]
        schedule = "@daily"
        command = "true"

        [jobs.alpha]
        schedule = "@hourly"
        command = "true"
        """
    )
    server = web()
    browser.get(server.url + "/")
    rows = browser.find_elements(By.CSS_SELECTOR, "table#overview tr[data-job]")
    assert [r.get_attribute("data-job") for r in rows] == ["zeta", "alpha"]
    assert browser.find_element(By.CSS_SELECTOR, "main#main")
