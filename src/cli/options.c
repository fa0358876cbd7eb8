/*
 * The option parser and help printer shared by every subcommand.
 */
#include "options.h"

#include <stdarg.h>
#include <string.h>

int sv_cli_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("salvo: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

static const sv_opt_t *find_long(const sv_opt_t *opts, const char *name, size_t len)
{
    for (const sv_opt_t *o = opts; o->name; o++)
        if (strlen(o->name) == len && strncmp(o->name, name, len) == 0)
            return o;
    return NULL;
}

static const sv_opt_t *find_short(const sv_opt_t *opts, char c)
{
    for (const sv_opt_t *o = opts; o->name; o++)
        if (o->short_name == c)
            return o;
    return NULL;
}

static bool optional_arg(const sv_opt_t *o)
{
    return o->arg && o->arg[0] == '[';
}

/* Applies option o given as `spelled`, with an inline value (after '=') or the next
 * argument. Returns how many extra argv entries were used, or -1. */
static int apply_option(const sv_opt_t *o, const char *spelled, const char *inline_value, int argc,
                        char **argv, int i, void *ctx)
{
    if (o->arg == NULL) {
        if (inline_value)
            return sv_cli_error("%s takes no value (got \"%s\")", spelled, inline_value);
        return o->apply(ctx, NULL) == 0 ? 0 : -1;
    }
    if (inline_value || optional_arg(o))
        return o->apply(ctx, inline_value) == 0 ? 0 : -1;
    if (i + 1 >= argc)
        return sv_cli_error("%s needs a value: %s %s", spelled, spelled, o->arg);
    return o->apply(ctx, argv[i + 1]) == 0 ? 1 : -1;
}

int sv_opts_parse(const sv_opt_t *opts, const char *usage, int argc, char **argv, int first,
                  void *ctx, char **positional, int max_positional)
{
    int n_pos = 0;
    for (int i = first; i < argc; i++) {
        const char *a = argv[i];
        int used;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0)
            return -2;
        if (strncmp(a, "--", 2) == 0 && a[2]) {
            const char *eq = strchr(a + 2, '=');
            size_t len = eq ? (size_t)(eq - a - 2) : strlen(a + 2);
            const sv_opt_t *o = find_long(opts, a + 2, len);
            if (o == NULL)
                return sv_cli_error("unknown option --%.*s (see '%s --help')", (int)len, a + 2,
                                    usage);
            char spelled[64];
            snprintf(spelled, sizeof(spelled), "--%s", o->name);
            used = apply_option(o, spelled, eq ? eq + 1 : NULL, argc, argv, i, ctx);
        } else if (a[0] == '-' && a[1] && a[1] != '-') {
            const sv_opt_t *o = find_short(opts, a[1]);
            if (o == NULL)
                return sv_cli_error("unknown option -%c (see '%s --help')", a[1], usage);
            char spelled[8];
            snprintf(spelled, sizeof(spelled), "-%c", a[1]);
            used = apply_option(o, spelled, a[2] ? a + 2 : NULL, argc, argv, i, ctx);
        } else {
            if (n_pos == max_positional)
                return sv_cli_error("unexpected argument \"%s\" (see '%s --help')", a, usage);
            positional[n_pos++] = argv[i];
            continue;
        }
        if (used < 0)
            return -1;
        i += used;
    }
    return n_pos;
}

void sv_opts_help(FILE *f, const char *usage, const sv_opt_t *opts)
{
    fprintf(f, "Options of '%s':\n", usage);
    for (const sv_opt_t *o = opts; o->name; o++) {
        char left[64];
        int n = o->short_name ? snprintf(left, sizeof(left), "  -%c, --%s", o->short_name, o->name)
                              : snprintf(left, sizeof(left), "      --%s", o->name);
        if (o->arg)
            snprintf(left + n, sizeof(left) - (size_t)n, optional_arg(o) ? "%s" : " %s", o->arg);
        if (strlen(left) > 30)
            fprintf(f, "%s\n%32s%s\n", left, "", o->help);
        else
            fprintf(f, "%-32s%s\n", left, o->help);
    }
    fprintf(f, "  -h, --help                    show this help\n");
}
