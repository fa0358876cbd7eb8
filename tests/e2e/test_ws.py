"""WebSocket end to end: salvo.ws against the demo target's /ws/echo and /ws/broadcast,
and against WebSocket peers written here (WsPeer) that record the upgrade request and
misbehave on purpose: they drop the connection, break the protocol, never answer a
close frame, fragment messages, ping, close first, or speak TLS (wss://).

What a script saw is logged by it as JSON ("TAG {...}" lines on stderr) and compared
with what was sent; counts come from the summary export. Every server listens on
127.0.0.1, every session is bounded (a timer closes it, or the peer ends it), and
every process and thread is stopped by its fixture.
"""
import base64
import hashlib
import json
import os
import re
import signal
import socket
import ssl
import subprocess
import time

import pytest

from conftest import REPO, TcpServer, free_port, metric, stop_process, wait_until
from conftest import logged, one
from test_scripts import assert_all_checks_passed, run_script

EXAMPLES = REPO / "examples"


def ws_base(demo):
    return demo.url("").replace("http://", "ws://")


# ---- helpers ---------------------------------------------------------------------------

# The start of a script: B is the base URL (-e BASE=...), show(tag, t) logs a table.
PRELUDE = """\
    local ws = require("salvo.ws")
    local http = require("salvo.http")
    local salvo = require("salvo")
    local B = salvo.env.BASE
    local function show(tag, t)
      salvo.log(tag .. " " .. salvo.json.encode(t))
    end
    local function result(r, extra)
      local t = { status = r.status, error_code = r.error_code, error = r.error, url = r.url }
      for k, v in pairs(extra or {}) do t[k] = v end
      return t
    end
"""


def run_lua(run_salvo, script, source, *args, base=None, timeout=60):
    """Writes PRELUDE + source and runs it with --quiet (and a summary export)."""
    path = script(PRELUDE + source)
    return run_script(run_salvo, path, *args, base=base, timeout=timeout)


def trend_count(export, name):
    """How many samples a trend has (0 when none)."""
    return export["salvo"]["trends"].get(name, {}).get("count", 0)


def as_list(value):
    """A Lua list as JSON: an empty table encodes as {}."""
    return [] if value == {} else value


def totals(export, name):
    """[(tags, value)] of one metric's series in the export."""
    return [(s["tags"], s["value"]) for s in export["salvo"]["totals"]["series"]
            if s["metric"] == name]


def assert_ok(r):
    """Exit 0 and no iteration error."""
    assert r.code == 0, r.err[-3000:]
    assert r.export is not None, r.err[-3000:]
    assert metric(r.export, "iteration_errors", "count") == 0, r.err[-3000:]


# ---- a WebSocket peer in Python --------------------------------------------------------

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING, PONG, CONT = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


def accept_for(key: bytes) -> str:
    return base64.b64encode(hashlib.sha1(key + GUID).digest()).decode()


def xor(data: bytes, mask: bytes) -> bytes:
    n = len(data)
    if n == 0:
        return data
    m = (mask * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(m, "little")).to_bytes(n, "little")


def frame(opcode, payload=b"", fin=True, rsv=0, mask=None, length=None):
    """One frame as a server sends it (unmasked unless mask is given). length: a
    length field that lies."""
    n = len(payload) if length is None else length
    mbit = 0x80 if mask else 0
    head = bytes([(0x80 if fin else 0) | rsv | opcode])
    if n < 126:
        head += bytes([mbit | n])
    elif n < 65536:
        head += bytes([mbit | 126]) + n.to_bytes(2, "big")
    else:
        head += bytes([mbit | 127]) + n.to_bytes(8, "big")
    if mask:
        return head + mask + xor(payload, mask)
    return head + payload


def close_payload(code, reason=b""):
    return code.to_bytes(2, "big") + reason


