/*
 * Unit tests for k6 options (src/plan/options.h): reading them into a plan, the
 * shortcuts, layering, SALVO_* variables, scenarios back to JSON and execution
 * segments; test-type profiles (src/plan/profile.h); RFC 3339 times (plan.h).
 *
 * JSON in these tests is written with ' for " (J() swaps them) to keep it legible.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan/options.h"
#include "plan/plan.h"
#include "plan/profile.h"
#include "util/util.h"

#define NS_PER_MS 1000000ULL
#define NS_PER_S 1000000000ULL
#define NS_PER_M (60 * NS_PER_S)
#define NS_PER_H (60 * NS_PER_M)

#define SENTINEL 0xdeadbeefcafef00dULL

/* ---- helpers ------------------------------------------------------------------- */

static sv_plan_t plan;
static char err[512];

static void setup(void)
{
    sv_plan_init(&plan);
    err[0] = '\0';
}

static void teardown(void)
{
    sv_plan_free(&plan);
}

/* JSON text with ' for ", parsed; the test fails on bad test JSON. */
static json_t *J(const char *text)
{
    char *copy = sv_xstrdup(text);
    for (char *p = copy; *p; p++)
        if (*p == '\'')
            *p = '"';
    json_error_t jerr;
    json_t *j = json_loads(copy, JSON_DECODE_ANY, &jerr);
    free(copy);
    cr_assert_not_null(j, "bad test JSON (%s): %s", jerr.text, text);
    return j;
}

static int apply_where(const char *text, const char *where)
{
    json_t *j = J(text);
    err[0] = '\0';
    int rc = sv_options_apply(&plan, j, where, err, sizeof(err));
    json_decref(j);
    return rc;
}

static void apply_ok(const char *text)
{
    int rc = apply_where(text, "options");
    cr_assert_eq(rc, 0, "%s: rc %d: %s", text, rc, err);
}

/* A fresh plan: a refused options object may leave a half-read scenario behind. */
static void fresh(void)
{
    sv_plan_free(&plan);
    sv_plan_init(&plan);
}

/* Applying text to a fresh plan fails with exactly the error `want`. */
static void apply_fails(const char *text, const char *want)
{
    fresh();
    int rc = apply_where(text, "options");
    cr_assert_eq(rc, SV_EINVAL, "%s: accepted (rc %d)", text, rc);
    cr_assert_str_eq(err, want, "%s", text);
}

/* Applying text to a fresh plan fails with an error that starts with `path` and holds
 * `part`. */
static void apply_fails_with(const char *text, const char *path, const char *part)
{
    fresh();
    int rc = apply_where(text, "options");
    cr_assert_eq(rc, SV_EINVAL, "%s: accepted (rc %d)", text, rc);
    cr_assert(strncmp(err, path, strlen(path)) == 0, "%s: error \"%s\" is not at %s", text, err,
              path);
    cr_assert(strstr(err, part) != NULL, "%s: error \"%s\" lacks \"%s\"", text, err, part);
}

static const sv_scenario_t *scenario(const sv_plan_t *p, const char *name)
{
    for (size_t i = 0; i < p->n_scenarios; i++)
        if (strcmp(p->scenarios[i].name, name) == 0)
            return &p->scenarios[i];
    cr_assert_fail("no scenario \"%s\"", name);
    return NULL;
}

static const char *kv_get(const sv_kv_t *kv, size_t n, const char *key)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(kv[i].key, key) == 0)
            return kv[i].value;
    return NULL;
}

static void assert_json(const json_t *got, const char *want_text)
{
    json_t *want = J(want_text);
    char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
    bool eq = json_equal((json_t *)got, want);
    json_decref(want);
    cr_assert(eq, "got %s, want %s", g, want_text);
    free(g);
}

/* ---- scenarios: every executor's defaults and needs ----------------------------- */

TestSuite(scenarios, .init = setup, .fini = teardown);

Test(scenarios, shared_iterations_defaults)
{
    apply_ok("{'scenarios': {'s': {'executor': 'shared-iterations'}}}");
    cr_assert_eq(plan.n_scenarios, 1);
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_SHARED_ITERATIONS);
    cr_assert_eq(s->vus, 1);
    cr_assert_eq(s->iterations, 1);
    cr_assert_eq(s->max_duration_ns, 10 * NS_PER_M);
    cr_assert_eq(s->graceful_stop_ns, 30 * NS_PER_S);
    cr_assert_eq(s->start_time_ns, 0);
    cr_assert_null(s->exec);
    cr_assert_eq(s->n_env + s->n_tags, 0);
}

Test(scenarios, per_vu_iterations_defaults)
{
    apply_ok("{'scenarios': {'s': {'executor': 'per-vu-iterations'}}}");
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_PER_VU_ITERATIONS);
    cr_assert_eq(s->vus, 1);
    cr_assert_eq(s->iterations, 1);
    cr_assert_eq(s->max_duration_ns, 10 * NS_PER_M);
    cr_assert_eq(s->graceful_stop_ns, 30 * NS_PER_S);
}

Test(scenarios, constant_vus_defaults_and_needs)
{
    apply_ok("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '45s'}}}");
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_CONSTANT_VUS);
    cr_assert_eq(s->vus, 1);
    cr_assert_eq(s->duration_ns, 45 * NS_PER_S);
    cr_assert_eq(s->graceful_stop_ns, 30 * NS_PER_S);
    apply_fails("{'scenarios': {'t': {'executor': 'constant-vus', 'vus': 3}}}",
                "options.scenarios.t: constant-vus needs duration");
}

Test(scenarios, ramping_vus_defaults_and_needs)
{
    apply_ok("{'scenarios': {'s': {'executor': 'ramping-vus', 'stages': "
             "[{'duration': '10s', 'target': 5}, {'duration': '20s', 'target': 0}]}}}");
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_RAMPING_VUS);
    cr_assert_eq(s->vus, 1, "startVUs defaults to 1, as k6");
    cr_assert_eq(s->graceful_ramp_down_ns, 30 * NS_PER_S);
    cr_assert_eq(s->graceful_stop_ns, 30 * NS_PER_S);
    cr_assert_eq(s->n_stages, 2);
    cr_assert_eq(s->stages[0].duration_ns, 10 * NS_PER_S);
    cr_assert_eq(s->stages[0].target, 5);
    cr_assert_eq(s->stages[1].duration_ns, 20 * NS_PER_S);
    cr_assert_eq(s->stages[1].target, 0);
    apply_fails("{'scenarios': {'t': {'executor': 'ramping-vus', 'startVUs': 3}}}",
                "options.scenarios.t: ramping-vus needs stages");
}

Test(scenarios, constant_arrival_rate_defaults_and_needs)
{
    apply_ok("{'scenarios': {'s': {'executor': 'constant-arrival-rate', 'rate': 50, "
             "'duration': '1m', 'preAllocatedVUs': 20}}}");
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_CONSTANT_ARRIVAL_RATE);
    cr_assert_eq(s->rate.count, 50);
    cr_assert_eq(s->rate.per_ns, NS_PER_S, "timeUnit defaults to 1s");
    cr_assert_eq(s->duration_ns, NS_PER_M);
    cr_assert_eq(s->vus, 20);
    cr_assert_eq(s->max_vus, 20, "maxVUs defaults to preAllocatedVUs");
    cr_assert_not(s->overload_queue);
    apply_fails("{'scenarios': {'a': {'executor': 'constant-arrival-rate', 'duration': '1m', "
                "'preAllocatedVUs': 2}}}",
                "options.scenarios.a: constant-arrival-rate needs rate");
    apply_fails("{'scenarios': {'b': {'executor': 'constant-arrival-rate', 'rate': 5, "
                "'preAllocatedVUs': 2}}}",
                "options.scenarios.b: constant-arrival-rate needs duration");
    apply_fails("{'scenarios': {'c': {'executor': 'constant-arrival-rate', 'rate': 5, "
                "'duration': '1m'}}}",
                "options.scenarios.c: constant-arrival-rate needs preAllocatedVUs");
}

Test(scenarios, ramping_arrival_rate_defaults_and_needs)
{
    apply_ok("{'scenarios': {'s': {'executor': 'ramping-arrival-rate', 'preAllocatedVUs': 4, "
             "'stages': [{'duration': '1m', 'target': 100}]}}}");
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_RAMPING_ARRIVAL_RATE);
    cr_assert_eq(s->start_rate, 0);
    cr_assert_eq(s->rate.per_ns, NS_PER_S, "timeUnit defaults to 1s");
    cr_assert_eq(s->vus, 4);
    cr_assert_eq(s->max_vus, 4, "maxVUs defaults to preAllocatedVUs");
    cr_assert_eq(s->n_stages, 1);
    cr_assert_eq(s->stages[0].target, 100);
    apply_fails("{'scenarios': {'a': {'executor': 'ramping-arrival-rate', "
                "'preAllocatedVUs': 4}}}",
                "options.scenarios.a: ramping-arrival-rate needs stages");
    apply_fails("{'scenarios': {'b': {'executor': 'ramping-arrival-rate', "
                "'stages': [{'duration': '1m', 'target': 100}]}}}",
                "options.scenarios.b: ramping-arrival-rate needs preAllocatedVUs");
}

Test(scenarios, externally_controlled_defaults_and_needs)
{
    apply_ok("{'scenarios': {'s': {'executor': 'externally-controlled', 'duration': '10m'}}}");
    const sv_scenario_t *s = scenario(&plan, "s");
    cr_assert_eq(s->executor, SV_EXEC_EXTERNALLY_CONTROLLED);
    cr_assert_eq(s->vus, 1);
    cr_assert_eq(s->max_vus, 1, "maxVUs defaults to vus");
    cr_assert_eq(s->duration_ns, 10 * NS_PER_M);
    apply_ok("{'scenarios': {'z': {'executor': 'externally-controlled', 'vus': 0, "
             "'maxVUs': 50, 'duration': 0}}}");
    s = scenario(&plan, "z");
    cr_assert_eq(s->vus, 0, "externally-controlled may start with no VUs");
    cr_assert_eq(s->max_vus, 50);
    cr_assert_eq(s->duration_ns, 0, "a duration of 0 runs until stopped");
    apply_fails("{'scenarios': {'t': {'executor': 'externally-controlled', 'vus': 2}}}",
                "options.scenarios.t: externally-controlled needs duration");
    apply_fails("{'scenarios': {'u': {'executor': 'externally-controlled', 'vus': 5, "
                "'maxVUs': 2, 'duration': '1m'}}}",
                "options.scenarios.u: maxVUs (2) is less than vus (5)");
}

