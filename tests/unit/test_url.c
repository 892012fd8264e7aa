/*
 * Unit tests for filters/url.c: a table of URLs with the destination a browser would reach
 * (WHATWG URL standard) — scheme, canonical host and its type, port, whether it is internal, and
 * the oddities a strict policy can deny — or the parser's failure; then the flags for paths,
 * queries and relative references, and the serialised result parsing to itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "filters/url.h"

#define D GW_URL_HOST_DOMAIN
#define V4 GW_URL_HOST_IPV4
#define V6 GW_URL_HOST_IPV6
#define NO GW_URL_HOST_NONE

#define O_TRIM GW_URL_ODD_TRIMMED
#define O_TAB GW_URL_ODD_TAB_NL
#define O_BS GW_URL_ODD_BACKSLASH
#define O_SL GW_URL_ODD_SLASHES
#define O_UI GW_URL_ODD_USERINFO
#define O_PCT GW_URL_ODD_PCT_HOST
#define O_IDN GW_URL_ODD_IDNA
#define O_V4 GW_URL_ODD_IPV4_FORM
#define O_DOT GW_URL_ODD_TRAILING_DOT
#define O_PORT GW_URL_ODD_EMPTY_PORT

struct url_case {
    const char *url;
    int ok; /* 0: gw_url_canon must fail */
    const char *scheme;
    enum gw_url_host_type type;
    const char *host;
    int port;
    int internal;
    unsigned odd; /* flags that must be set (others may be too) */
};

/* OK(url, scheme, type, host, port, internal, odd); BAD(url) */
#define OK(u, s, t, h, p, i, o)                                                                    \
    {                                                                                              \
        u, 1, s, t, h, p, i, o                                                                     \
    }
#define BAD(u)                                                                                     \
    {                                                                                              \
        u, 0, "", NO, "", -1, 0, 0                                                                 \
    }

