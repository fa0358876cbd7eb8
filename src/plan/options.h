/*
 * k6's options, spelled as k6 spells them, from any source: a script's `options`
 * table (turned into JSON by the script runtime), a `--config` JSON file, SALVO_*
 * environment variables and command-line flags. Each source is one JSON object (a
 * "layer"); layers merge in k6's order (config < script < env < flags) and the
 * result is applied to a plan, with the shortcuts (vus, duration, iterations,
 * stages) turned into a scenario named "default" as k6 does. See docs/options.md.
 */
#ifndef SV_OPTIONS_H
#define SV_OPTIONS_H

#include <jansson.h>

#include "plan.h"

/* Applies one options object to the plan: scenarios, thresholds (added), tags,
 * summaryTrendStats and the rest. `where` prefixes every error path ("options",
 * "--config test.json"). Returns 0, or SV_EINVAL with one line in err naming the
 * option's path and what was expected. */
int sv_options_apply(sv_plan_t *plan, const json_t *opts, const char *where, char *err,
                     size_t size);

/* Merges `upper` over `acc` as k6 does: when `upper` shapes the test (duration,
 * iterations, stages or scenarios), the lower layers' shaping keys are dropped;
 * tags merge key by key; every other key is replaced. */
void sv_options_merge(json_t *acc, const json_t *upper);

/* The options set by SALVO_* variables in env (a NULL-terminated environ), as a
 * layer. Unknown SALVO_* names are not options (SALVO_ is a prefix for users'
 * variables too) and are left alone. Values keep their text: applying the layer
 * checks them. */
json_t *sv_options_from_env(char *const *env);

/* One scenario as k6's options spell it (the export's configuration). */
json_t *sv_scenario_to_json(const sv_scenario_t *s);

/* Sets the plan's execution segment: k6's "1/3:2/3" (or "0.25:0.5") form, within
 * `sequence` ("0,1/3,2/3,1"; NULL: 0, from, to, 1). SV_EINVAL with *why. */
int sv_plan_set_segment(sv_plan_t *plan, const char *segment, const char *sequence,
                        const char **why);
/* salvo's --segment i/n: the i-th of n equal segments. */
int sv_plan_set_segment_index(sv_plan_t *plan, const char *i_of_n, const char **why);

#endif
