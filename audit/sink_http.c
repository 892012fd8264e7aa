/*
 * HTTP collector sink (Splunk HEC, Elasticsearch _bulk, generic NDJSON webhook): one POST per
 * batch on a keep-alive HTTP/1.1 connection (TLS when the url is https://), made lazily by send
 * and kept across batches. The answer is read with llhttp.
 *
 * A batch is delivered on a 2xx answer; for Elasticsearch also only when "errors" is false or
 * every item has status 200, 201 or 409 (409: the _id, the record's hash, is stored already, by
 * an earlier attempt of the same batch). Anything else (connect or TLS failure, no complete
 * answer within timeout_ms of the send, another status, an answer body over RESP_MAX) fails the
 * batch and closes the connection. A reused keep-alive connection that the collector closed
 * before answering is retried once on a fresh one (the collector may have timed it out just as
 * the request left).
 */
#include "audit/sink.h"
#include "audit/sink_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <jansson.h>
#include <llhttp.h>

#include "gateway/log.h"

#define RESP_MAX (1024 * 1024)
#define DEFAULT_TIMEOUT_MS 10000

struct http_sink {
    struct event_base *base;
    char *label;             /* "splunk_hec host:port", for messages */
    struct gw_sink_cfg bcfg; /* type and index: what gw_http_batch_body reads */
    char *head;              /* request line and fixed headers, each ending in CRLF */
    int gzip;
    struct gw_sink_addr addr;
    uint32_t timeout_ms;
    char hostname[256];
    SSL_CTX *ssl; /* https only */
    char *tls_name;
    int verify;
    struct bufferevent *bev; /* NULL when there is no connection */
    int connected;
    int reused;             /* the connection carried an earlier exchange */
    int retried;            /* this batch was resent once already */
    struct event *timer;    /* deadline of the exchange in flight */
    struct evbuffer *req;   /* the request in flight, kept for the one resend */
    struct evbuffer *plain; /* body before gzip */
    llhttp_t parser;
    struct evbuffer *resp; /* the answer's body */
    int got_bytes;         /* some answer byte arrived */
    int complete;          /* the answer ended */
    int keep_alive;        /* and allows another request on the connection */
    int extra;             /* bytes followed the answer */
    int too_big;
    gw_sink_done_fn done; /* the batch in flight (NULL: none) and its argument */
    void *arg;
};

static void on_http_read(struct bufferevent *bev, void *arg);
static void on_http_event(struct bufferevent *bev, short events, void *arg);
static void on_http_timer(evutil_socket_t fd, short what, void *arg);
static int on_resp_begin(llhttp_t *llh);
static int on_resp_body(llhttp_t *llh, const char *at, size_t n);
static int on_resp_complete(llhttp_t *llh);

static const llhttp_settings_t resp_settings = {
    .on_message_begin = on_resp_begin,
    .on_body = on_resp_body,
    .on_message_complete = on_resp_complete,
};

static void
hs_drop(struct http_sink *h)
{
    gw_sink_bev_free(h->bev);
    h->bev = NULL;
    h->connected = 0;
    h->reused = 0;
}

/* Ends the batch in flight. Last thing a caller does: done may close the sink. */
static void
hs_finish(struct http_sink *h, int ok, const char *why)
{
    gw_sink_done_fn done = h->done;
    void *arg = h->arg;
    h->done = NULL;
    h->arg = NULL;
    evtimer_del(h->timer);
    evbuffer_drain(h->req, evbuffer_get_length(h->req));
    evbuffer_drain(h->resp, evbuffer_get_length(h->resp));
    if (done)
        done(arg, ok, why);
}

/* Fails the batch in flight with "label: msg" and closes the connection. */
static void
hs_fail(struct http_sink *h, const char *msg)
{
    char why[768];
    snprintf(why, sizeof(why), "%s: %s", h->label, msg);
    hs_drop(h);
    hs_finish(h, 0, why);
}

static void
hs_free(struct http_sink *h)
{
    hs_drop(h);
    if (h->timer)
        event_free(h->timer);
    if (h->req)
        evbuffer_free(h->req);
    if (h->plain)
        evbuffer_free(h->plain);
    if (h->resp)
        evbuffer_free(h->resp);
    if (h->ssl)
        SSL_CTX_free(h->ssl);
    free(h->label);
    free(h->head);
    free(h->bcfg.index);
    free(h->tls_name);
    free(h);
}

