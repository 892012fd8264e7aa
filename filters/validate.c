/*
 * Validators for scanner candidates; see validate.h for the accepted forms. Each one is a single
 * pass over s[0..n) that never reads past n and stops at the first byte that cannot belong (or
 * checks n against the longest form first); the card, the IBAN and the grouped identifiers copy
 * their at most 34 characters to the stack, everything else works on s in place. Nothing is
 * allocated, so the cost is linear in n whatever the bytes are.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "filters/hexdigit.h"
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
        while (j < n && gw_hex_value((unsigned char)s[j]) >= 0)
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

/* Header checks: 1 for an object with a string member `key` (quoted: "\"alg\""), 2 if its value
 * is "none", 0 otherwise. */
static int
jwt_header(const char *s, size_t n, const char *key)
{
    size_t klen = strlen(key);
    size_t dn = b64url_decoded_len(n), first = 0, last = dn;
    while (first < dn && json_blank(b64url_byte(s, first)))
        first++;
    while (last > first && json_blank(b64url_byte(s, last - 1)))
        last--;
    if (last - first < 2 || b64url_byte(s, first) != '{' || b64url_byte(s, last - 1) != '}')
        return 0;
    for (size_t k = first; k < last; k++) {
        if (!decoded_has(s, last, k, key, 0))
            continue;
        size_t v = k + klen;
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

/* JWE compact form: header.encrypted_key.iv.ciphertext.tag (RFC 7516). The key is empty for
 * direct encryption ("dir") and ECDH-ES; the others are not. */
static int
jwe_valid(const char *s, size_t n)
{
    const char *part[5];
    size_t len[5], k = 0;
    part[0] = s;
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.') {
            if (k == 4)
                return 0;
            len[k] = (size_t)(s + i - part[k]);
            part[++k] = s + i + 1;
        }
    if (k != 4)
        return 0;
    len[4] = (size_t)(s + n - part[4]);
    for (size_t i = 0; i < 5; i++)
        if ((i != 1 && len[i] == 0) || !b64url_segment_ok(part[i], len[i]))
            return 0;
    return jwt_header(s, len[0], "\"alg\"") != 0 && jwt_header(s, len[0], "\"enc\"") != 0;
}

/* Drops the one or two '=' that end a padded segment from *n: 0 when the padding is wrong. */
static int
b64_unpad(const char *s, size_t *n)
{
    size_t k = 0;
    while (k < *n && k < 3 && s[*n - 1 - k] == '=')
        k++;
    if (k == 0)
        return 1;
    if (k > 2 || *n % 4 != 0)
        return 0;
    *n -= k;
    return 1;
}

int
gw_valid_jwt(const char *s, size_t n)
{
    size_t dots = 0;
    for (size_t i = 0; i < n; i++)
        dots += s[i] == '.';
    if (dots == 4)
        return jwe_valid(s, n);
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
    /* some encoders pad the segments with '=' (base64, not base64url): accepted when the padded
       length is a multiple of 4 */
    if (!b64_unpad(s, &h) || !b64_unpad(dot1 + 1, &p) || !b64_unpad(sp, &sig))
        return 0;
    if (!b64url_segment_ok(s, h) || !b64url_segment_ok(dot1 + 1, p) || !b64url_segment_ok(sp, sig))
        return 0;
    int alg = jwt_header(s, h, "\"alg\"");
    if (alg == 0)
        return 0;
    return sig > 0 || alg == 2;
}

/* ---- Shared helpers for dates and identifiers ---------------------------------------------- */

static int
is_upper(unsigned char c)
{
    return c >= 'A' && c <= 'Z';
}

static unsigned char
to_lower(unsigned char c)
{
    return c >= 'A' && c <= 'Z' ? (unsigned char)(c - 'A' + 'a') : c;
}

/* The value of the k decimal digits at d (k <= 18; the caller checked they are digits). */
static uint64_t
number(const char *d, size_t k)
{
    uint64_t v = 0;
    for (size_t i = 0; i < k; i++)
        v = v * 10 + (uint64_t)(d[i] - '0');
    return v;
}

static int
all_digits(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!is_digit((unsigned char)s[i]))
            return 0;
    return 1;
}

static int
is_leap(unsigned y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Whether day d of month m of year y exists. */
static int
date_ok(unsigned y, unsigned m, unsigned d)
{
    static const unsigned char days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (m < 1 || m > 12 || d < 1)
        return 0;
    return d <= (m == 2 && is_leap(y) ? 29u : days[m - 1]);
}

/*
 * Digits written in groups: groups names the group sizes as digit characters ("334": 3, 3, 4).
 * Accepts s[0..n) when it is the digits alone, or the groups with exactly one byte of seps at
 * every boundary, the same byte each time. Copies the digits to d (room for all of them).
 */
static int
grouped(const char *s, size_t n, const char *groups, const char *seps, char *d)
{
    size_t ng = strlen(groups), total = 0;
    for (size_t k = 0; k < ng; k++)
        total += (size_t)(groups[k] - '0');
    int spaced = n != total;
    if (spaced && n != total + ng - 1)
        return 0;
    char sep = 0;
    size_t i = 0, nd = 0;
    for (size_t k = 0; k < ng; k++) {
        if (k > 0 && spaced) {
            char c = s[i++];
            if (c == '\0' || !strchr(seps, c) || (sep && c != sep))
                return 0;
            sep = c;
        }
        for (size_t j = 0; j < (size_t)(groups[k] - '0'); j++, i++) {
            if (!is_digit((unsigned char)s[i]))
                return 0;
            d[nd++] = s[i];
        }
    }
    return 1;
}

/*
 * Characters with optional single spaces at some boundaries: copies the bytes of s[0..n) other
 * than ' ' to c (at most cap) and accepts a space only right after the k-th byte copied where
 * bit k of allowed is set, never two in a row. Returns the count copied, 0 if the form is wrong.
 */
static size_t
spaced_at(const char *s, size_t n, uint32_t allowed, char *c, size_t cap)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            if (k >= 32 || !(allowed >> k & 1) || i == 0 || s[i - 1] == ' ')
                return 0;
            continue;
        }
        if (k == cap)
            return 0;
        c[k++] = s[i];
    }
    return n && s[n - 1] == ' ' ? 0 : k;
}

