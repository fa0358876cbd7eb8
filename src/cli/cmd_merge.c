/*
 * `salvo merge a.json b.json … -o merged.json`: the exports of one test's segments
 * (or of any runs of one test) combined into one, exactly: every series is added
 * from its serialized value, so counts are sums and percentiles come from merged
 * histograms, never from averaged percentiles. The thresholds are judged again on
 * the whole, with the exit code that implies.
 *
 * `salvo report summary.json`: one export loaded the same way, as an HTML report.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../engine/engine.h"
#include "../output/output.h"
#include "../output/series.h"
#include "../plan/options.h"
#include "options.h"

#define MAX_INPUTS 1024

typedef struct {
    const char *output;
    bool quiet;
} merge_args_t;

static int opt_output(void *ctx, const char *v)
{
    ((merge_args_t *)ctx)->output = v;
    return 0;
}

static int opt_quiet(void *ctx, const char *v)
{
    ((merge_args_t *)ctx)->quiet = true;
    return 0;
}

static const sv_opt_t merge_options[] = {
    {"output", 'o', "FILE", "write the merged export to FILE", opt_output},
    {"quiet", 'q', NULL, "no summary on stdout", opt_quiet},
    {0},
};

static const char merge_usage[] =
    "Usage: salvo merge EXPORT.json EXPORT.json … [-o merged.json]\n"
    "\n"
    "Combines the --summary-export files of one test's segments (salvo run --segment\n"
    "1/3, 2/3, 3/3) into one: counters and checks summed, percentiles from merged\n"
    "histograms, thresholds judged again on the whole (exit 99 when one fails).\n"
    "\n";

/* The gauges that add up across segments run side by side. */
static const char *const summed_gauges[] = {"vus", "vus_max", NULL};

static json_t *load(const char *path)
{
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL && jerr.line < 0) {
        sv_cli_error("%s: %s", path, jerr.text);
        return NULL;
    }
    if (doc == NULL) {
        sv_cli_error("%s: not JSON: %s (line %d)", path, jerr.text, jerr.line);
        return NULL;
    }
    json_t *salvo = json_object_get(doc, "salvo");
    if (!json_is_object(json_object_get(salvo, "totals"))) {
        sv_cli_error("%s: not a salvo summary export with totals (write one with salvo run "
                     "--summary-export FILE)",
                     path);
        json_decref(doc);
        return NULL;
    }
    return doc;
}

/* The plan the runs shared: their scenarios, thresholds and trend columns. */
static int plan_of(sv_plan_t *plan, json_t **docs, char **paths, int n)
{
    json_t *first = json_object_get(docs[0], "salvo");
    json_t *scenarios = json_object_get(json_object_get(first, "config"), "scenarios");
    for (int i = 1; i < n; i++) {
        json_t *other = json_object_get(
            json_object_get(json_object_get(docs[i], "salvo"), "config"), "scenarios");
        if (!json_equal(scenarios, other))
            return sv_cli_error("%s: its scenarios differ from %s's; merge the segments of "
                                "one test",
                                paths[i], paths[0]);
    }
    json_t *opts = json_deep_copy(json_object_get(first, "options"));
    if (!json_is_object(opts))
        opts = json_object();
    if (json_is_object(scenarios) && json_object_size(scenarios))
        json_object_set(opts, "scenarios", scenarios);
    char where[300], err[512];
    snprintf(where, sizeof(where), "%s: salvo.options", paths[0]);
    int rc = sv_options_apply(plan, opts, where, err, sizeof(err));
    json_decref(opts);
    return rc == 0 ? 0 : sv_cli_error("%s", err);
}

static int load_totals(sv_registry_t *reg, json_t **docs, char **paths, int n)
{
    for (int i = 0; i < n; i++) {
        const char *why;
        json_t *totals = json_object_get(json_object_get(docs[i], "salvo"), "totals");
        if (sv_series_load(reg, totals, summed_gauges, &why) != 0)
            return sv_cli_error("%s: %s", paths[i], why);
    }
    return 0;
}

