/* Unit tests for filters/validate.c: published test numbers pass, one changed character fails,
 * every boundary of every range is tried from both sides, the IBAN registry table matches the
 * registry, IP parsing agrees with inet_pton, identifiers built with their check digit pass and
 * near misses (check digit, date, length, separators) fail, and no validator reads past n (every
 * case is run from a heap copy of exactly n bytes, so the sanitizer build catches an
 * over-read). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "filters/validate.c"

typedef int (*validator)(const char *, size_t);

/* Runs f on an exact-size heap copy of the first n bytes of text. */
static int
run_n(validator f, const char *text, size_t n)
{
    char *copy = malloc(n ? n : 1);
    assert_non_null(copy);
    memcpy(copy, text, n);
    int r = f(n ? copy : NULL, n);
    free(copy);
    return r;
}

static void
expect(validator f, const char *name, const char *text, int want)
{
    int got = run_n(f, text, strlen(text));
    if ((got != 0) != want) {
        print_error("%s(\"%s\") = %d, want %s\n", name, text, got, want ? "valid" : "invalid");
        fail();
    }
}

#define OK(f, text) expect(f, #f, text, 1)
#define BAD(f, text) expect(f, #f, text, 0)

/* ---- Luhn -------------------------------------------------------------------------------- */

static void
test_luhn(void **state)
{
    (void)state;
    OK(gw_valid_luhn, "79927398713");
    OK(gw_valid_luhn, "4111 1111 1111 1111");
    OK(gw_valid_luhn, "4111-1111-1111-1111");
    OK(gw_valid_luhn, " 4111-1111 1111-1111 ");
    OK(gw_valid_luhn, "00");
    OK(gw_valid_luhn, "18");
    OK(gw_valid_luhn, "059");

    BAD(gw_valid_luhn, "");
    BAD(gw_valid_luhn, "0");
    BAD(gw_valid_luhn, " - ");
    BAD(gw_valid_luhn, "79927398710");
    BAD(gw_valid_luhn, "79927398714");
    BAD(gw_valid_luhn, "4111 1111 1111 1112");
    BAD(gw_valid_luhn, "4111 1111 1111 1121"); /* adjacent digits swapped */
    BAD(gw_valid_luhn, "4111.1111.1111.1111");
    BAD(gw_valid_luhn, "4111_1111_1111_1111");
    assert_int_equal(run_n(gw_valid_luhn, "79927398713\0", 12), 0); /* NUL is just a byte */
    BAD(gw_valid_luhn, "19");

    /* Only n bytes count: the valid number is a prefix of the invalid one and vice versa. */
    assert_int_equal(run_n(gw_valid_luhn, "799273987130", 11), 1);
    assert_int_equal(run_n(gw_valid_luhn, "799273987130", 12), 0);
    assert_int_equal(run_n(gw_valid_luhn, "79927398713x", 11), 1);
    assert_int_equal(gw_valid_luhn(NULL, 0), 0);
}

/* ---- Cards ------------------------------------------------------------------------------- */

static int
card(const char *text)
{
    return run_n(gw_valid_card, text, strlen(text));
}

static void
test_card_public_numbers(void **state)
{
    (void)state;
    assert_int_equal(card("4111 1111 1111 1111"), GW_CARD_VISA);
    assert_int_equal(card("4111111111111111"), GW_CARD_VISA);
    assert_int_equal(card("4111-1111-1111-1111"), GW_CARD_VISA);
    assert_int_equal(card("4222222222222"), GW_CARD_VISA);
    assert_int_equal(card("4000 0000 0000 0000 006"), GW_CARD_VISA);
    assert_int_equal(card("5555 5555 5555 4444"), GW_CARD_MASTERCARD);
    assert_int_equal(card("2223 0031 2200 3222"), GW_CARD_MASTERCARD);
    assert_int_equal(card("3782 822463 10005"), GW_CARD_AMEX);
    assert_int_equal(card("6011 1111 1111 1117"), GW_CARD_DISCOVER);
    assert_int_equal(card("3530 1113 3330 0000"), GW_CARD_JCB);
    assert_int_equal(card("3056 9309 0259 04"), GW_CARD_DINERS);
    assert_int_equal(card("6200 0000 0000 0005"), GW_CARD_UNIONPAY);
    assert_int_equal(card("6759 6498 2643 8453"), GW_CARD_MAESTRO);
    /* Separators are skipped, not parsed. */
    assert_int_equal(card("4111-1111 1111--1111"), GW_CARD_VISA);
}

static void
test_card_ranges(void **state)
{
    (void)state;
    /* Each number below passes Luhn; only the prefix or the length decides. */
    assert_int_equal(card("2221000000000009"), GW_CARD_MASTERCARD);
    assert_int_equal(card("2720000000000005"), GW_CARD_MASTERCARD);
    assert_int_equal(card("2220000000000000"), GW_CARD_NONE);
    assert_int_equal(card("2721000000000004"), GW_CARD_NONE);
    assert_int_equal(card("5900000000000000"), GW_CARD_NONE);
    assert_int_equal(card("370000000000002"), GW_CARD_AMEX);
    assert_int_equal(card("3400000000000000"), GW_CARD_NONE); /* Amex is 15 only */
    assert_int_equal(card("3528000000000007"), GW_CARD_JCB);
    assert_int_equal(card("3589000000000003"), GW_CARD_JCB);
    assert_int_equal(card("3527000000000008"), GW_CARD_NONE);
    assert_int_equal(card("3590000000000000"), GW_CARD_NONE);
    assert_int_equal(card("36000000000008"), GW_CARD_DINERS);
    assert_int_equal(card("38000000000006"), GW_CARD_DINERS);
    assert_int_equal(card("39000000000005"), GW_CARD_DINERS);
    assert_int_equal(card("30600000000001"), GW_CARD_NONE);
    assert_int_equal(card("6221260000000000"), GW_CARD_DISCOVER);
    assert_int_equal(card("6229250000000003"), GW_CARD_DISCOVER);
    assert_int_equal(card("6221250000000001"), GW_CARD_UNIONPAY);
    assert_int_equal(card("6229260000000002"), GW_CARD_UNIONPAY);
    assert_int_equal(card("6440000000000005"), GW_CARD_DISCOVER);
    assert_int_equal(card("6500000000000000003"), GW_CARD_DISCOVER);
    assert_int_equal(card("6430000000000007"), GW_CARD_MAESTRO);
    assert_int_equal(card("6012000000000003"), GW_CARD_MAESTRO);
    assert_int_equal(card("630000000004"), GW_CARD_MAESTRO);
    assert_int_equal(card("500000000009"), GW_CARD_MAESTRO);
    assert_int_equal(card("5600000000000000002"), GW_CARD_MAESTRO);
    assert_int_equal(card("601100000000001"), GW_CARD_NONE);      /* Discover is 16-19 */
    assert_int_equal(card("620000000000000"), GW_CARD_NONE);      /* UnionPay is 16-19 */
    assert_int_equal(card("40000000000002"), GW_CARD_NONE);       /* Visa is 13, 16, 19 */
    assert_int_equal(card("50000000000000005"), GW_CARD_MAESTRO); /* Maestro is 12-19 */
    assert_int_equal(card("7000000000000005"), GW_CARD_NONE);
    assert_int_equal(card("1000000000000008"), GW_CARD_NONE);
}

static void
test_card_invalid(void **state)
{
    (void)state;
    assert_int_equal(card("4111 1111 1111 1112"), GW_CARD_NONE);
    assert_int_equal(card("4111 1111 1111 1121"), GW_CARD_NONE);
    assert_int_equal(card("5555 5555 5555 4445"), GW_CARD_NONE);
    assert_int_equal(card("3782 822463 10006"), GW_CARD_NONE);
    assert_int_equal(card("6011 1111 1111 1118"), GW_CARD_NONE);
    assert_int_equal(card("3530 1113 3330 0001"), GW_CARD_NONE);
    assert_int_equal(card("3056 9309 0259 05"), GW_CARD_NONE);
    assert_int_equal(card("0000 0000 0000 0000"), GW_CARD_NONE);
    /* Luhn-valid and Maestro-shaped: only the same-digit rule rejects it. */
    assert_int_equal(gw_valid_luhn("6666666666666", 13), 1);
    assert_int_equal(card("6666 6666 6666 6"), GW_CARD_NONE);
    assert_int_equal(card("4111.1111.1111.1111"), GW_CARD_NONE);
    assert_int_equal(card("4111 1111 1111 111"), GW_CARD_NONE);
    assert_int_equal(card("41111111111111111111"), GW_CARD_NONE); /* 20 digits */
    assert_int_equal(card("411111111111"), GW_CARD_NONE);
    assert_int_equal(card(""), GW_CARD_NONE);
    assert_int_equal(card("                    "), GW_CARD_NONE);
    assert_int_equal(card("4111 1111 1111 111l"), GW_CARD_NONE);
    assert_int_equal(run_n(gw_valid_card, "41111111111111119", 16), GW_CARD_VISA);
    assert_int_equal(run_n(gw_valid_card, "4111111111111111", 15), GW_CARD_NONE);
}

/* ---- IBAN -------------------------------------------------------------------------------- */

/* Remainder mod 97 of the ISO 13616 number of a compact upper-case IBAN, computed the textbook way
 * (expand letters, then fold nine digits at a time in 64 bits), unlike the implementation. */
static unsigned
ref_mod97(const char *iban)
{
    char digits[128];
    size_t nd = 0, n = strlen(iban);
    for (size_t i = 0; i < n; i++) {
        char c = iban[(i + 4) % n];
        if (c >= 'A' && c <= 'Z')
            nd += (size_t)snprintf(digits + nd, sizeof(digits) - nd, "%d", c - 'A' + 10);
        else
            digits[nd++] = c;
    }
    uint64_t r = 0;
    for (size_t i = 0; i < nd; i += 9) {
        uint64_t chunk = 0, scale = 1;
        for (size_t j = i; j < nd && j < i + 9; j++, scale *= 10)
            chunk = chunk * 10 + (uint64_t)(digits[j] - '0');
        r = (r * scale + chunk) % 97;
    }
    return (unsigned)r;
}

/* Writes cc, the right check digits and bban to out. */
static void
make_iban(char *out, size_t size, const char *cc, const char *bban)
{
    assert_true(strlen(cc) + 2 + strlen(bban) < size);
    memcpy(out, cc, 2);
    memcpy(out + 2, "00", 2);
    memcpy(out + 4, bban, strlen(bban) + 1);
    unsigned check = 98 - ref_mod97(out);
    out[2] = (char)('0' + check / 10);
    out[3] = (char)('0' + check % 10);
    assert_int_equal(ref_mod97(out), 1);
}

static void
test_iban_examples(void **state)
{
    (void)state;
    OK(gw_valid_iban, "GB82 WEST 1234 5698 7654 32");
    OK(gw_valid_iban, "GB82WEST12345698765432");
    OK(gw_valid_iban, "gb82 west 1234 5698 7654 32");
    OK(gw_valid_iban, "DE89 3704 0044 0532 0130 00");
    OK(gw_valid_iban, "FR14 2004 1010 0505 0001 3M02 606");
    OK(gw_valid_iban, "NL91 ABNA 0417 1643 00");
    OK(gw_valid_iban, "NO93 8601 1117 947");                        /* shortest */
    OK(gw_valid_iban, "LC55 HEMM 0001 0001 0012 0012 0002 3015");   /* longest */
    OK(gw_valid_iban, "RU02 0445 2560 0407 0281 0412 3456 7890 1"); /* registered 2022 */
    OK(gw_valid_iban, "MT84 MALT 0110 0001 2345 MTLC AST0 01S");

    BAD(gw_valid_iban, "GB82 WEST 1234 5698 7654 33"); /* one digit changed */
    BAD(gw_valid_iban, "GB82 WEST 1234 5698 7645 32"); /* two digits swapped */
    BAD(gw_valid_iban, "GB83 WEST 1234 5698 7654 32");
    BAD(gw_valid_iban, "DE89 3704 0044 0532 0130 01");
    BAD(gw_valid_iban, "FR14 2004 1010 0505 0001 3N02 606");
    BAD(gw_valid_iban, "GB82 WEST 1234 5698 7654 3"); /* wrong length */
    BAD(gw_valid_iban, "GB82 WEST 1234 5698 7654 320");
    BAD(gw_valid_iban, "GB82-WEST-1234-5698-7654-32");
    BAD(gw_valid_iban, "GB82\tWEST 1234 5698 7654 32");
    BAD(gw_valid_iban, "G882 WEST 1234 5698 7654 32");
    BAD(gw_valid_iban, "GBX2 WEST 1234 5698 7654 32");
    BAD(gw_valid_iban, "");
    BAD(gw_valid_iban, "GB82");
    BAD(gw_valid_iban, "GB82 WEST 1234 5698 7654 32 ABCD EFGH IJKL");
    BAD(gw_valid_iban, "GB82 WEST 1234 5698 7654 32 ABCD EFGH IJKL MNOP QRST");
    assert_int_equal(run_n(gw_valid_iban, "NL91ABNA0417164300", 18), 1);
    assert_int_equal(run_n(gw_valid_iban, "NL91ABNA0417164300", 17), 0);
}

