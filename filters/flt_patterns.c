/*
 * The `patterns` filter: user-defined regular expressions from the config, each with the roles it
 * looks at, a direction and an action (block, redact, event).
 *
 *   - type: patterns
 *     rules_file: rules/secrets.yaml     # optional: YAML {version: 1, rules: [...]}, relative to
 *                                        # the config file; its rules come before the inline ones
 *       rules:
 *         - id: internal-hostname        # required, unique, [A-Za-z0-9_.-]+
 *           regex: '[a-z0-9-]+\.corp\.example\.com'   # required, Hyperscan syntax
 *           flags: i                     # i caseless, s dotall, m multiline, u UTF-8 + Unicode
 *           where: [user, tool_result]   # roles (default: all)
 *           direction: request           # request | response | both (default)
 *           action: redact               # block (default) | redact | event
 *           replacement: '[REDACTED:hostname]'   # redact only; default [REDACTED:<id>]
 *           message: '...'               # block only; default "Request/Response blocked by ..."
 *           category: data_leak          # default custom
 *           severity: 2                  # 1 low .. 4 critical, default 2
 *           max_len: 256                 # longest match, in bytes, in a streamed response
 *           validate: card               # luhn card iban ssn ipv4 ipv6 phone jwt ... (validate.h)
 *           entropy: 3.5                 # at least this many bits per byte (Shannon)
 *           context: [passport, pasaporte]   # one of these words (ASCII case ignored) must come
 *           context_window: 48           # ... at most this many bytes before the match, or in it
 *           keywords: [acme]             # the match must contain one of these
 *           allow: [EXAMPLE]             # a match containing one of these is ignored (a
 *                                        # file's allow: also the rest of the value after it)
 *           allow_key: [csrf]            # ... or whose key name holds one (the letters, digits
 *                                        # and _ . - right before the match: csrf_token=...)
 *           expand_left: "[a-z0-9._-]{1,64}"   # widen each match leftwards over these bytes
 *           standalone: "."              # not part of a longer run: no digit (letter) joined
 *                                        # by one of these to a digit (letter) at its edge
 *       request: event                   # every rule's action in requests (block redact event off)
 *       response: redact                 # ... and in responses
 *       mask: false                      # true: redact with a format-preserving mask ...
 *       keep: 0                          # ... leaving the last keep letters / digits
 *       types:                           # per data type: the category after ':' (pii:card ->
 *         card: {request: block, mask: true, keep: 4}   # card), else the rule id
 *         ip: off
 *
 * Actions per type and direction: a rule's action in one direction is its type's entry in
 * `types`, else the filter's request / response, else its own (off drops it there). A rule whose
 * two directions differ becomes two rules, one per direction (sharing their strings), so the
 * scanning code below sees one action per rule. The default replacement is [REDACTED:<type>];
 * blocks of pii / secret categories say "it contains personal data (card)", never the data.
 *
 * Checks (validate, entropy, context, keywords, allow) read the match, so a rule with any of them
 * is compiled with start of match whatever its action; a rule with context is held back in a
 * stream by context_window more, so that the words before a match are still in view.
 *
 * Streams and anchors: most rules begin with a literal (ghp_, -----BEGIN, a vendor's name):
 * anchors_of reads it off the regex (alternatives, small classes, optional parts included).
 * Such a rule's text is held back only from where its anchor occurs (or begins at the very end
 * of the text) while a match starting there may still be incomplete; other rules hold back
 * their max_len + 1 everywhere. A stream of ordinary prose then flows with little or no hold,
 * even though private-key rules may match 8 KiB. Occurrences are looked for once, in new text,
 * through a first-byte index and a table of first byte pairs.
 *
 * validate / entropy: a match counts only when its text passes (a card number with a bad check
 * digit, an IP address 1.2.3.999, an all-"x" placeholder are left alone, without an event). Both
 * need the start of each match, so they are for redact rules (compiled with start of match) and
 * fixed-width regexes. In a stream, a match whose beginning was already released (one longer
 * than max_len) cannot be read whole and counts unchecked.
 *
 * Encoded payloads (filters/decode.h): in requests, each base64 or hex run that decodes to text
 * is scanned decoded too (a TLS key in a Kubernetes secret's data, a token in an encoded config);
 * a finding there covers the whole encoded run — redacting it replaces the run — and its event
 * names the encoding. Answers are not decoded: a response is filtered the same whether it comes
 * whole or streamed, and streams are not decoded.
 *
 * Whole texts (request segments, buffered responses) are scanned in block mode. Streamed responses
 * are scanned in stream mode, one Hyperscan stream per logical stream, so each byte is scanned
 * once and \b, ^ and $ see the real neighbouring text. Matches are held in the per-exchange
 * context until the text they cover is released; the filter holds back the last max_len + 1 bytes
 * of each chunk (the largest max_len of the block and redact rules that apply to the stream's
 * role; + 1 because Hyperscan may need what follows a match, for \b or $, to report it)
 * and never releases the beginning of a known match it cannot yet redact whole. max_len defaults
 * to the pattern's longest possible match when Hyperscan can bound it, else 256; a match longer
 * than max_len may begin before it is recognised, and only its remainder is then redacted (a block
 * rule still blocks). A redacted region that keeps growing (a run of overlapping matches) is
 * released in pieces, each replaced, once it holds more than 4 KiB beyond that back.
 *
 * Overlapping matches (of one rule or several) merge into one span, replaced once with the
 * replacement of its leftmost match; matches that only touch are replaced separately. One event
 * is emitted per merged span of each rule; the matched text is never part of an event.
 *
 * Start of match: only redact rules are compiled with it (HS_FLAG_SOM_LEFTMOST): a replaced span
 * needs its start. Block and event rules are compiled without it, into the same database (one pass
 * per text, one Hyperscan stream per logical stream), because it is expensive and because large
 * bounded repeats (`api[_-]?key.{1,200}`, `[A-Za-z0-9]{40,160}`) do not compile with it at all
 * ("Pattern is too large"); a redact rule that fails that way gets a config error that says so.
 * Without it a match is known by its end only, so the event of a block or event rule reports
 * [end - min, end), min being the rule's shortest possible match: the whole match for a rule of
 * fixed width, otherwise the part of it that is certain. Hyperscan reports such a rule at every
 * end offset (`.{1,200}`: up to 200 times per occurrence); the reports of one rule whose certain
 * parts overlap, or that end at consecutive offsets, make one run and one event. (Finding the
 * start afterwards with a SOM scan of that one rule is no way out: the rules that need this do not
 * compile with SOM in any mode.)
 * Blocking a stream needs no start: the hold (max_len + 1, block rules included) keeps every byte
 * of a block match up to max_len long until Hyperscan has reported its end, and the filter blocks
 * then, before releasing anything.
 *
 * Cost per 2 KB, measured with a throwaway harness: the 100 rules of bench/patterns100.yaml (50
 * event phrases, 50 redact secrets), bench/prompt4k.txt (no match), one thread, best of 15:
 *                                      request segment   streamed chunk   config (both modes)
 *   before, SOM on every rule               12.1 us          14.4 us          0.8 - 1.2 s
 *   now, SOM on the 50 redact rules          2.6 us           2.9 us          0.5 s
 * Hyperscan alone goes from 12.0 to 2.6 us (block) and from 14.0 to 2.8 us (stream), as fast as
 * with no SOM at all; two databases (redact rules with SOM, the others without) cost 3.2 / 3.3 us,
 * hence one database with SOM per rule. With `api[_-]?key.{1,200}` (event) and a {40,160} block
 * rule added, which did not compile before: 2.65 / 2.9 us.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/name.h"
#include "config/parse.h"
#include "filters/decode.h"
#include "filters/filter.h"
#include "filters/hexdigit.h"
#include "filters/rxsplit.h"
#include "filters/scan.h"
#include "filters/validate.h"
#include "gateway/io.h"
#include "providers/provider.h"

#define DEFAULT_MAX_LEN 256
#define MAX_MAX_LEN 65536
/* The hold is max_len + LOOKAHEAD. A match not reported yet either is not complete (it ends past
 * the data: its first byte is among the last max_len - 1) or waits for what follows it: \b, \B
 * and multiline $ read the byte after the match, and $ also matches before a newline that ends the
 * stream, known only at close (the match ends 1 byte before the data end: + 2). \b is not
 * supported under UCP, so no assertion reads a whole multi-byte character. */
#define LOOKAHEAD 1
#define MAX_EXTRA_HOLD 4096
/* The longest key name allow_key reads before a match. */
#define KEYNAME 64
#define ANCHOR_MIN 3
#define ANCHOR_MAX 48

enum paction { ACT_BLOCK, ACT_REDACT, ACT_EVENT, ACT_OFF };
static const char *const action_names[] = {"block", "redact", "event", "off"};

/* Words of context / keywords / allow, lowercased (ASCII), searched ignoring ASCII case. */
struct words {
    char **v;
    size_t *len;
    size_t n;
};

struct prule {
    char *id, *regex, *category;
    const char *type; /* the data type: category after its ':' (pii:email -> email), else id */
    char *replacement;
    size_t replacement_len;
    char *replacement_json; /* the same, escaped for the inside of a JSON string */
    size_t replacement_json_len;
    char *message_req, *message_resp;
    unsigned hs_flags;
    unsigned roles; /* bit per enum gw_role */
    int req, resp;  /* applies to requests / responses */
    enum paction action;
    int severity;
    size_t max_len;
    size_t min_len; /* shortest match, in bytes */
    int exact;      /* matches are reported with their start: redact (SOM) or fixed width */
    int (*check)(const char *s, size_t n); /* validate: NULL for none */
    double entropy;                        /* bits per byte a match needs, 0 for any */
    const char *file;                      /* the rules file it came from (NULL: inline) */
    int line, col;                         /* ... and where in it */
    struct words context;                  /* one must occur within window bytes before */
    size_t window;
    struct words keywords;          /* the match must contain one */
    struct words allow;             /* a match containing one is ignored */
    struct words allow_key;         /* ... or whose key name (key_before) holds one */
    const struct words *file_allow; /* the rules file's allow list (every rule of the file) */
    uint8_t expand[32];             /* expand_left: bytes a match is widened leftwards over ... */
    size_t expand_max;              /* ... at most this many (0: no expand_left) */
    size_t max_width;               /* longest match Hyperscan can bound, 0 for none */
    int som;                        /* compiled with start of match: redact, or checked (above) */
    int mask;                       /* redact with a format-preserving mask ... */
    unsigned keep;     /* ... that leaves the last keep letters and digits as they are */
    int owner;         /* 0: a copy for the other direction, sharing the strings */
    int standalone;    /* standalone: a match joined to more of its kind (joined) ... */
    uint8_t joins[32]; /* ... by one of these bytes (a bit per byte) is not one */
};

/* A literal every match of some rules begins with (see anchors_of): in a stream, text is held
 * back from where it occurs (or where its beginning ends the text) while a match starting there
 * could still be incomplete, instead of by those rules' max_len everywhere. */
struct anchor {
    char lit[ANCHOR_MAX]; /* lowercased when caseless */
    size_t len;
    int caseless;
    size_t hold;    /* the longest match starting at it, + LOOKAHEAD */
    unsigned roles; /* of the rules it anchors */
};

struct pconf {
    struct prule *rules;
    size_t n;
    struct anchor *anchors;
    size_t nanchors;
    /* anchors by first byte (lowercased for the caseless ones): order[first[b] .. first[b + 1]),
     * [0] case-sensitive, [1] caseless; and which first two bytes some anchor has */
    unsigned first[2][257];
    unsigned *order[2];
    uint8_t pair[2][8192];
    char *rules_file;        /* path of rules_file, for messages */
    struct words file_allow; /* its `allow`: placeholders no rule of it reports */
    struct gw_scan_db *req_db, *resp_db;
    unsigned *req_map, *resp_map;   /* database index -> rule index */
    unsigned req_roles, resp_roles; /* roles some rule looks at */
    unsigned stream_roles;          /* response roles that come as chunks and some rule sees */
    size_t hold[GW_ROLE_COUNT];     /* streaming hold back per role */
};

/* A match of rule over [from, to): offsets in a segment (seg = its index) or, streaming, in the
 * logical stream as this filter receives it. */
struct pmatch {
    unsigned rule;
    unsigned seg;
    uint64_t from, to;
    int pend;     /* the rule's token checks are still to be made, on the longest match from here */
    unsigned enc; /* enum gw_enc: found in an encoded run [from, to) */
};

struct mvec {
    struct pmatch *v;
    size_t n, cap;
};

/* Per logical stream of a streamed response. */
/* Where an anchor occurs in a stream, and until which offset a match from there may go on. */
struct occ {
    uint64_t pos, until;
};

