/*
 * Unit tests for absolute URL parsing (src/http/url.h).
 */
#define _GNU_SOURCE /* strcasestr */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <strings.h>

#include "http/url.h"
#include "util/util.h"

typedef struct {
    const char *text;
    const char *scheme, *host;
    unsigned port;
    const char *target, *authority;
    bool tls;
} good_url_t;

static void check_good(const good_url_t *g)
{
    sv_url_t u;
    const char *why = NULL;
    int rc = sv_url_parse(&u, g->text, &why);
    cr_assert_eq(rc, 0, "%s: rc %d (%s)", g->text, rc, why ? why : "");
    cr_assert_str_eq(u.scheme, g->scheme, "%s: scheme", g->text);
    cr_assert_str_eq(u.host, g->host, "%s: host", g->text);
    cr_assert_eq(u.port, g->port, "%s: port %u", g->text, u.port);
    cr_assert_str_eq(u.target, g->target, "%s: target", g->text);
    cr_assert_str_eq(u.authority, g->authority, "%s: authority", g->text);
    cr_assert_eq(u.tls, g->tls, "%s: tls", g->text);
    sv_url_free(&u);
    cr_assert_null(u.host);
}

Test(url, scheme_defaults)
{
    check_good(
        &(good_url_t){"http://example.com/", "http", "example.com", 80, "/", "example.com", false});
    check_good(&(good_url_t){"https://example.com/", "https", "example.com", 443, "/",
                             "example.com", true});
    check_good(&(good_url_t){"HTTPS://example.com/a", "https", "example.com", 443, "/a",
                             "example.com", true});
}

Test(url, empty_path_is_root)
{
    check_good(
        &(good_url_t){"http://example.com", "http", "example.com", 80, "/", "example.com", false});
    check_good(&(good_url_t){"https://h:8443", "https", "h", 8443, "/", "h:8443", true});
}

Test(url, explicit_ports)
{
    check_good(&(good_url_t){"http://localhost:8080/api/v1?x=1", "http", "localhost", 8080,
                             "/api/v1?x=1", "localhost:8080", false});
    check_good(&(good_url_t){"https://h:1/", "https", "h", 1, "/", "h:1", true});
    check_good(&(good_url_t){"http://h:65535/", "http", "h", 65535, "/", "h:65535", false});
    /* The scheme's own port is left out of the Host form... */
    check_good(&(good_url_t){"http://h:80/x", "http", "h", 80, "/x", "h", false});
    check_good(&(good_url_t){"https://h:443/x", "https", "h", 443, "/x", "h", true});
    /* ...but the other scheme's is not. */
    check_good(&(good_url_t){"http://h:443/x", "http", "h", 443, "/x", "h:443", false});
    check_good(&(good_url_t){"https://h:80/x", "https", "h", 80, "/x", "h:80", true});
    check_good(&(good_url_t){"http://h:0080/", "http", "h", 80, "/", "h", false});
}

Test(url, ipv6_literals)
{
    check_good(&(good_url_t){"http://[::1]/", "http", "::1", 80, "/", "[::1]", false});
    check_good(
        &(good_url_t){"http://[::1]:8080/p", "http", "::1", 8080, "/p", "[::1]:8080", false});
    check_good(&(good_url_t){"https://[2001:DB8::a:1]", "https", "2001:db8::a:1", 443, "/",
                             "[2001:db8::a:1]", true});
    check_good(&(good_url_t){"http://[::ffff:192.0.2.1]:81?q", "http", "::ffff:192.0.2.1", 81,
                             "/?q", "[::ffff:192.0.2.1]:81", false});
}

Test(url, ipv4_and_names)
{
    check_good(&(good_url_t){"http://127.0.0.1:3000/", "http", "127.0.0.1", 3000, "/",
                             "127.0.0.1:3000", false});
    check_good(&(good_url_t){"http://my-host_1.example~x/", "http", "my-host_1.example~x", 80, "/",
                             "my-host_1.example~x", false});
}

Test(url, query_without_path)
{
    check_good(&(good_url_t){"http://h?x=1", "http", "h", 80, "/?x=1", "h", false});
    check_good(&(good_url_t){"http://h:81?x=1&y=2", "http", "h", 81, "/?x=1&y=2", "h:81", false});
}

