/*
 * TLS engines on memory BIOs (see tls.h).
 */
#include "tls.h"

#include <errno.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "client.h"

typedef struct {
    X509 *cert;
    STACK_OF(X509) * chain;
    EVP_PKEY *key;
    char **domains; /* borrowed from the options, which outlive the context */
    size_t n_domains;
} client_cert_t;

struct sv_tls {
    SSL_CTX *ctx;
    client_cert_t *certs;
    size_t n_certs;
};

struct sv_tls_conn {
    SSL *ssl;
    BIO *in, *out;        /* bytes from the socket; bytes for the socket */
    SSL_SESSION *session; /* the latest the server gave, to resume on reconnect */
    const char *message;  /* static */
    int error_code;
};

/* ---- options --------------------------------------------------------------------- */

void sv_tls_opts_free(sv_tls_opts_t *o)
{
    free(o->ca_file);
    for (size_t i = 0; i < o->n_auth; i++) {
        free(o->auth[i].cert);
        free(o->auth[i].key);
        free(o->auth[i].password);
        for (size_t d = 0; d < o->auth[i].n_domains; d++)
            free(o->auth[i].domains[d]);
        free(o->auth[i].domains);
    }
    free(o->auth);
    for (size_t i = 0; i < o->n_ciphers; i++)
        free(o->ciphers[i]);
    free(o->ciphers);
    *o = (sv_tls_opts_t){0};
}

static const struct {
    const char *name;
    sv_tls_version_t v;
    int openssl;
} versions[] = {
    {"tls1.0", SV_TLS_1_0, TLS1_VERSION},
    {"tls1.1", SV_TLS_1_1, TLS1_1_VERSION},
    {"tls1.2", SV_TLS_1_2, TLS1_2_VERSION},
    {"tls1.3", SV_TLS_1_3, TLS1_3_VERSION},
};

bool sv_tls_version_parse(const char *s, sv_tls_version_t *v)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(versions); i++)
        if (strcmp(s, versions[i].name) == 0) {
            *v = versions[i].v;
            return true;
        }
    *v = SV_TLS_ANY;
    return false;
}

static int openssl_version(sv_tls_version_t v)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(versions); i++)
        if (versions[i].v == v)
            return versions[i].openssl;
    return 0;
}

/* TLS 1.3 suites are named alike by IANA and OpenSSL, and set apart from the rest. */
static bool tls13_suite(const char *name)
{
    static const char *const suites[] = {"TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384",
                                         "TLS_CHACHA20_POLY1305_SHA256", "TLS_AES_128_CCM_SHA256",
                                         "TLS_AES_128_CCM_8_SHA256"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(suites); i++)
        if (strcmp(name, suites[i]) == 0)
            return true;
    return false;
}

bool sv_tls_cipher_known(const char *name)
{
    return tls13_suite(name) || strcmp(OPENSSL_cipher_name(name), "(NONE)") != 0;
}

/* ---- the shared context ------------------------------------------------------------ */

/* The first OpenSSL error's reason, for messages. */
static const char *ssl_reason(void)
{
    const char *r = ERR_reason_error_string(ERR_peek_last_error());
    return r ? r : "unknown error";
}

static BIO *pem_source(const char *text_or_path)
{
    if (strstr(text_or_path, "-----BEGIN ") != NULL)
        return BIO_new_mem_buf(text_or_path, -1);
    return BIO_new_file(text_or_path, "r");
}

/* How an encrypted key's password is asked for: never on the terminal (OpenSSL's
 * default), which would stop a test; the entry's password, or none. */
typedef struct {
    const char *password;
    bool asked;
} key_password_t;

static int key_password(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    key_password_t *p = u;
    p->asked = true;
    if (p->password == NULL)
        return -1;
    size_t n = strlen(p->password);
    if (n > (size_t)size)
        return -1;
    memcpy(buf, p->password, n);
    return (int)n;
}

static int load_key(client_cert_t *cc, const sv_tls_auth_t *a, size_t i, char *err, size_t size)
{
    key_password_t pw = {.password = a->password};
    BIO *b = pem_source(a->key);
    cc->key = b ? PEM_read_bio_PrivateKey(b, NULL, key_password, &pw) : NULL;
    BIO_free(b);
    if (cc->key && a->password && !pw.asked) {
        snprintf(err, size, "tlsAuth[%zu].password (or --key-password): the key is not encrypted",
                 i);
        return SV_EINVAL;
    }
    if (cc->key)
        return 0;
    if (pw.asked && a->password == NULL)
        snprintf(err, size,
                 "tlsAuth[%zu].key (or --key): the key is encrypted; give its password "
                 "(tlsAuth[%zu].password or --key-password)",
                 i, i);
    else if (pw.asked)
        snprintf(err, size,
                 "tlsAuth[%zu].password (or --key-password): wrong password for the encrypted key",
                 i);
    else
        snprintf(err, size,
                 "tlsAuth[%zu].key (or --key): not a PEM private key or a readable file (%s)", i,
                 ssl_reason());
    return SV_EINVAL;
}

