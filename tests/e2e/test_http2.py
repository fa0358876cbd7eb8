"""HTTP/2 end to end: salvo against nginx speaking h2 over TLS (ALPN) and h2c (prior
knowledge, --http2), and against a small HTTP/2 server of our own (the h2 library)
that resets streams and sends GOAWAY on purpose.

What the wire carried is read from nginx's access log: $server_protocol says which
protocol a request came over, $connection which TCP connection carried it (nginx's
serial number), so streams multiplexed on one connection share it."""
import hashlib
import itertools
import json
import signal
import socket
import struct
import time
from pathlib import Path
from typing import NamedTuple

import pytest

from conftest import (SilentServer, TcpServer, errors_by_code, free_port, launch_nginx, metric,
                      nginx_starter, nginx_temp_paths, stop_process, wait_until)
from test_faults import error_lines
from test_scripts import one_line, run_script
from test_tls import logged, lua, points

try:
    import h2.config
    import h2.connection
    import h2.errors
    import h2.events
    import h2.exceptions
except ImportError:  # Debian: python3-h2
    h2 = None

needs_h2 = pytest.mark.skipif(h2 is None, reason="the h2 library is not installed "
                                                  "(Debian: python3-h2)")

# Large enough that the response needs WINDOW_UPDATEs past salvo's 16 MiB stream window;
# four at once go past its 64 MiB connection window.
HUGE_SIZE = 20 * 1024 * 1024 + 12345
TEXT = "HTTP/2 compresses headers, not bodies. " * 20000


# ---- nginx speaking HTTP/2 ---------------------------------------------------------------


class LogLine(NamedTuple):
    connection: str  # nginx's serial number of the TCP connection
    protocol: str    # $server_protocol: HTTP/2.0, HTTP/1.1
    method: str
    uri: str         # $request_uri: with the query
    status: str


class H2Nginx:
    """nginx on a free 127.0.0.1 port, one process (as conftest's Nginx): over TLS with
    the PKI's server certificate when pki is given, else plain; `http2` adds the
    parameter to `listen` (h2 by ALPN over TLS, h2c with prior knowledge without).

    /hello answers "hello"; /redirect redirects there; /text.txt is TEXT, gzipped when
    asked; PUT /up/NAME stores a body that GET reads back; with huge=True, /huge is
    HUGE_SIZE random bytes (their SHA-256 in self.huge_sha256)."""

    def __init__(self, root: Path, pki=None, http2=True, keepalive_requests=100000,
                 max_streams=128, huge=False):
        self.root = root
        self.port = free_port()
        self.tls = pki is not None
        self.log = root / "access.log"
        (root / "www" / "up").mkdir(parents=True)
        (root / "www" / "text.txt").write_text(TEXT)
        huge_path = root / "huge.bin"
        if huge:
            data = hashlib.shake_256(b"salvo h2").digest(HUGE_SIZE)
            huge_path.write_bytes(data)
            self.huge_sha256 = hashlib.sha256(data).hexdigest()
        listen = f"listen 127.0.0.1:{self.port}" + (" ssl" if self.tls else "") + \
            (" http2" if http2 else "") + ";"
        tls = (f"ssl_certificate {pki.cert('server')};\n"
               f"        ssl_certificate_key {pki.key('server')};\n"
               f"        ssl_protocols TLSv1.2 TLSv1.3;" if self.tls else "")
        self.conf = root / "nginx.conf"
        self.conf.write_text(f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format h2 '$connection $server_protocol $request_method $request_uri $status';
    access_log {self.log} h2;
    {' '.join(nginx_temp_paths(root))}
    default_type text/plain;
    keepalive_timeout 75s;
    keepalive_requests {keepalive_requests};
    http2_max_concurrent_streams {max_streams};
    gzip on;
    gzip_types text/plain;
    server {{
        {listen}
        {tls}
        root {root}/www;
        location = /hello {{ return 200 "hello"; }}
        location = /redirect {{ return 302 /hello; }}
        location = /text.txt {{ }}
        location /up/ {{ dav_methods PUT; client_max_body_size 64m; }}
        location = /huge {{ alias {huge_path}; }}
        location / {{ return 404; }}
    }}
}}
""")
        self.proc = launch_nginx(root, self.conf, self.port)

    def url(self, path="/hello", host="127.0.0.1"):
        return f"{'https' if self.tls else 'http'}://{host}:{self.port}{path}"

    def log_lines(self, at_least=0):
        """The access log, once it has at_least lines or after 10 s (nginx writes a
        request's line just after its response, so a run can end a moment before)."""

        def read():
            if not self.log.exists():
                return []
            return [LogLine(*line.split()) for line in self.log.read_text().splitlines()
                    if line]

        wait_until(lambda: len(read()) >= at_least, timeout=10)
        return read()

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)
        self.proc.stderr.close()


@pytest.fixture
def start_h2_nginx(tmp_path, pki):
    """start_h2_nginx(tls=True, http2=True, keepalive_requests=100000, max_streams=128,
    huge=False): see H2Nginx; all are stopped afterwards."""
    def make(root, tls=True, **kw):
        return H2Nginx(root, pki if tls else None, **kw)

    yield from nginx_starter(tmp_path, "h2-nginx", make)


@pytest.fixture
def h2_nginx(start_h2_nginx):
    """nginx with `listen … ssl http2;`: h2 by ALPN."""
    return start_h2_nginx()


@pytest.fixture
def h2c_nginx(start_h2_nginx):
    """nginx with `listen … http2;` without TLS: h2c with prior knowledge only."""
    return start_h2_nginx(tls=False)


def assert_passed(r, n):
    """n requests, none failed, and the run went fine."""
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == n, r.out
    assert r.export["salvo"]["errors"] == [], r.out
    assert metric(r.export, "http_req_failed", "passes") == 0, r.out


def connections(log):
    return {line.connection for line in log}


# ---- which version a request speaks -----------------------------------------------------


SAMPLES = itertools.count()

