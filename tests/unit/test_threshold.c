/*
 * Unit tests for thresholds (src/metrics/threshold.h): k6's expression syntax, sub-metric
 * keys, which aggregation fits which metric type, the comparison at its bound, and the
 * evaluation on a registry filled here with known samples. A few checks of the plan's
 * grouping and validation (sv_plan_add_threshold, sv_plan_check_thresholds) close it.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/metrics.h"
#include "metrics/threshold.h"
#include "plan/plan.h"

/* ---- parsing ------------------------------------------------------------------- */

static sv_threshold_t parse_ok(const char *expr)
{
    sv_threshold_t t;
    const char *why = NULL;
    int rc = sv_threshold_parse(expr, &t, &why);
    cr_assert_eq(rc, 0, "\"%s\" refused: %s", expr, why ? why : "(no reason)");
    cr_assert_not_null(t.source, "\"%s\": no source kept", expr);
    cr_assert_str_eq(t.source, expr, "the source is kept as written");
    cr_assert_not(t.abort_on_fail);
    cr_assert_eq(t.delay_abort_ns, 0);
    return t;
}

static void check_parse(const char *expr, sv_agg_t agg, double pct, sv_op_t op, double bound)
{
    sv_threshold_t t = parse_ok(expr);
    cr_assert_eq(t.agg, agg, "\"%s\": agg %d, want %d", expr, t.agg, agg);
    if (agg == SV_AGG_P)
        cr_assert_eq(t.pct, pct, "\"%s\": p(%g), want p(%g)", expr, t.pct, pct);
    cr_assert_eq(t.op, op, "\"%s\": op %d, want %d", expr, t.op, op);
    cr_assert_eq(t.bound, bound, "\"%s\": bound %.17g, want %.17g", expr, t.bound, bound);
    free(t.source);
}

static void check_bad(const char *expr, const char *why_has)
{
    sv_threshold_t t;
    const char *why = NULL;
    int rc = sv_threshold_parse(expr, &t, &why);
    cr_assert_eq(rc, SV_EPARSE, "\"%s\" accepted (rc %d, agg %d, op %d, bound %g)", expr, rc, t.agg,
                 t.op, t.bound);
    cr_assert_not_null(why, "\"%s\": no reason given", expr);
    cr_assert_neq(*why, '\0', "\"%s\": empty reason", expr);
    cr_assert_not_null(strstr(why, why_has), "\"%s\": reason \"%s\" lacks \"%s\"", expr, why,
                       why_has);
    cr_assert_null(t.source, "\"%s\": source allocated on failure", expr);
}

Test(threshold_parse, every_aggregation)
{
    check_parse("avg<200", SV_AGG_AVG, 0, SV_OP_LT, 200);
    check_parse("min<200", SV_AGG_MIN, 0, SV_OP_LT, 200);
    check_parse("max<200", SV_AGG_MAX, 0, SV_OP_LT, 200);
    check_parse("med<200", SV_AGG_MED, 0, SV_OP_LT, 200);
    check_parse("p(95)<500", SV_AGG_P, 95, SV_OP_LT, 500);
    check_parse("count>100", SV_AGG_COUNT, 0, SV_OP_GT, 100);
    check_parse("rate<0.01", SV_AGG_RATE, 0, SV_OP_LT, 0.01);
    check_parse("value>=5", SV_AGG_VALUE, 0, SV_OP_GE, 5);
}

Test(threshold_parse, percentiles)
{
    check_parse("p(99.9)<1000", SV_AGG_P, 99.9, SV_OP_LT, 1000);
    check_parse("p(90)<=300", SV_AGG_P, 90, SV_OP_LE, 300);
    check_parse("p(50)<1", SV_AGG_P, 50, SV_OP_LT, 1);
    check_parse("p(0)<1", SV_AGG_P, 0, SV_OP_LT, 1);
    check_parse("p(100)<1", SV_AGG_P, 100, SV_OP_LT, 1);
    check_parse("p(99.99)<1", SV_AGG_P, 99.99, SV_OP_LT, 1);
    check_parse("p( 95 )<1", SV_AGG_P, 95, SV_OP_LT, 1);
}

Test(threshold_parse, every_operator)
{
    check_parse("avg<1", SV_AGG_AVG, 0, SV_OP_LT, 1);
    check_parse("avg<=1", SV_AGG_AVG, 0, SV_OP_LE, 1);
    check_parse("avg>1", SV_AGG_AVG, 0, SV_OP_GT, 1);
    check_parse("avg>=1", SV_AGG_AVG, 0, SV_OP_GE, 1);
    check_parse("avg==1", SV_AGG_AVG, 0, SV_OP_EQ, 1);
    check_parse("avg===1", SV_AGG_AVG, 0, SV_OP_EQ, 1);
    check_parse("avg!=1", SV_AGG_AVG, 0, SV_OP_NE, 1);
}

Test(threshold_parse, spaces)
{
    check_parse("p(95) < 500", SV_AGG_P, 95, SV_OP_LT, 500);
    check_parse("  p(95)<500  ", SV_AGG_P, 95, SV_OP_LT, 500);
    check_parse("avg <= 12.5", SV_AGG_AVG, 0, SV_OP_LE, 12.5);
    check_parse("\tcount\t>\t3\t", SV_AGG_COUNT, 0, SV_OP_GT, 3);
    check_parse("rate === 0", SV_AGG_RATE, 0, SV_OP_EQ, 0);
    check_parse("value != 2", SV_AGG_VALUE, 0, SV_OP_NE, 2);
}

