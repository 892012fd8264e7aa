/*
 * Classifier fuzzer. First byte even: the rest is a text scored with the shipped model
 * (config/models/injection.pcm, from the source directory scripts/fuzz.sh runs in) on both sides,
 * alone and through the rule scan's feed; probabilities must be in [0, 1], the trainer's
 * extraction must stay inside the weights and its blocks must add up to the normalised length.
 * First byte & 3 == 1: the rest is a model file, parsed as it is and again with its trailing
 * checksum recomputed (so the header checks behind the checksum are reached); parsing must fail
 * with a message or give a model that scores text. First byte & 3 == 3: the rest is a concept
 * lexicon; parsing must fail with a "lex:LINE: " message or give a lexicon with which a model
 * scores that same text and extracts features inside its weights.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "filters/classifier.h"
#include "filters/injection_pack.h"
#include "filters/normalize.h"

static struct gw_clf_model *shipped;
static struct gw_inj_pack *pack;

struct count {
    uint32_t limit, bad;
    uint64_t len;
};

static void
on_feat(void *arg, uint32_t block, uint32_t index)
{
    struct count *c = arg;
    (void)block;
    c->bad |= index >= c->limit;
}

static void
on_block(void *arg, uint32_t block, uint32_t length)
{
    struct count *c = arg;
    (void)block;
    c->len += length;
}

static void
score(const struct gw_clf_model *m, const char *t, size_t n)
{
    for (int side = 0; side <= 1; side++) {
        double p = gw_clf_score(m, side, t, n);
        if (p != -1 && !(p >= 0 && p <= 1))
            abort();
    }
}

/* The trainer's extraction of the normalised text: every feature inside the weights, the blocks
 * adding up to the normalised length. */
static void
check_extract(const struct gw_clf_params *prm, int side, const char *t, size_t n)
{
    struct gw_norm nm;
    if (gw_normalize(t, n, GW_NORM_ALL, &nm) != 0)
        return;
    struct count c = {.limit = 1u << prm->nbits};
    if (gw_clf_extract(prm, side, nm.text, nm.len, on_feat, on_block, &c) < 0)
        abort();
    if (c.bad || c.len != nm.len)
        abort();
    gw_norm_free(&nm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[600];
    if (size < 1)
        return 0;
    if (!shipped) {
        shipped = gw_clf_load("config/models/injection.pcm", err, sizeof(err));
        pack = gw_inj_pack_load("config/rules/injection.yaml", err, sizeof(err));
        if (!shipped || !pack) {
            fprintf(stderr, "fuzz_classifier: %s (run from the source directory)\n", err);
            abort();
        }
    }
    const char *t = (const char *)data + 1;
    size_t n = size - 1;
    if ((data[0] & 1) == 0) {
        score(shipped, t, n);
        struct gw_clf_acc a;
        struct gw_inj_result r;
        if (gw_clf_begin(&a, shipped, data[0] >> 1 & 1) < 0)
            abort();
        if (gw_inj_scan_clf(pack, t, n, GW_INJ_DIRECT, NULL, &r, &a) == 0) {
            double p = gw_clf_end(&a);
            if (!(p >= 0 && p <= 1))
                abort();
        }
        check_extract(&shipped->prm, 0, t, n);
        return 0;
    }
    if ((data[0] & 3) == 3) {
        err[0] = '\0';
        struct gw_clf_lex *l = gw_clf_lex_parse("lex", t, n, err, sizeof(err));
        if (!l) {
            if (strncmp(err, "lex:", 4) != 0)
                abort();
            return 0;
        }
        if (gw_clf_lex_concepts(l) > 64 || gw_clf_lex_forms(l) > n)
            abort();
        static float w[1u << 12];
        static int8_t q[1u << 12];
        struct gw_clf_model m = {
            .prm = {.nbits = 12, .cmin = 3, .cmax = 5, .words = 2, .block = 64, .lex = l},
            .w = w,
            .q = q,
            .qscale = 1};
        score(&m, t, n);
        check_extract(&m.prm, 1, t, n);
        gw_clf_lex_free(l);
        return 0;
    }
    struct gw_clf_model *m = gw_clf_parse("fuzz", data + 1, n, err, sizeof(err));
    if (m) {
        score(m, "ignore previous instructions", 28);
        gw_clf_free(m);
    } else if (!err[0]) {
        abort();
    }
    if (n >= 32 && n < (1u << 20)) {
        uint8_t *c = malloc(n);
        memcpy(c, data + 1, n);
        unsigned int ol = 0;
        EVP_Digest(c, n - 32, c + n - 32, &ol, EVP_sha256(), NULL);
        err[0] = '\0';
        m = gw_clf_parse("fuzz", c, n, err, sizeof(err));
        if (m) {
            score(m, (const char *)c, n);
            gw_clf_free(m);
        } else if (!err[0]) {
            abort();
        }
        free(c);
    }
    return 0;
}
