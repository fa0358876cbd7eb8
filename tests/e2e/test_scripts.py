"""Lua scripts end to end: every example in examples/ against the demo target, and the
script runtime's behaviour (VU globals, setup/teardown, errors and exit codes, options
and flags, http params, data files, custom metrics) with small scripts written per test.

Assertions read the summary export (metrics, root_group) and salvo's stderr, not only
the exit code. Runs are short (--duration 1-2s or a few --iterations) and the runs that
check logs use one worker, so lines from two threads never mix.
"""
import csv
import json
import re
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from conftest import REPO, TcpServer, metric

EXAMPLES = REPO / "examples"


# ---- helpers ---------------------------------------------------------------------------


def checks_of(export):
    """(passes, fails) of the checks rate; (0, 0) when no check ran."""
    m = export["metrics"].get("checks", {})
    return m.get("passes", 0), m.get("fails", 0)


def walk_checks(group, found=None):
    """{check path: (passes, fails)} for every check in a root_group tree."""
    found = {} if found is None else found
    for check in group.get("checks", {}).values():
        found[check["path"]] = (check["passes"], check["fails"])
    for sub in group.get("groups", {}).values():
        walk_checks(sub, found)
    return found


def failed_checks(export):
    """Names of the checks that failed at least once (from root_group, else the count)."""
    tree = walk_checks(export["root_group"])
    if tree:
        return sorted(path for path, (_, fails) in tree.items() if fails)
    return [] if checks_of(export)[1] == 0 else ["(some check; root_group is empty)"]


def assert_all_checks_passed(run, expected_passes=None):
    assert run.export is not None, f"no export; stderr: {run.err!r}"
    passes, fails = checks_of(run.export)
    assert fails == 0, f"failed checks: {failed_checks(run.export)}; stderr: {run.err[-2000:]!r}"
    assert passes > 0, f"no check ran; stderr: {run.err[-2000:]!r}"
    if expected_passes is not None:
        assert passes == expected_passes, f"stderr: {run.err[-2000:]!r}"
    return passes


def no_iteration_errors(run):
    assert metric(run.export, "iteration_errors", "count") == 0, run.err[-2000:]


def run_script(run_salvo, path, *args, base=None, timeout=60):
    """salvo run PATH [-e BASE=base] --quiet ARGS... (with --summary-export)."""
    argv = ["run", str(path), "--quiet", *args]
    if base is not None:
        argv += ["-e", f"BASE={base}"]
    return run_salvo(*argv, timeout=timeout)


def base_url(target):
    return target.url("")


# ---- the examples ----------------------------------------------------------------------


def test_every_example_is_tested():
    """Every example in examples/ has a test in the end-to-end suite, so none can rot
    (STYLE.md)."""
    source = "".join(p.read_text() for p in Path(__file__).parent.glob("test_*.py"))
    examples = sorted(p.name for p in EXAMPLES.glob("*.lua"))
    assert examples, "examples/ has no scripts"
    untested = [name for name in examples if f'EXAMPLES / "{name}"' not in source]
    assert untested == [], f"examples without a test: {untested}"
    readme = (EXAMPLES / "README.md").read_text()
    assert [name for name in examples if f"[{name}]({name})" not in readme] == []


def test_example_quickstart(run_salvo, demo):
    before = demo.stats()
    r = run_script(run_salvo, EXAMPLES / "quickstart.lua", "--duration", "2s",
                   base=base_url(demo))
    assert r.code == 0, r.err
    export = r.export
    reqs = metric(export, "http_reqs", "count")
    # five VUs (options.vus), each at least once; about two each with the 1 s pause
    assert 5 <= reqs <= 20, reqs
    assert metric(export, "vus_max", "value") == 5
    assert metric(export, "http_req_failed", "passes") == 0
    # two checks per request, all passing
    assert_all_checks_passed(r, expected_passes=2 * reqs)
    assert walk_checks(export["root_group"]) == {
        "::status is 200": (reqs, 0), "::says hello": (reqs, 0)}
    assert metric(export, "iterations", "count") == reqs
    no_iteration_errors(r)
    assert demo.stats() - before == reqs
    # the default text summary is printed, with the checks row
    assert re.search(r"checks\.+: 100\.00%", r.out), r.out


def test_example_handle_summary(run_salvo, demo, tmp_path):
    out = tmp_path / "report.json"
    r = run_script(run_salvo, EXAMPLES / "handle-summary.lua", "--duration", "1s",
                   "-e", f"OUT={out}", base=base_url(demo))
    assert r.code == 0, r.err
    reqs = metric(r.export, "http_reqs", "count")
    passes = assert_all_checks_passed(r)
    # stdout is handle_summary's text instead of the summary
    m = re.fullmatch(r"(\d+) requests, (\d+) failed, checks (\d+)/(\d+) passed, "
                     r"p\(95\) [\d.]+ ms in [\d.]+ s\n", r.out)
    assert m, f"stdout is not handle_summary's line: {r.out!r}"
    assert (int(m[1]), int(m[2]), int(m[3]), int(m[4])) == (reqs, 0, passes, passes)
    assert "http_reqs" not in r.out and "checks...." not in r.out
    # and the file it returned, with the same figures as the export
    report = json.loads(out.read_text())
    assert report["requests"] == reqs
    assert report["failed"] == 0
    assert report["checks_passed"] == passes and report["checks_failed"] == 0
    assert report["p95_ms"] == pytest.approx(metric(r.export, "http_req_duration", "p(95)"))
    assert 0.9 <= report["duration_s"] <= 30


def api(target, method, path, body=None, token=None):
    """(status, JSON) of one request to the demo target's JSON API."""
    req = urllib.request.Request(target.url(path), method=method,
                                 data=None if body is None else json.dumps(body).encode())
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return r.status, json.load(r)
    except urllib.error.HTTPError as e:
        with e:
            return e.code, json.loads(e.read() or b"null")


def orders_of(target, username, password):
    status, body = api(target, "POST", "/auth/login", {"username": username, "password": password})
    assert status == 200, body
    status, me = api(target, "GET", "/users/me", token=body["token"])
    assert status == 200, me
    return me["orders"]


def test_example_scenarios(run_salvo, demo):
    """Two scenarios at once: ramping browsers and a fixed rate of orders."""
    r = run_script(run_salvo, EXAMPLES / "scenarios.lua", base=base_url(demo))
    assert r.code == 0, r.err
    no_iteration_errors(r)
    totals = r.export["salvo"]["totals"]["series"]
    buys = sum(s["value"] for s in totals
               if s["metric"] == "iterations" and s["tags"].get("scenario") == "buy")
    assert buys == 10  # 5/s for 2 s: the arrivals are exact
    browse_reqs = [s for s in totals if s["metric"] == "http_reqs"
                   and s["tags"].get("scenario") == "browse"]
    assert browse_reqs and all(s["tags"].get("kind") == "read" for s in browse_reqs)
    assert r.export["metrics"]["vus_max"]["max"] >= 4
    assert metric(r.export, "checks", "fails") == 0
    assert set(r.export["salvo"]["options"]["thresholds"]) == {
        "http_req_duration{scenario:browse}", "http_req_duration{scenario:buy}",
        "http_req_failed{scenario:buy}", "checks"}


