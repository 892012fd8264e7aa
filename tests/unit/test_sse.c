/* Unit tests for gateway/sse.c: event boundaries in any split of the byte stream. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "gateway/sse.h"

/* Feeds s in pieces of step bytes and records, as absolute offsets, every boundary reported. */
static size_t
ends(const char *s, size_t step, size_t *out, size_t max)
{
    struct gw_sse sse;
    gw_sse_init(&sse);
    size_t n = strlen(s), k = 0;
    for (size_t off = 0; off < n; off += step) {
        size_t len = n - off < step ? n - off : step;
        size_t e = gw_sse_scan(&sse, s + off, len);
        if (e && k < max)
            out[k++] = off + e;
    }
    return k;
}

static void
test_lf_events(void **state)
{
    (void)state;
    const char *s = "data: a\n\ndata: b\ndata: c\n\n: comment\n\ndata: partial";
    size_t out[16];
    /* byte by byte every boundary is seen */
    assert_int_equal(ends(s, 1, out, 16), 3);
    assert_int_equal(out[0], 9);
    assert_int_equal(out[1], 26);
    assert_int_equal(out[2], 37);
    /* whole: the last boundary only; the partial event stays out */
    assert_int_equal(ends(s, 1000, out, 16), 1);
    assert_int_equal(out[0], 37);
}

static void
test_crlf_and_cr(void **state)
{
    (void)state;
    size_t out[16];
    const char *crlf = "data: a\r\n\r\ndata: b\r\n\r\n";
    /* Byte by byte, the blank line's CR ends the event and its LF, when it arrives alone, is
     * reported as well (it belongs to the event just ended). */
    assert_int_equal(ends(crlf, 1, out, 16), 4);
    assert_int_equal(out[0], 10);
    assert_int_equal(out[1], 11);
    assert_int_equal(out[2], 21);
    assert_int_equal(out[3], 22);
    assert_int_equal(ends(crlf, 11, out, 16), 2);
    assert_int_equal(out[0], 11);
    assert_int_equal(out[1], 22);
    /* the CR of a normal line end split from its LF is not a boundary */
    const char *split = "data: a\r\ndata: b\r\n\r\n";
    assert_int_equal(ends(split, 8, out, 16), 1);
    assert_int_equal(out[0], 20);
    const char *cr = "data: a\r\rdata: b\r\r";
    assert_int_equal(ends(cr, 1, out, 16), 2);
    assert_int_equal(out[0], 9);
    assert_int_equal(out[1], 18);
}

static void
test_anthropic_style(void **state)
{
    (void)state;
    const char *s = "event: message_start\ndata: {\"type\":\"message_start\"}\n\n"
                    "event: ping\ndata: {}\n\n";
    size_t out[16];
    for (size_t step = 1; step < 60; step++) {
        size_t k = ends(s, step, out, 16);
        assert_true(k >= 1);
        assert_int_equal(out[k - 1], strlen(s));
    }
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lf_events),
        cmocka_unit_test(test_crlf_and_cr),
        cmocka_unit_test(test_anthropic_style),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
