/*
 * require("salvo.http"): requests from scripts. A call builds (or takes from a
 * per-state cache) the request's bytes, sends it on the VU's connection and yields;
 * the response resumes the VU as a userdata whose fields are read lazily: headers
 * are parsed into a table only when the script reads them.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "../http/cookies.h"
#include "../http/h1.h"
#include "../http/sse.h"
#include "inbox.h"
#include "lua_int.h"

#define RESPONSE_MT "salvo.response"
#define CACHE_SLOTS 256
#define MAX_EXPECTED 16

enum { RT_TEXT, RT_BINARY, RT_NONE };

/* Requests without headers or body, built once per (method, URL) and state. */
typedef struct cached_req {
    char *url;
    sv_http_request_t req;
    const sv_tagset_t *tags_for; /* memo: the VU tag set it was last tagged for */
    const sv_tagset_t *tags;
    struct cached_req *next;
} cached_req_t;

typedef struct {
    cached_req_t *slots[CACHE_SLOTS];
    int count;
} req_cache_t;

/* What a call asked for, kept until its response arrives. */
typedef struct {
    struct {
        int min, max;
    } expected[MAX_EXPECTED];
    int n_expected;
    int response_type;
    int redirects_left;
    uint64_t timeout_ns;
    uint8_t http_version; /* sv_http_version_t */
} call_opts_t;

typedef struct {
    int status, error_code, minor;
    bool http2;
    const char *error;
    const char *tls_version, *tls_cipher; /* static, "" without TLS */
    double blocked, connecting, tls_handshaking, sending, waiting, receiving, duration;
    size_t head_len;
    char head[];
} response_t;

static req_cache_t *cache_of(lua_State *L)
{
    static const char key = 0;
    lua_pushlightuserdata(L, (void *)&key);
    lua_rawget(L, LUA_REGISTRYINDEX);
    req_cache_t *c = lua_touserdata(L, -1);
    lua_pop(L, 1);
    if (c == NULL) {
        lua_pushlightuserdata(L, (void *)&key);
        c = lua_newuserdata(L, sizeof(*c));
        memset(c, 0, sizeof(*c));
        lua_rawset(L, LUA_REGISTRYINDEX); /* freed with the state, see cache_free */
    }
    return c;
}

/* ---- building requests ------------------------------------------------------------ */

static bool is_unreserved(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

static void url_encode(sv_buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (is_unreserved(c))
            sv_buf_append(b, &c, 1);
        else
            sv_buf_printf(b, "%%%02X", c);
    }
}

/* form = {k = v}: application/x-www-form-urlencoded */
static void encode_form(lua_State *L, int idx, sv_buf_t *b)
{
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        size_t kl, vl;
        const char *k = lua_tolstring(L, -2, &kl);
        const char *v = lua_tolstring(L, -1, &vl);
        if (k && v) {
            if (b->len)
                sv_buf_append(b, "&", 1);
            url_encode(b, k, kl);
            sv_buf_append(b, "=", 1);
            url_encode(b, v, vl);
        }
        lua_pop(L, 1);
    }
}

static void read_expected(lua_State *L, int idx, call_opts_t *o)
{
    o->n_expected = 0;
    for (int i = 1; o->n_expected < MAX_EXPECTED; i++) {
        lua_rawgeti(L, idx, i);
        if (lua_isnil(L, -1)) {
            lua_pop(L, 1);
            break;
        }
        if (lua_isnumber(L, -1)) {
            int v = (int)lua_tointeger(L, -1);
            o->expected[o->n_expected].min = o->expected[o->n_expected].max = v;
            o->n_expected++;
        } else if (lua_istable(L, -1)) {
            lua_getfield(L, -1, "min");
            lua_getfield(L, -2, "max");
            o->expected[o->n_expected].min = (int)luaL_optinteger(L, -2, 0);
            o->expected[o->n_expected].max = (int)luaL_optinteger(L, -1, 999);
            o->n_expected++;
            lua_pop(L, 2);
        } else {
            luaL_error(L, "expected_statuses: expected numbers or {min=, max=} ranges");
        }
        lua_pop(L, 1);
    }
}

static void read_opts(lua_State *L, const sv_plan_t *plan, int params, call_opts_t *o)
{
    *o = (call_opts_t){
        .redirects_left = plan->max_redirects,
        .response_type = plan->discard_response_bodies ? RT_NONE : RT_TEXT,
        .http_version = plan->http_version,
    };
    if (params == 0)
        return;
    lua_getfield(L, params, "http_version");
    const char *hv = lua_tostring(L, -1);
    if (hv && (strcmp(hv, "HTTP/2") == 0 || strcmp(hv, "HTTP/2.0") == 0))
        o->http_version = SV_HTTP_2;
    else if (hv && strcmp(hv, "HTTP/1.1") == 0)
        o->http_version = SV_HTTP_1_1;
    else if (hv)
        luaL_error(L, "http_version: expected \"HTTP/1.1\" or \"HTTP/2\", got \"%s\"", hv);
    lua_pop(L, 1);
    lua_getfield(L, params, "timeout");
    if (!lua_isnil(L, -1) && !sv_lua_duration(L, -1, &o->timeout_ns))
        luaL_error(L, "timeout: expected a duration such as \"10s\" or milliseconds");
    lua_pop(L, 1);
    lua_getfield(L, params, "expected_statuses");
    if (lua_istable(L, -1))
        read_expected(L, lua_gettop(L), o);
    lua_pop(L, 1);
    lua_getfield(L, params, "response_type");
    const char *rt = lua_tostring(L, -1);
    if (rt && strcmp(rt, "binary") == 0)
        o->response_type = RT_BINARY;
    else if (rt && strcmp(rt, "none") == 0)
        o->response_type = RT_NONE;
    else if (rt && strcmp(rt, "text") == 0)
        o->response_type = RT_TEXT; /* even under discardResponseBodies */
    else if (rt)
        luaL_error(L, "response_type: expected \"text\", \"binary\" or \"none\", got \"%s\"", rt);
    lua_pop(L, 1);
    lua_getfield(L, params, "auth");
    const char *auth = lua_tostring(L, -1);
    if (auth && strcmp(auth, "basic") != 0)
        luaL_error(L, "auth: only \"basic\" is supported (credentials go in the URL: "
                      "http://user:password@host/)");
    lua_pop(L, 1);
    lua_getfield(L, params, "redirects");
    if (lua_isnumber(L, -1))
        o->redirects_left = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
}

