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


def nginx_temp_paths(root):
    """nginx's temp path directives, all under root (only for the modules it has)."""
    temp = [f"client_body_temp_path {root}/body;", f"proxy_temp_path {root}/proxy;"]
    features = subprocess.run(["nginx", "-V"], capture_output=True, text=True,
                              timeout=10).stderr
    for mod in ("fastcgi", "uwsgi", "scgi"):
        if f"--without-http_{mod}_module" not in features:
            temp.append(f"{mod}_temp_path {root}/{mod};")
    return temp


def launch_nginx(root, conf, port):
    """Starts nginx with conf (prefix root) and waits until it accepts on port."""
    argv = ["nginx", "-p", str(root), "-c", str(conf)]
    if "-e filename" in subprocess.run(["nginx", "-h"], capture_output=True, text=True,
                                       timeout=10).stderr:
        argv += ["-e", str(root / "error.log")]  # nginx >= 1.19.5: not even at startup
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {proc.stderr.read()!r} "
                               f"{(root / 'error.log').read_text()!r}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc
        except OSError:
            time.sleep(0.02)
    stop_process(proc, signal.SIGKILL)
    raise RuntimeError("nginx did not start listening")


class Nginx:
    def __init__(self, root: Path, access_log: bool, keepalive_timeout: str,
                 keepalive_requests: int):
        self.root = root
        self.port = free_port()
        self.big = root / "big.bin"
        self.big.write_bytes(bytes(i % 251 for i in range(BIG_SIZE)))
        self.log = root / "access.log"
        temp = nginx_temp_paths(root)
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
        self.proc = launch_nginx(root, self.conf, self.port)

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


def nginx_starter(tmp_path, prefix, make):
    """For a fixture to yield from: start(**kw) makes make(root, **kw), an nginx in a
    fresh folder under tmp_path; every one started is stopped afterwards."""
    if shutil.which("nginx") is None:
        pytest.skip("nginx is not installed")
    started = []

    def start(**kw):
        root = tmp_path / f"{prefix}-{len(started)}"
        root.mkdir()
        n = make(root, **kw)
        started.append(n)
        return n

    yield start
    for n in started:
        n.stop()


@pytest.fixture
def start_nginx(tmp_path):
    """start_nginx(access_log=False, keepalive_timeout='75s', keepalive_requests=100000)."""
    def make(root, access_log=False, keepalive_timeout="75s", keepalive_requests=100000):
        return Nginx(root, access_log, keepalive_timeout, keepalive_requests)

    yield from nginx_starter(tmp_path, "nginx", make)


@pytest.fixture
def nginx(start_nginx):
    """nginx on a free 127.0.0.1 port, access log off."""
    return start_nginx()


# ---- TLS: a test PKI and nginx over HTTPS ------------------------------------------------

