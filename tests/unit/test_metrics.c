/*
 * Unit tests for the metric catalogue, tag sets, series registries and interval
 * snapshots (src/metrics/metrics.h).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

#include "metrics/metrics.h"

static sv_catalog_t *catalog;

static void setup(void)
{
    catalog = sv_catalog_new();
}

static void teardown(void)
{
    sv_catalog_free(catalog);
}

static uint64_t rng_state = 99;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* ---- catalogue ----------------------------------------------------------------- */

Test(catalog, builtins, .init = setup, .fini = teardown)
{
    static const struct {
        int id;
        const char *name;
        sv_metric_type_t type;
        sv_contains_t contains;
    } builtins[] = {
#define ROW(id, name, type, contains) {SV_M_##id, name, type, contains},
        SV_BUILTIN_METRICS(ROW)
#undef ROW
    };
    cr_assert_eq(sv_catalog_size(catalog), SV_M_BUILTIN_COUNT);
    cr_assert_eq(SV_ARRAY_SIZE(builtins), SV_M_BUILTIN_COUNT);
    for (size_t i = 0; i < SV_ARRAY_SIZE(builtins); i++) {
        cr_assert_eq(sv_catalog_find(catalog, builtins[i].name), builtins[i].id, "%s",
                     builtins[i].name);
        const sv_metric_def_t *d = sv_catalog_get(catalog, (uint32_t)builtins[i].id);
        cr_assert_not_null(d);
        cr_assert_str_eq(d->name, builtins[i].name);
        cr_assert_eq(d->type, builtins[i].type);
        cr_assert_eq(d->contains, builtins[i].contains);
    }
    /* Spot checks against k6's names and types. */
    cr_assert_eq(sv_catalog_find(catalog, "http_reqs"), SV_M_HTTP_REQS);
    cr_assert_eq(sv_catalog_get(catalog, SV_M_HTTP_REQ_DURATION)->type, SV_TREND);
    cr_assert_eq(sv_catalog_get(catalog, SV_M_HTTP_REQ_FAILED)->type, SV_RATE);
    cr_assert_eq(sv_catalog_get(catalog, SV_M_VUS)->type, SV_GAUGE);
    cr_assert_eq(sv_catalog_get(catalog, SV_M_DATA_RECEIVED)->contains, SV_CONTAINS_DATA);
    cr_assert_eq(sv_catalog_find(catalog, "no_such_metric"), -1);
    cr_assert_eq(sv_catalog_find(catalog, "HTTP_REQS"), -1);
    cr_assert_null(sv_catalog_get(catalog, SV_M_BUILTIN_COUNT));
}

Test(catalog, custom_metrics, .init = setup, .fini = teardown)
{
    int id = sv_catalog_add(catalog, "checkout_time", SV_TREND, SV_CONTAINS_TIME);
    cr_assert_eq(id, SV_M_BUILTIN_COUNT);
    cr_assert_eq(sv_catalog_size(catalog), SV_M_BUILTIN_COUNT + 1);
    /* Same name and type: the same metric. */
    cr_assert_eq(sv_catalog_add(catalog, "checkout_time", SV_TREND, SV_CONTAINS_TIME), id);
    cr_assert_eq(sv_catalog_add(catalog, "checkout_time", SV_TREND, SV_CONTAINS_DEFAULT), id);
    /* Same name, another type: refused, nothing added. */
    cr_assert_eq(sv_catalog_add(catalog, "checkout_time", SV_COUNTER, SV_CONTAINS_DEFAULT),
                 SV_EINVAL);
    cr_assert_eq(sv_catalog_add(catalog, "http_reqs", SV_TREND, SV_CONTAINS_DEFAULT), SV_EINVAL);
    cr_assert_eq(sv_catalog_add(catalog, "http_reqs", SV_COUNTER, SV_CONTAINS_DEFAULT),
                 SV_M_HTTP_REQS);
    cr_assert_eq(sv_catalog_size(catalog), SV_M_BUILTIN_COUNT + 1);
    cr_assert_eq(sv_catalog_find(catalog, "checkout_time"), id);
    const sv_metric_def_t *d = sv_catalog_get(catalog, (uint32_t)id);
    cr_assert_str_eq(d->name, "checkout_time");
    cr_assert_eq(d->type, SV_TREND);
    cr_assert_eq(d->contains, SV_CONTAINS_TIME);
}

Test(catalog, many_custom_metrics, .init = setup, .fini = teardown)
{
    char name[32];
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "custom_%d", i);
        int id = sv_catalog_add(catalog, name, (sv_metric_type_t)(i % 4), SV_CONTAINS_DEFAULT);
        cr_assert_eq(id, SV_M_BUILTIN_COUNT + i);
    }
    /* The name is copied: reusing our buffer changes nothing. */
    strcpy(name, "overwritten");
    for (int i = 0; i < 500; i++) {
        snprintf(name, sizeof(name), "custom_%d", i);
        cr_assert_eq(sv_catalog_find(catalog, name), SV_M_BUILTIN_COUNT + i);
        cr_assert_eq(sv_catalog_get(catalog, (uint32_t)(SV_M_BUILTIN_COUNT + i))->type,
                     (sv_metric_type_t)(i % 4));
    }
    /* Built-ins are unaffected by the growth. */
    cr_assert_eq(sv_catalog_find(catalog, "vus_max"), SV_M_VUS_MAX);
}

