/*
 * HTTP/1.1 connections on libuv, plain or over TLS, and the sockets HTTP/2 sessions
 * (h2.c) run on. One request at a time per connection, kept alive between
 * requests; with HTTP/2, the requests of a group's connections share one socket. Writes go straight
 * to the socket with uv_try_write and fall back to uv_write only when the kernel buffer is full, so
 * the common request costs one write() and, with the read watcher left armed, no epoll_ctl. Reads
 * land in one buffer per worker; only a head split across reads is copied (into the connection's
 * stash). Over TLS (tls.h) the same buffers carry the ciphertext, and the plaintext lands in a
 * second buffer per worker; a reconnecting connection resumes its last session. See
 * docs/internals/http-client.md.
 */
#include "client.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "client_int.h"

static void start_request(sv_http_conn_t *c);
static void begin_connect(sv_http_conn_t *c);
static void fail(sv_http_conn_t *c, int code, const char *msg);
static void release_waiters(sv_http_conn_t *c);

sv_http_ctx_t *sv_http_ctx_new(uv_loop_t *loop, uint64_t max_response_bytes)
{
    sv_http_ctx_t *ctx = sv_xcalloc(1, sizeof(*ctx));
    ctx->loop = loop;
    ctx->read_buf = sv_xmalloc(READ_BUF_SIZE);
    ctx->max_response_bytes = max_response_bytes ? max_response_bytes : UINT64_MAX;
    return ctx;
}

void sv_http_ctx_set_tls(sv_http_ctx_t *ctx, const sv_tls_t *tls)
{
    ctx->tls = tls;
}

uint32_t sv_http_ctx_open_connections(const sv_http_ctx_t *ctx)
{
    return ctx->open_connections;
}

static void free_dns_entries(sv_http_ctx_t *ctx)
{
    dns_entry_t *e = ctx->dns;
    while (e) {
        dns_entry_t *next = e->next;
        free(e->host);
        free(e);
        e = next;
    }
    free(ctx->read_buf);
    free(ctx->plain_buf);
    sv_tls_free(ctx->own_tls);
    free(ctx);
}

void sv_http_ctx_free(sv_http_ctx_t *ctx)
{
    if (ctx == NULL)
        return;
    /* A lookup still in the thread pool frees the context when it returns. */
    ctx->freeing = true;
    if (ctx->pending_lookups == 0)
        free_dns_entries(ctx);
}

/* ---- results ------------------------------------------------------------------- */

static uint64_t span_ns(uint64_t from, uint64_t to)
{
    return to > from ? to - from : 0;
}

void sv_conn_tls_names(const sv_http_conn_t *c, sv_http_result_t *res)
{
    res->tls_version = c->tls_ready ? sv_tls_version_name(c->tls) : "";
    res->tls_cipher = c->tls_ready ? sv_tls_cipher_name(c->tls) : "";
}

static void deliver(sv_http_conn_t *c)
{
    uint64_t now = sv_now_ns();
    sv_http_result_t *r = &c->res;
    r->end_ns = now;
    uint64_t sent_at = c->t_write_start ? c->t_write_start : now;
    uint64_t connect_at = c->t_connect_start ? c->t_connect_start : sent_at;
    r->blocked_ns = span_ns(r->start_ns, connect_at);
    if (c->t_connect_start)
        r->connecting_ns = span_ns(c->t_connect_start, c->t_connected ? c->t_connected : now);
    if (c->t_tls_start)
        r->tls_handshaking_ns = span_ns(c->t_tls_start, c->t_tls_done ? c->t_tls_done : now);
    if (r->tls_version == NULL) /* no TLS session carried it */
        r->tls_version = r->tls_cipher = "";
    if (c->t_write_start) {
        uint64_t written = c->t_written ? c->t_written : now;
        r->sending_ns = span_ns(c->t_write_start, written);
        uint64_t first = c->t_first_byte ? c->t_first_byte : now;
        r->waiting_ns = span_ns(written, first);
        if (c->t_first_byte)
            r->receiving_ns = span_ns(c->t_first_byte, now);
    }
    uv_timer_stop(&c->timer);
    c->state = c->state == C_UPGRADED ? C_UPGRADED : C_IDLE;
    sv_http_cb cb = c->cb;
    void *arg = c->cb_arg;
    c->cb = NULL;
    c->req = NULL;
    cb(r, arg);
}

/* ---- socket lifecycle ------------------------------------------------------------ */

static void maybe_free(sv_http_conn_t *c)
{
    if (c->freeing && c->open_handles == 0) {
        sv_buf_free(&c->stash);
        sv_buf_free(&c->res.head);
        sv_buf_free(&c->res.body);
        sv_buf_free(&c->out_queue);
        sv_buf_free(&c->out_flight);
        sv_tls_conn_free(c->tls);
        for (size_t i = 0; i < SV_ARRAY_SIZE(c->sessions); i++)
            sv_tls_session_free(c->sessions[i].session);
        free(c->content_encoding);
        free(c);
    }
}

static void on_tcp_closed(uv_handle_t *h)
{
    sv_http_conn_t *c = sv_container_of(h, sv_http_conn_t, tcp);
    c->tcp_state = SOCK_NONE;
    c->open_handles--;
    if (c->want_connect && !c->freeing) {
        c->want_connect = false;
        begin_connect(c);
    }
    maybe_free(c);
}

/* Keeps the session the TLS socket leaves, under its endpoint, and lets the engine
 * go (it holds buffers an idle connection does not need). */
static void park_session(sv_http_conn_t *c)
{
    if (c->tls == NULL)
        return;
    sv_tls_session_t *s = sv_tls_conn_take_session(c->tls);
    sv_tls_conn_free(c->tls);
    c->tls = NULL;
    if (s == NULL)
        return;
    size_t i = 0, n = SV_ARRAY_SIZE(c->sessions);
    while (i < n && c->sessions[i].endpoint != c->endpoint)
        i++;
    if (i == n)
        i = c->next_session++ % n;
    sv_tls_session_free(c->sessions[i].session);
    c->sessions[i].endpoint = c->endpoint;
    c->sessions[i].session = s;
}

