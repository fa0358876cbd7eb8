/*
 * What a finished (or interrupted) run hands to the outputs: merged totals, the
 * plan it ran, how long it took and how the generator itself fared. Outputs read
 * it; they compute no statistics of their own beyond reading histograms.
 */
#ifndef SV_REPORT_H
#define SV_REPORT_H

#include <stdbool.h>
#include <stdint.h>

#include "../metrics/metrics.h"
#include "../plan/plan.h"

typedef struct {
    double cpu_mean;   /* fraction of one core while the load ran, 0..1 */
    double cpu_max;    /* highest one-second sample */
    double lag_p99_ms; /* event-loop lag */
    double lag_max_ms;
    uint32_t open_connections; /* established now (at the end: when last sampled) */
    uint64_t samples_dropped;  /* samples per-sample outputs never got (over the cap) */
} sv_worker_health_t;

/* One second of the run, for charts: rates over the second, latency percentiles of
 * the requests that ended in it. */
typedef struct {
    double t_s; /* seconds since the start, at the end of the second */
    double reqs_per_s, failed_per_s, iterations_per_s;
    double vus;
    double p50_ms, p95_ms, p99_ms; /* 0 when no request ended in the second */
} sv_tick_t;

typedef struct {
    const sv_plan_t *plan;
    const sv_catalog_t *catalog;
    sv_registry_t *totals;
    uint64_t duration_ns;
    bool interrupted;     /* stopped by a signal */
    bool abandoned;       /* a second signal: workers were left running, exit promptly */
    char *aborted;        /* test.abort()'s reason (or a threshold's), or NULL */
    bool threshold_abort; /* a threshold with abortOnFail stopped the test */
    bool script_error;    /* a worker could not load the script */
    sv_threshold_result_t *thresholds; /* evaluated on the totals at the end */
    size_t n_thresholds, thresholds_failed;
    sv_worker_health_t *workers;
    uint32_t n_workers;
    bool saturated;       /* a worker's CPU was the limit: figures are the generator's */
    char saturation[160]; /* why, when saturated */
    bool lagging;         /* event-loop lag large enough to show in latencies */
    char lag[160];        /* why, when lagging */
    sv_tick_t *ticks;     /* the run second by second (owned by the report) */
    size_t n_ticks;
    char **output_notes; /* what outputs could not deliver, one line each (not owned) */
    size_t n_output_notes;
} sv_report_t;

/* Live figures for the progress line, once a second. */
typedef struct {
    uint64_t elapsed_ns, total_ns;
    uint32_t vus, vus_max;
    double reqs_per_s;
    uint64_t reqs, failed; /* cumulative */
    double p95_ms;         /* of http_req_duration so far */
    bool stopping;
} sv_progress_t;

#endif
