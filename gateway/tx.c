/*
 * The exchange: routing, the response towards the client (framing, hop-by-hop headers,
 * X-Request-Id, SSE event boundaries, backpressure), gateway-made errors and the access log.
 */
#include "gateway/tx.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <openssl/sha.h>

#include "audit/audit.h"
#include "filters/filter.h"
#include "gateway/conn.h"
#include "gateway/filtering.h"
#include "gateway/hbuf.h"
#include "gateway/http1.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/upstream.h"
#include "gateway/worker.h"
#include "providers/provider.h"
#include "providers/reqinfo.h"

/* A client-supplied request id is kept when it is short and plainly printable. */
static int
valid_request_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        unsigned char ch = (unsigned char)s[n];
        if (!(isalnum(ch) || ch == '-' || ch == '_' || ch == '.' || ch == ':'))
            return 0;
    }
    return n > 0 && n <= 64;
}

static void
set_route(struct gw_tx *tx, const struct gw_route_cfg *r)
{
    tx->route = r;
    if (r) {
        tx->prov = r->provider;
        tx->prov_idx = (size_t)(tx->prov - tx->cfg->providers);
        tx->api = tx->prov->api;
    } else {
        tx->prov = NULL;
    }
}

struct gw_tx *
gw_tx_new(struct gw_conn *c, uint64_t t_start)
{
    struct gw_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return NULL;
    const struct gw_h1_parser *p = &c->parser;
    tx->conn = c;
    tx->w = c->w;
    tx->cfg = gw_config_ref(c->w->cfg);
    tx->tokens_in = tx->tokens_out = -1;
    tx->ps = c->w->ps; /* the pools of the same snapshot */
    gw_poolset_hold(tx->ps);
    tx->req = p;
    tx->path = gw_h1_url(p);
    tx->t_start = t_start;
    tx->method_head = p->method == HTTP_HEAD;
    tx->client_http10 = p->http_minor == 0;
    tx->client_keep_alive = p->keep_alive;

    /* By prefix for now (it decides the error format of early answers); routes that select by
     * model are chosen again at dispatch, once the body is in. */
    size_t plen = strcspn(tx->path, "?");
    set_route(tx, gw_config_route(tx->cfg, tx->path, plen, NULL));
    if (!tx->route)
        tx->api = gw_api_for_path(tx->path, plen);
    int i = gw_h1_find(p, "x-request-id");
    if (i >= 0 && valid_request_id(gw_h1_hvalue(p, (uint32_t)i)))
        snprintf(tx->id, sizeof(tx->id), "%s", gw_h1_hvalue(p, (uint32_t)i));
    else
        gw_worker_request_id(c->w, tx->id);
    return tx;
}

/* The credential the client presented: "Authorization: Bearer K" (OpenAI SDKs) or
 * "x-api-key: K" (Anthropic SDK). NULL when there is none. */
static const char *
presented_key(const struct gw_h1_parser *p, size_t *len)
{
    int i = gw_h1_find(p, "authorization");
    if (i >= 0) {
        const char *v = gw_h1_hvalue(p, (uint32_t)i);
        if (strncasecmp(v, "bearer ", 7) == 0) {
            v += 7;
            while (*v == ' ')
                v++;
            *len = strlen(v);
            return *len ? v : NULL;
        }
    }
    i = gw_h1_find(p, "x-api-key");
    if (i >= 0) {
        const char *v = gw_h1_hvalue(p, (uint32_t)i);
        *len = strlen(v);
        return *len ? v : NULL;
    }
    return NULL;
}

/* 0 when the request may go on; otherwise the 401 has been sent. */
static int
authenticate(struct gw_tx *tx)
{
    size_t n = 0;
    const char *k = presented_key(tx->req, &n);
    if (k && tx->cfg->nkeys) {
        unsigned char md[SHA256_DIGEST_LENGTH];
        SHA256((const unsigned char *)k, n, md);
        tx->key = gw_config_key(tx->cfg, md);
    }
    if (tx->key || !tx->cfg->auth.required)
        return 0; /* anonymous when optional: the client's own credential may pass through */
    gw_worker_count(tx->w, "portcullis_auth_failures_total", "reason",
                    k ? "unknown_key" : "missing_key");
    struct gw_audit_who who;
    gw_tx_who(tx, &who);
    gw_audit_auth_failure(&who, k ? "unknown_key" : "missing_key", 401);
    gw_tx_fail_code(tx, 401, "invalid_api_key",
                    k ? "Incorrect API key provided: the gateway does not know this key."
                      : "Missing API key: send your Portcullis key as 'Authorization: Bearer "
                        "<key>' or 'x-api-key: <key>'.");
    return -1;
}