struct pstream {
    int id;
    int closed;
    struct occ *occ; /* anchor occurrences that may still begin an unfinished match */
    size_t nocc, capocc;
    uint64_t anchored_to; /* the text before it was looked at for whole anchors */
    uint64_t rescan_from; /* the first anchor the text ended inside of then (else anchored_to):
                           * before it, nothing can still complete an anchor */
    struct gw_scan_stream *hs;
    uint64_t base;       /* stream offset of the text[0] the chain presents next */
    uint64_t fed;        /* bytes fed to Hyperscan */
    struct mvec pending; /* matches not yet released */
    unsigned cut_rule;   /* whose replacement the pieces of a span released in pieces get */
    char hist[KEYNAME];  /* the last bytes released before base (nhist of them), read by ... */
    size_t nhist;        /* ... allow_key: a key name need not be held back to be read */
};

struct pctx {
    struct gw_streams streams; /* struct pstream */
};

/* ---- helpers ---- */

static int
mvec_push(struct mvec *m, unsigned rule, unsigned seg, uint64_t from, uint64_t to)
{
    if (m->n == m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 16;
        struct pmatch *v = realloc(m->v, cap * sizeof(*v));
        if (!v)
            return -1;
        m->v = v;
        m->cap = cap;
    }
    m->v[m->n++] = (struct pmatch){rule, seg, from, to, 0, GW_ENC_NONE};
    return 0;
}

static int
cmp_pos(const void *a, const void *b)
{
    const struct pmatch *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    /* not by end: a span's leftmost match (whose replacement it gets) must not depend on how
     * far the matches collapsed by release_matches reached */
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    return x->to < y->to ? -1 : x->to > y->to;
}

static int
cmp_rule(const void *a, const void *b)
{
    const struct pmatch *x = a, *y = b;
    if (x->seg != y->seg)
        return x->seg < y->seg ? -1 : 1;
    if (x->rule != y->rule)
        return x->rule < y->rule ? -1 : 1;
    if (x->from != y->from)
        return x->from < y->from ? -1 : 1;
    return x->to < y->to ? -1 : x->to > y->to;
}

/* Whether a match of r beginning at from joins the run of its matches that ends at to: when they
 * overlap; for a rule whose match starts are not known (from is its end - min_len), also when it
 * ends right after the run (.{1,200} is reported at every end offset: one run). */
static int
same_run(const struct prule *r, uint64_t from, uint64_t to)
{
    return from < to || (!r->exact && from + r->min_len == to + 1);
}

struct collector {
    const struct pconf *c;
    const unsigned *map;
    unsigned role_bit;
    unsigned seg;
    struct mvec *out;
    int oom;
    /* the text scanned, for validation: text[0] is at offset base (0 for a segment; a stream's
     * chunk starts at its base), len bytes */
    const char *text;
    uint64_t base;
    size_t len;
    /* in a stream, the nhist bytes released right before base (allow_key reads them) */
    const char *hist;
    size_t nhist;
};

static int
lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

static int
is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Whether t[0..n) holds one of w (ASCII case ignored); at a word start when start is set (the
 * byte before it is not a letter or digit). */
static int
has_word(const char *t, size_t n, const struct words *w, int start)
{
    for (size_t k = 0; k < w->n; k++) {
        const char *x = w->v[k];
        size_t m = w->len[k];
        for (size_t i = 0; i + m <= n; i++) {
            if (lower((unsigned char)t[i]) != (unsigned char)x[0] ||
                (start && i > 0 && is_alnum((unsigned char)t[i - 1])))
                continue;
            size_t j = 1;
            while (j < m && lower((unsigned char)t[i + j]) == (unsigned char)x[j])
                j++;
            if (j == m)
                return 1;
        }
    }
    return 0;
}

/* Whether r has checks of the whole token (see collect). */
static int
token_checks(const struct prule *r)
{
    return r->context.n || r->keywords.n || r->allow.n || r->allow_key.n ||
           (r->file_allow && r->file_allow->n) || r->standalone;
}

/* Bytes a standalone rule reads around a match: two before it, two after it. */
#define AROUND 2

/* Bytes after a match its file's allow words are also looked for in (see allow_tail). */
#define TAIL 16

/* Whether r's file has allow words: placeholders, which may go on past a match. */
static int
file_allows(const struct prule *r)
{
    return r->file_allow && r->file_allow->n;
}

/* Bytes after a match that r reads: the placeholder tail, a standalone rule's neighbours. */
static size_t
reads_after(const struct prule *r)
{
    return file_allows(r) ? TAIL : r->standalone ? AROUND : 0;
}

/*
 * The bytes right after a match [t, t + n) that belong to the same value (up to TAIL, of avail
 * in view), where the file's placeholders are looked for too: the rest of a placeholder whose
 * random-looking start alone passed the entropy floor (sha256~_xxxxxx_ then xxxxxxxx...), a value
 * shown cut short (ops_eyJz..[Redacted]), a token masked after its prefix (xoxp-...-####...).
 * A value ends at white space, a quote, a separator of fields or parameters, or a bracket of
 * markup or code. A rule's own allow list is for values and reads the match alone.
 */
static size_t
allow_tail(const char *t, size_t n, size_t avail)
{
    size_t i = 0;
    while (i < TAIL && i < avail) {
        unsigned char b = (unsigned char)t[n + i];
        if (b <= ' ' || b == 0x7f || strchr("\"'`,;&|<>(){}", b))
            break;
        i++;
    }
    return i;
}

/* A byte's kind for standalone: 1 a digit, 2 an ASCII letter, 0 anything else. */
static int
kind(unsigned char c)
{
    return c >= '0' && c <= '9' ? 1 : (c | 0x20) >= 'a' && (c | 0x20) <= 'z' ? 2 : 0;
}

/* Whether the match [from, to) of a standalone rule continues a longer run: a joining byte, then
 * a byte of the same kind as the match's edge beyond it, right before or right after the match
 * ("1.2.3.4" inside "1.3.6.1.4.1.311" or "1.2.3.4.5", not in "10.1.2.3.nip.io"). Bytes out of
 * view count as neither (a stream keeps them in view, see settle). */
static int
joined(const struct collector *k, const struct prule *r, uint64_t from, uint64_t to)
{
    if (to <= from || from < k->base || to > k->base + k->len)
        return 0;
    const unsigned char *m = (const unsigned char *)k->text + (from - k->base);
    size_t before = (size_t)(from - k->base), n = (size_t)(to - from), after = k->len - before - n;
    if (before >= AROUND && r->joins[m[-1] >> 3] & (1u << (m[-1] & 7)) && kind(m[-2]) &&
        kind(m[-2]) == kind(m[0]))
        return 1;
    return after >= AROUND && r->joins[m[n] >> 3] & (1u << (m[n] & 7)) && kind(m[n + 1]) &&
           kind(m[n + 1]) == kind(m[n - 1]);
}

/* A byte of a key name: a letter, a digit, _ . or -. */
static int
key_byte(unsigned char b)
{
    return is_alnum(b) || b == '_' || b == '.' || b == '-';
}

/* The byte at stream offset at, from the text in view or, in a stream, from what was released
 * before it (the last KEYNAME bytes); 0 when neither holds it. */
static int
byte_at(const struct collector *k, uint64_t at, unsigned char *b)
{
    if (at >= k->base && at < k->base + k->len)
        *b = (unsigned char)k->text[at - k->base];
    else if (at < k->base && k->base - at <= k->nhist)
        *b = (unsigned char)k->hist[k->nhist - (size_t)(k->base - at)];
    else
        return 0;
    return 1;
}

/* Moves *at back over the bytes of s (a set of single bytes), at most max of them. */
static void
skip_back(const struct collector *k, uint64_t *at, const char *s, int max)
{
    unsigned char b;
    while (max-- > 0 && *at > 0 && byte_at(k, *at - 1, &b) && b && strchr(s, b))
        (*at)--;
}

/* Copies the key bytes right before *at into out (from its end, after the n already there, up to
 * KEYNAME) and moves *at back over them. */
static void
read_key(const struct collector *k, uint64_t *at, char *out, size_t *n)
{
    uint64_t p = *at;
    size_t m = *n;
    unsigned char b;
    while (m < KEYNAME && p > 0 && byte_at(k, p - 1, &b) && key_byte(b)) {
        out[KEYNAME - ++m] = (char)b;
        p--;
    }
    *at = p;
    *n = m;
}

/* Whether a key ending at *at is the first member of a JSON object ("parent" : { "key"): then
 * *at moves back to the end of the parent's key. */
static int
parent_key(const struct collector *k, uint64_t *at)
{
    uint64_t p = *at;
    unsigned char b;
    skip_back(k, &p, "\"'", 1);
    skip_back(k, &p, " \t\r\n", 8);
    if (!p || !byte_at(k, p - 1, &b) || b != '{')
        return 0;
    p--;
    skip_back(k, &p, " \t\r\n", 8);
    if (!p || !byte_at(k, p - 1, &b) || b != ':')
        return 0;
    p--;
    skip_back(k, &p, " \t", 8);
    skip_back(k, &p, "\"'", 1);
    *at = p;
    return 1;
}

/*
 * The key name a match starting at from begins inside of (csrf_ before token=..., X-CSRF- before
 * Token: ...): the key bytes right before it; and when the match is the first member of a JSON
 * object, the key of that object too ("csrf": {"token": ...}, read as "csrf token"). At most
 * KEYNAME bytes, read from the text in view and, in a stream, from what was released before it.
 * Copied in order into out; returns their number.
 */
static size_t
key_before(const struct collector *k, uint64_t from, char *out)
{
    size_t n = 0;
    uint64_t at = from;
    read_key(k, &at, out, &n);
    if (n < KEYNAME && parent_key(k, &at)) {
        out[KEYNAME - ++n] = ' ';
        read_key(k, &at, out, &n);
    }
    memmove(out, out + KEYNAME - n, n);
    return n;
}

/*
 * Whether a match of r over [from, to) passes its validator and entropy floor (!token: checked on
 * each reported match, so that a valid card followed by more digits is found, and a token whose
 * value runs into other text still counts by its random part) or its token checks (token: allow,
 * keywords, context; made on the longest match from a start, since a prefix of a placeholder may
 * not hold the allowed word yet). A match that is not all in view
 * (its beginning released earlier in a stream) passes unchecked. Context words are looked for in
 * the window before the match and in the match itself, as far as they are in view.
 */
static int
passes(const struct collector *k, const struct prule *r, uint64_t from, uint64_t to, int token)
{
    if (token ? !token_checks(r) : !r->check && r->entropy <= 0)
        return 1;
    if (from < k->base || to > k->base + k->len || from > to)
        return 1;
    const char *t = k->text + (from - k->base);
    size_t n = (size_t)(to - from);
    if (!token)
        return (!r->check || r->check(t, n)) && (r->entropy <= 0 || gw_entropy(t, n) >= r->entropy);
    if ((r->allow.n && has_word(t, n, &r->allow, 0)) ||
        (file_allows(r) &&
         has_word(t, n + allow_tail(t, n, (size_t)(k->base + k->len - to)), r->file_allow, 0)))
        return 0;
    if (r->allow_key.n) {
        char key[KEYNAME];
        size_t kn = key_before(k, from, key);
        if (kn && has_word(key, kn, &r->allow_key, 0))
            return 0;
    }
    if (r->keywords.n && !has_word(t, n, &r->keywords, 0))
        return 0;
    if (r->context.n) {
        uint64_t lo = from - k->base > r->window ? from - r->window : k->base;
        if (!has_word(k->text + (lo - k->base), (size_t)(to - lo), &r->context, 1))
            return 0;
    }
    return !(r->standalone && joined(k, r, from, to));
}

/*
 * Makes the token checks of the pending matches of out (from index lo on) that are final: all of
 * them (all), or in a stream those no longer match can extend (fed: the stream offset fed to
 * Hyperscan; a match from `from` ends by from + max_len + LOOKAHEAD). Those that fail are dropped.
 * Returns the lowest offset the others (still pending) need in view — their start, less the
 * context window — or UINT64_MAX when none is left pending.
 */
static uint64_t
settle(const struct collector *k, struct mvec *out, size_t lo, int all, uint64_t fed)
{
    uint64_t need = UINT64_MAX;
    size_t keep = lo;
    for (size_t i = lo; i < out->n; i++) {
        struct pmatch *m = &out->v[i];
        const struct prule *r = &k->c->rules[m->rule];
        if (m->pend) {
            /* the bytes after the match that r reads must be in view */
            if (all || fed >= m->from + r->max_len + LOOKAHEAD + reads_after(r)) {
                /* the longest match from this start (a stream may have reported it in pieces) */
                for (size_t j = lo; j < out->n; j++)
                    if (out->v[j].pend && out->v[j].rule == m->rule && out->v[j].seg == m->seg &&
                        out->v[j].from == m->from && out->v[j].to > m->to)
                        m->to = out->v[j].to;
                if (!passes(k, r, m->from, m->to, 1))
                    continue;
                m->pend = 0;
            } else {
                size_t before = (r->context.n ? r->window : 0) + (r->standalone ? AROUND : 0);
                uint64_t n = m->from > before ? m->from - before : 0;
                if (n < need)
                    need = n;
            }
        }
        out->v[keep++] = *m;
    }
    out->n = keep;
    return need;
}