Test(catalog, type_names)
{
    cr_assert_str_eq(sv_metric_type_name(SV_COUNTER), "counter");
    cr_assert_str_eq(sv_metric_type_name(SV_GAUGE), "gauge");
    cr_assert_str_eq(sv_metric_type_name(SV_RATE), "rate");
    cr_assert_str_eq(sv_metric_type_name(SV_TREND), "trend");
}

/* ---- tag sets ------------------------------------------------------------------ */

Test(tags, interning_is_order_independent, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    cr_assert_eq(sv_registry_catalog(r), catalog);
    sv_tag_t ab[] = {{"method", "GET"}, {"status", "200"}};
    sv_tag_t ba[] = {{"status", "200"}, {"method", "GET"}};
    const sv_tagset_t *t1 = sv_registry_tags(r, ab, 2), *t2 = sv_registry_tags(r, ba, 2);
    cr_assert_eq(t1, t2);
    cr_assert_eq(t1->count, 2);
    cr_assert_str_eq(sv_tagset_get(t1, "method"), "GET");
    cr_assert_str_eq(sv_tagset_get(t1, "status"), "200");
    cr_assert_null(sv_tagset_get(t1, "url"));
    cr_assert_null(sv_tagset_get(t1, "GET"), "a value is not a key");

    /* Iteration is in key order. */
    uint32_t off = 0;
    const char *k, *v;
    cr_assert(sv_tagset_next(t2, &off, &k, &v));
    cr_assert_str_eq(k, "method");
    cr_assert_str_eq(v, "GET");
    cr_assert(sv_tagset_next(t2, &off, &k, &v));
    cr_assert_str_eq(k, "status");
    cr_assert_str_eq(v, "200");
    cr_assert_not(sv_tagset_next(t2, &off, &k, &v));
    sv_registry_free(r);
}

Test(tags, distinct_sets_are_distinct, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_tag_t a1[] = {{"a", "1"}}, a2[] = {{"a", "2"}}, b1[] = {{"b", "1"}};
    sv_tag_t a1b1[] = {{"a", "1"}, {"b", "1"}};
    sv_tag_t split1[] = {{"ab", "c"}}, split2[] = {{"a", "bc"}};
    const sv_tagset_t *sets[] = {
        sv_registry_tags(r, a1, 1),     sv_registry_tags(r, a2, 1),
        sv_registry_tags(r, b1, 1),     sv_registry_tags(r, a1b1, 2),
        sv_registry_tags(r, split1, 1), sv_registry_tags(r, split2, 1),
        sv_registry_tags(r, NULL, 0),
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(sets); i++)
        for (size_t j = i + 1; j < SV_ARRAY_SIZE(sets); j++)
            cr_assert_neq(sets[i], sets[j], "sets %zu and %zu collapsed", i, j);
    /* The empty set is a set like any other. */
    const sv_tagset_t *empty = sv_registry_tags(r, NULL, 0);
    cr_assert_eq(empty, sets[6]);
    cr_assert_eq(empty->count, 0);
    cr_assert_null(sv_tagset_get(empty, "a"));
    sv_registry_free(r);
}

Test(tags, duplicate_key_last_wins, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_tag_t dup[] = {{"k", "first"}, {"x", "1"}, {"k", "second"}, {"k", "last"}};
    sv_tag_t want[] = {{"x", "1"}, {"k", "last"}};
    const sv_tagset_t *t = sv_registry_tags(r, dup, 4);
    cr_assert_eq(t->count, 2);
    cr_assert_str_eq(sv_tagset_get(t, "k"), "last");
    cr_assert_eq(t, sv_registry_tags(r, want, 2));
    sv_registry_free(r);
}

Test(tags, keys_and_values_are_copied, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    char key[16] = "name", value[16] = "alice";
    sv_tag_t tags[] = {{key, value}};
    const sv_tagset_t *t = sv_registry_tags(r, tags, 1);
    strcpy(key, "zzzz");
    strcpy(value, "mallory");
    cr_assert_str_eq(sv_tagset_get(t, "name"), "alice");
    cr_assert_null(sv_tagset_get(t, "zzzz"));
    sv_registry_free(r);
}