static void
test_iban_unknown_country_and_aliases(void **state)
{
    (void)state;
    char iban[64];
    /* Right checksum, right shape, no such country in the registry. */
    make_iban(iban, sizeof(iban), "US", "WEST12345698765432");
    BAD(gw_valid_iban, iban);
    make_iban(iban, sizeof(iban), "IR", "0170000000100324200001"); /* not a registry entry */
    BAD(gw_valid_iban, iban);
    make_iban(iban, sizeof(iban), "GB", "WEST12345698765432");
    OK(gw_valid_iban, iban);

    /* Find accounts whose check digits are 98, 97 and 02: 01, 00 and 99 give the same remainder
     * but no encoder produces them. */
    int found = 0;
    for (unsigned k = 0; k < 10000 && found != 7; k++) {
        char bban[32];
        snprintf(bban, sizeof(bban), "WEST1234569876%04u", k);
        make_iban(iban, sizeof(iban), "GB", bban);
        const char *check = iban + 2, *alias;
        int bit;
        if (memcmp(check, "98", 2) == 0) {
            alias = "01";
            bit = 1;
        } else if (memcmp(check, "97", 2) == 0) {
            alias = "00";
            bit = 2;
        } else if (memcmp(check, "02", 2) == 0) {
            alias = "99";
            bit = 4;
        } else {
            continue;
        }
        if (found & bit)
            continue;
        found |= bit;
        OK(gw_valid_iban, iban);
        memcpy(iban + 2, alias, 2);
        assert_int_equal(ref_mod97(iban), 1);
        BAD(gw_valid_iban, iban);
    }
    assert_int_equal(found, 7);
}

/* The SWIFT IBAN registry, as published (country, IBAN length); kept apart from the table in
 * validate.c so that a typo in either shows up. */
static const struct {
    const char *cc;
    size_t len;
} registry[] = {
    {"AD", 24}, {"AE", 23}, {"AL", 28}, {"AT", 20}, {"AZ", 28}, {"BA", 20}, {"BE", 16}, {"BG", 22},
    {"BH", 22}, {"BI", 27}, {"BR", 29}, {"BY", 28}, {"CH", 21}, {"CR", 22}, {"CY", 28}, {"CZ", 24},
    {"DE", 22}, {"DJ", 27}, {"DK", 18}, {"DO", 28}, {"EE", 20}, {"EG", 29}, {"ES", 24}, {"FI", 18},
    {"FK", 18}, {"FO", 18}, {"FR", 27}, {"GB", 22}, {"GE", 22}, {"GI", 23}, {"GL", 18}, {"GR", 27},
    {"GT", 28}, {"HN", 28}, {"HR", 21}, {"HU", 28}, {"IE", 22}, {"IL", 23}, {"IQ", 23}, {"IS", 26},
    {"IT", 27}, {"JO", 30}, {"KW", 30}, {"KZ", 20}, {"LB", 28}, {"LC", 32}, {"LI", 21}, {"LT", 20},
    {"LU", 20}, {"LV", 21}, {"LY", 25}, {"MC", 27}, {"MD", 24}, {"ME", 22}, {"MK", 19}, {"MN", 20},
    {"MR", 27}, {"MT", 31}, {"MU", 30}, {"NI", 28}, {"NL", 18}, {"NO", 15}, {"OM", 23}, {"PK", 24},
    {"PL", 28}, {"PS", 29}, {"PT", 25}, {"QA", 29}, {"RO", 24}, {"RS", 22}, {"RU", 33}, {"SA", 24},
    {"SC", 31}, {"SD", 18}, {"SE", 24}, {"SI", 19}, {"SK", 24}, {"SM", 27}, {"SO", 23}, {"ST", 25},
    {"SV", 28}, {"TL", 23}, {"TN", 24}, {"TR", 26}, {"UA", 29}, {"VA", 22}, {"VG", 24}, {"XK", 20},
    {"YE", 30},
};
#define NREGISTRY (sizeof(registry) / sizeof(registry[0]))

static void
test_iban_registry(void **state)
{
    (void)state;
    assert_int_equal(NREGISTRY, 89);
    assert_int_equal(IBAN_ENTRIES, NREGISTRY);
    assert_int_equal(sizeof(iban_registry) - 1, 4 * NREGISTRY);
    for (size_t i = 0; i < IBAN_ENTRIES; i++) {
        const char *e = iban_registry + 4 * i;
        assert_int_equal(iban_length(e[0], e[1]), registry[i].len);
        assert_memory_equal(e, registry[i].cc, 2);
    }
    /* Every country accepts a well-formed IBAN of its length (digits, then letters in the
     * BBAN), in compact and grouped form, and rejects one character more or less. */
    for (size_t i = 0; i < NREGISTRY; i++) {
        size_t bl = registry[i].len - 4;
        char bban[40], iban[40], grouped[64];
        for (size_t j = 0; j < bl; j++)
            bban[j] = (char)(j % 3 ? '0' + (int)((i + j) % 10) : 'A' + (int)((i + j) % 26));
        bban[bl] = '\0';
        make_iban(iban, sizeof(iban), registry[i].cc, bban);
        OK(gw_valid_iban, iban);
        size_t g = 0;
        for (size_t j = 0; iban[j]; j++) {
            if (j && j % 4 == 0)
                grouped[g++] = ' ';
            grouped[g++] = iban[j];
        }
        grouped[g] = '\0';
        OK(gw_valid_iban, grouped);

        bban[bl - 1] = '\0';
        make_iban(iban, sizeof(iban), registry[i].cc, bban);
        BAD(gw_valid_iban, iban);
        bban[bl - 1] = '7';
        bban[bl] = '1';
        bban[bl + 1] = '\0';
        make_iban(iban, sizeof(iban), registry[i].cc, bban);
        BAD(gw_valid_iban, iban);
    }
}

/* ---- SSN --------------------------------------------------------------------------------- */

static void
test_ssn(void **state)
{
    (void)state;
    OK(gw_valid_ssn, "123-45-6788");
    OK(gw_valid_ssn, "123 45 6788");
    OK(gw_valid_ssn, "123456788");
    OK(gw_valid_ssn, "001-01-0001");
    OK(gw_valid_ssn, "665-12-3456");
    OK(gw_valid_ssn, "667-12-3456");
    OK(gw_valid_ssn, "899-99-9998");
    OK(gw_valid_ssn, "078-05-1121");

    BAD(gw_valid_ssn, "000-12-3456");
    BAD(gw_valid_ssn, "666-12-3456");
    BAD(gw_valid_ssn, "900-12-3456");
    BAD(gw_valid_ssn, "999-12-3456");
    BAD(gw_valid_ssn, "123-00-4567");
    BAD(gw_valid_ssn, "123-45-0000");
    BAD(gw_valid_ssn, "078-05-1120");
    BAD(gw_valid_ssn, "078051120");
    BAD(gw_valid_ssn, "219-09-9999");
    BAD(gw_valid_ssn, "123-45-6789");
    BAD(gw_valid_ssn, "123 45 6789");
    BAD(gw_valid_ssn, "111-11-1111");
    BAD(gw_valid_ssn, "555555555");
    BAD(gw_valid_ssn, "123-45 6788"); /* mixed separators */
    BAD(gw_valid_ssn, "123.45.6788");
    BAD(gw_valid_ssn, "12-345-6788");
    BAD(gw_valid_ssn, "1234-5-6788");
    BAD(gw_valid_ssn, "12345678");
    BAD(gw_valid_ssn, "1234567888");
    BAD(gw_valid_ssn, "123-45-67888");
    BAD(gw_valid_ssn, "12a-45-6788");
    BAD(gw_valid_ssn, "");
    assert_int_equal(run_n(gw_valid_ssn, "123-45-67889", 11), 1);
}

/* ---- IP addresses ------------------------------------------------------------------------ */

static void
test_ipv4(void **state)
{
    (void)state;
    OK(gw_valid_ipv4, "0.0.0.0");
    OK(gw_valid_ipv4, "255.255.255.255");
    OK(gw_valid_ipv4, "192.168.1.1");
    OK(gw_valid_ipv4, "10.0.0.1");
    OK(gw_valid_ipv4, "1.20.199.249");

    BAD(gw_valid_ipv4, "256.1.1.1");
    BAD(gw_valid_ipv4, "1.1.1.256");
    BAD(gw_valid_ipv4, "300.1.1.1");
    BAD(gw_valid_ipv4, "01.1.1.1");
    BAD(gw_valid_ipv4, "1.1.1.00");
    BAD(gw_valid_ipv4, "1.1.1");
    BAD(gw_valid_ipv4, "1.1.1.1.1");
    BAD(gw_valid_ipv4, "1.1.1.1.");
    BAD(gw_valid_ipv4, ".1.1.1.1");
    BAD(gw_valid_ipv4, "1..1.1");
    BAD(gw_valid_ipv4, "1.1.1.-1");
    BAD(gw_valid_ipv4, "+1.1.1.1");
    BAD(gw_valid_ipv4, "1.1.1.1 ");
    BAD(gw_valid_ipv4, "1234.1.1.1");
    BAD(gw_valid_ipv4, "0x1.1.1.1");
    BAD(gw_valid_ipv4, "1.1.1.1/24");
    BAD(gw_valid_ipv4, "");
    assert_int_equal(run_n(gw_valid_ipv4, "1.2.3.45", 7), 1);
    assert_int_equal(run_n(gw_valid_ipv4, "1.2.3.4", 6), 0);
}

static const struct {
    const char *text;
    int valid;
} ipv6_cases[] = {
    {"::", 1},
    {"::1", 1},
    {"1::", 1},
    {"fe80::1", 1},
    {"FE80::ABCD", 1},
    {"::ffff:192.0.2.1", 1},
    {"::192.0.2.1", 1},
    {"64:ff9b::192.0.2.33", 1},
    {"1:2:3:4:5:6:1.2.3.4", 1},
    {"1::5:6:1.2.3.4", 1},
    {"2001:db8::8a2e:370:7334", 1},
    {"2001:0db8:85a3:0000:0000:8a2e:0370:7334", 1},
    {"1:2:3:4:5:6:7:8", 1},
    {"1:2:3:4:5:6:7::", 1},
    {"::2:3:4:5:6:7:8", 1},
    {"1:2:3:4::6:7:8", 1},
    {"0:0:0:0:0:ffff:255.255.255.255", 1},
    {"1:2:3:4:5:6:7:8:9", 0},
    {":::", 0},
    {"1:::2", 0},
    {"1::2::3", 0},
    {":1", 0},
    {":1::", 0},
    {"1:", 0},
    {"1::2:", 0},
    {":", 0},
    {"", 0},
    {"1", 0},
    {"1:2:3:4:5:6:7", 0},
    {"1:2:3:4:5:6:7:8::", 0},
    {"::1:2:3:4:5:6:7:8", 0},
    {"12345::", 0},
    {"g::1", 0},
    {"1:2:3:4:5:6:7:1.2.3.4", 0},
    {"1:2:3:4:5:6::1.2.3.4", 0},
    {"1:2:3:4:5:1.2.3.4", 0},
    {"::ffff:256.1.1.1", 0},
    {"::ffff:01.1.1.1", 0},
    {"::ffff:1.2.3", 0},
    {"::1.2.3.4:1", 0},
    {"1.2.3.4::", 0},
    {"1.2.3.4", 0},
    {"fe80::1%eth0", 0},
    {"[::1]", 0},
    {"::1/128", 0},
    {" ::1", 0},
    {"::1 ", 0},
    {"0000:0000:0000:0000:0000:ffff:255.255.255.255", 1},
    {"00000:0000:0000:0000:0000:ffff:255.255.255.255", 0},
};

static void
test_ipv6(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(ipv6_cases) / sizeof(ipv6_cases[0]); i++) {
        const char *t = ipv6_cases[i].text;
        expect(gw_valid_ipv6, "gw_valid_ipv6", t, ipv6_cases[i].valid);
        /* glibc agrees on all of them (it rejects zone ids too). */
        unsigned char addr[16];
        if ((inet_pton(AF_INET6, t, addr) == 1) != ipv6_cases[i].valid) {
            print_error("inet_pton disagrees on \"%s\"\n", t);
            fail();
        }
    }
    assert_int_equal(run_n(gw_valid_ipv6, "fe80::12", 7), 1);
    assert_int_equal(run_n(gw_valid_ipv6, "::ffff:1.2.3.45", 14), 1);
    assert_int_equal(run_n(gw_valid_ipv6, "::ffff:1.2.3.4", 13), 0);
}

/* ---- Phones ------------------------------------------------------------------------------ */

