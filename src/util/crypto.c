/*
 * Crypto helpers over libcrypto's EVP API. Failures of OpenSSL itself clear the
 * thread's error queue before returning, because TLS code on the same worker
 * thread reads that queue to classify its own errors.
 */
#include "crypto.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#define B64_CHUNK_IN 3072   /* bytes encoded per EVP_EncodeBlock call: a multiple of 3 */
#define B64_CHUNK_TEXT 4096 /* characters decoded per EVP_DecodeBlock call: a multiple of 4 */
#define RSA_MIN_BITS 2048   /* RFC 7518 §3.3 */

/* ---- digests and HMAC ------------------------------------------------------------- */

static const struct {
    const char *name;
    size_t size;
} hash_info[] = {
    [SV_HASH_SHA256] = {"sha256", 32},
    [SV_HASH_SHA1] = {"sha1", 20},
    [SV_HASH_MD5] = {"md5", 16},
    [SV_HASH_SHA512] = {"sha512", 64},
};

static const EVP_MD *hash_md(sv_hash_alg_t alg)
{
    switch (alg) {
    case SV_HASH_SHA1:
        return EVP_sha1();
    case SV_HASH_MD5:
        return EVP_md5();
    case SV_HASH_SHA512:
        return EVP_sha512();
    default:
        return EVP_sha256();
    }
}

int sv_hash_alg_parse(const char *name, sv_hash_alg_t *out)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(hash_info); i++) {
        if (strcasecmp(name, hash_info[i].name) == 0) {
            *out = (sv_hash_alg_t)i;
            return 0;
        }
    }
    return SV_EINVAL;
}

size_t sv_hash_size(sv_hash_alg_t alg)
{
    return hash_info[alg].size;
}

int sv_digest(sv_hash_alg_t alg, const void *data, size_t len, unsigned char *out, size_t *out_len)
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, hash_md(alg), NULL) != 1) {
        ERR_clear_error();
        return SV_EIO;
    }
    if (out_len)
        *out_len = n;
    return 0;
}

bool sv_crypto_equal(const void *a, const void *b, size_t n)
{
    return CRYPTO_memcmp(a, b, n) == 0;
}

void sv_hex_encode(const void *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    const unsigned char *s = p;
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[s[i] >> 4];
        out[2 * i + 1] = digits[s[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

int sv_digest_hex(sv_hash_alg_t alg, const void *data, size_t len, char *out)
{
    unsigned char md[SV_DIGEST_MAX];
    size_t n;
    int rc = sv_digest(alg, data, len, md, &n);
    if (rc == 0)
        sv_hex_encode(md, n, out);
    return rc;
}

int sv_hmac(sv_hash_alg_t alg, const void *key, size_t key_len, const void *data, size_t len,
            unsigned char *out, size_t *out_len)
{
    /* EVP_MAC treats a NULL key as "keep the previous one", so an empty key must
     * still be a valid pointer. */
    static const unsigned char empty;
    size_t n = 0;
    const char *digest = EVP_MD_get0_name(hash_md(alg));
    if (EVP_Q_mac(NULL, "HMAC", NULL, digest, NULL, key_len ? key : &empty, key_len, data, len, out,
                  sv_hash_size(alg), &n) == NULL) {
        ERR_clear_error();
        return SV_EIO;
    }
    if (out_len)
        *out_len = n;
    return 0;
}

/* ---- base64 ----------------------------------------------------------------------- */

static size_t b64_encoded_len(size_t len, sv_b64_alphabet_t alphabet)
{
    if (alphabet == SV_B64_STD)
        return (len + 2) / 3 * 4;
    return len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);
}

/* EVP speaks only the standard alphabet: translate the text it produced. */
static void b64_to_url(char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '+')
            p[i] = '-';
        else if (p[i] == '/')
            p[i] = '_';
    }
}