size_t sv_lua_read_headers(lua_State *L, int params, sv_http_header_t *h, size_t max,
                           const char *content_type)
{
    size_t n = 0;
    if (params) {
        lua_getfield(L, params, "headers");
        int t = lua_gettop(L);
        if (lua_istable(L, t)) {
            lua_pushnil(L);
            while (lua_next(L, t)) {
                if (n < max && lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1))
                    h[n++] = (sv_http_header_t){lua_tostring(L, -2), lua_tostring(L, -1)};
                lua_pop(L, 1);
            }
        }
        /* the table stays on the stack so its strings stay alive */
    }
    if (content_type && n < max && !sv_http_has_header(h, n, "Content-Type"))
        h[n++] = (sv_http_header_t){"Content-Type", content_type};

    return n;
}

/* Appends one multipart part; value is at the top of the stack (a string or an
 * http.file table). */
static void multipart_part(lua_State *L, sv_buf_t *b, const char *boundary, const char *field)
{
    sv_buf_printf(b, "--%s\r\nContent-Disposition: form-data; name=\"%s\"", boundary, field);
    if (lua_istable(L, -1)) {
        lua_getfield(L, -1, "filename");
        lua_getfield(L, -2, "content_type");
        sv_buf_printf(b, "; filename=\"%s\"\r\nContent-Type: %s\r\n\r\n",
                      lua_tostring(L, -2) ? lua_tostring(L, -2) : field,
                      lua_tostring(L, -1) ? lua_tostring(L, -1) : "application/octet-stream");
        lua_pop(L, 2);
        lua_getfield(L, -1, "data");
    } else {
        sv_buf_printf(b, "\r\n\r\n");
        lua_pushvalue(L, -1);
    }
    size_t n;
    const char *data = lua_tolstring(L, -1, &n);
    sv_buf_append(b, data ? data : "", data ? n : 0);
    sv_buf_append(b, "\r\n", 2);
    lua_pop(L, 1);
}

static const char *encode_multipart(lua_State *L, int idx, sv_buf_t *b, char *ctype, size_t size)
{
    char boundary[40];
    snprintf(boundary, sizeof(boundary), "salvo-%016llx",
             (unsigned long long)(sv_now_ns() ^ (uintptr_t)b));
    lua_pushnil(L);
    while (lua_next(L, idx)) {
        if (lua_type(L, -2) == LUA_TSTRING)
            multipart_part(L, b, boundary, lua_tostring(L, -2));
        lua_pop(L, 1);
    }
    sv_buf_printf(b, "--%s--\r\n", boundary);
    snprintf(ctype, size, "multipart/form-data; boundary=%s", boundary);
    return ctype;
}

/* The body: an explicit string (or a table, form-encoded as k6 does), or params.json,
 * params.form or params.multipart. Fills b and returns the content type it implies
 * (NULL for none); *has_body tells an empty body from none. */
static const char *build_body(lua_State *L, int body_idx, int params, sv_buf_t *b, bool *has_body,
                              char *ctype, size_t ctype_size)
{
    *has_body = true;
    if (body_idx && lua_isstring(L, body_idx)) { /* numbers too, as text */
        size_t n;
        const char *p = lua_tolstring(L, body_idx, &n);
        sv_buf_append(b, p, n);
        return NULL;
    }
    if (body_idx && lua_istable(L, body_idx)) {
        encode_form(L, body_idx, b);
        return "application/x-www-form-urlencoded";
    }
    const char *type = NULL;
    if (params) {
        lua_getfield(L, params, "json");
        lua_getfield(L, params, "form");
        lua_getfield(L, params, "multipart");
        int json = lua_gettop(L) - 2, form = json + 1, multipart = json + 2;
        if (!lua_isnil(L, json)) {
            sv_lua_state_t *s = sv_lua_state_of(L);
            lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
            lua_getfield(L, -1, "encode");
            lua_pushvalue(L, json);
            lua_call(L, 1, 1);
            size_t n;
            const char *p = lua_tolstring(L, -1, &n);
            sv_buf_append(b, p, n);
            lua_pop(L, 2);
            type = "application/json";
        } else if (lua_istable(L, form)) {
            encode_form(L, form, b);
            type = "application/x-www-form-urlencoded";
        } else if (lua_istable(L, multipart)) {
            type = encode_multipart(L, multipart, b, ctype, ctype_size);
        }
        lua_pop(L, 3);
    }
    *has_body = type != NULL;
    return type;
}

/* The userAgent option's header, unless the call sets its own (h has room for one). */
static size_t add_user_agent(const sv_plan_t *plan, sv_http_header_t *h, size_t n)
{
    if (plan->user_agent && !sv_http_has_header(h, n, "User-Agent"))
        h[n++] = (sv_http_header_t){"User-Agent", plan->user_agent};
    return n;
}

static cached_req_t *cached(lua_State *L, const sv_plan_t *plan, const char *method,
                            const char *url)
{
    req_cache_t *c = cache_of(L);
    size_t url_len = strlen(url);
    size_t slot = (sv_hash(url, url_len) ^ (unsigned char)method[0]) % CACHE_SLOTS;
    for (cached_req_t *e = c->slots[slot]; e; e = e->next)
        if (strcmp(e->url, url) == 0 && strcmp(e->req.method, method) == 0)
            return e;
    if (c->count >= CACHE_SLOTS * 4)
        return NULL; /* a script with endless distinct URLs: build each one */
    cached_req_t *e = sv_xcalloc(1, sizeof(*e));
    const char *why;
    sv_http_header_t ua[1];
    size_t n = add_user_agent(plan, ua, 0);
    if (sv_http_request_init(&e->req, method, url, ua, n, NULL, 0, &why) != 0) {
        free(e);
        luaL_error(L, "invalid request to \"%s\": %s", url, why);
    }
    e->url = sv_xstrndup(url, url_len);
    e->next = c->slots[slot];
    c->slots[slot] = e;
    c->count++;
    return e;
}

/* ---- responses ------------------------------------------------------------------ */

static double ms(uint64_t ns)
{
    return (double)ns / 1e6;
}

static bool expected_status(const call_opts_t *o, int status)
{
    if (o->n_expected == 0)
        return status >= 200 && status < 400;
    for (int i = 0; i < o->n_expected; i++)
        if (status >= o->expected[i].min && status <= o->expected[i].max)
            return true;
    return false;
}

