#!/usr/bin/env python3
"""Parsing and reporting for bench/run (standard library only).

  summarize.py wrk   WRK_OUTPUT TIME_FILE CONNS ROUND RC   -> one JSON line on stdout
  summarize.py salvo EXPORT_JSON TIME_FILE CONNS ROUND RC  -> one JSON line on stdout
  summarize.py salvo-script EXPORT_JSON TIME_FILE CONNS ROUND RC -> the same, for a script run
  summarize.py sleep EXPORT_JSON TIME_FILE VUS RC RSS_KB NGINX_ACTIVE SAMPLE_S [SNAP_BEFORE SNAP_AFTER]
      -> one JSON line for a memory run (bench/script-sleep.lua): salvo's VmRSS and
         nginx's active connections (without the status request) sampled SAMPLE_S
         seconds into the run
  summarize.py rate EXPORT_JSON TIME_FILE RATE MAX_VUS ROUND RC DURATION ACCESS_LOG OFF0 OFF1 [SNAP_BEFORE SNAP_AFTER]
      -> one JSON line for an arrival-rate run (salvo --rate RATE/s for DURATION): nginx's
         count and per-second spread from the access-log lines ($msec) between byte
         offsets OFF0 and OFF1, salvo's dropped_iterations and iteration_start_delay
  summarize.py output EXPORT_JSON TIME_FILE OUTPUT VUS DURATION ROUND RC STDERR_FILE OUT_BYTES OUT_SAMPLES SCRAPES_FILE THREADS_FILE [SNAP_BEFORE SNAP_AFTER] [--notes NOTES_FILE] [--prom PROM_FILE]
      -> one JSON line for an outputs run (salvo --url with OUTPUT: none, prometheus,
         prometheus-rw, json or json.gz, for DURATION): the --url figures, the json file's size and
         samples ("-" when there is no file or no count), the prometheus scrapes
         (SCRAPES_FILE: one "SECONDS HTTP_CODE BYTES salvo_http_reqs_total" line per
         scrape), salvo's stderr (a "samples were left out" warning) and each
         thread's time on CPU shortly before the end (THREADS_FILE: "TID NS" lines
         from /proc/PID/task/TID/schedstat, then "at SECONDS pid PID"). req/s is
         requests / DURATION: with a json stream salvo's own duration_ms (and so its
         http_reqs rate) includes time the collector spent writing after the load
         stopped. NOTES_FILE: the summary's (and stderr's) "OUTPUT:" lines, what an
         output could not deliver. PROM_FILE (prometheus-rw): "READY_S TICKS_BEFORE
         TICKS_AFTER SUM", the private Prometheus' seconds to ready, its utime+stime
         (clock ticks) around the run and its sum(salvo_http_reqs_total) afterwards
         ("-" for what is unknown).
  summarize.py handshake EXPORT_JSON TIME_FILE KIND VUS ROUND RC TLS_LOG OFF0 OFF1 [SNAP_BEFORE SNAP_AFTER]
      -> one JSON line for a handshake run (salvo --no-connection-reuse over HTTPS; KIND
         resumed or full): connections (= requests) per generator CPU-second, salvo's
         http_req_tls_handshaking and http_req_connecting, and nginx's access-log lines
         ("PORT REUSED PROTOCOL CIPHER GROUP", REUSED "r" or ".") between byte offsets
         OFF0 and OFF1: how many handshakes nginx resumed, with which protocol and group
  summarize.py h2 h2load|salvo OUTPUT TIME_FILE MODE CONNS STREAMS ROUND RC DURATION [SNAP_BEFORE SNAP_AFTER]
      -> one JSON line for an HTTP/2 run (MODE h2c or tls): h2load's text output (its
         succeeded requests, "req/s", "time for request" mean, "Application protocol")
         or salvo's export (http_reqs, http_req_duration, the proto tags of its
         http_reqs series); requests per generator CPU-second; from the snaps nginx's
         request count and the connections it accepted (server_conns)
  summarize.py sse EXPORT_JSON TIME_FILE VUS RC EVENTS SAMPLE_S SAMPLE_FILE REQS_BEFORE REQS_AFTER [SNAP_BEFORE SNAP_AFTER]
      -> one JSON line for an sse run (bench/script-sse.lua, one stream per VU, each
         of EVENTS events): SAMPLE_FILE is "SALVO_RSS_KB TARGET_RSS_KB HELD
         TARGET_RSS_BEFORE_KB" sampled SAMPLE_S seconds into the run (HELD: the demo
         target's established connections); salvo's sse_event count, the
         sse_stream_events trend (min/max per stream), http_req_failed and checks;
         REQS_*: the demo target's /stats request counter ("-" if unknown); the snaps
         are taken with the demo target's PID (its CPU is target_cpu_s)
  summarize.py threads PID START_EPOCH_S AT_S -> at START_EPOCH_S + AT_S, each thread of PID
      and its time on CPU ("TID NS" lines, /proc/PID/task/TID/schedstat), then "at S pid PID"
  summarize.py report RUNS_JSONL [--out FILE] [--header TEXT ...]
  summarize.py snap NGINX_PID [STATUS_URL]                 -> CPU (and nginx connection and request) counters, JSON
  summarize.py quiet NGINX_PID MAX_WAIT_S THRESHOLD_PCT    -> wait (at most MAX_WAIT_S) until
      processes other than nginx use less than THRESHOLD_PCT of one CPU over 1 s

The wrk and salvo forms take optional trailing "SNAP_BEFORE SNAP_AFTER" files
(from `snap`) to estimate how much CPU other processes on the machine used
during the run (a noise indicator: the benchmark assumes a quiet machine), and
an optional "--scenario url|script|https" naming the report section the run
belongs to (default url: the --url comparison; script: the bench/script-hello.lua
one; https: the keep-alive HTTPS one).

TIME_FILE is what `/usr/bin/time -f '%U %S %M %e' -o TIME_FILE` wrote: user and
system CPU seconds, peak RSS in KB, elapsed seconds (possibly preceded by a
"Command exited with non-zero status N" line).
"""
import json
import os
import re
import statistics
import sys
import time
import urllib.request

UNITS_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}


def parse_time(path):
    lines = [l.split() for l in open(path, encoding="utf-8").read().splitlines()]
    fields = [l for l in lines if len(l) == 4 and all(re.fullmatch(r"[0-9.]+", f) for f in l)]
    if not fields:
        raise SystemExit(f"summarize: no '%U %S %M %e' line in {path}")
    user, sys_, rss_kb, elapsed = fields[-1]
    return {"user_s": float(user), "sys_s": float(sys_),
            "rss_mb": int(rss_kb) / 1024.0, "elapsed_s": float(elapsed)}


def wrk_latency_ms(text, pct):
    m = re.search(r"^\s*%s%%\s+([0-9.]+)(us|ms|s|m)\s*$" % pct, text, re.M)
    if not m:
        return None
    return float(m.group(1)) * UNITS_MS[m.group(2)]


def parse_wrk(out_path):
    text = open(out_path, encoding="utf-8", errors="replace").read()
    m_reqs = re.search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m)", text, re.M)
    m_rate = re.search(r"^Requests/sec:\s*([0-9.]+)", text, re.M)
    if not (m_reqs and m_rate):
        raise SystemExit(f"summarize: cannot parse wrk output {out_path}:\n{text}")
    errors = 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if m:
        errors += sum(int(x) for x in m.groups())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        errors += int(m.group(1))
    return {"requests": int(m_reqs.group(1)), "rps": float(m_rate.group(1)),
            "p50_ms": wrk_latency_ms(text, 50), "p99_ms": wrk_latency_ms(text, 99),
            "errors": errors}


def parse_salvo(export_path):
    d = json.load(open(export_path, encoding="utf-8"))
    m = d["metrics"]
    failed = m.get("http_req_failed", {}).get("passes", 0)
    gen = d.get("salvo", {}).get("generator", {})
    return {"requests": int(m["http_reqs"]["count"]), "rps": float(m["http_reqs"]["rate"]),
            "p50_ms": float(m["http_req_duration"]["med"]),
            "p99_ms": float(d["salvo"]["trends"]["http_req_duration"]["p(99)"]),
            "errors": int(failed),
            "iterations": int(m.get("iterations", {}).get("count", 0)),
            "checks_passes": int(m.get("checks", {}).get("passes", 0)),
            "checks_fails": int(m.get("checks", {}).get("fails", 0)),
            "saturated": bool(gen.get("saturated", False)),
            "saturation_reason": gen.get("reason", "")}


def proc_jiffies(pid):
    """utime+stime of pid and its direct children, in clock ticks (0 if gone)."""
    total = 0
    pids = [pid]
    try:
        with open(f"/proc/{pid}/task/{pid}/children", encoding="utf-8") as f:
            pids += [int(p) for p in f.read().split()]
    except OSError:
        pass
    for p in pids:
        try:
            with open(f"/proc/{p}/stat", encoding="utf-8") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        except (OSError, IndexError, ValueError):
            pass
    return total


def nginx_counters(status_url):
    """nginx's stub_status counters of accepted connections and requests (both count
    the status request itself, which comes on a connection of its own)."""
    with urllib.request.urlopen(status_url, timeout=5) as resp:
        text = resp.read().decode("ascii", "replace")
    m = re.search(r"server accepts handled requests\s+(\d+)\s+(\d+)\s+(\d+)", text)
    if not m:
        raise SystemExit(f"summarize: unexpected stub_status output from {status_url}:\n{text}")
    return int(m.group(1)), int(m.group(3))


def cmd_snap(args):
    with open("/proc/stat", encoding="utf-8") as f:
        cpu = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(x) for x in cpu[:8])
    snap = {"task_busy": busy_jiffies(), "softirq": irq + softirq, "steal": steal,
            "nginx": proc_jiffies(int(args[0])), "hz": os.sysconf("SC_CLK_TCK")}
    if len(args) > 1:
        snap["nginx_accepts"], snap["nginx_requests"] = nginx_counters(args[1])
    print(json.dumps(snap))


def busy_jiffies():
    with open("/proc/stat", encoding="utf-8") as f:
        cpu = f.readline().split()[1:]
    user, nice, system, _idle, _iowait, irq, softirq = (int(x) for x in cpu[:7])
    # Tick-based accounting charges irq/softirq ticks to the interrupted task too.
    return user + nice + system + irq + softirq


def cmd_quiet(args):
    pid, max_wait, threshold = int(args[0]), float(args[1]), float(args[2])
    hz = os.sysconf("SC_CLK_TCK")
    start = time.monotonic()
    waited = False
    while True:  # bounded by max_wait
        b0, n0 = busy_jiffies(), proc_jiffies(pid)
        time.sleep(1.0)
        other = 100.0 * max(0, (busy_jiffies() - b0) - (proc_jiffies(pid) - n0)) / hz
        if other < threshold:
            if waited:
                print(f"bench: machine quiet now ({other:.0f}% of a CPU used by others)", file=sys.stderr)
            return
        if time.monotonic() - start >= max_wait:
            print(f"bench: machine still busy after {max_wait:.0f} s (others use {other:.0f}% of a CPU); "
                  "running anyway", file=sys.stderr)
            return
        if not waited:
            print(f"bench: other processes use {other:.0f}% of a CPU; waiting up to {max_wait:.0f} s "
                  "for them to finish", file=sys.stderr)
            waited = True