Test(tags, many_tags, .init = setup, .fini = teardown)
{
    /* More tags than fit in a small on-stack array, given in reverse, with duplicates. */
    sv_registry_t *r = sv_registry_new(catalog);
    char keys[100][8], values[100][8];
    sv_tag_t fwd[50], rev[100];
    for (int i = 0; i < 50; i++) {
        snprintf(keys[i], sizeof(keys[i]), "k%02d", i);
        snprintf(values[i], sizeof(values[i]), "v%d", i);
        snprintf(values[50 + i], sizeof(values[50 + i]), "old%d", i);
        fwd[i] = (sv_tag_t){keys[i], values[i]};
        rev[i] = (sv_tag_t){keys[49 - i], values[50 + 49 - i]}; /* overridden below */
        rev[50 + i] = (sv_tag_t){keys[49 - i], values[49 - i]};
    }
    const sv_tagset_t *a = sv_registry_tags(r, fwd, 50), *b = sv_registry_tags(r, rev, 100);
    cr_assert_eq(a, b);
    cr_assert_eq(a->count, 50);
    for (int i = 0; i < 50; i++)
        cr_assert_str_eq(sv_tagset_get(a, keys[i]), values[i]);
    sv_registry_free(r);
}

Test(tags, tags_with, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_tag_t base_tags[] = {{"method", "GET"}, {"url", "/a"}};
    const sv_tagset_t *base = sv_registry_tags(r, base_tags, 2);

    sv_tag_t added[] = {{"url", "/a"}, {"status", "200"}, {"method", "GET"}};
    const sv_tagset_t *with = sv_registry_tags_with(r, base, "status", "200");
    cr_assert_eq(with, sv_registry_tags(r, added, 3));
    cr_assert_eq(with->count, 3);

    sv_tag_t replaced[] = {{"method", "POST"}, {"url", "/a"}};
    const sv_tagset_t *repl = sv_registry_tags_with(r, base, "method", "POST");
    cr_assert_eq(repl, sv_registry_tags(r, replaced, 2));
    cr_assert_str_eq(sv_tagset_get(repl, "method"), "POST");

    /* The base is untouched. */
    cr_assert_str_eq(sv_tagset_get(base, "method"), "GET");
    cr_assert_null(sv_tagset_get(base, "status"));

    /* Replacing with the same value gives the base back. */
    cr_assert_eq(sv_registry_tags_with(r, base, "url", "/a"), base);

    sv_tag_t only[] = {{"k", "v"}};
    cr_assert_eq(sv_registry_tags_with(r, NULL, "k", "v"), sv_registry_tags(r, only, 1));
    sv_registry_free(r);
}

/* ---- series -------------------------------------------------------------------- */

Test(series, identity, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_tag_t t1[] = {{"status", "200"}}, t2[] = {{"status", "500"}};
    const sv_tagset_t *a = sv_registry_tags(r, t1, 1), *b = sv_registry_tags(r, t2, 1);

    sv_series_t *s1 = sv_registry_series(r, SV_M_HTTP_REQS, a);
    cr_assert_eq(sv_registry_series(r, SV_M_HTTP_REQS, a), s1);
    cr_assert_eq(sv_registry_series(r, SV_M_HTTP_REQS, sv_registry_tags(r, t1, 1)), s1);
    sv_series_t *s2 = sv_registry_series(r, SV_M_HTTP_REQS, b);
    sv_series_t *s3 = sv_registry_series(r, SV_M_HTTP_REQ_DURATION, a);
    sv_series_t *s4 = sv_registry_series(r, SV_M_HTTP_REQS, NULL);
    cr_assert_neq(s1, s2);
    cr_assert_neq(s1, s3);
    cr_assert_neq(s1, s4);
    cr_assert_eq(sv_registry_series(r, SV_M_HTTP_REQS, NULL), s4);

    cr_assert_eq(s1->metric, SV_M_HTTP_REQS);
    cr_assert_eq(s1->type, SV_COUNTER);
    cr_assert_eq(s1->tags, a);
    cr_assert_eq(s3->type, SV_TREND);
    cr_assert(s1->v.counter == 0);

    /* Pointers stay valid while many more series are created. */
    char v[16];
    for (int i = 0; i < 20000; i++) {
        snprintf(v, sizeof(v), "%d", i);
        sv_tag_t t[] = {{"i", v}};
        sv_registry_series(r, SV_M_HTTP_REQS, sv_registry_tags(r, t, 1));
    }
    cr_assert_eq(sv_registry_series(r, SV_M_HTTP_REQS, a), s1);
    cr_assert_eq(sv_registry_series(r, SV_M_HTTP_REQ_DURATION, a), s3);

    /* Iteration visits each series once, in creation order. */
    size_t cursor = 0, n = 0;
    sv_series_t *s;
    while ((s = sv_registry_next(r, &cursor)) != NULL) {
        if (n == 0)
            cr_assert_eq(s, s1);
        if (n == 3)
            cr_assert_eq(s, s4);
        n++;
    }
    cr_assert_eq(n, 4 + 20000);
    sv_registry_free(r);
}

