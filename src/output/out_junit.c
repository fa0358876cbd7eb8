/*
 * --out junit=FILE: JUnit XML for CI systems, one test case per threshold (suite
 * "thresholds") and per check (suite "checks"), failures with what was observed.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"
#include "output_kinds.h"

static int check_path(const char *path, char *err, size_t size)
{
    FILE *f = fopen(path, "a");
    if (f == NULL) {
        snprintf(err, size, "--out junit=%s: cannot write: %s", path, strerror(errno));
        return SV_EINVAL;
    }
    fclose(f);
    return 0;
}

static int junit_open(sv_out_t *o, const char *path, char *err, size_t size)
{
    if (check_path(path, err, size) != 0)
        return SV_EINVAL;
    o->state = sv_xstrdup(path);
    return 0;
}

static void threshold_cases(sv_buf_t *b, const sv_report_t *r, size_t *failures)
{
    for (size_t i = 0; i < r->n_thresholds; i++) {
        const sv_threshold_result_t *t = &r->thresholds[i];
        sv_buf_printf(b, "    <testcase classname=\"thresholds.");
        sv_xml_text(b, t->set->key);
        sv_buf_printf(b, "\" name=\"");
        sv_xml_text(b, t->t->source);
        sv_buf_printf(b, "\" time=\"0\">");
        if (!t->passed) {
            (*failures)++;
            char msg[128];
            snprintf(msg, sizeof(msg), "observed %g", t->observed);
            sv_buf_printf(b, "\n      <failure type=\"threshold\" message=\"%s\">", msg);
            sv_xml_text(b, t->set->key);
            sv_buf_printf(b, ": ");
            sv_xml_text(b, t->t->source);
            sv_buf_printf(b, " failed, %s</failure>\n    ", msg);
        }
        sv_buf_printf(b, "</testcase>\n");
    }
}

static size_t check_cases(sv_buf_t *b, const sv_group_node_t *g, size_t *failures)
{
    size_t n = 0;
    for (size_t i = 0; i < g->n_checks; i++, n++) {
        const sv_check_row_t *c = &g->checks[i];
        sv_buf_printf(b, "    <testcase classname=\"checks");
        sv_xml_text(b, g->path);
        sv_buf_printf(b, "\" name=\"");
        sv_xml_text(b, c->name);
        sv_buf_printf(b, "\" time=\"0\">");
        if (c->fails) {
            (*failures)++;
            sv_buf_printf(b,
                          "\n      <failure type=\"check\" message=\"%llu of %llu failed\">"
                          "%llu of %llu failed</failure>\n    ",
                          (unsigned long long)c->fails, (unsigned long long)(c->passes + c->fails),
                          (unsigned long long)c->fails, (unsigned long long)(c->passes + c->fails));
        }
        sv_buf_printf(b, "</testcase>\n");
    }
    for (size_t i = 0; i < g->n_children; i++)
        n += check_cases(b, &g->children[i], failures);
    return n;
}

/* One suite: its cases are rendered first, then wrapped with their counts. */
static void suite(sv_buf_t *out, const char *name, const sv_buf_t *cases, size_t tests,
                  size_t failures, double seconds)
{
    sv_buf_printf(out,
                  "  <testsuite name=\"%s\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
                  "time=\"%.3f\">\n",
                  name, tests, failures, seconds);
    if (cases->len)
        sv_buf_append(out, cases->data, cases->len);
    sv_buf_printf(out, "  </testsuite>\n");
}

static int junit_finish(sv_out_t *o, const sv_report_t *r, char *err, size_t size)
{
    double seconds = (double)r->duration_ns / 1e9;
    sv_buf_t th, ch, doc;
    sv_buf_init(&th, SIZE_MAX);
    sv_buf_init(&ch, SIZE_MAX);
    sv_buf_init(&doc, SIZE_MAX);
    size_t th_fail = 0, ch_fail = 0;
    threshold_cases(&th, r, &th_fail);
    sv_group_node_t root;
    sv_summary_groups(r, &root);
    size_t checks = check_cases(&ch, &root, &ch_fail);
    sv_summary_groups_free(&root);
    sv_buf_printf(&doc,
                  "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
                  "<testsuites name=\"salvo\" tests=\"%zu\" failures=\"%zu\" time=\"%.3f\">\n",
                  r->n_thresholds + checks, th_fail + ch_fail, seconds);
    suite(&doc, "thresholds", &th, r->n_thresholds, th_fail, seconds);
    suite(&doc, "checks", &ch, checks, ch_fail, seconds);
    sv_buf_printf(&doc, "</testsuites>\n");
    const char *path = o->state;
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && fwrite(doc.data, 1, doc.len, f) == doc.len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    int rc = 0;
    if (!ok) {
        snprintf(err, size, "--out junit=%s: cannot write: %s", path, strerror(errno));
        rc = SV_EIO;
    }
    sv_buf_free(&th);
    sv_buf_free(&ch);
    sv_buf_free(&doc);
    return rc;
}

static void junit_close(sv_out_t *o)
{
    free(o->state);
}

const sv_out_kind_t sv_out_junit = {
    .name = "junit",
    .usage = "junit=FILE",
    .check = NULL,
    .open = junit_open,
    .period = NULL,
    .finish = junit_finish,
    .close = junit_close,
};
