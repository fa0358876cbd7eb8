/*
 * require("salvo.metrics"): Counter, Gauge, Rate and Trend, declared in the init
 * stage and added to by VUs. They join the catalogue like the built-in metrics, so
 * they show in the summary, the export and every output the same way.
 */
#include <ctype.h>

#include "lua_int.h"

#define METRIC_MT "salvo.metric"

typedef struct {
    uint32_t id;
    sv_metric_type_t type;
    const sv_tagset_t *memo_tags; /* the VU tag set the memo series is for */
    sv_series_t *memo;
} metric_t;

static bool valid_name(const char *name)
{
    size_t n = strlen(name);
    if (n == 0 || n > 128 || !(isalpha((unsigned char)name[0]) || name[0] == '_'))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!isalnum((unsigned char)name[i]) && name[i] != '_')
            return false;
    return true;
}

static int declare(lua_State *L, sv_metric_type_t type)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    const char *name = luaL_checkstring(L, 1);
    bool is_time = lua_toboolean(L, 2);
    if (s->current != NULL)
        return luaL_error(L,
                          "metric \"%s\": declare custom metrics in the init stage (at the "
                          "top level of the script)",
                          name);
    if (!valid_name(name))
        return luaL_error(L,
                          "metric \"%s\": names are letters, digits and '_', starting with a "
                          "letter or '_', at most 128 characters",
                          name);
    int id;
    if (s->is_main) {
        id = sv_catalog_add(s->host->catalog, name, type,
                            type == SV_TREND && is_time ? SV_CONTAINS_TIME : SV_CONTAINS_DEFAULT);
        if (id < 0) {
            const sv_metric_def_t *d =
                sv_catalog_get(s->host->catalog, (uint32_t)sv_catalog_find(s->host->catalog, name));
            return luaL_error(L, "metric \"%s\" already exists as a %s", name,
                              sv_metric_type_name(d->type));
        }
    } else {
        id = sv_catalog_find(s->host->catalog, name);
        if (id < 0)
            return luaL_error(L,
                              "metric \"%s\" was not declared when the script was first "
                              "loaded; declare metrics unconditionally at the top level",
                              name);
    }
    metric_t *m = lua_newuserdata(L, sizeof(*m));
    *m = (metric_t){.id = (uint32_t)id, .type = type};
    luaL_getmetatable(L, METRIC_MT);
    lua_setmetatable(L, -2);
    return 1;
}

static int l_counter(lua_State *L)
{
    return declare(L, SV_COUNTER);
}
static int l_gauge(lua_State *L)
{
    return declare(L, SV_GAUGE);
}
static int l_rate(lua_State *L)
{
    return declare(L, SV_RATE);
}
static int l_trend(lua_State *L)
{
    return declare(L, SV_TREND);
}

static int l_add(lua_State *L)
{
    metric_t *m = luaL_checkudata(L, 1, METRIC_MT);
    sv_lua_vu_t *vu = sv_lua_current(L, "adding to a metric");
    sv_registry_t *reg = vu->s->host->reg;
    double v;
    if (lua_isboolean(L, 2))
        v = lua_toboolean(L, 2);
    else if (lua_isnumber(L, 2))
        v = lua_tonumber(L, 2);
    else
        return luaL_error(L, "metric:add(value): expected a number%s, got %s",
                          m->type == SV_RATE ? " or a boolean" : "", luaL_typename(L, 2));
    if (m->type == SV_TREND && v < 0)
        return luaL_error(L, "trend values must not be negative (got %f)", v);
    sv_series_t *series;
    if (lua_istable(L, 3)) {
        series = sv_registry_series(reg, m->id, sv_lua_tags(vu, L, 3));
    } else {
        const sv_tagset_t *t = sv_lua_tags(vu, L, 0);
        if (m->memo_tags != t) {
            m->memo = sv_registry_series(reg, m->id, t);
            m->memo_tags = t;
        }
        series = m->memo;
    }
    sv_series_add(reg, series, v);
    return 0;
}

static int l_name(lua_State *L)
{
    metric_t *m = luaL_checkudata(L, 1, METRIC_MT);
    sv_lua_state_t *s = sv_lua_state_of(L);
    lua_pushstring(L, sv_catalog_get(s->host->catalog, m->id)->name);
    return 1;
}

int sv_lua_open_metrics(lua_State *L)
{
    luaL_newmetatable(L, METRIC_MT);
    lua_newtable(L);
    lua_pushcfunction(L, l_add);
    lua_setfield(L, -2, "add");
    lua_pushcfunction(L, l_name);
    lua_setfield(L, -2, "name");
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {{"Counter", l_counter},
                                   {"Gauge", l_gauge},
                                   {"Rate", l_rate},
                                   {"Trend", l_trend},
                                   {NULL, NULL}};
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    return 1;
}