static int
collect(unsigned idx, unsigned long long from, unsigned long long to, void *arg)
{
    struct collector *k = arg;
    unsigned rule = k->map[idx];
    const struct prule *r = &k->c->rules[rule];
    if (!(r->roles & k->role_bit))
        return 0;
    if (!r->som) {
        /* Compiled without SOM (from = 0): what is certain is that the match ends at to and is at
         * least min_len long. Hyperscan reports such a rule once per end offset (.{1,200}: up to
         * 200 times per occurrence): a report that joins one of the last few of its rule only
         * extends it (see same_run), so that a run costs one entry. */
        from = to > r->min_len ? to - r->min_len : 0;
        if (!r->exact)
            for (size_t j = k->out->n, seen = 0; j-- > 0 && seen < 4; seen++) {
                struct pmatch *e = &k->out->v[j];
                if (e->rule == rule && e->seg == k->seg && e->from <= from &&
                    same_run(r, from, e->to)) {
                    if (to > e->to)
                        e->to = to;
                    return 0;
                }
            }
    }
    if (r->expand_max && from >= k->base && from <= k->base + k->len) {
        /* widen over the set, then begin at a letter or digit; nothing to widen over: no match */
        uint64_t lo = from - k->base > r->expand_max ? from - r->expand_max : k->base;
        uint64_t f = from;
        while (f > lo) {
            unsigned char c = (unsigned char)k->text[f - 1 - k->base];
            if (!(r->expand[c >> 3] & (1u << (c & 7))))
                break;
            f--;
        }
        while (f < from && !is_alnum((unsigned char)k->text[f - k->base]))
            f++;
        if (f == from)
            return 0;
        from = f;
    }
    if (!passes(k, r, from, to, 0))
        return 0;
    if (token_checks(r)) {
        /* checked later, on the longest match from this start (SOM: one start per report) */
        for (size_t j = k->out->n, seen = 0; j-- > 0 && seen < 8; seen++) {
            struct pmatch *e = &k->out->v[j];
            if (e->pend && e->rule == rule && e->seg == k->seg && e->from == from) {
                if (to > e->to)
                    e->to = to;
                return 0;
            }
        }
    }
    if (mvec_push(k->out, rule, k->seg, from, to) < 0) {
        k->oom = 1;
        return 1;
    }
    k->out->v[k->out->n - 1].pend = token_checks(r);
    return 0;
}

static void
emit(struct gw_tx *tx, const struct prule *r, enum gw_role role, int msg_index, uint64_t off,
     uint64_t len, unsigned enc)
{
    struct gw_event ev = {
        .filter = "patterns",
        .rule_id = r->id,
        .category = r->category,
        .action = action_names[r->action],
        .severity = r->severity,
        .score = 1.0,
        .role = role,
        .msg_index = msg_index,
        .offset = off,
        .length = len,
        .encoding = gw_enc_name((enum gw_enc)enc),
    };
    gw_emit(tx, &ev);
}

/* Whether the byte at stream offset i of t (whose first byte is at stream offset base) continues
 * a UTF-8 character. */
static int
is_cont(const char *t, uint64_t base, uint64_t i)
{
    return ((unsigned char)t[i - base] & 0xC0) == 0x80;
}

/* Moves stream offset pos left to the start of its UTF-8 character, not below base. Invalid text:
 * at most 3 steps, so that garbage cannot make the filter hold everything. */
static uint64_t
char_start(const char *t, uint64_t base, uint64_t pos)
{
    for (int step = 0; step < 3 && pos > base && is_cont(t, base, pos); step++)
        pos--;
    return pos;
}

/* The unit of text at t[i] for a mask: its length in *step; 1 when it is masked (a letter, a digit,
 * a non-ASCII character or, in JSON text, a \\u escape), 0 when it stays (other escapes too). */
static int
mask_unit(const char *t, size_t n, size_t i, int json, size_t *step)
{
    unsigned char c = (unsigned char)t[i];
    *step = 1;
    if (json && c == '\\' && i + 1 < n) {
        *step = t[i + 1] == 'u' && i + 6 <= n ? 6 : 2;
        return *step == 6;
    }
    if (c >= 0x80) {
        while (i + *step < n && *step < 4 && ((unsigned char)t[i + *step] & 0xC0) == 0x80)
            (*step)++;
        return 1;
    }
    return is_alnum(c);
}

/* The format-preserving mask of t[0..n) into out (room for n bytes): every masked unit becomes
 * '*' but the last keep, the rest stays (separators, punctuation: 4111-1111-1111-1111 with keep 4
 * is ****-****-****-1111). Returns its length (at most n). */
static size_t
mask_text(const char *t, size_t n, unsigned keep, int json, char *out)
{
    size_t units = 0, step, o = 0, seen = 0;
    for (size_t i = 0; i < n; i += step)
        units += (size_t)mask_unit(t, n, i, json, &step);
    size_t masked = units > keep ? units - keep : 0;
    for (size_t i = 0; i < n; i += step) {
        if (mask_unit(t, n, i, json, &step) && seen++ < masked) {
            out[o++] = '*';
        } else {
            memcpy(out + o, t + i, step);
            o += step;
        }
    }
    return o;
}

/* A merged span: [from, to) covering overlapping matches; rule: the leftmost one's. */
struct span {
    uint64_t from, to;
    unsigned rule;
};

/*
 * Next merged span of m[*i..n) (sorted by cmp_pos, one segment) among matches with action act, or
 * 0 when there is none. Only overlapping matches merge; touching ones stay apart.
 */
static int
next_span(const struct pconf *c, const struct pmatch *m, size_t n, size_t *i, enum paction act,
          struct span *sp)
{
    while (*i < n && c->rules[m[*i].rule].action != act)
        (*i)++;
    if (*i >= n)
        return 0;
    sp->from = m[*i].from;
    sp->to = m[*i].to;
    sp->rule = m[*i].rule;
    for ((*i)++; *i < n; (*i)++) {
        if (c->rules[m[*i].rule].action != act)
            continue;
        if (m[*i].from >= sp->to)
            break;
        if (m[*i].to > sp->to)
            sp->to = m[*i].to;
    }
    return 1;
}

/*
 * Replaces the merged spans sp[0..ns) (sorted, disjoint) in seg or ch, whose text begins at
 * stream offset base, right to left, so that earlier offsets stay valid. Each is clipped to
 * [base, hi) and widened to whole UTF-8 characters within it, but kept left of the span replaced
 * before it: a rule without 'u' may match part of a character. Returns how many were replaced,
 * or -1 when an edit failed.
 */
static int
apply_spans(const struct pconf *c, const struct span *sp, size_t ns, uint64_t base, uint64_t hi,
            struct gw_segment *seg, struct gw_chunk *ch)
{
    uint64_t limit = hi;
    int done = 0;
    while (ns--) {
        const char *t = seg ? seg->text : ch->text; /* each edit may move the text */
        /* A span cut by a release in pieces began before base; one cut at hi goes on later. */
        uint64_t from = sp[ns].from < base ? base : sp[ns].from;
        uint64_t to = sp[ns].to > limit ? limit : sp[ns].to;
        from = char_start(t, base, from);
        for (int step = 0; step < 3 && to < limit && is_cont(t, base, to); step++)
            to++;
        if (from >= to)
            continue;
        const struct prule *r = &c->rules[sp[ns].rule];
        size_t off = (size_t)(from - base), len = (size_t)(to - from);
        int json = (seg ? seg->role : ch->role) == GW_ROLE_TOOL_CALL_ARGS;
        const char *rep = json ? r->replacement_json : r->replacement;
        size_t rlen = json ? r->replacement_json_len : r->replacement_len;
        char *masked = NULL;
        if (r->mask) {
            if (!(masked = malloc(len)))
                return -1;
            rlen = mask_text(t + off, len, r->keep, json, masked);
            rep = masked;
        }
        int rc = seg ? gw_segment_replace(seg, off, len, rep, rlen)
                     : gw_chunk_replace(ch, off, len, rep, rlen);
        free(masked);
        if (rc < 0)
            return -1;
        limit = from;
        done++;
    }
    return done;
}

/* ---- whole texts ---- */

#define PAYLOAD_CAP (32u * 1024) /* a payload is scanned up to this many decoded bytes */

/* Where a payload is decoded: one buffer per thread (a worker scans one segment at a time), so a
 * payload is decoded once and no segment pays for an allocation. */
static _Thread_local char payload_buf[PAYLOAD_CAP];

/* The encoded payloads of request segment s (gw_payload_next: base64, base32, hex, Morse, and
 * text hidden in variation selectors, tag characters or full-width forms), scanned decoded into m
 * (k set up for s): a finding covers the whole encoded run. While a payload is scanned its matches
 * carry a segment number of their own, so that none is merged with a match of the text itself. */
static int
scan_payloads(struct collector *k, const struct gw_scan_db *db, struct mvec *m,
              const struct gw_segment *s)
{
    char *buf = payload_buf;
    struct gw_payload pl;
    int rc = 0;
    unsigned seg = k->seg;
    for (size_t pos = 0; gw_payload_next(s->text, s->len, &pos, buf, PAYLOAD_CAP, &pl);) {
        k->text = buf;
        k->len = pl.len;
        k->seg = seg | 0x80000000u;
        size_t before = m->n;
        if (gw_scan_block(db, buf, pl.len, collect, k) < 0 || k->oom) {
            rc = -1;
            break;
        }
        settle(k, m, before, 1, 0);
        for (size_t j = before; j < m->n; j++) {
            m->v[j].seg = seg;
            m->v[j].from = pl.from;
            m->v[j].to = pl.to;
            m->v[j].enc = pl.enc;
        }
    }
    k->text = s->text;
    k->len = s->len;
    k->seg = seg;
    return rc;
}

static enum gw_verdict
scan_segments(struct gw_tx *tx, const struct pconf *c, struct gw_segments *segs, int req)
{
    const struct gw_scan_db *db = req ? c->req_db : c->resp_db;
    unsigned roles = req ? c->req_roles : c->resp_roles;
    struct mvec m = {0};
    struct collector k = {c, req ? c->req_map : c->resp_map, 0, 0, &m, 0, NULL, 0, 0, NULL, 0};
    enum gw_verdict v = GW_PASS;

    for (size_t i = 0; i < segs->n; i++) {
        struct gw_segment *s = &segs->v[i];
        if ((unsigned)s->role >= GW_ROLE_COUNT || !(roles & (1u << s->role)))
            continue;
        k.role_bit = 1u << s->role;
        k.seg = (unsigned)i;
        k.text = s->text;
        k.len = s->len;
        size_t before = m.n;
        if (gw_scan_block(db, s->text, s->len, collect, &k) < 0 || k.oom) {
            v = GW_ERROR;
            goto out;
        }
        settle(&k, &m, before, 1, 0);
        /* requests only: an answer must be filtered alike whole and streamed */
        if (req && scan_payloads(&k, db, &m, s) < 0) {
            v = GW_ERROR;
            goto out;
        }
    }
    if (m.n == 0)
        goto out;

    /* Events per rule and merged span, in segment and rule order; a block rule anywhere wins. */
    qsort(m.v, m.n, sizeof(*m.v), cmp_rule);
    const struct pmatch *blocker = NULL;
    for (size_t i = 0; i < m.n; i++)
        if (c->rules[m.v[i].rule].action == ACT_BLOCK &&
            (!blocker || cmp_pos(&m.v[i], blocker) < 0))
            blocker = &m.v[i];
    for (size_t i = 0; i < m.n;) {
        const struct pmatch *a = &m.v[i];
        const struct prule *r = &c->rules[a->rule];
        uint64_t from = a->from, to = a->to;
        for (i++; i < m.n && m.v[i].seg == a->seg && m.v[i].rule == a->rule &&
                  same_run(r, m.v[i].from, to);
             i++)
            if (m.v[i].to > to)
                to = m.v[i].to;
        if (blocker && r->action != ACT_BLOCK)
            continue;
        const struct gw_segment *s = &segs->v[a->seg];
        emit(tx, r, s->role, s->msg_index, from, to - from, a->enc);
    }
    if (blocker) {
        const struct prule *r = &c->rules[blocker->rule];
        gw_tx_block(tx, 403, req ? "policy_violation" : "output_blocked",
                    req ? r->message_req : r->message_resp);
        v = GW_BLOCK;
        goto out;
    }

    /* Redactions: per segment, merged spans, right to left so earlier offsets stay valid. */
    qsort(m.v, m.n, sizeof(*m.v), cmp_pos);
    struct span *sp = malloc(m.n * sizeof(*sp));
    if (!sp) {
        v = GW_ERROR;
        goto out;
    }
    for (size_t lo = 0; lo < m.n;) {
        size_t hi = lo;
        while (hi < m.n && m.v[hi].seg == m.v[lo].seg)
            hi++;
        size_t ns = 0, j = lo;
        while (next_span(c, m.v, hi, &j, ACT_REDACT, &sp[ns]))
            ns++;
        struct gw_segment *s = &segs->v[m.v[lo].seg];
        int done = apply_spans(c, sp, ns, 0, s->len, s, NULL);
        if (done < 0) {
            free(sp);
            v = GW_ERROR;
            goto out;
        }
        if (done > 0)
            v = GW_REDACT;
        lo = hi;
    }
    free(sp);
out:
    free(m.v);
    return v;
}

