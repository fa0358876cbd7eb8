/*
 * Command-line options, each defined once: its names, argument, help text and the
 * function that applies it. The same table parses argv and prints --help.
 */
#ifndef SV_CLI_OPTIONS_H
#define SV_CLI_OPTIONS_H

#include <stdbool.h>
#include <stdio.h>

typedef struct {
    const char *name; /* long name, without "--" */
    char short_name;  /* 0 when none */
    const char *arg;  /* NULL: a flag; "VALUE": required; "[=VALUE]": optional, only after '=' */
    const char *help;
    /* Applies the option (value is NULL for a flag or an omitted optional value).
     * Returns 0, or -1 after printing one error line. */
    int (*apply)(void *ctx, const char *value);
} sv_opt_t;

/* Parses argv[first..argc). Positional arguments are collected into positional
 * (at most max_positional). Returns the number of positionals, -1 after an error
 * line, or -2 when --help was asked for (the caller prints it). */
int sv_opts_parse(const sv_opt_t *opts, const char *usage, int argc, char **argv, int first,
                  void *ctx, char **positional, int max_positional);
void sv_opts_help(FILE *f, const char *usage, const sv_opt_t *opts);

/* Prints "salvo: <message>" on stderr as one line. Returns -1 for convenience. */
int sv_cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define SV_EXIT_OK 0
#define SV_EXIT_USAGE 2
#define SV_EXIT_THRESHOLDS 99
#define SV_EXIT_SETUP_TIMEOUT 100
#define SV_EXIT_TEARDOWN_TIMEOUT 101
#define SV_EXIT_EXTERNAL_ABORT 105
#define SV_EXIT_SCRIPT_ERROR 107
#define SV_EXIT_SCRIPT_ABORT 108

int sv_cmd_run(int argc, char **argv);
int sv_cmd_scale(int argc, char **argv);
int sv_cmd_merge(int argc, char **argv);
int sv_cmd_report(int argc, char **argv);
int sv_cmd_serve(int argc, char **argv);

#endif