int sv_base64_encode(sv_buf_t *out, const void *data, size_t len, sv_b64_alphabet_t alphabet)
{
    size_t total = b64_encoded_len(len, alphabet);
    if (total == 0)
        return 0; /* sv_buf_reserve has no room to give for nothing in an empty buffer */
    char *dst = sv_buf_reserve(out, total);
    if (dst == NULL)
        return SV_ETOOBIG;
    const unsigned char *src = data;
    unsigned char text[B64_CHUNK_TEXT + 1];
    size_t done = 0;
    for (size_t off = 0; off < len; off += B64_CHUNK_IN) {
        size_t n = SV_MIN(len - off, (size_t)B64_CHUNK_IN);
        size_t produced = (size_t)EVP_EncodeBlock(text, src + off, (int)n);
        size_t keep = SV_MIN(produced, total - done); /* drops '=' in the URL alphabet */
        memcpy(dst + done, text, keep);
        done += keep;
    }
    if (alphabet == SV_B64_URL)
        b64_to_url(dst, done);
    out->len += done;
    return 0;
}

/* The 6-bit value of c in the alphabet, or -1. */
static int b64_value(char c, sv_b64_alphabet_t alphabet)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == (alphabet == SV_B64_URL ? '-' : '+'))
        return 62;
    if (c == (alphabet == SV_B64_URL ? '_' : '/'))
        return 63;
    return -1;
}

/* Checks text and returns the number of data characters (without padding), or
 * SV_EPARSE. Bits left over in the last character must be zero, so that every
 * byte string has exactly one encoding: a JWT signature cannot be altered in its
 * last character and still verify. */
static int64_t b64_check(const char *text, size_t len, sv_b64_alphabet_t alphabet)
{
    size_t pads = 0;
    while (pads < 2 && pads < len && text[len - 1 - pads] == '=')
        pads++;
    size_t n = len - pads;
    if ((pads && len % 4 != 0) || n % 4 == 1)
        return SV_EPARSE;
    for (size_t i = 0; i < n; i++)
        if (b64_value(text[i], alphabet) < 0)
            return SV_EPARSE;
    if (n % 4 == 2 && (b64_value(text[n - 1], alphabet) & 0x0f) != 0)
        return SV_EPARSE;
    if (n % 4 == 3 && (b64_value(text[n - 1], alphabet) & 0x03) != 0)
        return SV_EPARSE;
    return (int64_t)n;
}

/* Decodes n checked data characters (a multiple of 4, or the final part of the
 * text) into dst; returns the number of bytes. */
static size_t b64_decode_chunk(unsigned char *dst, const char *text, size_t n)
{
    char std[B64_CHUNK_TEXT];
    size_t i;
    for (i = 0; i < n; i++)
        std[i] = text[i] == '-' ? '+' : text[i] == '_' ? '/' : text[i];
    for (; i % 4; i++)
        std[i] = '=';
    unsigned char bytes[B64_CHUNK_TEXT / 4 * 3];
    (void)EVP_DecodeBlock(bytes, (const unsigned char *)std, (int)i);
    /* EVP_DecodeBlock counts the zero bytes that padding stands for; drop them */
    size_t produced = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    memcpy(dst, bytes, produced);
    return produced;
}

int sv_base64_decode(sv_buf_t *out, const char *text, size_t len, sv_b64_alphabet_t alphabet)
{
    int64_t checked = b64_check(text, len, alphabet);
    if (checked < 0)
        return (int)checked;
    size_t n = (size_t)checked;
    size_t total = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (total == 0)
        return 0;
    char *dst = sv_buf_reserve(out, total);
    if (dst == NULL)
        return SV_ETOOBIG;
    size_t done = 0;
    for (size_t off = 0; off < n; off += B64_CHUNK_TEXT)
        done += b64_decode_chunk((unsigned char *)dst + done, text + off,
                                 SV_MIN(n - off, (size_t)B64_CHUNK_TEXT));
    out->len += done;
    return 0;
}

/* ---- random bytes and UUIDs ------------------------------------------------------- */

int sv_random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t chunk = SV_MIN(n, (size_t)INT_MAX);
        if (RAND_bytes(p, (int)chunk) != 1) {
            ERR_clear_error();
            return SV_EIO;
        }
        p += chunk;
        n -= chunk;
    }
    return 0;
}

