/*
 * The plan: one in-memory description of a test (scenarios, the request a quick
 * test sends, tags, options, outputs). Pure data, built from flags now and from
 * scripts and YAML later, validated before anything runs.
 */
#ifndef SV_PLAN_H
#define SV_PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../http/tls.h"
#include "../metrics/threshold.h"
#include "../sched/sched.h"

/* Where a running test listens for `salvo scale` (k6's REST API address). */
#define SV_CONTROL_ADDRESS "127.0.0.1:6565"

/* k6's seven executors. */
typedef enum {
    SV_EXEC_SHARED_ITERATIONS,
    SV_EXEC_PER_VU_ITERATIONS,
    SV_EXEC_CONSTANT_VUS,
    SV_EXEC_RAMPING_VUS,
    SV_EXEC_CONSTANT_ARRIVAL_RATE,
    SV_EXEC_RAMPING_ARRIVAL_RATE,
    SV_EXEC_EXTERNALLY_CONTROLLED,
} sv_executor_t;

#define SV_N_EXECUTORS 7

typedef struct {
    char *key, *value;
} sv_kv_t;

typedef struct {
    char *name;
    sv_executor_t executor;
    char *exec; /* the script function its VUs run; NULL: default */
    uint64_t start_time_ns;
    uint64_t graceful_stop_ns;
    sv_kv_t *env, *tags;
    size_t n_env, n_tags;
    /* VUs: constant-vus, the iterations executors and externally-controlled; startVUs
     * of ramping-vus; preAllocatedVUs of the arrival rates */
    uint32_t vus;
    uint32_t max_vus;         /* arrival rates, externally-controlled */
    uint64_t duration_ns;     /* constant-*, externally-controlled */
    uint64_t iterations;      /* shared-iterations: in all; per-vu-iterations: per VU */
    uint64_t max_duration_ns; /* the iterations executors */
    sv_rate_t rate;           /* constant-arrival-rate: rate per timeUnit */
    uint64_t start_rate;      /* ramping-arrival-rate, per timeUnit */
    sv_stage_t *stages;       /* ramping-* */
    size_t n_stages;
    uint64_t graceful_ramp_down_ns; /* ramping-vus */
    bool overload_queue;            /* late arrivals wait for a VU instead of being dropped */
} sv_scenario_t;

/* The request a quick (script-less) test sends. */
typedef struct {
    char *method;
    char *url;
    sv_kv_t *headers;
    size_t n_headers;
    char *body;
    size_t body_len;
} sv_request_spec_t;

typedef enum { SV_DEBUG_OFF, SV_DEBUG_HEADERS, SV_DEBUG_FULL } sv_http_debug_t;

#define SV_MAX_TREND_STATS 16

/* A column of the summary's trends: "avg", "p(99)", … */
typedef struct {
    char name[24];
    sv_agg_t agg;
    double pct;
} sv_trend_stat_t;

typedef struct sv_plan {
    char *script; /* path of the Lua script, or NULL for a quick test */
    sv_kv_t *env; /* -e KEY=VALUE */
    size_t n_env;
    sv_scenario_t *scenarios;
    size_t n_scenarios;
    sv_request_spec_t request;
    sv_kv_t *tags;
    size_t n_tags;
    sv_threshold_set_t *thresholds;
    size_t n_thresholds;
    sv_trend_stat_t trend_stats[SV_MAX_TREND_STATS];
    size_t n_trend_stats;
    uint64_t timeout_ns;
    uint64_t max_response_bytes; /* 0: no cap */
    uint64_t setup_timeout_ns, teardown_timeout_ns;
    bool no_connection_reuse;
    bool discard_response_bodies;
    char *user_agent; /* NULL: salvo's own; "" sends none */
    uint64_t rps;     /* a cap on request starts per second over the whole test; 0: none */
    int max_redirects;
    sv_tls_opts_t tls;
    uint8_t http_version;             /* sv_http_version_t: auto (ALPN), HTTP/1.1 only, or HTTP/2 */
    uint32_t streams;                 /* quick tests: VUs sharing one HTTP/2 connection (0: 1) */
    const struct sv_tls *tls_context; /* built from tls by the run command; not owned */
    /* the slice of the test this process runs (--segment, --execution-segment) */
    sv_segment_t segment;
    char *segment_label;   /* "1/3" or "0:1/3", NULL for the whole test */
    uint64_t start_at_ns;  /* --start-at as wall-clock (CLOCK_REALTIME) ns; 0: now */
    char *control_address; /* externally-controlled: HOST:PORT; NULL: SV_CONTROL_ADDRESS */
    uint32_t workers;
    char *summary_export;
    sv_http_debug_t http_debug;
    bool quiet;
    bool no_progress;
    bool no_summary;
} sv_plan_t;