# Three GETs, their fields logged (on one worker, so lines never mix).
PROBE = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 1, tlsCACert = {ca} }}
    function default()
      for i = 1, 3 do
        local r = http.get(salvo.env.BASE .. "/hello", {{ {params} }})
        salvo.log("probe" .. i .. " status=" .. r.status .. " proto=" .. r.proto ..
                  " version=[" .. r.tls_version .. "] body=" .. r.body ..
                  " code=" .. r.error_code)
      end
    end
    """


def probe(run_salvo, script, tmp_path, pki, server, params="", *args):
    """Runs PROBE against server: (the three logged lines, http_reqs samples' tags)."""
    samples = tmp_path / f"samples-{next(SAMPLES)}.json"
    path = script(PROBE.format(ca=lua(pki.cert("ca")), params=params))
    r = run_script(run_salvo, path, "--workers", 1, "--out", f"json={samples}", *args,
                   base=server.url("", host="localhost"))
    assert_passed(r, 3)
    got = [logged(r.err, f"probe{i} ") for i in (1, 2, 3)]
    assert {g["status"] for g in got} == {"200"}, got
    assert {g["body"] for g in got} == {"hello"}, got
    return got, [tags for _, tags in points(samples, "http_reqs")]


def test_alpn_picks_h2_over_tls(run_salvo, script, tmp_path, pki, h2_nginx):
    got, tags = probe(run_salvo, script, tmp_path, pki, h2_nginx)
    assert [g["proto"] for g in got] == ["HTTP/2.0"] * 3
    # every stream knows its connection's TLS version, the first and the reused ones
    assert [g["version"] for g in got] == ["[tls1.3]"] * 3
    assert [t.get("proto") for t in tags] == ["HTTP/2.0"] * 3
    assert [t.get("tls_version") for t in tags] == ["tls1.3"] * 3
    log = h2_nginx.log_lines(3)
    assert [(line.protocol, line.status) for line in log] == [("HTTP/2.0", "200")] * 3
    assert len(connections(log)) == 1  # a VU's requests to a host: streams of one connection


@pytest.mark.parametrize("how", ["flag", "params"])
def test_http1_1_is_spoken_when_asked_over_tls(run_salvo, script, tmp_path, pki, h2_nginx,
                                               how):
    if how == "flag":
        got, tags = probe(run_salvo, script, tmp_path, pki, h2_nginx, "", "--http1.1")
    else:
        got, tags = probe(run_salvo, script, tmp_path, pki, h2_nginx,
                          'http_version = "HTTP/1.1"')
    assert [g["proto"] for g in got] == ["HTTP/1.1"] * 3
    assert [t.get("proto") for t in tags] == ["HTTP/1.1"] * 3
    log = h2_nginx.log_lines(3)
    assert [line.protocol for line in log] == ["HTTP/1.1"] * 3
    assert len(connections(log)) == 1  # keep-alive


@pytest.mark.parametrize("args", [(), ("--http2",)], ids=["default", "http2-flag"])
def test_tls_server_without_h2_gets_http1_1_by_alpn(run_salvo, script, tmp_path, pki,
                                                     start_h2_nginx, args):
    server = start_h2_nginx(http2=False)
    got, tags = probe(run_salvo, script, tmp_path, pki, server, "", *args)
    assert [g["proto"] for g in got] == ["HTTP/1.1"] * 3
    assert [g["version"] for g in got] == ["[tls1.3]"] * 3
    assert [t.get("proto") for t in tags] == ["HTTP/1.1"] * 3
    assert [line.protocol for line in server.log_lines(3)] == ["HTTP/1.1"] * 3


def test_url_test_over_tls_speaks_h2(run_salvo, pki, h2_nginx, tmp_path):
    samples = tmp_path / "samples.json"
    r = run_salvo("run", "--url", h2_nginx.url(host="localhost"), "--vus", 3,
                  "--duration", "500ms", "--cacert", pki.cert("ca"), "--out", f"json={samples}")
    n = metric(r.export, "http_reqs", "count")
    assert n > 3
    assert_passed(r, n)
    log = h2_nginx.log_lines(n)
    assert {line.protocol for line in log} == {"HTTP/2.0"} and len(log) == n
    assert len(connections(log)) == 3  # one per VU
    assert {tags.get("proto") for _, tags in points(samples, "http_reqs")} == {"HTTP/2.0"}


# ---- h2c: prior knowledge -----------------------------------------------------------------


def test_h2c_with_prior_knowledge(run_salvo, h2c_nginx, tmp_path):
    samples = tmp_path / "samples.json"
    r = run_salvo("run", "--url", h2c_nginx.url(), "--http2", "--vus", 4,
                  "--duration", "500ms", "--out", f"json={samples}")
    n = metric(r.export, "http_reqs", "count")
    assert n > 4
    assert_passed(r, n)
    log = h2c_nginx.log_lines(n)
    assert len(log) == n
    assert {(line.protocol, line.status) for line in log} == {("HTTP/2.0", "200")}
    assert len(connections(log)) == 4
    reqs = points(samples, "http_reqs")
    assert {tags.get("proto") for _, tags in reqs} == {"HTTP/2.0"}
    assert all("tls_version" not in tags for _, tags in reqs)  # no TLS on h2c


def test_h2c_by_request_params_in_a_script(run_salvo, script, h2c_nginx):
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 1 }
        function default()
          local r = http.get(salvo.env.BASE .. "/hello", { http_version = "HTTP/2" })
          local s = http.get(salvo.env.BASE .. "/hello", { http_version = "HTTP/2.0" })
          salvo.log("h2c status=" .. r.status .. " proto=" .. r.proto .. " body=" .. r.body ..
                    " version=[" .. r.tls_version .. "] again=" .. s.proto ..
                    " again_status=" .. s.status)
          local ok, err = pcall(http.get, salvo.env.BASE .. "/hello",
                                { http_version = "HTTP/3" })
          salvo.log("bad ok=" .. tostring(ok) .. " err=" .. tostring(err):gsub(" ", "_"))
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=h2c_nginx.url(""))
    assert r.code == 0, r.err
    got = logged(r.err, "h2c status=")
    assert (got["status"], got["proto"], got["body"], got["version"]) == \
        ("200", "HTTP/2.0", "hello", "[]")
    assert (got["again"], got["again_status"]) == ("HTTP/2.0", "200")
    bad = logged(r.err, "bad ok=")
    assert bad["ok"] == "false"
    assert 'http_version:_expected_"HTTP/1.1"_or_"HTTP/2",_got_"HTTP/3"' in bad["err"], bad
    log = h2c_nginx.log_lines(2)
    assert [line.protocol for line in log] == ["HTTP/2.0"] * 2
    assert len(connections(log)) == 1


@pytest.mark.parametrize("order,message", [
    (("--http1.1", "--http2"), "--http2 conflicts with --http1.1; pick one"),
    (("--http2", "--http1.1"), "--http1.1 conflicts with --http2; pick one"),
])
def test_http1_1_and_http2_together_is_an_error(run_salvo, h2c_nginx, order, message):
    r = run_salvo("run", "--url", h2c_nginx.url(), "--iterations", 1, *order)
    assert r.code == 2, r.err
    assert message in one_line(r.err)
    assert r.export is None
    assert h2c_nginx.log_lines() == []


def test_http2_against_an_http1_1_only_server_fails_cleanly(run_salvo, demo, start_h2_nginx):
    plain = start_h2_nginx(tls=False, http2=False)
    for url in (demo.url(), plain.url()):
        r = run_salvo("run", "--url", url, "--http2", "--vus", 2, "--iterations", 6)
        assert r.code == 0, r.err
        assert metric(r.export, "http_reqs", "count") == 6, r.out
        failed = r.export["metrics"]["http_req_failed"]
        assert (failed["passes"], failed["fails"]) == (6, 0)
        codes = errors_by_code(r.export)
        assert sum(codes.values()) == 6, codes
        assert all(1600 <= code < 1700 or code == 1000 for code in codes), codes
        assert set(error_lines(r.out)) == set(codes)  # the summary says why
        assert "http_reqs" in r.out and "generator:" in r.out
    # nginx saw the preface as a bad HTTP/1.1 request, not as a request for /hello
    assert {line.status for line in plain.log_lines()} <= {"400"}


# ---- multiplexing: http.batch ------------------------------------------------------------


