/*
 * Validators for scanner candidates; see validate.h for the accepted forms. Each one is a single
 * pass over s[0..n) that never reads past n and stops at the first byte that cannot belong; the
 * card and the IBAN copy their at most 19 digits / 34 characters to the stack, everything else
 * works on s in place. Nothing is allocated, so the cost is linear in n whatever the bytes are.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filters/validate.h"

static int
is_digit(unsigned char c)
{
    return c >= '0' && c <= '9';
}

static int
is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

static unsigned char
to_upper(unsigned char c)
{
    return c >= 'a' && c <= 'z' ? (unsigned char)(c - 'a' + 'A') : c;
}

static int
hex_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static int
all_same(const char *d, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (d[i] != d[0])
            return 0;
    return 1;
}

/* ---- Luhn and cards ---------------------------------------------------------------------- */

/* Walks from the right: every second digit, counting the check digit as the first, is doubled. */
int
gw_valid_luhn(const char *s, size_t n)
{
    size_t digits = 0;
    unsigned sum = 0;
    for (size_t i = n; i-- > 0;) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '-')
            continue;
        if (!is_digit(c))
            return 0;
        unsigned d = c - '0';
        if (digits & 1) {
            d *= 2;
            if (d > 9)
                d -= 9;
        }
        sum = (sum + d) % 10;
        digits++;
    }
    return digits >= 2 && sum == 0;
}

/* The number made of the first k digits of d (k <= 6, d has at least k). */
static unsigned
prefix(const char *d, size_t k)
{
    unsigned v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + (unsigned)(d[i] - '0');
    return v;
}

/* Brand by prefix alone, most specific range first; nd >= 12 so six digits are there. */
static enum gw_card_brand
card_brand(const char *d)
{
    unsigned p1 = prefix(d, 1), p2 = prefix(d, 2), p3 = prefix(d, 3), p4 = prefix(d, 4);
    unsigned p6 = prefix(d, 6);
    switch (p1) {
    case 2:
        return p4 >= 2221 && p4 <= 2720 ? GW_CARD_MASTERCARD : GW_CARD_NONE;
    case 3:
        if (p2 == 34 || p2 == 37)
            return GW_CARD_AMEX;
        if (p4 >= 3528 && p4 <= 3589)
            return GW_CARD_JCB;
        if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39)
            return GW_CARD_DINERS;
        return GW_CARD_NONE;
    case 4:
        return GW_CARD_VISA;
    case 5:
        if (p2 >= 51 && p2 <= 55)
            return GW_CARD_MASTERCARD;
        if (p2 == 50 || (p2 >= 56 && p2 <= 58))
            return GW_CARD_MAESTRO;
        return GW_CARD_NONE;
    case 6:
        if (p4 == 6011 || (p3 >= 644 && p3 <= 649) || p2 == 65 || (p6 >= 622126 && p6 <= 622925))
            return GW_CARD_DISCOVER;
        if (p2 == 62)
            return GW_CARD_UNIONPAY;
        return GW_CARD_MAESTRO;
    default:
        return GW_CARD_NONE;
    }
}

static int
card_length_ok(enum gw_card_brand b, size_t nd)
{
    switch (b) {
    case GW_CARD_VISA:
        return nd == 13 || nd == 16 || nd == 19;
    case GW_CARD_MASTERCARD:
        return nd == 16;
    case GW_CARD_AMEX:
        return nd == 15;
    case GW_CARD_DISCOVER:
    case GW_CARD_JCB:
    case GW_CARD_UNIONPAY:
        return nd >= 16 && nd <= 19;
    case GW_CARD_DINERS:
        return nd >= 14 && nd <= 19;
    case GW_CARD_MAESTRO:
        return nd >= 12 && nd <= 19;
    case GW_CARD_NONE:
        break;
    }
    return 0;
}

