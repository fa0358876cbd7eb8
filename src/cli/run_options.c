/*
 * `salvo run`'s flags and the options they make: each flag is checked where it is
 * read; those that shape the test become the flags' layer of k6 options, merged
 * over the config file, the script's options and SALVO_* variables (plan/options.h).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http/client.h"
#include "../plan/options.h"
#include "../output/outputs.h"
#include "../plan/profile.h"
#include "run.h"

extern char **environ;

#define ARGS(ctx) ((run_args_t *)(ctx))

static int bad_value(const char *opt, const char *value, const char *hint)
{
    return sv_cli_error("%s: \"%s\" %s", opt, value, hint);
}

static int opt_url(void *ctx, const char *v)
{
    ARGS(ctx)->url = v;
    return 0;
}
static int opt_method(void *ctx, const char *v)
{
    for (const char *c = v; *c; c++)
        if (!(*c >= 'A' && *c <= 'Z') && *c != '-' && *c != '_')
            return bad_value("--method", v, "is not a method; use upper case, e.g. GET or POST");
    if (*v == '\0')
        return bad_value("--method", v, "is empty; use e.g. GET or POST");
    ARGS(ctx)->method = v;
    return 0;
}
static int opt_body(void *ctx, const char *v)
{
    ARGS(ctx)->body = v;
    return 0;
}
static int opt_body_file(void *ctx, const char *v)
{
    ARGS(ctx)->body_file = v;
    return 0;
}

static int opt_header(void *ctx, const char *v)
{
    const char *colon = strchr(v, ':');
    bool bad = colon == NULL || colon == v || strpbrk(v, "\r\n") != NULL;
    for (const char *c = v; !bad && c < colon; c++)
        bad = *c <= ' ' || *c == 0x7f;
    if (bad)
        return bad_value("--header", v, "is not a header; write it as \"Name: value\"");
    char *name = sv_xstrndup(v, (size_t)(colon - v));
    const char *value = colon + 1;
    while (*value == ' ' || *value == '\t')
        value++;
    sv_kv_push(&ARGS(ctx)->plan.request.headers, &ARGS(ctx)->plan.request.n_headers, name, value);
    free(name);
    return 0;
}

static int parse_count(const char *opt, const char *v, uint64_t max, uint64_t *out)
{
    int rc = sv_parse_uint(v, max, out);
    if (rc == SV_ERANGE)
        return sv_cli_error("%s: \"%s\" is out of range; use 1 to %llu", opt, v,
                            (unsigned long long)max);
    if (rc != 0)
        return bad_value(opt, v, "is not a whole number; write e.g. 10");
    return 0;
}

static void set_flag(void *ctx, const char *key, json_t *value)
{
    json_object_set_new(ARGS(ctx)->flags, key, value);
}

static int opt_vus(void *ctx, const char *v)
{
    ARGS(ctx)->has_vus = true;
    if (parse_count("--vus", v, 1000000, &ARGS(ctx)->vus) != 0)
        return -1;
    set_flag(ctx, "vus", json_integer((json_int_t)ARGS(ctx)->vus));
    return 0;
}

static int opt_max_vus(void *ctx, const char *v)
{
    return parse_count("--max-vus", v, 1000000, &ARGS(ctx)->max_vus);
}

static int opt_iterations(void *ctx, const char *v)
{
    if (parse_count("--iterations", v, UINT64_MAX / 4, &ARGS(ctx)->iterations) != 0)
        return -1;
    set_flag(ctx, "iterations", json_integer((json_int_t)ARGS(ctx)->iterations));
    return 0;
}

static int parse_time(const char *opt, const char *v, uint64_t *ns)
{
    if (sv_parse_duration(v, ns) != 0 || *ns == 0)
        return bad_value(opt, v, "is not a duration; use forms like 250ms, 30s, 2m, 1h30m");
    return 0;
}

static int opt_duration(void *ctx, const char *v)
{
    ARGS(ctx)->has_duration = true;
    if (parse_time("--duration", v, &ARGS(ctx)->duration_ns) != 0)
        return -1;
    set_flag(ctx, "duration", json_string(v));
    return 0;
}

/* --stage 30s:10, repeatable, as k6 spells it. */
static int opt_stage(void *ctx, const char *v)
{
    const char *colon = strchr(v, ':');
    char dur[64];
    uint64_t ns, target;
    if (colon == NULL || (size_t)(colon - v) >= sizeof(dur))
        return bad_value("--stage", v, "is not a stage; write DURATION:TARGET, e.g. 30s:10");
    snprintf(dur, sizeof(dur), "%.*s", (int)(colon - v), v);
    if (sv_parse_duration(dur, &ns) != 0 ||
        (strcmp(colon + 1, "0") != 0 && sv_parse_uint(colon + 1, 100000000, &target) != 0))
        return bad_value("--stage", v, "is not a stage; write DURATION:TARGET, e.g. 30s:10");
    json_t *stages = json_object_get(ARGS(ctx)->flags, "stages");
    if (stages == NULL) {
        stages = json_array();
        set_flag(ctx, "stages", stages);
    }
    json_array_append_new(stages, json_pack("{s:s,s:I}", "duration", dur, "target",
                                            (json_int_t)strtoull(colon + 1, NULL, 10)));
    return 0;
}

