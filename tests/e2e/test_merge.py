"""salvo merge: the exports of a test's segments, combined exactly.

Segments run one after another here (the same as side by side for what is merged);
their union must be the whole test, and the merged percentiles must match a single
process's within the histogram's precision.
"""
import json

import pytest

from conftest import metric


def run_segments(run_salvo, tmp_path, n, *args):
    paths = []
    for i in range(1, n + 1):
        path = tmp_path / f"seg{i}.json"
        r = run_salvo("run", *args, "--segment", f"{i}/{n}", "-q", "--no-summary",
                      "--summary-export", path, export=False)
        assert r.code == 0, r.err
        paths.append(path)
    return paths


def merge(run_salvo, tmp_path, paths, *extra):
    out = tmp_path / "merged.json"
    r = run_salvo("merge", *paths, "-o", out, *extra, export=False)
    merged = json.loads(out.read_text()) if out.exists() else None
    return r, merged


def test_segments_of_shared_iterations_add_up_to_the_whole(run_salvo, demo, tmp_path):
    paths = run_segments(run_salvo, tmp_path, 3, "--url", demo.url(), "--vus", 7,
                         "--iterations", 301)
    counts = [json.loads(p.read_text())["metrics"]["iterations"]["count"] for p in paths]
    assert sum(counts) == 301 and max(counts) - min(counts) <= 1, counts
    assert demo.stats() == 301
    r, merged = merge(run_salvo, tmp_path, paths)
    assert r.code == 0, r.err
    assert metric(merged, "iterations", "count") == 301
    assert metric(merged, "http_reqs", "count") == 301
    assert merged["metrics"]["http_req_failed"]["fails"] == 301
    assert merged["metrics"]["vus_max"]["max"] == 7  # VUs of segments side by side add up
    assert "http_reqs" in r.out  # the summary of the whole


def test_segments_of_an_arrival_rate_add_up_to_the_whole(run_salvo, demo, tmp_path):
    paths = run_segments(run_salvo, tmp_path, 3, "--url", demo.url(), "--rate", "100/s",
                         "--duration", "2s", "--max-vus", 30)
    counts = [json.loads(p.read_text())["metrics"]["iterations"]["count"] for p in paths]
    assert sum(counts) == 200 and max(counts) - min(counts) <= 1, counts
    assert demo.stats() == 200
    r, merged = merge(run_salvo, tmp_path, paths)
    assert r.code == 0, r.err
    assert metric(merged, "iterations", "count") == 200


def test_merged_percentiles_match_a_single_process(run_salvo, demo, tmp_path):
    """A known spread of latencies (the demo's /delay), split over 4 segments."""
    script = tmp_path / "spread.lua"
    # every VU walks the same delays, so any split of the VUs sends the same multiset
    script.write_text(f"""
local http, salvo = require("salvo.http"), require("salvo")
options = {{ scenarios = {{ spread = {{ executor = "per-vu-iterations", vus = 8,
                                       iterations = 50 }} }} }}
function default()
  http.get("{demo.url("/delay/")}" .. tostring((salvo.vu.iteration % 10) * 3))
end
""")
    stats = ("--summary-trend-stats", "p(55),p(85),p(95)")  # mid-band: away from the steps
    whole = run_salvo("run", script, "-q", "--no-summary", *stats)
    assert whole.code == 0, whole.err
    paths = run_segments(run_salvo, tmp_path, 4, script, *stats)
    r, merged = merge(run_salvo, tmp_path, paths)
    assert r.code == 0, r.err
    assert metric(merged, "http_reqs", "count") == 400
    trend = whole.export["salvo"]["trends"]["http_req_duration"]
    merged_trend = merged["salvo"]["trends"]["http_req_duration"]
    assert merged_trend["count"] == trend["count"] == 400
    for stat in ("p(55)", "p(85)", "p(95)"):
        a, b = metric(whole.export, "http_req_duration", stat), \
            metric(merged, "http_req_duration", stat)
        # the same delays, served twice: mid-band percentiles agree to well under a
        # millisecond (scheduling noise), far finer than the 3 ms steps
        assert abs(a - b) < 1.0, (stat, a, b)


