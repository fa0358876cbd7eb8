/*
 * Unit tests for the executor maths (src/sched/sched.h): splitting work among parts
 * and the arrival times of a constant rate.
 */
#include <criterion/criterion.h>
#include <math.h>

#include <stdlib.h>

#include "sched/sched.h"
#include "util/util.h"

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

/* ---- ramping VUs --------------------------------------------------------------- */

#define SEC(x) ((uint64_t)(x)*NS_PER_S)
#define COUNT_OF(a) (sizeof(a) / sizeof((a)[0]))

/* Reference for ramping-vus, straight from k6's rule: across a stage from a to b VUs
 * over D ns, a ± j VUs are reached at offset ceil(j * D / |b - a|). Counts the steps
 * one by one, so keep |b - a| small. */
static uint64_t ref_vus_at(uint64_t start, const sv_stage_t *st, size_t n, uint64_t t)
{
    uint64_t from = start, begin = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t to = st[i].target, dur = st[i].duration_ns;
        if (t < begin + dur) {
            uint64_t d = from > to ? from - to : to - from, steps = 0;
            for (uint64_t j = 1; j <= d; j++)
                if ((j * dur + d - 1) / d <= t - begin)
                    steps++;
            return to >= from ? from + steps : from - steps;
        }
        begin += dur;
        from = to;
    }
    return from;
}

/* Walks sv_ramp_vus_next from 0: it must return exactly `want`, then UINT64_MAX. */
static void check_changes(uint64_t start, const sv_stage_t *st, size_t n, const uint64_t *want,
                          size_t n_want)
{
    uint64_t t = 0;
    for (size_t i = 0; i < n_want; i++) {
        uint64_t next = sv_ramp_vus_next(start, st, n, t);
        cr_assert_eq(next, want[i], "change %zu after %llu: got %llu, want %llu", i,
                     (unsigned long long)t, (unsigned long long)next, (unsigned long long)want[i]);
        t = next;
    }
    cr_assert_eq(sv_ramp_vus_next(start, st, n, t), UINT64_MAX, "a change after %llu",
                 (unsigned long long)t);
}

struct vus_row {
    uint64_t t, vus;
};

static void check_vus_table(uint64_t start, const sv_stage_t *st, size_t n,
                            const struct vus_row *rows, size_t n_rows)
{
    for (size_t i = 0; i < n_rows; i++) {
        uint64_t got = sv_ramp_vus_at(start, st, n, rows[i].t);
        cr_assert_eq(got, rows[i].vus, "VUs at %llu ns: %llu, want %llu",
                     (unsigned long long)rows[i].t, (unsigned long long)got,
                     (unsigned long long)rows[i].vus);
    }
}

Test(ramp_vus, up_hold_down_table)
{
    /* 0 → 10 over 10 s, hold 10 for 20 s, 10 → 0 over 10 s. */
    sv_stage_t st[] = {{SEC(10), 10}, {SEC(20), 10}, {SEC(10), 0}};
    size_t n = COUNT_OF(st);
    cr_assert_eq(sv_stages_total_ns(st, n), SEC(40));
    cr_assert_eq(sv_ramp_vus_max(0, st, n), 10);

    struct vus_row rows[] = {
        {0, 0},
        {SEC(1) - 1, 0},
        {SEC(1), 1}, /* one VU per second on the way up */
        {SEC(5) + SEC(1) / 2, 5},
        {SEC(10) - 1, 9},
        {SEC(10), 10}, /* the last step lands on the stage's end */
        {SEC(20), 10},
        {SEC(30) - 1, 10},
        {SEC(30), 10}, /* a ramp down starts from the old count */
        {SEC(31) - 1, 10},
        {SEC(31), 9},
        {SEC(35), 5},
        {SEC(39), 1},
        {SEC(40) - 1, 1},
        {SEC(40), 0},
        {SEC(1000), 0}, /* past the end: the last target */
        {UINT64_MAX, 0},
    };
    check_vus_table(0, st, n, rows, COUNT_OF(rows));

    uint64_t want[20];
    for (int i = 0; i < 10; i++) {
        want[i] = SEC(i + 1);       /* 1 s … 10 s: up to 10 */
        want[10 + i] = SEC(31 + i); /* 31 s … 40 s: down to 0 */
    }
    check_changes(0, st, n, want, COUNT_OF(want));

    /* From instants between change points. */
    cr_assert_eq(sv_ramp_vus_next(0, st, n, SEC(5) + 7), SEC(6));
    cr_assert_eq(sv_ramp_vus_next(0, st, n, SEC(6) - 1), SEC(6));
    cr_assert_eq(sv_ramp_vus_next(0, st, n, SEC(10)), SEC(31));
    cr_assert_eq(sv_ramp_vus_next(0, st, n, SEC(30)), SEC(31));
    cr_assert_eq(sv_ramp_vus_next(0, st, n, SEC(40)), UINT64_MAX);
    cr_assert_eq(sv_ramp_vus_next(0, st, n, SEC(500)), UINT64_MAX);
}

Test(ramp_vus, three_vus_over_ten_seconds)
{
    /* Steps at ceil(j * 10 s / 3): 3333333334 ns, 6666666667 ns, 10 s. */
    sv_stage_t up[] = {{SEC(10), 3}};
    struct vus_row rows_up[] = {
        {0, 0},
        {3333333333ULL, 0},
        {3333333334ULL, 1},
        {6666666666ULL, 1},
        {6666666667ULL, 2},
        {SEC(10) - 1, 2},
        {SEC(10), 3},
    };
    check_vus_table(0, up, 1, rows_up, COUNT_OF(rows_up));
    uint64_t want[] = {3333333334ULL, 6666666667ULL, SEC(10)};
    check_changes(0, up, 1, want, COUNT_OF(want));

    /* Down is the mirror image. */
    sv_stage_t down[] = {{SEC(10), 0}};
    struct vus_row rows_down[] = {
        {0, 3},
        {3333333333ULL, 3},
        {3333333334ULL, 2},
        {6666666666ULL, 2},
        {6666666667ULL, 1},
        {SEC(10) - 1, 1},
        {SEC(10), 0},
    };
    check_vus_table(3, down, 1, rows_down, COUNT_OF(rows_down));
    check_changes(3, down, 1, want, COUNT_OF(want));
    cr_assert_eq(sv_ramp_vus_max(3, down, 1), 3);

    /* 5 → 8 over 10 s, then back: the second ramp's steps are offset by 10 s. */
    sv_stage_t both[] = {{SEC(10), 8}, {SEC(10), 5}};
    uint64_t want_both[] = {3333333334ULL,           6666666667ULL,           SEC(10),
                            SEC(10) + 3333333334ULL, SEC(10) + 6666666667ULL, SEC(20)};
    check_changes(5, both, 2, want_both, COUNT_OF(want_both));
    cr_assert_eq(sv_ramp_vus_at(5, both, 2, SEC(10)), 8);
    cr_assert_eq(sv_ramp_vus_at(5, both, 2, SEC(10) + 3333333334ULL), 7);
}

