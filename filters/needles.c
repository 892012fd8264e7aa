/*
 * Needle sets and their one-pass search (see needles.h).
 */
#include "filters/needles.h"

#include <string.h>

#include <openssl/evp.h>

#include "filters/decode.h"

_Static_assert(GW_NEEDLES_MAX <= 32, "needle sets are 32-bit masks");
_Static_assert((GW_NEEDLE_SECRET_MAX + 2) / 3 * 4 <= GW_NEEDLE_MAX, "a secret's base64 fits");
_Static_assert(2 * GW_NEEDLE_SECRET_MAX <= GW_NEEDLE_MAX, "a secret's hex fits");
_Static_assert(4 * GW_NEEDLE_SECRET_MAX - 3 + 2 * GW_NEEDLE_SECRET_MAX <= GW_NEEDLE_SPAN_MAX,
               "a secret spelled out fits, its digits in another script");
_Static_assert(2 * GW_NEEDLE_SECRET_MAX <= 255, "acrostic lengths and runs are bytes");
_Static_assert(GW_ACROSTICS_MAX <= 8, "acrostic sets are 8-bit masks");

static unsigned char
lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c + 32) : c;
}

const uint8_t gw_word_bytes[256] = {
    ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1, [0x80 ... 0xff] = 1};

/* ASCII letters and digits: the characters a spelled-out needle may have separators between. */
static int
alnum(unsigned char c)
{
    return c < 0x80 && gw_word_byte(c);
}

static int
sep_byte(unsigned char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '_' || c == ',' || c == '\'' || c == '"' ||
           c == '*' || c == '/' || c == '|' || c == ':' || c == ';' || c == '\n' || c == '\t';
}

/* The zeros of the scripts whose digits gw_native_digit reads: Arabic-Indic, Persian, Devanagari,
 * Bengali, Gurmukhi, Gujarati, Oriya, Tamil, Telugu, Kannada, Malayalam, Sinhala, Thai, Lao,
 * Myanmar, full-width. */
static const uint32_t digit_zeros[] = {0x660, 0x6F0, 0x966, 0x9E6, 0xA66, 0xAE6, 0xB66,  0xBE6,
                                       0xC66, 0xCE6, 0xD66, 0xDE6, 0xE50, 0xED0, 0x1040, 0xFF10};

/* see needles.h */
size_t
gw_native_digit(const char *t, size_t n, size_t i, int *v)
{
    unsigned char b = (unsigned char)t[i];
    size_t len = b == 0xD9 || b == 0xDB ? 2 : b == 0xE0 || b == 0xE1 || b == 0xEF ? 3 : 0;
    if (!len || i + len > n)
        return 0;
    /* the last byte of every such digit, first: most characters of these leads are letters */
    unsigned char z = (unsigned char)t[i + len - 1];
    if (len == 3 && !(z >= 0x90 && z <= 0x99) && !(z >= 0xA6 && z <= 0xAF) &&
        !(b == 0xE1 && z >= 0x80 && z <= 0x89))
        return 0;
    uint32_t cp = len == 2 ? b & 0x1Fu : b & 0x0Fu;
    for (size_t k = 1; k < len; k++) {
        unsigned char c = (unsigned char)t[i + k];
        if ((c & 0xC0) != 0x80)
            return 0;
        cp = cp << 6 | (c & 0x3Fu);
    }
    for (size_t k = 0; k < sizeof(digit_zeros) / sizeof(digit_zeros[0]); k++)
        if (cp >= digit_zeros[k] && cp < digit_zeros[k] + 10) {
            if (v)
                *v = (int)(cp - digit_zeros[k]);
            return len;
        }
    return 0;
}

