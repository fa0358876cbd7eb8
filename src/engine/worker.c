/*
 * A worker thread: its own loop, registry, HTTP context and slice of every
 * scenario. Closed-model VUs loop iterations back to back; open-model iterations
 * start at their due times from the pacer, on a free VU, or are dropped (or queued,
 * with --overload queue). Every second the worker hands its metric deltas to the
 * collector through a two-slot exchange, so nothing is locked per request.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "../sched/sched.h"
#include "engine_int.h"

#define FLUSH_MS 1000
#define HEALTH_MS 100
#define MAX_QUEUE (1u << 20)

static void scenario_check_done(sv_wscenario_t *sc);
static void worker_finish(sv_worker_t *w);

/* ---- the exchange with the collector ---------------------------------------------- */

static void flush(sv_worker_t *w)
{
    sv_snapshot_t *s = NULL;
    uv_mutex_lock(&w->lock);
    if (w->ready == NULL && w->n_spare > 0)
        s = w->spare[--w->n_spare];
    uv_mutex_unlock(&w->lock);
    if (s == NULL)
        return; /* the collector is behind: the deltas wait in the series */
    sv_registry_take(w->reg, s);
    uv_mutex_lock(&w->lock);
    w->ready = s;
    uv_mutex_unlock(&w->lock);
}

static void on_flush(uv_timer_t *t)
{
    flush(sv_container_of(t, sv_worker_t, flush_timer));
}

static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void on_health(uv_timer_t *t)
{
    sv_worker_t *w = sv_container_of(t, sv_worker_t, health_timer);
    uint64_t now = sv_now_ns();
    uint64_t lag_us = now > w->next_health_ns ? (now - w->next_health_ns) / 1000 : 0;
    sv_hist_record(w->lag, lag_us);
    if (lag_us > atomic_load_explicit(&w->lag_max_us, memory_order_relaxed))
        atomic_store_explicit(&w->lag_max_us, lag_us, memory_order_relaxed);
    atomic_store_explicit(&w->cpu_ns, thread_cpu_ns(), memory_order_relaxed);
    w->next_health_ns = now + HEALTH_MS * 1000000ULL;
}

/* ---- VUs and iterations ---------------------------------------------------------- */

/* Active VUs: published for the collector's once-a-second sample; the peak is
 * kept too, for runs shorter than a sample. */
static void vu_activated(sv_worker_t *w)
{
    uint32_t n = atomic_fetch_add_explicit(&w->vus_active, 1, memory_order_relaxed) + 1;
    if (n > atomic_load_explicit(&w->vus_peak, memory_order_relaxed))
        atomic_store_explicit(&w->vus_peak, n, memory_order_relaxed);
}

static void vu_deactivated(sv_worker_t *w)
{
    atomic_fetch_sub_explicit(&w->vus_active, 1, memory_order_relaxed);
}

static sv_vu_t *new_vu(sv_wscenario_t *sc)
{
    sv_worker_t *w = sc->w;
    if (sc->n_vus == sc->cap_vus) {
        sc->cap_vus = sc->cap_vus ? sc->cap_vus * 2 : 16;
        sc->vus = sv_xrealloc(sc->vus, sc->cap_vus * sizeof(*sc->vus));
    }
    sv_vu_t *vu = sv_xcalloc(1, sizeof(*vu));
    vu->sc = sc;
    /* Striped over workers, offset past earlier scenarios: unique and dense. */
    uint32_t offset = 0;
    for (const sv_scenario_t *s = w->engine->plan->scenarios; s != sc->spec; s++)
        offset += s->executor == SV_EXEC_CONSTANT_ARRIVAL_RATE ? s->max_vus : s->vus;
    vu->id = offset + sc->n_vus * w->engine->n_workers + w->index + 1;
    sc->vus[sc->n_vus++] = vu;
    atomic_fetch_add_explicit(&w->vus_max, 1, memory_order_relaxed);
    return vu;
}