static enum gw_verdict
on_req_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    (void)ctx;
    return scan_segments(tx, conf, segs, 1);
}

static enum gw_verdict
on_resp_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    (void)ctx;
    return scan_segments(tx, conf, segs, 0);
}

/* ---- streamed responses ---- */

/*
 * Drops the pending matches of p (sorted by cmp_rule) whose merged per-rule span ends at or before
 * r, emitting an event for each such span. The matches of a span that goes on past r are replaced
 * by one covering them all: the span, its leftmost match and what later matches merge with stay
 * the same, and a long run of overlapping matches cannot pile up.
 */
static void
release_matches(struct gw_tx *tx, const struct pconf *c, const struct gw_chunk *ch,
                struct pstream *p, uint64_t r)
{
    struct pmatch *m = p->pending.v;
    size_t n = p->pending.n, keep = 0;
    for (size_t i = 0; i < n;) {
        size_t lo = i;
        uint64_t from = m[i].from, to = m[i].to;
        /* matches still waiting for their token check are judged one by one, as in a whole
         * body: merged before it, an allowed match would be judged with the one it overlaps
         * ("123-456-555"), and the four-number pieces of a dotted run would make one match that
         * a standalone check finds not joined */
        const struct prule *rl = &c->rules[m[lo].rule];
        for (i++; i < n && m[i].rule == m[lo].rule && same_run(rl, m[i].from, to) &&
                  !(m[lo].pend || m[i].pend);
             i++)
            if (m[i].to > to)
                to = m[i].to;
        if (to <= r) {
            /* chunk->offset is where text[0] (our base) lies in the chain's numbering */
            emit(tx, &c->rules[m[lo].rule], ch->role, ch->choice, from + (ch->offset - p->base),
                 to - from, GW_ENC_NONE);
            continue;
        }
        m[keep] = m[lo];
        m[keep++].to = to;
    }
    p->pending.n = keep;
}

/* Whether t[0..n) equals a->lit[0..n) (ASCII case ignored for a caseless anchor). */
static int
anchor_eq(const struct anchor *a, const char *t, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)t[i];
        if ((a->caseless ? lower(c) : c) != (unsigned char)a->lit[i])
            return 0;
    }
    return 1;
}

/*
 * The earliest stream offset in [base, end) (text t, t[0] at base) from which an anchored rule's
 * match may have begun and not yet ended, in *from (end when there is none): an occurrence of an
 * anchor less than its hold before end, or the beginning of one at the very end. Occurrences are
 * looked for once each, in the text that arrived since the last call (and the anchor length
 * before it), through a first-byte index and a table of first byte pairs. 0, or -1 when out of
 * memory.
 */
static int
anchored_from(const struct pconf *c, struct pstream *p, unsigned role_bit, const char *t,
              uint64_t base, uint64_t end, uint64_t *from)
{
    size_t k = 0;
    for (size_t i = 0; i < p->nocc; i++)
        if (p->occ[i].until >= end) /* as the plain hold: kept while end - pos <= hold */
            p->occ[k++] = p->occ[i];
    p->nocc = k;
    uint64_t best = end;
    /* Only where the text ended inside an anchor last time can one complete now: a stream of
     * token-sized events is looked at once per byte, not again over the longest anchor. */
    uint64_t start = p->rescan_from;
    if (start < base)
        start = base;
    for (uint64_t i = start; i < end; i++) {
        const unsigned char *x = (const unsigned char *)t + (i - base);
        for (int ci = 0; ci < 2; ci++) {
            unsigned b0 = ci ? (unsigned)lower(x[0]) : x[0];
            if (c->first[ci][b0] == c->first[ci][b0 + 1])
                continue;
            unsigned lo = c->first[ci][b0], hi = c->first[ci][b0 + 1];
            if (i + 1 < end) {
                unsigned b1 = ci ? (unsigned)lower(x[1]) : x[1], pr = b0 << 8 | b1;
                if (!(c->pair[ci][pr >> 3] & (1u << (pr & 7))))
                    continue;
                /* the anchors of this bucket with that second byte (sorted by it) */
                unsigned l = lo, h = hi;
                while (l < h) {
                    unsigned mid = l + (h - l) / 2;
                    if ((unsigned char)c->anchors[c->order[ci][mid]].lit[1] < b1)
                        l = mid + 1;
                    else
                        h = mid;
                }
                lo = l;
                while (l < hi && (unsigned char)c->anchors[c->order[ci][l]].lit[1] == b1)
                    l++;
                hi = l;
            }
            for (unsigned j = lo; j < hi; j++) {
                const struct anchor *a = &c->anchors[c->order[ci][j]];
                if (!(a->roles & role_bit))
                    continue;
                uint64_t e = i + a->len;
                if (e > end) { /* the text ends inside it */
                    if (i < best && anchor_eq(a, (const char *)x, (size_t)(end - i)))
                        best = i;
                    continue;
                }
                if (e <= p->anchored_to || i + a->hold < end ||
                    !anchor_eq(a, (const char *)x, a->len))
                    continue; /* seen before, over already, or not there */
                if (p->nocc == p->capocc) {
                    size_t cap = p->capocc ? 2 * p->capocc : 4;
                    struct occ *v = realloc(p->occ, cap * sizeof(*v));
                    if (!v)
                        return -1;
                    p->occ = v;
                    p->capocc = cap;
                }
                p->occ[p->nocc++] = (struct occ){i, i + a->hold};
            }
        }
    }
    p->anchored_to = end;
    p->rescan_from = best; /* the first partial anchor (best is the partials' minimum here) */
    for (size_t i = 0; i < p->nocc; i++)
        if (p->occ[i].pos < best)
            best = p->occ[i].pos;
    *from = best < base ? base : best;
    return 0;
}

/* Remembers the last KEYNAME bytes of what is released (text[0..n), after p->hist). */
static void
keep_history(struct pstream *p, const char *text, size_t n)
{
    if (n >= KEYNAME) {
        memcpy(p->hist, text + n - KEYNAME, KEYNAME);
        p->nhist = KEYNAME;
        return;
    }
    size_t keep = p->nhist + n > KEYNAME ? KEYNAME - n : p->nhist;
    memmove(p->hist, p->hist + p->nhist - keep, keep);
    memcpy(p->hist + keep, text, n);
    p->nhist = keep + n;
}

static enum gw_verdict
on_resp_chunk(struct gw_tx *tx, void *conf, void *ctx, struct gw_chunk *ch)
{
    const struct pconf *c = conf;
    struct pctx *x = ctx;
    if ((unsigned)ch->role >= GW_ROLE_COUNT || !(c->stream_roles & (1u << ch->role)))
        return GW_PASS;
    struct pstream *p = gw_streams_get(&x->streams, sizeof(*p), ch->stream_id, NULL);
    if (!p || p->closed)
        return GW_ERROR; /* out of memory, or text after the final chunk */
    if (!p->hs && !(p->hs = gw_scan_stream_open(c->resp_db)))
        return GW_ERROR;

    /* What we held last time comes first, unchanged: feed only what follows it. */
    uint64_t held = p->fed - p->base;
    if (held > ch->len)
        return GW_ERROR;
    struct collector k = {c,        c->resp_map, 1u << ch->role, 0,       &p->pending, 0,
                          ch->text, p->base,     ch->len,        p->hist, p->nhist};
    if (gw_scan_stream_feed(p->hs, ch->text + held, ch->len - (size_t)held, collect, &k) < 0)
        return GW_ERROR;
    p->fed = p->base + ch->len;
    if (ch->final) {
        int rc = gw_scan_stream_close(p->hs, collect, &k);
        p->hs = NULL;
        p->closed = 1;
        if (rc < 0)
            return GW_ERROR;
    }
    if (k.oom)
        return GW_ERROR;

    uint64_t q = p->fed;
    /* token checks of the matches that can no longer grow; the others keep their text held */
    uint64_t need = settle(&k, &p->pending, 0, ch->final || ch->flush, q);
    struct pmatch *m = p->pending.v;
    size_t n = p->pending.n;

    const struct pmatch *blocker = NULL;
    for (size_t i = 0; i < n; i++)
        if (c->rules[m[i].rule].action == ACT_BLOCK && !m[i].pend &&
            (!blocker || cmp_pos(&m[i], blocker) < 0))
            blocker = &m[i];
    if (blocker) {
        const struct prule *r = &c->rules[blocker->rule];
        emit(tx, r, ch->role, ch->choice, blocker->from + (ch->offset - p->base),
             blocker->to - blocker->from, GW_ENC_NONE);
        gw_tx_block(tx, 403, "output_blocked", r->message_resp);
        p->pending.n = 0;
        return GW_BLOCK;
    }

    /* Release boundary: hold back what could still start a match, on a character start. */
    uint64_t r = q;
    size_t hold = c->hold[ch->role];
    uint64_t a = q;
    if (c->nanchors && anchored_from(c, p, 1u << ch->role, ch->text, p->base, q, &a) < 0)
        return GW_ERROR;
    if (!ch->final && !ch->flush) { /* a flush releases everything; the stream goes on */
        if (hold)
            r = char_start(ch->text, p->base, ch->len > hold ? q - hold : p->base);
        if (a < r)
            r = char_start(ch->text, p->base, a);
        if (need < r)
            r = char_start(ch->text, p->base, need < p->base ? p->base : need);
    }
    uint64_t r0 = r;
    hold = (size_t)(q - r0);

    /* Never release the beginning of a known redaction whose end is held: hold it whole... */
    if (n > 1)
        qsort(m, n, sizeof(*m), cmp_pos);
    struct span sp = {0};
    size_t i = 0;
    while (next_span(c, m, n, &i, ACT_REDACT, &sp) && sp.from < r) {
        if (sp.to > r) {
            r = sp.from < p->base ? p->base : char_start(ch->text, p->base, sp.from);
            break;
        }
    }
    /* ... unless it keeps growing: then redact it in pieces (the chain presents what is held
     * again with every chunk, so holding much more than the rules need costs every chunk). The
     * matches it started with may be gone when it goes on: each piece gets the replacement of
     * the leftmost. */
    if (q - r > hold + MAX_EXTRA_HOLD) {
        if (sp.from >= p->base)
            p->cut_rule = sp.rule;
        r = r0;
    }
    ch->hold = (size_t)(q - r);

    /* Redact the released part. */
    size_t ns = 0, cap = 0;
    struct span *spans = NULL;
    i = 0;
    while (next_span(c, m, n, &i, ACT_REDACT, &sp) && sp.from < r) {
        if (ns == cap) {
            cap = cap ? cap * 2 : 8;
            struct span *nv = realloc(spans, cap * sizeof(*nv));
            if (!nv) {
                free(spans);
                return GW_ERROR;
            }
            spans = nv;
        }
        if (sp.from < p->base)
            sp.rule = p->cut_rule; /* the rest of a span released in pieces */
        spans[ns++] = sp;
    }
    keep_history(p, ch->text, (size_t)(r - p->base));
    int done = apply_spans(c, spans, ns, p->base, r, NULL, ch);
    free(spans);
    if (done < 0)
        return GW_ERROR;

    if (n > 1)
        qsort(m, n, sizeof(*m), cmp_rule);
    release_matches(tx, c, ch, p, ch->final ? UINT64_MAX : r);
    p->base = r;
    return done > 0 ? GW_REDACT : GW_PASS;
}

static void
on_tx_end(struct gw_tx *tx, void *conf, void *ctx)
{
    (void)tx;
    (void)conf;
    struct pctx *x = ctx;
    struct pstream *v = x->streams.v;
    for (size_t i = 0; i < x->streams.n; i++) {
        gw_scan_stream_close(v[i].hs, NULL, NULL);
        free(v[i].pending.v);
        free(v[i].occ);
    }
    free(v);
    memset(x, 0, sizeof(*x));
}

/* ---- configuration ---- */

static void
words_free(struct words *w)
{
    for (size_t i = 0; i < w->n; i++)
        free(w->v[i]);
    free(w->v);
    free(w->len);
}

