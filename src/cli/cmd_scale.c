/*
 * `salvo scale --vus N`: changes the VUs of a running test's externally-controlled
 * scenario through its control endpoint on 127.0.0.1 (see engine/control.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../http/oneshot.h"
#include "../plan/plan.h"
#include "options.h"

typedef struct {
    const char *address;
    long long vus; /* -1: only show the status */
} scale_args_t;

static int opt_vus(void *ctx, const char *v)
{
    uint64_t n = 0;
    if (strcmp(v, "0") != 0 && sv_parse_uint(v, 1000000, &n) != 0)
        return sv_cli_error("--vus: \"%s\" is not a number from 0 to 1000000", v);
    ((scale_args_t *)ctx)->vus = (long long)n;
    return 0;
}

static int opt_address(void *ctx, const char *v)
{
    ((scale_args_t *)ctx)->address = v;
    return 0;
}

static const sv_opt_t scale_options[] = {
    {"vus", 'u', "N", "the VUs the externally-controlled scenario runs from now on", opt_vus},
    {"address", 'a', "HOST:PORT", "the test's control endpoint (default 127.0.0.1:6565)",
     opt_address},
    {0},
};

static const char scale_usage[] =
    "Usage: salvo scale --vus N [--address HOST:PORT]\n"
    "       salvo scale            (prints the current VUs)\n"
    "\n"
    "Changes the VUs of a running test's externally-controlled scenario. The test\n"
    "listens on 127.0.0.1:6565 unless it was started with --address.\n"
    "\n";

static int report(int status, const char *body)
{
    json_t *doc = json_loads(body, 0, NULL);
    json_t *attrs = json_object_get(json_object_get(doc, "data"), "attributes");
    const char *detail = json_string_value(
        json_object_get(json_array_get(json_object_get(doc, "errors"), 0), "detail"));
    int code = SV_EXIT_OK;
    if (status == 200 && attrs)
        printf("vus: %lld (max %lld)\n",
               (long long)json_integer_value(json_object_get(attrs, "vus")),
               (long long)json_integer_value(json_object_get(attrs, "vus-max")));
    else {
        sv_cli_error("the test refused: %s", detail ? detail : body);
        code = 1;
    }
    json_decref(doc);
    return code;
}

/* GET the status, or PATCH the VUs; the answer's status (-1 with why when nothing
 * answered, -2 after an error line for a bad --address). */
static int ask(const scale_args_t *a, sv_buf_t *body, char *why, size_t size)
{
    char host[256], port[8];
    uint16_t port_number;
    if (sv_split_host_port(a->address, host, sizeof(host), &port_number) != 0 || !port_number) {
        sv_cli_error("--address: \"%s\" is not an address; write HOST:PORT, e.g. 127.0.0.1:6565",
                     a->address);
        return -2;
    }
    snprintf(port, sizeof(port), "%u", port_number);
    char doc[96];
    snprintf(doc, sizeof(doc), "{\"data\":{\"attributes\":{\"vus\":%lld}}}", a->vus);
    sv_oneshot_t rq = {
        .host = host,
        .port = port,
        .method = a->vus < 0 ? "GET" : "PATCH",
        .path = "/v1/status",
        .headers = a->vus < 0 ? NULL : "Content-Type: application/json\r\n",
        .body = a->vus < 0 ? NULL : doc,
        .body_len = strlen(doc),
        .timeout_s = 10,
    };
    return sv_http_oneshot(&rq, body, why, size);
}

int sv_cmd_scale(int argc, char **argv)
{
    scale_args_t a = {.address = SV_CONTROL_ADDRESS, .vus = -1};
    int n = sv_opts_parse(scale_options, "salvo scale", argc, argv, 2, &a, NULL, 0);
    if (n == -2) {
        fputs(scale_usage, stdout);
        sv_opts_help(stdout, "salvo scale", scale_options);
        return SV_EXIT_OK;
    }
    if (n < 0)
        return SV_EXIT_USAGE;
    sv_buf_t body;
    sv_buf_init(&body, SIZE_MAX);
    char why[160];
    int status = ask(&a, &body, why, sizeof(why));
    int code;
    if (status == -2) {
        code = SV_EXIT_USAGE;
    } else if (status < 0) {
        sv_cli_error("no running test answers at %s: %s (start one with an "
                     "externally-controlled scenario, or give its --address)",
                     a.address, why);
        code = 1;
    } else {
        code = report(status, body.data ? body.data : "");
    }
    sv_buf_free(&body);
    return code;
}
