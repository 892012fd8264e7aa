/*
 * Unit tests for filters/flt_patterns.c: config errors, request/response redaction and blocking
 * with their events, and the streaming property: however a response is split into chunks, the
 * text released equals the whole-body redaction and no byte of a match leaves before it is
 * redacted.
 *
 * The chain's services (gw_tx_block, gw_emit, gw_segment_replace, ...) are stubbed here as weak
 * symbols over a fake struct gw_tx: the test links gwcore only for scan.c and flt_patterns.c, and
 * since every service a filter calls is defined here, the linker never pulls the chain's object
 * out of the archive (and if something else does, its strong symbols win without a clash).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "config/parse.h"
#include "filters/filter.h"

extern const struct gw_filter_ops gw_flt_patterns;

/* ---- stubs for the chain's services ---- */

#define MAX_EV 512

struct gw_tx {
    int blocked, status;
    char code[64], message[256];
    struct gw_event ev[MAX_EV];
    int nev;
};

#define WEAK __attribute__((weak))

WEAK void
gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message)
{
    tx->blocked++;
    tx->status = status;
    snprintf(tx->code, sizeof(tx->code), "%s", code);
    snprintf(tx->message, sizeof(tx->message), "%s", message);
}

WEAK void
gw_emit(struct gw_tx *tx, const struct gw_event *ev)
{
    assert_true(tx->nev < MAX_EV);
    tx->ev[tx->nev++] = *ev;
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
    (void)n;
    fail_msg("the patterns filter does not allocate from the tx");
    return NULL;
}

WEAK int
gw_cfg_error(struct gw_cfg_ctx *cc, const struct gw_cnode *node, const char *fmt, ...)
{
    if (!node)
        node = cc->node;
    int n = snprintf(cc->err, cc->errlen, "%s:%d:%d: ", cc->file, node ? node->line : 1,
                     node ? node->col : 1);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cc->err + n, cc->errlen - (size_t)n, fmt, ap);
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
    return strcmp(name, "tool") == 0 ? GW_ROLE_TOOL_RESULT : -1;
}

static int
utf8_boundary(const char *t, size_t len, size_t off)
{
    return off == len || ((unsigned char)t[off] & 0xC0) != 0x80;
}

/* Replaces [off, off+len) of *text (*tlen bytes, malloc'd, NUL-terminated) by rep. */
static int
splice(char **text, size_t *tlen, size_t off, size_t len, const char *rep, size_t rlen)
{
    if (off > *tlen || len > *tlen - off || !utf8_boundary(*text, *tlen, off) ||
        !utf8_boundary(*text, *tlen, off + len))
        return -1;
    size_t n = *tlen - len + rlen;
    char *t = malloc(n + 1);
    assert_non_null(t);
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
    if (splice(&s->text, &s->len, off, len, rep, rlen) < 0)
        return -1;
    s->edited = 1;
    return 0;
}

WEAK int
gw_chunk_replace(struct gw_chunk *c, size_t off, size_t len, const char *rep, size_t rlen)
{
    if (off > c->len - c->hold || len > c->len - c->hold - off)
        return -1; /* not in the held tail */
    return splice(&c->text, &c->len, off, len, rep, rlen);
}

/* ---- helpers ---- */

static char errbuf[512];

/* conf_new over JSON text: the conf, or NULL with errbuf set. */
static void *
load(const char *json)
{
    json_error_t je;
    json_t *j = json_loads(json, 0, &je);
    if (!j)
        fail_msg("bad test JSON: %s: %s", je.text, json);
    struct gw_cfg_ctx cc = {"test.yaml", NULL, errbuf, sizeof(errbuf), NULL};
    errbuf[0] = '\0';
    void *conf = (void *)1;
    int rc = gw_flt_patterns.conf_new(&cc, j, &conf);
    json_decref(j);
    if (rc < 0) {
        assert_null(conf);
        assert_true(errbuf[0] != '\0');
        return NULL;
    }
    assert_non_null(conf);
    return conf;
}

static void
load_fails(const char *json, const char *want)
{
    void *conf = load(json);
    if (conf) {
        gw_flt_patterns.conf_free(conf);
        fail_msg("config accepted: %s", json);
    }
    if (!strstr(errbuf, want))
        fail_msg("error '%s' lacks '%s'", errbuf, want);
    assert_ptr_equal(strstr(errbuf, "test.yaml:1:1: "), errbuf);
}

struct segs {
    struct gw_segments s;
    struct gw_segment v[8];
};

static void
segs_init(struct segs *ss, enum gw_direction dir)
{
    memset(ss, 0, sizeof(*ss));
    ss->s.dir = dir;
    ss->s.v = ss->v;
    ss->s.cap = 8;
}

static void
segs_add(struct segs *ss, enum gw_role role, int msg_index, const char *text)
{
    struct gw_segment *g = &ss->v[ss->s.n++];
    g->role = role;
    g->msg_index = msg_index;
    g->len = strlen(text);
    g->text = malloc(g->len + 1);
    memcpy(g->text, text, g->len + 1);
}

static void
segs_free(struct segs *ss)
{
    for (size_t i = 0; i < ss->s.n; i++)
        free(ss->v[i].text);
}

/* Whole-body redaction of one assistant response text: malloc'd. */
static char *
redact_whole(void *conf, const char *text, enum gw_verdict *v)
{
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_RESPONSE);
    segs_add(&ss, GW_ROLE_ASSISTANT, 0, text);
    *v = gw_flt_patterns.on_resp_body(&tx, conf, NULL, &ss.s);
    char *out = ss.v[0].text;
    ss.v[0].text = NULL;
    return out;
}

/*
 * Streams text through on_resp_chunk the way the chain does: each call gets the held tail
 * followed by the next piece (pieces end at cuts[], ascending), the final call flushes. The
 * released text is appended to out (malloc'd). Returns the last verdict; *consumed is how many
 * input bytes were released (or blocked on). Asserts the chunk contract on every call and, when
 * expect is given, that what has been released is always a prefix of it.
 */
static enum gw_verdict
stream_through(void *conf, struct gw_tx *tx, void *ctx, int stream_id, const char *text,
               const size_t *cuts, size_t ncuts, const char *expect, char **out, size_t *outlen,
               size_t *consumed)
{
    size_t n = strlen(text), pos = 0, heldlen = 0, in_released = 0;
    char *held = NULL;
    *out = calloc(1, 1);
    *outlen = 0;
    enum gw_verdict v = GW_PASS;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        assert_true(end >= pos && end <= n);
        struct gw_chunk ch = {0};
        ch.role = GW_ROLE_ASSISTANT;
        ch.stream_id = stream_id;
        ch.len = heldlen + (end - pos);
        ch.text = malloc(ch.len + 1);
        if (heldlen)
            memcpy(ch.text, held, heldlen);
        memcpy(ch.text + heldlen, text + pos, end - pos);
        ch.text[ch.len] = '\0';
        ch.final = k == ncuts;
        ch.offset = in_released;
        size_t in_len = ch.len;
        pos = end;
        v = gw_flt_patterns.on_resp_chunk(tx, conf, ctx, &ch);
        free(held);
        held = NULL;
        if (v == GW_BLOCK || v == GW_ERROR) {
            free(ch.text);
            break;
        }
        assert_true(ch.hold <= ch.len);
        if (ch.final)
            assert_int_equal(ch.hold, 0);
        size_t rel = ch.len - ch.hold;
        /* the held tail is raw input, never split inside a character unless it is invalid */
        assert_memory_equal(ch.text + rel, text + pos - ch.hold, ch.hold);
        assert_true(utf8_boundary(ch.text, ch.len, rel));
        *out = realloc(*out, *outlen + rel + 1);
        memcpy(*out + *outlen, ch.text, rel);
        *outlen += rel;
        (*out)[*outlen] = '\0';
        in_released += in_len - ch.hold;
        if (expect && (*outlen > strlen(expect) || memcmp(*out, expect, *outlen) != 0))
            fail_msg(
                "released '%s' is not a prefix of '%s' (call %zu, cuts[0] %zu, cuts[1] %zu, n %zu)",
                *out, expect, k, ncuts ? cuts[0] : 0, ncuts > 1 ? cuts[1] : 0, ncuts);
        heldlen = ch.hold;
        held = malloc(heldlen + 1);
        memcpy(held, ch.text + rel, heldlen);
        free(ch.text);
    }
    free(held);
    if (consumed)
        *consumed = in_released;
    return v;
}

/* Streams text split at the given cuts and checks the result against the whole-body redaction. */
static void
check_split(void *conf, const char *text, const char *expect, const size_t *cuts, size_t ncuts)
{
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    char *out;
    size_t outlen;
    enum gw_verdict v =
        stream_through(conf, &tx, ctx, 0, text, cuts, ncuts, expect, &out, &outlen, NULL);
    assert_true(v == GW_PASS || v == GW_REDACT);
    if (strcmp(out, expect) != 0) {
        char where[256] = "";
        size_t used = 0;
        for (size_t i = 0; i < ncuts && used < sizeof(where); i++)
            used += (size_t)snprintf(where + used, sizeof(where) - used, " %zu", cuts[i]);
        fail_msg("cuts%s:\n got  '%s'\n want '%s'", where, out, expect);
    }
    gw_flt_patterns.on_tx_end(&tx, conf, ctx);
    free(ctx);
    free(out);
}

/* Streams text split every way (each single cut, every byte its own piece, pairs of cuts) and
 * compares each with the whole-text result, which must be want. */
static void
check_all_splits(void *c, const char *text, const char *want)
{
    enum gw_verdict v;
    char *expect = redact_whole(c, text, &v);
    assert_string_equal(expect, want);
    size_t n = strlen(text);
    for (size_t a = 0; a <= n; a++)
        check_split(c, text, expect, &a, 1);
    size_t *every = malloc(n * sizeof(*every));
    for (size_t i = 0; i < n; i++)
        every[i] = i;
    check_split(c, text, expect, every, n);
    for (size_t a = 0; a <= n; a += 2)
        for (size_t b = a; b <= n; b += 7) {
            size_t cuts[2] = {a, b};
            check_split(c, text, expect, cuts, 2);
        }
    free(every);
    free(expect);
}

/* Loads a patterns config (JSON), streams text through it split every way (check_all_splits)
 * and frees it. */
static void
check_rules_all_splits(const char *json, const char *text, const char *want)
{
    void *c = load(json);
    if (!c)
        fail_msg("%s", errbuf);
    check_all_splits(c, text, want);
    gw_flt_patterns.conf_free(c);
}

