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
                                    const sv_http_result_t *res, int code, bool expected)
{
    int status = res->status ? res->status * 10 + (res->http2 ? 2 : res->minor_version) : 0;
    for (int i = 0; i < site->n_cached; i++) {
        sv_req_series_t *c = &site->cache[i];
        if (c->status == status && c->error_code == code && c->expected == expected &&
            c->tls_version == res->tls_version)
            return c;
    }
    int slot = site->n_cached < SV_REQ_SERIES_CACHE ? site->n_cached++ : site->next_evict++;
    site->next_evict %= SV_REQ_SERIES_CACHE;

    char num[16];
    const sv_tagset_t *t = site->tags;
    snprintf(num, sizeof(num), "%d", res->status);
    t = sv_registry_tags_with(reg, t, "status", num);
    if (res->status)
        t = sv_registry_tags_with(reg, t, "proto",
                                  res->http2           ? "HTTP/2.0"
                                  : res->minor_version ? "HTTP/1.1"
                                                       : "HTTP/1.0");
    t = sv_registry_tags_with(reg, t, "expected_response", expected ? "true" : "false");
    if (res->tls_version && *res->tls_version)
        t = sv_registry_tags_with(reg, t, "tls_version", res->tls_version);
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
        .expected = expected,
        .tls_version = res->tls_version,
        .reqs = sv_registry_series(reg, SV_M_HTTP_REQS, t),
        .duration = sv_registry_series(reg, SV_M_HTTP_REQ_DURATION, t),
        .blocked = sv_registry_series(reg, SV_M_HTTP_REQ_BLOCKED, t),
        .connecting = sv_registry_series(reg, SV_M_HTTP_REQ_CONNECTING, t),
        .tls_handshaking = sv_registry_series(reg, SV_M_HTTP_REQ_TLS_HANDSHAKING, t),
        .sending = sv_registry_series(reg, SV_M_HTTP_REQ_SENDING, t),
        .waiting = sv_registry_series(reg, SV_M_HTTP_REQ_WAITING, t),
        .receiving = sv_registry_series(reg, SV_M_HTTP_REQ_RECEIVING, t),
        .failed = sv_registry_series(reg, SV_M_HTTP_REQ_FAILED, t),
        .corrected = sv_registry_series(reg, SV_M_HTTP_REQ_DURATION_CORRECTED, t),
    };
    return s;
}

void sv_record_request(sv_registry_t *reg, sv_req_site_t *site, const sv_http_result_t *res,
                       bool expected, const sv_record_ctx_t *ctx)
{
    int code = result_error_code(res);
    sv_req_series_t *s = site_series(reg, site, res, code, expected);
    uint64_t duration_ns = res->sending_ns + res->waiting_ns + res->receiving_ns;
    sv_series_add(reg, s->reqs, 1);
    sv_series_add_trend(reg, s->duration, sv_ns_to_us(duration_ns));
    sv_series_add_trend(reg, s->blocked, sv_ns_to_us(res->blocked_ns));
    sv_series_add_trend(reg, s->connecting, sv_ns_to_us(res->connecting_ns));
    sv_series_add_trend(reg, s->tls_handshaking, sv_ns_to_us(res->tls_handshaking_ns));
    sv_series_add_trend(reg, s->sending, sv_ns_to_us(res->sending_ns));
    sv_series_add_trend(reg, s->waiting, sv_ns_to_us(res->waiting_ns));
    sv_series_add_trend(reg, s->receiving, sv_ns_to_us(res->receiving_ns));
    sv_series_add(reg, s->failed, !expected);
    if (ctx->open_model)
        sv_series_add_trend(reg, s->corrected, sv_ns_to_us(duration_ns + ctx->late_ns));
    if (ctx->data_sent)
        sv_series_add(reg, ctx->data_sent, (double)res->bytes_sent);
    if (ctx->data_received)
        sv_series_add(reg, ctx->data_received, (double)res->bytes_received);
}

/* k6: a request failed unless its status was expected (200-399 by default). */
bool sv_record_default_expected(const sv_http_result_t *res)
{
    return res->error_code == 0 && res->status >= 200 && res->status < 400;
}

void sv_record_http(sv_vu_t *vu, sv_req_site_t *site, const sv_http_result_t *res, bool expected)
{
    sv_wscenario_t *sc = vu->sc;
    sv_record_ctx_t ctx = {
        .open_model = sc->open_model,
        .late_ns = vu->iter_start_ns > vu->due_ns ? vu->iter_start_ns - vu->due_ns : 0,
        .data_sent = sc->s_data_sent,
        .data_received = sc->s_data_received,
    };
    sv_record_request(sc->w->reg, site, res, expected, &ctx);
}

/* ---- sites by tag set ------------------------------------------------------------ */

sv_req_site_t *sv_site_map_get(sv_site_map_t *m, const sv_tagset_t *tags)
{
    if (m->n * 2 >= m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 64;
        sv_req_site_t **slots = sv_xcalloc(cap, sizeof(*slots));
        for (size_t i = 0; i < m->cap; i++) {
            sv_req_site_t *site = m->slots[i];
            if (site == NULL)
                continue;
            size_t j = ((uintptr_t)site->tags >> 4) % cap;
            while (slots[j])
                j = (j + 1) % cap;
            slots[j] = site;
        }
        free(m->slots);
        m->slots = slots;
        m->cap = cap;
    }
    size_t j = ((uintptr_t)tags >> 4) % m->cap;
    while (m->slots[j]) {
        if (m->slots[j]->tags == tags)
            return m->slots[j];
        j = (j + 1) % m->cap;
    }
    sv_req_site_t *site = sv_xcalloc(1, sizeof(*site));
    site->tags = tags;
    m->slots[j] = site;
    m->n++;
    return site;
}

void sv_site_map_free(sv_site_map_t *m)
{
    for (size_t i = 0; i < m->cap; i++)
        free(m->slots[i]);
    free(m->slots);
    *m = (sv_site_map_t){0};
}
