/*
 * Unit tests for src/util/crypto.h: known answers from RFC 4231 (HMAC), FIPS 180
 * and RFC 1321 examples (digests), RFC 4648 (base64) and the jwt.io sample token,
 * plus UUID layout and JWT failure modes.
 */
#include <criterion/criterion.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdlib.h>
#include <time.h>

#include "util/crypto.h"
#include "util/util.h"

static char *hex_of(const unsigned char *p, size_t n)
{
    char *s = sv_xmalloc(2 * n + 1);
    sv_hex_encode(p, n, s);
    return s;
}

/* ---- digests and HMAC ------------------------------------------------------------- */

static void check_digest(sv_hash_alg_t alg, const char *data, const char *expect)
{
    char hex[SV_DIGEST_HEX_MAX];
    cr_assert_eq(sv_digest_hex(alg, data, strlen(data), hex), 0);
    cr_assert_str_eq(hex, expect);
    cr_assert_eq(strlen(hex), 2 * sv_hash_size(alg));
}

Test(digest, known_answers)
{
    check_digest(SV_HASH_SHA256, "abc",
                 "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    check_digest(SV_HASH_MD5, "", "d41d8cd98f00b204e9800998ecf8427e");
    check_digest(SV_HASH_SHA1, "abc", "a9993e364706816aba3e25717850c26c9cd0d89d");
    check_digest(SV_HASH_SHA512, "abc",
                 "ddaf35a193617abacc417349ae20413112e6fa4e89a97ea20a9eeee64b55d39a"
                 "2192992a274fc1a836ba3c23a3feebbd454d4423643ce80e2a9ac94fa54ca49f");
}

Test(digest, raw_matches_hex)
{
    unsigned char md[SV_DIGEST_MAX];
    size_t n = 0;
    cr_assert_eq(sv_digest(SV_HASH_SHA256, "abc", 3, md, &n), 0);
    cr_assert_eq(n, 32);
    char *hex = hex_of(md, n);
    cr_assert_str_eq(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    free(hex);
}

Test(digest, alg_names)
{
    sv_hash_alg_t alg;
    cr_assert_eq(sv_hash_alg_parse("SHA512", &alg), 0);
    cr_assert_eq(alg, SV_HASH_SHA512);
    cr_assert_eq(sv_hash_alg_parse("md5", &alg), 0);
    cr_assert_eq(alg, SV_HASH_MD5);
    cr_assert_eq(sv_hash_alg_parse("sha384", &alg), SV_EINVAL);
}

static void check_hmac(sv_hash_alg_t alg, const void *key, size_t key_len, const void *data,
                       size_t len, const char *expect)
{
    unsigned char mac[SV_DIGEST_MAX];
    size_t n = 0;
    cr_assert_eq(sv_hmac(alg, key, key_len, data, len, mac, &n), 0);
    char *hex = hex_of(mac, n);
    cr_assert_str_eq(hex, expect);
    free(hex);
}

Test(hmac, rfc4231_sha256)
{
    unsigned char k1[20], k3[20], d3[50], k4[25], d4[50], k6[131];
    memset(k1, 0x0b, sizeof(k1));
    memset(k3, 0xaa, sizeof(k3));
    memset(d3, 0xdd, sizeof(d3));
    for (size_t i = 0; i < sizeof(k4); i++)
        k4[i] = (unsigned char)(i + 1);
    memset(d4, 0xcd, sizeof(d4));
    memset(k6, 0xaa, sizeof(k6));
    const char *d6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    const char *d7 = "This is a test using a larger than block-size key and a larger than "
                     "block-size data. The key needs to be hashed before being used by the "
                     "HMAC algorithm.";

    check_hmac(SV_HASH_SHA256, k1, sizeof(k1), "Hi There", 8,
               "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    check_hmac(SV_HASH_SHA256, "Jefe", 4, "what do ya want for nothing?", 28,
               "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    check_hmac(SV_HASH_SHA256, k3, sizeof(k3), d3, sizeof(d3),
               "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe");
    check_hmac(SV_HASH_SHA256, k4, sizeof(k4), d4, sizeof(d4),
               "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b");
    check_hmac(SV_HASH_SHA256, k6, sizeof(k6), d6, strlen(d6),
               "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
    check_hmac(SV_HASH_SHA256, k6, sizeof(k6), d7, strlen(d7),
               "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2");
}

Test(hmac, other_algorithms)
{
    const char *data = "what do ya want for nothing?";
    check_hmac(SV_HASH_SHA512, "Jefe", 4, data, strlen(data),
               "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea250554"
               "9758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737");
    check_hmac(SV_HASH_SHA1, "Jefe", 4, data, strlen(data),
               "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79");
    check_hmac(SV_HASH_MD5, "Jefe", 4, data, strlen(data), "750c783e6ab0b503eaa86e310a5db738");
}

Test(hmac, empty_key_and_data)
{
    check_hmac(SV_HASH_SHA256, "", 0, "", 0,
               "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

/* ---- base64 ----------------------------------------------------------------------- */

static char *b64(const void *data, size_t len, sv_b64_alphabet_t a)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    cr_assert_eq(sv_base64_encode(&b, data, len, a), 0);
    sv_buf_append(&b, "", 1);
    return b.data;
}

/* Decodes text; returns the rc and leaves the bytes in *out (to free). */
static int unb64(const char *text, sv_b64_alphabet_t a, sv_buf_t *out)
{
    sv_buf_init(out, SIZE_MAX);
    return sv_base64_decode(out, text, strlen(text), a);
}

static void check_b64(const char *plain, const char *std, const char *url)
{
    char *s = b64(plain, strlen(plain), SV_B64_STD);
    char *u = b64(plain, strlen(plain), SV_B64_URL);
    cr_assert_str_eq(s, std, "std encode of \"%s\"", plain);
    cr_assert_str_eq(u, url, "url encode of \"%s\"", plain);
    free(s);
    free(u);
    const char *texts[] = {std, url};
    for (int a = 0; a < 2; a++) {
        for (int t = 0; t < 2; t++) {
            sv_buf_t out;
            cr_assert_eq(unb64(texts[t], (sv_b64_alphabet_t)a, &out), 0, "decode %s", texts[t]);
            cr_assert_eq(out.len, strlen(plain));
            cr_assert(out.len == 0 || memcmp(out.data, plain, out.len) == 0);
            sv_buf_free(&out);
        }
    }
}

Test(base64, rfc4648_vectors)
{
    check_b64("", "", "");
    check_b64("f", "Zg==", "Zg");
    check_b64("fo", "Zm8=", "Zm8");
    check_b64("foo", "Zm9v", "Zm9v");
    check_b64("foob", "Zm9vYg==", "Zm9vYg");
    check_b64("fooba", "Zm9vYmE=", "Zm9vYmE");
    check_b64("foobar", "Zm9vYmFy", "Zm9vYmFy");
}

Test(base64, alphabets_differ)
{
    const unsigned char a[] = {0xfb, 0xff}, b[] = {0xfb, 0xef, 0xbe};
    char *s = b64(a, sizeof(a), SV_B64_STD), *u = b64(a, sizeof(a), SV_B64_URL);
    cr_assert_str_eq(s, "+/8=");
    cr_assert_str_eq(u, "-_8");
    free(s);
    free(u);
    s = b64(b, sizeof(b), SV_B64_STD);
    u = b64(b, sizeof(b), SV_B64_URL);
    cr_assert_str_eq(s, "++++");
    cr_assert_str_eq(u, "----");
    free(s);
    free(u);
    sv_buf_t out;
    cr_assert_eq(unb64("-_8", SV_B64_STD, &out), SV_EPARSE);
    sv_buf_free(&out);
    cr_assert_eq(unb64("+/8=", SV_B64_URL, &out), SV_EPARSE);
    sv_buf_free(&out);
    cr_assert_eq(unb64("-_8=", SV_B64_URL, &out), 0);
    cr_assert_eq(out.len, 2);
    cr_assert(memcmp(out.data, a, 2) == 0);
    sv_buf_free(&out);
}

Test(base64, invalid_input)
{
    const char *bad[] = {"Z",     "Zg=",      "Zg===", "Zm9v!",
                         "Zm 9v", "Zg==Zg==", "====",  "Zm9vYmE", /* 7 chars: fine */
                         "Zh==",  "Zm9=",     "=Zg=",  "Zm9vYg\n"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        sv_buf_t out;
        int rc = unb64(bad[i], SV_B64_STD, &out);
        if (strcmp(bad[i], "Zm9vYmE") == 0)
            cr_assert_eq(rc, 0, "\"%s\"", bad[i]);
        else
            cr_assert_eq(rc, SV_EPARSE, "\"%s\" gave %d", bad[i], rc);
        sv_buf_free(&out);
    }
}

Test(base64, appends_and_respects_cap)
{
    sv_buf_t b;
    sv_buf_init(&b, 6);
    sv_buf_append(&b, "x", 1);
    cr_assert_eq(sv_base64_encode(&b, "foobar", 6, SV_B64_STD), SV_ETOOBIG);
    cr_assert_eq(b.len, 1);
    cr_assert_eq(sv_base64_encode(&b, "fo", 2, SV_B64_URL), 0);
    cr_assert_eq(b.len, 4);
    cr_assert(memcmp(b.data, "xZm8", 4) == 0);
    sv_buf_free(&b);
}

/* Crosses the encoder's and the decoder's internal chunk sizes. */
Test(base64, long_input)
{
    size_t n = 3 * 1024 + 1;
    unsigned char *zeros = sv_xcalloc(n, 1);
    char *s = b64(zeros, n, SV_B64_STD);
    cr_assert_eq(strlen(s), 4 * 1024 + 4);
    for (size_t i = 0; i < 4 * 1024 + 2; i++)
        cr_assert_eq(s[i], 'A');
    cr_assert_str_eq(s + 4 * 1024 + 2, "==");
    free(s);
    free(zeros);

    n = 100000;
    unsigned char *data = sv_xmalloc(n);
    cr_assert_eq(sv_random_bytes(data, n), 0);
    for (int a = 0; a < 2; a++) {
        char *text = b64(data, n, (sv_b64_alphabet_t)a);
        sv_buf_t out;
        cr_assert_eq(unb64(text, (sv_b64_alphabet_t)a, &out), 0);
        cr_assert_eq(out.len, n);
        cr_assert(memcmp(out.data, data, n) == 0);
        sv_buf_free(&out);
        free(text);
    }
    free(data);
}

Test(base64, round_trip_every_length)
{
    unsigned char data[64];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i * 37 + 11);
    for (size_t n = 0; n <= sizeof(data); n++) {
        for (int a = 0; a < 2; a++) {
            char *text = b64(data, n, (sv_b64_alphabet_t)a);
            sv_buf_t out;
            cr_assert_eq(unb64(text, (sv_b64_alphabet_t)a, &out), 0, "%zu bytes", n);
            cr_assert_eq(out.len, n);
            cr_assert(n == 0 || memcmp(out.data, data, n) == 0);
            sv_buf_free(&out);
            free(text);
        }
    }
}

/* ---- random and UUIDs ------------------------------------------------------------- */

Test(random, fills_and_differs)
{
    unsigned char a[32] = {0}, b[32] = {0}, zero[32] = {0};
    cr_assert_eq(sv_random_bytes(a, sizeof(a)), 0);
    cr_assert_eq(sv_random_bytes(b, sizeof(b)), 0);
    cr_assert(memcmp(a, b, sizeof(a)) != 0);
    cr_assert(memcmp(a, zero, sizeof(a)) != 0);
    cr_assert_eq(sv_random_bytes(a, 0), 0);
}

static void check_uuid_layout(const char *u, char version)
{
    cr_assert_eq(strlen(u), SV_UUID_STRLEN, "%s", u);
    for (int i = 0; i < SV_UUID_STRLEN; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23)
            cr_assert_eq(u[i], '-', "%s", u);
        else
            cr_assert(strchr("0123456789abcdef", u[i]) != NULL && u[i] != '\0', "%s", u);
    }
    cr_assert_eq(u[14], version, "version of %s", u);
    cr_assert(strchr("89ab", u[19]) != NULL, "variant of %s", u);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp((const char *)a, (const char *)b);
}

Test(uuid, v4_layout_and_uniqueness)
{
    enum { N = 1000 };
    static char ids[N][SV_UUID_STRLEN + 1];
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sv_uuid_v4(ids[i]), 0);
        check_uuid_layout(ids[i], '4');
    }
    qsort(ids, N, sizeof(ids[0]), cmp_str);
    for (int i = 1; i < N; i++)
        cr_assert_str_neq(ids[i - 1], ids[i]);
}

