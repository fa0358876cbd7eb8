/*
 * The shared utilities declared in util.h.
 */
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <uv.h>

const char *sv_strerror(int err)
{
    switch (err) {
#define SV_ERR_CASE(name, value, msg)                                                              \
    case value:                                                                                    \
        return msg;
        SV_ERRNO_MAP(SV_ERR_CASE)
#undef SV_ERR_CASE
    case 0:
        return "success";
    default:
        return uv_strerror(err);
    }
}

void sv_out_of_memory(size_t n)
{
    fprintf(stderr, "salvo: out of memory (allocating %zu bytes)\n", n);
    abort();
}

void *sv_xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        sv_out_of_memory(n);
    return p;
}

void *sv_xcalloc(size_t count, size_t size)
{
    void *p = calloc(count ? count : 1, size ? size : 1);
    if (p == NULL)
        sv_out_of_memory(count * size);
    return p;
}

void *sv_xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (q == NULL)
        sv_out_of_memory(n);
    return q;
}

char *sv_xstrndup(const char *s, size_t n)
{
    char *p = sv_xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

char *sv_xstrdup(const char *s)
{
    return sv_xstrndup(s, strlen(s));
}

char *sv_xasprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *p = sv_xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(p, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return p;
}

bool sv_span_eq(sv_span_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && memcmp(a.ptr, lit, n) == 0;
}

bool sv_span_ieq(sv_span_t a, const char *lit)
{
    size_t n = strlen(lit);
    return a.len == n && strncasecmp(a.ptr, lit, n) == 0;
}

bool sv_span_has_token(sv_span_t list, const char *token)
{
    size_t i = 0;
    while (i < list.len) {
        while (i < list.len && (list.ptr[i] == ',' || isspace((unsigned char)list.ptr[i])))
            i++;
        size_t start = i;
        while (i < list.len && list.ptr[i] != ',')
            i++;
        size_t end = i;
        while (end > start && isspace((unsigned char)list.ptr[end - 1]))
            end--;
        if (sv_span_ieq((sv_span_t){list.ptr + start, end - start}, token))
            return true;
    }
    return false;
}

uint64_t sv_now_ns(void)
{
    return uv_hrtime();
}

void sv_buf_init(sv_buf_t *b, size_t max)
{
    *b = (sv_buf_t){.max = max};
}

void sv_buf_free(sv_buf_t *b)
{
    free(b->data);
    *b = (sv_buf_t){.max = b->max};
}

char *sv_buf_reserve(sv_buf_t *b, size_t n)
{
    if (n > b->max - b->len)
        return NULL;
    if (b->len + n > b->cap || b->data == NULL) { /* even n == 0 gets a real pointer */
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n)
            cap *= 2;
        if (cap > b->max)
            cap = b->max ? b->max : 1;
        b->data = sv_xrealloc(b->data, cap);
        b->cap = cap;
    }
    return b->data + b->len;
}

int sv_buf_append(sv_buf_t *b, const void *p, size_t n)
{
    char *dst = sv_buf_reserve(b, n);
    if (dst == NULL)
        return SV_ETOOBIG;
    if (n)
        memcpy(dst, p, n);
    b->len += n;
    return 0;
}

int sv_buf_printf(sv_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    char *dst = sv_buf_reserve(b, (size_t)n + 1);
    if (dst == NULL)
        return SV_ETOOBIG;
    va_start(ap, fmt);
    vsnprintf(dst, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

void sv_buf_consume(sv_buf_t *b, size_t n)
{
    if (n >= b->len) {
        b->len = 0;
        return;
    }
    memmove(b->data, b->data + n, b->len - n);
    b->len -= n;
}

int sv_read_file(const char *path, sv_buf_t *b)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL)
        return -errno;
    sv_buf_init(b, SIZE_MAX);
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        sv_buf_append(b, chunk, n);
    int rc = ferror(f) ? -EIO : 0;
    fclose(f);
    sv_buf_append(b, "", 1);
    b->len--;
    if (rc != 0)
        sv_buf_free(b);
    return rc;
}

uint64_t sv_hash(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

int sv_split_host_port(const char *address, char *host, size_t size, uint16_t *port)
{
    const char *colon = strrchr(address, ':'), *h = address;
    if (colon == NULL || colon == address || colon[1] == '\0')
        return SV_EPARSE;
    char *end;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &end, 10);
    if (*end || errno || p > 65535 || colon[1] == '-' || colon[1] == '+')
        return SV_EPARSE;
    size_t hl = (size_t)(colon - address);
    if (h[0] == '[' && hl >= 2 && h[hl - 1] == ']') {
        h++;
        hl -= 2;
    }
    if (hl == 0 || hl >= size)
        return SV_EPARSE;
    memcpy(host, h, hl);
    host[hl] = '\0';
    *port = (uint16_t)p;
    return 0;
}
