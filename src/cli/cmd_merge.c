/*
 * `salvo merge a.json b.json … -o merged.json`: the exports of one test's segments
 * (or of any runs of one test) combined into one, exactly: every series is added
 * from its serialized value, so counts are sums and percentiles come from merged
 * histograms, never from averaged percentiles. The thresholds are judged again on
 * the whole, with the exit code that implies.
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

static int merge(merge_args_t *a, char **paths, int n)
{
    json_t *docs[MAX_INPUTS] = {0};
    sv_catalog_t *catalog = sv_catalog_new();
    sv_plan_t plan;
    sv_plan_init(&plan);
    sv_registry_t *reg = NULL;
    int code = SV_EXIT_USAGE, loaded = 0;
    for (; loaded < n; loaded++) {
        const char *why;
        if ((docs[loaded] = load(paths[loaded])) == NULL)
            goto out;
        json_t *totals = json_object_get(json_object_get(docs[loaded], "salvo"), "totals");
        if (sv_series_declare(catalog, totals, &why) != 0) {
            sv_cli_error("%s: %s", paths[loaded], why);
            goto out;
        }
    }
    reg = sv_registry_new(catalog);
    if (plan_of(&plan, docs, paths, n) != 0 || load_totals(reg, docs, paths, n) != 0)
        goto out;
    sv_report_t report = {
        .plan = &plan, .catalog = catalog, .totals = reg, .duration_ns = longest_ns(docs, n)};
    sv_engine_evaluate_thresholds(&report);
    if (!a->quiet)
        sv_output_summary(stdout, &report);
    const char *why;
    code = report.thresholds_failed ? SV_EXIT_THRESHOLDS : SV_EXIT_OK;
    if (a->output && sv_output_export(&report, a->output, &why) != 0) {
        sv_cli_error("-o: cannot write \"%s\": %s", a->output, why);
        code = SV_EXIT_USAGE;
    }
    if (report.thresholds_failed)
        sv_cli_error("thresholds failed on the merged run: %zu of %zu", report.thresholds_failed,
                     report.n_thresholds);
    free(report.thresholds);
out:
    for (int i = 0; i < loaded && i < n; i++)
        json_decref(docs[i]);
    sv_registry_free(reg);
    sv_plan_free(&plan);
    sv_catalog_free(catalog);
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