Test(ramp_vus, more_vus_than_nanoseconds)
{
    /* 0 → 10 over 4 ns: several steps share a nanosecond. */
    sv_stage_t st[] = {{4, 10}};
    struct vus_row rows[] = {{0, 0}, {1, 2}, {2, 5}, {3, 7}, {4, 10}, {5, 10}};
    check_vus_table(0, st, 1, rows, COUNT_OF(rows));
    uint64_t want[] = {1, 2, 3, 4};
    check_changes(0, st, 1, want, COUNT_OF(want));
}

Test(ramp_vus, zero_duration_stages_jump)
{
    /* Jump 5 → 20 at once, hold 10 s, jump to 2, ramp 2 → 4 over 10 s. */
    sv_stage_t st[] = {{0, 20}, {SEC(10), 20}, {0, 2}, {SEC(10), 4}};
    size_t n = COUNT_OF(st);
    cr_assert_eq(sv_stages_total_ns(st, n), SEC(20));
    cr_assert_eq(sv_ramp_vus_max(5, st, n), 20);
    struct vus_row rows[] = {
        {0, 20}, /* the jump at 0 has already happened */
        {SEC(10) - 1, 20}, {SEC(10), 2}, {SEC(15) - 1, 2}, {SEC(15), 3},
        {SEC(20) - 1, 3},  {SEC(20), 4}, {SEC(99), 4},
    };
    check_vus_table(5, st, n, rows, COUNT_OF(rows));
    uint64_t want[] = {SEC(10), SEC(15), SEC(20)};
    check_changes(5, st, n, want, COUNT_OF(want));

    /* A jump where a ramp ends: 9 VUs just before 10 s, 3 at 10 s. */
    sv_stage_t end[] = {{SEC(10), 10}, {0, 3}};
    cr_assert_eq(sv_ramp_vus_at(0, end, 2, SEC(10) - 1), 9);
    cr_assert_eq(sv_ramp_vus_at(0, end, 2, SEC(10)), 3);
    cr_assert_eq(sv_ramp_vus_next(0, end, 2, SEC(9)), SEC(10));
    cr_assert_eq(sv_ramp_vus_next(0, end, 2, SEC(10)), UINT64_MAX);

    /* A ramp's last step undone by a jump at the same instant: 9 just before 10 s and 9
     * at 10 s, so nothing changes at 10 s. */
    sv_stage_t undone[] = {{SEC(10), 10}, {0, 9}};
    cr_assert_eq(sv_ramp_vus_at(0, undone, 2, SEC(10) - 1), 9);
    cr_assert_eq(sv_ramp_vus_at(0, undone, 2, SEC(10)), 9);
    cr_assert_eq(sv_ramp_vus_next(0, undone, 2, SEC(9)), UINT64_MAX);

    /* Jumps that cancel out: the count never changes. */
    sv_stage_t cancel[] = {{SEC(5), 4}, {0, 7}, {0, 4}, {SEC(5), 4}};
    for (uint64_t t = 0; t <= SEC(10); t += SEC(1) / 4)
        cr_assert_eq(sv_ramp_vus_at(4, cancel, 4, t), 4);
    cr_assert_eq(sv_ramp_vus_next(4, cancel, 4, 0), UINT64_MAX);
}

Test(ramp_vus, no_stages)
{
    cr_assert_eq(sv_stages_total_ns(NULL, 0), 0);
    cr_assert_eq(sv_ramp_vus_at(7, NULL, 0, 0), 7);
    cr_assert_eq(sv_ramp_vus_at(7, NULL, 0, SEC(3)), 7);
    cr_assert_eq(sv_ramp_vus_next(7, NULL, 0, 0), UINT64_MAX);
    cr_assert_eq(sv_ramp_vus_max(7, NULL, 0), 7);
}

static size_t random_stages(sv_stage_t *st, size_t max_n, uint64_t max_dur, uint64_t max_vus)
{
    size_t n = (size_t)rng_range(1, max_n);
    for (size_t i = 0; i < n; i++) {
        st[i].duration_ns = rng_range(0, 3) == 0 ? 0 : rng_range(1, max_dur);
        st[i].target =
            rng_range(0, 2) == 0 ? (i > 0 ? st[i - 1].target : 0) : rng_range(0, max_vus);
    }
    return n;
}

Test(ramp_vus, exhaustive_small_schedules)
{
    /* Nanosecond-long stages, so every instant can be checked against the reference
     * and every change point found by brute force. */
    sv_stage_t st[6];
    for (int iter = 0; iter < 3000; iter++) {
        uint64_t start = rng_range(0, 12);
        size_t n = random_stages(st, 6, 30, 12);
        uint64_t total = sv_stages_total_ns(st, n), most = sv_ramp_vus_max(start, st, n);
        uint64_t end = total + 3, vus[200];
        for (uint64_t t = 0; t <= end; t++) {
            vus[t] = sv_ramp_vus_at(start, st, n, t);
            cr_assert_eq(vus[t], ref_vus_at(start, st, n, t), "iter %d, t=%llu", iter,
                         (unsigned long long)t);
            cr_assert_leq(vus[t], most);
        }
        cr_assert_eq(vus[end], n ? st[n - 1].target : start);
        for (uint64_t t = 0; t <= end; t++) {
            uint64_t want = UINT64_MAX;
            for (uint64_t u = t + 1; u <= end; u++)
                if (vus[u] != vus[u - 1]) {
                    want = u;
                    break;
                }
            uint64_t got = sv_ramp_vus_next(start, st, n, t);
            cr_assert_eq(got, want,
                         "iter %d (start %llu, %zu stages), next after %llu: %llu, "
                         "want %llu",
                         iter, (unsigned long long)start, n, (unsigned long long)t,
                         (unsigned long long)got, (unsigned long long)want);
        }
    }
}

