/*
 * The built-in `budget` filter (see flt_budget.h for what it does, store/budget.h for the store).
 *
 * Counters. Each limit of a team or key is one counter per window bucket, keyed
 * "b:<t|k>:<name>:<metric>:<window>[~]:<bucket>" ('~' for rolling windows). A calendar window's
 * bucket is its start (minute, hour and day numbers since the epoch; YYYYMM for months, in UTC).
 * A rolling window of length W is two buckets of length W: the current one and the previous one
 * weighted by the share of it still inside [now - W, now] (the usual sliding-window estimate: it
 * assumes the previous bucket's use was spread evenly). Keys expire an hour after their window
 * (two buckets after, for rolling ones), so the store holds only live windows.
 *
 * Amounts. Input tokens are estimated as (bytes of every request text) / 4 plus 4 per text, the
 * output as the request's max_tokens (times `n`) or budgets.default_output_tokens, the cost from
 * the price table (0 for a model without a price). Requests count 1. The reservation is one
 * atomic operation over every counter of the team and the key, so concurrent requests cannot
 * both take the last of a budget, in one gateway or in several sharing Redis.
 *
 * Settlement. At the end of the exchange each counter gets (actual - reserved): the provider's
 * usage when it reported some; when it did not, the input estimate and the streamed output
 * counted at 4 bytes per token if the provider answered 2xx, nothing (a release) otherwise. A
 * request still counts against requests-per-minute after a release.
 *
 * Stream cap. At the reservation the filter learns how much of each output-bearing limit
 * (tokens, output tokens, cost) is left; a stream's output may use what it reserved plus that
 * remainder. Passing it ends the stream with a provider-format error event. The remainder is
 * not held for the stream: concurrent streams of one team may each use it, so the cap is exact
 * for one stream at a time and bounded otherwise.
 */
#include "filters/flt_budget.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <pthread.h>

#include "config/cfg.h"
#include "filters/filter.h"
#include "store/budget.h"

int gw_budget_open_stores;

/* a team's and a key's limits, and the two counters of the cost-anomaly playbook */
#define MAX_PER_SCOPE ((GW_BUDGET_MAX_COUNTERS - 2) / 2)

static const char *const window_adj[] = {"per-minute", "hourly", "daily", "monthly"};

struct named {
    const char *name;
    const struct gw_budget_policy *p;
};

struct bconf {
    const struct gw_config *cfg;
    const struct gw_budgets_cfg *b;
    struct gw_budget_store *store; /* NULL: not opened (check, scan) */
    struct named *teams, *keys;    /* sorted by name; only those with limits */
    size_t nteams, nkeys;
    char spec[600];
};

/* Which limit a counter of an exchange stands for. */
struct slot {
    const struct gw_budget_limit *l;
    char scope; /* 't' team, 'k' key */
    const char *name;
    uint64_t end_ms; /* end of the window (fixed) or of the current bucket (rolling) */
};

struct pending;

struct bctx {
    struct gw_budget_counter *c; /* n counters, amounts as reserved (gw_tx_alloc) */
    struct slot *slots;
    size_t n;
    int held;             /* a reservation is held: settle it at the end */
    struct pending *pend; /* a reservation in flight (Redis) */
    int64_t in_est, out_est;
    int64_t out_cap;    /* most output tokens the stream may use, -1: no cap */
    size_t cap_slot;    /* the limit that sets out_cap */
    uint64_t out_bytes; /* streamed output so far */
    int streamed;
    size_t anomaly_at; /* index of the anomaly window counter (then the baseline's), 0: none */
};

/* A reservation in flight. Outlives the exchange when the client goes away first: the answer
 * then releases what it reserved. */
struct pending {
    struct gw_tx *tx; /* NULL once the exchange ended */
    struct bconf *conf;
    struct bctx *ctx;
    struct gw_budget_store *store; /* a reference of its own */
    struct event_base *base;
    size_t n;
    struct gw_budget_counter c[];
};

