/*
 * Splitting and arrival schedules. Integer arithmetic throughout (128-bit where a
 * product could overflow), so every part of a split test agrees exactly.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"
#include "sched.h"

uint64_t sv_sched_share(uint64_t total, uint32_t index, uint32_t parts)
{
    if (parts == 0 || index >= parts)
        return 0;
    return total / parts + (index < total % parts ? 1 : 0);
}

uint64_t sv_sched_arrival_at(sv_rate_t rate, uint64_t n)
{
    return (uint64_t)((unsigned __int128)n * rate.per_ns / rate.count);
}

uint64_t sv_sched_arrivals_before(sv_rate_t rate, uint64_t t)
{
    /* Smallest n with n * per_ns / count >= t, i.e. n >= t * count / per_ns. */
    unsigned __int128 num = (unsigned __int128)t * rate.count;
    return (uint64_t)((num + rate.per_ns - 1) / rate.per_ns);
}

uint64_t sv_sched_stripe_slots(sv_stripe_t s)
{
    return sv_sched_share(s.slots, s.index, s.parts);
}

uint64_t sv_sched_stripe_global(sv_stripe_t s, uint64_t k)
{
    uint64_t mine = sv_sched_stripe_slots(s); /* this part's slots in each cycle */
    if (mine == 0)
        return UINT64_MAX;
    uint64_t cycle = k / mine, pos = k % mine;
    return cycle * s.slots + s.index + pos * s.parts;
}

uint64_t sv_sched_stripe_count(sv_stripe_t s, uint64_t total)
{
    uint64_t cycles = total / s.slots, rest = total % s.slots;
    return cycles * sv_sched_stripe_slots(s) + sv_sched_share(rest, s.index, s.parts);
}

/* ---- stages ------------------------------------------------------------------------ */

uint64_t sv_stages_total_ns(const sv_stage_t *st, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += st[i].duration_ns;
    return total;
}

static uint64_t abs_diff(uint64_t a, uint64_t b)
{
    return a > b ? a - b : b - a;
}

/* Steps taken by offset `off` into a stage of `d` steps over `dur` ns. */
static uint64_t steps_by(uint64_t d, uint64_t dur, uint64_t off)
{
    return (uint64_t)((unsigned __int128)d * off / dur);
}

uint64_t sv_ramp_vus_at(uint64_t start_vus, const sv_stage_t *st, size_t n, uint64_t t)
{
    uint64_t from = start_vus, begin = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t to = st[i].target, dur = st[i].duration_ns;
        if (t < begin + dur) {
            uint64_t k = steps_by(abs_diff(from, to), dur, t - begin);
            return to >= from ? from + k : from - k;
        }
        begin += dur;
        from = to;
    }
    return from;
}

/* The first offset after t at which a stage moves the count, or UINT64_MAX. Moves at
 * one instant can cancel out, so the count need not differ there. */
static uint64_t next_move(uint64_t start_vus, const sv_stage_t *st, size_t n, uint64_t t)
{
    uint64_t from = start_vus, begin = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t to = st[i].target, dur = st[i].duration_ns, d = abs_diff(from, to);
        if (d > 0 && dur == 0 && begin > t)
            return begin;
        if (d > 0 && dur > 0 && begin + dur > t) {
            uint64_t j = t >= begin ? steps_by(d, dur, t - begin) + 1 : 1;
            /* step j lands at ceil(j * dur / d), at most dur: within this stage */
            return begin + (uint64_t)(((unsigned __int128)j * dur + d - 1) / d);
        }
        begin += dur;
        from = to;
    }
    return UINT64_MAX;
}

uint64_t sv_ramp_vus_next(uint64_t start_vus, const sv_stage_t *st, size_t n, uint64_t t)
{
    /* A ramp's last step and zero-length stages at the same instant may leave the count
     * as it was (0 → 10 then a jump to 9: 9 both before and at the boundary), so skip
     * moves that change nothing. Only stage boundaries can do that: at most n rounds. */
    for (;;) {
        uint64_t next = next_move(start_vus, st, n, t);
        if (next == UINT64_MAX ||
            sv_ramp_vus_at(start_vus, st, n, next) != sv_ramp_vus_at(start_vus, st, n, next - 1))
            return next;
        t = next;
    }
}

