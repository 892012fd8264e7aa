/*
 * Text normalisation for prompt-injection matching: see normalize.h for the steps and their order.
 *
 * One pass decodes the input and applies INVISIBLE, WIDTH, CASE, HOMOGLYPH and SPACE, writing the
 * text, map and end arrays allocated once (no step lengthens the text, so len + 1 bytes and
 * len + 1 offsets are enough). SPLIT only removes bytes (or puts one space for several) and LEET
 * replaces one byte by one, so both run in place afterwards.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "filters/normalize.h"

#include "filters/hexdigit.h"
#include "gateway/log.h"
#include "providers/jsonscan.h"

/* Generated from Unicode 14.0.0 simple lowercase mappings for U+00C0..U+052F (0 = none), less
 * U+023A and U+023E whose lowercase is 3 bytes long: no step may lengthen the text. */
static const uint16_t lower_tab[0x530 - 0xC0] = {
    0xE0,  0xE1,  0xE2,  0xE3,  0xE4,  0xE5,  0xE6,  0xE7,  0xE8,  0xE9,  0xEA,  0xEB,  0xEC,
    0xED,  0xEE,  0xEF,  0xF0,  0xF1,  0xF2,  0xF3,  0xF4,  0xF5,  0xF6,  0,     0xF8,  0xF9,
    0xFA,  0xFB,  0xFC,  0xFD,  0xFE,  0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0x101,
    0,     0x103, 0,     0x105, 0,     0x107, 0,     0x109, 0,     0x10B, 0,     0x10D, 0,
    0x10F, 0,     0x111, 0,     0x113, 0,     0x115, 0,     0x117, 0,     0x119, 0,     0x11B,
    0,     0x11D, 0,     0x11F, 0,     0x121, 0,     0x123, 0,     0x125, 0,     0x127, 0,
    0x129, 0,     0x12B, 0,     0x12D, 0,     0x12F, 0,     0x69,  0,     0x133, 0,     0x135,
    0,     0x137, 0,     0,     0x13A, 0,     0x13C, 0,     0x13E, 0,     0x140, 0,     0x142,
    0,     0x144, 0,     0x146, 0,     0x148, 0,     0,     0x14B, 0,     0x14D, 0,     0x14F,
    0,     0x151, 0,     0x153, 0,     0x155, 0,     0x157, 0,     0x159, 0,     0x15B, 0,
    0x15D, 0,     0x15F, 0,     0x161, 0,     0x163, 0,     0x165, 0,     0x167, 0,     0x169,
    0,     0x16B, 0,     0x16D, 0,     0x16F, 0,     0x171, 0,     0x173, 0,     0x175, 0,
    0x177, 0,     0xFF,  0x17A, 0,     0x17C, 0,     0x17E, 0,     0,     0,     0x253, 0x183,
    0,     0x185, 0,     0x254, 0x188, 0,     0x256, 0x257, 0x18C, 0,     0,     0x1DD, 0x259,
    0x25B, 0x192, 0,     0x260, 0x263, 0,     0x269, 0x268, 0x199, 0,     0,     0,     0x26F,
    0x272, 0,     0x275, 0x1A1, 0,     0x1A3, 0,     0x1A5, 0,     0x280, 0x1A8, 0,     0x283,
    0,     0,     0x1AD, 0,     0x288, 0x1B0, 0,     0x28A, 0x28B, 0x1B4, 0,     0x1B6, 0,
    0x292, 0x1B9, 0,     0,     0,     0x1BD, 0,     0,     0,     0,     0,     0,     0,
    0x1C6, 0x1C6, 0,     0x1C9, 0x1C9, 0,     0x1CC, 0x1CC, 0,     0x1CE, 0,     0x1D0, 0,
    0x1D2, 0,     0x1D4, 0,     0x1D6, 0,     0x1D8, 0,     0x1DA, 0,     0x1DC, 0,     0,
    0x1DF, 0,     0x1E1, 0,     0x1E3, 0,     0x1E5, 0,     0x1E7, 0,     0x1E9, 0,     0x1EB,
    0,     0x1ED, 0,     0x1EF, 0,     0,     0x1F3, 0x1F3, 0,     0x1F5, 0,     0x195, 0x1BF,
    0x1F9, 0,     0x1FB, 0,     0x1FD, 0,     0x1FF, 0,     0x201, 0,     0x203, 0,     0x205,
    0,     0x207, 0,     0x209, 0,     0x20B, 0,     0x20D, 0,     0x20F, 0,     0x211, 0,
    0x213, 0,     0x215, 0,     0x217, 0,     0x219, 0,     0x21B, 0,     0x21D, 0,     0x21F,
    0,     0x19E, 0,     0x223, 0,     0x225, 0,     0x227, 0,     0x229, 0,     0x22B, 0,
    0x22D, 0,     0x22F, 0,     0x231, 0,     0x233, 0,     0,     0,     0,     0,     0,
    0,     0,     0x23C, 0,     0x19A, 0,     0,     0,     0x242, 0,     0x180, 0x289, 0x28C,
    0x247, 0,     0x249, 0,     0x24B, 0,     0x24D, 0,     0x24F, 0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0x371,
    0,     0x373, 0,     0,     0,     0x377, 0,     0,     0,     0,     0,     0,     0,
    0,     0x3F3, 0,     0,     0,     0,     0,     0,     0x3AC, 0,     0x3AD, 0x3AE, 0x3AF,
    0,     0x3CC, 0,     0x3CD, 0x3CE, 0,     0x3B1, 0x3B2, 0x3B3, 0x3B4, 0x3B5, 0x3B6, 0x3B7,
    0x3B8, 0x3B9, 0x3BA, 0x3BB, 0x3BC, 0x3BD, 0x3BE, 0x3BF, 0x3C0, 0x3C1, 0,     0x3C3, 0x3C4,
    0x3C5, 0x3C6, 0x3C7, 0x3C8, 0x3C9, 0x3CA, 0x3CB, 0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0x3D7, 0,     0,     0,     0,     0,     0,     0,     0,     0x3D9,
    0,     0x3DB, 0,     0x3DD, 0,     0x3DF, 0,     0x3E1, 0,     0x3E3, 0,     0x3E5, 0,
    0x3E7, 0,     0x3E9, 0,     0x3EB, 0,     0x3ED, 0,     0x3EF, 0,     0,     0,     0,
    0,     0x3B8, 0,     0,     0x3F8, 0,     0x3F2, 0x3FB, 0,     0,     0x37B, 0x37C, 0x37D,
    0x450, 0x451, 0x452, 0x453, 0x454, 0x455, 0x456, 0x457, 0x458, 0x459, 0x45A, 0x45B, 0x45C,
    0x45D, 0x45E, 0x45F, 0x430, 0x431, 0x432, 0x433, 0x434, 0x435, 0x436, 0x437, 0x438, 0x439,
    0x43A, 0x43B, 0x43C, 0x43D, 0x43E, 0x43F, 0x440, 0x441, 0x442, 0x443, 0x444, 0x445, 0x446,
    0x447, 0x448, 0x449, 0x44A, 0x44B, 0x44C, 0x44D, 0x44E, 0x44F, 0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,     0,
    0,     0,     0,     0,     0,     0x461, 0,     0x463, 0,     0x465, 0,     0x467, 0,
    0x469, 0,     0x46B, 0,     0x46D, 0,     0x46F, 0,     0x471, 0,     0x473, 0,     0x475,
    0,     0x477, 0,     0x479, 0,     0x47B, 0,     0x47D, 0,     0x47F, 0,     0x481, 0,
    0,     0,     0,     0,     0,     0,     0,     0,     0x48B, 0,     0x48D, 0,     0x48F,
    0,     0x491, 0,     0x493, 0,     0x495, 0,     0x497, 0,     0x499, 0,     0x49B, 0,
    0x49D, 0,     0x49F, 0,     0x4A1, 0,     0x4A3, 0,     0x4A5, 0,     0x4A7, 0,     0x4A9,
    0,     0x4AB, 0,     0x4AD, 0,     0x4AF, 0,     0x4B1, 0,     0x4B3, 0,     0x4B5, 0,
    0x4B7, 0,     0x4B9, 0,     0x4BB, 0,     0x4BD, 0,     0x4BF, 0,     0x4CF, 0x4C2, 0,
    0x4C4, 0,     0x4C6, 0,     0x4C8, 0,     0x4CA, 0,     0x4CC, 0,     0x4CE, 0,     0,
    0x4D1, 0,     0x4D3, 0,     0x4D5, 0,     0x4D7, 0,     0x4D9, 0,     0x4DB, 0,     0x4DD,
    0,     0x4DF, 0,     0x4E1, 0,     0x4E3, 0,     0x4E5, 0,     0x4E7, 0,     0x4E9, 0,
    0x4EB, 0,     0x4ED, 0,     0x4EF, 0,     0x4F1, 0,     0x4F3, 0,     0x4F5, 0,     0x4F7,
    0,     0x4F9, 0,     0x4FB, 0,     0x4FD, 0,     0x4FF, 0,     0x501, 0,     0x503, 0,
    0x505, 0,     0x507, 0,     0x509, 0,     0x50B, 0,     0x50D, 0,     0x50F, 0,     0x511,
    0,     0x513, 0,     0x515, 0,     0x517, 0,     0x519, 0,     0x51B, 0,     0x51D, 0,
    0x51F, 0,     0x521, 0,     0x523, 0,     0x525, 0,     0x527, 0,     0x529, 0,     0x52B,
    0,     0x52D, 0,     0x52F, 0,
};

/* ASCII classes. */
enum {
    A_LATIN = 1, /* a-z A-Z */
    A_DIGIT = 2,
    A_WS = 4,  /* white space SPACE collapses */
    A_SEP = 8, /* SPLIT separators */
    A_LEET = 16,
    A_HIGH = 32, /* a byte >= 0x80 (bclass only): part of a word */
};
#define A_WORD (A_LATIN | A_DIGIT | A_HIGH)