/* ---- windows and keys ---- */

static uint64_t
window_ms(enum gw_budget_window w)
{
    switch (w) {
    case GW_WIN_MINUTE:
        return 60000;
    case GW_WIN_HOUR:
        return 3600000;
    case GW_WIN_DAY:
        return 86400000;
    case GW_WIN_MONTH:
    default:
        return 30ull * 86400000;
    }
}

void
gw_budget_counter_for(const struct gw_budget_limit *l, char scope, const char *name,
                      uint64_t now_ms, struct gw_budget_counter *c, uint64_t *window_end_ms)
{
    char base[GW_BUDGET_KEY_MAX - 24];
    uint64_t id, end;

    memset(c, 0, sizeof(*c));
    snprintf(base, sizeof(base), "b:%c:%s:%s:%s%s", scope, name, gw_budget_metric_names[l->metric],
             gw_budget_window_names[l->window], l->rolling ? "~" : "");
    c->limit = l->limit;
    if (l->rolling) {
        uint64_t w = window_ms(l->window);
        id = now_ms / w;
        end = (id + 1) * w;
        snprintf(c->cur, sizeof(c->cur), "%s:%" PRIu64, base, id);
        snprintf(c->prev, sizeof(c->prev), "%s:%" PRIu64, base, id - 1);
        c->prev_weight_ppm = (uint32_t)((end - now_ms) * 1000000u / w);
        c->expire_at_ms = end + w + 60000;
    } else {
        if (l->window == GW_WIN_MONTH) {
            time_t t = (time_t)(now_ms / 1000);
            struct tm tm;
            gmtime_r(&t, &tm);
            id = (uint64_t)(tm.tm_year + 1900) * 100 + (uint64_t)tm.tm_mon + 1;
            struct tm next = {0};
            next.tm_year = tm.tm_mon == 11 ? tm.tm_year + 1 : tm.tm_year;
            next.tm_mon = tm.tm_mon == 11 ? 0 : tm.tm_mon + 1;
            next.tm_mday = 1;
            end = (uint64_t)timegm(&next) * 1000;
        } else {
            uint64_t w = window_ms(l->window);
            id = now_ms / w;
            end = (id + 1) * w;
        }
        snprintf(c->cur, sizeof(c->cur), "%s:%" PRIu64, base, id);
        c->expire_at_ms = end + 3600000;
    }
    if (window_end_ms)
        *window_end_ms = end;
}

/* ---- cost-anomaly playbook ----
 *
 * Two more counters for a team whose limits are checked: its cost in the current anomaly window
 * (fixed buckets of budgets.anomaly.window) and over the rolling baseline period. After each
 * reservation, the window's spend is compared with the baseline's average per window (the rest of
 * the baseline period); above `factor` times it (and above min_cost) the team gets a
 * `cost_anomaly` alert and, with lower_to < 1, its limits are multiplied by lower_to for
 * `cooldown`. The counters are shared (Redis: by every instance); the lowering is kept in the
 * process, so each instance sees the anomaly in the shared counters and lowers on its own. */

/* A counter that carries no limit (the anomaly counters): settled as cost, never checked. */
static const struct gw_budget_limit anomaly_limit = {GW_BM_COST, GW_WIN_MINUTE, 0, 0, 0};

struct lowered {
    char team[128];
    uint64_t until_ms;
};

static pthread_mutex_t low_mu = PTHREAD_MUTEX_INITIALIZER;
static struct lowered low[64]; /* teams under a lowered limit (the oldest entry is reused) */

static uint64_t
lowered_until(const char *team)
{
    uint64_t until = 0;
    pthread_mutex_lock(&low_mu);
    for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++)
        if (low[i].until_ms && strcmp(low[i].team, team) == 0)
            until = low[i].until_ms;
    pthread_mutex_unlock(&low_mu);
    return until;
}

