/*
 * HDR histogram with lazily allocated count chunks. Layout follows the classic
 * HdrHistogram index scheme with unit magnitude 0 and 2048 sub-buckets
 * (3 significant digits); see docs/internals/hist.md.
 */
#include "hist.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#define SUB_BUCKET_COUNT 2048
#define SUB_BUCKET_HALF_MAGNITUDE 10
#define SUB_BUCKET_HALF_COUNT (1 << SUB_BUCKET_HALF_MAGNITUDE)
#define SUB_BUCKET_MASK (SUB_BUCKET_COUNT - 1)
#define BUCKET_COUNT 22 /* 2048 << 21 > SV_HIST_MAX_VALUE */
#define COUNTS_LEN ((BUCKET_COUNT + 1) * SUB_BUCKET_HALF_COUNT)
#define CHUNK_SHIFT 8
#define CHUNK_LEN (1 << CHUNK_SHIFT)
#define CHUNKS (COUNTS_LEN / CHUNK_LEN)

struct sv_hist {
    uint64_t total, min, max, sum;
    uint64_t *chunks[CHUNKS];
};

sv_hist_t *sv_hist_new(void)
{
    return sv_xcalloc(1, sizeof(sv_hist_t));
}

void sv_hist_free(sv_hist_t *h)
{
    if (h == NULL)
        return;
    for (int i = 0; i < CHUNKS; i++)
        free(h->chunks[i]);
    free(h);
}

void sv_hist_reset(sv_hist_t *h)
{
    for (int i = 0; i < CHUNKS; i++)
        if (h->chunks[i])
            memset(h->chunks[i], 0, CHUNK_LEN * sizeof(uint64_t));
    h->total = h->min = h->max = h->sum = 0;
}

static uint32_t counts_index(uint64_t value)
{
    int pow2ceiling = 64 - __builtin_clzll(value | SUB_BUCKET_MASK);
    int bucket = pow2ceiling - (SUB_BUCKET_HALF_MAGNITUDE + 1);
    uint32_t sub_bucket = (uint32_t)(value >> bucket);
    return ((uint32_t)(bucket + 1) << SUB_BUCKET_HALF_MAGNITUDE) +
           (sub_bucket - SUB_BUCKET_HALF_COUNT);
}

static void index_range(uint32_t index, uint64_t *lowest, uint64_t *width)
{
    int bucket = (int)(index >> SUB_BUCKET_HALF_MAGNITUDE) - 1;
    uint64_t sub_bucket = (index & (SUB_BUCKET_HALF_COUNT - 1)) + SUB_BUCKET_HALF_COUNT;
    if (bucket < 0) {
        sub_bucket -= SUB_BUCKET_HALF_COUNT;
        bucket = 0;
    }
    *lowest = sub_bucket << bucket;
    *width = 1ULL << bucket;
}

static void add_at_index(sv_hist_t *h, uint32_t index, uint64_t n)
{
    uint64_t *chunk = h->chunks[index >> CHUNK_SHIFT];
    if (chunk == NULL) {
        chunk = sv_xcalloc(CHUNK_LEN, sizeof(uint64_t));
        h->chunks[index >> CHUNK_SHIFT] = chunk;
    }
    chunk[index & (CHUNK_LEN - 1)] += n;
}

static void add_extremes(sv_hist_t *h, uint64_t min, uint64_t max, uint64_t n, uint64_t sum)
{
    if (h->total == 0 || min < h->min)
        h->min = min;
    if (h->total == 0 || max > h->max)
        h->max = max;
    h->total += n;
    h->sum += sum;
}

void sv_hist_record_n(sv_hist_t *h, uint64_t value, uint64_t n)
{
    if (n == 0)
        return;
    uint64_t clamped = value > SV_HIST_MAX_VALUE ? SV_HIST_MAX_VALUE : value;
    add_at_index(h, counts_index(clamped), n);
    add_extremes(h, value, value, n, value * n);
}