def test_example_user_journey(run_salvo, demo):
    admin_orders = orders_of(demo, "admin", "admin")
    before = demo.stats()
    r = run_script(run_salvo, EXAMPLES / "user-journey.lua", "--duration", "2s",
                   base=base_url(demo))
    sent = demo.stats() - before
    assert r.code == 0, r.err
    export = r.export
    no_iteration_errors(r)
    iterations = metric(export, "iterations", "count")
    assert iterations >= 5  # five VUs, 0.4 s of think time an iteration
    # every check passed, each once an iteration, in its group
    assert_all_checks_passed(r, expected_passes=8 * iterations)
    browse = ("catalogue is 200", "catalogue lists products", "product is 200",
              "product is the one asked for", "product has a price")
    order = ("order is 201", "order is for the product", "order total is right")
    expected = {f"::browse::{name}": (iterations, 0) for name in browse}
    expected.update({f"::order::{name}": (iterations, 0) for name in order})
    assert walk_checks(export["root_group"]) == expected
    assert set(export["root_group"]["groups"]) == {"browse", "order"}
    assert export["root_group"]["checks"] == {}
    # two groups an iteration, each shorter than its iteration
    trends = export["salvo"]["trends"]
    assert trends["group_duration"]["count"] == 2 * iterations
    assert metric(export, "group_duration", "max") < metric(export, "iteration_duration", "max")
    # one order_latency sample per order, in ms like http_req_duration
    assert trends["order_latency"]["count"] == iterations
    assert trends["order_latency"]["unit"] == "us"
    latency = export["metrics"]["order_latency"]
    assert 0 < latency["min"] <= latency["avg"] <= latency["max"] < 5000
    assert latency["max"] <= metric(export, "http_req_duration", "max")
    # the orders reached the target: admin (setup's login) placed one an iteration
    assert orders_of(demo, "admin", "admin") - admin_orders == iterations
    # setup's login, then a list, a product and an order an iteration
    assert metric(export, "http_reqs", "count") == 1 + 3 * iterations
    assert metric(export, "http_req_failed", "passes") == 0
    assert sent == 1 + 3 * iterations
    # the text summary shows the groups and the custom trend
    assert re.search(r"█ browse", r.out) and re.search(r"█ order", r.out), r.out
    assert re.search(r"^\s+order_latency\.+: avg=", r.out, re.M), r.out


