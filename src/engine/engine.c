/*
 * The collector: starts the workers, merges their snapshots once a second into
 * the run's totals, samples VUs and the generator's health, reports progress, and
 * turns SIGINT/SIGTERM into a graceful stop (a second signal stops at once).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../sched/sched.h"
#include "engine_int.h"

#define TICK_MS 1000
#define SATURATED_CPU 0.90
#define LAGGING_MS 10.0
#define JOIN_SLACK_NS (10 * 1000000ULL) /* a start this close to --start-at is on time */

/* By default a worker gets at least this many VUs: one worker drives thousands, and
 * splitting a handful of VUs over threads only fragments the pool. */
#define MIN_VUS_PER_DEFAULT_WORKER 8

uint32_t sv_engine_workers_for(const sv_plan_t *plan)
{
    uint32_t workers = plan->workers ? plan->workers : (uint32_t)uv_available_parallelism();
    uint64_t units = 0; /* the most VUs any scenario can use */
    for (size_t i = 0; i < plan->n_scenarios; i++) {
        const sv_scenario_t *s = &plan->scenarios[i];
        uint64_t n = sv_scenario_max_vus(s);
        if (s->executor == SV_EXEC_SHARED_ITERATIONS)
            n = SV_MIN(n, s->iterations);
        units = SV_MAX(units, sv_segment_count(&plan->segment, n));
    }
    if (!plan->workers)
        units = (units + MIN_VUS_PER_DEFAULT_WORKER - 1) / MIN_VUS_PER_DEFAULT_WORKER;
    if (units < workers)
        workers = (uint32_t)SV_MAX(units, 1);
    return workers ? workers : 1;
}

static void abort_run(sv_engine_t *e, const char *reason, int how);

/* ---- merging ------------------------------------------------------------------- */

/* Folds worker i's snapshot into the interval; its samples go to per-sample outputs. */
static void absorb(sv_engine_t *e, uint32_t i, sv_snapshot_t *s)
{
    if (s == NULL)
        return;
    if (e->opts->samples) {
        size_t n;
        uint64_t lost;
        const sv_sample_t *samples = sv_snapshot_samples(s, &n, &lost);
        e->live_health[i].samples_dropped += lost;
        if (n || lost)
            e->opts->samples(samples, n, lost, e->wall_offset_ns, e->opts->period_arg);
    }
    sv_registry_merge(e->interval, s);
}

static void collect_ready(sv_engine_t *e)
{
    for (uint32_t i = 0; i < e->n_workers; i++) {
        sv_worker_t *w = &e->workers[i];
        uv_mutex_lock(&w->lock);
        sv_snapshot_t *s = w->ready;
        w->ready = NULL;
        uv_mutex_unlock(&w->lock);
        if (s == NULL)
            continue;
        absorb(e, i, s);
        uv_mutex_lock(&w->lock);
        w->spare[w->n_spare++] = s;
        uv_mutex_unlock(&w->lock);
    }
}

/* Moves the interval into the totals, noting what the progress line needs. */
static double fold_interval(sv_engine_t *e)
{
    uint64_t reqs = 0;
    size_t cursor = 0;
    sv_series_t *s;
    while ((s = sv_registry_next(e->interval, &cursor)) != NULL) {
        if (!s->dirty)
            continue;
        if (s->metric == SV_M_HTTP_REQS) {
            reqs += (uint64_t)s->v.counter;
        } else if (s->metric == SV_M_ITERATIONS) {
            e->tick_iterations += (uint64_t)s->v.counter;
        } else if (s->metric == SV_M_HTTP_REQ_FAILED) {
            e->failed_so_far += s->v.rate.nonzero;
            e->tick_failed += s->v.rate.nonzero;
        } else if (s->metric == SV_M_HTTP_REQ_DURATION && s->v.trend) {
            sv_hist_merge(e->duration_so_far, s->v.trend);
            sv_hist_merge(e->tick_duration, s->v.trend);
        }
    }
    e->reqs_so_far += reqs;
    sv_registry_take(e->interval, e->scratch);
    sv_registry_merge(e->totals, e->scratch);
    return (double)reqs;
}

/* Sums the workers' active (or peak) and created VUs. */
static void count_vus(sv_engine_t *e, bool peak, uint32_t *active, uint32_t *max)
{
    *active = *max = 0;
    for (uint32_t i = 0; i < e->n_workers; i++) {
        sv_worker_t *w = &e->workers[i];
        *active += atomic_load_explicit(peak ? &w->vus_peak : &w->vus_active, memory_order_relaxed);
        *max += atomic_load_explicit(&w->vus_max, memory_order_relaxed);
    }
}