static void start_iteration(sv_vu_t *vu, uint64_t due_ns, uint64_t now)
{
    sv_wscenario_t *sc = vu->sc;
    sv_registry_t *reg = sc->w->reg;
    vu->busy = true;
    sc->busy++;
    vu->iter_start_ns = now;
    vu->due_ns = due_ns;
    if (sc->open_model) {
        vu_activated(sc->w);
        uint64_t late = vu->iter_start_ns > due_ns ? vu->iter_start_ns - due_ns : 0;
        sv_series_add_trend(reg, sc->s_start_delay, sv_ns_to_us(late));
    }
    sc->w->engine->driver->iterate(vu);
}

/* Closed model: whether the VU may start another iteration now. */
static bool closed_may_continue(sv_wscenario_t *sc, uint64_t now)
{
    if (sc->stopping)
        return false;
    if (now >= sc->stop_ns) {
        sc->stopping = true;
        return false;
    }
    if (sc->spec->executor == SV_EXEC_SHARED_ITERATIONS) {
        if (sc->iterations_left == 0)
            return false;
        sc->iterations_left--;
    }
    return true;
}

static bool queue_pop(sv_wscenario_t *sc, uint64_t *due)
{
    if (sc->q_len == 0)
        return false;
    *due = sc->queue[sc->q_head];
    sc->q_head = (sc->q_head + 1) % sc->q_cap;
    sc->q_len--;
    return true;
}

void sv_vu_iteration_done(sv_vu_t *vu, bool interrupted, uint64_t now)
{
    sv_wscenario_t *sc = vu->sc;
    sv_registry_t *reg = sc->w->reg;
    if (now == 0)
        now = sv_now_ns();
    if (interrupted) {
        sv_series_add(reg, sc->s_interrupted, 1);
    } else {
        sv_series_add(reg, sc->s_iterations, 1);
        sv_series_add_trend(reg, sc->s_iteration_duration, sv_ns_to_us(now - vu->iter_start_ns));
    }
    vu->busy = false;
    sc->busy--;
    if (sc->open_model) {
        vu_deactivated(sc->w);
        uint64_t due;
        if (!sc->stopping && queue_pop(sc, &due)) {
            start_iteration(vu, due, sv_now_ns());
            return;
        }
        vu->next_free = sc->free_vus;
        sc->free_vus = vu;
    } else if (closed_may_continue(sc, now)) {
        start_iteration(vu, 0, now);
        return;
    } else {
        vu_deactivated(sc->w);
    }
    scenario_check_done(sc);
}

/* ---- open model ------------------------------------------------------------------ */

static void queue_push(sv_wscenario_t *sc, uint64_t due)
{
    if (sc->q_len == sc->q_cap) {
        size_t cap = sc->q_cap ? sc->q_cap * 2 : 256;
        uint64_t *q = sv_xmalloc(cap * sizeof(*q));
        for (size_t i = 0; i < sc->q_len; i++)
            q[i] = sc->queue[(sc->q_head + i) % sc->q_cap];
        free(sc->queue);
        sc->queue = q;
        sc->q_head = 0;
        sc->q_cap = cap;
    }
    sc->queue[(sc->q_head + sc->q_len) % sc->q_cap] = due;
    sc->q_len++;
}

static void arrive(sv_wscenario_t *sc, uint64_t due, uint64_t now)
{
    sv_vu_t *vu = sc->free_vus;
    if (vu) {
        sc->free_vus = vu->next_free;
    } else if (sc->n_vus < sc->max_vus) {
        vu = new_vu(sc);
    } else if (sc->spec->overload_queue && sc->q_len < MAX_QUEUE) {
        queue_push(sc, due);
        return;
    } else {
        sv_series_add(sc->w->reg, sc->s_dropped, 1);
        return;
    }
    start_iteration(vu, due, now);
}

static uint64_t arrival_due(sv_wscenario_t *sc, uint64_t k)
{
    uint64_t g = sv_sched_stripe_global(sc->stripe, k);
    return sc->start_ns + sv_sched_arrival_at(sc->spec->rate, g);
}

