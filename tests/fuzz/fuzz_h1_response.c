/*
 * libFuzzer driver for the client side of HTTP/1.1: arbitrary bytes as a response
 * head, then whatever follows as its body, through the decoder the client uses.
 * Broken invariants trap (see h1_check.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "h1_check.h"

static int parse_response(const char *buf, size_t len, void *res)
{
    return sv_h1_parse_response(buf, len, res);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    sv_h1_response_t res;
    int rc = sv_h1_parse_response(buf, size, &res);
    if (rc == SV_EAGAIN || rc == SV_EPARSE)
        return 0;
    CHECK(rc > 0 && (size_t)rc <= size);
    size_t head_len = (size_t)rc;

    CHECK(res.minor_version >= 0 && res.minor_version <= 9);
    CHECK(res.status >= 100 && res.status <= 999);
    CHECK(span_inside(res.reason, buf, head_len));
    check_headers(res.headers, res.num_headers, buf, head_len);
    CHECK(res.framing.content_length >= -1);
    (void)sv_h1_keep_alive(res.minor_version, &res.framing);

    sv_h1_response_t scratch;
    check_reparse(buf, head_len, size % head_len, parse_response, &scratch);

    const char *rest = buf + head_len;
    size_t rest_len = size - head_len;
    size_t split = split_point(data, size, rest_len);
    sv_h1_body_t body;
    sv_h1_body_init_response(&body, &res, false);
    bool no_body = res.status < 200 || res.status == 204 || res.status == 304;
    CHECK(no_body == (body.mode == SV_H1_BODY_NONE));
    CHECK(body.mode != SV_H1_BODY_CHUNKED || res.framing.chunked);
    check_body(&body, &res.framing, rest, rest_len, split);

    /* A response to HEAD has no body whatever its headers say. */
    sv_h1_body_init_response(&body, &res, true);
    CHECK(body.mode == SV_H1_BODY_NONE && body.done);
    check_body(&body, &res.framing, rest, rest_len, split);
    return 0;
}
