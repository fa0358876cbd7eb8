"""Server-sent events end to end: http.sse against the demo target's /sse/ticks, against
Python servers that send event streams in awkward pieces or misbehave, and through
nginx over HTTPS and HTTP/2 (h2 by ALPN, h2c).

What a script saw is logged by it as JSON ("MARKER {...}" lines on stderr, one worker
so lines never mix) and compared with what was sent; counts come from the summary
export. Every server listens on 127.0.0.1, every stream is bounded (count=N, a
duration, a timeout, or a server that ends it), and every process is stopped by its
fixture.
"""
import http.client
import json
import re
import shutil
import signal
import socket
import time

import pytest

from conftest import (REPO, StallServer, TcpServer, errors_by_code, free_port, launch_nginx,
                      metric, nginx_temp_paths, stop_process, wait_until)
from conftest import logged, one
from test_scripts import assert_all_checks_passed, run_script

EXAMPLES = REPO / "examples"


# ---- helpers ---------------------------------------------------------------------------

# The start of a script: B is the base URL (-e BASE=...), show(tag, r) logs a result.
PRELUDE = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    local B = salvo.env.BASE
    local function show(tag, r, extra)
      local t = { status = r.status, proto = r.proto, error_code = r.error_code,
                  error = r.error, events = r.events, url = r.url }
      for k, v in pairs(extra or {}) do t[k] = v end
      salvo.log(tag .. " " .. salvo.json.encode(t))
    end
    local function event(tag, ev)
      salvo.log(tag .. " " .. salvo.json.encode({ event = ev.event, data = ev.data, id = ev.id,
                                                  retry = ev.retry }))
    end
"""


def run_lua(run_salvo, script, source, *args, base=None, timeout=60):
    """Writes PRELUDE + source and runs it on one worker with --quiet."""
    path = script(PRELUDE + source)
    return run_script(run_salvo, path, "--workers", 1, *args, base=base, timeout=timeout)


def line_of(path, text):
    """The number of the line of the file at path that contains text."""
    lines = [i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line]
    assert len(lines) == 1, (text, lines)
    return lines[0]


def totals(export, name):
    """[(tags, value)] of one metric's series in the export."""
    return [(s["tags"], s["value"]) for s in export["salvo"]["totals"]["series"]
            if s["metric"] == name]


def assert_ok(r):
    """The run went fine: exit 0, no iteration error, no failed request."""
    assert r.code == 0, r.err[-3000:]
    assert r.export is not None, r.err[-3000:]
    assert metric(r.export, "iteration_errors", "count") == 0, r.err[-3000:]
    assert metric(r.export, "http_req_failed", "passes") == 0, r.export["salvo"]["errors"]
    assert r.export["salvo"]["errors"] == []


def ticks(n, every=20):
    return f"/sse/ticks?every={every}&count={n}"


# ---- the demo target's ticks -------------------------------------------------------------


def test_the_demo_ticks_endpoint(demo):
    """/sse/ticks as a plain HTTP client sees it: the head, the exact body of a
    count=3 stream, the connection kept for the next request; 400 for bad values."""
    conn = http.client.HTTPConnection(demo.host, demo.port, timeout=10)
    try:
        started = time.monotonic()
        conn.request("GET", ticks(3, every=30))
        res = conn.getresponse()
        assert res.status == 200
        assert res.getheader("Content-Type") == "text/event-stream"
        assert res.getheader("Transfer-Encoding") == "chunked"
        assert res.getheader("Cache-Control") == "no-cache"
        body = res.read().decode()
        assert time.monotonic() - started >= 0.08
        stamps = [int(m) for m in re.findall(r'"ms": (\d+)', body)]
        assert len(stamps) == 3
        assert body == "retry: 1000\n" + "".join(
            f'id: {n}\nevent: tick\ndata: {{"n": {n}, "ms": {ms}}}\n\n'
            for n, ms in enumerate(stamps))
        sock = conn.sock
        conn.request("GET", "/hello")
        res = conn.getresponse()
        assert (res.status, res.read()) == (200, b"Hello, salvo!")
        assert conn.sock is sock  # the same connection
        for bad in ["every=0", "every=60001", "every=x", "count=x", "every=10&count=-1"]:
            conn.request("GET", f"/sse/ticks?{bad}")
            res = conn.getresponse()
            assert res.status == 400, bad
            assert b"/sse/ticks?every=MS&count=N" in res.read()
    finally:
        conn.close()