/* Lowers team until until_ms; 1 when it was not lowered already (the caller alerts). */
static int
lower(const char *team, uint64_t now, uint64_t until_ms)
{
    size_t slot = 0;
    int fresh = 1;
    pthread_mutex_lock(&low_mu);
    for (size_t i = 0; i < sizeof(low) / sizeof(low[0]); i++) {
        if (low[i].until_ms > now && strcmp(low[i].team, team) == 0) {
            fresh = 0;
            slot = i;
            break;
        }
        if (low[i].until_ms < low[slot].until_ms)
            slot = i;
    }
    if (fresh) {
        snprintf(low[slot].team, sizeof(low[slot].team), "%s", team);
        low[slot].until_ms = until_ms;
    }
    pthread_mutex_unlock(&low_mu);
    return fresh;
}

/* ---- configuration ---- */

static int
named_cmp(const void *a, const void *b)
{
    return strcmp(((const struct named *)a)->name, ((const struct named *)b)->name);
}

static const struct gw_budget_policy *
find(const struct named *v, size_t n, const char *name)
{
    if (!name || n == 0)
        return NULL;
    struct named k = {name, NULL};
    const struct named *hit = bsearch(&k, v, n, sizeof(*v), named_cmp);
    return hit ? hit->p : NULL;
}

static struct gw_budget_store *
open_store(void *arg, char *err, size_t errlen)
{
    const struct gw_budgets_cfg *b = arg;
    if (b->store == 1)
        return gw_budget_redis_new(b->redis_host, b->redis_port, b->redis_password,
                                   (int)b->redis_db, b->redis_prefix, b->redis_timeout_ms, err,
                                   errlen);
    return gw_budget_mem_new(b->journal, b->fsync, b->fsync_ms, err, errlen);
}

static void budget_conf_free(void *conf);

int
gw_budget_conf_new(const struct gw_config *cfg, void **out, char *err, size_t errlen)
{
    const struct gw_budgets_cfg *b = &cfg->budgets;
    struct bconf *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c)
        goto oom;
    c->cfg = cfg;
    c->b = b;
    c->teams = calloc(cfg->nteams ? cfg->nteams : 1, sizeof(*c->teams));
    c->keys = calloc(cfg->nkeys ? cfg->nkeys : 1, sizeof(*c->keys));
    if (!c->teams || !c->keys)
        goto oom;
    for (size_t i = 0; i < cfg->nteams; i++) {
        const struct gw_team_cfg *t = &cfg->teams[i];
        if (t->budget.n > MAX_PER_SCOPE) {
            snprintf(err, errlen, "%s:%d: team '%s' has %zu limits; at most %d are allowed",
                     cfg->path, t->line, t->name, t->budget.n, MAX_PER_SCOPE);
            goto fail;
        }
        if (t->budget.n)
            c->teams[c->nteams++] = (struct named){t->name, &t->budget};
    }
    for (size_t i = 0; i < cfg->nkeys; i++) {
        const struct gw_key_cfg *k = &cfg->keys[i];
        if (k->budget.n > MAX_PER_SCOPE) {
            snprintf(err, errlen, "%s:%d: key '%s' has %zu limits; at most %d are allowed",
                     cfg->path, k->line, k->id, k->budget.n, MAX_PER_SCOPE);
            goto fail;
        }
        if (k->budget.n)
            c->keys[c->nkeys++] = (struct named){k->id, &k->budget};
    }
    qsort(c->teams, c->nteams, sizeof(*c->teams), named_cmp);
    qsort(c->keys, c->nkeys, sizeof(*c->keys), named_cmp);
    if (b->store == 1)
        snprintf(c->spec, sizeof(c->spec), "redis:%s:%u:%zu:%s:%u:%s", b->redis_host, b->redis_port,
                 b->redis_db, b->redis_prefix ? b->redis_prefix : "", b->redis_timeout_ms,
                 b->redis_password ? "auth" : "");
    else
        snprintf(c->spec, sizeof(c->spec), "memory:%s:%d:%u", b->journal ? b->journal : "",
                 b->fsync, b->fsync_ms);
    if (gw_budget_open_stores) {
        char why[256] = "";
        c->store = gw_budget_acquire(c->spec, open_store, (void *)b, why, sizeof(why));
        if (!c->store) {
            snprintf(err, errlen, "%s: budgets: the %s store could not be opened: %s", cfg->path,
                     b->store == 1 ? "redis" : "memory", why);
            goto fail;
        }
    }
    *out = c;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    budget_conf_free(c);
    return -1;
}

