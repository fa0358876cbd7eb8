/*
 * HTTP/2 on a connection's socket, with nghttp2 (client_int.h). The connection that
 * opened the socket owns the session; its own requests and those of the other
 * connections of its group (a VU's) go as concurrent streams. nghttp2 does the
 * framing and flow control; the bytes go through the owner's transport (TLS or
 * plain TCP) as the owner's queue allows.
 *
 * A stream's result is shaped as an HTTP/1.1 one for the rest of the product: its
 * head is written as "HTTP/1.1 200\r\nname: value\r\n…" (what keep_head readers
 * parse) and http2 is set, so proto says HTTP/2.0.
 */
#define _GNU_SOURCE /* memmem */
#include <nghttp2/nghttp2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client_int.h"

#define STREAM_WINDOW (16 * 1024 * 1024)
#define H2_STOPPED (-1)      /* h2_error: the client ended the stream (on_body said so) */
#define H2_HEAD_TOO_BIG (-2) /* h2_error: the head went past its cap */
#define CONNECTION_WINDOW (64 * 1024 * 1024)

struct sv_h2 {
    nghttp2_session *s;
    sv_http_conn_t *owner;
    sv_http_conn_t *open;      /* the connections with an open stream, linked by stream_next */
    uint32_t streams;          /* how many, the owner's own included */
    int busy;                  /* inside nghttp2 (a callback may not re-enter it) */
    int corked;                /* reads of one socket event in progress: write after them */
    sv_buf_t frames;           /* nghttp2's output, gathered for one write */
    bool dead;                 /* closed while busy: freed when nghttp2 returns */
    bool goaway;               /* the server takes no new streams */
    bool settings;             /* the server's first SETTINGS came: its stream limit is known */
    uint32_t sent_goaway_code; /* why nghttp2 ended the session, when it did */
    int32_t last_stream_id;
    uint32_t goaway_code;
};

/* ---- error codes -------------------------------------------------------------------- */

/* k6's codes: 1610 + 1 + code for GOAWAY, 1630 + 1 + code for a stream reset, 1650 +
 * 1 + code for a connection error; codes past HTTP_1_1_REQUIRED (13) get the base. */
#define H2_CODES(X)                                                                                \
    X(NO_ERROR)                                                                                    \
    X(PROTOCOL_ERROR)                                                                              \
    X(INTERNAL_ERROR)                                                                              \
    X(FLOW_CONTROL_ERROR)                                                                          \
    X(SETTINGS_TIMEOUT)                                                                            \
    X(STREAM_CLOSED)                                                                               \
    X(FRAME_SIZE_ERROR)                                                                            \
    X(REFUSED_STREAM)                                                                              \
    X(CANCEL)                                                                                      \
    X(COMPRESSION_ERROR)                                                                           \
    X(CONNECT_ERROR)                                                                               \
    X(ENHANCE_YOUR_CALM)                                                                           \
    X(INADEQUATE_SECURITY)                                                                         \
    X(HTTP_1_1_REQUIRED)

#define GOAWAY_MSG(name) "http2: received GoAway with http2 ErrCode " #name,
#define STREAM_MSG(name) "http2: stream error with http2 ErrCode " #name,
#define CONN_MSG(name) "http2: connection error with http2 ErrCode " #name,
static const char *const goaway_msgs[] = {H2_CODES(GOAWAY_MSG)};
static const char *const stream_msgs[] = {H2_CODES(STREAM_MSG)};
static const char *const conn_msgs[] = {H2_CODES(CONN_MSG)};

static int h2_code(int base, uint32_t code, const char *const *msgs, const char **msg)
{
    if (code < SV_ARRAY_SIZE(goaway_msgs)) {
        *msg = msgs[code];
        return base + 1 + (int)code;
    }
    *msg = msgs == goaway_msgs ? "http2: received GoAway" : "http2: stream error";
    return base;
}

/* ---- request headers ------------------------------------------------------------------ */