static int opt_timeout(void *ctx, const char *v)
{
    return parse_time("--timeout", v, &ARGS(ctx)->plan.timeout_ns);
}

static int opt_http11(void *ctx, const char *v)
{
    if (ARGS(ctx)->plan.http_version == SV_HTTP_2)
        return sv_cli_error("--http1.1 conflicts with --http2; pick one");
    ARGS(ctx)->plan.http_version = SV_HTTP_1_1;
    return 0;
}

static int opt_http2(void *ctx, const char *v)
{
    if (ARGS(ctx)->plan.http_version == SV_HTTP_1_1)
        return sv_cli_error("--http2 conflicts with --http1.1; pick one");
    ARGS(ctx)->plan.http_version = SV_HTTP_2;
    return 0;
}

static int opt_streams(void *ctx, const char *v)
{
    uint64_t n;
    if (parse_count("--streams", v, 1000, &n) != 0)
        return -1;
    ARGS(ctx)->plan.streams = (uint32_t)n;
    return 0;
}

static int opt_rate(void *ctx, const char *v)
{
    ARGS(ctx)->has_rate = true;
    if (sv_parse_rate(v, &ARGS(ctx)->rate) != 0)
        return bad_value("--rate", v, "is not a rate; write e.g. 2000/s, 100/m or 10/250ms");
    return 0;
}

static int opt_overload(void *ctx, const char *v)
{
    if (strcmp(v, "queue") != 0 && strcmp(v, "drop") != 0)
        return bad_value("--overload", v, "is not a policy; use drop (the default) or queue");
    ARGS(ctx)->overload = v;
    return 0;
}

static int opt_workers(void *ctx, const char *v)
{
    uint64_t n;
    if (parse_count("--workers", v, 1024, &n) != 0)
        return -1;
    ARGS(ctx)->plan.workers = (uint32_t)n;
    return 0;
}

static int opt_max_response(void *ctx, const char *v)
{
    if (strcmp(v, "0") == 0) {
        ARGS(ctx)->plan.max_response_bytes = 0;
        return 0;
    }
    if (sv_parse_size(v, &ARGS(ctx)->plan.max_response_bytes) != 0)
        return bad_value("--max-response-size", v, "is not a size; write e.g. 512KB, 10MB or 0");
    return 0;
}

static int opt_summary_export(void *ctx, const char *v)
{
    free(ARGS(ctx)->plan.summary_export);
    ARGS(ctx)->plan.summary_export = sv_xstrdup(v);
    return 0;
}

static int opt_tag(void *ctx, const char *v)
{
    const char *eq = strchr(v, '=');
    if (eq == NULL || eq == v)
        return bad_value("--tag", v, "is not a tag; write it as KEY=VALUE");
    char *key = sv_xstrndup(v, (size_t)(eq - v));
    json_t *tags = json_object_get(ARGS(ctx)->flags, "tags");
    if (tags == NULL) {
        tags = json_object();
        set_flag(ctx, "tags", tags);
    }
    json_object_set_new(tags, key, json_string(eq + 1));
    free(key);
    return 0;
}

