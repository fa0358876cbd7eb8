/*
 * Demo target routes.
 */
#include "demo.h"

#include <stdio.h>
#include <stdlib.h>
#include <zlib.h>

#define MAX_DEMO_BYTES (16u * 1024 * 1024)
#define MAX_DELAY_MS 60000

/* Parses the decimal after `prefix` in the path; false if absent or malformed. */
static bool path_number(sv_span_t path, const char *prefix, uint64_t *out)
{
    size_t pl = strlen(prefix);
    if (path.len <= pl || memcmp(path.ptr, prefix, pl) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = pl; i < path.len; i++) {
        if (path.ptr[i] < '0' || path.ptr[i] > '9' || v > UINT64_MAX / 10 - 9)
            return false;
        v = v * 10 + (uint64_t)(path.ptr[i] - '0');
    }
    *out = v;
    return true;
}

static void fill_bytes(sv_buf_t *b, uint64_t n)
{
    char *p = sv_buf_reserve(b, (size_t)n);
    for (uint64_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    b->len += (size_t)n;
}

static void gzip_bytes(sv_buf_t *b, uint64_t n)
{
    sv_buf_t plain;
    sv_buf_init(&plain, SIZE_MAX);
    fill_bytes(&plain, n);
    z_stream z = {0};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)plain.len);
    char *out = sv_buf_reserve(b, cap);
    z.next_in = (Bytef *)plain.data;
    z.avail_in = (uInt)plain.len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    b->len += cap - z.avail_out;
    deflateEnd(&z);
    sv_buf_free(&plain);
}

static void text(sv_server_response_t *res, int status, const char *msg)
{
    res->status = status;
    sv_buf_printf(&res->body, "%s\n", msg);
}

void sv_demo_handle(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res,
                    void *arg)
{
    sv_demo_stats_t *stats = arg;
    sv_span_t path = req->target;
    const char *q = memchr(path.ptr, '?', path.len);
    if (q)
        path.len = (size_t)(q - path.ptr);
    uint64_t n;

    if (sv_span_eq(path, "/stats")) {
        res->content_type = "application/json";
        sv_buf_printf(&res->body, "{\"requests\": %llu}\n",
                      (unsigned long long)atomic_load(&stats->requests));
        return;
    }
    if (sv_span_eq(path, "/health")) {
        text(res, 200, "ok");
        return;
    }
    atomic_fetch_add_explicit(&stats->requests, 1, memory_order_relaxed);
    if (sv_span_eq(path, "/") || sv_span_eq(path, "/hello")) {
        sv_buf_append(&res->body, "Hello, salvo!", 13);
    } else if (path_number(path, "/bytes/", &n) && n <= MAX_DEMO_BYTES) {
        res->content_type = "application/octet-stream";
        fill_bytes(&res->body, n);
    } else if (path_number(path, "/chunked/", &n) && n <= MAX_DEMO_BYTES) {
        res->content_type = "application/octet-stream";
        res->chunked = true;
        fill_bytes(&res->body, n);
    } else if (path_number(path, "/gzip/", &n) && n <= MAX_DEMO_BYTES) {
        res->content_encoding = "gzip";
        gzip_bytes(&res->body, n);
    } else if (path_number(path, "/delay/", &n) && n <= MAX_DELAY_MS) {
        res->delay_ms = n;
        sv_buf_printf(&res->body, "delayed %llu ms\n", (unsigned long long)n);
    } else if (path_number(path, "/status/", &n) && n >= 200 && n <= 599) {
        text(res, (int)n, "status");
    } else if (sv_span_eq(path, "/echo")) {
        sv_span_t ct = sv_h1_find_header(req->headers, req->num_headers, "content-type");
        res->content_type = ct.len ? "application/octet-stream" : "text/plain";
        sv_buf_append(&res->body, body.ptr, body.len);
    } else if (sv_span_eq(path, "/close")) {
        res->close = true;
        text(res, 200, "closing");
    } else {
        text(res, 404, "not found: try /hello, /bytes/N, /chunked/N, /gzip/N, /delay/MS, "
                       "/status/CODE, /echo, /close, /health, /stats");
    }
}
