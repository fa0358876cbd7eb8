/*
 * Nanosecond one-shot timer: timerfd (absolute CLOCK_MONOTONIC, the clock behind
 * uv_hrtime) watched by a uv_poll_t, or a millisecond uv_timer where there is no
 * timerfd.
 */
#include "pacer.h"

#include <unistd.h>

#include "../util/util.h"

#ifdef __linux__
#include <sys/timerfd.h>
#endif

static void handle_closed(uv_handle_t *h)
{
    sv_pacer_t *p = h->data;
    if (h == (uv_handle_t *)&p->poll && p->fd >= 0) {
        close(p->fd); /* only now: the fd must outlive its poll handle */
        p->fd = -1;
    }
    if (--p->open_handles == 0 && p->closed)
        p->closed(p);
}

#ifdef __linux__
static void on_readable(uv_poll_t *poll, int status, int events)
{
    sv_pacer_t *p = sv_container_of(poll, sv_pacer_t, poll);
    uint64_t expirations;
    if (read(p->fd, &expirations, sizeof(expirations)) < 0)
        return; /* spurious wake-up or disarmed meanwhile */
    p->cb(p);
}
#endif

static void on_timer(uv_timer_t *t)
{
    sv_pacer_t *p = sv_container_of(t, sv_pacer_t, timer);
    p->cb(p);
}

int sv_pacer_init(uv_loop_t *loop, sv_pacer_t *p, sv_pacer_cb cb)
{
    p->cb = cb;
    p->fd = -1;
    p->open_handles = 1;
    uv_timer_init(loop, &p->timer);
    p->timer.data = p;
#ifdef __linux__
    p->fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (p->fd >= 0) {
        if (uv_poll_init(loop, &p->poll, p->fd) == 0) {
            p->poll.data = p;
            p->open_handles++;
            uv_poll_start(&p->poll, UV_READABLE, on_readable);
        } else {
            close(p->fd);
            p->fd = -1;
        }
    }
#endif
    return 0;
}

void sv_pacer_arm(sv_pacer_t *p, uint64_t at_ns)
{
#ifdef __linux__
    if (p->fd >= 0) {
        struct itimerspec its = {0};
        if (at_ns == 0)
            at_ns = 1; /* zero would disarm */
        its.it_value.tv_sec = (time_t)(at_ns / 1000000000ULL);
        its.it_value.tv_nsec = (long)(at_ns % 1000000000ULL);
        timerfd_settime(p->fd, TFD_TIMER_ABSTIME, &its, NULL);
        return;
    }
#endif
    uint64_t now = sv_now_ns();
    uint64_t delay_ms = at_ns > now ? (at_ns - now + 999999) / 1000000 : 0;
    uv_timer_start(&p->timer, on_timer, delay_ms, 0);
}

void sv_pacer_close(sv_pacer_t *p, void (*closed)(sv_pacer_t *p))
{
    p->closed = closed;
    uv_close((uv_handle_t *)&p->timer, handle_closed);
#ifdef __linux__
    if (p->fd >= 0)
        uv_close((uv_handle_t *)&p->poll, handle_closed);
#endif
}
