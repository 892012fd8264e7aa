/*
 * What the audit sinks share: the operations by type, the record prefix reader, the framing for
 * syslog and the HTTP collectors, gzip, and the client side of the network sinks (resolution,
 * TLS context, connection set-up, error text; see audit/sink_net.h).
 */
#include "audit/sink.h"
#include "audit/sink_net.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/util.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#define ZLIB_CONST
#include <zlib.h>

#include "providers/provider.h"

#define TS_OPEN "{\"@timestamp\":\""
#define SEV_OPEN "\",\"event\":{\"severity\":"
#define HASH_KEY ",\"hash\":\""
#define HASH_HEX 64

const struct gw_sink_ops *
gw_sink_ops_for(enum gw_sink_type type)
{
    switch (type) {
    case GW_SINK_FILE:
        return &gw_sink_file_ops;
    case GW_SINK_SYSLOG:
        return &gw_sink_syslog_ops;
    case GW_SINK_SPLUNK_HEC:
    case GW_SINK_ELASTICSEARCH:
    case GW_SINK_WEBHOOK:
        return &gw_sink_http_ops;
    }
    return NULL;
}

const char *
gw_sink_type_name(enum gw_sink_type type)
{
    switch (type) {
    case GW_SINK_FILE:
        return "file";
    case GW_SINK_SYSLOG:
        return "syslog";
    case GW_SINK_SPLUNK_HEC:
        return "splunk_hec";
    case GW_SINK_ELASTICSEARCH:
        return "elasticsearch";
    case GW_SINK_WEBHOOK:
        return "webhook";
    }
    return "sink";
}

/* ---- records ---- */

/* n decimal digits at s into *out. 0, or -1 when one is not a digit. */
static int
digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (H. Hinnant's algorithm). */
static long long
days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    long long yoe = y - era * 400;
    long long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

/*
 * Parses "YYYY-MM-DDTHH:MM:SS[.F]Z" with 1 to 6 fraction digits (what RFC 5424 allows) into
 * seconds since the epoch and microseconds. 0, or -1 when s has another shape.
 */
static int
parse_utc(const char *s, size_t n, long long *sec, long *usec)
{
    int y, mo, d, h, mi, se;
    if (n < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[n - 1] != 'Z')
        return -1;
    if (digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
        digits(s + 11, 2, &h) || digits(s + 14, 2, &mi) || digits(s + 17, 2, &se))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60)
        return -1;
    long frac = 0;
    size_t nf = 0;
    if (n > 20) {
        nf = n - 21; /* between the '.' and the 'Z' */
        int f;
        if (s[19] != '.' || nf < 1 || nf > 6 || digits(s + 20, nf, &f))
            return -1;
        frac = f;
        for (size_t i = nf; i < 6; i++)
            frac *= 10;
    }
    *sec = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se;
    *usec = frac;
    return 0;
}

int
gw_audit_rec_meta(const char *rec, size_t len, char *ts, size_t tslen, int *severity)
{
    const size_t to = sizeof(TS_OPEN) - 1, so = sizeof(SEV_OPEN) - 1;
    if (ts && tslen)
        ts[0] = '\0';
    *severity = 0;
    if (len < to || memcmp(rec, TS_OPEN, to) != 0)
        return -1;
    const char *t = rec + to;
    const char *q = memchr(t, '"', len - to);
    if (!q)
        return -1;
    size_t tl = (size_t)(q - t);
    long long sec;
    long usec;
    if (parse_utc(t, tl, &sec, &usec) < 0)
        return -1;
    /* After the time: the severity, one digit, then the next member or the end of "event". */
    size_t rest = len - (size_t)(q - rec);
    if (rest < so + 2 || memcmp(q, SEV_OPEN, so) != 0)
        return -1;
    char dg = q[so], after = q[so + 1];
    if (dg < '0' || dg > '4' || (after != ',' && after != '}'))
        return -1;
    if (ts) {
        if (tl + 1 > tslen)
            return -1; /* a cut time is no time */
        memcpy(ts, t, tl);
        ts[tl] = '\0';
    }
    *severity = dg - '0';
    return 0;
}

int
gw_sink_next_record(const char **p, const char *end, const char **rec, size_t *len)
{
    while (*p < end) {
        const char *s = *p;
        const char *nl = memchr(s, '\n', (size_t)(end - s));
        const char *e = nl ? nl : end;
        *p = nl ? nl + 1 : end;
        if (e > s) {
            *rec = s;
            *len = (size_t)(e - s);
            return 0;
        }
    }
    return -1;
}

