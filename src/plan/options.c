/*
 * Reading k6 options into a plan, with the option's path in every error:
 * "options.scenarios.browse.maxVUs: expected a number, got \"ten\"".
 */
#include "options.h"

#include <math.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/util.h"

#define PATH_SIZE 256

/* Where we are: the path of the value being read, and the error buffer. */
typedef struct {
    char path[PATH_SIZE];
    char *err;
    size_t size;
} ctx_t;

static int fail(ctx_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(ctx_t *c, const char *fmt, ...)
{
    int n = snprintf(c->err, c->size, "%s: ", c->path);
    va_list ap;
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < c->size)
        vsnprintf(c->err + n, c->size - (size_t)n, fmt, ap);
    va_end(ap);
    return SV_EINVAL;
}

/* Appends ".key" to the path; returns the old length, for pop(). */
static size_t push(ctx_t *c, const char *key)
{
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof(c->path) - len, ".%s", key);
    return len;
}

static size_t push_index(ctx_t *c, size_t i)
{
    size_t len = strlen(c->path);
    snprintf(c->path + len, sizeof(c->path) - len, "[%zu]", i);
    return len;
}

static void pop(ctx_t *c, size_t len)
{
    c->path[len] = '\0';
}

/* How a value looks in an error: "ten" for a string, its kind otherwise. */
static const char *shown(const json_t *v, char *buf, size_t size)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        snprintf(buf, size, "\"%s\"", json_string_value(v));
        break;
    case JSON_INTEGER:
    case JSON_REAL:
        snprintf(buf, size, "%g", json_number_value(v));
        break;
    case JSON_OBJECT:
        return "a table";
    case JSON_ARRAY:
        return "a list";
    case JSON_TRUE:
        return "true";
    case JSON_FALSE:
        return "false";
    default:
        return "nothing";
    }
    return buf;
}

static int expected(ctx_t *c, const char *what, const json_t *v)
{
    char buf[96];
    return fail(c, "expected %s, got %s", what, shown(v, buf, sizeof(buf)));
}

/* A whole number in [min, max]; JSON reals with no fraction count too. */
static int get_count(ctx_t *c, const json_t *v, uint64_t min, uint64_t max, uint64_t *out)
{
    if (!json_is_number(v))
        return expected(c, "a number", v);
    double d = json_number_value(v);
    if (d < (double)min || d > (double)max || d != (double)(uint64_t)d)
        return fail(c, "expected a whole number from %llu to %llu, got %g", (unsigned long long)min,
                    (unsigned long long)max, d);
    *out = (uint64_t)d;
    return 0;
}

static int get_vus(ctx_t *c, const json_t *v, uint64_t min, uint32_t *out)
{
    uint64_t n;
    int rc = get_count(c, v, min, 1000000, &n);
    *out = (uint32_t)n;
    return rc;
}

/* "30s", "1m30s", or a number of milliseconds, as k6 takes durations. */
static int get_duration(ctx_t *c, const json_t *v, bool zero_ok, uint64_t *ns)
{
    if (json_is_number(v)) {
        double ms = json_number_value(v);
        if (ms < 0 || ms > 9e15)
            return fail(c, "expected a duration such as \"30s\", got %g", ms);
        *ns = (uint64_t)(ms * 1e6);
    } else if (!json_is_string(v) || sv_parse_duration(json_string_value(v), ns) != 0) {
        return expected(c, "a duration such as \"30s\" or \"1m30s\"", v);
    }
    if (*ns == 0 && !zero_ok)
        return fail(c, "expected a duration longer than zero");
    return 0;
}

static int get_string(ctx_t *c, const json_t *v, const char **out)
{
    if (!json_is_string(v))
        return expected(c, "a string", v);
    *out = json_string_value(v);
    return 0;
}

static int get_bool(ctx_t *c, const json_t *v, bool *out)
{
    if (!json_is_boolean(v))
        return expected(c, "true or false", v);
    *out = json_is_true(v);
    return 0;
}

/* An empty Lua table arrives as an empty object: take it as an empty list. */
static bool is_list(const json_t *v)
{
    return json_is_array(v) || (json_is_object(v) && json_object_size(v) == 0);
}

/* {KEY = "value", …} into kv pairs, replacing earlier values of the same key. */
static int get_string_map(ctx_t *c, const json_t *v, sv_kv_t **kv, size_t *n)
{
    if (!json_is_object(v))
        return expected(c, "a table of strings", v);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        const char *s = NULL;
        size_t at = push(c, key);
        if (get_string(c, val, &s) != 0)
            return SV_EINVAL;
        pop(c, at);
        size_t i = 0;
        while (i < *n && strcmp((*kv)[i].key, key) != 0)
            i++;
        if (i < *n) {
            free((*kv)[i].value);
            (*kv)[i].value = sv_xstrdup(s);
        } else {
            sv_kv_push(kv, n, key, s);
        }
    }
    return 0;
}

static int get_stages(ctx_t *c, const json_t *v, sv_stage_t **stages, size_t *n)
{
    if (!is_list(v) || json_array_size(v) == 0)
        return expected(c, "a list of stages such as { { duration = \"30s\", target = 10 } }", v);
    size_t count = json_array_size(v);
    *stages = sv_xcalloc(count, sizeof(**stages));
    *n = count;
    for (size_t i = 0; i < count; i++) {
        const json_t *st = json_array_get(v, i);
        size_t at = push_index(c, i);
        if (!json_is_object(st))
            return expected(c, "{ duration = \"30s\", target = 10 }", st);
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)st, key, val)
        {
            size_t at2 = push(c, key);
            int rc = strcmp(key, "duration") == 0
                         ? get_duration(c, val, true, &(*stages)[i].duration_ns)
                     : strcmp(key, "target") == 0
                         ? get_count(c, val, 0, 100000000, &(*stages)[i].target)
                         : fail(c, "unknown stage key (a stage has duration and target)");
            if (rc != 0)
                return rc;
            pop(c, at2);
        }
        if (!json_object_get(st, "duration") || !json_object_get(st, "target"))
            return fail(c, "a stage needs both duration and target");
        pop(c, at);
    }
    return 0;
}

