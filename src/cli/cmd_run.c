/*
 * `salvo run`: a script or one URL, with the options of every layer (run.h), turned
 * into a plan, run, summarized and exported.
 */
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "../engine/engine.h"
#include "../engine/script.h"
#include "../http/client.h"
#include "../output/output.h"
#include "../output/outputs.h"
#include "options.h"
#include "run.h"

static int read_body_file(run_args_t *a)
{
    sv_buf_t b;
    int rc = sv_read_file(a->body_file, &b);
    if (rc != 0)
        return sv_cli_error("--body-file: cannot read \"%s\": %s", a->body_file, strerror(-rc));
    a->plan.request.body = b.data;
    a->plan.request.body_len = b.len;
    return 0;
}

static int build_request(run_args_t *a)
{
    sv_request_spec_t *rq = &a->plan.request;
    if (a->url == NULL)
        return sv_cli_error("nothing to run: give a script (salvo run test.lua) or --url "
                            "http://host:port/path (see 'salvo run --help')");
    if (a->body && a->body_file)
        return sv_cli_error("--body and --body-file both given; use one of them");
    if (a->body) {
        rq->body = sv_xstrdup(a->body);
        rq->body_len = strlen(a->body);
    } else if (a->body_file && read_body_file(a) != 0) {
        return -1;
    }
    rq->method = sv_xstrdup(a->method ? a->method : rq->body ? "POST" : "GET");
    rq->url = sv_xstrdup(a->url);

    sv_http_header_t *headers = sv_xcalloc(rq->n_headers + 1, sizeof(*headers));
    for (size_t i = 0; i < rq->n_headers; i++)
        headers[i] = (sv_http_header_t){rq->headers[i].key, rq->headers[i].value};
    sv_http_request_t probe;
    const char *why = NULL;
    int rc =
        sv_http_request_init(&probe, rq->method, rq->url, headers, rq->n_headers, NULL, 0, &why);
    free(headers);
    if (rc != 0) /* method and headers were checked as options: the URL is at fault */
        return sv_cli_error("--url: \"%s\": %s", rq->url, why);
    sv_http_request_free(&probe);
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Per-sample outputs: what one worker keeps in a second before it drops samples
 * (24 bytes each: 96 MB at most). */
#define SAMPLES_PER_WORKER_SECOND (4u << 20)

static void on_period(const sv_report_t *so_far, void *arg)
{
    sv_outputs_period(arg, so_far);
}

static void on_samples(const sv_sample_t *s, size_t n, uint64_t lost, uint64_t wall_offset_ns,
                       void *arg)
{
    sv_outputs_samples(arg, s, n, lost, wall_offset_ns);
}

static void on_progress(const sv_progress_t *p, void *arg)
{
    sv_output_progress(stdout, p);
}

/* Fails early, before any load, when the export file cannot be written. */
static int check_export_path(const char *path)
{
    FILE *f = fopen(path, "a");
    if (f == NULL)
        return sv_cli_error("--summary-export: cannot write \"%s\": %s", path, strerror(errno));
    fclose(f);
    return 0;
}

/* Loads the script and runs its init stage. */
static int load_script(run_args_t *a, int *code)
{
    FILE *f = fopen(a->plan.script, "r");
    if (f == NULL) {
        *code = SV_EXIT_USAGE;
        return sv_cli_error("cannot open script \"%s\": %s", a->plan.script, strerror(errno));
    }
    fclose(f);
    char err[SV_LUA_ERR_SIZE];
    if (sv_script_load(&a->script, &a->plan, a->catalog, err) != 0) {
        const char *aborted = a->script ? sv_script_aborted(a->script) : NULL;
        *code = aborted ? SV_EXIT_SCRIPT_ABORT : SV_EXIT_SCRIPT_ERROR;
        if (aborted)
            return sv_cli_error("the init stage aborted the test: %s", aborted);
        return sv_cli_error("%s", err);
    }
    return 0;
}

/* Prints the summary (or hands it to the script's handle_summary) and writes the
 * export. Returns an exit code for failures, or 0. */
static int report_results(run_args_t *a, sv_report_t *report, bool progress)
{
    sv_plan_t *plan = &a->plan;
    int code = 0;
    if (progress)
        sv_output_progress_done(stdout);
    /* outputs first: what they could not deliver goes into the summary */
    report->n_output_notes = sv_outputs_finish(a->outputs, report, &report->output_notes);
    bool handled = false;
    if (a->script) {
        char *json = sv_output_export_json(report);
        char err[SV_LUA_ERR_SIZE];
        if (sv_script_handle_summary(a->script, json, &handled, err) != 0) {
            sv_cli_error("handle_summary: %s", err);
            code = SV_EXIT_SCRIPT_ERROR;
            handled = false; /* the default summary, rather than nothing */
        }
        free(json);
    }
    if (!handled && !plan->no_summary)
        sv_output_summary(stdout, report);
    else
        for (size_t i = 0; i < report->n_output_notes; i++)
            sv_cli_error("%s", report->output_notes[i]);
    const char *why;
    if (plan->summary_export && sv_output_export(report, plan->summary_export, &why) != 0) {
        sv_cli_error("--summary-export: cannot write \"%s\": %s", plan->summary_export, why);
        code = code ? code : SV_EXIT_USAGE;
    }
    return code;
}

static int execute(run_args_t *a)
{
    sv_plan_t *plan = &a->plan;
    bool progress = !plan->quiet && !plan->no_progress && isatty(STDOUT_FILENO);
    sv_engine_opts_t opts = {
        .catalog = a->catalog,
        .progress = progress ? on_progress : NULL,
        .period = a->outputs ? on_period : NULL,
        .period_arg = a->outputs,
        .samples = sv_outputs_want_samples(a->outputs) ? on_samples : NULL,
        .keep_samples = SAMPLES_PER_WORKER_SECOND,
    };
    char err[SV_LUA_ERR_SIZE];
    raise_fd_limit();
    if (!plan->quiet)
        sv_output_banner(stdout, plan, sv_engine_workers_for(plan));
    if (a->script) {
        int rc = sv_script_setup(a->script, err);
        if (rc != 0) {
            const char *aborted = sv_script_aborted(a->script);
            if (aborted)
                sv_cli_error("setup() aborted the test: %s", aborted);
            else
                sv_cli_error("%s", err);
            return aborted              ? SV_EXIT_SCRIPT_ABORT
                   : rc == SV_ETIMEDOUT ? SV_EXIT_SETUP_TIMEOUT
                                        : SV_EXIT_SCRIPT_ERROR;
        }
        opts.setup_json = sv_script_setup_json(a->script);
    }
    sv_report_t report;
    char why[512];
    if (sv_engine_run(plan, &opts, &report, why, sizeof(why)) != 0) {
        sv_cli_error("%s", why);
        return SV_EXIT_USAGE;
    }
    /* The run is over: a late Ctrl-C must not cut the summary or the export short. */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    int teardown = 0;
    if (a->script && !report.abandoned) {
        teardown = sv_script_teardown(a->script, err);
        if (teardown != 0)
            sv_cli_error("%s", err);
        sv_script_merge_samples(a->script, report.totals);
        sv_engine_evaluate_thresholds(&report);
    }
    int failure = report_results(a, &report, progress);
    bool teardown_aborted = teardown && sv_script_aborted(a->script);
    int code = report.script_error                  ? SV_EXIT_SCRIPT_ERROR
               : report.threshold_abort             ? SV_EXIT_THRESHOLDS
               : report.aborted || teardown_aborted ? SV_EXIT_SCRIPT_ABORT
               : report.interrupted                 ? SV_EXIT_EXTERNAL_ABORT
               : teardown == SV_ETIMEDOUT           ? SV_EXIT_TEARDOWN_TIMEOUT
               : teardown                           ? SV_EXIT_SCRIPT_ERROR
               : report.thresholds_failed           ? SV_EXIT_THRESHOLDS
                                                    : failure;
    if (report.aborted)
        sv_cli_error("the test was aborted: %s", report.aborted);
    else if (report.thresholds_failed)
        sv_cli_error("thresholds failed: %zu of %zu (see the summary)", report.thresholds_failed,
                     report.n_thresholds);
    if (report.abandoned) {
        /* Workers are still running on memory the run owns: leave without tearing
         * anything down (and without fflush(NULL): a stuck worker may hold stderr). */
        fflush(stdout);
        _exit(code);
    }
    sv_engine_report_free(&report);
    return code;
}

int sv_cmd_run(int argc, char **argv)
{
    run_args_t a = {.flags = json_object()};
    sv_plan_init(&a.plan);
    char *positional[1];
    int code = SV_EXIT_USAGE;
    int n = sv_opts_parse(sv_run_options, "salvo run", argc, argv, 2, &a, positional, 1);
    if (n == -2) {
        fputs(sv_run_usage, stdout);
        sv_opts_help(stdout, "salvo run", sv_run_options);
        code = SV_EXIT_OK;
        goto out;
    }
    if (n < 0)
        goto out;
    if (n == 1) {
        if (strncmp(positional[0], "http://", 7) == 0 || strncmp(positional[0], "https://", 8) == 0)
            a.url = positional[0];
        else
            a.plan.script = sv_xstrdup(positional[0]);
    }
    if (a.plan.script && (a.url || a.method || a.body || a.body_file || a.plan.request.n_headers)) {
        sv_cli_error("%s is for --url tests; a script makes its own requests",
                     a.url                      ? "--url"
                     : a.method                 ? "--method"
                     : a.plan.request.n_headers ? "--header"
                                                : "--body");
        goto out;
    }
    a.catalog = sv_catalog_new();
    if (a.plan.script ? load_script(&a, &code) != 0 : build_request(&a) != 0)
        goto out;
    if ((code = sv_run_configure(&a)) != 0)
        goto out;
    char err[512];
    if (sv_tls_new(&a.tls, &a.plan.tls, err, sizeof(err)) != 0) {
        sv_cli_error("%s", err);
        code = SV_EXIT_USAGE;
        goto out;
    }
    a.plan.tls_context = a.tls;
    if (a.plan.summary_export && check_export_path(a.plan.summary_export) != 0) {
        code = SV_EXIT_USAGE;
        goto out;
    }
    if (a.n_outs && sv_outputs_open(&a.outputs, a.outs, a.n_outs, a.catalog, a.out_required, err,
                                    sizeof(err)) != 0) {
        sv_cli_error("%s", err);
        code = SV_EXIT_USAGE;
        goto out;
    }
    code = execute(&a);
out:
    sv_script_free(a.script);
    sv_catalog_free(a.catalog);
    sv_plan_free(&a.plan);
    sv_tls_free(a.tls);
    json_decref(a.flags);
    sv_outputs_close(a.outputs);
    for (size_t i = 0; i < a.n_outs; i++)
        free(a.outs[i]);
    free(a.outs);
    return code;
}
