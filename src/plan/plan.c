/*
 * Plan lifecycle and the value parsers shared by every way of writing a plan.
 */
#include "plan.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>
#include <time.h>

#include "../util/util.h"

void sv_plan_init(sv_plan_t *p)
{
    *p = (sv_plan_t){
        .timeout_ns = 60 * SV_NS_PER_S,
        .max_response_bytes = 64ULL << 20,
        .setup_timeout_ns = 60 * SV_NS_PER_S,
        .teardown_timeout_ns = 60 * SV_NS_PER_S,
        .max_redirects = 10,
    };
    sv_segment_whole(&p->segment);
    const char *why;
    sv_plan_set_trend_stats(p, "avg,min,med,max,p(90),p(95)", &why);
}

int sv_plan_set_trend_stats(sv_plan_t *p, const char *list, const char **why)
{
    sv_trend_stat_t stats[SV_MAX_TREND_STATS];
    size_t n = 0;
    const char *s = list;
    while (*s) {
        size_t len = strcspn(s, ",");
        sv_trend_stat_t *st = &stats[n];
        if (n == SV_MAX_TREND_STATS || len == 0 || len >= sizeof(st->name)) {
            *why =
                n == SV_MAX_TREND_STATS ? "at most 16 statistics" : "empty or overlong statistic";
            return SV_EPARSE;
        }
        memcpy(st->name, s, len);
        st->name[len] = '\0';
        if (sv_agg_parse(st->name, &st->agg, &st->pct) != 0 ||
            !(sv_threshold_fits(st->agg, SV_TREND) || st->agg == SV_AGG_COUNT)) {
            *why = "statistics are avg, min, med, max, count and p(N)";
            return SV_EPARSE;
        }
        n++;
        s += len + (s[len] == ',');
    }
    if (n == 0) {
        *why = "give at least one statistic, e.g. avg,p(95)";
        return SV_EPARSE;
    }
    memcpy(p->trend_stats, stats, n * sizeof(*stats));
    p->n_trend_stats = n;
    return 0;
}

static void free_kvs(sv_kv_t *kv, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(kv[i].key);
        free(kv[i].value);
    }
    free(kv);
}

void sv_plan_free(sv_plan_t *p)
{
    for (size_t i = 0; i < p->n_scenarios; i++)
        sv_scenario_free(&p->scenarios[i]);
    free(p->scenarios);
    free(p->user_agent);
    sv_tls_opts_free(&p->tls);
    free(p->control_address);
    sv_segment_free(&p->segment);
    free(p->segment_label);
    free(p->request.method);
    free(p->request.url);
    free(p->request.body);
    free_kvs(p->request.headers, p->request.n_headers);
    free_kvs(p->tags, p->n_tags);
    free_kvs(p->env, p->n_env);
    for (size_t i = 0; i < p->n_thresholds; i++)
        sv_threshold_set_free(&p->thresholds[i]);
    free(p->thresholds);
    free(p->script);
    free(p->summary_export);
    *p = (sv_plan_t){0};
}

void sv_scenario_free(sv_scenario_t *s)
{
    free(s->name);
    free(s->exec);
    free_kvs(s->env, s->n_env);
    free_kvs(s->tags, s->n_tags);
    free(s->stages);
    *s = (sv_scenario_t){0};
}

sv_scenario_t *sv_plan_add_scenario(sv_plan_t *p, const char *name)
{
    p->scenarios = sv_xrealloc(p->scenarios, (p->n_scenarios + 1) * sizeof(*p->scenarios));
    sv_scenario_t *s = &p->scenarios[p->n_scenarios++];
    /* k6's defaults */
    *s = (sv_scenario_t){
        .name = sv_xstrdup(name),
        .vus = 1,
        .iterations = 1,
        .graceful_stop_ns = 30 * SV_NS_PER_S,
        .graceful_ramp_down_ns = 30 * SV_NS_PER_S,
        .max_duration_ns = 600 * SV_NS_PER_S,
        .rate = {1, SV_NS_PER_S},
    };
    return s;
}