static uint64_t wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

Test(uuid, v7_layout_time_and_order)
{
    enum { N = 10000 };
    static char ids[N][SV_UUID_STRLEN + 1];
    uint64_t before = wall_ms();
    for (int i = 0; i < N; i++) {
        cr_assert_eq(sv_uuid_v7(ids[i]), 0);
        check_uuid_layout(ids[i], '7');
        if (i)
            cr_assert_lt(strcmp(ids[i - 1], ids[i]), 0, "%s then %s", ids[i - 1], ids[i]);
    }
    uint64_t after = wall_ms();
    for (int i = 0; i < N; i += N - 1) {
        char hex[13];
        memcpy(hex, ids[i], 8);
        memcpy(hex + 8, ids[i] + 9, 4);
        hex[12] = '\0';
        uint64_t ms = strtoull(hex, NULL, 16);
        /* + 1: the counter may run a tick ahead of the clock, never behind it */
        cr_assert(ms >= before && ms <= after + 1, "%s: %llu not in [%llu, %llu]", ids[i],
                  (unsigned long long)ms, (unsigned long long)before, (unsigned long long)after);
    }
}

/* ---- JWT -------------------------------------------------------------------------- */

#define JWT_IO_SECRET "your-256-bit-secret"
#define JWT_IO_CLAIMS "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}"
#define JWT_IO_TOKEN                                                                               \
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."                                                        \
    "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."                  \
    "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c"

