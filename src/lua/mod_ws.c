/*
 * salvo.ws, k6's k6/ws for Lua: ws.connect(url, params, function(socket) … end).
 * The VU stays in connect while the session lives: the function registers handlers
 * (socket:on("open"|"message"|"binaryMessage"|"ping"|"pong"|"close"|"error", fn)),
 * sends, and sets timers; then the handlers run, in the VU's coroutine, as messages
 * and timers come, until the session closes. The Lua loop (WS_LOOP) drives the C
 * primitives below; what arrives waits in the VU's inbox while a handler runs.
 *
 * The upgrade is an HTTP/1.1 request on one of the VU's connections (plain or TLS;
 * ws:// is http://, wss:// is https://); framing is http/ws.c's. Metrics have k6's
 * names: ws_sessions, ws_connecting, ws_session_duration, ws_msgs_sent,
 * ws_msgs_received, ws_ping (a ping's round trip), data_sent/data_received.
 */
#include <stdlib.h>
#include <string.h>

#include "../http/client.h"
#include "../http/h1.h"
#include "../http/ws.h"
#include "inbox.h"
#include "lua_int.h"

#define WS_MAX_MESSAGE (16 * 1024 * 1024)
#define WS_MAX_QUEUED 100000
#define WS_CLOSE_WAIT_MS 3000 /* for the peer's close frame after ours */
#define WS_MAX_HEADERS 64

enum { EV_OPEN, EV_MESSAGE, EV_BINARY, EV_PING, EV_PONG, EV_CLOSE, EV_ERROR, EV_TIMER };

static const char *const ev_names[] = {"open", "message", "binaryMessage", "ping",
                                       "pong", "close",   "error",         "timer"};

typedef struct ws_timer {
    uv_timer_t t;
    struct ws_session *s;
    int64_t id;
    bool repeat;
    struct ws_timer *next;
} ws_timer_t;

typedef struct ws_session {
    sv_lua_vu_t *vu;
    sv_inbox_t inbox;
    sv_http_conn_t *conn;
    sv_http_request_t req;
    bool have_req;
    char key[25];
    char *url;
    const sv_tagset_t *tags;
    sv_ws_t *ws;
    uint64_t start_ns, ping_ns;
    uint64_t bytes_sent, bytes_received;
    int status, error_code;
    const char *error;
    bool open, ended;
    ws_timer_t *timers;
    int64_t next_timer;
    uv_timer_t close_wait;
    int handles;
} ws_session_t;

/* ---- metrics -------------------------------------------------------------------------- */

/* A sample of the session's tags: a count, or for times a span in nanoseconds. */
static void add(ws_session_t *s, uint32_t metric, double v)
{
    sv_registry_t *reg = s->vu->s->host->reg;
    if (sv_catalog_get(sv_registry_catalog(reg), metric)->contains == SV_CONTAINS_TIME)
        v /= 1e6; /* trends of time are in milliseconds */
    sv_series_add(reg, sv_registry_series(reg, metric, s->tags), v);
}

/* ---- the session ---------------------------------------------------------------------- */

static void handle_closed(ws_session_t *s)
{
    if (--s->handles == 0)
        free(s);
}

static void inbox_closed(uv_handle_t *h)
{
    handle_closed(sv_container_of(h, ws_session_t, inbox.resume));
}

static void close_wait_closed(uv_handle_t *h)
{
    handle_closed(sv_container_of(h, ws_session_t, close_wait));
}

static void timer_closed(uv_handle_t *h)
{
    free(h->data);
}

/* The session is over: nothing more arrives; its time is recorded once. */
static void end(ws_session_t *s)
{
    if (s->ended)
        return;
    s->ended = true;
    uv_timer_stop(&s->close_wait);
    for (ws_timer_t *t = s->timers; t; t = t->next)
        uv_timer_stop(&t->t);
    if (s->open)
        add(s, SV_M_WS_SESSION_DURATION, (double)(sv_now_ns() - s->start_ns));
    if (s->bytes_sent || s->bytes_received) { /* a failed upgrade's bytes crossed the wire too */
        add(s, SV_M_DATA_SENT, (double)s->bytes_sent);
        add(s, SV_M_DATA_RECEIVED, (double)s->bytes_received);
    }
    if (s->conn)
        sv_http_conn_stop(s->conn);
    sv_inbox_close(&s->inbox);
}

