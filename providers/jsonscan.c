/*
 * JSON scanning primitives (see jsonscan.h). The validating string scanner and the iterative value
 * skipper come from reqinfo.c's one-pass scanner; number magnitudes are judged as jansson 2.14 does
 * (strtoll / strtod overflow), without calling either.
 */
#include "providers/jsonscan.h"

static inline int
is_digit(unsigned c)
{
    return c - '0' < 10;
}

static int
hex4(const unsigned char *p)
{
    int v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned c = p[i], d;
        if (is_digit(c))
            d = c - '0';
        else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
            d = (c | 0x20) - 'a' + 10;
        else
            return -1;
        v = v << 4 | (int)d;
    }
    return v;
}

/* Appends k bytes to dst as far as they fit in cap (the value's prefix, which is what callers
 * comparing a C string up to a first NUL read); counts them all either way. */
static inline void
put(char *dst, size_t cap, size_t *n, const void *src, size_t k)
{
    if (dst && *n < cap)
        memcpy(dst + *n, src, k < cap - *n ? k : cap - *n);
    *n += k;
}

const unsigned char *
gw_json_string(const unsigned char *p, const unsigned char *end, char *dst, size_t cap,
               size_t *lenp, unsigned flags)
{
    size_t n = 0;
    for (;;) {
        const unsigned char *run = p;
        p = gw_json_skip_plain(p, end);
        put(dst, cap, &n, run, (size_t)(p - run));
        if (p == end)
            return NULL;
        unsigned c = *p;
        if (c == '"') {
            *lenp = n;
            return p + 1;
        }
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            /* stay here for a run of non-ASCII text */
            run = p;
            do {
                size_t k = gw_utf8_seq(p, end);
                if (!k)
                    return NULL;
                p += k;
            } while (p < end && *p >= 0x80);
            put(dst, cap, &n, run, (size_t)(p - run));
            continue;
        }
        /* a backslash */
        if (end - p < 2)
            return NULL;
        char e;
        switch (p[1]) {
        case '"':
        case '\\':
        case '/':
            e = (char)p[1];
            break;
        case 'b':
            e = '\b';
            break;
        case 'f':
            e = '\f';
            break;
        case 'n':
            e = '\n';
            break;
        case 'r':
            e = '\r';
            break;
        case 't':
            e = '\t';
            break;
        case 'u': {
            if (end - p < 6)
                return NULL;
            int cp = hex4(p + 2);
            if (cp < 0)
                return NULL;
            p += 6;
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                if (end - p < 6 || p[0] != '\\' || p[1] != 'u')
                    return NULL;
                int lo = hex4(p + 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return NULL;
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            } else if ((cp >= 0xDC00 && cp <= 0xDFFF) ||
                       (cp == 0 && !(flags & GW_JSON_ALLOW_NUL))) {
                return NULL;
            }
            unsigned char u[4];
            size_t k;
            if (cp < 0x80) {
                u[0] = (unsigned char)cp;
                k = 1;
            } else if (cp < 0x800) {
                u[0] = (unsigned char)(0xC0 | cp >> 6);
                u[1] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 2;
            } else if (cp < 0x10000) {
                u[0] = (unsigned char)(0xE0 | cp >> 12);
                u[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
                u[2] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 3;
            } else {
                u[0] = (unsigned char)(0xF0 | cp >> 18);
                u[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
                u[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
                u[3] = (unsigned char)(0x80 | (cp & 0x3F));
                k = 4;
            }
            put(dst, cap, &n, u, k);
            continue;
        }
        default:
            return NULL;
        }
        put(dst, cap, &n, &e, 1);
        p += 2;
    }
}

/*
 * The smallest decimal that strtod rounds to infinity: DBL_MAX + half an ulp = 2^1024 - 2^970
 * (a tie, which rounds to even: up). 309 digits.
 */
static const char overflow_digits[] =
    "179769313486231580793728971405303415079934132710037826936173778980444968292764750946649017977"
    "587207096330286416692887910946555547851940402630657488671505820681908902000708383676273854845"
    "817711531764475730270069855571366959622842914819860834936475292719074168444365510704342711559"
    "699508093042880177904174497792";

/*
 * Whether the real with significant digits [a, b) (leading zeros and one '.' skipped) and
 * 309 digits before the point in magnitude reaches the overflow threshold.
 */
static int
real_overflows(const unsigned char *a, const unsigned char *b)
{
    size_t i = 0;
    for (; a < b; a++) {
        if (*a == '.')
            continue;
        int t = i < sizeof(overflow_digits) - 1 ? overflow_digits[i] : '0';
        if (*a != t)
            return *a > t;
        i++;
    }
    return i >= sizeof(overflow_digits) - 1; /* equal so far: a tie rounds up */
}

/*
 * Whether the number [s, e) (syntax valid) is out of jansson's range. i0/i1: integer digits,
 * f0/f1: fraction digits (empty when none), x0/x1: exponent digits (empty when none), xneg:
 * negative exponent.
 */
static int
out_of_range(const unsigned char *s, const unsigned char *i0, const unsigned char *i1,
             const unsigned char *f0, const unsigned char *f1, const unsigned char *x0,
             const unsigned char *x1, int xneg)
{
    if (f0 == f1 && x0 == x1) {
        size_t n = (size_t)(i1 - i0);
        if (n != 19)
            return n > 19;
        return memcmp(i0, *s == '-' ? "9223372036854775808" : "9223372036854775807", 19) > 0;
    }
    /* the exponent, saturated far beyond any digit count that matters */
    long long x = 0;
    for (const unsigned char *q = x0; q < x1; q++)
        if (x < 1000000000000000LL)
            x = x * 10 + (*q - '0');
    if (xneg)
        x = -x;
    /* k: the value lies in [10^(k-1), 10^k) */
    long long k;
    const unsigned char *sig; /* first significant digit */
    if (*i0 != '0') {
        sig = i0;
        k = (long long)(i1 - i0) + x;
    } else {
        if (!f0)
            return 0; /* zero, whatever the exponent */
        sig = f0;
        while (sig < f1 && *sig == '0')
            sig++;
        if (sig == f1)
            return 0; /* zero, whatever the exponent */
        k = x - (long long)(sig - f0);
    }
    if (k <= 308)
        return 0; /* below 1e308 < DBL_MAX */
    if (k >= 310)
        return 1; /* at least 1e309 */
    return real_overflows(sig, f1 ? f1 : i1);
}

const unsigned char *
gw_json_number(const unsigned char *p, const unsigned char *end, unsigned flags)
{
    const unsigned char *s = p, *i0, *i1, *f0 = NULL, *f1 = NULL, *x0 = NULL, *x1 = NULL;
    int xneg = 0;
    if (p < end && *p == '-')
        p++;
    if (p == end)
        return NULL;
    i0 = p;
    if (*p == '0')
        p++;
    else if (is_digit(*p))
        while (++p < end && is_digit(*p))
            ;
    else
        return NULL;
    i1 = p;
    if (p < end && *p == '.') {
        if (++p == end || !is_digit(*p))
            return NULL;
        f0 = p;
        while (++p < end && is_digit(*p))
            ;
        f1 = p;
    }
    if (p < end && (*p | 0x20) == 'e') {
        if (++p < end && (*p == '+' || *p == '-'))
            xneg = *p++ == '-';
        if (p == end || !is_digit(*p))
            return NULL;
        x0 = p;
        while (++p < end && is_digit(*p))
            ;
        x1 = p;
    }
    if ((flags & GW_JSON_JANSSON_NUMBERS) && out_of_range(s, i0, i1, f0, f1, x0, x1, xneg))
        return NULL;
    return p;
}

const unsigned char *
gw_json_skip_value(const unsigned char *p, const unsigned char *end, unsigned depth, unsigned flags)
{
    uint64_t is_array[GW_JSON_MAX_DEPTH / 64 + 1]; /* bit d: the container at depth d + 1 */
    const unsigned base = depth;
    size_t n;

value:
    p = gw_json_ws(p, end);
    if (p == end)
        return NULL;
    switch (*p) {
    case '{':
        if (depth >= GW_JSON_MAX_DEPTH)
            return NULL;
        is_array[depth / 64] &= ~(1ull << depth % 64);
        depth++;
        p = gw_json_ws(p + 1, end);
        if (p < end && *p == '}') {
            p++;
            depth--;
            goto after_value;
        }
        goto key;
    case '[':
        if (depth >= GW_JSON_MAX_DEPTH)
            return NULL;
        is_array[depth / 64] |= 1ull << depth % 64;
        depth++;
        p = gw_json_ws(p + 1, end);
        if (p < end && *p == ']') {
            p++;
            depth--;
            goto after_value;
        }
        goto value;
    case '"':
        p = gw_json_string(p + 1, end, NULL, 0, &n, flags);
        break;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4) != 0)
            return NULL;
        p += 4;
        break;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5) != 0)
            return NULL;
        p += 5;
        break;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4) != 0)
            return NULL;
        p += 4;
        break;
    default:
        p = gw_json_number(p, end, flags);
        break;
    }
    if (!p)
        return NULL;

