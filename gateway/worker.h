/*
 * A worker thread: its own event_base, listeners (SO_REUSEPORT sockets bound by the control
 * thread), DNS resolver, upstream pools and TLS contexts. Workers share nothing on the hot path
 * but the read-only config snapshot.
 */
#ifndef GW_WORKER_H
#define GW_WORKER_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <openssl/ssl.h>

#include "config/cfg.h"

struct event_base;
struct evbuffer;
struct evdns_base;
struct evconnlistener;
struct event;
struct gw_conn;
struct gw_poolset;
struct gw_metrics;
struct gw_worker;

/* Callback argument of one listener: which worker, which configured address. */
struct gw_listener_arg {
    struct gw_worker *w;
    size_t idx; /* index in cfg->listen */
};

TAILQ_HEAD(gw_conn_list, gw_conn);

struct gw_worker {
    int id;
    pthread_t thread;
    struct event_base *base;
    struct evdns_base *dns;
    struct gw_config *cfg;         /* current snapshot (reference); new connections use it */
    struct gw_config *pending_cfg; /* handed over by the control thread (atomic exchange) */

    size_t nlisten;
    struct evconnlistener **listeners;
    struct gw_listener_arg *listener_args;

    struct event *cmd_ev;      /* readable end of cmd_pipe */
    int cmd_pipe[2];           /* the control thread writes 's' (stop) or 'r' (adopt config) */
    struct event *drain_timer; /* gives up on draining after a deadline */
    int draining;

    struct gw_poolset *ps; /* upstream pools of cfg */
    struct gw_metrics *metrics;
    int running; /* set (atomic) once the loop runs: /readyz */
    int exit_fd; /* the worker writes a byte here when its loop ends, or -1 */

    struct gw_conn_list conns;
    size_t nconns;

    struct evbuffer *stage;  /* scratch for upstream request heads written directly */
    struct evbuffer *stage2; /* scratch for SSE events on their way through the filters */
    struct evbuffer *stage3; /* ... and for what the filters release of them */

    int access_fd; /* -1: off */
    uint64_t rng;  /* request-id generator state */
};

/*
 * Prepares worker id with a reference to cfg and the listening sockets fds[0..nfds) (the
 * worker's listeners own and close them). Returns 0, or -1 with a message logged.
 */
int gw_worker_init(struct gw_worker *w, int id, struct gw_config *cfg, const int *fds, size_t nfds,
                   int access_fd);

/* Starts the worker's thread. Returns 0 or -1. */
int gw_worker_start(struct gw_worker *w);

/* Asks the worker to drain and exit (any thread): stops accepting, lets exchanges in flight
 * finish (closing keep-alive connections after them), then leaves its loop. */
void gw_worker_stop(struct gw_worker *w);

/* Hands cfg (a new reference, consumed) to the worker (any thread); the worker adopts it
 * between events. Exchanges in flight finish under the snapshot they started with. */
void gw_worker_adopt(struct gw_worker *w, struct gw_config *cfg);

/* Adds 1 to a named counter of the worker's metrics (label may be NULL). */
void gw_worker_count(struct gw_worker *w, const char *name, const char *label, const char *value);

/* Waits for the thread and frees everything. */
void gw_worker_join(struct gw_worker *w);

/* Called by conn when a connection goes away; ends the loop when draining and none remain. */
void gw_worker_conn_gone(struct gw_worker *w);

/* Writes a fresh request id (32 hex digits) into out (33 bytes). */
void gw_worker_request_id(struct gw_worker *w, char *out);

#endif