static void fail(ws_session_t *s, const char *error)
{
    if (s->ended)
        return;
    s->error = error;
    sv_span_t text[3] = {sv_span(error)};
    sv_inbox_put_last(&s->inbox, EV_ERROR, text, 0); /* heard, even with the inbox full */
    end(s);
}

static void ws_write(const char *data, size_t len, void *arg)
{
    ws_session_t *s = arg;
    s->bytes_sent += len;
    sv_http_conn_write(s->conn, data, len);
}

static void ws_message(sv_ws_opcode_t op, const char *data, size_t len, uint16_t code, void *arg)
{
    ws_session_t *s = arg;
    int kind = op == SV_WS_TEXT     ? EV_MESSAGE
               : op == SV_WS_BINARY ? EV_BINARY
               : op == SV_WS_PING   ? EV_PING
               : op == SV_WS_PONG   ? EV_PONG
                                    : EV_CLOSE;
    if (kind == EV_MESSAGE || kind == EV_BINARY)
        add(s, SV_M_WS_MSGS_RECEIVED, 1);
    if (kind == EV_CLOSE && code == 0)
        code = 1005; /* "no status received", as RFC 6455 and k6 say it */
    if (kind == EV_PONG && s->ping_ns) {
        add(s, SV_M_WS_PING, (double)(sv_now_ns() - s->ping_ns));
        s->ping_ns = 0;
    }
    sv_span_t text[3] = {{data, len}};
    if (!sv_inbox_put(&s->inbox, kind, text, code))
        fail(s, "ws: 100000 messages waiting for the handlers: the session was cut");
}

/* Bytes after the upgrade; NULL when the connection ended. (The body of an answer
 * that is not 101 comes here too, before on_upgrade: it is not ours to read.) */
static bool on_bytes(const char *data, size_t len, void *arg)
{
    ws_session_t *s = arg;
    if (s->ws == NULL)
        return true;
    if (data == NULL) {
        if (!s->ended && !sv_ws_done(s->ws))
            fail(s, "ws: the connection closed without a close frame");
        end(s);
        return false;
    }
    s->bytes_received += len;
    if (sv_ws_received(s->ws, data, len) != 0)
        fail(s, sv_ws_close_code_sent(s->ws) == 1009
                    ? "ws: a message over 16 MiB: the session was closed (1009)"
                    : "ws: the server broke the WebSocket protocol");
    if (sv_ws_done(s->ws))
        end(s);
    return !s->ended;
}

/* The upgrade's answer: 101 with the right Sec-WebSocket-Accept opens the session. */
static bool accepted(const ws_session_t *s, const sv_http_result_t *res)
{
    sv_h1_response_t head;
    if (res->status != 101 || sv_h1_parse_response(res->head.data, res->head.len, &head) <= 0)
        return false;
    char want[29];
    sv_ws_accept_for(s->key, strlen(s->key), want);
    sv_span_t got = sv_h1_find_header(head.headers, head.num_headers, "sec-websocket-accept");
    return sv_span_eq(got, want);
}

static void on_upgrade(sv_http_result_t *res, void *arg)
{
    ws_session_t *s = arg;
    sv_lua_vu_t *vu = s->vu;
    if (vu->interrupting || vu->freeing || res->interrupted)
        return;
    s->status = res->status;
    add(s, SV_M_WS_SESSIONS, 1);
    add(s, SV_M_WS_CONNECTING, (double)(res->end_ns - res->start_ns));
    s->bytes_sent += res->bytes_sent;
    s->bytes_received += res->bytes_received;
    if (res->error_code) {
        s->error_code = res->error_code;
        fail(s, res->error);
        return;
    }
    if (!accepted(s, res)) {
        s->error_code = res->status >= 400 ? 1000 + res->status : SV_HTTP_ERR_GENERIC;
        fail(s, res->status == 101 ? "ws: bad Sec-WebSocket-Accept in the server's answer"
                                   : "ws: the server did not switch protocols");
        return;
    }
    sv_ws_io_t io = {.write = ws_write, .message = ws_message};
    s->ws = sv_ws_new(true, &io, s, WS_MAX_MESSAGE);
    s->open = true;
    sv_inbox_put(&s->inbox, EV_OPEN, NULL, 0);
}

/* ---- the request ---------------------------------------------------------------------- */

/* params.headers, the cookies (the VU's jar, params.cookies) and the upgrade's own
 * headers. */