static int load_cert(client_cert_t *cc, const sv_tls_auth_t *a, size_t i, char *err, size_t size)
{
    BIO *b = pem_source(a->cert);
    cc->cert = b ? PEM_read_bio_X509(b, NULL, NULL, NULL) : NULL;
    if (cc->cert) {
        cc->chain = sk_X509_new_null();
        X509 *extra;
        while ((extra = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
            sk_X509_push(cc->chain, extra);
    }
    BIO_free(b);
    if (cc->cert == NULL) {
        snprintf(err, size,
                 "tlsAuth[%zu].cert (or --cert): not a PEM certificate or a readable file (%s)", i,
                 ssl_reason());
        return SV_EINVAL;
    }
    if (load_key(cc, a, i, err, size) != 0)
        return SV_EINVAL;
    if (X509_check_private_key(cc->cert, cc->key) != 1) {
        snprintf(err, size, "tlsAuth[%zu]: the key does not belong to the certificate", i);
        return SV_EINVAL;
    }
    cc->domains = a->domains;
    cc->n_domains = a->n_domains;
    return 0;
}

/* Joins the names of one family ("1.3" suites or the others) with ':', as OpenSSL
 * names them; false when there are none. */
static bool cipher_list(const sv_tls_opts_t *o, bool tls13, sv_buf_t *b)
{
    sv_buf_reset(b);
    for (size_t i = 0; i < o->n_ciphers; i++) {
        if (tls13_suite(o->ciphers[i]) != tls13)
            continue;
        const char *name = tls13 ? o->ciphers[i] : OPENSSL_cipher_name(o->ciphers[i]);
        sv_buf_printf(b, "%s%s", b->len ? ":" : "", name);
    }
    return b->len > 0;
}

static int set_ciphers(SSL_CTX *ctx, const sv_tls_opts_t *o, char *err, size_t size)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    int rc = 0;
    if ((cipher_list(o, true, &b) && SSL_CTX_set_ciphersuites(ctx, b.data) != 1) ||
        (cipher_list(o, false, &b) && SSL_CTX_set_cipher_list(ctx, b.data) != 1)) {
        snprintf(err, size, "tlsCipherSuites: OpenSSL takes none of %s (%s)", b.data, ssl_reason());
        rc = SV_EINVAL;
    }
    sv_buf_free(&b);
    return rc;
}

/* A new session ticket or id from the server: the connection keeps the latest. */
static int on_new_session(SSL *ssl, SSL_SESSION *session)
{
    sv_tls_conn_t *c = SSL_get_app_data(ssl);
    if (c->session)
        SSL_SESSION_free(c->session);
    c->session = session;
    return 1; /* the reference is ours */
}

static int configure(sv_tls_t *t, const sv_tls_opts_t *o, char *err, size_t size)
{
    SSL_CTX *ctx = t->ctx;
    SSL_CTX_set_verify(ctx, o->insecure ? SSL_VERIFY_NONE : SSL_VERIFY_PEER, NULL);
    if (o->ca_file) {
        FILE *f = fopen(o->ca_file, "r");
        if (f == NULL) {
            snprintf(err, size, "--cacert (tlsCACert) \"%s\": %s", o->ca_file, strerror(errno));
            return SV_EINVAL;
        }
        fclose(f);
        if (SSL_CTX_load_verify_locations(ctx, o->ca_file, NULL) != 1) {
            snprintf(err, size,
                     "--cacert (tlsCACert) \"%s\": cannot read PEM certificates from it (%s)",
                     o->ca_file, ssl_reason());
            return SV_EINVAL;
        }
    } else {
        SSL_CTX_set_default_verify_paths(ctx);
    }
    if (o->min_version && SSL_CTX_set_min_proto_version(ctx, openssl_version(o->min_version)) != 1)
        return snprintf(err, size, "tlsVersion: OpenSSL refuses this minimum"), SV_EINVAL;
    if (o->max_version && SSL_CTX_set_max_proto_version(ctx, openssl_version(o->max_version)) != 1)
        return snprintf(err, size, "tlsVersion: OpenSSL refuses this maximum"), SV_EINVAL;
    if (o->min_version && o->max_version && o->min_version > o->max_version) {
        snprintf(err, size, "tlsVersion: min is above max");
        return SV_EINVAL;
    }
    if (set_ciphers(ctx, o, err, size) != 0)
        return SV_EINVAL;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
    SSL_CTX_sess_set_new_cb(ctx, on_new_session);
    t->certs = sv_xcalloc(o->n_auth ? o->n_auth : 1, sizeof(*t->certs));
    for (size_t i = 0; i < o->n_auth; i++, t->n_certs++)
        if (load_cert(&t->certs[i], &o->auth[i], i, err, size) != 0) {
            t->n_certs++; /* freed with the others */
            return SV_EINVAL;
        }
    return 0;
}

int sv_tls_new(sv_tls_t **out, const sv_tls_opts_t *o, char *err, size_t size)
{
    sv_tls_t *t = sv_xcalloc(1, sizeof(*t));
    ERR_clear_error();
    t->ctx = SSL_CTX_new(TLS_client_method());
    if (t->ctx == NULL || configure(t, o, err, size) != 0) {
        if (t->ctx == NULL)
            snprintf(err, size, "TLS: cannot create a context (%s)", ssl_reason());
        ERR_clear_error();
        sv_tls_free(t);
        return SV_EINVAL;
    }
    *out = t;
    return 0;
}

void sv_tls_free(sv_tls_t *t)
{
    if (t == NULL)
        return;
    for (size_t i = 0; i < t->n_certs; i++) {
        X509_free(t->certs[i].cert);
        sk_X509_pop_free(t->certs[i].chain, X509_free);
        EVP_PKEY_free(t->certs[i].key);
    }
    free(t->certs);
    SSL_CTX_free(t->ctx);
    free(t);
}

/* ---- connections ------------------------------------------------------------------- */

static const client_cert_t *cert_for(const sv_tls_t *t, const char *host)
{
    for (size_t i = 0; i < t->n_certs; i++) {
        const client_cert_t *cc = &t->certs[i];
        if (cc->n_domains == 0)
            return cc;
        for (size_t d = 0; d < cc->n_domains; d++)
            if (strcasecmp(cc->domains[d], host) == 0)
                return cc;
    }
    return NULL;
}

sv_tls_conn_t *sv_tls_conn_new(const sv_tls_t *t, const char *host, bool numeric_host,
                               bool offer_h2, const sv_tls_session_t *resume)
{
    sv_tls_conn_t *c = sv_xcalloc(1, sizeof(*c));
    c->ssl = SSL_new(t->ctx);
    c->in = BIO_new(BIO_s_mem());
    c->out = BIO_new(BIO_s_mem());
    if (c->ssl == NULL || c->in == NULL || c->out == NULL) {
        SSL_free(c->ssl);
        BIO_free(c->in);
        BIO_free(c->out);
        free(c);
        ERR_clear_error();
        return NULL;
    }
    BIO_set_mem_eof_return(c->in, -1); /* empty means "more to come", not EOF */
    SSL_set_bio(c->ssl, c->in, c->out);
    SSL_set_app_data(c->ssl, c);
    SSL_set_connect_state(c->ssl);
    static const unsigned char h2_and_h1[] = "\x02h2\x08http/1.1", h1[] = "\x08http/1.1";
    if (offer_h2)
        SSL_set_alpn_protos(c->ssl, h2_and_h1, sizeof(h2_and_h1) - 1);
    else
        SSL_set_alpn_protos(c->ssl, h1, sizeof(h1) - 1);
    if (numeric_host) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), host);
    } else {
        SSL_set_tlsext_host_name(c->ssl, host);
        SSL_set1_host(c->ssl, host);
    }
    const client_cert_t *cc = cert_for(t, host);
    if (cc) {
        SSL_use_certificate(c->ssl, cc->cert);
        SSL_use_PrivateKey(c->ssl, cc->key);
        for (int i = 0; i < sk_X509_num(cc->chain); i++)
            SSL_add1_chain_cert(c->ssl, sk_X509_value(cc->chain, i));
    }
    SSL_SESSION *session = (SSL_SESSION *)resume;
    if (session && SSL_set_session(c->ssl, session) == 1) {
        /* offered again next time unless the server hands out a new one */
        SSL_SESSION_up_ref(session);
        c->session = session;
    }
    return c;
}

