"""`/graph` and `/graph.svg`: the `after` graph laid out on the server, in Chromium."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime

from conftest import record
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

from cronplus.model import Config, Job
from cronplus.web._layout_graph import NODE_H, NODE_W, layout
from cronplus.web.pages.graph import drawing

SVG = "{http://www.w3.org/2000/svg}"

# Two extracts fan in to load, report after load, and two jobs without edges; the
# file order puts `report` before `load` so the columns cannot be file order.
JOBS = """
[jobs.extract_a]
schedule = "0 3 * * *"
command = "true"

[jobs.report]
after = ["load"]
command = "true"

[jobs.extract_b]
schedule = "0 3 * * *"
command = "true"

[jobs.load]
after = ["extract_a", "extract_b"]
command = "true"

[jobs.lonely]
schedule = "@hourly"
command = "true"

[jobs.a_very_long_job_name_that_goes_on_and_on_and_on_and_on]
schedule = "@hourly"
command = "true"
"""
T = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)


def graph_project(project):
    project.write(JOBS)
    store = project.store()
    try:
        record(store, "extract_a", T, "succeeded")
        record(store, "extract_b", T, "failed", exits=(1,))
        record(store, "load", T, "upstream_failed")
        record(store, "lonely", T, "timed_out", exits=(None,), signal="SIGTERM")
    finally:
        store.close()


def boxes(browser):
    """job -> its box's client rectangle (left, top, right, bottom)."""
    rects = browser.execute_script(
        "return [...document.querySelectorAll('svg#graph g.node')].map(g => {"
        "  const r = g.querySelector('rect.box').getBoundingClientRect();"
        "  return [g.dataset.job, r.left, r.top, r.right, r.bottom]; })"
    )
    return {job: tuple(r) for job, *r in rects}


def test_each_job_is_a_node_with_its_latest_status_linking_to_its_page(project, web, browser):
    graph_project(project)
    server = web()
    browser.get(server.url + "/graph")
    nodes = browser.find_elements(By.CSS_SELECTOR, "svg#graph g.node[data-job]")
    status = {n.get_attribute("data-job"): n.get_attribute("data-status") for n in nodes}
    long_name = "a_very_long_job_name_that_goes_on_and_on_and_on_and_on"
    assert status == {
        "extract_a": "succeeded",
        "extract_b": "failed",
        "load": "upstream_failed",
        "report": None,  # never ran: no data-status at all
        "lonely": "timed_out",
        long_name: None,
    }
    words = {
        n.get_attribute("data-job"): n.find_element(By.CSS_SELECTOR, "text.word").text
        for n in nodes
    }
    assert words["report"] == "never run"
    assert words["load"] == "upstream failed"
    assert words["lonely"] == "timed out"
    links = {
        n.get_attribute("data-job"): n.find_element(By.CSS_SELECTOR, "a").get_dom_attribute("href")
        for n in nodes
    }
    assert links == {job: f"/jobs/{job}" for job in status}
    # The name is cut to fit its box; the link's title holds the whole of it.
    title = browser.find_element(By.CSS_SELECTOR, f'g.node[data-job="{long_name}"] title')
    assert title.get_attribute("textContent") == f"{long_name}: never run"


def test_no_two_node_boxes_overlap_and_edges_run_right_to_left(project, web, browser):
    graph_project(project)
    server = web()
    browser.get(server.url + "/graph")
    rects = boxes(browser)
    assert len(rects) == 6
    items = list(rects.items())
    for i, (a, (al, at, ar, ab)) in enumerate(items):
        for b, (bl, bt, br, bb) in items[i + 1 :]:
            assert ar <= bl or br <= al or ab <= bt or bb <= at, (a, b)
    # Columns by longest path: the extracts, then load, then report.
    assert rects["extract_a"][0] == rects["extract_b"][0] < rects["load"][0] < rects["report"][0]


def test_each_edge_goes_from_the_job_that_runs_first_to_the_one_after(project, web, browser):
    graph_project(project)
    server = web()
    browser.get(server.url + "/graph")
    rects = boxes(browser)
    ends = browser.execute_script(
        "return [...document.querySelectorAll('svg#graph g.edge')].map(g => {"
        "  const p = g.querySelector('path'), m = p.getScreenCTM();"
        "  const at = d => { const q = p.getPointAtLength(d);"
        "    const s = new DOMPoint(q.x, q.y).matrixTransform(m); return [s.x, s.y]; };"
        "  return [g.dataset.from, g.dataset.to, at(0), at(p.getTotalLength()),"
        "          p.getAttribute('marker-end')]; })"
    )
    assert sorted((f, t) for f, t, *_ in ends) == [
        ("extract_a", "load"),
        ("extract_b", "load"),
        ("load", "report"),
    ]
    for first, then, (x1, y1), (x2, y2), marker in ends:
        fl, ft, fr, fb = rects[first]
        tl, tt, tr, tb = rects[then]
        assert abs(x1 - fr) < 1 and ft < y1 < fb, (first, then)  # leaves first's right side
        assert abs(x2 - tl) < 1 and tt < y2 < tb, (first, then)  # arrives at then's left
        assert marker == "url(#graph-arrow)"
    assert browser.find_elements(By.CSS_SELECTOR, "svg#graph marker#graph-arrow path")