static size_t upgrade_headers(lua_State *L, int params, ws_session_t *s, const char *http_url,
                              sv_http_header_t *h, sv_buf_t *cookies)
{
    size_t n = sv_lua_read_headers(L, params, h, WS_MAX_HEADERS - 8, NULL);
    sv_lua_cookie_header(L, s->vu, http_url, params, cookies);
    if (cookies->len)
        h[n++] = (sv_http_header_t){"Cookie", cookies->data};
    h[n++] = (sv_http_header_t){"Upgrade", "websocket"};
    h[n++] = (sv_http_header_t){"Connection", "Upgrade"};
    h[n++] = (sv_http_header_t){"Sec-WebSocket-Key", s->key};
    h[n++] = (sv_http_header_t){"Sec-WebSocket-Version", "13"};
    if (params) {
        lua_getfield(L, params, "subprotocols");
        if (lua_isstring(L, -1))
            h[n++] = (sv_http_header_t){"Sec-WebSocket-Protocol", lua_tostring(L, -1)};
        lua_pop(L, 1); /* a string kept alive by params */
    }
    return n;
}

/* ws:// and wss:// as the http:// and https:// URLs of the upgrade. */
static char *http_url(const char *url)
{
    if (strncmp(url, "ws://", 5) == 0)
        return sv_xasprintf("http://%s", url + 5);
    if (strncmp(url, "wss://", 6) == 0)
        return sv_xasprintf("https://%s", url + 6);
    return NULL;
}

static void build_request(lua_State *L, ws_session_t *s, const char *url, int params)
{
    char *http = http_url(url);
    if (http == NULL)
        luaL_error(L, "\"%s\": expected a ws:// or wss:// URL", url);
    const char *why = NULL;
    sv_http_header_t h[WS_MAX_HEADERS];
    sv_buf_t cookies;
    sv_buf_init(&cookies, 65536);
    size_t n = upgrade_headers(L, params, s, http, h, &cookies);
    const sv_plan_t *plan = s->vu->s->host->plan;
    if (plan && plan->user_agent && !sv_http_has_header(h, n, "User-Agent"))
        h[n++] = (sv_http_header_t){"User-Agent", plan->user_agent};
    int rc = sv_http_request_init(&s->req, "GET", http, h, n, NULL, 0, &why);
    sv_buf_free(&cookies);
    free(http);
    if (rc != 0)
        luaL_error(L, "\"%s\": %s", url, why);
    s->have_req = true;
}

static const sv_tagset_t *session_tags(lua_State *L, ws_session_t *s, int params)
{
    int tags = 0;
    if (params) {
        lua_getfield(L, params, "tags");
        if (lua_istable(L, -1))
            tags = lua_gettop(L);
        else
            lua_pop(L, 1);
    }
    sv_registry_t *reg = s->vu->s->host->reg;
    const sv_tagset_t *t = sv_lua_tags(s->vu, L, tags);
    if (tags)
        lua_pop(L, 1);
    return sv_registry_tags_with(reg, t, "url", s->url);
}

/* ---- primitives ------------------------------------------------------------------------ */

static ws_session_t *session_of(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "ws.connect");
    if (vu->ws == NULL)
        luaL_error(L, "ws: no session is open");
    return vu->ws;
}

/* An arrival as next() returns it: its kind's name, then its text or code. */
static int push_item(lua_State *L, const sv_inbox_item_t *it)
{
    lua_pushstring(L, ev_names[it->kind]);
    switch (it->kind) {
    case EV_MESSAGE:
    case EV_BINARY:
    case EV_ERROR:
        lua_pushlstring(L, it->text[0] ? it->text[0] : "", it->len[0]);
        return 2;
    case EV_CLOSE:
    case EV_TIMER:
        lua_pushnumber(L, (double)it->num);
        return 2;
    default:
        return 1;
    }
}

static void on_close_wait(uv_timer_t *t)
{
    end(t->data); /* the peer never answered our close frame */
}

/* open(url, params): the upgrade request goes out; next() says how it went. */
static void session_free(sv_lua_vu_t *vu);

/* The upgrade request of a new session (url, params, the session at 1, 2, 3): its
 * errors are Lua errors, caught by l_open. */
static int ws_start(lua_State *L)
{
    ws_session_t *s = lua_touserdata(L, 3);
    int params = lua_istable(L, 2) ? 2 : 0;
    build_request(L, s, luaL_checkstring(L, 1), params);
    s->tags = session_tags(L, s, params);
    const sv_plan_t *plan = s->vu->s->host->plan;
    sv_http_send_opts_t send = {
        .timeout_ns = plan ? plan->timeout_ns : 0,
        .keep_head = true,
        .version = SV_HTTP_1_1,
        .on_body = on_bytes,
        .upgrade = true,
    };
    s->conn = sv_http_conn_new(s->vu->s->host->http);
    sv_http_conn_send(s->conn, &s->req, &send, on_upgrade, s);
    return 0;
}

