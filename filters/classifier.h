/*
 * The injection classifier: a linear model over hashed features of normalised text, scored in
 * microseconds inside the `injection` filter beside the rule pack (flt_injection.c combines the
 * two). The weights come from a model file trained by `portcullis-train` (tools/train.c).
 *
 * Features (version GW_CLF_FEATURES), over the text after gw_normalize(GW_NORM_ALL):
 *   - character n-grams of cmin..cmax bytes starting at every byte;
 *   - word unigrams and (words >= 2) bigrams: a word is a run of ASCII letters and digits or of
 *     non-ASCII bytes, every other non-space ASCII character is a token of its own (so "system :"
 *     and "< |" are bigrams);
 *   - per block: the share of sentences that open with an imperative verb (4 buckets) and
 *     whether a role marker ("system:", "[assistant]", "<user>", "### instruction") occurs;
 *   - per window: its length (6 buckets);
 *   - with a concept lexicon (the model file's own, see gw_clf_lex_parse): every word form of the
 *     lexicon found in the text counts as its concept ("ignore" in any language), and the first
 *     occurrence of a concept in a block also counts once joined with each concept seen before it
 *     in that block (unordered pairs: "ignore" + "instruction", "reveal" + "password"), so what
 *     the model learns from one language's attacks carries to the words of another.
 * Word-level and block features count twice: as themselves and joined with the side the text is
 * read on (direct: what a user wrote; indirect: documents and tool results), so one model learns
 * what attacks share and what is only suspicious inside data ("recommend a good book").
 * Every feature is hashed to one of 2^nbits weights. The text is cut into blocks of `block`
 * normalised bytes (a feature belongs to the block it starts in); a window is two consecutive
 * blocks (a text of one block is one window). A window's margin is
 *       bias + (sum of its features' weights) / sqrt(number of its features)
 * where a feature counts at most twice in a block (features v5; counted every time, a word
 * repeated a hundred times outweighed everything else; classifier.c, REPEAT_CAP, says how the
 * counting is done), and the text's probability is the logistic function of the largest window
 * margin: an instruction buried in a long document is judged with the two blocks around it, not
 * diluted by the rest, and a long document gets no credit for being long. Scoring reads the
 * weights rounded to 8 bits (gw_clf_quantize: 256 KB instead of 1 MB of floats).
 *
 * Model file (little-endian, written by gw_clf_write):
 *   "PCMODEL\n", u32 format (2), u32 features version, u32 nbits, cmin, cmax, words, block,
 *   u32 meta_len, u32 lexicon_len, meta (JSON: how the file was trained), the concept lexicon's
 *   text (may be empty), f32 bias, f32 weights[2^nbits], 32-byte SHA-256 of everything before it.
 */
#ifndef GW_CLASSIFIER_H
#define GW_CLASSIFIER_H

#include <stddef.h>
#include <stdint.h>

#define GW_CLF_FORMAT 2
/* Features version: 2 since normalisation folds Latin diacritics (GW_NORM_DIACRITIC); 3 since the
 * concept lexicon; 4 since it drops tatweel, harakat, Hebrew points, the nukta and Cyrillic
 * stress marks; 5 since a feature counts at most twice in a block; 6 since text spaced out letter
 * by letter keeps the wider gaps between its words; 7 since shuffled words of the instruction
 * vocabulary read as the words (GW_NORM_SCRAMBLE); 8 since letters of other alphabets written
 * apart join too, and "i.g.n.o.r.e. a.l.l" reads as two words. A model trained on another version
 * reads text differently and is refused. */
#define GW_CLF_FEATURES 8

/* A concept lexicon, parsed (gw_clf_lex_parse). */
struct gw_clf_lex;
struct gw_clf_seen;

struct gw_clf_params {
    unsigned nbits;               /* 10..24 */
    unsigned cmin, cmax;          /* character n-gram lengths, 1 <= cmin <= cmax <= 8 */
    unsigned words;               /* 1: word unigrams, 2: and bigrams */
    unsigned block;               /* normalised bytes per block, 64..65536 */
    const struct gw_clf_lex *lex; /* concept features, or NULL (not part of the file's header) */
};

struct gw_clf_model {
    struct gw_clf_params prm;
    float bias;
    float *w;               /* 2^nbits weights (owned) */
    int8_t *q;              /* ... as scoring reads them: w / qscale rounded (owned) */
    float qscale;           /* the largest |w| / 127 */
    char *meta;             /* NUL-terminated JSON (owned, may be "") */
    char *lexicon;          /* the concept lexicon's text, NUL-terminated (owned, may be "") */
    struct gw_clf_lex *lex; /* ... parsed, or NULL when empty (owned; prm.lex points to it) */
    char sha256[65];        /* of the file, hex */
};

