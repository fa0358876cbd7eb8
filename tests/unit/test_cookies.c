/*
 * Unit tests for the cookie jar (src/http/cookies.h): which Set-Cookie values are
 * stored, replaced or deleted, and which cookies the Cookie header carries for a URL.
 * Expected values follow RFC 6265; the Expires timestamps were computed with
 * Python's calendar.timegm(email.utils.parsedate(...)), not with the code under test.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "http/cookies.h"
#include "http/url.h"
#include "util/util.h"

/* An arbitrary "now" (2023-11-14 22:13:20 UTC); only differences to it matter. */
#define NOW INT64_C(1700000000)

static sv_cookie_jar_t jar;

static void teardown(void)
{
    sv_cookie_jar_clear(&jar);
}

TestSuite(cookies, .fini = teardown);

static int set_at(const char *url_text, const char *set_cookie, int64_t now)
{
    sv_url_t u;
    int rc = sv_url_parse(&u, url_text, NULL);
    cr_assert_eq(rc, 0, "bad test URL %s", url_text);
    rc = sv_cookie_jar_set(&jar, &u, sv_span(set_cookie), now);
    sv_url_free(&u);
    return rc;
}

static void set_ok(const char *url_text, const char *set_cookie)
{
    int rc = set_at(url_text, set_cookie, NOW);
    cr_assert_eq(rc, 0, "Set-Cookie '%s' from %s: rc %d, want 0", set_cookie, url_text, rc);
}

static void set_rejected(const char *url_text, const char *set_cookie)
{
    size_t before = jar.n;
    int rc = set_at(url_text, set_cookie, NOW);
    cr_assert_eq(rc, SV_EPARSE, "Set-Cookie '%s' from %s: rc %d, want SV_EPARSE", set_cookie,
                 url_text, rc);
    cr_assert_eq(jar.n, before, "a rejected Set-Cookie '%s' changed the jar", set_cookie);
}

/* The Cookie header for url at time now, checked against want ("" for none). */
static void expect_header_at(const char *url_text, int64_t now, const char *want)
{
    sv_url_t u;
    cr_assert_eq(sv_url_parse(&u, url_text, NULL), 0, "bad test URL %s", url_text);
    sv_buf_t b;
    sv_buf_init(&b, 1 << 16);
    size_t n = sv_cookie_jar_header(&jar, &u, now, &b);
    char *got = sv_xstrndup(b.data ? b.data : "", b.len);
    sv_buf_free(&b);
    sv_url_free(&u);

    size_t want_n = 0;
    if (want[0] != '\0') {
        want_n = 1;
        for (const char *p = want; *p; p++)
            want_n += *p == ';';
    }
    cr_expect_str_eq(got, want, "Cookie header for %s: got '%s', want '%s'", url_text, got, want);
    cr_expect_eq(n, want_n, "cookie count for %s: got %zu, want %zu", url_text, n, want_n);
    free(got);
}

static void expect_header(const char *url_text, const char *want)
{
    expect_header_at(url_text, NOW, want);
}

/* --- domains ------------------------------------------------------------------- */

Test(cookies, host_only_cookie_goes_to_that_host_only)
{
    set_ok("http://example.com/", "sid=abc");
    cr_assert_eq(jar.n, 1);
    cr_expect(jar.cookies[0].host_only);
    cr_expect_str_eq(jar.cookies[0].domain, "example.com");

    expect_header("http://example.com/", "sid=abc");
    expect_header("http://EXAMPLE.com/other", "sid=abc"); /* host names are case-insensitive */
    expect_header("http://example.com:8080/", "sid=abc"); /* cookies ignore the port */
    expect_header("http://www.example.com/", "");
    expect_header("http://example.org/", "");
    expect_header("http://xexample.com/", "");
}

Test(cookies, domain_cookie_goes_to_subdomains)
{
    set_ok("http://www.example.com/", "sid=abc; Domain=example.com");
    cr_assert_eq(jar.n, 1);
    cr_expect_not(jar.cookies[0].host_only);
    cr_expect_str_eq(jar.cookies[0].domain, "example.com");

    expect_header("http://example.com/", "sid=abc");
    expect_header("http://www.example.com/", "sid=abc");
    expect_header("http://a.b.example.com/", "sid=abc");
    expect_header("http://notexample.com/", ""); /* a suffix, but not at a label boundary */
    expect_header("http://example.com.evil.org/", "");
    expect_header("http://example.org/", "");
}

