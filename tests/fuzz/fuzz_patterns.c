/*
 * patterns filter fuzzer, differential: a response streamed through on_resp_chunk, split where
 * the input says, must release exactly the whole-text redaction computed independently here from
 * a block-mode scan (union of overlapping matches, leftmost rule's replacement) — never a byte of
 * a match — and must block, before releasing any byte of the blocking match, exactly when the
 * whole text has a block match. The events must be the whole body's too (those of the event rules,
 * compiled without start of match, included: here a run of matches is never longer than the
 * hold, or is reported at every end offset, so a stream cannot cut it).
 *
 * Input: byte 0 = number of piece sizes k (1..16), then k sizes (cycled, modulo 64; 0 = an
 * empty piece; the parity of the size after the last piece: whether the end of the stream comes
 * with it or in an empty chunk after it), then the text (made valid UTF-8: what adapters hand to
 * filters).
 *
 * The same text as a request (where base64 and hex payloads are decoded and scanned too) must
 * pass unchanged, be redacted or be blocked (with one block) — never an error.
 *
 * The chain's services are stubbed (weak) here, as in tests/unit/test_flt_patterns.c.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "filters/filter.h"
#include "filters/scan.h"

extern const struct gw_filter_ops gw_flt_patterns;

/* ---- the rule set, twice: as config for the filter and as the oracle sees it ---- */

/* Rules marked long look at assistant text only: tool-call arguments get the short ones, so
 * that their hold is set by the rules with assertions after the match (\b, $). */
static const struct {
    const char *id, *regex, *flags, *action, *rep;
    int long_rule;
} rules[] = {
    {"aws", "AKIA[A-Z0-9]{16}", "", "redact", "[REDACTED:aws]", 1},
    {"sk", "sk-[A-Za-z0-9]{4,12}", "", "redact", "[KEY]", 1},
    {"word", "\\Bpass\\b", "i", "redact", "*", 0},
    {"start", "^Hi", "", "redact", "Hey", 0},
    {"end", "bye\\.?$", "", "redact", "ciao", 0},
    {"line", "^x=\\d{1,3}$", "m", "redact", "x=?", 1},
    {"uni", "caf[éè]|é.", "u", "redact", "<é>", 1},
    {"run", "z{2,3}", "", "redact", "Z", 0},
    {"dig", "[0-9]{3}.", "", "redact", "#", 1}, /* may end inside a character */
    {"hash", ".##", "", "redact", "%", 0},      /* may start inside one */
    {"ab", "ab+c", "", "event", NULL, 0},
    /* too large with start-of-match tracking: an event rule is compiled without it */
    {"ctx", "z.{1,200}", "", "event", NULL, 0},
    {"evil", "EVIL[0-9]{1,3}", "", "block", NULL, 1},
};
#define NR (sizeof(rules) / sizeof(rules[0]))

static void *conf;
static struct gw_scan_db *oracle_db;

static unsigned
hs_flags(const char *f)
{
    unsigned v = 0;
    for (; *f; f++)
        v |= *f == 'i'   ? HS_FLAG_CASELESS
             : *f == 'm' ? HS_FLAG_MULTILINE
             : *f == 's' ? HS_FLAG_DOTALL
                         : HS_FLAG_UTF8 | HS_FLAG_UCP;
    return v;
}

/* ---- stubs for the chain's services ---- */

#define MAX_EV 4096

