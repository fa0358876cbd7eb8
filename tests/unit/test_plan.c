/*
 * Unit tests for the plan's value parsers and duration formatting (src/plan/plan.h).
 */
#include <criterion/criterion.h>

#include <stdio.h>

#include "plan/plan.h"
#include "util/util.h"

#define NS_PER_US 1000ULL
#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
#define NS_PER_M (60 * NS_PER_S)
#define NS_PER_H (60 * NS_PER_M)

#define SENTINEL 0xdeadbeefcafef00dULL

/* ---- durations ----------------------------------------------------------------- */

static void check_duration(const char *s, uint64_t want)
{
    uint64_t ns = SENTINEL;
    int rc = sv_parse_duration(s, &ns);
    cr_assert_eq(rc, 0, "\"%s\": rc %d", s, rc);
    cr_assert_eq(ns, want, "\"%s\": %llu ns, want %llu", s, (unsigned long long)ns,
                 (unsigned long long)want);
}

static void check_bad_duration(const char *s)
{
    uint64_t ns = SENTINEL;
    int rc = sv_parse_duration(s, &ns);
    cr_assert(rc == SV_EPARSE || rc == SV_ERANGE, "\"%s\" accepted (rc %d, %llu ns)",
              s ? s : "(null)", rc, (unsigned long long)ns);
    cr_assert_eq(ns, SENTINEL, "\"%s\": output written on failure", s ? s : "(null)");
}

Test(duration, units)
{
    check_duration("250ms", 250 * NS_PER_MS);
    check_duration("30s", 30 * NS_PER_S);
    check_duration("2m", 2 * NS_PER_M);
    check_duration("1h", NS_PER_H);
    check_duration("1d", 24 * NS_PER_H);
    check_duration("100us", 100 * NS_PER_US);
    check_duration("100\xc2\xb5s", 100 * NS_PER_US);
    check_duration("750ns", 750);
}

Test(duration, compound_and_fractions)
{
    check_duration("1h30m", NS_PER_H + 30 * NS_PER_M);
    check_duration("1m30s", 90 * NS_PER_S);
    check_duration("2h45m10s500ms", 2 * NS_PER_H + 45 * NS_PER_M + 10 * NS_PER_S + 500 * NS_PER_MS);
    check_duration("1.5s", 1500 * NS_PER_MS);
    check_duration("0.25s", 250 * NS_PER_MS);
    check_duration(".5s", 500 * NS_PER_MS);
    check_duration("1.5m", 90 * NS_PER_S);
    check_duration("0.1s", 100 * NS_PER_MS);
    check_duration("2.5ms", 2500 * NS_PER_US);
    check_duration("0s", 0);
}

Test(duration, bare_number_is_seconds)
{
    check_duration("90", 90 * NS_PER_S);
    check_duration("1", NS_PER_S);
    check_duration("0.5", 500 * NS_PER_MS);
    check_duration("3600", NS_PER_H);
}

Test(duration, malformed)
{
    check_bad_duration(NULL);
    check_bad_duration("");
    check_bad_duration("abc");
    check_bad_duration("10x");
    check_bad_duration("-1s");
    check_bad_duration("1h30");
    check_bad_duration("s");
    check_bad_duration("ms");
    check_bad_duration("1 s");
    check_bad_duration(" 1s");
    check_bad_duration("1s ");
    check_bad_duration("1sm");
    check_bad_duration("1hh");
    check_bad_duration("1msec");
    check_bad_duration("1S");
    check_bad_duration(".");
    check_bad_duration("1.2.3");
    check_bad_duration("+5s");
    check_bad_duration("5s-1s");
}

Test(duration, out_of_range)
{
    uint64_t ns = SENTINEL;
    /* 10^12 hours is far past what 64 bits of nanoseconds hold. */
    cr_assert_eq(sv_parse_duration("1000000000000h", &ns), SV_ERANGE);
    cr_assert_eq(ns, SENTINEL);
    cr_assert_eq(sv_parse_duration("99999999999999999999", &ns), SV_ERANGE);
    cr_assert_eq(ns, SENTINEL);
}

Test(duration, large_in_range_value_is_exact_or_rejected)
{
    /* Totals past int64 nanoseconds are rejected, never wrapped through llround. */
    uint64_t ns = SENTINEL;
    int rc = sv_parse_duration("9300000000s", &ns);
    if (rc == 0)
        cr_assert_eq(ns, 9300000000ULL * NS_PER_S, "got %llu", (unsigned long long)ns);
    else
        cr_assert_eq(rc, SV_ERANGE);
}