static void sample_vus(sv_engine_t *e, bool peak)
{
    uint32_t active, max;
    count_vus(e, peak, &active, &max);
    sv_series_add(e->totals, sv_registry_series(e->totals, SV_M_VUS, NULL), active);
    sv_series_add(e->totals, sv_registry_series(e->totals, SV_M_VUS_MAX, NULL), max);
    e->vus_sampled = true;
}

static void sample_cpu(sv_engine_t *e, uint64_t now)
{
    uint64_t wall = now - e->last_tick_ns;
    if (wall == 0)
        return;
    for (uint32_t i = 0; i < e->n_workers; i++) {
        uint64_t cpu = atomic_load_explicit(&e->workers[i].cpu_ns, memory_order_relaxed);
        /* Thread CPU is sampled every 100 ms, so one second may see slightly more than
         * a second of it. */
        sv_cpu_watch_t *c = &e->cpu[i];
        double frac = SV_MIN(1.0, (double)(cpu - c->last_ns) / (double)wall);
        c->last_ns = cpu;
        c->sum += frac;
        c->max = SV_MAX(c->max, frac);
        sv_worker_health_t *h = &e->live_health[i];
        h->cpu_mean = frac;
        h->cpu_max = c->max;
        h->lag_max_ms = (double)atomic_load(&e->workers[i].lag_max_us) / 1000.0;
        h->open_connections = atomic_load(&e->workers[i].open_connections);
    }
    e->cpu_samples++;
}

static void progress(sv_engine_t *e, double reqs, uint64_t now)
{
    if (e->opts->progress == NULL)
        return;
    uint32_t active, max;
    count_vus(e, false, &active, &max);
    sv_progress_t p = {
        .elapsed_ns = now - e->start_ns,
        .total_ns = e->planned_ns,
        .vus = active,
        .vus_max = max,
        .reqs_per_s = reqs * 1e9 / (double)(now - e->last_tick_ns),
        .reqs = e->reqs_so_far,
        .failed = e->failed_so_far,
        .p95_ms = sv_hist_percentile(e->duration_so_far, 95) / SV_TREND_SCALE,
        .stopping = e->signals > 0,
    };
    e->opts->progress(&p, e->opts->progress_arg);
}

void sv_engine_evaluate_thresholds(sv_report_t *r)
{
    free(r->thresholds);
    r->thresholds = sv_threshold_evaluate(r->plan->thresholds, r->plan->n_thresholds, r->totals,
                                          (double)r->duration_ns / 1e9, &r->n_thresholds);
    r->thresholds_failed = 0;
    for (size_t i = 0; i < r->n_thresholds; i++)
        r->thresholds_failed += !r->thresholds[i].passed;
}

/* abortOnFail thresholds, once a second on the totals so far. */
static void check_abort_thresholds(sv_engine_t *e, uint64_t now)
{
    const sv_plan_t *p = e->plan;
    double seconds = (double)(now - e->start_ns) / 1e9;
    size_t n;
    sv_threshold_result_t *res = NULL;
    for (size_t i = 0; i < p->n_thresholds && !e->threshold_abort; i++)
        for (size_t j = 0; j < p->thresholds[i].n_items; j++) {
            const sv_threshold_t *t = &p->thresholds[i].items[j];
            if (!t->abort_on_fail || now - e->start_ns < t->delay_abort_ns)
                continue;
            if (res == NULL)
                res = sv_threshold_evaluate(p->thresholds, p->n_thresholds, e->totals, seconds, &n);
            for (size_t k = 0; k < n; k++)
                if (res[k].t == t && !res[k].passed) {
                    char *why = sv_xasprintf("threshold %s '%s' crossed (abortOnFail)",
                                             p->thresholds[i].key, t->source);
                    e->threshold_abort = true;
                    abort_run(e, why, SV_STOP_GRACEFUL); /* in-flight iterations finish */
                    free(why);
                }
        }
    free(res);
}

/* The last moments of a run (less than a quarter second after the last tick) join
 * the last second rather than make a point of their own, whose rate would be
 * measured over too short a time. */
