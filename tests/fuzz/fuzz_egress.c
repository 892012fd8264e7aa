/*
 * egress filter fuzzer, differential: tool-call arguments streamed through on_resp_chunk, split
 * where the input says, must end as the filter makes the whole text as one segment
 * (on_resp_body) — with neutralize, redact, event and block — and assistant text (the markdown
 * checks) must be released exactly as the whole text gives it. Every call must keep the chunk
 * contract (the hold within the text and the hold limit, none on a final or flush call, the held
 * tail raw input).
 *
 * When a flush or the hold limit released arguments before they ended, a denial can no longer
 * be edited: then the stream must be blocked (event: still an event), and allowed arguments must
 * pass unchanged. Nothing else may differ.
 *
 * Input: byte 0 = the number of piece sizes k (low 4 bits, + 1), the configuration (bits 4-5:
 * neutralize, redact, event, block), a hold limit of 64 bytes instead of 128 KiB (bit 6), and
 * flushes (bit 7: a flush after each piece, also before any text arrived); then k sizes
 * (cycled, modulo 64; 0 = an empty piece); then the text (made valid UTF-8, and cut only between
 * characters: what adapters hand to filters).
 *
 * The chain's services are stubbed (weak) here; the edits are the real ones (filters/segment.c).
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filters/filter.h"

extern const struct gw_filter_ops gw_flt_egress;
#define F gw_flt_egress

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_egress: %s failed at line %d\n", #cond, __LINE__);               \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- stubs ---- */

#define MAX_EV 4096
#define MAX_ALLOC 8

struct gw_tx {
    int blocked;
    size_t hold_limit;
    int nalloc;
    void *alloc[MAX_ALLOC];
    int nev;
    struct {
        const char *rule_id, *action;
        double score;
    } ev[MAX_EV];
};

#define WEAK __attribute__((weak))

WEAK void
gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message)
{
    CHECK(status == 403 && code && message);
    tx->blocked++;
}

WEAK void
gw_emit(struct gw_tx *tx, const struct gw_event *ev)
{
    CHECK(ev->rule_id && ev->category && ev->action);
    if (tx->nev < MAX_EV) {
        tx->ev[tx->nev].rule_id = ev->rule_id;
        tx->ev[tx->nev].action = ev->action;
        tx->ev[tx->nev].score = ev->score;
        tx->nev++;
    }
}

WEAK void
gw_tx_identity(const struct gw_tx *tx, struct gw_identity *out)
{
    (void)tx;
    memset(out, 0, sizeof(*out));
    out->route_index = 0;
}

WEAK void *
gw_tx_alloc(struct gw_tx *tx, size_t n)
{
    CHECK(tx->nalloc < MAX_ALLOC);
    void *p = calloc(1, n);
    CHECK(p != NULL);
    tx->alloc[tx->nalloc++] = p;
    return p;
}

WEAK size_t
gw_tx_hold_limit(const struct gw_tx *tx)
{
    return tx->hold_limit;
}

WEAK int
gw_cfg_error(struct gw_cfg_ctx *cc, const struct gw_cnode *node, const char *fmt, ...)
{
    (void)node;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cc->err, cc->errlen, fmt, ap);
    va_end(ap);
    return -1;
}

/* The end of an exchange: the filter's on_tx_end, then what the chain frees. */
static void
tx_end(struct gw_tx *tx, void *conf, void *ctx)
{
    F.on_tx_end(tx, conf, ctx);
    for (int i = 0; i < tx->nalloc; i++)
        free(tx->alloc[i]);
    tx->nalloc = 0;
    free(ctx);
}

/* ---- configurations ---- */

#define ALLOW "\"allow\": [\"ok.example\", \"*.ok.example\", \"10.9.0.0/16\", \"ok.example/p/\"]"
static const char *const configs[] = {
    "{" ALLOW ", \"tool_calls\": \"neutralize\", \"markdown_links\": \"redact\"}",
    "{" ALLOW ", \"tool_calls\": \"redact\", \"schemes\": [\"https\", \"ftp\"]}",
    "{\"tool_calls\": \"event\", \"markdown_images\": \"event\"}",
    "{" ALLOW ", \"tool_calls\": \"block\", \"markdown_images\": \"off\"}",
};
#define NCONF (sizeof(configs) / sizeof(configs[0]))
static void *conf[NCONF];

static void
init_once(void)
{
    if (conf[0])
        return;
    for (size_t i = 0; i < NCONF; i++) {
        json_t *j = json_loads(configs[i], 0, NULL);
        char err[256];
        struct gw_cfg_ctx cc = {"fuzz", NULL, err, sizeof(err), NULL};
        if (!j || F.conf_new(&cc, j, &conf[i]) < 0) {
            fprintf(stderr, "fuzz_egress: config %zu: %s\n", i, j ? err : "bad JSON");
            abort();
        }
        json_decref(j);
    }
}

