/*
 * Validator fuzzer: every validator runs on the whole input and on a few slices of it (ASan
 * catches a read past n). Checks: entropy in [0, 8] and at most log2(n); a card brand is in range
 * and implies Luhn and 12-19 digits; whatever is accepted uses only the bytes its format allows;
 * IBAN and SSN verdicts survive re-spacing and case; IPv4/IPv6 verdicts agree with inet_pton on a
 * NUL-terminated copy, and a valid IPv4 makes a valid ::ffff: IPv6; valid JWTs have two dots.
 * Every validator of the table (gw_validator_find) runs too: an accepted date or e-mail stays
 * within its alphabet and length, an accepted identifier written with separators stays valid
 * with them removed, and a SIN passes Luhn.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <arpa/inet.h>

#include "filters/validate.h"

static int
only(const char *s, size_t n, const char *allowed)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '\0' || !strchr(allowed, s[i]))
            return 0;
    return 1;
}

static size_t
count_digits(const char *s, size_t n)
{
    size_t d = 0;
    for (size_t i = 0; i < n; i++)
        d += s[i] >= '0' && s[i] <= '9';
    return d;
}

#define DIGITS "0123456789"
#define ALNUM DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

static void
check_iban(const char *s, size_t n)
{
    int v = gw_valid_iban(s, n);
    if (!v)
        return;
    if (!only(s, n, ALNUM " "))
        abort();
    /* The compact upper-case form, and that form grouped by four, are valid too. */
    char compact[64], grouped[96];
    size_t k = 0, g = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ')
            continue;
        if (k == 34)
            abort();
        compact[k++] = (s[i] >= 'a' && s[i] <= 'z') ? (char)(s[i] - 'a' + 'A') : s[i];
    }
    if (k < 15 || !gw_valid_iban(compact, k))
        abort();
    for (size_t i = 0; i < k; i++) {
        if (i && i % 4 == 0)
            grouped[g++] = ' ';
        grouped[g++] = compact[i];
    }
    if (!gw_valid_iban(grouped, g))
        abort();
    /* Changing the last digit changes the number by d * 10^6 with 0 < |d| < 97: never 0 mod 97. */
    if (compact[k - 1] >= '0' && compact[k - 1] <= '9') {
        compact[k - 1] = compact[k - 1] == '0' ? '1' : '0';
        if (gw_valid_iban(compact, k))
            abort();
    }
}

static void
check_ssn(const char *s, size_t n)
{
    if (!gw_valid_ssn(s, n))
        return;
    if ((n != 9 && n != 11) || !only(s, n, DIGITS "- ") || count_digits(s, n) != 9)
        abort();
    char d[9], dashed[11];
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] != '-' && s[i] != ' ')
            d[k++] = s[i];
    memcpy(dashed, d, 3);
    dashed[3] = '-';
    memcpy(dashed + 4, d + 3, 2);
    dashed[6] = '-';
    memcpy(dashed + 7, d + 5, 4);
    if (!gw_valid_ssn(d, 9) || !gw_valid_ssn(dashed, 11))
        abort();
}

static void
check_ip(const char *s, size_t n)
{
    int v4 = gw_valid_ipv4(s, n), v6 = gw_valid_ipv6(s, n);
    if (v4 && (n < 7 || n > 15 || !only(s, n, DIGITS ".")))
        abort();
    if (v6 && (n < 2 || n > 45 || !only(s, n, DIGITS "abcdefABCDEF:.")))
        abort();
    if (v4 && v6)
        abort();
    if (n < 64 && !memchr(s, '\0', n)) {
        char z[64];
        unsigned char addr[16];
        memcpy(z, s, n);
        z[n] = '\0';
        if ((inet_pton(AF_INET, z, addr) == 1) != v4)
            abort();
        if ((inet_pton(AF_INET6, z, addr) == 1) != v6)
            abort();
    }
    if (v4) {
        char mapped[32] = "::ffff:";
        memcpy(mapped + 7, s, n);
        if (!gw_valid_ipv6(mapped, 7 + n))
            abort();
    }
}

