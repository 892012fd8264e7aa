/*
 * Payload decoder fuzzer: every payload found lies inside the text, after the previous one, with
 * its decoded length within the buffer, and is text (valid UTF-8 but for a sequence cut at the
 * buffer's end, no control bytes but white space); a variation-selector, tag or full-width
 * payload spans characters of its form alone, a byte each; base32 and Morse payloads span their
 * alphabets alone; the scan always ends at the text's end.
 * ROT13 twice and, for valid UTF-8, reversal twice give the input back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filters/decode.h"
#include "tests/fuzz/utf8.h"

static int
text_ok(const unsigned char *s, size_t n)
{
    for (size_t i = 0; i < n;) {
        unsigned char c = s[i];
        if (c < 0x80) {
            if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F)
                return 0;
            i++;
            continue;
        }
        size_t k = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
        if (c < 0xC2 || c > 0xF4)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if (i + j >= n)
                return 1; /* cut at the end */
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
        }
        i += k;
    }
    return 1;
}

/* The length of the character at t[i] (before end) if it is one of form enc: a variation selector
 * (U+FE00-FE0F as EF B8 80-8F, U+E0100-E01EF as F3 A0 84 80 - F3 A0 87 AF), a tag character
 * (U+E0020-E007E as F3 A0 80 A0 - F3 A0 81 BE), a full-width form (U+FF01-FF5E as EF BC 81 -
 * EF BD 9E) or the ideographic space (E3 80 80); else 0. */
static size_t
unit_len(enum gw_enc enc, const unsigned char *t, size_t i, size_t end)
{
    size_t n = end - i;
    if (enc == GW_ENC_VARIATION_SELECTORS) {
        if (n >= 3 && t[i] == 0xEF && t[i + 1] == 0xB8 && t[i + 2] >= 0x80 && t[i + 2] <= 0x8F)
            return 3;
        if (n >= 4 && t[i] == 0xF3 && t[i + 1] == 0xA0 &&
            ((t[i + 2] >= 0x84 && t[i + 2] <= 0x86 && t[i + 3] >= 0x80 && t[i + 3] <= 0xBF) ||
             (t[i + 2] == 0x87 && t[i + 3] >= 0x80 && t[i + 3] <= 0xAF)))
            return 4;
    } else if (enc == GW_ENC_TAGS) {
        if (n >= 4 && t[i] == 0xF3 && t[i + 1] == 0xA0 &&
            ((t[i + 2] == 0x80 && t[i + 3] >= 0xA0 && t[i + 3] <= 0xBF) ||
             (t[i + 2] == 0x81 && t[i + 3] >= 0x80 && t[i + 3] <= 0xBE)))
            return 4;
    } else if (enc == GW_ENC_FULLWIDTH && n >= 3) {
        if ((t[i] == 0xE3 && t[i + 1] == 0x80 && t[i + 2] == 0x80) ||
            (t[i] == 0xEF && t[i + 1] == 0xBC && t[i + 2] >= 0x81 && t[i + 2] <= 0xBF) ||
            (t[i] == 0xEF && t[i + 1] == 0xBD && t[i + 2] >= 0x80 && t[i + 2] <= 0x9E))
            return 3;
    }
    return 0;
}

/* A variation-selector, tag or full-width payload's span is characters of its form alone, at
 * least GW_VS_MIN_BYTES of them, one decoded byte each (cut at cap). */
static int
unit_span(const unsigned char *t, const struct gw_payload *p, size_t cap)
{
    size_t n = 0, k;
    for (size_t i = p->from; i < p->to; n++, i += k)
        if (!(k = unit_len(p->enc, t, i, p->to)))
            return 0;
    return n >= GW_VS_MIN_BYTES && p->len == (n < cap ? n : cap);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    /* the first byte picks the buffer's size: small ones cut payloads */
    size_t cap = data[0] < 128 ? (size_t)data[0] + 1 : 4096;
    const char *t = (const char *)data + 1;
    size_t len = size - 1;
    char *buf = malloc(cap), *a = malloc(len + 1), *b = malloc(len + 1);
    if (!buf || !a || !b)
        abort();
    size_t pos = 0, last = 0;
    struct gw_payload p;
    while (gw_payload_next(t, len, &pos, buf, cap, &p)) {
        switch (p.enc) {
        case GW_ENC_BASE64:
        case GW_ENC_HEX:
            break;
        case GW_ENC_VARIATION_SELECTORS:
        case GW_ENC_TAGS:
        case GW_ENC_FULLWIDTH:
            if (!unit_span((const unsigned char *)t, &p, cap))
                abort();
            break;
        case GW_ENC_BASE32: /* upper case, 2-7 and padding; 5 bits a character */
            for (size_t i = p.from; i < p.to; i++)
                if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= '2' && t[i] <= '7') || t[i] == '='))
                    abort();
            if (p.to - p.from < GW_B32_MIN_RUN)
                abort();
            break;
        case GW_ENC_MORSE: /* dots, dashes, spaces, slashes; a letter a code, at most 5 long */
            for (size_t i = p.from; i < p.to; i++)
                if (t[i] != '.' && t[i] != '-' && t[i] != ' ' && t[i] != '/')
                    abort();
            if (p.len > p.to - p.from ||
                p.len < (cap < GW_MORSE_MIN_LETTERS ? cap : GW_MORSE_MIN_LETTERS))
                abort();
            break;
        default:
            abort();
        }
        if (p.from < last || p.from >= p.to || p.to > len || pos < p.to || p.len > cap)
            abort();
        if (!text_ok((const unsigned char *)buf, p.len))
            abort();
        last = p.to;
    }
    if (pos != len)
        abort();
    gw_rot13(t, len, a);
    gw_rot13(a, len, b);
    if (len && memcmp(b, t, len) != 0)
        abort();
    if (valid_utf8((const unsigned char *)t, len)) {
        gw_reverse(t, len, a);
        gw_reverse(a, len, b);
        if (len && memcmp(b, t, len) != 0)
            abort();
    }
    /* upside down: never longer; text without turned letters, b d n p q u (either case) or invalid
     * bytes comes back reversed, as gw_reverse gives it */
    size_t m = gw_upside_down(t, len, a);
    if (m > len)
        abort();
    if (valid_utf8((const unsigned char *)t, len)) {
        int plain = 1;
        for (size_t i = 0; i < len; i++)
            plain &= (unsigned char)t[i] < 0x80 && (!t[i] || !strchr("bdnpquBDNPQU", t[i]));
        gw_reverse(t, len, b);
        if (plain && (m != len || (len && memcmp(a, b, len) != 0)))
            abort();
    }
    free(buf);
    free(a);
    free(b);
    return 0;
}