Test(series, recording, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_series_t *c = sv_registry_series(r, SV_M_DATA_SENT, NULL);
    sv_series_add(r, c, 100);
    sv_series_add(r, c, 2.5);
    cr_assert(c->v.counter == 102.5);

    sv_series_t *g = sv_registry_series(r, SV_M_VUS, NULL);
    cr_assert_not(g->v.gauge.set);
    double gv[] = {5, 1, 7, 3};
    for (size_t i = 0; i < 4; i++)
        sv_series_add(r, g, gv[i]);
    cr_assert(g->v.gauge.set);
    cr_assert(g->v.gauge.value == 3);
    cr_assert(g->v.gauge.min == 1);
    cr_assert(g->v.gauge.max == 7);

    sv_series_t *rt = sv_registry_series(r, SV_M_HTTP_REQ_FAILED, NULL);
    double rv[] = {1, 0, 0, 2, 0, -1};
    for (size_t i = 0; i < SV_ARRAY_SIZE(rv); i++)
        sv_series_add(r, rt, rv[i]);
    cr_assert_eq(rt->v.rate.total, 6);
    cr_assert_eq(rt->v.rate.nonzero, 3);

    sv_series_t *t = sv_registry_series(r, SV_M_HTTP_REQ_DURATION, NULL);
    sv_series_add(r, t, 1.5);   /* ms: stored as 1500 µs */
    sv_series_add(r, t, 2.25);  /* 2250 */
    sv_series_add(r, t, 0.001); /* 1 */
    sv_series_add(r, t, -3);    /* negative durations count as 0 */
    sv_series_add_trend(r, t, 42);
    cr_assert_not_null(t->v.trend);
    cr_assert_eq(sv_hist_count(t->v.trend), 5);
    cr_assert_eq(sv_hist_min(t->v.trend), 0);
    cr_assert_eq(sv_hist_max(t->v.trend), 2250);
    cr_assert(sv_hist_mean(t->v.trend) == (1500.0 + 2250 + 1 + 0 + 42) / 5);
    cr_assert(sv_hist_percentile(t->v.trend, 50) == 42);
    sv_registry_free(r);
}

/* ---- snapshots: take and merge ------------------------------------------------- */

/* What a worker recorded, computed independently of the registry. */
typedef struct {
    double counter;
    uint64_t rate_total, rate_nonzero;
    double gauge_min, gauge_max;
    bool gauge_set;
    sv_hist_t *trend; /* reference histogram */
} expect_t;

typedef struct {
    sv_registry_t *r;
    sv_series_t *counter, *rate, *gauge, *trend;
} worker_t;

static void worker_init(worker_t *w, const char *name)
{
    w->r = sv_registry_new(catalog);
    sv_tag_t tags[] = {{"scenario", "default"}, {"name", name}};
    sv_tag_t shared[] = {{"scenario", "default"}};
    const sv_tagset_t *own = sv_registry_tags(w->r, tags, 2);
    const sv_tagset_t *common = sv_registry_tags(w->r, shared, 1);
    /* Counter and trend series are common to all workers; rate and gauge are not. */
    w->counter = sv_registry_series(w->r, SV_M_HTTP_REQS, common);
    w->rate = sv_registry_series(w->r, SV_M_HTTP_REQ_FAILED, own);
    w->gauge = sv_registry_series(w->r, SV_M_VUS, common);
    w->trend = sv_registry_series(w->r, SV_M_HTTP_REQ_DURATION, common);
}

static void worker_record(worker_t *w, expect_t *e, int n)
{
    for (int i = 0; i < n; i++) {
        uint64_t x = rng_next();
        double inc = (double)(x % 5);
        sv_series_add(w->r, w->counter, inc);
        e->counter += inc;
        bool failed = (x >> 8) % 7 == 0;
        sv_series_add(w->r, w->rate, failed ? 1 : 0);
        e->rate_total++;
        e->rate_nonzero += failed;
        uint64_t scaled = (x >> 16) % 3000000;
        sv_series_add_trend(w->r, w->trend, scaled);
        sv_hist_record(e->trend, scaled);
    }
    double g = (double)((rng_next() % 1000) + 1);
    sv_series_add(w->r, w->gauge, g);
    if (!e->gauge_set || g < e->gauge_min)
        e->gauge_min = g;
    if (!e->gauge_set || g > e->gauge_max)
        e->gauge_max = g;
    e->gauge_set = true;
}

static void assert_same_distribution(const sv_hist_t *got, const sv_hist_t *want)
{
    cr_assert_not_null(got);
    cr_assert_eq(sv_hist_count(got), sv_hist_count(want));
    cr_assert_eq(sv_hist_min(got), sv_hist_min(want));
    cr_assert_eq(sv_hist_max(got), sv_hist_max(want));
    cr_assert(sv_hist_mean(got) == sv_hist_mean(want));
    for (int i = 0; i <= 1000; i++) {
        double p = i / 10.0;
        cr_assert(sv_hist_percentile(got, p) == sv_hist_percentile(want, p), "p%g: %.17g vs %.17g",
                  p, sv_hist_percentile(got, p), sv_hist_percentile(want, p));
    }
}