/* A session id is kept when it is printable and not too long. */
static void
set_session(struct gw_tx *tx, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof(tx->session))
        return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] == 0x7f)
            return;
    memcpy(tx->session, v, n + 1);
}

/* Reads model, stream flag and session fields from the JSON body without a full parse. */
static void
read_request_fields(struct gw_tx *tx)
{
    const struct gw_h1_parser *p = tx->req;
    int hi = gw_h1_find(p, tx->cfg->auth.session_header);
    if (hi >= 0)
        set_session(tx, gw_h1_hvalue(p, (uint32_t)hi));
    if (p->body_len == 0)
        return;
    struct gw_reqinfo ri;
    const char *body = (const char *)evbuffer_pullup(p->body, -1);
    if (!body)
        return;
    gw_reqinfo_scan(body, p->body_len, &ri);
    if (!ri.valid)
        return;
    if (ri.has_model)
        memcpy(tx->model, ri.model, sizeof(tx->model));
    tx->stream = ri.stream;
    if (!tx->session[0] && ri.has_user)
        set_session(tx, ri.user);
    if (!tx->session[0] && ri.has_metadata_user_id)
        set_session(tx, ri.metadata_user_id);
}

/* Approved models: the route's list, then the team's. 0 when allowed; else the 403 is sent. */
static int
check_model(struct gw_tx *tx)
{
    const struct gw_globs *lists[2] = {&tx->route->allowed_models,
                                       tx->key ? &tx->key->team->allowed_models : NULL};
    for (int i = 0; i < 2; i++) {
        if (!lists[i] || lists[i]->n == 0)
            continue;
        char msg[512];
        const char *policy = i == 0 ? "route" : "team";
        const char *name = i == 0 ? tx->route->prefix : tx->key->team->name;
        if (!tx->model[0]) {
            if (tx->req->method == HTTP_GET || tx->req->method == HTTP_HEAD ||
                tx->req->method == HTTP_DELETE)
                continue; /* listing models, fetching a stored response: no model involved */
            snprintf(msg, sizeof(msg),
                     "The request names no model, and %s '%s' only allows approved models "
                     "(policy: %s allowed_models).",
                     policy, name, policy);
        } else if (gw_globs_match(lists[i], tx->model)) {
            continue;
        } else {
            snprintf(msg, sizeof(msg),
                     "Model '%.200s' is not approved for %s '%s' (policy: %s allowed_models).",
                     tx->model, policy, name, policy);
        }
        gw_worker_count(tx->w, "portcullis_policy_denials_total", "policy",
                        i == 0 ? "route_allowed_models" : "team_allowed_models");
        struct gw_audit_who who;
        gw_tx_who(tx, &who);
        gw_audit_policy(&who, "model_not_allowed", msg, 403);
        gw_tx_fail_code(tx, 403, "model_not_allowed", msg);
        return -1;
    }
    return 0;
}

void
gw_tx_dispatch(struct gw_tx *tx)
{
    tx->t_dispatch = gw_now_us();
    read_request_fields(tx); /* first, so that even a refused request is logged with its model */
    if (authenticate(tx) < 0)
        return;
    if (tx->cfg->routes_by_model) {
        size_t plen = strcspn(tx->path, "?");
        set_route(tx, gw_config_route(tx->cfg, tx->path, plen, tx->model[0] ? tx->model : NULL));
    }
    if (!tx->route) {
        gw_tx_fail(tx, 404, "no route for this path");
        return;
    }
    if (check_model(tx) < 0)
        return;
    if (tx->prov->azure_api_version && !tx->model[0]) {
        gw_tx_fail(tx, 400,
                   "This route goes to Azure OpenAI deployments: the request body must name a "
                   "'model'.");
        return;
    }
    if (gw_filtering_request(tx) != 0)
        return; /* answered, or a filter waits and gw_tx_resume sends it later */
    gw_upstream_send(tx);
}

