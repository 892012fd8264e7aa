/*
 * Rule packs of the injection filter: YAML → rules → one Hyperscan database, and the scoring of a
 * text (see injection_pack.h for the pack format and the score).
 *
 * Every rule is compiled with HS_FLAG_SINGLEMATCH (a rule counts once per text, so a report per
 * rule is all the score needs, and Hyperscan stops tracking a rule once it fired) and
 * HS_FLAG_DOTALL, without start of match: an event reports the certain part of the match,
 * [end - shortest match, end), mapped back to the original text.
 *
 * Encoded payloads (decode.h): after the text, every base64 or hex run of it that decodes to text
 * is normalised and scanned with the same rules into the same score (a rule still counts once),
 * and so is the ROT13 or the reversal of a scan window when it holds two of three marker words
 * of that form (internal rules compiled after the pack's own: "gur", "lbh", "naq"...; "eht",
 * "uoy", "dna"...), since no attacker writes an instruction in ROT13 without its articles. Hits
 * found there carry the encoding and the span of the encoded run.
 */
#include "filters/injection_pack.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "config/parse.h"
#include "filters/classifier.h"
#include "filters/decode.h"
#include "filters/filter.h"
#include "filters/needles.h"
#include "filters/normalize.h"
#include "filters/par.h"
#include "filters/pasted.h"
#include "filters/rxsplit.h"
#include "filters/scan.h"
#include "filters/scripted.h"
#include "filters/stray.h"
#include "filters/tabular.h"
#include "filters/tslot.h"
#include "gateway/io.h"
#include "gateway/log.h"
#include "gateway/strbuf.h"

#define MAX_CATS GW_INJ_MAX_CATS
#define MAX_PACK_BYTES (8u << 20)
#define MAX_FRAGS 512
#define MAX_EXPANDED (64u << 10) /* bytes of a pattern or fragment after (?&name) expansion */

/* ---- loading ---- */

/* Errors name the pack file and the node's line and column (gw_cfg_error with the pack as the
 * file and no default node). */
static const char *
scalar(const struct gw_cnode *n)
{
    return n && n->type == GW_CNODE_SCALAR && strlen(n->scalar) == n->len ? n->scalar : NULL;
}

static int
number(struct gw_cfg_ctx *pl, const struct gw_cnode *n, const char *what, double lo, double hi,
       double *out)
{
    const char *s = scalar(n);
    char *end = NULL;
    double v = s ? strtod(s, &end) : 0;
    if (!s || !*s || *end || n->quoted || !(v >= lo && v <= hi))
        return gw_cfg_error(pl, n, "'%s' must be a number from %g to %g", what, lo, hi);
    *out = v;
    return 0;
}

static int
name_ok(const char *s, int dots)
{
    if (!s || !*s || strlen(s) > 96)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-' ||
              (dots && *s == '.')))
            return 0;
    return 1;
}

/* Non-ASCII bytes inside a bracket class would be matched byte by byte (no HS_FLAG_UTF8). */
static int
class_has_non_ascii(const char *p)
{
    int in = 0;
    for (; *p; p++) {
        if (*p == '\\' && p[1]) {
            p++;
            continue;
        }
        if (!in && *p == '[') {
            in = 1;
            if (p[1] == '^')
                p++;
            if (p[1] == ']')
                p++;
        } else if (in && *p == ']') {
            in = 0;
        } else if (in && (unsigned char)*p >= 0x80) {
            return 1;
        }
    }
    return 0;
}

/*
 * A quantifier right after a non-ASCII character (`的?`, `의?`, `ا?`): without HS_FLAG_UTF8 it
 * repeats the character's last byte only, so `이전의?` does not match "이전" followed by anything
 * but the first bytes of 의. Returns the character's offset in p, or -1 when there is none.
 */
static long
quantified_non_ascii(const char *p)
{
    for (size_t i = 0; p[i]; i++) {
        if (p[i] == '\\' && p[i + 1]) {
            i++;
            continue;
        }
        unsigned char c = (unsigned char)p[i], q = (unsigned char)p[i + 1];
        if (c < 0x80 ||
            !(q == '?' || q == '*' || q == '+' || (q == '{' && p[i + 2] >= '0' && p[i + 2] <= '9')))
            continue;
        size_t start = i;
        while (start > 0 && ((unsigned char)p[start] & 0xc0) == 0x80)
            start--;
        return (long)start;
    }
    return -1;
}

static int
check_keys(struct gw_cfg_ctx *pl, const struct gw_cnode *map, const char *const *known,
           const char *list)
{
    for (size_t i = 0; i < map->npairs; i++) {
        size_t k = 0;
        while (known[k] && strcmp(known[k], map->pairs[i].key->scalar) != 0)
            k++;
        if (!known[k])
            return gw_cfg_error(pl, map->pairs[i].key, "unknown key '%s' (known: %s)",
                                map->pairs[i].key->scalar, list);
    }
    return 0;
}

static int
load_categories(struct gw_cfg_ctx *pl, struct gw_inj_pack *p, const struct gw_cnode *seq)
{
    static const char *const known[] = {"name", "label", "severity", "quoted", NULL};
    if (!seq || seq->type != GW_CNODE_SEQ || seq->nitems == 0)
        return gw_cfg_error(pl, seq, "'categories' must be a non-empty list");
    if (seq->nitems > MAX_CATS)
        return gw_cfg_error(pl, seq, "at most %d categories", MAX_CATS);
    p->cats = calloc(seq->nitems, sizeof(*p->cats));
    if (!p->cats)
        return gw_cfg_error(pl, NULL, "out of memory");
    for (size_t i = 0; i < seq->nitems; i++) {
        const struct gw_cnode *c = seq->items[i];
        struct gw_inj_category *cat = &p->cats[i];
        if (c->type != GW_CNODE_MAP)
            return gw_cfg_error(pl, c,
                                "a category must be a mapping with name, label and severity");
        if (check_keys(pl, c, known, "name, label, severity, quoted") < 0)
            return -1;
        const char *name = scalar(gw_cnode_get(c, "name"));
        const char *label = scalar(gw_cnode_get(c, "label"));
        if (!name_ok(name, 0))
            return gw_cfg_error(pl, c, "a category needs a 'name' of [a-z0-9_-]");
        for (size_t j = 0; j < i; j++)
            if (strcmp(p->cats[j].name, name) == 0)
                return gw_cfg_error(pl, c, "duplicate category '%s'", name);
        double sev = 2;
        const struct gw_cnode *s = gw_cnode_get(c, "severity");
        if (s && number(pl, s, "severity", 1, 4, &sev) < 0)
            return -1;
        double quoted = 1;
        const struct gw_cnode *qn = gw_cnode_get(c, "quoted");
        if (qn && number(pl, qn, "quoted", 0, 1, &quoted) < 0)
            return -1;
        if (quoted <= 0) /* a quoted match would be a hit that counts nothing */
            return gw_cfg_error(pl, qn, "'quoted' must be greater than 0");
        cat->name = strdup(name);
        cat->label = strdup(label ? label : name);
        cat->severity = (int)sev;
        cat->quoted = quoted;
        p->quoted |= quoted < 1;
        p->ncats = i + 1;
        if (!cat->name || !cat->label)
            return gw_cfg_error(pl, NULL, "out of memory");
        for (char *q = cat->label; *q; q++)
            if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20)
                *q = ' ';
    }
    return 0;
}

/* The pack's `define:` fragments, expanded, in document order. */
struct frags {
    size_t n;
    const char *name[MAX_FRAGS];
    char *text[MAX_FRAGS];
};

static void
frags_free(struct frags *f)
{
    for (size_t i = 0; i < f->n; i++)
        free(f->text[i]);
    f->n = 0;
}

static int
frag_find(const struct frags *f, const char *name, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (strlen(f->name[i]) == len && memcmp(f->name[i], name, len) == 0)
            return (int)i;
    return -1;
}

/* Appends n bytes at s to b unless that makes it longer than MAX_EXPANDED. */
static int
buf_put(struct gw_strbuf *b, const char *s, size_t n)
{
    return b->len + n > MAX_EXPANDED ? -1 : gw_strbuf_put(b, s, n);
}

/* pat with every (?&name) outside a bracket class replaced by (?:the fragment): a new string, or
 * NULL with a message in why (an unknown name, or an expansion over MAX_EXPANDED bytes). */
static char *
expand(const struct frags *f, const char *pat, char *why, size_t whylen)
{
    struct gw_strbuf b = {0};
    int in_class = 0;
    for (const char *c = pat; *c;) {
        size_t n = 1;
        if (*c == '\\' && c[1]) {
            n = 2;
        } else if (in_class) {
            in_class = *c != ']';
        } else if (*c == '[') {
            /* a ']' right after '[' or '[^' is a member, not the end */
            n = c[1] == '^' ? 2 : 1;
            if (c[n] == ']')
                n++;
            in_class = 1;
        } else if (strncmp(c, "(?&", 3) == 0) {
            const char *name = c + 3, *end = strchr(name, ')');
            int k = end ? frag_find(f, name, (size_t)(end - name)) : -1;
            if (k < 0) {
                snprintf(why, whylen,
                         "unknown fragment '(?&%.*s)' (define it under 'define:' first)",
                         end ? (int)(end - name) : 20, name);
                free(b.p);
                return NULL;
            }
            if (buf_put(&b, "(?:", 3) < 0 || buf_put(&b, f->text[k], strlen(f->text[k])) < 0 ||
                buf_put(&b, ")", 1) < 0)
                goto too_long;
            c = end + 1;
            continue;
        }
        if (buf_put(&b, c, n) < 0)
            goto too_long;
        c += n;
    }
    if (!b.p && buf_put(&b, "", 0) < 0)
        goto too_long;
    return b.p;
too_long:
    snprintf(why, whylen, "longer than %u bytes with its fragments expanded (or out of memory)",
             MAX_EXPANDED);
    free(b.p);
    return NULL;
}

/* The pattern text of a rule or fragment (what: "rule" / "fragment", named name) with its
 * fragments expanded: a new string, or NULL after a config error at node at. */
static char *
expand_checked(struct gw_cfg_ctx *pl, const struct frags *f, const char *text,
               const struct gw_cnode *at, const char *what, const char *name)
{
    char why[200];
    char *x = expand(f, text, why, sizeof(why));
    if (!x) {
        gw_cfg_error(pl, at, "%s '%s': %s", what, name, why);
        return NULL;
    }
    if (class_has_non_ascii(x)) {
        free(x);
        gw_cfg_error(pl, at,
                     "%s '%s': non-ASCII character inside [...]: patterns match bytes, write "
                     "alternatives of non-ASCII characters as (a|b)",
                     what, name);
        return NULL;
    }
    long q = quantified_non_ascii(x);
    if (q >= 0) {
        int n = 1;
        while (n < 4 && ((unsigned char)x[q + n] & 0xc0) == 0x80)
            n++;
        gw_cfg_error(pl, at,
                     "%s '%s': a quantifier after the non-ASCII character '%.*s' repeats its last "
                     "byte only (patterns match bytes): write it in a group, (%.*s)%c",
                     what, name, n, x + q, n, x + q, x[q + n]);
        free(x);
        return NULL;
    }
    return x;
}

/* `define: {name: pattern, ...}`: named pieces of patterns that rules (and later fragments) use
 * as (?&name). */
