/*
 * Syslog sink: RFC 5424 messages (gw_syslog_frame) to a collector over UDP, TCP or TLS.
 *
 * UDP: one datagram per record on a connected non-blocking socket; done is called from inside
 * send. A frame longer than UDP_MAX bytes is cut to that size (the record's JSON is then cut
 * too: use TCP or TLS for big records). Delivery means "the kernel took the datagram"; a
 * refusal (ICMP port unreachable) is reported on a later send and fails that batch.
 *
 * TCP, TLS: octet-counted frames (RFC 6587 3.4.1) on one connection kept across batches and
 * made lazily by send. A batch is delivered when the last byte has left the output buffer for
 * the kernel (or OpenSSL); it fails on a connection error, on EOF, or when it takes longer than
 * timeout_ms (connect included). A failure drops the connection; the next send reconnects. The
 * collector never speaks: input is read only to notice a close, and discarded.
 */
#include "audit/sink.h"
#include "audit/sink_net.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "gateway/log.h"

#define UDP_MAX 65000
#define DEFAULT_TIMEOUT_MS 10000

struct syslog_sink {
    struct event_base *base;
    char *label;             /* "syslog host:port", for messages */
    struct gw_sink_cfg fcfg; /* facility and app_name: what gw_syslog_frame reads */
    enum gw_syslog_transport transport;
    struct gw_sink_addr addr;
    uint32_t timeout_ms;
    char hostname[256];
    long pid;
    SSL_CTX *ssl; /* TLS only */
    char *tls_name;
    int verify;
    int fd;                  /* UDP socket, -1 until the first send */
    struct evbuffer *frame;  /* UDP: the frame being sent */
    struct bufferevent *bev; /* TCP, TLS: the connection, NULL when there is none */
    int connected;
    struct event *timer;  /* deadline of the batch in flight */
    gw_sink_done_fn done; /* the batch in flight (NULL: none) and its argument */
    void *arg;
};

static void on_sl_write(struct bufferevent *bev, void *arg);
static void on_sl_read(struct bufferevent *bev, void *arg);
static void on_sl_event(struct bufferevent *bev, short events, void *arg);
static void on_sl_timer(evutil_socket_t fd, short what, void *arg);

static void
sl_drop(struct syslog_sink *s)
{
    gw_sink_bev_free(s->bev);
    s->bev = NULL;
    s->connected = 0;
}

/* Ends the batch in flight. Last thing a caller does: done may close the sink. */
static void
sl_finish(struct syslog_sink *s, int ok, const char *why)
{
    gw_sink_done_fn done = s->done;
    void *arg = s->arg;
    s->done = NULL;
    s->arg = NULL;
    evtimer_del(s->timer);
    if (done)
        done(arg, ok, why);
}

static void
sl_free(struct syslog_sink *s)
{
    sl_drop(s);
    if (s->fd >= 0)
        close(s->fd);
    if (s->timer)
        event_free(s->timer);
    if (s->frame)
        evbuffer_free(s->frame);
    if (s->ssl)
        SSL_CTX_free(s->ssl);
    free(s->label);
    free(s->fcfg.app_name);
    free(s->tls_name);
    free(s);
}

