/*
 * HTTP/1.1 head parser and body decoder (RFC 9112). Strict where leniency would
 * let a broken server look healthy: bad status lines, header names with spaces,
 * conflicting Content-Length values and obsolete line folding are errors.
 * Bare LF line endings are accepted, as most clients do.
 */
#include "h1.h"

#include <ctype.h>

static bool is_tchar(unsigned char c)
{
    /* c != 0: strchr would find the terminator */
    return isalnum(c) || (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* Length of the head including its blank line, or 0 if incomplete. */
static size_t head_length(const char *buf, size_t len)
{
    const char *p = buf, *end = buf + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (nl == NULL)
            return 0;
        const char *next = nl + 1;
        if (next < end && *next == '\n')
            return (size_t)(next + 1 - buf);
        if (next + 1 < end && next[0] == '\r' && next[1] == '\n')
            return (size_t)(next + 2 - buf);
        if (next + 1 >= end)
            return 0;
        p = next;
    }
    return 0;
}

/* Takes the next line (without CR LF) from [*p, end). */
static sv_span_t next_line(const char **p, const char *end)
{
    const char *start = *p;
    const char *nl = memchr(start, '\n', (size_t)(end - start));
    const char *stop = nl ? nl : end;
    *p = nl ? nl + 1 : end;
    if (stop > start && stop[-1] == '\r')
        stop--;
    return (sv_span_t){start, (size_t)(stop - start)};
}

static int parse_content_length(sv_span_t v, int64_t *out)
{
    int64_t n = 0;
    if (v.len == 0)
        return SV_EPARSE;
    for (size_t i = 0; i < v.len; i++) {
        if (!isdigit((unsigned char)v.ptr[i]) || n > (INT64_MAX - 9) / 10)
            return SV_EPARSE;
        n = n * 10 + (v.ptr[i] - '0');
    }
    *out = n;
    return 0;
}

/* Whether the last element of a comma-separated list is `token` (case-insensitive):
 * chunked frames a message only as its final transfer coding (RFC 9112 §6.3). */
static bool last_token_is(sv_span_t list, const char *token)
{
    size_t end = list.len;
    while (end > 0 && (list.ptr[end - 1] == ' ' || list.ptr[end - 1] == '\t'))
        end--;
    size_t start = end;
    while (start > 0 && list.ptr[start - 1] != ',')
        start--;
    while (start < end && (list.ptr[start] == ' ' || list.ptr[start] == '\t'))
        start++;
    return sv_span_ieq((sv_span_t){list.ptr + start, end - start}, token);
}

static int note_framing(sv_h1_framing_t *f, const sv_h1_header_t *h, bool *has_te)
{
    if (sv_span_ieq(h->name, "content-length")) {
        int64_t n;
        if (parse_content_length(h->value, &n) != 0)
            return SV_EPARSE;
        if (f->content_length >= 0 && f->content_length != n)
            return SV_EPARSE;
        f->content_length = n;
    } else if (sv_span_ieq(h->name, "transfer-encoding")) {
        *has_te = true;
        f->chunked = last_token_is(h->value, "chunked");
    } else if (sv_span_ieq(h->name, "connection")) {
        f->connection_close |= sv_span_has_token(h->value, "close");
        f->connection_keep_alive |= sv_span_has_token(h->value, "keep-alive");
    }
    return 0;
}

static int parse_headers(const char **p, const char *end, sv_h1_header_t *headers, size_t *num,
                         sv_h1_framing_t *f, bool *has_te)
{
    *num = 0;
    *f = (sv_h1_framing_t){.content_length = -1};
    for (;;) {
        sv_span_t line = next_line(p, end);
        if (line.len == 0)
            return 0;
        if (line.ptr[0] == ' ' || line.ptr[0] == '\t')
            return SV_EPARSE; /* obsolete line folding */
        const char *colon = memchr(line.ptr, ':', line.len);
        if (colon == NULL || colon == line.ptr || *num == SV_H1_MAX_HEADERS)
            return SV_EPARSE;
        sv_h1_header_t *h = &headers[(*num)++];
        h->name = (sv_span_t){line.ptr, (size_t)(colon - line.ptr)};
        for (size_t i = 0; i < h->name.len; i++)
            if (!is_tchar((unsigned char)h->name.ptr[i]))
                return SV_EPARSE;
        const char *v = colon + 1, *vend = line.ptr + line.len;
        while (v < vend && (*v == ' ' || *v == '\t'))
            v++;
        while (vend > v && (vend[-1] == ' ' || vend[-1] == '\t'))
            vend--;
        for (const char *c = v; c < vend; c++)
            if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f)
                return SV_EPARSE;
        h->value = (sv_span_t){v, (size_t)(vend - v)};
        if (note_framing(f, h, has_te) != 0)
            return SV_EPARSE;
    }
}