/* ---- scenarios ---------------------------------------------------------------------- */

enum {
    K_VUS = 1 << 0,
    K_ITERATIONS = 1 << 1,
    K_MAX_DURATION = 1 << 2,
    K_DURATION = 1 << 3,
    K_START_VUS = 1 << 4,
    K_STAGES = 1 << 5,
    K_RAMP_DOWN = 1 << 6,
    K_RATE = 1 << 7,
    K_TIME_UNIT = 1 << 8,
    K_PREALLOCATED = 1 << 9,
    K_MAX_VUS = 1 << 10,
    K_START_RATE = 1 << 11,
    K_OVERLOAD = 1 << 12,
};

/* The keys each executor takes (beyond executor, exec, startTime, gracefulStop, env,
 * tags), and the ones it needs. */
static const struct {
    unsigned takes, needs;
} executor_keys[SV_N_EXECUTORS] = {
    [SV_EXEC_SHARED_ITERATIONS] = {K_VUS | K_ITERATIONS | K_MAX_DURATION, 0},
    [SV_EXEC_PER_VU_ITERATIONS] = {K_VUS | K_ITERATIONS | K_MAX_DURATION, 0},
    [SV_EXEC_CONSTANT_VUS] = {K_VUS | K_DURATION, K_DURATION},
    [SV_EXEC_RAMPING_VUS] = {K_START_VUS | K_STAGES | K_RAMP_DOWN, K_STAGES},
    [SV_EXEC_CONSTANT_ARRIVAL_RATE] = {K_RATE | K_TIME_UNIT | K_DURATION | K_PREALLOCATED |
                                           K_MAX_VUS | K_OVERLOAD,
                                       K_RATE | K_DURATION | K_PREALLOCATED},
    [SV_EXEC_RAMPING_ARRIVAL_RATE] = {K_START_RATE | K_TIME_UNIT | K_STAGES | K_PREALLOCATED |
                                          K_MAX_VUS | K_OVERLOAD,
                                      K_STAGES | K_PREALLOCATED},
    [SV_EXEC_EXTERNALLY_CONTROLLED] = {K_VUS | K_MAX_VUS | K_DURATION, K_DURATION},
};

static const struct {
    const char *name;
    unsigned bit;
} scenario_keys[] = {
    {"vus", K_VUS},
    {"iterations", K_ITERATIONS},
    {"maxDuration", K_MAX_DURATION},
    {"duration", K_DURATION},
    {"startVUs", K_START_VUS},
    {"stages", K_STAGES},
    {"gracefulRampDown", K_RAMP_DOWN},
    {"rate", K_RATE},
    {"timeUnit", K_TIME_UNIT},
    {"preAllocatedVUs", K_PREALLOCATED},
    {"maxVUs", K_MAX_VUS},
    {"startRate", K_START_RATE},
    {"overload", K_OVERLOAD},
};

static int scenario_value(ctx_t *c, sv_scenario_t *s, unsigned bit, const json_t *v)
{
    uint64_t n;
    int rc;
    switch (bit) {
    case K_VUS:
        return get_vus(c, v, s->executor == SV_EXEC_EXTERNALLY_CONTROLLED ? 0 : 1, &s->vus);
    case K_START_VUS:
        return get_vus(c, v, 0, &s->vus);
    case K_PREALLOCATED:
        return get_vus(c, v, 0, &s->vus);
    case K_MAX_VUS:
        return get_vus(c, v, 0, &s->max_vus);
    case K_ITERATIONS:
        return get_count(c, v, 1, UINT64_MAX / 4, &s->iterations);
    case K_MAX_DURATION:
        return get_duration(c, v, false, &s->max_duration_ns);
    case K_DURATION:
        return get_duration(c, v, s->executor == SV_EXEC_EXTERNALLY_CONTROLLED, &s->duration_ns);
    case K_RAMP_DOWN:
        return get_duration(c, v, true, &s->graceful_ramp_down_ns);
    case K_STAGES:
        return get_stages(c, v, &s->stages, &s->n_stages);
    case K_RATE:
        rc = get_count(c, v, 1, 100000000, &n);
        s->rate.count = n;
        return rc;
    case K_START_RATE:
        return get_count(c, v, 0, 100000000, &s->start_rate);
    case K_TIME_UNIT:
        return get_duration(c, v, false, &s->rate.per_ns);
    case K_OVERLOAD: {
        const char *mode = NULL;
        if (get_string(c, v, &mode) != 0)
            return SV_EINVAL;
        if (strcmp(mode, "queue") != 0 && strcmp(mode, "drop") != 0)
            return fail(c, "expected \"drop\" or \"queue\", got \"%s\"", mode);
        s->overload_queue = strcmp(mode, "queue") == 0;
        return 0;
    }
    }
    return SV_EINVAL;
}

