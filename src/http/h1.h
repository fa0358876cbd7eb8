/*
 * HTTP/1.1 message parsing for both sides: response heads for the client,
 * request heads for the demo server, and an incremental body decoder for every
 * framing (Content-Length, chunked, close-delimited, none). Nothing here
 * allocates: results are spans into the caller's buffer.
 */
#ifndef SV_H1_H
#define SV_H1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

#define SV_H1_MAX_HEADERS 64

typedef struct {
    sv_span_t name, value;
} sv_h1_header_t;

/* Framing facts taken from the headers while parsing. */
typedef struct {
    int64_t content_length; /* -1 when absent */
    bool chunked;
    bool connection_close;
    bool connection_keep_alive;
} sv_h1_framing_t;

typedef struct {
    int minor_version;
    int status;
    sv_span_t reason;
    sv_h1_header_t headers[SV_H1_MAX_HEADERS];
    size_t num_headers;
    sv_h1_framing_t framing;
} sv_h1_response_t;

typedef struct {
    int minor_version;
    sv_span_t method, target;
    sv_h1_header_t headers[SV_H1_MAX_HEADERS];
    size_t num_headers;
    sv_h1_framing_t framing;
} sv_h1_request_t;

/* Parse a message head from buf[0..len). Returns the head's length in bytes (> 0)
 * when complete, SV_EAGAIN when more bytes are needed, SV_EPARSE when malformed
 * (including more than SV_H1_MAX_HEADERS headers). Spans point into buf. */
int sv_h1_parse_response(const char *buf, size_t len, sv_h1_response_t *res);
int sv_h1_parse_request(const char *buf, size_t len, sv_h1_request_t *req);

/* Whether the connection may be reused after this message (HTTP/1.1 default yes,
 * HTTP/1.0 only with keep-alive). */
bool sv_h1_keep_alive(int minor_version, const sv_h1_framing_t *f);

/* Value of the first header with this name (case-insensitive), or {NULL,0}. */
sv_span_t sv_h1_find_header(const sv_h1_header_t *headers, size_t n, const char *name);

typedef enum {
    SV_H1_BODY_NONE,
    SV_H1_BODY_LENGTH,
    SV_H1_BODY_CHUNKED,
    SV_H1_BODY_UNTIL_CLOSE,
} sv_h1_body_mode_t;

typedef struct {
    sv_h1_body_mode_t mode;
    uint64_t remaining; /* bytes left in the body (LENGTH) or the current chunk */
    int state;          /* chunked parser state */
    bool done;
} sv_h1_body_t;

/* Chooses the framing of a response body (RFC 9112 §6.3). request_was_head: the
 * request was HEAD, so no body follows whatever the headers say. */
void sv_h1_body_init_response(sv_h1_body_t *b, const sv_h1_response_t *res, bool request_was_head);
/* Request bodies: Content-Length or chunked, else none. */
void sv_h1_body_init_request(sv_h1_body_t *b, const sv_h1_request_t *req);

/* Feeds bytes to the body decoder. Returns the number of bytes of in consumed
 * (>= 0) or SV_EPARSE. Body data found is returned in *data (pointing into in; may
 * be empty); call again with the rest of the input while it returns > 0 and the
 * body is not done. b->done is set once the body is complete. */
int64_t sv_h1_body_feed(sv_h1_body_t *b, const char *in, size_t len, sv_span_t *data);
/* Tells the decoder the peer closed the connection. Returns 0 if that completes
 * the body (close-delimited), SV_EPARSE if the body was cut short. */
int sv_h1_body_eof(sv_h1_body_t *b);

#endif