Test(scenarios, every_key_read)
{
    apply_ok("{'scenarios': {"
             "'a': {'executor': 'shared-iterations', 'vus': 4, 'iterations': 40, "
             "      'maxDuration': '90s', 'exec': 'login', 'startTime': '5s', "
             "      'gracefulStop': '2s', 'env': {'A': '1'}, 'tags': {'kind': 'a'}},"
             "'b': {'executor': 'per-vu-iterations', 'vus': 3, 'iterations': 7, "
             "      'maxDuration': 1500},"
             "'c': {'executor': 'constant-vus', 'vus': 9, 'duration': '1m30s'},"
             "'d': {'executor': 'ramping-vus', 'startVUs': 0, 'gracefulRampDown': '0s', "
             "      'stages': [{'duration': '5s', 'target': 10}]},"
             "'e': {'executor': 'constant-arrival-rate', 'rate': 30, 'timeUnit': '1m', "
             "      'duration': '2m', 'preAllocatedVUs': 2, 'maxVUs': 8, 'overload': 'queue'},"
             "'f': {'executor': 'ramping-arrival-rate', 'startRate': 5, 'timeUnit': '500ms', "
             "      'preAllocatedVUs': 1, 'maxVUs': 3, 'overload': 'drop', "
             "      'stages': [{'duration': '10s', 'target': 20}, "
             "                 {'duration': 2000, 'target': 0}]},"
             "'g': {'executor': 'externally-controlled', 'vus': 2, 'maxVUs': 10, "
             "      'duration': '1h'}}}");
    cr_assert_eq(plan.n_scenarios, 7);
    const sv_scenario_t *s = scenario(&plan, "a");
    cr_assert_eq(s->vus, 4);
    cr_assert_eq(s->iterations, 40);
    cr_assert_eq(s->max_duration_ns, 90 * NS_PER_S);
    cr_assert_str_eq(s->exec, "login");
    cr_assert_eq(s->start_time_ns, 5 * NS_PER_S);
    cr_assert_eq(s->graceful_stop_ns, 2 * NS_PER_S);
    cr_assert_str_eq(kv_get(s->env, s->n_env, "A"), "1");
    cr_assert_str_eq(kv_get(s->tags, s->n_tags, "kind"), "a");
    s = scenario(&plan, "b");
    cr_assert_eq(s->vus, 3);
    cr_assert_eq(s->iterations, 7);
    cr_assert_eq(s->max_duration_ns, 1500 * NS_PER_MS, "a number is milliseconds");
    s = scenario(&plan, "c");
    cr_assert_eq(s->vus, 9);
    cr_assert_eq(s->duration_ns, 90 * NS_PER_S);
    s = scenario(&plan, "d");
    cr_assert_eq(s->vus, 0);
    cr_assert_eq(s->graceful_ramp_down_ns, 0);
    s = scenario(&plan, "e");
    cr_assert_eq(s->rate.count, 30);
    cr_assert_eq(s->rate.per_ns, NS_PER_M);
    cr_assert_eq(s->duration_ns, 2 * NS_PER_M);
    cr_assert_eq(s->vus, 2);
    cr_assert_eq(s->max_vus, 8);
    cr_assert(s->overload_queue);
    s = scenario(&plan, "f");
    cr_assert_eq(s->start_rate, 5);
    cr_assert_eq(s->rate.per_ns, 500 * NS_PER_MS);
    cr_assert_eq(s->vus, 1);
    cr_assert_eq(s->max_vus, 3);
    cr_assert_not(s->overload_queue);
    cr_assert_eq(s->n_stages, 2);
    cr_assert_eq(s->stages[1].duration_ns, 2 * NS_PER_S);
    s = scenario(&plan, "g");
    cr_assert_eq(s->vus, 2);
    cr_assert_eq(s->max_vus, 10);
    cr_assert_eq(s->duration_ns, NS_PER_H);
}

Test(scenarios, keys_an_executor_does_not_take)
{
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'iterations': 10}}}",
                "options.scenarios.s.iterations: constant-vus does not take this option");
    apply_fails_with("{'scenarios': {'s2': {'executor': 'shared-iterations', 'duration': '1m'}}}",
                     "options.scenarios.s2.duration", "shared-iterations does not take");
    apply_fails_with("{'scenarios': {'s3': {'executor': 'ramping-vus', 'vus': 3, "
                     "'stages': [{'duration': '1s', 'target': 1}]}}}",
                     "options.scenarios.s3.vus", "ramping-vus does not take");
    apply_fails_with("{'scenarios': {'s4': {'executor': 'constant-arrival-rate', 'rate': 1, "
                     "'duration': '1s', 'preAllocatedVUs': 1, 'vus': 1}}}",
                     "options.scenarios.s4.vus", "constant-arrival-rate does not take");
    apply_fails_with("{'scenarios': {'s5': {'executor': 'ramping-arrival-rate', 'rate': 1, "
                     "'preAllocatedVUs': 1, 'stages': [{'duration': '1s', 'target': 1}]}}}",
                     "options.scenarios.s5.rate", "ramping-arrival-rate does not take");
    apply_fails_with("{'scenarios': {'s6': {'executor': 'per-vu-iterations', 'stages': []}}}",
                     "options.scenarios.s6.stages", "per-vu-iterations does not take");
    apply_fails_with("{'scenarios': {'s7': {'executor': 'externally-controlled', "
                     "'duration': '1m', 'overload': 'queue'}}}",
                     "options.scenarios.s7.overload", "externally-controlled does not take");
    apply_fails_with("{'scenarios': {'s8': {'executor': 'constant-vus', 'duration': '1m', "
                     "'gracefulRampDown': '1s'}}}",
                     "options.scenarios.s8.gracefulRampDown", "constant-vus does not take");
}

Test(scenarios, unknown_key_and_executor)
{
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'vuz': 3}}}",
                "options.scenarios.s.vuz: unknown scenario option");
    apply_fails_with("{'scenarios': {'t': {'executor': 'constant-vu', 'duration': '1m'}}}",
                     "options.scenarios.t.executor: ", "unknown executor \"constant-vu\"");
    apply_fails_with("{'scenarios': {'u': {'duration': '1m'}}}",
                     "options.scenarios.u.executor: ", "missing");
    apply_fails("{'scenarios': {'v': {'executor': 5}}}",
                "options.scenarios.v.executor: expected a string, got 5");
    apply_fails_with("{'scenarios': {'w': {'executor': 'constant-vus', 'duration': '1m', "
                     "'overload': 'wait'}}}",
                     "options.scenarios.w.", "does not take");
    apply_fails("{'scenarios': {'x': {'executor': 'constant-arrival-rate', 'rate': 1, "
                "'duration': '1s', 'preAllocatedVUs': 1, 'overload': 'wait'}}}",
                "options.scenarios.x.overload: expected \"drop\" or \"queue\", got \"wait\"");
    apply_fails_with("{'scenarios': {'y': {'executor': 'ramping-vus', "
                     "'stages': [{'duration': '1s', 'target': 1, 'hold': 2}]}}}",
                     "options.scenarios.y.stages[0].hold: ", "unknown stage key");
    apply_fails_with("{'scenarios': {'z': {'executor': 'ramping-vus', "
                     "'stages': [{'duration': '1s'}]}}}",
                     "options.scenarios.z.stages[0]: ", "needs both duration and target");
}

Test(scenarios, wrong_types_name_the_path)
{
    const char *browse = "{'scenarios': {'browse': {'executor': 'constant-arrival-rate', "
                         "'rate': 10, 'duration': '1m', 'preAllocatedVUs': 5, 'maxVUs': 'ten'}}}";
    cr_assert_eq(apply_where(browse, "options"), SV_EINVAL);
    cr_assert_str_eq(err, "options.scenarios.browse.maxVUs: expected a number, got \"ten\"");
    fresh();
    cr_assert_eq(apply_where(browse, "--config test.json"), SV_EINVAL);
    cr_assert_str_eq(err,
                     "--config test.json.scenarios.browse.maxVUs: expected a number, got \"ten\"");

    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': true}}}",
                "options.scenarios.s.duration: expected a duration such as \"30s\" or "
                "\"1m30s\", got true");
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '30 seconds'}}}",
                "options.scenarios.s.duration: expected a duration such as \"30s\" or "
                "\"1m30s\", got \"30 seconds\"");
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'vus': [1]}}}",
                "options.scenarios.s.vus: expected a number, got a list");
    apply_fails_with("{'scenarios': {'s': {'executor': 'ramping-vus', 'stages': '10s:5'}}}",
                     "options.scenarios.s.stages: ", "got \"10s:5\"");
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'env': {'A': 1}}}}",
                "options.scenarios.s.env.A: expected a string, got 1");
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'exec': null}}}",
                "options.scenarios.s.exec: expected a string, got nothing");
    apply_fails_with("{'scenarios': {'s': 'constant-vus'}}",
                     "options.scenarios.s: ", "got \"constant-vus\"");
    apply_fails_with("{'scenarios': []}", "options.scenarios: ", "got a list");
    apply_fails_with("{'scenarios': {}}", "options.scenarios: ", "got a table");
}

Test(scenarios, negative_and_fractional_numbers)
{
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'vus': -1}}}",
                "options.scenarios.s.vus: expected a whole number from 1 to 1000000, got -1");
    apply_fails("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                "'vus': 1.5}}}",
                "options.scenarios.s.vus: expected a whole number from 1 to 1000000, got 1.5");
    apply_fails_with("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                     "'vus': 0}}}",
                     "options.scenarios.s.vus: ", "got 0");
    apply_fails_with("{'scenarios': {'s': {'executor': 'shared-iterations', "
                     "'iterations': -5}}}",
                     "options.scenarios.s.iterations: ", "got -5");
    apply_fails_with("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': -1000}}}",
                     "options.scenarios.s.duration: ", "got -1000");
    apply_fails_with("{'scenarios': {'s': {'executor': 'constant-arrival-rate', 'rate': 1, "
                     "'duration': '1s', 'preAllocatedVUs': -2}}}",
                     "options.scenarios.s.preAllocatedVUs: ", "got -2");
    apply_fails_with("{'scenarios': {'s': {'executor': 'constant-arrival-rate', 'rate': -10, "
                     "'duration': '1s', 'preAllocatedVUs': 2}}}",
                     "options.scenarios.s.rate: ", "got -10");
    apply_fails_with("{'scenarios': {'s': {'executor': 'ramping-vus', "
                     "'stages': [{'duration': '1s', 'target': -3}]}}}",
                     "options.scenarios.s.stages[0].target: ", "got -3");
    apply_fails_with("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m', "
                     "'startTime': -1}}}",
                     "options.scenarios.s.startTime: ", "got -1");
    apply_fails_with("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '0s'}}}",
                     "options.scenarios.s.duration: ", "longer than zero");
}

Test(scenarios, max_vus_below_preallocated)
{
    apply_fails("{'scenarios': {'s': {'executor': 'constant-arrival-rate', 'rate': 10, "
                "'duration': '1m', 'preAllocatedVUs': 20, 'maxVUs': 10}}}",
                "options.scenarios.s: maxVUs (10) is less than preAllocatedVUs (20)");
    apply_fails("{'scenarios': {'r': {'executor': 'ramping-arrival-rate', 'preAllocatedVUs': 3, "
                "'maxVUs': 2, 'stages': [{'duration': '1s', 'target': 1}]}}}",
                "options.scenarios.r: maxVUs (2) is less than preAllocatedVUs (3)");
    apply_fails_with("{'scenarios': {'q': {'executor': 'constant-arrival-rate', 'rate': 10, "
                     "'duration': '1m', 'preAllocatedVUs': 0}}}",
                     "options.scenarios.q: ", "at least one VU");
    /* none ready at the start is fine when maxVUs allows some */
    apply_ok("{'scenarios': {'p': {'executor': 'constant-arrival-rate', 'rate': 10, "
             "'duration': '1m', 'preAllocatedVUs': 0, 'maxVUs': 5}}}");
    cr_assert_eq(scenario(&plan, "p")->max_vus, 5);
}