static int opt_http_debug(void *ctx, const char *v)
{
    if (v == NULL || strcmp(v, "headers") == 0)
        ARGS(ctx)->plan.http_debug = SV_DEBUG_HEADERS;
    else if (strcmp(v, "full") == 0)
        ARGS(ctx)->plan.http_debug = SV_DEBUG_FULL;
    else
        return bad_value("--http-debug", v,
                         "is not a level; use --http-debug or --http-debug=full");
    return 0;
}

static int opt_env(void *ctx, const char *v)
{
    const char *eq = strchr(v, '=');
    if (eq == NULL || eq == v)
        return bad_value("--env", v, "is not a variable; write it as KEY=VALUE");
    char *key = sv_xstrndup(v, (size_t)(eq - v));
    sv_kv_push(&ARGS(ctx)->plan.env, &ARGS(ctx)->plan.n_env, key, eq + 1);
    free(key);
    return 0;
}

/* --threshold 'http_req_duration{name:login}:p(95)<300' */
static int opt_threshold(void *ctx, const char *v)
{
    const char *brace = strchr(v, '{'), *close = brace ? strchr(brace, '}') : NULL;
    const char *colon = strchr(close ? close : v, ':');
    if (colon == NULL || colon == v)
        return bad_value("--threshold", v,
                         "is not a threshold; write METRIC:EXPRESSION, e.g. "
                         "'http_req_duration:p(95)<300'");
    char *key = sv_xstrndup(v, (size_t)(colon - v));
    const char *why;
    int rc = sv_plan_add_threshold(&ARGS(ctx)->plan, key, colon + 1, false, 0, &why);
    free(key);
    if (rc != 0)
        return sv_cli_error("--threshold: \"%s\": %s", v, why);
    return 0;
}

static int opt_trend_stats(void *ctx, const char *v)
{
    const char *why;
    if (sv_plan_set_trend_stats(&ARGS(ctx)->plan, v, &why) != 0)
        return sv_cli_error("--summary-trend-stats: \"%s\": %s", v, why);
    json_t *list = json_array();
    char *copy = sv_xstrdup(v), *save = NULL;
    for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
        json_array_append_new(list, json_string(p));
    free(copy);
    set_flag(ctx, "summaryTrendStats", list);
    return 0;
}

static int opt_config(void *ctx, const char *v)
{
    ARGS(ctx)->config = v;
    return 0;
}

static int opt_no_connection_reuse(void *ctx, const char *v)
{
    set_flag(ctx, "noConnectionReuse", json_true());
    return 0;
}

static int opt_discard_bodies(void *ctx, const char *v)
{
    set_flag(ctx, "discardResponseBodies", json_true());
    return 0;
}

static int opt_insecure(void *ctx, const char *v)
{
    set_flag(ctx, "insecureSkipTLSVerify", json_true());
    return 0;
}

static int opt_cacert(void *ctx, const char *v)
{
    set_flag(ctx, "tlsCACert", json_string(v));
    return 0;
}

/* --cert and --key: one client certificate for every host, as tlsAuth. */
static int opt_cert_or_key(void *ctx, const char *field, const char *v)
{
    json_t *flags = ARGS(ctx)->flags;
    json_t *list = json_object_get(flags, "tlsAuth");
    if (list == NULL) {
        list = json_array();
        json_array_append_new(list, json_object());
        json_object_set_new(flags, "tlsAuth", list);
    }
    json_object_set_new(json_array_get(list, 0), field, json_string(v));
    return 0;
}

static int opt_cert(void *ctx, const char *v)
{
    return opt_cert_or_key(ctx, "cert", v);
}

static int opt_key(void *ctx, const char *v)
{
    return opt_cert_or_key(ctx, "key", v);
}

static int opt_key_password(void *ctx, const char *v)
{
    return opt_cert_or_key(ctx, "password", v);
}

static int opt_user_agent(void *ctx, const char *v)
{
    set_flag(ctx, "userAgent", json_string(v));
    return 0;
}

