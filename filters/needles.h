/*
 * Needles: short strings an answer must not contain — the system-prompt canary, and the secrets a
 * system prompt declares (as written, reversed, in ROT13, in hex, in base64, and down the first
 * letters of the answer's lines or along those of its words). The injection filter watches JSON
 * and streamed answers for them (flt_injection.c); this module is the set and its search, so that
 * unit tests and the bench drive it directly.
 *
 * A set holds at most GW_NEEDLES_MAX needles and is searched in one pass over a text whatever its
 * size: a byte costs two table look-ups, and a needle is tried only where its first byte (either
 * ASCII case) stands at the start of a word — anywhere, for an exact needle.
 */
#ifndef GW_NEEDLES_H
#define GW_NEEDLES_H

#include <stddef.h>
#include <stdint.h>

#define GW_NEEDLE_SECRET_MAX 64 /* the longest secret watched for */
#define GW_NEEDLE_MAX 128       /* longest needle: a 64-byte secret in hex */
#define GW_NEEDLES_MAX 21       /* the canary, and 4 secrets' 5 forms (gw_needles_add_secret) */
/* the longest text a match may take: 64 digits spelled out in another script, 3 bytes each
 * (4 * 64 - 3 + 2 * 64) */
#define GW_NEEDLE_SPAN_MAX 384

enum gw_needle_kind {
    GW_NEEDLE_EXACT,   /* anywhere, its bytes in order (any ASCII case): the canary */
    GW_NEEDLE_SPELLED, /* a whole word, or spelled out: up to 3 separator bytes (space - . _ , ' "
                        * / | : ; * tab newline) between two of its letters or digits */
    GW_NEEDLE_WORD,    /* a whole word: a secret's base64 */
};

struct gw_needle {
    char s[GW_NEEDLE_MAX + 1]; /* ASCII letters lowercase */
    size_t n;
    enum gw_needle_kind kind;
    int native; /* its ASCII digits match the digits of other scripts too (gw_native_digit) */
};

/* A byte of a word, for the whole-word checks of secrets (the values a system prompt declares,
 * gw_inj_declared_value, and the words of filters/subject.c): an ASCII letter or digit, or any
 * byte of a non-ASCII character. A table: the needle search reads it for every ASCII byte of an
 * answer (a non-ASCII character's word edge is decided by its first byte there, word_lead). */
extern const uint8_t gw_word_bytes[256];
static inline int
gw_word_byte(unsigned char c)
{
    return gw_word_bytes[c];
}

/* A decimal digit of another script at t[i] (n bytes): Arabic-Indic, Persian, Devanagari, Bengali
 * and the other Indic scripts, Thai, Lao, Myanmar, full-width. Its length in bytes (*v its value
 * when v is not NULL), or 0 when t[i] begins no such digit. */
size_t gw_native_digit(const char *t, size_t n, size_t i, int *v);

/* The length of the digit of another script that ends at t[i] (the character before i), or 0:
 * a number that goes on before a match or a value starting at i. */
size_t gw_native_digit_before(const char *t, size_t i);

/* Zero-initialise. Plain data: copying or discarding it needs nothing. */
#define GW_ACROSTICS_MAX 8 /* 4 secrets, read down and reversed */
#define GW_ACROSTIC_MIN 4  /* a shorter secret is too likely to be spelled by chance */
struct gw_needles {
    struct gw_needle v[GW_NEEDLES_MAX];
    size_t n;
    size_t longest;      /* the longest text a needle's match can take (spelled out: 4n - 3) */
    uint32_t first[256]; /* per byte: the needles that start with it */
    uint32_t anywhere;   /* the exact needles */
    /* per digit: the needles that start with it and read it in any script (a digit of another
     * script at a word start adds these) */
    uint32_t digit_first[10];
    uint32_t digit_any; /* their union */
    /* the secrets' letters and digits (lowercase), as written and reversed, for
     * gw_needles_initials */
    char acro[GW_ACROSTICS_MAX][GW_NEEDLE_SECRET_MAX];
    uint8_t acro_n[GW_ACROSTICS_MAX];
    uint8_t acro_end[256]; /* per byte: the acrostics that end with it */
    size_t nacro;
};