def test_example_jwt_per_vu(run_salvo, demo):
    before = demo.stats()
    r = run_script(run_salvo, EXAMPLES / "jwt-per-vu.lua", "--duration", "2s",
                   base=base_url(demo))
    assert r.code == 0, r.err
    export = r.export
    no_iteration_errors(r)
    vus = metric(export, "vus_max", "value")
    assert vus == 10
    iterations = metric(export, "iterations", "count")
    assert iterations >= 2 * vus  # 0.5 s of think time: at least two each in 2 s
    # each VU registered one user and logged in once, then reused its token
    assert walk_checks(export["root_group"]) == {
        "::registered": (vus, 0),
        "::logged in": (vus, 0),
        "::token is for me": (vus, 0),
        "::me is 200": (iterations, 0),
        "::me is my user": (iterations, 0),
    }
    assert metric(export, "http_reqs", "count") == 2 * vus + iterations
    assert metric(export, "http_req_failed", "passes") == 0
    assert demo.stats() - before == 2 * vus + iterations
    # run it again against the same target: fresh names, no clash
    r = run_script(run_salvo, EXAMPLES / "jwt-per-vu.lua", "--duration", "1s", "--vus", "2",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert walk_checks(r.export["root_group"])["::registered"] == (2, 0)


def test_example_csv_users(run_salvo, demo):
    rows = list(csv.DictReader((EXAMPLES / "data" / "users.csv").open(newline="")))
    assert len(rows) == 10
    before = demo.stats()
    r = run_script(run_salvo, EXAMPLES / "csv-users.lua", "--vus", "3", "--iterations", "9",
                   base=base_url(demo))
    assert r.code == 0, r.err
    export = r.export
    no_iteration_errors(r)
    assert walk_checks(export["root_group"]) == {
        "::signed up": (3, 0),
        "::logged in": (9, 0),
        "::got a token": (9, 0),
        "::profile is mine": (9, 0),
    }
    assert metric(export, "http_reqs", "count") == 3 + 9 * 2
    assert demo.stats() - before == 3 + 9 * 2
    # the first three rows' users exist now, with their passwords (quoted CSV fields
    # included); the others do not
    for row in rows[:3]:
        assert api(demo, "POST", "/auth/register", row)[0] == 409, row
        assert orders_of(demo, row["username"], row["password"]) == 0
    for row in rows[3:]:
        status, _ = api(demo, "POST", "/auth/login", row)
        assert status == 401, row
    # a second run with more VUs than rows: rows wrap around, existing users are fine
    r = run_script(run_salvo, EXAMPLES / "csv-users.lua", "--vus", "12", "--iterations", "12",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=12 + 12 * 3)
    for row in rows:
        assert orders_of(demo, row["username"], row["password"]) == 0


def test_handle_summary_error_exits_107_and_keeps_the_export(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default() http.get(salvo.env.BASE .. "/hello") end
        function handle_summary(summary)
            salvo.log("got", summary.metrics.http_reqs.count, "requests")
            error("cannot format")
        end
        """, name="hs_err.lua")
    r = run_script(run_salvo, path, "--iterations", "2", base=base_url(demo))
    assert r.code == 107, (r.code, r.err)
    assert re.search(r"handle_summary: \S*hs_err\.lua:6: cannot format", r.err), r.err
    assert "got\t2\trequests" in r.err
    assert metric(r.export, "http_reqs", "count") == 2


# ---- VU globals, shared locals, setup data ------------------------------------------------

GLOBALS_SCRIPT = """\
local http = require("salvo.http")
local salvo = require("salvo")

greeting = "hello from init"   -- an init-stage global: every VU reads it
local shared = { n = 0 }       -- a top-level local: shared by the VUs of a worker

function default()
    http.get(salvo.env.BASE .. "/hello")
    count = (count or 0) + 1   -- a global assigned by a VU belongs to that VU
    shared.n = shared.n + 1
    if count == 1 then
        salvo.check(owner, { ["no other VU's global"] = function(o) return o == nil end })
        owner = salvo.vu.id
        salvo.check(greeting, { ["init global visible"] = function(g) return g == "hello from init" end })
        greeting = "changed by VU " .. salvo.vu.id
    end
    salvo.check(owner, { ["own global kept"] = function(o) return o == salvo.vu.id end })
    salvo.check(greeting, { ["own copy of the init global"] = function(g)
        return g == "changed by VU " .. salvo.vu.id end })
    salvo.log("count", count, "shared", shared.n)
end
"""


def test_vu_globals_are_per_vu_and_top_level_locals_per_worker(run_salvo, demo, script):
    path = script(GLOBALS_SCRIPT)
    r = run_script(run_salvo, path, "--vus", "3", "--iterations", "12", "--workers", "1",
                   base=base_url(demo))
    assert r.code == 0, r.err
    no_iteration_errors(r)
    assert_all_checks_passed(r, expected_passes=3 * 2 + 12 * 2)
    lines = re.findall(r"\[VU (\d+) iter (\d+)\] count\t(\d+)\tshared\t(\d+)", r.err)
    assert len(lines) == 12, r.err
    by_vu = {}
    for vu, it, count, _ in lines:
        by_vu.setdefault(int(vu), []).append((int(it), int(count)))
    assert sorted(by_vu) == [1, 2, 3]
    for vu, seen in by_vu.items():
        # each VU counts only its own iterations: 1, 2, 3, ... with iteration 0, 1, 2, ...
        assert seen == [(i, i + 1) for i in range(len(seen))], (vu, seen)
    # one worker: the local is shared by all three VUs, so it counts every iteration
    assert sorted(int(s) for *_, s in lines) == list(range(1, 13))


def test_top_level_locals_are_per_worker(run_salvo, demo, script):
    # Two workers, one VU each: each worker's state has its own copy of the local,
    # so it counts exactly what its single VU did.
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        local shared = { n = 0 }
        function default()
            http.get(salvo.env.BASE .. "/hello")
            count = (count or 0) + 1
            shared.n = shared.n + 1
            salvo.check(shared.n, { ["local counts this worker's VU only"] = function(n)
                return n == count end })
        end
        """)
    r = run_script(run_salvo, path, "--vus", "2", "--iterations", "10", "--workers", "2",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert r.export["salvo"]["config"]["workers"] == 2
    assert_all_checks_passed(r, expected_passes=10)


SETUP_SCRIPT = """\
local http = require("salvo.http")
local salvo = require("salvo")

function setup()
    local r = http.get(salvo.env.BASE .. "/hello")
    return { token = "abc", n = 3, list = { 1, 2, 3 }, body = r.body, nested = { ok = true } }
end

local function valid(d)
    return type(d) == "table" and d.token == "abc" and d.n == 3 and #d.list == 3
        and d.list[3] == 3 and d.body == "Hello, salvo!" and d.nested.ok == true
end

function default(data)
    http.get(salvo.env.BASE .. "/hello")
    salvo.check(data, { ["setup data in default"] = valid })
end

function teardown(data)
    salvo.check(data, { ["setup data in teardown"] = valid })
    http.get(salvo.env.BASE .. "/hello?teardown")
end
"""


def test_setup_data_reaches_every_vu_and_teardown(run_salvo, demo, script):
    before = demo.stats()
    r = run_script(run_salvo, script(SETUP_SCRIPT), "--vus", "4", "--iterations", "8",
                   "--workers", "2", base=base_url(demo))
    assert r.code == 0, r.err
    no_iteration_errors(r)
    assert walk_checks(r.export["root_group"]) == {
        "::setup data in default": (8, 0), "::setup data in teardown": (1, 0)}
    assert_all_checks_passed(r, expected_passes=9)
    # setup's and teardown's requests count with the VUs' ones
    assert metric(r.export, "http_reqs", "count") == 10
    assert demo.stats() - before == 10


def test_data_is_nil_without_setup(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default(data)
            http.get(salvo.env.BASE .. "/hello")
            salvo.check(data, { ["data is nil"] = function(d) return d == nil end })
        end
        function teardown(data)
            salvo.check(data, { ["teardown data is nil"] = function(d) return d == nil end })
        end
        """)
    r = run_script(run_salvo, path, "--iterations", "2", base=base_url(demo))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=3)


def test_setup_error_exits_107_without_load(run_salvo, demo, script):
    before = demo.stats()
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function setup()
            error("no test data")
        end
        function default() http.get(salvo.env.BASE .. "/hello") end
        function teardown() http.get(salvo.env.BASE .. "/hello") end
        """, name="setup_err.lua")
    r = run_script(run_salvo, path, "--iterations", "3", base=base_url(demo))
    assert r.code == 107, (r.code, r.err)
    assert re.search(r"setup\(\): \S*setup_err\.lua:4: no test data", r.err), r.err
    assert demo.stats() == before  # neither the VUs nor teardown ran


def test_teardown_error_exits_107_after_the_summary(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default() http.get(salvo.env.BASE .. "/hello") end
        function teardown() salvo.fail("cleanup failed") end
        """, name="td_err.lua")
    r = run_script(run_salvo, path, "--iterations", "2", base=base_url(demo))
    assert r.code == 107, (r.code, r.err)
    assert re.search(r"teardown\(\): \S*td_err\.lua:4: cleanup failed", r.err), r.err
    assert metric(r.export, "iterations", "count") == 2  # the run's results are kept
    assert "http_reqs" in r.out


# ---- iteration errors and logging ---------------------------------------------------------


def test_iteration_errors_counted_and_logged_with_vu_and_line(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            if salvo.vu.iteration % 2 == 0 then
                error("boom " .. salvo.vu.iteration)
            end
            salvo.check(true, { ["reached"] = true })
        end
        """, name="errors.lua")
    r = run_script(run_salvo, path, "--iterations", "6", base=base_url(demo))
    assert r.code == 0, r.err  # script errors in iterations do not change the exit code
    assert metric(r.export, "iteration_errors", "count") == 3
    assert metric(r.export, "iterations", "count") == 6
    assert_all_checks_passed(r, expected_passes=3)
    # the first one is logged at once, with the VU, the iteration and file:line
    assert re.search(r"error in VU 1, iteration 0: \S*errors\.lua:6: boom 0\n", r.err), r.err
    # salvo's own summary lists them
    assert re.search(r"iteration_errors\.+: 3\b", r.out), r.out


def test_fail_reports_the_callers_line(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            salvo.fail("unexpected answer")
        end
        """, name="fails.lua")
    r = run_script(run_salvo, path, "--iterations", "1", base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 1
    assert re.search(r"error in VU 1, iteration 0: \S*fails\.lua:5: unexpected answer", r.err), r.err


def test_iteration_error_logging_is_rate_limited(run_salvo, demo, script):
    path = script("""\
        local salvo = require("salvo")
        function default()
            salvo.sleep(0.001)
            error("again")
        end
        """, name="noisy.lua")
    r = run_script(run_salvo, path, "--vus", "2", "--duration", "1500ms", "--workers", "1")
    assert r.code == 0, r.err
    errors = metric(r.export, "iteration_errors", "count")
    assert errors >= 50, errors
    logged = re.findall(r"error in VU \d+, iteration \d+: \S*noisy\.lua:4: again", r.err)
    assert 1 <= len(logged) <= 3, r.err  # at most one line a second
    more = [int(n) for n in re.findall(r"\((\d+) more iteration errors", r.err)]
    assert more and all(n > 0 for n in more), r.err
    assert len(r.err.splitlines()) <= 6, r.err


def test_every_iteration_error_is_logged_or_counted_in_a_line(run_salvo, script):
    path = script("""\
        local salvo = require("salvo")
        function default()
            salvo.sleep(0.001)
            error("again")
        end
        """, name="noisy.lua")
    r = run_script(run_salvo, path, "--vus", "2", "--duration", "1500ms", "--workers", "1")
    assert r.code == 0, r.err
    logged = len(re.findall(r"error in VU \d+, iteration \d+: ", r.err))
    more = sum(int(n) for n in re.findall(r"\((\d+) more iteration errors", r.err))
    assert logged + more == metric(r.export, "iteration_errors", "count"), r.err


def test_log_lines_name_the_vu_and_iteration(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        salvo.log("loading")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            salvo.log("scenario", salvo.scenario.name, "vu", salvo.vu.id)
            print("via print", 42)
        end
        """)
    r = run_script(run_salvo, path, "--vus", "2", "--iterations", "4", "--workers", "1",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert "[init] loading\n" in r.err
    found = re.findall(r"\[VU (\d) iter (\d)\] scenario\tdefault\tvu\t(\d)\n", r.err)
    assert len(found) == 4 and all(vu == vu2 for vu, _, vu2 in found), r.err
    assert len(re.findall(r"\[VU \d iter \d\] via print\t42\n", r.err)) == 4, r.err


def test_log_lines_of_two_workers_do_not_mix(run_salvo, script):
    path = script("""\
        local salvo = require("salvo")
        function default()
            salvo.sleep(0.001)
            for i = 1, 20 do
                salvo.log("line", salvo.vu.id, i, "padding-padding-padding")
            end
        end
        """)
    r = run_script(run_salvo, path, "--vus", "2", "--duration", "1s", "--workers", "2")
    assert r.code == 0, r.err
    lines = r.err.splitlines()
    assert len(lines) > 1000
    pattern = re.compile(r"\[VU [12] iter \d+\] line\t[12]\t\d+\tpadding-padding-padding")
    torn = [line for line in lines if not pattern.fullmatch(line)]
    assert torn == [], f"{len(torn)} of {len(lines)} lines torn, e.g. {torn[:3]}"


# ---- errors before the load: exit codes ---------------------------------------------------


def one_line(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1, f"expected one line on stderr: {err!r}"
    return lines[0]


def test_syntax_error_exits_107_with_file_and_line(run_salvo, script):
    path = script("""\
        local salvo = require("salvo")
        function default()
            if then
            end
        end
        """, name="broken.lua")
    r = run_script(run_salvo, path)
    assert r.code == 107, (r.code, r.err)
    line = one_line(r.err)
    assert re.search(r"broken\.lua:3: .*near 'then'", line), line
    assert r.export is None and "http_reqs" not in r.out


def test_init_error_names_the_missing_data_file(run_salvo, script):
    path = script("""\
        local data = require("salvo.data")
        local users = data.csv("missing-users.csv")
        function default() end
        """, name="init.lua")
    r = run_script(run_salvo, path)
    assert r.code == 107, (r.code, r.err)
    line = one_line(r.err)
    assert "init.lua:2:" in line and "missing-users.csv" in line, line
    assert "No such file" in line, line


def test_init_runtime_error_exits_107(run_salvo, script):
    path = script("""\
        local salvo = require("salvo")
        local n = nil
        local x = n + 1
        function default() end
        """, name="init2.lua")
    r = run_script(run_salvo, path)
    assert r.code == 107, (r.code, r.err)
    assert re.search(r"init2\.lua:3: attempt to perform arithmetic", one_line(r.err)), r.err


@pytest.mark.parametrize("call", [
    'http.get("http://127.0.0.1:9/never")',
    "salvo.sleep(0.1)",
    'salvo.check(1, { ok = true })',
    'salvo.group("g", function() end)',
])
def test_vu_only_calls_in_the_init_stage_exit_107(run_salvo, script, call):
    path = script(f"""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        {call}
        function default() end
        """, name="init_stage.lua")
    r = run_script(run_salvo, path)
    assert r.code == 107, (r.code, r.err)
    line = one_line(r.err)
    assert "init_stage.lua:3:" in line and "not allowed in the init stage" in line, line


def test_unknown_option_exits_2_naming_it(run_salvo, script):
    path = script("""\
        options = { vus = 1, frobnicate = true }
        function default() end
        """)
    r = run_script(run_salvo, path)
    assert r.code == 2, (r.code, r.err)
    line = one_line(r.err)
    assert "options.frobnicate" in line and "unknown option" in line, line


@pytest.mark.parametrize("key,value", [
    ("hosts", "{}"),
    ("systemTags", "{}"),
])
def test_k6_options_not_supported_yet_exit_2(run_salvo, script, key, value):
    path = script(f"""\
        options = {{ {key} = {value} }}
        function default() end
        """)
    r = run_script(run_salvo, path)
    assert r.code == 2, (r.code, r.err)
    line = one_line(r.err)
    assert f"options.{key}" in line and "not supported yet" in line, line


def test_option_of_the_wrong_type_exits_2(run_salvo, script):
    path = script("""\
        options = { vus = "five" }
        function default() end
        """)
    r = run_script(run_salvo, path)
    assert r.code == 2, (r.code, r.err)
    assert "options.vus" in one_line(r.err), r.err


# ---- test.abort ---------------------------------------------------------------------------


def test_abort_exits_108_and_keeps_the_results(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            if salvo.vu.iteration == 2 then
                salvo.test.abort("seen enough")
            end
        end
        """)
    r = run_script(run_salvo, path, "--vus", "2", "--duration", "30s", base=base_url(demo))
    assert r.code == 108, (r.code, r.err)
    assert r.seconds < 20  # long before the 30 s
    assert "seen enough" in r.err
    assert r.export is not None and 3 <= metric(r.export, "http_reqs", "count") <= 20


def test_abort_in_setup_exits_108(run_salvo, script):
    path = script("""\
        local salvo = require("salvo")
        function setup() salvo.test.abort("target not ready") end
        function default() end
        """)
    r = run_script(run_salvo, path)
    assert "target not ready" in r.err
    assert r.code == 108, (r.code, r.err)


# ---- options, flags and env ---------------------------------------------------------------


def test_flags_override_options(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { vus = 5, iterations = 50, tags = { team = "web", env = "script" } }
        function default() http.get(salvo.env.BASE .. "/hello") end
        """)
    r = run_script(run_salvo, path, "--vus", "2", "--iterations", "4", "--tag", "env=flag",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "iterations", "count") == 4
    assert metric(r.export, "vus_max", "value") == 2
    config = r.export["salvo"]["config"]
    assert config["scenarios"]["default"]["vus"] == 2
    assert config["scenarios"]["default"]["iterations"] == 4
    assert config["tags"] == {"team": "web", "env": "flag"}

    # without flags, the options rule
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "iterations", "count") == 50
    assert metric(r.export, "vus_max", "value") == 5


def test_duration_flag_overrides_options(run_salvo, demo, script):
    path = script("""\
        local salvo = require("salvo")
        options = { vus = 1, duration = "1m" }
        function default() salvo.sleep(0.05) end
        """)
    r = run_script(run_salvo, path, "--duration", "1s", "--vus", "2")
    assert r.code == 0, r.err
    assert r.seconds < 20
    assert r.export["salvo"]["config"]["scenarios"]["default"]["duration"] == "1s"
    assert metric(r.export, "vus_max", "value") == 2
    assert 10 <= metric(r.export, "iterations", "count") <= 60


def test_env_flag_sets_salvo_env(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        -- env is readable in the init stage, e.g. to size the test
        options = { vus = tonumber(salvo.env.VUS) or 1 }
        function default()
            http.get(salvo.env.BASE .. "/hello")
            salvo.check(salvo.env, {
                ["-e value"] = function(e) return e.GREETING == "hello world" end,
                ["-e empty value"] = function(e) return e.EMPTY == "" end,
                ["-e with = in the value"] = function(e) return e.QUERY == "a=1&b=2" end,
                ["process environment"] = function(e) return e.PATH ~= nil end,
                ["unset is nil"] = function(e) return e.NOT_SET_ANYWHERE == nil end,
            })
        end
        """)
    r = run_script(run_salvo, path, "-e", "GREETING=hello world", "-e", "EMPTY=",
                   "-e", "QUERY=a=1&b=2", "-e", "VUS=3", "--iterations", "3",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "vus_max", "value") == 3
    assert_all_checks_passed(r, expected_passes=15)


# ---- checks and groups ----------------------------------------------------------------------


def test_groups_and_checks_tree(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            salvo.check(1, { ["at the root"] = function(v) return v == 1 end })
            local got = salvo.group("outer", function()
                local r = http.get(salvo.env.BASE .. "/hello")
                salvo.check(r, { ["outer ok"] = function(r) return r.status == 200 end })
                salvo.group("inner", function()
                    salvo.check(r, { ["inner fails on odd iterations"] = function(r)
                        return salvo.vu.iteration % 2 == 0 end })
                end)
                return "value", 2
            end)
            salvo.check(got, { ["group returns fn's value"] = function(v) return v == "value" end })
            if salvo.vu.iteration == 0 then
                salvo.group("raises", function() error("inside a group") end)
            end
        end
        """)
    r = run_script(run_salvo, path, "--iterations", "4", base=base_url(demo))
    assert r.code == 0, r.err
    export = r.export
    assert metric(export, "iteration_errors", "count") == 1
    # 4 checks an iteration; the inner one fails on iterations 1 and 3
    assert checks_of(export) == (14, 2)
    # group_duration: outer and inner every iteration, "raises" once
    assert metric(export, "group_duration", "max") > 0
    assert export["salvo"]["trends"]["group_duration"]["count"] == 4 + 4 + 1
    root = export["root_group"]
    assert walk_checks(root) == {
        "::at the root": (4, 0),
        "::group returns fn's value": (4, 0),
        "::outer::outer ok": (4, 0),
        "::outer::inner::inner fails on odd iterations": (2, 2),
    }
    outer = root["groups"]["outer"]
    assert (outer["name"], outer["path"]) == ("outer", "::outer")
    assert outer["groups"]["inner"]["path"] == "::outer::inner"
    assert set(root["groups"]) == {"outer", "raises"}
    # the failed check is named in the text summary
    assert "inner fails on odd iterations" in r.out


def test_group_names_cannot_contain_the_separator(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            salvo.group("a::b", function() end)
        end
        """, name="groupname.lua")
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 1
    assert "group names cannot contain '::'" in r.err


# ---- salvo.http -----------------------------------------------------------------------------


def test_expected_statuses_decide_what_failed(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local B = salvo.env.BASE
            local a = http.get(B .. "/status/404", { expected_statuses = { 200, 404 } })
            local b = http.get(B .. "/status/404", { expected_statuses = { { min = 400, max = 499 } } })
            local c = http.get(B .. "/status/404")
            local d = http.get(B .. "/status/200", { expected_statuses = { 201 } })
            salvo.check(a, { ["404 read"] = function(r) return r.status == 404 end })
            salvo.check(c, { ["error_code 1404"] = function(r) return r.error_code == 1404 end })
            salvo.check(d, { ["200 unexpected"] = function(r) return r.status == 200 end })
        end
        """)
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=3)
    # k6's naming: http_req_failed "passes" are the failed requests (c and d)
    assert metric(r.export, "http_req_failed", "passes") == 2
    assert metric(r.export, "http_req_failed", "fails") == 2
    assert r.export["metrics"]["http_req_duration{expected_response:true}"]


def test_expected_404_is_not_listed_as_an_error(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            http.get(salvo.env.BASE .. "/status/404", { expected_statuses = { 404 } })
        end
        """)
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "http_req_failed", "passes") == 0
    assert r.export["salvo"]["errors"] == []


def test_response_type_none_discards_the_body(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local B = salvo.env.BASE
            local none = http.get(B .. "/bytes/1000", { response_type = "none" })
            local text = http.get(B .. "/bytes/1000")
            salvo.check(none, {
                ["status 200"] = function(r) return r.status == 200 end,
                ["empty body"] = function(r) return r.body == "" end,
                ["length still announced"] = function(r) return r.headers["Content-Length"] == "1000" end,
            })
            salvo.check(text, { ["text body"] = function(r) return #r.body == 1000 end })
        end
        """)
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=4)
    assert metric(r.export, "data_received", "count") >= 2000  # both bodies were received


def test_response_headers_are_case_insensitive(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local r = http.get(salvo.env.BASE .. "/hello")
            local h = r.headers
            salvo.check(h, {
                ["canonical"] = function(h) return h["Content-Length"] == "13" end,
                ["lower"] = function(h) return h["content-length"] == "13" end,
                ["upper"] = function(h) return h["CONTENT-LENGTH"] == "13" end,
                ["field"] = function(h) return h["Content-Type"] ~= nil end,
                ["absent"] = function(h) return h["x-not-there"] == nil end,
            })
        end
        """)
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=5)


def test_response_json_path_access(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local doc = { user = { name = "ada", roles = { "admin", "dev" } },
                          items = { { id = 7 }, { id = 9, tags = { "x" } } } }
            local r = http.post(salvo.env.BASE .. "/echo", nil, { json = doc })
            salvo.check(r, {
                ["whole"] = function(r) return r:json().user.name == "ada" end,
                ["field"] = function(r) return r:json("user.name") == "ada" end,
                ["index, 1-based"] = function(r) return r:json("user.roles.2") == "dev" end,
                ["deep"] = function(r) return r:json("items.2.tags.1") == "x" end,
                ["number"] = function(r) return r:json("items.1.id") == 7 end,
                ["missing is nil"] = function(r) return r:json("user.nope") == nil end,
                ["past the end is nil"] = function(r) return r:json("items.5") == nil end,
            })
            local text = http.get(salvo.env.BASE .. "/hello")
            local ok, err = pcall(function() return text:json() end)
            salvo.check(err, { ["not JSON raises"] = function(e)
                return not ok and tostring(e):find("not JSON", 1, true) ~= nil end })
        end
        """)
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=8)


