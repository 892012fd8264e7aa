/*
 * portcullis-train: trains the injection classifier (filters/classifier.h) from JSONL files and
 * writes a model file.
 *
 *   portcullis-train -o config/models/injection.pcm [options] FILE.jsonl ...
 *     --split S        use only records whose "split" is S (records without one are always used)
 *     --examples PACK  also use the `match:` examples of the rule pack's rules marked `train: true`
 *                      (without `train:`, those of weight >= 0.75; never `where: system` rules:
 *                      they describe a guarded system prompt)
 *                      as attacks (they are written for the pack, in all its languages)
 *     --rules PACK     report cross-validated detection of rules + w x classifier for a few w
 *     --lexicon FILE   concept features from this lexicon (training/injection/lexicon.txt); the
 *                      file's text goes into the model, which then reads texts with it
 *     --nbits N --cmin N --cmax N --words N --block N     features (default 18 3 5 2 512;
 *                      the shipped model uses --block 256)
 *     --epochs N --lr X --l2 X --folds N                  training (default 16 0.2 1e-6 5)
 *     --prior P        the share of attacks the probabilities are calibrated for (default 0.5:
 *                      as trained, attacks and benign texts weigh the same); 0.05 makes a text
 *                      that looks like neither score 0.05 instead of 0.5
 *
 * Records: {"text": ..., "label": ...}; attack labels injection, indirect_injection, jailbreak,
 * prompt_extraction; benign labels benign, benign_document; other labels are skipped. Optional
 * "attack_text": the attack inside a poisoned document (the windows it may be learnt from).
 * indirect_injection and benign_document records are read on the indirect side.
 *
 * PC_TRAIN_DUMP=FILE writes every record's out-of-fold score (tab-separated: input, label,
 * normalised length, blocks, window range, probability, rule score, index) for studying the data.
 *
 * The model is trained the way it is served: a text's probability is the logistic function of
 * its best window (classifier.h), so each step updates the window that currently scores highest
 * (for an attack: the part that looks most like one; for a benign text: the part closest to a
 * false positive). Records are weighted so that in every length bucket attacks and benign texts
 * weigh the same: the public attack data is much longer than the benign data, and without this
 * the model learns "long = attack". Cross-validation (folds by a hash of the text without its
 * attack_text, so a clean document and its poisoned copies share a fold) reports
 * detection at <= 1 % false positives per input file and label, and on long benign texts. The
 * whole run is deterministic: the same inputs and options give the same file.
 */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "config/parse.h"
#include "filters/classifier.h"
#include "filters/fnv.h"
#include "filters/hexdigit.h"
#include "filters/injection_pack.h"
#include "filters/normalize.h"
#include "gateway/io.h"

#define NBUCKETS 8

struct doc {
    uint32_t *f;      /* feature indexes of all blocks, block after block */
    uint32_t *bstart; /* nblocks + 1 offsets into f */
    uint32_t *blen;   /* block lengths */
    uint32_t nblocks;
    uint32_t klo, khi; /* windows an attack may be learnt from (the attack_text's, when known) */
    int y;
    int indirect; /* scored on the indirect side (documents, tool results) */
    unsigned src; /* input index */
    const char *label;
    uint32_t nlen; /* normalised length */
    uint32_t fold;
    double weight;
    double rule; /* rule score (with --rules) */
    double oofz; /* cross-validated margin */
    double oof;  /* ... and probability, after calibration */
};

static struct doc *docs;
static size_t ndocs, capdocs;
static const char *srcname[64];
static unsigned nsrc;
static struct gw_clf_params prm = {.nbits = 18, .cmin = 3, .cmax = 5, .words = 2, .block = 512};
static struct gw_inj_pack *rpack; /* --rules */

/* ---- reading ---- */

struct xbuf {
    uint32_t *f;
    size_t n, cap;
    uint32_t *bstart, *blen;
    size_t nb, capb;
};

static void *
xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q) {
        fprintf(stderr, "portcullis-train: out of memory\n");
        exit(1);
    }
    return q;
}

static void
on_feat(void *arg, uint32_t block, uint32_t index)
{
    struct xbuf *x = arg;
    (void)block;
    if (x->n == x->cap) {
        x->cap = x->cap ? 2 * x->cap : 1024;
        x->f = xrealloc(x->f, x->cap * sizeof(*x->f));
    }
    x->f[x->n++] = index;
}