static void on_pace(sv_pacer_t *p)
{
    sv_wscenario_t *sc = p->data;
    if (sc->stopping)
        return;
    while (sc->next_arrival < sc->arrivals && !sc->stopping) {
        uint64_t due = arrival_due(sc, sc->next_arrival);
        uint64_t now = sv_now_ns(); /* fresh for each start: lateness is the point */
        if (due > now) {
            sv_pacer_arm(&sc->pacer, due);
            return;
        }
        sc->next_arrival++;
        arrive(sc, due, now);
    }
}

/* ---- scenario lifecycle ---------------------------------------------------------- */

static void interrupt_all(sv_wscenario_t *sc)
{
    const sv_vu_driver_t *driver = sc->w->engine->driver;
    sc->stopping = true;
    for (uint32_t i = 0; i < sc->n_vus; i++)
        if (sc->vus[i]->busy)
            driver->interrupt(sc->vus[i]);
}

static void drop_queued(sv_wscenario_t *sc)
{
    if (sc->q_len)
        sv_series_add(sc->w->reg, sc->s_dropped, (double)sc->q_len);
    sc->q_len = 0;
}

static void scenario_finish(sv_wscenario_t *sc)
{
    if (sc->done)
        return;
    sc->done = true;
    uv_timer_stop(&sc->stop_timer);
    if (--sc->w->running == 0)
        worker_finish(sc->w);
}

static void scenario_check_done(sv_wscenario_t *sc)
{
    if (!sc->done && sc->busy == 0 &&
        (sc->stopping || (!sc->open_model && sc->iterations_left == 0 &&
                          sc->spec->executor == SV_EXEC_SHARED_ITERATIONS)))
        scenario_finish(sc);
}

static void on_stop_timer(uv_timer_t *t)
{
    sv_wscenario_t *sc = sv_container_of(t, sv_wscenario_t, stop_timer);
    if (!sc->in_grace) {
        /* End of the scenario's time: no new iterations; in-flight ones get the grace. */
        sc->stopping = true;
        sc->in_grace = true;
        drop_queued(sc);
        if (sc->busy > 0) {
            uv_timer_start(&sc->stop_timer, on_stop_timer,
                           (sc->spec->graceful_stop_ns + 999999) / 1000000, 0);
            return;
        }
    } else {
        interrupt_all(sc);
    }
    scenario_check_done(sc);
}

