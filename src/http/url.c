/*
 * Absolute URL parsing (RFC 3986 subset needed by an HTTP client).
 */
#include "url.h"

#include <ctype.h>
#include <stdlib.h>
#include <strings.h>

#include "../util/util.h"

static int hex_digit(char c)
{
    if (isdigit((unsigned char)c))
        return c - '0';
    return isxdigit((unsigned char)c) ? tolower((unsigned char)c) - 'a' + 10 : -1;
}

static char *percent_decode(const char *s, size_t n)
{
    char *out = sv_xmalloc(n + 1), *o = out;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%' && i + 2 < n && hex_digit(s[i + 1]) >= 0 && hex_digit(s[i + 2]) >= 0) {
            *o++ = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

static int fail(const char **why, const char *reason)
{
    if (why)
        *why = reason;
    return SV_EPARSE;
}

static bool valid_host_char(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
}

static int parse_port(const char *p, size_t n, uint16_t *port)
{
    unsigned long v = 0;
    if (n == 0 || n > 5)
        return SV_EPARSE;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)p[i]))
            return SV_EPARSE;
        v = v * 10 + (unsigned long)(p[i] - '0');
    }
    if (v == 0 || v > 65535)
        return SV_EPARSE;
    *port = (uint16_t)v;
    return 0;
}

int sv_url_parse(sv_url_t *u, const char *text, const char **why)
{
    *u = (sv_url_t){0};
    const char *sep = strstr(text, "://");
    if (sep == NULL || strcspn(text, "/?#") < (size_t)(sep - text))
        return fail(why, "missing scheme (write http://host/path)");
    size_t slen = (size_t)(sep - text);
    bool tls;
    if (slen == 4 && strncasecmp(text, "http", 4) == 0)
        tls = false;
    else if (slen == 5 && strncasecmp(text, "https", 5) == 0)
        tls = true;
    else
        return fail(why, "unsupported scheme (use http:// or https://)");

    const char *auth = sep + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *rest = auth + alen;
    const char *at = memchr(auth, '@', alen);
    const char *userinfo = NULL;
    size_t ulen = 0;
    if (at) { /* user:password@ — sent as basic auth, as HTTP clients do */
        userinfo = auth;
        ulen = (size_t)(at - auth);
        if (ulen == 0)
            return fail(why, "empty credentials before '@'");
        alen -= ulen + 1;
        auth = at + 1;
    }

    const char *host = auth, *port_str = NULL;
    size_t hlen, plen = 0;
    if (alen > 0 && auth[0] == '[') {
        const char *close = memchr(auth, ']', alen);
        if (close == NULL)
            return fail(why, "unterminated IPv6 address (missing ']')");
        host = auth + 1;
        hlen = (size_t)(close - host);
        const char *after = close + 1;
        if (after < auth + alen) {
            if (*after != ':')
                return fail(why, "unexpected characters after IPv6 address");
            port_str = after + 1;
            plen = (size_t)(auth + alen - port_str);
        }
        for (size_t i = 0; i < hlen; i++)
            if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
                return fail(why, "invalid IPv6 address");
    } else {
        const char *colon = memchr(auth, ':', alen);
        hlen = colon ? (size_t)(colon - auth) : alen;
        if (colon) {
            port_str = colon + 1;
            plen = (size_t)(auth + alen - port_str);
        }
        for (size_t i = 0; i < hlen; i++)
            if (!valid_host_char(host[i]))
                return fail(why, "invalid character in host name");
    }
    if (hlen == 0)
        return fail(why, "missing host");
    uint16_t port = tls ? 443 : 80;
    if (port_str && parse_port(port_str, plen, &port) != 0)
        return fail(why, "invalid port (expected 1-65535)");

    size_t tlen = strcspn(rest, "#");
    for (size_t i = 0; i < tlen; i++)
        if ((unsigned char)rest[i] <= ' ' || rest[i] == 0x7f)
            return fail(why, "spaces or control characters in path (percent-encode them)");

    if (userinfo)
        u->userinfo = percent_decode(userinfo, ulen);
    u->tls = tls;
    u->scheme = sv_xstrdup(tls ? "https" : "http");
    u->host = sv_xstrndup(host, hlen);
    for (char *c = u->host; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    u->port = port;
    if (tlen == 0)
        u->target = sv_xstrdup("/");
    else if (rest[0] == '?')
        u->target = sv_xasprintf("/%.*s", (int)tlen, rest);
    else
        u->target = sv_xstrndup(rest, tlen);
    bool default_port = port == (tls ? 443 : 80);
    bool v6 = auth[0] == '[';
    if (default_port)
        u->authority = v6 ? sv_xasprintf("[%s]", u->host) : sv_xstrdup(u->host);
    else
        u->authority =
            v6 ? sv_xasprintf("[%s]:%u", u->host, port) : sv_xasprintf("%s:%u", u->host, port);
    return 0;
}

void sv_url_free(sv_url_t *u)
{
    free(u->scheme);
    free(u->host);
    free(u->target);
    free(u->authority);
    free(u->userinfo);
    *u = (sv_url_t){0};
}
