/*
 * TLS for the client, with OpenSSL 3, I/O-free: a connection's TLS engine reads the
 * bytes that came off the socket and hands back the bytes to write, so the client
 * keeps doing all socket I/O on its libuv loop. One sv_tls_t (an SSL_CTX and the
 * client certificates) serves every worker thread; each connection has its own
 * sv_tls_conn_t, and keeps the session of its last handshake to resume it on
 * reconnect (TLS 1.3 tickets or TLS 1.2 session ids), as a real client does.
 *
 * Verification is on by default, against the system store (or --cacert), with the
 * host name checked against the certificate (SNI sent for names, not addresses).
 */
#ifndef SV_HTTP_TLS_H
#define SV_HTTP_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A client certificate for some hosts (k6's tlsAuth): cert and key are PEM text or
 * paths to PEM files. domains: host names it is offered to (none: every host). */
typedef struct {
    char *cert, *key;
    char *password; /* an encrypted key's, or NULL */
    char **domains;
    size_t n_domains;
} sv_tls_auth_t;

/* TLS versions as k6 spells them: "tls1.0" … "tls1.3". 0: the library's default. */
typedef enum { SV_TLS_ANY = 0, SV_TLS_1_0, SV_TLS_1_1, SV_TLS_1_2, SV_TLS_1_3 } sv_tls_version_t;

/* What the user asked for (options insecureSkipTLSVerify, tlsAuth, tlsVersion,
 * tlsCipherSuites; flags --insecure, --cacert, --cert/--key). Pure data. */
typedef struct {
    bool insecure;
    char *ca_file; /* PEM bundle trusted instead of the system store, or NULL */
    sv_tls_auth_t *auth;
    size_t n_auth;
    sv_tls_version_t min_version, max_version;
    char **ciphers; /* IANA names, as k6 takes them (TLS_ECDHE_RSA_WITH_…) */
    size_t n_ciphers;
} sv_tls_opts_t;

void sv_tls_opts_free(sv_tls_opts_t *o);
/* "tls1.2" → SV_TLS_1_2; SV_TLS_ANY (and false) when unknown. */
bool sv_tls_version_parse(const char *s, sv_tls_version_t *v);
/* Whether an IANA cipher suite name is one OpenSSL knows. */
bool sv_tls_cipher_known(const char *name);

typedef struct sv_tls sv_tls_t;

/* Builds the shared context. SV_EINVAL with a one-line reason in err (a CA file or a
 * certificate that cannot be read, a key that does not match, a bad version range). */
int sv_tls_new(sv_tls_t **out, const sv_tls_opts_t *o, char *err, size_t size);
void sv_tls_free(sv_tls_t *t);

/* ---- one connection ------------------------------------------------------------ */

typedef struct sv_tls_conn sv_tls_conn_t;
typedef struct sv_tls_session sv_tls_session_t; /* a session to resume (OpenSSL's) */

typedef enum {
    SV_TLS_OK,     /* done (handshake) or bytes produced (read) */
    SV_TLS_WANT,   /* needs more bytes from the peer */
    SV_TLS_CLOSED, /* the peer closed the session (close_notify) */
    SV_TLS_FAILED, /* see sv_tls_error */
} sv_tls_status_t;

/* A new session to host (SNI and the name verified), offering h2 and http/1.1 by
 * ALPN (or http/1.1 alone), and to resume `resume` (a session an earlier connection
 * to the same host left, or NULL). NULL when OpenSSL cannot make one. */
sv_tls_conn_t *sv_tls_conn_new(const sv_tls_t *t, const char *host, bool numeric_host,
                               bool offer_h2, const sv_tls_session_t *resume);
void sv_tls_conn_free(sv_tls_conn_t *c);
/* The session to offer when reconnecting to the same host (the latest ticket the
 * server gave, else the one resumed), handed to the caller; NULL if none. */
sv_tls_session_t *sv_tls_conn_take_session(sv_tls_conn_t *c);
void sv_tls_session_free(sv_tls_session_t *s);

/* Bytes that came from the socket. */
void sv_tls_feed(sv_tls_conn_t *c, const char *data, size_t len);
sv_tls_status_t sv_tls_handshake(sv_tls_conn_t *c);
/* Encrypts len bytes of plaintext into the outgoing bytes. */
sv_tls_status_t sv_tls_write(sv_tls_conn_t *c, const void *data, size_t len);
/* Decrypts into buf: SV_TLS_OK with *n > 0, SV_TLS_WANT when nothing more is
 * buffered, SV_TLS_CLOSED or SV_TLS_FAILED. */
sv_tls_status_t sv_tls_read(sv_tls_conn_t *c, char *buf, size_t cap, size_t *n);
/* Moves up to cap outgoing bytes into buf; returns how many (0: none pending). */
size_t sv_tls_take_output(sv_tls_conn_t *c, char *buf, size_t cap);

/* After SV_TLS_FAILED: a k6 error code (1300 generic, 1310 unknown authority, 1311
 * host name mismatch, 1312 expired or not yet valid) and a static message. */
int sv_tls_error(const sv_tls_conn_t *c, const char **message);

/* After the handshake: "tls1.3" (k6's spelling), and the IANA suite name. */
const char *sv_tls_version_name(const sv_tls_conn_t *c);
const char *sv_tls_cipher_name(const sv_tls_conn_t *c);
/* Whether the server picked h2 by ALPN. */
bool sv_tls_alpn_h2(const sv_tls_conn_t *c);

#endif
