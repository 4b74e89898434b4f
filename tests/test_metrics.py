"""`cronplus metrics` and `run --metrics-port` (issue 14): real subprocesses, their
output read by Prometheus's own parser, every value checked against what `status
--json` and `history --json` say of the same state."""

from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

import pytest
from conftest import record, wait_until
from prometheus_client.parser import text_string_to_metric_families

from cronplus.metrics import Figures, JobFigures, quantiles
from cronplus.model import RunStatus
from cronplus.render.metrics import metrics_text

JOBS = """
[defaults]
timezone = "Europe/Berlin"

[jobs.load]
schedule = "0 3 * * *"
command = "true"

[jobs.report]
after = ["load"]
command = "exit 3"

[jobs.adhoc]
command = "sleep 0.3"

[jobs.never]
command = "true"
"""
FINAL = ["succeeded", "failed", "timed_out", "skipped", "upstream_failed", "interrupted"]
LAST = [s for s in FINAL if s != "skipped"]
T0 = datetime(2026, 11, 2, 3, 0, tzinfo=UTC)

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def cronplus(project, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "cronplus", "-c", str(project.jobs_file)]
    argv += ["--state", str(project.state), *args]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=project.root)
    if check:
        assert done.returncode in (0, 1), done.stderr
    return done


def parse(text: str) -> Samples:
    """Every sample by (name, labels), through prometheus_client's parser: a line it
    cannot read fails here."""
    out: Samples = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            key = (s.name, frozenset(s.labels.items()))
            assert key not in out, key
            out[key] = s.value
    return out


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[name, frozenset(labels.items())]


def stamp(iso: str | None) -> float:
    return 0.0 if iso is None else datetime.fromisoformat(iso).timestamp()


def check_against_the_cli(project, samples: Samples, jobs: list[str]) -> None:
    """Each job's series hold what `status --json` and `history --json` say."""
    status = {row["job"]: row for row in json.loads(cronplus(project, "status", "--json").stdout)}
    for job in jobs:
        runs = json.loads(cronplus(project, "history", job, "--json", "--limit", "1000").stdout)
        for s in FINAL:
            want = sum(r["status"] == s for r in runs)
            assert value(samples, "cronplus_job_runs_total", job_name=job, status=s) == want
        timed = [r["duration_s"] for r in runs if r["started_at"] and r["finished_at"]]
        assert value(samples, "cronplus_job_duration_seconds_count", job_name=job) == len(timed)
        got_sum = value(samples, "cronplus_job_duration_seconds_sum", job_name=job)
        assert got_sum == pytest.approx(sum(timed), abs=1e-6)
        median = value(samples, "cronplus_job_duration_seconds", job_name=job, quantile="0.5")
        if timed:
            newest = timed[:100]  # history lists the newest first
            assert median == pytest.approx(quantiles(newest, (0.5,))[0], abs=1e-6)
        else:
            assert math.isnan(median)
        ok = [stamp(r["finished_at"]) for r in runs if r["status"] == "succeeded"]
        last_ok = value(samples, "cronplus_job_last_success_timestamp_seconds", job_name=job)
        assert last_ok == pytest.approx(max(ok, default=0.0), abs=1e-6)
        finished = [r for r in runs if r["status"] in LAST]  # newest first
        for s in LAST:
            want = int(bool(finished) and finished[0]["status"] == s)
            assert value(samples, "cronplus_job_last_run_status", job_name=job, status=s) == want
        row = status[job]
        assert value(samples, "cronplus_job_running", job_name=job) == len(row["running"])
        nxt = value(samples, "cronplus_job_next_fire_timestamp_seconds", job_name=job)
        assert nxt == stamp(row["next_run"])


def series_of(samples: Samples, job: str) -> set[tuple[str, frozenset]]:
    return {
        (name, labels - {("job_name", job)})
        for name, labels in samples
        if ("job_name", job) in labels
    }


def test_metrics_hold_what_status_and_history_say(project):
    project.write(JOBS)
    cronplus(project, "trigger", "load", "--wait")  # and report after it, which fails
    cronplus(project, "trigger", "adhoc", "--wait")
    cronplus(project, "trigger", "adhoc", "--wait")
    cronplus(project, "mark", "load", "skipped", "--at", "2026-11-02T03:00")
    done = cronplus(project, "metrics")
    assert done.returncode == 0, done.stderr
    samples = parse(done.stdout)
    jobs = ["load", "report", "adhoc", "never"]
    check_against_the_cli(project, samples, jobs)
    assert value(samples, "cronplus_job_runs_total", job_name="report", status="failed") == 1
    assert value(samples, "cronplus_job_duration_seconds_count", job_name="adhoc") == 2
    assert value(samples, "cronplus_job_next_fire_timestamp_seconds", job_name="load") > 0
    assert value(samples, "cronplus_job_next_fire_timestamp_seconds", job_name="adhoc") == 0
    assert value(samples, "cronplus_daemon_up") == 0
    # Every job has every series: the same names and labels, whatever it did.
    assert all(series_of(samples, job) == series_of(samples, "never") for job in jobs)
    assert len(series_of(samples, "never")) == 6 + 5 + 5 + 3
    for name in ("cronplus_job_runs_total", "cronplus_job_running", "cronplus_daemon_up"):
        assert f"# HELP {name} " in done.stdout
    assert "# TYPE cronplus_job_duration_seconds summary" in done.stdout


