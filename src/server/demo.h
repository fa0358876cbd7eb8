/*
 * The demo target's routes: /, /hello, /bytes/N, /chunked/N, /gzip/N, /delay/MS,
 * /status/CODE, /echo, /close, /health and /stats (request counts, so tests can
 * check that what salvo counted is what the server saw), and a JSON API:
 * /auth/register, /auth/login (JWT), /products[/ID], /orders and /users/me.
 */
#ifndef SV_DEMO_H
#define SV_DEMO_H

#include <stdatomic.h>

#include "server.h"

typedef struct {
    atomic_uint_fast64_t requests; /* every request but /stats and /health */
} sv_demo_stats_t;

void sv_demo_handle(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res,
                    void *stats);

#endif