Test(scenarios, shared_iterations_vus_above_iterations)
{
    apply_fails_with("{'scenarios': {'s': {'executor': 'shared-iterations', 'vus': 10, "
                     "'iterations': 5}}}",
                     "options.scenarios.s: ", "VUs can't be more than iterations");
    apply_fails_with("{'scenarios': {'d': {'executor': 'shared-iterations', 'vus': 2}}}",
                     "options.scenarios.d: ", "2 VUs for 1 iterations");
    apply_ok("{'scenarios': {'t': {'executor': 'shared-iterations', 'vus': 5, "
             "'iterations': 5}}}");
    /* per VU, any count of VUs is fine */
    apply_ok("{'scenarios': {'u': {'executor': 'per-vu-iterations', 'vus': 10, "
             "'iterations': 1}}}");
}

Test(scenarios, names_are_unique_and_plain)
{
    apply_ok("{'scenarios': {'browse': {'executor': 'constant-vus', 'duration': '1m'}, "
             "'buy': {'executor': 'constant-vus', 'duration': '1m'}}}");
    cr_assert_eq(plan.n_scenarios, 2);
    /* a second options object (another layer applied to the same plan) can't reuse one */
    cr_assert_eq(
        apply_where("{'scenarios': {'browse': {'executor': 'shared-iterations'}}}", "options"),
        SV_EINVAL);
    cr_assert_str_eq(err, "options.scenarios.browse: two scenarios named \"browse\"");
    apply_fails_with("{'scenarios': {'a:b': {'executor': 'shared-iterations'}}}",
                     "options.scenarios.a:b: ", "a scenario name is");
    apply_fails_with("{'scenarios': {'': {'executor': 'shared-iterations'}}}",
                     "options.scenarios.: ", "a scenario name is");
    apply_fails_with("{'scenarios': {'with space': {'executor': 'shared-iterations'}}}",
                     "options.scenarios.with space: ", "a scenario name is");
    apply_ok("{'scenarios': {'check-out_2': {'executor': 'shared-iterations'}}}");
}

/* ---- shortcuts ------------------------------------------------------------------- */

TestSuite(shortcuts, .init = setup, .fini = teardown);

Test(shortcuts, vus_and_duration_are_constant_vus)
{
    apply_ok("{'vus': 10, 'duration': '30s'}");
    cr_assert_eq(plan.n_scenarios, 1);
    const sv_scenario_t *s = &plan.scenarios[0];
    cr_assert_str_eq(s->name, "default");
    cr_assert_eq(s->executor, SV_EXEC_CONSTANT_VUS);
    cr_assert_eq(s->vus, 10);
    cr_assert_eq(s->duration_ns, 30 * NS_PER_S);
    cr_assert_eq(s->graceful_stop_ns, 30 * NS_PER_S);
}

Test(shortcuts, duration_alone_is_one_vu)
{
    apply_ok("{'duration': '1m'}");
    cr_assert_eq(plan.scenarios[0].executor, SV_EXEC_CONSTANT_VUS);
    cr_assert_eq(plan.scenarios[0].vus, 1);
    cr_assert_eq(plan.scenarios[0].duration_ns, NS_PER_M);
}

Test(shortcuts, iterations_are_shared_iterations)
{
    apply_ok("{'iterations': 20}");
    cr_assert_eq(plan.n_scenarios, 1);
    const sv_scenario_t *s = &plan.scenarios[0];
    cr_assert_str_eq(s->name, "default");
    cr_assert_eq(s->executor, SV_EXEC_SHARED_ITERATIONS);
    cr_assert_eq(s->iterations, 20);
    cr_assert_eq(s->vus, 1);
    cr_assert_eq(s->max_duration_ns, 10 * NS_PER_M);
}

Test(shortcuts, iterations_with_vus_and_duration)
{
    apply_ok("{'iterations': 20, 'vus': 4, 'duration': '2m'}");
    const sv_scenario_t *s = &plan.scenarios[0];
    cr_assert_eq(s->executor, SV_EXEC_SHARED_ITERATIONS);
    cr_assert_eq(s->iterations, 20);
    cr_assert_eq(s->vus, 4);
    cr_assert_eq(s->max_duration_ns, 2 * NS_PER_M, "duration caps the iterations");
}

Test(shortcuts, stages_are_ramping_vus)
{
    apply_ok("{'stages': [{'duration': '10s', 'target': 5}, {'duration': '1m', 'target': 0}]}");
    cr_assert_eq(plan.n_scenarios, 1);
    const sv_scenario_t *s = &plan.scenarios[0];
    cr_assert_str_eq(s->name, "default");
    cr_assert_eq(s->executor, SV_EXEC_RAMPING_VUS);
    cr_assert_eq(s->vus, 1, "startVUs defaults to 1");
    cr_assert_eq(s->n_stages, 2);
    cr_assert_eq(s->stages[0].duration_ns, 10 * NS_PER_S);
    cr_assert_eq(s->stages[0].target, 5);
    cr_assert_eq(s->stages[1].duration_ns, NS_PER_M);
    cr_assert_eq(s->stages[1].target, 0);
}

Test(shortcuts, stages_start_at_vus)
{
    apply_ok("{'vus': 7, 'stages': [{'duration': '10s', 'target': 5}]}");
    cr_assert_eq(plan.scenarios[0].executor, SV_EXEC_RAMPING_VUS);
    cr_assert_eq(plan.scenarios[0].vus, 7);
}

Test(shortcuts, nothing_is_one_iteration)
{
    apply_ok("{}");
    cr_assert_eq(plan.n_scenarios, 1);
    const sv_scenario_t *s = &plan.scenarios[0];
    cr_assert_str_eq(s->name, "default");
    cr_assert_eq(s->executor, SV_EXEC_SHARED_ITERATIONS);
    cr_assert_eq(s->iterations, 1);
    cr_assert_eq(s->vus, 1);
}

Test(shortcuts, other_options_alone_are_one_iteration)
{
    apply_ok("{'userAgent': 'x', 'tags': {'a': 'b'}}");
    cr_assert_eq(plan.n_scenarios, 1);
    cr_assert_eq(plan.scenarios[0].executor, SV_EXEC_SHARED_ITERATIONS);
    cr_assert_eq(plan.scenarios[0].iterations, 1);
}

Test(shortcuts, stages_with_duration_or_iterations)
{
    apply_fails_with("{'stages': [{'duration': '10s', 'target': 5}], 'duration': '1m'}",
                     "options: ", "stages and duration");
    apply_fails_with("{'stages': [{'duration': '10s', 'target': 5}], 'iterations': 3}",
                     "options: ", "stages and iterations");
}

Test(shortcuts, scenarios_with_shortcuts)
{
    const char *sc = "'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m'}}";
    char text[256];
    const char *keys[] = {"'duration': '1m'", "'iterations': 3",
                          "'stages': [{'duration': '1s', 'target': 1}]"};
    const char *names[] = {"duration", "iterations", "stages"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(keys); i++) {
        sv_plan_free(&plan);
        sv_plan_init(&plan);
        snprintf(text, sizeof(text), "{%s, %s}", sc, keys[i]);
        char want[64];
        snprintf(want, sizeof(want), "options: %s: ", names[i]);
        apply_fails_with(text, want, "with scenarios");
    }
    /* a top-level vus next to scenarios is ignored, as k6 ignores it */
    sv_plan_free(&plan);
    sv_plan_init(&plan);
    snprintf(text, sizeof(text), "{%s, 'vus': 3}", sc);
    apply_ok(text);
    cr_assert_eq(plan.n_scenarios, 1);
    cr_assert_eq(plan.scenarios[0].vus, 1);
}

Test(shortcuts, scenarios_make_no_default)
{
    apply_ok("{'scenarios': {'s': {'executor': 'constant-vus', 'duration': '1m'}}}");
    cr_assert_eq(plan.n_scenarios, 1);
    cr_assert_str_eq(plan.scenarios[0].name, "s");
}

Test(shortcuts, wrong_types)
{
    apply_fails("{'vus': 'ten', 'duration': '1m'}", "options.vus: expected a number, got \"ten\"");
    apply_fails_with("{'duration': 30, 'vus': 0}", "options.vus: ", "got 0");
    apply_fails_with("{'iterations': 0}", "options.iterations: ", "got 0");
    apply_fails_with("{'duration': false}", "options.duration: ", "got false");
    apply_fails_with("{'stages': {'duration': '1s'}}", "options.stages: ", "got a table");
    apply_fails_with("{'stages': []}", "options.stages: ", "got a list");
}

/* ---- the other options ----------------------------------------------------------- */

TestSuite(options, .init = setup, .fini = teardown);

static const sv_threshold_set_t *threshold_set(const char *key)
{
    for (size_t i = 0; i < plan.n_thresholds; i++)
        if (strcmp(plan.thresholds[i].key, key) == 0)
            return &plan.thresholds[i];
    cr_assert_fail("no thresholds for \"%s\"", key);
    return NULL;
}

Test(options, thresholds_as_strings)
{
    apply_ok("{'thresholds': {'http_req_duration': ['p(95)<500', 'avg<200'], "
             "'http_req_failed': ['rate<0.01'], "
             "'http_req_duration{name:login}': ['max<1000']}}");
    cr_assert_eq(plan.n_thresholds, 3);
    const sv_threshold_set_t *set = threshold_set("http_req_duration");
    cr_assert_eq(set->n_items, 2);
    cr_assert_str_eq(set->items[0].source, "p(95)<500");
    cr_assert_str_eq(set->items[1].source, "avg<200");
    cr_assert_not(set->items[0].abort_on_fail);
    set = threshold_set("http_req_duration{name:login}");
    cr_assert_str_eq(set->metric, "http_req_duration");
    cr_assert_eq(set->n_items, 1);
}

Test(options, thresholds_as_objects)
{
    apply_ok("{'thresholds': {'http_req_duration': [{'threshold': 'p(99)<800', "
             "'abortOnFail': true, 'delayAbortEval': '10s'}, 'med<100', "
             "{'threshold': 'max<5000'}]}}");
    const sv_threshold_set_t *set = threshold_set("http_req_duration");
    cr_assert_eq(set->n_items, 3);
    cr_assert_str_eq(set->items[0].source, "p(99)<800");
    cr_assert(set->items[0].abort_on_fail);
    cr_assert_eq(set->items[0].delay_abort_ns, 10 * NS_PER_S);
    cr_assert_not(set->items[1].abort_on_fail);
    cr_assert_not(set->items[2].abort_on_fail);
    cr_assert_eq(set->items[2].delay_abort_ns, 0);
}

