/*
 * An HDR histogram of non-negative integer values (salvo records microseconds):
 * 0 .. 3,600,000,000 (one hour) at 3 significant digits. Counts live in chunks
 * allocated on first use, so an idle or narrow histogram costs a few KB instead of
 * the ~185 KB a full one needs. Merging is exact: percentiles of a merge equal the
 * percentiles of recording all values into one histogram.
 *
 * Not thread-safe: a histogram belongs to one thread at a time.
 */
#ifndef SV_HIST_H
#define SV_HIST_H

#include <stdbool.h>
#include <stdint.h>

#include "../util/util.h"

#define SV_HIST_MAX_VALUE 3600000000ULL /* larger values are clamped (max stays exact) */

typedef struct sv_hist sv_hist_t;

sv_hist_t *sv_hist_new(void);
void sv_hist_free(sv_hist_t *h);
/* Empties the histogram, keeping its chunks for reuse. */
void sv_hist_reset(sv_hist_t *h);

void sv_hist_record(sv_hist_t *h, uint64_t value);
void sv_hist_record_n(sv_hist_t *h, uint64_t value, uint64_t n);
/* Adds every value of src to dst. */
void sv_hist_merge(sv_hist_t *dst, const sv_hist_t *src);

uint64_t sv_hist_count(const sv_hist_t *h);
uint64_t sv_hist_min(const sv_hist_t *h); /* exact; 0 when empty */
uint64_t sv_hist_max(const sv_hist_t *h); /* exact; 0 when empty */
double sv_hist_mean(const sv_hist_t *h);  /* exact; 0 when empty */
/* The p-th percentile (0..100) with k6's definition: linear interpolation between the
 * values at ranks floor and ceil of p/100*(count-1). Exact for values below 2048,
 * otherwise within 0.05% (half a bucket). 0 when empty. */
double sv_hist_percentile(const sv_hist_t *h, double p);
/* Bytes of counts allocated, for memory accounting. */
size_t sv_hist_footprint(const sv_hist_t *h);

/* Bins in value order: call with *cursor = 0 until it returns false. Each bin is a
 * bucket's lowest value, the width of its range, and a non-zero count. */
bool sv_hist_next_bin(const sv_hist_t *h, uint32_t *cursor, uint64_t *lowest, uint64_t *width,
                      uint64_t *count);

/* Compact text form "H1;count;min;max;sum;delta:count,…" that round-trips exactly.
 * Appends to out; SV_ETOOBIG if out's cap is reached. */
int sv_hist_encode(const sv_hist_t *h, sv_buf_t *out);
/* Adds the histogram in text form to h. SV_EPARSE if malformed (h is unchanged). */
int sv_hist_decode_merge(sv_hist_t *h, const char *text, size_t len);

#endif
