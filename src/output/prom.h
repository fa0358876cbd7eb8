/*
 * salvo's metrics as Prometheus series, shared by the /metrics endpoint and remote
 * write so both name everything alike: salvo_ prefix, counters cumulative with
 * _total (data in _bytes_total), times in seconds, a trend as one gauge per
 * statistic (salvo_http_req_duration_seconds_p95), a rate as its ratio
 * (salvo_http_req_failed_rate), tags as labels.
 */
#ifndef SV_PROM_H
#define SV_PROM_H

#include "report.h"

typedef struct {
    const char *name; /* the family, "salvo_http_reqs_total" (valid during the call) */
    const char *type; /* "counter" or "gauge" */
    const char *help;
    const sv_tagset_t *tags;
    const char *worker; /* the generator's series: the worker label, else NULL */
    double value;
    /* native histograms only: the trend (type "histogram"), and what its recorded
     * values are divided by for the series' unit (seconds for times) */
    const sv_hist_t *hist;
    double hist_unit;
} sv_prom_sample_t;

typedef void (*sv_prom_emit_t)(const sv_prom_sample_t *s, void *arg);

/* Every series of the report's totals with samples, family by family (a family's
 * series together), then the generator's health per worker, with a worker label
 * (salvo_generator_cpu_ratio, salvo_generator_cpu_max_ratio,
 * salvo_generator_loop_lag_max_seconds, salvo_generator_open_connections,
 * salvo_generator_dropped_samples_total) and salvo_test_duration_seconds. */
void sv_prom_each(const sv_report_t *r, sv_prom_emit_t emit, void *arg);
/* The same, but each trend as one native histogram (salvo_http_req_duration_seconds)
 * instead of a gauge per statistic. */
void sv_prom_each_native(const sv_report_t *r, sv_prom_emit_t emit, void *arg);

/* Native histograms' exponential buckets: at schema s (-4..8) bucket i holds the
 * values in (2^((i-1)/2^s), 2^(i/2^s)]. The index of value v > 0. */
int32_t sv_prom_native_bucket(double v, int schema);

/* A tag key as a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, others replaced by _. */
void sv_prom_label_name(sv_buf_t *b, const char *key);

#endif
