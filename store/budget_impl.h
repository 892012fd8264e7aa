/*
 * Private to the budget store backends (store/budget*.c): the operations each backend implements
 * behind store/budget.h. A backend's store struct begins with struct gw_budget_store.
 */
#ifndef GW_BUDGET_IMPL_H
#define GW_BUDGET_IMPL_H

#include "store/budget.h"

struct gw_budget_ops {
    int (*run)(struct gw_budget_store *s, struct event_base *base, enum gw_budget_kind kind,
               const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res,
               gw_budget_cb cb, void *arg, struct gw_budget_op **op);
    int (*run_sync)(struct gw_budget_store *s, enum gw_budget_kind kind,
                    const struct gw_budget_counter *c, size_t n, struct gw_budget_result *res);
    void (*cancel)(struct gw_budget_op *op);
    void (*detach)(struct gw_budget_store *s, struct event_base *base);
    void (*free)(struct gw_budget_store *s);
};

struct gw_budget_store {
    const struct gw_budget_ops *ops;
};

/* Every pending operation begins with this, so that gw_budget_cancel finds its backend. */
struct gw_budget_op {
    const struct gw_budget_ops *ops;
};

/* Fills res as UNAVAILABLE with a message. */
void gw_budget_unavailable(struct gw_budget_result *res, const char *why);

#endif