Test(snapshot, two_workers_merge_into_a_collector, .init = setup, .fini = teardown)
{
    worker_t a, b;
    worker_init(&a, "a");
    worker_init(&b, "b");
    sv_registry_t *total = sv_registry_new(catalog);
    sv_snapshot_t *snap_a = sv_snapshot_new(), *snap_b = sv_snapshot_new();
    expect_t e = {.trend = sv_hist_new()};
    expect_t ea_rate = {0}, eb_rate = {0};
    double gauge_last = 0;

    for (int interval = 0; interval < 5; interval++) {
        expect_t ra = {.trend = e.trend}, rb = {.trend = e.trend};
        worker_record(&a, &ra, 300 + interval * 50);
        worker_record(&b, &rb, 200);
        e.counter += ra.counter + rb.counter;
        ea_rate.rate_total += ra.rate_total;
        ea_rate.rate_nonzero += ra.rate_nonzero;
        eb_rate.rate_total += rb.rate_total;
        eb_rate.rate_nonzero += rb.rate_nonzero;
        double mins[] = {ra.gauge_min, rb.gauge_min}, maxs[] = {ra.gauge_max, rb.gauge_max};
        for (int k = 0; k < 2; k++) {
            if (!e.gauge_set || mins[k] < e.gauge_min)
                e.gauge_min = mins[k];
            if (!e.gauge_set || maxs[k] > e.gauge_max)
                e.gauge_max = maxs[k];
            e.gauge_set = true;
        }
        gauge_last = rb.gauge_max; /* b records one gauge value per interval, merged last */

        cr_assert(sv_snapshot_empty(snap_a));
        sv_registry_take(a.r, snap_a);
        sv_registry_take(b.r, snap_b);
        cr_assert_not(sv_snapshot_empty(snap_a));
        /* The worker's series restart from zero after a take. */
        cr_assert(a.counter->v.counter == 0);
        cr_assert_eq(a.rate->v.rate.total, 0);
        cr_assert(a.trend->v.trend == NULL || sv_hist_count(a.trend->v.trend) == 0);
        sv_registry_merge(total, snap_a);
        sv_registry_merge(total, snap_b);
        cr_assert(sv_snapshot_empty(snap_a));
        cr_assert(sv_snapshot_empty(snap_b));
    }

    /* The collector's series use its own interned tag sets. */
    sv_tag_t common_tags[] = {{"scenario", "default"}};
    const sv_tagset_t *common = sv_registry_tags(total, common_tags, 1);
    sv_tag_t a_tags[] = {{"name", "a"}, {"scenario", "default"}};
    sv_tag_t b_tags[] = {{"name", "b"}, {"scenario", "default"}};

    sv_series_t *c = sv_registry_series(total, SV_M_HTTP_REQS, common);
    cr_assert(c->v.counter == e.counter, "counter %.17g, want %.17g", c->v.counter, e.counter);

    sv_series_t *ra =
        sv_registry_series(total, SV_M_HTTP_REQ_FAILED, sv_registry_tags(total, a_tags, 2));
    sv_series_t *rb =
        sv_registry_series(total, SV_M_HTTP_REQ_FAILED, sv_registry_tags(total, b_tags, 2));
    cr_assert_eq(ra->v.rate.total, ea_rate.rate_total);
    cr_assert_eq(ra->v.rate.nonzero, ea_rate.rate_nonzero);
    cr_assert_eq(rb->v.rate.total, eb_rate.rate_total);
    cr_assert_eq(rb->v.rate.nonzero, eb_rate.rate_nonzero);

    sv_series_t *g = sv_registry_series(total, SV_M_VUS, common);
    cr_assert(g->v.gauge.set);
    cr_assert(g->v.gauge.min == e.gauge_min, "gauge min %g, want %g", g->v.gauge.min, e.gauge_min);
    cr_assert(g->v.gauge.max == e.gauge_max, "gauge max %g, want %g", g->v.gauge.max, e.gauge_max);
    cr_assert(g->v.gauge.value == gauge_last);

    sv_series_t *t = sv_registry_series(total, SV_M_HTTP_REQ_DURATION, common);
    assert_same_distribution(t->v.trend, e.trend);

    /* Exactly the five series above exist in the collector. */
    size_t cursor = 0, n = 0;
    while (sv_registry_next(total, &cursor))
        n++;
    cr_assert_eq(n, 5);

    sv_hist_free(e.trend);
    sv_snapshot_free(snap_a);
    sv_snapshot_free(snap_b);
    sv_registry_free(a.r);
    sv_registry_free(b.r);
    sv_registry_free(total);
}

Test(snapshot, take_without_changes_is_empty, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog), *total = sv_registry_new(catalog);
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_registry_take(r, snap);
    cr_assert(sv_snapshot_empty(snap));
    sv_series_t *c = sv_registry_series(r, SV_M_ITERATIONS, NULL);
    sv_series_add(r, c, 1);
    sv_registry_take(r, snap);
    cr_assert_not(sv_snapshot_empty(snap));
    sv_registry_merge(total, snap);
    /* Nothing recorded since: the next take carries nothing. */
    sv_registry_take(r, snap);
    cr_assert(sv_snapshot_empty(snap));
    sv_registry_merge(total, snap);
    cr_assert(sv_registry_series(total, SV_M_ITERATIONS, NULL)->v.counter == 1);
    sv_snapshot_free(snap);
    sv_registry_free(r);
    sv_registry_free(total);
}

