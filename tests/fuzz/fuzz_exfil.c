/*
 * exfil filter fuzzer, differential: a response streamed through on_resp_chunk, split where the
 * input says, must release exactly what the filter makes of the whole text as one segment, with
 * the same events (rule and action), and must block exactly when the whole text blocks — for
 * assistant text (links and blobs) and tool-call arguments (blobs), under four configurations
 * (redact everything; events only; images only with blocking blobs; block links). Every call must
 * keep the chunk contract (the hold within the text, none on the final chunk, the held tail raw
 * input on a character boundary). A second pass over the same pieces with a timed flush after
 * each must keep the contract too (its output may differ: a flush judges what it cuts).
 *
 * Input: byte 0 = the number of piece sizes k (low 4 bits, + 1) and the configuration (bits 4-5),
 * then k sizes (cycled, modulo 64; 0 = an empty piece), then the text (made valid UTF-8: what
 * adapters hand to filters).
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

extern const struct gw_filter_ops gw_flt_exfil;
#define F gw_flt_exfil

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_exfil: %s failed at line %d\n", #cond, __LINE__);                \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- stubs ---- */

#define MAX_EV 4096

struct gw_tx {
    int blocked;
    int nev;
    struct {
        const char *rule_id, *action;
    } ev[MAX_EV];
};

#define WEAK __attribute__((weak))

WEAK void
gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message)
{
    (void)status;
    (void)code;
    (void)message;
    tx->blocked++;
}

