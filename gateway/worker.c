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
#include "gateway/upstream.h"

#define DRAIN_DEADLINE_SEC 30

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    gw_conn_accept(arg, fd, sa, salen);
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
on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_worker *w = arg;
    if (w->draining)
        return;
    w->draining = 1;
    for (size_t i = 0; i < w->nlisten; i++) {
        if (w->listeners[i])
            evconnlistener_free(w->listeners[i]);
        w->listeners[i] = NULL;
    }
    for (size_t i = 0; i < w->npools; i++)
        gw_upool_clear(&w->pools[i]);
    struct gw_conn *c, *next;
    for (c = TAILQ_FIRST(&w->conns); c; c = next) {
        next = TAILQ_NEXT(c, link);
        gw_conn_drain(c);
    }
    if (w->nconns == 0) {
        event_base_loopexit(w->base, NULL);
        return;
    }
    struct timeval tv = {DRAIN_DEADLINE_SEC, 0};
    w->drain_timer = evtimer_new(w->base, on_drain_deadline, w);
    evtimer_add(w->drain_timer, &tv);
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
    w->stop_pipe[0] = w->stop_pipe[1] = -1;
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
    w->npools = cfg->nproviders;
    w->pools = calloc(w->npools ? w->npools : 1, sizeof(*w->pools));
    w->listeners = calloc(nfds ? nfds : 1, sizeof(*w->listeners));
    if (!w->pools || !w->listeners)
        return -1;
    for (size_t i = 0; i < w->npools; i++) {
        w->pools[i].w = w;
        w->pools[i].idx = i;
        TAILQ_INIT(&w->pools[i].idle);
    }
    w->nlisten = nfds;
    for (size_t i = 0; i < nfds; i++) {
        w->listeners[i] = evconnlistener_new(
            w->base, on_accept, w, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fds[i]);
        if (!w->listeners[i]) {
            gw_error("worker %d: cannot listen", id);
            return -1;
        }
        evconnlistener_set_error_cb(w->listeners[i], on_accept_error);
    }
    /* The control thread wakes the worker through a pipe, so libevent needs no locking: each
     * event_base is only ever touched by its own thread. */
    if (pipe2(w->stop_pipe, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    w->stop_ev = event_new(w->base, w->stop_pipe[0], EV_READ, on_stop, w);
    if (w->stop_ev)
        event_add(w->stop_ev, NULL);
    w->stage = evbuffer_new();
    return w->stop_ev && w->stage ? 0 : -1;
}

static void *
worker_main(void *arg)
{
    struct gw_worker *w = arg;
    event_base_dispatch(w->base);
    return NULL;
}

int
gw_worker_start(struct gw_worker *w)
{
    return pthread_create(&w->thread, NULL, worker_main, w) == 0 ? 0 : -1;
}

void
gw_worker_stop(struct gw_worker *w)
{
    char b = 1;
    ssize_t n = write(w->stop_pipe[1], &b, 1);
    (void)n;
}

SSL_CTX *
gw_worker_upstream_ssl(struct gw_worker *w, size_t i)
{
    struct gw_upool *pool = &w->pools[i];
    if (pool->ssl)
        return pool->ssl;
    const struct gw_provider_cfg *prov = &w->cfg->providers[i];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx)
        return NULL;
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    static const unsigned char alpn[] = "\x08http/1.1";
    SSL_CTX_set_alpn_protos(ctx, alpn, sizeof(alpn) - 1);
    int ok = prov->ca_file ? SSL_CTX_load_verify_locations(ctx, prov->ca_file, NULL)
                           : SSL_CTX_set_default_verify_paths(ctx);
    if (ok != 1) {
        gw_error("provider %s: cannot load trust anchors", prov->name);
        SSL_CTX_free(ctx);
        return NULL;
    }
    pool->ssl = ctx;
    return ctx;
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
    for (size_t i = 0; i < w->npools; i++) {
        gw_upool_clear(&w->pools[i]);
        if (w->pools[i].ssl)
            SSL_CTX_free(w->pools[i].ssl);
    }
    for (size_t i = 0; i < w->nlisten; i++)
        if (w->listeners[i])
            evconnlistener_free(w->listeners[i]);
    if (w->drain_timer)
        event_free(w->drain_timer);
    if (w->stop_ev)
        event_free(w->stop_ev);
    for (int i = 0; i < 2; i++)
        if (w->stop_pipe[i] >= 0)
            close(w->stop_pipe[i]);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->base)
        event_base_free(w->base);
    if (w->stage)
        evbuffer_free(w->stage);
    free(w->pools);
    free(w->listeners);
    gw_config_unref(w->cfg);
}
