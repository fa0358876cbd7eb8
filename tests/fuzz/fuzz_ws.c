/*
 * libFuzzer driver for WebSocket framing as salvo reads it (http/ws.c on wslay): any
 * bytes from a peer, as a client (unmasked frames expected) or as the demo target's
 * server (masked frames expected), give no fault; every message handed up has a
 * known opcode; and the same bytes in two pieces give the same messages when they
 * give the same verdict (wslay may judge a frame that is still incomplete by what
 * part of it it has seen: a broken close code seen early, say).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/ws.h"
#include "util/util.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

static void drop(const char *data, size_t len, void *arg)
{
    (void)data, (void)len, (void)arg; /* replies (pongs, close frames) go nowhere */
}

/* Every message as "op;len;code;" plus its bytes, so two runs compare as bytes. */
static void record(sv_ws_opcode_t op, const char *data, size_t len, uint16_t code, void *arg)
{
    CHECK(op == SV_WS_TEXT || op == SV_WS_BINARY || op == SV_WS_CLOSE || op == SV_WS_PING ||
          op == SV_WS_PONG);
    CHECK(op == SV_WS_CLOSE || code == 0);
    sv_buf_t *log = arg;
    sv_buf_printf(log, "%d;%zu;%u;", (int)op, len, (unsigned)code);
    sv_buf_append(log, data, len);
}

static int run(bool client, const char *data, size_t size, size_t cut, sv_buf_t *log)
{
    sv_buf_init(log, SIZE_MAX);
    sv_ws_io_t io = {.write = drop, .message = record};
    sv_ws_t *ws = sv_ws_new(client, &io, log, 1 << 16);
    int rc = sv_ws_received(ws, data, cut);
    if (rc == 0)
        rc = sv_ws_received(ws, data + cut, size - cut);
    CHECK(rc == 0 || rc == SV_EPARSE);
    if (rc == 0 && !sv_ws_done(ws)) /* sending still works on a healthy session */
        CHECK(sv_ws_send(ws, SV_WS_TEXT, "x", 1) == 0);
    sv_ws_free(ws);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool client = data[0] & 1;
    const char *bytes = (const char *)data + 1;
    size--;
    size_t cut = size ? (data[0] >> 1) % (size + 1) : 0;
    sv_buf_t whole, split;
    int a = run(client, bytes, size, size, &whole);
    int b = run(client, bytes, size, cut, &split);
    if (a == b)
        CHECK(whole.len == split.len &&
              (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
    sv_buf_free(&whole);
    sv_buf_free(&split);
    return 0;
}