BATCH = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 1, tlsCACert = {ca} }}
    function default()
      local reqs = {{}}
      for i = 1, 10 do
        reqs[i] = {{ "GET", salvo.env.BASE .. "/hello?i=" .. i, nil, {{ {params} }} }}
      end
      local rs = http.batch(reqs)
      for i, r in ipairs(rs) do
        salvo.log("item" .. i .. " status=" .. r.status .. " proto=" .. r.proto ..
                  " connecting=" .. r.timings.connecting ..
                  " tls=" .. r.timings.tls_handshaking ..
                  " version=[" .. r.tls_version .. "] body=" .. r.body)
      end
    end
    """


def run_batch(run_salvo, script, pki, server, params="", *args):
    path = script(BATCH.format(ca=lua(pki.cert("ca")), params=params))
    r = run_script(run_salvo, path, "--workers", 1, *args,
                   base=server.url("", host="localhost"))
    assert_passed(r, 10)
    items = [logged(r.err, f"item{i} ") for i in range(1, 11)]
    assert {(g["status"], g["body"]) for g in items} == {("200", "hello")}, items
    log = server.log_lines(10)
    assert sorted(line.uri for line in log) == sorted(f"/hello?i={i}" for i in range(1, 11))
    return items, log


def test_batch_over_h2_is_multiplexed_on_one_connection(run_salvo, script, pki, h2_nginx):
    items, log = run_batch(run_salvo, script, pki, h2_nginx)
    assert {g["proto"] for g in items} == {"HTTP/2.0"}
    assert {line.protocol for line in log} == {"HTTP/2.0"}
    assert len(connections(log)) == 1, log
    # one connect and one handshake, paid by the item that opened the connection
    assert sum(float(g["connecting"]) > 0 for g in items) <= 1, items
    assert sum(float(g["tls"]) > 0 for g in items) == 1, items
    # every stream reports its connection's TLS version, the ones that waited included
    assert {g["version"] for g in items} == {"[tls1.3]"}, items


def test_batch_over_h2c_is_multiplexed_on_one_connection(run_salvo, script, pki, h2c_nginx):
    items, log = run_batch(run_salvo, script, pki, h2c_nginx, 'http_version = "HTTP/2"')
    assert {g["proto"] for g in items} == {"HTTP/2.0"}
    assert {line.protocol for line in log} == {"HTTP/2.0"}
    assert len(connections(log)) == 1, log
    assert sum(float(g["connecting"]) > 0 for g in items) <= 1, items
    assert {g["version"] for g in items} == {"[]"}


@pytest.mark.parametrize("how", ["flag", "params"])
def test_batch_over_http1_1_uses_several_connections(run_salvo, script, pki, h2_nginx, how):
    if how == "flag":
        items, log = run_batch(run_salvo, script, pki, h2_nginx, "", "--http1.1")
    else:
        items, log = run_batch(run_salvo, script, pki, h2_nginx, 'http_version = "HTTP/1.1"')
    assert {g["proto"] for g in items} == {"HTTP/1.1"}
    assert {line.protocol for line in log} == {"HTTP/1.1"}
    assert len(connections(log)) > 1, log
    assert sum(float(g["tls"]) > 0 for g in items) == len(connections(log))


def test_batch_to_a_tls_server_without_h2_opens_connections_of_its_own(
        run_salvo, script, pki, start_h2_nginx):
    server = start_h2_nginx(http2=False)
    items, log = run_batch(run_salvo, script, pki, server)
    assert {g["proto"] for g in items} == {"HTTP/1.1"}
    assert len(connections(log)) > 1, log


def test_second_batch_reuses_the_h2_connection(run_salvo, script, pki, h2_nginx):
    path = script(f"""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {{ iterations = 3, vus = 1, tlsCACert = {lua(pki.cert("ca"))} }}
        function default()
          local reqs = {{}}
          for i = 1, 5 do reqs[i] = salvo.env.BASE .. "/hello" end
          for _, r in ipairs(http.batch(reqs)) do
            if r.status ~= 200 or r.proto ~= "HTTP/2.0" then error("bad " .. r.status) end
          end
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=h2_nginx.url("", host="localhost"))
    assert_passed(r, 15)
    assert metric(r.export, "iteration_errors", "count") == 0
    log = h2_nginx.log_lines(15)
    assert len(log) == 15 and len(connections(log)) == 1, log


# ---- --streams ----------------------------------------------------------------------------


def test_streams_share_connections_over_h2c(run_salvo, h2c_nginx):
    r = run_salvo("run", "--url", h2c_nginx.url(), "--vus", 20, "--streams", 10,
                  "--workers", 1, "--http2", "--duration", "500ms")
    n = metric(r.export, "http_reqs", "count")
    assert n > 20
    assert_passed(r, n)
    log = h2c_nginx.log_lines(n)
    assert len(log) == n and {line.protocol for line in log} == {"HTTP/2.0"}
    assert len(connections(log)) == 2, sorted(connections(log))


def test_streams_share_connections_over_tls(run_salvo, h2_nginx, pki, tmp_path):
    samples = tmp_path / "samples.json"
    r = run_salvo("run", "--url", h2_nginx.url(host="localhost"), "--vus", 20,
                  "--streams", 5, "--workers", 1, "--duration", "500ms",
                  "--cacert", pki.cert("ca"), "--out", f"json={samples}")
    n = metric(r.export, "http_reqs", "count")
    assert n > 20
    assert_passed(r, n)
    log = h2_nginx.log_lines(n)
    assert len(log) == n and {line.protocol for line in log} == {"HTTP/2.0"}
    assert len(connections(log)) == 4, sorted(connections(log))
    # the tags of the samples: h2, and the TLS version of the group's connection
    tags = [t for _, t in points(samples, "http_reqs")]
    assert len(tags) == n and {t.get("proto") for t in tags} == {"HTTP/2.0"}
    assert {t.get("tls_version") for t in tags} == {"tls1.3"}


@pytest.mark.parametrize("vus,streams,workers,expected", [
    (20, 10, 2, 2),   # 10 VUs a worker: one connection each
    (20, 10, 4, 4),   # 5 a worker: a connection each, not full
    (25, 10, 2, 4),   # 13 and 12: 10 + 3 and 10 + 2
    (12, 5, 1, 3),    # 5 + 5 + 2
])
def test_streams_group_vus_within_each_worker(run_salvo, h2c_nginx, vus, streams, workers,
                                              expected):
    r = run_salvo("run", "--url", h2c_nginx.url(), "--http2", "--vus", vus, "--streams",
                  streams, "--workers", workers, "--duration", "300ms")
    n = metric(r.export, "http_reqs", "count")
    assert n > vus
    assert_passed(r, n)
    log = h2c_nginx.log_lines(n)
    assert len(log) == n
    assert len(connections(log)) == expected, sorted(connections(log))


def test_streams_over_http1_1_changes_nothing(run_salvo, start_h2_nginx, pki):
    server = start_h2_nginx(http2=False)
    r = run_salvo("run", "--url", server.url(host="localhost"), "--vus", 4, "--streams", 4,
                  "--workers", 1, "--iterations", 40, "--cacert", pki.cert("ca"))
    assert_passed(r, 40)
    log = server.log_lines(40)
    assert {line.protocol for line in log} == {"HTTP/1.1"}
    assert len(connections(log)) == 4  # each VU its own


def test_streams_with_a_script_is_an_error(run_salvo, script, h2c_nginx):
    path = script("""\
        local http = require("salvo.http")
        function default() http.get("http://127.0.0.1:1/") end
        """)
    r = run_salvo("run", path, "--streams", 4, "--http2")
    assert r.code == 2, r.err
    # (docs/protocols.md says --streams is ignored with a script; it is refused)
    assert "--streams is for --url tests" in one_line(r.err)
    assert r.export is None


@pytest.mark.parametrize("extra", [(), ("--http1.1",)], ids=["plain-url", "http1.1"])
def test_streams_on_http_url_without_http2_is_an_error(run_salvo, h2c_nginx, extra):
    r = run_salvo("run", "--url", h2c_nginx.url(), "--vus", 4, "--streams", 2,
                  "--iterations", 4, *extra)
    assert r.code == 2, r.err
    assert "--streams needs HTTP/2" in one_line(r.err)
    assert h2c_nginx.log_lines() == []


@pytest.mark.parametrize("value", ["0", "1001", "x"])
def test_streams_out_of_range_is_an_error(run_salvo, h2c_nginx, value):
    r = run_salvo("run", "--url", h2c_nginx.url(), "--http2", "--streams", value,
                  "--iterations", 1)
    assert r.code == 2, r.err
    assert "--streams" in one_line(r.err)


def test_streams_beyond_the_servers_limit_open_another_connection(run_salvo,
                                                                  start_h2_nginx):
    # nginx takes 4 concurrent streams per connection: 10 VUs on one group need 3
    server = start_h2_nginx(tls=False, max_streams=4)
    r = run_salvo("run", "--url", server.url(), "--http2", "--vus", 10, "--streams", 10,
                  "--workers", 1, "--iterations", 300)
    assert_passed(r, 300)
    log = server.log_lines(300)
    assert len(log) == 300
    assert len(connections(log)) >= 3, sorted(connections(log))


# ---- GOAWAY from nginx (keepalive_requests) -------------------------------------------------


@pytest.mark.parametrize("tls,args", [
    (False, ("--vus", 8)),
    (False, ("--vus", 16, "--streams", 8, "--workers", 1)),
    (True, ("--vus", 8)),
    (True, ("--vus", 16, "--streams", 8, "--workers", 1)),
], ids=["h2c", "h2c-streams", "tls", "tls-streams"])
def test_goaway_after_keepalive_requests_loses_nothing(run_salvo, start_h2_nginx, pki, tls,
                                                       args):
    server = start_h2_nginx(tls=tls, keepalive_requests=50)
    n = 600
    extra = ("--cacert", pki.cert("ca")) if tls else ("--http2",)
    r = run_salvo("run", "--url", server.url(host="localhost"), *args, "--iterations", n,
                  *extra)
    assert_passed(r, n)
    log = server.log_lines(n)
    assert len(log) == n  # each request once at nginx: the resends replaced refused streams
    assert {(line.protocol, line.status) for line in log} == {("HTTP/2.0", "200")}
    conns = connections(log)
    assert len(conns) >= n // 50, sorted(conns)
    per_conn = {c: sum(line.connection == c for line in log) for c in conns}
    assert max(per_conn.values()) <= 50, per_conn


