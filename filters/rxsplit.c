/* Splitting a pattern at its top-level gaps (see rxsplit.h). */
#include "filters/rxsplit.h"

#include <string.h>

#define MAX_DEPTH 16 /* nested alternations read (deeper ones stay whole) */

struct ctx {
    const char *p;
    struct gw_rx_piece *out;
    size_t cap, n;
    int bad;
};

/* The index after the atom at i that is not a parenthesis: an escape, a bracket class or one
 * byte. Sets c->bad on what cannot be split around (\Q, an unterminated escape or class). */
static size_t
skip_atom(struct ctx *c, size_t i, size_t end)
{
    const char *p = c->p;
    if (p[i] == '\\') {
        if (i + 1 >= end || p[i + 1] == 'Q' || p[i + 1] == 'E') {
            c->bad = 1;
            return end;
        }
        if (i + 2 < end && p[i + 2] == '{' && strchr("xopN", p[i + 1])) {
            const char *q = memchr(p + i + 2, '}', end - i - 2);
            if (!q) {
                c->bad = 1;
                return end;
            }
            return (size_t)(q - p) + 1;
        }
        return i + 2;
    }
    if (p[i] != '[')
        return i + 1;
    size_t j = i + 1;
    if (j < end && p[j] == '^')
        j++;
    if (j < end && p[j] == ']')
        j++;
    while (j < end) {
        if (p[j] == '\\') {
            if (j + 1 >= end || p[j + 1] == 'Q' || p[j + 1] == 'E')
                break;
            j += 2;
        } else if (p[j] == '[' && j + 1 < end && p[j + 1] == ':') {
            size_t k = j + 2;
            while (k + 1 < end && !(p[k] == ':' && p[k + 1] == ']'))
                k++;
            if (k + 1 >= end)
                break;
            j = k + 2;
        } else if (p[j] == ']') {
            return j + 1;
        } else {
            j++;
        }
    }
    c->bad = 1;
    return end;
}

/* The next top-level position in [i, end) after walking one step; *depth follows the
 * parentheses. A group that is not plain or (?:...) makes the pattern unsplittable. */
static size_t
step(struct ctx *c, size_t i, size_t end, int *depth)
{
    const char *p = c->p;
    if (p[i] == '(') {
        if (i + 1 < end && p[i + 1] == '?') {
            if (!(i + 2 < end && p[i + 2] == ':')) {
                c->bad = 1;
                return end;
            }
            (*depth)++;
            return i + 3;
        }
        (*depth)++;
        return i + 1;
    }
    if (p[i] == ')') {
        if (--*depth < 0)
            c->bad = 1;
        return i + 1;
    }
    return skip_atom(c, i, end);
}

/* [*a, *b) without parentheses that enclose all of it. */
static void
unwrap(struct ctx *c, size_t *a, size_t *b)
{
    while (*b - *a >= 2 && c->p[*a] == '(' && c->p[*b - 1] == ')') {
        int depth = 0;
        size_t i = *a, close = *b;
        while (i < *b && !c->bad) {
            i = step(c, i, *b, &depth);
            if (depth == 0) {
                close = i - 1;
                break;
            }
        }
        if (c->bad || close != *b - 1)
            return;
        *a += c->p[*a + 1] == '?' ? 3 : 1;
        *b -= 1;
    }
}

/* Reads `.{m,n}`, `.{n}` and their lazy forms at i (a top-level '.'): the index after it with
 * the bounds, or 0. */