/* ---- open ---- */

static int
name_is(const char *name, const char *what)
{
    return strcasecmp(name, what) == 0;
}

/* Whether cfg->headers sets header name (then the sink does not add its own). */
static int
extra_has(const struct gw_sink_cfg *cfg, const char *name)
{
    for (size_t i = 0; i < cfg->nheaders; i++)
        if (name_is(cfg->headers[i].name, name))
            return 1;
    return 0;
}

/* Checks the extra headers: none may change the framing or carry a line break. 0 or -1. */
static int
check_extra(const struct gw_sink_cfg *cfg, char *err, size_t errlen)
{
    static const char *const own[] = {"host", "content-length", "content-encoding",
                                      "transfer-encoding", "connection"};
    for (size_t i = 0; i < cfg->nheaders; i++) {
        const struct gw_header_cfg *hd = &cfg->headers[i];
        for (size_t j = 0; j < sizeof(own) / sizeof(own[0]); j++)
            if (name_is(hd->name, own[j])) {
                snprintf(err, errlen, "header %s is set by the sink", hd->name);
                return -1;
            }
        if (strpbrk(hd->name, "\r\n: ") || strpbrk(hd->value, "\r\n")) {
            snprintf(err, errlen, "header %s: bad name or value", hd->name);
            return -1;
        }
    }
    return 0;
}

/* Authorization scheme by collector type. */
static const char *
auth_scheme(enum gw_sink_type type)
{
    switch (type) {
    case GW_SINK_SPLUNK_HEC:
        return "Splunk";
    case GW_SINK_ELASTICSEARCH:
        return "ApiKey";
    default:
        return "Bearer";
    }
}

/* The request line and the headers every request carries, into h->head. 0 or -1 (OOM). */
static int
build_head(struct http_sink *h, const struct gw_sink_cfg *cfg)
{
    struct evbuffer *b = evbuffer_new();
    if (!b)
        return -1;
    evbuffer_add_printf(b, "POST %s HTTP/1.1\r\nHost: %s\r\n",
                        cfg->path_query && *cfg->path_query ? cfg->path_query : "/",
                        cfg->host_header ? cfg->host_header : cfg->host);
    if (!extra_has(cfg, "user-agent"))
        evbuffer_add_printf(b, "User-Agent: portcullis-audit\r\n");
    if (!extra_has(cfg, "content-type"))
        evbuffer_add_printf(b, "Content-Type: %s\r\n",
                            cfg->type == GW_SINK_SPLUNK_HEC ? "application/json"
                                                            : "application/x-ndjson");
    if (cfg->token && !extra_has(cfg, "authorization"))
        evbuffer_add_printf(b, "Authorization: %s %s\r\n", auth_scheme(cfg->type), cfg->token);
    for (size_t i = 0; i < cfg->nheaders; i++)
        evbuffer_add_printf(b, "%s: %s\r\n", cfg->headers[i].name, cfg->headers[i].value);
    size_t n = evbuffer_get_length(b);
    h->head = malloc(n + 1);
    if (h->head) {
        evbuffer_remove(b, h->head, n);
        h->head[n] = '\0';
    }
    evbuffer_free(b);
    return h->head ? 0 : -1;
}

