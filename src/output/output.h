/*
 * Outputs of a run: the banner before it, the live progress line, the end-of-test
 * summary in k6's layout and the JSON summary export in k6's shape (plus what k6
 * lacks, under "salvo").
 *
 * All functions run on the collector (main) thread.
 */
#ifndef SV_OUTPUT_H
#define SV_OUTPUT_H

#include <jansson.h>
#include <stdio.h>

#include "report.h"

/* One summary row: a metric with samples, or one of its default sub-metrics. */
typedef struct {
    char *name; /* "http_req_duration" or "http_req_duration{expected_response:true}" */
    const sv_metric_def_t *def;
    sv_series_t agg;
    bool sub;
} sv_summary_row_t;

/* Rows sorted by name, sub-metrics right after their metric. */
size_t sv_summary_rows(const sv_report_t *r, sv_summary_row_t **rows);
void sv_summary_rows_free(sv_summary_row_t *rows, size_t n);

typedef struct {
    int code;
    char *message;
    uint64_t count;
} sv_error_kind_t;

/* Failed requests grouped by error code and message, most frequent first. */
size_t sv_summary_errors(const sv_report_t *r, sv_error_kind_t **kinds);
void sv_summary_errors_free(sv_error_kind_t *kinds, size_t n);

/* Groups and checks as a tree, from the checks and group_duration series. */
typedef struct {
    char *name;
    uint64_t passes, fails;
} sv_check_row_t;

typedef struct sv_group_node {
    char *name, *path; /* "" and "" for the root; "b" and "::a::b" below */
    struct sv_group_node *children;
    size_t n_children;
    sv_check_row_t *checks;
    size_t n_checks;
} sv_group_node_t;

void sv_summary_groups(const sv_report_t *r, sv_group_node_t *root);
void sv_summary_groups_free(sv_group_node_t *root);

/* k6's value formats: "1.23ms", "2.4 MB", … */
void sv_format_time_ms(double ms, char *out, size_t size);
void sv_format_bytes(double bytes, char *out, size_t size);

void sv_output_banner(FILE *f, const sv_plan_t *plan, uint32_t workers);
void sv_output_summary(FILE *f, const sv_report_t *r);
/* Appends s with XML/HTML's special characters escaped (and control characters,
 * which XML 1.0 does not allow, as spaces). */
void sv_xml_text(sv_buf_t *b, const char *s);
/* The JSON summary as a document (to json_decref). */
json_t *sv_output_export_doc(const sv_report_t *r);
/* Writes the self-contained HTML report of a run: tables from r, charts from the
 * export document's timeline. 0, or SV_EIO with *why (from errno). */
int sv_output_html(const sv_report_t *r, json_t *export_doc, const char *path, const char **why);
/* The JSON summary as text, to free. */
char *sv_output_export_json(const sv_report_t *r);
/* Writes the JSON summary. 0, or SV_EIO with *why set (from errno). */
int sv_output_export(const sv_report_t *r, const char *path, const char **why);

/* Redraws the progress line (for a terminal). */
void sv_output_progress(FILE *f, const sv_progress_t *p);
/* Ends the progress line so later output starts on a clean line. */
void sv_output_progress_done(FILE *f);

#endif
