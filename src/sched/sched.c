/*
 * Splitting and arrival schedules. Integer arithmetic throughout (128-bit where a
 * product could overflow), so every part of a split test agrees exactly.
 */
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

uint64_t sv_ramp_vus_next(uint64_t start_vus, const sv_stage_t *st, size_t n, uint64_t t)
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

uint64_t sv_ramp_vus_max(uint64_t start_vus, const sv_stage_t *st, size_t n)
{
    uint64_t most = start_vus;
    for (size_t i = 0; i < n; i++)
        most = st[i].target > most ? st[i].target : most;
    return most;
}

/* ---- ramping arrival rate ---------------------------------------------------------- */

/* Arrivals' integral over a stage's first x ns: rates r0 → r1 per ns over dur. */
static long double stage_area(long double r0, long double r1, long double dur, long double x)
{
    return r0 * x + (r1 - r0) * x * x / (2 * dur);
}

/* The integral of the rate from 0 to t. */
static long double ramp_area(const sv_ramp_rate_t *r, uint64_t t)
{
    long double unit = (long double)r->unit_ns, area = 0;
    long double from = (long double)r->start_rate / unit;
    uint64_t begin = 0;
    for (size_t i = 0; i < r->n_stages; i++) {
        long double to = (long double)r->stages[i].target / unit;
        uint64_t dur = r->stages[i].duration_ns;
        if (t < begin + dur)
            return area + stage_area(from, to, (long double)dur, (long double)(t - begin));
        area += stage_area(from, to, (long double)dur, (long double)dur);
        begin += dur;
        from = to;
    }
    return area;
}

/* Rounding noise of long double sums stays far below this. */
#define AREA_EPSILON 1e-9L

uint64_t sv_ramp_arrivals_before(const sv_ramp_rate_t *r, uint64_t t)
{
    /* arrival n is due when the area reaches n + 1: count the m >= 1 with m < area */
    long double m = ceill(ramp_area(r, t) - AREA_EPSILON);
    return m > 1 ? (uint64_t)m - 1 : 0;
}

uint64_t sv_ramp_arrival_at(const sv_ramp_rate_t *r, uint64_t n)
{
    long double unit = (long double)r->unit_ns, area = 0, goal = (long double)n + 1;
    long double from = (long double)r->start_rate / unit;
    uint64_t begin = 0;
    for (size_t i = 0; i < r->n_stages; i++) {
        long double to = (long double)r->stages[i].target / unit;
        long double dur = (long double)r->stages[i].duration_ns;
        long double whole = stage_area(from, to, dur, dur);
        if (dur > 0 && area + whole >= goal - AREA_EPSILON) {
            /* solve a x^2 + b x = c, in the form that stays exact when a is tiny */
            long double a = (to - from) / (2 * dur), b = from, c = goal - area;
            long double disc = b * b + 4 * a * c;
            long double x = 2 * c / (b + sqrtl(disc > 0 ? disc : 0));
            if (!(x >= 0))
                x = 0;
            return begin + (uint64_t)(x < dur ? x : dur);
        }
        area += whole;
        begin += r->stages[i].duration_ns;
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
        errno = 0;
        unsigned long long num = strtoull(s, &end, 10), den;
        if (end != slash || errno || slash[1] == '-' || slash[1] == '+')
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

/* Checks the cuts and finds their common denominator. */
static int sequence_cycle(const sv_frac_t *cuts, size_t n_cuts, uint64_t *cycle, const char **why)
{
    if (n_cuts < 2 || n_cuts > SV_SEGMENT_MAX_CUTS) {
        *why = "a sequence needs 2 to 1025 cut points, from 0 to 1";
        return SV_EINVAL;
    }
    if (cuts[0].num != 0 || cuts[n_cuts - 1].num != cuts[n_cuts - 1].den) {
        *why = "a sequence starts at 0 and ends at 1";
        return SV_EINVAL;
    }
    uint64_t l = 1;
    for (size_t i = 0; i < n_cuts; i++) {
        l = l / gcd(l, cuts[i].den) * cuts[i].den;
        if (l > SV_SEGMENT_MAX_CYCLE) {
            *why = "the fractions' common denominator is over 100000; use simpler fractions";
            return SV_EINVAL;
        }
    }
    for (size_t i = 1; i < n_cuts; i++)
        if (cuts[i].num * (l / cuts[i].den) <= cuts[i - 1].num * (l / cuts[i - 1].den)) {
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
        size[i] = cuts[i + 1].num * (l / cuts[i + 1].den) - cuts[i].num * (l / cuts[i].den);
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
