"""Thresholds end to end, against the demo target: --threshold and options.thresholds,
exit codes (0 when every threshold holds, 99 when one fails or abortOnFail stops the
test, 2 for a malformed one before any load), the summary's THRESHOLDS section and the
export's metrics[key].thresholds map ({expression: failed}, as k6 writes it).

Runs are short (--iterations, or a second or two); the abortOnFail run asks for 30 s
and must stop within a few.
"""
import re

import pytest

from conftest import metric

PASS, FAIL = "\u2713", "\u2717"


# ---- helpers ---------------------------------------------------------------------------


def quick(run_salvo, demo, *args, path="/hello"):
    return run_salvo("run", "--url", demo.url(path), "--quiet", *args)


def run_script(run_salvo, demo, path, *args, timeout=60):
    return run_salvo("run", str(path), "--quiet", "-e", f"BASE={demo.url('')}", *args,
                     timeout=timeout)


def summary_thresholds(out):
    """{key: {expression: (mark, shown value)}} from the summary's THRESHOLDS section."""
    lines = out.splitlines()
    heads = [i for i, line in enumerate(lines) if line.strip() == "THRESHOLDS"]
    assert len(heads) == 1, f"no THRESHOLDS section in the summary:\n{out}"
    found, key = {}, None
    for line in lines[heads[0] + 2:]:
        if not line.strip():
            break
        m = re.fullmatch(rf"\s+([{PASS}{FAIL}]) '(.*)' (.+)", line)
        if m:
            assert key is not None, f"a threshold before its metric: {line!r}"
            found[key][m[2]] = (m[1], m[3])
        else:
            key = line.strip()
            found[key] = {}
    return found


def export_thresholds(export):
    """{key: {expression: failed}} from the export's metrics."""
    assert export is not None, "no export written"
    return {k: v["thresholds"] for k, v in export["metrics"].items() if "thresholds" in v}


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr: {err!r}"
    assert lines[0].startswith("salvo: "), lines[0]
    return lines[0]


# ---- passing and failing ---------------------------------------------------------------


def test_passing_thresholds_exit_0(run_salvo, demo):
    exprs = [
        ("http_req_duration", "p(95)<5000"),
        ("http_req_duration", "avg < 5000"),
        ("http_req_duration", "p(99.9)<=5000"),
        ("http_req_duration", "min>=0"),
        ("http_reqs", "count==20"),
        ("http_reqs", "count===20"),
        ("http_reqs", "count!=21"),
        ("http_reqs", "count>=20"),
        ("http_reqs", "rate>0"),
        ("http_req_failed", "rate==0"),
        ("iterations", "count>19"),
        ("vus_max", "value==1"),
        ("http_req_duration{expected_response:true}", "p(95)<5000"),
    ]
    args = [a for key, expr in exprs for a in ("--threshold", f"{key}:{expr}")]
    r = quick(run_salvo, demo, "--iterations", "20", "--vus", "1", *args)
    assert r.code == 0, r.err
    assert "thresholds failed" not in r.err
    shown = summary_thresholds(r.out)
    exported = export_thresholds(r.export)
    for key, expr in exprs:
        assert shown[key][expr][0] == PASS, (key, expr, shown[key])
        assert exported[key][expr] is False, (key, expr, exported[key])
    assert sum(len(v) for v in shown.values()) == len(exprs)
    assert shown["http_reqs"]["count==20"][1] == "20"
    # time values are shown as times
    assert re.fullmatch(r"[\d.]+(ns|µs|ms|s)", shown["http_req_duration"]["p(95)<5000"][1])