/* Keys every executor takes. `handled` false when the key is not one of them. */
static int scenario_common(ctx_t *c, sv_scenario_t *s, const char *key, const json_t *v,
                           bool *handled)
{
    *handled = true;
    const char *str = NULL;
    if (strcmp(key, "executor") == 0)
        return 0; /* read first */
    if (strcmp(key, "exec") == 0) {
        if (get_string(c, v, &str) != 0)
            return SV_EINVAL;
        s->exec = sv_xstrdup(str);
        return 0;
    }
    if (strcmp(key, "startTime") == 0)
        return get_duration(c, v, true, &s->start_time_ns);
    if (strcmp(key, "gracefulStop") == 0)
        return get_duration(c, v, true, &s->graceful_stop_ns);
    if (strcmp(key, "env") == 0)
        return get_string_map(c, v, &s->env, &s->n_env);
    if (strcmp(key, "tags") == 0)
        return get_string_map(c, v, &s->tags, &s->n_tags);
    *handled = false;
    return 0;
}

static int scenario_key(ctx_t *c, sv_scenario_t *s, const char *key, const json_t *v,
                        unsigned *seen)
{
    bool handled;
    int rc = scenario_common(c, s, key, v, &handled);
    if (handled)
        return rc;
    for (size_t i = 0; i < SV_ARRAY_SIZE(scenario_keys); i++) {
        if (strcmp(key, scenario_keys[i].name) != 0)
            continue;
        if (!(executor_keys[s->executor].takes & scenario_keys[i].bit))
            return fail(c, "%s does not take this option", sv_executor_name(s->executor));
        *seen |= scenario_keys[i].bit;
        return scenario_value(c, s, scenario_keys[i].bit, v);
    }
    return fail(c, "unknown scenario option");
}

/* What k6 checks once a scenario's keys are read. */
static int scenario_check(ctx_t *c, sv_scenario_t *s, unsigned seen)
{
    unsigned missing = executor_keys[s->executor].needs & ~seen;
    for (size_t i = 0; missing && i < SV_ARRAY_SIZE(scenario_keys); i++)
        if (missing & scenario_keys[i].bit)
            return fail(c, "%s needs %s", sv_executor_name(s->executor), scenario_keys[i].name);
    switch (s->executor) {
    case SV_EXEC_SHARED_ITERATIONS:
        if (s->vus > s->iterations)
            return fail(c, "%u VUs for %llu iterations: VUs can't be more than iterations", s->vus,
                        (unsigned long long)s->iterations);
        break;
    case SV_EXEC_CONSTANT_ARRIVAL_RATE:
    case SV_EXEC_RAMPING_ARRIVAL_RATE:
        if (!(seen & K_MAX_VUS))
            s->max_vus = s->vus;
        if (s->max_vus < s->vus)
            return fail(c, "maxVUs (%u) is less than preAllocatedVUs (%u)", s->max_vus, s->vus);
        if (s->max_vus == 0)
            return fail(c, "needs at least one VU (preAllocatedVUs or maxVUs)");
        break;
    case SV_EXEC_EXTERNALLY_CONTROLLED:
        if (!(seen & K_MAX_VUS))
            s->max_vus = s->vus;
        if (s->max_vus < s->vus)
            return fail(c, "maxVUs (%u) is less than vus (%u)", s->max_vus, s->vus);
        break;
    default:
        break;
    }
    return 0;
}

static bool plain_name(const char *name)
{
    for (const char *p = name; *p; p++)
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '_')
            return false;
    return true;
}

static int read_scenario(ctx_t *c, sv_plan_t *plan, const char *name, const json_t *v)
{
    if (!json_is_object(v))
        return expected(c, "a table such as { executor = \"constant-vus\", … }", v);
    if (*name == '\0' || !plain_name(name))
        return fail(c, "a scenario name is letters, digits, - and _");
    for (size_t i = 0; i < plan->n_scenarios; i++)
        if (strcmp(plan->scenarios[i].name, name) == 0)
            return fail(c, "two scenarios named \"%s\"", name);
    sv_scenario_t *s = sv_plan_add_scenario(plan, name);
    const json_t *ex = json_object_get(v, "executor");
    const char *exname = NULL;
    size_t at = push(c, "executor");
    if (ex == NULL)
        return fail(c, "missing (one of shared-iterations, per-vu-iterations, constant-vus, "
                       "ramping-vus, constant-arrival-rate, ramping-arrival-rate, "
                       "externally-controlled)");
    if (get_string(c, ex, &exname) != 0)
        return SV_EINVAL;
    if (sv_executor_parse(exname, &s->executor) != 0)
        return fail(c,
                    "unknown executor \"%s\" (use shared-iterations, per-vu-iterations, "
                    "constant-vus, ramping-vus, constant-arrival-rate, "
                    "ramping-arrival-rate or externally-controlled)",
                    exname);
    pop(c, at);
    unsigned seen = 0;
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        at = push(c, key);
        if (scenario_key(c, s, key, val, &seen) != 0)
            return SV_EINVAL;
        pop(c, at);
    }
    return scenario_check(c, s, seen);
}

static int read_scenarios(ctx_t *c, sv_plan_t *plan, const json_t *v)
{
    if (!json_is_object(v) || json_object_size(v) == 0)
        return expected(c, "a table of scenarios such as { browse = { executor = … } }", v);
    const char *name;
    const json_t *val;
    json_object_foreach((json_t *)v, name, val)
    {
        size_t at = push(c, name);
        if (read_scenario(c, plan, name, val) != 0)
            return SV_EINVAL;
        pop(c, at);
    }
    return 0;
}

/* ---- thresholds ---------------------------------------------------------------------- */