static int
load_frags(struct gw_cfg_ctx *pl, const struct gw_cnode *d, struct frags *f)
{
    if (!d)
        return 0;
    if (d->type != GW_CNODE_MAP)
        return gw_cfg_error(pl, d, "'define' must be a mapping of fragment names to patterns");
    if (d->npairs > MAX_FRAGS)
        return gw_cfg_error(pl, d, "at most %d fragments under 'define'", MAX_FRAGS);
    for (size_t i = 0; i < d->npairs; i++) {
        const char *name = d->pairs[i].key->scalar, *text = scalar(d->pairs[i].value);
        if (!name_ok(name, 0))
            return gw_cfg_error(pl, d->pairs[i].key, "a fragment name must be [a-z0-9_-]");
        if (!text || !*text)
            return gw_cfg_error(pl, d->pairs[i].value, "fragment '%s' must be a pattern", name);
        char *x = expand_checked(pl, f, text, d->pairs[i].value, "fragment", name);
        if (!x)
            return -1;
        f->name[f->n] = name;
        f->text[f->n++] = x;
    }
    return 0;
}

static int
positive_weight(struct gw_cfg_ctx *pl, const struct gw_cnode *n, const char *id, double *out)
{
    if (number(pl, n, "weight", 0, 10, out) < 0)
        return -1;
    if (*out <= 0)
        return gw_cfg_error(pl, n, "rule '%s': 'weight' must be greater than 0", id);
    return 0;
}

/* `weight: 0.5`, or one per side the rule applies to: `weight: {direct: 0.5, indirect: 0.4375}`
 * (a rule whose matches are ordinary in documents but not in a user's words). Needs r->where. */
static int
load_weight(struct gw_cfg_ctx *pl, const struct gw_cnode *o, const char *id, struct gw_inj_rule *r)
{
    const struct gw_cnode *wn = gw_cnode_get(o, "weight");
    if (!wn)
        return gw_cfg_error(pl, o, "rule '%s': missing 'weight'", id);
    if (wn->type != GW_CNODE_MAP) {
        if (positive_weight(pl, wn, id, &r->weight) < 0)
            return -1;
        r->weight_indirect = r->weight;
        return 0;
    }
    static const char *const sides[] = {"direct", "indirect", NULL};
    if (r->where == GW_INJ_SYSTEM)
        return gw_cfg_error(pl, wn, "rule '%s': a 'where: system' rule has one 'weight'", id);
    if (check_keys(pl, wn, sides, "direct, indirect") < 0)
        return -1;
    for (unsigned k = 0; k < 2; k++) {
        unsigned bit = k ? GW_INJ_INDIRECT : GW_INJ_DIRECT;
        const struct gw_cnode *v = gw_cnode_get(wn, sides[k]);
        if (!(r->where & bit) && v)
            return gw_cfg_error(pl, v,
                                "rule '%s': 'weight: %s' for a rule that is not scored on %s text",
                                id, sides[k], sides[k]);
        if ((r->where & bit) && !v)
            return gw_cfg_error(pl, wn,
                                "rule '%s': 'weight' needs '%s' (the rule is scored on %s text)",
                                id, sides[k], sides[k]);
        if (v && positive_weight(pl, v, id, k ? &r->weight_indirect : &r->weight) < 0)
            return -1;
    }
    if (!(r->where & GW_INJ_DIRECT))
        r->weight = r->weight_indirect;
    if (!(r->where & GW_INJ_INDIRECT))
        r->weight_indirect = r->weight;
    return 0;
}

/* The built-in detectors a rule may name (`detector:`), by enum gw_inj_detector: the name, the
 * source function that answers for it (one call per text serves all of its rules) and the answer
 * that counts the rule. */
static int (*const sources[])(const char *, size_t, size_t *,
                              size_t *) = {gw_tabular_request, gw_stray_task, gw_scripted_answers};
static const struct {
    const char *name;
    unsigned char source, answer;
} detectors[] = {
    [GW_INJ_DET_TABULAR_REQUEST] = {"tabular-request", 0, 1},
    [GW_INJ_DET_STRAY_TASK] = {"stray-task", 1, 1},
    [GW_INJ_DET_STRAY_TASK_BODY] = {"stray-task-body", 1, GW_STRAY_BODY},
    [GW_INJ_DET_SCRIPTED_OPEN] = {"scripted-open", 2, GW_SCRIPT_OPEN},
    [GW_INJ_DET_SCRIPTED_REPEAT] = {"scripted-repeat", 2, GW_SCRIPT_REPEATED},
};
#define NDETECTORS (sizeof(detectors) / sizeof(detectors[0]))
#define NSOURCES (sizeof(sources) / sizeof(sources[0]))

static int
load_rule(struct gw_cfg_ctx *pl, struct gw_inj_pack *p, const struct gw_cnode *o,
          const struct frags *frags, struct gw_inj_rule *r)
{
    static const char *const known[] = {"id",      "pattern", "detector", "category",
                                        "weight",  "where",   "lang",     "match",
                                        "nomatch", "check",   "train",    NULL};
    if (o->type != GW_CNODE_MAP)
        return gw_cfg_error(pl, o, "a rule must be a mapping");
    if (check_keys(pl, o, known,
                   "id, pattern, detector, category, weight, where, lang, match, nomatch, "
                   "check, train") < 0)
        return -1;
    const char *id = scalar(gw_cnode_get(o, "id"));
    if (!name_ok(id, 1))
        return gw_cfg_error(pl, o, "a rule needs an 'id' of [a-z0-9_.-]");
    const struct gw_cnode *pn = gw_cnode_get(o, "pattern");
    const struct gw_cnode *dn = gw_cnode_get(o, "detector");
    const char *pat = scalar(pn);
    if (dn && pn)
        return gw_cfg_error(pl, dn, "rule '%s': 'pattern' and 'detector' exclude each other", id);
    if (dn) {
        const char *d = scalar(dn);
        char names[160];
        size_t nn = 0;
        for (unsigned k = 1; k < NDETECTORS; k++) {
            if (d && !strcmp(d, detectors[k].name))
                r->detector = k;
            if (nn < sizeof(names))
                nn += (size_t)snprintf(names + nn, sizeof(names) - nn, "%s%s", k > 1 ? ", " : "",
                                       detectors[k].name);
        }
        if (r->detector == GW_INJ_DET_NONE)
            return gw_cfg_error(pl, dn, "rule '%s': unknown 'detector' (known: %s)", id, names);
    } else if (!pat || !*pat) {
        return gw_cfg_error(pl, o, "rule '%s': missing 'pattern' (or 'detector')", id);
    }
    const struct gw_cnode *cn = gw_cnode_get(o, "category");
    int cat = gw_inj_category_find(p, scalar(cn) ? scalar(cn) : "");
    if (cat < 0)
        return gw_cfg_error(pl, cn ? cn : o, "rule '%s': unknown or missing 'category'", id);
    const struct gw_cnode *wh = gw_cnode_get(o, "where");
    const char *where = wh ? scalar(wh) : "both";
    if (!where)
        return gw_cfg_error(pl, wh, "rule '%s': 'where' must be direct, indirect, both or system",
                            id);
    if (strcmp(where, "direct") == 0)
        r->where = GW_INJ_DIRECT;
    else if (strcmp(where, "indirect") == 0)
        r->where = GW_INJ_INDIRECT;
    else if (strcmp(where, "both") == 0)
        r->where = GW_INJ_DIRECT | GW_INJ_INDIRECT;
    else if (strcmp(where, "system") == 0)
        r->where = GW_INJ_SYSTEM;
    else
        return gw_cfg_error(pl, wh, "rule '%s': 'where' must be direct, indirect, both or system",
                            id);
    if (load_weight(pl, o, id, r) < 0)
        return -1;
    const struct gw_cnode *tn = gw_cnode_get(o, "train");
    const char *train = tn ? scalar(tn) : NULL;
    if (tn && (!train || tn->quoted || (strcmp(train, "true") && strcmp(train, "false"))))
        return gw_cfg_error(pl, tn, "rule '%s': 'train' must be true or false", id);
    if (tn && r->where == GW_INJ_SYSTEM)
        return gw_cfg_error(pl, tn,
                            "rule '%s': 'train' is for attack rules (a 'where: system' rule's "
                            "examples are system prompts)",
                            id);
    const struct gw_cnode *ln = gw_cnode_get(o, "lang");
    if (ln) {
        size_t used = 0;
        const struct gw_cnode *const *items =
            ln->type == GW_CNODE_SEQ ? (const struct gw_cnode *const *)ln->items : &ln;
        size_t n = ln->type == GW_CNODE_SEQ ? ln->nitems : 1;
        for (size_t i = 0; i < n; i++) {
            const char *l = scalar(items[i]);
            if (!l || strlen(l) < 2 || strlen(l) > 3 || !name_ok(l, 0))
                return gw_cfg_error(pl, items[i],
                                    "rule '%s': 'lang' must be language codes (en, de, ...)", id);
            used += (size_t)snprintf(r->langs + used, sizeof(r->langs) - used, "%s%s",
                                     used ? " " : "", l);
            if (used >= sizeof(r->langs))
                return gw_cfg_error(pl, ln, "rule '%s': too many languages", id);
        }
    } else {
        snprintf(r->langs, sizeof(r->langs), "en");
    }
    static const char *const examples[] = {"match", "nomatch", "check"};
    for (size_t k = 0; k < 3; k++) {
        const struct gw_cnode *ex = gw_cnode_get(o, examples[k]);
        if (ex && ex->type != GW_CNODE_SEQ)
            return gw_cfg_error(pl, ex, "rule '%s': '%s' must be a list of example texts", id,
                                examples[k]);
    }
    for (size_t i = 0; i < p->nrules; i++)
        if (strcmp(p->rules[i].id, id) == 0)
            return gw_cfg_error(pl, o, "duplicate rule id '%s' (first at line %d)", id,
                                p->rules[i].line);
    r->id = strdup(id);
    if (!r->id)
        return gw_cfg_error(pl, NULL, "out of memory");
    if (pat) {
        char *x = expand_checked(pl, frags, pat, pn, "rule", id);
        if (!x)
            return -1;
        /* the text is matched with its diacritics folded (GW_NORM_DIACRITIC): so is the
         * pattern (folding never lengthens it) */
        r->pattern = malloc(strlen(x) + 1);
        if (r->pattern)
            r->pattern[gw_fold_diacritics(x, strlen(x), r->pattern)] = '\0';
        free(x);
        if (!r->pattern)
            return gw_cfg_error(pl, NULL, "out of memory");
        int dl;
        long d = gw_rx_dead_boundary(r->pattern, &dl);
        if (d >= 0)
            return gw_cfg_error(pl, pn,
                                "rule '%s': \\b next to '%.*s' never matches (word boundaries are "
                                "ASCII, and normalisation leaves that letter outside ASCII): leave "
                                "the \\b out there",
                                id, dl, r->pattern + d);
    }
    r->category = (unsigned)cat;
    r->line = o->line;
    if (r->detector) {
        if (r->where & GW_INJ_SYSTEM)
            return gw_cfg_error(pl, wh, "rule '%s': a detector rule cannot be 'where: system'", id);
        p->detectors |= r->where;
        return 0;
    }

    unsigned minw, maxw;
    char msg[256];
    if (gw_scan_expr_widths(r->pattern, HS_FLAG_DOTALL, &minw, &maxw, msg, sizeof(msg)) < 0)
        return gw_cfg_error(pl, pn, "rule '%s': %s", id, msg);
    r->min_len = minw;
    if (r->min_len == 0)
        return gw_cfg_error(pl, pn, "rule '%s': the pattern matches the empty string", id);
    return 0;
}