uint64_t sv_ramp_vus_max(uint64_t start_vus, const sv_stage_t *st, size_t n)
{
    uint64_t most = start_vus;
    for (size_t i = 0; i < n; i++)
        most = st[i].target > most ? st[i].target : most;
    return most;
}

/* ---- ramping arrival rate ---------------------------------------------------------- */

/* Exact, in integers: floating-point put due times a ns early (0.5 ms → 499999 ns),
 * lost arrivals to its rounding allowance at low rates, and turned zero-length stages
 * into 0/0. Areas are kept as twice the integral times unit_ns ("twice units"), so a
 * whole stage adds (from + to) * dur and x ns into one add 2 from x + (to - from) x^2 /
 * dur. The largest product, rate * dur^2, fits 128 bits for any sane test (a rate of
 * 10^7 per unit over a week-long stage is under 10^37). */

/* Floor division of a signed 128-bit value by d > 0, with its remainder in [0, d). */
static __int128 floor_div(__int128 v, uint64_t d, __int128 *rem)
{
    __int128 q = v / (__int128)d, m = v % (__int128)d;
    if (m < 0) {
        q--;
        m += d;
    }
    *rem = m;
    return q;
}

uint64_t sv_ramp_arrivals_before(const sv_ramp_rate_t *r, uint64_t t)
{
    /* Arrival n is due when the integral reaches n + 1, i.e. twice units reach
     * (n + 1) * per with per = 2 unit_ns. Count the m >= 1 the integral has passed by
     * t, plus one if it sits exactly on m having been flat since t - 1 (the rate was 0
     * then, so m was reached earlier). Past the end nothing more becomes due. */
    uint64_t per = 2 * r->unit_ns, from = r->start_rate, begin = 0;
    __int128 twice = 0;
    bool frac = false, flat = false; /* flat: the rate is 0 over the ns before t */
    for (size_t i = 0; i < r->n_stages; i++) {
        uint64_t to = r->stages[i].target, dur = r->stages[i].duration_ns;
        if (t < begin + dur) {
            uint64_t x = t - begin;
            __int128 rem, ramp = ((__int128)to - (__int128)from) * x * x;
            twice += 2 * (__int128)from * x + floor_div(ramp, dur, &rem);
            frac = rem != 0;
            if (x > 0)
                flat = from == 0 && to == 0;
            break;
        }
        twice += ((__int128)from + to) * dur;
        if (dur > 0)
            flat = from == 0 && to == 0;
        begin += dur;
        from = to;
    }
    /* twice + frac, frac in [0, 1): m * per below it means m * per < twice + (frac ? 1 : 0) */
    __int128 above = twice + (frac ? 1 : 0);
    if (above <= 0)
        return 0;
    uint64_t n = (uint64_t)((above - 1) / per);
    if (!frac && flat && twice % per == 0)
        n++;
    return n;
}

/* Twice units x ns into a stage, times dur, minus c * dur: the sign says whether the
 * stage's g(x) = 2 from x + (to - from) x^2 / dur has reached c. */
static __int128 reach_diff(uint64_t from, __int128 slope, uint64_t dur, __int128 c, uint64_t x)
{
    return 2 * (__int128)from * x * dur + slope * x * x - c * dur;
}

