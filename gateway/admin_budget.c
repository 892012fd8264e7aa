/*
 * Admin API for budgets and rate limits (gateway/admin_budget.h). Runs on the control thread and
 * talks to the store with its blocking calls (bounded by the Redis timeout).
 */
#include "gateway/admin_budget.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <jansson.h>

#include "config/cfg.h"
#include "filters/flt_budget.h"
#include "store/budget.h"

static void
send_json(struct evhttp_request *req, int code, json_t *j)
{
    struct evbuffer *b = evbuffer_new();
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
    if (!b || !s) {
        free(s);
        if (b)
            evbuffer_free(b);
        json_decref(j);
        evhttp_send_error(req, 500, NULL);
        return;
    }
    evbuffer_add_printf(b, "%s\n", s);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply(req, code, NULL, b);
    evbuffer_free(b);
    free(s);
    json_decref(j);
}

static void
send_error(struct evhttp_request *req, int code, const char *msg)
{
    send_json(req, code, json_pack("{s:s,s:s}", "status", "error", "error", msg));
}

/* The limits of one team or key with their current use; NULL with *err on failure. */
static json_t *
scope_json(struct gw_budget_store *st, char scope, const char *name,
           const struct gw_budget_policy *p, const char **err)
{
    struct gw_budget_counter c[GW_BUDGET_MAX_COUNTERS];
    uint64_t ends[GW_BUDGET_MAX_COUNTERS];
    struct gw_budget_result res;
    uint64_t now = gw_budget_clock();
    size_t n = p->n < GW_BUDGET_MAX_COUNTERS ? p->n : GW_BUDGET_MAX_COUNTERS;
    json_t *limits = json_array();
    if (!limits)
        return NULL;
    if (n > 0) {
        for (size_t i = 0; i < n; i++)
            gw_budget_counter_for(&p->v[i], scope, name, now, &c[i], &ends[i]);
        gw_budget_run_sync(st, GW_BUDGET_READ, c, n, &res);
        if (res.status != GW_BUDGET_OK) {
            json_decref(limits);
            *err = "the budget store is unavailable";
            return NULL;
        }
    }
    for (size_t i = 0; i < n; i++) {
        const struct gw_budget_limit *l = &p->v[i];
        int64_t left = l->limit - res.value[i];
        json_t *o = json_pack(
            "{s:s,s:s,s:b,s:I,s:I,s:I}", "metric", gw_budget_metric_names[l->metric], "window",
            gw_budget_window_names[l->window], "rolling", l->rolling, "limit", (json_int_t)l->limit,
            "used", (json_int_t)res.value[i], "remaining", (json_int_t)(left > 0 ? left : 0));
        if (!o)
            continue;
        if (l->metric == GW_BM_COST) {
            json_object_set_new(o, "limit_usd", json_real((double)l->limit / 1e6));
            json_object_set_new(o, "used_usd", json_real((double)res.value[i] / 1e6));
        }
        if (!l->rolling)
            json_object_set_new(o, "resets_at", json_integer((json_int_t)(ends[i] / 1000)));
        json_array_append_new(limits, o);
    }
    return json_pack("{s:s,s:s,s:o}", "scope", scope == 't' ? "team" : "key", "name", name,
                     "limits", limits);
}

static const struct gw_budget_policy *
policy_of(const struct gw_config *cfg, char scope, const char *name)
{
    if (scope == 't') {
        for (size_t i = 0; i < cfg->nteams; i++)
            if (strcmp(cfg->teams[i].name, name) == 0)
                return &cfg->teams[i].budget;
    } else {
        for (size_t i = 0; i < cfg->nkeys; i++)
            if (strcmp(cfg->keys[i].id, name) == 0)
                return &cfg->keys[i].budget;
    }
    return NULL;
}

static void
on_get(struct evhttp_request *req, const struct gw_config *cfg, struct gw_budget_store *st)
{
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    const char *team = NULL, *key = NULL, *err = NULL;
    memset(&q, 0, sizeof(q));
    if (query && evhttp_parse_query_str(query, &q) == 0) {
        team = evhttp_find_header(&q, "team");
        key = evhttp_find_header(&q, "key");
    }
    json_t *out = json_array();
    for (size_t i = 0; out && i < cfg->nteams && !err; i++) {
        const struct gw_team_cfg *t = &cfg->teams[i];
        if ((key && !team) || (team && strcmp(team, t->name) != 0) || t->budget.n == 0)
            continue;
        json_t *o = scope_json(st, 't', t->name, &t->budget, &err);
        if (o)
            json_array_append_new(out, o);
    }
    for (size_t i = 0; out && i < cfg->nkeys && !err; i++) {
        const struct gw_key_cfg *k = &cfg->keys[i];
        if ((team && !key) || (key && strcmp(key, k->id) != 0) || k->budget.n == 0)
            continue;
        json_t *o = scope_json(st, 'k', k->id, &k->budget, &err);
        if (o)
            json_array_append_new(out, o);
    }
    if (query)
        evhttp_clear_headers(&q);
    if (err) {
        json_decref(out);
        send_error(req, 503, err);
        return;
    }
    if ((team || key) && json_array_size(out) == 0) {
        json_decref(out);
        send_error(req, 404, "no team or key with limits by that name");
        return;
    }
    send_json(req, 200, json_pack("{s:s,s:o}", "status", "ok", "budgets", out));
}

