-- script-hello.lua: the benchmark's script workload (see bench/README.md).
--
-- One iteration is one GET of URL/hello and one check on its status, the
-- smallest script that goes through the Lua path (VU coroutine, the http
-- module's yield and resume, the response table, a check). bench/run loads it
-- with --vus 50 --workers 1 and compares its requests per CPU-second with wrk's.
--
--   salvo run bench/script-hello.lua -e URL=http://127.0.0.1:8080 --vus 50 --duration 10s

local http = require("salvo.http")
local salvo = require("salvo")

local URL = salvo.env.URL or "http://127.0.0.1:8080"

-- The check table is built inside default(), as scripts usually write it, so its
-- cost (a table and a closure per iteration) is part of what is measured.
function default()
    local r = http.get(URL .. "/hello")
    salvo.check(r, {
        ["status is 200"] = function(r) return r.status == 200 end,
    })
end