int
gw_valid_card(const char *s, size_t n)
{
    char d[19];
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ' || c == '-')
            continue;
        if (!is_digit(c) || nd == sizeof(d))
            return GW_CARD_NONE;
        d[nd++] = (char)c;
    }
    if (nd < 12 || all_same(d, nd))
        return GW_CARD_NONE;
    enum gw_card_brand b = card_brand(d);
    if (!card_length_ok(b, nd) || !gw_valid_luhn(d, nd))
        return GW_CARD_NONE;
    return b;
}

/* ---- IBAN -------------------------------------------------------------------------------- */

/* SWIFT IBAN registry as of 2024 (89 countries): country code and total IBAN length, sorted.
 * Territories that use another country's code (Jersey: GB, Aland: FI, the French overseas
 * territories: FR) have no entry of their own. */
static const char iban_registry[] = "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28"
                                    "CZ24DE22DJ27DK18DO28EE20EG29ES24FI18FK18FO18FR27GB22GE22GI23"
                                    "GL18GR27GT28HN28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28"
                                    "LC32LI21LT20LU20LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28"
                                    "NL18NO15OM23PK24PL28PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24"
                                    "SI19SK24SM27SO23ST25SV28TL23TN24TR26UA29VA22VG24XK20YE30";
#define IBAN_ENTRIES ((sizeof(iban_registry) - 1) / 4)
#define IBAN_MAX 34

/* Registry length of the upper-case country code a b, 0 if it is not in the registry. */
static size_t
iban_length(char a, char b)
{
    for (size_t i = 0; i < IBAN_ENTRIES; i++) {
        const char *e = iban_registry + 4 * i;
        if (e[0] == a && e[1] == b)
            return (size_t)((e[2] - '0') * 10 + (e[3] - '0'));
    }
    return 0;
}

/* The rearranged number (BBAN, country, check digits, letters as 10..35) read digit by digit:
 * the remainder stays below 97, so r * 100 + 35 fits any unsigned. */
static unsigned
mod97_step(unsigned r, unsigned char c)
{
    if (is_digit(c))
        return (r * 10 + (unsigned)(c - '0')) % 97;
    return (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
}

int
gw_valid_iban(const char *s, size_t n)
{
    char b[IBAN_MAX];
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == ' ')
            continue;
        if (k == IBAN_MAX || !(is_digit(c) || is_alpha(c)))
            return 0;
        b[k++] = (char)to_upper(c);
    }
    if (k < 5 || !is_alpha((unsigned char)b[0]) || !is_alpha((unsigned char)b[1]) ||
        !is_digit((unsigned char)b[2]) || !is_digit((unsigned char)b[3]))
        return 0;
    /* 98 - (x mod 97) is always in 02..98; 00, 01 and 99 pass mod 97 only as aliases. */
    unsigned check = (unsigned)(b[2] - '0') * 10 + (unsigned)(b[3] - '0');
    if (check < 2 || check > 98 || iban_length(b[0], b[1]) != k)
        return 0;
    unsigned r = 0;
    for (size_t i = 4; i < k + 4; i++)
        r = mod97_step(r, (unsigned char)b[i % k]);
    return r == 1;
}

/* ---- SSN --------------------------------------------------------------------------------- */

int
gw_valid_ssn(const char *s, size_t n)
{
    char d[9];
    size_t nd = 0;
    if (n == 11) {
        if (s[3] != s[6] || (s[3] != '-' && s[3] != ' '))
            return 0;
    } else if (n != 9) {
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        if (n == 11 && (i == 3 || i == 6))
            continue;
        if (!is_digit((unsigned char)s[i]))
            return 0;
        d[nd++] = s[i];
    }
    unsigned area = prefix(d, 3), group = prefix(d + 3, 2), serial = prefix(d + 5, 4);
    if (area == 0 || area == 666 || area >= 900 || group == 0 || serial == 0)
        return 0;
    /* Sample card sold in wallets (1938), SSA advertisement (1940s), everybody's example. */
    static const char *const known[] = {"078051120", "219099999", "123456789"};
    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
        if (memcmp(d, known[i], 9) == 0)
            return 0;
    return !all_same(d, 9);
}

