/*
 * `salvo serve`: the demo target, on 127.0.0.1 unless told otherwise, until
 * SIGINT or SIGTERM.
 */
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "../plan/plan.h"
#include "../server/demo.h"
#include "options.h"

typedef struct {
    char host[64];
    uint16_t port;
    uint32_t workers;
    bool quiet;
} serve_args_t;

static int opt_listen(void *ctx, const char *v)
{
    serve_args_t *a = ctx;
    if (sv_split_host_port(v, a->host, sizeof(a->host), &a->port) != 0)
        return sv_cli_error("--listen: \"%s\" is not an address; write HOST:PORT, e.g. "
                            "127.0.0.1:8080 or [::1]:8080",
                            v);
    return 0;
}

static int opt_workers(void *ctx, const char *v)
{
    uint64_t n;
    if (sv_parse_uint(v, 256, &n) != 0)
        return sv_cli_error("--workers: \"%s\" is not a number from 1 to 256", v);
    ((serve_args_t *)ctx)->workers = (uint32_t)n;
    return 0;
}

static int opt_quiet(void *ctx, const char *v)
{
    ((serve_args_t *)ctx)->quiet = true;
    return 0;
}

static const sv_opt_t serve_options[] = {
    {"listen", 'l', "HOST:PORT", "address to listen on (default 127.0.0.1:8080; port 0 picks one)",
     opt_listen},
    {"workers", 'w', "N", "worker threads (default: one per core)", opt_workers},
    {"quiet", 'q', NULL, "print nothing but errors", opt_quiet},
    {0},
};

static const char serve_usage[] =
    "Usage: salvo serve [options]\n"
    "\n"
    "Starts the demo target, a small HTTP/1.1 server to try salvo against. Routes:\n"
    "  /, /hello        a 13-byte text\n"
    "  /bytes/N         N bytes (Content-Length)     /chunked/N   N bytes, chunked\n"
    "  /gzip/N          N bytes, gzip-encoded        /delay/MS    answers after MS ms\n"
    "  /status/CODE     answers with CODE            /echo        returns the request body\n"
    "  /close           answers with Connection: close\n"
    "  /health          liveness                     /stats       requests served, as JSON\n"
    "\n"
    "A small JSON API, in memory (user admin/admin exists; tokens are HS256 JWTs\n"
    "valid for an hour, signed with a secret made at startup):\n"
    "  POST /auth/register  {\"username\",\"password\"} -> 201 {\"username\"}; 409 if taken\n"
    "  POST /auth/login     {\"username\",\"password\"} -> 200 {\"token\"}; 401 if wrong\n"
    "  GET  /products       [{\"id\",\"name\",\"price\"}, ...]   GET /products/ID  one, or 404\n"
    "  POST /orders         {\"product\",\"quantity\"} with Authorization: Bearer TOKEN\n"
    "                       -> 201 {\"id\",\"product\",\"quantity\",\"user\",\"total\"}\n"
    "  GET  /users/me       with the token -> {\"username\",\"orders\"}\n"
    "\n";

static void on_signal(uv_signal_t *sig, int signum)
{
    uv_stop(sig->loop);
}

int sv_cmd_serve(int argc, char **argv)
{
    serve_args_t a = {.host = "127.0.0.1", .port = 8080};
    int n = sv_opts_parse(serve_options, "salvo serve", argc, argv, 2, &a, NULL, 0);
    if (n == -2) {
        fputs(serve_usage, stdout);
        sv_opts_help(stdout, "salvo serve", serve_options);
        return SV_EXIT_OK;
    }
    if (n < 0)
        return SV_EXIT_USAGE;
    if (a.workers == 0)
        a.workers = (uint32_t)uv_available_parallelism();

    sv_demo_stats_t stats = {0};
    sv_server_t *server;
    const char *why;
    if (sv_server_open(&server, a.host, a.port, a.workers, sv_demo_handle, &stats, &why) != 0) {
        sv_cli_error("--listen: cannot listen on %s:%u: %s (pick another port with --listen)",
                     a.host, a.port, why);
        return SV_EXIT_USAGE;
    }
    uv_loop_t loop;
    uv_signal_t sigint, sigterm;
    uv_loop_init(&loop);
    uv_signal_init(&loop, &sigint);
    uv_signal_init(&loop, &sigterm);
    uv_signal_start(&sigint, on_signal, SIGINT);
    uv_signal_start(&sigterm, on_signal, SIGTERM);
    sv_server_start(server);
    bool v6 = strchr(a.host, ':') != NULL;
    if (!a.quiet) {
        fprintf(stderr, "salvo serve: listening on http://%s%s%s:%u (%u worker%s); Ctrl-C stops\n",
                v6 ? "[" : "", a.host, v6 ? "]" : "", sv_server_port(server), a.workers,
                a.workers == 1 ? "" : "s");
        fflush(stderr);
    }
    uv_run(&loop, UV_RUN_DEFAULT);
    sv_server_free(server);
    if (!a.quiet)
        fprintf(stderr, "salvo serve: stopped after %llu requests\n",
                (unsigned long long)atomic_load(&stats.requests));
    uv_close((uv_handle_t *)&sigint, NULL);
    uv_close((uv_handle_t *)&sigterm, NULL);
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
    return SV_EXIT_OK;
}
