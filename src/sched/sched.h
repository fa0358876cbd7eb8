/*
 * Executor maths as pure functions of time: how a test's VUs, iterations and
 * arrivals are split among workers, and when each arrival is due. No I/O, no
 * threads, no clocks: callers pass times in nanoseconds since the scenario start.
 */
#ifndef SV_SCHED_H
#define SV_SCHED_H

#include <stdint.h>

/* A rate: `count` events every `per_ns` nanoseconds (count > 0, per_ns > 0). */
typedef struct {
    uint64_t count;
    uint64_t per_ns;
} sv_rate_t;

/* Share of `total` units for part `index` of `parts`: the first total % parts parts
 * get one more, so shares differ by at most one and add up to total. */
uint64_t sv_sched_share(uint64_t total, uint32_t index, uint32_t parts);

/* Offset (ns from start) at which the n-th (0-based) arrival of a constant rate is
 * due: floor(n * per_ns / count). */
uint64_t sv_sched_arrival_at(sv_rate_t rate, uint64_t n);

/* Number of arrivals due strictly before offset t (ns from start). */
uint64_t sv_sched_arrivals_before(sv_rate_t rate, uint64_t t);

/* Arrivals are striped over parts: part `index` of `parts` takes the global arrivals
 * index, index+parts, index+2*parts, … Its k-th (0-based) arrival is global number: */
static inline uint64_t sv_sched_stripe_global(uint64_t k, uint32_t index, uint32_t parts)
{
    return k * parts + index;
}

/* Number of arrivals part `index` of `parts` takes among the first `total` global ones. */
uint64_t sv_sched_stripe_count(uint64_t total, uint32_t index, uint32_t parts);

#endif
