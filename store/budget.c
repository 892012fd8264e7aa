/* Budget store: dispatch to the backend (store/budget_mem.c, store/budget_redis.c). */
#include "store/budget.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

static void
ignore(void *arg, const struct gw_budget_result *res)
{
    (void)arg;
    (void)res;
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
    return s->ops->run(s, base, kind, c, n, res, cb ? cb : ignore, arg, op);
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

/* ---- registry ---- */

struct reg {
    struct reg *next;
    char *spec;
    struct gw_budget_store *store;
    size_t refs;
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct reg *regs;

struct gw_budget_store *
gw_budget_acquire(const char *spec,
                  struct gw_budget_store *(*open)(void *arg, char *err, size_t errlen), void *arg,
                  char *err, size_t errlen)
{
    struct gw_budget_store *s = NULL;
    pthread_mutex_lock(&reg_mu);
    for (struct reg *r = regs; r; r = r->next)
        if (strcmp(r->spec, spec) == 0) {
            r->refs++;
            s = r->store;
            break;
        }
    if (!s) {
        struct reg *r = calloc(1, sizeof(*r));
        char *sp = strdup(spec);
        if (r && sp)
            s = open(arg, err, errlen);
        else
            snprintf(err, errlen, "out of memory");
        if (s) {
            *r = (struct reg){regs, sp, s, 1};
            regs = r;
        } else {
            free(r);
            free(sp);
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return s;
}

void
gw_budget_release(struct gw_budget_store *s)
{
    if (!s)
        return;
    struct gw_budget_store *dead = NULL;
    pthread_mutex_lock(&reg_mu);
    for (struct reg **rp = &regs; *rp; rp = &(*rp)->next) {
        struct reg *r = *rp;
        if (r->store != s)
            continue;
        if (--r->refs == 0) {
            *rp = r->next;
            dead = r->store;
            free(r->spec);
            free(r);
        }
        break;
    }
    pthread_mutex_unlock(&reg_mu);
    gw_budget_free(dead);
}

void
gw_budget_hold(struct gw_budget_store *s)
{
    pthread_mutex_lock(&reg_mu);
    for (struct reg *r = regs; r; r = r->next)
        if (r->store == s)
            r->refs++;
    pthread_mutex_unlock(&reg_mu);
}

void
gw_budget_detach_all(struct event_base *base)
{
    pthread_mutex_lock(&reg_mu);
    for (struct reg *r = regs; r; r = r->next)
        gw_budget_detach(r->store, base);
    pthread_mutex_unlock(&reg_mu);
}

static struct gw_budget_store *local_store;
static pthread_once_t local_once = PTHREAD_ONCE_INIT;

static struct gw_budget_store *
open_local(void *arg, char *err, size_t errlen)
{
    (void)arg;
    return gw_budget_mem_new(NULL, 0, 0, err, errlen);
}

static void
make_local(void)
{
    char err[128];
    local_store = gw_budget_acquire("local", open_local, NULL, err, sizeof(err));
}

struct gw_budget_store *
gw_budget_local(void)
{
    pthread_once(&local_once, make_local);
    return local_store;
}