static void
test_phone_e164(void **state)
{
    (void)state;
    OK(gw_valid_phone, "+442079460958");
    OK(gw_valid_phone, "+44 20 7946 0958");
    OK(gw_valid_phone, "+44 (20) 7946-0958");
    OK(gw_valid_phone, "+49 30 901820"); /* 10 digits */
    OK(gw_valid_phone, "+33 1 23 45 67 89");
    OK(gw_valid_phone, "+86.10.1234.5678");
    OK(gw_valid_phone, "+1 415 555 2671");
    OK(gw_valid_phone, "+1 (415) 555-2671");
    OK(gw_valid_phone, "+32345678");        /* 8 digits */
    OK(gw_valid_phone, "+423456789012345"); /* 15 digits */
    BAD(gw_valid_phone, "+12345678");       /* +1 must be NANP */

    BAD(gw_valid_phone, "+1234567");          /* 7 digits */
    BAD(gw_valid_phone, "+1234567890123456"); /* 16 digits */
    BAD(gw_valid_phone, "+0 20 7946 0958");
    BAD(gw_valid_phone, "+ 44 20 7946 0958");
    BAD(gw_valid_phone, "+44 20 7946 0958 ");
    BAD(gw_valid_phone, "+44 20 7946 0958)");
    BAD(gw_valid_phone, "+44 ((20)) 7946 0958");
    BAD(gw_valid_phone, "+44 (20 7946 0958");
    BAD(gw_valid_phone, "+44 ( 20) 7946 0958");
    BAD(gw_valid_phone, "+44 20   7946 0958");
    BAD(gw_valid_phone, "+44 20/7946 0958");
    BAD(gw_valid_phone, "++44 20 7946 0958");
    BAD(gw_valid_phone, "+");
    /* Country code 1 is NANP: ten digits, N rules, no N11 area code. */
    BAD(gw_valid_phone, "+1 115 555 2671");
    BAD(gw_valid_phone, "+1 911 555 2671");
    BAD(gw_valid_phone, "+1 415 155 2671");
    BAD(gw_valid_phone, "+1 415 555 267");
    BAD(gw_valid_phone, "+1 415 555 26711");
}

static void
test_phone_nanp(void **state)
{
    (void)state;
    OK(gw_valid_phone, "(415) 555-2671");
    OK(gw_valid_phone, "(415)555-2671");
    OK(gw_valid_phone, "(415) 555 2671");
    OK(gw_valid_phone, "(415) 5552671");
    OK(gw_valid_phone, "415-555-2671");
    OK(gw_valid_phone, "415.555.2671");
    OK(gw_valid_phone, "415 555 2671");
    OK(gw_valid_phone, "4155552671");
    OK(gw_valid_phone, "1-415-555-2671");
    OK(gw_valid_phone, "1 (415) 555-2671");
    OK(gw_valid_phone, "1(415)555-2671");
    OK(gw_valid_phone, "212-212-2121"); /* N11 rule is about the area code only */
    OK(gw_valid_phone, "415-911-2671");

    BAD(gw_valid_phone, "(911) 555-2671");
    BAD(gw_valid_phone, "211-555-2671");
    BAD(gw_valid_phone, "(015) 555-2671");
    BAD(gw_valid_phone, "115-555-2671");
    BAD(gw_valid_phone, "415-155-2671");
    BAD(gw_valid_phone, "415-055-2671");
    BAD(gw_valid_phone, "415-555.2671"); /* mixed separators */
    BAD(gw_valid_phone, "415--555-2671");
    BAD(gw_valid_phone, "415-5552671");
    BAD(gw_valid_phone, "(415 555-2671");
    BAD(gw_valid_phone, "(415)-555-2671");
    BAD(gw_valid_phone, "555-2671"); /* seven-digit local numbers are not taken */
    BAD(gw_valid_phone, "12345");
    BAD(gw_valid_phone, "415-555-26711");
    BAD(gw_valid_phone, "415 555 2671x");
    BAD(gw_valid_phone, " 415 555 2671");
    BAD(gw_valid_phone, "2-415-555-2671");
    BAD(gw_valid_phone, "abc-def-ghij");
    BAD(gw_valid_phone, "");
    assert_int_equal(run_n(gw_valid_phone, "415-555-26719", 12), 1);
    assert_int_equal(run_n(gw_valid_phone, "+44 20 7946 09589", 16), 1);
}

/* ---- Entropy ----------------------------------------------------------------------------- */

static void
test_entropy(void **state)
{
    (void)state;
    assert_true(gw_entropy("aaaa", 4) == 0.0);
    assert_true(gw_entropy(NULL, 0) == 0.0);
    assert_true(gw_entropy("x", 1) == 0.0);
    assert_true(fabs(gw_entropy("0123456789abcdef", 16) - 4.0) < 1e-12);
    assert_true(fabs(gw_entropy("ab", 2) - 1.0) < 1e-12);
    assert_true(fabs(gw_entropy("aabb", 4) - 1.0) < 1e-12);
    /* p = 3/4, 1/4: 0.811278... bits. */
    assert_true(fabs(gw_entropy("aaab", 4) - 0.8112781244591328) < 1e-12);
    char all[512];
    for (size_t i = 0; i < sizeof(all); i++)
        all[i] = (char)(i & 0xFF);
    assert_true(fabs(gw_entropy(all, sizeof(all)) - 8.0) < 1e-12);
    assert_true(gw_entropy(all, sizeof(all)) <= 8.0);
    /* A NUL byte is a symbol too, and only n bytes are counted. */
    assert_true(fabs(gw_entropy("\0a", 2) - 1.0) < 1e-12);
    assert_true(gw_entropy("aaaab", 4) == 0.0);
    double key = gw_entropy("AKIAIOSFODNN7EXAMPLE", 20), word = gw_entropy("passwordpassword", 16);
    assert_true(key > word);
    assert_true(key > 3.0 && key < 4.33);
}

/* ---- JWT --------------------------------------------------------------------------------- */

static size_t
b64url_encode(const void *in, size_t n, char *out)
{
    static const char abc[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    const unsigned char *p = in;
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)p[i + 1] << 8;
        if (i + 2 < n)
            v |= p[i + 2];
        out[o++] = abc[(v >> 18) & 63];
        out[o++] = abc[(v >> 12) & 63];
        if (i + 1 < n)
            out[o++] = abc[(v >> 6) & 63];
        if (i + 2 < n)
            out[o++] = abc[v & 63];
    }
    out[o] = '\0';
    return o;
}

/* header.payload.signature, each part base64url-encoded (signature: nsig bytes of 0xA5..). */
static void
make_jwt(char *out, const char *header, const char *payload, size_t nsig)
{
    unsigned char sig[64] = {0};
    assert_true(nsig <= sizeof(sig));
    for (size_t i = 0; i < nsig; i++)
        sig[i] = (unsigned char)(0xA5 + 7 * i);
    size_t o = b64url_encode(header, strlen(header), out);
    out[o++] = '.';
    o += b64url_encode(payload, strlen(payload), out + o);
    out[o++] = '.';
    b64url_encode(sig, nsig, out + o);
}

static const char claims[] = "{\"sub\":\"1234567890\",\"name\":\"John Doe\",\"iat\":1516239022}";

static void
test_jwt_valid(void **state)
{
    (void)state;
    char t[512];
    make_jwt(t, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, 32);
    assert_memory_equal(t, "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.", 37);
    OK(gw_valid_jwt, t);
    /* Header lengths of 0, 1 and 2 mod 3 exercise every decoding position. */
    make_jwt(t, "{\"alg\":\"RS256\"}", claims, 256 / 8);
    OK(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":\"ES256\" }", claims, 64);
    OK(gw_valid_jwt, t);
    make_jwt(t, " {\"typ\":\"JWT\", \"alg\" : \"EdDSA\"}\n", claims, 64);
    OK(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":\"none\"}", claims, 0);
    OK(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":\"None\"}", claims, 0);
    OK(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":\"none\"}", "{}", 1);
    OK(gw_valid_jwt, t);
    /* The well-known example token from jwt.io. */
    OK(gw_valid_jwt,
       "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6Ikp"
       "vaG4gRG9lIiwiaWF0IjoxNTE2MjM5MDIyfQ.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c");
}

static void
test_jwt_invalid(void **state)
{
    (void)state;
    char t[512], u[600];
    make_jwt(t, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, 0);
    BAD(gw_valid_jwt, t); /* no signature, alg is not none */
    make_jwt(t, "{\"alg\":\"nonex\"}", claims, 0);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "{\"typ\":\"JWT\"}", claims, 32);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "{\"x\":\"alg\"}", claims, 32);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":256}", claims, 32);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "[\"alg\",\"HS256\"]", claims, 32);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":\"HS256\"", claims, 32);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "", claims, 32);
    BAD(gw_valid_jwt, t);
    make_jwt(t, "{\"alg\":\"HS256\"}", "", 32);
    BAD(gw_valid_jwt, t);

    make_jwt(t, "{\"alg\":\"HS256\",\"typ\":\"JWT\"}", claims, 32);
    OK(gw_valid_jwt, t);
    size_t n = strlen(t);
    assert_int_equal(run_n(gw_valid_jwt, t, n - 1), 1);
    assert_int_equal(run_n(gw_valid_jwt, t, (size_t)(strchr(t, '.') - t)), 0);
    snprintf(u, sizeof(u), "%s.", t);
    BAD(gw_valid_jwt, u); /* four segments */
    snprintf(u, sizeof(u), "%s.abc", t);
    BAD(gw_valid_jwt, u);
    /* base64 padding: the right amount (the 32-byte signature is 43 characters: one '=') is
       read past, a wrong amount is not base64 at all */
    snprintf(u, sizeof(u), "%s=", t);
    OK(gw_valid_jwt, u);
    snprintf(u, sizeof(u), "%s==", t);
    BAD(gw_valid_jwt, u);
    snprintf(u, sizeof(u), "%s===", t);
    BAD(gw_valid_jwt, u);
    snprintf(u, sizeof(u), "%s+", t); /* base64, not base64url */
    BAD(gw_valid_jwt, u);
    snprintf(u, sizeof(u), "%s ", t);
    BAD(gw_valid_jwt, u);
    make_jwt(u, "{\"alg\":\"HS256\"}", claims, 33);
    OK(gw_valid_jwt, u);
    strcat(u, "A"); /* signature length 1 mod 4 */
    assert_int_equal(strlen(strrchr(u, '.') + 1) % 4, 1);
    BAD(gw_valid_jwt, u);
    memcpy(u, t, n + 1);
    u[strchr(u, '.') - u] = 'x'; /* two segments */
    BAD(gw_valid_jwt, u);
    memcpy(u, t, n + 1);
    u[3] = '/';
    BAD(gw_valid_jwt, u);
    BAD(gw_valid_jwt, "..");
    BAD(gw_valid_jwt, "a.b.c");
    BAD(gw_valid_jwt, "");
    BAD(gw_valid_jwt, ".");
}

/* header.key.iv.ciphertext.tag (JWE compact), each part base64url-encoded; key, iv, ciphertext
 * and tag are nkey, niv, nct and ntag bytes of 0x5A.. */
static void
make_jwe(char *out, const char *header, size_t nkey, size_t niv, size_t nct, size_t ntag)
{
    unsigned char b[96];
    size_t o = b64url_encode(header, strlen(header), out);
    const size_t lens[4] = {nkey, niv, nct, ntag};
    for (int p = 0; p < 4; p++) {
        assert_true(lens[p] <= sizeof(b));
        for (size_t i = 0; i < lens[p]; i++)
            b[i] = (unsigned char)(0x5A + 11 * i + 3 * (size_t)p);
        out[o++] = '.';
        o += b64url_encode(b, lens[p], out + o);
    }
}

static void
test_jwe(void **state)
{
    (void)state;
    char t[768];
    /* direct encryption: empty encrypted key (the form of NextAuth session cookies) */
    make_jwe(t, "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", 0, 12, 80, 16);
    assert_memory_equal(t, "eyJhbGciOiJkaXIiLCJlbmMiOiJBMjU2R0NNIn0..", 41);
    OK(gw_valid_jwt, t);
    make_jwe(t, "{\"alg\":\"RSA-OAEP-256\",\"enc\":\"A128CBC-HS256\",\"kid\":\"k1\"}", 64, 16, 33,
             16);
    OK(gw_valid_jwt, t);
    make_jwe(t, "{\"enc\" : \"A128GCM\", \"alg\" : \"ECDH-ES\"}", 0, 12, 5, 16);
    OK(gw_valid_jwt, t);

    make_jwe(t, "{\"alg\":\"dir\"}", 0, 12, 80, 16);
    BAD(gw_valid_jwt, t); /* no enc */
    make_jwe(t, "{\"enc\":\"A256GCM\"}", 0, 12, 80, 16);
    BAD(gw_valid_jwt, t); /* no alg */
    make_jwe(t, "{\"alg\":\"dir\",\"enc\":256}", 0, 12, 80, 16);
    BAD(gw_valid_jwt, t);
    make_jwe(t, "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", 0, 0, 80, 16);
    BAD(gw_valid_jwt, t); /* empty iv */
    make_jwe(t, "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", 0, 12, 0, 16);
    BAD(gw_valid_jwt, t); /* empty ciphertext */
    make_jwe(t, "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", 0, 12, 80, 0);
    BAD(gw_valid_jwt, t); /* empty tag */
    make_jwe(t, "{\"alg\":\"dir\",\"enc\":\"A256GCM\"}", 0, 12, 80, 16);
    char u[800];
    snprintf(u, sizeof(u), "%s.abcd", t);
    BAD(gw_valid_jwt, u); /* six segments */
    snprintf(u, sizeof(u), "%s==", t);
    BAD(gw_valid_jwt, u); /* padding */
    BAD(gw_valid_jwt, "....");
    BAD(gw_valid_jwt, "a.b.c.d.e");
}

/* ---- Dates ------------------------------------------------------------------------------- */