_PKI_CONF = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca_ext]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1
[wrong_host_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:other.example
[client_ext]
basicConstraints = CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
# openssl ca, only for the expired certificate: x509 -req cannot date one in the past
[ca]
default_ca = past
[past]
database = {root}/cadb/index.txt
serial = {root}/cadb/serial
new_certs_dir = {root}/cadb
default_md = sha256
policy = any_name
unique_subject = no
email_in_dn = no
[any_name]
commonName = supplied
"""


class Pki:
    """A throwaway PKI made with the openssl CLI, EC P-256 keys throughout (so the
    TLS 1.2 suites are ECDHE-ECDSA ones). Each name is NAME.pem with its key NAME.key
    in root:

    - ca: the test CA, which signs
      - server: serverAuth for DNS:localhost and IP:127.0.0.1
      - expired: the same names, valid only on 2020-01-01
      - wrong_host: DNS:other.example only
    - unknown_ca: a second CA, trusted by no one, which signs
      - untrusted: the same names as server
    - client_ca: the CA nginx checks client certificates with, which signs
      - client: clientAuth, CN "salvo-test-client"
    """

    def __init__(self, root: Path):
        self.root = root
        (root / "cadb").mkdir()
        (root / "cadb" / "index.txt").write_text("")
        (root / "cadb" / "serial").write_text("1000\n")
        self.conf = root / "openssl.cnf"
        self.conf.write_text(_PKI_CONF.format(root=root))
        self._ca("ca", "salvo test CA")
        self._ca("unknown_ca", "salvo unknown CA")
        self._ca("client_ca", "salvo client CA")
        self._leaf("server", "localhost", "ca", "server_ext")
        self._leaf("wrong_host", "other.example", "ca", "wrong_host_ext")
        self._leaf("untrusted", "localhost", "unknown_ca", "server_ext")
        self._leaf("client", "salvo-test-client", "client_ca", "client_ext")
        self._expired("expired", "localhost")

    def cert(self, name):
        return self.root / f"{name}.pem"

    def key(self, name):
        return self.root / f"{name}.key"

    def _openssl(self, *args):
        p = subprocess.run(["openssl", *map(str, args)], cwd=self.root, capture_output=True,
                           text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError(f"openssl {' '.join(map(str, args))} failed: {p.stderr}")

    def _genkey(self, name):
        self._openssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
                      "-out", self.key(name))

    def _ca(self, name, cn):
        self._genkey(name)
        self._openssl("req", "-x509", "-new", "-key", self.key(name), "-subj", f"/CN={cn}",
                      "-days", 3650, "-config", self.conf, "-extensions", "ca_ext",
                      "-out", self.cert(name))

    def _csr(self, name, cn):
        self._genkey(name)
        csr = self.root / f"{name}.csr"
        self._openssl("req", "-new", "-key", self.key(name), "-subj", f"/CN={cn}",
                      "-config", self.conf, "-out", csr)
        return csr

    def _leaf(self, name, cn, ca, ext):
        csr = self._csr(name, cn)
        self._openssl("x509", "-req", "-in", csr, "-CA", self.cert(ca), "-CAkey", self.key(ca),
                      "-CAserial", self.root / f"{ca}.srl", "-CAcreateserial", "-days", 3650,
                      "-extfile", self.conf, "-extensions", ext, "-out", self.cert(name))

    def _expired(self, name, cn):
        csr = self._csr(name, cn)
        self._openssl("ca", "-batch", "-config", self.conf, "-extensions", "server_ext",
                      "-cert", self.cert("ca"), "-keyfile", self.key("ca"), "-notext",
                      "-startdate", "20200101000000Z", "-enddate", "20200102000000Z",
                      "-in", csr, "-out", self.cert(name))


@pytest.fixture(scope="session")
def pki(tmp_path_factory):
    """The test PKI (see Pki), made once per session."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is not installed")
    return Pki(tmp_path_factory.mktemp("pki"))


class TlsLogLine(NamedTuple):
    connection: str
    reused: str       # $ssl_session_reused: "r" when the session was resumed, else "."
    protocol: str     # TLSv1.2, TLSv1.3
    cipher: str       # OpenSSL's name: ECDHE-ECDSA-AES128-GCM-SHA256, TLS_AES_256_GCM_SHA384
    server_name: str  # the SNI the client sent, "-" for none
    client_verify: str  # SUCCESS, NONE, "FAILED:reason"
    status: str


