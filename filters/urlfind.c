/*
 * Finding URLs in free text and in JSON (see urlfind.h for what counts). Free text is read with
 * one byte-class lookup per byte and allocates nothing; JSON is walked lexically (no tree), its
 * strings decoded one at a time, and edited in place.
 */
#include "filters/urlfind.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/hexdigit.h"
#include "gateway/strbuf.h"
#include "filters/url.h"

/* ---- byte classes ---- */

#define C_ALPHA 0x001u  /* A-Z a-z */
#define C_DIGIT 0x002u  /* 0-9 */
#define C_SCHEME 0x004u /* in a scheme: letters, digits, '+', '-', '.' */
#define C_END 0x008u    /* ends a URL: white space, controls, " ' < > ` { } | ^ */
#define C_TRAIL 0x010u  /* sentence punctuation dropped from a URL's end: . , ; : ! ? */
#define C_BEFORE 0x020u /* may precede a protocol-relative "//": space, quotes, ( < > [ = , */
#define C_HOST 0x040u   /* may start a host after "//": letters, digits, non-ASCII, [ % _ @ */
#define C_LABEL 0x080u  /* in a bare host name: letters, digits, '-', '_', '%', non-ASCII */
#define C_WORD 0x100u   /* continues a word ("www." must start one) */
#define C_SLOW 0x200u   /* url_end looks closer: '\', brackets, leads of Unicode spaces */
#define C_TRIG 0x400u   /* may start a URL: ':', '/', '\', 'w', 'W' */
#define C_HEX 0x800u    /* 0-9 A-F a-f */
#define C_JSON 0x1000u  /* JSON structure: " { } [ ] , : */

#define K_CTL C_END
#define K_WS (C_END | C_BEFORE)
#define K_LET (C_ALPHA | C_SCHEME | C_HOST | C_LABEL | C_WORD)
#define K_HEXL (K_LET | C_HEX)
#define K_DIG (C_DIGIT | C_SCHEME | C_HOST | C_LABEL | C_WORD | C_HEX)
#define K_HI (C_HOST | C_LABEL)

#define R1(c, k) [(c)] = (k)
#define R2(c, k) R1(c, k), R1((c) + 1, k)
#define R4(c, k) R2(c, k), R2((c) + 2, k)
#define R8(c, k) R4(c, k), R4((c) + 4, k)
#define R16(c, k) R8(c, k), R8((c) + 8, k)
#define R32(c, k) R16(c, k), R16((c) + 16, k)
#define R64(c, k) R32(c, k), R32((c) + 32, k)

/* One lookup per byte on the hot path. */
static const uint16_t cls[256] = {
    R8(0x00, K_CTL),
    R1(0x08, K_CTL),
    R4(0x09, K_WS),
    R1(0x0D, K_WS),
    R2(0x0E, K_CTL),
    R16(0x10, K_CTL),
    R1(' ', K_WS),
    R1('!', C_TRAIL),
    R1('"', C_END | C_BEFORE | C_JSON),
    R1('%', C_HOST | C_LABEL),
    R1('\'', C_END | C_BEFORE),
    R1('(', C_BEFORE | C_SLOW),
    R1(')', C_SLOW),
    R1('+', C_SCHEME | C_WORD),
    R1(',', C_TRAIL | C_BEFORE | C_JSON),
    R1('-', C_SCHEME | C_LABEL | C_WORD),
    R1('.', C_SCHEME | C_TRAIL | C_WORD),
    R1('/', C_WORD | C_TRIG),
    R8('0', K_DIG),
    R2('8', K_DIG),
    R1(':', C_TRAIL | C_TRIG | C_JSON),
    R1(';', C_TRAIL),
    R1('<', C_END | C_BEFORE),
    R1('=', C_BEFORE),
    R1('>', C_END | C_BEFORE),
    R1('?', C_TRAIL),
    R1('@', C_HOST | C_WORD),
    R4('A', K_HEXL),
    R2('E', K_HEXL),
    R16('G', K_LET),
    R1('W', K_LET | C_TRIG),
    R2('X', K_LET),
    R1('Z', K_LET),
    R1('[', C_HOST | C_BEFORE | C_SLOW | C_JSON),
    R1('\\', C_WORD | C_TRIG | C_SLOW),
    R1(']', C_SLOW | C_JSON),
    R1('^', C_END),
    R1('_', C_HOST | C_LABEL | C_WORD),
    R1('`', C_END | C_BEFORE),
    R4('a', K_HEXL),
    R2('e', K_HEXL),
    R16('g', K_LET),
    R1('w', K_LET | C_TRIG),
    R2('x', K_LET),
    R1('z', K_LET),
    R1('{', C_END | C_JSON),
    R1('|', C_END),
    R1('}', C_END | C_JSON),
    R1(0x7F, K_CTL),
    R64(0x80, K_HI),
    R2(0xC0, K_HI),
    R1(0xC2, K_HI | C_SLOW),
    R16(0xC3, K_HI),
    R8(0xD3, K_HI),
    R4(0xDB, K_HI),
    R2(0xDF, K_HI),
    R1(0xE1, K_HI),
    R2(0xE2, K_HI | C_SLOW),
    R16(0xE4, K_HI),
    R8(0xF4, K_HI),
    R4(0xFC, K_HI),
};

#undef R64
#undef R32
#undef R16
#undef R8
#undef R4
#undef R2
#undef R1

static int
is_digit(unsigned char c)
{
    return (cls[c] & C_DIGIT) != 0;
}

