/*
 * Thresholds, as k6 spells them: "p(95)<500" on a metric, or on a sub-metric
 * selected by tags ("http_req_duration{name:login}"). Parsing is pure and checks
 * the aggregation against the metric's type; evaluation reads a combined series.
 */
#ifndef SV_THRESHOLD_H
#define SV_THRESHOLD_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"

typedef enum {
    SV_AGG_AVG,
    SV_AGG_MIN,
    SV_AGG_MAX,
    SV_AGG_MED,
    SV_AGG_P,
    SV_AGG_COUNT,
    SV_AGG_RATE,
    SV_AGG_VALUE
} sv_agg_t;
typedef enum { SV_OP_LT, SV_OP_LE, SV_OP_GT, SV_OP_GE, SV_OP_EQ, SV_OP_NE } sv_op_t;

typedef struct {
    char *source; /* the expression as written */
    sv_agg_t agg;
    double pct; /* for p(N) */
    sv_op_t op;
    double bound;
    bool abort_on_fail;
    uint64_t delay_abort_ns;
} sv_threshold_t;

/* The thresholds of one metric or sub-metric. */
typedef struct {
    char *key;      /* "http_req_duration{name:login}" as written */
    char *metric;   /* "http_req_duration" */
    sv_tag_t *tags; /* the selector's tags (owned strings) */
    size_t n_tags;
    sv_threshold_t *items;
    size_t n_items;
} sv_threshold_set_t;

/* Parses one aggregation name: "avg", "p(99.9)", … SV_EPARSE otherwise. */
int sv_agg_parse(const char *text, sv_agg_t *agg, double *pct);
/* A trend statistic (avg, min, max, med, p(N), count) of a histogram, in the
 * metric's unit. */
double sv_trend_stat(const sv_hist_t *h, sv_agg_t agg, double pct);

/* Parses "p(95) < 500". SV_EPARSE with *why set. */
int sv_threshold_parse(const char *expr, sv_threshold_t *out, const char **why);
/* Parses a metric key "name" or "name{tag:value,tag2:value2}". */
int sv_threshold_set_init(sv_threshold_set_t *set, const char *key, const char **why);
void sv_threshold_set_free(sv_threshold_set_t *set);
/* Whether the aggregation applies to a metric of this type (k6's rules). */
bool sv_threshold_fits(sv_agg_t agg, sv_metric_type_t type);
const char *sv_metric_type_aggs(sv_metric_type_t type); /* for error messages */

/* The observed value of t's aggregation on a combined series (trend values in the
 * metric's unit, i.e. ms for time), over a run of `seconds`. */
double sv_threshold_observe(const sv_threshold_t *t, const sv_series_t *agg, double seconds);
bool sv_threshold_passes(const sv_threshold_t *t, double observed);

/* The outcome of one threshold. */
typedef struct {
    const sv_threshold_set_t *set;
    const sv_threshold_t *t;
    double observed;
    bool passed;
    bool no_data; /* the metric had no samples: k6 counts that as passed */
} sv_threshold_result_t;

/* Evaluates every threshold of the sets on reg's series over a run of `seconds`;
 * returns a new array of results (n_sets items summed), to free. */
sv_threshold_result_t *sv_threshold_evaluate(const sv_threshold_set_t *sets, size_t n_sets,
                                             const sv_registry_t *reg, double seconds,
                                             size_t *n_results);

#endif
