/*
 * A client connection: reads requests with the HTTP/1 parser, runs one exchange (struct gw_tx)
 * at a time and answers pipelined requests in order, enforces client-side timeouts, and writes
 * responses with backpressure towards the upstream.
 */
#ifndef GW_CONN_H
#define GW_CONN_H

#include <stdint.h>
#include <sys/queue.h>

#include <event2/event_struct.h>

#include "gateway/deadline.h"
#include "gateway/http1.h"

struct bufferevent;
struct evbuffer;
struct gw_worker;
struct gw_tx;

enum gw_conn_state {
    GW_C_IDLE = 0, /* keep-alive, waiting for the next request */
    GW_C_HEAD,     /* reading a request head */
    GW_C_BODY,     /* reading a request body */
    GW_C_UPSTREAM, /* request complete, exchange in flight */
    GW_C_CLOSING,  /* flushing the last bytes, then close */
};

struct gw_conn {
    TAILQ_ENTRY(gw_conn) link;
    struct gw_worker *w;
    struct bufferevent *bev;
    struct evbuffer *wbuf;       /* response bytes staged until gw_conn_flush */
    struct gw_deadline deadline; /* header / body / keep-alive / request (gateway/deadline.h) */
    struct event rev;            /* socket readable (reads bypass the bufferevent) */
    struct gw_h1_parser parser;
    struct gw_tx *tx;
    enum gw_conn_state state;
    uint64_t t_first_byte; /* when the current request's first byte arrived */
    int paused_upstream;   /* upstream reads paused because our output is full */
    int plain;             /* plain TCP: staged bytes may be written to the socket directly */
    int tls_ok;            /* TLS: the handshake completed */
    int read_paused;       /* rev removed: too many pipelined bytes wait */
    char client_ip[46];
};

/*
 * Sends the bytes staged in c->wbuf: straight to the socket when nothing is queued before them
 * (one writev, no write event to register and clear), the rest through the bufferevent. Every
 * writer appends to c->wbuf; the flush runs before control returns to the event loop.
 */
void gw_conn_flush(struct gw_conn *c);

/* Bytes waiting to go to the client (staged and queued). */
size_t gw_conn_pending(const struct gw_conn *c);

/* Takes ownership of fd, an accepted client socket. */
void gw_conn_accept(struct gw_worker *w, size_t listen_idx, int fd, const struct sockaddr *sa,
                    int salen);

/* Worker draining: closes the connection now if idle, else after its current exchange. */
void gw_conn_drain(struct gw_conn *c);

/* Called by the tx when its response is completely queued to the client. */
void gw_conn_tx_done(struct gw_conn *c);

/* Called by the tx when the connection must be closed once the output is flushed. */
void gw_conn_close_after_flush(struct gw_conn *c);

/* Closes and frees the connection and any exchange in flight (aborting its upstream). */
void gw_conn_close(struct gw_conn *c);

/* Output-buffer backpressure: the tx asks to be told when the client drained its output. */
void gw_conn_watch_drain(struct gw_conn *c);

#endif
