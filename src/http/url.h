/*
 * URL parsing for the client: scheme, host, port, path-and-query. Allocates one
 * block owned by the sv_url_t.
 */
#ifndef SV_URL_H
#define SV_URL_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    char *scheme;    /* "http" or "https", lower case */
    char *host;      /* without brackets for IPv6 */
    uint16_t port;   /* explicit or the scheme's default */
    char *target;    /* path and query, "/" when empty; never the fragment */
    char *authority; /* host[:port] as it goes into the Host header */
    char *userinfo;  /* "user:password", percent-decoded, or NULL */
    bool tls;
} sv_url_t;

/* Parses an absolute http:// or https:// URL. On failure returns SV_EPARSE and,
 * when why is not NULL, points it at a static reason ("missing host", …). */
int sv_url_parse(sv_url_t *u, const char *text, const char **why);
void sv_url_free(sv_url_t *u);

#endif