static int opt_rps(void *ctx, const char *v)
{
    uint64_t n;
    if (parse_count("--rps", v, 100000000, &n) != 0)
        return -1;
    set_flag(ctx, "rps", json_integer((json_int_t)n));
    return 0;
}

static int opt_max_redirects(void *ctx, const char *v)
{
    uint64_t n = 0;
    if (strcmp(v, "0") != 0 && parse_count("--max-redirects", v, 1000, &n) != 0)
        return -1;
    set_flag(ctx, "maxRedirects", json_integer((json_int_t)n));
    return 0;
}

/* --segment i/n: the i-th of n equal parts, as k6's executionSegment spells it. */
static int opt_segment(void *ctx, const char *v)
{
    sv_plan_t scratch;
    sv_plan_init(&scratch);
    const char *why;
    int rc = sv_plan_set_segment_index(&scratch, v, &why);
    sv_plan_free(&scratch);
    if (rc != 0)
        return sv_cli_error("--segment: \"%s\": %s", v, why);
    unsigned long long i = strtoull(v, NULL, 10), n = strtoull(strchr(v, '/') + 1, NULL, 10);
    sv_buf_t seq;
    sv_buf_init(&seq, 16384);
    for (unsigned long long k = 0; k <= n; k++)
        sv_buf_printf(&seq, "%s%llu/%llu", k ? "," : "", k, n);
    char seg[64];
    snprintf(seg, sizeof(seg), "%llu/%llu:%llu/%llu", i - 1, n, i, n);
    set_flag(ctx, "executionSegment", json_string(seg));
    set_flag(ctx, "executionSegmentSequence", json_string(seq.data));
    sv_buf_free(&seq);
    return 0;
}

static int opt_execution_segment(void *ctx, const char *v)
{
    set_flag(ctx, "executionSegment", json_string(v));
    return 0;
}

static int opt_execution_sequence(void *ctx, const char *v)
{
    set_flag(ctx, "executionSegmentSequence", json_string(v));
    return 0;
}

static int opt_start_at(void *ctx, const char *v)
{
    if (sv_parse_rfc3339(v, &ARGS(ctx)->plan.start_at_ns) != 0)
        return bad_value("--start-at", v,
                         "is not a time; write RFC 3339, e.g. 2026-11-23T10:00:00Z");
    return 0;
}

static int opt_address(void *ctx, const char *v)
{
    char host[256];
    uint16_t port;
    if (sv_split_host_port(v, host, sizeof(host), &port) != 0)
        return bad_value("--address", v, "is not an address; write HOST:PORT, e.g. 127.0.0.1:6565");
    free(ARGS(ctx)->plan.control_address);
    ARGS(ctx)->plan.control_address = sv_xstrdup(v);
    return 0;
}

static int opt_profile(void *ctx, const char *v)
{
    ARGS(ctx)->profile = v;
    return 0;
}

static int opt_target_vus(void *ctx, const char *v)
{
    return parse_count("--target-vus", v, 1000000, &ARGS(ctx)->target_vus);
}

static int opt_target_rate(void *ctx, const char *v)
{
    ARGS(ctx)->has_target_rate = true;
    if (sv_parse_rate(v, &ARGS(ctx)->target_rate) != 0)
        return bad_value("--target-rate", v, "is not a rate; write e.g. 2000/s or 100/m");
    return 0;
}

static int opt_out(void *ctx, const char *v)
{
    char err[512];
    if (sv_outputs_check(v, err, sizeof(err)) != 0)
        return sv_cli_error("%s", err);
    run_args_t *a = ctx;
    a->outs = sv_xrealloc(a->outs, (a->n_outs + 1) * sizeof(*a->outs));
    a->outs[a->n_outs++] = sv_xstrdup(v);
    return 0;
}

static int opt_out_required(void *ctx, const char *v)
{
    ARGS(ctx)->out_required = true;
    return 0;
}

static int opt_quiet(void *ctx, const char *v)
{
    ARGS(ctx)->plan.quiet = true;
    return 0;
}
static int opt_no_progress(void *ctx, const char *v)
{
    ARGS(ctx)->plan.no_progress = true;
    return 0;
}
static int opt_no_summary(void *ctx, const char *v)
{
    ARGS(ctx)->plan.no_summary = true;
    return 0;
}

