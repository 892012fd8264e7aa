/*
 * Admin API for budgets and rate limits, on the admin listener (authorised like reload: loopback,
 * or anywhere with the admin token):
 *
 *   GET  /admin/budgets[?team=T | ?key=K]   every limit with its use and what remains
 *   POST /admin/budgets/reset   {"team"|"key": NAME[, "metric", "window", "rolling"]}
 *                               zeroes the current window of the matching limits
 *   POST /admin/budgets/adjust  {"team"|"key": NAME, "metric", "window"[, "rolling"],
 *                                "delta": N | "set": N}   (tokens, requests or micro-USD)
 *
 * Answers are JSON ({"status":"ok", ...} or {"status":"error","error":...}).
 */
#ifndef GW_ADMIN_BUDGET_H
#define GW_ADMIN_BUDGET_H

struct evhttp_request;
struct gw_config;

/* Serves one /admin/budgets* request (path is the request path) against cfg's store. */
void gw_admin_budgets(struct evhttp_request *req, const struct gw_config *cfg, const char *path);

#endif