def cmd_threads(args):
    pid, start, at = int(args[0]), float(args[1]), float(args[2])
    time.sleep(max(0.0, start + at - time.time()))
    now = time.time()
    try:
        tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
    except OSError:
        tids = []
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", encoding="utf-8") as f:
                print(tid, f.read().split()[0])
        except (OSError, IndexError):
            pass
    print(f"at {now - start:.2f} pid {pid}")


def take_option(args, name, default):
    """Removes "name VALUE" from args; returns VALUE (or default)."""
    if name in args:
        i = args.index(name)
        if i + 1 >= len(args):
            raise SystemExit(f"summarize: {name} needs a value")
        value = args[i + 1]
        del args[i:i + 2]
        return value
    return default


def cmd_run(tool, args, scenario):
    out_path, time_path, conns, rnd, rc = args[:5]
    r = parse_wrk(out_path) if tool == "wrk" else parse_salvo(out_path)
    if tool == "salvo-script":
        # A failed check or an iteration without its one request is an error too.
        r["errors"] += r["checks_fails"]
        r["count_mismatch"] = not (r["checks_passes"] + r["checks_fails"] == r["iterations"] ==
                                   r["requests"])
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    r.update({"tool": tool, "scenario": scenario, "conns": int(conns), "round": int(rnd),
              "rc": int(rc), "cpu_s": cpu,
              "req_per_cpu_s": r["requests"] / cpu if cpu > 0 else float("nan")})
    r.update(snap_deltas(args[5:7], cpu, r["elapsed_s"]))
    print(json.dumps(r))


def snap_deltas(snaps, gen_cpu_s, elapsed_s, status_requests=1):
    """Noise and count figures from the `snap` files taken before and after a run.
    status_requests: stub_status requests made between the two snaps' own requests
    plus the "after" one (they are not the generator's)."""
    r = {}
    if len(snaps) == 2:
        a, b = (json.load(open(p, encoding="utf-8")) for p in snaps)
        hz = a["hz"]
        nginx_s = (b["nginx"] - a["nginx"]) / hz
        busy_s = (b["task_busy"] - a["task_busy"]) / hz
        # CPU time of tasks other than nginx and the generator, as % of one CPU.
        other = max(0.0, busy_s - nginx_s - gen_cpu_s)
        el = elapsed_s or float("nan")
        r.update({"nginx_cpu_s": nginx_s, "other_cpu_pct": 100.0 * other / el,
                  "softirq_s": (b["softirq"] - a["softirq"]) / hz,
                  "steal_pct": 100.0 * (b["steal"] - a["steal"]) / hz / el})
        if "nginx_requests" in a and "nginx_requests" in b:
            # Requests nginx received during the run; the status requests are not.
            r["server_requests"] = b["nginx_requests"] - a["nginx_requests"] - status_requests
        if "nginx_accepts" in a and "nginx_accepts" in b:
            # Connections nginx accepted during the run, less the status requests' own.
            r["server_conns"] = b["nginx_accepts"] - a["nginx_accepts"] - status_requests
    return r


def cmd_sleep(args):
    export_path, time_path, vus, rc, rss_kb, active, sample_s = args[:7]
    d = json.load(open(export_path, encoding="utf-8"))
    m = d["metrics"]
    r = {"tool": "salvo-sleep", "scenario": "memory", "vus": int(vus), "rc": int(rc),
         "rss_kb": int(rss_kb), "nginx_active": int(active), "sample_s": float(sample_s),
         "requests": int(m["http_reqs"]["count"]),
         "iterations": int(m.get("iterations", {}).get("count", 0)),
         "errors": int(m.get("http_req_failed", {}).get("passes", 0))}
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    r["cpu_s"] = cpu
    # The mid-run sample asked stub_status once, and so does the "after" snap.
    r.update(snap_deltas(args[7:9], cpu, r["elapsed_s"], status_requests=2))
    print(json.dumps(r))


DURATION_UNITS_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_duration_s(text):
    """salvo/wrk durations: 500ms, 10s, 1m, 1m30s, or plain seconds."""
    if re.fullmatch(r"[0-9.]+", text):
        return float(text)
    parts = re.findall(r"([0-9.]+)(ms|s|m|h)", text)
    if not parts or "".join(n + u for n, u in parts) != text:
        raise SystemExit(f"summarize: cannot parse duration {text!r}")
    return sum(float(n) * DURATION_UNITS_S[u] for n, u in parts)


def second_buckets(log_path, off0, off1):
    """Lines of the access log between two byte offsets ($msec, one per request):
    the count, and the counts per whole second of the full seconds (the first and
    the last second seen are partial and left out; a second without any line inside
    the range counts 0)."""
    with open(log_path, "rb") as f:
        f.seek(off0)
        data = f.read(off1 - off0)
    per_sec = {}
    stamps = [float(line) for line in data.split(b"\n") if line.strip()]
    for t in stamps:
        per_sec[int(t)] = per_sec.get(int(t), 0) + 1
    full = []
    if per_sec:
        lo, hi = min(per_sec), max(per_sec)
        full = [per_sec.get(t, 0) for t in range(lo + 1, hi)]
    # Requests in the first second after the first one (the start-up, which the
    # full seconds may leave out).
    first_1s = sum(1 for t in stamps if t < stamps[0] + 1.0) if stamps else 0
    return len(stamps), full, first_1s


def cmd_rate(args):
    export_path, time_path, rate, vus, rnd, rc, duration, log_path, off0, off1 = args[:10]
    rate, dur_s = int(rate), parse_duration_s(duration)
    d = json.load(open(export_path, encoding="utf-8"))
    m = d["metrics"]
    sv = d.get("salvo", {})
    gen = sv.get("generator", {})
    workers = gen.get("workers") or [{}]
    delay = m.get("iteration_start_delay", {})
    # p(99) is in metrics only when --summary-trend-stats asks for it; salvo.trends has it always.
    p99 = delay.get("p(99)", sv.get("trends", {}).get("iteration_start_delay", {}).get("p(99)"))
    count, full, first_1s = second_buckets(log_path, int(off0), int(off1))
    expected = round(rate * dur_s)
    iterations = int(m.get("iterations", {}).get("count", 0))
    dropped = int(m.get("dropped_iterations", {}).get("count", 0))
    r = {"tool": "salvo", "scenario": "rates", "rate": rate, "max_vus": int(vus), "round": int(rnd),
         "rc": int(rc), "duration_s": dur_s, "expected": expected,
         "nginx_count": count, "achieved_rps": count / dur_s,
         "count_error_pct": 100.0 * (count - expected) / expected if expected else float("nan"),
         "within_1pct": expected > 0 and abs(count - expected) <= 0.01 * expected,
         "full_seconds": len(full), "per_second": full, "first_1s": first_1s,
         "sec_min": min(full) if full else None, "sec_max": max(full) if full else None,
         "sec_mean": statistics.fmean(full) if full else None,
         "sec_stdev": statistics.pstdev(full) if full else None,
         "requests": int(m.get("http_reqs", {}).get("count", 0)),
         "iterations": iterations, "dropped": dropped,
         # Arrivals due in the run that salvo neither started nor counted as dropped.
         "unaccounted": expected - iterations - dropped,
         "start_delay_p99_ms": p99, "start_delay_med_ms": delay.get("med"),
         "vus_max_used": int(m.get("vus", {}).get("max", 0)),
         "errors": int(m.get("http_req_failed", {}).get("passes", 0)),
         "salvo_duration_s": sv.get("duration_ms", 0) / 1000.0,
         "worker_cpu_max": workers[0].get("cpu_max"), "loop_lag_p99_ms": workers[0].get("loop_lag_p99_ms"),
         "saturated": bool(gen.get("saturated")), "lagging": bool(gen.get("lagging")),
         "gen_reason": gen.get("reason") or gen.get("lag_reason") or ""}
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    r["cpu_s"] = cpu
    r["gen_cpu_pct"] = 100.0 * cpu / r["elapsed_s"] if r["elapsed_s"] else float("nan")
    r.update(snap_deltas(args[10:12], cpu, r["elapsed_s"]))
    print(json.dumps(r))


def cmd_output(args, notes_path=None, prom_path=None):
    (export_path, time_path, output, vus, duration, rnd, rc, err_path, out_bytes, out_samples,
     scrapes_path, threads_path) = args[:12]
    dur_s = parse_duration_s(duration)
    r = parse_salvo(export_path)
    r["salvo_rps"] = r["rps"]
    r["rps"] = r["requests"] / dur_s
    d = json.load(open(export_path, encoding="utf-8"))
    test_s = d.get("salvo", {}).get("duration_ms", 0) / 1000.0
    try:
        err = open(err_path, encoding="utf-8", errors="replace").read()
    except OSError:
        err = ""
    notes = []
    if notes_path:
        try:
            notes = [l.strip() for l in open(notes_path, encoding="utf-8", errors="replace") if l.strip()]
        except OSError:
            pass
    # The "left out" warning: in the summary's OUTPUT: lines, or on stderr without a summary.
    lost = list(dict.fromkeys(l.strip() for l in err.splitlines() + notes if "left out" in l))
    lost_n = sum(int(m.group(1)) for l in lost for m in [re.search(r"(\d+) samples were left out", l)] if m)
    scrapes = []
    try:
        for line in open(scrapes_path, encoding="utf-8"):
            f = line.split()
            if len(f) >= 4:
                scrapes.append({"at_s": float(f[0]), "code": f[1], "bytes": int(f[2]),
                                "http_reqs_total": float(f[3])})
    except OSError:
        pass
    # Threads' CPU at the sample: the worker is the busiest thread other than the main
    # one (--workers 1); the rest (the collector on the main thread, an output's own
    # thread) is what the outputs and the collection cost.
    threads, at_s, pid = {}, None, None
    try:
        for line in open(threads_path, encoding="utf-8"):
            f = line.split()
            if len(f) == 4 and f[0] == "at":
                at_s, pid = float(f[1]), int(f[3])
            elif len(f) == 2 and f[1].isdigit():
                threads[int(f[0])] = int(f[1]) / 1e6
    except (OSError, ValueError):
        pass
    others = {t: ms for t, ms in threads.items() if t != pid}
    worker_tid = max(others, key=others.get) if others else None
    r.update({"threads_at_s": at_s, "threads_n": len(threads),
              "worker_ms": others.get(worker_tid) if worker_tid else None,
              "main_ms": threads.get(pid) if pid in threads else None,
              "other_threads_ms": sum(ms for t, ms in others.items() if t != worker_tid) if others else None})
    if r["main_ms"] is not None and at_s:
        r["nonworker_ms_per_s"] = (r["main_ms"] + (r["other_threads_ms"] or 0)) / at_s
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    nbytes = None if out_bytes == "-" else int(out_bytes)
    nsamples = None if out_samples in ("-", "") else int(out_samples)
    r.update({"tool": "salvo", "scenario": "outputs", "output": output, "conns": int(vus),
              "round": int(rnd), "rc": int(rc), "cpu_s": cpu,
              "req_per_cpu_s": r["requests"] / cpu if cpu > 0 else float("nan"),
              "gen_cpu_pct": 100.0 * cpu / r["elapsed_s"] if r["elapsed_s"] else float("nan"),
              "duration_s": dur_s, "test_s": test_s, "out_bytes": nbytes, "out_samples": nsamples,
              "samples_per_s": nsamples / dur_s if nsamples is not None else None,
              "samples_per_req": nsamples / r["requests"] if nsamples is not None and r["requests"] else None,
              "bytes_per_sample": nbytes / nsamples if nbytes is not None and nsamples else None,
              "lost_samples": lost_n,
              # every sample the requests made, written or left out, per request
              "kept_or_lost_per_req": (nsamples + lost_n) / r["requests"]
              if nsamples is not None and r["requests"] else None,
              "lost_pct": 100.0 * lost_n / (nsamples + lost_n) if nsamples is not None and nsamples + lost_n else None,
              "lost_warning": " ".join(lost), "stderr": err.strip()[:2000], "scrapes": scrapes,
              "output_notes": notes})
    r.update(snap_deltas(args[12:14], cpu, r["elapsed_s"]))
    if prom_path:
        f = open(prom_path, encoding="utf-8").read().split()
        f += ["-"] * (4 - len(f))

        def num(x):
            try:
                return float(x)
            except ValueError:
                return None
        ready, t0, t1, count = (num(x) for x in f[:4])
        r["prom_ready_s"] = ready
        r["prom_count"] = int(count) if count is not None else None
        if t0 is not None and t1 is not None:
            # Prometheus is another process: its CPU is in other_cpu_pct too.
            r["prom_cpu_s"] = (t1 - t0) / os.sysconf("SC_CLK_TCK")
            r["prom_cpu_pct"] = 100.0 * r["prom_cpu_s"] / r["elapsed_s"] if r["elapsed_s"] else None
    print(json.dumps(r))


