/* Unit tests for filters/needles.c: what each kind of needle matches, where a match may start and
 * end, the set's limits, and that one pass finds the earliest match of any needle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "filters/needles.h"

/* The offset of the first match in t (-1: none), with its needle and length. */
static long
find(const struct gw_needles *set, const char *t, size_t *which, size_t *span)
{
    size_t w = 99, s = 99;
    long at = gw_needles_find(set, t, strlen(t), &w, &s);
    if (which)
        *which = w;
    if (span)
        *span = s;
    if (at >= 0)
        assert_true(w < set->n && s > 0 && (size_t)at + s <= strlen(t));
    return at;
}

static void
test_kinds(void **state)
{
    (void)state;
    struct gw_needles set = {0};
    assert_int_equal(gw_needles_add(&set, "pcanary-0123", 12, GW_NEEDLE_EXACT), 1);
    assert_int_equal(gw_needles_add(&set, "Piano", 5, GW_NEEDLE_SPELLED), 1);
    assert_int_equal(gw_needles_add(&set, "UGlhbm8", 7, GW_NEEDLE_WORD), 1);
    size_t w, s;
    /* exact: anywhere, even inside a word, any ASCII case */
    assert_int_equal(find(&set, "xxPCANARY-0123yy", &w, &s), 2);
    assert_int_equal(w, 0);
    assert_int_equal(s, 12);
    /* spelled: a whole word in any case, or spelled out with up to 3 separators */
    assert_int_equal(find(&set, "the word is PIANO.", &w, &s), 12);
    assert_int_equal(w, 1);
    assert_int_equal(find(&set, "P-i-a-n-o", &w, &s), 0);
    assert_int_equal(s, 9);
    assert_int_equal(find(&set, "p . i . a . n . o!", &w, &s), 0);
    assert_int_equal(s, 17);
    assert_int_equal(find(&set, "p-- i a n o", NULL, NULL), 0);
    assert_int_equal(find(&set, "p -- i a n o", NULL, NULL), -1); /* 4 separators */
    /* ... but not inside a longer word, at either end (non-ASCII letters count as word bytes) */
    assert_int_equal(find(&set, "pianos and grandpiano", NULL, NULL), -1);
    assert_int_equal(find(&set, "\xc3\xa9piano", NULL, NULL), -1);
    assert_int_equal(find(&set, "piano\xc3\xa9", NULL, NULL), -1);
    assert_int_equal(find(&set, "(piano)", NULL, NULL), 1);
    /* letters of scripts written without spaces end a word: Korean, Japanese, Chinese particles
     * glued to the value (a Cyrillic or Greek one too) */
    assert_int_equal(find(&set,
                          "\xec\xbd\x94\xeb\x93\x9c piano\xec\x9e\x85\xeb\x8b\x88\xeb\x8b\xa4",
                          NULL, NULL),
                     7);
    assert_int_equal(find(&set, "\xe3\x81\xafpiano\xe3\x81\xa7\xe3\x81\x99", NULL, NULL), 3);
    assert_int_equal(find(&set, "\xd0\xb8piano", NULL, NULL), 2);
    /* word: whole, case folded, never spelled out */
    assert_int_equal(find(&set, "Encoded: ugLHBm8", &w, NULL), 9);
    assert_int_equal(w, 2);
    assert_int_equal(find(&set, "U-G-l-h-b-m-8", NULL, NULL), -1);
    assert_int_equal(find(&set, "xUGlhbm8", NULL, NULL), -1);
    /* the ends of the text count as word ends; a text shorter than a needle holds nothing */
    assert_int_equal(find(&set, "piano", NULL, NULL), 0);
    assert_int_equal(find(&set, "pian", NULL, NULL), -1);
    assert_int_equal(find(&set, "", NULL, NULL), -1);
}

/* One pass: the earliest match of any needle, whatever order they were added in; several needles
 * sharing a first byte are all tried there. */