Test(ramp_vus, next_walks_every_change_of_long_schedules)
{
    /* Second-long stages: walk the change points and sample between them. */
    sv_stage_t st[6];
    for (int iter = 0; iter < 60; iter++) {
        uint64_t start = rng_range(0, 300);
        size_t n = random_stages(st, 6, SEC(100), 300);
        uint64_t total = sv_stages_total_ns(st, n), t = 0, changes = 0;
        for (;;) {
            uint64_t next = sv_ramp_vus_next(start, st, n, t);
            uint64_t v = sv_ramp_vus_at(start, st, n, t);
            uint64_t until = next == UINT64_MAX ? total + SEC(10) : next - 1;
            cr_assert_gt(next, t);
            /* Nothing changes in between: check the ends and a few random instants. */
            cr_assert_eq(sv_ramp_vus_at(start, st, n, until), v);
            cr_assert_eq(sv_ramp_vus_at(start, st, n, t + (until - t) / 2), v);
            for (int k = 0; k < 3; k++)
                cr_assert_eq(sv_ramp_vus_at(start, st, n, rng_range(t, until)), v);
            if (next == UINT64_MAX)
                break;
            cr_assert_leq(next, total);
            cr_assert_neq(sv_ramp_vus_at(start, st, n, next), v, "iter %d: no change at %llu", iter,
                          (unsigned long long)next);
            /* One VU at a time inside a stage: steps of one unless stages jump. */
            t = next;
            changes++;
        }
        cr_assert_eq(sv_ramp_vus_at(start, st, n, t), st[n - 1].target);
        cr_assert_leq(changes, 2 * 300 * 6);
    }
}

/* ---- ramping arrival rate ------------------------------------------------------ */

#define MIN_NS (60 * NS_PER_S)

/* Exact reference. The rate's integral up to t is P / Q: whole stages so far add
 * (from + to) * dur / (2 unit), and x ns into a stage add
 * (2 from x dur + (to - from) x^2) / (2 unit dur). Keep rates and times modest. */
typedef struct {
    __int128 p, q;
} area_t;

static area_t exact_area(const sv_ramp_rate_t *r, uint64_t t)
{
    __int128 whole = 0, from = r->start_rate;
    uint64_t begin = 0;
    for (size_t i = 0; i < r->n_stages; i++) {
        __int128 to = r->stages[i].target, dur = r->stages[i].duration_ns;
        if (t < begin + r->stages[i].duration_ns) {
            __int128 x = t - begin;
            return (area_t){whole * dur + 2 * from * x * dur + (to - from) * x * x,
                            2 * (__int128)r->unit_ns * dur};
        }
        whole += (from + to) * dur;
        begin += r->stages[i].duration_ns;
        from = to;
    }
    return (area_t){whole, 2 * (__int128)r->unit_ns};
}

/* Arrival n is due at T_n, when the integral first reaches n + 1; due strictly before
 * t (whole ns) when the integral exceeds n + 1 at t, or equals it having been flat
 * since t - 1 (the rate is linear between whole-ns stage boundaries, so it cannot
 * reach n + 1 inside (t - 1, t) and then stay there). */
static uint64_t ref_arrivals_before(const sv_ramp_rate_t *r, uint64_t t)
{
    uint64_t end = sv_stages_total_ns(r->stages, r->n_stages);
    if (t > end)
        t = end; /* the schedule stops at the end: nothing more becomes due */
    area_t a = exact_area(r, t);
    if (a.p < a.q)
        return 0;
    uint64_t n = (uint64_t)((a.p - 1) / a.q); /* m >= 1 with m < P / Q */
    if (a.p % a.q == 0 && t > 0) {
        area_t b = exact_area(r, t - 1);
        if (b.p == a.p / a.q * b.q) /* a is a whole number: no cross product to overflow */
            n++;
    }
    return n;
}

/* floor(T_n): the first whole ns t* where the integral is >= n + 1 is T_n itself if
 * the integral is exactly n + 1 there, else T_n lies in (t* - 1, t*). */
static uint64_t ref_arrival_at(const sv_ramp_rate_t *r, uint64_t n)
{
    uint64_t lo = 0, hi = sv_stages_total_ns(r->stages, r->n_stages);
    __int128 goal = (__int128)n + 1;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        area_t a = exact_area(r, mid);
        if (a.p >= goal * a.q)
            hi = mid;
        else
            lo = mid + 1;
    }
    area_t a = exact_area(r, lo);
    return a.p == goal * a.q ? lo : lo - 1;
}

static uint64_t rate_total(const sv_ramp_rate_t *r)
{
    return sv_ramp_arrivals_before(r, sv_stages_total_ns(r->stages, r->n_stages));
}

Test(ramp_rate, constant_rate)
{
    /* 10/s for 10 s: the integral is 10 t, so arrival n is due at (n + 1) * 100 ms. The
     * 100th (n = 99) is due at 10 s exactly, the end, so 99 are due before the end. */
    sv_stage_t st[] = {{SEC(10), 10}};
    sv_ramp_rate_t r = {10, NS_PER_S, st, 1};
    for (uint64_t n = 0; n < 100; n++)
        cr_assert_eq(sv_ramp_arrival_at(&r, n), (n + 1) * 100000000ULL, "arrival %llu at %llu",
                     (unsigned long long)n, (unsigned long long)sv_ramp_arrival_at(&r, n));
    cr_assert_eq(sv_ramp_arrivals_before(&r, 0), 0);
    cr_assert_eq(sv_ramp_arrivals_before(&r, 100000000ULL), 0);
    cr_assert_eq(sv_ramp_arrivals_before(&r, 100000001ULL), 1);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(1)), 9);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(1) + 1), 10);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(10) - 1), 99);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(10)), 99);
    cr_assert_eq(rate_total(&r), 99);
    cr_assert_eq(sv_ramp_arrival_at(&r, 99), SEC(10));
    /* Past the end nothing more becomes due, not even the arrival at the end. */
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(10) + 1), 99);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(100)), 99);

    /* 2000/s for 30 s: arrival n at (n + 1) * 0.5 ms, with no drift. */
    sv_stage_t st2[] = {{SEC(30), 2000}};
    sv_ramp_rate_t r2 = {2000, NS_PER_S, st2, 1};
    for (uint64_t n = 0; n < 60000; n += 7)
        cr_assert_eq(sv_ramp_arrival_at(&r2, n), (n + 1) * 500000ULL);
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(30)), 59999);
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(15) + 1), 30000);

    /* 3/s: due at 1/3 s, 2/3 s, 1 s …, floored to the ns. */
    sv_stage_t st3[] = {{SEC(10), 3}};
    sv_ramp_rate_t r3 = {3, NS_PER_S, st3, 1};
    cr_assert_eq(sv_ramp_arrival_at(&r3, 0), 333333333ULL);
    cr_assert_eq(sv_ramp_arrival_at(&r3, 1), 666666666ULL);
    cr_assert_eq(sv_ramp_arrival_at(&r3, 2), SEC(1));
    cr_assert_eq(sv_ramp_arrival_at(&r3, 28), SEC(9) + 666666666ULL);
    cr_assert_eq(sv_ramp_arrivals_before(&r3, 333333333ULL), 0);
    cr_assert_eq(sv_ramp_arrivals_before(&r3, 333333334ULL), 1);
    cr_assert_eq(rate_total(&r3), 29);
}