void sv_tls_conn_free(sv_tls_conn_t *c)
{
    if (c == NULL)
        return;
    /* Closing a good session without close_notify is how keep-alive ends; OpenSSL
     * would take it for a failure and mark the session not resumable. */
    if (c->error_code == 0 && SSL_is_init_finished(c->ssl))
        SSL_set_shutdown(c->ssl, SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN);
    SSL_free(c->ssl); /* and its BIOs */
    if (c->session)
        SSL_SESSION_free(c->session);
    free(c);
}

sv_tls_session_t *sv_tls_conn_take_session(sv_tls_conn_t *c)
{
    SSL_SESSION *s = c->error_code == 0 ? c->session : NULL;
    if (s && !SSL_SESSION_is_resumable(s))
        s = NULL;
    if (s)
        c->session = NULL;
    return (sv_tls_session_t *)s;
}

void sv_tls_session_free(sv_tls_session_t *s)
{
    if (s)
        SSL_SESSION_free((SSL_SESSION *)s);
}

void sv_tls_feed(sv_tls_conn_t *c, const char *data, size_t len)
{
    BIO_write(c->in, data, (int)len);
}

size_t sv_tls_take_output(sv_tls_conn_t *c, char *buf, size_t cap)
{
    int n = BIO_read(c->out, buf, (int)SV_MIN(cap, (size_t)INT32_MAX));
    return n > 0 ? (size_t)n : 0;
}

