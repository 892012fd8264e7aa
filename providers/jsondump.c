/*
 * Compact JSON writer (see jsondump.h), following jansson 2.14's dump.c: compact separators,
 * object members in insertion order, strings with '"', '\\' and control characters escaped (\b \f
 * \n \r \t, else \u00XX in upper-case hex) and nothing else (no '/' escape, UTF-8 as it is),
 * integers with %lld, reals with %.<precision>g made to hold a '.' or an 'e' and with the
 * exponent's '+' and leading zeros dropped (jansson's jsonp_dtostr).
 */
#include "providers/jsondump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "providers/jsonscan.h"

/* Flags handled here; the precision lives in bits 11-15 (JSON_REAL_PRECISION). */
#define HANDLED (JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(31))
/* Deeper trees go to json_dumps (jansson's own limit is its parser's 2048). */
#define MAX_DEPTH 2048

struct out {
    char *b;
    size_t n, cap;
    int oom;
};

static int
grow(struct out *o, size_t more)
{
    if (o->oom)
        return -1;
    if (o->n + more + 1 <= o->cap)
        return 0;
    size_t cap = o->cap ? o->cap : 256;
    while (cap < o->n + more + 1)
        cap *= 2;
    char *b = realloc(o->b, cap);
    if (!b) {
        o->oom = 1;
        return -1;
    }
    o->b = b;
    o->cap = cap;
    return 0;
}

static void
put(struct out *o, const char *s, size_t n)
{
    if (grow(o, n) < 0)
        return;
    memcpy(o->b + o->n, s, n);
    o->n += n;
}

static void
putc1(struct out *o, char c)
{
    if (grow(o, 1) < 0)
        return;
    o->b[o->n++] = c;
}

/* A string: runs that need no escape are copied whole; what is not UTF-8 fails the dump (o->oom:
 * json_dumps then gives jansson's verdict, NULL). */
static void
string(struct out *o, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *u = (const unsigned char *)s, *end = u + n;
    putc1(o, '"');
    size_t i = 0;
    while (i < n) {
        size_t j = i;
        for (;;) {
            j = (size_t)(gw_json_skip_plain(u + j, end) - u);
            if (j == n || u[j] < 0x80)
                break;
            size_t k = gw_utf8_seq(u + j, end);
            if (!k) {
                o->oom = 1;
                return;
            }
            j += k;
        }
        put(o, s + i, j - i);
        if (j == n)
            break;
        unsigned char c = u[j];
        char e[6] = {'\\', 0, 0, 0, 0, 0};
        size_t k = 2;
        switch (c) {
        case '"':
        case '\\':
            e[1] = (char)c;
            break;
        case '\b':
            e[1] = 'b';
            break;
        case '\f':
            e[1] = 'f';
            break;
        case '\n':
            e[1] = 'n';
            break;
        case '\r':
            e[1] = 'r';
            break;
        case '\t':
            e[1] = 't';
            break;
        default:
            e[1] = 'u';
            e[2] = '0';
            e[3] = '0';
            e[4] = hex[c >> 4];
            e[5] = hex[c & 15];
            k = 6;
        }
        put(o, e, k);
        i = j + 1;
    }
    putc1(o, '"');
}

/* jansson's jsonp_dtostr (the locale's decimal point is '.': the gateway never sets a locale). */
static void
real(struct out *o, double v, int precision)
{
    char b[64];
    int r = snprintf(b, sizeof(b), "%.*g", precision ? precision : 17, v);
    if (r < 0 || (size_t)r >= sizeof(b) - 3) {
        o->oom = 1; /* cannot happen for a finite double: fall back to json_dumps */
        return;
    }
    size_t len = (size_t)r;
    if (!strchr(b, '.') && !strchr(b, 'e')) {
        b[len++] = '.';
        b[len++] = '0';
        b[len] = '\0';
    }
    char *start = strchr(b, 'e');
    if (start) {
        start++;
        char *end = start + 1;
        if (*start == '-')
            start++;
        while (*end == '0')
            end++;
        if (end != start) {
            memmove(start, end, len - (size_t)(end - b) + 1);
            len -= (size_t)(end - start);
        }
    }
    put(o, b, len);
}

static void
value(struct out *o, const json_t *j, int precision, unsigned depth)
{
    if (depth > MAX_DEPTH) {
        o->oom = 1;
        return;
    }
    switch (json_typeof(j)) {
    case JSON_OBJECT: {
        const char *k;
        json_t *v;
        int first = 1;
        putc1(o, '{');
        json_object_foreach((json_t *)j, k, v)
        {
            if (!first)
                putc1(o, ',');
            first = 0;
            string(o, k, json_object_iter_key_len(json_object_key_to_iter(k)));
            putc1(o, ':');
            value(o, v, precision, depth + 1);
        }
        putc1(o, '}');
        break;
    }
    case JSON_ARRAY: {
        size_t n = json_array_size(j);
        putc1(o, '[');
        for (size_t i = 0; i < n; i++) {
            if (i)
                putc1(o, ',');
            value(o, json_array_get(j, i), precision, depth + 1);
        }
        putc1(o, ']');
        break;
    }
    case JSON_STRING:
        string(o, json_string_value(j), json_string_length(j));
        break;
    case JSON_INTEGER: {
        char b[32];
        int r = snprintf(b, sizeof(b), "%" JSON_INTEGER_FORMAT, json_integer_value(j));
        put(o, b, (size_t)r);
        break;
    }
    case JSON_REAL:
        real(o, json_real_value(j), precision);
        break;
    case JSON_TRUE:
        put(o, "true", 4);
        break;
    case JSON_FALSE:
        put(o, "false", 5);
        break;
    case JSON_NULL:
        put(o, "null", 4);
        break;
    }
}

char *
gw_json_dumps(const json_t *j, size_t flags, size_t *len)
{
    char *s;
    if (!j || (flags & ~(size_t)HANDLED) || !(flags & JSON_COMPACT) ||
        (!(flags & JSON_ENCODE_ANY) && !json_is_object(j) && !json_is_array(j))) {
        s = json_dumps(j, flags);
    } else {
        struct out o = {0};
        value(&o, j, (int)(flags >> 11 & 0x1F), 0);
        if (!o.oom && grow(&o, 0) == 0) {
            o.b[o.n] = '\0';
            if (len)
                *len = o.n;
            return o.b;
        }
        free(o.b);
        s = json_dumps(j, flags); /* out of memory, or a tree too deep: jansson's verdict */
    }
    if (s && len)
        *len = strlen(s);
    return s;
}
