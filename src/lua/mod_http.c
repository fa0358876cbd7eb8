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

#include "../http/h1.h"
#include "lua_int.h"

#define RESPONSE_MT "salvo.response"
#define CACHE_SLOTS 256
#define MAX_EXPECTED 16
#define DEFAULT_REDIRECTS 10

enum { RT_TEXT, RT_BINARY, RT_NONE };

/* Requests without headers or body, built once per (method, URL) and state. */
typedef struct cached_req {
    char *key; /* "METHOD URL" */
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
} call_opts_t;

typedef struct {
    int status, error_code, minor;
    const char *error;
    double blocked, connecting, sending, waiting, receiving, duration;
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
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
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

static bool has_header(const sv_http_header_t *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return true;
    return false;
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

static void read_opts(lua_State *L, int params, call_opts_t *o)
{
    *o = (call_opts_t){.redirects_left = DEFAULT_REDIRECTS};
    if (params == 0)
        return;
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
    else if (rt && strcmp(rt, "text") != 0)
        luaL_error(L, "response_type: expected \"text\", \"binary\" or \"none\", got \"%s\"", rt);
    lua_pop(L, 1);
    lua_getfield(L, params, "redirects");
    if (lua_isnumber(L, -1))
        o->redirects_left = (int)lua_tointeger(L, -1);
    lua_pop(L, 1);
}

/* Collects params.headers into h (strings stay on the Lua stack, referenced by the
 * table); adds the content type json/form imply. Returns the count. */
static size_t read_headers(lua_State *L, int params, sv_http_header_t *h, size_t max,
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
    if (content_type && n < max && !has_header(h, n, "Content-Type"))
        h[n++] = (sv_http_header_t){"Content-Type", content_type};
    return n;
}

/* The body: an explicit string, or params.json (encoded) or params.form. Pushes the
 * body string (or nil) and returns the content type it implies. */
static const char *push_body(lua_State *L, int body_idx, int params)
{
    if (body_idx && lua_type(L, body_idx) == LUA_TSTRING) {
        lua_pushvalue(L, body_idx);
        return NULL;
    }
    if (body_idx && lua_istable(L, body_idx)) { /* k6: an object body is form-encoded */
        sv_buf_t b;
        sv_buf_init(&b, SIZE_MAX);
        encode_form(L, body_idx, &b);
        lua_pushlstring(L, b.data ? b.data : "", b.len);
        sv_buf_free(&b);
        return "application/x-www-form-urlencoded";
    }
    if (params) {
        lua_getfield(L, params, "json");
        if (!lua_isnil(L, -1)) {
            sv_lua_state_t *s = sv_lua_state_of(L);
            lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
            lua_getfield(L, -1, "encode");
            lua_pushvalue(L, -3);
            lua_call(L, 1, 1);
            lua_replace(L, -3);
            lua_pop(L, 1);
            return "application/json";
        }
        lua_pop(L, 1);
        lua_getfield(L, params, "form");
        if (lua_istable(L, -1)) {
            sv_buf_t b;
            sv_buf_init(&b, SIZE_MAX);
            encode_form(L, lua_gettop(L), &b);
            lua_pop(L, 1);
            lua_pushlstring(L, b.data ? b.data : "", b.len);
            sv_buf_free(&b);
            return "application/x-www-form-urlencoded";
        }
        lua_pop(L, 1);
    }
    lua_pushnil(L);
    return NULL;
}

static cached_req_t *cached(lua_State *L, const char *method, const char *url)
{
    req_cache_t *c = cache_of(L);
    char *key = sv_xasprintf("%s %s", method, url);
    size_t slot = sv_hash(key, strlen(key)) % CACHE_SLOTS;
    for (cached_req_t *e = c->slots[slot]; e; e = e->next)
        if (strcmp(e->key, key) == 0) {
            free(key);
            return e;
        }
    if (c->count >= CACHE_SLOTS * 4) {
        free(key);
        return NULL; /* a script with endless distinct URLs: build each one */
    }
    cached_req_t *e = sv_xcalloc(1, sizeof(*e));
    const char *why;
    if (sv_http_request_init(&e->req, method, url, NULL, 0, NULL, 0, &why) != 0) {
        free(key);
        free(e);
        luaL_error(L, "invalid URL \"%s\": %s", url, why);
    }
    e->key = key;
    e->next = c->slots[slot];
    c->slots[slot] = e;
    c->count++;
    return e;
}

/* ---- responses ------------------------------------------------------------------ */

static double ms(uint64_t ns) { return (double)ns / 1e6; }

static bool expected_status(const call_opts_t *o, int status)
{
    if (o->n_expected == 0)
        return status >= 200 && status < 400;
    for (int i = 0; i < o->n_expected; i++)
        if (status >= o->expected[i].min && status <= o->expected[i].max)
            return true;
    return false;
}

static void push_response(lua_State *L, const sv_http_result_t *res, const char *url,
                          int response_type)
{
    response_t *r = lua_newuserdata(L, sizeof(*r) + res->head.len);
    r->status = res->status;
    r->error_code = res->error_code ? res->error_code
                                    : (res->status >= 400 ? 1000 + res->status : 0);
    r->error = res->error_code ? res->error : (res->status >= 400 ? "HTTP error status" : NULL);
    r->minor = res->minor_version;
    r->blocked = ms(res->blocked_ns);
    r->connecting = ms(res->connecting_ns);
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
    lua_setfenv(L, -2);
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
    } t[] = {{"blocked", r->blocked},     {"connecting", r->connecting},
             {"tls_handshaking", 0},      {"sending", r->sending},
             {"waiting", r->waiting},     {"receiving", r->receiving},
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
    sv_lua_state_t *s = sv_lua_state_of(L);
    lua_getfenv(L, 1);
    lua_getfield(L, -1, "body");
    lua_rawgeti(L, LUA_REGISTRYINDEX, s->ref_cjson);
    lua_getfield(L, -1, "decode");
    lua_pushvalue(L, -3);
    if (lua_pcall(L, 1, 1, 0) != 0)
        return luaL_error(L, "r:json(): the body is not JSON: %s", lua_tostring(L, -1));
    const char *path = luaL_optstring(L, 2, NULL);
    while (path && *path && lua_istable(L, -1)) {
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
        lua_pushstring(L, r->status ? (r->minor ? "HTTP/1.1" : "HTTP/1.0") : "");
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
        else
            return 0;
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, k); /* cache it */
    }
    return 1;
}

/* ---- sending -------------------------------------------------------------------- */

typedef struct {
    call_opts_t opts;
    char *url;
} pending_t;

static pending_t *pending_of(sv_lua_vu_t *vu) { return vu->pending; }

static void on_response(sv_http_result_t *res, void *arg);

static void send_request(sv_lua_vu_t *vu, const sv_http_request_t *req)
{
    sv_lua_state_t *s = vu->s;
    if (vu->conn == NULL)
        vu->conn = sv_http_conn_new(s->host->http);
    vu->req_sent = req;
    vu->wait = WAIT_HTTP;
    sv_http_conn_send(vu->conn, req, on_response, vu);
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

/* Follows a redirect if the response is one and the budget allows. */
static bool follow_redirect(sv_lua_vu_t *vu, const sv_http_result_t *res)
{
    pending_t *p = pending_of(vu);
    int st = res->status;
    if (!(st == 301 || st == 302 || st == 303 || st == 307 || st == 308) ||
        p->opts.redirects_left <= 0 || res->head.len == 0)
        return false;
    sv_h1_response_t parsed;
    if (sv_h1_parse_response(res->head.data, res->head.len, &parsed) <= 0)
        return false;
    sv_span_t loc = sv_h1_find_header(parsed.headers, parsed.num_headers, "location");
    if (loc.len == 0)
        return false;
    const sv_http_request_t *prev = vu->req_sent;
    char *target = resolve_location(&prev->url, loc);
    bool keep_method = st == 307 || st == 308;
    sv_http_request_t next;
    const char *why;
    int rc = sv_http_request_init(&next, keep_method ? prev->method : "GET", target, NULL, 0,
                                  NULL, 0, &why);
    if (rc != 0) {
        free(target);
        return false;
    }
    next.timeout_ns = prev->timeout_ns;
    next.keep_head = next.keep_body = true;
    if (vu->req_owned)
        sv_http_request_free(&vu->req);
    vu->req = next;
    vu->req_owned = true;
    free(p->url);
    p->url = target;
    p->opts.redirects_left--;
    send_request(vu, &vu->req);
    return true;
}

static void on_response(sv_http_result_t *res, void *arg)
{
    sv_lua_vu_t *vu = arg;
    sv_lua_state_t *s = vu->s;
    pending_t *p = pending_of(vu);
    if (vu->interrupting || vu->freeing || res->interrupted)
        return;
    bool expected = res->error_code == 0 && expected_status(&p->opts, res->status);
    s->host->record_http(vu->vu_arg, vu->req_tags, res, expected);
    if (s->host->plan && s->host->plan->http_debug != SV_DEBUG_OFF)
        sv_http_debug_print(vu->req_sent, res, s->host->plan->http_debug == SV_DEBUG_FULL);
    if (res->error_code == 0 && follow_redirect(vu, res))
        return;
    push_response(vu->co, res, p->url, p->opts.response_type);
    sv_lua_resume(vu, 1);
}

/* http.request(method, url, body, params) and the verb shortcuts. */
static int do_request(lua_State *L, const char *method, int url_idx, int body_idx, int params)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "an HTTP request");
    const char *url = luaL_checkstring(L, url_idx);
    if (params && lua_isnil(L, params))
        params = 0;
    if (params && !lua_istable(L, params))
        return luaL_error(L, "params: expected a table, got %s", luaL_typename(L, params));
    if (body_idx && lua_isnil(L, body_idx))
        body_idx = 0;
    pending_t *p = pending_of(vu);
    if (p == NULL) {
        p = sv_xcalloc(1, sizeof(*p));
        vu->pending = p;
    }
    read_opts(L, params, &p->opts);
    free(p->url);
    p->url = sv_xstrdup(url);

    const char *ctype = push_body(L, body_idx, params);
    size_t body_len = 0;
    const char *body = lua_tolstring(L, -1, &body_len);
    sv_http_header_t headers[64];
    size_t n = read_headers(L, params, headers, SV_ARRAY_SIZE(headers), ctype);

    const sv_http_request_t *req;
    if (n == 0 && body == NULL) {
        cached_req_t *e = cached(L, method, url);
        if (e == NULL)
            goto build;
        req = &e->req;
    } else {
    build:
        if (vu->req_owned)
            sv_http_request_free(&vu->req);
        vu->req_owned = false;
        const char *why;
        if (sv_http_request_init(&vu->req, method, url, headers, n, body, body_len, &why) != 0)
            return luaL_error(L, "invalid request to \"%s\": %s", url, why);
        vu->req_owned = true;
        req = &vu->req;
    }
    sv_http_request_t *mreq = (sv_http_request_t *)req;
    mreq->timeout_ns = p->opts.timeout_ns ? p->opts.timeout_ns : vu->s->host->plan->timeout_ns;
    mreq->keep_head = true;
    mreq->keep_body = p->opts.response_type != RT_NONE;
    vu->req_tags = request_tags(vu, L, params, req, url);
    send_request(vu, req);
    return lua_yield(L, 0);
}

