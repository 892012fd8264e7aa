/*
 * The `exfil` filter: indicators that a response is leaking data out of the conversation, as a
 * model steered by an indirect prompt injection would make it do. It reads what the model wrote
 * (response segments and streamed chunks: assistant text, and tool-call arguments for blobs).
 *
 *   - type: exfil
 *     allow_hosts: [docs.example.com, "*.example.com"]   # hosts a link or image may send data to
 *     links: event             # block | redact | event | off
 *     images_only: false       # true: links are not judged, only images
 *     max_path_segment: 100    # a longer path segment carries data (0: only query / fragment)
 *     blobs: {action: event, min_len: 256}       # or just `blobs: redact`
 *     length: {action: event, factor: 4, min_samples: 20, min_bytes: 2048}
 *
 * Links and images (assistant text). A construct is `[text](dest "title")`, `![alt](dest)`,
 * `[text](<dest>)` and a reference definition `[id]: dest "title"`. It is judged on its
 * destination, after CommonMark's backslash escapes and numeric character references (and &amp;
 * &lt; &gt; &quot; &apos;) are decoded; the host is found as a browser finds it
 * (filters/hostmatch.h: userinfo, backslashes, `https:evil`, protocol-relative `//evil`). A
 * construct is flagged when its host is not in allow_hosts (or cannot be parsed cleanly) and the
 * URL carries data:
 *   - a non-empty query string;
 *   - for links, a non-empty fragment (the page the user lands on reads it); an image's fragment
 *     is never sent anywhere, so it does not count for images;
 *   - a path segment longer than max_path_segment bytes (data smuggled into the path);
 *   - a named character reference we do not decode (`&quest;` could be a '?'): it counts as data,
 *     and as an unclear host when it appears before the path.
 * Relative URLs (they go to the chat application itself) and URLs without a host (mailto:, data:)
 * are never flagged. Not judged: bare URLs and `<https://...>` autolinks (renderers show those as
 * the URL itself, data included), raw HTML `<img>`, and data in host names (DNS).
 * Reference definitions count as images: an image `![x][id]` may use them, and they come after
 * their uses. With images_only, link constructs `[text](...)` are not judged at all.
 * The recognition over-approximates CommonMark, so that a renderer does not find an image or a
 * link the filter did not judge: brackets are matched with a stack (a blank line closes every
 * open one), escapes before brackets are ignored, `]:` counts anywhere, code spans and blocks are
 * not exempt, an unclosed construct at the end of the text is judged as it is, and a construct
 * whose title or closing parenthesis is malformed is still judged on its destination.
 * Redaction replaces the whole construct (`![alt](url "t")`) with `[REDACTED:exfil-image]` or
 * `[REDACTED:exfil-link]`. The marker ends with ']', so a '(' or ':' right after a replaced
 * construct is judged as its continuation (`[x](evil1)(evil2)` would otherwise become a link to
 * evil2) and replaced with it.
 *
 * Blobs (assistant text and tool-call arguments): a run of base64 / base64url / hex characters
 * ([A-Za-z0-9+/_-], then up to two '=') of at least min_len characters. A run whose first
 * min_len characters are all decimal digits (a long number) or all one character (a rule line)
 * is not a blob: deciding on that prefix keeps the verdict independent of how the text is split.
 * Wrapped base64 (lines of at least 60 run characters, as base64 and PEM tools write them, joined
 * by line breaks; `\n` escapes in tool-call arguments) is one run. In tool-call arguments (JSON
 * text) runs are looked for inside strings only, and escape sequences are not part of a run, so
 * the arguments stay valid JSON. Redaction replaces the run with `[REDACTED:blob]`; in a stream a
 * blob is redacted as it grows: the first min_len characters become the marker and the rest is
 * dropped piece by piece, so the client sees one marker however the run was split.
 *
 * Length (assistant text, per response): the baseline is an exponentially weighted mean of the
 * assistant text bytes of this route's completed responses (per filter instance and route:
 * routes that share a prefix have their own), the plain mean of the first min_samples and then
 * weight 1/min_samples. Once min_samples responses were seen, a response longer than both
 * factor x baseline and min_bytes is flagged, in a stream as soon as its running length passes
 * the limit: event (once), block, or redact (the text is cut at the limit — moved back to the
 * start of a replacement it would split and, in a stream, of anything still held there, such as
 * a construct being read — and `[TRUNCATED]` replaces the rest; later text of every assistant
 * stream of the response is dropped, and later assistant segments of a JSON answer emptied). A
 * flagged response feeds the baseline with the limit, not its length, so one huge output cannot
 * inflate it while a lasting change is still learnt; responses this filter blocked, streams that
 * did not end, and responses without assistant text do not feed it. The baselines live in the
 * filter's configuration, shared by the workers under a mutex held for a few loads and stores per
 * response; a config reload starts them afresh.
 *
 * Events: rule_id exfil-image / exfil-link / exfil-blob / exfil-length, category exfil:<kind>,
 * severity 3 (image: fetched without a click) / 2 / 2 / 1, the span's offset and length, never
 * the URL or its data. Blocks answer 403 output_blocked (a started stream ends with the
 * provider's error event).
 *
 * Streams: one state machine per logical stream reads each byte once (a byte table, no
 * allocation per byte) and the same machine reads whole segments, as one final chunk, so a
 * stream releases the same text as the segment would give, whatever its split. What may still
 * have to be replaced or blocked is held back: an open '[' or '![' whose link text is at most 512
 * bytes so far (any bracket, even with images_only: `[id]: url` counts as an image; longer link
 * texts are released, and a flagged construct is then replaced from its ']'), what follows a ']'
 * until it is known whether a destination does, a destination and title up to 2 KiB and 512 bytes
 * (a longer destination is judged on its first 2 KiB as if data followed: flagged unless the
 * host is allowed, the first 2 KiB replaced), a trailing '!', a run shorter than min_len, and a
 * line break inside a blob (so with blobs redact or block, the last word of a chunk is held
 * while it may still grow into a blob). With action event only the destination being read is
 * held, and for blobs nothing. A timed flush (timeouts.stream_hold) must release everything: a
 * construct cut there is judged as it stands, as if data followed (a construct whose destination
 * has not reached a complete, allowed host is flagged), and state carries on, so its
 * continuation is still recognised.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/parse.h"
#include "filters/filter.h"
#include "filters/egress_policy.h"
#include "filters/exfil.h"
#include "filters/hostmatch.h"

#define MAX_LABEL 512 /* link text held back whole up to this many bytes */
#define MAX_DEST 2048 /* destination read whole up to this many bytes */
#define MAX_TITLE 512 /* title and white space around it */
#define MAX_DEPTH 32  /* open brackets remembered (older ones are "lost": counted, no position) */
#define WRAP_MIN 60   /* base64 line that may go on after a line break */
#define DEFAULT_MIN_LEN 256
#define DEFAULT_SEGMENT 100

enum xact { XA_OFF = 0, XA_EVENT, XA_REDACT, XA_BLOCK };
static const char *const act_names[] = {"off", "event", "redact", "block"};

enum kind { K_IMAGE = 0, K_LINK, K_BLOB, K_LENGTH, K_EGRESS_IMAGE, K_EGRESS_LINK };
#define REP_DELETE (-1)