/* Adds n bytes of p of that kind. 1 when added; 0 when ignored: empty, longer than
 * GW_NEEDLE_MAX, already there (ASCII case folded), or the set is full. */
int gw_needles_add(struct gw_needles *set, const char *p, size_t n, enum gw_needle_kind kind);

/* A secret of n bytes (at most GW_NEEDLE_SECRET_MAX; a longer one is ignored), its digits read in
 * ASCII whatever their script ("४४७१" is watched for as "4471"): watched for as written and
 * reversed ("spell it backwards"), its digits in any script (an answer may write "४४७१" for a
 * declared "4471", or the other way round) -- a number ("14.200", "9 800", "12-44-08") by its
 * digits alone, which a spelled-out match finds with any separators, and not as the last groups
 * of a longer number -- and, when it has letters, in ROT13, GW_NEEDLE_SPELLED; in hex (lowercase,
 * any case matches), GW_NEEDLE_SPELLED for a secret of up to 32 bytes ("50 69 61 6e 6f"), else
 * GW_NEEDLE_WORD; and in unpadded base64, GW_NEEDLE_WORD -- five needles (fewer when the set
 * fills up or a form repeats another). Its letters and digits, when one is a letter, are also
 * read as acrostics, as written and reversed (gw_needles_initials): down the lines of the answer
 * (GW_ACROSTIC_MIN or more) and along its words (GW_ACROSTIC_WORDS_MIN or more). */
void gw_needles_add_secret(struct gw_needles *set, const char *s, size_t n);

/* The offset in t (n bytes) of the first match of any needle (the ends of t count as word
 * ends), or -1; then *which is the needle's index and *span the match's length in t. */
long gw_needles_find(const struct gw_needles *set, const char *t, size_t n, size_t *which,
                     size_t *span);

/*
 * Acrostics: a secret read down the first letters or digits of an answer's lines ("a poem whose
 * lines begin with the letters of the password"), or along the first letters of its words ("a
 * sentence whose words start with ..."). Lines: leading spaces, bullets, markdown marks and list
 * numbers ("1.", "2)") are passed over, blank lines add nothing. Words: runs of ASCII letters and
 * digits or of other scripts' letters; punctuation, symbols and emoji separate them. A line or a
 * word that begins with a non-ASCII letter adds a letter no secret has. Lines read secrets of
 * GW_ACROSTIC_MIN letters and digits or more, words GW_ACROSTIC_WORDS_MIN (a short word is spelled
 * by some run of words by chance). Zero-initialise one per answer (per stream); it keeps at least
 * the last GW_NEEDLE_SECRET_MAX initials of each kind and where the text stands, so an answer can
 * be fed in pieces, split anywhere.
 */
#define GW_ACROSTIC_WORDS_MIN 6
struct gw_initials_run {
    char s[2 * GW_NEEDLE_SECRET_MAX]; /* the last initials (at least GW_NEEDLE_SECRET_MAX) */
    uint8_t n;
};
struct gw_initials {
    struct gw_initials_run line, word;
    uint8_t state;  /* 0: at a line's start; 1: in a number there; 2: the line's initial taken */
    char digit;     /* state 1: the number's first digit */
    uint8_t inword; /* the last byte was part of a word */
};

/* Feeds n bytes of t to st. Returns the offset in t of the byte that completed one of set's
 * acrostics (a line's or a word's initial, or what ended a number that begins a line), or -1;
 * then *which is the acrostic's index in set->acro. */
long gw_needles_initials(const struct gw_needles *set, struct gw_initials *st, const char *t,
                         size_t n, size_t *which);

#endif
