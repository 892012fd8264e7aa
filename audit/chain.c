/* The audit hash chain: sealing records, the record hash, and the chain state file. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>

#include "audit/chain.h"
#include "gateway/log.h"
#include "gateway/io.h"

#define LIT(s) (sizeof(s) - 1)
#define SEQ_KEY ",\"seq\":"
#define PREV_KEY ",\"prev_hash\":\""
#define HASH_KEY ",\"hash\":\""
#define SEQ_DIGITS_MAX 20 /* UINT64_MAX */
#define STATE_MAX 128     /* "SEQ HASH\n" is at most 86 bytes */

/*
 * OpenSSL contexts of one thread, created on its first hash and freed when the thread exits.
 * Fetching the algorithms and creating contexts per record would cost more than hashing a
 * typical record. (Re-initialising a context still allocates in OpenSSL 3.0: once per SHA-256,
 * twice per HMAC, inside the provider.)
 */
struct hasher {
    EVP_MD_CTX *md;     /* SHA-256 */
    EVP_MAC_CTX *mac;   /* HMAC with SHA-256 */
    unsigned char *key; /* a copy of the key mac holds (NULL: none yet) */
    size_t keylen;
};

static pthread_once_t algs_once = PTHREAD_ONCE_INIT;
static pthread_key_t hasher_key; /* only for its destructor: tls_hasher is what is read */
static int hasher_key_ok;
static EVP_MD *sha256_md;
static EVP_MAC *hmac_mac;
static _Thread_local struct hasher *tls_hasher;

static void
forget_key(struct hasher *h)
{
    if (h->key != NULL) {
        explicit_bzero(h->key, h->keylen);
        free(h->key);
    }
    h->key = NULL;
    h->keylen = 0;
}

/*
 * Starts an HMAC. Keying costs two extra SHA-256 blocks and, in OpenSSL 3.0, three more
 * allocations than re-starting with the key mac already holds, so the key is compared, not
 * trusted by address (a reloaded config may put another key at the same place).
 */
static int
mac_start(struct hasher *h, const unsigned char *key, size_t keylen)
{
    if (h->key != NULL && h->keylen == keylen && memcmp(h->key, key, keylen) == 0)
        return EVP_MAC_init(h->mac, NULL, 0, NULL) ? 0 : -1;
    forget_key(h);
    if (!EVP_MAC_init(h->mac, key, keylen, NULL) || (h->key = malloc(keylen)) == NULL)
        return -1;
    memcpy(h->key, key, keylen);
    h->keylen = keylen;
    return 0;
}

static void
hasher_free(void *arg)
{
    struct hasher *h = arg;

    EVP_MD_CTX_free(h->md);
    EVP_MAC_CTX_free(h->mac);
    forget_key(h);
    free(h);
}

static void
algs_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    hmac_mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
    hasher_key_ok = pthread_key_create(&hasher_key, hasher_free) == 0;
}

/* This thread's hasher with the context hmac asks for, or NULL when out of memory. */
static struct hasher *
hasher_get(int keyed)
{
    struct hasher *h = tls_hasher;

    if (h == NULL) {
        pthread_once(&algs_once, algs_init);
        if (sha256_md == NULL || hmac_mac == NULL || (h = calloc(1, sizeof(*h))) == NULL)
            return NULL;
        /* without the key the contexts outlive the thread: a leak, not an error */
        if (hasher_key_ok && pthread_setspecific(hasher_key, h) != 0) {
            free(h);
            return NULL;
        }
        tls_hasher = h;
    }
    if (!keyed && h->md == NULL && (h->md = EVP_MD_CTX_new()) == NULL)
        return NULL;
    if (keyed && h->mac == NULL) {
        /* The digest is set once here: setting it per record would fetch it every time. */
        OSSL_PARAM params[] = {
            OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
            OSSL_PARAM_construct_end(),
        };
        if ((h->mac = EVP_MAC_CTX_new(hmac_mac)) == NULL)
            return NULL;
        if (!EVP_MAC_CTX_set_params(h->mac, params)) {
            EVP_MAC_CTX_free(h->mac);
            h->mac = NULL;
            return NULL;
        }
    }
    return h;
}

