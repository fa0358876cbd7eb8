/*
 * Registry ⇄ JSON. Values keep full precision: counters as numbers, rates as their
 * two counts, gauges as value/min/max, trends as the histogram text encoding.
 */
#include "series.h"

#include <stdlib.h>
#include <string.h>

static const char *const type_names[] = {"counter", "gauge", "rate", "trend"};
static const char *const contains_names[] = {"default", "time", "data"};

static json_t *value_json(const sv_series_t *s)
{
    switch (s->type) {
    case SV_COUNTER:
        return json_real(s->v.counter);
    case SV_GAUGE:
        return json_pack("{s:f,s:f,s:f}", "value", s->v.gauge.value, "min", s->v.gauge.min, "max",
                         s->v.gauge.max);
    case SV_RATE:
        return json_pack("{s:I,s:I}", "nonzero", (json_int_t)s->v.rate.nonzero, "total",
                         (json_int_t)s->v.rate.total);
    case SV_TREND: {
        sv_buf_t buf;
        sv_buf_init(&buf, SIZE_MAX);
        sv_hist_encode(s->v.trend, &buf);
        json_t *v = json_stringn(buf.data, buf.len);
        sv_buf_free(&buf);
        return v;
    }
    }
    return json_null();
}

static bool has_value(const sv_series_t *s)
{
    switch (s->type) {
    case SV_GAUGE:
        return s->v.gauge.set;
    case SV_TREND:
        return s->v.trend != NULL && sv_hist_count(s->v.trend) > 0;
    default:
        return true;
    }
}

json_t *sv_series_dump(const sv_registry_t *reg)
{
    const sv_catalog_t *cat = sv_registry_catalog(reg);
    json_t *metrics = json_object(), *series = json_array();
    for (size_t id = SV_M_BUILTIN_COUNT; id < sv_catalog_size(cat); id++) {
        const sv_metric_def_t *d = sv_catalog_get(cat, (uint32_t)id);
        json_object_set_new(metrics, d->name,
                            json_pack("{s:s,s:s}", "type", type_names[d->type], "contains",
                                      contains_names[d->contains]));
    }
    size_t cursor = 0;
    const sv_series_t *s;
    while ((s = sv_registry_next(reg, &cursor)) != NULL) {
        if (!has_value(s))
            continue;
        json_t *tags = json_object();
        const char *k, *v;
        for (uint32_t off = 0; s->tags && sv_tagset_next(s->tags, &off, &k, &v);)
            json_object_set_new(tags, k, json_string(v));
        json_array_append_new(series, json_pack("{s:s,s:o,s:o}", "metric",
                                                sv_catalog_get(cat, s->metric)->name, "tags", tags,
                                                "value", value_json(s)));
    }
    return json_pack("{s:o,s:o}", "metrics", metrics, "series", series);
}

static int index_of(const char *const *names, size_t n, const char *name)
{
    for (size_t i = 0; name && i < n; i++)
        if (strcmp(names[i], name) == 0)
            return (int)i;
    return -1;
}

int sv_series_declare(sv_catalog_t *catalog, const json_t *dump, const char **why)
{
    const char *name;
    const json_t *def;
    json_object_foreach((json_t *)json_object_get(dump, "metrics"), name, def)
    {
        int type = index_of(type_names, 4, json_string_value(json_object_get(def, "type")));
        int contains =
            index_of(contains_names, 3, json_string_value(json_object_get(def, "contains")));
        if (type < 0 || contains < 0) {
            *why = "a custom metric without a known type";
            return SV_EPARSE;
        }
        if (sv_catalog_add(catalog, name, (sv_metric_type_t)type, (sv_contains_t)contains) < 0) {
            *why = "a custom metric declared with two different types";
            return SV_EPARSE;
        }
    }
    return 0;
}

/* Reads one value into `from`, a series of the right type. */
static int read_value(sv_series_t *from, const json_t *v)
{
    switch (from->type) {
    case SV_COUNTER:
        from->v.counter = json_number_value(v);
        return json_is_number(v) ? 0 : SV_EPARSE;
    case SV_GAUGE:
        from->v.gauge = (sv_gauge_value_t){
            .value = json_number_value(json_object_get(v, "value")),
            .min = json_number_value(json_object_get(v, "min")),
            .max = json_number_value(json_object_get(v, "max")),
            .set = true,
        };
        return json_is_object(v) ? 0 : SV_EPARSE;
    case SV_RATE:
        from->v.rate.nonzero = (uint64_t)json_integer_value(json_object_get(v, "nonzero"));
        from->v.rate.total = (uint64_t)json_integer_value(json_object_get(v, "total"));
        return from->v.rate.nonzero <= from->v.rate.total ? 0 : SV_EPARSE;
    case SV_TREND:
        from->v.trend = sv_hist_new();
        if (!json_is_string(v))
            return SV_EPARSE;
        return sv_hist_decode_merge(from->v.trend, json_string_value(v), json_string_length(v));
    }
    return SV_EPARSE;
}

static bool in_list(const char *const *list, const char *name)
{
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0)
            return true;
    return false;
}

static const sv_tagset_t *read_tags(sv_registry_t *reg, const json_t *o)
{
    size_t n = json_object_size(o), i = 0;
    sv_tag_t *tags = sv_xcalloc(n + 1, sizeof(*tags));
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        if (json_is_string(v))
            tags[i++] = (sv_tag_t){k, json_string_value(v)};
    }
    const sv_tagset_t *t = sv_registry_tags(reg, tags, i);
    free(tags);
    return t;
}

static int load_one(sv_registry_t *reg, const json_t *item, const char *const *sum_gauges)
{
    const sv_catalog_t *cat = sv_registry_catalog(reg);
    int id = sv_catalog_find(cat, json_string_value(json_object_get(item, "metric")));
    if (id < 0)
        return SV_EPARSE;
    const sv_metric_def_t *def = sv_catalog_get(cat, (uint32_t)id);
    sv_series_t from = {.metric = (uint32_t)id, .type = def->type};
    int rc = read_value(&from, json_object_get(item, "value"));
    if (rc == 0) {
        sv_series_t *into =
            sv_registry_series(reg, (uint32_t)id, read_tags(reg, json_object_get(item, "tags")));
        bool sum = def->type == SV_GAUGE && into->v.gauge.set && in_list(sum_gauges, def->name);
        if (sum) {
            into->v.gauge.value += from.v.gauge.value;
            into->v.gauge.min += from.v.gauge.min;
            into->v.gauge.max += from.v.gauge.max;
        } else {
            sv_series_combine(into, &from);
        }
    }
    if (from.type == SV_TREND)
        sv_hist_free(from.v.trend);
    return rc;
}

int sv_series_load(sv_registry_t *reg, const json_t *dump, const char *const *sum_gauges,
                   const char **why)
{
    const json_t *series = json_object_get(dump, "series");
    if (!json_is_array(series)) {
        *why = "no series (was it written by salvo run --summary-export?)";
        return SV_EPARSE;
    }
    for (size_t i = 0; i < json_array_size(series); i++)
        if (load_one(reg, json_array_get(series, i), sum_gauges) != 0) {
            *why = "a malformed series (an unknown metric, or a value of the wrong shape)";
            return SV_EPARSE;
        }
    return 0;
}
