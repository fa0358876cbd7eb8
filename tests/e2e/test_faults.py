"""A failing request is a counted, classified outcome (k6's error codes), never a
crash and never fatal: the run exits 0 and still writes its summary."""
import re

from conftest import (CloseBeforeResponseServer, GarbageServer, ResetMidBodyServer,
                      StallServer, errors_by_code, free_port, metric)


def error_lines(out):
    """{code: (message, count)} from the text summary's errors block."""
    _, sep, block = out.partition("errors (failed requests by kind):")
    assert sep, f"no errors block in the summary:\n{out}"
    found = {}
    for line in block.splitlines()[1:]:
        if not line.strip():
            break
        m = re.match(r"\s+(\d{4})\s+(.+?)\s+(\d+)$", line)
        assert m, f"unexpected line in the errors block: {line!r}"
        found[int(m.group(1))] = (m.group(2), int(m.group(3)))
    return found


def assert_all_failed_with(r, code, n):
    """n requests, every one failed with `code`, and the run itself went fine."""
    assert r.code == 0, r.err
    assert metric(r.export, "http_reqs", "count") == n
    assert errors_by_code(r.export) == {code: n}
    failed = r.export["metrics"]["http_req_failed"]
    assert (failed["passes"], failed["fails"]) == (n, 0)  # passes = failed requests, as in k6
    assert failed["value"] == 1
    assert error_lines(r.out)[code][1] == n
    assert "http_reqs" in r.out and "generator:" in r.out
    # only unexpected responses: the expected_response:true sub-metric has no samples
    assert "http_req_duration{expected_response:true}" not in r.export["metrics"]
    assert "{ expected_response:true }" not in r.out


def test_connection_refused(run_salvo):
    r = run_salvo("run", "--url", f"http://127.0.0.1:{free_port()}/", "--iterations", 4)
    assert_all_failed_with(r, 1212, 4)
    assert "connection refused" in error_lines(r.out)[1212][0]


def test_reset_mid_body(run_salvo, python_server):
    server = python_server(ResetMidBodyServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 3)
    assert_all_failed_with(r, 1220, 3)
    assert "reset by peer" in error_lines(r.out)[1220][0]
    # the bytes that did arrive before the reset are counted
    assert metric(r.export, "data_received", "count") >= 3 * 1000


def test_stalled_server_times_out(run_salvo, python_server):
    server = python_server(StallServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 2, "--vus", 2, "--timeout", "1s")
    assert_all_failed_with(r, 1050, 2)
    assert "timeout" in error_lines(r.out)[1050][0]
    # the timeout is honoured: not much earlier, not much later (sanitizer builds are slow)
    assert 0.9 <= r.seconds < 15
    duration = r.export["metrics"]["http_req_duration"]
    assert duration["min"] >= 900


def test_garbage_response(run_salvo, python_server):
    server = python_server(GarbageServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 3, "--timeout", "10s")
    assert_all_failed_with(r, 1702, 3)
    assert "malformed" in error_lines(r.out)[1702][0]
    assert r.seconds < 8, "garbage must fail at once, not wait for the timeout"


def test_close_before_response(run_salvo, python_server):
    server = python_server(CloseBeforeResponseServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 3, "--timeout", "10s")
    assert_all_failed_with(r, 1000, 3)
    assert "EOF" in error_lines(r.out)[1000][0]
    # a request that never reached a reused connection is not retried: one accept each
    assert server.accepted == 3


def test_response_over_the_size_cap(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url("/bytes/4096"), "--iterations", 3,
                  "--max-response-size", "1KB")
    assert_all_failed_with(r, 1703, 3)
    ok = run_salvo("run", "--url", demo.url("/bytes/500"), "--iterations", 3,
                   "--max-response-size", "1KB")
    assert ok.code == 0 and ok.export["salvo"]["errors"] == []
    assert metric(ok.export, "http_req_failed", "passes") == 0


def test_size_cap_counts_chunked_bodies(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url("/chunked/50000"), "--iterations", 2,
                  "--max-response-size", "10KB")
    assert_all_failed_with(r, 1703, 2)


def test_http_error_status(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url("/status/404"), "--iterations", 5, "--vus", 2)
    assert_all_failed_with(r, 1404, 5)
    assert demo.stats() == 5
    # a response arrived, so it has a status (unlike network errors)
    assert r.export["metrics"]["http_req_waiting"]["max"] > 0


def test_mixed_outcomes_are_split_by_code(run_salvo, demo):
    ok = run_salvo("run", "--url", demo.url("/status/200"), "--iterations", 4)
    assert ok.export["salvo"]["errors"] == []
    assert metric(ok.export, "http_req_failed", "passes") == 0
    assert metric(ok.export, "http_req_failed", "fails") == 4
    bad = run_salvo("run", "--url", demo.url("/status/503"), "--iterations", 4)
    assert errors_by_code(bad.export) == {1503: 4}


def test_unresolvable_host(run_salvo):
    r = run_salvo("run", "--url", "http://nonexistent.invalid/", "--iterations", 2,
                  "--timeout", "3s")
    assert r.code == 0, r.err
    codes = errors_by_code(r.export)
    assert sum(codes.values()) == 2
    assert set(codes) <= {1100, 1101}, codes
    assert set(error_lines(r.out)) == set(codes)


def test_faults_do_not_stop_a_timed_run(run_salvo):
    """A duration run against a dead port keeps going to the end and counts every try."""
    r = run_salvo("run", "--url", f"http://127.0.0.1:{free_port()}/", "--vus", 2,
                  "--duration", "1s")
    assert r.code == 0, r.err
    n = metric(r.export, "http_reqs", "count")
    assert n > 2
    assert errors_by_code(r.export) == {1212: n}
    assert metric(r.export, "iterations", "count") == n
