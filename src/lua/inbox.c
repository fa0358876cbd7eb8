/*
 * A VU's inbox (see inbox.h).
 */
#include "inbox.h"

#include <stdlib.h>
#include <string.h>

static void item_free(sv_inbox_item_t *it)
{
    for (size_t i = 0; i < SV_ARRAY_SIZE(it->text); i++)
        free(it->text[i]);
    free(it);
}

static bool has_item(const sv_inbox_t *in)
{
    return in->head != NULL;
}

/* Pushes the oldest item's values onto L and drops it; their count. */
static int pop(sv_inbox_t *in, lua_State *L)
{
    sv_inbox_item_t *it = in->head;
    in->head = it->next;
    if (in->head == NULL)
        in->tail = NULL;
    in->n--;
    int n = in->push(L, it);
    item_free(it);
    return n;
}

static void on_resume(uv_timer_t *t)
{
    sv_inbox_t *in = t->data;
    if (!in->waiting || (!has_item(in) && !in->closed))
        return;
    in->waiting = false;
    sv_lua_vu_t *vu = in->vu;
    int n = has_item(in) ? pop(in, vu->co) : 0;
    sv_lua_resume(vu, n);
}

static void wake(sv_inbox_t *in)
{
    if (in->waiting)
        uv_timer_start(&in->resume, on_resume, 0, 0);
}

void sv_inbox_init(sv_inbox_t *in, sv_lua_vu_t *vu, sv_inbox_push_t push, size_t max)
{
    *in = (sv_inbox_t){.vu = vu, .push = push, .max = max};
    uv_timer_init(vu->s->host->loop, &in->resume);
    in->resume.data = in;
}

void sv_inbox_free(sv_inbox_t *in, uv_close_cb on_closed)
{
    while (in->head) {
        sv_inbox_item_t *it = in->head;
        in->head = it->next;
        item_free(it);
    }
    in->tail = NULL;
    in->n = 0;
    uv_close((uv_handle_t *)&in->resume, on_closed);
}

/* A copy of len bytes (NULs too), NUL-terminated; NULL for NULL. */
static char *copy(const char *s, size_t len)
{
    if (s == NULL)
        return NULL;
    char *p = sv_xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

static void put(sv_inbox_t *in, int kind, const sv_span_t text[3], int64_t num);

bool sv_inbox_put(sv_inbox_t *in, int kind, const sv_span_t text[3], int64_t num)
{
    if (in->n >= in->max)
        return false;
    put(in, kind, text, num);
    return true;
}

void sv_inbox_put_last(sv_inbox_t *in, int kind, const sv_span_t text[3], int64_t num)
{
    put(in, kind, text, num);
}

static void put(sv_inbox_t *in, int kind, const sv_span_t text[3], int64_t num)
{
    sv_inbox_item_t *it = sv_xcalloc(1, sizeof(*it));
    it->kind = kind;
    for (size_t i = 0; text && i < SV_ARRAY_SIZE(it->text); i++) {
        it->text[i] = copy(text[i].ptr, text[i].len);
        it->len[i] = text[i].len;
    }
    it->num = num;
    if (in->tail)
        in->tail->next = it;
    else
        in->head = it;
    in->tail = it;
    in->n++;
    wake(in);
}

void sv_inbox_close(sv_inbox_t *in)
{
    in->closed = true;
    wake(in);
}

int sv_inbox_next(sv_inbox_t *in, lua_State *L)
{
    if (has_item(in))
        return pop(in, L);
    if (in->closed)
        return 0;
    in->waiting = true;
    in->vu->wait = WAIT_HTTP;
    return lua_yield(L, 0);
}
