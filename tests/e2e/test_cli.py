"""Usage and configuration errors: exit code 2 and exactly one line on stderr that
starts with "salvo: ", before any load is sent."""
import pytest

from conftest import free_port

# Nothing listens there: a run that got past validation would fail its requests but
# exit 0, so a wrong exit code cannot hide behind a working target.
URL = "http://127.0.0.1:PORT/hello"  # PORT: a free port, chosen per test


@pytest.fixture
def url():
    return URL.replace("PORT", str(free_port()))


def assert_usage_error(r, *words):
    assert r.code == 2, (r.code, r.out, r.err)
    lines = r.err.splitlines()
    assert len(lines) == 1, r.err
    assert lines[0].startswith("salvo: "), r.err
    for w in words:
        assert w in lines[0], (w, lines[0])
    assert r.out == "", "a usage error prints no banner or summary"


USAGE_ERRORS = [
    (["run", "--url", URL, "--bogus"], ["--bogus"]),
    (["run", "--url", URL, "-Z"], ["-Z"]),
    (["run", "--url", URL, "--duration", "abc"], ["--duration", "abc"]),
    (["run", "--url", URL, "--duration"], ["--duration"]),
    (["run", "--url", URL, "--vus", "ten", "--duration", "1s"], ["--vus", "ten"]),
    (["run", "--url", URL, "--rate", "10/x", "--duration", "1s"], ["--rate", "10/x"]),
    (["run", "--url", URL, "--rate", "fast", "--duration", "1s"], ["--rate"]),
    (["run", "--url", "ftp://x/"], ["--url", "ftp://x/"]),
    (["run", "--url", "http://"], ["--url"]),
    (["run", "--url", "http://127.0.0.1:99999/"], ["--url"]),
    (["run", "--url", "127.0.0.1:8080/hello"], []),
    (["run"], ["--url"]),
    (["run", "--vus", "5", "--duration", "1s"], ["--url"]),
    (["run", "--url", URL, "--rate", "10/s"], ["--rate", "--duration"]),
    (["run", "--url", URL, "--max-vus", "5"], ["--max-vus", "--rate"]),
    (["run", "--url", URL, "--overload", "queue"], ["--overload", "--rate"]),
    (["run", "--url", URL, "--rate", "10/s", "--duration", "1s", "--overload", "maybe"],
     ["--overload", "maybe"]),
    (["run", "--url", URL, "--rate", "10/s", "--duration", "1s", "--vus", "20",
      "--max-vus", "10"], ["--vus", "--max-vus"]),
    (["run", "--url", URL, "--timeout", "soon"], ["--timeout", "soon"]),
    (["run", "--url", URL, "--max-response-size", "huge"], ["--max-response-size", "huge"]),
    (["run", "--url", URL, "-H", "no colon here"], ["--header"]),
    (["run", "--url", URL, "--tag", "novalue"], ["--tag", "novalue"]),
    (["run", "--url", URL, "--body", "a", "--body-file", "body.json"], ["--body"]),
    (["run", "--url", URL, "--http-debug=loud"], ["--http-debug", "loud"]),
    (["run", "--url", URL, "--quiet=yes"], ["--quiet"]),
    (["frobnicate"], ["frobnicate"]),
    (["serve", "--listen", "nonsense"], ["--listen", "nonsense"]),
    (["serve", "--bogus"], ["--bogus"]),
]


@pytest.mark.parametrize("args, words", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_usage_errors(run_salvo, url, args, words):
    args = [url if a == URL else a for a in args]
    assert_usage_error(run_salvo(*args, export=False, timeout=15), *words)


def test_unreadable_body_file(run_salvo, url, tmp_path):
    missing = tmp_path / "no-such-body.json"
    assert_usage_error(run_salvo("run", "--url", url, "--body-file", missing, export=False,
                                 timeout=15), "--body-file", str(missing))
    assert_usage_error(run_salvo("run", "--url", url, "--body-file", tmp_path, export=False,
                                 timeout=15), "--body-file")


def test_unwritable_summary_export(run_salvo, url, tmp_path):
    target = tmp_path / "no-such-dir" / "summary.json"
    r = run_salvo("run", "--url", url, "--summary-export", target, timeout=15)
    assert_usage_error(r, "--summary-export", str(target))
    assert not target.parent.exists()


def test_unwritable_export_is_caught_before_the_load(run_salvo, demo, tmp_path):
    r = run_salvo("run", "--url", demo.url(), "--iterations", 5,
                  "--summary-export", tmp_path / "missing" / "x.json", timeout=15)
    assert_usage_error(r, "--summary-export")
    assert demo.stats() == 0



def test_help_and_version(run_salvo):
    top = run_salvo("--help", export=False, timeout=15)
    assert top.code == 0 and "Usage: salvo <command>" in top.out
    for cmd in ("run", "serve", "version"):
        assert cmd in top.out
    run = run_salvo("run", "--help", export=False, timeout=15)
    assert run.code == 0 and "Usage: salvo run" in run.out
    for opt in ("--url", "--vus", "--duration", "--iterations", "--rate", "--max-vus",
                "--overload", "--timeout", "--workers", "--max-response-size",
                "--summary-export", "--tag", "--http-debug", "--quiet", "--no-progress",
                "--no-summary", "--body-file", "--header", "--method"):
        assert opt in run.out, opt
    serve = run_salvo("serve", "--help", export=False, timeout=15)
    assert serve.code == 0 and "--listen" in serve.out
    version = run_salvo("version", export=False, timeout=15)
    assert version.code == 0
    assert version.out.startswith("salvo ") and version.out.count("\n") == 1


def test_help_wins_over_other_options(run_salvo, url):
    # --help sends no load, even with a URL to a target
    r = run_salvo("run", "--url", url, "--vus", "5", "--help", export=False, timeout=15)
    assert r.code == 0 and "Usage: salvo run" in r.out and r.err == ""


def test_no_command_prints_usage_and_fails(run_salvo):
    r = run_salvo(export=False, timeout=15)
    assert r.code == 2
    assert "Usage: salvo <command>" in r.err