static const sv_tls_session_t *session_for(const sv_http_conn_t *c, const dns_entry_t *e)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(c->sessions); i++)
        if (c->sessions[i].endpoint == e)
            return c->sessions[i].session;
    return NULL;
}

static void close_socket(sv_http_conn_t *c)
{
    sv_h2_close(c, SV_HTTP_ERR_H2, "http2: connection closed");
    if (!c->want_connect)
        release_waiters(c);
    if (c->connected)
        c->ctx->open_connections--;
    park_session(c);
    c->connected = c->secure = c->tls_ready = false;
    sv_buf_reset(&c->out_queue);
    if (c->tcp_state != SOCK_OPEN)
        return;
    c->tcp_state = SOCK_CLOSING;
    uv_close((uv_handle_t *)&c->tcp, on_tcp_closed);
}

static void on_timer_closed(uv_handle_t *h)
{
    sv_http_conn_t *c = sv_container_of(h, sv_http_conn_t, timer);
    c->open_handles--;
    maybe_free(c);
}

sv_http_conn_t *sv_http_conn_new_in(sv_http_ctx_t *ctx, sv_http_group_t *g)
{
    sv_http_conn_t *c = sv_xcalloc(1, sizeof(*c));
    c->ctx = ctx;
    uv_timer_init(ctx->loop, &c->timer);
    c->open_handles = 1;
    sv_buf_init(&c->stash, MAX_HEAD_BYTES);
    sv_buf_init(&c->out_queue, SIZE_MAX);
    sv_buf_init(&c->out_flight, SIZE_MAX);
    c->group = g;
    if (g) {
        if (g->n == g->cap) {
            g->cap = g->cap ? g->cap * 2 : 4;
            g->members = sv_xrealloc(g->members, g->cap * sizeof(*g->members));
        }
        g->members[g->n++] = c;
    }
    return c;
}

sv_http_conn_t *sv_http_conn_new(sv_http_ctx_t *ctx)
{
    return sv_http_conn_new_in(ctx, NULL);
}

sv_http_group_t *sv_http_group_new(void)
{
    return sv_xcalloc(1, sizeof(sv_http_group_t));
}

void sv_http_group_free(sv_http_group_t *g)
{
    if (g == NULL)
        return;
    free(g->members);
    free(g);
}

static void leave_group(sv_http_conn_t *c)
{
    sv_http_group_t *g = c->group;
    for (size_t i = 0; g && i < g->n; i++)
        if (g->members[i] == c) {
            g->members[i] = g->members[--g->n];
            break;
        }
    c->group = NULL;
}

static void dns_remove_waiter(sv_http_conn_t *c)
{
    dns_entry_t *e = c->endpoint;
    for (sv_http_conn_t **p = &e->waiters; *p; p = &(*p)->dns_next)
        if (*p == c) {
            *p = c->dns_next;
            break;
        }
    c->dns_next = NULL;
}

static void stop_waiting(sv_http_conn_t *c)
{
    sv_http_conn_t *o = c->waiting_on;
    for (sv_http_conn_t **p = o ? &o->h2_waiters : NULL; p && *p; p = &(*p)->wait_next)
        if (*p == c) {
            *p = c->wait_next;
            break;
        }
    c->waiting_on = c->wait_next = NULL;
}

/* Takes c out of whatever it waits in: DNS, another's handshake, an HTTP/2 stream. */
static void leave_queues(sv_http_conn_t *c)
{
    if (c->state == C_RESOLVING)
        dns_remove_waiter(c);
    stop_waiting(c);
    sv_h2_abandon(c);
}

/* Whether c's socket is not c's alone: its HTTP/2 session carries others' streams. */
static bool shared(const sv_http_conn_t *c)
{
    return sv_h2_streams(c) > (c->carrier == c ? 1u : 0u);
}

/* Ends c's request in the state it is in; the socket goes too unless others use it. */
static void stop_request(sv_http_conn_t *c)
{
    leave_queues(c);
    c->want_connect = false;
    if (!shared(c))
        close_socket(c);
}

void sv_http_conn_cancel(sv_http_conn_t *c)
{
    if (c->state == C_UPGRADED) { /* its result went out already */
        close_socket(c);
        c->state = C_IDLE;
        return;
    }
    if (c->state == C_IDLE)
        return;
    stop_request(c);
    c->res.interrupted = true;
    c->res.error = "request interrupted";
    deliver(c);
}

void sv_http_conn_write(sv_http_conn_t *c, const char *data, size_t len)
{
    if (c->state != C_UPGRADED)
        return;
    sv_conn_transport_write(c, data, len);
    sv_conn_transport_flush(c);
}

void sv_http_conn_stop(sv_http_conn_t *c)
{
    if (c->res.status == 0 || (c->state != C_WAITING && c->state != C_SENDING)) {
        sv_http_conn_cancel(c);
        return;
    }
    c->keep_alive = false;
    stop_request(c);
    deliver(c);
}

void sv_http_conn_free(sv_http_conn_t *c)
{
    sv_http_conn_cancel(c);
    c->freeing = true;
    leave_group(c);
    close_socket(c);
    uv_close((uv_handle_t *)&c->timer, on_timer_closed);
}

/* ---- failures ------------------------------------------------------------------- */

static void on_fail_timer(uv_timer_t *t)
{
    sv_http_conn_t *c = sv_container_of(t, sv_http_conn_t, timer);
    deliver(c);
}

void sv_conn_fail_request(sv_http_conn_t *c, int code, const char *msg)
{
    c->res.error_code = code;
    c->res.error = msg;
    c->state = C_FAILING;
    uv_timer_start(&c->timer, on_fail_timer, 0, 0);
}

/* Records the failure and delivers it from the loop (never synchronously). */
static void fail(sv_http_conn_t *c, int code, const char *msg)
{
    stop_request(c);
    sv_conn_fail_request(c, code, msg);
}

/* Whether c's request is in flight on c's own socket (not as a stream on another's,
 * nor waiting for another's handshake). */
static bool on_own_socket(const sv_http_conn_t *c)
{
    return c->carrier == NULL && c->waiting_on == NULL &&
           (c->state == C_CONNECTING || c->state == C_HANDSHAKING || c->state == C_SENDING ||
            c->state == C_WAITING);
}