Test(options, threshold_as_a_lone_string_refused)
{
    /* k6 wants a list even for one expression (since cdc88f2, salvo too) */
    apply_fails("{'thresholds': {'checks': 'rate>0.99'}}",
                "options.thresholds.checks: expected a list of expressions such as "
                "{ \"p(95)<500\" }, got \"rate>0.99\"");
    cr_assert_eq(plan.n_thresholds, 0);
    apply_ok("{'thresholds': {'checks': ['rate>0.99']}}");
    cr_assert_eq(threshold_set("checks")->n_items, 1);
}

Test(options, thresholds_add_up_over_layers)
{
    apply_ok("{'thresholds': {'checks': ['rate>0.9']}}");
    apply_ok("{'thresholds': {'checks': ['rate>0.99']}}");
    cr_assert_eq(plan.n_thresholds, 1);
    cr_assert_eq(threshold_set("checks")->n_items, 2);
}

Test(options, bad_thresholds)
{
    apply_fails_with("{'thresholds': {'http_req_duration': ['p(95)<<500']}}",
                     "options.thresholds.http_req_duration[0]: ", "\"p(95)<<500\"");
    apply_fails_with("{'thresholds': {'http_req_duration': [500]}}",
                     "options.thresholds.http_req_duration[0]: ", "got 500");
    apply_fails_with("{'thresholds': {'http_req_duration': 500}}",
                     "options.thresholds.http_req_duration: ", "got 500");
    apply_fails_with("{'thresholds': {'http_req_duration': [{'abortOnFail': true}]}}",
                     "options.thresholds.http_req_duration[0]: ", "expected an expression");
    apply_fails_with("{'thresholds': {'http_req_duration': [{'threshold': 'avg<1', "
                     "'abortOnFail': 'yes'}]}}",
                     "options.thresholds.http_req_duration[0].abortOnFail: ",
                     "expected true or false, got \"yes\"");
    apply_fails_with("{'thresholds': {'http_req_duration': [{'threshold': 'avg<1', "
                     "'abort': true}]}}",
                     "options.thresholds.http_req_duration[0].abort: ", "unknown threshold option");
    apply_fails_with("{'thresholds': ['avg<1']}", "options.thresholds: ", "got a list");
}

Test(options, tags)
{
    apply_ok("{'tags': {'env': 'staging', 'team': 'core'}}");
    cr_assert_eq(plan.n_tags, 2);
    cr_assert_str_eq(kv_get(plan.tags, plan.n_tags, "env"), "staging");
    cr_assert_str_eq(kv_get(plan.tags, plan.n_tags, "team"), "core");
    apply_ok("{'tags': {'env': 'prod'}}");
    cr_assert_eq(plan.n_tags, 2, "a later value replaces, not adds");
    cr_assert_str_eq(kv_get(plan.tags, plan.n_tags, "env"), "prod");
    apply_fails("{'tags': {'env': 5}}", "options.tags.env: expected a string, got 5");
    apply_fails_with("{'tags': ['a']}", "options.tags: ", "got a list");
}

Test(options, summary_trend_stats)
{
    cr_assert_eq(plan.n_trend_stats, 6, "k6's default columns");
    apply_ok("{'summaryTrendStats': ['avg', 'p(99)', 'p(99.9)', 'count']}");
    cr_assert_eq(plan.n_trend_stats, 4);
    cr_assert_str_eq(plan.trend_stats[0].name, "avg");
    cr_assert_eq(plan.trend_stats[0].agg, SV_AGG_AVG);
    cr_assert_str_eq(plan.trend_stats[1].name, "p(99)");
    cr_assert_eq(plan.trend_stats[1].agg, SV_AGG_P);
    cr_assert_float_eq(plan.trend_stats[1].pct, 99.0, 1e-9);
    cr_assert_float_eq(plan.trend_stats[2].pct, 99.9, 1e-9);
    cr_assert_eq(plan.trend_stats[3].agg, SV_AGG_COUNT);
    apply_fails_with("{'summaryTrendStats': ['avg', 'mode']}",
                     "options.summaryTrendStats: ", "statistics are");
    apply_fails_with("{'summaryTrendStats': []}", "options.summaryTrendStats: ", "got a list");
    apply_fails_with("{'summaryTrendStats': 'avg,p(99)'}",
                     "options.summaryTrendStats: ", "got \"avg,p(99)\"");
    apply_fails_with("{'summaryTrendStats': ['avg', 99]}",
                     "options.summaryTrendStats: ", "list of strings");
    apply_ok("{'summaryTrendStats': ['min', 'max']}");
    cr_assert_eq(apply_where("{'summaryTrendStats': ['avg', 'p(x)']}", "options"), SV_EINVAL);
    cr_assert_eq(plan.n_trend_stats, 2, "a refused list leaves the columns alone");
    cr_assert_eq(plan.trend_stats[1].agg, SV_AGG_MAX);
}

Test(options, timeouts)
{
    cr_assert_eq(plan.setup_timeout_ns, 60 * NS_PER_S);
    cr_assert_eq(plan.teardown_timeout_ns, 60 * NS_PER_S);
    apply_ok("{'setupTimeout': '2m', 'teardownTimeout': 1500}");
    cr_assert_eq(plan.setup_timeout_ns, 2 * NS_PER_M);
    cr_assert_eq(plan.teardown_timeout_ns, 1500 * NS_PER_MS);
    apply_fails_with("{'setupTimeout': '0s'}", "options.setupTimeout: ", "longer than zero");
    apply_fails_with("{'teardownTimeout': 'soon'}", "options.teardownTimeout: ", "got \"soon\"");
}

Test(options, flags_and_strings)
{
    apply_ok("{'noConnectionReuse': true, 'discardResponseBodies': true, "
             "'userAgent': 'MyK6/1.0', 'maxRedirects': 0}");
    cr_assert(plan.no_connection_reuse);
    cr_assert(plan.discard_response_bodies);
    cr_assert_str_eq(plan.user_agent, "MyK6/1.0");
    cr_assert_eq(plan.max_redirects, 0);
    apply_ok("{'noConnectionReuse': false, 'userAgent': '', 'maxRedirects': 5}");
    cr_assert_not(plan.no_connection_reuse);
    cr_assert_str_eq(plan.user_agent, "", "\"\" sends no User-Agent");
    cr_assert_eq(plan.max_redirects, 5);
}

Test(options, flags_and_strings_wrong)
{
    apply_fails("{'noConnectionReuse': 'yes'}",
                "options.noConnectionReuse: expected true or false, got \"yes\"");
    apply_fails("{'discardResponseBodies': 1}",
                "options.discardResponseBodies: expected true or false, got 1");
    apply_fails("{'userAgent': 5}", "options.userAgent: expected a string, got 5");
    apply_fails_with("{'maxRedirects': 1001}", "options.maxRedirects: ", "got 1001");
    apply_fails_with("{'maxRedirects': 2.5}", "options.maxRedirects: ", "got 2.5");
}

