/*
 * Prompt-injection rule packs (config/rules/injection.yaml): loading, compiling and scoring. The
 * `injection` filter (flt_injection.c) is the glue to the chain; this module knows nothing of
 * exchanges, so unit tests, the bench and the fuzz target drive it directly.
 *
 * A pack is data: categories (name, severity, a human label for block messages) and rules (id,
 * pattern, category, weight, where: direct / indirect / both / system, languages). Every rule is
 * matched against the text after gw_normalize(GW_NORM_ALL): lowercase, Latin diacritics folded
 * (patterns are folded the same way when loaded, so they may keep their accents), white space runs
 * collapsed to one space, split letters joined, leetspeak undone, homoglyphs and full-width forms
 * folded. Patterns are therefore written in lowercase, with ' ' (or \s) for any white space, and
 * with the letters of leetspeak ("base6a" is what "base64" becomes: digits next to letters are read
 * as letters; write such words as (base ?6[4a]) or avoid them). Patterns are byte-wise (no
 * HS_FLAG_UTF8): non-ASCII text is matched as literal UTF-8 sequences, so alternatives of non-ASCII
 * characters are written (a|b), never as a bracket class [ab] (the loader rejects non-ASCII bytes
 * inside a class); '.' matches any byte.
 *
 * A pattern is compiled in pieces when it has top-level gaps (`A.{0,60}B|B.{0,60}A`: rxsplit.h):
 * each piece is its own expression, and a branch matches when its pieces end in order with the
 * gaps between their ends (the gap's bounds widened by the piece's own width range, since
 * Hyperscan reports ends only). That reads a little wider than the regex where a piece's length
 * varies, and turns minutes of compile time into seconds.
 *
 * Scoring of one text against one side (direct: what a user typed; indirect: tool results,
 * retrieved documents, tool definitions): the rules that apply to that side and matched, each
 * counted once; per category the heaviest weight counts whole and every further rule of the same
 * category counts repeat_factor of its weight (a second phrasing of the same trick adds little);
 * the text's score is the sum over categories, so independent techniques (an override plus a
 * persona plus an exfiltration link) add up. Weights are calibrated so that 1.0 is "block on its
 * own" and typical thresholds are event 0.5, block 1.0.
 *
 * A rule may name a built-in detector instead of a pattern (`detector: tabular-request`, see
 * filters/tabular.h; `stray-task`, `stray-task-body`, filters/stray.h; `scripted-open`,
 * `scripted-repeat`, filters/scripted.h): a test of the text's form that a
 * regular expression over normalised text (white space folded, lines gone) cannot make. It is
 * scored like any rule; the pack keeps its category, weight and side, so it is tuned and switched
 * off like the others.
 */
#ifndef GW_INJECTION_PACK_H
#define GW_INJECTION_PACK_H

#include <stddef.h>
#include <stdint.h>

/* Where a rule applies. System: the application's own system and developer messages, never
 * scored as attacks; a rule there says what the application guards (flt_injection's `guard`). */
enum { GW_INJ_DIRECT = 1u << 0, GW_INJ_INDIRECT = 1u << 1, GW_INJ_SYSTEM = 1u << 2 };
/* the pack's databases (see struct gw_inj_pack); the _GATED ones hold the rules behind the
 * language gate */
enum {
    GW_INJ_DB_BOTH,
    GW_INJ_DB_DIRECT,
    GW_INJ_DB_INDIRECT,
    GW_INJ_DB_SYSTEM,
    GW_INJ_DB_BOTH_GATED,
    GW_INJ_DB_DIRECT_GATED,
    GW_INJ_DB_INDIRECT_GATED,
    GW_INJ_NDB
};
/* a side's gated database is its ungated one + GW_INJ_DB_BOTH_GATED */
_Static_assert(GW_INJ_DB_DIRECT_GATED == GW_INJ_DB_DIRECT + GW_INJ_DB_BOTH_GATED &&
                   GW_INJ_DB_INDIRECT_GATED == GW_INJ_DB_INDIRECT + GW_INJ_DB_BOTH_GATED,
               "gated databases follow the ungated ones in order");
#define GW_INJ_MAX_CATS 64

struct gw_inj_category {
    char *name;  /* [a-z0-9_]+ */
    char *label; /* for block messages: "instruction override" */
    int severity;
    double quoted; /* `quoted`: the weight factor, in a document, of the category's rules whose
                    * match lies inside a quotation the text mentions in passing (filters/pasted.h,
                    * gw_quoted_mentions; 1: none) */
};