void sv_conn_lost(sv_http_conn_t *c, int code, const char *msg)
{
    sv_h2_close(c, code, msg); /* the streams, c's own among them */
    if (on_own_socket(c))
        fail(c, code, msg);
    else
        close_socket(c);
}

static void on_timeout(uv_timer_t *t)
{
    sv_http_conn_t *c = sv_container_of(t, sv_http_conn_t, timer);
    if (c->state == C_FAILING) {
        deliver(c);
        return;
    }
    bool handshaking = c->state == C_HANDSHAKING;
    stop_request(c);
    c->res.error_code = handshaking ? SV_HTTP_ERR_TLS_HANDSHAKE_TIMEOUT : SV_HTTP_ERR_TIMEOUT;
    c->res.error = handshaking ? "tls: handshake timeout" : "request timeout";
    deliver(c);
}

/* A kept-alive socket the server closed before answering: HTTP clients resend once
 * on a fresh connection, as the request never reached the application. */
static bool retry_stale(sv_http_conn_t *c)
{
    if (!c->res.reused || c->retried || c->t_first_byte)
        return false;
    c->retried = true;
    close_socket(c);
    c->res.reused = false;
    c->res.bytes_sent = 0;
    c->t_write_start = c->t_written = c->t_tls_start = c->t_tls_done = 0;
    begin_connect(c);
    return true;
}

/* ---- response parsing ----------------------------------------------------------- */

void sv_conn_complete(sv_http_conn_t *c)
{
    if (c->opts.keep_body && c->content_encoding) {
        int rc = sv_http_decode_body(&c->res.body, sv_span(c->content_encoding));
        if (rc == SV_ETOOBIG) {
            c->res.error_code = SV_HTTP_ERR_RESPONSE_TOO_LARGE;
            c->res.error = "decoded response body exceeds the size limit";
        } else if (rc != 0) {
            c->res.error_code = SV_HTTP_ERR_DECOMPRESSION;
            c->res.error = "response body decompression failed";
        }
    }
    if (!c->keep_alive && !c->res.http2)
        close_socket(c);
    deliver(c);
}

static void note_head(sv_http_conn_t *c, const sv_h1_response_t *h, const char *head, size_t len)
{
    c->res.status = h->status;
    c->res.minor_version = h->minor_version;
    /* Both Content-Length and chunked: framing is ambiguous, so never reuse. */
    c->keep_alive = sv_h1_keep_alive(h->minor_version, &h->framing) &&
                    !(h->framing.chunked && h->framing.content_length >= 0);
    sv_h1_body_init_response(&c->body, h, c->req->is_head);
    if (c->body.mode == SV_H1_BODY_UNTIL_CLOSE || c->opts.close_after)
        c->keep_alive = false;
    free(c->content_encoding);
    c->content_encoding = NULL;
    if (c->opts.keep_body) {
        sv_span_t ce = sv_h1_find_header(h->headers, h->num_headers, "content-encoding");
        if (ce.len)
            c->content_encoding = sv_xstrndup(ce.ptr, ce.len);
    }
    if (c->opts.keep_head)
        sv_buf_append(&c->res.head, head, len);
}

/* Parses a head at data; returns bytes consumed, 0 when more input is needed, or
 * -1 after failing the request. Skips 1xx interim responses. */
static int64_t parse_head(sv_http_conn_t *c, const char *data, size_t len)
{
    sv_h1_response_t h;
    int n = sv_h1_parse_response(data, len, &h);
    if (n == SV_EAGAIN)
        return 0;
    if (n < 0) {
        fail(c, SV_HTTP_ERR_MALFORMED_RESPONSE, "malformed HTTP response");
        return -1;
    }
    if (h.status >= 100 && h.status < 200 && h.status != 101)
        return n; /* interim response: the real one follows */
    note_head(c, &h, data, (size_t)n);
    c->head_done = true;
    return n;
}

/* Feeds body bytes; returns false after failing the request. */
static bool feed_body(sv_http_conn_t *c, const char *data, size_t len, size_t *used)
{
    size_t off = 0;
    while (off < len && !c->body.done) {
        sv_span_t piece;
        int64_t n = sv_h1_body_feed(&c->body, data + off, len - off, &piece);
        if (n < 0) {
            fail(c, SV_HTTP_ERR_MALFORMED_RESPONSE, "malformed HTTP response body framing");
            return false;
        }
        off += (size_t)n;
        c->body_bytes += piece.len;
        if (c->opts.on_body) { /* a stream: handed on, never kept, no cap */
            if (piece.len && !c->opts.on_body(piece.ptr, piece.len, c->cb_arg)) {
                sv_http_conn_stop(c);
                return false;
            }
            continue;
        }
        if (c->body_bytes > c->ctx->max_response_bytes) {
            fail(c, SV_HTTP_ERR_RESPONSE_TOO_LARGE, "response body exceeds the size limit");
            return false;
        }
        if (c->opts.keep_body && piece.len && sv_buf_append(&c->res.body, piece.ptr, piece.len)) {
            fail(c, SV_HTTP_ERR_RESPONSE_TOO_LARGE, "response body exceeds the size limit");
            return false;
        }
    }
    *used = off;
    return true;
}

/* Head bytes either parse straight from the read buffer or, when split across
 * reads, accumulate in the stash. Returns bytes of data consumed, or -1. */
static int64_t consume_head(sv_http_conn_t *c, const char *data, size_t len)
{
    if (c->stash.len == 0) {
        int64_t n = parse_head(c, data, len);
        if (n != 0)
            return n;
        if (sv_buf_append(&c->stash, data, len) != 0) {
            fail(c, SV_HTTP_ERR_RESPONSE_TOO_LARGE, "response head exceeds 64 KiB");
            return -1;
        }
        return (int64_t)len;
    }
    size_t before = c->stash.len;
    if (sv_buf_append(&c->stash, data, len) != 0) {
        fail(c, SV_HTTP_ERR_RESPONSE_TOO_LARGE, "response head exceeds 64 KiB");
        return -1;
    }
    int64_t n = parse_head(c, c->stash.data, c->stash.len);
    if (n <= 0)
        return n < 0 ? -1 : (int64_t)len;
    /* n bytes of the stash were a head: the rest of this read is still ours to feed. */
    size_t from_data = (size_t)n - before;
    sv_buf_reset(&c->stash);
    return (int64_t)from_data;
}

