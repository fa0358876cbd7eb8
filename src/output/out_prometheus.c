/*
 * --out prometheus=HOST:PORT: a /metrics endpoint in Prometheus' text format while
 * the test runs, so Prometheus scrapes the generator. The collector renders the
 * page once a period; the server thread only hands out the latest page.
 *
 * Names follow Prometheus' conventions: salvo_ prefix, counters cumulative with
 * _total (data in _bytes_total), times in seconds; a trend is a set of gauges, one
 * per statistic (salvo_http_req_duration_seconds_p95), the same names the
 * remote-write output will use; a rate is the ratio as a gauge; tags are labels.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../server/server.h"
#include "output_kinds.h"

typedef struct {
    sv_server_t *server;
    uv_mutex_t lock;
    char *page; /* the latest rendering, under lock */
    size_t page_len;
} prom_t;

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

static void label_name(sv_buf_t *b, const char *key)
{
    if (!isalpha((unsigned char)*key) && *key != '_')
        sv_buf_append(b, "_", 1);
    for (; *key; key++) {
        char c = isalnum((unsigned char)*key) ? *key : '_';
        sv_buf_append(b, &c, 1);
    }
}

static void label_value(sv_buf_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sv_buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            sv_buf_printf(b, "\\n");
        else
            sv_buf_append(b, v, 1);
    }
}

static void labels(sv_buf_t *b, const sv_tagset_t *tags)
{
    const char *k, *v;
    uint32_t off = 0;
    bool first = true;
    while (tags && sv_tagset_next(tags, &off, &k, &v)) {
        sv_buf_printf(b, first ? "{" : ",");
        label_name(b, k);
        sv_buf_printf(b, "=\"");
        label_value(b, v);
        sv_buf_printf(b, "\"");
        first = false;
    }
    if (!first)
        sv_buf_printf(b, "}");
}

/* The family name: salvo_<metric>[_seconds|_bytes][_total|_rate|_<stat>]. */
static void family(sv_buf_t *b, const sv_metric_def_t *d, const char *suffix)
{
    sv_buf_printf(b, "salvo_");
    label_name(b, d->name);
    if (d->contains == SV_CONTAINS_TIME)
        sv_buf_printf(b, "_seconds");
    else if (d->contains == SV_CONTAINS_DATA)
        sv_buf_printf(b, "_bytes");
    if (suffix)
        sv_buf_printf(b, "_%s", suffix);
}

static void header(sv_buf_t *b, const sv_metric_def_t *d, const char *suffix, const char *type)
{
    sv_buf_printf(b, "# HELP ");
    family(b, d, suffix);
    sv_buf_printf(b, " salvo metric %s%s%s.\n# TYPE ", d->name, suffix ? ", " : "",
                  suffix ? suffix : "");
    family(b, d, suffix);
    sv_buf_printf(b, " %s\n", type);
}

static void sample(sv_buf_t *b, const sv_metric_def_t *d, const char *suffix, const sv_series_t *s,
                   double v)
{
    family(b, d, suffix);
    labels(b, s->tags);
    sv_buf_printf(b, " %.15g\n", v);
}

/* A trend statistic in the metric's unit (ms for times, as the summary shows it),
 * in seconds for times. */
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

/* Every series of one metric, as one family (or one per statistic for a trend). */
static void render_metric(sv_buf_t *b, const sv_registry_t *reg, uint32_t id)
{
    const sv_metric_def_t *d = sv_catalog_get(sv_registry_catalog(reg), id);
    size_t rounds = d->type == SV_TREND ? SV_ARRAY_SIZE(trend_stats) : 1;
    for (size_t k = 0; k < rounds; k++) {
        const char *suffix = d->type == SV_COUNTER ? "total"
                             : d->type == SV_RATE  ? "rate"
                             : d->type == SV_TREND ? trend_stats[k].suffix
                                                   : NULL;
        bool any = false;
        size_t cursor = 0;
        const sv_series_t *s;
        while ((s = sv_registry_next(reg, &cursor)) != NULL) {
            if (s->metric != id || !has_samples(s))
                continue;
            if (!any)
                header(b, d, suffix, d->type == SV_COUNTER ? "counter" : "gauge");
            any = true;
            double v = s->type == SV_COUNTER ? s->v.counter
                       : s->type == SV_GAUGE ? s->v.gauge.value
                       : s->type == SV_RATE  ? (double)s->v.rate.nonzero / (double)s->v.rate.total
                                             : trend_value(d, s->v.trend, k);
            sample(b, d, suffix, s, v);
        }
    }
}

static void render(prom_t *p, const sv_report_t *r)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    const sv_catalog_t *cat = sv_registry_catalog(r->totals);
    for (size_t id = 0; id < sv_catalog_size(cat); id++)
        render_metric(&b, r->totals, (uint32_t)id);
    sv_buf_printf(&b,
                  "# HELP salvo_test_duration_seconds How long the test has run.\n"
                  "# TYPE salvo_test_duration_seconds gauge\n"
                  "salvo_test_duration_seconds %.3f\n",
                  (double)r->duration_ns / 1e9);
    uv_mutex_lock(&p->lock);
    free(p->page);
    p->page = b.data;
    p->page_len = b.len;
    uv_mutex_unlock(&p->lock);
}

static void handle(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res, void *arg)
{
    prom_t *p = arg;
    if (!sv_span_eq(req->target, "/metrics")) {
        res->status = 404;
        sv_buf_printf(&res->body, "not found; the metrics are at /metrics\n");
        return;
    }
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    uv_mutex_lock(&p->lock);
    if (p->page)
        sv_buf_append(&res->body, p->page, p->page_len);
    uv_mutex_unlock(&p->lock);
}

static int prom_check(const char *arg, char *err, size_t size)
{
    char host[256];
    uint16_t port;
    if (sv_split_host_port(arg, host, sizeof(host), &port) != 0) {
        snprintf(err, size, "--out prometheus=%s: expected HOST:PORT, e.g. 127.0.0.1:9465", arg);
        return SV_EINVAL;
    }
    return 0;
}

static int prom_open(sv_out_t *o, const char *arg, char *err, size_t size)
{
    char host[256];
    uint16_t port;
    const char *why;
    if (prom_check(arg, err, size) != 0)
        return SV_EINVAL;
    sv_split_host_port(arg, host, sizeof(host), &port);
    prom_t *p = sv_xcalloc(1, sizeof(*p));
    uv_mutex_init(&p->lock);
    if (sv_server_open(&p->server, host, port, 1, handle, p, &why) != 0) {
        snprintf(err, size, "--out prometheus=%s: cannot listen: %s", arg, why);
        uv_mutex_destroy(&p->lock);
        free(p);
        return SV_EINVAL;
    }
    sv_server_start(p->server);
    o->state = p;
    return 0;
}

static void prom_period(sv_out_t *o, const sv_report_t *so_far)
{
    render(o->state, so_far);
}

static int prom_finish(sv_out_t *o, const sv_report_t *report, char *err, size_t size)
{
    render(o->state, report);
    return 0;
}

static void prom_close(sv_out_t *o)
{
    prom_t *p = o->state;
    sv_server_stop(p->server);
    sv_server_free(p->server);
    uv_mutex_destroy(&p->lock);
    free(p->page);
    free(p);
}

const sv_out_kind_t sv_out_prometheus = {
    .name = "prometheus",
    .usage = "prometheus=HOST:PORT",
    .check = prom_check,
    .open = prom_open,
    .period = prom_period,
    .finish = prom_finish,
    .close = prom_close,
};