int sv_plan_add_threshold(sv_plan_t *p, const char *key, const char *expr, bool abort_on_fail,
                          uint64_t delay_abort_ns, const char **why)
{
    sv_threshold_t t;
    if (sv_threshold_parse(expr, &t, why) != 0)
        return SV_EPARSE;
    t.abort_on_fail = abort_on_fail;
    t.delay_abort_ns = delay_abort_ns;
    sv_threshold_set_t *set = NULL;
    for (size_t i = 0; i < p->n_thresholds && !set; i++)
        if (strcmp(p->thresholds[i].key, key) == 0)
            set = &p->thresholds[i];
    if (set == NULL) {
        sv_threshold_set_t fresh;
        if (sv_threshold_set_init(&fresh, key, why) != 0) {
            sv_threshold_set_free(&fresh);
            free(t.source);
            return SV_EPARSE;
        }
        p->thresholds = sv_xrealloc(p->thresholds, (p->n_thresholds + 1) * sizeof(*p->thresholds));
        set = &p->thresholds[p->n_thresholds++];
        *set = fresh;
    }
    set->items = sv_xrealloc(set->items, (set->n_items + 1) * sizeof(*set->items));
    set->items[set->n_items++] = t;
    return 0;
}

int sv_plan_check_thresholds(const sv_plan_t *p, const sv_catalog_t *catalog, char *err,
                             size_t size)
{
    for (size_t i = 0; i < p->n_thresholds; i++) {
        const sv_threshold_set_t *set = &p->thresholds[i];
        int id = sv_catalog_find(catalog, set->metric);
        if (id < 0) {
            snprintf(err, size,
                     "thresholds: unknown metric \"%s\" (check the name, or declare "
                     "the custom metric in the script)",
                     set->metric);
            return SV_EINVAL;
        }
        sv_metric_type_t type = sv_catalog_get(catalog, (uint32_t)id)->type;
        for (size_t j = 0; j < set->n_items; j++)
            if (!sv_threshold_fits(set->items[j].agg, type)) {
                snprintf(err, size,
                         "thresholds: %s: \"%s\" does not apply to a %s metric "
                         "(use %s)",
                         set->key, set->items[j].source, sv_metric_type_name(type),
                         sv_metric_type_aggs(type));
                return SV_EINVAL;
            }
    }
    return 0;
}

void sv_kv_push(sv_kv_t **arr, size_t *n, const char *key, const char *value)
{
    *arr = sv_xrealloc(*arr, (*n + 1) * sizeof(**arr));
    (*arr)[*n] = (sv_kv_t){sv_xstrdup(key), sv_xstrdup(value)};
    (*n)++;
}

uint64_t sv_scenario_run_ns(const sv_scenario_t *s)
{
    switch (s->executor) {
    case SV_EXEC_SHARED_ITERATIONS:
    case SV_EXEC_PER_VU_ITERATIONS:
        return s->max_duration_ns;
    case SV_EXEC_RAMPING_VUS:
    case SV_EXEC_RAMPING_ARRIVAL_RATE:
        return sv_stages_total_ns(s->stages, s->n_stages);
    default:
        return s->duration_ns;
    }
}

uint64_t sv_scenario_max_ns(const sv_scenario_t *s)
{
    uint64_t grace = s->graceful_stop_ns;
    if (s->executor == SV_EXEC_RAMPING_VUS)
        grace = SV_MAX(grace, s->graceful_ramp_down_ns);
    return s->start_time_ns + sv_scenario_run_ns(s) + grace;
}

uint32_t sv_scenario_max_vus(const sv_scenario_t *s)
{
    switch (s->executor) {
    case SV_EXEC_RAMPING_VUS:
        return (uint32_t)sv_ramp_vus_max(s->vus, s->stages, s->n_stages);
    case SV_EXEC_CONSTANT_ARRIVAL_RATE:
    case SV_EXEC_RAMPING_ARRIVAL_RATE:
    case SV_EXEC_EXTERNALLY_CONTROLLED:
        return SV_MAX(s->max_vus, s->vus);
    default:
        return s->vus;
    }
}

bool sv_executor_is_open(sv_executor_t e)
{
    return e == SV_EXEC_CONSTANT_ARRIVAL_RATE || e == SV_EXEC_RAMPING_ARRIVAL_RATE;
}

static const char *const executor_names[SV_N_EXECUTORS] = {
    [SV_EXEC_SHARED_ITERATIONS] = "shared-iterations",
    [SV_EXEC_PER_VU_ITERATIONS] = "per-vu-iterations",
    [SV_EXEC_CONSTANT_VUS] = "constant-vus",
    [SV_EXEC_RAMPING_VUS] = "ramping-vus",
    [SV_EXEC_CONSTANT_ARRIVAL_RATE] = "constant-arrival-rate",
    [SV_EXEC_RAMPING_ARRIVAL_RATE] = "ramping-arrival-rate",
    [SV_EXEC_EXTERNALLY_CONTROLLED] = "externally-controlled",
};