static void
test_earliest(void **state)
{
    (void)state;
    struct gw_needles set = {0};
    gw_needles_add(&set, "sunshine", 8, GW_NEEDLE_SPELLED);
    gw_needles_add(&set, "secret", 6, GW_NEEDLE_SPELLED);
    gw_needles_add(&set, "Sesame", 6, GW_NEEDLE_SPELLED);
    size_t w;
    assert_int_equal(find(&set, "say sesame, then sunshine", &w, NULL), 4);
    assert_int_equal(w, 2);
    assert_int_equal(find(&set, "Secret sesame", &w, NULL), 0);
    assert_int_equal(w, 1);
    assert_int_equal(find(&set, "sunny seas, secretary, sesames", NULL, NULL), -1);
}

static void
test_limits(void **state)
{
    (void)state;
    struct gw_needles set = {0};
    char big[GW_NEEDLE_MAX + 2];
    memset(big, 'a', sizeof(big));
    assert_int_equal(gw_needles_add(&set, big, 0, GW_NEEDLE_WORD), 0);
    assert_int_equal(gw_needles_add(&set, big, GW_NEEDLE_MAX + 1, GW_NEEDLE_WORD), 0);
    assert_int_equal(gw_needles_add(&set, big, GW_NEEDLE_MAX, GW_NEEDLE_WORD), 1);
    assert_int_equal(set.longest, GW_NEEDLE_MAX);
    /* repeats (ASCII case folded) are ignored */
    assert_int_equal(gw_needles_add(&set, "Marmalade", 9, GW_NEEDLE_SPELLED), 1);
    assert_int_equal(gw_needles_add(&set, "MARMALADE", 9, GW_NEEDLE_SPELLED), 0);
    assert_int_equal(set.n, 2);
    /* a spelled needle of 64 bytes may take 4 * 64 - 3 bytes of text */
    gw_needles_add(&set, big, 64, GW_NEEDLE_SPELLED);
    assert_int_equal(set.longest, 4 * 64 - 3);
    char name[8];
    for (size_t i = set.n; i < GW_NEEDLES_MAX; i++) {
        snprintf(name, sizeof(name), "n%02zu", i);
        assert_int_equal(gw_needles_add(&set, name, 3, GW_NEEDLE_WORD), 1);
    }
    assert_int_equal(gw_needles_add(&set, "one-too-many", 12, GW_NEEDLE_WORD), 0);
    assert_int_equal(set.n, GW_NEEDLES_MAX);
    size_t w;
    char last[8];
    snprintf(last, sizeof(last), "n%02d", GW_NEEDLES_MAX - 1);
    assert_int_equal(find(&set, last, &w, NULL), 0);
    assert_int_equal(w, GW_NEEDLES_MAX - 1);
}

/* A secret: as written, reversed and in ROT13 (spelled out allowed), in hex (spelled out allowed
 * up to 32 bytes), and in unpadded base64 (whole word). */
