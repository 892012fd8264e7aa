/*
 * Client connections. One exchange at a time per connection: pipelined requests stay in the
 * input buffer, unparsed, until the current response is queued, so responses go out in order
 * and a pipelining client cannot make us buffer more than one request's worth of parsed state.
 */
#include "gateway/conn.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "audit/audit.h"
#include "gateway/io.h"
#include "gateway/log.h"
#include "gateway/metrics.h"
#include "gateway/tx.h"
#include "gateway/upstream.h"
#include "gateway/worker.h"
#include "providers/provider.h"

static void on_sock_read(evutil_socket_t fd, short what, void *arg);
static void on_write(struct bufferevent *bev, void *arg);
static void on_event(struct bufferevent *bev, short events, void *arg);
static void on_timer(evutil_socket_t fd, short what, void *arg);
static void process_input(struct gw_conn *c);

/* The connection's deadline ms from now; which one it is, the state says when it passes. */
static void
arm(struct gw_conn *c, uint32_t ms)
{
    gw_deadline_set(&c->deadline, ms);
}

static void
arm_idle(struct gw_conn *c)
{
    arm(c, c->w->cfg->timeouts.keepalive);
}

/* Reading from the client: our own read event on plain TCP, the bufferevent's on TLS. */
static void
read_stop(struct gw_conn *c)
{
    if (c->plain)
        event_del(&c->rev);
    else
        bufferevent_disable(c->bev, EV_READ);
}

static void
read_start(struct gw_conn *c)
{
    if (c->plain)
        event_add(&c->rev, NULL);
    else
        bufferevent_enable(c->bev, EV_READ);
}

static void
on_bev_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    on_sock_read(-1, 0, arg);
}

void
gw_conn_accept(struct gw_worker *w, size_t listen_idx, int fd, const struct sockaddr *sa, int salen)
{
    (void)salen;
    struct gw_conn *c = calloc(1, sizeof(*c));
    if (!c) {
        evutil_closesocket(fd);
        return;
    }
    c->w = w;
    SSL_CTX *tls = listen_idx < w->cfg->nlisten ? w->cfg->listen[listen_idx].ssl_ctx : NULL;
    if (tls) {
        SSL *ssl = SSL_new(tls);
        c->bev = ssl ? bufferevent_openssl_socket_new(w->base, fd, ssl, BUFFEREVENT_SSL_ACCEPTING,
                                                      BEV_OPT_CLOSE_ON_FREE)
                     : NULL;
        if (c->bev)
            bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
        else if (ssl)
            SSL_free(ssl);
    } else {
        c->bev = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    }
    c->wbuf = evbuffer_new();
    if (!c->bev || !c->wbuf) {
        if (c->bev)
            bufferevent_free(c->bev);
        else
            evutil_closesocket(fd);
        if (c->wbuf)
            evbuffer_free(c->wbuf);
        free(c);
        return;
    }
    c->plain = tls == NULL;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, c->client_ip,
                  sizeof(c->client_ip));
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, c->client_ip,
                  sizeof(c->client_ip));

    const struct gw_limits_cfg *l = &w->cfg->limits;
    struct gw_h1_limits lim = {l->max_header_bytes, l->max_headers, l->max_body_bytes};
    gw_h1_init(&c->parser, &lim);
    gw_deadline_init(&c->deadline, w->base, on_timer, c);
    if (c->plain) {
        /* The bufferevent writes; reads are ours (gw_sock_read): one readv per event instead of
         * libevent's ioctl(FIONREAD) + readv. */
        bufferevent_setcb(c->bev, NULL, on_write, on_event, c);
        bufferevent_enable(c->bev, EV_WRITE);
        event_assign(&c->rev, w->base, fd, EV_READ | EV_PERSIST, on_sock_read, c);
        event_add(&c->rev, NULL);
    } else {
        /* TLS: the OpenSSL bufferevent reads and writes; rev only re-runs the parser for
         * pipelined requests (activated by hand, never added). */
        bufferevent_setcb(c->bev, on_bev_read, on_write, on_event, c);
        bufferevent_enable(c->bev, EV_READ | EV_WRITE);
        event_assign(&c->rev, w->base, -1, 0, on_sock_read, c);
    }
    TAILQ_INSERT_TAIL(&w->conns, c, link);
    w->nconns++;
    gw_metrics_conn(w->metrics, 1);
    c->state = GW_C_IDLE;
    arm(c, w->cfg->timeouts.client_header);
}