/* The record's "hash" member, always its last: `,"hash":"<64 hex>"}`. NULL when missing. */
static const char *
rec_hash(const char *rec, size_t len)
{
    const size_t kl = sizeof(HASH_KEY) - 1;
    if (len < kl + HASH_HEX + 2 || rec[len - 1] != '}' || rec[len - 2] != '"')
        return NULL;
    const char *h = rec + len - 2 - HASH_HEX;
    if (memcmp(h - kl, HASH_KEY, kl) != 0)
        return NULL;
    for (size_t i = 0; i < HASH_HEX; i++)
        if (!((h[i] >= '0' && h[i] <= '9') || (h[i] >= 'a' && h[i] <= 'f')))
            return NULL;
    return h;
}

/* ---- syslog ---- */

/*
 * An RFC 5424 header field into buf (cap > 1): printable US-ASCII only (others become '_'), at
 * most cap - 1 characters, NILVALUE "-" when empty.
 */
static void
header_field(char *buf, size_t cap, const char *s)
{
    size_t n = 0;
    for (; s && s[n] && n + 1 < cap; n++)
        buf[n] = s[n] > 32 && s[n] < 127 ? s[n] : '_';
    if (n == 0)
        buf[n++] = '-';
    buf[n] = '\0';
}

int
gw_syslog_frame(struct evbuffer *out, const struct gw_sink_cfg *cfg, const char *hostname,
                long procid, const char *rec, size_t len, int octet_counting)
{
    static const int syslog_sev[5] = {6, 5, 4, 3, 2}; /* info, low, medium, high, critical */
    char ts[40], host[256], app[49], head[512];
    int severity;
    if (gw_audit_rec_meta(rec, len, ts, sizeof(ts), &severity) < 0)
        strcpy(ts, "-"); /* no time of its own: NILVALUE; severity is info */
    header_field(host, sizeof(host), hostname);
    header_field(app, sizeof(app), cfg->app_name ? cfg->app_name : "portcullis");
    long long facility = (long long)cfg->facility; /* whatever its type, 0..23 */
    if (facility < 0 || facility > 23)
        facility = 16;
    int hl = snprintf(head, sizeof(head), "<%d>1 %s %s %s %ld audit - ",
                      (int)facility * 8 + syslog_sev[severity], ts, host, app, procid);
    if (hl < 0 || (size_t)hl >= sizeof(head))
        return -1;
    if (octet_counting && evbuffer_add_printf(out, "%zu ", (size_t)hl + len) < 0)
        return -1;
    if (evbuffer_add(out, head, (size_t)hl) < 0 || evbuffer_add(out, rec, len) < 0)
        return -1;
    return 0;
}

/* ---- HTTP collectors ---- */

/* s escaped as a JSON string's inside; caller frees. NULL on OOM. */
static char *
json_str(const char *s)
{
    size_t n = strlen(s), cap = n * 6 + 1;
    char *b = malloc(cap);
    if (b)
        gw_json_escape(s, n, b, cap);
    return b;
}

/* One Splunk HEC event: {"time":...,"host":...,...,"event":RECORD}\n. */
static int
hec_event(struct evbuffer *out, const char *host, const char *index, const char *rec, size_t len)
{
    char ts[40];
    int severity;
    long long sec;
    long usec;
    int r = 0;
    /* Without a readable time, HEC stamps the event with its arrival. */
    if (gw_audit_rec_meta(rec, len, ts, sizeof(ts), &severity) == 0 &&
        parse_utc(ts, strlen(ts), &sec, &usec) == 0)
        r = evbuffer_add_printf(out, "{\"time\":%lld.%06ld,", sec, usec);
    else
        r = evbuffer_add(out, "{", 1);
    if (r < 0)
        return -1;
    r = evbuffer_add_printf(out,
                            "\"host\":\"%s\",\"source\":\"portcullis\","
                            "\"sourcetype\":\"portcullis:audit\"%s%s%s,\"event\":",
                            host, index ? ",\"index\":\"" : "", index ? index : "",
                            index ? "\"" : "");
    if (r < 0 || evbuffer_add(out, rec, len) < 0 || evbuffer_add(out, "}\n", 2) < 0)
        return -1;
    return 0;
}

/* One Elasticsearch _bulk "create" action and its document. */
static int
es_action(struct evbuffer *out, const char *index, const char *rec, size_t len)
{
    const char *hash = rec_hash(rec, len);
    int r;
    /* Without a hash ES picks the _id: a retried batch may then store the record twice. */
    if (hash)
        r = evbuffer_add_printf(out, "{\"create\":{\"_index\":\"%s\",\"_id\":\"%.*s\"}}\n", index,
                                HASH_HEX, hash);
    else
        r = evbuffer_add_printf(out, "{\"create\":{\"_index\":\"%s\"}}\n", index);
    if (r < 0 || evbuffer_add(out, rec, len) < 0 || evbuffer_add(out, "\n", 1) < 0)
        return -1;
    return 0;
}

