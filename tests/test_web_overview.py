"""`/` and `/ledger` of `cronplus web` in a real headless Chromium: the hooks issue 13
names, the buckets, #problems, the ledger against `status --on --json`, the keyboard,
and the glyphs' shapes and contrast as the browser draws them."""

from __future__ import annotations

import json
import re
import struct
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from conftest import record
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from cronplus.model import Claim, Trigger

CSS = Path(__file__).resolve().parent.parent / "cronplus" / "web" / "static" / "app.css"
BERLIN = ZoneInfo("Europe/Berlin")


def cells_of(browser, job: str) -> list[dict[str, str | None]]:
    """Each cell of a job's row: its data-* attributes and its link."""
    return browser.execute_script(
        """
        return [...document.querySelectorAll(`tr[data-job="${arguments[0]}"] ol.cells > li`)]
          .map(li => ({...li.dataset, href: li.querySelector('a')?.getAttribute('href') ?? null,
                       label: li.querySelector('a')?.getAttribute('aria-label') ?? null}));
        """,
        job,
    )


def ago(**kw) -> datetime:
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(**kw)


def test_each_job_has_its_runs_and_fire_times_without_a_run_oldest_first(
    project, cli, web, browser
):
    project.write(
        """
        [jobs.hourly]
        schedule = "0 * * * *"
        timezone = "Europe/Berlin"
        command = "true"

        [jobs.adhoc]
        command = "true"

        [jobs.after_hourly]
        after = ["hourly"]
        command = "true"
        """
    )
    store = project.store()
    top = ago().replace(minute=0)
    ok = record(store, "hourly", top - timedelta(hours=2), "succeeded")
    bad = record(store, "hourly", top - timedelta(hours=1), "failed", exits=(3,))
    by_hand = record(
        store, "hourly", top - timedelta(minutes=90), "succeeded", trigger=Trigger.MANUAL
    )
    record(store, "hourly", top - timedelta(hours=30), "failed")  # before the window
    store.close()
    server = web()
    browser.get(server.url + "/")

    rows = browser.find_elements(By.CSS_SELECTOR, "table#overview tr[data-job]")
    assert [r.get_attribute("data-job") for r in rows] == ["hourly", "adhoc", "after_hourly"]
    assert [r.get_attribute("data-last-status") for r in rows] == ["failed", "", ""]
    nxt = rows[0].find_element(By.CSS_SELECTOR, "time.next").get_attribute("datetime")
    nxt_at = datetime.fromisoformat(nxt)
    assert nxt_at.utcoffset() == nxt_at.astimezone(BERLIN).utcoffset()  # the job's zone
    assert nxt_at > datetime.now(UTC) and nxt_at.minute == 0
    assert not rows[1].find_elements(By.CSS_SELECTOR, "time.next")  # triggered only
    assert browser.find_element(By.ID, "daemon").get_attribute("data-running") == "false"

    cells = cells_of(browser, "hourly")
    times = [datetime.fromisoformat(c["time"]) for c in cells]
    assert times == sorted(times)
    assert all(t.utcoffset() == t.astimezone(BERLIN).utcoffset() for t in times)
    assert times[0] >= datetime.now(UTC) - timedelta(hours=24, minutes=1)
    runs = {c["runId"]: c for c in cells if "runId" in c}
    assert set(runs) == {str(ok.id), str(bad.id), str(by_hand.id)}
    assert runs[str(bad.id)]["status"] == "failed"
    assert runs[str(bad.id)]["href"] == f"/runs/{bad.id}"
    assert runs[str(by_hand.id)]["trigger"] == "manual"
    assert runs[str(ok.id)]["trigger"] == "schedule"
    assert runs[str(bad.id)]["label"].startswith("failed ")
    no_run = [c for c in cells if "runId" not in c]
    assert {c["status"] for c in no_run} == {"no_run"}
    # 24 hourly fire times in the window, 2 of them with a run; plus the manual run.
    assert len(no_run) == 22 and len(cells) == 25
    for c in no_run:
        day = datetime.fromisoformat(c["time"]).date().isoformat()
        assert c["href"] == f"/ledger?date={day}"
    # The pipeline's job has the pipeline's fire times, none run.
    assert {c["status"] for c in cells_of(browser, "after_hourly")} == {"no_run"}
    assert cells_of(browser, "adhoc") == []

    problems = browser.find_elements(By.CSS_SELECTOR, "#problems [data-run-id]")
    assert [p.get_attribute("data-run-id") for p in problems] == [str(bad.id)]
    link = problems[0].find_element(By.CSS_SELECTOR, "a").get_attribute("href")
    assert urlsplit(link).path == f"/runs/{bad.id}"


