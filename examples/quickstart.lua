-- quickstart.lua: the smallest useful salvo script.
--
-- Five virtual users (VUs) each loop default() for five seconds: one GET, a check
-- on the answer, then a one-second pause, the "think time" a real user leaves
-- between clicks.
--
--   salvo serve &
--   salvo run examples/quickstart.lua -e BASE=http://127.0.0.1:8080
--
-- Flags override the options below: --vus 20 --duration 1m.

local http = require("salvo.http")
local salvo = require("salvo")

-- The target comes from the command line (-e BASE=...), so one script serves
-- every environment.
local BASE = salvo.env.BASE or "http://127.0.0.1:8080"

options = {
    vus = 5,
    duration = "5s",
}

-- Runs once per iteration, over and over, in every VU.
function default()
    local res = http.get(BASE .. "/hello")

    -- A failed check does not stop the iteration; it is counted in the "checks"
    -- rate of the summary.
    salvo.check(res, {
        ["status is 200"] = function(r) return r.status == 200 end,
        ["says hello"] = function(r) return r.body:find("Hello", 1, true) ~= nil end,
    })

    salvo.sleep(1)
end