/* ---- Dates ------------------------------------------------------------------------------- */

/* Reads 1..max digits at s[*i]: their count, the value in *v. */
static size_t
read_number(const char *s, size_t n, size_t *i, size_t max, unsigned *v)
{
    size_t start = *i;
    *v = 0;
    while (*i < n && *i - start < max && is_digit((unsigned char)s[*i]))
        *v = *v * 10 + (unsigned)(s[(*i)++] - '0');
    return *i - start;
}

static size_t
skip_spaces(const char *s, size_t n, size_t *i)
{
    size_t start = *i;
    while (*i < n && s[*i] == ' ')
        (*i)++;
    return *i - start;
}

/* A four-digit year 1900-2099 that ends the text. */
static int
year_at_end(const char *s, size_t n, size_t i, unsigned *y)
{
    return read_number(s, n, &i, 4, y) == 4 && i == n && *y >= 1900 && *y <= 2099;
}

/* The month named by the letters at s[*i] (full English name, first three letters or "sept",
 * any case; an abbreviation may take a '.'), 0 if none. Moves *i past the word. */
static unsigned
read_month(const char *s, size_t n, size_t *i, int *abbrev)
{
    static const char *const names[12] = {"january",   "february", "march",    "april",
                                          "may",       "june",     "july",     "august",
                                          "september", "october",  "november", "december"};
    size_t start = *i;
    while (*i < n && is_alpha((unsigned char)s[*i]))
        (*i)++;
    size_t len = *i - start;
    for (unsigned m = 0; m < 12; m++) {
        size_t full = strlen(names[m]);
        if (len != full && len != 3 && !(m == 8 && len == 4))
            continue;
        size_t j = 0;
        while (j < len && to_lower((unsigned char)s[start + j]) == (unsigned char)names[m][j])
            j++;
        if (j != len)
            continue;
        *abbrev = len != full;
        if (*abbrev && *i < n && s[*i] == '.')
            (*i)++;
        return m + 1;
    }
    return 0;
}

/* An ordinal suffix (st, nd, rd, th in any case) at s[*i], skipped if there. */
static int
skip_ordinal(const char *s, size_t n, size_t *i)
{
    static const char *const sfx[] = {"st", "nd", "rd", "th"};
    if (*i + 2 > n)
        return 0;
    for (size_t k = 0; k < 4; k++)
        if (to_lower((unsigned char)s[*i]) == (unsigned char)sfx[k][0] &&
            to_lower((unsigned char)s[*i + 1]) == (unsigned char)sfx[k][1]) {
            *i += 2;
            return 1;
        }
    return 0;
}

static int
is_date_sep(char c)
{
    return c == '-' || c == '/' || c == '.';
}

/* YYYY-M-D, D/M/YYYY, M/D/YYYY and the other numeric forms of gw_valid_date. */
static int
date_numeric(const char *s, size_t n)
{
    size_t i = 0;
    unsigned a, b, c;
    size_t la = read_number(s, n, &i, 4, &a);
    if (i >= n || !is_date_sep(s[i]))
        return 0;
    char sep = s[i++];
    if (read_number(s, n, &i, 2, &b) == 0 || i >= n || s[i] != sep)
        return 0;
    i++;
    if (la == 4) {
        size_t lc = read_number(s, n, &i, 2, &c);
        return lc > 0 && i == n && a >= 1900 && a <= 2099 && date_ok(a, b, c);
    }
    if (la > 2 || !year_at_end(s, n, i, &c))
        return 0;
    return date_ok(c, b, a) || (sep != '.' && date_ok(c, a, b));
}

/* "31 January 1990", "31st of Jan, 1990", "31-Jan-1990". */
static int
date_day_first(const char *s, size_t n)
{
    size_t i = 0;
    unsigned d, m, y;
    int abbrev;
    if (read_number(s, n, &i, 2, &d) == 0 || i >= n)
        return 0;
    if (s[i] == '-') {
        i++;
        m = read_month(s, n, &i, &abbrev);
        if (!m || i >= n || s[i] != '-' || s[i - 1] == '.')
            return 0;
        return year_at_end(s, n, i + 1, &y) && date_ok(y, m, d);
    }
    int ordinal = skip_ordinal(s, n, &i);
    if (skip_spaces(s, n, &i) == 0)
        return 0;
    if (ordinal && i + 2 < n && to_lower((unsigned char)s[i]) == 'o' &&
        to_lower((unsigned char)s[i + 1]) == 'f' && s[i + 2] == ' ') {
        i += 2;
        skip_spaces(s, n, &i);
    }
    m = read_month(s, n, &i, &abbrev);
    if (!m)
        return 0;
    if (i < n && s[i] == ',')
        i++;
    if (skip_spaces(s, n, &i) == 0)
        return 0;
    return year_at_end(s, n, i, &y) && date_ok(y, m, d);
}

/* "January 31, 1990", "Jan. 31st 1990". */
static int
date_month_first(const char *s, size_t n)
{
    size_t i = 0;
    unsigned d, m, y;
    int abbrev;
    m = read_month(s, n, &i, &abbrev);
    if (!m || skip_spaces(s, n, &i) == 0 || read_number(s, n, &i, 2, &d) == 0)
        return 0;
    skip_ordinal(s, n, &i);
    if (i < n && s[i] == ',')
        i++;
    if (skip_spaces(s, n, &i) == 0)
        return 0;
    return year_at_end(s, n, i, &y) && date_ok(y, m, d);
}

int
gw_valid_date(const char *s, size_t n)
{
    if (n < 8 || n > 64)
        return 0;
    if (is_alpha((unsigned char)s[0]))
        return date_month_first(s, n);
    if (!is_digit((unsigned char)s[0]))
        return 0;
    return date_numeric(s, n) || date_day_first(s, n);
}

/* ---- E-mail ------------------------------------------------------------------------------ */

