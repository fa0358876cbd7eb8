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

#include "../metrics/threshold.h"
#include "../sched/sched.h"

typedef enum {
    SV_EXEC_CONSTANT_VUS,
    SV_EXEC_SHARED_ITERATIONS,
    SV_EXEC_CONSTANT_ARRIVAL_RATE,
} sv_executor_t;

typedef struct {
    char *key, *value;
} sv_kv_t;

typedef struct {
    char *name;
    sv_executor_t executor;
    uint32_t vus;             /* constant-vus, shared-iterations; preallocated for rates */
    uint32_t max_vus;         /* arrival rate */
    uint64_t duration_ns;     /* constant-vus, arrival rate */
    uint64_t iterations;      /* shared-iterations */
    uint64_t max_duration_ns; /* shared-iterations */
    sv_rate_t rate;           /* arrival rate */
    uint64_t graceful_stop_ns;
    bool overload_queue; /* late arrivals wait for a VU instead of being dropped */
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

/* k6's test-shaping shortcuts (vus, duration, iterations, tags), from a script's
 * options or from flags; flags win. */
typedef struct {
    bool has_vus, has_duration, has_iterations;
    uint64_t vus, duration_ns, iterations;
    sv_kv_t *tags;
    size_t n_tags;
} sv_shortcuts_t;

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
    uint32_t workers;
    char *summary_export;
    sv_http_debug_t http_debug;
    bool quiet;
    bool no_progress;
    bool no_summary;
} sv_plan_t;

void sv_plan_init(sv_plan_t *p);
void sv_plan_free(sv_plan_t *p);
sv_scenario_t *sv_plan_add_scenario(sv_plan_t *p, const char *name);
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

/* The longest a scenario can run, graceful stop included (k6's "max duration"). */
uint64_t sv_scenario_max_ns(const sv_scenario_t *s);
const char *sv_executor_name(sv_executor_t e);

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

/* Formats a duration the way k6 prints it ("1m30s", "250ms"). */
void sv_format_duration(uint64_t ns, char *out, size_t size);

#endif