/* Copies what the sink needs from cfg (which may go away) and sets up TLS. 0 or -1. */
static int
sl_setup(struct syslog_sink *s, const struct gw_sink_cfg *cfg, char *err, size_t errlen)
{
    char e[512];
    s->fcfg.type = GW_SINK_SYSLOG;
    s->fcfg.facility = cfg->facility;
    s->fcfg.app_name = strdup(cfg->app_name ? cfg->app_name : "portcullis");
    s->label = gw_sink_label(GW_SINK_SYSLOG, cfg->host, cfg->port);
    if (!s->fcfg.app_name || !s->label) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int socktype = cfg->transport == GW_SYSLOG_UDP ? SOCK_DGRAM : SOCK_STREAM;
    if (gw_sink_resolve(cfg->host, cfg->port, socktype, &s->addr, e, sizeof(e)) < 0)
        goto fail;
    if (cfg->transport == GW_SYSLOG_TLS) {
        s->verify = cfg->tls.verify;
        s->tls_name = strdup(cfg->tls.server_name ? cfg->tls.server_name : cfg->host);
        if (!s->tls_name) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        if (!(s->ssl = gw_sink_tls_ctx(&cfg->tls, e, sizeof(e))))
            goto fail;
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: %s", s->label, e);
    return -1;
}

static void *
sl_open(const struct gw_sink_cfg *cfg, struct event_base *base, char *err, size_t errlen)
{
    struct syslog_sink *s = calloc(1, sizeof(*s));
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->base = base;
    s->fd = -1;
    s->transport = cfg->transport;
    s->timeout_ms = cfg->timeout_ms ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    s->pid = (long)getpid();
    if (gethostname(s->hostname, sizeof(s->hostname)) < 0)
        s->hostname[0] = '\0'; /* framed as "-" */
    s->hostname[sizeof(s->hostname) - 1] = '\0';
    s->frame = evbuffer_new();
    s->timer = evtimer_new(base, on_sl_timer, s);
    if (!s->frame || !s->timer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (sl_setup(s, cfg, err, errlen) < 0)
        goto fail;
    return s;
fail:
    sl_free(s);
    return NULL;
}

/* ---- UDP ---- */

static int
udp_socket(struct syslog_sink *s, char *why, size_t cap)
{
    int fd = socket(s->addr.ss.ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (const struct sockaddr *)&s->addr.ss, s->addr.len) < 0) {
        snprintf(why, cap, "%s: socket: %s", s->label, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    s->fd = fd;
    return 0;
}

/* Sends one record as one datagram. 0, or -1 with a message in why. */
static int
udp_record(struct syslog_sink *s, const char *rec, size_t len, char *why, size_t cap)
{
    evbuffer_drain(s->frame, evbuffer_get_length(s->frame));
    if (gw_syslog_frame(s->frame, &s->fcfg, s->hostname, s->pid, rec, len, 0) < 0) {
        snprintf(why, cap, "%s: out of memory", s->label);
        return -1;
    }
    size_t fl = evbuffer_get_length(s->frame);
    if (fl > UDP_MAX)
        fl = UDP_MAX; /* the most a datagram carries safely; the record is cut */
    const unsigned char *p = evbuffer_pullup(s->frame, (ssize_t)fl);
    ssize_t w;
    do
        w = send(s->fd, p, fl, 0);
    while (w < 0 && errno == EINTR);
    if (w < 0) {
        snprintf(why, cap, "%s: send: %s", s->label, strerror(errno));
        return -1;
    }
    return 0;
}

static void
udp_send(struct syslog_sink *s, const char *recs, size_t len, gw_sink_done_fn done, void *arg)
{
    char why[512];
    const char *p = recs, *end = recs + len, *rec;
    size_t rl;
    if (s->fd < 0 && udp_socket(s, why, sizeof(why)) < 0)
        goto fail;
    while (gw_sink_next_record(&p, end, &rec, &rl) == 0)
        if (udp_record(s, rec, rl, why, sizeof(why)) < 0)
            goto fail;
    done(arg, 1, NULL);
    return;
fail:
    done(arg, 0, why);
}

/* ---- TCP, TLS ---- */

static int
stream_connect(struct syslog_sink *s, char *why, size_t cap)
{
    s->bev = gw_sink_connect(s->base, &s->addr, s->ssl, s->tls_name, s->verify);
    if (!s->bev) {
        snprintf(why, cap, "%s: cannot connect: %s", s->label, strerror(errno));
        return -1;
    }
    /* The write callback fires once the output has drained completely. */
    bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
    bufferevent_setcb(s->bev, on_sl_read, on_sl_write, on_sl_event, s);
    return 0;
}

static void
stream_send(struct syslog_sink *s, const char *recs, size_t len, gw_sink_done_fn done, void *arg)
{
    char why[512];
    const char *p = recs, *end = recs + len, *rec;
    size_t rl;
    if (!s->bev && stream_connect(s, why, sizeof(why)) < 0) {
        done(arg, 0, why);
        return;
    }
    struct evbuffer *out = bufferevent_get_output(s->bev);
    while (gw_sink_next_record(&p, end, &rec, &rl) == 0) {
        if (gw_syslog_frame(out, &s->fcfg, s->hostname, s->pid, rec, rl, 1) < 0) {
            sl_drop(s); /* a partial frame may be queued */
            snprintf(why, sizeof(why), "%s: out of memory", s->label);
            done(arg, 0, why);
            return;
        }
    }
    s->done = done;
    s->arg = arg;
    struct timeval tv = {s->timeout_ms / 1000, (s->timeout_ms % 1000) * 1000};
    evtimer_add(s->timer, &tv);
}

static void
sl_send(void *st, const char *recs, size_t len, size_t n, gw_sink_done_fn done, void *arg)
{
    struct syslog_sink *s = st;
    (void)n;
    GW_BUG_ON(s->done); /* the core waits for done before the next send */
    if (s->transport == GW_SYSLOG_UDP)
        udp_send(s, recs, len, done, arg);
    else if (len == 0)
        done(arg, 1, NULL);
    else
        stream_send(s, recs, len, done, arg);
}

static void
on_sl_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    struct syslog_sink *s = arg;
    if (s->done)
        sl_finish(s, 1, NULL);
}

static void
on_sl_read(struct bufferevent *bev, void *arg)
{
    (void)arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_drain(in, evbuffer_get_length(in)); /* syslog collectors do not answer */
}

static void
on_sl_event(struct bufferevent *bev, short events, void *arg)
{
    struct syslog_sink *s = arg;
    char buf[256], why[512];
    if (events & BEV_EVENT_CONNECTED) {
        s->connected = 1;
        return;
    }
    int err = (events & BEV_EVENT_ERROR) ? EVUTIL_SOCKET_ERROR() : 0;
    snprintf(why, sizeof(why), "%s: %s", s->label,
             gw_sink_bev_error(bev, err, s->connected, buf, sizeof(buf)));
    sl_drop(s); /* an idle connection closing is dropped quietly; the next send reconnects */
    if (s->done)
        sl_finish(s, 0, why);
}

static void
on_sl_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct syslog_sink *s = arg;
    char why[512];
    snprintf(why, sizeof(why), "%s: %s timed out after %u ms", s->label,
             s->connected ? "send" : "connect", (unsigned)s->timeout_ms);
    sl_drop(s);
    sl_finish(s, 0, why);
}

static void
sl_close(void *st)
{
    if (st)
        sl_free(st);
}

const struct gw_sink_ops gw_sink_syslog_ops = {
    .open = sl_open,
    .send = sl_send,
    .close = sl_close,
};
