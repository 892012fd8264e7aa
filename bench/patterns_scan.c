/*
 * pc-bench-patterns: scan cost of `patterns` filters (rule packs) on one core, driven the way the
 * chain drives them.
 *
 *   pc-bench-patterns [--piece N] [--per-rule] [[--request A] [--response A] RULES_FILE]...
 *                     -- TEXT...
 *
 * Every RULES_FILE becomes one patterns filter, in order, built through gw_flt_patterns.conf_new
 * from {"rules_file": PATH, "request": A, "response": A} (PATH made absolute; --request and
 * --response apply to the rules files after them, until changed; without them, or with `own`,
 * each rule keeps its own action). The default config's pair is
 *   --request redact --response redact secrets.yaml --request event --response redact pii.yaml
 * Each TEXT is one text file. Measured, each best of 5 rounds of at least 1 s:
 *   - request: the texts cut into 2 KB segments (on UTF-8 boundaries), each a user message
 *     through on_req_body of every filter in turn (a copy per call: filters edit in place);
 *   - stream: the texts cut into answers of up to 16 KB, each streamed as pieces of N bytes
 *     (--piece, default 6: about one token per SSE event, widened to whole UTF-8 characters)
 *     through on_resp_chunk as gateway/filtering.c (run_chunk) presents them: filter i gets what
 *     it held last time followed by what filter i-1 released now, and a final chunk at the end.
 * Prints "filter <n> <file> (<actions>, conf_new <ms>): <describe>" per filter, "text bytes B
 * segments S answers A events E", then, for the whole chain and (with several filters) for each
 * filter alone:
 *   "request <which> <MB/s> <us per 2 KB segment>"
 *   "stream <which> <MB/s> <us per event> <average bytes held back after an event>"
 * with <which> "all" or the filter's number (1-based), then what one pass over the texts found:
 *   "found <request|response> <which> redact R event E block B" (events the filters emitted),
 *   "fired <request|response> <which> <rule id> <action> <count>" for every rule that fired,
 *   "check stream ok|DIFFERS n" (every streamed answer came out as on_resp_body makes it of the
 *   whole answer; n: how many did not).
 * Benign texts should have no secret: then the figures are the cost of scanning, not redacting.
 *
 * --per-rule: every rule of every pack alone (a filter with that rule and a literal that never
 * occurs, with the pack's actions), request and stream side, best of 5 rounds of 0.1 s each.
 * Prints per pack "per-rule <file> rules N skipped K baseline request <MB/s> stream <MB/s>" (the
 * baseline: two such literals, what a filter costs before its rules), then the most expensive
 * rules of each side (PC_BENCH_TOP, default 25) with what they add to the baseline:
 *   "request <MB/s> <+us per 2 KB> <id> line <n>"
 *   "stream <MB/s> <+us per event> held <bytes held back after an event> <id> line <n>"
 * The request cost of a pack is roughly the baseline plus the sum of what its rules add; a
 * stream's also grows with the largest hold of any rule (held text is presented again with every
 * event). This is how a slow pack is fixed. Compiles without the on-disk cache
 * (PORTCULLIS_CACHE_DIR=off).
 *
 * The chain's services the filter calls (gw_emit, gw_tx_block, gw_cfg_error) are defined here,
 * weak, over a fake struct gw_tx, so that the chain's objects are not linked in (as in
 * tests/unit/test_flt_patterns.c); the edit services (filters/segment.c) are the real ones.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "config/parse.h"
#include "filters/filter.h"
#include "gateway/io.h"

extern const struct gw_filter_ops gw_flt_patterns;

#define SEG 2048
#define ANSWER 16384
#define MAXF 8
#define WEAK __attribute__((weak))

/* ---- the chain's services ---- */

struct gw_tx {
    int blocked;
};

/* What fired, counted during the counting pass only (so the timed loops stay cheap). */
struct fired {
    int side, filter; /* side: 0 request, 1 response; filter: 0-based */
    char *id;
    char action[16];
    size_t n;
};
static struct fired *fired;
static size_t nfired, capfired;
static int counting, cur_side, cur_filter;

