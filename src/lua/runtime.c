/*
 * The script state: loading, the init stage, per-VU globals, options, setup,
 * teardown and handle_summary.
 *
 * Globals: every function of the script sees the same globals table, a proxy. In
 * the init stage its metatable sends reads and writes to `base`; while a VU runs,
 * to that VU's own table, whose reads fall back to `base`. So a global assigned by
 * a VU belongs to that VU, as in k6, while top-level locals are shared by the VUs
 * of a worker. See docs/scripting.md.
 */
#include <errno.h>
#include <stdarg.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>

#include "../util/crypto.h"
#include "lua_int.h"

static const char state_key = 0;

/* Each iteration: exec(data) under xpcall, then a yield that tells the runtime the
 * iteration ended (as opposed to a yield for I/O). pcall/xpcall are yieldable in
 * LuaJIT, so http calls and sleep may yield anywhere inside. */
static const char loop_body_src[] =
    "local xpcall, yield, tostring, type = xpcall, coroutine.yield, tostring, type\n"
    "local function handler(e) if type(e) ~= 'string' then e = tostring(e) end return e end\n"
    "return function(fn, data)\n"
    "  while true do yield(xpcall(fn, handler, data)) end\n"
    "end\n";

static const char once_body_src[] =
    "local xpcall, tostring, type = xpcall, tostring, type\n"
    "local function handler(e) if type(e) ~= 'string' then e = tostring(e) end return e end\n"
    "return function(fn, data) return xpcall(fn, handler, data) end\n";

sv_lua_state_t *sv_lua_state_of(lua_State *L)
{
    lua_pushlightuserdata(L, (void *)&state_key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    sv_lua_state_t *s = lua_touserdata(L, -1);
    lua_pop(L, 1);
    return s;
}

sv_lua_vu_t *sv_lua_current(lua_State *L, const char *what)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    if (s->current == NULL)
        luaL_error(L,
                   "%s is not allowed in the init stage (call it inside a function such as "
                   "default or setup)",
                   what);
    return s->current;
}

void sv_lua_enter(sv_lua_state_t *s, sv_lua_vu_t *vu)
{
    lua_State *L = s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_proxy);
    lua_rawgeti(L, LUA_REGISTRYINDEX, vu ? vu->ref_meta : s->ref_init_meta);
    lua_setmetatable(L, -2);
    lua_pop(L, 1);
}

bool sv_lua_duration(lua_State *L, int idx, uint64_t *ns)
{
    if (lua_type(L, idx) == LUA_TNUMBER) {
        double ms = lua_tonumber(L, idx);
        if (ms < 0 || ms > 9e15)
            return false;
        *ns = (uint64_t)(ms * 1e6);
        return true;
    }
    if (lua_type(L, idx) == LUA_TSTRING)
        return sv_parse_duration(lua_tostring(L, idx), ns) == 0;
    return false;
}

/* "file:line: message" from a Lua error value. */
static void error_text(lua_State *L, int idx, char *err)
{
    const char *msg = lua_tostring(L, idx);
    snprintf(err, SV_LUA_ERR_SIZE, "%s", msg ? msg : "error object is not a string");
}

/* math.random differs per worker and per run, as scripts expect. */
static void seed_random(lua_State *L)
{
    uint32_t seed;
    if (sv_random_bytes(&seed, sizeof(seed)) != 0)
        seed = (uint32_t)sv_now_ns();
    lua_getglobal(L, "math");
    lua_getfield(L, -1, "randomseed");
    lua_pushnumber(L, seed % 2147483647u);
    lua_call(L, 1, 0);
    lua_pop(L, 1);
}

static void register_preloads(lua_State *L)
{
    static const luaL_Reg modules[] = {
        {"salvo", sv_lua_open_salvo},
        {"salvo.http", sv_lua_open_http},
        {"salvo.metrics", sv_lua_open_metrics},
        {"salvo.data", sv_lua_open_data},
        {"salvo.crypto", sv_lua_open_crypto},
        {"salvo.encoding", sv_lua_open_encoding},
        {"salvo.uuid", sv_lua_open_uuid},
        {"salvo.jwt", sv_lua_open_jwt},
        {NULL, NULL},
    };
    lua_getglobal(L, "package");
    lua_getfield(L, -1, "preload");
    for (const luaL_Reg *m = modules; m->name; m++) {
        lua_pushcfunction(L, m->func);
        lua_setfield(L, -2, m->name);
    }
    lua_pop(L, 1);
    /* require("lib") finds lib.lua next to the script */
    lua_getfield(L, -1, "path");
    const char *path = lua_tostring(L, -1);
    sv_lua_state_t *s = sv_lua_state_of(L);
    lua_pushfstring(L, "%s/?.lua;%s", s->script_dir, path ? path : "");
    lua_setfield(L, -3, "path");
    lua_pop(L, 2);
}

