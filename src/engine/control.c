/*
 * The control endpoint of a running test, for externally-controlled scenarios:
 * `salvo scale --vus N` (or any HTTP client) on 127.0.0.1, speaking k6's REST shape:
 *   GET   /v1/status  → {"data":{"attributes":{"vus":…,"vus-max":…,"running":…}}}
 *   PATCH /v1/status  ← {"data":{"attributes":{"vus":N}}}  (or {"vus":N})
 * It runs on its own server thread; a change is an atomic store and a wake-up of
 * the workers, which follow it on their loops.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/server.h"
#include "engine_int.h"

static const sv_scenario_t *controlled(const sv_plan_t *plan)
{
    for (size_t i = 0; i < plan->n_scenarios; i++)
        if (plan->scenarios[i].executor == SV_EXEC_EXTERNALLY_CONTROLLED)
            return &plan->scenarios[i];
    return NULL;
}

static void reply(sv_server_response_t *res, int status, json_t *doc)
{
    char *text = json_dumps(doc, JSON_COMPACT);
    res->status = status;
    res->content_type = "application/json";
    sv_buf_printf(&res->body, "%s\n", text);
    free(text);
    json_decref(doc);
}

static void reply_error(sv_server_response_t *res, int status, const char *detail)
{
    reply(res, status, json_pack("{s:[{s:s}]}", "errors", "detail", detail));
}

static void reply_status(sv_engine_t *e, sv_server_response_t *res)
{
    const sv_scenario_t *s = controlled(e->plan);
    json_t *attrs = json_pack("{s:I,s:I,s:b}", "vus", (json_int_t)atomic_load(&e->ext_vus),
                              "vus-max", (json_int_t)s->max_vus, "running",
                              atomic_load(&e->finished_workers) < e->n_workers);
    reply(res, 200,
          json_pack("{s:{s:s,s:s,s:o}}", "data", "type", "status", "id", "default", "attributes",
                    attrs));
}

/* Reads the wanted VUs from either shape of body. */
static json_t *wanted_vus(json_t *doc)
{
    json_t *v = json_object_get(json_object_get(json_object_get(doc, "data"), "attributes"), "vus");
    return v ? v : json_object_get(doc, "vus");
}

static void patch_status(sv_engine_t *e, sv_span_t body, sv_server_response_t *res)
{
    const sv_scenario_t *s = controlled(e->plan);
    json_t *doc = json_loadb(body.ptr, body.len, 0, NULL);
    json_t *v = wanted_vus(doc);
    if (!json_is_integer(v) || json_integer_value(v) < 0) {
        json_decref(doc);
        reply_error(res, 400, "expected {\"data\":{\"attributes\":{\"vus\":N}}} with N >= 0");
        return;
    }
    json_int_t n = json_integer_value(v);
    json_decref(doc);
    if (n > (json_int_t)s->max_vus) {
        char why[160];
        snprintf(why, sizeof(why), "vus %lld is more than scenario %s's maxVUs %u", (long long)n,
                 s->name, s->max_vus);
        reply_error(res, 422, why);
        return;
    }
    atomic_store(&e->ext_vus, (unsigned)n);
    for (uint32_t i = 0; atomic_load(&e->workers_started) && i < e->n_workers; i++)
        sv_worker_wake(&e->workers[i]); /* unstarted workers read it when they start */
    reply_status(e, res);
}

static void handle(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res, void *arg)
{
    sv_engine_t *e = arg;
    if (!sv_span_eq(req->target, "/v1/status")) {
        reply_error(res, 404, "not found; the control endpoint is /v1/status");
        return;
    }
    if (sv_span_eq(req->method, "GET"))
        reply_status(e, res);
    else if (sv_span_eq(req->method, "PATCH") || sv_span_eq(req->method, "POST"))
        patch_status(e, body, res);
    else
        reply_error(res, 405, "use GET or PATCH");
}

int sv_control_open(sv_engine_t *e, char *err, size_t size)
{
    const sv_scenario_t *s = controlled(e->plan);
    if (s == NULL)
        return 0;
    atomic_store(&e->ext_vus, s->vus);
    const char *address = e->plan->control_address ? e->plan->control_address : SV_CONTROL_ADDRESS;
    char host[256];
    uint16_t port;
    const char *why = "expected HOST:PORT";
    if (sv_split_host_port(address, host, sizeof(host), &port) != 0 ||
        sv_server_open(&e->control, host, port, 1, handle, e, &why) != 0) {
        snprintf(err, size,
                 "--address %s: cannot serve the control endpoint: %s (pick another with "
                 "--address)",
                 address, why);
        return SV_EINVAL;
    }
    sv_server_start(e->control);
    return 0;
}

void sv_control_close(sv_engine_t *e)
{
    if (e->control == NULL)
        return;
    sv_server_stop(e->control);
    sv_server_free(e->control);
    e->control = NULL;
}
