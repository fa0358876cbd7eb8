"""HTTP/1.x details real servers get right or wrong, from hand-written Python servers:
responses salvo must read correctly (no error, no hang) and connections it must or
must not reuse."""
import time

import pytest

from conftest import KeepAliveServer, TcpServer, errors_by_code, metric


class Http10UntilCloseServer(TcpServer):
    """HTTP/1.0, no Content-Length: the body ends when the server closes."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\n" + b"z" * 5000)


class InterimResponseServer(TcpServer):
    """A 100 Continue before the real response, on a kept-alive connection."""

    def handle(self, conn):
        for _ in self.requests_on(conn):
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n"
                         b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class DribbleServer(TcpServer):
    """Sends the response a few bytes at a time: heads and chunk sizes split anywhere."""

    RESPONSE = (b"HTTP/1.1 200 OK\r\nX-Filler: " + b"f" * 300 + b"\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n"
                b"5\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n")

    def handle(self, conn):
        for _ in self.requests_on(conn):
            for i in range(0, len(self.RESPONSE), 7):
                conn.sendall(self.RESPONSE[i:i + 7])
                time.sleep(0.001)


class SilentCloseServer(TcpServer):
    """Answers as if keeping the connection alive, then closes it anyway: the next
    request on it finds a dead connection."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
        time.sleep(0.05)  # let the response be read before the FIN


class HugeHeadServer(TcpServer):
    """A response head larger than any sane limit."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n" + b"X-Big: " + b"b" * 200000 + b"\r\n\r\n")
        except OSError:
            pass
        self.stopping.wait(2)


class ContentLengthAndChunkedServer(TcpServer):
    """Both Content-Length and Transfer-Encoding: chunked (chunked wins, RFC 9112)."""

    def handle(self, conn):
        for _ in self.requests_on(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n"
                         b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")


def test_http10_body_until_close(run_salvo, python_server):
    server = python_server(Http10UntilCloseServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 5, "--vus", 2, "--timeout", "5s")
    assert r.code == 0 and r.export["salvo"]["errors"] == []
    assert metric(r.export, "http_reqs", "count") == 5
    assert metric(r.export, "data_received", "count") >= 5 * 5000
    assert server.accepted == 5  # nothing to reuse: each request on a new connection


def test_interim_100_continue_is_skipped(run_salvo, python_server):
    server = python_server(InterimResponseServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 10, "--http-debug",
                  "--timeout", "5s")
    assert r.code == 0 and r.export["salvo"]["errors"] == []
    assert metric(r.export, "http_reqs", "count") == 10
    assert server.accepted == 1
    assert r.err.count("HTTP/1.1 200 OK") == 10


def test_response_in_tiny_pieces(run_salvo, python_server):
    server = python_server(DribbleServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 4, "--http-debug=full",
                  "--timeout", "10s")
    assert r.code == 0 and r.export["salvo"]["errors"] == []
    assert r.err.count("helloabcdefghijklmnopqrstuvwxyz") == 4
    assert r.err.count("X-Filler: " + "f" * 300) == 4
    assert server.accepted == 1


def test_dead_keep_alive_connection_is_not_an_error(run_salvo, python_server):
    server = python_server(SilentCloseServer)
    r = run_salvo("run", "--url", server.url(), "--rate", "10/s", "--duration", "1s",
                  "--vus", 1, "--max-vus", 1)
    assert r.code == 0, r.err
    assert r.export["salvo"]["errors"] == []
    assert metric(r.export, "http_reqs", "count") == 10
    assert server.requests == 10


def test_back_to_back_on_closing_server(run_salvo, python_server):
    """Same, with no pause: the next request may be written before the FIN arrives."""
    server = python_server(SilentCloseServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 50, "--vus", 2)
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == 50
    assert r.export["salvo"]["errors"] == []


def test_oversized_head_fails_cleanly(run_salvo, python_server):
    server = python_server(HugeHeadServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 2, "--timeout", "5s")
    assert r.code == 0, r.err
    assert errors_by_code(r.export) == {1703: 2}


def test_conflicting_framing_is_read_as_chunked(run_salvo, python_server):
    server = python_server(ContentLengthAndChunkedServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 5, "--timeout", "5s",
                  "--http-debug=full")
    assert r.code == 0 and r.export["salvo"]["errors"] == []
    assert metric(r.export, "http_reqs", "count") == 5
    # ambiguous framing: the connection is not trusted for another request
    assert server.accepted == 5


@pytest.mark.parametrize("url_path, target", [
    ("", "/"),
    ("?a=1&b=2", "/?a=1&b=2"),
    ("/p/a/t/h?x=%20y", "/p/a/t/h?x=%20y"),
    ("/frag#section", "/frag"),
])
def test_request_target(run_salvo, python_server, url_path, target):
    server = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", f"http://127.0.0.1:{server.port}{url_path}")
    assert r.code == 0 and r.export["salvo"]["errors"] == []
    assert server.heads[0].split("\r\n")[0] == f"GET {target} HTTP/1.1"


def test_get_with_body_sends_content_length(run_salvo, python_server):
    server = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", server.url(), "-X", "GET", "--body", "abc")
    assert r.code == 0 and r.export["salvo"]["errors"] == []
    assert server.heads[0].startswith("GET / HTTP/1.1\r\n")
    assert "Content-Length: 3" in server.heads[0]
    assert server.bodies == [b"abc"]
