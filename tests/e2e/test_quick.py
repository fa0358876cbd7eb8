"""Quick (one-URL) load tests against real servers: what salvo counts is what the
server saw, requests carry what the command line asked for, and connections are
kept alive."""
import socket

import pytest

from conftest import (BIG_SIZE, NGINX_HELLO, KeepAliveServer, errors_by_code, has_ipv6_loopback,
                      metric)


def assert_clean(r, n=None):
    """Exit 0, no failed request, and (if given) exactly n requests."""
    assert r.code == 0, r.err
    assert r.export["salvo"]["errors"] == [], r.export["salvo"]["errors"]
    assert metric(r.export, "http_req_failed", "passes") == 0
    if n is not None:
        assert metric(r.export, "http_reqs", "count") == n
        assert metric(r.export, "iterations", "count") == n


def test_one_request_without_duration_or_iterations(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url())
    assert_clean(r, 1)
    assert demo.stats() == 1


def test_url_as_positional_argument(run_salvo, demo):
    r = run_salvo("run", demo.url(), "--iterations", 3)
    assert_clean(r, 3)
    assert demo.stats() == 3


@pytest.mark.parametrize("workers, vus, iterations", [
    (1, 1, 10),
    (2, 3, 100),
    (2, 10, 7),  # more VUs than iterations
    (3, 4, 1001),
])
def test_iterations_are_exact(run_salvo, demo, workers, vus, iterations):
    r = run_salvo("run", "--url", demo.url(), "--workers", workers, "--vus", vus,
                  "--iterations", iterations)
    assert_clean(r, iterations)
    assert demo.stats() == iterations
    scenario = r.export["salvo"]["config"]["scenarios"]["default"]
    assert scenario["iterations"] == iterations
    assert r.export["metrics"]["vus_max"]["max"] <= vus


@pytest.mark.parametrize("workers", [1, 2])
def test_shared_iterations_keep_every_vu_busy(run_salvo, demo, workers):
    """3 VUs share 60 iterations of 100 ms: about 20 rounds, 2 s, whatever the workers."""
    r = run_salvo("run", "--url", demo.url("/delay/100"), "--vus", 3, "--iterations", 60,
                  "--workers", workers)
    assert_clean(r, 60)
    assert r.export["salvo"]["config"]["workers"] == workers
    assert r.export["salvo"]["duration_ms"] < 2600  # 20 rounds and change; 30 is 3000


def test_iterations_counted_by_nginx(run_salvo, start_nginx):
    nginx = start_nginx(access_log=True)
    r = run_salvo("run", "--url", nginx.url(), "--workers", 2, "--vus", 4, "--iterations", 250)
    assert_clean(r, 250)
    nginx.stop()  # flushes and closes the log
    log = nginx.log_lines()
    assert len(log) == 250
    assert {(method, uri, status) for _, method, uri, status in log} == {("GET", "/hello", "200")}