/* gw_needles_add; native: its ASCII digits match other scripts' digits too */
static int
add_needle(struct gw_needles *set, const char *p, size_t n, enum gw_needle_kind kind, int native)
{
    if (n > GW_NEEDLE_MAX || n == 0 || set->n == GW_NEEDLES_MAX)
        return 0;
    struct gw_needle *d = &set->v[set->n];
    for (size_t i = 0; i < n; i++)
        d->s[i] = (char)lower((unsigned char)p[i]);
    d->s[n] = '\0';
    for (size_t i = 0; i < set->n; i++)
        if (set->v[i].n == n && memcmp(set->v[i].s, d->s, n) == 0)
            return 0;
    size_t digits = 0;
    for (size_t i = 0; native && i < n; i++)
        digits += d->s[i] >= '0' && d->s[i] <= '9';
    d->n = n;
    d->kind = kind;
    d->native = digits > 0;
    uint32_t bit = (uint32_t)1 << set->n;
    unsigned char c0 = (unsigned char)d->s[0];
    set->first[c0] |= bit;
    if (c0 >= 'a' && c0 <= 'z')
        set->first[c0 - 32] |= bit;
    if (d->native && c0 >= '0' && c0 <= '9') {
        set->digit_first[c0 - '0'] |= bit;
        set->digit_any |= bit;
    }
    if (kind == GW_NEEDLE_EXACT)
        set->anywhere |= bit;
    set->n++;
    /* a digit of another script takes up to 3 bytes */
    size_t span = (kind == GW_NEEDLE_SPELLED ? 4 * n - 3 : n) + 2 * digits;
    if (span > set->longest)
        set->longest = span;
    return 1;
}

int
gw_needles_add(struct gw_needles *set, const char *p, size_t n, enum gw_needle_kind kind)
{
    return add_needle(set, p, n, kind, 0);
}

/* The secret's letters and digits, lowercase, as written and reversed, when there are enough
 * and at least one is a letter. */
static void
add_acrostic(struct gw_needles *set, const char *s, size_t n)
{
    char a[GW_NEEDLE_SECRET_MAX];
    size_t m = 0;
    int letters = 0;
    for (size_t i = 0; i < n; i++)
        if (alnum((unsigned char)s[i])) {
            a[m++] = (char)lower((unsigned char)s[i]);
            letters |= a[m - 1] >= 'a';
        }
    if (m < GW_ACROSTIC_MIN || !letters)
        return; /* digits alone: numbered lines ("1 ... 2 ... 3 ... 4") spell them */
    for (int r = 0; r < 2 && set->nacro < GW_ACROSTICS_MAX; r++) {
        char *d = set->acro[set->nacro];
        for (size_t i = 0; i < m; i++)
            d[i] = r ? a[m - 1 - i] : a[i];
        int dup = 0;
        for (size_t i = 0; i < set->nacro; i++)
            dup |= set->acro_n[i] == m && memcmp(set->acro[i], d, m) == 0;
        if (!dup) {
            set->acro_end[(unsigned char)d[m - 1]] |= (uint8_t)(1u << set->nacro);
            set->acro_n[set->nacro++] = (uint8_t)m;
        }
    }
}

void
gw_needles_add_secret(struct gw_needles *set, const char *s, size_t n)
{
    static const char hexd[] = "0123456789abcdef";
    char t[GW_NEEDLE_MAX + 4], a[GW_NEEDLE_SECRET_MAX] = {0};
    if (n > GW_NEEDLE_SECRET_MAX)
        return;
    size_t m = 0; /* its digits in ASCII */
    for (size_t i = 0; i < n;) {
        int v;
        size_t l = gw_native_digit(s, n, i, &v);
        a[m++] = l ? (char)('0' + v) : s[i];
        i += l ? l : 1;
    }
    s = a;
    n = m;
    /* a number ("14.200", "9 800", "612 345 678", "12-44-08"): its digits alone, which a
     * spelled-out needle finds with any separators between them ("14200", "14,200") */
    char d[GW_NEEDLE_SECRET_MAX];
    size_t nd = 0;
    int number = 1;
    for (size_t i = 0; i < n && number; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= '0' && c <= '9')
            d[nd++] = (char)c;
        else
            number = c == ' ' || c == '.' || c == ',' || c == '-' || c == 0xC2 || c == 0xA0 ||
                     c == 0xE2 || c == 0x80 || c == 0xAF;
    }
    const char *w = number && nd >= 4 ? d : s;
    size_t nw = number && nd >= 4 ? nd : n;
    add_needle(set, w, nw, GW_NEEDLE_SPELLED, 1);
    gw_reverse(w, nw, t);
    add_needle(set, t, nw, GW_NEEDLE_SPELLED, 1);
    int letters = 0;
    for (size_t i = 0; i < n; i++) { /* ROT13 (of a text with letters: else it is the text) */
        unsigned char c = lower((unsigned char)s[i]);
        letters |= c >= 'a' && c <= 'z';
        t[i] = c >= 'a' && c <= 'z' ? (char)('a' + (c - 'a' + 13) % 26) : (char)c;
    }
    if (letters)
        gw_needles_add(set, t, n, GW_NEEDLE_SPELLED);
    for (size_t i = 0; i < n; i++) {
        t[2 * i] = hexd[(unsigned char)s[i] >> 4];
        t[2 * i + 1] = hexd[(unsigned char)s[i] & 15];
    }
    gw_needles_add(set, t, 2 * n,
                   2 * n <= GW_NEEDLE_SECRET_MAX ? GW_NEEDLE_SPELLED : GW_NEEDLE_WORD);
    int k = EVP_EncodeBlock((unsigned char *)t, (const unsigned char *)s, (int)n);
    while (k > 0 && t[k - 1] == '=')
        k--;
    if (k > 0)
        gw_needles_add(set, t, (size_t)k, GW_NEEDLE_WORD);
    add_acrostic(set, s, n);
}