void
gw_tx_connected(struct gw_tx *tx)
{
    if (!tx->t_connected)
        tx->t_connected = gw_now_us();
}

static struct evbuffer *
out(struct gw_tx *tx)
{
    return tx->conn->wbuf;
}

static void send_error(struct gw_conn *c, enum gw_api api, int status, const char *code,
                       const char *message, const char *request_id, int close,
                       uint32_t retry_after);

void
gw_conn_send_error(struct gw_conn *c, enum gw_api api, int status, const char *message,
                   const char *request_id, int close)
{
    gw_conn_send_error_code(c, api, status, NULL, message, request_id, close);
}

void
gw_conn_send_error_code(struct gw_conn *c, enum gw_api api, int status, const char *code,
                        const char *message, const char *request_id, int close)
{
    send_error(c, api, status, code, message, request_id, close, 0);
}

static void
send_error(struct gw_conn *c, enum gw_api api, int status, const char *code, const char *message,
           const char *request_id, int close, uint32_t retry_after)
{
    char body[768], ra[40] = "";
    size_t n = gw_error_body_code(api, status, code, message, body, sizeof(body));
    struct evbuffer *o = c->wbuf;
    if (retry_after)
        snprintf(ra, sizeof(ra), "Retry-After: %u\r\n", retry_after);
    evbuffer_add_printf(o,
                        "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
                        "Content-Length: %zu\r\nX-Request-Id: %s\r\n%s%s\r\n",
                        status, gw_h1_reason(status), n, request_id, ra,
                        close ? "Connection: close\r\n" : "");
    evbuffer_add(o, body, n);
}

static int
is_header(const struct gw_h1_parser *p, uint32_t i, const char *name, size_t n)
{
    return p->hdrs[i].name_len == n && strncasecmp(gw_h1_hname(p, i), name, n) == 0;
}

/* The media type of a Content-Type value, compared without parameters. */
static int
media_is(const char *v, const char *type)
{
    while (*v == ' ')
        v++;
    size_t n = strlen(type);
    return strncasecmp(v, type, n) == 0 && (v[n] == '\0' || v[n] == ';' || v[n] == ' ');
}

/* The Connection field the client's HTTP version and keep-alive call for, when its default
 * (HTTP/1.1 keeps alive, 1.0 closes) is not what happens. */
static void
add_connection_field(const struct gw_tx *tx, struct gw_hbuf *hb)
{
    if (!tx->client_keep_alive && !tx->client_http10)
        GW_HBUF_LIT(hb, "Connection: close\r\n");
    else if (tx->client_keep_alive && tx->client_http10)
        GW_HBUF_LIT(hb, "Connection: keep-alive\r\n");
}