Test(cookies, domain_equal_to_host_is_not_host_only)
{
    set_ok("http://example.com/", "sid=abc; Domain=EXAMPLE.COM");
    cr_assert_eq(jar.n, 1);
    cr_expect_not(jar.cookies[0].host_only);
    cr_expect_str_eq(jar.cookies[0].domain, "example.com"); /* lower-cased */
    expect_header("http://sub.example.com/", "sid=abc");
}

Test(cookies, foreign_domain_is_rejected)
{
    set_rejected("http://www.example.com/", "sid=abc; Domain=other.com");
    set_rejected("http://www.example.com/", "sid=abc; Domain=sub.www.example.com"); /* narrower */
    set_rejected("http://www.example.com/", "sid=abc; Domain=ample.com");
    set_rejected("http://example.com/", "sid=abc; Domain=www.example.com");
    cr_expect_eq(jar.n, 0);
    expect_header("http://www.example.com/", "");
    expect_header("http://other.com/", "");
}

Test(cookies, ip_address_host_gets_no_suffix_domain)
{
    /* Domain-matching by suffix is for host names only (RFC 6265 §5.1.3). */
    set_rejected("http://10.0.0.1/", "a=1; Domain=0.0.1");
    set_ok("http://127.0.0.1/", "b=2; Domain=127.0.0.1"); /* the address itself is fine */
    expect_header("http://127.0.0.1/", "b=2");
    /* "0.0.1" is a (strange) host name, and its Domain cookie must not reach 10.0.0.1 */
    set_ok("http://0.0.1/", "c=3; Domain=0.0.1");
    expect_header("http://0.0.1/", "c=3");
    expect_header("http://10.0.0.1/", "");
    set_ok("http://[::1]/", "d=4");
    expect_header("http://[::1]/", "d=4");
    expect_header("http://127.0.0.1/", "b=2");
}

Test(cookies, leading_dot_of_domain_is_ignored)
{
    set_ok("http://www.example.com/", "a=1; Domain=.example.com");
    cr_assert_eq(jar.n, 1);
    cr_expect_str_eq(jar.cookies[0].domain, "example.com");
    cr_expect_not(jar.cookies[0].host_only);
    expect_header("http://example.com/", "a=1");
    expect_header("http://x.example.com/", "a=1");

    /* ".example.com" and "example.com" name the same cookie: the second replaces it. */
    set_ok("http://www.example.com/", "a=2; Domain=example.com");
    cr_expect_eq(jar.n, 1);
    expect_header("http://example.com/", "a=2");
}

/* --- paths --------------------------------------------------------------------- */

Test(cookies, default_path_is_the_request_directory)
{
    set_ok("http://h/a/b/c", "x=1");
    cr_assert_eq(jar.n, 1);
    cr_expect_str_eq(jar.cookies[0].path, "/a/b");
    expect_header("http://h/a/b", "x=1");
    expect_header("http://h/a/b/", "x=1");
    expect_header("http://h/a/b/zzz?q=1", "x=1");
    expect_header("http://h/a/bc", "");
    expect_header("http://h/a", "");
    expect_header("http://h/", "");
}

Test(cookies, default_path_edge_cases)
{
    static const struct {
        const char *url, *path;
    } cases[] = {
        {"http://h/", "/"},
        {"http://h", "/"},
        {"http://h/page", "/"},
        {"http://h/dir/", "/dir"},
        {"http://h/a/b/?q=/x/y", "/a/b"}, /* a '/' in the query does not count */
        {"http://h/a?q=/x/y", "/"},
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
        set_ok(cases[i].url, "x=1");
        cr_assert_eq(jar.n, 1, "%s", cases[i].url);
        cr_expect_str_eq(jar.cookies[0].path, cases[i].path, "default path for %s", cases[i].url);
        sv_cookie_jar_clear(&jar);
    }
}

Test(cookies, path_attribute_matching)
{
    set_ok("http://h/", "p=1; Path=/a");
    cr_assert_eq(jar.n, 1);
    cr_expect_str_eq(jar.cookies[0].path, "/a");
    expect_header("http://h/a", "p=1");
    expect_header("http://h/a/", "p=1");
    expect_header("http://h/a/b", "p=1");
    expect_header("http://h/a?x=1", "p=1");
    expect_header("http://h/ab", "");
    expect_header("http://h/", "");
    expect_header("http://h/b/a", "");
    expect_header("http://h/A", ""); /* paths are case-sensitive */
}

Test(cookies, path_attribute_with_trailing_slash)
{
    set_ok("http://h/", "p=1; Path=/a/");
    expect_header("http://h/a/", "p=1");
    expect_header("http://h/a/b", "p=1");
    expect_header("http://h/a", "");
}

