/*
 * The injection classifier (see classifier.h): model files, feature extraction, scoring.
 *
 * Extraction and scoring are one always-inlined loop (run) compiled twice: with weights (the
 * filter's hot path: a table look-up and an add per feature, no allocation) and with callbacks
 * (the trainer), so training and serving can never disagree about what a feature is.
 */
#include "filters/classifier.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "filters/fnv.h"
#include "filters/hexdigit.h"
#include "filters/normalize.h"
#include "filters/tslot.h"
#include "gateway/io.h"
#include "providers/jsonscan.h"

#define MAGIC "PCMODEL\n"
#define HDR_WORDS 9 /* format, features, nbits, cmin, cmax, words, block, meta_len, lexicon_len */
#define MAX_META (1u << 20)
#define MAX_LEXICON (1u << 20)

/* ---- hashing ---- */

static inline uint64_t
mix(uint64_t v)
{
    v ^= v >> 31;
    v *= 0x9E3779B97F4A7C15ull;
    v ^= v >> 29;
    v *= 0xD6E8FEB86659FD93ull;
    v ^= v >> 32;
    return v;
}

enum {
    SALT_CHAR = 0x100,
    SALT_WORD = 0x200,
    SALT_BIGRAM = 0x300,
    SALT_PUNCT = 0x400,
    SALT_IMP = 0x500,
    SALT_ROLE = 0x600,
    SALT_LEN = 0x700,
};

static inline uint32_t
idx_of(const struct gw_clf_params *p, uint64_t h)
{
    return (uint32_t)(mix(h) >> (64 - p->nbits));
}

/* Character n-grams are the bulk of the features: one multiply (Fibonacci hashing; the top bits
 * depend on every input bit) instead of the full mix. */
static inline uint32_t
idx_fast(const struct gw_clf_params *p, uint64_t v)
{
    return (uint32_t)((v * 0x9E3779B97F4A7C15ull) >> (64 - p->nbits));
}

static inline uint64_t
load8(const char *t, size_t avail)
{
    uint64_t x = 0;
    if (avail >= 8)
        memcpy(&x, t, 8);
    else
        for (size_t i = 0; i < avail; i++)
            x |= (uint64_t)(unsigned char)t[i] << (8 * i);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    if (avail >= 8)
        x = __builtin_bswap64(x);
#endif
    return x;
}

static inline uint64_t
fnv(const char *s, size_t n)
{
    return gw_fnv1a(GW_FNV_OFFSET, s, n);
}

/* ---- word classes ---- */

struct word {
    const char *s;
    size_t n;
};
/* clang-format off */
#define W(s) {s, sizeof(s) - 1}
/* clang-format on */

/* A word list as a table of its words' FNV-1a hashes: the hash of the word at hand is there
 * already (its word feature's), so a look-up is a probe or two and a compare on a hit (a scan of
 * the list with memcmp cost ~5 % of the classifier's time on varied text). Filled once, with the
 * repeat table's key (seen_init). */
#define WSET_SLOTS 128

struct wset {
    uint64_t h[WSET_SLOTS];
    const struct word *w[WSET_SLOTS];
};

static inline uint32_t
wset_slot(uint64_t h)
{
    return (uint32_t)((h * 0x9E3779B97F4A7C15ull) >> 57);
}

static void
wset_fill(struct wset *set, const struct word *list)
{
    for (size_t i = 0; list[i].s; i++) {
        uint64_t h = fnv(list[i].s, list[i].n);
        uint32_t k = wset_slot(h);
        while (set->w[k])
            k = (k + 1) & (WSET_SLOTS - 1);
        set->h[k] = h;
        set->w[k] = &list[i];
    }
}

/* Whether the word w (n bytes, FNV-1a hash h) is in the set. */
static inline int
wset_has(const struct wset *set, uint64_t h, const char *w, size_t n)
{
    for (uint32_t k = wset_slot(h); set->w[k]; k = (k + 1) & (WSET_SLOTS - 1))
        if (set->h[k] == h && set->w[k]->n == n && memcmp(set->w[k]->s, w, n) == 0)
            return 1;
    return 0;
}

/* Sentence openers that make a sentence an instruction (English: the language of most
 * injections and of the public training data; other languages are left to the n-grams). */
static const struct word imperative[] = {
    W("ignore"),   W("forget"),    W("disregard"), W("pretend"),   W("act"),     W("imagine"),
    W("write"),    W("tell"),      W("print"),     W("repeat"),    W("output"),  W("reveal"),
    W("show"),     W("say"),       W("respond"),   W("answer"),    W("reply"),   W("give"),
    W("list"),     W("do"),        W("dont"),      W("never"),     W("always"),  W("stop"),
    W("start"),    W("translate"), W("summarize"), W("summarise"), W("include"), W("send"),
    W("append"),   W("insert"),    W("call"),      W("visit"),     W("click"),   W("describe"),
    W("explain"),  W("provide"),   W("generate"),  W("create"),    W("make"),    W("remember"),
    W("now"),      W("from"),      W("you"),       W("please"),    W("begin"),   W("continue"),
    W("override"), W("bypass"),    W("execute"),   W("run"),       W("follow"),  W("use"),
    W("add"),      W("replace"),   W("delete"),    W("recommend"), W("rate"),    W("type"),
    W("return"),   {NULL, 0}};

static const struct word role_words[] = {
    W("system"),      W("assistant"),    W("user"),   W("human"),     W("ai"),
    W("instruction"), W("instructions"), W("admin"),  W("developer"), W("bot"),
    W("model"),       W("context"),      W("inst"),   W("sys"),       W("important"),
    W("note"),        W("end"),          W("prompt"), {NULL, 0}};

static struct wset imperative_set, role_set;
_Static_assert(sizeof(imperative) / sizeof(*imperative) <= WSET_SLOTS / 2 &&
                   sizeof(role_words) / sizeof(*role_words) <= WSET_SLOTS / 2,
               "a word list fills its hash table over half");