/* The strings of a rule that owns them. */
static void
rule_free(struct prule *r)
{
    if (!r->owner)
        return;
    words_free(&r->context);
    words_free(&r->keywords);
    words_free(&r->allow);
    words_free(&r->allow_key);
    free(r->id);
    free(r->regex);
    free(r->category);
    free(r->replacement);
    free(r->replacement_json);
    free(r->message_req);
    free(r->message_resp);
}

static void
rules_free(struct prule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        rule_free(&rules[i]);
    free(rules);
}

static void
conf_free(void *conf)
{
    struct pconf *c = conf;
    if (!c)
        return;
    rules_free(c->rules, c->n);
    free(c->anchors);
    words_free(&c->file_allow);
    free(c->order[0]);
    free(c->order[1]);
    free(c->rules_file);
    if (c->req_db != c->resp_db) {
        gw_scan_free(c->req_db);
        free(c->req_map);
    }
    gw_scan_free(c->resp_db);
    free(c->resp_map);
    free(c);
}

/* "rules[i] ('id'): message" (or "rules[i]: " before the id is known) through gw_cfg_error. */
static int rule_error(struct gw_cfg_ctx *cc, size_t i, const char *id, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
rule_error(struct gw_cfg_ctx *cc, size_t i, const char *id, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (id)
        return gw_cfg_error(cc, NULL, "patterns: rules[%zu] ('%s'): %s", i, id, msg);
    return gw_cfg_error(cc, NULL, "patterns: rules[%zu]: %s", i, msg);
}

static char *
xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

/* a b c, concatenated, or NULL when out of memory. */
static char *
concat3(const char *a, const char *b, const char *c)
{
    size_t la = strlen(a), lb = strlen(b), lc = strlen(c);
    char *d = malloc(la + lb + lc + 1);
    if (d) {
        memcpy(d, a, la);
        memcpy(d + la, b, lb);
        memcpy(d + la + lb, c, lc + 1);
    }
    return d;
}

/* A string member, or NULL when absent; -1 for another type. */
static int
get_string(const json_t *o, const char *key, const char **out)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v)
        return 0;
    if (!json_is_string(v))
        return -1;
    *out = json_string_value(v);
    return 0;
}

/* A list of words (context, keywords, allow) into w, lowercased: NULL, or what is wrong. */
static const char *
parse_words(const json_t *a, struct words *w)
{
    size_t j, n = json_array_size(a);
    const json_t *x;
    if (!json_is_array(a) || n == 0)
        return "must be a non-empty list of words";
    if (!(w->v = calloc(n, sizeof(char *))) || !(w->len = calloc(n, sizeof(size_t))))
        return "out of memory";
    json_array_foreach(a, j, x)
    {
        size_t len = json_is_string(x) ? json_string_length(x) : 0;
        if (len == 0 || len > 64)
            return "must be a list of words of 1 to 64 bytes";
        if (!(w->v[j] = xstrdup(json_string_value(x))))
            return "out of memory";
        w->n = j + 1;
        w->len[j] = len;
        for (char *q = w->v[j]; *q; q++)
            *q = (char)lower((unsigned char)*q);
    }
    return NULL;
}

/* validate: NAME and entropy: BITS of rule i (after its action and widths are known). */
static int
get_checks(struct gw_cfg_ctx *cc, size_t i, const char *id, const json_t *o, struct prule *r)
{
    const json_t *v = json_object_get(o, "validate"), *e = json_object_get(o, "entropy");
    if (v) {
        r->check = json_is_string(v) ? gw_validator_find(json_string_value(v)) : NULL;
        if (!r->check) {
            char names[512];
            gw_validator_names(names, sizeof(names));
            return rule_error(cc, i, id, "'validate' must be one of %s", names);
        }
    }
    if (e) {
        if (!json_is_number(e) || json_number_value(e) <= 0 || json_number_value(e) > 8)
            return rule_error(cc, i, id, "'entropy' must be a number of bits per byte in (0, 8]");
        r->entropy = json_number_value(e);
    }
    static const char *const lists[] = {"context", "keywords", "allow", "allow_key"};
    struct words *outs[] = {&r->context, &r->keywords, &r->allow, &r->allow_key};
    for (size_t k = 0; k < 4; k++) {
        const json_t *a = json_object_get(o, lists[k]);
        if (!a)
            continue;
        const char *err = parse_words(a, outs[k]);
        if (err)
            return rule_error(cc, i, id, "'%s' %s", lists[k], err);
    }
    const json_t *win = json_object_get(o, "context_window");
    r->window = 48;
    if (win) {
        if (!r->context.n)
            return rule_error(cc, i, id, "'context_window' needs 'context'");
        if (!json_is_integer(win) || json_integer_value(win) < 1 || json_integer_value(win) > 1024)
            return rule_error(cc, i, id, "'context_window' must be an integer from 1 to 1024");
        r->window = (size_t)json_integer_value(win);
    }
    const json_t *ex = json_object_get(o, "expand_left");
    if (ex) {
        /* a bracket expression [...]: bytes and ranges a-z, optionally {1,N} */
        const char *sp = json_is_string(ex) ? json_string_value(ex) : "";
        int ok = *sp == '[';
        sp += ok;
        while (ok && *sp && *sp != ']') {
            unsigned char a = (unsigned char)*sp++, b = a;
            if (a == '\\' && *sp)
                a = b = (unsigned char)*sp++;
            if (*sp == '-' && sp[1] && sp[1] != ']') {
                b = (unsigned char)sp[1];
                sp += 2;
            }
            for (unsigned c = a; c <= b; c++)
                r->expand[c >> 3] |= (uint8_t)(1u << (c & 7));
        }
        r->expand_max = 64;
        unsigned long n = 0;
        if (!ok || *sp != ']' ||
            (sp[1] && (sscanf(sp + 1, "{1,%lu}", &n) != 1 || n < 1 || n > 1024 ||
                       sp[strlen(sp) - 1] != '}')))
            return rule_error(cc, i, id,
                              "'expand_left' must be a class such as \"[A-Za-z0-9._%%+-]{1,64}\"");
        if (n)
            r->expand_max = n;
    }
    const json_t *sa = json_object_get(o, "standalone");
    if (sa) {
        /* 1 to 8 ASCII punctuation characters */
        const char *sp = json_is_string(sa) ? json_string_value(sa) : "";
        size_t n = strlen(sp);
        int ok = n >= 1 && n <= 8;
        for (size_t j = 0; ok && j < n; j++)
            ok = ispunct((unsigned char)sp[j]) != 0;
        if (!ok)
            return rule_error(cc, i, id,
                              "'standalone' must be 1 to 8 punctuation characters, such as \".\"");
        for (size_t j = 0; j < n; j++)
            r->joins[(unsigned char)sp[j] >> 3] |= (uint8_t)(1u << ((unsigned char)sp[j] & 7));
        r->standalone = 1;
    }
    return 0;
}

/* One rule; overridable: the filter's request / response / types may give it another action. */
static int
parse_rule(struct gw_cfg_ctx *cc, size_t i, const json_t *o, struct prule *r, int overridable)
{
    /* match / nomatch: example texts, for the tests of a rules file (not used here) */
    static const char *const keys[] = {
        "id",          "regex",       "flags",      "where",    "direction",      "action",
        "replacement", "message",     "category",   "severity", "max_len",        "validate",
        "entropy",     "match",       "nomatch",    "context",  "context_window", "keywords",
        "allow",       "expand_left", "standalone", "allow_key"};
    if (!json_is_object(o))
        return rule_error(cc, i, NULL, "a rule must be a mapping");

    const char *id, *regex, *flags, *dir, *action, *rep, *msg, *cat;
    if (get_string(o, "id", &id) < 0)
        return rule_error(cc, i, NULL, "'id' must be a string");
    if (!id)
        return rule_error(cc, i, NULL, "missing 'id'");
    if (!gw_name_ok(id))
        return rule_error(cc, i, NULL, "'id' must be made of letters, digits, '_', '.' and '-'");

    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)o, key, val)
    {
        size_t k = 0;
        while (k < sizeof(keys) / sizeof(keys[0]) && strcmp(keys[k], key) != 0)
            k++;
        if (k == sizeof(keys) / sizeof(keys[0]))
            return rule_error(cc, i, id,
                              "unknown key '%s' (known: id, regex, flags, where, direction, "
                              "action, replacement, message, category, severity, max_len, "
                              "validate, entropy, context, context_window, keywords, allow, "
                              "allow_key, expand_left, standalone, match, nomatch)",
                              key);
    }

    static const char *const strs[] = {"regex",       "flags",   "direction", "action",
                                       "replacement", "message", "category"};
    const char **outs[] = {&regex, &flags, &dir, &action, &rep, &msg, &cat};
    for (size_t k = 0; k < sizeof(strs) / sizeof(strs[0]); k++)
        if (get_string(o, strs[k], outs[k]) < 0)
            return rule_error(cc, i, id, "'%s' must be a string", strs[k]);
    if (!regex || !*regex)
        return rule_error(cc, i, id, "missing 'regex'");

    if (!(r->id = xstrdup(id)) || !(r->regex = xstrdup(regex)))
        return rule_error(cc, i, id, "out of memory");

    r->hs_flags = 0;
    for (const char *f = flags ? flags : ""; *f; f++) {
        switch (*f) {
        case 'i':
            r->hs_flags |= HS_FLAG_CASELESS;
            break;
        case 's':
            r->hs_flags |= HS_FLAG_DOTALL;
            break;
        case 'm':
            r->hs_flags |= HS_FLAG_MULTILINE;
            break;
        case 'u':
            r->hs_flags |= HS_FLAG_UTF8 | HS_FLAG_UCP;
            break;
        default:
            return rule_error(cc, i, id,
                              "unknown flag '%c' in 'flags' (known: i caseless, s dotall, "
                              "m multiline, u utf8)",
                              *f);
        }
    }

    /* a \b next to a non-ASCII byte never matches: Hyperscan's word boundaries are ASCII (and
     * with flag u it refuses \b altogether) */
    int dl;
    long d = gw_rx_dead_boundary(r->regex, &dl);
    if (d >= 0)
        return rule_error(cc, i, id,
                          "\\b next to '%.*s' never matches (word boundaries are ASCII): leave "
                          "the \\b out there",
                          dl, r->regex + d);

    const json_t *where = json_object_get(o, "where");
    if (!where) {
        r->roles = (1u << GW_ROLE_COUNT) - 1;
    } else {
        if (!json_is_array(where) || json_array_size(where) == 0)
            return rule_error(cc, i, id, "'where' must be a non-empty list of roles");
        r->roles = 0;
        size_t k;
        const json_t *e;
        json_array_foreach(where, k, e)
        {
            int role = json_is_string(e) ? gw_role_from_name(json_string_value(e)) : -1;
            if (role < 0 || role >= GW_ROLE_COUNT) {
                char names[256];
                size_t used = 0;
                names[0] = '\0';
                for (int q = 0; q < GW_ROLE_COUNT && used < sizeof(names); q++)
                    used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s",
                                             q ? ", " : "", gw_role_name((enum gw_role)q));
                if (!json_is_string(e))
                    return rule_error(cc, i, id, "'where' must be a list of role names (%s)",
                                      names);
                return rule_error(cc, i, id, "unknown role '%s' in 'where' (known: %s)",
                                  json_string_value(e), names);
            }
            r->roles |= 1u << role;
        }
    }

    if (!dir || strcmp(dir, "both") == 0) {
        r->req = r->resp = 1;
    } else if (strcmp(dir, "request") == 0) {
        r->req = 1;
    } else if (strcmp(dir, "response") == 0) {
        r->resp = 1;
    } else {
        return rule_error(cc, i, id, "'direction' must be request, response or both, not '%s'",
                          dir);
    }

    if (!action || strcmp(action, "block") == 0)
        r->action = ACT_BLOCK;
    else if (strcmp(action, "redact") == 0)
        r->action = ACT_REDACT;
    else if (strcmp(action, "event") == 0)
        r->action = ACT_EVENT;
    else
        return rule_error(cc, i, id, "'action' must be block, redact or event, not '%s'", action);

    if (rep && r->action != ACT_REDACT && !overridable)
        return rule_error(cc, i, id, "'replacement' applies to action redact only");
    if (msg && r->action != ACT_BLOCK && !overridable)
        return rule_error(cc, i, id, "'message' applies to action block only");
    if (cat && !*cat)
        return rule_error(cc, i, id, "'category' must not be empty");
    if (!(r->category = xstrdup(cat ? cat : "custom")))
        return rule_error(cc, i, id, "out of memory");
    const char *colon = strchr(r->category, ':');
    r->type = colon && colon[1] ? colon + 1 : r->id;

    /* What each action needs, whichever the rule ends up with (see conf_new). */
    r->replacement = rep ? xstrdup(rep) : concat3("[REDACTED:", r->type, "]");
    if (!r->replacement)
        return rule_error(cc, i, id, "out of memory");
    r->replacement_len = strlen(r->replacement);
    /* Tool-call arguments are JSON text and secrets sit inside its strings: there the
     * replacement must not end the string or start an escape. */
    size_t cap = 6 * r->replacement_len + 1;
    r->replacement_json = malloc(cap);
    if (!r->replacement_json)
        return rule_error(cc, i, id, "out of memory");
    r->replacement_json_len =
        gw_json_escape(r->replacement, r->replacement_len, r->replacement_json, cap);
    /* Blocks name the kind of data (never the data); other rules, the rule. */
    size_t cl = colon ? (size_t)(colon - r->category) : strlen(r->category);
    const char *kind = cl == 3 && strncmp(r->category, "pii", 3) == 0      ? "personal data"
                       : cl == 6 && strncmp(r->category, "secret", 6) == 0 ? "a credential"
                                                                           : NULL;
    char what[300];
    if (kind)
        snprintf(what, sizeof(what), "%s (%s)", kind, r->type);
    r->message_req = msg    ? xstrdup(msg)
                     : kind ? concat3("Request blocked: it contains ", what, "")
                            : concat3("Request blocked by policy rule '", id, "'");
    r->message_resp = msg    ? xstrdup(msg)
                      : kind ? concat3("Response blocked: it contained ", what, "")
                             : concat3("Response blocked by policy rule '", id, "'");
    if (!r->message_req || !r->message_resp)
        return rule_error(cc, i, id, "out of memory");

    const json_t *sev = json_object_get(o, "severity");
    r->severity = 2;
    if (sev) {
        if (!json_is_integer(sev) || json_integer_value(sev) < 1 || json_integer_value(sev) > 4)
            return rule_error(cc, i, id, "'severity' must be an integer from 1 to 4");
        r->severity = (int)json_integer_value(sev);
    }

    /* The longest match: given, else what Hyperscan can bound, else the default. */
    unsigned minw, width;
    char emsg[256];
    if (gw_scan_expr_widths(regex, r->hs_flags, &minw, &width, emsg, sizeof(emsg)) < 0)
        return gw_cfg_error(cc, NULL, "patterns: rule '%s': %s", id, emsg);
    r->min_len = minw;
    r->max_width = width == UINT_MAX ? 0 : width;
    r->max_len = width == 0 || width > MAX_MAX_LEN ? DEFAULT_MAX_LEN : width;
    const json_t *ml = json_object_get(o, "max_len");
    if (ml) {
        if (!json_is_integer(ml) || json_integer_value(ml) < 1 ||
            json_integer_value(ml) > MAX_MAX_LEN)
            return rule_error(cc, i, id, "'max_len' must be an integer from 1 to %d", MAX_MAX_LEN);
        r->max_len = (size_t)json_integer_value(ml);
    }
    return get_checks(cc, i, id, o, r);
}