/* Words that give away ROT13 and reversed English, and the turned letters of text written upside
 * down (three groups each: a window with words of two groups of one form is read in that form
 * too). Compiled after the pack's rules. */
/* Reversed Russian words (Cyrillic: \b is ASCII-only in byte mode, so their edges are spelled
 * out): все это; ты твои твой тебе ваши вы; инструкции предыдущие игнорируй пароль секрет. */
#define CYR_WORD(alts) "(^|[ ,.;:!?])(" alts ")([ ,.;:!?]|$)"
#define REV_RU_THE CYR_WORD("\xd0\xb5\xd1\x81\xd0\xb2|\xd0\xbe\xd1\x82\xd1\x8d")
#define REV_RU_YOU                                                                                 \
    CYR_WORD(                                                                                      \
        "\xd1\x8b\xd1\x82|\xd0\xb8\xd0\xbe\xd0\xb2\xd1\x82|\xd0\xb9\xd0\xbe\xd0\xb2\xd1\x82"       \
        "|\xd0\xb5\xd0\xb1\xd0\xb5\xd1\x82|\xd0\xb8\xd1\x88\xd0\xb0\xd0\xb2|\xd1\x8b\xd0\xb2")
#define REV_RU_WORDS                                                                               \
    CYR_WORD("\xd0\xb8\xd0\xb8\xd1\x86\xd0\xba\xd1\x83\xd1\x80\xd1\x82\xd1\x81\xd0\xbd\xd0\xb8"    \
             "|\xd0\xb5\xd0\xb8\xd1\x89\xd1\x83\xd0\xb4\xd1\x8b\xd0\xb4\xd0\xb5\xd1\x80\xd0\xbf"   \
             "|\xd0\xb9\xd1\x83\xd1\x80\xd0\xb8\xd1\x80\xd0\xbe\xd0\xbd\xd0\xb3\xd0\xb8|"          \
             "\xd0\xb8\xd1\x83\xd1\x80\xd0\xb8\xd1\x80\xd0\xbe\xd0\xbd\xd0\xb3\xd0\xb8"            \
             "|\xd1\x8c\xd0\xbb\xd0\xbe\xd1\x80\xd0\xb0\xd0\xbf|"                                  \
             "\xd1\x82\xd0\xb5\xd1\x80\xd0\xba\xd0\xb5\xd1\x81")
static const char *const markers[] = {
    /* ROT13: the; you, your; and, all, instructions, previous, ignore, prompt, password, secret,
     * system */
    "\\bgur\\b",
    "\\blbhe?\\b",
    "\\b(naq|nyy|vafgehpgvbaf|cerivbhf|vtaber|cebzcg|cnffjbeq|frperg|flfgrz)\\b",
    /* reversed: the; you, your; and, all, instructions ... -- and the same words of the main
     * languages (folded: no accents), leaving out those that are words forward ("red", "sad",
     * "set", "rid", "sed", "nee", "out"): die, den, einen, les, une, los, las, una, gli, della,
     * che, uma, que, nao, het, und, todas, todos, toutes, tous, tutte, tutti; все, это | du, dich,
     * deine, vous, votre, vos, tus, usted, tu, tua, tuoi, voce, teu, jouw, jullie; ты, твои, тебе,
     * ваши, вы | Anweisungen, ignoriere, vorherigen, Passwort, Geheimnis, précédentes, mot de
     * passe, instrucciones, anteriores, ignora, contraseña, secreto, sistema, istruzioni, segreto,
     * instruções, senha, instructies, vorige, negeer, wachtwoord, geheim, systeem; инструкции,
     * предыдущие, игнорируй, пароль, секрет */
    "\\b(eht|eid|ned|nenie|menie|sel|enu|sol|sal|anu|ilg|alled|elled|ehc|amu|euq|oan|teh|dnu|"
    "sadot|sodot|setuot|suot|ettut|ittut)\\b|" REV_RU_THE,
    "\\b(ruoy?|uoy|ud|hcid|enied|nenied|suov|ertov|sov|sut|detsu|ut|aut|iout|ecov|uet|wuoj|"
    "eilluj)\\b|" REV_RU_YOU,
    "\\b(dna|lla|snoitcurtsni|suoiverp|erongi|tpmorp|drowssap|terces|metsys|negnusiewna|"
    "gnusiewna|ereirongi|negirehrov|trowssap|sinmieheg|setnedecerp|essap ed tom|emetsys|"
    "senoiccurtsni|seroiretna|arongi|anesartnoc|oterces|ametsis|inoizurtsi|itnedecerp|oterges|"
    "seocurtsni|ahnes|oderges|seitcurtsni|egirov|reegen|droowthcaw|mieheg|meetsys)"
    "\\b|" REV_RU_WORDS,
    /* upside down: turned e and a; turned r, t, i; the other turned letters (IPA writes schwa
     * with U+0259, not the turned e U+01DD) */
    "(\xc7\x9d|\xc9\x90)",
    "(\xc9\xb9|\xca\x87|\xe1\xb4\x89)",
    "(\xc9\x94|\xca\x8e|\xc9\xaf|\xc9\xa5|\xca\x9e|\xc6\x83|\xc9\x9f|\xca\x8d|\xca\x8c)",
};
#define NMARKERS (sizeof(markers) / sizeof(markers[0]))
#define NFORMS 3 /* three marker groups per form */
_Static_assert(NMARKERS == 3 * NFORMS, "three marker groups per form");

/* A database being built: its tables (grown as pieces come) and the expressions to compile. */
struct build {
    struct gw_inj_db *db;
    struct gw_scan_rule *sr;
    size_t cap_p, cap_r, cap_s, cap_c; /* allocated pieces, expressions, steps, chains */
};

static int
grow(void **arr, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap * 2 : 64;
    while (n < need)
        n *= 2;
    void *q = realloc(*arr, n * size);
    if (!q)
        return -1;
    *arr = q;
    *cap = n;
    return 0;
}

/* The index of the piece of rule ri with text [s, s + len) (pieces of one rule are added in a
 * row from index first), added when new; whole wins over chained. -1: out of memory. */
static long
piece_for(struct build *b, size_t first, unsigned ri, const char *s, size_t len, int chained,
          uint32_t minw, uint32_t maxw)
{
    struct gw_inj_db *db = b->db;
    for (size_t k = first; k < db->npieces; k++)
        if (strlen(b->sr[k].pattern) == len && memcmp(b->sr[k].pattern, s, len) == 0) {
            if (!chained)
                db->pieces[k].chained = 0;
            return (long)k;
        }
    if (grow((void **)&db->pieces, &b->cap_p, db->npieces + 1, sizeof(*db->pieces)) < 0 ||
        grow((void **)&b->sr, &b->cap_r, db->npieces + 1 + NMARKERS, sizeof(*b->sr)) < 0)
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, s, len);
    copy[len] = '\0';
    size_t k = db->npieces++;
    db->pieces[k] = (struct gw_inj_piece){ri, (unsigned)chained, minw, maxw, 0};
    b->sr[k] = (struct gw_scan_rule){.pattern = copy};
    return (long)k;
}

/* An unbounded run of word or non-space characters (\w* \w+ \S* \S+, a word's inflections) counts
 * as at most this many bytes when a piece's width is measured for its gap. */
#define RUN_MAX 24

/* A branch is cut only when one of its gaps is this long: what Hyperscan pays for is long gaps
 * after large alternations (the shipped pack's 12 s rule has one of 60), while a cut branch
 * reports every end of its pieces, so cutting at short gaps costs scan time and saves little
 * (cutting every gap of the shipped pack: 36 % more scan time for 2 s less compile). */
#define SPLIT_MIN_GAP 60

/* The shortest and longest match of an expression, reading \w*, \w+, \S* and \S+ as runs of at
 * most RUN_MAX: 0 when it has no bounded non-empty form. */
static int
widths(const char *s, size_t len, uint32_t *minw, uint32_t *maxw)
{
    char buf[4096];
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (o + 8 >= sizeof(buf))
            return 0;
        if (s[i] == '\\' && i + 2 < len && (s[i + 1] == 'w' || s[i + 1] == 'S') &&
            (s[i + 2] == '*' || s[i + 2] == '+') &&
            !(i + 3 < len && (s[i + 3] == '?' || s[i + 3] == '+'))) {
            o += (size_t)snprintf(buf + o, sizeof(buf) - o, "\\%c{%d,%d}", s[i + 1],
                                  s[i + 2] == '+', RUN_MAX);
            i += 2;
            continue;
        }
        if (s[i] == '\\' && i + 1 < len) /* an escape is copied whole */
            buf[o++] = s[i++];
        buf[o++] = s[i];
    }
    buf[o] = '\0';
    unsigned mn, mx;
    if (gw_scan_expr_widths(buf, HS_FLAG_DOTALL, &mn, &mx, NULL, 0) < 0)
        return 0;
    *minw = mn;
    *maxw = mx;
    return mn > 0 && mx != UINT_MAX;
}

/* The end of the branch whose first piece is rp[i] (k pieces in all). */
static size_t
branch_end(const struct gw_rx_piece *rp, size_t k, size_t i)
{
    size_t j = i + 1;
    while (j < k && !rp[j].first)
        j++;
    return j;
}

/* Whether the branch of n pieces rp is cut: a gap of SPLIT_MIN_GAP or more, and every piece of a
 * bounded, non-empty width (mn, mx) that varies by at most half the gap before it. */
static int
cut_branch(const char *pat, const struct gw_rx_piece *rp, size_t n, uint32_t *mn, uint32_t *mx)
{
    unsigned widest = 0;
    for (size_t m = 1; m < n; m++)
        if (rp[m].gap_max > widest)
            widest = rp[m].gap_max;
    if (widest < SPLIT_MIN_GAP)
        return 0;
    for (size_t m = 0; m < n; m++)
        if (!widths(pat + rp[m].off, rp[m].len, &mn[m], &mx[m]) ||
            (m > 0 && mx[m] - mn[m] > rp[m].gap_max / 2))
            return 0;
    return 1;
}

/* Rule ri's expressions in b: the branches cut_branch cuts as chains of pieces (rxsplit.h), the
 * others whole; the pattern as written when no branch is cut. */
