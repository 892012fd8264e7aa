#include "gateway/deadline.h"

#include <sys/time.h>

void
gw_deadline_add_us(struct gw_deadline *d, uint64_t now, uint64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_add(&d->ev, &tv);
    d->at = now + us;
    d->on = 1;
}

void
gw_deadline_init(struct gw_deadline *d, struct event_base *base, event_callback_fn cb, void *arg)
{
    event_assign(&d->ev, base, -1, 0, cb, arg);
    d->due = GW_DEADLINE_NONE;
    d->at = 0;
    d->on = 0;
}

int
gw_deadline_expired(struct gw_deadline *d)
{
    d->on = 0;
    if (d->due == GW_DEADLINE_NONE)
        return 0;
    uint64_t now = gw_now_us();
    if (d->due > now) {
        gw_deadline_add_us(d, now, d->due - now);
        return 0;
    }
    return 1;
}

void
gw_deadline_fire_now(struct gw_deadline *d)
{
    gw_deadline_stop(d);
    d->due = 0;
    event_active(&d->ev, EV_TIMEOUT, 0);
}

void
gw_deadline_stop(struct gw_deadline *d)
{
    event_del(&d->ev);
    d->on = 0;
}