Test(ramp_rate, linear_ramp)
{
    /* 0 → 100/s over 10 s: the rate is 10 t per s, the integral 5 t^2 (500 in all), so
     * arrival n is due at sqrt((n + 1) / 5) s; n = 499 lands on the end. */
    sv_stage_t st[] = {{SEC(10), 100}};
    sv_ramp_rate_t r = {0, NS_PER_S, st, 1};
    cr_assert_eq(rate_total(&r), 499);
    struct {
        uint64_t n, t;
    } due[] = {
        {0, 447213595ULL},    {1, 632455532ULL}, {4, SEC(1)},          {19, SEC(2)},   {44, SEC(3)},
        {123, 4979959839ULL}, {124, SEC(5)},     {498, 9989994994ULL}, {499, SEC(10)},
    };
    for (size_t i = 0; i < COUNT_OF(due); i++)
        cr_assert_eq(sv_ramp_arrival_at(&r, due[i].n), due[i].t, "arrival %llu at %llu, want %llu",
                     (unsigned long long)due[i].n,
                     (unsigned long long)sv_ramp_arrival_at(&r, due[i].n),
                     (unsigned long long)due[i].t);
    cr_assert_eq(sv_ramp_arrivals_before(&r, 447213595ULL), 0);
    cr_assert_eq(sv_ramp_arrivals_before(&r, 447213596ULL), 1);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(1)), 4); /* 5 t^2 = 5: n = 4 is at 1 s */
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(1) + 1), 5);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(2)), 19);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(5)), 124);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(5) + 1), 125);

    /* Up, hold, down: 0 → 10/s over 10 s (50), 10/s for 10 s (100), 10 → 0 over 10 s (50). */
    sv_stage_t st2[] = {{SEC(10), 10}, {SEC(10), 10}, {SEC(10), 0}};
    sv_ramp_rate_t r2 = {0, NS_PER_S, st2, 3};
    cr_assert_eq(rate_total(&r2), 199);
    cr_assert_eq(sv_ramp_arrival_at(&r2, 49), SEC(10));
    cr_assert_eq(sv_ramp_arrival_at(&r2, 50), SEC(10) + 100000000ULL);
    cr_assert_eq(sv_ramp_arrival_at(&r2, 149), SEC(20));
    /* 10 x - x^2 / 2 = 1: x = 10 - sqrt(98) s = 100505063.4 ns. */
    cr_assert_eq(sv_ramp_arrival_at(&r2, 150), SEC(20) + 100505063ULL);
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(10)), 49);
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(10) + 1), 50);
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(20)), 149);
}

Test(ramp_rate, time_unit_scales_the_rate)
{
    /* 60 per minute is 1 per second: due at 1 s, 2 s, … */
    sv_stage_t st[] = {{SEC(60), 60}};
    sv_ramp_rate_t r = {60, MIN_NS, st, 1};
    for (uint64_t n = 0; n < 60; n++)
        cr_assert_eq(sv_ramp_arrival_at(&r, n), SEC(n + 1));
    cr_assert_eq(rate_total(&r), 59);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(30)), 29);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(30) + 1), 30);

    /* 0 → 120/min over 1 min: the integral is t^2 / 60 (t in s); n due at sqrt(60 (n + 1)). */
    sv_stage_t st2[] = {{MIN_NS, 120}};
    sv_ramp_rate_t r2 = {0, MIN_NS, st2, 1};
    cr_assert_eq(rate_total(&r2), 59);
    cr_assert_eq(sv_ramp_arrival_at(&r2, 0), 7745966692ULL);
    cr_assert_eq(sv_ramp_arrival_at(&r2, 14), SEC(30));
    cr_assert_eq(sv_ramp_arrival_at(&r2, 59), SEC(60));
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(30)), 14);
    cr_assert_eq(sv_ramp_arrivals_before(&r2, SEC(30) + 1), 15);

    /* r per second and 60 r per minute are the same schedule. */
    sv_stage_t a[4], b[4];
    for (int iter = 0; iter < 100; iter++) {
        size_t n = (size_t)rng_range(1, 4);
        uint64_t start = rng_range(0, 30);
        for (size_t i = 0; i < n; i++) {
            a[i] = (sv_stage_t){rng_range(0, SEC(20)), rng_range(0, 30)};
            b[i] = (sv_stage_t){a[i].duration_ns, a[i].target * 60};
        }
        sv_ramp_rate_t per_s = {start, NS_PER_S, a, n}, per_m = {start * 60, MIN_NS, b, n};
        uint64_t total = rate_total(&per_s);
        cr_assert_eq(rate_total(&per_m), total);
        for (int k = 0; k < 50 && total > 0; k++) {
            uint64_t i = rng_range(0, total - 1);
            cr_assert_eq(sv_ramp_arrival_at(&per_s, i), sv_ramp_arrival_at(&per_m, i));
            uint64_t t = rng_range(0, sv_stages_total_ns(a, n));
            cr_assert_eq(sv_ramp_arrivals_before(&per_s, t), sv_ramp_arrivals_before(&per_m, t));
        }
    }
}

