/*
 * Cookie jar: the subset of RFC 6265 a load-testing client needs to keep sessions
 * the way a browser would.
 */
#define _GNU_SOURCE /* strptime, timegm */
#include "cookies.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

static void cookie_free(sv_cookie_t *c)
{
    free(c->name);
    free(c->value);
    free(c->domain);
    free(c->path);
}

void sv_cookie_jar_clear(sv_cookie_jar_t *jar)
{
    for (size_t i = 0; i < jar->n; i++)
        cookie_free(&jar->cookies[i]);
    free(jar->cookies);
    *jar = (sv_cookie_jar_t){0};
}

static sv_span_t trim(sv_span_t s)
{
    while (s.len && isspace((unsigned char)s.ptr[0])) {
        s.ptr++;
        s.len--;
    }
    while (s.len && isspace((unsigned char)s.ptr[s.len - 1]))
        s.len--;
    return s;
}

/* Splits the next ';'-separated piece off *rest. */
static sv_span_t next_piece(sv_span_t *rest)
{
    if (rest->len == 0) /* also keeps a NULL ptr away from memchr */
        return *rest;
    const char *semi = memchr(rest->ptr, ';', rest->len);
    size_t n = semi ? (size_t)(semi - rest->ptr) : rest->len;
    sv_span_t piece = {rest->ptr, n};
    rest->ptr += semi ? n + 1 : n;
    rest->len -= semi ? n + 1 : n;
    return trim(piece);
}

static bool is_ip_address(const char *host)
{
    unsigned char addr[16];
    return inet_pton(AF_INET, host, addr) == 1 || inet_pton(AF_INET6, host, addr) == 1;
}

/* Domain-matching (RFC 6265 §5.1.3): the same string, or a host name (never an IP
 * address, where "0.0.1" would match "10.0.0.1") ending in "." domain. */
static bool domain_match(const char *host, const char *domain)
{
    size_t h = strlen(host), d = strlen(domain);
    if (h == d)
        return strcasecmp(host, domain) == 0;
    return h > d && host[h - d - 1] == '.' && strcasecmp(host + h - d, domain) == 0 &&
           !is_ip_address(host);
}

/* Path-matching (RFC 6265 §5.1.4). */
static bool path_match(const char *req_path, const char *cookie_path)
{
    size_t c = strlen(cookie_path);
    if (strncmp(req_path, cookie_path, c) != 0)
        return false;
    return req_path[c] == '\0' || req_path[c] == '?' || cookie_path[c - 1] == '/' ||
           req_path[c] == '/';
}

/* The default path: the request path up to its last '/' (§5.1.4). */
static char *default_path(const char *target)
{
    size_t n = strcspn(target, "?");
    const char *last = NULL;
    for (size_t i = 0; i < n; i++)
        if (target[i] == '/')
            last = target + i;
    if (last == NULL || last == target)
        return sv_xstrdup("/");
    return sv_xstrndup(target, (size_t)(last - target));
}

/* Parses an Expires date into *t; false when it is not one. Dates before 1970 are
 * valid (and in the past): the result may be negative. */
static bool parse_expires(sv_span_t v, int64_t *t)
{
    char buf[64];
    struct tm tm = {0};
    if (v.len >= sizeof(buf))
        return false;
    memcpy(buf, v.ptr, v.len);
    buf[v.len] = '\0';
    /* IMF-fixdate, the form servers send: "Wed, 21 Oct 2015 07:28:00 GMT"; and the
     * older Netscape form "Wed, 21-Oct-15 07:28:00 GMT" */
    if (strptime(buf, "%a, %d %b %Y %H:%M:%S", &tm) == NULL &&
        strptime(buf, "%a, %d-%b-%Y %H:%M:%S", &tm) == NULL)
        return false;
    int year = tm.tm_year + 1900;
    if (year >= 70 && year <= 99) /* two-digit years (RFC 6265 §5.1.1) */
        tm.tm_year += 1900;
    else if (year >= 0 && year <= 69)
        tm.tm_year += 2000;
    else if (year < 1601)
        return false;
    *t = (int64_t)timegm(&tm);
    return true;
}

/* Parses a Max-Age value: "-"? DIGIT+ (RFC 6265 §5.2.2), saturating. */
static bool parse_max_age(sv_span_t v, long long *secs)
{
    size_t i = v.len && v.ptr[0] == '-' ? 1 : 0;
    if (i == v.len)
        return false;
    for (size_t j = i; j < v.len; j++)
        if (!isdigit((unsigned char)v.ptr[j]))
            return false;
    char *num = sv_xstrndup(v.ptr, v.len);
    *secs = strtoll(num, NULL, 10); /* LLONG_MIN/MAX on overflow, which is what we want */
    free(num);
    return true;
}

/* Removes cookie i, keeping the others in creation order (§5.4 sends equal path
 * lengths oldest first). */
static void remove_at(sv_cookie_jar_t *jar, size_t i)
{
    cookie_free(&jar->cookies[i]);
    memmove(&jar->cookies[i], &jar->cookies[i + 1], (jar->n - i - 1) * sizeof(*jar->cookies));
    jar->n--;
}

/* Reads the attributes after name=value into c and sets *expired when the cookie
 * is already expired (i.e. the server deletes it); false for a foreign domain. */
