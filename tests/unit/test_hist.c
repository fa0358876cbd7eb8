/*
 * Unit tests for the HDR histogram (src/metrics/hist.h): every percentile is checked
 * against the exact k6 percentile of the same data, computed here from a sorted array.
 */
#include <criterion/criterion.h>

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "metrics/hist.h"

/* Values below this are stored exactly (2048 sub-buckets, unit magnitude 0). */
#define EXACT_BELOW 2048
/* Half a bucket at 3 significant digits. */
#define REL_TOLERANCE 0.0005

/* ---- helpers ------------------------------------------------------------------- */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
    /* splitmix64: deterministic data sets without libc's rand(). */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_below(uint64_t n)
{
    return rng_next() % n;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t *sorted_copy(const uint64_t *v, size_t n)
{
    uint64_t *s = malloc(n * sizeof(*s));
    cr_assert_not_null(s);
    memcpy(s, v, n * sizeof(*s));
    qsort(s, n, sizeof(*s), cmp_u64);
    return s;
}

/* k6's percentile: linear interpolation between the values at ranks floor and ceil
 * of p/100*(n-1) of the sorted data. */
static double exact_percentile(const uint64_t *sorted, size_t n, double p)
{
    double rank = p / 100.0 * (double)(n - 1);
    double lo = floor(rank);
    double v0 = (double)sorted[(size_t)lo], v1 = (double)sorted[(size_t)ceil(rank)];
    return v0 + (v1 - v0) * (rank - lo);
}

static double exact_mean(const uint64_t *v, size_t n)
{
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    return (double)sum / (double)n;
}

static const double fixed_ps[] = {0,    0.001, 0.01,  0.1,    1,       5,        10, 25,
                                  33.3, 50,    66.6,  75,     90,      95,       99, 99.5,
                                  99.9, 99.95, 99.99, 99.999, 99.9999, 99.99999, 100};

/* Checks every percentile on a 0.25 grid plus the usual tail ones. */
static void check_percentiles(const sv_hist_t *h, const uint64_t *sorted, size_t n)
{
    size_t n_ps = SV_ARRAY_SIZE(fixed_ps) + 401;
    for (size_t k = 0; k < n_ps; k++) {
        double p = k < SV_ARRAY_SIZE(fixed_ps) ? fixed_ps[k]
                                               : (double)(k - SV_ARRAY_SIZE(fixed_ps)) * 0.25;
        double want = exact_percentile(sorted, n, p);
        double got = sv_hist_percentile(h, p);
        double rank = p / 100.0 * (double)(n - 1);
        uint64_t hi = sorted[(size_t)ceil(rank)];
        if (hi < EXACT_BELOW)
            cr_assert(got == want, "p%g: got %.17g, exact %.17g", p, got, want);
        else
            cr_assert(fabs(got - want) <= REL_TOLERANCE * want,
                      "p%g: got %.17g, exact %.17g (off by %.6f%%)", p, got, want,
                      100.0 * fabs(got - want) / want);
    }
}

/* Records v into a new histogram and checks everything against the exact values. */
static sv_hist_t *check_data_set(const uint64_t *v, size_t n)
{
    sv_hist_t *h = sv_hist_new();
    for (size_t i = 0; i < n; i++)
        sv_hist_record(h, v[i]);
    uint64_t *s = sorted_copy(v, n);
    cr_assert_eq(sv_hist_count(h), n);
    cr_assert_eq(sv_hist_min(h), s[0]);
    cr_assert_eq(sv_hist_max(h), s[n - 1]);
    cr_assert(sv_hist_mean(h) == exact_mean(v, n), "mean %.17g, exact %.17g", sv_hist_mean(h),
              exact_mean(v, n));
    check_percentiles(h, s, n);
    free(s);
    return h;
}

static char *encode(const sv_hist_t *h)
{
    sv_buf_t b;
    sv_buf_init(&b, 1 << 24);
    cr_assert_eq(sv_hist_encode(h, &b), 0);
    cr_assert_eq(sv_buf_append(&b, "", 1), 0);
    return b.data;
}

/* Same counts in the same bins and the same exact statistics. */
static void assert_hist_equal(const sv_hist_t *a, const sv_hist_t *b)
{
    cr_assert_eq(sv_hist_count(a), sv_hist_count(b));
    cr_assert_eq(sv_hist_min(a), sv_hist_min(b));
    cr_assert_eq(sv_hist_max(a), sv_hist_max(b));
    cr_assert(sv_hist_mean(a) == sv_hist_mean(b));
    for (int i = 0; i <= 10000; i++) {
        double p = i / 100.0;
        cr_assert(sv_hist_percentile(a, p) == sv_hist_percentile(b, p), "p%g: %.17g vs %.17g", p,
                  sv_hist_percentile(a, p), sv_hist_percentile(b, p));
    }
    uint32_t ca = 0, cb = 0;
    uint64_t la, wa, na, lb, wb, nb;
    for (;;) {
        bool more_a = sv_hist_next_bin(a, &ca, &la, &wa, &na);
        bool more_b = sv_hist_next_bin(b, &cb, &lb, &wb, &nb);
        cr_assert_eq(more_a, more_b);
        if (!more_a)
            break;
        cr_assert_eq(la, lb);
        cr_assert_eq(wa, wb);
        cr_assert_eq(na, nb);
    }
}

/* ---- basic statistics ---------------------------------------------------------- */

Test(hist, empty_histogram_reports_zeros)
{
    sv_hist_t *h = sv_hist_new();
    cr_assert_eq(sv_hist_count(h), 0);
    cr_assert_eq(sv_hist_min(h), 0);
    cr_assert_eq(sv_hist_max(h), 0);
    cr_assert(sv_hist_mean(h) == 0);
    cr_assert(sv_hist_percentile(h, 0) == 0);
    cr_assert(sv_hist_percentile(h, 50) == 0);
    cr_assert(sv_hist_percentile(h, 100) == 0);
    uint32_t cursor = 0;
    uint64_t lowest, width, count;
    cr_assert_not(sv_hist_next_bin(h, &cursor, &lowest, &width, &count));
    sv_hist_free(h);
}

Test(hist, free_accepts_null)
{
    sv_hist_free(NULL);
}

Test(hist, small_values_are_exact)
{
    uint64_t v[] = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 2047};
    sv_hist_free(check_data_set(v, SV_ARRAY_SIZE(v)));
}

