/*
 * Unit tests for filters/hostmatch.c: hosts found in URLs the way a browser finds them (userinfo,
 * backslashes, slashes after special schemes, protocol-relative references, tab and newline
 * removal, ports), host canonicalisation (case, trailing dot, what is not clean), and where the
 * other parts are. The URL table reads each host through a small exact / wildcard list of the
 * test's own: what is allowed is where the host was found.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "filters/hostmatch.h"

/* ---- URLs against an allowlist ---- */

static const char *const EXACT[] = {"docs.example.com", "api.test", "[::1]", "10.0.0.1",
                                    "mixed.case.example"};

/* Whether url's host, as gw_url_parse finds it, is one of EXACT or a subdomain of corp.example. */
static int
allowed(const char *url)
{
    struct gw_url u;
    if (gw_url_parse(url, strlen(url), &u) != GW_URL_HOST || !u.host_ok)
        return 0;
    assert_int_equal(u.host_len, strlen(u.host));
    for (size_t i = 0; i < sizeof(EXACT) / sizeof(EXACT[0]); i++)
        if (strcmp(u.host, EXACT[i]) == 0)
            return 1;
    const char *w = ".corp.example";
    return u.host_len > strlen(w) && strcmp(u.host + u.host_len - strlen(w), w) == 0;
}

static const struct {
    const char *url;
    int allowed;
} URLS[] = {
    /* exact hosts */
    {"https://docs.example.com/x?y=1", 1},
    {"https://DOCS.Example.COM/", 1},
    {"https://docs.example.com./", 1}, /* trailing dot ignored */
    {"https://docs.example.com", 1},
    {"https://mixed.case.example/", 1}, /* the pattern was case-folded */
    {"https://a.docs.example.com/", 0}, /* an exact host does not cover its subdomains */
    {"https://example.com/", 0},
    {"https://docs.example.com.evil.example/", 0},
    {"https://evildocs.example.com/", 0},
    {"https://docs.example.co/", 0},
    /* wildcards */
    {"https://x.corp.example/", 1},
    {"https://a.b.corp.example/p", 1},
    {"https://a_b.corp.example/", 1},
    {"https://corp.example/", 0}, /* not the apex */
    {"https://xcorp.example/", 0},
    {"https://x.corp.example.evil/", 0},
    /* userinfo: the host is after the last '@' of the authority */
    {"https://docs.example.com@evil.example/", 0},
    {"https://evil.example@docs.example.com/", 1},
    {"https://a@b@docs.example.com/", 1},
    {"https://docs.example.com:pass@evil.example/", 0},
    {"https://docs.example.com:8080@evil.example/x", 0},
    {"https://docs.example.com#@evil.example", 1}, /* '#' ends the authority */
    {"https://docs.example.com?@evil.example", 1},
    {"https://evil.example#docs.example.com", 0},
    /* backslashes are slashes in special URLs */
    {"https://evil.example\\@docs.example.com/", 0},
    {"https://docs.example.com\\.evil.example/", 1},
    {"https:\\\\docs.example.com\\x", 1},
    {"https:/\\docs.example.com", 1},
    {"https:docs.example.com/x", 1},
    {"https:evil.example/x", 0},
    {"https:////evil.example/", 0},
    /* protocol-relative */
    {"//docs.example.com/x", 1},
    {"\\\\docs.example.com\\x", 1},
    {"//evil.example/x?d=1", 0},
    {"/\\evil.example/x", 0},
    /* relative references have no host of their own */
    {"/docs.example.com/x", 0},
    {"docs.example.com/x", 0},
    {"#docs.example.com", 0},
    /* ports */
    {"https://docs.example.com:8443/x", 1},
    {"https://docs.example.com:/x", 1},
    {"https://docs.example.com:84a3/", 0},
    {"https://[::1]:8080/", 1},
    {"https://[0:0::1]/", 0}, /* IPv6 is not canonicalised: written as allowed or not at all */
    {"https://10.0.0.1/", 1},
    {"https://0xa.0.0.1/", 0},
    {"https://10.0.0.1.evil.example/", 0},
    /* hosts that are not clean are never allowed */
    {"https://docs%2Eexample.com/", 0},
    {"http://docs.example.com%40evil.example/", 0},
    {"https://d\xc3\xb3"
     "cs.example.com/",
     0},
    {"https://docs..example.com/", 0},
    {"https://", 0},
    {"https://:443/", 0},
    {"https://[::1/", 0},
    {"", 0},
    /* whitespace: trimmed at the ends, tab and newline ignored inside */
    {"  https://docs.example.com/  ", 1},
    {"ht\ntps://docs.exa\tmple.com/", 1},
    {"https://docs.example.com\t@evil.example/", 0},
    {"\x01https://docs.example.com/", 1},
    /* schemes */
    {"HTTPS://DOCS.EXAMPLE.COM", 1},
    {"ftp://docs.example.com/", 1},
    {"wss://x.corp.example/", 1},
    {"foo://docs.example.com/", 1},
    {"foo://docs.example.com\\.evil/", 0}, /* not special: '\' is part of the host */
    {"foo:docs.example.com", 0},
    {"mailto:x@docs.example.com", 0},
    {"javascript:alert(1)//docs.example.com", 0},
    {"data:text/html,docs.example.com", 0},
    {"https://api.test/", 1},
    {"https://API.TEST./v1", 1},
    {"https://api.test.evil/", 0},
};