static void
on_block(void *arg, uint32_t block, uint32_t length)
{
    struct xbuf *x = arg;
    (void)block;
    if (x->nb + 2 >= x->capb) {
        x->capb = x->capb ? 2 * x->capb : 16;
        x->bstart = xrealloc(x->bstart, x->capb * sizeof(uint32_t));
        x->blen = xrealloc(x->blen, x->capb * sizeof(uint32_t));
    }
    x->blen[x->nb] = length;
    x->bstart[++x->nb] = (uint32_t)x->n;
}

static int
attack_label(const char *l)
{
    static const char *const pos[] = {"injection", "indirect_injection", "jailbreak",
                                      "prompt_extraction", NULL};
    static const char *const neg[] = {"benign", "benign_document", NULL};
    for (size_t i = 0; pos[i]; i++)
        if (strcmp(l, pos[i]) == 0)
            return 1;
    for (size_t i = 0; neg[i]; i++)
        if (strcmp(l, neg[i]) == 0)
            return 0;
    return -1;
}

static const char *
intern(const char *s)
{
    static const char *tab[64];
    static size_t n;
    for (size_t i = 0; i < n; i++)
        if (strcmp(tab[i], s) == 0)
            return tab[i];
    if (n == 64)
        return "other";
    return tab[n++] = strdup(s);
}

/* Folds by a hash of the text without its attack_text and without white space: a poisoned
 * document lands in the fold of its clean version, so cross-validation never scores a clean
 * document with a model that saw the same context poisoned. */
static uint32_t
fold_of(const char *text, size_t len, const char *attack, unsigned folds)
{
    const char *cut = attack && *attack ? memmem(text, len, attack, strlen(attack)) : NULL;
    size_t cutlen = cut ? strlen(attack) : 0;
    uint64_t h = GW_FNV_OFFSET;
    for (size_t i = 0; i < len; i++) {
        if (cut && text + i == cut) {
            i += cutlen - 1;
            continue;
        }
        unsigned char c = (unsigned char)text[i];
        if (c == ' ' || c == '\n' || c == '\t' || c == '\r')
            continue;
        h = (h ^ c) * GW_FNV_PRIME;
    }
    return (uint32_t)(h % folds);
}

static void
add_doc(const char *text, size_t len, const char *label, const char *attack, unsigned src,
        unsigned folds)
{
    int y = attack_label(label);
    if (y < 0)
        return;
    struct gw_norm n;
    if (gw_normalize(text, len, GW_NORM_ALL, &n) < 0) {
        fprintf(stderr, "portcullis-train: cannot normalise a record\n");
        exit(1);
    }
    struct xbuf x = {0};
    x.capb = 16;
    x.bstart = xrealloc(NULL, x.capb * sizeof(uint32_t));
    x.blen = xrealloc(NULL, x.capb * sizeof(uint32_t));
    x.bstart[0] = 0;
    int indirect =
        strcmp(label, "indirect_injection") == 0 || strcmp(label, "benign_document") == 0;
    if (gw_clf_extract(&prm, indirect, n.text, n.len, on_feat, on_block, &x) < 0) {
        fprintf(stderr, "portcullis-train: out of memory\n");
        exit(1);
    }
    if (x.nb == 0) { /* empty text: one empty block */
        x.blen[0] = 0;
        x.bstart[1] = 0;
        x.nb = 1;
    }
    if (ndocs == capdocs) {
        capdocs = capdocs ? 2 * capdocs : 1024;
        docs = xrealloc(docs, capdocs * sizeof(*docs));
    }
    struct doc *d = &docs[ndocs++];
    memset(d, 0, sizeof(*d));
    d->f = x.f;
    d->bstart = x.bstart;
    d->blen = x.blen;
    d->nblocks = (uint32_t)x.nb;
    d->y = y;
    d->indirect = indirect;
    d->src = src;
    d->label = intern(label);
    d->nlen = (uint32_t)n.len;
    d->fold = fold_of(text, len, attack, folds);
    d->klo = 0;
    d->khi = d->nblocks == 1 ? 0 : d->nblocks - 2;
    struct gw_norm an;
    if (y && attack && gw_normalize(attack, strlen(attack), GW_NORM_ALL, &an) == 0) {
        /* the windows that hold the attack's first and last bytes */
        const char *at = an.len > 8 ? memmem(n.text, n.len, an.text + 2, an.len - 4) : NULL;
        if (at && d->nblocks > 1) {
            uint32_t b0 = (uint32_t)((size_t)(at - n.text) / prm.block);
            uint32_t b1 = (uint32_t)((size_t)(at - n.text + an.len - 4) / prm.block);
            d->klo = b1 > 0 ? b1 - 1 : 0;
            d->khi = b0 < d->khi ? b0 : d->khi;
            if (d->klo > d->khi) /* longer than a window: any window inside it */
                d->klo = b0, d->khi = b1 - 1 < d->khi ? b1 - 1 : d->khi;
        }
        gw_norm_free(&an);
    }
    gw_norm_free(&n);
    struct gw_inj_result r;
    if (rpack &&
        gw_inj_scan(rpack, text, len, d->indirect ? GW_INJ_INDIRECT : GW_INJ_DIRECT, NULL, &r) == 0)
        d->rule = r.score;
}

