/*
 * A small multi-threaded HTTP/1.1 server on libuv for the demo target (and later
 * the /metrics exporter and dashboard). It parses requests with the same module
 * the client uses for responses. Each worker thread runs its own loop and its own
 * SO_REUSEPORT listener on the same address.
 */
#ifndef SV_SERVER_H
#define SV_SERVER_H

#include <stdbool.h>
#include <stdint.h>

#include "../http/h1.h"
#include "../http/ws.h"
#include "../util/util.h"

/* A connection upgraded to WebSocket, and what its messages do. */
typedef struct sv_server_ws sv_server_ws_t;
typedef struct {
    /* a text or binary message from the client (pings and close are answered) */
    void (*on_message)(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len);
} sv_server_ws_handler_t;

typedef struct {
    int status;
    const char *content_type;     /* default text/plain */
    const char *content_encoding; /* NULL for none */
    sv_buf_t body;                /* the handler appends; owned by the server */
    bool close;                   /* answer with Connection: close and close */
    bool chunked;                 /* send the body with chunked framing */
    uint64_t delay_ms;            /* answer after this long, without blocking the worker */
    /* a streamed body (server-sent events): after the head, one chunk every
     * stream_every_ms, written by stream_piece(n = 0, 1, …), stream_pieces of them
     * (0: until the client goes); body and chunked are ignored */
    void (*stream_piece)(sv_buf_t *out, uint64_t n);
    uint64_t stream_every_ms, stream_pieces;
    /* upgrade to WebSocket (status and body are the server's then: 101, or 400 for a
     * request that is not a valid upgrade) */
    const sv_server_ws_handler_t *websocket;
} sv_server_response_t;

/* Called on a worker thread for each request, with its complete body. */
typedef void (*sv_server_handler_t)(const sv_h1_request_t *req, sv_span_t body,
                                    sv_server_response_t *res, void *arg);

typedef struct sv_server sv_server_t;

/* Binds `workers` listeners on host:port (port 0: pick one). On failure returns a
 * libuv error code with *why set to a static reason. */
int sv_server_open(sv_server_t **out, const char *host, uint16_t port, uint32_t workers,
                   sv_server_handler_t handler, void *arg, const char **why);
uint16_t sv_server_port(const sv_server_t *s);
/* Starts the worker threads. */
void sv_server_start(sv_server_t *s);
/* Stops accepting, closes connections and joins the workers. Main thread only. */
void sv_server_stop(sv_server_t *s);
void sv_server_free(sv_server_t *s);

/* A message to one WebSocket client, from its worker (inside on_message). */
void sv_server_ws_send(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len);
/* A message to every client with the same handler as ws, on every worker (ws itself
 * included). */
void sv_server_ws_broadcast(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len);

#endif
