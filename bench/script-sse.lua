-- script-sse.lua: memory per held server-sent-events stream (see bench/README.md).
--
-- Each VU runs one iteration (per-vu-iterations): it opens one event stream,
-- BASE/sse/ticks?every=1000&count=EVENTS on salvo's demo target (one event a
-- second, EVENTS of them, then the server ends the stream), and holds it, doing
-- nothing with the events, then checks that the stream ended without an error.
-- http.sse's duration (EVENTS + 10 s) only bounds a stream that would not end.
-- The server ends each stream after its last event, rather than salvo after a
-- duration, because the demo target's ticks drift (with 5000 streams on one
-- worker they came 1010-1019 ms apart), so the events that fit in a fixed
-- duration are not a fixed number. bench/run starts it with VUS=5000 and with
-- VUS=1 and samples salvo's RSS while every stream is held: the difference,
-- divided by the extra VUs, is what one held stream costs (its VU, its
-- connection, its parser and buffers). salvo counts the events (sse_event); the
-- sse_stream_events trend has each stream's count, which should be EVENTS.
--
--   salvo serve --listen 127.0.0.1:8080 --workers 1 &
--   salvo run bench/script-sse.lua -e BASE=http://127.0.0.1:8080 -e VUS=5000 -e EVENTS=15 --workers 1

local http = require("salvo.http")
local salvo = require("salvo")
local metrics = require("salvo.metrics")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"
local VUS = tonumber(salvo.env.VUS or "1")
local EVENTS = tonumber(salvo.env.EVENTS or "15")
local HOLD_MS = (EVENTS + 10) * 1000   -- a bound: the server ends the stream first

local stream_events = metrics.Trend("sse_stream_events")

options = {
    scenarios = {
        sse = {
            executor = "per-vu-iterations",
            vus = VUS,
            iterations = 1,
            maxDuration = (HOLD_MS + 60000) .. "ms",
        },
    },
}

function default()
    local r = http.sse(BASE .. "/sse/ticks?every=1000&count=" .. EVENTS, { duration = HOLD_MS .. "ms" },
        function(ev) end)
    stream_events:add(r.events)
    salvo.check(r, {
        ["stream held without error"] = function(r) return r.status == 200 and r.error_code == 0 end,
    })
end