/* Whether s (n bytes) is w (n bytes, lower case) in any ASCII case; not the locale's idea. */
static int
ascii_ieq(const unsigned char *s, const char *w, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        if ((c >= 'A' && c <= 'Z' ? c | 0x20 : c) != (unsigned char)w[i])
            return 0;
    }
    return 1;
}

static int
hex4(const unsigned char *p)
{
    return (cls[p[0]] & cls[p[1]] & cls[p[2]] & cls[p[3]] & C_HEX) != 0;
}

/* ---- pieces of the free-text rules ---- */

/*
 * Length of the Unicode space at t[i] (n bytes in all), 0 when there is none: U+00A0, U+2000 to
 * U+200A, U+2028, U+2029, U+202F, U+205F, U+3000.
 */
static size_t
uspace_at(const unsigned char *t, size_t n, size_t i)
{
    unsigned char c = t[i];
    if (c == 0xC2)
        return i + 1 < n && t[i + 1] == 0xA0 ? 2 : 0;
    if ((c != 0xE2 && c != 0xE3) || i + 2 >= n)
        return 0;
    unsigned char c1 = t[i + 1], c2 = t[i + 2];
    if (c == 0xE3)
        return c1 == 0x80 && c2 == 0x80 ? 3 : 0;
    if (c1 == 0x80 && ((c2 >= 0x80 && c2 <= 0x8A) || c2 == 0xA8 || c2 == 0xA9 || c2 == 0xAF))
        return 3;
    return c1 == 0x81 && c2 == 0x9F ? 3 : 0;
}

/* Whether a Unicode space ends just before t[i]. */
static int
uspace_before(const unsigned char *t, size_t i)
{
    return (i >= 2 && uspace_at(t, i, i - 2) == 2) || (i >= 3 && uspace_at(t, i, i - 3) == 3);
}

/* Whether the 3 bytes at p are CJK / full-width sentence punctuation or a closing bracket. */
static int
cjk_trail(const unsigned char *p)
{
    if (p[0] == 0xE3 && p[1] == 0x80) /* U+3001 U+3002 U+300D U+300F U+3011 */
        return p[2] == 0x81 || p[2] == 0x82 || p[2] == 0x8D || p[2] == 0x8F || p[2] == 0x91;
    if (p[0] == 0xEF && p[1] == 0xBC) /* U+FF01 U+FF09 U+FF0C U+FF0E U+FF1A U+FF1B U+FF1F */
        return p[2] == 0x81 || p[2] == 0x89 || p[2] == 0x8C || p[2] == 0x8E || p[2] == 0x9A ||
               p[2] == 0x9B || p[2] == 0x9F;
    return 0;
}

/* Whether t[i - 2], t[i - 1] is a JSON escape of a line break or tab (raw JSON read as text). */
static int
escape_before(const unsigned char *t, size_t i)
{
    return i >= 2 && t[i - 2] == '\\' && (t[i - 1] == 'n' || t[i - 1] == 't' || t[i - 1] == 'r');
}

/* Whether a word may start at t[i] (i > 0): "www." and, through C_BEFORE, "//". */
static int
word_start(const unsigned char *t, size_t i)
{
    unsigned char c = t[i - 1];
    if (c >= 0x80)
        return uspace_before(t, i);
    if (cls[c] & C_WORD)
        return escape_before(t, i);
    return 1;
}

static int
slash_start(const unsigned char *t, size_t i)
{
    unsigned char c = t[i - 1];
    if (cls[c] & C_BEFORE)
        return 1;
    if (c >= 0x80)
        return uspace_before(t, i);
    return escape_before(t, i);
}

/*
 * Reads slashes at t[p]: '/', the JSON escape "\/" (one slash), and, when bs, '\' (but not the
 * '\' of an escaped quote). Returns how many, with *q after them.
 */
static size_t
slashes(const unsigned char *t, size_t n, size_t p, int bs, size_t *q)
{
    size_t u = 0;
    while (p < n) {
        if (t[p] == '/')
            p++;
        else if (t[p] == '\\' && p + 1 < n && t[p + 1] == '/')
            p += 2;
        else if (t[p] == '\\' && bs && !(p + 1 < n && t[p + 1] == '"'))
            p++;
        else
            break;
        u++;
    }
    *q = p;
    return u;
}

struct brk {
    size_t po, pc, bo, bc; /* '(' ')' '[' ']' seen */
};

/* Where a URL whose text goes on at t[i] ends (exclusive), counting brackets into *b. */
static size_t
url_end(const unsigned char *t, size_t n, size_t i, struct brk *b)
{
    for (; i < n; i++) {
        unsigned k = cls[t[i]];
        if (!(k & (C_END | C_SLOW)))
            continue;
        if (k & C_END)
            break;
        switch (t[i]) {
        case '\\':
            if (i + 1 < n && t[i + 1] == '"')
                return i;
            break;
        case '(':
            b->po++;
            break;
        case ')':
            b->pc++;
            break;
        case '[':
            b->bo++;
            break;
        case ']':
            b->bc++;
            break;
        default:
            if (uspace_at(t, n, i))
                return i;
            break;
        }
    }
    return i;
}

/* e moved back over trailing punctuation and unbalanced closing brackets, not below a. */
static size_t
trim_end(const unsigned char *t, size_t a, size_t e, struct brk *b)
{
    while (e > a) {
        unsigned char c = t[e - 1];
        if (cls[c] & C_TRAIL)
            e--;
        else if (c == ')' && b->pc > b->po)
            e--, b->pc--;
        else if (c == ']' && b->bc > b->bo)
            e--, b->bc--;
        else if (e - a >= 3 && c >= 0x80 && cjk_trail(t + e - 3))
            e -= 3;
        else
            break;
    }
    return e;
}

