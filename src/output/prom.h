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
} sv_prom_sample_t;

typedef void (*sv_prom_emit_t)(const sv_prom_sample_t *s, void *arg);

/* Every series of the report's totals with samples, family by family (a family's
 * series together), then the generator's health per worker
 * (salvo_generator_cpu_ratio, salvo_generator_cpu_max_ratio,
 * salvo_generator_loop_lag_max_seconds, with a worker label) and
 * salvo_test_duration_seconds. */
void sv_prom_each(const sv_report_t *r, sv_prom_emit_t emit, void *arg);

/* A tag key as a valid label name: [a-zA-Z_][a-zA-Z0-9_]*, others replaced by _. */
void sv_prom_label_name(sv_buf_t *b, const char *key);

#endif
