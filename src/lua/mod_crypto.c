/*
 * require("salvo.crypto"), "salvo.encoding", "salvo.uuid" and "salvo.jwt": thin
 * bindings of src/util/crypto.h. None of them waits or touches VU state, so they
 * work the same in the init stage and in VUs.
 */
#include <stdlib.h>

#include "../util/crypto.h"
#include "lua_int.h"

#define MAX_RANDOM_BYTES (16u * 1024 * 1024)

static void set_functions(lua_State *L, const luaL_Reg *fns)
{
    lua_newtable(L);
    luaL_register(L, NULL, fns);
}

/* Pushes base64 text of p[0..n) as a Lua string. */
static void push_base64(lua_State *L, const void *p, size_t n, sv_b64_alphabet_t alphabet)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    sv_base64_encode(&b, p, n, alphabet);
    lua_pushlstring(L, b.data ? b.data : "", b.len);
    sv_buf_free(&b);
}

/* Pushes a digest in the encoding named by the argument at enc_idx (default hex). */
static int push_digest(lua_State *L, const char *fn, const unsigned char *md, size_t n, int enc_idx)
{
    const char *enc = luaL_optstring(L, enc_idx, "hex");
    if (strcmp(enc, "hex") == 0) {
        char hex[SV_DIGEST_HEX_MAX];
        sv_hex_encode(md, n, hex);
        lua_pushstring(L, hex);
    } else if (strcmp(enc, "base64") == 0) {
        push_base64(L, md, n, SV_B64_STD);
    } else if (strcmp(enc, "base64url") == 0) {
        push_base64(L, md, n, SV_B64_URL);
    } else if (strcmp(enc, "binary") == 0) {
        lua_pushlstring(L, (const char *)md, n);
    } else {
        return luaL_error(L,
                          "crypto.%s: unknown encoding \"%s\"; use \"hex\", \"base64\", "
                          "\"base64url\" or \"binary\"",
                          fn, enc);
    }
    return 1;
}

/* crypto.sha256(data, enc) and friends; the algorithm is the upvalue. */
static int l_digest(lua_State *L)
{
    sv_hash_alg_t alg = (sv_hash_alg_t)lua_tointeger(L, lua_upvalueindex(1));
    const char *fn = lua_tostring(L, lua_upvalueindex(2));
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    unsigned char md[SV_DIGEST_MAX];
    size_t n;
    if (sv_digest(alg, data, len, md, &n) != 0)
        return luaL_error(L, "crypto.%s: libcrypto failed", fn);
    return push_digest(L, fn, md, n, 2);
}

/* crypto.hmac(alg, key, data, enc) */
static int l_hmac(lua_State *L)
{
    const char *name = luaL_checkstring(L, 1);
    size_t key_len, len;
    const char *key = luaL_checklstring(L, 2, &key_len);
    const char *data = luaL_checklstring(L, 3, &len);
    sv_hash_alg_t alg;
    if (sv_hash_alg_parse(name, &alg) != 0)
        return luaL_error(L,
                          "crypto.hmac: unknown algorithm \"%s\"; use \"sha256\", \"sha1\", "
                          "\"md5\" or \"sha512\"",
                          name);
    unsigned char md[SV_DIGEST_MAX];
    size_t n;
    if (sv_hmac(alg, key, key_len, data, len, md, &n) != 0)
        return luaL_error(L, "crypto.hmac: libcrypto failed");
    return push_digest(L, "hmac", md, n, 4);
}

/* crypto.random_bytes(n): a string of n random bytes */
static int l_random_bytes(lua_State *L)
{
    lua_Number n = luaL_checknumber(L, 1);
    if (!(n >= 0 && n <= MAX_RANDOM_BYTES) || n != (lua_Number)(size_t)n)
        return luaL_error(L, "crypto.random_bytes: n must be a whole number from 0 to %u",
                          MAX_RANDOM_BYTES);
    size_t len = (size_t)n;
    char *p = sv_xmalloc(len ? len : 1);
    int rc = sv_random_bytes(p, len);
    if (rc == 0)
        lua_pushlstring(L, p, len);
    free(p);
    if (rc != 0)
        return luaL_error(L, "crypto.random_bytes: the random generator failed");
    return 1;
}

int sv_lua_open_crypto(lua_State *L)
{
    static const struct {
        const char *name;
        sv_hash_alg_t alg;
    } digests[] = {
        {"sha256", SV_HASH_SHA256},
        {"sha1", SV_HASH_SHA1},
        {"md5", SV_HASH_MD5},
        {"sha512", SV_HASH_SHA512},
    };
    static const luaL_Reg fns[] = {
        {"hmac", l_hmac}, {"random_bytes", l_random_bytes}, {NULL, NULL}};
    set_functions(L, fns);
    for (size_t i = 0; i < SV_ARRAY_SIZE(digests); i++) {
        lua_pushinteger(L, digests[i].alg);
        lua_pushstring(L, digests[i].name);
        lua_pushcclosure(L, l_digest, 2);
        lua_setfield(L, -2, digests[i].name);
    }
    return 1;
}

/* ---- salvo.encoding --------------------------------------------------------------- */

static sv_b64_alphabet_t check_alphabet(lua_State *L, int idx, const char *fn)
{
    const char *name = luaL_optstring(L, idx, "std");
    if (strcmp(name, "std") == 0)
        return SV_B64_STD;
    if (strcmp(name, "url") == 0)
        return SV_B64_URL;
    luaL_error(L, "encoding.%s: unknown alphabet \"%s\"; use \"std\" or \"url\"", fn, name);
    return SV_B64_STD; /* not reached */
}