def test_more_than_96_cells_fold_into_96_buckets_with_the_worst_inside(project, web, browser):
    project.write(
        """
        [jobs.minutely]
        schedule = "* * * * *"
        command = "true"
        """
    )
    store = project.store()
    failed = record(store, "minutely", ago(minutes=30), "failed")
    record(store, "minutely", ago(minutes=31), "succeeded")
    record(store, "minutely", ago(minutes=60), "succeeded")
    record(store, "minutely", ago(minutes=62), "succeeded")
    store.close()
    server = web()
    browser.get(server.url + "/?hours=2")

    buckets = cells_of(browser, "minutely")
    assert len(buckets) == 96
    start = datetime.fromisoformat(buckets[0]["time"])
    span = timedelta(hours=2) / 96
    assert [datetime.fromisoformat(b["time"]) for b in buckets] == [
        start + span * i for i in range(96)
    ]
    end = start + timedelta(hours=2)
    first = start.replace(second=0, microsecond=0) + timedelta(minutes=start.second > 0)
    fire_times = [first + timedelta(minutes=i) for i in range(200)]
    fire_times = [t for t in fire_times if t <= end]
    assert sum(int(b["count"]) for b in buckets) == len(fire_times)  # one cell each

    def bucket_of(t: datetime) -> dict:
        return buckets[min(95, int((t - start) / span))]

    worst = bucket_of(failed.scheduled_for)
    assert worst["status"] == "failed"
    assert worst["href"] == f"/ledger?date={worst['time'][:10]}"
    assert worst["label"].startswith("worst failed, ")
    # A bucket (75 s) holds one or two fire times; beside a run that succeeded, a fire
    # time with no run is the worse. Of the runs two minutes apart, one is alone.
    assert bucket_of(ago(minutes=90))["status"] == "no_run"
    alone = 0
    for t in (ago(minutes=60), ago(minutes=62)):
        b = bucket_of(t)
        assert b["status"] == ("succeeded" if b["count"] == "1" else "no_run")
        alone += b["count"] == "1"
    assert alone >= 1
    assert all("runId" not in b for b in buckets)


def test_problems_cover_every_job_across_pages(project, web, browser):
    names = [f"job_{i:02d}" for i in range(55)]
    project.write("".join(f'[jobs.{n}]\nschedule = "@daily"\ncommand = "true"\n' for n in names))
    store = project.store()
    last = record(store, "job_54", ago(hours=3), "timed_out", exits=(None,), signal="SIGTERM")
    gone = record(store, "job_00", ago(hours=2), "upstream_failed")
    cut = record(store, "job_01", ago(hours=1), "interrupted")
    record(store, "job_02", ago(hours=1), "succeeded")
    record(store, "job_03", ago(hours=30), "failed")  # ended before the window
    skipped = record(store, "job_04", ago(hours=1), "skipped")
    store.close()
    server = web()
    browser.get(server.url + "/")

    shown = browser.find_elements(By.CSS_SELECTOR, "table#overview tr[data-job]")
    assert len(shown) == 50  # a page of jobs
    problems = browser.find_elements(By.CSS_SELECTOR, "#problems [data-run-id]")
    assert {p.get_attribute("data-run-id") for p in problems} == {
        str(last.id),
        str(gone.id),
        str(cut.id),
    }
    assert str(skipped.id) not in {p.get_attribute("data-run-id") for p in problems}
    browser.find_element(By.CSS_SELECTOR, "nav.pager a[rel=next]").click()
    rows = browser.find_elements(By.CSS_SELECTOR, "table#overview tr[data-job]")
    assert [r.get_attribute("data-job") for r in rows] == names[50:]
    assert len(browser.find_elements(By.CSS_SELECTOR, "#problems [data-run-id]")) == 3

    status, _, body = server.get("/?hours=0")
    assert status == 400 and b"hours &quot;0&quot; must be a whole number" in body
    assert server.get("/?page=3")[0] == 400


