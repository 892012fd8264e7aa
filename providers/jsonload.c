/*
 * JSON trees from one validating pass (see jsonload.h).
 *
 * A recursive descent over the bytes with the validating primitives of providers/jsonscan.h:
 * gw_json_string checks a string (escapes, UTF-8, surrogates, \u0000 only in values with
 * JSON_ALLOW_NUL) and measures its unescaped length; a string without escapes (its unescaped
 * length is its raw length) becomes a node straight from the body's bytes, one with escapes is
 * unescaped once into a buffer first. gw_json_number accepts exactly the numbers jansson 2.14
 * does (integers in int64, reals whose strtod does not overflow), and strtoll / strtod read
 * them as jansson's lexer does: a number with '.', 'e' or 'E' is a real, any other an integer.
 * Nodes are made with json_*_nocheck (the bytes are already valid UTF-8) and object members set
 * with json_object_setn_new_nocheck, as jansson's parser does (a repeated key keeps its first
 * position and takes the last value).
 *
 * Measured with a throwaway benchmark (gcc 12 -O2, one core of this 2-core VM, best of 3): the
 * 4 KB chat body of bench/run.sh (bench/prompt4k.txt as one user message) json_loadb 47 us,
 * gw_json_loadb 2.4 us.
 */
#include "providers/jsonload.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "providers/jsonscan.h"

/* Longest number text read here (jansson's lexer has no such limit: longer ones go to it). */
#define NUM_MAX 64
/* Keys and strings with escapes up to this many bytes are unescaped on the stack. */
#define STACK_STR 256

struct ld {
    const unsigned char *end;
    unsigned vflags; /* jsonscan flags for string values and numbers */
    enum gw_json_fast why;
};

static json_t *value(struct ld *l, const unsigned char **pp, unsigned depth);

/* The string whose opening quote is at *pp; *pp moves past it. For keys (key != NULL) the
 * unescaped bytes are written to key (cap bytes) or, when longer, to a malloc'd buffer in *heap.
 * For values (key == NULL) the node is returned. */
static const unsigned char *
string_bytes(struct ld *l, const unsigned char **pp, unsigned flags, char *buf, size_t cap,
             char **heap, size_t *lenp)
{
    const unsigned char *s = *pp + 1;
    size_t n;
    const unsigned char *q = gw_json_string(s, l->end, NULL, 0, &n, flags);
    if (!q) {
        l->why = GW_JSON_FAST_INVALID;
        return NULL;
    }
    *pp = q;
    *lenp = n;
    if (n == (size_t)(q - 1 - s))
        return s; /* no escape: the bytes as they are */
    char *dst = buf;
    if (n > cap) {
        if (!(dst = *heap = malloc(n))) {
            l->why = GW_JSON_FAST_NOMEM;
            return NULL;
        }
    }
    gw_json_string(s, l->end, dst, n, &n, flags);
    return (const unsigned char *)dst;
}

static json_t *
string_value(struct ld *l, const unsigned char **pp)
{
    char buf[STACK_STR], *heap = NULL;
    size_t n;
    const unsigned char *s = string_bytes(l, pp, l->vflags, buf, sizeof(buf), &heap, &n);
    if (!s)
        return NULL;
    json_t *v = json_stringn_nocheck((const char *)s, n);
    free(heap);
    if (!v)
        l->why = GW_JSON_FAST_NOMEM;
    return v;
}

static json_t *
number(struct ld *l, const unsigned char **pp)
{
    const unsigned char *p = *pp, *q = gw_json_number(p, l->end, GW_JSON_JANSSON_NUMBERS);
    if (!q) {
        l->why = GW_JSON_FAST_INVALID;
        return NULL;
    }
    size_t n = (size_t)(q - p);
    if (n >= NUM_MAX) {
        l->why = GW_JSON_FAST_UNSUPPORTED;
        return NULL;
    }
    char t[NUM_MAX];
    memcpy(t, p, n);
    t[n] = '\0';
    *pp = q;
    json_t *v;
    if (memchr(t, '.', n) || memchr(t, 'e', n) || memchr(t, 'E', n))
        v = json_real(strtod(t, NULL));
    else
        v = json_integer(strtoll(t, NULL, 10));
    if (!v)
        l->why = GW_JSON_FAST_NOMEM;
    return v;
}

static json_t *
literal(struct ld *l, const unsigned char **pp, const char *word, json_t *v)
{
    size_t n = strlen(word);
    if ((size_t)(l->end - *pp) < n || memcmp(*pp, word, n) != 0) {
        l->why = GW_JSON_FAST_INVALID;
        return NULL;
    }
    *pp += n;
    return v;
}

