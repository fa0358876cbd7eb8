/*
 * The JSON summary export, in the shape of k6's --summary-export so tools that
 * read k6's file read ours; what k6 lacks (p99, p99.9, serialized histograms for
 * exact merging, the configuration, the generator's health, errors) goes under
 * "salvo". See docs/summary-export.md.
 */
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stddef.h>
#include <stdlib.h>

#include "../plan/options.h"
#include "output.h"
#include "series.h"

static json_t *trend_json(const sv_hist_t *h, const sv_plan_t *plan)
{
    json_t *o = json_object();
    for (size_t i = 0; i < plan->n_trend_stats; i++) {
        const sv_trend_stat_t *st = &plan->trend_stats[i];
        json_object_set_new(o, st->name, json_real(sv_trend_stat(h, st->agg, st->pct)));
    }
    return o;
}

static json_t *row_json(const sv_summary_row_t *row, const sv_plan_t *plan, double seconds)
{
    const sv_series_t *a = &row->agg;
    switch (a->type) {
    case SV_TREND:
        return trend_json(a->v.trend, plan);
    case SV_COUNTER:
        return json_pack("{s:f,s:f}", "count", a->v.counter, "rate", a->v.counter / seconds);
    case SV_RATE: {
        double v = a->v.rate.total ? (double)a->v.rate.nonzero / (double)a->v.rate.total : 0;
        return json_pack("{s:I,s:I,s:f}", "passes", (json_int_t)a->v.rate.nonzero, "fails",
                         (json_int_t)(a->v.rate.total - a->v.rate.nonzero), "value", v);
    }
    case SV_GAUGE:
        return json_pack("{s:f,s:f,s:f}", "value", a->v.gauge.value, "min", a->v.gauge.min, "max",
                         a->v.gauge.max);
    }
    return json_null();
}

static json_t *trend_extras(const sv_summary_row_t *row)
{
    const sv_hist_t *h = row->agg.v.trend;
    sv_buf_t buf;
    sv_buf_init(&buf, SIZE_MAX);
    sv_hist_encode(h, &buf);
    json_t *o = json_pack(
        "{s:f,s:f,s:I,s:s,s:s%}", "p(99)", sv_hist_percentile(h, 99) / SV_TREND_SCALE, "p(99.9)",
        sv_hist_percentile(h, 99.9) / SV_TREND_SCALE, "count", (json_int_t)sv_hist_count(h), "unit",
        row->def->contains == SV_CONTAINS_TIME ? "us" : "milli", "histogram", buf.data, buf.len);
    sv_buf_free(&buf);
    return o;
}

static json_t *config_json(const sv_report_t *r, uint32_t workers)
{
    const sv_plan_t *p = r->plan;
    json_t *scenarios = json_object();
    for (size_t i = 0; i < p->n_scenarios; i++)
        json_object_set_new(scenarios, p->scenarios[i].name, sv_scenario_to_json(&p->scenarios[i]));
    json_t *tags = json_object();
    for (size_t i = 0; i < p->n_tags; i++)
        json_object_set_new(tags, p->tags[i].key, json_string(p->tags[i].value));
    return json_pack("{s:s?,s:o,s:{s:s?,s:s?},s:o,s:i,s:f,s:I}", "script", p->script, "scenarios",
                     scenarios, "request", "method", p->request.method, "url", p->request.url,
                     "tags", tags, "workers", (int)workers, "timeout_ms",
                     (double)p->timeout_ns / 1e6, "maxResponseBytes",
                     (json_int_t)p->max_response_bytes);
}

static json_t *generator_json(const sv_report_t *r)
{
    json_t *workers = json_array();
    for (uint32_t i = 0; i < r->n_workers; i++) {
        const sv_worker_health_t *h = &r->workers[i];
        json_array_append_new(
            workers, json_pack("{s:f,s:f,s:f,s:f,s:I}", "cpu_mean", h->cpu_mean, "cpu_max",
                               h->cpu_max, "loop_lag_p99_ms", h->lag_p99_ms, "loop_lag_max_ms",
                               h->lag_max_ms, "samples_dropped", (json_int_t)h->samples_dropped));
    }
    return json_pack("{s:b,s:s?,s:b,s:s?,s:o}", "saturated", r->saturated, "reason",
                     r->saturated ? r->saturation : NULL, "lagging", r->lagging, "lag_reason",
                     r->lagging ? r->lag : NULL, "workers", workers);
}