static void uuid_format(const unsigned char b[16], char out[SV_UUID_STRLEN + 1])
{
    static const int groups[] = {4, 2, 2, 2, 6};
    size_t at = 0, pos = 0;
    for (size_t g = 0; g < SV_ARRAY_SIZE(groups); g++) {
        if (g)
            out[pos++] = '-';
        sv_hex_encode(b + at, (size_t)groups[g], out + pos);
        at += (size_t)groups[g];
        pos += 2 * (size_t)groups[g];
    }
}

/* Sets the version nibble and the RFC 9562 variant bits (10xx). */
static void uuid_stamp(unsigned char b[16], unsigned version)
{
    b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
}

int sv_uuid_v4(char out[SV_UUID_STRLEN + 1])
{
    unsigned char b[16];
    int rc = sv_random_bytes(b, sizeof(b));
    if (rc != 0)
        return rc;
    uuid_stamp(b, 4);
    uuid_format(b, out);
    return 0;
}

/* The last 60-bit time value handed out: Unix ms << 12 | 1/4096ths of a ms. */
static atomic_uint_fast64_t last_v7;

/* The next v7 time value: the clock (RFC 9562 §6.2 method 3), or one more than
 * the last value when the clock has not moved on or went back (method 1's
 * counter, which may run ahead of the clock by a tick rather than repeat). */
static uint64_t v7_next_time(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    uint64_t frac = (uint64_t)(ts.tv_nsec % 1000000) * 4096 / 1000000;
    uint64_t now = ms << 12 | frac;
    uint_fast64_t last = atomic_load(&last_v7);
    uint64_t next;
    do {
        next = now > last ? now : last + 1;
    } while (!atomic_compare_exchange_weak(&last_v7, &last, next));
    return next;
}

int sv_uuid_v7(char out[SV_UUID_STRLEN + 1])
{
    unsigned char b[16];
    int rc = sv_random_bytes(b + 8, 8);
    if (rc != 0)
        return rc;
    uint64_t t = v7_next_time();
    uint64_t ms = t >> 12;
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((t >> 8) & 0x0f);
    b[7] = (unsigned char)(t & 0xff);
    uuid_stamp(b, 7);
    uuid_format(b, out);
    return 0;
}

/* ---- JWT -------------------------------------------------------------------------- */

int sv_jwt_alg_parse(const char *name, sv_jwt_alg_t *out)
{
    if (strcmp(name, "HS256") == 0)
        *out = SV_JWT_HS256;
    else if (strcmp(name, "RS256") == 0)
        *out = SV_JWT_RS256;
    else
        return SV_EINVAL;
    return 0;
}

const char *sv_jwt_alg_name(sv_jwt_alg_t alg)
{
    return alg == SV_JWT_RS256 ? "RS256" : "HS256";
}

/* OpenSSL's default would prompt on the terminal for an encrypted key. */
static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

static EVP_PKEY *pem_read(const void *pem, size_t len, bool public_key)
{
    BIO *bio = BIO_new_mem_buf(pem, (int)SV_MIN(len, (size_t)INT_MAX));
    EVP_PKEY *pkey = NULL;
    if (bio && public_key)
        pkey = PEM_read_bio_PUBKEY(bio, NULL, no_passphrase, NULL);
    else if (bio)
        pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL);
    BIO_free(bio);
    ERR_clear_error();
    return pkey;
}

/* An RSA key of at least RSA_MIN_BITS from PEM text; NULL with *why if not. A
 * private key also does to verify, as it holds the public one. */
static EVP_PKEY *rsa_key_load(const void *pem, size_t len, bool private_key, const char **why)
{
    EVP_PKEY *pkey = private_key ? NULL : pem_read(pem, len, true);
    if (pkey == NULL)
        pkey = pem_read(pem, len, false);
    if (pkey == NULL) {
        *why = private_key ? "the key is not a PEM private key" : "the key is not a PEM public key";
    } else if (!EVP_PKEY_is_a(pkey, "RSA")) {
        *why = "RS256 needs an RSA key";
    } else if (EVP_PKEY_get_bits(pkey) < RSA_MIN_BITS) {
        *why = "RS256 needs an RSA key of at least 2048 bits";
    } else {
        return pkey;
    }
    EVP_PKEY_free(pkey);
    return NULL;
}