/*
 * The config error for a rule set that did not compile (err: gw_scan_compile's, "rule '<id>':
 * <Hyperscan's sentence>."; r: that rule, or NULL when the error is about the whole set; stream:
 * whether the set was compiled for stream mode too). Only redact rules are compiled with SOM: when
 * such a rule compiles without it, SOM is what made it fail, and the way out is a smaller repeat
 * or another action.
 */
static int
compile_error(struct gw_cfg_ctx *cc0, const struct prule *r, int stream, const char *err)
{
    if (!r)
        return gw_cfg_error(cc0, NULL, "patterns: %s", err);
    /* a rule from a rules file: the error points into that file */
    struct gw_cfg_ctx sub = *cc0, *cc = cc0;
    struct gw_cnode at = {.line = r->line, .col = r->col};
    if (r->file) {
        sub.file = r->file;
        sub.node = &at;
        cc = &sub;
    }
    const char *why = strstr(err, "': ");
    why = why ? why + 3 : err;
    int len = (int)strlen(why);
    if (len > 0 && why[len - 1] == '.')
        len--;
    const char *hint = strstr(why, "too large") ? "; use a smaller bounded repeat" : "";
    if (r->action == ACT_REDACT) {
        struct gw_scan_rule plain = {r->id, r->regex, r->hs_flags};
        char err2[512];
        struct gw_scan_db *db = gw_scan_compile(&plain, 1, 0, stream, err2, sizeof(err2), NULL);
        if (db) {
            gw_scan_free(db);
            return gw_cfg_error(cc, NULL,
                                "patterns: rule '%s': %.*s with start-of-match tracking (needed "
                                "for action redact); use a smaller bounded repeat, or action "
                                "block or event",
                                r->id, len, why);
        }
    }
    return gw_cfg_error(cc, NULL, "patterns: rule '%s': %.*s%s", r->id, len, why, hint);
}

/* Compiles the rules of one direction into *db with *map (database index -> rule index), for
 * stream mode too when stream != 0. */
static int
compile_side(struct gw_cfg_ctx *cc, struct pconf *c, int req, int stream, struct gw_scan_db **db,
             unsigned **map)
{
    struct gw_scan_rule *sr = calloc(c->n, sizeof(*sr));
    *map = malloc(c->n * sizeof(**map));
    if (!sr || !*map) {
        free(sr);
        return gw_cfg_error(cc, NULL, "patterns: out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct prule *r = &c->rules[i];
        if (req ? !r->req : !r->resp)
            continue;
        /* Only a span that is replaced needs its start (see the top of the file). */
        unsigned som = r->som ? HS_FLAG_SOM_LEFTMOST : 0;
        sr[k] = (struct gw_scan_rule){r->id, r->regex, r->hs_flags | som};
        (*map)[k++] = (unsigned)i;
    }
    char err[512];
    size_t bad;
    /* the secrets pack takes seconds to compile; loading it from the cache, milliseconds */
    *db = gw_scan_compile_cached("patterns", sr, k, 0, stream, err, sizeof(err), &bad);
    int rc = 0;
    if (!*db)
        rc = compile_error(cc, bad < k ? &c->rules[(*map)[bad]] : NULL, stream, err);
    free(sr);
    return rc;
}

/* Reads rules_file (path relative to the config file) into *root; its `rules` sequence is
 * returned in *list. 0, or -1 with a config error. */
static int
load_rules_file(struct gw_cfg_ctx *cc, const char *file, char **path, struct gw_cnode **root,
                const struct gw_cnode **list)
{
    const struct gw_cnode *at = gw_cnode_get(cc->node, "rules_file");
    if (!(*path = gw_cfg_path(cc, file)))
        return gw_cfg_error(cc, at, "patterns: out of memory");
    char *buf;
    size_t len;
    if (gw_read_file(*path, 8u << 20, &buf, &len) < 0)
        return gw_cfg_error(cc, at, "patterns: rules_file %s: %s", *path,
                            errno == EFBIG    ? "larger than 8 MiB"
                            : errno == ENOMEM ? "out of memory"
                                              : strerror(errno));
    char err[600];
    int rc = gw_cnode_parse(*path, buf, len, root, err, sizeof(err));
    free(buf);
    if (rc < 0)
        return gw_cfg_error(cc, at, "patterns: rules_file: %s", err);
    struct gw_cfg_ctx sub = *cc;
    sub.file = *path;
    sub.node = *root;
    const struct gw_cnode *v = gw_cnode_get(*root, "version");
    *list = gw_cnode_get(*root, "rules");
    if (!*root || (*root)->type != GW_CNODE_MAP)
        return gw_cfg_error(&sub, NULL, "a rules file is a mapping {version: 1, rules: [...]}");
    for (size_t i = 0; i < (*root)->npairs; i++) {
        const struct gw_cpair *pr = &(*root)->pairs[i];
        if (strcmp(pr->key->scalar, "version") != 0 && strcmp(pr->key->scalar, "rules") != 0 &&
            strcmp(pr->key->scalar, "allow") != 0)
            return gw_cfg_error(&sub, pr->key, "unknown key '%s' (known: version, allow, rules)",
                                pr->key->scalar);
    }
    if (v && (!v->scalar || strcmp(v->scalar, "1") != 0))
        return gw_cfg_error(&sub, v, "'version' must be 1");
    if (!*list || (*list)->type != GW_CNODE_SEQ || (*list)->nitems == 0)
        return gw_cfg_error(&sub, *list, "'rules' must be a non-empty list");
    return 0;
}

/* ---- anchors: the literal a rule's matches begin with ---- */

static int
is_meta(char c)
{
    return c && strchr("\\[](){}.*+?|^$", c) != NULL;
}

/* One literal byte of a regex at *p (plain, an escaped punctuation character or \xHH): 1 with
 * *out set and *p moved past it, 0 when *p is something else -- and for \x00, which an anchor (a
 * NUL-terminated string) cannot hold: it would cut the anchor there. */
static int
lit_byte(const char **p, char *out)
{
    const char *s = *p;
    if (s[0] == '\\') {
        if (s[1] && !is_alnum((unsigned char)s[1])) {
            *out = s[1];
            *p = s + 2;
            return 1;
        }
        if (s[1] == 'x' && gw_hex_value(s[2]) >= 0 && gw_hex_value(s[3]) >= 0) {
            *out = (char)(gw_hex_value(s[2]) * 16 + gw_hex_value(s[3]));
            if (*out == '\0')
                return 0;
            *p = s + 4;
            return 1;
        }
        return 0;
    }
    if (!s[0] || is_meta(s[0]))
        return 0;
    *out = s[0];
    *p = s + 1;
    return 1;
}

/* The literal prefixes of a regex being read: each with whether it may still grow. */
#define PREFIX_MAX 32

struct prefixes {
    char v[PREFIX_MAX][ANCHOR_MAX];
    size_t len[PREFIX_MAX];
    int open[PREFIX_MAX];
    size_t n;
    int bad; /* too many, or something that cannot be followed */
};

static void
close_all(struct prefixes *ps)
{
    for (size_t i = 0; i < ps->n; i++)
        ps->open[i] = 0;
}

static void
append(struct prefixes *ps, char c)
{
    for (size_t i = 0; i < ps->n; i++)
        if (ps->open[i] && ps->len[i] < ANCHOR_MAX - 1)
            ps->v[i][ps->len[i]++] = c;
}

/* Adds the prefixes of b to a, but those it has already (closed ones, equal): 0, or -1 when there
 * would be more than PREFIX_MAX. */
static int
merge(struct prefixes *a, const struct prefixes *b)
{
    for (size_t i = 0; i < b->n; i++) {
        size_t j = 0;
        while (j < a->n && !(a->len[j] == b->len[i] && a->open[j] == b->open[i] &&
                             memcmp(a->v[j], b->v[i], b->len[i]) == 0))
            j++;
        if (j < a->n)
            continue;
        if (a->n == PREFIX_MAX)
            return -1;
        memcpy(a->v[a->n], b->v[i], b->len[i]);
        a->len[a->n] = b->len[i];
        a->open[a->n] = b->open[i];
        a->n++;
    }
    return 0;
}

/* a ∪ b when merge() cannot hold it: every prefix cut to the longest length L at which the cut,
 * distinct ones fit (a beginning of a certain prefix is certain too), all closed. 0, or -1 when
 * they do not fit even at ANCHOR_MIN bytes. */
static int
merge_cut(struct prefixes *a, const struct prefixes *b)
{
    for (size_t cut = ANCHOR_MAX - 1; cut >= ANCHOR_MIN; cut--) {
        struct prefixes out = {.n = 0}, one = {.n = 1};
        int fits = 1;
        for (size_t i = 0; i < a->n + b->n && fits; i++) {
            const struct prefixes *src = i < a->n ? a : b;
            size_t k = i < a->n ? i : i - a->n;
            one.len[0] = src->len[k] < cut ? src->len[k] : cut;
            memcpy(one.v[0], src->v[k], one.len[0]);
            one.open[0] = 0;
            fits = merge(&out, &one) == 0;
        }
        if (fits) {
            *a = out;
            return 0;
        }
    }
    return -1;
}

/* Moves *p past one item that is not read (a class, an escape, a group, any byte). */
static void
skip_item(const char **p)
{
    const char *s = *p;
    if (*s == '\\') {
        /* \xHH is one item of four bytes, as lit_byte reads it (its digits are no literals) */
        s += s[1] == 'x' && gw_hex_value(s[2]) >= 0 && gw_hex_value(s[3]) >= 0 ? 4 : s[1] ? 2 : 1;
    } else if (*s == '[') {
        s++;
        s += *s == '^';
        s += *s == ']';
        while (*s && *s != ']')
            s += *s == '\\' && s[1] ? 2 : 1;
        s += *s == ']';
    } else if (*s == '(') {
        int depth = 1;
        s++;
        while (*s && depth) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '[') {
                skip_item(&s);
                continue;
            } else if (*s == '(')
                depth++;
            else if (*s == ')')
                depth--;
            s++;
        }
    } else if (*s) {
        s++;
    }
    *p = s;
}

