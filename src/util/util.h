/*
 * Small shared utilities: allocation that aborts on out-of-memory, error codes
 * with messages, string spans and the monotonic clock. Every subsystem may use
 * this header; it depends on nothing of ours.
 */
#ifndef SV_UTIL_H
#define SV_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define SV_ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define SV_NS_PER_S 1000000000ULL
#define SV_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SV_MAX(a, b) ((a) > (b) ? (a) : (b))
#define sv_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* Error codes: 0 is success, failures are negative. libuv's negative codes pass
 * through unchanged; ours start far below them. */
#define SV_ERRNO_MAP(X)                                                                            \
    X(EINVAL, -30001, "invalid argument")                                                          \
    X(EPARSE, -30002, "malformed input")                                                           \
    X(EAGAIN, -30003, "more input needed")                                                         \
    X(ETOOBIG, -30004, "size limit exceeded")                                                      \
    X(ERANGE, -30005, "value out of range")                                                        \
    X(EUNSUPPORTED, -30006, "not supported")                                                       \
    X(EIO, -30007, "input/output error")                                                           \
    X(ETIMEDOUT, -30008, "timed out")

enum {
#define SV_ERR_ENUM(name, value, msg) SV_##name = value,
    SV_ERRNO_MAP(SV_ERR_ENUM)
#undef SV_ERR_ENUM
};

/* Message for an SV_* or libuv error code. Never NULL. */
const char *sv_strerror(int err);

/* Allocation: out-of-memory aborts here, with a message, and nowhere else (a
 * library that allocates on its own reports its failure through sv_out_of_memory). */
__attribute__((noreturn)) void sv_out_of_memory(size_t n);
void *sv_xmalloc(size_t n);
void *sv_xcalloc(size_t count, size_t size);
void *sv_xrealloc(void *p, size_t n);
char *sv_xstrdup(const char *s);
char *sv_xstrndup(const char *s, size_t n);
char *sv_xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* A borrowed string: {ptr,len}, not NUL-terminated. */
typedef struct {
    const char *ptr;
    size_t len;
} sv_span_t;

#define SV_SPAN_LIT(s) ((sv_span_t){(s), sizeof(s) - 1})
static inline sv_span_t sv_span(const char *s)
{
    return (sv_span_t){s, s ? strlen(s) : 0};
}
bool sv_span_eq(sv_span_t a, const char *lit);
bool sv_span_ieq(sv_span_t a, const char *lit);
/* True when the comma-separated header value contains the token (case-insensitive). */
bool sv_span_has_token(sv_span_t list, const char *token);

/* Monotonic time in nanoseconds. */
uint64_t sv_now_ns(void);

/* "127.0.0.1:8080" or "[::1]:8080" into host and port (port 0 allowed). SV_EPARSE
 * when it is not HOST:PORT or the host does not fit. */
int sv_split_host_port(const char *address, char *host, size_t size, uint16_t *port);

/* A growable byte buffer with a hard cap (curl's dynbuf idea). */
typedef struct {
    char *data;
    size_t len, cap, max;
} sv_buf_t;

void sv_buf_init(sv_buf_t *b, size_t max);
void sv_buf_free(sv_buf_t *b);
/* Returns SV_ETOOBIG (and appends nothing) when the cap would be exceeded. */
int sv_buf_append(sv_buf_t *b, const void *p, size_t n);
int sv_buf_printf(sv_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ensures room for n more bytes and returns where to write them, or NULL past the cap. */
char *sv_buf_reserve(sv_buf_t *b, size_t n);
/* Drops the first n bytes. */
void sv_buf_consume(sv_buf_t *b, size_t n);
static inline void sv_buf_reset(sv_buf_t *b)
{
    b->len = 0;
}

/* Reads a whole file into b (NUL-terminated after b->len). 0, or a negative errno
 * (libuv style) with b empty. */
int sv_read_file(const char *path, sv_buf_t *b);

/* 64-bit FNV-1a, for hash tables. */
uint64_t sv_hash(const void *p, size_t n);

#endif