def test_failing_threshold_exits_99(run_salvo, demo):
    r = quick(run_salvo, demo, "--iterations", "20", "--vus", "2",
              "--threshold", "http_reqs:count<10", "--threshold", "http_reqs:count>0",
              "--threshold", "http_req_failed:rate<0.01")
    assert r.code == 99, (r.code, r.err)
    assert "thresholds failed: 1 of 3" in r.err
    assert re.search(rf"^\s+{FAIL} 'count<10' 20$", r.out, re.M), r.out
    shown = summary_thresholds(r.out)
    assert shown == {"http_reqs": {"count<10": (FAIL, "20"), "count>0": (PASS, "20")},
                     "http_req_failed": {"rate<0.01": (PASS, "0")}}
    assert export_thresholds(r.export) == {
        "http_reqs": {"count<10": True, "count>0": False},
        "http_req_failed": {"rate<0.01": False},
    }
    # the metrics themselves are still there, next to their thresholds
    assert metric(r.export, "http_reqs", "count") == 20


def test_counter_rate_is_per_second_of_the_run(run_salvo, demo):
    r = quick(run_salvo, demo, "--duration", "1s", "--vus", "1",
              "--threshold", "http_reqs:rate<1", "--threshold", "http_reqs:rate>1")
    assert r.code == 99, r.err
    shown = summary_thresholds(r.out)["http_reqs"]
    assert shown["rate<1"][0] == FAIL and shown["rate>1"][0] == PASS
    observed = float(shown["rate<1"][1])
    # the same count over the same duration as the export's rate
    assert observed == pytest.approx(metric(r.export, "http_reqs", "rate"), rel=1e-3)
    seconds = r.export["salvo"]["duration_ms"] / 1000
    assert observed == pytest.approx(metric(r.export, "http_reqs", "count") / seconds, rel=1e-3)


def test_trend_thresholds_are_in_milliseconds(run_salvo, demo):
    r = quick(run_salvo, demo, "--iterations", "3", "--vus", "1",
              "--threshold", "http_req_duration:min>=90",
              "--threshold", "http_req_duration:max<90", path="/delay/100")
    assert r.code == 99, r.err
    shown = summary_thresholds(r.out)["http_req_duration"]
    assert shown["min>=90"][0] == PASS, shown
    assert shown["max<90"][0] == FAIL, shown
    assert shown["max<90"][1].endswith("ms"), shown
    assert export_thresholds(r.export)["http_req_duration"] == {"min>=90": False,
                                                                "max<90": True}


# ---- sub-metrics -----------------------------------------------------------------------


def test_sub_metric_thresholds_in_a_quick_test(run_salvo, demo):
    url = demo.url("/hello")
    r = quick(run_salvo, demo, "--iterations", "15", "--vus", "1",
              "--threshold", "http_reqs{status:200}:count==15",
              "--threshold", "http_reqs{status:200}:count>20",
              "--threshold", f"http_req_duration{{name:{url}}}:max<5000",
              "--threshold", "http_req_duration{method:GET, status:200}:p(95)<5000")
    assert r.code == 99, r.err
    assert "thresholds failed: 1 of 4" in r.err
    exported = export_thresholds(r.export)
    assert exported["http_reqs{status:200}"] == {"count==15": False, "count>20": True}
    assert exported[f"http_req_duration{{name:{url}}}"] == {"max<5000": False}
    assert exported["http_req_duration{method:GET, status:200}"] == {"p(95)<5000": False}
    # a sub-metric named only by a threshold gets its own entry in the export
    assert r.export["metrics"]["http_reqs{status:200}"]["count"] == 15
    shown = summary_thresholds(r.out)
    assert shown["http_reqs{status:200}"]["count>20"] == (FAIL, "15")
    assert shown[f"http_req_duration{{name:{url}}}"]["max<5000"][0] == PASS


