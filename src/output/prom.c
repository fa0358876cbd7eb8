/*
 * Enumerating the totals as Prometheus series (see prom.h).
 */
#include "prom.h"

#include <ctype.h>
#include <stdio.h>

#include "../metrics/threshold.h"

/* The statistics a trend is exported as: name suffix, aggregation, percentile. */
static const struct {
    const char *suffix;
    sv_agg_t agg;
    double pct;
} trend_stats[] = {
    {"avg", SV_AGG_AVG, 0}, {"min", SV_AGG_MIN, 0},   {"med", SV_AGG_MED, 0},
    {"max", SV_AGG_MAX, 0}, {"p90", SV_AGG_P, 90},    {"p95", SV_AGG_P, 95},
    {"p99", SV_AGG_P, 99},  {"p999", SV_AGG_P, 99.9},
};

void sv_prom_label_name(sv_buf_t *b, const char *key)
{
    if (!isalpha((unsigned char)*key) && *key != '_')
        sv_buf_append(b, "_", 1);
    for (; *key; key++) {
        char c = isalnum((unsigned char)*key) ? *key : '_';
        sv_buf_append(b, &c, 1);
    }
}

/* The family name: salvo_<metric>[_seconds|_bytes][_total|_rate|_<stat>]. */
static void family(sv_buf_t *b, const sv_metric_def_t *d, const char *suffix)
{
    sv_buf_reset(b);
    sv_buf_printf(b, "salvo_");
    sv_prom_label_name(b, d->name);
    if (d->contains == SV_CONTAINS_TIME)
        sv_buf_printf(b, "_seconds");
    else if (d->contains == SV_CONTAINS_DATA)
        sv_buf_printf(b, "_bytes");
    sv_buf_printf(b, suffix ? "_%s" : "%s", suffix ? suffix : ""); /* and the NUL */
}

/* A trend statistic in seconds for times, else in the metric's unit. */
static double trend_value(const sv_metric_def_t *d, const sv_hist_t *h, size_t k)
{
    double v = sv_trend_stat(h, trend_stats[k].agg, trend_stats[k].pct);
    return d->contains == SV_CONTAINS_TIME ? v / 1000.0 : v;
}

static bool has_samples(const sv_series_t *s)
{
    switch (s->type) {
    case SV_GAUGE:
        return s->v.gauge.set;
    case SV_TREND:
        return s->v.trend && sv_hist_count(s->v.trend) > 0;
    case SV_RATE:
        return s->v.rate.total > 0;
    default:
        return true;
    }
}

static double value_of(const sv_metric_def_t *d, const sv_series_t *s, size_t k)
{
    switch (s->type) {
    case SV_COUNTER:
        return s->v.counter;
    case SV_GAUGE:
        return s->v.gauge.value;
    case SV_RATE:
        return (double)s->v.rate.nonzero / (double)s->v.rate.total;
    default:
        return trend_value(d, s->v.trend, k);
    }
}

/* Every series of one metric, as one family (or one per statistic for a trend). */
static void each_of_metric(const sv_registry_t *reg, uint32_t id, sv_buf_t *name,
                           sv_prom_emit_t emit, void *arg)
{
    const sv_metric_def_t *d = sv_catalog_get(sv_registry_catalog(reg), id);
    size_t rounds = d->type == SV_TREND ? SV_ARRAY_SIZE(trend_stats) : 1;
    char help[160];
    for (size_t k = 0; k < rounds; k++) {
        const char *suffix = d->type == SV_COUNTER ? "total"
                             : d->type == SV_RATE  ? "rate"
                             : d->type == SV_TREND ? trend_stats[k].suffix
                                                   : NULL;
        family(name, d, suffix);
        snprintf(help, sizeof(help), "salvo metric %s%s%s.", d->name, suffix ? ", " : "",
                 suffix ? suffix : "");
        size_t cursor = 0;
        const sv_series_t *s;
        while ((s = sv_registry_next(reg, &cursor)) != NULL) {
            if (s->metric != id || !has_samples(s))
                continue;
            sv_prom_sample_t out = {
                .name = name->data,
                .type = d->type == SV_COUNTER ? "counter" : "gauge",
                .help = help,
                .tags = s->tags,
                .worker = NULL,
                .value = value_of(d, s, k),
            };
            emit(&out, arg);
        }
    }
}

/* The generator's own health: when it, not the target, was the limit. */
static void each_of_health(const sv_report_t *r, sv_prom_emit_t emit, void *arg)
{
    static const struct {
        const char *name, *help;
    } families[] = {
        {"salvo_generator_cpu_ratio", "A worker's CPU over the last period (1 = a full core)."},
        {"salvo_generator_cpu_max_ratio", "A worker's busiest period so far."},
        {"salvo_generator_loop_lag_max_seconds", "A worker's worst event-loop lag so far."},
    };
    for (size_t f = 0; f < SV_ARRAY_SIZE(families); f++)
        for (uint32_t i = 0; i < r->n_workers; i++) {
            const sv_worker_health_t *h = &r->workers[i];
            char worker[16];
            snprintf(worker, sizeof(worker), "%u", i);
            double v = f == 0 ? h->cpu_mean : f == 1 ? h->cpu_max : h->lag_max_ms / 1000.0;
            sv_prom_sample_t s = {families[f].name, "gauge", families[f].help, NULL, worker, v};
            emit(&s, arg);
        }
}

void sv_prom_each(const sv_report_t *r, sv_prom_emit_t emit, void *arg)
{
    sv_buf_t name;
    sv_buf_init(&name, SIZE_MAX);
    const sv_catalog_t *cat = sv_registry_catalog(r->totals);
    for (size_t id = 0; id < sv_catalog_size(cat); id++)
        each_of_metric(r->totals, (uint32_t)id, &name, emit, arg);
    each_of_health(r, emit, arg);
    sv_prom_sample_t d = {
        "salvo_test_duration_seconds", "gauge", "How long the test has run.", NULL, NULL,
        (double)r->duration_ns / 1e9};
    emit(&d, arg);
    sv_buf_free(&name);
}