def test_ticks_are_counted_exactly(run_salvo, script, demo):
    """count=N: every stream ends after N events; r.events, the callbacks and sse_event
    agree, and each stream is one request whose duration is the whole stream."""
    url = demo.url(ticks(5))
    r = run_lua(run_salvo, script, """\
        options = { vus = 2, iterations = 6 }
        function default()
          local calls = 0
          local r = http.sse(B .. "/sse/ticks?every=20&count=5", nil, function(ev)
            calls = calls + 1
          end)
          salvo.check(r, {
            ["status 200"] = function(r) return r.status == 200 end,
            ["HTTP/1.1"] = function(r) return r.proto == "HTTP/1.1" end,
            ["no error"] = function(r) return r.error_code == 0 and r.error == "" end,
            ["5 events"] = function(r) return r.events == 5 end,
            ["5 callbacks"] = calls == 5,
            ["url"] = function(r) return r.url == B .. "/sse/ticks?every=20&count=5" end,
          })
        end
        """, base=demo.url(""))
    assert_ok(r)
    assert_all_checks_passed(r, expected_passes=6 * 6)
    assert metric(r.export, "http_reqs", "count") == 6
    assert metric(r.export, "sse_event", "count") == 6 * 5
    assert metric(r.export, "iterations", "count") == 6
    # the whole stream: 5 ticks 20 ms apart take at least 100 ms; waiting ends with
    # the response head, which comes at once
    assert metric(r.export, "http_req_duration", "min") >= 90
    assert metric(r.export, "http_req_receiving", "min") >= 70
    assert metric(r.export, "http_req_waiting", "max") < metric(r.export, "http_req_duration",
                                                                 "min")
    # sse_event is tagged like the request
    series = totals(r.export, "sse_event")
    assert sum(v for _, v in series) == 30
    for tags, _ in series:
        assert tags["url"] == url and tags["name"] == url, tags
        assert tags["method"] == "GET" and tags["scenario"] == "default", tags
    assert demo.stats() == 6
    assert "sse_event" in r.out


def test_event_fields(run_salvo, script, demo):
    """event, data, id and retry as the demo sends them: type tick, ids 0..N-1, the data
    JSON, retry 1000 (sent once, before the first event, and kept)."""
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local params = { tags = { name = "ticks", kind = "sse" } }
          local r = http.sse(B .. "/sse/ticks?every=20&count=4", params, function(ev)
            event("EV", ev)
            local t = salvo.json.decode(ev.data)
            salvo.log("TICK " .. salvo.json.encode({ n = t.n, ms = t.ms, ms_type = type(t.ms) }))
          end)
          show("R", r)
        end
        """, base=demo.url(""))
    assert_ok(r)
    events = logged(r.err, "EV")
    assert [e["id"] for e in events] == ["0", "1", "2", "3"]
    assert {e["event"] for e in events} == {"tick"}
    assert {e["retry"] for e in events} == {1000}
    decoded = logged(r.err, "TICK")
    assert [t["n"] for t in decoded] == [0, 1, 2, 3]
    assert {t["ms_type"] for t in decoded} == {"number"}
    now_ms = time.time() * 1000
    stamps = [t["ms"] for t in decoded]
    assert stamps == sorted(stamps)
    assert all(now_ms - 60_000 < ms <= now_ms for ms in stamps), stamps
    assert stamps[-1] - stamps[0] >= 50  # three intervals of 20 ms
    # data is the raw data line: the JSON text as sent
    assert json.loads(events[0]["data"]) == {"n": 0, "ms": stamps[0]}
    assert events[0]["data"].startswith('{"n": 0, "ms": ')
    res = one(r.err, "R")
    assert res["events"] == 4 and res["error_code"] == 0 and res["status"] == 200
    # params.tags reach sse_event as they reach the request's metrics
    (tags, count), = totals(r.export, "sse_event")
    assert count == 4
    assert (tags["name"], tags["kind"], tags["url"]) == ("ticks", "sse", demo.url(ticks(4)))
    (req_tags, _), = totals(r.export, "http_reqs")
    assert (req_tags["name"], req_tags["kind"], req_tags["status"]) == ("ticks", "sse", "200")


def test_on_event_returning_false_closes_the_stream_early(run_salvo, script, demo):
    """on_event returns false after 3 events of an endless stream: the call returns, a
    success; the VU goes on (another stream, a plain request)."""
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local calls = 0
          local r = http.sse(B .. "/sse/ticks?every=20", nil, function(ev)
            calls = calls + 1
            event("EV", ev)
            return calls < 3
          end)
          show("R", r, { calls = calls })
          local again = http.sse(B .. "/sse/ticks?every=10&count=2", nil, function() end)
          show("AGAIN", again)
          local g = http.get(B .. "/hello")
          salvo.log("GET " .. salvo.json.encode({ status = g.status }))
        end
        """, base=demo.url(""))
    assert_ok(r)
    res = one(r.err, "R")
    assert res["calls"] == 3
    assert res["events"] >= 3  # what the parser had received by then
    assert (res["status"], res["error_code"], res["error"]) == (200, 0, "")
    assert [e["id"] for e in logged(r.err, "EV")] == ["0", "1", "2"]
    again = one(r.err, "AGAIN")
    assert (again["events"], again["error_code"]) == (2, 0)
    assert one(r.err, "GET") == {"status": 200}
    assert metric(r.export, "http_reqs", "count") == 3
    assert r.seconds < 20