Test(options, tls_keys)
{
    apply_ok("{'insecureSkipTLSVerify': true, 'tlsVersion': {'min': 'tls1.2', 'max': 'tls1.3'},"
             " 'tlsCipherSuites': ['TLS_AES_128_GCM_SHA256',"
             " 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256'],"
             " 'tlsAuth': [{'cert': 'c.pem', 'key': 'k.pem', 'password': 'pw',"
             " 'domains': ['example.com']}]}");
    cr_expect(plan.tls.insecure);
    cr_expect_eq(plan.tls.min_version, SV_TLS_1_2);
    cr_expect_eq(plan.tls.max_version, SV_TLS_1_3);
    cr_assert_eq(plan.tls.n_ciphers, 2);
    cr_expect_str_eq(plan.tls.ciphers[1], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    cr_assert_eq(plan.tls.n_auth, 1);
    cr_expect_str_eq(plan.tls.auth[0].cert, "c.pem");
    cr_expect_str_eq(plan.tls.auth[0].password, "pw");
    cr_assert_eq(plan.tls.auth[0].n_domains, 1);
    cr_expect_str_eq(plan.tls.auth[0].domains[0], "example.com");
    fresh();
    apply_ok("{'tlsVersion': 'tls1.3'}"); /* a string pins both ends, as in k6 */
    cr_expect_eq(plan.tls.min_version, SV_TLS_1_3);
    cr_expect_eq(plan.tls.max_version, SV_TLS_1_3);
}

Test(options, bad_tls_keys)
{
    apply_fails("{'insecureSkipTLSVerify': 'yes'}",
                "options.insecureSkipTLSVerify: expected true or false, got \"yes\"");
    apply_fails_with("{'tlsVersion': 'tls9'}", "options.tlsVersion: ", "unknown TLS version");
    apply_fails_with("{'tlsVersion': {'min': 'tls1.3', 'max': 'tls1.2'}}",
                     "options.tlsVersion: ", "min is above max");
    apply_fails_with("{'tlsVersion': {'low': 'tls1.2'}}",
                     "options.tlsVersion.low: ", "unknown key");
    apply_fails_with("{'tlsCipherSuites': ['TLS_AES_128_GCM_SHA256', 'NOPE']}",
                     "options.tlsCipherSuites[1]: ", "not a cipher suite OpenSSL knows");
    apply_fails_with("{'tlsAuth': [{'cert': 'c.pem'}]}",
                     "options.tlsAuth[0]: ", "needs both cert and key");
    apply_fails_with("{'tlsAuth': [{'cert': 'c', 'key': 'k', 'domain': 'x'}]}",
                     "options.tlsAuth[0].domain: ", "unknown key");
    apply_fails_with("{'tlsAuth': [{'cert': 'c', 'key': 'k', 'password': 1234}]}",
                     "options.tlsAuth[0].password: ", "expected a string");
}

Test(options, unknown_keys)
{
    apply_fails_with("{'vuz': 10}", "options.vuz: ", "unknown option");
    apply_fails_with("{'VUs': 10}", "options.VUs: ", "unknown option");
    apply_fails_with("{'thresholds': {}, 'noConnectionReuse': true, 'bogus': 1}",
                     "options.bogus: ", "unknown option");
}

Test(options, not_a_table)
{
    apply_fails("[]", "options: expected a table of options, got a list");
    apply_fails("'vus'", "options: expected a table of options, got \"vus\"");
}

Test(options, execution_segment)
{
    apply_ok("{'executionSegment': '1/3:2/3', 'executionSegmentSequence': '0,1/3,2/3,1'}");
    cr_assert_str_eq(plan.segment_label, "1/3:2/3");
    cr_assert_eq(sv_segment_count(&plan.segment, 300), 100);
    apply_fails_with("{'executionSegmentSequence': '0,1/2,1'}",
                     "options.executionSegmentSequence: ", "needs executionSegment");
    sv_plan_free(&plan);
    sv_plan_init(&plan);
    apply_ok("{'executionSegment': '1/2'}"); /* k6's short form: 0:1/2 */
    cr_assert_eq(sv_segment_count(&plan.segment, 300), 150);
    apply_fails_with("{'executionSegment': '3/2'}",
                     "options.executionSegment: ", "expected a segment");
}

/* ---- layers ---------------------------------------------------------------------- */

static void merge_check(const char *lower, const char *upper, const char *want)
{
    json_t *acc = json_object(), *lo = J(lower), *up = J(upper);
    sv_options_merge(acc, lo);
    sv_options_merge(acc, up);
    assert_json(acc, want);
    json_decref(acc);
    json_decref(lo);
    json_decref(up);
}

Test(merge, shaping_key_drops_lower_shaping)
{
    merge_check("{'vus': 5, 'iterations': 10, 'userAgent': 'a'}", "{'duration': '1m'}",
                "{'vus': 5, 'duration': '1m', 'userAgent': 'a'}");
    merge_check("{'duration': '1m', 'stages': [{'duration': '1s', 'target': 1}]}",
                "{'iterations': 3}", "{'iterations': 3}");
    merge_check("{'duration': '1m', 'iterations': 3, 'vus': 2}",
                "{'stages': [{'duration': '1s', 'target': 1}]}",
                "{'vus': 2, 'stages': [{'duration': '1s', 'target': 1}]}");
    merge_check("{'vus': 2, 'duration': '1m'}",
                "{'scenarios': {'s': {'executor': 'shared-iterations'}}}",
                "{'vus': 2, 'scenarios': {'s': {'executor': 'shared-iterations'}}}");
    merge_check("{'scenarios': {'s': {'executor': 'shared-iterations'}}}", "{'duration': '5s'}",
                "{'duration': '5s'}");
}

Test(merge, vus_alone_keeps_lower_shaping)
{
    merge_check("{'vus': 5, 'duration': '1m'}", "{'vus': 20}", "{'vus': 20, 'duration': '1m'}");
    merge_check("{'scenarios': {'s': {'executor': 'shared-iterations'}}}", "{'vus': 2}",
                "{'vus': 2, 'scenarios': {'s': {'executor': 'shared-iterations'}}}");
}

Test(merge, same_layer_shaping_keys_kept)
{
    /* both from one layer: kept, so applying can say they clash */
    merge_check("{'iterations': 3}",
                "{'duration': '1m', 'stages': [{'duration': '1s', 'target': 1}]}",
                "{'duration': '1m', 'stages': [{'duration': '1s', 'target': 1}]}");
}

Test(merge, tags_merge_per_key_other_keys_replaced)
{
    merge_check("{'tags': {'a': '1', 'b': '2'}, 'thresholds': {'checks': ['rate>0.9']}, "
                "'userAgent': 'low'}",
                "{'tags': {'b': '3', 'c': '4'}, 'thresholds': {'http_reqs': ['count>1']}, "
                "'userAgent': 'high'}",
                "{'tags': {'a': '1', 'b': '3', 'c': '4'}, "
                "'thresholds': {'http_reqs': ['count>1']}, 'userAgent': 'high'}");
    merge_check("{'tags': {'a': '1'}}", "{'noConnectionReuse': true}",
                "{'tags': {'a': '1'}, 'noConnectionReuse': true}");
}

Test(merge, layers_are_left_as_they_were)
{
    /* config < script < flags, all with tags: merging reads the layers, never writes
     * them (they are const, and the script's options are used again later). */
    json_t *acc = json_object(), *config = J("{'tags': {'a': '1'}}"),
           *script = J("{'tags': {'b': '2'}}"), *flags = J("{'tags': {'a': '3'}}");
    sv_options_merge(acc, config);
    sv_options_merge(acc, script);
    sv_options_merge(acc, flags);
    assert_json(acc, "{'tags': {'a': '3', 'b': '2'}}");
    assert_json(config, "{'tags': {'a': '1'}}");
    assert_json(script, "{'tags': {'b': '2'}}");
    assert_json(flags, "{'tags': {'a': '3'}}");
    json_decref(acc);
    json_decref(config);
    json_decref(script);
    json_decref(flags);
}

Test(merge, merged_layers_apply, .init = setup, .fini = teardown)
{
    json_t *acc = json_object(), *config = J("{'vus': 10, 'duration': '30s'}"),
           *flags = J("{'iterations': 50}");
    sv_options_merge(acc, config);
    sv_options_merge(acc, flags);
    int rc = sv_options_apply(&plan, acc, "options", err, sizeof(err));
    cr_assert_eq(rc, 0, "%s", err);
    cr_assert_eq(plan.n_scenarios, 1);
    cr_assert_eq(plan.scenarios[0].executor, SV_EXEC_SHARED_ITERATIONS);
    cr_assert_eq(plan.scenarios[0].vus, 10);
    cr_assert_eq(plan.scenarios[0].iterations, 50);
    cr_assert_eq(plan.scenarios[0].max_duration_ns, 10 * NS_PER_M, "the lower duration went");
    json_decref(acc);
    json_decref(config);
    json_decref(flags);
}

/* ---- SALVO_* variables ------------------------------------------------------------ */

TestSuite(env, .init = setup, .fini = teardown);

Test(env, reads_salvo_variables)
{
    char *vars[] = {"PATH=/usr/bin",
                    "SALVO_VUS=10",
                    "SALVO_DURATION=30s",
                    "SALVO_STAGES=10s:5,1m:0",
                    "SALVO_FOO=bar",
                    "SALVO_VU=3",
                    "SALVO_VUSX=4",
                    "K6_VUS=99",
                    "SALVO_NO_CONNECTION_REUSE=true",
                    "SALVO_SUMMARY_TREND_STATS=avg,p(99)",
                    "NOEQUALS",
                    NULL};
    json_t *layer = sv_options_from_env(vars);
    cr_assert_eq(json_object_size(layer), 5);
    cr_assert(json_is_number(json_object_get(layer, "vus")));
    cr_assert_float_eq(json_number_value(json_object_get(layer, "vus")), 10.0, 1e-9);
    json_object_del(layer, "vus");
    assert_json(layer, "{'duration': '30s', "
                       "'stages': [{'duration': '10s', 'target': 5}, "
                       "{'duration': '1m', 'target': 0}], "
                       "'noConnectionReuse': true, 'summaryTrendStats': ['avg', 'p(99)']}");
    json_decref(layer);
}

Test(env, nothing_set)
{
    char *vars[] = {"HOME=/root", "SALVO_URL=http://x", NULL};
    json_t *layer = sv_options_from_env(vars);
    cr_assert_eq(json_object_size(layer), 0);
    json_decref(layer);
    layer = sv_options_from_env(NULL);
    cr_assert_eq(json_object_size(layer), 0);
    json_decref(layer);
}

static int apply_env(char **vars)
{
    json_t *layer = sv_options_from_env(vars);
    err[0] = '\0';
    int rc = sv_options_apply(&plan, layer, "SALVO_* environment", err, sizeof(err));
    json_decref(layer);
    return rc;
}

Test(env, layer_applies)
{
    char *vars[] = {"SALVO_VUS=10",
                    "SALVO_DURATION=30s",
                    "SALVO_NO_CONNECTION_REUSE=true",
                    "SALVO_SUMMARY_TREND_STATS=avg,p(99)",
                    "SALVO_USER_AGENT=probe/1",
                    "SALVO_DISCARD_RESPONSE_BODIES=1",
                    "SALVO_MAX_REDIRECTS=3",
                    "SALVO_SETUP_TIMEOUT=5s",
                    "SALVO_TEARDOWN_TIMEOUT=6s",
                    "SALVO_FOO=bar",
                    NULL};
    cr_assert_eq(apply_env(vars), 0, "%s", err);
    cr_assert_eq(plan.n_scenarios, 1);
    cr_assert_eq(plan.scenarios[0].executor, SV_EXEC_CONSTANT_VUS);
    cr_assert_eq(plan.scenarios[0].vus, 10);
    cr_assert_eq(plan.scenarios[0].duration_ns, 30 * NS_PER_S);
    cr_assert(plan.no_connection_reuse);
    cr_assert(plan.discard_response_bodies);
    cr_assert_str_eq(plan.user_agent, "probe/1");
    cr_assert_eq(plan.max_redirects, 3);
    cr_assert_eq(plan.setup_timeout_ns, 5 * NS_PER_S);
    cr_assert_eq(plan.teardown_timeout_ns, 6 * NS_PER_S);
    cr_assert_eq(plan.n_trend_stats, 2);
    cr_assert_str_eq(plan.trend_stats[1].name, "p(99)");
}

Test(env, tls_variables_apply)
{
    char *vars[] = {"SALVO_INSECURE_SKIP_TLS_VERIFY=true", "SALVO_TLS_VERSION=tls1.2",
                    "SALVO_TLS_CIPHER_SUITES=TLS_AES_128_GCM_SHA256,"
                    "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256",
                    "SALVO_TLS_CA_CERT=ca.pem", NULL};
    cr_assert_eq(apply_env(vars), 0, "%s", err);
    cr_expect(plan.tls.insecure);
    cr_expect_eq(plan.tls.min_version, SV_TLS_1_2);
    cr_expect_eq(plan.tls.max_version, SV_TLS_1_2);
    cr_assert_eq(plan.tls.n_ciphers, 2);
    cr_expect_str_eq(plan.tls.ciphers[1], "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256");
    cr_expect_str_eq(plan.tls.ca_file, "ca.pem");
}

Test(env, bad_tls_variables_fail)
{
    char *version[] = {"SALVO_TLS_VERSION=ssl3.0", NULL};
    cr_assert_neq(apply_env(version), 0);
    cr_expect(strstr(err, "SALVO_* environment.tlsVersion: unknown TLS version") != NULL, "%s",
              err);
    char *insecure[] = {"SALVO_INSECURE_SKIP_TLS_VERIFY=yes", NULL};
    cr_assert_neq(apply_env(insecure), 0);
    cr_expect(strstr(err, "insecureSkipTLSVerify: expected true or false") != NULL, "%s", err);
}

Test(env, stages_apply)
{
    char *vars[] = {"SALVO_STAGES=10s:5,1m:0", "SALVO_VUS=2", NULL};
    cr_assert_eq(apply_env(vars), 0, "%s", err);
    const sv_scenario_t *s = &plan.scenarios[0];
    cr_assert_eq(s->executor, SV_EXEC_RAMPING_VUS);
    cr_assert_eq(s->vus, 2);
    cr_assert_eq(s->n_stages, 2);
    cr_assert_eq(s->stages[0].duration_ns, 10 * NS_PER_S);
    cr_assert_eq(s->stages[0].target, 5);
    cr_assert_eq(s->stages[1].duration_ns, NS_PER_M);
    cr_assert_eq(s->stages[1].target, 0);
}

Test(env, malformed_stages_stay_text)
{
    const char *bad[] = {"10s-5", "10s:", "10s:5,1m", "10s:five", "10s:-1", "10s:5x"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        char var[64];
        snprintf(var, sizeof(var), "SALVO_STAGES=%s", bad[i]);
        char *vars[] = {var, NULL};
        json_t *layer = sv_options_from_env(vars);
        json_t *st = json_object_get(layer, "stages");
        cr_assert(json_is_string(st), "\"%s\" read as a list", bad[i]);
        cr_assert_str_eq(json_string_value(st), bad[i]);
        json_decref(layer);

        sv_plan_free(&plan);
        sv_plan_init(&plan);
        cr_assert_eq(apply_env(vars), SV_EINVAL, "\"%s\" accepted", bad[i]);
        char want[128];
        snprintf(want, sizeof(want), "got \"%s\"", bad[i]);
        cr_assert(strncmp(err, "SALVO_* environment.stages: expected a list of stages", 53) == 0,
                  "error: %s", err);
        cr_assert(strstr(err, want), "error \"%s\" does not show the text", err);
    }
}

Test(env, malformed_numbers_and_bools_refused)
{
    char *vars[] = {"SALVO_VUS=ten", NULL};
    cr_assert_eq(apply_env(vars), SV_EINVAL);
    cr_assert_str_eq(err, "SALVO_* environment.vus: expected a number, got \"ten\"");
    char *vars2[] = {"SALVO_NO_CONNECTION_REUSE=yes", NULL};
    cr_assert_eq(apply_env(vars2), SV_EINVAL);
    cr_assert_str_eq(err,
                     "SALVO_* environment.noConnectionReuse: expected true or false, got \"yes\"");
    char *vars3[] = {"SALVO_VUS=", NULL};
    cr_assert_eq(apply_env(vars3), SV_EINVAL, "an empty number is not 0");
}

Test(env, non_finite_numbers_refused)
{
    /* strtod reads these, but JSON has no such numbers: the layer must still carry the
     * value (as text, to be refused), not silently drop it. */
    const char *bad[] = {"inf", "nan", "-inf", "infinity"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        char var[64];
        snprintf(var, sizeof(var), "SALVO_VUS=%s", bad[i]);
        char *vars[] = {var, NULL};
        json_t *layer = sv_options_from_env(vars);
        cr_assert_not_null(json_object_get(layer, "vus"), "SALVO_VUS=%s dropped", bad[i]);
        json_decref(layer);
        cr_assert_eq(apply_env(vars), SV_EINVAL, "SALVO_VUS=%s accepted", bad[i]);
    }
}

Test(env, rps_caps_requests)
{
    char *vars[] = {"SALVO_RPS=500", NULL};
    cr_assert_eq(apply_env(vars), 0, "%s", err);
    cr_assert_eq(plan.rps, 500);
    char *bad[] = {"SALVO_RPS=-1", NULL};
    cr_assert_eq(apply_env(bad), SV_EINVAL);
    cr_assert(strstr(err, "SALVO_* environment.rps: ") != NULL, "%s", err);
}

Test(env, false_values)
{
    char *vars[] = {"SALVO_NO_CONNECTION_REUSE=false", "SALVO_DISCARD_RESPONSE_BODIES=0", NULL};
    json_t *layer = sv_options_from_env(vars);
    assert_json(layer, "{'noConnectionReuse': false, 'discardResponseBodies': false}");
    json_decref(layer);
}

/* ---- scenarios back to JSON --------------------------------------------------------- */

static void assert_kvs_eq(const sv_kv_t *a, size_t na, const sv_kv_t *b, size_t nb,
                          const char *what)
{
    cr_assert_eq(na, nb, "%s: %zu vs %zu", what, na, nb);
    for (size_t i = 0; i < na; i++) {
        const char *v = kv_get(b, nb, a[i].key);
        cr_assert_not_null(v, "%s: %s lost", what, a[i].key);
        cr_assert_str_eq(v, a[i].value, "%s: %s", what, a[i].key);
    }
}

static void assert_scenarios_eq(const sv_scenario_t *a, const sv_scenario_t *b)
{
    const char *n = a->name;
    cr_assert_eq(a->executor, b->executor, "%s: executor", n);
    cr_assert_eq(!a->exec, !b->exec, "%s: exec", n);
    if (a->exec)
        cr_assert_str_eq(a->exec, b->exec, "%s: exec", n);
    cr_assert_eq(a->start_time_ns, b->start_time_ns, "%s: startTime", n);
    cr_assert_eq(a->graceful_stop_ns, b->graceful_stop_ns, "%s: gracefulStop", n);
    assert_kvs_eq(a->env, a->n_env, b->env, b->n_env, "env");
    assert_kvs_eq(a->tags, a->n_tags, b->tags, b->n_tags, "tags");
    cr_assert_eq(a->vus, b->vus, "%s: vus %u vs %u", n, a->vus, b->vus);
    cr_assert_eq(a->max_vus, b->max_vus, "%s: maxVUs %u vs %u", n, a->max_vus, b->max_vus);
    cr_assert_eq(a->duration_ns, b->duration_ns, "%s: duration", n);
    cr_assert_eq(a->iterations, b->iterations, "%s: iterations", n);
    cr_assert_eq(a->max_duration_ns, b->max_duration_ns, "%s: maxDuration", n);
    cr_assert_eq(a->rate.count, b->rate.count, "%s: rate", n);
    cr_assert_eq(a->rate.per_ns, b->rate.per_ns, "%s: timeUnit", n);
    cr_assert_eq(a->start_rate, b->start_rate, "%s: startRate", n);
    cr_assert_eq(a->graceful_ramp_down_ns, b->graceful_ramp_down_ns, "%s: gracefulRampDown", n);
    cr_assert_eq(a->overload_queue, b->overload_queue, "%s: overload", n);
    cr_assert_eq(a->n_stages, b->n_stages, "%s: stages", n);
    for (size_t i = 0; i < a->n_stages; i++) {
        cr_assert_eq(a->stages[i].duration_ns, b->stages[i].duration_ns, "%s: stage %zu", n, i);
        cr_assert_eq(a->stages[i].target, b->stages[i].target, "%s: stage %zu", n, i);
    }
}

/* Each scenario of `scenarios` (JSON text) goes to JSON and back unchanged. */
static void round_trip(const char *scenarios)
{
    char text[2048];
    snprintf(text, sizeof(text), "{'scenarios': %s}", scenarios);
    apply_ok(text);
    cr_assert_gt(plan.n_scenarios, 0);
    json_t *back = json_object();
    for (size_t i = 0; i < plan.n_scenarios; i++)
        json_object_set_new(back, plan.scenarios[i].name, sv_scenario_to_json(&plan.scenarios[i]));
    json_t *opts = json_pack("{s:o}", "scenarios", back);
    sv_plan_t again;
    sv_plan_init(&again);
    char err2[512] = "";
    int rc = sv_options_apply(&again, opts, "exported", err2, sizeof(err2));
    char *dump = json_dumps(opts, JSON_COMPACT | JSON_SORT_KEYS);
    cr_assert_eq(rc, 0, "%s does not apply again: %s", dump, err2);
    cr_assert_eq(again.n_scenarios, plan.n_scenarios);
    for (size_t i = 0; i < plan.n_scenarios; i++) {
        const sv_scenario_t *a = &plan.scenarios[i];
        assert_scenarios_eq(a, scenario(&again, a->name));
        /* and the second export is the first */
        json_t *j1 = sv_scenario_to_json(a), *j2 = sv_scenario_to_json(scenario(&again, a->name));
        cr_assert(json_equal(j1, j2), "%s: exports differ", a->name);
        json_decref(j1);
        json_decref(j2);
    }
    free(dump);
    json_decref(opts);
    sv_plan_free(&again);
}

TestSuite(to_json, .init = setup, .fini = teardown);

Test(to_json, defaults_of_each_executor)
{
    round_trip("{'a': {'executor': 'shared-iterations'}, "
               "'b': {'executor': 'per-vu-iterations'}, "
               "'c': {'executor': 'constant-vus', 'duration': '30s'}, "
               "'d': {'executor': 'ramping-vus', 'stages': [{'duration': '1m', 'target': 3}]}, "
               "'e': {'executor': 'constant-arrival-rate', 'rate': 5, 'duration': '1m', "
               "      'preAllocatedVUs': 2}, "
               "'f': {'executor': 'ramping-arrival-rate', 'preAllocatedVUs': 2, "
               "      'stages': [{'duration': '1m', 'target': 3}]}, "
               "'g': {'executor': 'externally-controlled', 'duration': '1m'}}");
}

Test(to_json, shared_iterations)
{
    round_trip("{'s': {'executor': 'shared-iterations', 'vus': 8, 'iterations': 1000, "
               "'maxDuration': '1h30m', 'exec': 'api', 'startTime': '1m30s', "
               "'gracefulStop': '0s', 'env': {'MODE': 'fast', 'N': '3'}, "
               "'tags': {'flow': 'api'}}}");
}

Test(to_json, per_vu_iterations)
{
    round_trip("{'p': {'executor': 'per-vu-iterations', 'vus': 3, 'iterations': 20, "
               "'maxDuration': '1.5s', 'gracefulStop': '250ms'}}");
}

Test(to_json, constant_vus)
{
    round_trip("{'c': {'executor': 'constant-vus', 'vus': 50, 'duration': '2h', "
               "'startTime': '10s', 'tags': {'t': 'v'}}}");
}

Test(to_json, ramping_vus)
{
    round_trip("{'r': {'executor': 'ramping-vus', 'startVUs': 0, 'gracefulRampDown': '5s', "
               "'stages': [{'duration': '30s', 'target': 20}, {'duration': '0s', 'target': 50}, "
               "{'duration': '1m30s', 'target': 50}, {'duration': '500ms', 'target': 0}]}}");
}

Test(to_json, constant_arrival_rate)
{
    round_trip("{'k': {'executor': 'constant-arrival-rate', 'rate': 300, 'timeUnit': '1m', "
               "'duration': '5m', 'preAllocatedVUs': 10, 'maxVUs': 40, 'overload': 'queue', "
               "'exec': 'buy'}}");
}

Test(to_json, ramping_arrival_rate)
{
    round_trip("{'q': {'executor': 'ramping-arrival-rate', 'startRate': 10, "
               "'timeUnit': '250ms', 'preAllocatedVUs': 0, 'maxVUs': 100, "
               "'stages': [{'duration': '10s', 'target': 100}, {'duration': '1m', 'target': 0}]}}");
}

Test(to_json, externally_controlled)
{
    round_trip("{'x': {'executor': 'externally-controlled', 'vus': 0, 'maxVUs': 30, "
               "'duration': '0s'}}");
    round_trip("{'y': {'executor': 'externally-controlled', 'vus': 4, 'maxVUs': 30, "
               "'duration': '10m'}}");
}

Test(to_json, shortcut_scenario)
{
    apply_ok("{'vus': 3, 'duration': '45s'}");
    json_t *j = sv_scenario_to_json(&plan.scenarios[0]);
    assert_json(j, "{'executor': 'constant-vus', 'vus': 3, 'duration': '45s', "
                   "'startTime': '0ms', 'gracefulStop': '30s'}");
    json_decref(j);
}

/* ---- execution segments ------------------------------------------------------------ */

TestSuite(segment, .init = setup, .fini = teardown);

static uint64_t count_of(const char *segment, const char *sequence, uint64_t total)
{
    sv_plan_t p;
    sv_plan_init(&p);
    const char *why = NULL;
    int rc = sv_plan_set_segment(&p, segment, sequence, &why);
    cr_assert_eq(rc, 0, "%s in %s: %s", segment, sequence ? sequence : "(default)",
                 why ? why : "?");
    uint64_t n = sv_segment_count(&p.segment, total);
    sv_plan_free(&p);
    return n;
}

Test(segment, whole_test_by_default)
{
    cr_assert_null(plan.segment_label);
    cr_assert_eq(sv_segment_count(&plan.segment, 12345), 12345);
}

Test(segment, default_sequence)
{
    const char *why = NULL;
    cr_assert_eq(sv_plan_set_segment(&plan, "1/4:2/4", NULL, &why), 0, "%s", why);
    cr_assert_str_eq(plan.segment_label, "1/4:2/4");
    cr_assert_eq(sv_segment_count(&plan.segment, 1000), 250);
    cr_assert_eq(sv_segment_count(&plan.segment, 4), 1);
    cr_assert_eq(sv_segment_count(&plan.segment, 0), 0);
    for (uint64_t total = 0; total < 200; total++) {
        uint64_t got = sv_segment_count(&plan.segment, total);
        cr_assert(got * 4 + 4 > total && got * 4 < total + 4, "%llu of %llu",
                  (unsigned long long)got, (unsigned long long)total);
    }
    /* the same as the explicit 0,1/4,2/4,1 */
    for (uint64_t total = 0; total < 50; total++)
        cr_assert_eq(sv_segment_count(&plan.segment, total),
                     count_of("1/4:2/4", "0,1/4,2/4,1", total));
    /* decimals too; setting again replaces */
    cr_assert_eq(sv_plan_set_segment(&plan, "0.5:1", NULL, &why), 0, "%s", why);
    cr_assert_str_eq(plan.segment_label, "0.5:1");
    cr_assert_eq(sv_segment_count(&plan.segment, 1000), 500);
    cr_assert_eq(sv_plan_set_segment(&plan, "0:1", NULL, &why), 0, "%s", why);
    cr_assert_eq(sv_segment_count(&plan.segment, 77), 77);
}

static void segments_add_up(const char *sequence, const char *const *segments, size_t n)
{
    for (uint64_t total = 0; total < 300; total++) {
        uint64_t sum = 0;
        for (size_t i = 0; i < n; i++)
            sum += count_of(segments[i], sequence, total);
        cr_assert_eq(sum, total, "%s: segments own %llu of %llu", sequence, (unsigned long long)sum,
                     (unsigned long long)total);
    }
}

Test(segment, explicit_sequence_adds_up)
{
    const char *quarters[] = {"0:1/4", "1/4:2/4", "2/4:1"};
    segments_add_up("0,1/4,2/4,1", quarters, SV_ARRAY_SIZE(quarters));
    const char *thirds[] = {"0:1/3", "1/3:2/3", "2/3:1"};
    segments_add_up("0,1/3,2/3,1", thirds, SV_ARRAY_SIZE(thirds));
    const char *uneven[] = {"0:0.1", "0.1:0.35", "0.35:1"};
    segments_add_up("0,0.1,0.35,1", uneven, SV_ARRAY_SIZE(uneven));
    cr_assert_eq(count_of("1/3:2/3", "0,1/3,2/3,1", 300), 100);
}

Test(segment, refused)
{
    const char *why = NULL;
    cr_assert_eq(sv_plan_set_segment(&plan, "1/4:3/4", "0,1/4,2/4,1", &why), SV_EINVAL,
                 "a span of two segments");
    cr_assert_not_null(why);
    cr_assert(strstr(why, "not one of the sequence"), "%s", why);
    why = NULL;
    cr_assert_eq(sv_plan_set_segment(&plan, "1/3:2/3", "0,1/4,2/4,1", &why), SV_EINVAL);
    cr_assert_not_null(why);
    const char *bad[] = {"2/4:1/4", "1/2:1/2", "1/2:2/4", "5/4",      "",       ":",
                         "a:b",     "1/4:",    ":1/4",    "-1/4:1/4", "1/4:5/4"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        why = NULL;
        cr_assert_eq(sv_plan_set_segment(&plan, bad[i], NULL, &why), SV_EINVAL, "\"%s\"", bad[i]);
        cr_assert_not_null(why, "\"%s\": no reason", bad[i]);
    }
    why = NULL;
    cr_assert_eq(sv_plan_set_segment(&plan, "0:1/2", "0,x,1", &why), SV_EINVAL);
    cr_assert_not_null(why);
    /* nothing changed */
    cr_assert_null(plan.segment_label);
    cr_assert_eq(sv_segment_count(&plan.segment, 100), 100);
}

Test(segment, index_of_n)
{
    const char *why = NULL;
    cr_assert_eq(sv_plan_set_segment_index(&plan, "2/3", &why), 0, "%s", why);
    cr_assert_str_eq(plan.segment_label, "2/3");
    cr_assert_eq(sv_segment_count(&plan.segment, 300), 100);
    for (uint64_t n = 1; n <= 7; n++)
        for (uint64_t total = 0; total < 100; total++) {
            uint64_t sum = 0;
            for (uint64_t i = 1; i <= n; i++) {
                char spec[16];
                snprintf(spec, sizeof(spec), "%llu/%llu", (unsigned long long)i,
                         (unsigned long long)n);
                sv_plan_t p;
                sv_plan_init(&p);
                cr_assert_eq(sv_plan_set_segment_index(&p, spec, &why), 0, "%s", spec);
                uint64_t got = sv_segment_count(&p.segment, total);
                cr_assert(got * n + n > total && got * n < total + n, "%s of %llu: %llu", spec,
                          (unsigned long long)total, (unsigned long long)got);
                sum += got;
                sv_plan_free(&p);
            }
            cr_assert_eq(sum, total, "%llu segments own %llu of %llu", (unsigned long long)n,
                         (unsigned long long)sum, (unsigned long long)total);
        }
}

Test(segment, index_refused)
{
    const char *bad[] = {"0/3", "4/3", "a/b",  "3",     "",      "/3",
                         "2/",  "2/0", "2/3x", "2/3/4", "1/1025"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++) {
        const char *why = NULL;
        cr_assert_eq(sv_plan_set_segment_index(&plan, bad[i], &why), SV_EINVAL, "\"%s\"", bad[i]);
        cr_assert_not_null(why);
    }
    cr_assert_null(plan.segment_label);
    const char *why = NULL;
    cr_assert_eq(sv_plan_set_segment_index(&plan, "1/1", &why), 0);
    cr_assert_eq(sv_segment_count(&plan.segment, 10), 10);
}

/* ---- profiles -------------------------------------------------------------------- */

TestSuite(profile, .init = setup, .fini = teardown);

static json_t *profile(const char *name, const sv_profile_target_t *t)
{
    const char *why = NULL;
    json_t *j = sv_profile_scenarios(name, t, &why);
    cr_assert_not_null(j, "%s: %s", name, why ? why : "?");
    return j;
}

/* The profile's scenarios apply to a plan as they are. */
static void profile_applies(json_t *scenarios)
{
    json_t *opts = json_pack("{s:O}", "scenarios", scenarios);
    int rc = sv_options_apply(&plan, opts, "--profile", err, sizeof(err));
    json_decref(opts);
    cr_assert_eq(rc, 0, "%s", err);
}

Test(profile, by_vus)
{
    static const struct {
        const char *name, *want;
    } cases[] = {
        {"smoke", "{'smoke': {'executor': 'constant-vus', 'vus': 100, 'duration': '1m0s'}}"},
        {"load", "{'load': {'executor': 'ramping-vus', 'startVUs': 0, 'stages': ["
                 "{'duration': '5m0s', 'target': 100}, {'duration': '30m0s', 'target': 100}, "
                 "{'duration': '5m0s', 'target': 0}]}}"},
        {"stress", "{'stress': {'executor': 'ramping-vus', 'startVUs': 0, 'stages': ["
                   "{'duration': '10m0s', 'target': 100}, {'duration': '30m0s', 'target': 100},"
                   " {'duration': '5m0s', 'target': 0}]}}"},
        {"spike", "{'spike': {'executor': 'ramping-vus', 'startVUs': 0, 'stages': ["
                  "{'duration': '2m0s', 'target': 100}, {'duration': '1m0s', 'target': 0}]}}"},
        {"soak", "{'soak': {'executor': 'ramping-vus', 'startVUs': 0, 'stages': ["
                 "{'duration': '5m0s', 'target': 100}, {'duration': '8h0m0s', 'target': 100}, "
                 "{'duration': '5m0s', 'target': 0}]}}"},
        {"breakpoint", "{'breakpoint': {'executor': 'ramping-vus', 'startVUs': 0, 'stages': ["
                       "{'duration': '2h0m0s', 'target': 100}]}}"},
    };
    sv_profile_target_t t = {.vus = 100};
    for (size_t i = 0; i < SV_ARRAY_SIZE(cases); i++) {
        json_t *j = profile(cases[i].name, &t);
        assert_json(j, cases[i].want);
        profile_applies(j);
        json_decref(j);
    }
    cr_assert_eq(plan.n_scenarios, SV_ARRAY_SIZE(cases));
    const sv_scenario_t *s = scenario(&plan, "load");
    cr_assert_eq(sv_scenario_max_vus(s), 100);
    cr_assert_eq(sv_scenario_run_ns(s), 40 * NS_PER_M);
}

Test(profile, by_rate)
{
    sv_profile_target_t t = {.by_rate = true, .rate = {200, NS_PER_S}};
    json_t *j = profile("smoke", &t);
    assert_json(j, "{'smoke': {'executor': 'constant-arrival-rate', 'rate': 200, "
                   "'timeUnit': '1s', 'duration': '1m0s', 'preAllocatedVUs': 10, "
                   "'maxVUs': 200}}");
    profile_applies(j);
    json_decref(j);
    j = profile("load", &t);
    assert_json(j, "{'load': {'executor': 'ramping-arrival-rate', 'startRate': 0, "
                   "'timeUnit': '1s', 'preAllocatedVUs': 10, 'maxVUs': 200, 'stages': ["
                   "{'duration': '5m0s', 'target': 200}, {'duration': '30m0s', 'target': 200}, "
                   "{'duration': '5m0s', 'target': 0}]}}");
    profile_applies(j);
    json_decref(j);
    const char *others[] = {"stress", "spike", "soak", "breakpoint"};
    for (size_t i = 0; i < SV_ARRAY_SIZE(others); i++) {
        j = profile(others[i], &t);
        json_t *s = json_object_get(j, others[i]);
        cr_assert_str_eq(json_string_value(json_object_get(s, "executor")), "ramping-arrival-rate");
        cr_assert_eq(json_integer_value(json_object_get(
                         json_array_get(json_object_get(s, "stages"), 0), "target")),
                     200);
        profile_applies(j);
        json_decref(j);
    }
    /* a slow rate still has room for VUs; a per-minute rate keeps its unit */
    sv_profile_target_t slow = {.by_rate = true, .rate = {30, NS_PER_M}};
    j = profile("spike", &slow);
    json_t *s = json_object_get(j, "spike");
    cr_assert_str_eq(json_string_value(json_object_get(s, "timeUnit")), "1m0s");
    cr_assert_eq(json_integer_value(json_object_get(s, "maxVUs")), 100);
    cr_assert_eq(json_integer_value(json_object_get(s, "preAllocatedVUs")), 10);
    json_decref(j);
}

Test(profile, by_rate_with_vus_given)
{
    sv_profile_target_t t = {.by_rate = true, .rate = {50, NS_PER_S}, .pre_vus = 5, .max_vus = 60};
    json_t *j = profile("load", &t);
    json_t *s = json_object_get(j, "load");
    cr_assert_eq(json_integer_value(json_object_get(s, "preAllocatedVUs")), 5);
    cr_assert_eq(json_integer_value(json_object_get(s, "maxVUs")), 60);
    profile_applies(j);
    json_decref(j);
}

Test(profile, by_rate_with_many_vus_ready)
{
    /* --vus 500 with --target-rate 50/s and no --max-vus: the cap must leave room for
     * the VUs asked for, as maxVUs defaults to preAllocatedVUs in k6 */
    sv_profile_target_t t = {.by_rate = true, .rate = {50, NS_PER_S}, .pre_vus = 500};
    json_t *j = profile("stress", &t);
    json_t *s = json_object_get(j, "stress");
    cr_assert_eq(json_integer_value(json_object_get(s, "preAllocatedVUs")), 500);
    cr_assert_geq(json_integer_value(json_object_get(s, "maxVUs")), 500);
    profile_applies(j);
    json_decref(j);
}

/* The stages of the profile squeezed to `duration`: proportional to the profile's
 * minutes and adding up to it, within the millisecond the printed durations keep. */
static void check_squeezed(const char *name, uint64_t duration, const uint64_t *minutes, size_t n)
{
    sv_profile_target_t t = {.vus = 10, .duration_ns = duration};
    json_t *j = profile(name, &t);
    profile_applies(j);
    json_decref(j);
    const sv_scenario_t *s = scenario(&plan, name);
    cr_assert_eq(s->n_stages, n, "%s", name);
    uint64_t all = 0, sum = 0;
    for (size_t i = 0; i < n; i++)
        all += minutes[i];
    for (size_t i = 0; i < n; i++) {
        uint64_t want = duration / all * minutes[i] + duration % all * minutes[i] / all;
        uint64_t got = s->stages[i].duration_ns;
        cr_assert(got + NS_PER_MS > want && got < want + NS_PER_MS,
                  "%s stage %zu: %llu ns, want %llu", name, i, (unsigned long long)got,
                  (unsigned long long)want);
        sum += got;
    }
    cr_assert(sum + n * NS_PER_MS > duration && sum < duration + n * NS_PER_MS,
              "%s: %llu ns of %llu", name, (unsigned long long)sum, (unsigned long long)duration);
}

Test(profile, duration_squeezes)
{
    check_squeezed("load", 10 * NS_PER_M, (uint64_t[]){5, 30, 5}, 3);
    check_squeezed("stress", 9 * NS_PER_M, (uint64_t[]){10, 30, 5}, 3);
    check_squeezed("spike", 30 * NS_PER_S, (uint64_t[]){2, 1}, 2);
    check_squeezed("soak", NS_PER_H, (uint64_t[]){5, 480, 5}, 3);
    check_squeezed("breakpoint", 4 * NS_PER_H, (uint64_t[]){120}, 1);
    /* exact where the shares are whole */
    const sv_scenario_t *s = scenario(&plan, "load");
    cr_assert_eq(s->stages[0].duration_ns, 75 * NS_PER_S);
    cr_assert_eq(s->stages[1].duration_ns, 450 * NS_PER_S);
    cr_assert_eq(s->stages[2].duration_ns, 75 * NS_PER_S);
    cr_assert_eq(sv_scenario_run_ns(scenario(&plan, "spike")), 30 * NS_PER_S);
}

Test(profile, duration_odd_lengths)
{
    check_squeezed("soak", 7 * NS_PER_S + 3, (uint64_t[]){5, 480, 5}, 3);
    check_squeezed("stress", 1234567 * NS_PER_MS, (uint64_t[]){10, 30, 5}, 3);
}

Test(profile, smoke_takes_the_duration)
{
    sv_profile_target_t t = {.vus = 2, .duration_ns = 20 * NS_PER_S};
    json_t *j = profile("smoke", &t);
    assert_json(j, "{'smoke': {'executor': 'constant-vus', 'vus': 2, 'duration': '20s'}}");
    json_decref(j);
    sv_profile_target_t r = {.by_rate = true, .rate = {5, NS_PER_S}, .duration_ns = NS_PER_H};
    j = profile("smoke", &r);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(j, "smoke"), "duration")),
                     "1h0m0s");
    json_decref(j);
}

