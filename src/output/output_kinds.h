/*
 * What each --out kind implements (outputs.c drives them).
 */
#ifndef SV_OUTPUT_KINDS_H
#define SV_OUTPUT_KINDS_H

#include "outputs.h"

typedef struct sv_out sv_out_t;

typedef struct {
    const char *name;  /* "junit" */
    const char *usage; /* "junit=FILE" */
    /* Checks the argument before the test (may be NULL). */
    int (*check)(const char *arg, char *err, size_t size);
    /* Opens what the output needs (a file, a listener). SV_EINVAL with err. */
    int (*open)(sv_out_t *o, const char *arg, char *err, size_t size);
    void (*period)(sv_out_t *o, const sv_report_t *so_far); /* may be NULL */
    /* Every sample, when the kind wants them (may be NULL): times are wall-clock ns. */
    void (*samples)(sv_out_t *o, const sv_catalog_t *cat, const sv_sample_t *s, size_t n,
                    uint64_t lost, uint64_t wall_offset_ns);
    int (*finish)(sv_out_t *o, const sv_report_t *report, char *err, size_t size);
    void (*close)(sv_out_t *o);
} sv_out_kind_t;

struct sv_out {
    const sv_out_kind_t *kind;
    void *state;
};

extern const sv_out_kind_t sv_out_junit;
extern const sv_out_kind_t sv_out_html;
extern const sv_out_kind_t sv_out_json;
extern const sv_out_kind_t sv_out_csv;
extern const sv_out_kind_t sv_out_influxdb;
extern const sv_out_kind_t sv_out_prometheus;
extern const sv_out_kind_t sv_out_prometheus_rw;

#endif
