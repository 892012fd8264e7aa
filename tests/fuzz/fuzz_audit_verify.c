/*
 * Audit chain verifier fuzzer: the input is an audit file. It is verified with and without the
 * HMAC key the seeds were sealed with, as one file and split at a line boundary into two (one
 * chain across files must give the same verdict). Whenever it verifies, stripping each record's
 * seal and sealing the bodies again with gw_chain_seal must give back the input byte for byte,
 * so the sealer and the verifier agree on the format.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "audit/chain.h"
#include "audit/verify.h"

static const unsigned char KEY[] = "fuzz-audit-key"; /* the keyed seed uses it */
#define KEYLEN (sizeof(KEY) - 1)
#define LIT(s) (sizeof(s) - 1)
#define PREV_KEY ",\"prev_hash\":\""
#define SEAL_TAIL (LIT(PREV_KEY) + 64 + 1 + LIT(",\"hash\":\"") + 64 + 2)

static int
verify(const char *data, size_t len, const char *name, struct gw_verify_state *st)
{
    char msg[512];
    int rc;

    if (len == 0)
        return 0; /* fmemopen refuses empty buffers */
    FILE *f = fmemopen((void *)data, len, "r");
    if (f == NULL)
        abort();
    msg[0] = '\0';
    rc = gw_audit_verify_stream(f, name, st, msg, sizeof(msg));
    fclose(f);
    if (rc < 0)
        abort(); /* a memory stream cannot fail to read */
    if (rc == 1 && strncmp(msg, name, strlen(name)) != 0)
        abort();
    return rc;
}

static size_t
digits(uint64_t v)
{
    size_t n = 1;
    while (v >= 10) {
        v /= 10;
        n++;
    }
    return n;
}

/* Seals the bodies of a verified chain again and compares with the input. */
static void
reseal(const char *data, size_t len, const struct gw_verify_state *st, const unsigned char *key,
       size_t keylen)
{
    struct gw_audit_chain c;
    struct evbuffer *out = evbuffer_new();
    const char *p = data, *end = data + len;
    uint64_t seq = st->first_seq;

    if (out == NULL)
        abort();
    gw_chain_init(&c, key, keylen);
    c.seq = seq - 1;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t l = (size_t)(nl - p), bodylen = l - SEAL_TAIL - LIT(",\"seq\":") - digits(seq);
        if (seq == st->first_seq) /* the anchor's prev_hash comes from the file */
            memcpy(c.prev, nl - SEAL_TAIL + LIT(PREV_KEY), 64);
        if (gw_chain_seal(&c, p, bodylen, out) < 0)
            abort();
        p = nl + 1;
        seq++;
    }
    if (evbuffer_get_length(out) != len || memcmp(evbuffer_pullup(out, -1), data, len) != 0)
        abort();
    if (c.seq != st->seq || memcmp(c.prev, st->hash, 64) != 0)
        abort();
    evbuffer_free(out);
}

static void
check(const char *data, size_t len, size_t split, const unsigned char *key, size_t keylen)
{
    struct gw_verify_state one, two;

    gw_audit_verify_init(&one, key, keylen);
    int rc = verify(data, len, "one", &one);
    gw_audit_verify_init(&two, key, keylen);
    int rc2 = verify(data, split, "a", &two);
    if (rc2 == 0)
        rc2 = verify(data + split, len - split, "b", &two);
    if (rc != rc2 || one.records != two.records || one.seq != two.seq ||
        one.first_seq != two.first_seq || strcmp(one.hash, two.hash) != 0)
        abort();
    if (rc != 0)
        return;
    size_t lines = 0;
    for (size_t i = 0; i < len; i++)
        lines += data[i] == '\n';
    if (one.records != lines || (len > 0 && data[len - 1] != '\n'))
        abort();
    if (one.records > 0) {
        if (one.seq - one.first_seq + 1 != one.records)
            abort();
        reseal(data, len, &one, key, keylen);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* an exact-size copy, so that ASan sees any read past the end */
    char *buf = malloc(size ? size : 1);
    memcpy(buf, data, size);
    /* a line boundary to split at, chosen by a hash of the input so runs are repeatable */
    uint64_t h = 1469598103934665603ull;
    size_t nls = 0, split = 0;
    for (size_t i = 0; i < size; i++) {
        h = (h ^ data[i]) * 1099511628211ull;
        nls += data[i] == '\n';
    }
    if (nls > 0) {
        size_t want = (size_t)(h % nls), k = 0;
        for (size_t i = 0; i < size; i++)
            if (data[i] == '\n' && k++ == want) {
                split = i + 1;
                break;
            }
    }
    check(buf, size, split, NULL, 0);
    check(buf, size, split, KEY, KEYLEN);
    free(buf);
    return 0;
}