const sv_opt_t sv_run_options[] = {
    {"url", 'u', "URL", "the URL to load (http://host[:port]/path)", opt_url},
    {"method", 'X', "METHOD", "request method (default GET, or POST with a body)", opt_method},
    {"header", 'H', "'NAME: VALUE'", "add a request header (repeatable)", opt_header},
    {"body", 0, "STRING", "request body", opt_body},
    {"body-file", 0, "FILE", "request body read from FILE", opt_body_file},
    {"vus", 0, "N", "looping VUs (default 1), or with --rate the VUs made ready at start", opt_vus},
    {"duration", 'd', "DURATION", "how long to run: 250ms, 30s, 2m, 1h30m", opt_duration},
    {"iterations", 'i', "N", "total iterations shared by the VUs, instead of a duration",
     opt_iterations},
    {"stage", 's', "DURATION:TARGET", "ramp the VUs to TARGET over DURATION (repeatable)",
     opt_stage},
    {"rate", 0, "RATE", "open model: start requests on schedule, e.g. 2000/s, 100/m", opt_rate},
    {"max-vus", 0, "N", "with --rate: most VUs to use (default max(--vus, 100))", opt_max_vus},
    {"overload", 0, "drop|queue", "with --rate: drop late iterations (default) or queue them",
     opt_overload},
    {"profile", 0, "TYPE",
     "a test type's load shape: smoke, load, stress, spike, soak or breakpoint (with "
     "--target-vus or --target-rate; --duration stretches it)",
     opt_profile},
    {"target-vus", 0, "N", "with --profile: the VUs the profile ramps to", opt_target_vus},
    {"target-rate", 0, "RATE", "with --profile: the iteration rate it ramps to, e.g. 500/s",
     opt_target_rate},
    {"config", 'c', "FILE", "k6-style JSON options file (flags > SALVO_* env > script > file)",
     opt_config},
    {"segment", 0, "I/N", "run the I-th of N equal slices of the test (distributed runs)",
     opt_segment},
    {"execution-segment", 0, "FROM:TO", "run this slice of the test, e.g. 1/4:2/4",
     opt_execution_segment},
    {"execution-segment-sequence", 0, "LIST", "the slices of the whole, e.g. 0,1/4,1/2,1",
     opt_execution_sequence},
    {"start-at", 0, "TIME", "start at this RFC 3339 wall-clock time (segments start together)",
     opt_start_at},
    {"address", 'a', "HOST:PORT",
     "where externally-controlled scenarios listen for salvo scale (default 127.0.0.1:6565)",
     opt_address},
    {"timeout", 0, "DURATION", "per-request timeout (default 60s)", opt_timeout},
    {"no-connection-reuse", 0, NULL, "a new connection for every request", opt_no_connection_reuse},
    {"user-agent", 0, "STRING", "the User-Agent header (default salvo/VERSION)", opt_user_agent},
    {"http1.1", 0, NULL, "speak HTTP/1.1 only (no h2 offered by ALPN)", opt_http11},
    {"http2", 0, NULL, "HTTP/2: by ALPN over TLS, with prior knowledge (h2c) on http://",
     opt_http2},
    {"streams", 0, "N", "with HTTP/2: N VUs share each connection, as concurrent streams",
     opt_streams},
    {"insecure", 'k', NULL, "skip TLS certificate verification (insecureSkipTLSVerify)",
     opt_insecure},
    {"insecure-skip-tls-verify", 0, NULL, "the same, as k6 spells it", opt_insecure},
    {"cacert", 0, "FILE", "trust the CA certificates of this PEM file instead of the system's",
     opt_cacert},
    {"cert", 0, "FILE", "a client certificate (PEM) for TLS, with --key", opt_cert},
    {"key", 0, "FILE", "the client certificate's private key (PEM)", opt_key},
    {"key-password", 0, "PASS", "the password of an encrypted --key", opt_key_password},
    {"discard-response-bodies", 0, NULL, "read bodies but keep none (saves memory)",
     opt_discard_bodies},
    {"rps", 0, "N", "cap on request starts per second over the whole test", opt_rps},
    {"max-redirects", 0, "N", "redirects to follow (default 10)", opt_max_redirects},
    {"workers", 'w', "N", "worker threads (default: one per core)", opt_workers},
    {"max-response-size", 0, "SIZE", "fail response bodies over SIZE (default 64MiB, 0: no cap)",
     opt_max_response},
    {"summary-export", 0, "FILE", "write the end-of-test summary as JSON to FILE",
     opt_summary_export},
    {"out", 'o', "NAME=ARG",
     "an output (repeatable): json=FILE, csv=FILE, influxdb=URL, prometheus=HOST:PORT, "
     "prometheus-rw=URL, junit=FILE, html=FILE (see docs/outputs.md)",
     opt_out},
    {"out-required", 0, NULL, "fail (exit 2) when an output cannot open, instead of a warning",
     opt_out_required},
    {"summary-trend-stats", 0, "LIST",
     "trend columns, e.g. 'avg,p(99),p(99.99),count' (default "
     "avg,min,med,max,p(90),p(95))",
     opt_trend_stats},
    {"tag", 0, "KEY=VALUE", "add a tag to every metric (repeatable)", opt_tag},
    {"env", 'e', "KEY=VALUE", "set salvo.env.KEY for the script (repeatable)", opt_env},
    {"threshold", 0, "METRIC:EXPR",
     "fail the run (exit 99) unless EXPR holds, e.g. "
     "'http_req_duration:p(95)<300' (repeatable)",
     opt_threshold},
    {"http-debug", 0, "[=full]", "print each request and response head (full: with bodies)",
     opt_http_debug},
    {"quiet", 'q', NULL, "no banner and no progress line", opt_quiet},
    {"no-progress", 0, NULL, "no progress line", opt_no_progress},
    {"no-summary", 0, NULL, "no end-of-test summary on stdout", opt_no_summary},
    {0},
};

