/* Server-side TLS contexts for listeners, built when a config snapshot is loaded. */
#ifndef GW_TLS_H
#define GW_TLS_H

#include <stddef.h>

#include "config/cfg.h"

/* Mozilla "intermediate" TLS 1.2 suites (forward secrecy, AEAD only). TLS 1.3 uses OpenSSL's. */
#define GW_TLS_DEFAULT_CIPHERS                                                                     \
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:"     \
    "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305"

/*
 * Builds an SSL_CTX (returned as void * so that config users need no OpenSSL headers) for t:
 * TLS 1.2 and 1.3 only, t->ciphers, ALPN "http/1.1", a server-side session cache and tickets,
 * the certificate chain and key (checked to match), and client certificate verification per
 * t->client_auth. NULL with a message in err on failure. Free with gw_tls_ctx_free.
 */
void *gw_tls_server_ctx(const struct gw_tls_cfg *t, char *err, size_t errlen);

void gw_tls_ctx_free(void *ctx);

#endif