/* Bytes of an upgraded connection: to on_body; false from it closes. */
static void upgraded_data(sv_http_conn_t *c, const char *data, size_t len)
{
    if (len && !c->opts.on_body(data, len, c->cb_arg) && c->state == C_UPGRADED)
        sv_http_conn_stop(c);
}

/* 101 Switching Protocols: the result goes out, the socket stays for on_body. */
static void upgrade(sv_http_conn_t *c, const char *rest, size_t len)
{
    c->state = C_UPGRADED;
    deliver(c);
    if (c->state == C_UPGRADED)
        upgraded_data(c, rest, len);
}

static void on_data(sv_http_conn_t *c, const char *data, size_t len)
{
    size_t off = 0;
    while (off < len) {
        if (!c->head_done) {
            int64_t n = consume_head(c, data + off, len - off);
            if (n < 0)
                return;
            off += (size_t)n;
            if (!c->head_done)
                continue;
            if (c->res.status == 101 && c->opts.upgrade) {
                upgrade(c, data + off, len - off);
                return;
            }
        }
        size_t used;
        if (!feed_body(c, data + off, len - off, &used))
            return;
        off += used;
        if (c->body.done)
            break;
    }
    if (!c->head_done || !c->body.done)
        return;
    if (off < len)
        c->keep_alive = false; /* bytes beyond the response: don't trust this socket */
    sv_conn_complete(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    sv_http_conn_t *c = sv_container_of(h, sv_http_conn_t, tcp);
    buf->base = c->ctx->read_buf;
    buf->len = READ_BUF_SIZE;
}

static void on_read_error(sv_http_conn_t *c, ssize_t nread)
{
    if (c->state == C_UPGRADED) {
        close_socket(c);
        c->state = C_IDLE;
        c->opts.on_body(NULL, 0, c->cb_arg); /* the end */
        return;
    }
    if (c->h2) {
        if (nread == UV_ECONNRESET)
            sv_conn_lost(c, SV_HTTP_ERR_RESET_BY_PEER, "read: connection reset by peer");
        else
            sv_conn_lost(c, SV_HTTP_ERR_GENERIC,
                         "unexpected EOF: connection closed before the response ended");
        return;
    }
    if (c->state == C_HANDSHAKING) {
        if (nread == UV_ECONNRESET)
            fail(c, SV_HTTP_ERR_RESET_BY_PEER, "read: connection reset by peer");
        else
            fail(c, SV_HTTP_ERR_TLS, "tls: the server closed the connection during the handshake");
        return;
    }
    if (c->state != C_WAITING && c->state != C_SENDING) {
        close_socket(c); /* idle keep-alive socket closed by the server */
        return;
    }
    if (nread == UV_EOF && c->head_done && sv_h1_body_eof(&c->body) == 0) {
        c->keep_alive = false;
        sv_conn_complete(c);
        return;
    }
    if (retry_stale(c))
        return;
    if (nread == UV_ECONNRESET)
        fail(c, SV_HTTP_ERR_RESET_BY_PEER, "read: connection reset by peer");
    else if (nread == UV_EOF)
        fail(c, SV_HTTP_ERR_GENERIC, "unexpected EOF: connection closed before the response ended");
    else
        fail(c, SV_HTTP_ERR_TCP, "read: network error");
}

void sv_conn_first_byte(sv_http_conn_t *c)
{
    if (c->t_first_byte == 0) {
        c->t_first_byte = sv_now_ns();
        if (c->t_written == 0)
            c->t_written = c->t_first_byte; /* the server answered before we finished */
    }
}

static void tls_received(sv_http_conn_t *c, const char *data, size_t len);
static void read_plain(sv_http_conn_t *c);

/* Extra reads an HTTP/2 connection makes in one socket event (64 KiB each, at most). */
#define H2_DRAIN_READS 8

/* One read's bytes for an HTTP/2 session, TLS or not. */
static void h2_consume(sv_http_conn_t *c, const char *data, size_t len)
{
    if (c->secure) {
        sv_tls_feed(c->tls, data, len);
        read_plain(c);
    } else {
        sv_h2_received(c, data, len);
    }
}

/* HTTP/2: what this read brought, then what the server sent while it was parsed,
 * until the socket is empty; then one write carries every stream that answered
 * (the requests VUs made meanwhile, the WINDOW_UPDATEs). The server keeps sending
 * while salvo parses, so writing only once the socket is drained makes fewer,
 * larger writes for the same requests, as h2load's read-until-EAGAIN does. A read
 * that finds the connection ended or failed is reported once the cork is off. */
static void h2_read(sv_http_conn_t *c, const char *data, size_t len)
{
    ssize_t lost = 0;
    sv_h2_cork(c);
    h2_consume(c, data, len);
    for (int i = 0; i < H2_DRAIN_READS && c->h2 && sv_h2_streams(c) && c->tcp_state == SOCK_OPEN;
         i++) {
        uv_os_fd_t fd;
        if (uv_fileno((uv_handle_t *)&c->tcp, &fd) != 0)
            break;
        ssize_t n = read(fd, c->ctx->read_buf, READ_BUF_SIZE);
        if (n <= 0) {
            if (n == 0)
                lost = UV_EOF;
            else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                lost = uv_translate_sys_error(errno);
            break;
        }
        h2_consume(c, c->ctx->read_buf, (size_t)n);
    }
    sv_h2_uncork(c);
    if (lost && c->tcp_state == SOCK_OPEN)
        on_read_error(c, lost);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    sv_http_conn_t *c = sv_container_of(s, sv_http_conn_t, tcp);
    if (nread == 0)
        return;
    if (nread < 0) {
        on_read_error(c, nread);
        return;
    }
    if (c->h2) {
        h2_read(c, buf->base, (size_t)nread);
        return;
    }
    if (c->secure) {
        tls_received(c, buf->base, (size_t)nread);
        return;
    }
    if (c->state == C_UPGRADED) {
        upgraded_data(c, buf->base, (size_t)nread);
        return;
    }
    if (c->state != C_WAITING && c->state != C_SENDING) {
        close_socket(c); /* unsolicited bytes on an idle connection */
        return;
    }
    sv_conn_first_byte(c);
    c->res.bytes_received += (uint64_t)nread;
    on_data(c, buf->base, (size_t)nread);
}

/* ---- sending -------------------------------------------------------------------- */

static void write_failed(sv_http_conn_t *c, int status)
{
    if (!c->h2 && retry_stale(c))
        return;
    if (status == UV_EPIPE)
        sv_conn_lost(c, SV_HTTP_ERR_TCP_BROKEN_PIPE, "write: broken pipe");
    else if (status == UV_ECONNRESET)
        sv_conn_lost(c, SV_HTTP_ERR_RESET_BY_PEER, "write: connection reset by peer");
    else
        sv_conn_lost(c, SV_HTTP_ERR_TCP_UNKNOWN_ERRNO, "write: network error");
}

static void on_written(uv_write_t *w, int status)
{
    sv_http_conn_t *c = sv_container_of(w, sv_http_conn_t, write_req);
    if (c->state != C_SENDING)
        return; /* failed or interrupted meanwhile */
    if (status < 0) {
        write_failed(c, status);
        return;
    }
    if (c->t_written == 0)
        c->t_written = sv_now_ns();
    c->state = C_WAITING;
}

typedef enum { WRITTEN, WRITE_PENDING, WRITE_FAILED } write_outcome_t;

/* Writes len bytes: at once when the kernel takes them all, else the rest with a
 * uv_write that calls cb. A failure fails the request. */
static write_outcome_t write_out(sv_http_conn_t *c, char *data, size_t len, uv_write_cb cb)
{
    uv_buf_t b = uv_buf_init(data, (unsigned)len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)len)
        return WRITTEN;
    if (n < 0 && n != UV_EAGAIN) {
        write_failed(c, n);
        return WRITE_FAILED;
    }
    size_t done = n > 0 ? (size_t)n : 0;
    b = uv_buf_init(data + done, (unsigned)(len - done));
    int rc = uv_write(&c->write_req, (uv_stream_t *)&c->tcp, &b, 1, cb);
    if (rc < 0) {
        write_failed(c, rc);
        return WRITE_FAILED;
    }
    return WRITE_PENDING;
}

