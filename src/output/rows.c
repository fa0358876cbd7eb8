/*
 * The rows and error kinds that both the text summary and the JSON export print,
 * read from the run's merged totals; and k6's value formats.
 */
#include <math.h>
#include <stdlib.h>

#include "output.h"

/* k6 always reports these sub-metrics. */
static const struct {
    uint32_t metric;
    const char *key, *value;
} default_submetrics[] = {
    {SV_M_HTTP_REQ_DURATION, "expected_response", "true"},
};

static int cmp_row(const void *a, const void *b)
{
    const sv_summary_row_t *x = a, *y = b;
    int c = strcmp(x->def->name, y->def->name);
    if (c == 0 && x->sub != y->sub)
        return x->sub ? 1 : -1;
    return c ? c : strcmp(x->name, y->name);
}

static void push_row(sv_summary_row_t **rows, size_t *n, sv_summary_row_t row)
{
    *rows = sv_xrealloc(*rows, (*n + 1) * sizeof(**rows));
    (*rows)[(*n)++] = row;
}

static void push_sub(const sv_report_t *r, sv_summary_row_t **rows, size_t *n,
                     const sv_metric_def_t *def, uint32_t m, const char *key, const char *value)
{
    sv_summary_row_t sub = {.def = def, .sub = true};
    if (sv_registry_aggregate(r->totals, m, key, value, &sub.agg) == 0) {
        sv_series_release(&sub.agg);
        return;
    }
    sub.name = sv_xasprintf("%s{%s:%s}", def->name, key, value);
    push_row(rows, n, sub);
}

/* Distinct values of a tag among a metric's series (at most `max`; borrowed). */
static size_t tag_values(const sv_report_t *r, uint32_t m, const char *key, const char **vals,
                         size_t max)
{
    size_t n = 0, cursor = 0;
    sv_series_t *s;
    while ((s = sv_registry_next(r->totals, &cursor)) != NULL) {
        const char *v = s->metric == m ? sv_tagset_get(s->tags, key) : NULL;
        size_t i = 0;
        while (v && i < n && strcmp(vals[i], v) != 0)
            i++;
        if (v && i == n && n < max)
            vals[n++] = v;
    }
    return n;
}

/* Trends broken down by scenario and by name tag, as k6 users ask for, when there
 * is more than one of either (a single value would repeat the metric's row). */
#define MAX_BREAKDOWN 64
static void push_breakdowns(const sv_report_t *r, sv_summary_row_t **rows, size_t *n,
                            const sv_metric_def_t *def, uint32_t m)
{
    static const char *keys[] = {"scenario", "name"};
    if (def->type != SV_TREND)
        return;
    for (size_t k = 0; k < SV_ARRAY_SIZE(keys); k++) {
        const char *vals[MAX_BREAKDOWN];
        size_t nv = tag_values(r, m, keys[k], vals, MAX_BREAKDOWN);
        for (size_t i = 0; nv > 1 && i < nv; i++)
            push_sub(r, rows, n, def, m, keys[k], vals[i]);
    }
}

size_t sv_summary_rows(const sv_report_t *r, sv_summary_row_t **out)
{
    sv_summary_row_t *rows = NULL;
    size_t n = 0;
    for (uint32_t m = 0; m < sv_catalog_size(r->catalog); m++) {
        sv_summary_row_t row = {.def = sv_catalog_get(r->catalog, m)};
        if (sv_registry_aggregate(r->totals, m, NULL, NULL, &row.agg) == 0)
            continue;
        row.name = sv_xstrdup(row.def->name);
        push_row(&rows, &n, row);
        for (size_t i = 0; i < SV_ARRAY_SIZE(default_submetrics); i++)
            if (default_submetrics[i].metric == m)
                push_sub(r, &rows, &n, row.def, m, default_submetrics[i].key,
                         default_submetrics[i].value);
        push_breakdowns(r, &rows, &n, row.def, m);
    }
    if (n > 1)
        qsort(rows, n, sizeof(*rows), cmp_row);
    *out = rows;
    return n;
}

void sv_summary_rows_free(sv_summary_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].name);
        sv_series_release(&rows[i].agg);
    }
    free(rows);
}

static int cmp_error(const void *a, const void *b)
{
    const sv_error_kind_t *x = a, *y = b;
    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return x->code - y->code;
}

size_t sv_summary_errors(const sv_report_t *r, sv_error_kind_t **out)
{
    sv_error_kind_t *kinds = NULL;
    size_t n = 0, cursor = 0;
    sv_series_t *s;
    while ((s = sv_registry_next(r->totals, &cursor)) != NULL) {
        const char *code =
            s->metric == SV_M_HTTP_REQS ? sv_tagset_get(s->tags, "error_code") : NULL;
        const char *expected = sv_tagset_get(s->tags, "expected_response");
        if (code == NULL || (expected && strcmp(expected, "true") == 0))
            continue; /* not a failed request: e.g. a 404 the script expects */
        const char *err = sv_tagset_get(s->tags, "error");
        const char *status = sv_tagset_get(s->tags, "status");
        char *message =
            err ? sv_xstrdup(err) : sv_xasprintf("HTTP status %s", status ? status : "?");
        size_t i = 0;
        while (i < n && !(kinds[i].code == atoi(code) && strcmp(kinds[i].message, message) == 0))
            i++;
        if (i == n) {
            kinds = sv_xrealloc(kinds, (n + 1) * sizeof(*kinds));
            kinds[n++] = (sv_error_kind_t){atoi(code), message, 0};
        } else {
            free(message);
        }
        kinds[i].count += (uint64_t)s->v.counter;
    }
    if (n > 1)
        qsort(kinds, n, sizeof(*kinds), cmp_error);
    *out = kinds;
    return n;
}

