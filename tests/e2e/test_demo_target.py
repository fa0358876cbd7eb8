"""The demo target (`salvo serve`): its routes answer as documented, it stays on
127.0.0.1, and it reports a port it cannot have in one line."""
import gzip
import http.client
import json
import re
import signal
import socket
import subprocess
import time
import types

import pytest

from conftest import DemoTarget, LineReader, STOPPED_LINE, stop_process


def request(target, method, path, body=None, headers=None, **kw):
    conn = http.client.HTTPConnection("127.0.0.1", target.port, timeout=10)
    try:
        conn.request(method, path, body=body, headers=headers or {}, **kw)
        res = conn.getresponse()
        return res.status, {k.lower(): v for k, v in res.getheaders()}, res.read()
    finally:
        conn.close()


def get(target, path):
    return request(target, "GET", path)


def test_hello(demo):
    for path in ("/", "/hello", "/hello?x=1"):
        status, headers, body = get(demo, path)
        assert (status, body) == (200, b"Hello, salvo!")
        assert headers["content-length"] == "13"


@pytest.mark.parametrize("n", [0, 1, 4096, 100000])
def test_bytes_and_chunked(demo, n):
    status, headers, body = get(demo, f"/bytes/{n}")
    assert status == 200 and len(body) == n and headers["content-length"] == str(n)
    status, headers, chunked = get(demo, f"/chunked/{n}")
    assert status == 200 and headers.get("transfer-encoding") == "chunked"
    assert "content-length" not in headers
    assert chunked == body


def test_gzip(demo):
    status, headers, body = get(demo, "/gzip/50000")
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert len(body) < 50000
    plain = gzip.decompress(body)
    assert len(plain) == 50000
    assert plain == get(demo, "/bytes/50000")[2]


def test_delay(demo):
    started = time.monotonic()
    status, _, _ = get(demo, "/delay/300")
    elapsed = time.monotonic() - started
    assert status == 200
    assert 0.29 <= elapsed < 5


@pytest.mark.parametrize("code", [200, 201, 204, 302, 404, 418, 500, 503, 599])
def test_status(demo, code):
    status, _, body = get(demo, f"/status/{code}")
    assert status == code
    if code in (204, 304):
        assert body == b""


def test_echo(demo):
    payload = bytes(range(256)) * 100
    status, _, body = request(demo, "POST", "/echo", body=payload)
    assert status == 200 and body == payload
    status, _, body = request(demo, "PUT", "/echo", body=b"")
    assert status == 200 and body == b""