static void tls_failed(sv_http_conn_t *c);

static void send_bytes(sv_http_conn_t *c, uint64_t now)
{
    const sv_buf_t *wire = &c->req->wire;
    c->state = C_SENDING;
    c->t_write_start = now;
    if (c->secure) {
        sv_conn_tls_names(c, &c->res); /* the session the request goes on */
        if (sv_tls_write(c->tls, wire->data, wire->len) != SV_TLS_OK)
            tls_failed(c);
        else if (sv_conn_transport_flush(c) && !c->writing) {
            c->t_written = sv_now_ns();
            c->state = C_WAITING;
        }
        return;
    }
    c->res.bytes_sent = wire->len;
    if (write_out(c, wire->data, wire->len, on_written) == WRITTEN) {
        c->t_written = sv_now_ns();
        c->state = C_WAITING;
    }
}

/* ---- TLS ------------------------------------------------------------------------ */

static void tls_failed(sv_http_conn_t *c)
{
    const char *message;
    int code = sv_tls_error(c->tls, &message);
    fail(c, code, message);
}

static void on_out_written(uv_write_t *w, int status)
{
    sv_http_conn_t *c = sv_container_of(w, sv_http_conn_t, write_req);
    c->writing = false;
    bool in_request = c->state == C_SENDING || c->state == C_HANDSHAKING;
    if (status < 0) {
        if (in_request || c->h2)
            write_failed(c, status);
        return;
    }
    if (c->out_queue.len && !sv_conn_transport_flush(c))
        return;
    if (c->state == C_SENDING && !c->writing && !c->res.http2) {
        c->t_written = sv_now_ns();
        c->state = C_WAITING;
    }
}

void sv_conn_transport_write(sv_http_conn_t *c, const char *data, size_t len)
{
    if (!c->secure)
        sv_buf_append(&c->out_queue, data, len);
    else
        (void)sv_tls_write(c->tls, data, len); /* a failed engine: the next read says how */
}

bool sv_conn_transport_flush(sv_http_conn_t *c)
{
    size_t n;
    do { /* TLS records into the queue */
        char *dst = sv_buf_reserve(&c->out_queue, READ_BUF_SIZE);
        n = c->secure ? sv_tls_take_output(c->tls, dst, READ_BUF_SIZE) : 0;
        c->out_queue.len += n;
        if (!c->h2)
            c->res.bytes_sent += n;
    } while (n == READ_BUF_SIZE);
    if (c->writing || c->out_queue.len == 0 || c->tcp_state != SOCK_OPEN)
        return true;
    sv_buf_t out = c->out_queue; /* it becomes the flight; the old flight, the queue */
    c->out_queue = c->out_flight;
    c->out_flight = out;
    sv_buf_reset(&c->out_queue);
    write_outcome_t w = write_out(c, c->out_flight.data, c->out_flight.len, on_out_written);
    c->writing = w == WRITE_PENDING;
    return w != WRITE_FAILED;
}

/* The server picked HTTP/2 (or it is known to speak it): a session on the socket,
 * c's request its first stream, and the streams of those who waited. */
static void start_h2(sv_http_conn_t *c)
{
    if (sv_h2_start(c) != 0) {
        fail(c, SV_HTTP_ERR_H2, "http2: cannot start a session");
        return;
    }
    c->res.reused = false;
    sv_h2_submit(c, c); /* the others wait for the server's SETTINGS: its stream limit */
}