static void scenario_init(sv_worker_t *w, sv_wscenario_t *sc, const sv_scenario_t *spec)
{
    sv_engine_t *e = w->engine;
    uint32_t W = e->n_workers, i = w->index;
    sv_registry_t *reg = w->reg;
    sc->spec = spec;
    sc->w = w;
    sc->start_ns = e->start_ns;

    sv_tag_t *tags = sv_xmalloc((e->plan->n_tags + 1) * sizeof(*tags));
    for (size_t t = 0; t < e->plan->n_tags; t++)
        tags[t] = (sv_tag_t){e->plan->tags[t].key, e->plan->tags[t].value};
    tags[e->plan->n_tags] = (sv_tag_t){"scenario", spec->name};
    sc->tags = sv_registry_tags(reg, tags, e->plan->n_tags + 1);
    free(tags);
    sc->s_iterations = sv_registry_series(reg, SV_M_ITERATIONS, sc->tags);
    sc->s_iteration_duration = sv_registry_series(reg, SV_M_ITERATION_DURATION, sc->tags);
    sc->s_start_delay = sv_registry_series(reg, SV_M_ITERATION_START_DELAY, sc->tags);
    sc->s_dropped = sv_registry_series(reg, SV_M_DROPPED_ITERATIONS, sc->tags);
    sc->s_interrupted = sv_registry_series(reg, SV_M_INTERRUPTED_ITERATIONS, sc->tags);
    sc->s_iteration_errors = sv_registry_series(reg, SV_M_ITERATION_ERRORS, sc->tags);
    sc->s_data_sent = sv_registry_series(reg, SV_M_DATA_SENT, sc->tags);
    sc->s_data_received = sv_registry_series(reg, SV_M_DATA_RECEIVED, sc->tags);
    if (e->plan->script == NULL)
        sv_record_site_init(reg, &sc->site, sc->tags, &e->request);

    uv_timer_init(&w->loop, &sc->stop_timer);
    switch (spec->executor) {
    case SV_EXEC_CONSTANT_VUS:
        sc->want_vus = (uint32_t)sv_sched_share(spec->vus, i, W);
        sc->stop_ns = sc->start_ns + spec->duration_ns;
        break;
    case SV_EXEC_SHARED_ITERATIONS:
        /* Iterations follow the VUs: a worker with more VUs gets more of them. */
        sc->stripe = (sv_stripe_t){spec->vus, i, W};
        sc->iterations_left = sv_sched_stripe_count(sc->stripe, spec->iterations);
        sc->want_vus = (uint32_t)SV_MIN(sv_sched_share(spec->vus, i, W), sc->iterations_left);
        sc->stop_ns = sc->start_ns + spec->max_duration_ns;
        break;
    case SV_EXEC_CONSTANT_ARRIVAL_RATE:
        sc->open_model = true;
        sc->want_vus = (uint32_t)sv_sched_share(spec->vus, i, W);
        sc->max_vus = (uint32_t)sv_sched_share(spec->max_vus, i, W);
        /* Arrivals follow the VU slots, so each worker's share matches its VUs. */
        sc->stripe = (sv_stripe_t){spec->max_vus, i, W};
        sc->arrivals = sv_sched_stripe_count(
            sc->stripe, sv_sched_arrivals_before(spec->rate, spec->duration_ns));
        sc->stop_ns = sc->start_ns + spec->duration_ns;
        sv_pacer_init(&w->loop, &sc->pacer, on_pace);
        sc->pacer.data = sc;
        break;
    }
}

static void scenario_start(sv_wscenario_t *sc)
{
    uint64_t now = sv_now_ns();
    uint64_t until_stop = sc->stop_ns > now ? sc->stop_ns - now : 0;
    uv_timer_start(&sc->stop_timer, on_stop_timer, (until_stop + 999999) / 1000000, 0);
    if (sc->open_model) {
        for (uint32_t v = 0; v < sc->want_vus; v++) {
            sv_vu_t *vu = new_vu(sc);
            vu->next_free = sc->free_vus;
            sc->free_vus = vu;
        }
        if (sc->arrivals == 0)
            sc->stopping = true;
        else
            sv_pacer_arm(&sc->pacer, arrival_due(sc, 0));
    } else {
        if (sc->spec->executor == SV_EXEC_SHARED_ITERATIONS)
            sc->iterations_left -= sc->want_vus;
        for (uint32_t v = 0; v < sc->want_vus; v++) {
            sv_vu_t *vu = new_vu(sc);
            vu_activated(sc->w);
            start_iteration(vu, 0, sv_now_ns());
        }
        if (sc->want_vus == 0)
            sc->stopping = true;
    }
    scenario_check_done(sc);
}

/* ---- worker lifecycle ------------------------------------------------------------ */

static void stop_now(sv_worker_t *w)
{
    for (size_t s = 0; s < w->n_scenarios; s++) {
        sv_wscenario_t *sc = &w->scenarios[s];
        if (sc->done)
            continue;
        drop_queued(sc);
        interrupt_all(sc);
        scenario_check_done(sc);
    }
}

static void on_wake(uv_async_t *a)
{
    sv_worker_t *w = sv_container_of(a, sv_worker_t, wake);
    if (atomic_load(&w->stop))
        stop_now(w);
}

