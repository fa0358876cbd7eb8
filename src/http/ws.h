/*
 * WebSocket framing (RFC 6455) with wslay, I/O-free: the caller hands in the bytes
 * its socket read and writes out the bytes this hands back, so the client (over an
 * upgraded sv_http_conn_t, plain or TLS) and the demo target's server use the same
 * code. Messages arrive whole (fragments joined, control frames in between); pings
 * are answered and the close handshake is done here.
 */
#ifndef SV_HTTP_WS_H
#define SV_HTTP_WS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    SV_WS_TEXT = 0x1,
    SV_WS_BINARY = 0x2,
    SV_WS_CLOSE = 0x8,
    SV_WS_PING = 0x9,
    SV_WS_PONG = 0xa,
} sv_ws_opcode_t;

typedef struct {
    /* bytes for the peer */
    void (*write)(const char *data, size_t len, void *arg);
    /* a whole message from the peer; close_code with SV_WS_CLOSE (0: none given) */
    void (*message)(sv_ws_opcode_t op, const char *data, size_t len, uint16_t close_code,
                    void *arg);
} sv_ws_io_t;

typedef struct sv_ws sv_ws_t;

/* client: masks what it sends, as RFC 6455 wants of clients. max_message: the
 * longest message taken (longer ones close the connection with 1009). */
sv_ws_t *sv_ws_new(bool client, const sv_ws_io_t *io, void *arg, size_t max_message);
void sv_ws_free(sv_ws_t *ws);

/* Bytes from the peer. SV_EPARSE when they break the protocol or send a message
 * over max_message (wslay's close frame is on its way out, 1002 or 1009 as it sees
 * fit; the connection should go once it is written). */
int sv_ws_received(sv_ws_t *ws, const char *data, size_t len);
/* A message to the peer (text, binary, ping or pong). SV_EINVAL once closing. */
int sv_ws_send(sv_ws_t *ws, sv_ws_opcode_t op, const void *data, size_t len);
/* Starts the close handshake with code (1000: normal) and reason. */
int sv_ws_close(sv_ws_t *ws, uint16_t code, const char *reason);
/* Whether the close frames went both ways (or the peer broke the protocol): the
 * connection may be closed now. */
bool sv_ws_done(const sv_ws_t *ws);
/* The close code sent to the peer (0: none yet). */
uint16_t sv_ws_close_code_sent(const sv_ws_t *ws);

/* The handshake: a random Sec-WebSocket-Key (24 characters and a NUL), and the
 * Sec-WebSocket-Accept that answers a key (28 characters and a NUL). */
void sv_ws_client_key(char key[25]);
void sv_ws_accept_for(const char *key, size_t len, char accept[29]);

#endif
