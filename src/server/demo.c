/*
 * Demo target routes, and a small in-memory JSON API (users, JWT login, products,
 * orders) so that scripts have something realistic to log in to. The API's store
 * is process-wide and locked, because every worker thread serves it.
 */
#include "demo.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>
#include <uv.h>
#include <zlib.h>

#include "../util/crypto.h"

#define MAX_DEMO_BYTES (16u * 1024 * 1024)
#define MAX_DELAY_MS 60000

/* Parses the decimal after `prefix` in the path; false if absent or malformed. */
static bool path_number(sv_span_t path, const char *prefix, uint64_t *out)
{
    size_t pl = strlen(prefix);
    if (path.len <= pl || memcmp(path.ptr, prefix, pl) != 0)
        return false;
    uint64_t v = 0;
    for (size_t i = pl; i < path.len; i++) {
        if (path.ptr[i] < '0' || path.ptr[i] > '9' || v > UINT64_MAX / 10 - 9)
            return false;
        v = v * 10 + (uint64_t)(path.ptr[i] - '0');
    }
    *out = v;
    return true;
}

/* The decimal value of query parameter `name` ("every" in "?every=100&count=5"), or
 * fallback when absent; false when present but not a number. */
static bool query_number(sv_span_t target, const char *name, uint64_t fallback, uint64_t *out)
{
    const char *q = memchr(target.ptr, '?', target.len);
    size_t nl = strlen(name);
    *out = fallback;
    for (const char *p = q; p && p < target.ptr + target.len;
         p = memchr(p + 1, '&', (size_t)(target.ptr + target.len - p - 1))) {
        sv_span_t param = {p + 1, (size_t)(target.ptr + target.len - p - 1)};
        const char *amp = memchr(param.ptr, '&', param.len);
        param.len = amp ? (size_t)(amp - param.ptr) : param.len;
        if (param.len > nl && memcmp(param.ptr, name, nl) == 0 && param.ptr[nl] == '=')
            return path_number((sv_span_t){param.ptr + nl + 1, param.len - nl - 1}, "", out);
    }
    return true;
}

/* /ws/echo and /ws/broadcast: each message back to its sender, or to every client
 * of /ws/broadcast (on every worker), the sender too. */
static void ws_echo(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len)
{
    sv_server_ws_send(ws, op, data, len);
}

static void ws_broadcast(sv_server_ws_t *ws, sv_ws_opcode_t op, const char *data, size_t len)
{
    sv_server_ws_broadcast(ws, op, data, len);
}

static const sv_server_ws_handler_t echo_handler = {.on_message = ws_echo};
static const sv_server_ws_handler_t broadcast_handler = {.on_message = ws_broadcast};