Test(ramp_rate, flat_stretches_and_jumps)
{
    /* 10/s down to 0 over 10 s (50 in all: n = 49 is due at 10 s), nothing for 10 s, then
     * up again. n = 49 is due at 10 s, so it is due before any instant after 10 s. */
    sv_stage_t st[] = {{SEC(10), 0}, {SEC(10), 0}, {SEC(10), 10}};
    sv_ramp_rate_t r = {10, NS_PER_S, st, 3};
    cr_assert_eq(sv_ramp_arrival_at(&r, 49), SEC(10));
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(10)), 49);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(10) + 1), 50);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(15)), 50);
    cr_assert_eq(sv_ramp_arrivals_before(&r, SEC(20)), 50);
    /* Then 0 → 10/s over 10 s: 5 t^2 / 10 = 1 at t = sqrt(2) s. */
    cr_assert_eq(sv_ramp_arrival_at(&r, 50), SEC(20) + 1414213562ULL);

    /* A zero-length stage switches the rate at once: 1/s for 5 s, then 100/s. */
    sv_stage_t jump[] = {{SEC(5), 1}, {0, 100}, {SEC(5), 100}};
    sv_ramp_rate_t rj = {1, NS_PER_S, jump, 3};
    cr_assert_eq(sv_ramp_arrival_at(&rj, 3), SEC(4));
    cr_assert_eq(sv_ramp_arrival_at(&rj, 4), SEC(5));
    cr_assert_eq(sv_ramp_arrival_at(&rj, 5), SEC(5) + 10000000ULL);
    cr_assert_eq(rate_total(&rj), 504);
}

static void random_rate(sv_ramp_rate_t *r, sv_stage_t *st, uint64_t max_rate, uint64_t max_dur)
{
    static const uint64_t units[] = {NS_PER_S, MIN_NS, 1000000ULL, 3600 * NS_PER_S};
    r->unit_ns = rng_range(0, 4) == 0 ? rng_range(1, 10 * NS_PER_S) : units[rng_range(0, 3)];
    r->start_rate = rng_range(0, 3) == 0 ? 0 : rng_range(1, max_rate);
    r->n_stages = (size_t)rng_range(1, 5);
    for (size_t i = 0; i < r->n_stages; i++) {
        int kind = (int)rng_range(0, 5);
        st[i].duration_ns = kind == 0   ? 0
                            : kind == 1 ? SEC(rng_range(1, 20))
                                        : rng_range(1, max_dur);
        st[i].target = rng_range(0, 3) == 0            ? 0
                       : rng_range(0, 2) == 0 && i > 0 ? st[i - 1].target
                                                       : rng_range(1, max_rate);
    }
    r->stages = st;
}

Test(ramp_rate, arrival_at_and_arrivals_before_agree)
{
    sv_stage_t st[5];
    sv_ramp_rate_t r;
    for (int iter = 0; iter < 400; iter++) {
        random_rate(&r, st, rng_range(0, 1) ? 50 : 5000, SEC(20));
        uint64_t total = rate_total(&r), end = sv_stages_total_ns(st, r.n_stages);
        uint64_t step = total > 3000 ? total / 3000 : 1, prev = 0;
        for (uint64_t n = 0; n < total; n += n + step < total ? rng_range(1, step) : 1) {
            uint64_t t = sv_ramp_arrival_at(&r, n);
            uint64_t before = sv_ramp_arrivals_before(&r, t);
            uint64_t after = sv_ramp_arrivals_before(&r, t + 1);
            cr_assert(before <= n && n < after,
                      "iter %d (start %llu per %llu ns, %zu stages): arrival %llu at %llu, "
                      "but %llu due before it and %llu one ns later",
                      iter, (unsigned long long)r.start_rate, (unsigned long long)r.unit_ns,
                      r.n_stages, (unsigned long long)n, (unsigned long long)t,
                      (unsigned long long)before, (unsigned long long)after);
            cr_assert_geq(t, prev, "iter %d: arrival %llu before the previous one", iter,
                          (unsigned long long)n);
            cr_assert_leq(t, end);
            if (n + 1 < total)
                cr_assert_geq(sv_ramp_arrival_at(&r, n + 1), t);
            prev = t;
        }
    }
}

Test(ramp_rate, matches_exact_reference)
{
    sv_stage_t st[5];
    sv_ramp_rate_t r;
    for (int iter = 0; iter < 300; iter++) {
        random_rate(&r, st, 40, SEC(5));
        uint64_t total = ref_arrivals_before(&r, sv_stages_total_ns(st, r.n_stages));
        cr_assert_eq(rate_total(&r), total, "iter %d: %llu arrivals, want %llu", iter,
                     (unsigned long long)rate_total(&r), (unsigned long long)total);
        for (uint64_t n = 0; n < total && n < 400; n++) {
            uint64_t want = ref_arrival_at(&r, n), got = sv_ramp_arrival_at(&r, n);
            cr_assert_eq(got, want,
                         "iter %d (start %llu per %llu ns, %zu stages): arrival %llu at %llu, "
                         "want %llu",
                         iter, (unsigned long long)r.start_rate, (unsigned long long)r.unit_ns,
                         r.n_stages, (unsigned long long)n, (unsigned long long)got,
                         (unsigned long long)want);
            for (uint64_t t = want > 0 ? want - 1 : 0; t <= want + 1; t++)
                cr_assert_eq(sv_ramp_arrivals_before(&r, t), ref_arrivals_before(&r, t),
                             "iter %d: arrivals before %llu", iter, (unsigned long long)t);
        }
        for (int k = 0; k < 50; k++) {
            uint64_t t = rng_range(0, sv_stages_total_ns(st, r.n_stages) + 10);
            cr_assert_eq(sv_ramp_arrivals_before(&r, t), ref_arrivals_before(&r, t));
        }
    }
}

/* ---- fractions ----------------------------------------------------------------- */

Test(frac, parses_fractions_decimals_and_percentages)
{
    struct {
        const char *s;
        uint64_t num, den; /* the value, in any form */
    } ok[] = {
        {"1/3", 1, 3},  {"2/3", 2, 3}, {"0.25", 1, 4},  {"25%", 1, 4},
        {"0", 0, 1},    {"1", 1, 1},   {"0/7", 0, 1},   {"7/7", 1, 1},
        {"2/4", 1, 2},  {"0.5", 1, 2}, {"1.0", 1, 1},   {"0.125", 1, 8},
        {"100%", 1, 1}, {"0%", 0, 1},  {"12.5%", 1, 8}, {"33%", 33, 100},
    };
    for (size_t i = 0; i < COUNT_OF(ok); i++) {
        sv_frac_t f = {99, 99};
        cr_assert_eq(sv_frac_parse(ok[i].s, &f), 0, "\"%s\" refused", ok[i].s);
        cr_assert_gt(f.den, 0, "\"%s\": zero denominator", ok[i].s);
        cr_assert_eq(f.num * ok[i].den, ok[i].num * f.den, "\"%s\" parsed as %llu/%llu", ok[i].s,
                     (unsigned long long)f.num, (unsigned long long)f.den);
    }
}

