/*
 * Internals of the script runtime shared by its modules.
 */
#ifndef SV_LUA_INT_H
#define SV_LUA_INT_H

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#include "../http/cookies.h"
#include "lua.h"

#define CHECK_CACHE 64

typedef struct {
    char *name;
    const sv_tagset_t *group;
    sv_series_t *series;
} check_slot_t;

struct sv_lua_state {
    lua_State *L;
    sv_lua_host_t *host;
    bool is_main;
    char *script_path, *script_dir;
    int ref_proxy, ref_base;         /* the globals every chunk sees; the init-stage globals */
    int ref_init_meta, ref_vu_index; /* the proxy's init metatable; {__index=base} for VUs */
    int ref_setup_data;              /* setup()'s result, decoded once per state */
    int ref_loop_body, ref_once_body;
    int ref_cjson;
    sv_lua_vu_t *current; /* the VU whose code runs now, NULL in the init stage */
    uv_idle_t idle;       /* resumes VUs whose iteration ended without I/O */
    sv_lua_vu_t *ready;
    bool idle_active;
    uint64_t errors_logged, errors_suppressed, last_error_log_ns;
    char *aborted; /* test.abort()'s reason, on a state without an abort host */
    check_slot_t checks[CHECK_CACHE];
    int n_checks;
};

typedef enum { WAIT_NONE, WAIT_HTTP, WAIT_SLEEP, WAIT_READY } vu_wait_t;

struct sv_lua_vu {
    sv_lua_state_t *s;
    lua_State *co;
    int ref_co, ref_meta;
    uint32_t id;
    uint64_t iteration;
    char *exec, *scenario;
    const sv_kv_t *env; /* the scenario's env (salvo.env looks here first) */
    size_t n_env;
    const sv_tagset_t *tags;       /* base: scenario and user tags */
    const sv_tagset_t *group_tags; /* base + the current group */
    sv_buf_t group_path;           /* "::a::b" */
    void *vu_arg;
    vu_wait_t wait;
    bool in_resume, again, first, once, once_done, freeing, interrupting;
    char *once_error;
    sv_http_conn_t **idle_conns; /* kept alive for http.batch */
    sv_http_group_t *http_group; /* its connections: HTTP/2 requests share one */
    size_t n_idle_conns, cap_idle_conns;
    void *batch; /* http.batch in flight (mod_http.c) */
    sv_cookie_jar_t jar;
    uv_timer_t timer;
    sv_lua_vu_t *next_ready;
    void *pending; /* the VU's single-request call (mod_http.c) */
    void *sse;     /* the event stream http.sse is reading (mod_http.c) */
    void *ws;      /* the WebSocket session ws.connect holds (mod_ws.c) */
};

/* Runs code of VU vu (or of the init stage when NULL) with its globals. */
void sv_lua_enter(sv_lua_state_t *s, sv_lua_vu_t *vu);
/* The VU running now, or a Lua error when called outside a VU ("what" names the
 * call for the message). */
sv_lua_vu_t *sv_lua_current(lua_State *L, const char *what);
sv_lua_state_t *sv_lua_state_of(lua_State *L);
/* Prints the count of iteration errors the rate limit held back, if any. */
void sv_lua_flush_error_log(sv_lua_state_t *s);
/* Runs f with the current call's first two arguments and ud (stack 1, 2, 3), catching
 * its Lua errors: 0, or non-zero with the error message on the stack. For a start
 * that allocated before it could fail (its cleanup is the caller's). */
int sv_lua_guarded(lua_State *L, lua_CFunction f, void *ud);
/* Resumes vu's coroutine with nargs values on its stack. */
void sv_lua_resume(sv_lua_vu_t *vu, int nargs);
/* Parses a k6 duration given as a string or a number of milliseconds. */
bool sv_lua_duration(lua_State *L, int idx, uint64_t *ns);

/* Tag sets for samples of the current VU: its group tags plus a Lua table of tags. */
const sv_tagset_t *sv_lua_tags(sv_lua_vu_t *vu, lua_State *L, int tags_idx);

int sv_lua_sleep(lua_State *L);
/* salvo.log and print: one line on stderr, prefixed with the VU and iteration. */
int sv_lua_log(lua_State *L);

/* mod_http.c: params.headers into h (at most max; the strings stay referenced by the
 * table, which stays on the stack), and Content-Type when given and not set. */
size_t sv_lua_read_headers(lua_State *L, int params, sv_http_header_t *h, size_t max,
                           const char *content_type);
/* The Cookie header for a request to url: the VU's jar, then params.cookies. */
void sv_lua_cookie_header(lua_State *L, sv_lua_vu_t *vu, const char *url, int params,
                          sv_buf_t *out);
/* mod_http.c: frees the state's request cache; a VU's call bookkeeping. */
void sv_lua_http_cleanup(lua_State *L);
void sv_lua_vu_http_free(sv_lua_vu_t *vu);
void sv_lua_vu_http_interrupt(sv_lua_vu_t *vu);
/* vu.c: a pool of the VU's idle connections, for http.batch. */
sv_http_conn_t *sv_lua_vu_take_conn(sv_lua_vu_t *vu);
void sv_lua_vu_keep_conn(sv_lua_vu_t *vu, sv_http_conn_t *conn);

int sv_lua_open_salvo(lua_State *L);
int sv_lua_open_http(lua_State *L);
int sv_lua_open_ws(lua_State *L);
/* mod_ws.c: ends the VU's WebSocket session, if any (interrupted or freed). */
void sv_lua_vu_ws_free(sv_lua_vu_t *vu);
int sv_lua_open_metrics(lua_State *L);
int sv_lua_open_data(lua_State *L);
/* mod_crypto.c */
int sv_lua_open_crypto(lua_State *L);
int sv_lua_open_encoding(lua_State *L);
int sv_lua_open_uuid(lua_State *L);
int sv_lua_open_jwt(lua_State *L);

/* lua-cjson, linked statically */
int luaopen_cjson(lua_State *L);

#endif