after_value:
    if (depth == base)
        return p;
    p = gw_json_ws(p, end);
    if (p == end)
        return NULL;
    {
        int arr = (int)(is_array[(depth - 1) / 64] >> (depth - 1) % 64 & 1);
        if (*p == ',') {
            p++;
            if (arr)
                goto value;
            p = gw_json_ws(p, end);
            goto key;
        }
        if (*p != (arr ? ']' : '}'))
            return NULL;
        p++;
        depth--;
        goto after_value;
    }

key:
    if (p == end || *p != '"')
        return NULL;
    p = gw_json_string(p + 1, end, NULL, 0, &n, flags & ~(unsigned)GW_JSON_ALLOW_NUL);
    if (!p)
        return NULL;
    p = gw_json_ws(p, end);
    if (p == end || *p != ':')
        return NULL;
    p++;
    goto value;
}

const unsigned char *
gw_json_next(const unsigned char *p, const unsigned char *end)
{
    int esc;
    if (p >= end)
        return end;
    if (*p == '"')
        return gw_json_string_end(p + 1, end, &esc);
    if (*p != '{' && *p != '[') {
        while (p < end && *p != ',' && *p != '}' && *p != ']' && !gw_json_is_ws(*p))
            p++;
        return p;
    }
    size_t depth = 0;
    while (p < end) {
        unsigned c = *p++;
        if (c == '"') {
            p = gw_json_string_end(p, end, &esc);
        } else if (c == '{' || c == '[') {
            depth++;
        } else if (c == '}' || c == ']') {
            if (--depth == 0)
                return p;
        }
    }
    return end;
}