WEAK void
gw_emit(struct gw_tx *tx, const struct gw_event *ev)
{
    (void)tx;
    if (!counting)
        return;
    for (size_t i = 0; i < nfired; i++)
        if (fired[i].side == cur_side && fired[i].filter == cur_filter &&
            strcmp(fired[i].id, ev->rule_id) == 0 && strcmp(fired[i].action, ev->action) == 0) {
            fired[i].n++;
            return;
        }
    if (nfired == capfired) {
        capfired = capfired ? 2 * capfired : 64;
        if (!(fired = realloc(fired, capfired * sizeof(*fired))))
            abort();
    }
    struct fired *f = &fired[nfired++];
    *f = (struct fired){cur_side, cur_filter, strdup(ev->rule_id), "", 1};
    snprintf(f->action, sizeof(f->action), "%s", ev->action);
}

WEAK void
gw_tx_block(struct gw_tx *tx, int status, const char *code, const char *message)
{
    (void)status, (void)code, (void)message;
    tx->blocked++;
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

/* ---- filters and texts ---- */

struct filt {
    char *path; /* absolute */
    const char *req, *resp;
    char label[64];
    void *conf;
    double conf_ms;
};

struct piece {
    const char *p;
    size_t n;
};

static struct filt filters[MAXF];
static size_t nfilters;
static struct piece *segs, *answers;
static size_t nsegs, nanswers, capsegs, capanswers;
static size_t piece_bytes = 6;

static double
now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "out of memory\n");
        exit(1);
    }
    return p;
}

/* Appends to *v (*n pieces, room for *cap) the pieces of text, at most max bytes each and ending
 * on UTF-8 character boundaries. */
static void
cut(const char *t, size_t len, size_t max, struct piece **v, size_t *n, size_t *cap)
{
    for (size_t off = 0; off < len;) {
        size_t k = len - off < max ? len - off : max;
        while (off + k < len && k > 0 && ((unsigned char)t[off + k] & 0xC0) == 0x80)
            k--;
        if (k == 0)
            k = len - off < max ? len - off : max; /* not UTF-8: cut anyway */
        if (*n == *cap) {
            *cap = *cap ? 2 * *cap : 64;
            *v = realloc(*v, *cap * sizeof(**v));
            if (!*v)
                abort();
        }
        (*v)[(*n)++] = (struct piece){t + off, k};
        off += k;
    }
}

/* A one-filter config: {"rules_file": path} or {"rules": rules}, with the actions. NULL with a
 * message on stderr when conf_new refuses it. */
static void *
make_conf(const char *path, json_t *rules, const char *req, const char *resp, double *ms)
{
    json_t *j = json_object();
    if (rules)
        json_object_set(j, "rules", rules);
    else
        json_object_set_new(j, "rules_file", json_string(path));
    if (req)
        json_object_set_new(j, "request", json_string(req));
    if (resp)
        json_object_set_new(j, "response", json_string(resp));
    char err[1024] = "";
    struct gw_cfg_ctx cc = {"pc-bench-patterns", NULL, err, sizeof(err), NULL};
    void *conf = NULL;
    double t0 = now_s();
    int rc = gw_flt_patterns.conf_new(&cc, j, &conf);
    if (ms)
        *ms = (now_s() - t0) * 1e3;
    json_decref(j);
    if (rc < 0) {
        fprintf(stderr, "%s\n", err);
        return NULL;
    }
    return conf;
}

/* ---- the two sides, as the chain runs them ---- */

/* One 2 KB user message through the filters [f0, f1). */
static void
request_once(const struct piece *s, size_t f0, size_t f1, void **ctx)
{
    struct gw_tx tx = {0};
    struct gw_segment g = {.role = GW_ROLE_USER, .msg_index = 0, .len = s->n};
    g.text = xmalloc(s->n + 1);
    memcpy(g.text, s->p, s->n);
    g.text[s->n] = '\0';
    struct gw_segments ss = {GW_DIR_REQUEST, &g, 1, 1};
    cur_side = 0;
    for (size_t f = f0; f < f1; f++) {
        cur_filter = (int)f;
        enum gw_verdict v = gw_flt_patterns.on_req_body(&tx, filters[f].conf, ctx[f], &ss);
        if (v == GW_ERROR) {
            fprintf(stderr, "filter %zu: on_req_body failed\n", f + 1);
            exit(1);
        }
        if (v == GW_BLOCK)
            break;
    }
    for (size_t f = f0; f < f1; f++)
        gw_flt_patterns.on_tx_end(&tx, filters[f].conf, ctx[f]);
    free(g.text);
}