/* /sse/ticks: event n of the stream, with the time it was sent. */
static void tick_event(sv_buf_t *out, uint64_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (n == 0)
        sv_buf_printf(out, "retry: 1000\n");
    sv_buf_printf(out, "id: %llu\nevent: tick\ndata: {\"n\": %llu, \"ms\": %lld}\n\n",
                  (unsigned long long)n, (unsigned long long)n,
                  (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void fill_bytes(sv_buf_t *b, uint64_t n)
{
    char *p = sv_buf_reserve(b, (size_t)n);
    for (uint64_t i = 0; i < n; i++)
        p[i] = (char)('a' + i % 26);
    b->len += (size_t)n;
}

static void gzip_bytes(sv_buf_t *b, uint64_t n)
{
    sv_buf_t plain;
    sv_buf_init(&plain, SIZE_MAX);
    fill_bytes(&plain, n);
    z_stream z = {0};
    deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY);
    size_t cap = deflateBound(&z, (uLong)plain.len);
    char *out = sv_buf_reserve(b, cap);
    z.next_in = (Bytef *)plain.data;
    z.avail_in = (uInt)plain.len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    deflate(&z, Z_FINISH);
    b->len += cap - z.avail_out;
    deflateEnd(&z);
    sv_buf_free(&plain);
}

static void text(sv_server_response_t *res, int status, const char *msg)
{
    res->status = status;
    sv_buf_printf(&res->body, "%s\n", msg);
}

/* ---- the JSON API ------------------------------------------------------------------ */

#define API_MAX_USERS 1000000 /* a cap, so that a long test registering users cannot eat RAM */
#define API_MAX_NAME 64
#define API_MAX_PASSWORD 256
#define API_MAX_QUANTITY 1000
#define API_TOKEN_TTL_S 3600
#define API_SALT_LEN 16

typedef struct api_user {
    char *name;
    unsigned char salt[API_SALT_LEN];
    unsigned char hash[32]; /* SHA-256 of salt + password */
    uint64_t orders;
    struct api_user *next;
} api_user_t;

static struct {
    uv_mutex_t lock;
    api_user_t **buckets;
    size_t n_buckets, n_users;
    uint64_t last_order_id;
    unsigned char secret[32]; /* signs the tokens; new at every start */
    bool broken;              /* no random source: the API answers 500 */
} store;
static uv_once_t store_once = UV_ONCE_INIT;

static const struct {
    uint64_t id;
    const char *name;
    int64_t cents;
} products[] = {
    {1, "Espresso beans, 1 kg", 2499}, {2, "Pour-over kettle", 4950},
    {3, "Ceramic dripper", 1899},      {4, "Paper filters (100)", 599},
    {5, "Burr grinder", 12900},        {6, "Digital scale", 3250},
    {7, "Milk frother", 2795},         {8, "Double-wall glass, 2 pcs", 1650},
    {9, "Cold brew jar", 2200},        {10, "Descaling tablets", 899},
};

static void password_hash(const unsigned char salt[API_SALT_LEN], const char *password,
                          unsigned char out[32])
{
    char buf[API_SALT_LEN + API_MAX_PASSWORD];
    size_t n = strlen(password);
    memcpy(buf, salt, API_SALT_LEN);
    memcpy(buf + API_SALT_LEN, password, n);
    sv_digest(SV_HASH_SHA256, buf, API_SALT_LEN + n, out, NULL);
}

/* Caller holds the lock. */
static api_user_t *user_find(const char *name)
{
    api_user_t *u = store.buckets[sv_hash(name, strlen(name)) % store.n_buckets];
    while (u && strcmp(u->name, name) != 0)
        u = u->next;
    return u;
}

/* Caller holds the lock; keeps chains short by doubling the table at load 1. */
static void user_insert(api_user_t *u)
{
    if (store.n_users >= store.n_buckets) {
        size_t n = store.n_buckets * 2;
        api_user_t **b = sv_xcalloc(n, sizeof(*b));
        for (size_t i = 0; i < store.n_buckets; i++) {
            for (api_user_t *x = store.buckets[i], *next; x; x = next) {
                next = x->next;
                size_t at = sv_hash(x->name, strlen(x->name)) % n;
                x->next = b[at];
                b[at] = x;
            }
        }
        free(store.buckets);
        store.buckets = b;
        store.n_buckets = n;
    }
    size_t at = sv_hash(u->name, strlen(u->name)) % store.n_buckets;
    u->next = store.buckets[at];
    store.buckets[at] = u;
    store.n_users++;
}

/* A new user with a fresh salt; NULL if there is no random source. */
static api_user_t *user_new(const char *name, const char *password)
{
    api_user_t *u = sv_xcalloc(1, sizeof(*u));
    if (sv_random_bytes(u->salt, sizeof(u->salt)) != 0) {
        free(u);
        return NULL;
    }
    u->name = sv_xstrdup(name);
    password_hash(u->salt, password, u->hash);
    return u;
}

static void user_free(api_user_t *u)
{
    free(u->name);
    free(u);
}

static void store_init(void)
{
    uv_mutex_init(&store.lock);
    store.n_buckets = 1024;
    store.buckets = sv_xcalloc(store.n_buckets, sizeof(*store.buckets));
    api_user_t *admin = user_new("admin", "admin");
    if (admin == NULL || sv_random_bytes(store.secret, sizeof(store.secret)) != 0)
        store.broken = true;
    if (admin)
        user_insert(admin);
}

/* Answers with j (consumed) as compact JSON. */
static void json_reply(sv_server_response_t *res, int status, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(15));
    res->status = status;
    res->content_type = "application/json";
    sv_buf_printf(&res->body, "%s\n", text ? text : "null");
    free(text);
    json_decref(j);
}

static void json_error(sv_server_response_t *res, int status, const char *msg)
{
    json_reply(res, status, json_pack("{s:s}", "error", msg));
}

static json_t *product_json(size_t i)
{
    return json_pack("{s:I, s:s, s:f}", "id", (json_int_t)products[i].id, "name", products[i].name,
                     "price", (double)products[i].cents / 100.0);
}

/* Index of product id in the catalogue, or -1. */
static int product_find(uint64_t id)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(products); i++)
        if (products[i].id == id)
            return (int)i;
    return -1;
}