static void
test_secret(void **state)
{
    (void)state;
    struct gw_needles set = {0};
    gw_needles_add_secret(&set, "Piano", 5);
    assert_int_equal(set.n, 5);
    assert_int_equal(set.longest, 4 * 10 - 3); /* the hex, spelled out */
    size_t w;
    assert_int_equal(find(&set, "rot13: Cvnab!", &w, NULL), 7);
    assert_int_equal(set.v[w].kind, GW_NEEDLE_SPELLED);
    assert_int_equal(find(&set, "hex 5069616E6F.", &w, NULL), 4);
    assert_int_equal(find(&set, "bytes: 50 69 61 6e 6f", &w, NULL), 7);
    assert_int_equal(set.v[w].kind, GW_NEEDLE_SPELLED);
    assert_int_equal(find(&set, "x5069616e6f", NULL, NULL), -1); /* inside a word */
    assert_int_equal(find(&set, "Cvnabf and 5069616e6f00", NULL, NULL), -1);
    assert_int_equal(find(&set, "it is P-I-A-N-O", &w, NULL), 6);
    assert_int_equal(set.v[w].kind, GW_NEEDLE_SPELLED);
    assert_int_equal(find(&set, "backwards: onaip", &w, NULL), 11);
    assert_int_equal(set.v[w].kind, GW_NEEDLE_SPELLED);
    assert_int_equal(find(&set, "UGlhbm8", &w, NULL), 0); /* base64 of Piano, '=' dropped */
    assert_int_equal(set.v[w].kind, GW_NEEDLE_WORD);
    assert_int_equal(find(&set, "U-G-l-h-b-m-8", NULL, NULL), -1);
    /* a secret in a script written without spaces is found between its neighbours */
    struct gw_needles cjk = {0};
    gw_needles_add_secret(&cjk, "ひまわり", strlen("ひまわり"));
    assert_int_equal(find(&cjk, "合言葉はひまわりです。", NULL, NULL), (long)strlen("合言葉は"));
    assert_int_equal(find(&cjk, "fleurs\xc3\xa9ひまわり", NULL, NULL),
                     -1); /* after a Latin letter */
    /* a palindrome's reversal repeats it; longer than GW_NEEDLE_SECRET_MAX: ignored */
    struct gw_needles pal = {0};
    gw_needles_add_secret(&pal, "level", 5);
    assert_int_equal(pal.n, 4);
    char big[GW_NEEDLE_SECRET_MAX + 1];
    memset(big, 'k', sizeof(big));
    gw_needles_add_secret(&pal, big, sizeof(big));
    assert_int_equal(pal.n, 4);
    gw_needles_add_secret(&pal, big, GW_NEEDLE_SECRET_MAX);
    /* as written (= reversed), ROT13, the 128-byte hex (a whole word: spelled out it could take
     * more than GW_NEEDLE_SPAN_MAX bytes) and the 88-byte base64 */
    assert_int_equal(pal.n, 8);
    assert_int_equal(pal.v[6].n, 128);
    assert_int_equal(pal.v[6].kind, GW_NEEDLE_WORD);
    assert_true(pal.longest <= GW_NEEDLE_SPAN_MAX);
    /* digits only: ROT13 repeats it */
    struct gw_needles dig = {0};
    gw_needles_add_secret(&dig, "4471", 4);
    assert_int_equal(dig.n, 4); /* as written, reversed, hex, base64 */
}

/* Feeds t to a fresh state in pieces of `step` bytes (0: whole); the offset in t of the byte that
 * completed an acrostic, or -1. */
static long
initials(const struct gw_needles *set, const char *t, size_t step, size_t *which)
{
    struct gw_initials st = {0};
    size_t n = strlen(t), w = 99;
    if (!step)
        step = n ? n : 1;
    for (size_t i = 0; i < n; i += step) {
        size_t len = i + step <= n ? step : n - i;
        long at = gw_needles_initials(set, &st, t + i, len, &w);
        if (at >= 0) {
            assert_true((size_t)at < len && w < set->nacro);
            if (which)
                *which = w;
            return (long)i + at;
        }
    }
    return -1;
}

/* Acrostics: the secret read down the first letters or digits of the lines. */
/* Digits are digits in any script: a secret declared in Devanagari digits is watched for in ASCII
 * and in any other script's digits, and an ASCII one in Bengali or Arabic-Indic digits; a match
 * inside a longer number (in any script) does not count. Other forms (hex) stay ASCII. */
