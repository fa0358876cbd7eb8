/*
 * The client's insides, shared by its parts: connections and HTTP/1.1 (client.c),
 * HTTP/2 sessions (h2.c). Not for use outside src/http.
 */
#ifndef SV_HTTP_CLIENT_INT_H
#define SV_HTTP_CLIENT_INT_H

#include "client.h"
#include "h1.h"

#define READ_BUF_SIZE (64 * 1024)
#define MAX_HEAD_BYTES (64 * 1024)
#define DNS_TTL_NS (300ULL * 1000000000ULL)
#define DNS_FAILURE_TTL_NS (1000000000ULL)
#define MAX_ADDRS 16
#define MAX_RESENDS 1 /* of one request the server refused unprocessed (GOAWAY) */

typedef enum { DNS_IDLE, DNS_PENDING, DNS_READY, DNS_FAILED } dns_state_t;

typedef struct dns_entry {
    char *host;
    uint16_t port;
    bool tls;
    dns_state_t state;
    int error;
    struct sockaddr_storage addrs[MAX_ADDRS];
    int n_addrs;
    int preferred; /* the address that last accepted a connection */
    bool numeric;  /* host is an IP address */
    uint64_t expires_ns;
    uv_getaddrinfo_t req;
    sv_http_conn_t *waiters;
    struct dns_entry *next;
    sv_http_ctx_t *ctx;
} dns_entry_t;

struct sv_http_ctx {
    uv_loop_t *loop;
    char *read_buf;
    char *plain_buf;     /* TLS: decrypted bytes, allocated on first use */
    const sv_tls_t *tls; /* https:// requests' context */
    sv_tls_t *own_tls;   /* a default one, made when none was set */
    uint64_t max_response_bytes;
    dns_entry_t *dns;
    int pending_lookups;   /* entries with a getaddrinfo in flight */
    uint64_t pace_ns;      /* rps cap: at most one request start per pace_ns; 0: none */
    uint64_t pace_next_ns; /* the earliest start of the next request */
    uint32_t open_connections;
    bool freeing;
};

typedef enum {
    C_IDLE,        /* no request in flight */
    C_PACED,       /* waiting for its turn under the rps cap */
    C_RESOLVING,   /* waiting for DNS */
    C_CONNECTING,  /* connect in flight (or waiting for the old socket to close) */
    C_HANDSHAKING, /* TLS handshake in flight */
    C_DRAINING,    /* wants a new socket, but its HTTP/2 session carries others' streams */
    C_SENDING,
    C_WAITING,  /* request written, response not complete */
    C_FAILING,  /* error decided, delivery scheduled on the timer */
    C_UPGRADED, /* 101 Switching Protocols: the socket's bytes go to on_body */
} conn_state_t;

typedef enum { SOCK_NONE, SOCK_OPEN, SOCK_CLOSING } tcp_state_t;

struct sv_http_conn {
    sv_http_ctx_t *ctx;
    uv_tcp_t tcp;
    uv_connect_t connect_req;
    uv_write_t write_req;
    uv_timer_t timer;
    conn_state_t state;
    tcp_state_t tcp_state;
    bool connected;    /* TCP established and reusable */
    bool want_connect; /* connect once the old socket finished closing */
    bool freeing;
    int open_handles;
    dns_entry_t *endpoint; /* where the socket goes (and whether over TLS) */
    int addr_index, addrs_tried;
    sv_http_conn_t *dns_next;
    const sv_http_request_t *req;
    sv_http_send_opts_t opts;
    sv_http_cb cb;
    void *cb_arg;
    sv_http_result_t res;
    sv_buf_t stash; /* a response head split across reads */
    bool head_done, keep_alive, retried;
    sv_h1_body_t body;
    char *content_encoding;
    uint64_t t_connect_start, t_connected, t_tls_start, t_tls_done;
    uint64_t t_write_start, t_written, t_first_byte;
    uint64_t body_bytes;
    /* TLS: the engine of the socket, and the sessions earlier sockets left, by
     * endpoint, to resume on reconnect */
    sv_tls_conn_t *tls;
    struct {
        dns_entry_t *endpoint;
        sv_tls_session_t *session;
    } sessions[4];
    unsigned next_session;
    bool secure;    /* the socket speaks TLS */
    bool tls_ready; /* its handshake is done */
    /* bytes for the socket that are not a prepared request's: TLS records, HTTP/2
     * frames; waiting, and in a uv_write */
    sv_buf_t out_queue, out_flight;
    bool writing;   /* out_flight is in a uv_write */
    uint32_t sends; /* requests sent on this connection, to tell them apart */
    /* HTTP/2 (h2.c) */
    sv_http_group_t *group;
    struct sv_h2 *h2;           /* the session on this connection's socket */
    bool h2_pending;            /* connecting with h2 on offer: others may wait for it */
    sv_http_conn_t *h2_waiters; /* those waiting, linked by wait_next */
    sv_http_conn_t *waiting_on; /* whose connection this one waits for */
    sv_http_conn_t *wait_next;
    dns_entry_t *target;     /* where the request goes when it gets a connection */
    sv_http_conn_t *carrier; /* whose session carries this one's open stream */
    int32_t stream_id;
    sv_http_conn_t *stream_next; /* in the carrier's list of open streams */
    size_t h2_body_sent;
    int h2_error;    /* decided while the stream was open */
    uint8_t resends; /* of a request the server never processed */
};

