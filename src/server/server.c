/*
 * The HTTP/1.1 server. One request at a time per connection (pipelined requests
 * wait in the input buffer), keep-alive by default, Content-Length and chunked
 * request bodies, responses written with uv_try_write and uv_write for the rest.
 */
#include "server.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define MAX_REQUEST_HEAD (64 * 1024)
#define MAX_REQUEST_BODY (16 * 1024 * 1024)
#define CHUNK_SIZE 4096
#define MAX_WS_MESSAGE (16 * 1024 * 1024)

typedef struct srv_worker srv_worker_t;

struct sv_server {
    sv_server_handler_t handler;
    void *arg;
    srv_worker_t *workers;
    uint32_t n_workers;
    uint16_t port;
    bool started;
};

/* A broadcast message on its way to a worker's WebSocket clients. */
typedef struct ws_post {
    struct ws_post *next;
    const sv_server_ws_handler_t *to; /* the clients with this handler */
    sv_ws_opcode_t op;
    size_t len;
    char data[];
} ws_post_t;

struct srv_worker {
    sv_server_t *server;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_tcp_t listener;
    uv_async_t stop;
    uv_async_t posted; /* broadcasts from other workers wait in inbox */
    uv_mutex_t inbox_lock;
    ws_post_t *inbox;
    int fd;
    struct srv_conn *conns;
};

typedef struct srv_conn {
    uv_tcp_t tcp;
    uv_timer_t delay;
    srv_worker_t *w;
    sv_buf_t in;
    sv_server_response_t res;
    sv_buf_t out;
    bool busy; /* a response is being delayed or written */
    bool closing;
    bool close_after;
    uint64_t pieces_sent; /* a streamed body's */
    sv_ws_t *ws;          /* upgraded to WebSocket */
    const sv_server_ws_handler_t *ws_handler;
    int writes; /* uv_write requests in flight */
    int handles;
    struct srv_conn *prev, *next;
} srv_conn_t;

typedef struct {
    uv_write_t req;
    srv_conn_t *conn;
    char data[];
} srv_write_t;

static void process(srv_conn_t *c);

/* ---- connection lifecycle --------------------------------------------------------- */

static void conn_handle_closed(uv_handle_t *h)
{
    srv_conn_t *c = h->data;
    if (--c->handles > 0)
        return;
    sv_buf_free(&c->in);
    sv_buf_free(&c->out);
    sv_buf_free(&c->res.body);
    sv_ws_free(c->ws);
    free(c);
}

static void conn_close(srv_conn_t *c)
{
    if (c->closing)
        return;
    c->closing = true;
    if (c->prev)
        c->prev->next = c->next;
    else
        c->w->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->delay, conn_handle_closed);
    uv_close((uv_handle_t *)&c->tcp, conn_handle_closed);
}

/* ---- responses ---------------------------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Content Too Large";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    default:
        return "Status";
    }
}

static bool status_has_body(int status)
{
    return status >= 200 && status != 204 && status != 304;
}

static void serialize(srv_conn_t *c, bool head_only)
{
    sv_server_response_t *r = &c->res;
    sv_buf_t *o = &c->out;
    sv_buf_reset(o);
    sv_buf_printf(o, "HTTP/1.1 %d %s\r\nServer: salvo-demo\r\nContent-Type: %s\r\n", r->status,
                  reason_phrase(r->status), r->content_type ? r->content_type : "text/plain");
    if (r->content_encoding)
        sv_buf_printf(o, "Content-Encoding: %s\r\n", r->content_encoding);
    if (c->close_after)
        sv_buf_printf(o, "Connection: close\r\n");
    bool body = status_has_body(r->status);
    if (body && r->stream_piece) {
        sv_buf_printf(o, "Cache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n");
        return; /* the pieces follow, one by one */
    }
    if (body && r->chunked)
        sv_buf_printf(o, "Transfer-Encoding: chunked\r\n\r\n");
    else if (body)
        sv_buf_printf(o, "Content-Length: %zu\r\n\r\n", r->body.len);
    else
        sv_buf_printf(o, "\r\n");
    if (!body || head_only)
        return;
    if (!r->chunked) {
        sv_buf_append(o, r->body.data, r->body.len);
        return;
    }
    for (size_t off = 0; off < r->body.len; off += CHUNK_SIZE) {
        size_t n = SV_MIN(CHUNK_SIZE, r->body.len - off);
        sv_buf_printf(o, "%zx\r\n", n);
        sv_buf_append(o, r->body.data + off, n);
        sv_buf_append(o, "\r\n", 2);
    }
    sv_buf_append(o, "0\r\n\r\n", 5);
}