/* ---- IP addresses ------------------------------------------------------------------------ */

int
gw_valid_ipv4(const char *s, size_t n)
{
    if (n < 7 || n > 15)
        return 0;
    size_t i = 0;
    for (int part = 0; part < 4; part++) {
        if (part > 0) {
            if (i >= n || s[i] != '.')
                return 0;
            i++;
        }
        size_t start = i;
        unsigned v = 0;
        while (i < n && i - start < 3 && is_digit((unsigned char)s[i]))
            v = v * 10 + (unsigned)(s[i++] - '0');
        if (i == start || v > 255 || (i - start > 1 && s[start] == '0'))
            return 0;
    }
    return i == n;
}

/* Longest text form: six 4-digit groups and a 15-byte IPv4 tail. */
#define IPV6_MAX 45

int
gw_valid_ipv6(const char *s, size_t n)
{
    if (n < 2 || n > IPV6_MAX)
        return 0;
    size_t i = 0, groups = 0;
    int gap = 0; /* seen "::" */
    if (s[0] == ':') {
        if (s[1] != ':')
            return 0;
        gap = 1;
        i = 2;
        if (i == n)
            return 1;
    }
    for (;;) {
        /* A group or the IPv4 tail starts at i, which is < n. */
        size_t j = i;
        while (j < n && hex_value((unsigned char)s[j]) >= 0)
            j++;
        if (j < n && s[j] == '.') {
            /* The tail stands for two groups and ends the address. */
            if (!gw_valid_ipv4(s + i, n - i))
                return 0;
            return gap ? groups + 2 <= 7 : groups + 2 == 8;
        }
        if (j == i || j - i > 4 || ++groups > 8)
            return 0;
        if (j == n)
            break;
        if (s[j] != ':' || j + 1 == n)
            return 0;
        i = j + 1;
        if (s[i] == ':') {
            if (gap)
                return 0;
            gap = 1;
            if (++i == n)
                break;
        }
    }
    return gap ? groups <= 7 : groups == 8;
}

/* ---- Phone numbers ----------------------------------------------------------------------- */

/* Ten NANP digits: area code NXX but not N11, exchange NXX. */
static int
nanp_ok(const char *d)
{
    if (d[0] < '2' || (d[1] == '1' && d[2] == '1'))
        return 0;
    return d[3] >= '2';
}

/* Appends exactly k digits at s[*i] to d (room checked by the caller's grammar). */
static int
take_digits(const char *s, size_t n, size_t *i, size_t k, char *d, size_t *nd)
{
    for (size_t j = 0; j < k; j++, (*i)++) {
        if (*i >= n || !is_digit((unsigned char)s[*i]))
            return 0;
        d[(*nd)++] = s[*i];
    }
    return 1;
}

static int
is_nanp_sep(char c)
{
    return c == '-' || c == '.' || c == ' ';
}

static int
phone_nanp(const char *s, size_t n)
{
    char d[10];
    size_t i = 0, nd = 0;
    if (n < 10 || n > 18) /* "1 (NXX) NXX-XXXX" is the longest */
        return 0;
    if (s[0] == '1' && (s[1] == '(' || is_nanp_sep(s[1])))
        i = s[1] == '(' ? 1 : 2;
    if (i < n && s[i] == '(') {
        i++;
        if (!take_digits(s, n, &i, 3, d, &nd) || i >= n || s[i] != ')')
            return 0;
        i++;
        if (i < n && s[i] == ' ')
            i++;
        if (!take_digits(s, n, &i, 3, d, &nd))
            return 0;
        if (i < n && is_nanp_sep(s[i]))
            i++;
    } else {
        if (!take_digits(s, n, &i, 3, d, &nd))
            return 0;
        char sep = i < n && is_nanp_sep(s[i]) ? s[i] : 0;
        if (sep)
            i++;
        if (!take_digits(s, n, &i, 3, d, &nd))
            return 0;
        if (sep) {
            if (i >= n || s[i] != sep)
                return 0;
            i++;
        }
    }
    if (!take_digits(s, n, &i, 4, d, &nd) || i != n)
        return 0;
    return nanp_ok(d);
}

