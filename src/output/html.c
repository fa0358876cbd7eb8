/*
 * The HTML report: one self-contained file (styles and a small chart script inline,
 * no network) with the verdict, the configuration, thresholds, checks, every metric
 * and sub-metric, charts of the run second by second and the latency distribution
 * from the merged histogram. Tables are written here; the page's script only draws
 * the charts, from data embedded as JSON.
 */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output.h"

void sv_xml_text(sv_buf_t *b, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&':
            sv_buf_printf(b, "&amp;");
            break;
        case '<':
            sv_buf_printf(b, "&lt;");
            break;
        case '>':
            sv_buf_printf(b, "&gt;");
            break;
        case '"':
            sv_buf_printf(b, "&quot;");
            break;
        default:
            if ((unsigned char)*s < 0x20 && *s != '\t' && *s != '\n')
                sv_buf_printf(b, " "); /* not allowed in XML 1.0 */
            else
                sv_buf_append(b, s, 1);
        }
    }
}

static const char style[] =
    "body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#1d232b;"
    "padding:0 1em}h1{font-size:1.6em;margin-bottom:.2em}h2{margin-top:1.6em;font-size:1.2em;"
    "border-bottom:1px solid #dde2e8;padding-bottom:.2em}table{border-collapse:collapse;"
    "width:100%;font-size:13px}th,td{text-align:left;padding:.25em .6em;border-bottom:1px solid "
    "#eef1f4}td.n{text-align:right;font-variant-numeric:tabular-nums}tr.sub td:first-child{"
    "padding-left:2em;color:#56606b}.pass{color:#1a7f37}.fail{color:#cf222e;font-weight:600}"
    ".verdict{font-size:1.1em;padding:.4em .8em;border-radius:6px;display:inline-block}"
    ".verdict.pass{background:#e6f4ea}.verdict.fail{background:#fdecea}.charts{display:grid;"
    "grid-template-columns:1fr 1fr;gap:1em}figure{margin:0}figcaption{font-weight:600;"
    "margin-bottom:.3em}canvas{width:100%;height:220px;border:1px solid #eef1f4}"
    "pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:12px}";

/* Draws line charts on canvases from the embedded data; marks the body when done. */
static const char script[] =
    "(function(){\n"
    "var D=JSON.parse(document.getElementById('salvo-data').textContent);\n"
    "var colors=['#0969da','#cf222e','#1a7f37','#8250df','#bf8700'];\n"
    "function fmt(v){return Math.abs(v)>=100?v.toFixed(0):Math.abs(v)>=1?v.toFixed(2):"
    "v.toPrecision(2);}\n"
    "function chart(id,xs,series,xlabel){var c=document.getElementById(id);if(!c)return 0;\n"
    " var w=c.width=c.clientWidth*2,h=c.height=c.clientHeight*2,g=c.getContext('2d');\n"
    " g.scale(2,2);w/=2;h/=2;var L=48,R=10,T=10,B=28;\n"
    " var ymax=0;series.forEach(function(s){s.v.forEach(function(v){if(v>ymax)ymax=v;});});\n"
    " if(!(ymax>0))ymax=1;var xmin=xs.length?Math.min.apply(null,xs):0,"
    "xmax=xs.length?Math.max.apply(null,xs):1;if(xmax<=xmin)xmax=xmin+1;\n"
    " function X(x){return L+(x-xmin)/(xmax-xmin)*(w-L-R);}function Y(y){return "
    "h-B-y/ymax*(h-T-B);}\n"
    " g.strokeStyle='#d0d7de';g.fillStyle='#56606b';g.font='11px sans-serif';\n"
    " for(var i=0;i<=4;i++){var y=ymax*i/4;g.beginPath();g.moveTo(L,Y(y));g.lineTo(w-R,Y(y));"
    "g.stroke();g.fillText(fmt(y),2,Y(y)+4);}\n"
    " g.fillText(xlabel,w/2-20,h-6);g.fillText(fmt(xmin),L,h-14);"
    "g.fillText(fmt(xmax),w-R-30,h-14);\n"
    " series.forEach(function(s,k){g.strokeStyle=colors[k%colors.length];g.lineWidth=1.5;"
    "g.beginPath();\n"
    "  s.v.forEach(function(v,i){var px=X(xs[i]),py=Y(v);if(i)g.lineTo(px,py);else "
    "g.moveTo(px,py);});g.stroke();\n"
    "  g.fillStyle=colors[k%colors.length];g.fillText(s.name,L+8+k*90,T+10);});\n"
    " return 1;}\n"
    "var t=D.timeseries||{},x=t.t_s||[],n=0;\n"
    "n+=chart('c-rps',x,[{name:'requests/s',v:t.reqs_per_s||[]},{name:'iterations/s',"
    "v:t.iterations_per_s||[]},{name:'failed/s',v:t.failed_per_s||[]}],'seconds');\n"
    "n+=chart('c-vus',x,[{name:'VUs',v:t.vus||[]}],'seconds');\n"
    "n+=chart('c-lat',x,[{name:'p50 ms',v:t.p50_ms||[]},{name:'p95 ms',v:t.p95_ms||[]},"
    "{name:'p99 ms',v:t.p99_ms||[]}],'seconds');\n"
    "var d=D.distribution||{};n+=chart('c-dist',d.percentile||[],[{name:'http_req_duration "
    "ms',v:d.ms||[]}],'percentile');\n"
    "document.body.setAttribute('data-charts',String(n));\n"
    "})();\n";

