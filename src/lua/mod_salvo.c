/*
 * require("salvo"): check, group, sleep, fail, log, env, vu, scenario, test.abort
 * and json. check and group call script functions that may yield, so they are
 * written in Lua (LuaJIT cannot yield across a C call) on top of small C helpers.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "lua_int.h"

extern char **environ;

#define MAX_GROUP_DEPTH 32

static const char salvo_src[] =
    "local C, M = ...\n"
    "local pairs, pcall, type, error, unpack, maxn = pairs, pcall, type, error, unpack, "
    "table.maxn\n"
    "local record, enter, leave, in_vu = C.record_check, C.group_enter, C.group_leave, C.in_vu\n"
    "local where = 'is not allowed in the init stage (call it inside a function such as "
    "default or setup)'\n"
    "function M.check(val, checks, tags)\n"
    "  if not in_vu() then error('check() ' .. where, 2) end\n"
    "  if type(checks) ~= 'table' then error('check(value, checks): checks must be a table', 2) "
    "end\n"
    "  local all = true\n"
    "  for name, fn in pairs(checks) do\n"
    "    local pass = fn\n"
    "    if type(fn) == 'function' then pass = fn(val) end\n"
    "    pass = pass and true or false\n"
    "    record(name, pass, tags)\n"
    "    all = all and pass\n"
    "  end\n"
    "  return all\n"
    "end\n"
    "function M.group(name, fn)\n"
    "  if not in_vu() then error('group() ' .. where, 2) end\n"
    "  if type(name) ~= 'string' then error('group(name, fn): name must be a string', 2) end\n"
    "  if name:find('::', 1, true) then\n"
    "    error('group names cannot contain \\'::\\' (got \"' .. name .. '\")', 2)\n"
    "  end\n"
    "  if type(fn) ~= 'function' then error('group(name, fn): fn must be a function', 2) end\n"
    "  enter(name)\n"
    "  local r = {pcall(fn)}\n"
    "  leave()\n"
    "  if not r[1] then error(r[2], 0) end\n"
    "  return unpack(r, 2, maxn(r))\n"
    "end\n";

/* ---- checks and groups ------------------------------------------------------------ */

static sv_series_t *check_series(sv_lua_vu_t *vu, lua_State *L, const char *name, bool has_tags)
{
    sv_lua_state_t *s = vu->s;
    sv_registry_t *reg = s->host->reg;
    if (!has_tags)
        for (int i = 0; i < s->n_checks; i++)
            if (s->checks[i].group == vu->group_tags && strcmp(s->checks[i].name, name) == 0)
                return s->checks[i].series;
    const sv_tagset_t *t = sv_lua_tags(vu, L, has_tags ? 3 : 0);
    t = sv_registry_tags_with(reg, t, "check", name);
    sv_series_t *series = sv_registry_series(reg, SV_M_CHECKS, t);
    if (!has_tags) {
        int slot = s->n_checks < CHECK_CACHE ? s->n_checks++
                                             : (int)(sv_hash(name, strlen(name)) % CHECK_CACHE);
        if (slot < s->n_checks && s->checks[slot].name && s->n_checks == CHECK_CACHE)
            free(s->checks[slot].name);
        s->checks[slot] = (check_slot_t){sv_xstrdup(name), vu->group_tags, series};
    }
    return series;
}

static int l_record_check(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "check()");
    const char *name = lua_tostring(L, 1);
    if (name == NULL)
        return luaL_error(L, "check names must be strings");
    bool has_tags = lua_istable(L, 3);
    sv_series_add(vu->s->host->reg, check_series(vu, L, name, has_tags), lua_toboolean(L, 2));
    return 0;
}

typedef struct {
    uint64_t start_ns[MAX_GROUP_DEPTH];
    int depth;
} group_clock_t;

static group_clock_t *group_clock(sv_lua_vu_t *vu)
{
    /* Start times live in a small userdata kept in the VU's metatable. */
    lua_State *L = vu->s->L;
    lua_rawgeti(L, LUA_REGISTRYINDEX, vu->ref_meta);
    lua_getfield(L, -1, "__groups");
    group_clock_t *g = lua_touserdata(L, -1);
    if (g == NULL) {
        lua_pop(L, 1);
        g = lua_newuserdata(L, sizeof(*g));
        g->depth = 0;
        lua_setfield(L, -2, "__groups");
    } else {
        lua_pop(L, 1);
    }
    lua_pop(L, 1);
    return g;
}