def trend_of(d, name):
    """med and p(99) (ms) of a trend in a salvo export: metrics has med, salvo.trends
    has p(99) whatever --summary-trend-stats says. None when the trend is absent."""
    m = d.get("metrics", {}).get(name) or {}
    t = d.get("salvo", {}).get("trends", {}).get(name) or {}
    med_ = m.get("med", t.get("med"))
    p99 = m.get("p(99)", t.get("p(99)"))
    return (float(med_) if med_ is not None else None, float(p99) if p99 is not None else None)


def tls_log_lines(log_path, off0, off1):
    """The handshake runs' access-log lines between two byte offsets: "PORT REUSED
    PROTOCOL CIPHER GROUP" (REUSED "r" when nginx resumed the session, "." when not)."""
    with open(log_path, "rb") as f:
        f.seek(off0)
        data = f.read(off1 - off0).decode("ascii", "replace")
    lines = [l.split() for l in data.splitlines() if l.strip()]
    protocols, ciphers = {}, {}
    for l in lines:
        if len(l) >= 3:
            protocols[l[2]] = protocols.get(l[2], 0) + 1
        if len(l) >= 4:
            c = " ".join(l[3:5])   # the cipher and the group
            ciphers[c] = ciphers.get(c, 0) + 1
    resumed = sum(1 for l in lines if len(l) >= 2 and l[1] == "r")
    return len(lines), resumed, protocols, ciphers


def cmd_handshake(args):
    export_path, time_path, kind, vus, rnd, rc, log_path, off0, off1 = args[:9]
    d = json.load(open(export_path, encoding="utf-8"))
    r = parse_salvo(export_path)
    tls_med, tls_p99 = trend_of(d, "http_req_tls_handshaking")
    conn_med, conn_p99 = trend_of(d, "http_req_connecting")
    count, resumed, protocols, ciphers = tls_log_lines(log_path, int(off0), int(off1))
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    n = r["requests"]
    r.update({"tool": "salvo", "scenario": "handshake", "kind": kind, "conns": int(vus),
              "round": int(rnd), "rc": int(rc), "cpu_s": cpu,
              # one connection (TCP + TLS handshake) per request
              "req_per_cpu_s": n / cpu if cpu > 0 else float("nan"),
              "cpu_us_per_conn": 1e6 * cpu / n if n else None,
              "user_us_per_conn": 1e6 * r["user_s"] / n if n else None,
              "sys_us_per_conn": 1e6 * r["sys_s"] / n if n else None,
              "gen_cpu_pct": 100.0 * cpu / r["elapsed_s"] if r["elapsed_s"] else float("nan"),
              "tls_med_ms": tls_med, "tls_p99_ms": tls_p99,
              "connecting_med_ms": conn_med, "connecting_p99_ms": conn_p99,
              "log_count": count, "log_resumed": resumed,
              "resumed_pct": 100.0 * resumed / count if count else None,
              "log_protocols": protocols, "log_ciphers": ciphers,
              "salvo_duration_s": d.get("salvo", {}).get("duration_ms", 0) / 1000.0})
    r.update(snap_deltas(args[9:11], cpu, r["elapsed_s"]))
    print(json.dumps(r))


def h2load_ms(text):
    """An h2load time ("936us", "12.08ms", "1.23s") in milliseconds."""
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNITS_MS[m.group(2)] if m else None


def parse_h2load(out_path):
    """h2load's report: "finished in ...s, N req/s", the "requests:" and "status
    codes:" lines, "time for request:" (min max mean sd), and over TLS its
    "Application protocol:"."""
    text = open(out_path, encoding="utf-8", errors="replace").read()
    m_fin = re.search(r"^finished in ([0-9.]+)(us|ms|s|m), ([0-9.]+) req/s", text, re.M)
    m_req = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, "
                      r"(\d+) errored, (\d+) timeout", text, re.M)
    if not (m_fin and m_req):
        raise SystemExit(f"summarize: cannot parse h2load output {out_path}:\n{text[-2000:]}")
    total, started, done, ok, failed, errored, timeout = (int(x) for x in m_req.groups())
    m_st = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx", text, re.M)
    non2xx = sum(int(x) for x in m_st.groups()[1:]) if m_st else 0
    m_t = re.search(r"^time for request:\s+(\S+)\s+(\S+)\s+(\S+)\s+(\S+)", text, re.M)
    m_p = re.search(r"^Application protocol: (\S+)", text, re.M)
    return {"requests": ok, "rps": float(m_fin.group(3)),
            "tool_elapsed_s": float(m_fin.group(1)) * UNITS_MS[m_fin.group(2)] / 1000.0,
            "h2load_total": total, "h2load_started": started, "h2load_done": done,
            "h2load_failed": failed, "h2load_errored": errored, "h2load_timeout": timeout,
            "errors": failed + errored + timeout + non2xx,
            "mean_ms": h2load_ms(m_t.group(3)) if m_t else None,
            "max_ms": h2load_ms(m_t.group(2)) if m_t else None,
            "p50_ms": None, "p99_ms": None,
            "app_proto": m_p.group(1) if m_p else None}


def salvo_protos(d, metric="http_reqs"):
    """A salvo export's count of METRIC per proto tag (salvo.totals.series)."""
    protos = {}
    for sr in d.get("salvo", {}).get("totals", {}).get("series", []):
        if sr.get("metric") == metric:
            p = sr.get("tags", {}).get("proto", "?")
            v = sr.get("value", 0)   # a counter's series: its count
            if isinstance(v, dict):
                v = v.get("count", v.get("total", 0))
            protos[p] = protos.get(p, 0) + int(v or 0)
    return protos


def cmd_h2(tool, args):
    out_path, time_path, mode, conns, streams, rnd, rc, duration = args[:8]
    if tool == "h2load":
        r = parse_h2load(out_path)
    else:
        d = json.load(open(out_path, encoding="utf-8"))
        r = parse_salvo(out_path)
        dur = d["metrics"]["http_req_duration"]
        r["mean_ms"] = float(dur["avg"]) if dur.get("avg") is not None else None
        r["max_ms"] = float(dur["max"]) if dur.get("max") is not None else None
        r["protos"] = salvo_protos(d)
        r["app_proto"] = ",".join(sorted(r["protos"])) or None
        r["tool_elapsed_s"] = d.get("salvo", {}).get("duration_ms", 0) / 1000.0
        r["salvo_rps"] = r["rps"]
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    c, m = int(conns), int(streams)
    r.update({"tool": tool, "scenario": "h2", "mode": mode, "conns": c, "streams": m, "vus": c * m,
              "round": int(rnd), "rc": int(rc), "cpu_s": cpu, "duration_s": parse_duration_s(duration),
              "req_per_cpu_s": r["requests"] / cpu if cpu > 0 else float("nan"),
              "gen_cpu_pct": 100.0 * cpu / r["elapsed_s"] if r["elapsed_s"] else float("nan")})
    r.update(snap_deltas(args[8:10], cpu, r["elapsed_s"]))
    print(json.dumps(r))


def cmd_sse(args):
    export_path, time_path, vus, rc, per_stream, sample_s, sample_path, req0, req1 = args[:9]
    d = json.load(open(export_path, encoding="utf-8"))
    m = d["metrics"]
    f = open(sample_path, encoding="utf-8").read().split()
    f += ["?"] * (4 - len(f))

    def num(x):
        return int(x) if x.isdigit() else None
    se = m.get("sse_stream_events", {})
    dur = m.get("http_req_duration", {})
    v = int(vus)
    r = {"tool": "salvo-sse", "scenario": "sse", "vus": v, "conns": v, "rc": int(rc),
         "events_per_stream": int(per_stream), "sample_s": float(sample_s),
         # how long the streams were held (the request's duration: from sending it to the end)
         "stream_s_min": dur["min"] / 1000.0 if dur.get("min") is not None else None,
         "stream_s_max": dur["max"] / 1000.0 if dur.get("max") is not None else None,
         "rss_kb": num(f[0]), "target_rss_kb": num(f[1]), "held": num(f[2]), "target_rss_before_kb": num(f[3]),
         "requests": int(m.get("http_reqs", {}).get("count", 0)),
         "iterations": int(m.get("iterations", {}).get("count", 0)),
         "errors": int(m.get("http_req_failed", {}).get("passes", 0)),
         "checks_passes": int(m.get("checks", {}).get("passes", 0)),
         "checks_fails": int(m.get("checks", {}).get("fails", 0)),
         "events": int(m.get("sse_event", {}).get("count", 0)),
         "expected_events": v * int(per_stream),
         "stream_events_min": se.get("min"), "stream_events_max": se.get("max"),
         "stream_events_med": se.get("med"),
         "protos": salvo_protos(d),
         "salvo_errors": d.get("salvo", {}).get("errors", []),
         "interrupted": bool(d.get("salvo", {}).get("interrupted")),
         "salvo_duration_s": d.get("salvo", {}).get("duration_ms", 0) / 1000.0}
    r["target_requests"] = int(req1) - int(req0) if req0.isdigit() and req1.isdigit() else None
    r.update(parse_time(time_path))
    cpu = r["user_s"] + r["sys_s"]
    r["cpu_s"] = cpu
    # The target here is the demo target (its pid in the snaps): its CPU lands in nginx_cpu_s.
    dl = snap_deltas(args[9:11], cpu, r["elapsed_s"])
    if "nginx_cpu_s" in dl:
        dl["target_cpu_s"] = dl.pop("nginx_cpu_s")
    r.update(dl)
    print(json.dumps(r))