static bool fold_into_last_tick(sv_engine_t *e, double reqs, uint64_t now)
{
    double seconds = (double)(now - e->last_tick_ns) / 1e9;
    if (e->n_ticks == 0 || seconds >= 0.25)
        return false;
    sv_tick_t *t = &e->ticks[e->n_ticks - 1];
    double before = e->n_ticks > 1 ? e->ticks[e->n_ticks - 2].t_s : 0, span = t->t_s - before;
    double total = span + seconds;
    t->reqs_per_s = (t->reqs_per_s * span + reqs) / total;
    t->failed_per_s = (t->failed_per_s * span + (double)e->tick_failed) / total;
    t->iterations_per_s = (t->iterations_per_s * span + (double)e->tick_iterations) / total;
    t->t_s = (double)(now - e->start_ns) / 1e9;
    return true;
}

/* One second of the run for the charts; the tick's accumulators start over. */
static void record_tick(sv_engine_t *e, double reqs, uint64_t now, bool last)
{
    double seconds = (double)(now - e->last_tick_ns) / 1e9;
    if (seconds <= 0 || (last && fold_into_last_tick(e, reqs, now)))
        return;
    if (e->n_ticks == e->cap_ticks) {
        e->cap_ticks = e->cap_ticks ? e->cap_ticks * 2 : 64;
        e->ticks = sv_xrealloc(e->ticks, e->cap_ticks * sizeof(*e->ticks));
    }
    uint32_t active, max;
    count_vus(e, false, &active, &max);
    const sv_hist_t *h = e->tick_duration;
    bool any = sv_hist_count(h) > 0;
    e->ticks[e->n_ticks++] = (sv_tick_t){
        .t_s = (double)(now - e->start_ns) / 1e9,
        .reqs_per_s = reqs / seconds,
        .failed_per_s = (double)e->tick_failed / seconds,
        .iterations_per_s = (double)e->tick_iterations / seconds,
        .vus = active,
        .p50_ms = any ? sv_hist_percentile(h, 50) / SV_TREND_SCALE : 0,
        .p95_ms = any ? sv_hist_percentile(h, 95) / SV_TREND_SCALE : 0,
        .p99_ms = any ? sv_hist_percentile(h, 99) / SV_TREND_SCALE : 0,
    };
    sv_hist_reset(e->tick_duration);
    e->tick_failed = e->tick_iterations = 0;
}

/* Per-sample outputs get, once a second, the gauges the collector samples: VUs and
 * the generator's health per worker (CPU of the last second, worst loop lag so far,
 * open connections, samples dropped so far). */
static void gauge_samples(sv_engine_t *e, uint64_t now)
{
    if (e->opts->samples == NULL)
        return;
    size_t n = 0, cap = 2 + 4 * (size_t)e->n_workers;
    sv_sample_t *s = sv_xmalloc(cap * sizeof(*s));
    const sv_series_t *vus = sv_registry_series(e->totals, SV_M_VUS, NULL);
    const sv_series_t *vus_max = sv_registry_series(e->totals, SV_M_VUS_MAX, NULL);
    s[n++] = (sv_sample_t){vus, vus->v.gauge.value, now};
    s[n++] = (sv_sample_t){vus_max, vus_max->v.gauge.value, now};
    for (uint32_t i = 0; i < e->n_workers; i++) {
        char worker[16];
        snprintf(worker, sizeof(worker), "%u", i);
        sv_tag_t tag = {"worker", worker};
        const sv_tagset_t *tags = sv_registry_tags(e->health, &tag, 1);
        sv_series_t *cpu = sv_registry_series(e->health, SV_M_GENERATOR_CPU, tags);
        sv_series_t *lag = sv_registry_series(e->health, SV_M_GENERATOR_LOOP_LAG, tags);
        sv_series_t *conns = sv_registry_series(e->health, SV_M_GENERATOR_OPEN_CONNECTIONS, tags);
        sv_series_t *drops = sv_registry_series(e->health, SV_M_GENERATOR_DROPPED_SAMPLES, tags);
        const sv_worker_health_t *h = &e->live_health[i];
        s[n++] = (sv_sample_t){cpu, h->cpu_mean, now};
        s[n++] = (sv_sample_t){lag, h->lag_max_ms, now};
        s[n++] = (sv_sample_t){conns, h->open_connections, now};
        s[n++] = (sv_sample_t){drops, (double)h->samples_dropped, now};
    }
    e->opts->samples(s, n, 0, e->wall_offset_ns, e->opts->period_arg);
    free(s);
}