static int l_request(lua_State *L)
{
    const char *method = luaL_checkstring(L, 1);
    return do_request(L, method, 2, 3, lua_gettop(L) >= 4 ? 4 : 0);
}

#define VERB_NO_BODY(fn, M)                                                                 \
    static int fn(lua_State *L) { return do_request(L, M, 1, 0, lua_gettop(L) >= 2 ? 2 : 0); }
#define VERB_BODY(fn, M)                                                                    \
    static int fn(lua_State *L) { return do_request(L, M, 1, 2, lua_gettop(L) >= 3 ? 3 : 0); }

VERB_NO_BODY(l_get, "GET")
VERB_NO_BODY(l_head, "HEAD")
VERB_BODY(l_post, "POST")
VERB_BODY(l_put, "PUT")
VERB_BODY(l_patch, "PATCH")
VERB_BODY(l_del, "DELETE")
VERB_BODY(l_options, "OPTIONS")

int sv_lua_open_http(lua_State *L)
{
    luaL_newmetatable(L, RESPONSE_MT);
    lua_pushcfunction(L, response_index);
    lua_setfield(L, -2, "__index");
    lua_pop(L, 1);
    static const luaL_Reg fns[] = {
        {"request", l_request}, {"get", l_get},     {"head", l_head},
        {"post", l_post},       {"put", l_put},     {"patch", l_patch},
        {"del", l_del},         {"options", l_options}, {NULL, NULL},
    };
    lua_newtable(L);
    for (const luaL_Reg *f = fns; f->name; f++) {
        lua_pushcfunction(L, f->func);
        lua_setfield(L, -2, f->name);
    }
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
            free(e->key);
            free(e);
            e = next;
        }
        c->slots[i] = NULL;
    }
}

void sv_lua_vu_http_free(sv_lua_vu_t *vu)
{
    pending_t *p = vu->pending;
    if (p) {
        free(p->url);
        free(p);
        vu->pending = NULL;
    }
}