def fmt(v, spec="{:.0f}"):
    return "-" if v is None else spec.format(v)


def pct(r, key):
    v, el = r.get(key), r.get("elapsed_s")
    return "-" if v is None or not el else "{:.0f}".format(100.0 * v / el)


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


SCRIPT_TARGET = 0.7   # salvo-script req/CPU-s over wrk's
VU_KB_TARGET = 16.0   # KB of RSS per sleeping VU


def medians_of(rows):
    mm = {k: med(rows, k) for k in ("rps", "req_per_cpu_s", "cpu_s", "p50_ms", "p99_ms", "rss_mb")}
    mm["errors"] = sum(r["errors"] for r in rows)
    mm["rounds"] = len(rows)
    return mm


def median_line(tool, c, mm):
    return (f"{tool:<12} {c:>5} {mm['rounds']:>6} {mm['rps']:>10.0f} {mm['req_per_cpu_s']:>10.0f} "
            f"{mm['cpu_s']:>6.2f} {mm['p50_ms']:>7.3f} {mm['p99_ms']:>7.3f} "
            f"{mm['rss_mb']:>7.1f} {mm['errors']:>6}")


MEDIAN_HEADER = (f"{'tool':<12} {'conns':>5} {'rounds':>6} {'req/s':>10} {'req/CPU-s':>10} "
                 f"{'CPU s':>6} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} {'errors':>6}")


def round_ratios(runs, c, tool):
    """tool's req/CPU-s over wrk's, round by round (each against the wrk run before it)."""
    by_round = {}
    for r in runs:
        if r["conns"] == c:
            by_round.setdefault(r["round"], {})[r["tool"]] = r
    return [v[tool]["req_per_cpu_s"] / v["wrk"]["req_per_cpu_s"]
            for _, v in sorted(by_round.items()) if tool in v and "wrk" in v]


def report_url(runs, lines):
    conns_list = sorted({r["conns"] for r in runs})
    lines.append("Medians over rounds (--url runs):")
    lines.append(MEDIAN_HEADER)
    medians = {}
    for c in conns_list:
        for t in ("wrk", "salvo"):
            rows = [r for r in runs if r["tool"] == t and r["conns"] == c]
            if rows:
                medians[(t, c)] = medians_of(rows)
                lines.append(median_line(t, c, medians[(t, c)]))
    lines.append("")
    lines.append("salvo/wrk (ratio of medians); targets: req/CPU-s >= 1.0x at every count, "
                 "peak RSS <= 2.0x at 1000 connections:")
    for c in conns_list:
        s, w = medians.get(("salvo", c)), medians.get(("wrk", c))
        if not (s and w):
            continue
        eff = s["req_per_cpu_s"] / w["req_per_cpu_s"]
        rss = s["rss_mb"] / w["rss_mb"]
        rps = s["rps"] / w["rps"]
        verdict = "met" if eff >= 1.0 else "NOT met"
        rss_verdict = ""
        if c == 1000:
            rss_verdict = "  (RSS target " + ("met" if rss <= 2.0 else "NOT met") + ")"
        lines.append(f"  {c:>5} conns: req/CPU-s {eff:5.3f}x ({verdict})   peak RSS {rss:5.3f}x{rss_verdict}"
                     f"   req/s {rps:5.3f}x")
    lines.append("")
    lines.append("salvo/wrk req/CPU-s round by round (each salvo run against the wrk run just before it):")
    for c in conns_list:
        ratios = round_ratios(runs, c, "salvo")
        if ratios:
            lines.append(f"  {c:>5} conns: " + "  ".join(f"{x:.2f}x" for x in ratios) +
                         f"   (median {statistics.median(ratios):.2f}x)")


def report_script(runs, lines):
    lines.append("Script bench/script-hello.lua (per iteration: one http.get, one salvo.check), "
                 "medians over rounds:")
    lines.append(MEDIAN_HEADER)
    conns_list = sorted({r["conns"] for r in runs})
    for c in conns_list:
        w = [r for r in runs if r["tool"] == "wrk" and r["conns"] == c]
        s = [r for r in runs if r["tool"] == "salvo-script" and r["conns"] == c]
        if w:
            lines.append(median_line("wrk", c, medians_of(w)))
        if s:
            lines.append(median_line("salvo-script", c, medians_of(s)))
        if not (w and s):
            continue
        mw, ms = medians_of(w), medians_of(s)
        eff = ms["req_per_cpu_s"] / mw["req_per_cpu_s"]
        ratios = round_ratios(runs, c, "salvo-script")
        lines.append(f"  salvo-script/wrk at {c} conns: req/CPU-s {eff:5.3f}x (ratio of medians; target "
                     f">= {SCRIPT_TARGET}x: {'met' if eff >= SCRIPT_TARGET else 'NOT met'}); round by round "
                     + "  ".join(f"{x:.2f}x" for x in ratios) +
                     f"; req/s {ms['rps'] / mw['rps']:5.3f}x; peak RSS {ms['rss_mb'] / mw['rss_mb']:5.3f}x")
    bad = [r for r in runs if r.get("count_mismatch")]
    if bad:
        lines.append("WARNING: script runs whose requests, iterations and checks disagree: " + ", ".join(
            f"round {r['round']} (requests {r['requests']}, iterations {r['iterations']}, checks "
            f"{r['checks_passes']}+{r['checks_fails']})" for r in bad))
    elif any(r["tool"] == "salvo-script" for r in runs):
        lines.append("  every script run: one request, one iteration and one passed check per "
                     "iteration (requests = iterations = checks passed)")


def report_memory(runs, lines):
    lines.append("Memory per VU (bench/script-sleep.lua: one http.get, then salvo.sleep(30)); salvo's "
                 "VmRSS and nginx's active connections sampled while the VUs sleep:")
    lines.append(f"{'VUs':>6} {'sample s':>8} {'VmRSS KB':>9} {'nginx conns':>11} {'requests':>8} "
                 f"{'nginx reqs':>10} {'peak RSS MB':>11} {'CPU s':>6} {'elapsed s':>9} {'errors':>6} {'rc':>3}"
                 f" {'other CPU%':>10}")
    for r in sorted(runs, key=lambda r: r["vus"]):
        lines.append(f"{r['vus']:>6} {r['sample_s']:>8.1f} {r['rss_kb']:>9} {r['nginx_active']:>11} "
                     f"{r['requests']:>8} {fmt(r.get('server_requests')):>10} {r['rss_mb']:>11.1f} "
                     f"{r['cpu_s']:>6.2f} {r['elapsed_s']:>9.1f} {r['errors']:>6} {r['rc']:>3}"
                     f" {fmt(r.get('other_cpu_pct')):>10}")
    base = min(runs, key=lambda r: r["vus"])
    top = max(runs, key=lambda r: r["vus"])
    if top["vus"] > base["vus"]:
        per_vu = (top["rss_kb"] - base["rss_kb"]) / (top["vus"] - base["vus"])
        lines.append(f"  KB per VU = ({top['rss_kb']} - {base['rss_kb']}) / {top['vus'] - base['vus']} = "
                     f"{per_vu:.2f} KB (target <= {VU_KB_TARGET:.0f} KB: "
                     f"{'met' if per_vu <= VU_KB_TARGET else 'NOT met'})")
    for r in runs:
        if r["nginx_active"] < r["vus"]:
            lines.append(f"WARNING: with {r['vus']} VUs nginx held only {r['nginx_active']} connections "
                         f"at {r['sample_s']:.0f} s: not every VU was connected and asleep")
        if r["requests"] != r["vus"] or r["iterations"] != r["vus"]:
            lines.append(f"WARNING: with {r['vus']} VUs salvo counted {r['requests']} requests and "
                         f"{r['iterations']} iterations (expected {r['vus']} each)")
    if all(r["nginx_active"] >= r["vus"] for r in runs):
        lines.append("  every VU held its connection at the sample (nginx's count, the status request "
                     "itself not included)")


RATE_PRECISION_PCT = 1.0   # wrk2-style: the achieved count within 1% of rate * duration


def report_rates(runs, lines):
    lines.append("Arrival-rate precision (salvo --url .../rate --rate R/s --max-vus V --workers 1 on CPU 1); "
                 "counts from nginx's access log, medians over rounds:")
    lines.append(f"{'rate/s':>7} {'max VUs':>7} {'rounds':>6} {'expected':>9} {'nginx':>9} {'achieved/s':>10} "
                 f"{'error %':>8} {'within 1%':>9} {'sec min':>8} {'sec max':>8} {'sec stdev':>9} "
                 f"{'dropped':>8} {'delay p99 ms':>12} {'CPU %':>6}")
    for rate in sorted({r["rate"] for r in runs}):
        rows = [r for r in runs if r["rate"] == rate]
        ok = sum(1 for r in rows if r["within_1pct"])
        lines.append(f"{rate:>7} {rows[0]['max_vus']:>7} {len(rows):>6} {rows[0]['expected']:>9} "
                     f"{med(rows, 'nginx_count'):>9.0f} {med(rows, 'achieved_rps'):>10.1f} "
                     f"{med(rows, 'count_error_pct'):>+8.2f} {f'{ok}/{len(rows)}':>9} "
                     f"{med(rows, 'sec_min'):>8.0f} {med(rows, 'sec_max'):>8.0f} {med(rows, 'sec_stdev'):>9.1f} "
                     f"{med(rows, 'dropped'):>8.0f} {med(rows, 'start_delay_p99_ms'):>12.3f} "
                     f"{med(rows, 'gen_cpu_pct'):>6.0f}")
    lines.append(f"  expectation (wrk2-style precision): nginx's count within {RATE_PRECISION_PCT:.0f}% of "
                 "rate * duration; per-second min/max/stdev over the full seconds of each run (the partial "
                 "first and last seconds left out); CPU % = salvo's user+system over its elapsed time")
    lines.append("  (below: unacc. = rate * duration - iterations - dropped; 1st s = requests in the first "
                 "second after the first one, the start-up)")
    lines.append("Every arrival-rate run:")
    lines.append(f"{'rate/s':>7} {'round':>5} {'nginx':>9} {'error %':>8} {'salvo reqs':>10} {'dropped':>8} "
                 f"{'unacc.':>6} {'1st s':>7} {'full s':>6} {'sec min':>8} {'sec max':>8} {'sec stdev':>9} {'delay p99':>9} "
                 f"{'VUs used':>8} {'CPU %':>6} {'lag p99 ms':>10} {'other CPU%':>10} {'steal%':>6} {'rc':>3}")
    for r in sorted(runs, key=lambda r: (r["rate"], r["round"])):
        lines.append(f"{r['rate']:>7} {r['round']:>5} {r['nginx_count']:>9} {r['count_error_pct']:>+8.2f} "
                     f"{r['requests']:>10} {r['dropped']:>8} {r['unaccounted']:>6} {fmt(r.get('first_1s')):>7} {r['full_seconds']:>6} "
                     f"{fmt(r['sec_min']):>8} {fmt(r['sec_max']):>8} {fmt(r['sec_stdev'], '{:.1f}'):>9} "
                     f"{fmt(r['start_delay_p99_ms'], '{:.3f}'):>9} {r['vus_max_used']:>8} "
                     f"{r['gen_cpu_pct']:>6.0f} {fmt(r['loop_lag_p99_ms'], '{:.1f}'):>10} "
                     f"{fmt(r.get('other_cpu_pct')):>10} {fmt(r.get('steal_pct')):>6} {r['rc']:>3}")
    missed = [r for r in runs if not r["within_1pct"]]
    if missed:
        lines.append("  NOT within 1% of rate * duration: " + ", ".join(
            f"{r['rate']}/s round {r['round']} (nginx {r['nginx_count']} of {r['expected']}, "
            f"{r['count_error_pct']:+.2f}%; salvo dropped {r['dropped']})" for r in missed))
    lost = [r for r in runs if r["unaccounted"] != 0]
    if lost:
        lines.append("  NOTE: iterations + dropped_iterations != rate * duration (arrivals neither started nor "
                     "counted as dropped): " + ", ".join(
                         f"{r['rate']}/s round {r['round']}: {r['iterations']} + {r['dropped']} = "
                         f"{r['iterations'] + r['dropped']} of {r['expected']}" for r in lost))
    bad = [r for r in runs if r["nginx_count"] != r["requests"] or
           ("server_requests" in r and r["server_requests"] != r["nginx_count"])]
    if bad:
        lines.append("WARNING: salvo's request count, nginx's access log and stub_status disagree: " + ", ".join(
            f"{r['rate']}/s round {r['round']} (salvo {r['requests']}, log {r['nginx_count']}, "
            f"stub_status {r.get('server_requests', '?')})" for r in bad))
    else:
        lines.append("  salvo's request count = nginx's access-log lines = stub_status delta in every run")


