/*
 * Engine internals shared by the collector (engine.c), the workers (worker.c), the
 * VU driver for quick tests (quick.c) and metric recording (record.c).
 */
#ifndef SV_ENGINE_INT_H
#define SV_ENGINE_INT_H

#include <stdatomic.h>
#include <uv.h>

#include "../http/client.h"
#include "../lua/lua.h"
#include "../metrics/metrics.h"
#include "engine.h"
#include "../sched/sched.h"
#include "pacer.h"

typedef struct sv_engine sv_engine_t;
typedef struct sv_worker sv_worker_t;
typedef struct sv_wscenario sv_wscenario_t;
typedef struct sv_vu sv_vu_t;

/* How VUs run iterations. Quick tests send one request; the Lua runtime will
 * resume a coroutine. */
typedef struct {
    /* Starts an iteration; the driver calls sv_vu_iteration_done when it ends
     * (never from inside iterate). */
    void (*iterate)(sv_vu_t *vu);
    /* Ends the iteration in flight now: sv_vu_iteration_done(vu, true) runs before
     * this returns. */
    void (*interrupt)(sv_vu_t *vu);
} sv_vu_driver_t;

/* Series a request's samples go to, for one (status, error, TLS version) outcome. */
typedef struct {
    int status, error_code;
    bool expected;
    const char *tls_version; /* static, from the client */
    sv_series_t *reqs, *duration, *blocked, *connecting, *tls_handshaking;
    sv_series_t *sending, *waiting, *receiving, *failed, *corrected;
} sv_req_series_t;

#define SV_REQ_SERIES_CACHE 8

/* Series of one request site (a URL and method sent from one scenario). */
typedef struct {
    const sv_tagset_t *tags; /* scenario, user tags, method, url, name, proto, group */
    sv_req_series_t cache[SV_REQ_SERIES_CACHE];
    int n_cached, next_evict;
} sv_req_site_t;

/* Request sites found by their tag set (scripts tag each request themselves). */
typedef struct {
    sv_req_site_t **slots;
    size_t n, cap;
} sv_site_map_t;

struct sv_vu {
    uint32_t id;   /* 1-based, unique in the whole test (every segment) */
    uint32_t slot; /* index in its scenario's VUs on this worker */
    sv_wscenario_t *sc;
    sv_http_conn_t *conn; /* quick tests */
    sv_lua_vu_t *lua;     /* script tests */
    uint64_t iter_start_ns;
    uint64_t due_ns;       /* open model: when the iteration was due; 0 otherwise */
    uint64_t iterations;   /* started by this VU (per-vu-iterations) */
    uint64_t retire_at_ns; /* ramped down while busy: interrupted at this time */
    bool busy, active;
    sv_vu_t *next_free;
};

struct sv_wscenario {
    const sv_scenario_t *spec;
    sv_worker_t *w;
    sv_http_group_t **groups; /* quick tests with --streams: VU slot / streams shares one */
    size_t n_groups;
    sv_vu_t **vus;
    uint32_t n_vus, cap_vus, busy;
    uint32_t want_vus;  /* closed model: VUs to run now; open model: preallocated */
    uint32_t max_vus;   /* open model */
    uint32_t vu_offset; /* VU ids of earlier scenarios */
    sv_vu_t *free_vus;
    uint64_t iterations_left;
    uint64_t start_ns, stop_ns; /* no iteration starts at or after stop_ns */
    bool open_model, started, stopping, done;
    sv_stripe_t stripe; /* this worker's part of the segment's iterations or arrivals */
    /* open model */
    sv_pacer_t pacer;
    sv_ramp_rate_t ramp_rate; /* ramping-arrival-rate */
    uint64_t next_arrival, arrivals;
    uint64_t *queue;
    size_t q_head, q_len, q_cap;
    uv_timer_t start_timer; /* startTime */
    uv_timer_t stop_timer;  /* end of duration, then end of graceful stop */
    uv_timer_t step_timer;  /* ramping-vus: the next step */
    uv_timer_t ramp_timer;  /* ramping-vus: the next gracefulRampDown deadline */
    bool in_grace;
    /* series */
    const sv_tagset_t *tags; /* scenario + user tags */
    sv_series_t *s_iterations, *s_iteration_duration, *s_start_delay, *s_dropped;
    sv_series_t *s_interrupted, *s_iteration_errors, *s_data_sent, *s_data_received;
    sv_req_site_t site;
};

struct sv_worker {
    sv_engine_t *engine;
    uint32_t index;
    uv_thread_t thread;
    uv_loop_t loop;
    uv_async_t wake;
    uv_timer_t flush_timer, health_timer;
    sv_registry_t *reg;
    sv_http_ctx_t *http;
    sv_lua_state_t *lua; /* script tests: this worker's state */
    sv_lua_host_t lua_host;
    sv_site_map_t sites; /* request sites of script requests, by tag set */
    sv_wscenario_t *scenarios;
    size_t n_scenarios, running;
    uint64_t next_health_ns;
    sv_hist_t *lag; /* event-loop lag, µs */
    /* shared with the collector */
    uv_mutex_t lock;
    sv_snapshot_t *ready, *spare[2];
    int n_spare;
    sv_snapshot_t *final; /* the last deltas, read after the thread ends */
    bool finished;        /* under lock: the wake handle is closed */
    atomic_int stop;      /* SV_STOP_NOW, or SV_STOP_GRACEFUL: no new iterations */
    atomic_uint vus_active, vus_peak, vus_max;
    atomic_uint_fast64_t cpu_ns;
    atomic_uint_fast64_t lag_max_us;
    atomic_uint open_connections;
    atomic_uint_fast64_t finished_ns; /* when its last scenario ended; 0 before */
};