static void
to_hex(const unsigned char *bin, size_t n, char *hex)
{
    static const char digits[] = "0123456789abcdef";

    for (size_t i = 0; i < n; i++) {
        hex[2 * i] = digits[bin[i] >> 4];
        hex[2 * i + 1] = digits[bin[i] & 15];
    }
}

/* The hash of data as 64 hex digits (no NUL) at hex. 0, or -1 when OpenSSL fails. */
static int
hash_hex(const unsigned char *key, size_t keylen, const char *data, size_t len, char *hex)
{
    int keyed = key != NULL && keylen > 0;
    struct hasher *h = hasher_get(keyed);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    size_t maclen = 0;

    if (h == NULL)
        return -1;
    if (keyed) {
        if (mac_start(h, key, keylen) < 0 ||
            !EVP_MAC_update(h->mac, (const unsigned char *)data, len) ||
            !EVP_MAC_final(h->mac, md, &maclen, sizeof(md)))
            return -1;
        mdlen = (unsigned int)maclen;
    } else {
        if (!EVP_DigestInit_ex2(h->md, sha256_md, NULL) || !EVP_DigestUpdate(h->md, data, len) ||
            !EVP_DigestFinal_ex(h->md, md, &mdlen))
            return -1;
    }
    if (mdlen != GW_CHAIN_HEX / 2)
        return -1;
    to_hex(md, mdlen, hex);
    return 0;
}

void
gw_chain_hash(const unsigned char *key, size_t keylen, const char *data, size_t len,
              char hex[GW_CHAIN_HEX + 1])
{
    if (hash_hex(key, keylen, data, len, hex) < 0)
        hex[0] = '\0';
    else
        hex[GW_CHAIN_HEX] = '\0';
}

void
gw_chain_init(struct gw_audit_chain *c, const unsigned char *key, size_t keylen)
{
    c->seq = 0;
    memset(c->prev, '0', GW_CHAIN_HEX);
    c->prev[GW_CHAIN_HEX] = '\0';
    c->key = keylen > 0 ? key : NULL;
    c->keylen = c->key != NULL ? keylen : 0;
}

/* Writes v in decimal at out (no NUL); returns the number of digits. */
static size_t
u64_dec(uint64_t v, char *out)
{
    char tmp[SEQ_DIGITS_MAX];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v != 0);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

int
gw_chain_seal(struct gw_audit_chain *c, const char *body, size_t len, struct evbuffer *out)
{
    char seq[SEQ_DIGITS_MAX], hash[GW_CHAIN_HEX];
    size_t seqlen, hashed, total;
    struct evbuffer_iovec v;
    char *p;

    GW_BUG_ON(len < 2 || body[0] != '{');
    GW_BUG_ON(c->seq == UINT64_MAX);
    seqlen = u64_dec(c->seq + 1, seq);
    hashed = len + LIT(SEQ_KEY) + seqlen + LIT(PREV_KEY) + GW_CHAIN_HEX + 1;
    total = hashed + LIT(HASH_KEY) + GW_CHAIN_HEX + LIT("\"}\n");
    /* One contiguous reservation: the line is written and hashed in place, and nothing is
     * added to out unless all of it is. */
    if (evbuffer_reserve_space(out, (ev_ssize_t)total, &v, 1) != 1 || v.iov_len < total)
        return -1;
    p = v.iov_base;
    memcpy(p, body, len);
    p += len;
    memcpy(p, SEQ_KEY, LIT(SEQ_KEY));
    p += LIT(SEQ_KEY);
    memcpy(p, seq, seqlen);
    p += seqlen;
    memcpy(p, PREV_KEY, LIT(PREV_KEY));
    p += LIT(PREV_KEY);
    memcpy(p, c->prev, GW_CHAIN_HEX);
    p += GW_CHAIN_HEX;
    *p++ = '"';
    memcpy(p, HASH_KEY, LIT(HASH_KEY));
    p += LIT(HASH_KEY);
    if (hash_hex(c->key, c->keylen, v.iov_base, hashed, hash) < 0)
        return -1; /* an uncommitted reservation adds nothing */
    memcpy(p, hash, GW_CHAIN_HEX);
    p += GW_CHAIN_HEX;
    memcpy(p, "\"}\n", LIT("\"}\n"));
    v.iov_len = total;
    if (evbuffer_commit_space(out, &v, 1) < 0)
        return -1;
    c->seq++;
    memcpy(c->prev, hash, GW_CHAIN_HEX);
    return 0;
}