def test_duration_runs_about_that_long(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--vus", 4, "--duration", "1500ms")
    assert_clean(r)
    assert 1.4 <= r.seconds < 10
    assert 1400 <= r.export["salvo"]["duration_ms"] < 5000
    n = metric(r.export, "http_reqs", "count")
    assert n > 4
    assert demo.stats() == n
    assert metric(r.export, "iterations", "count") == n
    vus = r.export["metrics"]["vus"]
    assert vus["max"] == 4


def test_post_body_round_trips_through_echo(run_salvo, demo):
    """data_sent and data_received grow byte for byte with the body."""
    runs = {}
    for size in (100, 900):
        body = "x" * size
        r = run_salvo("run", "--url", demo.url("/echo"), "-X", "POST", "--body", body,
                      "--iterations", 10, "--vus", 2)
        assert_clean(r, 10)
        sent = metric(r.export, "data_sent", "count")
        received = metric(r.export, "data_received", "count")
        assert sent > 10 * size and received > 10 * size
        runs[size] = (sent, received)
    # same head lengths (3-digit Content-Length both times): the difference is the body
    assert runs[900][0] - runs[100][0] == 10 * 800
    assert runs[900][1] - runs[100][1] == 10 * 800
    assert demo.stats() == 20


def test_body_is_sent_verbatim(run_salvo, python_server, tmp_path):
    server = python_server(KeepAliveServer)
    payload = bytes(range(256)) * 4 + b"\r\n\r\nGET / HTTP/1.1\r\n\r\n"
    body_file = tmp_path / "body.bin"
    body_file.write_bytes(payload)
    r = run_salvo("run", "--url", server.url("/upload"), "--body-file", body_file,
                  "--iterations", 3)
    assert_clean(r, 3)
    assert server.bodies == [payload] * 3
    # a body without -X means POST
    assert all(h.startswith("POST /upload HTTP/1.1\r\n") for h in server.heads)
    assert server.requests == 3


def test_method_and_headers_reach_the_server(run_salvo, python_server):
    server = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", server.url("/path?q=1"), "-X", "PUT",
                  "-H", "X-Salvo-Test: forty two", "-H", "Authorization: Bearer abc",
                  "--header", "User-Agent: custom-agent/1", "--iterations", 2)
    assert_clean(r, 2)
    assert len(server.heads) == 2
    for head in server.heads:
        lines = head.split("\r\n")
        assert lines[0] == "PUT /path?q=1 HTTP/1.1"
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            headers.setdefault(name.lower(), []).append(value.strip())
        assert headers["x-salvo-test"] == ["forty two"]
        assert headers["authorization"] == ["Bearer abc"]
        assert headers["user-agent"] == ["custom-agent/1"]  # replaces the default, not added
        assert headers["host"] == [f"127.0.0.1:{server.port}"]


