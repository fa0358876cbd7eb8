"""k6's HTTP options, from flags and from a script's options: userAgent,
noConnectionReuse, discardResponseBodies, maxRedirects and rps."""
from conftest import KeepAliveServer, metric
from test_scripts import RedirectServer, run_script


def user_agents(server):
    agents = []
    for head in server.heads:
        values = [line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]
                  if line.lower().startswith("user-agent:")]
        agents.append(values)
    return agents


def test_user_agent_flag_and_option(run_salvo, python_server, script):
    server = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 2, "--user-agent", "bot/1", "-q")
    assert r.code == 0, r.err
    assert user_agents(server) == [["bot/1"], ["bot/1"]]
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 2, userAgent = "script-agent/2" }
        function default()
          http.get(salvo.env.BASE .. "/a")
          http.get(salvo.env.BASE .. "/b", { headers = { ["User-Agent"] = "own/3" } })
        end
        """)
    r = run_script(run_salvo, path, base=server.url("").rstrip("/"))
    assert r.code == 0, r.err
    # the option replaces the default; a request's own header wins over the option
    assert user_agents(server)[2:] == [["script-agent/2"], ["own/3"]] * 2


def test_empty_user_agent_sends_none(run_salvo, python_server):
    server = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", server.url(), "--iterations", 1, "-q", "--user-agent", "")
    assert r.code == 0, r.err
    assert user_agents(server) == [[]]


def test_no_connection_reuse_dials_for_every_request(run_salvo, python_server):
    reused = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", reused.url(), "--vus", 1, "--iterations", 10, "-q")
    assert r.code == 0 and reused.accepted == 1, r.err
    fresh = python_server(KeepAliveServer)
    r = run_salvo("run", "--url", fresh.url(), "--vus", 1, "--iterations", 10, "-q",
                  "--no-connection-reuse")
    assert r.code == 0, r.err
    assert fresh.accepted == 10 and fresh.requests == 10


def test_discard_response_bodies(run_salvo, demo, script):
    path = script(f"""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = {{ iterations = 1, discardResponseBodies = true }}
        function default()
          local r = http.get("{demo.url('/bytes/100')}")
          local kept = http.get("{demo.url('/bytes/100')}", {{ response_type = "text" }})
          salvo.check(r, {{
            ["discarded"] = function(r) return r.body == nil or #r.body == 0 end,
            ["text when asked"] = function() return #kept.body == 100 end,
            ["still measured"] = function(r) return r.status == 200 end,
          }})
        end
        """)
    r = run_salvo("run", path, "-q")
    assert r.code == 0, r.err
    assert metric(r.export, "checks", "passes") == 3
    assert metric(r.export, "data_received", "count") > 200  # the bytes were read


def test_max_redirects_option(run_salvo, python_server, script):
    server = python_server(RedirectServer)
    path = script("""\
        local http = require("salvo.http")
        local salvo = require("salvo")
        options = { iterations = 1, maxRedirects = 2 }
        function default()
          salvo.check(http.get(salvo.env.BASE .. "/loop"), {
            ["the option's budget ends the loop"] = function(r) return r.status == 302 end })
          salvo.check(http.get(salvo.env.BASE .. "/old", { redirects = 5 }), {
            ["a request's own budget wins"] = function(r) return r.status == 200 end })
        end
        """)
    r = run_script(run_salvo, path, base=server.url("").rstrip("/"))
    assert r.code == 0, r.err
    assert metric(r.export, "checks", "passes") == 2
    paths = [head.split(" ")[1] for head in server.heads]
    assert paths.count("/loop") == 3  # the first request and two redirects


def test_rps_caps_request_starts(run_salvo, demo):
    """20 VUs could send thousands a second; the cap lets one request start every
    1/50 s. VUs waiting for their turn when the 2 s end are iterations in flight and
    go during the graceful stop, still one every 1/50 s: so the run holds at most
    50 a second of its own length, plus the first."""
    r = run_salvo("run", "--url", demo.url(), "--vus", 20, "--duration", "2s", "--rps", 50,
                  "--workers", 1, "-q")
    assert r.code == 0, r.err
    reqs = metric(r.export, "http_reqs", "count")
    seconds = r.export["salvo"]["duration_ms"] / 1000
    assert reqs <= 50 * seconds + 1, (reqs, seconds)
    assert reqs >= 100  # the cap, not the VUs, was the limit
    assert demo.stats() == reqs
