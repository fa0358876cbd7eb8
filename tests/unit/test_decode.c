/*
 * Unit tests for response body decoding (sv_http_decode_body, src/http/client.h):
 * bodies are compressed here with zlib and must come back byte for byte.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <zlib.h>

#include "http/client.h"

enum { WRAP_GZIP, WRAP_ZLIB, WRAP_RAW };

/* Compresses in with the given wrapper (gzip header, zlib header, or raw deflate). */
static void compress_to(sv_buf_t *out, const void *in, size_t len, int wrap, size_t max)
{
    static const int bits[] = {
        [WRAP_GZIP] = 16 + MAX_WBITS, [WRAP_ZLIB] = MAX_WBITS, [WRAP_RAW] = -MAX_WBITS};
    z_stream z = {0};
    cr_assert_eq(deflateInit2(&z, 6, Z_DEFLATED, bits[wrap], 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    sv_buf_init(out, max > cap ? max : cap);
    char *dst = sv_buf_reserve(out, cap);
    cr_assert_not_null(dst);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)dst;
    z.avail_out = (uInt)cap;
    cr_assert_eq(deflate(&z, Z_FINISH), Z_STREAM_END);
    out->len = cap - z.avail_out;
    deflateEnd(&z);
    out->max = max;
    cr_assert_leq(out->len, max, "compressed input larger than the test's cap");
}

/* Text that compresses well but not trivially. */
static char *make_text(size_t len)
{
    static const char *words[] = {"salvo ",       "load ", "test ",    "{\"id\":", "42,",
                                  "\"ok\":true}", "\n",    "latency ", "p99 "};
    char *s = malloc(len + 1);
    uint64_t x = 7;
    for (size_t i = 0; i < len;) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        const char *w = words[(x >> 33) % SV_ARRAY_SIZE(words)];
        for (size_t k = 0; w[k] && i < len; k++)
            s[i++] = w[k];
    }
    s[len] = '\0';
    return s;
}

/* Random bytes: incompressible, so the compressed form is longer than the input. */
static char *make_noise(size_t len)
{
    char *s = malloc(len ? len : 1);
    uint64_t x = 11;
    for (size_t i = 0; i < len; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        s[i] = (char)(x >> 56);
    }
    return s;
}

static void check_round_trip(const char *encoding, int wrap, const char *plain, size_t len,
                             size_t max)
{
    sv_buf_t body;
    compress_to(&body, plain, len, wrap, max);
    int rc = sv_http_decode_body(&body, sv_span(encoding));
    cr_assert_eq(rc, 0, "%s (wrap %d), %zu bytes, max %zu: rc %d", encoding, wrap, len, max, rc);
    cr_assert_eq(body.len, len, "%s: decoded %zu bytes, want %zu", encoding, body.len, len);
    cr_assert(len == 0 || memcmp(body.data, plain, len) == 0, "%s: content differs", encoding);
    cr_assert_eq(body.max, max, "the cap must survive decoding");
    sv_buf_free(&body);
}

Test(decode, gzip_round_trip)
{
    size_t sizes[] = {1, 100, 16383, 16384, 16385, 32768, 100000, 1000000};
    for (size_t i = 0; i < SV_ARRAY_SIZE(sizes); i++) {
        char *text = make_text(sizes[i]), *noise = make_noise(sizes[i]);
        check_round_trip("gzip", WRAP_GZIP, text, sizes[i], 64 << 20);
        check_round_trip("gzip", WRAP_GZIP, noise, sizes[i], 64 << 20);
        free(text);
        free(noise);
    }
}

Test(decode, gzip_empty_payload)
{
    /* A valid gzip stream of nothing decodes to an empty body. */
    check_round_trip("gzip", WRAP_GZIP, "", 0, 1 << 20);
}

Test(decode, deflate_zlib_wrapped_round_trip)
{
    size_t sizes[] = {1, 5000, 16384, 70000};
    for (size_t i = 0; i < SV_ARRAY_SIZE(sizes); i++) {
        char *text = make_text(sizes[i]);
        check_round_trip("deflate", WRAP_ZLIB, text, sizes[i], 64 << 20);
        free(text);
    }
}

