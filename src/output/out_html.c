/*
 * --out html=FILE: the HTML report (html.c), written when the test ends.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "output_kinds.h"

static int html_open(sv_out_t *o, const char *path, char *err, size_t size)
{
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        snprintf(err, size, "--out html=%s: cannot write: %s", path, strerror(errno));
        return SV_EINVAL;
    }
    fclose(f);
    o->state = sv_xstrdup(path);
    return 0;
}

static int html_finish(sv_out_t *o, const sv_report_t *report, char *err, size_t size)
{
    json_t *doc = sv_output_export_doc(report);
    const char *why;
    int rc = sv_output_html(report, doc, o->state, &why);
    json_decref(doc);
    if (rc != 0)
        snprintf(err, size, "--out html=%s: cannot write: %s", (char *)o->state, why);
    return rc;
}

static void html_close(sv_out_t *o)
{
    free(o->state);
}

const sv_out_kind_t sv_out_html = {
    .name = "html",
    .usage = "html=FILE",
    .open = html_open,
    .finish = html_finish,
    .close = html_close,
};
