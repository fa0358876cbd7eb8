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

int sv_lua_guarded(lua_State *L, lua_CFunction f, void *ud)
{
    lua_pushcfunction(L, f);
    lua_pushvalue(L, 1);
    lua_pushvalue(L, 2);
    lua_pushlightuserdata(L, ud);
    return lua_pcall(L, 3, 0, 0);
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
        {"salvo.ws", sv_lua_open_ws},
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

static void on_idle_closed(uv_handle_t *h)
{
    free(h->data);
}

void sv_lua_state_free(sv_lua_state_t *s)
{
    if (s == NULL)
        return;
    sv_lua_flush_error_log(s);
    free(s->aborted);
    for (int i = 0; i < s->n_checks; i++)
        free(s->checks[i].name);
    sv_lua_http_cleanup(s->L);
    lua_close(s->L);
    free(s->script_path);
    free(s->script_dir);
    if (s->host->loop) /* the struct holds the idle handle: it goes when libuv is done */
        uv_close((uv_handle_t *)&s->idle, on_idle_closed);
    else
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

static int option_error(char *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int option_error(char *err, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, SV_LUA_ERR_SIZE, fmt, ap);
    va_end(ap);
    return SV_EINVAL;
}

/* A table whose keys are exactly 1..n (n >= 1) is a list. */
static bool is_sequence(lua_State *L, int idx)
{
    size_t n = lua_objlen(L, idx), keys = 0;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        lua_pop(L, 1);
        keys++;
    }
    return n > 0 && keys == n;
}

/* The Lua value at the top of the stack as JSON; path names it in errors. */
static json_t *value_json(lua_State *L, char *path, size_t size, char *err, int depth)
{
    int idx = lua_gettop(L);
    switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN:
        return json_boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: {
        double d = lua_tonumber(L, idx);
        if (d == (double)(json_int_t)d && d > -9e15 && d < 9e15)
            return json_integer((json_int_t)d);
        return json_real(d);
    }
    case LUA_TSTRING:
        return json_string(lua_tostring(L, idx));
    case LUA_TTABLE:
        break;
    default:
        option_error(err, "%s: expected a number, string, boolean or table, got a %s", path,
                     luaL_typename(L, idx));
        return NULL;
    }
    if (depth > 16) {
        option_error(err, "%s: tables nested too deep", path);
        return NULL;
    }
    bool list = is_sequence(L, idx);
    json_t *out = list ? json_array() : json_object();
    size_t len = strlen(path), n = list ? lua_objlen(L, idx) : 0;
    for (size_t i = 1; i <= n; i++) {
        snprintf(path + len, size - len, "[%zu]", i - 1);
        lua_rawgeti(L, idx, (int)i);
        json_t *v = value_json(L, path, size, err, depth + 1);
        lua_pop(L, 1);
        path[len] = '\0';
        if (v == NULL) {
            json_decref(out);
            return NULL;
        }
        json_array_append_new(out, v);
    }
    lua_pushnil(L);
    while (!list && lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) {
            option_error(err, "%s: keys must be strings, got a %s", path, luaL_typename(L, -2));
            lua_pop(L, 2);
            json_decref(out);
            return NULL;
        }
        snprintf(path + len, size - len, ".%s", lua_tostring(L, -2));
        json_t *v = value_json(L, path, size, err, depth + 1);
        path[len] = '\0';
        if (v == NULL) {
            lua_pop(L, 2);
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, lua_tostring(L, -2), v);
        lua_pop(L, 1);
    }
    if (list)
        lua_pop(L, 1); /* the nil pushed for lua_next */
    return out;
}

int sv_lua_options_json(sv_lua_state_t *s, json_t **out, char *err)
{
    lua_State *L = s->L;
    push_global(s, "options");
    char path[256] = "options";
    int rc = 0;
    *out = NULL;
    if (lua_isnil(L, -1))
        *out = json_object();
    else if (!lua_istable(L, -1))
        rc = option_error(err, "options: expected a table, got %s", luaL_typename(L, -1));
    else if ((*out = value_json(L, path, sizeof(path), err, 0)) == NULL)
        rc = SV_EINVAL;
    else if (!json_is_object(*out)) { /* a list at the top */
        json_decref(*out);
        *out = NULL;
        rc = option_error(err, "options: expected a table of options such as { vus = 10 }");
    }
    lua_pop(L, 1);
    return rc;
}

/* ---- setup, teardown, handle_summary ------------------------------------------- */

/* Runs global `name` once in a one-shot VU on the host's loop. On success leaves its
 * result JSON-encoded in *json (when json is not NULL). */
/* A one-shot run that outlived its timeout: abandon it (setupTimeout). */
typedef struct {
    uv_timer_t timer;
    sv_lua_vu_t *vu;
    const char *option;
} once_deadline_t;

static void on_once_deadline(uv_timer_t *t)
{
    once_deadline_t *d = t->data;
    sv_lua_vu_t *vu = d->vu;
    sv_lua_vu_interrupt(vu);
    free(vu->once_error);
    vu->once_error =
        sv_xasprintf("%s() did not finish in time (raise options.%s)", vu->exec, d->option);
    vu->once_done = true;
}

static int run_once(sv_lua_state_t *s, const char *name, const char *data_json, char **json,
                    uint64_t timeout_ns, char *err)
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
    once_deadline_t deadline = {.vu = vu, .option = json ? "setupTimeout" : "teardownTimeout"};
    uv_timer_init(s->host->loop, &deadline.timer);
    deadline.timer.data = &deadline;
    if (timeout_ns)
        uv_timer_start(&deadline.timer, on_once_deadline, (timeout_ns + 999999) / 1000000, 0);
    sv_lua_vu_iterate(vu);
    while (!vu->once_done && uv_run(s->host->loop, UV_RUN_ONCE))
        ;
    bool timed_out = timeout_ns && !uv_is_active((uv_handle_t *)&deadline.timer);
    uv_close((uv_handle_t *)&deadline.timer, NULL);
    int rc = 0;
    if (vu->once_error) {
        snprintf(err, SV_LUA_ERR_SIZE, "%s", vu->once_error);
        rc = timed_out ? SV_ETIMEDOUT : SV_EPARSE;
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
    return run_once(s, "setup", NULL, json, s->host->plan->setup_timeout_ns, err);
}

int sv_lua_run_teardown(sv_lua_state_t *s, const char *json, char *err)
{
    return run_once(s, "teardown", json, NULL, s->host->plan->teardown_timeout_ns, err);
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
