/*
 * Needles: short strings an answer must not contain — the system-prompt canary, and the secrets a
 * system prompt declares (as written, reversed, in base64). The injection filter watches JSON and
 * streamed answers for them (flt_injection.c); this module is the set and its search, so that
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

#define GW_NEEDLE_MAX 96  /* longest needle: a 64-byte secret's base64 */
#define GW_NEEDLES_MAX 13 /* the canary, and 4 secrets as written, reversed and in base64 */

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
};

/* A byte of a word, for the whole-word checks of secrets (the needles here, the values a system
 * prompt declares, gw_inj_declared_value, and the words of filters/subject.c): an ASCII letter or
 * digit, or any byte of a non-ASCII character. A table: the search reads it for every byte of an
 * answer. */
extern const uint8_t gw_word_bytes[256];
static inline int
gw_word_byte(unsigned char c)
{
    return gw_word_bytes[c];
}

/* Zero-initialise. Plain data: copying or discarding it needs nothing. */
struct gw_needles {
    struct gw_needle v[GW_NEEDLES_MAX];
    size_t n;
    size_t longest;      /* the longest text a needle's match can take (spelled out: 4n - 3) */
    uint16_t first[256]; /* per byte: the needles that start with it */
    uint16_t anywhere;   /* the exact needles */
};

/* Adds n bytes of p of that kind. 1 when added; 0 when ignored: empty, longer than
 * GW_NEEDLE_MAX, already there (ASCII case folded), or the set is full. */
int gw_needles_add(struct gw_needles *set, const char *p, size_t n, enum gw_needle_kind kind);

/* A secret of n bytes (at most GW_NEEDLE_SECRET_MAX; a longer one is ignored): watched for as
 * written and reversed ("spell it backwards"), GW_NEEDLE_SPELLED, and in unpadded base64,
 * GW_NEEDLE_WORD -- three needles (fewer when the set fills up or a form repeats another). */
#define GW_NEEDLE_SECRET_MAX 64
void gw_needles_add_secret(struct gw_needles *set, const char *s, size_t n);

/* The offset in t (n bytes) of the first match of any needle (the ends of t count as word
 * ends), or -1; then *which is the needle's index and *span the match's length in t. */
long gw_needles_find(const struct gw_needles *set, const char *t, size_t n, size_t *which,
                     size_t *span);

#endif