/* open(url, params): the upgrade request goes out; next() says how it went. On an
 * error nothing is left open. */
static int l_open(lua_State *L)
{
    sv_lua_vu_t *vu = sv_lua_current(L, "ws.connect");
    if (vu->ws)
        return luaL_error(L, "one WebSocket session at a time per VU");
    ws_session_t *s = sv_xcalloc(1, sizeof(*s));
    s->vu = vu;
    s->url = sv_xstrdup(luaL_checkstring(L, 1));
    s->start_ns = sv_now_ns();
    sv_inbox_init(&s->inbox, vu, push_item, WS_MAX_QUEUED);
    uv_timer_init(vu->s->host->loop, &s->close_wait);
    s->close_wait.data = s;
    s->handles = 2;
    vu->ws = s;
    sv_ws_client_key(s->key);
    if (sv_lua_guarded(L, ws_start, s) != 0) {
        session_free(vu);
        return lua_error(L);
    }
    return 0;
}

static int l_next(lua_State *L)
{
    return sv_inbox_next(&session_of(L)->inbox, L);
}

/* send(data, binary): true, or false once the session is closing (nothing sent). */
static int l_send(lua_State *L)
{
    ws_session_t *s = session_of(L);
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    sv_ws_opcode_t op = lua_toboolean(L, 2) ? SV_WS_BINARY : SV_WS_TEXT;
    bool sent = s->open && !s->ended && sv_ws_send(s->ws, op, data, len) == 0;
    if (sent)
        add(s, SV_M_WS_MSGS_SENT, 1);
    lua_pushboolean(L, sent);
    return 1;
}

static int l_ping(lua_State *L)
{
    ws_session_t *s = session_of(L);
    if (s->open && !s->ended && sv_ws_send(s->ws, SV_WS_PING, "", 0) == 0)
        s->ping_ns = sv_now_ns();
    return 0;
}

/* close(code): our close frame; the session ends with the peer's, or soon without. */
static int l_close(lua_State *L)
{
    ws_session_t *s = session_of(L);
    lua_Integer code = luaL_optinteger(L, 1, 1000);
    if (code != 1000 && !(code >= 1001 && code <= 1003) && !(code >= 1007 && code <= 1014) &&
        !(code >= 3000 && code <= 4999))
        return luaL_error(L,
                          "socket:close(): %d is not a code a close frame may carry (1000-1003, "
                          "1007-1014, 3000-4999)",
                          (int)code);
    if (!s->open || s->ended)
        return 0;
    if (sv_ws_close(s->ws, (uint16_t)code, NULL) != 0 || sv_ws_done(s->ws))
        end(s);
    else
        uv_timer_start(&s->close_wait, on_close_wait, WS_CLOSE_WAIT_MS, 0);
    return 0;
}

static void on_timer(uv_timer_t *t)
{
    ws_timer_t *wt = t->data;
    sv_inbox_put(&wt->s->inbox, EV_TIMER, NULL, wt->id);
}

/* timer(ms, repeat): an id; next() returns ("timer", id) when it fires. */
static int l_timer(lua_State *L)
{
    ws_session_t *s = session_of(L);
    uint64_t ns;
    if (!sv_lua_duration(L, 1, &ns))
        return luaL_error(L, "expected a duration in milliseconds or such as \"1s\"");
    ws_timer_t *t = sv_xcalloc(1, sizeof(*t));
    t->s = s;
    t->id = ++s->next_timer;
    t->repeat = lua_toboolean(L, 2);
    t->next = s->timers;
    s->timers = t;
    uv_timer_init(s->vu->s->host->loop, &t->t);
    t->t.data = t;
    uint64_t ms = SV_MAX((ns + 999999) / 1000000, 1);
    if (!s->ended)
        uv_timer_start(&t->t, on_timer, ms, t->repeat ? ms : 0);
    lua_pushnumber(L, (double)t->id);
    return 1;
}