def test_network_errors_are_responses_not_script_errors(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local slow = http.get(salvo.env.BASE .. "/delay/5000", { timeout = "200ms" })
            salvo.check(slow, {
                ["timed out"] = function(r) return r.status == 0 and r.error_code == 1050 end,
                ["says why"] = function(r) return r.error == "request timeout" end,
            })
            local refused = http.get("http://127.0.0.1:1/nothing-listens")
            salvo.check(refused, {
                ["refused"] = function(r) return r.status == 0 and r.error_code == 1212 end })
        end
        """)
    r = run_script(run_salvo, path, "--timeout", "20s", base=base_url(demo))
    assert r.code == 0, r.err
    no_iteration_errors(r)
    assert_all_checks_passed(r, expected_passes=3)
    assert r.seconds < 4  # the 200 ms timeout, not the 5 s delay nor --timeout
    assert metric(r.export, "http_req_failed", "passes") == 2
    codes = {e["code"] for e in r.export["salvo"]["errors"]}
    assert codes == {1050, 1212}


class RedirectServer(TcpServer):
    """Redirects: /old -> 302 /new, /rel/a -> 302 b (relative), /abs -> 301 absolute URL,
    /loop -> 302 /loop, /see-other -> 303 /new, /keep -> 307 /new; anything else 200
    "arrived at PATH" with two X-Multi headers and X-Custom-Thing."""

    def handle(self, conn):
        for head, body in self.requests_on(conn):
            method, path = head.split(b" ")[:2]
            path = path.decode()
            routes = {"/old": (302, "/new"), "/rel/a": (302, "b"),
                      "/abs": (301, self.url("/new")), "/loop": (302, "/loop"),
                      "/see-other": (303, "/new"), "/keep": (307, "/new")}
            if path in routes:
                status, location = routes[path]
                conn.sendall(f"HTTP/1.1 {status} Moved\r\nLocation: {location}\r\n"
                             f"Content-Length: 0\r\n\r\n".encode())
            else:
                text = f"{method.decode()} arrived at {path} with {len(body)} bytes".encode()
                conn.sendall(b"HTTP/1.1 200 OK\r\nX-Custom-Thing: yes\r\nX-Multi: 1\r\n"
                             b"X-Multi: 2\r\nContent-Type: text/plain\r\n"
                             b"Content-Length: " + str(len(text)).encode() + b"\r\n\r\n" + text)


def test_redirects_are_followed(run_salvo, python_server, script):
    server = python_server(RedirectServer)
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local B = salvo.env.BASE
            salvo.check(http.get(B .. "/old"), {
                ["followed"] = function(r) return r.status == 200 and r.body == "GET arrived at /new with 0 bytes" end,
                ["url is the final one"] = function(r) return r.url == B .. "/new" end,
                ["final headers"] = function(r) return r.headers["x-custom-thing"] == "yes" end,
                ["repeated header joined"] = function(r) return r.headers["X-Multi"] == "1, 2" end,
            })
            salvo.check(http.get(B .. "/rel/a"), {
                ["relative location"] = function(r) return r.body == "GET arrived at /rel/b with 0 bytes" end })
            salvo.check(http.get(B .. "/abs"), {
                ["absolute location"] = function(r) return r.body == "GET arrived at /new with 0 bytes" end })
            salvo.check(http.post(B .. "/see-other", "payload"), {
                ["303 turns POST into GET"] = function(r) return r.body == "GET arrived at /new with 0 bytes" end })
            salvo.check(http.get(B .. "/old", { redirects = 0 }), {
                ["redirects = 0 returns the 302"] = function(r) return r.status == 302 end,
                ["with its location"] = function(r) return r.headers["location"] == "/new" end,
            })
            salvo.check(http.get(B .. "/loop", { redirects = 3 }), {
                ["the budget ends a loop"] = function(r) return r.status == 302 end })
        end
        """)
    r = run_script(run_salvo, path, base=server.url("").rstrip("/"))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=10)
    paths = [head.split(" ")[1] for head in server.heads]
    assert paths.count("/loop") == 4  # the first request and three redirects
    # each hop is a request of its own: 2 + 2 + 2 + 2 + 1 + 4
    assert metric(r.export, "http_reqs", "count") == 13
    assert metric(r.export, "http_req_failed", "passes") == 0