/* "p(95)<500", or { threshold = "…", abortOnFail = true, delayAbortEval = "10s" }. */
static int read_threshold(ctx_t *c, sv_plan_t *plan, const char *metric, const json_t *v)
{
    const char *expr = json_string_value(v), *why;
    bool abort_on_fail = false;
    uint64_t delay = 0;
    if (json_is_object(v)) {
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)v, key, val)
        {
            size_t at = push(c, key);
            int rc = strcmp(key, "threshold") == 0        ? get_string(c, val, &expr)
                     : strcmp(key, "abortOnFail") == 0    ? get_bool(c, val, &abort_on_fail)
                     : strcmp(key, "delayAbortEval") == 0 ? get_duration(c, val, true, &delay)
                                                          : fail(c, "unknown threshold option");
            if (rc != 0)
                return rc;
            pop(c, at);
        }
    }
    if (expr == NULL)
        return expected(c, "an expression such as \"p(95)<500\"", v);
    if (sv_plan_add_threshold(plan, metric, expr, abort_on_fail, delay, &why) != 0)
        return fail(c, "\"%s\": %s", expr, why);
    return 0;
}

static int read_thresholds(ctx_t *c, sv_plan_t *plan, const json_t *v)
{
    if (!json_is_object(v))
        return expected(c, "a table such as { http_req_duration = { \"p(95)<500\" } }", v);
    const char *metric;
    const json_t *list;
    json_object_foreach((json_t *)v, metric, list)
    {
        size_t at = push(c, metric);
        if (!is_list(list)) {
            return expected(c, "a list of expressions such as { \"p(95)<500\" }", list);
        }
        for (size_t i = 0; json_is_array(list) && i < json_array_size(list); i++) {
            size_t at2 = push_index(c, i);
            if (read_threshold(c, plan, metric, json_array_get(list, i)) != 0)
                return SV_EINVAL;
            pop(c, at2);
        }
        pop(c, at);
    }
    return 0;
}

static int read_trend_stats(ctx_t *c, sv_plan_t *plan, const json_t *v)
{
    if (!is_list(v) || json_array_size(v) == 0)
        return expected(c, "a list such as { \"avg\", \"p(99)\" }", v);
    sv_buf_t list;
    sv_buf_init(&list, 4096);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const char *stat = json_string_value(json_array_get(v, i));
        if (stat == NULL) {
            sv_buf_free(&list);
            return expected(c, "a list of strings such as { \"avg\", \"p(99)\" }", v);
        }
        sv_buf_printf(&list, "%s%s", i ? "," : "", stat);
    }
    const char *why;
    int rc = sv_plan_set_trend_stats(plan, list.data, &why);
    sv_buf_free(&list);
    return rc ? fail(c, "%s", why) : 0;
}

/* ---- TLS ----------------------------------------------------------------------------- */

/* A list of strings, each checked by ok (NULL: any) with `what` in the error. */
static int get_string_list(ctx_t *c, const json_t *v, bool (*ok)(const char *), const char *what,
                           char ***out, size_t *n)
{
    if (!is_list(v))
        return expected(c, "a list of strings", v);
    for (size_t i = 0; i < json_array_size(v); i++) {
        size_t at = push_index(c, i);
        const char *str = NULL;
        if (get_string(c, json_array_get(v, i), &str) != 0)
            return SV_EINVAL;
        if (ok && !ok(str))
            return fail(c, "\"%s\" is not %s", str, what);
        pop(c, at);
        *out = sv_xrealloc(*out, (*n + 1) * sizeof(**out));
        (*out)[(*n)++] = sv_xstrdup(str);
    }
    return 0;
}

/* k6's tlsAuth: { { cert = PEM, key = PEM, password = "…", domains = { "example.com" } }, … }
 * (password: an encrypted key's). */
static int read_tls_auth(ctx_t *c, sv_tls_opts_t *t, const json_t *v)
{
    if (!is_list(v))
        return expected(c, "a list such as { { cert = PEM, key = PEM, domains = { … } } }", v);
    for (size_t i = 0; i < json_array_size(v); i++) {
        const json_t *item = json_array_get(v, i);
        size_t at = push_index(c, i);
        if (!json_is_object(item))
            return expected(c, "{ cert = PEM, key = PEM, domains = { … } }", item);
        t->auth = sv_xrealloc(t->auth, (t->n_auth + 1) * sizeof(*t->auth));
        sv_tls_auth_t *a = &t->auth[t->n_auth++];
        *a = (sv_tls_auth_t){0};
        const char *key, *str = NULL;
        const json_t *val;
        json_object_foreach((json_t *)item, key, val)
        {
            size_t at2 = push(c, key);
            char **field = strcmp(key, "cert") == 0       ? &a->cert
                           : strcmp(key, "key") == 0      ? &a->key
                           : strcmp(key, "password") == 0 ? &a->password
                                                          : NULL;
            if (field) {
                if (get_string(c, val, &str) != 0)
                    return SV_EINVAL;
                free(*field);
                *field = sv_xstrdup(str);
            } else if (strcmp(key, "domains") == 0) {
                if (get_string_list(c, val, NULL, NULL, &a->domains, &a->n_domains) != 0)
                    return SV_EINVAL;
            } else {
                return fail(c,
                            "unknown key (tlsAuth entries have cert, key, password and domains)");
            }
            pop(c, at2);
        }
        if (a->cert == NULL || a->key == NULL)
            return fail(c, "needs both cert and key (PEM text or a file's path)");
        pop(c, at);
    }
    return 0;
}

static int get_tls_version(ctx_t *c, const json_t *v, sv_tls_version_t *out)
{
    const char *str = NULL;
    if (get_string(c, v, &str) != 0)
        return SV_EINVAL;
    if (!sv_tls_version_parse(str, out))
        return fail(c, "unknown TLS version \"%s\" (tls1.0, tls1.1, tls1.2 or tls1.3)", str);
    return 0;
}