static char *sign(sv_jwt_alg_t alg, const char *key, const char *claims)
{
    char *token = NULL;
    const char *why = NULL;
    int rc = sv_jwt_sign(alg, key, strlen(key), claims, strlen(claims), &token, &why);
    cr_assert_eq(rc, 0, "sign: %s", why ? why : "");
    cr_assert_not_null(token);
    return token;
}

/* Verifies; returns rc, frees the payload after comparing it when expect is set. */
static int verify(sv_jwt_alg_t alg, const char *key, const char *token, const char *expect,
                  const char **why)
{
    char *payload = (char *)"unset";
    *why = NULL;
    int rc = sv_jwt_verify(alg, key, strlen(key), token, strlen(token), &payload, why);
    if (rc == 0) {
        cr_assert_not_null(payload);
        if (expect)
            cr_assert_str_eq(payload, expect);
        free(payload);
    } else {
        cr_assert_null(payload);
        cr_assert_not_null(*why);
    }
    return rc;
}

Test(jwt, hs256_known_token)
{
    char *token = sign(SV_JWT_HS256, JWT_IO_SECRET, JWT_IO_CLAIMS);
    cr_assert_str_eq(token, JWT_IO_TOKEN);
    free(token);
    const char *why;
    cr_assert_eq(verify(SV_JWT_HS256, JWT_IO_SECRET, JWT_IO_TOKEN, JWT_IO_CLAIMS, &why), 0);
}

