/*
 * Upstream connections: a per-worker keep-alive pool per provider, plain or TLS (SNI and
 * certificate + host name verification), asynchronous DNS, and response parsing that streams
 * into the exchange. Retries once, on a fresh connection, only when nothing was received yet
 * and either the connection was refused or a reused pooled connection failed.
 */
#ifndef GW_UPSTREAM_H
#define GW_UPSTREAM_H

#include <stddef.h>
#include <sys/queue.h>

#include <event2/event_struct.h>
#include <openssl/ssl.h>

#include "gateway/deadline.h"
#include "gateway/http1.h"

struct gw_worker;
struct gw_tx;
struct bufferevent;
struct gw_upool;

struct gw_upconn {
    TAILQ_ENTRY(gw_upconn) link; /* idle list */
    struct gw_upool *pool;
    struct bufferevent *bev;
    struct gw_tx *tx; /* NULL while idle in the pool */
    struct gw_h1_parser parser;
    struct gw_deadline deadline; /* connect, first byte, read gap (own_read), pool expiry */
    struct event rev; /* plain connections: socket readable (reads bypass the bufferevent) */
    uint32_t read_timeout_ms;
    unsigned rev_on : 1; /* rev added */
    unsigned connected : 1;
    unsigned reused : 1;   /* served a request before this one */
    unsigned got_data : 1; /* received bytes of the current response */
    unsigned resp_done : 1;
    unsigned own_read : 1; /* rev is in use */
};

TAILQ_HEAD(gw_upconn_list, gw_upconn);

struct gw_poolset;

struct gw_upool {
    struct gw_worker *w;
    struct gw_poolset *ps;
    size_t idx;   /* provider index in ps->cfg */
    SSL_CTX *ssl; /* client TLS context for this provider, created on first use */
    struct gw_upconn_list idle;
    size_t nidle;
};

/*
 * The pools of one config snapshot: pools[i] serves ps->cfg->providers[i]. A reload gives the
 * worker a new set and retires the old one: its idle connections close at once, its busy ones
 * when their exchange ends, and it is freed when nothing uses it any more. Exchanges and
 * upstream connections hold it (users).
 */
struct gw_poolset {
    struct gw_config *cfg;
    struct gw_upool *pools;
    size_t npools;
    size_t users;
    int retired;
};

struct gw_poolset *gw_poolset_new(struct gw_worker *w, struct gw_config *cfg);
void gw_poolset_hold(struct gw_poolset *ps);
void gw_poolset_release(struct gw_poolset *ps);
/* Marks ps retired and closes its idle connections; frees it when unused. */
void gw_poolset_retire(struct gw_poolset *ps);

/* Sends tx's request to its provider (pooled or new connection). Errors end up in gw_tx_fail. */
void gw_upstream_send(struct gw_tx *tx);

/* Detaches tx from its connection, closing the connection (the response did not end cleanly). */
void gw_upstream_abort(struct gw_tx *tx);

/* Pause / resume reading the response (client backpressure). */
void gw_upstream_pause(struct gw_tx *tx);
void gw_upstream_resume(struct gw_tx *tx);

/* Frees every idle connection of the pool. */
void gw_upool_clear(struct gw_upool *pool);

#endif
