"""SIGINT / SIGTERM stop a run early: exit code 105, and the summary and the export
still hold what was measured. A second SIGINT stops at once."""
import fcntl
import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import StallServer, metric, wait_until

# Generous: sanitizer builds are slow, and a hung run is what we look for.
PROMPT = 10


def start_run(salvo, url, export, *extra):
    return subprocess.Popen(
        [salvo, "run", "--url", url, "--summary-export", str(export), *map(str, extra)],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def finish(proc, timeout=PROMPT):
    """Waits for our run to exit; returns (code, stdout, stderr, seconds waited)."""
    started = time.monotonic()
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate(timeout=5)
        pytest.fail(f"salvo did not exit within {timeout}s of the signal:\n{out!r}\n{err!r}")
    return (proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"),
            time.monotonic() - started)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_a_long_run(salvo, demo, tmp_path, sig):
    export = tmp_path / "summary.json"
    proc = start_run(salvo, demo.url(), export, "--vus", 5, "--duration", "30s")
    try:
        assert wait_until(lambda: demo.stats() > 100), "no load arrived"
        os.kill(proc.pid, sig)
        code, out, err, _ = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert code == 105, err
    assert "interrupted after" in out
    assert "http_reqs" in out
    data = json.loads(export.read_text())
    assert data["salvo"]["interrupted"] is True
    n = metric(data, "http_reqs", "count")
    assert 100 < n <= demo.stats()
    assert data["salvo"]["duration_ms"] < 25000
    assert data["salvo"]["errors"] == [], "interrupted requests are not failures"


def test_signal_interrupts_requests_in_flight(salvo, python_server, tmp_path):
    """Requests that would wait a minute for a stalled server are abandoned at once."""
    server = python_server(StallServer)
    export = tmp_path / "summary.json"
    proc = start_run(salvo, server.url(), export, "--vus", 3, "--duration", "30s",
                     "--timeout", "60s")
    try:
        assert wait_until(lambda: server.requests >= 3), "the VUs never sent their requests"
        os.kill(proc.pid, signal.SIGINT)
        code, out, err, waited = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert code == 105, err
    assert waited < PROMPT
    data = json.loads(export.read_text())
    assert data["salvo"]["interrupted"] is True
    # cut short, not failed: no request was measured
    assert metric(data, "interrupted_iterations", "count") == 3
    assert metric(data, "http_reqs", "count") == 0
    assert data["salvo"]["errors"] == []


def test_signal_stops_an_open_model_run(salvo, demo, tmp_path):
    export = tmp_path / "summary.json"
    proc = start_run(salvo, demo.url("/delay/100"), export, "--rate", "50/s",
                     "--duration", "30s", "--max-vus", 20)
    try:
        assert wait_until(lambda: demo.stats() > 20), "no load arrived"
        os.kill(proc.pid, signal.SIGINT)
        code, out, err, _ = finish(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
    assert code == 105, err
    data = json.loads(export.read_text())
    assert data["salvo"]["interrupted"] is True
    started = metric(data, "iterations", "count") + metric(data, "interrupted_iterations",
                                                           "count")
    assert 20 <= started < 1500  # far fewer than the 1500 a full run schedules


def choked_pipe(free):
    """A pipe with only `free` bytes of room: whoever writes more blocks until we read."""
    r, w = os.pipe()
    try:
        size = fcntl.fcntl(w, fcntl.F_SETPIPE_SZ, 4096)
    except (AttributeError, OSError):
        size = fcntl.fcntl(w, 1032)  # F_GETPIPE_SZ
    os.write(w, b"." * (size - free))
    return r, w


class Drain:
    """Reads a pipe on a thread, from when start() is called until EOF."""

    def __init__(self, fd):
        self.fd, self.chunks = fd, []
        self.thread = threading.Thread(target=self._read, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def _read(self):
        try:
            while True:
                chunk = os.read(self.fd, 65536)
                if not chunk:
                    return
                self.chunks.append(chunk)
        except OSError:
            pass
        finally:
            os.close(self.fd)

    def text(self):
        self.thread.join(5)
        return b"".join(self.chunks).decode("utf-8", "replace")


def wait_until_stalled(target, timeout=15):
    """Waits until the target's request count stops moving (the VUs are stuck)."""
    last, deadline = -1, time.monotonic() + timeout
    while time.monotonic() < deadline:
        n = target.stats()
        if n == last and n > 0:
            return n
        last = n
        time.sleep(0.3)
    pytest.fail("the load never stalled")


def start_with_pipes(salvo, url, export, stdout, stderr, *extra):
    proc = subprocess.Popen(
        [salvo, "run", "--url", url, "--summary-export", str(export), *map(str, extra)],
        stdin=subprocess.DEVNULL, stdout=stdout, stderr=stderr)
    os.close(stdout)
    os.close(stderr)
    return proc


def wait_or_kill(proc, timeout):
    """Exit code, or None after killing our run when it did not exit in time."""
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        return None


def test_second_sigint_stops_stuck_workers(salvo, demo, tmp_path):
    """--http-debug into a stderr nobody reads: the workers block on the full pipe and
    cannot stop gracefully. The second SIGINT must end the run anyway."""
    export = tmp_path / "summary.json"
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()  # never read while the run lives
    proc = start_with_pipes(salvo, demo.url(), export, out_w, err_w, "--vus", 4,
                            "--workers", 2, "--duration", "30s", "--http-debug")
    out = Drain(out_r).start()
    try:
        wait_until_stalled(demo)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGINT)
        code = wait_or_kill(proc, 8)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
        os.close(err_r)
    assert code == 105, f"exit code {code} (None: still running 8 s after the second SIGINT)"
    assert "interrupted after" in out.text()
    assert json.loads(export.read_text())["salvo"]["interrupted"] is True


def test_second_sigint_while_the_summary_is_written(salvo, demo, tmp_path):
    """Ctrl-C twice: the first stops the run; the second lands while the summary goes to a
    slow terminal (here: a full pipe). The export must still be written."""
    export = tmp_path / "summary.json"
    out_r, out_w = choked_pipe(free=64)  # --quiet: the summary is the first output
    proc = start_with_pipes(salvo, demo.url(), export, out_w, os.open(os.devnull, os.O_WRONLY),
                            "--vus", 2, "--duration", "30s", "--quiet")
    try:
        assert wait_until(lambda: demo.stats() > 50), "no load arrived"
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(1)  # the run stops; salvo blocks writing its summary
        assert proc.poll() is None
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.2)
        out = Drain(out_r).start()
        code = wait_or_kill(proc, PROMPT)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    assert code == 105, f"exit code {code}"
    assert "interrupted after" in out.text()
    data = json.loads(export.read_text() or "null")
    assert data and data["salvo"]["interrupted"] is True


def test_abandoned_workers_do_not_touch_freed_memory(salvo, demo, tmp_path):
    """After a hard stop the workers are left running: whatever they do before the process
    exits must be safe. Here they are stuck on stderr until salvo has torn the run down
    (it is then blocked on stdout), and resume before it exits."""
    export = tmp_path / "summary.json"
    out_r, out_w = choked_pipe(free=64)
    err_r, err_w = os.pipe()
    proc = start_with_pipes(salvo, demo.url(), export, out_w, err_w, "--vus", 4,
                            "--workers", 2, "--duration", "30s", "--http-debug", "--quiet")
    try:
        wait_until_stalled(demo)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(0.5)
        os.kill(proc.pid, signal.SIGINT)
        time.sleep(1)  # the run is torn down; salvo blocks writing its summary
        err = Drain(err_r).start()  # the workers resume
        time.sleep(2)
        out = Drain(out_r).start()  # salvo finishes
        code = wait_or_kill(proc, PROMPT)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(5)
    err_text = err.text()
    assert "AddressSanitizer" not in err_text, err_text[err_text.find("ERROR"):][:3000]
    assert code == 105
    assert "interrupted after" in out.text()