void
gw_conn_close(struct gw_conn *c)
{
    struct gw_worker *w = c->w;
    if (c->tx) {
        struct gw_tx *tx = c->tx;
        c->tx = NULL;
        gw_tx_abort(tx);
    }
    gw_deadline_stop(&c->deadline);
    event_del(&c->rev);
    bufferevent_free(c->bev);
    evbuffer_free(c->wbuf);
    gw_h1_free(&c->parser);
    TAILQ_REMOVE(&w->conns, c, link);
    w->nconns--;
    gw_metrics_conn(w->metrics, -1);
    free(c);
    gw_worker_conn_gone(w);
}

void
gw_conn_flush(struct gw_conn *c)
{
    if (evbuffer_get_length(c->wbuf) == 0)
        return;
    struct evbuffer *o = bufferevent_get_output(c->bev);
    if (c->plain && evbuffer_get_length(o) == 0) {
        /* An error here (EPIPE, reset) is left for the bufferevent to report: what was not
         * written moves to its output, its write fails and on_event closes the connection. */
        (void)evbuffer_write(c->wbuf, bufferevent_getfd(c->bev));
        if (evbuffer_get_length(c->wbuf) == 0)
            return;
    }
    /* Over TLS every chain of the output is an SSL_write of its own: a record and a write(2)
     * each. What fits one record (16 KiB) goes as one: head and body in one chain. */
    if (!c->plain && evbuffer_get_length(c->wbuf) <= 16384 && evbuffer_get_length(o) == 0)
        (void)evbuffer_pullup(c->wbuf, -1);
    evbuffer_add_buffer(o, c->wbuf);
}

size_t
gw_conn_pending(const struct gw_conn *c)
{
    return evbuffer_get_length(c->wbuf) + evbuffer_get_length(bufferevent_get_output(c->bev));
}

void
gw_conn_close_after_flush(struct gw_conn *c)
{
    gw_conn_flush(c);
    c->state = GW_C_CLOSING;
    read_stop(c);
    if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0) {
        /* Everything went out already. Close from the loop, not from here: callers up the
         * stack (the parser loop, the transaction) still hold c. */
        gw_deadline_fire_now(&c->deadline);
        return;
    }
    /* A client that never reads does not keep the connection forever. */
    arm(c, c->w->cfg->timeouts.client_body);
}

void
gw_conn_drain(struct gw_conn *c)
{
    if (c->state == GW_C_IDLE)
        gw_conn_close(c);
    /* Otherwise the exchange in flight finishes and the connection then closes: see
     * gw_conn_tx_done, which checks w->draining. */
}

void
gw_conn_watch_drain(struct gw_conn *c)
{
    size_t high = c->w->cfg->limits.client_buffer_high;
    c->paused_upstream = 1;
    bufferevent_setwatermark(c->bev, EV_WRITE, high / 2, 0);
}

void
gw_conn_tx_done(struct gw_conn *c)
{
    struct gw_tx *tx = c->tx;
    int keep = tx ? tx->client_keep_alive : 0;
    gw_conn_flush(c);
    if (tx) {
        c->tx = NULL;
        gw_tx_free(tx);
    }
    if (c->paused_upstream) {
        c->paused_upstream = 0;
        bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
    }
    if (!keep || c->w->draining) {
        gw_conn_close_after_flush(c);
        return;
    }
    gw_h1_next(&c->parser);
    c->state = GW_C_IDLE;
    arm_idle(c);
    if (c->read_paused) {
        c->read_paused = 0;
        read_start(c);
    }
    /* Pipelined bytes may be waiting; parse them from the loop, not from inside this call
     * chain, so a burst of pipelined requests cannot grow the stack. */
    if (evbuffer_get_length(bufferevent_get_input(c->bev)))
        event_active(&c->rev, 0, 0);
}

