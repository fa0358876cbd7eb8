/*
 * Prepared requests (built once, sent many times) and body content decoding.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <zlib.h>

#include "../util/crypto.h"
#include "client_int.h"

#ifndef SV_VERSION
#define SV_VERSION "dev"
#endif

bool sv_http_has_header(const sv_http_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return true;
    return false;
}

static bool valid_header(const sv_http_header_t *h)
{
    if (h->name[0] == '\0')
        return false;
    for (const char *c = h->name; *c; c++)
        if (!isgraph((unsigned char)*c) || *c == ':')
            return false;
    for (const char *c = h->value; *c; c++)
        if (*c == '\r' || *c == '\n')
            return false;
    return true;
}

static bool method_sends_length(const char *method)
{
    return strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0 ||
           strcmp(method, "PATCH") == 0;
}

int sv_http_request_init(sv_http_request_t *r, const char *method, const char *url,
                         const sv_http_header_t *headers, size_t n_headers, const char *body,
                         size_t body_len, const char **why)
{
    *r = (sv_http_request_t){0};
    for (const char *c = method; *c; c++)
        if (!isupper((unsigned char)*c) && *c != '-' && *c != '_') {
            *why = "invalid method (expected an upper-case token such as GET or POST)";
            return SV_EPARSE;
        }
    if (*method == '\0') {
        *why = "empty method";
        return SV_EPARSE;
    }
    for (size_t i = 0; i < n_headers; i++)
        if (!valid_header(&headers[i])) {
            *why = "invalid header (expected \"Name: value\" without line breaks)";
            return SV_EPARSE;
        }
    if (sv_url_parse(&r->url, url, why) != 0)
        return SV_EPARSE;
    r->method = sv_xstrdup(method);
    r->is_head = strcmp(method, "HEAD") == 0;
    sv_buf_init(&r->wire, SIZE_MAX);
    sv_buf_printf(&r->wire, "%s %s HTTP/1.1\r\n", method, r->url.target);
    if (!sv_http_has_header(headers, n_headers, "Host"))
        sv_buf_printf(&r->wire, "Host: %s\r\n", r->url.authority);
    if (!sv_http_has_header(headers, n_headers, "User-Agent"))
        sv_buf_printf(&r->wire, "User-Agent: salvo/%s\r\n", SV_VERSION);
    if (r->url.userinfo && !sv_http_has_header(headers, n_headers, "Authorization")) {
        sv_buf_printf(&r->wire, "Authorization: Basic ");
        sv_base64_encode(&r->wire, r->url.userinfo, strlen(r->url.userinfo), SV_B64_STD);
        sv_buf_printf(&r->wire, "\r\n");
    }
    for (size_t i = 0; i < n_headers; i++) {
        if (headers[i].value[0] == '\0' && strcasecmp(headers[i].name, "User-Agent") == 0)
            continue; /* userAgent = "": send none, as k6 */
        sv_buf_printf(&r->wire, "%s: %s\r\n", headers[i].name, headers[i].value);
    }
    if ((body_len > 0 || method_sends_length(method)) &&
        !sv_http_has_header(headers, n_headers, "Content-Length"))
        sv_buf_printf(&r->wire, "Content-Length: %zu\r\n", body_len);
    sv_buf_append(&r->wire, "\r\n", 2);
    if (body_len)
        sv_buf_append(&r->wire, body, body_len);
    sv_h2_request_init(r);
    return 0;
}

void sv_http_request_free(sv_http_request_t *r)
{
    sv_url_free(&r->url);
    free(r->method);
    sv_buf_free(&r->wire);
    sv_h2_request_free(r);
}

/* Inflates `in` into `out` (bounded by out->max). window selects gzip/zlib/raw.
 * Concatenated gzip members are decoded one after another, as HTTP clients do. */
static int inflate_all(const sv_buf_t *in, sv_buf_t *out, int window)
{
    z_stream z = {0};
    if (inflateInit2(&z, window) != Z_OK)
        return SV_EPARSE;
    z.next_in = (Bytef *)in->data;
    z.avail_in = (uInt)in->len;
    int rc = 0;
    for (;;) {
        char scratch[1];
        size_t room = SV_MIN((size_t)16384, out->max - out->len);
        /* At the cap, a 1-byte probe tells "done" from "too big". */
        char *dst = room ? sv_buf_reserve(out, room) : scratch;
        size_t offered = room ? room : 1;
        z.next_out = (Bytef *)dst;
        z.avail_out = (uInt)offered;
        int zr = inflate(&z, Z_NO_FLUSH);
        size_t produced = offered - z.avail_out;
        if (room == 0 && produced > 0) {
            rc = SV_ETOOBIG;
            break;
        }
        out->len += room ? produced : 0;
        if (zr == Z_STREAM_END) {
            if (z.avail_in > 0 && window > MAX_WBITS && inflateReset(&z) == Z_OK)
                continue; /* another gzip member follows */
            break;
        }
        if ((zr != Z_OK && zr != Z_BUF_ERROR) || (zr == Z_BUF_ERROR && z.avail_in == 0) ||
            (z.avail_in == 0 && z.avail_out != 0)) {
            rc = SV_EPARSE; /* corrupt or truncated */
            break;
        }
    }
    inflateEnd(&z);
    return rc;
}

int sv_http_decode_body(sv_buf_t *body, sv_span_t content_encoding)
{
    bool gzip = sv_span_has_token(content_encoding, "gzip") ||
                sv_span_has_token(content_encoding, "x-gzip");
    if (!gzip && !sv_span_has_token(content_encoding, "deflate"))
        return 0;
    if (body->len == 0)
        return 0;
    /* "deflate" is zlib-wrapped by the spec, raw in some servers: try both. */
    int windows[2] = {gzip ? 16 + MAX_WBITS : MAX_WBITS, -MAX_WBITS};
    int rc = SV_EPARSE;
    for (int i = 0; i < (gzip ? 1 : 2) && rc == SV_EPARSE; i++) {
        sv_buf_t out;
        sv_buf_init(&out, body->max);
        rc = inflate_all(body, &out, windows[i]);
        if (rc == 0) {
            sv_buf_free(body);
            *body = out;
        } else {
            sv_buf_free(&out);
        }
    }
    return rc;
}

static uv_mutex_t debug_lock;
static uv_once_t debug_once = UV_ONCE_INIT;
static void debug_init(void)
{
    uv_mutex_init(&debug_lock);
}

void sv_http_debug_print(const sv_http_request_t *req, const sv_http_result_t *res, bool full)
{
    uv_once(&debug_once, debug_init);
    const char *wire = req->wire.data;
    size_t head_len = req->head_len;
    uv_mutex_lock(&debug_lock);
    fprintf(stderr, "Request:\n%.*s", (int)head_len, wire);
    if (full && req->wire.len > head_len)
        fprintf(stderr, "%.*s\n", (int)(req->wire.len - head_len), wire + head_len);
    if (res->error_code) {
        fprintf(stderr, "Response: error %d: %s\n\n", res->error_code, res->error);
    } else {
        if (res->http2 && res->head.len > 8) /* the head is written as HTTP/1.1 */
            fprintf(stderr, "Response:\nHTTP/2.0%.*s", (int)res->head.len - 8, res->head.data + 8);
        else
            fprintf(stderr, "Response:\n%.*s", (int)res->head.len, res->head.data);
        if (full && res->body.len)
            fprintf(stderr, "%.*s\n", (int)res->body.len, res->body.data);
        fputc('\n', stderr);
    }
    uv_mutex_unlock(&debug_lock);
}