def test_http_debug_prints_request_and_response(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--http-debug", "--iterations", 2)
    assert_clean(r, 2)
    assert r.err.count("GET /hello HTTP/1.1") == 2
    assert r.err.count("HTTP/1.1 200 OK") == 2
    assert "Hello, salvo!" not in r.err  # heads only
    full = run_salvo("run", "--url", demo.url("/gzip/200"), "--http-debug=full")
    assert_clean(full, 1)
    assert "Content-Encoding: gzip" in full.err
    assert "abcdefghijklmnopqrstuvwxyz" * 7 in full.err  # the decoded body


def test_tags_appear_in_the_export(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--tag", "env=staging", "--tag", "team=perf",
                  "--tag", "empty=")
    assert_clean(r, 1)
    assert r.export["salvo"]["config"]["tags"] == {"env": "staging", "team": "perf", "empty": ""}


def test_keep_alive_one_connection_per_vu(run_salvo, python_server):
    server = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", server.url(), "--vus", 5, "--iterations", 500, "--workers", 2)
    assert_clean(r, 500)
    assert server.requests == 500
    assert server.accepted <= 5
    # connections are opened once: later requests are not blocked on a connect
    assert r.export["metrics"]["http_req_connecting"]["med"] == 0


def test_keep_alive_with_nginx(run_salvo, start_nginx):
    nginx = start_nginx(access_log=True)
    r = run_salvo("run", "--url", nginx.url(), "--vus", 5, "--iterations", 1000)
    assert_clean(r, 1000)
    nginx.stop()
    log = nginx.log_lines()
    assert len(log) == 1000
    assert len({conn for conn, *_ in log}) <= 5


def test_new_connection_after_server_closes_idle_one(run_salvo, start_nginx):
    """nginx closes idle keep-alive connections after 100ms; paced requests that come
    later must open a new connection, not fail on the dead one."""
    nginx = start_nginx(access_log=True, keepalive_timeout="100ms")
    r = run_salvo("run", "--url", nginx.url(), "--rate", "5/s", "--duration", "2s",
                  "--vus", 1, "--max-vus", 1)
    assert_clean(r, 10)
    nginx.stop()
    log = nginx.log_lines()
    assert len(log) == 10
    assert len({conn for conn, *_ in log}) > 1  # the server did close connections


def test_connection_close_responses(run_salvo, demo, start_nginx):
    r = run_salvo("run", "--url", demo.url("/close"), "--vus", 2, "--iterations", 20)
    assert_clean(r, 20)
    assert demo.stats() == 20
    nginx = start_nginx(access_log=True)
    r = run_salvo("run", "--url", nginx.url("/close"), "--vus", 2, "--iterations", 20)
    assert_clean(r, 20)
    nginx.stop()
    log = nginx.log_lines()
    assert len(log) == 20
    assert len({conn for conn, *_ in log}) == 20  # each request on a new connection


@pytest.mark.parametrize("method", ["GET", "HEAD"])
@pytest.mark.parametrize("path", ["/bytes/0", "/bytes/100000", "/chunked/0", "/chunked/100000",
                                  "/gzip/100000", "/status/204", "/status/304", "/delay/10"])
def test_bodies_end_where_framing_says(run_salvo, demo, method, path):
    """Every framing completes (no hang until the timeout) and keeps the connection."""
    r = run_salvo("run", "--url", demo.url(path), "-X", method, "--vus", 2, "--iterations", 20,
                  "--timeout", "5s")
    assert_clean(r, 20)
    assert demo.stats() == 20
    assert r.export["metrics"]["http_req_duration"]["max"] < 4000
    received = metric(r.export, "data_received", "count")
    size = int(path.rsplit("/", 1)[1]) if path.startswith(("/bytes", "/chunked")) else 0
    if method == "GET":
        assert received >= 20 * size
    else:
        assert received < 20 * 1000  # heads only


def test_large_file_from_nginx(run_salvo, nginx):
    r = run_salvo("run", "--url", nginx.url("/big"), "--vus", 2, "--iterations", 10)
    assert_clean(r, 10)
    received = metric(r.export, "data_received", "count")
    assert 10 * BIG_SIZE <= received < 10 * (BIG_SIZE + 1000)
    capped = run_salvo("run", "--url", nginx.url("/big"), "--iterations", 2,
                       "--max-response-size", "512KB")
    assert errors_by_code(capped.export) == {1703: 2}


def test_nginx_hello(run_salvo, nginx):
    r = run_salvo("run", "--url", nginx.url(), "--vus", 3, "--duration", "1s", "--http-debug=full",
                  "--no-summary")
    assert_clean(r)
    assert NGINX_HELLO in r.err
    miss = run_salvo("run", "--url", nginx.url("/missing"), "--iterations", 3)
    assert errors_by_code(miss.export) == {1404: 3}


def test_many_vus(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--vus", 300, "--iterations", 3000, "--workers", 2)
    assert_clean(r, 3000)
    assert demo.stats() == 3000
    assert r.export["metrics"]["vus_max"]["max"] == 300


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback (::1) on this machine")
def test_ipv6_loopback(run_salvo, start_demo):
    target = start_demo(listen="[::1]:0")
    assert target.host == "[::1]"
    r = run_salvo("run", "--url", f"http://[::1]:{target.port}/hello", "--vus", 2,
                  "--iterations", 10)
    assert_clean(r, 10)
    assert target.stats() == 10


def localhost_resolves():
    try:
        return bool(socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM))
    except OSError:
        return False


@pytest.mark.skipif(not localhost_resolves(), reason="this machine cannot resolve localhost "
                    "(no /etc/hosts entry), so there is nothing to fall back between")
def test_localhost_reaches_an_ipv4_only_server(run_salvo, demo):
    """`localhost` may resolve to ::1 first; with the server on 127.0.0.1 only, salvo
    must fall back to the next address rather than fail."""
    r = run_salvo("run", "--url", f"http://localhost:{demo.port}/hello", "--vus", 2,
                  "--iterations", 10)
    assert_clean(r, 10)
    assert demo.stats() == 10