static int rsa_sign(const void *key, size_t key_len, const char *input, size_t len, sv_buf_t *sig,
                    const char **why)
{
    int rc = SV_EINVAL;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pkey = rsa_key_load(key, key_len, true, why);
    if (pkey == NULL)
        goto out;
    rc = SV_EIO;
    *why = "RSA signing failed";
    size_t n = (size_t)EVP_PKEY_get_size(pkey);
    unsigned char *dst = (unsigned char *)sv_buf_reserve(sig, n);
    ctx = EVP_MD_CTX_new();
    if (dst == NULL || ctx == NULL ||
        EVP_DigestSignInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestSign(ctx, dst, &n, (const unsigned char *)input, len) != 1)
        goto out;
    sig->len += n;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

static int rsa_verify(const void *key, size_t key_len, const char *input, size_t len,
                      const sv_buf_t *sig, const char **why)
{
    int rc = SV_EINVAL;
    EVP_MD_CTX *ctx = NULL;
    EVP_PKEY *pkey = rsa_key_load(key, key_len, false, why);
    if (pkey == NULL)
        goto out;
    *why = "signature verification failed";
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL || EVP_DigestVerifyInit(ctx, NULL, EVP_sha256(), NULL, pkey) != 1 ||
        EVP_DigestVerify(ctx, (const unsigned char *)sig->data, sig->len,
                         (const unsigned char *)input, len) != 1)
        goto out;
    rc = 0;
out:
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    ERR_clear_error();
    return rc;
}

/* Appends the signature of input (raw bytes) to sig. */
static int jwt_signature(sv_jwt_alg_t alg, const void *key, size_t key_len, const char *input,
                         size_t len, sv_buf_t *sig, const char **why)
{
    if (alg == SV_JWT_RS256)
        return rsa_sign(key, key_len, input, len, sig, why);
    unsigned char mac[SV_DIGEST_MAX];
    size_t n;
    if (sv_hmac(SV_HASH_SHA256, key, key_len, input, len, mac, &n) != 0) {
        *why = "HMAC failed";
        return SV_EIO;
    }
    return sv_buf_append(sig, mac, n);
}

/* Whether text is the JSON of an object. */
static bool is_json_object(const char *text, size_t len)
{
    json_t *j = json_loadb(text, len, 0, NULL);
    bool ok = json_is_object(j);
    json_decref(j);
    return ok;
}

int sv_jwt_sign(sv_jwt_alg_t alg, const void *key, size_t key_len, const char *claims,
                size_t claims_len, char **token, const char **why)
{
    *token = NULL;
    if (!is_json_object(claims, claims_len)) {
        *why = "the claims are not a JSON object";
        return SV_EINVAL;
    }
    char *header = sv_xasprintf("{\"alg\":\"%s\",\"typ\":\"JWT\"}", sv_jwt_alg_name(alg));
    sv_buf_t b, sig;
    sv_buf_init(&b, SIZE_MAX);
    sv_buf_init(&sig, SIZE_MAX);
    sv_base64_encode(&b, header, strlen(header), SV_B64_URL);
    sv_buf_append(&b, ".", 1);
    sv_base64_encode(&b, claims, claims_len, SV_B64_URL);
    int rc = jwt_signature(alg, key, key_len, b.data, b.len, &sig, why);
    if (rc == 0) {
        sv_buf_append(&b, ".", 1);
        sv_base64_encode(&b, sig.data, sig.len, SV_B64_URL);
        sv_buf_append(&b, "", 1);
        *token = b.data;
    } else {
        sv_buf_free(&b);
    }
    sv_buf_free(&sig);
    free(header);
    return rc;
}

/* The three parts of a compact JWS, decoded. */
typedef struct {
    size_t input_len; /* "header.payload": the signed bytes at the start of the token */
    sv_buf_t header, payload, sig;
} jwt_parts_t;