Test(url, fragment_dropped)
{
    check_good(&(good_url_t){"http://h/page#section", "http", "h", 80, "/page", "h", false});
    check_good(&(good_url_t){"http://h/p?q=1#frag", "http", "h", 80, "/p?q=1", "h", false});
    check_good(&(good_url_t){"http://h#frag", "http", "h", 80, "/", "h", false});
    check_good(&(good_url_t){"http://h:90#f", "http", "h", 90, "/", "h:90", false});
    /* What follows '#' never reaches the wire, so spaces there are fine. */
    check_good(&(good_url_t){"http://h/a#b c", "http", "h", 80, "/a", "h", false});
}

Test(url, host_lower_cased)
{
    check_good(&(good_url_t){"http://ExAmPlE.COM:8080/Path/CASE?Q=V", "http", "example.com", 8080,
                             "/Path/CASE?Q=V", "example.com:8080", false});
}

Test(url, path_kept_verbatim)
{
    check_good(&(good_url_t){"http://h/a/b/../c/%20d;p=1?x=%2F&y=@", "http", "h", 80,
                             "/a/b/../c/%20d;p=1?x=%2F&y=@", "h", false});
}

/* The URL must fail with SV_EPARSE and a reason containing every listed word. */
static void check_bad(const char *text, const char *word)
{
    sv_url_t u;
    const char *why = NULL;
    int rc = sv_url_parse(&u, text, &why);
    cr_assert_eq(rc, SV_EPARSE, "accepted \"%s\" (rc %d)", text, rc);
    cr_assert_not_null(why, "%s: no reason", text);
    cr_assert(strcasestr(why, word) != NULL, "%s: reason \"%s\" does not mention \"%s\"", text, why,
              word);
    /* Nothing is left to free, and freeing is still safe. */
    cr_assert_null(u.scheme);
    cr_assert_null(u.host);
    cr_assert_null(u.target);
    cr_assert_null(u.authority);
    sv_url_free(&u);
    /* The reason is optional. */
    cr_assert_eq(sv_url_parse(&u, text, NULL), SV_EPARSE);
}

Test(url, missing_scheme)
{
    check_bad("example.com/path", "scheme");
    check_bad("//example.com/", "scheme");
    check_bad("", "scheme");
    check_bad("http:/example.com", "scheme");
}

Test(url, unsupported_schemes)
{
    check_bad("ftp://example.com/", "scheme");
    check_bad("ws://example.com/", "scheme");
    check_bad("httpx://example.com/", "scheme");
    check_bad("://example.com/", "scheme");
}

Test(url, empty_host)
{
    check_bad("http:///path", "host");
    check_bad("http://", "host");
    check_bad("http://:8080/", "host");
    check_bad("http://?x=1", "host");
    check_bad("http://[]:80/", "host");
}

Test(url, bad_ports)
{
    check_bad("http://h:0/", "port");
    check_bad("http://h:65536/", "port");
    check_bad("http://h:99999/", "port");
    check_bad("http://h:123456/", "port");
    check_bad("http://h:abc/", "port");
    check_bad("http://h:80a/", "port");
    check_bad("http://h:-1/", "port");
    check_bad("http://h:8080:90/", "port");
    check_bad("http://[::1]:x/", "port");
    check_bad("http://[::1]:70000/", "port");
}

Test(url, userinfo_becomes_credentials)
{
    sv_url_t u;
    const char *why = NULL;
    cr_assert_eq(sv_url_parse(&u, "http://user:s%40cret@h:8080/x", &why), 0, "%s", why);
    cr_assert_str_eq(u.userinfo, "user:s@cret", "percent-decoded");
    cr_assert_str_eq(u.host, "h");
    cr_assert_str_eq(u.authority, "h:8080", "credentials never go into Host");
    cr_assert_str_eq(u.target, "/x");
    sv_url_free(&u);
    cr_assert_eq(sv_url_parse(&u, "http://h/", &why), 0);
    cr_assert_null(u.userinfo);
    sv_url_free(&u);
    check_bad("https://@h/", "credentials");
}

Test(url, spaces_and_controls_in_path)
{
    check_bad("http://h/a b", "spaces");
    check_bad("http://h/a?q=x y", "spaces");
    check_bad("http://h/a\tb", "control");
    check_bad("http://h/a\x7f", "control");
}

Test(url, bad_hosts)
{
    check_bad("http://exa mple.com/", "host");
    check_bad("http://h!/", "host");
    check_bad("http://[::1/", "IPv6");
    check_bad("http://[::1]x/", "IPv6");
    check_bad("http://[::g]/", "IPv6");
}
