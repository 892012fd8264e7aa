/*
 * Encoded payloads inside text (see decode.h). One pass over the text with a byte-class table;
 * a run is decoded only when it is long enough, and a long one only after its first bytes
 * decoded to text, so an image or a key costs a look at 24 bytes.
 */
#include "filters/decode.h"

#include <stdint.h>
#include <string.h>

#include "filters/hexdigit.h"
#include "providers/jsonscan.h"

const char *
gw_enc_name(enum gw_enc e)
{
    switch (e) {
    case GW_ENC_BASE64:
        return "base64";
    case GW_ENC_HEX:
        return "hex";
    case GW_ENC_ROT13:
        return "rot13";
    case GW_ENC_REVERSED:
        return "reversed";
    case GW_ENC_UPSIDE_DOWN:
        return "upside-down";
    case GW_ENC_VARIATION_SELECTORS:
        return "variation-selectors";
    case GW_ENC_TAGS:
        return "tags";
    case GW_ENC_FULLWIDTH:
        return "fullwidth";
    case GW_ENC_BASE32:
        return "base32";
    case GW_ENC_MORSE:
        return "morse";
    case GW_ENC_NONE:
        break;
    }
    return NULL;
}

/* base64 digit value + 1 (standard and URL-safe alphabets), 0 for other bytes */
/* clang-format off */
static const uint8_t b64t[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32,
    ['g'] = 33, ['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
    ['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47, ['v'] = 48,
    ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52, ['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56,
    ['4'] = 57, ['5'] = 58, ['6'] = 59, ['7'] = 60, ['8'] = 61, ['9'] = 62, ['+'] = 63, ['-'] = 63,
    ['/'] = 64, ['_'] = 64,
};
/* base32 digit value + 1 (RFC 4648: A-Z, 2-7), 0 for other bytes */
static const uint8_t b32t[256] = {
    ['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7, ['H'] = 8,
    ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14, ['O'] = 15, ['P'] = 16,
    ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21, ['V'] = 22, ['W'] = 23, ['X'] = 24,
    ['Y'] = 25, ['Z'] = 26, ['2'] = 27, ['3'] = 28, ['4'] = 29, ['5'] = 30, ['6'] = 31, ['7'] = 32,
};
/* clang-format on */

/* Whether n decoded bytes are text (decode.h); cut: the payload goes on past them. */
static int
looks_text(const char *buf, size_t n, int cut)
{
    const unsigned char *s = (const unsigned char *)buf;
    size_t good = 0, ink = 0;
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
                return 0;
            if (c > ' ') {
                ink++;
                good += (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
            }
            i++;
            continue;
        }
        int k = gw_utf8_seq_cut(s + i, s + n);
        if (k == -1 && cut)
            break;
        if (k <= 0)
            return 0;
        ink++;
        good++;
        i += (size_t)k;
    }
    return ink > 0 && good * 2 >= ink;
}

/* Decodes the digits in [from, to) of an alphabet of `width` bits a digit (digit: its value + 1
 * in val, 0 for a byte to skip, such as a line break) into out; stops at cap. base64: b64t, 6;
 * base32: b32t, 5. */
static size_t
digits_decode(const char *t, size_t from, size_t to, const uint8_t *val, unsigned width, char *out,
              size_t cap)
{
    uint32_t acc = 0;
    unsigned bits = 0;
    size_t n = 0;
    for (size_t i = from; i < to && n < cap; i++) {
        uint8_t v = val[(unsigned char)t[i]];
        if (!v)
            continue;
        acc = (acc << width | (uint32_t)(v - 1)) & 0xFFFFFF;
        bits += width;
        if (bits >= 8) {
            bits -= 8;
            out[n++] = (char)(acc >> bits & 0xFF);
        }
    }
    return n;
}

/* Decodes the hex digit pairs in [from, to) into out; stops at cap. */
static size_t
hex_decode(const char *t, size_t from, size_t to, char *out, size_t cap)
{
    size_t n = 0;
    for (size_t i = from; i + 1 < to && n < cap; i += 2)
        out[n++] =
            (char)(gw_hex_value((unsigned char)t[i]) << 4 | gw_hex_value((unsigned char)t[i + 1]));
    return n;
}

/*
 * Byte pairs written with a prefix ("\x", "0x", "%"; plen bytes, the x in either case) or with
 * separators alone (plen 0): decodes them into out (at most cap) from i, sets *end past the last
 * pair, returns the number of pairs.
 */
static size_t
hex_pairs(const char *t, size_t len, size_t i, const char *pre, size_t plen, size_t *end, char *out,
          size_t cap)
{
    size_t n = 0, j = i;
    *end = i;
    for (;;) {
        if (j + plen + 2 > len)
            break;
        size_t k = 0;
        while (k < plen && (t[j + k] == pre[k] || (pre[k] == 'x' && t[j + k] == 'X')))
            k++;
        if (k < plen)
            break;
        int hi = gw_hex_value((unsigned char)t[j + plen]),
            lo = gw_hex_value((unsigned char)t[j + plen + 1]);
        if (hi < 0 || lo < 0)
            break;
        j += plen + 2;
        /* "49 67": a pair must not be the start of a longer number or word */
        if (!plen && j < len && b64t[(unsigned char)t[j]])
            break;
        if (n < cap)
            out[n] = (char)(hi << 4 | lo);
        n++;
        *end = j;
        size_t s = j;
        while (s < len && s - j < 2 && (t[s] == ' ' || t[s] == ',' || t[s] == ':' || t[s] == ';'))
            s++;
        if (!plen && s == j)
            break;
        j = s;
    }
    return n;
}

/* A prefixed or separated hex sequence at i: 1 when it decodes to text. */
static int
try_pairs(const char *t, size_t len, size_t i, const char *pre, size_t plen, char *buf, size_t cap,
          struct gw_payload *out, size_t *skip)
{
    size_t end;
    size_t n = hex_pairs(t, len, i, pre, plen, &end, buf, cap);
    *skip = end > i ? end : i + 1;
    if (n < GW_HEX_MIN_BYTES || !looks_text(buf, n < cap ? n : cap, n > cap))
        return 0;
    *out = (struct gw_payload){.enc = GW_ENC_HEX, .from = i, .to = end, .len = n < cap ? n : cap};
    return 1;
}

/* A base64 run from s (a digit): decodes it when it is one (hex digits first). 1 when found;
 * *next: where to go on. */
static int
b64_run(const char *t, size_t len, size_t s, char *buf, size_t cap, struct gw_payload *out,
        size_t *next)
{
    /* a line break continues the run after a full MIME-style line (a multiple of 4 digits, 40
     * or more) */
    size_t e = s, line = s, digits = 0;
    int all_hex = 1, all_b32 = 1;
    for (;;) {
        while (e < len && b64t[(unsigned char)t[e]]) {
            unsigned char c = (unsigned char)t[e];
            all_hex &= gw_hex_value(c) >= 0;
            all_b32 &= b32t[c] != 0;
            e++;
        }
        digits += e - line;
        size_t nl = e < len && t[e] == '\n'                           ? 1
                    : e + 1 < len && t[e] == '\r' && t[e + 1] == '\n' ? 2
                                                                      : 0;
        if (nl && e - line >= 40 && (e - line) % 4 == 0 && e + nl < len &&
            b64t[(unsigned char)t[e + nl]]) {
            e += nl;
            line = e;
            continue;
        }
        break;
    }
    size_t end = e;
    while (end < len && end - e < 2 && t[end] == '=')
        end++;
    *next = end;
    if (all_hex && digits % 2 == 0 && digits >= 2 * GW_HEX_MIN_BYTES && e - s == digits) {
        size_t n = hex_decode(t, s, e, buf, cap);
        if (looks_text(buf, n, digits / 2 > n)) {
            *out = (struct gw_payload){.enc = GW_ENC_HEX, .from = s, .to = e, .len = n};
            return 1;
        }
    }
    /* upper case and 2-7 only: base32 (base64 of text has lower case) */
    if (all_b32 && digits >= GW_B32_MIN_RUN && e - s == digits) {
        size_t n = digits_decode(t, s, e, b32t, 5, buf, cap), pend = e;
        while (pend < len && pend - e < 6 && t[pend] == '=')
            pend++;
        if (looks_text(buf, n, digits * 5 / 8 > n)) {
            *out = (struct gw_payload){.enc = GW_ENC_BASE32, .from = s, .to = pend, .len = n};
            *next = pend;
            return 1;
        }
    }
    /* a look at the first 24 bytes before decoding a long run */
    char head[24];
    size_t hn = digits_decode(t, s, e, b64t, 6, head, sizeof(head));
    if (!looks_text(head, hn, digits * 3 / 4 > hn))
        return 0;
    size_t n = digits_decode(t, s, e, b64t, 6, buf, cap);
    if (!looks_text(buf, n, digits * 3 / 4 > n))
        return 0;
    *out = (struct gw_payload){.enc = GW_ENC_BASE64, .from = s, .to = end, .len = n};
    return 1;
}

/* Hex byte pairs somewhere in the first bytes from s, in any of the written forms. */
static int
pairs_run(const char *t, size_t len, size_t s, char *buf, size_t cap, struct gw_payload *out,
          size_t *next)
{
    static const struct {
        const char *pre;
        size_t plen;
    } forms[] = {{"\\x", 2}, {"0x", 2}, {"%", 1}, {"", 0}};
    *next = s + 1;
    for (size_t j = s; j < s + 6 && j < len; j++)
        for (size_t f = 0; f < sizeof(forms) / sizeof(forms[0]); f++) {
            size_t skip;
            if (try_pairs(t, len, j, forms[f].pre, forms[f].plen, buf, cap, out, &skip))
                return 1;
            if (skip > *next)
                *next = skip;
        }
    return 0;
}

/* Byte classes: a base64 digit; a byte of a hex-pairs form (hex digits, the prefixes' bytes and
 * the separators); a byte of a multi-byte UTF-8 sequence (variation selectors are 3 or 4 of them
 * each); a byte of Morse code (dot, dash, space, slash). */
enum { C_B64 = 1, C_HEXISH = 2, C_HIGH = 4, C_MORSE = 8 };
/* A run of Morse bytes this long is worth a closer look. */
#define MORSE_RUN 24
/* A run of high bytes this long may hold GW_VS_MIN_BYTES selectors. */
#define HIGH_RUN (3 * GW_VS_MIN_BYTES)
/* A run of hex-pairs bytes this long is worth a closer look (12 pairs written "49 67 ..."). */
#define HEXISH_RUN (3 * GW_HEX_MIN_BYTES - 1)

/* base64: the digits of b64t; hex-ish: hex digits, and the bytes of the pair forms' prefixes
 * and separators (\\ x X % , space : ;) */
/* clang-format off */
static const uint8_t cls[256] = {
    ['0' ... '9'] = C_B64 | C_HEXISH,
    ['A' ... 'F'] = C_B64 | C_HEXISH, ['G' ... 'W'] = C_B64, ['X'] = C_B64 | C_HEXISH,
    ['Y' ... 'Z'] = C_B64,
    ['a' ... 'f'] = C_B64 | C_HEXISH, ['g' ... 'w'] = C_B64, ['x'] = C_B64 | C_HEXISH,
    ['y' ... 'z'] = C_B64,
    ['+'] = C_B64, ['-'] = C_B64 | C_MORSE, ['/'] = C_B64 | C_MORSE, ['_'] = C_B64,
    ['\\'] = C_HEXISH, ['%'] = C_HEXISH, [','] = C_HEXISH, [' '] = C_HEXISH | C_MORSE,
    [':'] = C_HEXISH, [';'] = C_HEXISH, ['.'] = C_MORSE, [0x80 ... 0xFF] = C_HIGH,
};
/* clang-format on */

/* Where the first run of at least k bytes of class bit starts at or after i (len when none).
 * Looks at the run's would-be last byte first: in prose a space is there, and k bytes are
 * skipped at once. */
static size_t
find_run(const char *t, size_t i, size_t len, uint8_t bit, size_t k)
{
    while (i + k <= len) {
        size_t j = i + k - 1;
        if (!(cls[(unsigned char)t[j]] & bit)) {
            i = j + 1;
            continue;
        }
        size_t b = j;
        while (b > i && (cls[(unsigned char)t[b - 1]] & bit))
            b--;
        if (b == i)
            return i;
        i = b;
    }
    return len;
}

/* The character at s (n bytes) if it hides a byte: its form (a variation selector, U+FE00-FE0F
 * for 0-15 and U+E0100-E01EF for 16-255; a tag character, U+E0020-E007E, or a full-width form,
 * U+FF01-FF5E and the ideographic space, for the ASCII they shadow) in *form, its length in *adv,
 * and the byte; -1 when it is none of those. Every such character starts with EF, F3 or E3, so
 * other text costs a byte compare. */
static inline int
hidden_byte(const unsigned char *s, size_t n, enum gw_enc *form, size_t *adv)
{
    if (s[0] != 0xEF && s[0] != 0xF3 && s[0] != 0xE3)
        return -1;
    size_t k = gw_utf8_seq(s, s + n);
    if (k < 3)
        return -1;
    uint32_t cp = gw_utf8_cp(s, k);
    *adv = k;
    if ((cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xE0100 && cp <= 0xE01EF)) {
        *form = GW_ENC_VARIATION_SELECTORS;
        return (int)(cp <= 0xFE0F ? cp - 0xFE00 : 16 + cp - 0xE0100);
    }
    if (cp >= 0xE0020 && cp <= 0xE007E) {
        *form = GW_ENC_TAGS;
        return (int)(cp - 0xE0000);
    }
    if ((cp >= 0xFF01 && cp <= 0xFF5E) || cp == 0x3000) {
        *form = GW_ENC_FULLWIDTH;
        return cp == 0x3000 ? ' ' : (int)(cp - 0xFF00 + 0x20);
    }
    return -1;
}

/* In the run of high bytes from s: the first GW_VS_MIN_BYTES or more characters in a row of one
 * form (hidden_byte) that decode to text. 1 when found; *next: the end of the high bytes. */
static int
high_run(const char *t, size_t len, size_t s, char *buf, size_t cap, struct gw_payload *out,
         size_t *next)
{
    const unsigned char *u = (const unsigned char *)t;
    size_t e = s;
    while (e < len && u[e] >= 0x80)
        e++;
    *next = e;
    for (size_t i = s; i < e;) {
        enum gw_enc form, f;
        size_t adv, j = i, n = 0;
        int v = hidden_byte(u + i, e - i, &form, &adv);
        if (v < 0) {
            i++;
            continue;
        }
        do {
            if (n < cap)
                buf[n] = (char)v;
            n++;
            j += adv;
        } while (j < e && (v = hidden_byte(u + j, e - j, &f, &adv)) >= 0 && f == form);
        if (n >= GW_VS_MIN_BYTES && looks_text(buf, n < cap ? n : cap, n > cap)) {
            *out = (struct gw_payload){.enc = form, .from = i, .to = j, .len = n < cap ? n : cap};
            return 1;
        }
        i = j;
    }
    return 0;
}

/* Morse letters and digits by their code read as binary after a leading 1 (dot 0, dash 1) */
static const char morse[64] = {
    [2] = 'e',  [3] = 't',  [4] = 'i',  [5] = 'a',  [6] = 'n',  [7] = 'm',  [8] = 's',  [9] = 'u',
    [10] = 'r', [11] = 'w', [12] = 'd', [13] = 'k', [14] = 'g', [15] = 'o', [16] = 'h', [17] = 'v',
    [18] = 'f', [20] = 'l', [22] = 'p', [23] = 'j', [24] = 'b', [25] = 'x', [26] = 'c', [27] = 'y',
    [28] = 'z', [29] = 'q', [32] = '5', [33] = '4', [35] = '3', [39] = '2', [47] = '1', [48] = '6',
    [56] = '7', [60] = '8', [62] = '9', [63] = '0',
};

/* Morse code in the run of dots, dashes, spaces and slashes from s: letters apart by one space,
 * words by a slash or two spaces. 1 when GW_MORSE_MIN_LETTERS or more decode (every code a
 * letter or digit); *next: the end of the run. */
static int
morse_run(const char *t, size_t len, size_t s, char *buf, size_t cap, struct gw_payload *out,
          size_t *next)
{
    size_t e = s;
    while (e < len && (cls[(unsigned char)t[e]] & C_MORSE))
        e++;
    *next = e;
    size_t i = s, n = 0, letters = 0, from = 0, to = 0;
    while (i < e) {
        size_t sp = 0;
        int slash = 0;
        while (i < e && (t[i] == ' ' || t[i] == '/')) {
            slash |= t[i] == '/';
            sp++;
            i++;
        }
        if (i == e)
            break;
        unsigned v = 1, k = 0;
        size_t at = i;
        while (i < e && (t[i] == '.' || t[i] == '-') && k <= 5) {
            v = v << 1 | (t[i] == '-');
            k++;
            i++;
        }
        char c = k <= 5 && v < 64 ? morse[v] : 0;
        if (!c || (i < e && t[i] != ' ' && t[i] != '/')) { /* not Morse: start again after it */
            if (letters >= GW_MORSE_MIN_LETTERS)
                break;
            while (i < e && t[i] != ' ')
                i++;
            n = letters = 0;
            continue;
        }
        if (!letters)
            from = at;
        else if ((slash || sp >= 2) && n < cap)
            buf[n++] = ' ';
        if (n < cap)
            buf[n++] = c;
        letters++;
        to = i;
    }
    if (letters < GW_MORSE_MIN_LETTERS)
        return 0;
    *out = (struct gw_payload){.enc = GW_ENC_MORSE, .from = from, .to = to, .len = n};
    return 1;
}

int
gw_payload_next(const char *text, size_t len, size_t *pos, char *buf, size_t cap,
                struct gw_payload *out)
{
    const char *t = text;
    size_t i = *pos, at[4] = {0, 0, 0, 0};
    static const uint8_t bit[4] = {C_B64, C_HEXISH, C_HIGH, C_MORSE};
    static const size_t run[4] = {GW_B64_MIN_RUN, HEXISH_RUN, HIGH_RUN, MORSE_RUN};
    int have = 0;
    while (i < len) {
        /* the next long run of each kind (base64, hex, high bytes, Morse; kept while still
         * ahead) */
        int k = 0;
        for (int c = 0; c < 4; c++) {
            if (!have || at[c] < i)
                at[c] = find_run(t, i, len, bit[c], run[c]);
            if (at[c] < at[k])
                k = c;
        }
        have = 1;
        if (at[k] == len)
            break;
        size_t next;
        int found = k == 0   ? b64_run(t, len, at[k], buf, cap, out, &next)
                    : k == 1 ? pairs_run(t, len, at[k], buf, cap, out, &next)
                    : k == 2 ? high_run(t, len, at[k], buf, cap, out, &next)
                             : morse_run(t, len, at[k], buf, cap, out, &next);
        if (found) {
            *pos = out->to;
            return 1;
        }
        /* not past the start of another run (a base64 run read from its middle decodes to
         * nonsense); hex digits inside a failed base64 run are not looked at again */
        i = next;
        for (int c = 0; c < 4; c++)
            if (at[c] > at[k] && at[c] < i && !(k == 0 && c == 1))
                i = at[c];
    }
    *pos = len;
    return 0;
}

void
gw_rot13(const char *in, size_t len, char *out)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c >= 'a' && c <= 'z')
            c = (unsigned char)('a' + (c - 'a' + 13) % 26);
        else if (c >= 'A' && c <= 'Z')
            c = (unsigned char)('A' + (c - 'A' + 13) % 26);
        out[i] = (char)c;
    }
}