static const struct {
    const char *rule, *category, *marker, *message;
    int severity;
} kinds[] = {
    [K_IMAGE] = {"exfil-image", "exfil:image", "[REDACTED:exfil-image]",
                 "Response blocked: it holds a markdown image that would send data to a host that "
                 "is not allowed (possible data exfiltration).",
                 3},
    [K_LINK] = {"exfil-link", "exfil:link", "[REDACTED:exfil-link]",
                "Response blocked: it holds a markdown link that would send data to a host that is "
                "not allowed (possible data exfiltration).",
                2},
    [K_BLOB] = {"exfil-blob", "exfil:blob", "[REDACTED:blob]",
                "Response blocked: it holds a long encoded blob (possible data exfiltration).", 2},
    [K_LENGTH] = {"exfil-length", "exfil:length", "[TRUNCATED]",
                  "Response blocked: it is far longer than this route's usual answers.", 1},
    /* the egress filter's markdown checks (gw_exfil_md_new) */
    [K_EGRESS_IMAGE] = {"egress-markdown-image", "egress:markdown_image", "[REDACTED:egress-image]",
                        "Response blocked: it holds a markdown image whose address the egress "
                        "policy does not allow.",
                        3},
    [K_EGRESS_LINK] = {"egress-markdown-link", "egress:markdown_link", "[REDACTED:egress-link]",
                       "Response blocked: it holds a markdown link whose address the egress policy "
                       "does not allow.",
                       2},
};

struct baseline {
    double mean;
    uint64_t n;
};

struct xconf {
    const struct gw_egress_policy *allow;   /* hosts that may receive data */
    struct gw_egress_policy *own;           /* allow, when this configuration owns it */
    int egress;                             /* the egress filter's markdown check: a construct is
                                             * flagged when the policy denies its address, whether
                                             * or not it carries data */
    enum xact links, images, blobs, length; /* links: what `[text](...)` gets; images: `![..]`
                                             * and reference definitions */
    int images_only;
    size_t max_segment;
    size_t min_len;
    double factor;
    uint64_t min_samples, min_bytes;
    /* length baselines per route index, shared by the workers */
    pthread_mutex_t mu;
    struct baseline *base;
    size_t nbase;
};

/* A pending replacement of [from, to) (stream offsets) by kinds[rep].marker, or nothing. */
struct edit {
    uint64_t from, to;
    int rep;
};

struct bracket {
    uint64_t at; /* '[' or the '!' before it */
    int image;
};

enum { RUN_NONE = 0, RUN_OPEN, RUN_BLOB, RUN_PLAIN };
/* a line break inside a run: literal CR / LF; in JSON text the escapes \n and \r\n */
enum { BRK_NONE = 0, BRK_CR, BRK_NL, BRK_ESC, BRK_ESC_R, BRK_ESC_R_ESC };
enum { CLOSE_NONE = 0, CLOSE_BRACKET, CLOSE_EDIT };

/* The state machine of one text (a logical stream, or a segment read as one final chunk). All
 * offsets count the bytes of the text as this filter receives it. */
struct xscan {
    uint64_t pos;   /* next byte to read */
    uint64_t floor; /* bytes before this were released: no edit may start before it */
    /* links */
    struct bracket open[MAX_DEPTH];
    unsigned nopen, lost;
    uint64_t bang; /* 1 + offset of the last '!' */
    int blank;     /* the line so far holds only spaces and tabs */
    int close;     /* CLOSE_*: reading what follows a ']' (or a replaced construct) at pos */
    uint64_t c_start;
    int c_image;
    /* blobs */
    int run;
    uint64_t run_at, run_len, blob_end;
    unsigned pad, line_len;
    unsigned char first;
    int digits, same;
    int brk;
    uint64_t brk_at;
    int esc;    /* JSON: -1 an escape letter follows, k: hex digits of \u left */
    int in_str; /* JSON: inside a string (runs are only looked for there) */
    /* replacements not yet applied, sorted, disjoint */
    struct edit *ed;
    size_t ned, caped;
};

struct xstream {
    int id;
    enum gw_role role;
    int closed;
    uint64_t base; /* offset of text[0] of the next chunk */
    uint64_t recv; /* bytes received: base + what we hold */
    struct xscan sc;
};

struct xctx {
    struct gw_streams streams; /* struct xstream */
    int route;                 /* route index (gw_identity.route_index) */
    int length_init;           /* route and limit read */
    uint64_t limit;            /* text bytes above which the response is too long; 0: not active */
    uint64_t total;            /* assistant text bytes received */
    int over, truncated;       /* the limit was passed; redact: text is dropped from then on */
    int blocked;               /* this filter blocked the response */
    int seen, open;            /* assistant streams seen / not ended */
    int fed;                   /* the baseline has this response */
};

enum { M_MORE = 0, M_FLUSH, M_FINAL };

/* What one call works on. */
struct job {
    struct gw_tx *tx;
    const struct xconf *c;
    enum gw_role role;
    int msg_index;
    uint64_t base;    /* offset of text[0] */
    uint64_t ev_base; /* the chain's offset of text[0] (events) */
    int links, blobs; /* indicators that read this text */
};

/* ---- byte classes ---- */

#define C_RUN 1u /* [A-Za-z0-9+/_-]: base64, base64url and hex */

/* One table lookup per byte on the hot path. */
static const unsigned char cls[256] = {
    ['+'] = C_RUN, ['-'] = C_RUN, ['/'] = C_RUN, ['_'] = C_RUN,
#define R4(c) [c] = C_RUN, [c + 1] = C_RUN, [c + 2] = C_RUN, [c + 3] = C_RUN
#define R8(c) R4(c), R4(c + 4)
    R8('0'),       ['8'] = C_RUN, ['9'] = C_RUN, R8('A'),       R8('A' + 8),
    R8('A' + 16),  ['Y'] = C_RUN, ['Z'] = C_RUN, R8('a'),       R8('a' + 8),
    R8('a' + 16),  ['y'] = C_RUN, ['z'] = C_RUN,
#undef R8
#undef R4
};

static int
is_run(unsigned char c)
{
    return cls[c] & C_RUN;
}

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_punct(unsigned char c)
{
    return (c >= '!' && c <= '/') || (c >= ':' && c <= '@') || (c >= '[' && c <= '`') ||
           (c >= '{' && c <= '~');
}

/* pos moved back to the start of its UTF-8 character, not below lo (at most 3 steps). */
static uint64_t
char_start(const char *t, uint64_t base, uint64_t lo, uint64_t pos)
{
    for (int k = 0; k < 3 && pos > lo && ((unsigned char)t[pos - base] & 0xC0) == 0x80; k++)
        pos--;
    return pos;
}

static uint64_t
min64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* ---- events, blocks, edits ---- */

static void
emit(const struct job *jb, enum kind k, enum xact a, uint64_t from, uint64_t to)
{
    static const char *const actions[] = {"event", "event", "redact", "block"};
    struct gw_event ev = {
        .filter = "exfil",
        .rule_id = kinds[k].rule,
        .category = kinds[k].category,
        .action = actions[a],
        .severity = kinds[k].severity,
        .score = 1.0,
        .role = jb->role,
        .msg_index = jb->msg_index,
        .offset = jb->ev_base + (from > jb->base ? from - jb->base : 0),
        .length = to > from ? to - from : 0,
    };
    gw_emit(jb->tx, &ev);
}

static void
block(const struct job *jb, enum kind k)
{
    gw_tx_block(jb->tx, 403, "output_blocked", kinds[k].message);
}

/* Adds a replacement of [from, to) (from raised to what is not released yet); replacements it
 * covers go, one that covers it wins, and a partly overlapping earlier one keeps its part. 0 or
 * -1 (no memory). */
static int
add_edit(struct xscan *sc, uint64_t from, uint64_t to, int rep)
{
    if (from < sc->floor)
        from = sc->floor;
    while (sc->ned && sc->ed[sc->ned - 1].from >= from && sc->ed[sc->ned - 1].to <= to)
        sc->ned--;
    if (sc->ned && sc->ed[sc->ned - 1].to > from) {
        if (sc->ed[sc->ned - 1].to >= to)
            return 0;
        from = sc->ed[sc->ned - 1].to;
    }
    if (from >= to)
        return 0;
    if (sc->ned == sc->caped) {
        size_t cap = sc->caped ? sc->caped * 2 : 8;
        struct edit *v = realloc(sc->ed, cap * sizeof(*v));
        if (!v)
            return -1;
        sc->ed = v;
        sc->caped = cap;
    }
    sc->ed[sc->ned++] = (struct edit){from, to, rep};
    return 0;
}

