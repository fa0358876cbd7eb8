/*
 * Live and end-of-test outputs, chosen with --out NAME=ARG as k6 spells them. The
 * collector hands every output the totals so far once a period (on its own thread:
 * workers never wait for an output) and the final report at the end.
 *
 * Implemented: json=FILE[.gz], csv=FILE[.gz], influxdb=URL, junit=FILE, html=FILE,
 * prometheus=HOST:PORT, prometheus-rw=URL. Others k6 users know (statsd, cloud)
 * are refused with "not supported yet". See docs/outputs.md.
 */
#ifndef SV_OUTPUTS_H
#define SV_OUTPUTS_H

#include <stddef.h>

#include "report.h"

typedef struct sv_outputs sv_outputs_t;

/* Checks one --out spec ("junit=report.xml") without opening anything. SV_EINVAL
 * with a one-line message in err. */
int sv_outputs_check(const char *spec, char *err, size_t size);

/* Opens every spec (binding endpoints, creating files). An output that cannot open
 * is an error when `required`; otherwise it is left out with a warning line on
 * stderr. The catalogue names the samples' metrics. SV_EINVAL with err. */
int sv_outputs_open(sv_outputs_t **out, char *const *specs, size_t n, const sv_catalog_t *catalog,
                    bool required, char *err, size_t size);
/* The totals so far (collector thread, once a period). */
void sv_outputs_period(sv_outputs_t *o, const sv_report_t *so_far);
/* Whether an output takes every sample (workers then keep them). */
bool sv_outputs_want_samples(const sv_outputs_t *o);
/* Samples from a worker's period (collector thread). */
void sv_outputs_samples(sv_outputs_t *o, const sv_sample_t *s, size_t n, uint64_t lost,
                        uint64_t wall_offset_ns);
/* The final report: each output finishes (files written, queues drained). Returns
 * the lines of what went wrong (data dropped, a file not written), kept until close. */
size_t sv_outputs_finish(sv_outputs_t *o, const sv_report_t *report, char ***notes);
void sv_outputs_close(sv_outputs_t *o);

#endif