static const struct url_case CASES[] = {
    /* case, trailing dots, ports */
    OK("HTTP://EXAMPLE.COM.", "http", D, "example.com", -1, 0, O_DOT),
    OK("https://Example.COM/x?y=1", "https", D, "example.com", -1, 0, 0),
    OK("https://evil.example:443/", "https", D, "evil.example", -1, 0, 0),
    OK("HTTPS://Example.COM:0443/", "https", D, "example.com", -1, 0, 0),
    OK("https://example.com:80/", "https", D, "example.com", 80, 0, 0),
    OK("http://example.com:80", "http", D, "example.com", -1, 0, 0),
    OK("http://example.com:0080", "http", D, "example.com", -1, 0, 0),
    OK("ws://example.com:80", "ws", D, "example.com", -1, 0, 0),
    OK("wss://example.com:443", "wss", D, "example.com", -1, 0, 0),
    OK("ftp://example.com:21/f", "ftp", D, "example.com", -1, 0, 0),
    OK("https://evil.example:8443/", "https", D, "evil.example", 8443, 0, 0),
    OK("http://example.com:65535", "http", D, "example.com", 65535, 0, 0),
    OK("http://example.com:", "http", D, "example.com", -1, 0, O_PORT),
    BAD("http://example.com:65536"), BAD("http://example.com:99999999999999999999"),
    BAD("http://example.com:8a"), BAD("http://example.com:-1"), BAD("http://example.com.."),
    BAD("http://."),
    /* percent-encoded hosts */
    OK("https://ex%61mple.com", "https", D, "example.com", -1, 0, O_PCT),
    OK("http://example%2ecom", "http", D, "example.com", -1, 0, O_PCT),
    OK("http://%31%32%37.0.0.1/", "http", V4, "127.0.0.1", -1, 1, O_PCT),
    OK("http://127%2e0%2e0%2e1", "http", V4, "127.0.0.1", -1, 1, O_PCT),
    OK("http://%ef%bc%a5xample.com", "http", D, "example.com", -1, 0, O_PCT | O_IDN),
    BAD("http://a%25b.com"), BAD("http://a%00b.com"), BAD("http://a%2fb.com"), BAD("http://a%3a80"),
    BAD("http://a%40evil.example"), BAD("http://%zz.com"), BAD("http://a%"),
    /* IDNA */
    OK("https://xn--mnchen-3ya.de", "https", D, "xn--mnchen-3ya.de", -1, 0, O_IDN),
    OK("https://XN--MNCHEN-3YA.DE", "https", D, "xn--mnchen-3ya.de", -1, 0, O_IDN),
    OK("https://münchen.de", "https", D, "xn--mnchen-3ya.de", -1, 0, O_IDN),
    OK("https://MÜNCHEN.DE", "https", D, "xn--mnchen-3ya.de", -1, 0, O_IDN),
    OK("https://m%C3%BCnchen.de", "https", D, "xn--mnchen-3ya.de", -1, 0, O_IDN | O_PCT),
    OK("https://ｅｘａｍｐｌｅ．ｃｏｍ", "https", D, "example.com", -1, 0, O_IDN),
    OK("http://ex\xef\xbc\x8e"
       "ample.com",
       "http", D, "ex.ample.com", -1, 0, O_IDN), /* a fullwidth dot is a dot */
    OK("http://example\xe3\x80\x82"
       "com",
       "http", D, "example.com", -1, 0, O_IDN), /* so is an ideographic one */
    OK("http://１２７．０．０．１", "http", V4, "127.0.0.1", -1, 1, O_IDN),
    OK("http://ｌｏｃａｌｈｏｓｔ/", "http", D, "localhost", -1, 1, O_IDN),
    OK("http://faß.de", "http", D, "xn--fa-hia.de", -1, 0, O_IDN), /* non-transitional */
    OK("http://xn--zca.com", "http", D, "xn--zca.com", -1, 0, O_IDN),
    OK("http://a\xe2\x80\x8b"
       "b.com",
       "http", D, "ab.com", -1, 0, O_IDN), /* zero width space: ignored by UTS #46 */
    OK("http://ex\xc2\xad"
       "ample.com",
       "http", D, "example.com", -1, 0, O_IDN), /* soft hyphen: ignored */
    BAD("http://xn--a.com"), BAD("http://xn--.com"),
    BAD("http://\xd9\xa1.com"), /* Arabic-Indic digit one: the bidi rule */
    BAD("http://\xff.com"),     /* not UTF-8 */
    BAD("http://％６１.com"),   /* fullwidth '%' maps to '%': forbidden, never decoded */
    /* forbidden host code points, empty hosts */
    BAD("http://ex ample.com"), BAD("http://exa<mple.com"), BAD("http://a^b.com"),
    BAD("http://a|b.com"), BAD("http://"), BAD("http:///"), BAD("https://:443/"),
    BAD("http://user@/"), BAD("http://user@:80/"), BAD("https:"),
    /* IPv4 */
    OK("http://0x7f.1", "http", V4, "127.0.0.1", -1, 1, O_V4),
    OK("http://2130706433", "http", V4, "127.0.0.1", -1, 1, O_V4),
    OK("http://017700000001", "http", V4, "127.0.0.1", -1, 1, O_V4),
    OK("http://127.1", "http", V4, "127.0.0.1", -1, 1, O_V4),
    OK("http://0177.0.0.1", "http", V4, "127.0.0.1", -1, 1, O_V4),
    OK("http://0x7f000001", "http", V4, "127.0.0.1", -1, 1, O_V4),
    OK("http://127.0.0.1.", "http", V4, "127.0.0.1", -1, 1, O_V4 | O_DOT),
    OK("http://127.0.0.1:80/", "http", V4, "127.0.0.1", -1, 1, 0),
    OK("http://0.0.0.0", "http", V4, "0.0.0.0", -1, 1, 0),
    OK("http://0", "http", V4, "0.0.0.0", -1, 1, O_V4),
    OK("http://0x.0x.0x.0x", "http", V4, "0.0.0.0", -1, 1, O_V4),
    OK("http://1.0x", "http", V4, "1.0.0.0", -1, 0, O_V4),
    OK("http://10.1", "http", V4, "10.0.0.1", -1, 1, O_V4),
    OK("http://0xC0.0250.1.1", "http", V4, "192.168.1.1", -1, 1, O_V4),
    OK("http://3232235777", "http", V4, "192.168.1.1", -1, 1, O_V4),
    OK("http://1.2.65535", "http", V4, "1.2.255.255", -1, 0, O_V4),
    OK("http://4294967295", "http", V4, "255.255.255.255", -1, 1, O_V4),
    OK("http://0x08080808", "http", V4, "8.8.8.8", -1, 0, O_V4),
    OK("http://8.8.8.8", "http", V4, "8.8.8.8", -1, 0, 0),
    OK("http://1.2.3.4/x", "http", V4, "1.2.3.4", -1, 0, 0), BAD("http://256.256.256.256"),
    BAD("http://1.2.3.4.5"), BAD("http://1.2.3.256"), BAD("http://1.2.65536"),
    BAD("http://4294967296"), BAD("http://0x100000000"), BAD("http://08.1.1.1"), BAD("http://1..2"),
    BAD("http://example.1"), /* ends in a number, but is not IPv4 */
    BAD("http://foo.09"), BAD("http://a.b.c.d.e.f.1"),
    OK("http://1.2.3.4.example", "http", D, "1.2.3.4.example", -1, 0, 0),
    OK("http://0x7f.example", "http", D, "0x7f.example", -1, 0, 0),
    OK("http://169.254.169.254.nip.io/", "http", D, "169.254.169.254.nip.io", -1, 0, 0),
    /* private, link-local, CGNAT, metadata */
    OK("http://10.0.0.1", "http", V4, "10.0.0.1", -1, 1, 0),
    OK("http://172.16.0.1", "http", V4, "172.16.0.1", -1, 1, 0),
    OK("http://172.31.255.255", "http", V4, "172.31.255.255", -1, 1, 0),
    OK("http://172.32.0.1", "http", V4, "172.32.0.1", -1, 0, 0),
    OK("http://192.168.1.1", "http", V4, "192.168.1.1", -1, 1, 0),
    OK("http://100.64.0.1", "http", V4, "100.64.0.1", -1, 1, 0),
    OK("http://100.128.0.1", "http", V4, "100.128.0.1", -1, 0, 0),
    OK("http://100.100.100.200/latest/meta-data", "http", V4, "100.100.100.200", -1, 1, 0),
    OK("http://169.254.169.254/latest/meta-data", "http", V4, "169.254.169.254", -1, 1, 0),
    OK("http://192.0.0.192/", "http", V4, "192.0.0.192", -1, 1, 0),
    OK("http://metadata.google.internal/", "http", D, "metadata.google.internal", -1, 1, 0),
    OK("http://METADATA.google.internal./", "http", D, "metadata.google.internal", -1, 1, O_DOT),
    OK("http://metadata/", "http", D, "metadata", -1, 1, 0),
    OK("http://instance-data/", "http", D, "instance-data", -1, 1, 0),
    OK("http://svc.internal/", "http", D, "svc.internal", -1, 1, 0),
    OK("http://printer.local/", "http", D, "printer.local", -1, 1, 0),
    OK("http://localhost:8080/", "http", D, "localhost", 8080, 1, 0),
    OK("http://LOCALHOST./", "http", D, "localhost", -1, 1, O_DOT),
    OK("http://a.localhost/", "http", D, "a.localhost", -1, 1, 0),
    OK("http://localhost.evil.example/", "http", D, "localhost.evil.example", -1, 0, 0),
    OK("http://notlocalhost/", "http", D, "notlocalhost", -1, 0, 0),
    /* IPv6 */
    OK("http://[::1]:8080/", "http", V6, "[::1]", 8080, 1, 0),
    OK("http://[::1]:", "http", V6, "[::1]", -1, 1, O_PORT),
    OK("http://[0:0:0:0:0:0:0:1]", "http", V6, "[::1]", -1, 1, 0),
    OK("http://[::]", "http", V6, "[::]", -1, 1, 0),
    OK("http://[0::0:0]", "http", V6, "[::]", -1, 1, 0),
    OK("http://[2001:db8::1]", "http", V6, "[2001:db8::1]", -1, 0, 0),
    OK("http://[2001:DB8:0:0:1:0:0:1]", "http", V6, "[2001:db8::1:0:0:1]", -1, 0, 0),
    OK("http://[::1:0:0:0]", "http", V6, "[::1:0:0:0]", -1, 0, 0),
    OK("http://[1::]", "http", V6, "[1::]", -1, 0, 0),
    OK("http://[1:0:1:0:1:0:1:0]", "http", V6, "[1:0:1:0:1:0:1:0]", -1, 0, 0),
    OK("http://[1:2:3:4:5:6:1.2.3.4]", "http", V6, "[1:2:3:4:5:6:102:304]", -1, 0, 0),
    OK("http://[::ffff:127.0.0.1]", "http", V6, "[::ffff:7f00:1]", -1, 1, 0),
    OK("http://[::ffff:7f00:1]", "http", V6, "[::ffff:7f00:1]", -1, 1, 0),
    OK("HTTPS://[::FFFF:A9FE:A9FE]/", "https", V6, "[::ffff:a9fe:a9fe]", -1, 1, 0),
    OK("http://[::ffff:169.254.169.254]", "http", V6, "[::ffff:a9fe:a9fe]", -1, 1, 0),
    OK("http://[::ffff:8.8.8.8]", "http", V6, "[::ffff:808:808]", -1, 0, 0),
    OK("http://[::127.0.0.1]", "http", V6, "[::7f00:1]", -1, 1, 0),
    OK("http://[64:ff9b::a9fe:a9fe]", "http", V6, "[64:ff9b::a9fe:a9fe]", -1, 1, 0),
    OK("http://[64:ff9b::8.8.8.8]", "http", V6, "[64:ff9b::808:808]", -1, 0, 0),
    OK("http://[fd00:ec2::254]/", "http", V6, "[fd00:ec2::254]", -1, 1, 0),
    OK("http://[fd00:0ec2:0::0254]/", "http", V6, "[fd00:ec2::254]", -1, 1, 0),
    OK("http://[fc00::1]", "http", V6, "[fc00::1]", -1, 1, 0),
    OK("http://[fe80::1]", "http", V6, "[fe80::1]", -1, 1, 0),
    OK("http://[fec0::1]", "http", V6, "[fec0::1]", -1, 1, 0),
    OK("http://[ff02::1]", "http", V6, "[ff02::1]", -1, 1, 0), BAD("http://[::1"), BAD("http://[]"),
    BAD("http://[::1]x"), BAD("http://[1:2:3:4:5:6:7:8:9]"), BAD("http://[::1::2]"),
    BAD("http://[::1.2.3]"), BAD("http://[::1.2.3.04]"), BAD("http://[::256.0.0.1]"),
    BAD("http://[12345::]"), BAD("http://[:1]"), BAD("http://[1:]"), BAD("http://[1:2:3:4:5:6:7]"),
    BAD("http://[v1.x]"), BAD("http://[%3a%3a1]"),
    /* user info */
    OK("https://allowed.example@evil.example/", "https", D, "evil.example", -1, 0, O_UI),
    OK("https://user:pass@example.com:8080/", "https", D, "example.com", 8080, 0, O_UI),
    OK("https://evil.example:443@example.com", "https", D, "example.com", -1, 0, O_UI),
    OK("https://a@b@example.com", "https", D, "example.com", -1, 0, O_UI),
    OK("http://@example.com", "http", D, "example.com", -1, 0, O_UI),
    OK("https://example.com\t@evil.example", "https", D, "evil.example", -1, 0, O_UI | O_TAB),
    OK("https://example.com#@evil.example", "https", D, "example.com", -1, 0, 0),
    OK("https://example.com?@evil.example", "https", D, "example.com", -1, 0, 0),
    /* backslashes and slashes */
    OK("https://allowed.example\\@evil.example", "https", D, "allowed.example", -1, 0, O_BS),
    OK("https:\\\\evil.example\\x", "https", D, "evil.example", -1, 0, O_BS | O_SL),
    OK("https://example.com\\.evil.example", "https", D, "example.com", -1, 0, O_BS),
    OK("https:/\\example.com", "https", D, "example.com", -1, 0, O_BS | O_SL),
    OK("https:example.com/x", "https", D, "example.com", -1, 0, O_SL),
    OK("https:///example.com", "https", D, "example.com", -1, 0, O_SL),
    OK("https:////evil.example/", "https", D, "evil.example", -1, 0, O_SL),
    /* protocol-relative and relative references (scheme left to the caller) */
    OK("//evil.example/p", "", D, "evil.example", -1, 0, 0),
    OK("//evil.example:8080", "", D, "evil.example", 8080, 0, 0),
    OK("\\\\evil.example\\x", "", D, "evil.example", -1, 0, O_BS | O_SL),
    OK("/\\evil.example", "", D, "evil.example", -1, 0, O_BS | O_SL),
    OK("///evil.example", "", D, "evil.example", -1, 0, O_SL),
    OK("//127.1/", "", V4, "127.0.0.1", -1, 1, O_V4), OK("/path/x", "", NO, "", -1, 0, 0),
    OK("evil.example/x", "", NO, "", -1, 0, 0), OK("#frag", "", NO, "", -1, 0, 0),
    OK("?q=1", "", NO, "", -1, 0, 0), OK("", "", NO, "", -1, 0, 0), BAD("//"), BAD("//@/"),
    /* whitespace and controls */
    OK("  https://example.com/  ", "https", D, "example.com", -1, 0, O_TRIM),
    OK("\x01https://example.com\x1f", "https", D, "example.com", -1, 0, O_TRIM),
    OK("ht\ntps://example.com", "https", D, "example.com", -1, 0, O_TAB),
    OK("http://exa\tmple.com", "http", D, "example.com", -1, 0, O_TAB),
    OK("http://exa\r\nmple.com", "http", D, "example.com", -1, 0, O_TAB),
    BAD("http://exa\x01mple.com"), BAD("http://exa\x7fmple.com"),
    /* other schemes */
    OK("file:///etc/passwd", "file", NO, "", -1, 1, 0),
    OK("file://localhost/etc/passwd", "file", NO, "", -1, 1, 0),
    OK("FILE://server/share", "file", D, "server", -1, 1, 0),
    OK("javascript:alert(1)", "javascript", NO, "", -1, 0, 0),
    OK("JavaScript://example.com/%0aalert(1)", "javascript", D, "example.com", -1, 0, 0),
    OK("data:text/html;base64,PHNjcmlwdD4=", "data", NO, "", -1, 0, 0),
    OK("mailto:a@evil.example", "mailto", NO, "", -1, 0, 0),
    OK("foo://Example.com/", "foo", D, "example.com", -1, 0, 0),
    OK("git+ssh://git@github.com:22/x", "git+ssh", D, "github.com", 22, 0, O_UI),
    OK("foo:///x", "foo", NO, "", -1, 0, 0), OK("foo://", "foo", NO, "", -1, 0, 0),
    OK("localhost:8080", "localhost", NO, "", -1, 0, 0), /* a scheme "localhost" */
    BAD("foo://example.com\\x"), /* not special: '\' belongs to the host, and is forbidden */
    BAD("foo://u@"), BAD("abcdefghijabcdefghijabcdefghijab://example.com/"), /* a 32-byte scheme */
};