static int
add_rule(struct build *b, unsigned ri, const char *pat, size_t min_len)
{
    struct gw_inj_db *db = b->db;
    struct gw_rx_piece rp[256];
    uint32_t mn[256], mx[256];
    unsigned char cut[256] = {0};
    size_t first = db->npieces, k = gw_rx_split(pat, strlen(pat), rp, 256);
    int any = 0;
    for (size_t i = 0; i < k; i = branch_end(rp, k, i))
        any |= cut[i] =
            (unsigned char)cut_branch(pat, rp + i, branch_end(rp, k, i) - i, mn + i, mx + i);
    if (!any)
        return piece_for(b, first, ri, pat, strlen(pat), 0, (uint32_t)min_len, 0) < 0 ? -1 : 0;
    for (size_t i = 0, j; i < k; i = j) {
        j = branch_end(rp, k, i);
        if (!cut[i]) {
            size_t from = rp[i].off, to = rp[j - 1].off + rp[j - 1].len;
            uint32_t w = 0, x = 0;
            widths(pat + from, to - from, &w, &x);
            if (piece_for(b, first, ri, pat + from, to - from, 0, w ? w : 1, x) < 0)
                return -1;
            continue;
        }
        if (grow((void **)&db->steps, &b->cap_s, db->nsteps + (j - i), sizeof(*db->steps)) < 0 ||
            grow((void **)&db->chains, &b->cap_c, db->nchains + 1, sizeof(*db->chains)) < 0)
            return -1;
        size_t s0 = db->nsteps;
        for (size_t m = i; m < j; m++) {
            long pc = piece_for(b, first, ri, pat + rp[m].off, rp[m].len, 1, mn[m], mx[m]);
            if (pc < 0)
                return -1;
            db->steps[db->nsteps++] =
                (struct gw_inj_step){(unsigned)pc, m == i ? 0 : rp[m].gap_min + mn[m],
                                     m == i ? 0 : rp[m].gap_max + mx[m]};
        }
        db->chains[db->nchains++] = (struct gw_inj_chain){ri, (unsigned)s0, (unsigned)(j - i)};
    }
    return 0;
}

/* Whether pattern s has a ^ anchor (a ^ not opening a class): such a piece cannot be matched in
 * a window cut from the text. */
static int
has_caret(const char *s)
{
    for (size_t i = 0; s[i]; i++) {
        if (s[i] == '\\' && s[i + 1])
            i++;
        else if (s[i] == '^' && (i == 0 || s[i - 1] != '['))
            return 1;
    }
    return 0;
}

/* Puts the pieces that are only ever a later step of a chain (tails) after the others
 * (db->nmain): they go into a database of their own, scanned only near the ends of the chains'
 * first pieces (scan_tails), since a later piece alone is never a hit. The first pieces learn
 * how far after their end their chains may end (reach), the database how long a tail may be
 * (back). A tail with a ^ anchor stays in the main database. -1: out of memory. */
static int
gate_tails(struct build *b)
{
    struct gw_inj_db *db = b->db;
    size_t n = db->npieces, k = 0;
    db->nmain = n;
    if (!db->nchains)
        return 0;
    unsigned char *tail = calloc(n, 1);
    unsigned *to = malloc(n * sizeof(*to));
    struct gw_inj_piece *pc = malloc(n * sizeof(*pc));
    struct gw_scan_rule *sr = malloc(n * sizeof(*sr));
    if (!tail || !to || !pc || !sr) {
        free(tail), free(to), free(pc), free(sr);
        return -1;
    }
    for (size_t c = 0; c < db->nchains; c++) {
        const struct gw_inj_step *st = &db->steps[db->chains[c].first];
        uint64_t reach = 0;
        for (unsigned s = 1; s < db->chains[c].n; s++) {
            tail[st[s].piece] |= 1;
            reach += st[s].hi;
        }
        struct gw_inj_piece *h = &db->pieces[st[0].piece];
        if (reach > h->reach)
            h->reach = reach < UINT32_MAX / 2 ? (uint32_t)reach : UINT32_MAX / 2;
    }
    for (size_t c = 0; c < db->nchains; c++) /* a first piece anywhere stays in the main one */
        tail[db->steps[db->chains[c].first].piece] = 0;
    for (size_t i = 0; i < n; i++)
        if (!db->pieces[i].chained || has_caret(b->sr[i].pattern))
            tail[i] = 0;
    for (int t = 0; t <= 1; t++) { /* the main pieces, then the tails */
        for (size_t i = 0; i < n; i++)
            if (tail[i] == t) {
                to[i] = (unsigned)k;
                pc[k] = db->pieces[i];
                sr[k++] = b->sr[i];
                if (t && db->pieces[i].maxw + 1 > db->back)
                    db->back = db->pieces[i].maxw + 1;
            }
        if (!t)
            db->nmain = k;
    }
    memcpy(db->pieces, pc, n * sizeof(*pc));
    memcpy(b->sr, sr, n * sizeof(*sr));
    for (size_t s = 0; s < db->nsteps; s++)
        db->steps[s].piece = to[db->steps[s].piece];
    free(tail), free(to), free(pc), free(sr);
    return 0;
}

/* Database d (GW_INJ_DB_*): the pattern rules whose where is d's, then (for the `both` rules'
 * database) the markers. */
static int
compile_one(struct gw_cfg_ctx *pl, struct gw_inj_pack *p, const struct gw_cnode *rules, int d)
{
    static const unsigned where[GW_INJ_NDB] = {
        GW_INJ_DIRECT | GW_INJ_INDIRECT, GW_INJ_DIRECT, GW_INJ_INDIRECT, GW_INJ_SYSTEM,
        GW_INJ_DIRECT | GW_INJ_INDIRECT, GW_INJ_DIRECT, GW_INJ_INDIRECT};
    static const char *const name[GW_INJ_NDB] = {
        "injection",       "injection-direct",       "injection-indirect",      "injection-system",
        "injection-gated", "injection-direct-gated", "injection-indirect-gated"};
    unsigned gated = d >= GW_INJ_DB_BOTH_GATED;
    struct build b = {.db = &p->db[d]};
    int rc = -1;
    if (grow((void **)&b.sr, &b.cap_r, 1 + NMARKERS, sizeof(*b.sr)) < 0)
        goto oom;
    for (size_t i = 0; i < p->nrules; i++) {
        const struct gw_inj_rule *r = &p->rules[i];
        if (r->where != where[d] || r->detector || r->gated != gated)
            continue;
        if (add_rule(&b, (unsigned)i, r->pattern, r->min_len) < 0)
            goto oom;
    }
    if (gate_tails(&b) < 0)
        goto oom;
    size_t n = b.db->npieces, k = b.db->nmain, nm = d == GW_INJ_DB_BOTH ? NMARKERS : 0;
    for (size_t i = 0; i < n; i++) {
        b.sr[i].id = p->rules[b.db->pieces[i].rule].id;
        b.sr[i].flags = HS_FLAG_DOTALL | (b.db->pieces[i].chained ? 0 : HS_FLAG_SINGLEMATCH);
    }
    /* the main database's expressions: the pieces before nmain, then the markers */
    struct gw_scan_rule *ms = malloc((k + nm + 1) * sizeof(*ms));
    if (!ms)
        goto oom;
    memcpy(ms, b.sr, k * sizeof(*ms));
    for (size_t i = 0; i < nm; i++)
        ms[k + i] = (struct gw_scan_rule){"(encoding marker)", markers[i], HS_FLAG_SINGLEMATCH};
    char err[400], tname[48];
    size_t bad = 0, r = rules->nitems;
    /* compiling the shipped pack takes seconds; loading it from the cache, milliseconds */
    b.db->db = gw_scan_compile_cached(name[d], ms, k + nm, 0, 0, err, sizeof(err), &bad);
    free(ms);
    if (!b.db->db) {
        r = bad < k ? b.db->pieces[bad].rule : r;
    } else if (n > k) {
        snprintf(tname, sizeof(tname), "%s-tails", name[d]);
        b.db->tails = gw_scan_compile_cached(tname, b.sr + k, n - k, 0, 0, err, sizeof(err), &bad);
        if (!b.db->tails)
            r = bad < n - k ? b.db->pieces[k + bad].rule : r;
    }
    if (!b.db->db || (n > k && !b.db->tails)) {
        const struct gw_cnode *at =
            r < rules->nitems ? gw_cnode_get(rules->items[r], "pattern") : NULL;
        gw_cfg_error(pl, at, "%s", err);
    } else {
        rc = 0;
    }
    goto out;
oom:
    gw_cfg_error(pl, NULL, "out of memory");
out:
    for (size_t i = 0; i < b.db->npieces; i++)
        free((char *)b.sr[i].pattern);
    free(b.sr);
    return rc;
}

struct db_job {
    struct gw_inj_pack *p;
    const struct gw_cnode *rules;
    struct gw_cfg_ctx pl; /* the loader's context, with an error buffer of its own */
    char err[600];
    int rc;
};

static void
db_run(void *arg, size_t d)
{
    struct db_job *j = &((struct db_job *)arg)[d];
    j->rc = compile_one(&j->pl, j->p, j->rules, (int)d);
}

/* Seven databases (see struct gw_inj_pack): the rules one side needs cost the others nothing.
 * Compiled side by side (each writes only its own p->db[d]); the first database's error in this
 * order is the one reported, as when they were compiled one after the other. */
static int
compile(struct gw_cfg_ctx *pl, struct gw_inj_pack *p, const struct gw_cnode *rules)
{
    struct db_job j[GW_INJ_NDB];
    for (int d = 0; d < GW_INJ_NDB; d++) {
        j[d] = (struct db_job){.p = p, .rules = rules, .pl = *pl};
        j[d].pl.err = j[d].err;
        j[d].pl.errlen = sizeof(j[d].err);
    }
    gw_par_run(GW_INJ_NDB, db_run, j);
    for (int d = 0; d < GW_INJ_NDB; d++)
        if (j[d].rc < 0) {
            if (pl->errlen)
                snprintf(pl->err, pl->errlen, "%s", j[d].err);
            return -1;
        }
    return 0;
}

/* ---- the language gate ---- */

/* The gate's words as literals between spaces (" word ", " stem" for "stem*"): a set of literals
 * with the spaces in them costs Hyperscan next to nothing on English text, where the same words
 * between \b cost 7 us per 2 KB (as much as the rules they saved), and " word," / " word." as
 * well 5 us. A word next to other punctuation is missed: a window of that language has others. */
struct gate_words {
    struct gw_scan_rule *sr;
    size_t n, cap;
};

static int
gate_word(struct gw_cfg_ctx *pl, struct gate_words *gw, const struct gw_cnode *wn)
{
    const char *w = scalar(wn);
    size_t len = w ? strlen(w) : 0, stem = len && w[len - 1] == '*';
    if (len - stem < 2 || len > 40 || strspn(w, "abcdefghijklmnopqrstuvwxyz") != len - stem)
        return gw_cfg_error(pl, wn,
                            "'language_gate': a word is 2 to 40 letters a-z as normalised text "
                            "reads (no accents), '*' at the end for a stem");
    char *pat = malloc(len + 3);
    if (!pat || grow((void **)&gw->sr, &gw->cap, gw->n + 1, sizeof(*gw->sr)) < 0) {
        free(pat);
        return gw_cfg_error(pl, NULL, "out of memory");
    }
    snprintf(pat, len + 3, " %.*s%s", (int)(len - stem), w, stem ? "" : " ");
    gw->sr[gw->n++] = (struct gw_scan_rule){"language_gate", pat, HS_FLAG_SINGLEMATCH};
    return 0;
}

/*
 * language_gate: {open: [en, ...], short: BYTES, words: {LANG: [word, stem*, ...], ...}}. The rules
 * none of whose `lang` is in `open` go behind the gate (compiled apart, see struct gw_inj_pack).
 * The words show those languages in text without a letter outside ASCII: their common short
 * words as written without accents. -1 after a config error.
 */
