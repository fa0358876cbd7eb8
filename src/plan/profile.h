/*
 * Test-type profiles: the load shapes of k6's guide to test types (smoke, average
 * load, stress, spike, soak, breakpoint) as a `scenarios` options object, so
 * `--profile load --target-vus 100` gives the right ramps without writing stages.
 * See docs/test-types.md for the stages each one produces.
 */
#ifndef SV_PROFILE_H
#define SV_PROFILE_H

#include <jansson.h>
#include <stdbool.h>

#include "plan.h"

typedef struct {
    uint64_t vus;              /* --target-vus, or 0 */
    sv_rate_t rate;            /* --target-rate when by_rate */
    bool by_rate;              /* arrival-rate profile */
    uint64_t duration_ns;      /* --duration: the whole profile squeezed or stretched to it; 0 */
    uint64_t pre_vus, max_vus; /* arrival rate: VUs ready at start and the cap; 0: defaults */
} sv_profile_target_t;

/* The `scenarios` object for profile `name`, or NULL with *why for an unknown name. */
json_t *sv_profile_scenarios(const char *name, const sv_profile_target_t *t, const char **why);

#endif
