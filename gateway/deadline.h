/*
 * A connection's deadline on one libevent timer, moved lazily. A proxied request moves a
 * client connection's deadline four times (header, body, whole exchange, keep-alive) and an
 * upstream connection's at every read, and moving a pending libevent timer is a heap removal
 * and insertion. Here a deadline earlier than when the timer fires re-adds the timer; a later
 * one is only written down, and the timer, firing early, adds itself again for the rest
 * (gw_deadline_expired, the first thing its callback does). On keep-alive connections with quick
 * requests the timer then fires about once per shortest timeout instead of moving per request.
 */
#ifndef GW_DEADLINE_H
#define GW_DEADLINE_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "gateway/log.h"

#define GW_DEADLINE_NONE UINT64_MAX

struct gw_deadline {
    struct event ev;
    uint64_t due; /* the deadline (gw_now_us); GW_DEADLINE_NONE: none; 0: passed */
    uint64_t at;  /* when ev fires, while on */
    int on;       /* ev added and not fired or deleted since */
};

/* A deadline without a time yet; cb(-1, EV_TIMEOUT, arg) runs when the timer fires. */
void gw_deadline_init(struct gw_deadline *d, struct event_base *base, event_callback_fn cb,
                      void *arg);

/* Adds the timer us from now (gw_deadline_set does when it must). */
void gw_deadline_add_us(struct gw_deadline *d, uint64_t now, uint64_t us);

/* The deadline ms from now; 0: none (a timer still pending fires and is ignored). Inline: a
 * request calls it several times and mostly only writes the field. */
static inline void
gw_deadline_set(struct gw_deadline *d, uint32_t ms)
{
    if (!ms) {
        d->due = GW_DEADLINE_NONE;
        return;
    }
    uint64_t now = gw_now_us(), us = (uint64_t)ms * 1000;
    d->due = now + us;
    if (!d->on || d->at > d->due)
        gw_deadline_add_us(d, now, us);
}

/* For the timer's callback, before anything else: 1 when the deadline has passed; 0 when
 * there is none, or when it moved later since the timer was added (the timer is then added
 * again for the rest). */
int gw_deadline_expired(struct gw_deadline *d);

/* Runs the callback from the loop as soon as it can, as for a deadline that passed. */
void gw_deadline_fire_now(struct gw_deadline *d);

/* Removes the timer (before the deadline's memory goes). */
void gw_deadline_stop(struct gw_deadline *d);

#endif