static void after_response(srv_conn_t *c)
{
    c->busy = false;
    if (c->close_after) {
        if (c->writes == 0)
            conn_close(c);
        return;
    }
    process(c); /* a pipelined request may be waiting */
}

static void on_written(uv_write_t *req, int status)
{
    srv_write_t *wr = sv_container_of(req, srv_write_t, req);
    srv_conn_t *c = wr->conn;
    free(wr);
    c->writes--;
    if (status < 0 || (c->close_after && c->writes == 0))
        conn_close(c);
}

static void send_out(srv_conn_t *c)
{
    uv_buf_t b = uv_buf_init(c->out.data, (unsigned)c->out.len);
    int n = uv_try_write((uv_stream_t *)&c->tcp, &b, 1);
    if (n == (int)c->out.len)
        return;
    if (n < 0 && n != UV_EAGAIN) {
        conn_close(c);
        return;
    }
    size_t done = n > 0 ? (size_t)n : 0, rest = c->out.len - done;
    srv_write_t *wr = sv_xmalloc(sizeof(*wr) + rest);
    memcpy(wr->data, c->out.data + done, rest);
    wr->conn = c;
    b = uv_buf_init(wr->data, (unsigned)rest);
    c->writes++;
    if (uv_write(&wr->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) < 0) {
        c->writes--;
        free(wr);
        conn_close(c);
    }
}

static void respond_now(srv_conn_t *c)
{
    if (c->closing)
        return;
    send_out(c);
    if (!c->closing)
        after_response(c);
}

static void on_delay(uv_timer_t *t)
{
    respond_now(t->data);
}

/* The next piece of a streamed body as a chunk; the last one ends the body. */
/* ---- WebSocket ------------------------------------------------------------------------ */

struct sv_server_ws {
    struct srv_conn conn;
};

static void ws_write(const char *data, size_t len, void *arg)
{
    srv_conn_t *c = arg;
    if (c->closing)
        return;
    sv_buf_reset(&c->out);
    sv_buf_append(&c->out, data, len);
    send_out(c);
}

static void ws_message(sv_ws_opcode_t op, const char *data, size_t len, uint16_t code, void *arg)
{
    srv_conn_t *c = arg;
    if ((op == SV_WS_TEXT || op == SV_WS_BINARY) && c->ws_handler->on_message)
        c->ws_handler->on_message((sv_server_ws_t *)c, op, data, len);
}

void sv_server_ws_send(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len)
{
    srv_conn_t *c = &ws->conn;
    if (c->ws && !c->closing)
        sv_ws_send(c->ws, op, data, len);
}

void sv_server_ws_broadcast(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len)
{
    sv_server_t *s = ws->conn.w->server;
    for (uint32_t i = 0; i < s->n_workers; i++) {
        srv_worker_t *w = &s->workers[i];
        ws_post_t *p = sv_xmalloc(sizeof(*p) + len);
        *p = (ws_post_t){.to = ws->conn.ws_handler, .op = op, .len = len};
        memcpy(p->data, data, len);
        uv_mutex_lock(&w->inbox_lock);
        p->next = w->inbox;
        w->inbox = p;
        uv_mutex_unlock(&w->inbox_lock);
        uv_async_send(&w->posted);
    }
}

/* Broadcasts for this worker's clients, oldest first. */
static void on_posted(uv_async_t *a)
{
    srv_worker_t *w = a->data;
    uv_mutex_lock(&w->inbox_lock);
    ws_post_t *list = w->inbox, *fifo = NULL;
    w->inbox = NULL;
    uv_mutex_unlock(&w->inbox_lock);
    while (list) { /* the inbox is newest first */
        ws_post_t *next = list->next;
        list->next = fifo;
        fifo = list;
        list = next;
    }
    while (fifo) {
        ws_post_t *p = fifo;
        fifo = p->next;
        for (srv_conn_t *c = w->conns; c; c = c->next)
            if (c->ws && c->ws_handler == p->to)
                sv_server_ws_send((sv_server_ws_t *)c, p->op, p->data, p->len);
        free(p);
    }
}