def test_sub_metric_selects_only_matching_requests(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {
            thresholds = {
                ["http_req_duration{name:slow}"] = { "min>=80" },
                ["http_req_duration{name:fast}"] = { "max<80" },
                ["http_reqs{name:fast}"] = { "count==3" },
                ["http_reqs{name:slow,method:GET}"] = { "count==3" },
                ["http_reqs{name:slow,method:POST}"] = { "count>0" },
            },
        }
        function default()
            local B = salvo.env.BASE
            http.get(B .. "/hello", { tags = { name = "fast" } })
            http.get(B .. "/delay/100", { tags = { name = "slow" } })
        end
        """)
    # a flag adds to the script's set for the same key
    r = run_script(run_salvo, demo, path, "--iterations", "3", "--vus", "1",
                   "--threshold", "http_req_duration{name:fast}:min>=80")
    assert r.code == 99, r.err
    exported = export_thresholds(r.export)
    assert exported["http_req_duration{name:slow}"] == {"min>=80": False}
    assert exported["http_req_duration{name:fast}"] == {"max<80": False, "min>=80": True}
    assert exported["http_reqs{name:fast}"] == {"count==3": False}
    assert exported["http_reqs{name:slow,method:GET}"] == {"count==3": False}
    assert r.export["metrics"]["http_req_duration{name:slow}"]["min"] >= 80
    assert r.export["metrics"]["http_req_duration{name:fast}"]["max"] < 80
    shown = summary_thresholds(r.out)
    # no request matched both tags: passed, shown as such
    assert shown["http_reqs{name:slow,method:POST}"]["count>0"] == (PASS, "no samples")
    assert "thresholds failed: 1 of 6" in r.err


def test_sub_metric_tags_with_spaces_around(run_salvo, demo):
    r = quick(run_salvo, demo, "--iterations", "10", "--vus", "1",
              "--threshold", "http_reqs{ status : 200 }:count<5")
    assert r.code == 99, (r.code, r.out)
    assert summary_thresholds(r.out)["http_reqs{ status : 200 }"]["count<5"] == (FAIL, "10")


# ---- checks and custom metrics ---------------------------------------------------------


def test_checks_rate_threshold(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {
            thresholds = {
                checks = { "rate>0.9", "rate==0.5" },
                ["checks{check:status is 200}"] = { "rate==1" },
                ["checks{check:never}"] = { "rate<0.5" },
            },
        }
        function default()
            local r = http.get(salvo.env.BASE .. "/hello")
            salvo.check(r, {
                ["status is 200"] = function(res) return res.status == 200 end,
                ["never"] = function() return false end,
            })
        end
        """)
    r = run_script(run_salvo, demo, path, "--iterations", "4", "--vus", "1")
    assert r.code == 99, r.err
    assert "thresholds failed: 1 of 4" in r.err
    shown = summary_thresholds(r.out)
    assert shown["checks"] == {"rate>0.9": (FAIL, "0.5"), "rate==0.5": (PASS, "0.5")}
    assert shown["checks{check:status is 200}"] == {"rate==1": (PASS, "1")}
    assert shown["checks{check:never}"] == {"rate<0.5": (PASS, "0")}
    exported = export_thresholds(r.export)
    assert exported["checks"] == {"rate>0.9": True, "rate==0.5": False}
    assert exported["checks{check:status is 200}"] == {"rate==1": False}
    assert r.export["metrics"]["checks{check:never}"]["fails"] == 4


CUSTOM_SCRIPT = """\
local http = require("salvo.http")
local salvo = require("salvo")
local metrics = require("salvo.metrics")

local size = metrics.Trend("cart_size")
local think = metrics.Trend("think_time", true)
local orders = metrics.Counter("orders")
local ok = metrics.Rate("order_ok")
local depth = metrics.Gauge("queue_depth")

options = {
    thresholds = {
        cart_size = { "avg==1.25", "med==1.25", "p(95)<1.93", "min>=0.5", "max<2" },
        think_time = { "max<1000" },
        orders = { "count==8" },
        ["orders{kind:big}"] = { "count==1" },
        order_ok = { "rate==0.75" },
        queue_depth = { "value==30" },
    },
}

function default()
    http.get(salvo.env.BASE .. "/hello")
    local i = salvo.vu.iteration            -- 0, 1, 2, 3
    size:add((i + 1) * 0.5)                 -- 0.5, 1, 1.5, 2
    think:add(1.5)                          -- milliseconds
    orders:add(1)
    orders:add(1, { kind = i == 3 and "big" or "small" })
    ok:add(i ~= 0)
    depth:add(i * 10)                       -- the last value stays: 30
end
"""