int
gw_tx_resp_head(struct gw_tx *tx, const struct gw_h1_parser *p)
{
    int status = p->status;
    tx->up_status = status;
    tx->status = status;
    tx->t_first_byte = gw_now_us();
    tx->resp_no_body = tx->method_head || status == 204 || status == 304;
    int cti = gw_h1_find(p, "content-type");
    const char *ctype = cti >= 0 ? gw_h1_hvalue(p, (uint32_t)cti) : "";
    tx->resp_sse = media_is(ctype, "text/event-stream");
    if (tx->flt && !tx->resp_no_body) {
        /* Filters that need the whole answer see it before any of it goes out. */
        if (gw_filtering_resp_head(tx, status, media_is(ctype, "application/json"), tx->resp_sse)) {
            tx->resp_buffered = 1;
            tx->head_buf = evbuffer_new();
            tx->resp_buf = evbuffer_new();
            if (!tx->head_buf || !tx->resp_buf)
                return -1;
        }
    }
    struct evbuffer *o = tx->resp_buffered ? tx->head_buf : out(tx);
    tx->resp_started = !tx->resp_buffered;
    size_t len0 = evbuffer_get_length(o);

    if (!tx->resp_no_body && !tx->resp_buffered && p->content_length < 0) {
        if (tx->client_http10) {
            tx->resp_close_delimited = 1;
            tx->client_keep_alive = 0;
        } else {
            tx->resp_chunked = 1;
        }
    }
    if (tx->w->draining)
        tx->client_keep_alive = 0;

    int ci = gw_h1_find(p, "connection");
    const char *conn_tokens = ci >= 0 ? gw_h1_hvalue(p, (uint32_t)ci) : NULL;
    struct gw_hbuf hb;
    gw_hbuf_init(&hb, o);
    GW_HBUF_LIT(&hb, "HTTP/1.1 ");
    gw_hbuf_u64(&hb, (uint64_t)status);
    GW_HBUF_LIT(&hb, " ");
    gw_hbuf_str(&hb, gw_h1_reason(status));
    GW_HBUF_LIT(&hb, "\r\n");
    for (uint32_t i = 0; i < p->nhdrs; i++) {
        const char *name = gw_h1_hname(p, i);
        uint32_t nl = p->hdrs[i].name_len;
        if (gw_h1_hop_by_hop(name, nl, conn_tokens))
            continue;
        if (is_header(p, i, "content-length", 14)) {
            if ((tx->resp_no_body && !tx->method_head) || tx->resp_buffered)
                continue; /* buffered: the final length is written with the body */
        } else if (is_header(p, i, "x-request-id", 12)) {
            /* Ours is the X-Request-Id; the provider's stays available under another name. */
            gw_hbuf_field(&hb, "X-Upstream-Request-Id", 21, gw_h1_hvalue(p, i),
                          p->hdrs[i].value_len);
            continue;
        }
        gw_hbuf_field(&hb, name, nl, gw_h1_hvalue(p, i), p->hdrs[i].value_len);
    }
    gw_hbuf_field(&hb, "X-Request-Id", 12, tx->id, strlen(tx->id));
    if (tx->resp_buffered) {
        gw_hbuf_flush(&hb);
        return 0; /* framing, Connection and the blank line come with the final body */
    }
    if (tx->resp_chunked)
        GW_HBUF_LIT(&hb, "Transfer-Encoding: chunked\r\n");
    add_connection_field(tx, &hb);
    GW_HBUF_LIT(&hb, "\r\n");
    gw_hbuf_flush(&hb);
    tx->bytes_out += evbuffer_get_length(o) - len0;
    if (tx->resp_sse) {
        gw_sse_init(&tx->sse);
        tx->sse_hold = evbuffer_new();
        tx->counted_stream = 1;
        gw_metrics_stream(tx->w->metrics, 1);
    }
    return tx->resp_no_body ? 1 : 0;
}

/* Queues body bytes to the client with the framing chosen at the head. */
static void
emit(struct gw_tx *tx, struct evbuffer *held, const char *data, size_t n)
{
    struct evbuffer *o = out(tx);
    size_t total = n + (held ? evbuffer_get_length(held) : 0);
    if (total == 0)
        return;
    if (tx->resp_chunked) {
        struct gw_hbuf hb;
        gw_hbuf_init(&hb, o);
        gw_hbuf_hex(&hb, total);
        GW_HBUF_LIT(&hb, "\r\n");
        gw_hbuf_flush(&hb);
    }
    if (held)
        evbuffer_add_buffer(o, held);
    if (n)
        evbuffer_add(o, data, n);
    if (tx->resp_chunked)
        evbuffer_add(o, "\r\n", 2);
    tx->bytes_out += total;
}

int
gw_tx_resp_data(struct gw_tx *tx, const char *data, size_t n)
{
    if (tx->resp_no_body)
        return 0;
    if (tx->t_first_data == 0)
        tx->t_first_data = gw_now_us();
    if (tx->resp_buffered) {
        if (evbuffer_get_length(tx->resp_buf) + n > tx->cfg->limits.max_response_bytes) {
            gw_tx_block(tx, 502, "response_too_large",
                        "The provider's answer is larger than limits.max_response_bytes and "
                        "cannot be filtered.");
            tx->fail_pending = 1;
            return -1;
        }
        evbuffer_add(tx->resp_buf, data, n);
        return 0;
    }
    if (tx->resp_sse) {
        /* Forward every complete event at once; keep a partial one until it completes. */
        size_t end = gw_sse_scan(&tx->sse, data, n);
        if (end && gw_filtering_is_sse(tx)) {
            struct evbuffer *ev = tx->w->stage2;
            evbuffer_add_buffer(ev, tx->sse_hold);
            evbuffer_add(ev, data, end);
            size_t elen = evbuffer_get_length(ev);
            const char *bytes = (const char *)evbuffer_pullup(ev, -1);
            struct evbuffer *filtered = tx->w->stage3; /* emit() empties it again */
            int rc = bytes ? gw_filtering_sse(tx, bytes, elen, filtered) : -1;
            evbuffer_drain(ev, elen);
            /* what the filters released goes out; after a block, the error event follows */
            emit(tx, filtered, NULL, 0);
            if (rc < 0) {
                tx->fail_pending = 1;
                return -1;
            }
        } else if (end) {
            emit(tx, tx->sse_hold, data, end);
        }
        if (end < n)
            evbuffer_add(tx->sse_hold, data + end, n - end);
    } else {
        emit(tx, NULL, data, n);
    }
    if (gw_conn_pending(tx->conn) > tx->cfg->limits.client_buffer_high &&
        !tx->conn->paused_upstream) {
        gw_conn_watch_drain(tx->conn);
        gw_upstream_pause(tx);
    }
    return 0;
}