static void ws_bytes(srv_conn_t *c)
{
    int rc = sv_ws_received(c->ws, c->in.data, c->in.len);
    sv_buf_reset(&c->in);
    if (rc != 0 || sv_ws_done(c->ws))
        c->close_after = true;
    if (c->close_after && c->writes == 0)
        conn_close(c);
}

/* 101 Switching Protocols for a valid upgrade request (else 400), and the
 * connection speaks WebSocket from here. */
static bool upgrade(srv_conn_t *c, const sv_h1_request_t *req)
{
    sv_span_t key = sv_h1_find_header(req->headers, req->num_headers, "sec-websocket-key");
    sv_span_t up = sv_h1_find_header(req->headers, req->num_headers, "upgrade");
    sv_span_t version = sv_h1_find_header(req->headers, req->num_headers, "sec-websocket-version");
    sv_span_t proto = sv_h1_find_header(req->headers, req->num_headers, "sec-websocket-protocol");
    if (key.len == 0 || key.len > 64 || !sv_span_has_token(up, "websocket") ||
        !sv_span_eq(version, "13"))
        return false;
    char accept[29];
    sv_ws_accept_for(key.ptr, key.len, accept);
    sv_buf_reset(&c->out);
    sv_buf_printf(&c->out,
                  "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                  "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n",
                  accept);
    size_t first = 0; /* the first subprotocol offered, if any */
    while (first < proto.len && proto.ptr[first] != ',' && proto.ptr[first] != ' ')
        first++;
    if (first)
        sv_buf_printf(&c->out, "Sec-WebSocket-Protocol: %.*s\r\n", (int)first, proto.ptr);
    sv_buf_append(&c->out, "\r\n", 2);
    c->ws_handler = c->res.websocket;
    c->close_after = false; /* until the close handshake */
    sv_ws_io_t io = {.write = ws_write, .message = ws_message};
    c->ws = sv_ws_new(false, &io, c, MAX_WS_MESSAGE);
    send_out(c);
    return true;
}

static void on_stream_tick(uv_timer_t *t)
{
    srv_conn_t *c = t->data;
    sv_server_response_t *r = &c->res;
    sv_buf_reset(&r->body);
    r->stream_piece(&r->body, c->pieces_sent++);
    sv_buf_reset(&c->out);
    sv_buf_printf(&c->out, "%zx\r\n", r->body.len);
    sv_buf_append(&c->out, r->body.data, r->body.len);
    sv_buf_append(&c->out, "\r\n", 2);
    bool last = r->stream_pieces && c->pieces_sent == r->stream_pieces;
    if (last)
        sv_buf_append(&c->out, "0\r\n\r\n", 5);
    send_out(c);
    if (last && !c->closing) {
        uv_timer_stop(t);
        after_response(c);
    }
}

/* A streamed body: the head is out; pieces every stream_every_ms from now. */
static void start_stream(srv_conn_t *c)
{
    send_out(c);
    if (c->closing)
        return;
    c->pieces_sent = 0;
    uint64_t every = SV_MAX(c->res.stream_every_ms, 1);
    uv_timer_start(&c->delay, on_stream_tick, every, every);
}

/* ---- requests ----------------------------------------------------------------------- */

static void bad_request(srv_conn_t *c, int status)
{
    sv_buf_reset(&c->res.body);
    c->res = (sv_server_response_t){.status = status, .body = c->res.body};
    sv_buf_printf(&c->res.body, "%s\n", reason_phrase(status));
    c->close_after = true;
    serialize(c, false);
    c->busy = true;
    sv_buf_reset(&c->in);
    respond_now(c);
}

/* Decodes the body that follows a head of `head` bytes. First pass: is it all there?
 * Only then the second pass decodes in place (decoded bytes never overtake framed
 * ones), so a body that arrives in pieces is never half-rewritten. Returns the
 * framed length of head and body, 0 when incomplete, or -1 when malformed. */
static int64_t read_body(srv_conn_t *c, const sv_h1_request_t *req, size_t head, sv_span_t *body)
{
    char *start = c->in.data + head;
    size_t avail = c->in.len - head;
    for (int pass = 0; pass < 2; pass++) {
        sv_h1_body_t dec;
        sv_h1_body_init_request(&dec, req);
        size_t off = 0, out = 0;
        while (!dec.done && off < avail) {
            sv_span_t piece;
            int64_t n = sv_h1_body_feed(&dec, start + off, avail - off, &piece);
            if (n < 0)
                return -1;
            if (pass == 1)
                memmove(start + out, piece.ptr, piece.len);
            out += piece.len;
            off += (size_t)n;
        }
        if (!dec.done)
            return 0;
        if (pass == 1) {
            *body = (sv_span_t){start, out};
            return (int64_t)(head + off);
        }
    }
    return -1;
}