Test(threshold_parse, numbers)
{
    check_parse("avg<0.5", SV_AGG_AVG, 0, SV_OP_LT, 0.5);
    check_parse("avg<.5", SV_AGG_AVG, 0, SV_OP_LT, 0.5);
    check_parse("avg<1e3", SV_AGG_AVG, 0, SV_OP_LT, 1000);
    check_parse("value>-5", SV_AGG_VALUE, 0, SV_OP_GT, -5);
    check_parse("count>=0", SV_AGG_COUNT, 0, SV_OP_GE, 0);
}

Test(threshold_parse, bad_inputs)
{
    /* nothing, or no aggregation */
    check_bad("", "aggregation");
    check_bad("   ", "aggregation");
    check_bad("<500", "aggregation");
    check_bad("median<500", "aggregation");
    check_bad("average<500", "aggregation");
    check_bad("AVG<500", "aggregation");
    check_bad("counts>1", "aggregation");
    check_bad("p95<500", "aggregation");
    check_bad("p()<500", "aggregation");
    check_bad("p(abc)<500", "aggregation");
    check_bad("p(95<500", "aggregation");
    check_bad("p(101)<500", "aggregation");
    check_bad("p(100.1)<500", "aggregation");
    check_bad("p(-1)<500", "aggregation");
    check_bad("p(nan)<500", "aggregation");
    /* missing operator */
    check_bad("avg", "operator");
    check_bad("p(95)", "operator");
    check_bad("avg 500", "operator");
    check_bad("avg=500", "operator");
    check_bad("avg=>500", "operator");
    check_bad("avg_x<500", "operator");
    /* missing number */
    check_bad("avg<", "number");
    check_bad("avg< ", "number");
    check_bad("avg<<500", "number");
    check_bad("avg<>500", "number");
    check_bad("avg<abc", "number");
    check_bad("avg<nan", "number");
    check_bad("avg<inf", "number");
    check_bad("avg<1e999", "number");
    /* trailing text */
    check_bad("avg<500ms", "after the number");
    check_bad("avg<500 600", "after the number");
    check_bad("avg<500;", "after the number");
    check_bad("avg<500 && max<900", "after the number");
}

/* ---- sub-metric keys ----------------------------------------------------------- */

static void set_ok(sv_threshold_set_t *set, const char *key)
{
    const char *why = NULL;
    int rc = sv_threshold_set_init(set, key, &why);
    cr_assert_eq(rc, 0, "\"%s\" refused: %s", key, why ? why : "(no reason)");
    cr_assert_str_eq(set->key, key, "the key is kept as written");
    cr_assert_eq(set->n_items, 0);
}

static void check_tag(const sv_threshold_set_t *set, size_t i, const char *key, const char *value)
{
    cr_assert_lt(i, set->n_tags, "%s: tag %zu missing", set->key, i);
    cr_assert_str_eq(set->tags[i].key, key, "%s: tag %zu key \"%s\", want \"%s\"", set->key, i,
                     set->tags[i].key, key);
    cr_assert_str_eq(set->tags[i].value, value, "%s: tag %zu value \"%s\", want \"%s\"", set->key,
                     i, set->tags[i].value, value);
}

static void check_bad_key(const char *key)
{
    sv_threshold_set_t set;
    const char *why = NULL;
    int rc = sv_threshold_set_init(&set, key, &why);
    cr_assert_eq(rc, SV_EPARSE, "\"%s\" accepted (metric \"%s\", %zu tags)", key,
                 set.metric ? set.metric : "(null)", set.n_tags);
    cr_assert_not_null(why, "\"%s\": no reason", key);
    sv_threshold_set_free(&set); /* a failed init is freed like a good one */
}

Test(threshold_key, plain_metric)
{
    sv_threshold_set_t set;
    set_ok(&set, "http_req_duration");
    cr_assert_str_eq(set.metric, "http_req_duration");
    cr_assert_eq(set.n_tags, 0);
    sv_threshold_set_free(&set);
    cr_assert_null(set.key);
    cr_assert_null(set.metric);
}

Test(threshold_key, one_tag)
{
    sv_threshold_set_t set;
    set_ok(&set, "http_req_duration{name:login}");
    cr_assert_str_eq(set.metric, "http_req_duration");
    cr_assert_eq(set.n_tags, 1);
    check_tag(&set, 0, "name", "login");
    sv_threshold_set_free(&set);
}

Test(threshold_key, several_tags)
{
    sv_threshold_set_t set;
    set_ok(&set, "http_reqs{status:200,method:POST,name:checkout}");
    cr_assert_str_eq(set.metric, "http_reqs");
    cr_assert_eq(set.n_tags, 3);
    check_tag(&set, 0, "status", "200");
    check_tag(&set, 1, "method", "POST");
    check_tag(&set, 2, "name", "checkout");
    sv_threshold_set_free(&set);
}

