/*
 * Pasted material in a user's message (see pasted.h).
 */
#include "filters/pasted.h"

#include <string.h>

/* How a quote's ends are told from other uses of the same bytes. */
enum qkind {
    Q_PLAIN, /* curly and corner quotes: unambiguous */
    Q_ASCII, /* " and ': opens after a space / line break / ':' / '(' or at the start */
    Q_APOS, /* ‘…’: ’ is also the apostrophe ("it’s"), so it closes only before a non-letter */
};

struct quote {
    const char *open, *close, *close2; /* close2: another closing form, or NULL */
    unsigned char olen, clen;
    enum qkind kind;
};

static const struct quote quotes[] = {
    {"\"", "\"", NULL, 1, 1, Q_ASCII},
    {"'", "'", NULL, 1, 1, Q_ASCII},
    {"\xe2\x80\x9c", "\xe2\x80\x9d", NULL, 3, 3, Q_PLAIN},           /* “ ” */
    {"\xe2\x80\x98", "\xe2\x80\x99", NULL, 3, 3, Q_APOS},            /* ‘ ’ */
    {"\xe2\x80\x9e", "\xe2\x80\x9c", "\xe2\x80\x9d", 3, 3, Q_PLAIN}, /* „ “ or „ ” */
    {"\xc2\xab", "\xc2\xbb", NULL, 2, 2, Q_PLAIN},                   /* « » */
    {"\xe3\x80\x8c", "\xe3\x80\x8d", NULL, 3, 3, Q_PLAIN},           /* 「 」 */
    {"\xe3\x80\x8e", "\xe3\x80\x8f", NULL, 3, 3, Q_PLAIN},           /* 『 』 */
};
#define NQUOTES (sizeof(quotes) / sizeof(quotes[0]))

/* The first bytes of fences and of every quote's opening form. */
static const unsigned char starts[256] = {
    ['`'] = 1, ['~'] = 1, ['"'] = 1, ['\''] = 1, [0xE2] = 1, [0xC2] = 1, [0xE3] = 1};

static int
space(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int
alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
}

/* Whether the ASCII quote at i (a byte follows it) opens one: at the start or after white space,
 * ':' or '(', and before a non-space. (A mention then also refuses the label's ':', and a quote
 * at a line's start, by what comes before it.) */
static int
ascii_opens(const char *t, size_t i)
{
    return (i == 0 || space((unsigned char)t[i - 1]) || t[i - 1] == ':' || t[i - 1] == '(') &&
           !space((unsigned char)t[i + 1]);
}

/* Where close (clen bytes) next ends quote q that opened before `from`, or len when it does
 * not. */
static size_t
closer(const char *t, size_t len, size_t from, const struct quote *q)
{
    for (size_t i = from; i < len;) {
        const char *a = memmem(t + i, len - i, q->close, q->clen);
        const char *b = q->close2 ? memmem(t + i, len - i, q->close2, q->clen) : NULL;
        const char *m = a && (!b || a < b) ? a : b;
        if (!m)
            return len;
        size_t j = (size_t)(m - t), after = j + q->clen;
        int ok = 1;
        if (q->kind == Q_ASCII)
            ok = !space((unsigned char)t[j - 1]) &&
                 (after == len || !alnum((unsigned char)t[after]));
        else if (q->kind == Q_APOS)
            ok = after == len || !alnum((unsigned char)t[after]);
        if (ok)
            return j;
        i = j + 1;
    }
    return len;
}

static void
add(struct gw_span *out, size_t max, size_t *n, size_t *covered, size_t from, size_t to)
{
    if (to - from < GW_PASTED_MIN || *n == max)
        return;
    out[(*n)++] = (struct gw_span){from, to};
    *covered += to - from;
}