/* ---- destinations ---- */

/* Appends code point cp as UTF-8 (U+FFFD for what is not a scalar value). */
static size_t
put_utf8(char *o, uint32_t cp)
{
    if (cp == 0 || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        cp = 0xFFFD;
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | cp >> 6);
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | cp >> 12);
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | cp >> 18);
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * A character reference at s (n bytes, s[0] == '&'): its length (0 when it is none), the bytes it
 * stands for in out (*olen) — or *opaque = 1 for a named reference we do not decode.
 */
static size_t
entity(const char *s, size_t n, char *out, size_t *olen, int *opaque)
{
    static const struct {
        const char *name;
        char c;
    } named[] = {{"amp", '&'}, {"lt", '<'}, {"gt", '>'}, {"quot", '"'}, {"apos", '\''}};
    size_t i = 1;
    *opaque = 0;
    if (i < n && s[i] == '#') {
        int hex = i + 1 < n && (s[i + 1] == 'x' || s[i + 1] == 'X');
        i += hex ? 2 : 1;
        size_t d0 = i;
        uint32_t cp = 0;
        for (; i < n && i - d0 < (hex ? 6u : 7u); i++) {
            unsigned char c = (unsigned char)s[i];
            unsigned v;
            if (is_digit(c))
                v = c - '0';
            else if (hex && ((c | 0x20) >= 'a' && (c | 0x20) <= 'f'))
                v = (c | 0x20) - 'a' + 10;
            else
                break;
            cp = cp * (hex ? 16 : 10) + v;
        }
        if (i == d0 || i >= n || s[i] != ';')
            return 0;
        *olen = put_utf8(out, cp);
        return i + 1;
    }
    size_t a = i;
    while (i < n && i - a < 32 &&
           ((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
            (i > a && is_digit((unsigned char)s[i]))))
        i++;
    if (i - a < 2 || i >= n || s[i] != ';')
        return 0;
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++)
        if (strlen(named[k].name) == i - a && memcmp(named[k].name, s + a, i - a) == 0) {
            out[0] = named[k].c;
            *olen = 1;
            return i + 1;
        }
    *opaque = 1;
    *olen = 0;
    return i + 1;
}

/*
 * The destination d (n bytes, raw) as CommonMark hands it to the renderer: backslash escapes and
 * character references decoded, into out (room for n bytes: decoding never lengthens). Returns
 * the length; *opaque_at is where the first undecoded reference was (SIZE_MAX: none).
 */
static size_t
unescape(const char *d, size_t n, char *out, size_t *opaque_at)
{
    size_t o = 0;
    *opaque_at = SIZE_MAX;
    for (size_t i = 0; i < n;) {
        if (d[i] == '\\' && i + 1 < n && is_punct((unsigned char)d[i + 1])) {
            out[o++] = d[i + 1];
            i += 2;
            continue;
        }
        if (d[i] == '&') {
            char tmp[4];
            size_t tl = 0;
            int opaque;
            size_t el = entity(d + i, n - i, tmp, &tl, &opaque);
            if (el) {
                if (opaque && *opaque_at == SIZE_MAX)
                    *opaque_at = o;
                memcpy(out + o, tmp, tl);
                o += tl;
                i += el;
                continue;
            }
        }
        out[o++] = d[i++];
    }
    return o;
}

/* The longest '/'- or '\'-separated segment of d[a, b) (tab and newline bytes not counted). */
static size_t
longest_segment(const char *d, size_t a, size_t b)
{
    size_t best = 0, cur = 0;
    for (size_t i = a; i < b; i++) {
        if (d[i] == '/' || d[i] == '\\') {
            cur = 0;
            continue;
        }
        if (d[i] != '\t' && d[i] != '\n' && d[i] != '\r' && ++cur > best)
            best = cur;
    }
    return best;
}

/* Whether d (n bytes), the beginning of a relative URL, could still become one with a host: it is
 * empty, a single slash (of "//host"), or could be the beginning of a scheme ("http"). */
static int
could_get_host(const char *d, size_t n)
{
    size_t k = 0;
    int scheme = 1;
    unsigned char first = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)d[i];
        if (c == '\t' || c == '\n' || c == '\r' || (k == 0 && c <= 0x20))
            continue;
        int alpha = (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
        if (k == 0)
            first = c;
        if (!(alpha || (k > 0 && (is_digit(c) || c == '+' || c == '-' || c == '.'))))
            scheme = 0;
        k++;
    }
    return k == 0 || (k == 1 && (first == '/' || first == '\\')) || scheme;
}

/*
 * Whether a link (image: an image) to d (n raw bytes) sends data to a host that is not allowed.
 * partial: d may go on (a stream paused inside it, or it is longer than MAX_DEST): then anything
 * that is not already a complete, allowed host counts, since the data may follow.
 */
static int
flagged(const struct xconf *c, const char *d, size_t n, int image, int partial)
{
    char buf[MAX_DEST];
    size_t opaque_at = SIZE_MAX;
    if (n > sizeof(buf))
        n = sizeof(buf);
    if (memchr(d, '\\', n) || memchr(d, '&', n)) { /* most destinations need no decoding */
        n = unescape(d, n, buf, &opaque_at);
        d = buf;
    }
    size_t m = n;
    struct gw_url u;
    enum gw_url_kind kind = gw_url_parse(d, m, &u);
    if (kind == GW_URL_RELATIVE)
        return opaque_at != SIZE_MAX || (partial && could_get_host(d, m));
    if (kind == GW_URL_NO_HOST) {
        /* "foo:" or "foo:/" may still become "foo://host" */
        size_t rest = u.path_end - u.path_off;
        if (opaque_at != SIZE_MAX || (partial && !u.has_query && !u.has_fragment &&
                                      (rest == 0 || (rest == 1 && d[u.path_off] == '/'))))
            return 1;
        /* egress: mailto:, javascript: and data: leave only when their scheme is allowed */
        return c->egress && gw_egress_check(c->allow, d, m, 0) != GW_EGRESS_OK;
    }
    int host_sure = u.authority_done || !partial;
    if (opaque_at < u.path_off)
        return 1;  /* a reference we did not decode inside the authority: unclear host */
    if (c->egress) /* a path entry may still be left by what follows: judged whole */
        return !host_sure || gw_egress_check(c->allow, d, m, 0) != GW_EGRESS_OK ||
               (partial && gw_egress_policy_has_paths(c->allow));
    if (host_sure && gw_egress_policy_count(c->allow) > 0 &&
        gw_egress_check(c->allow, d, m, 0) == GW_EGRESS_OK)
        return 0;
    if (partial || opaque_at != SIZE_MAX)
        return 1;
    return u.query_len > 0 || (!image && u.frag_len > 0) ||
           (c->max_segment && longest_segment(d, u.path_off, u.path_end) > c->max_segment);
}

/* ---- what follows a ']' ---- */

enum { T_MORE = 0, T_NONE, T_OK, T_LONG };

struct tailp {
    size_t d0, d1; /* the destination read so far: [d0, d1) */
    int dest_done; /* ... and it is complete */
    size_t end;    /* T_OK: where the construct ends; T_LONG: where its judged part ends */
};

/*
 * Skips spaces and tabs from i and, when nl, at most one line ending; stops before a second one.
 * Returns the index reached (n: the text ended; more may follow unless eof).
 */