Test(snapshot, gauge_keeps_its_value_across_takes, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog), *total = sv_registry_new(catalog);
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_series_t *g = sv_registry_series(r, SV_M_VUS, NULL);
    sv_series_add(r, g, 10);
    sv_series_add(r, g, 20);
    sv_registry_take(r, snap);
    cr_assert(g->v.gauge.set);
    cr_assert(g->v.gauge.value == 20);
    sv_registry_merge(total, snap);
    sv_series_add(r, g, 15);
    sv_registry_take(r, snap);
    sv_registry_merge(total, snap);
    sv_series_t *tg = sv_registry_series(total, SV_M_VUS, NULL);
    cr_assert(tg->v.gauge.value == 15);
    cr_assert(tg->v.gauge.min == 10);
    cr_assert(tg->v.gauge.max == 20);
    sv_snapshot_free(snap);
    sv_registry_free(r);
    sv_registry_free(total);
}

Test(snapshot, reused_across_intervals_and_registries, .init = setup, .fini = teardown)
{
    /* One snapshot carries several workers' deltas in turn, as a collector loop would;
     * its spare histograms go back to whichever registry takes next. */
    sv_registry_t *w[3], *total = sv_registry_new(catalog);
    sv_series_t *t[3];
    sv_hist_t *ref = sv_hist_new();
    sv_snapshot_t *snap = sv_snapshot_new();
    for (int i = 0; i < 3; i++) {
        w[i] = sv_registry_new(catalog);
        t[i] = sv_registry_series(w[i], SV_M_ITERATION_DURATION, NULL);
    }
    for (int interval = 0; interval < 10; interval++) {
        for (int i = 0; i < 3; i++) {
            for (int k = 0; k < 100; k++) {
                uint64_t v = rng_next() % (100000 * (uint64_t)(i + 1));
                sv_series_add_trend(w[i], t[i], v);
                sv_hist_record(ref, v);
            }
            sv_hist_t *before = t[i]->v.trend;
            sv_registry_take(w[i], snap);
            cr_assert_neq(t[i]->v.trend, before, "the delta's histogram stayed with the series");
            if (t[i]->v.trend)
                cr_assert_eq(sv_hist_count(t[i]->v.trend), 0, "a reused histogram is not empty");
            sv_registry_merge(total, snap);
        }
    }
    sv_series_t *tt = sv_registry_series(total, SV_M_ITERATION_DURATION, NULL);
    assert_same_distribution(tt->v.trend, ref);
    sv_hist_free(ref);
    sv_snapshot_free(snap);
    for (int i = 0; i < 3; i++)
        sv_registry_free(w[i]);
    sv_registry_free(total);
}

Test(snapshot, spare_histograms_are_reused, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog), *total = sv_registry_new(catalog);
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_series_t *t = sv_registry_series(r, SV_M_HTTP_REQ_WAITING, NULL);
    sv_series_add_trend(r, t, 100);
    sv_hist_t *first = t->v.trend;
    sv_registry_take(r, snap);
    sv_registry_merge(total, snap); /* first is now an emptied spare in snap */
    sv_series_add_trend(r, t, 200);
    sv_registry_take(r, snap);
    /* The series records into the recycled histogram instead of a new one. */
    cr_assert_eq(t->v.trend, first);
    cr_assert_eq(sv_hist_count(first), 0);
    sv_series_add_trend(r, t, 300);
    sv_registry_merge(total, snap);
    sv_registry_take(r, snap);
    sv_registry_merge(total, snap);
    sv_series_t *tt = sv_registry_series(total, SV_M_HTTP_REQ_WAITING, NULL);
    cr_assert_eq(sv_hist_count(tt->v.trend), 3);
    cr_assert_eq(sv_hist_min(tt->v.trend), 100);
    cr_assert_eq(sv_hist_max(tt->v.trend), 300);
    sv_snapshot_free(snap);
    sv_registry_free(r);
    sv_registry_free(total);
}

Test(snapshot, unmerged_snapshot_can_be_freed, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_series_t *t = sv_registry_series(r, SV_M_HTTP_REQ_DURATION, NULL);
    sv_series_add_trend(r, t, 1);
    sv_series_add(r, sv_registry_series(r, SV_M_HTTP_REQS, NULL), 1);
    sv_registry_take(r, snap);
    sv_snapshot_free(snap); /* owns the taken histogram now; ASan checks the rest */
    sv_snapshot_free(NULL);
    sv_registry_free(r);
    sv_registry_free(NULL);
}