Test(decode, deflate_raw_round_trip)
{
    /* Servers that send raw deflate under "deflate" are common enough to accept. */
    size_t sizes[] = {1, 5000, 16384, 70000};
    for (size_t i = 0; i < SV_ARRAY_SIZE(sizes); i++) {
        char *text = make_text(sizes[i]), *noise = make_noise(sizes[i]);
        check_round_trip("deflate", WRAP_RAW, text, sizes[i], 64 << 20);
        check_round_trip("deflate", WRAP_RAW, noise, sizes[i], 64 << 20);
        free(text);
        free(noise);
    }
}

Test(decode, encoding_names)
{
    const char *plain = "hello, hello, hello, hello";
    size_t len = strlen(plain);
    check_round_trip("GZIP", WRAP_GZIP, plain, len, 1 << 20);
    check_round_trip("x-gzip", WRAP_GZIP, plain, len, 1 << 20);
    check_round_trip(" gzip ", WRAP_GZIP, plain, len, 1 << 20);
    check_round_trip("Deflate", WRAP_ZLIB, plain, len, 1 << 20);
}

static void check_untouched(const char *encoding)
{
    /* Bytes that would be garbage to any decoder. */
    static const char raw[] = "\x1f\x8b not really gzip \x78\x9c nor zlib";
    sv_buf_t body;
    sv_buf_init(&body, 1 << 20);
    cr_assert_eq(sv_buf_append(&body, raw, sizeof(raw) - 1), 0);
    const char *before = body.data;
    sv_span_t ce = encoding ? sv_span(encoding) : (sv_span_t){NULL, 0};
    cr_assert_eq(sv_http_decode_body(&body, ce), 0, "encoding \"%s\"",
                 encoding ? encoding : "(none)");
    cr_assert_eq(body.len, sizeof(raw) - 1);
    cr_assert_eq(body.data, before);
    cr_assert_eq(memcmp(body.data, raw, body.len), 0);
    sv_buf_free(&body);
}

Test(decode, no_or_unknown_encoding_leaves_body_alone)
{
    check_untouched(NULL);
    check_untouched("");
    check_untouched("identity");
    check_untouched("br");
    check_untouched("zstd");
    check_untouched("gzipped");
    check_untouched("compress");
}

Test(decode, empty_body_with_encoding)
{
    /* A HEAD or 204 response may announce an encoding without sending a body. */
    sv_buf_t body;
    sv_buf_init(&body, 1 << 20);
    cr_assert_eq(sv_http_decode_body(&body, SV_SPAN_LIT("gzip")), 0);
    cr_assert_eq(body.len, 0);
    sv_buf_free(&body);
}

/* Decoding must fail with want_rc and leave the body as it was. */
static void check_fails(sv_buf_t *body, const char *encoding, int want_rc)
{
    size_t len = body->len;
    char *copy = malloc(len ? len : 1);
    memcpy(copy, body->data, len);
    int rc = sv_http_decode_body(body, sv_span(encoding));
    cr_assert_eq(rc, want_rc, "%s, %zu bytes: rc %d, want %d", encoding, len, rc, want_rc);
    cr_assert_eq(body->len, len, "body length changed on failure");
    cr_assert_eq(memcmp(body->data, copy, len), 0, "body changed on failure");
    free(copy);
}

Test(decode, truncated_input)
{
    char *text = make_text(50000);
    int wraps[] = {WRAP_GZIP, WRAP_ZLIB};
    const char *names[] = {"gzip", "deflate"};
    for (int w = 0; w < 2; w++) {
        sv_buf_t full;
        compress_to(&full, text, 50000, wraps[w], 1 << 20);
        size_t cuts[] = {1,           2, 10, full.len / 3, full.len / 2, full.len - 8, full.len - 4,
                         full.len - 1};
        for (size_t i = 0; i < SV_ARRAY_SIZE(cuts); i++) {
            sv_buf_t body;
            sv_buf_init(&body, 1 << 20);
            sv_buf_append(&body, full.data, cuts[i]);
            check_fails(&body, names[w], SV_EPARSE);
            sv_buf_free(&body);
        }
        sv_buf_free(&full);
    }
    free(text);
}