static size_t
skip_ws(const char *t, size_t n, size_t i, int nl, int eof)
{
    int lines = 0;
    while (i < n) {
        char c = t[i];
        if (c == ' ' || c == '\t') {
            i++;
            continue;
        }
        if ((c != '\n' && c != '\r') || !nl || lines)
            return i;
        lines = 1;
        if (c == '\r') {
            if (i + 1 >= n)
                return eof ? i + 1 : n; /* "\r" and perhaps "\n" next */
            if (t[i + 1] == '\n')
                i++;
        }
        i++;
    }
    return n;
}

/*
 * Reads what follows the ']' of a construct: `(dest "title")` or `: dest "title"`, starting at
 * t[i]. eof: the text ends at n. T_MORE: more text is needed to decide; T_NONE: no destination
 * follows; T_OK: *tp holds the destination and the end; T_LONG: the destination (or the white
 * space before it) is longer than the bounds: judge [d0, d1) as the beginning of a longer one.
 */
static int
tail(const char *t, size_t n, size_t i, int eof, struct tailp *tp)
{
    memset(tp, 0, sizeof(*tp));
    tp->d0 = tp->d1 = tp->end = i;
    if (i >= n)
        return eof ? T_NONE : T_MORE;
    int inl = t[i] == '(';
    if (!inl && t[i] != ':')
        return T_NONE;
    size_t j = skip_ws(t, n, i + 1, 1, eof);
    tp->d0 = tp->d1 = j;
    if (j - (i + 1) > MAX_TITLE) {
        /* judged at a fixed offset, whatever the split: a destination may still follow */
        tp->d0 = tp->d1 = tp->end = i + 1 + MAX_TITLE;
        return T_LONG;
    }
    if (j >= n) {
        if (!eof)
            return T_MORE;
        tp->dest_done = 1;
        tp->end = n;
        return T_OK;
    }

    size_t k, after;
    int angle = t[j] == '<';
    size_t d0 = angle ? j + 1 : j;
    int depth = 0;
    tp->d0 = d0;
    for (k = d0; k < n; k++) {
        unsigned char c = (unsigned char)t[k];
        if (angle ? (c == '>' || c == '<' || c == '\n' || c == '\r')
                  : (c <= 0x20 || (c == ')' && depth == 0)))
            break;
        if (k - d0 >= MAX_DEST) {
            tp->d1 = tp->end = d0 + MAX_DEST;
            return T_LONG;
        }
        if (c == '\\' && k + 1 < n && is_punct((unsigned char)t[k + 1])) {
            k++;
            continue;
        }
        if (c == '\\' && k + 1 >= n && !eof)
            break; /* an escape, perhaps */
        if (!angle && c == '(')
            depth++;
        else if (!angle && c == ')')
            depth--;
    }
    tp->d1 = k;
    if (k >= n || t[k] == '\\') {
        if (!eof)
            return T_MORE;
        tp->d1 = n;
        tp->dest_done = 1;
        tp->end = n;
        return T_OK;
    }
    tp->dest_done = 1;
    after = angle && t[k] == '>' ? k + 1 : k;
    tp->end = after;

    /* the title, and the closing parenthesis of an inline construct */
    size_t p = skip_ws(t, n, after, inl, eof);
    if (p - after > MAX_TITLE)
        return T_OK;
    if (p >= n)
        return eof ? T_OK : T_MORE;
    if (inl && t[p] == ')') {
        tp->end = p + 1;
        return T_OK;
    }
    char open = t[p];
    if (p == after || !(open == '"' || open == '\'' || (inl && open == '(')))
        return T_OK;
    char close = open == '(' ? ')' : open;
    int blank = 0;
    size_t q;
    for (q = p + 1; q < n; q++) {
        if (q - p > MAX_TITLE)
            return T_OK;
        char c = t[q];
        if (c == '\\' && q + 1 < n) {
            q++;
            continue;
        }
        if (c == '\\' && !eof)
            return T_MORE;
        if (c == close)
            break;
        if (open == '(' && c == '(')
            return T_OK;
        if (c == '\n' || c == '\r') {
            if (c == '\n' && q > 0 && t[q - 1] == '\r')
                continue;
            if (blank)
                return T_OK; /* a blank line ends the paragraph */
            blank = 1;
        } else if (c != ' ' && c != '\t') {
            blank = 0;
        }
    }
    if (q >= n)
        return eof ? T_OK : T_MORE;
    if (!inl) {
        tp->end = q + 1;
        return T_OK;
    }
    size_t r = skip_ws(t, n, q + 1, 1, eof);
    if (r - q > MAX_TITLE)
        return T_OK;
    if (r >= n)
        return eof ? T_OK : T_MORE;
    if (t[r] == ')')
        tp->end = r + 1;
    return T_OK;
}

/* ---- the machine ---- */

static int
relevant(const struct xconf *c, int image)
{
    return (image ? c->images : c->links) != XA_OFF;
}

static void
end_run(struct xscan *sc)
{
    sc->run = RUN_NONE;
    sc->brk = BRK_NONE;
    sc->pad = 0;
    sc->line_len = 0;
}

/* A run grew to include the byte at o: decide it at min_len, and grow a blob's replacement. 0,
 * 1 (blocked) or -1 (no memory). */
static int
grow(const struct job *jb, struct xscan *sc, uint64_t o)
{
    const struct xconf *c = jb->c;
    if (sc->run == RUN_OPEN) {
        if (sc->run_len < c->min_len)
            return 0;
        if (sc->digits || sc->same) {
            sc->run = RUN_PLAIN;
            return 0;
        }
        sc->run = RUN_BLOB;
        emit(jb, K_BLOB, c->blobs, sc->run_at, o + 1);
        if (c->blobs == XA_BLOCK) {
            block(jb, K_BLOB);
            return 1;
        }
        sc->blob_end = o + 1;
        if (c->blobs == XA_REDACT)
            return add_edit(sc, sc->run_at, o + 1, K_BLOB);
        return 0;
    }
    if (sc->run != RUN_BLOB || c->blobs != XA_REDACT)
        return 0;
    /* the rest of a blob goes with its marker; once the marker went out, piece by piece */
    struct edit *last = sc->ned ? &sc->ed[sc->ned - 1] : NULL;
    if (last && last->to == sc->blob_end && (last->rep == K_BLOB || last->rep == REP_DELETE))
        last->to = o + 1;
    else if (add_edit(sc, sc->blob_end, o + 1, REP_DELETE) < 0)
        return -1;
    sc->blob_end = o + 1;
    return 0;
}

/*
 * The blob detector reads t[i, j), run characters only, whose first is at offset o, in one go
 * (the state is touched once per stretch, not per byte). Only when no line break is pending and,
 * in JSON, inside a string and outside an escape. 0, 1 (blocked) or -1.
 */
static int
run_stretch(const struct job *jb, struct xscan *sc, const char *t, size_t i, size_t j, uint64_t o)
{
    if (sc->run && sc->pad)
        end_run(sc); /* after padding a new run begins */
    if (!sc->run) {
        sc->run = RUN_OPEN;
        sc->run_at = o;
        sc->run_len = 0;
        sc->first = (unsigned char)t[i];
        sc->digits = sc->same = 1;
    }
    if (sc->run == RUN_OPEN) {
        /* the first min_len characters decide: read them one by one */
        size_t k = i, stop = j;
        if (stop - i > jb->c->min_len - sc->run_len)
            stop = i + (size_t)(jb->c->min_len - sc->run_len);
        int digits = sc->digits, same = sc->same;
        unsigned char first = sc->first;
        for (size_t q = k; q < stop && (digits | same); q++) { /* both clear within a word */
            unsigned char c = (unsigned char)t[q];
            digits &= c >= '0' && c <= '9';
            same &= c == first;
        }
        k = stop;
        sc->digits = digits;
        sc->same = same;
        sc->run_len += k - i;
        sc->line_len += (unsigned)(k - i);
        o += k - i;
        i = k;
        if (sc->run_len >= jb->c->min_len) {
            int rc = grow(jb, sc, o - 1);
            if (rc)
                return rc;
        }
        if (i == j)
            return 0;
    }
    sc->run_len += j - i;
    sc->line_len += (unsigned)(j - i);
    return grow(jb, sc, o + (j - i) - 1);
}