/* Byte classes of the SPLIT scan (next_candidate, whose bit arithmetic relies on these values). */
enum {
    S_LETTER = 1,  /* a-z A-Z */
    S_CONT = 2,    /* 0x80..0xBF */
    S_FREE = 4,    /* may end a character outside words: ASCII but letters and digits, S_CONT */
    S_LEAD2 = 8,   /* may start a 2-byte unit letter or mark */
    S_LEAD3 = 16,  /* 0xE0: may start a Thai letter or mark */
    S_WORD2 = 32,  /* starts a 2-byte character that is part of a word (Latin, Cyrillic, ...) */
    S_NOMARK = 64, /* S_LEAD2 of a block without marks: all but 0xCC, 0xCD, 0xD9 */
    S_SEP = 128,   /* may start a separator: the ASCII ones, 0xC2, 0xE2, 0xE3 */
};

static unsigned char aclass[128];
static unsigned char bclass[256]; /* aclass for every byte value */
static unsigned char sclass[256];
static unsigned char ascii_lower[128], ascii_same[128];
static char leet_to[128];

static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void init_scramble(void);

static void
init_tables(void)
{
    for (int c = 0; c < 128; c++) {
        unsigned char k = 0;
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            k |= A_LATIN;
        if (c >= '0' && c <= '9')
            k |= A_DIGIT;
        if (c == ' ' || (c >= '\t' && c <= '\r'))
            k |= A_WS;
        if (strchr(" .-_*/|", c) && c)
            k |= A_SEP;
        ascii_same[c] = (unsigned char)c;
        ascii_lower[c] = (unsigned char)(c >= 'A' && c <= 'Z' ? c + 'a' - 'A' : c);
        aclass[c] = k;
    }
    static const char from[] = "013457@$!", to[] = "oieastasi";
    for (int i = 0; from[i]; i++) {
        leet_to[(unsigned char)from[i]] = to[i];
        aclass[(unsigned char)from[i]] |= A_LEET;
    }
    for (int c = 0; c < 256; c++) {
        unsigned k = 0;
        bclass[c] = c < 128 ? aclass[c] : A_HIGH;
        if (c < 128) {
            k |= (aclass[c] & A_LATIN) ? S_LETTER : (aclass[c] & A_DIGIT) ? 0 : S_FREE;
            k |= (aclass[c] & A_SEP) ? S_SEP : 0;
        } else if (c < 0xC0) {
            k |= S_CONT | S_FREE;
        } else {
            if ((c >= 0xC3 && c <= 0xC9) || (c >= 0xCC && c <= 0xD4) || (c >= 0xD7 && c <= 0xDB))
                k |= S_LEAD2 | (c == 0xCC || c == 0xCD || c == 0xD9 ? 0 : S_NOMARK);
            if ((c >= 0xC3 && c <= 0xCC) || (c >= 0xCF && c <= 0xD4) || c == 0xDA)
                k |= S_WORD2;
            if (c == 0xE0)
                k |= S_LEAD3;
            if (c == 0xC2 || c == 0xE2 || c == 0xE3)
                k |= S_SEP;
        }
        sclass[c] = (unsigned char)k;
    }
    init_scramble();
}

/* Decodes one strict UTF-8 character at s[0..n) (the gateway's one check, gw_utf8_seq); returns
 * its length, or 0 when invalid or cut short. */
static size_t
utf8_decode(const unsigned char *s, size_t n, uint32_t *cp)
{
    size_t k = gw_utf8_seq(s, s + n);
    if (k)
        *cp = gw_utf8_cp(s, k);
    return k;
}