static const char *
type_name(enum gw_url_host_type t)
{
    static const char *const names[] = {"none", "domain", "ipv4", "ipv6"};
    return (unsigned)t < 4 ? names[t] : "?";
}

static void
test_table(void **state)
{
    (void)state;
    size_t n = sizeof(CASES) / sizeof(CASES[0]), bad = 0, internal = 0, failures = 0;
    for (size_t i = 0; i < n; i++) {
        const struct url_case *c = &CASES[i];
        struct gw_url_canon u;
        int rc = gw_url_canon(c->url, strlen(c->url), &u);
        if (!c->ok) {
            failures++;
            if (rc != -1) {
                print_error("'%s': parsed (host '%s'), expected a failure\n", c->url, u.host);
                bad++;
            }
            if (gw_url_is_internal(&u) != 0)
                bad++;
            continue;
        }
        internal += c->internal;
        int in = rc == 0 ? gw_url_is_internal(&u) : -1;
        if (rc != 0 || strcmp(u.scheme, c->scheme) != 0 || u.host_type != c->type ||
            strcmp(u.host, c->host) != 0 || u.host_len != strlen(c->host) || u.port != c->port ||
            in != c->internal || (u.odd & c->odd) != c->odd ||
            u.relative != (c->scheme[0] == '\0')) {
            print_error("'%s': rc %d scheme '%s' %s '%s' port %d internal %d odd %#x; expected "
                        "'%s' %s '%s' port %d internal %d odd %#x\n",
                        c->url, rc, u.scheme, type_name(u.host_type), u.host, u.port, in, u.odd,
                        c->scheme, type_name(c->type), c->host, c->port, c->internal, c->odd);
            bad++;
        }
    }
    assert_true(n >= 100);
    assert_true(failures >= 30 && internal >= 30);
    assert_int_equal(bad, 0);
}