static inline int
is_word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c >= 0x80 || (c >= 'A' && c <= 'Z');
}

/* ---- the concept lexicon ---- */

#define LEX_MAXLEN 60      /* bytes of a normalised form (< 64: lengths are a bit mask) */
#define LEX_MAXCONCEPTS 64 /* a block's concepts are a 64-bit set */

enum { LEX_WHOLE = 1, LEX_ANY = 2 };

/*
 * A text is searched for forms at every word start (and inside words of scripts without spaces),
 * so the search must reject a place in a load or two: forms are grouped by their first three
 * bytes (`lens`: a bucket's form lengths, so a place whose bucket is empty costs one load, and a
 * place whose bucket has forms is hashed only as far as its longest, or to the next space when
 * none of them has one, and looked up only at their lengths), two-byte forms ("ai") in a
 * bitmap of their own. A place inside a word (where only `*` forms count) is first looked up in
 * a bitmap of those forms' first two bytes (`any2`): in the words of Cyrillic, Devanagari or
 * Arabic text few places start one, while their buckets hold the words' whole forms. A look-up
 * first tests a bit of `bloom` (one bit per form, 64 KB: stays in cache) before the table (256 KB
 * for the shipped lexicon: a cache miss). The table holds a form's FNV-1a hash with its concept and
 * flags in the low byte (56 bits tell 6,000 forms apart).
 */
#define LEX_BUCKETS 4096
#define LEX_SPACED 1ull /* in lens: a form of the bucket has several words */
#define LEX_BLOOM_BITS 19

struct gw_clf_lex {
    uint64_t *tab; /* open addressing, under a quarter full; 0: empty slot */
    uint32_t mask;
    uint64_t lens[LEX_BUCKETS]; /* bit n: a form of n >= 3 bytes starts with these 3 bytes */
    uint8_t two[1u << 13];      /* bit (b0 << 8 | b1): the two-byte form b0 b1 */
    uint8_t any2[1u << 13];     /* bit (b0 << 8 | b1): a LEX_ANY form starts with b0 b1 */
    uint8_t bloom[1u << (LEX_BLOOM_BITS - 3)]; /* bit (hash >> 45): some form has that hash */
    unsigned nconcepts, nforms;
    char *names[LEX_MAXCONCEPTS];
};

static inline uint64_t
lex_key(uint64_t h)
{
    h &= ~0xFFull;
    return h ? h : 0x100;
}

static inline unsigned
lex_bucket(const char *t)
{
    uint32_t v = (uint32_t)(unsigned char)t[0] | (uint32_t)(unsigned char)t[1] << 8 |
                 (uint32_t)(unsigned char)t[2] << 16;
    return (v * 0x9E3779B1u) >> 20;
}

/* The slot of the form whose key (lex_key) is key: its entry, or the empty slot it would take. */
static inline uint32_t
lex_slot(const struct gw_clf_lex *l, uint64_t key)
{
    uint32_t i = (uint32_t)(key >> 32) & l->mask;
    while (l->tab[i] && (l->tab[i] & ~0xFFull) != key)
        i = (i + 1) & l->mask;
    return i;
}

/* The table entry of the form hashed to h, or 0. */
static inline uint64_t
lex_find(const struct gw_clf_lex *l, uint64_t h)
{
    h = lex_key(h);
    uint32_t b = (uint32_t)(h >> (64 - LEX_BLOOM_BITS));
    if (!(l->bloom[b >> 3] >> (b & 7) & 1))
        return 0;
    return l->tab[lex_slot(l, h)];
}

void
gw_clf_lex_free(struct gw_clf_lex *l)
{
    if (!l)
        return;
    for (unsigned i = 0; i < l->nconcepts; i++)
        free(l->names[i]);
    free(l->tab);
    free(l);
}

unsigned
gw_clf_lex_concepts(const struct gw_clf_lex *l)
{
    return l ? l->nconcepts : 0;
}

int
gw_clf_lex_concept(const struct gw_clf_lex *l, const char *name)
{
    for (unsigned i = 0; l && i < l->nconcepts; i++)
        if (!strcmp(l->names[i], name))
            return (int)i;
    return -1;
}

unsigned
gw_clf_lex_forms(const struct gw_clf_lex *l)
{
    return l ? l->nforms : 0;
}

/* Scripts written without spaces between words: their forms are found inside words too. */
static int
unspaced_script(uint32_t cp)
{
    return (cp >= 0x0E00 && cp <= 0x0EFF) || /* Thai, Lao */
           (cp >= 0x1000 && cp <= 0x109F) || /* Myanmar */
           (cp >= 0x1780 && cp <= 0x17FF) || /* Khmer */
           (cp >= 0x2E80 && cp <= 0x9FFF) || /* CJK radicals, kana, ideographs */
           (cp >= 0xF900 && cp <= 0xFAFF) || /* CJK compatibility ideographs */
           (cp >= 0xFF66 && cp <= 0xFF9F) || /* half-width katakana */
           (cp >= 0x20000 && cp <= 0x3FFFF); /* CJK extensions */
}

