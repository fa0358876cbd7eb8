/*
 * --out influxdb=http://HOST:PORT/DB: every sample as InfluxDB v1 line protocol,
 * POSTed to /write?db=DB&precision=ns once a second. The collector only formats a
 * batch and queues it; a sender thread of this output does the HTTP, with retries,
 * so a slow or dead InfluxDB never holds up the test. The queue is bounded: past
 * it, batches are dropped and counted, and the end of the test says how many
 * points were lost.
 *
 * Line protocol: measurement = the metric name, tags = the sample's tags (empty
 * values left out, as InfluxDB refuses them), field value=…, time in ns.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "../http/url.h"
#include "output_kinds.h"

#define BATCH_POINTS 10000        /* a POST's body: a few MB, under InfluxDB's 25 MB cap */
#define MAX_PENDING_POINTS 500000 /* queued for the sender; past it, batches are dropped */
#define ATTEMPTS 3
#define IO_TIMEOUT_MS 5000
#define DRAIN_NS (10 * SV_NS_PER_S) /* at the end, how long the queue may take to go */

typedef struct batch {
    sv_buf_t body;
    uint64_t points;
    struct batch *next;
} batch_t;

typedef struct {
    char *url_text;
    char host[256];
    char port[8];
    char *path; /* "/write?db=DB&precision=ns" */
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    batch_t *head, *tail; /* under lock */
    size_t pending_points;
    bool closing;
    uint64_t drain_until_ns;              /* closing: past this, what is queued is dropped */
    uint64_t dropped_points, sent_points; /* under lock */
    char last_error[160];                 /* under lock */
    batch_t *current;                     /* the collector's batch being filled */
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

/* ---- the sender thread ------------------------------------------------------------- */

static int dial(const influx_t *x)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(x->host, x->port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct timeval tv = {IO_TIMEOUT_MS / 1000, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

static bool write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* One POST; the HTTP status, or -1 when the connection failed. */
static int post(influx_t *x, const batch_t *b, char *why, size_t size)
{
    int fd = dial(x);
    if (fd < 0) {
        snprintf(why, size, "cannot connect: %s", strerror(errno));
        return -1;
    }
    char head[512];
    int n = snprintf(head, sizeof(head),
                     "POST %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: salvo/%s\r\n"
                     "Content-Type: text/plain; charset=utf-8\r\nContent-Length: %zu\r\n"
                     "Connection: close\r\n\r\n",
                     x->path, x->host, x->port, SV_VERSION, b->body.len);
    int status = -1;
    char reply[512] = "";
    if (write_all(fd, head, (size_t)n) && write_all(fd, b->body.data, b->body.len)) {
        ssize_t got = recv(fd, reply, sizeof(reply) - 1, 0);
        if (got > 0) {
            reply[got] = '\0';
            if (sscanf(reply, "HTTP/1.%*d %d", &status) != 1)
                status = -1;
        }
    }
    close(fd);
    if (status < 0)
        snprintf(why, size, "no answer");
    else if (status >= 300)
        snprintf(why, size, "HTTP %d", status);
    return status;
}

/* Sends one batch, retrying a refused or failed one (not once the test is over);
 * false when it gave up. */
static bool send_batch(influx_t *x, const batch_t *b, bool closing)
{
    char why[128] = "";
    for (int attempt = 0; attempt < (closing ? 1 : ATTEMPTS); attempt++) {
        if (attempt > 0)
            usleep(200000u << attempt);
        int status = post(x, b, why, sizeof(why));
        if (status >= 200 && status < 300)
            return true;
        if (status >= 400 && status < 500)
            break; /* the data or the database is wrong: resending will not help */
    }
    uv_mutex_lock(&x->lock);
    snprintf(x->last_error, sizeof(x->last_error), "%s", why);
    uv_mutex_unlock(&x->lock);
    return false;
}

static void batch_free(batch_t *b)
{
    if (b == NULL)
        return;
    sv_buf_free(&b->body);
    free(b);
}

static void sender_main(void *arg)
{
    influx_t *x = arg;
    uv_mutex_lock(&x->lock);
    for (;;) {
        while (x->head == NULL && !x->closing)
            uv_cond_wait(&x->wake, &x->lock);
        batch_t *b = x->head;
        if (b == NULL)
            break; /* closing, and everything queued went */
        x->head = b->next;
        if (x->head == NULL)
            x->tail = NULL;
        x->pending_points -= b->points;
        bool closing = x->closing;
        bool late = closing && sv_now_ns() > x->drain_until_ns;
        uv_mutex_unlock(&x->lock);
        bool sent = !late && send_batch(x, b, closing);
        uv_mutex_lock(&x->lock);
        if (sent)
            x->sent_points += b->points;
        else
            x->dropped_points += b->points;
        batch_free(b);
    }
    uv_mutex_unlock(&x->lock);
}

/* Hands the collector's batch to the sender, or drops it when the queue is full. */
static void enqueue(influx_t *x)
{
    batch_t *b = x->current;
    x->current = NULL;
    if (b == NULL || b->points == 0) {
        batch_free(b);
        return;
    }
    uv_mutex_lock(&x->lock);
    if (x->pending_points + b->points > MAX_PENDING_POINTS) {
        x->dropped_points += b->points;
        batch_free(b);
    } else {
        if (x->tail)
            x->tail->next = b;
        else
            x->head = b;
        x->tail = b;
        x->pending_points += b->points;
        uv_cond_signal(&x->wake);
    }
    uv_mutex_unlock(&x->lock);
}

/* ---- the output ---------------------------------------------------------------------- */

/* http://HOST:PORT/DB → host, port, "/write?db=DB&precision=ns". */
static int parse_target(influx_t *x, const char *arg, const char **why)
{
    sv_url_t url;
    if (sv_url_parse(&url, arg, why) != 0)
        return SV_EINVAL;
    int rc = 0;
    const char *db = url.target + 1;
    size_t db_len = strcspn(db, "?#");
    if (url.tls) {
        *why = "https:// is not supported yet; use http://";
        rc = SV_EINVAL;
    } else if (db_len == 0 || memchr(db, '/', db_len)) {
        *why = "expected http://HOST:PORT/DATABASE";
        rc = SV_EINVAL;
    } else if (strlen(url.host) >= sizeof(x->host)) {
        *why = "host name too long";
        rc = SV_EINVAL;
    } else {
        snprintf(x->host, sizeof(x->host), "%s", url.host);
        snprintf(x->port, sizeof(x->port), "%u", url.port);
        x->path = sv_xasprintf("/write?db=%.*s&precision=ns", (int)db_len, db);
    }
    sv_url_free(&url);
    return rc;
}

static int influx_check(const char *arg, char *err, size_t size)
{
    influx_t x = {0};
    const char *why = NULL;
    int rc = parse_target(&x, arg, &why);
    free(x.path);
    if (rc != 0)
        snprintf(err, size, "--out influxdb=%s: %s", arg, why);
    return rc;
}

/* Reachable at the start? A GET /ping answers 204 on InfluxDB 1.x. */
static int ping(influx_t *x, char *why, size_t size)
{
    int fd = dial(x);
    if (fd < 0) {
        snprintf(why, size, "cannot connect: %s", strerror(errno));
        return SV_EIO;
    }
    char req[320];
    int n =
        snprintf(req, sizeof(req), "GET /ping HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n\r\n",
                 x->host, x->port);
    char reply[256] = "";
    int status = 0;
    if (write_all(fd, req, (size_t)n)) {
        ssize_t got = recv(fd, reply, sizeof(reply) - 1, 0);
        if (got > 0)
            reply[got] = '\0';
        sscanf(reply, "HTTP/1.%*d %d", &status);
    }
    close(fd);
    if (status < 200 || status >= 300) {
        snprintf(why, size, "no InfluxDB there (GET /ping answered %d)", status);
        return SV_EIO;
    }
    return 0;
}

static int influx_open(sv_out_t *o, const char *arg, char *err, size_t size)
{
    if (influx_check(arg, err, size) != 0)
        return SV_EINVAL;
    influx_t *x = sv_xcalloc(1, sizeof(*x));
    const char *unused;
    parse_target(x, arg, &unused);
    char why[160];
    if (ping(x, why, sizeof(why)) != 0) {
        snprintf(err, size, "--out influxdb=%s: %s", arg, why);
        free(x->path);
        free(x);
        return SV_EINVAL;
    }
    x->url_text = sv_xstrdup(arg);
    uv_mutex_init(&x->lock);
    uv_cond_init(&x->wake);
    uv_thread_create(&x->thread, sender_main, x);
    o->state = x;
    return 0;
}

static void influx_samples(sv_out_t *o, const sv_catalog_t *cat, const sv_sample_t *s, size_t n,
                           uint64_t lost, uint64_t wall_offset_ns)
{
    influx_t *x = o->state;
    for (size_t i = 0; i < n; i++) {
        if (x->current == NULL) {
            x->current = sv_xcalloc(1, sizeof(*x->current));
            sv_buf_init(&x->current->body, SIZE_MAX);
        }
        lp_line(&x->current->body, cat, &s[i], wall_offset_ns);
        if (++x->current->points == BATCH_POINTS)
            enqueue(x);
    }
    if (lost) {
        uv_mutex_lock(&x->lock);
        x->dropped_points += lost;
        uv_mutex_unlock(&x->lock);
    }
}

static void influx_period(sv_out_t *o, const sv_report_t *so_far)
{
    enqueue(o->state); /* the samples of this period, as one batch */
}

/* Waits for the queue to drain, then reports what could not be written. */
static int influx_finish(sv_out_t *o, const sv_report_t *report, char *err, size_t size)
{
    influx_t *x = o->state;
    enqueue(x);
    uv_mutex_lock(&x->lock);
    x->closing = true;
    x->drain_until_ns = sv_now_ns() + DRAIN_NS;
    uv_cond_signal(&x->wake);
    uv_mutex_unlock(&x->lock);
    uv_thread_join(&x->thread);
    if (x->dropped_points == 0)
        return 0;
    snprintf(err, size,
             "--out influxdb=%s: %llu of %llu points were not written (last error: %s); the "
             "summary has them all",
             x->url_text, (unsigned long long)x->dropped_points,
             (unsigned long long)(x->dropped_points + x->sent_points),
             x->last_error[0] ? x->last_error : "the queue was full");
    return SV_EIO;
}

static void influx_close(sv_out_t *o)
{
    influx_t *x = o->state;
    if (!x->closing) { /* never finished: stop the sender, dropping what is queued */
        uv_mutex_lock(&x->lock);
        x->closing = true;
        uv_cond_signal(&x->wake);
        uv_mutex_unlock(&x->lock);
        uv_thread_join(&x->thread);
    }
    batch_free(x->current);
    uv_cond_destroy(&x->wake);
    uv_mutex_destroy(&x->lock);
    free(x->path);
    free(x->url_text);
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
