/*
 * libFuzzer driver for the server side of HTTP/1.1 (the demo target): arbitrary
 * bytes as a request head, then whatever follows as its body. Broken invariants
 * trap (see h1_check.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "h1_check.h"

static int parse_request(const char *buf, size_t len, void *req)
{
    return sv_h1_parse_request(buf, len, req);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    sv_h1_request_t req;
    int rc = sv_h1_parse_request(buf, size, &req);
    if (rc == SV_EAGAIN || rc == SV_EPARSE)
        return 0;
    CHECK(rc > 0 && (size_t)rc <= size);
    size_t head_len = (size_t)rc;

    CHECK(req.minor_version >= 0 && req.minor_version <= 9);
    CHECK(span_inside(req.method, buf, head_len) && is_token(req.method));
    CHECK(span_inside(req.target, buf, head_len) && req.target.len > 0);
    for (size_t i = 0; i < req.target.len; i++)
        CHECK((unsigned char)req.target.ptr[i] > ' ' && req.target.ptr[i] != 0x7f);
    check_headers(req.headers, req.num_headers, buf, head_len);
    CHECK(req.framing.content_length >= -1);
    (void)sv_h1_keep_alive(req.minor_version, &req.framing);

    sv_h1_request_t scratch;
    check_reparse(buf, head_len, size % head_len, parse_request, &scratch);

    const char *rest = buf + head_len;
    size_t rest_len = size - head_len;
    sv_h1_body_t body;
    sv_h1_body_init_request(&body, &req);
    /* Without a length a request has no body: reading to close would hang. */
    CHECK(body.mode != SV_H1_BODY_UNTIL_CLOSE);
    CHECK((body.mode == SV_H1_BODY_NONE) ==
          (!req.framing.chunked && req.framing.content_length < 0));
    check_body(&body, &req.framing, rest, rest_len, split_point(data, size, rest_len));
    return 0;
}
