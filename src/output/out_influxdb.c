/*
 * --out influxdb=http://HOST:PORT/DB: every sample as InfluxDB v1 line protocol,
 * POSTed to /write?db=DB&precision=ns by the output's sender thread (sender.h) in
 * batches of at most BATCH_POINTS, so a slow or dead InfluxDB never holds up the
 * test; the end of the test says how many points did not make it.
 *
 * Line protocol: measurement = the metric name, tags = the sample's tags (empty
 * values left out, as InfluxDB refuses them), field value=…, time in ns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output_kinds.h"
#include "sender.h"

#define BATCH_POINTS 10000          /* a POST's body: a few MB, under InfluxDB's 25 MB cap */
#define MAX_PENDING_POINTS 500000   /* queued for the sender; past it, batches are dropped */
#define DRAIN_NS (10 * SV_NS_PER_S) /* at the end, how long the queue may take to go */

typedef struct {
    char *label; /* "--out influxdb=URL", for messages */
    sv_sender_t *sender;
    sv_buf_t batch; /* the collector's batch being filled */
    uint64_t points;
} influx_t;

/* ---- the line protocol ------------------------------------------------------------- */

/* Escapes what line protocol needs escaped in measurements, tag keys and values. */
static void lp_escape(sv_buf_t *b, const char *s, bool measurement)
{
    for (; *s; s++) {
        if (*s == ',' || *s == ' ' || (!measurement && *s == '=') || *s == '\\')
            sv_buf_append(b, "\\", 1);
        if (*s == '\n')
            sv_buf_append(b, " ", 1);
        else
            sv_buf_append(b, s, 1);
    }
}

static void lp_line(sv_buf_t *b, const sv_catalog_t *cat, const sv_sample_t *s,
                    uint64_t wall_offset_ns)
{
    lp_escape(b, sv_catalog_get(cat, s->series->metric)->name, true);
    const char *k, *v;
    uint32_t off = 0;
    while (s->series->tags && sv_tagset_next(s->series->tags, &off, &k, &v)) {
        if (*v == '\0')
            continue;
        sv_buf_append(b, ",", 1);
        lp_escape(b, k, false);
        sv_buf_append(b, "=", 1);
        lp_escape(b, v, false);
    }
    sv_buf_printf(b, " value=%.15g %llu\n", s->value,
                  (unsigned long long)(s->at_ns + wall_offset_ns));
}

/* ---- the output ---------------------------------------------------------------------- */

/* http://HOST:PORT/DB → http://HOST:PORT/write?db=DB&precision=ns; NULL with *why. */
static char *write_url(const char *arg, const char **why)
{
    if (sv_sender_check_url(arg, why) != 0)
        return NULL;
    const char *rest = strstr(arg, "://") + 3, *slash = strchr(rest, '/');
    const char *db = slash ? slash + 1 : "";
    size_t db_len = strcspn(db, "/?#");
    if (db_len == 0 || db[db_len] != '\0') {
        *why = "expected http://HOST:PORT/DATABASE";
        return NULL;
    }
    return sv_xasprintf("%.*s/write?db=%s&precision=ns", (int)(slash - arg), arg, db);
}

static int influx_check(const char *arg, char *err, size_t size)
{
    const char *why = NULL;
    char *url = write_url(arg, &why);
    free(url);
    if (url == NULL)
        snprintf(err, size, "--out influxdb=%s: %s", arg, why);
    return url ? 0 : SV_EINVAL;
}

static int influx_open(sv_out_t *o, const char *arg, char *err, size_t size)
{
    const char *why = NULL;
    char *url = write_url(arg, &why);
    if (url == NULL) {
        snprintf(err, size, "--out influxdb=%s: %s", arg, why);
        return SV_EINVAL;
    }
    influx_t *x = sv_xcalloc(1, sizeof(*x));
    sv_sender_opts_t opts = {
        .url = url,
        .headers = "Content-Type: text/plain; charset=utf-8\r\n",
        .max_items = MAX_PENDING_POINTS,
    };
    sv_sender_new(&x->sender, &opts, &why);
    free(url);
    char reason[160];
    int status = sv_sender_get(x->sender, "/ping", reason, sizeof(reason));
    if (status < 200 || status >= 300) { /* InfluxDB 1.x answers 204 */
        if (status >= 0)
            snprintf(reason, sizeof(reason), "no InfluxDB there (GET /ping answered %d)", status);
        snprintf(err, size, "--out influxdb=%s: %s", arg, reason);
        sv_sender_free(x->sender);
        free(x);
        return SV_EINVAL;
    }
    x->label = sv_xasprintf("--out influxdb=%s", arg);
    sv_buf_init(&x->batch, SIZE_MAX);
    o->state = x;
    return 0;
}

static void push_batch(influx_t *x)
{
    if (x->points)
        sv_sender_push(x->sender, &x->batch, x->points);
    x->points = 0;
}

static void influx_samples(sv_out_t *o, const sv_catalog_t *cat, const sv_sample_t *s, size_t n,
                           uint64_t lost, uint64_t wall_offset_ns)
{
    influx_t *x = o->state;
    for (size_t i = 0; i < n; i++) {
        lp_line(&x->batch, cat, &s[i], wall_offset_ns);
        if (++x->points == BATCH_POINTS)
            push_batch(x);
    }
    if (lost)
        sv_sender_lost(x->sender, lost);
}

static void influx_period(sv_out_t *o, const sv_report_t *so_far)
{
    push_batch(o->state); /* what is left of this period's samples */
}

static int influx_finish(sv_out_t *o, const sv_report_t *report, char *err, size_t size)
{
    influx_t *x = o->state;
    push_batch(x);
    return sv_sender_finish(x->sender, DRAIN_NS, x->label, "points", err, size);
}

static void influx_close(sv_out_t *o)
{
    influx_t *x = o->state;
    sv_sender_free(x->sender);
    sv_buf_free(&x->batch);
    free(x->label);
    free(x);
}

const sv_out_kind_t sv_out_influxdb = {
    .name = "influxdb",
    .usage = "influxdb=http://HOST:PORT/DATABASE",
    .check = influx_check,
    .open = influx_open,
    .period = influx_period,
    .samples = influx_samples,
    .finish = influx_finish,
    .close = influx_close,
};