Test(profile, unknown)
{
    sv_profile_target_t t = {.vus = 10};
    const char *names[] = {"Load", "average", "", "smoke "};
    for (size_t i = 0; i < SV_ARRAY_SIZE(names); i++) {
        const char *why = NULL;
        cr_assert_null(sv_profile_scenarios(names[i], &t, &why), "\"%s\"", names[i]);
        cr_assert_not_null(why);
        cr_assert(strstr(why, "unknown profile"), "%s", why);
    }
}

/* ---- RFC 3339 times -------------------------------------------------------------- */

#define T_2026_11_23_10 1795428000ULL /* 2026-11-23T10:00:00Z */

static void check_time(const char *s, uint64_t want)
{
    uint64_t ns = SENTINEL;
    int rc = sv_parse_rfc3339(s, &ns);
    cr_assert_eq(rc, 0, "\"%s\": rc %d", s, rc);
    cr_assert_eq(ns, want, "\"%s\": %llu, want %llu", s, (unsigned long long)ns,
                 (unsigned long long)want);
}

static void check_bad_time(const char *s)
{
    uint64_t ns = SENTINEL;
    int rc = sv_parse_rfc3339(s, &ns);
    cr_assert_neq(rc, 0, "\"%s\" accepted as %llu", s, (unsigned long long)ns);
    cr_assert_eq(ns, SENTINEL, "\"%s\": output written on failure", s);
}

