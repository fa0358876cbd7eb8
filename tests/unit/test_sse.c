/* The event-stream parser (src/http/sse.c) against the WHATWG rules. */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "http/sse.h"

#define MAX_EVENTS 16

typedef struct {
    char type[64], data[256], id[64];
    int64_t retry;
} got_t;

static got_t got[MAX_EVENTS];
static size_t n_got;

static void collect(const sv_sse_event_t *ev, void *arg)
{
    (void)arg;
    cr_assert_lt(n_got, MAX_EVENTS);
    got_t *g = &got[n_got++];
    snprintf(g->type, sizeof(g->type), "%.*s", (int)ev->type.len, ev->type.ptr);
    snprintf(g->data, sizeof(g->data), "%.*s", (int)ev->data.len, ev->data.ptr);
    snprintf(g->id, sizeof(g->id), "%.*s", (int)ev->id.len, ev->id.ptr);
    g->retry = ev->retry_ms;
}

/* Parses text in pieces of `step` bytes (0: whole). */
static int parse(const char *text, size_t step)
{
    sv_sse_parser_t p;
    sv_sse_init(&p, 1024);
    n_got = 0;
    size_t len = strlen(text);
    int rc = 0;
    for (size_t i = 0; i < len && rc == 0; i += step ? step : len)
        rc = sv_sse_feed(&p, text + i, step && len - i > step ? step : len - i, collect, NULL);
    sv_sse_free(&p);
    return rc;
}

Test(sse, one_event_per_blank_line)
{
    cr_assert_eq(parse("data: a\n\ndata: b\n\n", 0), 0);
    cr_assert_eq(n_got, 2);
    cr_expect_str_eq(got[0].type, "message");
    cr_expect_str_eq(got[0].data, "a");
    cr_expect_str_eq(got[1].data, "b");
    cr_expect_eq(got[0].retry, -1);
}

Test(sse, data_lines_join_with_lf_and_event_names_the_type)
{
    parse("event: tick\ndata: one\ndata:two\ndata\n\n", 0);
    cr_assert_eq(n_got, 1);
    cr_expect_str_eq(got[0].type, "tick");
    cr_expect_str_eq(got[0].data, "one\ntwo\n"); /* "data" alone adds an empty line */
}

Test(sse, the_type_resets_after_each_event_but_the_id_stays)
{
    parse("id: 7\nevent: x\ndata: 1\n\ndata: 2\n\nid\ndata: 3\n\n", 0);
    cr_assert_eq(n_got, 3);
    cr_expect_str_eq(got[0].id, "7");
    cr_expect_str_eq(got[0].type, "x");
    cr_expect_str_eq(got[1].id, "7");
    cr_expect_str_eq(got[1].type, "message");
    cr_expect_str_eq(got[2].id, ""); /* an empty id: line clears it */
}

Test(sse, without_data_nothing_is_dispatched)
{
    parse("event: x\n\nid: 1\n\n: a comment\n\n", 0);
    cr_expect_eq(n_got, 0);
}

Test(sse, retry_takes_digits_only)
{
    parse("retry: 1500\ndata: a\n\nretry: 2s\ndata: b\n\n", 0);
    cr_assert_eq(n_got, 2);
    cr_expect_eq(got[0].retry, 1500);
    cr_expect_eq(got[1].retry, 1500);
}

Test(sse, comments_and_unknown_fields_are_ignored)
{
    parse(":hello\nfoo: bar\ndata: x\n\n", 0);
    cr_assert_eq(n_got, 1);
    cr_expect_str_eq(got[0].data, "x");
}

Test(sse, only_one_leading_space_is_removed)
{
    parse("data:  two spaces\n\n", 0);
    cr_expect_str_eq(got[0].data, " two spaces");
}

Test(sse, cr_lf_and_crlf_all_end_lines)
{
    parse("data: a\r\rdata: b\r\n\r\ndata: c\n\n", 0);
    cr_assert_eq(n_got, 3);
    cr_expect_str_eq(got[0].data, "a");
    cr_expect_str_eq(got[1].data, "b");
    cr_expect_str_eq(got[2].data, "c");
}

Test(sse, a_bom_at_the_start_is_skipped)
{
    parse("\xEF\xBB\xBF"
          "data: a\n\n",
          0);
    cr_assert_eq(n_got, 1);
    cr_expect_str_eq(got[0].data, "a");
}

Test(sse, pieces_of_any_size_give_the_same_events)
{
    const char *text =
        "\xEF\xBB\xBFid: 1\r\nevent: tick\r\ndata: x\r\ndata: y\r\n\r\n:c\rretry: 9\r"
        "data: z\r\r";
    got_t whole[MAX_EVENTS];
    parse(text, 0);
    size_t n = n_got;
    memcpy(whole, got, sizeof(whole));
    cr_assert_eq(n, 2);
    cr_expect_str_eq(whole[0].data, "x\ny");
    cr_expect_eq(whole[1].retry, 9);
    for (size_t step = 1; step < strlen(text); step++) {
        cr_assert_eq(parse(text, step), 0);
        cr_assert_eq(n_got, n, "step %zu", step);
        for (size_t i = 0; i < n; i++) {
            cr_expect_str_eq(got[i].data, whole[i].data, "step %zu", step);
            cr_expect_str_eq(got[i].type, whole[i].type, "step %zu", step);
            cr_expect_str_eq(got[i].id, whole[i].id, "step %zu", step);
            cr_expect_eq(got[i].retry, whole[i].retry, "step %zu", step);
        }
    }
}

Test(sse, an_event_over_the_cap_is_refused)
{
    char text[4096];
    memset(text, 'a', sizeof(text) - 1);
    text[sizeof(text) - 1] = '\0';
    memcpy(text, "data: ", 6);
    cr_expect_eq(parse(text, 0), SV_ETOOBIG);
}