Test(hist, zero_is_a_value)
{
    uint64_t v[] = {0, 0, 0, 10};
    sv_hist_t *h = check_data_set(v, SV_ARRAY_SIZE(v));
    cr_assert_eq(sv_hist_min(h), 0);
    cr_assert(sv_hist_percentile(h, 50) == 0);
    sv_hist_free(h);
}

Test(hist, uniform_small_values_exact)
{
    rng_state = 1;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = rng_below(EXACT_BELOW);
    sv_hist_free(check_data_set(v, n));
    free(v);
}

Test(hist, uniform_large_values)
{
    rng_state = 2;
    size_t n = 200000;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++)
        v[i] = rng_below(10000000);
    sv_hist_free(check_data_set(v, n));
    free(v);
}

Test(hist, log_uniform_values_over_the_whole_range)
{
    rng_state = 3;
    size_t n = 100000;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n; i++) {
        int bits = (int)rng_below(32); /* up to 2^32 > SV_HIST_MAX_VALUE: keep below it */
        v[i] = rng_below(1ULL << bits) % SV_HIST_MAX_VALUE;
    }
    sv_hist_free(check_data_set(v, n));
    free(v);
}

Test(hist, long_tail)
{
    /* 1..1e6 with a few 3e9 outliers, recorded in a shuffled order. */
    size_t n_body = 1000000, n_tail = 5, n = n_body + n_tail;
    uint64_t *v = malloc(n * sizeof(*v));
    for (size_t i = 0; i < n_body; i++)
        v[i] = i + 1;
    for (size_t i = 0; i < n_tail; i++)
        v[n_body + i] = 3000000000ULL;
    rng_state = 4;
    for (size_t i = n - 1; i > 0; i--) {
        size_t j = (size_t)rng_below(i + 1);
        uint64_t t = v[i];
        v[i] = v[j];
        v[j] = t;
    }
    sv_hist_t *h = check_data_set(v, n);
    cr_assert_eq(sv_hist_max(h), 3000000000ULL);
    /* The top ranks are the outliers themselves, not an interpolation. */
    double top = sv_hist_percentile(h, 100.0 * (double)(n - 2) / (double)(n - 1));
    cr_assert(fabs(top - 3e9) <= REL_TOLERANCE * 3e9, "got %.17g", top);
    sv_hist_free(h);
    free(v);
}