static int
is_phone_sep(char c)
{
    return c == ' ' || c == '-' || c == '.' || c == '(' || c == ')';
}

/* '+' and 8-15 digits. Separators: at most two in a row, parentheses unnested, balanced and
 * around digits only, the number ends in a digit. */
static int
phone_e164(const char *s, size_t n)
{
    char d[15];
    size_t nd = 0, run = 0;
    int open = 0;
    if (n < 9 || s[0] != '+' || !is_digit((unsigned char)s[1]) || s[1] == '0')
        return 0;
    for (size_t i = 1; i < n; i++) {
        char c = s[i];
        if (is_digit((unsigned char)c)) {
            if (nd == sizeof(d))
                return 0;
            d[nd++] = c;
            run = 0;
            continue;
        }
        if (!is_phone_sep(c) || ++run > 2)
            return 0;
        if (c == '(') {
            if (open || i + 1 >= n || !is_digit((unsigned char)s[i + 1]))
                return 0;
            open = 1;
        } else if (c == ')') {
            if (!open || !is_digit((unsigned char)s[i - 1]))
                return 0;
            open = 0;
        }
    }
    if (open || run || nd < 8)
        return 0;
    if (d[0] == '1')
        return nd == 11 && nanp_ok(d + 1);
    return 1;
}

int
gw_valid_phone(const char *s, size_t n)
{
    if (n == 0)
        return 0;
    return s[0] == '+' ? phone_e164(s, n) : phone_nanp(s, n);
}

/* ---- Entropy ----------------------------------------------------------------------------- */

double
gw_entropy(const char *s, size_t n)
{
    size_t count[256] = {0};
    if (n == 0)
        return 0.0;
    for (size_t i = 0; i < n; i++)
        count[(unsigned char)s[i]]++;
    double h = 0.0, total = (double)n;
    for (size_t c = 0; c < 256; c++) {
        if (count[c] == 0)
            continue;
        double p = (double)count[c] / total;
        h -= p * log2(p);
    }
    /* Rounding can leave -0.0 or a hair above 8 for the uniform case. */
    if (h < 0.0)
        return 0.0;
    return h > 8.0 ? 8.0 : h;
}

/* ---- JWT --------------------------------------------------------------------------------- */

static int
b64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (is_digit(c))
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

/* A base64url segment without padding: a length of 1 mod 4 cannot come out of an encoder. */
static int
b64url_segment_ok(const char *s, size_t n)
{
    if (n % 4 == 1)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (b64url_value((unsigned char)s[i]) < 0)
            return 0;
    return 1;
}

static size_t
b64url_decoded_len(size_t n)
{
    return n / 4 * 3 + (n % 4 == 3 ? 2 : n % 4 == 2 ? 1 : 0);
}

/* Byte k of the decoded segment, decoded on the spot from the two characters that carry it, so
 * that a header of any size is checked without a buffer. k < b64url_decoded_len(n). */
static unsigned char
b64url_byte(const char *s, size_t k)
{
    size_t at = k / 3 * 4 + k % 3;
    unsigned a = (unsigned)b64url_value((unsigned char)s[at]);
    unsigned b = (unsigned)b64url_value((unsigned char)s[at + 1]);
    switch (k % 3) {
    case 0:
        return (unsigned char)((a << 2) | (b >> 4));
    case 1:
        return (unsigned char)(((a & 0xF) << 4) | (b >> 2));
    default:
        return (unsigned char)(((a & 0x3) << 6) | b);
    }
}

