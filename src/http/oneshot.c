/*
 * One blocking HTTP exchange (see oneshot.h).
 */
#include "oneshot.h"

#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_ANSWER (1u << 20)

static int dial(const sv_oneshot_t *rq)
{
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(rq->host, rq->port, &hints, &res) != 0) {
        errno = EHOSTUNREACH;
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd >= 0) {
        struct timeval tv = {rq->timeout_s, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Reads until the server closes (or MAX_ANSWER bytes): the whole answer, as a C
 * string (the buffer's cap leaves room for the NUL). */
static void read_all(int fd, sv_buf_t *in)
{
    char chunk[4096];
    ssize_t n;
    while (in->len < MAX_ANSWER && (n = recv(fd, chunk, sizeof(chunk), 0)) > 0)
        sv_buf_append(in, chunk, SV_MIN((size_t)n, MAX_ANSWER - in->len));
    sv_buf_append(in, "", 1);
}

/* "HTTP 500: what the body's first line says" (up to 100 printable characters). */
static void why_status(char *why, size_t size, int status, const char *body)
{
    size_t n = strcspn(body, "\r\n");
    n = SV_MIN(n, 100);
    for (size_t i = 0; i < n; i++)
        if (!isprint((unsigned char)body[i]))
            n = i;
    if (n)
        snprintf(why, size, "HTTP %d: %.*s", status, (int)n, body);
    else
        snprintf(why, size, "HTTP %d", status);
}

int sv_http_oneshot(const sv_oneshot_t *rq, sv_buf_t *reply, char *why, size_t size)
{
    int fd = dial(rq);
    if (fd < 0) {
        snprintf(why, size, "cannot connect: %s", strerror(errno));
        return -1;
    }
    sv_buf_t out, in;
    sv_buf_init(&out, SIZE_MAX);
    sv_buf_init(&in, MAX_ANSWER + 1);
    sv_buf_printf(&out, "%s %s HTTP/1.1\r\nHost: %s:%s\r\nUser-Agent: salvo/%s\r\n%s", rq->method,
                  rq->path, rq->host, rq->port, SV_VERSION, rq->headers ? rq->headers : "");
    if (rq->body)
        sv_buf_printf(&out, "Content-Length: %zu\r\n", rq->body_len);
    sv_buf_printf(&out, "Connection: close\r\n\r\n");
    int status = -1;
    const char *body = "";
    if (send_all(fd, out.data, out.len) && (!rq->body || send_all(fd, rq->body, rq->body_len))) {
        read_all(fd, &in);
        const char *sep = strstr(in.data, "\r\n\r\n");
        if (sep && sscanf(in.data, "HTTP/1.%*d %d", &status) == 1)
            body = sep + 4;
        else
            status = -1;
    }
    close(fd);
    if (reply)
        sv_buf_printf(reply, "%s", body);
    if (status < 0)
        snprintf(why, size, "no answer");
    else if (status >= 300)
        why_status(why, size, status, body);
    sv_buf_free(&out);
    sv_buf_free(&in);
    return status;
}