static void worker_finish(sv_worker_t *w)
{
    w->final = sv_snapshot_new();
    sv_registry_take(w->reg, w->final);
    for (size_t s = 0; s < w->n_scenarios; s++) {
        sv_wscenario_t *sc = &w->scenarios[s];
        for (uint32_t v = 0; v < sc->n_vus; v++) {
            if (sc->vus[v]->conn)
                sv_http_conn_free(sc->vus[v]->conn);
            if (sc->vus[v]->lua)
                sv_lua_vu_free(sc->vus[v]->lua);
        }
        uv_close((uv_handle_t *)&sc->stop_timer, NULL);
        if (sc->open_model)
            sv_pacer_close(&sc->pacer, NULL);
    }
    sv_lua_state_free(w->lua);
    w->lua = NULL;
    uv_close((uv_handle_t *)&w->flush_timer, NULL);
    uv_close((uv_handle_t *)&w->health_timer, NULL);
    uv_mutex_lock(&w->lock);
    w->finished = true;
    uv_close((uv_handle_t *)&w->wake, NULL);
    uv_mutex_unlock(&w->lock);
}

static void free_scenarios(sv_worker_t *w)
{
    for (size_t s = 0; s < w->n_scenarios; s++) {
        sv_wscenario_t *sc = &w->scenarios[s];
        for (uint32_t v = 0; v < sc->n_vus; v++)
            free(sc->vus[v]);
        free(sc->vus);
        free(sc->queue);
    }
    free(w->scenarios);
    w->scenarios = NULL;
    sv_site_map_free(&w->sites);
}

static void worker_main(void *arg)
{
    sv_worker_t *w = arg;
    sv_engine_t *e = w->engine;
    uv_timer_start(&w->flush_timer, on_flush, FLUSH_MS, FLUSH_MS);
    w->next_health_ns = sv_now_ns() + HEALTH_MS * 1000000ULL;
    uv_timer_start(&w->health_timer, on_health, HEALTH_MS, HEALTH_MS);

    if (e->plan->script) {
        char err[SV_LUA_ERR_SIZE];
        if (sv_script_worker_init(w, err) != 0) {
            fprintf(stderr, "salvo: worker %u: %s\n", w->index, err);
            e->script_error = true;
            sv_engine_abort(e, "a worker could not load the script");
        }
    }
    w->n_scenarios = w->running = e->plan->n_scenarios;
    w->scenarios = sv_xcalloc(w->n_scenarios, sizeof(*w->scenarios));
    for (size_t s = 0; s < w->n_scenarios; s++)
        scenario_init(w, &w->scenarios[s], &e->plan->scenarios[s]);
    for (size_t s = 0; s < w->n_scenarios && !atomic_load(&w->stop); s++)
        scenario_start(&w->scenarios[s]);
    if (atomic_load(&w->stop))
        stop_now(w);

    uv_run(&w->loop, UV_RUN_DEFAULT);
    atomic_store(&w->cpu_ns, thread_cpu_ns());
    free_scenarios(w);
    sv_http_ctx_free(w->http);
    uv_loop_close(&w->loop);
    atomic_fetch_add(&e->finished_workers, 1);
    uv_async_send(&e->worker_done);
}

void sv_worker_start(sv_worker_t *w)
{
    /* The loop and its wake-up handle exist before the thread does, so a stop
     * request can never race the thread's start. */
    uv_mutex_init(&w->lock);
    uv_loop_init(&w->loop);
    w->http = sv_http_ctx_new(&w->loop, w->engine->plan->max_response_bytes);
    uv_async_init(&w->loop, &w->wake, on_wake);
    uv_timer_init(&w->loop, &w->flush_timer);
    uv_timer_init(&w->loop, &w->health_timer);
    w->reg = sv_registry_new(w->engine->catalog);
    w->lag = sv_hist_new();
    w->spare[0] = sv_snapshot_new();
    w->spare[1] = sv_snapshot_new();
    w->n_spare = 2;
    uv_thread_create(&w->thread, worker_main, w);
}

void sv_worker_request_stop(sv_worker_t *w)
{
    atomic_store(&w->stop, 1);
    uv_mutex_lock(&w->lock);
    if (!w->finished)
        uv_async_send(&w->wake);
    uv_mutex_unlock(&w->lock);
}
