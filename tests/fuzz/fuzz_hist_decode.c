/*
 * libFuzzer driver for the histogram text form that workers hand to the collector
 * and exports carry: decoding arbitrary text must fail cleanly or round-trip.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "metrics/hist.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

/* Room for the longest encoding: every bucket used, every field 20 digits. */
#define ENCODED_MAX (32u << 20)

static const double percentiles[] = {0, 1, 25, 50, 75, 90, 99, 99.9, 99.99, 100};

static void encode(const sv_hist_t *h, sv_buf_t *out)
{
    sv_buf_init(out, ENCODED_MAX);
    CHECK(sv_hist_encode(h, out) == 0);
}

static bool near_or_below(double a, double b)
{
    return a <= b || a - b <= fabs(b) * 1e-12;
}

static void check_same(const sv_hist_t *a, const sv_hist_t *b)
{
    CHECK(sv_hist_count(a) == sv_hist_count(b));
    CHECK(sv_hist_min(a) == sv_hist_min(b) && sv_hist_max(a) == sv_hist_max(b));
    CHECK(sv_hist_mean(a) == sv_hist_mean(b));
    for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++)
        CHECK(sv_hist_percentile(a, percentiles[i]) == sv_hist_percentile(b, percentiles[i]));
}

/* Percentiles stay within [min, max] and never fall as p grows. */
static void check_percentiles(const sv_hist_t *h)
{
    double prev = (double)sv_hist_min(h);
    for (size_t i = 0; i < sizeof(percentiles) / sizeof(percentiles[0]); i++) {
        double v = sv_hist_percentile(h, percentiles[i]);
        CHECK(!isnan(v) && near_or_below(prev, v));
        CHECK(near_or_below(v, (double)sv_hist_max(h)));
        prev = v;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    sv_hist_t *h = sv_hist_new();
    int rc = sv_hist_decode_merge(h, text, size);
    CHECK(rc == 0 || rc == SV_EPARSE);

    /* Merging into a histogram that already holds values: all or nothing. */
    sv_hist_t *acc = sv_hist_new();
    sv_hist_record(acc, 7);
    sv_hist_record_n(acc, 123456, 3);
    sv_buf_t before, after;
    encode(acc, &before);
    CHECK(sv_hist_decode_merge(acc, text, size) == rc);
    encode(acc, &after);

    if (rc != 0) {
        CHECK(sv_hist_count(h) == 0 && sv_hist_min(h) == 0 && sv_hist_max(h) == 0);
        CHECK(before.len == after.len && memcmp(before.data, after.data, before.len) == 0);
        goto out;
    }
    CHECK(sv_hist_count(acc) == sv_hist_count(h) + 4);
    check_percentiles(h);

    sv_buf_t once, twice;
    encode(h, &once);
    sv_hist_t *back = sv_hist_new();
    CHECK(sv_hist_decode_merge(back, once.data, once.len) == 0);
    check_same(h, back);
    /* The encoding is canonical: the round trip reproduces it byte for byte. */
    encode(back, &twice);
    CHECK(once.len == twice.len && memcmp(once.data, twice.data, once.len) == 0);
    sv_buf_free(&once);
    sv_buf_free(&twice);
    sv_hist_free(back);
out:
    sv_buf_free(&before);
    sv_buf_free(&after);
    sv_hist_free(acc);
    sv_hist_free(h);
    return 0;
}
