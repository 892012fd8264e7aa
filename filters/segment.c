/*
 * Segment and chunk services of the filter API (filter.h): role names, and the two edit
 * functions filters use to redact text.
 *
 * Ownership: a segment's text and a chunk's text are malloc'd, NUL-terminated blocks owned by
 * their list (providers/segments.c) or by the chain. An edit builds the new text in a fresh block
 * and frees the old one, so the replacement may point into the text being edited, and a filter
 * must not keep a pointer to the text across an edit.
 */
#include "filters/filter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char *const role_names[GW_ROLE_COUNT] = {
    [GW_ROLE_SYSTEM] = "system",
    [GW_ROLE_DEVELOPER] = "developer",
    [GW_ROLE_USER] = "user",
    [GW_ROLE_ASSISTANT] = "assistant",
    [GW_ROLE_TOOL_RESULT] = "tool_result",
    [GW_ROLE_TOOL_CALL_ARGS] = "tool_call_args",
    [GW_ROLE_TOOL_DEFINITION] = "tool_definition",
};

const char *
gw_role_name(enum gw_role r)
{
    if ((unsigned)r >= GW_ROLE_COUNT)
        return "unknown";
    return role_names[r];
}

int
gw_role_from_name(const char *name)
{
    if (!name)
        return -1;
    for (int r = 0; r < GW_ROLE_COUNT; r++)
        if (strcmp(name, role_names[r]) == 0)
            return r;
    if (strcmp(name, "tool") == 0)
        return GW_ROLE_TOOL_RESULT;
    return -1;
}

static int
continuation(unsigned char c)
{
    return (c & 0xC0) == 0x80;
}

/* Well-formed UTF-8 as jansson accepts it: no overlong forms, surrogates or code points past
 * U+10FFFF, so that every edited text can be stored in a JSON string. NUL bytes are fine. */
static int
utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t k;
        uint32_t cp, min;
        if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i - 1 < k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if (!continuation(s[i + j]))
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return 0;
        i += k + 1;
    }
    return 1;
}

/*
 * Replaces [off, off + len) of the tlen bytes at *text, which must end at or before limit, with
 * rlen bytes of rep; *text becomes a new malloc'd NUL-terminated block. 0, or -1 with *text
 * unchanged.
 */
static int
splice(char **text, size_t *tlen, size_t limit, size_t off, size_t len, const char *rep,
       size_t rlen)
{
    const unsigned char *t = (const unsigned char *)*text;
    if ((!t && *tlen) || (!rep && rlen) || limit > *tlen || off > limit || len > limit - off)
        return -1;
    size_t end = off + len;
    if ((off < *tlen && continuation(t[off])) || (end < *tlen && continuation(t[end])))
        return -1;
    if (!utf8_valid((const unsigned char *)rep, rlen))
        return -1;
    size_t keep = *tlen - len;
    if (rlen > SIZE_MAX - 1 - keep)
        return -1;
    char *n = malloc(keep + rlen + 1);
    if (!n)
        return -1;
    if (off)
        memcpy(n, t, off);
    if (rlen)
        memcpy(n + off, rep, rlen);
    if (*tlen - end)
        memcpy(n + off + rlen, t + end, *tlen - end);
    n[keep + rlen] = '\0';
    free(*text);
    *text = n;
    *tlen = keep + rlen;
    return 0;
}

int
gw_segment_replace(struct gw_segment *s, size_t off, size_t len, const char *rep, size_t rlen)
{
    if (!s || splice(&s->text, &s->len, s->len, off, len, rep, rlen) < 0)
        return -1;
    s->edited = 1;
    return 0;
}

int
gw_chunk_replace(struct gw_chunk *c, size_t off, size_t len, const char *rep, size_t rlen)
{
    if (!c || c->hold > c->len)
        return -1;
    /* the held tail is the last hold bytes before and after the edit */
    return splice(&c->text, &c->len, c->len - c->hold, off, len, rep, rlen);
}