void
gw_reverse(const char *in, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    for (size_t i = 0; i < len;) {
        int k = gw_utf8_seq_cut(s + i, s + len);
        if (k <= 0)
            k = 1;
        memcpy(out + len - i - (size_t)k, in + i, (size_t)k);
        i += (size_t)k;
    }
}

/* The ASCII letter or punctuation a turned character stands for, or 0. Upside-down text
 * generators differ in the letters they borrow: besides the turned Latin letters, a dotless i
 * (U+0131) for i, the Hebrew final nun (U+05DF), a modifier tone bar (U+02E5) or an esh (U+0283)
 * for l, and for capitals the turned forms of Unicode's letterlike and math blocks, Lisu letters
 * and Canadian syllabics that look like them. */
static char
unturn(uint32_t cp)
{
    static const struct {
        uint32_t cp;
        char to;
    } turned[] = {
        {0x18E, 'e'},  {0x186, 'c'},  {0x183, 'g'},  {0x1DD, 'e'},  {0x250, 'a'},  {0x254, 'c'},
        {0x25F, 'f'},  {0x265, 'h'},  {0x26F, 'm'},  {0x279, 'r'},  {0x27E, 'j'},  {0x287, 't'},
        {0x28C, 'v'},  {0x28D, 'w'},  {0x28E, 'y'},  {0x29E, 'k'},  {0x1D09, 'i'}, {0x2200, 'a'},
        {0x131, 'i'},  {0x5DF, 'l'},  {0x2E5, 'l'},  {0x283, 'l'},  {0x17F, 'j'},  {0x1D77, 'g'},
        {0x2132, 'f'}, {0x2141, 'g'}, {0x2142, 'l'}, {0x2144, 'y'}, {0x2229, 'u'}, {0x39B, 'v'},
        {0x2534, 't'}, {0x500, 'p'},  {0x1D1A, 'r'}, {0xA4D8, 'k'}, {0xA4ED, 'b'}, {0x15FA, 'b'},
        {0x15E1, 'd'}, {0xA4F7, 'd'}, {0x2D9, '.'},  {0xBF, '?'},   {0xA1, '!'},   {0x203E, '_'},
        {0x201E, '"'}, {0x2018, ','},
    };
    for (size_t i = 0; i < sizeof(turned) / sizeof(turned[0]); i++)
        if (turned[i].cp == cp)
            return turned[i].to;
    return 0;
}

size_t
gw_upside_down(const char *in, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t m = 0;
    for (size_t e = len; e > 0;) {
        /* the character that ends at e: a valid sequence, else the last byte alone */
        size_t b = e - 1;
        while (b > 0 && e - b < 4 && (s[b] & 0xC0) == 0x80)
            b--;
        int k = gw_utf8_seq_cut(s + b, s + e);
        if (k <= 0 || (size_t)k != e - b) {
            b = e - 1;
            k = 1;
        }
        if (k == 1) {
            static const char swap[] = "bqdpnuBQDPNU", with[] = "qbpdunQBPDUN";
            const char *w = s[b] ? strchr(swap, s[b]) : NULL;
            out[m++] = w ? with[w - swap] : (char)s[b];
        } else {
            char to = unturn(gw_utf8_cp(s + b, (size_t)k));
            if (to) {
                out[m++] = to;
            } else {
                memcpy(out + m, s + b, (size_t)k);
                m += (size_t)k;
            }
        }
        e = b;
    }
    return m;
}