class WsConn:
    """The server side of one upgraded connection: frames in and out."""

    def __init__(self, peer, sock, buf):
        self.peer, self.sock, self.buf = peer, sock, buf

    def _take(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(1 << 20)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_frame(self):
        """(fin, opcode, payload); records the frame in peer.frames as (opcode, masked,
        length), or (opcode, masked, payload) for a control frame."""
        b0, b1 = self._take(2)
        n = b1 & 0x7F
        if n == 126:
            n = int.from_bytes(self._take(2), "big")
        elif n == 127:
            n = int.from_bytes(self._take(8), "big")
        mask = self._take(4) if b1 & 0x80 else None
        payload = self._take(n)
        if mask:
            payload = xor(payload, mask)
        op = b0 & 0x0F
        with self.peer.lock:
            self.peer.frames.append((op, bool(mask), len(payload) if op < 0x8 else payload))
        return bool(b0 & 0x80), b0 & 0x0F, payload

    def read_message(self, answer_pings=True):
        """(opcode, payload) of the next whole message or control frame other than a
        ping (answered); fragments are joined. Raises EOFError at the end."""
        parts, first = [], None
        while True:
            fin, op, payload = self.read_frame()
            if op == PING and answer_pings:
                self.send(PONG, payload)
                continue
            if op >= 0x8:
                return op, payload
            if first is None:
                first = op
            parts.append(payload)
            if fin:
                message = b"".join(parts)
                with self.peer.lock:
                    self.peer.messages.append((first, message))
                return first, message

    def send(self, opcode, payload=b"", **kw):
        self.sock.sendall(frame(opcode, payload, **kw))

    def echo_until_close(self):
        """Echoes messages; answers the client's close frame with the same code. The
        client's close payload, or None when the connection ended without one."""
        try:
            while True:
                op, payload = self.read_message()
                if op == CLOSE:
                    self.send(CLOSE, payload[:2])
                    return payload
                if op in (TEXT, BINARY):
                    self.send(op, payload)
        except (EOFError, OSError):
            return None

    def wait_for_eof(self, timeout=15):
        """Reads (and records) until the client closes the connection: when it did."""
        self.sock.settimeout(timeout)
        try:
            while True:
                self.read_frame()
        except (EOFError, OSError):
            pass
        return time.monotonic()


class WsPeer(TcpServer):
    """A WebSocket server on 127.0.0.1 (wss:// with tls, an ssl.SSLContext). It records
    each upgrade request's head (heads), each frame the client sent in frames (see
    WsConn.read_frame) and each whole message in messages, answers 101 with the right
    Sec-WebSocket-Accept (a wrong one with bad_accept) and the first subprotocol
    offered, then hands the connection to session(peer, conn) as a WsConn; session
    may store what it saw in peer.notes."""

    def __init__(self, session, tls=None, bad_accept=False):
        self.session, self.tls, self.bad_accept = session, tls, bad_accept
        self.frames, self.messages, self.notes = [], [], {}
        self.finished = 0
        super().__init__()

    def settle(self, sessions):
        """Waits until `sessions` connections are done with: salvo may exit a moment
        before this side has read the client's last frame."""
        assert wait_until(lambda: self.finished >= sessions, timeout=15), \
            f"{self.finished} of {sessions} sessions finished"

    def ws_url(self, path="/"):
        scheme = "wss" if self.tls else "ws"
        return f"{scheme}://{'localhost' if self.tls else '127.0.0.1'}:{self.port}{path}"

    def handle(self, conn):
        try:
            self._handle(conn)
        finally:
            with self.lock:
                self.finished += 1

    def _handle(self, conn):
        if self.tls:
            conn = self.tls.wrap_socket(conn, server_side=True)
            with self.lock:
                self.conns.append(conn)
        req = self.read_request(conn)
        if req is None:
            return
        head, _, rest = req
        key = re.search(rb"(?im)^sec-websocket-key:[ \t]*(\S+)", head)
        protos = re.search(rb"(?im)^sec-websocket-protocol:[ \t]*([^\r\n]*)", head)
        accept = accept_for(key.group(1) if key else b"")
        if self.bad_accept:
            accept = accept_for(b"not the key")
        answer = ("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n")
        if protos:
            first = protos.group(1).decode().split(",")[0].strip()
            answer += f"Sec-WebSocket-Protocol: {first}\r\n"
        conn.sendall((answer + "\r\n").encode())
        self.session(self, WsConn(self, conn, rest))


@pytest.fixture
def ws_peer():
    """ws_peer(session, tls=None, bad_accept=False) starts a WsPeer; all are stopped
    afterwards."""
    started = []

    def start(session, **kw):
        peer = WsPeer(session, **kw)
        started.append(peer)
        return peer

    yield start
    for peer in started:
        peer.stop()


def echo_session(peer, ws):
    peer.notes["close"] = ws.echo_until_close()


def head_of(peer):
    assert len(peer.heads) == 1, peer.heads
    return peer.heads[0]


# ---- the example and the demo target ---------------------------------------------------


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
    # the upgrade's request and the server's answer crossed the wire: they are counted
    assert 150 < metric(r.export, "data_sent", "count") < 400
    assert 50 < metric(r.export, "data_received", "count") < 400


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


@pytest.mark.parametrize("call,message", [
    ('ws.connect(B .. "/ws/echo", "room=1", close_at_once)',
     "ws.connect: params: expected a table, got string"),
    ('ws.connect(B .. "/ws/echo", nil)', "ws.connect: expected a function, got nil"),
    ('ws.connect("ftp://x/", nil, function() end)',
     'ws.connect: "ftp://x/": expected a ws:// or wss:// URL'),
], ids=["params", "function", "scheme"])
def test_bad_calls_raise_at_the_callers_line(run_salvo, script, demo, call, message):
    path = script(PRELUDE + f"""\
        local function close_at_once(s) s:on("open", function() s:close() end) end
        function default()
          {call}
        end
        """)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), 1) if call in text)
    r = run_script(run_salvo, path, "--iterations", 1, base=ws_base(demo))
    assert r.code == 0, r.err[-3000:]
    assert metric(r.export, "iteration_errors", "count") == 1
    assert f"{path.name}:{line}: {message}" in r.err, r.err[-3000:]
    assert metric(r.export, "ws_sessions", "count") == 0


def test_ws_connect_in_the_init_stage_is_refused(run_salvo, script, demo):
    path = script(PRELUDE + """\
        ws.connect(B .. "/ws/echo", nil, function() end)
        function default() end
        """)
    r = run_script(run_salvo, path, "--iterations", 1, base=ws_base(demo))
    assert r.code == 107, r.err[-3000:]
    assert "ws.connect is not allowed in the init stage" in r.err, r.err[-3000:]


def test_the_demo_answers_the_first_subprotocol_offered(demo):
    """The demo target's handshake, as a raw client sees it: 101, the accept for the
    key, the first subprotocol offered; a plain GET of /ws/echo is a 400."""
    key = base64.b64encode(b"0123456789abcdef")
    with socket.create_connection((demo.host, demo.port), timeout=5) as s:
        s.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
                  b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n\r\n")
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = s.recv(4096)
            assert chunk, head
            head += chunk
        text = head.decode()
        assert text.startswith("HTTP/1.1 101 "), text
        assert f"Sec-WebSocket-Accept: {accept_for(key)}\r\n" in text, text
        assert "Sec-WebSocket-Protocol: chat\r\n" in text, text
        # a masked text message comes back unmasked, then a close is answered
        s.sendall(frame(TEXT, b"hi", mask=b"\x01\x02\x03\x04"))
        s.sendall(frame(CLOSE, close_payload(1000), mask=b"\x05\x06\x07\x08"))
        rest = head.partition(b"\r\n\r\n")[2]
        deadline = time.monotonic() + 5
        while len(rest) < 8 and time.monotonic() < deadline:
            chunk = s.recv(4096)
            if not chunk:
                break
            rest += chunk
        assert rest[:4] == frame(TEXT, b"hi"), rest
        assert rest[4:8] == frame(CLOSE, close_payload(1000)), rest
    with socket.create_connection((demo.host, demo.port), timeout=5) as s:
        s.sendall(b"GET /ws/echo HTTP/1.1\r\nHost: x\r\n\r\n")
        assert s.recv(4096).startswith(b"HTTP/1.1 400 "), "a GET without Upgrade"


def test_broadcast_reaches_every_member_across_workers(run_salvo, script, start_demo):
    """8 VUs in /ws/broadcast on a target with 2 workers (its connections spread over
    both by SO_REUSEPORT): once all have joined, each says one thing, and every member,
    the sender included, hears all 8."""
    target = start_demo(workers=2)
    n = 8
    r = run_lua(run_salvo, script, f"""\
        options = {{ scenarios = {{ room = {{ executor = "per-vu-iterations", vus = {n},
                                            iterations = 1, maxDuration = "20s" }} }} }}
        function default()
          local heard = {{}}
          local res = ws.connect(B .. "/ws/broadcast", nil, function(socket)
            socket:on("message", function(m) heard[#heard + 1] = m end)
            -- everyone has joined by then: then each says its name once
            socket:set_timeout(function() socket:send("vu" .. salvo.vu.id) end, 1000)
            socket:set_timeout(function() socket:close() end, 2500)
          end)
          table.sort(heard)
          show("HEARD", result(res, {{ vu = salvo.vu.id, heard = heard }}))
        end
        """, base=ws_base(target), timeout=30)
    assert_ok(r)
    seen = logged(r.err, "HEARD")
    assert len(seen) == n, r.err[-3000:]
    everyone = sorted(f"vu{i}" for i in range(1, n + 1))
    for s in seen:
        assert s["status"] == 101 and s["error"] == "", s
        assert s["heard"] == everyone, s
    assert metric(r.export, "ws_msgs_sent", "count") == n
    assert metric(r.export, "ws_msgs_received", "count") == n * n
    assert target.proc.poll() is None


