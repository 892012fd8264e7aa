/*
 * Upstream side of an exchange. A connection is taken from the worker's pool for the provider
 * (most recently used first, so idle ones age out) or opened with asynchronous DNS; TLS
 * verifies the certificate chain and the host name (SNI for names, IP SAN for literals).
 */
#include "gateway/upstream.h"
#include "gateway/hbuf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include "gateway/conn.h"
#include "gateway/io.h"
#include "gateway/log.h"
#include "gateway/tx.h"
#include "gateway/worker.h"

static void on_up_read(struct bufferevent *bev, void *arg);
static void on_up_event(struct bufferevent *bev, short events, void *arg);
static void on_up_sock(evutil_socket_t fd, short what, void *arg);
static void on_up_timer(evutil_socket_t fd, short what, void *arg);
static int on_resp_head(struct gw_h1_parser *p, void *arg);
static int on_resp_data(struct gw_h1_parser *p, void *arg, const char *data, size_t n);

/* The connection's one deadline ms from now (0: none): gateway/deadline.h. */
static void
set_timer(struct gw_upconn *uc, uint32_t ms)
{
    gw_deadline_set(&uc->deadline, ms);
}

/* Arms (ms > 0) or clears (ms == 0) the read deadline, on whichever side does the reading: on
 * a plain connection the deadline is the timer's (each read moves it, see on_up_sock), and rev
 * is added once, without a timeout of its own. */
static void
set_read_timeout(struct gw_upconn *uc, uint32_t ms)
{
    uc->read_timeout_ms = ms;
    if (uc->own_read) {
        if (!uc->rev_on) {
            event_add(&uc->rev, NULL);
            uc->rev_on = 1;
        }
        set_timer(uc, ms);
    } else {
        struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
        bufferevent_set_timeouts(uc->bev, ms ? &tv : NULL, NULL);
    }
}

static void
conn_free(struct gw_upconn *uc)
{
    struct gw_poolset *ps = uc->pool->ps;
    gw_deadline_stop(&uc->deadline);
    if (uc->own_read)
        event_del(&uc->rev);
    if (uc->bev) {
        SSL *ssl = bufferevent_openssl_get_ssl(uc->bev);
        if (ssl)
            SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN); /* close without a close_notify wait */
        bufferevent_free(uc->bev);
    }
    gw_h1_free(&uc->parser);
    free(uc);
    gw_poolset_release(ps);
}

static void
pool_remove(struct gw_upconn *uc)
{
    TAILQ_REMOVE(&uc->pool->idle, uc, link);
    uc->pool->nidle--;
}

void
gw_upool_clear(struct gw_upool *pool)
{
    struct gw_upconn *uc;
    while ((uc = TAILQ_FIRST(&pool->idle))) {
        pool_remove(uc);
        conn_free(uc);
    }
}

struct gw_poolset *
gw_poolset_new(struct gw_worker *w, struct gw_config *cfg)
{
    struct gw_poolset *ps = calloc(1, sizeof(*ps));
    if (!ps)
        return NULL;
    ps->npools = cfg->nproviders;
    ps->pools = calloc(ps->npools ? ps->npools : 1, sizeof(*ps->pools));
    if (!ps->pools) {
        free(ps);
        return NULL;
    }
    ps->cfg = gw_config_ref(cfg);
    for (size_t i = 0; i < ps->npools; i++) {
        ps->pools[i].w = w;
        ps->pools[i].ps = ps;
        ps->pools[i].idx = i;
        TAILQ_INIT(&ps->pools[i].idle);
    }
    return ps;
}

void
gw_poolset_hold(struct gw_poolset *ps)
{
    ps->users++;
}

static void
poolset_free(struct gw_poolset *ps)
{
    /* No idle connections are left: retiring closed them, and none join a retired set. */
    for (size_t i = 0; i < ps->npools; i++)
        if (ps->pools[i].ssl)
            SSL_CTX_free(ps->pools[i].ssl);
    gw_config_unref(ps->cfg);
    free(ps->pools);
    free(ps);
}