/* A JSON number with a whole value in [min, max] (2 and 2.0 alike: scripts' JSON
 * encoders differ). */
static bool json_whole(const json_t *v, int64_t min, int64_t max, int64_t *out)
{
    if (!json_is_number(v))
        return false;
    double d = json_number_value(v);
    if (!(d >= (double)min && d <= (double)max) || d != (double)(int64_t)d)
        return false;
    *out = (int64_t)d;
    return true;
}

/* The {"username", "password"} body; NULL with *why when malformed. */
static json_t *read_credentials(sv_span_t body, const char **name, const char **password,
                                const char **why)
{
    json_t *j = json_loadb(body.ptr ? body.ptr : "", body.len, 0, NULL);
    *name = json_string_value(json_object_get(j, "username"));
    *password = json_string_value(json_object_get(j, "password"));
    if (!json_is_object(j))
        *why = "the body must be a JSON object {\"username\": ..., \"password\": ...}";
    else if (*name == NULL || **name == '\0' || strlen(*name) > API_MAX_NAME)
        *why = "\"username\" must be a string of 1 to 64 bytes";
    else if (*password == NULL || **password == '\0' || strlen(*password) > API_MAX_PASSWORD)
        *why = "\"password\" must be a string of 1 to 256 bytes";
    else
        return j;
    json_decref(j);
    return NULL;
}

static void api_register(sv_span_t body, sv_server_response_t *res)
{
    const char *name, *password, *why;
    json_t *j = read_credentials(body, &name, &password, &why);
    if (j == NULL) {
        json_error(res, 400, why);
        return;
    }
    api_user_t *u = user_new(name, password); /* hashed outside the lock */
    if (u == NULL) {
        json_error(res, 500, "the demo API has no random source");
        json_decref(j);
        return;
    }
    uv_mutex_lock(&store.lock);
    bool taken = user_find(name) != NULL, full = store.n_users >= API_MAX_USERS;
    if (!taken && !full)
        user_insert(u);
    uv_mutex_unlock(&store.lock);
    if (taken || full) {
        user_free(u);
        json_error(res, taken ? 409 : 503,
                   taken ? "username already taken" : "the demo's user store is full");
    } else {
        json_reply(res, 201, json_pack("{s:s}", "username", name));
    }
    json_decref(j);
}

/* Whether password is name's; unknown users cost a hash too, so timing does not
 * tell which names exist. */
static bool password_ok(const char *name, const char *password)
{
    unsigned char salt[API_SALT_LEN] = {0}, want[32] = {0}, got[32];
    uv_mutex_lock(&store.lock);
    api_user_t *u = user_find(name);
    if (u) {
        memcpy(salt, u->salt, sizeof(salt));
        memcpy(want, u->hash, sizeof(want));
    }
    uv_mutex_unlock(&store.lock);
    password_hash(salt, password, got);
    return sv_crypto_equal(got, want, sizeof(got)) && u != NULL;
}

static void api_login(sv_span_t body, sv_server_response_t *res)
{
    const char *name, *password, *why;
    json_t *j = read_credentials(body, &name, &password, &why);
    if (j == NULL) {
        json_error(res, 400, why);
        return;
    }
    if (!password_ok(name, password)) {
        json_error(res, 401, "wrong username or password");
        json_decref(j);
        return;
    }
    json_int_t now = (json_int_t)time(NULL);
    json_t *claims =
        json_pack("{s:s, s:I, s:I}", "sub", name, "iat", now, "exp", now + API_TOKEN_TTL_S);
    char *text = json_dumps(claims, JSON_COMPACT);
    char *token;
    if (sv_jwt_sign(SV_JWT_HS256, store.secret, sizeof(store.secret), text, strlen(text), &token,
                    &why) != 0) {
        json_error(res, 500, why);
    } else {
        json_reply(res, 200, json_pack("{s:s}", "token", token));
        free(token);
    }
    free(text);
    json_decref(claims);
    json_decref(j);
}

/* The user named by the request's "Authorization: Bearer TOKEN", copied into
 * name; false with *why when there is no valid token. */