/* ---- config ---- */

static void
test_conf_errors(void **state)
{
    (void)state;
    load_fails("[]", "expected a mapping");
    load_fails("{\"rules\": []}", "'rules' must be a non-empty list");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\"}], \"extra\": 1}",
               "unknown key 'extra'");
    load_fails("{\"rules\": [{\"regex\": \"x\"}]}", "rules[0]: missing 'id'");
    load_fails("{\"rules\": [{\"id\": \"a b\", \"regex\": \"x\"}]}", "rules[0]: 'id' must be");
    load_fails("{\"rules\": [{\"id\": 7, \"regex\": \"x\"}]}", "rules[0]: 'id' must be a string");
    load_fails("{\"rules\": [{\"id\": \"a\"}]}", "rules[0] ('a'): missing 'regex'");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\"}, {\"id\": \"b\", \"regex\": \"y\", "
               "\"flags\": \"ix\"}]}",
               "rules[1] ('b'): unknown flag 'x' in 'flags'");
    /* \b next to a non-ASCII byte never matches (Hyperscan's word boundaries are ASCII, and
       with flag u it refuses \b) */
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"\\\\b\xd0\xbf\xd0\xb0\"}]}",
               "rules[0] ('a'): \\b next to '\xd0\xbf' never matches (word boundaries are ASCII)");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\"}, {\"id\": \"b\", \"regex\": "
               "\"kim\xc9\x99\\\\b\", \"flags\": \"i\"}]}",
               "rules[1] ('b'): \\b next to '\xc9\x99' never matches");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"colour\": \"red\"}]}",
               "rules[0] ('a'): unknown key 'colour'");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"where\": [\"user\", \"robot\"]}]}",
               "rules[0] ('a'): unknown role 'robot' in 'where' (known: system, developer, user");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"where\": []}]}",
               "'where' must be a non-empty list");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"where\": \"user\"}]}",
               "'where' must be a non-empty list");
    load_fails(
        "{\"rules\": [{\"id\": \"a\", \"regex\": \"x\"}, {\"id\": \"a\", \"regex\": \"y\"}]}",
        "rules[1] ('a'): duplicate id (also rules[0])");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"direction\": \"up\"}]}",
               "'direction' must be request, response or both");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"action\": \"drop\"}]}",
               "'action' must be block, redact or event");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"replacement\": \"-\"}]}",
               "'replacement' applies to action redact only");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"action\": \"redact\", "
               "\"message\": \"m\"}]}",
               "'message' applies to action block only");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"severity\": 5}]}",
               "'severity' must be an integer from 1 to 4");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"severity\": \"high\"}]}",
               "'severity' must be an integer from 1 to 4");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"max_len\": 0}]}",
               "'max_len' must be an integer from 1 to 65536");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": 5}]}", "'regex' must be a string");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"category\": \"\"}]}",
               "'category' must not be empty");
    /* Hyperscan's reason, with the rule named */
    load_fails("{\"rules\": [{\"id\": \"ok\", \"regex\": \"x\"}, {\"id\": \"bad-re\", \"regex\": "
               "\"a(b\"}]}",
               "rule 'bad-re': Missing close parenthesis");
    load_fails("{\"rules\": [{\"id\": \"empty\", \"regex\": \"a*\"}]}",
               "rule 'empty': Pattern matches empty buffer");
}

static void
test_conf_ok(void **state)
{
    (void)state;
    void *c = load("{\"rules\": ["
                   "{\"id\": \"internal-hostname\", \"regex\": \"[a-z0-9-]+\\\\.corp\\\\.example"
                   "\\\\.com\", \"flags\": \"i\", \"where\": [\"user\", \"tool\"], \"direction\": "
                   "\"request\", \"action\": \"redact\", \"replacement\": \"[REDACTED:hostname]\", "
                   "\"category\": \"data_leak\", \"severity\": 2},"
                   "{\"id\": \"no-competitors\", \"regex\": \"acme\\\\s+corp\", \"flags\": \"i\", "
                   "\"direction\": \"both\", \"action\": \"block\", \"message\": \"nope\"},"
                   "{\"id\": \"audit-me\", \"regex\": \"password\", \"action\": \"event\"},"
                   "{\"id\": \"u.nicode_1\", \"regex\": \"^caf[éè]$\", \"flags\": \"usm\", "
                   "\"max_len\": 64}]}");
    if (!c)
        fail_msg("%s", errbuf);
    gw_flt_patterns.conf_free(c);
    gw_flt_patterns.conf_free(NULL);
}

/* ---- whole bodies ---- */

static const char *req_rules =
    "{\"rules\": ["
    "{\"id\": \"key\", \"regex\": \"secret-[a-z]+\", \"where\": [\"user\", \"tool_result\"], "
    "\"direction\": \"request\", \"action\": \"redact\", \"category\": \"secret\", \"severity\": "
    "3},"
    "{\"id\": \"tok\", \"regex\": \"[a-z]+-token\", \"direction\": \"request\", \"action\": "
    "\"redact\", \"replacement\": \"<T>\"},"
    "{\"id\": \"pw\", \"regex\": \"password\", \"action\": \"event\", \"category\": \"audit\"},"
    "{\"id\": \"acme\", \"regex\": \"acme\\\\s+corp\", \"flags\": \"i\", \"action\": \"block\", "
    "\"category\": \"policy\", \"severity\": 4},"
    "{\"id\": \"out\", \"regex\": \"internal only\", \"direction\": \"response\", \"action\": "
    "\"block\", \"message\": \"Not for you\"}"
    "]}";

static void
test_request_redaction_overlap(void **state)
{
    (void)state;
    void *c = load(req_rules);
    assert_non_null(c);
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_SYSTEM, 0, "system secret-abc-token stays: not in 'where' of key");
    segs_add(&ss, GW_ROLE_USER, 1, "my secret-abc-token and secret-x, password ok");
    /* internal only is a response rule */
    segs_add(&ss, GW_ROLE_TOOL_RESULT, 2, "internal only: secret-zz");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_REDACT);
    /* system: only "tok" applies (all roles) */
    assert_string_equal(ss.v[0].text, "system secret-<T> stays: not in 'where' of key");
    /* secret-abc [3,13) and abc-token [10,19) overlap: one span, the leftmost rule's replacement;
     * secret-x is separate */
    assert_string_equal(ss.v[1].text, "my [REDACTED:key] and [REDACTED:key], password ok");
    assert_string_equal(ss.v[2].text, "internal only: [REDACTED:key]");
    assert_int_equal(tx.blocked, 0);

    /* events: per rule and merged span, never the text */
    assert_int_equal(tx.nev, 6);
    int seen_tok_user = 0, seen_pw = 0;
    for (int i = 0; i < tx.nev; i++) {
        const struct gw_event *e = &tx.ev[i];
        assert_string_equal(e->filter, "patterns");
        if (strcmp(e->rule_id, "tok") == 0 && e->msg_index == 1) {
            assert_int_equal(e->offset, 10);
            assert_int_equal(e->length, 9);
            assert_string_equal(e->action, "redact");
            assert_string_equal(e->category, "custom");
            assert_int_equal(e->severity, 2);
            seen_tok_user = 1;
        }
        if (strcmp(e->rule_id, "pw") == 0) {
            assert_string_equal(e->action, "event");
            assert_string_equal(e->category, "audit");
            assert_int_equal(e->role, GW_ROLE_USER);
            assert_int_equal(e->offset, 34);
            assert_int_equal(e->length, 8);
            seen_pw = 1;
        }
        if (strcmp(e->rule_id, "key") == 0) {
            assert_int_equal(e->severity, 3);
            assert_string_equal(e->category, "secret");
            assert_true(e->role == GW_ROLE_USER || e->role == GW_ROLE_TOOL_RESULT);
        }
    }
    assert_true(seen_tok_user && seen_pw);
    segs_free(&ss);

    /* overlapping matches of one rule merge too; touching ones do not */
    gw_flt_patterns.conf_free(c);
    c = load("{\"rules\": [{\"id\": \"d\", \"regex\": \"[0-9]{3}\", \"action\": \"redact\", "
             "\"replacement\": \"#\"}]}");
    assert_non_null(c);
    struct gw_tx tx2 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "a 12345 b 123 c 1234");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx2, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, "a # b # c #");
    assert_int_equal(tx2.nev, 3);
    assert_int_equal(tx2.ev[0].offset, 2);
    assert_int_equal(tx2.ev[0].length, 5);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
}

static void
test_block_verdicts(void **state)
{
    (void)state;
    void *c = load(req_rules);
    assert_non_null(c);

    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "secret-abc is fine");
    segs_add(&ss, GW_ROLE_USER, 3, "talk about ACME   Corp please");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_BLOCK);
    assert_int_equal(tx.blocked, 1);
    assert_int_equal(tx.status, 403);
    assert_string_equal(tx.code, "policy_violation");
    assert_string_equal(tx.message, "Request blocked by policy rule 'acme'");
    /* blocked: nothing edited, only the block is reported */
    assert_string_equal(ss.v[0].text, "secret-abc is fine");
    assert_int_equal(tx.nev, 1);
    const struct gw_event *e = &tx.ev[0];
    assert_string_equal(e->filter, "patterns");
    assert_string_equal(e->rule_id, "acme");
    assert_string_equal(e->category, "policy");
    assert_string_equal(e->action, "block");
    assert_int_equal(e->severity, 4);
    assert_int_equal(e->role, GW_ROLE_USER);
    assert_int_equal(e->msg_index, 3);
    /* "ACME   Corp" is [11, 22); a block rule is scanned without start of match: the event covers
     * what is certain, the shortest match ("acme corp", 9 bytes) ending where it ends */
    assert_int_equal(e->offset, 13);
    assert_int_equal(e->length, 9);
    segs_free(&ss);

    /* responses: output_blocked, the configured message; request-only rules stay quiet */
    struct gw_tx tx2 = {0};
    segs_init(&ss, GW_DIR_RESPONSE);
    segs_add(&ss, GW_ROLE_ASSISTANT, 0, "this is internal only, secret-abc");
    assert_int_equal(gw_flt_patterns.on_resp_body(&tx2, c, NULL, &ss.s), GW_BLOCK);
    assert_int_equal(tx2.status, 403);
    assert_string_equal(tx2.code, "output_blocked");
    assert_string_equal(tx2.message, "Not for you");
    assert_int_equal(tx2.nev, 1);
    assert_string_equal(tx2.ev[0].rule_id, "out");
    segs_free(&ss);

    struct gw_tx tx3 = {0};
    segs_init(&ss, GW_DIR_RESPONSE);
    segs_add(&ss, GW_ROLE_ASSISTANT, 0, "acme corp");
    assert_int_equal(gw_flt_patterns.on_resp_body(&tx3, c, NULL, &ss.s), GW_BLOCK);
    assert_string_equal(tx3.message, "Response blocked by policy rule 'acme'");
    segs_free(&ss);

    /* nothing found: PASS, no events */
    struct gw_tx tx4 = {0};
    segs_init(&ss, GW_DIR_RESPONSE);
    segs_add(&ss, GW_ROLE_ASSISTANT, 0, "secret-abc-token is a request rule");
    assert_int_equal(gw_flt_patterns.on_resp_body(&tx4, c, NULL, &ss.s), GW_PASS);
    assert_int_equal(tx4.nev, 0);
    assert_int_equal(ss.v[0].edited, 0);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
}