static void on_tick(uv_timer_t *t)
{
    sv_engine_t *e = sv_container_of(t, sv_engine_t, tick);
    uint64_t now = sv_now_ns();
    collect_ready(e);
    double reqs = fold_interval(e);
    if (atomic_load(&e->finished_workers) < e->n_workers) {
        sample_vus(e, false);
        sample_cpu(e, now);
        gauge_samples(e, now);
    }
    progress(e, reqs, now);
    record_tick(e, reqs, now, false);
    if (e->opts->period) {
        sv_report_t so_far = {.plan = e->plan,
                              .catalog = e->catalog,
                              .totals = e->totals,
                              .duration_ns = now - e->start_ns,
                              .workers = e->live_health,
                              .n_workers = e->n_workers};
        e->opts->period(&so_far, e->opts->period_arg);
    }
    e->last_tick_ns = now;
    check_abort_thresholds(e, now);
}

/* ---- lifecycle ------------------------------------------------------------------ */

static void on_worker_done(uv_async_t *a)
{
    sv_engine_t *e = sv_container_of(a, sv_engine_t, worker_done);
    if (atomic_load(&e->finished_workers) < e->n_workers)
        return;
    uv_timer_stop(&e->tick);
    uv_close((uv_handle_t *)&e->tick, NULL);
    uv_close((uv_handle_t *)&e->worker_done, NULL);
    uv_close((uv_handle_t *)&e->sigint, NULL);
    uv_close((uv_handle_t *)&e->sigterm, NULL);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    sv_engine_t *e = sig->data;
    if (++e->signals == 1) {
        for (uint32_t i = 0; i < e->n_workers; i++)
            sv_worker_request_stop(&e->workers[i], SV_STOP_NOW);
        return;
    }
    e->hard_stop = true; /* second signal: report what we have, now */
    uv_stop(&e->loop);
}

static void abort_run(sv_engine_t *e, const char *reason, int how)
{
    uv_mutex_lock(&e->abort_lock);
    bool first = e->abort_reason == NULL;
    if (first)
        e->abort_reason = sv_xstrdup(reason);
    uv_mutex_unlock(&e->abort_lock);
    if (first)
        for (uint32_t i = 0; i < e->n_workers; i++)
            sv_worker_request_stop(&e->workers[i], how);
}

void sv_engine_abort(sv_engine_t *e, const char *reason)
{
    abort_run(e, reason, SV_STOP_NOW);
}

/* Joins the workers and folds their last deltas in; the last (partial) second goes
 * to the timeline too. */
static void finish_workers(sv_engine_t *e, uint64_t end)
{
    for (uint32_t i = 0; i < e->n_workers && !e->hard_stop; i++)
        uv_thread_join(&e->workers[i].thread);
    collect_ready(e); /* older than the finals: per-sample outputs stay in time order */
    for (uint32_t i = 0; i < e->n_workers; i++) {
        sv_worker_t *w = &e->workers[i];
        uv_mutex_lock(&w->lock);
        bool finished = w->finished && !e->hard_stop;
        uv_mutex_unlock(&w->lock);
        if (finished)
            absorb(e, i, w->final);
    }
    /* the collector may have ticked after the load ended: the rest joins that tick */
    record_tick(e, fold_interval(e), SV_MAX(end, e->last_tick_ns + 1), true);
}

static void health_report(sv_engine_t *e, sv_report_t *r)
{
    r->n_workers = e->n_workers;
    r->workers = sv_xcalloc(e->n_workers, sizeof(*r->workers));
    for (uint32_t i = 0; i < e->n_workers; i++) {
        sv_worker_health_t *h = &r->workers[i];
        sv_worker_t *w = &e->workers[i];
        if (e->cpu_samples) {
            h->cpu_mean = e->cpu[i].sum / e->cpu_samples;
            h->cpu_max = e->cpu[i].max;
        } else {
            uint64_t wall = sv_now_ns() - e->start_ns;
            h->cpu_mean = h->cpu_max = (double)atomic_load(&w->cpu_ns) / (double)(wall ? wall : 1);
        }
        h->lag_max_ms = (double)atomic_load(&w->lag_max_us) / 1000.0;
        h->open_connections = atomic_load(&w->open_connections);
        h->samples_dropped = e->live_health[i].samples_dropped;
        h->lag_p99_ms = e->hard_stop ? h->lag_max_ms : sv_hist_percentile(w->lag, 99) / 1000.0;
        if (!r->saturated && h->cpu_mean >= SATURATED_CPU) {
            r->saturated = true;
            snprintf(r->saturation, sizeof(r->saturation), "worker %u was busy %.0f%% of the time",
                     i, h->cpu_mean * 100);
        }
        if (!r->lagging && h->lag_p99_ms >= LAGGING_MS) {
            r->lagging = true;
            snprintf(r->lag, sizeof(r->lag), "worker %u's event loop lagged %.1f ms (p99)", i,
                     h->lag_p99_ms);
        }
    }
}