Test(cookies, path_attribute_without_slash_uses_default)
{
    set_ok("http://h/d/page", "p=1; Path=a");
    cr_assert_eq(jar.n, 1);
    cr_expect_str_eq(jar.cookies[0].path, "/d");
    sv_cookie_jar_clear(&jar);
    set_ok("http://h/d/page", "p=1; Path=");
    cr_assert_eq(jar.n, 1);
    cr_expect_str_eq(jar.cookies[0].path, "/d");
}

Test(cookies, root_path_goes_everywhere)
{
    set_ok("http://h/deep/down/page", "r=1; Path=/");
    expect_header("http://h/", "r=1");
    expect_header("http://h/anything/at/all?q", "r=1");
}

/* --- expiry -------------------------------------------------------------------- */

Test(cookies, session_cookie_has_no_expiry)
{
    set_ok("http://h/", "s=1");
    cr_assert_eq(jar.n, 1);
    cr_expect_eq(jar.cookies[0].expires, 0);
    expect_header_at("http://h/", NOW + INT64_C(100) * 365 * 86400, "s=1");
}

Test(cookies, positive_max_age_is_relative_to_now)
{
    set_ok("http://h/", "m=1; Max-Age=60");
    cr_assert_eq(jar.n, 1);
    cr_expect_eq(jar.cookies[0].expires, NOW + 60);
    expect_header_at("http://h/", NOW, "m=1");
    expect_header_at("http://h/", NOW + 59, "m=1");
    expect_header_at("http://h/", NOW + 60, ""); /* expired at its expiry time */
    expect_header_at("http://h/", NOW + 3600, "");
}

Test(cookies, max_age_relative_to_any_now)
{
    /* The jar must not confuse a small expiry time with a marker value. */
    cr_assert_eq(set_at("http://h/", "m=1; Max-Age=1", 0), 0);
    cr_assert_eq(jar.n, 1);
    expect_header_at("http://h/", 0, "m=1");
    expect_header_at("http://h/", 1, "");
}

Test(cookies, zero_or_negative_max_age_deletes)
{
    set_ok("http://h/", "a=1");
    set_ok("http://h/", "b=2");
    set_ok("http://h/", "c=3");
    expect_header("http://h/", "a=1; b=2; c=3");

    set_ok("http://h/", "a=gone; Max-Age=0");
    expect_header("http://h/", "b=2; c=3");
    set_ok("http://h/", "b=gone; Max-Age=-1");
    expect_header("http://h/", "c=3");
    cr_expect_eq(jar.n, 1);

    /* a cookie that arrives already expired is not stored */
    set_ok("http://h/", "d=4; Max-Age=0");
    set_ok("http://h/", "e=5; Max-Age=-100");
    cr_expect_eq(jar.n, 1);
    expect_header("http://h/", "c=3");
}

Test(cookies, deletion_needs_matching_domain_and_path)
{
    set_ok("http://h/", "a=1; Path=/x");
    set_ok("http://h/", "a=gone; Max-Age=0"); /* path "/", a different cookie */
    expect_header("http://h/x", "a=1");
    set_ok("http://h/", "a=gone; Path=/x; Max-Age=0");
    expect_header("http://h/x", "");
    cr_expect_eq(jar.n, 0);
}

Test(cookies, invalid_max_age_is_ignored)
{
    /* RFC 6265 §5.2.2: a Max-Age that is not [-]digits is ignored, not taken as 0. */
    set_ok("http://h/", "a=1; Max-Age=abc");
    set_ok("http://h/", "b=2; Max-Age=");
    set_ok("http://h/", "c=3; Max-Age=10x");
    cr_assert_eq(jar.n, 3);
    for (size_t i = 0; i < jar.n; i++)
        cr_expect_eq(jar.cookies[i].expires, 0, "%s", jar.cookies[i].name);
    expect_header("http://h/", "a=1; b=2; c=3");
}

Test(cookies, huge_max_age_does_not_overflow)
{
    set_ok("http://h/", "a=1; Max-Age=99999999999999999999999");
    set_ok("http://h/", "b=2; Max-Age=9223372036854775807");
    cr_assert_eq(jar.n, 2);
    expect_header_at("http://h/", INT64_MAX - 1, "a=1; b=2");
}

Test(cookies, expires_imf_fixdate)
{
    /* Wed, 21 Oct 2015 07:28:00 GMT = 1445412480 */
    const int64_t t = INT64_C(1445412480);
    cr_assert_eq(set_at("http://h/", "e=1; Expires=Wed, 21 Oct 2015 07:28:00 GMT", t - 100), 0);
    cr_assert_eq(jar.n, 1);
    cr_expect_eq(jar.cookies[0].expires, t);
    expect_header_at("http://h/", t - 1, "e=1");
    expect_header_at("http://h/", t, "");
}