/* The end of a URL whose text goes on at t[i], trimmed, not below i. */
static size_t
url_span_end(const unsigned char *t, size_t n, size_t i)
{
    struct brk b = {0, 0, 0, 0};
    return trim_end(t, i, url_end(t, n, i, &b), &b);
}

enum { SCH_OTHER = 0, SCH_SPECIAL, SCH_FILE };

/* http, https, ws, wss, ftp: SCH_SPECIAL; file: SCH_FILE; any case. */
static int
scheme_kind(const unsigned char *s, size_t n)
{
    char b[5];
    if (n < 2 || n > 5)
        return SCH_OTHER;
    for (size_t i = 0; i < n; i++)
        b[i] = (char)(s[i] | 0x20); /* only letters compare equal below */
    if (n == 4 && memcmp(b, "file", 4) == 0)
        return SCH_FILE;
    if ((n == 4 && memcmp(b, "http", 4) == 0) || (n == 5 && memcmp(b, "https", 5) == 0) ||
        (n == 2 && memcmp(b, "ws", 2) == 0) || (n == 3 && memcmp(b, "wss", 3) == 0) ||
        (n == 3 && memcmp(b, "ftp", 3) == 0))
        return SCH_SPECIAL;
    return SCH_OTHER;
}

/*
 * Where the scheme ending at the ':' t[s] starts (s when there is none): the run of scheme
 * characters before it (not below lo), without a JSON escape letter that a '\' before the run
 * owns (`\nhttp:`, `\u0068ttp:`), from its first letter on.
 */
static size_t
scheme_start(const unsigned char *t, size_t lo, size_t s)
{
    size_t k = s;
    while (k > lo && (cls[t[k - 1]] & C_SCHEME))
        k--;
    if (k > lo && k < s && t[k - 1] == '\\') {
        unsigned char c = t[k];
        if (c == 'n' || c == 't' || c == 'r' || c == 'b' || c == 'f')
            k++;
        else if (c == 'u' && s - k >= 5 && hex4(t + k + 1))
            k += 5;
    }
    while (k < s && !(cls[t[k]] & C_ALPHA))
        k++;
    return k;
}

/* A URL with a scheme whose ':' is t[s]: 1 with its span [*a, *e). */
static int
at_colon(const unsigned char *t, size_t n, size_t lo, size_t s, size_t *a, size_t *e)
{
    size_t k = scheme_start(t, lo, s);
    if (k == s)
        return 0;
    int kind = scheme_kind(t + k, s - k);
    size_t q;
    /* a '\' is a slash for the special schemes, and for the others unless the "scheme" is one
     * letter: C:\Users is a Windows path */
    size_t u = slashes(t, n, s + 1, kind != SCH_OTHER || s - k > 1, &q);
    if ((kind == SCH_OTHER && u < 2) || (kind == SCH_FILE && u < 1))
        return 0;
    size_t end = url_span_end(t, n, q);
    if (end <= q) /* nothing after the slashes: "http://" in prose */
        return 0;
    *a = k;
    *e = end;
    return 1;
}

/* A protocol-relative URL starting at the slash t[i]. */
static int
at_slash(const unsigned char *t, size_t n, size_t i, size_t *a, size_t *e)
{
    if (i > 0 && !slash_start(t, i))
        return 0;
    size_t q, u = slashes(t, n, i, 1, &q);
    if (u < 2 || q >= n || !(cls[t[q]] & C_HOST))
        return 0;
    size_t end = url_span_end(t, n, q);
    if (end <= q)
        return 0;
    *a = i;
    *e = end;
    return 1;
}

/* "www." starting a word at t[i]. */
static int
at_www(const unsigned char *t, size_t n, size_t i, size_t *a, size_t *e)
{
    if (n - i < 5 || (t[i + 1] | 0x20) != 'w' || (t[i + 2] | 0x20) != 'w' || t[i + 3] != '.')
        return 0;
    unsigned char h = t[i + 4];
    if (h < 0x80 && !(cls[h] & (C_ALPHA | C_DIGIT)))
        return 0;
    if (i > 0 && !word_start(t, i))
        return 0;
    size_t end = url_span_end(t, n, i + 4);
    if (end <= i + 4)
        return 0;
    *a = i;
    *e = end;
    return 1;
}

int
gw_urlfind_next(const char *text, size_t n, size_t *pos, size_t *off, size_t *len, unsigned *flags)
{
    const unsigned char *t = (const unsigned char *)text;
    size_t lo = *pos;
    for (size_t i = lo; i < n; i++) {
        if (!(cls[t[i]] & C_TRIG))
            continue;
        size_t a, e;
        unsigned f = 0;
        int found;
        if (t[i] == ':') {
            found = at_colon(t, n, lo, i, &a, &e);
        } else if (t[i] == '/' || t[i] == '\\') {
            found = at_slash(t, n, i, &a, &e);
        } else {
            found = at_www(t, n, i, &a, &e);
            f = GW_URLFIND_BARE;
        }
        if (found) {
            *off = a;
            *len = e - a;
            *flags = f;
            *pos = e;
            return 1;
        }
    }
    *pos = n < lo ? lo : n;
    return 0;
}

/* ---- whole values ---- */

enum hkind { H_NONE = 0, H_V6, H_V4, H_DOMAIN, H_SINGLE };

struct hinfo {
    enum hkind kind;
    int parts;      /* H_V4: 1 to 4 */
    int hex;        /* H_V4: a part written 0x... or 0-prefixed octal (nobody's netmask) */
    uint64_t value; /* H_V4 of one part (saturated above 2^32) */
    int localhost;  /* H_SINGLE: "localhost" */
};

