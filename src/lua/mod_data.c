/*
 * require("salvo.data"): csv(path, opts) and json(path). A file is parsed once per
 * process into immutable memory that every worker's state and every VU reads
 * through small proxies, without a copy per worker or per VU. Paths are relative to
 * the script's folder.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>

#include "lua_int.h"

#define CSV_MT "salvo.csv"
#define ROW_MT "salvo.csv.row"
#define JSON_MT "salvo.json.node"

typedef struct shared_file {
    char *key; /* kind + path + options */
    int refs;
    /* csv */
    char *text;
    sv_span_t *cells; /* rows * cols */
    char **header;    /* cols names, or NULL */
    size_t rows, cols;
    /* json */
    json_t *json;
    struct shared_file *next;
} shared_file_t;

static uv_mutex_t files_lock;
static uv_once_t files_once = UV_ONCE_INIT;
static shared_file_t *files;

static void files_init(void)
{
    uv_mutex_init(&files_lock);
}

static void release(shared_file_t *f)
{
    uv_mutex_lock(&files_lock);
    bool last = --f->refs == 0;
    if (last)
        for (shared_file_t **p = &files; *p; p = &(*p)->next)
            if (*p == f) {
                *p = f->next;
                break;
            }
    uv_mutex_unlock(&files_lock);
    if (!last)
        return;
    free(f->key);
    free(f->text);
    free(f->cells);
    if (f->header)
        for (size_t i = 0; i < f->cols; i++)
            free(f->header[i]);
    free(f->header);
    json_decref(f->json);
    free(f);
}

static char *read_file(const char *path, size_t *len, char *err, size_t errlen)
{
    sv_buf_t b;
    int rc = sv_read_file(path, &b);
    if (rc != 0) {
        snprintf(err, errlen, "cannot open data file \"%s\": %s", path, strerror(-rc));
        return NULL;
    }
    *len = b.len;
    return b.data;
}

/* ---- CSV (RFC 4180: quotes, doubled quotes, line breaks inside quotes) ---------------- */

typedef struct {
    sv_span_t *cells;
    size_t n, cap;
} cell_list_t;

static void push_cell(cell_list_t *l, const char *p, size_t n)
{
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 256;
        l->cells = sv_xrealloc(l->cells, l->cap * sizeof(*l->cells));
    }
    l->cells[l->n++] = (sv_span_t){p, n};
}

/* Parses one field at *p, unquoting in place; returns false on a bad quote. */
static bool parse_field(char **p, char *end, char sep, cell_list_t *l)
{
    char *s = *p;
    if (s < end && *s == '"') {
        char *out = s, *in = s + 1;
        for (;;) {
            if (in >= end)
                return false; /* unterminated quote */
            if (*in == '"') {
                if (in + 1 < end && in[1] == '"') {
                    *out++ = '"';
                    in += 2;
                    continue;
                }
                in++;
                break;
            }
            *out++ = *in++;
        }
        if (in < end && *in != sep && *in != '\n' && *in != '\r')
            return false; /* text after the closing quote */
        push_cell(l, s, (size_t)(out - s));
        *p = in;
        return true;
    }
    char *e = s;
    while (e < end && *e != sep && *e != '\n' && *e != '\r')
        e++;
    push_cell(l, s, (size_t)(e - s));
    *p = e;
    return true;
}

static int parse_csv(shared_file_t *f, size_t len, char sep, bool header, const char *path,
                     char *err, size_t errlen)
{
    cell_list_t l = {0};
    char *p = f->text, *end = f->text + len;
    size_t line = 1, cols = 0, rows = 0;
    while (p < end) {
        size_t row_start = l.n, row_line = line;
        for (;;) {
            if (!parse_field(&p, end, sep, &l)) {
                snprintf(err, errlen, "%s:%zu: malformed quoted field", path, row_line);
                free(l.cells);
                return SV_EPARSE;
            }
            if (p < end && *p == sep) {
                p++;
                continue;
            }
            break;
        }
        if (p < end && *p == '\r')
            p++;
        if (p < end && *p == '\n')
            p++;
        line++;
        size_t n = l.n - row_start;
        for (size_t c = row_start; c < l.n; c++) /* line breaks inside quoted fields */
            for (size_t k = 0; k < l.cells[c].len; k++)
                line += l.cells[c].ptr[k] == '\n';
        if (n == 1 && l.cells[row_start].len == 0) {
            l.n = row_start; /* blank line */
            continue;
        }
        if (cols == 0)
            cols = n;
        if (n != cols) {
            snprintf(err, errlen, "%s:%zu: expected %zu fields, got %zu", path, row_line, cols, n);
            free(l.cells);
            return SV_EPARSE;
        }
        rows++;
    }
    f->cols = cols;
    f->cells = l.cells;
    f->rows = rows;
    if (header && rows > 0) {
        f->header = sv_xcalloc(cols, sizeof(char *));
        for (size_t c = 0; c < cols; c++)
            f->header[c] = sv_xstrndup(f->cells[c].ptr, f->cells[c].len);
        memmove(f->cells, f->cells + cols, (rows - 1) * cols * sizeof(*f->cells));
        f->rows--;
    }
    return 0;
}