/* k6's tlsVersion: "tls1.2" (exactly that), or { min = "tls1.2", max = "tls1.3" }. */
static int read_tls_version(ctx_t *c, sv_tls_opts_t *t, const json_t *v)
{
    if (json_is_string(v)) {
        if (get_tls_version(c, v, &t->min_version) != 0)
            return SV_EINVAL;
        t->max_version = t->min_version;
        return 0;
    }
    if (!json_is_object(v))
        return expected(c, "\"tls1.2\" or { min = \"tls1.2\", max = \"tls1.3\" }", v);
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)v, key, val)
    {
        size_t at = push(c, key);
        int rc = strcmp(key, "min") == 0   ? get_tls_version(c, val, &t->min_version)
                 : strcmp(key, "max") == 0 ? get_tls_version(c, val, &t->max_version)
                                           : fail(c, "unknown key (tlsVersion has min and max)");
        if (rc != 0)
            return rc;
        pop(c, at);
    }
    if (t->min_version && t->max_version && t->min_version > t->max_version)
        return fail(c, "min is above max");
    return 0;
}

static int read_tls_key(ctx_t *c, sv_plan_t *plan, const char *key, const json_t *v, bool *taken)
{
    sv_tls_opts_t *t = &plan->tls;
    const char *str = NULL;
    *taken = true;
    if (strcmp(key, "insecureSkipTLSVerify") == 0)
        return get_bool(c, v, &t->insecure);
    if (strcmp(key, "tlsAuth") == 0)
        return read_tls_auth(c, t, v);
    if (strcmp(key, "tlsVersion") == 0)
        return read_tls_version(c, t, v);
    if (strcmp(key, "tlsCipherSuites") == 0)
        return get_string_list(c, v, sv_tls_cipher_known, "a cipher suite OpenSSL knows",
                               &t->ciphers, &t->n_ciphers);
    if (strcmp(key, "tlsCACert") == 0) {
        if (get_string(c, v, &str) != 0)
            return SV_EINVAL;
        free(t->ca_file);
        t->ca_file = sv_xstrdup(str);
        return 0;
    }
    *taken = false;
    return 0;
}

/* ---- the top level ---------------------------------------------------------------- */

/* The shortcuts, until they become a scenario. */
typedef struct {
    const json_t *vus, *duration, *iterations, *stages;
} shortcuts_t;

/* k6 option keys salvo does not take yet, and what brings them. */
static const struct {
    const char *key, *when;
} later_keys[] = {
    {"hosts", "in a later release"},        {"batch", "in a later release"},
    {"batchPerHost", "in a later release"}, {"httpDebug", "in a later release; use --http-debug"},
    {"systemTags", "in a later release"},   {"summaryTimeUnit", "in a later release"},
    {"ext", "with distributed runs"},
};

static int read_segment(ctx_t *c, sv_plan_t *plan, const json_t *opts)
{
    const json_t *seg = json_object_get(opts, "executionSegment");
    const json_t *seq = json_object_get(opts, "executionSegmentSequence");
    const char *segment = NULL, *sequence = NULL, *why;
    size_t at = push(c, seg ? "executionSegment" : "executionSegmentSequence");
    if ((seg && get_string(c, seg, &segment) != 0) || (seq && get_string(c, seq, &sequence)))
        return SV_EINVAL;
    if (segment == NULL)
        return fail(c, "a sequence needs executionSegment too");
    if (sv_plan_set_segment(plan, segment, sequence, &why) != 0)
        return fail(c, "%s", why);
    pop(c, at);
    return 0;
}

static int read_plain(ctx_t *c, sv_plan_t *plan, const char *key, const json_t *v)
{
    uint64_t n;
    const char *str = NULL;
    if (strcmp(key, "setupTimeout") == 0)
        return get_duration(c, v, false, &plan->setup_timeout_ns);
    if (strcmp(key, "teardownTimeout") == 0)
        return get_duration(c, v, false, &plan->teardown_timeout_ns);
    if (strcmp(key, "noConnectionReuse") == 0)
        return get_bool(c, v, &plan->no_connection_reuse);
    if (strcmp(key, "discardResponseBodies") == 0)
        return get_bool(c, v, &plan->discard_response_bodies);
    if (strcmp(key, "userAgent") == 0) {
        if (get_string(c, v, &str) != 0)
            return SV_EINVAL;
        free(plan->user_agent);
        plan->user_agent = sv_xstrdup(str);
        return 0;
    }
    if (strcmp(key, "rps") == 0)
        return get_count(c, v, 0, 100000000, &plan->rps);
    if (strcmp(key, "maxRedirects") == 0) {
        int rc = get_count(c, v, 0, 1000, &n);
        plan->max_redirects = (int)n;
        return rc;
    }
    if (strcmp(key, "tags") == 0)
        return get_string_map(c, v, &plan->tags, &plan->n_tags);
    if (strcmp(key, "thresholds") == 0)
        return read_thresholds(c, plan, v);
    if (strcmp(key, "summaryTrendStats") == 0)
        return read_trend_stats(c, plan, v);
    bool taken;
    int rc = read_tls_key(c, plan, key, v, &taken);
    if (taken)
        return rc;
    for (size_t i = 0; i < SV_ARRAY_SIZE(later_keys); i++)
        if (strcmp(key, later_keys[i].key) == 0)
            return fail(c, "not supported yet (it arrives %s)", later_keys[i].when);
    return fail(c, "unknown option (see docs/options.md for the options salvo takes)");
}

