/*
 * Per-sample streams, in k6's shapes:
 *   --out json=FILE  JSON lines: a {"type":"Metric",…} line the first time a metric
 *                    appears, then a {"type":"Point",…} line per sample.
 *   --out csv=FILE   k6's columns, one row per sample.
 * A FILE ending in .gz is gzip-compressed. Both are written by the collector from
 * the samples the workers hand over once a second, never on a worker.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zlib.h>

#include "output_kinds.h"

typedef struct {
    char *path;
    FILE *f;
    gzFile gz;
    bool failed;          /* a write failed: said once, at the end */
    bool *metric_written; /* json: the Metric line of each metric id went out */
    size_t n_metrics;
    uint64_t lost;
    sv_buf_t line;
    /* the time prefix "2026-11-23T15:56:00" of the last second formatted */
    time_t prefix_second;
    char prefix[32];
} stream_t;

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int stream_open(sv_out_t *o, const char *kind, const char *path, char *err, size_t size)
{
    stream_t *st = sv_xcalloc(1, sizeof(*st));
    st->path = sv_xstrdup(path);
    st->prefix_second = -1;
    sv_buf_init(&st->line, SIZE_MAX);
    if (ends_with(path, ".gz"))
        st->gz = gzopen(path, "wb6");
    else
        st->f = fopen(path, "w");
    if (st->f == NULL && st->gz == NULL) {
        snprintf(err, size, "--out %s=%s: cannot write: %s", kind, path, strerror(errno));
        free(st->path);
        sv_buf_free(&st->line);
        free(st);
        return SV_EINVAL;
    }
    o->state = st;
    return 0;
}

static void flush_line(stream_t *st)
{
    if (st->line.len == 0)
        return;
    size_t n = st->gz ? (size_t)gzwrite(st->gz, st->line.data, (unsigned)st->line.len)
                      : fwrite(st->line.data, 1, st->line.len, st->f);
    if (n != st->line.len)
        st->failed = true;
    sv_buf_reset(&st->line);
}

/* Batched: written when the buffer holds this much. */
#define FLUSH_BYTES (256 * 1024)

static void maybe_flush(stream_t *st)
{
    if (st->line.len >= FLUSH_BYTES)
        flush_line(st);
}

static int stream_finish(sv_out_t *o, const char *kind, char *err, size_t size)
{
    stream_t *st = o->state;
    flush_line(st);
    int rc = 0;
    if (st->gz ? gzflush(st->gz, Z_SYNC_FLUSH) != Z_OK : fflush(st->f) != 0)
        st->failed = true;
    if (st->failed) {
        snprintf(err, size, "--out %s=%s: writing failed: %s", kind, st->path, strerror(errno));
        rc = SV_EIO;
    } else if (st->lost) {
        snprintf(err, size,
                 "--out %s=%s: %llu samples were left out (more than a worker keeps while "
                 "the output catches up: 4 Mi); the summary has them all",
                 kind, st->path, (unsigned long long)st->lost);
        rc = SV_EIO;
    }
    return rc;
}

static void stream_close(sv_out_t *o)
{
    stream_t *st = o->state;
    if (st->gz)
        gzclose(st->gz);
    if (st->f)
        fclose(st->f);
    free(st->metric_written);
    sv_buf_free(&st->line);
    free(st->path);
    free(st);
}

/* ---- text helpers -------------------------------------------------------------------- */

static void json_string(sv_buf_t *b, const char *s)
{
    sv_buf_append(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            sv_buf_printf(b, "\\%c", c);
        else if (c < 0x20)
            sv_buf_printf(b, "\\u%04x", c);
        else
            sv_buf_append(b, s, 1);
    }
    sv_buf_append(b, "\"", 1);
}

/* RFC 3339 with microseconds, UTC: "2026-11-23T15:56:00.123456Z". */
static void rfc3339(stream_t *st, sv_buf_t *b, uint64_t wall_ns)
{
    time_t sec = (time_t)(wall_ns / SV_NS_PER_S);
    if (sec != st->prefix_second) {
        struct tm tm;
        gmtime_r(&sec, &tm);
        strftime(st->prefix, sizeof(st->prefix), "%Y-%m-%dT%H:%M:%S", &tm);
        st->prefix_second = sec;
    }
    sv_buf_printf(b, "%s.%06uZ", st->prefix, (unsigned)(wall_ns % SV_NS_PER_S / 1000));
}

static const char *const type_names[] = {"counter", "gauge", "rate", "trend"};
static const char *const contains_names[] = {"default", "time", "data"};

/* ---- json ---------------------------------------------------------------------------- */

static int json_open(sv_out_t *o, const char *path, char *err, size_t size)
{
    return stream_open(o, "json", path, err, size);
}

static void metric_line(stream_t *st, const sv_catalog_t *cat, uint32_t id)
{
    if (id >= st->n_metrics) {
        size_t n = sv_catalog_size(cat);
        st->metric_written = sv_xrealloc(st->metric_written, n * sizeof(bool));
        memset(st->metric_written + st->n_metrics, 0, (n - st->n_metrics) * sizeof(bool));
        st->n_metrics = n;
    }
    if (st->metric_written[id])
        return;
    st->metric_written[id] = true;
    const sv_metric_def_t *d = sv_catalog_get(cat, id);
    sv_buf_printf(&st->line, "{\"type\":\"Metric\",\"data\":{\"name\":");
    json_string(&st->line, d->name);
    sv_buf_printf(&st->line,
                  ",\"type\":\"%s\",\"contains\":\"%s\",\"thresholds\":[],\"submetrics\":null},"
                  "\"metric\":",
                  type_names[d->type], contains_names[d->contains]);
    json_string(&st->line, d->name);
    sv_buf_printf(&st->line, "}\n");
}