/* k6's codes for certificate failures; the verify result says which. */
static void classify_verify(sv_tls_conn_t *c, long v)
{
    switch (v) {
    case X509_V_ERR_CERT_HAS_EXPIRED:
    case X509_V_ERR_CERT_NOT_YET_VALID:
        c->error_code = SV_HTTP_ERR_TLS_CERT_EXPIRED;
        c->message = "x509: certificate has expired or is not yet valid";
        return;
    case X509_V_ERR_HOSTNAME_MISMATCH:
    case X509_V_ERR_IP_ADDRESS_MISMATCH:
        c->error_code = SV_HTTP_ERR_TLS_HOSTNAME;
        c->message = "x509: certificate doesn't match hostname";
        return;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
    case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
    case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
    case X509_V_ERR_UNABLE_TO_VERIFY_LEAF_SIGNATURE:
        c->error_code = SV_HTTP_ERR_TLS_UNKNOWN_AUTHORITY;
        c->message = "x509: unknown authority";
        return;
    default:
        c->error_code = SV_HTTP_ERR_TLS;
        c->message = X509_verify_cert_error_string(v); /* static */
    }
}

/* The outcome of an SSL call that returned rc <= 0. */
static sv_tls_status_t status_of(sv_tls_conn_t *c, int rc)
{
    switch (SSL_get_error(c->ssl, rc)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return SV_TLS_WANT;
    case SSL_ERROR_ZERO_RETURN:
        return SV_TLS_CLOSED;
    default:
        break;
    }
    long v = SSL_get_verify_result(c->ssl);
    if (v != X509_V_OK) {
        classify_verify(c, v);
    } else {
        c->error_code = SV_HTTP_ERR_TLS;
        c->message = ssl_reason(); /* static: "tlsv1 alert unknown ca", … */
    }
    ERR_clear_error();
    return SV_TLS_FAILED;
}

/* SSL_get_error reads the thread's error queue, so it must be empty before an SSL
 * call. salvo clears it after every failure; anything else on the thread that left
 * errors behind is cleared here. Peeking first: clearing an empty queue costs ~1% of
 * an HTTP/2-over-TLS request (it wipes all its slots), peeking almost nothing. */
static void clear_errors(void)
{
    if (ERR_peek_error() != 0)
        ERR_clear_error();
}

sv_tls_status_t sv_tls_handshake(sv_tls_conn_t *c)
{
    clear_errors();
    int rc = SSL_do_handshake(c->ssl);
    return rc == 1 ? SV_TLS_OK : status_of(c, rc);
}

sv_tls_status_t sv_tls_write(sv_tls_conn_t *c, const void *data, size_t len)
{
    clear_errors();
    int rc = SSL_write(c->ssl, data, (int)len);
    return rc > 0 ? SV_TLS_OK : status_of(c, rc);
}

sv_tls_status_t sv_tls_read(sv_tls_conn_t *c, char *buf, size_t cap, size_t *n)
{
    clear_errors();
    int rc = SSL_read(c->ssl, buf, (int)SV_MIN(cap, (size_t)INT32_MAX));
    *n = rc > 0 ? (size_t)rc : 0;
    return rc > 0 ? SV_TLS_OK : status_of(c, rc);
}

int sv_tls_error(const sv_tls_conn_t *c, const char **message)
{
    *message = c->message;
    return c->error_code;
}

const char *sv_tls_version_name(const sv_tls_conn_t *c)
{
    int v = SSL_version(c->ssl);
    for (size_t i = 0; i < SV_ARRAY_SIZE(versions); i++)
        if (versions[i].openssl == v)
            return versions[i].name;
    return "";
}

const char *sv_tls_cipher_name(const sv_tls_conn_t *c)
{
    const SSL_CIPHER *cipher = SSL_get_current_cipher(c->ssl);
    return cipher ? SSL_CIPHER_standard_name(cipher) : "";
}

bool sv_tls_alpn_h2(const sv_tls_conn_t *c)
{
    const unsigned char *proto;
    unsigned int len;
    SSL_get0_alpn_selected(c->ssl, &proto, &len);
    return len == 2 && memcmp(proto, "h2", 2) == 0;
}