/* The collector's view of one worker's CPU, sampled once a period. */
typedef struct {
    uint64_t last_ns; /* the thread's CPU time at the last sample */
    double sum, max;  /* of the fractions of a core per period */
} sv_cpu_watch_t;

struct sv_engine {
    const sv_plan_t *plan;
    const sv_engine_opts_t *opts;
    sv_catalog_t *catalog; /* the caller's */
    uv_mutex_t abort_lock;
    char *abort_reason; /* test.abort(), under abort_lock */
    bool threshold_abort;
    bool script_error;
    sv_http_request_t request; /* quick tests: the one request, and how to send it */
    sv_http_send_opts_t send_opts;
    const sv_vu_driver_t *driver;
    sv_worker_t *workers;
    uint32_t n_workers;
    uint64_t start_ns, planned_ns;
    uint64_t join_ns;        /* --start-at was this long ago when the run began; 0: on time */
    uint64_t wall_offset_ns; /* wall clock minus sv_now_ns, for samples' times */
    uv_loop_t loop;
    uv_async_t worker_done;
    uv_signal_t sigint, sigterm;
    uv_timer_t tick;
    int signals;
    bool hard_stop;
    atomic_uint finished_workers;
    atomic_bool workers_started; /* their locks exist: they may be woken */
    atomic_uint ext_vus;         /* externally-controlled: VUs wanted in the whole test */
    struct sv_server *control;   /* the control endpoint, when a scenario needs it */
    sv_registry_t *interval, *totals;
    sv_snapshot_t *scratch;
    sv_hist_t *duration_so_far;
    uint64_t reqs_so_far, failed_so_far;
    uint64_t last_tick_ns;
    sv_cpu_watch_t *cpu; /* per worker */
    uint32_t cpu_samples;
    sv_worker_health_t *live_health; /* per worker, the last period's, for live outputs */
    sv_tick_t *ticks;                /* the run second by second */
    size_t n_ticks, cap_ticks;
    sv_hist_t *tick_duration; /* http_req_duration of the current second */
    sv_registry_t *health;    /* per-sample outputs: the generator's gauges */
    uint64_t tick_failed, tick_iterations;
    bool vus_sampled;
};

/* worker.c */
enum { SV_STOP_NONE, SV_STOP_NOW, SV_STOP_GRACEFUL };
void sv_worker_start(sv_worker_t *w);
/* how: SV_STOP_NOW interrupts what runs; SV_STOP_GRACEFUL ends every scenario as its
 * duration would, giving in-flight iterations their gracefulStop. */
void sv_worker_request_stop(sv_worker_t *w, int how);
/* externally-controlled: wakes the worker to follow its scenarios' ext_target. */
void sv_worker_wake(sv_worker_t *w);
/* Ends a VU's iteration at monotonic time now_ns (0: read the clock). */
void sv_vu_iteration_done(sv_vu_t *vu, bool interrupted, uint64_t now_ns);

/* record.c */
typedef struct {
    bool open_model;
    uint64_t late_ns; /* open model: how late the iteration started */
    sv_series_t *data_sent, *data_received;
} sv_record_ctx_t;

void sv_record_site_init(sv_registry_t *reg, sv_req_site_t *site, const sv_tagset_t *base,
                         const sv_http_request_t *req);
void sv_record_request(sv_registry_t *reg, sv_req_site_t *site, const sv_http_result_t *res,
                       bool expected, const sv_record_ctx_t *ctx);
bool sv_record_default_expected(const sv_http_result_t *res);
void sv_record_http(sv_vu_t *vu, sv_req_site_t *site, const sv_http_result_t *res, bool expected);
sv_req_site_t *sv_site_map_get(sv_site_map_t *m, const sv_tagset_t *tags);
void sv_site_map_free(sv_site_map_t *m);

/* quick.c */
extern const sv_vu_driver_t sv_quick_driver;

/* script.c */
extern const sv_vu_driver_t sv_script_driver;
int sv_script_worker_init(sv_worker_t *w, char *err);

/* control.c: serves the control endpoint when the plan has an externally-controlled
 * scenario (no-op otherwise). SV_EINVAL with err when it cannot listen. */
int sv_control_open(sv_engine_t *e, char *err, size_t size);
void sv_control_close(sv_engine_t *e);

/* engine.c: stops the whole test from any thread (test.abort, a failed worker). */
void sv_engine_abort(sv_engine_t *e, const char *reason);

static inline uint64_t sv_ns_to_us(uint64_t ns)
{
    return (ns + 500) / 1000;
}

#endif
