"""Open model (--rate): iterations start on a fixed schedule whether earlier ones
finished or not; what cannot start is dropped (or queued) and counted, and late
starts are measured."""
import pytest

from conftest import metric

TRENDS = ("avg", "min", "med", "max", "p(90)", "p(95)")


@pytest.mark.parametrize("workers", [1, 2])
def test_schedule_is_exact(run_salvo, demo, workers):
    r = run_salvo("run", "--url", demo.url(), "--rate", "200/s", "--duration", "2s",
                  "--workers", workers)
    assert r.code == 0, r.err
    started = metric(r.export, "iterations", "count")
    dropped = metric(r.export, "dropped_iterations", "count")
    assert started + dropped == 400
    assert started >= 300, "a fast target keeps up with 200/s"
    assert demo.stats() == started == metric(r.export, "http_reqs", "count")
    assert r.export["salvo"]["errors"] == []
    assert 1.9 <= r.seconds < 12
    m = r.export["metrics"]
    for name in ("iteration_start_delay", "http_req_duration_corrected"):
        assert name in m and name in r.out
    assert r.export["salvo"]["trends"]["iteration_start_delay"]["count"] == started
    assert r.export["salvo"]["trends"]["http_req_duration_corrected"]["count"] == started
    cfg = r.export["salvo"]["config"]["scenarios"]["default"]
    assert cfg["executor"] == "constant-arrival-rate"
    assert cfg["rate"] == 200 and cfg["timeUnit"] == "1s" and cfg["duration"] == "2s"


@pytest.mark.parametrize("rate, duration, expected", [
    ("10/s", "1s", 10),
    ("30/m", "4s", 2),
    ("3/500ms", "2s", 12),
])
def test_rate_units(run_salvo, demo, rate, duration, expected):
    r = run_salvo("run", "--url", demo.url(), "--rate", rate, "--duration", duration)
    assert r.code == 0, r.err
    assert (metric(r.export, "iterations", "count")
            + metric(r.export, "dropped_iterations", "count")) == expected
    assert demo.stats() == metric(r.export, "iterations", "count")


def test_slow_target_drops_iterations(run_salvo, demo):
    """5 VUs on a 200 ms target serve about 25/s; at 100/s the rest are dropped."""
    r = run_salvo("run", "--url", demo.url("/delay/200"), "--rate", "100/s", "--duration", "2s",
                  "--max-vus", 5)
    assert r.code == 0, r.err
    started = metric(r.export, "iterations", "count")
    dropped = metric(r.export, "dropped_iterations", "count")
    assert started + dropped == 200
    assert dropped > started
    assert 5 <= started <= 60  # at most 5 busy VUs x about 10 requests each
    assert "dropped_iterations" in r.out
    assert r.export["metrics"]["vus_max"]["max"] <= 5
    assert demo.stats() == started
    assert r.export["salvo"]["errors"] == []


def test_queue_instead_of_drop(run_salvo, demo):
    """One VU, a 550 ms target, one arrival every 500 ms for 3 s (6 arrivals): dropping
    serves every other one; queueing serves all six, each later than the one before."""
    common = ["run", "--url", demo.url("/delay/550"), "--rate", "2/s", "--duration", "3s",
              "--vus", 1, "--max-vus", 1]
    dropping = run_salvo(*common)
    assert dropping.code == 0, dropping.err
    assert metric(dropping.export, "iterations", "count") == 3
    assert metric(dropping.export, "dropped_iterations", "count") == 3
    assert dropping.export["metrics"]["iteration_start_delay"]["max"] < 100  # on time

    queueing = run_salvo(*common, "--overload", "queue")
    assert queueing.code == 0, queueing.err
    assert metric(queueing.export, "iterations", "count") == 6
    assert "dropped_iterations" not in queueing.export["metrics"]
    delay = queueing.export["metrics"]["iteration_start_delay"]
    # the k-th arrival starts about 50*k ms late: the queue makes lateness grow
    assert delay["min"] < 100
    assert 200 <= delay["max"] < 500
    corrected = queueing.export["metrics"]["http_req_duration_corrected"]
    assert corrected["max"] >= 550 + 200
    assert queueing.export["salvo"]["config"]["scenarios"]["default"]["overload"] == "queue"


def test_corrected_duration_includes_the_start_delay(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url("/delay/100"), "--rate", "50/s", "--duration", "1s",
                  "--max-vus", 2, "--overload", "queue")
    assert r.code == 0, r.err
    m = r.export["metrics"]
    duration, corrected = m["http_req_duration"], m["http_req_duration_corrected"]
    for stat in TRENDS:
        assert corrected[stat] >= duration[stat], stat
    assert corrected["max"] > duration["max"] + 100  # queued for a while


def test_closed_model_has_no_open_model_metrics(run_salvo, demo):
    r = run_salvo("run", "--url", demo.url(), "--vus", 2, "--iterations", 20)
    assert r.code == 0, r.err
    for name in ("iteration_start_delay", "http_req_duration_corrected", "dropped_iterations"):
        assert name not in r.export["metrics"]
        assert name not in r.out


@pytest.mark.parametrize("workers", [1, 2])
def test_max_vus_are_one_pool(run_salvo, demo, workers):
    """An arrival is dropped only when all --max-vus VUs are busy, however many workers
    run them. 6/s on a 400 ms target keeps at most 3 requests in flight."""
    r = run_salvo("run", "--url", demo.url("/delay/400"), "--rate", "6/s", "--duration", "3s",
                  "--max-vus", 3, "--workers", workers)
    assert r.code == 0, r.err
    assert r.export["salvo"]["config"]["workers"] == workers
    assert metric(r.export, "dropped_iterations", "count") == 0
    assert metric(r.export, "iterations", "count") == 18