/* Valid UTF-8 copy of d: each byte that does not start a well-formed sequence becomes '?'. */
static char *
sanitize(const uint8_t *d, size_t n)
{
    char *t = malloc(n + 1);
    size_t i = 0;
    while (i < n) {
        uint8_t b = d[i];
        size_t len = b < 0x80                 ? 1
                     : b >= 0xC2 && b <= 0xDF ? 2
                     : b >= 0xE0 && b <= 0xEF ? 3
                     : b >= 0xF0 && b <= 0xF4 ? 4
                                              : 0;
        int ok = len > 0 && i + len <= n;
        for (size_t k = 1; ok && k < len; k++)
            ok = (d[i + k] & 0xC0) == 0x80;
        if (ok && len == 3)
            ok = !(b == 0xE0 && d[i + 1] < 0xA0) && !(b == 0xED && d[i + 1] > 0x9F);
        if (ok && len == 4)
            ok = !(b == 0xF0 && d[i + 1] < 0x90) && !(b == 0xF4 && d[i + 1] > 0x8F);
        if (!ok) {
            t[i++] = '?';
            continue;
        }
        memcpy(t + i, d + i, len);
        i += len;
    }
    t[n] = '\0';
    return t;
}

/* What a stream gave. */
struct srun {
    enum gw_verdict v;
    char *out;
    size_t outlen;
    size_t early; /* bytes released before the final call */
    int held;     /* some call held text */
};

/* The stream, split by sizes[] (moved back to character boundaries); flush: a flush after each
 * piece that ends past the start. */
static void
stream(void *c, struct gw_tx *tx, enum gw_role role, const char *text, size_t n,
       const uint8_t *sizes, size_t k, int flush, struct srun *r)
{
    void *ctx = calloc(1, F.ctx_size);
    char *held = NULL;
    size_t heldlen = 0, pos = 0, piece = 0, moves = 0;
    memset(r, 0, sizeof(*r));
    r->out = malloc(1);
    for (size_t i = 0; i < k; i++)
        moves |= sizes[i] % 64;
    for (;;) {
        size_t step = moves ? sizes[piece++ % k] % 64 : 1;
        size_t end = pos + step > n ? n : pos + step;
        /* between characters: back, or forward when the piece would lose its only one */
        size_t e = end;
        while (e < n && e > pos && ((unsigned char)text[e] & 0xC0) == 0x80)
            e--;
        if (e == pos && end > pos)
            while (end < n && ((unsigned char)text[end] & 0xC0) == 0x80)
                end++;
        else
            end = e;
        struct gw_chunk ch = {.role = role, .stream_id = 7, .choice = 0};
        ch.len = heldlen + (end - pos);
        ch.text = malloc(ch.len + 1);
        if (heldlen)
            memcpy(ch.text, held, heldlen);
        memcpy(ch.text + heldlen, text + pos, end - pos);
        ch.text[ch.len] = '\0';
        ch.final = end == n;
        ch.flush = flush && !ch.final;
        ch.offset = r->outlen;
        pos = end;
        r->v = F.on_resp_chunk(tx, c, ctx, &ch);
        free(held);
        held = NULL;
        CHECK(r->v != GW_ERROR);
        if (r->v == GW_BLOCK) {
            free(ch.text);
            break;
        }
        CHECK(ch.hold <= ch.len && ch.hold <= tx->hold_limit);
        CHECK((!ch.final && !ch.flush) || ch.hold == 0);
        size_t rel = ch.len - ch.hold;
        CHECK(memcmp(ch.text + rel, text + pos - ch.hold, ch.hold) == 0);
        CHECK(rel == ch.len || ((unsigned char)ch.text[rel] & 0xC0) != 0x80);
        if (!ch.final)
            r->early += rel;
        r->held |= ch.hold > 0;
        r->out = realloc(r->out, r->outlen + rel + 1);
        memcpy(r->out + r->outlen, ch.text, rel);
        r->outlen += rel;
        heldlen = ch.hold;
        held = malloc(heldlen + 1);
        memcpy(held, ch.text + rel, heldlen);
        free(ch.text);
        if (ch.final)
            break;
    }
    free(held);
    tx_end(tx, c, ctx);
}

static int
same_events(const struct gw_tx *a, const struct gw_tx *b)
{
    if (a->nev != b->nev)
        return 0;
    for (int i = 0; i < a->nev; i++)
        if (strcmp(a->ev[i].rule_id, b->ev[i].rule_id) != 0 ||
            strcmp(a->ev[i].action, b->ev[i].action) != 0 || a->ev[i].score != b->ev[i].score)
            return 0;
    return 1;
}

static void
mismatch(const char *what, const struct srun *r, const char *want, size_t wantlen)
{
    fprintf(stderr, "fuzz_egress: %s: stream released\n%.*s\nwhole gives\n%.*s\n", what,
            (int)r->outlen, r->out, (int)wantlen, want);
    abort();
}