Test(hist, single_value)
{
    uint64_t values[] = {0, 7, 2047, 2048, 123456789, SV_HIST_MAX_VALUE};
    for (size_t k = 0; k < SV_ARRAY_SIZE(values); k++) {
        sv_hist_t *h = sv_hist_new();
        sv_hist_record(h, values[k]);
        cr_assert_eq(sv_hist_count(h), 1);
        cr_assert_eq(sv_hist_min(h), values[k]);
        cr_assert_eq(sv_hist_max(h), values[k]);
        cr_assert(sv_hist_mean(h) == (double)values[k]);
        /* With one value every rank is that value. */
        for (int p = 0; p <= 100; p += 5)
            cr_assert(sv_hist_percentile(h, p) == (double)values[k], "value %" PRIu64 " p%d: %.17g",
                      values[k], p, sv_hist_percentile(h, p));
        sv_hist_free(h);
    }
}

Test(hist, two_values_median_is_their_mean)
{
    uint64_t pairs[][2] = {{10, 20}, {3, 4}, {1000, 5000000}, {2047, 2049}, {7, 3000000000ULL}};
    for (size_t k = 0; k < SV_ARRAY_SIZE(pairs); k++) {
        sv_hist_t *h = sv_hist_new();
        sv_hist_record(h, pairs[k][1]);
        sv_hist_record(h, pairs[k][0]);
        double a = (double)pairs[k][0], b = (double)pairs[k][1];
        cr_assert(sv_hist_percentile(h, 50) == (a + b) / 2, "median of %g and %g: %.17g", a, b,
                  sv_hist_percentile(h, 50));
        cr_assert(sv_hist_percentile(h, 0) == a);
        cr_assert(sv_hist_percentile(h, 100) == b);
        cr_assert(sv_hist_percentile(h, 25) == a + (b - a) * 0.25);
        cr_assert(sv_hist_mean(h) == (a + b) / 2);
        sv_hist_free(h);
    }
}

Test(hist, values_above_max_are_clamped_but_max_stays_exact)
{
    sv_hist_t *h = sv_hist_new();
    uint64_t sum = 0;
    for (uint64_t v = 1; v <= 100; v++) {
        sv_hist_record(h, v);
        sum += v;
    }
    sv_hist_record(h, 4000000000ULL);
    sv_hist_record(h, 5000000000ULL);
    sum += 9000000000ULL;
    cr_assert_eq(sv_hist_count(h), 102);
    cr_assert_eq(sv_hist_min(h), 1);
    cr_assert_eq(sv_hist_max(h), 5000000000ULL);
    cr_assert(sv_hist_mean(h) == (double)sum / 102.0);
    cr_assert(sv_hist_percentile(h, 100) == 5e9);
    /* Rank 100 (the 4e9 value) is counted in the top bucket. */
    double second = sv_hist_percentile(h, 100.0 * 100.0 / 101.0);
    double cap = (double)SV_HIST_MAX_VALUE;
    cr_assert(fabs(second - cap) <= REL_TOLERANCE * cap, "got %.17g", second);
    /* Below the clamped values nothing changes. */
    cr_assert(sv_hist_percentile(h, 50) == 51.5);
    /* The bins still account for every value. */
    uint32_t cursor = 0;
    uint64_t lowest, width, count, total = 0, last_lowest = 0;
    while (sv_hist_next_bin(h, &cursor, &lowest, &width, &count)) {
        total += count;
        last_lowest = lowest;
    }
    cr_assert_eq(total, 102);
    cr_assert_leq(last_lowest, SV_HIST_MAX_VALUE);
    sv_hist_free(h);
}

Test(hist, record_n_equals_repeated_record)
{
    sv_hist_t *a = sv_hist_new(), *b = sv_hist_new();
    uint64_t values[] = {5, 2047, 2048, 99999, 12345678};
    uint64_t times[] = {3, 1, 1000, 7, 2};
    for (size_t k = 0; k < SV_ARRAY_SIZE(values); k++) {
        sv_hist_record_n(a, values[k], times[k]);
        for (uint64_t i = 0; i < times[k]; i++)
            sv_hist_record(b, values[k]);
    }
    sv_hist_record_n(a, 42, 0); /* no-op */
    assert_hist_equal(a, b);
    sv_hist_free(a);
    sv_hist_free(b);
}