/* Length of the label separator at h[i]: '.', U+3002, U+FF0E, U+FF61 (IDNA maps them to '.'). */
static size_t
label_sep(const unsigned char *h, size_t n, size_t i)
{
    if (h[i] == '.')
        return 1;
    if (i + 2 >= n)
        return 0;
    if ((h[i] == 0xE3 && h[i + 1] == 0x80 && h[i + 2] == 0x82) ||
        (h[i] == 0xEF && h[i + 1] == 0xBC && h[i + 2] == 0x8E) ||
        (h[i] == 0xEF && h[i + 1] == 0xBD && h[i + 2] == 0xA1))
        return 3;
    return 0;
}

/* An IPv4 number (decimal, 0x hex, 0-prefixed octal) as the URL standard reads it: 1 with its
 * value (saturated), 0 when the label is not one (letters), -1 when it is written like one but
 * invalid ("08"). */
static int
v4_number(const unsigned char *p, size_t n, uint64_t *v, int *hex)
{
    size_t k = n >= 2 && p[0] == '0' && (p[1] | 0x20) == 'x' ? 2 : 0;
    for (size_t i = k; i < n; i++)
        if (!(cls[p[i]] & (k ? C_HEX : C_DIGIT)))
            return 0;
    return gw_url_ipv4_number((const char *)p, n, v, hex) == 0 ? 1 : -1;
}

/* Classifies the host h[0..n) (label characters and separators, percent-decoded). */
static void
classify_plain(const unsigned char *h, size_t n, struct hinfo *hi)
{
    size_t labels = 0, i = 0, last = 0, last_len = 0;
    int numeric = 1, last_numeric = 0, hex = 0;
    uint64_t vals[4] = {0, 0, 0, 0};
    hi->kind = H_NONE;
    for (;;) {
        size_t start = i, sl = 0;
        while (i < n && !(sl = label_sep(h, n, i))) {
            if (!(cls[h[i]] & C_LABEL) || h[i] == '%')
                return;
            i++;
        }
        if (i == start)
            return; /* an empty label: "a..b", ".a", "a.." */
        uint64_t v = 0;
        int r = v4_number(h + start, i - start, &v, &hex);
        last_numeric = r != 0;
        if (r <= 0)
            numeric = 0;
        else if (labels < 4)
            vals[labels] = v;
        labels++;
        last = start;
        last_len = i - start;
        if (i == n)
            break;
        i += sl;
        if (i == n)
            break; /* one trailing dot */
    }
    if (numeric) {
        if (labels > 4)
            return;
        for (size_t k = 0; k + 1 < labels; k++)
            if (vals[k] > 255)
                return;
        if (vals[labels - 1] >= (1ull << (8 * (5 - labels))))
            return;
        hi->kind = H_V4;
        hi->parts = (int)labels;
        hi->hex = hex;
        hi->value = vals[0];
        return;
    }
    if (last_numeric) /* the URL standard fails a host that ends in a number but is no IPv4 */
        return;
    if (labels == 1) {
        hi->kind = H_SINGLE;
        hi->localhost = last_len == 9 && ascii_ieq(h + last, "localhost", 9);
        return;
    }
    const unsigned char *tld = h + last;
    if (last_len >= 4 && ascii_ieq(tld, "xn--", 4)) {
        hi->kind = H_DOMAIN;
        return;
    }
    if (last_len < 2)
        return;
    for (size_t k = 0; k < last_len; k++)
        if (tld[k] < 0x80 && !(cls[tld[k]] & C_ALPHA))
            return;
    hi->kind = H_DOMAIN;
}

#define HOST_MAX 255

static void
classify(const unsigned char *h, size_t n, struct hinfo *hi)
{
    if (!memchr(h, '%', n)) {
        classify_plain(h, n, hi);
        return;
    }
    unsigned char buf[HOST_MAX];
    size_t m = 0;
    hi->kind = H_NONE;
    for (size_t i = 0; i < n; i++) {
        if (m == sizeof(buf))
            return; /* longer than any host */
        if (h[i] != '%') {
            buf[m++] = h[i];
            continue;
        }
        if (i + 2 >= n || gw_hex_value(h[i + 1]) < 0 || gw_hex_value(h[i + 2]) < 0)
            return; /* a '%' that starts no escape: the standard refuses it in a host */
        buf[m++] = (unsigned char)(gw_hex_value(h[i + 1]) * 16 + gw_hex_value(h[i + 2]));
        i += 2;
    }
    for (size_t i = 0; i < m; i++)
        if (!(cls[buf[i]] & C_LABEL) && buf[i] != '.')
            return; /* "%2f", "%20": not a host */
    classify_plain(buf, m, hi);
}