/* encoding.b64encode(data, alphabet) */
static int l_b64encode(lua_State *L)
{
    size_t len;
    const char *data = luaL_checklstring(L, 1, &len);
    push_base64(L, data, len, check_alphabet(L, 2, "b64encode"));
    return 1;
}

/* encoding.b64decode(text, alphabet): the decoded bytes, or a Lua error */
static int l_b64decode(lua_State *L)
{
    size_t len;
    const char *text = luaL_checklstring(L, 1, &len);
    sv_b64_alphabet_t alphabet = check_alphabet(L, 2, "b64decode");
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    int rc = sv_base64_decode(&b, text, len, alphabet);
    if (rc == 0)
        lua_pushlstring(L, b.data ? b.data : "", b.len);
    sv_buf_free(&b);
    if (rc != 0)
        return luaL_error(L,
                          "encoding.b64decode: the input is not valid base64 in the %s "
                          "alphabet (%s)",
                          alphabet == SV_B64_URL ? "url" : "std",
                          alphabet == SV_B64_URL ? "A-Z a-z 0-9 - _, '=' padding optional"
                                                 : "A-Z a-z 0-9 + /, '=' padding optional");
    return 1;
}

int sv_lua_open_encoding(lua_State *L)
{
    static const luaL_Reg fns[] = {
        {"b64encode", l_b64encode}, {"b64decode", l_b64decode}, {NULL, NULL}};
    set_functions(L, fns);
    return 1;
}

/* ---- salvo.uuid ------------------------------------------------------------------- */

static int push_uuid(lua_State *L, int (*make)(char *), const char *fn)
{
    char s[SV_UUID_STRLEN + 1];
    if (make(s) != 0)
        return luaL_error(L, "uuid.%s: the random generator failed", fn);
    lua_pushlstring(L, s, SV_UUID_STRLEN);
    return 1;
}

static int l_uuid_v4(lua_State *L)
{
    return push_uuid(L, sv_uuid_v4, "v4");
}

static int l_uuid_v7(lua_State *L)
{
    return push_uuid(L, sv_uuid_v7, "v7");
}

int sv_lua_open_uuid(lua_State *L)
{
    static const luaL_Reg fns[] = {{"v4", l_uuid_v4}, {"v7", l_uuid_v7}, {NULL, NULL}};
    set_functions(L, fns);
    return 1;
}

/* ---- salvo.jwt -------------------------------------------------------------------- */

/* The alg of the options table at idx ({alg = "HS256"|"RS256"}, default HS256). */
static sv_jwt_alg_t check_jwt_alg(lua_State *L, int idx, const char *fn)
{
    sv_jwt_alg_t alg = SV_JWT_HS256;
    if (lua_isnoneornil(L, idx))
        return alg;
    luaL_checktype(L, idx, LUA_TTABLE);
    lua_getfield(L, idx, "alg");
    int rc = lua_isnil(L, -1) ? 0 : SV_EINVAL;
    if (lua_type(L, -1) == LUA_TSTRING)
        rc = sv_jwt_alg_parse(lua_tostring(L, -1), &alg);
    lua_pop(L, 1);
    if (rc != 0)
        luaL_error(L, "jwt.%s: alg must be \"HS256\" or \"RS256\"", fn);
    return alg;
}

/* cjson.encode(value at idx), left on the stack; a Lua error if it cannot. */
static const char *encode_json(lua_State *L, int idx, size_t *len)
{
    lua_rawgeti(L, LUA_REGISTRYINDEX, sv_lua_state_of(L)->ref_cjson);
    lua_getfield(L, -1, "encode");
    lua_remove(L, -2);
    lua_pushvalue(L, idx);
    if (lua_pcall(L, 1, 1, 0) != 0)
        luaL_error(L, "jwt.sign: the claims cannot be encoded as JSON: %s", lua_tostring(L, -1));
    return lua_tolstring(L, -1, len);
}

/* jwt.sign(claims, key, {alg=...}): the token */
static int l_jwt_sign(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    size_t key_len, claims_len;
    const char *key = luaL_checklstring(L, 2, &key_len);
    sv_jwt_alg_t alg = check_jwt_alg(L, 3, "sign");
    const char *claims = encode_json(L, 1, &claims_len);
    char *token;
    const char *why;
    if (sv_jwt_sign(alg, key, key_len, claims, claims_len, &token, &why) != 0)
        return luaL_error(L, "jwt.sign: %s", why);
    lua_pushstring(L, token);
    free(token);
    return 1;
}

/* jwt.verify(token, key, {alg=...}): the claims as a table, or nil and the reason */
static int l_jwt_verify(lua_State *L)
{
    size_t token_len, key_len;
    const char *token = luaL_checklstring(L, 1, &token_len);
    const char *key = luaL_checklstring(L, 2, &key_len);
    sv_jwt_alg_t alg = check_jwt_alg(L, 3, "verify");
    char *payload;
    const char *why;
    if (sv_jwt_verify(alg, key, key_len, token, token_len, &payload, &why) != 0) {
        lua_pushnil(L);
        lua_pushstring(L, why);
        return 2;
    }
    lua_rawgeti(L, LUA_REGISTRYINDEX, sv_lua_state_of(L)->ref_cjson);
    lua_getfield(L, -1, "decode");
    lua_remove(L, -2);
    lua_pushstring(L, payload);
    free(payload);
    if (lua_pcall(L, 1, 1, 0) != 0) { /* the payload parsed as JSON in C; unlikely */
        lua_pushnil(L);
        lua_insert(L, -2);
        return 2;
    }
    return 1;
}

int sv_lua_open_jwt(lua_State *L)
{
    static const luaL_Reg fns[] = {{"sign", l_jwt_sign}, {"verify", l_jwt_verify}, {NULL, NULL}};
    set_functions(L, fns);
    return 1;
}