def test_custom_metric_thresholds(run_salvo, demo, script):
    r = run_script(run_salvo, demo, script(CUSTOM_SCRIPT), "--iterations", "4", "--vus", "1")
    assert r.code == 99, r.err
    assert "thresholds failed: 1 of 10" in r.err
    assert export_thresholds(r.export) == {
        "cart_size": {"avg==1.25": False, "med==1.25": False, "p(95)<1.93": False,
                      "min>=0.5": False, "max<2": True},
        "think_time": {"max<1000": False},
        "orders": {"count==8": False},
        "orders{kind:big}": {"count==1": False},
        "order_ok": {"rate==0.75": False},
        "queue_depth": {"value==30": False},
    }
    shown = summary_thresholds(r.out)
    assert shown["cart_size"]["max<2"] == (FAIL, "2")     # a plain trend: a number
    assert shown["cart_size"]["p(95)<1.93"] == (PASS, "1.925")
    assert shown["think_time"]["max<1000"] == (PASS, "1.5ms")  # a time trend: a time
    assert shown["orders{kind:big}"]["count==1"] == (PASS, "1")
    assert shown["queue_depth"]["value==30"] == (PASS, "30")


def test_gauge_value_is_the_last_sample_whatever_its_tags(run_salvo, script):
    path = script("""\
        local metrics = require("salvo.metrics")
        local depth = metrics.Gauge("depth")
        options = { iterations = 1, thresholds = { depth = { "value==7" } } }
        function default()
            depth:add(5, { k = "a" })
            depth:add(1, { k = "b" })
            depth:add(7, { k = "a" })
        end
        """)
    r = run_salvo("run", str(path), "--quiet")
    assert r.code == 0, (r.code, r.out)
    assert r.export["metrics"]["depth"]["value"] == 7


def test_thresholds_reach_handle_summary_after_teardown(run_salvo, script):
    path = script("""\
        local metrics = require("salvo.metrics")
        local late = metrics.Counter("late_count")
        options = { iterations = 1, thresholds = { late_count = { "count>5", "count==2" } } }
        function default() end
        function teardown() late:add(2) end
        function handle_summary(data)
            local th = data.metrics.late_count.thresholds
            return { stdout = "count>5=" .. tostring(th["count>5"]) ..
                              " count==2=" .. tostring(th["count==2"]) .. "\\n" }
        end
        """)
    r = run_salvo("run", str(path), "--quiet")
    assert r.code == 99, r.err
    assert r.out == "count>5=true count==2=false\n"
    assert export_thresholds(r.export) == {"late_count": {"count>5": True, "count==2": False}}


# ---- abortOnFail -----------------------------------------------------------------------


def test_abort_on_fail_stops_the_test_early(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {
            vus = 2,
            duration = "30s",
            thresholds = {
                http_req_failed = {
                    { threshold = "rate<0.5", abortOnFail = true, delayAbortEval = "2s" },
                },
                http_reqs = { "count>0" },
            },
        }
        function default()
            http.get(salvo.env.BASE .. "/status/500")
            salvo.sleep(0.02)
        end
        """)
    r = run_script(run_salvo, demo, path, timeout=40)
    assert r.code == 99, (r.code, r.err)
    assert r.seconds < 10, f"took {r.seconds:.1f}s of 30s"
    assert "abortOnFail" in r.err and "http_req_failed" in r.err, r.err
    duration_ms = r.export["salvo"]["duration_ms"]
    assert 1900 <= duration_ms < 8000, f"delayAbortEval not respected: {duration_ms} ms"
    assert export_thresholds(r.export) == {"http_req_failed": {"rate<0.5": True},
                                           "http_reqs": {"count>0": False}}
    shown = summary_thresholds(r.out)
    assert shown["http_req_failed"]["rate<0.5"] == (FAIL, "1")


def test_abort_on_fail_lets_iterations_in_flight_finish(run_salvo, demo, script):
    """An abort by threshold is a graceful stop: iterations in flight finish (within
    gracefulStop), none is interrupted, and no new one starts."""
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {
            scenarios = { slow = { executor = "constant-vus", vus = 4, duration = "30s" } },
            thresholds = { http_reqs = { { threshold = "count<2", abortOnFail = true } } },
        }
        function default()
            http.get(salvo.env.BASE .. "/hello")
            salvo.sleep(1.5)
        end
        """)
    r = run_script(run_salvo, demo, path, timeout=40)
    assert r.code == 99, (r.code, r.err)
    # 4 VUs sent at once, the second-one check crossed the threshold; each VU was
    # in its 1.5 s sleep and finishes it
    assert metric(r.export, "iterations", "count") == 4
    assert metric(r.export, "interrupted_iterations", "count") == 0
    assert demo.stats() == 4
    assert 1400 <= r.export["salvo"]["duration_ms"] < 5000