static int
is_atext(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || (c && strchr("!#$%&'*+-/=?^_`{|}~", c));
}

static int
is_label_char(unsigned char c)
{
    return is_digit(c) || is_alpha(c) || c == '-';
}

/* File name extensions that are no top-level domain, so that icon@2x.png, ca@valencia.po (a
 * gettext locale) or en@quot.header are not addresses. Real TLDs that are also extensions (.md,
 * .py, .rs, .sh, .zip, .mov, .mo) stay valid. Space-separated, lower case. */
static const char not_tld[] =
    " png jpg jpeg gif svg webp ico bmp tif tiff js mjs cjs ts tsx jsx json"
    " yaml yml toml ini cfg conf txt html htm css scss po pot header xml"
    " csv pdf doc docx xls xlsx ppt pptx exe dll jar class sql db bak tmp"
    " swp wasm ";

/* The top-level label t[0..n): 2-24 letters and not in not_tld, or xn-- and more. */
static int
tld_ok(const char *t, size_t n)
{
    if (n > 4 && to_lower((unsigned char)t[0]) == 'x' && to_lower((unsigned char)t[1]) == 'n' &&
        t[2] == '-' && t[3] == '-')
        return 1; /* the label rules (length, characters, no '-' last) were checked already */
    if (n < 2 || n > 24)
        return 0;
    char word[26];
    word[0] = ' ';
    for (size_t i = 0; i < n; i++) {
        if (!is_alpha((unsigned char)t[i]))
            return 0;
        word[i + 1] = (char)to_lower((unsigned char)t[i]);
    }
    word[n + 1] = ' ';
    for (size_t i = 0; i + n + 2 < sizeof(not_tld); i++)
        if (memcmp(not_tld + i, word, n + 2) == 0)
            return 0;
    return 1;
}

int
gw_valid_email(const char *s, size_t n)
{
    if (n < 6 || n > 254)
        return 0;
    const char *at = memchr(s, '@', n);
    if (!at)
        return 0;
    size_t local = (size_t)(at - s);
    if (local == 0 || local > 64 || s[0] == '.' || s[local - 1] == '.')
        return 0;
    for (size_t i = 0; i < local; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.' ? s[i + 1] == '.' : !is_atext(c))
            return 0;
    }
    size_t labels = 0, start = local + 1;
    for (size_t i = start; i <= n; i++) {
        if (i < n && s[i] != '.') {
            if (!is_label_char((unsigned char)s[i]))
                return 0;
            continue;
        }
        size_t len = i - start;
        if (len == 0 || len > 63 || s[start] == '-' || s[i - 1] == '-')
            return 0;
        labels++;
        if (i == n)
            return labels >= 2 && tld_ok(s + start, len);
        start = i + 1;
    }
    return 0;
}

/* ---- United Kingdom ---------------------------------------------------------------------- */

int
gw_valid_uk_nhs(const char *s, size_t n)
{
    char d[10];
    if (!grouped(s, n, "334", " -", d) || all_same(d, 10))
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 9; i++)
        sum += (unsigned)(d[i] - '0') * (unsigned)(10 - i);
    unsigned check = 11 - sum % 11;
    if (check == 11)
        check = 0;
    return check != 10 && check == (unsigned)(d[9] - '0');
}

int
gw_valid_uk_nino(const char *s, size_t n)
{
    char c[9];
    /* spaces after the prefix, after each digit pair and before the suffix */
    if (spaced_at(s, n, 1u << 2 | 1u << 4 | 1u << 6 | 1u << 8, c, sizeof(c)) != 9)
        return 0;
    if (!is_upper((unsigned char)c[0]) || !is_upper((unsigned char)c[1]) || !all_digits(c + 2, 6) ||
        c[8] < 'A' || c[8] > 'D')
        return 0;
    if (strchr("DFIQUV", c[0]) || strchr("DFIOQUV", c[1]))
        return 0;
    static const char unused[] = "BGGBKNNKNTTNZZ";
    for (size_t i = 0; i + 1 < sizeof(unused); i += 2)
        if (c[0] == unused[i] && c[1] == unused[i + 1])
            return 0;
    return 1;
}

/* ---- Spain, Italy, Poland, Finland, the Netherlands, France, Germany ---------------------- */

int
gw_valid_es_nif(const char *s, size_t n)
{
    size_t i = 0, digits = 8;
    unsigned lead = 0;
    if (n < 9)
        return 0;
    if (s[0] >= 'X' && s[0] <= 'Z') {
        lead = (unsigned)(s[0] - 'X');
        digits = 7;
        i = s[1] == '-' ? 2 : 1;
    }
    if (n - i < digits + 1 || !all_digits(s + i, digits) || all_same(s + i, digits))
        return 0;
    unsigned v = lead * 10000000u + (unsigned)number(s + i, digits);
    i += digits;
    if (i < n - 1 && (s[i] == '-' || s[i] == ' '))
        i++;
    return i == n - 1 && s[i] == "TRWAGMYFPDXBNJZSQVHLCKE"[v % 23];
}

/* Digit value of an omocodia-capable position of a codice fiscale: 0-9, or L..V for 0-9; -1. */
static int
cf_digit(unsigned char c)
{
    static const char omocodia[] = "LMNPQRSTUV";
    if (is_digit(c))
        return c - '0';
    const char *p = c ? strchr(omocodia, c) : NULL;
    return p ? (int)(p - omocodia) : -1;
}