/* The blob detector reads byte c at offset o. 0, 1 (blocked) or -1. */
static int
run_byte(const struct job *jb, struct xscan *sc, uint64_t o, unsigned char c)
{
    int json = jb->role == GW_ROLE_TOOL_CALL_ARGS;
    if (sc->brk) {
        int go_on = 0;
        switch (sc->brk) {
        case BRK_CR:
            if (c == '\n') {
                sc->brk = BRK_NL;
                return 0;
            }
            break;
        case BRK_NL:
            go_on = is_run(c);
            break;
        case BRK_ESC:
        case BRK_ESC_R_ESC:
            if (c == 'n') {
                sc->brk = BRK_NL;
                return 0;
            }
            if (c == 'r' && sc->brk == BRK_ESC) {
                sc->brk = BRK_ESC_R;
                return 0;
            }
            /* another escape: the run ended before its backslash, and c is escaped */
            end_run(sc);
            sc->esc = c == 'u' ? 4 : 0;
            return 0;
        case BRK_ESC_R:
            if (c == '\\') {
                sc->brk = BRK_ESC_R_ESC;
                return 0;
            }
            break;
        }
        if (go_on) {
            sc->brk = BRK_NONE;
            sc->line_len = 0;
        } else {
            end_run(sc); /* the break is not part of a run; c is read afresh */
        }
    }
    if (json) {
        if (sc->esc) {
            sc->esc = sc->esc < 0 ? (c == 'u' ? 4 : 0) : sc->esc - 1;
            if (sc->run)
                end_run(sc);
            return 0;
        }
        if (c == '"') {
            if (sc->run)
                end_run(sc);
            sc->in_str = !sc->in_str;
            return 0;
        }
        if (!sc->in_str)
            return 0; /* numbers and literals: editing them would break the JSON */
    }
    if (is_run(c)) {
        if (sc->run && sc->pad)
            end_run(sc); /* after padding a new run begins */
        if (!sc->run) {
            sc->run = RUN_OPEN;
            sc->run_at = o;
            sc->run_len = 0;
            sc->first = c;
            sc->digits = sc->same = 1;
        }
        sc->run_len++;
        sc->line_len++;
        if (sc->run == RUN_OPEN) {
            sc->digits &= is_digit(c);
            sc->same &= c == sc->first;
        }
        return grow(jb, sc, o);
    }
    if (c == '=' && sc->run && sc->pad < 2) {
        sc->pad++;
        sc->run_len++;
        return grow(jb, sc, o);
    }
    if (sc->run && !sc->pad && sc->line_len >= WRAP_MIN) {
        if (!json && (c == '\n' || c == '\r')) {
            sc->brk = c == '\r' ? BRK_CR : BRK_NL;
            sc->brk_at = o;
            return 0;
        }
        if (json && c == '\\') {
            sc->brk = BRK_ESC;
            sc->brk_at = o;
            return 0;
        }
    }
    if (sc->run)
        end_run(sc);
    if (json && c == '\\')
        sc->esc = -1;
    return 0;
}

/*
 * Judges the construct whose destination tail() read at t[i...] (tp), image: whether it counts as
 * an image, partial as for flagged().
 * 0: nothing to replace (not flagged, or an event); 1: blocked; 2: replaced up to tp->end; -1.
 */
static int
construct(const struct job *jb, struct xscan *sc, const char *t, size_t i, const struct tailp *tp,
          int image, int partial)
{
    const struct xconf *c = jb->c;
    uint64_t end = jb->base + tp->end, at = jb->base + i;
    if (!flagged(c, t + tp->d0, tp->d1 - tp->d0, image, partial))
        return 0;
    enum kind k = c->egress ? (image ? K_EGRESS_IMAGE : K_EGRESS_LINK) : image ? K_IMAGE : K_LINK;
    enum xact a = image ? c->images : c->links;
    emit(jb, k, a, sc->close == CLOSE_EDIT ? at : sc->c_start, end);
    if (a == XA_BLOCK) {
        block(jb, k);
        return 1;
    }
    if (a != XA_REDACT)
        return 0;
    struct edit *last = sc->ned ? &sc->ed[sc->ned - 1] : NULL;
    if (sc->close == CLOSE_EDIT && last && last->to == at && last->rep != REP_DELETE)
        last->to = end; /* the continuation of a replaced construct: one marker */
    else if (add_edit(sc, sc->c_start, end, k) < 0)
        return -1;
    while (sc->nopen && sc->open[sc->nopen - 1].at >= sc->c_start)
        sc->nopen--;
    end_run(sc);
    sc->bang = 0;
    sc->blank = 0;
    return 2;
}

/*
 * Reads t (n bytes, t[0] at jb->base) from sc->pos on. mode M_MORE: text follows, and the
 * machine may stop at a construct it cannot judge yet (sc->pos stays there); M_FLUSH: the text
 * must be released, constructs are judged as they stand; M_FINAL: the text ends here.
 * Returns 0, 1 (blocked: gw_tx_block was called) or -1 (no memory).
 */
static int
scan(const struct job *jb, struct xscan *sc, const char *t, size_t n, int mode)
{
    const struct xconf *c = jb->c;
    size_t i = (size_t)(sc->pos - jb->base);
    while (i < n) {
        if (sc->close) {
            struct tailp tp;
            int r = tail(t, n, i, mode == M_FINAL, &tp), partial = r == T_LONG;
            if (r == T_MORE) {
                if (mode != M_FLUSH)
                    break;
                partial = !tp.dest_done; /* judged as it stands */
                if (!partial)
                    tp.end = n;
                else
                    tp.d1 = tp.end = n;
            }
            /* a definition may serve an image ![x][id], which comes before it */
            int image = sc->c_image || t[i] == ':';
            if (r == T_NONE || !relevant(c, image)) {
                sc->close = CLOSE_NONE;
                continue;
            }
            if (tp.end < n)
                tp.end =
                    (size_t)(char_start(t, jb->base, jb->base + i, jb->base + tp.end) - jb->base);
            int rc = construct(jb, sc, t, i, &tp, image, partial);
            if (rc == 1 || rc < 0)
                return rc;
            if (rc == 2) {
                i = tp.end;
                sc->close = CLOSE_EDIT;
            } else {
                sc->close = CLOSE_NONE; /* what followed the ']' is ordinary text */
            }
            continue;
        }
        unsigned char ch = (unsigned char)t[i];
        uint64_t o = jb->base + i;
        if (cls[ch] & C_RUN) {
            /* a stretch of run characters: to links it only says that the line is not blank */
            size_t j = i + 1;
            while (j < n && (cls[(unsigned char)t[j]] & C_RUN))
                j++;
            if (jb->blobs) {
                int json = jb->role == GW_ROLE_TOOL_CALL_ARGS, rc;
                if (sc->brk || (json && (sc->esc || !sc->in_str))) {
                    j = i + 1; /* this byte decides a break or an escape: alone */
                    rc = run_byte(jb, sc, o, ch);
                } else {
                    rc = run_stretch(jb, sc, t, i, j, o);
                }
                if (rc)
                    return rc;
            }
            sc->blank = 0;
            i = j;
            continue;
        }
        if (jb->blobs) {
            int rc = run_byte(jb, sc, o, ch);
            if (rc)
                return rc;
        }
        if (jb->links) {
            switch (ch) {
            case '!':
                sc->bang = o + 1;
                sc->blank = 0;
                break;
            case '[': {
                if (sc->nopen == MAX_DEPTH) {
                    memmove(sc->open, sc->open + 1, (MAX_DEPTH - 1) * sizeof(sc->open[0]));
                    sc->nopen--;
                    sc->lost++;
                }
                int image = sc->bang && sc->bang == o;
                sc->open[sc->nopen++] = (struct bracket){image ? o - 1 : o, image};
                sc->blank = 0;
                break;
            }
            case ']': {
                sc->blank = 0;
                uint64_t at = UINT64_MAX;
                int image = 1; /* a lost bracket: it may have been an image */
                if (sc->nopen) {
                    at = sc->open[sc->nopen - 1].at;
                    image = sc->open[--sc->nopen].image;
                } else if (sc->lost) {
                    sc->lost--;
                } else {
                    break;
                }
                sc->close = CLOSE_BRACKET;
                sc->c_image = image;
                sc->c_start = at != UINT64_MAX && o - at <= MAX_LABEL && at >= sc->floor ? at : o;
                break;
            }
            case '\n':
                if (sc->blank) /* a blank line: the paragraph ends, and every open bracket */
                    sc->nopen = sc->lost = 0;
                sc->blank = 1;
                break;
            case ' ':
            case '\t':
            case '\r':
                break;
            default:
                sc->blank = 0;
            }
        }
        i++;
    }
    sc->pos = jb->base + i;
    if (mode == M_FINAL) {
        sc->close = CLOSE_NONE;
        end_run(sc);
    }
    return 0;
}