/*
 * One answer streamed through the filters [f0, f1) in pieces, as run_chunk in
 * gateway/filtering.c does it. Adds the events (pieces) to *events and the bytes held back after
 * each (all filters together) to *held. When out is given, it gets what the last filter released
 * (malloc'd, *outlen bytes).
 */
static void
stream_once(const struct piece *a, size_t f0, size_t f1, void **ctx, size_t *events, double *held,
            char **out, size_t *outlen)
{
    struct gw_tx tx = {0};
    char *hbuf[MAXF] = {0};
    size_t hlen[MAXF] = {0};
    uint64_t off[MAXF] = {0};
    size_t pos = 0, olen = 0;
    char *o = out ? xmalloc(a->n * 2 + 1) : NULL, *cur = NULL;
    size_t ocap = out ? a->n * 2 + 1 : 0;
    int stopped = 0;
    cur_side = 1;
    for (;;) {
        int final = pos == a->n;
        size_t k = final ? 0 : (a->n - pos < piece_bytes ? a->n - pos : piece_bytes);
        while (pos + k < a->n && ((unsigned char)a->p[pos + k] & 0xC0) == 0x80)
            k++;
        cur = xmalloc(k + 1);
        memcpy(cur, a->p + pos, k);
        size_t curlen = k;
        pos += k;
        for (size_t f = f0; f < f1 && !stopped; f++) {
            cur_filter = (int)f;
            char *buf = xmalloc(hlen[f] + curlen + 1);
            if (hlen[f])
                memcpy(buf, hbuf[f], hlen[f]);
            memcpy(buf + hlen[f], cur, curlen);
            buf[hlen[f] + curlen] = '\0';
            free(cur);
            free(hbuf[f]);
            hbuf[f] = NULL;
            struct gw_chunk ch = {.role = GW_ROLE_ASSISTANT,
                                  .stream_id = 0,
                                  .text = buf,
                                  .len = hlen[f] + curlen,
                                  .final = final,
                                  .offset = off[f]};
            hlen[f] = 0;
            enum gw_verdict v = gw_flt_patterns.on_resp_chunk(&tx, filters[f].conf, ctx[f], &ch);
            if (v == GW_ERROR) {
                fprintf(stderr, "filter %zu: on_resp_chunk failed\n", f + 1);
                exit(1);
            }
            cur = ch.text;
            if (v == GW_BLOCK) {
                stopped = 1;
                curlen = 0;
                break;
            }
            size_t hold = final ? 0 : ch.hold;
            if (hold) {
                hbuf[f] = xmalloc(hold);
                memcpy(hbuf[f], ch.text + ch.len - hold, hold);
                hlen[f] = hold;
            }
            curlen = ch.len - hold;
            off[f] += curlen;
        }
        if (o && curlen) {
            if (olen + curlen + 1 > ocap) {
                ocap = 2 * (olen + curlen + 1);
                if (!(o = realloc(o, ocap)))
                    abort();
            }
            memcpy(o + olen, cur, curlen);
            olen += curlen;
        }
        free(cur);
        if (final || stopped)
            break;
        ++*events;
        for (size_t f = f0; f < f1; f++)
            *held += (double)hlen[f];
    }
    for (size_t f = f0; f < f1; f++) {
        free(hbuf[f]);
        gw_flt_patterns.on_tx_end(&tx, filters[f].conf, ctx[f]);
    }
    if (out) {
        o[olen] = '\0';
        *out = o;
        *outlen = olen;
    }
}

/* What on_resp_body makes of a whole answer through [f0, f1): malloc'd. */
static char *
whole_answer(const struct piece *a, size_t f0, size_t f1, void **ctx, size_t *len)
{
    struct gw_tx tx = {0};
    struct gw_segment g = {.role = GW_ROLE_ASSISTANT, .msg_index = 0, .len = a->n};
    g.text = xmalloc(a->n + 1);
    memcpy(g.text, a->p, a->n);
    g.text[a->n] = '\0';
    struct gw_segments ss = {GW_DIR_RESPONSE, &g, 1, 1};
    int save = counting;
    counting = 0;
    for (size_t f = f0; f < f1; f++)
        if (gw_flt_patterns.on_resp_body(&tx, filters[f].conf, ctx[f], &ss) == GW_BLOCK)
            break;
    counting = save;
    for (size_t f = f0; f < f1; f++)
        gw_flt_patterns.on_tx_end(&tx, filters[f].conf, ctx[f]);
    *len = g.len;
    return g.text;
}