static void
test_date_numeric(void **state)
{
    (void)state;
    OK(gw_valid_date, "1990-01-31");
    OK(gw_valid_date, "1990/1/31");
    OK(gw_valid_date, "1990.01.31");
    OK(gw_valid_date, "31/01/1990");
    OK(gw_valid_date, "01/31/1990"); /* only the month-day reading is a date */
    OK(gw_valid_date, "31.01.1990");
    OK(gw_valid_date, "31-01-1990");
    OK(gw_valid_date, "1-31-1990");
    OK(gw_valid_date, "5/3/1985");
    OK(gw_valid_date, "1900-01-01");
    OK(gw_valid_date, "2099-12-31");
    /* leap years: divisible by 4, centuries only by 400 */
    OK(gw_valid_date, "2000-02-29");
    OK(gw_valid_date, "29.02.1996");
    OK(gw_valid_date, "02/29/2024");
    BAD(gw_valid_date, "1900-02-29");
    BAD(gw_valid_date, "29.02.1995");
    BAD(gw_valid_date, "2023-02-29");
    BAD(gw_valid_date, "1990-02-30");
    BAD(gw_valid_date, "31/04/1990");
    BAD(gw_valid_date, "04/31/1990"); /* April has 30 days either way round */
    BAD(gw_valid_date, "01.31.1990"); /* '.' is day-month only */
    BAD(gw_valid_date, "1990-13-01");
    BAD(gw_valid_date, "1990-00-10");
    BAD(gw_valid_date, "1990-01-00");
    BAD(gw_valid_date, "1990-01-32");
    BAD(gw_valid_date, "32/01/1990");
    BAD(gw_valid_date, "13/13/1990");
    BAD(gw_valid_date, "1899-12-31"); /* years 1900-2099 */
    BAD(gw_valid_date, "2100-01-01");
    BAD(gw_valid_date, "31/01/2100");
    BAD(gw_valid_date, "1990-01/31"); /* mixed separators */
    BAD(gw_valid_date, "31/01.1990");
    BAD(gw_valid_date, "1990 01 31");
    BAD(gw_valid_date, "1990-001-31");
    BAD(gw_valid_date, "19900-01-31");
    BAD(gw_valid_date, "31/01/90"); /* two-digit years */
    BAD(gw_valid_date, "31/01/19900");
    BAD(gw_valid_date, "123/01/1990");
    BAD(gw_valid_date, "1990-01-31T10:00");
    BAD(gw_valid_date, " 1990-01-31");
    BAD(gw_valid_date, "1990-01-31 ");
    BAD(gw_valid_date, "1.2.3.4");
    BAD(gw_valid_date, "");
    assert_int_equal(run_n(gw_valid_date, "1990-01-311", 10), 1);
    assert_int_equal(run_n(gw_valid_date, "1990-01-31", 9), 1); /* 1990-01-3 */
    assert_int_equal(run_n(gw_valid_date, "31/01/1990", 9), 0);
}

static void
test_date_textual(void **state)
{
    (void)state;
    OK(gw_valid_date, "31 January 1990");
    OK(gw_valid_date, "31 january 1990");
    OK(gw_valid_date, "31 JANUARY 1990");
    OK(gw_valid_date, "31 Jan 1990");
    OK(gw_valid_date, "31 Jan. 1990");
    OK(gw_valid_date, "31 January, 1990");
    OK(gw_valid_date, "31st January 1990");
    OK(gw_valid_date, "1st of March 1985");
    OK(gw_valid_date, "22nd  Sept 1975");
    OK(gw_valid_date, "3RD Sep 1975");
    OK(gw_valid_date, "31-Jan-1990");
    OK(gw_valid_date, "7-may-2001");
    OK(gw_valid_date, "January 31, 1990");
    OK(gw_valid_date, "January 31 1990");
    OK(gw_valid_date, "Jan 31 1990");
    OK(gw_valid_date, "Jan. 31st, 1990");
    OK(gw_valid_date, "feb 29 2000");
    OK(gw_valid_date, "December 1st 2099");
    OK(gw_valid_date, "May 5, 1955");
    OK(gw_valid_date, "2th June 1990"); /* the suffix is not checked against the day */

    BAD(gw_valid_date, "Feb 29 1900");
    BAD(gw_valid_date, "30 February 2000");
    BAD(gw_valid_date, "31 April 1990");
    BAD(gw_valid_date, "32 January 1990");
    BAD(gw_valid_date, "0 January 1990");
    BAD(gw_valid_date, "January 0, 1990");
    BAD(gw_valid_date, "31 Janu 1990");
    BAD(gw_valid_date, "31 Janvier 1990");
    BAD(gw_valid_date, "31 Jn 1990");
    BAD(gw_valid_date, "31 January. 1990"); /* '.' only after an abbreviation */
    BAD(gw_valid_date, "May. 5, 1955");
    BAD(gw_valid_date, "31 January 90");
    BAD(gw_valid_date, "31 January 1890");
    BAD(gw_valid_date, "31January 1990");
    BAD(gw_valid_date, "31 January1990");
    BAD(gw_valid_date, "January31, 1990");
    BAD(gw_valid_date, "January 31,1990");
    BAD(gw_valid_date, "31xx January 1990");
    BAD(gw_valid_date, "31 of January 1990"); /* "of" only after an ordinal */
    BAD(gw_valid_date, "January 31st of 1990");
    BAD(gw_valid_date, "31-Jan 1990");
    BAD(gw_valid_date, "31-Jan.-1990");
    BAD(gw_valid_date, "31st-Jan-1990");
    BAD(gw_valid_date, "Monday 31 January 1990");
    BAD(gw_valid_date, "January 1990");
    BAD(gw_valid_date, "31 January");
    BAD(gw_valid_date, "January 31, 1990.");
    assert_int_equal(run_n(gw_valid_date, "Jan 31 19901", 11), 1);
}

/* ---- E-mail ------------------------------------------------------------------------------ */

static void
test_email(void **state)
{
    (void)state;
    OK(gw_valid_email, "jane.doe@example.com");
    OK(gw_valid_email, "a@b.co");
    OK(gw_valid_email, "JOHN+tag@Mail.Example.CO.UK");
    OK(gw_valid_email, "o'brien@example.ie");
    OK(gw_valid_email, "x!#$%&'*+-/=?^_`{|}~y@example.org");
    OK(gw_valid_email, "user@sub-domain.example-site.museum");
    OK(gw_valid_email, "user@xn--bcher-kva.xn--p1ai");
    OK(gw_valid_email, "user@1.2.example");
    OK(gw_valid_email, "user@abcdefghijklmnopqrstuvwx.abcdefghijklmnopqrstuvwx"); /* TLD of 24 */

    OK(gw_valid_email, "user@example.py"); /* real TLDs that are also file extensions */
    OK(gw_valid_email, "user@example.MD");
    OK(gw_valid_email, "user@example.zip");
    OK(gw_valid_email, "user@example.jsonx");
    OK(gw_valid_email, "user@example.xmlx");
    BAD(gw_valid_email, "icon@2x.png"); /* extensions that are no TLD */
    BAD(gw_valid_email, "icon@2x.PNG");
    BAD(gw_valid_email, "ca@valencia.po");
    BAD(gw_valid_email, "en@quot.header");
    BAD(gw_valid_email, "lib@1.2.js");
    BAD(gw_valid_email, "a@b.json");
    BAD(gw_valid_email, "a@b.wasm"); /* the last word of the list */
    BAD(gw_valid_email, "a@b.png.swp");
    BAD(gw_valid_email, "user@example.abcdefghijklmnopqrstuvwxy"); /* TLD of 25 */
    BAD(gw_valid_email, "user@example.c");
    BAD(gw_valid_email, "user@example.c0m");
    BAD(gw_valid_email, "user@example.xn--");
    BAD(gw_valid_email, "user@localhost");
    BAD(gw_valid_email, "user@example.com.");
    BAD(gw_valid_email, "user@.example.com");
    BAD(gw_valid_email, "user@example..com");
    BAD(gw_valid_email, "user@-example.com");
    BAD(gw_valid_email, "user@example-.com");
    BAD(gw_valid_email, "user@exa_mple.com");
    BAD(gw_valid_email, "user@[192.0.2.1]");
    BAD(gw_valid_email, ".user@example.com");
    BAD(gw_valid_email, "user.@example.com");
    BAD(gw_valid_email, "us..er@example.com");
    BAD(gw_valid_email, "us er@example.com");
    BAD(gw_valid_email, "\"user\"@example.com");
    BAD(gw_valid_email, "us(er@example.com");
    BAD(gw_valid_email, "user@@example.com");
    BAD(gw_valid_email, "user@exa@mple.com");
    BAD(gw_valid_email, "@example.com");
    BAD(gw_valid_email, "user@");
    BAD(gw_valid_email, "userexample.com");
    BAD(gw_valid_email, "");

    /* Limits: 64 bytes of local part, 63 per label, 254 in all. */
    char buf[400];
    memset(buf, 'a', 64);
    strcpy(buf + 64, "@example.com");
    OK(gw_valid_email, buf);
    memset(buf, 'a', 65);
    strcpy(buf + 65, "@example.com");
    BAD(gw_valid_email, buf);
    strcpy(buf, "u@");
    memset(buf + 2, 'b', 63);
    strcpy(buf + 65, ".com");
    OK(gw_valid_email, buf);
    strcpy(buf, "u@");
    memset(buf + 2, 'b', 64);
    strcpy(buf + 66, ".com");
    BAD(gw_valid_email, buf);
    /* u@, 4 labels of 61 and their dots, "comm": 2 + 248 + 4 = 254 */
    size_t o = (size_t)snprintf(buf, sizeof(buf), "u@");
    for (int k = 0; k < 4; k++) {
        memset(buf + o, 'c', 61);
        o += 61;
        buf[o++] = '.';
    }
    memcpy(buf + o, "comm", 5); /* 254 */
    assert_int_equal(strlen(buf), 254);
    OK(gw_valid_email, buf);
    memcpy(buf + o, "commm", 6); /* 255 */
    BAD(gw_valid_email, buf);
    assert_int_equal(run_n(gw_valid_email, "jane@example.com.", 16), 1);
    assert_int_equal(run_n(gw_valid_email, "jane@example.com", 15), 1); /* example.co */
    assert_int_equal(run_n(gw_valid_email, "jane@example.com", 14), 0);
}

/* ---- National identifiers ----------------------------------------------------------------
 * The valid numbers below are made up: a base chosen by hand and the check digit computed by the
 * published algorithm, with the arithmetic in the comment; changing one character must break
 * them. None is a real person's number as far as anyone could know. */

static void
test_uk_nhs(void **state)
{
    (void)state;
    /* 943476591: 9*10 + 4*9 + 3*8 + 4*7 + 7*6 + 6*5 + 5*4 + 9*3 + 1*2 = 299, 299 mod 11 = 2,
     * check 11 - 2 = 9 (the NHS's own sample number) */
    OK(gw_valid_uk_nhs, "9434765919");
    OK(gw_valid_uk_nhs, "943 476 5919");
    OK(gw_valid_uk_nhs, "943-476-5919");
    /* 401023213: sum 92, 92 mod 11 = 4, check 7 */
    OK(gw_valid_uk_nhs, "401 023 2137");
    /* 400000002: 4*10 + 2*2 = 44 = 0 mod 11, check 11 - 0 = 11, written 0 */
    OK(gw_valid_uk_nhs, "4000000020");
    BAD(gw_valid_uk_nhs, "4000000021");
    BAD(gw_valid_uk_nhs, "9434765918");
    BAD(gw_valid_uk_nhs, "9434765991"); /* swapped */
    BAD(gw_valid_uk_nhs, "943 476 591");
    BAD(gw_valid_uk_nhs, "94347659190");
    BAD(gw_valid_uk_nhs, "943 4765 919"); /* grouped 3-4-3 */
    BAD(gw_valid_uk_nhs, "943 476-5919"); /* mixed separators */
    BAD(gw_valid_uk_nhs, "943  476 5919");
    BAD(gw_valid_uk_nhs, "943.476.5919");
    BAD(gw_valid_uk_nhs, "4444444444"); /* passes mod 11, all the same digit */
    /* 100000001: 1*10 + 1*2 = 12, 12 mod 11 = 1, 11 - 1 = 10: no check digit fits */
    for (char c = '0'; c <= '9'; c++) {
        char t[11] = "100000001";
        t[9] = c;
        t[10] = '\0';
        BAD(gw_valid_uk_nhs, t);
    }
}