/* ---- rates --------------------------------------------------------------------- */

static void check_rate(const char *s, uint64_t count, uint64_t per_ns)
{
    sv_rate_t r = {SENTINEL, SENTINEL};
    int rc = sv_parse_rate(s, &r);
    cr_assert_eq(rc, 0, "\"%s\": rc %d", s, rc);
    cr_assert_eq(r.count, count, "\"%s\": count %llu", s, (unsigned long long)r.count);
    cr_assert_eq(r.per_ns, per_ns, "\"%s\": per %llu ns", s, (unsigned long long)r.per_ns);
}

static void check_bad_rate(const char *s)
{
    sv_rate_t r = {SENTINEL, SENTINEL};
    int rc = sv_parse_rate(s, &r);
    cr_assert(rc == SV_EPARSE || rc == SV_ERANGE, "\"%s\" accepted (rc %d)", s ? s : "(null)", rc);
    cr_assert(r.count == SENTINEL && r.per_ns == SENTINEL, "\"%s\": output written on failure",
              s ? s : "(null)");
}

Test(rate, forms)
{
    check_rate("2000/s", 2000, NS_PER_S);
    check_rate("100/m", 100, NS_PER_M);
    check_rate("5/1h", 5, NS_PER_H);
    check_rate("10/250ms", 10, 250 * NS_PER_MS);
    check_rate("7", 7, NS_PER_S);
    check_rate("3/10s", 3, 10 * NS_PER_S);
    check_rate("1/ms", 1, NS_PER_MS);
    check_rate("1/1.5s", 1, 1500 * NS_PER_MS);
    check_rate("60/1m30s", 60, 90 * NS_PER_S);
    check_rate("4/2", 4, 2 * NS_PER_S); /* a bare period is seconds, like a duration */
}

Test(rate, malformed)
{
    check_bad_rate(NULL);
    check_bad_rate("");
    check_bad_rate("0/s");
    check_bad_rate("0");
    check_bad_rate("/s");
    check_bad_rate("10/");
    check_bad_rate("ten/s");
    check_bad_rate("10/0s");
    check_bad_rate("10/x");
    check_bad_rate("10//s");
    check_bad_rate("-1/s");
    check_bad_rate("1.5/s");
    check_bad_rate("10/s/s");
    check_bad_rate(" 10/s");
    check_bad_rate("10 /s");
    check_bad_rate("99999999999999999999999999999999999/s");
}

/* ---- sizes --------------------------------------------------------------------- */

static void check_size(const char *s, uint64_t want)
{
    uint64_t b = SENTINEL;
    int rc = sv_parse_size(s, &b);
    cr_assert_eq(rc, 0, "\"%s\": rc %d", s, rc);
    cr_assert_eq(b, want, "\"%s\": %llu bytes", s, (unsigned long long)b);
}

Test(size, units)
{
    check_size("512", 512);
    check_size("0", 0);
    check_size("100B", 100);
    check_size("64KB", 64 * 1000);
    check_size("64kb", 64 * 1000);
    check_size("64K", 64 * 1000);
    check_size("10MB", 10 * 1000 * 1000);
    check_size("2GB", 2ULL * 1000 * 1000 * 1000);
    check_size("64KiB", 64 * 1024);
    check_size("10MiB", 10 * 1024 * 1024);
    check_size("1GiB", 1024ULL * 1024 * 1024);
    check_size("1gib", 1024ULL * 1024 * 1024);
    check_size("1.5KiB", 1536);
    check_size("2.5MB", 2500000);
    check_size("10 MB", 10 * 1000 * 1000);
}

Test(size, malformed)
{
    const char *bad[] = {"10XB", "", "KB", "-1", "-1KB", "1 0KB", "10MBs", "10 M B", "ten", "1e"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        uint64_t b = SENTINEL;
        int rc = sv_parse_size(bad[i], &b);
        cr_assert(rc == SV_EPARSE || rc == SV_ERANGE, "\"%s\" accepted (rc %d)", bad[i], rc);
        cr_assert_eq(b, SENTINEL);
    }
    uint64_t b = SENTINEL;
    cr_assert_eq(sv_parse_size(NULL, &b), SV_EPARSE);
    cr_assert_eq(sv_parse_size("1000000000000GB", &b), SV_ERANGE);
    cr_assert_eq(b, SENTINEL);
}

