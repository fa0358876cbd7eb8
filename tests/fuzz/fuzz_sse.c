/*
 * libFuzzer driver for the server-sent events parser: any bytes parse without a
 * fault, every event it gives has a type and stays within the cap, and feeding the
 * same bytes in two pieces (split anywhere) gives exactly the same events.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/sse.h"

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond))                                                                               \
            __builtin_trap();                                                                      \
    } while (0)

#define CAP 4096

/* Every event as "type\0data\0id\0retry;" so two runs compare as bytes. */
static void record(const sv_sse_event_t *ev, void *arg)
{
    sv_buf_t *log = arg;
    CHECK(ev->type.len > 0 && ev->type.len <= CAP && ev->data.len < CAP && ev->id.len <= CAP);
    CHECK(memchr(ev->id.ptr, '\0', ev->id.len) == NULL);
    sv_buf_append(log, ev->type.ptr, ev->type.len);
    sv_buf_append(log, "", 1);
    sv_buf_append(log, ev->data.ptr, ev->data.len);
    sv_buf_append(log, "", 1);
    sv_buf_append(log, ev->id.ptr, ev->id.len);
    sv_buf_printf(log, "%lld;", (long long)ev->retry_ms);
}

/* Parses data in two pieces cut at `cut`; the log of events, and the result. */
static int run(const char *data, size_t size, size_t cut, sv_buf_t *log)
{
    sv_sse_parser_t p;
    sv_sse_init(&p, CAP);
    sv_buf_init(log, SIZE_MAX);
    int rc = sv_sse_feed(&p, data, cut, record, log);
    if (rc == 0)
        rc = sv_sse_feed(&p, data + cut, size - cut, record, log);
    CHECK(rc == 0 || rc == SV_ETOOBIG);
    sv_sse_free(&p);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cut = data[0] % size; /* the first byte picks where the second run splits */
    const char *text = (const char *)data + 1;
    size--;
    cut = cut > size ? size : cut;
    sv_buf_t whole, split;
    int a = run(text, size, 0, &whole);
    int b = run(text, size, cut, &split);
    CHECK(a == b);
    if (a == 0)
        CHECK(whole.len == split.len &&
              (whole.len == 0 || memcmp(whole.data, split.data, whole.len) == 0));
    sv_buf_free(&whole);
    sv_buf_free(&split);
    return 0;
}