static void
test_uk_nino(void **state)
{
    (void)state;
    OK(gw_valid_uk_nino, "AB123456C");
    OK(gw_valid_uk_nino, "AB 12 34 56 C");
    OK(gw_valid_uk_nino, "AB 123456 C");
    OK(gw_valid_uk_nino, "AB123456 D");
    OK(gw_valid_uk_nino, "JG103759A");
    OK(gw_valid_uk_nino, "OA123456B"); /* O is excluded as the second letter only */
    BAD(gw_valid_uk_nino, "AO123456B");
    BAD(gw_valid_uk_nino, "DA123456A"); /* D F I Q U V: never first */
    BAD(gw_valid_uk_nino, "FA123456A");
    BAD(gw_valid_uk_nino, "IA123456A");
    BAD(gw_valid_uk_nino, "QA123456A");
    BAD(gw_valid_uk_nino, "UA123456A");
    BAD(gw_valid_uk_nino, "VA123456A");
    BAD(gw_valid_uk_nino, "AD123456A"); /* ... nor second */
    BAD(gw_valid_uk_nino, "AV123456A");
    BAD(gw_valid_uk_nino, "BG123456A"); /* unallocated prefixes */
    BAD(gw_valid_uk_nino, "GB123456A");
    BAD(gw_valid_uk_nino, "KN123456A");
    BAD(gw_valid_uk_nino, "NK123456A");
    BAD(gw_valid_uk_nino, "NT123456A");
    BAD(gw_valid_uk_nino, "TN123456A");
    BAD(gw_valid_uk_nino, "ZZ123456A");
    BAD(gw_valid_uk_nino, "AB123456E"); /* suffix A-D */
    BAD(gw_valid_uk_nino, "AB123456");
    BAD(gw_valid_uk_nino, "ab123456c");
    BAD(gw_valid_uk_nino, "AB12345C");
    BAD(gw_valid_uk_nino, "AB1234567C");
    BAD(gw_valid_uk_nino, "AB 123 456 C"); /* a space inside a digit pair */
    BAD(gw_valid_uk_nino, "A B123456C");
    BAD(gw_valid_uk_nino, "AB  123456C");
    BAD(gw_valid_uk_nino, "AB-12-34-56-C");
    BAD(gw_valid_uk_nino, " AB123456C");
    BAD(gw_valid_uk_nino, "AB123456C ");
}

static void
test_es_nif(void **state)
{
    (void)state;
    /* DNI: 12345678 mod 23 = 14, letter 14 of TRWAGMYFPDXBNJZSQVHLCKE is Z */
    OK(gw_valid_es_nif, "12345678Z");
    OK(gw_valid_es_nif, "12345678-Z");
    OK(gw_valid_es_nif, "12345678 Z");
    /* 87654321 mod 23 = 10: X */
    OK(gw_valid_es_nif, "87654321X");
    /* NIE: X1234567 reads 01234567, mod 23 = 19: L; Y7654321 reads 17654321: 4, G; Z1111112
     * reads 21111112: 10, X */
    OK(gw_valid_es_nif, "X1234567L");
    OK(gw_valid_es_nif, "X-1234567-L");
    OK(gw_valid_es_nif, "Y7654321G");
    OK(gw_valid_es_nif, "Z1111112X");
    BAD(gw_valid_es_nif, "12345678A");
    BAD(gw_valid_es_nif, "12345687Z"); /* swapped */
    BAD(gw_valid_es_nif, "11111111H"); /* right letter, placeholder digits */
    BAD(gw_valid_es_nif, "00000000T");
    BAD(gw_valid_es_nif, "X1234567Z");
    BAD(gw_valid_es_nif, "Y1234567L"); /* the NIE letter counts */
    BAD(gw_valid_es_nif, "W1234567L");
    BAD(gw_valid_es_nif, "x1234567L");
    BAD(gw_valid_es_nif, "12345678z");
    BAD(gw_valid_es_nif, "1234567Z");
    BAD(gw_valid_es_nif, "123456789Z");
    BAD(gw_valid_es_nif, "X12345678L");
    BAD(gw_valid_es_nif, "12345678--Z");
    BAD(gw_valid_es_nif, "12345678Z ");
    BAD(gw_valid_es_nif, "1234-5678Z");
    BAD(gw_valid_es_nif, "X 1234567L");
    BAD(gw_valid_es_nif, "12345678");
}

static void
test_it_fiscal_code(void **state)
{
    (void)state;
    /* Check letters computed by the odd/even tables of the header (python-stdnum agrees). */
    OK(gw_valid_it_fiscal_code, "RSSMRA85T10A562S"); /* 10 Dec 1985, municipality A562 */
    OK(gw_valid_it_fiscal_code, "BNCLRA80A41L219V"); /* a woman born 1 Jan 1980 */
    OK(gw_valid_it_fiscal_code, "VRDGPP00B69H501C"); /* 29 Feb of a year 00 */
    OK(gw_valid_it_fiscal_code, "RSSMRA85T1LA562V"); /* omocodia: day 10 written 1L */
    OK(gw_valid_it_fiscal_code, "RSSMRA85T10A56NH"); /* omocodia: 2 written N */
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T10A562T");
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T01A562S");
    BAD(gw_valid_it_fiscal_code, "VRDGPP01B69H501D"); /* 29 Feb 01 */
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T32A562Y"); /* day 32 */
    BAD(gw_valid_it_fiscal_code, "RSSMRA85F10A562R"); /* F is no month */
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T10N562F"); /* municipality letters are A-M and Z */
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T10A5W2S"); /* W is no omocodia letter */
    BAD(gw_valid_it_fiscal_code, "rssmra85t10a562s");
    BAD(gw_valid_it_fiscal_code, "RSSMR185T10A562S");
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T10A562");
    BAD(gw_valid_it_fiscal_code, "RSSMRA85T10A562SS");
    BAD(gw_valid_it_fiscal_code, "RSS MRA 85T10 A562S");
    BAD(gw_valid_it_fiscal_code, "12345678901"); /* company codes are not taken */
}

static void
test_pl_pesel(void **state)
{
    (void)state;
    /* 4405140135, weights 1 3 7 9 1 3 7 9 1 3: sum 101, (10 - 1) mod 10 = 9; 14 May 1944 */
    OK(gw_valid_pl_pesel, "44051401359");
    /* month 21: January of the 2000s; 30 Jan 2002, sum 52, check 8 */
    OK(gw_valid_pl_pesel, "02213001238");
    /* month 22, day 29: 29 Feb 2000, sum 101, check 9 */
    OK(gw_valid_pl_pesel, "00222912349");
    BAD(gw_valid_pl_pesel, "44051401358");
    BAD(gw_valid_pl_pesel, "44051410359");
    BAD(gw_valid_pl_pesel, "90022912344"); /* right check digit, 29 Feb 1990 */
    BAD(gw_valid_pl_pesel, "44131401350"); /* month 13 */
    BAD(gw_valid_pl_pesel, "44053201353"); /* day 32 */
    BAD(gw_valid_pl_pesel, "4405140135");
    BAD(gw_valid_pl_pesel, "440514013590");
    BAD(gw_valid_pl_pesel, "440514 01359");
}

static void
test_fi_hetu(void **state)
{
    (void)state;
    /* 131052308 mod 31 = 25: T */
    OK(gw_valid_fi_hetu, "131052-308T");
    /* the 2023 signs: Y for the 1900s (010594947 mod 31 = 15, F), B for the 2000s */
    OK(gw_valid_fi_hetu, "010594Y947F");
    OK(gw_valid_fi_hetu, "290200A002C"); /* 29 Feb 2000, 290200002 mod 31 = 12 */
    OK(gw_valid_fi_hetu, "290200B002C");
    OK(gw_valid_fi_hetu, "311299+999E"); /* 1899, temporary number 999 */
    BAD(gw_valid_fi_hetu, "131052-308U");
    BAD(gw_valid_fi_hetu, "131052G308T"); /* G is no century sign */
    BAD(gw_valid_fi_hetu, "131052Z308T");
    BAD(gw_valid_fi_hetu, "290201A002M"); /* right check, 29 Feb 2001 */
    BAD(gw_valid_fi_hetu, "310452-308K"); /* 31 April */
    BAD(gw_valid_fi_hetu, "131052-001W"); /* individual numbers start at 002 */
    BAD(gw_valid_fi_hetu, "131052-308t");
    BAD(gw_valid_fi_hetu, "131052-308");
    BAD(gw_valid_fi_hetu, "131052 308T");
    BAD(gw_valid_fi_hetu, "131052-308TT");
}

static void
test_nl_bsn(void **state)
{
    (void)state;
    /* 11122233: 9*1 + 8*1 + 7*1 + 6*2 + 5*2 + 4*2 + 3*3 + 2*3 = 69; 69 - d9 = 0 mod 11: d9 = 3 */
    OK(gw_valid_nl_bsn, "111222333");
    OK(gw_valid_nl_bsn, "1112.22.333");
    OK(gw_valid_nl_bsn, "1112 22 333");
    OK(gw_valid_nl_bsn, "111.222.333");
    /* 12345678: 156 = 2 mod 11: d9 = 2 */
    OK(gw_valid_nl_bsn, "123456782");
    /* 99999999: 396 = 0 mod 11: d9 = 0 */
    OK(gw_valid_nl_bsn, "999999990");
    BAD(gw_valid_nl_bsn, "111222334");
    BAD(gw_valid_nl_bsn, "123456872");
    BAD(gw_valid_nl_bsn, "000000000");
    BAD(gw_valid_nl_bsn, "1112.22 333");
    BAD(gw_valid_nl_bsn, "11122.2.333");
    BAD(gw_valid_nl_bsn, "111-222-333");
    BAD(gw_valid_nl_bsn, "11122233");
    BAD(gw_valid_nl_bsn, "1112223333");
}

static void
test_fr_nir(void **state)
{
    (void)state;
    /* 1850578006084 mod 97 = 6: key 91 */
    OK(gw_valid_fr_nir, "185057800608491");
    OK(gw_valid_fr_nir, "1 85 05 78 006 084 91");
    OK(gw_valid_fr_nir, "1850578006084 91");
    /* Corsica: 2A reads 19, 2B 18 (1850519006084 mod 97 = 62: key 35; 2B: key 62) */
    OK(gw_valid_fr_nir, "1 85 05 2A 006 084 35");
    OK(gw_valid_fr_nir, "1 85 05 2B 006 084 62");
    /* born abroad (99), pseudo-months 20 and 99 */
    OK(gw_valid_fr_nir, "269029934173285");
    OK(gw_valid_fr_nir, "185207800608440");
    OK(gw_valid_fr_nir, "185997800608443");
    BAD(gw_valid_fr_nir, "185057800608492");
    BAD(gw_valid_fr_nir, "1 85 05 2A 006 084 62"); /* the 2B key */
    BAD(gw_valid_fr_nir, "1 85 05 2C 006 084 35");
    BAD(gw_valid_fr_nir, "385057800608488"); /* right key, sex 3 */
    BAD(gw_valid_fr_nir, "185137800608425"); /* month 13 */
    BAD(gw_valid_fr_nir, "185007800608411"); /* month 00 */
    BAD(gw_valid_fr_nir, "185050000608463"); /* department 00 */
    BAD(gw_valid_fr_nir, "185057800600078"); /* order 000 */
    BAD(gw_valid_fr_nir, "18505780060849");
    BAD(gw_valid_fr_nir, "1850578006084911");
    BAD(gw_valid_fr_nir, "1 850 578 006 084 91"); /* spaces out of place */
    BAD(gw_valid_fr_nir, "1  85 05 78 006 084 91");
    BAD(gw_valid_fr_nir, "1.85.05.78.006.084.91");
    BAD(gw_valid_fr_nir, "1 85 05 78 006 084 91 ");
}

static void
test_de_tax_id(void **state)
{
    (void)state;
    /* MOD 11,10 over 8609574271 (7 twice) gives 9 */
    OK(gw_valid_de_tax_id, "86095742719");
    OK(gw_valid_de_tax_id, "86 095 742 719");
    OK(gw_valid_de_tax_id, "11234567890"); /* 1 twice, check 0 */
    OK(gw_valid_de_tax_id, "11213456783"); /* 1 three times, not adjacent */
    BAD(gw_valid_de_tax_id, "86095742718");
    BAD(gw_valid_de_tax_id, "86095747219");
    BAD(gw_valid_de_tax_id, "11123456786"); /* right check, 1 in three adjacent places */
    BAD(gw_valid_de_tax_id, "11112345678"); /* four times */
    BAD(gw_valid_de_tax_id, "12345678903"); /* no digit repeated */
    BAD(gw_valid_de_tax_id, "11224567894"); /* two digits repeated */
    BAD(gw_valid_de_tax_id, "06095742715"); /* leading 0 */
    BAD(gw_valid_de_tax_id, "86 095 742 7190");
    BAD(gw_valid_de_tax_id, "860 957 427 19");
    BAD(gw_valid_de_tax_id, "86-095-742-719");
    BAD(gw_valid_de_tax_id, "8609574271");
}

static void
test_in_aadhaar(void **state)
{
    (void)state;
    /* Verhoeff check digit of 23456789012 is 4, of 98765432101 is 2 */
    OK(gw_valid_in_aadhaar, "234567890124");
    OK(gw_valid_in_aadhaar, "2345 6789 0124");
    OK(gw_valid_in_aadhaar, "2345-6789-0124");
    OK(gw_valid_in_aadhaar, "987654321012");
    /* the textbook Verhoeff example: 236 gets 3 */
    assert_int_equal(verhoeff_ok("2363", 4), 1);
    assert_int_equal(verhoeff_ok("2364", 4), 0);
    BAD(gw_valid_in_aadhaar, "234567890125");
    BAD(gw_valid_in_aadhaar, "234567890214"); /* Verhoeff catches swaps */
    BAD(gw_valid_in_aadhaar, "123456789010"); /* right check, first digit 1 */
    BAD(gw_valid_in_aadhaar, "200009900002"); /* right check, palindrome */
    BAD(gw_valid_in_aadhaar, "2345 6789-0124");
    BAD(gw_valid_in_aadhaar, "234 5678 90124");
    BAD(gw_valid_in_aadhaar, "23456789012");
    BAD(gw_valid_in_aadhaar, "2345678901244");
}

