-- ticker.lua: subscribers to a live ticker, over server-sent events.
--
-- Each VU subscribes to the demo target's tick stream (/sse/ticks: an event every
-- EVERY milliseconds, each stamped with the server's clock), stays subscribed for
-- HOLD, then subscribes again. Every tick is checked (its type, its id, its JSON, no
-- gap in the numbering), and its lateness, the time it arrived minus the time the
-- server stamped on it, goes into a custom Trend. Thresholds hold the ticks to time
-- and the subscriptions to success.
--
--   salvo serve &
--   salvo run examples/ticker.lua -e BASE=http://127.0.0.1:8080
--   salvo run examples/ticker.lua -e BASE=http://127.0.0.1:8080 -e EVERY=50 -e HOLD=2s \
--       --vus 3 --duration 4s

local http = require("salvo.http")
local salvo = require("salvo")
local metrics = require("salvo.metrics")

local BASE = salvo.env.BASE or "http://127.0.0.1:8080"
local EVERY = tonumber(salvo.env.EVERY or "100") -- ms between two ticks
local HOLD = salvo.env.HOLD or "5s"                -- how long a subscription lasts

options = {
    vus = 10,
    duration = "20s",
    thresholds = {
        tick_lateness = { "p(95)<100" }, -- ms
        ticks_missed = { "count<1" },
        http_req_failed = { "rate<0.01" },
        checks = { "rate>0.99" },
    },
}

-- Declared in the init stage. true: the values are milliseconds.
local lateness = metrics.Trend("tick_lateness", true)
local missed = metrics.Counter("ticks_missed")

function default()
    local expect = 0 -- the number of the next tick; every stream starts at 0

    local r = http.sse(BASE .. "/sse/ticks?every=" .. EVERY, {
        -- The subscription ends after HOLD: salvo closes the stream, a success. Without
        -- it the call would return only when the server ends the stream.
        duration = HOLD,
    }, function(ev)
        -- Called for each event, in the VU: it may check, record, sleep or make
        -- requests. Returning false would end the subscription early.
        local arrived = salvo.now() -- wall-clock ms, as the server's stamp
        local ok, tick = pcall(salvo.json.decode, ev.data)
        if not ok or type(tick) ~= "table" then
            tick = {}
        end
        salvo.check(ev, {
            ["event is a tick"] = function(e) return e.event == "tick" end,
            ["tick is JSON with n and ms"] = type(tick.n) == "number" and type(tick.ms) == "number",
            ["id is the tick's number"] = function(e) return e.id == tostring(tick.n) end,
        })
        if type(tick.ms) == "number" then
            -- The server stamps whole milliseconds: this is late to within one.
            lateness:add(math.max(0, arrived - tick.ms))
        end
        if type(tick.n) == "number" then
            if tick.n > expect then
                missed:add(tick.n - expect)
            end
            expect = tick.n + 1
        end
    end)

    -- One subscription is one request in the metrics: http_req_duration is how long
    -- it was held, and sse_event counts the events it got.
    salvo.check(r, {
        ["subscribed (200)"] = function(res) return res.status == 200 end,
        ["held without error"] = function(res) return res.error_code == 0 and res.error == "" end,
        ["got ticks"] = function(res) return res.events > 0 end,
    })
end