static void push_response(lua_State *L, const sv_http_result_t *res, const char *method,
                          const char *url, int response_type)
{
    response_t *r = lua_newuserdata(L, sizeof(*r) + res->head.len);
    r->status = res->status;
    r->error_code =
        res->error_code ? res->error_code : (res->status >= 400 ? 1000 + res->status : 0);
    r->error = res->error_code ? res->error : (res->status >= 400 ? "HTTP error status" : NULL);
    r->minor = res->minor_version;
    r->http2 = res->http2;
    r->blocked = ms(res->blocked_ns);
    r->connecting = ms(res->connecting_ns);
    r->tls_handshaking = ms(res->tls_handshaking_ns);
    r->tls_version = res->tls_version ? res->tls_version : "";
    r->tls_cipher = res->tls_cipher ? res->tls_cipher : "";
    r->sending = ms(res->sending_ns);
    r->waiting = ms(res->waiting_ns);
    r->receiving = ms(res->receiving_ns);
    r->duration = ms(res->sending_ns + res->waiting_ns + res->receiving_ns);
    r->head_len = res->head.len;
    if (res->head.len)
        memcpy(r->head, res->head.data, res->head.len);
    luaL_getmetatable(L, RESPONSE_MT);
    lua_setmetatable(L, -2);
    lua_createtable(L, 0, 4); /* cached fields */
    if (response_type == RT_NONE || res->body.len == 0)
        lua_pushliteral(L, "");
    else
        lua_pushlstring(L, res->body.data, res->body.len);
    lua_setfield(L, -2, "body");
    lua_pushstring(L, url);
    lua_setfield(L, -2, "url");
    lua_pushstring(L, method);
    lua_setfield(L, -2, "__method");
    lua_setfenv(L, -2);
}

/* r.request: what was sent last (after redirects), as k6 gives it. */
static void push_request(lua_State *L, int fenv)
{
    lua_createtable(L, 0, 2);
    lua_getfield(L, fenv, "__method");
    lua_setfield(L, -2, "method");
    lua_getfield(L, fenv, "url");
    lua_setfield(L, -2, "url");
}

/* "content-type" -> "Content-Type": the form k6 gives header names. */
static void canonical(char *name)
{
    bool up = true;
    for (char *c = name; *c; c++) {
        *c = up ? (char)toupper((unsigned char)*c) : (char)tolower((unsigned char)*c);
        up = *c == '-';
    }
}

static int headers_index(lua_State *L)
{
    /* case-insensitive reads: r.headers["content-type"] */
    if (lua_type(L, 2) != LUA_TSTRING)
        return 0;
    char *name = sv_xstrdup(lua_tostring(L, 2));
    canonical(name);
    lua_pushstring(L, name);
    free(name);
    lua_rawget(L, 1);
    return 1;
}

static void push_headers(lua_State *L, const response_t *r)
{
    lua_newtable(L);
    sv_h1_response_t parsed;
    if (r->head_len && sv_h1_parse_response(r->head, r->head_len, &parsed) > 0) {
        for (size_t i = 0; i < parsed.num_headers; i++) {
            char *name = sv_xstrndup(parsed.headers[i].name.ptr, parsed.headers[i].name.len);
            canonical(name);
            lua_getfield(L, -1, name);
            if (lua_isstring(L, -1)) { /* repeated header: join with ", " as Go does */
                lua_pushliteral(L, ", ");
                lua_pushlstring(L, parsed.headers[i].value.ptr, parsed.headers[i].value.len);
                lua_concat(L, 3);
            } else {
                lua_pop(L, 1);
                lua_pushlstring(L, parsed.headers[i].value.ptr, parsed.headers[i].value.len);
            }
            lua_setfield(L, -2, name);
            free(name);
        }
    }
    lua_newtable(L);
    lua_pushcfunction(L, headers_index);
    lua_setfield(L, -2, "__index");
    lua_setmetatable(L, -2);
}

static void push_timings(lua_State *L, const response_t *r)
{
    lua_createtable(L, 0, 7);
    const struct {
        const char *k;
        double v;
    } t[] = {{"blocked", r->blocked},
             {"connecting", r->connecting},
             {"tls_handshaking", r->tls_handshaking},
             {"sending", r->sending},
             {"waiting", r->waiting},
             {"receiving", r->receiving},
             {"duration", r->duration}};
    for (size_t i = 0; i < SV_ARRAY_SIZE(t); i++) {
        lua_pushnumber(L, t[i].v);
        lua_setfield(L, -2, t[i].k);
    }
}

/* r:json(path): the body decoded; path "a.b.1.c" walks into it (1-based indexes). */
static int response_json(lua_State *L)
{
    luaL_checkudata(L, 1, RESPONSE_MT);
    const char *path = luaL_optstring(L, 2, NULL);
    sv_lua_state_t *s = sv_lua_state_of(L);
    lua_getfenv(L, 1);
    lua_getfield(L, -1, "body");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
    lua_getfield(L, -1, "decode");
    lua_pushvalue(L, -3);
    if (lua_pcall(L, 1, 1, 0) != 0)
        return luaL_error(L, "r:json(): the body is not JSON: %s", lua_tostring(L, -1));
    while (path && *path) {
        if (!lua_istable(L, -1)) {
            lua_pushnil(L); /* the path goes on past a value: nothing there */
            return 1;
        }
        size_t n = strcspn(path, ".");
        char *seg = sv_xstrndup(path, n);
        char *end;
        long idx = strtol(seg, &end, 10);
        if (*end == '\0' && n > 0)
            lua_rawgeti(L, -1, (int)idx);
        else
            lua_getfield(L, -1, seg);
        free(seg);
        lua_remove(L, -2);
        path += n + (path[n] == '.');
    }
    return 1;
}

static int response_index(lua_State *L)
{
    response_t *r = luaL_checkudata(L, 1, RESPONSE_MT);
    const char *k = luaL_checkstring(L, 2);
    if (strcmp(k, "status") == 0) {
        lua_pushinteger(L, r->status);
    } else if (strcmp(k, "error_code") == 0) {
        lua_pushinteger(L, r->error_code);
    } else if (strcmp(k, "error") == 0) {
        lua_pushstring(L, r->error ? r->error : "");
    } else if (strcmp(k, "proto") == 0) {
        lua_pushstring(L, !r->status ? ""
                          : r->http2 ? "HTTP/2.0"
                          : r->minor ? "HTTP/1.1"
                                     : "HTTP/1.0");
    } else if (strcmp(k, "tls_version") == 0) {
        lua_pushstring(L, r->tls_version);
    } else if (strcmp(k, "tls_cipher_suite") == 0) {
        lua_pushstring(L, r->tls_cipher);
    } else if (strcmp(k, "json") == 0) {
        lua_pushcfunction(L, response_json);
    } else {
        lua_getfenv(L, 1);
        lua_getfield(L, -1, k);
        if (!lua_isnil(L, -1))
            return 1;
        lua_pop(L, 1);
        if (strcmp(k, "headers") == 0)
            push_headers(L, r);
        else if (strcmp(k, "timings") == 0)
            push_timings(L, r);
        else if (strcmp(k, "request") == 0)
            push_request(L, lua_gettop(L));
        else
            return 0;
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, k); /* cache it */
    }
    return 1;
}