/* ---- streamed responses ---- */

static const char *stream_rules =
    "{\"rules\": ["
    "{\"id\": \"aws\", \"regex\": \"AKIA[A-Z0-9]{16}\", \"action\": \"redact\"},"
    "{\"id\": \"sk\", \"regex\": \"sk-[A-Za-z0-9]{8,24}\", \"action\": \"redact\", "
    "\"replacement\": \"[KEY]\"},"
    "{\"id\": \"word\", \"regex\": \"\\\\Bsecret\\\\b\", \"action\": \"redact\", \"replacement\": "
    "\"*\"},"
    "{\"id\": \"start\", \"regex\": \"^Hi\", \"action\": \"redact\", \"replacement\": \"Hey\"},"
    "{\"id\": \"end\", \"regex\": \"bye\\\\.$\", \"action\": \"redact\", \"replacement\": "
    "\"ciao\"},"
    "{\"id\": \"uni\", \"regex\": \"caf[éè]\", \"flags\": \"u\", \"max_len\": 32, "
    "\"action\": \"redact\", \"replacement\": \"<é>\"},"
    "{\"id\": \"run\", \"regex\": \"z{2,3}\", \"action\": \"redact\", \"replacement\": \"Z\"},"
    "{\"id\": \"pw\", \"regex\": \"password\", \"action\": \"event\"},"
    "{\"id\": \"ask\", \"regex\": \"secret\", \"direction\": \"request\", \"action\": \"block\"}"
    "]}";

static const char *stream_text =
    "Hi! Your key is AKIAABCDEFGHIJKLMNOP, and sk-abcDEF123456 is topsecret; Hi again, a "
    "password (not secret) for café crème, zzzzzzz and zz, bye.";

static void
test_stream_every_split(void **state)
{
    (void)state;
    void *c = load(stream_rules);
    assert_non_null(c);
    enum gw_verdict v;
    char *expect = redact_whole(c, stream_text, &v);
    assert_int_equal(v, GW_REDACT);
    assert_string_equal(expect, "Hey! Your key is [REDACTED:aws], and [KEY] is top*; Hi again, a "
                                "password (not secret) for <é> crème, Z and Z, ciao");

    /* in one piece, in two pieces at every byte, byte by byte, in three pieces */
    check_split(c, stream_text, expect, NULL, 0);
    check_all_splits(c, stream_text, expect);
    free(expect);
    gw_flt_patterns.conf_free(c);
}

/* Events of a stream: one per merged span, offsets in the stream, however it is split. */
/* validate and entropy: only matches whose text passes count, in requests and in streams split
 * anywhere; a failing match leaves no event. */
static const char *check_rules =
    "{\"rules\": ["
    "{\"id\": \"card\", \"regex\": \"\\\\b[0-9][0-9 -]{10,21}[0-9]\\\\b\", "
    "\"action\": \"redact\", \"validate\": \"card\", \"replacement\": \"[CARD]\"},"
    "{\"id\": \"ip\", \"regex\": \"\\\\b[0-9]{1,3}(\\\\.[0-9]{1,3}){3}\\\\b\", "
    "\"action\": \"redact\", \"validate\": \"ipv4\", \"replacement\": \"[IP]\"},"
    "{\"id\": \"tok\", \"regex\": \"tok_[A-Za-z0-9]{12}\", \"action\": \"redact\", "
    "\"entropy\": 3.0, \"replacement\": \"[TOK]\"}]}";

static void
test_validate_entropy(void **state)
{
    (void)state;
    void *c = load(check_rules);
    assert_non_null(c);
    const char *text = "pay 4111 1111 1111 1111 not 4111 1111 1111 1112; host 10.0.0.7 not "
                       "10.0.0.999; tok_Zq8Lm3Xv9Rt2 but tok_xxxxxxxxxxxx.";
    const char *want = "pay [CARD] not 4111 1111 1111 1112; host [IP] not 10.0.0.999; [TOK] "
                       "but tok_xxxxxxxxxxxx.";
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, text);
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, want);
    assert_int_equal(tx.nev, 3); /* the failing matches leave no event */
    segs_free(&ss);

    /* streamed: the same, however it is split */
    check_all_splits(c, text, want);
    gw_flt_patterns.conf_free(c);

    /* errors: an unknown validator, a bad entropy */
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"action\": \"redact\", "
               "\"validate\": \"crc\"}]}",
               "'validate' must be one of luhn, card, iban");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"action\": \"redact\", "
               "\"entropy\": 9}]}",
               "'entropy' must be a number of bits per byte in (0, 8]");
    /* a checked block or event rule is compiled with match starts too: its events are exact */
    c = load("{\"rules\": [{\"id\": \"pan\", \"regex\": \"\\\\b[0-9]{12,19}\\\\b\", "
             "\"action\": \"event\", \"validate\": \"luhn\"}]}");
    assert_non_null(c);
    struct gw_tx tx1 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "4111111111111112 no, 4111111111111111 yes");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx1, c, NULL, &ss.s), GW_PASS);
    assert_int_equal(tx1.nev, 1);
    assert_int_equal(tx1.ev[0].offset, 21);
    assert_int_equal(tx1.ev[0].length, 16);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
    /* a fixed-width block rule can be validated */
    c = load("{\"rules\": [{\"id\": \"ssn\", \"regex\": \"[0-9]{3}-[0-9]{2}-[0-9]{4}\", "
             "\"action\": \"block\", \"validate\": \"ssn\"}]}");
    assert_non_null(c);
    struct gw_tx tx2 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "ids 000-12-3456 and 666-12-3456 are not real");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx2, c, NULL, &ss.s), GW_PASS);
    assert_int_equal(tx2.nev, 0);
    segs_free(&ss);
    struct gw_tx tx3 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "mine is 536-22-8190");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx3, c, NULL, &ss.s), GW_BLOCK);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
}

/* context (a word near before the match), keywords (in the match), allow (placeholders out) */
static void
test_context_keywords_allow(void **state)
{
    (void)state;
    void *c = load("{\"rules\": ["
                   "{\"id\": \"dob\", \"regex\": \"\\\\b[0-9]{4}-[0-9]{2}-[0-9]{2}\\\\b\", "
                   "\"action\": \"redact\", \"context\": [\"Date of birth\", \"DOB\", \"born\"], "
                   "\"context_window\": 24, \"replacement\": \"[DOB]\"},"
                   "{\"id\": \"key\", \"regex\": \"(acme|zeta)_[a-z0-9]{8}\", \"action\": "
                   "\"redact\", \"keywords\": [\"ACME\"], \"replacement\": \"[KEY]\"},"
                   "{\"id\": \"mail\", \"regex\": \"[a-z]+@[a-z]+\\\\.com\", \"action\": "
                   "\"redact\", \"allow\": [\"@example.com\"], \"replacement\": \"[MAIL]\"}]}");
    if (!c)
        fail_msg("%s", errbuf);
    const char *text = "Born: 1990-01-31, order date 2024-05-06; dob 1985-12-01, the adobe "
                       "2000-01-01. acme_ab12cd34 zeta_ab12cd34 mail bob@corp.com or "
                       "bob@example.com; date of birth\n\n1977-07-07";
    const char *want = "Born: [DOB], order date 2024-05-06; dob [DOB], the adobe 2000-01-01. [KEY] "
                       "zeta_ab12cd34 mail [MAIL] or bob@example.com; date of birth\n\n[DOB]";
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, text);
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, want);
    assert_int_equal(tx.nev, 5); /* the matches left alone leave no event */
    segs_free(&ss);
    check_all_splits(c, text, want);
    gw_flt_patterns.conf_free(c);

    /* allow judges the longest match from a start: a placeholder whose first characters do not
     * hold the allowed word yet is still a placeholder */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"tok\", \"regex\": \"token=[A-Za-z0-9~]{8,40}\", "
        "\"action\": \"redact\", \"entropy\": 3.0, \"allow\": [\"XXXX\"], "
        "\"replacement\": \"[T]\"}]}",
        "a token=sha256~XXXXXXXXXXXXXXXXXXXX b token=q8Zk2LmW9xV4 c token=qqqqqqqqqqqq",
        "a token=sha256~XXXXXXXXXXXXXXXXXXXX b [T] c token=qqqqqqqqqqqq");

    /* allow_key: the key name a match begins inside (the letters, digits, _ . - right before it)
     * holds an allowed word; in a stream it is read from what was released before, so it is not
     * held back: byte by byte, "csrf_" is gone before "token" arrives */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"tok\", \"regex\": \"token[=:] ?[A-Za-z0-9]{12}\", "
        "\"flags\": \"i\", \"action\": \"redact\", \"allow_key\": [\"CSRF\", \"public\"], "
        "\"replacement\": \"[T]\"}]}",
        "a csrf_token=q8Zk2LmW9xV4 b my_token=q8Zk2LmW9xV4 c X-CSRF-Token: q8Zk2LmW9xV4 d "
        "publicToken=q8Zk2LmW9xV4 e public token=q8Zk2LmW9xV4 f token=q8Zk2LmW9xV4 g "
        "csrf.middleware.x-token=q8Zk2LmW9xV4",
        "a csrf_token=q8Zk2LmW9xV4 b my_[T] c X-CSRF-Token: q8Zk2LmW9xV4 d "
        "publicToken=q8Zk2LmW9xV4 e public [T] f [T] g csrf.middleware.x-token=q8Zk2LmW9xV4");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"allow_key\": \"csrf\"}]}",
               "'allow_key' must be a non-empty list of words");

    /* ... and, for the first member of a JSON object, the key of that object: "csrf": {"token":
     * ...} is allowed, "auth": {"token": ...} is not, nor a token after another member */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"tok\", \"regex\": \"token\\\": ?\\\"[A-Za-z0-9]{12}\", "
        "\"flags\": \"i\", \"action\": \"redact\", \"allow_key\": [\"CSRF\"], "
        "\"replacement\": \"[T]\"}]}",
        "{\"csrf\": {\"token\": \"q8Zk2LmW9xV4\"}, \"auth\": {\"token\": \"q8Zk2LmW9xV4\"},\n"
        "\"x-csrf\" :\n  {\n    \"token\": \"q8Zk2LmW9xV4\"}, \"csrf2\": {\"id\": 1, \"token\": "
        "\"q8Zk2LmW9xV4\"}, {\"token\": \"q8Zk2LmW9xV4\"}}",
        "{\"csrf\": {\"token\": \"q8Zk2LmW9xV4\"}, \"auth\": {\"[T]\"},\n"
        "\"x-csrf\" :\n  {\n    \"token\": \"q8Zk2LmW9xV4\"}, \"csrf2\": {\"id\": 1, \"[T]\"}, "
        "{\"[T]\"}}");

    /* a rule's matches that overlap from different starts are judged one by one, streamed as in
     * a whole body: merged before their check, "123-456-555" would be one match and redacted
     * whole, the allowed "456-555" with it */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"pair\", \"regex\": \"[0-9]{3}-[0-9]{3}\", "
        "\"action\": \"redact\", \"allow\": [\"555\"], \"replacement\": \"[P]\"}]}",
        "call 123-456-555 or 555-123 or 987-654-321 now", "call [P]-555 or 555-123 or [P] now");

    /* expand_left: a match from '@' widened over the local part, to a letter or digit; none: no
     * match */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"mail\", \"regex\": \"@[a-z]+\\\\.com\", \"action\": "
        "\"redact\", \"expand_left\": \"[A-Za-z0-9._+-]{1,8}\", \"replacement\": "
        "\"[M]\"}]}",
        "to jane.doe@corp.com, .x@corp.com, @corp.com and averyverylongname@corp.com",
        "to [M], .[M], @corp.com and averyvery[M]");
    /* standalone: four numbers of a longer dotted run (OID, version) are no address; a digit
     * joined by '.' counts, a letter after it (a hostname) or the end of a sentence does not */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"ip\", \"regex\": "
        "\"\\\\b(?:[0-9]{1,3}\\\\.){3}[0-9]{1,3}\\\\b\", \"action\": \"redact\", "
        "\"standalone\": \".\", \"replacement\": \"[IP]\"}]}",
        "OID 1.3.6.1.4.1.311 v 1.2.3.4.5 at 10.1.2.3.nip.io from 198.51.100.7. "
        "(5.6.7.8) 1.2.3.4",
        "OID 1.3.6.1.4.1.311 v 1.2.3.4.5 at [IP].nip.io from [IP]. ([IP]) [IP]");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"standalone\": \"ab\"}]}",
               "'standalone' must be 1 to 8 punctuation characters");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"standalone\": \"\"}]}",
               "'standalone' must be 1 to 8 punctuation characters");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"@x\", \"expand_left\": \"a-z\"}]}",
               "'expand_left' must be a class such as");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"@x\", \"expand_left\": "
               "\"[a-z]{1,0}\"}]}",
               "'expand_left' must be a class such as");

    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"context\": []}]}",
               "'context' must be a non-empty list of words");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"allow\": [7]}]}",
               "'allow' must be a list of words of 1 to 64 bytes");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"context_window\": 5}]}",
               "'context_window' needs 'context'");
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"context\": [\"k\"], "
               "\"context_window\": 0}]}",
               "'context_window' must be an integer from 1 to 1024");
}

