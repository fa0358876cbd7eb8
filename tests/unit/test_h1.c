/*
 * Unit tests for the HTTP/1.1 head parser and body decoder (src/http/h1.h).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>

#include "http/h1.h"

/* ---- helpers ------------------------------------------------------------------- */

#define S(lit) lit, sizeof(lit) - 1

static void assert_span(sv_span_t got, const char *want, const char *what)
{
    cr_assert(got.len == strlen(want) && memcmp(got.ptr, want, got.len) == 0,
              "%s: got \"%.*s\", want \"%s\"", what, (int)got.len, got.ptr ? got.ptr : "", want);
}

static int parse_response(const char *text, sv_h1_response_t *res)
{
    return sv_h1_parse_response(text, strlen(text), res);
}

/* Collected output of a body decoder. */
typedef struct {
    char data[65536];
    size_t len;
} sink_t;

/* Feeds one piece of input until it is used up, the body is done or an error occurs.
 * Returns the bytes of the piece consumed, or a negative error. Checks that decoded
 * data always lies inside the bytes consumed by that call. */
static int64_t feed_piece(sv_h1_body_t *b, const char *in, size_t len, sink_t *out)
{
    size_t off = 0;
    while (off < len && !b->done) {
        sv_span_t d;
        int64_t n = sv_h1_body_feed(b, in + off, len - off, &d);
        if (n < 0)
            return n;
        cr_assert_gt(n, 0, "decoder made no progress at offset %zu", off);
        cr_assert_leq((size_t)n, len - off);
        cr_assert(d.len == 0 || (d.ptr >= in + off && d.ptr + d.len <= in + off + (size_t)n),
                  "data outside the consumed bytes");
        cr_assert_leq(out->len + d.len, sizeof(out->data));
        memcpy(out->data + out->len, d.ptr, d.len);
        out->len += d.len;
        off += (size_t)n;
    }
    return (int64_t)off;
}

/* Feeds in split at the given cut points (ascending); returns the total consumed
 * or the first error. */
static int64_t feed_split(sv_h1_body_t *b, const char *in, size_t len, const size_t *cuts,
                          size_t n_cuts, sink_t *out)
{
    size_t start = 0, used = 0;
    for (size_t i = 0; i <= n_cuts; i++) {
        size_t end = i < n_cuts ? cuts[i] : len;
        int64_t n = feed_piece(b, in + start, end - start, out);
        if (n < 0)
            return n;
        used += (size_t)n;
        if (b->done)
            return (int64_t)used;
        cr_assert_eq((size_t)n, end - start, "decoder left input unused before the end");
        start = end;
    }
    return (int64_t)used;
}

static sv_h1_response_t parse_ok(const char *head)
{
    sv_h1_response_t res;
    int n = parse_response(head, &res);
    cr_assert_eq(n, (int)strlen(head), "parse of \"%s\" returned %d", head, n);
    return res;
}

static void init_body(sv_h1_body_t *b, const char *head, bool was_head)
{
    sv_h1_response_t res = parse_ok(head);
    sv_h1_body_init_response(b, &res, was_head);
}

/* Decodes a whole body given in one piece; expects it to complete. */
static void assert_body(const char *head, const char *body, size_t body_len, const char *want,
                        size_t want_used)
{
    sv_h1_body_t b;
    sink_t out = {.len = 0};
    init_body(&b, head, false);
    int64_t n = feed_split(&b, body, body_len, NULL, 0, &out);
    cr_assert_eq(n, (int64_t)want_used, "consumed %lld of %zu", (long long)n, body_len);
    cr_assert(b.done);
    cr_assert_eq(out.len, strlen(want));
    cr_assert_eq(memcmp(out.data, want, out.len), 0, "body \"%.*s\"", (int)out.len, out.data);
    cr_assert_eq(sv_h1_body_eof(&b), 0);
}

/* ---- response heads ------------------------------------------------------------ */

