/*
 * A blocking, one-request HTTP/1.1 exchange for control traffic, never for load:
 * `salvo scale` talking to a running test, push outputs posting to InfluxDB or
 * Prometheus from their own thread. Connection: close, timeouts on every socket
 * call, the whole answer read. The load's HTTP is client.h.
 */
#ifndef SV_HTTP_ONESHOT_H
#define SV_HTTP_ONESHOT_H

#include <stddef.h>

#include "../util/util.h"

typedef struct {
    const char *host, *port; /* "127.0.0.1", "8086" */
    const char *method, *path;
    const char *headers; /* extra header lines, each ending in \r\n (may be NULL) */
    const void *body;    /* NULL: no body */
    size_t body_len;
    int timeout_s;
} sv_oneshot_t;

/* Sends the request and reads the answer; its body goes to reply (when not NULL,
 * NUL-terminated). Returns the status, or -1 with why ("cannot connect: …", "no
 * answer") when there was no HTTP answer. */
int sv_http_oneshot(const sv_oneshot_t *rq, sv_buf_t *reply, char *why, size_t size);

#endif