/* A request that could not be parsed or was refused at its head: answer and close. */
static void
refuse(struct gw_conn *c, int status, const char *message)
{
    enum gw_api api = GW_API_OPENAI;
    const char *rid = NULL;
    if (c->tx) {
        api = c->tx->api;
        rid = c->tx->id;
    } else if (c->parser.url_len && c->parser.len > c->parser.url) {
        api = gw_api_for_path(gw_h1_url(&c->parser), c->parser.url_len);
    }
    gw_debug("client %s: %d %s", c->client_ip, status, message);
    if (c->tx) {
        c->tx->client_keep_alive = 0;
        gw_tx_fail(c->tx, status, message); /* logs and ends via gw_conn_tx_done */
        return;
    }
    char id[33];
    gw_worker_request_id(c->w, id);
    struct evbuffer *o = c->wbuf;
    size_t len0 = evbuffer_get_length(o);
    gw_conn_send_error(c, api, status, message, rid ? rid : id, 1);
    const struct gw_h1_parser *p = &c->parser;
    int have_url = p->url_len && p->len > p->url + p->url_len;
    struct gw_access_rec r = {
        .request_id = id,
        .client = c->client_ip,
        /* llhttp knows the method once the URL started. */
        .method = p->url_len ? llhttp_method_name((llhttp_method_t)p->llh.method) : NULL,
        .path = have_url ? gw_h1_url(p) : NULL,
        .status = status,
        .bytes_in = p->head_bytes + p->body_len,
        .bytes_out = evbuffer_get_length(o) - len0,
        .duration_ms = c->t_first_byte ? (double)(gw_now_us() - c->t_first_byte) / 1000.0 : -1,
        .connect_ms = -1,
        .ttfb_ms = -1,
        .error = message,
        .tokens_in = -1,
        .tokens_out = -1,
    };
    gw_access_log(c->w, &r);
    if (gw_audit_wants(GW_AUDIT_K_REQUEST, 0)) {
        /* malformed or refused at its head: the SIEM sees probes and smuggling attempts too */
        struct gw_audit_who who = {
            .request_id = id, .client_ip = c->client_ip, .method = r.method, .path = r.path};
        struct gw_audit_req ar = {.status = status,
                                  .duration_ms = r.duration_ms,
                                  .ttfb_ms = -1,
                                  .tokens_in = -1,
                                  .tokens_out = -1,
                                  .cost = -1,
                                  .bytes_in = r.bytes_in,
                                  .bytes_out = r.bytes_out,
                                  .error = message};
        gw_audit_request(&who, &ar);
    }
    gw_conn_close_after_flush(c);
}

static void
on_head_complete(struct gw_conn *c)
{
    struct gw_h1_parser *p = &c->parser;
    c->tx = gw_tx_new(c, c->t_first_byte);
    if (!c->tx) {
        refuse(c, 500, "out of memory");
        return;
    }
    if (p->expect_continue) {
        /* The body size was checked against the limit already (413 instead of 100). */
        evbuffer_add(c->wbuf, "HTTP/1.1 100 Continue\r\n\r\n", 25);
        gw_conn_flush(c);
    }
    c->state = GW_C_BODY;
    arm(c, c->w->cfg->timeouts.client_body);
}