void sv_hist_record(sv_hist_t *h, uint64_t value)
{
    sv_hist_record_n(h, value, 1);
}

void sv_hist_merge(sv_hist_t *dst, const sv_hist_t *src)
{
    if (src->total == 0)
        return;
    for (int c = 0; c < CHUNKS; c++) {
        const uint64_t *chunk = src->chunks[c];
        if (chunk == NULL)
            continue;
        for (int i = 0; i < CHUNK_LEN; i++)
            if (chunk[i])
                add_at_index(dst, (uint32_t)(c * CHUNK_LEN + i), chunk[i]);
    }
    add_extremes(dst, src->min, src->max, src->total, src->sum);
}

uint64_t sv_hist_count(const sv_hist_t *h)
{
    return h->total;
}
uint64_t sv_hist_min(const sv_hist_t *h)
{
    return h->min;
}
uint64_t sv_hist_max(const sv_hist_t *h)
{
    return h->max;
}
double sv_hist_mean(const sv_hist_t *h)
{
    return h->total ? (double)h->sum / (double)h->total : 0;
}

size_t sv_hist_footprint(const sv_hist_t *h)
{
    size_t bytes = sizeof(*h);
    for (int c = 0; c < CHUNKS; c++)
        if (h->chunks[c])
            bytes += CHUNK_LEN * sizeof(uint64_t);
    return bytes;
}

bool sv_hist_next_bin(const sv_hist_t *h, uint32_t *cursor, uint64_t *lowest, uint64_t *width,
                      uint64_t *count)
{
    for (uint32_t i = *cursor; i < COUNTS_LEN; i++) {
        const uint64_t *chunk = h->chunks[i >> CHUNK_SHIFT];
        if (chunk == NULL) {
            i |= CHUNK_LEN - 1;
            continue;
        }
        uint64_t n = chunk[i & (CHUNK_LEN - 1)];
        if (n == 0)
            continue;
        index_range(i, lowest, width);
        *count = n;
        *cursor = i + 1;
        return true;
    }
    *cursor = COUNTS_LEN;
    return false;
}

/* The value standing for a bin: exact for unit-wide bins, the middle otherwise. */
static double bin_value(uint64_t lowest, uint64_t width)
{
    return width == 1 ? (double)lowest : (double)lowest + (double)(width - 1) / 2.0;
}

/* Values at 0-based ranks r0 <= r1, clamped to the exact extremes. */
static void values_at_ranks(const sv_hist_t *h, uint64_t r0, uint64_t r1, double *v0, double *v1)
{
    uint32_t cursor = 0;
    uint64_t lowest, width, n, seen = 0;
    bool have0 = false;
    *v0 = *v1 = (double)h->max;
    while (sv_hist_next_bin(h, &cursor, &lowest, &width, &n)) {
        seen += n;
        double v = bin_value(lowest, width);
        if (!have0 && r0 < seen) {
            *v0 = v;
            have0 = true;
        }
        if (r1 < seen) {
            *v1 = v;
            break;
        }
    }
    *v0 = fmax((double)h->min, fmin((double)h->max, *v0));
    *v1 = fmax((double)h->min, fmin((double)h->max, *v1));
    if (r0 == 0)
        *v0 = (double)h->min;
    if (r1 == h->total - 1)
        *v1 = (double)h->max;
}

double sv_hist_percentile(const sv_hist_t *h, double p)
{
    if (h->total == 0)
        return 0;
    if (p <= 0)
        return (double)h->min;
    if (p >= 100)
        return (double)h->max;
    double rank = p / 100.0 * (double)(h->total - 1);
    double lo = floor(rank);
    double v0, v1;
    values_at_ranks(h, (uint64_t)lo, (uint64_t)ceil(rank), &v0, &v1);
    return v0 + (v1 - v0) * (rank - lo);
}