Test(cookies, expires_other_dates)
{
    /* Sun, 06 Nov 1994 08:49:37 GMT = 784111777; Fri, 01 Jan 2100 00:00:00 GMT = 4102444800 */
    cr_assert_eq(set_at("http://h/", "a=1; expires=Sun, 06 Nov 1994 08:49:37 GMT", 0), 0);
    set_ok("http://h/", "b=2; Expires=Fri, 01 Jan 2100 00:00:00 GMT");
    cr_assert_eq(jar.n, 2);
    cr_expect_eq(jar.cookies[0].expires, INT64_C(784111777));
    cr_expect_eq(jar.cookies[1].expires, INT64_C(4102444800));
}

Test(cookies, expires_with_two_digit_year)
{
    /* The older "DD-Mon-YY" form; 70-99 are 19xx, 00-69 are 20xx (RFC 6265 §5.1.1).
     * 2037-10-21 07:28:00 = 2139722880; 1999-12-31 23:59:59 = 946684799 */
    cr_assert_eq(set_at("http://h/", "a=1; Expires=Wed, 21-Oct-37 07:28:00 GMT", 0), 0);
    cr_assert_eq(set_at("http://h/", "b=2; Expires=Fri, 31-Dec-99 23:59:59 GMT", 0), 0);
    cr_assert_eq(jar.n, 2);
    cr_expect_eq(jar.cookies[0].expires, INT64_C(2139722880));
    cr_expect_eq(jar.cookies[1].expires, INT64_C(946684799));
}

Test(cookies, past_expires_deletes)
{
    set_ok("http://h/", "a=1");
    set_ok("http://h/", "b=2");
    set_ok("http://h/", "c=3");
    set_ok("http://h/", "a=; Expires=Thu, 01 Jan 1970 00:00:00 GMT"); /* = 0 */
    expect_header("http://h/", "b=2; c=3");
    set_ok("http://h/", "b=; Expires=Wed, 21 Oct 2015 07:28:00 GMT");
    expect_header("http://h/", "c=3");
    /* Sat, 01 Jan 1960 00:00:00 GMT = -315619200: before the epoch, still in the past */
    set_ok("http://h/", "c=; Expires=Sat, 01 Jan 1960 00:00:00 GMT");
    expect_header("http://h/", "");
    cr_expect_eq(jar.n, 0);
}

Test(cookies, unparsable_expires_is_ignored)
{
    set_ok("http://h/", "a=1; Expires=tomorrow");
    set_ok("http://h/", "b=2; Expires=");
    cr_assert_eq(jar.n, 2);
    cr_expect_eq(jar.cookies[0].expires, 0);
    cr_expect_eq(jar.cookies[1].expires, 0);
}

Test(cookies, max_age_wins_over_expires)
{
    /* either order: Max-Age in the future, Expires in the past */
    set_ok("http://h/", "a=1; Max-Age=60; Expires=Thu, 01 Jan 1970 00:00:00 GMT");
    set_ok("http://h/", "b=2; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=60");
    cr_assert_eq(jar.n, 2);
    cr_expect_eq(jar.cookies[0].expires, NOW + 60);
    cr_expect_eq(jar.cookies[1].expires, NOW + 60);

    /* and the other way round: Max-Age deletes although Expires is far ahead */
    set_ok("http://h/", "a=x; Max-Age=0; Expires=Fri, 01 Jan 2100 00:00:00 GMT");
    set_ok("http://h/", "b=x; Expires=Fri, 01 Jan 2100 00:00:00 GMT; Max-Age=0");
    cr_expect_eq(jar.n, 0);
}

/* --- replacement and order ----------------------------------------------------- */

Test(cookies, same_name_domain_path_replaces)
{
    set_ok("http://h/", "a=1");
    set_ok("http://h/", "a=2");
    cr_expect_eq(jar.n, 1);
    expect_header("http://h/", "a=2");

    /* a different path or domain makes a different cookie */
    set_ok("http://h/", "a=3; Path=/p");
    cr_expect_eq(jar.n, 2);
    expect_header("http://h/p", "a=3; a=2");
    set_ok("http://sub.h/", "a=4");
    cr_expect_eq(jar.n, 3);
    expect_header("http://sub.h/", "a=4");

    /* names are case-sensitive */
    set_ok("http://h/", "A=5");
    cr_expect_eq(jar.n, 4);
    expect_header("http://h/", "a=2; A=5");
}