static void
sha_file(const char *path, char out[65])
{
    out[0] = '\0';
    FILE *f = fopen(path, "rb");
    if (!f)
        return;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    unsigned char b[65536], md[32];
    size_t r;
    while ((r = fread(b, 1, sizeof(b), f)) > 0)
        EVP_DigestUpdate(c, b, r);
    unsigned int ml = 0;
    EVP_DigestFinal_ex(c, md, &ml);
    EVP_MD_CTX_free(c);
    fclose(f);
    gw_hex_encode(md, 32, out);
}

static size_t
read_jsonl(const char *path, const char *split, unsigned src, unsigned folds)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "portcullis-train: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    char *line = NULL;
    size_t cap = 0, lineno = 0, used = 0;
    ssize_t n;
    while ((n = getline(&line, &cap, f)) > 0) {
        lineno++;
        if (n <= 1)
            continue;
        json_error_t je;
        json_t *o = json_loadb(line, (size_t)n, 0, &je);
        const char *text = json_string_value(json_object_get(o, "text"));
        const char *label = json_string_value(json_object_get(o, "label"));
        const char *sp = json_string_value(json_object_get(o, "split"));
        if (!o || !text || !label) {
            fprintf(stderr, "portcullis-train: %s:%zu: not a record {text, label}\n", path, lineno);
            exit(1);
        }
        if (!split || !sp || strcmp(sp, split) == 0) {
            size_t before = ndocs;
            add_doc(text, json_string_length(json_object_get(o, "text")), label,
                    json_string_value(json_object_get(o, "attack_text")), src, folds);
            used += ndocs - before;
        }
        json_decref(o);
    }
    free(line);
    fclose(f);
    return used;
}

/* A rule's weight (the larger one when the pack gives one per side); 0 when it has none. */
static double
rule_weight(const struct gw_cnode *r)
{
    const struct gw_cnode *w = gw_cnode_get(r, "weight");
    if (w && w->scalar)
        return atof(w->scalar);
    double max = 0;
    for (size_t i = 0; w && i < w->npairs; i++)
        if (w->pairs[i].value->scalar && atof(w->pairs[i].value->scalar) > max)
            max = atof(w->pairs[i].value->scalar);
    return max;
}

static size_t
read_examples(const char *path, unsigned src, unsigned folds)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "portcullis-train: %s: %s\n", path, strerror(errno));
        exit(1);
    }
    static char buf[8 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    struct gw_cnode *root = NULL;
    char err[512];
    if (gw_cnode_parse(path, buf, n, &root, err, sizeof(err)) < 0) {
        fprintf(stderr, "portcullis-train: %s\n", err);
        exit(1);
    }
    const struct gw_cnode *rules = gw_cnode_get(root, "rules");
    size_t used = 0;
    for (size_t i = 0; rules && i < rules->nitems; i++) {
        const struct gw_cnode *r = rules->items[i];
        const struct gw_cnode *m = gw_cnode_get(r, "match"), *wh = gw_cnode_get(r, "where"),
                              *t = gw_cnode_get(r, "train");
        /* system rules describe what an application guards: their examples are no attacks */
        if (!m || (wh && wh->scalar && strcmp(wh->scalar, "system") == 0))
            continue;
        if (t && t->scalar ? strcmp(t->scalar, "true") != 0 : rule_weight(r) < 0.75)
            continue;
        int ind = wh && wh->scalar && strcmp(wh->scalar, "indirect") == 0;
        for (size_t k = 0; k < m->nitems; k++) {
            const char *ex = m->items[k]->scalar;
            if (!ex)
                continue;
            add_doc(ex, strlen(ex), ind ? "indirect_injection" : "injection", NULL, src, folds);
            used++;
        }
    }
    gw_cnode_free(root);
    return used;
}

