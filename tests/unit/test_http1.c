/* Unit tests for gateway/http1.c: request parsing, limits and request-smuggling defences. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <event2/buffer.h>

#include "gateway/http1.h"

static const struct gw_h1_limits lim = {1024, 10, 100};

/* Feeds a whole request (in one piece or byte by byte) the way conn.c does; returns the final
 * status and leaves the parser in p. */
static enum gw_h1_status
parse(struct gw_h1_parser *p, const char *req, size_t step)
{
    gw_h1_init(p, &lim);
    size_t len = strlen(req), off = 0;
    enum gw_h1_status st = GW_H1_MORE;
    int zero = 0;
    while (off < len || zero) {
        size_t n = zero ? 0 : (len - off < step ? len - off : step);
        size_t used = 0;
        st = gw_h1_feed(p, req + off, n, &used);
        off += used;
        zero = 0;
        if (st == GW_H1_HEADERS) {
            zero = 1;
            continue;
        }
        if (st == GW_H1_DONE || st == GW_H1_ERROR)
            return st;
    }
    return st;
}

static void
expect_status(const char *req, int status)
{
    size_t steps[] = {1000000, 1, 7};
    for (size_t i = 0; i < 3; i++) {
        struct gw_h1_parser p;
        enum gw_h1_status st = parse(&p, req, steps[i]);
        if ((status == 0) != (st == GW_H1_DONE) || (status && p.err_status != status))
            print_message("request (step %zu) gave %d/%d: %s\n", steps[i], (int)st, p.err_status,
                          req);
        if (status == 0) {
            assert_int_equal(st, GW_H1_DONE);
        } else {
            assert_int_equal(st, GW_H1_ERROR);
            assert_int_equal(p.err_status, status);
        }
        gw_h1_free(&p);
    }
}

static void
test_simple_post(void **state)
{
    (void)state;
    struct gw_h1_parser p;
    assert_int_equal(parse(&p,
                           "POST /v1/chat/completions?x=1 HTTP/1.1\r\nHost: gw\r\n"
                           "Content-Length: 5\r\nX-Empty:\r\nX-A: b c \r\n\r\nhello",
                           3),
                     GW_H1_DONE);
    assert_string_equal(gw_h1_url(&p), "/v1/chat/completions?x=1");
    assert_int_equal(p.method, HTTP_POST);
    assert_int_equal(p.content_length, 5);
    assert_int_equal(p.nhdrs, 4);
    assert_string_equal(gw_h1_hname(&p, 2), "X-Empty");
    assert_string_equal(gw_h1_hvalue(&p, 2), "");
    assert_string_equal(gw_h1_hvalue(&p, 3), "b c");
    assert_int_equal(gw_h1_find(&p, "x-a"), 3);
    assert_int_equal(gw_h1_find(&p, "nope"), -1);
    assert_int_equal(p.body_len, 5);
    char body[8] = {0};
    evbuffer_copyout(p.body, body, 5);
    assert_string_equal(body, "hello");
    assert_true(p.keep_alive);
    gw_h1_free(&p);
}

static void
test_get_without_body_completes(void **state)
{
    (void)state;
    struct gw_h1_parser p;
    assert_int_equal(parse(&p, "GET /v1/models HTTP/1.1\r\nHost: gw\r\n\r\n", 1000), GW_H1_DONE);
    assert_int_equal(p.body_len, 0);
    assert_int_equal(p.content_length, -1);
    gw_h1_free(&p);
}

static void
test_chunked_body(void **state)
{
    (void)state;
    struct gw_h1_parser p;
    assert_int_equal(parse(&p,
                           "POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
                           "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
                           2),
                     GW_H1_DONE);
    assert_true(p.chunked);
    assert_int_equal(p.body_len, 5);
    gw_h1_free(&p);
}