static int l_group_enter(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "group()");
    const char *name = luaL_checkstring(L, 1);
    if (strstr(name, "::"))
        return luaL_error(L, "group names cannot contain '::' (got \"%s\")", name);
    group_clock_t *g = group_clock(vu);
    if (g->depth == MAX_GROUP_DEPTH)
        return luaL_error(L, "groups nest at most %d deep", MAX_GROUP_DEPTH);
    g->start_ns[g->depth++] = sv_now_ns();
    if (sv_buf_printf(&vu->group_path, "::%s", name) != 0)
        return luaL_error(L, "group names are too long");
    vu->group_tags =
        sv_registry_tags_with(vu->s->host->reg, vu->tags, "group", vu->group_path.data);
    return 0;
}

static int l_in_vu(lua_State *L)
{
    lua_pushboolean(L, sv_lua_state_of(L)->current != NULL);
    return 1;
}

static int l_group_leave(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "group()");
    group_clock_t *g = group_clock(vu);
    sv_registry_t *reg = vu->s->host->reg;
    if (g->depth > 0) {
        uint64_t took = sv_now_ns() - g->start_ns[--g->depth];
        sv_series_add_trend(reg, sv_registry_series(reg, SV_M_GROUP_DURATION, vu->group_tags),
                            (took + 500) / 1000);
    }
    char *path = vu->group_path.data;
    char *cut = path ? strrchr(path, ':') : NULL;
    if (cut && cut > path + 1)
        vu->group_path.len = (size_t)(cut - 1 - path);
    else
        vu->group_path.len = 0;
    if (path)
        path[vu->group_path.len] = '\0';
    vu->group_tags = vu->group_path.len
                         ? sv_registry_tags_with(reg, vu->tags, "group", vu->group_path.data)
                         : vu->tags;
    return 0;
}

const sv_tagset_t *sv_lua_tags(sv_lua_vu_t *vu, lua_State *L, int idx)
{
    sv_registry_t *reg = vu->s->host->reg;
    const sv_tagset_t *t = vu->group_tags;
    if (t == vu->tags && sv_tagset_get(t, "group") == NULL)
        t = sv_registry_tags_with(reg, t, "group", "");
    if (idx == 0 || !lua_istable(L, idx))
        return t;
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1))
            t = sv_registry_tags_with(reg, t, lua_tostring(L, -2), lua_tostring(L, -1));
        lua_pop(L, 1);
    }
    return t;
}

/* ---- the rest ------------------------------------------------------------------- */

/* salvo.now(): wall-clock milliseconds since the epoch, with a fraction (k6's
 * Date.now()), for times compared with other machines' clocks. */
static int l_now(lua_State *L)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    lua_pushnumber(L, (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6);
    return 1;
}

static int l_fail(lua_State *L)
{
    const char *msg = luaL_optstring(L, 1, "fail() called");
    luaL_where(L, 1);
    lua_pushstring(L, msg);
    lua_concat(L, 2);
    return lua_error(L);
}

static void log_prefix(lua_State *L, sv_buf_t *out)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    if (s->current && s->current->id)
        sv_buf_printf(out, "[VU %u iter %llu] ", s->current->id,
                      (unsigned long long)(s->current->iteration ? s->current->iteration - 1 : 0));
    else if (s->current)
        sv_buf_printf(out, "[%s] ", s->current->exec);
    else
        sv_buf_printf(out, "[init] ");
}

/* One write per line, so lines from different workers never interleave. */
int sv_lua_log(lua_State *L)
{
    int n = lua_gettop(L);
    sv_buf_t line;
    sv_buf_init(&line, SIZE_MAX);
    log_prefix(L, &line);
    lua_getglobal(L, "tostring");
    for (int i = 1; i <= n; i++) {
        lua_pushvalue(L, -1);
        lua_pushvalue(L, i);
        lua_call(L, 1, 1);
        size_t len;
        const char *text = lua_tolstring(L, -1, &len);
        if (i > 1)
            sv_buf_append(&line, "\t", 1);
        sv_buf_append(&line, text ? text : "", text ? len : 0);
        lua_pop(L, 1);
    }
    sv_buf_append(&line, "\n", 1);
    fwrite(line.data, 1, line.len, stderr);
    sv_buf_free(&line);
    return 0;
}