static int read_key(ctx_t *c, sv_plan_t *plan, shortcuts_t *sc, const char *key, const json_t *v)
{
    if (strcmp(key, "vus") == 0)
        sc->vus = v;
    else if (strcmp(key, "duration") == 0)
        sc->duration = v;
    else if (strcmp(key, "iterations") == 0)
        sc->iterations = v;
    else if (strcmp(key, "stages") == 0)
        sc->stages = v;
    else if (strcmp(key, "scenarios") == 0)
        return read_scenarios(c, plan, v);
    else if (strcmp(key, "executionSegment") != 0 && strcmp(key, "executionSegmentSequence") != 0)
        return read_plain(c, plan, key, v);
    return 0;
}

/* The shortcuts become one scenario named "default", as k6 makes them. */
static int shortcut_scenario(ctx_t *c, sv_plan_t *plan, const shortcuts_t *sc, bool scenarios)
{
    /* A top-level vus next to scenarios means nothing, and k6 ignores it: each
     * scenario sets its own. The shaping keys would contradict them. */
    if (scenarios && (sc->duration || sc->iterations || sc->stages))
        return fail(c, "%s: with scenarios, set it in each scenario instead",
                    sc->duration     ? "duration"
                    : sc->iterations ? "iterations"
                                     : "stages");
    if (sc->stages && (sc->duration || sc->iterations))
        return fail(c, "stages and %s: use one of them to shape the test",
                    sc->duration ? "duration" : "iterations");
    if (scenarios)
        return 0;
    sv_scenario_t *s = sv_plan_add_scenario(plan, "default");
    size_t at;
    int rc = 0;
#define READ(field, call)                                                                          \
    if (rc == 0 && sc->field) {                                                                    \
        at = push(c, #field);                                                                      \
        rc = call;                                                                                 \
        if (rc == 0)                                                                               \
            pop(c, at);                                                                            \
    }
    READ(vus, get_vus(c, sc->vus, 1, &s->vus));
    if (sc->stages) {
        s->executor = SV_EXEC_RAMPING_VUS;
        READ(stages, get_stages(c, sc->stages, &s->stages, &s->n_stages));
    } else if (sc->iterations) {
        s->executor = SV_EXEC_SHARED_ITERATIONS;
        READ(iterations, get_count(c, sc->iterations, 1, UINT64_MAX / 4, &s->iterations));
        READ(duration, get_duration(c, sc->duration, false, &s->max_duration_ns));
    } else if (sc->duration) {
        s->executor = SV_EXEC_CONSTANT_VUS;
        READ(duration, get_duration(c, sc->duration, false, &s->duration_ns));
    } else {
        s->executor = SV_EXEC_SHARED_ITERATIONS; /* no shape: one iteration, as k6 */
    }
#undef READ
    if (s->executor == SV_EXEC_SHARED_ITERATIONS && s->vus > s->iterations)
        s->vus = (uint32_t)s->iterations; /* more VUs than iterations would idle */
    return rc;
}

int sv_options_apply(sv_plan_t *plan, const json_t *opts, const char *where, char *err, size_t size)
{
    ctx_t c = {.err = err, .size = size};
    snprintf(c.path, sizeof(c.path), "%s", where);
    if (!json_is_object(opts))
        return expected(&c, "a table of options", opts);
    shortcuts_t sc = {0};
    size_t before = plan->n_scenarios;
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)opts, key, v)
    {
        size_t at = push(&c, key);
        if (read_key(&c, plan, &sc, key, v) != 0)
            return SV_EINVAL;
        pop(&c, at);
    }
    if ((json_object_get(opts, "executionSegment") ||
         json_object_get(opts, "executionSegmentSequence")) &&
        read_segment(&c, plan, opts) != 0)
        return SV_EINVAL;
    return shortcut_scenario(&c, plan, &sc, plan->n_scenarios > before);
}

/* ---- layers ---------------------------------------------------------------------------- */

static const char *const shaping_keys[] = {"duration", "iterations", "stages", "scenarios"};

void sv_options_merge(json_t *acc, const json_t *upper)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(shaping_keys); i++)
        if (json_object_get(upper, shaping_keys[i])) {
            for (size_t j = 0; j < SV_ARRAY_SIZE(shaping_keys); j++)
                json_object_del(acc, shaping_keys[j]);
            break;
        }
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)upper, key, v)
    {
        json_t *mine = json_object_get(acc, key);
        if (strcmp(key, "tags") == 0 && json_is_object(mine) && json_is_object(v)) {
            /* into a copy: `mine` is a lower layer's own tags object (json_object_set
             * below shares it), which updating in place would change */
            json_t *tags = json_copy(mine);
            json_object_update(tags, v);
            json_object_set_new(acc, key, tags);
        } else {
            json_object_set(acc, key, v);
        }
    }
}

/* SALVO_* variables and the option each one sets, with how to read its text. */
typedef enum { ENV_TEXT, ENV_NUMBER, ENV_BOOL, ENV_LIST, ENV_STAGES } env_kind_t;