static void
test_pipelined_requests_stop_at_each_message(void **state)
{
    (void)state;
    const char *two = "GET /a HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: a\r\n\r\n";
    struct gw_h1_parser p;
    gw_h1_init(&p, &lim);
    size_t used, off = 0;
    assert_int_equal(gw_h1_feed(&p, two, strlen(two), &used), GW_H1_HEADERS);
    off += used;
    assert_int_equal(gw_h1_feed(&p, two + off, 0, &used), GW_H1_DONE);
    assert_string_equal(gw_h1_url(&p), "/a");
    gw_h1_next(&p);
    assert_int_equal(gw_h1_feed(&p, two + off, strlen(two) - off, &used), GW_H1_HEADERS);
    off += used;
    assert_int_equal(gw_h1_feed(&p, two + off, 0, &used), GW_H1_DONE);
    assert_string_equal(gw_h1_url(&p), "/b");
    assert_int_equal(off, strlen(two));
    gw_h1_free(&p);
}

static void
test_expect_continue(void **state)
{
    (void)state;
    struct gw_h1_parser p;
    gw_h1_init(&p, &lim);
    const char *h =
        "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
    size_t used;
    assert_int_equal(gw_h1_feed(&p, h, strlen(h), &used), GW_H1_HEADERS);
    assert_true(p.expect_continue);
    gw_h1_free(&p);
    expect_status(
        "POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n", 413);
    expect_status("POST /x HTTP/1.1\r\nHost: a\r\nExpect: something\r\nContent-Length: 1\r\n\r\nx",
                  417);
}

static void
test_limits(void **state)
{
    (void)state;
    char big[2048];
    snprintf(big, sizeof(big), "GET / HTTP/1.1\r\nHost: a\r\nX-Big: %01100d\r\n\r\n", 0);
    expect_status(big, 431);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\nF: 1\r\n"
                  "G: 1\r\nH: 1\r\nI: 1\r\nJ: 1\r\n\r\n",
                  431);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 101\r\n\r\n", 413);
}

static void
test_chunked_body_over_limit(void **state)
{
    (void)state;
    char req[512];
    char chunk[80];
    memset(chunk, 'x', 60);
    chunk[60] = 0;
    snprintf(
        req, sizeof(req),
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3c\r\n%s\r\n3c\r\n%s\r\n"
        "0\r\n\r\n",
        chunk, chunk);
    expect_status(req, 413);
}

static void
test_smuggling_defences(void **state)
{
    (void)state;
    expect_status(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n"
        "\r\n0\r\n\r\n",
        400);
    expect_status(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n"
        "\r\n0\r\n\r\n",
        400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxy",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: abc\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +5\r\n\r\nhello", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\nx", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\nx", 400);
    expect_status(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
        400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n two\r\n\r\n", 400);  /* obs-fold */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX-A: one\r\n\ttwo\r\n\r\n", 400); /* obs-fold */
    expect_status("GET / HTTP/1.1\r\nHost: a\rX-A: b\r\n\r\n", 400);              /* bare CR */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nX-A: b\rc\r\n\r\n", 400);         /* bare CR */
    expect_status("GET / HTTP/1.1\nHost: a\n\n", 400);                            /* bare LF */
    expect_status("GET / HTTP/1.1\r\nHost: a\nX: y\r\n\r\n", 400);                /* bare LF */
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: identity\r\n\r\n", 400);
    expect_status(
        "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
                  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                  400);
    expect_status("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400);
}

static void
test_malformed_heads(void **state)
{
    (void)state;
    expect_status("GARBAGE\r\n\r\n", 400);
    expect_status("GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a  b\r\n\r\n", 0); /* spaces inside values are fine */
    expect_status("GET http://evil/ HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.1\r\n\r\n", 400); /* no Host */
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400);
    expect_status("GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\nBad Name: x\r\n\r\n", 400);
    expect_status("POST / HTTP/1.1\r\nHost: a\r\nContent-Length : 1\r\n\r\nx", 400);
    expect_status("GET / HTTP/1.1\r\nHost: a\r\n: x\r\n\r\n", 400);
    expect_status("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n", 400);
    expect_status("GET / HTTP/1.0\r\n\r\n", 0); /* HTTP/1.0 needs no Host */
}