static int jwt_split(const char *token, size_t len, jwt_parts_t *p, const char **why)
{
    *why = "malformed token: expected header.payload.signature in base64url";
    const char *dot1 = memchr(token, '.', len);
    const char *dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
    if (dot2 == NULL || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token)) != NULL)
        return SV_EPARSE;
    p->input_len = (size_t)(dot2 - token);
    size_t sig_len = len - p->input_len - 1;
    if (dot1 == token || dot2 == dot1 + 1 || sig_len == 0 ||
        sv_base64_decode(&p->header, token, (size_t)(dot1 - token), SV_B64_URL) != 0 ||
        sv_base64_decode(&p->payload, dot1 + 1, (size_t)(dot2 - dot1 - 1), SV_B64_URL) != 0 ||
        sv_base64_decode(&p->sig, dot2 + 1, sig_len, SV_B64_URL) != 0)
        return SV_EPARSE;
    return 0;
}

/* The header must be a JSON object whose "alg" is the one the caller expects. */
static int jwt_check_header(const sv_buf_t *header, sv_jwt_alg_t alg, const char **why)
{
    json_t *h = json_loadb(header->data ? header->data : "", header->len, 0, NULL);
    const char *name = json_string_value(json_object_get(h, "alg"));
    int rc = 0;
    if (!json_is_object(h) || name == NULL) {
        *why = "malformed token: the header is not a JSON object with an \"alg\"";
        rc = SV_EPARSE;
    } else if (strcmp(name, sv_jwt_alg_name(alg)) != 0) {
        *why = "the token's algorithm is not the one expected";
        rc = SV_EINVAL;
    }
    json_decref(h);
    return rc;
}

static int jwt_check_signature(sv_jwt_alg_t alg, const void *key, size_t key_len, const char *token,
                               const jwt_parts_t *p, const char **why)
{
    if (alg == SV_JWT_RS256)
        return rsa_verify(key, key_len, token, p->input_len, &p->sig, why);
    sv_buf_t mac;
    sv_buf_init(&mac, SIZE_MAX);
    int rc = jwt_signature(alg, key, key_len, token, p->input_len, &mac, why);
    if (rc == 0 && (mac.len != p->sig.len || !sv_crypto_equal(mac.data, p->sig.data, mac.len))) {
        *why = "signature verification failed";
        rc = SV_EINVAL;
    }
    sv_buf_free(&mac);
    return rc;
}

/* The payload must be a JSON object; a numeric "exp" must be in the future. */
static int jwt_check_claims(const sv_buf_t *payload, const char **why)
{
    json_t *c = json_loadb(payload->data ? payload->data : "", payload->len, 0, NULL);
    json_t *exp = json_object_get(c, "exp");
    int rc = 0;
    if (!json_is_object(c)) {
        *why = "malformed token: the payload is not a JSON object";
        rc = SV_EPARSE;
    } else if (json_is_number(exp) && json_number_value(exp) <= (double)time(NULL)) {
        *why = "the token has expired";
        rc = SV_ERANGE;
    }
    json_decref(c);
    return rc;
}

int sv_jwt_verify(sv_jwt_alg_t alg, const void *key, size_t key_len, const char *token,
                  size_t token_len, char **payload, const char **why)
{
    *payload = NULL;
    jwt_parts_t p = {0};
    sv_buf_init(&p.header, SIZE_MAX);
    sv_buf_init(&p.payload, SIZE_MAX);
    sv_buf_init(&p.sig, SIZE_MAX);
    int rc = jwt_split(token, token_len, &p, why);
    if (rc == 0)
        rc = jwt_check_header(&p.header, alg, why);
    if (rc == 0)
        rc = jwt_check_signature(alg, key, key_len, token, &p, why);
    if (rc == 0)
        rc = jwt_check_claims(&p.payload, why);
    if (rc == 0) {
        sv_buf_append(&p.payload, "", 1);
        *payload = p.payload.data;
        p.payload = (sv_buf_t){0};
    }
    sv_buf_free(&p.header);
    sv_buf_free(&p.payload);
    sv_buf_free(&p.sig);
    return rc;
}