int
gw_valid_it_fiscal_code(const char *s, size_t n)
{
    static const unsigned char odd[26] = {1,  0,  5, 7, 9, 13, 15, 17, 19, 21, 2,  4,  18,
                                          20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23};
    static const char months[] = "ABCDEHLMPRST";
    if (n != 16)
        return 0;
    for (size_t i = 0; i < 6; i++)
        if (!is_upper((unsigned char)s[i]))
            return 0;
    static const size_t num_at[] = {6, 7, 9, 10, 12, 13, 14};
    int v[16];
    for (size_t k = 0; k < sizeof(num_at) / sizeof(num_at[0]); k++)
        if ((v[num_at[k]] = cf_digit((unsigned char)s[num_at[k]])) < 0)
            return 0;
    const char *mp = s[8] ? strchr(months, s[8]) : NULL;
    if (!mp || !((s[11] >= 'A' && s[11] <= 'M') || s[11] == 'Z') || !is_upper((unsigned char)s[15]))
        return 0;
    unsigned year = (unsigned)(v[6] * 10 + v[7]), day = (unsigned)(v[9] * 10 + v[10]);
    if (day > 40)
        day -= 40;
    /* a two-digit year: a multiple of 4 may be a leap year (2000 was, 1900 was not) */
    if (!date_ok(year % 4 == 0 ? 2000 : 2001, (unsigned)(mp - months) + 1, day))
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 15; i++) {
        unsigned char c = (unsigned char)s[i];
        unsigned val = is_digit(c) ? (unsigned)(c - '0') : (unsigned)(c - 'A');
        sum += i % 2 == 0 ? odd[val] : val;
    }
    return s[15] == (char)('A' + sum % 26);
}

int
gw_valid_it_vat(const char *s, size_t n)
{
    size_t i = 0;
    if (n >= 2 && s[0] == 'I' && s[1] == 'T')
        i = n > 2 && s[2] == ' ' ? 3 : 2;
    if (n - i != 11 || !all_digits(s + i, 11))
        return 0;
    s += i;
    return !(s[0] == '0' && all_same(s, 11)) && gw_valid_luhn(s, 11);
}

int
gw_valid_pl_pesel(const char *s, size_t n)
{
    static const unsigned char w[10] = {1, 3, 7, 9, 1, 3, 7, 9, 1, 3};
    static const unsigned century[5] = {1900, 2000, 2100, 2200, 1800};
    if (n != 11 || !all_digits(s, n))
        return 0;
    unsigned mm = (unsigned)number(s + 2, 2);
    unsigned year = century[mm / 20 % 5] + (unsigned)number(s, 2);
    if (!date_ok(year, mm % 20, (unsigned)number(s + 4, 2)))
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 10; i++)
        sum += w[i] * (unsigned)(s[i] - '0');
    return (unsigned)(s[10] - '0') == (10 - sum % 10) % 10;
}

int
gw_valid_fi_hetu(const char *s, size_t n)
{
    static const char checks[] = "0123456789ABCDEFHJKLMNPRSTUVWXY";
    if (n != 11 || !all_digits(s, 6) || !all_digits(s + 7, 3))
        return 0;
    unsigned century;
    if (s[6] == '+')
        century = 1800;
    else if (s[6] == '-' || (s[6] >= 'U' && s[6] <= 'Y'))
        century = 1900;
    else if (s[6] >= 'A' && s[6] <= 'F')
        century = 2000;
    else
        return 0;
    unsigned day = (unsigned)number(s, 2), month = (unsigned)number(s + 2, 2);
    if (!date_ok(century + (unsigned)number(s + 4, 2), month, day) || number(s + 7, 3) < 2)
        return 0;
    uint64_t v = number(s, 6) * 1000 + number(s + 7, 3);
    return s[10] == checks[v % 31];
}

int
gw_valid_nl_bsn(const char *s, size_t n)
{
    char d[9];
    if (!grouped(s, n, "423", ". ", d) && !grouped(s, n, "333", ". ", d))
        return 0;
    if (all_same(d, 9))
        return 0;
    int sum = 0;
    for (size_t i = 0; i < 8; i++)
        sum += (d[i] - '0') * (int)(9 - i);
    sum -= d[8] - '0';
    return sum % 11 == 0;
}

int
gw_valid_fr_nir(const char *s, size_t n)
{
    char c[15];
    /* "1 85 05 78 006 084 36": a space after the 1st, 3rd, 5th, 7th, 10th and 13th character */
    uint32_t at = 1u << 1 | 1u << 3 | 1u << 5 | 1u << 7 | 1u << 10 | 1u << 13;
    if (spaced_at(s, n, at, c, sizeof(c)) != 15)
        return 0;
    if ((c[0] != '1' && c[0] != '2') || !all_digits(c + 1, 4) || !all_digits(c + 7, 8))
        return 0;
    unsigned month = (unsigned)number(c + 3, 2);
    if (month == 0 || (month > 12 && month < 20))
        return 0;
    uint64_t corsica = 0;
    if (c[5] == '2' && (c[6] == 'A' || c[6] == 'B')) {
        /* 2A counts as 19 and 2B as 18 */
        corsica = c[6] == 'A' ? 19 : 18;
    } else if (!all_digits(c + 5, 2) || number(c + 5, 2) == 0) {
        return 0;
    }
    if (number(c + 10, 3) == 0)
        return 0;
    uint64_t dept = corsica ? corsica : number(c + 5, 2);
    uint64_t v = number(c, 5) * 100000000ull + dept * 1000000ull + number(c + 7, 6);
    uint64_t key = number(c + 13, 2);
    return key == 97 - v % 97;
}

/* ISO 7064 MOD 11,10 check digit of the k digits at d. */
static unsigned
mod11_10(const char *d, size_t k)
{
    unsigned p = 10;
    for (size_t i = 0; i < k; i++) {
        unsigned sum = ((unsigned)(d[i] - '0') + p) % 10;
        if (sum == 0)
            sum = 10;
        p = sum * 2 % 11;
    }
    return (11 - p) % 10;
}

int
gw_valid_de_tax_id(const char *s, size_t n)
{
    char d[11];
    if (!grouped(s, n, "2333", " ", d) || d[0] == '0')
        return 0;
    unsigned count[10] = {0};
    for (size_t i = 0; i < 10; i++)
        count[d[i] - '0']++;
    int repeated = -1;
    for (int k = 0; k < 10; k++) {
        if (count[k] < 2)
            continue;
        if (repeated >= 0 || count[k] > 3)
            return 0;
        repeated = k;
    }
    if (repeated < 0)
        return 0;
    if (count[repeated] == 3)
        for (size_t i = 0; i + 2 < 10; i++)
            if (d[i] - '0' == repeated && d[i + 1] == d[i] && d[i + 2] == d[i])
                return 0;
    return (unsigned)(d[10] - '0') == mod11_10(d, 10);
}