static struct gw_url_canon
canon(const char *s)
{
    struct gw_url_canon u;
    if (gw_url_canon(s, strlen(s), &u) != 0)
        fail_msg("'%s' did not parse", s);
    return u;
}

static void
test_parts(void **state)
{
    (void)state;
    struct gw_url_canon u = canon("https://example.com");
    assert_false(u.has_path || u.has_query || u.has_fragment);
    assert_true(u.special && u.has_authority && !u.relative && u.odd == 0);
    u = canon("https://example.com/");
    assert_false(u.has_path);
    u = canon("https://example.com/a?b#c");
    assert_true(u.has_path && u.has_query && u.has_fragment);
    u = canon("https://example.com?b");
    assert_true(!u.has_path && u.has_query && !u.has_fragment);
    u = canon("https://example.com#?b");
    assert_true(!u.has_query && u.has_fragment);
    u = canon("mailto:x@example.com");
    assert_true(u.has_path && !u.special && !u.has_authority);
    u = canon("/x");
    assert_true(u.relative && u.has_path && !u.has_authority);
    u = canon("//example.com");
    assert_true(u.relative && u.has_authority && !u.special);

    /* the addresses behind the text */
    u = canon("http://[::ffff:10.1.2.3]/");
    assert_true(u.has_ipv4);
    assert_int_equal(u.ipv4, 0x0a010203);
    assert_int_equal(u.ipv6[5], 0xffff);
    u = canon("http://10.1.2.3/");
    assert_true(u.has_ipv4);
    assert_int_equal(u.ipv4, 0x0a010203);
    u = canon("http://[2001:db8::1]/");
    assert_false(u.has_ipv4);
    u = canon("http://[::1]/");
    assert_false(u.has_ipv4); /* ::1 is loopback, not the IPv4-compatible 0.0.0.1 */

    /* bytes after a NUL are read, not ignored */
    assert_int_equal(gw_url_canon("http://a\0.evil/", 15, &u), -1);
    assert_int_equal(gw_url_canon("http://a.example/\0x", 19, &u), 0);
    assert_string_equal(u.host, "a.example");

    /* a host over 253 bytes fails; 253 passes */
    char url[400] = "http://";
    size_t n = strlen(url);
    for (int i = 0; i < 4; i++) {
        memset(url + n, 'a', 63);
        n += 63;
        url[n++] = '.';
    }
    url[n - 1] = '\0'; /* 4 * 64 - 1 = 255 bytes */
    assert_int_equal(gw_url_canon(url, strlen(url), &u), -1);
    url[n - 3] = '\0'; /* 253 */
    assert_int_equal(gw_url_canon(url, strlen(url), &u), 0);
    assert_int_equal(u.host_len, 253);
}