def test_307_redirect_resends_the_body(run_salvo, python_server, script):
    server = python_server(RedirectServer)
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        function default()
            local r = http.post(salvo.env.BASE .. "/keep", "payload")
            salvo.check(r, { ["307 keeps POST and body"] = function(r)
                return r.body == "POST arrived at /new with 7 bytes" end })
        end
        """)
    r = run_script(run_salvo, path, base=server.url("").rstrip("/"))
    assert r.code == 0, r.err
    assert_all_checks_passed(r, expected_passes=1)


# ---- salvo.data -----------------------------------------------------------------------------

USERS_CSV = 'username,password,note\nalice,pw1,"hello, world"\nbob,pw2,"say ""hi"""\n\ncarol,pw3,x\n'
CONFIG_JSON = ('{"items": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}], "count": 2, '
               '"flag": true, "nothing": null, "ratio": 0.5}')

DATA_SCRIPT = """\
local http = require("salvo.http")
local salvo = require("salvo")
local data = require("salvo.data")

local users = data.csv("data/users.csv")                  -- relative to this script
local raw = data.csv("data/users.csv", { header = false })
local cfg = data.json("data/config.json")

function default()
    http.get(salvo.env.BASE .. "/hello")
    local u = users[(salvo.vu.id - 1) % #users + 1]
    local names = { "alice", "bob", "carol" }
    salvo.check(users, {
        ["csv rows, blank line skipped"] = function(t) return #t == 3 end,
        ["row by header"] = function(t) return u.username == names[(salvo.vu.id - 1) % 3 + 1] end,
        ["row by index"] = function(t) return u[1] == u.username and #u == 3 end,
        ["quoted comma"] = function(t) return t[1].note == "hello, world" end,
        ["doubled quote"] = function(t) return t[2].note == 'say "hi"' end,
        ["past the end is nil"] = function(t) return t[4] == nil and t[0] == nil end,
        ["unknown column is nil"] = function(t) return t[1].email == nil end,
        ["header = false"] = function() return #raw == 4 and raw[1][1] == "username" end,
    })
    salvo.check(cfg, {
        ["json array"] = function(c) return #c.items == 2 and c.items[2].name == "b" end,
        ["json number"] = function(c) return c.count == 2 and c.ratio == 0.5 end,
        ["json bool"] = function(c) return c.flag == true end,
        ["json null is nil"] = function(c) return c.nothing == nil end,
        ["json missing is nil"] = function(c) return c.items[3] == nil and c.nope == nil end,
    })
end
"""