Test(jwt, hs256_round_trip_and_wrong_secret)
{
    const char *claims = "{\"sub\":\"ana\",\"exp\":4102444800,\"roles\":[\"a\",\"b\"]}";
    char *token = sign(SV_JWT_HS256, "s3cret", claims);
    const char *why;
    cr_assert_eq(verify(SV_JWT_HS256, "s3cret", token, claims, &why), 0);
    cr_assert_eq(verify(SV_JWT_HS256, "s3cret!", token, NULL, &why), SV_EINVAL);
    cr_assert_str_eq(why, "signature verification failed");
    free(token);
}

Test(jwt, tampered_signature_and_payload)
{
    const char *why;
    char *t = sv_xstrdup(JWT_IO_TOKEN);
    char *sig = strrchr(t, '.') + 1;
    sig[5] = sig[5] == 'A' ? 'B' : 'A';
    cr_assert_eq(verify(SV_JWT_HS256, JWT_IO_SECRET, t, NULL, &why), SV_EINVAL);
    free(t);

    /* the last character carries 2 unused bits: changing only those is malformed */
    t = sv_xstrdup(JWT_IO_TOKEN);
    size_t n = strlen(t);
    cr_assert_eq(t[n - 1], 'c');
    t[n - 1] = 'd';
    cr_assert_eq(verify(SV_JWT_HS256, JWT_IO_SECRET, t, NULL, &why), SV_EPARSE);
    free(t);

    /* {"sub":"1234567890","name":"John Doe","iat":1516239023} with the old signature */
    char *forged = sv_xasprintf("%s.%s.%s", "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9",
                                "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2"
                                "MjM5MDIzfQ",
                                "SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
    cr_assert_eq(verify(SV_JWT_HS256, JWT_IO_SECRET, forged, NULL, &why), SV_EINVAL);
    cr_assert_str_eq(why, "signature verification failed");
    free(forged);
}

Test(jwt, wrong_alg_rejected)
{
    const char *why;
    cr_assert_eq(verify(SV_JWT_RS256, JWT_IO_SECRET, JWT_IO_TOKEN, NULL, &why), SV_EINVAL);
    cr_assert_str_eq(why, "the token's algorithm is not the one expected");
    /* {"alg":"none"} with some signature: the header decides nothing */
    const char *none = "eyJhbGciOiJub25lIn0."
                       "eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkpvaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ."
                       "AAAA";
    cr_assert_eq(verify(SV_JWT_HS256, JWT_IO_SECRET, none, NULL, &why), SV_EINVAL);
    cr_assert_str_eq(why, "the token's algorithm is not the one expected");
}

Test(jwt, malformed_rejected)
{
    const char *bad[] = {
        "",
        "abc",
        "a.b",
        "..",
        "eyJhbGciOiJIUzI1NiJ9.e30.",
        "eyJhbGciOiJIUzI1NiJ9.e30.AAAA.AAAA",
        ".e30.AAAA",
        "eyJhbGciOiJIUzI1NiJ9..AAAA",
        "eyJhbGciOiJIUzI1NiJ9.e3!0.AAAA",
        "bm90IGpzb24.e30.AAAA", /* header "not json" */
        "W10.e30.AAAA",         /* header [] */
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        const char *why;
        cr_assert_eq(verify(SV_JWT_HS256, "k", bad[i], NULL, &why), SV_EPARSE, "\"%s\": %s", bad[i],
                     why);
    }
}

Test(jwt, payload_must_be_object)
{
    const char *why;
    char *token = NULL;
    cr_assert_eq(sv_jwt_sign(SV_JWT_HS256, "k", 1, "[1,2]", 5, &token, &why), SV_EINVAL);
    cr_assert_null(token);
    cr_assert_eq(sv_jwt_sign(SV_JWT_HS256, "k", 1, "{nope", 5, &token, &why), SV_EINVAL);
    cr_assert_null(token);
}

Test(jwt, expiry)
{
    const char *why;
    char *token = sign(SV_JWT_HS256, "k", "{\"sub\":\"x\",\"exp\":1000}");
    cr_assert_eq(verify(SV_JWT_HS256, "k", token, NULL, &why), SV_ERANGE);
    cr_assert_str_eq(why, "the token has expired");
    free(token);
    char *claims = sv_xasprintf("{\"exp\":%lld}", (long long)time(NULL) + 3600);
    token = sign(SV_JWT_HS256, "k", claims);
    cr_assert_eq(verify(SV_JWT_HS256, "k", token, claims, &why), 0);
    free(token);
    free(claims);
    token = sign(SV_JWT_HS256, "k", "{\"exp\":\"1000\"}"); /* not a number: not checked */
    cr_assert_eq(verify(SV_JWT_HS256, "k", token, NULL, &why), 0);
    free(token);
}

/* PEM text of a fresh 2048-bit RSA key: the private key, or its public half. */
static char *rsa_pem(EVP_PKEY *pkey, bool private_key)
{
    BIO *bio = BIO_new(BIO_s_mem());
    int ok = private_key ? PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL)
                         : PEM_write_bio_PUBKEY(bio, pkey);
    cr_assert_eq(ok, 1);
    char *data;
    long n = BIO_get_mem_data(bio, &data);
    char *pem = sv_xstrndup(data, (size_t)n);
    BIO_free(bio);
    return pem;
}