static void continue_handshake(sv_http_conn_t *c)
{
    sv_tls_status_t st = sv_tls_handshake(c->tls);
    if (st == SV_TLS_CLOSED) {
        fail(c, SV_HTTP_ERR_TLS, "tls: the server closed the connection during the handshake");
        return;
    }
    if (st == SV_TLS_FAILED) {
        tls_failed(c);
        return;
    }
    if (!sv_conn_transport_flush(c) || st != SV_TLS_OK)
        return;
    c->t_tls_done = sv_now_ns();
    c->tls_ready = true;
    c->h2_pending = false;
    if (sv_tls_alpn_h2(c->tls)) {
        start_h2(c);
        return;
    }
    release_waiters(c); /* HTTP/1.1: each connects on its own */
    send_bytes(c, c->t_tls_done);
}

/* The TCP connection is up: a TLS session on it, resuming the connection's last. */
static void start_tls(sv_http_conn_t *c)
{
    sv_http_ctx_t *ctx = c->ctx;
    if (ctx->tls == NULL) {
        char err[256];
        if (ctx->own_tls == NULL &&
            sv_tls_new(&ctx->own_tls, &(sv_tls_opts_t){0}, err, sizeof(err)) != 0) {
            fail(c, SV_HTTP_ERR_TLS, "tls: OpenSSL could not be set up");
            return;
        }
        ctx->tls = ctx->own_tls;
    }
    park_session(c);
    c->tls = sv_tls_conn_new(ctx->tls, c->endpoint->host, c->endpoint->numeric,
                             c->opts.version != SV_HTTP_1_1, session_for(c, c->endpoint));
    if (c->tls == NULL) {
        fail(c, SV_HTTP_ERR_TLS, "tls: OpenSSL could not make a session");
        return;
    }
    c->secure = true;
    c->state = C_HANDSHAKING;
    c->t_tls_start = sv_now_ns();
    continue_handshake(c);
}

/* Decrypted bytes for the request in flight, until the engine wants more. */
static void read_plain(sv_http_conn_t *c)
{
    sv_http_ctx_t *ctx = c->ctx;
    if (ctx->plain_buf == NULL)
        ctx->plain_buf = sv_xmalloc(READ_BUF_SIZE);
    for (;;) {
        size_t n;
        sv_tls_status_t st = sv_tls_read(c->tls, ctx->plain_buf, READ_BUF_SIZE, &n);
        bool in_request = c->state == C_WAITING || c->state == C_SENDING;
        if (st == SV_TLS_WANT)
            return;
        if (c->h2) {
            if (st == SV_TLS_OK)
                sv_h2_received(c, ctx->plain_buf, n);
            else
                on_read_error(c, UV_EOF);
            if (c->h2 == NULL || !c->secure)
                return;
            continue;
        }
        if (c->state == C_UPGRADED) {
            if (st == SV_TLS_OK)
                upgraded_data(c, ctx->plain_buf, n);
            else
                on_read_error(c, UV_EOF);
            if (c->state != C_UPGRADED)
                return;
            continue;
        }
        if (st == SV_TLS_CLOSED) {
            on_read_error(c, UV_EOF);
            return;
        }
        if (st == SV_TLS_FAILED || !in_request) {
            if (in_request)
                tls_failed(c);
            else
                close_socket(c); /* unsolicited bytes on an idle connection */
            return;
        }
        sv_conn_first_byte(c);
        uint32_t sends = c->sends;
        on_data(c, ctx->plain_buf, n);
        if (c->state == C_UPGRADED)
            continue; /* what follows is the new protocol's */
        if (c->sends != sends || (c->state != C_WAITING && c->state != C_SENDING))
            return; /* done with that response; what follows is the next one's */
    }
}

static void tls_received(sv_http_conn_t *c, const char *data, size_t len)
{
    if (c->state == C_WAITING || c->state == C_SENDING || c->state == C_HANDSHAKING)
        c->res.bytes_received += len;
    sv_tls_feed(c->tls, data, len);
    if (c->state == C_HANDSHAKING) {
        continue_handshake(c);
        if (c->state != C_SENDING && c->state != C_WAITING)
            return;
    }
    read_plain(c);
}

static void on_connect(uv_connect_t *req, int status)
{
    sv_http_conn_t *c = sv_container_of(req, sv_http_conn_t, connect_req);
    if (c->state != C_CONNECTING || c->tcp_state != SOCK_OPEN)
        return; /* interrupted, timed out or failed meanwhile */
    if (status < 0) {
        dns_entry_t *e = c->endpoint;
        if (++c->addrs_tried < e->n_addrs) {
            c->addr_index = (c->addr_index + 1) % e->n_addrs;
            c->want_connect = true; /* the next address: those waiting for it go on waiting */
            close_socket(c);
            return;
        }
        if (status == UV_ECONNREFUSED)
            fail(c, SV_HTTP_ERR_DIAL_REFUSED, "dial: connection refused");
        else if (status == UV_ETIMEDOUT)
            fail(c, SV_HTTP_ERR_DIAL_TIMEOUT, "dial: i/o timeout");
        else
            fail(c, SV_HTTP_ERR_DIAL, "dial: network error");
        return;
    }
    c->endpoint->preferred = c->addr_index;
    c->t_connected = sv_now_ns();
    c->connected = true;
    c->ctx->open_connections++;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    if (c->endpoint->tls)
        start_tls(c);
    else if (c->opts.version == SV_HTTP_2)
        start_h2(c);
    else
        send_bytes(c, c->t_connected);
}

static void begin_connect(sv_http_conn_t *c)
{
    c->state = C_CONNECTING;
    if (c->tcp_state == SOCK_CLOSING) {
        c->want_connect = true;
        return;
    }
    dns_entry_t *e = c->endpoint;
    if (c->t_connect_start == 0)
        c->t_connect_start = sv_now_ns();
    uv_tcp_init(c->ctx->loop, &c->tcp);
    c->tcp_state = SOCK_OPEN;
    c->open_handles++;
    uv_tcp_nodelay(&c->tcp, 1);
    int rc = uv_tcp_connect(&c->connect_req, &c->tcp,
                            (const struct sockaddr *)&e->addrs[c->addr_index], on_connect);
    if (rc < 0)
        fail(c, rc == UV_ECONNREFUSED ? SV_HTTP_ERR_DIAL_REFUSED : SV_HTTP_ERR_DIAL,
             rc == UV_ECONNREFUSED ? "dial: connection refused" : "dial: cannot open a socket");
}