static const struct {
    const char *var, *key;
    env_kind_t kind;
} env_options[] = {
    {"SALVO_VUS", "vus", ENV_NUMBER},
    {"SALVO_DURATION", "duration", ENV_TEXT},
    {"SALVO_ITERATIONS", "iterations", ENV_NUMBER},
    {"SALVO_STAGES", "stages", ENV_STAGES},
    {"SALVO_SETUP_TIMEOUT", "setupTimeout", ENV_TEXT},
    {"SALVO_TEARDOWN_TIMEOUT", "teardownTimeout", ENV_TEXT},
    {"SALVO_NO_CONNECTION_REUSE", "noConnectionReuse", ENV_BOOL},
    {"SALVO_USER_AGENT", "userAgent", ENV_TEXT},
    {"SALVO_SUMMARY_TREND_STATS", "summaryTrendStats", ENV_LIST},
    {"SALVO_DISCARD_RESPONSE_BODIES", "discardResponseBodies", ENV_BOOL},
    {"SALVO_RPS", "rps", ENV_NUMBER},
    {"SALVO_MAX_REDIRECTS", "maxRedirects", ENV_NUMBER},
    {"SALVO_EXECUTION_SEGMENT", "executionSegment", ENV_TEXT},
    {"SALVO_EXECUTION_SEGMENT_SEQUENCE", "executionSegmentSequence", ENV_TEXT},
    {"SALVO_INSECURE_SKIP_TLS_VERIFY", "insecureSkipTLSVerify", ENV_BOOL},
    {"SALVO_TLS_VERSION", "tlsVersion", ENV_TEXT},
    {"SALVO_TLS_CIPHER_SUITES", "tlsCipherSuites", ENV_LIST},
    {"SALVO_TLS_CA_CERT", "tlsCACert", ENV_TEXT},
};

/* "30s:10,1m:0" as k6's K6_STAGES and --stage spell stages. Text that is not in
 * that form stays a string, for the options reader to refuse. */
static json_t *stages_json(const char *text)
{
    json_t *list = json_array();
    char *copy = sv_xstrdup(text), *save = NULL;
    for (char *part = strtok_r(copy, ",", &save); part; part = strtok_r(NULL, ",", &save)) {
        char *colon = strchr(part, ':'), *end;
        long long target = colon ? strtoll(colon + 1, &end, 10) : -1;
        if (colon == NULL || colon[1] == '\0' || *end || target < 0) {
            json_decref(list);
            free(copy);
            return json_string(text);
        }
        *colon = '\0';
        json_array_append_new(
            list, json_pack("{s:s,s:I}", "duration", part, "target", (json_int_t)target));
    }
    free(copy);
    return list;
}

static json_t *env_value(const char *text, env_kind_t kind)
{
    char *end;
    switch (kind) {
    case ENV_NUMBER: {
        double d = strtod(text, &end);
        /* json_real() gives NULL for inf and nan, and the option silently vanished from
         * the layer: those stay text too, for the reader to refuse */
        return *text && *end == '\0' && isfinite(d) ? json_real(d) : json_string(text);
    }
    case ENV_BOOL:
        if (strcmp(text, "true") == 0 || strcmp(text, "1") == 0)
            return json_true();
        if (strcmp(text, "false") == 0 || strcmp(text, "0") == 0 || *text == '\0')
            return json_false();
        return json_string(text);
    case ENV_LIST: {
        json_t *list = json_array();
        char *copy = sv_xstrdup(text), *save = NULL;
        for (char *p = strtok_r(copy, ",", &save); p; p = strtok_r(NULL, ",", &save))
            json_array_append_new(list, json_string(p));
        free(copy);
        return list;
    }
    case ENV_STAGES:
        return stages_json(text);
    default:
        return json_string(text);
    }
}

json_t *sv_options_from_env(char *const *env)
{
    json_t *layer = json_object();
    for (char *const *e = env; e && *e; e++) {
        const char *eq = strchr(*e, '=');
        for (size_t i = 0; eq && i < SV_ARRAY_SIZE(env_options); i++)
            if (strlen(env_options[i].var) == (size_t)(eq - *e) &&
                strncmp(*e, env_options[i].var, (size_t)(eq - *e)) == 0)
                json_object_set_new(layer, env_options[i].key,
                                    env_value(eq + 1, env_options[i].kind));
    }
    return layer;
}

/* ---- back to JSON ---------------------------------------------------------------------- */

static json_t *duration_json(uint64_t ns)
{
    char buf[48];
    sv_format_duration(ns, buf, sizeof(buf));
    return json_string(buf);
}

static json_t *kv_json(const sv_kv_t *kv, size_t n)
{
    json_t *o = json_object();
    for (size_t i = 0; i < n; i++)
        json_object_set_new(o, kv[i].key, json_string(kv[i].value));
    return o;
}

static json_t *stages_to_json(const sv_scenario_t *s)
{
    json_t *list = json_array();
    for (size_t i = 0; i < s->n_stages; i++)
        json_array_append_new(list, json_pack("{s:o,s:I}", "duration",
                                              duration_json(s->stages[i].duration_ns), "target",
                                              (json_int_t)s->stages[i].target));
    return list;
}