/* ---- weights ---- */

static unsigned
bucket(uint32_t nlen)
{
    unsigned b = 0;
    for (uint32_t lim = 32; b < NBUCKETS - 1 && nlen >= lim; lim *= 2)
        b++;
    return b;
}

/* In every length bucket attacks and benign texts weigh the same; a bucket that lacks either
 * is merged into the next shorter one. Each side (direct / indirect) is balanced on its own. */
static void
set_weights(void)
{
    for (int side = 0; side < 2; side++) {
        double pos[NBUCKETS] = {0}, neg[NBUCKETS] = {0};
        unsigned map[NBUCKETS];
        for (size_t i = 0; i < ndocs; i++)
            if (docs[i].indirect == side)
                (docs[i].y ? pos : neg)[bucket(docs[i].nlen)] += 1;
        for (int b = 0; b < NBUCKETS; b++)
            map[b] = (unsigned)b;
        for (int b = NBUCKETS - 1; b > 0; b--)
            if (pos[b] == 0 || neg[b] == 0) {
                pos[b - 1] += pos[b];
                neg[b - 1] += neg[b];
                pos[b] = neg[b] = 0;
                for (int k = b; k < NBUCKETS; k++)
                    if (map[k] == (unsigned)b)
                        map[k] = (unsigned)b - 1;
            }
        for (size_t i = 0; i < ndocs; i++) {
            struct doc *d = &docs[i];
            if (d->indirect != side)
                continue;
            unsigned b = map[bucket(d->nlen)];
            double tot = pos[b] + neg[b];
            d->weight =
                d->y ? (neg[b] ? tot / (2 * pos[b]) : 1) : (pos[b] ? tot / (2 * neg[b]) : 1);
        }
    }
}

/* ---- training ---- */

struct model {
    float *w, *g; /* weights, AdaGrad sums */
    double bias, gb;
};

static uint64_t rng = 88172645463325252ull;

static uint64_t
xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Margin of window k (blocks k and k + 1, or block 0 alone when the text has one block). */
static double
window_margin(const struct model *m, const struct doc *d, uint32_t k, double *scale, uint32_t *lenf)
{
    uint32_t last = d->nblocks == 1 ? k : k + 1;
    double s = 0;
    uint32_t n = 0, len = 0;
    for (uint32_t b = k; b <= last; b++) {
        for (uint32_t i = d->bstart[b]; i < d->bstart[b + 1]; i++)
            s += m->w[d->f[i]];
        n += d->bstart[b + 1] - d->bstart[b];
        len += d->blen[b];
    }
    *lenf = gw_clf_window_feature(&prm, len);
    s += m->w[*lenf];
    *scale = 1.0 / sqrt((double)n + 1);
    return m->bias + s * *scale;
}

static uint32_t
nwindows(const struct doc *d)
{
    return d->nblocks == 1 ? 1 : d->nblocks - 1;
}

static double
doc_margin(const struct model *m, const struct doc *d, uint32_t lo, uint32_t hi, uint32_t *best_k)
{
    double best = -INFINITY, sc;
    uint32_t lf;
    for (uint32_t k = lo; k <= hi && k < nwindows(d); k++) {
        double z = window_margin(m, d, k, &sc, &lf);
        if (z > best) {
            best = z;
            if (best_k)
                *best_k = k;
        }
    }
    return best;
}

static inline void
step(struct model *m, uint32_t i, double grad, double lr, double l2)
{
    double g = grad + l2 * m->w[i];
    m->g[i] += (float)(g * g);
    m->w[i] -= (float)(lr * g / (sqrt(m->g[i]) + 1e-8));
}