static int
load_gate(struct gw_cfg_ctx *pl, struct gw_inj_pack *p, const struct gw_cnode *g)
{
    static const char *const known[] = {"open", "words", "short", NULL};
    if (!g)
        return 0;
    if (g->type != GW_CNODE_MAP)
        return gw_cfg_error(pl, g, "'language_gate' must be a mapping with open, short, words");
    if (check_keys(pl, g, known, "open, short, words") < 0)
        return -1;
    const struct gw_cnode *op = gw_cnode_get(g, "open"), *wn = gw_cnode_get(g, "words"),
                          *sn = gw_cnode_get(g, "short");
    if (!op || op->type != GW_CNODE_SEQ || op->nitems == 0)
        return gw_cfg_error(pl, op ? op : g,
                            "'language_gate': 'open' must be a list of language codes (the "
                            "languages whose rules are always matched)");
    for (size_t k = 0; k < op->nitems; k++)
        if (!scalar(op->items[k]) || !name_ok(scalar(op->items[k]), 0))
            return gw_cfg_error(pl, op->items[k], "'language_gate': 'open' must be language codes");
    double sh = 0;
    if (!sn)
        return gw_cfg_error(pl, g, "'language_gate': 'short' (bytes) is required");
    if (number(pl, sn, "short", 0, GW_INJ_WINDOW, &sh) < 0)
        return -1;
    p->gate_short = (size_t)sh;
    if (!wn || wn->type != GW_CNODE_MAP || wn->npairs == 0)
        return gw_cfg_error(pl, wn ? wn : g,
                            "'language_gate': 'words' must map languages to lists of words");
    struct gate_words gw = {0};
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < wn->npairs; i++) {
        const struct gw_cnode *l = wn->pairs[i].value;
        if (l->type != GW_CNODE_SEQ || l->nitems == 0) {
            rc = gw_cfg_error(pl, l,
                              "'language_gate': 'words' must map languages to lists of "
                              "words");
            break;
        }
        for (size_t k = 0; rc == 0 && k < l->nitems; k++)
            rc = gate_word(pl, &gw, l->items[k]);
    }
    char err[400];
    if (rc == 0) {
        p->gate =
            gw_scan_compile_cached("injection-gate", gw.sr, gw.n, 0, 0, err, sizeof(err), NULL);
        if (!p->gate)
            rc = gw_cfg_error(pl, wn, "'language_gate': %s", err);
    }
    for (size_t i = 0; i < gw.n; i++)
        free((char *)gw.sr[i].pattern);
    free(gw.sr);
    if (rc < 0)
        return -1;
    for (size_t i = 0; i < p->nrules; i++) {
        struct gw_inj_rule *r = &p->rules[i];
        if (r->detector || r->where == GW_INJ_SYSTEM)
            continue; /* not in the sides' databases */
        r->gated = 1;
        for (const char *c = r->langs; *c && r->gated;) {
            size_t n = strcspn(c, " ");
            for (size_t k = 0; k < op->nitems; k++) {
                const char *o = scalar(op->items[k]);
                if (strlen(o) == n && memcmp(o, c, n) == 0)
                    r->gated = 0;
            }
            c += n + (c[n] == ' ');
        }
    }
    return 0;
}

/* Whether s (n bytes of UTF-8) has a letter outside ASCII: Latin with diacritics, Greek, Cyrillic,
 * Armenian, Hebrew, Arabic, the Indic and South-East Asian scripts, kana, CJK, Hangul, full-width
 * forms. Punctuation (curly quotes, dashes), symbols and emoji are not letters of a language. */
static int
foreign_letter(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < 0xC3)
            continue; /* ASCII, continuation bytes, U+0080..U+00BF (symbols) */
        uint32_t c;
        if (p[i] < 0xE0 && i + 1 < n)
            c = (uint32_t)(p[i] & 0x1F) << 6 | (p[i + 1] & 0x3F);
        else if (p[i] < 0xF0 && i + 2 < n)
            c = (uint32_t)(p[i] & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 |
                (p[i + 2] & 0x3F);
        else
            continue; /* four-byte forms: emoji and rare scripts */
        if ((c >= 0xC0 && c <= 0x24F && c != 0xD7 && c != 0xF7) || (c >= 0x370 && c <= 0x1FFF) ||
            (c >= 0x3040 && c <= 0xD7AF) || (c >= 0xF900 && c <= 0xFAFF) ||
            (c >= 0xFF00 && c <= 0xFFEF))
            return 1;
    }
    return 0;
}

static int
on_gate(unsigned idx, unsigned long long from, unsigned long long to, void *arg)
{
    (void)idx, (void)from, (void)to;
    *(int *)arg = 1;
    return 1; /* one word is enough */
}

/* Whether the rules behind the gate are matched in a window: orig (olen bytes) as written, norm
 * (nlen) normalised. */
static int
gate_open(const struct gw_inj_pack *p, const char *orig, size_t olen, const char *norm, size_t nlen)
{
    if (!p->gate || olen < p->gate_short || foreign_letter(orig, olen))
        return 1;
    int open = 0;
    if (gw_scan_block(p->gate, norm, nlen, on_gate, &open) < 0)
        return 1;
    return open;
}

struct gw_inj_pack *
gw_inj_pack_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    static const char *const known[] = {"version", "repeat_factor", "categories", "define",
                                        "rules",   "language_gate", NULL};
    struct gw_cfg_ctx pl = {name, NULL, err, errlen, NULL};
    struct frags frags = {0};
    struct gw_cnode *root = NULL;
    struct gw_inj_pack *p = calloc(1, sizeof(*p));
    if (!p) {
        gw_cfg_error(&pl, NULL, "out of memory");
        return NULL;
    }
    p->repeat_factor = 0.25;
    if (!(p->path = strdup(name))) {
        gw_cfg_error(&pl, NULL, "out of memory");
        goto fail;
    }
    if (gw_cnode_parse(name, text, len, &root, err, errlen) < 0)
        goto fail;
    if (!root || root->type != GW_CNODE_MAP) {
        gw_cfg_error(&pl, root,
                     "a rule pack is a mapping with 'version', 'categories' and 'rules'");
        goto fail;
    }
    if (check_keys(&pl, root, known,
                   "version, repeat_factor, categories, define, rules, language_gate") < 0)
        goto fail;
    const char *ver = scalar(gw_cnode_get(root, "version"));
    if (!ver || strcmp(ver, "1") != 0) {
        gw_cfg_error(&pl, gw_cnode_get(root, "version") ? gw_cnode_get(root, "version") : root,
                     "'version' must be 1");
        goto fail;
    }
    const struct gw_cnode *rf = gw_cnode_get(root, "repeat_factor");
    if (rf && number(&pl, rf, "repeat_factor", 0, 1, &p->repeat_factor) < 0)
        goto fail;
    if (load_categories(&pl, p, gw_cnode_get(root, "categories")) < 0)
        goto fail;
    if (load_frags(&pl, gw_cnode_get(root, "define"), &frags) < 0)
        goto fail;
    const struct gw_cnode *rules = gw_cnode_get(root, "rules");
    if (!rules || rules->type != GW_CNODE_SEQ || rules->nitems == 0) {
        gw_cfg_error(&pl, rules ? rules : root, "'rules' must be a non-empty list");
        goto fail;
    }
    p->rules = calloc(rules->nitems, sizeof(*p->rules));
    if (!p->rules) {
        gw_cfg_error(&pl, NULL, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < rules->nitems; i++) {
        if (load_rule(&pl, p, rules->items[i], &frags, &p->rules[i]) < 0) {
            p->nrules = i + 1;
            goto fail;
        }
        p->nrules = i + 1;
    }
    if (load_gate(&pl, p, gw_cnode_get(root, "language_gate")) < 0)
        goto fail;
    frags_free(&frags);
    if (compile(&pl, p, rules) < 0)
        goto fail;
    gw_cnode_free(root);
    return p;
fail:
    frags_free(&frags);
    gw_cnode_free(root);
    gw_inj_pack_free(p);
    return NULL;
}

struct gw_inj_pack *
gw_inj_pack_load(const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t n;
    if (gw_read_file(path, MAX_PACK_BYTES, &buf, &n) < 0) {
        if (errno == EFBIG || errno == ENOMEM || errno == EIO)
            snprintf(err, errlen, "%s: %s", path,
                     errno == ENOMEM ? "out of memory"
                     : errno == EIO  ? "read error"
                                     : "rule pack larger than 8 MiB");
        else
            snprintf(err, errlen, "%s: cannot open rule pack: %s", path, strerror(errno));
        return NULL;
    }
    struct gw_inj_pack *p = gw_inj_pack_parse(path, buf, n, err, errlen);
    free(buf);
    return p;
}

void
gw_inj_pack_free(struct gw_inj_pack *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->ncats; i++) {
        free(p->cats[i].name);
        free(p->cats[i].label);
    }
    for (size_t i = 0; i < p->nrules; i++) {
        free(p->rules[i].id);
        free(p->rules[i].pattern);
    }
    free(p->cats);
    free(p->rules);
    for (int d = 0; d < GW_INJ_NDB; d++) {
        gw_scan_free(p->db[d].db);
        gw_scan_free(p->db[d].tails);
        free(p->db[d].pieces);
        free(p->db[d].chains);
        free(p->db[d].steps);
    }
    gw_scan_free(p->gate);
    free(p->path);
    free(p);
}