static bool read_attributes(sv_cookie_t *c, sv_span_t rest, const sv_url_t *url, int64_t now,
                            bool *expired)
{
    bool have_max_age = false, have_expires = false;
    long long max_age = 0;
    int64_t expires = 0;
    while (rest.len) {
        sv_span_t attr = next_piece(&rest);
        const char *eq = memchr(attr.ptr, '=', attr.len);
        sv_span_t key = trim((sv_span_t){attr.ptr, eq ? (size_t)(eq - attr.ptr) : attr.len});
        sv_span_t val = eq ? trim((sv_span_t){eq + 1, attr.len - (size_t)(eq + 1 - attr.ptr)})
                           : (sv_span_t){"", 0};
        if (sv_span_ieq(key, "domain") && val.len) {
            if (val.ptr[0] == '.') {
                val.ptr++;
                val.len--;
            }
            char *d = sv_xstrndup(val.ptr, val.len);
            for (char *p = d; *p; p++)
                *p = (char)tolower((unsigned char)*p);
            if (!domain_match(url->host, d)) {
                free(d);
                return false;
            }
            free(c->domain);
            c->domain = d;
            c->host_only = false;
        } else if (sv_span_ieq(key, "path") && val.len && val.ptr[0] == '/') {
            free(c->path);
            c->path = sv_xstrndup(val.ptr, val.len);
        } else if (sv_span_ieq(key, "max-age")) {
            if (parse_max_age(val, &max_age))
                have_max_age = true;
        } else if (sv_span_ieq(key, "expires")) {
            if (parse_expires(val, &expires))
                have_expires = true;
        } else if (sv_span_ieq(key, "secure")) {
            c->secure = true;
        }
    }
    /* Max-Age wins over Expires, whatever their order (§5.3 step 3). */
    *expired = false;
    if (have_max_age) {
        if (max_age <= 0)
            *expired = true;
        else
            c->expires = now > INT64_MAX - max_age ? INT64_MAX : now + max_age;
    } else if (have_expires) {
        if (expires <= now)
            *expired = true;
        else
            c->expires = expires;
    }
    return true;
}

int sv_cookie_jar_set(sv_cookie_jar_t *jar, const sv_url_t *url, sv_span_t set_cookie, int64_t now)
{
    sv_span_t rest = set_cookie;
    sv_span_t pair = next_piece(&rest);
    const char *eq = pair.len ? memchr(pair.ptr, '=', pair.len) : NULL;
    if (eq == NULL)
        return SV_EPARSE;
    /* name and value without the blanks around '=' (§5.2 steps 4-5) */
    sv_span_t name = trim((sv_span_t){pair.ptr, (size_t)(eq - pair.ptr)});
    sv_span_t value = trim((sv_span_t){eq + 1, pair.len - (size_t)(eq + 1 - pair.ptr)});
    if (name.len == 0)
        return SV_EPARSE;
    sv_cookie_t c = {
        .name = sv_xstrndup(name.ptr, name.len),
        .value = sv_xstrndup(value.ptr, value.len),
        .domain = sv_xstrdup(url->host),
        .path = default_path(url->target),
        .host_only = true,
    };
    bool expired = false;
    if (!read_attributes(&c, rest, url, now, &expired)) {
        cookie_free(&c);
        return SV_EPARSE;
    }
    for (size_t i = 0; i < jar->n; i++) {
        sv_cookie_t *o = &jar->cookies[i];
        if (strcmp(o->name, c.name) == 0 && strcasecmp(o->domain, c.domain) == 0 &&
            strcmp(o->path, c.path) == 0) {
            if (expired) { /* the server deletes it */
                remove_at(jar, i);
                cookie_free(&c);
            } else { /* in place: it keeps the old one's creation order (§5.3 step 11) */
                cookie_free(o);
                *o = c;
            }
            return 0;
        }
    }
    if (expired) {
        cookie_free(&c);
        return 0;
    }
    if (jar->n == jar->cap) {
        jar->cap = jar->cap ? jar->cap * 2 : 8;
        jar->cookies = sv_xrealloc(jar->cookies, jar->cap * sizeof(*jar->cookies));
    }
    jar->cookies[jar->n++] = c;
    return 0;
}

size_t sv_cookie_jar_header(const sv_cookie_jar_t *jar, const sv_url_t *url, int64_t now,
                            sv_buf_t *out)
{
    const sv_cookie_t *pick[64];
    size_t n = 0;
    for (size_t i = 0; i < jar->n && n < SV_ARRAY_SIZE(pick); i++) {
        const sv_cookie_t *c = &jar->cookies[i];
        bool host_ok = c->host_only ? strcasecmp(url->host, c->domain) == 0
                                    : domain_match(url->host, c->domain);
        if (host_ok && path_match(url->target, c->path) && (!c->secure || url->tls) &&
            (c->expires == 0 || c->expires > now))
            pick[n++] = c;
    }
    /* longer paths first (§5.4), stable otherwise */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strlen(pick[j]->path) > strlen(pick[j - 1]->path); j--) {
            const sv_cookie_t *t = pick[j];
            pick[j] = pick[j - 1];
            pick[j - 1] = t;
        }
    for (size_t i = 0; i < n; i++)
        sv_buf_printf(out, "%s%s=%s", i ? "; " : "", pick[i]->name, pick[i]->value);
    return n;
}