/* The longest run: segments run side by side, so the test took as long as it. */
static uint64_t longest_ns(json_t **docs, int n)
{
    double ms = 0;
    for (int i = 0; i < n; i++) {
        double d =
            json_number_value(json_object_get(json_object_get(docs[i], "salvo"), "duration_ms"));
        ms = d > ms ? d : ms;
    }
    return (uint64_t)(ms * 1e6);
}

/* The runs second by second, for the merged export's charts. Segments started
 * together (--start-at): the second that ended at t seconds into one run is that of
 * every run. Rates and VUs add up; a second's latency percentiles cannot be merged
 * from the columns, so the highest of the runs' goes in (an upper bound, and a spike
 * in one segment still shows). */
static sv_tick_t *merged_ticks(json_t **docs, int n, size_t *count)
{
    static const char *const columns[] = {"t_s", "reqs_per_s", "failed_per_s", "iterations_per_s",
                                          "vus", "p50_ms",     "p95_ms",       "p99_ms"};
    sv_tick_t *ticks = NULL;
    *count = 0;
    for (int d = 0; d < n; d++) {
        json_t *ts = json_object_get(json_object_get(docs[d], "salvo"), "timeseries");
        json_t *col[SV_ARRAY_SIZE(columns)];
        for (size_t c = 0; c < SV_ARRAY_SIZE(columns); c++)
            col[c] = json_object_get(ts, columns[c]);
        for (size_t i = 0; i < json_array_size(col[0]); i++) {
            double v[SV_ARRAY_SIZE(columns)];
            for (size_t c = 0; c < SV_ARRAY_SIZE(columns); c++)
                v[c] = json_number_value(json_array_get(col[c], i));
            size_t k = v[0] < 0.5 ? 0 : (size_t)(v[0] + 0.5) - 1; /* the second it ended */
            if (k >= 86400 * 31)
                continue; /* not a run's second */
            if (k >= *count) {
                ticks = sv_xrealloc(ticks, (k + 1) * sizeof(*ticks));
                memset(ticks + *count, 0, (k + 1 - *count) * sizeof(*ticks));
                *count = k + 1;
            }
            sv_tick_t *t = &ticks[k];
            t->t_s = (double)(k + 1);
            t->reqs_per_s += v[1];
            t->failed_per_s += v[2];
            t->iterations_per_s += v[3];
            t->vus += v[4];
            t->p50_ms = SV_MAX(t->p50_ms, v[5]);
            t->p95_ms = SV_MAX(t->p95_ms, v[6]);
            t->p99_ms = SV_MAX(t->p99_ms, v[7]);
        }
    }
    return ticks;
}

/* Exports loaded into one report: the runs' plan, their series merged. */
typedef struct {
    json_t *docs[MAX_INPUTS];
    int n;
    sv_catalog_t *catalog;
    sv_plan_t plan;
    sv_registry_t *reg;
    sv_report_t report;
} runs_t;

/* What the export's configuration says was run, for the report's heading. */
static void target_of(sv_plan_t *plan, json_t *doc)
{
    json_t *config = json_object_get(json_object_get(doc, "salvo"), "config");
    const char *script = json_string_value(json_object_get(config, "script"));
    json_t *request = json_object_get(config, "request");
    const char *method = json_string_value(json_object_get(request, "method"));
    const char *url = json_string_value(json_object_get(request, "url"));
    plan->script = script ? sv_xstrdup(script) : NULL;
    if (method && url) {
        plan->request.method = sv_xstrdup(method);
        plan->request.url = sv_xstrdup(url);
    }
}

/* Returns 0, or an exit code after an error line. */
static int runs_load(runs_t *r, char **paths, int n)
{
    r->catalog = sv_catalog_new();
    sv_plan_init(&r->plan);
    for (; r->n < n; r->n++) {
        const char *why;
        if ((r->docs[r->n] = load(paths[r->n])) == NULL)
            return SV_EXIT_USAGE;
        json_t *totals = json_object_get(json_object_get(r->docs[r->n], "salvo"), "totals");
        if (sv_series_declare(r->catalog, totals, &why) != 0) {
            sv_cli_error("%s: %s", paths[r->n], why);
            return SV_EXIT_USAGE;
        }
    }
    r->reg = sv_registry_new(r->catalog);
    if (plan_of(&r->plan, r->docs, paths, n) != 0 || load_totals(r->reg, r->docs, paths, n) != 0)
        return SV_EXIT_USAGE;
    target_of(&r->plan, r->docs[0]);
    r->report = (sv_report_t){.plan = &r->plan,
                              .catalog = r->catalog,
                              .totals = r->reg,
                              .duration_ns = longest_ns(r->docs, n)};
    r->report.ticks = merged_ticks(r->docs, n, &r->report.n_ticks);
    sv_engine_evaluate_thresholds(&r->report);
    return 0;
}