static void
test_in_pan(void **state)
{
    (void)state;
    OK(gw_valid_in_pan, "ABCPE1234F");
    OK(gw_valid_in_pan, "AAACB1234Z");
    OK(gw_valid_in_pan, "ZZZTZ9999Z");
    BAD(gw_valid_in_pan, "ABCDE1234F"); /* D is no holder type */
    BAD(gw_valid_in_pan, "ABCEE1234F");
    BAD(gw_valid_in_pan, "ABCPE0000F");
    BAD(gw_valid_in_pan, "abcpe1234f");
    BAD(gw_valid_in_pan, "ABCP31234F");
    BAD(gw_valid_in_pan, "ABCPE1234");
    BAD(gw_valid_in_pan, "ABCPE12345");
    BAD(gw_valid_in_pan, "ABCPE 1234F");
}

static void
test_sg_nric(void **state)
{
    (void)state;
    /* 1234567 . 2 7 6 5 4 3 2 = 106 */
    OK(gw_valid_sg_nric, "S1234567D"); /* 106 mod 11 = 7, JZIHGFEDCBA[7] */
    OK(gw_valid_sg_nric, "F1234567N"); /* XWUTRQPNMLK[7] */
    OK(gw_valid_sg_nric, "G1234567X"); /* 110 mod 11 = 0 */
    OK(gw_valid_sg_nric, "M1234567K"); /* 109 mod 11 = 10 */
    OK(gw_valid_sg_nric, "T0123456G"); /* 77 + 4 = 81, mod 11 = 4 */
    OK(gw_valid_sg_nric, "M1000007J"); /* r = 8: where the M table differs from F/G (M) */
    BAD(gw_valid_sg_nric, "F1000007J");
    BAD(gw_valid_sg_nric, "M1000007M");
    BAD(gw_valid_sg_nric, "S1234567A");
    BAD(gw_valid_sg_nric, "T1234567D"); /* T adds 4 */
    BAD(gw_valid_sg_nric, "A1234567D");
    BAD(gw_valid_sg_nric, "s1234567d");
    BAD(gw_valid_sg_nric, "S123456D");
    BAD(gw_valid_sg_nric, "S12345678D");
    BAD(gw_valid_sg_nric, "S 1234567D");
}

static void
test_au_abn(void **state)
{
    (void)state;
    /* 51824753556: (5-1)*10 + 1*1 + 8*3 + 2*5 + 4*7 + 7*9 + 5*11 + 3*13 + 5*15 + 5*17 + 6*19
     * = 534 = 6 * 89 */
    OK(gw_valid_au_abn, "51824753556");
    OK(gw_valid_au_abn, "51 824 753 556");
    OK(gw_valid_au_abn, "53004085616");
    OK(gw_valid_au_abn, "99100000650");
    BAD(gw_valid_au_abn, "10100000650"); /* 0 mod 89 too, but 10 is never issued */
    BAD(gw_valid_au_abn, "51824753557");
    BAD(gw_valid_au_abn, "51824735556");
    BAD(gw_valid_au_abn, "51 824 753 5560");
    BAD(gw_valid_au_abn, "518 247 535 56");
    BAD(gw_valid_au_abn, "51-824-753-556");
    BAD(gw_valid_au_abn, "5182475355");
}

static void
test_au_tfn(void **state)
{
    (void)state;
    /* 876543210 . 1 4 3 7 5 8 6 9 10 = 154 = 14 * 11; 123456782: 253 = 23 * 11 */
    OK(gw_valid_au_tfn, "876543210");
    OK(gw_valid_au_tfn, "123456782");
    OK(gw_valid_au_tfn, "123 456 782");
    OK(gw_valid_au_tfn, "123-456-782");
    /* eight digits, weights 10 7 8 4 6 3 5 1: 12345677 gives 154 */
    OK(gw_valid_au_tfn, "12345677");
    OK(gw_valid_au_tfn, "123 456 77");
    BAD(gw_valid_au_tfn, "123456781");
    BAD(gw_valid_au_tfn, "12345678"); /* 155 */
    BAD(gw_valid_au_tfn, "000000000");
    BAD(gw_valid_au_tfn, "00000000");
    BAD(gw_valid_au_tfn, "123 45 6782");
    BAD(gw_valid_au_tfn, "123 456-782");
    BAD(gw_valid_au_tfn, "1234567820");
}

static void
test_au_medicare(void **state)
{
    (void)state;
    /* 21234567 . 1 3 7 9 1 3 7 9 = 170: check 0; issue number 1, then IRN 1 */
    OK(gw_valid_au_medicare, "2123456701");
    OK(gw_valid_au_medicare, "2123 45670 1");
    OK(gw_valid_au_medicare, "21234567011");
    OK(gw_valid_au_medicare, "2123 45670 1 1");
    OK(gw_valid_au_medicare, "2987654341"); /* 224: check 4 */
    OK(gw_valid_au_medicare, "6123456741"); /* 174: check 4 */
    BAD(gw_valid_au_medicare, "2123456711");
    BAD(gw_valid_au_medicare, "1123456791"); /* right check, first digit 1 */
    BAD(gw_valid_au_medicare, "7123456751");
    BAD(gw_valid_au_medicare, "21234567010"); /* IRN 0 */
    BAD(gw_valid_au_medicare, "2123 4567 01");
    BAD(gw_valid_au_medicare, "2123 45670-1");
    BAD(gw_valid_au_medicare, "212345670");
    BAD(gw_valid_au_medicare, "212345670111");
}

static void
test_us_itin(void **state)
{
    (void)state;
    OK(gw_valid_us_itin, "912-70-1234");
    OK(gw_valid_us_itin, "912 70 1234");
    OK(gw_valid_us_itin, "912701234");
    static const char *const groups_ok[] = {"50", "65", "70", "88", "90", "92", "94", "99"};
    static const char *const groups_bad[] = {"00", "49", "66", "69", "89", "93"};
    char t[16];
    for (size_t i = 0; i < 8; i++) {
        snprintf(t, sizeof(t), "900-%s-0001", groups_ok[i]);
        OK(gw_valid_us_itin, t);
    }
    for (size_t i = 0; i < 6; i++) {
        snprintf(t, sizeof(t), "900-%s-0001", groups_bad[i]);
        BAD(gw_valid_us_itin, t);
    }
    BAD(gw_valid_us_itin, "812-70-1234");
    BAD(gw_valid_us_itin, "912-70-0000");
    BAD(gw_valid_us_itin, "912-70 1234");
    BAD(gw_valid_us_itin, "9127-0-1234");
    BAD(gw_valid_us_itin, "912-70-12345");
}

static void
test_us_aba(void **state)
{
    (void)state;
    /* 011000015: 3*(0+0+0) + 7*(1+0+1) + (1+0+5) = 20, a multiple of 10 (the Federal Reserve
     * Bank of Boston's published number) */
    OK(gw_valid_us_aba, "011000015");
    OK(gw_valid_us_aba, "021000021");
    OK(gw_valid_us_aba, "322271627");  /* 32: thrift institutions */
    OK(gw_valid_us_aba, "800000006");  /* 80: traveller's cheques; 3*8 + 6 = 30 */
    BAD(gw_valid_us_aba, "810000009"); /* right check, 81 is not a prefix */
    BAD(gw_valid_us_aba, "011000016");
    BAD(gw_valid_us_aba, "101000015");
    BAD(gw_valid_us_aba, "131000005"); /* right check, prefix 13 */
    BAD(gw_valid_us_aba, "400000008");
    BAD(gw_valid_us_aba, "000000013"); /* 00 */
    BAD(gw_valid_us_aba, "000000000");
    BAD(gw_valid_us_aba, "0110-0001-5");
    BAD(gw_valid_us_aba, "01100001");
    BAD(gw_valid_us_aba, "0110000150");
}

static void
test_kr_rrn(void **state)
{
    (void)state;
    /* 900101123456 . 2 3 4 5 6 7 8 9 2 3 4 5 = 124, 124 mod 11 = 3, (11 - 3) mod 10 = 8 */
    OK(gw_valid_kr_rrn, "900101-1234568");
    OK(gw_valid_kr_rrn, "9001011234568");
    OK(gw_valid_kr_rrn, "850315-2345678"); /* 212 mod 11 = 3: 8 */
    OK(gw_valid_kr_rrn, "000229-3123454"); /* 29 Feb 2000: 172 mod 11 = 7, 4 */
    /* a foreigner (S = 5): 133 mod 11 = 1, (13 - 1) mod 10 = 2, where a citizen's would be 0 */
    OK(gw_valid_kr_rrn, "900101-5123452");
    BAD(gw_valid_kr_rrn, "900101-5123450");
    /* born from October 2020 on: random last digits, any check digit */
    OK(gw_valid_kr_rrn, "201015-3000000");
    OK(gw_valid_kr_rrn, "201015-3000001");
    BAD(gw_valid_kr_rrn, "200929-3123450"); /* September 2020: still checked (9 is right) */
    OK(gw_valid_kr_rrn, "200929-3123459");
    BAD(gw_valid_kr_rrn, "201015-1000000"); /* S = 1: 1920, which is checked (9 is right) */
    OK(gw_valid_kr_rrn, "201015-1000009");
    BAD(gw_valid_kr_rrn, "900101-1234567");
    BAD(gw_valid_kr_rrn, "900230-1234563"); /* right check, 30 February */
    BAD(gw_valid_kr_rrn, "900101 1234568");
    BAD(gw_valid_kr_rrn, "900101--1234568");
    BAD(gw_valid_kr_rrn, "9001-011234568");
    BAD(gw_valid_kr_rrn, "900101-123456");
}

static void
test_ca_sin(void **state)
{
    (void)state;
    /* Luhn check digit of 12345678 is 2, of 94645626 is 6 */
    OK(gw_valid_ca_sin, "123456782");
    OK(gw_valid_ca_sin, "123 456 782");
    OK(gw_valid_ca_sin, "123-456-782");
    OK(gw_valid_ca_sin, "946456266");  /* 9: temporary residents */
    BAD(gw_valid_ca_sin, "846456267"); /* Luhn-valid, 8 is for businesses */
    BAD(gw_valid_ca_sin, "046454286"); /* Luhn-valid, 0 is unused */
    BAD(gw_valid_ca_sin, "123456783");
    BAD(gw_valid_ca_sin, "123 456-782");
    BAD(gw_valid_ca_sin, "1234 56 782");
    BAD(gw_valid_ca_sin, "12345678");
}

static void
test_br_cpf(void **state)
{
    (void)state;
    /* 123456789: 10*1 + 9*2 + ... + 2*9 = 210, 2100 mod 11 = 10, mod 10 = 0; then 11*1 + ... +
     * 2*0 = 255, 2550 mod 11 = 9: 09 */
    OK(gw_valid_br_cpf, "123.456.789-09");
    OK(gw_valid_br_cpf, "12345678909");
    OK(gw_valid_br_cpf, "111.444.777-35");
    OK(gw_valid_br_cpf, "529.982.247-25");
    BAD(gw_valid_br_cpf, "111.111.111-11"); /* passes both checks, placeholder */
    BAD(gw_valid_br_cpf, "000.000.000-00");
    BAD(gw_valid_br_cpf, "123.456.789-08");
    BAD(gw_valid_br_cpf, "123.456.789-19");
    BAD(gw_valid_br_cpf, "123.456.789.09");
    BAD(gw_valid_br_cpf, "123456789-09");
    BAD(gw_valid_br_cpf, "123 456 789 09");
    BAD(gw_valid_br_cpf, "1234567890");
}

static void
test_cn_resident_id(void **state)
{
    (void)state;
    /* ISO 7064 MOD 11-2: the sum over 11010519491231002 is 167, 167 mod 11 = 2, "10X98765432"[2] */
    OK(gw_valid_cn_resident_id, "11010519491231002X");
    OK(gw_valid_cn_resident_id, "11010519491231002x");
    OK(gw_valid_cn_resident_id, "440304200002291236"); /* 29 Feb 2000 */
    OK(gw_valid_cn_resident_id, "510108199912310122");
    BAD(gw_valid_cn_resident_id, "110105194912310021");
    BAD(gw_valid_cn_resident_id, "910105194912310029"); /* right check, region 9 */
    BAD(gw_valid_cn_resident_id, "110105194902301234"); /* right check, 30 February */
    BAD(gw_valid_cn_resident_id, "110105189912310023"); /* 1899 */
    OK(gw_valid_cn_resident_id, "110105209912310029");  /* 2099-12-31 */
    BAD(gw_valid_cn_resident_id, "11010519491231002");
    BAD(gw_valid_cn_resident_id, "110105 19491231002X");
    BAD(gw_valid_cn_resident_id, "110105491231002"); /* old 15-digit form */
}

