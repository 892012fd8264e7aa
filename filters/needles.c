/*
 * Needle sets and their one-pass search (see needles.h).
 */
#include "filters/needles.h"

#include <string.h>

#include <openssl/evp.h>

#include "filters/decode.h"

_Static_assert(GW_NEEDLES_MAX <= 16, "needle sets are 16-bit masks");
_Static_assert((GW_NEEDLE_SECRET_MAX + 2) / 3 * 4 <= GW_NEEDLE_MAX, "a secret's base64 fits");

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

int
gw_needles_add(struct gw_needles *set, const char *p, size_t n, enum gw_needle_kind kind)
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
    d->n = n;
    d->kind = kind;
    uint16_t bit = (uint16_t)(1u << set->n);
    unsigned char c0 = (unsigned char)d->s[0];
    set->first[c0] |= bit;
    if (c0 >= 'a' && c0 <= 'z')
        set->first[c0 - 32] |= bit;
    if (kind == GW_NEEDLE_EXACT)
        set->anywhere |= bit;
    set->n++;
    size_t span = kind == GW_NEEDLE_SPELLED ? 4 * n - 3 : n;
    if (span > set->longest)
        set->longest = span;
    return 1;
}

void
gw_needles_add_secret(struct gw_needles *set, const char *s, size_t n)
{
    char rev[GW_NEEDLE_SECRET_MAX], b64[GW_NEEDLE_MAX + 4];
    if (n > GW_NEEDLE_SECRET_MAX)
        return;
    gw_needles_add(set, s, n, GW_NEEDLE_SPELLED);
    gw_reverse(s, n, rev);
    gw_needles_add(set, rev, n, GW_NEEDLE_SPELLED);
    int k = EVP_EncodeBlock((unsigned char *)b64, (const unsigned char *)s, (int)n);
    while (k > 0 && b64[k - 1] == '=')
        k--;
    if (k > 0)
        gw_needles_add(set, b64, (size_t)k, GW_NEEDLE_WORD);
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
        if (p >= n || lower((unsigned char)t[p]) != (unsigned char)d->s[j])
            return 0;
        p++;
    }
    return p - i;
}

long
gw_needles_find(const struct gw_needles *set, const char *t, size_t n, size_t *which, size_t *span)
{
    unsigned inword = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char b = (unsigned char)t[i];
        unsigned cand = set->first[b] & (inword ? set->anywhere : 0xffffu);
        inword = gw_word_byte(b);
        while (cand) {
            size_t k = (size_t)__builtin_ctz(cand);
            cand &= cand - 1;
            const struct gw_needle *d = &set->v[k];
            size_t m = i + d->n <= n ? match_at(d, t, n, i) : 0;
            if (!m ||
                (d->kind != GW_NEEDLE_EXACT && i + m < n && gw_word_byte((unsigned char)t[i + m])))
                continue;
            *which = k;
            *span = m;
            return (long)i;
        }
    }
    return -1;
}
