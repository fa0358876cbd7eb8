/*
 * Turning HTTP results into samples. Each request site caches the series of its
 * recent (status, error) outcomes, so the common request records its ten samples
 * without building or hashing a tag set.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine_int.h"

void sv_record_site_init(sv_registry_t *reg, sv_req_site_t *site, const sv_tagset_t *base,
                         const sv_http_request_t *req)
{
    const sv_tagset_t *t = sv_registry_tags_with(reg, base, "method", req->method);
    char *url = sv_xasprintf("%s://%s%s", req->url.scheme, req->url.authority, req->url.target);
    t = sv_registry_tags_with(reg, t, "url", url);
    t = sv_registry_tags_with(reg, t, "name", url);
    t = sv_registry_tags_with(reg, t, "group", "");
    free(url);
    *site = (sv_req_site_t){.tags = t};
}

/* The error code k6 gives a result: the network error's, or 1000 + status for a
 * status >= 400. */
static int result_error_code(const sv_http_result_t *res)
{
    if (res->error_code)
        return res->error_code;
    return res->status >= 400 ? 1000 + res->status : 0;
}

static sv_req_series_t *site_series(sv_registry_t *reg, sv_req_site_t *site,
                                    const sv_http_result_t *res, int code)
{
    int status = res->status ? res->status * 10 + res->minor_version : 0;
    for (int i = 0; i < site->n_cached; i++)
        if (site->cache[i].status == status && site->cache[i].error_code == code)
            return &site->cache[i];
    int slot = site->n_cached < SV_REQ_SERIES_CACHE ? site->n_cached++ : site->next_evict++;
    site->next_evict %= SV_REQ_SERIES_CACHE;

    char num[16];
    const sv_tagset_t *t = site->tags;
    snprintf(num, sizeof(num), "%d", res->status);
    t = sv_registry_tags_with(reg, t, "status", num);
    if (res->status)
        t = sv_registry_tags_with(reg, t, "proto", res->minor_version ? "HTTP/1.1" : "HTTP/1.0");
    bool expected = res->status >= 200 && res->status < 400 && res->error_code == 0;
    t = sv_registry_tags_with(reg, t, "expected_response", expected ? "true" : "false");
    if (code) {
        snprintf(num, sizeof(num), "%d", code);
        t = sv_registry_tags_with(reg, t, "error_code", num);
    }
    if (res->error_code)
        t = sv_registry_tags_with(reg, t, "error", res->error);

    sv_req_series_t *s = &site->cache[slot];
    *s = (sv_req_series_t){
        .status = status,
        .error_code = code,
        .reqs = sv_registry_series(reg, SV_M_HTTP_REQS, t),
        .duration = sv_registry_series(reg, SV_M_HTTP_REQ_DURATION, t),
        .blocked = sv_registry_series(reg, SV_M_HTTP_REQ_BLOCKED, t),
        .connecting = sv_registry_series(reg, SV_M_HTTP_REQ_CONNECTING, t),
        .sending = sv_registry_series(reg, SV_M_HTTP_REQ_SENDING, t),
        .waiting = sv_registry_series(reg, SV_M_HTTP_REQ_WAITING, t),
        .receiving = sv_registry_series(reg, SV_M_HTTP_REQ_RECEIVING, t),
        .failed = sv_registry_series(reg, SV_M_HTTP_REQ_FAILED, t),
        .corrected = sv_registry_series(reg, SV_M_HTTP_REQ_DURATION_CORRECTED, t),
    };
    return s;
}

void sv_record_http(sv_vu_t *vu, sv_req_site_t *site, const sv_http_result_t *res)
{
    sv_wscenario_t *sc = vu->sc;
    sv_registry_t *reg = sc->w->reg;
    int code = result_error_code(res);
    sv_req_series_t *s = site_series(reg, site, res, code);
    uint64_t duration_ns = res->sending_ns + res->waiting_ns + res->receiving_ns;
    sv_series_add(reg, s->reqs, 1);
    sv_series_add_trend(reg, s->duration, sv_ns_to_us(duration_ns));
    sv_series_add_trend(reg, s->blocked, sv_ns_to_us(res->blocked_ns));
    sv_series_add_trend(reg, s->connecting, sv_ns_to_us(res->connecting_ns));
    sv_series_add_trend(reg, s->sending, sv_ns_to_us(res->sending_ns));
    sv_series_add_trend(reg, s->waiting, sv_ns_to_us(res->waiting_ns));
    sv_series_add_trend(reg, s->receiving, sv_ns_to_us(res->receiving_ns));
    /* k6: a request failed unless its status was expected (200-399). */
    bool expected = res->error_code == 0 && res->status >= 200 && res->status < 400;
    sv_series_add(reg, s->failed, !expected);
    if (sc->open_model) {
        uint64_t late = vu->iter_start_ns > vu->due_ns ? vu->iter_start_ns - vu->due_ns : 0;
        sv_series_add_trend(reg, s->corrected, sv_ns_to_us(duration_ns + late));
    }
    sv_series_add(reg, sc->s_data_sent, (double)res->bytes_sent);
    sv_series_add(reg, sc->s_data_received, (double)res->bytes_received);
}

static uv_mutex_t debug_lock;
static uv_once_t debug_once = UV_ONCE_INIT;
static void debug_init(void) { uv_mutex_init(&debug_lock); }

void sv_record_debug(const sv_http_request_t *req, const sv_http_result_t *res,
                     sv_http_debug_t level)
{
    uv_once(&debug_once, debug_init);
    const char *wire = req->wire.data;
    const char *end_of_head = strstr(wire, "\r\n\r\n");
    size_t head_len = end_of_head ? (size_t)(end_of_head - wire) + 4 : req->wire.len;
    uv_mutex_lock(&debug_lock);
    fprintf(stderr, "Request:\n%.*s", (int)head_len, wire);
    if (level == SV_DEBUG_FULL && req->wire.len > head_len)
        fprintf(stderr, "%.*s\n", (int)(req->wire.len - head_len), wire + head_len);
    if (res->error_code) {
        fprintf(stderr, "Response: error %d: %s\n\n", res->error_code, res->error);
    } else {
        fprintf(stderr, "Response:\n%.*s", (int)res->head.len, res->head.data);
        if (level == SV_DEBUG_FULL && res->body.len)
            fprintf(stderr, "%.*s\n", (int)res->body.len, res->body.data);
        fputc('\n', stderr);
    }
    uv_mutex_unlock(&debug_lock);
}
