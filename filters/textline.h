/*
 * Lines of a text, for the detectors that read a document's lines (tabular.c, stray.c): the
 * white space a line is trimmed of, and the next trimmed line.
 */
#ifndef GW_TEXTLINE_H
#define GW_TEXTLINE_H

#include <stddef.h>
#include <string.h>

/* White space inside a line (not '\n'). */
static inline int
gw_line_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v';
}

/* The next line of t from *pos, trimmed: [*b, *e); 0 at the end of t. */
static inline int
gw_next_line(const char *t, size_t len, size_t *pos, size_t *b, size_t *e)
{
    if (*pos >= len)
        return 0;
    const char *nl = memchr(t + *pos, '\n', len - *pos);
    size_t end = nl ? (size_t)(nl - t) : len;
    size_t i = *pos, j = end;
    while (i < j && gw_line_blank((unsigned char)t[i]))
        i++;
    while (j > i && gw_line_blank((unsigned char)t[j - 1]))
        j--;
    *b = i;
    *e = j;
    *pos = end + 1;
    return 1;
}

#endif
