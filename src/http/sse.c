/*
 * The event-stream parser (see sse.h).
 */
#include "sse.h"

#include <string.h>

void sv_sse_init(sv_sse_parser_t *p, size_t max_event)
{
    *p = (sv_sse_parser_t){.retry_ms = -1};
    sv_buf_init(&p->line, max_event);
    sv_buf_init(&p->data, max_event);
    sv_buf_init(&p->type, max_event);
    sv_buf_init(&p->id, max_event);
}

void sv_sse_free(sv_sse_parser_t *p)
{
    sv_buf_free(&p->line);
    sv_buf_free(&p->data);
    sv_buf_free(&p->type);
    sv_buf_free(&p->id);
}

static void dispatch(sv_sse_parser_t *p, sv_sse_cb cb, void *arg)
{
    if (p->data.len > 0) {
        sv_sse_event_t ev = {
            .type = p->type.len ? (sv_span_t){p->type.data, p->type.len} : sv_span("message"),
            .data = {p->data.data, p->data.len - 1}, /* without the last line's LF */
            .id = {p->id.len ? p->id.data : "", p->id.len},
            .retry_ms = p->retry_ms,
        };
        p->events++;
        cb(&ev, arg);
    }
    sv_buf_reset(&p->data);
    sv_buf_reset(&p->type);
}

static bool is_field(sv_span_t name, const char *field)
{
    return name.len == strlen(field) && memcmp(name.ptr, field, name.len) == 0;
}

static int set(sv_buf_t *b, sv_span_t value)
{
    sv_buf_reset(b);
    return sv_buf_append(b, value.ptr, value.len);
}

static void set_retry(sv_sse_parser_t *p, sv_span_t value)
{
    int64_t ms = 0;
    for (size_t i = 0; i < value.len; i++) {
        if (value.ptr[i] < '0' || value.ptr[i] > '9' || ms > INT64_MAX / 10 - 10)
            return; /* not all digits: ignored, as the standard says */
        ms = ms * 10 + (value.ptr[i] - '0');
    }
    if (value.len)
        p->retry_ms = ms;
}

/* One line, without its end. */
static int process_line(sv_sse_parser_t *p, sv_span_t line, sv_sse_cb cb, void *arg)
{
    if (!p->started) {
        p->started = true;
        if (line.len >= 3 && memcmp(line.ptr, "\xEF\xBB\xBF", 3) == 0)
            line = (sv_span_t){line.ptr + 3, line.len - 3};
    }
    if (line.len == 0) {
        dispatch(p, cb, arg);
        return 0;
    }
    if (line.ptr[0] == ':')
        return 0; /* a comment */
    const char *colon = memchr(line.ptr, ':', line.len);
    sv_span_t name = {line.ptr, colon ? (size_t)(colon - line.ptr) : line.len};
    sv_span_t value = {"", 0};
    if (colon) {
        value = (sv_span_t){colon + 1, line.len - name.len - 1};
        if (value.len && value.ptr[0] == ' ')
            value = (sv_span_t){value.ptr + 1, value.len - 1};
    }
    if (is_field(name, "event"))
        return set(&p->type, value);
    if (is_field(name, "data"))
        return sv_buf_append(&p->data, value.ptr, value.len) || sv_buf_append(&p->data, "\n", 1)
                   ? SV_ETOOBIG
                   : 0;
    if (is_field(name, "id") && memchr(value.ptr, '\0', value.len) == NULL)
        return set(&p->id, value);
    if (is_field(name, "retry"))
        set_retry(p, value);
    return 0; /* other fields are ignored */
}

int sv_sse_feed(sv_sse_parser_t *p, const char *buf, size_t len, sv_sse_cb cb, void *arg)
{
    size_t i = 0;
    if (len && p->after_cr && buf[0] == '\n')
        i = 1; /* the LF of a CRLF split across pieces */
    p->after_cr = false;
    while (i < len) {
        size_t end = i;
        while (end < len && buf[end] != '\n' && buf[end] != '\r')
            end++;
        if (sv_buf_append(&p->line, buf + i, end - i) != 0)
            return SV_ETOOBIG;
        if (end == len)
            break; /* the line goes on in the next piece */
        int rc =
            process_line(p, (sv_span_t){p->line.len ? p->line.data : "", p->line.len}, cb, arg);
        sv_buf_reset(&p->line);
        if (rc != 0)
            return SV_ETOOBIG;
        if (buf[end] == '\r') {
            if (end + 1 == len)
                p->after_cr = true;
            else if (buf[end + 1] == '\n')
                end++;
        }
        i = end + 1;
    }
    return 0;
}
