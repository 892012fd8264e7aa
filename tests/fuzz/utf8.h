/* Shared by fuzz targets: whether n bytes are valid UTF-8 (shortest forms, no surrogates, at
 * most U+10FFFF). */
#ifndef PC_FUZZ_UTF8_H
#define PC_FUZZ_UTF8_H

#include <stddef.h>
#include <stdint.h>

static int
valid_utf8(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t v, min;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c < 0xE0) {
            k = 2, v = c & 0x1F, min = 0x80;
        } else if (c >= 0xE0 && c < 0xF0) {
            k = 3, v = c & 0x0F, min = 0x800;
        } else if (c >= 0xF0 && c < 0xF5) {
            k = 4, v = c & 0x07, min = 0x10000;
        } else {
            return 0;
        }
        if (n - i < k)
            return 0;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xC0) != 0x80)
                return 0;
            v = (v << 6) | (s[i + j] & 0x3F);
        }
        if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        i += k;
    }
    return 1;
}

#endif