static bool authenticate(const sv_h1_request_t *req, char name[API_MAX_NAME + 1], const char **why)
{
    sv_span_t v = sv_h1_find_header(req->headers, req->num_headers, "authorization");
    *why = "send Authorization: Bearer TOKEN (POST /auth/login gives one)";
    if (v.len <= 7 || strncasecmp(v.ptr, "Bearer ", 7) != 0)
        return false;
    v.ptr += 7;
    v.len -= 7;
    while (v.len && v.ptr[0] == ' ') {
        v.ptr++;
        v.len--;
    }
    char *payload;
    if (sv_jwt_verify(SV_JWT_HS256, store.secret, sizeof(store.secret), v.ptr, v.len, &payload,
                      why) != 0)
        return false;
    json_t *claims = json_loads(payload, 0, NULL);
    const char *sub = json_string_value(json_object_get(claims, "sub"));
    bool ok = sub != NULL && strlen(sub) <= API_MAX_NAME;
    if (ok)
        strcpy(name, sub);
    else
        *why = "the token has no \"sub\" claim";
    json_decref(claims);
    free(payload);
    return ok;
}

/* The {"product": ID, "quantity": N} body; the catalogue index, or -1 with
 * *status and *why. */
static int read_order(sv_span_t body, int64_t *quantity, int *status, const char **why)
{
    json_t *j = json_loadb(body.ptr ? body.ptr : "", body.len, 0, NULL);
    int64_t id;
    int at = -1;
    *status = 400;
    *why = NULL;
    if (!json_is_object(j))
        *why = "the body must be a JSON object {\"product\": ID, \"quantity\": N}";
    else if (!json_whole(json_object_get(j, "product"), 0, INT64_MAX, &id))
        *why = "\"product\" must be a product id (a whole number)";
    else if (!json_whole(json_object_get(j, "quantity"), 1, API_MAX_QUANTITY, quantity))
        *why = "\"quantity\" must be a whole number from 1 to 1000";
    else
        at = product_find((uint64_t)id);
    if (at < 0 && *why == NULL) {
        *status = 404;
        *why = "no such product";
    }
    json_decref(j);
    return at;
}

static void api_order(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res)
{
    char name[API_MAX_NAME + 1];
    const char *why;
    int status;
    int64_t quantity;
    if (!authenticate(req, name, &why)) {
        json_error(res, 401, why);
        return;
    }
    int at = read_order(body, &quantity, &status, &why);
    if (at < 0) {
        json_error(res, status, why);
        return;
    }
    uint64_t id = 0;
    uv_mutex_lock(&store.lock);
    api_user_t *u = user_find(name);
    if (u) {
        u->orders++;
        id = ++store.last_order_id;
    }
    uv_mutex_unlock(&store.lock);
    if (u == NULL) {
        json_error(res, 401, "the token's user does not exist");
        return;
    }
    json_reply(res, 201,
               json_pack("{s:I, s:I, s:I, s:s, s:f}", "id", (json_int_t)id, "product",
                         (json_int_t)products[at].id, "quantity", (json_int_t)quantity, "user",
                         name, "total", (double)(products[at].cents * quantity) / 100.0));
}

static void api_me(const sv_h1_request_t *req, sv_server_response_t *res)
{
    char name[API_MAX_NAME + 1];
    const char *why;
    if (!authenticate(req, name, &why)) {
        json_error(res, 401, why);
        return;
    }
    uv_mutex_lock(&store.lock);
    api_user_t *u = user_find(name);
    uint64_t orders = u ? u->orders : 0;
    uv_mutex_unlock(&store.lock);
    if (u == NULL)
        json_error(res, 401, "the token's user does not exist");
    else
        json_reply(res, 200,
                   json_pack("{s:s, s:I}", "username", name, "orders", (json_int_t)orders));
}

static void api_products(sv_span_t path, sv_server_response_t *res)
{
    uint64_t id;
    if (sv_span_eq(path, "/products")) {
        json_t *list = json_array();
        for (size_t i = 0; i < SV_ARRAY_SIZE(products); i++)
            json_array_append_new(list, product_json(i));
        json_reply(res, 200, list);
    } else if (path_number(path, "/products/", &id) && product_find(id) >= 0) {
        json_reply(res, 200, product_json((size_t)product_find(id)));
    } else {
        json_error(res, 404, "no such product");
    }
}

