/*
 * --out prometheus-rw=http://HOST:PORT/api/v1/write: the totals as Prometheus series
 * (prom.h names), pushed once a period with remote write 1.0: a protobuf
 * WriteRequest, snappy-compressed, POSTed by the output's sender thread (sender.h).
 * Prometheus takes it with --web.enable-remote-write-receiver.
 *
 * Trends go as a gauge per statistic, or with ?trend_as=native as native histograms
 * (Prometheus needs --enable-feature=native-histograms for them): schema 5, buckets
 * 2.2% wide, built from the HDR histogram's bins, cumulative over the test.
 *
 * The protobuf messages are small enough to write by hand:
 *   WriteRequest { repeated TimeSeries timeseries = 1; }
 *   TimeSeries   { repeated Label labels = 1; repeated Sample samples = 2; }
 *   Label        { string name = 1; string value = 2; }
 *   Sample       { double value = 1; int64 timestamp = 2; }   (ms since the epoch)
 *   TimeSeries   { …; repeated Histogram histograms = 4; }
 *   Histogram    { uint64 count_int = 1; double sum = 3; sint32 schema = 4;
 *                  double zero_threshold = 5; uint64 zero_count_int = 6;
 *                  repeated BucketSpan positive_spans = 11;
 *                  repeated sint64 positive_deltas = 12 (packed); int64 timestamp = 15; }
 *   BucketSpan   { sint32 offset = 1; uint32 length = 2; }
 */
#include <snappy-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output_kinds.h"
#include "prom.h"
#include "sender.h"

#define MAX_PENDING_SERIES 2000000
#define DRAIN_NS (10 * SV_NS_PER_S)
#define NATIVE_SCHEMA 5
#define NATIVE_ZERO_THRESHOLD 2.938735877055719e-39 /* 2^-128, as Prometheus' clients */

typedef struct {
    char *label; /* "--out prometheus-rw=URL", for messages */
    bool native; /* trends as native histograms */
    sv_sender_t *sender;
    /* while encoding one push */
    sv_buf_t request, series, sub; /* sub: a Label or Sample being encoded */
    sv_buf_t hist, deltas;         /* a native histogram being encoded */
    uint64_t n_series;
    int64_t now_ms;
} rw_t;

/* ---- protobuf --------------------------------------------------------------------------- */

static void varint(sv_buf_t *b, uint64_t v)
{
    uint8_t out[10];
    size_t n = 0;
    do {
        out[n++] = (uint8_t)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
        v >>= 7;
    } while (v);
    sv_buf_append(b, out, n);
}

static void field_bytes(sv_buf_t *b, unsigned field, const void *p, size_t n)
{
    varint(b, (uint64_t)field << 3 | 2);
    varint(b, n);
    sv_buf_append(b, p, n);
}

static void field_double(sv_buf_t *b, unsigned field, double v)
{
    varint(b, (uint64_t)field << 3 | 1);
    sv_buf_append(b, &v, sizeof(v)); /* little-endian IEEE 754, as on every target we build */
}

static void field_varint(sv_buf_t *b, unsigned field, uint64_t v)
{
    varint(b, (uint64_t)field << 3);
    varint(b, v);
}

static uint64_t zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

/* ---- native histograms ------------------------------------------------------------------ */

typedef struct {
    int32_t index;
    uint64_t count;
} nbucket_t;

/* h's values (divided by unit) counted in native buckets, in index order (the HDR
 * bins come in value order); values of the zero bin go to *zeros. */
static size_t native_buckets(const sv_hist_t *h, double unit, nbucket_t **out, uint64_t *zeros)
{
    size_t n = 0, cap = 0;
    nbucket_t *b = NULL;
    uint64_t lowest, width, count;
    uint32_t cursor = 0;
    *zeros = 0;
    while (sv_hist_next_bin(h, &cursor, &lowest, &width, &count)) {
        if (lowest == 0) {
            *zeros += count;
            continue;
        }
        double mid = ((double)lowest + (double)(width - 1) / 2) / unit;
        int32_t i = sv_prom_native_bucket(mid, NATIVE_SCHEMA);
        if (n && b[n - 1].index == i) {
            b[n - 1].count += count;
            continue;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 64;
            b = sv_xrealloc(b, cap * sizeof(*b));
        }
        b[n++] = (nbucket_t){i, count};
    }
    *out = b;
    return n;
}