int
gw_urlfind_whole(const char *str, size_t n, int hint, size_t *off, size_t *len)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t a = 0, b = n;
    while (a < b && s[a] <= 0x20)
        a++;
    while (b > a && s[b - 1] <= 0x20)
        b--;
    if (a == b)
        return 0;
    struct hinfo hi = {H_NONE, 0, 0, 0, 0};
    size_t h;
    if (s[a] == '[') {
        size_t i = a + 1, colons = 0;
        for (; i < b && s[i] != ']'; i++) {
            if (s[i] == ':')
                colons++;
            else if (!(cls[s[i]] & C_HEX) && s[i] != '.')
                return 0;
        }
        if (i == b || colons < 2)
            return 0;
        h = i + 1;
        hi.kind = H_V6;
    } else {
        h = a;
        while (h < b && ((cls[s[h]] & C_LABEL) || s[h] == '.'))
            h++;
        if (h == a)
            return 0;
        classify(s + a, h - a, &hi);
        if (hi.kind == H_NONE)
            return 0;
    }
    size_t p = h;
    int port = 0, path = 0;
    unsigned long pv = 0;
    if (p < b && s[p] == ':') {
        size_t d = ++p;
        for (; p < b && is_digit(s[p]); p++)
            if (pv < 1000000)
                pv = pv * 10 + (unsigned long)(s[p] - '0');
        port = p > d;
    }
    if (p < b) {
        if (s[p] == '/' || s[p] == '\\' || s[p] == '?')
            path = 1; /* a '#' alone sends nothing more than the host: as if alone */
        else if (s[p] != '#')
            return 0;
    }
    int yes = 0;
    switch (hi.kind) {
    case H_V6:
        yes = 1;
        break;
    case H_V4:
        if (hi.parts == 4) /* alone it may be a netmask, a version, a bind address */
            yes = hint || hi.hex || port || path;
        else if (hi.parts > 1)
            yes = hint || hi.hex || port || path;
        else
            yes = ((hi.hex || hi.value >= (1u << 24)) && (hint || port || path)) ||
                  (port && pv >= 60);
        break;
    case H_DOMAIN:
        yes = hint || port || path;
        break;
    case H_SINGLE:
        yes = (port && (hi.localhost || hint || pv >= 80)) || (hi.localhost && (hint || path));
        break;
    case H_NONE:
        break;
    }
    if (!yes)
        return 0;
    *off = a;
    *len = b - a;
    return 1;
}

/* ---- key hints ---- */

int
gw_urlfind_key_hint(const char *key, size_t n)
{
    static const char *const words[] = {
        /* not "target" or "destination": they name files as often as hosts */
        "url",  "uri",     "link", "href",    "host",     "domain",   "endpoint", "server",
        "site", "address", "src",  "webhook", "callback", "redirect", "origin",   "location",
    };
    const unsigned char *k = (const unsigned char *)key;
    /* "ip" as a word: ip, ip_addr, server_ip, serverIp (not zip, script, recipient) */
    if (n >= 2) {
        int first = (k[0] | 0x20) == 'i' && (k[1] | 0x20) == 'p' &&
                    (n == 2 || k[2] == '_' || k[2] == '-' || k[2] == '.');
        int last = (k[n - 2] == 'I' || (k[n - 2] == 'i' && n >= 3 &&
                                        (k[n - 3] == '_' || k[n - 3] == '-' || k[n - 3] == '.'))) &&
                   (k[n - 1] | 0x20) == 'p';
        if (first || last)
            return 1;
    }
    for (size_t i = 0; i + 3 <= n; i++) {
        unsigned char c = k[i] >= 'A' && k[i] <= 'Z' ? k[i] | 0x20 : k[i];
        for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
            if (c != (unsigned char)words[w][0])
                continue;
            size_t l = strlen(words[w]);
            if (l <= n - i && ascii_ieq(k + i, words[w], l))
                return 1;
        }
    }
    return 0;
}

/* ---- output ---- */

/*
 * A text being edited: replacements come in increasing order of their start; one that starts
 * inside an earlier replacement only extends it (a whole value and a URL inside it).
 */
struct editor {
    const unsigned char *s;
    size_t n;
    struct gw_strbuf rb; /* the edited text, up to done */
    size_t done;
    int replaced;
};

static int
ed_replace(struct editor *ed, size_t a, size_t b, const void *with, size_t wlen)
{
    if (ed->replaced && a < ed->done) {
        if (b > ed->done)
            ed->done = b;
        return 0;
    }
    if (gw_strbuf_put(&ed->rb, ed->s + ed->done, a - ed->done) ||
        gw_strbuf_put(&ed->rb, with, wlen))
        return -1;
    ed->done = b;
    ed->replaced = 1;
    return 0;
}

static int
ed_finish(struct editor *ed)
{
    return gw_strbuf_put(&ed->rb, ed->s + ed->done, ed->n - ed->done);
}

struct sink {
    gw_urlfind_visit v;
    void *ctx;
    const char *marker;
    size_t mlen;
    int marker_utf8; /* the marker may go into a JSON string */
    int want_out;
    long count;
};

/* Text whose URLs are visited: offsets are base + the URL's position when exact, else base. */
struct piece {
    struct editor *ed;
    size_t base;
    int exact;
    int fixed; /* a key (or a string whose role is unknown): never replaced */
};

static int
emit(struct sink *k, struct piece *pc, size_t a, size_t b, unsigned flags)
{
    k->count++;
    if (!k->v)
        return 0;
    int r = k->v(k->ctx, (const char *)pc->ed->s + a, b - a, flags,
                 pc->exact ? pc->base + a : pc->base);
    if (r < 0)
        return -1;
    if (r == 0 || !k->want_out)
        return 0;
    if (pc->fixed)
        return -2;
    return ed_replace(pc->ed, a, b, k->marker, k->mlen);
}

static long
finish(struct editor *doc, long count, int rc, char **out, size_t *outlen)
{
    if (rc == 0 && doc->replaced && ed_finish(doc))
        rc = -1;
    if (rc != 0 || !doc->replaced) {
        free(doc->rb.p);
        return rc != 0 ? rc : count;
    }
    *out = doc->rb.p;
    if (outlen)
        *outlen = doc->rb.len;
    return count;
}

