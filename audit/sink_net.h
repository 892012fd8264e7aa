/*
 * Private to the sinks (audit/sink*.c): what the network sinks share. Address resolution, the
 * client TLS context, connection set-up on a bufferevent and the text of connection errors live
 * in audit/sink.c.
 */
#ifndef GW_AUDIT_SINK_NET_H
#define GW_AUDIT_SINK_NET_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <openssl/ssl.h>

#include "config/cfg.h"

struct bufferevent;
struct event_base;

/* A collector's address, resolved once when the sink opens. */
struct gw_sink_addr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* The configuration word of a sink type ("syslog", "splunk_hec", ...). */
const char *gw_sink_type_name(enum gw_sink_type type);

/* "TYPE host:port" ("[v6]:port" for IPv6 literals), for messages. Caller frees; NULL on OOM. */
char *gw_sink_label(enum gw_sink_type type, const char *host, uint16_t port);

/*
 * Splits a batch: the next record at *p (before end), without its '\n', in *rec and *len, and
 * advances *p past it. Empty lines are skipped. 0, or -1 when no record is left.
 */
int gw_sink_next_record(const char **p, const char *end, const char **rec, size_t *len);

/*
 * Resolves host:port for socktype (SOCK_STREAM, SOCK_DGRAM): a numeric address directly, a name
 * with a blocking getaddrinfo (only ever called from open, on the audit thread). The first
 * answer wins. 0, or -1 with a message in err.
 */
int gw_sink_resolve(const char *host, uint16_t port, int socktype, struct gw_sink_addr *out,
                    char *err, size_t errlen);

/*
 * A client TLS context for a collector: TLS >= 1.2; with tls->verify the peer is verified against
 * tls->ca (else the system trust store); tls->cert and tls->key are presented when set. NULL with
 * a message in err. The caller owns the context (SSL_CTX_free).
 */
SSL_CTX *gw_sink_tls_ctx(const struct gw_sink_tls_cfg *tls, char *err, size_t errlen);

/*
 * Starts connecting to addr: plain TCP when ctx is NULL, else TLS with SNI name (when name is not
 * an IP literal) and, when verify, the certificate checked for name (host name or IP address).
 * The bufferevent has EV_READ and EV_WRITE enabled and no callbacks yet: set them before the
 * loop runs. Failures found later arrive as BEV_EVENT_ERROR. NULL on immediate failure.
 */
struct bufferevent *gw_sink_connect(struct event_base *base, const struct gw_sink_addr *addr,
                                    SSL_CTX *ctx, const char *name, int verify);

/* Frees a bufferevent from gw_sink_connect without waiting for a TLS close_notify. */
void gw_sink_bev_free(struct bufferevent *bev);

/*
 * Text for a connection that failed (BEV_EVENT_ERROR or EOF): TLS and certificate errors, else
 * the socket error err (0: closed by the peer). connected tells connect failures apart from
 * failures of an established connection. Returns buf.
 */
const char *gw_sink_bev_error(struct bufferevent *bev, int err, int connected, char *buf,
                              size_t cap);

#endif
