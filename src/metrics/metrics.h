/*
 * Metrics: the catalogue of metric definitions, interned tag sets, series
 * (metric + tag set) and per-thread registries of series, with the interval
 * snapshots that carry a worker's deltas to the collector.
 *
 * Threading: a registry belongs to one thread. The catalogue is filled before
 * workers start and read-only afterwards. A snapshot is filled by its worker and
 * merged by the collector; the hand-over between them is the caller's (engine's).
 */
#ifndef SV_METRICS_H
#define SV_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "../util/util.h"
#include "hist.h"

typedef enum { SV_COUNTER, SV_GAUGE, SV_RATE, SV_TREND } sv_metric_type_t;
typedef enum { SV_CONTAINS_DEFAULT, SV_CONTAINS_TIME, SV_CONTAINS_DATA } sv_contains_t;

/* Built-in metrics, in k6's names. Their ids are fixed. */
#define SV_BUILTIN_METRICS(X)                                                                      \
    X(HTTP_REQS, "http_reqs", SV_COUNTER, SV_CONTAINS_DEFAULT)                                     \
    X(HTTP_REQ_DURATION, "http_req_duration", SV_TREND, SV_CONTAINS_TIME)                          \
    X(HTTP_REQ_BLOCKED, "http_req_blocked", SV_TREND, SV_CONTAINS_TIME)                            \
    X(HTTP_REQ_CONNECTING, "http_req_connecting", SV_TREND, SV_CONTAINS_TIME)                      \
    X(HTTP_REQ_TLS_HANDSHAKING, "http_req_tls_handshaking", SV_TREND, SV_CONTAINS_TIME)            \
    X(HTTP_REQ_SENDING, "http_req_sending", SV_TREND, SV_CONTAINS_TIME)                            \
    X(HTTP_REQ_WAITING, "http_req_waiting", SV_TREND, SV_CONTAINS_TIME)                            \
    X(HTTP_REQ_RECEIVING, "http_req_receiving", SV_TREND, SV_CONTAINS_TIME)                        \
    X(HTTP_REQ_FAILED, "http_req_failed", SV_RATE, SV_CONTAINS_DEFAULT)                            \
    X(HTTP_REQ_DURATION_CORRECTED, "http_req_duration_corrected", SV_TREND, SV_CONTAINS_TIME)      \
    X(ITERATIONS, "iterations", SV_COUNTER, SV_CONTAINS_DEFAULT)                                   \
    X(ITERATION_DURATION, "iteration_duration", SV_TREND, SV_CONTAINS_TIME)                        \
    X(ITERATION_START_DELAY, "iteration_start_delay", SV_TREND, SV_CONTAINS_TIME)                  \
    X(DROPPED_ITERATIONS, "dropped_iterations", SV_COUNTER, SV_CONTAINS_DEFAULT)                   \
    X(INTERRUPTED_ITERATIONS, "interrupted_iterations", SV_COUNTER, SV_CONTAINS_DEFAULT)           \
    X(DATA_SENT, "data_sent", SV_COUNTER, SV_CONTAINS_DATA)                                        \
    X(DATA_RECEIVED, "data_received", SV_COUNTER, SV_CONTAINS_DATA)                                \
    X(VUS, "vus", SV_GAUGE, SV_CONTAINS_DEFAULT)                                                   \
    X(VUS_MAX, "vus_max", SV_GAUGE, SV_CONTAINS_DEFAULT)                                           \
    X(CHECKS, "checks", SV_RATE, SV_CONTAINS_DEFAULT)                                              \
    X(GROUP_DURATION, "group_duration", SV_TREND, SV_CONTAINS_TIME)                                \
    X(ITERATION_ERRORS, "iteration_errors", SV_COUNTER, SV_CONTAINS_DEFAULT)                       \
    X(SSE_EVENT, "sse_event", SV_COUNTER, SV_CONTAINS_DEFAULT)                                     \
    X(WS_SESSIONS, "ws_sessions", SV_COUNTER, SV_CONTAINS_DEFAULT)                                 \
    X(WS_CONNECTING, "ws_connecting", SV_TREND, SV_CONTAINS_TIME)                                  \
    X(WS_SESSION_DURATION, "ws_session_duration", SV_TREND, SV_CONTAINS_TIME)                      \
    X(WS_MSGS_SENT, "ws_msgs_sent", SV_COUNTER, SV_CONTAINS_DEFAULT)                               \
    X(WS_MSGS_RECEIVED, "ws_msgs_received", SV_COUNTER, SV_CONTAINS_DEFAULT)                       \
    X(WS_PING, "ws_ping", SV_TREND, SV_CONTAINS_TIME)                                              \
    /* the generator's health, sent to per-sample outputs only (never in the totals) */            \
    X(GENERATOR_CPU, "salvo_generator_cpu", SV_GAUGE, SV_CONTAINS_DEFAULT)                         \
    X(GENERATOR_LOOP_LAG, "salvo_generator_loop_lag", SV_GAUGE, SV_CONTAINS_TIME)                  \
    X(GENERATOR_OPEN_CONNECTIONS, "salvo_generator_open_connections", SV_GAUGE,                    \
      SV_CONTAINS_DEFAULT)                                                                         \
    X(GENERATOR_DROPPED_SAMPLES, "salvo_generator_dropped_samples", SV_GAUGE, SV_CONTAINS_DEFAULT)

enum {
#define SV_METRIC_ENUM(id, name, type, contains) SV_M_##id,
    SV_BUILTIN_METRICS(SV_METRIC_ENUM)
#undef SV_METRIC_ENUM
        SV_M_BUILTIN_COUNT
};

typedef struct {
    char *name;
    sv_metric_type_t type;
    sv_contains_t contains;
} sv_metric_def_t;