/* Headers HTTP/2 forbids (RFC 9113 §8.2.2), and Host, which becomes :authority. */
static bool connection_specific(const char *name, size_t len)
{
    static const char *const names[] = {
        "host", "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(names); i++)
        if (strlen(names[i]) == len && strncasecmp(names[i], name, len) == 0)
            return true;
    return false;
}

static void add_nv(sv_buf_t *names, nghttp2_nv *nv, size_t *n, const char *name, size_t nlen,
                   const char *value, size_t vlen)
{
    /* offsets for now: the buffer may still move */
    size_t at = names->len;
    for (size_t i = 0; i < nlen; i++) {
        char c = (char)(name[i] >= 'A' && name[i] <= 'Z' ? name[i] + 32 : name[i]);
        sv_buf_append(names, &c, 1);
    }
    sv_buf_append(names, value, vlen);
    nv[*n] = (nghttp2_nv){(uint8_t *)(uintptr_t)at, (uint8_t *)(uintptr_t)(at + nlen), nlen, vlen,
                          NGHTTP2_NV_FLAG_NONE};
    (*n)++;
}

void sv_h2_request_init(sv_http_request_t *r)
{
    const char *wire = r->wire.data; /* not NUL-terminated */
    const char *end = memmem(wire, r->wire.len, "\r\n\r\n", 4);
    r->head_len = (size_t)(end - wire) + 4;
    size_t lines = 0;
    for (const char *p = wire; p < end; p++)
        lines += *p == '\n';
    nghttp2_nv *nv = sv_xcalloc(lines + 5, sizeof(*nv));
    sv_buf_t *b = &r->h2_names;
    sv_buf_init(b, SIZE_MAX);
    size_t n = 0;
    const char *authority = r->url.authority;
    size_t alen = strlen(authority);
    const char *line = (const char *)memmem(wire, r->wire.len, "\r\n", 2) + 2;
    for (const char *eol; line < end + 2; line = eol + 2) {
        eol = memmem(line, (size_t)(end + 2 - line), "\r\n", 2);
        const char *colon = memchr(line, ':', (size_t)(eol - line));
        if (colon == NULL)
            continue;
        const char *v = colon + 1;
        while (*v == ' ' || *v == '\t')
            v++;
        if ((size_t)(colon - line) == 4 && strncasecmp(line, "host", 4) == 0) {
            authority = v;
            alen = (size_t)(eol - v);
        }
        if (!connection_specific(line, (size_t)(colon - line)))
            add_nv(b, nv, &n, line, (size_t)(colon - line), v, (size_t)(eol - v));
    }
    nghttp2_nv pseudo[4];
    size_t np = 0;
    add_nv(b, pseudo, &np, ":method", 7, r->method, strlen(r->method));
    add_nv(b, pseudo, &np, ":scheme", 7, r->url.scheme, strlen(r->url.scheme));
    add_nv(b, pseudo, &np, ":authority", 10, authority, alen);
    add_nv(b, pseudo, &np, ":path", 5, r->url.target, strlen(r->url.target));
    memmove(nv + np, nv, n * sizeof(*nv)); /* pseudo-headers first */
    memcpy(nv, pseudo, np * sizeof(*nv));
    n += np;
    for (size_t i = 0; i < n; i++) { /* offsets become pointers now that the buffer is whole */
        nv[i].name = (uint8_t *)b->data + (uintptr_t)nv[i].name;
        nv[i].value = (uint8_t *)b->data + (uintptr_t)nv[i].value;
    }
    r->h2_nv = nv;
    r->h2_nv_len = n;
}

void sv_h2_request_free(sv_http_request_t *r)
{
    free(r->h2_nv);
    sv_buf_free(&r->h2_names);
}

/* ---- streams --------------------------------------------------------------------------- */

static sv_http_conn_t *slot_of(sv_h2_t *h, int32_t stream_id)
{
    return stream_id ? nghttp2_session_get_stream_user_data(h->s, stream_id) : NULL;
}

static void stream_opened(sv_h2_t *h, sv_http_conn_t *slot, int32_t id)
{
    slot->carrier = h->owner;
    slot->stream_id = id;
    slot->stream_next = h->open;
    h->open = slot;
    h->streams++;
}

static void stream_ended(sv_h2_t *h, sv_http_conn_t *slot)
{
    for (sv_http_conn_t **p = &h->open; *p; p = &(*p)->stream_next)
        if (*p == slot) {
            *p = slot->stream_next;
            break;
        }
    nghttp2_session_set_stream_user_data(h->s, slot->stream_id, NULL);
    slot->stream_next = NULL;
    slot->carrier = NULL;
    slot->stream_id = 0;
    h->streams--;
}

static ssize_t read_body(nghttp2_session *s, int32_t stream_id, uint8_t *buf, size_t len,
                         uint32_t *flags, nghttp2_data_source *src, void *user)
{
    sv_http_conn_t *slot = src->ptr;
    const sv_http_request_t *r = slot->req;
    size_t body = r->wire.len - r->head_len, left = body - slot->h2_body_sent;
    size_t n = SV_MIN(len, left);
    memcpy(buf, r->wire.data + r->head_len + slot->h2_body_sent, n);
    slot->h2_body_sent += n;
    if (slot->h2_body_sent == body)
        *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_frame_send(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    if (f->hd.type == NGHTTP2_GOAWAY)
        ((sv_h2_t *)user)->sent_goaway_code = f->goaway.error_code;
    sv_http_conn_t *slot = slot_of(user, f->hd.stream_id);
    if (slot == NULL)
        return 0;
    slot->res.bytes_sent += f->hd.length + 9;
    if ((f->hd.flags & NGHTTP2_FLAG_END_STREAM) &&
        (f->hd.type == NGHTTP2_HEADERS || f->hd.type == NGHTTP2_DATA)) {
        slot->t_written = sv_now_ns();
        if (slot->state == C_SENDING)
            slot->state = C_WAITING;
    }
    return 0;
}

static int on_header(nghttp2_session *s, const nghttp2_frame *f, const uint8_t *name, size_t nlen,
                     const uint8_t *value, size_t vlen, uint8_t flags, void *user)
{
    sv_http_conn_t *slot = slot_of(user, f->hd.stream_id);
    if (slot == NULL || f->hd.type != NGHTTP2_HEADERS || slot->head_done)
        return 0;
    if (nlen == 7 && memcmp(name, ":status", 7) == 0) {
        int status = vlen == 3 ? atoi((const char *)value) : 0;
        if (status >= 100 && status < 200)
            return 0; /* interim: the real head follows */
        slot->res.status = status;
        sv_conn_first_byte(slot);
        if (slot->opts.keep_head)
            sv_buf_printf(&slot->res.head, "HTTP/1.1 %03d\r\n", status);
        return 0;
    }
    if (slot->res.status == 0)
        return 0;
    sv_buf_t *head = &slot->res.head;
    if (slot->opts.keep_head &&
        (sv_buf_append(head, name, nlen) || sv_buf_append(head, ": ", 2) ||
         sv_buf_append(head, value, vlen) || sv_buf_append(head, "\r\n", 2)) &&
        !slot->h2_error) { /* past the 64 KiB the head may take, as over HTTP/1.1 */
        slot->h2_error = H2_HEAD_TOO_BIG;
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, f->hd.stream_id, NGHTTP2_CANCEL);
    }
    if (slot->opts.keep_body && nlen == 16 && memcmp(name, "content-encoding", 16) == 0) {
        free(slot->content_encoding);
        slot->content_encoding = sv_xstrndup((const char *)value, vlen);
    }
    return 0;
}

static int on_frame_recv(nghttp2_session *s, const nghttp2_frame *f, void *user)
{
    sv_h2_t *h = user;
    if (f->hd.type == NGHTTP2_GOAWAY) {
        h->goaway = true;
        h->last_stream_id = f->goaway.last_stream_id;
        h->goaway_code = f->goaway.error_code;
        return 0;
    }
    if (f->hd.type == NGHTTP2_SETTINGS && !(f->hd.flags & NGHTTP2_FLAG_ACK) && !h->settings) {
        h->settings = true;
        sv_h2_settings_arrived(h->owner);
        return 0;
    }
    sv_http_conn_t *slot = slot_of(h, f->hd.stream_id);
    if (slot == NULL)
        return 0;
    slot->res.bytes_received += f->hd.length + 9;
    if (f->hd.type == NGHTTP2_HEADERS && slot->res.status && !slot->head_done) {
        slot->head_done = true;
        if (slot->opts.keep_head)
            sv_buf_append(&slot->res.head, "\r\n", 2);
    }
    return 0;
}

static int on_data(nghttp2_session *s, uint8_t flags, int32_t stream_id, const uint8_t *data,
                   size_t len, void *user)
{
    sv_http_conn_t *slot = slot_of(user, stream_id);
    if (slot == NULL || slot->h2_error)
        return 0;
    slot->body_bytes += len;
    if (slot->opts.on_body) {
        if (!slot->opts.on_body((const char *)data, len, slot->cb_arg)) {
            slot->h2_error = H2_STOPPED;
            nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
        }
        return 0;
    }
    bool too_big = slot->body_bytes > slot->ctx->max_response_bytes ||
                   (slot->opts.keep_body && sv_buf_append(&slot->res.body, data, len) != 0);
    if (too_big) {
        slot->h2_error = SV_HTTP_ERR_RESPONSE_TOO_LARGE;
        nghttp2_submit_rst_stream(s, NGHTTP2_FLAG_NONE, stream_id, NGHTTP2_CANCEL);
    }
    return 0;
}

/* Streams the server never processed (past its GOAWAY's last stream, or refused)
 * are resent once on another connection, as HTTP clients do. */
static bool unprocessed(const sv_h2_t *h, int32_t stream_id, uint32_t code)
{
    return (h->goaway && stream_id > h->last_stream_id) || code == NGHTTP2_REFUSED_STREAM;
}

static int on_stream_close(nghttp2_session *s, int32_t stream_id, uint32_t code, void *user)
{
    sv_h2_t *h = user;
    sv_http_conn_t *slot = slot_of(h, stream_id);
    if (slot == NULL)
        return 0;
    stream_ended(h, slot);
    const char *msg = NULL;
    int err;
    if (slot->h2_error == H2_STOPPED) {
        sv_conn_complete(slot); /* the client was done with it */
    } else if (slot->h2_error == H2_HEAD_TOO_BIG) {
        sv_conn_fail_request(slot, SV_HTTP_ERR_RESPONSE_TOO_LARGE, "response head exceeds 64 KiB");
    } else if (slot->h2_error == SV_HTTP_ERR_RESPONSE_TOO_LARGE) {
        sv_conn_fail_request(slot, slot->h2_error, "response body exceeds the size limit");
    } else if (slot->res.status == 0 && unprocessed(h, stream_id, code)) {
        if (!sv_conn_resend(slot)) {
            err = h->goaway ? h2_code(1610, h->goaway_code, goaway_msgs, &msg)
                            : h2_code(1630, code, stream_msgs, &msg);
            sv_conn_fail_request(slot, err, msg);
        }
    } else if (code != NGHTTP2_NO_ERROR || slot->res.status == 0) {
        err = h2_code(1630, code, stream_msgs, &msg);
        sv_conn_fail_request(slot, err, msg);
    } else {
        sv_conn_complete(slot);
    }
    sv_h2_stream_closed(h->owner);
    return 0;
}

/* ---- the session ------------------------------------------------------------------------ */

static void free_session(sv_h2_t *h)
{
    nghttp2_session_del(h->s);
    sv_buf_free(&h->frames);
    free(h);
}

/* Fails every open stream (code, msg), then lets the session go. */
void sv_h2_close(sv_http_conn_t *owner, int code, const char *msg)
{
    sv_h2_t *h = owner->h2;
    if (h == NULL)
        return;
    owner->h2 = NULL;
    while (h->open) {
        sv_http_conn_t *slot = h->open;
        bool unanswered = slot->res.status == 0 && unprocessed(h, slot->stream_id, 0);
        stream_ended(h, slot);
        if (unanswered) /* past the server's GOAWAY: it never saw this one */
            sv_conn_resend_later(slot, code, msg);
        else
            sv_conn_fail_request(slot, code, msg);
    }
    if (h->busy)
        h->dead = true;
    else
        free_session(h);
}

/* Hands nghttp2's output to the owner's transport. False after the connection failed
 * (the session is gone then). */
static bool flush(sv_h2_t *h)
{
    if (h->busy || h->corked)
        return true; /* the outermost call flushes */
    const uint8_t *data;
    ssize_t n;
    h->busy++;
    sv_buf_reset(&h->frames);
    while ((n = nghttp2_session_mem_send(h->s, &data)) > 0 && !h->dead)
        sv_buf_append(&h->frames, data, (size_t)n);
    if (h->frames.len && !h->dead) /* one write, one TLS record, for all of them */
        sv_conn_transport_write(h->owner, h->frames.data, h->frames.len);
    h->busy--;
    if (h->dead) { /* a stream closed while sending, and with it the session */
        free_session(h);
        return false;
    }
    if (n < 0) {
        sv_conn_lost(h->owner, SV_HTTP_ERR_H2, "http2: cannot write frames");
        return false;
    }
    return sv_conn_transport_flush(h->owner);
}

/* After nghttp2 returned: frees a session closed meanwhile, else writes what is due,
 * and ends a session nghttp2 is done with (a protocol error it answered with GOAWAY). */
static void settle(sv_h2_t *h)
{
    if (h->dead) {
        if (h->busy == 0)
            free_session(h);
        return;
    }
    if (!flush(h))
        return;
    if (!nghttp2_session_want_read(h->s) && !nghttp2_session_want_write(h->s)) {
        const char *msg = NULL;
        int err = h2_code(1650, h->sent_goaway_code, conn_msgs, &msg);
        sv_conn_lost(h->owner, err, msg);
    }
}

int sv_h2_start(sv_http_conn_t *owner)
{
    nghttp2_session_callbacks *cb;
    if (nghttp2_session_callbacks_new(&cb) != 0)
        return SV_EINVAL;
    nghttp2_session_callbacks_set_on_frame_send_callback(cb, on_frame_send);
    nghttp2_session_callbacks_set_on_frame_recv_callback(cb, on_frame_recv);
    nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_stream_close);
    sv_h2_t *h = sv_xcalloc(1, sizeof(*h));
    h->owner = owner;
    sv_buf_init(&h->frames, SIZE_MAX);
    int rc = nghttp2_session_client_new(&h->s, cb, h);
    nghttp2_session_callbacks_del(cb);
    if (rc != 0) {
        free(h);
        return SV_EINVAL;
    }
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, STREAM_WINDOW},
    };
    nghttp2_submit_settings(h->s, NGHTTP2_FLAG_NONE, settings, SV_ARRAY_SIZE(settings));
    nghttp2_session_set_local_window_size(h->s, NGHTTP2_FLAG_NONE, 0, CONNECTION_WINDOW);
    owner->h2 = h;
    return 0;
}