/* POST reset / adjust: {"team"|"key": NAME, "metric", "window", "rolling", "delta" | "set"}. */
static void
on_change(struct evhttp_request *req, const struct gw_config *cfg, struct gw_budget_store *st,
          int adjust)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "{}";
    json_error_t je;
    json_t *j = json_loadb(body, len ? len : 2, 0, &je);
    char msg[300];
    if (!json_is_object(j)) {
        snprintf(msg, sizeof(msg), "the body must be a JSON object: %s",
                 j ? "not an object" : je.text);
        json_decref(j);
        send_error(req, 400, msg);
        return;
    }
    const char *team = json_string_value(json_object_get(j, "team"));
    const char *key = json_string_value(json_object_get(j, "key"));
    const char *metric = json_string_value(json_object_get(j, "metric"));
    const char *window = json_string_value(json_object_get(j, "window"));
    json_t *rolling = json_object_get(j, "rolling");
    json_t *delta = json_object_get(j, "delta"), *set = json_object_get(j, "set");
    const char *bad = NULL;
    if ((team == NULL) == (key == NULL))
        bad = "give exactly one of \"team\" or \"key\"";
    else if (adjust && (json_is_integer(delta) == json_is_integer(set)))
        bad = "give exactly one of \"delta\" or \"set\" (an integer: tokens, requests or "
              "micro-USD)";
    else if (adjust && (!metric || !window))
        bad = "\"metric\" and \"window\" name the limit to adjust";
    char scope = team ? 't' : 'k';
    const char *name = team ? team : key;
    const struct gw_budget_policy *p = bad ? NULL : policy_of(cfg, scope, name);
    if (!bad && (!p || p->n == 0))
        bad = "no team or key with limits by that name";
    if (bad) {
        send_error(req, bad[0] == 'n' ? 404 : 400, bad);
        json_decref(j);
        return;
    }
    struct gw_budget_counter c[GW_BUDGET_MAX_COUNTERS];
    struct gw_budget_result res;
    size_t n = 0;
    uint64_t now = gw_budget_clock();
    for (size_t i = 0; i < p->n && n < GW_BUDGET_MAX_COUNTERS; i++) {
        const struct gw_budget_limit *l = &p->v[i];
        if ((metric && strcmp(metric, gw_budget_metric_names[l->metric]) != 0) ||
            (window && strcmp(window, gw_budget_window_names[l->window]) != 0) ||
            (json_is_boolean(rolling) && json_is_true(rolling) != l->rolling))
            continue;
        gw_budget_counter_for(l, scope, name, now, &c[n], NULL);
        c[n].limit = 0;
        c[n].amount = adjust ? json_integer_value(json_is_integer(delta) ? delta : set) : 0;
        n++;
    }
    if (n == 0) {
        json_decref(j);
        send_error(req, 404, "no limit of that team or key matches metric / window / rolling");
        return;
    }
    gw_budget_run_sync(st, adjust && json_is_integer(delta) ? GW_BUDGET_ADD : GW_BUDGET_SET, c, n,
                       &res);
    const char *err = res.status == GW_BUDGET_OK ? NULL : "the budget store is unavailable";
    json_t *o = err ? NULL : scope_json(st, scope, name, p, &err); /* name lives in j */
    json_decref(j);
    if (!o) {
        send_error(req, 503, err ? err : "out of memory");
        return;
    }
    send_json(req, 200,
              json_pack("{s:s,s:I,s:o}", "status", "ok", "changed", (json_int_t)n, "budget", o));
}

void
gw_admin_budgets(struct evhttp_request *req, const struct gw_config *cfg, const char *path)
{
    enum evhttp_cmd_type m = evhttp_request_get_command(req);
    struct gw_budget_store *st =
        cfg->has_budgets ? gw_budget_conf_store(cfg->budget_filter.conf) : NULL;
    if (!st) {
        send_error(req, 404, "no budgets or rate limits are configured");
        return;
    }
    if (strcmp(path, "/admin/budgets") == 0 && (m == EVHTTP_REQ_GET || m == EVHTTP_REQ_HEAD))
        on_get(req, cfg, st);
    else if (strcmp(path, "/admin/budgets/reset") == 0 && m == EVHTTP_REQ_POST)
        on_change(req, cfg, st, 0);
    else if (strcmp(path, "/admin/budgets/adjust") == 0 && m == EVHTTP_REQ_POST)
        on_change(req, cfg, st, 1);
    else
        send_error(req, 404,
                   "not found: GET /admin/budgets, POST /admin/budgets/reset, POST "
                   "/admin/budgets/adjust");
}
