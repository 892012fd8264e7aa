/*
 * The built-in `budget` filter: token and cost budgets and rate limits of teams and keys (config
 * `teams[].budgets`, `teams[].rate_limits`, the same under `keys[]`, and the `budgets` section for
 * the store). The config loader puts it first in every route's chain when any team or key has a
 * limit, so a route cannot go without it; it is never named under `filters`.
 *
 * Per exchange: before the call, one atomic reservation over every limit of the caller's team and
 * key (the input estimated from the request's texts, the output from its max_tokens or
 * budgets.default_output_tokens, the cost from the price table); a limit it does not fit → 429
 * with Retry-After and a provider-format error naming the limit. During a stream, the output is
 * counted and the stream ends with a provider-format error event when it would pass what the
 * budget had left. After the call, the reservation is settled with the provider's usage (or an
 * estimate when the provider reported none, or released when the provider never answered).
 */
#ifndef GW_FLT_BUDGET_H
#define GW_FLT_BUDGET_H

#include <stddef.h>
#include <stdint.h>

struct gw_config;
struct gw_budget_store;
struct gw_budget_counter;
struct gw_budget_limit;
struct gw_filter_ops;

extern const struct gw_filter_ops gw_budget_filter_ops;

/* Builds the filter's configuration from a loaded config (teams, keys, budgets section). With
 * open_store, the store is acquired now (the journal replayed, or Redis set up): the gateway
 * does; `portcullis check` and the unit tests that only load configs do not. 0, or -1 with a
 * message in err. Free with gw_budget_filter_ops.conf_free. */
int gw_budget_conf_new(const struct gw_config *cfg, void **conf, char *err, size_t errlen);

/* Whether gw_budget_conf_new acquires stores (default 0; main sets it before loading configs to
 * serve them). */
extern int gw_budget_open_stores;

/* The store of a configuration built by gw_budget_conf_new (NULL when not opened). */
struct gw_budget_store *gw_budget_conf_store(const void *conf);

/* The counter (key, weights, expiry) of limit l of a team (scope 't') or key (scope 'k') named
 * name at time now_ms; also the window's end (fixed) or the current bucket's end (rolling). */
void gw_budget_counter_for(const struct gw_budget_limit *l, char scope, const char *name,
                           uint64_t now_ms, struct gw_budget_counter *c, uint64_t *window_end_ms);

#endif