Test(h1_response, status_reason_and_headers)
{
    const char *text = "HTTP/1.1 200 OK\r\n"
                       "Content-Type: text/plain\r\n"
                       "X-Empty:\r\n"
                       "X-Spaces: \t padded value \t\r\n"
                       "Set-Cookie: a=1\r\n"
                       "set-cookie: b=2\r\n"
                       "\r\n"
                       "body";
    sv_h1_response_t res;
    int n = parse_response(text, &res);
    cr_assert_eq(n, (int)(strlen(text) - 4));
    cr_assert_eq(res.minor_version, 1);
    cr_assert_eq(res.status, 200);
    assert_span(res.reason, "OK", "reason");
    cr_assert_eq(res.num_headers, 5);
    assert_span(res.headers[0].name, "Content-Type", "name 0");
    assert_span(res.headers[0].value, "text/plain", "value 0");
    assert_span(res.headers[1].name, "X-Empty", "name 1");
    assert_span(res.headers[1].value, "", "value 1");
    assert_span(res.headers[2].value, "padded value", "value 2");
    assert_span(res.headers[4].name, "set-cookie", "name 4");
    /* Spans point into the caller's buffer. */
    cr_assert(res.headers[0].name.ptr > text && res.headers[0].name.ptr < text + n);
    cr_assert_eq(res.framing.content_length, -1);
    cr_assert_not(res.framing.chunked);
    cr_assert_not(res.framing.connection_close);
    cr_assert_not(res.framing.connection_keep_alive);

    assert_span(sv_h1_find_header(res.headers, res.num_headers, "content-type"), "text/plain",
                "find");
    assert_span(sv_h1_find_header(res.headers, res.num_headers, "SET-COOKIE"), "a=1",
                "first of two");
    sv_span_t none = sv_h1_find_header(res.headers, res.num_headers, "Content-Length");
    cr_assert_null(none.ptr);
    cr_assert_eq(none.len, 0);
}

Test(h1_response, reason_phrases_and_versions)
{
    sv_h1_response_t res = parse_ok("HTTP/1.0 404 Not Found Here\r\n\r\n");
    cr_assert_eq(res.minor_version, 0);
    cr_assert_eq(res.status, 404);
    assert_span(res.reason, "Not Found Here", "reason");
    cr_assert_eq(res.num_headers, 0);

    res = parse_ok("HTTP/1.1 204\r\n\r\n"); /* the reason phrase is optional */
    cr_assert_eq(res.status, 204);
    assert_span(res.reason, "", "empty reason");

    res = parse_ok("HTTP/1.1 503 \r\n\r\n");
    cr_assert_eq(res.status, 503);
    assert_span(res.reason, "", "blank reason");

    res = parse_ok("HTTP/1.1 999 Custom\r\n\r\n");
    cr_assert_eq(res.status, 999);
    res = parse_ok("HTTP/1.1 100 Continue\r\n\r\n");
    cr_assert_eq(res.status, 100);
}