static void process(srv_conn_t *c)
{
    while (!c->busy && !c->closing && c->in.len > 0) {
        sv_h1_request_t req;
        int head = sv_h1_parse_request(c->in.data, c->in.len, &req);
        if (head == SV_EAGAIN) {
            if (c->in.len >= MAX_REQUEST_HEAD)
                bad_request(c, 431);
            return;
        }
        if (head < 0) {
            bad_request(c, 400);
            return;
        }
        if (req.framing.content_length > MAX_REQUEST_BODY) {
            bad_request(c, 413);
            return;
        }
        sv_span_t body = {0};
        int64_t used = read_body(c, &req, (size_t)head, &body);
        if (used < 0) {
            bad_request(c, 400);
            return;
        }
        if (used == 0)
            return; /* wait for the rest of the body */
        sv_buf_reset(&c->res.body);
        c->res = (sv_server_response_t){.status = 200, .body = c->res.body};
        c->close_after = !sv_h1_keep_alive(req.minor_version, &req.framing);
        c->w->server->handler(&req, body, &c->res, c->w->server->arg);
        c->close_after |= c->res.close;
        if (c->res.websocket) {
            sv_buf_consume(&c->in, (size_t)used);
            if (!upgrade(c, &req)) {
                bad_request(c, 400);
                return;
            }
            if (c->in.len)
                ws_bytes(c); /* frames that came with the request */
            return;
        }
        serialize(c, sv_span_eq(req.method, "HEAD"));
        sv_buf_consume(&c->in, (size_t)used);
        c->busy = true;
        if (c->res.stream_piece && status_has_body(c->res.status) &&
            !sv_span_eq(req.method, "HEAD")) {
            start_stream(c);
            return;
        }
        if (c->res.delay_ms) {
            /* libuv counts in whole milliseconds from a clock cached per loop pass, so a
             * timer can fire up to a millisecond early: refresh it and add one, so the
             * answer comes no sooner than asked. */
            uv_update_time(&c->w->loop);
            uv_timer_start(&c->delay, on_delay, c->res.delay_ms + 1, 0);
            return;
        }
        respond_now(c);
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    srv_conn_t *c = h->data;
    char *p = sv_buf_reserve(&c->in, 65536);
    if (p == NULL) {
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    *buf = uv_buf_init(p, 65536);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    srv_conn_t *c = s->data;
    if (nread < 0 || (nread == 0 && buf->base == NULL)) {
        conn_close(c);
        return;
    }
    c->in.len += (size_t)nread;
    if (c->ws)
        ws_bytes(c);
    else
        process(c);
}

static void on_connection(uv_stream_t *listener, int status)
{
    srv_worker_t *w = listener->data;
    if (status < 0)
        return;
    srv_conn_t *c = sv_xcalloc(1, sizeof(*c));
    c->w = w;
    sv_buf_init(&c->in, MAX_REQUEST_HEAD + MAX_REQUEST_BODY + 65536);
    sv_buf_init(&c->out, SIZE_MAX);
    sv_buf_init(&c->res.body, SIZE_MAX);
    uv_tcp_init(&w->loop, &c->tcp);
    uv_timer_init(&w->loop, &c->delay);
    c->tcp.data = c->delay.data = c;
    c->handles = 2;
    c->next = w->conns;
    if (w->conns)
        w->conns->prev = c;
    w->conns = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

/* ---- workers ------------------------------------------------------------------------ */

static void on_stop(uv_async_t *a)
{
    srv_worker_t *w = a->data;
    uv_close((uv_handle_t *)&w->listener, NULL);
    uv_close((uv_handle_t *)&w->stop, NULL);
    uv_close((uv_handle_t *)&w->posted, NULL);
    while (w->conns)
        conn_close(w->conns);
}

static void worker_main(void *arg)
{
    srv_worker_t *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

static int bind_listener(int *fd_out, const char *host, uint16_t port, uint16_t *bound,
                         bool reuseport, const char **why)
{
    struct sockaddr_storage ss;
    int family = AF_INET;
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&ss) != 0) {
        if (uv_ip6_addr(host, port, (struct sockaddr_in6 *)&ss) != 0) {
            *why = "not an IP address (use e.g. 127.0.0.1 or ::1)";
            return UV_EINVAL;
        }
        family = AF_INET6;
    }
    int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, rc = 0;
    if (fd < 0) {
        *why = "cannot create a socket";
        return -errno;
    }
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (reuseport)
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one));
    socklen_t len = family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || (reuseport && listen(fd, 4096) != 0)) {
        rc = -errno;
        *why = rc == UV_EADDRINUSE ? "address already in use" : "cannot listen on that address";
        close(fd);
        return rc;
    }
    getsockname(fd, (struct sockaddr *)&ss, &len);
    *bound = ntohs(family == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                     : ((struct sockaddr_in6 *)&ss)->sin6_port);
    *fd_out = fd;
    return 0;
}