int
gw_http_batch_body(struct evbuffer *out, const struct gw_sink_cfg *cfg, const char *hostname,
                   const char *recs, size_t len)
{
    if (cfg->type == GW_SINK_WEBHOOK)
        return evbuffer_add(out, recs, len);
    const char *index = cfg->index;
    if (!index && cfg->type == GW_SINK_ELASTICSEARCH)
        index = "portcullis-audit";
    char *host = json_str(hostname ? hostname : "");
    char *idx = index ? json_str(index) : NULL;
    int r = -1;
    if (!host || (index && !idx))
        goto out;
    const char *p = recs, *end = recs + len, *rec;
    size_t rl;
    r = 0;
    while (r == 0 && gw_sink_next_record(&p, end, &rec, &rl) == 0)
        r = cfg->type == GW_SINK_SPLUNK_HEC ? hec_event(out, host, idx, rec, rl)
                                            : es_action(out, idx, rec, rl);
out:
    free(host);
    free(idx);
    return r;
}

int
gw_gzip(struct evbuffer *out, const void *in, size_t len)
{
    z_stream z;
    memset(&z, 0, sizeof(z));
    if (deflateInit2(&z, 1 /* fastest: JSON still shrinks ~8x, the audit thread stays free */,
                     Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    const unsigned char *p = in;
    size_t left = len;
    int rc, ret = -1;
    do {
        /* avail_in is 32 bits: feed big inputs in slices. */
        if (z.avail_in == 0 && left) {
            size_t slice = left < (1u << 30) ? left : (1u << 30);
            z.next_in = p;
            z.avail_in = (uInt)slice;
            p += slice;
            left -= slice;
        }
        struct evbuffer_iovec v;
        if (evbuffer_reserve_space(out, 16384, &v, 1) < 1)
            goto done;
        size_t room = v.iov_len < (1u << 30) ? v.iov_len : (1u << 30);
        z.next_out = v.iov_base;
        z.avail_out = (uInt)room;
        rc = deflate(&z, left ? Z_NO_FLUSH : Z_FINISH);
        if (rc == Z_STREAM_ERROR)
            goto done;
        v.iov_len = room - z.avail_out;
        if (v.iov_len && evbuffer_commit_space(out, &v, 1) < 0)
            goto done;
    } while (rc != Z_STREAM_END);
    ret = 0;
done:
    deflateEnd(&z);
    return ret;
}

/* ---- network sinks ---- */

static int
is_ip_literal(const char *host)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, host, buf) == 1 || inet_pton(AF_INET6, host, buf) == 1;
}

char *
gw_sink_label(enum gw_sink_type type, const char *host, uint16_t port)
{
    const char *h = host ? host : "";
    int v6 = strchr(h, ':') != NULL;
    size_t cap = strlen(h) + 40;
    char *s = malloc(cap);
    if (s)
        snprintf(s, cap, "%s %s%s%s:%u", gw_sink_type_name(type), v6 ? "[" : "", h, v6 ? "]" : "",
                 (unsigned)port);
    return s;
}

int
gw_sink_resolve(const char *host, uint16_t port, int socktype, struct gw_sink_addr *out, char *err,
                size_t errlen)
{
    struct addrinfo hints, *res = NULL;
    char serv[8];
    if (!host || !*host) {
        snprintf(err, errlen, "no collector host"); /* getaddrinfo would pick loopback */
        return -1;
    }
    snprintf(serv, sizeof(serv), "%u", (unsigned)port);
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
    int rc = getaddrinfo(host, serv, &hints, &res);
    if (rc == EAI_NONAME) {
        hints.ai_flags = AI_NUMERICSERV | AI_ADDRCONFIG;
        rc = getaddrinfo(host, serv, &hints, &res); /* blocks: open time only */
    }
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, rc ? gai_strerror(rc) : "no address");
        return -1;
    }
    memcpy(&out->ss, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

/* The first queued OpenSSL error as text ("unknown" when the queue is empty); clears it. */
static const char *
ssl_error_text(char *buf, size_t cap)
{
    unsigned long e = ERR_get_error();
    if (e)
        ERR_error_string_n(e, buf, cap);
    else
        snprintf(buf, cap, "unknown error");
    ERR_clear_error();
    return buf;
}

/* Loads the client certificate chain and key for mutual TLS. 0, or -1 with a message in err. */
static int
tls_client_cert(SSL_CTX *ctx, const struct gw_sink_tls_cfg *tls, char *err, size_t errlen)
{
    char e[256];
    if (SSL_CTX_use_certificate_chain_file(ctx, tls->cert) != 1) {
        snprintf(err, errlen, "cannot load client certificate %s: %s", tls->cert,
                 ssl_error_text(e, sizeof(e)));
        return -1;
    }
    const char *key = tls->key ? tls->key : tls->cert;
    if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1) {
        snprintf(err, errlen, "cannot load client key %s: %s", key, ssl_error_text(e, sizeof(e)));
        return -1;
    }
    return 0;
}

