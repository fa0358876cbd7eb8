/*
 * Every series of a run's totals as JSON, and back: what `salvo merge` needs to
 * combine the exports of a test's segments exactly (counters summed, rates' counts
 * summed, trends merged from their histograms). Lives in the export's "salvo"
 * section; see docs/summary-export.md.
 */
#ifndef SV_SERIES_H
#define SV_SERIES_H

#include <jansson.h>

#include "../metrics/metrics.h"

/* {"metrics": {custom metric name: {"type", "contains"}}, "series": [{"metric",
 * "tags", "value"}]}. A trend's value is its encoded histogram. */
json_t *sv_series_dump(const sv_registry_t *reg);

/* Declares the custom metrics of a dump in the catalogue (before a registry is made
 * on it). SV_EPARSE with *why when a name clashes with another type. */
int sv_series_declare(sv_catalog_t *catalog, const json_t *dump, const char **why);

/* Adds a dump's series into reg. `sum_gauges`: gauges named here add up (the VUs of
 * segments that ran side by side) instead of keeping the latest. SV_EPARSE with
 * *why on a malformed dump. */
int sv_series_load(sv_registry_t *reg, const json_t *dump, const char *const *sum_gauges,
                   const char **why);

#endif