void sv_plan_init(sv_plan_t *p);
void sv_plan_free(sv_plan_t *p);
/* A scenario with k6's defaults (1 VU, 1 iteration, gracefulStop 30s, …). */
sv_scenario_t *sv_plan_add_scenario(sv_plan_t *p, const char *name);
void sv_scenario_free(sv_scenario_t *s);
/* Adds threshold expr to the set for metric key (made on first use). SV_EPARSE with
 * *why for a malformed key or expression. */
int sv_plan_add_threshold(sv_plan_t *p, const char *key, const char *expr, bool abort_on_fail,
                          uint64_t delay_abort_ns, const char **why);
/* Sets the summary's trend columns from "avg,min,med,max,p(90),p(95),count".
 * SV_EPARSE with *why set. */
int sv_plan_set_trend_stats(sv_plan_t *p, const char *list, const char **why);
/* Checks every threshold's metric exists and takes its aggregation. SV_EINVAL with
 * a message in err (size bytes). */
int sv_plan_check_thresholds(const sv_plan_t *p, const sv_catalog_t *catalog, char *err,
                             size_t size);
void sv_kv_push(sv_kv_t **arr, size_t *n, const char *key, const char *value);

/* How long a scenario runs before its graceful stop (a ramp's stages, a duration or
 * the iterations' maxDuration); its start time not included. */
uint64_t sv_scenario_run_ns(const sv_scenario_t *s);
/* The longest a scenario can run from the test's start: start time, run, graceful
 * stop (k6's "max duration"). */
uint64_t sv_scenario_max_ns(const sv_scenario_t *s);
/* The most VUs a scenario can have at once in the whole test. */
uint32_t sv_scenario_max_vus(const sv_scenario_t *s);
bool sv_executor_is_open(sv_executor_t e);
const char *sv_executor_name(sv_executor_t e);
/* SV_EPARSE for a name k6 does not have. */
int sv_executor_parse(const char *name, sv_executor_t *e);

/* Value parsers. Each returns 0 or SV_EPARSE / SV_ERANGE. */

/* k6 durations: "250ms", "30s", "2m", "1h30m", "1.5s", "100us"; a bare number is
 * seconds. */
int sv_parse_duration(const char *s, uint64_t *ns);
/* Rates: "2000/s", "100/m", "5/1h", "10/250ms"; a bare number is per second. */
int sv_parse_rate(const char *s, sv_rate_t *rate);
/* Sizes: "512", "64KB", "10MB", "1GiB" (KB = 1000, KiB = 1024). */
int sv_parse_size(const char *s, uint64_t *bytes);
/* Positive integers that fit in max. */
int sv_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* RFC 3339 times ("2026-11-23T10:00:00Z", "…T10:00:00.5+01:00") as Unix ns. */
int sv_parse_rfc3339(const char *s, uint64_t *ns);

/* Formats a duration the way k6 prints it ("1m30s", "250ms"). */
void sv_format_duration(uint64_t ns, char *out, size_t size);

#endif