uint64_t sv_ramp_arrival_at(const sv_ramp_rate_t *r, uint64_t n)
{
    uint64_t from = r->start_rate, begin = 0;
    __int128 goal = ((__int128)n + 1) * 2 * r->unit_ns, twice = 0;
    for (size_t i = 0; i < r->n_stages; i++) {
        uint64_t to = r->stages[i].target, dur = r->stages[i].duration_ns;
        __int128 whole = ((__int128)from + to) * dur;
        if (dur > 0 && twice + whole >= goal) {
            /* Due x ns in, where g(x) first reaches c = goal - twice > 0. Find the first
             * whole ns h with g(h) >= c: start from the floating-point root, which is
             * within a ns, and bisect in case it is not. */
            __int128 c = goal - twice, slope = (__int128)to - (__int128)from;
            long double qa = (long double)slope / (long double)dur, qb = 2.0L * from;
            long double disc = qb * qb + 4 * qa * (long double)c;
            long double root = 2 * (long double)c / (qb + sqrtl(disc > 0 ? disc : 0));
            uint64_t guess = root >= 0 && root < (long double)dur ? (uint64_t)root : dur;
            uint64_t lo = 0, hi = dur; /* g(lo) < c <= g(hi) */
            uint64_t probe[2] = {guess > 0 ? guess - 1 : 0, guess < dur ? guess + 1 : dur};
            for (int k = 0; k < 2; k++)
                if (probe[k] > lo && probe[k] < hi) {
                    if (reach_diff(from, slope, dur, c, probe[k]) >= 0)
                        hi = probe[k];
                    else
                        lo = probe[k];
                }
            while (hi - lo > 1) {
                uint64_t mid = lo + (hi - lo) / 2;
                if (reach_diff(from, slope, dur, c, mid) >= 0)
                    hi = mid;
                else
                    lo = mid;
            }
            /* The rate is not 0 throughout this stage (it adds area), so g rises
             * strictly: the root is hi itself if g(hi) == c, else inside (hi - 1, hi). */
            return begin + (reach_diff(from, slope, dur, c, hi) == 0 ? hi : hi - 1);
        }
        twice += whole;
        begin += dur;
        from = to;
    }
    return begin;
}

/* ---- execution segments ------------------------------------------------------------ */

int sv_frac_parse(const char *s, sv_frac_t *f)
{
    char *end;
    if (s == NULL || *s == '\0' || *s == '-' || *s == '+')
        return SV_EPARSE;
    const char *slash = strchr(s, '/');
    if (slash) {
        /* strtoull takes an empty number (so "/3" was 0/3), spaces and signs: want digits
         * right at both ends */
        if (!isdigit((unsigned char)s[0]) || !isdigit((unsigned char)slash[1]))
            return SV_EPARSE;
        errno = 0;
        unsigned long long num = strtoull(s, &end, 10), den;
        if (end != slash || errno)
            return SV_EPARSE;
        den = strtoull(slash + 1, &end, 10);
        if (*end || errno || den == 0 || num > den || den > UINT32_MAX)
            return SV_EPARSE;
        *f = (sv_frac_t){num, den};
        return 0;
    }
    /* a decimal (or a percentage): digits after the point become the denominator */
    uint64_t num = 0, den = 1;
    const char *p = s;
    bool point = false, digits = false;
    for (; *p && *p != '%'; p++) {
        if (*p == '.' && !point) {
            point = true;
            continue;
        }
        if (*p < '0' || *p > '9' || num > UINT32_MAX / 10 || (point && den > UINT32_MAX / 10))
            return SV_EPARSE;
        digits = true;
        num = num * 10 + (uint64_t)(*p - '0');
        if (point)
            den *= 10;
    }
    if (!digits || (*p == '%' && p[1] != '\0'))
        return SV_EPARSE;
    if (*p == '%')
        den *= 100;
    if (num > den || den > UINT32_MAX)
        return SV_EPARSE;
    *f = (sv_frac_t){num, den};
    return 0;
}