enum gw_inj_detector {
    GW_INJ_DET_NONE = 0,
    GW_INJ_DET_TABULAR_REQUEST, /* gw_tabular_request: a request line inside tabular data */
    GW_INJ_DET_STRAY_TASK,      /* gw_stray_task: a task before or after a message */
    GW_INJ_DET_STRAY_TASK_BODY, /* gw_stray_task: a task inside a message's body */
    GW_INJ_DET_SCRIPTED_OPEN,   /* gw_scripted_answers: a sample dialogue left open */
    GW_INJ_DET_SCRIPTED_REPEAT, /* gw_scripted_answers: sample answers repeating a link */
};

struct gw_inj_rule {
    char *id, *pattern;     /* pattern NULL for a detector rule */
    unsigned detector;      /* enum gw_inj_detector */
    unsigned category;      /* index into the pack's categories */
    double weight;          /* on direct (and system) text */
    double weight_indirect; /* on indirect text (the same unless the pack gives one per side) */
    unsigned where;         /* GW_INJ_* bits */
    char langs[64];         /* "en", "de fr", ... */
    unsigned gated;         /* behind the pack's language gate: its langs lack every ungated one */
    size_t min_len;         /* shortest match in bytes of normalised text (0 for a detector) */
    int line;               /* in the pack file */
};

/* One expression of a database: a whole rule or one of its branches (a match is a hit of the
 * rule), or a piece of a branch split at its gaps (filters/rxsplit.h: every end of a piece is kept
 * until the database's scan ends, then the branch's chain is checked). */
struct gw_inj_piece {
    unsigned rule;
    unsigned chained;    /* 0: whole, 1: a piece of one of the rule's chains */
    uint32_t minw, maxw; /* the piece's shortest and longest match in bytes */
    uint32_t reach;      /* a chain's first piece: how far after its end the chain's last piece
                            may end (0: not a first piece) */
};

/* A branch split at its gaps: its pieces in order, each ending lo..hi bytes after the previous
 * one ends (the gap's bounds plus the piece's own width; 0, 0 for the first). */
struct gw_inj_step {
    unsigned piece;
    uint32_t lo, hi;
};

struct gw_inj_chain {
    unsigned rule, first, n; /* steps[first .. first + n) */
};

struct gw_inj_db {
    struct gw_scan_db *db; /* expression k is pieces[k] (k < nmain); the `both` database's
                              markers follow */
    /* the chains' later pieces (pieces[nmain ..]): expression k is pieces[nmain + k], scanned
     * only near the ends of the chains' first pieces (NULL: none) */
    struct gw_scan_db *tails;
    struct gw_inj_piece *pieces;
    size_t npieces, nmain;
    uint32_t back; /* the longest later piece, + 1: how far before a first piece's end to look */
    struct gw_inj_chain *chains;
    size_t nchains;
    struct gw_inj_step *steps;
    size_t nsteps;
};

struct gw_inj_pack {
    char *path; /* as loaded, for messages */
    struct gw_inj_category *cats;
    size_t ncats;
    struct gw_inj_rule *rules;
    size_t nrules;
    double repeat_factor;
    /* Hyperscan databases by the rules' `where` (GW_INJ_DB_*): the `both` rules (then the
     * encoding markers), the direct-only, the indirect-only and the `where: system` rules. A
     * user's text is matched against the first two, a document or tool result against the first
     * and the third, a system message against the fourth: a prompt never pays for the rules only
     * documents need, and no rule is compiled twice. The rules behind the language gate
     * (`language_gate`: none of their languages is one the gate leaves open, English) are in
     * the _GATED databases of their side, matched only in windows the gate opens: a letter
     * outside ASCII in the original text, a word of the gate's pattern, or a short window. */
    struct gw_inj_db db[GW_INJ_NDB];
    struct gw_scan_db *gate; /* the gate's words (NULL: no gate, every database always) */
    size_t gate_short;       /* windows of fewer bytes are always opened */
    unsigned detectors;      /* where-bits of the detector rules (0: none; the scan skips them) */
    int quoted;    /* a category has `quoted` < 1 (else documents' quotes are not sought) */
    unsigned refs; /* owned by the pack cache (gw_inj_pack_get / gw_inj_pack_put) */
};

/*
 * Loads and compiles the pack in file path (YAML). Returns the pack, or NULL with
 * "path:line:col: message" in err. Slow (Hyperscan compile): control thread only.
 */
struct gw_inj_pack *gw_inj_pack_load(const char *path, char *err, size_t errlen);

/* The same from text already in memory (name is used in messages). */
struct gw_inj_pack *gw_inj_pack_parse(const char *name, const char *text, size_t len, char *err,
                                      size_t errlen);