/* ---- sending -------------------------------------------------------------------- */

typedef struct batch batch_t;

/* One request of a VU: what it asked for and what it sends. */
typedef struct {
    sv_lua_vu_t *vu;
    call_opts_t opts;
    char *url;
    sv_http_request_t req; /* built for this call (owned) unless `use` is cached */
    bool owned;
    const sv_http_request_t *use;
    sv_http_send_opts_t send;
    const sv_tagset_t *tags;
    sv_http_conn_t *conn;
    batch_t *batch; /* NULL for a single request */
    int slot;       /* its place in the batch's results */
} call_t;

struct batch {
    call_t *calls;
    int n, remaining;
    int ref_results;
};

static void on_response(sv_http_result_t *res, void *arg);
static const sv_tagset_t *request_tags(sv_lua_vu_t *vu, lua_State *L, int params,
                                       const sv_http_request_t *req, const char *url);

static void call_reset(call_t *c)
{
    if (c->owned)
        sv_http_request_free(&c->req);
    free(c->url);
    c->owned = false;
    c->url = NULL;
    c->use = NULL;
}

static int64_t unix_now(void)
{
    return (int64_t)time(NULL);
}

/* Cookie header for a request: the VU's jar, then params.cookies. */
void sv_lua_cookie_header(lua_State *L, sv_lua_vu_t *vu, const char *url, int params, sv_buf_t *out)
{
    if (vu->jar.n) {
        sv_url_t u;
        const char *why;
        if (sv_url_parse(&u, url, &why) == 0) {
            sv_cookie_jar_header(&vu->jar, &u, unix_now(), out);
            sv_url_free(&u);
        }
    }
    if (params == 0)
        return;
    lua_getfield(L, params, "cookies");
    int t = lua_gettop(L);
    if (lua_istable(L, t)) {
        lua_pushnil(L);
        while (lua_next(L, t)) {
            int key = t + 1;
            if (lua_istable(L, -1))
                lua_getfield(L, -1, "value"); /* {value = "…"} as k6 allows */
            const char *v = lua_tostring(L, -1);
            if (lua_type(L, key) == LUA_TSTRING && v)
                sv_buf_printf(out, "%s%s=%s", out->len ? "; " : "", lua_tostring(L, key), v);
            lua_settop(L, key); /* keep the key for lua_next */
        }
    }
    lua_pop(L, 1);
}

/* Prepares call c from the Lua arguments; raises a Lua error for bad input. */
static void prepare(lua_State *L, sv_lua_vu_t *vu, call_t *c, const char *method, int url_idx,
                    int body_idx, int params)
{
    const char *url = luaL_checkstring(L, url_idx);
    if (params && lua_isnil(L, params))
        params = 0;
    if (params && !lua_istable(L, params))
        luaL_error(L, "params: expected a table, got %s", luaL_typename(L, params));
    if (body_idx && lua_isnil(L, body_idx))
        body_idx = 0;
    call_reset(c);
    c->vu = vu;
    const sv_plan_t *plan = vu->s->host->plan;
    read_opts(L, plan, params, &c->opts);
    c->url = sv_xstrdup(url);

    sv_buf_t body, cookies;
    sv_buf_init(&body, SIZE_MAX);
    sv_buf_init(&cookies, 65536);
    char ctype_buf[96];
    bool has_body;
    const char *ctype =
        build_body(L, body_idx, params, &body, &has_body, ctype_buf, sizeof(ctype_buf));
    int top = lua_gettop(L);
    sv_http_header_t headers[64];
    size_t n = sv_lua_read_headers(L, params, headers, SV_ARRAY_SIZE(headers) - 2,
                                   ctype); /* + Cookie, User-Agent */
    sv_lua_cookie_header(L, vu, url, params, &cookies);
    if (cookies.len)
        headers[n++] = (sv_http_header_t){"Cookie", cookies.data};

    cached_req_t *e = n == 0 && !has_body ? cached(L, plan, method, url) : NULL;
    const char *why = NULL;
    if (e) {
        c->use = &e->req; /* built with the userAgent option already */
    } else {
        n = add_user_agent(plan, headers, n);
        if (sv_http_request_init(&c->req, method, url, headers, n, body.data, body.len, &why) ==
            0) {
            c->owned = true;
            c->use = &c->req;
        }
    }
    sv_buf_free(&body);
    sv_buf_free(&cookies);
    lua_settop(L, top);
    if (c->use == NULL)
        luaL_error(L, "invalid request to \"%s\": %s", url, why);
    c->send = (sv_http_send_opts_t){
        .timeout_ns = c->opts.timeout_ns ? c->opts.timeout_ns : plan->timeout_ns,
        .keep_head = true, /* headers, cookies and redirects read it */
        .keep_body = c->opts.response_type != RT_NONE,
        .close_after = plan->no_connection_reuse,
        .version = c->opts.http_version,
    };
    bool custom_tags = false;
    if (params) {
        lua_getfield(L, params, "tags");
        custom_tags = !lua_isnil(L, -1);
        lua_pop(L, 1);
    }
    if (e && !custom_tags) { /* the common call: tag set memoized per VU group */
        if (e->tags_for != vu->group_tags) {
            e->tags = request_tags(vu, L, 0, c->use, url);
            e->tags_for = vu->group_tags;
        }
        c->tags = e->tags;
    } else {
        c->tags = request_tags(vu, L, params, c->use, url);
    }
}

/* The VU's connections' group (they share HTTP/2 connections). */
static sv_http_group_t *vu_group(sv_lua_vu_t *vu)
{
    if (vu->http_group == NULL)
        vu->http_group = sv_http_group_new();
    return vu->http_group;
}

static void send_call(call_t *c)
{
    sv_lua_vu_t *vu = c->vu;
    if (c->conn == NULL)
        c->conn = sv_http_conn_new_in(vu->s->host->http, vu_group(vu));
    vu->wait = WAIT_HTTP;
    sv_http_conn_send(c->conn, c->use, &c->send, on_response, c);
}