/* Repeats one side over every segment / answer until round_s has passed, rounds times; the best
 * time per byte. *events and *held are those of one pass. */
static double
measure(int stream, size_t f0, size_t f1, void **ctx, int rounds, double round_s, size_t *events,
        double *held)
{
    double best = 1e30;
    for (int round = 0; round < rounds; round++) {
        size_t bytes = 0, ev = 0, passes = 0;
        double h = 0, t0 = now_s(), t;
        do {
            if (stream) {
                for (size_t i = 0; i < nanswers; i++) {
                    stream_once(&answers[i], f0, f1, ctx, &ev, &h, NULL, NULL);
                    bytes += answers[i].n;
                }
            } else {
                for (size_t i = 0; i < nsegs; i++) {
                    request_once(&segs[i], f0, f1, ctx);
                    bytes += segs[i].n;
                }
            }
            passes++;
            t = now_s() - t0;
        } while (t < round_s);
        if (t / (double)bytes < best)
            best = t / (double)bytes;
        if (events) {
            *events = ev / passes;
            *held = h / (double)passes;
        }
    }
    return best;
}

/* ---- per rule ---- */

struct cost {
    char id[128];
    int line;
    double req, resp; /* s per byte */
    double held;      /* bytes held back after an event, on average */
};

static size_t pass_bytes, pass_events; /* of one stream pass over the texts */

static int
by_req(const void *a, const void *b)
{
    const struct cost *x = a, *y = b;
    return x->req > y->req ? -1 : x->req < y->req;
}

static int
by_resp(const void *a, const void *b)
{
    const struct cost *x = a, *y = b;
    return x->resp > y->resp ? -1 : x->resp < y->resp;
}

/* Measures the one-rule filter conf as filters[0] (best of 5 rounds of 0.1 s), then frees it. */
static void
rule_cost(void *conf, void **ctx, struct cost *c)
{
    filters[0].conf = conf;
    size_t ev = 0;
    double held = 0;
    c->req = measure(0, 0, 1, ctx, 5, 0.1, NULL, NULL);
    c->resp = measure(1, 0, 1, ctx, 5, 0.1, &ev, &held);
    c->held = ev ? held / (double)ev : 0;
    pass_events = ev;
    gw_flt_patterns.conf_free(conf);
    filters[0].conf = NULL;
}

/* Every rule of every pack alone (--per-rule, see the top of the file). */
static int
per_rule(size_t nf, const struct filt *packs, void **ctx)
{
    setenv("PORTCULLIS_CACHE_DIR", "off", 1);
    size_t top = getenv("PC_BENCH_TOP") ? strtoul(getenv("PC_BENCH_TOP"), NULL, 10) : 25;
    for (size_t i = 0; i < nanswers; i++)
        pass_bytes += answers[i].n;
    for (size_t p = 0; p < nf; p++) {
        char *buf, err[600];
        size_t len;
        struct gw_cnode *root = NULL;
        if (gw_read_file(packs[p].path, 8u << 20, &buf, &len) < 0) {
            perror(packs[p].path);
            return 1;
        }
        if (gw_cnode_parse(packs[p].path, buf, len, &root, err, sizeof(err)) < 0) {
            fprintf(stderr, "%s\n", err);
            return 1;
        }
        free(buf);
        const struct gw_cnode *list = gw_cnode_get(root, "rules");
        if (!list || list->type != GW_CNODE_SEQ) {
            fprintf(stderr, "%s: no 'rules' list\n", packs[p].path);
            return 1;
        }
        /* What a filter costs before its rules: literals that never occur. Each rule is measured
         * with one of them after it, so that a rule split in two by different request and
         * response actions is not the filter's last: conf_new (flt_patterns.c) sizes streams
         * and roles over as many rules as it read, not as many as the split made. */
        struct cost base = {"baseline", 0, 0, 0, 0};
        json_t *lit =
            json_pack("{s:s, s:s, s:s}", "id", "never-1", "regex", "qzxjqvkw", "action", "redact");
        json_t *rules = json_pack("[O{s:s, s:s, s:s}]", lit, "id", "never-2", "regex", "wvkqjxzq",
                                  "action", "redact");
        void *conf = make_conf(NULL, rules, packs[p].req, packs[p].resp, NULL);
        json_decref(rules);
        if (!conf)
            return 1;
        rule_cost(conf, ctx, &base);
        struct cost *c = calloc(list->nitems, sizeof(*c));
        size_t nc = 0, skipped = 0;
        for (size_t i = 0; i < list->nitems; i++) {
            json_t *rule = gw_cnode_to_json(list->items[i]);
            json_t *id = rule ? json_object_get(rule, "id") : NULL;
            rules = rule ? json_pack("[OO]", rule, lit) : NULL;
            conf = rules ? make_conf(NULL, rules, packs[p].req, packs[p].resp, NULL) : NULL;
            json_decref(rules);
            if (!conf) {
                skipped++;
                json_decref(rule);
                continue;
            }
            snprintf(c[nc].id, sizeof(c[nc].id), "%s",
                     json_is_string(id) ? json_string_value(id) : "?");
            c[nc].line = list->items[i]->line;
            json_decref(rule);
            rule_cost(conf, ctx, &c[nc]);
            nc++;
        }
        double per_event = (double)pass_bytes / (double)(pass_events ? pass_events : 1);
        printf("per-rule %s rules %zu skipped %zu baseline request %.1f stream %.1f\n",
               packs[p].label, nc, skipped, 1.0 / base.req / 1e6, 1.0 / base.resp / 1e6);
        qsort(c, nc, sizeof(*c), by_req);
        for (size_t i = 0; i < nc && i < top; i++)
            printf("request %.1f %+.2f %s line %d\n", 1.0 / c[i].req / 1e6,
                   (c[i].req - base.req) * SEG * 1e6, c[i].id, c[i].line);
        qsort(c, nc, sizeof(*c), by_resp);
        for (size_t i = 0; i < nc && i < top; i++)
            printf("stream %.1f %+.3f held %.0f %s line %d\n", 1.0 / c[i].resp / 1e6,
                   (c[i].resp - base.resp) * per_event * 1e6, c[i].held, c[i].id, c[i].line);
        fflush(stdout);
        json_decref(lit);
        free(c);
        gw_cnode_free(root);
    }
    return 0;
}