/* The serialised result canonicalises to itself. */
static void
test_idempotent(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
        struct gw_url_canon u, v;
        if (gw_url_canon(CASES[i].url, strlen(CASES[i].url), &u) != 0 || u.host_len == 0)
            continue;
        char again[400];
        int len = snprintf(again, sizeof(again), "%s%s//%s:%d/", u.scheme, u.relative ? "" : ":",
                           u.host, u.port);
        if (u.port < 0)
            len = snprintf(again, sizeof(again), "%s%s//%s/", u.scheme, u.relative ? "" : ":",
                           u.host);
        assert_int_equal(gw_url_canon(again, (size_t)len, &v), 0);
        assert_string_equal(v.host, u.host);
        assert_int_equal(v.port, u.port);
        assert_int_equal(v.host_type, u.host_type);
        assert_int_equal(gw_url_is_internal(&v), gw_url_is_internal(&u));
    }
}

/* ---- paths ---- */

struct path_case {
    const char *url;
    int rc; /* 0, GW_URL_PATH_AMBIGUOUS (A) or -1 */
    const char *path;
};

#define A GW_URL_PATH_AMBIGUOUS

static const struct path_case PATHS[] = {
    /* empty paths, query and fragment cut */
    {"http://h", 0, "/"},
    {"http://h/", 0, "/"},
    {"http://h?q=/../x#/y", 0, "/"},
    {"http://h/p?q=/../x#f", 0, "/p"},
    {"http://h#/../x", 0, "/"},
    {"http://h//x", 0, "//x"},
    /* dot segments */
    {"http://h/a/b/../c", 0, "/a/c"},
    {"http://h/a/./b/.", 0, "/a/b/"},
    {"http://h/a/b/..", 0, "/a/"},
    {"http://h/a/..", 0, "/"},
    {"http://h/../../x", 0, "/x"},
    {"http://h/p/../q", 0, "/q"},
    {"http://h/a/.../b", 0, "/a/.../b"},
    {"http://h/a/..b/.c", 0, "/a/..b/.c"},
    /* encoded dots: the standard's dot segments */
    {"http://h/a/%2e%2E/b", 0, "/b"},
    {"http://h/a/.%2e/b", 0, "/b"},
    {"http://h/a/%2E./b", 0, "/b"},
    {"http://h/a/%2e/b", 0, "/a/b"},
    {"http://h/p/%2e%2e", 0, "/"},
    {"http://h/a/%2e%2e%2e", 0, "/a/..."},
    {"http://h/a%2eb", 0, "/a.b"},
    /* backslashes where the URL is special */
    {"http://h\\a\\..\\b", 0, "/b"},
    {"https://h/a\\b", 0, "/a/b"},
    {"https:\\\\h\\p\\..\\q", 0, "/q"},
    /* what a server may decode otherwise */
    {"http://h/a%2fb", A, "/a%2Fb"},
    {"http://h/p/..%2F..%2Fadmin", A, "/p/..%2F..%2Fadmin"},
    {"http://h/a%5cb", A, "/a%5Cb"},
    {"http://h/a%252e%252e/x", A, "/a%252e%252e/x"},
    {"http://h/a%", A, "/a%25"},
    {"http://h/a%zz", A, "/a%25zz"},
    {"http://h/p/..;/admin", A, "/p/..;/admin"},
    {"http://h/p/.;x/admin", A, "/p/.;x/admin"},
    {"http://h/p/%2e%2e%3b/admin", A, "/p/..%3B/admin"},
    {"http://h/p/a;b", 0, "/p/a;b"},
    /* unreserved escapes decoded, others upper-cased, unsafe bytes escaped */
    {"http://h/%41%62c%7e%2D%5f%30", 0, "/Abc~-_0"},
    {"http://h/%7euser", 0, "/~user"},
    {"http://h/a%3ab%3F", 0, "/a%3Ab%3F"},
    {"http://h/a b\"<>`{}^", 0, "/a%20b%22%3C%3E%60%7B%7D%5E"},
    {"http://h/caf\xc3\xa9", 0, "/caf%C3%A9"},
    {"http://h/a%20b", 0, "/a%20b"},
    /* tab and newline removed, also inside escapes; controls trimmed at the ends */
    {"  http://h/a\t/b\n  ", 0, "/a/b"},
    {"http://h/%2\te%\n2e/x", 0, "/x"},
    {"\x01http://h/p\x1f", 0, "/p"},
    /* other schemes */
    {"file:///etc/../passwd", 0, "/passwd"},
    {"foo://h/a/../b", 0, "/b"},
    {"foo://h", 0, "/"},
    {"foo:/a/./b", 0, "/a/b"},
    {"foo://h/a\\..\\b", A, "/a%5C..%5Cb"},
    /* opaque paths: as written */
    {"mailto:a@b.example", 0, "a@b.example"},
    {"foo:x/../y", 0, "x/../y"},
    {"data:text/plain,a%2fb", A, "text/plain,a%2fb"},
    {"javascript:alert(1)", 0, "alert(1)"},
    {"foo:", 0, ""},
    /* references without a scheme */
    {"//h/a/../b", 0, "/b"},
    {"/x/./y", 0, "/x/y"},
    {"x/../y", 0, "/y"},
    {"?q", 0, "/"},
    {"\\\\h\\a", 0, "/a"},
    /* URLs that do not canonicalise */
    {"http://exa mple/", -1, ""},
    {"http://[::1/x", -1, ""},
};