def test_duration_bounds_an_endless_stream_as_a_success(run_salvo, script, demo):
    """params.duration ends an endless stream: no error, not a failed request; the
    plan's request timeout (--timeout) does not apply to streams."""
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local calls = 0
          local r = http.sse(B .. "/sse/ticks?every=50", { duration = "600ms" }, function()
            calls = calls + 1
          end)
          show("R", r, { calls = calls })
          local g = http.get(B .. "/hello")
          salvo.log("GET " .. salvo.json.encode({ status = g.status }))
        end
        """, "--timeout", "200ms", base=demo.url(""))
    assert_ok(r)
    res = one(r.err, "R")
    assert (res["status"], res["error_code"], res["error"]) == (200, 0, "")
    # ticks at 50, 100, ... 550 ms (600 ms may or may not make it)
    assert 5 <= res["events"] <= 12, res
    assert res["calls"] == res["events"]
    assert one(r.err, "GET")["status"] == 200
    assert metric(r.export, "http_reqs", "count") == 2
    assert metric(r.export, "sse_event", "count") == res["events"]
    assert 550 <= metric(r.export, "http_req_duration", "max") < 5000


def test_timeout_fails_the_stream_with_1050(run_salvo, script, demo, python_server):
    """params.timeout ends the stream as a failed request (1050), after the events that
    came before it; also when nothing came at all."""
    stall = python_server(StallServer)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          show("R", http.sse(B .. "/sse/ticks?every=50", { timeout = "400ms" }, function() end))
          show("STALL", http.sse(salvo.env.STALL, { timeout = 300 }, function() end))
        end
        """, "-e", f"STALL={stall.url('/events')}", base=demo.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 0
    res = one(r.err, "R")
    assert (res["status"], res["error_code"], res["error"]) == (200, 1050, "request timeout")
    assert 3 <= res["events"] <= 8, res
    stalled = one(r.err, "STALL")
    assert (stalled["status"], stalled["error_code"], stalled["events"]) == (0, 1050, 0)
    assert stalled["proto"] == ""
    assert errors_by_code(r.export) == {1050: 2}
    failed = r.export["metrics"]["http_req_failed"]
    assert (failed["passes"], failed["fails"]) == (2, 0)
    assert metric(r.export, "sse_event", "count") == res["events"]


