/*
 * The script runtime: one LuaJIT state per worker (plus one on the main thread for
 * options, setup, teardown and handle_summary). A VU is a coroutine; http calls and
 * sleep yield it and the worker's loop resumes it. The engine drives it through this
 * header and provides what scripts need through sv_lua_host_t, so this module knows
 * nothing of workers or scenarios.
 *
 * Threading: a state and its VUs belong to the thread running the host's loop.
 */
#ifndef SV_LUA_H
#define SV_LUA_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../http/client.h"
#include "../metrics/metrics.h"
#include "../plan/plan.h"

typedef struct sv_lua_host {
    uv_loop_t *loop;
    sv_http_ctx_t *http;
    sv_registry_t *reg;
    sv_catalog_t *catalog;  /* the main state adds custom metrics; workers only find them */
    const sv_plan_t *plan;  /* env, timeout, debug */
    const char *setup_json; /* setup()'s result as JSON, or NULL */
    /* Records a finished request of a VU (vu_arg as given to sv_lua_vu_new). */
    void (*record_http)(void *vu_arg, const sv_tagset_t *tags, const sv_http_result_t *res,
                        bool expected);
    /* The VU's iteration ended (failed: a Lua error); may start the next one. */
    void (*iteration_done)(void *vu_arg, bool interrupted, bool failed, uint64_t now_ns);
    /* test.abort(reason) */
    void (*abort)(void *host_arg, const char *reason);
    void *host_arg;
} sv_lua_host_t;

typedef struct sv_lua_state sv_lua_state_t;
typedef struct sv_lua_vu sv_lua_vu_t;

#define SV_LUA_ERR_SIZE 512

/* Loads the script and runs its init stage. On a syntax or init error returns
 * SV_EPARSE with err = "file:line: message". is_main: this state may register
 * custom metrics and runs setup/teardown/handle_summary. */
int sv_lua_state_new(sv_lua_state_t **out, const char *script_path, sv_lua_host_t *host,
                     bool is_main, char *err);
/* Frees the state; with a host loop, its last bytes go when the loop runs next. */
void sv_lua_state_free(sv_lua_state_t *s);
bool sv_lua_has_function(sv_lua_state_t *s, const char *name);

/* The script's `options` table as JSON, for the options reader (an empty object when
 * there is none). SV_EINVAL with err for values JSON cannot hold. */
int sv_lua_options_json(sv_lua_state_t *s, json_t **out, char *err);

/* Decodes setup()'s result (JSON) once; every VU of the state gets it as `data`. */
int sv_lua_set_setup_data(sv_lua_state_t *s, const char *json, char *err);

/* Runs setup() to completion on the host's loop; *json is its result as JSON (or
 * "null"), to free. teardown(data) likewise. SV_EPARSE with err on a script error,
 * SV_ETIMEDOUT when it ran past the plan's setupTimeout (teardownTimeout). */
int sv_lua_run_setup(sv_lua_state_t *s, char **json, char *err);
int sv_lua_run_teardown(sv_lua_state_t *s, const char *json, char *err);
/* Calls handle_summary(summary) with the JSON export as a table and writes what it
 * returns ("stdout", "stderr" or file paths). *handled false when there is none. */
int sv_lua_handle_summary(sv_lua_state_t *s, const char *summary_json, bool *handled, char *err);

/* A VU running `exec` (a global function, "default" when NULL). tags: the base tag
 * set of its samples (scenario, user tags). */
sv_lua_vu_t *sv_lua_vu_new(sv_lua_state_t *s, uint32_t id, const char *exec, const char *scenario,
                           const sv_tagset_t *tags, void *vu_arg);
/* The scenario's env: salvo.env reads it first while this VU runs (not copied). */
void sv_lua_vu_set_env(sv_lua_vu_t *vu, const sv_kv_t *env, size_t n);
/* Starts one iteration; iteration_done runs when it ends (never inside this call
 * unless the iteration did no I/O, and then on a later loop pass). */
void sv_lua_vu_iterate(sv_lua_vu_t *vu);
/* Ends the iteration in flight now (iteration_done with interrupted set). */
void sv_lua_vu_interrupt(sv_lua_vu_t *vu);
void sv_lua_vu_free(sv_lua_vu_t *vu);
/* test.abort()'s reason when the script called it where the host has no abort
 * (setup, teardown), or NULL. */
const char *sv_lua_aborted(const sv_lua_state_t *s);

#endif