/* Where the text held back starts (stream offset): what may still be replaced or blocked. */
static uint64_t
hold_point(const struct job *jb, const struct xscan *sc, uint64_t end, int mode)
{
    const struct xconf *c = jb->c;
    if (mode != M_MORE)
        return end;
    uint64_t r = sc->pos; /* bytes not read yet (a construct being read) */
    int strict_links = jb->links && (c->links == XA_REDACT || c->links == XA_BLOCK ||
                                     c->images == XA_REDACT || c->images == XA_BLOCK);
    int strict_blobs = jb->blobs && (c->blobs == XA_REDACT || c->blobs == XA_BLOCK);
    if (strict_links) {
        if (sc->close)
            r = min64(r, sc->c_start);
        /* every bracket, even with images_only: `[id]: url` counts as an image */
        for (unsigned k = 0; k < sc->nopen; k++)
            if (sc->pos - sc->open[k].at <= MAX_LABEL) {
                r = min64(r, sc->open[k].at);
                break;
            }
        if (sc->bang && sc->bang == sc->pos)
            r = min64(r, sc->pos - 1);
    }
    if (strict_blobs) {
        if (sc->run == RUN_OPEN)
            r = min64(r, sc->run_at);
        else if (sc->run == RUN_BLOB && sc->brk)
            r = min64(r, sc->brk_at);
    }
    /* never split a replacement */
    for (size_t k = 0; k < sc->ned; k++)
        if (sc->ed[k].from < r && sc->ed[k].to > r)
            r = sc->ed[k].from;
    return r < sc->floor ? sc->floor : r;
}

/*
 * Applies the replacements of sc below r to the text (a segment or a chunk; text[0] at base) and
 * drops them; from cut on (UINT64_MAX: none) the text becomes [TRUNCATED]. Returns how many
 * edits were made, or -1.
 */
static int
apply(struct xscan *sc, uint64_t base, uint64_t r, uint64_t cut, struct gw_segment *seg,
      struct gw_chunk *ch)
{
    size_t k = 0;
    int done = 0;
    while (k < sc->ned && sc->ed[k].to <= r)
        k++;
    if (cut != UINT64_MAX) {
        size_t len = seg ? seg->len : ch->len, off = (size_t)(cut - base);
        const char *m = kinds[K_LENGTH].marker;
        if ((seg ? gw_segment_replace(seg, off, len - off, m, strlen(m))
                 : gw_chunk_replace(ch, off, len - off, m, strlen(m))) < 0)
            return -1;
        done++;
        k = sc->ned;
    }
    for (size_t e = k; e-- > 0;) {
        const struct edit *d = &sc->ed[e];
        uint64_t from = d->from < base ? base : d->from, to = d->to > cut ? cut : d->to;
        if (from >= to)
            continue;
        const char *m = d->rep == REP_DELETE ? "" : kinds[d->rep].marker;
        size_t off = (size_t)(from - base), len = (size_t)(to - from);
        if ((seg ? gw_segment_replace(seg, off, len, m, strlen(m))
                 : gw_chunk_replace(ch, off, len, m, strlen(m))) < 0)
            return -1;
        done++;
    }
    if (k) {
        memmove(sc->ed, sc->ed + k, (sc->ned - k) * sizeof(*sc->ed));
        sc->ned -= k;
    }
    return done;
}

/* The truncation point for a limit reached at stream offset lpos with text held from r: moved
 * back to the start of a replacement it would split, and of a UTF-8 character. */
static uint64_t
cut_point(const struct xscan *sc, const char *t, uint64_t base, uint64_t lpos, uint64_t r)
{
    uint64_t cut = min64(lpos, r);
    for (size_t k = 0; k < sc->ned; k++)
        if (sc->ed[k].from < cut && sc->ed[k].to > cut)
            cut = sc->ed[k].from;
    if (cut < sc->floor)
        cut = sc->floor;
    return char_start(t, base, sc->floor, cut);
}

static void
scan_init(struct xscan *sc)
{
    memset(sc, 0, sizeof(*sc));
    sc->blank = 1;
}

/* ---- the length baseline ---- */

/* The limit for a response on route (0: the baseline is not ready, or no route). */
static uint64_t
baseline_limit(struct xconf *c, int route)
{
    uint64_t limit = 0;
    if (route < 0)
        return 0;
    pthread_mutex_lock(&c->mu);
    if ((size_t)route < c->nbase && c->base[route].n >= c->min_samples) {
        double l = c->factor * c->base[route].mean;
        limit = l >= 1e18 ? (uint64_t)1e18 : (uint64_t)l;
        if (limit < c->min_bytes)
            limit = c->min_bytes;
        if (limit == 0)
            limit = 1; /* 0 means "not active" */
    }
    pthread_mutex_unlock(&c->mu);
    return limit;
}

static void
baseline_feed(struct xconf *c, int route, uint64_t bytes)
{
    if (route < 0)
        return;
    pthread_mutex_lock(&c->mu);
    if ((size_t)route >= c->nbase) {
        size_t n = (size_t)route + 8;
        struct baseline *v = realloc(c->base, n * sizeof(*v));
        if (!v) {
            pthread_mutex_unlock(&c->mu);
            return; /* no memory: this sample is lost, nothing else */
        }
        memset(v + c->nbase, 0, (n - c->nbase) * sizeof(*v));
        c->base = v;
        c->nbase = n;
    }
    struct baseline *b = &c->base[route];
    b->n++;
    double w = b->n <= c->min_samples ? 1.0 / (double)b->n : 1.0 / (double)c->min_samples;
    b->mean += w * ((double)bytes - b->mean);
    pthread_mutex_unlock(&c->mu);
}

static void
length_init(struct gw_tx *tx, struct xconf *c, struct xctx *x)
{
    if (x->length_init)
        return;
    x->length_init = 1;
    struct gw_identity id;
    gw_tx_identity(tx, &id);
    x->route = id.route_index;
    x->limit = c->length != XA_OFF ? baseline_limit(c, x->route) : 0;
}

/* The response is complete: it joins the baseline (capped at the limit when it passed it). */
static void
length_done(struct xconf *c, struct xctx *x)
{
    if (x->fed || x->blocked || x->total == 0 || c->length == XA_OFF || !x->length_init)
        return;
    x->fed = 1;
    baseline_feed(c, x->route, x->over ? x->limit : x->total);
}

/* ---- whole responses ---- */

