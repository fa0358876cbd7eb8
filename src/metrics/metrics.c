/*
 * Catalogue, tag-set interning, series registries and interval snapshots.
 */
#include "metrics.h"

#include <stdlib.h>

/* ---- catalogue ---------------------------------------------------------------- */

struct sv_catalog {
    sv_metric_def_t *defs;
    size_t n, cap;
};

sv_catalog_t *sv_catalog_new(void)
{
    sv_catalog_t *c = sv_xcalloc(1, sizeof(*c));
#define SV_METRIC_ADD(id, name, type, contains) sv_catalog_add(c, name, type, contains);
    SV_BUILTIN_METRICS(SV_METRIC_ADD)
#undef SV_METRIC_ADD
    return c;
}

void sv_catalog_free(sv_catalog_t *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++)
        free(c->defs[i].name);
    free(c->defs);
    free(c);
}

int sv_catalog_find(const sv_catalog_t *c, const char *name)
{
    for (size_t i = 0; i < c->n; i++)
        if (strcmp(c->defs[i].name, name) == 0)
            return (int)i;
    return -1;
}

int sv_catalog_add(sv_catalog_t *c, const char *name, sv_metric_type_t type, sv_contains_t contains)
{
    int id = sv_catalog_find(c, name);
    if (id >= 0)
        return c->defs[id].type == type ? id : SV_EINVAL;
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->defs = sv_xrealloc(c->defs, c->cap * sizeof(*c->defs));
    }
    c->defs[c->n] = (sv_metric_def_t){sv_xstrdup(name), type, contains};
    return (int)c->n++;
}

size_t sv_catalog_size(const sv_catalog_t *c)
{
    return c->n;
}

const sv_metric_def_t *sv_catalog_get(const sv_catalog_t *c, uint32_t id)
{
    return id < c->n ? &c->defs[id] : NULL;
}

const char *sv_metric_type_name(sv_metric_type_t t)
{
    static const char *names[] = {"counter", "gauge", "rate", "trend"};
    return names[t];
}

/* ---- tag sets ------------------------------------------------------------------ */

bool sv_tagset_next(const sv_tagset_t *t, uint32_t *offset, const char **key, const char **value)
{
    if (t == NULL || *offset >= t->len)
        return false;
    *key = t->data + *offset;
    *value = *key + strlen(*key) + 1;
    *offset = (uint32_t)(*value - t->data) + (uint32_t)strlen(*value) + 1;
    return true;
}

const char *sv_tagset_get(const sv_tagset_t *t, const char *key)
{
    uint32_t off = 0;
    const char *k, *v;
    while (sv_tagset_next(t, &off, &k, &v))
        if (strcmp(k, key) == 0)
            return v;
    return NULL;
}

/* ---- registry ------------------------------------------------------------------ */

#define TAG_BUCKETS 1024
#define SERIES_BUCKETS 4096

struct sv_registry {
    const sv_catalog_t *catalog;
    sv_tagset_t *tag_buckets[TAG_BUCKETS];
    sv_series_t *series_buckets[SERIES_BUCKETS];
    sv_series_t **all; /* in creation order */
    size_t n_series, cap_series;
    sv_series_t **dirty;
    size_t n_dirty, cap_dirty;
    /* per-sample outputs */
    bool keep_samples;
    sv_sample_t *samples;
    size_t n_samples, cap_samples, max_samples;
    uint64_t lost_samples;
    uint64_t last_sample_ns;
    uint32_t sample_stride, sample_offset;
};

sv_registry_t *sv_registry_new(const sv_catalog_t *catalog)
{
    sv_registry_t *r = sv_xcalloc(1, sizeof(*r));
    r->catalog = catalog;
    return r;
}

void sv_registry_free(sv_registry_t *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n_series; i++) {
        if (r->all[i]->type == SV_TREND)
            sv_hist_free(r->all[i]->v.trend);
        free(r->all[i]);
    }
    for (int b = 0; b < TAG_BUCKETS; b++) {
        sv_tagset_t *t = r->tag_buckets[b];
        while (t) {
            sv_tagset_t *next = t->next;
            free(t);
            t = next;
        }
    }
    free(r->all);
    free(r->dirty);
    free(r->samples);
    free(r);
}

const sv_catalog_t *sv_registry_catalog(const sv_registry_t *r)
{
    return r->catalog;
}