PROMETHEUS_TARGET = 0.95   # req/CPU-s with --out prometheus over without any output
OUTPUT_ORDER = ["none", "prometheus", "prometheus-rw", "json", "json.gz"]


def report_outputs(runs, lines):
    outs = sorted({r["output"] for r in runs}, key=lambda o: OUTPUT_ORDER.index(o)
                  if o in OUTPUT_ORDER else len(OUTPUT_ORDER))
    vus = sorted({r["conns"] for r in runs})
    lines.append(f"Outputs (salvo --url .../hello --vus {','.join(map(str, vus))} --workers 1 on CPU 1, "
                 "with each --out), medians over rounds; ratios against no output:")
    lines.append(f"{'--out':<13} {'rounds':>6} {'req/s':>9} {'req/CPU-s':>9} {'ratio':>7} {'round by round':>22} "
                 f"{'user s':>6} {'sys s':>6} {'CPU %':>5} {'RSS MB':>6} {'p99 ms':>7} {'file MB':>8} "
                 f"{'samples/s':>10} {'smp/req':>7} {'B/smp':>6} {'lost %':>6} {'elapsed':>7} {'non-worker ms/s':>15}")
    base = [r for r in runs if r["output"] == "none"]
    base_med = med(base, "req_per_cpu_s") if base else None
    base_by_round = {r["round"]: r for r in base}
    verdicts = []
    for o in outs:
        rows = [r for r in runs if r["output"] == o]
        eff = med(rows, "req_per_cpu_s")
        ratio = eff / base_med if base_med else float("nan")
        rr = [r["req_per_cpu_s"] / base_by_round[r["round"]]["req_per_cpu_s"]
              for r in sorted(rows, key=lambda r: r["round"]) if r["round"] in base_by_round]
        rr_text = " ".join(f"{x:.2f}x" for x in rr) if o != "none" else "-"
        has_file = any(r.get("out_bytes") is not None for r in rows)
        lines.append(f"{o:<13} {len(rows):>6} {med(rows, 'rps'):>9.0f} {eff:>9.0f} {ratio:>6.3f}x {rr_text:>22} "
                     f"{med(rows, 'user_s'):>6.2f} {med(rows, 'sys_s'):>6.2f} {med(rows, 'gen_cpu_pct'):>5.0f} "
                     f"{med(rows, 'rss_mb'):>6.1f} {med(rows, 'p99_ms'):>7.3f} "
                     f"{(fmt(med(rows, 'out_bytes') / 1e6, '{:.1f}') if has_file else '-'):>8} "
                     f"{(fmt(med(rows, 'samples_per_s')) if has_file else '-'):>10} "
                     f"{(fmt(med(rows, 'samples_per_req'), '{:.2f}') if has_file else '-'):>7} "
                     f"{(fmt(med(rows, 'bytes_per_sample'), '{:.1f}') if has_file else '-'):>6} "
                     f"{(fmt(med(rows, 'lost_pct'), '{:.1f}') if has_file else '-'):>6} {med(rows, 'elapsed_s'):>7.2f} "
                     f"{med(rows, 'nonworker_ms_per_s'):>15.2f}")
        if o == "prometheus" and base_med:
            verdicts.append(f"  prometheus / none: req/CPU-s {ratio:.3f}x (target >= {PROMETHEUS_TARGET}x, i.e. within 5%: "
                            f"{'met' if ratio >= PROMETHEUS_TARGET else 'NOT met'}); round by round median "
                            f"{statistics.median(rr) if rr else float('nan'):.3f}x")
            # The same cost measured directly: the CPU of the threads that are not the
            # worker (collector, prometheus server), with and without the output, over
            # salvo's whole CPU per second of the no-output runs.
            nw, nw0 = med(rows, "nonworker_ms_per_s"), med(base, "nonworker_ms_per_s")
            total_ms_s = 1000.0 * med(base, "cpu_s") / med(base, "elapsed_s")
            if nw == nw and nw0 == nw0 and total_ms_s:
                verdicts.append(f"  prometheus's own CPU (non-worker threads, medians): {nw:.2f} ms/s against {nw0:.2f} "
                                f"ms/s without output: +{nw - nw0:.2f} ms per second = {100.0 * (nw - nw0) / total_ms_s:.3f}% "
                                f"of salvo's CPU ({total_ms_s:.0f} ms/s); the worker does the same work either way")
        elif o == "prometheus-rw" and base_med:
            verdicts.append(f"  prometheus-rw / none: req/CPU-s {ratio:.3f}x (no target, measured); round by round "
                            f"median {statistics.median(rr) if rr else float('nan'):.3f}x")
            nw, nw0 = med(rows, "nonworker_ms_per_s"), med(base, "nonworker_ms_per_s")
            total_ms_s = 1000.0 * med(base, "cpu_s") / med(base, "elapsed_s")
            if nw == nw and nw0 == nw0 and total_ms_s:
                verdicts.append(f"  prometheus-rw's own CPU in salvo (non-worker threads: collector, sender; medians): "
                                f"{nw:.2f} ms/s against {nw0:.2f} ms/s without output: +{nw - nw0:.2f} ms per second "
                                f"= {100.0 * (nw - nw0) / total_ms_s:.3f}% of salvo's CPU ({total_ms_s:.0f} ms/s)")
            pc = med(rows, "prom_cpu_pct")
            if pc == pc:
                verdicts.append(f"  the receiving Prometheus (on CPU 0 with nginx, not salvo's CPU; counted in other "
                                f"CPU%): {pc:.1f}% of a CPU during the run (median)")
        elif o in ("json", "json.gz") and base_med:
            verdicts.append(f"  {o} / none: req/CPU-s {ratio:.3f}x (per-sample stream: no target, measured)")
    lines.extend(verdicts)
    lines.append("  ratio = median req/CPU-s over the median without output; round by round = each run over "
                 "the no-output run of the same round; CPU % = salvo's user+system over its elapsed time; "
                 "req/s = requests / --duration; "
                 "file MB, samples/s (Point lines in the file / --duration), samples per request (in the file), bytes per sample, "
                 "lost % = samples left out of the file (salvo's warning) over all samples; elapsed = salvo's wall time "
                 "(--duration plus start-up and, with a stream, writing what is still queued); non-worker ms/s = CPU "
                 "time of salvo's threads other than the worker (the collector on the main thread, the prometheus "
                 "server's thread, the prometheus-rw sender's) per second of the run, from /proc/PID/task/*/schedstat a second before the "
                 "end: what collecting and the outputs cost, free of the worker's noise")
    lines.append("Every outputs run:")
    lines.append(f"{'--out':<13} {'round':>5} {'requests':>9} {'nginx':>9} {'ng-salvo':>8} {'prom sum':>9} "
                 f"{'pr-salvo':>8} {'req/CPU-s':>9} "
                 f"{'user s':>6} {'sys s':>6} {'elapsed':>7} {'RSS MB':>6} {'test s':>6} {'worker ms':>9} "
                 f"{'main ms':>8} {'other ms':>8} {'file bytes':>11} {'samples':>9} {'lost':>8} {'smp/req':>9} "
                 f"{'scrapes (s:code:bytes:reqs_total)':<40} {'err':>4} {'rc':>3} {'other CPU%':>10} "
                 f"{'prom CPU%':>9} {'steal%':>6}")
    for r in sorted(runs, key=lambda r: (r["round"], OUTPUT_ORDER.index(r["output"])
                                         if r["output"] in OUTPUT_ORDER else 9)):
        sc = " ".join(f"{s['at_s']:.1f}:{s['code']}:{s['bytes']}:{s['http_reqs_total']:.0f}"
                      for s in r.get("scrapes", [])) or "-"
        diff = r["server_requests"] - r["requests"] if "server_requests" in r else None
        pdiff = r["prom_count"] - r["requests"] if r.get("prom_count") is not None else None
        lines.append(f"{r['output']:<13} {r['round']:>5} {r['requests']:>9} {fmt(r.get('server_requests')):>9} "
                     f"{fmt(diff):>8} {fmt(r.get('prom_count')):>9} {fmt(pdiff):>8} {r['req_per_cpu_s']:>9.0f} {r['user_s']:>6.2f} {r['sys_s']:>6.2f} "
                     f"{r['elapsed_s']:>7.2f} {r['rss_mb']:>6.1f} {r['test_s']:>6.2f} {fmt(r.get('worker_ms')):>9} "
                     f"{fmt(r.get('main_ms'), '{:.1f}'):>8} {fmt(r.get('other_threads_ms'), '{:.1f}'):>8} "
                     f"{fmt(r.get('out_bytes')):>11} "
                     f"{fmt(r.get('out_samples')):>9} {fmt(r.get('lost_samples')):>8} "
                     f"{fmt(r.get('kept_or_lost_per_req'), '{:.2f}'):>9} {sc:<40} {r['errors']:>4} {r['rc']:>3} "
                     f"{fmt(r.get('other_cpu_pct')):>10} {fmt(r.get('prom_cpu_pct')):>9} {fmt(r.get('steal_pct')):>6}")
    lines.append("  (prom sum = the receiving Prometheus' sum(salvo_http_reqs_total) after the run, pr-salvo = it less "
                 "salvo's count; prom CPU% = that Prometheus' CPU during the run, part of other CPU%; test s = salvo's "
                 "duration_ms; worker/main/other ms = threads' CPU a second before the end; lost = samples left out; "
                 "smp/req = samples written or left out per request)")
    counted = [r for r in runs if "server_requests" in r]
    unequal = [r for r in counted if r["server_requests"] != r["requests"]]
    if unequal:
        lines.append("  salvo's request count differs from nginx's stub_status delta in: " + ", ".join(
            f"--out {r['output']} round {r['round']} (salvo {r['requests']}, nginx {r['server_requests']})"
            for r in unequal))
    elif counted:
        lines.append("  salvo's request count = nginx's stub_status delta in every outputs run")
    lost = [r for r in runs if r.get("lost_warning")]
    if lost:
        lines.append("WARNING: samples left out of the stream (salvo's summary or stderr): " + "; ".join(
            f"--out {r['output']} round {r['round']}: {r['lost_warning']}" for r in lost))
    else:
        lines.append("  no \"samples were left out\" warning in salvo's summary or stderr in any run")
    other = [r for r in runs if r.get("stderr") and not r.get("lost_warning")]
    for r in other:
        lines.append(f"  stderr of --out {r['output']} round {r['round']}: " + r["stderr"].replace("\n", " | ")[:300])
    longer = [r for r in runs if r.get("test_s") and r["test_s"] > r.get("duration_s", r["test_s"]) + 0.1]
    if longer:
        lines.append("NOTE: salvo's test duration (duration_ms, the divisor of its http_reqs rate) exceeds --duration "
                     "by more than 0.1 s in: " + ", ".join(
                         f"--out {r['output']} round {r['round']} ({r['test_s']:.2f} s)" for r in longer))
    short = [r for r in runs if r["output"] in ("json", "json.gz") and r.get("out_samples") is None]
    if short:
        lines.append("WARNING: json file missing, or not readable to its end: " + ", ".join(
            f"--out {r['output']} round {r['round']}" for r in short))
    rw = [r for r in runs if r["output"] == "prometheus-rw"]
    rw_bad = [r for r in rw if r.get("prom_count") != r["requests"]]
    if rw_bad:
        lines.append("WARNING: Prometheus' sum(salvo_http_reqs_total) differs from salvo's request count in: " + ", ".join(
            f"round {r['round']} (salvo {r['requests']}, Prometheus {fmt(r.get('prom_count'))})" for r in rw_bad))
    elif rw:
        lines.append("  Prometheus' sum(salvo_http_reqs_total) = salvo's request count in every prometheus-rw run")
    noted = [r for r in runs if r.get("output_notes")]
    if noted:
        lines.append("OUTPUT lines in the summary (what an output could not deliver): " + "; ".join(
            f"--out {r['output']} round {r['round']}: " + " | ".join(r["output_notes"]) for r in noted))
    else:
        lines.append("  no OUTPUT: line (an output that could not deliver) in any run's summary")
    bad_scrapes = [r for r in runs if r["output"] == "prometheus" and
                   any(s["code"] != "200" or s["http_reqs_total"] <= 0 for s in r.get("scrapes", []))]
    if bad_scrapes:
        lines.append("WARNING: a /metrics scrape failed or had no salvo_http_reqs_total: " + ", ".join(
            f"round {r['round']}" for r in bad_scrapes))