int sv_hist_encode(const sv_hist_t *h, sv_buf_t *out)
{
    int rc = sv_buf_printf(out, "H1;%" PRIu64 ";%" PRIu64 ";%" PRIu64 ";%" PRIu64 ";", h->total,
                           h->min, h->max, h->sum);
    uint32_t prev = 0;
    bool first = true;
    for (uint32_t i = 0; rc == 0 && i < COUNTS_LEN; i++) {
        const uint64_t *chunk = h->chunks[i >> CHUNK_SHIFT];
        if (chunk == NULL) {
            i |= CHUNK_LEN - 1;
            continue;
        }
        uint64_t n = chunk[i & (CHUNK_LEN - 1)];
        if (n == 0)
            continue;
        rc = sv_buf_printf(out, "%s%" PRIu32 ":%" PRIu64, first ? "" : ",", i - prev, n);
        prev = i;
        first = false;
    }
    return rc;
}

/* Reads an unsigned decimal at *p (bounded by end), advancing *p. */
static bool read_u64(const char **p, const char *end, uint64_t *out)
{
    const char *s = *p;
    uint64_t v = 0;
    if (s >= end || *s < '0' || *s > '9')
        return false;
    while (s < end && *s >= '0' && *s <= '9') {
        unsigned d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
        s++;
    }
    *p = s;
    *out = v;
    return true;
}

static bool expect(const char **p, const char *end, char c)
{
    if (*p >= end || **p != c)
        return false;
    (*p)++;
    return true;
}

/* Whether the declared min, max and sum agree with the decoded bins. */
static bool extremes_fit(const sv_hist_t *h, uint64_t min, uint64_t max, uint64_t sum,
                         uint64_t total)
{
    uint32_t first = 0, last = 0, cursor = 0;
    uint64_t lowest, width, n;
    bool any = false;
    while (sv_hist_next_bin(h, &cursor, &lowest, &width, &n)) {
        if (!any)
            first = cursor - 1;
        last = cursor - 1;
        any = true;
    }
    uint64_t cmin = SV_MIN(min, SV_HIST_MAX_VALUE), cmax = SV_MIN(max, SV_HIST_MAX_VALUE);
    unsigned __int128 lo = (unsigned __int128)min * total, hi = (unsigned __int128)max * total;
    return any && counts_index(cmin) == first && counts_index(cmax) == last && sum >= lo &&
           sum <= hi;
}

int sv_hist_decode_merge(sv_hist_t *h, const char *text, size_t len)
{
    const char *p = text, *end = text + len;
    uint64_t total, min, max, sum, seen = 0, index = 0;
    if (len < 3 || memcmp(p, "H1;", 3) != 0)
        return SV_EPARSE;
    p += 3;
    if (!read_u64(&p, end, &total) || !expect(&p, end, ';') || !read_u64(&p, end, &min) ||
        !expect(&p, end, ';') || !read_u64(&p, end, &max) || !expect(&p, end, ';') ||
        !read_u64(&p, end, &sum) || !expect(&p, end, ';') || (total && min > max))
        return SV_EPARSE;
    sv_hist_t *tmp = sv_hist_new();
    int rc = 0;
    while (p < end) {
        uint64_t delta, n;
        if ((seen && !expect(&p, end, ',')) || !read_u64(&p, end, &delta) ||
            !expect(&p, end, ':') || !read_u64(&p, end, &n) || n == 0 || (seen && delta == 0) ||
            delta >= COUNTS_LEN - index || n > total - seen) {
            rc = SV_EPARSE;
            goto out;
        }
        index += delta;
        add_at_index(tmp, (uint32_t)index, n);
        seen += n;
    }
    if (seen != total || (total && !extremes_fit(tmp, min, max, sum, total))) {
        rc = SV_EPARSE;
        goto out;
    }
    if (total) {
        tmp->total = total;
        tmp->min = min;
        tmp->max = max;
        tmp->sum = sum;
        sv_hist_merge(h, tmp);
    }
out:
    sv_hist_free(tmp);
    return rc;
}