void
gw_poolset_release(struct gw_poolset *ps)
{
    if (--ps->users == 0 && ps->retired)
        poolset_free(ps);
}

void
gw_poolset_retire(struct gw_poolset *ps)
{
    ps->retired = 1;
    ps->users++; /* keep it alive while its idle connections close */
    for (size_t i = 0; i < ps->npools; i++)
        gw_upool_clear(&ps->pools[i]);
    gw_poolset_release(ps);
}

/* The client TLS context for a pool's provider, made on first use. */
static SSL_CTX *
pool_ssl(struct gw_upool *pool)
{
    if (pool->ssl)
        return pool->ssl;
    const struct gw_provider_cfg *prov = &pool->ps->cfg->providers[pool->idx];
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

static int
is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

static struct gw_upconn *
conn_new(struct gw_upool *pool, const struct gw_provider_cfg *prov)
{
    struct gw_worker *w = pool->w;
    struct gw_upconn *uc = calloc(1, sizeof(*uc));
    if (!uc)
        return NULL;
    uc->pool = pool;
    gw_poolset_hold(pool->ps);
    const struct gw_limits_cfg *l = &pool->ps->cfg->limits;
    struct gw_h1_limits lim = {l->max_header_bytes * 2, 500, SIZE_MAX};
    gw_h1_init_response(&uc->parser, &lim, on_resp_head, on_resp_data, uc);
    gw_deadline_init(&uc->deadline, w->base, on_up_timer, uc);

    if (prov->tls) {
        SSL_CTX *ctx = pool_ssl(pool);
        SSL *ssl = ctx ? SSL_new(ctx) : NULL;
        if (!ssl)
            goto fail;
        if (is_ip_literal(prov->host)) {
            X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), prov->host);
        } else {
            SSL_set_tlsext_host_name(ssl, prov->host);
            SSL_set1_host(ssl, prov->host);
        }
        uc->bev = bufferevent_openssl_socket_new(w->base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                                 BEV_OPT_CLOSE_ON_FREE);
        if (!uc->bev) {
            SSL_free(ssl);
            goto fail;
        }
        bufferevent_openssl_set_allow_dirty_shutdown(uc->bev, 1);
    } else {
        uc->bev = bufferevent_socket_new(w->base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!uc->bev)
            goto fail;
    }
    bufferevent_setcb(uc->bev, on_up_read, NULL, on_up_event, uc);
    bufferevent_enable(uc->bev, EV_READ | EV_WRITE);
    return uc;
fail:
    conn_free(uc);
    return NULL;
}

static int
auth_header(const char *name, size_t n)
{
    return (n == 13 && strncasecmp(name, "authorization", 13) == 0) ||
           (n == 9 && strncasecmp(name, "x-api-key", 9) == 0) ||
           (n == 7 && strncasecmp(name, "api-key", 7) == 0);
}

/* Request headers the gateway sets itself or must not pass on. */
static int
skip_request_header(const char *name, size_t n)
{
    static const char *const own[] = {"host", "content-length", "expect", "accept-encoding",
                                      "x-request-id"};
    for (size_t i = 0; i < sizeof(own) / sizeof(own[0]); i++)
        if (strlen(own[i]) == n && strncasecmp(own[i], name, n) == 0)
            return 1;
    return 0;
}

/* A path segment from a model name: unreserved characters as they are, the rest %-encoded. */
static void
add_path_segment(struct gw_hbuf *hb, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '~') {
            gw_hbuf_mem(hb, s, 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            gw_hbuf_mem(hb, e, 3);
        }
    }
}