static enum gw_verdict
on_resp_body(struct gw_tx *tx, void *conf, void *ctx, struct gw_segments *segs)
{
    struct xconf *c = conf;
    struct xctx *x = ctx;
    enum gw_verdict v = GW_PASS;
    if (!x)
        return GW_ERROR;
    length_init(tx, c, x);
    /* the length first: where the limit falls */
    uint64_t total = 0, lpos = UINT64_MAX;
    size_t lseg = SIZE_MAX;
    for (size_t i = 0; i < segs->n; i++) {
        if (segs->v[i].role != GW_ROLE_ASSISTANT)
            continue;
        uint64_t len = segs->v[i].len;
        if (x->limit && lseg == SIZE_MAX && total + len > x->limit) {
            lseg = i;
            lpos = x->limit - total;
        }
        total += len;
    }
    x->total = total;
    if (lseg != SIZE_MAX) {
        x->over = 1;
        struct job jb = {tx, c, GW_ROLE_ASSISTANT, segs->v[lseg].msg_index, 0, 0, 0, 0};
        emit(&jb, K_LENGTH, c->length, lpos, lpos);
        if (c->length == XA_BLOCK) {
            block(&jb, K_LENGTH);
            x->blocked = 1;
            return GW_BLOCK;
        }
        if (c->length != XA_REDACT)
            lseg = SIZE_MAX;
    }

    for (size_t i = 0; i < segs->n; i++) {
        struct gw_segment *s = &segs->v[i];
        int assistant = s->role == GW_ROLE_ASSISTANT;
        if (assistant && lseg != SIZE_MAX && i > lseg) {
            if (s->len && gw_segment_replace(s, 0, s->len, "", 0) < 0)
                return GW_ERROR;
            v = GW_REDACT;
            continue;
        }
        struct job jb = {tx,
                         c,
                         s->role,
                         s->msg_index,
                         0,
                         0,
                         assistant && (c->links != XA_OFF || c->images != XA_OFF),
                         (assistant || s->role == GW_ROLE_TOOL_CALL_ARGS) && c->blobs != XA_OFF};
        if (!jb.links && !jb.blobs && i != lseg)
            continue;
        struct xscan sc;
        scan_init(&sc);
        int rc = jb.links || jb.blobs ? scan(&jb, &sc, s->text, s->len, M_FINAL) : 0;
        if (rc == 1) {
            free(sc.ed);
            x->blocked = 1;
            return GW_BLOCK;
        }
        uint64_t cut = UINT64_MAX;
        if (rc == 0 && i == lseg)
            cut = cut_point(&sc, s->text, 0, lpos, s->len);
        int done = rc < 0 ? -1 : apply(&sc, 0, s->len, cut, s, NULL);
        free(sc.ed);
        if (done < 0)
            return GW_ERROR;
        if (done > 0)
            v = GW_REDACT;
    }
    length_done(c, x);
    return v;
}

/* ---- streamed responses ---- */

static struct xstream *
get_stream(struct xctx *x, const struct gw_chunk *ch)
{
    int added;
    struct xstream *s = gw_streams_get(&x->streams, sizeof(*s), ch->stream_id, &added);
    if (!s || !added)
        return s;
    s->role = ch->role;
    scan_init(&s->sc);
    if (ch->role == GW_ROLE_ASSISTANT) {
        x->seen = 1;
        x->open++;
    }
    return s;
}

static enum gw_verdict
on_resp_chunk(struct gw_tx *tx, void *conf, void *ctx, struct gw_chunk *ch)
{
    struct xconf *c = conf;
    struct xctx *x = ctx;
    int assistant = ch->role == GW_ROLE_ASSISTANT;
    struct job jb = {tx,
                     c,
                     ch->role,
                     ch->choice,
                     0,
                     ch->offset,
                     assistant && (c->links != XA_OFF || c->images != XA_OFF),
                     (assistant || ch->role == GW_ROLE_TOOL_CALL_ARGS) && c->blobs != XA_OFF};
    int length = assistant && c->length != XA_OFF;
    if (!jb.links && !jb.blobs && !length)
        return GW_PASS;
    struct xstream *s = get_stream(x, ch);
    if (!s || s->closed || s->recv - s->base > ch->len)
        return GW_ERROR; /* no memory, text after the end, or not what we held */
    uint64_t end = s->base + ch->len, before = s->recv;
    s->recv = end;
    if (ch->final) {
        s->closed = 1;
        if (assistant)
            x->open--;
    }
    jb.base = s->base;

    /* the length: the limit may fall in this chunk's new text */
    uint64_t lpos = UINT64_MAX;
    if (length) {
        length_init(tx, c, x);
        uint64_t fresh = end - before;
        if (x->limit && !x->over && x->total + fresh > x->limit) {
            x->over = 1;
            lpos = before + (x->limit - x->total);
            emit(&jb, K_LENGTH, c->length, lpos, lpos);
            if (c->length == XA_BLOCK) {
                block(&jb, K_LENGTH);
                x->blocked = 1;
                return GW_BLOCK;
            }
            if (c->length != XA_REDACT)
                lpos = UINT64_MAX;
        }
        x->total += fresh;
    }
    if (assistant && x->truncated) {
        ch->hold = 0;
        s->base = s->sc.pos = s->sc.floor = end;
        if (ch->len == 0)
            return GW_PASS;
        return gw_chunk_replace(ch, 0, ch->len, "", 0) < 0 ? GW_ERROR : GW_REDACT;
    }

    int mode = ch->final ? M_FINAL : ch->flush ? M_FLUSH : M_MORE;
    if (jb.links || jb.blobs) {
        int rc = scan(&jb, &s->sc, ch->text, ch->len, mode);
        if (rc == 1) {
            x->blocked = 1;
            return GW_BLOCK;
        }
        if (rc < 0)
            return GW_ERROR;
    } else {
        s->sc.pos = end;
    }
    uint64_t r = hold_point(&jb, &s->sc, end, mode), cut = UINT64_MAX;
    if (lpos != UINT64_MAX) {
        cut = cut_point(&s->sc, ch->text, s->base, lpos, r);
        x->truncated = 1;
        r = end;
    }
    ch->hold = (size_t)(end - r);
    int done = apply(&s->sc, s->base, r, cut, NULL, ch);
    if (done < 0)
        return GW_ERROR;
    if (cut != UINT64_MAX) {
        s->sc.ned = 0;
        s->sc.pos = end;
    }
    s->base = s->sc.floor = r;
    return done > 0 ? GW_REDACT : GW_PASS;
}

static void
on_tx_end(struct gw_tx *tx, void *conf, void *ctx)
{
    (void)tx;
    struct xconf *c = conf;
    struct xctx *x = ctx;
    if (x->seen && x->open == 0)
        length_done(c, x);
    struct xstream *v = x->streams.v;
    for (size_t i = 0; i < x->streams.n; i++)
        free(v[i].sc.ed);
    free(v);
    memset(x, 0, sizeof(*x));
}

/* ---- configuration ---- */

static void
conf_free(void *conf)
{
    struct xconf *c = conf;
    if (!c)
        return;
    gw_egress_policy_free(c->own);
    pthread_mutex_destroy(&c->mu);
    free(c->base);
    free(c);
}

/* An action (block, redact, event, off / false) at key (or section.key). */
static int
get_action(struct gw_cfg_ctx *cc, const json_t *v, const char *section, const char *key,
           enum xact *out)
{
    const char *s = json_is_string(v) ? json_string_value(v) : json_is_false(v) ? "off" : "";
    for (int a = 0; a < 4; a++)
        if (strcmp(s, act_names[a]) == 0) {
            *out = (enum xact)a;
            return 0;
        }
    return gw_cfg_error(cc,
                        section ? gw_cfg_node_at(cc, section, key) : gw_cfg_node_at(cc, key, NULL),
                        "exfil: '%s%s%s' must be block, redact, event or off",
                        section ? section : "", section ? "." : "", key);
}