/* Whether the character whose first byte is b goes on the word a needle's match would stand in: an
 * ASCII letter or digit, or a letter of the Latin script (lead bytes 0xC3-0xC9, U+00C0-U+027F:
 * "piano" is no word of "pianoé"). Letters of other scripts end it: Korean, Japanese, Chinese and
 * Thai glue particles to a value and write no spaces ("코드는 6-1-8-2입니다",
 * "合言葉はひまわりです"). */
static int
word_lead(unsigned char b)
{
    return b < 0x80 ? gw_word_byte(b) : b >= 0xC3 && b <= 0xC9;
}

/* The length of needle d's match at t[i] (n bytes), 0 when none. */
static size_t
match_at(const struct gw_needle *d, const char *t, size_t n, size_t i)
{
    size_t p = i;
    for (size_t j = 0; j < d->n; j++) {
        if (j && d->kind == GW_NEEDLE_SPELLED && alnum((unsigned char)d->s[j - 1]) &&
            alnum((unsigned char)d->s[j]))
            for (size_t gap = 0; gap < 3 && p < n && sep_byte((unsigned char)t[p]); gap++)
                p++;
        if (p >= n)
            return 0;
        int v;
        size_t l;
        if (lower((unsigned char)t[p]) == (unsigned char)d->s[j])
            p++;
        else if (d->native && (unsigned char)t[p] >= 0x80 && d->s[j] >= '0' && d->s[j] <= '9' &&
                 (l = gw_native_digit(t, n, p, &v)) && v == d->s[j] - '0')
            p += l;
        else
            return 0;
    }
    return p - i;
}

/* see needles.h */
size_t
gw_native_digit_before(const char *t, size_t i)
{
    for (size_t l = 2; l <= 3 && l <= i; l++)
        if (gw_native_digit(t, i, i - l, NULL) == l)
            return l;
    return 0;
}

long
gw_needles_find(const struct gw_needles *set, const char *t, size_t n, size_t *which, size_t *span)
{
    unsigned inword = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)t[i];
        uint32_t cand = set->first[b] & (inword ? set->anywhere : 0xffffffffu);
        int v;
        if (set->digit_any && b >= 0xC0 && !inword && gw_native_digit(t, n, i, &v))
            cand |= set->digit_first[v]; /* a digit of another script */
        if (b < 0x80 || b >= 0xC0) /* a continuation byte keeps its character's first byte's */
            inword = word_lead(b);
        while (cand) {
            size_t k = (size_t)__builtin_ctz(cand);
            cand &= cand - 1;
            const struct gw_needle *d = &set->v[k];
            size_t m = i + d->n <= n ? match_at(d, t, n, i) : 0;
            if (!m ||
                (d->kind != GW_NEEDLE_EXACT && i + m < n && word_lead((unsigned char)t[i + m])))
                continue;
            if (d->native && ((i && b >= 0x80 && gw_native_digit_before(t, i)) ||
                              (i + m < n && gw_native_digit(t, n, i + m, NULL))))
                continue; /* inside a longer number written in another script */
            if (d->native && d->s[0] >= '0' && d->s[0] <= '9' && i >= 2 &&
                (t[i - 1] == ' ' || t[i - 1] == '.' || t[i - 1] == ',') &&
                ((t[i - 2] >= '0' && t[i - 2] <= '9') || gw_native_digit_before(t, i - 1)))
                continue; /* the last groups of a longer number: "1 285 000" */
            *which = k;
            *span = m;
            return (long)i;
        }
    }
    return -1;
}

