/* Unit tests for filters/validate.c: published test numbers pass, one changed character fails,
 * every boundary of every range is tried from both sides, the IBAN registry table matches the
 * registry, IP parsing agrees with inet_pton, and no validator reads past n (every case is run
 * from a heap copy of exactly n bytes, so the sanitizer build catches an over-read). */
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
    snprintf(out, size, "%s00%s", cc, bban);
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
    unsigned char sig[64];
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
    snprintf(u, sizeof(u), "%s=", t); /* padding */
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
        cmocka_unit_test(test_large_and_binary_inputs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