/* An integer section.key in [lo, hi]. */
static int
get_uint(struct gw_cfg_ctx *cc, const json_t *o, const char *section, const char *key, uint64_t lo,
         uint64_t hi, uint64_t *out)
{
    const json_t *v = json_object_get(o, key);
    if (!v)
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || (uint64_t)json_integer_value(v) < lo ||
        (uint64_t)json_integer_value(v) > hi)
        return gw_cfg_error(
            cc, section ? gw_cfg_node_at(cc, section, key) : gw_cfg_node_at(cc, key, NULL),
            "exfil: '%s%s%s' must be an integer from %llu to %llu", section ? section : "",
            section ? "." : "", key, (unsigned long long)lo, (unsigned long long)hi);
    *out = (uint64_t)json_integer_value(v);
    return 0;
}

/* `name: ACTION` or `name: {action: ACTION, ...more keys}`; *o is the mapping (or NULL). */
static int
get_section(struct gw_cfg_ctx *cc, const json_t *in, const char *name, const char *const *known,
            enum xact *act, const json_t **o)
{
    const json_t *v = json_object_get(in, name);
    *o = NULL;
    if (!v)
        return 0;
    if (!json_is_object(v))
        return get_action(cc, v, NULL, name, act);
    *o = v;
    if (gw_cfg_unknown_keys(cc, v, known, name, "exfil: ") < 0)
        return -1;
    const json_t *a = json_object_get(v, "action");
    return a ? get_action(cc, a, name, "action", act) : 0;
}

static int
get_hosts(struct gw_cfg_ctx *cc, const json_t *in, struct xconf *c)
{
    const json_t *a = json_object_get(in, "allow_hosts"), *e;
    const struct gw_cnode *list = gw_cnode_get(cc->node, "allow_hosts");
    size_t i;
    if (!a)
        return 0;
    if (!json_is_array(a))
        return gw_cfg_error(cc, list, "exfil: 'allow_hosts' must be a list of host names");
    json_array_foreach(a, i, e)
    {
        const struct gw_cnode *at = gw_cnode_item(list, i);
        char err[160];
        if (!json_is_string(e))
            return gw_cfg_error(cc, at, "exfil: allow_hosts[%zu] must be a host name", i);
        const char *h = json_string_value(e);
        if (gw_egress_policy_allow(c->own, h, json_string_length(e), err, sizeof(err)) < 0)
            return gw_cfg_error(cc, at, "exfil: allow_hosts[%zu] '%s': %s", i, h, err);
    }
    return 0;
}

static int
conf_new(struct gw_cfg_ctx *cc, const json_t *in, void **out)
{
    static const char *const known[] = {"allow_hosts", "links",  "images_only", "max_path_segment",
                                        "blobs",       "length", NULL};
    static const char *const blob_keys[] = {"action", "min_len", NULL};
    static const char *const length_keys[] = {"action", "factor", "min_samples", "min_bytes", NULL};
    *out = NULL;
    if (!json_is_object(in))
        return gw_cfg_error(cc, NULL, "exfil: expected a mapping");
    if (gw_cfg_unknown_keys(cc, in, known, NULL, "exfil: ") < 0)
        return -1;
    struct xconf *c = calloc(1, sizeof(*c));
    if (!c)
        return gw_cfg_error(cc, NULL, "exfil: out of memory");
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return gw_cfg_error(cc, NULL, "exfil: out of memory");
    }
    c->links = c->blobs = c->length = XA_EVENT;
    c->max_segment = DEFAULT_SEGMENT;
    c->min_len = DEFAULT_MIN_LEN;
    c->factor = 4;
    c->min_samples = 20;
    c->min_bytes = 2048;
    if (!(c->allow = c->own = gw_egress_policy_new())) {
        gw_cfg_error(cc, NULL, "exfil: out of memory");
        goto fail;
    }
    if (get_hosts(cc, in, c) < 0)
        goto fail;
    const json_t *v = json_object_get(in, "links");
    if (v && get_action(cc, v, NULL, "links", &c->links) < 0)
        goto fail;
    v = json_object_get(in, "images_only");
    if (v && !json_is_boolean(v)) {
        gw_cfg_error(cc, gw_cfg_node_at(cc, "images_only", NULL),
                     "exfil: 'images_only' must be true or false");
        goto fail;
    }
    c->images_only = json_is_true(v);
    c->images = c->links;
    if (c->images_only)
        c->links = XA_OFF;
    uint64_t u = c->max_segment;
    if (get_uint(cc, in, NULL, "max_path_segment", 0, MAX_DEST, &u) < 0)
        goto fail;
    c->max_segment = (size_t)u;

    const json_t *o;
    if (get_section(cc, in, "blobs", blob_keys, &c->blobs, &o) < 0)
        goto fail;
    u = c->min_len;
    if (o && get_uint(cc, o, "blobs", "min_len", 16, 65536, &u) < 0)
        goto fail;
    c->min_len = (size_t)u;

    if (get_section(cc, in, "length", length_keys, &c->length, &o) < 0)
        goto fail;
    if (o && (get_uint(cc, o, "length", "min_samples", 1, 1000000, &c->min_samples) < 0 ||
              get_uint(cc, o, "length", "min_bytes", 0, 1u << 30, &c->min_bytes) < 0))
        goto fail;
    v = o ? json_object_get(o, "factor") : NULL;
    if (v) {
        if (!json_is_number(v) || json_number_value(v) < 1 || json_number_value(v) > 1000) {
            gw_cfg_error(cc, gw_cfg_node_at(cc, "length", "factor"),
                         "exfil: 'length.factor' must be a number from 1 to 1000");
            goto fail;
        }
        c->factor = json_number_value(v);
    }
    *out = c;
    return 0;
fail:
    conf_free(c);
    return -1;
}

void *
gw_exfil_md_new(const struct gw_egress_policy *p, enum gw_md_action images, enum gw_md_action links)
{
    struct xconf *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    if (pthread_mutex_init(&c->mu, NULL) != 0) {
        free(c);
        return NULL;
    }
    c->allow = p;
    c->egress = 1;
    c->images = (enum xact)images;
    c->links = (enum xact)links;
    c->blobs = c->length = XA_OFF;
    c->max_segment = DEFAULT_SEGMENT;
    c->min_len = DEFAULT_MIN_LEN;
    return c;
}

void
gw_exfil_md_free(void *conf)
{
    conf_free(conf);
}

static unsigned
hooks(const void *conf)
{
    const struct xconf *c = conf;
    if (c->links == XA_OFF && c->images == XA_OFF && c->blobs == XA_OFF && c->length == XA_OFF)
        return 0;
    return GW_HOOK_RESP_BODY | GW_HOOK_RESP_CHUNK;
}

static void
describe(const void *conf, char *buf, size_t cap)
{
    const struct xconf *c = conf;
    snprintf(buf, cap,
             "%zu allowed host pattern(s), links %s%s (path segments over %zu bytes carry data), "
             "blobs %s (min_len %zu), length %s (factor %g, min_samples %llu, min_bytes %llu)",
             gw_egress_policy_count(c->allow), act_names[c->images],
             c->images_only ? " (images only)" : "", c->max_segment, act_names[c->blobs],
             c->min_len, act_names[c->length], c->factor, (unsigned long long)c->min_samples,
             (unsigned long long)c->min_bytes);
}

const struct gw_filter_ops gw_flt_exfil = {
    .name = "exfil",
    .ctx_size = sizeof(struct xctx),
    .conf_new = conf_new,
    .conf_free = conf_free,
    .on_resp_body = on_resp_body,
    .on_resp_chunk = on_resp_chunk,
    .on_tx_end = on_tx_end,
    .hooks = hooks,
    .describe = describe,
};
