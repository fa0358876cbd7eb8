/*
 * The sender thread: blocking sockets with timeouts, one connection per POST
 * (Connection: close; pushes come once a second or so).
 */
#include "sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uv.h>

#include "../http/oneshot.h"
#include "../http/url.h"

#define ATTEMPTS 3
#define IO_TIMEOUT_S 5

typedef struct body {
    sv_buf_t data;
    uint64_t items;
    struct body *next;
} body_t;

struct sv_sender {
    char host[256], port[8];
    char *path, *headers;
    size_t max_items;
    uv_thread_t thread;
    uv_mutex_t lock;
    uv_cond_t wake;
    body_t *head, *tail; /* under lock, as everything below */
    uint64_t queued, sent, dropped;
    bool closing;
    uint64_t drain_until_ns;
    char last_error[160];
};

static int split_url(const char *url, char *host, size_t host_size, char *port, char **path,
                     const char **why)
{
    sv_url_t u;
    if (sv_url_parse(&u, url, why) != 0)
        return SV_EINVAL;
    int rc = 0;
    if (u.tls) {
        *why = "https:// is not supported yet; use http://";
        rc = SV_EINVAL;
    } else if (strlen(u.host) >= host_size) {
        *why = "host name too long";
        rc = SV_EINVAL;
    } else {
        snprintf(host, host_size, "%s", u.host);
        snprintf(port, 8, "%u", u.port);
        if (path)
            *path = sv_xstrdup(u.target);
    }
    sv_url_free(&u);
    return rc;
}

int sv_sender_check_url(const char *url, const char **why)
{
    char host[256], port[8];
    return split_url(url, host, sizeof(host), port, NULL, why);
}

/* One request to the sink; the HTTP status, or -1 with why. */
static int request(const sv_sender_t *s, const char *method, const char *path, const sv_buf_t *body,
                   char *why, size_t size)
{
    sv_oneshot_t rq = {
        .host = s->host,
        .port = s->port,
        .method = method,
        .path = path,
        .headers = s->headers,
        .body = body ? body->data : NULL,
        .body_len = body ? body->len : 0,
        .timeout_s = IO_TIMEOUT_S,
    };
    return sv_http_oneshot(&rq, NULL, why, size);
}

int sv_sender_get(sv_sender_t *s, const char *path, char *why, size_t size)
{
    return request(s, "GET", path, NULL, why, size);
}

/* Delivers one body, retrying (not once the test is over); false when it gave up. */
static bool deliver(sv_sender_t *s, const body_t *b, bool closing)
{
    char why[160] = "";
    for (int attempt = 0; attempt < (closing ? 1 : ATTEMPTS); attempt++) {
        if (attempt > 0)
            usleep(200000u << attempt);
        int status = request(s, "POST", s->path, &b->data, why, sizeof(why));
        if (status >= 200 && status < 300)
            return true;
        if (status >= 400 && status < 500)
            break; /* the data or the target is wrong: resending will not help */
    }
    uv_mutex_lock(&s->lock);
    snprintf(s->last_error, sizeof(s->last_error), "%s", why);
    uv_mutex_unlock(&s->lock);
    return false;
}

static void body_free(body_t *b)
{
    sv_buf_free(&b->data);
    free(b);
}

static void sender_main(void *arg)
{
    sv_sender_t *s = arg;
    uv_mutex_lock(&s->lock);
    for (;;) {
        while (s->head == NULL && !s->closing)
            uv_cond_wait(&s->wake, &s->lock);
        body_t *b = s->head;
        if (b == NULL)
            break; /* closing, and the queue is empty */
        s->head = b->next;
        if (s->head == NULL)
            s->tail = NULL;
        s->queued -= b->items;
        bool closing = s->closing, late = closing && sv_now_ns() > s->drain_until_ns;
        uv_mutex_unlock(&s->lock);
        bool ok = !late && deliver(s, b, closing);
        uv_mutex_lock(&s->lock);
        if (ok)
            s->sent += b->items;
        else
            s->dropped += b->items;
        body_free(b);
    }
    uv_mutex_unlock(&s->lock);
}

int sv_sender_new(sv_sender_t **out, const sv_sender_opts_t *opts, const char **why)
{
    sv_sender_t *s = sv_xcalloc(1, sizeof(*s));
    if (split_url(opts->url, s->host, sizeof(s->host), s->port, &s->path, why) != 0) {
        free(s);
        return SV_EINVAL;
    }
    s->headers = opts->headers ? sv_xstrdup(opts->headers) : NULL;
    s->max_items = opts->max_items;
    uv_mutex_init(&s->lock);
    uv_cond_init(&s->wake);
    uv_thread_create(&s->thread, sender_main, s);
    *out = s;
    return 0;
}

void sv_sender_push(sv_sender_t *s, sv_buf_t *body, uint64_t items)
{
    body_t *b = sv_xcalloc(1, sizeof(*b));
    b->data = *body;
    b->items = items;
    sv_buf_init(body, body->max);
    uv_mutex_lock(&s->lock);
    if (s->closing || s->queued + items > s->max_items) {
        s->dropped += items;
        body_free(b);
    } else {
        if (s->tail)
            s->tail->next = b;
        else
            s->head = b;
        s->tail = b;
        s->queued += items;
        uv_cond_signal(&s->wake);
    }
    uv_mutex_unlock(&s->lock);
}

void sv_sender_lost(sv_sender_t *s, uint64_t items)
{
    uv_mutex_lock(&s->lock);
    s->dropped += items;
    uv_mutex_unlock(&s->lock);
}

static void stop(sv_sender_t *s, uint64_t drain_ns)
{
    uv_mutex_lock(&s->lock);
    bool running = !s->closing;
    s->closing = true;
    s->drain_until_ns = sv_now_ns() + drain_ns;
    uv_cond_signal(&s->wake);
    uv_mutex_unlock(&s->lock);
    if (running)
        uv_thread_join(&s->thread);
}

int sv_sender_finish(sv_sender_t *s, uint64_t drain_ns, const char *label, const char *unit,
                     char *err, size_t size)
{
    stop(s, drain_ns);
    if (s->dropped == 0)
        return 0;
    snprintf(err, size,
             "%s: %llu of %llu %s were not written (last error: %s); the summary has them all",
             label, (unsigned long long)s->dropped, (unsigned long long)(s->dropped + s->sent),
             unit, s->last_error[0] ? s->last_error : "the queue was full");
    return SV_EIO;
}

void sv_sender_free(sv_sender_t *s)
{
    if (s == NULL)
        return;
    stop(s, 0);
    uv_cond_destroy(&s->wake);
    uv_mutex_destroy(&s->lock);
    free(s->path);
    free(s->headers);
    free(s);
}