Test(decode, corrupted_input)
{
    char *text = make_text(20000);
    sv_buf_t body;

    /* Not compressed at all. */
    sv_buf_init(&body, 1 << 20);
    sv_buf_append(&body, text, 1000);
    check_fails(&body, "gzip", SV_EPARSE);
    check_fails(&body, "deflate", SV_EPARSE);
    sv_buf_free(&body);

    /* A flipped byte in the gzip trailer's CRC. */
    compress_to(&body, text, 20000, WRAP_GZIP, 1 << 20);
    body.data[body.len - 6] ^= 0x55;
    check_fails(&body, "gzip", SV_EPARSE);
    sv_buf_free(&body);

    /* A wrong length in the gzip trailer. */
    compress_to(&body, text, 20000, WRAP_GZIP, 1 << 20);
    body.data[body.len - 3] ^= 0x01;
    check_fails(&body, "gzip", SV_EPARSE);
    sv_buf_free(&body);

    /* A flipped byte in the zlib Adler-32 trailer. */
    compress_to(&body, text, 20000, WRAP_ZLIB, 1 << 20);
    body.data[body.len - 1] ^= 0xff;
    check_fails(&body, "deflate", SV_EPARSE);
    sv_buf_free(&body);

    /* A bad gzip magic number. */
    compress_to(&body, text, 20000, WRAP_GZIP, 1 << 20);
    body.data[0] = 0x1e;
    check_fails(&body, "gzip", SV_EPARSE);
    sv_buf_free(&body);

    /* gzip data announced as deflate and the reverse. */
    compress_to(&body, text, 20000, WRAP_GZIP, 1 << 20);
    check_fails(&body, "deflate", SV_EPARSE);
    sv_buf_free(&body);
    compress_to(&body, text, 20000, WRAP_ZLIB, 1 << 20);
    check_fails(&body, "gzip", SV_EPARSE);
    sv_buf_free(&body);
    free(text);
}

Test(decode, output_over_the_cap)
{
    /* 1 MB of text compresses to a few KB, and must not inflate past the cap. */
    size_t len = 1000000;
    char *text = make_text(len);
    size_t caps[] = {len / 2, len * 9 / 10, len - 1};
    for (size_t i = 0; i < SV_ARRAY_SIZE(caps); i++) {
        sv_buf_t body;
        compress_to(&body, text, len, WRAP_GZIP, caps[i]);
        check_fails(&body, "gzip", SV_ETOOBIG);
        sv_buf_free(&body);
        compress_to(&body, text, len, WRAP_ZLIB, caps[i]);
        check_fails(&body, "deflate", SV_ETOOBIG);
        sv_buf_free(&body);
        compress_to(&body, text, len, WRAP_RAW, caps[i]);
        check_fails(&body, "deflate", SV_ETOOBIG);
        sv_buf_free(&body);
    }
    /* A bomb: 64 MB of zeros against a 1 MB cap. */
    size_t zlen = 64u << 20;
    char *zeros = calloc(zlen, 1);
    sv_buf_t body;
    compress_to(&body, zeros, zlen, WRAP_GZIP, 1 << 20);
    check_fails(&body, "gzip", SV_ETOOBIG);
    sv_buf_free(&body);
    free(zeros);
    free(text);
}

Test(decode, small_output_under_a_small_cap)
{
    /* A body that decodes to less than the cap fits, however close to the cap it
     * ends (regression: room was reserved 16 KiB at a time). */
    char *text = make_text(100);
    check_round_trip("gzip", WRAP_GZIP, text, 100, 8000);
    free(text);
    text = make_text(200000);
    check_round_trip("gzip", WRAP_GZIP, text, 200000, 200100);
    /* Exactly max bytes of output is within the cap. */
    check_round_trip("gzip", WRAP_GZIP, text, 200000, 200000);
    check_round_trip("deflate", WRAP_ZLIB, text, 200000, 200000);
    free(text);
}