def test_problems_show_the_50_that_ended_last_and_every_one_on_asking(project, web):
    project.write('[jobs.flaky]\nschedule = "* * * * *"\ncommand = "false"\n')
    store = project.store()
    ids = [record(store, "flaky", ago(minutes=m), "failed").id for m in range(60, 0, -1)]
    store.close()
    server = web()

    def listed(query: str) -> list[int]:
        body = server.get(f"/{query}")[2].decode()
        problems = body[body.index('<ul id="problems">') :].split("</ul>")[0]
        return [int(i) for i in re.findall(r'<li data-run-id="([0-9]+)"', problems)]

    assert listed("") == ids[::-1][:50]  # the last to end first
    assert 'href="/?hours=24&amp;problems=all"' in server.get("/")[2].decode()
    assert listed("?problems=all") == ids[::-1]


def test_text_from_the_state_is_shown_as_text(project, web, browser):
    project.write('[jobs.load]\nschedule = "@hourly"\ncommand = "true"\n')
    store = project.store()
    evil = "<script>document.title='owned'</script><b>bold</b>"
    run = record(store, "load", ago(hours=1), "failed", reason=evil)
    store.close()
    server = web()
    for path in ("/", f"/ledger?date={run.scheduled_for.date().isoformat()}"):
        browser.get(server.url + path)
        assert "owned" not in browser.title
        assert not browser.find_elements(By.CSS_SELECTOR, "main b")
        assert evil in browser.find_element(By.ID, "main").text


def ledger_rows(browser) -> list[tuple[str, str, str, str | None]]:
    return [
        (r["job"], r["time"], r["status"], r.get("runId"))
        for r in browser.execute_script(
            "return [...document.querySelectorAll('table#ledger tr[data-job][data-time]')]"
            ".map(tr => ({...tr.dataset}));"
        )
    ]