static const sv_tagset_t *request_tags(sv_lua_vu_t *vu, lua_State *L, int params,
                                       const sv_http_request_t *req, const char *url)
{
    sv_registry_t *reg = vu->s->host->reg;
    const sv_tagset_t *t = sv_lua_tags(vu, L, 0);
    t = sv_registry_tags_with(reg, t, "method", req->method);
    t = sv_registry_tags_with(reg, t, "url", url);
    const char *name = url;
    if (params) {
        lua_getfield(L, params, "tags");
        int idx = lua_gettop(L);
        if (lua_istable(L, idx)) {
            lua_pushnil(L);
            while (lua_next(L, idx)) {
                if (lua_type(L, -2) == LUA_TSTRING && lua_isstring(L, -1))
                    t = sv_registry_tags_with(reg, t, lua_tostring(L, -2), lua_tostring(L, -1));
                lua_pop(L, 1);
            }
            lua_getfield(L, idx, "name");
            if (lua_isstring(L, -1))
                name = NULL;
            lua_pop(L, 1);
        }
        lua_pop(L, 1);
    }
    return name ? sv_registry_tags_with(reg, t, "name", name) : t;
}

/* The redirect target for Location relative to the current URL. */
static char *resolve_location(const sv_url_t *base, sv_span_t loc)
{
    if (loc.len >= 7 && (strncasecmp(loc.ptr, "http://", 7) == 0 ||
                         (loc.len >= 8 && strncasecmp(loc.ptr, "https://", 8) == 0)))
        return sv_xstrndup(loc.ptr, loc.len);
    if (loc.len >= 2 && loc.ptr[0] == '/' && loc.ptr[1] == '/')
        return sv_xasprintf("%s:%.*s", base->scheme, (int)loc.len, loc.ptr);
    if (loc.len && loc.ptr[0] == '/')
        return sv_xasprintf("%s://%s%.*s", base->scheme, base->authority, (int)loc.len, loc.ptr);
    const char *slash = strrchr(base->target, '/');
    int dir = slash ? (int)(slash - base->target + 1) : 0;
    return sv_xasprintf("%s://%s%.*s%.*s", base->scheme, base->authority, dir, base->target,
                        (int)loc.len, loc.ptr);
}

/* Follows a redirect if the response is one and the budget allows (new cookies go
 * along: the jar was updated first). */
static bool follow_redirect(call_t *c, const sv_h1_response_t *head)
{
    int st = head->status;
    if (!(st == 301 || st == 302 || st == 303 || st == 307 || st == 308) ||
        c->opts.redirects_left <= 0)
        return false;
    sv_span_t loc = sv_h1_find_header(head->headers, head->num_headers, "location");
    if (loc.len == 0)
        return false;
    char *target = resolve_location(&c->use->url, loc);
    bool keep_method = st == 307 || st == 308;
    const char *method = keep_method ? c->use->method : "GET";
    sv_buf_t cookies;
    sv_buf_init(&cookies, 65536);
    sv_url_t u;
    const char *why;
    if (c->vu->jar.n && sv_url_parse(&u, target, &why) == 0) {
        sv_cookie_jar_header(&c->vu->jar, &u, unix_now(), &cookies);
        sv_url_free(&u);
    }
    /* 307 and 308 resend the same request: its headers (but Host, Content-Length and
     * Cookie, which are made anew) and its body. */
    sv_http_header_t h[SV_H1_MAX_HEADERS + 1];
    size_t n = 0;
    sv_span_t body = {NULL, 0};
    sv_h1_request_t orig;
    int hl = keep_method ? sv_h1_parse_request(c->use->wire.data, c->use->wire.len, &orig) : -1;
    for (size_t i = 0; hl > 0 && i < orig.num_headers; i++) {
        sv_span_t name = orig.headers[i].name;
        if (sv_span_ieq(name, "host") || sv_span_ieq(name, "content-length") ||
            sv_span_ieq(name, "cookie"))
            continue;
        h[n++] =
            (sv_http_header_t){sv_xstrndup(name.ptr, name.len),
                               sv_xstrndup(orig.headers[i].value.ptr, orig.headers[i].value.len)};
    }
    if (hl > 0)
        body = (sv_span_t){c->use->wire.data + hl, c->use->wire.len - (size_t)hl};
    if (cookies.len)
        h[n++] = (sv_http_header_t){sv_xstrdup("Cookie"), sv_xstrdup(cookies.data)};
    sv_http_request_t next;
    int rc = sv_http_request_init(&next, method, target, h, n, body.ptr, body.len, &why);
    for (size_t i = 0; i < n; i++) {
        free((char *)h[i].name);
        free((char *)h[i].value);
    }
    sv_buf_free(&cookies);
    if (rc != 0) {
        free(target);
        return false;
    }
    if (c->owned)
        sv_http_request_free(&c->req);
    c->req = next;
    c->owned = true;
    c->use = &c->req;
    free(c->url);
    c->url = target;
    c->opts.redirects_left--;
    send_call(c);
    return true;
}

/* Stores the response's cookies; returns its parsed head (spans into res->head). */
static bool take_head(call_t *c, const sv_http_result_t *res, sv_h1_response_t *head)
{
    if (res->error_code || res->head.len == 0 ||
        sv_h1_parse_response(res->head.data, res->head.len, head) <= 0)
        return false;
    for (size_t i = 0; i < head->num_headers; i++)
        if (sv_span_ieq(head->headers[i].name, "set-cookie"))
            sv_cookie_jar_set(&c->vu->jar, &c->use->url, head->headers[i].value, unix_now());
    return true;
}

static void batch_done(call_t *c, const sv_http_result_t *res)
{
    batch_t *b = c->batch;
    lua_State *L = c->vu->s->L; /* the state's main thread is idle: build the value there */
    lua_rawgeti(L, LUA_REGISTRYINDEX, b->ref_results);
    push_response(L, res, c->use->method, c->url, c->opts.response_type);
    lua_rawseti(L, -2, c->slot + 1);
    lua_pop(L, 1);
    if (--b->remaining > 0)
        return;
    sv_lua_vu_t *vu = c->vu;
    lua_rawgeti(vu->co, LUA_REGISTRYINDEX, b->ref_results);
    luaL_unref(vu->co, LUA_REGISTRYINDEX, b->ref_results);
    vu->batch = NULL;
    for (int i = 0; i < b->n; i++) {
        call_reset(&b->calls[i]);
        sv_lua_vu_keep_conn(vu, b->calls[i].conn);
    }
    free(b->calls);
    free(b);
    sv_lua_resume(vu, 1);
}

static void on_response(sv_http_result_t *res, void *arg)
{
    call_t *c = arg;
    sv_lua_vu_t *vu = c->vu;
    sv_lua_state_t *s = vu->s;
    if (vu->interrupting || vu->freeing || res->interrupted)
        return;
    bool expected = res->error_code == 0 && expected_status(&c->opts, res->status);
    s->host->record_http(vu->vu_arg, c->tags, res, expected);
    if (s->host->plan && s->host->plan->http_debug != SV_DEBUG_OFF)
        sv_http_debug_print(c->use, res, s->host->plan->http_debug == SV_DEBUG_FULL);
    sv_h1_response_t head;
    bool have_head = take_head(c, res, &head);
    if (c->batch) {
        batch_done(c, res);
        return;
    }
    if (have_head && follow_redirect(c, &head))
        return;
    push_response(vu->co, res, c->use->method, c->url, c->opts.response_type);
    sv_lua_resume(vu, 1);
}