static void
budget_conf_free(void *conf)
{
    struct bconf *c = conf;
    if (!c)
        return;
    gw_budget_release(c->store);
    free(c->teams);
    free(c->keys);
    free(c);
}

struct gw_budget_store *
gw_budget_conf_store(const void *conf)
{
    return conf ? ((const struct bconf *)conf)->store : NULL;
}

/* ---- decisions ---- */

/* "the team 'search'" / "the key 'ci-bot'" */
static const char *
who(const struct slot *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "the %s '%s'", s->scope == 't' ? "team" : "key", s->name);
    return buf;
}

/* "the team 'search' has used its daily tokens budget" (into buf, which it returns). */
static const char *
used_up(const struct slot *s, char *buf, size_t cap)
{
    char w[160];
    who(s, w, sizeof(w));
    snprintf(buf, cap, "%s has used its %s%s %s budget", w, s->l->rolling ? "rolling " : "",
             window_adj[s->l->window],
             s->l->metric == GW_BM_COST ? "cost" : gw_budget_metric_names[s->l->metric]);
    return buf;
}

static void
amount_text(enum gw_budget_metric m, int64_t v, char *buf, size_t cap)
{
    if (m == GW_BM_COST)
        snprintf(buf, cap, "$%.2f", (double)v / 1e6);
    else
        snprintf(buf, cap, "%" PRId64 " %s", v,
                 m == GW_BM_REQUESTS ? "requests"
                 : m == GW_BM_INPUT  ? "input tokens"
                 : m == GW_BM_OUTPUT ? "output tokens"
                                     : "tokens");
}

static int
is_rate_limit(const struct gw_budget_limit *l)
{
    return l->metric == GW_BM_REQUESTS || (l->window == GW_WIN_MINUTE && l->rolling);
}

/* The limit's name in events and the admin API: "team/search/tokens/day". */
static void
limit_id(const struct slot *s, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s/%s/%s%s", s->scope == 't' ? "team" : "key", s->name,
             gw_budget_metric_names[s->l->metric], s->l->rolling ? "rolling-" : "",
             gw_budget_window_names[s->l->window]);
}

static void
emit(struct gw_tx *tx, const struct slot *s, const char *category, const char *action, int sev,
     double score)
{
    char id[GW_BUDGET_KEY_MAX];
    limit_id(s, id, sizeof(id));
    struct gw_event ev = {
        .filter = "budget",
        .rule_id = id,
        .category = category,
        .action = action,
        .severity = sev,
        .score = score,
        .role = GW_ROLE_USER,
        .msg_index = -1,
    };
    gw_emit(tx, &ev);
}

/* Soft thresholds: an event for each configured percentage a counter passed by this change. */
static void
thresholds(struct gw_tx *tx, const struct bconf *conf, const struct bctx *x,
           const struct gw_budget_result *res, const int64_t *delta)
{
    for (size_t i = 0; i < x->n; i++) {
        int64_t lim = x->slots[i].l->limit, after = res->value[i], before = after - delta[i];
        if (delta[i] <= 0 || lim <= 0)
            continue;
        for (size_t k = 0; k < conf->b->nthresholds; k++) {
            double mark = (double)lim * conf->b->thresholds[k] / 100.0;
            if ((double)before < mark && (double)after >= mark)
                emit(tx, &x->slots[i], "budget_threshold", "event",
                     conf->b->thresholds[k] >= 100 ? 3 : 2, conf->b->thresholds[k]);
        }
    }
}