def test_the_ledger_shows_status_on_as_its_json_does(project, cli, web, browser):
    project.write(
        """
        [jobs.quarter]
        schedule = "*/15 * * * *"
        timezone = "Asia/Kolkata"
        command = "true"

        [jobs.after_quarter]
        after = ["quarter"]
        command = "true"

        [jobs.adhoc]
        command = "true"
        """
    )
    kolkata = ZoneInfo("Asia/Kolkata")
    day = datetime.now(kolkata).date()
    midday = datetime.combine(day, datetime.min.time(), kolkata) + timedelta(hours=12)
    store = project.store()
    runs = [
        record(store, "quarter", midday - timedelta(hours=1), "succeeded"),
        record(store, "quarter", midday - timedelta(minutes=45), "failed"),
        record(store, "after_quarter", midday - timedelta(hours=1), "succeeded"),
        record(
            store, "quarter", midday + timedelta(minutes=7), "succeeded", trigger=Trigger.MANUAL
        ),
    ]
    store.close()
    result = cli("status", "--on", day.isoformat(), "--json")
    want = []
    for job in json.loads(result.stdout):
        got_run = {r["scheduled_for"] for r in job["runs"]}
        want += [(job["job"], r["scheduled_for"], r["status"], str(r["id"])) for r in job["runs"]]
        want += [(job["job"], t, "no_run", None) for t in job["no_run"]]
        later = [t for t in job["fire_times"] if t not in got_run and t not in job["no_run"]]
        want += [(job["job"], t, "not_yet_due", None) for t in later]
    server = web()
    browser.get(f"{server.url}/ledger?date={day.isoformat()}")
    got = ledger_rows(browser)
    assert Counter(got) == Counter(want)
    assert {r.id for r in runs} == {int(r[3]) for r in got if r[3]}
    assert len([r for r in got if r[0] == "quarter"]) == 96 + 1  # 96 fire times, 1 by hand
    # each job's rows in time order
    for job in ("quarter", "after_quarter"):
        times = [datetime.fromisoformat(r[1]) for r in got if r[0] == job]
        assert times == sorted(times)
    row = browser.find_element(By.CSS_SELECTOR, f'tr[data-run-id="{runs[3].id}"]')
    assert row.get_attribute("data-trigger") == "manual"
    assert browser.find_element(By.CSS_SELECTOR, 'tr[data-job="adhoc"]:not([data-time])')

    prev = browser.find_element(By.CSS_SELECTOR, "nav.days a[rel=prev]").get_attribute("href")
    assert prev.endswith(f"/ledger?date={(day - timedelta(days=1)).isoformat()}")
    picker = browser.find_element(By.CSS_SELECTOR, "form.day input[name=date]")
    assert picker.get_attribute("value") == day.isoformat()
    status, _, body = server.get("/ledger?date=2026-02-30")
    assert status == 400 and b"is not a date (use YYYY-MM-DD)" in body
    assert server.get("/ledger?date=yesterday")[0] == 400


def test_the_ledger_defaults_to_today_in_the_hosts_zone(project, web, browser):
    project.write('[jobs.load]\nschedule = "@hourly"\ncommand = "true"\n')
    # +14:00: its date differs from UTC's for 14 hours a day.
    server = web(env={"TZ": "Pacific/Kiritimati"})
    browser.get(server.url + "/ledger")
    today = datetime.now(ZoneInfo("Pacific/Kiritimati")).date().isoformat()
    picker = browser.find_element(By.CSS_SELECTOR, "form.day input[name=date]")
    assert picker.get_attribute("value") == today
    assert browser.find_element(By.TAG_NAME, "h1").text == f"Ledger of {today}"


def focused(browser) -> dict:
    return browser.execute_script(
        "const e = document.activeElement; const s = getComputedStyle(e);"
        "return {tag: e.tagName, cls: e.className, href: e.getAttribute('href'),"
        " cell: [...document.querySelectorAll('ol.cells a')].indexOf(e),"
        " outline: s.outlineStyle, width: parseFloat(s.outlineWidth)};"
    )


def test_tab_reaches_the_skip_link_then_the_navigation_then_every_cell_in_order(
    project, web, browser
):
    project.write(
        """
        [jobs.a]
        schedule = "*/30 * * * *"
        command = "true"

        [jobs.b]
        schedule = "*/20 * * * *"
        command = "true"
        """
    )
    store = project.store()
    record(store, "a", ago().replace(minute=0) - timedelta(minutes=30), "failed")
    store.close()
    server = web()
    browser.get(server.url + "/?hours=2")
    want = browser.execute_script(
        "return [...document.querySelectorAll('ol.cells a')]"
        ".map(a => a.getAttribute('aria-label'));"
    )
    assert len(want) >= 6
    seen = []
    for _ in range(len(want) + 20):
        ActionChains(browser).send_keys(Keys.TAB).perform()
        seen.append(focused(browser))
        if seen[-1]["cell"] == len(want) - 1:
            break
    assert seen[0]["cls"] == "skip" and seen[0]["href"] == "#main"
    assert [s["href"] for s in seen[1:4]] == ["/", "/graph", "/ledger"]
    assert [s["cell"] for s in seen if s["cell"] >= 0] == list(range(len(want)))
    for s in seen:
        assert s["outline"] == "solid" and s["width"] >= 2, s  # a visible focus ring


