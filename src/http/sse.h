/*
 * A server-sent events parser (the text/event-stream format of the WHATWG HTML
 * standard, "Server-sent events"), incremental and I/O-free: feed it the body as it
 * arrives, in pieces of any size, and it calls back once per dispatched event.
 *
 * Lines end with CRLF, LF or CR (a CRLF split across two pieces is one end). A line
 * "field: value" sets event, data (lines joined with LF), id (kept for the events
 * that follow, as the last event ID) or retry (digits only); a line starting with
 * ':' is a comment; an empty line dispatches the event if it has data. A UTF-8 BOM
 * at the start of the stream is skipped.
 */
#ifndef SV_HTTP_SSE_H
#define SV_HTTP_SSE_H

#include <stdbool.h>
#include <stdint.h>

#include "../util/util.h"

typedef struct {
    sv_span_t type; /* "message" unless an event: line named it */
    sv_span_t data;
    sv_span_t id;     /* the last event ID (empty if none was ever set) */
    int64_t retry_ms; /* the last retry: value, or -1 */
} sv_sse_event_t;

typedef void (*sv_sse_cb)(const sv_sse_event_t *ev, void *arg);

typedef struct {
    sv_buf_t line, data, type, id;
    int64_t retry_ms;
    bool after_cr; /* the last piece ended with CR: a leading LF is its CRLF */
    bool started;  /* past the (optional) BOM */
    uint64_t events;
} sv_sse_parser_t;

/* max_event: the most bytes a line or an event's data may take (SV_ETOOBIG past it). */
void sv_sse_init(sv_sse_parser_t *p, size_t max_event);
void sv_sse_free(sv_sse_parser_t *p);
/* Parses len bytes; 0, or SV_ETOOBIG when a line or an event is over the cap (the
 * parser is spent then). */
int sv_sse_feed(sv_sse_parser_t *p, const char *buf, size_t len, sv_sse_cb cb, void *arg);

#endif