static bool parse_version(sv_span_t s, int *minor)
{
    if (s.len != 8 || memcmp(s.ptr, "HTTP/1.", 7) != 0 || !isdigit((unsigned char)s.ptr[7]))
        return false;
    *minor = s.ptr[7] - '0';
    return true;
}

int sv_h1_parse_response(const char *buf, size_t len, sv_h1_response_t *res)
{
    size_t hl = head_length(buf, len);
    if (hl == 0) {
        /* Fail early on garbage instead of waiting for a blank line that never comes. */
        size_t n = SV_MIN(len, 5);
        return memcmp(buf, "HTTP/", n) == 0 ? SV_EAGAIN : SV_EPARSE;
    }
    const char *p = buf, *end = buf + hl;
    sv_span_t line = next_line(&p, end);
    if (line.len < 12 || !parse_version((sv_span_t){line.ptr, 8}, &res->minor_version) ||
        line.ptr[8] != ' ')
        return SV_EPARSE;
    const char *code = line.ptr + 9;
    if (!isdigit((unsigned char)code[0]) || !isdigit((unsigned char)code[1]) ||
        !isdigit((unsigned char)code[2]) || (line.len > 12 && code[3] != ' ') || code[0] == '0')
        return SV_EPARSE;
    res->status = (code[0] - '0') * 100 + (code[1] - '0') * 10 + (code[2] - '0');
    res->reason = line.len > 13 ? (sv_span_t){code + 4, line.len - 13} : (sv_span_t){code + 3, 0};
    for (size_t i = 0; i < res->reason.len; i++)
        if (((unsigned char)res->reason.ptr[i] < 0x20 && res->reason.ptr[i] != '\t') ||
            res->reason.ptr[i] == 0x7f)
            return SV_EPARSE;
    bool has_te = false;
    if (parse_headers(&p, end, res->headers, &res->num_headers, &res->framing, &has_te) != 0)
        return SV_EPARSE;
    if (has_te && !res->framing.chunked)
        res->framing.content_length = -1; /* read until close (RFC 9112 §6.3) */
    return (int)hl;
}

int sv_h1_parse_request(const char *buf, size_t len, sv_h1_request_t *req)
{
    size_t hl = head_length(buf, len);
    if (hl == 0)
        return SV_EAGAIN;
    const char *p = buf, *end = buf + hl;
    sv_span_t line = next_line(&p, end);
    const char *sp1 = memchr(line.ptr, ' ', line.len);
    if (sp1 == NULL || sp1 == line.ptr)
        return SV_EPARSE;
    const char *target = sp1 + 1, *lend = line.ptr + line.len;
    const char *sp2 = memchr(target, ' ', (size_t)(lend - target));
    if (sp2 == NULL || sp2 == target)
        return SV_EPARSE;
    req->method = (sv_span_t){line.ptr, (size_t)(sp1 - line.ptr)};
    req->target = (sv_span_t){target, (size_t)(sp2 - target)};
    for (size_t i = 0; i < req->method.len; i++)
        if (!is_tchar((unsigned char)req->method.ptr[i]))
            return SV_EPARSE;
    for (size_t i = 0; i < req->target.len; i++)
        if ((unsigned char)req->target.ptr[i] <= ' ' || req->target.ptr[i] == 0x7f)
            return SV_EPARSE;
    if (!parse_version((sv_span_t){sp2 + 1, (size_t)(lend - sp2 - 1)}, &req->minor_version))
        return SV_EPARSE;
    bool has_te = false;
    if (parse_headers(&p, end, req->headers, &req->num_headers, &req->framing, &has_te) != 0)
        return SV_EPARSE;
    if (has_te && !req->framing.chunked)
        return SV_EPARSE; /* a request body of unknown length cannot be framed */
    return (int)hl;
}

bool sv_h1_keep_alive(int minor_version, const sv_h1_framing_t *f)
{
    if (f->connection_close)
        return false;
    return minor_version >= 1 || f->connection_keep_alive;
}

sv_span_t sv_h1_find_header(const sv_h1_header_t *headers, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (sv_span_ieq(headers[i].name, name))
            return headers[i].value;
    return (sv_span_t){NULL, 0};
}

static void body_init(sv_h1_body_t *b, const sv_h1_framing_t *f, bool no_body, bool until_close)
{
    *b = (sv_h1_body_t){0};
    if (no_body) {
        b->mode = SV_H1_BODY_NONE;
    } else if (f->chunked) {
        b->mode = SV_H1_BODY_CHUNKED;
    } else if (f->content_length >= 0) {
        b->mode = SV_H1_BODY_LENGTH;
        b->remaining = (uint64_t)f->content_length;
    } else {
        b->mode = until_close ? SV_H1_BODY_UNTIL_CLOSE : SV_H1_BODY_NONE;
    }
    b->done = b->mode == SV_H1_BODY_NONE || (b->mode == SV_H1_BODY_LENGTH && b->remaining == 0);
}