static void add_span(sv_buf_t *msg, sv_buf_t *sub, int32_t offset, size_t length)
{
    sv_buf_reset(sub);
    field_varint(sub, 1, zigzag(offset));
    field_varint(sub, 2, length);
    field_bytes(msg, 11, sub->data, sub->len);
}

/* A Histogram message for trend h into x->sub's caller buffer msg: runs of adjacent
 * buckets become spans (offset: the gap since the last span), counts go as deltas. */
static void encode_native(rw_t *x, sv_buf_t *msg, const sv_hist_t *h, double unit)
{
    nbucket_t *b;
    uint64_t zeros;
    size_t n = native_buckets(h, unit, &b, &zeros);
    uint64_t count = sv_hist_count(h);
    sv_buf_reset(msg);
    field_varint(msg, 1, count);
    field_double(msg, 3, sv_hist_mean(h) * (double)count / unit);
    field_varint(msg, 4, zigzag(NATIVE_SCHEMA));
    field_double(msg, 5, NATIVE_ZERO_THRESHOLD);
    field_varint(msg, 6, zeros);
    sv_buf_reset(&x->deltas);
    size_t span_start = 0;
    int32_t span_offset = n ? b[0].index : 0;
    for (size_t k = 0; k < n; k++) {
        if (k > 0 && b[k].index != b[k - 1].index + 1) {
            add_span(msg, &x->sub, span_offset, k - span_start);
            span_offset = b[k].index - b[k - 1].index - 1;
            span_start = k;
        }
        varint(&x->deltas, zigzag((int64_t)b[k].count - (int64_t)(k ? b[k - 1].count : 0)));
    }
    if (n)
        add_span(msg, &x->sub, span_offset, n - span_start);
    field_bytes(msg, 12, x->deltas.data, x->deltas.len);
    field_varint(msg, 15, (uint64_t)x->now_ms);
    free(b);
}

/* ---- series ----------------------------------------------------------------------------- */

typedef struct {
    char *name;
    const char *value;
} label_t;

static int by_name(const void *a, const void *b)
{
    return strcmp(((const label_t *)a)->name, ((const label_t *)b)->name);
}

static void add_label(rw_t *x, const char *name, const char *value)
{
    sv_buf_reset(&x->sub);
    field_bytes(&x->sub, 1, name, strlen(name));
    field_bytes(&x->sub, 2, value, strlen(value));
    field_bytes(&x->series, 1, x->sub.data, x->sub.len);
}

/* One TimeSeries: __name__ and the tags as labels, sorted by name as remote write
 * requires, and one sample at the push's time. */
static void rw_sample(const sv_prom_sample_t *s, void *arg)
{
    rw_t *x = arg;
    label_t labels[64];
    size_t n = 0;
    labels[n++] = (label_t){sv_xstrdup("__name__"), s->name};
    if (s->worker)
        labels[n++] = (label_t){sv_xstrdup("worker"), s->worker};
    const char *k, *v;
    uint32_t off = 0;
    while (s->tags && n < SV_ARRAY_SIZE(labels) && sv_tagset_next(s->tags, &off, &k, &v)) {
        if (*v == '\0')
            continue; /* an empty label is no label in Prometheus */
        sv_buf_t name;
        sv_buf_init(&name, SIZE_MAX);
        sv_prom_label_name(&name, k);
        sv_buf_printf(&name, "%s", ""); /* NUL-terminate */
        labels[n++] = (label_t){name.data, v};
    }
    qsort(labels, n, sizeof(*labels), by_name);
    sv_buf_reset(&x->series);
    for (size_t i = 0; i < n; i++) {
        add_label(x, labels[i].name, labels[i].value);
        free(labels[i].name);
    }
    if (s->hist) {
        encode_native(x, &x->hist, s->hist, s->hist_unit);
        field_bytes(&x->series, 4, x->hist.data, x->hist.len);
    } else {
        sv_buf_reset(&x->sub);
        field_double(&x->sub, 1, s->value);
        field_varint(&x->sub, 2, (uint64_t)x->now_ms);
        field_bytes(&x->series, 2, x->sub.data, x->sub.len);
    }
    field_bytes(&x->request, 1, x->series.data, x->series.len);
    x->n_series++;
}