Test(frac, rejects_malformed_and_out_of_range)
{
    const char *bad[] = {
        "",   "2/1", "-1/3", "1/0",  "abc",  "1.2.3", "50%x",  "1.5",  "101%",
        "/3", "1/",  "/",    "1/-3", "+1/3", "1/+3",  "1/3/4", " 1/3", "1/ 3",
        "%",  ".",   "-0",   "0x1",  "1/3 ", "25 %",  "1e-1",  "0.5.", "2",
    };
    for (size_t i = 0; i < COUNT_OF(bad); i++) {
        sv_frac_t f;
        cr_assert_eq(sv_frac_parse(bad[i], &f), SV_EPARSE, "\"%s\" accepted", bad[i]);
    }
    sv_frac_t f;
    cr_assert_eq(sv_frac_parse(NULL, &f), SV_EPARSE);
}

/* ---- execution segments -------------------------------------------------------- */

#define MAX_CUTS 64

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t c = a % b;
        a = b;
        b = c;
    }
    return a;
}

/* The cycle a sequence should get: the common denominator of its reduced cuts. */
static uint64_t cuts_lcm(const sv_frac_t *cuts, size_t n)
{
    uint64_t l = 1;
    for (size_t i = 0; i < n && l <= SV_SEGMENT_MAX_CYCLE; i++) {
        uint64_t den = cuts[i].den / gcd_u64(cuts[i].num, cuts[i].den);
        l = l / gcd_u64(l, den) * den;
    }
    return l;
}

/* Every property of one sequence, for the given totals. The segments' fractions are
 * compared exactly: segment i is (n1 d0 - n0 d1) / (d0 d1). */
static void check_sequence(const sv_frac_t *cuts, size_t n_cuts, const uint64_t *totals,
                           size_t n_totals)
{
    size_t n = n_cuts - 1;
    sv_segment_t seg[MAX_CUTS];
    __int128 fnum[MAX_CUTS], fden[MAX_CUTS];
    for (size_t i = 0; i < n; i++) {
        const char *why = NULL;
        cr_assert_eq(sv_segment_init(&seg[i], cuts, n_cuts, i, &why), 0, "segment %zu: %s", i,
                     why ? why : "?");
        fden[i] = (__int128)cuts[i].den * cuts[i + 1].den;
        fnum[i] = (__int128)cuts[i + 1].num * cuts[i].den - (__int128)cuts[i].num * cuts[i + 1].den;
        cr_assert_eq(seg[i].cycle, cuts_lcm(cuts, n_cuts));
        /* A cycle holds exactly the segment's share. */
        cr_assert(seg[i].count * fden[i] == fnum[i] * seg[i].cycle, "segment %zu: %u of %u", i,
                  seg[i].count, seg[i].cycle);
    }

    /* Every total up to 2000: unit N belongs to exactly one segment, as that segment's
     * next unit; counts sum to N and stay within one unit of N * fraction. */
    uint64_t count[MAX_CUTS] = {0};
    for (uint64_t N = 0; N <= 2000; N++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++) {
            uint64_t c = sv_segment_count(&seg[i], N);
            __int128 off = (__int128)c * fden[i] - (__int128)N * fnum[i];
            if (off > fden[i] || -off > fden[i])
                cr_assert_fail("segment %zu: %llu of %llu units", i, (unsigned long long)c,
                               (unsigned long long)N);
            if (N > 0) {
                /* Unit N - 1 is this segment's next unit, or lies outside it. */
                bool gained = c == count[i] + 1 && sv_segment_global(&seg[i], count[i]) == N - 1;
                bool kept = c == count[i] && sv_segment_global(&seg[i], c) > N - 1 &&
                            (c == 0 || sv_segment_global(&seg[i], c - 1) < N - 1);
                if (!gained && !kept)
                    cr_assert_fail("segment %zu: count %llu → %llu at N=%llu", i,
                                   (unsigned long long)count[i], (unsigned long long)c,
                                   (unsigned long long)N);
            }
            count[i] = c;
            sum += c;
        }
        if (sum != N)
            cr_assert_fail("counts sum to %llu of %llu", (unsigned long long)sum,
                           (unsigned long long)N);
    }

    /* Given totals: the segments' units are distinct, increasing, below N and all of
     * 0 .. N - 1 (checked in full up to 300000), and counts are within one unit. */
    for (size_t x = 0; x < n_totals; x++) {
        uint64_t N = totals[x], sum = 0;
        unsigned char *seen = N <= 300000 ? calloc(N ? N : 1, 1) : NULL;
        for (size_t i = 0; i < n; i++) {
            uint64_t c = sv_segment_count(&seg[i], N);
            sum += c;
            __int128 off = (__int128)c * fden[i] - (__int128)N * fnum[i];
            cr_assert(off <= fden[i] && -off <= fden[i], "segment %zu: %llu of %llu units", i,
                      (unsigned long long)c, (unsigned long long)N);
            cr_assert_leq(sv_segment_count(&seg[i], N), sv_segment_count(&seg[i], N + 1));
            cr_assert_leq(sv_segment_count(&seg[i], N + 1) - c, 1);
            if (c > 0)
                cr_assert_lt(sv_segment_global(&seg[i], c - 1), N);
            cr_assert_geq(sv_segment_global(&seg[i], c), N);
            if (seen == NULL)
                continue;
            uint64_t prev = 0;
            for (uint64_t k = 0; k < c; k++) {
                uint64_t g = sv_segment_global(&seg[i], k);
                if (g >= N || seen[g] || (k > 0 && g <= prev))
                    cr_assert_fail("segment %zu unit %llu → %llu (N=%llu)%s", i,
                                   (unsigned long long)k, (unsigned long long)g,
                                   (unsigned long long)N, g < N && seen[g] ? ", taken twice" : "");
                seen[g] = 1;
                prev = g;
            }
        }
        cr_assert_eq(sum, N);
        for (uint64_t g = 0; seen && g < N; g++)
            if (!seen[g])
                cr_assert_fail("unit %llu of %llu belongs to no segment", (unsigned long long)g,
                               (unsigned long long)N);
        free(seen);
    }
    for (size_t i = 0; i < n; i++)
        sv_segment_free(&seg[i]);
}

static void random_totals(uint64_t *totals, size_t n)
{
    for (size_t i = 0; i < n; i++)
        totals[i] = i == 0 ? rng_range(2001, 300000) : rng_range(0, 1ULL << (rng_range(12, 50)));
}

