/*
 * The --out registry: each kind opens from its argument, takes periods, finishes.
 */
#include "outputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output_kinds.h"

static const sv_out_kind_t *const kinds[] = {
    &sv_out_json, &sv_out_csv,        &sv_out_influxdb,      &sv_out_junit,
    &sv_out_html, &sv_out_prometheus, &sv_out_prometheus_rw,
};

/* Kinds k6 users may ask for that salvo does not have yet. */
static const char *const later[] = {
    "influxdb", "prometheus-rw", "html", "experimental-prometheus-rw", "statsd", "cloud"};

#define SUPPORTED                                                                                  \
    "json=FILE, csv=FILE, influxdb=URL, junit=FILE, html=FILE, prometheus=HOST:PORT, "             \
    "prometheus-rw=URL"

struct sv_outputs {
    sv_out_t *items;
    size_t n;
    const sv_catalog_t *catalog;
    char **notes; /* from finish */
    size_t n_notes;
};

static const sv_out_kind_t *find(const char *spec, const char **arg, char *err, size_t size)
{
    const char *eq = strchr(spec, '=');
    size_t len = eq ? (size_t)(eq - spec) : strlen(spec);
    for (size_t i = 0; i < SV_ARRAY_SIZE(kinds); i++)
        if (strlen(kinds[i]->name) == len && strncmp(spec, kinds[i]->name, len) == 0) {
            *arg = eq ? eq + 1 : "";
            if (**arg == '\0') {
                snprintf(err, size, "--out %s: needs an argument: --out %s", spec, kinds[i]->usage);
                return NULL;
            }
            return kinds[i];
        }
    for (size_t i = 0; i < SV_ARRAY_SIZE(later); i++)
        if (strlen(later[i]) == len && strncmp(spec, later[i], len) == 0) {
            snprintf(err, size,
                     "--out %.*s: not supported yet (it arrives with the outputs work; "
                     "supported: " SUPPORTED ")",
                     (int)len, spec);
            return NULL;
        }
    snprintf(err, size, "--out %s: unknown output (supported: " SUPPORTED ")", spec);
    return NULL;
}

int sv_outputs_check(const char *spec, char *err, size_t size)
{
    const char *arg;
    const sv_out_kind_t *kind = find(spec, &arg, err, size);
    if (kind == NULL)
        return SV_EINVAL;
    return kind->check ? kind->check(arg, err, size) : 0;
}

int sv_outputs_open(sv_outputs_t **out, char *const *specs, size_t n, const sv_catalog_t *catalog,
                    bool required, char *err, size_t size)
{
    sv_outputs_t *o = sv_xcalloc(1, sizeof(*o));
    o->catalog = catalog;
    o->items = sv_xcalloc(n ? n : 1, sizeof(*o->items));
    *out = o;
    for (size_t i = 0; i < n; i++) {
        const char *arg;
        const sv_out_kind_t *kind = find(specs[i], &arg, err, size);
        if (kind == NULL)
            return SV_EINVAL;
        sv_out_t *item = &o->items[o->n];
        *item = (sv_out_t){.kind = kind};
        if (kind->open(item, arg, err, size) == 0) {
            o->n++;
            continue;
        }
        if (required)
            return SV_EINVAL;
        fprintf(stderr, "salvo: warning: %s; the test runs without it\n", err);
    }
    return 0;
}

void sv_outputs_period(sv_outputs_t *o, const sv_report_t *so_far)
{
    for (size_t i = 0; o && i < o->n; i++)
        if (o->items[i].kind->period)
            o->items[i].kind->period(&o->items[i], so_far);
}

bool sv_outputs_want_samples(const sv_outputs_t *o)
{
    for (size_t i = 0; o && i < o->n; i++)
        if (o->items[i].kind->samples)
            return true;
    return false;
}

void sv_outputs_samples(sv_outputs_t *o, const sv_sample_t *s, size_t n, uint64_t lost,
                        uint64_t wall_offset_ns)
{
    for (size_t i = 0; o && i < o->n; i++)
        if (o->items[i].kind->samples)
            o->items[i].kind->samples(&o->items[i], o->catalog, s, n, lost, wall_offset_ns);
}

size_t sv_outputs_finish(sv_outputs_t *o, const sv_report_t *report, char ***notes)
{
    *notes = NULL;
    if (o == NULL)
        return 0;
    for (size_t i = 0; i < o->n; i++) {
        char err[512];
        if (o->items[i].kind->finish(&o->items[i], report, err, sizeof(err)) != 0) {
            o->notes = sv_xrealloc(o->notes, (o->n_notes + 1) * sizeof(*o->notes));
            o->notes[o->n_notes++] = sv_xstrdup(err);
        }
    }
    *notes = o->notes;
    return o->n_notes;
}

void sv_outputs_close(sv_outputs_t *o)
{
    if (o == NULL)
        return;
    for (size_t i = 0; i < o->n; i++)
        o->items[i].kind->close(&o->items[i]);
    for (size_t i = 0; i < o->n_notes; i++)
        free(o->notes[i]);
    free(o->notes);
    free(o->items);
    free(o);
}