static call_t *single_call(sv_lua_vu_t *vu)
{
    if (vu->pending == NULL)
        vu->pending = sv_xcalloc(1, sizeof(call_t));
    return vu->pending;
}

/* http.request(method, url, body, params) and the verb shortcuts. */
static int do_request(lua_State *L, const char *method, int url_idx, int body_idx, int params)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "an HTTP request");
    call_t *c = single_call(vu);
    prepare(L, vu, c, method, url_idx, body_idx, params);
    send_call(c);
    return lua_yield(L, 0);
}

static int l_request(lua_State *L)
{
    const char *method = luaL_checkstring(L, 1);
    return do_request(L, method, 2, 3, lua_gettop(L) >= 4 ? 4 : 0);
}

#define VERB_NO_BODY(fn, M)                                                                        \
    static int fn(lua_State *L)                                                                    \
    {                                                                                              \
        return do_request(L, M, 1, 0, lua_gettop(L) >= 2 ? 2 : 0);                                 \
    }
#define VERB_BODY(fn, M)                                                                           \
    static int fn(lua_State *L)                                                                    \
    {                                                                                              \
        return do_request(L, M, 1, 2, lua_gettop(L) >= 3 ? 3 : 0);                                 \
    }

VERB_NO_BODY(l_get, "GET")
VERB_NO_BODY(l_head, "HEAD")
VERB_BODY(l_post, "POST")
VERB_BODY(l_put, "PUT")
VERB_BODY(l_patch, "PATCH")
VERB_BODY(l_del, "DELETE")
VERB_BODY(l_options, "OPTIONS")

/* http.batch({ {method, url, body, params} or url, ... }): all at once, each on a
 * connection of its own; returns the responses in the same order. */
static void batch_free(sv_lua_vu_t *vu)
{
    batch_t *b = vu->batch;
    if (b == NULL)
        return;
    for (int i = 0; i < b->n; i++) {
        if (b->calls[i].conn)
            sv_http_conn_cancel(b->calls[i].conn);
        call_reset(&b->calls[i]);
        sv_lua_vu_keep_conn(vu, b->calls[i].conn);
    }
    if (b->ref_results != LUA_NOREF)
        luaL_unref(vu->s->L, LUA_REGISTRYINDEX, b->ref_results);
    free(b->calls);
    free(b);
    vu->batch = NULL;
}

/* Prepares item i (a URL or {method, url, body, params}) of the batch at index 1. */
static void batch_prepare(lua_State *L, sv_lua_vu_t *vu, call_t *c, int i)
{
    int top = lua_gettop(L);
    lua_rawgeti(L, 1, i + 1);
    int item = lua_gettop(L);
    if (lua_type(L, item) == LUA_TSTRING) {
        prepare(L, vu, c, "GET", item, 0, 0);
    } else if (lua_istable(L, item)) {
        for (int k = 1; k <= 4; k++)
            lua_rawgeti(L, item, k);
        const char *method = luaL_checkstring(L, item + 1);
        prepare(L, vu, c, method, item + 2, item + 3, lua_istable(L, item + 4) ? item + 4 : 0);
    } else {
        luaL_error(L, "http.batch: item %d: expected a URL or {method, url, body, params}", i + 1);
    }
    lua_settop(L, top);
}

/* http.batch({ {method, url, body, params} or url, ... }): all at once, each on a
 * connection of its own; returns the responses in the same order. The batch hangs on
 * the VU from the start, so a bad item (a Lua error) leaves nothing behind that the
 * next batch or the VU's end does not free. */
static int l_batch(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "http.batch()");
    luaL_checktype(L, 1, LUA_TTABLE);
    batch_free(vu); /* one a bad item left unsent */
    int n = (int)lua_objlen(L, 1);
    if (n == 0) {
        lua_newtable(L);
        return 1;
    }
    batch_t *b = sv_xcalloc(1, sizeof(*b));
    b->calls = sv_xcalloc((size_t)n, sizeof(*b->calls));
    b->n = b->remaining = n;
    b->ref_results = LUA_NOREF;
    vu->batch = b;
    for (int i = 0; i < n; i++) {
        b->calls[i].batch = b;
        b->calls[i].slot = i;
        batch_prepare(L, vu, &b->calls[i], i);
    }
    lua_newtable(L);
    b->ref_results = luaL_ref(L, LUA_REGISTRYINDEX);
    for (int i = 0; i < n; i++) {
        b->calls[i].conn = sv_lua_vu_take_conn(vu);
        send_call(&b->calls[i]);
    }
    return lua_yield(L, 0);
}

/* http.file(data, filename, content_type) for multipart uploads. */
static int l_file(lua_State *L)
{
    luaL_checkstring(L, 1);
    const char *name = luaL_optstring(L, 2, "file");
    const char *type = luaL_optstring(L, 3, "application/octet-stream");
    lua_createtable(L, 0, 3);
    lua_pushvalue(L, 1);
    lua_setfield(L, -2, "data");
    lua_pushstring(L, name);
    lua_setfield(L, -2, "filename");
    lua_pushstring(L, type);
    lua_setfield(L, -2, "content_type");
    return 1;
}

/* ---- the cookie jar ------------------------------------------------------------- */

/* Jar functions work as jar:set(...) and as jar.set(...): the first argument after
 * the jar, if any. */
static int jar_arg(lua_State *L)
{
    return lua_istable(L, 1) ? 2 : 1;
}

static sv_url_t *jar_url(lua_State *L, int idx, sv_url_t *u)
{
    const char *why;
    if (sv_url_parse(u, luaL_checkstring(L, idx), &why) != 0)
        luaL_error(L, "invalid URL \"%s\": %s", lua_tostring(L, idx), why);
    return u;
}

static int jar_cookies_for_url(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "the cookie jar");
    sv_url_t u;
    jar_url(L, jar_arg(L), &u);
    lua_newtable(L);
    for (size_t i = 0; i < vu->jar.n; i++) {
        sv_cookie_jar_t one = {.cookies = &vu->jar.cookies[i], .n = 1};
        sv_buf_t b;
        sv_buf_init(&b, SIZE_MAX);
        if (sv_cookie_jar_header(&one, &u, unix_now(), &b)) {
            lua_pushstring(L, vu->jar.cookies[i].value);
            lua_setfield(L, -2, vu->jar.cookies[i].name);
        }
        sv_buf_free(&b);
    }
    sv_url_free(&u);
    return 1;
}

