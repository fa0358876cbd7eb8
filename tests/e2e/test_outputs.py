"""--out: JUnit XML for CI and a Prometheus /metrics endpoint while the test runs."""
import csv
import gzip
import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import free_port, metric, stop_process, wait_until

JUNIT_XSD = Path(__file__).parent / "data" / "junit.xsd"

CHECKED = """
local http, salvo = require("salvo.http"), require("salvo")
options = {{ vus = 2, iterations = 20,
            thresholds = {{ http_req_duration = {{ "p(95)<0.001", "max<60000" }} }} }}
function default()
  local r = http.get("{url}")
  salvo.check(r, {{ ["status is 200"] = function(r) return r.status == 200 end,
                   ["body <is> & \\"empty\\""] = function(r) return #r.body == 0 end }})
  salvo.group("inner", function()
    salvo.check(r, {{ ["still 200"] = function(r) return r.status == 200 end }})
  end)
end
"""


def test_junit_has_a_case_per_threshold_and_check(run_salvo, demo, script, tmp_path):
    path = script(CHECKED.format(url=demo.url()))
    report = tmp_path / "junit.xml"
    r = run_salvo("run", path, "-q", "--out", f"junit={report}")
    assert r.code == 99, r.err  # p(95)<0.001 fails
    if shutil.which("xmllint"):
        v = subprocess.run(["xmllint", "--noout", "--schema", str(JUNIT_XSD), str(report)],
                           capture_output=True, text=True, timeout=30)
        assert v.returncode == 0, v.stderr
    root = ET.parse(report).getroot()
    assert (root.tag, root.get("tests"), root.get("failures")) == ("testsuites", "5", "2")
    suites = {s.get("name"): s for s in root}
    thresholds = {c.get("name"): c for c in suites["thresholds"]}
    assert set(thresholds) == {"p(95)<0.001", "max<60000"}
    assert thresholds["p(95)<0.001"].find("failure") is not None
    assert thresholds["max<60000"].find("failure") is None
    assert {c.get("classname") for c in thresholds.values()} == {"thresholds.http_req_duration"}
    checks = {(c.get("classname"), c.get("name")): c for c in suites["checks"]}
    assert set(checks) == {("checks", "status is 200"), ("checks", 'body <is> & "empty"'),
                           ("checks::inner", "still 200")}
    failed = checks[("checks", 'body <is> & "empty"')].find("failure")
    assert failed is not None and failed.get("message") == "20 of 20 failed"
    assert checks[("checks", "status is 200")].find("failure") is None


def test_junit_on_an_unwritable_path_warns_and_runs(run_salvo, demo, tmp_path):
    bad = tmp_path / "no-such-dir" / "junit.xml"
    r = run_salvo("run", "--url", demo.url(), "--iterations", 3, "-q", "--out", f"junit={bad}")
    assert r.code == 0, r.err
    assert "warning" in r.err and "junit" in r.err and "cannot write" in r.err
    assert demo.stats() == 3
    required = run_salvo("run", "--url", demo.url(), "--iterations", 3, "-q",
                         "--out", f"junit={bad}", "--out-required")
    assert required.code == 2 and len(required.err.strip().splitlines()) == 1
    assert demo.stats() == 3  # nothing was sent


def scrape(port):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        return resp.read().decode()


def total(page, family):
    return sum(float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith(family + "{") or line.startswith(family + " "))