size_t
gw_pasted_spans(const char *t, size_t len, struct gw_span *out, size_t max)
{
    if (len < GW_PASTED_MIN || max == 0)
        return 0;
    size_t n = 0, covered = 0;
    unsigned char gone[NQUOTES] = {0}; /* no closer after here: later openers have none either */
    for (size_t i = 0; i < len;) {
        while (i < len && !starts[(unsigned char)t[i]]) /* most bytes start nothing */
            i++;
        if (i == len)
            break;
        unsigned char c = (unsigned char)t[i];
        if ((c == '`' || c == '~') && i + 3 <= len && t[i + 1] == t[i] && t[i + 2] == t[i]) {
            char fence[3] = {t[i], t[i], t[i]};
            const char *e = i + 3 < len ? memmem(t + i + 3, len - i - 3, fence, 3) : NULL;
            size_t end = e ? (size_t)(e - t) : len;
            add(out, max, &n, &covered, i + 3, end);
            i = e ? end + 3 : len;
            continue;
        }
        int matched = 0;
        for (size_t k = 0; k < NQUOTES && !matched; k++) {
            const struct quote *q = &quotes[k];
            if (gone[k] || i + q->olen >= len || memcmp(t + i, q->open, q->olen) != 0)
                continue;
            size_t in = i + q->olen;
            if (q->kind == Q_ASCII && !ascii_opens(t, i))
                continue;
            size_t j = closer(t, len, in, q);
            if (j == len) {
                gone[k] = 1;
                continue;
            }
            add(out, max, &n, &covered, in, j);
            i = j + q->clen;
            matched = 1;
        }
        if (!matched)
            i++;
    }
    if (2 * covered < len)
        return 0;
    /* the user's own words around the material: a message that is only a quote asks nothing */
    size_t own = 0, at = 0;
    for (size_t k = 0; k <= n && own < GW_PASTED_OWN_MIN; k++) {
        size_t end = k < n ? out[k].from : len;
        for (size_t i = at; i < end; i++)
            own += alnum((unsigned char)t[i]) || (unsigned char)t[i] >= 0x80;
        at = k < n ? out[k].to : len;
    }
    return own >= GW_PASTED_OWN_MIN ? n : 0;
}

/* Where the first letter of any script (an ASCII letter or a byte of a multi-byte character) of
 * [a, b) of t is, or b. */
static size_t
first_letter(const char *t, size_t a, size_t b)
{
    for (size_t i = a; i < b; i++) {
        unsigned char c = (unsigned char)t[i];
        if (((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80)
            return i;
    }
    return b;
}

size_t
gw_quoted_mentions(const char *t, size_t len, struct gw_span *out, size_t max)
{
    size_t n = 0, line = 0; /* where the current line starts */
    /* per kind: the first closing form at or after `from` on the current line (its start, or
     * the line's end when there is none), so a later opener of the kind never searches again */
    size_t from[NQUOTES], close_at[NQUOTES];
    for (size_t k = 0; k < NQUOTES; k++)
        from[k] = close_at[k] = 0;
    size_t eol = 0;    /* the current line's end (computed lazily) */
    size_t letter = 0; /* where its first letter is (computed with eol) */
    for (size_t i = 0; i < len && n < max;) {
        while (i < len && !starts[(unsigned char)t[i]] && t[i] != '\n')
            i++;
        if (i == len)
            break;
        if (t[i] == '\n') {
            line = ++i;
            continue;
        }
        if (eol <= line) {
            const char *e = memchr(t + line, '\n', len - line);
            eol = e ? (size_t)(e - t) : len;
            letter = first_letter(t, line, eol);
        }
        int matched = 0;
        for (size_t k = 0; k < NQUOTES && !matched; k++) {
            const struct quote *q = &quotes[k];
            if (i + q->olen >= eol || memcmp(t + i, q->open, q->olen) != 0)
                continue;
            size_t in = i + q->olen;
            if (q->kind == Q_ASCII && !ascii_opens(t, i))
                continue;
            /* a letter of the line before it, and no label's colon right before it */
            size_t b = i;
            while (b > line && space((unsigned char)t[b - 1]))
                b--;
            if (letter >= b || t[b - 1] == ':' ||
                (b >= line + 3 && memcmp(t + b - 3, "\xef\xbc\x9a", 3) == 0))
                continue;
            if (close_at[k] < in || from[k] < line || close_at[k] > eol) {
                from[k] = in;
                close_at[k] = closer(t, eol, in, q);
            }
            size_t j = close_at[k];
            if (j >= eol)
                continue; /* no closer on this line: none for a later opener of the kind either */
            if (j > in && j - in <= GW_MENTION_MAX) {
                out[n++] = (struct gw_span){in, j};
                i = j + q->clen;
                matched = 1;
            }
        }
        if (!matched)
            i++;
    }
    return n;
}