def test_thresholds_are_judged_again_on_the_whole(run_salvo, demo, tmp_path):
    """Each segment alone passes count<200; the whole (300) does not: exit 99."""
    paths = run_segments(run_salvo, tmp_path, 3, "--url", demo.url(), "--vus", 3,
                         "--iterations", 300, "--threshold", "http_reqs:count<200")
    r, merged = merge(run_salvo, tmp_path, paths)
    assert r.code == 99, (r.code, r.err)
    assert merged["metrics"]["http_reqs"]["thresholds"] == {"count<200": True}
    assert "thresholds failed" in r.err


@pytest.mark.parametrize("content,expected", [
    ("not json", "not JSON"),
    ('{"metrics": {}}', "not a salvo summary export"),
])
def test_bad_inputs_exit_2_with_one_line(run_salvo, tmp_path, content, expected):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    r = run_salvo("merge", bad, export=False)
    assert r.code == 2
    assert len(r.err.strip().splitlines()) == 1 and expected in r.err, r.err


def test_exports_of_different_tests_are_refused(run_salvo, demo, tmp_path):
    a = run_salvo("run", "--url", demo.url(), "--iterations", 2, "-q")
    b = run_salvo("run", "--url", demo.url(), "--iterations", 3, "-q")
    pa, pb = tmp_path / "a.json", tmp_path / "b.json"
    pa.write_text(json.dumps(a.export))
    pb.write_text(json.dumps(b.export))
    r = run_salvo("merge", pa, pb, export=False)
    assert r.code == 2 and "differ" in r.err, r.err


def rfc3339(seconds_from_now):
    import datetime
    t = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(
        seconds=seconds_from_now)
    return t.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_start_at_waits_for_the_shared_start(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--iterations", 1, "-q",
                  "--start-at", rfc3339(1.5))
    assert r.code == 0, r.err
    assert r.seconds >= 1.3  # it waited for the wall clock
    assert demo.stats() == 1


def test_a_late_process_joins_its_slice_where_the_schedule_is(run_salvo, demo):
    """Started 1 s after --start-at, a 2 s run at 50/s sends the second second's 50."""
    r = run_salvo("run", "--url", demo.url(), "--rate", "50/s", "--duration", "2s", "-q",
                  "--start-at", rfc3339(-1.0))
    assert r.code == 0, r.err
    assert "after --start-at" in r.err
    assert 40 <= demo.stats() <= 52, demo.stats()
    assert metric(r.export, "dropped_iterations", "count") == 0


@pytest.mark.parametrize("value", ["tomorrow", "2026-13-01T00:00:00Z", "2026-11-23T10:00:00"])
def test_bad_start_at_exits_2(run_salvo, value):
    r = run_salvo("run", "--url", "http://127.0.0.1:9/", "--start-at", value, export=False)
    assert r.code == 2 and "--start-at" in r.err and len(r.err.strip().splitlines()) == 1


def test_merged_export_keeps_the_runs_second_by_second(run_salvo, demo, tmp_path):
    """The merged export carries a timeline too, so `salvo report` of it draws its
    charts: rates and VUs of each second add up over the segments; a second's
    latency percentiles are the highest of the segments' (not mergeable exactly)."""
    paths = run_segments(run_salvo, tmp_path, 2, "--url", demo.url(), "--rate", "100/s",
                         "--duration", "3s", "--max-vus", 20)
    segs = [json.loads(p.read_text())["salvo"]["timeseries"] for p in paths]
    r, merged = merge(run_salvo, tmp_path, paths)
    assert r.code == 0, r.err
    t = merged["salvo"]["timeseries"]
    assert t["t_s"] == [1.0, 2.0, 3.0], t["t_s"]
    for k in range(3):
        by_second = [s for s in segs if len(s["t_s"]) > k]
        assert t["reqs_per_s"][k] == pytest.approx(sum(s["reqs_per_s"][k] for s in by_second))
        assert t["vus"][k] == sum(s["vus"][k] for s in by_second)
        assert t["p95_ms"][k] == max(s["p95_ms"][k] for s in by_second)
    # 100/s over the whole: every second's merged rate is about that
    assert all(80 <= v <= 120 for v in t["reqs_per_s"]), t["reqs_per_s"]
    report = tmp_path / "report.html"
    rr = run_salvo("report", tmp_path / "merged.json", "-o", report, export=False)
    assert rr.code == 0, rr.err
    assert '"t_s":[1.0,2.0,3.0]' in report.read_text()  # the charts' data, embedded