const char *sv_executor_name(sv_executor_t e)
{
    return (unsigned)e < SV_N_EXECUTORS ? executor_names[e] : "?";
}

int sv_executor_parse(const char *name, sv_executor_t *e)
{
    for (int i = 0; i < SV_N_EXECUTORS; i++)
        if (strcmp(name, executor_names[i]) == 0) {
            *e = (sv_executor_t)i;
            return 0;
        }
    return SV_EPARSE;
}

static const struct {
    const char *suffix;
    double ns;
} duration_units[] = {
    {"ns", 1},  {"us", 1e3}, {"\xc2\xb5s", 1e3}, {"ms", 1e6},
    {"s", 1e9}, {"m", 60e9}, {"h", 3600e9},      {"d", 86400e9},
};

/* Reads a non-negative decimal number ("12", "1.5", ".5") at *p: digits and one
 * dot only, so "0x10" and "1e3" are not numbers here. */
static bool read_number(const char **p, double *out)
{
    const char *s = *p;
    double v = 0, scale = 1;
    bool digits = false, dot = false;
    for (;; s++) {
        if (isdigit((unsigned char)*s)) {
            digits = true;
            if (dot) {
                scale /= 10;
                v += (*s - '0') * scale;
            } else {
                v = v * 10 + (*s - '0');
            }
        } else if (*s == '.' && !dot) {
            dot = true;
        } else {
            break;
        }
    }
    if (!digits || !isfinite(v))
        return false;
    *p = s;
    *out = v;
    return true;
}

int sv_parse_duration(const char *s, uint64_t *ns)
{
    const char *p = s;
    double total = 0;
    if (s == NULL || *s == '\0')
        return SV_EPARSE;
    bool bare = true;
    for (const char *c = s; *c; c++)
        if (!isdigit((unsigned char)*c) && *c != '.')
            bare = false;
    if (bare) {
        double v;
        if (!read_number(&p, &v) || *p != '\0')
            return SV_EPARSE;
        total = v * 1e9;
    } else {
        while (*p) {
            double v;
            if (!read_number(&p, &v))
                return SV_EPARSE;
            size_t best = 0, best_len = 0;
            for (size_t i = 0; i < SV_ARRAY_SIZE(duration_units); i++) {
                size_t l = strlen(duration_units[i].suffix);
                if (strncmp(p, duration_units[i].suffix, l) == 0 && l > best_len &&
                    !isalpha((unsigned char)p[l])) {
                    best = i;
                    best_len = l;
                }
            }
            if (best_len == 0)
                return SV_EPARSE;
            total += v * duration_units[best].ns;
            p += best_len;
        }
    }
    if (total >= 9.2e18) /* beyond int64 nanoseconds (~292 years) */
        return SV_ERANGE;
    *ns = (uint64_t)llround(total);
    return 0;
}

int sv_parse_rate(const char *s, sv_rate_t *rate)
{
    if (s == NULL)
        return SV_EPARSE;
    const char *slash = strchr(s, '/');
    char count_str[32];
    size_t n = slash ? (size_t)(slash - s) : strlen(s);
    if (n == 0 || n >= sizeof(count_str))
        return SV_EPARSE;
    memcpy(count_str, s, n);
    count_str[n] = '\0';
    uint64_t count;
    if (sv_parse_uint(count_str, 1000000000ULL, &count) != 0)
        return SV_EPARSE;
    uint64_t per = 1000000000ULL;
    if (slash) {
        const char *unit = slash + 1;
        char with_one[32];
        /* "/s" means "/1s" */
        if (*unit != '\0' && !isdigit((unsigned char)*unit) && strlen(unit) < 16) {
            snprintf(with_one, sizeof(with_one), "1%s", unit);
            unit = with_one;
        }
        if (sv_parse_duration(unit, &per) != 0 || per == 0)
            return SV_EPARSE;
    }
    rate->count = count;
    rate->per_ns = per;
    return 0;
}

int sv_parse_uint(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (s == NULL || *s == '\0')
        return SV_EPARSE;
    for (const char *c = s; *c; c++) {
        if (!isdigit((unsigned char)*c))
            return SV_EPARSE;
        unsigned d = (unsigned)(*c - '0');
        if (v > (UINT64_MAX - d) / 10)
            return SV_ERANGE;
        v = v * 10 + d;
    }
    if (v == 0 || v > max)
        return SV_ERANGE;
    *out = v;
    return 0;
}