int
gw_inj_category_find(const struct gw_inj_pack *p, const char *name)
{
    for (size_t i = 0; i < p->ncats; i++)
        if (strcmp(p->cats[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ---- the shared pack cache ---- */

struct cached {
    struct gw_inj_pack *p;
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    struct cached *next;
};

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static struct cached *cache;

struct gw_inj_pack *
gw_inj_pack_get(const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (stat(path, &st) < 0) {
        snprintf(err, errlen, "%s: cannot open rule pack: %s", path, strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&cache_mu);
    for (struct cached *c = cache; c; c = c->next)
        if (strcmp(c->p->path, path) == 0 && c->dev == st.st_dev && c->ino == st.st_ino &&
            c->size == st.st_size && c->mtime.tv_sec == st.st_mtim.tv_sec &&
            c->mtime.tv_nsec == st.st_mtim.tv_nsec) {
            c->p->refs++;
            pthread_mutex_unlock(&cache_mu);
            return c->p;
        }
    pthread_mutex_unlock(&cache_mu);

    struct gw_inj_pack *p = gw_inj_pack_load(path, err, errlen);
    struct cached *c = p ? calloc(1, sizeof(*c)) : NULL;
    if (!c) {
        if (p)
            snprintf(err, errlen, "%s: out of memory", path);
        gw_inj_pack_free(p);
        return NULL;
    }
    c->p = p;
    c->dev = st.st_dev;
    c->ino = st.st_ino;
    c->size = st.st_size;
    c->mtime = st.st_mtim;
    p->refs = 1;
    struct cached *stale = NULL;
    pthread_mutex_lock(&cache_mu);
    /* Older, unused versions of this file go. */
    for (struct cached **pp = &cache; *pp;) {
        struct cached *o = *pp;
        if (o->p->refs == 0 && strcmp(o->p->path, path) == 0) {
            *pp = o->next;
            o->next = stale;
            stale = o;
        } else {
            pp = &o->next;
        }
    }
    c->next = cache;
    cache = c;
    pthread_mutex_unlock(&cache_mu);
    while (stale) {
        struct cached *n = stale->next;
        gw_inj_pack_free(stale->p);
        free(stale);
        stale = n;
    }
    return p;
}

void
gw_inj_pack_put(struct gw_inj_pack *p)
{
    if (!p)
        return;
    /* An unused pack stays cached (until a newer version of its file is compiled), so that a
     * reload whose old snapshot went first, or a config loaded again, does not compile again. */
    pthread_mutex_lock(&cache_mu);
    GW_BUG_ON(p->refs == 0);
    if (p->refs > 0)
        p->refs--;
    pthread_mutex_unlock(&cache_mu);
}

/* ---- scanning ---- */

struct acc {
    const struct gw_inj_pack *p;
    /* the side's databases (the `both` and the side's own, or the system one; then the same two
     * behind the language gate), and the one being scanned */
    const struct gw_inj_db *db[4];
    int cur;
    int gate;         /* the current window opens the language gate */
    struct tbufs *tb; /* the thread's buffers: the ends of chained pieces */
    const struct gw_norm *n;
    size_t base; /* offset of the window in the original text */
    unsigned side;
    const uint8_t *skip;
    uint8_t *seen; /* rules already counted (a rule counts once per text, windows overlap) */
    uint8_t *half; /* ... of those, the ones counted at their category's `quoted` factor */
    /* a document's quotations mentioned in passing (filters/pasted.h), in order */
    struct gw_span quotes[GW_INJ_MAX_QUOTES];
    size_t nquotes;
    double max[MAX_CATS], sum[MAX_CATS];
    struct gw_inj_result *r;
    /* a decoded payload being scanned: its encoding and encoded span in the original */
    enum gw_enc enc;
    size_t enc_from, enc_to;
    /* marker words of the current window; the first window that gave away a form */
    unsigned marks;
    size_t wlen;                               /* the current window's length in the original */
    size_t form_off[NFORMS], form_len[NFORMS]; /* ROT13, reversed, upside down; 0: not seen */
};

static void
on_marker(struct acc *a, unsigned m)
{
    a->marks |= 1u << m;
    for (int f = 0; f < NFORMS; f++) {
        unsigned g = (a->marks >> (3 * f)) & 7;
        if (!a->form_len[f] && (g & (g - 1))) { /* two groups or more */
            a->form_off[f] = a->base;
            a->form_len[f] = a->wlen;
        }
    }
}

static int
bit(const uint8_t *set, unsigned idx)
{
    return set[idx / 8] >> (idx % 8) & 1;
}

/* Whether rule idx (pack index) applies to the side, is not skipped and is not counted yet. */
static int
open_rule(const struct acc *a, unsigned idx)
{
    return (a->p->rules[idx].where & a->side) && !(a->skip && bit(a->skip, idx)) &&
           !bit(a->seen, idx);
}

/* The quotation a document mentions in passing that [from, to) of the original text lies in, or
 * a->nquotes. */
static size_t
quote_of(const struct acc *a, size_t from, size_t to)
{
    for (size_t k = 0; k < a->nquotes && a->quotes[k].from <= from; k++)
        if (to <= a->quotes[k].to)
            return k;
    return a->nquotes;
}

/* Counts rule idx (pack index) once per text, for a match whose certain part is [from, to) of the
 * original text (or a decoded payload's encoded run, when a->enc is set), when it applies to the
 * side and is not skipped: at its category's `quoted` factor when that part lies inside a
 * quotation a document mentions in passing (unquote() then checks the whole match is in there
 * and nowhere else), whole otherwise. The hit list keeps the first GW_INJ_MAX_HITS rules. */
static void
count_rule(struct acc *a, unsigned idx, size_t from, size_t to)
{
    const struct gw_inj_rule *rule = &a->p->rules[idx];
    if (!open_rule(a, idx))
        return;
    unsigned c = rule->category;
    double w = a->side == GW_INJ_INDIRECT ? rule->weight_indirect : rule->weight;
    double f =
        a->p->cats[c].quoted < 1 && a->enc == GW_ENC_NONE && quote_of(a, from, to) < a->nquotes
            ? a->p->cats[c].quoted
            : 1;
    uint8_t m = (uint8_t)(1u << (idx % 8));
    a->seen[idx / 8] |= m;
    if (f < 1)
        a->half[idx / 8] |= m;
    a->sum[c] += w * f;
    if (w * f > a->max[c])
        a->max[c] = w * f;
    if (a->r->nhits < GW_INJ_MAX_HITS)
        a->r->hits[a->r->nhits++] = (struct gw_inj_hit){idx, (uint32_t)from, (uint32_t)to, a->enc};
}

/* Counts rule idx for a match over [s, b) of the normalised text: the hit spans that, mapped back
 * to the original (in a decoded payload, the payload's encoded run). */
static void
hit(struct acc *a, unsigned idx, size_t s, size_t b)
{
    if (!open_rule(a, idx))
        return;
    if (a->enc != GW_ENC_NONE) {
        count_rule(a, idx, a->enc_from, a->enc_to);
        return;
    }
    size_t oa = 0, ob = 0;
    if (b > a->n->len)
        b = a->n->len;
    if (s < b)
        gw_norm_span(a->n, s, b, &oa, &ob);
    count_rule(a, idx, a->base + oa, a->base + ob);
}

/* The end of a chained piece's match, kept until its database's scan ends. */
struct piece_end {
    uint32_t piece, at;
};

/* Bounds the ends kept per scan (a 32 KiB window would need 32 pieces ending at every byte): the
 * ends beyond it are dropped, which can only miss a chain. */
#define MAX_ENDS (1u << 20)

static void keep_end(struct acc *a, unsigned piece, size_t at);

static int
on_match(unsigned idx, unsigned long long from, unsigned long long to, void *arg)
{
    struct acc *a = arg;
    const struct gw_inj_db *db = a->db[a->cur];
    (void)from;
    if (idx >= db->nmain) { /* only the `both` database has markers */
        if (a->enc == GW_ENC_NONE)
            on_marker(a, idx - (unsigned)db->nmain);
        return 0;
    }
    const struct gw_inj_piece *pc = &db->pieces[idx];
    if (!open_rule(a, pc->rule))
        return 0;
    if (pc->chained)
        keep_end(a, idx, (size_t)to);
    else
        hit(a, pc->rule, (size_t)to > pc->minw ? (size_t)to - pc->minw : 0, (size_t)to);
    return 0;
}

/* The detector rules that apply to the side, over the original text. Each detector runs once
 * and its answer serves all of its rules: stray-task before or after a message or inside it,
 * scripted answers left open or repeating a link. */
static void
run_detectors(struct acc *a, const char *text, size_t len)
{
    size_t span[NSOURCES][2] = {{0, 0}};
    int found[NSOURCES]; /* per source: its answer, once asked (-1: not yet) */
    for (unsigned k = 0; k < NSOURCES; k++)
        found[k] = -1;
    for (unsigned i = 0; i < a->p->nrules; i++) {
        const struct gw_inj_rule *rule = &a->p->rules[i];
        unsigned d = rule->detector;
        if (d == GW_INJ_DET_NONE || d >= NDETECTORS || !(rule->where & a->side))
            continue;
        unsigned k = detectors[d].source;
        if (found[k] < 0)
            found[k] = sources[k](text, len, &span[k][0], &span[k][1]);
        if (found[k] == detectors[d].answer)
            count_rule(a, i, span[k][0], span[k][1]);
    }
}

/* The calling thread's buffers (freed when the thread exits): normalisation, and a payload
 * decoded or a window transformed (at most a window long). */
struct tbufs {
    struct gw_norm_scratch sc;
    char dec[GW_INJ_WINDOW];
    /* ends of chained pieces of the database being scanned, then (sorted) the chains' reach */
    struct piece_end *ends;
    size_t nends, cap;
    struct piece_end *reach, *next; /* at: an end of the chain so far; piece: where it began */
    size_t rcap, ncap;
};

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void
scratch_destroy(void *p)
{
    struct tbufs *b = p;
    gw_norm_scratch_free(&b->sc);
    free(b->ends);
    free(b->reach);
    free(b->next);
    free(b);
}

static void
scratch_init(void)
{
    pthread_key_create(&scratch_key, scratch_destroy);
}

static struct tbufs *
thread_bufs(void)
{
    return gw_thread_slot(&scratch_key, &scratch_once, scratch_init, sizeof(struct tbufs));
}

static void
keep_end(struct acc *a, unsigned piece, size_t at)
{
    struct tbufs *tb = a->tb;
    if (tb->nends == MAX_ENDS ||
        grow((void **)&tb->ends, &tb->cap, tb->nends + 1, sizeof(*tb->ends)) < 0)
        return;
    tb->ends[tb->nends++] = (struct piece_end){(uint32_t)piece, (uint32_t)at};
}

static int
end_cmp(const void *x, const void *y)
{
    const struct piece_end *a = x, *b = y;
    if (a->piece != b->piece)
        return a->piece < b->piece ? -1 : 1;
    return a->at < b->at ? -1 : a->at > b->at;
}

/* The ends of piece pc in the sorted ends: [*lo, *hi). */
static void
ends_of(const struct tbufs *tb, unsigned pc, size_t *lo, size_t *hi)
{
    size_t l = 0, h = tb->nends;
    while (l < h) {
        size_t m = l + (h - l) / 2;
        if (tb->ends[m].piece < pc)
            l = m + 1;
        else
            h = m;
    }
    *lo = l;
    while (l < tb->nends && tb->ends[l].piece == pc)
        l++;
    *hi = l;
}

/* The chains of db whose rules are still open, over the ends its scan kept: a chain matches when
 * each step's piece ends lo..hi bytes after an end of the step before it. The hit spans from the
 * first piece's start (its end minus its shortest match) to the last piece's end. */
static void
run_chains(struct acc *a, const struct gw_inj_db *db)
{
    struct tbufs *tb = a->tb;
    if (!tb->nends)
        return;
    if (grow((void **)&tb->reach, &tb->rcap, tb->nends, sizeof(*tb->reach)) < 0 ||
        grow((void **)&tb->next, &tb->ncap, tb->nends, sizeof(*tb->next)) < 0)
        return;
    qsort(tb->ends, tb->nends, sizeof(*tb->ends), end_cmp);
    for (size_t c = 0; c < db->nchains; c++) {
        const struct gw_inj_chain *ch = &db->chains[c];
        if (!open_rule(a, ch->rule))
            continue;
        const struct gw_inj_step *st = &db->steps[ch->first];
        size_t lo, hi, nr = 0;
        ends_of(tb, st[0].piece, &lo, &hi);
        uint32_t w0 = db->pieces[st[0].piece].minw;
        for (size_t i = lo; i < hi; i++)
            tb->reach[nr++] =
                (struct piece_end){tb->ends[i].at > w0 ? tb->ends[i].at - w0 : 0, tb->ends[i].at};
        for (unsigned k = 1; k < ch->n && nr; k++) {
            ends_of(tb, st[k].piece, &lo, &hi);
            size_t nn = 0, w = 0; /* reach[w..] may still be in range of the next end */
            for (size_t i = lo; i < hi; i++) {
                uint32_t e = tb->ends[i].at;
                while (w < nr && (uint64_t)tb->reach[w].at + st[k].hi < e)
                    w++;
                uint32_t begin = UINT32_MAX;
                for (size_t r = w; r < nr && (uint64_t)tb->reach[r].at + st[k].lo <= e; r++)
                    if (begin == UINT32_MAX || tb->reach[r].piece > begin)
                        begin = tb->reach[r].piece; /* the latest start: the tightest span */
                if (begin != UINT32_MAX)
                    tb->next[nn++] = (struct piece_end){begin, e};
            }
            struct piece_end *t = tb->reach;
            tb->reach = tb->next;
            tb->next = t;
            nr = nn;
        }
        if (nr)
            hit(a, ch->rule, tb->reach[nr - 1].piece, tb->reach[nr - 1].at);
    }
}

/* A window of the text that scan_tails matches the tails in. */
struct tail_win {
    struct acc *a;
    size_t off;
};

static int
on_tail(unsigned idx, unsigned long long from, unsigned long long to, void *arg)
{
    struct tail_win *w = arg;
    const struct gw_inj_db *db = w->a->db[w->a->cur];
    unsigned pc = (unsigned)db->nmain + idx;
    (void)from;
    if (open_rule(w->a, db->pieces[pc].rule))
        keep_end(w->a, pc, w->off + (size_t)to);
    return 0;
}

/* The tails of db (the chains' later pieces) where they can complete a chain: from db->back
 * bytes before an end of a chain's first piece to one byte past its reach, windows merged. A
 * match at a window's edge that the text around it would deny (\b, $) is out of every reach in
 * that window, so the chains come out as from a scan of the whole text. */
static int
scan_tails(struct acc *a, const struct gw_inj_db *db, const char *text, size_t len)
{
    struct tbufs *tb = a->tb;
    size_t n = tb->nends, nw = 0;
    if (!n || grow((void **)&tb->next, &tb->ncap, n, sizeof(*tb->next)) < 0)
        return 0;                     /* out of memory: only chains can be missed */
    struct piece_end *win = tb->next; /* piece: the window's start, at: its end */
    for (size_t i = 0; i < n; i++) {
        uint32_t r = db->pieces[tb->ends[i].piece].reach, at = tb->ends[i].at;
        if (r)
            win[nw++] = (struct piece_end){at > db->back ? at - db->back : 0,
                                           (uint32_t)(len - at > r + 1 ? at + r + 1 : len)};
    }
    qsort(win, nw, sizeof(*win), end_cmp); /* by start, then end */
    for (size_t i = 0; i < nw;) {
        struct tail_win w = {a, win[i].piece};
        uint32_t end = win[i].at;
        while (++i < nw && win[i].piece <= end)
            if (win[i].at > end)
                end = win[i].at;
        if (gw_scan_block(db->tails, text + w.off, end - w.off, on_tail, &w) < 0)
            return -1;
    }
    return 0;
}

/* Matches normalised text against the side's databases. */
static int
scan_dbs(struct acc *a, const char *text, size_t len)
{
    int rc = 0;
    for (a->cur = 0; rc == 0 && a->cur < 4; a->cur++) {
        if (!a->db[a->cur] || !a->db[a->cur]->db || (a->cur >= 2 && !a->gate))
            continue;
        a->tb->nends = 0;
        rc = gw_scan_block(a->db[a->cur]->db, text, len, on_match, a);
        if (rc == 0 && a->db[a->cur]->tails)
            rc = scan_tails(a, a->db[a->cur], text, len);
        if (rc == 0)
            run_chains(a, a->db[a->cur]);
    }
    return rc;
}

/* Normalises and scans n bytes of decoded or transformed text (at most a window) into a, as
 * encoding enc of [from, to) of the original; the classifier reads it too. */
static int
scan_decoded(struct acc *a, struct tbufs *tb, size_t n, enum gw_enc enc, size_t from, size_t to,
             struct gw_clf_acc *clf)
{
    struct gw_norm nm;
    if (gw_normalize_scratch(tb->dec, n, GW_NORM_ALL, &tb->sc, &nm) < 0)
        return -1;
    a->n = &nm;
    a->enc = enc;
    a->enc_from = from;
    a->enc_to = to;
    int gate = a->gate;
    a->gate = 1; /* decoded payloads are short and rare: every rule */
    int rc = scan_dbs(a, nm.text, nm.len);
    a->gate = gate;
    a->enc = GW_ENC_NONE;
    if (clf)
        gw_clf_feed(clf, nm.text, nm.len);
    return rc;
}

/* End of the window that starts at off: WINDOW bytes on, moved back to a UTF-8 boundary. */
static size_t
window_end(const char *text, size_t len, size_t off)
{
    if (len - off <= GW_INJ_WINDOW)
        return len;
    size_t e = off + GW_INJ_WINDOW;
    while (e > off + 1 && ((unsigned char)text[e] & 0xC0) == 0x80)
        e--;
    return e;
}

int
gw_inj_scan(const struct gw_inj_pack *p, const char *text, size_t len, unsigned side,
            const uint8_t *skip, struct gw_inj_result *r)
{
    return gw_inj_scan_clf(p, text, len, side, skip, r, NULL);
}

static int scan(const struct gw_inj_pack *p, const char *text, size_t len, unsigned side,
                const uint8_t *skip, struct gw_inj_result *r, struct gw_clf_acc *clf, int quotes);

/* Rule idx counted whole after it had been counted at its category's `quoted` factor. */
static void
make_whole(struct acc *a, unsigned idx)
{
    const struct gw_inj_rule *rule = &a->p->rules[idx];
    unsigned c = rule->category;
    double w = a->side == GW_INJ_INDIRECT ? rule->weight_indirect : rule->weight;
    a->sum[c] += w - w * a->p->cats[c].quoted;
    if (w > a->max[c])
        a->max[c] = w;
    a->half[idx / 8] &= (uint8_t) ~(1u << (idx % 8));
}

/* Where rule idx is in r's hit list, or r->nhits. */
static size_t
hit_of(const struct gw_inj_result *r, unsigned idx)
{
    size_t k = 0;
    while (k < r->nhits && r->hits[k].rule != idx)
        k++;
    return k;
}

/* After a document's scan that counted rules at their category's `quoted` factor (their match's
 * certain part inside a quotation): such a rule stays at the factor only if the quotation alone
 * matches it -- the match did not begin outside ('Ignore all the "previous instructions"') --
 * and the text without its quotations does not. Each quotation that holds such a hit is scanned
 * alone, once; then the text with the quotations' insides blanked (same length, same offsets),
 * because SINGLEMATCH reported each rule's first match only: a rule matched there counts whole
 * and its hit moves there. Only documents with a quoted match pay for this. 0, or -1 when out of
 * memory. */
static int
unquote(struct acc *a, const char *text, size_t len)
{
    struct gw_inj_result *r = a->r, alone;
    /* a rule past the full hit list has no span to check: whole */
    for (unsigned idx = 0; r->nhits == GW_INJ_MAX_HITS && idx < a->p->nrules; idx++)
        if (bit(a->half, idx) && hit_of(r, idx) == r->nhits)
            make_whole(a, idx);
    for (size_t q = 0; q < a->nquotes; q++) {
        int scanned = 0;
        for (size_t k = 0; k < r->nhits; k++) {
            unsigned idx = r->hits[k].rule;
            if (!bit(a->half, idx) || quote_of(a, r->hits[k].from, r->hits[k].to) != q)
                continue;
            if (!scanned &&
                scan(a->p, text + a->quotes[q].from, a->quotes[q].to - a->quotes[q].from, a->side,
                     a->skip, &alone, NULL, 0) < 0)
                return -1;
            scanned = 1;
            if (hit_of(&alone, idx) == alone.nhits && alone.nhits < GW_INJ_MAX_HITS)
                make_whole(a, idx); /* the match needs text outside the quotation */
        }
    }
    int any = 0;
    for (size_t k = 0; k < r->nhits; k++)
        any |= bit(a->half, r->hits[k].rule);
    if (!any)
        return 0;
    char *masked = malloc(len ? len : 1);
    if (!masked)
        return -1;
    memcpy(masked, text, len);
    for (size_t k = 0; k < a->nquotes; k++)
        memset(masked + a->quotes[k].from, ' ', a->quotes[k].to - a->quotes[k].from);
    struct gw_inj_result outside;
    int rc = scan(a->p, masked, len, a->side, a->skip, &outside, NULL, 0);
    free(masked);
    if (rc < 0)
        return -1;
    for (size_t k = 0; k < r->nhits; k++) {
        unsigned idx = r->hits[k].rule;
        if (!bit(a->half, idx))
            continue;
        size_t m = hit_of(&outside, idx);
        /* not among the first GW_INJ_MAX_HITS rules outside: unknown, so whole */
        if (m == outside.nhits && outside.nhits < GW_INJ_MAX_HITS)
            continue;
        make_whole(a, idx);
        if (m < outside.nhits)
            r->hits[k] = outside.hits[m];
    }
    return 0;
}

int
gw_inj_scan_clf(const struct gw_inj_pack *p, const char *text, size_t len, unsigned side,
                const uint8_t *skip, struct gw_inj_result *r, struct gw_clf_acc *clf)
{
    return scan(p, text, len, side, skip, r, clf, 1);
}

/* gw_inj_scan_clf; quotes: look for a document's quotations (not in unquote's second scan) */
static int
scan(const struct gw_inj_pack *p, const char *text, size_t len, unsigned side, const uint8_t *skip,
     struct gw_inj_result *r, struct gw_clf_acc *clf, int quotes)
{
    memset(r, 0, sizeof(*r));
    uint8_t seen_small[1024], *seen = seen_small; /* seen, then half */
    size_t nseen = p->nrules / 8 + 1;
    if (2 * nseen > sizeof(seen_small) && !(seen = malloc(2 * nseen)))
        return -1;
    memset(seen, 0, 2 * nseen);
    int sys = side == GW_INJ_SYSTEM;
    int d0 = sys ? GW_INJ_DB_SYSTEM : GW_INJ_DB_BOTH;
    int d1 = side == GW_INJ_INDIRECT ? GW_INJ_DB_INDIRECT : GW_INJ_DB_DIRECT;
    struct tbufs *tb = thread_bufs();
    struct acc a = {.p = p,
                    .db = {&p->db[d0], sys ? NULL : &p->db[d1],
                           sys ? NULL : &p->db[GW_INJ_DB_BOTH_GATED],
                           sys ? NULL : &p->db[d1 + GW_INJ_DB_BOTH_GATED]},
                    .tb = tb,
                    .side = side,
                    .skip = skip,
                    .seen = seen,
                    .half = seen + nseen,
                    .r = r};
    if (quotes && side == GW_INJ_INDIRECT && p->quoted)
        a.nquotes = gw_quoted_mentions(text, len, a.quotes, GW_INJ_MAX_QUOTES);
    int rc = 0;
    size_t fed = 0; /* original bytes already fed to the classifier */
    if (!tb)
        rc = -1;
    /* Long texts are scanned in overlapping windows: memory stays bounded (the normaliser keeps
     * 9 bytes per input byte) and a match up to GW_INJ_OVERLAP long is never cut in two. */
    for (size_t off = 0; tb;) {
        size_t end = window_end(text, len, off);
        struct gw_norm n;
        if (gw_normalize_scratch(text + off, end - off, GW_NORM_ALL, &tb->sc, &n) < 0) {
            rc = -1;
            break;
        }
        a.n = &n;
        a.base = off;
        a.wlen = end - off;
        a.marks = 0;
        a.gate = !sys && gate_open(p, text + off, end - off, n.text, n.len);
        rc = scan_dbs(&a, n.text, n.len);
        if (clf) {
            size_t from = 0;
            while (from < n.len && off + n.map[from] < fed)
                from++;
            gw_clf_feed(clf, n.text + from, n.len - from);
            fed = end;
        }
        if (rc < 0 || end == len)
            break;
        size_t next = end - GW_INJ_OVERLAP;
        while (next > off + 1 && ((unsigned char)text[next] & 0xC0) == 0x80)
            next--;
        off = next;
    }
    /* encoded payloads: base64, base32, hex, Morse and variation-selector runs (tag characters
     * and full-width forms are read by normalisation), then a window that reads as ROT13 or
     * reversed (not in system messages: the guard rules read what the application wrote) */
    struct gw_payload pl;
    for (size_t pos = 0;
         rc == 0 && !sys && gw_payload_next(text, len, &pos, tb->dec, sizeof(tb->dec), &pl);)
        if (pl.enc != GW_ENC_TAGS && pl.enc != GW_ENC_FULLWIDTH) /* normalisation read those */
            rc = scan_decoded(&a, tb, pl.len, pl.enc, pl.from, pl.to, clf);
    static const enum gw_enc forms[NFORMS] = {GW_ENC_ROT13, GW_ENC_REVERSED, GW_ENC_UPSIDE_DOWN};
    for (int f = 0; rc == 0 && f < NFORMS; f++) {
        size_t o = a.form_off[f], n = a.form_len[f], m = n;
        if (!n)
            continue;
        if (forms[f] == GW_ENC_ROT13)
            gw_rot13(text + o, n, tb->dec);
        else if (forms[f] == GW_ENC_REVERSED)
            gw_reverse(text + o, n, tb->dec);
        else
            m = gw_upside_down(text + o, n, tb->dec);
        rc = scan_decoded(&a, tb, m, forms[f], o, o + n, clf);
    }
    if (rc == 0 && (p->detectors & side))
        run_detectors(&a, text, len);
    int quoted = 0;
    for (size_t k = 0; a.nquotes && k < nseen; k++)
        quoted |= a.half[k] != 0;
    if (rc == 0 && quoted)
        rc = unquote(&a, text, len);
    if (seen != seen_small)
        free(seen);
    if (rc < 0) {
        memset(r, 0, sizeof(*r));
        return -1;
    }
    double best = -1;
    for (size_t c = 0; c < p->ncats; c++) {
        if (a.sum[c] <= 0)
            continue;
        double s = a.max[c] + p->repeat_factor * (a.sum[c] - a.max[c]);
        r->by_cat[c] = s;
        r->score += s;
        r->ncats++;
        r->cats |= 1ull << c;
        if (s > best) {
            best = s;
            r->top = (unsigned)c;
        }
    }
    return 0;
}

/* ---- values declared in system prompts ---- */

/* Spaces around a quoted value: ASCII, no-break U+00A0, narrow no-break U+202F. */
static const char *const spaces[] = {" ", "\xc2\xa0", "\xe2\x80\xaf"};

/* The length of a space that begins (at_end 0) or ends (at_end 1) the bytes [a, b) of t, or 0. */
static size_t
space_len(const char *t, size_t a, size_t b, int at_end)
{
    for (size_t k = 0; k < sizeof(spaces) / sizeof(spaces[0]); k++) {
        size_t n = strlen(spaces[k]);
        if (b - a >= n && memcmp(t + (at_end ? b - n : a), spaces[k], n) == 0)
            return n;
    }
    return 0;
}

/* A byte of a code-like value: an ASCII letter or digit, '-' or '_'. */
static int
code_byte(char c)
{
    return isalnum((unsigned char)c) || c == '-' || c == '_';
}

/* Whether a currency sign ends at t[q] (the character before q): £ ¥, the currency block
 * U+20A0-U+20CF (€ ₹ ₱ ₩ ₺ ₽ ...), ฿. "$" is no word byte and needs no look. */
static int
currency_ends(const char *t, size_t q)
{
    const unsigned char *u = (const unsigned char *)t;
    if (q >= 2 && u[q - 2] == 0xC2 && (u[q - 1] == 0xA3 || u[q - 1] == 0xA5))
        return 1;
    if (q >= 3 && u[q - 3] == 0xE2 &&
        ((u[q - 2] == 0x82 && u[q - 1] >= 0xA0) || (u[q - 2] == 0x83 && u[q - 1] <= 0x8F)))
        return 1;
    return q >= 3 && u[q - 3] == 0xE0 && u[q - 2] == 0xB8 && u[q - 1] == 0xBF;
}

/* The length of a digit (ASCII, or of another script) at t[p] (len bytes), or 0. */
static size_t
digit_at(const char *t, size_t len, size_t p)
{
    if (p >= len)
        return 0;
    return isdigit((unsigned char)t[p]) ? 1 : gw_native_digit(t, len, p, NULL);
}

/* The length of a separator of a number's digits at t[e] (len bytes), after a digit: '.' or ','
 * before a digit ("14.200", "8,500"); a space (ASCII, no-break, narrow no-break) before a group of
 * exactly three digits ("9 800", "285 000"), or of four after a group of two to four (a phone
 * number's, "138 1234 5678"); 0 otherwise. Digits of any script. */
static size_t
amount_sep(const char *t, size_t len, size_t e)
{
    size_t w = t[e] == '.' || t[e] == ',' || t[e] == ' ' ? 1 : space_len(t, e, len, 0);
    size_t before = 0, after = 0, p = e, l;
    while (before < 5 && p > 0) {
        if (isdigit((unsigned char)t[p - 1]))
            l = 1;
        else if ((l = gw_native_digit_before(t, p)) == 0)
            break;
        p -= l;
        before++;
    }
    if (!w || !before || e + w >= len)
        return 0;
    for (p = e + w; after < 5 && (l = digit_at(t, len, p)) > 0; p += l)
        after++;
    if (t[e] == '.' || t[e] == ',')
        return after ? 1 : 0;
    return after == 3 || (after == 4 && before >= 2 && before <= 4) ? w : 0;
}

/* Whether a value token starts at t[q] (a search from byte from): a token of code bytes and
 * digits of any script (gw_native_digit), not glued to a letter or digit before it -- one of
 * another script may stand before a number ("รหัสคือ๔๔๗๑") -- of 4 or more characters with a
 * digit or an inner capital; an amount's separators join its digits ("14.200", "8,500", "9 800",
 * "₱28,500": then 4 digits or more). Its end in *end. */
static int
value_token(const char *t, size_t len, size_t from, size_t q, size_t *end)
{
    unsigned char c = (unsigned char)t[q];
    size_t dl = c >= 0x80 ? gw_native_digit(t, len, q, NULL) : 0;
    if (dl ? q > from && (code_byte(t[q - 1]) || gw_native_digit_before(t, q))
           : !gw_word_byte(c) || (q > from && gw_word_byte((unsigned char)t[q - 1]) &&
                                  !(isdigit(c) && currency_ends(t, q))))
        return 0;
    size_t e = q, chars = 0, digits = 0, seps = 0;
    int digit = 0, inner_cap = 0;
    while (e < len && e - q <= GW_INJ_VALUE_MAX) {
        size_t w;
        if ((dl = gw_native_digit(t, len, e, NULL)) > 0) {
            digit = 1;
            digits++;
            e += dl;
        } else if (code_byte(t[e])) {
            digit |= isdigit((unsigned char)t[e]) != 0;
            digits += isdigit((unsigned char)t[e]) != 0;
            inner_cap |= e > q && isupper((unsigned char)t[e]);
            e++;
        } else if (e > q && (w = amount_sep(t, len, e)) > 0) {
            seps++;
            e += w;
        } else {
            break;
        }
        chars++;
    }
    *end = e;
    return chars >= 4 && e - q <= GW_INJ_VALUE_MAX && (digit || inner_cap) &&
           (!seps || digits >= 4);
}

/* see injection_pack.h */
int
gw_inj_declared_value(const char *t, size_t len, size_t from, size_t *vs, size_t *ve)
{
    static const char *const open[] = {"'",      "\"",     "`",      "\u201c", "\u201d",
                                       "\u2018", "\u00ab", "\u00bb", "\u201e", "\u300c",
                                       "\u300e", "\uff02", NULL};
    static const char *const close[] = {"'",      "\"",     "`",      "\u201d", "\u201d",
                                        "\u2019", "\u00bb", "\u00ab", "\u201c", "\u300d",
                                        "\u300f", "\uff02", NULL};
    /* a rule that reads the value's first bytes ends inside it: the value starts at its token's
     * start, or at the quote just read */
    for (size_t l;;) {
        int in = from < len && (code_byte(t[from]) || gw_native_digit(t, len, from, NULL));
        if (in && from > 0 && code_byte(t[from - 1]))
            from--;
        else if (in && (l = gw_native_digit_before(t, from)) > 0)
            from -= l;
        else
            break;
    }
    for (size_t k = 0; open[k] && from > 0; k++) {
        size_t ol = strlen(open[k]);
        if (from >= ol && memcmp(t + from - ol, open[k], ol) == 0) {
            from -= ol;
            break;
        }
    }
    size_t lim = from + 40 < len ? from + 40 : len;
    for (size_t q = from; q < lim; q++) {
        unsigned char c = (unsigned char)t[q];
        if (c == '\n' || ((c == '.' || c == '!' || c == '?' || c == ';') &&
                          (q + 1 == len || t[q + 1] == ' ' || t[q + 1] == '\n')))
            return 0;
        for (size_t k = 0; open[k]; k++) {
            size_t ol = strlen(open[k]), cl = strlen(close[k]);
            if (q + ol > len || memcmp(t + q, open[k], ol) != 0)
                continue;
            /* an apostrophe after a letter is one ("don't"), not a quote */
            if (ol == 1 && q > 0 && gw_word_byte((unsigned char)t[q - 1]))
                continue;
            size_t s = q + ol;
            for (size_t e = s; e + cl <= len && e - s <= GW_INJ_VALUE_MAX; e++) {
                if (t[e] == '\n')
                    break;
                if (memcmp(t + e, close[k], cl) == 0) {
                    /* « Lune »: the spaces inside the quotes are not the value's */
                    size_t a = s, b = e;
                    for (size_t w; (w = space_len(t, a, b, 0)) > 0;)
                        a += w;
                    for (size_t w; (w = space_len(t, a, b, 1)) > 0;)
                        b -= w;
                    /* a sentence in quotes is a reply to give ("just say 'I am not able to
                     * share that'"), not a secret: a passphrase has four words at most */
                    size_t words = 1;
                    for (size_t i = a; i < b; i++)
                        words += t[i] == ' ';
                    if (b - a < GW_INJ_VALUE_MIN || words > 4)
                        break;
                    *vs = a;
                    *ve = b;
                    return 1;
                }
            }
        }
        size_t e;
        if (value_token(t, len, from, q, &e)) {
            *vs = q;
            *ve = e;
            return 1;
        }
    }
    return 0;
}

/* see injection_pack.h */
int
gw_inj_value_before(const char *t, size_t len, size_t lo, size_t hi, size_t *vs, size_t *ve)
{
    int found = 0;
    for (size_t q = lo, e; q < hi && q < len; q++)
        if (value_token(t, len, lo, q, &e) && e <= hi) {
            *vs = q;
            *ve = e;
            found = 1;
            q = e - 1;
        }
    return found;
}