Test(cookies, replacing_updates_attributes)
{
    set_ok("http://example.com/", "a=1; Max-Age=60");
    set_ok("http://example.com/", "a=2; Domain=example.com"); /* same name, domain, path */
    cr_assert_eq(jar.n, 1);
    cr_expect_not(jar.cookies[0].host_only);
    cr_expect_eq(jar.cookies[0].expires, 0);
    expect_header("http://www.example.com/", "a=2");
}

Test(cookies, replacing_keeps_the_original_position)
{
    /* RFC 6265 §5.3 step 11: the new cookie keeps the old one's creation time, and
     * §5.4: equal path lengths go out oldest first. */
    set_ok("http://h/", "a=1");
    set_ok("http://h/", "b=2");
    set_ok("http://h/", "c=3");
    set_ok("http://h/", "a=9");
    expect_header("http://h/", "a=9; b=2; c=3");
    set_ok("http://h/", "b=8");
    expect_header("http://h/", "a=9; b=8; c=3");
}

Test(cookies, longer_paths_first)
{
    set_ok("http://h/", "root=1; Path=/");
    set_ok("http://h/", "deep=3; Path=/x/y");
    set_ok("http://h/", "mid=2; Path=/x");
    set_ok("http://h/", "root2=4");
    set_ok("http://h/", "deep2=5; Path=/x/y");
    expect_header("http://h/x/y/z", "deep=3; deep2=5; mid=2; root=1; root2=4");
    expect_header("http://h/x/q", "mid=2; root=1; root2=4");
    expect_header("http://h/", "root=1; root2=4");
}

/* --- secure -------------------------------------------------------------------- */

Test(cookies, secure_cookie_only_over_https)
{
    set_ok("https://h/", "s=1; Secure");
    set_ok("https://h/", "p=2");
    cr_assert_eq(jar.n, 2);
    cr_expect(jar.cookies[0].secure);
    cr_expect_not(jar.cookies[1].secure);
    expect_header("https://h/", "s=1; p=2");
    expect_header("https://h:8443/x", "s=1; p=2");
    expect_header("http://h/", "p=2");
}

Test(cookies, attribute_names_are_case_insensitive)
{
    set_ok("https://www.example.com/", "a=1; SECURE; path=/p; DOMAIN=example.com; max-age=60");
    cr_assert_eq(jar.n, 1);
    cr_expect(jar.cookies[0].secure);
    cr_expect_str_eq(jar.cookies[0].path, "/p");
    cr_expect_str_eq(jar.cookies[0].domain, "example.com");
    cr_expect_eq(jar.cookies[0].expires, NOW + 60);
    cr_expect_not(jar.cookies[0].host_only);
}

/* --- parsing ------------------------------------------------------------------- */

Test(cookies, malformed_set_cookie_is_rejected)
{
    static const char *bad[] = {
        "", "   ", "novalue", "noequals; Path=/", "=value", " =value", ";a=1", "; Path=/",
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++)
        set_rejected("http://h/", bad[i]);
    cr_expect_eq(jar.n, 0);
    expect_header("http://h/", "");
}

Test(cookies, name_and_value_are_trimmed)
{
    set_ok("http://h/", "  a = 1  ; Path=/");
    set_ok("http://h/", "b=");
    set_ok("http://h/", "c=x=y");
    set_ok("http://h/", "d=\"quoted\"");
    cr_assert_eq(jar.n, 4);
    cr_expect_str_eq(jar.cookies[0].name, "a");
    cr_expect_str_eq(jar.cookies[0].value, "1");
    expect_header("http://h/", "a=1; b=; c=x=y; d=\"quoted\"");
}

Test(cookies, unknown_attributes_are_ignored)
{
    set_ok("http://h/", "a=1; HttpOnly; SameSite=Lax; Priority=High; ; junk");
    cr_assert_eq(jar.n, 1);
    cr_expect_eq(jar.cookies[0].expires, 0);
    cr_expect_not(jar.cookies[0].secure);
    expect_header("http://h/", "a=1");
}

Test(cookies, clear_empties_the_jar)
{
    set_ok("http://h/", "a=1");
    set_ok("http://h/", "b=2");
    sv_cookie_jar_clear(&jar);
    cr_expect_eq(jar.n, 0);
    cr_expect_null(jar.cookies);
    expect_header("http://h/", "");
    set_ok("http://h/", "c=3"); /* usable again after clearing */
    expect_header("http://h/", "c=3");
}