int sv_parse_size(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *suffix;
        double mult;
    } units[] = {{"", 1},       {"b", 1},         {"kb", 1e3},          {"mb", 1e6},
                 {"gb", 1e9},   {"k", 1e3},       {"m", 1e6},           {"g", 1e9},
                 {"kib", 1024}, {"mib", 1048576}, {"gib", 1073741824.0}};
    const char *p = s;
    double v;
    if (s == NULL || !read_number(&p, &v))
        return SV_EPARSE;
    while (*p == ' ')
        p++;
    for (size_t i = 0; i < SV_ARRAY_SIZE(units); i++) {
        if (strcasecmp(p, units[i].suffix) == 0) {
            double b = v * units[i].mult;
            if (b > 1e18)
                return SV_ERANGE;
            *bytes = (uint64_t)llround(b);
            return 0;
        }
    }
    return SV_EPARSE;
}

void sv_format_duration(uint64_t ns, char *out, size_t size)
{
    if (size == 0)
        return;
    if (ns < 1000000000ULL) {
        snprintf(out, size, "%gms", (double)ns / 1e6);
        return;
    }
    uint64_t ms = ns / 1000000ULL;
    unsigned long long h = ms / 3600000, m = ms / 60000 % 60;
    double sec = (double)(ms % 60000) / 1000.0;
    if (h)
        snprintf(out, size, "%lluh%llum%gs", h, m, sec);
    else if (m)
        snprintf(out, size, "%llum%gs", m, sec);
    else
        snprintf(out, size, "%gs", sec);
}

/* Exactly `width` digits at *p (sscanf's %2d also took "1", " 1" and "-1"). */
static bool fixed_digits(const char **p, int width, int *out)
{
    int v = 0;
    for (int i = 0; i < width; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return false;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += width;
    *out = v;
    return true;
}

int sv_parse_rfc3339(const char *s, uint64_t *ns)
{
    /* Strict RFC 3339: fixed-width fields, a real calendar day (timegm would quietly
     * move 2026-02-30 to March 2), an offset within a day, at least one digit after a
     * point, the fraction in whole nanoseconds (not a double) and a result that fits
     * in 64 bits of nanoseconds (year 9999 wrapped around before). */
    static const int mdays[12] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    struct tm tm = {0};
    const char *p = s;
    if (p == NULL || !fixed_digits(&p, 4, &tm.tm_year) || *p++ != '-' ||
        !fixed_digits(&p, 2, &tm.tm_mon) || *p++ != '-' || !fixed_digits(&p, 2, &tm.tm_mday))
        return SV_EPARSE;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return SV_EPARSE;
    p++;
    if (!fixed_digits(&p, 2, &tm.tm_hour) || *p++ != ':' || !fixed_digits(&p, 2, &tm.tm_min) ||
        *p++ != ':' || !fixed_digits(&p, 2, &tm.tm_sec))
        return SV_EPARSE;
    uint64_t frac = 0;
    if (*p == '.') {
        uint64_t scale = SV_NS_PER_S;
        if (!isdigit((unsigned char)p[1]))
            return SV_EPARSE;
        for (p++; isdigit((unsigned char)*p); p++) {
            scale /= 10; /* 0 past nanoseconds: those digits are dropped */
            frac += (uint64_t)(*p - '0') * scale;
        }
    }
    long offset = 0;
    int oh, om;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        long sign = *p++ == '-' ? -1 : 1;
        if (!fixed_digits(&p, 2, &oh) || *p++ != ':' || !fixed_digits(&p, 2, &om) || oh > 23 ||
            om > 59)
            return SV_EPARSE;
        offset = sign * (oh * 3600L + om * 60L);
    } else {
        return SV_EPARSE;
    }
    bool leap = tm.tm_year % 4 == 0 && (tm.tm_year % 100 != 0 || tm.tm_year % 400 == 0);
    if (*p || tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 ||
        tm.tm_mday > mdays[tm.tm_mon - 1] - (tm.tm_mon == 2 && !leap) || tm.tm_hour > 23 ||
        tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_year < 1970)
        return SV_EPARSE;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm) - offset;
    if (t < 0 || (uint64_t)t > (UINT64_MAX - SV_NS_PER_S) / SV_NS_PER_S)
        return SV_EPARSE;
    *ns = (uint64_t)t * SV_NS_PER_S + frac;
    return 0;
}