/* Actions per data type and direction, masks. */
static const char *typed_rules =
    "\"rules\": ["
    "{\"id\": \"mail\", \"regex\": \"[a-z]+@[a-z]+\\\\.com\", \"category\": \"pii:email\", "
    "\"action\": \"redact\"},"
    "{\"id\": \"card\", \"regex\": \"\\\\b[0-9]{4}(-?[0-9]{4}){3}\\\\b\", \"category\": "
    "\"pii:card\", \"validate\": \"card\", \"action\": \"redact\"},"
    "{\"id\": \"tok\", \"regex\": \"tok_[a-z0-9]{8}\", \"category\": \"secret\", \"action\": "
    "\"redact\"},"
    "{\"id\": \"word\", \"regex\": \"confidential\", \"action\": \"event\", \"replacement\": "
    "\"[C]\"}]";

static void
test_type_actions(void **state)
{
    (void)state;
    char json[2048];
    snprintf(json, sizeof(json),
             "{%s, \"request\": \"event\", \"response\": \"redact\", \"types\": {\"card\": "
             "{\"request\": \"block\", \"mask\": true, \"keep\": 4}, \"tok\": \"off\"}}",
             typed_rules);
    void *c = load(json);
    if (!c)
        fail_msg("%s", errbuf);

    /* requests: a card blocks, naming the type; e-mail only reported; tok off */
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "bob@corp.com pays with 4111-1111-1111-1111");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_BLOCK);
    assert_int_equal(tx.status, 403);
    assert_string_equal(tx.message, "Request blocked: it contains personal data (card)");
    segs_free(&ss);
    struct gw_tx tx2 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "bob@corp.com, confidential, tok_abcd1234, 4111-1111-1111-1112");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx2, c, NULL, &ss.s), GW_PASS);
    assert_int_equal(tx2.nev, 2);
    assert_string_equal(tx2.ev[0].category, "pii:email");
    assert_string_equal(tx2.ev[0].action, "event");
    assert_string_equal(tx2.ev[1].rule_id, "word");
    assert_string_equal(tx2.ev[1].action, "event");
    segs_free(&ss);

    /* responses: redacted as [REDACTED:<type>], the card masked; the event rule redacts too,
     * with its replacement; tok is off; whole and streamed alike */
    const char *text = "bob@corp.com pays with 4111-1111-1111-1111 (confidential) tok_abcd1234";
    const char *want = "[REDACTED:email] pays with ****-****-****-1111 ([C]) tok_abcd1234";
    check_all_splits(c, text, want);
    gw_flt_patterns.conf_free(c);

    /* the filter's mask for every type; keep from the type */
    snprintf(json, sizeof(json),
             "{%s, \"mask\": true, \"types\": {\"card\": {\"keep\": 2}, \"email\": {\"request\": "
             "\"redact\", \"response\": \"off\"}}}",
             typed_rules);
    c = load(json);
    if (!c)
        fail_msg("%s", errbuf);
    struct gw_tx tx3 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "bob@corp.com 4111111111111111 tok_abcd1234");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx3, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, "***@****.*** **************11 ***_********");
    segs_free(&ss);
    check_all_splits(c, "bob@corp.com 4111111111111111", "bob@corp.com **************11");
    gw_flt_patterns.conf_free(c);

    /* a mask in JSON text (tool-call arguments) keeps escapes whole; \u escapes are masked */
    c = load("{\"rules\": [{\"id\": \"pw\", \"regex\": \"pw=[^\\\"]{1,30}x\", \"action\": "
             "\"redact\"}], \"mask\": true}");
    assert_non_null(c);
    struct gw_tx tx4 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_TOOL_CALL_ARGS, 0, "{\"q\":\"pw=a\\nb\\u00e9c\\\\x\"}");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx4, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, "{\"q\":\"**=*\\n***\\\\*\"}");
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);

    /* one rule, split in two by its directions: the response half is scanned too */
    check_rules_all_splits(
        "{\"rules\": [{\"id\": \"ssn\", \"regex\": \"[0-9]{3}-[0-9]{2}-[0-9]{4}\", "
        "\"category\": \"pii:ssn\", \"validate\": \"ssn\"}], \"request\": \"event\", "
        "\"response\": \"redact\"}",
        "ssn 536-22-1234 ok", "ssn [REDACTED:ssn] ok");

    snprintf(json, sizeof(json), "{%s, \"types\": {\"nope\": \"off\"}}", typed_rules);
    load_fails(json, "types: no rule has type 'nope'");
    snprintf(json, sizeof(json), "{%s, \"request\": \"smash\"}", typed_rules);
    load_fails(json, "'request' must be block, redact, event or off");
    snprintf(json, sizeof(json), "{%s, \"types\": {\"card\": {\"mask\": 1}}}", typed_rules);
    load_fails(json, "types: card: 'mask' must be true or false");
    snprintf(json, sizeof(json), "{%s, \"types\": {\"card\": \"hide\"}}", typed_rules);
    load_fails(json, "types: card: an action is block, redact, event or off, not 'hide'");
    snprintf(json, sizeof(json), "{%s, \"keep\": 99}", typed_rules);
    load_fails(json, "'keep' must be an integer from 0 to 64");
    /* without overrides a replacement on an event rule is still a mistake */
    load_fails("{\"rules\": [{\"id\": \"a\", \"regex\": \"x\", \"action\": \"event\", "
               "\"replacement\": \"y\"}]}",
               "'replacement' applies to action redact only");
}

/* Rules that begin with a literal are held back only from where it occurs in a stream (or where
 * its beginning ends the text), not by their max_len everywhere. */
