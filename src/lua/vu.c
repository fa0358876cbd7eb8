/*
 * VUs as coroutines. An iteration runs until the script yields for I/O (http,
 * sleep) or ends it; the loop resumes the coroutine when the response or timer
 * comes. Iterations that end without I/O run back to back a few at a time, then the
 * rest waits for the next loop pass so timers and signals are never starved.
 */
#include <stdio.h>
#include <stdlib.h>

#include "lua_int.h"

#define BACK_TO_BACK 16
#define ERROR_LOG_INTERVAL_NS 1000000000ULL

static void run(sv_lua_vu_t *vu, int nargs);

/* Errors of iterations, at most one line a second with a count of the others. */
static void log_error(sv_lua_vu_t *vu, const char *msg)
{
    sv_lua_state_t *s = vu->s;
    uint64_t now = sv_now_ns();
    if (s->errors_logged > 0 && now - s->last_error_log_ns < ERROR_LOG_INTERVAL_NS) {
        s->errors_suppressed++;
        return;
    }
    sv_lua_flush_error_log(s);
    fprintf(stderr, "salvo: error in VU %u, iteration %llu: %s\n", vu->id,
            (unsigned long long)(vu->iteration ? vu->iteration - 1 : 0),
            msg ? msg : "(no message)");
    s->errors_logged++;
    s->errors_suppressed = 0;
    s->last_error_log_ns = now;
}

void sv_lua_flush_error_log(sv_lua_state_t *s)
{
    if (s->errors_suppressed)
        fprintf(stderr, "salvo: (%llu more iteration errors in the last second)\n",
                (unsigned long long)s->errors_suppressed);
    s->errors_suppressed = 0;
}

static void new_coroutine(sv_lua_vu_t *vu)
{
    lua_State *L = vu->s->L;
    if (vu->ref_co != LUA_NOREF)
        luaL_unref(L, LUA_REGISTRYINDEX, vu->ref_co);
    vu->co = lua_newthread(L);
    vu->ref_co = luaL_ref(L, LUA_REGISTRYINDEX);
    vu->first = true;
}

/* The first resume of a coroutine starts the body with (exec function, data). */
static int push_start(sv_lua_vu_t *vu)
{
    if (!vu->first)
        return 0;
    sv_lua_state_t *s = vu->s;
    lua_State *co = vu->co;
    vu->first = false;
    lua_rawgeti(co, LUA_REGISTRYINDEX, vu->once ? s->ref_once_body : s->ref_loop_body);
    lua_rawgeti(co, LUA_REGISTRYINDEX, s->ref_base);
    lua_getfield(co, -1, vu->exec);
    lua_remove(co, -2);
    if (vu->once && s->host->setup_json && strcmp(s->host->setup_json, "null") != 0 &&
        strcmp(vu->exec, "teardown") == 0) {
        lua_rawgeti(co, LUA_REGISTRYINDEX, s->ref_cjson);
        lua_getfield(co, -1, "decode");
        lua_remove(co, -2);
        lua_pushstring(co, s->host->setup_json);
        lua_call(co, 1, 1);
    } else if (s->ref_setup_data != LUA_NOREF && s->ref_setup_data != 0) {
        lua_rawgeti(co, LUA_REGISTRYINDEX, s->ref_setup_data);
    } else {
        lua_pushnil(co);
    }
    return 2;
}

sv_lua_vu_t *sv_lua_vu_new(sv_lua_state_t *s, uint32_t id, const char *exec, const char *scenario,
                           const sv_tagset_t *tags, void *vu_arg)
{
    lua_State *L = s->L;
    sv_lua_vu_t *vu = sv_xcalloc(1, sizeof(*vu));
    vu->s = s;
    vu->id = id;
    vu->exec = sv_xstrdup(exec ? exec : "default");
    vu->scenario = sv_xstrdup(scenario ? scenario : "default");
    vu->tags = vu->group_tags = tags;
    vu->vu_arg = vu_arg;
    vu->ref_co = LUA_NOREF;
    sv_buf_init(&vu->group_path, 4096);
    uv_timer_init(s->host->loop, &vu->timer);
    vu->timer.data = vu;
    /* The VU's own globals: {} falling back to base, reached through the proxy. */
    lua_newtable(L); /* meta */
    lua_newtable(L); /* env */
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_vu_index);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, -1);
    lua_setfield(L, -3, "__index");
    lua_setfield(L, -2, "__newindex");
    vu->ref_meta = luaL_ref(L, LUA_REGISTRYINDEX);
    new_coroutine(vu);
    return vu;
}