Test(segments, examples)
{
    /* 0:1/4 and 1/4:1: the larger segment deals first, k6's pattern 0 2 3 / 1. */
    sv_frac_t cuts[] = {{0, 1}, {1, 4}, {1, 1}};
    sv_segment_t a, b;
    const char *why = NULL;
    cr_assert_eq(sv_segment_init(&a, cuts, 3, 0, &why), 0);
    cr_assert_eq(sv_segment_init(&b, cuts, 3, 1, &why), 0);
    cr_assert_eq(a.cycle, 4);
    cr_assert_eq(a.count, 1);
    cr_assert_eq(b.count, 3);
    cr_assert_eq(sv_segment_global(&a, 0), 1);
    cr_assert_eq(sv_segment_global(&a, 1), 5);
    cr_assert_eq(sv_segment_global(&b, 0), 0);
    cr_assert_eq(sv_segment_global(&b, 1), 2);
    cr_assert_eq(sv_segment_global(&b, 2), 3);
    cr_assert_eq(sv_segment_global(&b, 3), 4);
    cr_assert_eq(sv_segment_count(&a, 1), 0);
    cr_assert_eq(sv_segment_count(&a, 2), 1);
    cr_assert_eq(sv_segment_count(&b, 1), 1);
    cr_assert_eq(sv_segment_count(&a, 100), 25);
    cr_assert_eq(sv_segment_count(&b, 100), 75);
    sv_segment_free(&a);
    sv_segment_free(&b);

    /* Thirds are plain round-robin. */
    sv_frac_t thirds[] = {{0, 1}, {1, 3}, {2, 3}, {1, 1}};
    for (size_t i = 0; i < 3; i++) {
        sv_segment_t s;
        cr_assert_eq(sv_segment_init(&s, thirds, 4, i, &why), 0);
        for (uint64_t k = 0; k < 30; k++)
            cr_assert_eq(sv_segment_global(&s, k), 3 * k + i);
        cr_assert_eq(sv_segment_count(&s, 10), i == 0 ? 4 : 3);
        sv_segment_free(&s);
    }

    /* Unreduced and mixed forms: 0, 2/6, 50/100, 1 is 0, 1/3, 1/2, 1, a cycle of 6. */
    sv_frac_t mixed[] = {{0, 5}, {2, 6}, {50, 100}, {3, 3}};
    sv_segment_t m;
    cr_assert_eq(sv_segment_init(&m, mixed, 4, 2, &why), 0);
    cr_assert_eq(m.cycle, 6);
    cr_assert_eq(m.count, 3);
    cr_assert_eq(sv_segment_count(&m, 600), 300);
    sv_segment_free(&m);
    /* "0.5000000" parses as 5000000/10000000: still one half. */
    sv_frac_t half[3] = {{0, 1}, {0, 0}, {1, 1}};
    cr_assert_eq(sv_frac_parse("0.5000000", &half[1]), 0);
    cr_assert_eq(sv_segment_init(&m, half, 3, 1, &why), 0, "%s", why);
    cr_assert_eq(m.cycle, 2);
    cr_assert_eq(sv_segment_global(&m, 0), 1);
    sv_segment_free(&m);

    uint64_t totals[] = {0, 1, 7, 12345, 1000003, UINT32_MAX + 5ULL};
    check_sequence(cuts, 3, totals, COUNT_OF(totals));
    check_sequence(thirds, 4, totals, COUNT_OF(totals));
    check_sequence(mixed, 4, totals, COUNT_OF(totals));
}

Test(segments, whole_test)
{
    sv_segment_t w;
    sv_segment_whole(&w);
    for (uint64_t N = 0; N < 1000; N++)
        cr_assert_eq(sv_segment_count(&w, N), N);
    cr_assert_eq(sv_segment_count(&w, UINT64_MAX), UINT64_MAX);
    for (uint64_t k = 0; k < 1000; k++)
        cr_assert_eq(sv_segment_global(&w, k), k);
    sv_segment_free(&w);
    cr_assert_null(w.pos);

    /* The same as the sequence 0, 1. */
    sv_frac_t cuts[] = {{0, 1}, {1, 1}};
    uint64_t totals[] = {0, 5, 123456, 1ULL << 40};
    check_sequence(cuts, 2, totals, COUNT_OF(totals));
}

Test(segments, equal_segments_partition_units)
{
    sv_frac_t cuts[17];
    uint64_t totals[4];
    for (int iter = 0; iter < 60; iter++) {
        uint64_t n = iter < 16 ? (uint64_t)iter + 1 : rng_range(1, 16);
        for (uint64_t i = 0; i <= n; i++)
            cuts[i] = (sv_frac_t){i, n};
        random_totals(totals, COUNT_OF(totals));
        check_sequence(cuts, n + 1, totals, COUNT_OF(totals));
    }
}

static int cmp_frac(const void *a, const void *b)
{
    const sv_frac_t *x = a, *y = b;
    __int128 l = (__int128)x->num * y->den, r = (__int128)y->num * x->den;
    return l < r ? -1 : l > r;
}

/* Random cut points p/q with q up to max_den (or all over one den if `common`),
 * sorted, duplicates dropped, between 0 and 1. Returns the number of cuts. */
static size_t random_cuts(sv_frac_t *cuts, size_t max_inner, uint64_t max_den, bool common)
{
    size_t m = (size_t)rng_range(0, max_inner), k = 1;
    uint64_t den = rng_range(2, max_den);
    sv_frac_t inner[MAX_CUTS];
    for (size_t i = 0; i < m; i++) {
        uint64_t q = common ? den : rng_range(2, max_den);
        uint64_t mul = rng_range(0, 3) == 0 ? rng_range(2, 3) : 1; /* unreduced forms too */
        inner[i] = (sv_frac_t){rng_range(1, q - 1) * mul, q * mul};
    }
    qsort(inner, m, sizeof(*inner), cmp_frac);
    cuts[0] = (sv_frac_t){0, rng_range(1, 3)};
    for (size_t i = 0; i < m; i++)
        if (cmp_frac(&inner[i], &cuts[k - 1]) != 0)
            cuts[k++] = inner[i];
    cuts[k++] = (sv_frac_t){2, 2};
    return k;
}