static int
utf8_valid(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3, cp = c & 0x07;
        } else {
            return 0;
        }
        if (n - i <= k)
            return 0;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            cp = cp << 6 | (s[i + j] & 0x3F);
        }
        if ((k == 2 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) ||
            (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)))
            return 0;
        i += k + 1;
    }
    return 1;
}

static void
sink_init(struct sink *k, gw_urlfind_visit v, void *ctx, const char *marker, char **out)
{
    k->v = v;
    k->ctx = ctx;
    k->marker = marker ? marker : "";
    k->mlen = strlen(k->marker);
    k->marker_utf8 = utf8_valid((const unsigned char *)k->marker, k->mlen);
    k->want_out = out != NULL;
    k->count = 0;
}

long
gw_urlfind_text(const char *t, size_t n, gw_urlfind_visit v, void *ctx, const char *marker,
                char **out, size_t *outlen)
{
    struct sink k;
    struct editor doc = {(const unsigned char *)t, n, {NULL, 0, 0}, 0, 0};
    struct piece pc = {&doc, 0, 1, 0};
    size_t pos = 0, o, l;
    unsigned f;
    int rc = 0;
    if (out)
        *out = NULL;
    if (outlen)
        *outlen = 0;
    sink_init(&k, v, ctx, marker, out);
    while (rc == 0 && gw_urlfind_next(t, n, &pos, &o, &l, &f))
        rc = emit(&k, &pc, o, o + l, f);
    return finish(&doc, k.count, rc, out, outlen);
}

/* ---- one string: URLs in it, and the string as one URL ---- */

static int
is_tnl(unsigned char c)
{
    return c == '\t' || c == '\n' || c == '\r';
}

static void
trim_range(const unsigned char *s, size_t n, size_t *a, size_t *b)
{
    *a = 0, *b = n;
    while (*a < *b && s[*a] <= 0x20)
        (*a)++;
    while (*b > *a && s[*b - 1] <= 0x20)
        (*b)--;
}

/*
 * The span [a, b) of s found at the start of a string (whose text ends at b0) extended to the
 * host a URL parser given the whole string reaches: when the authority goes on past b and holds
 * an '@', what precedes it is user info ("https://ok.example @evil.example/").
 */
static size_t
extend_authority(const unsigned char *s, size_t n, size_t a, size_t b, size_t b0, unsigned f)
{
    size_t auth;
    int bs = 1;
    if (f & GW_URLFIND_BARE) {
        auth = a;
    } else if (s[a] == '/' || s[a] == '\\') {
        slashes(s, n, a, 1, &auth);
    } else {
        size_t c = a;
        while (c < b && s[c] != ':')
            c++;
        if (c == b)
            return b;
        int kind = scheme_kind(s + a, c - a);
        bs = kind != SCH_OTHER;
        if (slashes(s, n, c + 1, bs || c - a > 1, &auth) < 2 && kind == SCH_OTHER)
            return b;
    }
    size_t e = auth, at = SIZE_MAX;
    for (; e < b0; e++) {
        unsigned char c = s[e];
        if (c == '/' || c == '?' || c == '#' || (bs && c == '\\'))
            break;
        if (c == '@' && e >= b)
            at = e;
    }
    if (at == SIZE_MAX)
        return b;
    return url_span_end(s, n, at + 1);
}

/* Maps positions in a copy without tab and newline bytes back to the original, in order. */
struct smap {
    const unsigned char *s;
    size_t n, oi, ki;
};

static size_t
smap_at(struct smap *m, size_t k)
{
    for (;;) {
        while (m->oi < m->n && is_tnl(m->s[m->oi]))
            m->oi++;
        if (m->ki == k || m->oi >= m->n)
            return m->oi;
        m->oi++, m->ki++;
    }
}

/*
 * Visits the URLs of s (n bytes: pc's text, or a copy of it without tab and newline bytes, then
 * m maps back): the whole string when gw_urlfind_whole takes it, then gw_urlfind_next's URLs
 * (in a JSON string, the first extended when it starts the string). *found counts them.
 */
static int
scan_core(struct sink *k, struct piece *pc, const unsigned char *s, size_t n, struct smap *m,
          int whole_ok, int hint, int jstr, int *found)
{
    size_t a0, b0, wo = 0, wl = 0, pos = 0, o, l;
    unsigned f;
    int rc;
    trim_range(s, n, &a0, &b0);
    int wm = whole_ok && gw_urlfind_whole((const char *)s, n, hint, &wo, &wl);
    if (wm) {
        size_t oa = wo, ob = wo + wl;
        if (m)
            trim_range(pc->ed->s, pc->ed->n, &oa, &ob);
        (*found)++;
        if ((rc = emit(k, pc, oa, ob, GW_URLFIND_BARE)))
            return rc;
    }
    while (gw_urlfind_next((const char *)s, n, &pos, &o, &l, &f)) {
        if (wm && o == wo)
            continue; /* the same URL as the whole value */
        size_t e = o + l;
        if (jstr && o == a0)
            pos = e = extend_authority(s, n, o, e, b0, f);
        size_t oa = o, ob = e;
        if (m) {
            oa = smap_at(m, o);
            ob = smap_at(m, e - 1) + 1;
        }
        (*found)++;
        if ((rc = emit(k, pc, oa, ob, f)))
            return rc;
    }
    return 0;
}

/*
 * Visits the URLs of pc's text (jstr: a JSON string, which a tool may hand whole to a URL
 * parser). When a JSON string has none and is one word broken only by tab and newline bytes
 * (which URL parsers remove: "h\tttps:evil.example", "10.0.0.\n1"), it is read again without
 * them.
 */