static void
test_stream_anchored_hold(void **state)
{
    (void)state;
    void *c = load("{\"rules\": ["
                   "{\"id\": \"gh\", \"regex\": \"\\\\bghp_[A-Za-z0-9]{36}\\\\b\", \"action\": "
                   "\"redact\"},"
                   "{\"id\": \"key\", \"regex\": \"-----BEGIN (?:RSA |)PRIVATE KEY-----"
                   "[A-Za-z0-9+/=\\\\s]{64,}-----END (?:RSA |)PRIVATE KEY-----\", \"action\": "
                   "\"redact\", \"max_len\": 4096},"
                   "{\"id\": \"pw\", \"regex\": \"(?:password|passwd)=[^ ]{4,20}\", \"flags\": "
                   "\"i\", \"action\": \"redact\"},"
                   "{\"id\": \"dd\", \"regex\": \"\\\\b(?:dd|datadog)[_-]?api[_-]?key *= "
                   "*[a-f0-9]{32}\", \"flags\": \"i\", \"action\": \"redact\"}]}");
    if (!c)
        fail_msg("%s", errbuf);
    static const struct {
        const char *text;
        size_t hold;
    } cases[] = {
        {"hello world, nothing here", 0},
        {"text ending in gh", 2}, /* partial ghp_ */
        {"see ghp_abc", 7},       /* from ghp_ */
        {"a -----BEGIN RSA PRIVATE KEY-----\nAAAA", 36},
        {"x ----", 4},     /* partial -----BEGIN */
        {"the PassWo", 6}, /* caseless */
        {"my DD_api", 6},  /* a group, an optional class */
        {"the DATAD", 5},
        {"see ghp_0123456789abcdefghij0123456789ABCDEF done", 0}, /* matched and redacted */
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct gw_tx tx = {0};
        void *ctx = calloc(1, gw_flt_patterns.ctx_size);
        struct gw_chunk ch = {.role = GW_ROLE_ASSISTANT, .len = strlen(cases[k].text)};
        ch.text = malloc(ch.len + 1);
        memcpy(ch.text, cases[k].text, ch.len + 1);
        enum gw_verdict v = gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch);
        assert_true(v == GW_PASS || v == GW_REDACT);
        if (ch.hold != cases[k].hold)
            fail_msg("'%s': hold %zu, want %zu", cases[k].text, ch.hold, cases[k].hold);
        gw_flt_patterns.on_tx_end(&tx, c, ctx);
        free(ctx);
        free(ch.text);
    }
    /* and whatever the split, the text is the whole body's */
    const char *text =
        "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9"
        "Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQJAIJLixBy2qpFoS4Dsl"
        "\n-----END RSA PRIVATE KEY-----\nand ghp_0123456789abcdefghij0123456789ABCDEF, "
        "Password=hunter22 ok";
    check_all_splits(c, text, "key:\n[REDACTED:key]\nand [REDACTED:gh], [REDACTED:pw] ok");
    gw_flt_patterns.conf_free(c);

    /* a \xHH escape is one byte of the anchor ("Acme_"), its hex digits are not literals */
    check_rules_all_splits("{\"rules\": [{\"id\": \"acme\", \"regex\": \"\\\\x41cme_[0-9]{8}\", "
                           "\"action\": \"redact\"}]}",
                           "see Acme_12345678 and A41cme_ too",
                           "see [REDACTED:acme] and A41cme_ too");

    /* a top-level alternation has no common beginning: held by its max_len (3) + 1 */
    c = load("{\"rules\": [{\"id\": \"alt\", \"regex\": \"abc|[0-9]{2}x\", \"action\": "
             "\"redact\"}]}");
    assert_non_null(c);
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    char t[] = "hello world";
    struct gw_chunk ch = {.role = GW_ROLE_ASSISTANT, .text = t, .len = 11};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    assert_int_equal(ch.hold, 4);
    gw_flt_patterns.on_tx_end(&tx, c, ctx);
    free(ctx);
    gw_flt_patterns.conf_free(c);
}

/* rules_file: rules from a YAML file (before the inline ones), errors with the file's positions */
static char *
write_tmp(const char *text)
{
    static char path[64];
    snprintf(path, sizeof(path), "/tmp/pc-rules-XXXXXX");
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs(text, f);
    fclose(f);
    return path;
}

static void
load_file_fails(const char *yaml, const char *inline_rules, const char *want)
{
    char *path = write_tmp(yaml), json[512];
    snprintf(json, sizeof(json), "{\"rules_file\": \"%s\"%s%s}", path, inline_rules ? ", " : "",
             inline_rules ? inline_rules : "");
    void *c = load(json);
    unlink(path);
    if (c) {
        gw_flt_patterns.conf_free(c);
        fail_msg("rules file accepted: %s", yaml);
    }
    if (!strstr(errbuf, want))
        fail_msg("error '%s' lacks '%s'", errbuf, want);
}

static void
test_rules_file(void **state)
{
    (void)state;
    char *path = write_tmp("version: 1\n"
                           "rules:\n"
                           "  - id: gh\n"
                           "    regex: 'ghp_[A-Za-z0-9]{36}'\n"
                           "    action: redact\n"
                           "    replacement: '[GH]'\n"
                           "    match: ['token ghp_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa here']\n"
                           "    nomatch: ['ghp_short']\n");
    char json[256];
    snprintf(json, sizeof(json),
             "{\"rules_file\": \"%s\", \"rules\": [{\"id\": \"x\", \"regex\": \"XYZZY\", "
             "\"action\": \"redact\", \"replacement\": \"[X]\"}]}",
             path);
    void *c = load(json);
    assert_non_null(c);
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "a ghp_0123456789abcdefghijABCDEFGHIJ012345 b XYZZY");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, "a [GH] b [X]");
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
    /* the file alone is enough */
    snprintf(json, sizeof(json), "{\"rules_file\": \"%s\"}", path);
    c = load(json);
    assert_non_null(c);
    gw_flt_patterns.conf_free(c);
    unlink(path);

    load_fails("{\"rules_file\": \"/nonexistent/rules.yaml\"}",
               "rules_file /nonexistent/rules.yaml: No such file");
    load_fails("{\"rules_file\": 7}", "'rules_file' must be a file path");
    load_file_fails("rules: [unclosed\n", NULL, "patterns: rules_file: /tmp/pc-rules-");
    load_file_fails("version: 2\nrules: [{id: a, regex: b}]\n", NULL, ":1:10: 'version' must be 1");
    load_file_fails("rules: [{id: a, regex: b}]\nextra: 1\n", NULL,
                    ":2:1: unknown key 'extra' (known: version, allow, rules)");
    load_file_fails("allow: [7]\nrules: [{id: a, regex: b}]\n", NULL,
                    ":1:8: 'allow' must be a list of words of 1 to 64 bytes");
    /* the file's allow list keeps documented placeholders out of every rule of the file */
    char *ap = write_tmp("version: 1\nallow: [EXAMPLE, put_your]\nrules:\n"
                         "  - {id: key, regex: 'AKIA[A-Z0-9]{16}', action: redact}\n"
                         "  - {id: tok, regex: 'token=[A-Za-z0-9_~]{8,40}', action: redact}\n");
    snprintf(json, sizeof(json), "{\"rules_file\": \"%s\"}", ap);
    check_rules_all_splits(
        json, "AKIAIOSFODNN7EXAMPLE AKIAQX7WMB2ZL4JHNT5C token=sha256~abc_PUT_YOUR_TOKEN x",
        "AKIAIOSFODNN7EXAMPLE [REDACTED:key] token=sha256~abc_PUT_YOUR_TOKEN x");
    unlink(ap);
    /* ... and is read in the rest of the value right after a match too (to white space, a quote
     * or a separator): a placeholder whose random-looking start alone passes the entropy floor, a
     * value shown cut short; a word after a separator is not part of the value, and a rule's own
     * allow list reads the match alone */
    ap = write_tmp("version: 1\nallow: [xxxxxxxx, redacted]\nrules:\n"
                   "  - {id: tok, regex: 'token=[A-Za-z0-9_~]{8,40}', entropy: 3.2, action: redact,"
                   " replacement: '[T]'}\n"
                   "  - {id: pair, regex: '[0-9]{3}-[0-9]{3}', allow: ['555'], action: redact,"
                   " replacement: '[P]'}\n");
    snprintf(json, sizeof(json), "{\"rules_file\": \"%s\"}", ap);
    check_rules_all_splits(
        json,
        "a token=sha256~_xxxxxx_xxxxxxxxxxxxxxxxxxxx b token=q8Zk2LmW9xV4..[Redacted] "
        "c token=q8Zk2LmW9xV4, redacted d token=Zq8Lm3Xv9Rt2\"xxxxxxxx\" e 123-456-555",
        "a token=sha256~_xxxxxx_xxxxxxxxxxxxxxxxxxxx b token=q8Zk2LmW9xV4..[Redacted] "
        "c [T], redacted d [T]\"xxxxxxxx\" e [P]-555");
    unlink(ap);
    load_file_fails("rules: []\n", NULL, "'rules' must be a non-empty list");
    /* a rule's error points at that rule in the file */
    load_file_fails("rules:\n  - {id: a, regex: b}\n  - {id: c, regex: d, action: smash}\n", NULL,
                    ":3:5: patterns: rules[1] ('c'): ");
    /* ... so does a Hyperscan error */
    load_file_fails("rules:\n  - {id: a, regex: b}\n  - {id: bad, regex: '(unclosed'}\n", NULL,
                    ":3:5: patterns: rule 'bad': ");
    /* an inline rule may not reuse a file rule's id */
    load_file_fails("rules:\n  - {id: a, regex: b}\n",
                    "\"rules\": [{\"id\": \"a\", \"regex\": \"c\"}]",
                    "duplicate id (also rules[0] of /tmp/pc-rules-");
}

/* The shipped secrets pack (config/rules/secrets.yaml): it loads, has the coverage the README
 * promises, and every rule redacts its `match` examples and leaves its `nomatch` ones alone. */
#define SECRETS "config/rules/secrets.yaml"

static int
fired(const struct gw_tx *tx, const char *id)
{
    for (int i = 0; i < tx->nev; i++)
        if (strcmp(tx->ev[i].rule_id, id) == 0)
            return 1;
    return 0;
}

/* Loads a shipped rules file and checks every rule's match / nomatch examples; then that every
 * name of need occurs in some rule's id (or, with types, in some rule's category). Returns the
 * number of failures; *nrules and *nexamples are set. */
static size_t
check_pack(const char *path, const char *const *need, int types, size_t *nrules, size_t *nexamples)
{
    char json[256];
    snprintf(json, sizeof(json), "{\"rules_file\": \"%s\"}", path);
    void *c = load(json);
    if (!c)
        fail_msg("%s", errbuf);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    static char buf[4 << 20];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    struct gw_cnode *root = NULL;
    char err[600];
    assert_int_equal(gw_cnode_parse(path, buf, n, &root, err, sizeof(err)), 0);
    const struct gw_cnode *rules = gw_cnode_get(root, "rules");
    assert_non_null(rules);
    size_t examples = 0, bad = 0;
    for (size_t i = 0; i < rules->nitems; i++) {
        const char *id = gw_cnode_get(rules->items[i], "id")->scalar;
        const struct gw_cnode *m = gw_cnode_get(rules->items[i], "match"),
                              *nm = gw_cnode_get(rules->items[i], "nomatch");
        if (!m || !m->nitems || !nm || !nm->nitems) {
            print_message("%s: rule %s lacks match or nomatch examples\n", path, id);
            bad++;
            continue;
        }
        for (int want = 1; want >= 0; want--) {
            const struct gw_cnode *list = want ? m : nm;
            for (size_t k = 0; k < list->nitems; k++) {
                struct gw_tx tx = {0};
                struct segs ss;
                segs_init(&ss, GW_DIR_REQUEST);
                segs_add(&ss, GW_ROLE_USER, 0, list->items[k]->scalar);
                enum gw_verdict v = gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s);
                if (fired(&tx, id) != want || (want && v != GW_REDACT)) {
                    print_message("%s: rule %s: %s example \"%s\" %s\n", path, id,
                                  want ? "match" : "nomatch", list->items[k]->scalar,
                                  want ? "is not redacted by it" : "fires it");
                    bad++;
                }
                segs_free(&ss);
                examples++;
            }
        }
    }
    for (size_t k = 0; need[k]; k++) {
        int found = 0;
        for (size_t i = 0; i < rules->nitems && !found; i++) {
            const struct gw_cnode *x = gw_cnode_get(rules->items[i], types ? "category" : "id");
            found = x && x->scalar && strstr(x->scalar, need[k]) != NULL;
        }
        if (!found) {
            print_message("%s: no rule %s mentions %s\n", path, types ? "category" : "id", need[k]);
            bad++;
        }
    }
    *nrules = rules->nitems;
    *nexamples = examples;
    gw_cnode_free(root);
    gw_flt_patterns.conf_free(c);
    return bad;
}