static void
test_paths(void **state)
{
    (void)state;
    size_t bad = 0, n = sizeof(PATHS) / sizeof(PATHS[0]);
    for (size_t i = 0; i < n; i++) {
        const struct path_case *c = &PATHS[i];
        char out[256];
        size_t len = 999;
        int rc = gw_url_canon_path(c->url, strlen(c->url), out, sizeof(out), &len);
        if (rc != c->rc || (rc >= 0 && (strcmp(out, c->path) != 0 || len != strlen(c->path)))) {
            print_error("'%s': rc %d path '%s'; expected %d '%s'\n", c->url, rc, rc >= 0 ? out : "",
                        c->rc, c->path);
            bad++;
        }
    }
    assert_true(n >= 50);
    assert_int_equal(bad, 0);
}

static void
test_path_limits(void **state)
{
    (void)state;
    char out[8];
    size_t len = 0;
    const char *u = "http://h/abcdef";
    assert_int_equal(gw_url_canon_path(u, strlen(u), out, 8, &len), 0); /* 7 bytes and the NUL */
    assert_string_equal(out, "/abcdef");
    assert_int_equal(len, 7);
    assert_int_equal(gw_url_canon_path(u, strlen(u), out, 7, &len), -1);
    assert_int_equal(gw_url_canon_path(u, strlen(u), out, 0, &len), -1);
    /* an escape counts as written */
    u = "http://h/a b";
    assert_int_equal(gw_url_canon_path(u, strlen(u), out, 6, &len), -1);
    assert_int_equal(gw_url_canon_path(u, strlen(u), out, 7, &len), 0);
    assert_string_equal(out, "/a%20b");
    /* "..": the bytes it removes do not count */
    u = "http://h/abcdefgh/..";
    assert_int_equal(gw_url_canon_path(u, strlen(u), out, sizeof(out), &len), -1);

    /* the span, with gw_url_path, in the text as given (tab and newline inside it) */
    struct gw_url_canon c;
    u = "  ht\ttp://h/a\n/b?q#f ";
    assert_int_equal(gw_url_canon(u, strlen(u), &c), 0);
    assert_int_equal(c.path_off, 11);
    assert_int_equal(c.path_end, 16);
    char buf[32];
    assert_int_equal(gw_url_path(&c, u, strlen(u), buf, sizeof(buf), &len), 0);
    assert_string_equal(buf, "/a/b");
    u = "https://h";
    assert_int_equal(gw_url_canon(u, strlen(u), &c), 0);
    assert_int_equal(c.path_off, 9);
    assert_int_equal(c.path_end, 9);

    /* a long URL with a tab: the copy is on the heap, the path still right */
    static char big[10000];
    memcpy(big, "http://h/", 9);
    memset(big + 9, 'a', sizeof(big) - 9);
    big[5000] = '\t';
    assert_int_equal(gw_url_canon(big, sizeof(big), &c), 0);
    assert_true(c.odd & GW_URL_ODD_TAB_NL);
    static char bigout[10000];
    assert_int_equal(gw_url_path(&c, big, sizeof(big), bigout, sizeof(bigout), &len), 0);
    assert_int_equal(len, sizeof(big) - 9);
    assert_int_equal(gw_url_default_port("wss"), 443);
    assert_int_equal(gw_url_default_port("file"), -1);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_parts),
        cmocka_unit_test(test_idempotent),  cmocka_unit_test(test_paths),
        cmocka_unit_test(test_path_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