bool sv_h2_ready(const sv_http_conn_t *owner)
{
    return owner->h2 && owner->h2->settings;
}

bool sv_h2_can_take(const sv_http_conn_t *owner)
{
    const sv_h2_t *h = owner->h2;
    return h && !h->goaway && !h->dead &&
           h->streams <
               nghttp2_session_get_remote_settings(h->s, NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS);
}

uint32_t sv_h2_streams(const sv_http_conn_t *owner)
{
    return owner->h2 ? owner->h2->streams : 0;
}

void sv_h2_submit(sv_http_conn_t *owner, sv_http_conn_t *slot)
{
    sv_h2_t *h = owner->h2;
    const sv_http_request_t *r = slot->req;
    slot->h2_body_sent = 0;
    slot->h2_error = 0;
    slot->head_done = false;
    free(slot->content_encoding);
    slot->content_encoding = NULL;
    slot->res.http2 = true;
    slot->res.minor_version = 1;
    sv_conn_tls_names(owner, &slot->res);
    slot->state = C_SENDING;
    slot->t_write_start = sv_now_ns();
    nghttp2_data_provider body = {.source.ptr = slot, .read_callback = read_body};
    int32_t id = nghttp2_submit_request(h->s, NULL, r->h2_nv, r->h2_nv_len,
                                        r->wire.len > r->head_len ? &body : NULL, slot);
    if (id < 0) {
        sv_conn_fail_request(slot, SV_HTTP_ERR_H2, "http2: cannot open a stream");
        return;
    }
    stream_opened(h, slot, id);
    flush(h);
}