static void
test_secrets_pack(void **state)
{
    (void)state;
    /* the providers issue 7 names */
    static const char *const need[] = {
        "openai",  "anthropic", "aws",    "gcp",         "azure",       "github", "gitlab",
        "slack",   "stripe",    "twilio", "sendgrid",    "huggingface", "npm",    "pypi",
        "datadog", "shopify",   "jwt",    "private-key", "openssh",     NULL};
    size_t rules, examples;
    assert_int_equal(check_pack(SECRETS, need, 0, &rules, &examples), 0);
    assert_true(rules >= 80);
    assert_true(examples >= 2 * 80);

    /* streamed through the whole pack (anchored holds), every split gives the whole text's */
    check_rules_all_splits(
        "{\"rules_file\": \"" SECRETS "\"}",
        "use ghp_Zq8Lm3Xv9Rt2Wk7Yp4Nb6Hc1Jd5Fg0Se3Ua8 now; passwd = \"Tr0ub4dor&3x\" "
        "and AKIAQX7WMB2ZL4JHNT5C, see https://deploy:Qz7vR2pkL9xW@ci.acme.io/x ok",
        "use [REDACTED:github-pat] now; [REDACTED:generic-password]\" and "
        "[REDACTED:aws-access-key-id], see [REDACTED:url-credentials]/x ok");
}

/* Whole texts: credentials inside base64 and hex payloads are found decoded; the finding covers
 * (and a redaction replaces) the whole encoded run, and its event names the encoding. */
static void
test_encoded_payloads(void **state)
{
    (void)state;
    void *c = load("{\"rules_file\": \"" SECRETS "\"}");
    assert_non_null(c);
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    /* base64 of "token=ghp_...", hex of "key AKIA...", and a benign base64 sentence */
    segs_add(&ss, GW_ROLE_USER, 0,
             "config: dG9rZW49Z2hwX1pxOExtM1h2OVJ0MldrN1lwNE5iNkhjMUpkNUZnMFNlM1VhOA== ok");
    segs_add(&ss, GW_ROLE_TOOL_RESULT, 1,
             "dump 6b657920414b4941515837574d42325a4c344a484e543543 end");
    segs_add(&ss, GW_ROLE_USER, 2, "say SGVsbG8sIGhvdyBhcmUgeW91IGRvaW5nIHRvZGF5PyBGaW5lLg== back");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, "config: [REDACTED:github-pat] ok");
    assert_string_equal(ss.v[1].text, "dump [REDACTED:aws-access-key-id] end");
    assert_string_equal(ss.v[2].text,
                        "say SGVsbG8sIGhvdyBhcmUgeW91IGRvaW5nIHRvZGF5PyBGaW5lLg== back");
    int gh = 0, aws = 0;
    for (int i = 0; i < tx.nev; i++) {
        const struct gw_event *e = &tx.ev[i];
        assert_int_not_equal(e->msg_index, 2);
        if (strcmp(e->rule_id, "github-pat") == 0) {
            assert_string_equal(e->encoding, "base64");
            assert_int_equal(e->offset, 8);
            assert_int_equal(e->length, 64);
            gh = 1;
        }
        if (strcmp(e->rule_id, "aws-access-key-id") == 0) {
            assert_string_equal(e->encoding, "hex");
            assert_int_equal(e->offset, 5);
            assert_int_equal(e->length, 48);
            aws = 1;
        }
    }
    assert_true(gh && aws);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);

    /* a block rule found only inside a payload blocks */
    c = load("{\"rules\": [{\"id\": \"codename\", \"regex\": \"bluebird-[0-9]\", "
             "\"action\": \"block\"}]}");
    assert_non_null(c);
    struct gw_tx tx2 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "aW50ZXJuYWwgY29kZW5hbWU6IGJsdWViaXJkLTcgbGF1bmNo");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx2, c, NULL, &ss.s), GW_BLOCK);
    assert_int_equal(tx2.status, 403);
    assert_int_equal(tx2.nev, 1);
    assert_string_equal(tx2.ev[0].encoding, "base64");
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
}

/* The shipped PII pack (config/rules/pii.yaml): the data types issue 7 names. */
static void
test_pii_pack(void **state)
{
    (void)state;
    static const char *const need[] = {"pii:email",    "pii:phone", "pii:card", "pii:iban",
                                       "pii:ssn",      "pii:ip",    "pii:dob",  "pii:passport",
                                       "pii:national", NULL};
    size_t rules, examples;
    assert_int_equal(check_pack("config/rules/pii.yaml", need, 1, &rules, &examples), 0);
    assert_true(rules >= 20);
    assert_true(examples >= 2 * rules);
    /* streamed through the whole pack, every split: an OID and a version are left alone (the
     * IPv4 rule is standalone), the address ending the sentence is not */
    check_rules_all_splits("{\"rules_file\": \"config/rules/pii.yaml\"}",
                           "OID 1.3.6.1.4.1.311.21.7, release 2.4.10.1.3, host 203.0.113.42.",
                           "OID 1.3.6.1.4.1.311.21.7, release 2.4.10.1.3, host [REDACTED:ip].");
}

static void
test_stream_events(void **state)
{
    (void)state;
    void *c = load(stream_rules);
    assert_non_null(c);
    size_t n = strlen(stream_text);
    for (size_t a = 0; a <= n; a++) {
        struct gw_tx tx = {0};
        void *ctx = calloc(1, gw_flt_patterns.ctx_size);
        char *out;
        size_t outlen;
        size_t cuts[3] = {a / 2, a, a + (n - a) / 3};
        stream_through(c, &tx, ctx, 4, stream_text, cuts, 3, NULL, &out, &outlen, NULL);
        /* Hi, aws, sk, word, uni, run x2, end, pw */
        assert_int_equal(tx.nev, 9);
        int pw = 0;
        for (int i = 0; i < tx.nev; i++) {
            if (strcmp(tx.ev[i].rule_id, "pw") == 0) {
                assert_string_equal(tx.ev[i].action, "event");
                assert_int_equal(tx.ev[i].offset, strstr(stream_text, "password") - stream_text);
                assert_int_equal(tx.ev[i].length, 8);
                assert_int_equal(tx.ev[i].role, GW_ROLE_ASSISTANT);
                pw++;
            }
            if (strcmp(tx.ev[i].rule_id, "aws") == 0) {
                assert_int_equal(tx.ev[i].offset, 16);
                assert_int_equal(tx.ev[i].length, 20);
            }
        }
        assert_int_equal(pw, 1);
        gw_flt_patterns.on_tx_end(&tx, c, ctx);
        free(ctx);
        free(out);
    }
    gw_flt_patterns.conf_free(c);
}

/* A block rule ends the stream before any byte of its match is released. */
static void
test_stream_block(void **state)
{
    (void)state;
    void *c = load("{\"rules\": [{\"id\": \"b\", \"regex\": \"forbidden [a-z]{1,10}\", "
                   "\"direction\": \"response\"},"
                   "{\"id\": \"r\", \"regex\": \"AKIA[A-Z0-9]{16}\", \"action\": \"redact\"}]}");
    assert_non_null(c);
    const char *text = "AKIAABCDEFGHIJKLMNOP ok then the forbidden fruit is here";
    size_t n = strlen(text), at = (size_t)(strstr(text, "forbidden") - text);
    for (size_t a = 0; a <= n; a++) {
        struct gw_tx tx = {0};
        void *ctx = calloc(1, gw_flt_patterns.ctx_size);
        char *out;
        size_t outlen, consumed;
        size_t cuts[2] = {a, a + (n - a) / 2};
        enum gw_verdict v =
            stream_through(c, &tx, ctx, 0, text, cuts, 2, NULL, &out, &outlen, &consumed);
        assert_int_equal(v, GW_BLOCK);
        assert_true(consumed <= at);
        assert_null(strstr(out, "forb"));
        assert_null(strstr(out, "AKIA"));
        assert_int_equal(tx.blocked, 1);
        assert_string_equal(tx.code, "output_blocked");
        assert_string_equal(tx.message, "Response blocked by policy rule 'b'");
        assert_string_equal(tx.ev[tx.nev - 1].action, "block");
        assert_int_equal(tx.ev[tx.nev - 1].offset, at);
        /* as far as the match had got in the chunk that completed it */
        assert_in_range(tx.ev[tx.nev - 1].length, strlen("forbidden f"), strlen("forbidden fruit"));
        gw_flt_patterns.on_tx_end(&tx, c, ctx);
        free(ctx);
        free(out);
    }
    gw_flt_patterns.conf_free(c);
}