def test_data_files_are_read_by_every_vu(run_salvo, demo, script, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "users.csv").write_text(USERS_CSV)
    (tmp_path / "data" / "config.json").write_text(CONFIG_JSON)
    path = script(DATA_SCRIPT)
    r = run_script(run_salvo, path, "--vus", "4", "--iterations", "8", "--workers", "2",
                   base=base_url(demo))
    assert r.code == 0, r.err
    no_iteration_errors(r)
    assert_all_checks_passed(r, expected_passes=8 * 13)


@pytest.mark.parametrize("name,text,message", [
    ("bad.csv", "a,b\n1,2\n1,2,3\n", r'bad\.csv:3: expected 2 fields, got 3'),
    ("bad.csv", 'a,b\n"unterminated,2\n', r'bad\.csv:2: malformed quoted field'),
    ("bad.json", '{"a": [1, 2,,]}', r'bad\.json:1:'),
])
def test_malformed_data_files_exit_107(run_salvo, script, tmp_path, name, text, message):
    (tmp_path / name).write_text(text)
    loader = "csv" if name.endswith(".csv") else "json"
    path = script(f"""\
        local data = require("salvo.data")
        local d = data.{loader}("{name}")
        function default() end
        """)
    r = run_script(run_salvo, path)
    assert r.code == 107, (r.code, r.err)
    assert re.search(message, one_line(r.err)), r.err