Test(segments, unequal_segments_partition_units)
{
    sv_frac_t cuts[MAX_CUTS];
    uint64_t totals[3];
    int checked = 0, refused = 0;
    for (int iter = 0; iter < 160; iter++) {
        size_t n = random_cuts(cuts, 15, 60, iter % 2 == 0);
        uint64_t l = cuts_lcm(cuts, n);
        if (l > SV_SEGMENT_MAX_CYCLE) {
            sv_segment_t s;
            const char *why = NULL;
            cr_assert_eq(sv_segment_init(&s, cuts, n, 0, &why), SV_EINVAL);
            cr_assert_not_null(why);
            refused++;
            continue;
        }
        if (l > 20000 && checked > 40)
            continue; /* long cycles cost the most: a few are enough */
        random_totals(totals, COUNT_OF(totals));
        check_sequence(cuts, n, totals, COUNT_OF(totals));
        checked++;
    }
    cr_assert_geq(checked, 60);
    cr_assert_geq(refused, 1);
}

Test(segments, invalid_sequences_are_refused)
{
    struct {
        sv_frac_t cuts[5];
        size_t n, index;
    } bad[] = {
        {{{0, 1}}, 1, 0},                             /* a single cut */
        {{{0, 1}, {1, 2}}, 2, 0},                     /* does not end at 1 */
        {{{1, 4}, {1, 1}}, 2, 0},                     /* does not start at 0 */
        {{{0, 1}, {1, 2}, {1, 2}, {1, 1}}, 4, 0},     /* an empty segment */
        {{{0, 1}, {2, 4}, {1, 2}, {1, 1}}, 4, 0},     /* the same, unreduced */
        {{{0, 1}, {2, 3}, {1, 3}, {1, 1}}, 4, 0},     /* going down */
        {{{0, 1}, {1, 1}, {1, 1}}, 3, 0},             /* 1 twice */
        {{{0, 1}, {1, 100003}, {1, 1}}, 3, 0},        /* cycle over 100000 */
        {{{0, 1}, {1, 401}, {1, 400}, {1, 1}}, 4, 0}, /* lcm 160400 */
        {{{0, 1}, {1, 2}, {1, 1}}, 3, 2},             /* no segment 2 */
        {{{0, 1}, {1, 2}, {1, 1}}, 3, 7},
        {{{0, 1}, {0, 0}, {1, 1}}, 3, 0}, /* a zero denominator */
    };
    for (size_t i = 0; i < COUNT_OF(bad); i++) {
        sv_segment_t s;
        const char *why = NULL;
        cr_assert_eq(sv_segment_init(&s, bad[i].cuts, bad[i].n, bad[i].index, &why), SV_EINVAL,
                     "sequence %zu accepted", i);
        cr_assert_not_null(why, "sequence %zu: no reason", i);
        cr_assert_gt(strlen(why), 0);
    }
    /* Too many cuts. */
    sv_frac_t *many = calloc(SV_SEGMENT_MAX_CUTS + 1, sizeof(*many));
    for (size_t i = 0; i <= SV_SEGMENT_MAX_CUTS; i++)
        many[i] = (sv_frac_t){i, SV_SEGMENT_MAX_CUTS};
    sv_segment_t s;
    const char *why = NULL;
    cr_assert_eq(sv_segment_init(&s, many, SV_SEGMENT_MAX_CUTS + 1, 0, &why), SV_EINVAL);
    cr_assert_not_null(why);
    /* The most cuts allowed: 1024 segments of 1/1024. */
    why = NULL;
    for (size_t i = 0; i < SV_SEGMENT_MAX_CUTS; i++)
        many[i] = (sv_frac_t){i, SV_SEGMENT_MAX_CUTS - 1};
    cr_assert_eq(sv_segment_init(&s, many, SV_SEGMENT_MAX_CUTS, 1023, &why), 0);
    cr_assert_eq(sv_segment_global(&s, 0), 1023);
    sv_segment_free(&s);
    free(many);
    /* The largest cycle allowed. */
    sv_frac_t edge[] = {{0, 1}, {1, SV_SEGMENT_MAX_CYCLE}, {1, 1}};
    cr_assert_eq(sv_segment_init(&s, edge, 3, 0, &why), 0);
    cr_assert_eq(s.cycle, SV_SEGMENT_MAX_CYCLE);
    cr_assert_eq(s.count, 1);
    sv_segment_free(&s);
}

/* ---- ramping VUs split by segments --------------------------------------------- */

static void check_vus_split(uint64_t start, const sv_stage_t *st, size_t n, const sv_segment_t *seg,
                            size_t n_seg, uint64_t t)
{
    uint64_t vus = sv_ramp_vus_at(start, st, n, t), sum = 0;
    for (size_t i = 0; i < n_seg; i++)
        sum += sv_segment_count(&seg[i], vus);
    if (sum != vus)
        cr_assert_fail("at %llu: %llu VUs, segments hold %llu", (unsigned long long)t,
                       (unsigned long long)vus, (unsigned long long)sum);
}

Test(segments, split_ramping_vus)
{
    sv_frac_t cuts[MAX_CUTS];
    sv_segment_t seg[MAX_CUTS];
    sv_stage_t st[6];
    for (int iter = 0; iter < 200; iter++) {
        size_t n_cuts = random_cuts(cuts, 10, 40, iter % 2 == 0), n_seg = n_cuts - 1;
        if (cuts_lcm(cuts, n_cuts) > 5000)
            continue;
        for (size_t i = 0; i < n_seg; i++) {
            const char *why = NULL;
            cr_assert_eq(sv_segment_init(&seg[i], cuts, n_cuts, i, &why), 0);
        }
        uint64_t start = rng_range(0, 200);
        bool small = iter % 2 == 1;
        size_t n = random_stages(st, 6, small ? 40 : SEC(60), 200);
        uint64_t total = sv_stages_total_ns(st, n);
        if (small) {
            for (uint64_t t = 0; t <= total + 2; t++)
                check_vus_split(start, st, n, seg, n_seg, t);
        } else {
            /* At every change point, just before it, and at random instants. */
            for (uint64_t t = 0; t != UINT64_MAX; t = sv_ramp_vus_next(start, st, n, t)) {
                check_vus_split(start, st, n, seg, n_seg, t);
                if (t > 0)
                    check_vus_split(start, st, n, seg, n_seg, t - 1);
            }
            for (int k = 0; k < 100; k++)
                check_vus_split(start, st, n, seg, n_seg, rng_range(0, total + 1));
        }
        for (size_t i = 0; i < n_seg; i++)
            sv_segment_free(&seg[i]);
    }
}
