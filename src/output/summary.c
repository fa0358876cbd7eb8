/*
 * The banner before a run, the live progress line and the end-of-test summary,
 * laid out as k6 lays them out so its users read them at a glance.
 */
#include <stdlib.h>

#include "output.h"

#define INDENT "     "

static void scenario_line(FILE *f, const sv_scenario_t *s)
{
    char dur[32], grace[32], maxd[32], start[48] = "";
    sv_format_duration(sv_scenario_run_ns(s), dur, sizeof(dur));
    sv_format_duration(s->graceful_stop_ns, grace, sizeof(grace));
    sv_format_duration(s->max_duration_ns, maxd, sizeof(maxd));
    if (s->start_time_ns) {
        char at[32];
        sv_format_duration(s->start_time_ns, at, sizeof(at));
        snprintf(start, sizeof(start), "startTime: %s, ", at);
    }
    fprintf(f, "           * %s: ", s->name);
    double unit_s = (double)s->rate.per_ns / 1e9;
    switch (s->executor) {
    case SV_EXEC_SHARED_ITERATIONS:
        fprintf(f, "%llu iterations shared among %u VUs", (unsigned long long)s->iterations,
                s->vus);
        break;
    case SV_EXEC_PER_VU_ITERATIONS:
        fprintf(f, "%llu iterations for each of %u VUs", (unsigned long long)s->iterations, s->vus);
        break;
    case SV_EXEC_CONSTANT_VUS:
        fprintf(f, "%u looping VUs for %s", s->vus, dur);
        break;
    case SV_EXEC_RAMPING_VUS:
        fprintf(f, "up to %u looping VUs for %s over %zu stages", sv_scenario_max_vus(s), dur,
                s->n_stages);
        break;
    case SV_EXEC_CONSTANT_ARRIVAL_RATE:
        fprintf(f, "%.2f iterations/s for %s", (double)s->rate.count / unit_s, dur);
        break;
    case SV_EXEC_RAMPING_ARRIVAL_RATE:
        fprintf(f, "up to %.2f iterations/s for %s over %zu stages",
                (double)sv_ramp_vus_max(s->start_rate, s->stages, s->n_stages) / unit_s, dur,
                s->n_stages);
        break;
    case SV_EXEC_EXTERNALLY_CONTROLLED:
        fprintf(f, "%u VUs, controlled by salvo scale (maxVUs: %u) for %s", s->vus, s->max_vus,
                s->duration_ns ? dur : "ever");
        break;
    }
    if (sv_executor_is_open(s->executor))
        fprintf(f, " (maxVUs: %u-%u, %sgracefulStop: %s%s)\n", s->vus, s->max_vus, start, grace,
                s->overload_queue ? ", overload: queue" : "");
    else if (s->executor == SV_EXEC_SHARED_ITERATIONS || s->executor == SV_EXEC_PER_VU_ITERATIONS)
        fprintf(f, " (%smaxDuration: %s, gracefulStop: %s)\n", start, maxd, grace);
    else
        fprintf(f, " (%sgracefulStop: %s)\n", start, grace);
}

void sv_output_banner(FILE *f, const sv_plan_t *plan, uint32_t workers)
{
    uint32_t max_vus = 0;
    uint64_t max_ns = 0;
    for (size_t i = 0; i < plan->n_scenarios; i++) {
        const sv_scenario_t *s = &plan->scenarios[i];
        max_vus += sv_scenario_max_vus(s);
        max_ns = SV_MAX(max_ns, sv_scenario_max_ns(s));
    }
    char maxd[32];
    sv_format_duration(max_ns, maxd, sizeof(maxd));
    if (plan->segment_label)
        fprintf(f, "\n  execution: local, segment %s of the test", plan->segment_label);
    else
        fprintf(f, "\n  execution: local");
    fprintf(f, ", %u worker%s (salvo %s)\n", workers, workers == 1 ? "" : "s", SV_VERSION);
    if (plan->script)
        fprintf(f, "     script: %s\n", plan->script);
    else
        fprintf(f, "     target: %s %s\n", plan->request.method, plan->request.url);
    if (plan->summary_export)
        fprintf(f, "     export: %s\n", plan->summary_export);
    fprintf(f,
            "\n  scenarios: %zu scenario%s, %u max VUs, %s max duration (incl. graceful stop):\n",
            plan->n_scenarios, plan->n_scenarios == 1 ? "" : "s", max_vus, maxd);
    for (size_t i = 0; i < plan->n_scenarios; i++)
        scenario_line(f, &plan->scenarios[i]);
    fputc('\n', f);
    fflush(f);
}

void sv_output_progress(FILE *f, const sv_progress_t *p)
{
    char elapsed[32], total[32], p95[32];
    sv_format_duration(p->elapsed_ns / 100000000 * 100000000, elapsed, sizeof(elapsed));
    sv_format_duration(p->total_ns, total, sizeof(total));
    sv_format_time_ms(p->p95_ms, p95, sizeof(p95));
    double failed = p->reqs ? 100.0 * (double)p->failed / (double)p->reqs : 0;
    fprintf(f, "\r\033[K%s (%s/%s), %u/%u VUs, %.0f req/s, %.2f%% failed, p(95)=%s",
            p->stopping ? "stopping" : "running", elapsed, p->total_ns ? total : "-", p->vus,
            p->vus_max, p->reqs_per_s, failed, p95);
    fflush(f);
}