const char sv_run_usage[] =
    "Usage: salvo run SCRIPT.lua [options]\n"
    "       salvo run --url URL [options]\n"
    "\n"
    "Runs a load test: a Lua script's default() as the iteration (see docs/scripting.md),\n"
    "or one request to --url. Closed model: --vus VUs loop iterations for --duration\n"
    "(or share --iterations). Open model: --rate starts iterations on schedule, whether\n"
    "earlier ones finished or not; late starts are measured. Flags override the\n"
    "script's options.\n"
    "\n"
    "Examples:\n"
    "  salvo run examples/quickstart.lua -e BASE=http://127.0.0.1:8080\n"
    "  salvo run --url http://127.0.0.1:8080/hello --vus 50 --duration 30s\n"
    "  salvo run --url http://127.0.0.1:8080/hello --rate 2000/s --duration 30s --max-vus 500\n"
    "\n";

/* --rate: one constant-arrival-rate scenario, in the flags' layer. */
static int rate_scenario(run_args_t *a)
{
    if (a->iterations)
        return sv_cli_error("--rate and --iterations both given; use --rate with --duration, or "
                            "--iterations alone");
    if (!a->has_duration)
        return sv_cli_error("--rate needs --duration (e.g. --rate 100/s --duration 30s)");
    uint64_t max_vus = a->max_vus ? a->max_vus : SV_MAX(a->vus, 100);
    uint64_t vus = a->has_vus ? a->vus : max_vus;
    if (vus > max_vus)
        return sv_cli_error("--vus (%llu) is more than --max-vus (%llu); raise --max-vus",
                            (unsigned long long)vus, (unsigned long long)max_vus);
    char unit[48];
    sv_format_duration(a->rate.per_ns, unit, sizeof(unit));
    json_t *sc =
        json_pack("{s:s,s:I,s:s,s:O,s:I,s:I,s:s}", "executor", "constant-arrival-rate", "rate",
                  (json_int_t)a->rate.count, "timeUnit", unit, "duration",
                  json_object_get(a->flags, "duration"), "preAllocatedVUs", (json_int_t)vus,
                  "maxVUs", (json_int_t)max_vus, "overload", a->overload ? a->overload : "drop");
    set_flag(a, "scenarios", json_pack("{s:o}", "default", sc));
    return 0;
}

