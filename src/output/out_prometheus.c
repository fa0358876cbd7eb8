/*
 * --out prometheus=HOST:PORT: a /metrics endpoint in Prometheus' text format while
 * the test runs, so Prometheus scrapes the generator. The collector renders the
 * page once a period; the server thread only hands out the latest page.
 * Names: prom.h, the same as remote write's.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../server/server.h"
#include "output_kinds.h"
#include "prom.h"

typedef struct {
    sv_server_t *server;
    uv_mutex_t lock;
    char *page; /* the latest rendering, under lock */
    size_t page_len;
} prom_t;

/* ---- the text format ----------------------------------------------------------------- */

typedef struct {
    sv_buf_t *page;
    sv_buf_t last; /* the family whose header went out last */
} text_t;

static void label_value(sv_buf_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            sv_buf_printf(b, "\\%c", *v);
        else if (*v == '\n')
            sv_buf_printf(b, "\\n");
        else
            sv_buf_append(b, v, 1);
    }
}

static void text_sample(const sv_prom_sample_t *s, void *arg)
{
    text_t *t = arg;
    sv_buf_t *b = t->page;
    if (t->last.len == 0 || strcmp(t->last.data, s->name) != 0) {
        sv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", s->name, s->help, s->name, s->type);
        sv_buf_reset(&t->last);
        sv_buf_printf(&t->last, "%s", s->name);
    }
    sv_buf_printf(b, "%s", s->name);
    const char *k, *v;
    uint32_t off = 0;
    bool first = true;
    if (s->worker) {
        sv_buf_printf(b, "{worker=\"%s\"", s->worker);
        first = false;
    }
    while (s->tags && sv_tagset_next(s->tags, &off, &k, &v)) {
        sv_buf_printf(b, first ? "{" : ",");
        sv_prom_label_name(b, k);
        sv_buf_printf(b, "=\"");
        label_value(b, v);
        sv_buf_printf(b, "\"");
        first = false;
    }
    sv_buf_printf(b, "%s %.15g\n", first ? "" : "}", s->value);
}

static void render(prom_t *p, const sv_report_t *r)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    text_t t = {.page = &b};
    sv_buf_init(&t.last, SIZE_MAX);
    sv_prom_each(r, text_sample, &t);
    sv_buf_free(&t.last);
    uv_mutex_lock(&p->lock);
    free(p->page);
    p->page = b.data;
    p->page_len = b.len;
    uv_mutex_unlock(&p->lock);
}

static void handle(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res, void *arg)
{
    prom_t *p = arg;
    if (!sv_span_eq(req->target, "/metrics")) {
        res->status = 404;
        sv_buf_printf(&res->body, "not found; the metrics are at /metrics\n");
        return;
    }
    res->content_type = "text/plain; version=0.0.4; charset=utf-8";
    uv_mutex_lock(&p->lock);
    if (p->page)
        sv_buf_append(&res->body, p->page, p->page_len);
    uv_mutex_unlock(&p->lock);
}

static int prom_check(const char *arg, char *err, size_t size)
{
    char host[256];
    uint16_t port;
    if (sv_split_host_port(arg, host, sizeof(host), &port) != 0) {
        snprintf(err, size, "--out prometheus=%s: expected HOST:PORT, e.g. 127.0.0.1:9465", arg);
        return SV_EINVAL;
    }
    return 0;
}

static int prom_open(sv_out_t *o, const char *arg, char *err, size_t size)
{
    char host[256];
    uint16_t port;
    const char *why;
    if (prom_check(arg, err, size) != 0)
        return SV_EINVAL;
    sv_split_host_port(arg, host, sizeof(host), &port);
    prom_t *p = sv_xcalloc(1, sizeof(*p));
    uv_mutex_init(&p->lock);
    if (sv_server_open(&p->server, host, port, 1, handle, p, &why) != 0) {
        snprintf(err, size, "--out prometheus=%s: cannot listen: %s", arg, why);
        uv_mutex_destroy(&p->lock);
        free(p);
        return SV_EINVAL;
    }
    sv_server_start(p->server);
    o->state = p;
    return 0;
}

static void prom_period(sv_out_t *o, const sv_report_t *so_far)
{
    render(o->state, so_far);
}

static int prom_finish(sv_out_t *o, const sv_report_t *report, char *err, size_t size)
{
    render(o->state, report);
    return 0;
}

static void prom_close(sv_out_t *o)
{
    prom_t *p = o->state;
    sv_server_stop(p->server);
    sv_server_free(p->server);
    uv_mutex_destroy(&p->lock);
    free(p->page);
    free(p);
}

const sv_out_kind_t sv_out_prometheus = {
    .name = "prometheus",
    .usage = "prometheus=HOST:PORT",
    .check = prom_check,
    .open = prom_open,
    .period = prom_period,
    .finish = prom_finish,
    .close = prom_close,
};