SSL_CTX *
gw_sink_tls_ctx(const struct gw_sink_tls_cfg *tls, char *err, size_t errlen)
{
    char e[256];
    SSL_CTX *ctx = SSL_CTX_new(TLS_client_method());
    if (!ctx) {
        snprintf(err, errlen, "cannot create a TLS context: %s", ssl_error_text(e, sizeof(e)));
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_verify(ctx, tls->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    if (tls->verify) {
        int ok = tls->ca ? SSL_CTX_load_verify_locations(ctx, tls->ca, NULL)
                         : SSL_CTX_set_default_verify_paths(ctx);
        if (ok != 1) {
            snprintf(err, errlen, "cannot load trust anchors %s: %s",
                     tls->ca ? tls->ca : "(system store)", ssl_error_text(e, sizeof(e)));
            SSL_CTX_free(ctx);
            return NULL;
        }
    }
    if (tls->cert && tls_client_cert(ctx, tls, err, errlen) < 0) {
        SSL_CTX_free(ctx);
        return NULL;
    }
    return ctx;
}

/* A TLS session for name: SNI for host names, and the name or address checked when verify. */
static SSL *
tls_session(SSL_CTX *ctx, const char *name, int verify)
{
    SSL *ssl = SSL_new(ctx);
    if (!ssl || !name || !*name)
        return ssl;
    if (is_ip_literal(name)) {
        if (verify && X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), name) != 1)
            goto fail;
        return ssl; /* no SNI for addresses (RFC 6066 3) */
    }
    if (SSL_set_tlsext_host_name(ssl, name) != 1)
        goto fail;
    if (verify) {
        SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set1_host(ssl, name) != 1)
            goto fail;
    }
    return ssl;
fail:
    SSL_free(ssl);
    return NULL;
}

struct bufferevent *
gw_sink_connect(struct event_base *base, const struct gw_sink_addr *addr, SSL_CTX *ctx,
                const char *name, int verify)
{
    struct bufferevent *bev;
    if (ctx) {
        SSL *ssl = tls_session(ctx, name, verify);
        if (!ssl)
            return NULL;
        bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE);
        if (!bev) {
            SSL_free(ssl);
            return NULL;
        }
        /* Collectors often close without close_notify: that is an EOF, not an error. */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
        if (!bev)
            return NULL;
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
    /* A refused connect is reported later, as an event, like any other failure. */
    if (bufferevent_socket_connect(bev, (const struct sockaddr *)&addr->ss, (int)addr->len) < 0) {
        gw_sink_bev_free(bev);
        return NULL;
    }
    return bev;
}

void
gw_sink_bev_free(struct bufferevent *bev)
{
    if (!bev)
        return;
    SSL *ssl = bufferevent_openssl_get_ssl(bev);
    if (ssl)
        SSL_set_shutdown(ssl, SSL_RECEIVED_SHUTDOWN); /* close without a close_notify wait */
    bufferevent_free(bev);
}

const char *
gw_sink_bev_error(struct bufferevent *bev, int err, int connected, char *buf, size_t cap)
{
    unsigned long ssl_err = bufferevent_get_openssl_error(bev);
    if (ssl_err) {
        SSL *ssl = bufferevent_openssl_get_ssl(bev);
        long vr = ssl ? SSL_get_verify_result(ssl) : X509_V_OK;
        if (vr != X509_V_OK) {
            snprintf(buf, cap, "TLS certificate verification failed: %s",
                     X509_verify_cert_error_string(vr));
        } else {
            char e[160];
            ERR_error_string_n(ssl_err, e, sizeof(e));
            snprintf(buf, cap, "TLS error: %s", e);
        }
        while (bufferevent_get_openssl_error(bev))
            ;
        return buf;
    }
    snprintf(buf, cap, "%s: %s", connected ? "connection failed" : "connect failed",
             err ? evutil_socket_error_to_string(err) : "connection closed by the peer");
    return buf;
}
