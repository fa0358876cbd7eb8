/*
 * `salvo scale --vus N`: changes the VUs of a running test's externally-controlled
 * scenario through its control endpoint on 127.0.0.1 (see engine/control.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

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

static int connect_to(const char *address)
{
    char host[256], port_text[8];
    uint16_t port;
    if (sv_split_host_port(address, host, sizeof(host), &port) != 0 || port == 0)
        return sv_cli_error("--address: \"%s\" is not an address; write HOST:PORT", address);
    snprintf(port_text, sizeof(port_text), "%u", port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *res;
    if (getaddrinfo(host, port_text, &hints, &res) != 0)
        return sv_cli_error("--address: cannot resolve \"%s\"", host);
    int fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return sv_cli_error("no running test answers at %s: %s (start one with an "
                            "externally-controlled scenario, or give its --address)",
                            address, strerror(errno));
    return fd;
}

/* One request, Connection: close; the response's body into *body. Returns the
 * status, or -1 after an error line. */
static int exchange(int fd, const char *request, char **body)
{
    size_t len = strlen(request), off = 0;
    while (off < len) {
        ssize_t n = write(fd, request + off, len - off);
        if (n <= 0)
            return sv_cli_error("the control endpoint closed the connection");
        off += (size_t)n;
    }
    sv_buf_t in;
    sv_buf_init(&in, 1 << 20);
    char chunk[4096];
    ssize_t n;
    while ((n = read(fd, chunk, sizeof(chunk))) > 0)
        sv_buf_append(&in, chunk, (size_t)n);
    sv_buf_append(&in, "", 1); /* a C string from here on */
    int status = 0;
    const char *sep = in.data ? strstr(in.data, "\r\n\r\n") : NULL;
    if (sep == NULL || sscanf(in.data, "HTTP/1.%*d %d", &status) != 1) {
        sv_buf_free(&in);
        return sv_cli_error("the control endpoint's answer is not HTTP");
    }
    *body = sv_xstrdup(sep + 4);
    sv_buf_free(&in);
    return status;
}

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
    int fd = connect_to(a.address);
    if (fd < 0)
        return 1;
    char *request, *body = NULL;
    if (a.vus < 0)
        request =
            sv_xasprintf("GET /v1/status HTTP/1.1\r\nHost: salvo\r\nConnection: close\r\n\r\n");
    else {
        char *doc = sv_xasprintf("{\"data\":{\"attributes\":{\"vus\":%lld}}}", a.vus);
        request = sv_xasprintf("PATCH /v1/status HTTP/1.1\r\nHost: salvo\r\nConnection: close\r\n"
                               "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                               strlen(doc), doc);
        free(doc);
    }
    int status = exchange(fd, request, &body);
    close(fd);
    free(request);
    int code = status < 0 ? 1 : report(status, body);
    free(body);
    return code;
}
