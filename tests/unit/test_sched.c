/*
 * Unit tests for the executor maths (src/sched/sched.h): splitting work among parts
 * and the arrival times of a constant rate.
 */
#include <criterion/criterion.h>
#include <math.h>

#include <stdlib.h>

#include "sched/sched.h"

#define NS_PER_S 1000000000ULL

static uint64_t rng_state = 42;

static uint64_t rng_next(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static uint64_t rng_range(uint64_t lo, uint64_t hi) /* inclusive */
{
    return lo + rng_next() % (hi - lo + 1);
}

/* ---- shares -------------------------------------------------------------------- */

static void check_shares(uint64_t total, uint32_t parts)
{
    uint64_t sum = 0, lo = UINT64_MAX, hi = 0;
    for (uint32_t i = 0; i < parts; i++) {
        uint64_t s = sv_sched_share(total, i, parts);
        sum += s;
        lo = s < lo ? s : lo;
        hi = s > hi ? s : hi;
        /* The larger shares come first. */
        if (i > 0)
            cr_assert_leq(s, sv_sched_share(total, i - 1, parts));
    }
    cr_assert_eq(sum, total, "total %llu over %u parts sums to %llu", (unsigned long long)total,
                 parts, (unsigned long long)sum);
    cr_assert_leq(hi - lo, 1, "total %llu over %u parts: shares %llu..%llu",
                  (unsigned long long)total, parts, (unsigned long long)lo, (unsigned long long)hi);
}

Test(share, sums_to_total_and_differs_by_at_most_one)
{
    for (uint64_t total = 0; total <= 300; total++)
        for (uint32_t parts = 1; parts <= 40; parts++)
            check_shares(total, parts);
    for (int i = 0; i < 2000; i++)
        check_shares(rng_range(0, 1ULL << 40), (uint32_t)rng_range(1, 1000));
    check_shares(UINT64_MAX, 7);
    check_shares(UINT64_MAX, 1);
}

Test(share, examples)
{
    /* 10 VUs over 3 workers: 4, 3, 3. */
    cr_assert_eq(sv_sched_share(10, 0, 3), 4);
    cr_assert_eq(sv_sched_share(10, 1, 3), 3);
    cr_assert_eq(sv_sched_share(10, 2, 3), 3);
    /* Fewer units than parts: some parts get nothing. */
    cr_assert_eq(sv_sched_share(2, 0, 4), 1);
    cr_assert_eq(sv_sched_share(2, 1, 4), 1);
    cr_assert_eq(sv_sched_share(2, 2, 4), 0);
    cr_assert_eq(sv_sched_share(2, 3, 4), 0);
    cr_assert_eq(sv_sched_share(5, 0, 1), 5);
}

Test(share, out_of_range_parts_get_nothing)
{
    cr_assert_eq(sv_sched_share(10, 3, 3), 0);
    cr_assert_eq(sv_sched_share(10, 0, 0), 0);
}

/* ---- arrivals ------------------------------------------------------------------ */

Test(arrivals, exact_due_times)
{
    sv_rate_t r2000 = {2000, NS_PER_S};
    for (uint64_t n = 0; n < 10000; n++)
        cr_assert_eq(sv_sched_arrival_at(r2000, n), n * 500000ULL, "arrival %llu",
                     (unsigned long long)n);

    sv_rate_t r3 = {3, NS_PER_S};
    cr_assert_eq(sv_sched_arrival_at(r3, 0), 0);
    cr_assert_eq(sv_sched_arrival_at(r3, 1), 333333333ULL);
    cr_assert_eq(sv_sched_arrival_at(r3, 2), 666666666ULL);
    cr_assert_eq(sv_sched_arrival_at(r3, 3), NS_PER_S);
    cr_assert_eq(sv_sched_arrival_at(r3, 4), NS_PER_S + 333333333ULL);
    /* No drift after an hour: arrival 3*3600 is exactly at 3600 s. */
    cr_assert_eq(sv_sched_arrival_at(r3, 3 * 3600), 3600 * NS_PER_S);
    cr_assert_eq(sv_sched_arrival_at(r3, 3 * 3600 + 2), 3600 * NS_PER_S + 666666666ULL);

    /* 5 per hour; 10 per 250 ms. */
    sv_rate_t r5h = {5, 3600 * NS_PER_S};
    cr_assert_eq(sv_sched_arrival_at(r5h, 1), 720 * NS_PER_S);
    sv_rate_t r10 = {10, 250000000ULL};
    cr_assert_eq(sv_sched_arrival_at(r10, 7), 175000000ULL);
}

Test(arrivals, large_products_do_not_overflow)
{
    /* n * per_ns exceeds 64 bits here; the result must not. */
    sv_rate_t r = {1000000000ULL, 3600 * NS_PER_S};
    uint64_t n = 30ULL * 24 * 1000000000ULL; /* 30 days at 1e9 per hour */
    cr_assert_eq(sv_sched_arrival_at(r, n), 30ULL * 24 * 3600 * NS_PER_S);
    cr_assert_eq(sv_sched_arrivals_before(r, 30ULL * 24 * 3600 * NS_PER_S), n);
}

/* Reference: count n with arrival_at(n) < t by walking the schedule. */
static uint64_t count_before_by_walking(sv_rate_t r, uint64_t t)
{
    uint64_t n = 0;
    while (sv_sched_arrival_at(r, n) < t)
        n++;
    return n;
}

Test(arrivals, before_matches_arrival_at)
{
    for (int i = 0; i < 3000; i++) {
        sv_rate_t r = {rng_range(1, 5000), rng_range(1, 5 * NS_PER_S)};
        /* Keep the walk short: at most a few thousand arrivals. */
        uint64_t horizon = r.per_ns * 2000 / r.count + 1;
        uint64_t t = rng_range(0, horizon);
        uint64_t want = count_before_by_walking(r, t);
        uint64_t got = sv_sched_arrivals_before(r, t);
        cr_assert_eq(got, want, "rate %llu/%llu ns, t=%llu: %llu, want %llu",
                     (unsigned long long)r.count, (unsigned long long)r.per_ns,
                     (unsigned long long)t, (unsigned long long)got, (unsigned long long)want);
    }
}

Test(arrivals, before_at_the_arrival_instants)
{
    /* At each due time t_n exactly, arrival n is not yet "before" t_n; one ns later it is. */
    for (int i = 0; i < 500; i++) {
        sv_rate_t r = {rng_range(1, 100000), rng_range(1, 10 * NS_PER_S)};
        for (int k = 0; k < 20; k++) {
            uint64_t n = rng_range(0, 1000000);
            uint64_t t = sv_sched_arrival_at(r, n);
            uint64_t before = sv_sched_arrivals_before(r, t);
            /* Several arrivals may share t (count > per_ns): all of them are at t. */
            cr_assert_leq(before, n);
            cr_assert_geq(sv_sched_arrivals_before(r, t + 1), n + 1);
            if (before > 0)
                cr_assert_lt(sv_sched_arrival_at(r, before - 1), t);
            cr_assert_eq(sv_sched_arrival_at(r, before), t);
        }
    }
}

Test(arrivals, monotonic_and_evenly_spaced)
{
    for (int i = 0; i < 200; i++) {
        sv_rate_t r = {rng_range(1, 10000), rng_range(1, 10 * NS_PER_S)};
        uint64_t gap_lo = r.per_ns / r.count; /* floor and ceil of the exact spacing */
        uint64_t gap_hi = gap_lo + (r.per_ns % r.count != 0);
        uint64_t prev = sv_sched_arrival_at(r, 0);
        cr_assert_eq(prev, 0);
        for (uint64_t n = 1; n < 2000; n++) {
            uint64_t t = sv_sched_arrival_at(r, n);
            cr_assert(t - prev >= gap_lo && t - prev <= gap_hi, "gap %llu outside %llu..%llu",
                      (unsigned long long)(t - prev), (unsigned long long)gap_lo,
                      (unsigned long long)gap_hi);
            prev = t;
        }
    }
}

Test(arrivals, before_counts)
{
    sv_rate_t r = {2000, NS_PER_S};
    cr_assert_eq(sv_sched_arrivals_before(r, 0), 0);
    cr_assert_eq(sv_sched_arrivals_before(r, 1), 1); /* arrival 0 is at t = 0 */
    cr_assert_eq(sv_sched_arrivals_before(r, 500000), 1);
    cr_assert_eq(sv_sched_arrivals_before(r, 500001), 2);
    cr_assert_eq(sv_sched_arrivals_before(r, NS_PER_S), 2000);
    cr_assert_eq(sv_sched_arrivals_before(r, 30 * NS_PER_S), 60000);
    sv_rate_t r3 = {3, NS_PER_S};
    cr_assert_eq(sv_sched_arrivals_before(r3, 333333333ULL), 1);
    cr_assert_eq(sv_sched_arrivals_before(r3, 333333334ULL), 2);
    cr_assert_eq(sv_sched_arrivals_before(r3, 666666667ULL), 3);
    cr_assert_eq(sv_sched_arrivals_before(r3, NS_PER_S), 3);
}

/* ---- striping ------------------------------------------------------------------ */

static void check_stripes(uint64_t total, uint64_t slots, uint32_t parts)
{
    unsigned char *seen = calloc(total ? total : 1, 1);
    uint64_t sum = 0;
    for (uint32_t i = 0; i < parts; i++) {
        sv_stripe_t st = {slots, i, parts};
        uint64_t count = sv_sched_stripe_count(st, total);
        sum += count;
        for (uint64_t k = 0; k < count; k++) {
            uint64_t g = sv_sched_stripe_global(st, k);
            cr_assert_lt(g, total, "part %u/%u unit %llu maps to %llu >= %llu", i, parts,
                         (unsigned long long)k, (unsigned long long)g, (unsigned long long)total);
            cr_assert_eq(seen[g], 0, "global unit %llu taken twice", (unsigned long long)g);
            cr_assert_eq(g % slots % parts, i, "unit %llu is not on one of part %u's slots",
                         (unsigned long long)g, i);
            seen[g] = 1;
            if (k > 0)
                cr_assert_gt(g, sv_sched_stripe_global(st, k - 1));
        }
        /* The part's next unit would fall outside the first `total`. */
        cr_assert_geq(sv_sched_stripe_global(st, count), total);
        /* Shares follow the part's slots: within one unit of total * mine / slots. */
        double want = (double)total * (double)sv_sched_stripe_slots(st) / (double)slots;
        cr_assert_leq(fabs((double)count - want), 1.0, "part %u/%u of %llu slots: %llu vs %f", i,
                      parts, (unsigned long long)slots, (unsigned long long)count, want);
    }
    cr_assert_eq(sum, total);
    for (uint64_t g = 0; g < total; g++)
        cr_assert_eq(seen[g], 1, "global unit %llu not taken (total %llu, %u parts)",
                     (unsigned long long)g, (unsigned long long)total, parts);
    free(seen);
}

Test(stripes, partition_global_units)
{
    for (uint64_t total = 0; total <= 120; total++)
        for (uint32_t parts = 1; parts <= 9; parts++)
            for (uint64_t slots = parts; slots <= parts + 7; slots++)
                check_stripes(total, slots, parts);
    for (int i = 0; i < 200; i++) {
        uint32_t parts = (uint32_t)rng_range(1, 64);
        check_stripes(rng_range(0, 20000), rng_range(parts, 500), parts);
    }
}

Test(stripes, uneven_slots_get_proportional_work)
{
    /* 3 VUs on 2 parts: part 0 holds 2 of them and gets two thirds of the work. */
    sv_stripe_t p0 = {3, 0, 2}, p1 = {3, 1, 2};
    cr_assert_eq(sv_sched_stripe_count(p0, 60), 40);
    cr_assert_eq(sv_sched_stripe_count(p1, 60), 20);
    cr_assert_eq(sv_sched_stripe_global(p0, 0), 0);
    cr_assert_eq(sv_sched_stripe_global(p0, 1), 2);
    cr_assert_eq(sv_sched_stripe_global(p0, 2), 3);
    cr_assert_eq(sv_sched_stripe_global(p1, 0), 1);
    cr_assert_eq(sv_sched_stripe_global(p1, 1), 4);
}

Test(stripes, parts_follow_the_global_schedule)
{
    /* Split 2000/s over 3 parts: each part's arrivals due before t add up to the
     * global count, at every instant. */
    sv_rate_t r = {2000, NS_PER_S};
    uint32_t parts = 3;
    for (uint64_t t = 0; t <= 20000000ULL; t += 123457) {
        uint64_t total = sv_sched_arrivals_before(r, t), sum = 0;
        for (uint32_t i = 0; i < parts; i++) {
            sv_stripe_t st = {7, i, parts};
            uint64_t c = sv_sched_stripe_count(st, total);
            sum += c;
            if (c > 0)
                cr_assert_lt(sv_sched_arrival_at(r, sv_sched_stripe_global(st, c - 1)), t);
        }
        cr_assert_eq(sum, total);
    }
}
