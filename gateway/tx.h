/*
 * One request/response exchange. Created by the client connection when a request head is
 * complete, dispatched to an upstream when its body is complete, and ended (access log,
 * resources released) when its response was queued to the client or the exchange failed.
 */
#ifndef GW_TX_H
#define GW_TX_H

#include <stddef.h>
#include <stdint.h>

#include "config/cfg.h"
#include "gateway/sse.h"

struct gw_conn;
struct gw_worker;
struct gw_upconn;
struct gw_poolset;
struct gw_filtering;
struct gw_h1_parser;
struct evbuffer;

struct gw_tx {
    struct gw_conn *conn;
    struct gw_worker *w;
    struct gw_config *cfg; /* the snapshot this exchange started with (reference) */
    struct gw_poolset *ps; /* that snapshot's upstream pools in this worker (held) */
    const struct gw_route_cfg *route;
    const struct gw_provider_cfg *prov;
    size_t prov_idx;
    enum gw_api api;
    char id[72]; /* X-Request-Id */

    const struct gw_h1_parser *req; /* the request (parser-owned until the tx ends) */
    const char *path;
    int method_head;   /* HEAD request: no response body */
    int client_http10; /* respond HTTP/1.0 style (no chunked) */
    int client_keep_alive;

    /* identity and request fields (read at dispatch) */
    const struct gw_key_cfg *key;    /* the virtual key presented, or NULL (anonymous) */
    char model[256];                 /* the request's model, "" when unknown */
    char session[129];               /* session id, "" when none */
    int stream;                      /* the request asked for a stream */
    int64_t tokens_in, tokens_out;   /* usage the provider reported (-1: not seen) */
    int64_t cache_read, cache_write; /* its prompt-cache reads and writes (0: none reported) */
    uint32_t retry_after;            /* a gateway error answer carries Retry-After (0: none) */

    struct gw_filtering *flt;  /* filter chain state, NULL when the route has no filters */
    struct evbuffer *body_out; /* request body as edited by filters (replaces the original) */
    struct evbuffer *resp_buf; /* buffered response body (filters see it whole) */
    struct evbuffer *head_buf; /* its head, sent once the body is final */
    char rules[256];           /* filter:rule:action of what fired, for the access log */

    struct gw_upconn *up; /* upstream connection in use */
    int attempts;

    int status;    /* status sent to the client */
    int up_status; /* status the upstream answered, 0 if none */
    unsigned resp_started : 1;
    unsigned resp_chunked : 1; /* we frame the body as chunks */
    unsigned resp_close_delimited : 1;
    unsigned resp_sse : 1;
    unsigned resp_no_body : 1;
    unsigned done : 1;
    unsigned counted_stream : 1; /* counted in the active-streams gauge */
    unsigned resp_buffered : 1;  /* the response waits for the filters (resp_buf, head_buf) */
    unsigned fail_pending : 1;   /* a filter blocked inside the upstream parser: fail after it */

    struct gw_sse sse;
    struct evbuffer *sse_hold; /* bytes of an event not yet complete */

    uint64_t bytes_in, bytes_out;
    uint64_t t_start, t_dispatch, t_connected, t_first_byte, t_first_data;
};

/*
 * Creates the exchange for the request whose head c->parser just completed. Routes it and picks
 * the provider. Returns NULL on allocation failure.
 */
struct gw_tx *gw_tx_new(struct gw_conn *c, uint64_t t_start);

/* The request body is complete: send it upstream. */
void gw_tx_dispatch(struct gw_tx *tx);

/*
 * Answers with a gateway-made error in the API's format (before the response started), or ends
 * a started response as well as its framing allows (an SSE error event, then close). Ends tx.
 */
void gw_tx_fail(struct gw_tx *tx, int status, const char *message);

/* Same with an explicit OpenAI error code (NULL: the status's default). */
void gw_tx_fail_code(struct gw_tx *tx, int status, const char *code, const char *message);

/* Upstream side: response head (status and headers in p), body bytes, end of response. */
int gw_tx_resp_head(struct gw_tx *tx, const struct gw_h1_parser *p);
int gw_tx_resp_data(struct gw_tx *tx, const char *data, size_t n);
void gw_tx_resp_end(struct gw_tx *tx);

/* Upstream side: connection established (for the access log's connect time). */
void gw_tx_connected(struct gw_tx *tx);

/* The client connection went away: abort the upstream side and free. */
void gw_tx_abort(struct gw_tx *tx);

/* Frees the exchange (after the access log line); the conn pointer is cleared by the caller. */
void gw_tx_free(struct gw_tx *tx);

/* Queues already framed SSE event bytes (moved out of b) to the client and flushes. */
void gw_tx_emit_raw(struct gw_tx *tx, struct evbuffer *b);

/* Fails the exchange with the pending filter block (after the upstream parser returned). */
void gw_tx_fail_pending(struct gw_tx *tx);

/* evbuffer cleanup that free()s the data. */
void gw_free_cb(const void *data, size_t len, void *arg);

/* Who and what the exchange is about, for audit records (pointers into tx). */
struct gw_audit_who;
void gw_tx_who(const struct gw_tx *tx, struct gw_audit_who *w);

/* Writes the access log line for tx; error says why it failed, or NULL. */
void gw_tx_log(struct gw_tx *tx, const char *error);

/* One access log record (JSON line); fields may be NULL / 0 / negative when unknown. */
struct gw_access_rec {
    const char *request_id, *client, *method, *path, *provider, *error;
    const char *team, *key_id, *user, *model, *session; /* identity; NULL / "" when none */
    const char *rules; /* filter:rule:action of what fired, comma-separated; NULL / "" when none */
    int64_t tokens_in, tokens_out; /* -1 when unknown */
    int status, upstream_status;
    uint64_t bytes_in, bytes_out;
    double duration_ms, connect_ms, ttfb_ms; /* -1 when not applicable */
};

/* Appends one JSON line to the worker's access log (one write(2), so lines never interleave). */
void gw_access_log(struct gw_worker *w, const struct gw_access_rec *r);

/* Writes a complete error response to the client for a request that has no tx (parse errors). */
void gw_conn_send_error(struct gw_conn *c, enum gw_api api, int status, const char *message,
                        const char *request_id, int close);
void gw_conn_send_error_code(struct gw_conn *c, enum gw_api api, int status, const char *code,
                             const char *message, const char *request_id, int close);

#endif