/* Adds one form (raw, without its `*` / `$`) of concept c. 0, or -1 with a message in err. */
static int
lex_add(struct gw_clf_lex *l, const char *form, size_t n, unsigned c, unsigned flags, char *err,
        size_t errlen)
{
    char raw[4 * LEX_MAXLEN];
    if (n >= sizeof(raw)) {
        snprintf(err, errlen, "form \"%.*s...\" is too long", 20, form);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        raw[i] = form[i] == '_' ? ' ' : form[i];
    struct gw_norm nm;
    if (gw_normalize(raw, n, GW_NORM_ALL, &nm) < 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    const unsigned char *f = (const unsigned char *)nm.text;
    size_t fl = nm.len;
    int ascii = 1;
    for (size_t i = 0; i < fl; i++)
        ascii &= f[i] < 0x80;
    const char *bad = fl < 2 || (ascii && fl < 4 && !(flags & LEX_WHOLE))
                          ? "is too short (ASCII forms need 4 letters, or `$`)"
                      : fl > LEX_MAXLEN                  ? "is too long"
                      : f[0] == ' ' || f[fl - 1] == ' '  ? "starts or ends with a space"
                      : (flags & LEX_ANY) && f[0] < 0x80 ? "is found inside words (`*`) but starts "
                                                           "with an ASCII letter"
                                                         : NULL;
    if (bad) {
        snprintf(err, errlen, "form \"%.*s\" %s", (int)n, form, bad);
        gw_norm_free(&nm);
        return -1;
    }
    size_t k0 = gw_utf8_seq(f, f + fl);
    if (k0 && unspaced_script(gw_utf8_cp(f, k0)))
        flags |= LEX_ANY;
    uint64_t h = lex_key(gw_fnv1a(GW_FNV_OFFSET, nm.text, fl));
    uint64_t *e = &l->tab[lex_slot(l, h)];
    if (*e && (*e & 0xFF) >> 2 != c) {
        snprintf(err, errlen, "form \"%.*s\" is already listed under concept \"%s\"", (int)n, form,
                 l->names[(*e & 0xFF) >> 2]);
        gw_norm_free(&nm);
        return -1;
    }
    if (flags & LEX_ANY) {
        unsigned k = (unsigned)f[0] << 8 | f[1];
        l->any2[k >> 3] |= (uint8_t)(1u << (k & 7));
    }
    if (*e) {
        /* the same form again (another language): the wider reading wins */
        if (!(flags & LEX_WHOLE))
            *e &= ~(uint64_t)LEX_WHOLE;
        *e |= flags & LEX_ANY;
    } else {
        *e = h | c << 2 | flags;
        l->nforms++;
        if (fl == 2) {
            unsigned k = (unsigned)f[0] << 8 | f[1];
            l->two[k >> 3] |= (uint8_t)(1u << (k & 7));
        } else {
            l->lens[lex_bucket(nm.text)] |= 1ull << fl | (memchr(f, ' ', fl) ? LEX_SPACED : 0);
        }
        uint32_t b = (uint32_t)(h >> (64 - LEX_BLOOM_BITS));
        l->bloom[b >> 3] |= (uint8_t)(1u << (b & 7));
    }
    gw_norm_free(&nm);
    return 0;
}

struct gw_clf_lex *
gw_clf_lex_parse(const char *name, const char *text, size_t len, char *err, size_t errlen)
{
    struct gw_clf_lex *l = calloc(1, sizeof(*l));
    /* slots: four per word of the text (there are fewer forms than words) */
    size_t words = 16;
    for (size_t i = 0; i < len; i++)
        words += text[i] == ' ';
    size_t slots = 64;
    while (slots < 4 * words)
        slots *= 2;
    if (!l || !(l->tab = calloc(slots, sizeof(*l->tab)))) {
        gw_clf_lex_free(l);
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    l->mask = (uint32_t)(slots - 1);
    unsigned line = 0;
    char msg[300];
    for (size_t at = 0; at < len;) {
        const char *s = text + at, *nl = memchr(s, '\n', len - at);
        size_t n = nl ? (size_t)(nl - s) : len - at;
        at += n + 1;
        line++;
        if (memchr(s, '\0', n)) {
            /* a model file stores the lexicon as a C string: it would be read back cut short */
            snprintf(msg, sizeof(msg), "a NUL byte");
            goto fail;
        }
        while (n && (s[n - 1] == ' ' || s[n - 1] == '\r' || s[n - 1] == '\t'))
            n--;
        while (n && (*s == ' ' || *s == '\t'))
            s++, n--;
        if (!n || *s == '#')
            continue;
        if (*s == '[') {
            if (s[n - 1] != ']' || n < 3) {
                snprintf(msg, sizeof(msg), "a section line is `[lang]`");
                goto fail;
            }
            continue;
        }
        const char *colon = memchr(s, ':', n);
        if (!colon || colon == s) {
            snprintf(msg, sizeof(msg), "expected `concept: form form ...`");
            goto fail;
        }
        size_t cn = (size_t)(colon - s);
        for (size_t i = 0; i < cn; i++)
            if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_')) {
                snprintf(msg, sizeof(msg), "a concept id is lower-case ASCII, digits and _");
                goto fail;
            }
        unsigned c = 0;
        while (c < l->nconcepts && !(strlen(l->names[c]) == cn && !memcmp(l->names[c], s, cn)))
            c++;
        if (c == l->nconcepts) {
            if (c == LEX_MAXCONCEPTS) {
                snprintf(msg, sizeof(msg), "more than %d concepts", LEX_MAXCONCEPTS);
                goto fail;
            }
            if (!(l->names[c] = strndup(s, cn))) {
                snprintf(msg, sizeof(msg), "out of memory");
                goto fail;
            }
            l->nconcepts++;
        }
        for (const char *p = colon + 1, *end = s + n; p < end;) {
            while (p < end && (*p == ' ' || *p == '\t'))
                p++;
            const char *q = p;
            while (q < end && *q != ' ' && *q != '\t')
                q++;
            if (q == p)
                break;
            unsigned flags = 0;
            const char *f = p;
            size_t fn = (size_t)(q - p);
            if (*f == '*')
                f++, fn--, flags |= LEX_ANY;
            if (fn && f[fn - 1] == '$')
                fn--, flags |= LEX_WHOLE;
            if (lex_add(l, f, fn, c, flags, msg, sizeof(msg)) < 0)
                goto fail;
            p = q;
        }
    }
    return l;
fail:
    snprintf(err, errlen, "%s:%u: %s", name, line, msg);
    gw_clf_lex_free(l);
    return NULL;
}

/* ---- the extraction / scoring loop ---- */

struct sink {
    void (*feat)(void *arg, uint32_t block, uint32_t index);
    void (*block_end)(void *arg, uint32_t block, uint32_t length);
    void *arg;
    const struct gw_clf_params *p;
};

static inline const struct gw_clf_params *
params(const struct gw_clf_acc *a, const struct sink *x)
{
    return x ? x->p : &a->m->prm;
}

/* Repeats: a feature counts at most REPEAT_CAP times in a block. Counted every time, a run of
 * "AAAA...", "secret secret secret ..." or a list of look-alike lines made a window's margin grow
 * with the square root of its length (the sum grows with the count, the scale only with its
 * root): a benign prompt that repeated a word, or a long few-shot list, scored 1.0. With the cap,
 * cross-validated detection at 1 % false positives rose 59.3 -> 61.4 % (direct) and 46.6 ->
 * 53.0 % (indirect), the minimal pairs' benign twins blocked fell 9.2 -> 6.8 % and the machine's
 * 8 KB documents reported 4.7 -> 3.0 %. A cap of 1 loses the double count of concepts
 * (CONCEPT_COUNT); 3 and 4 gained less. Where the counting is cheap it is coarse:
 *   - a position's character n-grams count together, while the longest of them has been seen
 *     less than REPEAT_CAP times in the block (one look-up per byte instead of one per n-gram:
 *     "the" inside different words still counts each time; cross-validated the same as one count
 *     per n-gram within 1-2 points);
 *   - a word-level feature and its side's copy count together (they repeat together).
 * The counts live in the thread's table (thread_seen), 8 KB for the first-level cache beside the
 * weights: SEEN_SLOTS slots, a feature in the slot its index's low bits name, holding 8 more bits
 * of its index, the block's tag (a block takes a new one; after 63 the table is cleared) and its
 * count. A feature whose slot another feature of the same block holds takes the slot (and counts
 * as new): a block has a few hundred look-ups, so a few percent of repeats are counted again --
 * the same way in training and serving, since both run this code. The classifier costs ~25 %
 * more with it (bench/RESULTS.md, "Injection filter"). One accumulator is fed at a time on a thread
 * (gw_clf_begin ... gw_clf_end), as the filter, `scan` and the trainer do: another's blocks would
 * take the slots. */
#define REPEAT_CAP 2
#define SEEN_BITS 12
#define SEEN_SLOTS (1u << SEEN_BITS)

struct gw_clf_seen {
    /* ((index >> SEEN_BITS) & 0xFF) << 8 | tag << 2 | count: 16 bits, a type no field of the
     * accumulator has, so the compiler keeps those in registers across the stores here */
    uint16_t slot[SEEN_SLOTS];
    uint8_t tag; /* the current block's, 1..63 */
};

static pthread_key_t seen_key;
static pthread_once_t seen_once = PTHREAD_ONCE_INIT;

static void
seen_init(void)
{
    pthread_key_create(&seen_key, free);
    wset_fill(&imperative_set, imperative);
    wset_fill(&role_set, role_words);
}

/* The calling thread's table (NULL: out of memory). */
static struct gw_clf_seen *
thread_seen(void)
{
    return gw_thread_slot(&seen_key, &seen_once, seen_init, sizeof(struct gw_clf_seen));
}

/* A new block: a tag no slot in the table carries. */
static inline void
seen_next(struct gw_clf_seen *t)
{
    if (++t->tag == 64) {
        memset(t->slot, 0, sizeof(t->slot));
        t->tag = 1;
    }
}

/* How many of r more occurrences of feature i count in the current block (r <= REPEAT_CAP). */
static inline __attribute__((always_inline)) unsigned
seen_keep_n(struct gw_clf_seen *t, uint32_t i, unsigned r)
{
    uint16_t *e = &t->slot[i & (SEEN_SLOTS - 1)];
    unsigned key = (i >> SEEN_BITS & 0xFF) << 8 | (unsigned)t->tag << 2;
    unsigned c = (*e & ~3u) == key ? *e & 3u : 0; /* branch-free: repeats are unpredictable */
    unsigned k = REPEAT_CAP - c < r ? REPEAT_CAP - c : r;
    *e = (uint16_t)(key | (c + k));
    return k;
}

/* Whether feature i counts once more in the current block. */
static inline __attribute__((always_inline)) int
seen_keep(struct gw_clf_seen *t, uint32_t i)
{
    return (int)seen_keep_n(t, i, 1);
}

/* The current block's weight sum and feature count while a feed runs: locals of run() (the
 * accumulator's a->s[1] and a->n[1] in memory made every feature a load, an add and a store
 * on one chain). The sum is of the 8-bit weights: exact, whatever the order. */
struct hot {
    const int8_t *q;
    int32_t s;
    uint32_t n;
};

/* Feature i counted: its weight added (scoring) or passed to the sink (training). */
static inline __attribute__((always_inline)) void
count(struct gw_clf_acc *a, const struct sink *x, struct hot *h, uint32_t i)
{
    if (x)
        x->feat(x->arg, (uint32_t)(a->pos / x->p->block), i);
    else
        h->s += h->q[i];
    h->n++;
}

/* A word-level feature counts twice: once as itself and once for the side it is read on, so the
 * model can learn that "recommend a good book" is ordinary from a user and an injection inside a
 * retrieved document, while both sides share what attacks have in common. */
static inline __attribute__((always_inline)) void
add2n(struct gw_clf_acc *a, const struct sink *x, struct hot *ht, uint64_t h, unsigned r)
{
    const struct gw_clf_params *p = params(a, x);
    uint32_t i = idx_of(p, h);
    unsigned k = seen_keep_n(a->seen, i, r);
    if (!k)
        return; /* the side's copy is repeated as often: one count for both */
    uint32_t j = idx_of(p, h ^ ((uint64_t)(a->side + 1) << 58));
    for (unsigned q = 0; q < k; q++) {
        count(a, x, ht, i);
        count(a, x, ht, j);
    }
}

static inline __attribute__((always_inline)) void
add2(struct gw_clf_acc *a, const struct sink *x, struct hot *ht, uint64_t h)
{
    add2n(a, x, ht, h, 1);
}

/* A concept feature counts as this many features: a concept stands for many words of many
 * languages, and counted once the model leans on the English words beside it instead, which tell
 * it nothing about other languages. 2: cross-validated detection at 1 % false positives 58 -> 66 %
 * for users' prompts (1: 61 %, 3 to 6: 65-67 %), and 3 flagged more of this machine's long
 * documentation (man pages about AI services are dense in "model", "prompt", "response"). */
#define CONCEPT_COUNT 2

/* A concept found: itself, and at its first occurrence in the block one unordered pair with each
 * concept seen before it there. */
static inline
    __attribute__((always_inline)) void concept(struct gw_clf_acc *a, const struct sink *x,
                                                struct hot *ht, unsigned c)
{
    add2n(a, x, ht, (uint64_t)0xC0 << 56 | c, CONCEPT_COUNT);
    uint64_t bit = 1ull << c;
    a->concepts |= bit;
    if (a->cseen & bit)
        return;
    for (uint64_t s = a->cseen; s; s &= s - 1) {
        unsigned o = (unsigned)__builtin_ctzll(s);
        uint64_t pair = (uint64_t)0xC1 << 56 | (o < c ? o : c) << 8 | (o < c ? c : o);
        add2n(a, x, ht, pair, CONCEPT_COUNT);
    }
    a->cseen |= bit;
}

/* The forms that start at t[i] (inner: inside a word, where only LEX_ANY forms count). */
static inline __attribute__((always_inline)) void
lex_at(struct gw_clf_acc *a, const struct sink *x, struct hot *ht, const struct gw_clf_lex *l,
       const char *t, size_t i, size_t len, int inner)
{
    if (i + 2 > len)
        return;
    unsigned k = (unsigned)(unsigned char)t[i] << 8 | (unsigned char)t[i + 1];
    /* inside a word only `*` forms count: most places start none of them */
    if (inner && !(l->any2[k >> 3] >> (k & 7) & 1))
        return;
    uint64_t lens = i + 3 <= len ? l->lens[lex_bucket(t + i)] : 0;
    if (l->two[k >> 3] >> (k & 7) & 1)
        lens |= 1u << 2;
    if (!lens)
        return;
    /* hash as far as the bucket's longest form (the next space when none has one), look up at
     * its lengths */
    size_t end = i + 63 - (size_t)__builtin_clzll(lens);
    if (end > len)
        end = len;
    int spaced = (lens & LEX_SPACED) != 0;
    /* first the hashes of every length and which lengths end on a character's end (no branch
     * per byte but the loop's own), then the look-ups at the lengths of the bucket's forms: a
     * branch per byte on the bucket's lengths was mispredicted about once a word */
    uint64_t hs[64], ends = 0, h = GW_FNV_OFFSET;
    for (size_t j = i; j < end; j++) {
        if (t[j] == ' ' && !spaced)
            break;
        h = (h ^ (unsigned char)t[j]) * GW_FNV_PRIME;
        hs[j - i + 1] = h;
        unsigned char next = j + 1 < len ? (unsigned char)t[j + 1] : ' ';
        ends |= (uint64_t)((next & 0xC0) != 0x80) << (j - i + 1);
    }
    for (uint64_t c = lens & ends; c; c &= c - 1) {
        unsigned n = (unsigned)__builtin_ctzll(c);
        uint64_t e = lex_find(l, hs[n]);
        if (!e || (inner && !(e & LEX_ANY)) ||
            ((e & LEX_WHOLE) && i + n < len && is_word_byte((unsigned char)t[i + n])))
            continue;
        concept(a, x, ht, (unsigned)(e & 0xFF) >> 2);
    }
}

static uint32_t
len_bucket(uint32_t n)
{
    return n < 32 ? 0 : n < 96 ? 1 : n < 256 ? 2 : n < 512 ? 3 : n < 1024 ? 4 : 5;
}

uint32_t
gw_clf_window_feature(const struct gw_clf_params *p, uint32_t window_len)
{
    return idx_of(p, SALT_LEN + len_bucket(window_len));
}

static void
pool(struct gw_clf_acc *a, int both)
{
    const struct gw_clf_model *m = a->m;
    int32_t s = a->s[1];
    uint32_t n = a->n[1], len = a->len[1];
    if (both) {
        s += a->s[0];
        n += a->n[0];
        len += a->len[0];
    }
    s += m->q[gw_clf_window_feature(&m->prm, len)];
    double z = m->bias + (double)s * m->qscale / sqrt((double)n + 1);
    if (!a->any || z > a->best)
        a->best = z;
    a->any = 1;
}

/* Ends the current block: its structural features, then (scoring) the window it closes. */
static inline __attribute__((always_inline)) void
close_block(struct gw_clf_acc *a, const struct sink *x, struct hot *ht, uint32_t blen)
{
    const struct gw_clf_params *p = params(a, x);
    uint32_t b = !a->sent ? 0 : a->imp == 0 ? 1 : a->imp * 2 <= a->sent ? 2 : 3;
    /* the block's own number: pos is already past it when a block is closed at its end */
    uint64_t keep = a->pos;
    a->pos -= blen ? 1 : 0;
    add2(a, x, ht, SALT_IMP + b);
    if (a->role)
        add2(a, x, ht, SALT_ROLE);
    a->pos = keep;
    a->s[1] = ht->s;
    a->n[1] = ht->n;
    a->len[1] = blen;
    if (x) {
        x->block_end(x->arg, (uint32_t)((a->pos - (blen ? 1 : 0)) / p->block), blen);
    } else if (a->have_prev) {
        pool(a, 1);
    }
    a->s[0] = a->s[1];
    a->n[0] = a->n[1];
    a->len[0] = a->len[1];
    a->s[1] = ht->s = 0;
    a->n[1] = ht->n = 0;
    a->len[1] = 0;
    a->have_prev = 1;
    a->sent = a->imp = 0;
    a->role = 0;
    a->cseen = 0;
    seen_next(a->seen);
}

/* the low n bytes of a 64-bit load: an n-gram of n bytes */
static const uint64_t ngram_mask[9] = {0,
                                       0xffull,
                                       0xffffull,
                                       0xffffffull,
                                       0xffffffffull,
                                       0xffffffffffull,
                                       0xffffffffffffull,
                                       0xffffffffffffffull,
                                       ~0ull};

/* The index of the n-byte character n-gram at the start of v (the text's next 8 bytes). */
static inline __attribute__((always_inline)) uint32_t
ngram_idx(const struct gw_clf_params *p, uint64_t v, unsigned n)
{
    return idx_fast(p, (v & ngram_mask[n]) ^ ((uint64_t)(SALT_CHAR + n) << 56));
}

/* Adds the n-grams from cmin to top bytes at the start of v to the block, the longest's (jt)
 * first, when keep: a sum per byte, then one add into the block (short dependency chains); kept
 * or not without a branch (repeats come unpredictably). Called with constants for the shipped
 * lengths, the loop unrolls (~5 % of the classifier's time). */
static inline __attribute__((always_inline)) void
ngram_add(struct hot *ht, unsigned keep, const struct gw_clf_params *p, uint64_t v, unsigned cmin,
          unsigned top, uint32_t jt)
{
    int32_t t8 = ht->q[jt];
    for (unsigned n = cmin; n < top; n++)
        t8 += ht->q[ngram_idx(p, v, n)];
    ht->s += keep ? t8 : 0;
    ht->n += keep * (top - cmin + 1);
}

static inline __attribute__((always_inline)) void
run(struct gw_clf_acc *a, const struct sink *x, const char *t, size_t len)
{
    const struct gw_clf_params *p = params(a, x);
    struct gw_clf_seen *seen = a->seen;
    struct hot ht = {.q = x ? NULL : a->m->q, .s = a->s[1], .n = a->n[1]};
    size_t tok_end = 0; /* bytes before this belong to a token already counted */
    const char *pw = NULL;
    size_t pwn = 0;
    int prev_open = 0; /* the previous token was < [ # | */
    a->prev_word = 0;
    a->at_start = 1;
    /* bytes until the current block ends (a countdown: no division per byte) */
    uint32_t left = (uint32_t)(p->block - a->pos % p->block);
    for (size_t i = 0; i < len; i++) {
        /* character n-grams starting here */
        uint64_t v = load8(t + i, len - i);
        /* a position's n-grams count while its longest has been seen less than REPEAT_CAP
         * times in the block (one look-up per byte, not one per n-gram) */
        unsigned top = p->cmax;
        if (__builtin_expect(i + top > len, 0))
            top = len - i >= p->cmin ? (unsigned)(len - i) : 0;
        uint32_t jt = ngram_idx(p, v, top);
        if (x) {
            if (top && seen_keep(seen, jt)) {
                for (unsigned n = p->cmin; n < top; n++)
                    count(a, x, &ht, ngram_idx(p, v, n));
                count(a, x, &ht, jt);
            }
        } else if (top) {
            unsigned keep = (unsigned)seen_keep(seen, jt);
            if (top == 5 && p->cmin == 3)
                ngram_add(&ht, keep, p, v, 3, 5, jt);
            else
                ngram_add(&ht, keep, p, v, p->cmin, top, jt);
        }
        /* the token starting here */
        if (i >= tok_end) {
            unsigned char c = (unsigned char)t[i];
            if (is_word_byte(c)) {
                size_t e = i + 1;
                while (e < len && is_word_byte((unsigned char)t[e]))
                    e++;
                uint64_t h = fnv(t + i, e - i);
                add2(a, x, &ht, h ^ SALT_WORD);
                if (p->lex)
                    lex_at(a, x, &ht, p->lex, t, i, len, 0);
                if (p->words >= 2 && a->prev_word)
                    add2(a, x, &ht, a->prev_word * 31 + h + SALT_BIGRAM);
                if (a->at_start) {
                    a->sent++;
                    a->imp += (uint32_t)wset_has(&imperative_set, h, t + i, e - i);
                    a->at_start = 0;
                }
                if (prev_open && wset_has(&role_set, h, t + i, e - i))
                    a->role = 1;
                a->prev_word = h;
                pw = t + i;
                pwn = e - i;
                prev_open = 0;
                tok_end = e;
            } else if (c != ' ') {
                uint64_t h = c + SALT_PUNCT;
                add2(a, x, &ht, h);
                if (p->words >= 2 && a->prev_word)
                    add2(a, x, &ht, a->prev_word * 31 + h + SALT_BIGRAM);
                /* a->prev_word: pw's hash (the previous token was a word) */
                if (c == ':' && pw && wset_has(&role_set, a->prev_word, pw, pwn))
                    a->role = 1;
                if (c == '.' || c == '!' || c == '?')
                    a->at_start = 1;
                prev_open = c == '<' || c == '[' || c == '#' || c == '|';
                a->prev_word = h;
                pw = NULL;
                tok_end = i + 1;
            }
        } else if (p->lex && (unsigned char)t[i] >= 0xC0) {
            /* a character inside a word: forms of scripts without spaces, and `*` forms */
            lex_at(a, x, &ht, p->lex, t, i, len, 1);
        }
        a->pos++;
        a->len[1]++;
        if (--left == 0) {
            close_block(a, x, &ht, a->len[1]);
            left = p->block;
        }
    }
    a->s[1] = ht.s;
    a->n[1] = ht.n;
}

/* ---- public scoring ---- */

int
gw_clf_begin(struct gw_clf_acc *a, const struct gw_clf_model *m, int side)
{
    memset(a, 0, sizeof(*a));
    a->m = m;
    a->side = side != 0;
    if (!(a->seen = thread_seen()))
        return -1;
    seen_next(a->seen);
    return 0;
}

void
gw_clf_feed(struct gw_clf_acc *a, const char *norm, size_t len)
{
    run(a, NULL, norm, len);
}

double
gw_clf_end(struct gw_clf_acc *a)
{
    if (a->len[1]) {
        struct hot ht = {.q = a->m->q, .s = a->s[1], .n = a->n[1]};
        close_block(a, NULL, &ht, a->len[1]);
    }
    if (!a->any) {
        /* one block (or none): the window is that block alone */
        a->s[1] = a->s[0];
        a->n[1] = a->n[0];
        a->len[1] = a->len[0];
        pool(a, 0);
    }
    return 1.0 / (1.0 + exp(-a->best));
}

double
gw_clf_score(const struct gw_clf_model *m, int side, const char *text, size_t len)
{
    struct gw_norm n;
    if (gw_normalize(text, len, GW_NORM_ALL, &n) < 0)
        return -1;
    struct gw_clf_acc a;
    if (gw_clf_begin(&a, m, side) < 0) {
        gw_norm_free(&n);
        return -1;
    }
    gw_clf_feed(&a, n.text, n.len);
    gw_norm_free(&n);
    return gw_clf_end(&a);
}

int
gw_clf_extract(const struct gw_clf_params *p, int side, const char *norm, size_t len,
               void (*feat)(void *arg, uint32_t block, uint32_t index),
               void (*block_end)(void *arg, uint32_t block, uint32_t length), void *arg)
{
    struct sink x = {.feat = feat, .block_end = block_end, .arg = arg, .p = p};
    struct gw_clf_acc a;
    memset(&a, 0, sizeof(a));
    a.side = side != 0;
    if (!(a.seen = thread_seen()))
        return -1;
    seen_next(a.seen);
    run(&a, &x, norm, len);
    if (a.len[1]) {
        struct hot ht = {.s = a.s[1], .n = a.n[1]};
        close_block(&a, &x, &ht, a.len[1]);
    }
    return 0;
}

/* ---- model files ---- */

void
gw_clf_free(struct gw_clf_model *m)
{
    if (!m)
        return;
    free(m->w);
    free(m->q);
    free(m->meta);
    free(m->lexicon);
    gw_clf_lex_free(m->lex);
    free(m);
}

static uint32_t
get32(const unsigned char *b)
{
    return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void
put32(unsigned char *b, uint32_t v)
{
    b[0] = (unsigned char)v;
    b[1] = (unsigned char)(v >> 8);
    b[2] = (unsigned char)(v >> 16);
    b[3] = (unsigned char)(v >> 24);
}

static float
getf(const unsigned char *b)
{
    uint32_t u = get32(b);
    float f;
    memcpy(&f, &u, sizeof(f));
    return f;
}

static int
sha256(const unsigned char *b, size_t n, unsigned char out[32])
{
    unsigned int olen = 0;
    return EVP_Digest(b, n, out, &olen, EVP_sha256(), NULL) == 1 && olen == 32 ? 0 : -1;
}

static const char *
check_params(const struct gw_clf_params *p)
{
    if (p->nbits < 10 || p->nbits > 24)
        return "nbits must be 10..24";
    if (p->cmin < 1 || p->cmin > p->cmax || p->cmax > 8)
        return "character n-gram lengths must be 1 <= cmin <= cmax <= 8";
    if (p->words < 1 || p->words > 2)
        return "word n-grams must be 1 or 2";
    if (p->block < 64 || p->block > 65536)
        return "block must be 64..65536 bytes";
    return NULL;
}

struct gw_clf_model *
gw_clf_parse(const char *name, const unsigned char *buf, size_t len, char *err, size_t errlen)
{
    const size_t fixed = 8 + 4 * HDR_WORDS;
    if (len < fixed + 4 + 32 || memcmp(buf, MAGIC, 8) != 0) {
        snprintf(err, errlen, "%s: not a Portcullis model file (trained by portcullis-train)",
                 name);
        return NULL;
    }
    unsigned char sum[32];
    if (sha256(buf, len - 32, sum) < 0 || memcmp(sum, buf + len - 32, 32) != 0) {
        snprintf(err, errlen, "%s: checksum mismatch: the file is corrupt or truncated", name);
        return NULL;
    }
    const unsigned char *h = buf + 8;
    uint32_t format = get32(h), features = get32(h + 4), meta_len = get32(h + 28),
             lex_len = get32(h + 32);
    if (format != GW_CLF_FORMAT) {
        snprintf(err, errlen, "%s: model format %u, this build reads format %u", name, format,
                 GW_CLF_FORMAT);
        return NULL;
    }
    if (features != GW_CLF_FEATURES) {
        snprintf(err, errlen,
                 "%s: the model was trained on features v%u, this build extracts v%u: retrain it "
                 "with this build's portcullis-train",
                 name, features, GW_CLF_FEATURES);
        return NULL;
    }
    struct gw_clf_params p = {.nbits = get32(h + 8),
                              .cmin = get32(h + 12),
                              .cmax = get32(h + 16),
                              .words = get32(h + 20),
                              .block = get32(h + 24)};
    const char *bad = check_params(&p);
    if (bad) {
        snprintf(err, errlen, "%s: %s", name, bad);
        return NULL;
    }
    size_t nw = (size_t)1 << p.nbits;
    if (meta_len > MAX_META || lex_len > MAX_LEXICON ||
        len != fixed + meta_len + lex_len + 4 + 4 * nw + 32) {
        snprintf(err, errlen, "%s: size does not match its header (%zu bytes)", name, len);
        return NULL;
    }
    struct gw_clf_model *m = calloc(1, sizeof(*m));
    if (!m || !(m->w = malloc(nw * sizeof(float))) || !(m->meta = malloc(meta_len + 1)) ||
        !(m->lexicon = malloc(lex_len + 1))) {
        gw_clf_free(m);
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    m->prm = p;
    memcpy(m->meta, buf + fixed, meta_len);
    m->meta[meta_len] = '\0';
    memcpy(m->lexicon, buf + fixed + meta_len, lex_len);
    m->lexicon[lex_len] = '\0';
    if (lex_len) {
        char lerr[400];
        if (!(m->lex = gw_clf_lex_parse("lexicon", m->lexicon, lex_len, lerr, sizeof(lerr)))) {
            gw_clf_free(m);
            snprintf(err, errlen, "%s: %s", name, lerr);
            return NULL;
        }
        m->prm.lex = m->lex;
    }
    const unsigned char *f = buf + fixed + meta_len + lex_len;
    m->bias = getf(f);
    int finite = isfinite(m->bias);
    for (size_t i = 0; i < nw; i++) {
        m->w[i] = getf(f + 4 + 4 * i);
        finite &= isfinite(m->w[i]) != 0;
    }
    if (!finite) {
        gw_clf_free(m);
        snprintf(err, errlen, "%s: a weight is not a finite number", name);
        return NULL;
    }
    gw_hex_encode(buf + len - 32, 32, m->sha256);
    if (gw_clf_quantize(m) < 0) {
        gw_clf_free(m);
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    return m;
}

/* Scoring's copy of the weights, 8 bits each: the 1 MB of floats (2^18) did not fit the core's
 * 512 KB second-level cache with everything else, and every feature's weight is a load from a
 * random place; over 400 KB of varied prompts the classifier took ~10 % longer with them. A
 * weight is rounded by at most qscale / 2 (~0.026 for the shipped model); the margin divides a
 * sum of a few hundred of them, with errors of either sign, by the square root of their
 * number, so it moves by ~0.3 qscale. */
int
gw_clf_quantize(struct gw_clf_model *m)
{
    size_t nw = (size_t)1 << m->prm.nbits;
    if (!m->q && !(m->q = malloc(nw)))
        return -1;
    float mx = 0;
    for (size_t i = 0; i < nw; i++)
        mx = fmaxf(mx, fabsf(m->w[i]));
    m->qscale = mx > 0 ? mx / 127 : 1;
    for (size_t i = 0; i < nw; i++)
        m->q[i] = (int8_t)lrintf(m->w[i] / m->qscale);
    return 0;
}

struct gw_clf_model *
gw_clf_load(const char *path, char *err, size_t errlen)
{
    char *buf;
    size_t len;
    if (gw_read_file(path, 256u << 20, &buf, &len) < 0) {
        snprintf(err, errlen, "%s: %s", path,
                 errno == EFBIG || errno == ENOMEM ? "too large or out of memory"
                 : errno == EIO                    ? "read error"
                                                   : strerror(errno));
        return NULL;
    }
    struct gw_clf_model *m = gw_clf_parse(path, (const unsigned char *)buf, len, err, errlen);
    free(buf);
    return m;
}

int
gw_clf_write(const char *path, const struct gw_clf_model *m, char *err, size_t errlen)
{
    const char *bad = check_params(&m->prm);
    if (bad) {
        snprintf(err, errlen, "%s: %s", path, bad);
        return -1;
    }
    size_t meta_len = m->meta ? strlen(m->meta) : 0, nw = (size_t)1 << m->prm.nbits;
    size_t lex_len = m->lexicon ? strlen(m->lexicon) : 0;
    if (lex_len > MAX_LEXICON) {
        snprintf(err, errlen, "%s: the lexicon is larger than %u bytes", path, MAX_LEXICON);
        return -1;
    }
    size_t fixed = 8 + 4 * HDR_WORDS, len = fixed + meta_len + lex_len + 4 + 4 * nw + 32;
    unsigned char *b = malloc(len);
    if (!b) {
        snprintf(err, errlen, "%s: out of memory", path);
        return -1;
    }
    memcpy(b, MAGIC, 8);
    uint32_t hdr[HDR_WORDS] = {GW_CLF_FORMAT, GW_CLF_FEATURES,    m->prm.nbits,
                               m->prm.cmin,   m->prm.cmax,        m->prm.words,
                               m->prm.block,  (uint32_t)meta_len, (uint32_t)lex_len};
    for (size_t i = 0; i < HDR_WORDS; i++)
        put32(b + 8 + 4 * i, hdr[i]);
    if (meta_len)
        memcpy(b + fixed, m->meta, meta_len);
    if (lex_len)
        memcpy(b + fixed + meta_len, m->lexicon, lex_len);
    unsigned char *f = b + fixed + meta_len + lex_len;
    uint32_t u;
    memcpy(&u, &m->bias, 4);
    put32(f, u);
    for (size_t i = 0; i < nw; i++) {
        memcpy(&u, &m->w[i], 4);
        put32(f + 4 + 4 * i, u);
    }
    if (sha256(b, len - 32, b + len - 32) < 0) {
        free(b);
        snprintf(err, errlen, "%s: SHA-256 failed", path);
        return -1;
    }
    char tmp[4096];
    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    FILE *o = fopen(tmp, "wb");
    int ok = o && fwrite(b, 1, len, o) == len;
    if (o && fclose(o) != 0)
        ok = 0;
    free(b);
    if (!ok || rename(tmp, path) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        unlink(tmp);
        return -1;
    }
    return 0;
}