def test_a_slow_on_event_gets_every_event_in_order(run_salvo, script, demo):
    """Events arrive faster than on_event handles them (it sleeps and makes a request for
    each): they queue, and each is handed over, in order."""
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local ns, statuses = {}, {}
          local r = http.sse(B .. "/sse/ticks?every=5&count=30", nil, function(ev)
            salvo.sleep(0.02)
            statuses[http.get(B .. "/hello").status] = true
            ns[#ns + 1] = salvo.json.decode(ev.data).n
            if ev.id ~= tostring(ns[#ns]) then error("id " .. ev.id .. " for tick " .. ns[#ns]) end
          end)
          show("R", r, { ns = ns, ok200 = statuses[200] == true })
        end
        """, base=demo.url(""))
    assert_ok(r)
    res = one(r.err, "R")
    assert res["ns"] == list(range(30))
    assert res["events"] == 30 and res["error_code"] == 0
    assert res["ok200"] is True
    assert metric(r.export, "http_reqs", "count") == 31
    # on_event took 30 x 20 ms at least; the server was done after 30 x 5 ms, and the
    # stream's request is recorded when its response ends, not when on_event is done
    assert metric(r.export, "iteration_duration", "max") >= 600
    assert metric(r.export, "http_req_duration", "max") < metric(r.export,
                                                                  "iteration_duration", "max")


def test_many_vus_hold_streams_at_once(run_salvo, script, demo):
    """200 VUs each hold a stream of a tick every 100 ms for 3 s."""
    vus = 200
    r = run_lua(run_salvo, script, f"""\
        options = {{ scenarios = {{ hold = {{ executor = "per-vu-iterations", vus = {vus},
                                             iterations = 1 }} }} }}
        function default()
          local r = http.sse(B .. "/sse/ticks?every=100", {{ duration = "3s" }}, function() end)
          salvo.check(r, {{
            ["no error"] = function(r) return r.status == 200 and r.error_code == 0 end,
            ["at least half the ticks"] = function(r) return r.events >= 15 end,
          }})
        end
        """, base=demo.url(""), timeout=60)
    assert_ok(r)
    assert_all_checks_passed(r, expected_passes=2 * vus)
    assert metric(r.export, "http_reqs", "count") == vus
    events = metric(r.export, "sse_event", "count")
    assert vus * 30 * 0.5 <= events <= vus * 30 * 1.1, events
    assert demo.stats() == vus
    assert metric(r.export, "http_req_duration", "min") >= 2900


# ---- streams from Python servers ------------------------------------------------------------


def chunk(data):
    return b"%x\r\n" % len(data) + data + b"\r\n"


SSE_HEAD = (b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
            b"Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n")

# An event stream written to trip parsers up, in the pieces the server sends it in: a
# BOM split across pieces, CRLF, LF and lone CR line ends, a CRLF split between two
# pieces, comments, fields without a colon or without a space, unknown fields, a bad
# retry, an id reset, an event type without data, and data never dispatched at the end.
AWKWARD = [
    b"\xef", b"\xbb\xbf: a comment after the BOM\r\n",
    b"retry: 2500\r", b"\n",
    b"id: a1\r\nevent: gr", b"eet\r\nda", b"ta: hello\r\n",
    b"data:world\r\ndata\r", b"\n\r", b"\n",
    b"data: second\n\n",
    b": another comment\r",
    b"data:  two spaces\r", b"\r",
    b"foo: an unknown field\nretry: 12a\nretry\nid\ndata: x\n\n",
    b"event: nothing\n\n",
    b"data:\n\n",
    b"retry: 500\nid: b2\ndata: line1\r", b"\ndata: line2\n\r\n",
    b"event: after\r\ndata: ok\r\n", b"\r\n",
    b"data: never dispatched\n",
]

# What the WHATWG rules make of it.
AWKWARD_EVENTS = [
    {"event": "greet", "data": "hello\nworld\n", "id": "a1", "retry": 2500},
    {"event": "message", "data": "second", "id": "a1", "retry": 2500},
    {"event": "message", "data": " two spaces", "id": "a1", "retry": 2500},
    {"event": "message", "data": "x", "id": "", "retry": 2500},
    {"event": "message", "data": "", "id": "", "retry": 2500},
    {"event": "message", "data": "line1\nline2", "id": "b2", "retry": 500},
    {"event": "after", "data": "ok", "id": "b2", "retry": 500},
]


class AwkwardServer(TcpServer):
    """Sends AWKWARD, each piece as a chunk of its own with a pause between them (so
    they arrive apart), then ends the body; keeps the connection."""

    PAUSE = 0.02

    def pieces(self):
        return AWKWARD

    def handle(self, conn):
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in self.requests_on(conn):
            conn.sendall(SSE_HEAD)
            for piece in self.pieces():
                time.sleep(self.PAUSE)
                conn.sendall(chunk(piece))
            conn.sendall(b"0\r\n\r\n")


class TrickleServer(AwkwardServer):
    """The same stream, one byte per chunk, a few milliseconds apart."""

    PAUSE = 0.003

    def pieces(self):
        data = b"".join(AWKWARD)
        return [data[i:i + 1] for i in range(len(data))]


@pytest.mark.parametrize("server_cls", [AwkwardServer, TrickleServer],
                         ids=["pieces", "byte-by-byte"])
def test_an_awkward_stream_is_parsed_by_the_rules(run_salvo, script, python_server,
                                                   server_cls):
    server = python_server(server_cls)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          show("R", http.sse(B .. "/events", nil, function(ev) event("EV", ev) end))
          -- a header of the user's: Accept is not added when params.headers has one
          show("R2", http.sse(B .. "/again", { headers = { accept = "text/event-stream; q=1",
                                                           ["Last-Event-ID"] = "b2" } },
                              function(ev) end))
        end
        """, base=server.url(""))
    assert_ok(r)
    events = logged(r.err, "EV")
    assert events == AWKWARD_EVENTS
    res = one(r.err, "R")
    assert (res["status"], res["error_code"], res["events"]) == (200, 0, len(AWKWARD_EVENTS))
    assert one(r.err, "R2")["events"] == len(AWKWARD_EVENTS)
    assert metric(r.export, "sse_event", "count") == 2 * len(AWKWARD_EVENTS)
    # both streams on one kept-alive connection: the first ended with its body, and
    # the VU kept its connection for the next stream
    assert server.accepted == 1
    first, second = (h.split("\r\n") for h in server.heads)
    assert first[0] == "GET /events HTTP/1.1"
    assert [h for h in first if h.lower().startswith("accept:")] == ["Accept: text/event-stream"]
    assert second[0] == "GET /again HTTP/1.1"
    assert [h.lower() for h in second if h.lower().startswith("accept")] == [
        "accept: text/event-stream; q=1"]
    assert "Last-Event-ID: b2" in second


class LongFieldsServer(TcpServer):
    """An event with a 300-byte type, a 1000-byte id and three data lines of 100 kB,
    then one that only inherits the id."""

    def handle(self, conn):
        for _ in self.requests_on(conn):
            line = b"data: " + b"d" * 100_000 + b"\n"
            conn.sendall(SSE_HEAD + chunk(b"event: " + b"t" * 300 + b"\nid: " + b"i" * 1000
                                          + b"\nretry: 86400000\n" + line * 3 + b"\n")
                         + chunk(b"data: short\n\n") + b"0\r\n\r\n")


def test_long_fields_are_kept_whole(run_salvo, script, python_server):
    """No limit on a type or an id short of the 1 MiB line cap; data lines add up."""
    server = python_server(LongFieldsServer)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local r = http.sse(B .. "/events", nil, function(ev)
            salvo.log("LEN " .. salvo.json.encode({
              event = #ev.event, id = #ev.id, data = #ev.data, retry = ev.retry,
              plain = ev.event == string.rep("t", #ev.event) and ev.id == string.rep("i", #ev.id),
              lines = select(2, ev.data:gsub("\\n", "")) + 1 }))
          end)
          show("R", r)
        end
        """, base=server.url(""))
    assert_ok(r)
    assert logged(r.err, "LEN") == [
        {"event": 300, "id": 1000, "data": 3 * 100_000 + 2, "retry": 86400000, "plain": True,
         "lines": 3},
        {"event": len("message"), "id": 1000, "data": 5, "retry": 86400000, "plain": False,
         "lines": 1},
    ]
    assert one(r.err, "R")["events"] == 2


class DropServer(TcpServer):
    """Two events, then half of a third chunk, then the connection is closed (FIN): the
    chunked body never ends."""

    def handle(self, conn):
        for _ in self.requests_on(conn):
            conn.sendall(SSE_HEAD + chunk(b"data: one\n\n") + chunk(b"data: two\n\n"))
            time.sleep(0.05)
            conn.sendall(b"20\r\ndata: thr")
            time.sleep(0.05)
            return


class UntilCloseServer(TcpServer):
    """No Content-Length, no chunked: the body, two events, ends when the server closes
    the connection, which is how such a stream ends properly."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n"
                     b"Connection: close\r\n\r\ndata: one\n\n")
        time.sleep(0.05)
        conn.sendall(b"data: two\n\n")
        time.sleep(0.05)


def test_a_dropped_stream_ends_with_1000_and_the_test_goes_on(run_salvo, script,
                                                              python_server):
    drop = python_server(DropServer)
    until_close = python_server(UntilCloseServer)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 2 }
        function default()
          local calls = 0
          local r = http.sse(B .. "/events", nil, function() calls = calls + 1 end)
          show("DROP", r, { calls = calls })
          show("EOF", http.sse(salvo.env.EOF, nil, function() end))
        end
        """, "-e", f"EOF={until_close.url('/events')}", base=drop.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 0
    assert metric(r.export, "iterations", "count") == 2
    for res in logged(r.err, "DROP"):
        assert (res["status"], res["error_code"], res["events"]) == (200, 1000, 2), res
        assert res["calls"] == 2, res
        assert res["error"].startswith("unexpected EOF"), res
    for res in logged(r.err, "EOF"):
        assert (res["status"], res["error_code"], res["error"], res["events"]) == (200, 0, "", 2)
    assert len(logged(r.err, "EOF")) == 2
    assert errors_by_code(r.export) == {1000: 2}
    assert metric(r.export, "http_reqs", "count") == 4
    assert metric(r.export, "sse_event", "count") == 8
    assert drop.accepted == 2


class FloodServer(TcpServer):
    """12000 events at once ("data: N"), then nothing until the client hangs up."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(SSE_HEAD + chunk(b"".join(b"data: %d\n\n" % i for i in range(12000))))
        while conn.recv(4096):
            pass


class HugeEventServer(TcpServer):
    """A small event, then one whose data line is over 1 MiB, then nothing."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(SSE_HEAD + chunk(b"data: small\n\n")
                     + chunk(b"data: " + b"x" * (1024 * 1024 + 10) + b"\n\n"))
        while conn.recv(4096):
            pass


def test_a_stream_too_fast_for_on_event_is_cut(run_salvo, script, python_server):
    """More than 10000 events waiting for a busy on_event: the stream is cut; what was
    queued is still handed over, in order; r.error says why."""
    server = python_server(FloodServer)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local calls, in_order = 0, true
          local r = http.sse(B .. "/events", nil, function(ev)
            if calls == 0 then salvo.sleep(0.3) end
            in_order = in_order and ev.data == tostring(calls)
            calls = calls + 1
          end)
          show("R", r, { calls = calls, in_order = in_order })
        end
        """, base=server.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 0
    res = one(r.err, "R")
    assert res["error"] == "http.sse: 10000 events waiting for on_event: the stream was cut"
    # the server did nothing wrong: the request is not a failed one
    assert (res["status"], res["error_code"]) == (200, 0)
    assert metric(r.export, "http_req_failed", "passes") == 0
    assert 10000 <= res["calls"] < 12000, res
    assert res["in_order"] is True
    assert res["events"] >= res["calls"]
    assert metric(r.export, "http_reqs", "count") == 1
    assert r.seconds < 20


def test_an_event_over_1_mib_cuts_the_stream(run_salvo, script, python_server):
    server = python_server(HugeEventServer)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local got = {}
          local r = http.sse(B .. "/events", nil, function(ev) got[#got + 1] = ev.data end)
          show("R", r, { got = got })
        end
        """, base=server.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 0
    res = one(r.err, "R")
    assert res["error"] == "http.sse: an event over 1 MiB: the stream was cut"
    assert res["got"] == ["small"]
    assert (res["status"], res["error_code"]) == (200, 0)
    assert metric(r.export, "http_req_failed", "passes") == 0
    assert r.seconds < 20


def test_other_statuses_and_bodies(run_salvo, script, demo):
    """A status >= 400 is a failed request with 1000 + status and no events; a 200 that
    is not an event stream is read as one (no event in plain text); a refused
    connection is 1212."""
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          show("BAD", http.sse(B .. "/sse/ticks?every=0", nil, function() end))
          show("404", http.sse(B .. "/nope", nil, function() end))
          show("TEXT", http.sse(B .. "/hello", nil, function() end))
          show("REFUSED", http.sse(salvo.env.REFUSED, nil, function() end))
        end
        """, "-e", f"REFUSED=http://127.0.0.1:{free_port()}/events", base=demo.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 0
    bad = one(r.err, "BAD")
    assert (bad["status"], bad["error_code"], bad["error"], bad["events"]) == (
        400, 1400, "HTTP error status", 0)
    assert one(r.err, "404")["error_code"] == 1404
    text = one(r.err, "TEXT")
    assert (text["status"], text["error_code"], text["events"]) == (200, 0, 0)
    refused = one(r.err, "REFUSED")
    assert (refused["status"], refused["error_code"], refused["proto"]) == (0, 1212, "")
    assert errors_by_code(r.export) == {1400: 1, 1404: 1, 1212: 1}


class ErrorStreamServer(TcpServer):
    """A 503 whose body is an event stream (with a Content-Length)."""

    def handle(self, conn):
        body = b"data: a\n\ndata: b\n\n"
        for _ in self.requests_on(conn):
            conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\n"
                         b"Content-Type: text/event-stream\r\n"
                         b"Content-Length: %d\r\n\r\n" % len(body) + body)


def test_an_error_status_is_read_all_the_same(run_salvo, script, python_server):
    """The status is not checked before reading: the events of a 503 reach on_event;
    the result is 1503, a failed request unless expected_statuses has 503."""
    server = python_server(ErrorStreamServer)
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local got = {}
          local function on_event(ev) got[#got + 1] = ev.data end
          show("PLAIN", http.sse(B .. "/events", nil, on_event), { got = got })
          show("EXPECTED", http.sse(B .. "/events", { expected_statuses = { 503 } }, on_event))
        end
        """, base=server.url(""))
    assert r.code == 0, r.err
    plain = one(r.err, "PLAIN")
    assert (plain["status"], plain["error_code"], plain["error"], plain["events"]) == (
        503, 1503, "HTTP error status", 2)
    assert plain["got"] == ["a", "b"]
    assert one(r.err, "EXPECTED")["error_code"] == 1503
    failed = r.export["metrics"]["http_req_failed"]
    assert (failed["passes"], failed["fails"]) == (1, 1)
    assert metric(r.export, "sse_event", "count") == 4


# ---- HTTPS and HTTP/2 ---------------------------------------------------------------------


class SseNginx:
    """nginx in front of the demo target, passing /sse/ each chunk as it comes
    (proxy_buffering off): HTTPS offering h2 and http/1.1 on tls_port, h2c (HTTP/2
    with prior knowledge) on h2c_port."""

    def __init__(self, root, pki, upstream):
        self.tls_port, self.h2c_port = free_port(), free_port()
        locations = f"""
        location /sse/ {{ proxy_pass http://127.0.0.1:{upstream.port}; }}
        location = /hello {{ return 200 "hello"; }}
        location / {{ return 404; }}"""
        conf = root / "nginx.conf"
        conf.write_text(f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format conns '$connection $server_protocol $request_uri';
    access_log {root}/access.log conns;
    {' '.join(nginx_temp_paths(root))}
    default_type text/plain;
    proxy_buffering off;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    server {{
        listen 127.0.0.1:{self.tls_port} ssl http2;
        ssl_certificate {pki.cert("server")};
        ssl_certificate_key {pki.key("server")};
        ssl_protocols TLSv1.2 TLSv1.3;
        {locations}
    }}
    server {{
        listen 127.0.0.1:{self.h2c_port} http2;
        {locations}
    }}
}}
""")
        self.log = root / "access.log"
        self.proc = launch_nginx(root, conf, self.tls_port)

    def log_lines(self):
        """(connection, protocol, uri) of each request logged so far."""
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines() if line]

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)
        self.proc.stderr.close()


@pytest.fixture
def sse_nginx(tmp_path, pki, demo):
    """SseNginx in front of the demo fixture's target."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    root = tmp_path / "sse-nginx"
    root.mkdir()
    n = SseNginx(root, pki, demo)
    yield n
    n.stop()


PROTO_SCRIPT = """\
    options = { iterations = 1 }
    function default()
      local V = salvo.env.VERSION
      local ids = {}
      local r = http.sse(B .. "/sse/ticks?every=20&count=4", { http_version = V }, function(ev)
        ids[#ids + 1] = ev.id
      end)
      show("R", r, { ids = ids })
      -- an endless stream, ended by its duration; then a plain request
      show("HOLD", http.sse(B .. "/sse/ticks?every=20", { duration = "300ms", http_version = V },
                            function() end))
      local g = http.get(B .. "/hello", { http_version = V })
      salvo.log("GET " .. salvo.json.encode({ status = g.status, proto = g.proto }))
    end
    """


def assert_streams_over(r, proto):
    assert_ok(r)
    res = one(r.err, "R")
    assert (res["proto"], res["status"], res["error_code"], res["events"]) == (proto, 200, 0, 4)
    assert res["ids"] == ["0", "1", "2", "3"]
    hold = one(r.err, "HOLD")
    assert (hold["proto"], hold["status"], hold["error_code"], hold["error"]) == (
        proto, 200, 0, ""), hold
    assert 5 <= hold["events"] <= 16, hold
    assert one(r.err, "GET") == {"status": 200, "proto": proto}
    assert metric(r.export, "http_reqs", "count") == 3
    assert metric(r.export, "sse_event", "count") == 4 + hold["events"]


@pytest.mark.parametrize("version, proto", [("HTTP/2", "HTTP/2.0"), ("HTTP/1.1", "HTTP/1.1")])
def test_over_https(run_salvo, script, sse_nginx, pki, version, proto):
    """h2 by ALPN and HTTP/1.1 over TLS, through nginx, which passes each tick on as the
    demo target sends it."""
    r = run_lua(run_salvo, script, PROTO_SCRIPT, "--cacert", pki.cert("ca"),
                "-e", f"VERSION={version}", base=f"https://localhost:{sse_nginx.tls_port}")
    assert_streams_over(r, proto)
    tls = {tags["url"].split("/")[-1]: tags.get("tls_version")
           for tags, _ in totals(r.export, "http_reqs")}
    assert tls["ticks?every=20&count=4"] in ("tls1.2", "tls1.3"), tls
    assert tls["hello"] in ("tls1.2", "tls1.3"), tls


def test_a_stream_salvo_closes_keeps_its_tls_tag(run_salvo, script, sse_nginx, pki):
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local V = "HTTP/1.1"
          http.sse(B .. "/sse/ticks?every=20&count=2", { http_version = V }, function() end)
          http.sse(B .. "/sse/ticks?every=20&a=duration",
                   { http_version = V, duration = "100ms" }, function() end)
          http.sse(B .. "/sse/ticks?every=20&a=false", { http_version = V },
                   function() return false end)
        end
        """, "--cacert", pki.cert("ca"), base=f"https://localhost:{sse_nginx.tls_port}")
    assert_ok(r)
    tls = {tags["url"]: tags.get("tls_version") for tags, _ in totals(r.export, "http_reqs")}
    assert len(tls) == 3
    assert set(tls.values()) <= {"tls1.2", "tls1.3"}, tls


def test_over_h2c(run_salvo, script, sse_nginx):
    r = run_lua(run_salvo, script, PROTO_SCRIPT, "-e", "VERSION=HTTP/2",
                base=f"http://127.0.0.1:{sse_nginx.h2c_port}")
    assert_streams_over(r, "HTTP/2.0")


@pytest.mark.parametrize("version", ["HTTP/2", "HTTP/1.1"])
def test_which_connection_a_stream_takes(run_salvo, script, sse_nginx, pki, version):
    """Over HTTP/2 streams and other requests share the VU's connection, and closing a
    stream leaves it open. Over HTTP/1.1 a stream has a connection of its own (the VU's
    other requests keep theirs), kept for the next stream when the server ended the
    stream, not when salvo closed it."""
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local V = { http_version = salvo.env.VERSION }
          local function get(a) return function() http.get(B .. "/hello?a=" .. a, V) end end
          get("1")()
          http.sse(B .. "/sse/ticks?every=20&count=2&a=2", V, get("2in"))
          get("3")()
          http.sse(B .. "/sse/ticks?every=20&a=4", { http_version = V.http_version,
                                                    duration = "100ms" }, get("4in"))
          get("5")()
          http.sse(B .. "/sse/ticks?every=20&count=2&a=6", V, function() end)
          get("7")()
        end
        """, "--cacert", pki.cert("ca"), "-e", f"VERSION={version}",
                base=f"https://localhost:{sse_nginx.tls_port}")
    assert_ok(r)
    n = metric(r.export, "http_reqs", "count")
    assert wait_until(lambda: len(sse_nginx.log_lines()) == n, timeout=10)
    conns = {}
    for conn, proto, uri in sse_nginx.log_lines():
        assert proto == ("HTTP/2.0" if version == "HTTP/2" else "HTTP/1.1")
        conns.setdefault(uri.split("a=")[1], set()).add(conn)
    gets = set().union(*(conns[a] for a in ["1", "2in", "3", "4in", "5", "7"]))
    if version == "HTTP/2":
        assert len(set().union(*conns.values())) == 1, conns
        return
    assert len(gets) == 1, conns
    assert conns["2"] == conns["4"] and conns["2"] != gets, conns
    assert conns["6"] not in (gets, conns["4"]), conns


# ---- mistakes in the script -----------------------------------------------------------------


@pytest.mark.parametrize("call, message", [
    ('http.sse("ftp://x/", nil, function() end)',
     'http.sse: invalid request to "ftp://x/": unsupported scheme (use http:// or https://)'),
    ('http.sse(B .. "/sse/ticks")', "http.sse: expected a function for on_event, got nil"),
    ('http.sse(B .. "/sse/ticks", nil, "f")',
     "http.sse: expected a function for on_event, got string"),
    ('http.sse(B .. "/sse/ticks", { timeout = "soon" }, function() end)',
     'http.sse: timeout: expected a duration such as "10s" or milliseconds'),
], ids=["scheme", "no-callback", "string-callback", "timeout"])
def test_bad_calls_raise_at_the_callers_line(run_salvo, script, demo, call, message):
    path = script(PRELUDE + f"""\
    options = {{ iterations = 1 }}
    function default()
      {call}
    end
    """)
    line = line_of(path, call)
    r = run_script(run_salvo, path, "--workers", 1, base=demo.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 1
    assert "salvo: error in VU 1, iteration 0: " in r.err, r.err
    assert f"{path.name}:{line}: {message}\n" in r.err, r.err
    assert metric(r.export, "http_reqs", "count") == 0
    assert demo.stats() == 0


def test_an_error_in_on_event_ends_the_stream_and_fails_the_iteration(run_salvo, script,
                                                                      demo):
    """The error propagates out of http.sse; the stream is closed, and the next
    iteration streams again on the same VU."""
    path = script(PRELUDE + """\
        options = { iterations = 2, vus = 1 }
        function default()
          local r = http.sse(B .. "/sse/ticks?every=20", { duration = "2s" }, function(ev)
            if salvo.vu.iteration == 0 and ev.id == "1" then error("no more") end
            if salvo.vu.iteration == 1 and ev.id == "2" then return false end
          end)
          show("R", r)
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=demo.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "iteration_errors", "count") == 1
    assert metric(r.export, "iterations", "count") == 2
    assert "salvo: error in VU 1, iteration 0: " in r.err
    assert f"{path.name}:{line_of(path, 'no more')}: no more\n" in r.err, r.err
    res = one(r.err, "R")  # the second iteration only
    assert (res["status"], res["error_code"], res["events"]) == (200, 0, 3)
    assert r.seconds < 10  # the first stream did not run on for its 2 s


def test_http_sse_in_the_init_stage_is_refused(run_salvo, script, demo):
    path = script("""\
        local http = require("salvo.http")
        http.sse("%s", nil, function() end)
        function default() end
        """ % demo.url(ticks(1)))
    r = run_script(run_salvo, path)
    assert r.code == 107, r.err
    assert "http.sse is not allowed in the init stage" in r.err
    assert demo.stats() == 0


def test_one_stream_at_a_time_per_vu(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        options = { iterations = 1 }
        function default()
          local ok, err = pcall(http.sse, B .. "/sse/ticks?every=20&count=3", nil, function()
            http.sse(B .. "/sse/ticks?every=20&count=1", nil, function() end)
          end)
          salvo.log("ERR " .. salvo.json.encode({ err = tostring(err) }))
        end
        """, base=demo.url(""))
    assert r.code == 0, r.err
    assert "http.sse: one event stream at a time per VU" in one(r.err, "ERR")["err"]


@pytest.mark.parametrize("call, message", [
    pytest.param('http.sse(B .. "/sse/ticks", "x", function() end)',
                 "http.sse: params: expected a table, got string", id="params-string"),
    pytest.param('http.sse(B .. "/sse/ticks", { duration = "later" }, function() end)',
                 'http.sse: duration: expected a duration such as "30s"', id="duration"),
])
def test_bad_params_raise_a_clear_error(run_salvo, script, demo, call, message):
    path = script(PRELUDE + f"""\
    options = {{ iterations = 1 }}
    function default()
      {call}
    end
    """)
    line = line_of(path, call)
    r = run_script(run_salvo, path, "--workers", 1, base=demo.url(""))
    assert f"{path.name}:{line}: {message}" in r.err, r.err
    assert "http.sse: http.sse:" not in r.err


# ---- the example ---------------------------------------------------------------------------


def test_example_ticker(run_salvo, demo):
    r = run_script(run_salvo, EXAMPLES / "ticker.lua", "--vus", 3, "--duration", "2s",
                   "-e", "EVERY=50", "-e", "HOLD=1s", base=demo.url(""))
    assert_ok(r)
    reqs = metric(r.export, "http_reqs", "count")
    assert 6 <= reqs <= 9, reqs  # 2 s of 1 s subscriptions, 3 VUs
    events = metric(r.export, "sse_event", "count")
    assert reqs * 20 * 0.5 <= events <= reqs * 21, (events, reqs)
    # every tick's lateness recorded, none missed, every check passed
    assert r.export["salvo"]["trends"]["tick_lateness"]["count"] == events
    assert 0 <= metric(r.export, "tick_lateness", "min") <= metric(r.export, "tick_lateness", "max")
    assert metric(r.export, "ticks_missed", "count") == 0
    assert_all_checks_passed(r, expected_passes=3 * events + 3 * reqs)
    assert set(r.export["salvo"]["options"]["thresholds"]) == {
        "tick_lateness", "ticks_missed", "http_req_failed", "checks"}
    # the metrics that got samples carry their thresholds, none failed (ticks_missed
    # has none: no samples, and its threshold passes)
    th = {k: v["thresholds"] for k, v in r.export["metrics"].items() if "thresholds" in v}
    assert set(th) == {"tick_lateness", "http_req_failed", "checks"}
    assert all(failed is False for t in th.values() for failed in t.values()), th
    assert "no samples" in r.out
    assert demo.stats() == reqs
