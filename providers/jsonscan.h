/*
 * JSON scanning primitives shared by the gateway's tree-free body scanners (providers/reqinfo.c,
 * providers/textscan.c). Internal: not an API for filters.
 *
 * Two families:
 * - Validating (gw_json_string, gw_json_number, gw_json_skip_value): strict RFC 8259. Strings are
 *   checked for escapes, control characters, UTF-8 well-formedness (Unicode table 3-7) and lone or
 *   mismatched UTF-16 surrogates; nesting is capped at GW_JSON_MAX_DEPTH. They return where the
 *   token ends, or NULL when it is invalid or truncated; they never read at or past end.
 * - Navigating (gw_json_string_end, gw_json_next): for bytes a validating call already accepted.
 *   They only look for the token's end (no checks), and stay inside [p, end) whatever the bytes.
 *
 * Pointers are unsigned char: the UTF-8 checks compare byte values.
 */
#ifndef GW_JSONSCAN_H
#define GW_JSONSCAN_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "providers/reqinfo.h"

/* Deepest nesting accepted; the outermost value is depth 1 (the same cap as reqinfo's). */
#define GW_JSON_MAX_DEPTH GW_REQINFO_MAX_DEPTH

/*
 * Length of the well-formed UTF-8 sequence at p (p < end): 1 for ASCII, 2 to 4 for a valid
 * multi-byte sequence (Unicode table 3-7: no overlong forms, no UTF-16 surrogates, nothing past
 * U+10FFFF; what jansson accepts), 0 when the bytes at p do not start one, -1 when the bytes
 * before end are the valid beginning of one that end cuts short (a decoded payload that goes on
 * past its buffer, filters/decode.c). The one UTF-8 check of the gateway: JSON strings here,
 * stream texts (providers/stream.c), audit records (audit/record.c), decoded payloads, the
 * injection filter's normalisation (filters/normalize.c).
 */
static inline int
gw_utf8_seq_cut(const unsigned char *p, const unsigned char *end)
{
    unsigned c = p[0], lo = 0x80, hi = 0xBF;
    size_t k;
    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        k = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        k = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        k = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* above U+10FFFF */
    } else {
        return 0;
    }
    /* whole or cut short: the bytes there are checked alike */
    size_t avail = (size_t)(end - p), n = avail < k ? avail : k;
    if (n >= 2 && (p[1] < lo || p[1] > hi))
        return 0;
    for (size_t i = 2; i < n; i++)
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    return n == k ? (int)k : -1;
}

/* The same, a sequence cut short by end counting as invalid (0). */
static inline size_t
gw_utf8_seq(const unsigned char *p, const unsigned char *end)
{
    int k = gw_utf8_seq_cut(p, end);
    return k > 0 ? (size_t)k : 0;
}

/* The code point of the k-byte sequence at p, which gw_utf8_seq found well formed (k 1 to 4). */
static inline uint32_t
gw_utf8_cp(const unsigned char *p, size_t k)
{
    switch (k) {
    case 1:
        return p[0];
    case 2:
        return ((uint32_t)(p[0] & 0x1F) << 6) | (p[1] & 0x3Fu);
    case 3:
        return ((uint32_t)(p[0] & 0x0F) << 12) | ((uint32_t)(p[1] & 0x3F) << 6) | (p[2] & 0x3Fu);
    default:
        return ((uint32_t)(p[0] & 0x07) << 18) | ((uint32_t)(p[1] & 0x3F) << 12) |
               ((uint32_t)(p[2] & 0x3F) << 6) | (p[3] & 0x3Fu);
    }
}

/* Flags of the validating functions. */
enum {
    /* \u0000 is accepted in string values (never in object keys), as jansson's JSON_ALLOW_NUL */
    GW_JSON_ALLOW_NUL = 1,
    /* numbers jansson 2.14 refuses are invalid: integers (no fraction, no exponent) outside
     * int64, and reals whose strtod overflows (|x| rounds beyond DBL_MAX); underflow is fine */
    GW_JSON_JANSSON_NUMBERS = 2,
};

#define GW_JSON_ONES 0x0101010101010101ull
#define GW_JSON_HIGHS 0x8080808080808080ull

static inline int
gw_json_is_ws(unsigned c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static inline const unsigned char *
gw_json_ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && gw_json_is_ws(*p))
        p++;
    return p;
}

/*
 * Marks, in the high bit of each byte, the bytes of v that need a closer look inside a string: a
 * control character, '"', '\\' or a byte >= 0x80. These are the classic "has zero byte" / "has
 * byte less than" tricks: a byte above a real hit may be marked falsely (borrows), but the
 * lowest mark is always a real hit and no hit is missed.
 */
static inline uint64_t
gw_json_special8(uint64_t v)
{
    uint64_t q = v ^ (GW_JSON_ONES * '"');
    uint64_t b = v ^ (GW_JSON_ONES * '\\');
    uint64_t ctl = (v - GW_JSON_ONES * 0x20) & ~v;
    uint64_t quote = (q - GW_JSON_ONES) & ~q;
    uint64_t bslash = (b - GW_JSON_ONES) & ~b;
    return (ctl | quote | bslash | v) & GW_JSON_HIGHS;
}

/* Like gw_json_special8, for '"' and '\\' only (the end of a string already validated). */
static inline uint64_t
gw_json_quote8(uint64_t v)
{
    uint64_t q = v ^ (GW_JSON_ONES * '"');
    uint64_t b = v ^ (GW_JSON_ONES * '\\');
    return (((q - GW_JSON_ONES) & ~q) | ((b - GW_JSON_ONES) & ~b)) & GW_JSON_HIGHS;
}

