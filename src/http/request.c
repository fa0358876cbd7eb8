/*
 * Prepared requests (built once, sent many times) and body content decoding.
 */
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <zlib.h>

#include "client.h"

#ifndef SV_VERSION
#define SV_VERSION "dev"
#endif

static bool has_header(const sv_http_header_t *h, size_t n, const char *name)
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
    *r = (sv_http_request_t){.timeout_ns = 60ULL * 1000000000ULL};
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
    if (!has_header(headers, n_headers, "Host"))
        sv_buf_printf(&r->wire, "Host: %s\r\n", r->url.authority);
    if (!has_header(headers, n_headers, "User-Agent"))
        sv_buf_printf(&r->wire, "User-Agent: salvo/%s\r\n", SV_VERSION);
    for (size_t i = 0; i < n_headers; i++)
        sv_buf_printf(&r->wire, "%s: %s\r\n", headers[i].name, headers[i].value);
    if ((body_len > 0 || method_sends_length(method)) &&
        !has_header(headers, n_headers, "Content-Length"))
        sv_buf_printf(&r->wire, "Content-Length: %zu\r\n", body_len);
    sv_buf_append(&r->wire, "\r\n", 2);
    if (body_len)
        sv_buf_append(&r->wire, body, body_len);
    return 0;
}

void sv_http_request_free(sv_http_request_t *r)
{
    sv_url_free(&r->url);
    free(r->method);
    sv_buf_free(&r->wire);
}

int sv_http_decode_body(sv_buf_t *body, sv_span_t content_encoding)
{
    int window;
    if (sv_span_has_token(content_encoding, "gzip") || sv_span_has_token(content_encoding, "x-gzip"))
        window = 16 + MAX_WBITS;
    else if (sv_span_has_token(content_encoding, "deflate"))
        window = MAX_WBITS; /* zlib-wrapped; raw deflate retried below */
    else
        return 0;
    if (body->len == 0)
        return 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        z_stream z = {0};
        if (inflateInit2(&z, attempt ? -MAX_WBITS : window) != Z_OK)
            return SV_EPARSE;
        sv_buf_t out;
        sv_buf_init(&out, body->max);
        z.next_in = (Bytef *)body->data;
        z.avail_in = (uInt)body->len;
        int zr = Z_OK, rc = 0;
        while (zr != Z_STREAM_END) {
            char *dst = sv_buf_reserve(&out, 16384);
            if (dst == NULL) {
                rc = SV_ETOOBIG;
                break;
            }
            z.next_out = (Bytef *)dst;
            z.avail_out = 16384;
            zr = inflate(&z, Z_NO_FLUSH);
            out.len += 16384 - z.avail_out;
            if (zr != Z_OK && zr != Z_STREAM_END) {
                rc = SV_EPARSE;
                break;
            }
            if (zr == Z_OK && z.avail_in == 0 && z.avail_out != 0) {
                rc = SV_EPARSE; /* truncated stream */
                break;
            }
        }
        inflateEnd(&z);
        if (rc == 0) {
            sv_buf_free(body);
            *body = out;
            return 0;
        }
        sv_buf_free(&out);
        if (rc == SV_ETOOBIG || window != MAX_WBITS)
            return rc;
    }
    return SV_EPARSE;
}
