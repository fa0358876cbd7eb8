-- chat.lua: a chat room over WebSocket, k6/ws style.
--
-- Every VU joins the demo target's /ws/broadcast room (every message goes to every
-- member, the sender too), says something a few times a second, and leaves after a
-- while. It checks that its own messages come back, and measures how long they take
-- to go round: a custom Trend from the time written into each message.
--
--   salvo serve &
--   salvo run examples/chat.lua -e BASE=http://127.0.0.1:8080
--
-- ws.connect keeps the VU in the session until it closes: the function given to it
-- sets up handlers and timers, and they run as messages and timers come. Metrics
-- have k6's names: ws_sessions, ws_connecting, ws_session_duration, ws_msgs_sent,
-- ws_msgs_received, ws_ping.

local ws = require("salvo.ws")
local salvo = require("salvo")
local metrics = require("salvo.metrics")

-- http://host:port becomes ws://host:port (https:// would be wss://).
local BASE = (salvo.env.BASE or "http://127.0.0.1:8080"):gsub("^http", "ws")

local round_trip = metrics.Trend("chat_round_trip", true)
local own_messages = metrics.Rate("chat_own_messages_back")

options = {
    vus = 10,
    duration = "5s",
    thresholds = {
        -- everything we said came back to us
        chat_own_messages_back = { "rate==1" },
        chat_round_trip = { "p(95)<200" },
        ws_connecting = { "p(95)<500" },
    },
}

local SAY_EVERY_MS = 200
local STAY_MS = 2000

function default()
    local me = salvo.vu.id
    local said, heard = 0, 0

    local res = ws.connect(BASE .. "/ws/broadcast", { tags = { room = "lobby" } }, function(socket)
        socket:on("open", function()
            socket:send(salvo.json.encode({ from = me, kind = "join" }))
        end)

        socket:on("message", function(text)
            local msg = salvo.json.decode(text)
            if msg.from == me and msg.kind == "say" then
                heard = heard + 1
                round_trip:add(salvo.now() - msg.at)
            end
        end)

        socket:set_interval(function()
            said = said + 1
            socket:send(salvo.json.encode({ from = me, kind = "say", n = said, at = salvo.now() }))
        end, SAY_EVERY_MS)

        -- a ping now and then: its round trip is the ws_ping metric
        socket:set_interval(function() socket:ping() end, 500)

        socket:set_timeout(function() socket:close() end, STAY_MS)
    end)

    salvo.check(res, {
        ["upgraded"] = function(r) return r.status == 101 end,
    })
    -- messages still on their way when we closed do not count against us
    for _ = 1, heard do own_messages:add(true) end
    for _ = heard + 1, said - 1 do own_messages:add(false) end
end
