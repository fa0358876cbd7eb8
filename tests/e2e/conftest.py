"""Fixtures for the end-to-end tests: they drive the real salvo binary.

The binary comes from $SALVO (default: build/salvo in the repository). Targets are
the demo target (`salvo serve`), nginx, and small Python servers that misbehave on
purpose. Everything listens on 127.0.0.1 (or ::1); every process started here is
stopped by its PID; every wait has a deadline.
"""
import json
import os
import re
import resource
import shutil
import signal
import socket
import subprocess
import textwrap
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import NamedTuple, Optional

import pytest

REPO = Path(__file__).resolve().parents[2]
SERVE_LINE = re.compile(r"salvo serve: listening on http://(\S+):(\d+) ")
STOPPED_LINE = re.compile(r"salvo serve: stopped after (\d+) requests")

# A run that takes longer than this is hung, whatever it was asked to do.
RUN_TIMEOUT = 60


def pytest_configure(config):
    # salvo raises its own limit; the targets we start inherit ours.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 8192 if hard == resource.RLIM_INFINITY else min(hard, 8192)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))


# ---- the binary ------------------------------------------------------------------------


def salvo_path():
    path = Path(os.environ.get("SALVO") or REPO / "build" / "salvo")
    return path if path.is_absolute() else REPO / path


def salvo_is_sanitized():
    """Whether the binary was built with AddressSanitizer (-DSV_SANITIZE=ON)."""
    try:
        return b"__asan_init" in salvo_path().read_bytes()
    except OSError:
        return False


@pytest.fixture(scope="session")
def salvo():
    path = salvo_path()
    if not os.access(path, os.X_OK):
        pytest.fail(f"salvo binary not found at {path}: build it, or set SALVO=/abs/path/salvo")
    return str(path)


class Run(NamedTuple):
    code: int
    out: str
    err: str
    export: Optional[dict]
    seconds: float


def _load_export(path):
    try:
        text = Path(path).read_text()
    except FileNotFoundError:
        return None
    return json.loads(text) if text.strip() else None


@pytest.fixture
def run_salvo(salvo, tmp_path):
    """run_salvo(*args, timeout=60, export=True) -> Run(code, out, err, export, seconds).

    With export=True a --summary-export file in tmp_path is added and parsed."""
    counter = iter(range(1_000_000))

    def run(*args, timeout=RUN_TIMEOUT, export=True):
        argv = [salvo, *map(str, args)]
        export_path = None
        if export and args and args[0] == "run" and "--summary-export" not in args:
            export_path = tmp_path / f"export-{next(counter)}.json"
            argv += ["--summary-export", str(export_path)]
        started = time.monotonic()
        try:
            p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                               timeout=timeout)
        except subprocess.TimeoutExpired as e:  # subprocess.run has killed it
            pytest.fail(f"salvo did not finish within {timeout}s: {argv}\n"
                        f"stdout: {e.stdout!r}\nstderr: {e.stderr!r}")
        seconds = time.monotonic() - started
        out = p.stdout.decode("utf-8", "replace")
        err = p.stderr.decode("utf-8", "replace")
        exported = _load_export(export_path) if export_path else None
        return Run(p.returncode, out, err, exported, seconds)

    return run


def metric(export, name, field):
    """A metric field from an export, 0 when the metric has no samples (left out)."""
    return export["metrics"].get(name, {}).get(field, 0)


def errors_by_code(export):
    """{code: count} from the export's salvo.errors."""
    totals = {}
    for e in export["salvo"]["errors"]:
        totals[e["code"]] = totals.get(e["code"], 0) + e["count"]
    return totals


# ---- processes we start ----------------------------------------------------------------


