/*
 * salvo's entry point: dispatches to a subcommand.
 */
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <uv.h>
#include <zlib.h>

#include "options.h"

static const char usage[] =
    "salvo — load and performance testing\n"
    "\n"
    "Usage: salvo <command> [options]\n"
    "\n"
    "Commands:\n"
    "  run       run a load test (salvo run --url URL --vus 10 --duration 30s)\n"
    "  merge     combine the exports of a test's segments (salvo merge a.json b.json -o m.json)\n"
    "  report    the HTML report of a run (salvo report summary.json -o report.html)\n"
    "  scale     change a running test's VUs (salvo scale --vus 50)\n"
    "  serve     start the demo target on 127.0.0.1 (salvo serve --listen 127.0.0.1:8080)\n"
    "  version   print the version\n"
    "\n"
    "Run 'salvo <command> --help' for a command's options.\n"
    "Exit codes: 0 ok, 2 usage or configuration error, 99 thresholds failed,\n"
    "100/101 setup/teardown timed out, 105 stopped by a signal, 107 script error,\n"
    "108 aborted by the script.\n";

int main(int argc, char **argv)
{
    if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        fputs(usage, argc < 2 ? stderr : stdout);
        return argc < 2 ? SV_EXIT_USAGE : SV_EXIT_OK;
    }
    /* A peer that closed its end makes a write fail with EPIPE, which every socket
     * path handles; the signal would kill the process instead. */
    signal(SIGPIPE, SIG_IGN);
    if (strcmp(argv[1], "run") == 0)
        return sv_cmd_run(argc, argv);
    if (strcmp(argv[1], "merge") == 0)
        return sv_cmd_merge(argc, argv);
    if (strcmp(argv[1], "report") == 0)
        return sv_cmd_report(argc, argv);
    if (strcmp(argv[1], "scale") == 0)
        return sv_cmd_scale(argc, argv);
    if (strcmp(argv[1], "serve") == 0)
        return sv_cmd_serve(argc, argv);
    if (strcmp(argv[1], "version") == 0 || strcmp(argv[1], "--version") == 0) {
        printf("salvo %s (libuv %s, jansson %s, zlib %s)\n", SV_VERSION, uv_version_string(),
               JANSSON_VERSION, zlibVersion());
        return SV_EXIT_OK;
    }
    sv_cli_error(
        "unknown command \"%s\"; commands are run, merge, report, scale, serve and version (see "
        "'salvo --help')",
        argv[1]);
    return SV_EXIT_USAGE;
}