static void point_line(stream_t *st, const sv_catalog_t *cat, const sv_sample_t *s,
                       uint64_t wall_offset_ns)
{
    const char *name = sv_catalog_get(cat, s->series->metric)->name;
    sv_buf_t *b = &st->line;
    sv_buf_printf(b, "{\"type\":\"Point\",\"data\":{\"time\":\"");
    rfc3339(st, b, s->at_ns + wall_offset_ns);
    sv_buf_printf(b, "\",\"value\":%.15g,\"tags\":{", s->value);
    const char *k, *v;
    uint32_t off = 0;
    for (bool first = true; s->series->tags && sv_tagset_next(s->series->tags, &off, &k, &v);
         first = false) {
        if (!first)
            sv_buf_append(b, ",", 1);
        json_string(b, k);
        sv_buf_append(b, ":", 1);
        json_string(b, v);
    }
    sv_buf_printf(b, "}},\"metric\":");
    json_string(b, name);
    sv_buf_printf(b, "}\n");
}

static void json_samples(sv_out_t *o, const sv_catalog_t *cat, const sv_sample_t *s, size_t n,
                         uint64_t lost, uint64_t wall_offset_ns)
{
    stream_t *st = o->state;
    st->lost += lost;
    for (size_t i = 0; i < n; i++) {
        metric_line(st, cat, s[i].series->metric);
        point_line(st, cat, &s[i], wall_offset_ns);
        maybe_flush(st);
    }
    flush_line(st);
}

static int json_finish(sv_out_t *o, const sv_report_t *r, char *err, size_t size)
{
    return stream_finish(o, "json", err, size);
}

const sv_out_kind_t sv_out_json = {
    .name = "json",
    .usage = "json=FILE",
    .open = json_open,
    .samples = json_samples,
    .finish = json_finish,
    .close = stream_close,
};

/* ---- csv ----------------------------------------------------------------------------- */

/* k6's columns: the tags it names get their own; the rest go to extra_tags. */
static const char *const csv_tags[] = {"check",       "error",   "error_code", "expected_response",
                                       "group",       "method",  "name",       "proto",
                                       "scenario",    "service", "status",     "subproto",
                                       "tls_version", "url"};

static void csv_field(sv_buf_t *b, const char *v)
{
    if (strpbrk(v, ",\"\r\n") == NULL) {
        sv_buf_printf(b, "%s", v);
        return;
    }
    sv_buf_append(b, "\"", 1);
    for (; *v; v++) {
        if (*v == '"')
            sv_buf_append(b, "\"", 1);
        sv_buf_append(b, v, 1);
    }
    sv_buf_append(b, "\"", 1);
}

static int csv_open(sv_out_t *o, const char *path, char *err, size_t size)
{
    if (stream_open(o, "csv", path, err, size) != 0)
        return SV_EINVAL;
    stream_t *st = o->state;
    sv_buf_printf(&st->line, "metric_name,timestamp,metric_value");
    for (size_t i = 0; i < SV_ARRAY_SIZE(csv_tags); i++)
        sv_buf_printf(&st->line, ",%s", csv_tags[i]);
    sv_buf_printf(&st->line, ",extra_tags,metadata\n");
    flush_line(st);
    return 0;
}

static bool named_column(const char *key)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(csv_tags); i++)
        if (strcmp(key, csv_tags[i]) == 0)
            return true;
    return false;
}

static void csv_row(sv_buf_t *b, const sv_catalog_t *cat, const sv_sample_t *s,
                    uint64_t wall_offset_ns)
{
    const sv_tagset_t *tags = s->series->tags;
    csv_field(b, sv_catalog_get(cat, s->series->metric)->name);
    sv_buf_printf(b, ",%llu,%.15g", (unsigned long long)((s->at_ns + wall_offset_ns) / SV_NS_PER_S),
                  s->value);
    for (size_t i = 0; i < SV_ARRAY_SIZE(csv_tags); i++) {
        const char *v = tags ? sv_tagset_get(tags, csv_tags[i]) : NULL;
        sv_buf_append(b, ",", 1);
        if (v)
            csv_field(b, v);
    }
    sv_buf_append(b, ",", 1);
    sv_buf_t extra;
    sv_buf_init(&extra, SIZE_MAX);
    const char *k, *v;
    uint32_t off = 0;
    while (tags && sv_tagset_next(tags, &off, &k, &v))
        if (!named_column(k))
            sv_buf_printf(&extra, "%s%s=%s", extra.len ? "&" : "", k, v);
    if (extra.len)
        csv_field(b, extra.data);
    sv_buf_free(&extra);
    sv_buf_printf(b, ",\n");
}

static void csv_samples(sv_out_t *o, const sv_catalog_t *cat, const sv_sample_t *s, size_t n,
                        uint64_t lost, uint64_t wall_offset_ns)
{
    stream_t *st = o->state;
    st->lost += lost;
    for (size_t i = 0; i < n; i++) {
        csv_row(&st->line, cat, &s[i], wall_offset_ns);
        maybe_flush(st);
    }
    flush_line(st);
}

static int csv_finish(sv_out_t *o, const sv_report_t *r, char *err, size_t size)
{
    return stream_finish(o, "csv", err, size);
}

const sv_out_kind_t sv_out_csv = {
    .name = "csv",
    .usage = "csv=FILE",
    .open = csv_open,
    .samples = csv_samples,
    .finish = csv_finish,
    .close = stream_close,
};
