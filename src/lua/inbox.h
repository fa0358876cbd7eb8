/*
 * What a VU reads from a long-living exchange (an event stream, a WebSocket) while
 * its Lua code runs: items queue here as the network delivers them, and a VU that
 * waits for the next one is resumed from the loop with it, never from inside the
 * client's read path (whose connection the Lua code may then close).
 */
#ifndef SV_LUA_INBOX_H
#define SV_LUA_INBOX_H

#include "lua_int.h"

typedef struct sv_inbox_item {
    struct sv_inbox_item *next;
    int kind;
    char *text[3]; /* NUL-terminated copies, NULL for none (they may hold NULs: see len) */
    size_t len[3];
    int64_t num;
} sv_inbox_item_t;

/* Pushes an item as the value(s) the VU's next() returns; returns their count. */
typedef int (*sv_inbox_push_t)(lua_State *L, const sv_inbox_item_t *item);

typedef struct {
    sv_lua_vu_t *vu;
    sv_inbox_push_t push;
    sv_inbox_item_t *head, *tail;
    size_t n, max;
    bool waiting; /* the VU yielded in next() */
    bool closed;  /* nothing more will come: next() returns nil once it is empty */
    uv_timer_t resume;
} sv_inbox_t;

/* max: the most items queued at once. */
void sv_inbox_init(sv_inbox_t *in, sv_lua_vu_t *vu, sv_inbox_push_t push, size_t max);
/* Drops what is queued and closes the inbox's timer handle: the memory holding the
 * inbox may go in on_closed (the handle is &in->resume). */
void sv_inbox_free(sv_inbox_t *in, uv_close_cb on_closed);

/* Queues an item: up to three texts (copied; a NULL ptr for none) and a number.
 * False when the inbox is full: the item is dropped. */
bool sv_inbox_put(sv_inbox_t *in, int kind, const sv_span_t text[3], int64_t num);
/* The same past the cap: for the one item that says why the exchange ends. */
void sv_inbox_put_last(sv_inbox_t *in, int kind, const sv_span_t text[3], int64_t num);
/* Nothing more will come. */
void sv_inbox_close(sv_inbox_t *in);

/* next(): pushes the next item's values and returns their count; 0 (nil) when the
 * inbox is closed and empty; otherwise the VU waits (the return value of
 * lua_yield). */
int sv_inbox_next(sv_inbox_t *in, lua_State *L);

#endif