/* The length of a counted quantifier {n}, {n,} or {n,m} at s, or 0. */
static size_t
brace_len(const char *s)
{
    const char *q = s + 1;
    if (*s != '{' || !isdigit((unsigned char)*q))
        return 0;
    while (isdigit((unsigned char)*q))
        q++;
    if (*q == ',')
        for (q++; isdigit((unsigned char)*q);)
            q++;
    return *q == '}' ? (size_t)(q - s) + 1 : 0;
}

/* Moves *p past a quantifier after an item, if any. */
static void
skip_quant(const char **p)
{
    const char *s = *p;
    if (*s == '{') {
        s += brace_len(s);
    } else if (*s == '?' || *s == '*' || *s == '+') {
        s++;
    }
    s += *s == '?' || *s == '+'; /* lazy or possessive */
    *p = s;
}

static void read_alternatives(const char **p, struct prefixes *ps);

/*
 * Reads the sequence at *p up to the '|' or ')' that ends it (or the end), extending the open
 * prefixes of ps by what every match has there: literal bytes, a class of a few literal bytes (one
 * prefix per byte), a group of alternatives (one per alternative); \b and ^ match no byte and are
 * passed over. The first item that is anything else, or that a quantifier makes optional or
 * repeated, closes every prefix (a + keeps one occurrence first).
 */
static void
read_sequence(const char **p, struct prefixes *ps)
{
    while (**p && **p != '|' && **p != ')') {
        const char *s = *p;
        char c;
        int any_open = 0;
        for (size_t i = 0; i < ps->n; i++)
            any_open |= ps->open[i];
        if (!any_open || ps->bad) {
            skip_item(p);
            skip_quant(p);
            continue;
        }
        if ((s[0] == '\\' && (s[1] == 'b' || s[1] == 'B')) || s[0] == '^') {
            *p = s + (s[0] == '^' ? 1 : 2); /* match no byte */
            continue;
        }
        /* The item at s, then its quantifier at q. */
        const char *q = s;
        skip_item(&q);
        unsigned lo = 1;
        int more = 0; /* may repeat */
        if (*q == '?' || *q == '*') {
            lo = 0;
            more = *q == '*';
        } else if (*q == '+') {
            more = 1;
        } else if (*q == '{') {
            char *end;
            unsigned long n = strtoul(q + 1, &end, 10);
            lo = n > 8 ? 8 : (unsigned)n;
            more = *end != '}' || n > 8;
        }
        if (lo == 0) {
            /* Optional: the union of going on without it and with one of it (then closed). */
            struct prefixes with = *ps, saved = *ps;
            const char *rest = q, *p2 = s;
            skip_quant(&rest);
            char one[ANCHOR_MAX * 2];
            size_t len = (size_t)(q - s);
            if (len >= sizeof(one)) {
                ps->bad = 1;
                return;
            }
            memcpy(one, s, len);
            one[len] = '\0';
            p2 = one;
            read_sequence(&p2, &with);
            close_all(&with);
            *p = rest;
            read_sequence(p, ps);
            if (ps->bad || with.bad || (merge(ps, &with) < 0 && merge_cut(ps, &with) < 0)) {
                /* too many ways: what was certain before the item is */
                *ps = saved;
                close_all(ps);
            }
            return;
        }
        if (lit_byte(&s, &c)) {
            for (unsigned k = 0; k < lo; k++)
                append(ps, c);
        } else if (s[0] == '[' && s[1] != '^') {
            char set[4];
            size_t k = 0;
            const char *r = s + 1;
            /* in a class only \\, ] and - (a range, unless first or last) are special */
            while (*r && *r != ']' && k < 4) {
                if (*r == '-' && r != s + 1 && r[1] != ']')
                    break;
                if (*r == '\\') {
                    if (!r[1] || is_alnum((unsigned char)r[1]))
                        break;
                    r++;
                }
                set[k++] = *r++;
            }
            if (*r != ']' || k == 0 || lo != 1 || ps->n * k > PREFIX_MAX) {
                close_all(ps);
            } else {
                struct prefixes out = {.n = 0};
                for (size_t i = 0; i < ps->n; i++)
                    for (size_t j = 0; j < (ps->open[i] ? k : 1); j++) {
                        out.len[out.n] = ps->len[i];
                        memcpy(out.v[out.n], ps->v[i], ps->len[i]);
                        out.open[out.n] = ps->open[i];
                        if (ps->open[i] && out.len[out.n] < ANCHOR_MAX - 1)
                            out.v[out.n][out.len[out.n]++] = set[j];
                        out.n++;
                    }
                *ps = out;
            }
        } else if (strncmp(s, "(?:", 3) == 0 && lo == 1) {
            const char *g = s + 3;
            read_alternatives(&g, ps);
        } else {
            close_all(ps);
        }
        if (more)
            close_all(ps);
        *p = q;
        skip_quant(p);
    }
}

/* Reads alternatives a|b|c at *p (up to the ')' or the end): ps becomes the union of each
 * alternative read from ps. */
static void
read_alternatives(const char **p, struct prefixes *ps)
{
    struct prefixes start = *ps, all = {.n = 0};
    for (;;) {
        struct prefixes one = start;
        read_sequence(p, &one);
        if (one.bad || (merge(&all, &one) < 0 && merge_cut(&all, &one) < 0))
            ps->bad = 1; /* below: what was certain before the group is */
        if (**p != '|')
            break;
        (*p)++;
    }
    if (!ps->bad) {
        *ps = all;
    } else {
        *ps = start;
        close_all(ps);
    }
}

/*
 * The literals every match of regex re begins with, as alternatives: `\bghp_[A-Za-z0-9]{36}` ->
 * ghp_, `(?:sk|rk)_live_[0-9a-z]{24}` -> sk_live_, rk_live_, `\bey[IJ]` -> eyI, eyJ,
 * `-----BEGIN (?:RSA |EC |)PRIVATE` -> "-----BEGIN RSA PRIVATE", ... (see read_sequence). Returns
 * how many were written to out (each NUL-terminated and at most ANCHOR_MAX - 1 bytes: a longer
 * literal is cut, its beginning is still certain), or 0 when a match may begin otherwise or with
 * fewer than ANCHOR_MIN certain bytes, or there would be more than PREFIX_MAX.
 */
static size_t
anchors_of(const char *re, char (*out)[ANCHOR_MAX])
{
    /* Constructs this reader does not follow, which could hide a '|' or a ')': none at all. A
     * '{' that is not a counted quantifier is a literal for Hyperscan, but so rare here that it
     * is not worth telling apart from one (nor '}'). */
    for (const char *x = re; *x; x++) {
        if (x[0] == '\\' && x[1]) {
            if (x[1] == 'Q' || (x[1] == 'x' && x[2] == '{'))
                return 0;
            x++;
        } else if (x[0] == '[') { /* a class: braces inside are bytes; [: (POSIX) is not read */
            x++;
            x += *x == '^';
            x += *x == ']';
            for (; *x && *x != ']'; x++) {
                if (x[0] == '[' && x[1] == ':')
                    return 0;
                if (x[0] == '\\' && x[1])
                    x++;
            }
            if (!*x)
                return 0;
        } else if (x[0] == '}') {
            return 0;
        } else if (x[0] == '{') {
            size_t n = brace_len(x);
            if (!n)
                return 0;
            x += n - 1;
        }
    }
    struct prefixes ps = {.n = 1, .open = {1}};
    const char *p = re;
    read_alternatives(&p, &ps);
    if (ps.bad || *p)
        return 0; /* an unbalanced ')': not a regex this reads */
    size_t n = 0;
    for (size_t i = 0; i < ps.n; i++) {
        if (ps.len[i] < ANCHOR_MIN)
            return 0;
        /* one that begins with another (or equals an earlier one) adds nothing */
        int covered = 0;
        for (size_t j = 0; j < ps.n && !covered; j++)
            covered = j != i && ps.len[j] <= ps.len[i] &&
                      memcmp(ps.v[j], ps.v[i], ps.len[j]) == 0 && (ps.len[j] < ps.len[i] || j < i);
        if (covered)
            continue;
        memcpy(out[n], ps.v[i], ps.len[i]);
        out[n++][ps.len[i]] = '\0';
    }
    return n;
}

/* Adds the anchors of r (a response rule whose matches are at most hold bytes long, held back
 * beyond them): 1 when it has some, 0 when it has none, -1 when out of memory. */
static int
add_anchors(struct pconf *c, const struct prule *r, size_t hold)
{
    char lits[PREFIX_MAX][ANCHOR_MAX];
    size_t k = r->context.n || r->expand_max || r->standalone ? 0 : anchors_of(r->regex, lits);
    int caseless = (r->hs_flags & HS_FLAG_CASELESS) != 0;
    for (size_t i = 0; i < k; i++) {
        size_t len = strlen(lits[i]), j = 0;
        if (caseless) {
            /* ASCII case only: a caseless UTF-8 rule folds other letters too, so the anchor
             * ends before its first non-ASCII byte */
            for (size_t m = 0; m < len; m++) {
                if ((unsigned char)lits[i][m] >= 0x80) {
                    len = m;
                    break;
                }
                lits[i][m] = (char)lower((unsigned char)lits[i][m]);
            }
            if (len < ANCHOR_MIN)
                return 0; /* too short now: the rule holds back by its max_len */
            lits[i][len] = '\0';
        }
        while (j < c->nanchors &&
               (c->anchors[j].caseless != caseless || strcmp(c->anchors[j].lit, lits[i]) != 0))
            j++;
        if (j == c->nanchors) {
            struct anchor *v = realloc(c->anchors, (j + 1) * sizeof(*v));
            if (!v)
                return -1;
            c->anchors = v;
            memset(&v[j], 0, sizeof(v[j]));
            memcpy(v[j].lit, lits[i], len + 1);
            v[j].len = len;
            v[j].caseless = caseless;
            c->nanchors++;
        }
        if (c->anchors[j].hold < hold)
            c->anchors[j].hold = hold;
        c->anchors[j].roles |= r->roles;
    }
    return k > 0;
}

/* The first-byte index and the first-pair table of the anchors (see anchored_from). */
static int
index_anchors(struct pconf *c)
{
    for (int ci = 0; ci < 2; ci++) {
        unsigned count[257] = {0};
        for (size_t k = 0; k < c->nanchors; k++)
            if (c->anchors[k].caseless == ci)
                count[(unsigned char)c->anchors[k].lit[0]]++;
        c->first[ci][0] = 0;
        for (int b = 0; b < 256; b++)
            c->first[ci][b + 1] = c->first[ci][b] + count[b];
        if (!(c->order[ci] = malloc((c->nanchors + 1) * sizeof(unsigned))))
            return -1;
        unsigned fill[256];
        memcpy(fill, c->first[ci], sizeof(fill));
        for (size_t k = 0; k < c->nanchors; k++) {
            const struct anchor *a = &c->anchors[k];
            if (a->caseless != ci)
                continue;
            unsigned b0 = (unsigned char)a->lit[0], pr = b0 << 8 | (unsigned char)a->lit[1];
            /* within a first byte, by second byte (insertion: buckets are small) */
            unsigned at = fill[b0]++;
            while (at > c->first[ci][b0] && (unsigned char)c->anchors[c->order[ci][at - 1]].lit[1] >
                                                (unsigned char)a->lit[1]) {
                c->order[ci][at] = c->order[ci][at - 1];
                at--;
            }
            c->order[ci][at] = (unsigned)k;
            c->pair[ci][pr >> 3] |= (uint8_t)(1u << (pr & 7));
        }
    }
    return 0;
}

/* Actions and redaction style set by the filter (for every rule) or by `types` (for the rules of
 * one data type), overriding the rules' own: -1 where not set. */
struct override {
    const char *type; /* NULL: the filter's own */
    int act[2];       /* [0] requests, [1] responses: an enum paction */
    int mask, keep;
    const struct gw_cnode *node;
};

static int
parse_action(const char *a)
{
    for (int k = 0; k <= ACT_OFF; k++)
        if (strcmp(a, action_names[k]) == 0)
            return k;
    return -1;
}

/* request / response / mask / keep of o (the filter's mapping, or one entry of types: a mapping,
 * or an action string for both directions). */
