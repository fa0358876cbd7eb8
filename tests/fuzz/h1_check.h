/*
 * Invariants shared by the HTTP/1.1 fuzz drivers: spans stay inside the head,
 * names are RFC 9110 tokens, and the body decoder gives the same result however
 * its input is split. Header-only because each driver is built from one file.
 */
#ifndef SV_FUZZ_H1_CHECK_H
#define SV_FUZZ_H1_CHECK_H

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/h1.h"

/* Traps rather than aborts so libFuzzer reports the input as a crash. */
#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static bool span_inside(sv_span_t s, const char *start, size_t len)
{
    return s.ptr >= start && s.len <= len && (size_t)(s.ptr - start) <= len - s.len;
}

/* tchar from RFC 9110 §5.6.2, written out independently of the parser's own test. */
static bool is_token(sv_span_t s)
{
    if (s.len == 0)
        return false;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
        if (!alnum && (c == '\0' || strchr("!#$%&'*+-.^_`|~", c) == NULL))
            return false;
    }
    return true;
}

static void check_headers(const sv_h1_header_t *headers, size_t n, const char *head, size_t len)
{
    CHECK(n <= SV_H1_MAX_HEADERS);
    for (size_t i = 0; i < n; i++) {
        CHECK(span_inside(headers[i].name, head, len));
        CHECK(span_inside(headers[i].value, head, len));
        CHECK(is_token(headers[i].name));
    }
    sv_span_t v = sv_h1_find_header(headers, n, "content-length");
    CHECK(v.ptr == NULL || span_inside(v, head, len));
}

/* A parsed head is found again in a copy holding only the head, and every shorter
 * prefix of it waits for more input. Copies are exact-size so overreads show. */
static void check_reparse(const char *buf, size_t head_len, size_t cut,
                          int (*parse)(const char *, size_t, void *), void *scratch)
{
    char *copy = malloc(head_len);
    memcpy(copy, buf, head_len);
    CHECK(parse(copy, head_len, scratch) == (int)head_len);
    free(copy);
    copy = malloc(cut ? cut : 1);
    memcpy(copy, buf, cut);
    CHECK(parse(copy, cut, scratch) == SV_EAGAIN);
    free(copy);
}

typedef struct {
    sv_h1_body_t b;
    char *out; /* body data delivered so far, in order */
    size_t out_len;
    size_t consumed;
    bool failed;
} body_run_t;

/* Feeds one segment the way the client does: again and again until the segment is
 * used up, the body is done, or the decoder reports a parse error. */
static void feed_segment(body_run_t *r, const char *seg, size_t len)
{
    size_t off = 0;
    sv_span_t data;
    while (!r->failed && !r->b.done && off < len) {
        int64_t n = sv_h1_body_feed(&r->b, seg + off, len - off, &data);
        if (n == SV_EPARSE) {
            r->failed = true;
            break;
        }
        /* An unfinished decoder given bytes must take some, or callers spin. */
        CHECK(n > 0 && (uint64_t)n <= len - off);
        CHECK(data.len <= (size_t)n && span_inside(data, seg + off, (size_t)n));
        if (data.len > 0)
            memcpy(r->out + r->out_len, data.ptr, data.len);
        r->out_len += data.len;
        off += (size_t)n;
    }
    r->consumed += off;
    if (r->b.done && off < len) {
        CHECK(sv_h1_body_feed(&r->b, seg + off, len - off, &data) == 0);
        CHECK(data.len == 0);
    }
}

/* Runs the decoder over rest[0..len) split at `split`, and again in one piece. */
static void check_body(const sv_h1_body_t *init, const sv_h1_framing_t *f, const char *rest,
                       size_t len, size_t split)
{
    body_run_t cut = {.b = *init, .out = malloc(len + 1)};
    body_run_t whole = {.b = *init, .out = malloc(len + 1)};
    feed_segment(&cut, rest, split);
    feed_segment(&cut, rest + split, len - split);
    feed_segment(&whole, rest, len);

    /* How much a failing call consumed is unspecified, but all else must agree. */
    CHECK(cut.failed == whole.failed && cut.b.done == whole.b.done);
    CHECK(cut.failed || cut.consumed == whole.consumed);
    CHECK(cut.out_len == whole.out_len && memcmp(cut.out, whole.out, cut.out_len) == 0);
    CHECK(cut.out_len <= cut.consumed && cut.consumed <= len);
    if (!cut.failed && !cut.b.done)
        CHECK(cut.consumed == len);

    switch (init->mode) {
    case SV_H1_BODY_NONE:
        CHECK(init->done && cut.consumed == 0);
        break;
    case SV_H1_BODY_LENGTH:
        CHECK(f->content_length >= 0 && init->remaining == (uint64_t)f->content_length);
        CHECK(!cut.failed && cut.out_len == cut.consumed);
        if (cut.b.done)
            CHECK(cut.out_len == (uint64_t)f->content_length);
        else
            CHECK(cut.out_len == len && (uint64_t)len < (uint64_t)f->content_length);
        break;
    case SV_H1_BODY_CHUNKED:
        CHECK(f->chunked && !init->done);
        if (cut.b.done)
            CHECK(cut.consumed >= 3 && cut.out_len <= cut.consumed - 3); /* "0\n\n" at least */
        break;
    case SV_H1_BODY_UNTIL_CLOSE:
        CHECK(!init->done && !cut.b.done && !cut.failed && cut.out_len == len);
        break;
    default:
        CHECK(false);
    }

    bool was_done = cut.b.done;
    int rc = sv_h1_body_eof(&cut.b);
    CHECK(rc == 0 || rc == SV_EPARSE);
    CHECK((rc == 0) == cut.b.done);
    if (was_done || init->mode == SV_H1_BODY_UNTIL_CLOSE)
        CHECK(rc == 0);
    if (cut.b.done) {
        sv_span_t data;
        CHECK(sv_h1_body_feed(&cut.b, rest, len, &data) == 0 && data.len == 0);
    }
    free(cut.out);
    free(whole.out);
}

/* Where to split the body bytes: the input's last two bytes, so the fuzzer steers it. */
static size_t split_point(const uint8_t *data, size_t size, size_t rest_len)
{
    if (size < 2 || rest_len == 0)
        return 0;
    return (((size_t)data[size - 2] << 8) | data[size - 1]) % (rest_len + 1);
}

#endif