/* The shared file for key, loading it with load() on first use. */
static shared_file_t *shared(const char *key, int (*load)(shared_file_t *, void *), void *arg,
                             int *rc)
{
    uv_once(&files_once, files_init);
    uv_mutex_lock(&files_lock);
    shared_file_t *f;
    for (f = files; f; f = f->next)
        if (strcmp(f->key, key) == 0)
            break;
    if (f == NULL) {
        f = sv_xcalloc(1, sizeof(*f));
        f->key = sv_xstrdup(key);
        *rc = load(f, arg);
        if (*rc != 0) {
            free(f->key);
            free(f);
            uv_mutex_unlock(&files_lock);
            return NULL;
        }
        f->next = files;
        files = f;
    }
    f->refs++;
    uv_mutex_unlock(&files_lock);
    *rc = 0;
    return f;
}

typedef struct {
    const char *path;
    char sep;
    bool header;
    char err[SV_LUA_ERR_SIZE];
} load_args_t;

static int load_csv(shared_file_t *f, void *arg)
{
    load_args_t *a = arg;
    size_t len;
    f->text = read_file(a->path, &len, a->err, sizeof(a->err));
    if (f->text == NULL)
        return SV_EIO;
    int rc = parse_csv(f, len, a->sep, a->header, a->path, a->err, sizeof(a->err));
    if (rc != 0)
        free(f->text);
    return rc;
}

static int load_json(shared_file_t *f, void *arg)
{
    load_args_t *a = arg;
    json_error_t je;
    f->json = json_load_file(a->path, JSON_DECODE_ANY, &je);
    if (f->json == NULL) {
        if (je.line < 0)
            snprintf(a->err, sizeof(a->err), "cannot open data file \"%s\": %s", a->path, je.text);
        else
            snprintf(a->err, sizeof(a->err), "%s:%d: %s", a->path, je.line, je.text);
        return SV_EPARSE;
    }
    return 0;
}

/* ---- Lua proxies -------------------------------------------------------------------- */

typedef struct {
    shared_file_t *f;
} file_ref_t;

typedef struct {
    shared_file_t *f;
    size_t row;
} row_ref_t;

typedef struct {
    shared_file_t *f;
    json_t *node;
} json_ref_t;

static int file_gc(lua_State *L)
{
    file_ref_t *r = lua_touserdata(L, 1);
    if (r->f)
        release(r->f);
    r->f = NULL;
    return 0;
}

static void push_file(lua_State *L, shared_file_t *f, const char *mt)
{
    file_ref_t *r = lua_newuserdata(L, sizeof(*r));
    r->f = f;
    luaL_getmetatable(L, mt);
    lua_setmetatable(L, -2);
}

static int csv_len(lua_State *L)
{
    file_ref_t *r = luaL_checkudata(L, 1, CSV_MT);
    lua_pushinteger(L, (lua_Integer)r->f->rows);
    return 1;
}

static int csv_index(lua_State *L)
{
    file_ref_t *r = luaL_checkudata(L, 1, CSV_MT);
    if (!lua_isnumber(L, 2))
        return 0;
    lua_Integer i = lua_tointeger(L, 2);
    if (i < 1 || (size_t)i > r->f->rows)
        return 0;
    row_ref_t *row = lua_newuserdata(L, sizeof(*row));
    row->f = r->f;
    row->row = (size_t)(i - 1);
    luaL_getmetatable(L, ROW_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, 1); /* keep the file alive while the row is */
    lua_setfenv(L, -2);
    return 1;
}

static int row_index(lua_State *L)
{
    row_ref_t *row = luaL_checkudata(L, 1, ROW_MT);
    shared_file_t *f = row->f;
    size_t col = f->cols;
    if (lua_isnumber(L, 2)) {
        lua_Integer c = lua_tointeger(L, 2);
        if (c >= 1 && (size_t)c <= f->cols)
            col = (size_t)(c - 1);
    } else if (f->header && lua_type(L, 2) == LUA_TSTRING) {
        const char *k = lua_tostring(L, 2);
        for (size_t c = 0; c < f->cols; c++)
            if (strcmp(f->header[c], k) == 0) {
                col = c;
                break;
            }
    }
    if (col == f->cols)
        return 0;
    sv_span_t cell = f->cells[row->row * f->cols + col];
    lua_pushlstring(L, cell.ptr, cell.len);
    return 1;
}

static int row_len(lua_State *L)
{
    row_ref_t *row = luaL_checkudata(L, 1, ROW_MT);
    lua_pushinteger(L, (lua_Integer)row->f->cols);
    return 1;
}

