/*
 * Splitting and arrival schedules. Integer arithmetic throughout (128-bit where a
 * product could overflow), so every part of a split test agrees exactly.
 */
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
