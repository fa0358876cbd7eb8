"""Arrival-rate scenarios counted by the target: nginx's access log, not salvo's word.

Counts, not timings: the spread of one-second buckets belongs to the benchmark.
"""
import pytest

from conftest import metric


def write_script(tmp_path, text):
    path = tmp_path / "rate.lua"
    path.write_text(text)
    return path


def served(nginx, uri):
    return sum(1 for line in nginx.log_lines() if line[2] == uri)


def test_constant_arrival_rate_500_per_s_for_10_s(run_salvo, start_nginx, tmp_path):
    nginx = start_nginx(access_log=True)
    script = write_script(tmp_path, f"""
local http = require("salvo.http")
options = {{ scenarios = {{ steady = {{ executor = "constant-arrival-rate", rate = 500,
    timeUnit = "1s", duration = "10s", preAllocatedVUs = 20, maxVUs = 200 }} }} }}
function default() http.get("{nginx.url()}") end
""")
    r = run_salvo("run", script, "-q", timeout=40)
    assert r.code == 0, r.err
    nginx.stop()
    dropped = metric(r.export, "dropped_iterations", "count")
    # the schedule has 5,000 arrivals; nginx must have seen them (within 1%, as the
    # issue asks, though on an idle machine it is exact), and salvo's own count agrees
    assert abs(served(nginx, "/hello") - 5000) <= 50, (served(nginx, "/hello"), dropped)
    assert metric(r.export, "http_reqs", "count") == served(nginx, "/hello")
    assert metric(r.export, "iterations", "count") + dropped == 5000


def test_two_scenarios_keep_their_own_rates(run_salvo, start_nginx, tmp_path):
    nginx = start_nginx(access_log=True)
    script = write_script(tmp_path, f"""
local http = require("salvo.http")
options = {{ scenarios = {{
  slow = {{ executor = "constant-arrival-rate", rate = 20, duration = "3s",
            preAllocatedVUs = 5, exec = "slow" }},
  fast = {{ executor = "ramping-arrival-rate", startRate = 100, timeUnit = "1s",
            stages = {{ {{ duration = "3s", target = 100 }} }}, preAllocatedVUs = 10,
            exec = "fast" }},
}} }}
function slow() http.get("{nginx.url('/hello')}") end
function fast() http.get("{nginx.url('/big')}") end
""")
    r = run_salvo("run", script, "-q", timeout=40)
    assert r.code == 0, r.err
    nginx.stop()
    assert served(nginx, "/hello") == 60
    # a flat ramp of 100/s for 3 s: due when the area reaches n + 1, so 299 before the end
    assert served(nginx, "/big") == 299
    assert metric(r.export, "dropped_iterations", "count") == 0


def test_a_stalled_target_shows_in_p99_measured_from_due_times(run_salvo, demo):
    """Each request waits 1 s; 20/s with 5 VUs cannot keep up. The first 5 arrivals
    start on time; the next 5 queue until a VU frees up, about 0.75 s late; the rest
    are still queued at the end and dropped."""
    r = run_salvo("run", "--url", demo.url("/delay/1000"), "--rate", "20/s", "--duration",
                  "2s", "--vus", 5, "--max-vus", 5, "--overload", "queue", "-q",
                  "--summary-trend-stats", "max,p(99)", timeout=40)
    assert r.code == 0, r.err
    assert metric(r.export, "iterations", "count") == 10
    assert metric(r.export, "iteration_start_delay", "max") >= 700
    # from the due time, the stall shows: p99 is the wait plus the late start
    assert metric(r.export, "http_req_duration_corrected", "p(99)") >= 1700
    assert metric(r.export, "http_req_duration", "p(99)") < 1500
    # the arrivals still queued at the end are dropped, and counted
    assert metric(r.export, "dropped_iterations", "count") > 0