WEAK void
gw_emit(struct gw_tx *tx, const struct gw_event *ev)
{
    CHECK(ev->rule_id && ev->category && ev->action);
    if (tx->nev < MAX_EV) {
        tx->ev[tx->nev].rule_id = ev->rule_id;
        tx->ev[tx->nev].action = ev->action;
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

/* ---- configurations ---- */

static const char *const configs[] = {
    "{\"allow_hosts\": [\"ok.example\", \"*.ok.example\"], \"links\": \"redact\", "
    "\"max_path_segment\": 12, \"blobs\": {\"action\": \"redact\", \"min_len\": 16}, "
    "\"length\": \"off\"}",
    "{\"allow_hosts\": [\"ok.example\"], \"links\": \"event\", \"blobs\": {\"action\": \"event\", "
    "\"min_len\": 16}, \"length\": \"off\"}",
    "{\"links\": \"redact\", \"images_only\": true, \"blobs\": {\"action\": \"block\", "
    "\"min_len\": 24}, \"length\": \"off\"}",
    "{\"allow_hosts\": [\"ok.example\"], \"links\": \"block\", \"blobs\": {\"action\": "
    "\"redact\", \"min_len\": 16}, \"length\": \"off\"}",
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
            fprintf(stderr, "fuzz_exfil: config %zu: %s\n", i, j ? err : "bad JSON");
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

/* events as (rule_id, action) pairs */
static int
evcmp(const void *a, const void *b)
{
    const char *const *x = a, *const *y = b;
    int c = strcmp(x[0], y[0]);
    return c ? c : strcmp(x[1], y[1]);
}

static void
sort_events(struct gw_tx *tx)
{
    qsort(tx->ev, (size_t)tx->nev, sizeof(tx->ev[0]), evcmp);
}

/* The stream, split by sizes[]; flush: every call but the last is a timed flush. Returns the
 * released text (malloc'd, *outlen bytes) and the verdict of the last call. */
static char *
stream(void *c, struct gw_tx *tx, enum gw_role role, const char *text, size_t n,
       const uint8_t *sizes, size_t k, int flush, size_t *outlen, enum gw_verdict *vout)
{
    void *ctx = calloc(1, F.ctx_size);
    char *out = malloc(1), *held = NULL;
    size_t heldlen = 0, pos = 0, piece = 0, moves = 0;
    *outlen = 0;
    for (size_t i = 0; i < k; i++)
        moves |= sizes[i] % 64;
    enum gw_verdict v = GW_PASS;
    for (;;) {
        size_t step = moves ? sizes[piece++ % k] % 64 : 1;
        size_t end = pos + step > n ? n : pos + step;
        struct gw_chunk ch = {.role = role, .stream_id = 7, .choice = 0};
        ch.len = heldlen + (end - pos);
        ch.text = malloc(ch.len + 1);
        if (heldlen)
            memcpy(ch.text, held, heldlen);
        memcpy(ch.text + heldlen, text + pos, end - pos);
        ch.text[ch.len] = '\0';
        ch.final = end == n;
        ch.flush = flush && !ch.final;
        ch.offset = *outlen;
        pos = end;
        v = F.on_resp_chunk(tx, c, ctx, &ch);
        free(held);
        held = NULL;
        CHECK(v != GW_ERROR);
        if (v == GW_BLOCK) {
            free(ch.text);
            break;
        }
        CHECK(ch.hold <= ch.len && ((!ch.final && !ch.flush) || ch.hold == 0));
        size_t rel = ch.len - ch.hold;
        CHECK(memcmp(ch.text + rel, text + pos - ch.hold, ch.hold) == 0);
        CHECK(rel == ch.len || ((unsigned char)ch.text[rel] & 0xC0) != 0x80);
        out = realloc(out, *outlen + rel + 1);
        memcpy(out + *outlen, ch.text, rel);
        *outlen += rel;
        heldlen = ch.hold;
        held = malloc(heldlen + 1);
        memcpy(held, ch.text + rel, heldlen);
        free(ch.text);
        if (ch.final)
            break;
    }
    free(held);
    F.on_tx_end(tx, c, ctx);
    free(ctx);
    *vout = v;
    return out;
}

static void
run(void *c, const char *text, size_t n, const uint8_t *sizes, size_t k, enum gw_role role)
{
    /* the whole text as one segment */
    struct gw_tx whole = {0};
    struct gw_segment seg = {.role = role, .len = n, .msg_index = 0};
    seg.text = malloc(n + 1);
    memcpy(seg.text, text, n + 1);
    struct gw_segments segs = {GW_DIR_RESPONSE, &seg, 1, 1};
    void *ctx = calloc(1, F.ctx_size);
    enum gw_verdict wv = F.on_resp_body(&whole, c, ctx, &segs);
    F.on_tx_end(&whole, c, ctx);
    free(ctx);
    CHECK(wv == GW_PASS || wv == GW_REDACT || wv == GW_BLOCK);
    CHECK((wv == GW_BLOCK) == (whole.blocked == 1));
    if (role == GW_ROLE_TOOL_CALL_ARGS && wv != GW_BLOCK) {
        /* blobs are cut on JSON-escape boundaries: valid JSON stays valid */
        json_t *a = json_loadb(text, n, JSON_DECODE_ANY, NULL);
        if (a) {
            json_t *b = json_loadb(seg.text, seg.len, JSON_DECODE_ANY, NULL);
            CHECK(b != NULL);
            json_decref(b);
            json_decref(a);
        }
    }

    /* streamed: the same text, events and verdict, whatever the split */
    struct gw_tx tx = {0};
    size_t outlen;
    enum gw_verdict v;
    char *out = stream(c, &tx, role, text, n, sizes, k, 0, &outlen, &v);
    if (wv == GW_BLOCK) {
        CHECK(v == GW_BLOCK && tx.blocked == 1);
    } else {
        CHECK(v != GW_BLOCK && tx.blocked == 0);
        if (outlen != seg.len || memcmp(out, seg.text, outlen) != 0) {
            fprintf(stderr, "fuzz_exfil: stream released\n%.*s\nwhole gives\n%.*s\n", (int)outlen,
                    out, (int)seg.len, seg.text);
            abort();
        }
        CHECK(tx.nev == whole.nev);
        sort_events(&tx);
        sort_events(&whole);
        for (int i = 0; i < tx.nev; i++)
            CHECK(strcmp(tx.ev[i].rule_id, whole.ev[i].rule_id) == 0 &&
                  strcmp(tx.ev[i].action, whole.ev[i].action) == 0);
    }
    free(out);

    /* with a flush after every piece: the contract holds */
    struct gw_tx ftx = {0};
    out = stream(c, &ftx, role, text, n, sizes, k, 1, &outlen, &v);
    free(out);
    free(seg.text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 2)
        return 0;
    size_t k = (data[0] & 15) + 1;
    void *c = conf[(data[0] >> 4) % NCONF];
    if (size < 1 + k)
        return 0;
    size_t n = size - 1 - k;
    char *text = sanitize(data + 1 + k, n);
    run(c, text, n, data + 1, k, GW_ROLE_ASSISTANT);
    run(c, text, n, data + 1, k, GW_ROLE_TOOL_CALL_ARGS);
    free(text);
    return 0;
}
