"""cronplus web end to end: a real server, a real Chromium."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

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


def test_the_server_never_loads_openssls_tls_library(project, web):
    """http.client (under wsgiref) imports ssl only to offer HTTPS: 4.6 MiB the plain
    HTTP server leaves out (`web._load_http_without_ssl`)."""
    project.write('[jobs.a]\nschedule = "@daily"\ncommand = "true"\n')
    server = web()
    for path in ("/", "/graph", "/ledger", "/api/status", "/jobs/a"):
        assert server.get(path)[0] == 200
    maps = Path(f"/proc/{server.proc.pid}/maps").read_text()
    assert "libssl" not in maps
    assert "/ssl." not in maps and "_ssl." not in maps


def test_checking_a_run_web_address_loads_no_crypto_into_the_daemon():
    """`run --web` checks its address in the daemon's process: hashlib, hmac and
    secrets (OpenSSL's libcrypto, 4 MiB) stay in the server's."""
    code = (
        "import sys\n"
        "from cronplus.web import check_exposure, parse_address, read_token\n"
        "host, port = parse_address('127.0.0.1:0')\n"
        "check_exposure(host, read_token(None), '--web')\n"
        "print(sorted(m for m in ('_hashlib', 'hmac', 'secrets', 'ssl') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"
