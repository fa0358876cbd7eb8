/*
 * Enumerating the totals as Prometheus series (see prom.h).
 */
#include "prom.h"

#include <ctype.h>
#include <math.h>
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

/* Every series of one metric, as one family (or, unless native, one per statistic
 * for a trend). */
static void each_of_metric(const sv_registry_t *reg, uint32_t id, bool native, sv_buf_t *name,
                           sv_prom_emit_t emit, void *arg)
{
    const sv_metric_def_t *d = sv_catalog_get(sv_registry_catalog(reg), id);
    bool histogram = native && d->type == SV_TREND;
    size_t rounds = d->type == SV_TREND && !histogram ? SV_ARRAY_SIZE(trend_stats) : 1;
    char help[160];
    for (size_t k = 0; k < rounds; k++) {
        const char *suffix = d->type == SV_COUNTER ? "total"
                             : d->type == SV_RATE  ? "rate"
                             : histogram           ? NULL
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
                .type = histogram               ? "histogram"
                        : d->type == SV_COUNTER ? "counter"
                                                : "gauge",
                .help = help,
                .tags = s->tags,
                .worker = NULL,
                .value = histogram ? 0 : value_of(d, s, k),
                .hist = histogram ? s->v.trend : NULL,
                .hist_unit = SV_TREND_SCALE * (d->contains == SV_CONTAINS_TIME ? 1000.0 : 1.0),
            };
            emit(&out, arg);
        }
    }
}

/* The generator's own health: when it, not the target, was the limit. */
static double health_value(const sv_worker_health_t *h, size_t family)
{
    switch (family) {
    case 0:
        return h->cpu_mean;
    case 1:
        return h->cpu_max;
    case 2:
        return h->lag_max_ms / 1000.0;
    case 3:
        return h->open_connections;
    default:
        return (double)h->samples_dropped;
    }
}

static void each_of_health(const sv_report_t *r, sv_prom_emit_t emit, void *arg)
{
    static const struct {
        const char *name, *type, *help;
    } families[] = {
        {"salvo_generator_cpu_ratio", "gauge",
         "A worker's CPU over the last period (1 = a full core)."},
        {"salvo_generator_cpu_max_ratio", "gauge", "A worker's busiest period so far."},
        {"salvo_generator_loop_lag_max_seconds", "gauge",
         "A worker's worst event-loop lag so far."},
        {"salvo_generator_open_connections", "gauge", "A worker's established connections."},
        {"salvo_generator_dropped_samples_total", "counter",
         "Samples a worker produced faster than per-sample outputs took them."},
    };
    for (size_t f = 0; f < SV_ARRAY_SIZE(families); f++)
        for (uint32_t i = 0; i < r->n_workers; i++) {
            char worker[16];
            snprintf(worker, sizeof(worker), "%u", i);
            sv_prom_sample_t s = {.name = families[f].name,
                                  .type = families[f].type,
                                  .help = families[f].help,
                                  .worker = worker,
                                  .value = health_value(&r->workers[i], f)};
            emit(&s, arg);
        }
}

static void each_series(const sv_report_t *r, bool native, sv_prom_emit_t emit, void *arg)
{
    sv_buf_t name;
    sv_buf_init(&name, SIZE_MAX);
    const sv_catalog_t *cat = sv_registry_catalog(r->totals);
    for (size_t id = 0; id < sv_catalog_size(cat); id++)
        each_of_metric(r->totals, (uint32_t)id, native, &name, emit, arg);
    each_of_health(r, emit, arg);
    sv_prom_sample_t d = {.name = "salvo_test_duration_seconds",
                          .type = "gauge",
                          .help = "How long the test has run.",
                          .value = (double)r->duration_ns / 1e9};
    emit(&d, arg);
    sv_buf_free(&name);
}

void sv_prom_each(const sv_report_t *r, sv_prom_emit_t emit, void *arg)
{
    each_series(r, false, emit, arg);
}

void sv_prom_each_native(const sv_report_t *r, sv_prom_emit_t emit, void *arg)
{
    each_series(r, true, emit, arg);
}

int32_t sv_prom_native_bucket(double v, int schema)
{
    /* the smallest i with v <= 2^(i/2^s): ceil(log2(v) * 2^s), with log2 exact for a
     * power of two (v = frac * 2^exp, frac in [0.5, 1)), which is a bucket's bound */
    int exp;
    double frac = frexp(v, &exp);
    double log2v = frac == 0.5 ? exp - 1 : exp + log2(frac);
    return (int32_t)ceil(ldexp(log2v, schema));
}
