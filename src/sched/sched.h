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

/* Work is striped over VU slots, and slots over parts: slot j belongs to part
 * j % parts, and global unit k (an arrival, an iteration) to slot k % slots. So each
 * part gets work in proportion to its VUs — exactly, with no part more than one
 * unit per cycle of `slots` off — and the parts together cover every unit once.
 * With slots = parts this is plain round-robin. */
typedef struct {
    uint64_t slots; /* VUs in the whole test (>= 1) */
    uint32_t index; /* this part */
    uint32_t parts; /* how many parts (<= slots) */
} sv_stripe_t;

/* VU slots of this part: sv_sched_share(slots, index, parts). */
uint64_t sv_sched_stripe_slots(sv_stripe_t s);
/* Global number of this part's k-th (0-based) unit. */
uint64_t sv_sched_stripe_global(sv_stripe_t s, uint64_t k);
/* How many of the first `total` global units belong to this part. */
uint64_t sv_sched_stripe_count(sv_stripe_t s, uint64_t total);

#endif