struct gw_tx {
    int blocked;
    int nev;
    struct {
        const char *rule_id;
        uint64_t offset, length;
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
    if (tx->nev < MAX_EV && strcmp(ev->action, "block") != 0) {
        tx->ev[tx->nev].rule_id = ev->rule_id;
        tx->ev[tx->nev].offset = ev->offset;
        tx->ev[tx->nev].length = ev->length;
        tx->nev++;
    }
}

WEAK void
gw_tx_identity(const struct gw_tx *tx, struct gw_identity *out)
{
    (void)tx;
    memset(out, 0, sizeof(*out));
}

WEAK void *
gw_tx_alloc(struct gw_tx *tx, size_t n)
{
    (void)tx;
    return calloc(1, n);
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

static const char *const role_names[] = {
    "system", "developer", "user", "assistant", "tool_result", "tool_call_args", "tool_definition",
};

WEAK const char *
gw_role_name(enum gw_role r)
{
    return (unsigned)r < GW_ROLE_COUNT ? role_names[r] : "?";
}

WEAK int
gw_role_from_name(const char *name)
{
    for (int i = 0; i < GW_ROLE_COUNT; i++)
        if (strcmp(name, role_names[i]) == 0)
            return i;
    return -1;
}

static int
boundary(const char *t, size_t len, size_t off)
{
    return off == len || ((unsigned char)t[off] & 0xC0) != 0x80;
}

static int
splice(char **text, size_t *tlen, size_t off, size_t len, const char *rep, size_t rlen)
{
    if (off > *tlen || len > *tlen - off || !boundary(*text, *tlen, off) ||
        !boundary(*text, *tlen, off + len))
        abort(); /* the filter edits only whole characters inside the text */
    size_t n = *tlen - len + rlen;
    char *t = malloc(n + 1);
    memcpy(t, *text, off);
    memcpy(t + off, rep, rlen);
    memcpy(t + off + rlen, *text + off + len, *tlen - off - len);
    t[n] = '\0';
    free(*text);
    *text = t;
    *tlen = n;
    return 0;
}

WEAK int
gw_segment_replace(struct gw_segment *s, size_t off, size_t len, const char *rep, size_t rlen)
{
    s->edited = 1;
    return splice(&s->text, &s->len, off, len, rep, rlen);
}

WEAK int
gw_chunk_replace(struct gw_chunk *c, size_t off, size_t len, const char *rep, size_t rlen)
{
    if (off > c->len - c->hold || len > c->len - c->hold - off)
        abort(); /* never in the held tail */
    return splice(&c->text, &c->len, off, len, rep, rlen);
}

/* ---- the oracle ---- */

struct om {
    unsigned rule;
    uint64_t from, to;
};

struct ovec {
    struct om *v;
    size_t n, cap;
};

static int
ocollect(unsigned rule, unsigned long long from, unsigned long long to, void *arg)
{
    struct ovec *o = arg;
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 64;
        o->v = realloc(o->v, o->cap * sizeof(*o->v));
    }
    o->v[o->n++] = (struct om){rule, from, to};
    return 0;
}

static int
ocmp(const void *a, const void *b)
{
    const struct om *x = a, *y = b;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return x->to < y->to ? -1 : x->to > y->to;
}

struct ospan {
    uint64_t from, to; /* widened to whole characters */
    unsigned rule;     /* of the leftmost match */
};

static void
init_once(void)
{
    if (conf)
        return;
    json_t *arr = json_array();
    struct gw_scan_rule sr[NR];
    for (size_t i = 0; i < NR; i++) {
        json_t *r = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s,s]}", "id", rules[i].id, "regex",
                              rules[i].regex, "flags", rules[i].flags, "action", rules[i].action,
                              "direction", "response", "where", "assistant",
                              rules[i].long_rule ? "assistant" : "tool_call_args");
        if (rules[i].rep)
            json_object_set_new(r, "replacement", json_string(rules[i].rep));
        json_array_append_new(arr, r);
        /* the oracle needs the starts of the redact and block matches only */
        unsigned som = strcmp(rules[i].action, "event") != 0 ? HS_FLAG_SOM_LEFTMOST : 0;
        sr[i] = (struct gw_scan_rule){rules[i].id, rules[i].regex, hs_flags(rules[i].flags) | som};
    }
    json_t *j = json_pack("{s:o}", "rules", arr);
    char err[512];
    struct gw_cfg_ctx cc = {"fuzz", NULL, err, sizeof(err), NULL};
    if (gw_flt_patterns.conf_new(&cc, j, &conf) < 0) {
        fprintf(stderr, "fuzz_patterns: %s\n", err);
        abort();
    }
    json_decref(j);
    oracle_db = gw_scan_compile(sr, NR, 0, 0, err, sizeof(err), NULL);
    if (!oracle_db) {
        fprintf(stderr, "fuzz_patterns: %s\n", err);
        abort();
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

/* Spans longer than this may be released in pieces, each replaced (flt_patterns.c:
 * MAX_EXTRA_HOLD): their replacement may appear several times. */
#define CUT 4096

/*
 * Whether out[0, outlen) is the redaction of text[pos, upto) with the spans sp[0, ns) (sorted)
 * that begin before upto: text between spans as is, each span as its replacement (a long one: one
 * or more copies of it; it may go on past upto when a block cut it).
 */
static int
is_redaction(const char *out, size_t outlen, const char *text, size_t pos, size_t upto,
             const struct ospan *sp, size_t ns)
{
    if (ns == 0 || sp[0].from >= upto)
        return outlen == upto - pos && memcmp(out, text + pos, outlen) == 0;
    size_t gap = sp[0].from - pos;
    if (outlen < gap || memcmp(out, text + pos, gap) != 0)
        return 0;
    const char *rep = rules[sp[0].rule].rep;
    size_t rl = strlen(rep), o = gap, copies = 0;
    while (outlen - o >= rl && memcmp(out + o, rep, rl) == 0 &&
           (copies == 0 || sp[0].to - sp[0].from > CUT)) {
        o += rl;
        copies++;
    }
    if (sp[0].to > upto) /* a long span the stream was blocked in: what went out are its pieces */
        return copies > 0 && o == outlen;
    for (; copies > 0; copies--, o -= rl)
        if (is_redaction(out + o, outlen - o, text, sp[0].to, upto, sp + 1, ns - 1))
            return 1;
    return 0;
}

static int
evcmp(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;
    for (int i = 0; i < 3; i++)
        if (x[i] != y[i])
            return x[i] < y[i] ? -1 : 1;
    return 0;
}

/* The redaction and event-rule events of tx as sorted (rule, offset, length) triples. */
static uint64_t *
events(const struct gw_tx *tx)
{
    uint64_t *e = calloc((size_t)tx->nev * 3 + 1, sizeof(*e));
    for (int i = 0; i < tx->nev; i++) {
        size_t r = 0;
        while (strcmp(rules[r].id, tx->ev[i].rule_id) != 0)
            r++;
        e[i * 3] = r;
        e[i * 3 + 1] = tx->ev[i].offset;
        e[i * 3 + 2] = tx->ev[i].length;
    }
    qsort(e, (size_t)tx->nev, 3 * sizeof(*e), evcmp);
    return e;
}

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "fuzz_patterns: %s failed at line %d\n", #cond, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The whole property for one logical stream of the given role. */
/* A segment of role holding a copy of text (n bytes, NUL-terminated), as an adapter makes it. */
static struct gw_segment
text_segment(enum gw_role role, const char *text, size_t n)
{
    struct gw_segment seg = {.role = role, .len = n, .msg_index = 0};
    if (!(seg.text = malloc(n + 1)))
        abort();
    memcpy(seg.text, text, n + 1);
    return seg;
}

static void
run(const char *text, size_t n, const uint8_t *sizes, size_t k, enum gw_role role)
{
    /* Oracle: block-mode matches over the whole text, of the rules for this role. */
    struct ovec o = {0};
    CHECK(gw_scan_block(oracle_db, text, n, ocollect, &o) == 0);
    size_t kept = 0;
    for (size_t i = 0; i < o.n; i++)
        if (role == GW_ROLE_ASSISTANT || !rules[o.v[i].rule].long_rule)
            o.v[kept++] = o.v[i];
    o.n = kept;
    if (o.n > 1)
        qsort(o.v, o.n, sizeof(*o.v), ocmp);
    uint64_t block_at = UINT64_MAX;
    struct ospan *sp = malloc((o.n + 1) * sizeof(*sp));
    size_t ns = 0;
    for (size_t i = 0; i < o.n; i++) {
        const char *act = rules[o.v[i].rule].action;
        if (strcmp(act, "block") == 0 && o.v[i].from < block_at)
            block_at = o.v[i].from;
        if (strcmp(act, "redact") != 0)
            continue;
        if (ns && o.v[i].from < sp[ns - 1].to) {
            if (o.v[i].to > sp[ns - 1].to)
                sp[ns - 1].to = o.v[i].to;
        } else {
            sp[ns++] = (struct ospan){o.v[i].from, o.v[i].to, o.v[i].rule};
        }
    }
    /* widen to whole characters, right to left, each kept left of the next */
    uint64_t limit = n;
    for (size_t i = ns; i-- > 0;) {
        for (int s = 0; s < 3 && sp[i].from > 0 && !boundary(text, n, sp[i].from); s++)
            sp[i].from--;
        if (sp[i].to > limit)
            sp[i].to = limit;
        for (int s = 0; s < 3 && sp[i].to < limit && !boundary(text, n, sp[i].to); s++)
            sp[i].to++;
        if (sp[i].from < sp[i].to)
            limit = sp[i].from;
    }
    size_t ns2 = 0;
    for (size_t i = 0; i < ns; i++)
        if (sp[i].from < sp[i].to)
            sp[ns2++] = sp[i];
    ns = ns2;

    /* The filter on the whole body. */
    struct gw_tx whole = {0};
    struct gw_segment seg = text_segment(role, text, n);
    struct gw_segments segs = {GW_DIR_RESPONSE, &seg, 1, 1};
    enum gw_verdict wv = gw_flt_patterns.on_resp_body(&whole, conf, NULL, &segs);

    if (block_at == UINT64_MAX) {
        CHECK(wv == (ns ? GW_REDACT : GW_PASS));
        CHECK(is_redaction(seg.text, seg.len, text, 0, n, sp, ns));
    } else {
        CHECK(wv == GW_BLOCK && whole.blocked == 1);
    }

    /* The filter on the stream, split as the input says. */
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    char *out = malloc(1), *held = NULL;
    size_t outlen = 0, heldlen = 0, pos = 0, consumed = 0, piece = 0, moves = 0;
    for (size_t i = 0; i < k; i++)
        moves |= sizes[i] % 64;
    enum gw_verdict v = GW_PASS;
    int reached_end = 0;
    for (;;) {
        size_t step = moves ? sizes[piece++ % k] % 64 : 1;
        size_t end = pos + step > n ? n : pos + step;
        struct gw_chunk ch = {.role = role, .stream_id = 0};
        ch.len = heldlen + (end - pos);
        ch.text = malloc(ch.len + 1);
        if (heldlen)
            memcpy(ch.text, held, heldlen);
        memcpy(ch.text + heldlen, text + pos, end - pos);
        ch.text[ch.len] = '\0';
        /* the last text comes with the end of the stream, or the end comes alone after it */
        ch.final = end == n && (reached_end || sizes[piece % k] % 2 == 0);
        reached_end = end == n;
        ch.offset = consumed;
        size_t in_len = ch.len;
        pos = end;
        v = gw_flt_patterns.on_resp_chunk(&tx, conf, ctx, &ch);
        free(held);
        held = NULL;
        CHECK(v != GW_ERROR);
        if (v == GW_BLOCK) {
            free(ch.text);
            break;
        }
        CHECK(ch.hold <= ch.len && (!ch.final || ch.hold == 0));
        size_t rel = ch.len - ch.hold;
        CHECK(memcmp(ch.text + rel, text + pos - ch.hold, ch.hold) == 0);
        CHECK(boundary(ch.text, ch.len, rel)); /* never a split character */
        out = realloc(out, outlen + rel + 1);
        memcpy(out + outlen, ch.text, rel);
        outlen += rel;
        consumed += in_len - ch.hold;
        heldlen = ch.hold;
        held = malloc(heldlen + 1);
        memcpy(held, ch.text + rel, heldlen);
        free(ch.text);
        if (ch.final)
            break;
    }
    free(held);

    if (block_at == UINT64_MAX) {
        CHECK(v != GW_BLOCK && !tx.blocked);
        CHECK(consumed == n);
    } else {
        CHECK(v == GW_BLOCK && tx.blocked == 1);
        CHECK(consumed <= block_at); /* nothing of the blocking match went out */
    }
    /* What went out is the whole-text redaction of what was consumed, and no span is cut, but one
     * long enough to be released in pieces when a block came while it went on. */
    for (size_t i = 0; i < ns; i++)
        CHECK(!(sp[i].from < consumed && sp[i].to > consumed) || sp[i].to - sp[i].from > CUT);
    if (!is_redaction(out, outlen, text, 0, consumed, sp, ns)) {
        fprintf(stderr, "fuzz_patterns: the %zu bytes released are not the redaction of %zu\n",
                outlen, consumed);
        abort();
    }
    /* The same events as the whole body. */
    if (block_at == UINT64_MAX) {
        CHECK(tx.nev == whole.nev);
        uint64_t *a = events(&tx), *b = events(&whole);
        CHECK(memcmp(a, b, (size_t)tx.nev * 3 * sizeof(*a)) == 0);
        free(a);
        free(b);
    }
    gw_flt_patterns.on_tx_end(&tx, conf, ctx);

    /* The same text as a request. */
    struct gw_tx rq = {0};
    struct gw_segment rseg = text_segment(role, text, n);
    struct gw_segments rsegs = {GW_DIR_REQUEST, &rseg, 1, 1};
    enum gw_verdict rv = gw_flt_patterns.on_req_body(&rq, conf, NULL, &rsegs);
    CHECK(rv == GW_PASS || rv == GW_REDACT || rv == GW_BLOCK);
    CHECK(rv != GW_PASS || (rseg.len == n && memcmp(rseg.text, text, n) == 0));
    CHECK(rv != GW_BLOCK || rq.blocked == 1);
    free(rseg.text);

    free(out);
    free(ctx);
    free(seg.text);
    free(sp);
    free(o.v);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    init_once();
    if (size < 2)
        return 0;
    size_t k = data[0] % 16 + 1;
    if (size < 1 + k)
        return 0;
    size_t n = size - 1 - k;
    char *text = sanitize(data + 1 + k, n);
    run(text, n, data + 1, k, GW_ROLE_ASSISTANT);
    run(text, n, data + 1, k, GW_ROLE_TOOL_CALL_ARGS);
    free(text);
    return 0;
}
