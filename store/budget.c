/* Budget store: dispatch to the backend (store/budget_mem.c, store/budget_redis.c). */
#include "store/budget.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "store/budget_impl.h"

static uint64_t
wall_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t (*gw_budget_clock)(void) = wall_ms;

void
gw_budget_unavailable(struct gw_budget_result *res, const char *why)
{
    memset(res, 0, sizeof(*res));
    res->status = GW_BUDGET_UNAVAILABLE;
    snprintf(res->error, sizeof(res->error), "%s", why);
}

int
gw_budget_run(struct gw_budget_store *s, struct event_base *base, enum gw_budget_kind kind,
              const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res,
              gw_budget_cb cb, void *arg, struct gw_budget_op **op)
{
    if (op)
        *op = NULL;
    if (n == 0 || n > GW_BUDGET_MAX_COUNTERS) {
        gw_budget_unavailable(res, "invalid number of counters");
        return GW_BUDGET_DONE;
    }
    return s->ops->run(s, base, kind, c, n, res, cb, arg, op);
}

int
gw_budget_run_sync(struct gw_budget_store *s, enum gw_budget_kind kind,
                   const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res)
{
    if (n == 0 || n > GW_BUDGET_MAX_COUNTERS) {
        gw_budget_unavailable(res, "invalid number of counters");
        return 0;
    }
    return s->ops->run_sync(s, kind, c, n, res);
}

void
gw_budget_cancel(struct gw_budget_op *op)
{
    if (op)
        op->ops->cancel(op);
}

void
gw_budget_detach(struct gw_budget_store *s, struct event_base *base)
{
    if (s && s->ops->detach)
        s->ops->detach(s, base);
}

void
gw_budget_free(struct gw_budget_store *s)
{
    if (s)
        s->ops->free(s);
}