/* SO_REUSEPORT would let a second server join a port already served by another
 * process of the same user and split its connections: claim the port with a plain
 * socket first, so "address in use" is reported as such. */
static int claim_port(const char *host, uint16_t *port, const char **why)
{
    int fd;
    uint16_t bound;
    int rc = bind_listener(&fd, host, *port, &bound, false, why);
    if (rc == 0) {
        close(fd);
        *port = bound;
    }
    return rc;
}

int sv_server_open(sv_server_t **out, const char *host, uint16_t port, uint32_t workers,
                   sv_server_handler_t handler, void *arg, const char **why)
{
    int rc = claim_port(host, &port, why);
    if (rc != 0)
        return rc;
    sv_server_t *s = sv_xcalloc(1, sizeof(*s));
    s->handler = handler;
    s->arg = arg;
    s->workers = sv_xcalloc(workers, sizeof(*s->workers));
    for (uint32_t i = 0; i < workers; i++) {
        srv_worker_t *w = &s->workers[i];
        rc = bind_listener(&w->fd, host, port, &s->port, true, why);
        if (rc != 0) {
            s->n_workers = i;
            sv_server_free(s);
            return rc;
        }
        port = s->port; /* the others join the port the first one got */
        w->server = s;
        uv_loop_init(&w->loop);
        uv_tcp_init(&w->loop, &w->listener);
        uv_tcp_open(&w->listener, w->fd);
        w->listener.data = w;
        uv_async_init(&w->loop, &w->stop, on_stop);
        w->stop.data = w;
        uv_async_init(&w->loop, &w->posted, on_posted);
        w->posted.data = w;
        uv_mutex_init(&w->inbox_lock);
        s->n_workers = i + 1;
    }
    *out = s;
    return 0;
}

uint16_t sv_server_port(const sv_server_t *s)
{
    return s->port;
}

void sv_server_start(sv_server_t *s)
{
    for (uint32_t i = 0; i < s->n_workers; i++) {
        uv_listen((uv_stream_t *)&s->workers[i].listener, 4096, on_connection);
        uv_thread_create(&s->workers[i].thread, worker_main, &s->workers[i]);
    }
    s->started = true;
}

void sv_server_stop(sv_server_t *s)
{
    if (!s->started)
        return;
    for (uint32_t i = 0; i < s->n_workers; i++)
        uv_async_send(&s->workers[i].stop);
    for (uint32_t i = 0; i < s->n_workers; i++)
        uv_thread_join(&s->workers[i].thread);
    s->started = false;
}

void sv_server_free(sv_server_t *s)
{
    if (s == NULL)
        return;
    sv_server_stop(s);
    for (uint32_t i = 0; i < s->n_workers; i++) {
        srv_worker_t *w = &s->workers[i];
        if (!uv_is_closing((uv_handle_t *)&w->listener)) {
            uv_close((uv_handle_t *)&w->listener, NULL);
            uv_close((uv_handle_t *)&w->stop, NULL);
            uv_close((uv_handle_t *)&w->posted, NULL);
        }
        uv_run(&w->loop, UV_RUN_DEFAULT);
        uv_loop_close(&w->loop);
        while (w->inbox) { /* posted after the worker stopped */
            ws_post_t *p = w->inbox;
            w->inbox = p->next;
            free(p);
        }
        uv_mutex_destroy(&w->inbox_lock);
    }
    free(s->workers);
    free(s);
}
