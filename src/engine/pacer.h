/*
 * A one-shot timer with nanosecond resolution on the worker's loop, for arrival
 * schedules: libuv timers tick in milliseconds, which would add up to a
 * millisecond of false lateness to every open-model iteration. Uses timerfd on
 * Linux and falls back to a libuv timer elsewhere.
 */
#ifndef SV_PACER_H
#define SV_PACER_H

#include <stdint.h>
#include <uv.h>

typedef struct sv_pacer sv_pacer_t;
typedef void (*sv_pacer_cb)(sv_pacer_t *p);

struct sv_pacer {
    uv_poll_t poll;
    uv_timer_t timer;
    int fd;
    int open_handles;
    sv_pacer_cb cb;
    void (*closed)(sv_pacer_t *p);
    void *data;
};

int sv_pacer_init(uv_loop_t *loop, sv_pacer_t *p, sv_pacer_cb cb);
/* Fires cb once at monotonic time at_ns (sv_now_ns clock), or at once if past. */
void sv_pacer_arm(sv_pacer_t *p, uint64_t at_ns);
void sv_pacer_close(sv_pacer_t *p, void (*closed)(sv_pacer_t *p));

#endif
