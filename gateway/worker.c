#include "gateway/worker.h"

#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/random.h>

#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>

#include "gateway/conn.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/upstream.h"
#include "store/budget.h"

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    struct gw_listener_arg *la = arg;
    gw_conn_accept(la->w, la->idx, fd, sa, salen);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
    (void)l;
    (void)arg;
    int err = EVUTIL_SOCKET_ERROR();
    /* EMFILE and friends: log and keep going; the listener retries on the next event. */
    gw_warn("accept failed: %s", evutil_socket_error_to_string(err));
}

static void
on_drain_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_worker *w = arg;
    gw_warn("worker %d: drain deadline reached, closing %zu connections", w->id, w->nconns);
    struct gw_conn *c;
    while ((c = TAILQ_FIRST(&w->conns)))
        gw_conn_close(c);
    event_base_loopexit(w->base, NULL);
}

static void
adopt(struct gw_worker *w)
{
    struct gw_config *cfg = __atomic_exchange_n(&w->pending_cfg, NULL, __ATOMIC_ACQ_REL);
    if (!cfg)
        return;
    struct gw_poolset *ps = gw_poolset_new(w, cfg);
    if (!ps) {
        gw_error("worker %d: out of memory adopting the new config; keeping the old one", w->id);
        gw_config_unref(cfg);
        return;
    }
    gw_poolset_retire(w->ps);
    w->ps = ps;
    gw_config_unref(w->cfg);
    w->cfg = cfg;
}