static void push_json(lua_State *L, int owner, shared_file_t *f, json_t *node)
{
    switch (json_typeof(node)) {
    case JSON_NULL:
        lua_pushnil(L);
        return;
    case JSON_TRUE:
    case JSON_FALSE:
        lua_pushboolean(L, json_is_true(node));
        return;
    case JSON_INTEGER:
        lua_pushnumber(L, (lua_Number)json_integer_value(node));
        return;
    case JSON_REAL:
        lua_pushnumber(L, json_real_value(node));
        return;
    case JSON_STRING:
        lua_pushlstring(L, json_string_value(node), json_string_length(node));
        return;
    default:
        break;
    }
    json_ref_t *r = lua_newuserdata(L, sizeof(*r));
    r->f = f;
    r->node = node;
    luaL_getmetatable(L, JSON_MT);
    lua_setmetatable(L, -2);
    lua_pushvalue(L, owner); /* keep the file alive */
    lua_setfenv(L, -2);
}

static int json_index(lua_State *L)
{
    json_ref_t *r = luaL_checkudata(L, 1, JSON_MT);
    json_t *child = NULL;
    if (json_is_array(r->node) && lua_isnumber(L, 2)) {
        lua_Integer i = lua_tointeger(L, 2);
        if (i >= 1)
            child = json_array_get(r->node, (size_t)(i - 1));
    } else if (json_is_object(r->node) && lua_type(L, 2) == LUA_TSTRING) {
        child = json_object_get(r->node, lua_tostring(L, 2));
    }
    if (child == NULL)
        return 0;
    lua_getfenv(L, 1);
    push_json(L, lua_gettop(L), r->f, child);
    return 1;
}

static int json_len(lua_State *L)
{
    json_ref_t *r = luaL_checkudata(L, 1, JSON_MT);
    lua_pushinteger(L, (lua_Integer)(json_is_array(r->node) ? json_array_size(r->node)
                                                            : json_object_size(r->node)));
    return 1;
}

static char *resolve(lua_State *L, const char *path)
{
    sv_lua_state_t *s = sv_lua_state_of(L);
    if (path[0] == '/')
        return sv_xstrdup(path);
    return sv_xasprintf("%s/%s", s->script_dir, path);
}

static void check_init(lua_State *L, const char *what)
{
    if (sv_lua_state_of(L)->current != NULL)
        luaL_error(L, "%s: load data files in the init stage (at the top level of the script)",
                   what);
}

static int l_csv(lua_State *L)
{
    check_init(L, "salvo.data.csv");
    load_args_t a = {.sep = ',', .header = true};
    char *path = resolve(L, luaL_checkstring(L, 1));
    a.path = path;
    if (lua_istable(L, 2)) {
        lua_getfield(L, 2, "header");
        if (!lua_isnil(L, -1))
            a.header = lua_toboolean(L, -1);
        lua_getfield(L, 2, "separator");
        const char *sep = lua_tostring(L, -1);
        if (sep && strlen(sep) == 1)
            a.sep = sep[0];
        lua_pop(L, 2);
    }
    char *key = sv_xasprintf("csv%c%d%s", a.sep, a.header, path);
    int rc;
    shared_file_t *f = shared(key, load_csv, &a, &rc);
    free(key);
    free(path);
    if (f == NULL)
        return luaL_error(L, "%s", a.err);
    push_file(L, f, CSV_MT);
    return 1;
}

static int l_json(lua_State *L)
{
    check_init(L, "salvo.data.json");
    load_args_t a = {0};
    char *path = resolve(L, luaL_checkstring(L, 1));
    a.path = path;
    char *key = sv_xasprintf("json%s", path);
    int rc;
    shared_file_t *f = shared(key, load_json, &a, &rc);
    free(key);
    free(path);
    if (f == NULL)
        return luaL_error(L, "%s", a.err);
    file_ref_t *owner = lua_newuserdata(L, sizeof(*owner)); /* releases f when collected */
    owner->f = f;
    luaL_getmetatable(L, "salvo.json.owner");
    lua_setmetatable(L, -2);
    push_json(L, lua_gettop(L), f, f->json);
    return 1;
}

static void new_mt(lua_State *L, const char *name, lua_CFunction index, lua_CFunction len,
                   lua_CFunction gc)
{
    luaL_newmetatable(L, name);
    lua_pushcfunction(L, index);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, len);
    lua_setfield(L, -2, "__len");
    if (gc) {
        lua_pushcfunction(L, gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
}

int sv_lua_open_data(lua_State *L)
{
    new_mt(L, CSV_MT, csv_index, csv_len, file_gc);
    new_mt(L, ROW_MT, row_index, row_len, NULL);
    new_mt(L, JSON_MT, json_index, json_len, NULL);
    luaL_newmetatable(L, "salvo.json.owner");
    lua_pushcfunction(L, file_gc);
    lua_setfield(L, -2, "__gc");
    lua_pop(L, 1);
    lua_newtable(L);
    lua_pushcfunction(L, l_csv);
    lua_setfield(L, -2, "csv");
    lua_pushcfunction(L, l_json);
    lua_setfield(L, -2, "json");
    return 1;
}