/* Serves the API's routes; false when path is none of them. */
static bool api_handle(const sv_h1_request_t *req, sv_span_t path, sv_span_t body,
                       sv_server_response_t *res)
{
    bool get = sv_span_eq(req->method, "GET") || sv_span_eq(req->method, "HEAD");
    bool post = sv_span_eq(req->method, "POST");
    bool is_products = sv_span_eq(path, "/products") ||
                       (path.len >= 10 && memcmp(path.ptr, "/products/", 10) == 0);
    bool is_post = sv_span_eq(path, "/auth/register") || sv_span_eq(path, "/auth/login") ||
                   sv_span_eq(path, "/orders");
    if (!is_products && !is_post && !sv_span_eq(path, "/users/me"))
        return false;
    uv_once(&store_once, store_init);
    if (store.broken)
        json_error(res, 500, "the demo API has no random source");
    else if (!(is_post ? post : get))
        json_error(res, 405,
                   is_post ? "method not allowed: use POST" : "method not allowed: use GET");
    else if (sv_span_eq(path, "/auth/register"))
        api_register(body, res);
    else if (sv_span_eq(path, "/auth/login"))
        api_login(body, res);
    else if (sv_span_eq(path, "/orders"))
        api_order(req, body, res);
    else if (is_products)
        api_products(path, res);
    else
        api_me(req, res);
    return true;
}

void sv_demo_handle(const sv_h1_request_t *req, sv_span_t body, sv_server_response_t *res,
                    void *arg)
{
    sv_demo_stats_t *stats = arg;
    sv_span_t path = req->target;
    const char *q = memchr(path.ptr, '?', path.len);
    if (q)
        path.len = (size_t)(q - path.ptr);
    uint64_t n;

    if (sv_span_eq(path, "/stats")) {
        res->content_type = "application/json";
        sv_buf_printf(&res->body, "{\"requests\": %llu}\n",
                      (unsigned long long)atomic_load(&stats->requests));
        return;
    }
    if (sv_span_eq(path, "/health")) {
        text(res, 200, "ok");
        return;
    }
    atomic_fetch_add_explicit(&stats->requests, 1, memory_order_relaxed);
    if (sv_span_eq(path, "/") || sv_span_eq(path, "/hello")) {
        sv_buf_append(&res->body, "Hello, salvo!", 13);
    } else if (path_number(path, "/bytes/", &n) && n <= MAX_DEMO_BYTES) {
        res->content_type = "application/octet-stream";
        fill_bytes(&res->body, n);
    } else if (path_number(path, "/chunked/", &n) && n <= MAX_DEMO_BYTES) {
        res->content_type = "application/octet-stream";
        res->chunked = true;
        fill_bytes(&res->body, n);
    } else if (path_number(path, "/gzip/", &n) && n <= MAX_DEMO_BYTES) {
        res->content_encoding = "gzip";
        gzip_bytes(&res->body, n);
    } else if (path_number(path, "/delay/", &n) && n <= MAX_DELAY_MS) {
        res->delay_ms = n;
        sv_buf_printf(&res->body, "delayed %llu ms\n", (unsigned long long)n);
    } else if (path_number(path, "/status/", &n) && n >= 200 && n <= 599) {
        text(res, (int)n, "status");
    } else if (sv_span_eq(path, "/echo")) {
        sv_span_t ct = sv_h1_find_header(req->headers, req->num_headers, "content-type");
        res->content_type = ct.len ? "application/octet-stream" : "text/plain";
        sv_buf_append(&res->body, body.ptr, body.len);
    } else if (sv_span_eq(path, "/sse/ticks")) {
        uint64_t every, count;
        if (!query_number(req->target, "every", 1000, &every) || every == 0 ||
            every > MAX_DELAY_MS || !query_number(req->target, "count", 0, &count)) {
            text(res, 400, "/sse/ticks?every=MS&count=N: MS from 1 to 60000, N a number");
            return;
        }
        res->content_type = "text/event-stream";
        res->stream_piece = tick_event;
        res->stream_every_ms = every;
        res->stream_pieces = count;
    } else if (sv_span_eq(path, "/ws/echo")) {
        res->websocket = &echo_handler;
    } else if (sv_span_eq(path, "/ws/broadcast")) {
        res->websocket = &broadcast_handler;
    } else if (sv_span_eq(path, "/close")) {
        res->close = true;
        text(res, 200, "closing");
    } else if (!api_handle(req, path, body, res)) {
        text(res, 404,
             "not found: try /hello, /bytes/N, /chunked/N, /gzip/N, /delay/MS, "
             "/status/CODE, /echo, /close, /sse/ticks?every=MS&count=N, /ws/echo, "
             "/ws/broadcast, /health, /stats, "
             "or the JSON API: "
             "POST /auth/register, POST /auth/login, GET /products, "
             "GET /products/ID, POST /orders, GET /users/me");
    }
}