/* One member of an object: "key": value, set into o. 0, or -1 (l->why says why). */
static int
member(struct ld *l, const unsigned char **pp, unsigned depth, json_t *o)
{
    const unsigned char *p = *pp;
    if (p == l->end || *p != '"') {
        l->why = GW_JSON_FAST_INVALID;
        return -1;
    }
    char buf[STACK_STR], *heap = NULL;
    size_t kn;
    /* keys never hold \u0000 (jansson: "NUL byte in object key not supported") */
    const unsigned char *k = string_bytes(l, &p, 0, buf, sizeof(buf), &heap, &kn);
    if (!k)
        return -1;
    p = gw_json_ws(p, l->end);
    json_t *v = NULL;
    if (p < l->end && *p == ':') {
        p = gw_json_ws(p + 1, l->end);
        v = value(l, &p, depth);
    } else {
        l->why = GW_JSON_FAST_INVALID;
    }
    int rc = v ? json_object_setn_new_nocheck(o, (const char *)k, kn, v) : -1;
    free(heap);
    if (v && rc < 0)
        l->why = GW_JSON_FAST_NOMEM;
    *pp = p;
    return rc < 0 ? -1 : 0;
}

/* One element of an array, appended to a. 0, or -1 (l->why says why). */
static int
element(struct ld *l, const unsigned char **pp, unsigned depth, json_t *a)
{
    json_t *v = value(l, pp, depth);
    if (!v)
        return -1;
    if (json_array_append_new(a, v) < 0) {
        l->why = GW_JSON_FAST_NOMEM;
        return -1;
    }
    return 0;
}

/* The object or array opening at *pp, at depth (its own level). */
static json_t *
container(struct ld *l, const unsigned char **pp, unsigned depth)
{
    int obj = **pp == '{';
    unsigned char close = obj ? '}' : ']';
    json_t *c = obj ? json_object() : json_array();
    if (!c) {
        l->why = GW_JSON_FAST_NOMEM;
        return NULL;
    }
    const unsigned char *p = gw_json_ws(*pp + 1, l->end);
    if (p < l->end && *p == close) {
        *pp = p + 1;
        return c;
    }
    for (;;) {
        if ((obj ? member(l, &p, depth, c) : element(l, &p, depth, c)) < 0)
            break;
        p = gw_json_ws(p, l->end);
        if (p < l->end && *p == ',') {
            p = gw_json_ws(p + 1, l->end);
            continue;
        }
        if (p < l->end && *p == close) {
            *pp = p + 1;
            return c;
        }
        l->why = GW_JSON_FAST_INVALID;
        break;
    }
    json_decref(c);
    return NULL;
}

/* The value at *pp (no whitespace before it) inside depth open containers. */
static json_t *
value(struct ld *l, const unsigned char **pp, unsigned depth)
{
    if (*pp == l->end) {
        l->why = GW_JSON_FAST_INVALID;
        return NULL;
    }
    switch (**pp) {
    case '{':
    case '[':
        if (depth + 1 > GW_JSON_MAX_DEPTH) {
            l->why = GW_JSON_FAST_UNSUPPORTED; /* jansson allows 2048 */
            return NULL;
        }
        return container(l, pp, depth + 1);
    case '"':
        return string_value(l, pp);
    case 't':
        return literal(l, pp, "true", json_true());
    case 'f':
        return literal(l, pp, "false", json_false());
    case 'n':
        return literal(l, pp, "null", json_null());
    default:
        return number(l, pp);
    }
}

json_t *
gw_json_load_fast(const char *buf, size_t len, size_t flags, enum gw_json_fast *why)
{
    struct ld l = {(const unsigned char *)buf + len,
                   flags & JSON_ALLOW_NUL ? GW_JSON_ALLOW_NUL : 0u, GW_JSON_FAST_OK};
    *why = GW_JSON_FAST_UNSUPPORTED;
    if (flags & ~(size_t)(JSON_ALLOW_NUL | JSON_DECODE_ANY))
        return NULL;
    const unsigned char *p = gw_json_ws((const unsigned char *)buf, l.end);
    if (!(flags & JSON_DECODE_ANY) && (p == l.end || (*p != '{' && *p != '['))) {
        *why = GW_JSON_FAST_INVALID;
        return NULL;
    }
    json_t *v = value(&l, &p, 0);
    if (v && gw_json_ws(p, l.end) != l.end) {
        json_decref(v);
        v = NULL;
        l.why = GW_JSON_FAST_INVALID; /* jansson: "end of file expected" */
    }
    *why = v ? GW_JSON_FAST_OK : l.why;
    return v;
}

json_t *
gw_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    enum gw_json_fast why;
    json_t *v = gw_json_load_fast(buf, len, flags, &why);
    if (v)
        return v;
    /* jansson's own verdict and message: the error, or a tree the fast path does not build */
    json_error_t e;
    return json_loadb(buf, len, flags, err ? err : &e);
}