static int jar_set(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "the cookie jar");
    int a = jar_arg(L);
    sv_url_t u;
    jar_url(L, a, &u);
    char *line = sv_xasprintf("%s=%s", luaL_checkstring(L, a + 1), luaL_checkstring(L, a + 2));
    sv_cookie_jar_set(&vu->jar, &u, sv_span(line), unix_now());
    free(line);
    sv_url_free(&u);
    return 0;
}

static int jar_clear(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "the cookie jar");
    sv_cookie_jar_clear(&vu->jar);
    return 0;
}

static int l_cookie_jar(lua_State *L)
{
    static const luaL_Reg fns[] = {{"cookies_for_url", jar_cookies_for_url},
                                   {"set", jar_set},
                                   {"clear", jar_clear},
                                   {NULL, NULL}};
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    return 1;
}

/* ---- server-sent events ---------------------------------------------------------- */

/* http.sse(url, params, on_event): a GET whose text/event-stream body is read as it
 * comes. The VU stays in the call: each event is handed to on_event (in the VU's
 * coroutine, so it may sleep or make requests) until the server ends the stream,
 * params.duration passes (a success) or params.timeout (a failure, 1050), or
 * on_event returns false. Returns a result table. The Lua loop (SSE_LOOP) drives C
 * primitives; events wait in the VU's inbox while on_event runs. */

#define SSE_MAX_EVENT (1024 * 1024) /* bytes in one event's data (or one line) */
#define SSE_MAX_QUEUED 10000        /* events waiting for a busy on_event */

typedef struct {
    call_t call;
    sv_sse_parser_t parser;
    sv_inbox_t inbox;
    uint64_t events;
    bool ended;           /* the response is over (result below) */
    const char *overflow; /* why the stream was cut, or NULL */
    int status, error_code;
    bool http2;
    const char *error;
    uv_timer_t hold; /* params.duration: the stream ends, a success, when it fires */
    int handles;     /* open: the inbox's and hold */
} sse_t;

static void sse_inbox_closed(uv_handle_t *h)
{
    sse_t *s = sv_container_of(h, sse_t, inbox.resume);
    if (--s->handles == 0)
        free(s);
}

static void sse_hold_closed(uv_handle_t *h)
{
    sse_t *s = sv_container_of(h, sse_t, hold);
    if (--s->handles == 0)
        free(s);
}

/* Ends vu's stream: the request cancelled if still going, everything freed. */
static void sse_free(sv_lua_vu_t *vu)
{
    sse_t *s = vu->sse;
    if (s == NULL)
        return;
    vu->sse = NULL;
    if (s->call.conn) {
        if (!s->ended)
            sv_http_conn_cancel(s->call.conn);
        sv_lua_vu_keep_conn(vu, s->call.conn);
    }
    sv_sse_free(&s->parser);
    call_reset(&s->call);
    sv_inbox_free(&s->inbox, sse_inbox_closed);
    uv_close((uv_handle_t *)&s->hold, sse_hold_closed);
}

/* An event as next() returns it: a table with event, data, id and retry. */
static int push_event(lua_State *L, const sv_inbox_item_t *e)
{
    lua_createtable(L, 0, 4);
    lua_pushlstring(L, e->text[1], e->len[1]);
    lua_setfield(L, -2, "event");
    lua_pushlstring(L, e->text[0], e->len[0]);
    lua_setfield(L, -2, "data");
    lua_pushlstring(L, e->text[2], e->len[2]);
    lua_setfield(L, -2, "id");
    if (e->num >= 0) {
        lua_pushnumber(L, (double)e->num);
        lua_setfield(L, -2, "retry");
    }
    return 1;
}

static void sse_enqueue(const sv_sse_event_t *ev, void *arg)
{
    sse_t *s = arg;
    sv_lua_host_t *host = s->call.vu->s->host;
    sv_series_add(host->reg, sv_registry_series(host->reg, SV_M_SSE_EVENT, s->call.tags), 1);
    s->events++;
    sv_span_t text[3] = {ev->data, ev->type, ev->id};
    if (!sv_inbox_put(&s->inbox, 0, text, ev->retry_ms))
        s->overflow = "http.sse: 10000 events waiting for on_event: the stream was cut";
}

static bool sse_on_body(const char *data, size_t len, void *arg)
{
    sse_t *s = arg;
    if (sv_sse_feed(&s->parser, data, len, sse_enqueue, s) != 0)
        s->overflow = "http.sse: an event over 1 MiB: the stream was cut";
    if (s->overflow)
        sv_inbox_close(&s->inbox);
    return s->overflow == NULL;
}

static void sse_on_response(sv_http_result_t *res, void *arg)
{
    sse_t *s = arg;
    sv_lua_vu_t *vu = s->call.vu;
    if (vu->interrupting || vu->freeing || res->interrupted)
        return;
    bool expected = res->error_code == 0 && expected_status(&s->call.opts, res->status);
    vu->s->host->record_http(vu->vu_arg, s->call.tags, res, expected);
    s->ended = true;
    s->status = res->status;
    s->http2 = res->http2;
    s->error_code = res->error_code ? res->error_code : res->status >= 400 ? 1000 + res->status : 0;
    s->error = res->error_code ? res->error : res->status >= 400 ? "HTTP error status" : NULL;
    sv_inbox_close(&s->inbox);
}

static void sse_on_hold_over(uv_timer_t *t)
{
    sse_t *s = t->data;
    if (!s->ended)
        sv_http_conn_stop(s->call.conn);
}

static sse_t *sse_of(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "http.sse");
    if (vu->sse == NULL)
        luaL_error(L, "http.sse: no event stream is open");
    return vu->sse;
}

/* The request of a new stream (url, params, the stream at 1, 2, 3): its errors are
 * Lua errors, caught by l_sse_open. */
static int sse_start(lua_State *L)
{
    sse_t *s = lua_touserdata(L, 3);
    sv_lua_vu_t *vu = s->call.vu;
    prepare(L, vu, &s->call, "GET", 1, 0, lua_istable(L, 2) ? 2 : 0);
    s->call.send.keep_body = false;
    s->call.send.timeout_ns = s->call.opts.timeout_ns; /* none unless asked: it streams */
    s->call.send.on_body = sse_on_body;
    uint64_t hold_ns = 0;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "duration");
        if (!lua_isnil(L, -1) && !sv_lua_duration(L, -1, &hold_ns))
            luaL_error(L, "duration: expected a duration such as \"30s\"");
        lua_pop(L, 1);
    }
    if (hold_ns)
        uv_timer_start(&s->hold, sse_on_hold_over, (hold_ns + 999999) / 1000000, 0);
    s->call.conn = sv_lua_vu_take_conn(vu);
    if (s->call.conn == NULL)
        s->call.conn = sv_http_conn_new_in(vu->s->host->http, vu_group(vu));
    sv_http_conn_send(s->call.conn, s->call.use, &s->call.send, sse_on_response, s);
    return 0;
}