/* A buffered response is complete: filters run, then head and final body go out. */
static int
send_buffered(struct gw_tx *tx)
{
    size_t len = evbuffer_get_length(tx->resp_buf);
    const char *body = len ? (const char *)evbuffer_pullup(tx->resp_buf, -1) : "";
    char *edited = NULL;
    size_t elen = 0;
    if (gw_filtering_resp_body(tx, body, len, &edited, &elen) < 0)
        return -1;
    struct evbuffer *o = out(tx);
    size_t blen = edited ? elen : len;
    struct gw_hbuf hb;
    gw_hbuf_init(&hb, tx->head_buf);
    GW_HBUF_LIT(&hb, "Content-Length: ");
    gw_hbuf_u64(&hb, blen);
    GW_HBUF_LIT(&hb, "\r\n");
    if (tx->w->draining)
        tx->client_keep_alive = 0;
    add_connection_field(tx, &hb);
    GW_HBUF_LIT(&hb, "\r\n");
    gw_hbuf_flush(&hb);
    tx->bytes_out += evbuffer_get_length(tx->head_buf) + blen;
    evbuffer_add_buffer(o, tx->head_buf);
    if (edited)
        evbuffer_add_reference(o, edited, elen, gw_free_cb, NULL);
    else
        evbuffer_add_buffer(o, tx->resp_buf);
    tx->resp_started = 1;
    return 0;
}

void
gw_free_cb(const void *data, size_t len, void *arg)
{
    (void)len;
    (void)arg;
    free((void *)data);
}

void
gw_tx_emit_raw(struct gw_tx *tx, struct evbuffer *b)
{
    emit(tx, b, NULL, 0);
    gw_conn_flush(tx->conn);
}

void
gw_tx_fail_pending(struct gw_tx *tx)
{
    tx->fail_pending = 0;
    gw_filtering_fail(tx);
}

void
gw_tx_resp_end(struct gw_tx *tx)
{
    if (tx->resp_buffered) {
        if (send_buffered(tx) < 0) {
            gw_tx_fail_pending(tx);
            return;
        }
    }
    if (tx->sse_hold && evbuffer_get_length(tx->sse_hold))
        emit(tx, tx->sse_hold, NULL, 0); /* a last event without its blank line */
    if (gw_filtering_is_sse(tx)) {
        struct evbuffer *b = evbuffer_new();
        if (!b || gw_filtering_sse_end(tx, b) < 0) {
            if (b)
                evbuffer_free(b);
            gw_tx_fail_pending(tx);
            return;
        }
        emit(tx, b, NULL, 0);
        evbuffer_free(b);
    }
    if (tx->resp_chunked)
        evbuffer_add(out(tx), "0\r\n\r\n", 5);
    if (tx->resp_close_delimited)
        tx->client_keep_alive = 0;
    tx->done = 1;
    gw_tx_log(tx, NULL);
    gw_conn_tx_done(tx->conn);
}

void
gw_tx_fail(struct gw_tx *tx, int status, const char *message)
{
    gw_tx_fail_code(tx, status, NULL, message);
}