int
gw_valid_de_vat(const char *s, size_t n)
{
    if (n < 11 || s[0] != 'D' || s[1] != 'E')
        return 0;
    size_t i = s[2] == ' ' ? 3 : 2;
    char d[9];
    if (!grouped(s + i, n - i, "333", " ", d))
        return 0;
    return (unsigned)(d[8] - '0') == mod11_10(d, 8);
}

/* First digit or two of a 13-digit Steuernummer: the state (2 digits unless 5 or 9). */
static int
stnr_state_ok(const char *d)
{
    static const unsigned char two[] = {10, 11, 21, 22, 23, 24, 26, 27, 28, 30, 31, 32, 40, 41};
    if (d[0] == '5' || d[0] == '9')
        return 1;
    unsigned v = (unsigned)number(d, 2);
    for (size_t i = 0; i < sizeof(two); i++)
        if (two[i] == v)
            return 1;
    return 0;
}

int
gw_valid_de_stnr(const char *s, size_t n)
{
    char d[13];
    size_t nd;
    if (n == 13 && all_digits(s, 13)) {
        /* ELSTER: tax office (state and office), 0, district and number */
        if (s[4] != '0' || !stnr_state_ok(s))
            return 0;
        memcpy(d, s, 13);
        nd = 13;
    } else if (grouped(s, n, "235", "/ ", d) || grouped(s, n, "55", "/", d)) {
        nd = 10;
    } else if (grouped(s, n, "335", "/ ", d) || grouped(s, n, "344", "/", d)) {
        nd = 11;
    } else {
        return 0;
    }
    return !(d[0] == '0' && all_same(d, nd));
}

int
gw_valid_de_svnr(const char *s, size_t n)
{
    static const unsigned char w[12] = {2, 1, 2, 5, 7, 1, 2, 1, 2, 1, 2, 1};
    char c[12];
    /* a space after the area (2), the birth date (8), the letter (9) and the serial (11) */
    if (spaced_at(s, n, 1u << 2 | 1u << 8 | 1u << 9 | 1u << 11, c, sizeof(c)) != 12)
        return 0;
    if (!all_digits(c, 8) || !is_upper((unsigned char)c[8]) || !all_digits(c + 9, 3))
        return 0;
    unsigned area = (unsigned)number(c, 2);
    if (!((area >= 2 && area <= 4) || (area >= 8 && area <= 21) || (area >= 23 && area <= 26) ||
          area == 28 || area == 29 || (area >= 38 && area <= 40) || (area >= 42 && area <= 82) ||
          area == 89))
        return 0;
    unsigned yy = (unsigned)number(c + 6, 2);
    if (!date_ok(yy % 4 == 0 ? 2000 : 2001, (unsigned)number(c + 4, 2), (unsigned)number(c + 2, 2)))
        return 0;
    /* the letter as two digits: the number is then twelve digits before the check digit */
    unsigned letter = (unsigned)(c[8] - 'A' + 1);
    unsigned v[12];
    for (size_t i = 0; i < 8; i++)
        v[i] = (unsigned)(c[i] - '0');
    v[8] = letter / 10;
    v[9] = letter % 10;
    v[10] = (unsigned)(c[9] - '0');
    v[11] = (unsigned)(c[10] - '0');
    unsigned sum = 0;
    for (size_t i = 0; i < 12; i++) {
        unsigned p = v[i] * w[i];
        sum += p / 10 + p % 10;
    }
    return (unsigned)(c[11] - '0') == sum % 10;
}

/* ---- India, Singapore -------------------------------------------------------------------- */

/* Verhoeff: dihedral group D5 multiplication, position permutations; 1 if d[0..n) passes. */
static int
verhoeff_ok(const char *d, size_t n)
{
    static const unsigned char mul[10][10] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 2, 3, 4, 0, 6, 7, 8, 9, 5},
        {2, 3, 4, 0, 1, 7, 8, 9, 5, 6}, {3, 4, 0, 1, 2, 8, 9, 5, 6, 7},
        {4, 0, 1, 2, 3, 9, 5, 6, 7, 8}, {5, 9, 8, 7, 6, 0, 4, 3, 2, 1},
        {6, 5, 9, 8, 7, 1, 0, 4, 3, 2}, {7, 6, 5, 9, 8, 2, 1, 0, 4, 3},
        {8, 7, 6, 5, 9, 3, 2, 1, 0, 4}, {9, 8, 7, 6, 5, 4, 3, 2, 1, 0}};
    static const unsigned char perm[8][10] = {
        {0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, {1, 5, 7, 6, 2, 8, 3, 0, 9, 4},
        {5, 8, 0, 3, 7, 9, 6, 1, 4, 2}, {8, 9, 1, 6, 0, 4, 3, 5, 2, 7},
        {9, 4, 5, 3, 1, 2, 6, 8, 7, 0}, {4, 2, 8, 6, 5, 7, 3, 9, 0, 1},
        {2, 7, 9, 3, 8, 0, 6, 4, 1, 5}, {7, 0, 4, 6, 9, 1, 3, 2, 5, 8}};
    unsigned c = 0;
    for (size_t i = 0; i < n; i++)
        c = mul[c][perm[i % 8][d[n - 1 - i] - '0']];
    return c == 0;
}

int
gw_valid_in_aadhaar(const char *s, size_t n)
{
    char d[12];
    if (!grouped(s, n, "444", " -", d) || d[0] < '2')
        return 0;
    size_t i = 0;
    while (i < 6 && d[i] == d[11 - i])
        i++;
    return i < 6 && verhoeff_ok(d, 12);
}

int
gw_valid_in_pan(const char *s, size_t n)
{
    if (n != 10)
        return 0;
    for (size_t i = 0; i < 5; i++)
        if (!is_upper((unsigned char)s[i]))
            return 0;
    if (!strchr("ABCFGHJKLPT", s[3]) || !all_digits(s + 5, 4) || memcmp(s + 5, "0000", 4) == 0)
        return 0;
    return is_upper((unsigned char)s[9]);
}