static int
scan_string(struct sink *k, struct piece *pc, int whole_ok, int hint, int jstr)
{
    const unsigned char *s = pc->ed->s;
    size_t n = pc->ed->n, a, b, kept = 0;
    int found = 0, tnl = 0;
    int rc = scan_core(k, pc, s, n, NULL, whole_ok, hint, jstr, &found);
    if (rc || found || !jstr)
        return rc;
    trim_range(s, n, &a, &b);
    for (size_t i = a; i < b; i++) {
        if (is_tnl(s[i]))
            tnl = 1;
        else if (s[i] <= 0x20)
            return 0;
    }
    if (!tnl)
        return 0;
    unsigned char *c = malloc(n);
    if (!c)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!is_tnl(s[i]))
            c[kept++] = s[i];
    struct smap m = {s, n, 0, 0};
    rc = scan_core(k, pc, c, kept, &m, whole_ok, hint, 1, &found);
    free(c);
    return rc;
}

/* ---- JSON ---- */

#define NEST_MAX 8     /* JSON in strings, levels */
#define FRAMES_MAX 256 /* containers whose keys are tracked */

static int
jdecode_u(const unsigned char *r, size_t n, size_t i, uint32_t *cp)
{
    if (n - i < 6 || r[i] != '\\' || r[i + 1] != 'u' || !hex4(r + i + 2))
        return 0;
    *cp = (uint32_t)(gw_hex_value(r[i + 2]) << 12 | gw_hex_value(r[i + 3]) << 8 |
                     gw_hex_value(r[i + 4]) << 4 | gw_hex_value(r[i + 5]));
    return 1;
}