static const sv_tagset_t *intern_canonical(sv_registry_t *r, const char *data, uint32_t len,
                                           uint32_t count)
{
    uint64_t h = sv_hash(data, len);
    sv_tagset_t **bucket = &r->tag_buckets[h % TAG_BUCKETS];
    for (sv_tagset_t *t = *bucket; t; t = t->next)
        if (t->hash == h && t->len == len && memcmp(t->data, data, len) == 0)
            return t;
    sv_tagset_t *t = sv_xmalloc(sizeof(*t) + len + 1);
    t->hash = h;
    t->len = len;
    t->count = count;
    memcpy(t->data, data, len);
    t->data[len] = '\0';
    t->next = *bucket;
    *bucket = t;
    return t;
}

static int cmp_tag(const void *a, const void *b)
{
    return strcmp(((const sv_tag_t *)a)->key, ((const sv_tag_t *)b)->key);
}

const sv_tagset_t *sv_registry_tags(sv_registry_t *r, const sv_tag_t *tags, size_t n)
{
    sv_tag_t stack[32];
    sv_tag_t *sorted = n <= SV_ARRAY_SIZE(stack) ? stack : sv_xmalloc(n * sizeof(*sorted));
    size_t len = 0, kept = 0;
    /* Keep the last occurrence of each key; mergesort-free: mark earlier duplicates. */
    for (size_t i = 0; i < n; i++) {
        bool later = false;
        for (size_t j = i + 1; j < n && !later; j++)
            later = strcmp(tags[i].key, tags[j].key) == 0;
        if (!later)
            sorted[kept++] = tags[i];
    }
    qsort(sorted, kept, sizeof(*sorted), cmp_tag);
    for (size_t i = 0; i < kept; i++)
        len += strlen(sorted[i].key) + strlen(sorted[i].value) + 2;
    char *data = sv_xmalloc(len + 1);
    char *p = data;
    for (size_t i = 0; i < kept; i++) {
        size_t kl = strlen(sorted[i].key) + 1, vl = strlen(sorted[i].value) + 1;
        memcpy(p, sorted[i].key, kl);
        memcpy(p + kl, sorted[i].value, vl);
        p += kl + vl;
    }
    const sv_tagset_t *t = intern_canonical(r, data, (uint32_t)len, (uint32_t)kept);
    free(data);
    if (sorted != stack)
        free(sorted);
    return t;
}

const sv_tagset_t *sv_registry_tags_with(sv_registry_t *r, const sv_tagset_t *base, const char *key,
                                         const char *value)
{
    uint32_t n = base ? base->count : 0, off = 0, i = 0;
    sv_tag_t *tags = sv_xmalloc((n + 1) * sizeof(*tags));
    while (sv_tagset_next(base, &off, &tags[i].key, &tags[i].value))
        i++;
    tags[i++] = (sv_tag_t){key, value};
    const sv_tagset_t *t = sv_registry_tags(r, tags, i);
    free(tags);
    return t;
}

static size_t series_bucket(uint32_t metric, const sv_tagset_t *tags)
{
    return (size_t)((tags ? tags->hash : 0) * 31 + metric) % SERIES_BUCKETS;
}

static sv_series_t *new_series(sv_registry_t *r, uint32_t metric, const sv_tagset_t *tags)
{
    const sv_metric_def_t *def = sv_catalog_get(r->catalog, metric);
    sv_series_t *s = sv_xcalloc(1, sizeof(*s));
    s->metric = metric;
    s->type = def->type;
    s->tags = tags;
    if (r->n_series == r->cap_series) {
        r->cap_series = r->cap_series ? r->cap_series * 2 : 64;
        r->all = sv_xrealloc(r->all, r->cap_series * sizeof(*r->all));
    }
    r->all[r->n_series++] = s;
    return s;
}

sv_series_t *sv_registry_series(sv_registry_t *r, uint32_t metric, const sv_tagset_t *tags)
{
    sv_series_t **bucket = &r->series_buckets[series_bucket(metric, tags)];
    for (sv_series_t *s = *bucket; s; s = s->next)
        if (s->metric == metric && s->tags == tags)
            return s;
    sv_series_t *s = new_series(r, metric, tags);
    s->next = *bucket;
    *bucket = s;
    return s;
}

sv_series_t *sv_registry_next(const sv_registry_t *r, size_t *cursor)
{
    return *cursor < r->n_series ? r->all[(*cursor)++] : NULL;
}

static void mark_dirty(sv_registry_t *r, sv_series_t *s)
{
    if (s->dirty)
        return;
    s->dirty = true;
    if (r->n_dirty == r->cap_dirty) {
        r->cap_dirty = r->cap_dirty ? r->cap_dirty * 2 : 64;
        r->dirty = sv_xrealloc(r->dirty, r->cap_dirty * sizeof(*r->dirty));
    }
    r->dirty[r->n_dirty++] = s;
}