/* Copies what the sink needs from cfg (which may go away) and sets up TLS. 0 or -1. */
static int
hs_setup(struct http_sink *h, const struct gw_sink_cfg *cfg, char *err, size_t errlen)
{
    char e[512];
    h->label = gw_sink_label(cfg->type, cfg->host, cfg->port);
    h->bcfg.type = cfg->type;
    h->bcfg.index = cfg->index ? strdup(cfg->index) : NULL;
    if (!h->label || (cfg->index && !h->bcfg.index) || build_head(h, cfg) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (check_extra(cfg, e, sizeof(e)) < 0 ||
        gw_sink_resolve(cfg->host, cfg->port, SOCK_STREAM, &h->addr, e, sizeof(e)) < 0)
        goto fail;
    if (cfg->https) {
        h->verify = cfg->tls.verify;
        h->tls_name = strdup(cfg->tls.server_name ? cfg->tls.server_name : cfg->host);
        if (!h->tls_name) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!(h->ssl = gw_sink_tls_ctx(&cfg->tls, e, sizeof(e))))
            goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", h->label, e);
    return -1;
}

static void *
hs_open(const struct gw_sink_cfg *cfg, struct event_base *base, char *err, size_t errlen)
{
    struct http_sink *h = calloc(1, sizeof(*h));
    if (!h) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    h->base = base;
    h->gzip = cfg->gzip;
    h->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    if (gethostname(h->hostname, sizeof(h->hostname)) < 0)
        h->hostname[0] = '\0';
    h->hostname[sizeof(h->hostname) - 1] = '\0';
    h->req = evbuffer_new();
    h->plain = evbuffer_new();
    h->resp = evbuffer_new();
    h->timer = evtimer_new(base, on_http_timer, h);
    if (!h->req || !h->plain || !h->resp || !h->timer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (hs_setup(h, cfg, err, errlen) < 0)
        goto fail;
    return h;
fail:
    hs_free(h);
    return NULL;
}

/* ---- send ---- */

/* The whole request for a batch into h->req. 0 or -1 (OOM, gzip failure). */
static int
build_request(struct http_sink *h, const char *recs, size_t len)
{
    struct evbuffer *body = h->plain;
    evbuffer_drain(h->plain, evbuffer_get_length(h->plain));
    evbuffer_drain(h->req, evbuffer_get_length(h->req));
    if (gw_http_batch_body(h->plain, &h->bcfg, h->hostname, recs, len) < 0)
        return -1;
    if (evbuffer_add(h->req, h->head, strlen(h->head)) < 0)
        return -1;
    if (h->gzip) {
        struct evbuffer *gz = evbuffer_new();
        size_t pl = evbuffer_get_length(h->plain);
        const unsigned char *p = pl ? evbuffer_pullup(h->plain, -1) : (const unsigned char *)"";
        if (!gz || !p || gw_gzip(gz, p, pl) < 0) {
            if (gz)
                evbuffer_free(gz);
            return -1;
        }
        evbuffer_drain(h->plain, pl);
        evbuffer_add_buffer(h->plain, gz);
        evbuffer_free(gz);
        evbuffer_add_printf(h->req, "Content-Encoding: gzip\r\n");
    }
    if (evbuffer_add_printf(h->req, "Content-Length: %zu\r\n\r\n", evbuffer_get_length(body)) < 0)
        return -1;
    return evbuffer_add_buffer(h->req, body);
}

/* Copies src's bytes to the end of dst (src keeps them, for a resend). 0 or -1. */
static int
copy_buffer(struct evbuffer *dst, struct evbuffer *src)
{
    size_t n = evbuffer_get_length(src);
    const unsigned char *p = n ? evbuffer_pullup(src, -1) : NULL;
    if (n && !p)
        return -1;
    return n ? evbuffer_add(dst, p, n) : 0;
}

/* Connects when needed and queues h->req; a fresh response parser. 0, or -1 with why. */
static int
start_exchange(struct http_sink *h, char *why, size_t cap)
{
    if (!h->bev) {
        h->bev = gw_sink_connect(h->base, &h->addr, h->ssl, h->tls_name, h->verify);
        if (!h->bev) {
            snprintf(why, cap, "%s: cannot connect: %s", h->label, strerror(errno));
            return -1;
        }
        bufferevent_setcb(h->bev, on_http_read, NULL, on_http_event, h);
    }
    llhttp_init(&h->parser, HTTP_RESPONSE, &resp_settings);
    h->parser.data = h;
    evbuffer_drain(h->resp, evbuffer_get_length(h->resp));
    h->got_bytes = h->complete = h->keep_alive = h->extra = h->too_big = 0;
    if (copy_buffer(bufferevent_get_output(h->bev), h->req) < 0) {
        hs_drop(h);
        snprintf(why, cap, "%s: out of memory", h->label);
        return -1;
    }
    return 0;
}

static void
hs_send(void *st, const char *recs, size_t len, size_t n, gw_sink_done_fn done, void *arg)
{
    struct http_sink *h = st;
    char why[768];
    (void)n;
    GW_BUG_ON(h->done); /* the core waits for done before the next send */
    if (len == 0) {
        done(arg, 1, NULL);
        return;
    }
    if (build_request(h, recs, len) < 0) {
        snprintf(why, sizeof(why), "%s: cannot build the request (out of memory)", h->label);
        done(arg, 0, why);
        return;
    }
    h->retried = 0;
    if (start_exchange(h, why, sizeof(why)) < 0) {
        done(arg, 0, why);
        return;
    }
    h->done = done;
    h->arg = arg;
    struct timeval tv = {h->timeout_ms / 1000, (h->timeout_ms % 1000) * 1000};
    evtimer_add(h->timer, &tv);
}

/* ---- the answer ---- */

static int
on_resp_begin(llhttp_t *llh)
{
    struct http_sink *h = llh->data;
    if (h->complete)
        h->extra = 1; /* a second message: the collector broke the protocol */
    return 0;
}

static int
on_resp_body(llhttp_t *llh, const char *at, size_t n)
{
    struct http_sink *h = llh->data;
    if (h->complete)
        return 0;
    if (evbuffer_get_length(h->resp) + n > RESP_MAX) {
        h->too_big = 1;
        return -1;
    }
    return evbuffer_add(h->resp, at, n) < 0 ? -1 : 0;
}

static int
on_resp_complete(llhttp_t *llh)
{
    struct http_sink *h = llh->data;
    if (llhttp_get_status_code(llh) / 100 == 1) {
        evbuffer_drain(h->resp, evbuffer_get_length(h->resp)); /* interim: the answer follows */
        return 0;
    }
    h->complete = 1;
    h->keep_alive = llhttp_should_keep_alive(llh); /* llhttp clears its flags after this */
    return 0;
}

/* The first bytes of the answer's body, printable, for a failure message. */
static void
body_snippet(struct http_sink *h, char *buf, size_t cap)
{
    size_t n = evbuffer_get_length(h->resp), k = 0;
    if (n > 200)
        n = 200;
    const unsigned char *p = n ? evbuffer_pullup(h->resp, (ssize_t)n) : NULL;
    if (n && cap > 2) {
        buf[k++] = ':';
        buf[k++] = ' ';
    }
    for (size_t i = 0; p && i < n && k + 1 < cap; i++)
        buf[k++] = p[i] >= 32 && p[i] < 127 ? (char)p[i] : ' ';
    buf[k] = '\0';
}

/* An Elasticsearch _bulk answer: 0 when every record is stored, else -1 with why in msg. */
static int
es_items_ok(json_t *root, char *msg, size_t cap)
{
    json_t *errors = json_object_get(root, "errors");
    if (json_is_false(errors))
        return 0;
    json_t *items = json_object_get(root, "items");
    if (!json_is_true(errors) || !json_is_array(items)) {
        snprintf(msg, cap, "bad _bulk answer (no \"errors\" or \"items\")");
        return -1;
    }
    size_t i;
    json_t *item;
    json_array_foreach(items, i, item)
    {
        /* {"create":{"status":201,...}}: one member, named after the action. */
        json_t *res = json_is_object(item) ? json_object_iter_value(json_object_iter(item)) : NULL;
        json_t *st = json_object_get(res, "status");
        json_int_t s = json_is_integer(st) ? json_integer_value(st) : 0;
        if (s == 200 || s == 201 || s == 409)
            continue;
        json_t *err = json_object_get(res, "error");
        const char *type = json_string_value(json_object_get(err, "type"));
        const char *reason = json_string_value(json_object_get(err, "reason"));
        snprintf(msg, cap, "_bulk item %zu: status %lld%s%s%s%s", i, (long long)s, type ? " " : "",
                 type ? type : "", reason ? ": " : "", reason ? reason : "");
        return -1;
    }
    return 0;
}

/* Judges a complete answer. 0 when the batch is delivered, else -1 with why in msg. */
static int
judge(struct http_sink *h, char *msg, size_t cap)
{
    int status = llhttp_get_status_code(&h->parser);
    if (status / 100 != 2) {
        char snip[208];
        body_snippet(h, snip, sizeof(snip));
        snprintf(msg, cap, "HTTP %d%s", status, snip);
        return -1;
    }
    if (h->bcfg.type != GW_SINK_ELASTICSEARCH)
        return 0; /* HEC answers {"code":0} with 200; any 2xx means stored */
    size_t n = evbuffer_get_length(h->resp);
    const unsigned char *p = n ? evbuffer_pullup(h->resp, -1) : (const unsigned char *)"";
    json_error_t je;
    json_t *root = json_loadb((const char *)p, n, 0, &je);
    int r = -1;
    if (!json_is_object(root))
        snprintf(msg, cap, "HTTP %d with a body that is not a JSON object", status);
    else
        r = es_items_ok(root, msg, cap);
    json_decref(root);
    return r;
}

/* The answer is complete: keep the connection when it can carry the next batch (it is not
 * closed, nor to be), end the batch. */
static void
answered(struct http_sink *h, int closed)
{
    char msg[512];
    if (judge(h, msg, sizeof(msg)) < 0) {
        hs_fail(h, msg);
        return;
    }
    int again = !closed && h->keep_alive && !h->extra &&
                evbuffer_get_length(bufferevent_get_input(h->bev)) == 0;
    if (again)
        h->reused = 1;
    else
        hs_drop(h);
    hs_finish(h, 1, NULL);
}

/* Feeds the answer to the parser. 1 when it is complete, 0 for more, -1 when broken (msg). */
static int
feed(struct http_sink *h, struct evbuffer *in, char *msg, size_t cap)
{
    while (evbuffer_get_length(in) > 0) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1)
            break;
        llhttp_errno_t e = llhttp_execute(&h->parser, v.iov_base, v.iov_len);
        evbuffer_drain(in, v.iov_len);
        if (e != HPE_OK) {
            if (h->too_big)
                snprintf(msg, cap, "answer body over %d bytes", RESP_MAX);
            else
                snprintf(msg, cap, "bad HTTP answer: %s", llhttp_errno_name(e));
            return -1;
        }
    }
    return h->complete;
}