Test(hist, reset_empties_and_keeps_memory)
{
    sv_hist_t *h = sv_hist_new();
    for (uint64_t v = 0; v < 100000; v += 7)
        sv_hist_record(h, v);
    size_t before = sv_hist_footprint(h);
    sv_hist_reset(h);
    cr_assert_eq(sv_hist_count(h), 0);
    cr_assert_eq(sv_hist_min(h), 0);
    cr_assert_eq(sv_hist_max(h), 0);
    cr_assert(sv_hist_percentile(h, 50) == 0);
    cr_assert_eq(sv_hist_footprint(h), before);
    uint32_t cursor = 0;
    uint64_t lowest, width, count;
    cr_assert_not(sv_hist_next_bin(h, &cursor, &lowest, &width, &count));
    uint64_t v[] = {500, 300, 400};
    for (size_t i = 0; i < 3; i++)
        sv_hist_record(h, v[i]);
    cr_assert_eq(sv_hist_count(h), 3);
    cr_assert_eq(sv_hist_min(h), 300);
    cr_assert_eq(sv_hist_max(h), 500);
    cr_assert(sv_hist_percentile(h, 50) == 400);
    sv_hist_free(h);
}

/* ---- merging ------------------------------------------------------------------- */

Test(hist, merge_equals_recording_into_one)
{
    sv_hist_t *a = sv_hist_new(), *b = sv_hist_new(), *all = sv_hist_new();
    rng_state = 5;
    for (int i = 0; i < 50000; i++) {
        uint64_t v = rng_below(2000000);
        sv_hist_record(a, v);
        sv_hist_record(all, v);
    }
    for (int i = 0; i < 30000; i++) {
        uint64_t v = rng_below(1000) + (i % 100 == 0 ? 3000000000ULL : 0);
        sv_hist_record(b, v);
        sv_hist_record(all, v);
    }
    sv_hist_merge(a, b);
    assert_hist_equal(a, all);
    char *ea = encode(a), *eall = encode(all);
    cr_assert_str_eq(ea, eall);
    free(ea);
    free(eall);
    sv_hist_free(a);
    sv_hist_free(b);
    sv_hist_free(all);
}

Test(hist, merge_many_parts_matches_exact_percentiles)
{
    /* Eight "workers" each record a slice; the merge must equal the exact data set. */
    size_t n = 80000;
    uint64_t *v = malloc(n * sizeof(*v));
    sv_hist_t *parts[8], *total = sv_hist_new();
    for (int p = 0; p < 8; p++)
        parts[p] = sv_hist_new();
    rng_state = 6;
    for (size_t i = 0; i < n; i++) {
        v[i] = 100 + rng_below(50000) * (i % 8 + 1);
        sv_hist_record(parts[i % 8], v[i]);
    }
    for (int p = 0; p < 8; p++) {
        sv_hist_merge(total, parts[p]);
        sv_hist_free(parts[p]);
    }
    uint64_t *s = sorted_copy(v, n);
    cr_assert_eq(sv_hist_count(total), n);
    cr_assert_eq(sv_hist_min(total), s[0]);
    cr_assert_eq(sv_hist_max(total), s[n - 1]);
    cr_assert(sv_hist_mean(total) == exact_mean(v, n));
    check_percentiles(total, s, n);
    free(s);
    free(v);
    sv_hist_free(total);
}

Test(hist, merge_with_empty_histograms)
{
    sv_hist_t *a = sv_hist_new(), *empty = sv_hist_new(), *copy = sv_hist_new();
    uint64_t v[] = {900, 100, 5000};
    for (size_t i = 0; i < 3; i++) {
        sv_hist_record(a, v[i]);
        sv_hist_record(copy, v[i]);
    }
    sv_hist_merge(a, empty);
    assert_hist_equal(a, copy);
    /* Merging into an empty histogram must take min and max from the source, not keep
     * the empty one's zeros. */
    sv_hist_merge(empty, a);
    assert_hist_equal(empty, copy);
    cr_assert_eq(sv_hist_min(empty), 100);
    sv_hist_free(a);
    sv_hist_free(empty);
    sv_hist_free(copy);
}

/* ---- bins and memory ----------------------------------------------------------- */