/* Output tokens the remaining budget of counter i still pays for; -1 when it does not limit
 * output. */
static int64_t
output_room(const struct bconf *conf, const char *model, const struct bctx *x, size_t i,
            int64_t value)
{
    const struct gw_budget_limit *l = x->slots[i].l;
    if (l->limit <= 0)
        return -1; /* an anomaly counter */
    int64_t left = l->limit - value;
    if (left < 0)
        left = 0;
    switch (l->metric) {
    case GW_BM_TOKENS:
    case GW_BM_OUTPUT:
        return left;
    case GW_BM_COST: {
        double per = gw_config_cost(conf->cfg, model, -1, 1000000); /* USD per million out */
        if (per <= 0)
            return -1;
        return (int64_t)((double)left / per);
    }
    default:
        return -1;
    }
}

static uint32_t
retry_after_s(const struct slot *s, const struct gw_budget_counter *c, int64_t value, uint64_t now)
{
    uint64_t ms;
    if (!s->l->rolling) {
        ms = s->end_ms > now ? s->end_ms - now : 1000;
    } else {
        /* the excess decays with the previous bucket: a share of the window, at most all */
        double over = (double)(value + c->amount - s->l->limit) / (double)s->l->limit;
        ms = (uint64_t)(fmin(1.0, fmax(over, 0.0)) * (double)window_ms(s->l->window));
    }
    uint64_t sec = (ms + 999) / 1000;
    return sec < 1 ? 1 : sec > 86400u * 31 ? 86400u * 31 : (uint32_t)sec;
}

static void
anomaly_check(struct gw_tx *tx, const struct bconf *conf, const struct bctx *x,
              const struct gw_budget_result *res, const char *team)
{
    const struct gw_budgets_cfg *b = conf->b;
    double win = (double)res->value[x->anomaly_at], base = (double)res->value[x->anomaly_at + 1];
    double periods = (double)b->anomaly_baseline_ms / (double)b->anomaly_window_ms;
    double avg = fmax(base - win, 0.0) / fmax(periods - 1.0, 1.0);
    if (win < b->anomaly_min_cost * 1e6 || win <= b->anomaly_factor * avg)
        return;
    uint64_t now = gw_budget_clock();
    if (!lower(team, now, now + b->anomaly_cooldown_ms))
        return; /* alerted already: once per cooldown */
    char id[GW_BUDGET_KEY_MAX];
    snprintf(id, sizeof(id), "team/%s/cost_anomaly", team);
    struct gw_event ev = {
        .filter = "budget",
        .rule_id = id,
        .category = "budget_cost_anomaly",
        .action = b->anomaly_lower_to < 1 ? "limit_lowered" : "event",
        .severity = 4,
        .score = avg > 0 ? win / avg : win / 1e6,
        .role = GW_ROLE_USER,
        .msg_index = -1,
    };
    gw_emit(tx, &ev);
}