/*
 * Parses a concept lexicon (training/injection/lexicon.txt documents the format): `[lang]`
 * section lines, `concept: form form ...` lines, `#` comments. A form matches where a word of the
 * normalised text starts and as a prefix of it; `form$` only as a whole word, `*form` (or a form
 * in a script written without spaces: Chinese, Japanese, Thai) also inside a word; `_` joins the
 * words of a form of several. Forms are normalised like the text. Returns NULL with "name:line:
 * message" in err for a malformed line, a form too short or too long, or a form listed under
 * two concepts.
 */
struct gw_clf_lex *gw_clf_lex_parse(const char *name, const char *text, size_t len, char *err,
                                    size_t errlen);
void gw_clf_lex_free(struct gw_clf_lex *l);
/* Number of concepts (at most 64) and of forms. */
unsigned gw_clf_lex_concepts(const struct gw_clf_lex *l);
unsigned gw_clf_lex_forms(const struct gw_clf_lex *l);
/* The index of the concept named name (its bit in gw_clf_acc.concepts), or -1. */
int gw_clf_lex_concept(const struct gw_clf_lex *l, const char *name);

/*
 * Loads a model file. Returns the model (free with gw_clf_free), or NULL with "path: message" in
 * err: unreadable, not a model file, checksum mismatch (corrupt or truncated), a format or
 * feature version this build does not implement, or parameters out of range.
 */
struct gw_clf_model *gw_clf_load(const char *path, char *err, size_t errlen);

/* The same from a file's bytes in memory (name is used in messages). */
struct gw_clf_model *gw_clf_parse(const char *name, const unsigned char *buf, size_t len, char *err,
                                  size_t errlen);

/* Writes m to path (a temporary file, then renamed). 0, or -1 with a message in err. */
int gw_clf_write(const char *path, const struct gw_clf_model *m, char *err, size_t errlen);

void gw_clf_free(struct gw_clf_model *m);

/* Fills m->q and m->qscale from m->w (allocating q when NULL): gw_clf_parse does; a model built
 * in memory must before it scores. -1 when out of memory. */
int gw_clf_quantize(struct gw_clf_model *m);

/* Scoring a text fed in pieces of normalised text (the rule scan's windows): */
struct gw_clf_acc {
    const struct gw_clf_model *m;
    uint64_t pos;          /* normalised bytes fed so far */
    int32_t s[2];          /* sums of the 8-bit weights of the previous and the current block */
    uint32_t n[2], len[2]; /* their feature counts and lengths */
    uint32_t sent, imp;    /* the current block's sentences, imperative ones */
    int role, at_start, have_prev, side;
    uint64_t prev_word; /* hash of the previous token, 0 at a feed's start */
    uint64_t cseen;     /* concepts seen in the current block (bit per concept) */
    uint64_t concepts;  /* ... in the whole text */
    double best;        /* largest window margin */
    int any;
    struct gw_clf_seen *seen; /* the thread's repeat counts (classifier.c, REPEAT_CAP) */
};

/* side: 0 direct (what users write), 1 indirect (documents, tool results). -1 when out of memory
 * (the thread's repeat counts: 8 KB, allocated on the thread's first use). One accumulator
 * is fed at a time on a thread: begin, feeds and end of one text are not interleaved with
 * another's there. */
int gw_clf_begin(struct gw_clf_acc *a, const struct gw_clf_model *m, int side);
/* Feeds len bytes of normalised text that follow what was fed before. A feed boundary ends
 * n-grams (pieces are long windows of the rule scan; the few n-grams lost there do not matter). */
void gw_clf_feed(struct gw_clf_acc *a, const char *norm, size_t len);
/* The probability (0..1) that the text fed is an injection. */
double gw_clf_end(struct gw_clf_acc *a);

/* Normalises len bytes of text and scores them (tests, the bench, the trainer). -1 when out of
 * memory. */
double gw_clf_score(const struct gw_clf_model *m, int side, const char *text, size_t len);

/*
 * Feature extraction for the trainer: calls feat(arg, block, index) for every feature of every
 * block of len bytes of normalised text (block = the block's number; index < 2^nbits), and
 * block_end(arg, block, length) after each block. Window features (length buckets) are not
 * included: gw_clf_window_feature gives the index of a window's. -1 when out of memory.
 */
int gw_clf_extract(const struct gw_clf_params *p, int side, const char *norm, size_t len,
                   void (*feat)(void *arg, uint32_t block, uint32_t index),
                   void (*block_end)(void *arg, uint32_t block, uint32_t length), void *arg);
uint32_t gw_clf_window_feature(const struct gw_clf_params *p, uint32_t window_len);

#endif