void
gw_tx_fail_code(struct gw_tx *tx, int status, const char *code, const char *message)
{
    if (tx->up)
        gw_upstream_abort(tx);
    tx->done = 1;
    if (!tx->resp_started) {
        tx->status = status;
        size_t len0 = evbuffer_get_length(out(tx));
        send_error(tx->conn, tx->api, status, code, message, tx->id, !tx->client_keep_alive,
                   tx->retry_after);
        tx->bytes_out = evbuffer_get_length(out(tx)) - len0;
        gw_tx_log(tx, message);
        gw_conn_tx_done(tx->conn);
        return;
    }
    /* Headers are out: never present a cut stream as a success. An event stream gets a
     * provider-format error event; every framing then ends without its proper terminator and
     * the connection closes, so any client sees the failure. */
    if (tx->resp_sse && !tx->resp_no_body) {
        char ev[800];
        size_t n = gw_error_event_code(tx->api, status, code, message, ev, sizeof(ev));
        if (tx->sse_hold)
            evbuffer_drain(tx->sse_hold, evbuffer_get_length(tx->sse_hold));
        emit(tx, NULL, ev, n);
    }
    gw_tx_log(tx, message);
    struct gw_conn *c = tx->conn;
    c->tx = NULL;
    gw_tx_free(tx);
    gw_conn_close_after_flush(c);
}

void
gw_tx_abort(struct gw_tx *tx)
{
    if (tx->up)
        gw_upstream_abort(tx);
    if (!tx->done)
        gw_tx_log(tx, "client closed the connection");
    gw_tx_free(tx);
}

void
gw_tx_free(struct gw_tx *tx)
{
    gw_filtering_end(tx); /* on_tx_end runs for every exchange the chain saw */
    if (tx->up)
        gw_upstream_abort(tx);
    if (tx->body_out)
        evbuffer_free(tx->body_out);
    if (tx->resp_buf)
        evbuffer_free(tx->resp_buf);
    if (tx->head_buf)
        evbuffer_free(tx->head_buf);
    if (tx->sse_hold)
        evbuffer_free(tx->sse_hold);
    if (tx->counted_stream)
        gw_metrics_stream(tx->w->metrics, -1);
    gw_poolset_release(tx->ps);
    gw_config_unref(tx->cfg);
    free(tx);
}

static size_t
json_str(char *buf, size_t cap, const char *s)
{
    if (!s)
        return (size_t)snprintf(buf, cap, "null");
    if (cap < 3)
        return 0;
    buf[0] = '"';
    size_t n = gw_json_escape(s, strlen(s), buf + 1, cap - 2);
    buf[n + 1] = '"';
    buf[n + 2] = '\0';
    return n + 2;
}

static double
ms_between(uint64_t a, uint64_t b)
{
    return (a && b && b >= a) ? (double)(b - a) / 1000.0 : -1;
}

void
gw_access_log(struct gw_worker *w, const struct gw_access_rec *r)
{
    if (w->access_fd < 0)
        return;
    char line[3072], path[600], err[300], method[24], rid[80], team[140], key[140], user[300],
        model[300], session[300], rules[600];
    struct timespec ts;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    json_str(path, sizeof(path), r->path);
    json_str(err, sizeof(err), r->error);
    json_str(method, sizeof(method), r->method);
    json_str(rid, sizeof(rid), r->request_id);
    json_str(team, sizeof(team), r->team);
    json_str(key, sizeof(key), r->key_id);
    json_str(user, sizeof(user), r->user);
    json_str(model, sizeof(model), r->model && r->model[0] ? r->model : NULL);
    json_str(session, sizeof(session), r->session && r->session[0] ? r->session : NULL);
    json_str(rules, sizeof(rules), r->rules && r->rules[0] ? r->rules : NULL);
    int n = snprintf(
        line, sizeof(line),
        "{\"time\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ\",\"request_id\":%s,"
        "\"client\":\"%s\",\"method\":%s,\"path\":%s,\"status\":%d,"
        "\"upstream_status\":%d,\"provider\":%s%s%s,\"team\":%s,\"key_id\":%s,"
        "\"user\":%s,\"model\":%s,\"session\":%s,\"bytes_in\":%llu,"
        "\"bytes_out\":%llu,\"duration_ms\":%.3f,\"upstream_connect_ms\":%.3f,"
        "\"ttfb_ms\":%.3f,\"tokens_in\":%lld,\"tokens_out\":%lld,\"rules\":%s,\"error\":%s}\n",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        ts.tv_nsec / 1000000, rid, r->client, method, path, r->status, r->upstream_status,
        r->provider ? "\"" : "", r->provider ? r->provider : "null", r->provider ? "\"" : "", team,
        key, user, model, session, (unsigned long long)r->bytes_in,
        (unsigned long long)r->bytes_out, r->duration_ms, r->connect_ms, r->ttfb_ms,
        (long long)r->tokens_in, (long long)r->tokens_out, rules, err);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    ssize_t wr = write(w->access_fd, line, len);
    (void)wr;
}

