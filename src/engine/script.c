/*
 * The main thread's script (options, setup, teardown, handle_summary) and the VU
 * driver that runs script iterations on the workers.
 */
#include <stdio.h>
#include <stdlib.h>

#include "engine_int.h"
#include "script.h"

struct sv_script {
    sv_lua_state_t *lua;
    sv_lua_host_t host;
    uv_loop_t loop;
    sv_http_ctx_t *http;
    sv_registry_t *reg;
    sv_site_map_t sites;
    char *setup_json;
};

static void script_record(void *vu_arg, const sv_tagset_t *tags, const sv_http_result_t *res,
                          bool expected)
{
    sv_script_t *s = vu_arg;
    sv_record_ctx_t ctx = {0};
    sv_record_request(s->reg, sv_site_map_get(&s->sites, tags), res, expected, &ctx);
}

static void script_iteration_done(void *vu_arg, bool interrupted, bool failed, uint64_t now)
{
}

int sv_script_load(sv_script_t **out, const sv_plan_t *plan, sv_catalog_t *catalog, char *err)
{
    sv_script_t *s = sv_xcalloc(1, sizeof(*s));
    uv_loop_init(&s->loop);
    s->http = sv_http_ctx_new(&s->loop, plan->max_response_bytes);
    s->reg = sv_registry_new(catalog);
    s->host = (sv_lua_host_t){
        .loop = &s->loop,
        .http = s->http,
        .reg = s->reg,
        .catalog = catalog,
        .plan = plan,
        .record_http = script_record,
        .iteration_done = script_iteration_done,
        .host_arg = s,
    };
    *out = s;
    return sv_lua_state_new(&s->lua, plan->script, &s->host, true, err);
}

int sv_script_options(sv_script_t *s, json_t **options, char *err)
{
    return sv_lua_options_json(s->lua, options, err);
}

bool sv_script_has_function(sv_script_t *s, const char *name)
{
    return sv_lua_has_function(s->lua, name);
}

int sv_script_setup(sv_script_t *s, char *err)
{
    sv_http_ctx_set_tls(s->http, s->host.plan->tls_context); /* built after the script loaded */
    free(s->setup_json);
    s->setup_json = NULL;
    return sv_lua_run_setup(s->lua, &s->setup_json, err);
}

const char *sv_script_setup_json(const sv_script_t *s)
{
    return s->setup_json;
}

int sv_script_teardown(sv_script_t *s, char *err)
{
    return sv_lua_run_teardown(s->lua, s->setup_json, err);
}

const char *sv_script_aborted(const sv_script_t *s)
{
    return sv_lua_aborted(s->lua);
}

void sv_script_merge_samples(sv_script_t *s, sv_registry_t *totals)
{
    sv_snapshot_t *snap = sv_snapshot_new();
    sv_registry_take(s->reg, snap);
    sv_registry_merge(totals, snap);
    sv_snapshot_free(snap);
}

int sv_script_handle_summary(sv_script_t *s, const char *summary_json, bool *handled, char *err)
{
    return sv_lua_handle_summary(s->lua, summary_json, handled, err);
}

void sv_script_free(sv_script_t *s)
{
    if (s == NULL)
        return;
    sv_lua_state_free(s->lua);
    uv_run(&s->loop, UV_RUN_DEFAULT);
    sv_http_ctx_free(s->http);
    uv_loop_close(&s->loop);
    sv_registry_free(s->reg);
    sv_site_map_free(&s->sites);
    free(s->setup_json);
    free(s);
}

/* ---- the driver of script VUs on the workers --------------------------------------- */

static void lua_record(void *vu_arg, const sv_tagset_t *tags, const sv_http_result_t *res,
                       bool expected)
{
    sv_vu_t *vu = vu_arg;
    sv_record_http(vu, sv_site_map_get(&vu->sc->w->sites, tags), res, expected);
}

static void lua_iteration_done(void *vu_arg, bool interrupted, bool failed, uint64_t now)
{
    sv_vu_t *vu = vu_arg;
    if (failed)
        sv_series_add(vu->sc->w->reg, vu->sc->s_iteration_errors, 1);
    sv_vu_iteration_done(vu, interrupted, now);
}

static void lua_abort(void *host_arg, const char *reason)
{
    sv_worker_t *w = host_arg;
    sv_engine_abort(w->engine, reason);
}

int sv_script_worker_init(sv_worker_t *w, char *err)
{
    sv_engine_t *e = w->engine;
    w->lua_host = (sv_lua_host_t){
        .loop = &w->loop,
        .http = w->http,
        .reg = w->reg,
        .catalog = e->catalog,
        .plan = e->plan,
        .setup_json = e->opts->setup_json,
        .record_http = lua_record,
        .iteration_done = lua_iteration_done,
        .abort = lua_abort,
        .host_arg = w,
    };
    int rc = sv_lua_state_new(&w->lua, e->plan->script, &w->lua_host, false, err);
    if (rc == 0)
        rc = sv_lua_set_setup_data(w->lua, w->lua_host.setup_json, err);
    return rc;
}

static void lua_iterate(sv_vu_t *vu)
{
    if (vu->lua == NULL) {
        const sv_scenario_t *spec = vu->sc->spec;
        vu->lua = sv_lua_vu_new(vu->sc->w->lua, vu->id, spec->exec, spec->name, vu->sc->tags, vu);
        sv_lua_vu_set_env(vu->lua, spec->env, spec->n_env);
    }
    sv_lua_vu_iterate(vu->lua);
}

static void lua_interrupt(sv_vu_t *vu)
{
    if (vu->lua)
        sv_lua_vu_interrupt(vu->lua);
}

const sv_vu_driver_t sv_script_driver = {.iterate = lua_iterate, .interrupt = lua_interrupt};