static void
stop(struct gw_worker *w)
{
    if (w->draining)
        return;
    w->draining = 1;
    for (size_t i = 0; i < w->nlisten; i++) {
        if (w->listeners[i])
            evconnlistener_free(w->listeners[i]);
        w->listeners[i] = NULL;
    }
    for (size_t i = 0; i < w->ps->npools; i++)
        gw_upool_clear(&w->ps->pools[i]);
    struct gw_conn *c, *next;
    for (c = TAILQ_FIRST(&w->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        gw_conn_drain(c);
    }
    if (w->nconns == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    uint32_t ms = w->cfg->timeouts.drain;
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    w->drain_timer = evtimer_new(w->base, on_drain_deadline, w);
    evtimer_add(w->drain_timer, &tv);
}

static void
on_cmd(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct gw_worker *w = arg;
    char cmds[64];
    ssize_t n;
    while ((n = read(fd, cmds, sizeof(cmds))) > 0) {
        for (ssize_t i = 0; i < n; i++) {
            if (cmds[i] == 'r')
                adopt(w);
            else if (cmds[i] == 's')
                stop(w);
        }
    }
}

void
gw_worker_conn_gone(struct gw_worker *w)
{
    if (w->draining && w->nconns == 0)
        event_base_loopexit(w->base, NULL);
}

int
gw_worker_init(struct gw_worker *w, int id, struct gw_config *cfg, const int *fds, size_t nfds,
               int access_fd)
{
    memset(w, 0, sizeof(*w));
    w->cmd_pipe[0] = w->cmd_pipe[1] = -1;
    w->exit_fd = -1;
    w->id = id;
    w->cfg = gw_config_ref(cfg);
    w->access_fd = access_fd;
    TAILQ_INIT(&w->conns);
    if (getrandom(&w->rng, sizeof(w->rng), 0) != sizeof(w->rng))
        w->rng = (uint64_t)gw_now_us() ^ ((uint64_t)id << 32);
    w->rng |= 1;

    w->base = event_base_new();
    if (!w->base) {
        gw_error("worker %d: cannot create an event base", id);
        return -1;
    }
    w->dns = evdns_base_new(w->base, EVDNS_BASE_INITIALIZE_NAMESERVERS);
    if (!w->dns) {
        /* No resolv.conf: names in /etc/hosts and literals still work. */
        w->dns = evdns_base_new(w->base, 0);
        if (w->dns)
            evdns_base_load_hosts(w->dns, NULL);
    }
    if (!w->dns) {
        gw_error("worker %d: cannot create a DNS resolver", id);
        return -1;
    }
    w->ps = gw_poolset_new(w, cfg);
    w->metrics = gw_metrics_new();
    w->listeners = calloc(nfds ? nfds : 1, sizeof(*w->listeners));
    w->listener_args = calloc(nfds ? nfds : 1, sizeof(*w->listener_args));
    if (!w->ps || !w->metrics || !w->listeners || !w->listener_args)
        return -1;
    w->nlisten = nfds;
    for (size_t i = 0; i < nfds; i++) {
        w->listener_args[i].w = w;
        w->listener_args[i].idx = i;
        w->listeners[i] =
            evconnlistener_new(w->base, on_accept, &w->listener_args[i],
                               LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fds[i]);
        if (!w->listeners[i]) {
            gw_error("worker %d: cannot listen", id);
            return -1;
        }
        evconnlistener_set_error_cb(w->listeners[i], on_accept_error);
    }
    /* The control thread wakes the worker through a pipe, so libevent needs no locking: each
     * event_base is only ever touched by its own thread. */
    if (pipe2(w->cmd_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    w->cmd_ev = event_new(w->base, w->cmd_pipe[0], EV_READ | EV_PERSIST, on_cmd, w);
    if (w->cmd_ev)
        event_add(w->cmd_ev, NULL);
    w->stage = evbuffer_new();
    w->stage2 = evbuffer_new();
    w->stage3 = evbuffer_new();
    return w->cmd_ev && w->stage && w->stage2 && w->stage3 ? 0 : -1;
}

static void
on_started(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_worker *w = arg;
    __atomic_store_n(&w->running, 1, __ATOMIC_RELEASE);
}

static void *
worker_main(void *arg)
{
    struct gw_worker *w = arg;
    /* Running means the loop dispatches events: mark it from inside the loop. */
    event_base_once(w->base, -1, EV_TIMEOUT, on_started, w, NULL);
    event_base_dispatch(w->base);
    __atomic_store_n(&w->running, 0, __ATOMIC_RELEASE);
    if (w->exit_fd >= 0) {
        char x = 'x';
        ssize_t n = write(w->exit_fd, &x, 1);
        (void)n;
    }
    return NULL;
}

int
gw_worker_start(struct gw_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

static void
command(struct gw_worker *w, char c)
{
    /* The pipe holds 64 KiB; commands are rare (stop, reload), so a full pipe cannot happen. */
    ssize_t n = write(w->cmd_pipe[1], &c, 1);
    (void)n;
}

void
gw_worker_stop(struct gw_worker *w)
{
    command(w, 's');
}

void
gw_worker_adopt(struct gw_worker *w, struct gw_config *cfg)
{
    struct gw_config *old = __atomic_exchange_n(&w->pending_cfg, cfg, __ATOMIC_ACQ_REL);
    gw_config_unref(old); /* a newer one replaced it before the worker looked */
    command(w, 'r');
}

void
gw_worker_count(struct gw_worker *w, const char *name, const char *label, const char *value)
{
    gw_metrics_count(w->metrics, name, label, value, 1);
}

void
gw_worker_request_id(struct gw_worker *w, char *out)
{
    static const char hex[] = "0123456789abcdef";
    /* xorshift64*, seeded from getrandom: unique per request, not a secret. */
    for (int half = 0; half < 2; half++) {
        uint64_t x = w->rng;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        w->rng = x;
        x *= 0x2545F4914F6CDD1DULL;
        for (int i = 0; i < 16; i++)
            out[half * 16 + i] = hex[(x >> (i * 4)) & 15];
    }
    out[32] = '\0';
}

void
gw_worker_join(struct gw_worker *w)
{
    pthread_join(w->thread, NULL);
    struct gw_conn *c;
    while ((c = TAILQ_FIRST(&w->conns)))
        gw_conn_close(c);
    if (w->ps)
        gw_poolset_retire(w->ps);
    for (size_t i = 0; i < w->nlisten; i++)
        if (w->listeners[i])
            evconnlistener_free(w->listeners[i]);
    if (w->drain_timer)
        event_free(w->drain_timer);
    if (w->cmd_ev)
        event_free(w->cmd_ev);
    for (int i = 0; i < 2; i++)
        if (w->cmd_pipe[i] >= 0)
            close(w->cmd_pipe[i]);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->base) {
        gw_budget_detach_all(w->base); /* Redis connections attached to this loop */
        event_base_free(w->base);
    }
    if (w->stage)
        evbuffer_free(w->stage);
    if (w->stage2)
        evbuffer_free(w->stage2);
    if (w->stage3)
        evbuffer_free(w->stage3);
    free(w->listeners);
    free(w->listener_args);
    gw_metrics_free(w->metrics);
    gw_config_unref(w->pending_cfg);
    gw_config_unref(w->cfg);
}