HTTPS_TARGET = 0.9   # salvo's req/CPU-s over wrk's, keep-alive HTTPS


def report_https(runs, url_runs, lines):
    conns_list = sorted({r["conns"] for r in runs})
    lines.append("HTTPS keep-alive (wrk -t1 -cC https://127.0.0.1:PORT/hello; salvo run --url "
                 "https://127.0.0.1:PORT/hello --vus C --workers 1 --cacert CA.pem), medians over rounds:")
    lines.append(MEDIAN_HEADER)
    for c in conns_list:
        w = [r for r in runs if r["tool"] == "wrk" and r["conns"] == c]
        s = [r for r in runs if r["tool"] == "salvo" and r["conns"] == c]
        if w:
            lines.append(median_line("wrk", c, medians_of(w)))
        if s:
            lines.append(median_line("salvo", c, medians_of(s)))
    for c in conns_list:
        w = [r for r in runs if r["tool"] == "wrk" and r["conns"] == c]
        s = [r for r in runs if r["tool"] == "salvo" and r["conns"] == c]
        if not (w and s):
            continue
        mw, ms = medians_of(w), medians_of(s)
        eff = ms["req_per_cpu_s"] / mw["req_per_cpu_s"]
        ratios = round_ratios(runs, c, "salvo")
        lines.append(f"  salvo/wrk HTTPS at {c} conns: req/CPU-s {eff:5.3f}x (ratio of medians; target >= "
                     f"{HTTPS_TARGET}x: {'met' if eff >= HTTPS_TARGET else 'NOT met'}); round by round "
                     + "  ".join(f"{x:.2f}x" for x in ratios) +
                     (f" (median {statistics.median(ratios):.2f}x)" if ratios else "") +
                     f"; req/s {ms['rps'] / mw['rps']:5.3f}x; peak RSS {ms['rss_mb'] / mw['rss_mb']:5.3f}x")
    # What TLS costs each tool, when the same report has plain --url runs at that count.
    for c in conns_list:
        for t in ("wrk", "salvo"):
            tls_rows = [r for r in runs if r["tool"] == t and r["conns"] == c]
            plain = [r for r in url_runs if r["tool"] == t and r["conns"] == c]
            if tls_rows and plain:
                lines.append(f"  {t} HTTPS / plain HTTP at {c} conns (runs of this report, minutes apart): "
                             f"req/CPU-s {med(tls_rows, 'req_per_cpu_s') / med(plain, 'req_per_cpu_s'):5.3f}x, "
                             f"req/s {med(tls_rows, 'rps') / med(plain, 'rps'):5.3f}x")


def report_handshakes(runs, lines):
    kinds = [k for k in ("resumed", "full") if any(r["kind"] == k for r in runs)]
    vus = sorted({r["conns"] for r in runs})
    lines.append(f"HTTPS handshakes (salvo run --url https://127.0.0.1:PORT/tls --no-connection-reuse --vus "
                 f"{','.join(map(str, vus))} --workers 1 --cacert CA.pem: a new TCP connection and TLS handshake "
                 "per request, offering the VU's last session if it has one), medians over rounds; no wrk figures: wrk keeps its "
                 "connections open and has no reconnect-per-request mode, so these stand alone:")
    lines.append(f"{'handshake':<9} {'rounds':>6} {'conn/s':>8} {'conn/CPU-s':>10} {'CPU us/conn':>11} "
                 f"{'user us':>7} {'sys us':>6} {'tls med ms':>10} {'tls p99 ms':>10} {'conn med ms':>11} "
                 f"{'p50 ms':>7} {'p99 ms':>7} {'salvo CPU%':>10} {'nginx CPU%':>10} {'resumed %':>9} "
                 f"{'RSS MB':>6} {'errors':>6}")
    meds = {}
    for k in kinds:
        rows = [r for r in runs if r["kind"] == k]
        nginx_pct = [100.0 * r["nginx_cpu_s"] / r["elapsed_s"] for r in rows
                     if r.get("nginx_cpu_s") is not None and r.get("elapsed_s")]
        meds[k] = {key: med(rows, key) for key in ("req_per_cpu_s", "cpu_us_per_conn", "tls_med_ms")}
        lines.append(f"{k:<9} {len(rows):>6} {med(rows, 'rps'):>8.0f} {med(rows, 'req_per_cpu_s'):>10.0f} "
                     f"{med(rows, 'cpu_us_per_conn'):>11.1f} {med(rows, 'user_us_per_conn'):>7.1f} "
                     f"{med(rows, 'sys_us_per_conn'):>6.1f} {med(rows, 'tls_med_ms'):>10.3f} "
                     f"{med(rows, 'tls_p99_ms'):>10.3f} {med(rows, 'connecting_med_ms'):>11.3f} "
                     f"{med(rows, 'p50_ms'):>7.3f} {med(rows, 'p99_ms'):>7.3f} {med(rows, 'gen_cpu_pct'):>10.0f} "
                     f"{(statistics.median(nginx_pct) if nginx_pct else float('nan')):>10.0f} "
                     f"{med(rows, 'resumed_pct'):>9.1f} {med(rows, 'rss_mb'):>6.1f} "
                     f"{sum(r['errors'] for r in rows):>6}")
    if "resumed" in meds and "full" in meds:
        a, b = meds["resumed"], meds["full"]
        lines.append(f"  full / resumed: salvo CPU per connection {b['cpu_us_per_conn'] / a['cpu_us_per_conn']:.2f}x "
                     f"({b['cpu_us_per_conn']:.1f} against {a['cpu_us_per_conn']:.1f} us), handshake median "
                     f"{b['tls_med_ms'] / a['tls_med_ms']:.2f}x ({b['tls_med_ms']:.3f} against {a['tls_med_ms']:.3f} ms), "
                     f"connections per CPU-s {b['req_per_cpu_s'] / a['req_per_cpu_s']:.2f}x")
    lines.append("  (conn/s = salvo's http_reqs rate, one connection per request; CPU us/conn = salvo's user + sys "
                 "over its requests; tls = http_req_tls_handshaking, conn = http_req_connecting (salvo's, ms); "
                 "p50/p99 = http_req_duration; resumed % = nginx's $ssl_session_reused over its /tls log lines; "
                 "salvo CPU% = its user + sys over its elapsed time)")
    lines.append("Every handshake run:")
    lines.append(f"{'handshake':<9} {'round':>5} {'requests':>8} {'nginx':>8} {'ng-salvo':>8} {'log':>8} "
                 f"{'resumed':>8} {'protocols':<22} {'conn/CPU-s':>10} {'user s':>6} {'sys s':>6} "
                 f"{'tls med':>7} {'tls p99':>7} {'err':>4} {'rc':>3} {'nginx CPU%':>10} {'other CPU%':>10} "
                 f"{'steal%':>6}")
    for r in sorted(runs, key=lambda r: (r["round"], kinds.index(r["kind"]) if r["kind"] in kinds else 9)):
        diff = r["server_requests"] - r["requests"] if "server_requests" in r else None
        protos = " ".join(f"{p}:{n}" for p, n in sorted(r["log_protocols"].items())) or "-"
        lines.append(f"{r['kind']:<9} {r['round']:>5} {r['requests']:>8} {fmt(r.get('server_requests')):>8} "
                     f"{fmt(diff):>8} {r['log_count']:>8} {r['log_resumed']:>8} {protos:<22} "
                     f"{r['req_per_cpu_s']:>10.0f} {r['user_s']:>6.2f} {r['sys_s']:>6.2f} "
                     f"{fmt(r['tls_med_ms'], '{:.3f}'):>7} {fmt(r['tls_p99_ms'], '{:.3f}'):>7} {r['errors']:>4} "
                     f"{r['rc']:>3} {pct(r, 'nginx_cpu_s'):>10} {fmt(r.get('other_cpu_pct')):>10} "
                     f"{fmt(r.get('steal_pct')):>6}")
    ciphers = sorted({c for r in runs for c in r.get("log_ciphers", {})})
    if ciphers:
        lines.append("  cipher and key-exchange group nginx logged: " + ", ".join(ciphers))
    # nginx's /tls log lines and its stub_status delta count the same requests; salvo's
    # count trails them by at most the requests in flight at the stop (one per VU).
    bad = [r for r in runs if "server_requests" in r and
           (r["log_count"] != r["server_requests"] or not 0 <= r["server_requests"] - r["requests"] <= r["conns"])]
    if bad:
        lines.append("WARNING: salvo's request count, nginx's /tls log lines and stub_status disagree: " + ", ".join(
            f"{r['kind']} round {r['round']} (salvo {r['requests']}, log {r['log_count']}, "
            f"stub_status {r['server_requests']})" for r in bad))
    else:
        exact = all(r.get("server_requests") == r["requests"] for r in runs)
        lines.append("  nginx's /tls log lines = its stub_status delta in every handshake run; salvo's count "
                     + ("equals them in every run" if exact else
                        "within the requests in flight at the stop (at most one per VU)"))
    # Resumption: with the resumable server every connection after a VU's first should
    # resume; with the other one none can.
    not_resumed = [r for r in runs if r["kind"] == "resumed" and r["log_count"] - r["log_resumed"] > r["conns"]]
    resumed_full = [r for r in runs if r["kind"] == "full" and r["log_resumed"] > 0]
    if not_resumed:
        lines.append("WARNING: handshakes not resumed on the resumable server (more than one full handshake "
                     "per VU): " + ", ".join(f"round {r['round']} ({r['log_count'] - r['log_resumed']} of "
                                             f"{r['log_count']} full)" for r in not_resumed))
    elif any(r["kind"] == "resumed" for r in runs):
        lines.append("  resumed runs: every handshake but at most one per VU (its first) was resumed, by nginx's log")
    if resumed_full:
        lines.append("WARNING: nginx resumed sessions on the server without tickets or cache: " + ", ".join(
            f"round {r['round']} ({r['log_resumed']} of {r['log_count']})" for r in resumed_full))
    elif any(r["kind"] == "full" for r in runs):
        lines.append("  full runs: no handshake resumed, by nginx's log")