json_t *sv_scenario_to_json(const sv_scenario_t *s)
{
    json_t *o = json_pack("{s:s,s:o,s:o}", "executor", sv_executor_name(s->executor), "startTime",
                          duration_json(s->start_time_ns), "gracefulStop",
                          duration_json(s->graceful_stop_ns));
    if (s->exec)
        json_object_set_new(o, "exec", json_string(s->exec));
    if (s->n_env)
        json_object_set_new(o, "env", kv_json(s->env, s->n_env));
    if (s->n_tags)
        json_object_set_new(o, "tags", kv_json(s->tags, s->n_tags));
    unsigned takes = executor_keys[s->executor].takes;
    if (takes & K_VUS)
        json_object_set_new(o, "vus", json_integer(s->vus));
    if (takes & K_START_VUS)
        json_object_set_new(o, "startVUs", json_integer(s->vus));
    if (takes & K_PREALLOCATED)
        json_object_set_new(o, "preAllocatedVUs", json_integer(s->vus));
    if (takes & K_MAX_VUS)
        json_object_set_new(o, "maxVUs", json_integer(s->max_vus));
    if (takes & K_ITERATIONS)
        json_object_set_new(o, "iterations", json_integer((json_int_t)s->iterations));
    if (takes & K_MAX_DURATION)
        json_object_set_new(o, "maxDuration", duration_json(s->max_duration_ns));
    if (takes & K_DURATION)
        json_object_set_new(o, "duration", duration_json(s->duration_ns));
    if (takes & K_STAGES)
        json_object_set_new(o, "stages", stages_to_json(s));
    if (takes & K_RAMP_DOWN)
        json_object_set_new(o, "gracefulRampDown", duration_json(s->graceful_ramp_down_ns));
    if (takes & K_RATE)
        json_object_set_new(o, "rate", json_integer((json_int_t)s->rate.count));
    if (takes & K_START_RATE)
        json_object_set_new(o, "startRate", json_integer((json_int_t)s->start_rate));
    if (takes & K_TIME_UNIT)
        json_object_set_new(o, "timeUnit", duration_json(s->rate.per_ns));
    if (takes & K_OVERLOAD)
        json_object_set_new(o, "overload", json_string(s->overload_queue ? "queue" : "drop"));
    return o;
}

/* ---- segments ------------------------------------------------------------------------- */

static int parse_cuts(const char *list, sv_frac_t *cuts, size_t *n, const char **why)
{
    char *copy = sv_xstrdup(list), *save = NULL;
    *n = 0;
    int rc = 0;
    for (char *p = strtok_r(copy, ",", &save); p && rc == 0; p = strtok_r(NULL, ",", &save)) {
        if (*n == SV_SEGMENT_MAX_CUTS || sv_frac_parse(p, &cuts[*n]) != 0) {
            *why = "expected a sequence of fractions such as \"0,1/3,2/3,1\"";
            rc = SV_EINVAL;
        }
        (*n)++;
    }
    free(copy);
    return rc;
}

static bool frac_eq(sv_frac_t a, sv_frac_t b)
{
    return a.num * b.den == b.num * a.den;
}

static int set_segment(sv_plan_t *plan, const sv_frac_t *cuts, size_t n, size_t index,
                       const char *label, const char **why)
{
    sv_segment_t seg;
    if (sv_segment_init(&seg, cuts, n, index, why) != 0)
        return SV_EINVAL;
    sv_segment_free(&plan->segment);
    plan->segment = seg;
    free(plan->segment_label);
    plan->segment_label = sv_xstrdup(label);
    return 0;
}

int sv_plan_set_segment(sv_plan_t *plan, const char *segment, const char *sequence,
                        const char **why)
{
    const char *colon = strchr(segment, ':');
    char from_text[64], short_form[80];
    sv_frac_t from, to;
    if (colon == NULL && strlen(segment) < 64) { /* k6's "1/3" is "0:1/3" */
        snprintf(short_form, sizeof(short_form), "0:%s", segment);
        segment = short_form;
        colon = segment + 1;
    }
    if (colon == NULL || (size_t)(colon - segment) >= sizeof(from_text)) {
        *why = "expected a segment such as \"1/4:2/4\" or \"0.25:0.5\"";
        return SV_EINVAL;
    }
    snprintf(from_text, sizeof(from_text), "%.*s", (int)(colon - segment), segment);
    if (sv_frac_parse(from_text, &from) != 0 || sv_frac_parse(colon + 1, &to) != 0 ||
        from.num * to.den >= to.num * from.den) {
        *why = "expected a segment such as \"1/4:2/4\" or \"0.25:0.5\" (from below to)";
        return SV_EINVAL;
    }
    sv_frac_t *cuts = sv_xcalloc(SV_SEGMENT_MAX_CUTS, sizeof(*cuts));
    size_t n = 0, index = SIZE_MAX;
    int rc = 0;
    if (sequence) {
        rc = parse_cuts(sequence, cuts, &n, why);
    } else { /* k6's default sequence: 0, from, to, 1 (without repeats) */
        cuts[n++] = (sv_frac_t){0, 1};
        if (from.num != 0)
            cuts[n++] = from;
        cuts[n++] = to;
        if (to.num != to.den)
            cuts[n++] = (sv_frac_t){1, 1};
    }
    for (size_t i = 0; rc == 0 && i + 1 < n; i++)
        if (frac_eq(cuts[i], from) && frac_eq(cuts[i + 1], to))
            index = i;
    if (rc == 0 && index == SIZE_MAX) {
        *why = "the segment is not one of the sequence's (its ends must be adjacent cut points)";
        rc = SV_EINVAL;
    }
    if (rc == 0)
        rc = set_segment(plan, cuts, n, index, segment, why);
    free(cuts);
    return rc;
}

int sv_plan_set_segment_index(sv_plan_t *plan, const char *i_of_n, const char **why)
{
    unsigned long long i, n;
    char extra;
    if (sscanf(i_of_n, "%llu/%llu%c", &i, &n, &extra) != 2 || n == 0 || i == 0 || i > n ||
        n > SV_SEGMENT_MAX_CUTS - 1) {
        *why = "expected i/n with 1 <= i <= n <= 1024, such as 2/3";
        return SV_EINVAL;
    }
    sv_frac_t *cuts = sv_xcalloc(n + 1, sizeof(*cuts));
    for (size_t k = 0; k <= n; k++)
        cuts[k] = (sv_frac_t){k, n};
    int rc = set_segment(plan, cuts, n + 1, i - 1, i_of_n, why);
    free(cuts);
    return rc;
}