typedef struct sv_catalog sv_catalog_t;

/* A catalogue holding the built-in metrics. */
sv_catalog_t *sv_catalog_new(void);
void sv_catalog_free(sv_catalog_t *c);
/* Adds a metric, or returns the id of an existing one with the same name and type.
 * SV_EINVAL if the name exists with another type. */
int sv_catalog_add(sv_catalog_t *c, const char *name, sv_metric_type_t type,
                   sv_contains_t contains);
int sv_catalog_find(const sv_catalog_t *c, const char *name); /* id, or -1 */
size_t sv_catalog_size(const sv_catalog_t *c);
const sv_metric_def_t *sv_catalog_get(const sv_catalog_t *c, uint32_t id);
const char *sv_metric_type_name(sv_metric_type_t t);

/* Trend values are stored as integers in thousandths of the metric's unit
 * (milliseconds for time metrics, so microseconds). */
#define SV_TREND_SCALE 1000.0

/* An interned, immutable tag set: "key\0value\0…" sorted by key. */
typedef struct sv_tagset {
    uint64_t hash;
    uint32_t count;
    uint32_t len;
    struct sv_tagset *next; /* hash chain */
    char data[];
} sv_tagset_t;

typedef struct {
    const char *key, *value;
} sv_tag_t;

/* Iterates a tag set: call with *offset = 0 until it returns false. */
bool sv_tagset_next(const sv_tagset_t *t, uint32_t *offset, const char **key, const char **value);
const char *sv_tagset_get(const sv_tagset_t *t, const char *key);

typedef struct {
    double value, min, max;
    uint64_t at_ns; /* when value was set: across series, the latest one wins */
    bool set;
} sv_gauge_value_t;

typedef struct sv_series {
    uint32_t metric;
    sv_metric_type_t type;
    const sv_tagset_t *tags;
    bool dirty;
    struct sv_series *next; /* hash chain */
    union {
        double counter;
        sv_gauge_value_t gauge;
        struct {
            uint64_t nonzero, total;
        } rate;
        sv_hist_t *trend;
    } v;
} sv_series_t;

typedef struct sv_registry sv_registry_t;

sv_registry_t *sv_registry_new(const sv_catalog_t *catalog);
void sv_registry_free(sv_registry_t *r);
const sv_catalog_t *sv_registry_catalog(const sv_registry_t *r);
/* Interns a tag set (copies keys and values; order of tags does not matter; a later
 * duplicate key wins). */
const sv_tagset_t *sv_registry_tags(sv_registry_t *r, const sv_tag_t *tags, size_t n);
/* The tag set with one tag added or replaced. */
const sv_tagset_t *sv_registry_tags_with(sv_registry_t *r, const sv_tagset_t *base, const char *key,
                                         const char *value);
/* The series for (metric, tags), created empty on first use. Stable pointer. */
sv_series_t *sv_registry_series(sv_registry_t *r, uint32_t metric, const sv_tagset_t *tags);

/* Recording. Trend values are in thousandths of the unit (see SV_TREND_SCALE). */
void sv_series_add(sv_registry_t *r, sv_series_t *s, double value);
void sv_series_add_trend(sv_registry_t *r, sv_series_t *s, uint64_t scaled);

/* Iterates all series: call with *cursor = 0 until NULL. */
sv_series_t *sv_registry_next(const sv_registry_t *r, size_t *cursor);

/* One sample as recorded, for per-sample outputs (--out json): the series it went
 * to (its metric and tags, owned by the recording registry), its value in the
 * metric's unit (ms for times) and when it was recorded (sv_now_ns clock). */
typedef struct {
    const sv_series_t *series;
    double value;
    uint64_t at_ns;
} sv_sample_t;

/* From now on, keep every sample added to r, at most `cap` between two takes; more
 * are counted as lost. Costs a clock read and 24 bytes per sample. Sample times are
 * unique: congruent to `offset` modulo `stride` (give each of `stride` registries
 * its own offset) and strictly increasing, so they stay within `stride` ns of true. */
void sv_registry_keep_samples(sv_registry_t *r, size_t cap, uint32_t stride, uint32_t offset);

/* The deltas of one interval. */
typedef struct sv_snapshot sv_snapshot_t;
sv_snapshot_t *sv_snapshot_new(void);
void sv_snapshot_free(sv_snapshot_t *s);
/* Moves every series' change since the last take into s and clears the series. */
void sv_registry_take(sv_registry_t *r, sv_snapshot_t *s);
/* Adds a snapshot (from any registry sharing the catalogue) into r, then empties s
 * so it can be reused for the next take. */
void sv_registry_merge(sv_registry_t *r, sv_snapshot_t *s);
bool sv_snapshot_empty(const sv_snapshot_t *s);
/* The samples a take moved into s (when the registry keeps them), and how many
 * were lost over the cap. Valid until the snapshot is merged or taken into again. */
const sv_sample_t *sv_snapshot_samples(const sv_snapshot_t *s, size_t *n, uint64_t *lost);

/* Combines a series' value into an aggregate of the same type (used for totals and
 * sub-metrics). The aggregate's trend histogram is created on demand. */
void sv_series_combine(sv_series_t *into, const sv_series_t *from);

/* Combines every series of `metric` whose tags hold key=value (every series when
 * key is NULL) into *out, which the caller zeroes first and releases with
 * sv_series_release. Returns how many series were combined. */
size_t sv_registry_aggregate(const sv_registry_t *r, uint32_t metric, const char *key,
                             const char *value, sv_series_t *out);
/* The same with every tag of a selector required. */
size_t sv_registry_aggregate_tags(const sv_registry_t *r, uint32_t metric, const sv_tag_t *tags,
                                  size_t n_tags, sv_series_t *out);
void sv_series_release(sv_series_t *s);

#endif