def test_the_summary_takes_quantiles_of_the_last_100_runs_and_counts_them_all(project):
    project.write(JOBS)
    store = project.store()
    for k in range(150):  # durations 10 s (one attempt) for the first 100, then 20 s
        exits = (0,) if k < 100 else (1, 0)
        record(store, "load", T0 + timedelta(days=k), "succeeded", exits=exits)
    record(store, "load", T0 + timedelta(days=150), "skipped")  # no attempt: not timed
    record(store, "load", T0 + timedelta(days=151), "running")  # not over: not timed
    store.close()
    samples = parse(cronplus(project, "metrics").stdout)
    count = value(samples, "cronplus_job_duration_seconds_count", job_name="load")
    assert count == 150
    assert value(samples, "cronplus_job_duration_seconds_sum", job_name="load") == 2000.0
    for q in ("0.5", "0.9", "0.99"):  # the last 100: 50 of 10 s, 50 of 20 s
        got = value(samples, "cronplus_job_duration_seconds", job_name="load", quantile=q)
        assert got == quantiles([10.0] * 50 + [20.0] * 50, (float(q),))[0]
    assert value(samples, "cronplus_job_running", job_name="load") == 1
    check_against_the_cli(project, samples, ["load"])


def test_quantiles_are_linear_between_ranks():
    assert quantiles([4.0, 1.0, 3.0, 2.0], (0.5, 0.9, 0.99)) == pytest.approx((2.5, 3.7, 3.97))
    assert quantiles([7.0], (0.5,)) == (7.0,)
    assert all(math.isnan(q) for q in quantiles([], (0.5, 0.9)))


def test_label_values_are_escaped_as_the_format_says():
    odd = 'we"ird\\name\nline'
    job = JobFigures(
        name=odd,
        runs={RunStatus(s): 1 for s in FINAL},
        quantiles=(1.0, 2.0, 3.0),
        duration_sum_s=6.0,
        duration_count=3,
        last_success_at=T0,
        last_status=RunStatus.FAILED,
        running=0,
        next_fire_at=None,
    )
    text = metrics_text(Figures((job,), daemon_up=True))
    assert 'job_name="we\\"ird\\\\name\\nline"' in text
    samples = parse(text)
    assert value(samples, "cronplus_job_last_run_status", job_name=odd, status="failed") == 1
    assert value(samples, "cronplus_job_last_success_timestamp_seconds", job_name=odd) == (
        T0.timestamp()
    )
    assert value(samples, "cronplus_daemon_up") == 1


def test_output_file_is_replaced_whole(project):
    project.write(JOBS)
    cronplus(project, "trigger", "adhoc", "--wait")
    target = project.root / "textfile" / "cronplus.prom"
    target.parent.mkdir()
    target.write_text("old\n")
    before = target.stat().st_ino
    done = cronplus(project, "metrics", "-o", str(target))
    assert done.returncode == 0 and done.stdout == ""
    assert target.stat().st_ino != before  # a new file renamed over it, not rewritten
    assert os.listdir(target.parent) == ["cronplus.prom"]  # no temporary file left
    samples = parse(target.read_text())
    assert value(samples, "cronplus_job_runs_total", job_name="adhoc", status="succeeded") == 1
    assert cronplus(project, "metrics").stdout == target.read_text()
    missing = cronplus(project, "metrics", "-o", str(project.root / "no" / "x.prom"), check=False)
    assert missing.returncode == 2 and "cannot write" in missing.stderr


def scrape(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.mark.slow
def test_a_running_daemon_serves_metrics_over_http(project, daemon):
    project.write(JOBS)
    d = daemon(run_args=("--metrics-port", "0"))
    d.wait_started()
    line = next(x for x in d.stderr.splitlines() if "event=metrics_started" in x)
    url = line.split("url=", 1)[1].strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/metrics")
    cronplus(project, "trigger", "load", "--wait")  # the daemon runs it
    cronplus(project, "trigger", "adhoc", "--wait")
    code, text = scrape(url)
    assert code == 200
    samples = parse(text)
    assert value(samples, "cronplus_daemon_up") == 1
    assert value(samples, "cronplus_job_runs_total", job_name="adhoc", status="succeeded") == 1
    check_against_the_cli(project, samples, ["load", "report", "adhoc", "never"])
    assert scrape(url.replace("/metrics", "/"))[0] == 404
    assert scrape(url.replace("/metrics", "/metricsx"))[0] == 404
    assert d.terminate() == 0
    wait_until(lambda: "event=stopped" in d.stderr)
    after = parse(cronplus(project, "metrics").stdout)
    assert value(after, "cronplus_daemon_up") == 0


@pytest.mark.slow
def test_a_port_in_use_stops_the_daemon_with_exit_2(project):
    project.write(JOBS)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = str(taken.getsockname()[1])
        done = cronplus(project, "run", "--metrics-port", port, check=False)
    assert done.returncode == 2
    assert f"--metrics-port: cannot listen on 127.0.0.1:{port}" in done.stderr
    alone = cronplus(project, "run", "--metrics-host", "0.0.0.0", check=False)
    assert alone.returncode == 2 and "--metrics-host goes with --metrics-port" in alone.stderr