static void
write_request(struct gw_upconn *uc, struct gw_tx *tx)
{
    const struct gw_provider_cfg *prov = tx->prov;
    const struct gw_h1_parser *p = tx->req;
    struct evbuffer *queued = bufferevent_get_output(uc->bev);
    /* On a connected plain connection with nothing queued, write straight to the socket: no
     * write event to register and clear for the common case. */
    int direct = uc->connected && !prov->tls && evbuffer_get_length(queued) == 0;
    struct evbuffer *o = direct ? tx->w->stage : queued;
    const char *path = tx->path;
    const char *method = llhttp_method_name((llhttp_method_t)p->method);
    struct gw_hbuf hb; /* the head, added to o at once */
    gw_hbuf_init(&hb, o);
    gw_hbuf_str(&hb, method);
    GW_HBUF_LIT(&hb, " ");
    gw_hbuf_str(&hb, prov->base_path);
    if (prov->azure_api_version) {
        /* Azure OpenAI: {base}/openai/deployments/{deployment}/{rest}?api-version=V, where rest
         * is the path after the route prefix ("chat/completions") and the deployment comes from
         * the model (gw_tx_dispatch made sure there is one). */
        const char *rest = path + tx->route->prefix_len;
        while (*rest == '/')
            rest++;
        size_t rlen = strcspn(rest, "?");
        const char *query = rest[rlen] == '?' ? rest + rlen + 1 : NULL;
        GW_HBUF_LIT(&hb, "/openai/deployments/");
        add_path_segment(&hb, gw_provider_deployment(prov, tx->model));
        GW_HBUF_LIT(&hb, "/");
        gw_hbuf_mem(&hb, rest, rlen);
        GW_HBUF_LIT(&hb, "?api-version=");
        gw_hbuf_str(&hb, prov->azure_api_version);
        if (query) {
            GW_HBUF_LIT(&hb, "&");
            gw_hbuf_str(&hb, query);
        }
    } else {
        if (tx->route->strip_prefix) {
            path += tx->route->prefix_len;
            if (*path != '/' && *path != '?')
                path--; /* keep the slash that ended the prefix */
        }
        gw_hbuf_str(&hb, *path ? path : "/");
    }
    GW_HBUF_LIT(&hb, " HTTP/1.1\r\nHost: ");
    gw_hbuf_str(&hb, prov->host_header);
    GW_HBUF_LIT(&hb, "\r\n");

    int ci = gw_h1_find(p, "connection");
    const char *conn_tokens = ci >= 0 ? gw_h1_hvalue(p, (uint32_t)ci) : NULL;
    /* With a provider key the client's credentials never travel upstream; without one (and
     * without a fallback) the client's own key passes through. */
    int replace_auth = prov->auth == GW_AUTH_NONE || prov->key || tx->key;
    for (uint32_t i = 0; i < p->nhdrs; i++) {
        const char *name = gw_h1_hname(p, i);
        size_t nl = p->hdrs[i].name_len;
        if (gw_h1_hop_by_hop(name, nl, conn_tokens) || skip_request_header(name, nl))
            continue;
        if (replace_auth && auth_header(name, nl))
            continue;
        gw_hbuf_field(&hb, name, nl, gw_h1_hvalue(p, i), p->hdrs[i].value_len);
    }
    if (prov->key) {
        switch (prov->auth) {
        case GW_AUTH_BEARER:
            GW_HBUF_LIT(&hb, "Authorization: Bearer ");
            break;
        case GW_AUTH_X_API_KEY:
            GW_HBUF_LIT(&hb, "x-api-key: ");
            break;
        case GW_AUTH_API_KEY:
            GW_HBUF_LIT(&hb, "api-key: ");
            break;
        case GW_AUTH_NONE:
            break;
        }
        if (prov->auth != GW_AUTH_NONE) {
            gw_hbuf_str(&hb, prov->key);
            GW_HBUF_LIT(&hb, "\r\n");
        }
    }
    GW_HBUF_LIT(&hb, "X-Request-Id: ");
    gw_hbuf_str(&hb, tx->id);
    GW_HBUF_LIT(&hb, "\r\nAccept-Encoding: identity\r\n");
    struct evbuffer *body = tx->body_out ? tx->body_out : p->body;
    size_t blen = body ? evbuffer_get_length(body) : 0;
    if (blen || p->content_length >= 0 || p->chunked) {
        GW_HBUF_LIT(&hb, "Content-Length: ");
        gw_hbuf_u64(&hb, blen);
        GW_HBUF_LIT(&hb, "\r\n");
    }
    GW_HBUF_LIT(&hb, "\r\n");
    gw_hbuf_flush(&hb);
    if (blen)
        evbuffer_add_buffer_reference(o, body); /* no copy; the body outlives the send */
    if (direct) {
        (void)evbuffer_write(o, bufferevent_getfd(uc->bev)); /* errors surface on the bev */
        if (evbuffer_get_length(o))
            evbuffer_add_buffer(queued, o);
    }
}