static uint64_t planned_duration(const sv_plan_t *plan)
{
    uint64_t longest = 0;
    for (size_t i = 0; i < plan->n_scenarios; i++) {
        const sv_scenario_t *s = &plan->scenarios[i];
        bool iterations =
            s->executor == SV_EXEC_SHARED_ITERATIONS || s->executor == SV_EXEC_PER_VU_ITERATIONS;
        longest = SV_MAX(longest, iterations ? 0 : s->start_time_ns + sv_scenario_run_ns(s));
    }
    return longest;
}

/* Quick tests send one prepared request, built once and shared read-only. */
static int prepare_request(sv_engine_t *e, const sv_plan_t *plan)
{
    const sv_request_spec_t *rq = &plan->request;
    sv_http_header_t *headers = sv_xcalloc(rq->n_headers + 1, sizeof(*headers));
    size_t n = 0;
    for (size_t i = 0; i < rq->n_headers; i++)
        headers[n++] = (sv_http_header_t){rq->headers[i].key, rq->headers[i].value};
    if (plan->user_agent && !sv_http_has_header(headers, n, "User-Agent"))
        headers[n++] = (sv_http_header_t){"User-Agent", plan->user_agent};
    const char *why = NULL;
    int rc = sv_http_request_init(&e->request, rq->method, rq->url, headers, n, rq->body,
                                  rq->body_len, &why);
    free(headers);
    if (rc != 0)
        return SV_EINVAL;
    e->send_opts = (sv_http_send_opts_t){
        .timeout_ns = plan->timeout_ns,
        .keep_head = plan->http_debug != SV_DEBUG_OFF,
        .keep_body = plan->http_debug == SV_DEBUG_FULL,
        .close_after = plan->no_connection_reuse,
        .version = plan->http_version,
    };
    return 0;
}

static int engine_init(sv_engine_t *e, const sv_plan_t *plan, const sv_engine_opts_t *opts,
                       char *err, size_t size)
{
    if (plan->script == NULL && prepare_request(e, plan) != 0) {
        snprintf(err, size, "cannot build the request; check --url, --method and --header");
        return SV_EINVAL;
    }
    e->plan = plan;
    e->opts = opts;
    e->driver = plan->script ? &sv_script_driver : &sv_quick_driver;
    e->catalog = opts->catalog;
    uv_mutex_init(&e->abort_lock);
    e->interval = sv_registry_new(e->catalog);
    e->totals = sv_registry_new(e->catalog);
    e->scratch = sv_snapshot_new();
    e->duration_so_far = sv_hist_new();
    e->tick_duration = sv_hist_new();
    e->health = sv_registry_new(e->catalog);
    e->n_workers = sv_engine_workers_for(plan);
    e->workers = sv_xcalloc(e->n_workers, sizeof(*e->workers));
    e->cpu = sv_xcalloc(e->n_workers, sizeof(*e->cpu));
    e->live_health = sv_xcalloc(e->n_workers, sizeof(*e->live_health));
    e->planned_ns = planned_duration(plan);
    if (sv_control_open(e, err, size) != 0) {
        if (plan->script == NULL)
            sv_http_request_free(&e->request);
        return SV_EINVAL;
    }
    uv_loop_init(&e->loop);
    uv_async_init(&e->loop, &e->worker_done, on_worker_done);
    uv_signal_init(&e->loop, &e->sigint);
    uv_signal_init(&e->loop, &e->sigterm);
    e->sigint.data = e->sigterm.data = e;
    uv_signal_start(&e->sigint, on_signal, SIGINT);
    uv_signal_start(&e->sigterm, on_signal, SIGTERM);
    uv_timer_init(&e->loop, &e->tick);
    return 0;
}

static void engine_free(sv_engine_t *e)
{
    if (e->hard_stop)
        return; /* abandoned workers still run on this memory; the process exits now */
    for (uint32_t i = 0; i < e->n_workers; i++) {
        sv_worker_t *w = &e->workers[i];
        sv_snapshot_free(w->ready);
        sv_snapshot_free(w->final);
        for (int s = 0; s < w->n_spare; s++)
            sv_snapshot_free(w->spare[s]);
        sv_registry_free(w->reg);
        sv_hist_free(w->lag);
        uv_mutex_destroy(&w->lock);
    }
    free(e->workers);
    uv_loop_close(&e->loop);
    if (e->plan->script == NULL)
        sv_http_request_free(&e->request);
    uv_mutex_destroy(&e->abort_lock);
    free(e->abort_reason);
    sv_registry_free(e->interval);
    sv_snapshot_free(e->scratch);
    sv_hist_free(e->duration_so_far);
    sv_hist_free(e->tick_duration);
    sv_registry_free(e->health);
    free(e->cpu);
    free(e->live_health);
    free(e);
}