/* Resets the stream of a connection that gives up on it (timeout, cancel, free). */
void sv_h2_abandon(sv_http_conn_t *slot)
{
    sv_http_conn_t *owner = slot->carrier;
    if (owner == NULL || owner->h2 == NULL)
        return;
    sv_h2_t *h = owner->h2;
    int32_t id = slot->stream_id;
    stream_ended(h, slot);
    nghttp2_submit_rst_stream(h->s, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    flush(h);
}

void sv_h2_received(sv_http_conn_t *owner, const char *data, size_t len)
{
    sv_h2_t *h = owner->h2;
    h->busy++;
    ssize_t n = nghttp2_session_mem_recv(h->s, (const uint8_t *)data, len);
    h->busy--;
    if (n < 0 && !h->dead) {
        const char *msg = NULL;
        int err = h2_code(1650, NGHTTP2_PROTOCOL_ERROR, conn_msgs, &msg);
        sv_conn_lost(owner, err, msg);
    }
    settle(h);
}

void sv_h2_cork(sv_http_conn_t *owner)
{
    if (owner->h2)
        owner->h2->corked++;
}

void sv_h2_uncork(sv_http_conn_t *owner)
{
    sv_h2_t *h = owner->h2;
    if (h && h->corked > 0 && --h->corked == 0)
        settle(h);
}