/* 0-9 as 0-9, A-Z as 10-35 (upper case only); -1 for anything else. */
static int
base36_value(unsigned char c)
{
    if (is_digit(c))
        return c - '0';
    return is_upper(c) ? c - 'A' + 10 : -1;
}

int
gw_valid_in_gstin(const char *s, size_t n)
{
    static const char alphabet[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    if (n != 15 || !all_digits(s, 2))
        return 0;
    unsigned state = (unsigned)number(s, 2);
    if (!((state >= 1 && state <= 38) || state == 97 || state == 99) || !gw_valid_in_pan(s + 2, 10))
        return 0;
    if (s[12] == '0' || base36_value((unsigned char)s[12]) < 0 || !is_upper((unsigned char)s[13]))
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 14; i++) {
        unsigned p = (unsigned)base36_value((unsigned char)s[i]) * (i % 2 ? 2u : 1u);
        sum += p / 36 + p % 36;
    }
    return s[14] == alphabet[(36 - sum % 36) % 36];
}

int
gw_valid_sg_nric(const char *s, size_t n)
{
    static const unsigned char w[7] = {2, 7, 6, 5, 4, 3, 2};
    if (n != 9 || !all_digits(s + 1, 7))
        return 0;
    const char *table;
    unsigned sum;
    switch (s[0]) {
    case 'S':
    case 'T':
        table = "JZIHGFEDCBA";
        sum = s[0] == 'T' ? 4 : 0;
        break;
    case 'F':
    case 'G':
        table = "XWUTRQPNMLK";
        sum = s[0] == 'G' ? 4 : 0;
        break;
    case 'M':
        table = "XWUTRQPNJLK";
        sum = 3;
        break;
    default:
        return 0;
    }
    for (size_t i = 0; i < 7; i++)
        sum += w[i] * (unsigned)(s[1 + i] - '0');
    return s[8] == table[sum % 11];
}

/* ---- Australia --------------------------------------------------------------------------- */

int
gw_valid_au_abn(const char *s, size_t n)
{
    static const unsigned char w[11] = {10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19};
    char d[11];
    /* The check digits are the first two, 11-99: 10 would be an alias of 99 (both 0 mod 89). */
    if (!grouped(s, n, "2333", " ", d) || number(d, 2) < 11)
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 11; i++)
        sum += w[i] * (unsigned)(d[i] - '0' - (i == 0));
    return sum % 89 == 0;
}

int
gw_valid_au_tfn(const char *s, size_t n)
{
    static const unsigned char w9[9] = {1, 4, 3, 7, 5, 8, 6, 9, 10},
                               w8[8] = {10, 7, 8, 4, 6, 3, 5, 1};
    char d[9];
    const unsigned char *w;
    size_t nd;
    if (grouped(s, n, "333", " -", d)) {
        w = w9;
        nd = 9;
    } else if (grouped(s, n, "332", " -", d)) {
        w = w8;
        nd = 8;
    } else {
        return 0;
    }
    unsigned sum = 0;
    for (size_t i = 0; i < nd; i++)
        sum += w[i] * (unsigned)(d[i] - '0');
    return sum % 11 == 0 && !(d[0] == '0' && all_same(d, nd));
}

int
gw_valid_au_medicare(const char *s, size_t n)
{
    static const unsigned char w[8] = {1, 3, 7, 9, 1, 3, 7, 9};
    char d[11];
    if (!grouped(s, n, "451", " -", d) && !(grouped(s, n, "4511", " -", d) && d[10] != '0'))
        return 0;
    if (d[0] < '2' || d[0] > '6')
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 8; i++)
        sum += w[i] * (unsigned)(d[i] - '0');
    return sum % 10 == (unsigned)(d[8] - '0');
}

/* ---- United States, Canada --------------------------------------------------------------- */

int
gw_valid_us_itin(const char *s, size_t n)
{
    char d[9];
    if (!grouped(s, n, "324", "- ", d) || d[0] != '9' || memcmp(d + 5, "0000", 4) == 0)
        return 0;
    unsigned g = (unsigned)number(d + 3, 2);
    return (g >= 50 && g <= 65) || (g >= 70 && g <= 88) || (g >= 90 && g <= 92) || g >= 94;
}

int
gw_valid_us_aba(const char *s, size_t n)
{
    if (n != 9 || !all_digits(s, 9) || all_same(s, 9))
        return 0;
    unsigned p = (unsigned)number(s, 2);
    if (!((p >= 1 && p <= 12) || (p >= 21 && p <= 32) || (p >= 61 && p <= 72) || p == 80))
        return 0;
    unsigned sum = 0;
    static const unsigned char w[3] = {3, 7, 1};
    for (size_t i = 0; i < 9; i++)
        sum += w[i % 3] * (unsigned)(s[i] - '0');
    return sum % 10 == 0;
}

int
gw_valid_ca_sin(const char *s, size_t n)
{
    char d[9];
    return grouped(s, n, "333", " -", d) && d[0] != '0' && d[0] != '8' && gw_valid_luhn(d, 9);
}

/* ---- Korea, China, Brazil ---------------------------------------------------------------- */

/* Century of a resident registration number, from its seventh digit. */
static unsigned
rrn_century(unsigned sx)
{
    switch (sx) {
    case 9:
    case 0:
        return 1800;
    case 3:
    case 4:
    case 7:
    case 8:
        return 2000;
    default:
        return 1900;
    }
}

int
gw_valid_kr_rrn(const char *s, size_t n)
{
    static const unsigned char w[12] = {2, 3, 4, 5, 6, 7, 8, 9, 2, 3, 4, 5};
    char d[13];
    if (!grouped(s, n, "67", "-", d))
        return 0;
    unsigned sx = (unsigned)(d[6] - '0'), yy = (unsigned)number(d, 2);
    unsigned year = rrn_century(sx) + yy;
    unsigned month = (unsigned)number(d + 2, 2), day = (unsigned)number(d + 4, 2);
    if (!date_ok(year, month, day))
        return 0;
    /* numbers issued from October 2020 on end in random digits */
    if (year > 2020 || (year == 2020 && month >= 10))
        return 1;
    unsigned sum = 0;
    for (size_t i = 0; i < 12; i++)
        sum += w[i] * (unsigned)(d[i] - '0');
    unsigned base = sx >= 5 && sx <= 8 ? 13 : 11;
    return (unsigned)(d[12] - '0') == (base - sum % 11) % 10;
}

