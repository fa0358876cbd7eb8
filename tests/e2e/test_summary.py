"""The end-of-test summary (k6's text layout) and the JSON summary export (k6's
--summary-export shape plus the "salvo" section)."""
import os
import pty
import re
import select
import subprocess
import time

import pytest

from conftest import metric

K6_METRICS = ("http_reqs", "http_req_duration", "http_req_blocked", "http_req_connecting",
              "http_req_sending", "http_req_waiting", "http_req_receiving", "http_req_failed",
              "iterations", "iteration_duration", "data_sent", "data_received", "vus",
              "vus_max")
TRENDS = ("http_req_duration", "http_req_blocked", "http_req_connecting", "http_req_sending",
          "http_req_waiting", "http_req_receiving", "iteration_duration")
TREND_STATS = ("avg", "min", "med", "max", "p(90)", "p(95)")
SUB = "http_req_duration{expected_response:true}"


def summary_rows(out):
    """{display name: value text} for every metric row of the text summary."""
    rows = {}
    for line in out.splitlines():
        m = re.match(r"^ {5}( *\S.*?)\.{3,}: (.*)$", line)
        if m:
            rows[m.group(1).strip()] = m.group(2)
    return rows


UNITS_MS = {"ns": 1e-6, "µs": 1e-3, "ms": 1.0, "s": 1000.0}


def parse_time_ms(text):
    """k6's time format ("1.5ms", "250µs", "2.1s", "1m3.2s", "0s") in milliseconds."""
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m(?!s))?([\d.]+)(ns|µs|ms|s)", text)
    assert m, f"not a k6 time: {text!r}"
    hours, minutes, value, unit = m.groups()
    return (int(hours or 0) * 3600000 + int(minutes or 0) * 60000
            + float(value) * UNITS_MS[unit])


def trend_cells(value):
    return dict(re.findall(r"(avg|min|med|max|p\(90\)|p\(95\))=(\S+)", value))


@pytest.fixture
def delayed_run(run_salvo, demo):
    """A run with known response times: /delay/50, two VUs, 20 requests."""
    r = run_salvo("run", "--url", demo.url("/delay/50"), "--vus", 2, "--iterations", 20)
    assert r.code == 0, r.err
    return r


def test_text_summary_lists_k6_metrics(delayed_run):
    rows = summary_rows(delayed_run.out)
    for name in K6_METRICS:
        assert name in rows, f"{name} missing from the summary:\n{delayed_run.out}"
    assert "{ expected_response:true }" in rows
    # the sub-metric row follows its metric
    names = list(rows)
    assert names[names.index("http_req_duration") + 1] == "{ expected_response:true }"
    assert "finished after" in delayed_run.out
    assert re.search(r"^ +generator: \d+ workers?, busiest at \d+% CPU", delayed_run.out, re.M)


def test_text_summary_values(delayed_run):
    rows = summary_rows(delayed_run.out)
    assert re.fullmatch(r"20 +[\d.]+/s", rows["http_reqs"])
    assert re.fullmatch(r"20 +[\d.]+/s", rows["iterations"])
    assert re.fullmatch(r"0\.00% +✓ 0 +✗ 20", rows["http_req_failed"])
    assert re.fullmatch(r"2 +min=2 +max=2", rows["vus_max"])
    assert re.fullmatch(r"[\d.]+ [kMG]?B +[\d.]+ [kMG]?B/s", rows["data_received"])
    for name in TRENDS:
        assert set(trend_cells(rows[name])) == set(TREND_STATS), rows[name]


def test_text_and_export_agree(delayed_run):
    rows, m = summary_rows(delayed_run.out), delayed_run.export["metrics"]
    for name in TRENDS:
        cells = trend_cells(rows[name])
        for stat in TREND_STATS:
            shown, exported = parse_time_ms(cells[stat]), m[name][stat]
            # the text rounds to 2 decimals in its unit
            assert shown == pytest.approx(exported, rel=0.01, abs=0.01), (name, stat)
    # the /delay/50 target answers in 50 ms and a bit: times are in milliseconds
    duration = m["http_req_duration"]
    assert 49 <= duration["min"] <= duration["max"] < 1000
    assert parse_time_ms(trend_cells(rows["http_req_duration"])["min"]) >= 49