static void
on_http_read(struct bufferevent *bev, void *arg)
{
    struct http_sink *h = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    char msg[512];
    if (!h->done) {
        hs_drop(h); /* bytes on an idle connection: the collector broke the protocol */
        return;
    }
    h->got_bytes = 1;
    int r = feed(h, in, msg, sizeof(msg));
    if (r < 0)
        hs_fail(h, msg);
    else if (r > 0)
        answered(h, 0);
}

/* Retries once on a fresh connection: a reused one closed before any answer byte. 0 or -1. */
static int
retry_fresh(struct http_sink *h)
{
    char why[768];
    if (!h->reused || h->got_bytes || h->retried)
        return -1;
    hs_drop(h);
    h->retried = 1;
    if (start_exchange(h, why, sizeof(why)) < 0) {
        hs_finish(h, 0, why);
        return 0; /* handled */
    }
    return 0;
}

/* EOF: the end of a close-delimited answer, or a cut one. */
static void
on_eof(struct http_sink *h)
{
    if (h->got_bytes && llhttp_finish(&h->parser) == HPE_OK && h->complete) {
        answered(h, 1);
        return;
    }
    if (retry_fresh(h) == 0)
        return;
    hs_fail(h,
            h->got_bytes ? "connection closed mid-answer" : "connection closed without an answer");
}

static void
on_http_event(struct bufferevent *bev, short events, void *arg)
{
    struct http_sink *h = arg;
    char buf[256];
    if (events & BEV_EVENT_CONNECTED) {
        h->connected = 1;
        return;
    }
    if (!h->done) {
        hs_drop(h); /* the collector closed an idle connection */
        return;
    }
    if (events & BEV_EVENT_EOF) {
        on_eof(h);
        return;
    }
    int err = EVUTIL_SOCKET_ERROR();
    const char *msg = gw_sink_bev_error(bev, err, h->connected, buf, sizeof(buf));
    if (retry_fresh(h) == 0)
        return;
    hs_fail(h, msg);
}

static void
on_http_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct http_sink *h = arg;
    char msg[128];
    snprintf(msg, sizeof(msg), "no %s within %u ms", h->connected ? "answer" : "connection",
             (unsigned)h->timeout_ms);
    hs_fail(h, msg);
}

static void
hs_close(void *st)
{
    if (st)
        hs_free(st);
}

const struct gw_sink_ops gw_sink_http_ops = {
    .open = hs_open,
    .send = hs_send,
    .close = hs_close,
};
