/*
 * WebSocket framing on wslay's event API (see ws.h). wslay pulls the peer's bytes
 * through recv_callback and pushes frames through send_callback; both are fed from
 * and to the caller's buffers here, never a socket.
 */
#include "ws.h"

#include <stdlib.h>
#include <string.h>
#include <wslay/wslay.h>

#include "../util/crypto.h"
#include "../util/util.h"

struct sv_ws {
    wslay_event_context_ptr ctx;
    sv_ws_io_t io;
    void *arg;
    const char *in; /* the bytes sv_ws_received is handing to wslay */
    size_t in_len;
    bool broken;  /* the peer broke the protocol */
    bool closing; /* our own close frame is queued */
    uint64_t rng; /* masking keys: xorshift, seeded from the system's randomness */
};

static ssize_t on_recv(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, int flags, void *user)
{
    sv_ws_t *ws = user;
    if (ws->in_len == 0) {
        wslay_event_set_error(ctx, WSLAY_ERR_WOULDBLOCK);
        return -1;
    }
    size_t n = SV_MIN(len, ws->in_len);
    memcpy(buf, ws->in, n);
    ws->in += n;
    ws->in_len -= n;
    return (ssize_t)n;
}

static ssize_t on_send(wslay_event_context_ptr ctx, const uint8_t *data, size_t len, int flags,
                       void *user)
{
    sv_ws_t *ws = user;
    ws->io.write((const char *)data, len, ws->arg);
    return (ssize_t)len;
}

static int on_genmask(wslay_event_context_ptr ctx, uint8_t *buf, size_t len, void *user)
{
    sv_ws_t *ws = user;
    for (size_t i = 0; i < len; i++) {
        ws->rng ^= ws->rng << 13;
        ws->rng ^= ws->rng >> 7;
        ws->rng ^= ws->rng << 17;
        buf[i] = (uint8_t)(ws->rng >> 24);
    }
    return 0;
}

static void on_message(wslay_event_context_ptr ctx, const struct wslay_event_on_msg_recv_arg *m,
                       void *user)
{
    sv_ws_t *ws = user;
    ws->io.message((sv_ws_opcode_t)m->opcode, (const char *)m->msg, m->msg_length,
                   m->opcode == WSLAY_CONNECTION_CLOSE ? m->status_code : 0, ws->arg);
}

sv_ws_t *sv_ws_new(bool client, const sv_ws_io_t *io, void *arg, size_t max_message)
{
    static const struct wslay_event_callbacks callbacks = {
        .recv_callback = on_recv,
        .send_callback = on_send,
        .genmask_callback = on_genmask,
        .on_msg_recv_callback = on_message,
    };
    sv_ws_t *ws = sv_xcalloc(1, sizeof(*ws));
    ws->io = *io;
    ws->arg = arg;
    if (sv_random_bytes(&ws->rng, sizeof(ws->rng)) != 0 || ws->rng == 0)
        ws->rng = (uint64_t)(uintptr_t)ws | 1;
    int rc = client ? wslay_event_context_client_init(&ws->ctx, &callbacks, ws)
                    : wslay_event_context_server_init(&ws->ctx, &callbacks, ws);
    if (rc != 0)
        sv_out_of_memory(sizeof(struct wslay_event_context *)); /* wslay's only failure */
    wslay_event_config_set_max_recv_msg_length(ws->ctx, max_message);
    return ws;
}

void sv_ws_free(sv_ws_t *ws)
{
    if (ws == NULL)
        return;
    wslay_event_context_free(ws->ctx);
    free(ws);
}

/* Writes whatever wslay has queued (replies to pings, close frames, messages). */
static void flush(sv_ws_t *ws)
{
    if (wslay_event_send(ws->ctx) != 0)
        ws->broken = true;
}

int sv_ws_received(sv_ws_t *ws, const char *data, size_t len)
{
    ws->in = data;
    ws->in_len = len;
    int rc = wslay_event_recv(ws->ctx);
    ws->in_len = 0;
    flush(ws);
    /* On a protocol error (or an oversized message) wslay answers with a close frame
     * of its own (1002, 1007, 1009) rather than an error code. */
    uint16_t sent = wslay_event_get_status_code_sent(ws->ctx);
    if (rc != 0 || (!ws->closing && wslay_event_get_close_sent(ws->ctx) &&
                    !wslay_event_get_close_received(ws->ctx) && sent != 1000))
        ws->broken = true;
    return ws->broken ? SV_EPARSE : 0;
}

int sv_ws_send(sv_ws_t *ws, sv_ws_opcode_t op, const void *data, size_t len)
{
    struct wslay_event_msg msg = {(uint8_t)op, data, len};
    if (ws->broken || wslay_event_queue_msg(ws->ctx, &msg) != 0)
        return SV_EINVAL;
    flush(ws);
    return 0;
}

int sv_ws_close(sv_ws_t *ws, uint16_t code, const char *reason)
{
    ws->closing = true;
    if (ws->broken || wslay_event_queue_close(ws->ctx, code, (const uint8_t *)reason,
                                              reason ? strlen(reason) : 0) != 0)
        return SV_EINVAL;
    flush(ws);
    return 0;
}

bool sv_ws_done(const sv_ws_t *ws)
{
    return ws->broken ||
           (wslay_event_get_close_sent(ws->ctx) && wslay_event_get_close_received(ws->ctx)) ||
           (!wslay_event_want_read(ws->ctx) && !wslay_event_want_write(ws->ctx));
}

uint16_t sv_ws_close_code_sent(const sv_ws_t *ws)
{
    return wslay_event_get_status_code_sent(ws->ctx);
}

void sv_ws_client_key(char key[25])
{
    unsigned char raw[16];
    if (sv_random_bytes(raw, sizeof(raw)) != 0)
        memset(raw, 0x5a, sizeof(raw));
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    sv_base64_encode(&b, raw, sizeof(raw), SV_B64_STD);
    memcpy(key, b.data, 24);
    key[24] = '\0';
    sv_buf_free(&b);
}

void sv_ws_accept_for(const char *key, size_t len, char accept[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char joined[256 + sizeof(guid)];
    len = SV_MIN(len, 256);
    memcpy(joined, key, len);
    memcpy(joined + len, guid, sizeof(guid) - 1);
    unsigned char digest[SV_DIGEST_MAX];
    size_t n;
    sv_digest(SV_HASH_SHA1, joined, len + sizeof(guid) - 1, digest, &n);
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    sv_base64_encode(&b, digest, n, SV_B64_STD);
    memcpy(accept, b.data, 28);
    accept[28] = '\0';
    sv_buf_free(&b);
}