def test_export_shape_and_types(delayed_run, run_salvo):
    e = delayed_run.export
    assert set(e) == {"root_group", "metrics", "salvo"}
    assert {"name", "path", "id", "groups", "checks"} <= set(e["root_group"])
    m = e["metrics"]
    for name in TRENDS + (SUB,):
        assert set(m[name]) == set(TREND_STATS), name
        t = m[name]
        assert all(isinstance(t[s], (int, float)) for s in TREND_STATS)
        assert t["min"] <= t["med"] <= t["p(90)"] <= t["p(95)"] <= t["max"], (name, t)
        assert t["min"] <= t["avg"] <= t["max"], (name, t)
    for name in ("http_reqs", "iterations", "data_sent", "data_received"):
        assert set(m[name]) == {"count", "rate"}
        assert m[name]["count"] > 0 and m[name]["rate"] > 0
    seconds = e["salvo"]["duration_ms"] / 1000
    assert m["http_reqs"]["rate"] == pytest.approx(m["http_reqs"]["count"] / seconds, rel=0.01)
    assert m["http_req_failed"] == {"passes": 0, "fails": 20, "value": 0}
    for name in ("vus", "vus_max"):
        assert set(m[name]) == {"value", "min", "max"}
    assert m[SUB] == m["http_req_duration"]  # every response was expected

    s = e["salvo"]
    version = run_salvo("version", export=False).out.split()[1]
    assert s["version"] == version
    assert s["interrupted"] is False
    assert isinstance(s["duration_ms"], (int, float)) and s["duration_ms"] > 0
    assert s["errors"] == []
    cfg = s["config"]
    assert cfg["request"]["method"] == "GET" and cfg["request"]["url"].endswith("/delay/50")
    assert cfg["scenarios"]["default"]["executor"] == "shared-iterations"
    assert cfg["scenarios"]["default"]["vus"] == 2
    assert cfg["timeout_ms"] == 60000
    gen = s["generator"]
    assert isinstance(gen["saturated"], bool)
    assert len(gen["workers"]) == cfg["workers"] >= 1
    for w in gen["workers"]:
        assert {"cpu_mean", "cpu_max", "loop_lag_p99_ms", "loop_lag_max_ms"} <= set(w)
        assert 0 <= w["cpu_mean"] <= w["cpu_max"]

    for name in TRENDS:
        extra = s["trends"][name]
        assert m[name]["p(95)"] <= extra["p(99)"] <= extra["p(99.9)"] <= m[name]["max"], name
        assert extra["histogram"].startswith("H1;")
        assert isinstance(extra["unit"], str)
    assert s["trends"]["http_req_duration"]["count"] == 20
    assert s["trends"]["iteration_duration"]["count"] == 20


def test_export_errors_sorted_by_count(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url("/status/500"), "--iterations", 3)
    assert r.export["salvo"]["errors"] == [{"code": 1500, "message": "HTTP status 500",
                                            "count": 3}]
    assert r.export["metrics"]["http_req_failed"] == {"passes": 3, "fails": 0, "value": 1}


def test_no_progress_line_when_not_a_terminal(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--vus", 2, "--duration", "1500ms")
    assert r.code == 0
    assert "\r" not in r.out and "\033" not in r.out
    assert "execution:" in r.out and "http_reqs" in r.out


def run_on_a_terminal(salvo, args, timeout=20):
    """Runs salvo with stdout on a pseudo-terminal; returns (exit code, output)."""
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen([salvo, *map(str, args)], stdin=subprocess.DEVNULL, stdout=slave,
                             stderr=subprocess.DEVNULL)
    finally:
        os.close(slave)
    out = b""
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 65536)
                except OSError:  # EIO: the other side is closed
                    break
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
        code = p.wait(timeout=max(1, deadline - time.monotonic()))
    finally:
        if p.poll() is None:
            p.kill()
            p.wait(5)
        os.close(master)
    return code, out.decode("utf-8", "replace")


def test_progress_line_on_a_terminal(salvo, demo):
    code, out = run_on_a_terminal(salvo, ["run", "--url", demo.url(), "--vus", 2,
                                          "--duration", "2500ms"])
    assert code == 0
    assert "\r" in out and "running" in out and "VUs" in out
    assert "http_reqs" in out
    quiet_code, quiet = run_on_a_terminal(salvo, ["run", "--url", demo.url(), "--vus", 2,
                                                  "--duration", "1500ms", "--no-progress"])
    assert quiet_code == 0
    assert "running (" not in quiet and "http_reqs" in quiet


def test_quiet_drops_banner(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--iterations", 3, "--quiet")
    assert r.code == 0
    assert "execution:" not in r.out and "scenarios:" not in r.out
    assert "http_reqs" in r.out
    assert r.err == ""
    loud = run_salvo("run", "--url", demo.url(), "--iterations", 3)
    assert "execution:" in loud.out and "scenarios:" in loud.out


def test_no_summary_drops_summary_keeps_export(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--iterations", 3, "--no-summary")
    assert r.code == 0
    assert "execution:" in r.out
    assert "http_reqs" not in r.out and "finished after" not in r.out
    assert metric(r.export, "http_reqs", "count") == 3
    silent = run_salvo("run", "--url", demo.url(), "--iterations", 3, "--no-summary", "--quiet")
    assert silent.code == 0 and silent.out.strip() == ""
    assert metric(silent.export, "http_reqs", "count") == 3


def test_export_overwrites_an_existing_file(run_salvo, demo, tmp_path):
    path = tmp_path / "summary.json"
    path.write_text("x" * 100000)
    r = run_salvo("run", "--url", demo.url(), "--summary-export", path)
    assert r.code == 0
    import json
    assert json.loads(path.read_text())["metrics"]["http_reqs"]["count"] == 1


def test_vus_gauge_of_a_short_run(run_salvo, demo):
    """A run shorter than the once-a-second sample still reports the VUs it ran."""
    r = run_salvo("run", "--url", demo.url(), "--vus", 3, "--iterations", 3)
    assert r.code == 0
    assert r.export["metrics"]["vus_max"]["max"] == 3
    assert r.export["metrics"]["vus"]["max"] == 3
