/*
 * Profiles as fractions of their target over a timeline of minutes, from k6's
 * guide to test types.
 */
#include "profile.h"

#include <string.h>

#include "../util/util.h"

#define MIN_NS (60 * SV_NS_PER_S)
#define MAX_STAGES 3

typedef struct {
    uint64_t minutes;
    unsigned percent; /* of the target */
} step_t;

static const struct {
    const char *name;
    step_t steps[MAX_STAGES]; /* minutes 0: unused; a smoke test holds instead */
} profiles[] = {
    {"smoke", {{1, 100}}},
    {"load", {{5, 100}, {30, 100}, {5, 0}}},
    {"stress", {{10, 100}, {30, 100}, {5, 0}}},
    {"spike", {{2, 100}, {1, 0}}},
    {"soak", {{5, 100}, {8 * 60, 100}, {5, 0}}},
    {"breakpoint", {{2 * 60, 100}}},
};

static uint64_t profile_minutes(const step_t *steps)
{
    uint64_t total = 0;
    for (int i = 0; i < MAX_STAGES; i++)
        total += steps[i].minutes;
    return total;
}

static json_t *duration(uint64_t ns)
{
    char buf[48];
    sv_format_duration(ns, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *stages(const step_t *steps, uint64_t target, uint64_t total_ns)
{
    json_t *list = json_array();
    uint64_t minutes = profile_minutes(steps);
    for (int i = 0; i < MAX_STAGES && steps[i].minutes; i++) {
        uint64_t ns = total_ns
                          ? (uint64_t)((unsigned __int128)total_ns * steps[i].minutes / minutes)
                          : steps[i].minutes * MIN_NS;
        json_array_append_new(list, json_pack("{s:o,s:I}", "duration", duration(ns), "target",
                                              (json_int_t)(target * steps[i].percent / 100)));
    }
    return list;
}

static json_t *rate_scenario(bool smoke, const step_t *steps, const sv_profile_target_t *t)
{
    uint64_t per_s = (uint64_t)((unsigned __int128)t->rate.count * SV_NS_PER_S / t->rate.per_ns);
    /* the default cap leaves room for the VUs asked for (--vus): below them, the
     * scenario was refused as maxVUs < preAllocatedVUs */
    uint64_t max_vus =
        t->max_vus ? t->max_vus : SV_MAX(SV_MIN(SV_MAX(per_s, 100), 100000), t->pre_vus);
    uint64_t pre = t->pre_vus ? t->pre_vus : SV_MIN(max_vus, 10);
    json_t *s = json_pack("{s:o,s:I,s:I}", "timeUnit", duration(t->rate.per_ns), "preAllocatedVUs",
                          (json_int_t)pre, "maxVUs", (json_int_t)max_vus);
    if (smoke) {
        json_object_set_new(s, "executor", json_string("constant-arrival-rate"));
        json_object_set_new(s, "rate", json_integer((json_int_t)t->rate.count));
        json_object_set_new(s, "duration", duration(t->duration_ns ? t->duration_ns : MIN_NS));
    } else {
        json_object_set_new(s, "executor", json_string("ramping-arrival-rate"));
        json_object_set_new(s, "startRate", json_integer(0));
        json_object_set_new(s, "stages", stages(steps, t->rate.count, t->duration_ns));
    }
    return s;
}

static json_t *vus_scenario(bool smoke, const step_t *steps, const sv_profile_target_t *t)
{
    if (smoke)
        return json_pack("{s:s,s:I,s:o}", "executor", "constant-vus", "vus", (json_int_t)t->vus,
                         "duration", duration(t->duration_ns ? t->duration_ns : MIN_NS));
    return json_pack("{s:s,s:i,s:o}", "executor", "ramping-vus", "startVUs", 0, "stages",
                     stages(steps, t->vus, t->duration_ns));
}

json_t *sv_profile_scenarios(const char *name, const sv_profile_target_t *t, const char **why)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(profiles); i++) {
        if (strcmp(name, profiles[i].name) != 0)
            continue;
        bool smoke = i == 0;
        json_t *s = t->by_rate ? rate_scenario(smoke, profiles[i].steps, t)
                               : vus_scenario(smoke, profiles[i].steps, t);
        return json_pack("{s:o}", name, s);
    }
    *why = "unknown profile; use smoke, load, stress, spike, soak or breakpoint";
    return NULL;
}
