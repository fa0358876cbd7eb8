/*
 * A test written as a Lua script, seen from the main thread: the init stage run
 * once to read options and declare custom metrics, then setup() before the workers
 * start, teardown() after they stop, and handle_summary() at the very end. Each
 * runs in the main thread's own Lua state on a private loop.
 */
#ifndef SV_SCRIPT_H
#define SV_SCRIPT_H

#include "../lua/lua.h"
#include "../output/report.h"

typedef struct sv_script sv_script_t;

/* Loads plan->script and runs its init stage, declaring its custom metrics in
 * catalog. SV_EPARSE with err ("file:line: message") on a script error. */
int sv_script_load(sv_script_t **out, const sv_plan_t *plan, sv_catalog_t *catalog, char *err);
/* The script's options table as JSON (see plan/options.h). */
int sv_script_options(sv_script_t *s, json_t **options, char *err);
bool sv_script_has_function(sv_script_t *s, const char *name);
/* setup(): its result (JSON) is kept for the workers. SV_EPARSE on a script error. */
int sv_script_setup(sv_script_t *s, char *err);
const char *sv_script_setup_json(const sv_script_t *s);
/* SV_ETIMEDOUT when setup (teardown) ran out of its time, SV_EPARSE on an error. */
int sv_script_teardown(sv_script_t *s, char *err);
/* test.abort()'s reason when setup or teardown called it, or NULL. */
const char *sv_script_aborted(const sv_script_t *s);
/* Adds the samples setup and teardown made to totals. */
void sv_script_merge_samples(sv_script_t *s, sv_registry_t *totals);
int sv_script_handle_summary(sv_script_t *s, const char *summary_json, bool *handled, char *err);
void sv_script_free(sv_script_t *s);

#endif