/* When the load ended: the last worker's end, not when the collector got to it (it
 * may have been busy writing an output). After a hard stop, now. */
static uint64_t run_end(sv_engine_t *e)
{
    uint64_t end = 0, now = sv_now_ns();
    for (uint32_t i = 0; i < e->n_workers && !e->hard_stop; i++) {
        uint64_t t = atomic_load(&e->workers[i].finished_ns);
        if (t == 0)
            return now;
        end = SV_MAX(end, t);
    }
    return end ? end : now;
}

static uint64_t wall_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * SV_NS_PER_S + (uint64_t)ts.tv_nsec;
}

/* --start-at: wait for the shared wall-clock start, or, when it has passed, start
 * the schedule in the past so this process joins its slice where it is now. */
static void wait_for_start(sv_engine_t *e)
{
    uint64_t at = e->plan->start_at_ns, wall = wall_ns();
    if (at > wall) {
        uint64_t wait = at - wall;
        struct timespec ts = {(time_t)(wait / SV_NS_PER_S), (long)(wait % SV_NS_PER_S)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
            ;
        wall = at;
    }
    uint64_t now = sv_now_ns();
    e->wall_offset_ns = wall_ns() - now;
    e->join_ns = at && wall > at + JOIN_SLACK_NS ? wall - at : 0;
    e->start_ns = now - SV_MIN(e->join_ns, now);
    e->last_tick_ns = now;
    if (e->join_ns) {
        char late[32];
        sv_format_duration(e->join_ns, late, sizeof(late));
        fprintf(stderr, "salvo: started %s after --start-at; the schedule goes on from there\n",
                late);
    }
}

int sv_engine_run(const sv_plan_t *plan, const sv_engine_opts_t *opts, sv_report_t *report,
                  char *err, size_t size)
{
    sv_engine_t *e = sv_xcalloc(1, sizeof(*e));
    if (engine_init(e, plan, opts, err, size) != 0) {
        free(e->workers);
        free(e->cpu);
        free(e->live_health);
        sv_registry_free(e->interval);
        sv_registry_free(e->totals);
        sv_snapshot_free(e->scratch);
        sv_hist_free(e->duration_so_far);
        sv_hist_free(e->tick_duration);
        sv_registry_free(e->health);
        uv_mutex_destroy(&e->abort_lock);
        free(e);
        return SV_EINVAL;
    }
    wait_for_start(e);
    for (uint32_t i = 0; i < e->n_workers; i++) {
        e->workers[i].engine = e;
        e->workers[i].index = i;
        sv_worker_start(&e->workers[i]);
    }
    atomic_store(&e->workers_started, true);
    uv_timer_start(&e->tick, on_tick, TICK_MS, TICK_MS);
    uv_run(&e->loop, UV_RUN_DEFAULT);
    uint64_t end = run_end(e);
    if (!e->hard_stop)
        sv_control_close(e);
    if (!e->vus_sampled)
        sample_vus(e, true); /* a run shorter than a tick still reports its VUs */
    finish_workers(e, end);

    *report = (sv_report_t){
        .plan = plan,
        .catalog = e->catalog,
        .totals = e->totals,
        .duration_ns = end - e->start_ns,
        .interrupted = e->signals > 0,
        .abandoned = e->hard_stop,
    };
    uv_mutex_lock(&e->abort_lock);
    report->aborted = e->abort_reason ? sv_xstrdup(e->abort_reason) : NULL;
    uv_mutex_unlock(&e->abort_lock);
    report->threshold_abort = e->threshold_abort;
    report->ticks = e->ticks; /* the report owns them now */
    report->n_ticks = e->n_ticks;
    e->ticks = NULL;
    report->script_error = e->script_error;
    sv_engine_evaluate_thresholds(report);
    health_report(e, report);
    engine_free(e);
    return 0;
}

void sv_engine_report_free(sv_report_t *r)
{
    free(r->ticks);
    free(r->thresholds);
    sv_registry_free(r->totals);
    free(r->workers);
    free(r->aborted);
    *r = (sv_report_t){0};
}
