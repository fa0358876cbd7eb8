"""WebSocket: salvo.ws against the demo target's /ws/echo and /ws/broadcast."""

import pytest

from conftest import REPO, metric
from test_scripts import assert_all_checks_passed, run_script

EXAMPLES = REPO / "examples"


def ws_base(demo):
    return demo.url("").replace("http://", "ws://")


def test_example_chat(run_salvo, demo):
    r = run_script(run_salvo, EXAMPLES / "chat.lua", "--vus", 4, "--duration", "3s",
                   base=demo.url(""))
    assert r.code == 0, r.err
    sessions = metric(r.export, "ws_sessions", "count")
    assert sessions >= 4
    assert_all_checks_passed(r, expected_passes=sessions)
    sent = metric(r.export, "ws_msgs_sent", "count")
    received = metric(r.export, "ws_msgs_received", "count")
    assert sent > 0 and received > sent  # a broadcast reaches every member
    assert metric(r.export, "chat_own_messages_back", "fails") == 0


def test_echo_messages_pings_and_close(run_salvo, demo, script):
    path = script("""\
        local ws = require("salvo.ws")
        local salvo = require("salvo")
        local B = salvo.env.BASE
        function default()
          local got, pongs, code = {}, 0, nil
          local res = ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:on("open", function()
              socket:send("one")
              socket:send_binary("\\0\\1\\2")
              socket:ping()
            end)
            socket:on("message", function(m) got[#got + 1] = "text:" .. m end)
            socket:on("binaryMessage", function(m) got[#got + 1] = "bin:" .. #m end)
            socket:on("pong", function() pongs = pongs + 1 end)
            socket:on("close", function(c) code = c end)
            socket:set_timeout(function() socket:close(1000) end, 200)
          end)
          salvo.log(res.status .. " " .. table.concat(got, ",") .. " pongs=" .. pongs ..
                    " close=" .. tostring(code) .. " err=" .. res.error)
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 2, base=ws_base(demo))
    assert r.code == 0, r.err
    lines = [l for l in r.err.splitlines() if "pongs=" in l]
    assert len(lines) == 2
    for line in lines:
        assert "101 text:one,bin:3 pongs=1 close=1000 err=" in line, line
    assert metric(r.export, "ws_sessions", "count") == 2
    assert metric(r.export, "ws_msgs_sent", "count") == 4
    assert metric(r.export, "ws_msgs_received", "count") == 4
    assert metric(r.export, "ws_ping", "avg") > 0  # a pong came back
    assert 150 <= metric(r.export, "ws_session_duration", "avg") < 2000


def test_refused_upgrade_is_an_error_not_a_crash(run_salvo, demo, script):
    path = script("""\
        local ws = require("salvo.ws")
        local salvo = require("salvo")
        function default()
          local called = false
          local res = ws.connect(salvo.env.BASE .. "/hello", nil, function() called = true end)
          salvo.log(res.status .. " " .. res.error_code .. " " .. tostring(called) .. " " .. res.error)
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 1, base=ws_base(demo))
    assert r.code == 0, r.err
    assert "200 1000 false ws: the server did not switch protocols" in r.err, r.err


@pytest.mark.parametrize("url,expected", [
    ("http://127.0.0.1:9/", "expected a ws:// or wss:// URL"),
    ("ws://", "ws.connect: "),
])
def test_bad_urls_raise_at_the_call(run_salvo, script, url, expected):
    path = script(f"""\
        local ws = require("salvo.ws")
        local salvo = require("salvo")
        function default()
          local ok, err = pcall(ws.connect, "{url}", nil, function() end)
          salvo.log(tostring(ok) .. " " .. tostring(err))
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 1)
    assert r.code == 0, r.err
    assert "false" in r.err and expected in r.err, r.err