static int
parse_override(struct gw_cfg_ctx *cc, const char *what, const json_t *o, struct override *ov)
{
    ov->act[0] = ov->act[1] = ov->mask = ov->keep = -1;
    if (json_is_string(o)) {
        int a = parse_action(json_string_value(o));
        if (a < 0)
            return gw_cfg_error(cc, ov->node,
                                "patterns: %s: an action is block, redact, event or off, not '%s'",
                                what, json_string_value(o));
        ov->act[0] = ov->act[1] = a;
        return 0;
    }
    if (!json_is_object(o))
        return gw_cfg_error(cc, ov->node,
                            "patterns: %s: expected an action or a mapping with request, response, "
                            "mask, keep",
                            what);
    static const char *const dirs[] = {"request", "response"};
    for (int d = 0; d < 2; d++) {
        const json_t *v = json_object_get(o, dirs[d]);
        if (!v)
            continue;
        if (!json_is_string(v) || (ov->act[d] = parse_action(json_string_value(v))) < 0)
            return gw_cfg_error(cc, ov->node,
                                "patterns: %s: '%s' must be block, redact, event or off", what,
                                dirs[d]);
    }
    const json_t *m = json_object_get(o, "mask"), *k = json_object_get(o, "keep");
    if (m) {
        if (!json_is_boolean(m))
            return gw_cfg_error(cc, ov->node, "patterns: %s: 'mask' must be true or false", what);
        ov->mask = json_is_true(m);
    }
    if (k) {
        if (!json_is_integer(k) || json_integer_value(k) < 0 || json_integer_value(k) > 64)
            return gw_cfg_error(cc, ov->node,
                                "patterns: %s: 'keep' must be an integer from 0 to 64", what);
        ov->keep = (int)json_integer_value(k);
    }
    return 0;
}

/*
 * The rules as the filter applies them: each rule with the action the filter's overrides give it
 * per direction (its type's entry in `types`, else the filter's request / response, else its own
 * action; off drops it), as one rule when both directions agree, else one per direction (the copy
 * shares the strings: owner 0). Then what each needs: start of match, exactness.
 */
static int
apply_overrides(struct gw_cfg_ctx *cc, struct pconf *c, const struct override *f,
                const struct override *types, size_t ntypes)
{
    for (size_t k = 0; k < ntypes; k++) {
        size_t i = 0;
        while (i < c->n && strcmp(types[k].type, c->rules[i].type) != 0)
            i++;
        if (i == c->n)
            return gw_cfg_error(cc, types[k].node, "patterns: types: no rule has type '%s'",
                                types[k].type);
    }
    struct prule *v = calloc(2 * c->n + 1, sizeof(*v));
    if (!v)
        return gw_cfg_error(cc, NULL, "patterns: out of memory");
    size_t n = 0;
    for (size_t i = 0; i < c->n; i++) {
        struct prule r = c->rules[i];
        const struct override *t = NULL;
        for (size_t k = 0; k < ntypes && !t; k++)
            if (strcmp(types[k].type, r.type) == 0)
                t = &types[k];
        int act[2];
        for (int d = 0; d < 2; d++) {
            act[d] = (d ? r.resp : r.req) ? (int)r.action : ACT_OFF;
            if (act[d] != ACT_OFF && t && t->act[d] >= 0)
                act[d] = t->act[d];
            else if (act[d] != ACT_OFF && f->act[d] >= 0)
                act[d] = f->act[d];
        }
        r.mask = t && t->mask >= 0 ? t->mask : f->mask > 0;
        r.keep = (unsigned)(t && t->keep >= 0 ? t->keep : f->keep > 0 ? f->keep : 0);
        int owner = 1;
        for (int d = 0; d < 2; d++) {
            if (act[d] == ACT_OFF || (d == 1 && act[0] == act[1]))
                continue;
            struct prule *x = &v[n++];
            *x = r;
            x->owner = owner;
            owner = 0;
            x->action = (enum paction)act[d];
            x->req = d == 0;
            x->resp = d == 1 || act[0] == act[1];
            /* A replaced span needs its start, and so do the checks, which read the match. */
            x->som = x->action == ACT_REDACT || x->check || x->entropy > 0 || token_checks(x) ||
                     x->expand_max;
            x->exact = x->som || (x->max_width && x->min_len == x->max_width);
        }
        if (owner) { /* off both ways: its strings go now */
            rule_free(&c->rules[i]);
            continue;
        }
    }
    free(c->rules);
    c->rules = v;
    c->n = n;
    return 0;
}

static int
conf_new(struct gw_cfg_ctx *cc, const json_t *in, void **out)
{
    *out = NULL;
    if (!json_is_object(in))
        return gw_cfg_error(cc, NULL, "patterns: expected a mapping with 'rules'");
    const char *key;
    const json_t *val;
    static const char *const known[] = {"rules", "rules_file", "request", "response",
                                        "mask",  "keep",       "types",   NULL};
    if (gw_cfg_unknown_keys(cc, in, known, NULL, "patterns: ") < 0)
        return -1;
    /* the filter's overrides and those per type */
    struct override fov = {0}, *tov = NULL;
    size_t ntypes = 0;
    if (parse_override(cc, "the filter", in, &fov) < 0)
        return -1;
    const json_t *types = json_object_get(in, "types");
    if (types && !json_is_object(types))
        return gw_cfg_error(cc, gw_cnode_get(cc->node, "types"),
                            "patterns: 'types' must be a mapping of data type to actions");
    if (types && json_object_size(types)) {
        if (!(tov = calloc(json_object_size(types), sizeof(*tov))))
            return gw_cfg_error(cc, NULL, "patterns: out of memory");
        const struct gw_cnode *tn = gw_cnode_get(cc->node, "types");
        json_object_foreach((json_t *)types, key, val)
        {
            struct override *ov = &tov[ntypes++];
            ov->type = key;
            ov->node = tn ? gw_cnode_get(tn, key) : NULL;
            char what[200];
            snprintf(what, sizeof(what), "types: %s", key);
            if (parse_override(cc, what, val, ov) < 0) {
                free(tov);
                return -1;
            }
        }
    }
    int overridable = fov.act[0] >= 0 || fov.act[1] >= 0 || ntypes > 0;
    const json_t *rules = json_object_get(in, "rules"), *rf = json_object_get(in, "rules_file");
    struct pconf *c = NULL;
    struct gw_cnode *froot = NULL;
    const struct gw_cnode *flist = NULL;
    size_t nfile = 0;
    if (rules && !json_is_array(rules)) {
        gw_cfg_error(cc, NULL, "patterns: 'rules' must be a list");
        goto fail;
    }
    if (rf && !json_is_string(rf)) {
        gw_cfg_error(cc, NULL, "patterns: 'rules_file' must be a file path");
        goto fail;
    }
    if (!rf && json_array_size(rules) == 0) {
        gw_cfg_error(cc, NULL, "patterns: 'rules' must be a non-empty list");
        goto fail;
    }
    if (!(c = calloc(1, sizeof(*c)))) {
        gw_cfg_error(cc, NULL, "patterns: out of memory");
        goto fail;
    }
    /* the rules file's rules first, then the inline ones */
    if (rf && load_rules_file(cc, json_string_value(rf), &c->rules_file, &froot, &flist) < 0)
        goto fail;
    const struct gw_cnode *fallow = froot ? gw_cnode_get(froot, "allow") : NULL;
    if (fallow) {
        json_t *a = gw_cnode_to_json(fallow);
        const char *err = a ? parse_words(a, &c->file_allow) : "out of memory";
        json_decref(a);
        if (err) {
            struct gw_cfg_ctx sub = *cc;
            sub.file = c->rules_file;
            gw_cfg_error(&sub, fallow, "'allow' %s", err);
            goto fail;
        }
    }
    nfile = flist ? flist->nitems : 0;
    size_t n = nfile + json_array_size(rules);
    if (!(c->rules = calloc(n, sizeof(*c->rules)))) {
        gw_cfg_error(cc, NULL, "patterns: out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        c->n = i + 1; /* so that conf_free releases what parse_rule filled in */
        struct gw_cfg_ctx sub = *cc, *rc = cc;
        json_t *o = NULL;
        size_t idx = i;
        if (i < nfile) {
            sub.file = c->rules_file;
            sub.node = flist->items[i];
            rc = &sub;
            o = gw_cnode_to_json(flist->items[i]);
            c->rules[i].file = c->rules_file;
            c->rules[i].file_allow = c->file_allow.n ? &c->file_allow : NULL;
            c->rules[i].line = flist->items[i]->line;
            c->rules[i].col = flist->items[i]->col;
        } else {
            idx = i - nfile;
            o = json_incref(json_array_get(rules, idx));
        }
        c->rules[i].owner = 1;
        int bad = !o ? gw_cfg_error(rc, NULL, "patterns: out of memory")
                     : parse_rule(rc, idx, o, &c->rules[i], overridable);
        json_decref(o);
        if (bad < 0)
            goto fail;
        for (size_t j = 0; j < i; j++)
            if (strcmp(c->rules[j].id, c->rules[i].id) == 0) {
                rule_error(rc, idx, c->rules[i].id,
                           c->rules[j].file ? "duplicate id (also rules[%zu] of %s)"
                                            : "duplicate id (also rules[%zu])%s",
                           c->rules[j].file ? j : j - nfile,
                           c->rules[j].file ? c->rules[j].file : "");
                goto fail;
            }
    }
    gw_cnode_free(froot);
    froot = NULL;
    if (apply_overrides(cc, c, &fov, tov, ntypes) < 0)
        goto fail;
    free(tov);
    tov = NULL;
    int same = 1; /* every rule both ways: one database serves both */
    for (size_t i = 0; i < c->n; i++) {
        const struct prule *r = &c->rules[i];
        same &= r->req == r->resp;
        if (r->req)
            c->req_roles |= r->roles;
        if (!r->resp)
            continue;
        c->resp_roles |= r->roles;
        /* Event rules too: their text is not edited, but a run of matches must be reported
         * whole (one event), which it is when nothing of it is released before it has ended. */
        size_t hold = r->max_len + LOOKAHEAD + (r->context.n ? r->window : 0) + r->expand_max +
                      (r->standalone ? AROUND : 0) + reads_after(r);
        int anchored = add_anchors(c, r, hold);
        if (anchored < 0) {
            gw_cfg_error(cc, NULL, "patterns: out of memory");
            goto fail;
        }
        if (anchored)
            continue; /* held from where its anchor occurs, in the stream */
        for (int role = 0; role < GW_ROLE_COUNT; role++)
            if ((r->roles & (1u << role)) && c->hold[role] < hold)
                c->hold[role] = hold;
    }
    if (index_anchors(c) < 0) {
        gw_cfg_error(cc, NULL, "patterns: out of memory");
        goto fail;
    }
    c->stream_roles = c->resp_roles & ((1u << GW_ROLE_ASSISTANT) | (1u << GW_ROLE_TOOL_CALL_ARGS));
    if (compile_side(cc, c, 0, c->stream_roles != 0, &c->resp_db, &c->resp_map) < 0)
        goto fail;
    if (same) {
        c->req_db = c->resp_db;
        c->req_map = c->resp_map;
    } else if (compile_side(cc, c, 1, 0, &c->req_db, &c->req_map) < 0) {
        goto fail;
    }
    *out = c;
    return 0;
fail:
    free(tov);
    gw_cnode_free(froot);
    conf_free(c);
    return -1;
}

static void
describe(const void *conf, char *buf, size_t cap)
{
    const struct pconf *c = conf;
    size_t cnt[2][3] = {{0}}, ids = 0;
    for (size_t i = 0; i < c->n; i++) {
        const struct prule *r = &c->rules[i];
        ids += r->owner;
        for (int d = 0; d < 2; d++)
            cnt[d][r->action] += d ? (size_t)r->resp : (size_t)r->req;
    }
    size_t hold = 0;
    for (int role = 0; role < GW_ROLE_COUNT; role++)
        if (c->hold[role] > hold)
            hold = c->hold[role];
    int n = snprintf(buf, cap, "%zu rules%s%s", ids, c->rules_file ? " from " : "",
                     c->rules_file ? c->rules_file : "");
    for (int d = 0; d < 2 && n > 0 && (size_t)n < cap; d++) {
        n += snprintf(buf + n, cap - (size_t)n, "; %s:", d ? "responses" : "requests");
        int any = 0;
        for (int a = 0; a < 3 && n > 0 && (size_t)n < cap; a++)
            if (cnt[d][a]) {
                n += snprintf(buf + n, cap - (size_t)n, "%s %zu %s", any ? "," : "", cnt[d][a],
                              action_names[a]);
                any = 1;
            }
        if (!any && n > 0 && (size_t)n < cap)
            n += snprintf(buf + n, cap - (size_t)n, " none");
    }
    if (n > 0 && (size_t)n < cap)
        snprintf(buf + n, cap - (size_t)n,
                 "; streams hold back %zu bytes, more after any of %zu anchors", hold, c->nanchors);
}

const struct gw_filter_ops gw_flt_patterns = {
    .name = "patterns",
    .ctx_size = sizeof(struct pctx),
    .conf_new = conf_new,
    .conf_free = conf_free,
    .on_req_body = on_req_body,
    .on_resp_body = on_resp_body,
    .on_resp_chunk = on_resp_chunk,
    .on_tx_end = on_tx_end,
    .describe = describe,
};