class LineReader:
    """Collects a stream's lines on a thread so we can wait for one with a deadline."""

    def __init__(self, stream):
        self.lines = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._thread.start()

    def _pump(self, stream):
        for raw in iter(stream.readline, b""):
            with self._cond:
                self.lines.append(raw.decode("utf-8", "replace"))
                self._cond.notify_all()
        with self._cond:
            self.lines.append(None)  # EOF
            self._cond.notify_all()

    def wait_for(self, pattern, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self.lines:
                    if line is None:
                        return None
                    m = pattern.search(line)
                    if m:
                        return m
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def text(self, timeout=5):
        self._thread.join(timeout)
        with self._cond:
            return "".join(line for line in self.lines if line)


def stop_process(proc, sig=signal.SIGTERM, timeout=10):
    """Signals our child by PID, then kills it if it does not exit in time."""
    if proc.poll() is None:
        os.kill(proc.pid, sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    return proc.returncode


class DemoTarget:
    def __init__(self, salvo, listen="127.0.0.1:0", workers=1, extra=()):
        args = [salvo, "serve", "--workers", str(workers), *extra]
        if listen is not None:
            args[2:2] = ["--listen", listen]
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        self.stderr = LineReader(self.proc.stderr)
        m = self.stderr.wait_for(SERVE_LINE, timeout=15)
        if m is None:
            stop_process(self.proc, signal.SIGKILL)
            raise RuntimeError(f"salvo serve did not start: {self.stderr.text()!r}")
        self.host, self.port = m.group(1), int(m.group(2))

    def url(self, path="/hello"):
        return f"http://{self.host}:{self.port}{path}"

    def stats(self):
        """Requests the target counted (all but /stats and /health)."""
        with urllib.request.urlopen(self.url("/stats"), timeout=5) as r:
            return json.load(r)["requests"]

    def stop(self, sig=signal.SIGINT):
        code = stop_process(self.proc, sig)
        return code, self.stderr.text()


def stop_cleanly(target):
    """Stops a demo target the test left running; it must exit 0 (no crash, no leak report)."""
    if target.proc.poll() is not None and target.proc.returncode != 0:
        pytest.fail(f"the demo target died during the test: {target.stderr.text()!r}")
    code, text = target.stop()
    assert code == 0, f"the demo target exited {code} on SIGINT: {text!r}"


@pytest.fixture
def demo(salvo):
    """The demo target on 127.0.0.1, a free port, one worker."""
    target = DemoTarget(salvo)
    yield target
    stop_cleanly(target)


@pytest.fixture
def start_demo(salvo):
    """Starts more demo targets (e.g. on ::1); all are stopped afterwards."""
    started = []

    def start(**kw):
        target = DemoTarget(salvo, **kw)
        started.append(target)
        return target

    yield start
    for target in started:
        stop_cleanly(target)


def free_port(host="127.0.0.1"):
    """A port nothing listens on (bound, then released)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.fixture
def script(tmp_path):
    """script(source, name=None) writes a Lua script (dedented) to tmp_path; returns its
    path. Without a name each script gets a fresh one."""
    counter = iter(range(1000))

    def write(source, name=None):
        path = tmp_path / (name or f"script-{next(counter)}.lua")
        path.write_text(textwrap.dedent(source))
        return path

    return write


def wait_until(predicate, timeout=15, interval=0.05):
    """Polls predicate until it holds (True) or the timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return False


# ---- nginx -----------------------------------------------------------------------------

NGINX_HELLO = "Hello, salvo!"
BIG_SIZE = 1_000_000


class Nginx:
    def __init__(self, root: Path, access_log: bool, keepalive_timeout: str,
                 keepalive_requests: int):
        self.root = root
        self.port = free_port()
        self.big = root / "big.bin"
        self.big.write_bytes(bytes(i % 251 for i in range(BIG_SIZE)))
        self.log = root / "access.log"
        temp = [f"client_body_temp_path {root}/body;", f"proxy_temp_path {root}/proxy;"]
        features = subprocess.run(["nginx", "-V"], capture_output=True, text=True,
                                  timeout=10).stderr
        for mod in ("fastcgi", "uwsgi", "scgi"):
            if f"--without-http_{mod}_module" not in features:
                temp.append(f"{mod}_temp_path {root}/{mod};")
        log = (f"log_format salvo '$connection $request_method $uri $status';\n"
               f"    access_log {self.log} salvo;" if access_log else "access_log off;")
        # One process, no workers: nothing outlives the PID we stop, and no switch to
        # 'nobody' (who could not read pytest's tmp) when the tests run as root.
        self.conf = root / "nginx.conf"
        self.conf.write_text(f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    {log}
    {' '.join(temp)}
    default_type text/plain;
    keepalive_timeout {keepalive_timeout};
    keepalive_requests {keepalive_requests};
    server {{
        listen 127.0.0.1:{self.port};
        location = /hello {{ return 200 "{NGINX_HELLO}"; }}
        location = /big {{ alias {self.big}; }}
        location = /close {{ keepalive_timeout 0; return 200 "closing\\n"; }}
        location / {{ return 404; }}
    }}
}}
""")
        argv = ["nginx", "-p", str(root), "-c", str(self.conf)]
        if "-e filename" in subprocess.run(["nginx", "-h"], capture_output=True, text=True,
                                           timeout=10).stderr:
            argv += ["-e", str(root / "error.log")]  # nginx >= 1.19.5: not even at startup
        self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"nginx exited: {self.proc.stderr.read()!r} "
                                   f"{(root / 'error.log').read_text()!r}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.02)
        stop_process(self.proc, signal.SIGKILL)
        raise RuntimeError("nginx did not start listening")

    def url(self, path="/hello"):
        return f"http://127.0.0.1:{self.port}{path}"

    def log_lines(self):
        """Access log entries: (connection, method, uri, status)."""
        if not self.log.exists():
            return []
        return [tuple(line.split()) for line in self.log.read_text().splitlines() if line]

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)  # graceful: the access log is complete
        self.proc.stderr.close()


@pytest.fixture
def start_nginx(tmp_path):
    """start_nginx(access_log=False, keepalive_timeout='75s', keepalive_requests=100000)."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    started = []

    def start(access_log=False, keepalive_timeout="75s", keepalive_requests=100000):
        root = tmp_path / f"nginx-{len(started)}"
        root.mkdir()
        n = Nginx(root, access_log, keepalive_timeout, keepalive_requests)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


@pytest.fixture
def nginx(start_nginx):
    """nginx on a free 127.0.0.1 port, access log off."""
    return start_nginx()


# ---- InfluxDB ---------------------------------------------------------------------------


class Influx:
    """InfluxDB 1.x from Debian, its data in tmp, on free 127.0.0.1 ports."""

    def __init__(self, root: Path):
        self.port = free_port()
        conf = root / "influxdb.conf"
        conf.write_text(f"""
reporting-disabled = true
bind-address = "127.0.0.1:{free_port()}"
[meta]
  dir = "{root}/meta"
[data]
  dir = "{root}/data"
  wal-dir = "{root}/wal"
  query-log-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
""")
        self.proc = subprocess.Popen(["influxd", "-config", str(conf)], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self.up, timeout=30):
            stop_process(self.proc, signal.SIGKILL)
            raise RuntimeError("influxd did not answer /ping")
        self.query("CREATE DATABASE salvo", post=True)

    def url(self, db="salvo"):
        return f"http://127.0.0.1:{self.port}/{db}"

    def up(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/ping", timeout=1) as r:
                return r.status == 204
        except OSError:
            return False

    def query(self, q, post=False):
        data = urllib.parse.urlencode({"q": q, "db": "salvo"})
        url = f"http://127.0.0.1:{self.port}/query"
        req = urllib.request.Request(url, data=data.encode()) if post else \
            urllib.request.Request(f"{url}?{data}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def count(self, measurement):
        res = self.query(f'SELECT count("value") FROM "{measurement}"')["results"][0]
        return res["series"][0]["values"][0][1] if "series" in res else 0

    def stop(self):
        stop_process(self.proc)


@pytest.fixture
def influx(tmp_path):
    if shutil.which("influxd") is None:
        pytest.skip("influxd is not installed")
    root = tmp_path / "influx"
    root.mkdir()
    db = Influx(root)
    yield db
    db.stop()


# ---- Prometheus --------------------------------------------------------------------------


class Prometheus:
    """Prometheus from Debian with the remote-write receiver, its data in tmp."""

    def __init__(self, root: Path, *flags):
        self.port = free_port()
        conf = root / "prometheus.yml"
        conf.write_text("global: {}\n")
        self.proc = subprocess.Popen(
            ["prometheus", f"--config.file={conf}", f"--storage.tsdb.path={root / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--web.enable-remote-write-receiver",
             *flags],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_until(self.ready, timeout=30):
            stop_process(self.proc, signal.SIGKILL)
            raise RuntimeError("prometheus did not get ready")

    def write_url(self):
        return f"http://127.0.0.1:{self.port}/api/v1/write"

    def ready(self):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=1) as r:
                return r.status == 200
        except OSError:
            return False

    def query(self, promql):
        """The instant vector of a PromQL query: [(labels, value)]."""
        q = urllib.parse.urlencode({"query": promql})
        url = f"http://127.0.0.1:{self.port}/api/v1/query?{q}"
        with urllib.request.urlopen(url, timeout=30) as r:
            data = json.loads(r.read())
        assert data["status"] == "success", data
        return [(x["metric"], float(x["value"][1])) for x in data["data"]["result"]]

    def stop(self):
        stop_process(self.proc)


def start_prometheus(tmp_path, *flags):
    if shutil.which("prometheus") is None:
        pytest.skip("prometheus is not installed")
    root = tmp_path / "prometheus"
    root.mkdir()
    return Prometheus(root, *flags)


@pytest.fixture
def prometheus(tmp_path):
    p = start_prometheus(tmp_path)
    yield p
    p.stop()


@pytest.fixture
def prometheus_native(tmp_path):
    """Prometheus that takes native histograms."""
    p = start_prometheus(tmp_path, "--enable-feature=native-histograms")
    yield p
    p.stop()


# ---- Python servers --------------------------------------------------------------------


class TcpServer:
    """A threaded TCP server on 127.0.0.1; subclasses say what a connection gets."""

    def __init__(self):
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.accepted = 0
        self.requests = 0
        self.heads = []  # raw request heads, as received
        self.bodies = []
        self.conns = []
        self.threads = []
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(512)
        self.sock.settimeout(0.1)
        self.port = self.sock.getsockname()[1]
        self.acceptor = threading.Thread(target=self._accept_loop, daemon=True)
        self.acceptor.start()

    def url(self, path="/"):
        return f"http://127.0.0.1:{self.port}{path}"

    def _accept_loop(self):
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            conn.settimeout(10)
            with self.lock:
                self.accepted += 1
                self.conns.append(conn)
            t = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            with self.lock:
                self.threads.append(t)
            t.start()

    def _serve(self, conn):
        try:
            self.handle(conn)
        except OSError:
            pass
        finally:
            try:
                conn.close()
            except OSError:
                pass

    def requests_on(self, conn):
        """Yields (head, body) for each request on a kept-alive connection until EOF."""
        buf = b""
        while not self.stopping.is_set():
            req = self.read_request(conn, buf)
            if req is None:
                return
            head, body, buf = req
            yield head, body

    def read_request(self, conn, buf=b""):
        """Reads one request (head and Content-Length body). (head, body, rest) or None at EOF."""
        while b"\r\n\r\n" not in buf:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            buf += chunk
        head, _, rest = buf.partition(b"\r\n\r\n")
        m = re.search(rb"(?im)^content-length:\s*(\d+)", head)
        length = int(m.group(1)) if m else 0
        while len(rest) < length:
            chunk = conn.recv(65536)
            if not chunk:
                return None
            rest += chunk
        with self.lock:
            self.requests += 1
            self.heads.append(head.decode("latin-1"))
            self.bodies.append(rest[:length])
        return head, rest[:length], rest[length:]

    def handle(self, conn):
        raise NotImplementedError

    def stop(self):
        self.stopping.set()
        self.acceptor.join(5)
        self.sock.close()
        with self.lock:
            conns, threads = list(self.conns), list(self.threads)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in threads:
            t.join(5)


class KeepAliveServer(TcpServer):
    """A well-behaved HTTP/1.1 server: 'ok' to everything, keep-alive; counts accepts."""

    def handle(self, conn):
        for _ in self.requests_on(conn):
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


class ResetMidBodyServer(TcpServer):
    """Announces a long body, sends part of it, then resets the connection (SO_LINGER 0)."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 1000)
        time.sleep(0.05)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        conn.close()


class StallServer(TcpServer):
    """Reads the request and never answers."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        self.stopping.wait(60)


class GarbageServer(TcpServer):
    """Answers with bytes that are not HTTP."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.sendall(b"SSH-2.0-OpenSSH_9.2 this is not HTTP\r\n\r\n")
        self.stopping.wait(1)


class CloseBeforeResponseServer(TcpServer):
    """Reads the request, then closes the connection cleanly (FIN) without answering."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        conn.shutdown(socket.SHUT_WR)
        conn.settimeout(2)
        try:
            while conn.recv(4096):  # drain, so closing sends FIN rather than RST
                pass
        except OSError:
            pass


@pytest.fixture
def python_server():
    """python_server(cls) starts one of the servers above; all are stopped afterwards."""
    started = []

    def start(cls):
        server = cls()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