int
gw_valid_kr_brn(const char *s, size_t n)
{
    static const unsigned char w[9] = {1, 3, 7, 1, 3, 7, 1, 3, 5};
    char d[10];
    if (!grouped(s, n, "325", "-", d) || (d[0] == '0' && all_same(d, 10)))
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 9; i++)
        sum += w[i] * (unsigned)(d[i] - '0');
    sum += (unsigned)(d[8] - '0') * 5 / 10;
    return (unsigned)(d[9] - '0') == (10 - sum % 10) % 10;
}

int
gw_valid_cn_resident_id(const char *s, size_t n)
{
    static const unsigned char w[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
    if (n != 18 || !all_digits(s, 17) || s[0] < '1' || s[0] > '8')
        return 0;
    unsigned y = (unsigned)number(s + 6, 4);
    if (y < 1900 || y > 2099 ||
        !date_ok(y, (unsigned)number(s + 10, 2), (unsigned)number(s + 12, 2)))
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 17; i++)
        sum += w[i] * (unsigned)(s[i] - '0');
    return to_upper((unsigned char)s[17]) == (unsigned char)"10X98765432"[sum % 11];
}

int
gw_valid_br_cpf(const char *s, size_t n)
{
    char d[11];
    if (n == 14) {
        if (s[3] != '.' || s[7] != '.' || s[11] != '-')
            return 0;
        for (size_t i = 0, k = 0; i < n; i++)
            if (i != 3 && i != 7 && i != 11)
                d[k++] = s[i];
    } else if (n == 11) {
        memcpy(d, s, 11);
    } else {
        return 0;
    }
    if (!all_digits(d, 11) || all_same(d, 11))
        return 0;
    for (size_t k = 9; k <= 10; k++) {
        unsigned sum = 0;
        for (size_t i = 0; i < k; i++)
            sum += (unsigned)(d[i] - '0') * (unsigned)(k + 1 - i);
        if ((unsigned)(d[k] - '0') != sum * 10 % 11 % 10)
            return 0;
    }
    return 1;
}

/* ---- Sweden, Norway ---------------------------------------------------------------------- */

int
gw_valid_se_personnummer(const char *s, size_t n)
{
    char d[12];
    size_t nd = 0;
    for (size_t i = 0; i < n; i++) {
        /* the separator, if any, stands before the last four digits */
        if ((s[i] == '-' || s[i] == '+') && i + 5 == n && i > 0)
            continue;
        if (!is_digit((unsigned char)s[i]) || nd == sizeof(d))
            return 0;
        d[nd++] = s[i];
    }
    if (nd != 10 && nd != 12)
        return 0;
    const char *t = d + nd - 10; /* YYMMDDNNNC */
    unsigned year;
    if (nd == 12) {
        year = (unsigned)number(d, 4);
        if (year < 1800 || year > 2099)
            return 0;
    } else {
        year = number(t, 2) % 4 == 0 ? 2000 : 2001;
    }
    unsigned day = (unsigned)number(t + 4, 2);
    if (day > 60)
        day -= 60;
    return date_ok(year, (unsigned)number(t + 2, 2), day) && gw_valid_luhn(t, 10);
}

int
gw_valid_no_fnr(const char *s, size_t n)
{
    static const unsigned char w1[9] = {3, 7, 6, 1, 8, 9, 4, 5, 2};
    static const unsigned char w2[10] = {5, 4, 3, 2, 7, 6, 5, 4, 3, 2};
    char d[11];
    if (!grouped(s, n, "65", " ", d))
        return 0;
    unsigned day = (unsigned)number(d, 2), month = (unsigned)number(d + 2, 2);
    unsigned yy = (unsigned)number(d + 4, 2), ind = (unsigned)number(d + 6, 3), year;
    if (day > 40)
        day -= 40;
    if (month > 40)
        month -= 40;
    if (ind < 500)
        year = 1900 + yy;
    else if (ind < 750 && yy >= 54)
        year = 1800 + yy;
    else if (yy < 40)
        year = 2000 + yy;
    else if (ind >= 900)
        year = 1900 + yy;
    else
        return 0;
    if (!date_ok(year, month, day))
        return 0;
    unsigned s1 = 0, s2 = 0;
    for (size_t i = 0; i < 9; i++)
        s1 += w1[i] * (unsigned)(d[i] - '0');
    for (size_t i = 0; i < 10; i++)
        s2 += w2[i] * (unsigned)(d[i] - '0');
    unsigned k1 = (11 - s1 % 11) % 11, k2 = (11 - s2 % 11) % 11;
    return k1 != 10 && k2 != 10 && (unsigned)(d[9] - '0') == k1 && (unsigned)(d[10] - '0') == k2;
}

/* ---- Turkey, South Africa, Thailand ------------------------------------------------------ */

int
gw_valid_tr_tckn(const char *s, size_t n)
{
    if (n != 11 || !all_digits(s, 11) || s[0] == '0')
        return 0;
    int odd = 0, even = 0, all = 0;
    for (size_t i = 0; i < 9; i++) {
        if (i % 2 == 0)
            odd += s[i] - '0';
        else
            even += s[i] - '0';
    }
    for (size_t i = 0; i < 10; i++)
        all += s[i] - '0';
    int d10 = ((7 * odd - even) % 10 + 10) % 10;
    return s[9] - '0' == d10 && s[10] - '0' == all % 10;
}