static void verdict(sv_buf_t *b, const sv_report_t *r)
{
    bool ok = r->thresholds_failed == 0 && !r->aborted && !r->interrupted;
    char dur[32];
    sv_format_duration(r->duration_ns, dur, sizeof(dur));
    sv_buf_printf(b, "<p class=\"verdict %s\">%s</p>\n", ok ? "pass" : "fail",
                  r->thresholds_failed ? "Thresholds failed"
                  : r->aborted         ? "Aborted"
                  : r->interrupted     ? "Interrupted"
                                       : "Passed");
    sv_buf_printf(b, "<p>%s: <code>", r->plan->script ? "Script" : "Target");
    if (r->plan->script)
        sv_xml_text(b, r->plan->script);
    else if (r->plan->request.url) {
        sv_xml_text(b, r->plan->request.method);
        sv_buf_printf(b, " ");
        sv_xml_text(b, r->plan->request.url);
    }
    sv_buf_printf(b, "</code> · ran %s", dur);
    if (r->aborted) {
        sv_buf_printf(b, " · ");
        sv_xml_text(b, r->aborted);
    }
    sv_buf_printf(b, "</p>\n");
}

static void thresholds(sv_buf_t *b, const sv_report_t *r)
{
    if (r->n_thresholds == 0)
        return;
    sv_buf_printf(b, "<h2>Thresholds</h2>\n<table><tr><th>metric</th><th>threshold</th>"
                     "<th>observed</th><th></th></tr>\n");
    for (size_t i = 0; i < r->n_thresholds; i++) {
        const sv_threshold_result_t *t = &r->thresholds[i];
        sv_buf_printf(b, "<tr><td>");
        sv_xml_text(b, t->set->key);
        sv_buf_printf(b, "</td><td><code>");
        sv_xml_text(b, t->t->source);
        sv_buf_printf(b, "</code></td><td class=\"n\">%s%g</td><td class=\"%s\">%s</td></tr>\n",
                      t->no_data ? "no data " : "", t->observed, t->passed ? "pass" : "fail",
                      t->passed ? "&#10003; pass" : "&#10007; fail");
    }
    sv_buf_printf(b, "</table>\n");
}

static void check_rows(sv_buf_t *b, const sv_group_node_t *g)
{
    for (size_t i = 0; i < g->n_checks; i++) {
        const sv_check_row_t *c = &g->checks[i];
        sv_buf_printf(b, "<tr><td>");
        sv_xml_text(b, g->path);
        sv_buf_printf(b, "</td><td>");
        sv_xml_text(b, c->name);
        sv_buf_printf(b, "</td><td class=\"n\">%llu</td><td class=\"n %s\">%llu</td></tr>\n",
                      (unsigned long long)c->passes, c->fails ? "fail" : "",
                      (unsigned long long)c->fails);
    }
    for (size_t i = 0; i < g->n_children; i++)
        check_rows(b, &g->children[i]);
}