static void
test_se_personnummer(void **state)
{
    (void)state;
    /* Luhn over 811228987 gives 4 */
    OK(gw_valid_se_personnummer, "811228-9874");
    OK(gw_valid_se_personnummer, "811228+9874");
    OK(gw_valid_se_personnummer, "8112289874");
    OK(gw_valid_se_personnummer, "19811228-9874");
    OK(gw_valid_se_personnummer, "198112289874");
    OK(gw_valid_se_personnummer, "811288-9871"); /* samordningsnummer: day 28 + 60 */
    BAD(gw_valid_se_personnummer, "811228-9875");
    BAD(gw_valid_se_personnummer, "811328-9873"); /* right check, month 13 */
    BAD(gw_valid_se_personnummer, "17811228-9874");
    BAD(gw_valid_se_personnummer, "811228 9874");
    BAD(gw_valid_se_personnummer, "8112-289874");
    BAD(gw_valid_se_personnummer, "-8112289874");
    BAD(gw_valid_se_personnummer, "81122898740");
}

static void
test_no_fnr(void **state)
{
    (void)state;
    /* 291298493: K1 = 11 - (3*2 + 7*9 + 6*1 + 1*2 + 8*9 + 9*8 + 4*4 + 5*9 + 2*3) mod 11 = 9,
     * K2 = 6 */
    OK(gw_valid_no_fnr, "29129849396");
    OK(gw_valid_no_fnr, "291298 49396");
    OK(gw_valid_no_fnr, "41019012393"); /* D-number: day 1 + 40 */
    OK(gw_valid_no_fnr, "01509095066"); /* H-number: month 10 + 40, 1990 (individual 950) */
    BAD(gw_valid_no_fnr, "29129849397");
    BAD(gw_valid_no_fnr, "29129849386");
    BAD(gw_valid_no_fnr, "2912984939");
    BAD(gw_valid_no_fnr, "2912 9849396");
    /* 010190123: K1 would be 10, so no number starts with it */
    for (int k = 0; k < 100; k++) {
        char t[12];
        snprintf(t, sizeof(t), "010190123%02d", k);
        BAD(gw_valid_no_fnr, t);
    }
}

static void
test_mrz_td3(void **state)
{
    (void)state;
    /* The ICAO 9303 specimen passport (Utopia), current and older edition. */
    OK(gw_valid_mrz_td3, "L898902C36UTO7408122F1204159ZE184226B<<<<<10");
    OK(gw_valid_mrz_td3, "L898902C<3UTO6908061F9406236ZE184226B<<<<<14");
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408122F1204159ZE184226B<<<<<11"); /* composite */
    BAD(gw_valid_mrz_td3, "L898902C37UTO7408122F1204159ZE184226B<<<<<10"); /* document */
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408123F1204159ZE184226B<<<<<10"); /* birth */
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408122F1204158ZE184226B<<<<<10"); /* expiry */
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408122F1204159ZE184226B<<<<<20"); /* optional */
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408122Q1204159ZE184226B<<<<<10"); /* sex */
    BAD(gw_valid_mrz_td3, "L898902C36UT17408122F1204159ZE184226B<<<<<10");
    BAD(gw_valid_mrz_td3, "l898902C36UTO7408122F1204159ZE184226B<<<<<10");
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408122F1204159ZE184226B<<<<<1");
    BAD(gw_valid_mrz_td3, "L898902C36UTO7408122F1204159ZE184226B<<<<<100");
    /* with the end of line 1 in front */
    OK(gw_valid_mrz_td3, "<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10");
    OK(gw_valid_mrz_td3, "<\r\nL898902C36UTO7408122F1204159ZE184226B<<<<<10");
    BAD(gw_valid_mrz_td3, "<\nL898902C36UTO7408122F1204159ZE184226B<<<<<11");
    BAD(gw_valid_mrz_td3, "<<\nL898902C36UTO7408122F1204159ZE184226B<<<<<10");
    BAD(gw_valid_mrz_td3, "A\nL898902C36UTO7408122F1204159ZE184226B<<<<<10");
    BAD(gw_valid_mrz_td3, "<\n\nL898902C36UTO7408122F1204159ZE184226B<<<<<1");
    BAD(gw_valid_mrz_td3, "\nL898902C36UTO7408122F1204159ZE184226B<<<<<10");
}

static void
test_tr_tckn(void **state)
{
    (void)state;
    /* 123456789: 7 * (1 + 3 + 5 + 7 + 9) - (2 + 4 + 6 + 8) = 155, d10 = 5; 1 + ... + 9 + 5 = 50,
     * d11 = 0 */
    OK(gw_valid_tr_tckn, "12345678950");
    OK(gw_valid_tr_tckn, "10000000146");
    OK(gw_valid_tr_tckn, "98765432150");
    /* 7 * 1 - 36 = -29: d10 is 1, not -9 */
    OK(gw_valid_tr_tckn, "10909090996");
    BAD(gw_valid_tr_tckn, "10909090916");
    BAD(gw_valid_tr_tckn, "12345678951"); /* d11 */
    BAD(gw_valid_tr_tckn, "12345678940"); /* d10 */
    BAD(gw_valid_tr_tckn, "12345678590"); /* swapped */
    BAD(gw_valid_tr_tckn, "02345678982"); /* right checks, leading 0 */
    BAD(gw_valid_tr_tckn, "00000000000");
    BAD(gw_valid_tr_tckn, "1234567895");
    BAD(gw_valid_tr_tckn, "123456789500");
    BAD(gw_valid_tr_tckn, "123 456 789 50");
    BAD(gw_valid_tr_tckn, "12345-678950");
}

static void
test_za_id(void **state)
{
    (void)state;
    /* 1 January 1980, citizen (0), Luhn check digit 7 */
    OK(gw_valid_za_id, "8001015009087");
    OK(gw_valid_za_id, "800101 5009 087");
    OK(gw_valid_za_id, "9602295009082");  /* 29 February 1996 */
    OK(gw_valid_za_id, "0002295000083");  /* 29 February 2000 */
    OK(gw_valid_za_id, "9912310001182");  /* C = 1, a permanent resident */
    BAD(gw_valid_za_id, "9402291234101"); /* right Luhn, 29 February 1994 */
    BAD(gw_valid_za_id, "8001015009088");
    BAD(gw_valid_za_id, "8001015009078"); /* swapped */
    BAD(gw_valid_za_id, "8013015009082"); /* right Luhn, month 13 */
    BAD(gw_valid_za_id, "8002305009084"); /* right Luhn, 30 February */
    BAD(gw_valid_za_id, "8001015009285"); /* right Luhn, C = 2 */
    BAD(gw_valid_za_id, "800101-5009-087");
    BAD(gw_valid_za_id, "800101 5009087");
    BAD(gw_valid_za_id, "80010150090870");
    BAD(gw_valid_za_id, "800101500908");
}

static void
test_th_tnin(void **state)
{
    (void)state;
    /* 110170020311: 13*1 + 12*1 + 11*0 + 10*1 + 9*7 + 8*0 + 7*0 + 6*2 + 5*0 + 4*3 + 3*1 + 2*1 =
     * 127, 127 mod 11 = 6, (11 - 6) mod 10 = 5 */
    OK(gw_valid_th_tnin, "1101700203115");
    OK(gw_valid_th_tnin, "1-1017-00203-11-5");
    OK(gw_valid_th_tnin, "1 1017 00203 11 5");
    OK(gw_valid_th_tnin, "1234567890121");
    OK(gw_valid_th_tnin, "0123456789016"); /* category 0 */
    OK(gw_valid_th_tnin, "8000000000006");
    BAD(gw_valid_th_tnin, "9999999999994"); /* right check, no category 9 */
    BAD(gw_valid_th_tnin, "1101700203116");
    BAD(gw_valid_th_tnin, "1101700203125"); /* the right check is 3 */
    BAD(gw_valid_th_tnin, "1-1017-00203-11 5");
    BAD(gw_valid_th_tnin, "1-10170-0203-11-5");
    BAD(gw_valid_th_tnin, "11-017-00203-11-5");
    BAD(gw_valid_th_tnin, "110170020311");
    BAD(gw_valid_th_tnin, "11017002031150");
}

static void
test_de_svnr(void **state)
{
    (void)state;
    /* 12 150385 M 01: M = 13, digits 1 2 1 5 0 3 8 5 1 3 0 1 times 2 1 2 5 7 1 2 1 2 1 2 1 give
     * 2 2 2 25 0 3 16 5 2 3 0 1, digit sums 2 2 2 7 0 3 7 5 2 3 0 1 = 34: check 4 */
    OK(gw_valid_de_svnr, "12150385M014");
    OK(gw_valid_de_svnr, "12 150385 M 01 4");
    OK(gw_valid_de_svnr, "12 150385 M014");
    OK(gw_valid_de_svnr, "10010490A443");
    OK(gw_valid_de_svnr, "65170839J003");
    OK(gw_valid_de_svnr, "04290200Z496"); /* 29 Feb 2000 */
    BAD(gw_valid_de_svnr, "12150385M015");
    BAD(gw_valid_de_svnr, "12150385N014");
    BAD(gw_valid_de_svnr, "12510385M014"); /* digits swapped: day 51 */
    BAD(gw_valid_de_svnr, "12300285M010"); /* right check, 30 February */
    BAD(gw_valid_de_svnr, "12151385M011"); /* right check, month 13 */
    BAD(gw_valid_de_svnr, "01150385M011"); /* right check, area 01 */
    BAD(gw_valid_de_svnr, "90150385M011"); /* right check, area 90 */
    BAD(gw_valid_de_svnr, "12150385m014");
    BAD(gw_valid_de_svnr, "121503850014");
    BAD(gw_valid_de_svnr, "1215 0385M014");
    BAD(gw_valid_de_svnr, "12  150385M014");
    BAD(gw_valid_de_svnr, "12150385M014 ");
    BAD(gw_valid_de_svnr, "12-150385-M-01-4");
    BAD(gw_valid_de_svnr, "12150385M01");
    BAD(gw_valid_de_svnr, "12150385M0144");
}

static void
test_de_id_card(void **state)
{
    (void)state;
    /* the specimen cards' numbers; T=29: 29*7 + 2*3 + 2 + 0 + 0 + 0 + 1*7 + 2*3 + 9 = 233 */
    OK(gw_valid_de_id_card, "T22000129");
    OK(gw_valid_de_id_card, "T220001293");
    OK(gw_valid_de_id_card, "L01X00T47");
    OK(gw_valid_de_id_card, "L01X00T471");
    OK(gw_valid_de_id_card, "CFGHJKLM1");
    BAD(gw_valid_de_id_card, "T220001294");
    BAD(gw_valid_de_id_card, "L01X00T472");
    BAD(gw_valid_de_id_card, "122000129"); /* a digit first */
    BAD(gw_valid_de_id_card, "A22000129"); /* A is not in the alphabet */
    BAD(gw_valid_de_id_card, "T2200O129"); /* nor O */
    BAD(gw_valid_de_id_card, "t22000129");
    BAD(gw_valid_de_id_card, "T2200012");
    BAD(gw_valid_de_id_card, "T2200012933");
    BAD(gw_valid_de_id_card, "T22000129X");
    BAD(gw_valid_de_id_card, "T 22000129");
    /* a NUL is no letter of the alphabet (strchr would find the terminator) */
    char nul[] = "T22000129";
    nul[5] = '\0';
    assert_int_equal(run_n(gw_valid_de_id_card, nul, 9), 0);
    nul[5] = '0';
    nul[0] = '\0';
    assert_int_equal(run_n(gw_valid_de_id_card, nul, 9), 0);
}

static void
test_de_vat(void **state)
{
    (void)state;
    /* MOD 11,10 over 12345678 gives 8 */
    OK(gw_valid_de_vat, "DE123456788");
    OK(gw_valid_de_vat, "DE 123456788");
    OK(gw_valid_de_vat, "DE136695984");
    OK(gw_valid_de_vat, "DE811915615");
    OK(gw_valid_de_vat, "DE 811 915 615");
    OK(gw_valid_de_vat, "DE811 915 615");
    BAD(gw_valid_de_vat, "DE 811 915 616");
    BAD(gw_valid_de_vat, "DE 811 915615");
    BAD(gw_valid_de_vat, "DE 8119 15 615");
    BAD(gw_valid_de_vat, "DE123456789"); /* the placeholder */
    BAD(gw_valid_de_vat, "DE123456878");
    BAD(gw_valid_de_vat, "DE  123456788");
    BAD(gw_valid_de_vat, "DE-123456788");
    BAD(gw_valid_de_vat, "de123456788");
    BAD(gw_valid_de_vat, "AT123456788");
    BAD(gw_valid_de_vat, "123456788");
    BAD(gw_valid_de_vat, "DE12345678");
    BAD(gw_valid_de_vat, "DE1234567888");
    BAD(gw_valid_de_vat, "DE12345678A");
}

