/*
 * The VU driver of quick (script-less) tests: an iteration is one request.
 */
#include "engine_int.h"

static void on_result(sv_http_result_t *res, void *arg)
{
    sv_vu_t *vu = arg;
    sv_engine_t *e = vu->sc->w->engine;
    if (!res->interrupted) {
        sv_record_http(vu, &vu->sc->site, res, sv_record_default_expected(res));
        if (e->plan->http_debug != SV_DEBUG_OFF)
            sv_http_debug_print(&e->request, res, e->plan->http_debug == SV_DEBUG_FULL);
    }
    sv_vu_iteration_done(vu, res->interrupted, res->end_ns);
}

static void iterate(sv_vu_t *vu)
{
    if (vu->conn == NULL)
        vu->conn = sv_http_conn_new(vu->sc->w->http);
    sv_engine_t *e = vu->sc->w->engine;
    sv_http_conn_send(vu->conn, &e->request, &e->send_opts, on_result, vu);
}

static void interrupt(sv_vu_t *vu)
{
    if (vu->conn)
        sv_http_conn_cancel(vu->conn);
}

const sv_vu_driver_t sv_quick_driver = {.iterate = iterate, .interrupt = interrupt};