void sv_output_progress_done(FILE *f)
{
    fputs("\r\033[K", f);
    fflush(f);
}

/* ---- the summary ------------------------------------------------------------------ */

typedef struct {
    char cells[SV_MAX_TREND_STATS][64]; /* name (24) "=" value (32) */
} trend_cells_t;

static void trend_row(const sv_plan_t *plan, const sv_summary_row_t *row, trend_cells_t *c)
{
    const sv_hist_t *h = row->agg.v.trend;
    for (size_t i = 0; i < plan->n_trend_stats; i++) {
        const sv_trend_stat_t *st = &plan->trend_stats[i];
        char num[32];
        double v = sv_trend_stat(h, st->agg, st->pct);
        if (row->def->contains == SV_CONTAINS_TIME && st->agg != SV_AGG_COUNT)
            sv_format_time_ms(v, num, sizeof(num));
        else
            snprintf(num, sizeof(num), "%g", v);
        snprintf(c->cells[i], sizeof(c->cells[i]), "%s=%s", st->name, num);
    }
}

/* Display width of UTF-8 text (every code point one column). */
static int columns(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static void print_padded(FILE *f, const char *s, int width)
{
    fputs(s, f);
    for (int i = columns(s); i < width; i++)
        fputc(' ', f);
}

static void print_value(FILE *f, const sv_summary_row_t *row, size_t n_stats, double seconds,
                        const int *widths, const trend_cells_t *cells)
{
    const sv_series_t *a = &row->agg;
    char num[48], rate[48];
    switch (a->type) {
    case SV_TREND:
        for (size_t i = 0; i < n_stats; i++)
            print_padded(f, cells->cells[i], i + 1 < n_stats ? widths[i] + 1 : 0);
        break;
    case SV_COUNTER:
        if (row->def->contains == SV_CONTAINS_DATA) {
            sv_format_bytes(a->v.counter, num, sizeof(num));
            sv_format_bytes(a->v.counter / seconds, rate, sizeof(rate));
            fprintf(f, "%-10s %s/s", num, rate);
        } else {
            snprintf(num, sizeof(num), "%.0f", a->v.counter);
            fprintf(f, "%-10s %.2f/s", num, a->v.counter / seconds);
        }
        break;
    case SV_RATE: {
        double pct =
            a->v.rate.total ? 100.0 * (double)a->v.rate.nonzero / (double)a->v.rate.total : 0;
        snprintf(num, sizeof(num), "%.2f%%", pct);
        fprintf(f, "%-10s \xe2\x9c\x93 %-10llu \xe2\x9c\x97 %llu", num,
                (unsigned long long)a->v.rate.nonzero,
                (unsigned long long)(a->v.rate.total - a->v.rate.nonzero));
        break;
    }
    case SV_GAUGE:
        snprintf(num, sizeof(num), "%g", a->v.gauge.value);
        fprintf(f, "%-10s min=%-10g max=%g", num, a->v.gauge.min, a->v.gauge.max);
        break;
    }
}

static void display_name(const sv_summary_row_t *row, char *out, size_t size)
{
    if (!row->sub) {
        snprintf(out, size, "%s", row->name);
        return;
    }
    const char *brace = strchr(row->name, '{');
    int len = (int)strlen(brace) - 2;
    if (len > 56) /* long URLs as names: keep the column readable */
        snprintf(out, size, "  { %.26s\xe2\x80\xa6%.29s }", brace + 1, brace + 1 + len - 29);
    else
        snprintf(out, size, "  { %.*s }", len, brace + 1);
}

static void print_metrics(FILE *f, const sv_report_t *r)
{
    sv_summary_row_t *rows;
    size_t n = sv_summary_rows(r, &rows);
    trend_cells_t *cells = sv_xcalloc(n ? n : 1, sizeof(*cells));
    int widths[SV_MAX_TREND_STATS] = {0};
    size_t n_stats = r->plan->n_trend_stats;
    size_t name_width = 0;
    for (size_t i = 0; i < n; i++) {
        char name[160];
        display_name(&rows[i], name, sizeof(name));
        name_width = SV_MAX(name_width, strlen(name));
        if (rows[i].agg.type != SV_TREND)
            continue;
        trend_row(r->plan, &rows[i], &cells[i]);
        for (size_t c = 0; c < n_stats; c++)
            widths[c] = SV_MAX(widths[c], columns(cells[i].cells[c]));
    }
    double seconds = (double)r->duration_ns / 1e9;
    if (seconds <= 0)
        seconds = 1e-9;
    for (size_t i = 0; i < n; i++) {
        char name[160];
        display_name(&rows[i], name, sizeof(name));
        fprintf(f, INDENT "%s", name);
        for (size_t d = strlen(name); d < name_width + 3; d++)
            fputc('.', f);
        fputs(": ", f);
        print_value(f, &rows[i], n_stats, seconds, widths, &cells[i]);
        fputc('\n', f);
    }
    free(cells);
    sv_summary_rows_free(rows, n);
}

static void print_errors(FILE *f, const sv_report_t *r)
{
    sv_error_kind_t *kinds;
    size_t n = sv_summary_errors(r, &kinds);
    if (n > 0) {
        fprintf(f, "\n" INDENT "errors (failed requests by kind):\n");
        for (size_t i = 0; i < n; i++)
            fprintf(f, INDENT "  %-5d %-52s %llu\n", kinds[i].code, kinds[i].message,
                    (unsigned long long)kinds[i].count);
    }
    sv_summary_errors_free(kinds, n);
}

static void print_generator(FILE *f, const sv_report_t *r)
{
    if (r->n_workers == 0)
        return; /* a merged report: each run judged its own generator */
    double cpu_max = 0, lag_max = 0;
    for (uint32_t i = 0; i < r->n_workers; i++) {
        cpu_max = SV_MAX(cpu_max, r->workers[i].cpu_mean);
        lag_max = SV_MAX(lag_max, r->workers[i].lag_p99_ms);
    }
    char lag[32];
    sv_format_time_ms(lag_max, lag, sizeof(lag));
    fprintf(f,
            "\n" INDENT "generator: %u worker%s, busiest at %.0f%% CPU, event-loop lag p(99) %s\n",
            r->n_workers, r->n_workers == 1 ? "" : "s", cpu_max * 100, lag);
    if (r->saturated)
        fprintf(f,
                INDENT
                "WARNING: the generator was saturated (%s): these figures are bounded by "
                "the generator, not the target. Add --workers or machines, or lower the load.\n",
                r->saturation);
    if (r->lagging)
        fprintf(f,
                INDENT "NOTE: %s: latencies include up to that much of the generator's own "
                       "delay. More --workers or fewer VUs per worker sharpen them.\n",
                r->lag);
}

static void print_group(FILE *f, const sv_group_node_t *g, int depth)
{
    int pad = 5 + 2 * depth;
    if (depth > 0)
        fprintf(f, "%*s\xe2\x96\x88 %s\n\n", pad - 2, "", g->name);
    for (size_t i = 0; i < g->n_checks; i++) {
        const sv_check_row_t *c = &g->checks[i];
        uint64_t total = c->passes + c->fails;
        fprintf(f, "%*s%s %s\n", pad, "", c->fails ? "\xe2\x9c\x97" : "\xe2\x9c\x93", c->name);
        if (c->fails)
            fprintf(f,
                    "%*s \xe2\x86\xb3  %.0f%% \xe2\x80\x94 \xe2\x9c\x93 %llu / \xe2\x9c\x97 %llu\n",
                    pad, "", 100.0 * (double)c->passes / (double)(total ? total : 1),
                    (unsigned long long)c->passes, (unsigned long long)c->fails);
    }
    if (g->n_checks)
        fputc('\n', f);
    for (size_t i = 0; i < g->n_children; i++)
        print_group(f, &g->children[i], depth + 1);
}

static void print_thresholds(FILE *f, const sv_report_t *r)
{
    if (r->n_thresholds == 0)
        return;
    fprintf(f, "  THRESHOLDS\n\n");
    const sv_threshold_set_t *set = NULL;
    for (size_t i = 0; i < r->n_thresholds; i++) {
        const sv_threshold_result_t *t = &r->thresholds[i];
        if (t->set != set) {
            set = t->set;
            fprintf(f, INDENT "%s\n", set->key);
        }
        char value[48];
        int id = sv_catalog_find(r->catalog, set->metric);
        bool time = id >= 0 &&
                    sv_catalog_get(r->catalog, (uint32_t)id)->contains == SV_CONTAINS_TIME &&
                    t->t->agg != SV_AGG_COUNT && t->t->agg != SV_AGG_RATE;
        if (t->no_data)
            snprintf(value, sizeof(value), "no samples");
        else if (time)
            sv_format_time_ms(t->observed, value, sizeof(value));
        else
            snprintf(value, sizeof(value), "%g", t->observed);
        fprintf(f, INDENT "%s '%s' %s\n", t->passed ? "\xe2\x9c\x93" : "\xe2\x9c\x97", t->t->source,
                value);
    }
    fputc('\n', f);
}

void sv_output_summary(FILE *f, const sv_report_t *r)
{
    char dur[32];
    sv_format_duration(r->duration_ns, dur, sizeof(dur));
    fprintf(f, "\n  %s after %s\n\n", r->interrupted ? "interrupted" : "finished", dur);
    print_thresholds(f, r);
    sv_group_node_t root;
    sv_summary_groups(r, &root);
    print_group(f, &root, 0);
    sv_summary_groups_free(&root);
    print_metrics(f, r);
    print_errors(f, r);
    print_generator(f, r);
    for (size_t i = 0; i < r->n_output_notes; i++)
        fprintf(f, INDENT "OUTPUT: %s\n", r->output_notes[i]);
    fputc('\n', f);
    fflush(f);
}