/* ---- DNS ------------------------------------------------------------------------ */

static void dns_ready(dns_entry_t *e)
{
    sv_http_conn_t *w = e->waiters;
    e->waiters = NULL;
    while (w) {
        sv_http_conn_t *next = w->dns_next;
        w->dns_next = NULL;
        if (e->state == DNS_READY)
            start_request(w);
        else
            fail(w, e->error == UV_EAI_NONAME ? SV_HTTP_ERR_DNS_NO_SUCH_HOST : SV_HTTP_ERR_DNS,
                 e->error == UV_EAI_NONAME ? "lookup: no such host" : "lookup: DNS failure");
        w = next;
    }
}

static void on_resolved(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
    dns_entry_t *e = sv_container_of(req, dns_entry_t, req);
    sv_http_ctx_t *ctx = e->ctx;
    ctx->pending_lookups--;
    if (ctx->freeing) {
        uv_freeaddrinfo(res);
        if (ctx->pending_lookups == 0)
            free_dns_entries(ctx);
        return;
    }
    e->n_addrs = 0;
    for (struct addrinfo *ai = res; status == 0 && ai && e->n_addrs < MAX_ADDRS; ai = ai->ai_next) {
        if (ai->ai_family != AF_INET && ai->ai_family != AF_INET6)
            continue;
        memcpy(&e->addrs[e->n_addrs], ai->ai_addr, ai->ai_addrlen);
        e->n_addrs++;
    }
    uv_freeaddrinfo(res);
    uint64_t now = sv_now_ns();
    if (e->n_addrs > 0) {
        e->state = DNS_READY;
        e->preferred = 0;
        e->expires_ns = now + DNS_TTL_NS;
    } else {
        e->state = DNS_FAILED;
        e->error = status ? status : UV_EAI_NONAME;
        e->expires_ns = now + DNS_FAILURE_TTL_NS;
    }
    dns_ready(e);
}

static bool numeric_address(dns_entry_t *e)
{
    struct sockaddr_in *v4 = (struct sockaddr_in *)&e->addrs[0];
    struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)&e->addrs[0];
    if (uv_ip4_addr(e->host, e->port, v4) == 0 || uv_ip6_addr(e->host, e->port, v6) == 0) {
        e->n_addrs = 1;
        e->numeric = true;
        e->state = DNS_READY;
        e->expires_ns = UINT64_MAX;
        return true;
    }
    return false;
}

static dns_entry_t *dns_entry(sv_http_ctx_t *ctx, const sv_url_t *u)
{
    for (dns_entry_t *e = ctx->dns; e; e = e->next)
        if (e->port == u->port && e->tls == u->tls && strcmp(e->host, u->host) == 0)
            return e;
    dns_entry_t *e = sv_xcalloc(1, sizeof(*e));
    e->host = sv_xstrdup(u->host);
    e->port = u->port;
    e->tls = u->tls;
    e->ctx = ctx;
    e->next = ctx->dns;
    ctx->dns = e;
    numeric_address(e);
    return e;
}

static void dns_lookup(dns_entry_t *e)
{
    char port[8];
    snprintf(port, sizeof(port), "%u", e->port);
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
    e->state = DNS_PENDING;
    int rc = uv_getaddrinfo(e->ctx->loop, &e->req, on_resolved, e->host, port, &hints);
    if (rc < 0) {
        e->state = DNS_FAILED;
        e->error = rc;
        e->expires_ns = sv_now_ns() + DNS_FAILURE_TTL_NS;
        dns_ready(e);
        return;
    }
    e->ctx->pending_lookups++;
}

/* ---- requests ------------------------------------------------------------------- */

static void start_request(sv_http_conn_t *c)
{
    dns_entry_t *e = c->endpoint;
    if (e->state == DNS_PENDING || sv_now_ns() >= e->expires_ns || e->state == DNS_IDLE) {
        c->state = C_RESOLVING;
        c->dns_next = e->waiters;
        e->waiters = c;
        if (e->state != DNS_PENDING)
            dns_lookup(e);
        return;
    }
    if (e->state == DNS_FAILED) {
        fail(c, e->error == UV_EAI_NONAME ? SV_HTTP_ERR_DNS_NO_SUCH_HOST : SV_HTTP_ERR_DNS,
             e->error == UV_EAI_NONAME ? "lookup: no such host" : "lookup: DNS failure");
        return;
    }
    c->addr_index = e->preferred;
    c->addrs_tried = 0;
    begin_connect(c);
}

/* The rps cap: the time the next request may start (now when there is no cap). */
static uint64_t pace(sv_http_ctx_t *ctx, uint64_t now)
{
    if (ctx->pace_ns == 0)
        return now;
    uint64_t slot = ctx->pace_next_ns > now ? ctx->pace_next_ns : now;
    ctx->pace_next_ns = slot + ctx->pace_ns;
    return slot;
}

/* ---- HTTP/2 sharing -------------------------------------------------------------- */

/* Whether a connection's session (or its handshake, when pending) can carry a new
 * stream to e. */
static bool carries(const sv_http_conn_t *o, const dns_entry_t *e)
{
    if (o->endpoint != e || o->state == C_DRAINING)
        return false;
    if (o->h2) /* before the server's SETTINGS, one may only wait for them */
        return !sv_h2_ready(o) || sv_h2_can_take(o);
    return o->h2_pending;
}

/* c's own connection if it carries HTTP/2 to e, else a group member's, else NULL. */
static sv_http_conn_t *find_carrier(sv_http_conn_t *c, const dns_entry_t *e)
{
    if (carries(c, e))
        return c;
    sv_http_group_t *g = c->group;
    for (size_t i = 0; g && i < g->n; i++)
        if (g->members[i] != c && carries(g->members[i], e))
            return g->members[i];
    return NULL;
}

/* Whether this request may go over HTTP/2 to e. */
static bool may_use_h2(const sv_http_conn_t *c, const dns_entry_t *e)
{
    return c->opts.version == SV_HTTP_2 || (c->opts.version == SV_HTTP_AUTO && e->tls);
}