int
gw_valid_za_id(const char *s, size_t n)
{
    char d[13];
    if (!grouped(s, n, "643", " ", d))
        return 0;
    unsigned yy = (unsigned)number(d, 2);
    if (!date_ok(yy % 4 == 0 ? 2000 : 2001, (unsigned)number(d + 2, 2), (unsigned)number(d + 4, 2)))
        return 0;
    return (d[10] == '0' || d[10] == '1') && gw_valid_luhn(d, 13);
}

int
gw_valid_th_tnin(const char *s, size_t n)
{
    char d[13];
    if (!grouped(s, n, "14521", "- ", d) || d[0] == '9')
        return 0;
    unsigned sum = 0;
    for (size_t i = 0; i < 12; i++)
        sum += (unsigned)(d[i] - '0') * (unsigned)(13 - i);
    return (unsigned)(d[12] - '0') == (11 - sum % 11) % 10;
}

/* ---- Passport machine-readable zone, German identity card -------------------------------- */

static unsigned
mrz_value(unsigned char c)
{
    return is_digit(c) ? (unsigned)(c - '0') : c == '<' ? 0 : (unsigned)(c - 'A' + 10);
}

/* Check digit of s[0..n): weights 7 3 1. */
static char
mrz_check(const char *s, size_t n)
{
    static const unsigned char w[3] = {7, 3, 1};
    unsigned sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += w[i % 3] * mrz_value((unsigned char)s[i]);
    return (char)('0' + sum % 10);
}

/* A YYMMDD field with month 01-12 and day 01-31. */
static int
mrz_date(const char *s)
{
    if (!all_digits(s, 6))
        return 0;
    unsigned m = (unsigned)number(s + 2, 2), d = (unsigned)number(s + 4, 2);
    return m >= 1 && m <= 12 && d >= 1 && d <= 31;
}

int
gw_valid_mrz_td3(const char *s, size_t n)
{
    /* the end of line 1 that a rule may anchor on: "<\n" or "<\r\n" */
    size_t skip = 0;
    if (n == 46 && s[0] == '<' && s[1] == '\n')
        skip = 2;
    else if (n == 47 && s[0] == '<' && s[1] == '\r' && s[2] == '\n')
        skip = 3;
    s += skip;
    n -= skip;
    if (n != 44)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!is_digit(c) && !is_upper(c) && c != '<')
            return 0;
    }
    for (size_t i = 10; i < 13; i++)
        if (!is_upper((unsigned char)s[i]) && s[i] != '<')
            return 0;
    if (!mrz_date(s + 13) || !mrz_date(s + 21) || !strchr("MFX<", s[20]))
        return 0;
    if (s[9] != mrz_check(s, 9) || s[19] != mrz_check(s + 13, 6) || s[27] != mrz_check(s + 21, 6))
        return 0;
    /* empty optional data may carry '<' instead of its check digit */
    char opt = mrz_check(s + 28, 14);
    if (s[42] != opt && !(s[42] == '<' && opt == '0'))
        return 0;
    /* composite: document number to check, birth date to check, expiry to optional check */
    static const unsigned char w[3] = {7, 3, 1};
    unsigned sum = 0, k = 0;
    for (size_t i = 0; i < 43; i++) {
        if ((i >= 10 && i < 13) || i == 20)
            continue;
        sum += w[k++ % 3] * mrz_value((unsigned char)s[i]);
    }
    return s[43] == (char)('0' + sum % 10);
}

int
gw_valid_de_id_card(const char *s, size_t n)
{
    static const char letters[] = "CFGHJKLMNPRTVWXYZ";
    if ((n != 9 && n != 10) || s[0] == '\0' || !strchr(letters, s[0]))
        return 0;
    for (size_t i = 1; i < 9; i++)
        if (!is_digit((unsigned char)s[i]) && (s[i] == '\0' || !strchr(letters, s[i])))
            return 0;
    return n == 9 || s[9] == mrz_check(s, 9);
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
    {"luhn", gw_valid_luhn},
    {"card", card_any},
    {"iban", gw_valid_iban},
    {"ssn", gw_valid_ssn},
    {"ipv4", gw_valid_ipv4},
    {"ipv6", gw_valid_ipv6},
    {"phone", gw_valid_phone},
    {"jwt", gw_valid_jwt},
    {"date", gw_valid_date},
    {"email", gw_valid_email},
    {"uk_nhs", gw_valid_uk_nhs},
    {"uk_nino", gw_valid_uk_nino},
    {"es_nif", gw_valid_es_nif},
    {"it_fiscal_code", gw_valid_it_fiscal_code},
    {"pl_pesel", gw_valid_pl_pesel},
    {"fi_hetu", gw_valid_fi_hetu},
    {"nl_bsn", gw_valid_nl_bsn},
    {"fr_nir", gw_valid_fr_nir},
    {"de_tax_id", gw_valid_de_tax_id},
    {"in_aadhaar", gw_valid_in_aadhaar},
    {"in_pan", gw_valid_in_pan},
    {"sg_nric", gw_valid_sg_nric},
    {"au_abn", gw_valid_au_abn},
    {"au_tfn", gw_valid_au_tfn},
    {"au_medicare", gw_valid_au_medicare},
    {"us_itin", gw_valid_us_itin},
    {"us_aba", gw_valid_us_aba},
    {"kr_rrn", gw_valid_kr_rrn},
    {"ca_sin", gw_valid_ca_sin},
    {"br_cpf", gw_valid_br_cpf},
    {"cn_resident_id", gw_valid_cn_resident_id},
    {"se_personnummer", gw_valid_se_personnummer},
    {"no_fnr", gw_valid_no_fnr},
    {"mrz_td3", gw_valid_mrz_td3},
    {"tr_tckn", gw_valid_tr_tckn},
    {"za_id", gw_valid_za_id},
    {"th_tnin", gw_valid_th_tnin},
    {"de_svnr", gw_valid_de_svnr},
    {"de_id_card", gw_valid_de_id_card},
    {"de_vat", gw_valid_de_vat},
    {"de_stnr", gw_valid_de_stnr},
    {"in_gstin", gw_valid_in_gstin},
    {"it_vat", gw_valid_it_vat},
    {"kr_brn", gw_valid_kr_brn},
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