void sv_summary_errors_free(sv_error_kind_t *kinds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(kinds[i].message);
    free(kinds);
}

/* Prints with at most `decimals` decimals, dropping trailing zeros. */
static void trimmed(char *out, size_t size, double v, int decimals, const char *unit)
{
    char num[64];
    snprintf(num, sizeof(num), "%.*f", decimals, v);
    if (strchr(num, '.')) {
        char *end = num + strlen(num) - 1;
        while (*end == '0')
            *end-- = '\0';
        if (*end == '.')
            *end = '\0';
    }
    snprintf(out, size, "%s%s", num, unit);
}

void sv_format_time_ms(double ms, char *out, size_t size)
{
    if (ms < 0.0000005) /* would print as 0ns */
        snprintf(out, size, "0s");
    else if (ms < 0.001)
        trimmed(out, size, ms * 1e6, 0, "ns");
    else if (ms < 1)
        trimmed(out, size, ms * 1e3, 2, "\xc2\xb5s");
    else if (ms < 1000)
        trimmed(out, size, ms, 2, "ms");
    else if (ms < 60000)
        trimmed(out, size, ms / 1000, 2, "s");
    else {
        double s = fmod(ms / 1000, 60);
        long m = (long)(ms / 60000);
        char sec[32];
        trimmed(sec, sizeof(sec), s, 1, "s");
        if (m >= 60)
            snprintf(out, size, "%ldh%ldm%s", m / 60, m % 60, sec);
        else
            snprintf(out, size, "%ldm%s", m, sec);
    }
}

void sv_format_bytes(double bytes, char *out, size_t size)
{
    static const char *units[] = {"B", "kB", "MB", "GB", "TB", "PB"};
    int u = 0;
    while (bytes >= 1000 && u < 5) {
        bytes /= 1000;
        u++;
    }
    if (u == 0 || bytes >= 10)
        snprintf(out, size, "%.0f %s", bytes, units[u]);
    else
        snprintf(out, size, "%.1f %s", bytes, units[u]);
}

/* ---- groups and checks ------------------------------------------------------------ */

static sv_group_node_t *child(sv_group_node_t *g, const char *name, size_t len)
{
    for (size_t i = 0; i < g->n_children; i++)
        if (strlen(g->children[i].name) == len && memcmp(g->children[i].name, name, len) == 0)
            return &g->children[i];
    g->children = sv_xrealloc(g->children, (g->n_children + 1) * sizeof(*g->children));
    sv_group_node_t *c = &g->children[g->n_children++];
    *c = (sv_group_node_t){.name = sv_xstrndup(name, len),
                           .path = sv_xasprintf("%s::%.*s", g->path, (int)len, name)};
    return c;
}

/* The node for a group path "::a::b", created on the way. */
static sv_group_node_t *group_at(sv_group_node_t *root, const char *path)
{
    sv_group_node_t *g = root;
    while (path && strncmp(path, "::", 2) == 0) {
        path += 2;
        const char *next = strstr(path, "::");
        size_t len = next ? (size_t)(next - path) : strlen(path);
        g = child(g, path, len);
        path += len;
    }
    return g;
}

static void add_check(sv_group_node_t *g, const char *name, uint64_t passes, uint64_t fails)
{
    size_t i = 0;
    while (i < g->n_checks && strcmp(g->checks[i].name, name) != 0)
        i++;
    if (i == g->n_checks) {
        g->checks = sv_xrealloc(g->checks, (g->n_checks + 1) * sizeof(*g->checks));
        g->checks[g->n_checks++] = (sv_check_row_t){sv_xstrdup(name), 0, 0};
    }
    g->checks[i].passes += passes;
    g->checks[i].fails += fails;
}

void sv_summary_groups(const sv_report_t *r, sv_group_node_t *root)
{
    *root = (sv_group_node_t){.name = sv_xstrdup(""), .path = sv_xstrdup("")};
    size_t cursor = 0;
    sv_series_t *s;
    while ((s = sv_registry_next(r->totals, &cursor)) != NULL) {
        if (s->metric != SV_M_CHECKS && s->metric != SV_M_GROUP_DURATION)
            continue;
        sv_group_node_t *g = group_at(root, sv_tagset_get(s->tags, "group"));
        const char *check = sv_tagset_get(s->tags, "check");
        if (s->metric == SV_M_CHECKS && check)
            add_check(g, check, s->v.rate.nonzero, s->v.rate.total - s->v.rate.nonzero);
    }
}

void sv_summary_groups_free(sv_group_node_t *g)
{
    for (size_t i = 0; i < g->n_children; i++)
        sv_summary_groups_free(&g->children[i]);
    for (size_t i = 0; i < g->n_checks; i++)
        free(g->checks[i].name);
    free(g->children);
    free(g->checks);
    free(g->name);
    free(g->path);
}