static int load_chunk_ref(lua_State *L, const char *src, const char *name)
{
    if (luaL_loadbuffer(L, src, strlen(src), name) != 0 || lua_pcall(L, 0, 1, 0) != 0)
        abort(); /* our own code: cannot fail */
    return luaL_ref(L, LUA_REGISTRYINDEX);
}

/* Sets up base (the real globals), the proxy every chunk sees, and the two
 * metatables: {__index=base,__newindex=base} for the init stage and {__index=base}
 * shared by the VUs' own tables. */
static void setup_globals(sv_lua_state_t *s)
{
    lua_State *L = s->L;
    lua_pushvalue(L, LUA_GLOBALSINDEX);
    s->ref_base = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_newtable(L); /* {__index = base}: VU tables fall back to base */
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_base);
    lua_setfield(L, -2, "__index");
    s->ref_vu_index = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_newtable(L); /* the proxy's metatable in the init stage */
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_base);
    lua_setfield(L, -2, "__index");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_base);
    lua_setfield(L, -2, "__newindex");
    s->ref_init_meta = luaL_ref(L, LUA_REGISTRYINDEX);

    lua_newtable(L);
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_init_meta);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    s->ref_proxy = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pushvalue(L, -1);
    lua_setfield(L, LUA_GLOBALSINDEX, "_G");
    lua_replace(L, LUA_GLOBALSINDEX); /* chunks loaded from now on see the proxy */
}

int sv_lua_state_new(sv_lua_state_t **out, const char *script_path, sv_lua_host_t *host,
                     bool is_main, char *err)
{
    sv_lua_state_t *s = sv_xcalloc(1, sizeof(*s));
    s->host = host;
    s->is_main = is_main;
    s->script_path = sv_xstrdup(script_path);
    char *tmp = sv_xstrdup(script_path);
    s->script_dir = sv_xstrdup(dirname(tmp));
    free(tmp);
    lua_State *L = s->L = luaL_newstate();
    if (L == NULL) {
        fprintf(stderr, "salvo: out of memory creating a Lua state\n");
        abort();
    }
    luaL_openlibs(L);
    lua_pushcfunction(L, sv_lua_log); /* print() logs like salvo.log(), on stderr */
    lua_setglobal(L, "print");
    seed_random(L);
    lua_pushlightuserdata(L, (void *)&state_key);
    lua_pushlightuserdata(L, s);
    lua_rawset(L, LUA_REGISTRYINDEX);
    lua_pushcfunction(L, luaopen_cjson);
    lua_call(L, 0, 1);
    s->ref_cjson = luaL_ref(L, LUA_REGISTRYINDEX);
    setup_globals(s);
    register_preloads(L);
    s->ref_loop_body = load_chunk_ref(L, loop_body_src, "=salvo.vu");
    s->ref_once_body = load_chunk_ref(L, once_body_src, "=salvo.once");
    if (host->loop) {
        uv_idle_init(host->loop, &s->idle);
        s->idle.data = s;
    }
    *out = s;

    if (luaL_loadfile(L, script_path) != 0) {
        error_text(L, -1, err);
        lua_pop(L, 1);
        return SV_EPARSE;
    }
    if (lua_pcall(L, 0, 0, 0) != 0) {
        error_text(L, -1, err);
        lua_pop(L, 1);
        return SV_EPARSE;
    }
    return 0;
}

void sv_lua_state_free(sv_lua_state_t *s)
{
    if (s == NULL)
        return;
    sv_lua_flush_error_log(s);
    if (s->host->loop)
        uv_close((uv_handle_t *)&s->idle, NULL);
    free(s->aborted);
    for (int i = 0; i < s->n_checks; i++)
        free(s->checks[i].name);
    sv_lua_http_cleanup(s->L);
    lua_close(s->L);
    free(s->script_path);
    free(s->script_dir);
    free(s);
}

/* Pushes base[name]. */
static void push_global(sv_lua_state_t *s, const char *name)
{
    lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->ref_base);
    lua_getfield(s->L, -1, name);
    lua_remove(s->L, -2);
}

bool sv_lua_has_function(sv_lua_state_t *s, const char *name)
{
    push_global(s, name);
    bool yes = lua_isfunction(s->L, -1);
    lua_pop(s->L, 1);
    return yes;
}

/* ---- options ------------------------------------------------------------------- */