Test(hist, next_bin_covers_every_count)
{
    rng_state = 7;
    size_t n = 50000;
    uint64_t *v = malloc(n * sizeof(*v));
    sv_hist_t *h = sv_hist_new();
    for (size_t i = 0; i < n; i++) {
        v[i] = rng_below(1ULL << rng_below(33)) % (SV_HIST_MAX_VALUE + 1);
        sv_hist_record(h, v[i]);
    }
    uint64_t *s = sorted_copy(v, n);
    uint32_t cursor = 0;
    uint64_t lowest, width, count, total = 0, prev_end = 0;
    size_t at = 0; /* next sorted value not yet attributed to a bin */
    size_t bins = 0;
    while (sv_hist_next_bin(h, &cursor, &lowest, &width, &count)) {
        bins++;
        cr_assert_gt(count, 0);
        cr_assert_gt(width, 0);
        cr_assert_geq(lowest, prev_end, "bins out of order or overlapping");
        if (lowest < EXACT_BELOW)
            cr_assert_eq(width, 1, "bin at %" PRIu64 " is %" PRIu64 " wide", lowest, width);
        else
            cr_assert_leq(width * 1024, lowest, "bin at %" PRIu64 " too wide (%" PRIu64 ")", lowest,
                          width);
        /* The bin's count is exactly the number of values in [lowest, lowest+width). */
        size_t in_bin = 0;
        while (at < n && s[at] < lowest + width) {
            cr_assert_geq(s[at], lowest, "value %" PRIu64 " fell between bins", s[at]);
            at++;
            in_bin++;
        }
        cr_assert_eq(count, in_bin, "bin [%" PRIu64 ", +%" PRIu64 ")", lowest, width);
        total += count;
        prev_end = lowest + width;
    }
    cr_assert_eq(at, n);
    cr_assert_eq(total, n);
    cr_assert_gt(bins, 100);
    /* Once done, it stays done. */
    cr_assert_not(sv_hist_next_bin(h, &cursor, &lowest, &width, &count));
    free(s);
    free(v);
    sv_hist_free(h);
}

Test(hist, memory_is_allocated_lazily)
{
    sv_hist_t *empty = sv_hist_new(), *narrow = sv_hist_new(), *full = sv_hist_new();
    /* An idle histogram is a small fixed header. */
    cr_assert_lt(sv_hist_footprint(empty), 4096, "empty: %zu bytes", sv_hist_footprint(empty));
    /* Latencies between 50 and 60 ms (in µs) touch a handful of buckets. */
    for (uint64_t v = 50000; v <= 60000; v++)
        sv_hist_record(narrow, v);
    /* Touch every bucket of the whole range. */
    for (uint64_t v = 0; v < 2048; v++)
        sv_hist_record(full, v);
    for (int shift = 1; shift <= 21; shift++)
        for (uint64_t sub = 1024; sub < 2048; sub++)
            sv_hist_record(full, sub << shift);
    size_t f_narrow = sv_hist_footprint(narrow), f_full = sv_hist_footprint(full);
    cr_assert_geq(f_full, 180 * 1024, "full: %zu bytes", f_full);
    cr_assert_lt(f_narrow, 16 * 1024, "narrow: %zu bytes", f_narrow);
    cr_assert_lt(f_narrow * 10, f_full);
    sv_hist_free(empty);
    sv_hist_free(narrow);
    sv_hist_free(full);
}

/* ---- text encoding ------------------------------------------------------------- */

static void check_round_trip(const sv_hist_t *h)
{
    char *text = encode(h);
    sv_hist_t *back = sv_hist_new();
    cr_assert_eq(sv_hist_decode_merge(back, text, strlen(text)), 0, "decode of %.80s", text);
    assert_hist_equal(h, back);
    char *again = encode(back);
    cr_assert_str_eq(again, text);
    free(again);
    free(text);
    sv_hist_free(back);
}

Test(hist, encode_round_trips)
{
    sv_hist_t *h = sv_hist_new();
    check_round_trip(h); /* empty */
    sv_hist_record(h, 0);
    check_round_trip(h); /* bin at index 0 */
    sv_hist_record(h, 42);
    sv_hist_record_n(h, 2048, 5);
    sv_hist_record(h, 3000000000ULL);
    sv_hist_record(h, 9000000000ULL); /* clamped: max must survive exactly */
    check_round_trip(h);
    rng_state = 8;
    for (int i = 0; i < 100000; i++)
        sv_hist_record(h, rng_below(1ULL << rng_below(32)));
    check_round_trip(h);
    sv_hist_free(h);
}