Test(h1_response, framing_headers)
{
    sv_h1_response_t res = parse_ok("HTTP/1.1 200 OK\r\ncontent-length: 42\r\n"
                                    "Connection: keep-alive\r\n\r\n");
    cr_assert_eq(res.framing.content_length, 42);
    cr_assert(res.framing.connection_keep_alive);
    cr_assert_not(res.framing.connection_close);

    res = parse_ok("HTTP/1.1 200 OK\r\nTRANSFER-ENCODING: Chunked\r\nConnection: Upgrade, Close"
                   "\r\n\r\n");
    cr_assert(res.framing.chunked);
    cr_assert(res.framing.connection_close);

    /* The same Content-Length twice is not a conflict. */
    res = parse_ok("HTTP/1.1 200 OK\r\nContent-Length: 7\r\nContent-Length: 7\r\n\r\n");
    cr_assert_eq(res.framing.content_length, 7);

    res = parse_ok("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    cr_assert_eq(res.framing.content_length, 0);
}

Test(h1_response, bare_lf_line_endings)
{
    const char *text = "HTTP/1.1 201 Created\nContent-Length: 3\nX-A: b\n\nabc";
    sv_h1_response_t res;
    int n = parse_response(text, &res);
    cr_assert_eq(n, (int)strlen(text) - 3);
    cr_assert_eq(res.status, 201);
    assert_span(res.reason, "Created", "reason");
    cr_assert_eq(res.num_headers, 2);
    assert_span(res.headers[0].value, "3", "value");
    assert_span(res.headers[1].name, "X-A", "name");
    assert_span(res.headers[1].value, "b", "no stray CR");
    cr_assert_eq(res.framing.content_length, 3);

    /* Mixed: CRLF lines ending with a bare LF blank line, and the reverse. */
    parse_ok("HTTP/1.1 200 OK\r\nA: b\r\n\n");
    parse_ok("HTTP/1.1 200 OK\nA: b\n\r\n");
}

static void check_every_split(const char *head)
{
    size_t len = strlen(head);
    char *copy = malloc(len); /* no NUL after the prefix: catches reads past len */
    for (size_t cut = 0; cut < len; cut++) {
        memcpy(copy, head, cut);
        sv_h1_response_t res;
        int rc = sv_h1_parse_response(copy, cut, &res);
        cr_assert_eq(rc, SV_EAGAIN, "prefix of %zu bytes returned %d", cut, rc);
    }
    memcpy(copy, head, len);
    sv_h1_response_t res;
    cr_assert_eq(sv_h1_parse_response(copy, len, &res), (int)len);
    free(copy);
}

Test(h1_response, need_more_at_every_split_point)
{
    check_every_split("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nConnection: keep-alive\r\n"
                      "X-Long-Header-Name: some longer value, with, commas\r\n\r\n");
    check_every_split("HTTP/1.0 304 Not Modified\nETag: \"x\"\n\n");
    check_every_split("HTTP/1.1 204\r\n\r\n");
}

Test(h1_response, head_followed_by_body_bytes)
{
    const char *text = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi\r\n\r\nHTTP/1.1";
    sv_h1_response_t res;
    cr_assert_eq(parse_response(text, &res), (int)(strstr(text, "hi") - text));
}

static void assert_malformed(const char *text)
{
    sv_h1_response_t res;
    int rc = parse_response(text, &res);
    cr_assert_eq(rc, SV_EPARSE, "accepted \"%s\" (rc %d)", text, rc);
}

Test(h1_response, bad_status_lines)
{
    assert_malformed("HTTP/1.1 20 OK\r\n\r\n");
    assert_malformed("HTTP/1.1 2000 OK\r\n\r\n");
    assert_malformed("HTTP/1.1 abc OK\r\n\r\n");
    assert_malformed("HTTP/1.1 2x0 OK\r\n\r\n");
    assert_malformed("HTTP/1.1  200 OK\r\n\r\n");
    assert_malformed("HTTP/1.1 200OK\r\n\r\n");
    assert_malformed("HTTP/1.1 099 Low\r\n\r\n");
    assert_malformed("HTTP/1.1 -20 OK\r\n\r\n");
    assert_malformed("HTTP/1.1\r\n\r\n");
    assert_malformed("HTTP/1.1 \r\n\r\n");
    assert_malformed("HTTP/1.1 20\r\n\r\n");
    assert_malformed("HTTP/1.1\t200 OK\r\n\r\n");
}

Test(h1_response, bad_versions)
{
    assert_malformed("HTTP/2.0 200 OK\r\n\r\n");
    assert_malformed("HTTP/1.x 200 OK\r\n\r\n");
    assert_malformed("HTTP/1.10 200 OK\r\n\r\n");
    assert_malformed("HTTP/1 200 OK\r\n\r\n");
    assert_malformed("HTTP/11 200 OK\r\n\r\n");
    assert_malformed("http/1.1 200 OK\r\n\r\n");
    assert_malformed("HTTPS/1.1 200 OK\r\n\r\n");
    assert_malformed("ICY 200 OK\r\n\r\n");
}

Test(h1_response, bad_headers)
{
    assert_malformed("HTTP/1.1 200 OK\r\nBad Name: x\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nName : x\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nNoColon\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\n: no name\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nX-A: a\r\n  folded\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nX-A: a\r\n\tfolded\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\n first: x\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nX(y): z\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nX-A: a\x01"
                     "b\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nX-A: a\rb\r\n\r\n");
}

Test(h1_response, header_count_limit)
{
    char buf[8192];
    for (int count = SV_H1_MAX_HEADERS; count <= SV_H1_MAX_HEADERS + 1; count++) {
        size_t len = (size_t)snprintf(buf, sizeof(buf), "HTTP/1.1 200 OK\r\n");
        for (int i = 0; i < count; i++)
            len += (size_t)snprintf(buf + len, sizeof(buf) - len, "X-H%d: v%d\r\n", i, i);
        len += (size_t)snprintf(buf + len, sizeof(buf) - len, "\r\n");
        sv_h1_response_t res;
        int rc = sv_h1_parse_response(buf, len, &res);
        if (count <= SV_H1_MAX_HEADERS) {
            cr_assert_eq(rc, (int)len);
            cr_assert_eq(res.num_headers, (size_t)count);
            assert_span(res.headers[count - 1].value, "v63", "last header");
        } else {
            cr_assert_eq(rc, SV_EPARSE, "%d headers accepted", count);
        }
    }
}

Test(h1_response, bad_content_length)
{
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: 5a\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: +5\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: 0x10\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: 1 2\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length:\r\n\r\n");
    assert_malformed("HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n");
}

Test(h1_response, garbage_fails_without_waiting_for_a_blank_line)
{
    assert_malformed("garbage");
    assert_malformed("X");
    assert_malformed("<html><body>hello");
    assert_malformed("SSH-2.0-OpenSSH_9.2\r\n");
    assert_malformed("\r\n\r\n");
    assert_malformed("FOO 200 OK\r\n\r\n");
    assert_malformed("HTTX/1.1 200 OK\r\n");
    /* A prefix of "HTTP/" is not garbage yet. */
    sv_h1_response_t res;
    cr_assert_eq(sv_h1_parse_response(S("HTT"), &res), SV_EAGAIN);
    cr_assert_eq(sv_h1_parse_response("", 0, &res), SV_EAGAIN);
}

/* ---- keep-alive ---------------------------------------------------------------- */

static bool keep_alive_of(const char *head)
{
    sv_h1_response_t res = parse_ok(head);
    return sv_h1_keep_alive(res.minor_version, &res.framing);
}

Test(h1_keep_alive, rules)
{
    cr_assert(keep_alive_of("HTTP/1.1 200 OK\r\n\r\n"));
    cr_assert(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n\r\n"));
    cr_assert_not(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n"));
    cr_assert_not(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: CLOSE\r\n\r\n"));
    cr_assert_not(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: te, close\r\n\r\n"));
    cr_assert_not(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: keep-alive\r\n"
                                "Connection: close\r\n\r\n"));
    cr_assert(keep_alive_of("HTTP/1.1 200 OK\r\nConnection: closed\r\n\r\n"));
    cr_assert_not(keep_alive_of("HTTP/1.0 200 OK\r\n\r\n"));
    cr_assert(keep_alive_of("HTTP/1.0 200 OK\r\nConnection: keep-alive\r\n\r\n"));
    cr_assert(keep_alive_of("HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\n\r\n"));
    cr_assert_not(keep_alive_of("HTTP/1.0 200 OK\r\nConnection: keep-alive, close\r\n\r\n"));
}

/* ---- response bodies ----------------------------------------------------------- */

Test(h1_body, content_length)
{
    assert_body("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", S("hello"), "hello", 5);
    /* Bytes after the body belong to the next response. */
    assert_body("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", S("helloHTTP/1.1"), "hello", 5);
}

Test(h1_body, content_length_split_everywhere)
{
    const char *body = "0123456789abcdefghij";
    size_t len = strlen(body);
    for (size_t a = 0; a <= len; a++) {
        for (size_t c = a; c <= len; c++) {
            sv_h1_body_t b;
            sink_t out = {.len = 0};
            init_body(&b, "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\n", false);
            size_t cuts[] = {a, c};
            cr_assert_eq(feed_split(&b, body, len, cuts, 2, &out), (int64_t)len);
            cr_assert(b.done);
            cr_assert_eq(out.len, len);
            cr_assert_eq(memcmp(out.data, body, len), 0);
        }
    }
}

Test(h1_body, content_length_cut_short)
{
    sv_h1_body_t b;
    sink_t out = {.len = 0};
    init_body(&b, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", false);
    cr_assert_eq(feed_split(&b, S("12345"), NULL, 0, &out), 5);
    cr_assert_not(b.done);
    cr_assert_eq(sv_h1_body_eof(&b), SV_EPARSE);
}

Test(h1_body, no_body_cases)
{
    const char *heads[] = {
        "HTTP/1.1 204 No Content\r\n\r\n",
        "HTTP/1.1 204 No Content\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
        "HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 100 Continue\r\n\r\n",
        "HTTP/1.1 101 Switching Protocols\r\n\r\n",
        "HTTP/1.1 199 Whatever\r\nContent-Length: 3\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(heads); i++) {
        sv_h1_body_t b;
        init_body(&b, heads[i], false);
        cr_assert(b.done, "%s", heads[i]);
        sv_span_t d;
        cr_assert_eq(sv_h1_body_feed(&b, S("HTTP/1.1 200 OK\r\n"), &d), 0, "%s", heads[i]);
        cr_assert_eq(d.len, 0);
        cr_assert_eq(sv_h1_body_eof(&b), 0);
    }
    /* HEAD: whatever the headers announce, nothing follows. */
    const char *for_head[] = {
        "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
        "HTTP/1.1 200 OK\r\n\r\n",
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(for_head); i++) {
        sv_h1_body_t b;
        init_body(&b, for_head[i], true);
        cr_assert(b.done, "HEAD %s", for_head[i]);
        cr_assert_eq(b.mode, SV_H1_BODY_NONE);
        sv_span_t d;
        cr_assert_eq(sv_h1_body_feed(&b, S("xyz"), &d), 0);
        cr_assert_eq(sv_h1_body_eof(&b), 0);
    }
}

Test(h1_body, close_delimited)
{
    sv_h1_body_t b;
    sink_t out = {.len = 0};
    init_body(&b, "HTTP/1.1 200 OK\r\n\r\n", false);
    cr_assert_eq(b.mode, SV_H1_BODY_UNTIL_CLOSE);
    cr_assert_not(b.done);
    cr_assert_eq(feed_split(&b, S("first "), NULL, 0, &out), 6);
    cr_assert_eq(feed_split(&b, S("second"), NULL, 0, &out), 6);
    cr_assert_not(b.done);
    cr_assert_eq(sv_h1_body_eof(&b), 0);
    cr_assert(b.done);
    cr_assert_eq(out.len, 12);
    cr_assert_eq(memcmp(out.data, "first second", 12), 0);

    /* HTTP/1.0 without a length is the classic case. */
    init_body(&b, "HTTP/1.0 200 OK\r\n\r\n", false);
    cr_assert_eq(b.mode, SV_H1_BODY_UNTIL_CLOSE);
    cr_assert_eq(sv_h1_body_eof(&b), 0);
}

Test(h1_body, other_transfer_encoding_reads_until_close)
{
    const char *heads[] = {
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\nContent-Length: 4\r\n\r\n",
        "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: identity\r\n\r\n",
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(heads); i++) {
        sv_h1_body_t b;
        sink_t out = {.len = 0};
        init_body(&b, heads[i], false);
        cr_assert_eq(b.mode, SV_H1_BODY_UNTIL_CLOSE, "%s", heads[i]);
        cr_assert_eq(feed_split(&b, S("0123456789"), NULL, 0, &out), 10);
        cr_assert_not(b.done);
        cr_assert_eq(sv_h1_body_eof(&b), 0);
        cr_assert_eq(out.len, 10);
    }
}

Test(h1_body, chunked_not_last_reads_until_close)
{
    /* RFC 9112 §6.3: chunked frames the body only as the final coding; otherwise a
     * response is read until close (here the body is gzip data after chunking). */
    sv_h1_body_t b;
    init_body(&b, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", false);
    cr_assert_eq(b.mode, SV_H1_BODY_UNTIL_CLOSE);
}

Test(h1_body, chunked_wins_over_content_length)
{
    static const char body[] = "3\r\nabc\r\n0\r\n\r\n";
    assert_body("HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n",
                S(body), "abc", sizeof(body) - 1);
}

static const char chunked_body[] = "4\r\nWiki\r\n"
                                   "6;name=value;x=\"q\"\r\npedia \r\n"
                                   "E\r\nin \r\n\r\nchunks.\r\n"
                                   "1A\r\nabcdefghijklmnopqrstuvwxyz\r\n"
                                   "0\r\n"
                                   "X-Trailer: yes\r\n"
                                   "X-Other: 1\r\n"
                                   "\r\n";
static const char chunked_data[] = "Wikipedia in \r\n\r\nchunks.abcdefghijklmnopqrstuvwxyz";

#define CHUNKED_HEAD "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"

static void check_chunked_cuts(const char *in, size_t len, const size_t *cuts, size_t n_cuts,
                               const char *want, size_t want_used)
{
    sv_h1_body_t b;
    sink_t out = {.len = 0};
    init_body(&b, CHUNKED_HEAD, false);
    int64_t used = feed_split(&b, in, len, cuts, n_cuts, &out);
    cr_assert_eq(used, (int64_t)want_used, "cuts at %zu: consumed %lld", n_cuts ? cuts[0] : 0,
                 (long long)used);
    cr_assert(b.done);
    cr_assert_eq(out.len, strlen(want));
    cr_assert_eq(memcmp(out.data, want, out.len), 0, "got \"%.*s\"", (int)out.len, out.data);
    cr_assert_eq(sv_h1_body_eof(&b), 0);
}

Test(h1_body, chunked_whole)
{
    check_chunked_cuts(S(chunked_body), NULL, 0, chunked_data, sizeof(chunked_body) - 1);
    /* Trailing bytes (the next response) are left alone. */
    char buf[512];
    int n = snprintf(buf, sizeof(buf), "%sHTTP/1.1 200 OK\r\n", chunked_body);
    check_chunked_cuts(buf, (size_t)n, NULL, 0, chunked_data, sizeof(chunked_body) - 1);
}

Test(h1_body, chunked_split_at_every_byte_boundary)
{
    size_t len = sizeof(chunked_body) - 1;
    for (size_t cut = 0; cut <= len; cut++)
        check_chunked_cuts(chunked_body, len, &cut, 1, chunked_data, len);
    /* And one byte at a time. */
    size_t *all = malloc(len * sizeof(*all));
    for (size_t i = 0; i < len; i++)
        all[i] = i + 1;
    check_chunked_cuts(chunked_body, len, all, len - 1, chunked_data, len);
    free(all);
}

Test(h1_body, chunked_split_at_every_pair_of_boundaries)
{
    size_t len = sizeof(chunked_body) - 1;
    for (size_t a = 0; a <= len; a++)
        for (size_t c = a; c <= len; c++) {
            size_t cuts[] = {a, c};
            check_chunked_cuts(chunked_body, len, cuts, 2, chunked_data, len);
        }
}

Test(h1_body, chunked_generated_payloads)
{
    /* Encode a known payload with many chunk sizes (lower and upper case hex), then
     * decode it one byte at a time. */
    char payload[3000];
    for (size_t i = 0; i < sizeof(payload); i++)
        payload[i] = (char)('!' + (i * 7) % 90);
    static char wire[8000];
    size_t sizes[] = {1, 15, 16, 255, 256, 300, 1000, 1157};
    size_t wlen = 0, off = 0;
    for (size_t i = 0; i < SV_ARRAY_SIZE(sizes); i++) {
        wlen += (size_t)snprintf(wire + wlen, sizeof(wire) - wlen, i % 2 ? "%zX\r\n" : "%zx\r\n",
                                 sizes[i]);
        memcpy(wire + wlen, payload + off, sizes[i]);
        wlen += sizes[i];
        off += sizes[i];
        memcpy(wire + wlen, "\r\n", 2);
        wlen += 2;
    }
    cr_assert_eq(off, sizeof(payload));
    memcpy(wire + wlen, "0\r\n\r\n", 5);
    wlen += 5;

    sv_h1_body_t b;
    sink_t out = {.len = 0};
    init_body(&b, CHUNKED_HEAD, false);
    for (size_t i = 0; i < wlen; i++) {
        int64_t n = feed_piece(&b, wire + i, 1, &out);
        cr_assert_eq(n, 1, "byte %zu: %lld", i, (long long)n);
    }
    cr_assert(b.done);
    cr_assert_eq(out.len, sizeof(payload));
    cr_assert_eq(memcmp(out.data, payload, sizeof(payload)), 0);
}

Test(h1_body, chunked_hex_digits)
{
    static const char upper[] = "A\r\n0123456789\r\n0\r\n\r\n";
    static const char lower[] = "a\r\n0123456789\r\n0\r\n\r\n";
    static const char zeros[] = "000a\r\n0123456789\r\n000\r\n\r\n";
    static const char mixed[] = "1f\r\n0123456789012345678901234567890\r\n0\r\n\r\n";
    check_chunked_cuts(S(upper), NULL, 0, "0123456789", sizeof(upper) - 1);
    check_chunked_cuts(S(lower), NULL, 0, "0123456789", sizeof(lower) - 1);
    check_chunked_cuts(S(zeros), NULL, 0, "0123456789", sizeof(zeros) - 1);
    check_chunked_cuts(S(mixed), NULL, 0, "0123456789012345678901234567890", sizeof(mixed) - 1);
}

Test(h1_body, chunked_bare_lf)
{
    static const char body[] = "3\nabc\n2;x\nde\n0\nT: 1\n\n";
    check_chunked_cuts(S(body), NULL, 0, "abcde", sizeof(body) - 1);
}

Test(h1_body, chunked_empty_body)
{
    static const char body[] = "0\r\n\r\n";
    check_chunked_cuts(S(body), NULL, 0, "", sizeof(body) - 1);
}

static void assert_chunked_malformed(const char *in, size_t len)
{
    /* Whole, and one byte at a time: both must fail. */
    for (int bytewise = 0; bytewise < 2; bytewise++) {
        sv_h1_body_t b;
        sink_t out = {.len = 0};
        init_body(&b, CHUNKED_HEAD, false);
        int64_t rc = 0;
        if (bytewise) {
            for (size_t i = 0; i < len && rc >= 0 && !b.done; i++)
                rc = feed_piece(&b, in + i, 1, &out);
        } else {
            rc = feed_piece(&b, in, len, &out);
        }
        cr_assert_eq(rc, SV_EPARSE, "accepted \"%.*s\" (%s)", (int)len, in,
                     bytewise ? "bytewise" : "whole");
        cr_assert_not(b.done);
    }
}

Test(h1_body, chunked_malformed)
{
    assert_chunked_malformed(S("g\r\nabc\r\n0\r\n\r\n"));           /* not hex */
    assert_chunked_malformed(S("\r\nabc\r\n0\r\n\r\n"));            /* empty size */
    assert_chunked_malformed(S("-1\r\n"));                          /* sign */
    assert_chunked_malformed(S(" 3\r\nabc\r\n0\r\n\r\n"));          /* leading space */
    assert_chunked_malformed(S("0x3\r\nabc\r\n0\r\n\r\n"));         /* C prefix */
    assert_chunked_malformed(S("3\r\nabcX\r\n0\r\n\r\n"));          /* data longer than size */
    assert_chunked_malformed(S("3\r\nabc\rX0\r\n\r\n"));            /* CR without LF */
    assert_chunked_malformed(S("3\r\nabc0\r\n\r\n"));               /* no CRLF after data */
    assert_chunked_malformed(S("3\r\nabc\r\n\r\n"));                /* blank size line */
    assert_chunked_malformed(S("10000000000000000\r\n"));           /* 2^64 wraps to 0 */
    assert_chunked_malformed(S("FFFFFFFFFFFFFFFFF\r\n"));           /* 17 digits */
    assert_chunked_malformed(S("100000000000000000000000005\r\n")); /* way too big */
}

Test(h1_body, chunked_cut_short)
{
    static const char *cut[] = {"",
                                "3",
                                "3\r\n",
                                "3\r\nab",
                                "3\r\nabc\r\n",
                                "3\r\nabc\r\n0\r\n",
                                "3\r\nabc\r\n0\r\nT: x\r\n"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(cut); i++) {
        sv_h1_body_t b;
        sink_t out = {.len = 0};
        init_body(&b, CHUNKED_HEAD, false);
        cr_assert_eq(feed_piece(&b, cut[i], strlen(cut[i]), &out), (int64_t)strlen(cut[i]));
        cr_assert_not(b.done, "\"%s\" completed the body", cut[i]);
        cr_assert_eq(sv_h1_body_eof(&b), SV_EPARSE, "\"%s\" then EOF", cut[i]);
    }
}

/* ---- requests ------------------------------------------------------------------ */

Test(h1_request, line_and_headers)
{
    const char *text = "POST /upload/file?x=1&y=%20 HTTP/1.1\r\n"
                       "Host: example.com\r\n"
                       "Content-Length: 11\r\n"
                       "\r\n"
                       "hello world";
    sv_h1_request_t req;
    int n = sv_h1_parse_request(text, strlen(text), &req);
    cr_assert_eq(n, (int)strlen(text) - 11);
    assert_span(req.method, "POST", "method");
    assert_span(req.target, "/upload/file?x=1&y=%20", "target");
    cr_assert_eq(req.minor_version, 1);
    cr_assert_eq(req.num_headers, 2);
    assert_span(req.headers[0].name, "Host", "name");
    assert_span(req.headers[0].value, "example.com", "value");
    cr_assert_eq(req.framing.content_length, 11);

    sv_h1_body_t b;
    sink_t out = {.len = 0};
    sv_h1_body_init_request(&b, &req);
    cr_assert_eq(b.mode, SV_H1_BODY_LENGTH);
    cr_assert_eq(feed_split(&b, text + n, 11, NULL, 0, &out), 11);
    cr_assert(b.done);
    cr_assert_eq(memcmp(out.data, "hello world", 11), 0);
}

Test(h1_request, versions_and_methods)
{
    sv_h1_request_t req;
    const char *t1 = "GET * HTTP/1.0\n\n";
    cr_assert_eq(sv_h1_parse_request(t1, strlen(t1), &req), (int)strlen(t1));
    assert_span(req.method, "GET", "method");
    assert_span(req.target, "*", "target");
    cr_assert_eq(req.minor_version, 0);
    cr_assert_eq(req.num_headers, 0);

    const char *t2 = "M-SEARCH http://h:1/p HTTP/1.1\r\nA: b\r\n\r\n";
    cr_assert_eq(sv_h1_parse_request(t2, strlen(t2), &req), (int)strlen(t2));
    assert_span(req.method, "M-SEARCH", "method");
    assert_span(req.target, "http://h:1/p", "target");
}

Test(h1_request, no_body_without_framing)
{
    const char *text = "GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /next HTTP/1.1\r\n";
    sv_h1_request_t req;
    int n = sv_h1_parse_request(text, strlen(text), &req);
    cr_assert_eq(n, (int)(strstr(text, "GET /next") - text));
    sv_h1_body_t b;
    sv_h1_body_init_request(&b, &req);
    cr_assert(b.done);
    cr_assert_eq(b.mode, SV_H1_BODY_NONE);
    sv_span_t d;
    cr_assert_eq(sv_h1_body_feed(&b, text + n, strlen(text + n), &d), 0);
}

Test(h1_request, chunked_body)
{
    const char *text = "PUT /x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                       "5\r\nhello\r\n7;ext\r\n, world\r\n0\r\n\r\nNEXT";
    sv_h1_request_t req;
    int n = sv_h1_parse_request(text, strlen(text), &req);
    cr_assert_gt(n, 0);
    cr_assert(req.framing.chunked);
    size_t body_len = strlen(text + n);
    for (size_t cut = 0; cut <= body_len; cut++) {
        sv_h1_body_t b;
        sink_t out = {.len = 0};
        sv_h1_body_init_request(&b, &req);
        cr_assert_eq(b.mode, SV_H1_BODY_CHUNKED);
        int64_t used = feed_split(&b, text + n, body_len, &cut, 1, &out);
        cr_assert_eq(used, (int64_t)(body_len - 4), "cut %zu", cut);
        cr_assert(b.done);
        cr_assert_eq(out.len, 12);
        cr_assert_eq(memcmp(out.data, "hello, world", 12), 0);
    }
}

Test(h1_request, unknown_transfer_encoding_rejected)
{
    sv_h1_request_t req;
    const char *bad[] = {
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\nContent-Length: 3\r\n\r\n",
        "POST / HTTP/1.1\r\nTransfer-Encoding: identity\r\n\r\n",
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++)
        cr_assert_eq(sv_h1_parse_request(bad[i], strlen(bad[i]), &req), SV_EPARSE, "%s", bad[i]);
}

Test(h1_request, chunked_not_last_rejected)
{
    /* RFC 9112 §6.3: a request whose Transfer-Encoding does not end in chunked has
     * no determinable length and must be rejected. */
    const char *text = "POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n";
    sv_h1_request_t req;
    cr_assert_eq(sv_h1_parse_request(text, strlen(text), &req), SV_EPARSE);
}

Test(h1_request, malformed)
{
    const char *bad[] = {
        "GET  / HTTP/1.1\r\n\r\n",
        " GET / HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1 extra\r\n\r\n",
        "GET /\r\n\r\n",
        "GET\r\n\r\n",
        "GET / HTTP/2.0\r\n\r\n",
        "GET / http/1.1\r\n\r\n",
        "G(T / HTTP/1.1\r\n\r\n",
        "GET /a\x01z HTTP/1.1\r\n\r\n",
        "GET / HTTP/1.1\r\nBad Header: x\r\n\r\n",
        "GET / HTTP/1.1\r\nA: b\r\n folded\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
        "POST / HTTP/1.1\r\nContent-Length: x\r\n\r\n",
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        sv_h1_request_t req;
        int rc = sv_h1_parse_request(bad[i], strlen(bad[i]), &req);
        cr_assert_eq(rc, SV_EPARSE, "accepted \"%s\" (rc %d)", bad[i], rc);
    }
}

Test(h1_request, need_more_at_every_split_point)
{
    const char *text = "GET /path?q=1 HTTP/1.1\r\nHost: example.com\r\nAccept: */*\r\n\r\n";
    size_t len = strlen(text);
    char *copy = malloc(len);
    memcpy(copy, text, len);
    for (size_t cut = 0; cut < len; cut++) {
        sv_h1_request_t req;
        cr_assert_eq(sv_h1_parse_request(copy, cut, &req), SV_EAGAIN, "prefix %zu", cut);
    }
    sv_h1_request_t req;
    cr_assert_eq(sv_h1_parse_request(copy, len, &req), (int)len);
    free(copy);
}

Test(h1_response, control_characters_in_reason_rejected)
{
    const char *bad[] = {"HTTP/1.1 200 O\rK\r\n\r\n", "HTTP/1.1 200 O\x01K\r\n\r\n",
                         "HTTP/1.1 200 O\x7fK\r\n\r\n"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        sv_h1_response_t res;
        cr_assert_eq(sv_h1_parse_response(bad[i], strlen(bad[i]), &res), SV_EPARSE, "case %zu", i);
    }
    sv_h1_response_t res;
    const char *tab = "HTTP/1.1 200 O\tK\r\n\r\n";
    cr_assert_gt(sv_h1_parse_response(tab, strlen(tab), &res), 0, "a tab is allowed");
}