void
gw_upstream_send(struct gw_tx *tx)
{
    struct gw_worker *w = tx->w;
    struct gw_upool *pool = &tx->ps->pools[tx->prov_idx];
    struct gw_upconn *uc = NULL;

    /* A retry always takes a fresh connection. */
    if (tx->attempts == 0 && (uc = TAILQ_LAST(&pool->idle, gw_upconn_list))) {
        pool_remove(uc);
        set_timer(uc, 0); /* no pool expiry; the first-byte deadline follows */
        uc->reused = 1;
        gw_tx_connected(tx);
    } else {
        uc = conn_new(pool, tx->prov);
        if (!uc) {
            gw_tx_fail(tx, 502, "cannot create an upstream connection");
            return;
        }
        if (bufferevent_socket_connect_hostname(uc->bev, w->dns, AF_UNSPEC, tx->prov->host,
                                                tx->prov->port) < 0) {
            conn_free(uc);
            gw_tx_fail(tx, 502, "upstream connect failed");
            return;
        }
        set_timer(uc, tx->cfg->timeouts.upstream_connect);
    }
    tx->attempts++;
    tx->up = uc;
    uc->tx = tx;
    uc->got_data = 0;
    uc->resp_done = 0;
    write_request(uc, tx);
    if (uc->connected)
        set_read_timeout(uc, tx->cfg->timeouts.upstream_first_byte);
}

void
gw_upstream_abort(struct gw_tx *tx)
{
    struct gw_upconn *uc = tx->up;
    if (!uc)
        return;
    tx->up = NULL;
    uc->tx = NULL;
    conn_free(uc);
}

void
gw_upstream_pause(struct gw_tx *tx)
{
    struct gw_upconn *uc = tx->up;
    if (!uc)
        return;
    if (uc->own_read) {
        event_del(&uc->rev);
        uc->rev_on = 0;
        set_timer(uc, 0); /* no read deadline while we do not read */
    } else {
        bufferevent_disable(uc->bev, EV_READ);
    }
}

void
gw_upstream_resume(struct gw_tx *tx)
{
    struct gw_upconn *uc = tx->up;
    if (!uc)
        return;
    if (uc->own_read)
        set_read_timeout(uc, uc->read_timeout_ms);
    else
        bufferevent_enable(uc->bev, EV_READ);
}

static void
on_pool_expire(struct gw_upconn *uc)
{
    pool_remove(uc);
    conn_free(uc);
}