void gw_inj_pack_free(struct gw_inj_pack *p);

/*
 * A shared, reference-counted pack for path: a second filter instance (another route's
 * thresholds) or a reload of an unchanged file reuses the compiled pack instead of compiling it
 * again. Keyed by path, device, inode, size and modification time. gw_inj_pack_put drops a
 * reference; a pack nobody uses stays cached until a newer version of the same file is compiled
 * (one compiled copy per file at most, besides those still in use). Thread-safe.
 */
struct gw_inj_pack *gw_inj_pack_get(const char *path, char *err, size_t errlen);
void gw_inj_pack_put(struct gw_inj_pack *p);

/* Index of a category by name, -1 when absent. */
int gw_inj_category_find(const struct gw_inj_pack *p, const char *name);

#define GW_INJ_MAX_HITS 32
/* Quotations of a document looked at for the categories' `quoted` factor (later ones count whole).
 */
#define GW_INJ_MAX_QUOTES 32
/* Texts longer than GW_INJ_WINDOW are scanned in windows that overlap by GW_INJ_OVERLAP bytes:
 * memory stays bounded, and a match shorter than the overlap is always inside one window (a
 * longer one that crosses a window boundary can be missed). */
#define GW_INJ_WINDOW (32u * 1024)
#define GW_INJ_OVERLAP (2u * 1024)

struct gw_inj_hit {
    unsigned rule;
    uint32_t from, to; /* the certain part of the match, in the original text; for a match in
                        * an encoded payload, the payload's encoded run */
    unsigned enc;      /* enum gw_enc (filters/decode.h): where the match was, GW_ENC_NONE = 0 for
                        * the text itself */
};

struct gw_inj_result {
    double score;
    unsigned ncats;                 /* categories that contributed */
    unsigned top;                   /* category with the largest contribution (valid when nhits) */
    uint64_t cats;                  /* bit per category index < 64 that contributed */
    double by_cat[GW_INJ_MAX_CATS]; /* each category's contribution to score */
    struct gw_inj_hit hits[GW_INJ_MAX_HITS];
    size_t nhits; /* rules that matched and apply (at most GW_INJ_MAX_HITS) */
};

/*
 * Normalises (into the calling thread's reusable buffers) and scans len bytes of text for side
 * (GW_INJ_DIRECT, GW_INJ_INDIRECT or GW_INJ_SYSTEM); rules in skip (a bitmap over rule indexes, may
 * be NULL) are ignored. Fills *r. 0, or -1 when out of memory or on a Hyperscan error (*r then
 * holds nothing). Worker-safe (per-thread scratch).
 */
int gw_inj_scan(const struct gw_inj_pack *p, const char *text, size_t len, unsigned side,
                const uint8_t *skip, struct gw_inj_result *r);

/* The same, also feeding the normalised text to a classifier (filters/classifier.h) begun by the
 * caller, so the text is normalised once for both; every normalised byte is fed once (window
 * overlaps are not fed again). */
struct gw_clf_acc;
int gw_inj_scan_clf(const struct gw_inj_pack *p, const char *text, size_t len, unsigned side,
                    const uint8_t *skip, struct gw_inj_result *r, struct gw_clf_acc *clf);

/*
 * The secret a system prompt declares next to a guard rule's match ("The password is 'Sunshine'",
 * "the staff discount code is NW-4471"): the first quoted text ('', "", ``, curly and angle
 * quotes, corner brackets) of GW_INJ_VALUE_MIN..GW_INJ_VALUE_MAX bytes, or the first token of 4
 * or more ASCII letters, digits of any script (gw_native_digit: "২-৫-৯-১"), '-' and '_' that
 * looks like a code (a digit, or a capital after its first letter), starting within 40 bytes from
 * offset from of t (len bytes) and before the sentence ends -- or the token or quote that from lies
 * in (a match that reads the value's first bytes ends inside it). 1 with the value's span [*vs,
 * *ve) in t, else 0.
 */
#define GW_INJ_VALUE_MIN 3
#define GW_INJ_VALUE_MAX 64
int gw_inj_declared_value(const char *t, size_t len, size_t from, size_t *vs, size_t *ve);

/* The last value token (as gw_inj_declared_value reads one, quotes aside) that lies in the bytes
 * [lo, hi) of t: what a prohibition that refers back ("keep that number to yourself") guards. 1
 * with its span [*vs, *ve), else 0. */
int gw_inj_value_before(const char *t, size_t len, size_t lo, size_t hi, size_t *vs, size_t *ve);

#endif