static json_t *errors_json(const sv_report_t *r)
{
    sv_error_kind_t *kinds;
    size_t n = sv_summary_errors(r, &kinds);
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_pack("{s:i,s:s,s:I}", "code", kinds[i].code, "message",
                                           kinds[i].message, "count", (json_int_t)kinds[i].count));
    sv_summary_errors_free(kinds, n);
    return a;
}

/* k6 names groups and checks by the MD5 of their path. */
static json_t *path_id(const char *path)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    char hex[2 * EVP_MAX_MD_SIZE + 1];
    EVP_Digest(path, strlen(path), md, &n, EVP_md5(), NULL);
    for (unsigned int i = 0; i < n; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    return json_string(hex);
}

static json_t *group_json(const sv_group_node_t *g)
{
    json_t *groups = json_object(), *checks = json_object();
    for (size_t i = 0; i < g->n_children; i++)
        json_object_set_new(groups, g->children[i].name, group_json(&g->children[i]));
    for (size_t i = 0; i < g->n_checks; i++) {
        const sv_check_row_t *c = &g->checks[i];
        char *path = sv_xasprintf("%s::%s", g->path, c->name);
        json_object_set_new(checks, c->name,
                            json_pack("{s:s,s:s,s:o,s:I,s:I}", "name", c->name, "path", path, "id",
                                      path_id(path), "passes", (json_int_t)c->passes, "fails",
                                      (json_int_t)c->fails));
        free(path);
    }
    return json_pack("{s:s,s:s,s:o,s:o,s:o}", "name", g->name, "path", g->path, "id",
                     path_id(g->path), "groups", groups, "checks", checks);
}

/* k6's shape: metrics[key].thresholds = {expression: failed}; a sub-metric named
 * only by a threshold gets its own entry. */
static void add_thresholds(const sv_report_t *r, json_t *metrics, double seconds)
{
    for (size_t i = 0; i < r->n_thresholds; i++) {
        const sv_threshold_result_t *t = &r->thresholds[i];
        json_t *m = json_object_get(metrics, t->set->key);
        if (m == NULL) {
            int id = sv_catalog_find(r->catalog, t->set->metric);
            sv_summary_row_t row = {.def =
                                        id >= 0 ? sv_catalog_get(r->catalog, (uint32_t)id) : NULL};
            if (row.def == NULL)
                continue;
            if (sv_registry_aggregate_tags(r->totals, (uint32_t)id, t->set->tags, t->set->n_tags,
                                           &row.agg) == 0) {
                sv_series_release(&row.agg);
                continue;
            }
            m = row_json(&row, r->plan, seconds);
            sv_series_release(&row.agg);
            json_object_set_new(metrics, t->set->key, m);
        }
        json_t *th = json_object_get(m, "thresholds");
        if (th == NULL) {
            th = json_object();
            json_object_set_new(m, "thresholds", th);
        }
        json_object_set_new(th, t->t->source, json_boolean(!t->passed));
    }
}

/* The run second by second, as columns: what `salvo report` draws its charts from. */
static json_t *timeseries_json(const sv_report_t *r)
{
    static const struct {
        const char *name;
        size_t offset;
    } columns[] = {
        {"t_s", offsetof(sv_tick_t, t_s)},
        {"reqs_per_s", offsetof(sv_tick_t, reqs_per_s)},
        {"failed_per_s", offsetof(sv_tick_t, failed_per_s)},
        {"iterations_per_s", offsetof(sv_tick_t, iterations_per_s)},
        {"vus", offsetof(sv_tick_t, vus)},
        {"p50_ms", offsetof(sv_tick_t, p50_ms)},
        {"p95_ms", offsetof(sv_tick_t, p95_ms)},
        {"p99_ms", offsetof(sv_tick_t, p99_ms)},
    };
    json_t *o = json_object();
    for (size_t c = 0; c < SV_ARRAY_SIZE(columns); c++) {
        json_t *col = json_array();
        for (size_t i = 0; i < r->n_ticks; i++)
            json_array_append_new(
                col, json_real(*(const double *)((const char *)&r->ticks[i] + columns[c].offset)));
        json_object_set_new(o, columns[c].name, col);
    }
    return o;
}