static void checks(sv_buf_t *b, const sv_report_t *r)
{
    sv_group_node_t root;
    sv_summary_groups(r, &root);
    sv_buf_t rows;
    sv_buf_init(&rows, SIZE_MAX);
    check_rows(&rows, &root);
    sv_summary_groups_free(&root);
    if (rows.len) {
        sv_buf_printf(b, "<h2>Checks</h2>\n<table><tr><th>group</th><th>check</th>"
                         "<th>passed</th><th>failed</th></tr>\n");
        sv_buf_append(b, rows.data, rows.len);
        sv_buf_printf(b, "</table>\n");
    }
    sv_buf_free(&rows);
}

static void trend_cells(sv_buf_t *b, const sv_summary_row_t *row)
{
    static const struct {
        sv_agg_t agg;
        double pct;
    } cols[] = {{SV_AGG_AVG, 0}, {SV_AGG_MIN, 0}, {SV_AGG_MED, 0}, {SV_AGG_MAX, 0},
                {SV_AGG_P, 90},  {SV_AGG_P, 95},  {SV_AGG_P, 99}};
    for (size_t i = 0; i < SV_ARRAY_SIZE(cols); i++) {
        double v = sv_trend_stat(row->agg.v.trend, cols[i].agg, cols[i].pct);
        char text[32];
        if (row->def->contains == SV_CONTAINS_TIME)
            sv_format_time_ms(v, text, sizeof(text));
        else
            snprintf(text, sizeof(text), "%g", v);
        sv_buf_printf(b, "<td class=\"n\">%s</td>", text);
    }
}

static void metric_row(sv_buf_t *b, const sv_summary_row_t *row, double seconds)
{
    const sv_series_t *a = &row->agg;
    sv_buf_printf(b, "<tr%s><td>", row->sub ? " class=\"sub\"" : "");
    sv_xml_text(b, row->name);
    sv_buf_printf(b, "</td>");
    switch (a->type) {
    case SV_TREND:
        trend_cells(b, row);
        break;
    case SV_COUNTER:
        sv_buf_printf(b, "<td class=\"n\">%.15g</td><td class=\"n\">%.2f/s</td><td colspan=5></td>",
                      a->v.counter, a->v.counter / seconds);
        break;
    case SV_RATE:
        sv_buf_printf(b,
                      "<td class=\"n\">%.2f%%</td><td class=\"n\">%llu of %llu</td>"
                      "<td colspan=5></td>",
                      a->v.rate.total ? 100.0 * (double)a->v.rate.nonzero / (double)a->v.rate.total
                                      : 0,
                      (unsigned long long)a->v.rate.nonzero, (unsigned long long)a->v.rate.total);
        break;
    case SV_GAUGE:
        sv_buf_printf(b,
                      "<td class=\"n\">%g</td><td class=\"n\">min %g</td><td class=\"n\">max "
                      "%g</td><td colspan=4></td>",
                      a->v.gauge.value, a->v.gauge.min, a->v.gauge.max);
        break;
    }
    sv_buf_printf(b, "</tr>\n");
}

static void metrics(sv_buf_t *b, const sv_report_t *r)
{
    sv_summary_row_t *rows;
    size_t n = sv_summary_rows(r, &rows);
    double seconds = r->duration_ns ? (double)r->duration_ns / 1e9 : 1e-9;
    sv_buf_printf(b, "<h2>Metrics</h2>\n<table><tr><th>metric</th><th>avg · value</th>"
                     "<th>min</th><th>med</th><th>max</th><th>p(90)</th><th>p(95)</th>"
                     "<th>p(99)</th></tr>\n");
    for (size_t i = 0; i < n; i++)
        metric_row(b, &rows[i], seconds);
    sv_buf_printf(b, "</table>\n");
    sv_summary_rows_free(rows, n);
}