static int
json_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Does the decoded segment hold `lit` (lower-case letters match either case when fold) at k? */
static int
decoded_has(const char *s, size_t dn, size_t k, const char *lit, int fold)
{
    size_t len = strlen(lit);
    if (k > dn || dn - k < len)
        return 0;
    for (size_t j = 0; j < len; j++) {
        unsigned char c = b64url_byte(s, k + j);
        if (fold && c >= 'A' && c <= 'Z')
            c = (unsigned char)(c - 'A' + 'a');
        if (c != (unsigned char)lit[j])
            return 0;
    }
    return 1;
}

/* Header checks: 1 for an object with a string "alg", 2 if that alg is "none", 0 otherwise. */
static int
jwt_header(const char *s, size_t n)
{
    size_t dn = b64url_decoded_len(n), first = 0, last = dn;
    while (first < dn && json_blank(b64url_byte(s, first)))
        first++;
    while (last > first && json_blank(b64url_byte(s, last - 1)))
        last--;
    if (last - first < 2 || b64url_byte(s, first) != '{' || b64url_byte(s, last - 1) != '}')
        return 0;
    for (size_t k = first; k < last; k++) {
        if (!decoded_has(s, last, k, "\"alg\"", 0))
            continue;
        size_t v = k + 5;
        while (v < last && json_blank(b64url_byte(s, v)))
            v++;
        if (v == last || b64url_byte(s, v) != ':')
            continue;
        v++;
        while (v < last && json_blank(b64url_byte(s, v)))
            v++;
        if (v == last || b64url_byte(s, v) != '"')
            return 0;
        return decoded_has(s, last, v, "\"none\"", 1) ? 2 : 1;
    }
    return 0;
}

int
gw_valid_jwt(const char *s, size_t n)
{
    const char *dot1 = n ? memchr(s, '.', n) : NULL;
    if (!dot1)
        return 0;
    size_t h = (size_t)(dot1 - s);
    const char *dot2 = memchr(dot1 + 1, '.', n - h - 1);
    if (!dot2)
        return 0;
    size_t p = (size_t)(dot2 - dot1) - 1, sig = n - h - p - 2;
    const char *sp = dot2 + 1;
    if (h == 0 || p == 0 || memchr(sp, '.', sig))
        return 0;
    if (!b64url_segment_ok(s, h) || !b64url_segment_ok(dot1 + 1, p) || !b64url_segment_ok(sp, sig))
        return 0;
    int alg = jwt_header(s, h);
    if (alg == 0)
        return 0;
    return sig > 0 || alg == 2;
}

/* ---- lookup by name, for rule files ---- */

static int
card_any(const char *s, size_t n)
{
    return gw_valid_card(s, n) != GW_CARD_NONE;
}

static const struct {
    const char *name;
    gw_validator fn;
} validators[] = {
    {"luhn", gw_valid_luhn},   {"card", card_any},      {"iban", gw_valid_iban},
    {"ssn", gw_valid_ssn},     {"ipv4", gw_valid_ipv4}, {"ipv6", gw_valid_ipv6},
    {"phone", gw_valid_phone}, {"jwt", gw_valid_jwt},
};

gw_validator
gw_validator_find(const char *name)
{
    for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++)
        if (strcmp(validators[i].name, name) == 0)
            return validators[i].fn;
    return NULL;
}

size_t
gw_validator_names(char *out, size_t cap)
{
    size_t used = 0;
    if (cap)
        out[0] = '\0';
    for (size_t i = 0; i < sizeof(validators) / sizeof(validators[0]); i++) {
        int k = snprintf(out + used, cap > used ? cap - used : 0, "%s%s", i ? ", " : "",
                         validators[i].name);
        if (k > 0)
            used += (size_t)k;
    }
    return used;
}