/* The options `salvo merge` needs to judge the merged run as this one was judged. */
static json_t *options_json(const sv_plan_t *p)
{
    json_t *thresholds = json_object(), *stats = json_array();
    for (size_t i = 0; i < p->n_thresholds; i++) {
        json_t *list = json_array();
        for (size_t j = 0; j < p->thresholds[i].n_items; j++) {
            const sv_threshold_t *t = &p->thresholds[i].items[j];
            json_array_append_new(list, json_pack("{s:s,s:b,s:f}", "threshold", t->source,
                                                  "abortOnFail", t->abort_on_fail, "delayAbortEval",
                                                  (double)t->delay_abort_ns / 1e6));
        }
        json_object_set_new(thresholds, p->thresholds[i].key, list);
    }
    for (size_t i = 0; i < p->n_trend_stats; i++)
        json_array_append_new(stats, json_string(p->trend_stats[i].name));
    return json_pack("{s:o,s:o}", "thresholds", thresholds, "summaryTrendStats", stats);
}

static json_t *summary_json(const sv_report_t *r)
{
    sv_summary_row_t *rows;
    size_t n = sv_summary_rows(r, &rows);
    double seconds = r->duration_ns ? (double)r->duration_ns / 1e9 : 1e-9;
    json_t *metrics = json_object(), *trends = json_object();
    for (size_t i = 0; i < n; i++) {
        json_object_set_new(metrics, rows[i].name, row_json(&rows[i], r->plan, seconds));
        if (rows[i].agg.type == SV_TREND)
            json_object_set_new(trends, rows[i].name, trend_extras(&rows[i]));
    }
    sv_summary_rows_free(rows, n);
    add_thresholds(r, metrics, seconds);
    sv_group_node_t root;
    sv_summary_groups(r, &root);
    json_t *root_group = group_json(&root);
    sv_summary_groups_free(&root);
    json_t *salvo = json_pack("{s:s,s:f,s:b,s:o,s:o,s:o,s:o}", "version", SV_VERSION, "duration_ms",
                              (double)r->duration_ns / 1e6, "interrupted", r->interrupted, "config",
                              config_json(r, r->n_workers), "generator", generator_json(r),
                              "trends", trends, "errors", errors_json(r));
    json_object_set_new(salvo, "segment",
                        r->plan->segment_label ? json_string(r->plan->segment_label) : json_null());
    json_object_set_new(salvo, "options", options_json(r->plan));
    json_object_set_new(salvo, "totals", sv_series_dump(r->totals));
    json_object_set_new(salvo, "timeseries", timeseries_json(r));
    return json_pack("{s:o,s:o,s:o}", "root_group", root_group, "metrics", metrics, "salvo", salvo);
}

json_t *sv_output_export_doc(const sv_report_t *r)
{
    return summary_json(r);
}

char *sv_output_export_json(const sv_report_t *r)
{
    json_t *root = summary_json(r);
    char *text = json_dumps(root, JSON_COMPACT | JSON_REAL_PRECISION(10));
    json_decref(root);
    return text;
}

int sv_output_export(const sv_report_t *r, const char *path, const char **why)
{
    json_t *root = summary_json(r);
    FILE *f = fopen(path, "w");
    int rc = 0;
    if (f == NULL) {
        *why = strerror(errno);
        rc = SV_EIO;
        goto out;
    }
    if (json_dumpf(root, f, JSON_INDENT(2) | JSON_REAL_PRECISION(10)) != 0 ||
        fputc('\n', f) == EOF) {
        *why = strerror(errno ? errno : EIO);
        rc = SV_EIO;
    }
    if (fclose(f) != 0 && rc == 0) {
        *why = strerror(errno);
        rc = SV_EIO;
    }
out:
    json_decref(root);
    return rc;
}