H2_TARGET = 1.0   # salvo's req/CPU-s over h2load's, HTTP/2


def nan_dash(v, spec="{:.3f}"):
    return "-" if v is None or v != v else spec.format(v)
H2_MODE_TEXT = {"h2c": "h2c (prior knowledge, http://)", "tls": "h2 over TLS (ALPN, https://)"}


def report_h2(runs, lines):
    modes = [m for m in ("h2c", "tls") if any(r["mode"] == m for r in runs)]
    cs = sorted({(r["conns"], r["streams"]) for r in runs})
    shape = ", ".join(f"-c{c} -m{m}" for c, m in cs)
    lines.append(f"HTTP/2 (h2load -t1 {shape} URL; salvo run --url URL --http2 --vus C*M --streams M --workers 1, "
                 "--cacert CA.pem over TLS; both on CPU 1), medians over rounds:")
    lines.append(f"{'mode':<4} {'tool':<6} {'conns':>5} {'streams':>7} {'rounds':>6} {'req/s':>9} {'req/CPU-s':>10} "
                 f"{'CPU s':>6} {'user s':>6} {'sys s':>6} {'mean ms':>7} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>6} "
                 f"{'nginx conns':>11} {'errors':>6}")
    meds = {}
    for mode in modes:
        for t in ("h2load", "salvo"):
            rows = [r for r in runs if r["mode"] == mode and r["tool"] == t]
            if not rows:
                continue
            meds[(mode, t)] = {k: med(rows, k) for k in ("rps", "req_per_cpu_s", "rss_mb")}
            lines.append(f"{mode:<4} {t:<6} {rows[0]['conns']:>5} {rows[0]['streams']:>7} {len(rows):>6} "
                         f"{med(rows, 'rps'):>9.0f} {med(rows, 'req_per_cpu_s'):>10.0f} {med(rows, 'cpu_s'):>6.2f} "
                         f"{med(rows, 'user_s'):>6.2f} {med(rows, 'sys_s'):>6.2f} {nan_dash(med(rows, 'mean_ms')):>7} "
                         f"{nan_dash(med(rows, 'p50_ms')):>7} {nan_dash(med(rows, 'p99_ms')):>7} {med(rows, 'rss_mb'):>6.1f} "
                         f"{nan_dash(med(rows, 'server_conns'), '{:.0f}'):>11} {sum(r['errors'] for r in rows):>6}")
    for mode in modes:
        s, h = meds.get((mode, "salvo")), meds.get((mode, "h2load"))
        if not (s and h):
            continue
        eff = s["req_per_cpu_s"] / h["req_per_cpu_s"]
        by_round = {}
        for r in runs:
            if r["mode"] == mode:
                by_round.setdefault(r["round"], {})[r["tool"]] = r
        ratios = [v["salvo"]["req_per_cpu_s"] / v["h2load"]["req_per_cpu_s"]
                  for _, v in sorted(by_round.items()) if "salvo" in v and "h2load" in v]
        lines.append(f"  salvo/h2load, {H2_MODE_TEXT[mode]}: req/CPU-s {eff:5.3f}x (ratio of medians; target >= "
                     f"{H2_TARGET}x: {'met' if eff >= H2_TARGET else 'NOT met'}); round by round "
                     + "  ".join(f"{x:.2f}x" for x in ratios) +
                     (f" (median {statistics.median(ratios):.2f}x)" if ratios else "") +
                     f"; req/s {s['rps'] / h['rps']:5.3f}x; peak RSS {s['rss_mb'] / h['rss_mb']:5.3f}x")
    lines.append("  (req/s = h2load's \"req/s\" (succeeded requests over its measured time), salvo's http_reqs rate; "
                 "req/CPU-s = requests / (user + sys) from /usr/bin/time; mean = h2load's \"time for request\" mean, "
                 "salvo's http_req_duration avg (h2load prints no percentiles); nginx conns = connections nginx "
                 "accepted during the run (stub_status), C for both tools when every connection carries M streams; "
                 "h2load does not verify the certificate, salvo does)")
    lines.append("Every h2 run:")
    lines.append(f"{'mode':<4} {'tool':<6} {'round':>5} {'requests':>9} {'nginx':>9} {'ng-gen':>6} {'conns':>5} "
                 f"{'protocol':<10} {'req/s':>9} {'req/CPU-s':>10} {'user s':>6} {'sys s':>6} {'elapsed':>7} "
                 f"{'RSS MB':>6} {'err':>4} {'rc':>3} {'nginx CPU%':>10} {'other CPU%':>10} {'steal%':>6}")
    for r in sorted(runs, key=lambda r: (modes.index(r["mode"]) if r["mode"] in modes else 9, r["round"],
                                         0 if r["tool"] == "h2load" else 1)):
        diff = r["server_requests"] - r["requests"] if "server_requests" in r else None
        lines.append(f"{r['mode']:<4} {r['tool']:<6} {r['round']:>5} {r['requests']:>9} "
                     f"{fmt(r.get('server_requests')):>9} {fmt(diff):>6} {fmt(r.get('server_conns')):>5} "
                     f"{(r.get('app_proto') or '-'):<10} {r['rps']:>9.0f} {r['req_per_cpu_s']:>10.0f} "
                     f"{r['user_s']:>6.2f} {r['sys_s']:>6.2f} {r['elapsed_s']:>7.2f} {r['rss_mb']:>6.1f} "
                     f"{r['errors']:>4} {r['rc']:>3} {pct(r, 'nginx_cpu_s'):>10} {fmt(r.get('other_cpu_pct')):>10} "
                     f"{fmt(r.get('steal_pct')):>6}")
    # Counts: salvo's must equal nginx's (a stream cut at the stop is one nginx may have
    # counted: at most one per VU); h2load's succeeded requests trail nginx's by what it
    # had in flight when it stopped.
    sal = [r for r in runs if r["tool"] == "salvo" and "server_requests" in r]
    exact = [r for r in sal if r["server_requests"] == r["requests"]]
    off = [r for r in sal if r["server_requests"] != r["requests"]]
    if sal and not off:
        lines.append("  salvo's request count = nginx's stub_status delta in every h2 run")
    elif off:
        lines.append(f"{'WARNING' if any(not 0 <= r['server_requests'] - r['requests'] <= r['vus'] for r in off) else 'NOTE'}: "
                     f"salvo's request count differs from nginx's stub_status delta in {len(off)} of {len(sal)} h2 runs: "
                     + ", ".join(f"{r['mode']} round {r['round']} (salvo {r['requests']}, nginx {r['server_requests']}, "
                                 f"{r['server_requests'] - r['requests']:+d})" for r in off)
                     + f"; equal in {len(exact)}")
    h2l = [r for r in runs if r["tool"] == "h2load" and "server_requests" in r]
    if h2l:
        lines.append("  h2load: nginx's count less h2load's succeeded requests (its streams in flight at the stop, at "
                     "most C*M): " + ", ".join(f"{r['mode']} r{r['round']} {r['server_requests'] - r['requests']:+d}"
                                               for r in h2l))
    conns_off = [r for r in runs if r.get("server_conns") is not None and r["server_conns"] != r["conns"]]
    if conns_off:
        lines.append("WARNING: nginx accepted a number of connections other than C during: " + ", ".join(
            f"{r['mode']} {r['tool']} round {r['round']} ({r['server_conns']} of {r['conns']})" for r in conns_off))
    elif any(r.get("server_conns") is not None for r in runs):
        lines.append("  nginx accepted exactly C connections in every h2 run (every connection carried M streams)")
    not_h2 = [r for r in runs if r.get("app_proto") and r["app_proto"] not in ("h2", "h2c", "HTTP/2.0")]
    if not_h2:
        lines.append("WARNING: a run not on HTTP/2 (h2load's \"Application protocol\", salvo's proto tags): " + ", ".join(
            f"{r['mode']} {r['tool']} round {r['round']} ({r['app_proto']})" for r in not_h2))