static void
run_args(void *c, int event, size_t limit, const char *text, size_t n, const uint8_t *sizes,
         size_t k, int flush)
{
    /* the whole text as one segment */
    struct gw_tx whole = {.hold_limit = limit};
    struct gw_segment seg = {.role = GW_ROLE_TOOL_CALL_ARGS, .len = n, .msg_index = 0};
    seg.text = malloc(n + 1);
    memcpy(seg.text, text, n + 1);
    struct gw_segments segs = {GW_DIR_RESPONSE, &seg, 1, 1};
    void *ctx = calloc(1, F.ctx_size);
    enum gw_verdict wv = F.on_resp_body(&whole, c, ctx, &segs);
    tx_end(&whole, c, ctx);
    CHECK(wv == GW_PASS || wv == GW_REDACT || wv == GW_BLOCK);
    CHECK((wv == GW_BLOCK) == (whole.blocked == 1));
    CHECK(whole.nev <= 1);
    CHECK((wv == GW_PASS && !event) ? whole.nev == 0 : 1);
    json_t *in = wv == GW_REDACT ? json_loadb(text, n, JSON_DECODE_ANY, NULL) : NULL;
    if (in) {
        /* JSON in, JSON out */
        json_t *out = json_loadb(seg.text, seg.len, JSON_DECODE_ANY, NULL);
        CHECK(out != NULL);
        json_decref(out);
        json_decref(in);
    }

    struct gw_tx tx = {.hold_limit = limit};
    struct srun r;
    stream(c, &tx, GW_ROLE_TOOL_CALL_ARGS, text, n, sizes, k, flush, &r);
    if (event) {
        CHECK(!r.held && r.v == GW_PASS && tx.blocked == 0);
        if (r.outlen != n || memcmp(r.out, text, n) != 0)
            mismatch("event", &r, text, n);
        CHECK(same_events(&tx, &whole));
    } else if (r.early == 0) {
        CHECK(r.v == wv);
        if (wv == GW_BLOCK) {
            CHECK(tx.blocked == 1 && r.outlen == 0);
        } else if (r.outlen != seg.len || memcmp(r.out, seg.text, seg.len) != 0) {
            mismatch("held", &r, seg.text, seg.len);
        }
        CHECK(same_events(&tx, &whole));
    } else if (whole.nev == 0) {
        CHECK(r.v == GW_PASS && tx.nev == 0 && tx.blocked == 0);
        if (r.outlen != n || memcmp(r.out, text, n) != 0)
            mismatch("released, allowed", &r, text, n);
    } else {
        CHECK(r.v == GW_BLOCK && tx.blocked == 1 && tx.nev == 1);
        CHECK(strcmp(tx.ev[0].rule_id, whole.ev[0].rule_id) == 0);
        CHECK(strcmp(tx.ev[0].action, "block") == 0);
    }
    free(r.out);
    free(seg.text);
}

static void
run_markdown(void *c, const char *text, size_t n, const uint8_t *sizes, size_t k)
{
    struct gw_tx whole = {.hold_limit = 128u * 1024};
    struct gw_segment seg = {.role = GW_ROLE_ASSISTANT, .len = n, .msg_index = 0};
    seg.text = malloc(n + 1);
    memcpy(seg.text, text, n + 1);
    struct gw_segments segs = {GW_DIR_RESPONSE, &seg, 1, 1};
    void *ctx = calloc(1, F.ctx_size);
    enum gw_verdict wv = F.on_resp_body(&whole, c, ctx, &segs);
    tx_end(&whole, c, ctx);
    CHECK(wv == GW_PASS || wv == GW_REDACT || wv == GW_BLOCK);

    struct gw_tx tx = {.hold_limit = 128u * 1024};
    struct srun r;
    stream(c, &tx, GW_ROLE_ASSISTANT, text, n, sizes, k, 0, &r);
    if (wv == GW_BLOCK) {
        CHECK(r.v == GW_BLOCK && tx.blocked == 1);
    } else {
        CHECK(r.v != GW_BLOCK && tx.blocked == 0);
        if (r.outlen != seg.len || memcmp(r.out, seg.text, seg.len) != 0)
            mismatch("markdown", &r, seg.text, seg.len);
        CHECK(tx.nev == whole.nev);
        for (int i = 0; i < tx.nev; i++)
            CHECK(strcmp(tx.ev[i].rule_id, whole.ev[i].rule_id) == 0 &&
                  strcmp(tx.ev[i].action, whole.ev[i].action) == 0);
    }
    free(r.out);
    free(seg.text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 2)
        return 0;
    size_t k = (data[0] & 15) + 1;
    size_t ci = (data[0] >> 4) & 3;
    size_t limit = data[0] & 0x40 ? 64 : 128u * 1024;
    int flush = data[0] >> 7;
    if (size < 1 + k)
        return 0;
    size_t n = size - 1 - k;
    char *text = sanitize(data + 1 + k, n);
    run_args(conf[ci], ci == 2, limit, text, n, data + 1, k, flush);
    run_markdown(conf[ci], text, n, data + 1, k);
    free(text);
    return 0;
}