Test(hist, encode_header_carries_exact_statistics)
{
    sv_hist_t *h = sv_hist_new();
    uint64_t v[] = {17, 4000, 123456};
    for (size_t i = 0; i < 3; i++)
        sv_hist_record(h, v[i]);
    char *text = encode(h);
    char want[128];
    snprintf(want, sizeof(want), "H1;3;17;123456;%" PRIu64 ";", (uint64_t)(17 + 4000 + 123456));
    cr_assert_eq(strncmp(text, want, strlen(want)), 0, "got %s", text);
    free(text);
    sv_hist_free(h);
}

Test(hist, decode_hand_written_encoding)
{
    /* Values below 2048 have one bin each: values 5, 6, 6, 9. */
    const char *text = "H1;4;5;9;26;5:1,1:2,3:1";
    sv_hist_t *h = sv_hist_new();
    cr_assert_eq(sv_hist_decode_merge(h, text, strlen(text)), 0);
    cr_assert_eq(sv_hist_count(h), 4);
    cr_assert_eq(sv_hist_min(h), 5);
    cr_assert_eq(sv_hist_max(h), 9);
    cr_assert(sv_hist_mean(h) == 6.5);
    uint64_t sorted[] = {5, 6, 6, 9};
    check_percentiles(h, sorted, 4);
    sv_hist_free(h);
}

Test(hist, decode_merges_into_existing_values)
{
    sv_hist_t *a = sv_hist_new(), *b = sv_hist_new(), *all = sv_hist_new();
    rng_state = 9;
    for (int i = 0; i < 20000; i++) {
        uint64_t x = rng_below(100000), y = rng_below(5000000);
        sv_hist_record(a, x);
        sv_hist_record(b, y);
        sv_hist_record(all, x);
        sv_hist_record(all, y);
    }
    char *text = encode(b);
    cr_assert_eq(sv_hist_decode_merge(a, text, strlen(text)), 0);
    assert_hist_equal(a, all);
    free(text);
    sv_hist_free(a);
    sv_hist_free(b);
    sv_hist_free(all);
}

Test(hist, encode_respects_the_buffer_cap)
{
    sv_hist_t *h = sv_hist_new();
    for (uint64_t v = 0; v < 1000; v++)
        sv_hist_record(h, v);
    sv_buf_t b;
    sv_buf_init(&b, 64);
    cr_assert_eq(sv_hist_encode(h, &b), SV_ETOOBIG);
    cr_assert_leq(b.len, 64);
    sv_buf_free(&b);
    sv_hist_free(h);
}

/* Decoding text must fail with SV_EPARSE and leave h exactly as it was. */
static void assert_rejected(sv_hist_t *h, const char *text, size_t len)
{
    char *before = encode(h);
    int rc = sv_hist_decode_merge(h, text, len);
    cr_assert_eq(rc, SV_EPARSE, "accepted \"%.*s\" (rc %d)", (int)len, text, rc);
    char *after = encode(h);
    cr_assert_str_eq(after, before, "\"%.*s\" changed the histogram", (int)len, text);
    free(before);
    free(after);
}