static int l_abort(lua_State *L)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    const char *reason = luaL_optstring(L, 1, "test.abort() called");
    if (s->host->abort)
        s->host->abort(s->host->host_arg, reason);
    else if (s->aborted == NULL)
        s->aborted = sv_xstrdup(reason);
    return luaL_error(L, "test aborted: %s", reason);
}

static int l_vu_index(lua_State *L)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    const char *key = luaL_checkstring(L, 2);
    sv_lua_vu_t *vu = s->current;
    if (vu == NULL)
        return luaL_error(L, "salvo.vu.%s is not available in the init stage", key);
    uint64_t iter = vu->iteration ? vu->iteration - 1 : 0;
    if (strcmp(key, "id") == 0 || strcmp(key, "id_in_test") == 0)
        lua_pushinteger(L, vu->id);
    else if (strcmp(key, "iteration") == 0 || strcmp(key, "iteration_in_scenario") == 0)
        lua_pushnumber(L, (double)iter);
    else
        lua_pushnil(L);
    return 1;
}

static int l_scenario_index(lua_State *L)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    const char *key = luaL_checkstring(L, 2);
    if (s->current == NULL)
        return luaL_error(L, "salvo.scenario.%s is not available in the init stage", key);
    if (strcmp(key, "name") == 0)
        lua_pushstring(L, s->current->scenario);
    else if (strcmp(key, "iteration_in_test") == 0)
        lua_pushnumber(L, (double)(s->current->iteration ? s->current->iteration - 1 : 0));
    else
        lua_pushnil(L);
    return 1;
}

static void push_proxy(lua_State *L, lua_CFunction index)
{
    lua_newtable(L);
    lua_newtable(L);
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

/* salvo.env.KEY: the running VU's scenario env first (a scenario's `env`), then the
 * process environment and -e values, kept in the upvalue table. */
static int l_env_index(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_state_of(L)->current;
    const char *key = lua_tostring(L, 2);
    for (size_t i = 0; vu && key && i < vu->n_env; i++)
        if (strcmp(vu->env[i].key, key) == 0) {
            lua_pushstring(L, vu->env[i].value);
            return 1;
        }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

static void push_env(lua_State *L, const sv_plan_t *plan)
{
    lua_newtable(L); /* what salvo.env is: empty, all reads go through __index */
    lua_newtable(L); /* its metatable */
    lua_newtable(L); /* the variables */
    for (char **e = environ; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        if (eq == NULL)
            continue;
        lua_pushlstring(L, *e, (size_t)(eq - *e));
        lua_pushstring(L, eq + 1);
        lua_rawset(L, -3);
    }
    for (size_t i = 0; plan && i < plan->n_env; i++) {
        lua_pushstring(L, plan->env[i].value);
        lua_setfield(L, -2, plan->env[i].key);
    }
    lua_pushcclosure(L, l_env_index, 1);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

int sv_lua_open_salvo(lua_State *L)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    lua_newtable(L); /* M */
    static const luaL_Reg fns[] = {{"sleep", sv_lua_sleep},
                                   {"fail", l_fail},
                                   {"log", sv_lua_log},
                                   {"now", l_now},
                                   {NULL, NULL}};
    luaL_register(L, NULL, fns);
    push_env(L, s->host->plan);
    lua_setfield(L, -2, "env");
    push_proxy(L, l_vu_index);
    lua_setfield(L, -2, "vu");
    push_proxy(L, l_scenario_index);
    lua_setfield(L, -2, "scenario");
    lua_newtable(L);
    lua_pushcfunction(L, l_abort);
    lua_setfield(L, -2, "abort");
    lua_setfield(L, -2, "test");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
    lua_setfield(L, -2, "json");

    lua_newtable(L); /* C helpers for the Lua part */
    lua_pushcfunction(L, l_record_check);
    lua_setfield(L, -2, "record_check");
    lua_pushcfunction(L, l_group_enter);
    lua_setfield(L, -2, "group_enter");
    lua_pushcfunction(L, l_group_leave);
    lua_setfield(L, -2, "group_leave");
    lua_pushcfunction(L, l_in_vu);
    lua_setfield(L, -2, "in_vu");
    if (luaL_loadbuffer(L, salvo_src, strlen(salvo_src), "=salvo") != 0)
        return lua_error(L);
    lua_insert(L, -2);
    lua_pushvalue(L, -3);
    lua_call(L, 2, 0);
    return 1;
}