void sv_lua_vu_set_env(sv_lua_vu_t *vu, const sv_kv_t *env, size_t n)
{
    vu->env = env;
    vu->n_env = n;
}

static void on_timer_closed(uv_handle_t *h)
{
    sv_lua_vu_t *vu = h->data;
    sv_buf_free(&vu->group_path);
    free(vu->once_error);
    free(vu->exec);
    free(vu->scenario);
    free(vu);
}

void sv_lua_vu_free(sv_lua_vu_t *vu)
{
    lua_State *L = vu->s->L;
    vu->freeing = true;
    sv_lua_vu_http_interrupt(vu);
    for (size_t i = 0; i < vu->n_idle_conns; i++)
        sv_http_conn_free(vu->idle_conns[i]);
    free(vu->idle_conns);
    luaL_unref(L, LUA_REGISTRYINDEX, vu->ref_co);
    luaL_unref(L, LUA_REGISTRYINDEX, vu->ref_meta);
    sv_lua_vu_http_free(vu);
    sv_http_group_free(vu->http_group); /* its connections left it as they were freed */
    uv_close((uv_handle_t *)&vu->timer, on_timer_closed);
}

/* ---- deferred iterations ---------------------------------------------------------- */

static void on_idle(uv_idle_t *idle)
{
    sv_lua_state_t *s = idle->data;
    sv_lua_vu_t *list = s->ready;
    s->ready = NULL;
    uv_idle_stop(idle);
    s->idle_active = false;
    while (list) {
        sv_lua_vu_t *vu = list;
        list = vu->next_ready;
        vu->next_ready = NULL;
        vu->wait = WAIT_NONE;
        run(vu, push_start(vu));
    }
}

static void defer(sv_lua_vu_t *vu)
{
    sv_lua_state_t *s = vu->s;
    vu->wait = WAIT_READY;
    vu->next_ready = s->ready;
    s->ready = vu;
    if (!s->idle_active) {
        uv_idle_start(&s->idle, on_idle);
        s->idle_active = true;
    }
}

static void undefer(sv_lua_vu_t *vu)
{
    for (sv_lua_vu_t **p = &vu->s->ready; *p; p = &(*p)->next_ready)
        if (*p == vu) {
            *p = vu->next_ready;
            break;
        }
    vu->next_ready = NULL;
}

/* ---- running ------------------------------------------------------------------- */

/* What an iteration leaves behind is reset: its group, and its cookies (k6 clears
 * the jar after every iteration). */
static void end_iteration(sv_lua_vu_t *vu)
{
    sv_buf_reset(&vu->group_path);
    vu->group_tags = vu->tags;
    sv_cookie_jar_clear(&vu->jar);
}

/* A one-shot VU (setup, teardown) ended: keep its result or its error. */
static void once_finished(sv_lua_vu_t *vu, int rc)
{
    lua_State *co = vu->co;
    if (rc == 0 && lua_toboolean(co, 1)) {
        lua_settop(co, 2);
        lua_remove(co, 1); /* leave the result for the caller */
    } else {
        const char *msg = rc == 0 ? lua_tostring(co, 2) : lua_tostring(co, -1);
        vu->once_error = sv_xasprintf("%s(): %s", vu->exec, msg ? msg : "error");
    }
    vu->once_done = true;
}

/* Resumes the coroutine; loops while iterations end without I/O and the host starts
 * the next one, at most BACK_TO_BACK times. */
