/*
 * The VU driver of quick (script-less) tests: an iteration is one request.
 */
#include <string.h>

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

/* With --streams N, VUs N by N share a group, and so one HTTP/2 connection. */
static sv_http_group_t *group_of(sv_vu_t *vu, uint32_t streams)
{
    sv_wscenario_t *sc = vu->sc;
    size_t i = vu->slot / streams;
    if (i >= sc->n_groups) {
        sc->groups = sv_xrealloc(sc->groups, (i + 1) * sizeof(*sc->groups));
        memset(sc->groups + sc->n_groups, 0, (i + 1 - sc->n_groups) * sizeof(*sc->groups));
        sc->n_groups = i + 1;
    }
    if (sc->groups[i] == NULL)
        sc->groups[i] = sv_http_group_new();
    return sc->groups[i];
}

static void iterate(sv_vu_t *vu)
{
    sv_engine_t *e = vu->sc->w->engine;
    if (vu->conn == NULL) {
        uint32_t streams = e->plan->streams;
        sv_http_group_t *g = streams > 1 ? group_of(vu, streams) : NULL;
        vu->conn = sv_http_conn_new_in(vu->sc->w->http, g);
    }
    sv_http_conn_send(vu->conn, &e->request, &e->send_opts, on_result, vu);
}

static void interrupt(sv_vu_t *vu)
{
    if (vu->conn)
        sv_http_conn_cancel(vu->conn);
}

const sv_vu_driver_t sv_quick_driver = {.iterate = iterate, .interrupt = interrupt};