static void gauge_extremes(sv_gauge_value_t *g, double min, double max)
{
    if (!g->set || min < g->min)
        g->min = min;
    if (!g->set || max > g->max)
        g->max = max;
    g->set = true;
}

static void gauge_set(sv_gauge_value_t *g, double value)
{
    gauge_extremes(g, value, value);
    g->value = value;
    g->at_ns = sv_now_ns();
}

void sv_registry_keep_samples(sv_registry_t *r, size_t cap, uint32_t stride, uint32_t offset)
{
    r->keep_samples = true;
    r->max_samples = cap;
    r->sample_stride = stride ? stride : 1;
    r->sample_offset = offset % r->sample_stride;
}

static void keep_sample(sv_registry_t *r, const sv_series_t *s, double value)
{
    if (r->n_samples == r->max_samples) {
        r->lost_samples++;
        return;
    }
    if (r->n_samples == r->cap_samples) {
        r->cap_samples = r->cap_samples ? r->cap_samples * 2 : 4096;
        r->samples = sv_xrealloc(r->samples, r->cap_samples * sizeof(*r->samples));
    }
    /* Unique times: stores that key points by series and time (InfluxDB) keep only
     * one of two samples of the same nanosecond. Each registry has its own residue
     * modulo the stride, and its times go strictly up. */
    uint64_t t = sv_now_ns(), stride = r->sample_stride;
    t = t - t % stride + r->sample_offset;
    if (t <= r->last_sample_ns)
        t = r->last_sample_ns + stride;
    r->last_sample_ns = t;
    r->samples[r->n_samples++] = (sv_sample_t){s, value, t};
}

void sv_series_add_trend(sv_registry_t *r, sv_series_t *s, uint64_t scaled)
{
    if (r->keep_samples)
        keep_sample(r, s, (double)scaled / SV_TREND_SCALE);
    if (s->v.trend == NULL)
        s->v.trend = sv_hist_new();
    sv_hist_record(s->v.trend, scaled);
    mark_dirty(r, s);
}

void sv_series_add(sv_registry_t *r, sv_series_t *s, double value)
{
    switch (s->type) {
    case SV_COUNTER:
        s->v.counter += value;
        break;
    case SV_GAUGE:
        gauge_set(&s->v.gauge, value);
        break;
    case SV_RATE:
        s->v.rate.total++;
        s->v.rate.nonzero += value != 0;
        break;
    case SV_TREND:
        sv_series_add_trend(r, s, value <= 0 ? 0 : (uint64_t)(value * SV_TREND_SCALE + 0.5));
        return;
    }
    if (r->keep_samples)
        keep_sample(r, s, value);
    mark_dirty(r, s);
}

void sv_series_combine(sv_series_t *into, const sv_series_t *from)
{
    switch (from->type) {
    case SV_COUNTER:
        into->v.counter += from->v.counter;
        break;
    case SV_GAUGE:
        if (from->v.gauge.set) {
            bool later = !into->v.gauge.set || from->v.gauge.at_ns >= into->v.gauge.at_ns;
            gauge_extremes(&into->v.gauge, from->v.gauge.min, from->v.gauge.max);
            if (later) {
                into->v.gauge.value = from->v.gauge.value;
                into->v.gauge.at_ns = from->v.gauge.at_ns;
            }
        }
        break;
    case SV_RATE:
        into->v.rate.total += from->v.rate.total;
        into->v.rate.nonzero += from->v.rate.nonzero;
        break;
    case SV_TREND:
        if (from->v.trend == NULL)
            break;
        if (into->v.trend == NULL)
            into->v.trend = sv_hist_new();
        sv_hist_merge(into->v.trend, from->v.trend);
        break;
    }
}

/* ---- snapshots ----------------------------------------------------------------- */

typedef struct {
    sv_series_t *series; /* the source registry's series: metric and tags are read */
    sv_series_t delta;   /* the values to add */
} snapshot_item_t;

struct sv_snapshot {
    snapshot_item_t *items;
    size_t n, cap;
    sv_sample_t *samples; /* swapped with the registry's at each take */
    size_t n_samples, cap_samples;
    uint64_t lost_samples;
    sv_hist_t **spare; /* emptied histograms, handed back to the next take */
    size_t n_spare, cap_spare;
};

sv_snapshot_t *sv_snapshot_new(void)
{
    return sv_xcalloc(1, sizeof(sv_snapshot_t));
}

void sv_snapshot_free(sv_snapshot_t *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->n; i++)
        if (s->items[i].delta.type == SV_TREND)
            sv_hist_free(s->items[i].delta.v.trend);
    for (size_t i = 0; i < s->n_spare; i++)
        sv_hist_free(s->spare[i]);
    free(s->items);
    free(s->spare);
    free(s->samples);
    free(s);
}