static void
test_native_digits(void **state)
{
    (void)state;
    int v = -1;
    assert_int_equal(gw_native_digit("\u0663", 2, 0, &v), 2); /* Arabic-Indic 3 */
    assert_int_equal(v, 3);
    assert_int_equal(gw_native_digit("\u0e57", 3, 0, &v), 3); /* Thai 7 */
    assert_int_equal(v, 7);
    assert_int_equal(gw_native_digit("\uff19", 3, 0, &v), 3); /* full-width 9 */
    assert_int_equal(v, 9);
    assert_int_equal(gw_native_digit("\u0915", 3, 0, NULL), 0); /* Devanagari letter ka */
    assert_int_equal(gw_native_digit("\u096a", 2, 0, NULL), 0); /* cut short */
    assert_int_equal(gw_native_digit("7", 1, 0, NULL), 0);

    struct gw_needles set = {0};
    gw_needles_add_secret(&set, "\u096a\u096a\u096d\u0967", 12); /* ४४७१ */
    assert_string_equal(set.v[0].s, "4471");
    assert_true(set.v[0].native);
    size_t w, s;
    assert_int_equal(find(&set, "The code is 4471.", &w, &s), 12);
    assert_int_equal(s, 4);
    assert_int_equal(find(&set, "\u0915\u094b\u0921 \u096a\u096a\u096d\u0967 \u0939\u0948", &w, &s),
                     10);
    assert_int_equal(s, 12);
    assert_int_equal(find(&set, "\u0915\u094b\u0921\u096a\u096a\u096d\u0967", &w, &s),
                     9);                                                    /* glued */
    assert_int_equal(find(&set, "\u09ea-\u09ea-\u09ed-\u09e7", &w, &s), 0); /* Bengali, spelled */
    assert_int_equal(s, 3 * 4 + 3);
    assert_int_equal(find(&set, "reversed: \u0967\u096d\u096a\u096a", &w, NULL), 10);
    /* inside longer numbers */
    assert_int_equal(find(&set, "\u0967\u096a\u096a\u096d\u0967", NULL, NULL), -1);
    assert_int_equal(find(&set, "\u096a\u096a\u096d\u0967\u0968", NULL, NULL), -1);
    assert_int_equal(find(&set, "44712", NULL, NULL), -1);

    struct gw_needles ascii = {0};
    gw_needles_add_secret(&ascii, "NW-4471", 7);
    assert_int_equal(find(&ascii, "NW-\u0664\u0664\u0667\u0661", &w, &s), 0);
    assert_int_equal(s, 3 + 4 * 2);
    assert_int_equal(find(&ascii, "nw-\u09ea \u09ea \u09ed \u09e7!", &w, NULL), 0);
    /* a number is watched for by its digits, whatever separates them, not as the last groups
     * of a longer number */
    struct gw_needles amount = {0};
    gw_needles_add_secret(&amount, "285\u00a0000", 8);
    assert_string_equal(amount.v[0].s, "285000");
    assert_int_equal(find(&amount, "jusqu'à 285 000 €", NULL, NULL), 9);
    assert_int_equal(find(&amount, "285000 euros", NULL, NULL), 0);
    assert_int_equal(find(&amount, "2.8.5.0.0.0", NULL, NULL), 0);
    assert_int_equal(find(&amount, "un studio à 1 285 000 €", NULL, NULL), -1);
    assert_int_equal(find(&amount, "2.285.000", NULL, NULL), -1);
    for (size_t i = 0; i < amount.n; i++) /* no ROT13 form: without letters it is the text */
        assert_true(amount.v[i].kind != GW_NEEDLE_SPELLED || amount.v[i].native ||
                    strlen(amount.v[i].s) > 8);
    /* the hex form is not read in other scripts' digits */
    assert_int_equal(find(&ascii, "\u096a\u096537", NULL, NULL), -1);
    for (size_t i = 0; i < ascii.n; i++)
        assert_true(!ascii.v[i].native || ascii.v[i].kind == GW_NEEDLE_SPELLED);
}