static enum gw_verdict
decide(struct gw_tx *tx, const struct bconf *conf, struct bctx *x,
       const struct gw_budget_result *res)
{
    if (res->status == GW_BUDGET_UNAVAILABLE) {
        struct slot none = {x->slots[0].l, x->slots[0].scope, x->slots[0].name, 0};
        emit(tx, &none, "budget_store_unavailable", conf->b->fail_open ? "event" : "block", 3, 0);
        if (conf->b->fail_open)
            return GW_PASS; /* admitted unaccounted: nothing to settle */
        gw_tx_block(tx, 503, "budget_store_unavailable",
                    "The budget store is unavailable, so the request cannot be accounted for; "
                    "it was not sent (budgets fail closed). Try again shortly.");
        return GW_BLOCK;
    }
    if (res->status == GW_BUDGET_DENIED) {
        size_t i = res->denied < x->n ? res->denied : 0;
        const struct slot *s = &x->slots[i];
        char w[200], lim[64], msg[400];
        uint32_t ra = retry_after_s(s, &x->c[i], res->value[i], gw_budget_clock());
        amount_text(s->l->metric, s->l->limit, lim, sizeof(lim));
        if (is_rate_limit(s->l))
            snprintf(msg, sizeof(msg),
                     "Rate limit exceeded: %s may use %s per minute. Retry after %u s.",
                     who(s, w, sizeof(w)), lim, ra);
        else
            snprintf(msg, sizeof(msg), "Budget exceeded: %s (%s). Retry after %u s.",
                     used_up(s, w, sizeof(w)), lim, ra);
        emit(tx, s, is_rate_limit(s->l) ? "budget_rate_limit" : "budget_exceeded", "block", 2,
             (double)res->value[i] * 100.0 / (double)s->l->limit);
        gw_tx_retry_after(tx, ra);
        gw_tx_block(tx, 429, is_rate_limit(s->l) ? "rate_limit_exceeded" : "budget_exceeded", msg);
        return GW_BLOCK;
    }
    x->held = 1;
    int64_t delta[GW_BUDGET_MAX_COUNTERS];
    for (size_t i = 0; i < x->n; i++)
        delta[i] = x->c[i].amount;
    thresholds(tx, conf, x, res, delta);
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    if (x->anomaly_at > 0)
        anomaly_check(tx, conf, x, res, id.team);
    x->out_cap = -1;
    for (size_t i = 0; i < x->n; i++) {
        int64_t room = output_room(conf, id.model, x, i, res->value[i]);
        if (room >= 0 && (x->out_cap < 0 || x->out_est + room < x->out_cap)) {
            x->out_cap = x->out_est + room;
            x->cap_slot = i;
        }
    }
    return GW_PASS;
}

static void
pending_free(struct pending *p)
{
    gw_budget_release(p->store);
    free(p);
}

static void
on_reserved(void *arg, const struct gw_budget_result *res)
{
    struct pending *p = arg;
    if (!p->tx) {
        /* the exchange ended while we waited: give back what was reserved */
        if (res->status == GW_BUDGET_OK) {
            for (size_t i = 0; i < p->n; i++) {
                p->c[i].amount = -p->c[i].amount;
                p->c[i].limit = 0;
            }
            struct gw_budget_result r;
            gw_budget_run(p->store, p->base, GW_BUDGET_ADD, p->c, p->n, &r, NULL, NULL, NULL);
        }
        pending_free(p);
        return;
    }
    struct gw_tx *tx = p->tx;
    struct bctx *x = p->ctx;
    x->pend = NULL;
    enum gw_verdict v = decide(tx, p->conf, x, res);
    pending_free(p);
    gw_tx_resume(tx, v);
}