static void runs_free(runs_t *r)
{
    for (int i = 0; i < r->n; i++)
        json_decref(r->docs[i]);
    free(r->report.thresholds);
    free(r->report.ticks);
    sv_registry_free(r->reg);
    sv_plan_free(&r->plan);
    sv_catalog_free(r->catalog);
}

static int merge(merge_args_t *a, char **paths, int n)
{
    runs_t runs = {0};
    int code = runs_load(&runs, paths, n);
    if (code != 0)
        goto out;
    const sv_report_t *report = &runs.report;
    if (!a->quiet)
        sv_output_summary(stdout, report);
    const char *why;
    code = report->thresholds_failed ? SV_EXIT_THRESHOLDS : SV_EXIT_OK;
    if (a->output && sv_output_export(report, a->output, &why) != 0) {
        sv_cli_error("-o: cannot write \"%s\": %s", a->output, why);
        code = SV_EXIT_USAGE;
    }
    if (report->thresholds_failed)
        sv_cli_error("thresholds failed on the merged run: %zu of %zu", report->thresholds_failed,
                     report->n_thresholds);
out:
    runs_free(&runs);
    return code;
}

int sv_cmd_merge(int argc, char **argv)
{
    merge_args_t a = {0};
    char *paths[MAX_INPUTS];
    int n = sv_opts_parse(merge_options, "salvo merge", argc, argv, 2, &a, paths, MAX_INPUTS);
    if (n == -2) {
        fputs(merge_usage, stdout);
        sv_opts_help(stdout, "salvo merge", merge_options);
        return SV_EXIT_OK;
    }
    if (n < 0)
        return SV_EXIT_USAGE;
    if (n == 0) {
        sv_cli_error("nothing to merge: give the export files (salvo merge a.json b.json -o "
                     "merged.json)");
        return SV_EXIT_USAGE;
    }
    return merge(&a, paths, n);
}

/* ---- salvo report ----------------------------------------------------------------- */

static const sv_opt_t report_options[] = {
    {"output", 'o', "FILE", "where to write the HTML report (default report.html)", opt_output},
    {0},
};

static const char report_usage[] =
    "Usage: salvo report SUMMARY.json [-o report.html]\n"
    "\n"
    "Writes the HTML report of a run from its --summary-export file (or a merged one):\n"
    "one self-contained page with the verdict, thresholds, checks, every metric, charts\n"
    "over time and the latency distribution. It opens offline.\n"
    "\n";

int sv_cmd_report(int argc, char **argv)
{
    merge_args_t a = {.output = "report.html"};
    char *paths[1];
    int n = sv_opts_parse(report_options, "salvo report", argc, argv, 2, &a, paths, 1);
    if (n == -2) {
        fputs(report_usage, stdout);
        sv_opts_help(stdout, "salvo report", report_options);
        return SV_EXIT_OK;
    }
    if (n < 0)
        return SV_EXIT_USAGE;
    if (n == 0) {
        sv_cli_error("give the summary file: salvo report summary.json -o report.html");
        return SV_EXIT_USAGE;
    }
    runs_t runs = {0};
    int code = runs_load(&runs, paths, 1);
    const char *why;
    if (code == 0 && sv_output_html(&runs.report, runs.docs[0], a.output, &why) != 0) {
        sv_cli_error("-o: cannot write \"%s\": %s", a.output, why);
        code = SV_EXIT_USAGE;
    }
    if (code == 0)
        printf("salvo report: wrote %s\n", a.output);
    runs_free(&runs);
    return code;
}