# -- the glyphs as Chromium draws them ----------------------------------------------------

STATUSES = (
    "succeeded",
    "failed",
    "timed_out",
    "upstream_failed",
    "interrupted",
    "skipped",
    "running",
    "queued",
    "no_run",
)


def rgb(css: str) -> tuple[float, ...]:
    inside = css[css.index("(") + 1 : css.index(")")].replace("/", ",")
    return tuple(float(p) for p in inside.replace(",", " ").split())


def luminance(c: tuple[float, ...]) -> float:
    def lin(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(v) for v in c[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


GLYPH_STYLE = """
const [el, pseudo] = arguments;
const s = getComputedStyle(el, pseudo);
let bg = 'rgba(0, 0, 0, 0)';
for (let e = el; e && bg.startsWith('rgba(0, 0, 0, 0') ; e = e.parentElement)
  bg = getComputedStyle(e).backgroundColor;
return {border: parseFloat(s.borderTopWidth), borderColor: s.borderTopColor,
        borderStyle: s.borderTopStyle, fill: s.backgroundColor, image: s.backgroundImage,
        radius: s.borderTopLeftRadius, clip: s.clipPath, transform: s.transform,
        width: s.width, height: s.height, row: bg};
"""


def glyphs_page(project, web, browser):
    project.write('[jobs.all]\nschedule = "* * * * *"\ncommand = "true"\n')
    store = project.store()
    for i, status in enumerate(STATUSES[:-2]):
        record(store, "all", ago(minutes=5 + i), status)
    store.claim_run("all", ago(minutes=20), Trigger.SCHEDULE, Claim(owner=1, now=ago(minutes=20)))
    store.close()
    server = web()
    browser.get(server.url + "/?hours=1")
    return server


def test_every_status_has_its_own_glyph_with_3_to_1_contrast(project, web, browser):
    server = glyphs_page(project, web, browser)
    styles = {}
    for status in STATUSES:
        link = browser.find_element(By.CSS_SELECTOR, f'ol.cells li[data-status="{status}"] > a')
        styles[status] = browser.execute_script(GLYPH_STYLE, link, "::before")
    browser.get(server.url + "/ledger")
    upcoming = browser.find_element(By.CSS_SELECTOR, ".glyph.g-not_yet_due")
    styles["not_yet_due"] = browser.execute_script(GLYPH_STYLE, upcoming, None)
    # The shape alone, without colours: no two statuses may be told by colour only.
    shapes = {
        s: tuple(v for k, v in style.items() if k not in ("row", "fill", "borderColor"))
        for s, style in styles.items()
    }
    assert len(set(shapes.values())) == len(shapes), shapes  # no two statuses alike
    for status, style in styles.items():
        drawn = style["borderColor"] if style["border"] > 0 else style["fill"]
        assert contrast(rgb(drawn), rgb(style["row"])) >= 3, (status, style)


def test_text_has_4_5_to_1_contrast(project, web, browser):
    glyphs_page(project, web, browser)
    for selector in ("h1", "caption", "header a", "#daemon", "td .word", "#problems a", "th"):
        for el in browser.find_elements(By.CSS_SELECTOR, selector)[:3]:
            style = browser.execute_script(
                GLYPH_STYLE.replace("s.backgroundColor", "s.color"), el, None
            )
            assert contrast(rgb(style["fill"]), rgb(style["row"])) >= 4.5, (selector, style)


def png_grey(data: bytes) -> list[list[float]]:
    """A PNG (8-bit RGB or RGBA, not interlaced, as Chromium writes them) as rows of
    greyscale values (ITU-R BT.601 luma)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, idat, header = 8, b"", None
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        chunk = data[pos + 8 : pos + 8 + length]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", chunk)
        elif kind == b"IDAT":
            idat += chunk
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = header
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(idat)
    stride = width * bpp
    rows, prev = [], bytearray(stride)
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
                line[i] = (line[i] + pred) & 255
        rows.append(
            [
                0.299 * line[x] + 0.587 * line[x + 1] + 0.114 * line[x + 2]
                for x in range(0, stride, bpp)
            ]
        )
        prev = line
    return rows


def test_failed_and_upstream_failed_differ_in_greyscale(project, web, browser):
    glyphs_page(project, web, browser)
    browser.execute_script("document.activeElement.blur()")
    shots = {}
    for status in ("failed", "upstream_failed", "succeeded"):
        link = browser.find_element(By.CSS_SELECTOR, f'ol.cells li[data-status="{status}"] > a')
        shots[status] = png_grey(link.screenshot_as_png)
    # Cells sit at fractions of a pixel, and a neighbour's edge can show at the side:
    # compare how much ink each glyph puts down inside its cell, not pixel by pixel.
    ink = {status: mean_grey(shot) for status, shot in shots.items()}
    assert abs(ink["failed"] - ink["upstream_failed"]) >= 20, ink
    assert ink["succeeded"] < 230  # the glyphs are drawn, not blank boxes


def mean_grey(rows: list[list[float]]) -> float:
    inside = [v for r in rows[2:-2] for v in r[2:-2]]
    return sum(inside) / len(inside)


def test_the_stylesheet_fits_in_20_kib():
    assert CSS.stat().st_size <= 20 * 1024


def test_pages_travel_gzipped_to_a_browser_that_takes_it(project, web):
    project.write('[jobs.load]\nschedule = "*/15 * * * *"\ncommand = "true"\n')
    server = web()
    status, headers, plain = server.get("/")
    assert status == 200 and "Content-Encoding" not in headers
    status, headers, packed = server.get("/", {"Accept-Encoding": "gzip, deflate"})
    assert headers["Content-Encoding"] == "gzip" and headers["Vary"] == "Accept-Encoding"
    assert len(packed) < len(plain) / 4
    assert zlib.decompress(packed, 16 + zlib.MAX_WBITS) == plain
    assert "Content-Encoding" not in server.get("/", {"Accept-Encoding": "gzip;q=0"})[1]


def test_the_ledger_shows_50_jobs_a_page_and_one_job_on_asking(project, web):
    """At 1,000 jobs a ledger of every job is 96,000 rows: it pages as / does."""
    project.write(
        "".join(f'[jobs.j{i:02d}]\nschedule = "0 3 * * *"\ncommand = "true"\n' for i in range(55))
    )
    server = web()

    def jobs_on(query: str) -> list[str]:
        status, _, body = server.get(f"/ledger?date=2026-11-17{query}")
        assert status == 200, body
        return re.findall(r'<tr data-job="([^"]+)"', body.decode())

    assert jobs_on("") == [f"j{i:02d}" for i in range(50)]
    assert jobs_on("&page=2") == [f"j{i:02d}" for i in range(50, 55)]
    assert jobs_on("&job=j07") == ["j07"]
    status, _, body = server.get("/ledger?date=2026-11-17")
    assert 'href="/ledger?date=2026-11-17&amp;page=2"' in body.decode()
    assert server.get("/ledger?date=2026-11-17&page=3")[0] == 400
    for odd in ("%C2%B2", "9" * 5000, "-1", "1.0"):  # never a 500
        assert server.get(f"/ledger?date=2026-11-17&page={odd}")[0] == 400
        assert server.get(f"/?hours={odd}")[0] == 400
    assert server.get("/ledger?date=2026-11-17&job=nope")[0] == 404
    _, _, body = server.get("/ledger?date=2026-11-17&job=j07")
    assert 'href="/ledger?date=2026-11-16&amp;job=j07"' in body.decode()  # the day before
