/*
 * Digests, HMAC, base64, random bytes, UUIDs and JSON Web Tokens on top of
 * OpenSSL 3's libcrypto (EVP only), for script modules and the demo API.
 * Every function is thread-safe and may be called from any thread.
 */
#ifndef SV_CRYPTO_H
#define SV_CRYPTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util.h"

typedef enum {
    SV_HASH_SHA256,
    SV_HASH_SHA1,
    SV_HASH_MD5,
    SV_HASH_SHA512,
} sv_hash_alg_t;

#define SV_DIGEST_MAX 64                          /* bytes of the longest digest (SHA-512) */
#define SV_DIGEST_HEX_MAX (2 * SV_DIGEST_MAX + 1) /* its hex text with the NUL */

/* "sha256", "sha1", "md5" or "sha512" (case-insensitive). SV_EINVAL otherwise. */
int sv_hash_alg_parse(const char *name, sv_hash_alg_t *out);
/* Digest length in bytes: 32, 20, 16 or 64. */
size_t sv_hash_size(sv_hash_alg_t alg);

/* Raw digest of data into out, which has room for sv_hash_size(alg) bytes
 * (SV_DIGEST_MAX always does); *out_len set when not NULL. SV_EIO if libcrypto
 * fails. */
int sv_digest(sv_hash_alg_t alg, const void *data, size_t len, unsigned char *out, size_t *out_len);
/* The same as lowercase hex, NUL-terminated: 2 * sv_hash_size(alg) + 1 bytes. */
int sv_digest_hex(sv_hash_alg_t alg, const void *data, size_t len, char *out);
/* HMAC of data with key (any length, empty allowed), raw, as sv_digest. */
int sv_hmac(sv_hash_alg_t alg, const void *key, size_t key_len, const void *data, size_t len,
            unsigned char *out, size_t *out_len);
/* Whether a and b (n bytes each) are equal, in time that depends only on n. */
bool sv_crypto_equal(const void *a, const void *b, size_t n);
/* Lowercase hex of n bytes into out (2n + 1 bytes with the NUL). */
void sv_hex_encode(const void *p, size_t n, char *out);

typedef enum {
    SV_B64_STD, /* RFC 4648 §4: + and /, padded with = */
    SV_B64_URL, /* RFC 4648 §5: - and _, unpadded on encode */
} sv_b64_alphabet_t;

/* Appends the base64 text of data to out (no NUL). SV_ETOOBIG past out's cap, and
 * then out is unchanged. */
int sv_base64_encode(sv_buf_t *out, const void *data, size_t len, sv_b64_alphabet_t alphabet);
/* Appends the bytes that text decodes to. Padding is optional in both alphabets,
 * but where present it must be right; whitespace, characters of the other
 * alphabet and impossible lengths are SV_EPARSE (out unchanged). SV_ETOOBIG past
 * out's cap. */
int sv_base64_decode(sv_buf_t *out, const char *text, size_t len, sv_b64_alphabet_t alphabet);

/* n bytes from the CSPRNG. SV_EIO if it cannot be seeded. */
int sv_random_bytes(void *buf, size_t n);

#define SV_UUID_STRLEN 36 /* "xxxxxxxx-xxxx-Mxxx-Nxxx-xxxxxxxxxxxx" */

/* Random UUID (RFC 9562 version 4), lowercase, NUL-terminated. SV_EIO as above. */
int sv_uuid_v4(char out[SV_UUID_STRLEN + 1]);
/* Time-ordered UUID (RFC 9562 version 7): 48-bit Unix milliseconds, then 12 bits
 * of sub-millisecond time, then 62 random bits. Within one process the values
 * strictly increase (across threads too), even if the wall clock steps back. */
int sv_uuid_v7(char out[SV_UUID_STRLEN + 1]);

typedef enum {
    SV_JWT_HS256, /* key: the shared secret, any bytes */
    SV_JWT_RS256, /* key: PEM text, a private key to sign, a public (or private) key to verify */
} sv_jwt_alg_t;

/* "HS256" or "RS256" (exactly). SV_EINVAL otherwise. */
int sv_jwt_alg_parse(const char *name, sv_jwt_alg_t *out);
const char *sv_jwt_alg_name(sv_jwt_alg_t alg);

/* Signs claims (the JSON text of an object, used as the payload byte for byte)
 * into a compact JWS "header.payload.signature" with header
 * {"alg":"…","typ":"JWT"}, base64url without padding. *token is malloc'd, for the
 * caller to free(). On failure returns SV_EINVAL (claims not a JSON object,
 * unusable key) or SV_EIO, with *why set to a static reason and *token NULL. */
int sv_jwt_sign(sv_jwt_alg_t alg, const void *key, size_t key_len, const char *claims,
                size_t claims_len, char **token, const char **why);

/* Verifies token against the algorithm the caller expects (the header's "alg"
 * must name it: a token cannot choose its own algorithm) and key. The signature
 * is compared in constant time. A numeric "exp" claim at or before now fails.
 * On success *payload is the payload's JSON text, malloc'd, for the caller to
 * free(). On failure *payload is NULL, *why a static reason, and the result
 * SV_EPARSE (malformed token), SV_EINVAL (unusable key, wrong algorithm, bad
 * signature) or SV_ERANGE (expired). */
int sv_jwt_verify(sv_jwt_alg_t alg, const void *key, size_t key_len, const char *token,
                  size_t token_len, char **payload, const char **why);

#endif
