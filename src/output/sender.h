/*
 * A background HTTP sender for push outputs (InfluxDB, Prometheus remote write):
 * the collector queues finished bodies; a thread of the output POSTs them, retrying
 * a failed one, so a slow or dead sink never holds up the test. The queue is
 * bounded in items (points, series); past it, bodies are dropped and counted.
 */
#ifndef SV_SENDER_H
#define SV_SENDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/util.h"

typedef struct sv_sender sv_sender_t;

typedef struct {
    const char *url;     /* http://HOST:PORT/PATH?QUERY */
    const char *headers; /* extra header lines, each ending in \r\n (may be NULL) */
    size_t max_items;    /* queued items past which bodies are dropped */
} sv_sender_opts_t;

/* Checks the URL (http:// only). SV_EINVAL with *why. */
int sv_sender_check_url(const char *url, const char **why);
/* Starts the sender thread. SV_EINVAL with *why for a bad URL. */
int sv_sender_new(sv_sender_t **out, const sv_sender_opts_t *opts, const char **why);
/* A GET of `path` on the sink's host; its status, or -1 with why when nothing answered. */
int sv_sender_get(sv_sender_t *s, const char *path, char *why, size_t size);
/* Queues a body of `items` items (takes the buffer), or drops it when the queue is full. */
void sv_sender_push(sv_sender_t *s, sv_buf_t *body, uint64_t items);
/* Counts items lost before they reached the sender (e.g. samples over a cap). */
void sv_sender_lost(sv_sender_t *s, uint64_t items);
/* Lets the queue drain for at most drain_ns, then stops. 0 when every item was
 * delivered; else SV_EIO with one line in err: "LABEL: N of M UNIT were not written
 * (last error: …); the summary has them all". */
int sv_sender_finish(sv_sender_t *s, uint64_t drain_ns, const char *label, const char *unit,
                     char *err, size_t size);
/* Stops (dropping what is queued) and frees. */
void sv_sender_free(sv_sender_t *s);

#endif