/* --profile: the test type's scenario, in the flags' layer. */
static int profile_scenario(run_args_t *a)
{
    if (!a->target_vus == !a->has_target_rate)
        return sv_cli_error("--profile %s needs one of --target-vus N or --target-rate R",
                            a->profile);
    if (a->iterations || json_object_get(a->flags, "stages"))
        return sv_cli_error("--profile sets the stages; drop --%s",
                            a->iterations ? "iterations" : "stage");
    if (a->target_vus && a->has_vus)
        return sv_cli_error("--vus and --target-vus both given; the profile ramps to "
                            "--target-vus");
    sv_profile_target_t t = {
        .vus = a->target_vus,
        .rate = a->target_rate,
        .by_rate = a->has_target_rate,
        .duration_ns = a->has_duration ? a->duration_ns : 0,
        .pre_vus = a->has_vus ? a->vus : 0,
        .max_vus = a->max_vus,
    };
    const char *why;
    json_t *scenarios = sv_profile_scenarios(a->profile, &t, &why);
    if (scenarios == NULL)
        return sv_cli_error("--profile: \"%s\": %s", a->profile, why);
    if (a->overload)
        json_object_set_new(json_object_get(scenarios, a->profile), "overload",
                            json_string(a->overload));
    set_flag(a, "scenarios", scenarios);
    return 0;
}

/* Turns --rate or --profile into a scenario; the shortcut flags they use go. */
static int shape_flags(run_args_t *a)
{
    if (a->has_rate && a->profile)
        return sv_cli_error("--rate and --profile both given; use one of them");
    if ((a->target_vus || a->has_target_rate) && !a->profile)
        return sv_cli_error("--%s needs --profile (e.g. --profile load)",
                            a->target_vus ? "target-vus" : "target-rate");
    bool open = a->has_rate || (a->profile && a->has_target_rate);
    if (!open && (a->max_vus || a->overload))
        return sv_cli_error("%s only applies to --rate tests; add --rate N/s",
                            a->max_vus ? "--max-vus" : "--overload");
    int rc = a->has_rate ? rate_scenario(a) : a->profile ? profile_scenario(a) : 0;
    if (rc == 0 && (a->has_rate || a->profile)) {
        json_object_del(a->flags, "vus");
        json_object_del(a->flags, "duration");
    }
    return rc;
}

static json_t *read_config(const char *path)
{
    json_error_t jerr;
    json_t *config = json_load_file(path, 0, &jerr);
    if (config == NULL && jerr.line > 0)
        sv_cli_error("--config: \"%s\": %s (line %d)", path, jerr.text, jerr.line);
    else if (config == NULL)
        sv_cli_error("--config: \"%s\": %s", path, jerr.text);
    return config;
}

/* The layers in k6's order, lowest first: config file, script, SALVO_* env, flags.
 * Each is checked on its own first, so an error names where the bad value was. */
static int apply_layers(run_args_t *a, json_t *script_options)
{
    json_t *layers[4];
    const char *names[4];
    char config_name[300];
    int n = 0, rc = 0;
    if (a->config) {
        if ((layers[n] = read_config(a->config)) == NULL)
            return -1;
        snprintf(config_name, sizeof(config_name), "--config %s", a->config);
        names[n++] = config_name;
    }
    if (script_options) {
        layers[n] = json_incref(script_options);
        names[n++] = "options";
    }
    layers[n] = sv_options_from_env(environ);
    names[n++] = "SALVO_* environment";
    layers[n] = json_incref(a->flags);
    names[n++] = "flags";
    json_t *merged = json_object();
    char err[512];
    for (int i = 0; i < n && rc == 0; i++) {
        sv_plan_t scratch;
        sv_plan_init(&scratch);
        rc = sv_options_apply(&scratch, layers[i], names[i], err, sizeof(err));
        sv_plan_free(&scratch);
        if (rc == 0)
            sv_options_merge(merged, layers[i]);
    }
    if (rc == 0)
        rc = sv_options_apply(&a->plan, merged, "options", err, sizeof(err));
    for (int i = 0; i < n; i++)
        json_decref(layers[i]);
    json_decref(merged);
    return rc == 0 ? 0 : sv_cli_error("%s", err);
}