static int64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void push(rw_t *x, const sv_report_t *r)
{
    sv_buf_reset(&x->request);
    x->n_series = 0;
    /* strictly later than the last push: a series' two samples of one millisecond are
     * a "duplicate sample" to Prometheus, which then refuses the whole request (the
     * final push can come within a millisecond of the last period's) */
    x->now_ms = SV_MAX(wall_ms(), x->now_ms + 1);
    (x->native ? sv_prom_each_native : sv_prom_each)(r, rw_sample, x);
    size_t max = snappy_max_compressed_length(x->request.len);
    sv_buf_t body;
    sv_buf_init(&body, SIZE_MAX);
    char *dst = sv_buf_reserve(&body, max);
    size_t len = max;
    if (snappy_compress(x->request.data, x->request.len, dst, &len) != SNAPPY_OK) {
        sv_sender_lost(x->sender, x->n_series);
        sv_buf_free(&body);
        return;
    }
    body.len = len;
    sv_sender_push(x->sender, &body, x->n_series);
    sv_buf_free(&body);
}

/* ---- the output ------------------------------------------------------------------------ */

/* How trends go, from ?trend_as= in the URL (Prometheus ignores the write endpoint's
 * query): "gauges" (the default, also when absent), "native", or NULL if neither. */
static const char *trend_as(const char *url)
{
    const char *q = strchr(url, '?');
    for (const char *p = q; p; p = strchr(p + 1, '&')) {
        if (strncmp(p + 1, "trend_as=", 9) != 0)
            continue;
        const char *v = p + 10;
        size_t len = strcspn(v, "&");
        return len == 6 && !strncmp(v, "native", 6)   ? "native"
               : len == 6 && !strncmp(v, "gauges", 6) ? "gauges"
                                                      : NULL;
    }
    return "gauges";
}

static int rw_check(const char *arg, char *err, size_t size)
{
    const char *why = NULL;
    if (sv_sender_check_url(arg, &why) != 0) {
        snprintf(err, size, "--out prometheus-rw=%s: %s", arg, why);
        return SV_EINVAL;
    }
    if (trend_as(arg) == NULL) {
        snprintf(err, size, "--out prometheus-rw=%s: trend_as takes native or gauges (the default)",
                 arg);
        return SV_EINVAL;
    }
    return 0;
}

static int rw_open(sv_out_t *o, const char *arg, char *err, size_t size)
{
    if (rw_check(arg, err, size) != 0)
        return SV_EINVAL;
    rw_t *x = sv_xcalloc(1, sizeof(*x));
    const char *why;
    sv_sender_opts_t opts = {
        .url = arg,
        .headers = "Content-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\n"
                   "X-Prometheus-Remote-Write-Version: 0.1.0\r\n",
        .max_items = MAX_PENDING_SERIES,
    };
    sv_sender_new(&x->sender, &opts, &why);
    /* Reachable at the start? Prometheus answers its readiness endpoint. */
    char reason[160];
    int status = sv_sender_get(x->sender, "/-/ready", reason, sizeof(reason));
    if (status < 0) {
        snprintf(err, size, "--out prometheus-rw=%s: %s", arg, reason);
        sv_sender_free(x->sender);
        free(x);
        return SV_EINVAL;
    }
    x->label = sv_xasprintf("--out prometheus-rw=%s", arg);
    x->native = strcmp(trend_as(arg), "native") == 0;
    sv_buf_init(&x->hist, SIZE_MAX);
    sv_buf_init(&x->deltas, SIZE_MAX);
    sv_buf_init(&x->request, SIZE_MAX);
    sv_buf_init(&x->series, SIZE_MAX);
    sv_buf_init(&x->sub, SIZE_MAX);
    o->state = x;
    return 0;
}

static void rw_period(sv_out_t *o, const sv_report_t *so_far)
{
    push(o->state, so_far);
}

static int rw_finish(sv_out_t *o, const sv_report_t *report, char *err, size_t size)
{
    rw_t *x = o->state;
    push(x, report);
    return sv_sender_finish(x->sender, DRAIN_NS, x->label, "series samples", err, size);
}

static void rw_close(sv_out_t *o)
{
    rw_t *x = o->state;
    sv_sender_free(x->sender);
    sv_buf_free(&x->request);
    sv_buf_free(&x->series);
    sv_buf_free(&x->sub);
    sv_buf_free(&x->hist);
    sv_buf_free(&x->deltas);
    free(x->label);
    free(x);
}

const sv_out_kind_t sv_out_prometheus_rw = {
    .name = "prometheus-rw",
    .usage = "prometheus-rw=http://HOST:PORT/api/v1/write",
    .check = rw_check,
    .open = rw_open,
    .period = rw_period,
    .finish = rw_finish,
    .close = rw_close,
};
