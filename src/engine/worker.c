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
#define FLUSH_LEAD_MS 50
#define HEALTH_MS 100
#define MAX_QUEUE (1u << 20)

static void scenario_check_done(sv_wscenario_t *sc);
static void on_stop_timer(uv_timer_t *t);
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
    atomic_store_explicit(&w->open_connections, sv_http_ctx_open_connections(w->http),
                          memory_order_relaxed);
    w->next_health_ns = now + HEALTH_MS * 1000000ULL;
}

/* ---- timers -------------------------------------------------------------------------- */

/* Arms a one-shot libuv timer for monotonic time at_ns (at once if past). libuv counts
 * whole milliseconds from a loop clock that may lag, so it can fire up to a
 * millisecond early: callbacks that must not be early check with reached(). */
static void arm_at(uv_timer_t *t, uv_timer_cb cb, uint64_t at_ns)
{
    uint64_t now = sv_now_ns();
    uv_timer_start(t, cb, at_ns > now ? (at_ns - now + 999999) / 1000000 : 0, 0);
}

/* Whether at_ns has come; if not, the timer is armed again for it. */
static bool reached(uv_timer_t *t, uv_timer_cb cb, uint64_t at_ns)
{
    if (sv_now_ns() >= at_ns)
        return true;
    arm_at(t, cb, at_ns);
    return false;
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

/* Units (VUs, iterations, arrivals) of the whole test that belong to this worker:
 * the process's segment first, then round robin over the workers. */
static const sv_segment_t *segment_of(const sv_wscenario_t *sc)
{
    return &sc->w->engine->plan->segment;
}

/* This worker's VUs when the whole test has `whole` of them. */
static uint32_t vu_share(const sv_wscenario_t *sc, uint64_t whole)
{
    uint64_t local = sv_segment_count(segment_of(sc), whole);
    return (uint32_t)sv_sched_share(local, sc->w->index, sc->w->engine->n_workers);
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
    vu->slot = sc->n_vus;
    /* The worker's slot-th VU is the segment's VU slot * W + index, and that one's
     * number in the whole test gives an id unique across workers and segments. */
    uint64_t local = (uint64_t)vu->slot * w->engine->n_workers + w->index;
    vu->id = sc->vu_offset + (uint32_t)sv_segment_global(segment_of(sc), local) + 1;
    sc->vus[sc->n_vus++] = vu;
    atomic_fetch_add_explicit(&w->vus_max, 1, memory_order_relaxed);
    return vu;
}

static void start_iteration(sv_vu_t *vu, uint64_t due_ns, uint64_t now)
{
    sv_wscenario_t *sc = vu->sc;
    sv_registry_t *reg = sc->w->reg;
    vu->busy = true;
    vu->iterations++;
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
static bool closed_may_continue(sv_wscenario_t *sc, sv_vu_t *vu, uint64_t now)
{
    if (sc->stopping)
        return false;
    if (now >= sc->stop_ns) {
        sc->stopping = true;
        return false;
    }
    if (vu->slot >= sc->want_vus)
        return false; /* ramped down */
    switch (sc->spec->executor) {
    case SV_EXEC_SHARED_ITERATIONS:
        if (sc->iterations_left == 0)
            return false;
        sc->iterations_left--;
        return true;
    case SV_EXEC_PER_VU_ITERATIONS:
        return vu->iterations < sc->spec->iterations;
    default:
        return true;
    }
}

/* A closed-model VU starts looping. */
static void activate(sv_vu_t *vu, uint64_t now)
{
    vu->active = true;
    vu->retire_at_ns = 0;
    vu_activated(vu->sc->w);
    start_iteration(vu, 0, now);
}

static void deactivate(sv_vu_t *vu)
{
    vu->active = false;
    vu_deactivated(vu->sc->w);
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
    } else if (closed_may_continue(sc, vu, now)) {
        start_iteration(vu, 0, now);
        return;
    } else {
        deactivate(vu);
    }
    scenario_check_done(sc);
}

/* ---- VUs that change while running (ramping-vus, externally-controlled) ------------ */

static void arm_ramp_down(sv_wscenario_t *sc);

/* Interrupts VUs ramped down whose gracefulRampDown is over. */
static void on_ramp_down(uv_timer_t *t)
{
    sv_wscenario_t *sc = sv_container_of(t, sv_wscenario_t, ramp_timer);
    uint64_t now = sv_now_ns();
    const sv_vu_driver_t *driver = sc->w->engine->driver;
    for (uint32_t i = sc->want_vus; i < sc->n_vus; i++) {
        sv_vu_t *vu = sc->vus[i];
        if (vu->busy && vu->retire_at_ns && vu->retire_at_ns <= now)
            driver->interrupt(vu);
    }
    arm_ramp_down(sc);
}

static void arm_ramp_down(sv_wscenario_t *sc)
{
    uint64_t next = UINT64_MAX;
    for (uint32_t i = sc->want_vus; i < sc->n_vus; i++)
        if (sc->vus[i]->busy && sc->vus[i]->retire_at_ns)
            next = SV_MIN(next, sc->vus[i]->retire_at_ns);
    if (next != UINT64_MAX)
        arm_at(&sc->ramp_timer, on_ramp_down, next);
}

/* Runs `want` VUs from now on: new ones start looping; ones beyond it finish their
 * iteration within `grace_ns`, then are interrupted. */
static void set_want(sv_wscenario_t *sc, uint32_t want, uint64_t grace_ns, uint64_t now)
{
    uint32_t old = sc->want_vus;
    sc->want_vus = want;
    if (sc->stopping)
        return;
    for (uint32_t i = old; i < want; i++) {
        sv_vu_t *vu = i < sc->n_vus ? sc->vus[i] : new_vu(sc);
        if (vu->busy) /* was ramping down: it stays */
            vu->retire_at_ns = 0;
        else
            activate(vu, now);
    }
    if (want < old && sc->spec->executor == SV_EXEC_RAMPING_VUS) {
        for (uint32_t i = want; i < old && i < sc->n_vus; i++)
            if (sc->vus[i]->busy)
                sc->vus[i]->retire_at_ns = now + grace_ns;
        arm_ramp_down(sc);
    }
}

static void on_ramp_step(uv_timer_t *t);

/* ramping-vus: follow the stages to the VU count of now, and wake at the next step. */
static void ramp_follow(sv_wscenario_t *sc)
{
    const sv_scenario_t *spec = sc->spec;
    uint64_t now = sv_now_ns(), t = now > sc->start_ns ? now - sc->start_ns : 0;
    uint64_t whole = sv_ramp_vus_at(spec->vus, spec->stages, spec->n_stages, t);
    set_want(sc, vu_share(sc, whole), spec->graceful_ramp_down_ns, now);
    uint64_t next = sv_ramp_vus_next(spec->vus, spec->stages, spec->n_stages, t);
    if (next == UINT64_MAX || sc->stopping)
        return;
    arm_at(&sc->step_timer, on_ramp_step, sc->start_ns + next);
}

static void on_ramp_step(uv_timer_t *t)
{
    ramp_follow(sv_container_of(t, sv_wscenario_t, step_timer));
}

/* externally-controlled: the VUs `salvo scale` asked for. */
static void ext_follow(sv_wscenario_t *sc)
{
    uint32_t whole = atomic_load(&sc->w->engine->ext_vus);
    set_want(sc, vu_share(sc, SV_MIN(whole, sc->spec->max_vus)), UINT64_MAX / 4, sv_now_ns());
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

/* Arrivals of the whole test due strictly before offset t. */
static uint64_t whole_arrivals_before(const sv_wscenario_t *sc, uint64_t t)
{
    if (sc->spec->executor == SV_EXEC_RAMPING_ARRIVAL_RATE)
        return sv_ramp_arrivals_before(&sc->ramp_rate, t);
    return sv_sched_arrivals_before(sc->spec->rate, t);
}

/* How many of the first `whole` arrivals of the test are this worker's. */
static uint64_t my_arrivals(const sv_wscenario_t *sc, uint64_t whole)
{
    if (sc->stripe.slots == 0)
        return 0;
    return sv_sched_stripe_count(sc->stripe, sv_segment_count(segment_of(sc), whole));
}

static uint64_t arrival_due(sv_wscenario_t *sc, uint64_t k)
{
    uint64_t local = sv_sched_stripe_global(sc->stripe, k);
    uint64_t g = sv_segment_global(segment_of(sc), local);
    if (sc->spec->executor == SV_EXEC_RAMPING_ARRIVAL_RATE)
        return sc->start_ns + sv_ramp_arrival_at(&sc->ramp_rate, g);
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

/* Arrivals already due that the pacer has not reached (a late loop at the very end):
 * they will never start, so they count as dropped. */
static void drop_overdue(sv_wscenario_t *sc)
{
    if (!sc->open_model || !sc->started || sc->next_arrival >= sc->arrivals)
        return;
    uint64_t now = sv_now_ns(), t = now > sc->start_ns ? now - sc->start_ns : 0;
    uint64_t due = SV_MIN(my_arrivals(sc, whole_arrivals_before(sc, t)), sc->arrivals);
    if (due > sc->next_arrival) {
        sv_series_add(sc->w->reg, sc->s_dropped, (double)(due - sc->next_arrival));
        sc->next_arrival = due;
    }
}

static void scenario_finish(sv_wscenario_t *sc)
{
    if (sc->done)
        return;
    sc->done = true;
    uv_timer_stop(&sc->stop_timer);
    uv_timer_stop(&sc->start_timer);
    uv_timer_stop(&sc->ramp_timer);
    uv_timer_stop(&sc->step_timer);
    if (--sc->w->running == 0)
        worker_finish(sc->w);
}

static bool out_of_iterations(const sv_wscenario_t *sc)
{
    if (sc->open_model || !sc->started)
        return false;
    switch (sc->spec->executor) {
    case SV_EXEC_SHARED_ITERATIONS:
        return sc->iterations_left == 0;
    case SV_EXEC_PER_VU_ITERATIONS:
        return true; /* with none busy, every VU has done its iterations */
    default:
        return false;
    }
}

static void scenario_check_done(sv_wscenario_t *sc)
{
    if (!sc->done && sc->busy == 0 && (sc->stopping || out_of_iterations(sc)))
        scenario_finish(sc);
}

/* The end of the scenario's time: no new iterations; in-flight ones get the grace. */
static void scenario_wind_down(sv_wscenario_t *sc)
{
    sc->stopping = true;
    sc->in_grace = true;
    uv_timer_stop(&sc->start_timer);
    uv_timer_stop(&sc->step_timer);
    uv_timer_stop(&sc->ramp_timer);
    drop_queued(sc);
    drop_overdue(sc);
    if (sc->busy > 0)
        arm_at(&sc->stop_timer, on_stop_timer, sv_now_ns() + sc->spec->graceful_stop_ns);
    else
        scenario_check_done(sc);
}

static void on_stop_timer(uv_timer_t *t)
{
    sv_wscenario_t *sc = sv_container_of(t, sv_wscenario_t, stop_timer);
    if (!sc->in_grace) {
        if (reached(t, on_stop_timer, sc->stop_ns))
            scenario_wind_down(sc);
        return;
    }
    interrupt_all(sc);
    scenario_check_done(sc);
}

static void init_series(sv_wscenario_t *sc)
{
    const sv_plan_t *plan = sc->w->engine->plan;
    const sv_scenario_t *spec = sc->spec;
    sv_registry_t *reg = sc->w->reg;
    size_t n = plan->n_tags + spec->n_tags + 1, k = 0;
    sv_tag_t *tags = sv_xmalloc(n * sizeof(*tags));
    for (size_t t = 0; t < plan->n_tags; t++)
        tags[k++] = (sv_tag_t){plan->tags[t].key, plan->tags[t].value};
    for (size_t t = 0; t < spec->n_tags; t++)
        tags[k++] = (sv_tag_t){spec->tags[t].key, spec->tags[t].value};
    tags[k++] = (sv_tag_t){"scenario", spec->name};
    sc->tags = sv_registry_tags(reg, tags, k);
    free(tags);
    sc->s_iterations = sv_registry_series(reg, SV_M_ITERATIONS, sc->tags);
    sc->s_iteration_duration = sv_registry_series(reg, SV_M_ITERATION_DURATION, sc->tags);
    sc->s_start_delay = sv_registry_series(reg, SV_M_ITERATION_START_DELAY, sc->tags);
    sc->s_dropped = sv_registry_series(reg, SV_M_DROPPED_ITERATIONS, sc->tags);
    sc->s_interrupted = sv_registry_series(reg, SV_M_INTERRUPTED_ITERATIONS, sc->tags);
    sc->s_iteration_errors = sv_registry_series(reg, SV_M_ITERATION_ERRORS, sc->tags);
    sc->s_data_sent = sv_registry_series(reg, SV_M_DATA_SENT, sc->tags);
    sc->s_data_received = sv_registry_series(reg, SV_M_DATA_RECEIVED, sc->tags);
    if (plan->script == NULL)
        sv_record_site_init(reg, &sc->site, sc->tags, &sc->w->engine->request);
}

/* The work this worker has in the scenario: its VUs, iterations or arrivals. */
static void init_shares(sv_wscenario_t *sc)
{
    const sv_scenario_t *spec = sc->spec;
    const sv_segment_t *seg = segment_of(sc);
    sv_worker_t *w = sc->w;
    uint32_t W = w->engine->n_workers;
    switch (spec->executor) {
    case SV_EXEC_SHARED_ITERATIONS: {
        /* Iterations follow the VUs: a worker with more VUs gets more of them. */
        uint64_t slots = sv_segment_count(seg, spec->vus);
        sc->stripe = (sv_stripe_t){slots, w->index, W};
        uint64_t local = sv_segment_count(seg, spec->iterations);
        sc->iterations_left = slots ? sv_sched_stripe_count(sc->stripe, local) : 0;
        sc->want_vus = (uint32_t)SV_MIN(vu_share(sc, spec->vus), sc->iterations_left);
        break;
    }
    case SV_EXEC_PER_VU_ITERATIONS:
    case SV_EXEC_CONSTANT_VUS:
        sc->want_vus = vu_share(sc, spec->vus);
        break;
    case SV_EXEC_RAMPING_VUS:
    case SV_EXEC_EXTERNALLY_CONTROLLED:
        sc->want_vus = 0; /* followed from the start */
        break;
    case SV_EXEC_CONSTANT_ARRIVAL_RATE:
    case SV_EXEC_RAMPING_ARRIVAL_RATE:
        sc->open_model = true;
        sc->ramp_rate =
            (sv_ramp_rate_t){spec->start_rate, spec->rate.per_ns, spec->stages, spec->n_stages};
        sc->want_vus = vu_share(sc, spec->vus);
        sc->max_vus = vu_share(sc, spec->max_vus);
        /* Arrivals follow the VU slots, so each worker's share matches its VUs. */
        sc->stripe = (sv_stripe_t){sv_segment_count(seg, spec->max_vus), w->index, W};
        sc->arrivals = my_arrivals(sc, whole_arrivals_before(sc, sv_scenario_run_ns(spec)));
        sv_pacer_init(&w->loop, &sc->pacer, on_pace);
        sc->pacer.data = sc;
        break;
    }
}

static void scenario_init(sv_worker_t *w, sv_wscenario_t *sc, const sv_scenario_t *spec)
{
    sv_engine_t *e = w->engine;
    sc->spec = spec;
    sc->w = w;
    sc->start_ns = e->start_ns + spec->start_time_ns;
    sc->stop_ns = sc->start_ns + sv_scenario_run_ns(spec);
    for (const sv_scenario_t *s = e->plan->scenarios; s != spec; s++)
        sc->vu_offset += sv_scenario_max_vus(s);
    init_series(sc);
    uv_timer_init(&w->loop, &sc->start_timer);
    uv_timer_init(&w->loop, &sc->stop_timer);
    uv_timer_init(&w->loop, &sc->ramp_timer);
    uv_timer_init(&w->loop, &sc->step_timer);
    init_shares(sc);
}

static void open_start(sv_wscenario_t *sc, uint64_t now)
{
    for (uint32_t v = 0; v < sc->want_vus; v++) {
        sv_vu_t *vu = new_vu(sc);
        vu->next_free = sc->free_vus;
        sc->free_vus = vu;
    }
    /* A process that joined late (--start-at in the past) skips what was due before. */
    uint64_t join = sc->w->engine->start_ns + sc->w->engine->join_ns;
    if (join > sc->start_ns)
        sc->next_arrival = my_arrivals(sc, whole_arrivals_before(sc, join - sc->start_ns));
    if (sc->next_arrival >= sc->arrivals)
        sc->stopping = true;
    else
        sv_pacer_arm(&sc->pacer, arrival_due(sc, sc->next_arrival));
}

static void closed_start(sv_wscenario_t *sc, uint64_t now)
{
    switch (sc->spec->executor) {
    case SV_EXEC_RAMPING_VUS:
        ramp_follow(sc);
        return;
    case SV_EXEC_EXTERNALLY_CONTROLLED:
        ext_follow(sc);
        return;
    case SV_EXEC_SHARED_ITERATIONS:
        sc->iterations_left -= sc->want_vus;
        break;
    default:
        break;
    }
    uint32_t want = sc->want_vus;
    sc->want_vus = 0;
    set_want(sc, want, 0, now);
    if (want == 0)
        sc->stopping = true;
}

static void scenario_start(sv_wscenario_t *sc)
{
    uint64_t now = sv_now_ns();
    sc->started = true;
    if (sc->spec->executor != SV_EXEC_EXTERNALLY_CONTROLLED || sc->spec->duration_ns) {
        arm_at(&sc->stop_timer, on_stop_timer, sc->stop_ns);
    } else {
        sc->stop_ns = UINT64_MAX; /* runs until stopped */
    }
    if (sc->open_model)
        open_start(sc, now);
    else
        closed_start(sc, now);
    scenario_check_done(sc);
}

static void on_start_time(uv_timer_t *t)
{
    sv_wscenario_t *sc = sv_container_of(t, sv_wscenario_t, start_timer);
    if (reached(t, on_start_time, sc->start_ns))
        scenario_start(sc);
}

/* Starts the scenario at its startTime (now, without one). */
static void scenario_schedule(sv_wscenario_t *sc)
{
    if (sc->start_ns <= sv_now_ns())
        scenario_start(sc);
    else
        arm_at(&sc->start_timer, on_start_time, sc->start_ns);
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

static void stop_gracefully(sv_worker_t *w)
{
    for (size_t s = 0; s < w->n_scenarios; s++)
        if (!w->scenarios[s].done && !w->scenarios[s].in_grace)
            scenario_wind_down(&w->scenarios[s]);
}

static void on_wake(uv_async_t *a)
{
    sv_worker_t *w = sv_container_of(a, sv_worker_t, wake);
    int stop = atomic_load(&w->stop);
    if (stop == SV_STOP_NOW) {
        stop_now(w);
        return;
    }
    if (stop == SV_STOP_GRACEFUL) {
        stop_gracefully(w);
        return;
    }
    for (size_t s = 0; s < w->n_scenarios; s++) {
        sv_wscenario_t *sc = &w->scenarios[s];
        if (sc->spec->executor == SV_EXEC_EXTERNALLY_CONTROLLED && sc->started && !sc->done)
            ext_follow(sc);
    }
}

static void worker_finish(sv_worker_t *w)
{
    atomic_store(&w->finished_ns, sv_now_ns());
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
        for (size_t g = 0; g < sc->n_groups; g++)
            sv_http_group_free(sc->groups[g]); /* their connections left them as freed */
        free(sc->groups);
        uv_close((uv_handle_t *)&sc->start_timer, NULL);
        uv_close((uv_handle_t *)&sc->stop_timer, NULL);
        uv_close((uv_handle_t *)&sc->step_timer, NULL);
        uv_close((uv_handle_t *)&sc->ramp_timer, NULL);
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
    /* a little before the collector's tick, so each tick sees the second that ended */
    uv_timer_start(&w->flush_timer, on_flush, FLUSH_MS - FLUSH_LEAD_MS, FLUSH_MS);
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
        scenario_schedule(&w->scenarios[s]);
    if (atomic_load(&w->stop) == SV_STOP_NOW)
        stop_now(w);
    else if (atomic_load(&w->stop) == SV_STOP_GRACEFUL)
        stop_gracefully(w);

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
    const sv_plan_t *plan = w->engine->plan;
    w->http = sv_http_ctx_new(&w->loop, plan->max_response_bytes);
    sv_http_ctx_set_tls(w->http, plan->tls_context);
    if (plan->rps && plan->segment.count) {
        /* this worker's share of the segment's share of the cap */
        unsigned __int128 num =
            (unsigned __int128)SV_NS_PER_S * w->engine->n_workers * plan->segment.cycle;
        sv_http_ctx_set_pace(
            w->http, (uint64_t)(num / ((unsigned __int128)plan->rps * plan->segment.count)));
    }
    uv_async_init(&w->loop, &w->wake, on_wake);
    uv_timer_init(&w->loop, &w->flush_timer);
    uv_timer_init(&w->loop, &w->health_timer);
    w->reg = sv_registry_new(w->engine->catalog);
    if (w->engine->opts->samples)
        sv_registry_keep_samples(w->reg, w->engine->opts->keep_samples, w->engine->n_workers,
                                 w->index);
    w->lag = sv_hist_new();
    w->spare[0] = sv_snapshot_new();
    w->spare[1] = sv_snapshot_new();
    w->n_spare = 2;
    uv_thread_create(&w->thread, worker_main, w);
}

void sv_worker_wake(sv_worker_t *w)
{
    uv_mutex_lock(&w->lock);
    if (!w->finished)
        uv_async_send(&w->wake);
    uv_mutex_unlock(&w->lock);
}

void sv_worker_request_stop(sv_worker_t *w, int how)
{
    int none = SV_STOP_NONE;
    /* a graceful stop may become a stop now, never the other way */
    if (!atomic_compare_exchange_strong(&w->stop, &none, how) && how == SV_STOP_NOW)
        atomic_store(&w->stop, SV_STOP_NOW);
    sv_worker_wake(w);
}
