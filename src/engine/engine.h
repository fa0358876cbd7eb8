/*
 * The engine runs a plan: W worker threads, each with its own event loop,
 * connections and metric registry, and the calling thread as the collector that
 * merges their interval snapshots once a second and handles SIGINT/SIGTERM.
 */
#ifndef SV_ENGINE_H
#define SV_ENGINE_H

#include "../output/report.h"
#include "../plan/plan.h"

typedef void (*sv_progress_cb)(const sv_progress_t *p, void *arg);

typedef struct {
    sv_catalog_t *catalog;   /* metrics, the script's custom ones included; the caller's */
    const char *setup_json;  /* setup()'s result for script VUs, or NULL */
    sv_progress_cb progress; /* may be NULL */
    void *progress_arg;
    /* Once a period on the collector thread: the totals so far, for live outputs
     * (may be NULL). Must not block. */
    void (*period)(const sv_report_t *so_far, void *arg);
    void *period_arg;
    /* Per-sample outputs: when set, workers keep every sample (at most keep_samples a
     * second each; more are lost and counted) and the collector hands them over with
     * the wall-clock time of each, in ns since the epoch = at_ns + wall_offset_ns. */
    void (*samples)(const sv_sample_t *s, size_t n, uint64_t lost, uint64_t wall_offset_ns,
                    void *arg);
    size_t keep_samples;
} sv_engine_opts_t;

/* Runs the plan to its end or until a signal. Fills *report (release it with
 * sv_engine_report_free). Returns 0, or SV_EINVAL with one line in err (size bytes)
 * when the run cannot start: the request cannot be built, the control endpoint
 * cannot listen. */
int sv_engine_run(const sv_plan_t *plan, const sv_engine_opts_t *opts, sv_report_t *report,
                  char *err, size_t size);
void sv_engine_report_free(sv_report_t *report);
/* Evaluates the plan's thresholds on the report's totals again (after samples were
 * added, e.g. by teardown). */
void sv_engine_evaluate_thresholds(sv_report_t *report);

/* Number of workers the plan will use: its setting (or the cores), but never more
 * than it has VUs to give them. */
uint32_t sv_engine_workers_for(const sv_plan_t *plan);

#endif
