#include "config/tls.h"

#include <stdio.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

/* Picks http/1.1 when the client offers it; otherwise goes on without ALPN (a client offering
 * only h2 then gets an HTTP/1.1 error answer rather than a handshake alert it cannot explain). */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
            unsigned int inlen, void *arg)
{
    (void)ssl;
    (void)arg;
    static const unsigned char h11[] = "\x08http/1.1";
    unsigned char *sel = NULL;
    if (SSL_select_next_proto(&sel, outlen, h11, sizeof(h11) - 1, in, inlen) !=
        OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_NOACK;
    *out = sel;
    return SSL_TLSEXT_ERR_OK;
}

static void *
ctx_error(SSL_CTX *ctx, char *err, size_t errlen, const char *what, const char *path)
{
    unsigned long e = ERR_peek_last_error();
    char why[256];
    if (e)
        ERR_error_string_n(e, why, sizeof(why));
    else
        snprintf(why, sizeof(why), "unknown error");
    ERR_clear_error();
    if (path)
        snprintf(err, errlen, "%s '%s': %s", what, path, why);
    else
        snprintf(err, errlen, "%s: %s", what, why);
    SSL_CTX_free(ctx);
    return NULL;
}

void *
gw_tls_server_ctx(const struct gw_tls_cfg *t, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(TLS_server_method());
    if (!ctx)
        return ctx_error(NULL, err, errlen, "cannot create a TLS context", NULL);
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION);
    SSL_CTX_set_options(ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION |
                                 SSL_OP_CIPHER_SERVER_PREFERENCE);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    if (SSL_CTX_set_cipher_list(ctx, t->ciphers) != 1)
        return ctx_error(ctx, err, errlen, "invalid ciphers", t->ciphers);
    if (SSL_CTX_use_certificate_chain_file(ctx, t->cert) != 1)
        return ctx_error(ctx, err, errlen, "cannot load certificate", t->cert);
    if (SSL_CTX_use_PrivateKey_file(ctx, t->key, SSL_FILETYPE_PEM) != 1)
        return ctx_error(ctx, err, errlen, "cannot load private key", t->key);
    if (SSL_CTX_check_private_key(ctx) != 1)
        return ctx_error(ctx, err, errlen, "private key does not match certificate", t->cert);
    SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
    static const unsigned char sid_ctx[] = "portcullis";
    SSL_CTX_set_session_id_context(ctx, sid_ctx, sizeof(sid_ctx) - 1);
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_SERVER);
    if (t->client_auth != GW_CLIENT_AUTH_NONE) {
        if (SSL_CTX_load_verify_locations(ctx, t->client_ca, NULL) != 1)
            return ctx_error(ctx, err, errlen, "cannot load client_ca", t->client_ca);
        STACK_OF(X509_NAME) *names = SSL_load_client_CA_file(t->client_ca);
        if (names)
            SSL_CTX_set_client_CA_list(ctx, names);
        int mode = SSL_VERIFY_PEER;
        if (t->client_auth == GW_CLIENT_AUTH_REQUIRE)
            mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
        SSL_CTX_set_verify(ctx, mode, NULL);
        SSL_CTX_set_verify_depth(ctx, 4);
    }
    ERR_clear_error();
    return ctx;
}

void
gw_tls_ctx_free(void *ctx)
{
    SSL_CTX_free(ctx);
}