/* The response ended: pool the connection when it can serve another request. */
static void
release(struct gw_upconn *uc)
{
    struct gw_tx *tx = uc->tx;
    struct gw_upool *pool = uc->pool;
    struct gw_worker *w = pool->w;
    tx->up = NULL;
    uc->tx = NULL;
    const struct gw_config *cfg = pool->ps->cfg;
    int reusable = uc->parser.keep_alive && !w->draining && !pool->ps->retired &&
                   evbuffer_get_length(bufferevent_get_input(uc->bev)) == 0 &&
                   evbuffer_get_length(bufferevent_get_output(uc->bev)) == 0 &&
                   pool->nidle < cfg->upstream_pool_max_idle;
    if (!reusable) {
        conn_free(uc);
        return;
    }
    gw_h1_next(&uc->parser);
    set_read_timeout(uc, 0); /* keep reading, without deadline, to notice the server closing */
    TAILQ_INSERT_TAIL(&pool->idle, uc, link);
    pool->nidle++;
    set_timer(uc, cfg->timeouts.upstream_pool_idle);
}

/* Fails the exchange, or retries it once on a fresh connection when that is safe. */
static void
fail_or_retry(struct gw_upconn *uc, int status, const char *message, int retryable)
{
    struct gw_tx *tx = uc->tx;
    tx->up = NULL;
    uc->tx = NULL;
    conn_free(uc);
    if (retryable && !tx->resp_started && tx->attempts < 2) {
        gw_debug("request %s: retrying on a new connection (%s)", tx->id, message);
        gw_upstream_send(tx);
        return;
    }
    gw_tx_fail(tx, status, message);
}

static int
on_resp_head(struct gw_h1_parser *p, void *arg)
{
    struct gw_upconn *uc = arg;
    return gw_tx_resp_head(uc->tx, p);
}

static int
on_resp_data(struct gw_h1_parser *p, void *arg, const char *data, size_t n)
{
    (void)p;
    struct gw_upconn *uc = arg;
    return gw_tx_resp_data(uc->tx, data, n);
}

static void
up_input(struct gw_upconn *uc)
{
    struct evbuffer *in = bufferevent_get_input(uc->bev);
    if (!uc->tx) {
        /* Bytes on an idle pooled connection: the server broke the protocol; drop it. */
        on_pool_expire(uc);
        return;
    }
    if (!uc->got_data) {
        uc->got_data = 1;
        set_read_timeout(uc, uc->tx->cfg->timeouts.upstream_idle);
    }
    while (uc->tx) {
        struct evbuffer_iovec v;
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
            gw_conn_flush(uc->tx->conn); /* the exchange goes on: send what it produced */
            return;
        }
        size_t used = 0;
        enum gw_h1_status st = gw_h1_feed(&uc->parser, v.iov_base, v.iov_len, &used);
        evbuffer_drain(in, used);
        if (st == GW_H1_DONE) {
            struct gw_tx *tx = uc->tx;
            release(uc);
            gw_tx_resp_end(tx);
            return;
        }
        if (st == GW_H1_ERROR) {
            struct gw_tx *tx = uc->tx;
            if (tx->fail_pending) {
                /* A filter blocked inside a parser callback: end the exchange now that the
                 * parser is out of the way. */
                tx->up = NULL;
                uc->tx = NULL;
                conn_free(uc);
                gw_tx_fail_pending(tx);
                return;
            }
            fail_or_retry(uc, 502, uc->parser.err_msg, 0);
            return;
        }
    }
}

static void
on_up_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    up_input(arg);
}

static const char *
describe_error(struct gw_upconn *uc, int err, char *buf, size_t cap)
{
    int dns = bufferevent_socket_get_dns_error(uc->bev);
    if (dns)
        return snprintf(buf, cap, "upstream name resolution failed: %s", evutil_gai_strerror(dns)),
               buf;
    unsigned long ssl_err = bufferevent_get_openssl_error(uc->bev);
    if (ssl_err) {
        char e[160];
        ERR_error_string_n(ssl_err, e, sizeof(e));
        SSL *ssl = bufferevent_openssl_get_ssl(uc->bev);
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK)
            snprintf(buf, cap, "upstream TLS certificate verification failed: %s",
                     X509_verify_cert_error_string(vr));
        else
            snprintf(buf, cap, "upstream TLS error: %s", e);
        while (bufferevent_get_openssl_error(uc->bev))
            ;
        return buf;
    }
    snprintf(buf, cap, "upstream %s: %s", uc->connected ? "connection failed" : "connect failed",
             err ? evutil_socket_error_to_string(err) : "connection closed");
    return buf;
}