static size_t
utf8_encode(uint32_t cp, char *o)
{
    if (cp < 0x80) {
        o[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (char)(0xC0 | (cp >> 6));
        o[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (char)(0xE0 | (cp >> 12));
        o[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (char)(0xF0 | (cp >> 18));
    o[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static int
is_invisible(uint32_t cp)
{
    return cp == 0xAD || cp == 0x34F || cp == 0x61C || (cp >= 0x180B && cp <= 0x180F) ||
           cp == 0x115F || cp == 0x1160 || cp == 0x3164 || cp == 0xFFA0 ||
           (cp >= 0x200B && cp <= 0x200F) || (cp >= 0x202A && cp <= 0x202E) ||
           (cp >= 0x2060 && cp <= 0x2064) || (cp >= 0x2066 && cp <= 0x2069) ||
           (cp >= 0xFE00 && cp <= 0xFE0F) || cp == 0xFEFF || (cp >= 0xE0000 && cp <= 0xE007F) ||
           (cp >= 0xE0100 && cp <= 0xE01EF);
}

/* Latin letters with diacritics -> their base letter, case kept (0: none): U+00C0..024F and
 * U+1E00..1EFF. Generated from the Unicode canonical decompositions (a base ASCII letter followed
 * by combining marks only; Python unicodedata), plus the letters with a stroke that have none:
 * ø đ ł ħ ŧ ı ƀ ɨ ƚ ɍ ɇ ƶ ǥ and their capitals. */
/* clang-format off */
static const char fold_latin[400] = {
    'A', 'A', 'A', 'A', 'A', 'A', 0, 'C', 'E', 'E', 'E', 'E', 'I', 'I', 'I', 'I', 0, 'N', 'O', 'O',
    'O', 'O', 'O', 0, 'O', 'U', 'U', 'U', 'U', 'Y', 0, 0, 'a', 'a', 'a', 'a', 'a', 'a', 0, 'c',
    'e', 'e', 'e', 'e', 'i', 'i', 'i', 'i', 0, 'n', 'o', 'o', 'o', 'o', 'o', 0, 'o', 'u', 'u', 'u',
    'u', 'y', 0, 'y', 'A', 'a', 'A', 'a', 'A', 'a', 'C', 'c', 'C', 'c', 'C', 'c', 'C', 'c', 'D',
    'd', 'D', 'd', 'E', 'e', 'E', 'e', 'E', 'e', 'E', 'e', 'E', 'e', 'G', 'g', 'G', 'g', 'G', 'g',
    'G', 'g', 'H', 'h', 'H', 'h', 'I', 'i', 'I', 'i', 'I', 'i', 'I', 'i', 'I', 'i', 0, 0, 'J', 'j',
    'K', 'k', 0, 'L', 'l', 'L', 'l', 'L', 'l', 0, 0, 'L', 'l', 'N', 'n', 'N', 'n', 'N', 'n', 0, 0,
    0, 'O', 'o', 'O', 'o', 'O', 'o', 0, 0, 'R', 'r', 'R', 'r', 'R', 'r', 'S', 's', 'S', 's', 'S',
    's', 'S', 's', 'T', 't', 'T', 't', 'T', 't', 'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u',
    'U', 'u', 'W', 'w', 'Y', 'y', 'Y', 'Z', 'z', 'Z', 'z', 'Z', 'z', 0, 'b', 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'l', 0, 0, 0, 0, 0, 'O', 'o', 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 'U', 'u', 0, 0, 0, 0, 'Z', 'z', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'A', 'a', 'I', 'i', 'O', 'o', 'U', 'u', 'U', 'u', 'U', 'u', 'U',
    'u', 'U', 'u', 0, 'A', 'a', 'A', 'a', 0, 0, 'G', 'g', 'G', 'g', 'K', 'k', 'O', 'o', 'O', 'o',
    0, 0, 'j', 0, 0, 0, 'G', 'g', 0, 0, 'N', 'n', 'A', 'a', 0, 0, 0, 0, 'A', 'a', 'A', 'a', 'E',
    'e', 'E', 'e', 'I', 'i', 'I', 'i', 'O', 'o', 'O', 'o', 'R', 'r', 'R', 'r', 'U', 'u', 'U', 'u',
    'S', 's', 'T', 't', 0, 0, 'H', 'h', 0, 0, 0, 0, 0, 0, 'A', 'a', 'E', 'e', 'O', 'o', 'O', 'o',
    'O', 'o', 'O', 'o', 'Y', 'y', 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 'E', 'e',
    0, 0, 0, 0, 'R', 'r', 0, 0,
};
static const char fold_latin_ext[256] = {
    'A', 'a', 'B', 'b', 'B', 'b', 'B', 'b', 'C', 'c', 'D', 'd', 'D', 'd', 'D', 'd', 'D', 'd', 'D',
    'd', 'E', 'e', 'E', 'e', 'E', 'e', 'E', 'e', 'E', 'e', 'F', 'f', 'G', 'g', 'H', 'h', 'H', 'h',
    'H', 'h', 'H', 'h', 'H', 'h', 'I', 'i', 'I', 'i', 'K', 'k', 'K', 'k', 'K', 'k', 'L', 'l', 'L',
    'l', 'L', 'l', 'L', 'l', 'M', 'm', 'M', 'm', 'M', 'm', 'N', 'n', 'N', 'n', 'N', 'n', 'N', 'n',
    'O', 'o', 'O', 'o', 'O', 'o', 'O', 'o', 'P', 'p', 'P', 'p', 'R', 'r', 'R', 'r', 'R', 'r', 'R',
    'r', 'S', 's', 'S', 's', 'S', 's', 'S', 's', 'S', 's', 'T', 't', 'T', 't', 'T', 't', 'T', 't',
    'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u', 'V', 'v', 'V', 'v', 'W', 'w', 'W', 'w', 'W',
    'w', 'W', 'w', 'W', 'w', 'X', 'x', 'X', 'x', 'Y', 'y', 'Z', 'z', 'Z', 'z', 'Z', 'z', 'h', 't',
    'w', 'y', 0, 0, 0, 0, 0, 0, 'A', 'a', 'A', 'a', 'A', 'a', 'A', 'a', 'A', 'a', 'A', 'a', 'A',
    'a', 'A', 'a', 'A', 'a', 'A', 'a', 'A', 'a', 'A', 'a', 'E', 'e', 'E', 'e', 'E', 'e', 'E', 'e',
    'E', 'e', 'E', 'e', 'E', 'e', 'E', 'e', 'I', 'i', 'I', 'i', 'O', 'o', 'O', 'o', 'O', 'o', 'O',
    'o', 'O', 'o', 'O', 'o', 'O', 'o', 'O', 'o', 'O', 'o', 'O', 'o', 'O', 'o', 'O', 'o', 'U', 'u',
    'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u', 'U', 'u', 'Y', 'y', 'Y', 'y', 'Y', 'y', 'Y',
    'y', 0, 0, 0, 0, 0, 0,
};
/* clang-format on */

static char
fold_diacritic(uint32_t cp)
{
    if (cp >= 0xC0 && cp <= 0x24F)
        return fold_latin[cp - 0xC0];
    if (cp >= 0x1E00 && cp <= 0x1EFF)
        return fold_latin_ext[cp - 0x1E00];
    return 0;
}

/* Combining marks (U+0300..036F, and the extended, supplement, for-symbols and half-mark blocks:
 * strike-through, keycap "i⃣g⃣n⃣"): after a Latin letter they are part of it. */
static int
is_combining(uint32_t cp)
{
    return (cp >= 0x300 && cp <= 0x36F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
           (cp >= 0xFE20 && cp <= 0xFE2F);
}

/* Marks a word is written with or without (or that only stretch it), dropped with the diacritics:
 * the Arabic tatweel (kashida) and harakat, Hebrew points and cantillation, and the nukta of
 * Devanagari, Bengali, Gurmukhi, Gujarati and Oriya. Attackers slip them into words to break a
 * match ("تجاهـــل", "تَجَاهَلْ" = "تجاهل"); readers and models read through them. Not the
 * Hebrew punctuation among the points (maqaf U+05BE, paseq, sof pasuq, nun hafukha). */
static int
is_optional_mark(uint32_t cp)
{
    if (cp < 0x591 || cp > 0xB3C)
        return 0;
    if (cp <= 0x5C7)
        return cp != 0x5BE && cp != 0x5C0 && cp != 0x5C3 && cp != 0x5C6;
    return cp == 0x640 || (cp >= 0x64B && cp <= 0x65F) || cp == 0x670 ||
           (cp >= 0x6D6 && cp <= 0x6DC) || (cp >= 0x6DF && cp <= 0x6E4) || cp == 0x6E7 ||
           cp == 0x6E8 || (cp >= 0x6EA && cp <= 0x6ED) || cp == 0x93C || cp == 0x9BC ||
           cp == 0xA3C || cp == 0xABC || cp == 0xB3C;
}

/* A letter written with a nukta as one code point -> the letter without it (0: none): क़ -> क,
 * য় -> য (their canonical decompositions: the letter, then the nukta, which is dropped). */
static uint32_t
fold_nukta_letter(uint32_t cp)
{
    static const uint16_t deva[8] = {0x915, 0x916, 0x917, 0x91C, 0x921, 0x922, 0x92B, 0x92F};
    if (cp >= 0x958 && cp <= 0x95F)
        return deva[cp - 0x958];
    switch (cp) {
    case 0x929:
        return 0x928;
    case 0x931:
        return 0x930;
    case 0x934:
        return 0x933;
    case 0x9DC:
        return 0x9A1;
    case 0x9DD:
        return 0x9A2;
    case 0x9DF:
        return 0x9AF;
    case 0xA33:
        return 0xA32;
    case 0xA36:
        return 0xA38;
    case 0xA59:
        return 0xA16;
    case 0xA5A:
        return 0xA17;
    case 0xA5B:
        return 0xA1C;
    case 0xA5E:
        return 0xA2B;
    case 0xB5C:
        return 0xB21;
    case 0xB5D:
        return 0xB22;
    default:
        return 0;
    }
}

/* Whether the UTF-8 output ending at o (o bytes written) ends with a Cyrillic letter: a stress
 * mark (U+0300, U+0301) after one is dropped too ("приве́т"). */
static int
after_cyrillic(const char *t, size_t o)
{
    return o >= 2 && (unsigned char)t[o - 2] >= 0xD0 && (unsigned char)t[o - 2] <= 0xD3 &&
           ((unsigned char)t[o - 1] & 0xC0) == 0x80;
}

static int
is_space_cp(uint32_t cp)
{
    return cp == 0x85 || cp == 0xA0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) ||
           cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F || cp == 0x2800 ||
           cp == 0x3000;
}

/* Sorted single characters with an ASCII twin (superscripts, subscripts, modifier letters,
 * letter-like symbols, the small capitals of "fancy text" generators: ɪɢɴᴏʀᴇ), and the Cherokee and
 * Lisu letters that look like Latin ones (Unicode's confusables: "ꓲꓖꓠꓳꓣꓰ" is IGNORE in Lisu
 * letters) — whole words of them too, as text in those scripts hardly reaches a model — and the
 * letters of braille (⠊⠛⠝⠕⠗⠑: models read it, patterns would not). */
static const struct {
    uint32_t cp;
    char to;
} fold_pairs[] = {
    {0xB2, '2'},   {0xB3, '3'},   {0xB9, '1'},   {0x261, 'g'},  {0x262, 'g'},   {0x26A, 'i'},
    {0x274, 'n'},  {0x280, 'r'},  {0x28F, 'y'},  {0x299, 'b'},  {0x29C, 'h'},   {0x29F, 'l'},
    {0x2B0, 'h'},  {0x2B2, 'j'},  {0x2B3, 'r'},  {0x2B7, 'w'},  {0x2B8, 'y'},   {0x2E1, 'l'},
    {0x2E2, 's'},  {0x2E3, 'x'},  {0x13A0, 'D'}, {0x13A1, 'R'}, {0x13A2, 'T'},  {0x13A5, 'i'},
    {0x13A9, 'Y'}, {0x13AA, 'A'}, {0x13AB, 'J'}, {0x13AC, 'E'}, {0x13B3, 'W'},  {0x13B7, 'M'},
    {0x13BB, 'H'}, {0x13BD, 'Y'}, {0x13C0, 'G'}, {0x13C2, 'h'}, {0x13C3, 'Z'},  {0x13CF, 'b'},
    {0x13F3, 'G'}, {0x13F4, 'B'}, {0x1D00, 'a'}, {0x1D04, 'c'}, {0x1D05, 'd'},  {0x1D07, 'e'},
    {0x1D0A, 'j'}, {0x1D0B, 'k'}, {0x1D0D, 'm'}, {0x1D0F, 'o'}, {0x1D18, 'p'},  {0x1D1B, 't'},
    {0x1D1C, 'u'}, {0x1D20, 'v'}, {0x1D21, 'w'}, {0x1D22, 'z'}, {0x1D2C, 'A'},  {0x1D2E, 'B'},
    {0x1D30, 'D'}, {0x1D31, 'E'}, {0x1D33, 'G'}, {0x1D34, 'H'}, {0x1D35, 'I'},  {0x1D36, 'J'},
    {0x1D37, 'K'}, {0x1D38, 'L'}, {0x1D39, 'M'}, {0x1D3A, 'N'}, {0x1D3C, 'O'},  {0x1D3E, 'P'},
    {0x1D3F, 'R'}, {0x1D40, 'T'}, {0x1D41, 'U'}, {0x1D42, 'W'}, {0x1D43, 'a'},  {0x1D47, 'b'},
    {0x1D48, 'd'}, {0x1D49, 'e'}, {0x1D4D, 'g'}, {0x1D4F, 'k'}, {0x1D50, 'm'},  {0x1D52, 'o'},
    {0x1D56, 'p'}, {0x1D57, 't'}, {0x1D58, 'u'}, {0x1D5B, 'v'}, {0x1D62, 'i'},  {0x1D63, 'r'},
    {0x1D64, 'u'}, {0x1D65, 'v'}, {0x1D9C, 'c'}, {0x1DA0, 'f'}, {0x1DA2, 'g'},  {0x1DA4, 'i'},
    {0x1DA6, 'i'}, {0x1DAB, 'l'}, {0x1DB0, 'n'}, {0x1DB8, 'u'}, {0x1DBB, 'z'},  {0x2070, '0'},
    {0x2071, 'i'}, {0x207F, 'n'}, {0x2090, 'a'}, {0x2091, 'e'}, {0x2092, 'o'},  {0x2093, 'x'},
    {0x2095, 'h'}, {0x2096, 'k'}, {0x2097, 'l'}, {0x2098, 'm'}, {0x2099, 'n'},  {0x209A, 'p'},
    {0x209B, 's'}, {0x209C, 't'}, {0x2102, 'C'}, {0x210A, 'g'}, {0x210B, 'H'},  {0x210C, 'H'},
    {0x210D, 'H'}, {0x210E, 'h'}, {0x2110, 'I'}, {0x2111, 'I'}, {0x2112, 'L'},  {0x2113, 'l'},
    {0x2115, 'N'}, {0x2119, 'P'}, {0x211A, 'Q'}, {0x211B, 'R'}, {0x211C, 'R'},  {0x211D, 'R'},
    {0x2124, 'Z'}, {0x2128, 'Z'}, {0x212C, 'B'}, {0x212D, 'C'}, {0x212F, 'e'},  {0x2130, 'E'},
    {0x2131, 'F'}, {0x2133, 'M'}, {0x2134, 'o'}, {0x2139, 'i'}, {0x2160, 'I'},  {0x2164, 'V'},
    {0x2169, 'X'}, {0x216C, 'L'}, {0x216D, 'C'}, {0x216E, 'D'}, {0x216F, 'M'},  {0x2170, 'i'},
    {0x2174, 'v'}, {0x2179, 'x'}, {0x217C, 'l'}, {0x217D, 'c'}, {0x217E, 'd'},  {0x217F, 'm'},
    {0x24EA, '0'}, {0x24FF, '0'}, {0x2801, 'a'}, {0x2803, 'b'}, {0x2805, 'k'},  {0x2807, 'l'},
    {0x2809, 'c'}, {0x280A, 'i'}, {0x280B, 'f'}, {0x280D, 'm'}, {0x280E, 's'},  {0x280F, 'p'},
    {0x2811, 'e'}, {0x2813, 'h'}, {0x2815, 'o'}, {0x2817, 'r'}, {0x2819, 'd'},  {0x281A, 'j'},
    {0x281B, 'g'}, {0x281D, 'n'}, {0x281E, 't'}, {0x281F, 'q'}, {0x2825, 'u'},  {0x2827, 'v'},
    {0x282D, 'x'}, {0x2835, 'z'}, {0x283A, 'w'}, {0x283D, 'y'}, {0x2C7C, 'j'},  {0xA4D0, 'B'},
    {0xA4D1, 'P'}, {0xA4D2, 'd'}, {0xA4D3, 'D'}, {0xA4D4, 'T'}, {0xA4D6, 'G'},  {0xA4D7, 'K'},
    {0xA4D9, 'J'}, {0xA4DA, 'C'}, {0xA4DC, 'Z'}, {0xA4DD, 'F'}, {0xA4DF, 'M'},  {0xA4E0, 'N'},
    {0xA4E1, 'L'}, {0xA4E2, 'S'}, {0xA4E3, 'R'}, {0xA4E6, 'V'}, {0xA4E7, 'H'},  {0xA4EA, 'W'},
    {0xA4EB, 'X'}, {0xA4EC, 'Y'}, {0xA4EE, 'A'}, {0xA4F0, 'E'}, {0xA4F2, 'I'},  {0xA4F3, 'O'},
    {0xA4F4, 'U'}, {0xA730, 'f'}, {0xA731, 's'}, {0xAB75, 'i'}, {0xAB81, 'r'},  {0xAB83, 'w'},
    {0xAB93, 'z'}, {0xABA9, 'v'}, {0xABAA, 's'}, {0xABAF, 'c'}, {0x1D6A4, 'i'}, {0x1D6A5, 'j'},
    {0x1F100, '0'}};

static char
fold_pair(uint32_t cp)
{
    size_t lo = 0, hi = sizeof(fold_pairs) / sizeof(fold_pairs[0]);
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (fold_pairs[mid].cp == cp)
            return fold_pairs[mid].to;
        if (fold_pairs[mid].cp < cp)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* Writes the decimal form of 1..20 and returns its length. */
static size_t
put_number(unsigned v, char *o)
{
    if (v >= 10) {
        o[0] = (char)('0' + v / 10);
        o[1] = (char)('0' + v % 10);
        return 2;
    }
    o[0] = (char)('0' + v);
    return 1;
}

/* The ASCII folding of a compatibility character into o (at most 3 bytes), or 0 when none. */
static size_t
fold_width(uint32_t cp, char *o)
{
    static const char *const lig[] = {"ff", "fi", "fl", "ffi", "ffl", "st", "st"};
    if (cp < 0x1D00 && !(cp >= 0xB2 && cp <= 0xB9) && !(cp >= 0x261 && cp <= 0x2E3) &&
        !(cp >= 0x13A0 && cp <= 0x13F4))
        return 0;
    if (cp >= 0xFF01 && cp <= 0xFF5E) {
        o[0] = (char)(cp - 0xFF01 + 0x21);
        return 1;
    }
    if (cp == 0x3000) {
        o[0] = ' ';
        return 1;
    }
    if (cp >= 0xFB00 && cp <= 0xFB06) {
        size_t n = strlen(lig[cp - 0xFB00]);
        memcpy(o, lig[cp - 0xFB00], n);
        return n;
    }
    if (cp >= 0x1D400 && cp < 0x1D6A4) {
        unsigned k = (cp - 0x1D400) % 52;
        o[0] = (char)(k < 26 ? 'A' + k : 'a' + k - 26);
        return 1;
    }
    if (cp >= 0x1D7CE && cp <= 0x1D7FF) {
        o[0] = (char)('0' + (cp - 0x1D7CE) % 10);
        return 1;
    }
    if (cp >= 0x2460 && cp <= 0x2473) /* circled 1..20 */
        return put_number(cp - 0x2460 + 1, o);
    if (cp >= 0x2474 && cp <= 0x2487) /* parenthesized 1..20 */
        return put_number(cp - 0x2474 + 1, o);
    if (cp >= 0x2488 && cp <= 0x249B) /* 1..20 full stop */
        return put_number(cp - 0x2488 + 1, o);
    if (cp >= 0x249C && cp <= 0x24B5) { /* parenthesized a..z */
        o[0] = (char)('a' + cp - 0x249C);
        return 1;
    }
    if (cp >= 0x24B6 && cp <= 0x24CF) {
        o[0] = (char)('A' + cp - 0x24B6);
        return 1;
    }
    if (cp >= 0x24D0 && cp <= 0x24E9) {
        o[0] = (char)('a' + cp - 0x24D0);
        return 1;
    }
    if (cp >= 0x24EB && cp <= 0x24F4) /* negative circled 11..20 */
        return put_number(cp - 0x24EB + 11, o);
    if (cp >= 0x24F5 && cp <= 0x24FE) /* double circled 1..10 */
        return put_number(cp - 0x24F5 + 1, o);
    if (cp >= 0x2776 && cp <= 0x2793) /* dingbat circled 1..10, three sets */
        return put_number((cp - 0x2776) % 10 + 1, o);
    if (cp >= 0x2080 && cp <= 0x2089) {
        o[0] = (char)('0' + cp - 0x2080);
        return 1;
    }
    if (cp >= 0x2074 && cp <= 0x2079) {
        o[0] = (char)('0' + cp - 0x2070);
        return 1;
    }
    if (cp >= 0x1F101 && cp <= 0x1F10A) { /* digit comma */
        o[0] = (char)('0' + cp - 0x1F101);
        return 1;
    }
    if (cp >= 0x1F110 && cp <= 0x1F189) { /* parenthesized, circled, squared, negative: A..Z */
        uint32_t b = cp >= 0x1F170   ? 0x1F170
                     : cp >= 0x1F150 ? 0x1F150
                     : cp >= 0x1F130 ? 0x1F130
                                     : 0x1F110;
        if (cp - b >= 26)
            return 0;
        o[0] = (char)('A' + cp - b);
        return 1;
    }
    if (cp >= 0x1F1E6 && cp <= 0x1F1FF) { /* regional indicators: A..Z (a pair is a flag) */
        o[0] = (char)('A' + cp - 0x1F1E6);
        return 1;
    }
    o[0] = fold_pair(cp);
    return o[0] ? 1 : 0;
}

/* The Latin twin (same case) of a Cyrillic or Greek look-alike letter, or 0. */
static char
homoglyph(uint32_t cp)
{
    if (cp < 0x391 || cp > 0x585)
        return 0;
    switch (cp) {
    case 0x391:
        return 'A';
    case 0x392:
        return 'B';
    case 0x395:
        return 'E';
    case 0x396:
        return 'Z';
    case 0x397:
        return 'H';
    case 0x399:
        return 'I';
    case 0x39A:
        return 'K';
    case 0x39C:
        return 'M';
    case 0x39D:
        return 'N';
    case 0x39F:
        return 'O';
    case 0x3A1:
        return 'P';
    case 0x3A4:
        return 'T';
    case 0x3A5:
        return 'Y';
    case 0x3A7:
        return 'X';
    case 0x3B1:
        return 'a';
    case 0x3B9:
        return 'i';
    case 0x3BA:
        return 'k';
    case 0x3BD:
        return 'v';
    case 0x3BF:
        return 'o';
    case 0x3C1:
        return 'p';
    case 0x3C4:
        return 't';
    case 0x3C5:
        return 'u';
    case 0x3C7:
        return 'x';
    case 0x3F2:
        return 'c';
    case 0x3F3:
        return 'j';
    case 0x3F9:
        return 'C';
    case 0x405:
        return 'S';
    case 0x406:
        return 'I';
    case 0x408:
        return 'J';
    case 0x410:
        return 'A';
    case 0x412:
        return 'B';
    case 0x415:
        return 'E';
    case 0x41A:
        return 'K';
    case 0x41C:
        return 'M';
    case 0x41D:
        return 'H';
    case 0x41E:
        return 'O';
    case 0x420:
        return 'P';
    case 0x421:
        return 'C';
    case 0x422:
        return 'T';
    case 0x423:
        return 'Y';
    case 0x425:
        return 'X';
    case 0x430:
        return 'a';
    case 0x435:
        return 'e';
    case 0x43E:
        return 'o';
    case 0x440:
        return 'p';
    case 0x441:
        return 'c';
    case 0x443:
        return 'y';
    case 0x445:
        return 'x';
    case 0x455:
        return 's';
    case 0x456:
        return 'i';
    case 0x458:
        return 'j';
    case 0x4AE:
        return 'Y';
    case 0x4AF:
        return 'y';
    case 0x4BA:
        return 'H';
    case 0x4BB:
        return 'h';
    case 0x4C0:
        return 'I';
    case 0x4CF:
        return 'l';
    case 0x501:
        return 'd';
    case 0x51A:
        return 'Q';
    case 0x51B:
        return 'q';
    case 0x51C:
        return 'W';
    case 0x51D:
        return 'w';
    /* Armenian */
    case 0x54D:
        return 'U';
    case 0x555:
        return 'O';
    case 0x566:
        return 'q';
    case 0x570:
        return 'h';
    case 0x578:
        return 'n';
    case 0x57D:
        return 'u';
    case 0x581:
        return 'g';
    case 0x585:
        return 'o';
    default:
        return 0;
    }
}

/* Word classes for the homoglyph step. */
enum { W_BREAK, W_LATIN, W_CG, W_OTHER };

static int
word_class(uint32_t cp)
{
    if (cp < 0x80)
        return (aclass[cp] & A_LATIN) ? W_LATIN : (aclass[cp] & A_DIGIT) ? W_OTHER : W_BREAK;
    if ((cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7) || (cp >= 0x1E00 && cp <= 0x1EFF))
        return W_LATIN;
    if (is_combining(cp) || (cp >= 0x483 && cp <= 0x489))
        return W_OTHER;
    if ((cp >= 0x370 && cp <= 0x3FF && cp != 0x37E && cp != 0x387) ||
        (cp >= 0x400 && cp <= 0x52F) || (cp >= 0x531 && cp <= 0x587))
        return W_CG;
    return W_BREAK;
}

/* An HTML character reference at s[0] == '&' (n bytes left): &#DDD; (up to 7 digits), &#xHHH; (up
 * to 6), or one of &lt; &gt; &quot; &apos; &nbsp; in any case (CASE lowercases the ones it does not
 * decode, and the text must read the same normalised again). Returns its length with *cp set, or
 * 0. Never one for '&' (&amp;, &#38;): that would make a reference of the text after it. */
static size_t
entity_at(const unsigned char *s, size_t n, uint32_t *cp)
{
    static const struct {
        const char *name;
        uint32_t cp;
    } named[] = {{"lt;", '<'}, {"gt;", '>'}, {"quot;", '"'}, {"apos;", '\''}, {"nbsp;", 0xA0}};
    if (n >= 4 && s[1] == '#') {
        int hex = s[2] == 'x' || s[2] == 'X';
        size_t i = 2 + (size_t)hex, start = i, max = hex ? 6 : 7;
        uint32_t v = 0;
        for (; i < n && i - start < max; i++) {
            int d = hex ? gw_hex_value(s[i]) : s[i] >= '0' && s[i] <= '9' ? s[i] - '0' : -1;
            if (d < 0)
                break;
            v = v * (hex ? 16u : 10u) + (uint32_t)d;
        }
        if (i == start || i >= n || s[i] != ';' || v == 0 || v == '&' || v > 0x10FFFF ||
            (v >= 0xD800 && v <= 0xDFFF))
            return 0;
        *cp = v;
        return i + 1;
    }
    for (size_t k = 0; k < sizeof(named) / sizeof(named[0]); k++) {
        size_t l = strlen(named[k].name);
        if (n > l && strncasecmp((const char *)s + 1, named[k].name, l) == 0) {
            *cp = named[k].cp;
            return l + 1;
        }
    }
    return 0;
}

/* Whether the output so far ends with the start of a reference ("&", "&#1", "&#x", "&l"): a
 * character decoded right after it could complete one, which the next normalisation would then
 * decode too. A reference there is left as it is. */
static int
entity_prefix(const char *t, size_t o)
{
    size_t j = o;
    while (j > 0 && o - j < 8 && (unsigned char)t[j - 1] < 0x80 &&
           (aclass[(unsigned char)t[j - 1]] & (A_LATIN | A_DIGIT)))
        j--;
    if (j > 0 && t[j - 1] == '#')
        j--;
    return j > 0 && t[j - 1] == '&';
}

/* The word class of code point cp as the first pass treats it under flags. */
static int
class_of(uint32_t cp, unsigned flags)
{
    /* never split a word, whether dropped or kept */
    if (is_invisible(cp) || is_optional_mark(cp))
        return W_OTHER;
    char f[4];
    if ((flags & GW_NORM_WIDTH) && fold_width(cp, f))
        return word_class((unsigned char)f[0]);
    return word_class(cp);
}

/* The class of the character at s[0..n) after the steps before HOMOGLYPH; *k gets its length. */
static int
class_at(const unsigned char *s, size_t n, unsigned flags, size_t *k)
{
    uint32_t cp;
    /* a character reference as the character it stands for, decoded or not (it is decoded unless
     * the text before it is the start of one: the same before and after normalising) */
    if (s[0] == '&' && (flags & GW_NORM_WIDTH) && (*k = entity_at(s, n, &cp)) > 0)
        return class_of(cp, flags);
    *k = utf8_decode(s, n, &cp);
    if (*k == 0) {
        *k = 1;
        return W_BREAK;
    }
    return class_of(cp, flags);
}

struct pass {
    const unsigned char *in;
    size_t n;
    unsigned flags;
    char *t;
    uint32_t *map, *end;
    size_t o;
    int in_space;       /* the last output byte is a collapsed white-space run */
    int word_latin;     /* the current word has had a Latin letter */
    size_t decided_end; /* homoglyph decision word_mixed holds for input offsets below this */
    int word_mixed;
};

static void
emit_ascii(struct pass *p, unsigned char c, size_t from, size_t to)
{
    unsigned char k = aclass[c];
    if ((k & A_WS) && (p->flags & GW_NORM_SPACE)) {
        if (p->in_space) {
            p->end[p->o - 1] = (uint32_t)to;
        } else {
            p->t[p->o] = ' ';
            p->map[p->o] = (uint32_t)from;
            p->end[p->o] = (uint32_t)to;
            p->o++;
            p->in_space = 1;
        }
        p->word_latin = 0;
        return;
    }
    if ((p->flags & GW_NORM_CASE) && c >= 'A' && c <= 'Z')
        c += 'a' - 'A';
    p->t[p->o] = (char)c;
    p->map[p->o] = (uint32_t)from;
    p->end[p->o] = (uint32_t)to;
    p->o++;
    p->in_space = 0;
    if (k & A_LATIN)
        p->word_latin = 1;
    else if (!(k & A_DIGIT))
        p->word_latin = 0;
}

/* Writes code point cp (not ASCII) for the input bytes [from, to): UTF-8, each byte mapped to
 * them; the word it is in has had a Latin letter when cp is one, none when cp breaks words. */
static void
emit_cp(struct pass *p, uint32_t cp, size_t from, size_t to)
{
    size_t w = utf8_encode(cp, p->t + p->o);
    for (size_t x = 0; x < w; x++) {
        p->map[p->o + x] = (uint32_t)from;
        p->end[p->o + x] = (uint32_t)to;
    }
    p->o += w;
    p->in_space = 0;
    int wc = word_class(cp);
    if (wc == W_LATIN)
        p->word_latin = 1;
    else if (wc == W_BREAK)
        p->word_latin = 0;
}

/* Whether the word holding the Cyrillic/Greek letter that ends at input offset i has a Latin
 * letter. Each input byte is looked ahead at most once: the answer is kept for the bytes scanned.
 */
static int
word_mixed(struct pass *p, size_t i)
{
    if (p->word_latin)
        return 1;
    if (i < p->decided_end)
        return p->word_mixed;
    size_t j = i, k;
    int mixed = 0;
    while (j < p->n) {
        int c = class_at(p->in + j, p->n - j, p->flags, &k);
        if (c == W_BREAK)
            break;
        if (c == W_LATIN) {
            mixed = 1;
            break;
        }
        j += k;
    }
    p->decided_end = j;
    p->word_mixed = mixed;
    return mixed;
}

static void
first_pass(struct pass *p)
{
    const unsigned char *in = p->in;
    size_t n = p->n, i = 0;
    unsigned flags = p->flags;
    char f[4];

    while (i < n) {
        unsigned char c = in[i];
        uint32_t cp;
        size_t k = 0;
        if (c == '&' && (flags & GW_NORM_WIDTH)) {
            /* an HTML character reference reads as its character ("ign&#111;re") */
            k = entity_at(in + i, n - i, &cp);
            if (k && entity_prefix(p->t, p->o))
                k = 0;
            if (!k || cp < 0x80) {
                emit_ascii(p, k ? (unsigned char)cp : c, i, i + (k ? k : 1));
                i += k ? k : 1;
                continue;
            }
        } else if (c < 0x80) {
            /* The bulk of prompts: a tight loop on locals (stores through char * would make the
             * compiler reload every field of *p). Same rules as emit_ascii. */
            char *t = p->t;
            uint32_t *map = p->map, *end = p->end;
            size_t o = p->o;
            int in_space = p->in_space, latin = p->word_latin;
            const int space = (flags & GW_NORM_SPACE) != 0;
            const unsigned char *tr = (flags & GW_NORM_CASE) ? ascii_lower : ascii_same;
            const int amp = (flags & GW_NORM_WIDTH) != 0;
            do {
                if (c == '&' && amp)
                    break; /* a character reference, maybe (above) */
                unsigned char cls = aclass[c];
                if ((cls & A_WS) && space) {
                    if (in_space) {
                        end[o - 1] = (uint32_t)(i + 1);
                    } else {
                        t[o] = ' ';
                        map[o] = (uint32_t)i;
                        end[o] = (uint32_t)(i + 1);
                        o++;
                        in_space = 1;
                    }
                    latin = 0;
                } else {
                    t[o] = (char)tr[c];
                    map[o] = (uint32_t)i;
                    end[o] = (uint32_t)(i + 1);
                    o++;
                    in_space = 0;
                    latin = (cls & A_LATIN) ? 1 : (cls & A_DIGIT) ? latin : 0;
                }
                i++;
            } while (i < n && (c = in[i]) < 0x80);
            p->o = o;
            p->in_space = in_space;
            p->word_latin = latin;
            continue;
        }
        int reference = k != 0; /* cp is what a character reference stands for */
        if (!k)
            k = utf8_decode(in + i, n - i, &cp);
        if (k == 0) {
            p->t[p->o] = (char)c;
            p->map[p->o] = (uint32_t)i;
            p->end[p->o] = (uint32_t)(i + 1);
            p->o++;
            p->in_space = 0;
            p->word_latin = 0;
            i++;
            continue;
        }
        /* After the start of a reference ("&", "&#1", "&l") a character is copied as it is:
         * dropped or folded to ASCII it could complete one ("&\u200b#105;", "&ｌｔ;"), which the
         * next normalisation would decode — the text must read the same normalised again. */
        if (!reference && (flags & GW_NORM_WIDTH) && entity_prefix(p->t, p->o)) {
            emit_cp(p, cp, i, i + k); /* valid UTF-8 re-encodes to the same bytes */
            i += k;
            continue;
        }
        if ((flags & GW_NORM_INVISIBLE) && is_invisible(cp)) {
            /* Tag characters spell ASCII that no one sees but models read ("ASCII
             * smuggling"): they are read as that ASCII, not dropped. */
            if (cp >= 0xE0020 && cp <= 0xE007E)
                emit_ascii(p, (unsigned char)(cp - 0xE0000), i, i + k);
            i += k;
            continue;
        }
        /* A capital with no fold of its own may lowercase to a letter with one (Ʀ → ʀ → r, Ƚ → ƚ
         * → l): WIDTH and DIACRITIC try the lowercase too, so that the output does not change
         * when normalised again. */
        uint32_t lc = (flags & GW_NORM_CASE) && cp >= 0xC0 && cp < 0x530 ? lower_tab[cp - 0xC0] : 0;
        size_t fl = 0;
        if ((flags & GW_NORM_WIDTH) &&
            ((fl = fold_width(cp, f)) > 0 || (lc && (fl = fold_width(lc, f)) > 0))) {
            for (size_t x = 0; x < fl; x++)
                emit_ascii(p, (unsigned char)f[x], i, i + k);
            i += k;
            continue;
        }
        if (flags & GW_NORM_DIACRITIC) {
            char base = fold_diacritic(cp);
            if (!base && lc)
                base = fold_diacritic(lc);
            if (base) {
                emit_ascii(p, (unsigned char)base, i, i + k);
                i += k;
                continue;
            }
            /* an optional mark (or a stress mark on a Cyrillic letter): part of the letter
             * before it, or of nothing at the start */
            if (is_optional_mark(cp) ||
                ((cp == 0x300 || cp == 0x301) && after_cyrillic(p->t, p->o))) {
                if (p->o > 0)
                    p->end[p->o - 1] = (uint32_t)(i + k);
                i += k;
                continue;
            }
            uint32_t nl = fold_nukta_letter(cp);
            if (nl) {
                emit_cp(p, nl, i, i + k);
                i += k;
                continue;
            }
            /* a combining mark on a Latin letter: part of that letter */
            if (is_combining(cp) && p->o > 0 && (unsigned char)p->t[p->o - 1] < 0x80 &&
                (aclass[(unsigned char)p->t[p->o - 1]] & A_LATIN)) {
                p->end[p->o - 1] = (uint32_t)(i + k);
                i += k;
                continue;
            }
        }
        char h = 0;
        if (flags & GW_NORM_HOMOGLYPH) {
            h = homoglyph(cp);
            /* A capital with no twin may lowercase to a letter with one (Ԁ, ԁ): the output must
             * not change when normalised again. */
            if (!h && (flags & GW_NORM_CASE) && cp >= 0xC0 && cp < 0x530 && lower_tab[cp - 0xC0])
                h = homoglyph(lower_tab[cp - 0xC0]);
        }
        if (h && word_mixed(p, i + k)) {
            emit_ascii(p, (unsigned char)h, i, i + k);
            i += k;
            continue;
        }
        if ((flags & GW_NORM_SPACE) && is_space_cp(cp)) {
            emit_ascii(p, ' ', i, i + k);
            i += k;
            continue;
        }
        if ((flags & GW_NORM_CASE) && cp >= 0xC0 && cp < 0x530 && lower_tab[cp - 0xC0])
            cp = lower_tab[cp - 0xC0];
        emit_cp(p, cp, i, i + k);
        i += k;
    }
}

size_t
gw_fold_diacritics(const char *in, size_t len, char *out)
{
    const unsigned char *s = (const unsigned char *)in;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        size_t k = s[i] < 0x80 ? 0 : utf8_decode(s + i, len - i, &cp);
        if (k == 0) {
            out[o++] = (char)s[i++];
            continue;
        }
        char base = fold_diacritic(cp);
        /* an ASCII letter tested by hand: this may run before gw_normalize built its tables */
        unsigned char prev = o > 0 ? (unsigned char)(out[o - 1] | 0x20) : 0;
        int mark_on_letter = (is_combining(cp) && prev >= 'a' && prev <= 'z') ||
                             is_optional_mark(cp) ||
                             ((cp == 0x300 || cp == 0x301) && after_cyrillic(out, o));
        uint32_t nl = fold_nukta_letter(cp);
        if (base) {
            out[o++] = base;
        } else if (nl) {
            o += utf8_encode(nl, out + o); /* as long as the letter with the nukta: 3 bytes */
        } else if (!mark_on_letter) {
            memcpy(out + o, s + i, k);
            o += k;
        }
        i += k;
    }
    return o;
}

/* ---- SPLIT: letters written apart ---- */

/* A letter that can be a unit of a split run besides the ASCII ones: Latin-1 and Latin
 * Extended-A/B, Greek, Cyrillic, Hebrew, Arabic and Thai letters. Not the Indic abugidas, where a
 * consonant and a vowel sign make a word ("को भी है"), nor CJK, Hangul or kana, where a character
 * is a syllable or a word: joining those would join ordinary text. */
static int
split_letter(uint32_t cp)
{
    if (cp < 0x370)
        return cp >= 0xC0 && cp <= 0x24F && cp != 0xD7 && cp != 0xF7;
    if (cp < 0x400) /* Greek, less its punctuation, tonos, numeral signs and unassigned points */
        return cp != 0x374 && cp != 0x375 && cp != 0x378 && cp != 0x379 && cp != 0x37E &&
               (cp < 0x380 || cp > 0x385) && cp != 0x387 && cp != 0x38B && cp != 0x38D &&
               cp != 0x3A2 && cp != 0x3F6;
    if (cp < 0x530)
        return cp <= 0x481 || cp >= 0x48A;
    if (cp < 0x600)
        return cp >= 0x5D0 && cp <= 0x5EA;
    if (cp < 0x700)
        return (cp >= 0x620 && cp <= 0x64A) || (cp >= 0x671 && cp <= 0x6D3);
    return (cp >= 0xE01 && cp <= 0xE30) || cp == 0xE32 || cp == 0xE33 ||
           (cp >= 0xE40 && cp <= 0xE46);
}

/* A mark that belongs to the unit letter before it: combining marks, Arabic harakat, Thai vowel
 * and tone marks ("คี" is one unit). */
static int
split_mark(uint32_t cp)
{
    return (cp >= 0x300 && cp <= 0x36F) || (cp >= 0x64B && cp <= 0x65F) || cp == 0x670 ||
           cp == 0xE31 || (cp >= 0xE34 && cp <= 0xE3A) || (cp >= 0xE47 && cp <= 0xE4E);
}

/* The separators beyond ASCII: middle dot, hyphens and dashes, bullet, hyphenation point, bullet
 * and dot operators, katakana middle dot. */
static int
split_sep(uint32_t cp)
{
    return cp == 0xB7 || (cp >= 0x2010 && cp <= 0x2015) || cp == 0x2022 || cp == 0x2027 ||
           cp == 0x2219 || cp == 0x22C5 || cp == 0x30FB;
}

/* C1 controls and punctuation: Latin-1, Greek, Armenian, Hebrew, Arabic, Devanagari, Thai,
 * general, supplemental and CJK punctuation, and the full-width and small forms of ASCII's. */
static int
is_punct(uint32_t cp)
{
    if (cp < 0x100)
        return cp < 0xA0 || cp == 0xA1 || cp == 0xA7 || cp == 0xAB || cp == 0xB6 || cp == 0xB7 ||
               cp == 0xBB || cp == 0xBF;
    if (cp < 0x2000)
        return cp == 0x37E || cp == 0x387 || (cp >= 0x55A && cp <= 0x55F) || cp == 0x589 ||
               cp == 0x58A || cp == 0x5BE || cp == 0x5C0 || cp == 0x5C3 || cp == 0x5C6 ||
               cp == 0x5F3 || cp == 0x5F4 || (cp >= 0x609 && cp <= 0x60D && cp != 0x60B) ||
               cp == 0x61B || (cp >= 0x61D && cp <= 0x61F) || (cp >= 0x66A && cp <= 0x66D) ||
               cp == 0x6D4 || cp == 0x964 || cp == 0x965 || cp == 0x970 || cp == 0xE4F ||
               cp == 0xE5A || cp == 0xE5B;
    return (cp >= 0x2010 && cp <= 0x2027) || (cp >= 0x2030 && cp <= 0x205E) ||
           (cp >= 0x2E00 && cp <= 0x2E5D) || (cp >= 0x3001 && cp <= 0x3003) ||
           (cp >= 0x3008 && cp <= 0x3011) || (cp >= 0x3014 && cp <= 0x301F) || cp == 0x3030 ||
           cp == 0x303D || cp == 0x30A0 || cp == 0x30FB || (cp >= 0xFE10 && cp <= 0xFE19) ||
           (cp >= 0xFE30 && cp <= 0xFE6B) || (cp >= 0xFF01 && cp <= 0xFF0F) ||
           (cp >= 0xFF1A && cp <= 0xFF20) || (cp >= 0xFF3B && cp <= 0xFF40) ||
           (cp >= 0xFF5B && cp <= 0xFF65);
}

/* Whether non-ASCII cp is part of a word (a unit next to it is not standalone): anything but a
 * separator, white space or punctuation. */
static int
split_word_cp(uint32_t cp)
{
    return !split_sep(cp) && !is_space_cp(cp) && !is_punct(cp);
}

static int
unit_letter(uint32_t cp)
{
    return cp < 0x80 ? (aclass[cp] & A_LATIN) != 0 : split_letter(cp);
}

/* The end of the unit at t[i] (a letter, then its marks), or 0 when none starts there. */
static size_t
unit_end(const unsigned char *t, size_t n, size_t i)
{
    uint32_t cp;
    size_t k;
    if (i >= n)
        return 0;
    if (t[i] < 0x80) {
        if (!(aclass[t[i]] & A_LATIN))
            return 0;
        i++;
    } else {
        if (!(k = utf8_decode(t + i, n - i, &cp)) || !split_letter(cp))
            return 0;
        i += k;
    }
    while (i < n && t[i] >= 0x80 && (k = utf8_decode(t + i, n - i, &cp)) && split_mark(cp))
        i += k;
    return i;
}

/* Whether the character at t[i] is part of a word (invalid bytes are). */
static int
word_at(const unsigned char *t, size_t n, size_t i)
{
    uint32_t cp;
    if (i >= n)
        return 0;
    if (t[i] < 0x80)
        return (aclass[t[i]] & (A_LATIN | A_DIGIT)) != 0;
    return !utf8_decode(t + i, n - i, &cp) || split_word_cp(cp);
}

/* The start of the character that ends at t[i - 1] (lo < i), with its code point in *cp; i when
 * no valid character starting at or after lo ends there. */
static size_t
char_before(const unsigned char *t, size_t lo, size_t i, uint32_t *cp)
{
    size_t j = i - 1;
    while (j > lo && i - j < 4 && (t[j] & 0xC0) == 0x80)
        j--;
    return utf8_decode(t + j, i - j, cp) == i - j ? j : i;
}

/* Whether the character that ends at t[i - 1] (lo < i) is part of a word. */
static int
word_before(const unsigned char *t, size_t lo, size_t i)
{
    uint32_t cp;
    if (t[i - 1] < 0x80)
        return (aclass[t[i - 1]] & (A_LATIN | A_DIGIT)) != 0;
    if (i - lo >= 2 && (sclass[t[i - 2]] & S_WORD2) && (t[i - 1] & 0xC0) == 0x80)
        return 1; /* a Latin, Cyrillic, ... letter: no need to decode it */
    size_t j = char_before(t, lo, i, &cp);
    return j == i || split_word_cp(cp);
}

/* The length of the separator character at t[i] (i < n), 0 when there is none. */
static size_t
sep_len(const unsigned char *t, size_t n, size_t i)
{
    uint32_t cp;
    size_t k;
    if (t[i] < 0x80)
        return (aclass[t[i]] & A_SEP) ? 1 : 0;
    if (!(sclass[t[i]] & S_SEP))
        return 0;
    k = utf8_decode(t + i, n - i, &cp);
    return k && split_sep(cp) ? k : 0;
}

#define SPLIT_MAX_SEP 16

/* The length of the run of separators at t[i], or 0 when there is none or it has more than
 * SPLIT_MAX_SEP bytes. */
static size_t
sep_run(const unsigned char *t, size_t n, size_t i)
{
    size_t j = i, k;
    while (j < n && j - i <= SPLIT_MAX_SEP && (k = sep_len(t, n, j)) > 0)
        j += k;
    return j - i <= SPLIT_MAX_SEP ? j - i : 0;
}

/* The first c >= r where a split run may start, or n: an ASCII letter after a byte that may end
 * a character outside words, or the last byte of a 2-byte or Thai letter or mark (not of a 2-byte
 * letter right after another), followed by a byte that may start a separator. Nothing before r is
 * read: pw says whether the character before it is part of a word. One test per byte, passed at
 * the end of a word before a separator, where the rest is computed without branches. */
static size_t
next_candidate(const unsigned char *t, size_t n, size_t r, int pw)
{
    unsigned p1 = pw ? 0 : S_FREE, p2 = 0, p3 = 0; /* classes of t[r - 1], t[r - 2], t[r - 3] */
    for (; r + 1 < n; r++) {
        unsigned cur = sclass[t[r]];
        if ((cur & (S_LETTER | S_CONT)) && (sclass[t[r + 1]] & S_SEP)) {
            /* S_FREE and S_LEAD2 one byte before meet S_LETTER and S_CONT, S_LEAD3 two before
             * S_CONT; a 2-byte letter after another 2-byte letter is in a word ("ый ") */
            unsigned at = cur & ((p1 >> 2) | ((p2 >> 3) & S_CONT)) & ~((p1 >> 5) & p2 & (p3 >> 4));
            if (at & (S_LETTER | S_CONT))
                return r;
        }
        p3 = p2;
        p2 = p1;
        p1 = cur;
    }
    return n;
}

/* For a place c next_candidate found: the standalone unit that starts (an ASCII letter) or ends
 * (the last byte of its letter or last mark) there, from *s to *e; 0 when there is none. Reads
 * nothing before lo, where pw stands for the character before. */
static int
candidate_unit(const unsigned char *t, size_t lo, int pw, size_t c, size_t *s, size_t *e)
{
    uint32_t cp;
    size_t j = c;
    if (t[c] >= 0x80) {
        if (c - lo >= 1 && (sclass[t[c - 1]] & S_LEAD2))
            j = c - 1;
        else if (c - lo >= 2 && t[c - 2] == 0xE0)
            j = c - 2;
        else
            return 0;
        if (utf8_decode(t + j, c + 1 - j, &cp) != c + 1 - j)
            return 0;
        while (split_mark(cp)) { /* back to the letter the marks belong to */
            size_t p = j > lo ? char_before(t, lo, j, &cp) : j;
            if (p == j)
                return 0;
            j = p;
        }
        if (!unit_letter(cp))
            return 0;
    }
    *s = j;
    *e = c + 1; /* a separator follows: no mark */
    return !(j == lo ? pw : word_before(t, lo, j));
}

/* Moves k bytes of text, map and end from r down to w; returns the new w. */
static size_t
split_move(unsigned char *t, uint32_t *map, uint32_t *end, size_t w, size_t r, size_t k)
{
    if (w != r && k) {
        memmove(t + w, t + r, k);
        memmove(map + w, map + r, k * sizeof(*map));
        memmove(end + w, end + r, k * sizeof(*end));
    }
    return w + k;
}

/* Joins runs of >= 3 standalone units separated by the same separator run, in place. Reads stay
 * ahead of writes and never go back past lo (pw stands for the character before it), so they see
 * the text as it was. */
static size_t
split_pass(unsigned char *t, uint32_t *map, uint32_t *end, size_t n)
{
    size_t r = 0, w = 0, lo = 0; /* t[r..lo) is to be copied to w as it is */
    int pw = 0;                  /* the character before lo is part of a word */
    for (;;) {
        size_t c = next_candidate(t, n, lo, pw), s, e, sl = 0, last = 0, count = 0;
        if (c >= n)
            break;
        unsigned char sep[SPLIT_MAX_SEP];
        if (candidate_unit(t, lo, pw, c, &s, &e) && (sl = sep_run(t, n, e)) > 0) {
            memcpy(sep, t + e, sl);
            /* "i.g.n.o.r.e. a.l.l": the separator, one space and a unit followed by the
             * separator is a word break -- once the run has 3 units, so that "e.g. a.m." stays */
            int brk = memchr(sep, ' ', sl) == NULL;
            last = e;
            count = 1;
            while (last + sl <= n && memcmp(t + last, sep, sl) == 0) {
                size_t u = last + sl, ue = unit_end(t, n, u);
                if (ue && !word_at(t, n, ue)) {
                    last = ue;
                } else if (brk && count >= 3 && u < n && t[u] == ' ' &&
                           (ue = unit_end(t, n, u + 1)) && ue + sl <= n &&
                           memcmp(t + ue, sep, sl) == 0) {
                    last = ue;
                } else {
                    break;
                }
                count++;
            }
        }
        if (count < 3) {
            /* a separator starts at c + 1, so no unit can start there: pw is not read */
            lo = c + 1;
            pw = 1;
            continue;
        }
        w = split_move(t, map, end, w, r, s - r);
        /* Text spaced out letter by letter sets its words apart with wider white space
         * ("i g n o r e   a l l"): a collapsed space whose original run is wider than the run's
         * narrowest stays, as the space between two words. */
        int spaced = sl == 1 && sep[0] == ' ';
        uint32_t narrow = UINT32_MAX;
        for (size_t x = s, g; spaced && (g = unit_end(t, n, x)) < last; x = g + 1)
            if (end[g] - map[g] < narrow)
                narrow = end[g] - map[g];
        /* Each step reads a unit and the gap after it, and writes at most those bytes, at or
         * before where it read them. */
        for (size_t x = s;;) {
            size_t g = unit_end(t, n, x);
            for (; x < g; x++, w++) {
                t[w] = t[x];
                map[w] = map[x];
                end[w] = end[x];
            }
            if (g == last)
                break;
            x = g + sl;
            int brk = t[x] == ' '; /* a word break: units follow their separator */
            if (brk || (spaced && end[g] - map[g] > narrow)) {
                uint32_t m = map[g], ge = end[brk ? x : g];
                t[w] = ' ';
                map[w] = m;
                end[w] = ge;
                w++;
                x += (size_t)brk;
            }
        }
        r = lo = last;
        pw = 1;
    }
    return split_move(t, map, end, w, r, n - r);
}

/* Whether any substitute byte touches a letter or another substitute: without one, leet_pass
 * changes nothing. Branch-free, so the common answer (no) costs one look at each byte. */
static int
leet_possible(const unsigned char *t, size_t n)
{
    unsigned any = 0;
    for (size_t x = 1; x + 1 < n; x++) {
        unsigned nb = bclass[t[x - 1]] | bclass[t[x + 1]];
        any |= (bclass[t[x]] >> 4) & ((nb | nb >> 4) & 1);
    }
    if (n >= 2) {
        any |= (bclass[t[0]] >> 4) & ((bclass[t[1]] | bclass[t[1]] >> 4) & 1);
        any |= (bclass[t[n - 1]] >> 4) & ((bclass[t[n - 2]] | bclass[t[n - 2]] >> 4) & 1);
    }
    return any & 1;
}

/* Undoes the substitutions of the token t[s..e), which holds a letter and a substitute. */
static void
leet_token(unsigned char *t, size_t s, size_t e)
{
    /* A substitute counts only next to a letter or another substitute of the token, and the
     * punctuation ones (! @ $) only before one: "stop!" and "me@" stay as written. */
    for (size_t x = s; x < e; x++) {
        if (t[x] >= 0x80 || !(aclass[t[x]] & A_LEET))
            continue;
        int next = x + 1 < e && t[x + 1] < 0x80 && (aclass[t[x + 1]] & (A_LATIN | A_LEET));
        int prev = x > s && t[x - 1] < 0x80 && (aclass[t[x - 1]] & (A_LATIN | A_LEET));
        int punct = t[x] == '!' || t[x] == '@' || t[x] == '$';
        if (next || (!punct && prev))
            t[x] = (unsigned char)leet_to[t[x]];
    }
}

/* Undoes digit/symbol substitutions in tokens that also hold an ASCII letter, in place. */
static void
leet_pass(unsigned char *t, size_t n)
{
    if (!leet_possible(t, n))
        return;
    size_t s = 0;
    unsigned seen = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k = bclass[t[i]];
        if (k & A_WS) {
            if ((seen & A_LATIN) && (seen & A_LEET))
                leet_token(t, s, i);
            seen = 0;
            s = i + 1;
        } else {
            seen |= k;
        }
    }
    if ((seen & A_LATIN) && (seen & A_LEET))
        leet_token(t, s, n);
}

/* ---- SCRAMBLE: words of the instruction vocabulary with their inner letters shuffled ---- */

/* The words a scrambled form of which is read as the word: the vocabulary of instructions to a
 * model (what to ignore, what to reveal, what it is told), in English, and the longest of the
 * same words in the Latin-script languages the pack has rules for, as normalised (lowercase,
 * without accents). A form keeps the first and the last letter and shuffles the ones between
 * ("ignroe", "prevoius", "isntructions", "pasowsrd"): people read it without effort, and so do
 * models. Checked against the man pages of a Debian system in 30 languages, its documents and
 * the training texts: no word there is a shuffle of one of these (only typos of them are:
 * "previuos", "commnad", "ouptut") -- "filters" is left out, French writes "filtres". Of the words
 * of four letters only rule, mode and role: "from" / "form" is what a shuffle does to most. */
/* clang-format off */
static const char *const scramble_words[] = {
    /* English */
    "ignore", "ignoring", "ignored", "disregard", "disregarding", "forget", "forgetting", "bypass",
    "override", "overwrite", "previous", "prior", "above", "earlier", "preceding", "original",
    "initial", "instruction", "instructions", "directive", "directives", "directions", "guideline",
    "guidelines", "rule", "rules", "restriction", "restrictions", "restricted", "unrestricted",
    "limitation", "limitations", "constraint", "constraints", "policy", "policies", "filter",
    "filtered", "unfiltered", "safety", "system", "prompt", "prompts", "message", "messages",
    "reveal", "disclose", "print", "output", "repeat", "display", "verbatim", "password",
    "passwords", "passcode", "secret", "secrets", "confidential", "hidden", "credential",
    "credentials", "jailbreak", "jailbroken", "developer", "pretend", "assistant", "respond",
    "response", "answer", "uncensored", "censored", "anything", "everything", "admin",
    "administrator", "access", "execute", "command", "commands", "mode", "role", "enabled",
    "disabled", "forbidden", "allowed", "permission",
    /* de fr es it pt nl */
    "ignoriere", "ignorieren", "anweisungen", "vorherigen", "vergiss", "passwort", "instrucciones",
    "anteriores", "contrasena", "istruzioni", "precedenti", "dimentica", "instrucoes",
    "precedentes", "instructies", "wachtwoord",
};
/* clang-format on */
#define SCRAMBLE_MIN 4
#define SCRAMBLE_MAX 16
#define NSCRAMBLE (sizeof(scramble_words) / sizeof(scramble_words[0]))

/* Per first and last letter, a bit per length that some vocabulary word has: a word of the text
 * is looked at only when its bit is set. */
static uint32_t scramble_lens[26][26];
/* Per vocabulary word: its length, last letter, and the sum of letter_sig[] over its inner
 * letters (the same for every order of them); the words sorted by first letter,
 * scramble_by_first[c] up to scramble_by_first[c + 1] those that start with 'a' + c. */
static struct {
    uint64_t sig;
    unsigned char len, last;
    const char *word;
} scramble_tab[NSCRAMBLE];
static unsigned char scramble_by_first[27];
static uint64_t letter_sig[26];

/* The letters of a and b (n each) are the same, in some order. */
static int
same_letters(const unsigned char *a, const unsigned char *b, size_t n)
{
    int count[26] = {0};
    for (size_t i = 0; i < n; i++) {
        count[a[i] - 'a']++;
        count[b[i] - 'a']--;
    }
    for (int c = 0; c < 26; c++)
        if (count[c])
            return 0;
    return 1;
}

static void
init_scramble(void)
{
    uint64_t x = 0; /* splitmix64 from a fixed seed: every process reads alike */
    for (int c = 0; c < 26; c++) {
        uint64_t z = (x += 0x9e3779b97f4a7c15ull);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
        letter_sig[c] = z ^ (z >> 31);
    }
    size_t o = 0;
    for (int c = 0; c < 26; c++) {
        scramble_by_first[c] = (unsigned char)o;
        for (size_t k = 0; k < NSCRAMBLE; k++) {
            const char *w = scramble_words[k];
            size_t n = strlen(w);
            if (w[0] != 'a' + c)
                continue;
            GW_BUG_ON(n < SCRAMBLE_MIN || n > SCRAMBLE_MAX);
            uint64_t sig = 0;
            for (size_t i = 1; i + 1 < n; i++)
                sig += letter_sig[w[i] - 'a'];
            /* no word is a shuffle of another: the step would turn one into the other */
            for (size_t j = scramble_by_first[c]; j < o; j++)
                GW_BUG_ON(scramble_tab[j].len == n && scramble_tab[j].last == w[n - 1] &&
                          same_letters((const unsigned char *)scramble_tab[j].word + 1,
                                       (const unsigned char *)w + 1, n - 2));
            scramble_tab[o].sig = sig;
            scramble_tab[o].len = (unsigned char)n;
            scramble_tab[o].last = (unsigned char)w[n - 1];
            scramble_tab[o].word = w;
            o++;
            scramble_lens[c][w[n - 1] - 'a'] |= 1u << n;
        }
    }
    scramble_by_first[26] = (unsigned char)o;
    GW_BUG_ON(o != NSCRAMBLE);
}

/* A word of the text (t[s..e), between two spaces) with ASCII punctuation trimmed off both ends:
 * when it is all lowercase ASCII letters and shuffles the inner letters of a vocabulary word, it
 * becomes that word. Its letters are looked at only when its length and end letters are a
 * vocabulary word's; the sum of their signatures picks the candidate, and a count confirms it. */
static inline void
scramble_at(unsigned char *t, size_t s, size_t e)
{
    while (s < e && !(bclass[t[s]] & A_WORD))
        s++;
    while (e > s && !(bclass[t[e - 1]] & A_WORD))
        e--;
    size_t len = e - s;
    if (len < SCRAMBLE_MIN || len > SCRAMBLE_MAX || (unsigned)(t[s] - 'a') > 25 ||
        (unsigned)(t[e - 1] - 'a') > 25 || !(scramble_lens[t[s] - 'a'][t[e - 1] - 'a'] >> len & 1))
        return;
    uint64_t sig = 0;
    for (size_t k = s + 1; k < e - 1; k++) {
        if ((unsigned)(t[k] - 'a') > 25)
            return;
        sig += letter_sig[t[k] - 'a'];
    }
    unsigned c = t[s] - 'a';
    for (size_t j = scramble_by_first[c]; j < scramble_by_first[c + 1]; j++)
        if (scramble_tab[j].sig == sig && scramble_tab[j].len == len &&
            scramble_tab[j].last == t[e - 1] &&
            same_letters((const unsigned char *)scramble_tab[j].word + 1, t + s + 1, len - 2)) {
            memcpy(t + s, scramble_tab[j].word, len);
            return;
        }
}

/* Reads the shuffled words of the vocabulary as the words, in place. A word here is what lies
 * between two spaces with ASCII punctuation trimmed off both ends, when it is all lowercase ASCII
 * letters ("(Ignroe," lowercased holds one; "ignroe2", "ignroe中" and "x_ignroe" none). The spaces
 * are found eight bytes at a time, and a word's letters are looked at only when its length and
 * end letters are a vocabulary word's: 1.5 to 3 µs per 2 KB of prose. */
static void
scramble_pass(unsigned char *t, size_t n)
{
    const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
    const uint64_t spaces = ones * ' ';
    size_t s = 0, i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t w;
        memcpy(&w, t + i, 8);
        uint64_t x = w ^ spaces; /* a zero byte where t has a space */
        uint64_t m = (x - ones) & ~x & highs;
        while (m) {
            /* a byte above a space can be flagged by the borrow ("!" after " "): each is checked */
            size_t at = i + (size_t)(__builtin_ctzll(m) >> 3);
            if (t[at] == ' ') {
                scramble_at(t, s, at);
                s = at + 1;
            }
            m &= m - 1;
        }
    }
    for (; i < n; i++)
        if (t[i] == ' ') {
            scramble_at(t, s, i);
            s = i + 1;
        }
    scramble_at(t, s, n);
}

/* Normalises into t (len + 1 bytes) and map (2 * (len + 1) entries); fills *out with pointers
 * into them. */
static void
normalize_into(const char *in, size_t len, unsigned flags, char *t, uint32_t *map,
               struct gw_norm *out)
{
    pthread_once(&tables_once, init_tables);
    struct pass p = {
        .in = (const unsigned char *)in,
        .n = len,
        .flags = flags,
        .t = t,
        .map = map,
        .end = map + len + 1,
    };
    first_pass(&p);
    GW_BUG_ON(p.o > len);
    size_t n = p.o;
    if (flags & GW_NORM_SPLIT)
        n = split_pass((unsigned char *)t, map, p.end, n);
    if (flags & GW_NORM_LEET)
        leet_pass((unsigned char *)t, n);
    if (flags & GW_NORM_SCRAMBLE)
        scramble_pass((unsigned char *)t, n);
    t[n] = '\0';
    map[n] = (uint32_t)len;
    out->text = t;
    out->len = n;
    out->map = map;
    out->end = p.end;
}

int
gw_normalize(const char *in, size_t len, unsigned flags, struct gw_norm *out)
{
    memset(out, 0, sizeof(*out));
    if (len >= UINT32_MAX)
        return -1;
    char *t = malloc(len + 1);
    uint32_t *map = malloc(sizeof(uint32_t) * 2 * (len + 1));
    if (!t || !map) {
        free(t);
        free(map);
        return -1;
    }
    normalize_into(in, len, flags, t, map, out);
    return 0;
}

int
gw_normalize_scratch(const char *in, size_t len, unsigned flags, struct gw_norm_scratch *sc,
                     struct gw_norm *out)
{
    memset(out, 0, sizeof(*out));
    if (len >= UINT32_MAX)
        return -1;
    if (sc->cap < len + 1) {
        size_t cap = len + 1 > 2 * sc->cap ? len + 1 : 2 * sc->cap;
        char *t = malloc(cap);
        uint32_t *map = malloc(sizeof(uint32_t) * 2 * cap);
        if (!t || !map) {
            free(t);
            free(map);
            return -1;
        }
        gw_norm_scratch_free(sc);
        sc->t = t;
        sc->map = map;
        sc->cap = cap;
    }
    normalize_into(in, len, flags, sc->t, sc->map, out);
    return 0;
}

void
gw_norm_scratch_free(struct gw_norm_scratch *sc)
{
    free(sc->t);
    free(sc->map);
    memset(sc, 0, sizeof(*sc));
}

void
gw_norm_free(struct gw_norm *n)
{
    free(n->text);
    free(n->map);
    memset(n, 0, sizeof(*n));
}

void
gw_norm_span(const struct gw_norm *n, size_t a, size_t b, size_t *orig_a, size_t *orig_b)
{
    GW_BUG_ON(a >= b || b > n->len);
    if (n->len == 0) {
        *orig_a = *orig_b = n->map ? n->map[0] : 0;
        return;
    }
    if (b > n->len)
        b = n->len;
    if (a >= b)
        a = b - 1;
    *orig_a = n->map[a];
    *orig_b = n->end[b - 1];
}