int
gw_chain_is_hex(const char *s)
{
    for (size_t i = 0; i < GW_CHAIN_HEX; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* Parses "SEQ HASH\n" exactly (n bytes at s). 0, or -1. */
static int
parse_state(const char *s, size_t n, uint64_t *seq, char hash[GW_CHAIN_HEX + 1])
{
    uint64_t v = 0;
    size_t i = 0;

    while (i < n && s[i] >= '0' && s[i] <= '9') {
        unsigned d = (unsigned)(s[i] - '0');
        if (i == SEQ_DIGITS_MAX || v > (UINT64_MAX - d) / 10)
            return -1;
        v = v * 10 + d;
        i++;
    }
    /* no leading zeros: one spelling per state */
    if (i == 0 || (s[0] == '0' && i > 1))
        return -1;
    if (n - i != 1 + GW_CHAIN_HEX + 1 || s[i] != ' ' || !gw_chain_is_hex(s + i + 1) ||
        s[n - 1] != '\n')
        return -1;
    memcpy(hash, s + i + 1, GW_CHAIN_HEX);
    hash[GW_CHAIN_HEX] = '\0';
    /* seq 0 is the empty chain, whose "last hash" is the all-zero one */
    if (v == 0 && strspn(hash, "0") != GW_CHAIN_HEX)
        return -1;
    *seq = v;
    return 0;
}

int
gw_chain_load(struct gw_audit_chain *c, const char *path, char *err, size_t errlen)
{
    char buf[STATE_MAX + 1];
    size_t len = 0;
    uint64_t seq;
    char hash[GW_CHAIN_HEX + 1];
    ssize_t n;
    int fd = open(path, O_RDONLY | O_CLOEXEC);

    if (fd < 0) {
        if (errno == ENOENT)
            return 1;
        snprintf(err, errlen, "cannot open audit chain state '%s': %s", path, strerror(errno));
        return -1;
    }
    for (;;) {
        n = read(fd, buf + len, sizeof(buf) - len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0 || (len += (size_t)n) == sizeof(buf))
            break;
    }
    if (n < 0) {
        snprintf(err, errlen, "cannot read audit chain state '%s': %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    close(fd);
    if (len > STATE_MAX || parse_state(buf, len, &seq, hash) < 0) {
        snprintf(err, errlen,
                 "audit chain state '%s' is corrupt (want one line \"SEQ HASH\", "
                 "HASH 64 lowercase hex digits)",
                 path);
        return -1;
    }
    c->seq = seq;
    memcpy(c->prev, hash, sizeof(hash));
    return 0;
}

int
gw_chain_save(const struct gw_audit_chain *c, const char *path)
{
    char line[STATE_MAX];
    size_t plen = strlen(path);
    char *tmp = malloc(plen + LIT(".tmp") + 1);
    size_t n;
    int fd, saved;

    if (tmp == NULL)
        return -1;
    memcpy(tmp, path, plen);
    memcpy(tmp + plen, ".tmp", LIT(".tmp") + 1);
    n = u64_dec(c->seq, line);
    line[n++] = ' ';
    memcpy(line + n, c->prev, GW_CHAIN_HEX);
    n += GW_CHAIN_HEX;
    line[n++] = '\n';
    fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0)
        goto fail;
    /* synced before the rename: otherwise a crash may leave path renamed but empty */
    if (gw_write_all(fd, line, n) < 0 || fsync(fd) < 0) {
        saved = errno;
        close(fd);
        unlink(tmp);
        errno = saved;
        goto fail;
    }
    if (close(fd) < 0 || rename(tmp, path) < 0) {
        saved = errno;
        unlink(tmp);
        errno = saved;
        goto fail;
    }
    free(tmp);
    return 0;
fail:
    saved = errno;
    free(tmp);
    errno = saved;
    return -1;
}