class TlsNginx:
    """nginx serving HTTPS on a free 127.0.0.1 port with one of the PKI's certificates
    (TLS 1.2 and 1.3), like Nginx: one process, its prefix in root, stopped by PID.
    With client_ca it requires a client certificate signed by it (nginx then answers
    400 to a request without one). Every request is logged (see TlsLogLine).

    /hello answers "hello"; /whoami the subject of the client's certificate; /big
    BIG_SIZE bytes (i % 251); PUT /upload/NAME stores the body in root/www/upload,
    where GET reads it back."""

    def __init__(self, root: Path, pki: Pki, cert="server", client_ca=None,
                 keepalive_timeout="75s", keepalive_requests=100000):
        self.root = root
        self.port = free_port()
        self.log = root / "access.log"
        self.big = root / "big.bin"
        self.big.write_bytes(bytes(i % 251 for i in range(BIG_SIZE)))
        self.uploads = root / "www" / "upload"
        self.uploads.mkdir(parents=True)
        client = (f"ssl_verify_client on;\n        ssl_client_certificate {pki.cert(client_ca)};"
                  if client_ca else "")
        self.conf = root / "nginx.conf"
        self.conf.write_text(f"""
daemon off;
master_process off;
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    log_format tls '$connection|$ssl_session_reused|$ssl_protocol|$ssl_cipher|'
                   '$ssl_server_name|$ssl_client_verify|$status';
    access_log {self.log} tls;
    {' '.join(nginx_temp_paths(root))}
    default_type text/plain;
    keepalive_timeout {keepalive_timeout};
    keepalive_requests {keepalive_requests};
    server {{
        listen 127.0.0.1:{self.port} ssl;
        ssl_certificate {pki.cert(cert)};
        ssl_certificate_key {pki.key(cert)};
        ssl_protocols TLSv1.2 TLSv1.3;
        {client}
        location = /hello {{ return 200 "hello"; }}
        location = /whoami {{ return 200 "$ssl_client_s_dn"; }}
        location = /big {{ alias {self.big}; }}
        location /upload/ {{
            root {root}/www;
            dav_methods PUT;
            client_max_body_size 64m;
        }}
        location / {{ return 404; }}
    }}
}}
""")
        self.proc = launch_nginx(root, self.conf, self.port)

    def url(self, path="/hello", host="localhost"):
        return f"https://{host}:{self.port}{path}"

    def log_lines(self, at_least=0):
        """The access log as TlsLogLine, once it has at_least lines or after 10 s: nginx
        writes a request's line just after sending its response, so a run can end a
        moment before its last line is there."""

        def read():
            if not self.log.exists():
                return []
            return [TlsLogLine(*line.split("|"))
                    for line in self.log.read_text().splitlines() if line]

        wait_until(lambda: len(read()) >= at_least, timeout=10)
        return read()

    def stop(self):
        stop_process(self.proc, signal.SIGQUIT)
        self.proc.stderr.close()


@pytest.fixture
def start_tls_nginx(tmp_path, pki):
    """start_tls_nginx(cert="server", client_ca=None, keepalive_timeout="75s",
    keepalive_requests=100000): see TlsNginx; all are stopped afterwards."""
    yield from nginx_starter(tmp_path, "tls-nginx", lambda root, **kw: TlsNginx(root, pki, **kw))


@pytest.fixture
def tls_nginx(start_tls_nginx):
    """nginx over HTTPS with the server certificate (localhost, 127.0.0.1)."""
    return start_tls_nginx()


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


class SilentServer(TcpServer):
    """Accepts and never sends a byte: a TLS handshake with it stalls."""

    def handle(self, conn):
        self.stopping.wait(60)


def hang_up(conn):
    """Closes our end cleanly (FIN) and drains the peer's, so the close is no RST."""
    conn.shutdown(socket.SHUT_WR)
    conn.settimeout(2)
    try:
        while conn.recv(4096):
            pass
    except OSError:
        pass


class CloseBeforeResponseServer(TcpServer):
    """Reads the request, then closes the connection cleanly (FIN) without answering."""

    def handle(self, conn):
        if self.read_request(conn) is None:
            return
        hang_up(conn)


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


# ---- what scripts log ---------------------------------------------------------------


def logged(err, tag):
    """The JSON values the script logged after `tag`, in order."""
    out = []
    for line in err.splitlines():
        _, sep, rest = line.partition(f"] {tag} ")
        if sep:
            out.append(json.loads(rest))
    return out


def one(err, tag):
    values = logged(err, tag)
    assert len(values) == 1, f"expected one {tag!r} line: {err[-3000:]!r}"
    return values[0]