static void
check_rest(const char *s, size_t n)
{
    double h = gw_entropy(s, n);
    if (!(h >= 0.0 && h <= 8.0) || (n == 0 && h != 0.0) || (n > 0 && h > log2((double)n) + 1e-9))
        abort();

    int luhn = gw_valid_luhn(s, n);
    if (luhn && (count_digits(s, n) < 2 || !only(s, n, DIGITS " -")))
        abort();
    int brand = gw_valid_card(s, n);
    if (brand < GW_CARD_NONE || brand > GW_CARD_MAESTRO)
        abort();
    if (brand && (!luhn || count_digits(s, n) < 12 || count_digits(s, n) > 19))
        abort();

    if (gw_valid_phone(s, n)) {
        size_t d = count_digits(s, n);
        if (d < 7 || d > 15 || !only(s, n, DIGITS "+ -.()"))
            abort();
    }

    if (gw_valid_jwt(s, n)) {
        const char *a = memchr(s, '.', n),
                   *b = a ? memchr(a + 1, '.', n - (size_t)(a - s) - 1) : NULL;
        if (!a || !b || a == s || b == a + 1 || memchr(b + 1, '.', n - (size_t)(b - s) - 1))
            abort();
        /* base64url, and '=' only as a segment's padding (some encoders pad: accepted) */
        if (!only(s, n, ALNUM "-_.="))
            abort();
        for (size_t i = 0; i < n; i++)
            if (s[i] == '=' && i + 1 < n && s[i + 1] != '=' && s[i + 1] != '.')
                abort();
    }
}

/* The identifiers: the bytes each may contain, and whether its separators may be dropped. */
static const struct {
    const char *name;
    const char *allowed;
    int compact;
} ids[] = {
    {"date", DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz -/.,", 0},
    {"email", ALNUM "!#$%&'*+-/=?^_`{|}~.@", 0},
    {"uk_nhs", DIGITS " -", 1},
    {"uk_nino", ALNUM " ", 1},
    {"es_nif", DIGITS "TRWAGMYFPDXBNJZSQVHLCKE -", 1},
    {"it_fiscal_code", DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0},
    {"pl_pesel", DIGITS, 0},
    {"fi_hetu", DIGITS "+-ABCDEFHJKLMNPRSTUVWXY", 0},
    {"nl_bsn", DIGITS ". ", 1},
    {"fr_nir", DIGITS "AB ", 1},
    {"de_tax_id", DIGITS " ", 1},
    {"in_aadhaar", DIGITS " -", 1},
    {"in_pan", DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0},
    {"sg_nric", DIGITS "STFGMJZIHEDCBAXWURQPNLK", 0},
    {"au_abn", DIGITS " ", 1},
    {"au_tfn", DIGITS " -", 1},
    {"au_medicare", DIGITS " -", 1},
    {"us_itin", DIGITS " -", 1},
    {"us_aba", DIGITS, 0},
    {"kr_rrn", DIGITS "-", 1},
    {"ca_sin", DIGITS " -", 1},
    {"br_cpf", DIGITS ".-", 1},
    {"cn_resident_id", DIGITS "Xx", 0},
    {"se_personnummer", DIGITS "-+", 1},
    {"no_fnr", DIGITS " ", 1},
    {"mrz_td3", DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ<\r\n", 0},
    {"tr_tckn", DIGITS, 0},
    {"za_id", DIGITS " ", 1},
    {"th_tnin", DIGITS " -", 1},
    {"de_svnr", DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ ", 1},
    {"de_id_card", DIGITS "CFGHJKLMNPRTVWXYZ", 0},
    {"de_vat", DIGITS "DE ", 1},
    {"de_stnr", DIGITS "/ ", 1},
    {"in_gstin", DIGITS "ABCDEFGHIJKLMNOPQRSTUVWXYZ", 0},
    {"it_vat", DIGITS "IT ", 1},
    {"kr_brn", DIGITS "-", 1},
};

static void
check_ids(const char *s, size_t n)
{
    for (size_t k = 0; k < sizeof(ids) / sizeof(ids[0]); k++) {
        gw_validator f = gw_validator_find(ids[k].name);
        if (!f)
            abort();
        if (!f(s, n))
            continue;
        if (n == 0 || n > 254 || !only(s, n, ids[k].allowed))
            abort();
        if (!ids[k].compact)
            continue;
        char c[64];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (strchr(" -.+", s[i]))
                continue;
            if (m == sizeof(c))
                abort();
            c[m++] = s[i];
        }
        if (!f(c, m))
            abort();
    }
    if (gw_validator_find("ca_sin")(s, n) && !gw_valid_luhn(s, n))
        abort();
    if (gw_validator_find("email")(s, n) && (!memchr(s, '@', n) || n < 6))
        abort();
}

static void
check_all(const char *s, size_t n)
{
    check_iban(s, n);
    check_ssn(s, n);
    check_ip(s, n);
    check_rest(s, n);
    check_ids(s, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    check_all(s, size);
    /* Slices: a prefix, a suffix and a middle, each given exactly its own length. */
    if (size > 1) {
        size_t cut = data[0] % size;
        check_all(s, cut);
        check_all(s + cut, size - cut);
        check_all(s + cut / 2, (size - cut) / 2);
    }
    return 0;
}