struct sv_http_group {
    sv_http_conn_t **members;
    size_t n, cap;
};

typedef struct sv_h2 sv_h2_t;

/* ---- client.c, for h2.c ---------------------------------------------------------- */

void sv_conn_first_byte(sv_http_conn_t *c);
/* The TLS version and suite of c's socket into res, as a request goes out on it. */
void sv_conn_tls_names(const sv_http_conn_t *c, sv_http_result_t *res);
/* The response is whole: decode its body and deliver it. */
void sv_conn_complete(sv_http_conn_t *c);
/* Fails c's request (delivered from the loop), leaving the socket alone. */
void sv_conn_fail_request(sv_http_conn_t *c, int code, const char *msg);
/* The connection failed: every request on it fails with code and msg, and it closes. */
void sv_conn_lost(sv_http_conn_t *c, int code, const char *msg);
/* Bytes for the socket (through TLS when it speaks TLS), then writing what is due.
 * flush returns false after the connection failed. */
void sv_conn_transport_write(sv_http_conn_t *c, const char *data, size_t len);
bool sv_conn_transport_flush(sv_http_conn_t *c);
/* Sends c's request again, on another connection (a stream the server refused
 * unprocessed: always safe to resend); false after MAX_RESENDS of them. */
bool sv_conn_resend(sv_http_conn_t *c);
/* The same from the loop (the connection it was on is being torn down); past
 * MAX_RESENDS, it fails with code and msg. */
void sv_conn_resend_later(sv_http_conn_t *c, int code, const char *msg);
/* A stream on owner's session closed. */
void sv_h2_stream_closed(sv_http_conn_t *owner);

/* ---- h2.c -------------------------------------------------------------------------- */

void sv_h2_request_init(sv_http_request_t *r);
void sv_h2_request_free(sv_http_request_t *r);
/* Starts a client session on owner's socket (the preface and SETTINGS go at the
 * first flush). SV_EINVAL if nghttp2 cannot. */
int sv_h2_start(sv_http_conn_t *owner);
/* slot's request as a new stream on owner's session. */
void sv_h2_submit(sv_http_conn_t *owner, sv_http_conn_t *slot);
/* Whether the server's first SETTINGS came (its stream limit is known). */
bool sv_h2_ready(const sv_http_conn_t *owner);
/* client.c: they came; those waiting for the session may go. */
void sv_h2_settings_arrived(sv_http_conn_t *owner);
/* Whether owner's session takes new streams (no GOAWAY). */
bool sv_h2_can_take(const sv_http_conn_t *owner);
uint32_t sv_h2_streams(const sv_http_conn_t *owner);
/* Bytes from owner's socket (decrypted). */
void sv_h2_received(sv_http_conn_t *owner, const char *data, size_t len);
/* Resets slot's open stream (timeout, cancel, free); its result is the caller's. */
void sv_h2_abandon(sv_http_conn_t *slot);
/* Fails every open stream with code and msg and ends the session. */
void sv_h2_close(sv_http_conn_t *owner, int code, const char *msg);
/* Holds owner's writes while the bytes of one socket event are read (many TLS
 * records), then writes what they called for at once. */
void sv_h2_cork(sv_http_conn_t *owner);
void sv_h2_uncork(sv_http_conn_t *owner);

#endif
