/*
 * The value of one hex digit: percent-encoding and \u escapes in URLs (url.c, urlfind.c), hex
 * checks of identifiers (validate.c), \xHH in regex literals (flt_patterns.c), hex payloads
 * (decode.c); and the lower-case hex of a digest (checksums of configs, models, captured bodies,
 * virtual keys, cached databases).
 */
#ifndef GW_HEXDIGIT_H
#define GW_HEXDIGIT_H

/* 0-15 for 0-9, a-f, A-F; -1 for any other byte. */
static inline int
gw_hex_value(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

#include <stddef.h>

/* The n bytes of in as 2n lower-case hex digits and a NUL in out (2n + 1 bytes). */
static inline void
gw_hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digit[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digit[in[i] >> 4];
        out[2 * i + 1] = digit[in[i] & 15];
    }
    out[2 * n] = '\0';
}

#endif