static void run(sv_lua_vu_t *vu, int nargs)
{
    sv_lua_state_t *s = vu->s;
    vu->in_resume = true;
    for (int round = 0;; round++) {
        s->current = vu;
        sv_lua_enter(s, vu);
        vu->wait = WAIT_NONE;
        int rc = lua_resume(vu->co, nargs);
        s->current = NULL;
        sv_lua_enter(s, NULL);
        if (rc == LUA_YIELD && vu->wait != WAIT_NONE)
            break; /* waiting for I/O */
        if (vu->once) {
            once_finished(vu, rc);
            break;
        }
        bool failed;
        if (rc == LUA_YIELD) {
            failed = !lua_toboolean(vu->co, 1);
            if (failed)
                log_error(vu, lua_tostring(vu->co, 2));
            lua_settop(vu->co, 0);
        } else {
            failed = true; /* the body itself died: start a fresh coroutine next time */
            log_error(vu, lua_tostring(vu->co, -1));
            new_coroutine(vu);
        }
        vu->again = false;
        end_iteration(vu);
        s->host->iteration_done(vu->vu_arg, false, failed, 0);
        if (!vu->again || vu->freeing)
            break;
        if (round + 1 >= BACK_TO_BACK) {
            defer(vu);
            break;
        }
        nargs = push_start(vu);
    }
    vu->in_resume = false;
}

void sv_lua_resume(sv_lua_vu_t *vu, int nargs)
{
    run(vu, nargs);
}

void sv_lua_vu_iterate(sv_lua_vu_t *vu)
{
    vu->iteration++;
    if (vu->in_resume) {
        vu->again = true; /* run() goes on with it once the current resume unwinds */
        return;
    }
    if (vu->once) {
        run(vu, push_start(vu));
        return;
    }
    /* The driver contract: an iteration never ends inside iterate. One that does no
     * I/O would, so every start goes through the loop (a pass, not a syscall). */
    defer(vu);
}

void sv_lua_vu_interrupt(sv_lua_vu_t *vu)
{
    switch (vu->wait) {
    case WAIT_HTTP:
        vu->wait = WAIT_NONE;
        vu->interrupting = true;
        sv_lua_vu_http_interrupt(vu); /* callbacks see interrupting and resume nothing */
        vu->interrupting = false;
        break;
    case WAIT_SLEEP:
        uv_timer_stop(&vu->timer);
        break;
    case WAIT_READY:
        undefer(vu);
        break;
    case WAIT_NONE:
        return;
    }
    vu->wait = WAIT_NONE;
    new_coroutine(vu); /* the suspended iteration is abandoned */
    end_iteration(vu);
    vu->s->host->iteration_done(vu->vu_arg, true, false, 0);
}

/* ---- sleep --------------------------------------------------------------------- */

static void on_wake(uv_timer_t *t)
{
    sv_lua_vu_t *vu = t->data;
    run(vu, 0);
}

int sv_lua_sleep(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "sleep()");
    double seconds = luaL_checknumber(L, 1);
    if (seconds < 0 || seconds > 86400 * 365)
        return luaL_error(L, "sleep(%f): expected seconds from 0", seconds);
    vu->wait = WAIT_SLEEP;
    uv_timer_start(&vu->timer, on_wake, (uint64_t)(seconds * 1000 + 0.5), 0);
    return lua_yield(L, 0);
}

sv_http_conn_t *sv_lua_vu_take_conn(sv_lua_vu_t *vu)
{
    return vu->n_idle_conns ? vu->idle_conns[--vu->n_idle_conns] : NULL;
}

void sv_lua_vu_keep_conn(sv_lua_vu_t *vu, sv_http_conn_t *conn)
{
    if (conn == NULL)
        return;
    if (vu->n_idle_conns == vu->cap_idle_conns) {
        vu->cap_idle_conns = vu->cap_idle_conns ? vu->cap_idle_conns * 2 : 4;
        vu->idle_conns = sv_xrealloc(vu->idle_conns, vu->cap_idle_conns * sizeof(*vu->idle_conns));
    }
    vu->idle_conns[vu->n_idle_conns++] = conn;
}