def test_data_files_load_only_in_the_init_stage(run_salvo, demo, script, tmp_path):
    (tmp_path / "users.csv").write_text(USERS_CSV)
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        local data = require("salvo.data")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            data.csv("users.csv")
        end
        """)
    r = run_script(run_salvo, path, base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 1
    assert "load data files in the init stage" in r.err


# ---- salvo.metrics --------------------------------------------------------------------------

METRICS_SCRIPT = """\
local http = require("salvo.http")
local salvo = require("salvo")
local metrics = require("salvo.metrics")

local counter = metrics.Counter("my_counter")
local gauge = metrics.Gauge("my_gauge")
local rate = metrics.Rate("my_rate")
local trend = metrics.Trend("my_trend")
local timing = metrics.Trend("my_timing", true)

function default()
    http.get(salvo.env.BASE .. "/hello")
    local i = salvo.vu.iteration            -- 0, 1, 2, 3
    counter:add(2)
    counter:add(0.5, { kind = "half" })     -- tagged samples count in the total
    gauge:add(i * 10 - 5)                   -- -5, 5, 15, 25: the last one stays
    rate:add(true)
    rate:add(1)
    rate:add(false)
    trend:add((i + 1) * 10)                 -- 10, 20, 30, 40
    timing:add(i == 0 and 1.5 or 250)       -- milliseconds
end
"""


def test_custom_metric_values_are_exact(run_salvo, demo, script):
    r = run_script(run_salvo, script(METRICS_SCRIPT), "--iterations", "4",
                   base=base_url(demo))
    assert r.code == 0, r.err
    no_iteration_errors(r)
    m = r.export["metrics"]
    assert m["my_counter"]["count"] == 10.0
    assert m["my_counter"]["rate"] > 0
    assert m["my_gauge"] == {"value": 25.0, "min": -5.0, "max": 25.0}
    assert (m["my_rate"]["passes"], m["my_rate"]["fails"]) == (8, 4)
    assert m["my_rate"]["value"] == pytest.approx(2 / 3)
    assert m["my_trend"]["min"] == 10 and m["my_trend"]["max"] == 40
    assert m["my_trend"]["avg"] == pytest.approx(25)
    assert 10 <= m["my_trend"]["med"] <= 40
    assert m["my_timing"]["min"] == pytest.approx(1.5)
    assert m["my_timing"]["max"] == pytest.approx(250)
    assert m["my_timing"]["avg"] == pytest.approx((1.5 + 3 * 250) / 4)
    trends = r.export["salvo"]["trends"]
    assert trends["my_trend"]["count"] == 4 and trends["my_trend"]["unit"] == "milli"
    assert trends["my_timing"]["count"] == 4 and trends["my_timing"]["unit"] == "us"
    # and in the text summary, by name
    for name in ("my_counter", "my_gauge", "my_rate", "my_trend", "my_timing"):
        assert re.search(rf"^\s+{name}\.+: ", r.out, re.M), (name, r.out)


@pytest.mark.parametrize("declaration,message", [
    ('metrics.Counter("bad-name")', r'metric "bad-name": names are letters, digits'),
    ('metrics.Trend("1st")', r'metric "1st": names are'),
    ('metrics.Rate("")', r'metric "": names are'),
    ('metrics.Gauge("' + "x" * 129 + '")', r"at most 128 characters"),
    ('metrics.Counter("dup"); metrics.Trend("dup")', r'metric "dup" already exists as a counter'),
    ('metrics.Trend("http_reqs")', r'metric "http_reqs" already exists as a counter'),
])
def test_custom_metric_names_are_validated(run_salvo, script, declaration, message):
    path = script(f"""\
        local metrics = require("salvo.metrics")
        {declaration}
        function default() end
        """, name="names.lua")
    r = run_script(run_salvo, path)
    assert r.code == 107, (r.code, r.err)
    line = one_line(r.err)
    assert "names.lua:2:" in line and re.search(message, line), line


def test_custom_metrics_misuse_is_an_iteration_error(run_salvo, demo, script):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        local metrics = require("salvo.metrics")
        local trend = metrics.Trend("sizes")
        local rate = metrics.Rate("ratio")
        function default()
            http.get(salvo.env.BASE .. "/hello")
            local i = salvo.vu.iteration
            if i == 0 then metrics.Counter("late") end
            if i == 1 then trend:add(-1) end
            if i == 2 then rate:add("yes") end
            trend:add(5)
        end
        """)
    r = run_script(run_salvo, path, "--iterations", "4", "--workers", "1",
                   base=base_url(demo))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 3
    assert r.export["salvo"]["trends"]["sizes"]["count"] == 1  # only iteration 3 got there
    assert "declare custom metrics in the init stage" in r.err
    assert "late" not in r.export["metrics"]


# ---- known crashes ---------------------------------------------------------------------------


def test_iterations_without_io_on_several_vus(run_salvo, script):
    path = script("""\
        local metrics = require("salvo.metrics")
        local calls = metrics.Counter("calls")
        function default() calls:add(1) end
        """)
    r = run_script(run_salvo, path, "--vus", "2", "--iterations", "4")
    assert r.code == 0, (r.code, r.err)
    assert metric(r.export, "calls", "count") == 4


# ---- regressions from the scripting reference's review -------------------------------


