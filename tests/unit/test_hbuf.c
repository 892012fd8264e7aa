/* Unit tests for gateway/hbuf.c: what is appended arrives in the evbuffer in order and whole,
 * whether it fits the stack buffer, fills it exactly, spills over or is larger than it; numbers
 * are written in full at their edges. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "gateway/hbuf.h"

/* The evbuffer's bytes as a NUL-terminated string (caller frees). */
static char *
contents(struct evbuffer *b)
{
    size_t n = evbuffer_get_length(b);
    char *s = malloc(n + 1);
    assert_non_null(s);
    evbuffer_copyout(b, s, n);
    s[n] = '\0';
    return s;
}

static void
test_pieces_in_order(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    evbuffer_add(b, "before|", 7); /* what the buffer held stays first */
    struct gw_hbuf h;
    gw_hbuf_init(&h, b);
    GW_HBUF_LIT(&h, "HTTP/1.1 ");
    gw_hbuf_u64(&h, 200);
    GW_HBUF_LIT(&h, " ");
    gw_hbuf_str(&h, "OK");
    gw_hbuf_mem(&h, "\r\nX: yz", 6);                  /* a prefix of the bytes only */
    gw_hbuf_field(&h, "\r\nHost-", 6, "gw.test!", 7); /* name and value by length */
    assert_int_equal(evbuffer_get_length(b), 7);      /* nothing reaches it before the flush */
    gw_hbuf_flush(&h);
    gw_hbuf_flush(&h); /* an empty flush adds nothing */
    char *s = contents(b);
    assert_string_equal(s, "before|HTTP/1.1 200 OK\r\nX: y\r\nHost: gw.test\r\n");
    free(s);
    evbuffer_free(b);
}

static void
test_numbers(void **state)
{
    (void)state;
    struct evbuffer *b = evbuffer_new();
    struct gw_hbuf h;
    gw_hbuf_init(&h, b);
    const uint64_t v[] = {0, 1, 9, 10, 15, 16, 255, 256, 4096, 1234567890, UINT64_MAX};
    char want[1024];
    size_t o = 0;
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        gw_hbuf_u64(&h, v[i]);
        GW_HBUF_LIT(&h, " ");
        gw_hbuf_hex(&h, v[i]);
        GW_HBUF_LIT(&h, ";");
        o += (size_t)snprintf(want + o, sizeof(want) - o, "%llu %llx;", (unsigned long long)v[i],
                              (unsigned long long)v[i]);
    }
    gw_hbuf_flush(&h);
    char *s = contents(b);
    assert_string_equal(s, want);
    free(s);
    evbuffer_free(b);
}

/* Pieces of every size around the buffer's capacity, after every fill level: the evbuffer ends
 * up with exactly the concatenation. */
static void
test_spill(void **state)
{
    (void)state;
    const size_t sizes[] = {
        0, 1, 7, GW_HBUF_CAP - 1, GW_HBUF_CAP, GW_HBUF_CAP + 1, 3 * GW_HBUF_CAP + 5};
    const size_t nsizes = sizeof(sizes) / sizeof(sizes[0]);
    char *piece = malloc(4 * GW_HBUF_CAP);
    char *want = malloc(8 * GW_HBUF_CAP);
    assert_non_null(piece);
    assert_non_null(want);
    for (size_t i = 0; i < 4 * GW_HBUF_CAP; i++)
        piece[i] = (char)('a' + i % 26);
    for (size_t first = 0; first < nsizes; first++)
        for (size_t second = 0; second < nsizes; second++) {
            struct evbuffer *b = evbuffer_new();
            struct gw_hbuf h;
            gw_hbuf_init(&h, b);
            size_t n1 = sizes[first], n2 = sizes[second];
            gw_hbuf_mem(&h, piece, n1);
            gw_hbuf_mem(&h, piece + 1, n2);
            GW_HBUF_LIT(&h, "!");
            gw_hbuf_flush(&h);
            memcpy(want, piece, n1);
            memcpy(want + n1, piece + 1, n2);
            want[n1 + n2] = '!';
            assert_int_equal(evbuffer_get_length(b), n1 + n2 + 1);
            char *s = contents(b);
            assert_memory_equal(s, want, n1 + n2 + 1);
            free(s);
            evbuffer_free(b);
        }
    free(piece);
    free(want);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pieces_in_order),
        cmocka_unit_test(test_numbers),
        cmocka_unit_test(test_spill),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
