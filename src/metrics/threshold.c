/*
 * Threshold expressions: parsing and evaluation.
 */
#include "threshold.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>

static const char *skip_space(const char *p)
{
    while (isspace((unsigned char)*p))
        p++;
    return p;
}

static sv_span_t trim(sv_span_t s)
{
    while (s.len && isspace((unsigned char)*s.ptr)) {
        s.ptr++;
        s.len--;
    }
    while (s.len && isspace((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}

static bool read_number(const char **p, double *out)
{
    char *end;
    double v = strtod(*p, &end);
    if (end == *p || !isfinite(v))
        return false;
    *p = end;
    *out = v;
    return true;
}

static const struct {
    const char *name;
    sv_agg_t agg;
} aggs[] = {{"avg", SV_AGG_AVG},    {"min", SV_AGG_MIN},     {"max", SV_AGG_MAX},
            {"med", SV_AGG_MED},    {"count", SV_AGG_COUNT}, {"rate", SV_AGG_RATE},
            {"value", SV_AGG_VALUE}};

static bool read_agg(const char **p, sv_threshold_t *t)
{
    const char *s = *p;
    if (strncmp(s, "p(", 2) == 0) {
        s += 2;
        if (!read_number(&s, &t->pct) || t->pct < 0 || t->pct > 100)
            return false;
        s = skip_space(s);
        if (*s != ')')
            return false;
        t->agg = SV_AGG_P;
        *p = s + 1;
        return true;
    }
    for (size_t i = 0; i < SV_ARRAY_SIZE(aggs); i++) {
        size_t n = strlen(aggs[i].name);
        if (strncmp(s, aggs[i].name, n) == 0 && !isalnum((unsigned char)s[n])) {
            t->agg = aggs[i].agg;
            *p = s + n;
            return true;
        }
    }
    return false;
}

static bool read_op(const char **p, sv_op_t *op)
{
    /* longest first, so "<=" is not read as "<" and "===" not as "==" */
    static const struct {
        const char *text;
        sv_op_t op;
    } ops[] = {{"===", SV_OP_EQ}, {"<=", SV_OP_LE}, {">=", SV_OP_GE}, {"==", SV_OP_EQ},
               {"!=", SV_OP_NE},  {"<", SV_OP_LT},  {">", SV_OP_GT}};
    for (size_t i = 0; i < SV_ARRAY_SIZE(ops); i++) {
        size_t n = strlen(ops[i].text);
        if (strncmp(*p, ops[i].text, n) == 0) {
            *op = ops[i].op;
            *p += n;
            return true;
        }
    }
    return false;
}

int sv_agg_parse(const char *text, sv_agg_t *agg, double *pct)
{
    sv_threshold_t t = {0};
    const char *p = skip_space(text);
    if (!read_agg(&p, &t) || *skip_space(p) != '\0')
        return SV_EPARSE;
    *agg = t.agg;
    *pct = t.pct;
    return 0;
}

double sv_trend_stat(const sv_hist_t *h, sv_agg_t agg, double pct)
{
    switch (agg) {
    case SV_AGG_AVG:
        return sv_hist_mean(h) / SV_TREND_SCALE;
    case SV_AGG_MIN:
        return (double)sv_hist_min(h) / SV_TREND_SCALE;
    case SV_AGG_MAX:
        return (double)sv_hist_max(h) / SV_TREND_SCALE;
    case SV_AGG_MED:
        return sv_hist_percentile(h, 50) / SV_TREND_SCALE;
    case SV_AGG_P:
        return sv_hist_percentile(h, pct) / SV_TREND_SCALE;
    case SV_AGG_COUNT:
        return (double)sv_hist_count(h);
    default:
        return 0;
    }
}

int sv_threshold_parse(const char *expr, sv_threshold_t *out, const char **why)
{
    *out = (sv_threshold_t){0};
    const char *p = skip_space(expr);
    if (!read_agg(&p, out)) {
        *why = "expected an aggregation: avg, min, max, med, p(N), count, rate or value";
        return SV_EPARSE;
    }
    p = skip_space(p);
    if (!read_op(&p, &out->op)) {
        *why = "expected an operator: <, <=, >, >=, == or !=";
        return SV_EPARSE;
    }
    p = skip_space(p);
    if (!read_number(&p, &out->bound)) {
        *why = "expected a number after the operator";
        return SV_EPARSE;
    }
    if (*skip_space(p) != '\0') {
        *why = "unexpected text after the number";
        return SV_EPARSE;
    }
    out->source = sv_xstrdup(expr);
    return 0;
}

int sv_threshold_set_init(sv_threshold_set_t *set, const char *key, const char **why)
{
    *set = (sv_threshold_set_t){.key = sv_xstrdup(key)};
    const char *brace = strchr(key, '{');
    size_t name_len = brace ? (size_t)(brace - key) : strlen(key);
    set->metric = sv_xstrndup(key, name_len);
    if (name_len == 0) {
        *why = "missing metric name";
        return SV_EPARSE;
    }
    if (brace == NULL)
        return 0;
    const char *end = strrchr(key, '}');
    if (end == NULL || end[1] != '\0' || end == brace + 1) {
        *why = "a sub-metric is written name{tag:value}";
        return SV_EPARSE;
    }
    const char *p = brace + 1;
    while (p < end) {
        const char *comma = memchr(p, ',', (size_t)(end - p));
        const char *stop = comma ? comma : end;
        const char *colon = memchr(p, ':', (size_t)(stop - p));
        if (colon == NULL || colon == p) {
            *why = "sub-metric tags are written tag:value, separated by commas";
            return SV_EPARSE;
        }
        set->tags = sv_xrealloc(set->tags, (set->n_tags + 1) * sizeof(*set->tags));
        sv_span_t k = {p, (size_t)(colon - p)}, v = {colon + 1, (size_t)(stop - colon - 1)};
        k = trim(k);
        v = trim(v);
        set->tags[set->n_tags++] = (sv_tag_t){sv_xstrndup(k.ptr, k.len), sv_xstrndup(v.ptr, v.len)};
        p = comma ? comma + 1 : end;
    }
    return 0;
}

void sv_threshold_set_free(sv_threshold_set_t *set)
{
    for (size_t i = 0; i < set->n_tags; i++) {
        free((char *)set->tags[i].key);
        free((char *)set->tags[i].value);
    }
    for (size_t i = 0; i < set->n_items; i++)
        free(set->items[i].source);
    free(set->tags);
    free(set->items);
    free(set->key);
    free(set->metric);
    *set = (sv_threshold_set_t){0};
}

bool sv_threshold_fits(sv_agg_t agg, sv_metric_type_t type)
{
    switch (type) {
    case SV_COUNTER:
        return agg == SV_AGG_COUNT || agg == SV_AGG_RATE;
    case SV_GAUGE:
        return agg == SV_AGG_VALUE;
    case SV_RATE:
        return agg == SV_AGG_RATE;
    case SV_TREND:
        return agg == SV_AGG_AVG || agg == SV_AGG_MIN || agg == SV_AGG_MAX || agg == SV_AGG_MED ||
               agg == SV_AGG_P;
    }
    return false;
}

const char *sv_metric_type_aggs(sv_metric_type_t type)
{
    switch (type) {
    case SV_COUNTER:
        return "count or rate";
    case SV_GAUGE:
        return "value";
    case SV_RATE:
        return "rate";
    case SV_TREND:
        return "avg, min, max, med or p(N)";
    }
    return "";
}

double sv_threshold_observe(const sv_threshold_t *t, const sv_series_t *agg, double seconds)
{
    const sv_hist_t *h = agg->type == SV_TREND ? agg->v.trend : NULL;
    switch (t->agg) {
    case SV_AGG_AVG:
    case SV_AGG_MIN:
    case SV_AGG_MAX:
    case SV_AGG_MED:
    case SV_AGG_P:
        return h ? sv_trend_stat(h, t->agg, t->pct) : 0;
    case SV_AGG_COUNT:
        return agg->v.counter;
    case SV_AGG_RATE:
        if (agg->type == SV_RATE)
            return agg->v.rate.total ? (double)agg->v.rate.nonzero / (double)agg->v.rate.total : 0;
        return seconds > 0 ? agg->v.counter / seconds : 0;
    case SV_AGG_VALUE:
        return agg->v.gauge.value;
    }
    return 0;
}

bool sv_threshold_passes(const sv_threshold_t *t, double v)
{
    switch (t->op) {
    case SV_OP_LT:
        return v < t->bound;
    case SV_OP_LE:
        return v <= t->bound;
    case SV_OP_GT:
        return v > t->bound;
    case SV_OP_GE:
        return v >= t->bound;
    case SV_OP_EQ:
        return v == t->bound;
    case SV_OP_NE:
        return v != t->bound;
    }
    return false;
}

sv_threshold_result_t *sv_threshold_evaluate(const sv_threshold_set_t *sets, size_t n_sets,
                                             const sv_registry_t *reg, double seconds,
                                             size_t *n_results)
{
    size_t total = 0;
    for (size_t i = 0; i < n_sets; i++)
        total += sets[i].n_items;
    sv_threshold_result_t *res = sv_xcalloc(total ? total : 1, sizeof(*res));
    const sv_catalog_t *cat = sv_registry_catalog(reg);
    size_t k = 0;
    for (size_t i = 0; i < n_sets; i++) {
        int id = sv_catalog_find(cat, sets[i].metric);
        sv_series_t agg = {0};
        size_t n = id < 0 ? 0
                          : sv_registry_aggregate_tags(reg, (uint32_t)id, sets[i].tags,
                                                       sets[i].n_tags, &agg);
        for (size_t j = 0; j < sets[i].n_items; j++, k++) {
            const sv_threshold_t *t = &sets[i].items[j];
            res[k] = (sv_threshold_result_t){.set = &sets[i], .t = t, .no_data = n == 0};
            res[k].observed = n ? sv_threshold_observe(t, &agg, seconds) : 0;
            res[k].passed = n == 0 || sv_threshold_passes(t, res[k].observed);
        }
        if (id >= 0)
            sv_series_release(&agg);
    }
    *n_results = total;
    return res;
}