Test(rfc3339, utc)
{
    check_time("2026-11-23T10:00:00Z", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-23t10:00:00z", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-23 10:00:00Z", T_2026_11_23_10 * NS_PER_S);
    check_time("1970-01-01T00:00:00Z", 0);
    check_time("2000-02-29T00:00:00Z", 951782400ULL * NS_PER_S);
    check_time("2026-11-23T10:00:00+00:00", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-23T10:00:00-00:00", T_2026_11_23_10 * NS_PER_S);
}

Test(rfc3339, fractional_seconds)
{
    check_time("2026-11-23T10:00:00.5Z", T_2026_11_23_10 * NS_PER_S + 500 * NS_PER_MS);
    check_time("2026-11-23T10:00:00.25Z", T_2026_11_23_10 * NS_PER_S + 250 * NS_PER_MS);
    check_time("2026-11-23T10:00:00.123Z", T_2026_11_23_10 * NS_PER_S + 123 * NS_PER_MS);
    check_time("2026-11-23T10:00:00.001Z", T_2026_11_23_10 * NS_PER_S + NS_PER_MS);
    check_time("2026-11-23T10:00:00.000001Z", T_2026_11_23_10 * NS_PER_S + 1000);
    check_time("2026-11-23T10:00:00.123456789Z", T_2026_11_23_10 * NS_PER_S + 123456789);
    check_time("2026-11-23T10:00:00.999999999Z", T_2026_11_23_10 * NS_PER_S + 999999999);
    /* past nanoseconds: truncated */
    check_time("2026-11-23T10:00:00.1234567891Z", T_2026_11_23_10 * NS_PER_S + 123456789);
    /* summed as doubles, about one in ten 9-digit fractions came out 1 ns short */
    check_time("2026-11-23T10:00:00.772596344Z", T_2026_11_23_10 * NS_PER_S + 772596344);
    check_time("2026-11-23T10:00:00.5+01:00",
               (T_2026_11_23_10 - 3600) * NS_PER_S + 500 * NS_PER_MS);
}

Test(rfc3339, exact_fractions_of_every_millisecond)
{
    for (unsigned ms = 0; ms < 1000; ms++) {
        char s[64];
        snprintf(s, sizeof(s), "2026-11-23T10:00:00.%03uZ", ms);
        check_time(s, T_2026_11_23_10 * NS_PER_S + ms * NS_PER_MS);
    }
    uint64_t state = 99;
    for (int i = 0; i < 5000; i++) {
        state = state * 6364136223846793005ULL + 1442695040888963407ULL;
        unsigned frac = (unsigned)((state >> 24) % NS_PER_S);
        char s[64];
        snprintf(s, sizeof(s), "2026-11-23T10:00:00.%09u+00:00", frac);
        check_time(s, T_2026_11_23_10 * NS_PER_S + frac);
    }
}

Test(rfc3339, offsets)
{
    check_time("2026-11-23T11:00:00+01:00", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-23T05:00:00-05:00", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-23T15:30:00+05:30", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-24T00:00:00+14:00", T_2026_11_23_10 * NS_PER_S);
    check_time("2026-11-22T22:00:00-12:00", T_2026_11_23_10 * NS_PER_S);
}

Test(rfc3339, rejects)
{
    const char *bad[] = {
        "",
        "now",
        "2026-11-23",
        "2026-11-23T10:00",
        "2026-11-23T10:00:00", /* no zone */
        "2026-11-23T10:00:00 Z",
        "2026-11-23T10:00:00Zjunk",
        "2026-11-23T10:00:00+0100",
        "2026-11-23T10:00:00+01",
        "2026-11-23T10:00:00+01:00x",
        "2026-11-23T10:00:00.Z", /* a point with no digits */
        "2026-11-23T10:00:00.5",
        "2026-11-23X10:00:00Z",
        "2026/11/23T10:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2026-11-32T00:00:00Z",
        "2026-02-30T00:00:00Z", /* no such day */
        "2026-04-31T00:00:00Z",
        "2025-02-29T00:00:00Z", /* not a leap year */
        "2026-11-23T24:00:00Z",
        "2026-11-23T10:60:00Z",
        "2026-11-23T10:00:61Z",
        "2026-11-23T10:00:00+24:00", /* offsets are within a day */
        "2026-11-23T10:00:00+01:60",
        "1969-12-31T23:59:59Z", /* before the epoch */
        "1970-01-01T00:30:00+01:00",
        "9999-12-31T23:59:59Z", /* past what 64 bits of ns hold (year 2554) */
    };
    for (size_t i = 0; i < SV_ARRAY_SIZE(bad); i++)
        check_bad_time(bad[i]);
}