/* k6 option keys salvo does not support yet, and what brings them. */
static const struct {
    const char *key, *when;
} later_keys[] = {
    {"stages", "with scenarios and executors"},
    {"scenarios", "with scenarios and executors"},
    {"executionSegment", "with segments"},
    {"executionSegmentSequence", "with segments"},
    {"rps", "with scenarios and executors"},
    {"setupTimeout", "with scenarios and executors"},
    {"teardownTimeout", "with scenarios and executors"},
    {"noConnectionReuse", "with scenarios and executors"},
    {"userAgent", "with scenarios and executors"},
    {"discardResponseBodies", "with scenarios and executors"},
    {"maxRedirects", "with scenarios and executors"},
    {"insecureSkipTLSVerify", "with HTTPS"},
    {"tlsAuth", "with HTTPS"},
    {"tlsVersion", "with HTTPS"},
    {"tlsCipherSuites", "with HTTPS"},
    {"hosts", "in a later release"},
    {"batch", "in a later release"},
    {"batchPerHost", "in a later release"},
    {"httpDebug", "in a later release; use --http-debug"},
    {"systemTags", "in a later release"},
    {"summaryTimeUnit", "in a later release"},
};

static int option_error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int option_error(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SV_LUA_ERR_SIZE, fmt, ap);
    va_end(ap);
    return SV_EINVAL;
}

/* How a value looks in an error: "ten" for a string, its type otherwise. */
static const char *shown(lua_State *L, int idx, char *buf, size_t size)
{
    if (lua_type(L, idx) == LUA_TSTRING)
        snprintf(buf, size, "\"%s\"", lua_tostring(L, idx));
    else
        snprintf(buf, size, "%s", luaL_typename(L, idx));
    return buf;
}

static int read_count(lua_State *L, const char *key, uint64_t max, uint64_t *out, char *err)
{
    char got[64];
    if (lua_type(L, -1) != LUA_TNUMBER)
        return option_error(err, "options.%s: expected a number, got %s", key,
                            shown(L, -1, got, sizeof(got)));
    double v = lua_tonumber(L, -1);
    if (v < 1 || v > (double)max || v != (double)(uint64_t)v)
        return option_error(err, "options.%s: expected a whole number from 1, got %s", key,
                            lua_tostring(L, -1));
    *out = (uint64_t)v;
    return 0;
}

static int read_tags(lua_State *L, sv_shortcuts_t *o, char *err)
{
    if (!lua_istable(L, -1))
        return option_error(err, "options.%s: expected a table of strings, got %s", "tags",
                            luaL_typename(L, -1));
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1)) {
            lua_pop(L, 2);
            return option_error(err, "options.tags: expected string keys and values");
        }
        sv_kv_push(&o->tags, &o->n_tags, lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return 0;
}

/* One threshold: "p(95)<500" or {threshold = "...", abortOnFail = true,
 * delayAbortEval = "10s"}, for metric key `metric`. */
static int read_threshold(lua_State *L, const char *metric, sv_plan_t *plan, char *err)
{
    const char *expr = lua_tostring(L, -1), *why = NULL;
    bool abort_on_fail = false;
    uint64_t delay = 0;
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "threshold");
        lua_getfield(L, -2, "abortOnFail");
        lua_getfield(L, -3, "delayAbortEval");
        expr = lua_tostring(L, -3);
        abort_on_fail = lua_toboolean(L, -2);
        if (!lua_isnil(L, -1) && !sv_lua_duration(L, -1, &delay)) {
            lua_pop(L, 3);
            return option_error(err,
                                "options.thresholds.%s: delayAbortEval: expected a duration "
                                "such as \"10s\"",
                                metric);
        }
        lua_pop(L, 3);
    }
    if (expr == NULL)
        return option_error(err,
                            "options.thresholds.%s: expected expressions such as "
                            "\"p(95)<500\"",
                            metric);
    if (sv_plan_add_threshold(plan, metric, expr, abort_on_fail, delay, &why) != 0) {
        snprintf(err, SV_LUA_ERR_SIZE, "options.thresholds[\"%s\"]: \"%s\": %s", metric, expr, why);
        return SV_EINVAL;
    }
    return 0;
}