Test(snapshot, collector_can_forward_its_own_deltas, .init = setup, .fini = teardown)
{
    /* A mid-level collector merges workers and is itself taken into a top level. */
    sv_registry_t *w = sv_registry_new(catalog), *mid = sv_registry_new(catalog),
                  *top = sv_registry_new(catalog);
    sv_snapshot_t *s1 = sv_snapshot_new(), *s2 = sv_snapshot_new();
    sv_tag_t tags[] = {{"group", "::login"}};
    sv_series_t *c = sv_registry_series(w, SV_M_ITERATIONS, sv_registry_tags(w, tags, 1));
    sv_series_t *t = sv_registry_series(w, SV_M_HTTP_REQ_DURATION, NULL);
    for (int i = 0; i < 10; i++) {
        sv_series_add(w, c, 1);
        sv_series_add_trend(w, t, (uint64_t)i * 1000);
    }
    sv_registry_take(w, s1);
    sv_registry_merge(mid, s1);
    sv_registry_take(mid, s2);
    sv_registry_merge(top, s2);
    sv_series_t *tc = sv_registry_series(top, SV_M_ITERATIONS, sv_registry_tags(top, tags, 1));
    cr_assert(tc->v.counter == 10);
    sv_series_t *tt = sv_registry_series(top, SV_M_HTTP_REQ_DURATION, NULL);
    cr_assert_eq(sv_hist_count(tt->v.trend), 10);
    cr_assert_eq(sv_hist_max(tt->v.trend), 9000);
    sv_snapshot_free(s1);
    sv_snapshot_free(s2);
    sv_registry_free(w);
    sv_registry_free(mid);
    sv_registry_free(top);
}

/* ---- aggregation --------------------------------------------------------------- */

Test(aggregate, with_and_without_key_filter, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    static const char *statuses[] = {"200", "500", "200", "404"};
    static const char *methods[] = {"GET", "GET", "POST", "GET"};
    sv_hist_t *all = sv_hist_new(), *ok = sv_hist_new();
    double reqs_all = 0, reqs_get = 0;
    for (int i = 0; i < 4; i++) {
        sv_tag_t tags[] = {{"status", statuses[i]}, {"method", methods[i]}};
        const sv_tagset_t *ts = sv_registry_tags(r, tags, 2);
        sv_series_t *d = sv_registry_series(r, SV_M_HTTP_REQ_DURATION, ts);
        sv_series_t *n = sv_registry_series(r, SV_M_HTTP_REQS, ts);
        for (int k = 0; k < 50 * (i + 1); k++) {
            uint64_t v = rng_next() % 500000;
            sv_series_add_trend(r, d, v);
            sv_hist_record(all, v);
            if (strcmp(statuses[i], "200") == 0)
                sv_hist_record(ok, v);
            sv_series_add(r, n, 1);
            reqs_all += 1;
            if (strcmp(methods[i], "GET") == 0)
                reqs_get += 1;
        }
    }
    /* A series of the same metric without tags never matches a key filter. */
    sv_series_add(r, sv_registry_series(r, SV_M_HTTP_REQS, NULL), 1000);
    /* Another metric is never included. */
    sv_series_add_trend(r, sv_registry_series(r, SV_M_HTTP_REQ_WAITING, NULL), 999999);

    sv_series_t out = {0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQ_DURATION, NULL, NULL, &out), 4);
    cr_assert_eq(out.type, SV_TREND);
    cr_assert_eq(out.metric, SV_M_HTTP_REQ_DURATION);
    assert_same_distribution(out.v.trend, all);
    sv_series_release(&out);

    out = (sv_series_t){0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQ_DURATION, "status", "200", &out), 2);
    assert_same_distribution(out.v.trend, ok);
    sv_series_release(&out);

    out = (sv_series_t){0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQS, NULL, NULL, &out), 5);
    cr_assert_eq(out.type, SV_COUNTER);
    cr_assert(out.v.counter == reqs_all + 1000);
    sv_series_release(&out);

    out = (sv_series_t){0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQS, "method", "GET", &out), 3);
    cr_assert(out.v.counter == reqs_get);
    sv_series_release(&out);

    out = (sv_series_t){0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQ_DURATION, "status", "302", &out), 0);
    cr_assert_null(out.v.trend);
    sv_series_release(&out);

    out = (sv_series_t){0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQ_DURATION, "nope", "200", &out), 0);
    sv_series_release(&out);

    sv_hist_free(all);
    sv_hist_free(ok);
    sv_registry_free(r);
}