static void
test_urls(void **state)
{
    (void)state;
    size_t bad = 0;
    for (size_t i = 0; i < sizeof(URLS) / sizeof(URLS[0]); i++) {
        int got = allowed(URLS[i].url);
        if (got != URLS[i].allowed) {
            print_error("'%s': %s, expected %s\n", URLS[i].url, got ? "allowed" : "denied",
                        URLS[i].allowed ? "allowed" : "denied");
            bad++;
        }
    }
    assert_true(sizeof(URLS) / sizeof(URLS[0]) >= 40);
    assert_int_equal(bad, 0);
}

/* ---- what gw_url_parse reports ---- */

static void
expect_host(const char *url, const char *host)
{
    struct gw_url u;
    enum gw_url_kind k = gw_url_parse(url, strlen(url), &u);
    if (!host) {
        if (k == GW_URL_HOST && u.host_ok)
            fail_msg("'%s': host '%s', expected none or not clean", url, u.host);
        return;
    }
    if (k != GW_URL_HOST || !u.host_ok)
        fail_msg("'%s': kind %d host_ok %d, expected host '%s'", url, k, u.host_ok, host);
    assert_string_equal(u.host, host);
    assert_int_equal(u.host_len, strlen(host));
}

static void
test_parse(void **state)
{
    (void)state;
    expect_host("https://Evil.Example./p", "evil.example");
    expect_host("https://u:p@evil.example:81/", "evil.example");
    expect_host("//evil.example", "evil.example");
    expect_host("/\\evil.example/x", "evil.example");
    expect_host("https:evil.example", "evil.example");
    expect_host("https://[::FFFF:1.2.3.4]:9/", "[::ffff:1.2.3.4]");
    expect_host("https://evil%2eexample/", NULL);
    expect_host("https://evil.example:x/", NULL);
    expect_host("https://exa mple.com/", NULL);
    expect_host("/path", NULL);

    struct gw_url u;
    const char *s = "https://h.example/a/b?q=1&r=2#frag";
    assert_int_equal(gw_url_parse(s, strlen(s), &u), GW_URL_HOST);
    assert_true(u.authority_done);
    assert_int_equal(u.path_end - u.path_off, 4); /* "/a/b" */
    assert_memory_equal(s + u.path_off, "/a/b", 4);
    assert_true(u.has_query);
    assert_int_equal(u.query_len, 7);
    assert_memory_equal(s + u.query_off, "q=1&r=2", 7);
    assert_true(u.has_fragment);
    assert_int_equal(u.frag_len, 4);

    s = "https://h.example/?#";
    gw_url_parse(s, strlen(s), &u);
    assert_true(u.has_query && u.has_fragment);
    assert_int_equal(u.query_len, 0); /* an empty query carries nothing */
    assert_int_equal(u.frag_len, 0);

    s = "https://h.example/x?\t\n"; /* trailing white space is trimmed, tab / newline ignored */
    gw_url_parse(s, strlen(s), &u);
    assert_int_equal(u.query_len, 0);

    s = "https://h.exa"; /* cut inside the host: nothing ended the authority */
    gw_url_parse(s, strlen(s), &u);
    assert_false(u.authority_done);
    s = "https://h.example?";
    gw_url_parse(s, strlen(s), &u);
    assert_true(u.authority_done);

    s = "mailto:a@b.example?body=x";
    assert_int_equal(gw_url_parse(s, strlen(s), &u), GW_URL_NO_HOST);
    assert_int_equal(u.query_len, 6);
    s = "page.html?x=1";
    assert_int_equal(gw_url_parse(s, strlen(s), &u), GW_URL_RELATIVE);
    assert_int_equal(u.query_len, 3);
    s = "C:\\dir\\file";
    assert_int_equal(gw_url_parse(s, strlen(s), &u), GW_URL_NO_HOST);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_parse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
