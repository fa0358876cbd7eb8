-- handle-summary.lua: replace the end-of-test summary with your own.
--
-- When a script defines handle_summary(), salvo calls it once after the test
-- with the same data as --summary-export writes, and prints whatever it returns
-- instead of the usual summary: the value for "stdout" goes to the terminal and
-- any other key is a file name (relative to the current directory).
--
--   salvo serve &
--   salvo run examples/handle-summary.lua -e BASE=http://127.0.0.1:8080 -e OUT=report.json

local http = require("salvo.http")
local salvo = require("salvo")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"

options = {
    vus = 2,
    duration = "3s",
}

function default()
    local res = http.get(BASE .. "/hello")
    salvo.check(res, { ["status is 200"] = function(r) return r.status == 200 end })
    salvo.sleep(0.1)
end

-- A metric is absent from the summary when nothing was recorded for it.
local function field(metrics, name, key)
    local m = metrics[name]
    return m and m[key] or 0
end

-- summary has the shape of the --summary-export file: summary.metrics[name]
-- holds count/rate for counters, avg/min/med/max/p(90)/p(95) for trends (in
-- milliseconds) and passes/fails/value for rates. Note that k6 calls the
-- requests that failed "passes" of http_req_failed.
function handle_summary(summary)
    local m = summary.metrics
    local report = {
        requests = field(m, "http_reqs", "count"),
        failed = field(m, "http_req_failed", "passes"),
        checks_passed = field(m, "checks", "passes"),
        checks_failed = field(m, "checks", "fails"),
        p95_ms = field(m, "http_req_duration", "p(95)"),
        duration_s = summary.salvo.duration_ms / 1000,
    }
    local text = string.format(
        "%d requests, %d failed, checks %d/%d passed, p(95) %.2f ms in %.1f s\n",
        report.requests, report.failed, report.checks_passed,
        report.checks_passed + report.checks_failed, report.p95_ms, report.duration_s)
    return {
        stdout = text,
        [salvo.env.OUT or "summary.json"] = salvo.json.encode(report),
    }
end