static size_t
utf8_put(unsigned char *d, uint32_t cp)
{
    if (cp < 0x80) {
        d[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        d[0] = (unsigned char)(0xC0 | cp >> 6);
        d[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) { /* a lone surrogate too (its WTF-8 form, written back as \uXXXX) */
        d[0] = (unsigned char)(0xE0 | cp >> 12);
        d[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        d[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    d[0] = (unsigned char)(0xF0 | cp >> 18);
    d[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    d[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
    d[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

/*
 * Decodes the body of a JSON string (r, n bytes, between the quotes) into out. Never fails on
 * the input: an unknown escape is kept as written, a lone surrogate becomes its 3-byte form.
 */
static int
jdecode(const unsigned char *r, size_t n, struct gw_strbuf *out)
{
    out->len = 0;
    if (gw_strbuf_reserve(out, n)) /* never longer than the escaped text */
        return -1;
    unsigned char *d = (unsigned char *)out->p;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        if (r[i] != '\\' || i + 1 == n) {
            d[o++] = r[i++];
            continue;
        }
        static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
        const char *p = r[i + 1] ? strchr(from, r[i + 1]) : NULL;
        uint32_t cp, lo;
        if (p) {
            d[o++] = (unsigned char)to[p - from];
            i += 2;
        } else if (jdecode_u(r, n, i, &cp)) {
            i += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF && jdecode_u(r, n, i, &lo) && lo >= 0xDC00 &&
                lo <= 0xDFFF) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                i += 6;
            }
            o += utf8_put(d + o, cp);
        } else {
            d[o++] = r[i++];
        }
    }
    out->len = o;
    d[o] = '\0';
    return 0;
}

/* Appends s (n bytes) to out as the body of a JSON string. */
static int
jencode(const unsigned char *s, size_t n, struct gw_strbuf *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t from = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = s[i];
        char e[6];
        size_t el = 2, skip = 1;
        if (c == '"' || c == '\\') {
            e[0] = '\\', e[1] = (char)c;
        } else if (c < 0x20) {
            static const char short_esc[] = "btn\0fr";
            e[0] = '\\';
            if (c >= 0x08 && c <= 0x0D && short_esc[c - 0x08])
                e[1] = short_esc[c - 0x08];
            else
                e[1] = 'u', e[2] = '0', e[3] = '0', e[4] = hex[c >> 4], e[5] = hex[c & 15], el = 6;
        } else if (c == 0xED && n - i >= 3 && s[i + 1] >= 0xA0 && s[i + 1] <= 0xBF &&
                   (s[i + 2] & 0xC0) == 0x80) {
            unsigned cp = 0xD000u | (unsigned)(s[i + 1] & 0x3F) << 6 | (s[i + 2] & 0x3Fu);
            e[0] = '\\', e[1] = 'u', e[2] = hex[cp >> 12], e[3] = hex[cp >> 8 & 15];
            e[4] = hex[cp >> 4 & 15], e[5] = hex[cp & 15], el = 6, skip = 3;
        } else {
            continue;
        }
        if (gw_strbuf_put(out, s + from, i - from) || gw_strbuf_put(out, e, el))
            return -1;
        i += skip - 1;
        from = i + 1;
    }
    return gw_strbuf_put(out, s + from, n - from);
}

struct frame {
    unsigned char obj;        /* an object, else an array */
    unsigned char expect_key; /* object: the next string is a key */
    unsigned char kh;         /* object: the current key's hint */
    unsigned char inherit;    /* array: the hint its elements inherit */
};

static int walk_doc(struct sink *k, struct editor *doc, int level, int root_hint, size_t base,
                    int exact);

/* Whether the string s (a value) holds JSON to walk: '{' or '[' first, not an IPv6 host. */
static int
nested_json(const unsigned char *s, size_t n, int hint)
{
    size_t i = 0, o, l;
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    if (i == n)
        return 0;
    if (s[i] == '{')
        return 1;
    return s[i] == '[' && !gw_urlfind_whole((const char *)s, n, hint, &o, &l);
}

/*
 * One string of a document (decoded: s, n; its body in the document: [q0, q1)): visited, and
 * spliced back into the document, re-encoded, when something in it was replaced.
 */
static int
visit_string(struct sink *k, struct editor *doc, const unsigned char *s, size_t n, size_t q0,
             size_t q1, int key, int fixed, int hint, int level, size_t base, int exact)
{
    struct editor sed = {s, n, {NULL, 0, 0}, 0, 0};
    int rc;
    if (!key && level < NEST_MAX && nested_json(s, n, hint)) {
        rc = walk_doc(k, &sed, level + 1, hint, exact ? base + q0 : base, 0);
    } else {
        struct piece pc = {&sed, exact ? base + q0 : base, exact && s == doc->s + q0, key || fixed};
        rc = scan_string(k, &pc, !key, hint, 1);
    }
    if (rc == 0 && sed.replaced) {
        struct gw_strbuf enc = {NULL, 0, 0};
        if (fixed)
            rc = -2;
        else if (!k->marker_utf8)
            rc = -2;
        else if (ed_finish(&sed) || jencode((const unsigned char *)sed.rb.p, sed.rb.len, &enc) ||
                 ed_replace(doc, q0, q1, enc.p ? enc.p : "", enc.len))
            rc = -1;
        free(enc.p);
    }
    free(sed.rb.p);
    return rc;
}

/* Free text between strings of a document: [a, b). */
static int
scan_between(struct sink *k, struct editor *doc, size_t a, size_t b, size_t base, int exact)
{
    struct piece pc = {doc, base, exact, 0};
    size_t pos = 0, o, l;
    unsigned f;
    int rc = 0;
    if (a >= b)
        return 0;
    while (rc == 0 && gw_urlfind_next((const char *)doc->s + a, b - a, &pos, &o, &l, &f))
        rc = emit(k, &pc, a + o, a + o + l, f);
    return rc;
}

/*
 * Walks the JSON text of doc lexically: strings are visited decoded, as keys or values (with the
 * hint of their key, or of their array's key), and the text between them as free text, so that
 * text that is not quite JSON is still read whole. base, exact: see struct piece.
 */
static int
walk_doc(struct sink *k, struct editor *doc, int level, int root_hint, size_t base, int exact)
{
    const unsigned char *j = doc->s;
    size_t n = doc->n, depth = 0, text = 0;
    struct frame fr[FRAMES_MAX];
    struct gw_strbuf scratch = {NULL, 0, 0};
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        unsigned char c = j[i];
        if (!(cls[c] & C_JSON))
            continue;
        struct frame *top = depth > 0 && depth <= FRAMES_MAX ? &fr[depth - 1] : NULL;
        int hint = depth > FRAMES_MAX ? 1 : !top ? root_hint : top->obj ? top->kh : top->inherit;
        switch (c) {
        case '"': {
            if ((rc = scan_between(k, doc, text, i, base, exact)))
                break;
            size_t q0 = i + 1, q = q0;
            int bs = 0;
            while (q < n && j[q] != '"') {
                if (j[q] == '\\') {
                    bs = 1;
                    q++;
                }
                q++;
            }
            size_t q1 = q < n ? q : n;
            int key = top && top->obj && top->expect_key;
            const unsigned char *s = j + q0;
            size_t sn = q1 - q0;
            if (bs) {
                if (jdecode(s, sn, &scratch)) {
                    rc = -1;
                    break;
                }
                s = (const unsigned char *)scratch.p;
                sn = scratch.len;
            }
            rc = visit_string(k, doc, s, sn, q0, q1, key, depth > FRAMES_MAX, key ? 0 : hint, level,
                              base, exact);
            if (key) {
                top->kh = (unsigned char)gw_urlfind_key_hint((const char *)s, sn);
                top->expect_key = 0;
            }
            i = q1;
            text = q1 + 1;
            break;
        }
        case '{':
        case '[':
            if (depth < FRAMES_MAX) {
                fr[depth].obj = c == '{';
                fr[depth].expect_key = c == '{';
                fr[depth].kh = 0;
                fr[depth].inherit = (unsigned char)hint;
            }
            depth++;
            break;
        case '}':
        case ']':
            if (depth > 0)
                depth--;
            break;
        case ',':
        case ':':
            if (top && top->obj)
                top->expect_key = c == ',';
            break;
        default:
            break;
        }
    }
    if (rc == 0)
        rc = scan_between(k, doc, text, n, base, exact);
    free(scratch.p);
    return rc;
}

long
gw_urlfind_json(const char *j, size_t n, gw_urlfind_visit v, void *ctx, const char *marker,
                char **out, size_t *outlen)
{
    struct sink k;
    struct editor doc = {(const unsigned char *)j, n, {NULL, 0, 0}, 0, 0};
    size_t i = 0;
    int rc;
    if (out)
        *out = NULL;
    if (outlen)
        *outlen = 0;
    if (n == 0)
        return 0;
    sink_init(&k, v, ctx, marker, out);
    while (i < n && (j[i] == ' ' || j[i] == '\t' || j[i] == '\n' || j[i] == '\r'))
        i++;
    if (i < n && (j[i] == '{' || j[i] == '[' || j[i] == '"')) {
        rc = walk_doc(&k, &doc, 0, 0, 0, 1);
    } else {
        struct piece pc = {&doc, 0, 1, 0};
        rc = scan_string(&k, &pc, 1, 0, 0);
    }
    return finish(&doc, k.count, rc, out, outlen);
}