/* An initial of a line or a word: kept (when the buffer is full, its older half is dropped: one
 * move per GW_NEEDLE_SECRET_MAX initials); the index of the acrostic of at least min bytes it
 * completes, or -1. An acrostic is compared only when it ends with this initial. */
static long
push_initial(const struct gw_needles *set, struct gw_initials_run *r, char c, size_t min)
{
    if (r->n == sizeof(r->s)) {
        memmove(r->s, r->s + GW_NEEDLE_SECRET_MAX, GW_NEEDLE_SECRET_MAX);
        r->n = GW_NEEDLE_SECRET_MAX;
    }
    r->s[r->n++] = c;
    for (unsigned cand = set->acro_end[(unsigned char)c]; cand; cand &= cand - 1) {
        size_t k = (size_t)__builtin_ctz(cand), m = set->acro_n[k];
        if (m >= min && m <= r->n && memcmp(r->s + r->n - m, set->acro[k], m) == 0)
            return (long)k;
    }
    return -1;
}

/* Per byte: 1 an ASCII letter or digit, 2 the first byte of another script's letter (Latin-1
 * letters, Greek, Cyrillic, Arabic, CJK ...: C3-DF, E3-EF), 3 a continuation byte (the
 * character's kind goes on), 0 the rest: ASCII punctuation and space, and the symbols, dashes
 * and emoji (C2, E0-E2, F0-FF). */
static const uint8_t initial_kind[256] = {['0' ... '9'] = 1,   ['A' ... 'Z'] = 1,
                                          ['a' ... 'z'] = 1,   [0x80 ... 0xbf] = 3,
                                          [0xc3 ... 0xdf] = 2, [0xe3 ... 0xef] = 2};

long
gw_needles_initials(const struct gw_needles *set, struct gw_initials *st, const char *t, size_t n,
                    size_t *which)
{
    if (!set->nacro)
        return -1;
    /* the state in locals: the runs' char stores would otherwise reload it for every byte */
    unsigned inword = st->inword, state = st->state;
    long at = -1, k = -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)t[i];
        unsigned kind = initial_kind[b];
        if (kind == 3 || (kind == 1 && inword && state == 2))
            continue; /* a character, a word, a line go on: the common case */
        if (kind && !inword &&
            (k = push_initial(set, &st->word, kind == 1 ? (char)lower(b) : '\0',
                              GW_ACROSTIC_WORDS_MIN)) >= 0) {
            at = (long)i;
            break;
        }
        inword = kind != 0;
        if (state == 2 && b != '\n')
            continue; /* the rest of the line: only its end matters */
        if (b == '\n') {
            if (state == 1)
                k = push_initial(set, &st->line, st->digit, GW_ACROSTIC_MIN); /* a number */
            state = 0;
        } else if (state == 1) {
            if (b == '.' || b == ')' || b == ':') {
                state = 0; /* a list number: the initial comes after it */
            } else if (b < '0' || b > '9') {
                k = push_initial(set, &st->line, st->digit, GW_ACROSTIC_MIN);
                state = 2;
            }
        } else if (b >= '0' && b <= '9') {
            st->digit = (char)b;
            state = 1;
        } else if (kind) {
            /* another script's letter is not a letter of any secret; symbols and emoji are
             * passed over */
            k = push_initial(set, &st->line, kind == 1 ? (char)lower(b) : '\0', GW_ACROSTIC_MIN);
            state = 2;
        }
        if (k >= 0) {
            at = (long)i;
            break;
        }
    }
    st->inword = (uint8_t)inword;
    st->state = (uint8_t)state;
    if (at >= 0)
        *which = (size_t)k;
    return at;
}