static void
up_timeout(struct gw_upconn *uc)
{
    fail_or_retry(uc, 504,
                  uc->got_data ? "upstream stopped sending (idle timeout)"
                               : "upstream did not answer in time",
                  0);
}

static void
up_eof(struct gw_upconn *uc)
{
    struct gw_tx *tx = uc->tx;
    /* End of a close-delimited response, or a cut one. */
    enum gw_h1_status st = gw_h1_finish(&uc->parser);
    if (st == GW_H1_DONE) {
        uc->parser.keep_alive = 0;
        release(uc);
        gw_tx_resp_end(tx);
        return;
    }
    fail_or_retry(uc, 502,
                  uc->got_data ? "upstream closed the connection mid-response"
                               : "upstream closed the connection without answering",
                  !uc->got_data && uc->reused);
}

static void
up_error(struct gw_upconn *uc, int err)
{
    char buf[256];
    int refused = !uc->connected && err == ECONNREFUSED;
    const char *msg = describe_error(uc, err, buf, sizeof(buf));
    fail_or_retry(uc, 502, msg, !uc->got_data && (refused || uc->reused));
}

/* Plain connections, once connected, are read here: one readv per event. */
static void
on_up_sock(evutil_socket_t fd, short what, void *arg)
{
    struct gw_upconn *uc = arg;
    (void)what; /* rev has no timeout: the read deadline is the timer's */
    int err = 0;
    ssize_t n = gw_sock_read(bufferevent_get_input(uc->bev), fd, &err);
    if (n < 0 && !err)
        return;
    if (!uc->tx) {
        on_pool_expire(uc); /* an idle pooled connection closed, failed or spoke */
        return;
    }
    if (n > 0 && uc->read_timeout_ms)
        set_timer(uc, uc->read_timeout_ms); /* the deadline is for the gap between reads */
    if (n == 0)
        up_eof(uc);
    else if (n < 0)
        up_error(uc, err);
    else
        up_input(uc);
}

static void
on_up_event(struct bufferevent *bev, short events, void *arg)
{
    struct gw_upconn *uc = arg;
    struct gw_tx *tx = uc->tx;
    if (events & BEV_EVENT_CONNECTED) {
        uc->connected = 1;
        set_timer(uc, 0); /* connected: no connect deadline */
        if (!bufferevent_openssl_get_ssl(bev)) {
            /* Plain TCP: take the reading over from the bufferevent. */
            bufferevent_disable(bev, EV_READ);
            event_assign(&uc->rev, uc->pool->w->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST,
                         on_up_sock, uc);
            uc->own_read = 1;
        }
        if (tx) {
            gw_tx_connected(tx);
            set_read_timeout(uc, tx->cfg->timeouts.upstream_first_byte);
        }
        return;
    }
    if (!tx) {
        on_pool_expire(uc); /* an idle pooled connection closed or failed */
        return;
    }
    if (events & BEV_EVENT_TIMEOUT)
        up_timeout(uc);
    else if (events & BEV_EVENT_EOF)
        up_eof(uc);
    else if (events & BEV_EVENT_ERROR)
        up_error(uc, EVUTIL_SOCKET_ERROR());
}

static void
on_up_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_upconn *uc = arg;
    if (!gw_deadline_expired(&uc->deadline))
        return;
    if (!uc->tx) {
        on_pool_expire(uc);
        return;
    }
    if (!uc->connected) {
        /* Connect (TCP + TLS handshake) deadline. */
        fail_or_retry(uc, 504, "upstream connect timed out", 0);
        return;
    }
    up_timeout(uc); /* a plain connection's read deadline: first byte, or the gap between reads */
}