static int read_thresholds(lua_State *L, sv_plan_t *plan, char *err)
{
    if (!lua_istable(L, -1))
        return option_error(err,
                            "options.%s: expected a table such as { http_req_duration = "
                            "{ \"p(95)<500\" } }",
                            "thresholds");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
        /* lua_tostring on a number key would turn it into a string and break lua_next */
        const char *metric = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
        int rc = 0;
        if (metric == NULL || !lua_istable(L, -1))
            rc = option_error(err, "options.thresholds: expected metric = { expressions }");
        for (int i = 1; rc == 0; i++) {
            lua_rawgeti(L, -1, i);
            if (lua_isnil(L, -1)) {
                lua_pop(L, 1);
                break;
            }
            rc = read_threshold(L, metric, plan, err);
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
        if (rc != 0) {
            lua_pop(L, 1);
            return rc;
        }
    }
    return 0;
}

/* summaryTrendStats = { "avg", "p(99)" }; flags given later replace it. */
static int read_trend_stats(lua_State *L, sv_plan_t *plan, char *err)
{
    sv_buf_t list;
    sv_buf_init(&list, 4096);
    for (int i = 1; lua_istable(L, -1); i++) {
        lua_rawgeti(L, -1, i);
        const char *stat = lua_tostring(L, -1);
        lua_pop(L, 1);
        if (stat == NULL)
            break;
        sv_buf_printf(&list, "%s%s", i > 1 ? "," : "", stat);
    }
    const char *why = "expected a list of strings such as { \"avg\", \"p(99)\" }";
    int rc = list.len ? sv_plan_set_trend_stats(plan, list.data, &why) : SV_EPARSE;
    sv_buf_free(&list);
    if (rc != 0)
        return option_error(err, "options.summaryTrendStats: %s", why);
    return 0;
}

static int read_option(lua_State *L, const char *key, sv_shortcuts_t *o, sv_plan_t *plan, char *err)
{
    if (strcmp(key, "thresholds") == 0)
        return read_thresholds(L, plan, err);
    if (strcmp(key, "summaryTrendStats") == 0)
        return read_trend_stats(L, plan, err);
    if (strcmp(key, "vus") == 0) {
        o->has_vus = true;
        return read_count(L, key, 1000000, &o->vus, err);
    }
    if (strcmp(key, "iterations") == 0) {
        o->has_iterations = true;
        return read_count(L, key, UINT64_MAX / 2, &o->iterations, err);
    }
    if (strcmp(key, "duration") == 0) {
        o->has_duration = true;
        if (!sv_lua_duration(L, -1, &o->duration_ns) || o->duration_ns == 0)
            return option_error(err,
                                "options.%s: expected a duration such as \"30s\" or a "
                                "number of milliseconds, got %s",
                                key,
                                lua_tostring(L, -1) ? lua_tostring(L, -1) : luaL_typename(L, -1));
        return 0;
    }
    if (strcmp(key, "tags") == 0)
        return read_tags(L, o, err);
    for (size_t i = 0; i < SV_ARRAY_SIZE(later_keys); i++)
        if (strcmp(key, later_keys[i].key) == 0)
            return option_error(err, "options.%s: not supported yet (it arrives %s)", key,
                                later_keys[i].when);
    return option_error(err,
                        "options.%s: unknown option (supported: vus, duration, iterations, "
                        "tags, thresholds, summaryTrendStats)",
                        key);
}

int sv_lua_read_options(sv_lua_state_t *s, sv_shortcuts_t *o, sv_plan_t *plan, char *err)
{
    lua_State *L = s->L;
    push_global(s, "options");
    int rc = 0;
    if (lua_isnil(L, -1))
        goto out;
    if (!lua_istable(L, -1)) {
        rc = option_error(err, "options: expected a table, got %s", luaL_typename(L, -1));
        goto out;
    }
    lua_pushnil(L);
    while (rc == 0 && lua_next(L, -2)) {
        if (lua_type(L, -2) != LUA_TSTRING)
            rc = option_error(err, "options: keys must be strings, got %s", luaL_typename(L, -2));
        else
            rc = read_option(L, lua_tostring(L, -2), o, plan, err);
        lua_pop(L, rc == 0 ? 1 : 2);
    }
out:
    lua_pop(L, 1);
    return rc;
}

/* ---- setup, teardown, handle_summary ------------------------------------------- */

/* Runs global `name` once in a one-shot VU on the host's loop. On success leaves its
 * result JSON-encoded in *json (when json is not NULL). */