/* The hold is what the rules need, no more; roles outside every rule pass untouched. */
static void
test_stream_hold(void **state)
{
    (void)state;
    void *c = load("{\"rules\": [{\"id\": \"r\", \"regex\": \"ab[0-9]{1,4}\", \"action\": "
                   "\"redact\", \"where\": [\"assistant\"]},"
                   "{\"id\": \"e\", \"regex\": \"x+\", \"action\": \"event\", \"where\": "
                   "[\"tool_call_args\"]}]}");
    assert_non_null(c);
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    /* longest match 6: hold 6 + 1 */
    char text[] = "0123456789012345";
    struct gw_chunk ch = {.role = GW_ROLE_ASSISTANT, .text = text, .len = 16};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    assert_int_equal(ch.hold, 7);
    /* an event rule holds back too (x+: 256 + 1), so that a run is one event; it comes when the
     * run has ended */
    char t2[] = "xxxx";
    struct gw_chunk ch2 = {.role = GW_ROLE_TOOL_CALL_ARGS, .stream_id = 1, .text = t2, .len = 4};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch2), GW_PASS);
    assert_int_equal(ch2.hold, 4);
    assert_int_equal(tx.nev, 0);
    char t2b[] = "xxxxxx";
    struct gw_chunk ch2b = {
        .role = GW_ROLE_TOOL_CALL_ARGS, .stream_id = 1, .text = t2b, .len = 6, .final = 1};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch2b), GW_PASS);
    assert_int_equal(ch2b.hold, 0);
    assert_int_equal(tx.nev, 1);
    assert_int_equal(tx.ev[0].length, 6);
    /* a role no rule looks at */
    char t3[] = "ab12";
    struct gw_chunk ch3 = {.role = GW_ROLE_SYSTEM, .stream_id = 2, .text = t3, .len = 4};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch3), GW_PASS);
    assert_int_equal(ch3.hold, 0);
    /* the hold never splits a character: "é" is 2 bytes, the boundary moves left onto it */
    char t4[] = "aaaaaaaébbbbb";
    struct gw_chunk ch4 = {.role = GW_ROLE_ASSISTANT, .stream_id = 3, .text = t4, .len = 14};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch4), GW_PASS);
    assert_int_equal(ch4.hold, 7);
    char t5[] = "aaaaaaébbbbbb";
    struct gw_chunk ch5 = {.role = GW_ROLE_ASSISTANT, .stream_id = 5, .text = t5, .len = 14};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch5), GW_PASS);
    assert_int_equal(ch5.hold, 8);
    /* request-only rules: streamed responses pass untouched */
    void *rq = load("{\"rules\": [{\"id\": \"q\", \"regex\": \"ab\", \"direction\": "
                    "\"request\"}]}");
    assert_non_null(rq);
    char t7[] = "ab ab";
    struct gw_chunk ch7 = {.role = GW_ROLE_ASSISTANT, .stream_id = 7, .text = t7, .len = 5};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, rq, ctx, &ch7), GW_PASS);
    assert_int_equal(ch7.hold, 0);
    gw_flt_patterns.conf_free(rq);
    /* the chain presents less than was held: a broken contract is an error */
    char t6[] = "01";
    struct gw_chunk ch6 = {.role = GW_ROLE_ASSISTANT, .text = t6, .len = 2};
    assert_int_equal(gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch6), GW_ERROR);
    /* streams left open are released at the end of the exchange (ASan checks) */
    gw_flt_patterns.on_tx_end(&tx, c, ctx);
    free(ctx);
    gw_flt_patterns.conf_free(c);
}

/* $ matches before a newline that ends the stream, which only the end of the stream decides: the
 * match is held even when it is the longest rule and the end comes in an empty final chunk. */
static void
test_stream_end_newline(void **state)
{
    (void)state;
    void *c = load("{\"rules\": [{\"id\": \"e\", \"regex\": \"bye\\\\.$\", \"action\": "
                   "\"redact\", \"replacement\": \"ciao\"}]}");
    assert_non_null(c);
    const char *text = "ok bye.\n";
    size_t n = strlen(text);
    for (size_t a = 0; a <= n; a++) {
        size_t cuts[2] = {a, n}; /* the last call brings no new text, only the end */
        check_split(c, text, "ok ciao\n", cuts, 2);
    }
    gw_flt_patterns.conf_free(c);
}

/* Two logical streams interleaved keep separate state. */
static void
test_stream_interleaved(void **state)
{
    (void)state;
    void *c = load(stream_rules);
    assert_non_null(c);
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    const char *a = "one AKIAABCDEFGHIJKLMNOP two", *b = "sk-abcdefghij and AKIA";
    size_t la = strlen(a), lb = strlen(b), pa = 0, pb = 0;
    char held[2][64] = {"", ""}, out[2][256] = {"", ""};
    size_t hl[2] = {0, 0};
    while (pa < la || pb < lb) {
        for (int s = 0; s < 2; s++) {
            const char *src = s ? b : a;
            size_t *p = s ? &pb : &pa, l = s ? lb : la;
            if (*p >= l)
                continue;
            size_t step = *p + 3 > l ? l - *p : 3;
            struct gw_chunk ch = {.role = GW_ROLE_ASSISTANT, .stream_id = 10 + s};
            ch.len = hl[s] + step;
            ch.text = malloc(ch.len + 1);
            memcpy(ch.text, held[s], hl[s]);
            memcpy(ch.text + hl[s], src + *p, step);
            *p += step;
            ch.final = *p == l;
            enum gw_verdict v = gw_flt_patterns.on_resp_chunk(&tx, c, ctx, &ch);
            assert_true(v == GW_PASS || v == GW_REDACT);
            strncat(out[s], ch.text, ch.len - ch.hold);
            hl[s] = ch.hold;
            memcpy(held[s], ch.text + ch.len - ch.hold, ch.hold);
            free(ch.text);
        }
    }
    assert_string_equal(out[0], "one [REDACTED:aws] two");
    assert_string_equal(out[1], "[KEY] and AKIA");
    gw_flt_patterns.on_tx_end(&tx, c, ctx);
    free(ctx);
    gw_flt_patterns.conf_free(c);
}

/* A redaction that keeps growing is released in pieces once 64 KiB are held; nothing leaks. */
static void
test_stream_unbounded_growth(void **state)
{
    (void)state;
    void *c = load("{\"rules\": [{\"id\": \"d\", \"regex\": \"[0-9]{2}\", \"action\": \"redact\", "
                   "\"replacement\": \"#\"}]}");
    assert_non_null(c);
    size_t n = 200000;
    char *text = malloc(n + 1);
    memset(text, '7', n);
    memcpy(text, "ab", 2);
    memcpy(text + n - 2, "cd", 2);
    text[n] = '\0';
    size_t ncuts = n / 1000 - 1, *cuts = malloc(ncuts * sizeof(*cuts));
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * 1000;
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    char *out;
    size_t outlen;
    assert_int_equal(stream_through(c, &tx, ctx, 0, text, cuts, ncuts, NULL, &out, &outlen, NULL),
                     GW_REDACT);
    assert_true(outlen < 1000);
    assert_int_equal(out[0], 'a');
    assert_null(strchr(out, '7'));
    assert_string_equal(out + outlen - 2, "cd");
    gw_flt_patterns.on_tx_end(&tx, c, ctx);
    free(ctx);
    free(out);
    free(cuts);
    free(text);
    gw_flt_patterns.conf_free(c);
}

/* A span released in pieces keeps the replacement of its leftmost match, even once the matches
 * it began with are gone (here the digits' rule starts it, the run of z goes on). */
static void
test_stream_pieces_keep_replacement(void **state)
{
    (void)state;
    void *c = load("{\"rules\": [{\"id\": \"d\", \"regex\": \"[0-9]{3}.\", \"action\": "
                   "\"redact\", \"replacement\": \"#\"}, {\"id\": \"z\", \"regex\": "
                   "\"z{2,3}\", \"action\": \"redact\", \"replacement\": \"Z\"}]}");
    assert_non_null(c);
    size_t n = 20000;
    char *text = malloc(n + 1);
    memset(text, 'z', n);
    memcpy(text, "a 1234567", 9);
    memcpy(text + n - 2, " b", 2);
    text[n] = '\0';
    size_t ncuts = n / 100 - 1, *cuts = malloc(ncuts * sizeof(*cuts));
    for (size_t i = 0; i < ncuts; i++)
        cuts[i] = (i + 1) * 100;
    struct gw_tx tx = {0};
    void *ctx = calloc(1, gw_flt_patterns.ctx_size);
    char *out;
    size_t outlen;
    assert_int_equal(stream_through(c, &tx, ctx, 0, text, cuts, ncuts, NULL, &out, &outlen, NULL),
                     GW_REDACT);
    assert_true(outlen > 5);
    assert_memory_equal(out, "a ##", 4);
    assert_string_equal(out + outlen - 2, " b");
    for (size_t i = 2; i < outlen - 2; i++)
        assert_int_equal(out[i], '#');
    /* one event per rule: the whole run of each */
    assert_int_equal(tx.nev, 2);
    gw_flt_patterns.on_tx_end(&tx, c, ctx);
    free(ctx);
    free(out);
    free(cuts);
    free(text);
    gw_flt_patterns.conf_free(c);
}

/* ---- rules compiled without start of match ---- */

/* Large bounded repeats do not compile with start-of-match tracking, which only redact rules get:
 * as block and event rules they work. */
static const char *big_rules =
    "{\"rules\": ["
    "{\"id\": \"api-key-ctx\", \"regex\": \"api[_-]?key.{1,200}\", \"flags\": \"i\", "
    "\"action\": \"event\"},"
    "{\"id\": \"long-token\", \"regex\": \"[A-Za-z0-9]{40,160}\", \"action\": \"event\"},"
    "{\"id\": \"pw-assign\", \"regex\": \"password\\\\s*[:=].{1,200}\", \"flags\": \"i\", "
    "\"action\": \"block\"},"
    "{\"id\": \"tok\", \"regex\": \"tok_[A-Za-z0-9]{40,160}\", \"action\": \"block\"},"
    "{\"id\": \"aws\", \"regex\": \"AKIA[A-Z0-9]{16}\", \"action\": \"redact\"}"
    "]}";

/* 45 alphanumerics, and 50 */
#define ALNUM45 "abcdefghijABCDEFGHIJ0123456789abcdefghijKLMNO"
#define ALNUM50 ALNUM45 "PQRST"

static const char *big_text = "set API-KEY: sk9 then AKIAABCDEFGHIJKLMNOP\nid " ALNUM45 " end";

static const struct gw_event *
find_event(const struct gw_tx *tx, const char *rule)
{
    const struct gw_event *e = NULL;
    for (int i = 0; i < tx->nev; i++)
        if (strcmp(tx->ev[i].rule_id, rule) == 0) {
            if (e)
                fail_msg("two events of '%s'", rule);
            e = &tx->ev[i];
        }
    if (!e)
        fail_msg("no event of '%s'", rule);
    return e;
}

/*
 * The events of big_text: a rule without start of match reports [end - min, end) of its run of
 * matches, min being its shortest match. api[_-]?key.{1,200} (min 7, "apikey" and one more byte)
 * first ends one byte after "API-KEY" and last at the newline ('.' stops there): its certain part
 * starts one byte after "A", since "[_-]?" may match nothing. [A-Za-z0-9]{40,160} (min 40) ends
 * 40 to 45 bytes after the 45 alphanumerics start: exactly them.
 */