Test(hist, decode_rejects_malformed_text)
{
    static const char *bad[] = {
        "",
        "H",
        "H1",
        "H1;",
        "H2;1;5;5;5;5:1",                         /* unknown version */
        "h1;1;5;5;5;5:1",                         /* case matters */
        " H1;1;5;5;5;5:1",                        /* leading space */
        "H1;1;5;5;5",                             /* header cut short */
        "H1;1;5;5;5:5:1",                         /* wrong separator */
        "H1;1;5;5;5;",                            /* count 1 but no bins */
        "H1;1;5;5;5;5:2",                         /* bins hold more than the count */
        "H1;3;5;6;16;5:1,1:1",                    /* bins hold fewer than the count */
        "H1;2;5;6;11;5:1,0:1",                    /* zero delta: same bin twice */
        "H1;1;5;5;5;5:0",                         /* empty bin */
        "H1;0;0;0;0;5:0",                         /* empty bin in an empty histogram */
        "H1;1;9;5;5;5:1",                         /* min > max */
        "H1;1;5;5;5;99999999:1",                  /* bin index past the end */
        "H1;1;5;5;5;5:1,",                        /* trailing comma */
        "H1;1;5;5;5;5:1 ",                        /* trailing space */
        "H1;1;5;5;5;5:1;",                        /* trailing separator */
        "H1;1;5;5;5;5",                           /* bin without count */
        "H1;1;5;5;5;5:",                          /* bin with empty count */
        "H1;1;5;5;5;:1",                          /* bin with empty index */
        "H1;-1;5;5;5;5:1",                        /* negative count */
        "H1;1;5;5;5;-5:1",                        /* negative index */
        "H1;1;5;5;5;+5:1",                        /* signed index */
        "H1;1;5;5;5;0x5:1",                       /* hex */
        "H1;1;5;5;5;5:1,1:1",                     /* more bins than the count */
        "H1;1;5;6;11;5:18446744073709551615,1:2", /* bin counts that wrap to the count */
        "H1;99999999999999999999;5;5;5;",         /* overflowing count */
        "H1;1;5;5;5;5:99999999999999999999",
        "H1;1;5;5;99999999999999999999;5:1",
        "H1;0;0;0;0;0:1", /* empty header, one bin */
        "H1;1;5;5;5;5:1\n",
    };
    sv_hist_t *h = sv_hist_new();
    for (int round = 0; round < 2; round++) {
        for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++)
            assert_rejected(h, bad[i], strlen(bad[i]));
        /* Second round: into a histogram that already holds values. */
        sv_hist_record(h, 77);
        sv_hist_record(h, 1234567);
    }
    sv_hist_free(h);
}

Test(hist, decode_rejects_embedded_nul)
{
    const char text[] = "H1;1;5;5;5;5\0:1";
    sv_hist_t *h = sv_hist_new();
    assert_rejected(h, text, sizeof(text) - 1);
    sv_hist_free(h);
}

Test(hist, decode_rejects_every_truncation)
{
    sv_hist_t *src = sv_hist_new(), *h = sv_hist_new();
    rng_state = 10;
    for (int i = 0; i < 2000; i++)
        sv_hist_record(src, rng_below(1ULL << rng_below(30)));
    sv_hist_record(h, 31337);
    char *text = encode(src);
    size_t len = strlen(text);
    for (size_t cut = 0; cut < len; cut++)
        assert_rejected(h, text, cut);
    /* Only the length given counts, not the NUL after it. */
    cr_assert_eq(sv_hist_decode_merge(h, text, len), 0);
    cr_assert_eq(sv_hist_count(h), 2001);
    free(text);
    sv_hist_free(src);
    sv_hist_free(h);
}

Test(hist, decode_rejects_a_delta_that_wraps_around)
{
    /* Bin deltas after the first are positive and small; one that would wrap the
     * 64-bit index arithmetic is rejected, not applied backwards. */
    const char *text = "H1;2;5;6;11;6:1,18446744073709551615:1";
    sv_hist_t *h = sv_hist_new();
    assert_rejected(h, text, strlen(text));
    sv_hist_free(h);
}

Test(hist, decode_rejects_extremes_that_disagree_with_the_bins)
{
    /* Encode a real histogram, then lie about its min, max or sum. */
    sv_hist_t *src = sv_hist_new();
    sv_hist_record(src, 100);
    sv_hist_record(src, 5000);
    sv_buf_t buf;
    sv_buf_init(&buf, SIZE_MAX);
    cr_assert_eq(sv_hist_encode(src, &buf), 0);
    const char *bins = strrchr(buf.data, ';') + 1;
    char lie[256];
    const char *fmts[] = {"H1;2;0;5000;5100;%s", "H1;2;100;9000;5100;%s", "H1;2;100;5000;99;%s",
                          "H1;2;100;5000;20000;%s"};
    for (size_t i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
        snprintf(lie, sizeof(lie), fmts[i], bins);
        sv_hist_t *h = sv_hist_new();
        assert_rejected(h, lie, strlen(lie));
        sv_hist_free(h);
    }
    snprintf(lie, sizeof(lie), "H1;2;100;5000;5100;%s", bins);
    sv_hist_t *ok = sv_hist_new();
    cr_assert_eq(sv_hist_decode_merge(ok, lie, strlen(lie)), 0, "the truthful form decodes");
    sv_hist_free(ok);
    sv_buf_free(&buf);
    sv_hist_free(src);
}
