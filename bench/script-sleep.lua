-- script-sleep.lua: memory per VU (see bench/README.md).
--
-- Each VU makes one GET to URL/hello, which leaves it holding a keep-alive
-- connection to nginx, then sleeps for 30 s, longer than the run. bench/run
-- starts it with --vus 10000 and with --vus 1 and samples salvo's RSS while every
-- VU is asleep: the difference, divided by the VUs, is what one idle VU costs
-- (its coroutine, its Lua state share, its connection and buffers).
--
--   salvo run bench/script-sleep.lua -e URL=http://127.0.0.1:8080 --vus 10000 --duration 20s

local http = require("salvo.http")
local salvo = require("salvo")

local URL = salvo.env.URL or "http://127.0.0.1:8080"

function default()
    http.get(URL .. "/hello")
    salvo.sleep(30)
end