/* ---- unsigned integers --------------------------------------------------------- */

Test(uint, ranges)
{
    uint64_t v = SENTINEL;
    cr_assert_eq(sv_parse_uint("1", 10, &v), 0);
    cr_assert_eq(v, 1);
    cr_assert_eq(sv_parse_uint("10", 10, &v), 0);
    cr_assert_eq(v, 10);
    cr_assert_eq(sv_parse_uint("007", 10, &v), 0);
    cr_assert_eq(v, 7);
    cr_assert_eq(sv_parse_uint("18446744073709551615", UINT64_MAX, &v), 0);
    cr_assert_eq(v, UINT64_MAX);

    v = SENTINEL;
    cr_assert_eq(sv_parse_uint("11", 10, &v), SV_ERANGE);
    cr_assert_eq(sv_parse_uint("4294967296", UINT32_MAX, &v), SV_ERANGE);
    cr_assert_eq(sv_parse_uint("18446744073709551616", UINT64_MAX, &v), SV_ERANGE);
    cr_assert_eq(sv_parse_uint("99999999999999999999999", UINT64_MAX, &v), SV_ERANGE);
    cr_assert_neq(sv_parse_uint("0", 10, &v), 0, "zero is not positive");
    cr_assert_eq(v, SENTINEL);
}

Test(uint, malformed)
{
    const char *bad[] = {"", "abc", "-1", "+1", " 1", "1 ", "1.0", "0x10", "1e3", "12a"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        uint64_t v = SENTINEL;
        cr_assert_eq(sv_parse_uint(bad[i], UINT64_MAX, &v), SV_EPARSE, "\"%s\"", bad[i]);
        cr_assert_eq(v, SENTINEL);
    }
    uint64_t v = SENTINEL;
    cr_assert_eq(sv_parse_uint(NULL, 10, &v), SV_EPARSE);
}

/* ---- formatting ---------------------------------------------------------------- */

static void check_format(uint64_t ns, const char *want)
{
    char out[64];
    sv_format_duration(ns, out, sizeof(out));
    cr_assert_str_eq(out, want, "%llu ns", (unsigned long long)ns);
}

Test(format_duration, k6_style)
{
    check_format(250 * NS_PER_MS, "250ms");
    check_format(1500 * NS_PER_US, "1.5ms");
    check_format(30 * NS_PER_S, "30s");
    check_format(1500 * NS_PER_MS, "1.5s");
    check_format(90 * NS_PER_S, "1m30s");
    check_format(2 * NS_PER_M, "2m0s");
    check_format(NS_PER_H, "1h0m0s");
    check_format(NS_PER_H + 30 * NS_PER_M + 15 * NS_PER_S, "1h30m15s");
    check_format(61 * NS_PER_S + 250 * NS_PER_MS, "1m1.25s");
    check_format(100 * NS_PER_H + 5 * NS_PER_S, "100h0m5s");
}

Test(format_duration, parses_back)
{
    /* Whatever is printed must read back as the same duration (ms precision). */
    uint64_t state = 12345;
    for (int i = 0; i < 20000; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        uint64_t ms = (state >> 20) % (48 * 3600 * 1000ULL);
        if (i % 4 == 0)
            ms %= 1000; /* plenty of sub-second values */
        uint64_t ns = ms * NS_PER_MS, back = SENTINEL;
        char out[64];
        sv_format_duration(ns, out, sizeof(out));
        cr_assert_eq(sv_parse_duration(out, &back), 0, "\"%s\" does not parse", out);
        cr_assert_eq(back, ns, "%llu ns printed as \"%s\"", (unsigned long long)ns, out);
    }
}

Test(format_duration, truncates_to_the_buffer)
{
    /* A short buffer truncates the text and is never overrun. */
    char buf[32];
    memset(buf, 'X', sizeof(buf));
    sv_format_duration(100 * NS_PER_H + 5 * NS_PER_S, buf, 4);
    cr_assert_eq(buf[3], '\0', "not terminated within size");
    for (size_t i = 4; i < sizeof(buf); i++)
        cr_assert_eq(buf[i], 'X', "byte %zu written past the buffer", i);
}