static void
test_de_stnr(void **state)
{
    (void)state;
    OK(gw_valid_de_stnr, "21/815/08150");  /* Berlin, 2-3-5 */
    OK(gw_valid_de_stnr, "181/815/08155"); /* Bavaria, 3-3-5 */
    OK(gw_valid_de_stnr, "133/8150/8159"); /* North Rhine-Westphalia, 3-4-4 */
    OK(gw_valid_de_stnr, "93815/08152");   /* Baden-Wuerttemberg, 5-5 */
    OK(gw_valid_de_stnr, "75 815 08152");  /* Bremen */
    OK(gw_valid_de_stnr, "013 815 08153"); /* Hesse */
    OK(gw_valid_de_stnr, "2181508150");
    OK(gw_valid_de_stnr, "18181508155");
    OK(gw_valid_de_stnr, "1121081508150");  /* ELSTER, Berlin */
    OK(gw_valid_de_stnr, "9181081508155");  /* ELSTER, Bavaria */
    OK(gw_valid_de_stnr, "5133081508159");  /* ELSTER, North Rhine-Westphalia */
    BAD(gw_valid_de_stnr, "1121181508150"); /* ELSTER without the 0 */
    BAD(gw_valid_de_stnr, "1921081508150"); /* no state 19 */
    BAD(gw_valid_de_stnr, "0000000000");
    BAD(gw_valid_de_stnr, "21/815 08150");
    BAD(gw_valid_de_stnr, "21-815-08150");
    BAD(gw_valid_de_stnr, "218/15/08150");
    BAD(gw_valid_de_stnr, "93815 08152");   /* 5-5 only with '/' */
    BAD(gw_valid_de_stnr, "133 8150 8159"); /* 3-4-4 only with '/' */
    BAD(gw_valid_de_stnr, "218150815");
    BAD(gw_valid_de_stnr, "218150815012");
    BAD(gw_valid_de_stnr, "11210815081500");
}

static void
test_in_gstin(void **state)
{
    (void)state;
    /* the usual worked example: the sum over 27AAPFU0939F1Z is 221, 36 - 221 mod 36 = 31 = V */
    OK(gw_valid_in_gstin, "27AAPFU0939F1ZV");
    OK(gw_valid_in_gstin, "07AAACB1234C1ZH");
    OK(gw_valid_in_gstin, "33AAACH7409R1Z8");
    OK(gw_valid_in_gstin, "99ABCPE1234F2ZZ");
    OK(gw_valid_in_gstin, "01ABCPE1234FAZG"); /* tenth registration: A */
    BAD(gw_valid_in_gstin, "27AAPFU0939F1ZW");
    BAD(gw_valid_in_gstin, "27AAPFU0939F1Z5");
    BAD(gw_valid_in_gstin, "27APAFU0939F1ZV");
    BAD(gw_valid_in_gstin, "29ABCDE1234F1ZW"); /* right check, D is no PAN holder type */
    BAD(gw_valid_in_gstin, "00ABCPE1234F1ZR"); /* right check, state 00 */
    BAD(gw_valid_in_gstin, "39ABCPE1234F1Z6"); /* right check, state 39 */
    BAD(gw_valid_in_gstin, "27AAPFU0939F0ZW"); /* right check, registration 0 */
    BAD(gw_valid_in_gstin, "27aapfu0939f1zv");
    BAD(gw_valid_in_gstin, "27AAPFU0939F1Z");
    BAD(gw_valid_in_gstin, "27AAPFU0939F1ZVV");
    BAD(gw_valid_in_gstin, "27 AAPFU0939F 1ZV");
}

static void
test_it_vat(void **state)
{
    (void)state;
    /* Luhn over 1234567890 gives 3 */
    OK(gw_valid_it_vat, "12345678903");
    OK(gw_valid_it_vat, "00567410014");
    OK(gw_valid_it_vat, "IT12345678903");
    OK(gw_valid_it_vat, "IT 12345678903");
    BAD(gw_valid_it_vat, "12345678904");
    BAD(gw_valid_it_vat, "12345687903");
    BAD(gw_valid_it_vat, "00000000000"); /* passes Luhn */
    BAD(gw_valid_it_vat, "IT  12345678903");
    BAD(gw_valid_it_vat, "it12345678903");
    BAD(gw_valid_it_vat, "DE12345678903");
    BAD(gw_valid_it_vat, "IT");
    BAD(gw_valid_it_vat, "1234567890");
    BAD(gw_valid_it_vat, "123456789030");
    BAD(gw_valid_it_vat, "123 456 789 03");
}

static void
test_kr_brn(void **state)
{
    (void)state;
    /* 124810099 . 1 3 7 1 3 7 1 3 5 = 1 + 6 + 28 + 8 + 3 + 0 + 0 + 27 + 45 = 118, plus the tens
     * of 9 * 5 = 4: 122, check (10 - 2) mod 10 = 8 (a published company number) */
    OK(gw_valid_kr_brn, "1248100998");
    OK(gw_valid_kr_brn, "124-81-00998");
    OK(gw_valid_kr_brn, "220-81-12341");
    OK(gw_valid_kr_brn, "101-86-00006");
    BAD(gw_valid_kr_brn, "124-81-00997");
    BAD(gw_valid_kr_brn, "124-81-09098");
    BAD(gw_valid_kr_brn, "000-00-00000"); /* passes */
    BAD(gw_valid_kr_brn, "124 81 00998");
    BAD(gw_valid_kr_brn, "124-8100998");
    BAD(gw_valid_kr_brn, "1248-10-0998");
    BAD(gw_valid_kr_brn, "124810099");
    BAD(gw_valid_kr_brn, "12481009980");
}

/* ---- The table --------------------------------------------------------------------------- */

static void
test_validator_table(void **state)
{
    (void)state;
    static const char *const names[] = {
        "luhn",        "card",           "iban",           "ssn",
        "ipv4",        "ipv6",           "phone",          "jwt",
        "date",        "email",          "uk_nhs",         "uk_nino",
        "es_nif",      "it_fiscal_code", "pl_pesel",       "fi_hetu",
        "nl_bsn",      "fr_nir",         "de_tax_id",      "in_aadhaar",
        "in_pan",      "sg_nric",        "au_abn",         "au_tfn",
        "au_medicare", "us_itin",        "us_aba",         "kr_rrn",
        "ca_sin",      "br_cpf",         "cn_resident_id", "se_personnummer",
        "no_fnr",      "mrz_td3",        "tr_tckn",        "za_id",
        "th_tnin",     "de_svnr",        "de_id_card",     "de_vat",
        "de_stnr",     "in_gstin",       "it_vat",         "kr_brn"};
    size_t count = sizeof(names) / sizeof(names[0]);
    assert_int_equal(count, sizeof(validators) / sizeof(validators[0]));
    char list[1024];
    size_t need = gw_validator_names(list, sizeof(list));
    assert_true(need < sizeof(list));
    for (size_t i = 0; i < count; i++) {
        assert_non_null(gw_validator_find(names[i]));
        assert_non_null(strstr(list, names[i]));
        /* n == 0 with a NULL pointer */
        assert_int_equal(gw_validator_find(names[i])(NULL, 0), 0);
    }
    assert_ptr_equal(gw_validator_find("uk_nhs"), gw_valid_uk_nhs);
    assert_null(gw_validator_find("UK_NHS"));
    assert_null(gw_validator_find("nhs"));
    assert_null(gw_validator_find(""));
}

/* ---- All of them ------------------------------------------------------------------------- */

static void
test_large_and_binary_inputs(void **state)
{
    (void)state;
    size_t n = (size_t)1 << 20;
    char *big = malloc(n);
    assert_non_null(big);
    static const char fills[] = {'0', '1', ':', '.', ' ', 'A', '-', '\0', '\xff'};
    for (size_t f = 0; f < sizeof(fills); f++) {
        memset(big, fills[f], n);
        assert_int_equal(gw_valid_card(big, n), 0);
        assert_int_equal(gw_valid_iban(big, n), 0);
        assert_int_equal(gw_valid_ssn(big, n), 0);
        assert_int_equal(gw_valid_ipv4(big, n), 0);
        assert_int_equal(gw_valid_ipv6(big, n), 0);
        assert_int_equal(gw_valid_phone(big, n), 0);
        assert_int_equal(gw_valid_jwt(big, n), 0);
        assert_true(gw_entropy(big, n) == 0.0);
        assert_int_equal(gw_valid_luhn(big, n), fills[f] == '0');
    }
    /* A megabyte-long header that is still a JWT header. */
    size_t hn = n / 4 * 3;
    char *hdr = malloc(hn + 1);
    assert_non_null(hdr);
    memset(hdr, ' ', hn);
    memcpy(hdr + hn - 16, "{\"alg\":\"HS256\"}", 15);
    hdr[hn] = '\0';
    char *tok = malloc(n + 64);
    assert_non_null(tok);
    size_t o = b64url_encode(hdr, hn, tok);
    memcpy(tok + o, ".e30.c2ln", 10);
    assert_int_equal(gw_valid_jwt(tok, o + 9), 1);
    for (size_t i = 0; i < n; i++)
        big[i] = (char)(i * 131 + (i >> 8));
    double h = gw_entropy(big, n);
    assert_true(h > 7.9 && h <= 8.0);
    free(tok);
    free(hdr);
    free(big);

    /* Every validator in the table, on a megabyte of each fill and of a repeated valid-looking
     * piece: invalid (nothing accepts a megabyte), and quickly. */
    static const char *const pieces[] = {
        "1990-01-31 ", "jane@example.com", "9434765919", "AB 12 34 56 C", "<<<<", "0123456789"};
    char *rep = malloc(n);
    assert_non_null(rep);
    for (size_t p = 0; p < sizeof(pieces) / sizeof(pieces[0]); p++) {
        size_t len = strlen(pieces[p]);
        for (size_t i = 0; i < n; i++)
            rep[i] = pieces[p][i % len];
        for (size_t v = 0; v < sizeof(validators) / sizeof(validators[0]); v++)
            if (validators[v].fn != gw_valid_luhn)
                assert_int_equal(validators[v].fn(rep, n), 0);
    }
    for (size_t f = 0; f < sizeof(fills); f++) {
        memset(rep, fills[f], n);
        for (size_t v = 0; v < sizeof(validators) / sizeof(validators[0]); v++)
            if (validators[v].fn != gw_valid_luhn)
                assert_int_equal(validators[v].fn(rep, n), 0);
    }
    free(rep);

    /* n == 0 with a NULL pointer is fine everywhere. */
    assert_int_equal(gw_valid_luhn(NULL, 0), 0);
    assert_int_equal(gw_valid_card(NULL, 0), 0);
    assert_int_equal(gw_valid_iban(NULL, 0), 0);
    assert_int_equal(gw_valid_ssn(NULL, 0), 0);
    assert_int_equal(gw_valid_ipv4(NULL, 0), 0);
    assert_int_equal(gw_valid_ipv6(NULL, 0), 0);
    assert_int_equal(gw_valid_phone(NULL, 0), 0);
    assert_int_equal(gw_valid_jwt(NULL, 0), 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_luhn),
        cmocka_unit_test(test_card_public_numbers),
        cmocka_unit_test(test_card_ranges),
        cmocka_unit_test(test_card_invalid),
        cmocka_unit_test(test_iban_examples),
        cmocka_unit_test(test_iban_unknown_country_and_aliases),
        cmocka_unit_test(test_iban_registry),
        cmocka_unit_test(test_ssn),
        cmocka_unit_test(test_ipv4),
        cmocka_unit_test(test_ipv6),
        cmocka_unit_test(test_phone_e164),
        cmocka_unit_test(test_phone_nanp),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_jwt_valid),
        cmocka_unit_test(test_jwt_invalid),
        cmocka_unit_test(test_jwe),
        cmocka_unit_test(test_date_numeric),
        cmocka_unit_test(test_date_textual),
        cmocka_unit_test(test_email),
        cmocka_unit_test(test_uk_nhs),
        cmocka_unit_test(test_uk_nino),
        cmocka_unit_test(test_es_nif),
        cmocka_unit_test(test_it_fiscal_code),
        cmocka_unit_test(test_pl_pesel),
        cmocka_unit_test(test_fi_hetu),
        cmocka_unit_test(test_nl_bsn),
        cmocka_unit_test(test_fr_nir),
        cmocka_unit_test(test_de_tax_id),
        cmocka_unit_test(test_in_aadhaar),
        cmocka_unit_test(test_in_pan),
        cmocka_unit_test(test_sg_nric),
        cmocka_unit_test(test_au_abn),
        cmocka_unit_test(test_au_tfn),
        cmocka_unit_test(test_au_medicare),
        cmocka_unit_test(test_us_itin),
        cmocka_unit_test(test_us_aba),
        cmocka_unit_test(test_kr_rrn),
        cmocka_unit_test(test_ca_sin),
        cmocka_unit_test(test_br_cpf),
        cmocka_unit_test(test_cn_resident_id),
        cmocka_unit_test(test_se_personnummer),
        cmocka_unit_test(test_no_fnr),
        cmocka_unit_test(test_mrz_td3),
        cmocka_unit_test(test_tr_tckn),
        cmocka_unit_test(test_za_id),
        cmocka_unit_test(test_th_tnin),
        cmocka_unit_test(test_de_svnr),
        cmocka_unit_test(test_de_id_card),
        cmocka_unit_test(test_de_vat),
        cmocka_unit_test(test_de_stnr),
        cmocka_unit_test(test_in_gstin),
        cmocka_unit_test(test_it_vat),
        cmocka_unit_test(test_kr_brn),
        cmocka_unit_test(test_validator_table),
        cmocka_unit_test(test_large_and_binary_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