def test_prometheus_endpoint_while_the_test_runs(salvo, demo, tmp_path):
    port = free_port()
    export = tmp_path / "export.json"
    proc = subprocess.Popen(
        [salvo, "run", "--url", demo.url("/delay/5"), "--vus", "4", "--duration", "3s", "-q",
         "--out", f"prometheus=127.0.0.1:{port}", "--summary-export", str(export)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        # the collector renders the page once a second: wait for a page with requests
        assert wait_until(lambda: total(scrape_or_empty(port), "salvo_http_reqs_total") > 0,
                          timeout=10), "no requests on /metrics"
        page = scrape(port)
        if shutil.which("promtool"):
            check = subprocess.run(["promtool", "check", "metrics"], input=page,
                                   capture_output=True, text=True, timeout=30)
            assert check.returncode == 0, check.stdout + check.stderr
        mid = total(page, "salvo_http_reqs_total")
        assert "# TYPE salvo_http_req_duration_seconds_p95 gauge" in page
        p95 = [float(line.rsplit(" ", 1)[1]) for line in page.splitlines()
               if line.startswith("salvo_http_req_duration_seconds_p95{")]
        assert p95 and all(0.004 < v < 0.5 for v in p95), p95  # /delay/5: seconds
        assert 'scenario="default"' in page and 'status="200"' in page
        # the generator's health is live too: 4 VUs hold 4 keep-alive connections
        assert total(page, "salvo_generator_open_connections") == 4, page
        assert 'salvo_generator_dropped_samples_total{worker="0"} 0' in page
        assert proc.wait(timeout=30) == 0
    finally:
        stop_process(proc)
    final = json.loads(export.read_text())
    assert 0 < mid <= metric(final, "http_reqs", "count")


def scrape_or_empty(port):
    try:
        return scrape(port)
    except OSError:
        return ""


def test_prometheus_port_in_use_warns_unless_required(run_salvo, demo):
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen()
    port = holder.getsockname()[1]
    try:
        r = run_salvo("run", "--url", demo.url(), "--iterations", 2, "-q",
                      "--out", f"prometheus=127.0.0.1:{port}")
        assert r.code == 0 and "warning" in r.err and "prometheus" in r.err, r.err
        required = run_salvo("run", "--url", demo.url(), "--iterations", 2, "-q",
                             "--out", f"prometheus=127.0.0.1:{port}", "--out-required")
        assert required.code == 2 and "cannot listen" in required.err
    finally:
        holder.close()


def read_lines(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt") as f:
        return f.read().splitlines()


@pytest.mark.parametrize("suffix", ["json", "json.gz"])
def test_json_stream_has_a_point_per_sample(run_salvo, demo, script, tmp_path, suffix):
    path = script(CHECKED.format(url=demo.url()))
    out = tmp_path / f"samples.{suffix}"
    r = run_salvo("run", path, "-q", "--out", f"json={out}")
    assert r.code == 99, r.err
    lines = [json.loads(line) for line in read_lines(out)]
    metrics = [x for x in lines if x["type"] == "Metric"]
    points = [x for x in lines if x["type"] == "Point"]
    assert len(metrics) == len({x["metric"] for x in metrics})  # each once
    declared = {x["metric"]: x["data"] for x in metrics}
    assert declared["http_req_duration"]["type"] == "trend"
    assert declared["http_req_duration"]["contains"] == "time"
    reqs = [p for p in points if p["metric"] == "http_reqs"]
    assert len(reqs) == metric(r.export, "http_reqs", "count") == 20
    first_seen = {}
    for i, x in enumerate(lines):  # a Metric line comes before its first Point
        first_seen.setdefault((x["type"], x["metric"]), i)
    assert all(first_seen[("Metric", m)] < first_seen[("Point", m)]
               for m in {p["metric"] for p in points})
    times = [p["data"]["time"] for p in reqs]  # one worker: its samples in time order
    assert times == sorted(times)
    p = reqs[0]["data"]
    assert p["value"] == 1 and p["tags"]["status"] == "200" and p["tags"]["scenario"] == "default"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", p["time"])
    checks = [p for p in points if p["metric"] == "checks"]
    assert len(checks) == 60 and sum(p["data"]["value"] for p in checks) == 40
    durations = [p["data"]["value"] for p in points if p["metric"] == "http_req_duration"]
    assert len(durations) == 20 and all(0 < d < 1000 for d in durations)  # milliseconds


def test_json_stream_carries_vus_and_the_generators_health(run_salvo, demo, tmp_path):
    out = tmp_path / "samples.json"
    r = run_salvo("run", "--url", demo.url("/delay/2"), "--vus", 3, "--duration", "2500ms",
                  "-q", "--out", f"json={out}", "--workers", 2)
    assert r.code == 0, r.err
    points = [json.loads(line) for line in read_lines(out)]
    points = [p for p in points if p["type"] == "Point"]
    vus = [p["data"]["value"] for p in points if p["metric"] == "vus"]
    assert len(vus) >= 2 and max(vus) == 3  # once a second, as the collector samples it
    cpu = [p["data"] for p in points if p["metric"] == "salvo_generator_cpu"]
    assert {c["tags"]["worker"] for c in cpu} == {"0", "1"}
    assert all(0 <= c["value"] <= 1 for c in cpu)
    lag = [p for p in points if p["metric"] == "salvo_generator_loop_lag"]
    assert lag and all(p["data"]["value"] >= 0 for p in lag)
    conns = [p["data"] for p in points if p["metric"] == "salvo_generator_open_connections"]
    assert {c["tags"]["worker"] for c in conns} == {"0", "1"}
    assert max(sum(c["value"] for c in conns if c["time"] == t)
               for t in {c["time"] for c in conns}) == 3  # one keep-alive connection per VU
    drops = [p["data"]["value"] for p in points if p["metric"] == "salvo_generator_dropped_samples"]
    assert drops and set(drops) == {0}


def test_csv_stream_parses_back(run_salvo, demo, tmp_path):
    out = tmp_path / "samples.csv"
    r = run_salvo("run", "--url", demo.url(), "--iterations", 15, "-q", "--out", f"csv={out}",
                  "--tag", "team=a,b")
    assert r.code == 0, r.err
    with open(out, newline="") as f:
        rows = list(csv.DictReader(f))
    header = ["metric_name", "timestamp", "metric_value", "check", "error", "error_code",
              "expected_response", "group", "method", "name", "proto", "scenario", "service",
              "status", "subproto", "tls_version", "url", "extra_tags", "metadata"]
    assert list(rows[0].keys()) == header
    reqs = [row for row in rows if row["metric_name"] == "http_reqs"]
    assert len(reqs) == 15
    assert {row["status"] for row in reqs} == {"200"}
    assert {row["extra_tags"] for row in reqs} == {"team=a,b"}  # quoted, parsed back whole
    assert all(abs(int(row["timestamp"]) - time.time()) < 120 for row in reqs)


@pytest.mark.parametrize("spec,expected", [
    ("statsd=127.0.0.1:8125", "not supported yet"),
    ("prometheus-rw=http://127.0.0.1:9090/api/v1/write?trend_as=buckets", "trend_as takes native"),
    ("influxdb=http://127.0.0.1:8086/", "expected http://HOST:PORT/DATABASE"),
    ("nope=1", "unknown output"),
    ("junit", "needs an argument"),
    ("prometheus=nowhere", "expected HOST:PORT"),
])
def test_bad_out_specs_exit_2(run_salvo, spec, expected):
    r = run_salvo("run", "--url", "http://127.0.0.1:9/", "--out", spec, export=False)
    assert r.code == 2 and expected in r.err and len(r.err.strip().splitlines()) == 1, r.err


# ---- InfluxDB -------------------------------------------------------------------------


def test_influxdb_gets_every_point(run_salvo, demo, influx):
    r = run_salvo("run", "--url", demo.url("/delay/2"), "--vus", 10, "--duration", "3s", "-q",
                  "--out", f"influxdb={influx.url()}", timeout=60)
    assert r.code == 0, r.err
    assert "OUTPUT:" not in r.out and "influxdb" not in r.err, r.out  # nothing was dropped
    reqs = metric(r.export, "http_reqs", "count")
    assert reqs > 100
    assert influx.count("http_reqs") == reqs
    assert influx.count("http_req_duration") == reqs
    assert influx.count("salvo_generator_cpu") > 0  # the generator's health goes along
    tagged = influx.query('SELECT count("value") FROM "http_reqs" GROUP BY "status"')
    series = tagged["results"][0]["series"]
    assert [s["tags"]["status"] for s in series] == ["200"]


def test_a_killed_influxdb_does_not_stop_the_test(salvo, demo, influx, tmp_path):
    export = tmp_path / "export.json"
    proc = subprocess.Popen(
        [salvo, "run", "--url", demo.url("/delay/5"), "--vus", "5", "--duration", "4s",
         "--no-progress", "--out", f"influxdb={influx.url()}", "--summary-export", str(export)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert wait_until(lambda: influx.count("http_reqs") > 0, timeout=10), "no points arrived"
        influx.stop()
        out, err = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == 0, err
    assert "http_reqs" in out  # the summary is whole
    final = json.loads(export.read_text())
    assert metric(final, "http_reqs", "count") > 0
    # what could not be written is said in the summary, once, with the count
    lines = [line for line in out.splitlines() if "OUTPUT:" in line]
    assert len(lines) == 1 and "influxdb" in lines[0], out
    assert "points were not written" in lines[0]


def test_unreachable_influxdb_warns_unless_required(run_salvo, demo):
    url = f"http://127.0.0.1:{free_port()}/salvo"
    r = run_salvo("run", "--url", demo.url(), "--iterations", 2, "-q", "--out", f"influxdb={url}")
    assert r.code == 0 and "warning" in r.err and "cannot connect" in r.err, r.err
    required = run_salvo("run", "--url", demo.url(), "--iterations", 2, "-q",
                         "--out", f"influxdb={url}", "--out-required")
    assert required.code == 2 and len(required.err.strip().splitlines()) == 1


# ---- Prometheus remote write -----------------------------------------------------------


def test_prometheus_remote_write_matches_the_summary(run_salvo, demo, prometheus):
    r = run_salvo("run", "--url", demo.url("/delay/3"), "--vus", 6, "--duration", "3s", "-q",
                  "--out", f"prometheus-rw={prometheus.write_url()}", timeout=60)
    assert r.code == 0, r.err
    assert "OUTPUT:" not in r.out and "prometheus-rw" not in r.err, r.out  # all written
    reqs = metric(r.export, "http_reqs", "count")
    assert wait_until(lambda: prometheus.query("sum(salvo_http_reqs_total)"), timeout=10)
    [(_, total)] = prometheus.query("sum(salvo_http_reqs_total)")
    assert total == reqs
    p95 = prometheus.query('salvo_http_req_duration_seconds_p95{scenario="default"}')
    assert p95 and all(0.002 < v < 0.5 for _, v in p95), p95
    labels = p95[0][0]
    assert labels["status"] == "200" and labels["method"] == "GET" and "group" not in labels
    [(_, failed)] = prometheus.query("max(salvo_http_req_failed_rate)")
    assert failed == 0
    [(_, vus)] = prometheus.query("max(max_over_time(salvo_vus[5m]))")
    assert vus == 6
    cpu = prometheus.query("salvo_generator_cpu_max_ratio")
    assert cpu and all(0 < v <= 1 for _, v in cpu) and {m["worker"] for m, _ in cpu} >= {"0"}


def test_native_histograms_sum_to_the_summary(run_salvo, demo, prometheus_native):
    url = prometheus_native.write_url() + "?trend_as=native"
    r = run_salvo("run", "--url", demo.url("/delay/3"), "--vus", 6, "--duration", "3s", "-q",
                  "--out", f"prometheus-rw={url}", timeout=60)
    assert r.code == 0, r.err
    assert "OUTPUT:" not in r.out, r.out
    reqs = metric(r.export, "http_reqs", "count")
    merged = "sum(salvo_http_req_duration_seconds)"
    assert wait_until(lambda: prometheus_native.query(f"histogram_count({merged})"), timeout=10)
    [(_, count)] = prometheus_native.query(f"histogram_count({merged})")
    assert count == reqs  # every request in a bucket, none lost in the conversion
    [(_, total_s)] = prometheus_native.query(f"histogram_sum({merged})")
    avg_ms = metric(r.export, "http_req_duration", "avg")
    assert total_s / count * 1000 == pytest.approx(avg_ms, rel=1e-3)
    for q, stat in ((0.5, "med"), (0.95, "p(95)")):
        [(_, v)] = prometheus_native.query(f"histogram_quantile({q}, {merged})")
        # schema 5 buckets are 2.2% wide; Prometheus interpolates inside one
        assert v * 1000 == pytest.approx(metric(r.export, "http_req_duration", stat), rel=0.03)
    assert not prometheus_native.query("salvo_http_req_duration_seconds_p95")  # no gauges


def test_native_histograms_refused_by_prometheus_say_why(run_salvo, demo, prometheus):
    url = prometheus.write_url() + "?trend_as=native"
    r = run_salvo("run", "--url", demo.url(), "--iterations", 5, "-q",
                  "--out", f"prometheus-rw={url}", timeout=60)
    assert r.code == 0, r.err  # the test itself is fine; the output says what it lost
    assert "OUTPUT:" in r.out and "native histograms are disabled" in r.out, r.out


def test_unreachable_remote_write_warns(run_salvo, demo):
    url = f"http://127.0.0.1:{free_port()}/api/v1/write"
    r = run_salvo("run", "--url", demo.url(), "--iterations", 2, "-q",
                  "--out", f"prometheus-rw={url}")
    assert r.code == 0 and "warning" in r.err and "prometheus-rw" in r.err, r.err


DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "salvo-dashboard.json"


def test_every_dashboard_panel_query_returns_data(run_salvo, demo, prometheus):
    """Grafana is not in Debian: run each panel's PromQL against a real Prometheus
    fed by a short remote-write run, with Grafana's variables as Grafana fills them."""
    # 3 VUs of 20 ms each carry 150 of the 200 arrivals a second: drops, for their panel
    r = run_salvo("run", "--url", demo.url("/delay/20"), "--rate", "200/s", "--duration", "4s",
                  "--max-vus", 3, "--vus", 3, "-q",
                  "--out", f"prometheus-rw={prometheus.write_url()}", timeout=60)
    assert r.code == 0, r.err
    assert metric(r.export, "dropped_iterations", "count") > 0
    assert "OUTPUT:" not in r.out, r.out  # every push was taken
    dashboard = json.loads(DASHBOARD.read_text())
    queries = [(p["title"], t["expr"]) for p in dashboard["panels"] for t in p["targets"]]
    assert len(queries) >= 10
    for title, expr in queries:
        promql = expr.replace("$__rate_interval", "1m")
        assert wait_until(lambda: prometheus.query(promql), timeout=10), (title, promql)


# ---- the HTML report -------------------------------------------------------------------


def render(html, tmp_path):
    """Headless Chromium: the DOM after scripts ran, a screenshot, and the console."""
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip("chromium is not installed")
    base = [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,2400",
            f"--user-data-dir={tmp_path / 'chromium'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run(base + ["--dump-dom", html.as_uri()], capture_output=True, text=True,
                         timeout=120)
    png = tmp_path / "report.png"
    shot = subprocess.run(base + [f"--screenshot={png}", html.as_uri()], capture_output=True,
                          text=True, timeout=120)
    console = [line for line in (dom.stderr + shot.stderr).splitlines() if "CONSOLE" in line]
    return dom.stdout, png, console


def assert_self_contained(text):
    lowered = text.lower()
    for needle in ("<script src", "<link", "@import", "url(", "<img", "<iframe"):
        assert needle not in lowered, needle


def test_html_report_renders_its_charts(run_salvo, demo, script, tmp_path):
    path = script(CHECKED.format(url=demo.url("/delay/3")).replace(
        "iterations = 20", "duration = \"3s\""))
    html = tmp_path / "report.html"
    r = run_salvo("run", path, "-q", "--out", f"html={html}")
    assert r.code == 99, r.err
    text = html.read_text()
    assert_self_contained(text)
    assert "Thresholds failed" in text and "p(95)&lt;0.001" in text
    assert "http_req_duration{expected_response:true}" in text  # sub-metrics are there
    assert "body &lt;is&gt; &amp; &quot;empty&quot;" in text  # checks, escaped
    dom, png, console = render(html, tmp_path)
    assert 'data-charts="4"' in dom, console
    assert not [c for c in console if "Uncaught" in c or "Error" in c], console
    assert png.exists() and png.stat().st_size > 20000  # a page with drawings, not blank


def test_salvo_report_from_an_export(run_salvo, demo, tmp_path):
    r = run_salvo("run", "--url", demo.url("/delay/2"), "--vus", 4, "--duration", "3s", "-q")
    assert r.code == 0, r.err
    export = tmp_path / "summary.json"
    export.write_text(json.dumps(r.export))
    html = tmp_path / "from-export.html"
    rep = run_salvo("report", export, "-o", html, export=False)
    assert rep.code == 0, rep.err
    text = html.read_text()
    assert_self_contained(text)
    assert "Passed" in text and demo.url("/delay/2") in text
    data = json.loads(text.split('id="salvo-data">', 1)[1].split("</script>", 1)[0])
    assert len(data["timeseries"]["t_s"]) >= 3  # one point a second
    assert sum(data["timeseries"]["reqs_per_s"]) > 0
    assert data["distribution"]["percentile"][-1] == 100
    dom, _, console = render(html, tmp_path)
    assert 'data-charts="4"' in dom, console


def test_salvo_report_refuses_what_is_not_an_export(run_salvo, tmp_path):
    bad = tmp_path / "x.json"
    bad.write_text('{"metrics": {}}')
    r = run_salvo("report", bad, "-o", tmp_path / "r.html", export=False)
    assert r.code == 2 and "not a salvo summary export" in r.err
