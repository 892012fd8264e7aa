/*
 * A growable byte string, kept NUL-terminated: the text being built by the SSE parser, the
 * egress filter's edits, the rule pack's fragment expansion and the mock upstream. Header-only
 * (the mock does not link the gateway's library), and inline: callers append in loops.
 */
#ifndef GW_STRBUF_H
#define GW_STRBUF_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* {0} is the empty string; p stays NULL until something (even "") is put. */
struct gw_strbuf {
    char *p;
    size_t len, cap;
};

/* Room for n more bytes and the NUL after them (capacity doubling from 64). -1 when out of
 * memory or the size would overflow; b is unchanged then. */
static inline int
gw_strbuf_reserve(struct gw_strbuf *b, size_t n)
{
    if (b->p && b->cap - b->len > n)
        return 0;
    size_t c = b->cap ? b->cap : 64;
    while (c - b->len <= n) {
        if (c > SIZE_MAX / 2)
            return -1;
        c *= 2;
    }
    char *q = realloc(b->p, c);
    if (!q)
        return -1;
    b->p = q;
    b->cap = c;
    return 0;
}

/* Appends n bytes at s (n may be 0: the string then exists, empty). 0, or -1 as reserve. */
static inline int
gw_strbuf_put(struct gw_strbuf *b, const void *s, size_t n)
{
    if (gw_strbuf_reserve(b, n) < 0)
        return -1;
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
    return 0;
}

#endif