def test_broadcast_sends_binary_as_binary(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local text, bin = {}, {}
          ws.connect(B .. "/ws/broadcast", nil, function(socket)
            socket:on("open", function()
              socket:send("words")
              socket:send_binary("\\0\\255bytes")
            end)
            socket:on("message", function(m) text[#text + 1] = m end)
            socket:on("binaryMessage", function(m) bin[#bin + 1] = #m end)
            socket:set_timeout(function() socket:close() end, 300)
          end)
          show("GOT", { text = text, bin = bin })
        end
        """, "--iterations", 1, base=ws_base(demo))
    assert_ok(r)
    assert one(r.err, "GOT") == {"text": ["words"], "bin": [7]}


# ---- the upgrade request ---------------------------------------------------------------


def test_the_upgrade_carries_headers_cookies_tags_and_subprotocols(run_salvo, script,
                                                                   ws_peer):
    peer = ws_peer(echo_session)
    r = run_lua(run_salvo, script, """\
        function default()
          -- the jar takes http(s):// URLs: ws:// and wss:// ones use their cookies
          http.cookie_jar():set((B:gsub("^ws", "http")) .. "/", "session", "abc123")
          local res = ws.connect(B .. "/room?x=1", {
            headers = { ["X-Token"] = "t0ken", ["User-Agent"] = "chat-bot/1.0" },
            subprotocols = "chat.v2, chat.v1",
            tags = { room = "lobby" },
          }, function(socket)
            socket:on("open", function() socket:send("hi") end)
            socket:on("message", function(m) socket:close() end)
          end)
          show("RES", result(res))
        end
        """, "--iterations", 1, base=peer.ws_url(""))
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 101 and res["error_code"] == 0 and res["error"] == "", res
    assert res["url"] == peer.ws_url("/room?x=1")
    peer.settle(1)
    head = head_of(peer)
    lines = head.split("\r\n")
    assert lines[0] == "GET /room?x=1 HTTP/1.1", head
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    assert headers["host"] == [f"127.0.0.1:{peer.port}"], head
    assert headers["upgrade"] == ["websocket"], head
    assert headers["connection"] == ["Upgrade"], head
    assert headers["sec-websocket-version"] == ["13"], head
    key = headers["sec-websocket-key"][0]
    assert len(base64.b64decode(key, validate=True)) == 16, head
    assert headers["sec-websocket-protocol"] == ["chat.v2, chat.v1"], head
    assert headers["x-token"] == ["t0ken"], head
    assert headers["user-agent"] == ["chat-bot/1.0"], head
    assert headers["cookie"] == ["session=abc123"], head
    # what the client sent after the upgrade is masked, as RFC 6455 wants
    assert peer.frames and all(masked for _, masked, _ in peer.frames), peer.frames
    assert peer.notes["close"] == close_payload(1000)
    # the session's samples carry params.tags and the URL
    for name in ("ws_sessions", "ws_connecting", "ws_session_duration", "ws_msgs_sent",
                 "ws_msgs_received"):
        series = totals(r.export, name)
        assert len(series) == 1, (name, series)
        tags = series[0][0]
        assert tags.get("room") == "lobby" and tags.get("url") == peer.ws_url("/room?x=1"), \
            (name, tags)


def test_params_cookies_go_with_the_jars(run_salvo, script, ws_peer):
    peer = ws_peer(echo_session)
    r = run_lua(run_salvo, script, """\
        function default()
          http.cookie_jar():set((B:gsub("^ws", "http")) .. "/", "session", "abc123")
          local cookies = { extra = "yes", k6 = { value = "style" } }
          local res = ws.connect(B .. "/", { cookies = cookies }, function(socket)
            socket:on("open", function() socket:close() end)
          end)
          show("RES", result(res))
        end
        """, "--iterations", 1, base=peer.ws_url(""))
    assert_ok(r)
    assert one(r.err, "RES")["status"] == 101
    peer.settle(1)
    m = re.search(r"(?im)^cookie:[ \t]*([^\r\n]*)", head_of(peer))
    assert m, head_of(peer)
    assert sorted(c.strip() for c in m.group(1).split(";")) == \
        ["extra=yes", "k6=style", "session=abc123"], head_of(peer)


def test_the_default_upgrade_has_salvos_user_agent_and_no_extras(run_salvo, script,
                                                                 ws_peer):
    peer = ws_peer(echo_session)
    r = run_lua(run_salvo, script, """\
        function default()
          local res = ws.connect(B .. "/", nil, function(socket)
            socket:on("open", function() socket:close() end)
          end)
          show("RES", result(res))
        end
        """, "--iterations", 1, base=peer.ws_url(""))
    assert_ok(r)
    assert one(r.err, "RES")["status"] == 101
    peer.settle(1)
    head = head_of(peer).lower()
    assert "\r\nuser-agent: salvo/" in head, head
    assert "sec-websocket-protocol" not in head and "cookie:" not in head, head


# ---- how the upgrade can fail ------------------------------------------------------------


class StallPeer(TcpServer):
    """Reads the upgrade request and never answers."""

    def handle(self, conn):
        if self.read_request(conn) is not None:
            self.stopping.wait(30)


def test_upgrade_failures(run_salvo, script, demo, ws_peer):
    """A refused connection, an error status, a 101 with a wrong accept, and an upgrade
    that times out: each returns its code and message, the function is never called,
    and the next iteration runs."""
    bad = ws_peer(echo_session, bad_accept=True)
    stall = StallPeer()
    try:
        refused = f"ws://127.0.0.1:{free_port()}/"
        r = run_lua(run_salvo, script, f"""\
            local urls = {{
              refused = "{refused}",
              missing = "{ws_base(demo)}/ws/nope",
              accept = "{bad.ws_url('/')}",
              stall = "ws://127.0.0.1:{stall.port}/",
            }}
            function default()
              for _, what in ipairs({{ "refused", "missing", "accept", "stall" }}) do
                local called = false
                local started = salvo.now()
                local res = ws.connect(urls[what], nil, function() called = true end)
                show("RES", result(res, {{ what = what, called = called,
                                            ms = salvo.now() - started }}))
              end
            end
            """, "--iterations", 2, "--timeout", "1s")
    finally:
        stall.stop()
    assert_ok(r)
    got = logged(r.err, "RES")
    assert len(got) == 8, r.err[-3000:]
    by = {g["what"]: g for g in got[:4]}
    assert got[4:] == [dict(g, ms=h["ms"]) for g, h in zip(got[:4], got[4:])]
    assert not any(g["called"] for g in got)
    assert by["refused"]["status"] == 0 and by["refused"]["error_code"] == 1212
    assert by["refused"]["error"] == "dial: connection refused"
    assert by["missing"]["status"] == 404 and by["missing"]["error_code"] == 1404
    assert by["missing"]["error"] == "ws: the server did not switch protocols"
    assert by["accept"]["status"] == 101 and by["accept"]["error_code"] == 1000
    assert by["accept"]["error"] == "ws: bad Sec-WebSocket-Accept in the server's answer"
    assert by["stall"]["status"] == 0 and by["stall"]["error_code"] == 1050
    assert by["stall"]["error"] == "request timeout"
    assert 900 <= by["stall"]["ms"] < 3000, by["stall"]
    # every attempt is a session in ws_sessions and ws_connecting; none opened
    assert metric(r.export, "ws_sessions", "count") == 8
    assert trend_count(r.export, "ws_connecting") == 8
    assert trend_count(r.export, "ws_session_duration") == 0
    # failed sessions are not failed requests: they are in res and the handlers only
    assert r.export["salvo"]["errors"] == []
    assert metric(r.export, "http_reqs", "count") == 0


# ---- peers that misbehave --------------------------------------------------------------


def drop_session(how):
    """Says hello, waits for the client's first message, then drops the connection:
    a FIN, or a reset (SO_LINGER 0)."""

    def session(peer, ws):
        ws.send(TEXT, b"hello")
        ws.read_message()
        if how == "reset":
            ws.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                               b"\x01\x00\x00\x00\x00\x00\x00\x00")
        ws.sock.close()

    return session


@pytest.mark.parametrize("how", ["fin", "reset"])
def test_a_dropped_connection_is_an_error_event_and_the_test_goes_on(run_salvo, script,
                                                                     ws_peer, how):
    peer = ws_peer(drop_session(how))
    r = run_lua(run_salvo, script, """\
        function default()
          local events = {}
          local res = ws.connect(B .. "/", nil, function(socket)
            socket:on("message", function(m)
              events[#events + 1] = "message:" .. m
              socket:send("and you")
            end)
            socket:on("close", function(c) events[#events + 1] = "close:" .. c end)
            socket:on("error", function(e) events[#events + 1] = "error:" .. e end)
            socket:set_timeout(function() events[#events + 1] = "late timer" end, 1500)
          end)
          show("RES", result(res, { events = events }))
        end
        """, "--iterations", 3, base=peer.ws_url(""))
    assert_ok(r)
    got = logged(r.err, "RES")
    assert len(got) == 3, r.err[-3000:]
    for g in got:
        assert g["events"] == ["message:hello",
                               "error:ws: the connection closed without a close frame"], g
        assert g["status"] == 101 and g["error_code"] == 0, g  # the upgrade went fine
        assert g["error"] == "ws: the connection closed without a close frame", g
    assert metric(r.export, "ws_sessions", "count") == 3
    assert trend_count(r.export, "ws_session_duration") == 3
    assert metric(r.export, "ws_session_duration", "max") < 1000  # not held for the timer
    peer.settle(3)
    assert peer.accepted == 3


GARBAGE = {
    # RSV1 set without an extension that defines it
    "rsv bits": frame(TEXT, b"x", rsv=0x40),
    # opcode 3 is reserved
    "reserved opcode": frame(0x3, b"x"),
    # servers must not mask their frames
    "masked frame": frame(TEXT, b"x", mask=b"\x01\x02\x03\x04"),
    # a control frame longer than 125 bytes
    "long ping": frame(PING, b"p" * 126),
    # a fragmented control frame
    "fragmented close": frame(CLOSE, close_payload(1000), fin=False),
    # a continuation with nothing to continue
    "stray continuation": frame(CONT, b"x"),
    # a text message that is not UTF-8
    "invalid UTF-8": frame(TEXT, b"\xff\xfe"),
    # not WebSocket at all
    "HTTP instead": b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
}


def garbage_session(data):
    def session(peer, ws):
        ws.sock.sendall(data)
        peer.notes["eof_at"] = ws.wait_for_eof(timeout=10)

    return session


EVENTS_SCRIPT = """\
    function default()
      local events = {}
      local res = ws.connect(B .. "/", nil, function(socket)
        socket:on("message", function(m) events[#events + 1] = "message" end)
        socket:on("binaryMessage", function(m) events[#events + 1] = "binary:" .. #m end)
        socket:on("ping", function() events[#events + 1] = "ping" end)
        socket:on("close", function(c) events[#events + 1] = "close:" .. c end)
        socket:on("error", function(e) events[#events + 1] = "error:" .. e end)
        socket:set_timeout(function() socket:close() end, 3000)
      end)
      show("RES", result(res, { events = events }))
    end
    """


def run_events(run_salvo, script, peer, iterations=2):
    """EVENTS_SCRIPT against peer: the RES lines (one per iteration)."""
    r = run_lua(run_salvo, script, EVENTS_SCRIPT, "--iterations", iterations,
                base=peer.ws_url(""))
    assert_ok(r)
    got = logged(r.err, "RES")
    assert len(got) == iterations, r.err[-3000:]
    for g in got:
        g["events"] = as_list(g["events"])
    return r, got


BROKE = "ws: the server broke the WebSocket protocol"


@pytest.mark.parametrize("kind", list(GARBAGE))
def test_a_peer_breaking_the_protocol_is_an_error(run_salvo, script, ws_peer, kind):
    """Whatever the violation, the error handler hears of it, the client sends a close
    frame (masked) and hangs up at once rather than waiting for its timer, and the next
    iteration connects again."""
    peer = ws_peer(garbage_session(GARBAGE[kind]))
    r, got = run_events(run_salvo, script, peer)
    for g in got:
        assert g["status"] == 101 and g["error_code"] == 0, g
        assert g["error"] == BROKE and g["events"] == [f"error:{BROKE}"], g
    assert metric(r.export, "ws_session_duration", "max") < 2000  # not held for the timer
    assert trend_count(r.export, "ws_session_duration") == 2
    peer.settle(2)
    closes = [f for f in peer.frames if f[0] == CLOSE]
    assert len(closes) == 2 and all(masked for _, masked, _ in closes), peer.frames
    assert peer.accepted == 2


def mute_close_session(peer, ws):
    """Echoes, but never answers the client's close frame; notes when the close came
    and when the client hung up."""
    try:
        while True:
            op, payload = ws.read_message()
            if op == CLOSE:
                peer.notes["close_at"] = time.monotonic()
                peer.notes["close"] = payload
                peer.notes["eof_at"] = ws.wait_for_eof(timeout=15)
                return
            ws.send(op, payload)
    except (EOFError, OSError):
        pass


def test_a_peer_that_never_answers_close_is_left_after_3_seconds(run_salvo, script,
                                                                  ws_peer):
    """After socket:close() the session waits 3 s for the peer's close frame, then ends;
    the timers still pending do not fire, and send() returns false."""
    peer = ws_peer(mute_close_session)
    r = run_lua(run_salvo, script, """\
        function default()
          local events, sent_after = {}, nil
          local closed_at
          local started = salvo.now()
          local res = ws.connect(B .. "/", nil, function(socket)
            socket:on("open", function() socket:send("x") end)
            socket:on("message", function(m)
              events[#events + 1] = "message:" .. m
              closed_at = salvo.now()
              socket:close(4000)
              sent_after = socket:send("too late")
            end)
            socket:on("close", function(c) events[#events + 1] = "close:" .. c end)
            socket:on("error", function(e) events[#events + 1] = "error:" .. e end)
            socket:set_timeout(function() events[#events + 1] = "timeout fired" end, 1000)
            socket:set_interval(function() events[#events + 1] = "interval fired" end, 700)
          end)
          show("RES", result(res, { events = events, sent_after = sent_after,
                                    waited = salvo.now() - closed_at }))
        end
        """, "--iterations", 1, base=peer.ws_url(""))
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 101 and res["error"] == "", res
    assert res["events"] == ["message:x"], res
    assert res["sent_after"] is False, res
    assert 2900 <= res["waited"] < 4500, res
    peer.settle(1)
    assert peer.notes["close"] == close_payload(4000)
    assert 2.8 <= peer.notes["eof_at"] - peer.notes["close_at"] < 4.5, peer.notes
    assert metric(r.export, "ws_msgs_sent", "count") == 1


def server_close_session(peer, ws):
    """Says bye and closes first with 1001; notes the client's answer."""
    ws.send(TEXT, b"bye")
    ws.send(CLOSE, close_payload(1001, b"going away"))
    try:
        op, payload = ws.read_message()
        peer.notes["answer"] = (op, payload)
    except (EOFError, OSError):
        peer.notes["answer"] = None
    peer.notes["eof_at"] = ws.wait_for_eof(timeout=5)


def test_a_peer_closing_first_gets_its_close_answered(run_salvo, script, ws_peer):
    peer = ws_peer(server_close_session)
    r = run_lua(run_salvo, script, """\
        function default()
          local events, sent = {}, nil
          local res = ws.connect(B .. "/", nil, function(socket)
            socket:on("message", function(m) events[#events + 1] = "message:" .. m end)
            socket:on("close", function(c)
              events[#events + 1] = "close:" .. c
              sent = socket:send("after close")
            end)
            socket:on("error", function(e) events[#events + 1] = "error:" .. e end)
            socket:set_timeout(function() events[#events + 1] = "timer" end, 2000)
          end)
          show("RES", result(res, { events = events, sent = sent }))
        end
        """, "--iterations", 1, base=peer.ws_url(""))
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 101 and res["error"] == "", res
    assert res["events"] == ["message:bye", "close:1001"], res
    assert res["sent"] is False, res
    peer.settle(1)
    assert peer.notes["answer"] is not None and peer.notes["answer"][0] == CLOSE, peer.notes
    assert peer.notes["answer"][1][:2] == close_payload(1001), peer.notes
    assert metric(r.export, "ws_session_duration", "max") < 1500


def ping_and_fragments_session(peer, ws):
    """Pings the client, then sends a text and a binary message in fragments with a
    ping in between, then echoes."""
    ws.send(PING, b"are you there")
    fin, op, payload = ws.read_frame()
    peer.notes["pong"] = (op, payload)
    ws.send(TEXT, b"hel", fin=False)
    ws.send(PING, b"mid")
    ws.send(CONT, b"lo ", fin=False)
    ws.send(CONT, "wörld".encode(), fin=True)
    ws.send(BINARY, b"\x00\x01", fin=False)
    ws.send(CONT, b"\x02", fin=True)
    peer.notes["close"] = ws.echo_until_close()


def test_pings_are_answered_and_fragments_joined(run_salvo, script, ws_peer):
    peer = ws_peer(ping_and_fragments_session)
    r = run_lua(run_salvo, script, """\
        function default()
          local events = {}
          local res = ws.connect(B .. "/", nil, function(socket)
            socket:on("ping", function() events[#events + 1] = "ping" end)
            socket:on("message", function(m) events[#events + 1] = "message:" .. m end)
            socket:on("binaryMessage", function(m)
              events[#events + 1] = "binary:" .. salvo.json.encode({ m:byte(1, -1) })
              socket:close()
            end)
          end)
          show("RES", result(res, { events = events }))
        end
        """, "--iterations", 1, base=peer.ws_url(""))
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 101 and res["error"] == "", res
    assert res["events"] == ["ping", "ping", "message:hello wörld", "binary:[0,1,2]"], res
    peer.settle(1)
    assert peer.notes["pong"] == (PONG, b"are you there")
    assert peer.notes["close"] == close_payload(1000)
    assert metric(r.export, "ws_msgs_received", "count") == 2


MAX_MESSAGE = 16 * 1024 * 1024


def huge_session(peer, ws):
    """Sends a message of exactly 16 MiB, which the client takes, then one a byte
    longer in two fragments, which it refuses on the last byte (so nothing unread is
    left when it hangs up, and its close frame reliably arrives here)."""
    ws.send(BINARY, b"\xab" * MAX_MESSAGE)
    ws.send(BINARY, b"\xcd" * MAX_MESSAGE, fin=False)
    ws.send(CONT, b"!")
    ws.wait_for_eof(timeout=10)


def test_a_message_over_16_mib_ends_the_session_with_1009(run_salvo, script, ws_peer):
    peer = ws_peer(huge_session)
    r, got = run_events(run_salvo, script, peer, iterations=1)
    res = got[0]
    too_big = "ws: a message over 16 MiB: the session was closed (1009)"
    assert res["status"] == 101 and res["error"] == too_big, res
    assert res["events"] == [f"binary:{MAX_MESSAGE}", f"error:{too_big}"], res
    assert metric(r.export, "ws_session_duration", "max") < 2000  # not held for the timer
    peer.settle(1)
    closes = [f for f in peer.frames if f[0] == CLOSE]
    assert closes == [(CLOSE, True, close_payload(1009))], peer.frames


def flood_session(peer, ws):
    """100,010 one-byte text messages at once."""
    ws.sock.sendall(frame(TEXT, b"x") * 100_010)
    ws.wait_for_eof(timeout=20)


FLOOD_SCRIPT = """\
    function default()
      local n, errors = 0, {}
      local res = ws.connect(B .. "/", nil, function(socket)
        socket:on("message", function(m)
          n = n + 1
          if n == 1 then salvo.sleep(1) end  -- the rest pile up meanwhile
        end)
        socket:on("error", function(e) errors[#errors + 1] = e end)
        socket:set_timeout(function() socket:close() end, 10000)
      end)
      show("RES", result(res, { n = n, errors = errors }))
    end
    """

CUT = "ws: 100000 messages waiting for the handlers: the session was cut"


def test_messages_piling_up_for_a_busy_handler_cut_the_session(run_salvo, script, ws_peer):
    """100,000 messages waiting for the handlers cut the session: those already waiting
    are still handed over, the rest are dropped, and res.error says so."""
    peer = ws_peer(flood_session)
    r = run_lua(run_salvo, script, FLOOD_SCRIPT, "--iterations", 1, base=peer.ws_url(""),
                timeout=60)
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 101 and res["error"] == CUT, res
    assert res["n"] == 100_001, res  # the one being handled and the 100,000 waiting
    assert metric(r.export, "ws_session_duration", "max") < 8000


def test_messages_piling_up_call_the_error_handler(run_salvo, script, ws_peer):
    peer = ws_peer(flood_session)
    r = run_lua(run_salvo, script, FLOOD_SCRIPT, "--iterations", 1, base=peer.ws_url(""),
                timeout=60)
    assert_ok(r)
    assert one(r.err, "RES")["errors"] == [CUT]


def empty_close_session(peer, ws):
    ws.send(CLOSE, b"")
    peer.notes["answer"] = ws.read_frame()
    ws.wait_for_eof(timeout=5)


def test_a_close_frame_without_a_code(run_salvo, script, ws_peer):
    """The close handler gets 1005 ("no status received", as k6) when the peer's close
    frame has no code; the answer carries no code either."""
    peer = ws_peer(empty_close_session)
    _, got = run_events(run_salvo, script, peer, iterations=1)
    assert got[0]["events"] == ["close:1005"] and got[0]["error"] == "", got
    peer.settle(1)
    assert peer.notes["answer"] == (True, CLOSE, b""), peer.notes


# ---- wss:// ----------------------------------------------------------------------------


@pytest.fixture
def tls_context(pki):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.cert("server"), pki.key("server"))
    ctx.set_alpn_protocols(["h2", "http/1.1"])
    return ctx


def tls_echo_session(peer, ws):
    peer.notes.setdefault("alpn", []).append(ws.sock.selected_alpn_protocol())
    echo_session(peer, ws)


WSS_SCRIPT = """\
    function default()
      local got = {}
      local res = ws.connect(salvo.env.URL, nil, function(socket)
        socket:on("open", function()
          socket:send("over tls")
          socket:send_binary(string.rep("\\1\\2\\3", 100000))
        end)
        socket:on("message", function(m) got[#got + 1] = m end)
        socket:on("binaryMessage", function(m)
          got[#got + 1] = #m
          socket:close()
        end)
      end)
      show("RES", result(res, { got = got }))
    end
    """


def test_wss_verified_with_cacert(run_salvo, script, ws_peer, tls_context, pki):
    """wss:// upgrades over TLS, verified with --cacert; ALPN offers only http/1.1,
    even with --http2."""
    peer = ws_peer(tls_echo_session, tls=tls_context)
    r = run_lua(run_salvo, script, WSS_SCRIPT, "--iterations", 2, "--cacert", pki.cert("ca"),
                "--http2", "-e", f"URL={peer.ws_url('/secure')}")
    assert_ok(r)
    got = logged(r.err, "RES")
    assert len(got) == 2, r.err[-3000:]
    for g in got:
        assert g["status"] == 101 and g["error"] == "", g
        assert g["got"] == ["over tls", 300000], g
    peer.settle(2)
    assert peer.notes["alpn"] == ["http/1.1", "http/1.1"], peer.notes
    assert 0 < metric(r.export, "ws_connecting", "avg") < 5000
    assert metric(r.export, "data_sent", "count") > 600000  # the TLS bytes, upgrade included
    assert metric(r.export, "data_received", "count") > 600000


def test_wss_without_the_ca_fails_and_insecure_skips_verification(run_salvo, script,
                                                                  ws_peer, tls_context):
    peer = ws_peer(tls_echo_session, tls=tls_context)
    url = peer.ws_url("/secure")
    r = run_lua(run_salvo, script, WSS_SCRIPT, "--iterations", 1, "-e", f"URL={url}")
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 0 and res["error_code"] == 1310, res
    assert res["error"] == "x509: unknown authority" and as_list(res["got"]) == [], res
    r = run_lua(run_salvo, script, WSS_SCRIPT, "--iterations", 1, "--insecure",
                "-e", f"URL={url}")
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["status"] == 101 and res["got"] == ["over tls", 300000], res


# ---- messages, timers and handlers -------------------------------------------------------


def test_a_1_mib_message_comes_back_intact(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local parts = {}
          for i = 1, 65536 do parts[i] = string.format("%015d|", i) end
          local text = table.concat(parts)              -- 1 MiB of text
          local bytes = {}
          for i = 0, 255 do bytes[#bytes + 1] = string.char(i) end
          local bin = string.rep(table.concat(bytes), 4096) -- 1 MiB, every byte value
          local same_text, same_bin
          local res = ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:on("open", function()
              socket:send(text)
              socket:send_binary(bin)
            end)
            socket:on("message", function(m) same_text = (m == text) end)
            socket:on("binaryMessage", function(m)
              same_bin = (m == bin)
              socket:close()
            end)
          end)
          show("RES", result(res, { text = same_text, bin = same_bin, len = #text + #bin }))
        end
        """, "--iterations", 2, base=ws_base(demo))
    assert_ok(r)
    got = logged(r.err, "RES")
    assert len(got) == 2, r.err[-3000:]
    for g in got:
        assert g == dict(g, status=101, error="", text=True, bin=True, len=2 * 1048576), g
    assert metric(r.export, "data_sent", "count") > 4 * 1048576
    assert metric(r.export, "data_received", "count") > 4 * 1048576


def test_set_interval_ticks_at_its_cadence_and_timers_take_durations(run_salvo, script,
                                                                     demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local ticks, order = {}, {}
          local started = salvo.now()
          ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:set_interval(function() ticks[#ticks + 1] = salvo.now() - started end, 100)
            socket:setInterval(function() order[#order + 1] = "slow" end, "400ms")
            socket:set_timeout(function() order[#order + 1] = "300ms" end, "300ms")
            socket:setTimeout(function() order[#order + 1] = "150" end, 150)
            socket:set_timeout(function() socket:close() end, "1s")
          end)
          show("RES", { ticks = ticks, order = order })
        end
        """, "--iterations", 1, base=ws_base(demo))
    assert_ok(r)
    res = one(r.err, "RES")
    ticks = res["ticks"]
    assert 7 <= len(ticks) <= 10, ticks
    assert 90 <= ticks[0] < 300, ticks
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert all(50 <= g < 300 for g in gaps), gaps
    assert res["order"] == ["150", "300ms", "slow", "slow"], res


def test_a_bad_timer_duration_is_an_error(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local res = ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:set_timeout(function() end, "soon")
          end)
        end
        """, "--iterations", 1, base=ws_base(demo))
    assert r.code == 0, r.err[-3000:]
    assert metric(r.export, "iteration_errors", "count") == 1
    assert 'expected a duration in milliseconds or such as "1s"' in r.err, r.err[-3000:]


def test_handlers_may_sleep_and_make_requests(run_salvo, script, demo):
    """Handlers run in the VU's coroutine: one that sleeps or makes an HTTP request
    meanwhile gets the messages that arrived in the meantime afterwards, in order."""
    r = run_lua(run_salvo, script, """\
        function default()
          local got, statuses = {}, {}
          local res = ws.connect(B:gsub("^http", "ws") .. "/ws/echo", nil, function(socket)
            socket:on("open", function()
              for i = 1, 5 do socket:send("m" .. i) end
            end)
            socket:on("message", function(m)
              got[#got + 1] = m
              if m == "m1" then
                salvo.sleep(0.3)
              elseif m == "m2" then
                statuses[#statuses + 1] = http.get(B .. "/delay/200").status
              elseif m == "m5" then
                socket:close()
              end
            end)
          end)
          show("RES", result(res, { got = got, statuses = statuses }))
        end
        """, "--iterations", 2, base=demo.url(""))
    assert_ok(r)
    got = logged(r.err, "RES")
    assert len(got) == 2, r.err[-3000:]
    for g in got:
        assert g["status"] == 101 and g["error"] == "", g
        assert g["got"] == ["m1", "m2", "m3", "m4", "m5"], g
        assert g["statuses"] == [200], g
    assert metric(r.export, "http_reqs", "count") == 2
    assert metric(r.export, "ws_session_duration", "min") >= 480


def test_an_error_in_a_handler_fails_the_iteration_and_the_next_one_runs(run_salvo,
                                                                        script, demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local it = salvo.vu.iteration
          local res = ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:on("open", function() socket:send("hi") end)
            socket:on("message", function(m)
              if it == 0 then error("handler broke on " .. m) end
              socket:close()
            end)
          end)
          show("RES", result(res, { it = it }))
        end
        """, "--iterations", 3, "--vus", 1, base=ws_base(demo))
    assert r.code == 0, r.err[-3000:]
    assert metric(r.export, "iteration_errors", "count") == 1
    assert metric(r.export, "iterations", "count") == 3
    assert "handler broke on hi" in r.err, r.err[-3000:]
    got = logged(r.err, "RES")
    assert [g["it"] for g in got] == [1, 2], r.err[-3000:]
    assert all(g["status"] == 101 and g["error"] == "" for g in got), got
    assert metric(r.export, "ws_sessions", "count") == 3


def test_an_error_in_the_setup_function_fails_the_iteration(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local res = ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:no_such_method()
          end)
          show("NEVER", {})
        end
        """, "--iterations", 2, base=ws_base(demo))
    assert r.code == 0, r.err[-3000:]
    assert metric(r.export, "iteration_errors", "count") == 2
    assert "no_such_method" in r.err, r.err[-3000:]
    assert logged(r.err, "NEVER") == []


def test_a_session_without_an_end_is_interrupted_at_the_graceful_stop(run_salvo, script,
                                                                     demo):
    """A session that never closes holds its VU past the test's duration until the
    graceful stop ends it: an interrupted iteration, not a hang or a crash."""
    r = run_lua(run_salvo, script, """\
        options = { scenarios = { forever = { executor = "constant-vus", vus = 2,
                                              duration = "1s", gracefulStop = "1s" } } }
        function default()
          ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:set_interval(function() socket:send("still here") end, 50)
          end)
        end
        """, base=ws_base(demo), timeout=20)
    assert r.code == 0, r.err[-3000:]
    assert r.seconds < 10
    assert metric(r.export, "interrupted_iterations", "count") == 2
    assert metric(r.export, "iteration_errors", "count") == 0
    assert metric(r.export, "ws_msgs_received", "count") > 20
    assert demo.proc.poll() is None


def test_one_session_at_a_time_per_vu(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        function default()
          local inner_ok, inner_err, after
          local res = ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:on("open", function()
              inner_ok, inner_err = pcall(ws.connect, B .. "/ws/echo", nil, function() end)
              after = socket:send("still open")
            end)
            socket:on("message", function(m) socket:close() end)
          end)
          show("RES", result(res, { inner_ok = inner_ok, inner_err = tostring(inner_err),
                                    after = after }))
        end
        """, "--iterations", 1, base=ws_base(demo))
    assert_ok(r)
    res = one(r.err, "RES")
    assert res["inner_ok"] is False, res
    assert "one WebSocket session at a time per VU" in res["inner_err"], res
    assert res["after"] is True and res["status"] == 101 and res["error"] == "", res


# ---- load and metrics --------------------------------------------------------------------


def test_many_concurrent_sessions(run_salvo, script, demo):
    """200 VUs each in an echo session for 3 s, sending 10 messages per session: no
    failure, every message back, the metrics agree."""
    r = run_lua(run_salvo, script, """\
        function default()
          local sent, back = 0, 0
          local res = ws.connect(B .. "/ws/echo", { tags = { load = "yes" } }, function(socket)
            socket:set_interval(function()
              if sent < 10 then
                sent = sent + 1
                socket:send("n" .. sent)
              end
            end, 50)
            socket:on("message", function(m)
              back = back + 1
              if back == 10 then socket:close() end
            end)
            socket:set_timeout(function() socket:close() end, "5s")
          end)
          salvo.check(res, {
            ["upgraded"] = function(r) return r.status == 101 and r.error == "" end,
            ["all back"] = function() return back == 10 and sent == 10 end,
          })
        end
        """, "--vus", 200, "--duration", "3s", base=ws_base(demo), timeout=45)
    assert_ok(r)
    sessions = metric(r.export, "ws_sessions", "count")
    assert sessions >= 200, sessions
    assert_all_checks_passed(r, expected_passes=2 * sessions)
    assert metric(r.export, "ws_msgs_sent", "count") == 10 * sessions
    assert metric(r.export, "ws_msgs_received", "count") == 10 * sessions
    assert trend_count(r.export, "ws_session_duration") == sessions
    assert trend_count(r.export, "ws_connecting") == sessions
    assert demo.proc.poll() is None


def test_sigint_during_sessions_stops_the_run_promptly(salvo, script, demo, tmp_path):
    """SIGINT while 20 VUs on 2 workers sit in endless sessions: exit 105 within a few
    seconds, the sessions counted as interrupted iterations, the target unharmed."""
    path = script(PRELUDE + """\
        function default()
          ws.connect(B .. "/ws/echo", nil, function(socket)
            socket:set_interval(function() socket:send("tick") end, 100)
          end)
        end
        """)
    export = tmp_path / "sigint.json"
    proc = subprocess.Popen([salvo, "run", str(path), "--quiet", "--vus", "20", "--workers", "2",
                             "--duration", "60s", "-e", f"BASE={ws_base(demo)}",
                             "--summary-export", str(export)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert wait_until(lambda: demo.stats() >= 20, timeout=15), "the sessions never opened"
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGINT)
        started = time.monotonic()
        _, err = proc.communicate(timeout=15)
        waited = time.monotonic() - started
    finally:
        stop_process(proc, signal.SIGKILL)
    assert proc.returncode == 105, err[-3000:]
    assert waited < 10
    data = json.loads(export.read_text())
    assert data["salvo"]["interrupted"] is True
    assert metric(data, "interrupted_iterations", "count") == 20
    assert metric(data, "iteration_errors", "count") == 0
    assert metric(data, "ws_msgs_received", "count") > 0
    assert demo.proc.poll() is None


def test_metrics_are_consistent(run_salvo, script, demo):
    """Echo: as many messages received as sent; every ping timed; the session and
    connecting trends have a sample per session; the bytes include the upgrade."""
    r = run_lua(run_salvo, script, """\
        function default()
          local res = ws.connect(B .. "/ws/echo", { tags = { kind = "echo" } }, function(socket)
            socket:on("open", function()
              for i = 1, 3 do socket:send(string.rep("t", 100)) end
              socket:send_binary(string.rep("b", 1000))
              socket:ping()
            end)
            local pings = 1
            socket:on("pong", function()
              if pings < 3 then pings = pings + 1; socket:ping() end
            end)
            socket:set_timeout(function() socket:close() end, 300)
          end)
        end
        """, "--iterations", 4, "--vus", 2, base=ws_base(demo))
    assert_ok(r)
    ex = r.export
    assert metric(ex, "ws_sessions", "count") == 4
    assert metric(ex, "ws_msgs_sent", "count") == 16
    assert metric(ex, "ws_msgs_received", "count") == 16
    assert trend_count(ex, "ws_session_duration") == 4
    assert trend_count(ex, "ws_connecting") == 4
    assert trend_count(ex, "ws_ping") == 12  # each pong sends the next ping, 3 a session
    assert 0 < metric(ex, "ws_ping", "avg") < 100
    assert 0 < metric(ex, "ws_connecting", "avg") < 500
    assert 290 <= metric(ex, "ws_session_duration", "min")
    assert metric(ex, "ws_session_duration", "max") < 2000
    # a session's frames: the client's are masked (4 bytes more a frame) and the
    # binary one has a 2-byte extended length; then the upgrade's request and answer
    frames_sent = 3 * (2 + 4 + 100) + (4 + 4 + 1000) + 3 * (2 + 4) + (2 + 4 + 2)
    frames_received = 3 * (2 + 100) + (4 + 1000) + 3 * 2 + (2 + 2)
    sent, received = metric(ex, "data_sent", "count"), metric(ex, "data_received", "count")
    assert 4 * (frames_sent + 150) < sent < 4 * (frames_sent + 400), sent
    assert 4 * (frames_received + 100) < received < 4 * (frames_received + 250), received
    url = ws_base(demo) + "/ws/echo"
    for name in ("ws_sessions", "ws_msgs_sent", "ws_msgs_received", "ws_ping",
                 "ws_connecting", "ws_session_duration", "data_sent", "data_received"):
        series = totals(ex, name)
        assert len(series) == 1, (name, series)
        tags = series[0][0]
        assert tags.get("kind") == "echo" and tags.get("url") == url, (name, tags)
        assert tags.get("scenario") == "default", (name, tags)
    # sessions are not HTTP requests
    assert metric(ex, "http_reqs", "count") == 0


def test_thresholds_on_ws_metrics_with_tags(run_salvo, script, demo):
    r = run_lua(run_salvo, script, """\
        options = {
          thresholds = {
            ["ws_sessions{room:a}"] = { "count==2" },
            ["ws_msgs_received{room:b}"] = { "count==0" },
            ws_connecting = { "p(95)<1000" },
            ws_session_duration = { "max<5000" },
          },
        }
        function default()
          for _, room in ipairs({ "a", "a" }) do
            ws.connect(B .. "/ws/echo", { tags = { room = room } }, function(socket)
              socket:on("open", function() socket:send("x") end)
              socket:on("message", function() socket:close() end)
            end)
          end
        end
        """, "--iterations", 1, base=ws_base(demo))
    assert_ok(r)
    r2 = run_lua(run_salvo, script, """\
        options = { thresholds = { ["ws_sessions{room:a}"] = { "count==3" } } }
        function default()
          ws.connect(B .. "/ws/echo", { tags = { room = "a" } }, function(socket)
            socket:on("open", function() socket:close() end)
          end)
        end
        """, "--iterations", 1, base=ws_base(demo))
    assert r2.code == 99, r2.err[-3000:]


def test_salvo_now_is_wall_clock_milliseconds(run_salvo, script):
    before = time.time() * 1000
    r = run_lua(run_salvo, script, """\
        function default()
          local a = salvo.now()
          salvo.sleep(0.05)
          local b = salvo.now()
          show("NOW", { a = a, b = b, fraction = a ~= math.floor(a) or b ~= math.floor(b) })
        end
        """, "--iterations", 1)
    after = time.time() * 1000
    assert_ok(r)
    now = one(r.err, "NOW")
    assert before - 5 <= now["a"] <= now["b"] <= after + 5, (before, now, after)
    assert 45 <= now["b"] - now["a"] < 1000, now
    assert now["fraction"] is True, now


@pytest.mark.parametrize("code", [999, 1005, 70000])
def test_close_with_a_code_no_frame_may_carry_raises(run_salvo, script, demo, code):
    path = script(f"""\
        local ws = require("salvo.ws")
        local salvo = require("salvo")
        function default()
          local ok, err
          ws.connect(salvo.env.BASE .. "/ws/echo", nil, function(socket)
            ok, err = pcall(socket.close, socket, {code})
            socket:close()
          end)
          salvo.log("CLOSE " .. tostring(ok) .. " " .. tostring(err))
        end
        """)
    r = run_script(run_salvo, path, "--iterations", 1, base=demo.url("").replace("http", "ws"))
    assert r.code == 0, r.err
    assert f"CLOSE false" in r.err and f"{code} is not a code a close frame may carry" in r.err