static void
train(struct model *m, int hold_out, unsigned epochs, double lr, double l2)
{
    size_t nw = (size_t)1 << prm.nbits;
    memset(m->w, 0, nw * sizeof(float));
    memset(m->g, 0, nw * sizeof(float));
    m->bias = m->gb = 0;
    size_t *order = xrealloc(NULL, ndocs * sizeof(size_t)), n = 0;
    for (size_t i = 0; i < ndocs; i++)
        if ((int)docs[i].fold != hold_out)
            order[n++] = i;
    rng = 88172645463325252ull;
    for (unsigned e = 0; e < epochs; e++) {
        for (size_t i = n; i > 1; i--) {
            size_t j = xorshift() % i, t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (size_t oi = 0; oi < n; oi++) {
            const struct doc *d = &docs[order[oi]];
            /* the first epoch learns from every window an attack may be in (there is no model
             * yet to pick the best one), later ones from the best window only */
            uint32_t lo = d->y ? d->klo : 0, hi = d->y ? d->khi : nwindows(d) - 1, k = lo;
            if (e > 0 || !d->y) {
                doc_margin(m, d, lo, hi, &k);
                lo = hi = k;
            }
            double share = 1.0 / (hi - lo + 1);
            for (k = lo; k <= hi; k++) {
                double sc;
                uint32_t lf;
                double z = window_margin(m, d, k, &sc, &lf);
                double p = 1 / (1 + exp(-z));
                double g = (p - d->y) * d->weight * share;
                uint32_t last = d->nblocks == 1 ? k : k + 1;
                for (uint32_t b = k; b <= last; b++)
                    for (uint32_t i = d->bstart[b]; i < d->bstart[b + 1]; i++)
                        step(m, d->f[i], g * sc, lr, l2);
                step(m, lf, g * sc, lr, l2);
                m->gb += g * g;
                m->bias -= lr * g / (sqrt(m->gb) + 1e-8);
            }
        }
    }
    free(order);
}

/* Platt scaling: a and b that make sigmoid(a z + b) of the out-of-fold margins z fit the labels
 * (weighted log loss, Newton's method). The class weights balance attacks and benign texts, so
 * 0.5 is the even-odds point; thresholds then read as probabilities. */
static void
calibrate(double *pa, double *pb, double shift)
{
    /* Platt's targets: not 0 and 1 but (N+ + 1) / (N+ + 2) and 1 / (N- + 2), so that separable
     * data does not drive the slope to infinity */
    double wpos = 0, wneg = 0;
    for (size_t i = 0; i < ndocs; i++)
        *(docs[i].y ? &wpos : &wneg) += docs[i].weight;
    const double tpos = (wpos + 1) / (wpos + 2), tneg = 1 / (wneg + 2);
    double a = 1, b = 0;
    for (int it = 0; it < 50; it++) {
        double ga = 0, gb = 0, haa = 0, hab = 0, hbb = 0;
        for (size_t i = 0; i < ndocs; i++) {
            const struct doc *d = &docs[i];
            double z = d->oofz, p = 1 / (1 + exp(-(a * z + b))), w = d->weight;
            double r = (p - (d->y ? tpos : tneg)) * w, q = p * (1 - p) * w;
            ga += r * z;
            gb += r;
            haa += q * z * z;
            hab += q * z;
            hbb += q;
        }
        haa += 1e-9;
        hbb += 1e-9;
        double det = haa * hbb - hab * hab;
        if (det <= 0)
            break;
        double da = (hbb * ga - hab * gb) / det, db = (haa * gb - hab * ga) / det;
        a -= da;
        b -= db;
        if (fabs(da) + fabs(db) < 1e-10)
            break;
    }
    /* balanced classes are even prior odds; other odds shift the intercept by their logit */
    b += shift;
    *pa = a;
    *pb = b;
    for (size_t i = 0; i < ndocs; i++)
        docs[i].oof = 1 / (1 + exp(-(a * docs[i].oofz + b)));
}

/* ---- reporting ---- */

static int
cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

static double
score_of(const struct doc *d, double wc, double wr)
{
    return wc * d->oof + wr * d->rule;
}

/* The lowest threshold with at most 1 % of the benign texts of side at or above it, for the
 * score wc x classifier + wr x rules. */
static double
threshold_1pct(int side, double wc, double wr)
{
    double *s = xrealloc(NULL, (ndocs + 1) * sizeof(double));
    size_t n = 0;
    for (size_t i = 0; i < ndocs; i++)
        if (!docs[i].y && docs[i].indirect == side)
            s[n++] = score_of(&docs[i], wc, wr);
    qsort(s, n, sizeof(double), cmp_desc);
    size_t allowed = n / 100; /* this many benign texts may be at or above the threshold */
    double t = n ? s[allowed] + 1e-9 : 0.5;
    free(s);
    return t;
}

static void
report(json_t *meta, int have_rules)
{
    json_t *cv = json_object();
    double t[2] = {threshold_1pct(0, 1, 0), threshold_1pct(1, 1, 0)};
    printf("cross-validated (%s), classifier alone, threshold at <= 1%% FP: direct %.3f, "
           "indirect %.3f\n",
           "out-of-fold", t[0], t[1]);
    {
        size_t n[2] = {0}, hit[2] = {0};
        for (size_t i = 0; i < ndocs; i++)
            if (docs[i].y) {
                n[docs[i].indirect]++;
                hit[docs[i].indirect] += docs[i].oof >= t[docs[i].indirect];
            }
        printf("classifier alone, attacks detected at <= 1%% FP: direct %.1f%%, indirect %.1f%%\n",
               n[0] ? 100.0 * (double)hit[0] / (double)n[0] : 0.0,
               n[1] ? 100.0 * (double)hit[1] / (double)n[1] : 0.0);
    }
    json_object_set_new(cv, "threshold_direct", json_real(t[0]));
    json_object_set_new(cv, "threshold_indirect", json_real(t[1]));
    json_t *per = json_object();
    for (unsigned s = 0; s < nsrc; s++) {
        const char *labels[16];
        size_t nl = 0;
        for (size_t i = 0; i < ndocs; i++) {
            if (docs[i].src != s)
                continue;
            size_t k = 0;
            while (k < nl && labels[k] != docs[i].label)
                k++;
            if (k == nl && nl < 16)
                labels[nl++] = docs[i].label;
        }
        for (size_t k = 0; k < nl; k++) {
            size_t n = 0, hit = 0, longn = 0, longhit = 0;
            for (size_t i = 0; i < ndocs; i++) {
                const struct doc *d = &docs[i];
                if (d->src != s || d->label != labels[k])
                    continue;
                int h = d->oof >= t[d->indirect];
                n++;
                hit += (size_t)h;
                if (d->nlen >= 2000) {
                    longn++;
                    longhit += (size_t)h;
                }
            }
            char key[300];
            snprintf(key, sizeof(key), "%s %s", srcname[s], labels[k]);
            printf("  %-60s %5zu  flagged %5.1f%%  (>= 2000 bytes: %zu, flagged %.1f%%)\n", key, n,
                   100.0 * (double)hit / (double)n, longn,
                   longn ? 100.0 * (double)longhit / (double)longn : 0.0);
            json_object_set_new(per, key, json_real(round(1000.0 * (double)hit / (double)n) / 10));
        }
    }
    json_object_set_new(cv, "flagged_percent", per);
    if (have_rules) {
        static const double ws[] = {0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0};
        printf("cross-validated, rules + w x classifier, detection at <= 1%% FP (direct / "
               "indirect):\n");
        for (int r = -1; r < (int)(sizeof(ws) / sizeof(ws[0])); r++) {
            double w = r < 0 ? 0 : ws[r];
            int ro = r < 0;
            double th[2] = {threshold_1pct(0, w, 1), threshold_1pct(1, w, 1)};
            size_t n[2] = {0}, hit[2] = {0};
            for (size_t i = 0; i < ndocs; i++)
                if (docs[i].y) {
                    n[docs[i].indirect]++;
                    hit[docs[i].indirect] += score_of(&docs[i], w, 1) >= th[docs[i].indirect];
                }
            char name[32];
            snprintf(name, sizeof(name), ro ? "rules alone" : "w = %.2f", w);
            printf("  %-14s  %5.1f%% (at %.3f)  %5.1f%% (at %.3f)\n", name,
                   100.0 * (double)hit[0] / (double)n[0], th[0],
                   n[1] ? 100.0 * (double)hit[1] / (double)n[1] : 0.0, th[1]);
        }
    }
    json_object_set_new(meta, "cross_validation", cv);
}

static void
usage(void)
{
    fprintf(stderr, "usage: portcullis-train -o MODEL [--split S] [--examples PACK] [--rules PACK] "
                    "[--lexicon FILE] [--nbits N] [--cmin N] [--cmax N] [--words N] [--block N] "
                    "[--epochs N] [--lr X] [--l2 X] [--folds N] [--prior P] FILE.jsonl ...\n");
    exit(2);
}

int
main(int argc, char **argv)
{
    const char *out = NULL, *split = NULL, *examples = NULL, *rules = NULL, *lexicon = NULL;
    unsigned epochs = 16, folds = 5;
    double lr = 0.2, l2 = 1e-6, prior = 0.5;
    const char *files[64];
    unsigned nfiles = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (strcmp(a, name) == 0 && v && (i++, 1))
        if (OPT("-o"))
            out = v;
        else if (OPT("--split"))
            split = v;
        else if (OPT("--examples"))
            examples = v;
        else if (OPT("--rules"))
            rules = v;
        else if (OPT("--lexicon"))
            lexicon = v;
        else if (OPT("--nbits"))
            prm.nbits = (unsigned)atoi(v);
        else if (OPT("--cmin"))
            prm.cmin = (unsigned)atoi(v);
        else if (OPT("--cmax"))
            prm.cmax = (unsigned)atoi(v);
        else if (OPT("--words"))
            prm.words = (unsigned)atoi(v);
        else if (OPT("--block"))
            prm.block = (unsigned)atoi(v);
        else if (OPT("--epochs"))
            epochs = (unsigned)atoi(v);
        else if (OPT("--lr"))
            lr = atof(v);
        else if (OPT("--l2"))
            l2 = atof(v);
        else if (OPT("--folds"))
            folds = (unsigned)atoi(v);
        else if (OPT("--prior"))
            prior = atof(v);
        else if (a[0] == '-')
            usage();
        else if (nfiles < 60)
            files[nfiles++] = a;
#undef OPT
    }
    if (!out || !nfiles || folds < 2 || !(prior > 0 && prior < 1))
        usage();

    if (rules) {
        char err[600];
        if (!(rpack = gw_inj_pack_load(rules, err, sizeof(err)))) {
            fprintf(stderr, "portcullis-train: %s\n", err);
            return 1;
        }
    }
    char *lex_text = NULL;
    size_t lex_len = 0;
    struct gw_clf_lex *lex = NULL;
    if (lexicon) {
        char err[600];
        if (gw_read_file(lexicon, 1u << 20, &lex_text, &lex_len) < 0) {
            fprintf(stderr, "portcullis-train: %s: %s\n", lexicon, strerror(errno));
            return 1;
        }
        if (!(lex = gw_clf_lex_parse(lexicon, lex_text, lex_len, err, sizeof(err)))) {
            fprintf(stderr, "portcullis-train: %s\n", err);
            return 1;
        }
        prm.lex = lex;
        printf("lexicon: %u concepts, %u forms\n", gw_clf_lex_concepts(lex), gw_clf_lex_forms(lex));
    }
    json_t *meta = json_object(), *inputs = json_array();
    for (unsigned i = 0; i < nfiles; i++) {
        srcname[nsrc] = strrchr(files[i], '/') ? strrchr(files[i], '/') + 1 : files[i];
        size_t used = read_jsonl(files[i], split, nsrc, folds);
        char sha[65];
        sha_file(files[i], sha);
        json_array_append_new(inputs, json_pack("{s:s, s:s, s:I}", "file", srcname[nsrc], "sha256",
                                                sha, "records", (json_int_t)used));
        nsrc++;
    }
    if (examples) {
        srcname[nsrc] = "pack examples";
        size_t used = read_examples(examples, nsrc, folds);
        char sha[65];
        sha_file(examples, sha);
        const char *base = strrchr(examples, '/') ? strrchr(examples, '/') + 1 : examples;
        json_array_append_new(inputs, json_pack("{s:s, s:s, s:I}", "examples_of", base, "sha256",
                                                sha, "records", (json_int_t)used));
        nsrc++;
    }
    if (lexicon) {
        /* the bytes trained with (and stored in the model), not the file read again */
        unsigned char md[32];
        char sha[65];
        EVP_Digest(lex_text, lex_len, md, NULL, EVP_sha256(), NULL);
        gw_hex_encode(md, 32, sha);
        const char *base = strrchr(lexicon, '/') ? strrchr(lexicon, '/') + 1 : lexicon;
        json_array_append_new(inputs, json_pack("{s:s, s:s, s:i, s:i}", "lexicon", base, "sha256",
                                                sha, "concepts", (int)gw_clf_lex_concepts(lex),
                                                "forms", (int)gw_clf_lex_forms(lex)));
    }
    size_t npos = 0;
    for (size_t i = 0; i < ndocs; i++)
        npos += (size_t)docs[i].y;
    printf("%zu records: %zu attacks, %zu benign\n", ndocs, npos, ndocs - npos);
    if (!npos || npos == ndocs) {
        fprintf(stderr, "portcullis-train: need both attacks and benign records\n");
        return 1;
    }
    set_weights();

    size_t nw = (size_t)1 << prm.nbits;
    struct model m = {.w = xrealloc(NULL, nw * sizeof(float)),
                      .g = xrealloc(NULL, nw * sizeof(float))};
    for (unsigned f = 0; f < folds; f++) {
        train(&m, (int)f, epochs, lr, l2);
        for (size_t i = 0; i < ndocs; i++)
            if (docs[i].fold == f)
                docs[i].oofz = doc_margin(&m, &docs[i], 0, UINT32_MAX, NULL);
    }
    double ca, cb;
    calibrate(&ca, &cb, log(prior / (1 - prior)));
    printf("calibration (Platt, on the out-of-fold margins): p = 1 / (1 + exp(-(%.4f z + %.4f)))\n",
           ca, cb);
    report(meta, rpack != NULL);
    const char *dump = getenv("PC_TRAIN_DUMP"); /* out-of-fold scores, for studying the data */
    FILE *df = dump ? fopen(dump, "w") : NULL;
    for (size_t i = 0; df && i < ndocs; i++)
        fprintf(df, "%s\t%s\t%u\t%u\t%u\t%u\t%.4f\t%.4f\t%zu\n", srcname[docs[i].src],
                docs[i].label, docs[i].nlen, docs[i].nblocks, docs[i].klo, docs[i].khi, docs[i].oof,
                docs[i].rule, i);
    if (df)
        fclose(df);
    train(&m, -1, epochs, lr, l2);

    char cmd[4096];
    size_t used = 0;
    cmd[0] = '\0';
    /* the command without -o FILE: where the file went is not part of what it is */
    for (int i = 0; i < argc && used < sizeof(cmd); i++) {
        if (i && strcmp(argv[i], "-o") == 0 && i + 1 < argc) {
            i++;
            continue;
        }
        used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, "%s%s", i ? " " : "",
                                 i ? argv[i] : "portcullis-train");
    }
    json_object_set_new(meta, "trained_by", json_string(cmd));
    json_object_set_new(meta, "inputs", inputs);
    json_object_set_new(
        meta, "records",
        json_pack("{s:I, s:I}", "attacks", (json_int_t)npos, "benign", (json_int_t)(ndocs - npos)));
    json_object_set_new(meta, "training",
                        json_pack("{s:i, s:f, s:f, s:i}", "epochs", (int)epochs, "lr", lr, "l2", l2,
                                  "folds", (int)folds));
    /* the calibration goes into the weights: a z + b = (a bias + b) + a (sum) / sqrt(n + 1) */
    for (size_t i = 0; i < nw; i++)
        m.w[i] *= (float)ca;
    m.bias = ca * m.bias + cb;
    json_object_set_new(meta, "calibration",
                        json_pack("{s:f, s:f, s:f}", "a", ca, "b", cb, "prior", prior));
    struct gw_clf_model cm = {.prm = prm, .bias = (float)m.bias, .w = m.w, .lexicon = lex_text};
    cm.meta = json_dumps(meta, JSON_SORT_KEYS | JSON_COMPACT);
    char err[600];
    if (gw_clf_write(out, &cm, err, sizeof(err)) < 0) {
        fprintf(stderr, "portcullis-train: %s\n", err);
        return 1;
    }
    printf("wrote %s\n", out);
    free(cm.meta);
    json_decref(meta);
    free(m.w);
    free(m.g);
    gw_clf_lex_free(lex);
    free(lex_text);
    return 0;
}
