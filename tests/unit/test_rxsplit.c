/* Unit tests for filters/rxsplit.c: which patterns are cut, where, with which gaps, and which are
 * left whole. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "filters/rxsplit.h"

/* The pieces of pat as "text{lo,hi}" (first pieces of a branch as "|text"), joined by spaces;
 * "" when the pattern is not split. */
static const char *
pieces(const char *pat)
{
    static char out[512];
    struct gw_rx_piece p[8];
    size_t n = gw_rx_split(pat, strlen(pat), p, 8), o = 0;
    out[0] = '\0';
    for (size_t i = 0; i < n; i++) {
        assert_true(p[i].len > 0 && p[i].off + p[i].len <= strlen(pat));
        if (p[i].first)
            o += (size_t)snprintf(out + o, sizeof(out) - o, "%s|%.*s", i ? " " : "", (int)p[i].len,
                                  pat + p[i].off);
        else
            o += (size_t)snprintf(out + o, sizeof(out) - o, " %.*s{%u,%u}", (int)p[i].len,
                                  pat + p[i].off, p[i].gap_min, p[i].gap_max);
    }
    return out;
}

static void
test_cut(void **state)
{
    (void)state;
    assert_string_equal(pieces("\\b(a|b)\\b.{0,60}\\b(c|d)"), "|\\b(a|b)\\b \\b(c|d){0,60}");
    /* whole-pattern and whole-branch parentheses are dropped; repeated pieces are the caller's */
    assert_string_equal(pieces("((x|y).{0,5}z|z.{2,9}?(x|y))"), "|(x|y) z{0,5} |z (x|y){2,9}");
    assert_string_equal(pieces("(?:a.{3}b)|c"), "|a b{3,3} |c");
    /* chains of three; a branch without a gap is one piece */
    assert_string_equal(pieces("a.{0,4}b.{1,2}c|de"), "|a b{0,4} c{1,2} |de");
    /* a nested alternation that is all of a branch is read as branches */
    assert_string_equal(pieces("x|(y.{0,1}z|w)"), "|x |y z{0,1} |w");
    /* escapes, classes and groups hide their contents */
    assert_string_equal(pieces("[.|(]a.{0,2}\\|b"), "|[.|(]a \\|b{0,2}");
    assert_string_equal(pieces("[]x]a.{0,2}b"), "|[]x]a b{0,2}");
    assert_string_equal(pieces("[[:alpha:]]a.{0,2}\\x{41}"), "|[[:alpha:]]a \\x{41}{0,2}");
}

static void
test_whole(void **state)
{
    (void)state;
    const char *whole[] = {
        "abc",            /* one piece */
        "(abc)",          /* still one */
        "a(b.{0,3}c)d",   /* the gap is inside a group */
        "a\\.{0,3}b",     /* an escaped dot is no gap */
        "a.{0,3}",        /* an empty piece after the gap */
        ".{0,3}a",        /* and before it */
        "a.{0,3}*b",      /* a quantified gap */
        "a.{0,3}+b",      /* possessive */
        "a.{3,}b",        /* unbounded */
        "a.{5,3}b",       /* bounds reversed */
        "a.{0,70000}b",   /* beyond Hyperscan's bound */
        "a.*b",           /* unbounded */
        "a||b",           /* an empty branch */
        "(?i)a.{0,3}b",   /* an inline option */
        "a.{0,3}(?s:b)",  /* a group with options */
        "\\Qa.{0,3}\\Eb", /* quoting */
        "a.{0,3}(b",      /* unbalanced */
        "a.{0,3}b)",      /* unbalanced */
        "[a.{0,3}b",      /* an unterminated class */
        "a.{0,3}b\\",     /* a trailing backslash */
        "a.{0,3}\\x{41",  /* an unterminated escape */
        "a.{0,1}b.{0,1}c.{0,1}d.{0,1}e.{0,1}f.{0,1}g.{0,1}h.{0,1}i", /* more than 8 pieces */
    };
    for (size_t i = 0; i < sizeof(whole) / sizeof(whole[0]); i++) {
        struct gw_rx_piece p[8];
        if (gw_rx_split(whole[i], strlen(whole[i]), p, 8) != 0)
            fail_msg("'%s' was split", whole[i]);
    }
}

/* Deep nesting stays whole below the depth limit instead of recursing on. */
static void
test_deep(void **state)
{
    (void)state;
    char pat[4096];
    size_t o = 0;
    for (int i = 0; i < 40; i++)
        o += (size_t)snprintf(pat + o, sizeof(pat) - o, "a|(");
    o += (size_t)snprintf(pat + o, sizeof(pat) - o, "b.{0,2}c");
    for (int i = 0; i < 40; i++)
        pat[o++] = ')';
    pat[o] = '\0';
    struct gw_rx_piece p[64];
    size_t n = gw_rx_split(pat, o, p, 64);
    assert_true(n > 2);
    for (size_t i = 0; i < n; i++)
        assert_true(p[i].first && p[i].off + p[i].len <= o); /* the chain is inside a whole one */
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut),
        cmocka_unit_test(test_whole),
        cmocka_unit_test(test_deep),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