void sv_h1_body_init_response(sv_h1_body_t *b, const sv_h1_response_t *res, bool request_was_head)
{
    bool no_body =
        request_was_head || res->status < 200 || res->status == 204 || res->status == 304;
    body_init(b, &res->framing, no_body, true);
}

void sv_h1_body_init_request(sv_h1_body_t *b, const sv_h1_request_t *req)
{
    body_init(b, &req->framing, false, false);
}

enum {
    CH_SIZE_FIRST, /* expecting the first hex digit of a chunk size */
    CH_SIZE,       /* more hex digits, or the end of the size */
    CH_SIZE_EXT,   /* chunk extension or CR, up to LF */
    CH_DATA,
    CH_DATA_CR, /* CR LF after chunk data */
    CH_DATA_LF,
    CH_TRAILER_START, /* start of a trailer line, or the final blank line */
    CH_TRAILER,       /* inside a trailer line */
    CH_FINAL_LF,
};

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* One control byte of chunked framing; returns 0 or SV_EPARSE. */
static int chunk_control(sv_h1_body_t *b, char c)
{
    int h;
    switch (b->state) {
    case CH_SIZE_FIRST:
    case CH_SIZE:
        h = hex_value(c);
        if (h >= 0) {
            if (b->remaining >> 59)
                return SV_EPARSE;
            b->remaining = b->remaining * 16 + (uint64_t)h;
            b->state = CH_SIZE;
        } else if (b->state == CH_SIZE_FIRST) {
            return SV_EPARSE;
        } else if (c == ';' || c == ' ' || c == '\t' || c == '\r') {
            b->state = CH_SIZE_EXT;
        } else if (c == '\n') {
            b->state = b->remaining ? CH_DATA : CH_TRAILER_START;
        } else {
            return SV_EPARSE;
        }
        return 0;
    case CH_SIZE_EXT:
        if (c == '\n')
            b->state = b->remaining ? CH_DATA : CH_TRAILER_START;
        return 0;
    case CH_DATA_CR:
        if (c == '\r')
            b->state = CH_DATA_LF;
        else if (c == '\n')
            b->state = CH_SIZE_FIRST;
        else
            return SV_EPARSE;
        return 0;
    case CH_DATA_LF:
        if (c != '\n')
            return SV_EPARSE;
        b->state = CH_SIZE_FIRST;
        return 0;
    case CH_TRAILER_START:
        if (c == '\n')
            b->done = true;
        else
            b->state = c == '\r' ? CH_FINAL_LF : CH_TRAILER;
        return 0;
    case CH_TRAILER:
        if (c == '\n')
            b->state = CH_TRAILER_START;
        return 0;
    case CH_FINAL_LF:
        if (c == '\n')
            b->done = true;
        else
            b->state = CH_TRAILER; /* a trailer line that starts with CR: keep skipping */
        return 0;
    }
    return SV_EPARSE;
}

static int64_t feed_chunked(sv_h1_body_t *b, const char *in, size_t len, sv_span_t *data)
{
    size_t i = 0;
    while (i < len && !b->done) {
        if (b->state == CH_DATA) {
            size_t n = (size_t)SV_MIN((uint64_t)(len - i), b->remaining);
            *data = (sv_span_t){in + i, n};
            b->remaining -= n;
            if (b->remaining == 0)
                b->state = CH_DATA_CR;
            return (int64_t)(i + n);
        }
        if (chunk_control(b, in[i]) != 0)
            return SV_EPARSE;
        i++;
    }
    return (int64_t)i;
}

int64_t sv_h1_body_feed(sv_h1_body_t *b, const char *in, size_t len, sv_span_t *data)
{
    *data = (sv_span_t){in, 0};
    if (b->done || len == 0)
        return 0;
    size_t n;
    switch (b->mode) {
    case SV_H1_BODY_LENGTH:
        n = (size_t)SV_MIN((uint64_t)len, b->remaining);
        b->remaining -= n;
        b->done = b->remaining == 0;
        *data = (sv_span_t){in, n};
        return (int64_t)n;
    case SV_H1_BODY_UNTIL_CLOSE:
        *data = (sv_span_t){in, len};
        return (int64_t)len;
    case SV_H1_BODY_CHUNKED:
        return feed_chunked(b, in, len, data);
    case SV_H1_BODY_NONE:
        break;
    }
    return 0;
}

int sv_h1_body_eof(sv_h1_body_t *b)
{
    if (b->done)
        return 0;
    if (b->mode == SV_H1_BODY_UNTIL_CLOSE) {
        b->done = true;
        return 0;
    }
    return SV_EPARSE;
}