bool sv_snapshot_empty(const sv_snapshot_t *s)
{
    return s->n == 0;
}

const sv_sample_t *sv_snapshot_samples(const sv_snapshot_t *s, size_t *n, uint64_t *lost)
{
    *n = s->n_samples;
    *lost = s->lost_samples;
    return s->samples;
}

/* Hands the registry's samples to the snapshot and the snapshot's emptied array
 * back, so neither allocates in steady state. */
static void take_samples(sv_registry_t *r, sv_snapshot_t *snap)
{
    sv_sample_t *spare = snap->samples;
    size_t spare_cap = snap->cap_samples;
    snap->samples = r->samples;
    snap->n_samples = r->n_samples;
    snap->cap_samples = r->cap_samples;
    snap->lost_samples = r->lost_samples;
    r->samples = spare;
    r->cap_samples = spare_cap;
    r->n_samples = 0;
    r->lost_samples = 0;
}

static void push_spare(sv_snapshot_t *s, sv_hist_t *h)
{
    if (s->n_spare == s->cap_spare) {
        s->cap_spare = s->cap_spare ? s->cap_spare * 2 : 16;
        s->spare = sv_xrealloc(s->spare, s->cap_spare * sizeof(*s->spare));
    }
    s->spare[s->n_spare++] = h;
}

void sv_registry_take(sv_registry_t *r, sv_snapshot_t *snap)
{
    if (r->keep_samples)
        take_samples(r, snap);
    for (size_t i = 0; i < r->n_dirty; i++) {
        sv_series_t *s = r->dirty[i];
        if (snap->n == snap->cap) {
            snap->cap = snap->cap ? snap->cap * 2 : 64;
            snap->items = sv_xrealloc(snap->items, snap->cap * sizeof(*snap->items));
        }
        snapshot_item_t *item = &snap->items[snap->n++];
        item->series = s;
        item->delta = *s;
        s->dirty = false;
        switch (s->type) {
        case SV_COUNTER:
            s->v.counter = 0;
            break;
        case SV_GAUGE: /* a gauge keeps its value; its min/max restart from it */
            s->v.gauge.min = s->v.gauge.max = s->v.gauge.value;
            break;
        case SV_RATE:
            s->v.rate.nonzero = s->v.rate.total = 0;
            break;
        case SV_TREND:
            s->v.trend = snap->n_spare ? snap->spare[--snap->n_spare] : NULL;
            break;
        }
    }
    r->n_dirty = 0;
}

void sv_registry_merge(sv_registry_t *r, sv_snapshot_t *snap)
{
    for (size_t i = 0; i < snap->n; i++) {
        snapshot_item_t *item = &snap->items[i];
        const sv_tagset_t *src = item->series->tags;
        const sv_tagset_t *tags = src ? intern_canonical(r, src->data, src->len, src->count) : NULL;
        sv_series_t *s = sv_registry_series(r, item->series->metric, tags);
        sv_series_combine(s, &item->delta);
        mark_dirty(r, s);
        if (item->delta.type == SV_TREND && item->delta.v.trend) {
            sv_hist_reset(item->delta.v.trend);
            push_spare(snap, item->delta.v.trend);
        }
    }
    snap->n = 0;
    snap->n_samples = 0;
    snap->lost_samples = 0;
}

size_t sv_registry_aggregate_tags(const sv_registry_t *r, uint32_t metric, const sv_tag_t *tags,
                                  size_t n_tags, sv_series_t *out)
{
    size_t n = 0;
    out->metric = metric;
    out->type = sv_catalog_get(r->catalog, metric)->type;
    for (size_t i = 0; i < r->n_series; i++) {
        const sv_series_t *s = r->all[i];
        if (s->metric != metric)
            continue;
        bool match = true;
        for (size_t t = 0; t < n_tags && match; t++) {
            const char *v = sv_tagset_get(s->tags, tags[t].key);
            match = v && strcmp(v, tags[t].value) == 0;
        }
        if (!match)
            continue;
        sv_series_combine(out, s);
        n++;
    }
    return n;
}

size_t sv_registry_aggregate(const sv_registry_t *r, uint32_t metric, const char *key,
                             const char *value, sv_series_t *out)
{
    sv_tag_t tag = {key, value};
    return sv_registry_aggregate_tags(r, metric, &tag, key ? 1 : 0, out);
}

void sv_series_release(sv_series_t *s)
{
    if (s->type == SV_TREND)
        sv_hist_free(s->v.trend);
    s->v.trend = NULL;
}