def test_abort_on_fail_that_holds_lets_the_test_run(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {
            vus = 1,
            duration = "2s",
            thresholds = {
                http_req_failed = { { threshold = "rate<0.5", abortOnFail = true } },
                -- no samples: passes, never aborts
                ["http_reqs{status:500}"] = { { threshold = "count<1", abortOnFail = true,
                                                 delayAbortEval = 0 } },
            },
        }
        function default()
            http.get(salvo.env.BASE .. "/hello")
            salvo.sleep(0.05)
        end
        """)
    r = run_script(run_salvo, demo, path)
    assert r.code == 0, r.err
    assert r.export["salvo"]["duration_ms"] >= 1900
    assert "aborted" not in r.err
    assert export_thresholds(r.export)["http_req_failed"] == {"rate<0.5": False}


def test_empty_thresholds_table(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 2, thresholds = {} }
        function default() http.get(salvo.env.BASE .. "/hello") end
        """)
    r = run_script(run_salvo, demo, path)
    assert r.code == 0, r.err
    assert "THRESHOLDS" not in r.out
    assert export_thresholds(r.export) == {}


# ---- no samples ------------------------------------------------------------------------


def test_thresholds_on_metrics_without_samples_pass(run_salvo, demo):
    r = quick(run_salvo, demo, "--iterations", "5", "--vus", "1",
              "--threshold", "http_req_duration{name:nothing}:p(95)<0",
              "--threshold", "dropped_iterations:count>100",
              "--threshold", "iteration_start_delay:max<0",
              "--threshold", "http_reqs{status:500}:count>0")
    assert r.code == 0, r.err
    shown = summary_thresholds(r.out)
    assert shown == {
        "http_req_duration{name:nothing}": {"p(95)<0": (PASS, "no samples")},
        "dropped_iterations": {"count>100": (PASS, "no samples")},
        "iteration_start_delay": {"max<0": (PASS, "no samples")},
        "http_reqs{status:500}": {"count>0": (PASS, "no samples")},
    }
    # the export may leave such metrics out; when it lists one, it passed
    for key, results in export_thresholds(r.export).items():
        assert all(failed is False for failed in results.values()), (key, results)


# ---- malformed thresholds: exit 2 before any load ---------------------------------------

