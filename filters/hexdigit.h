/*
 * The value of one hex digit: percent-encoding and \u escapes in URLs (url.c, urlfind.c), hex
 * checks of identifiers (validate.c), \xHH in regex literals (flt_patterns.c), hex payloads
 * (decode.c).
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

#endif
