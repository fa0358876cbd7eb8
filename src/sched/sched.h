/*
 * Executor maths as pure functions of time: how a test's VUs, iterations and
 * arrivals are split among workers, and when each arrival is due. No I/O, no
 * threads, no clocks: callers pass times in nanoseconds since the scenario start.
 */
#ifndef SV_SCHED_H
#define SV_SCHED_H

#include <stddef.h>
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

/* ---- stages (ramping-vus, ramping-arrival-rate) --------------------------------- */

/* Ramp linearly to `target` over `duration_ns` (0: jump at once). */
typedef struct {
    uint64_t duration_ns;
    uint64_t target;
} sv_stage_t;

uint64_t sv_stages_total_ns(const sv_stage_t *st, size_t n);

/* ramping-vus, as k6 steps it: across a stage from `a` to `b` VUs over D, the count
 * moves one VU at a time, reaching a ± j at offset ceil(j * D / |b - a|). VUs at
 * offset t (ns from the scenario start); past the end, the last target. */
uint64_t sv_ramp_vus_at(uint64_t start_vus, const sv_stage_t *st, size_t n, uint64_t t);
/* The first offset after t at which the count changes, or UINT64_MAX. */
uint64_t sv_ramp_vus_next(uint64_t start_vus, const sv_stage_t *st, size_t n, uint64_t t);
/* The most VUs the stages ever need. */
uint64_t sv_ramp_vus_max(uint64_t start_vus, const sv_stage_t *st, size_t n);

/* ramping-arrival-rate: the rate moves linearly from start_rate (per unit_ns) to
 * each stage's target; arrival n (0-based) is due when the rate's integral reaches
 * n + 1, as in k6. */
typedef struct {
    uint64_t start_rate, unit_ns;
    const sv_stage_t *stages;
    size_t n_stages;
} sv_ramp_rate_t;

/* Arrivals due strictly before offset t. */
uint64_t sv_ramp_arrivals_before(const sv_ramp_rate_t *r, uint64_t t);
/* Offset at which arrival n is due (n < arrivals before the end). */
uint64_t sv_ramp_arrival_at(const sv_ramp_rate_t *r, uint64_t n);

/* ---- execution segments ------------------------------------------------------------ */

/* A fraction num/den in [0, 1]. */
typedef struct {
    uint64_t num, den;
} sv_frac_t;

/* Parses "1/3", "0.25", "25%", "0" or "1". SV_EPARSE on anything else. */
int sv_frac_parse(const char *s, sv_frac_t *f);

#define SV_SEGMENT_MAX_CYCLE 100000
#define SV_SEGMENT_MAX_CUTS 1025

/* One segment of a sequence of cuts 0 = c0 < c1 < … < cn = 1, as k6's execution
 * segments. Units (VUs, iterations, arrivals), numbered 0, 1, 2 … over the whole test,
 * are dealt to the segments in a pattern that repeats every `cycle` units (the
 * common denominator): position j of a cycle goes to the segment furthest behind its
 * share (j + 1) * (c_{i+1} - c_i), so every segment is within one unit of its share
 * after any number of units, and every unit belongs to exactly one segment. */
typedef struct {
    uint32_t cycle, count; /* units per cycle in all, and of this segment */
    uint32_t *pos;         /* this segment's positions in a cycle, ascending */
} sv_segment_t;

/* The whole test: one segment that owns every unit. */
void sv_segment_whole(sv_segment_t *seg);
/* Segment `index` (0-based) of the sequence `cuts` (n_cuts >= 2, ascending, from 0 to
 * 1). SV_EINVAL with *why for a bad sequence or a cycle over SV_SEGMENT_MAX_CYCLE. */
int sv_segment_init(sv_segment_t *seg, const sv_frac_t *cuts, size_t n_cuts, size_t index,
                    const char **why);
void sv_segment_free(sv_segment_t *seg);
/* How many of units 0 .. total-1 the segment owns. */
uint64_t sv_segment_count(const sv_segment_t *seg, uint64_t total);
/* The whole-test number of the segment's k-th (0-based) unit. */
uint64_t sv_segment_global(const sv_segment_t *seg, uint64_t k);

#endif