/* ---- main ---- */

static void
usage(const char *argv0)
{
    fprintf(stderr,
            "usage: %s [--piece N] [--per-rule] [[--request A] [--response A] RULES_FILE]... -- "
            "TEXT...\n",
            argv0);
    exit(2);
}

static void
print_found(int side, int which)
{
    size_t redact = 0, event = 0, block = 0;
    for (size_t i = 0; i < nfired; i++) {
        if (fired[i].side != side || (which && fired[i].filter != which - 1))
            continue;
        if (strcmp(fired[i].action, "redact") == 0)
            redact += fired[i].n;
        else if (strcmp(fired[i].action, "block") == 0)
            block += fired[i].n;
        else
            event += fired[i].n;
    }
    char w[16];
    snprintf(w, sizeof(w), which ? "%d" : "all", which);
    printf("found %s %s redact %zu event %zu block %zu\n", side ? "response" : "request", w, redact,
           event, block);
}

static int
by_count(const void *a, const void *b)
{
    const struct fired *x = a, *y = b;
    if (x->side != y->side)
        return x->side - y->side;
    return x->n > y->n ? -1 : x->n < y->n;
}

int
main(int argc, char **argv)
{
    const char *req = NULL, *resp = NULL;
    int per = 0, a = 1;
    for (; a < argc && strcmp(argv[a], "--") != 0; a++) {
        if (strcmp(argv[a], "--per-rule") == 0) {
            per = 1;
        } else if (a + 1 < argc && strcmp(argv[a], "--request") == 0) {
            req = strcmp(argv[++a], "own") == 0 ? NULL : argv[a];
        } else if (a + 1 < argc && strcmp(argv[a], "--response") == 0) {
            resp = strcmp(argv[++a], "own") == 0 ? NULL : argv[a];
        } else if (a + 1 < argc && strcmp(argv[a], "--piece") == 0) {
            piece_bytes = strtoul(argv[++a], NULL, 10);
            if (piece_bytes == 0)
                usage(argv[0]);
        } else if (argv[a][0] == '-') {
            usage(argv[0]);
        } else {
            if (nfilters == MAXF) {
                fprintf(stderr, "at most %d rules files\n", MAXF);
                return 2;
            }
            struct filt *f = &filters[nfilters++];
            f->path = realpath(argv[a], NULL);
            if (!f->path) {
                perror(argv[a]);
                return 1;
            }
            f->req = req;
            f->resp = resp;
            const char *b = strrchr(argv[a], '/');
            snprintf(f->label, sizeof(f->label), "%s", b ? b + 1 : argv[a]);
        }
    }
    if (nfilters == 0 || a + 1 >= argc)
        usage(argv[0]);

    size_t total = 0;
    for (a++; a < argc; a++) {
        char *buf;
        size_t len;
        if (gw_read_file(argv[a], 256u << 20, &buf, &len) < 0) {
            perror(argv[a]);
            return 1;
        }
        cut(buf, len, SEG, &segs, &nsegs, &capsegs);
        cut(buf, len, ANSWER, &answers, &nanswers, &capanswers);
        total += len;
    }
    void *ctx[MAXF];
    for (size_t f = 0; f < MAXF; f++)
        ctx[f] = calloc(1, gw_flt_patterns.ctx_size);

    if (per) {
        struct filt packs[MAXF];
        memcpy(packs, filters, sizeof(packs));
        size_t nf = nfilters;
        nfilters = 1;
        return per_rule(nf, packs, ctx);
    }

    for (size_t f = 0; f < nfilters; f++) {
        filters[f].conf =
            make_conf(filters[f].path, NULL, filters[f].req, filters[f].resp, &filters[f].conf_ms);
        if (!filters[f].conf)
            return 1;
        char d[1024];
        gw_flt_patterns.describe(filters[f].conf, d, sizeof(d));
        printf("filter %zu %s (request %s, response %s, conf_new %.0f ms): %s\n", f + 1,
               filters[f].label, filters[f].req ? filters[f].req : "own",
               filters[f].resp ? filters[f].resp : "own", filters[f].conf_ms, d);
    }

    /* One counting pass: what the filters find, and whether streaming changes the result. */
    size_t events = 0, differs = 0;
    double held = 0;
    counting = 1;
    for (size_t i = 0; i < nsegs; i++)
        request_once(&segs[i], 0, nfilters, ctx);
    for (size_t i = 0; i < nanswers; i++) {
        char *out, *want;
        size_t outlen, wantlen;
        stream_once(&answers[i], 0, nfilters, ctx, &events, &held, &out, &outlen);
        want = whole_answer(&answers[i], 0, nfilters, ctx, &wantlen);
        differs += outlen != wantlen || memcmp(out, want, outlen) != 0;
        free(out);
        free(want);
    }
    counting = 0;
    printf("text bytes %zu segments %zu answers %zu events %zu\n", total, nsegs, nanswers, events);

    int many = nfilters > 1;
    for (int side = 0; side < 2; side++) {
        for (size_t w = 0; w <= (many ? nfilters : 0); w++) {
            size_t f0 = w ? w - 1 : 0, f1 = w ? w : nfilters;
            char which[16];
            snprintf(which, sizeof(which), w ? "%zu" : "all", w);
            if (side == 0) {
                double spb = measure(0, f0, f1, ctx, 5, 1.0, NULL, NULL);
                printf("request %s %.1f %.2f\n", which, 1.0 / spb / 1e6, spb * SEG * 1e6);
            } else {
                size_t ev;
                double h, spb = measure(1, f0, f1, ctx, 5, 1.0, &ev, &h);
                printf("stream %s %.1f %.3f %.1f\n", which, 1.0 / spb / 1e6,
                       spb * (double)total / (double)ev * 1e6, h / (double)ev);
            }
            fflush(stdout);
        }
    }
    for (int side = 0; side < 2; side++)
        for (size_t w = 0; w <= (many ? nfilters : 0); w++)
            print_found(side, (int)w);
    qsort(fired, nfired, sizeof(*fired), by_count);
    for (size_t i = 0; i < nfired; i++)
        printf("fired %s %d %s %s %zu\n", fired[i].side ? "response" : "request",
               fired[i].filter + 1, fired[i].id, fired[i].action, fired[i].n);
    printf("check stream %s %zu\n", differs ? "DIFFERS" : "ok", differs);

    for (size_t f = 0; f < nfilters; f++) {
        gw_flt_patterns.conf_free(filters[f].conf);
        free(filters[f].path);
    }
    for (size_t f = 0; f < MAXF; f++)
        free(ctx[f]);
    for (size_t i = 0; i < nfired; i++)
        free(fired[i].id);
    free(fired);
    free(segs);
    free(answers);
    return 0;
}