Test(threshold_key, values_with_colons_and_spaces_inside)
{
    /* The first colon separates; a URL keeps its own. */
    sv_threshold_set_t set;
    set_ok(&set, "http_req_duration{url:http://127.0.0.1:8080/hello}");
    cr_assert_eq(set.n_tags, 1);
    check_tag(&set, 0, "url", "http://127.0.0.1:8080/hello");
    sv_threshold_set_free(&set);

    set_ok(&set, "checks{check:status is 200}");
    check_tag(&set, 0, "check", "status is 200");
    sv_threshold_set_free(&set);

    set_ok(&set, "my_counter{kind:}"); /* an empty value is a value */
    check_tag(&set, 0, "kind", "");
    sv_threshold_set_free(&set);
}

Test(threshold_key, spaces_before_tags_are_trimmed)
{
    sv_threshold_set_t set;
    set_ok(&set, "http_req_duration{name:login, method:POST}");
    cr_assert_eq(set.n_tags, 2);
    check_tag(&set, 0, "name", "login");
    check_tag(&set, 1, "method", "POST");
    sv_threshold_set_free(&set);

    set_ok(&set, "http_reqs{ status: 200}");
    check_tag(&set, 0, "status", "200");
    sv_threshold_set_free(&set);
}

/* As k6 (metrics.ParseMetricName): both sides of each tag key and value are trimmed. */
Test(threshold_key, spaces_after_tags_are_trimmed)
{
    sv_threshold_set_t set;
    set_ok(&set, "http_req_duration{ name : login , method : POST }");
    cr_assert_eq(set.n_tags, 2);
    check_tag(&set, 0, "name", "login");
    check_tag(&set, 1, "method", "POST");
    sv_threshold_set_free(&set);
}

Test(threshold_key, malformed)
{
    check_bad_key("");
    check_bad_key("{name:login}");                 /* no metric name */
    check_bad_key("http_req_duration{}");          /* no tags */
    check_bad_key("http_req_duration{name:login"); /* no closing brace */
    check_bad_key("http_req_duration{name:login}x");
    check_bad_key("http_req_duration{name:login}}x");
    check_bad_key("http_req_duration{name}");   /* no colon */
    check_bad_key("http_req_duration{:login}"); /* no tag key */
    check_bad_key("http_req_duration{name:a,,method:GET}");
    check_bad_key("http_req_duration{name:a,method}");
}

/* ---- which aggregation fits which type ----------------------------------------- */

Test(threshold_fits, every_type_and_aggregation)
{
    static const sv_agg_t all[] = {SV_AGG_AVG, SV_AGG_MIN,   SV_AGG_MAX,  SV_AGG_MED,
                                   SV_AGG_P,   SV_AGG_COUNT, SV_AGG_RATE, SV_AGG_VALUE};
    static const char *names[] = {"avg", "min", "max", "med", "p(N)", "count", "rate", "value"};
    static const struct {
        sv_metric_type_t type;
        bool fits[8]; /* in the order of all[] */
    } rules[] = {
        {SV_TREND, {true, true, true, true, true, false, false, false}},
        {SV_COUNTER, {false, false, false, false, false, true, true, false}},
        {SV_RATE, {false, false, false, false, false, false, true, false}},
        {SV_GAUGE, {false, false, false, false, false, false, false, true}},
    };
    for (size_t r = 0; r < SV_ARRAY_SIZE(rules); r++)
        for (size_t a = 0; a < SV_ARRAY_SIZE(all); a++)
            cr_assert_eq(sv_threshold_fits(all[a], rules[r].type), rules[r].fits[a],
                         "%s on a %s metric: got %d, want %d", names[a],
                         sv_metric_type_name(rules[r].type),
                         sv_threshold_fits(all[a], rules[r].type), rules[r].fits[a]);
}

Test(threshold_fits, error_hints_name_the_aggregations)
{
    cr_assert_str_eq(sv_metric_type_aggs(SV_COUNTER), "count or rate");
    cr_assert_str_eq(sv_metric_type_aggs(SV_GAUGE), "value");
    cr_assert_str_eq(sv_metric_type_aggs(SV_RATE), "rate");
    cr_assert_str_eq(sv_metric_type_aggs(SV_TREND), "avg, min, max, med or p(N)");
}

/* ---- comparisons at the bound -------------------------------------------------- */

static bool passes(sv_op_t op, double bound, double v)
{
    sv_threshold_t t = {.agg = SV_AGG_AVG, .op = op, .bound = bound};
    return sv_threshold_passes(&t, v);
}

Test(threshold_passes, each_operator_around_the_bound)
{
    static const struct {
        sv_op_t op;
        const char *text;
        bool below, at, above;
    } rows[] = {
        {SV_OP_LT, "<", true, false, false},  {SV_OP_LE, "<=", true, true, false},
        {SV_OP_GT, ">", false, false, true},  {SV_OP_GE, ">=", false, true, true},
        {SV_OP_EQ, "==", false, true, false}, {SV_OP_NE, "!=", true, false, true},
    };
    static const double bounds[] = {500, 0.01, 0, -3, 1e9};
    for (size_t i = 0; i < SV_ARRAY_SIZE(rows); i++)
        for (size_t b = 0; b < SV_ARRAY_SIZE(bounds); b++) {
            double x = bounds[b];
            /* the nearest doubles on either side, and a visible step */
            double lo = nextafter(x, -INFINITY), hi = nextafter(x, INFINITY);
            cr_assert_eq(passes(rows[i].op, x, lo), rows[i].below, "%.17g %s %.17g", lo,
                         rows[i].text, x);
            cr_assert_eq(passes(rows[i].op, x, x - 1), rows[i].below, "%g %s %g", x - 1,
                         rows[i].text, x);
            cr_assert_eq(passes(rows[i].op, x, x), rows[i].at, "%g %s %g", x, rows[i].text, x);
            cr_assert_eq(passes(rows[i].op, x, hi), rows[i].above, "%.17g %s %.17g", hi,
                         rows[i].text, x);
            cr_assert_eq(passes(rows[i].op, x, x + 1), rows[i].above, "%g %s %g", x + 1,
                         rows[i].text, x);
        }
}