static void
test_hop_by_hop(void **state)
{
    (void)state;
    assert_true(gw_h1_hop_by_hop("Connection", 10, NULL));
    assert_true(gw_h1_hop_by_hop("keep-alive", 10, NULL));
    assert_true(gw_h1_hop_by_hop("TE", 2, NULL));
    assert_true(gw_h1_hop_by_hop("Transfer-Encoding", 17, NULL));
    assert_true(gw_h1_hop_by_hop("Upgrade", 7, NULL));
    assert_true(gw_h1_hop_by_hop("Proxy-Connection", 16, NULL));
    assert_false(gw_h1_hop_by_hop("Content-Type", 12, NULL));
    assert_true(gw_h1_hop_by_hop("X-Foo", 5, "keep-alive, x-foo"));
    assert_false(gw_h1_hop_by_hop("X-Foo", 5, "keep-alive, x-foobar"));
    assert_true(gw_h1_list_has(" a ,b,  c", "c", 1));
    assert_false(gw_h1_list_has("abc", "ab", 2));
    assert_string_equal(gw_h1_reason(431), "Request Header Fields Too Large");
    assert_string_equal(gw_h1_reason(599), "Server Error");
}

static int
head_cb(struct gw_h1_parser *p, void *arg)
{
    (void)arg;
    return p->status == 204 ? 1 : 0;
}

static int
data_cb(struct gw_h1_parser *p, void *arg, const char *d, size_t n)
{
    (void)p;
    struct evbuffer *b = arg;
    return evbuffer_add(b, d, n);
}

static void
test_response_parsing(void **state)
{
    (void)state;
    struct gw_h1_limits rl = {4096, 50, SIZE_MAX};
    struct evbuffer *b = evbuffer_new();
    struct gw_h1_parser p;
    gw_h1_init_response(&p, &rl, head_cb, data_cb, b);
    const char *r = "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n"
                    "Content-Type: text/event-stream\r\n\r\n5\r\nhello\r\n0\r\n\r\n";
    size_t used;
    assert_int_equal(gw_h1_feed(&p, r, strlen(r), &used), GW_H1_DONE);
    assert_int_equal(used, strlen(r));
    assert_int_equal(p.status, 200);
    assert_true(p.chunked);
    assert_int_equal(p.nhdrs, 2);
    assert_int_equal(evbuffer_get_length(b), 5);
    gw_h1_next(&p);
    /* close-delimited body, ended by EOF */
    const char *r2 = "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc";
    assert_int_equal(gw_h1_feed(&p, r2, strlen(r2), &used), GW_H1_MORE);
    assert_int_equal(gw_h1_finish(&p), GW_H1_DONE);
    assert_int_equal(evbuffer_get_length(b), 8);
    gw_h1_free(&p);

    gw_h1_init_response(&p, &rl, head_cb, data_cb, b);
    const char *bad = "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd";
    assert_int_equal(gw_h1_feed(&p, bad, strlen(bad), &used), GW_H1_ERROR);
    assert_int_equal(p.err_status, 502);
    gw_h1_free(&p);

    gw_h1_init_response(&p, &rl, head_cb, data_cb, b);
    const char *cut = "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc";
    assert_int_equal(gw_h1_feed(&p, cut, strlen(cut), &used), GW_H1_MORE);
    assert_int_equal(gw_h1_finish(&p), GW_H1_ERROR);
    gw_h1_free(&p);
    evbuffer_free(b);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_post),
        cmocka_unit_test(test_get_without_body_completes),
        cmocka_unit_test(test_chunked_body),
        cmocka_unit_test(test_pipelined_requests_stop_at_each_message),
        cmocka_unit_test(test_expect_continue),
        cmocka_unit_test(test_limits),
        cmocka_unit_test(test_chunked_body_over_limit),
        cmocka_unit_test(test_smuggling_defences),
        cmocka_unit_test(test_malformed_heads),
        cmocka_unit_test(test_hop_by_hop),
        cmocka_unit_test(test_response_parsing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