Test(jwt, rs256_round_trip_and_wrong_key)
{
    EVP_PKEY *k1 = EVP_RSA_gen(2048), *k2 = EVP_RSA_gen(2048);
    cr_assert(k1 && k2);
    char *priv1 = rsa_pem(k1, true), *pub1 = rsa_pem(k1, false), *pub2 = rsa_pem(k2, false);
    const char *claims = "{\"sub\":\"ana\",\"admin\":true}";
    char *token = sign(SV_JWT_RS256, priv1, claims);
    cr_assert(strncmp(token, "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.", 37) == 0, "%s", token);
    const char *why;
    cr_assert_eq(verify(SV_JWT_RS256, pub1, token, claims, &why), 0);
    cr_assert_eq(verify(SV_JWT_RS256, priv1, token, claims, &why), 0);
    cr_assert_eq(verify(SV_JWT_RS256, pub2, token, NULL, &why), SV_EINVAL);
    cr_assert_str_eq(why, "signature verification failed");
    /* the public key used as an HMAC secret must not verify an RS256 token */
    cr_assert_eq(verify(SV_JWT_HS256, pub1, token, NULL, &why), SV_EINVAL);
    cr_assert_eq(verify(SV_JWT_RS256, "not a key", token, NULL, &why), SV_EINVAL);
    cr_assert_str_eq(why, "the key is not a PEM public key");

    char *bad = NULL;
    cr_assert_eq(sv_jwt_sign(SV_JWT_RS256, pub1, strlen(pub1), claims, strlen(claims), &bad, &why),
                 SV_EINVAL);
    cr_assert_null(bad);
    cr_assert_str_eq(why, "the key is not a PEM private key");
    free(token);
    free(priv1);
    free(pub1);
    free(pub2);
    EVP_PKEY_free(k1);
    EVP_PKEY_free(k2);
}

Test(jwt, rs256_short_key_rejected)
{
    EVP_PKEY *k = EVP_RSA_gen(1024);
    cr_assert_not_null(k);
    char *priv = rsa_pem(k, true);
    char *token = NULL;
    const char *why;
    cr_assert_eq(sv_jwt_sign(SV_JWT_RS256, priv, strlen(priv), "{}", 2, &token, &why), SV_EINVAL);
    cr_assert_str_eq(why, "RS256 needs an RSA key of at least 2048 bits");
    free(priv);
    EVP_PKEY_free(k);
}
