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

/* A secret: as written and reversed (spelled out allowed), and in unpadded base64 (whole word). */
static void
test_secret(void **state)
{
    (void)state;
    struct gw_needles set = {0};
    gw_needles_add_secret(&set, "Piano", 5);
    assert_int_equal(set.n, 3);
    assert_int_equal(set.longest, 4 * 5 - 3);
    size_t w;
    assert_int_equal(find(&set, "it is P-I-A-N-O", &w, NULL), 6);
    assert_int_equal(set.v[w].kind, GW_NEEDLE_SPELLED);
    assert_int_equal(find(&set, "backwards: onaip", &w, NULL), 11);
    assert_int_equal(set.v[w].kind, GW_NEEDLE_SPELLED);
    assert_int_equal(find(&set, "UGlhbm8", &w, NULL), 0); /* base64 of Piano, '=' dropped */
    assert_int_equal(set.v[w].kind, GW_NEEDLE_WORD);
    assert_int_equal(find(&set, "U-G-l-h-b-m-8", NULL, NULL), -1);
    /* a palindrome's reversal repeats it; longer than GW_NEEDLE_SECRET_MAX: ignored */
    struct gw_needles pal = {0};
    gw_needles_add_secret(&pal, "level", 5);
    assert_int_equal(pal.n, 2);
    char big[GW_NEEDLE_SECRET_MAX + 1];
    memset(big, 'k', sizeof(big));
    gw_needles_add_secret(&pal, big, sizeof(big));
    assert_int_equal(pal.n, 2);
    gw_needles_add_secret(&pal, big, GW_NEEDLE_SECRET_MAX);
    assert_int_equal(pal.n, 4); /* as written (= reversed) and its 88-byte base64 */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kinds),
        cmocka_unit_test(test_earliest),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_secret),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