# ---- large bodies: flow control ---------------------------------------------------------------


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_large_bodies_arrive_intact(run_salvo, script, pki, start_h2_nginx, tls):
    server = start_h2_nginx(tls=tls, huge=True)
    path = script(f"""\
        local http = require("salvo.http")
        local crypto = require("salvo.crypto")
        local salvo = require("salvo")
        options = {{ iterations = 1, tlsCACert = {lua(pki.cert("ca"))} }}
        function default()
          local p = {{ http_version = "HTTP/2" }}
          local one = http.get(salvo.env.BASE .. "/huge", p)
          salvo.log("one status=" .. one.status .. " proto=" .. one.proto ..
                    " len=" .. #one.body .. " sha=" .. crypto.sha256(one.body, "hex"))
          local url = salvo.env.BASE .. "/huge"
          -- four at once: past the connection's window as well as each stream's
          local rs = http.batch({{ {{"GET", url, nil, p}}, {{"GET", url, nil, p}},
                                  {{"GET", url, nil, p}}, {{"GET", url, nil, p}} }})
          for i, r in ipairs(rs) do
            salvo.log("batch" .. i .. " status=" .. r.status .. " proto=" .. r.proto ..
                      " len=" .. #r.body .. " sha=" .. crypto.sha256(r.body, "hex"))
          end
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=server.url("", host="localhost"),
                   timeout=120)
    assert_passed(r, 5)
    for marker in ("one ", "batch1 ", "batch2 ", "batch3 ", "batch4 "):
        got = logged(r.err, marker)
        assert (got["status"], got["proto"], got["len"], got["sha"]) == \
            ("200", "HTTP/2.0", str(HUGE_SIZE), server.huge_sha256), marker
    assert metric(r.export, "data_received", "count") >= 5 * HUGE_SIZE
    log = server.log_lines(5)
    assert len(connections(log)) == 1 and {line.protocol for line in log} == {"HTTP/2.0"}


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "h2c"])
def test_redirects_head_gzip_and_uploads_over_h2(run_salvo, script, pki, start_h2_nginx, tls):
    server = start_h2_nginx(tls=tls)
    path = script(f"""\
        local http = require("salvo.http")
        local crypto = require("salvo.crypto")
        local salvo = require("salvo")
        options = {{ iterations = 1, tlsCACert = {lua(pki.cert("ca"))} }}
        function default()
          local p = {{ http_version = "HTTP/2" }}
          local r = http.get(salvo.env.BASE .. "/redirect", p)
          salvo.log("redirect status=" .. r.status .. " proto=" .. r.proto .. " body=" .. r.body ..
                    " url=" .. r.url)
          local h = http.request("HEAD", salvo.env.BASE .. "/text.txt", nil, p)
          salvo.log("head status=" .. h.status .. " len=" .. #h.body ..
                    " length=" .. tostring(h.headers["Content-Length"]))
          local body = crypto.random_bytes(5 * 1024 * 1024 + 7)  -- past nginx's windows
          local u = http.put(salvo.env.BASE .. "/up/a.bin", body, p)
          local back = http.get(salvo.env.BASE .. "/up/a.bin", p)
          salvo.log("put status=" .. u.status .. " proto=" .. u.proto .. " back=" .. back.status ..
                    " same=" .. tostring(back.body == body))
          -- last: an encoded response must not be the VU's previous one
          local g = http.get(salvo.env.BASE .. "/text.txt", {{ http_version = "HTTP/2",
                             headers = {{ ["Accept-Encoding"] = "gzip" }} }})
          salvo.log("gzip status=" .. g.status ..
                    " encoding=" .. tostring(g.headers["Content-Encoding"]) ..
                    " len=" .. #g.body .. " sha=" .. crypto.sha256(g.body, "hex"))
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=server.url("", host="localhost"))
    assert_passed(r, 6)
    redirect = logged(r.err, "redirect ")
    assert (redirect["status"], redirect["proto"], redirect["body"]) == \
        ("200", "HTTP/2.0", "hello")
    assert redirect["url"] == server.url("/hello", host="localhost")
    head = logged(r.err, "head ")
    assert (head["status"], head["len"], head["length"]) == ("200", "0", str(len(TEXT)))
    put = logged(r.err, "put ")
    assert (put["status"], put["proto"], put["back"], put["same"]) == \
        ("201", "HTTP/2.0", "200", "true")
    gz = logged(r.err, "gzip ")
    assert (gz["status"], gz["encoding"], gz["len"]) == ("200", "gzip", str(len(TEXT)))
    assert gz["sha"] == hashlib.sha256(TEXT.encode()).hexdigest()
    log = server.log_lines(6)
    assert [(line.method, line.uri, line.status) for line in log] == [
        ("GET", "/redirect", "302"), ("GET", "/hello", "200"), ("HEAD", "/text.txt", "200"),
        ("PUT", "/up/a.bin", "201"), ("GET", "/up/a.bin", "200"), ("GET", "/text.txt", "200")]
    assert {line.protocol for line in log} == {"HTTP/2.0"} and len(connections(log)) == 1


ENCODING_THEN_PLAIN = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 1, tlsCACert = {ca} }}
    function default()
      local p = {{ http_version = "{version}" }}
      local a = http.get(salvo.env.BASE .. "/text.txt", {{ http_version = "{version}",
                         headers = {{ ["Accept-Encoding"] = "gzip" }} }})
      salvo.log("first status=" .. a.status .. " code=" .. a.error_code ..
                " encoding=" .. tostring(a.headers["Content-Encoding"]))
      local b = http.get(salvo.env.BASE .. "/hello", p)
      salvo.log("second status=" .. b.status .. " code=" .. b.error_code .. " body=" .. b.body)
    end
    """


@pytest.mark.parametrize("version", [
    "HTTP/1.1",
    "HTTP/2",
])
def test_encoding_of_one_response_does_not_leak_into_the_next(run_salvo, script, pki,
                                                              h2_nginx, version):
    path = script(ENCODING_THEN_PLAIN.format(ca=lua(pki.cert("ca")), version=version))
    r = run_script(run_salvo, path, "--workers", 1, base=h2_nginx.url("", host="localhost"))
    assert r.code == 0, r.err
    assert logged(r.err, "first ") == {"status": "200", "code": "0", "encoding": "gzip"}
    assert logged(r.err, "second ") == {"status": "200", "code": "0", "body": "hello"}
    assert r.export["salvo"]["errors"] == []


def test_batch_items_to_other_hosts_get_their_own_connections(run_salvo, script, pki,
                                                              h2_nginx):
    path = script(f"""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {{ iterations = 1, tlsCACert = {lua(pki.cert("ca"))} }}
        function default()
          local a, b = "{h2_nginx.url(host="localhost")}", "{h2_nginx.url(host="127.0.0.1")}"
          local rs = http.batch({{ a, b, a, b, a, b }})
          for i, r in ipairs(rs) do
            salvo.log("item" .. i .. " status=" .. r.status .. " proto=" .. r.proto)
          end
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1)
    assert_passed(r, 6)
    for i in range(1, 7):
        assert logged(r.err, f"item{i} ") == {"status": "200", "proto": "HTTP/2.0"}
    log = h2_nginx.log_lines(6)
    assert len(connections(log)) == 2, log  # one per host (localhost, 127.0.0.1)


