/*
 * Runs a route's filter chain over an exchange: the request body as segments (with WAIT and
 * resume), buffered JSON responses as segments, and streamed responses event by event as chunks
 * of logical streams with hold-back. Also implements the services filters call (filter.h).
 */
#ifndef GW_FILTERING_H
#define GW_FILTERING_H

#include <stddef.h>

struct gw_tx;
struct gw_h1_parser;
struct evbuffer;

/*
 * Request side, called by dispatch once identity and policy passed. Returns 0: send the request
 * upstream now (tx->body_out replaces the body when a filter edited it); 1: a filter waits, the
 * exchange continues from gw_tx_resume; -1: the exchange was answered (blocked or failed).
 */
int gw_filtering_request(struct gw_tx *tx);

/* Response head: whether the body is buffered for on_resp_body (1) or streamed (0). Sets up the
 * streaming state for event streams. */
int gw_filtering_resp_head(struct gw_tx *tx, int status, int is_json, int is_sse);

/*
 * Streamed response: complete SSE events (one or more, as framed) in data; the filtered events
 * are appended to out. Returns 0, or -1 when a filter blocked (tx's pending failure is set).
 */
int gw_filtering_sse(struct gw_tx *tx, const char *data, size_t len, struct evbuffer *out);

/* End of a streamed response: releases whatever filters still hold (appended to out). 0 / -1. */
int gw_filtering_sse_end(struct gw_tx *tx, struct evbuffer *out);

/*
 * Buffered response complete: runs on_resp_body over body. On 0, *out and *outlen hold the body to
 * send (body itself when unchanged: *out = NULL). -1: blocked (pending failure set).
 */
int gw_filtering_resp_body(struct gw_tx *tx, const char *body, size_t len, char **out,
                           size_t *outlen);

/* 1 when the response is a filtered event stream (events go through gw_filtering_sse). */
int gw_filtering_is_sse(const struct gw_tx *tx);

/* Answers the exchange with the block a filter set (or the chain's failure). */
void gw_filtering_fail(struct gw_tx *tx);

/* ---- `portcullis scan` ---- */

#include "filters/filter.h"

struct gw_scan_event {
    struct gw_event ev; /* strings owned by the result */
};

struct gw_scan_result {
    int blocked, status;
    char code[48];
    char message[400];
    struct gw_scan_event *events;
    size_t nevents;
};

/*
 * Runs tx's route chain over segs (request filters when segs->dir is GW_DIR_REQUEST, response
 * filters otherwise) on a detached exchange (no connection; tx->w->base runs WAITs). Edits land
 * in segs. Fills *res (free with gw_scan_result_free). 0, or -1 when out of memory.
 */
int gw_filtering_scan(struct gw_tx *tx, struct gw_segments *segs, struct gw_scan_result *res);
void gw_scan_result_free(struct gw_scan_result *res);

/* ---- audit ---- */

struct gw_audit_req;

/* 1 when a filter blocked the exchange. */
int gw_filtering_blocked(const struct gw_tx *tx);

/* Fills r's capture fields (prompt, response) from what the chain captured per the route's
 * policy; the texts live until gw_filtering_end. Nothing when nothing was captured. */
void gw_filtering_capture(struct gw_tx *tx, struct gw_audit_req *r);

/* Counts the exchange's security metrics (tokens by team and model, guardrail evaluations and
 * triggers). Called once, when the exchange is logged. */
void gw_tx_security_metrics(struct gw_tx *tx);

/* on_tx_end for every filter, then frees the state. Safe when there is none. */
void gw_filtering_end(struct gw_tx *tx);

#endif