void
gw_tx_who(const struct gw_tx *tx, struct gw_audit_who *w)
{
    memset(w, 0, sizeof(*w));
    w->request_id = tx->id;
    w->session = tx->session;
    if (tx->key) {
        w->team = tx->key->team->name;
        w->key_id = tx->key->id;
        w->user = tx->key->user;
    }
    w->client_ip = tx->conn ? tx->conn->client_ip : NULL;
    w->provider = tx->prov ? tx->prov->name : NULL;
    w->model = tx->model;
    w->route = tx->route ? tx->route->prefix : NULL;
    w->method = tx->req ? llhttp_method_name((llhttp_method_t)tx->req->method) : NULL;
    w->path = tx->path;
}

/* The exchange's cost under the price table (prompt-cache reads at cached_input), -1 unknown. */
static double
tx_cost(const struct gw_tx *tx)
{
    struct gw_tx_usage u;
    if (!tx->flt)
        return gw_config_cost(tx->cfg, tx->model, tx->tokens_in, tx->tokens_out);
    gw_tx_usage(tx, &u);
    return gw_config_cost_cached(tx->cfg, tx->model, u.tokens_in, u.tokens_cached, u.tokens_out);
}

/* The request record for the audit trail (access, usage, decisions, captured text). */
static void
audit_request(struct gw_tx *tx, const char *error, double duration_ms, double ttfb_ms)
{
    int blocked = gw_filtering_blocked(tx);
    if (!gw_audit_wants(GW_AUDIT_K_REQUEST, blocked ? 2 : 0))
        return;
    struct gw_audit_who who;
    gw_tx_who(tx, &who);
    struct gw_audit_req r = {
        .status = tx->status,
        .upstream_status = tx->up_status,
        .stream = tx->stream,
        .duration_ms = duration_ms,
        .ttfb_ms = ttfb_ms,
        .tokens_in = tx->tokens_in,
        .tokens_out = tx->tokens_out,
        .cost = tx_cost(tx),
        .bytes_in = tx->bytes_in,
        .bytes_out = tx->bytes_out,
        .rules = tx->rules,
        .blocked = blocked,
        .error = error,
    };
    gw_filtering_capture(tx, &r);
    gw_audit_request(&who, &r);
}

void
gw_tx_log(struct gw_tx *tx, const char *error)
{
    uint64_t now = gw_now_us();
    struct gw_access_rec r = {
        .request_id = tx->id,
        .client = tx->conn->client_ip,
        .method = llhttp_method_name((llhttp_method_t)tx->req->method),
        .path = tx->path,
        .status = tx->status,
        .upstream_status = tx->up_status,
        .provider = tx->prov ? tx->prov->name : NULL,
        .bytes_in = tx->bytes_in,
        .bytes_out = tx->bytes_out,
        .duration_ms = ms_between(tx->t_start, now),
        .connect_ms = ms_between(tx->t_dispatch, tx->t_connected),
        .ttfb_ms = ms_between(tx->t_dispatch, tx->t_first_byte),
        .error = error,
        .team = tx->key ? tx->key->team->name : NULL,
        .key_id = tx->key ? tx->key->id : NULL,
        .user = tx->key ? tx->key->user : NULL,
        .model = tx->model,
        .session = tx->session,
        .rules = tx->rules,
        .tokens_in = tx->tokens_in,
        .tokens_out = tx->tokens_out,
    };
    gw_access_log(tx->w, &r);
    audit_request(tx, error, r.duration_ms, r.ttfb_ms);
    gw_tx_security_metrics(tx);
    gw_metrics_request(
        tx->w->metrics, tx->route ? tx->route->prefix : "", tx->prov ? tx->prov->name : "",
        tx->model, tx->status, tx->bytes_in, tx->bytes_out,
        tx->t_dispatch && tx->t_connected && now > tx->t_dispatch ? (int64_t)(now - tx->t_dispatch)
                                                                  : -1,
        tx->t_first_data && tx->t_dispatch ? (int64_t)(tx->t_first_data - tx->t_dispatch) : -1);
}