static void
check_big_events(const struct gw_tx *tx)
{
    size_t key = (size_t)(strstr(big_text, "API-KEY") - big_text);
    size_t nl = (size_t)(strchr(big_text, '\n') - big_text);
    size_t tok = (size_t)(strstr(big_text, ALNUM45) - big_text);
    assert_int_equal(tx->nev, 3);
    const struct gw_event *e = find_event(tx, "api-key-ctx");
    assert_string_equal(e->action, "event");
    assert_int_equal(e->offset, key + 1);
    assert_int_equal(e->length, nl - key - 1);
    e = find_event(tx, "long-token");
    assert_string_equal(e->action, "event");
    assert_int_equal(e->offset, tok);
    assert_int_equal(e->length, 45);
    e = find_event(tx, "aws");
    assert_int_equal(e->offset, (size_t)(strstr(big_text, "AKIA") - big_text));
    assert_int_equal(e->length, 20);
}

static void
test_no_som_request(void **state)
{
    (void)state;
    void *c = load(big_rules);
    if (!c)
        fail_msg("%s", errbuf);

    /* events, next to a redaction */
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, big_text);
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_REDACT);
    assert_string_equal(ss.v[0].text, "set API-KEY: sk9 then [REDACTED:aws]\nid " ALNUM45 " end");
    check_big_events(&tx);
    segs_free(&ss);

    /* a block rule with .{1,200}: the event covers the run (its first match starts at the
     * shortest match's start, here the match's own) */
    const char *pw = "ok\nmy Password: hunter2 and more\nnext";
    struct gw_tx tx2 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 4, "nothing here");
    segs_add(&ss, GW_ROLE_TOOL_RESULT, 5, pw);
    assert_int_equal(gw_flt_patterns.on_req_body(&tx2, c, NULL, &ss.s), GW_BLOCK);
    assert_string_equal(tx2.code, "policy_violation");
    assert_string_equal(tx2.message, "Request blocked by policy rule 'pw-assign'");
    assert_int_equal(tx2.nev, 1);
    assert_string_equal(tx2.ev[0].rule_id, "pw-assign");
    assert_string_equal(tx2.ev[0].action, "block");
    assert_int_equal(tx2.ev[0].msg_index, 5);
    size_t at = (size_t)(strstr(pw, "Password") - pw);
    assert_int_equal(tx2.ev[0].offset, at);
    assert_int_equal(tx2.ev[0].length, strlen("Password: hunter2 and more"));
    segs_free(&ss);

    /* a block rule with {40,160}; the event rule that matches inside it stays quiet */
    struct gw_tx tx3 = {0};
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "x tok_" ALNUM50 " y");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx3, c, NULL, &ss.s), GW_BLOCK);
    assert_string_equal(tx3.message, "Request blocked by policy rule 'tok'");
    assert_int_equal(tx3.nev, 1);
    assert_string_equal(tx3.ev[0].rule_id, "tok");
    assert_int_equal(tx3.ev[0].offset, 2);
    assert_int_equal(tx3.ev[0].length, 54);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
}

static void
test_no_som_stream(void **state)
{
    (void)state;
    void *c = load(big_rules);
    if (!c)
        fail_msg("%s", errbuf);
    enum gw_verdict v;
    char *expect = redact_whole(c, big_text, &v);
    assert_int_equal(v, GW_REDACT);
    size_t n = strlen(big_text);

    /* the text and the events of the whole body, however the stream is split */
    for (size_t a = 0; a <= n; a++)
        for (size_t b = a; b <= n; b += a % 2 ? n + 1 : 7) {
            size_t cuts[2] = {a, b};
            check_split(c, big_text, expect, cuts, 2);
            struct gw_tx tx = {0};
            void *ctx = calloc(1, gw_flt_patterns.ctx_size);
            char *out;
            size_t outlen;
            stream_through(c, &tx, ctx, 0, big_text, cuts, 2, NULL, &out, &outlen, NULL);
            check_big_events(&tx);
            gw_flt_patterns.on_tx_end(&tx, c, ctx);
            free(ctx);
            free(out);
        }
    free(expect);

    /* block rules: the stream ends before any byte of the match leaves */
    static const struct {
        const char *text, *at, *rule;
        size_t min, max; /* the event's length: from the first match as far as it got */
    } blocks[] = {
        {"fine AKIAABCDEFGHIJKLMNOP then tok_" ALNUM50 " after", "tok_", "tok", 44, 54},
        {"ok then Password: hunter2 and more\nbye", "Password", "pw-assign", 10, 26},
    };
    for (size_t k = 0; k < sizeof(blocks) / sizeof(blocks[0]); k++) {
        const char *text = blocks[k].text;
        size_t len = strlen(text), at = (size_t)(strstr(text, blocks[k].at) - text);
        for (size_t a = 0; a <= len; a++) {
            struct gw_tx tx = {0};
            void *ctx = calloc(1, gw_flt_patterns.ctx_size);
            char *out;
            size_t outlen, consumed;
            size_t cuts[2] = {a, a + (len - a) / 2};
            v = stream_through(c, &tx, ctx, 0, text, cuts, 2, NULL, &out, &outlen, &consumed);
            assert_int_equal(v, GW_BLOCK);
            assert_true(consumed <= at);
            assert_null(strstr(out, "AKIA"));
            assert_int_equal(tx.blocked, 1);
            char msg[128];
            snprintf(msg, sizeof(msg), "Response blocked by policy rule '%s'", blocks[k].rule);
            assert_string_equal(tx.message, msg);
            const struct gw_event *e = &tx.ev[tx.nev - 1];
            assert_string_equal(e->rule_id, blocks[k].rule);
            assert_string_equal(e->action, "block");
            assert_int_equal(e->offset, at);
            assert_in_range(e->length, blocks[k].min, blocks[k].max);
            gw_flt_patterns.on_tx_end(&tx, c, ctx);
            free(ctx);
            free(out);
        }
    }
    gw_flt_patterns.conf_free(c);
}

/* Without start of match, reports at consecutive ends make one run (one event); occurrences
 * that only touch stay apart, as for the other rules. */
static void
test_no_som_runs(void **state)
{
    (void)state;
    void *c = load("{\"rules\": [{\"id\": \"digits\", \"regex\": \"[0-9]{1,200}\", "
                   "\"action\": \"event\"}, {\"id\": \"abc\", \"regex\": \"ab+c\", "
                   "\"action\": \"event\"}]}");
    assert_non_null(c);
    struct gw_tx tx = {0};
    struct segs ss;
    segs_init(&ss, GW_DIR_REQUEST);
    segs_add(&ss, GW_ROLE_USER, 0, "a 12345 b abcabbc");
    assert_int_equal(gw_flt_patterns.on_req_body(&tx, c, NULL, &ss.s), GW_PASS);
    assert_int_equal(tx.nev, 3);
    /* sorted by rule, then offset */
    assert_string_equal(tx.ev[0].rule_id, "digits");
    assert_int_equal(tx.ev[0].offset, 2);
    assert_int_equal(tx.ev[0].length, 5);
    /* "abc" [10, 13), "abbc" [13, 17): the certain 3 bytes of each */
    assert_string_equal(tx.ev[1].rule_id, "abc");
    assert_int_equal(tx.ev[1].offset, 10);
    assert_int_equal(tx.ev[1].length, 3);
    assert_string_equal(tx.ev[2].rule_id, "abc");
    assert_int_equal(tx.ev[2].offset, 14);
    assert_int_equal(tx.ev[2].length, 3);
    segs_free(&ss);
    gw_flt_patterns.conf_free(c);
}

/* A redact rule too large with start-of-match tracking: the error says so and what to do. */
static void
test_no_som_errors(void **state)
{
    (void)state;
    load_fails("{\"rules\": [{\"id\": \"ok\", \"regex\": \"x\"}, {\"id\": \"api-key\", \"regex\": "
               "\"api[_-]?key.{1,200}\", \"flags\": \"i\", \"action\": \"redact\"}]}",
               "patterns: rule 'api-key': Pattern is too large with start-of-match tracking "
               "(needed for action redact); use a smaller bounded repeat, or action block or "
               "event");
    load_fails("{\"rules\": [{\"id\": \"hex\", \"regex\": \"[A-Za-z0-9]{40,160}\", \"action\": "
               "\"redact\", \"direction\": \"request\"}]}",
               "rule 'hex': Pattern is too large with start-of-match tracking");
    /* too large even without it: no advice about the action */
    load_fails("{\"rules\": [{\"id\": \"slack\", \"regex\": \"xoxb-[A-Za-z0-9-]{40,160}\", "
               "\"flags\": \"ui\", \"action\": \"redact\"}]}",
               "rule 'slack': Pattern is too large; use a smaller bounded repeat");
    assert_null(strstr(errbuf, "start-of-match"));
    load_fails("{\"rules\": [{\"id\": \"slack\", \"regex\": \"xoxb-[A-Za-z0-9-]{40,160}\", "
               "\"flags\": \"ui\", \"action\": \"event\"}]}",
               "rule 'slack': Pattern is too large; use a smaller bounded repeat");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_errors),
        cmocka_unit_test(test_validate_entropy),
        cmocka_unit_test(test_context_keywords_allow),
        cmocka_unit_test(test_type_actions),
        cmocka_unit_test(test_stream_anchored_hold),
        cmocka_unit_test(test_rules_file),
        cmocka_unit_test(test_secrets_pack),
        cmocka_unit_test(test_pii_pack),
        cmocka_unit_test(test_encoded_payloads),
        cmocka_unit_test(test_conf_ok),
        cmocka_unit_test(test_request_redaction_overlap),
        cmocka_unit_test(test_block_verdicts),
        cmocka_unit_test(test_stream_every_split),
        cmocka_unit_test(test_stream_events),
        cmocka_unit_test(test_stream_block),
        cmocka_unit_test(test_stream_hold),
        cmocka_unit_test(test_stream_end_newline),
        cmocka_unit_test(test_stream_interleaved),
        cmocka_unit_test(test_stream_unbounded_growth),
        cmocka_unit_test(test_stream_pieces_keep_replacement),
        cmocka_unit_test(test_no_som_request),
        cmocka_unit_test(test_no_som_stream),
        cmocka_unit_test(test_no_som_runs),
        cmocka_unit_test(test_no_som_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