def test_body_past_max_response_size_resets_only_its_stream(run_salvo, script, pki,
                                                            start_h2_nginx):
    h2_nginx = start_h2_nginx(huge=True)
    path = script(f"""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {{ iterations = 1, tlsCACert = {lua(pki.cert("ca"))} }}
        function default()
          local rs = http.batch({{ salvo.env.BASE .. "/huge", salvo.env.BASE .. "/hello",
                                  salvo.env.BASE .. "/hello" }})
          for i, r in ipairs(rs) do
            salvo.log("item" .. i .. " status=" .. r.status .. " code=" .. r.error_code ..
                      " proto=" .. r.proto .. " len=" .. #r.body)
          end
          local after = http.get(salvo.env.BASE .. "/hello")
          salvo.log("after status=" .. after.status .. " proto=" .. after.proto)
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, "--max-response-size", "1MB",
                   base=h2_nginx.url("", host="localhost"))
    assert r.code == 0, r.err
    big = logged(r.err, "item1 ")
    assert big["code"] == "1703", big
    for marker in ("item2 ", "item3 "):
        got = logged(r.err, marker)
        assert (got["status"], got["code"], got["proto"]) == ("200", "0", "HTTP/2.0"), got
    assert logged(r.err, "after ")["status"] == "200"
    assert errors_by_code(r.export) == {1703: 1}
    log = h2_nginx.log_lines(3)
    assert len(connections(log)) == 1, log  # the connection outlived the reset stream


# ---- a misbehaving HTTP/2 server ---------------------------------------------------------


# A DATA frame on stream 0, which RFC 9113 §6.1 makes a connection error (PROTOCOL_ERROR).
BAD_FRAME = b"\x00\x00\x01\x00\x00\x00\x00\x00\x00x"


def goaway_frame(last_stream_id, code):
    return struct.pack(">I", 8)[1:] + b"\x07\x00" + struct.pack(">III", 0, last_stream_id, code)


class Stream(NamedTuple):
    conn: int        # which connection, from 1 in accept order
    stream_id: int
    method: str
    path: str
    headers: dict    # the request's headers (pseudo-headers included), as received
    body: bytes


class H2FaultServer(TcpServer):
    """An h2c server (prior knowledge) whose answer each path chooses:

    - /ok: 200 "ok"; /digest: 200 with the SHA-256 of the request body (hex);
      /headers: 200 with the request's headers as JSON
    - /rst/CODE: RST_STREAM with CODE, no response
    - /rst-after-head/CODE: a 200 head, then RST_STREAM with CODE
    - /refuse-once/KEY: REFUSED_STREAM the first time KEY is asked, then 200 "ok"
    - /goaway/CODE: GOAWAY with CODE, its last stream the one before this one (this
      one unprocessed), then the connection closes
    - /goaway-once/KEY: as /goaway/0 the first time KEY is asked, then 200 "ok"
    - /goaway-graceful: 200 "ok", then GOAWAY (NO_ERROR) naming this stream the last;
      the connection stays open for the streams before it
    - /goaway-processed/CODE: GOAWAY with CODE naming this stream as processed, no
      response, then the connection closes
    - /stall: nothing (the server waits; a reset of the stream is recorded)
    - /delay/MS: 200 "late" after MS milliseconds
    - /bad-frame: no response, but a frame that is not valid HTTP/2 (BAD_FRAME)
    - max_streams=N: SETTINGS_MAX_CONCURRENT_STREAMS N, and a stream past N open ones
      refused (REFUSED_STREAM), as servers do; recorded in self.refused
    - /early-hints: a 103 head (with a Link header), then 200 "ok"
    - /big-head/N: a 200 head with N headers of 30,000 bytes each, no body
    - /close-mid: a 200 head announcing 100,000 bytes, 1,000 of them, then the
      connection closes
    - every-N mode (goaway_every=N): each connection answers N streams with 200, then
      sends GOAWAY (NO_ERROR) on the next and closes

    Every stream received is recorded in self.streams (Stream), every RST_STREAM the
    client sent in self.client_resets ((conn, stream_id, code))."""

    def __init__(self, goaway_every=0, max_streams=0):
        self.goaway_every = goaway_every
        self.max_streams = max_streams
        self.refused = []  # (conn, stream_id, path) refused for max_streams
        self.streams = []
        self.client_resets = []
        self.seen_keys = set()
        self.conn_count = 0
        self.responses = 0  # streams answered with a response
        self.closed = []  # the connections that ended (EOF, or closed by the server)
        super().__init__()

    def handle(self, sock):
        with self.lock:
            self.conn_count += 1
            conn_no = self.conn_count
        try:
            self.serve_h2(sock, conn_no)
        finally:
            with self.lock:
                self.closed.append(conn_no)

    def serve_h2(self, sock, conn_no):
        h = h2.connection.H2Connection(h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"))
        h.initiate_connection()
        limit = b""
        if self.max_streams:  # announced here: h2 would refuse the excess as a connection error
            limit = struct.pack(">I", 6)[1:] + b"\x04\x00" + struct.pack(">IHI", 0, 3,
                                                                          self.max_streams)
        sock.sendall(h.data_to_send() + limit)
        sock.settimeout(0.02)
        heads, bodies = {}, {}
        refused, active = set(), set()
        answered = 0
        delayed = []  # (when, stream_id): /delay answers
        while not self.stopping.is_set():
            now = time.monotonic()
            for when, stream_id in [d for d in delayed if d[0] <= now]:
                delayed.remove((when, stream_id))
                if stream_id in h.streams:  # not reset by the client meanwhile
                    self.respond(h, stream_id, b"late")
            sock.sendall(h.data_to_send())
            try:
                data = sock.recv(65536)
            except socket.timeout:
                continue
            if not data:
                return
            try:
                events = h.receive_data(data)
            except h2.exceptions.ProtocolError:
                sock.sendall(h.data_to_send())
                return
            for ev in events:
                if isinstance(ev, h2.events.RequestReceived):
                    # the streams taken and not answered yet (h2 counts all of this read's)
                    active = {i for i in active if i in h.streams and not h.streams[i].closed}
                    if self.max_streams and len(active) >= self.max_streams:
                        refused.add(ev.stream_id)
                        h.reset_stream(ev.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                        with self.lock:
                            self.refused.append((conn_no, ev.stream_id,
                                                 dict(ev.headers)[":path"]))
                        continue
                    active.add(ev.stream_id)
                    heads[ev.stream_id] = dict(ev.headers)
                    bodies[ev.stream_id] = b""
                elif isinstance(ev, h2.events.DataReceived):
                    bodies[ev.stream_id] += ev.data
                    h.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
                elif isinstance(ev, h2.events.StreamReset):
                    with self.lock:
                        self.client_resets.append((conn_no, ev.stream_id, ev.error_code))
                elif getattr(ev, "stream_id", None) in refused:
                    continue
                elif isinstance(ev, h2.events.StreamEnded):
                    head = heads.pop(ev.stream_id)
                    s = Stream(conn_no, ev.stream_id, head[":method"], head[":path"], head,
                               bodies.pop(ev.stream_id))
                    with self.lock:
                        self.streams.append(s)
                    if s.path.startswith("/delay/"):
                        ms = int(s.path.split("/")[2])
                        delayed.append((time.monotonic() + ms / 1000, s.stream_id))
                    elif s.path == "/bad-frame":  # DATA on stream 0: a connection error
                        sock.sendall(h.data_to_send() + BAD_FRAME)
                    else:
                        raw = []
                        keep = self.answer(h, s, answered, raw)
                        sock.sendall(h.data_to_send() + b"".join(raw))
                        if not keep:
                            self.close_gently(sock)
                            return
                    answered += 1
            sock.sendall(h.data_to_send())

    def close_gently(self, sock):
        """FIN after what was sent, the rest read and dropped: no RST to cut it short."""
        sock.shutdown(socket.SHUT_WR)
        sock.settimeout(2)
        try:
            while sock.recv(65536):
                pass
        except OSError:
            pass

    def once(self, key):
        with self.lock:
            first = key not in self.seen_keys
            self.seen_keys.add(key)
        return first

    def respond(self, h, stream_id, body, status=200):
        with self.lock:
            self.responses += 1
        h.send_headers(stream_id, [(":status", str(status)),
                                   ("content-length", str(len(body))),
                                   ("content-type", "text/plain")])
        h.send_data(stream_id, body, end_stream=True)

    def answer(self, h, s, answered, raw):
        """Acts on a complete request; False when the connection is to close. Frames
        the h2 library would not send go in raw, sent after its own."""
        parts = s.path.split("?")[0].strip("/").split("/")
        kind, arg = parts[0], (parts[1] if len(parts) > 1 else "")
        if self.goaway_every and answered >= self.goaway_every:
            h.close_connection(error_code=0, last_stream_id=max(0, s.stream_id - 2))
            return False
        if kind == "ok":
            self.respond(h, s.stream_id, b"ok")
        elif kind == "digest":
            self.respond(h, s.stream_id, hashlib.sha256(s.body).hexdigest().encode())
        elif kind == "headers":
            self.respond(h, s.stream_id, json.dumps(s.headers).encode())
        elif kind == "rst":
            h.reset_stream(s.stream_id, error_code=int(arg))
        elif kind == "rst-after-head":
            h.send_headers(s.stream_id, [(":status", "200")])
            h.reset_stream(s.stream_id, error_code=int(arg))
        elif kind == "refuse-once":
            if self.once(("refuse", arg)):
                h.reset_stream(s.stream_id, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
            else:
                self.respond(h, s.stream_id, b"ok")
        elif kind == "goaway":
            h.close_connection(error_code=int(arg), last_stream_id=max(0, s.stream_id - 2))
            return False
        elif kind == "goaway-once":
            if self.once(("goaway", arg)):
                h.close_connection(error_code=0, last_stream_id=max(0, s.stream_id - 2))
                return False
            self.respond(h, s.stream_id, b"ok")
        elif kind == "goaway-processed":
            h.close_connection(error_code=int(arg), last_stream_id=s.stream_id)
            return False
        elif kind == "goaway-graceful":
            # the answer, then a GOAWAY naming this stream the last: the streams before
            # it go on, new ones go elsewhere (h2 sends nothing after its own GOAWAY)
            self.respond(h, s.stream_id, b"ok")
            raw.append(goaway_frame(s.stream_id, 0))
        elif kind == "stall":
            pass
        elif kind == "early-hints":
            h.send_headers(s.stream_id, [(":status", "103"), ("link", "</a.css>; rel=preload")])
            self.respond(h, s.stream_id, b"ok")
        elif kind == "big-head":  # N headers of 30,000 bytes each
            h.send_headers(s.stream_id, [(":status", "200")] +
                           [(f"x-big-{i}", "b" * 30000) for i in range(int(arg))],
                           end_stream=True)
        elif kind == "close-mid":
            h.send_headers(s.stream_id, [(":status", "200"), ("content-length", "100000")])
            h.send_data(s.stream_id, b"x" * 1000)
            return False
        else:
            self.respond(h, s.stream_id, b"not found", status=404)
        return True

    def paths(self):
        with self.lock:
            return [s.path for s in self.streams]


@pytest.fixture
def h2_server():
    """h2_server(goaway_every=0) starts an H2FaultServer; all are stopped afterwards."""
    if h2 is None:
        pytest.skip("the h2 library is not installed (Debian: python3-h2)")
    started = []

    def start(**kw):
        server = H2FaultServer(**kw)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


# Requests the paths in PATHS (a Lua list) one by one, logging each result.
SEQUENCE = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 1 }}
    function default()
      for i, p in ipairs({{ {paths} }}) do
        local r = http.get(salvo.env.BASE .. p, {{ http_version = "HTTP/2", timeout = "5s" }})
        salvo.log("req" .. i .. " status=" .. r.status .. " code=" .. r.error_code ..
                  " proto=" .. r.proto .. " body=[" .. r.body .. "] error=[" ..
                  r.error:gsub(" ", "_") .. "]")
      end
    end
    """


def run_sequence(run_salvo, script, server, paths):
    path = script(SEQUENCE.format(paths=", ".join(json.dumps(p) for p in paths)))
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == len(paths), r.err
    return r, [logged(r.err, f"req{i} ") for i in range(1, len(paths) + 1)]


@needs_h2
def test_fault_server_answers_h2c(run_salvo, script, h2_server):
    server = h2_server()
    r, got = run_sequence(run_salvo, script, server, ["/ok", "/ok", "/ok"])
    assert [(g["status"], g["proto"], g["body"]) for g in got] == [("200", "HTTP/2.0", "[ok]")] * 3
    assert r.export["salvo"]["errors"] == []
    assert [s.conn for s in server.streams] == [1, 1, 1]
    assert [s.stream_id for s in server.streams] == [1, 3, 5]


@needs_h2
def test_request_headers_and_body_over_h2(run_salvo, script, h2_server):
    server = h2_server()
    path = script("""\
        local http = require("salvo.http")
        local crypto = require("salvo.crypto")
        local salvo = require("salvo")
        options = { iterations = 1 }
        function default()
          local body = string.rep("0123456789", 100000)  -- 1 MB: past the 64 KiB window
          local r = http.post(salvo.env.BASE .. "/digest", body, {
            http_version = "HTTP/2",
            headers = { ["X-Custom-Thing"] = "Yes", ["Connection"] = "keep-alive",
                        ["Keep-Alive"] = "timeout=5", ["Content-Type"] = "text/plain" } })
          salvo.log("digest status=" .. r.status .. " proto=" .. r.proto ..
                    " same=" .. tostring(r.body == crypto.sha256(body, "hex")))
          local h = http.get(salvo.env.BASE .. "/headers", {
            http_version = "HTTP/2", headers = { ["X-Custom-Thing"] = "Yes",
                                                  ["Host"] = "example.test:8443" } })
          salvo.log("headers status=" .. h.status)
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert r.code == 0, r.err
    got = logged(r.err, "digest ")
    assert (got["status"], got["proto"], got["same"]) == ("200", "HTTP/2.0", "true")
    assert r.export["salvo"]["errors"] == []
    post, get = server.streams
    assert (post.method, post.path, len(post.body)) == ("POST", "/digest", 1_000_000)
    assert post.headers["x-custom-thing"] == "Yes"
    assert post.headers[":scheme"] == "http"
    assert post.headers[":authority"] == f"127.0.0.1:{server.port}"
    assert post.headers.get("content-length") in (None, "1000000")
    for name in ("connection", "keep-alive", "host", "transfer-encoding", "upgrade"):
        assert name not in post.headers, post.headers
    # Host becomes :authority
    assert get.headers[":authority"] == "example.test:8443", get.headers
    assert "host" not in get.headers


@needs_h2
def test_reset_streams_fail_with_their_codes(run_salvo, script, h2_server):
    server = h2_server()
    paths = ["/ok", "/rst/2", "/ok", "/rst/8", "/rst/11", "/rst/0", "/rst-after-head/2",
             "/rst/99", "/ok"]
    r, got = run_sequence(run_salvo, script, server, paths)
    codes = [int(g["code"]) for g in got]
    assert codes == [0, 1633, 0, 1639, 1642, 1631, 1633, 1630, 0], got
    assert got[1]["error"] == "[http2:_stream_error_with_http2_ErrCode_INTERNAL_ERROR]"
    assert got[3]["error"] == "[http2:_stream_error_with_http2_ErrCode_CANCEL]"
    assert got[4]["error"] == "[http2:_stream_error_with_http2_ErrCode_ENHANCE_YOUR_CALM]"
    assert got[5]["error"] == "[http2:_stream_error_with_http2_ErrCode_NO_ERROR]"
    assert got[6]["status"] == "200"  # the head had come: the status stays
    assert [g["status"] for g in (got[0], got[2], got[8])] == ["200"] * 3
    # none is resent: the server saw each request once, all on one connection
    assert server.paths() == paths
    assert {s.conn for s in server.streams} == {1}
    assert errors_by_code(r.export) == {1633: 2, 1639: 1, 1642: 1, 1631: 1, 1630: 1}
    lines = error_lines(r.out)
    assert lines[1633] == ("http2: stream error with http2 ErrCode INTERNAL_ERROR", 2)
    assert metric(r.export, "http_req_failed", "passes") == 6


@needs_h2
def test_refused_stream_is_resent_once(run_salvo, script, h2_server):
    server = h2_server()
    paths = ["/refuse-once/a", "/ok", "/refuse-once/b", "/rst/7"]
    r, got = run_sequence(run_salvo, script, server, paths)
    assert [(g["status"], g["code"]) for g in got] == \
        [("200", "0"), ("200", "0"), ("200", "0"), ("0", "1638")], got
    assert got[3]["error"] == "[http2:_stream_error_with_http2_ErrCode_REFUSED_STREAM]"
    # each refused stream went out twice, the one refused twice no more than that
    assert server.paths() == ["/refuse-once/a", "/refuse-once/a", "/ok", "/refuse-once/b",
                              "/refuse-once/b", "/rst/7", "/rst/7"]
    # the resends are invisible in the counts: one request, one sample
    assert metric(r.export, "http_reqs", "count") == 4
    assert errors_by_code(r.export) == {1638: 1}


@needs_h2
def test_goaway_resends_unprocessed_streams_once(run_salvo, script, h2_server):
    server = h2_server()
    paths = ["/ok", "/goaway-once/a", "/ok", "/goaway/2", "/ok", "/goaway/0", "/ok"]
    r, got = run_sequence(run_salvo, script, server, paths)
    assert [(g["status"], g["code"]) for g in got] == [
        ("200", "0"), ("200", "0"), ("200", "0"), ("0", "1613"), ("200", "0"), ("0", "1611"),
        ("200", "0")], got
    assert got[3]["error"] == "[http2:_received_GoAway_with_http2_ErrCode_INTERNAL_ERROR]"
    assert got[5]["error"] == "[http2:_received_GoAway_with_http2_ErrCode_NO_ERROR]"
    assert server.paths() == ["/ok", "/goaway-once/a", "/goaway-once/a", "/ok",
                              "/goaway/2", "/goaway/2", "/ok", "/goaway/0", "/goaway/0", "/ok"]
    # each GOAWAY closed a connection; the next request (or resend) opened another
    assert [s.conn for s in server.streams] == [1, 1, 2, 2, 2, 3, 4, 4, 5, 6]
    assert errors_by_code(r.export) == {1613: 1, 1611: 1}


@needs_h2
def test_goaway_for_a_processed_stream_is_not_resent(run_salvo, script, h2_server):
    server = h2_server()
    paths = ["/ok", "/goaway-processed/2", "/ok"]
    r, got = run_sequence(run_salvo, script, server, paths)
    assert (got[0]["status"], got[2]["status"]) == ("200", "200")
    assert got[1]["status"] == "0"
    code = int(got[1]["code"])
    assert code == 1000 or 1600 <= code < 1700, got[1]
    assert server.paths() == paths  # the server may have acted on it: not resent
    assert errors_by_code(r.export) == {code: 1}


@needs_h2
@pytest.mark.parametrize("code,expected", [(0, 1611), (2, 1613), (11, 1622)])
def test_server_that_always_goes_away_fails_every_request(run_salvo, h2_server, code,
                                                          expected):
    server = h2_server()
    r = run_salvo("run", "--url", server.url(f"/goaway/{code}"), "--http2", "--vus", 3,
                  "--iterations", 12)
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == 12, r.out
    assert errors_by_code(r.export) == {expected: 12}
    assert error_lines(r.out)[expected][1] == 12
    assert "http_reqs" in r.out and "generator:" in r.out
    assert len(server.paths()) == 24  # each resent once, then failed


@needs_h2
@pytest.mark.parametrize("code,expected", [(2, 1633), (7, 1638), (8, 1639)])
def test_server_that_always_resets_fails_every_request(run_salvo, h2_server, code, expected):
    server = h2_server()
    r = run_salvo("run", "--url", server.url(f"/rst/{code}"), "--http2", "--vus", 4,
                  "--streams", 4, "--workers", 1, "--iterations", 40)
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == 40, r.out
    assert errors_by_code(r.export) == {expected: 40}
    assert "generator:" in r.out
    # REFUSED_STREAM twice per request, the others once; one connection throughout
    assert len(server.paths()) == (80 if code == 7 else 40)
    assert server.conn_count == 1


@needs_h2
@pytest.mark.parametrize("args", [("--vus", 4), ("--vus", 8, "--streams", 4, "--workers", 1)],
                         ids=["vus", "streams"])
def test_periodic_goaway_under_load_loses_nothing(run_salvo, h2_server, args):
    server = h2_server(goaway_every=5)
    r = run_salvo("run", "--url", server.url("/ok"), "--http2", *args, "--iterations", 200)
    assert_passed(r, 200)
    # each request answered once: the streams past a GOAWAY were resent, not lost or
    # counted twice
    assert server.responses == 200
    assert server.conn_count >= 200 // 5


TIMEOUT_BATCH = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 1 }}
    function default()
      local p = {{ http_version = "HTTP/2", timeout = "5s" }}
      local short = {{ http_version = "HTTP/2", timeout = "300ms" }}
      local items = {{}}
      for i, path in ipairs({{ {paths} }}) do
        items[i] = {{ "GET", salvo.env.BASE .. path, nil, path == "/stall" and short or p }}
      end
      for i, r in ipairs(http.batch(items)) do
        salvo.log("item" .. i .. " status=" .. r.status .. " code=" .. r.error_code ..
                  " body=" .. r.body)
      end
      local after = http.get(salvo.env.BASE .. "/ok", p)
      salvo.log("after status=" .. after.status .. " code=" .. after.error_code)
    end
    """


@needs_h2
@pytest.mark.parametrize("paths", [
    ["/ok", "/stall", "/delay/700"],  # a stream other than the connection's opener
    ["/stall", "/delay/700", "/ok"],  # the opener's own, while another is open
    ["/stall", "/ok", "/ok"],  # the opener's own, the others done
], ids=["other-stream", "opener-stream", "opener-alone"])
def test_a_timed_out_stream_is_reset_and_the_others_go_on(run_salvo, script, h2_server,
                                                          paths):
    server = h2_server()
    path = script(TIMEOUT_BATCH.format(paths=", ".join(json.dumps(p) for p in paths)))
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert r.code == 0, r.err
    expected = {"/ok": ("200", "0", "ok"), "/stall": ("0", "1050", ""),
                "/delay/700": ("200", "0", "late")}
    for i, p in enumerate(paths, 1):
        got = logged(r.err, f"item{i} ")
        assert (got["status"], got["code"], got.get("body", "")) == expected[p], (p, got)
    assert logged(r.err, "after ") == {"status": "200", "code": "0"}
    assert errors_by_code(r.export) == {1050: 1}
    assert metric(r.export, "http_reqs", "count") == 4
    stall = [s for s in server.streams if s.path == "/stall"][0]
    # the stream was reset with CANCEL while the others went on on the same connection
    assert wait_until(lambda: (1, stall.stream_id, 8) in server.client_resets, timeout=5), \
        server.client_resets
    batch = [(s.conn, s.path) for s in server.streams][:3]
    assert sorted(batch) == sorted((1, p) for p in paths), server.streams
    after = server.streams[3]
    assert after.path == "/ok"
    if paths[0] != "/stall" or "/delay/700" in paths:
        assert after.conn == 1, server.streams  # the connection outlived the reset stream
    # else the opener's timeout, with no other stream open, closes the connection as over
    # HTTP/1.1 (and the next request opens another): allowed, if not needed for HTTP/2


BATCH_THEN_GET = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 1 }}
    function default()
      local p = {{ http_version = "HTTP/2", timeout = "5s" }}
      local items = {{}}
      for i, path in ipairs({{ {paths} }}) do
        items[i] = {{ "GET", salvo.env.BASE .. path, nil, p }}
      end
      for i, r in ipairs(http.batch(items)) do
        salvo.log("item" .. i .. " status=" .. r.status .. " code=" .. r.error_code ..
                  " body=" .. r.body .. " error=" .. r.error:gsub(" ", "_"))
      end
      local after = http.get(salvo.env.BASE .. "/ok", p)
      salvo.log("after status=" .. after.status .. " code=" .. after.error_code)
    end
    """


def run_batch_then_get(run_salvo, script, server, paths):
    path = script(BATCH_THEN_GET.format(paths=", ".join(json.dumps(p) for p in paths)))
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == len(paths) + 1
    return r, [logged(r.err, f"item{i} ") for i in range(1, len(paths) + 1)], \
        logged(r.err, "after ")


@needs_h2
def test_graceful_goaway_lets_the_open_streams_finish(run_salvo, script, h2_server):
    server = h2_server()
    paths = ["/delay/400", "/goaway-graceful", "/delay/200"]
    r, items, after = run_batch_then_get(run_salvo, script, server, paths)
    assert [(g["status"], g["code"]) for g in items] == [("200", "0")] * 3, items
    assert [g["body"] for g in items] == ["late", "ok", "late"]
    assert after == {"status": "200", "code": "0"}
    assert r.export["salvo"]["errors"] == []
    # the batch on the first connection, once each; the next request on a new one
    assert sorted((s.conn, s.path) for s in server.streams) == \
        sorted([(1, p) for p in paths] + [(2, "/ok")])


@needs_h2
def test_invalid_frame_fails_the_streams_open_on_the_connection(run_salvo, script,
                                                                h2_server):
    server = h2_server()
    paths = ["/delay/2000", "/bad-frame", "/stall"]
    r, items, after = run_batch_then_get(run_salvo, script, server, paths)
    # nghttp2 ends the connection (a GOAWAY of its own); every stream on it fails at
    # once with k6's connection-error code, not by waiting for the 5 s timeout
    assert [(g["status"], g["code"]) for g in items] == [("0", "1652")] * 3, items
    assert items[0]["error"] == "http2:_connection_error_with_http2_ErrCode_PROTOCOL_ERROR"
    assert r.seconds < 4, r.seconds
    assert errors_by_code(r.export) == {1652: 3}
    # the VU goes on with a new connection
    assert after == {"status": "200", "code": "0"}
    assert [s.conn for s in server.streams if s.path == "/ok"] == [2]
    assert wait_until(lambda: 1 in server.closed, timeout=5)


def test_http_debug_shows_an_h2_exchange(run_salvo, h2c_nginx):
    r = run_salvo("run", "--url", h2c_nginx.url(), "--http2", "--iterations", 1, "-q",
                  "--http-debug=full")
    assert_passed(r, 1)
    request, _, response = r.err.partition("Response:")
    assert "GET /hello HTTP/1.1" in request
    lines = response.strip().splitlines()
    assert lines[0] == "HTTP/2.0 200", r.err
    assert "content-type: text/plain" in lines  # as received: lower case
    assert lines[-1] == "hello"


LIMIT_BATCH = """\
    local http = require("salvo.http")
    local salvo = require("salvo")
    options = {{ iterations = 2, vus = 1 }}
    function default()
      local reqs = {{}}
      for i = 1, {n} do
        reqs[i] = {{ "GET", salvo.env.BASE .. "/delay/200", nil, {{ http_version = "HTTP/2" }} }}
      end
      http.batch(reqs)
    end
    """


@needs_h2
@pytest.mark.parametrize("limit", [
    4,  # the refused streams of the first flight fit on the one connection they go to
    2,
])
def test_batch_past_the_servers_stream_limit_succeeds(run_salvo, script, h2_server, limit):
    server = h2_server(max_streams=limit)
    r = run_script(run_salvo, script(LIMIT_BATCH.format(n=8)), "--workers", 1,
                   base=server.url(""))
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == 16
    assert r.export["salvo"]["errors"] == [], server.refused
    assert server.responses == 16
    # streams wait for the server's SETTINGS: none goes past its limit to be refused
    assert not server.refused


@needs_h2
@pytest.mark.parametrize("limit", [
    4,
    2,
])
def test_streams_past_the_servers_stream_limit_succeed(run_salvo, h2_server, limit):
    server = h2_server(max_streams=limit)
    # 6 VUs: with 4 streams on the first connection, at most 2 wait for another one
    r = run_salvo("run", "--url", server.url("/delay/100"), "--http2", "--vus", 6,
                  "--streams", 6, "--workers", 1, "--iterations", 36)
    assert_passed(r, 36)
    assert server.responses == 36
    assert server.conn_count >= 2


@needs_h2
def test_interim_responses_are_skipped(run_salvo, script, h2_server):
    server = h2_server()
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 1 }
        function default()
          local r = http.get(salvo.env.BASE .. "/early-hints", { http_version = "HTTP/2" })
          salvo.log("hints status=" .. r.status .. " code=" .. r.error_code ..
                    " body=" .. r.body ..
                    " link=" .. tostring(r.headers["Link"]) ..
                    " type=" .. tostring(r.headers["Content-Type"]):gsub("/", "_"))
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert_passed(r, 1)
    # the 103's headers are not the response's
    assert logged(r.err, "hints ") == {"status": "200", "code": "0", "body": "ok",
                                       "link": "nil", "type": "text_plain"}


@needs_h2
def test_connection_closed_mid_body_fails_with_1000(run_salvo, script, h2_server):
    server = h2_server()
    r, got = run_sequence(run_salvo, script, server, ["/ok", "/close-mid", "/ok"])
    assert [(g["status"], g["code"]) for g in got] == [("200", "0"), ("200", "1000"),
                                                      ("200", "0")], got
    assert got[1]["error"] == \
        "[unexpected_EOF:_connection_closed_before_the_response_ended]"
    assert errors_by_code(r.export) == {1000: 1}
    # not resent (the server may have acted on it); the next request on a new connection
    assert [(s.conn, s.path) for s in server.streams] == [(1, "/ok"), (1, "/close-mid"),
                                                          (2, "/ok")]


@needs_h2
def test_response_head_past_64k_fails_as_over_http1_1(run_salvo, script, h2_server):
    server = h2_server()
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 1 }
        function default()
          local r = http.get(salvo.env.BASE .. "/big-head/3", { http_version = "HTTP/2" })
          salvo.log("big code=" .. r.error_code .. " last=" .. #(r.headers["X-Big-2"] or ""))
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert r.code == 0, r.err
    got = logged(r.err, "big ")
    assert got["code"] == "1703", got  # today: code=0 last=0 (cut to nothing)


@needs_h2
def test_resent_requests_carry_their_whole_body(run_salvo, script, h2_server):
    server = h2_server()
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 1 }
        function default()
          local body = string.rep("resend me ", 30000)  -- 300 KB: several windows' worth
          local p = { http_version = "HTTP/2" }
          for _, path in ipairs({ "/refuse-once/post", "/goaway-once/post" }) do
            local r = http.post(salvo.env.BASE .. path, body, p)
            salvo.log(path:gsub("/", "_") .. " status=" .. r.status .. " code=" .. r.error_code)
          end
        end
        """)
    r = run_script(run_salvo, path, "--workers", 1, base=server.url(""))
    assert_passed(r, 2)
    assert logged(r.err, "_refuse-once_post ") == {"status": "200", "code": "0"}
    assert logged(r.err, "_goaway-once_post ") == {"status": "200", "code": "0"}
    body = b"resend me " * 30000
    assert [(s.conn, s.method, s.path) for s in server.streams] == [
        (1, "POST", "/refuse-once/post"), (1, "POST", "/refuse-once/post"),
        (1, "POST", "/goaway-once/post"), (2, "POST", "/goaway-once/post")]
    assert all(s.body == body for s in server.streams), [len(s.body) for s in server.streams]


@needs_h2
def test_stalled_streams_time_out_and_are_reset(run_salvo, h2_server):
    server = h2_server()
    r = run_salvo("run", "--url", server.url("/stall"), "--http2", "--vus", 4, "--streams", 4,
                  "--workers", 1, "--timeout", "300ms", "--iterations", 8)
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == 8
    assert errors_by_code(r.export) == {1050: 8}
    assert r.seconds < 10
    # each stream reset with CANCEL when its time was up
    assert wait_until(lambda: len(server.client_resets) == 8, timeout=5), server.client_resets
    assert {code for _, _, code in server.client_resets} == {8}
    assert len(server.streams) == 8  # none resent


def test_h2c_server_that_never_answers_times_out(run_salvo, python_server):
    server = python_server(SilentServer)
    r = run_salvo("run", "--url", server.url("/x"), "--http2", "--vus", 2, "--iterations", 4,
                  "--timeout", "300ms")
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == 4
    assert errors_by_code(r.export) == {1050: 4}
    assert error_lines(r.out)[1050] == ("request timeout", 4)