static uint64_t gcd(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

void sv_segment_whole(sv_segment_t *seg)
{
    seg->cycle = seg->count = 1;
    seg->pos = sv_xcalloc(1, sizeof(*seg->pos));
}

/* A cut as a whole number of 1/l, where l is a multiple of its reduced denominator. */
static uint64_t cut_at(sv_frac_t c, uint64_t l)
{
    uint64_t g = gcd(c.num, c.den);
    return c.num / g * (l / (c.den / g));
}

/* Checks the cuts and finds their common denominator. */
static int sequence_cycle(const sv_frac_t *cuts, size_t n_cuts, uint64_t *cycle, const char **why)
{
    if (n_cuts < 2 || n_cuts > SV_SEGMENT_MAX_CUTS) {
        *why = "a sequence needs 2 to 1025 cut points, from 0 to 1";
        return SV_EINVAL;
    }
    for (size_t i = 0; i < n_cuts; i++)
        if (cuts[i].den == 0 || cuts[i].num > cuts[i].den) { /* den 0 would divide by 0 */
            *why = "cut points are fractions from 0 to 1";
            return SV_EINVAL;
        }
    if (cuts[0].num != 0 || cuts[n_cuts - 1].num != cuts[n_cuts - 1].den) {
        *why = "a sequence starts at 0 and ends at 1";
        return SV_EINVAL;
    }
    uint64_t l = 1;
    for (size_t i = 0; i < n_cuts; i++) {
        /* Reduced first: "0.5000000" is 1/2, not a cycle of 10^7 units. */
        uint64_t den = cuts[i].den / gcd(cuts[i].num, cuts[i].den);
        l = l / gcd(l, den) * den;
        if (l > SV_SEGMENT_MAX_CYCLE) {
            *why = "the fractions' common denominator is over 100000; use simpler fractions";
            return SV_EINVAL;
        }
    }
    for (size_t i = 1; i < n_cuts; i++)
        if (cut_at(cuts[i], l) <= cut_at(cuts[i - 1], l)) {
            *why = "cut points must go up: each segment must be longer than zero";
            return SV_EINVAL;
        }
    *cycle = l;
    return 0;
}

int sv_segment_init(sv_segment_t *seg, const sv_frac_t *cuts, size_t n_cuts, size_t index,
                    const char **why)
{
    uint64_t l;
    int rc = sequence_cycle(cuts, n_cuts, &l, why);
    if (rc != 0)
        return rc;
    if (index + 1 >= n_cuts) {
        *why = "no such segment in the sequence";
        return SV_EINVAL;
    }
    size_t n = n_cuts - 1;
    uint64_t *size = sv_xmalloc(n * sizeof(*size)), *dealt = sv_xcalloc(n, sizeof(*dealt));
    for (size_t i = 0; i < n; i++)
        size[i] = cut_at(cuts[i + 1], l) - cut_at(cuts[i], l);
    seg->cycle = (uint32_t)l;
    seg->count = (uint32_t)size[index];
    seg->pos = sv_xmalloc(size[index] * sizeof(*seg->pos));
    uint32_t mine = 0;
    for (uint64_t j = 0; j < l; j++) {
        /* deal position j to the segment furthest behind: max (j+1)*size - dealt*l */
        size_t best = 0;
        __int128 best_gap = 0;
        for (size_t i = 0; i < n; i++) {
            __int128 gap = (__int128)(j + 1) * size[i] - (__int128)dealt[i] * l;
            if (i == 0 || gap > best_gap) {
                best = i;
                best_gap = gap;
            }
        }
        dealt[best]++;
        if (best == index)
            seg->pos[mine++] = (uint32_t)j;
    }
    free(size);
    free(dealt);
    return 0;
}

void sv_segment_free(sv_segment_t *seg)
{
    free(seg->pos);
    seg->pos = NULL;
}

uint64_t sv_segment_count(const sv_segment_t *seg, uint64_t total)
{
    uint64_t rest = total % seg->cycle;
    uint32_t lo = 0, hi = seg->count; /* positions below rest: binary search */
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (seg->pos[mid] < rest)
            lo = mid + 1;
        else
            hi = mid;
    }
    return total / seg->cycle * seg->count + lo;
}

uint64_t sv_segment_global(const sv_segment_t *seg, uint64_t k)
{
    if (seg->count == 0)
        return UINT64_MAX;
    return k / seg->count * seg->cycle + seg->pos[k % seg->count];
}
