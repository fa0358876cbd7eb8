/*
 * The HTTP/1.1 client: prepared requests, a per-worker context (event loop, DNS
 * cache, shared read buffer) and keep-alive connections, one per VU. Each request
 * is timed phase by phase with the monotonic clock; every failure becomes a
 * result with a k6-style error_code, never a crash.
 *
 * Threading: a context and its connections belong to the thread running its loop.
 */
#ifndef SV_HTTP_CLIENT_H
#define SV_HTTP_CLIENT_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../util/util.h"
#include "tls.h"
#include "url.h"

/* k6's error codes, and salvo's own: 1312-1313 in the TLS range, 17xx for content. */
#define SV_HTTP_ERRORS(X)                                                                          \
    X(GENERIC, 1000)                                                                               \
    X(INVALID_URL, 1020)                                                                           \
    X(TIMEOUT, 1050)                                                                               \
    X(DNS, 1100)                                                                                   \
    X(DNS_NO_SUCH_HOST, 1101)                                                                      \
    X(TCP, 1200)                                                                                   \
    X(TCP_BROKEN_PIPE, 1201)                                                                       \
    X(TCP_UNKNOWN_ERRNO, 1202)                                                                     \
    X(DIAL, 1210)                                                                                  \
    X(DIAL_TIMEOUT, 1211)                                                                          \
    X(DIAL_REFUSED, 1212)                                                                          \
    X(RESET_BY_PEER, 1220)                                                                         \
    X(TLS, 1300)                                                                                   \
    X(TLS_UNKNOWN_AUTHORITY, 1310)                                                                 \
    X(TLS_HOSTNAME, 1311)                                                                          \
    X(TLS_CERT_EXPIRED, 1312)                                                                      \
    X(TLS_HANDSHAKE_TIMEOUT, 1313)                                                                 \
    X(H2, 1600)                                                                                    \
    X(DECOMPRESSION, 1701)                                                                         \
    X(MALFORMED_RESPONSE, 1702)                                                                    \
    X(RESPONSE_TOO_LARGE, 1703)

enum {
#define SV_HTTP_ERR_ENUM(name, code) SV_HTTP_ERR_##name = code,
    SV_HTTP_ERRORS(SV_HTTP_ERR_ENUM)
#undef SV_HTTP_ERR_ENUM
};

typedef struct {
    const char *name, *value;
} sv_http_header_t;

/* A request ready to send: its URL and its bytes on the wire, built once and sent
 * any number of times, by any connection of its thread. Immutable once built. */
typedef struct {
    sv_url_t url;
    char *method;
    bool is_head;
    sv_buf_t wire;
    size_t head_len; /* of wire; the body follows */
    /* the head as HTTP/2 header fields (nghttp2_nv), pseudo-headers first */
    void *h2_nv;
    size_t h2_nv_len;
    sv_buf_t h2_names; /* their bytes */
} sv_http_request_t;

/* Which HTTP a request may speak. */
typedef enum {
    SV_HTTP_AUTO = 0, /* over TLS, h2 or http/1.1 as the server picks by ALPN; else 1.1 */
    SV_HTTP_1_1,      /* HTTP/1.1 only (--http1.1) */
    SV_HTTP_2,        /* HTTP/2: by ALPN over TLS, with prior knowledge (h2c) without */
} sv_http_version_t;

/* What one send asks for, besides the request itself. */
typedef struct {
    uint64_t timeout_ns; /* 0: none */
    bool keep_body;      /* collect the (decoded) body into the result */
    bool keep_head;      /* keep the raw response head in the result */
    bool close_after;    /* close the connection after the response (noConnectionReuse) */
    sv_http_version_t version;
    /* the body as it arrives, instead of keeping it (an event stream), with the
     * send's arg; false from it ends the request as sv_http_conn_stop does */
    bool (*on_body)(const char *data, size_t len, void *arg);
    /* expect 101 Switching Protocols (WebSocket): its result is delivered, then every
     * byte the socket reads goes to on_body (NULL, 0 when the connection ends) and
     * sv_http_conn_write writes; sv_http_conn_stop closes it */
    bool upgrade;
} sv_http_send_opts_t;

/* Builds a request. Adds Host, User-Agent and Content-Length unless given.
 * SV_EPARSE with *why set for a bad URL or header. */
/* Whether a header named `name` (any case) is among h[0..n). */
bool sv_http_has_header(const sv_http_header_t *h, size_t n, const char *name);
int sv_http_request_init(sv_http_request_t *r, const char *method, const char *url,
                         const sv_http_header_t *headers, size_t n_headers, const char *body,
                         size_t body_len, const char **why);