/* open(url, params): starts the request; the events come with next(). On an error
 * nothing is left open. */
static int l_sse_open(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "http.sse");
    if (vu->sse)
        return luaL_error(L, "one event stream at a time per VU");
    sse_t *s = sv_xcalloc(1, sizeof(*s));
    sv_sse_init(&s->parser, SSE_MAX_EVENT);
    sv_inbox_init(&s->inbox, vu, push_event, SSE_MAX_QUEUED);
    uv_timer_init(vu->s->host->loop, &s->hold);
    s->hold.data = s;
    s->handles = 2;
    s->call.vu = vu;
    vu->sse = s;
    if (sv_lua_guarded(L, sse_start, s) != 0) {
        sse_free(vu);
        return lua_error(L);
    }
    return 0;
}

/* next(): the next event as a table, or nil once the stream is over. */
static int l_sse_next(lua_State *L)
{
    sse_t *s = sse_of(L);
    if (s->overflow && !s->ended && s->inbox.head == NULL)
        sv_http_conn_stop(s->call.conn); /* cut: what was queued has been read */
    return sv_inbox_next(&s->inbox, L);
}

/* close(): ends the stream now (on_event returned false). */
static int l_sse_close(lua_State *L)
{
    sse_t *s = sse_of(L);
    if (!s->ended)
        sv_http_conn_stop(s->call.conn);
    return 0;
}

/* finish(): the result table; the stream is let go (ended as a success with what
 * came, if on_event raised an error meanwhile). */
static int l_sse_finish(lua_State *L)
{
    sse_t *s = sse_of(L);
    if (!s->ended)
        sv_http_conn_stop(s->call.conn);
    lua_createtable(L, 0, 6);
    lua_pushinteger(L, s->status);
    lua_setfield(L, -2, "status");
    lua_pushstring(L, !s->status ? "" : s->http2 ? "HTTP/2.0" : "HTTP/1.1");
    lua_setfield(L, -2, "proto");
    lua_pushinteger(L, s->error_code);
    lua_setfield(L, -2, "error_code");
    lua_pushstring(L, s->overflow ? s->overflow : s->error ? s->error : "");
    lua_setfield(L, -2, "error");
    lua_pushnumber(L, (double)s->events);
    lua_setfield(L, -2, "events");
    lua_pushstring(L, s->call.url);
    lua_setfield(L, -2, "url");
    sse_free(s->call.vu);
    return 1;
}

/* The loop around the primitives, so that on_event runs in the VU's coroutine. */
static const char SSE_LOOP[] =
    "local open, next_event, close, finish = ...\n"
    "local function read(on_event)\n"
    "  while true do\n"
    "    local ev = next_event()\n"
    "    if ev == nil then return end\n"
    "    if on_event(ev) == false then close() end\n"
    "  end\n"
    "end\n"
    "return function(url, params, on_event)\n"
    "  if params ~= nil and type(params) ~= 'table' then\n"
    "    error('http.sse: params: expected a table, got ' .. type(params), 2)\n"
    "  end\n"
    "  if type(on_event) ~= 'function' then\n"
    "    error('http.sse: expected a function for on_event, got ' .. type(on_event), 2)\n"
    "  end\n"
    "  local p = {}\n"
    "  for k, v in pairs(params or {}) do p[k] = v end\n"
    "  local h, accept = {}, false\n"
    "  for k, v in pairs(p.headers or {}) do\n"
    "    h[k] = v\n"
    "    accept = accept or k:lower() == 'accept'\n"
    "  end\n"
    "  if not accept then h.Accept = 'text/event-stream' end\n"
    "  p.headers = h\n"
    "  local ok, err = pcall(open, url, p)\n"
    "  if not ok then\n"
    "    err = tostring(err)\n"
    "    error(err:find('^http%.sse') and err or 'http.sse: ' .. err, 2)\n"
    "  end\n"
    "  ok, err = pcall(read, on_event)\n"
    "  local r = finish()\n"
    "  if not ok then error(err, 0) end\n"
    "  return r\n"
    "end\n";

static void register_sse(lua_State *L)
{
    if (luaL_loadbuffer(L, SSE_LOOP, sizeof(SSE_LOOP) - 1, "=http.sse") != 0)
        lua_error(L);
    lua_pushcfunction(L, l_sse_open);
    lua_pushcfunction(L, l_sse_next);
    lua_pushcfunction(L, l_sse_close);
    lua_pushcfunction(L, l_sse_finish);
    lua_call(L, 4, 1);
    lua_setfield(L, -2, "sse");
}

int sv_lua_open_http(lua_State *L)
{
    luaL_newmetatable(L, RESPONSE_MT);
    lua_pushcfunction(L, response_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"request", l_request},
        {"get", l_get},
        {"head", l_head},
        {"post", l_post},
        {"put", l_put},
        {"patch", l_patch},
        {"del", l_del},
        {"options", l_options},
        {"batch", l_batch},
        {"file", l_file},
        {"cookie_jar", l_cookie_jar},
        {NULL, NULL},
    };
    lua_newtable(L);
    luaL_register(L, NULL, fns);
    register_sse(L);
    return 1;
}

void sv_lua_http_cleanup(lua_State *L)
{
    req_cache_t *c = cache_of(L);
    for (int i = 0; i < CACHE_SLOTS; i++) {
        cached_req_t *e = c->slots[i];
        while (e) {
            cached_req_t *next = e->next;
            sv_http_request_free(&e->req);
            free(e->url);
            free(e);
            e = next;
        }
        c->slots[i] = NULL;
    }
}

void sv_lua_vu_http_free(sv_lua_vu_t *vu)
{
    sse_free(vu);
    sv_lua_vu_ws_free(vu);
    call_t *c = vu->pending;
    if (c) {
        if (c->conn)
            sv_http_conn_free(c->conn);
        call_reset(c);
        free(c);
        vu->pending = NULL;
    }
    sv_cookie_jar_clear(&vu->jar);
}

void sv_lua_vu_http_interrupt(sv_lua_vu_t *vu)
{
    sse_free(vu);
    sv_lua_vu_ws_free(vu);
    call_t *c = vu->pending;
    if (vu->batch)
        batch_free(vu);
    else if (c && c->conn)
        sv_http_conn_cancel(c->conn);
}