/* The request on a connection of its own to e: a new socket, once c's HTTP/2
 * session (if any) carries no other streams. */
static void connect_to(sv_http_conn_t *c, dns_entry_t *e)
{
    if (shared(c)) {
        c->state = C_DRAINING;
        c->target = e;
        return;
    }
    close_socket(c);
    c->endpoint = e;
    c->h2_pending = may_use_h2(c, e);
    start_request(c);
}

/* Those that waited for c's handshake: a stream each on its session, or their own
 * connections if it speaks HTTP/1.1 (or failed). */
static void release_waiters(sv_http_conn_t *c)
{
    c->h2_pending = false;
    while (c->h2_waiters) {
        sv_http_conn_t *w = c->h2_waiters;
        stop_waiting(w);
        if (c->h2 && sv_h2_can_take(c)) {
            w->res.reused = true;
            sv_h2_submit(c, w);
        } else {
            connect_to(w, w->target);
        }
    }
}

void sv_h2_settings_arrived(sv_http_conn_t *owner)
{
    release_waiters(owner);
}

void sv_h2_stream_closed(sv_http_conn_t *owner)
{
    if (sv_h2_streams(owner) > 0)
        return;
    if (owner->state == C_DRAINING) /* the session is free to go: owner's turn */
        connect_to(owner, owner->target);
    else if (owner->state == C_IDLE && owner->opts.close_after)
        close_socket(owner);
}

/* Sends the request as a stream on a session that goes there, on a kept-alive
 * socket, or on a new connection. */
static void route(sv_http_conn_t *c)
{
    dns_entry_t *e = dns_entry(c->ctx, &c->req->url);
    if (c->connected && c->endpoint == e && c->tcp_state == SOCK_OPEN && !c->h2) {
        c->res.reused = true;
        send_bytes(c, c->res.start_ns);
        return;
    }
    sv_http_conn_t *carrier = may_use_h2(c, e) ? find_carrier(c, e) : NULL;
    if (carrier && sv_h2_ready(carrier)) {
        c->res.reused = true;
        sv_h2_submit(carrier, c);
        return;
    }
    c->target = e;
    if (carrier) { /* its handshake tells whether the server speaks HTTP/2 */
        c->state = C_CONNECTING;
        c->waiting_on = carrier;
        c->wait_next = carrier->h2_waiters;
        carrier->h2_waiters = c;
        return;
    }
    connect_to(c, e);
}

/* Starts the request: its timeout runs from here. */
static void begin(sv_http_conn_t *c)
{
    const sv_http_send_opts_t *opts = &c->opts;
    if (opts->timeout_ns)
        uv_timer_start(&c->timer, on_timeout, (opts->timeout_ns + 999999) / 1000000, 0);
    route(c);
}

bool sv_conn_resend(sv_http_conn_t *c)
{
    if (c->resends == MAX_RESENDS)
        return false;
    c->resends++;
    c->res.bytes_sent = c->res.bytes_received = 0;
    c->t_write_start = c->t_written = c->t_first_byte = 0;
    route(c);
    return true;
}

/* The resend, from the loop: the request timeout runs on from where it was. */
static void on_resend(uv_timer_t *t)
{
    sv_http_conn_t *c = sv_container_of(t, sv_http_conn_t, timer);
    uint64_t now = sv_now_ns(), deadline = c->res.start_ns + c->opts.timeout_ns;
    if (c->opts.timeout_ns && deadline <= now) {
        on_timeout(t);
        return;
    }
    if (c->opts.timeout_ns)
        uv_timer_start(&c->timer, on_timeout, (deadline - now + 999999) / 1000000, 0);
    int code = c->res.error_code; /* the result if it cannot be resent */
    const char *msg = c->res.error;
    c->res.error_code = 0;
    c->res.error = NULL;
    if (!sv_conn_resend(c))
        sv_conn_fail_request(c, code, msg);
}

void sv_conn_resend_later(sv_http_conn_t *c, int code, const char *msg)
{
    if (c->resends == MAX_RESENDS) {
        sv_conn_fail_request(c, code, msg);
        return;
    }
    c->res.error_code = code; /* should the resend fail */
    c->res.error = msg;
    c->state = C_PACED; /* waiting for the loop, as for its turn under the rps cap */
    uv_timer_start(&c->timer, on_resend, 0, 0);
}

/* Its turn under the rps cap has come: the request's time starts now. */
static void on_paced(uv_timer_t *t)
{
    sv_http_conn_t *c = sv_container_of(t, sv_http_conn_t, timer);
    c->res.start_ns = sv_now_ns();
    begin(c);
}

void sv_http_ctx_set_pace(sv_http_ctx_t *ctx, uint64_t pace_ns)
{
    ctx->pace_ns = pace_ns;
}

int sv_http_conn_send(sv_http_conn_t *c, const sv_http_request_t *req,
                      const sv_http_send_opts_t *opts, sv_http_cb cb, void *arg)
{
    if (c->state != C_IDLE || c->freeing)
        return SV_EINVAL;
    sv_buf_t head = c->res.head, body = c->res.body;
    sv_buf_reset(&head);
    sv_buf_reset(&body);
    head.max = MAX_HEAD_BYTES;
    body.max =
        c->ctx->max_response_bytes > SIZE_MAX ? SIZE_MAX : (size_t)c->ctx->max_response_bytes;
    c->res = (sv_http_result_t){.start_ns = sv_now_ns(), .head = head, .body = body};
    c->req = req;
    c->cb = cb;
    c->cb_arg = arg;
    c->head_done = false;
    c->retried = false;
    c->resends = 0;
    c->body_bytes = 0;
    c->t_connect_start = c->t_connected = c->t_tls_start = c->t_tls_done = 0;
    c->t_write_start = c->t_written = c->t_first_byte = 0;
    c->sends++;
    sv_buf_reset(&c->stash);
    c->opts = *opts;
    uint64_t slot = pace(c->ctx, c->res.start_ns);
    if (slot > c->res.start_ns) {
        c->state = C_PACED;
        uv_timer_start(&c->timer, on_paced, (slot - c->res.start_ns + 999999) / 1000000, 0);
        return 0;
    }
    begin(c);
    return 0;
}