/* The latency distribution: http_req_duration at a ladder of percentiles. */
static json_t *distribution(const sv_report_t *r)
{
    static const double ladder[] = {0,  10, 20, 30, 40,   50,   60,    70,
                                    80, 90, 95, 99, 99.5, 99.9, 99.99, 100};
    json_t *pct = json_array(), *ms = json_array();
    sv_series_t all = {0};
    if (sv_registry_aggregate(r->totals, SV_M_HTTP_REQ_DURATION, NULL, NULL, &all) > 0 &&
        all.v.trend) {
        for (size_t i = 0; i < SV_ARRAY_SIZE(ladder); i++) {
            json_array_append_new(pct, json_real(ladder[i]));
            json_array_append_new(
                ms, json_real(sv_hist_percentile(all.v.trend, ladder[i]) / SV_TREND_SCALE));
        }
        sv_series_release(&all);
    }
    return json_pack("{s:o,s:o}", "percentile", pct, "ms", ms);
}

static void data_block(sv_buf_t *b, const sv_report_t *r, json_t *export_doc)
{
    json_t *data = json_pack("{s:O?,s:o,s:O?}", "timeseries",
                             json_object_get(json_object_get(export_doc, "salvo"), "timeseries"),
                             "distribution", distribution(r), "config",
                             json_object_get(json_object_get(export_doc, "salvo"), "config"));
    char *text = json_dumps(data, JSON_COMPACT);
    sv_buf_printf(b, "<script type=\"application/json\" id=\"salvo-data\">");
    for (const char *p = text; *p; p++) { /* "</" must not close the script element */
        if (p[0] == '<' && p[1] == '/')
            sv_buf_printf(b, "<\\");
        else
            sv_buf_append(b, p, 1);
    }
    sv_buf_printf(b, "</script>\n");
    free(text);
    json_decref(data);
}

static void configuration(sv_buf_t *b, json_t *export_doc)
{
    json_t *config = json_object_get(json_object_get(export_doc, "salvo"), "config");
    char *text = json_dumps(config, JSON_INDENT(2));
    sv_buf_printf(b, "<h2>Configuration</h2>\n<pre>");
    sv_xml_text(b, text ? text : "{}");
    sv_buf_printf(b, "</pre>\n");
    free(text);
}

int sv_output_html(const sv_report_t *r, json_t *export_doc, const char *path, const char **why)
{
    sv_buf_t b;
    sv_buf_init(&b, SIZE_MAX);
    sv_buf_printf(&b,
                  "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
                  "<meta name=\"viewport\" content=\"width=device-width\">"
                  "<title>salvo report</title><style>%s</style></head>\n<body>\n"
                  "<h1>salvo report</h1>\n",
                  style);
    verdict(&b, r);
    sv_buf_printf(&b, "<h2>Over time</h2>\n<div class=\"charts\">"
                      "<figure><figcaption>Requests and iterations per second</figcaption>"
                      "<canvas id=\"c-rps\"></canvas></figure>"
                      "<figure><figcaption>Active VUs</figcaption>"
                      "<canvas id=\"c-vus\"></canvas></figure>"
                      "<figure><figcaption>Latency per second</figcaption>"
                      "<canvas id=\"c-lat\"></canvas></figure>"
                      "<figure><figcaption>Latency distribution (whole run)</figcaption>"
                      "<canvas id=\"c-dist\"></canvas></figure></div>\n");
    thresholds(&b, r);
    checks(&b, r);
    metrics(&b, r);
    configuration(&b, export_doc);
    data_block(&b, r, export_doc);
    sv_buf_printf(&b, "<script>%s</script>\n</body></html>\n", script);
    FILE *f = fopen(path, "w");
    bool ok = f != NULL && fwrite(b.data, 1, b.len, f) == b.len;
    if (f != NULL && fclose(f) != 0)
        ok = false;
    sv_buf_free(&b);
    if (!ok) {
        *why = strerror(errno ? errno : EIO);
        return SV_EIO;
    }
    return 0;
}