void sv_http_request_free(sv_http_request_t *r);

typedef struct {
    int status;        /* 0 when no response was received */
    int error_code;    /* 0, or an SV_HTTP_ERR_* code for a network or protocol failure */
    const char *error; /* static message for error_code */
    bool interrupted;  /* cancelled by sv_http_conn_cancel: not a measurement */
    int minor_version; /* HTTP/1.x */
    bool http2;        /* the response came over HTTP/2 */
    bool reused;       /* sent on a kept-alive connection */
    uint64_t start_ns; /* when the request was handed to the client */
    uint64_t end_ns;   /* when the result was delivered */
    uint64_t blocked_ns, connecting_ns, tls_handshaking_ns, sending_ns, waiting_ns, receiving_ns;
    const char *tls_version; /* "tls1.3", or "" without TLS (static) */
    const char *tls_cipher;  /* "TLS_AES_128_GCM_SHA256", or "" (static) */
    uint64_t bytes_sent, bytes_received;
    sv_buf_t head; /* raw head, when the request asked for it */
    sv_buf_t body; /* decoded body, when the request asked for it */
} sv_http_result_t;

typedef void (*sv_http_cb)(sv_http_result_t *res, void *arg);

typedef struct sv_http_ctx sv_http_ctx_t;
typedef struct sv_http_conn sv_http_conn_t;
/* Connections whose requests may share one HTTP/2 connection (a VU's): a request to
 * a host that a member already speaks HTTP/2 with goes as a stream on it. */
typedef struct sv_http_group sv_http_group_t;

/* max_response_bytes: cap on a response body (heads have their own 64 KiB cap);
 * 0 for none. */
sv_http_ctx_t *sv_http_ctx_new(uv_loop_t *loop, uint64_t max_response_bytes);
/* Caps request starts on this context at one per pace_ns (k6's rps over a worker's
 * share); a request over the cap waits, and its time starts when it may go. */
void sv_http_ctx_set_pace(sv_http_ctx_t *ctx, uint64_t pace_ns);
/* The TLS context https:// requests use (shared, not owned; it must outlive the
 * context). Without one, the first https:// request makes a default one: system
 * store, verification on. */
void sv_http_ctx_set_tls(sv_http_ctx_t *ctx, const sv_tls_t *tls);
/* Connections of the context whose transport is established now. */
uint32_t sv_http_ctx_open_connections(const sv_http_ctx_t *ctx);
/* Frees the context; every connection must have been freed and the loop run until
 * their handles closed. */
void sv_http_ctx_free(sv_http_ctx_t *ctx);

sv_http_conn_t *sv_http_conn_new(sv_http_ctx_t *ctx);
/* The same, as a member of group g (NULL: none). */
sv_http_conn_t *sv_http_conn_new_in(sv_http_ctx_t *ctx, sv_http_group_t *g);
sv_http_group_t *sv_http_group_new(void);
/* Frees a group whose connections were all freed. */
void sv_http_group_free(sv_http_group_t *g);
/* Sends a request; cb runs later from the loop, exactly once, never from inside
 * this call. The request must outlive the callback. SV_EINVAL if a request is
 * already in flight on this connection. */
int sv_http_conn_send(sv_http_conn_t *c, const sv_http_request_t *req,
                      const sv_http_send_opts_t *opts, sv_http_cb cb, void *arg);
/* Aborts the request in flight, if any: its callback runs now, with interrupted set. */
void sv_http_conn_cancel(sv_http_conn_t *c);
/* Ends a response early, as the client's choice (a stream it is done with): with its
 * head in, the result is delivered as it stands, a success; before that it is a
 * cancel. The connection is not reused. */
void sv_http_conn_stop(sv_http_conn_t *c);
/* Bytes for an upgraded connection's peer (through TLS when it speaks TLS). */
void sv_http_conn_write(sv_http_conn_t *c, const char *data, size_t len);
/* Cancels, closes and frees the connection (memory goes once its handles closed). */
void sv_http_conn_free(sv_http_conn_t *c);

/* Prints a request and its response (heads; bodies too when full) on stderr, one
 * exchange at a time across threads, for --http-debug. */
void sv_http_debug_print(const sv_http_request_t *req, const sv_http_result_t *res, bool full);

/* Decodes a gzip or deflate body in place. 0, or SV_EPARSE / SV_ETOOBIG. */
int sv_http_decode_body(sv_buf_t *body, sv_span_t content_encoding);

#endif
