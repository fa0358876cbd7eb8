/*
 * A cookie jar (RFC 6265, the parts clients need): Set-Cookie parsing with Domain,
 * Path, Expires and Max-Age, and the Cookie header for a request URL. One jar per
 * VU; not thread-safe.
 */
#ifndef SV_COOKIES_H
#define SV_COOKIES_H

#include <stdbool.h>
#include <stdint.h>

#include "../util/util.h"
#include "url.h"

typedef struct {
    char *name, *value, *domain, *path;
    bool host_only, secure;
    int64_t expires; /* Unix seconds; 0 for a session cookie */
} sv_cookie_t;

typedef struct {
    sv_cookie_t *cookies;
    size_t n, cap;
} sv_cookie_jar_t;

void sv_cookie_jar_clear(sv_cookie_jar_t *jar);
/* Stores (or, when expired, removes) the cookie of one Set-Cookie value received
 * from url. now: Unix seconds. SV_EPARSE for a malformed or foreign-domain cookie
 * (ignored, as browsers do). */
int sv_cookie_jar_set(sv_cookie_jar_t *jar, const sv_url_t *url, sv_span_t set_cookie, int64_t now);
/* Appends "name=value; name2=value2" for the cookies that go to url (most specific
 * path first); returns how many. */
size_t sv_cookie_jar_header(const sv_cookie_jar_t *jar, const sv_url_t *url, int64_t now,
                            sv_buf_t *out);

#endif