def exchange(port, *parts, pause=0.2):
    """Sends parts with pauses between them (so the server reads them one by one) and
    returns the response: complete, or what arrived before the connection went quiet."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        for i, part in enumerate(parts):
            if i:
                time.sleep(pause)
            s.sendall(part)
        s.settimeout(3)
        data = b""
        while True:
            head, sep, body = data.partition(b"\r\n\r\n")
            length = re.search(rb"(?im)^content-length:\s*(\d+)", head)
            if sep and length and len(body) >= int(length.group(1)):
                return data
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                return data
            if not chunk:
                return data
            data += chunk


CHUNKED_ECHO = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"


def test_echo_chunked_request_body(demo):
    data = exchange(demo.port, CHUNKED_ECHO + b"3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nabcdefg"), data


def test_echo_content_length_body_in_pieces(demo):
    head = b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 7\r\n\r\n"
    data = exchange(demo.port, head + b"abc", b"defg")
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nabcdefg"), data


def test_echo_chunked_request_body_in_pieces(demo):
    data = exchange(demo.port, CHUNKED_ECHO + b"3\r\nabc\r\n", b"4\r\ndefg\r\n0\r\n\r\n")
    assert data.startswith(b"HTTP/1.1 200") and data.endswith(b"\r\n\r\nabcdefg"), data


def test_close(demo):
    with socket.create_connection(("127.0.0.1", demo.port), timeout=10) as s:
        s.sendall(b"GET /close HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break  # the server closed the connection
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert re.search(rb"(?im)^connection:\s*close", head)
    assert body == b"closing\n"


def test_keep_alive_and_pipelining(demo):
    with socket.create_connection(("127.0.0.1", demo.port), timeout=10) as s:
        s.sendall(b"GET /bytes/3 HTTP/1.1\r\nHost: x\r\n\r\n"
                  b"GET /hello HTTP/1.1\r\nHost: x\r\n\r\n")
        data = b""
        deadline = time.monotonic() + 10
        while data.count(b"HTTP/1.1 200") < 2 or not data.endswith(b"Hello, salvo!"):
            assert time.monotonic() < deadline, data
            chunk = s.recv(65536)
            assert chunk, f"connection closed early: {data!r}"
            data += chunk
    first = data.index(b"abc")
    assert first < data.index(b"Hello, salvo!")


def test_head(demo):
    status, headers, body = request(demo, "HEAD", "/bytes/100")
    assert status == 200 and headers["content-length"] == "100" and body == b""


def test_unknown_path(demo):
    status, _, body = get(demo, "/no/such/route")
    assert status == 404
    assert b"/hello" in body  # says what exists


def test_health_and_stats(demo):
    status, _, body = get(demo, "/health")
    assert status == 200
    assert demo.stats() == 0
    for path in ("/hello", "/bytes/10", "/status/500", "/nope"):
        get(demo, path)
    get(demo, "/health")
    get(demo, "/stats")
    status, headers, body = get(demo, "/stats")
    assert status == 200 and headers["content-type"].startswith("application/json")
    assert json.loads(body) == {"requests": 4}  # /stats and /health are not counted


def test_stats_across_workers(salvo, start_demo, run_salvo):
    target = start_demo(workers=3)
    r = run_salvo("run", "--url", target.url(), "--vus", 6, "--iterations", 300)
    assert r.code == 0
    assert target.stats() == 300


def test_banner_and_stop_line(salvo, start_demo):
    target = start_demo(workers=2)
    assert target.host == "127.0.0.1"
    assert "(2 workers)" in target.stderr.text(timeout=0)
    for _ in range(7):
        get(target, "/hello")
    code, text = target.stop(signal.SIGTERM)
    assert code == 0
    m = STOPPED_LINE.search(text)
    assert m and int(m.group(1)) == 7


def test_sigint_stops_it(salvo):
    target = DemoTarget(salvo)
    get(target, "/hello")
    code, text = target.stop(signal.SIGINT)
    assert code == 0
    assert "stopped after 1 requests" in text


def listening_sockets(port):
    """Local addresses listening on `port` (hex, as /proc/net/tcp* writes them)."""
    found = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            addr, _, p = local.partition(":")
            if state == "0A" and int(p, 16) == port:  # 0A: LISTEN
                found.append(addr)
    return found


def test_binds_loopback_by_default(salvo):
    try:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 8080))
    except OSError:
        pytest.skip("port 8080 (the default) is taken on this machine")
    proc = subprocess.Popen([salvo, "serve", "--workers", "1"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    reader = LineReader(proc.stderr)
    try:
        m = reader.wait_for(re.compile(r"listening on (http://\S+) "), timeout=15)
        if m is None and "already in use" in reader.text(timeout=2):
            pytest.skip("port 8080 was taken meanwhile")
        assert m, reader.text()
        assert m.group(1) == "http://127.0.0.1:8080"
        sockets = listening_sockets(8080)
        if sockets:  # Linux: the socket is bound to 127.0.0.1 only, not 0.0.0.0
            assert sockets == ["0100007F"] * len(sockets), sockets
        status, _, _ = get(types.SimpleNamespace(port=8080), "/health")
        assert status == 200
    finally:
        stop_process(proc, signal.SIGINT)


def assert_listen_fails(salvo, port):
    r = subprocess.run([salvo, "serve", "--listen", f"127.0.0.1:{port}", "--workers", "1"],
                       stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=5)
    assert r.returncode == 2, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("salvo: "), r.stderr
    assert str(port) in lines[0] and "in use" in lines[0]


def test_port_in_use_by_another_program(salvo):
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        assert_listen_fails(salvo, other.getsockname()[1])


def test_port_in_use_by_another_demo_target(salvo, demo):
    try:
        assert_listen_fails(salvo, demo.port)
    except subprocess.TimeoutExpired:  # it started serving instead (killed by run())
        pytest.fail(f"a second `salvo serve --listen 127.0.0.1:{demo.port}` kept running")