static size_t
gap_at(const char *p, size_t i, size_t end, unsigned *lo, unsigned *hi)
{
    size_t j = i + 1;
    if (p[i] != '.' || j >= end || p[j] != '{')
        return 0;
    unsigned v[2] = {0, 0};
    int k = 0, digits = 0;
    for (j++; j < end; j++) {
        char ch = p[j];
        if (ch >= '0' && ch <= '9') {
            v[k] = v[k] * 10 + (unsigned)(ch - '0');
            if (v[k] > 65535)
                return 0;
            digits++;
        } else if (ch == ',' && k == 0 && digits) {
            k = 1;
            digits = 0;
        } else if (ch == '}' && digits) {
            break;
        } else {
            return 0;
        }
    }
    if (j >= end)
        return 0;
    *lo = v[0];
    *hi = k ? v[1] : v[0];
    if (*hi < *lo)
        return 0;
    j++;
    if (j < end && p[j] == '?')
        j++;
    if (j < end && (p[j] == '+' || p[j] == '*' || p[j] == '?' || p[j] == '{'))
        return 0; /* a quantified gap is no gap */
    return j;
}

static void
add(struct ctx *c, size_t a, size_t b, unsigned lo, unsigned hi, int first)
{
    if (b <= a || c->n == c->cap) {
        c->bad = 1;
        return;
    }
    c->out[c->n++] = (struct gw_rx_piece){a, b - a, lo, hi, first};
}

static void branches(struct ctx *c, size_t a, size_t b, int level);

/* One branch [a, b): its pieces, or the alternatives inside it when it was all one group. */
static void
branch(struct ctx *c, size_t a, size_t b, int level)
{
    size_t wa = a, wb = b;
    unwrap(c, &wa, &wb);
    int depth = 0, alt = 0;
    for (size_t i = wa; i < wb && !c->bad;) {
        if (depth == 0 && c->p[i] == '|') {
            alt = 1;
            break;
        }
        i = step(c, i, wb, &depth);
    }
    if (c->bad)
        return;
    if (alt) {
        if (level < MAX_DEPTH)
            branches(c, wa, wb, level + 1);
        else
            add(c, a, b, 0, 0, 1);
        return;
    }
    size_t from = wa;
    unsigned lo = 0, hi = 0;
    int first = 1;
    depth = 0;
    for (size_t i = wa; i < wb && !c->bad;) {
        unsigned glo, ghi;
        size_t after = depth == 0 ? gap_at(c->p, i, wb, &glo, &ghi) : 0;
        if (after) {
            add(c, from, i, lo, hi, first);
            first = 0;
            lo = glo;
            hi = ghi;
            from = i = after;
            continue;
        }
        i = step(c, i, wb, &depth);
    }
    add(c, from, wb, lo, hi, first);
}

/* The top-level alternatives of [a, b), each a branch. */
static void
branches(struct ctx *c, size_t a, size_t b, int level)
{
    int depth = 0;
    size_t from = a;
    for (size_t i = a; i < b && !c->bad;) {
        if (depth == 0 && c->p[i] == '|') {
            branch(c, from, i, level);
            from = ++i;
            continue;
        }
        i = step(c, i, b, &depth);
    }
    if (!c->bad && depth != 0)
        c->bad = 1;
    if (!c->bad)
        branch(c, from, b, level);
}

size_t
gw_rx_split(const char *pat, size_t len, struct gw_rx_piece *out, size_t cap)
{
    struct ctx c = {pat, out, cap, 0, 0};
    size_t a = 0, b = len;
    unwrap(&c, &a, &b);
    if (!c.bad)
        branches(&c, a, b, 0);
    if (c.bad || c.n < 2)
        return 0;
    return c.n;
}

long
gw_rx_dead_boundary(const char *x, int *len)
{
    for (size_t i = 0; x[i];) {
        if (x[i] != '\\' || !x[i + 1]) {
            i++;
            continue;
        }
        if (x[i + 1] == 'b') {
            if (i > 0 && (unsigned char)x[i - 1] >= 0x80) {
                size_t s = i - 1;
                while (s > 0 && ((unsigned char)x[s] & 0xc0) == 0x80)
                    s--;
                *len = (int)(i - s);
                return (long)s;
            }
            if ((unsigned char)x[i + 2] >= 0x80) {
                int n = 1;
                while (n < 4 && ((unsigned char)x[i + 2 + n] & 0xc0) == 0x80)
                    n++;
                *len = n;
                return (long)(i + 2);
            }
        }
        i += 2;
    }
    return -1;
}