static enum gw_verdict
budget_req(struct gw_tx *tx, void *confp, void *ctxp, struct gw_segments *segs)
{
    struct bconf *conf = confp;
    struct bctx *x = ctxp;
    if (!conf->store)
        return GW_PASS;
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    const struct gw_budget_policy *tp = find(conf->teams, conf->nteams, id.team);
    const struct gw_budget_policy *kp = find(conf->keys, conf->nkeys, id.key_id);
    size_t nl = (tp ? tp->n : 0) + (kp ? kp->n : 0);
    if (nl == 0)
        return GW_PASS;
    int anomaly = conf->b->anomaly && id.team != NULL;
    size_t n = nl + (anomaly ? 2 : 0);
    x->c = gw_tx_alloc(tx, n * sizeof(*x->c));
    x->slots = gw_tx_alloc(tx, n * sizeof(*x->slots));
    if (!x->c || !x->slots)
        return GW_ERROR;

    uint64_t bytes = 0;
    for (size_t i = 0; i < segs->n; i++)
        bytes += segs->v[i].len;
    x->in_est = (int64_t)(bytes / 4 + 4 * segs->n);
    struct gw_tx_usage u;
    gw_tx_usage(tx, &u);
    x->out_est = (u.max_output > 0 ? u.max_output : (int64_t)conf->b->default_output_tokens) *
                 (u.choices > 0 ? u.choices : 1);
    double cost = gw_config_cost(conf->cfg, id.model, x->in_est, x->out_est);
    int64_t cost_micro = cost > 0 ? (int64_t)ceil(cost * 1e6) : 0;

    uint64_t now = gw_budget_clock();
    double factor = 1.0; /* a team under the anomaly playbook's lowered limits */
    if (anomaly && conf->b->anomaly_lower_to < 1 && lowered_until(id.team) > now)
        factor = conf->b->anomaly_lower_to;
    for (size_t i = 0; i < nl; i++) {
        int team = tp && i < tp->n;
        const struct gw_budget_limit *l = team ? &tp->v[i] : &kp->v[i - (tp ? tp->n : 0)];
        struct slot *s = &x->slots[i];
        *s = (struct slot){l, team ? 't' : 'k', team ? id.team : id.key_id, 0};
        gw_budget_counter_for(l, s->scope, s->name, now, &x->c[i], &s->end_ms);
        switch (l->metric) {
        case GW_BM_TOKENS:
            x->c[i].amount = x->in_est + x->out_est;
            break;
        case GW_BM_INPUT:
            x->c[i].amount = x->in_est;
            break;
        case GW_BM_OUTPUT:
            x->c[i].amount = x->out_est;
            break;
        case GW_BM_COST:
            x->c[i].amount = cost_micro;
            break;
        default:
            x->c[i].amount = 1;
            break;
        }
        if (team && factor < 1)
            x->c[i].limit = (int64_t)fmax(1.0, (double)x->c[i].limit * factor);
    }
    if (anomaly) {
        uint64_t w = conf->b->anomaly_window_ms, bw = conf->b->anomaly_baseline_ms;
        struct gw_budget_counter *c = &x->c[nl];
        memset(c, 0, 2 * sizeof(*c));
        snprintf(c[0].cur, sizeof(c[0].cur), "a:%s:win:%" PRIu64, id.team, now / w);
        c[0].expire_at_ms = (now / w + 1) * w + 3600000;
        snprintf(c[1].cur, sizeof(c[1].cur), "a:%s:base~:%" PRIu64, id.team, now / bw);
        snprintf(c[1].prev, sizeof(c[1].prev), "a:%s:base~:%" PRIu64, id.team, now / bw - 1);
        c[1].prev_weight_ppm = (uint32_t)(((now / bw + 1) * bw - now) * 1000000u / bw);
        c[1].expire_at_ms = (now / bw + 2) * bw + 60000;
        c[0].amount = c[1].amount = cost_micro;
        for (size_t i = nl; i < n; i++)
            x->slots[i] = (struct slot){&anomaly_limit, 't', id.team, 0};
        x->anomaly_at = nl;
    }
    x->n = n;

    struct pending *p = malloc(sizeof(*p) + n * sizeof(p->c[0]));
    if (!p)
        return GW_ERROR;
    *p = (struct pending){tx, conf, x, conf->store, gw_tx_base(tx), n};
    memcpy(p->c, x->c, n * sizeof(p->c[0]));
    struct gw_budget_result res;
    int rc =
        gw_budget_run(conf->store, p->base, GW_BUDGET_RESERVE, x->c, n, &res, on_reserved, p, NULL);
    if (rc == GW_BUDGET_PENDING) {
        gw_budget_hold(conf->store);
        x->pend = p;
        return GW_WAIT;
    }
    free(p);
    return decide(tx, conf, x, &res);
}