BAD_FLAGS = [
    ("http_req_duration:p(95)", "expected an operator"),
    ("http_req_duration:p(95)<", "expected a number"),
    ("http_req_duration:p(95)<500ms", "unexpected text after the number"),
    ("http_req_duration:p(95)<500 600", "unexpected text after the number"),
    ("http_req_duration:p(101)<500", "expected an aggregation"),
    ("http_req_duration:p95<500", "expected an aggregation"),
    ("http_req_duration:median<500", "expected an aggregation"),
    ("http_req_duration:avg=500", "expected an operator"),
    ("http_req_duration:", "expected an aggregation"),
    ("http_req_duration", "write METRIC:EXPRESSION"),
    (":count>1", "write METRIC:EXPRESSION"),
    ("nope:count>1", 'unknown metric "nope"'),
    ("my_custom{kind:a}:count>1", 'unknown metric "my_custom"'),
    ("http_reqs:avg<1", "does not apply to a counter metric"),
    ("http_reqs:value<1", "does not apply to a counter metric"),
    ("http_req_duration:count>1", "does not apply to a trend metric"),
    ("http_req_duration:rate<1", "does not apply to a trend metric"),
    ("checks:count>1", "does not apply to a rate metric"),
    ("http_req_failed:p(95)<1", "does not apply to a rate metric"),
    ("vus:rate<1", "does not apply to a gauge metric"),
    ("http_reqs{status:200:count>1", "--threshold"),
    ("http_reqs{}:count>1", "a sub-metric is written name{tag:value}"),
    ("http_reqs{status}:count>1", "tag:value"),
    ("http_reqs{:200}:count>1", "tag:value"),
    ("http_reqs{status:200}x:count>1", "a sub-metric is written name{tag:value}"),
]


@pytest.mark.parametrize("flag,message", BAD_FLAGS, ids=[f for f, _ in BAD_FLAGS])
def test_malformed_flag_exits_2_with_one_line(run_salvo, demo, flag, message):
    r = quick(run_salvo, demo, "--iterations", "5", "--threshold", flag)
    assert r.code == 2, (r.code, r.err)
    line = one_line(r.err)
    assert message in line, line
    assert "THRESHOLDS" not in r.out and "finished" not in r.out, r.out
    assert demo.stats() == 0, "requests were sent"


BAD_OPTIONS = [
    ('{ http_req_duration = { "p(95)" } }', "expected an operator"),
    ('{ http_req_duration = { "p(95)<500", "avg<" } }', "expected a number"),
    ('{ http_req_duration = { "p(101)<500" } }', "expected an aggregation"),
    ('{ http_req_duration = { "p(95)<500 ms" } }', "unexpected text"),
    ('{ nope = { "count>1" } }', 'unknown metric "nope"'),
    ('{ http_reqs = { "p(95)<1" } }', "does not apply to a counter metric"),
    ('{ cart = { "count>1" } }', "does not apply to a trend metric"),
    ('{ ["http_reqs{status"] = { "count>1" } }', "a sub-metric is written"),
    ('{ http_req_failed = { { threshold = "rate<0.1", abortOnFail = true, '
     'delayAbortEval = "soon" } } }', "delayAbortEval"),
    ('{ http_req_failed = { { abortOnFail = true } } }', "expected an expression"),
    ('{ http_req_failed = { true } }', "expected an expression"),
    ('{ http_req_failed = "rate<0.1" }', "expected a list of expressions"),
    ('{ "rate<0.1" }', "expected a table"),
    ('"rate<0.1"', "expected a table"),
]


@pytest.mark.parametrize("thresholds,message", BAD_OPTIONS, ids=[t for t, _ in BAD_OPTIONS])
def test_malformed_option_exits_2_with_one_line(run_salvo, demo, script, thresholds, message):
    path = script(f"""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        local metrics = require("salvo.metrics")
        local cart = metrics.Trend("cart")
        options = {{ iterations = 3, thresholds = {thresholds} }}
        function default() http.get(salvo.env.BASE .. "/hello") end
        """)
    r = run_script(run_salvo, demo, path)
    assert r.code == 2, (r.code, r.err)
    line = one_line(r.err)
    assert message in line, line
    assert "THRESHOLDS" not in r.out, r.out
    assert demo.stats() == 0, "requests were sent"


def test_number_key_in_thresholds_exits_2(run_salvo, demo, script):
    path = script("""\
        options = { iterations = 1, thresholds = { { "p(95)<500" } } }
        function default() end
        """)
    r = run_script(run_salvo, demo, path)
    assert r.code == 2, (r.code, r.err)
    one_line(r.err)