def test_the_edges_are_listed_in_words(project, web, browser):
    graph_project(project)
    server = web()
    browser.get(server.url + "/graph")
    items = browser.find_elements(By.CSS_SELECTOR, "ul#edges li")
    assert [li.text for li in items] == [
        "report runs after load",
        "load runs after extract_a",
        "load runs after extract_b",
    ]


def test_tab_reaches_every_job_of_the_graph(project, web, browser):
    graph_project(project)
    server = web()
    browser.get(server.url + "/graph")
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    reached = set()
    for _ in range(30):
        job = browser.execute_script(
            "const a = document.activeElement;"
            "const g = a && a.closest && a.closest('svg#graph g.node');"
            "return g ? g.dataset.job : null;"
        )
        if job:
            reached.add(job)
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert len(reached) == 6
    # Enter on a focused node opens its job's page.
    browser.execute_script("document.querySelector('g.node[data-job=\"load\"] a').focus()")
    browser.switch_to.active_element.send_keys(Keys.ENTER)
    WebDriverWait(browser, 10).until(lambda b: b.current_url.endswith("/jobs/load"))


def test_graph_svg_is_the_same_drawing_alone(project, web):
    graph_project(project)
    server = web()
    status, headers, body = server.get("/graph.svg")
    assert status == 200
    assert headers["Content-Type"].split(";")[0] == "image/svg+xml"
    root = ET.fromstring(body)  # well-formed XML on its own
    assert root.tag == f"{SVG}svg" and root.get("id") == "graph"
    nodes = {g.get("data-job"): g.get("data-status") for g in root.iter(f"{SVG}g")
             if g.get("class") == "node"}  # fmt: skip
    assert nodes["extract_b"] == "failed" and nodes["report"] is None and len(nodes) == 6
    edges = [(g.get("data-from"), g.get("data-to")) for g in root.iter(f"{SVG}g")
             if g.get("class") == "edge"]  # fmt: skip
    assert ("load", "report") in edges and len(edges) == 3
    _, _, page = server.get("/graph")
    assert root.get("width").encode() in page and b'<svg id="graph"' in page


def test_a_graph_without_a_state_shows_every_job_never_run(project, web):
    project.write(JOBS)
    server = web()
    status, _, body = server.get("/graph.svg")
    root = ET.fromstring(body)
    nodes = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert status == 200 and len(nodes) == 6
    assert all(g.get("data-status") is None for g in nodes)


def test_names_and_words_are_escaped_in_the_drawing():
    # Job names cannot hold markup through jobs.toml; the drawing escapes them anyway.
    name = 'x<script>alert("&")</script>'
    config = Config(path=None, jobs={name: Job(name=name, command="true", schedule="@daily")})
    svg, _ = drawing(config, {name: "failed"})
    root = ET.fromstring(svg)
    (node,) = [g for g in root.iter(f"{SVG}g") if g.get("class") == "node"]
    assert node.get("data-job") == name
    assert node.find(f"{SVG}a/{SVG}title").text == f"{name}: failed"
    assert not list(root.iter(f"{SVG}script"))


def test_columns_follow_the_longest_path_and_barycentres_uncross_edges():
    # a -> c and b -> d would cross with c, d in file order under b, a; the sweep
    # puts each job of the second column beside the job it is after.
    deps = {"b": (), "a": (), "d": ("a",), "c": ("b",), "e": ("a", "c"), "lone": ()}
    placed = layout(deps, ["b", "a", "d", "c", "e", "lone"])
    at = {box.name: box for box in placed.boxes}
    assert at["a"].x == at["b"].x < at["c"].x == at["d"].x < at["e"].x  # e: after c too
    assert (at["b"].y < at["a"].y) == (at["c"].y < at["d"].y)
    # The job without edges sits below every job with edges.
    assert all(at["lone"].y >= box.y + NODE_H for box in placed.boxes if box.name != "lone")
    assert all(box.x + NODE_W <= placed.width and box.y + NODE_H <= placed.height
               for box in placed.boxes)  # fmt: skip
    assert [(e.first, e.then) for e in placed.edges] == [("a", "d"), ("b", "c"), ("a", "e"),
                                                          ("c", "e")]  # fmt: skip