static void
process_input(struct gw_conn *c)
{
    struct evbuffer *in = bufferevent_get_input(c->bev);
    while (c->state == GW_C_IDLE || c->state == GW_C_HEAD || c->state == GW_C_BODY) {
        struct evbuffer_iovec v = {NULL, 0};
        if (evbuffer_peek(in, -1, NULL, &v, 1) < 1 || v.iov_len == 0) {
            /* Right after the head, a zero-length feed completes a message without body. */
            if (!(c->state == GW_C_BODY && c->parser.body_len == 0 && !c->parser.msg_done &&
                  llhttp_get_errno(&c->parser.llh) == HPE_PAUSED))
                return;
            v.iov_len = 0;
        }
        size_t used = 0;
        enum gw_h1_status st = gw_h1_feed(&c->parser, v.iov_base, v.iov_len, &used);
        evbuffer_drain(in, used);
        if (c->state == GW_C_IDLE && gw_h1_started(&c->parser)) {
            c->state = GW_C_HEAD;
            c->t_first_byte = gw_now_us();
            arm(c, c->w->cfg->timeouts.client_header);
        }
        switch (st) {
        case GW_H1_MORE:
            if (c->state == GW_C_BODY)
                arm(c, c->w->cfg->timeouts.client_body);
            break;
        case GW_H1_HEADERS:
            on_head_complete(c);
            break;
        case GW_H1_DONE: {
            c->state = GW_C_UPSTREAM;
            uint32_t total = c->w->cfg->timeouts.request;
            uint64_t spent = (gw_now_us() - c->t_first_byte) / 1000;
            arm(c, spent >= total ? 1 : (uint32_t)(total - spent));
            c->tx->bytes_in = c->parser.head_bytes + c->parser.body_len;
            gw_tx_dispatch(c->tx);
            return;
        }
        case GW_H1_ERROR:
            refuse(c, c->parser.err_status, c->parser.err_msg);
            return;
        }
    }
}

static void
on_sock_read(evutil_socket_t fd, short what, void *arg)
{
    struct gw_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(c->bev);
    if (what & EV_READ) {
        int err = 0;
        ssize_t n = gw_sock_read(in, fd, &err);
        if (n == 0 || (n < 0 && err)) {
            /* The client went away (or half-closed): whatever is in flight is abandoned, and
             * the upstream request with it, so the provider stops generating tokens nobody
             * reads. */
            gw_conn_close(c);
            return;
        }
    }
    process_input(c);
    /* While an exchange runs, unparsed (pipelined) bytes wait; bound how many. */
    if (c->state == GW_C_UPSTREAM &&
        evbuffer_get_length(in) > c->w->cfg->limits.max_header_bytes + 65536) {
        c->read_paused = 1;
        read_stop(c);
    }
}

static void
on_write(struct bufferevent *bev, void *arg)
{
    struct gw_conn *c = arg;
    if (c->state == GW_C_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
            gw_conn_close(c);
        return;
    }
    if (c->paused_upstream && c->tx) {
        c->paused_upstream = 0;
        bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
        gw_upstream_resume(c->tx);
    }
}

static void
on_event(struct bufferevent *bev, short events, void *arg)
{
    struct gw_conn *c = arg;
    if (events & BEV_EVENT_CONNECTED) {
        c->tls_ok = 1; /* TLS handshake done */
        return;
    }
    if (!c->plain && !c->tls_ok && (events & BEV_EVENT_ERROR)) {
        unsigned long e = bufferevent_get_openssl_error(bev);
        char why[160] = "connection closed";
        if (e)
            ERR_error_string_n(e, why, sizeof(why));
        gw_debug("TLS handshake with %s failed: %s", c->client_ip, why);
        gw_worker_count(c->w, "portcullis_tls_handshake_failures_total", NULL, NULL);
    }
    /* Plain: a write failed. TLS: the bufferevent reads too, so also end of stream. Either
     * way the client is gone; whatever is in flight is abandoned, and the upstream request
     * with it, so the provider stops generating tokens nobody reads. */
    if (events & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
        gw_conn_close(c);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct gw_conn *c = arg;
    if (!gw_deadline_expired(&c->deadline))
        return;
    switch (c->state) {
    case GW_C_IDLE:
        gw_conn_close(c);
        break;
    case GW_C_HEAD:
        refuse(c, 408, "timed out reading the request headers");
        break;
    case GW_C_BODY:
        refuse(c, 408, "timed out reading the request body");
        break;
    case GW_C_UPSTREAM:
        if (c->tx) {
            c->tx->client_keep_alive = 0;
            gw_tx_fail(c->tx, 504, "request timed out");
        }
        break;
    case GW_C_CLOSING:
        gw_conn_close(c);
        break;
    }
}