static int run_once(sv_lua_state_t *s, const char *name, const char *data_json, char **json,
                    char *err)
{
    if (!sv_lua_has_function(s, name)) {
        if (json)
            *json = sv_xstrdup("null");
        return 0;
    }
    sv_lua_vu_t *vu = sv_lua_vu_new(s, 0, name, "", NULL, s->host->host_arg);
    vu->once = true;
    if (data_json)
        s->host->setup_json = data_json;
    sv_lua_vu_iterate(vu);
    while (!vu->once_done && uv_run(s->host->loop, UV_RUN_ONCE))
        ;
    int rc = 0;
    if (vu->once_error) {
        snprintf(err, SV_LUA_ERR_SIZE, "%s", vu->once_error);
        rc = SV_EPARSE;
    } else if (json) {
        lua_rawgeti(s->L, LUA_REGISTRYINDEX, s->ref_cjson);
        lua_getfield(s->L, -1, "encode");
        lua_xmove(vu->co, s->L, 1); /* the result, left on the coroutine */
        if (lua_pcall(s->L, 1, 1, 0) != 0) {
            snprintf(err, SV_LUA_ERR_SIZE, "%s(): its result cannot be passed on as JSON: %s", name,
                     lua_tostring(s->L, -1));
            rc = SV_EPARSE;
        } else {
            *json = sv_xstrdup(lua_tostring(s->L, -1));
        }
        lua_pop(s->L, 2);
    }
    sv_lua_vu_free(vu);
    uv_run(s->host->loop, UV_RUN_NOWAIT); /* let closed handles go */
    return rc;
}

int sv_lua_run_setup(sv_lua_state_t *s, char **json, char *err)
{
    return run_once(s, "setup", NULL, json, err);
}

int sv_lua_run_teardown(sv_lua_state_t *s, const char *json, char *err)
{
    return run_once(s, "teardown", json, NULL, err);
}

static int write_output(lua_State *L, const char *where, char *err)
{
    size_t len;
    const char *text = lua_tolstring(L, -1, &len);
    if (text == NULL) {
        snprintf(err, SV_LUA_ERR_SIZE, "handle_summary: the value for \"%s\" is not a string",
                 where);
        return SV_EPARSE;
    }
    FILE *f = strcmp(where, "stdout") == 0   ? stdout
              : strcmp(where, "stderr") == 0 ? stderr
                                             : fopen(where, "wb");
    if (f == NULL) {
        snprintf(err, SV_LUA_ERR_SIZE, "handle_summary: cannot write \"%s\": %s", where,
                 strerror(errno));
        return SV_EIO;
    }
    fwrite(text, 1, len, f);
    if (f != stdout && f != stderr && fclose(f) != 0) {
        snprintf(err, SV_LUA_ERR_SIZE, "handle_summary: cannot write \"%s\": %s", where,
                 strerror(errno));
        return SV_EIO;
    }
    fflush(f == stdout || f == stderr ? f : NULL);
    return 0;
}

int sv_lua_handle_summary(sv_lua_state_t *s, const char *summary_json, bool *handled, char *err)
{
    lua_State *L = s->L;
    *handled = sv_lua_has_function(s, "handle_summary");
    if (!*handled)
        return 0;
    push_global(s, "handle_summary");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_pushstring(L, summary_json);
    lua_call(L, 1, 1); /* our own JSON: decodes */
    if (lua_pcall(L, 1, 1, 0) != 0) {
        error_text(L, -1, err);
        lua_pop(L, 1);
        return SV_EPARSE;
    }
    int rc = 0;
    if (lua_istable(L, -1)) {
        lua_pushnil(L);
        while (rc == 0 && lua_next(L, -2)) {
            if (lua_type(L, -2) == LUA_TSTRING)
                rc = write_output(L, lua_tostring(L, -2), err);
            lua_pop(L, rc == 0 ? 1 : 2);
        }
    } else if (!lua_isnil(L, -1)) {
        snprintf(err, SV_LUA_ERR_SIZE,
                 "handle_summary must return a table such as "
                 "{stdout = \"...\", [\"out.json\"] = \"...\"}");
        rc = SV_EPARSE;
    }
    lua_pop(L, 1);
    return rc;
}

int sv_lua_set_setup_data(sv_lua_state_t *s, const char *json, char *err)
{
    if (json == NULL || strcmp(json, "null") == 0)
        return 0; /* no setup(), or it returned nothing: VUs get nil */
    lua_State *L = s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
    lua_getfield(L, -1, "decode");
    lua_pushstring(L, json);
    if (lua_pcall(L, 1, 1, 0) != 0) {
        snprintf(err, SV_LUA_ERR_SIZE, "setup()'s result cannot be decoded: %s",
                 lua_tostring(L, -1));
        lua_pop(L, 2);
        return SV_EPARSE;
    }
    s->ref_setup_data = luaL_ref(L, LUA_REGISTRYINDEX);
    lua_pop(L, 1);
    return 0;
}

const char *sv_lua_aborted(const sv_lua_state_t *s)
{
    return s->aborted;
}