Test(aggregate, rates_and_gauges, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_tag_t t1[] = {{"worker", "1"}}, t2[] = {{"worker", "2"}};
    sv_series_t *r1 = sv_registry_series(r, SV_M_HTTP_REQ_FAILED, sv_registry_tags(r, t1, 1));
    sv_series_t *r2 = sv_registry_series(r, SV_M_HTTP_REQ_FAILED, sv_registry_tags(r, t2, 1));
    sv_series_add(r, r1, 1);
    sv_series_add(r, r1, 0);
    sv_series_add(r, r2, 1);
    sv_series_add(r, r2, 1);
    sv_series_add(r, r2, 0);
    sv_series_t out = {0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_HTTP_REQ_FAILED, NULL, NULL, &out), 2);
    cr_assert_eq(out.v.rate.total, 5);
    cr_assert_eq(out.v.rate.nonzero, 3);
    sv_series_release(&out);

    sv_series_t *g1 = sv_registry_series(r, SV_M_VUS, sv_registry_tags(r, t1, 1));
    sv_series_t *g2 = sv_registry_series(r, SV_M_VUS, sv_registry_tags(r, t2, 1));
    sv_series_t *g3 = sv_registry_series(r, SV_M_VUS, NULL); /* never set */
    sv_series_add(r, g1, 4);
    sv_series_add(r, g1, 9);
    sv_series_add(r, g2, 2);
    sv_series_add(r, g2, 6);
    (void)g3;
    out = (sv_series_t){0};
    cr_assert_eq(sv_registry_aggregate(r, SV_M_VUS, NULL, NULL, &out), 3);
    cr_assert(out.v.gauge.set);
    cr_assert(out.v.gauge.min == 2);
    cr_assert(out.v.gauge.max == 9);
    sv_series_release(&out);
    sv_registry_free(r);
}

/* ---- samples kept for per-sample outputs ---------------------------------------------- */

Test(samples, kept_in_order_with_values_in_the_unit, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_registry_keep_samples(r, 100, 3, 2);
    sv_series_t *reqs = sv_registry_series(r, SV_M_HTTP_REQS, NULL);
    sv_series_t *dur = sv_registry_series(r, SV_M_HTTP_REQ_DURATION, NULL);
    sv_series_t *failed = sv_registry_series(r, SV_M_HTTP_REQ_FAILED, NULL);
    sv_series_add(r, reqs, 1);
    sv_series_add_trend(r, dur, 12345); /* thousandths: 12.345 ms */
    sv_series_add(r, dur, 2.5);         /* a trend added in its unit is kept once */
    sv_series_add(r, failed, 0);
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_registry_take(r, snap);
    size_t n;
    uint64_t lost;
    const sv_sample_t *s = sv_snapshot_samples(snap, &n, &lost);
    cr_assert_eq(n, 4);
    cr_assert_eq(lost, 0);
    cr_assert(s[0].series == reqs && s[0].value == 1);
    cr_assert(s[1].series == dur && s[1].value == 12.345);
    cr_assert(s[2].series == dur && s[2].value == 2.5);
    cr_assert(s[3].series == failed && s[3].value == 0);
    for (size_t i = 0; i < n; i++) { /* unique: this registry's residue, strictly up */
        cr_assert_eq(s[i].at_ns % 3, 2);
        cr_assert(i == 0 || s[i].at_ns > s[i - 1].at_ns);
    }
    /* merging consumes them; the next take starts empty */
    sv_registry_t *totals = sv_registry_new(catalog);
    sv_registry_merge(totals, snap);
    sv_snapshot_samples(snap, &n, &lost);
    cr_assert_eq(n, 0);
    sv_registry_take(r, snap);
    sv_snapshot_samples(snap, &n, &lost);
    cr_assert_eq(n, 0);
    /* the totals themselves keep none */
    sv_series_add(totals, sv_registry_series(totals, SV_M_HTTP_REQS, NULL), 1);
    sv_snapshot_t *snap2 = sv_snapshot_new();
    sv_registry_take(totals, snap2);
    sv_snapshot_samples(snap2, &n, &lost);
    cr_assert_eq(n, 0);
    sv_snapshot_free(snap);
    sv_snapshot_free(snap2);
    sv_registry_free(r);
    sv_registry_free(totals);
}

Test(samples, over_the_cap_are_counted_as_lost, .init = setup, .fini = teardown)
{
    sv_registry_t *r = sv_registry_new(catalog);
    sv_registry_keep_samples(r, 5, 1, 0);
    sv_series_t *reqs = sv_registry_series(r, SV_M_HTTP_REQS, NULL);
    for (int i = 0; i < 12; i++)
        sv_series_add(r, reqs, 1);
    cr_assert_eq(reqs->v.counter, 12); /* the metric itself has them all */
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_registry_take(r, snap);
    size_t n;
    uint64_t lost;
    sv_snapshot_samples(snap, &n, &lost);
    cr_assert_eq(n, 5);
    cr_assert_eq(lost, 7);
    sv_registry_t *totals = sv_registry_new(catalog);
    sv_registry_merge(totals, snap);
    for (int i = 0; i < 3; i++)
        sv_series_add(r, reqs, 1);
    sv_registry_take(r, snap); /* the cap is per take: a new second, a new budget */
    sv_snapshot_samples(snap, &n, &lost);
    cr_assert_eq(n, 3);
    cr_assert_eq(lost, 0);
    sv_snapshot_free(snap);
    sv_registry_free(r);
    sv_registry_free(totals);
}