static void session_free(sv_lua_vu_t *vu)
{
    ws_session_t *s = vu->ws;
    if (s == NULL)
        return;
    vu->ws = NULL;
    s->ended = true; /* nothing more is recorded */
    if (s->conn)
        sv_http_conn_free(s->conn);
    sv_ws_free(s->ws);
    while (s->timers) {
        ws_timer_t *t = s->timers;
        s->timers = t->next;
        uv_close((uv_handle_t *)&t->t, timer_closed);
    }
    if (s->have_req)
        sv_http_request_free(&s->req);
    free(s->url);
    sv_inbox_free(&s->inbox, inbox_closed);
    uv_close((uv_handle_t *)&s->close_wait, close_wait_closed);
}

/* finish(): the result table; the session is let go. */
static int l_finish(lua_State *L)
{
    ws_session_t *s = session_of(L);
    end(s);
    lua_createtable(L, 0, 4);
    lua_pushinteger(L, s->status);
    lua_setfield(L, -2, "status");
    lua_pushinteger(L, s->error_code);
    lua_setfield(L, -2, "error_code");
    lua_pushstring(L, s->error ? s->error : "");
    lua_setfield(L, -2, "error");
    lua_pushstring(L, s->url);
    lua_setfield(L, -2, "url");
    session_free(s->vu);
    return 1;
}

void sv_lua_vu_ws_free(sv_lua_vu_t *vu)
{
    session_free(vu);
}

/* The session loop around the primitives: handlers run in the VU's coroutine. */
static const char WS_LOOP[] =
    "local open, next_event, send, ping, close, timer, finish = ...\n"
    "local Socket = {}\n"
    "Socket.__index = Socket\n"
    "function Socket:on(event, fn) self.handlers[event] = fn end\n"
    "function Socket:send(data) return send(data, false) end\n"
    "function Socket:send_binary(data) return send(data, true) end\n"
    "function Socket:ping() ping() end\n"
    "function Socket:close(code) self.closing = true; close(code) end\n"
    "function Socket:set_timeout(fn, ms) self.timers[timer(ms, false)] = fn end\n"
    "function Socket:set_interval(fn, ms) self.intervals[timer(ms, true)] = fn end\n"
    "Socket.sendBinary, Socket.setTimeout, Socket.setInterval =\n"
    "  Socket.send_binary, Socket.set_timeout, Socket.set_interval\n"
    "local function fire(s, name, ...)\n"
    "  local h = s.handlers[name]\n"
    "  if h then h(...) end\n"
    "end\n"
    "local function run(s, fn)\n"
    "  fn(s)\n"
    "  fire(s, 'open')\n"
    "  while true do\n"
    "    local kind, a = next_event()\n"
    "    if kind == nil then return end\n"
    "    if kind == 'timer' then\n"
    "      if s.closing then s.timers, s.intervals = {}, {} end\n"
    "      local t = s.timers[a]\n"
    "      s.timers[a] = nil\n"
    "      t = t or s.intervals[a]\n"
    "      if t then t() end\n"
    "    else\n"
    "      fire(s, kind, a)\n"
    "    end\n"
    "  end\n"
    "end\n"
    "return function(url, params, fn)\n"
    "  if type(fn) ~= 'function' then\n"
    "    error('ws.connect: expected a function, got ' .. type(fn), 2)\n"
    "  end\n"
    "  if params ~= nil and type(params) ~= 'table' then\n"
    "    error('ws.connect: params: expected a table, got ' .. type(params), 2)\n"
    "  end\n"
    "  local ok, err = pcall(open, url, params)\n"
    "  if not ok then\n"
    "    err = tostring(err)\n"
    "    error(err:find('^ws%.connect') and err or 'ws.connect: ' .. err, 2)\n"
    "  end\n"
    "  local first, why = next_event()\n"
    "  if first == 'open' then\n"
    "    ok, err = pcall(run, setmetatable({handlers = {}, timers = {}, intervals = {}}, Socket), "
    "fn)\n"
    "  end\n"
    "  local r = finish()\n"
    "  if not ok then error(err, 0) end\n"
    "  return r\n"
    "end\n";

int sv_lua_open_ws(lua_State *L)
{
    if (luaL_loadbuffer(L, WS_LOOP, sizeof(WS_LOOP) - 1, "=ws.connect") != 0)
        return lua_error(L);
    lua_pushcfunction(L, l_open);
    lua_pushcfunction(L, l_next);
    lua_pushcfunction(L, l_send);
    lua_pushcfunction(L, l_ping);
    lua_pushcfunction(L, l_close);
    lua_pushcfunction(L, l_timer);
    lua_pushcfunction(L, l_finish);
    lua_call(L, 7, 1);
    lua_createtable(L, 0, 1);
    lua_insert(L, -2);
    lua_setfield(L, -2, "connect");
    return 1;
}