def report_sse(runs, lines):
    k = runs[0]["events_per_stream"]
    lines.append(f"Memory per held SSE stream (bench/script-sse.lua: each VU holds one http.sse of the demo target's "
                 f"/sse/ticks?every=1000&count={k}: {k} events, one a second, then the server ends the stream); "
                 "salvo's and the demo target's VmRSS and the demo target's established connections sampled while "
                 "every stream is held:")
    lines.append(f"{'VUs':>6} {'sample s':>8} {'VmRSS KB':>9} {'held':>6} {'target KB':>9} {'events':>8} {'expected':>8} "
                 f"{'per stream':>11} {'held s':>13} {'target reqs':>11} {'failed':>6} {'checks':>11} {'peak RSS MB':>11} {'CPU s':>6} "
                 f"{'elapsed s':>9} {'rc':>3} {'target CPU%':>11} {'other CPU%':>10}")
    for r in sorted(runs, key=lambda r: r["vus"]):
        per = (f"{r['stream_events_min']:g}-{r['stream_events_max']:g}"
               if r.get("stream_events_min") is not None else "-")
        held_s = (f"{r['stream_s_min']:.2f}-{r['stream_s_max']:.2f}" if r.get("stream_s_min") is not None else "-")
        lines.append(f"{r['vus']:>6} {r['sample_s']:>8.1f} {fmt(r['rss_kb']):>9} {fmt(r['held']):>6} "
                     f"{fmt(r['target_rss_kb']):>9} {r['events']:>8} {r['expected_events']:>8} {per:>11} {held_s:>13} "
                     f"{fmt(r.get('target_requests')):>11} {r['errors']:>6} "
                     f"{str(r['checks_passes']) + '/' + str(r['checks_passes'] + r['checks_fails']):>11} "
                     f"{r['rss_mb']:>11.1f} {r['cpu_s']:>6.2f} {r['elapsed_s']:>9.1f} {r['rc']:>3} "
                     f"{pct(r, 'target_cpu_s'):>11} {fmt(r.get('other_cpu_pct')):>10}")
    base = min(runs, key=lambda r: r["vus"])
    top = max(runs, key=lambda r: r["vus"])
    n = top["vus"] - base["vus"]
    if n > 0 and top["rss_kb"] is not None and base["rss_kb"] is not None:
        lines.append(f"  KB per held stream (salvo) = ({top['rss_kb']} - {base['rss_kb']}) / {n} = "
                     f"{(top['rss_kb'] - base['rss_kb']) / n:.2f} KB (no target; measured)")
    if n > 0 and top["target_rss_kb"] is not None and base["target_rss_kb"] is not None:
        lines.append(f"  the demo target's KB per stream it serves = ({top['target_rss_kb']} - {base['target_rss_kb']}) "
                     f"/ {n} = {(top['target_rss_kb'] - base['target_rss_kb']) / n:.2f} KB")
    lines.append("  (held = the demo target's ESTABLISHED sockets on its port at the sample (/proc/net/tcp); events = "
                 "salvo's sse_event count, expected = VUs x events per stream; per stream = min-max of the "
                 "sse_stream_events trend; held s = min-max of the streams' http_req_duration (from sending the "
                 "request to the end of the stream); target reqs = the demo target's /stats delta; failed = http_req_failed; "
                 "checks = streams that ended with status 200 and no error)")
    for r in runs:
        if r["held"] is not None and r["held"] < r["vus"]:
            lines.append(f"WARNING: with {r['vus']} VUs the demo target held only {r['held']} connections at "
                         f"{r['sample_s']:.0f} s: not every stream was open")
        if r["events"] != r["expected_events"]:
            lines.append(f"{'WARNING' if r['events'] < r['expected_events'] else 'NOTE'}: with {r['vus']} VUs salvo "
                         f"counted {r['events']} events, expected {r['expected_events']} "
                         f"({r['events'] - r['expected_events']:+d}; per stream "
                         f"{fmt(r.get('stream_events_min'), '{:g}')}-{fmt(r.get('stream_events_max'), '{:g}')})")
        if r["requests"] != r["vus"] or r["iterations"] != r["vus"] or r["checks_fails"] or r["errors"]:
            lines.append(f"WARNING: with {r['vus']} VUs: {r['requests']} requests, {r['iterations']} iterations, "
                         f"{r['errors']} failed, {r['checks_fails']} failed checks (expected {r['vus']} streams, "
                         "none failed)")
        if r.get("target_requests") is not None and r["target_requests"] != r["vus"]:
            lines.append(f"WARNING: with {r['vus']} VUs the demo target served {r['target_requests']} requests")
        if r.get("salvo_errors"):
            lines.append(f"  salvo's errors with {r['vus']} VUs: " + json.dumps(r["salvo_errors"])[:300])
    if all(r["events"] == r["expected_events"] and r["requests"] == r["vus"] and not r["errors"]
           and not r["checks_fails"] and (r["held"] or 0) >= r["vus"] for r in runs):
        lines.append("  every run: every stream open at the sample, every stream got its events, none failed")


def cmd_report(args):
    path, out, header = args[0], None, []
    rest = args[1:]
    while rest:
        if rest[0] == "--out":
            out, rest = rest[1], rest[2:]
        elif rest[0] == "--header":
            header.append(rest[1])
            rest = rest[2:]
        else:
            raise SystemExit(f"summarize: unknown argument {rest[0]}")
    runs = [json.loads(l) for l in open(path, encoding="utf-8") if l.strip()]
    for r in runs:
        r.setdefault("scenario", "url")
    gen_runs = [r for r in runs if r["scenario"] in ("url", "script", "https")]
    url_runs = [r for r in runs if r["scenario"] == "url"]
    script_runs = [r for r in runs if r["scenario"] == "script"]
    memory_runs = [r for r in runs if r["scenario"] == "memory"]
    rate_runs = [r for r in runs if r["scenario"] == "rates"]
    output_runs = [r for r in runs if r["scenario"] == "outputs"]
    https_runs = [r for r in runs if r["scenario"] == "https"]
    handshake_runs = [r for r in runs if r["scenario"] == "handshake"]
    h2_runs = [r for r in runs if r["scenario"] == "h2"]
    sse_runs = [r for r in runs if r["scenario"] == "sse"]
    tools = ["wrk", "salvo", "salvo-script"]
    lines = list(header)
    if url_runs:
        lines.append("")
        report_url(url_runs, lines)
    if script_runs:
        lines.append("")
        report_script(script_runs, lines)
    if memory_runs:
        lines.append("")
        report_memory(memory_runs, lines)
    if rate_runs:
        lines.append("")
        report_rates(rate_runs, lines)
    if output_runs:
        lines.append("")
        report_outputs(output_runs, lines)
    if https_runs:
        lines.append("")
        report_https(https_runs, url_runs, lines)
    if handshake_runs:
        lines.append("")
        report_handshakes(handshake_runs, lines)
    if h2_runs:
        lines.append("")
        report_h2(h2_runs, lines)
    if sse_runs:
        lines.append("")
        report_sse(sse_runs, lines)
    if gen_runs:
        lines.append("")
        lines.append("Every run:")
        lines.append(f"{'scenario':<8} {'tool':<12} {'conns':>5} {'round':>5} {'requests':>9} {'req/s':>10} "
                     f"{'user s':>6} {'sys s':>6} {'req/CPU-s':>10} {'p50 ms':>7} {'p99 ms':>7} {'RSS MB':>7} "
                     f"{'err':>4} {'rc':>3} {'nginx reqs-gen':>14} {'nginx CPU%':>10} {'other CPU%':>10} "
                     f"{'steal%':>6}")
        order = {"url": 0, "script": 1, "https": 2}
        for r in sorted(gen_runs, key=lambda r: (order[r["scenario"]], r["conns"], r["round"],
                                                 tools.index(r["tool"]))):
            p50 = r["p50_ms"] if r["p50_ms"] is not None else float("nan")
            p99 = r["p99_ms"] if r["p99_ms"] is not None else float("nan")
            lines.append(f"{r['scenario']:<8} {r['tool']:<12} {r['conns']:>5} {r['round']:>5} {r['requests']:>9} "
                         f"{r['rps']:>10.0f} {r['user_s']:>6.2f} {r['sys_s']:>6.2f} {r['req_per_cpu_s']:>10.0f} "
                         f"{p50:>7.3f} {p99:>7.3f} {r['rss_mb']:>7.1f} {r['errors']:>4} {r['rc']:>3}"
                         f" {fmt(r['server_requests'] - r['requests'] if 'server_requests' in r else None):>14}"
                         f" {pct(r, 'nginx_cpu_s'):>10} {fmt(r.get('other_cpu_pct')):>10} {fmt(r.get('steal_pct')):>6}")

    def name(r):
        if r["scenario"] == "memory":
            return f"memory {r['vus']} VUs"
        if r["scenario"] == "rates":
            return f"salvo --rate {r['rate']}/s round {r['round']}"
        if r["scenario"] == "outputs":
            return f"salvo --out {r['output']} round {r['round']}"
        if r["scenario"] == "handshake":
            return f"salvo {r['kind']} handshakes round {r['round']}"
        if r["scenario"] == "h2":
            return f"h2 {r['mode']} {r['tool']} round {r['round']}"
        if r["scenario"] == "sse":
            return f"sse {r['vus']} VUs"
        where = "script " if r["scenario"] == "script" and r["tool"] == "wrk" else ""
        where = "https " if r["scenario"] == "https" else where
        return f"{where}{r['tool']} c={r['conns']} round {r['round']}"
    # The private Prometheus of a prometheus-rw run is part of the setup, not noise.
    noisy = [r for r in runs if (r.get("other_cpu_pct") or 0) - (r.get("prom_cpu_pct") or 0) > 10 or
             (r.get("steal_pct") or 0) > 5]
    if noisy:
        lines.append("")
        lines.append("NOTE: other processes (or the hypervisor: steal) took more than 10% (5%) of a CPU during: " +
                     ", ".join(name(r) for r in noisy) +
                     (" (a prometheus-rw run's own Prometheus not counted)"
                      if any(r.get("prom_cpu_pct") is not None for r in noisy) else "") +
                     "; the machine was not quiet, so those runs are less trustworthy.")
    # Count check: nginx saw every request the generator counted, plus at most the
    # requests still in flight when the generator stopped (one per connection); the
    # memory runs finish every iteration, so there the counts must be equal.
    miscounted = [r for r in gen_runs if "server_requests" in r and
                  not (0 <= r["server_requests"] - r["requests"] <= r["conns"])]
    miscounted += [r for r in output_runs + handshake_runs if "server_requests" in r and
                   not (0 <= r["server_requests"] - r["requests"] <= r["conns"])]
    miscounted += [r for r in memory_runs + rate_runs if "server_requests" in r and
                   r["server_requests"] != r["requests"]]
    # HTTP/2: up to one stream per VU (h2load: per connection x streams) in flight at the stop.
    miscounted += [r for r in h2_runs if "server_requests" in r and
                   not (0 <= r["server_requests"] - r["requests"] <= r["vus"])]
    lines.append("")
    if any("server_requests" in r for r in runs):
        if miscounted:
            lines.append("WARNING: request counts disagree with nginx's (stub_status): " + ", ".join(
                f"{name(r)}: generator {r['requests']}, nginx {r['server_requests']}" for r in miscounted))
        else:
            lines.append("Count check: every run's request count matches nginx's stub_status counter "
                         "(within the requests in flight at the end).")
    problems = [r for r in runs if r["errors"] or r["rc"] != 0]
    if problems:
        lines.append("")
        lines.append("WARNING: runs with errors or a non-zero exit status: " +
                     ", ".join(name(r) for r in problems))
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if out:
        with open(out, "w", encoding="utf-8") as f:
            f.write(text)


def main():
    if len(sys.argv) < 2:
        raise SystemExit(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    scenario = take_option(args, "--scenario", "url")
    notes = take_option(args, "--notes", None)
    prom = take_option(args, "--prom", None)
    if cmd in ("wrk", "salvo", "salvo-script") and len(args) in (5, 7):
        cmd_run(cmd, args, scenario)
    elif cmd == "sleep" and len(args) in (7, 9):
        cmd_sleep(args)
    elif cmd == "rate" and len(args) in (10, 12):
        cmd_rate(args)
    elif cmd == "handshake" and len(args) in (9, 11):
        cmd_handshake(args)
    elif cmd == "h2" and args and args[0] in ("h2load", "salvo") and len(args) in (9, 11):
        cmd_h2(args[0], args[1:])
    elif cmd == "sse" and len(args) in (9, 11):
        cmd_sse(args)
    elif cmd == "output" and len(args) in (12, 14):
        cmd_output(args, notes, prom)
    elif cmd == "threads" and len(args) == 3:
        cmd_threads(args)
    elif cmd == "quiet" and len(args) == 3:
        cmd_quiet(args)
    elif cmd == "snap" and len(args) in (1, 2):
        cmd_snap(args)
    elif cmd == "report" and args:
        cmd_report(args)
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main()