static inline int
gw_json_plain(unsigned c)
{
    return c >= 0x20 && c < 0x80 && c != '"' && c != '\\';
}

#ifdef __SSE2__
/* Bit i set: byte i of the 16 at p is special (as in gw_json_special8). */
static inline unsigned
gw_json_special16(const unsigned char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    /* a signed compare catches both below 0x20 and 0x80 and above */
    __m128i ctl_or_high = _mm_cmplt_epi8(x, _mm_set1_epi8(0x20));
    __m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
    __m128i bslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(ctl_or_high, _mm_or_si128(quote, bslash)));
}

/* Bit i set: byte i of the 16 at p is '"' or '\\'. */
static inline unsigned
gw_json_quote16(const unsigned char *p)
{
    __m128i x = _mm_loadu_si128((const __m128i *)(const void *)p);
    __m128i quote = _mm_cmpeq_epi8(x, _mm_set1_epi8('"'));
    __m128i bslash = _mm_cmpeq_epi8(x, _mm_set1_epi8('\\'));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(quote, bslash));
}
#endif

/* The one scanning loop of the two below: quotes = 1 stops at '"' or '\\' only, quotes = 0 at
 * anything that is not plain printable ASCII inside a string. Called with a constant, so each
 * caller gets its own specialised copy. */
static inline __attribute__((always_inline)) const unsigned char *
gw_json_scan_to(const unsigned char *p, const unsigned char *end, int quotes)
{
#ifdef __SSE2__
#define GW_JSON_M16(q) (quotes ? gw_json_quote16(q) : gw_json_special16(q))
    if (end - p >= 16) {
        /* most strings, keys and values are short: one test first */
        unsigned m = GW_JSON_M16(p);
        if (m)
            return p + __builtin_ctz(m);
        p += 16;
        /* long runs (prompts, base64 images): 64 bytes per branch */
        while (end - p >= 64 &&
               !(GW_JSON_M16(p) | GW_JSON_M16(p + 16) | GW_JSON_M16(p + 32) | GW_JSON_M16(p + 48)))
            p += 64;
        while (end - p >= 16) {
            m = GW_JSON_M16(p);
            if (m)
                return p + __builtin_ctz(m);
            p += 16;
        }
    }
#undef GW_JSON_M16
#endif
    while (end - p >= 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        uint64_t m = quotes ? gw_json_quote8(v) : gw_json_special8(v);
        if (m) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
            return p + __builtin_ctzll(m) / 8;
#else
            break;
#endif
        }
        p += 8;
    }
    while (p < end && (quotes ? *p != '"' && *p != '\\' : gw_json_plain(*p)))
        p++;
    return p;
}

/* The first byte at or after p that is not plain printable ASCII inside a string (or end). */
static inline const unsigned char *
gw_json_skip_plain(const unsigned char *p, const unsigned char *end)
{
    return gw_json_scan_to(p, end, 0);
}

/* The first '"' or '\\' at or after p (or end). */
static inline const unsigned char *
gw_json_find_quote(const unsigned char *p, const unsigned char *end)
{
    return gw_json_scan_to(p, end, 1);
}

/*
 * Validates a string whose opening quote is just before p. With dst, the unescaped value is
 * written there while it fits in cap bytes (not terminated); *lenp gets its full unescaped length,
 * so *lenp > cap means it did not fit. flags: GW_JSON_ALLOW_NUL (else \u0000 is invalid). Returns
 * the position after the closing quote, or NULL when the string is invalid or not closed.
 */
const unsigned char *gw_json_string(const unsigned char *p, const unsigned char *end, char *dst,
                                    size_t cap, size_t *lenp, unsigned flags);

/*
 * Validates a number starting at p (at '-' or a digit; anything else is invalid). flags:
 * GW_JSON_JANSSON_NUMBERS. Returns where it ends, or NULL.
 */
const unsigned char *gw_json_number(const unsigned char *p, const unsigned char *end,
                                    unsigned flags);

/*
 * Validates one value starting at p (leading whitespace skipped, trailing whitespace not) that
 * sits inside depth open containers (0 for a top-level value): a container it opens is at depth
 * + 1, and nothing may nest deeper than GW_JSON_MAX_DEPTH. flags: GW_JSON_ALLOW_NUL (string
 * values only: keys never hold \u0000) and GW_JSON_JANSSON_NUMBERS. Returns the position after the
 * value, or NULL.
 */
const unsigned char *gw_json_skip_value(const unsigned char *p, const unsigned char *end,
                                        unsigned depth, unsigned flags);

/*
 * Navigating: the end of a validated string whose opening quote is just before p (the position
 * after its closing quote; end if there is none). *escaped is set to 1 when the string holds a
 * backslash, and left alone otherwise.
 */
static inline const unsigned char *
gw_json_string_end(const unsigned char *p, const unsigned char *end, int *escaped)
{
    for (;;) {
        p = gw_json_find_quote(p, end);
        if (p == end)
            return end;
        if (*p == '"')
            return p + 1;
        *escaped = 1;
        if (end - p < 2)
            return end;
        p += 2; /* \" and \\ must not count; \uXXXX holds neither */
    }
}

/* Navigating: the position after the validated value starting at p (no leading whitespace). */
const unsigned char *gw_json_next(const unsigned char *p, const unsigned char *end);

#endif