/* Every scenario's exec names a function of the script. Returns 0, or the exit code
 * after an error line: a script without default() is a script error. */
static int check_exec(run_args_t *a)
{
    for (size_t i = 0; i < a->plan.n_scenarios; i++) {
        const sv_scenario_t *s = &a->plan.scenarios[i];
        const char *fn = s->exec ? s->exec : "default";
        if (a->script && !sv_script_has_function(a->script, fn)) {
            if (s->exec) {
                sv_cli_error("options.scenarios.%s.exec: the script has no function \"%s\"",
                             s->name, fn);
                return SV_EXIT_USAGE;
            }
            sv_cli_error("%s: the script defines no default() function (the iteration every "
                         "VU runs); define it, or give each scenario an exec",
                         a->plan.script);
            return SV_EXIT_SCRIPT_ERROR;
        }
        if (!a->script && s->exec) {
            sv_cli_error("options.scenarios.%s.exec: a --url test has no functions to run",
                         s->name);
            return SV_EXIT_USAGE;
        }
    }
    return 0;
}

/* A segment that gets none of a scenario's VUs runs none of its work, and no other
 * segment does it either: say so before the load. */
static void warn_empty_segments(const sv_plan_t *plan)
{
    for (size_t i = 0; plan->segment_label && i < plan->n_scenarios; i++) {
        const sv_scenario_t *s = &plan->scenarios[i];
        uint32_t vus = sv_scenario_max_vus(s);
        if (vus && sv_segment_count(&plan->segment, vus) == 0)
            fprintf(stderr,
                    "salvo: warning: scenario \"%s\" has no VUs in this segment (%u VUs over "
                    "the whole test): its share of the work is not run; give it at least as "
                    "many VUs as segments\n",
                    s->name, vus);
    }
}

/* Flags that only mean something together, or with a kind of test. */
static int check_flag_pairs(const run_args_t *a)
{
    json_t *auth = json_array_get(json_object_get(a->flags, "tlsAuth"), 0);
    if (auth && !json_object_get(auth, "key") && !json_object_get(auth, "cert"))
        return sv_cli_error("--key-password needs --cert and --key (the encrypted key)");
    if (auth && !json_object_get(auth, "key"))
        return sv_cli_error("--cert needs --key (the certificate's private key)");
    if (auth && !json_object_get(auth, "cert"))
        return sv_cli_error("--key needs --cert (the client certificate)");
    if (a->plan.streams > 1 && a->plan.script)
        return sv_cli_error("--streams is for --url tests; a script's http.batch shares its "
                            "HTTP/2 connections by itself");
    if (a->plan.streams > 1 && a->plan.http_version != SV_HTTP_2 &&
        (a->url == NULL || strncmp(a->url, "https://", 8) != 0))
        return sv_cli_error("--streams needs HTTP/2: an https:// URL (h2 by ALPN) or --http2");
    return 0;
}

/* The options from every source, merged into the plan. Returns 0, or the exit code
 * after an error line. */
int sv_run_configure(run_args_t *a)
{
    json_t *script_options = NULL;
    char err[SV_LUA_ERR_SIZE];
    if (check_flag_pairs(a) != 0)
        return SV_EXIT_USAGE;
    if (a->script && sv_script_options(a->script, &script_options, err) != 0) {
        sv_cli_error("%s", err);
        return SV_EXIT_USAGE;
    }
    int rc = shape_flags(a);
    if (rc == 0)
        rc = apply_layers(a, script_options);
    json_decref(script_options);
    if (rc != 0)
        return SV_EXIT_USAGE;
    if ((rc = check_exec(a)) != 0)
        return rc;
    if (sv_plan_check_thresholds(&a->plan, a->catalog, err, sizeof(err)) != 0) {
        sv_cli_error("%s", err);
        return SV_EXIT_USAGE;
    }
    warn_empty_segments(&a->plan);
    return 0;
}