Test(threshold_passes, parsed_expressions)
{
    sv_threshold_t t = parse_ok("rate<0.01");
    cr_assert(sv_threshold_passes(&t, 0));
    cr_assert(sv_threshold_passes(&t, 0.0099));
    cr_assert_not(sv_threshold_passes(&t, 0.01));
    cr_assert_not(sv_threshold_passes(&t, 0.5));
    free(t.source);
    t = parse_ok("p(95) >= 250");
    cr_assert_not(sv_threshold_passes(&t, 249.999));
    cr_assert(sv_threshold_passes(&t, 250));
    cr_assert(sv_threshold_passes(&t, 250.001));
    free(t.source);
}

/* ---- evaluation on a registry -------------------------------------------------- */

static sv_catalog_t *catalog;
static sv_registry_t *reg;
static sv_plan_t plan;

static void eval_setup(void)
{
    catalog = sv_catalog_new();
    reg = sv_registry_new(catalog);
    sv_plan_init(&plan);
}

static void eval_teardown(void)
{
    sv_plan_free(&plan);
    sv_registry_free(reg);
    sv_catalog_free(catalog);
}

static void add(const char *key, const char *expr)
{
    const char *why = NULL;
    int rc = sv_plan_add_threshold(&plan, key, expr, false, 0, &why);
    cr_assert_eq(rc, 0, "%s: %s: %s", key, expr, why ? why : "?");
}

static sv_series_t *series(uint32_t metric, const char *k1, const char *v1, const char *k2,
                           const char *v2)
{
    sv_tag_t tags[2] = {{k1, v1}, {k2, v2}};
    size_t n = k2 ? 2 : k1 ? 1 : 0;
    return sv_registry_series(reg, metric, sv_registry_tags(reg, tags, n));
}

/* Evaluates the plan's thresholds over `seconds`; the caller frees the array. */
static sv_threshold_result_t *evaluate(double seconds, size_t *n)
{
    *n = 12345;
    sv_threshold_result_t *res =
        sv_threshold_evaluate(plan.thresholds, plan.n_thresholds, reg, seconds, n);
    cr_assert_not_null(res);
    size_t want = 0;
    for (size_t i = 0; i < plan.n_thresholds; i++)
        want += plan.thresholds[i].n_items;
    cr_assert_eq(*n, want, "%zu results, want %zu", *n, want);
    return res;
}

static const sv_threshold_result_t *result(const sv_threshold_result_t *res, size_t n,
                                           const char *key, const char *expr)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(res[i].set->key, key) == 0 && strcmp(res[i].t->source, expr) == 0)
            return &res[i];
    cr_assert_fail("no result for %s '%s'", key, expr);
    return NULL;
}

static void check_result(const sv_threshold_result_t *res, size_t n, const char *key,
                         const char *expr, double observed, bool passed)
{
    const sv_threshold_result_t *r = result(res, n, key, expr);
    cr_assert_not(r->no_data, "%s '%s': no_data set", key, expr);
    double tol = fabs(observed) * 1e-9 + 1e-12;
    cr_assert(fabs(r->observed - observed) <= tol, "%s '%s': observed %.17g, want %.17g", key, expr,
              r->observed, observed);
    cr_assert_eq(r->passed, passed, "%s '%s' (observed %g): passed %d, want %d", key, expr,
                 r->observed, r->passed, passed);
}

/* k6's percentile of sorted values: linear interpolation between ranks floor and ceil
 * of p/100*(n-1). */