static enum gw_verdict
budget_chunk(struct gw_tx *tx, void *confp, void *ctxp, struct gw_chunk *ch)
{
    struct bctx *x = ctxp;
    (void)confp;
    if (!x->held)
        return GW_PASS;
    x->streamed = 1;
    x->out_bytes += ch->len;
    if (x->out_cap < 0 || (int64_t)(x->out_bytes / 4) <= x->out_cap)
        return GW_PASS;
    /* the limit with the least room names the block */
    const struct slot *s = &x->slots[x->cap_slot];
    char w[200], msg[400];
    snprintf(msg, sizeof(msg), "Budget exceeded during the answer: %s; the stream was stopped.",
             used_up(s, w, sizeof(w)));
    emit(tx, s, "budget_exceeded", "block", 2, 100);
    gw_tx_block(tx, 429, "budget_exceeded", msg);
    return GW_BLOCK;
}

static void
budget_end(struct gw_tx *tx, void *confp, void *ctxp)
{
    struct bconf *conf = confp;
    struct bctx *x = ctxp;
    if (x->pend) {
        x->pend->tx = NULL; /* its answer releases the reservation */
        x->pend = NULL;
        return;
    }
    if (!x->held)
        return;
    x->held = 0;
    struct gw_tx_usage u;
    gw_tx_usage(tx, &u);
    int answered = u.upstream_status >= 200 && u.upstream_status <= 299;
    int64_t ain = u.tokens_in >= 0 ? u.tokens_in : answered ? x->in_est : 0;
    int64_t aout = u.tokens_out >= 0 ? u.tokens_out
                   : !answered       ? 0
                   : x->streamed     ? (int64_t)(x->out_bytes / 4)
                                     : x->out_est;
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    double cost = gw_config_cost_cached(conf->cfg, id.model, ain,
                                        u.tokens_in >= 0 ? u.tokens_cached : 0, aout);
    int64_t cost_micro = cost > 0 ? (int64_t)ceil(cost * 1e6) : 0;
    int64_t delta[GW_BUDGET_MAX_COUNTERS];
    int any = 0;
    for (size_t i = 0; i < x->n; i++) {
        int64_t actual;
        switch (x->slots[i].l->metric) {
        case GW_BM_TOKENS:
            actual = ain + aout;
            break;
        case GW_BM_INPUT:
            actual = ain;
            break;
        case GW_BM_OUTPUT:
            actual = aout;
            break;
        case GW_BM_COST:
            actual = cost_micro;
            break;
        default:
            actual = x->c[i].amount; /* a request stays counted */
            break;
        }
        delta[i] = actual - x->c[i].amount;
        x->c[i].amount = delta[i];
        x->c[i].limit = 0;
        any |= delta[i] != 0;
    }
    if (!any)
        return;
    struct gw_budget_result res;
    if (gw_budget_run(conf->store, gw_tx_base(tx), GW_BUDGET_ADD, x->c, x->n, &res, NULL, NULL,
                      NULL) == GW_BUDGET_DONE &&
        res.status == GW_BUDGET_OK)
        thresholds(tx, conf, x, &res, delta);
}

static unsigned
budget_hooks(const void *confp)
{
    (void)confp;
    return GW_HOOK_REQ_BODY | GW_HOOK_USAGE | GW_HOOK_RESP_CHUNK;
}

static void
budget_describe(const void *confp, char *buf, size_t cap)
{
    const struct bconf *c = confp;
    snprintf(buf, cap, "limits for %zu team(s) and %zu key(s); store %s", c->nteams, c->nkeys,
             c->b->store == 1 ? "redis"
             : c->b->journal  ? "memory, journaled"
                              : "memory");
}

const struct gw_filter_ops gw_budget_filter_ops = {
    .name = "budget",
    .ctx_size = sizeof(struct bctx),
    .conf_new = NULL, /* built from the whole config: gw_budget_conf_new */
    .conf_free = budget_conf_free,
    .on_req_body = budget_req,
    .on_resp_chunk = budget_chunk,
    .on_tx_end = budget_end,
    .hooks = budget_hooks,
    .describe = budget_describe,
};