def test_http_edge_cases_behave(run_salvo, script, demo):
    """A request that cannot be built raises (it never resends the previous one), a bad
    batch item raises and the next batch works, r:json past a scalar is nil,
    params.cookies and http.file defaults work, an https:// failure is a result, numbers
    are bodies."""
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        local B = salvo.env.BASE
        local out = {}
        function default()
          http.post(B .. "/echo", "first")
          local ok, err = pcall(http.request, "bad", B .. "/echo", "second")
          out[#out + 1] = "bad=" .. tostring(ok) .. ":" .. tostring(err):match("invalid method")
          out[#out + 1] = "batchbad=" .. tostring((pcall(http.batch, {5})))
          out[#out + 1] = "batchok=" .. http.batch({ B .. "/hello" })[1].status
          local r = http.post(B .. "/echo", nil, { json = { token = "abc" } })
          out[#out + 1] = "path=" .. tostring(r:json("token.x")) .. "," .. r:json("token")
          local f = http.file("x")
          out[#out + 1] = "file=" .. f.filename .. "," .. f.content_type
          out[#out + 1] = "https=" .. http.get("https://127.0.0.1:9/").error_code
          out[#out + 1] = "num=" .. http.post(B .. "/echo", 42).body
          salvo.log(table.concat(out, " "))
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 1, base=base_url(demo))
    assert r.code == 0, r.err
    line = [l for l in r.err.splitlines() if "bad=" in l][0]
    for want in ["bad=false:invalid method", "batchbad=false", "batchok=200",
                 "path=nil,abc", "file=file,application/octet-stream", "https=1212",
                 "num=42"]:
        assert want in line, (want, line)


def test_params_cookies_are_sent_and_the_jar_empties_each_iteration(run_salvo, script, demo):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        local B = salvo.env.BASE
        function default()
          local jar = http.cookie_jar()
          local before = jar:cookies_for_url(B .. "/").sid
          jar:set(B .. "/", "sid", "42")
          http.get(B .. "/hello", { cookies = { a = "1", b = { value = "2" } } })
          salvo.log("before=" .. tostring(before))
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 3, "--http-debug", base=base_url(demo))
    assert r.code == 0, r.err
    cookie_lines = [l for l in r.err.splitlines() if l.startswith("Cookie:")]
    assert len(cookie_lines) == 3
    assert all("sid=42" in l and "a=1" in l and "b=2" in l for l in cookie_lines), cookie_lines
    assert r.err.count("before=nil") == 3, "the jar must be empty at each iteration's start"


def test_math_random_differs_between_runs(run_salvo, script):
    path = script("""\
        function default() require("salvo").log("r=" .. math.random(1, 1000000000)) end
        """)
    draws = set()
    for _ in range(2):
        r = run_script(run_salvo, path, "--iterations", 1)
        assert r.code == 0, r.err
        draws.add([l for l in r.err.splitlines() if "r=" in l][0].split("r=")[1])
    assert len(draws) == 2, "math.random must be seeded per run"


def test_script_without_default_exits_107(run_salvo, script):
    r = run_script(run_salvo, script("x = 1\n"))
    assert r.code == 107, (r.code, r.err)
    assert "default()" in one_line(r.err)


@pytest.mark.parametrize("flag", [["-X", "POST"], ["-H", "A: b"], ["--body", "x"],
                                  ["--url", "http://127.0.0.1:9/"]])
def test_request_flags_with_a_script_exit_2(run_salvo, script, flag):
    r = run_script(run_salvo, script("function default() end\n"), *flag)
    assert r.code == 2, (r.code, r.err)
    assert "script makes its own requests" in one_line(r.err)


def test_abort_in_the_init_stage_exits_108(run_salvo, script):
    path = script("""\
        require("salvo").test.abort("not today")
        function default() end
        """)
    r = run_script(run_salvo, path)
    assert r.code == 108, (r.code, r.err)
    assert "not today" in one_line(r.err)


def test_trends_break_down_by_name_and_scenario_only_when_there_are_several(
        run_salvo, script, demo):
    path = script("""\
        local http = require("salvo.http")
        local B = require("salvo").env.BASE
        function default()
          http.get(B .. "/hello", { tags = { name = "hello" } })
          http.get(B .. "/delay/20", { tags = { name = "slow" } })
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 10, base=base_url(demo))
    assert r.code == 0, r.err
    m = r.export["metrics"]
    fast, slow = m["http_req_duration{name:hello}"], m["http_req_duration{name:slow}"]
    assert slow["min"] >= 20 > fast["max"], (fast, slow)
    assert "{ name:slow }" in r.out
    # one scenario: no {scenario:...} rows, which would only repeat the metric
    assert not any("{scenario:" in k for k in m), [k for k in m if "{" in k]

    q = run_salvo("run", "--url", demo.url("/hello"), "--iterations", 5, "--quiet")
    assert q.code == 0, q.err
    assert [k for k in q.export["metrics"] if "{" in k] == [
        "http_req_duration{expected_response:true}"]


def test_summary_trend_stats_choose_the_columns(run_salvo, script, demo):
    q = run_salvo("run", "--url", demo.url("/hello"), "--iterations", 20, "--quiet",
                  "--summary-trend-stats", "avg,p(99.9),count")
    assert q.code == 0, q.err
    assert set(q.export["metrics"]["http_req_duration"]) == {"avg", "p(99.9)", "count"}
    assert q.export["metrics"]["http_req_duration"]["count"] == 20
    assert "p(99.9)=" in q.out and "p(95)=" not in q.out

    path = script("""\
        options = { summaryTrendStats = { "min", "max" } }
        function default() require("salvo.http").get(require("salvo").env.BASE .. "/hello") end
        """)
    r = run_script(run_salvo, path, "--iterations", 3, base=base_url(demo))
    assert set(r.export["metrics"]["http_req_duration"]) == {"min", "max"}
    r = run_script(run_salvo, path, "--iterations", 3, "--summary-trend-stats", "med",
                   base=base_url(demo))
    assert set(r.export["metrics"]["http_req_duration"]) == {"med"}, "the flag wins"

    bad = run_salvo("run", "--url", demo.url("/hello"), "--summary-trend-stats", "avg,rate")
    assert bad.code == 2 and "--summary-trend-stats" in one_line(bad.err)


def test_url_credentials_are_sent_as_basic_auth(run_salvo, demo):
    url = demo.url("/hello").replace("http://", "http://user:p%40ss@")
    r = run_salvo("run", "--url", url, "--iterations", 1, "--quiet", "--http-debug")
    assert r.code == 0, r.err
    # base64("user:p@ss"), and the credentials never reach the Host header
    assert "Authorization: Basic dXNlcjpwQHNz" in r.err
    assert "@" not in [l for l in r.err.splitlines() if l.startswith("Host:")][0]


def test_response_request_names_what_was_sent(run_salvo, script, demo):
    path = script("""\
        local http = require("salvo.http")
        function default()
          local r = http.post(require("salvo").env.BASE .. "/echo", "x")
          require("salvo").log("sent " .. r.request.method .. " " .. r.request.url)
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 1, base=base_url(demo))
    assert r.code == 0, r.err
    assert f"sent POST {base_url(demo)}/echo" in r.err