static double reference_percentile(const double *sorted, size_t n, double p)
{
    double rank = p / 100.0 * (double)(n - 1);
    size_t lo = (size_t)floor(rank), hi = (size_t)ceil(rank);
    return sorted[lo] + (sorted[hi] - sorted[lo]) * (rank - (double)lo);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

Test(threshold_evaluate, trend_exact_values, .init = eval_setup, .fini = eval_teardown)
{
    /* 0.050 .. 2.000 ms in steps of 50 µs, shuffled: below 2048 µs the histogram is exact. */
    double values[40];
    size_t n_values = SV_ARRAY_SIZE(values);
    for (size_t i = 0; i < n_values; i++)
        values[(i * 17) % n_values] = (double)(i + 1) * 0.05;
    sv_series_t *s = series(SV_M_HTTP_REQ_DURATION, "name", "a", NULL, NULL);
    double sum = 0;
    for (size_t i = 0; i < n_values; i++) {
        sv_series_add(reg, s, values[i]);
        sum += values[i];
    }
    qsort(values, n_values, sizeof(values[0]), cmp_double);
    double avg = sum / (double)n_values;
    double med = reference_percentile(values, n_values, 50);
    double p95 = reference_percentile(values, n_values, 95);
    double p999 = reference_percentile(values, n_values, 99.9);
    cr_assert_float_eq(avg, 1.025, 1e-12);
    cr_assert_float_eq(med, 1.025, 1e-12);
    cr_assert_float_eq(p95, 1.9025, 1e-12);

    add("http_req_duration", "avg<1.025"); /* fails at its exact value */
    add("http_req_duration", "avg<=1.025");
    add("http_req_duration", "min==0.05");
    add("http_req_duration", "max>=2");
    add("http_req_duration", "med<1");
    add("http_req_duration", "p(95)<1.91");
    add("http_req_duration", "p(95)<1.9");
    add("http_req_duration", "p(99.9)<=2");
    add("http_req_duration", "p(0)==0.05");
    add("http_req_duration", "p(100)==2");
    size_t n;
    sv_threshold_result_t *res = evaluate(1, &n);
    check_result(res, n, "http_req_duration", "avg<1.025", avg, false);
    check_result(res, n, "http_req_duration", "avg<=1.025", avg, true);
    check_result(res, n, "http_req_duration", "min==0.05", 0.05, true);
    check_result(res, n, "http_req_duration", "max>=2", 2, true);
    check_result(res, n, "http_req_duration", "med<1", med, false);
    check_result(res, n, "http_req_duration", "p(95)<1.91", p95, true);
    check_result(res, n, "http_req_duration", "p(95)<1.9", p95, false);
    check_result(res, n, "http_req_duration", "p(99.9)<=2", p999, true);
    check_result(res, n, "http_req_duration", "p(0)==0.05", 0.05, true);
    check_result(res, n, "http_req_duration", "p(100)==2", 2, true);
    free(res);
}

Test(threshold_evaluate, trend_large_values_within_histogram_precision, .init = eval_setup,
     .fini = eval_teardown)
{
    /* 1..1000 ms: above 2048 µs the histogram is within 0.05%; the average stays exact. */
    double values[1000];
    sv_series_t *s = series(SV_M_HTTP_REQ_DURATION, NULL, NULL, NULL, NULL);
    for (size_t i = 0; i < SV_ARRAY_SIZE(values); i++) {
        values[i] = (double)(SV_ARRAY_SIZE(values) - i);
        sv_series_add(reg, s, values[i]);
    }
    qsort(values, SV_ARRAY_SIZE(values), sizeof(values[0]), cmp_double);
    add("http_req_duration", "avg<500");
    add("http_req_duration", "med<500");
    add("http_req_duration", "p(95)<1000");
    add("http_req_duration", "p(99)>985");
    size_t n;
    sv_threshold_result_t *res = evaluate(10, &n);
    const sv_threshold_result_t *r = result(res, n, "http_req_duration", "avg<500");
    cr_assert_float_eq(r->observed, 500.5, 1e-9);
    cr_assert_not(r->passed);
    static const struct {
        const char *expr;
        double p;
        bool passed;
    } rows[] = {{"med<500", 50, false}, {"p(95)<1000", 95, true}, {"p(99)>985", 99, true}};
    for (size_t i = 0; i < SV_ARRAY_SIZE(rows); i++) {
        r = result(res, n, "http_req_duration", rows[i].expr);
        double want = reference_percentile(values, SV_ARRAY_SIZE(values), rows[i].p);
        cr_assert(fabs(r->observed - want) <= want * 0.0005, "%s: %g, want %g within 0.05%%",
                  rows[i].expr, r->observed, want);
        cr_assert_eq(r->passed, rows[i].passed, "%s: observed %g", rows[i].expr, r->observed);
    }
    free(res);
}

Test(threshold_evaluate, counter_count_and_rate, .init = eval_setup, .fini = eval_teardown)
{
    sv_series_t *ok = series(SV_M_HTTP_REQS, "status", "200", NULL, NULL);
    sv_series_t *bad = series(SV_M_HTTP_REQS, "status", "500", NULL, NULL);
    for (int i = 0; i < 30; i++)
        sv_series_add(reg, ok, 1);
    for (int i = 0; i < 10; i++)
        sv_series_add(reg, bad, 1);
    add("http_reqs", "count==40");
    add("http_reqs", "count>40");
    add("http_reqs", "rate==16"); /* 40 over 2.5 s */
    add("http_reqs", "rate>=16.5");
    size_t n;
    sv_threshold_result_t *res = evaluate(2.5, &n);
    check_result(res, n, "http_reqs", "count==40", 40, true);
    check_result(res, n, "http_reqs", "count>40", 40, false);
    check_result(res, n, "http_reqs", "rate==16", 16, true);
    check_result(res, n, "http_reqs", "rate>=16.5", 16, false);
    free(res);

    /* The same thresholds over another duration: only the rate moves. */
    res = evaluate(40, &n);
    check_result(res, n, "http_reqs", "count==40", 40, true);
    check_result(res, n, "http_reqs", "rate==16", 1, false);
    free(res);

    /* No time has passed: a rate of 0, not a division by zero. */
    res = evaluate(0, &n);
    check_result(res, n, "http_reqs", "rate==16", 0, false);
    free(res);
}

Test(threshold_evaluate, counter_fractional_values, .init = eval_setup, .fini = eval_teardown)
{
    int id = sv_catalog_add(catalog, "spent", SV_COUNTER, SV_CONTAINS_DEFAULT);
    cr_assert_geq(id, 0);
    sv_series_t *s = series((uint32_t)id, NULL, NULL, NULL, NULL);
    sv_series_add(reg, s, 2);
    sv_series_add(reg, s, 0.5);
    sv_series_add(reg, s, 0.25);
    add("spent", "count==2.75");
    add("spent", "rate<1");
    size_t n;
    sv_threshold_result_t *res = evaluate(2, &n);
    check_result(res, n, "spent", "count==2.75", 2.75, true);
    check_result(res, n, "spent", "rate<1", 1.375, false);
    free(res);
}

Test(threshold_evaluate, rate_metric, .init = eval_setup, .fini = eval_teardown)
{
    /* http_req_failed: 3 failed (non-zero) of 8 */
    sv_series_t *s = series(SV_M_HTTP_REQ_FAILED, "status", "200", NULL, NULL);
    sv_series_t *f = series(SV_M_HTTP_REQ_FAILED, "status", "500", NULL, NULL);
    for (int i = 0; i < 5; i++)
        sv_series_add(reg, s, 0);
    for (int i = 0; i < 3; i++)
        sv_series_add(reg, f, 1);
    add("http_req_failed", "rate<0.01");
    add("http_req_failed", "rate==0.375");
    add("http_req_failed{status:500}", "rate==1");
    add("http_req_failed{status:200}", "rate<0.01");
    size_t n;
    /* the duration plays no part in a rate metric's rate */
    sv_threshold_result_t *res = evaluate(1000, &n);
    check_result(res, n, "http_req_failed", "rate<0.01", 0.375, false);
    check_result(res, n, "http_req_failed", "rate==0.375", 0.375, true);
    check_result(res, n, "http_req_failed{status:500}", "rate==1", 1, true);
    check_result(res, n, "http_req_failed{status:200}", "rate<0.01", 0, true);
    free(res);
}

Test(threshold_evaluate, gauge_value, .init = eval_setup, .fini = eval_teardown)
{
    sv_series_t *s = series(SV_M_VUS, NULL, NULL, NULL, NULL);
    sv_series_add(reg, s, 10);
    sv_series_add(reg, s, 50);
    sv_series_add(reg, s, 7); /* the last value is the gauge's value */
    add("vus", "value==7");
    add("vus", "value>=10");
    size_t n;
    sv_threshold_result_t *res = evaluate(3, &n);
    check_result(res, n, "vus", "value==7", 7, true);
    check_result(res, n, "vus", "value>=10", 7, false);
    free(res);
}

/* As k6 (one gauge sink per metric): the value is the last sample, whatever its tags. */
Test(threshold_evaluate, gauge_value_is_the_last_sample_across_tags, .init = eval_setup,
     .fini = eval_teardown)
{
    int id = sv_catalog_add(catalog, "depth", SV_GAUGE, SV_CONTAINS_DEFAULT);
    cr_assert_geq(id, 0);
    sv_series_t *a = series((uint32_t)id, "k", "a", NULL, NULL);
    sv_series_t *b = series((uint32_t)id, "k", "b", NULL, NULL);
    sv_series_add(reg, a, 5);
    sv_series_add(reg, b, 1);
    sv_series_add(reg, a, 7);
    add("depth", "value==7");
    size_t n;
    sv_threshold_result_t *res = evaluate(1, &n);
    check_result(res, n, "depth", "value==7", 7, true);
    free(res);
}

Test(threshold_evaluate, gauge_sub_metric_value, .init = eval_setup, .fini = eval_teardown)
{
    int id = sv_catalog_add(catalog, "depth", SV_GAUGE, SV_CONTAINS_DEFAULT);
    cr_assert_geq(id, 0);
    sv_series_t *a = series((uint32_t)id, "k", "a", NULL, NULL);
    sv_series_t *b = series((uint32_t)id, "k", "b", NULL, NULL);
    sv_series_add(reg, a, 5);
    sv_series_add(reg, b, 1);
    sv_series_add(reg, a, 7);
    add("depth{k:a}", "value==7");
    add("depth{k:b}", "value<1");
    size_t n;
    sv_threshold_result_t *res = evaluate(1, &n);
    check_result(res, n, "depth{k:a}", "value==7", 7, true);
    check_result(res, n, "depth{k:b}", "value<1", 1, false);
    free(res);
}

Test(threshold_evaluate, sub_metric_counts_only_matching_series, .init = eval_setup,
     .fini = eval_teardown)
{
    /* http_req_duration: login/POST 1 ms x4, login/GET 2 ms x2, home/GET 0.5 ms x6 */
    sv_series_t *login_post = series(SV_M_HTTP_REQ_DURATION, "name", "login", "method", "POST");
    sv_series_t *login_get = series(SV_M_HTTP_REQ_DURATION, "name", "login", "method", "GET");
    sv_series_t *home = series(SV_M_HTTP_REQ_DURATION, "name", "home", "method", "GET");
    for (int i = 0; i < 4; i++)
        sv_series_add(reg, login_post, 1);
    for (int i = 0; i < 2; i++)
        sv_series_add(reg, login_get, 2);
    for (int i = 0; i < 6; i++)
        sv_series_add(reg, home, 0.5);
    /* and http_reqs with the same split */
    sv_series_t *reqs_login = series(SV_M_HTTP_REQS, "name", "login", "status", "200");
    sv_series_t *reqs_home = series(SV_M_HTTP_REQS, "name", "home", "status", "200");
    sv_series_t *reqs_err = series(SV_M_HTTP_REQS, "name", "home", "status", "503");
    sv_series_add(reg, reqs_login, 6);
    sv_series_add(reg, reqs_home, 5);
    sv_series_add(reg, reqs_err, 1);

    add("http_req_duration", "max==2");
    add("http_req_duration", "avg<1");
    add("http_req_duration{name:login}", "avg<1.4");
    add("http_req_duration{name:login}", "min==1");
    add("http_req_duration{method:GET}", "max==2");
    add("http_req_duration{method:GET}", "min==0.5");
    add("http_req_duration{name:login,method:POST}", "max==1");
    add("http_req_duration{method:POST, name:login}", "avg==1");
    add("http_req_duration{name:home}", "p(95)<0.6");
    add("http_reqs{status:200}", "count==11");
    add("http_reqs{name:home}", "count==6");
    add("http_reqs{name:home,status:503}", "count==1");
    add("http_reqs{name:home,status:503}", "rate==0.5");
    size_t n;
    sv_threshold_result_t *res = evaluate(2, &n);
    double all_avg = (4 * 1.0 + 2 * 2.0 + 6 * 0.5) / 12;
    check_result(res, n, "http_req_duration", "max==2", 2, true);
    check_result(res, n, "http_req_duration", "avg<1", all_avg, true);
    check_result(res, n, "http_req_duration{name:login}", "avg<1.4", (4 * 1.0 + 2 * 2.0) / 6, true);
    check_result(res, n, "http_req_duration{name:login}", "min==1", 1, true);
    check_result(res, n, "http_req_duration{method:GET}", "max==2", 2, true);
    check_result(res, n, "http_req_duration{method:GET}", "min==0.5", 0.5, true);
    check_result(res, n, "http_req_duration{name:login,method:POST}", "max==1", 1, true);
    check_result(res, n, "http_req_duration{method:POST, name:login}", "avg==1", 1, true);
    check_result(res, n, "http_req_duration{name:home}", "p(95)<0.6", 0.5, true);
    check_result(res, n, "http_reqs{status:200}", "count==11", 11, true);
    check_result(res, n, "http_reqs{name:home}", "count==6", 6, true);
    check_result(res, n, "http_reqs{name:home,status:503}", "count==1", 1, true);
    check_result(res, n, "http_reqs{name:home,status:503}", "rate==0.5", 0.5, true);
    free(res);
}

Test(threshold_evaluate, no_samples_pass_with_no_data, .init = eval_setup, .fini = eval_teardown)
{
    int id = sv_catalog_add(catalog, "checkout_time", SV_TREND, SV_CONTAINS_TIME);
    cr_assert_geq(id, 0);
    sv_series_add(reg, series(SV_M_HTTP_REQS, "status", "200", NULL, NULL), 3);
    /* each of these would fail on a value of 0 */
    add("checkout_time", "p(95)>100");  /* declared, never recorded */
    add("http_req_failed", "rate>0.5"); /* built-in, never recorded */
    add("vus", "value>1");
    add("iterations", "count>=1");
    add("http_reqs{status:404}", "count>0"); /* recorded, but no series matches */
    add("no_such_metric", "count>0");        /* unknown: no samples either */
    add("http_reqs", "count==3");            /* and one with data, for contrast */
    size_t n;
    sv_threshold_result_t *res = evaluate(1, &n);
    cr_assert_eq(n, 7);
    static const struct {
        const char *key, *expr;
    } empty[] = {{"checkout_time", "p(95)>100"},
                 {"http_req_failed", "rate>0.5"},
                 {"vus", "value>1"},
                 {"iterations", "count>=1"},
                 {"http_reqs{status:404}", "count>0"},
                 {"no_such_metric", "count>0"}};
    for (size_t i = 0; i < SV_ARRAY_SIZE(empty); i++) {
        const sv_threshold_result_t *r = result(res, n, empty[i].key, empty[i].expr);
        cr_assert(r->no_data, "%s '%s': no_data not set", empty[i].key, empty[i].expr);
        cr_assert(r->passed, "%s '%s': failed without samples", empty[i].key, empty[i].expr);
        cr_assert_eq(r->observed, 0);
    }
    check_result(res, n, "http_reqs", "count==3", 3, true);
    free(res);
}

Test(threshold_evaluate, results_follow_the_sets_in_order, .init = eval_setup,
     .fini = eval_teardown)
{
    sv_series_add(reg, series(SV_M_ITERATIONS, NULL, NULL, NULL, NULL), 4);
    add("iterations", "count>1");
    add("http_req_duration", "p(95)<500");
    add("iterations", "count<2"); /* joins the first set */
    cr_assert_eq(plan.n_thresholds, 2);
    size_t n;
    sv_threshold_result_t *res = evaluate(1, &n);
    cr_assert_eq(n, 3);
    cr_assert_eq(res[0].set, &plan.thresholds[0]);
    cr_assert_eq(res[0].t, &plan.thresholds[0].items[0]);
    cr_assert_eq(res[1].set, &plan.thresholds[0]);
    cr_assert_eq(res[1].t, &plan.thresholds[0].items[1]);
    cr_assert_eq(res[2].set, &plan.thresholds[1]);
    cr_assert_eq(res[2].t, &plan.thresholds[1].items[0]);
    cr_assert(res[0].passed);
    cr_assert_not(res[1].passed);
    cr_assert(res[2].passed && res[2].no_data);
    free(res);
}

Test(threshold_evaluate, nothing_to_evaluate, .init = eval_setup, .fini = eval_teardown)
{
    size_t n = 99;
    sv_threshold_result_t *res = sv_threshold_evaluate(NULL, 0, reg, 1, &n);
    cr_assert_not_null(res); /* always an array to free */
    cr_assert_eq(n, 0);
    free(res);
}

Test(threshold_observe, aggregations_on_one_series, .init = eval_setup, .fini = eval_teardown)
{
    int id = sv_catalog_add(catalog, "sizes", SV_TREND, SV_CONTAINS_DEFAULT);
    sv_series_t *s = series((uint32_t)id, NULL, NULL, NULL, NULL);
    sv_series_add(reg, s, 1);
    sv_series_add(reg, s, 1.5);
    sv_series_add(reg, s, 0.5);
    static const struct {
        const char *expr;
        double want;
    } rows[] = {{"avg<0", 1}, {"min<0", 0.5}, {"max<0", 1.5}, {"med<0", 1}, {"p(75)<0", 1.25}};
    for (size_t i = 0; i < SV_ARRAY_SIZE(rows); i++) {
        sv_threshold_t t = parse_ok(rows[i].expr);
        double v = sv_threshold_observe(&t, s, 1);
        cr_assert_float_eq(v, rows[i].want, 1e-12, "%s: %g, want %g", rows[i].expr, v,
                           rows[i].want);
        free(t.source);
    }
}

/* ---- the plan: grouping and validation ----------------------------------------- */

Test(threshold_plan, add_groups_by_key_and_keeps_abort_options)
{
    sv_plan_t p;
    sv_plan_init(&p);
    const char *why = NULL;
    cr_assert_eq(
        sv_plan_add_threshold(&p, "http_req_failed", "rate<0.01", true, 10000000000ULL, &why), 0);
    cr_assert_eq(sv_plan_add_threshold(&p, "http_req_failed", "rate<0.5", false, 0, &why), 0);
    cr_assert_eq(
        sv_plan_add_threshold(&p, "http_req_failed{status:500}", "rate<0.5", false, 0, &why), 0);
    cr_assert_eq(p.n_thresholds, 2);
    cr_assert_str_eq(p.thresholds[0].key, "http_req_failed");
    cr_assert_eq(p.thresholds[0].n_items, 2);
    cr_assert(p.thresholds[0].items[0].abort_on_fail);
    cr_assert_eq(p.thresholds[0].items[0].delay_abort_ns, 10000000000ULL);
    cr_assert_not(p.thresholds[0].items[1].abort_on_fail);
    cr_assert_str_eq(p.thresholds[1].metric, "http_req_failed");
    cr_assert_eq(p.thresholds[1].n_tags, 1);

    /* a bad expression or key adds nothing */
    why = NULL;
    cr_assert_eq(sv_plan_add_threshold(&p, "http_req_failed", "rate<", false, 0, &why), SV_EPARSE);
    cr_assert_not_null(why);
    why = NULL;
    cr_assert_eq(sv_plan_add_threshold(&p, "http_reqs{status}", "count>1", false, 0, &why),
                 SV_EPARSE);
    cr_assert_not_null(why);
    cr_assert_eq(p.n_thresholds, 2);
    cr_assert_eq(p.thresholds[0].n_items, 2);
    sv_plan_free(&p);
}

static int check_plan(const char *key, const char *expr, char *err, size_t size)
{
    sv_catalog_t *cat = sv_catalog_new();
    cr_assert_geq(sv_catalog_add(cat, "my_trend", SV_TREND, SV_CONTAINS_DEFAULT), 0);
    sv_plan_t p;
    sv_plan_init(&p);
    const char *why = NULL;
    cr_assert_eq(sv_plan_add_threshold(&p, key, expr, false, 0, &why), 0, "%s", why);
    err[0] = '\0';
    int rc = sv_plan_check_thresholds(&p, cat, err, size);
    sv_plan_free(&p);
    sv_catalog_free(cat);
    return rc;
}

Test(threshold_plan, check_names_unknown_metrics_and_misfits)
{
    char err[256];
    cr_assert_eq(check_plan("http_req_duration", "p(95)<500", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(check_plan("http_reqs{status:200}", "count>1", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(check_plan("my_trend{kind:a}", "avg<1", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(check_plan("checks", "rate>0.9", err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(check_plan("vus", "value<10", err, sizeof(err)), 0, "%s", err);

    cr_assert_eq(check_plan("nope", "count>1", err, sizeof(err)), SV_EINVAL);
    cr_assert_not_null(strstr(err, "unknown metric \"nope\""), "%s", err);
    cr_assert_null(strchr(err, '\n'), "one line: %s", err);

    cr_assert_eq(check_plan("http_reqs", "p(95)<1", err, sizeof(err)), SV_EINVAL);
    cr_assert_not_null(strstr(err, "count or rate"), "%s", err);
    cr_assert_eq(check_plan("checks", "count>1", err, sizeof(err)), SV_EINVAL);
    cr_assert_eq(check_plan("vus", "avg<1", err, sizeof(err)), SV_EINVAL);
    cr_assert_eq(check_plan("my_trend", "rate<1", err, sizeof(err)), SV_EINVAL);
    cr_assert_eq(check_plan("http_req_duration{name:x}", "count>1", err, sizeof(err)), SV_EINVAL);
    cr_assert_not_null(strstr(err, "http_req_duration{name:x}"), "%s", err);
}
