/*
 * `salvo run`'s arguments: the flags (each a callback of the options table, most of
 * them building the flags' layer of k6 options) and how the layers become the plan.
 */
#ifndef SV_CLI_RUN_H
#define SV_CLI_RUN_H

#include <jansson.h>

#include "../engine/script.h"
#include "../plan/plan.h"
#include "options.h"

typedef struct {
    sv_plan_t plan;
    const char *url, *method, *body, *body_file, *overload, *config, *profile;
    uint64_t vus, max_vus, iterations, duration_ns, target_vus;
    sv_rate_t rate, target_rate;
    bool has_vus, has_rate, has_duration, has_target_rate;
    json_t *flags; /* the options the flags set, as a layer (see plan/options.h) */
    char **outs;   /* --out specs */
    size_t n_outs;
    bool out_required;
    struct sv_outputs *outputs;
    sv_catalog_t *catalog;
    sv_script_t *script;
    struct sv_tls *tls; /* built from the plan's TLS options */
} run_args_t;

extern const sv_opt_t sv_run_options[];
extern const char sv_run_usage[];

/* Turns --rate or --profile into a scenario, merges every layer of options (config
 * file, script, SALVO_* environment, flags) into a->plan and checks the result.
 * Returns 0, or the exit code after one error line. */
int sv_run_configure(run_args_t *a);

#endif
