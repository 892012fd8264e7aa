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
struct gw_upool;

TAILQ_HEAD(gw_conn_list, gw_conn);

struct gw_worker {
    int id;
    pthread_t thread;
    struct event_base *base;
    struct evdns_base *dns;
    struct gw_config *cfg; /* reference held by the worker */

    size_t nlisten;
    struct evconnlistener **listeners;

    struct event *stop_ev;     /* readable end of stop_pipe */
    int stop_pipe[2];          /* the control thread writes a byte to stop the worker */
    struct event *drain_timer; /* gives up on draining after a deadline */
    int draining;

    struct gw_upool *pools; /* one per provider of cfg, same index */
    size_t npools;

    struct gw_conn_list conns;
    size_t nconns;

    struct evbuffer *stage; /* scratch for upstream request heads written directly */

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

/* Waits for the thread and frees everything. */
void gw_worker_join(struct gw_worker *w);

/* Called by conn when a connection goes away; ends the loop when draining and none remain. */
void gw_worker_conn_gone(struct gw_worker *w);

/* Returns a client TLS context for provider index i (lazily created), or NULL on error. */
SSL_CTX *gw_worker_upstream_ssl(struct gw_worker *w, size_t i);

/* Writes a fresh request id (32 hex digits) into out (33 bytes). */
void gw_worker_request_id(struct gw_worker *w, char *out);

#endif