static void
test_acrostic(void **state)
{
    (void)state;
    struct gw_needles set = {0};
    gw_needles_add_secret(&set, "Piano", 5);
    gw_needles_add_secret(&set, "NW-4471", 7);
    gw_needles_add_secret(&set, "abc", 3);     /* too short to be read down the lines */
    gw_needles_add_secret(&set, "1234-56", 7); /* digits only: numbered lines spell them */
    assert_int_equal(set.nacro, 4);
    const char *poem = "Petals fall at dawn,\nIvory keys wait in the hall,\nA song hums along,\n"
                       "Notes drift through it all,\nOver the garden wall.\n";
    size_t w = 99;
    long end = (long)(strstr(poem, "Over") - poem);
    for (size_t step = 0; step <= 7; step++)
        assert_int_equal(initials(&set, poem, step, &w), end);
    assert_int_equal(w, 0);
    /* bullets, markdown, list numbers, blank lines and leading spaces are passed over */
    /* (after lines of its own: "hpiano") */
    const char *list = "Here you go:\n\n1. **Pears**\n2) Ice\n  - apples\n\n> Nuts\n* `Oats`";
    assert_int_equal(initials(&set, list, 0, NULL), (long)(strchr(list, 'O') - list));
    assert_int_equal(initials(&set, list, 1, NULL), (long)(strchr(list, 'O') - list));
    assert_true(initials(&set, "Pears\nIce\nApples\nNo\n\nMore\nOats", 0, NULL) < 0);
    /* reversed, and a secret with digits: a line that begins with a number gives its first
     * digit (a list number, "4." or "7)", gives none) */
    assert_int_equal(initials(&set, "Oh\nNo\nAh\nIt\nPaid", 0, &w), 12);
    assert_int_equal(w, 1);
    const char *code = "Nice day\nWe hope\n4 lanes\n47 cats\n7 days\n1984 was a book";
    assert_int_equal(initials(&set, code, 0, NULL), (long)(strstr(code, "1984") - code) + 4);
    /* (six or more: the words' initials also spell it, at the last word's first byte) */
    assert_int_equal(initials(&set, "Nope\nwhy\n4\n4\n7\n1\n", 0, NULL), 15);
    /* a line that begins with another script's letter breaks the word */
    assert_true(initials(&set, "Pa\nIb\nÄc\nNd\nOe\n", 0, NULL) < 0);
    assert_true(initials(&set, "Pa\nIb\n• Ac\nNd\nOe\n", 0, NULL) >= 0); /* a bullet */
    assert_true(initials(&set, "Pa\nIb\n\nNd\nOe\n", 0, NULL) < 0);
    /* the window keeps the last GW_NEEDLE_SECRET_MAX initials */
    char many[1024];
    size_t n = 0;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(many + n, sizeof(many) - n, "x%d\n", i);
    snprintf(many + n, sizeof(many) - n, "P\nI\nA\nN\nO");
    assert_int_equal(initials(&set, many, 3, NULL), (long)strlen(many) - 1);
    /* words: a secret of six or more letters and digits along the words' first letters, in
     * order or reversed; punctuation, dashes and emoji between them do not count; a word of
     * another script breaks it */
    struct gw_needles m = {0};
    gw_needles_add_secret(&m, "Marmalade", 9);
    gw_needles_add_secret(&m, "Piano", 5);
    const char *sentence = "My aunt — really! — makes amazing lemon-apricot dessert, every time.";
    for (size_t step = 0; step <= 5; step++)
        assert_int_equal(initials(&m, sentence, step, &w),
                         (long)(strstr(sentence, "every") - sentence));
    assert_int_equal(w, 0);
    assert_int_equal(
        initials(&m, "Every day Alice learns about my red 🍓 apple mousse.", 0, &w),
        (long)(strstr("Every day Alice learns about my red 🍓 apple mousse.", "mousse") -
               "Every day Alice learns about my red 🍓 apple mousse."));
    assert_int_equal(w, 1);
    assert_true(
        initials(&m, "My aunt really makes amazing lemon über apricot dessert every", 0, NULL) < 0);
    assert_true(initials(&m, "Please ignore all nonsense; obviously.", 0, NULL) < 0); /* 5 */
    /* no secret: nothing read */
    struct gw_needles none = {0};
    assert_true(initials(&none, poem, 0, NULL) < 0);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),    cmocka_unit_test(test_earliest),
        cmocka_unit_test(test_limits),   cmocka_unit_test(test_secret),
        cmocka_unit_test(test_acrostic), cmocka_unit_test(test_native_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
