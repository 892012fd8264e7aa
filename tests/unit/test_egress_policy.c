/*
 * Unit tests for filters/egress_policy.c: a table of URLs judged against a few policies (an empty
 * one, an allowlist with every kind of entry, scheme lists, ports), then the entry syntax (good
 * and bad entries, duplicates), the scheme list, the limits and the verdict names.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "filters/egress_policy.h"

#define OK GW_EGRESS_OK
#define UNP GW_EGRESS_UNPARSED
#define SCH GW_EGRESS_SCHEME
#define INT GW_EGRESS_INTERNAL
#define NAL GW_EGRESS_NOT_ALLOWED

#define BARE GW_EGRESS_BARE

struct policy_def {
    const char *schemes[6]; /* NULL-terminated; none: the default list */
    const char *entries[24];
};

static const struct policy_def POLICIES[] = {
    /* 0: empty */
    {{NULL}, {NULL}},
    /* 1: an allowlist with every kind of entry */
    {{NULL},
     {"docs.example.com", "*.example.org", "api.example.net:8443", "https://secure.example",
      "ftp://files.example", "https://repo.example/pub/", "code.example/p", "10.1.2.3",
      "192.168.0.0/16", "[fd12:3456::]/32", "8.8.8.8", "[2001:db8::1]", "localhost:8080",
      "münchen.de", "*.svc.internal", "100.64.0.0/10:9000", NULL}},
    /* 2: schemes only */
    {{"https", "mailto", "data", "FILE", NULL}, {NULL}},
    /* 3: ftp listed, other schemes by entries only */
    {{"ftp", NULL}, {"https://api.example", "file://fileserver", "*.example.com", NULL}},
    /* 4: ports and ranges */
    {{NULL},
     {"example.com:443", "[::1]:8080", "10.0.0.0/8:8443", "fd00::/8:9000",
      "http://plain.example:80", "172.16.5.5/12", "[fe80::1234]/10", NULL}},
};
#define N_POLICIES (sizeof(POLICIES) / sizeof(POLICIES[0]))

struct url_case {
    int policy;
    const char *url;
    enum gw_egress_why want;
    unsigned flags;
};

static const struct url_case CASES[] = {
    /* ---- 0: the empty policy: public http(s) allowed, internal and other schemes not ---- */
    {0, "https://example.com/", OK, 0},
    {0, "http://example.com", OK, 0},
    {0, "HTTPS://EXAMPLE.COM./x", OK, 0},
    {0, "http://[2001:db8::1]/", OK, 0},
    {0, "http://8.8.8.8/", OK, 0},
    {0, "http://ex%61mple.com", OK, 0},
    {0, " \thttps://example.com/ \n", OK, 0},
    {0, "http://169.254.169.254.nip.io/", OK, 0}, /* a name: DNS is not ours to judge */
    {0, "http://a..b/", OK, 0},                   /* gw_url_canon takes an empty label */
    {0, "ftp://example.com/f", SCH, 0},
    {0, "ws://example.com", SCH, 0},
    {0, "mailto:a@example.com", SCH, 0},
    {0, "data:text/html,<b>x</b>", SCH, 0},
    {0, "javascript:alert(1)", SCH, 0},
    {0, "file:///etc/passwd", SCH, 0},
    {0, "http://127.0.0.1/", INT, 0},
    {0, "http://2130706433/", INT, 0},
    {0, "http://0x7f.1/", INT, 0},
    {0, "http://017700000001/", INT, 0},
    {0, "http://127.1/", INT, 0},
    {0, "http://0/", INT, 0},
    {0, "http://[::1]/", INT, 0},
    {0, "http://[::ffff:127.0.0.1]/", INT, 0},
    {0, "http://[::ffff:7f00:1]/", INT, 0},
    {0, "http://[fd00:ec2::254]/latest", INT, 0},
    {0, "http://[fe80::1]/", INT, 0},
    {0, "http://[64:ff9b::a9fe:a9fe]/", INT, 0},
    {0, "http://169.254.169.254/latest/meta-data/", INT, 0},
    {0, "http://metadata.google.internal/computeMetadata/v1/", INT, 0},
    {0, "http://100.100.100.200/", INT, 0},
    {0, "http://localhost:8080/", INT, 0},
    {0, "http://10.0.0.1/", INT, 0},
    {0, "http://printer.local/", INT, 0},
    {0, "//evil.example/x", OK, 0},
    {0, "//127.0.0.1/", INT, 0},
    {0, "/relative/path", OK, 0},
    {0, "x/y", OK, 0},
    {0, "", OK, 0},
    {0, "http://exa mple.com", UNP, 0},
    {0, "http://[::1", UNP, 0},
    {0, "http://300.1.1.1", UNP, 0},
    {0, "http://", UNP, 0},
    {0, "https:", UNP, 0},
    {0, "http://user@/", UNP, 0},
    {0, "http://example.com:65536", UNP, 0},
    {0, "http://exa\x01mple.com", UNP, 0},
    {0, "http://a%2fb.example/", UNP, 0},
    {0, "www.evil.example/x", OK, BARE},
    {0, "  example.com", OK, BARE},
    {0, "10.0.0.1:8080/admin", INT, BARE},
    {0, "169.254.169.254/latest", INT, BARE},
    {0, "exa mple.com", UNP, BARE},
    {0, "", UNP, BARE},

    /* ---- 1: exact hosts, not their subdomains ---- */
    {1, "https://docs.example.com/a", OK, 0},
    {1, "http://docs.example.com", OK, 0},
    {1, "https://DOCS.Example.COM./x", OK, 0},
    {1, "https://docs.ex%61mple.com/", OK, 0},
    {1, "https://docs.example.com:444/", OK, 0}, /* no port in the entry: any */
    {1, "https://a.docs.example.com/", NAL, 0},
    {1, "https://example.com/", NAL, 0},
    {1, "https://evil.example/", NAL, 0},
    {1, "https://docs.example.com.evil.example/", NAL, 0},
    /* wildcards: subdomains at any depth, not the domain itself */
    {1, "https://a.example.org/", OK, 0},
    {1, "https://a.b.example.org/", OK, 0},
    {1, "https://A.EXAMPLE.ORG./", OK, 0},
    {1, "https://example.org/", NAL, 0},
    {1, "https://aexample.org/", NAL, 0},
    {1, "https://a.example.org.evil.example/", NAL, 0},
    /* ports */
    {1, "https://api.example.net:8443/v1", OK, 0},
    {1, "http://api.example.net:8443/", OK, 0},
    {1, "https://api.example.net:08443/", OK, 0},
    {1, "https://api.example.net/v1", NAL, 0},
    {1, "https://api.example.net:443/v1", NAL, 0},
    /* an entry's scheme */
    {1, "https://secure.example/", OK, 0},
    {1, "https://secure.example:8443/", OK, 0},
    {1, "http://secure.example/", NAL, 0},
    {1, "ftp://files.example/pub/f", OK, 0},
    {1, "FTP://FILES.EXAMPLE./x", OK, 0},
    {1, "ftp://other.example/", SCH, 0},
    {1, "ftp://10.0.0.1/", SCH, 0},
    {1, "https://files.example/", NAL, 0},
    {1, "ws://docs.example.com/", SCH, 0},
    {1, "mailto:a@docs.example.com", SCH, 0},
    {1, "javascript:alert(1)", SCH, 0},
    /* path prefixes */
    {1, "https://repo.example/pub/", OK, 0},
    {1, "https://repo.example/pub/x/y", OK, 0},
    {1, "https://repo.example/x/../pub/a", OK, 0},
    {1, "https://repo.example/%70ub/a", OK, 0},
    {1, "https://repo.example\\pub\\a", OK, 0},
    {1, "https://repo.example/pub/a?x=/../../", OK, 0},
    {1, "https://repo.example/pub/a#/../../x", OK, 0},
    {1, "https://repo.example/pub", NAL, 0},
    {1, "https://repo.example/pubx", NAL, 0},
    {1, "https://repo.example/", NAL, 0},
    {1, "https://repo.example/pub/../secret", NAL, 0},
    {1, "https://repo.example/pub/%2e%2e/secret", NAL, 0},
    {1, "https://repo.example/pub/.%2E/secret", NAL, 0},
    {1, "https://repo.example/pub/..%2fsecret", NAL, 0},
    {1, "https://repo.example/pub%2fx", NAL, 0},
    {1, "https://repo.example/pub/%252e%252e/x", NAL, 0},
    {1, "https://repo.example/pub/..;/admin", NAL, 0},
    {1, "https://repo.example/pub/a%5c..%5c..%5cx", NAL, 0},
    {1, "http://repo.example/pub/a", NAL, 0},
    {1, "https://code.example/p", OK, 0},
    {1, "https://code.example/p/x", OK, 0},
    {1, "http://code.example/p/../p/y", OK, 0},
    {1, "https://code.example/px", NAL, 0},
    {1, "https://code.example/", NAL, 0},
    {1, "https://code.example/P", NAL, 0},
    /* IP entries: any written form of the address, IPv4-mapped IPv6 too */
    {1, "http://10.1.2.3/", OK, 0},
    {1, "http://167838211/", OK, 0},
    {1, "http://012.1.2.3/", OK, 0},
    {1, "http://[::ffff:10.1.2.3]/", OK, 0},
    {1, "http://[::ffff:a01:203]/", OK, 0},
    {1, "http://10.1.2.4/", INT, 0},
    {1, "http://8.8.8.8/", OK, 0},
    {1, "http://0x08080808/", OK, 0},
    {1, "http://[::ffff:8.8.8.8]/", OK, 0},
    {1, "http://8.8.4.4/", NAL, 0},
    {1, "http://[2001:db8::1]/", OK, 0},
    {1, "http://[2001:DB8:0::1]:8080/", OK, 0},
    {1, "http://[2001:db8::2]/", NAL, 0},
    {1, "https://10.1.2.3.nip.io/", NAL, 0}, /* a domain never matches an IP entry */
    /* CIDR ranges, internal addresses in them allowed */
    {1, "http://192.168.1.1/", OK, 0},
    {1, "http://192.168.255.255:81/", OK, 0},
    {1, "http://[::ffff:192.168.5.5]/", OK, 0},
    {1, "http://192.169.0.1/", NAL, 0},
    {1, "http://[fd12:3456::1]/", OK, 0},
    {1, "http://[fd12:3456:ffff::1]/", OK, 0},
    {1, "http://[fd12:3457::1]/", INT, 0},
    {1, "http://[fd00:ec2::254]/", INT, 0},
    {1, "http://100.64.1.1:9000/", OK, 0},
    {1, "http://100.100.100.200:9000/", OK, 0},
    {1, "http://100.64.1.1/", INT, 0},
    {1, "http://169.254.169.254/", INT, 0},
    /* internal names named by an entry */
    {1, "http://localhost:8080/", OK, 0},
    {1, "http://LOCALHOST.:8080/", OK, 0},
    {1, "http://localhost/", INT, 0},
    {1, "http://127.0.0.1:8080/", INT, 0}, /* an IP never matches a domain entry */
    {1, "https://a.svc.internal/", OK, 0},
    {1, "https://svc.internal/", INT, 0},
    {1, "https://metadata.google.internal/", INT, 0},
    /* IDNA */
    {1, "https://münchen.de/", OK, 0},
    {1, "https://xn--mnchen-3ya.de/", OK, 0},
    {1, "https://m%C3%BCnchen.de/", OK, 0},
    {1, "https://MÜNCHEN.DE/", OK, 0},
    {1, "https://muenchen.de/", NAL, 0},
    /* user info, backslashes, missing slashes */
    {1, "https://docs.example.com@evil.example/", NAL, 0},
    {1, "https://user:pw@docs.example.com/", OK, 0},
    {1, "https://evil.example\\@docs.example.com", NAL, 0},
    {1, "https://docs.example.com\\@evil.example", OK, 0},
    {1, "https:\\\\evil.example", NAL, 0},
    {1, "https:\\\\docs.example.com\\x", OK, 0},
    {1, "https:evil.example", NAL, 0},
    {1, "https:docs.example.com/x", OK, 0},
    {1, "https:////evil.example/", NAL, 0},
    /* protocol-relative references */
    {1, "//evil.example", NAL, 0},
    {1, "//docs.example.com/x", OK, 0},
    {1, "\\\\evil.example", NAL, 0},
    {1, "/\\evil.example", NAL, 0},
    {1, "//secure.example/", OK, 0},
    {1, "//files.example/", NAL, 0},
    {1, "//api.example.net:8443/", OK, 0},
    {1, "//10.1.2.3/", OK, 0},
    {1, "//10.9.9.9/", INT, 0},
    /* tab, newline, spaces and controls */
    {1, "http://ev\til.example", NAL, 0},
    {1, "http://do\tcs.example.com", OK, 0},
    {1, "http://docs.example.com\n/x", OK, 0},
    {1, "https://repo.example/pu\tb/x", OK, 0},
    {1, "  https://docs.example.com/  ", OK, 0},
    {1, "\x01https://evil.example\x1f", NAL, 0},
    {1, "http://docs.exa\x7fmple.com", UNP, 0},
    /* bare hosts */
    {1, "docs.example.com/x", OK, BARE},
    {1, "www.evil.example/x", NAL, BARE},
    {1, "10.1.2.3:8080/admin", OK, BARE},
    {1, "10.0.0.1:8080/admin", INT, BARE},
    {1, "169.254.169.254/latest", INT, BARE},
    {1, "repo.example/pub/a", OK, BARE},
    {1, "docs.example.com/x", OK, 0}, /* without the flag: a relative path */

    /* ---- 2: a scheme list and no entries ---- */
    {2, "https://example.com", OK, 0},
    {2, "http://example.com", SCH, 0},
    {2, "mailto:x@example.com", OK, 0},
    {2, "MAILTO:x@example.com", OK, 0},
    {2, "data:text/plain,hi", OK, 0},
    {2, "javascript:alert(1)", SCH, 0},
    {2, "ftp://example.com", SCH, 0},
    {2, "file:///etc/passwd", INT, 0},
    {2, "file://server/share", INT, 0},
    {2, "//example.com/", OK, 0},
    {2, "//10.0.0.1/", INT, 0},
    {2, "https://127.0.0.1", INT, 0},

    /* ---- 3: ftp listed; https and file only through entries ---- */
    {3, "ftp://a.example.com/", OK, 0},
    {3, "ftp://example.com/", NAL, 0},
    {3, "ftp://10.0.0.1/", INT, 0},
    {3, "https://api.example/", OK, 0},
    {3, "https://api.example:8443/x", OK, 0},
    {3, "https://other.example/", SCH, 0},
    {3, "http://api.example/", SCH, 0},
    {3, "https://a.example.com/", SCH, 0},
    {3, "https://10.0.0.1/", SCH, 0},
    {3, "//api.example/x", OK, 0},
    {3, "//a.example.com/", SCH, 0},
    {3, "file://fileserver/share/x", OK, 0},
    {3, "file://otherserver/x", SCH, 0},
    {3, "file:///etc/passwd", SCH, 0},

    /* ---- 4: ports and ranges ---- */
    {4, "https://example.com/", OK, 0},
    {4, "http://example.com:443/", OK, 0},
    {4, "http://example.com/", NAL, 0},
    {4, "https://example.com:8443/", NAL, 0},
    {4, "//example.com/", OK, 0},
    {4, "//example.com:80/", NAL, 0},
    {4, "ws://example.com", SCH, 0},
    {4, "http://[::1]:8080/", OK, 0},
    {4, "http://[0:0::1]:8080/", OK, 0},
    {4, "http://[::1]/", INT, 0},
    {4, "https://10.2.3.4:8443/", OK, 0},
    {4, "https://[::ffff:10.9.9.9]:8443/", OK, 0},
    {4, "https://10.2.3.4/", INT, 0},
    {4, "http://[fd00:ec2::254]:9000/", OK, 0},
    {4, "http://[fd00:ec2::254]/", INT, 0},
    {4, "http://plain.example/", OK, 0},
    {4, "http://plain.example:80/", OK, 0},
    {4, "https://plain.example/", NAL, 0},
    {4, "//plain.example/", OK, 0},
    {4, "http://172.20.1.1/", OK, 0},
    {4, "http://172.32.0.1/", NAL, 0},
    {4, "http://[fe80::1]/", OK, 0},
    {4, "http://[fec0::1]/", INT, 0},
};

static struct gw_egress_policy *built[N_POLICIES];

static int
setup(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_POLICIES; i++) {
        built[i] = gw_egress_policy_new();
        if (built[i] == NULL)
            return -1;
        char err[128];
        for (const char *const *s = POLICIES[i].schemes; *s != NULL; s++)
            if (gw_egress_policy_scheme(built[i], *s, strlen(*s), err, sizeof(err)) < 0) {
                print_error("policy %zu: scheme '%s': %s\n", i, *s, err);
                return -1;
            }
        for (const char *const *e = POLICIES[i].entries; *e != NULL; e++)
            if (gw_egress_policy_allow(built[i], *e, strlen(*e), err, sizeof(err)) < 0) {
                print_error("policy %zu: entry '%s': %s\n", i, *e, err);
                return -1;
            }
    }
    return 0;
}

static int
teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < N_POLICIES; i++)
        gw_egress_policy_free(built[i]);
    return 0;
}

static void
test_table(void **state)
{
    (void)state;
    size_t n = sizeof(CASES) / sizeof(CASES[0]), bad = 0, count[5] = {0};
    for (size_t i = 0; i < n; i++) {
        const struct url_case *c = &CASES[i];
        enum gw_egress_why got =
            gw_egress_check(built[c->policy], c->url, strlen(c->url), c->flags);
        count[c->want]++;
        if (got != c->want) {
            print_error("policy %d '%s'%s: %s, expected %s\n", c->policy, c->url,
                        c->flags ? " (bare)" : "", gw_egress_why_name(got),
                        gw_egress_why_name(c->want));
            bad++;
        }
    }
    assert_true(n >= 130);
    for (int w = 0; w < 5; w++)
        assert_true(count[w] >= 10);
    assert_int_equal(bad, 0);
}

static void
test_counts(void **state)
{
    (void)state;
    assert_int_equal(gw_egress_policy_count(built[0]), 0);
    assert_int_equal(gw_egress_policy_count(built[1]), 16);
    assert_int_equal(gw_egress_policy_count(built[2]), 0);
    assert_int_equal(gw_egress_policy_count(built[3]), 3);
}

static int
allow(struct gw_egress_policy *p, const char *entry, char *err, size_t errlen)
{
    return gw_egress_policy_allow(p, entry, strlen(entry), err, errlen);
}

static void
test_bad_entries(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "*",
        "*.",
        "a*b.com",
        "*x.com",
        "x.*.com",
        "*.*.com",
        "example.*",
        "*.10.0.0.1",
        "*.[::1]",
        "*.0x7f.1",
        "host:0",
        "host:65536",
        "host:",
        "host:8a",
        "host:-1",
        "10.0.0.0/33",
        "fd00::/129",
        "[fd00::]/200",
        "10.0.0.0/8/x",
        "10.0.0.0/8:443/x",
        "10.0.0.0/8x",
        "user@host",
        "https://user:pw@host/",
        "host?x=1",
        "host/p#frag",
        "https://",
        "://host",
        "1http://host",
        "ht tp://host",
        "exa mple.com",
        "host\\x",
        "host\t",
        "a..b",
        ".example.com",
        "example.com..",
        "[::1",
        "[::1]x",
        "[::1]:99999",
        "[v1.x]",
        "exa%zzmple.com",
        "xn--a.com",
        "host/a%2fb",
        "host/p/..;/x",
        "host/a%25",
        ":8080",
        "/path",
        "256.1.1.1",
    };
    struct gw_egress_policy *p = gw_egress_policy_new();
    assert_non_null(p);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        if (allow(p, bad[i], err, sizeof(err)) != -1 || err[0] == '\0')
            fail_msg("entry '%s' accepted (or no reason)", bad[i]);
    }
    assert_int_equal(gw_egress_policy_count(p), 0);
    /* a short error buffer is still NUL-terminated; none at all is fine */
    char err[4] = "xxx";
    assert_int_equal(allow(p, "*", err, sizeof(err)), -1);
    assert_int_equal(strlen(err), 3);
    assert_int_equal(allow(p, "*", NULL, 0), -1);
    /* nothing changed: the empty policy still allows public hosts */
    assert_int_equal(gw_egress_check(p, "https://x.example/", 18, 0), GW_EGRESS_OK);
    gw_egress_policy_free(p);
}

static void
test_good_entries(void **state)
{
    (void)state;
    static const struct {
        const char *entry;
        const char *url;   /* allowed by the entry alone */
        const char * not ; /* not allowed by it */
    } good[] = {
        {"docs.example.com", "https://docs.example.com/", "https://x.docs.example.com/"},
        {"*.example.com", "https://a.b.example.com/", "https://example.com/"},
        {"*.com", "https://example.com/", "https://example.org/"},
        {"0x7f.1", "http://127.0.0.1/", "http://127.0.0.2/"},
        {"127.0.0.1/8", "http://127.9.9.9/", "http://128.0.0.1/"},
        {"::1", "http://[::1]/", "http://[::2]/"},
        {"[::1]", "http://[0::1]/", "http://127.0.0.1/"},
        {"[::1]:8080", "http://[::1]:8080/", "http://[::1]/"},
        {"fd00::/8", "http://[fdff::1]/", "http://[fe00::1]/"},
        {"[fd00::]/8", "http://[fd00:ec2::254]/", "http://[fc00::1]/"},
        {"fd00::/8:9000", "http://[fd00::1]:9000/", "http://[fd00::1]/"},
        {"::ffff:10.0.0.1", "http://[::ffff:a00:1]/", "http://10.0.0.1/"},
        {"0.0.0.0/0", "http://10.0.0.1/", "http://localhost/"},
        {"::/0", "http://[::1]/", "http://127.0.0.1/"},
        {"10.0.0.0/8:443", "https://10.1.1.1/", "http://10.1.1.1/"},
        {"10.1.2.3/admin", "http://10.1.2.3/admin/x", "http://10.1.2.3/"},
        {"10.1.2.3:80/8/", "http://10.1.2.3/8/x", "http://10.1.2.3:81/8/x"},
        {"host:8443", "https://host:8443/", "https://host/"},
        {"https://host", "https://host:1/", "http://host/"},
        {"HTTPS://Host.Example./P/../Q", "https://host.example/Q/r", "https://host.example/P/"},
        {"https://host:8443/p/", "https://host:8443/p/x", "https://host:8443/p"},
        {"host/p", "http://host/p", "http://host/px"},
        {"medium.example/@user", "https://medium.example/@user/post", "https://medium.example/"},
        {"archive.example/web/https://x", "http://archive.example/web/https://x/y",
         "http://archive.example/web/"},
        {"host/", "http://host/x", "http://host/a%2fb"},
        {"*.example.com/api/", "https://a.example.com/api/v1", "https://a.example.com/"},
        {"münchen.de", "https://xn--mnchen-3ya.de/", "https://munchen.de/"},
        {"ex%61mple.net", "https://example.net/", "https://exbmple.net/"},
        {"ws://chat.example", "ws://chat.example/", "wss://chat.example/"},
        {"file://server", "file://server/share", "file:///etc/passwd"},
        {"localhost", "http://localhost:1234/", "http://127.0.0.1/"},
        {"metadata.google.internal", "http://metadata.google.internal/", "http://metadata/"},
    };
    for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
        struct gw_egress_policy *p = gw_egress_policy_new();
        assert_non_null(p);
        char err[128] = "";
        if (allow(p, good[i].entry, err, sizeof(err)) != 0)
            fail_msg("entry '%s' refused: %s", good[i].entry, err);
        assert_int_equal(gw_egress_policy_count(p), 1);
        enum gw_egress_why w = gw_egress_check(p, good[i].url, strlen(good[i].url), 0);
        if (w != GW_EGRESS_OK)
            fail_msg("entry '%s': '%s' is %s", good[i].entry, good[i].url, gw_egress_why_name(w));
        w = gw_egress_check(p, good[i].not, strlen(good[i].not ), 0);
        if (w == GW_EGRESS_OK)
            fail_msg("entry '%s': '%s' allowed", good[i].entry, good[i].not );
        gw_egress_policy_free(p);
    }
}

static void
test_duplicates(void **state)
{
    (void)state;
    struct gw_egress_policy *p = gw_egress_policy_new();
    assert_non_null(p);
    static const char *const same[][4] = {
        {"docs.example.com", "DOCS.example.com.", "docs.ex%61mple.com", NULL},
        {"10.0.0.1", "10.0.0.1/32", "0x0a000001", "[::ffff:10.0.0.1]" /* IPv6: another */},
        {"10.0.0.0/8", "10.1.2.3/8", "012.0.0.0/8", NULL},
        {"*.example.com", "*.EXAMPLE.com.", NULL, NULL},
        {"https://h/p/../q", "HTTPS://h/q", "https://H/%71", NULL},
        {"[fd00::]/8", "fd12::/8", "[fd00:0::0]/8", NULL},
    };
    for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++)
        for (size_t j = 0; j < 4 && same[i][j] != NULL; j++)
            assert_int_equal(allow(p, same[i][j], NULL, 0), 0);
    assert_int_equal(gw_egress_policy_count(p), 7);
    /* the same host with another port, scheme or path is another entry */
    assert_int_equal(allow(p, "docs.example.com:443", NULL, 0), 0);
    assert_int_equal(allow(p, "https://docs.example.com", NULL, 0), 0);
    assert_int_equal(allow(p, "docs.example.com/x", NULL, 0), 0);
    assert_int_equal(allow(p, "*.docs.example.com", NULL, 0), 0);
    assert_int_equal(gw_egress_policy_count(p), 11);
    gw_egress_policy_free(p);
}

static void
test_schemes(void **state)
{
    (void)state;
    struct gw_egress_policy *p = gw_egress_policy_new();
    assert_non_null(p);
    static const char *const bad[] = {"",      "1http", "ht tp",
                                      "http:", "+x",    "-a",
                                      "a_b",   "héllo", "abcdefghijabcdefghijabcdefghijab"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[128] = "";
        assert_int_equal(gw_egress_policy_scheme(p, bad[i], strlen(bad[i]), err, sizeof(err)), -1);
        assert_true(err[0] != '\0');
    }
    /* a failed call does not replace the default list */
    assert_int_equal(gw_egress_check(p, "http://a.example/", 17, 0), GW_EGRESS_OK);
    assert_int_equal(gw_egress_policy_scheme(p, "GIT+SSH", 7, NULL, 0), 0);
    assert_int_equal(gw_egress_policy_scheme(p, "a.b-c", 5, NULL, 0), 0);
    assert_int_equal(gw_egress_policy_scheme(p, "abcdefghijabcdefghijabcdefghija", 31, NULL, 0), 0);
    assert_int_equal(gw_egress_policy_scheme(p, "git+ssh", 7, NULL, 0), 0);
    assert_int_equal(gw_egress_check(p, "http://a.example/", 17, 0), GW_EGRESS_SCHEME);
    assert_int_equal(gw_egress_check(p, "git+ssh://git@a.example/x", 25, 0), GW_EGRESS_OK);
    assert_int_equal(gw_egress_check(p, "git+ssh://10.0.0.1/x", 20, 0), GW_EGRESS_INTERNAL);
    assert_int_equal(gw_egress_check(p, "//a.example/", 12, 0), GW_EGRESS_SCHEME);
    assert_int_equal(gw_egress_check(p, "/x", 2, 0), GW_EGRESS_OK);
    /* a port entry never matches a URL of a scheme without a default port and without a port */
    assert_int_equal(allow(p, "a.example:22", NULL, 0), 0);
    assert_int_equal(gw_egress_check(p, "git+ssh://a.example/x", 21, 0), GW_EGRESS_NOT_ALLOWED);
    assert_int_equal(gw_egress_check(p, "git+ssh://a.example:22/x", 24, 0), GW_EGRESS_OK);
    gw_egress_policy_free(p);
}

static void
test_limits(void **state)
{
    (void)state;
    struct gw_egress_policy *p = gw_egress_policy_new();
    assert_non_null(p);
    size_t cap = 70 * 1024;
    char *url = malloc(cap);
    assert_non_null(url);
    memcpy(url, "https://a.example/", 18);
    memset(url + 18, 'a', cap - 18);
    /* up to 64 KiB judged, longer ones not */
    assert_int_equal(gw_egress_check(p, url, 64 * 1024, 0), GW_EGRESS_OK);
    assert_int_equal(gw_egress_check(p, url, 64 * 1024 + 1, 0), GW_EGRESS_UNPARSED);
    /* a bare text: up to 4 KiB with its "//" */
    assert_int_equal(gw_egress_check(p, url + 8, 4094, GW_EGRESS_BARE), GW_EGRESS_OK);
    assert_int_equal(gw_egress_check(p, url + 8, 4095, GW_EGRESS_BARE), GW_EGRESS_UNPARSED);
    /* a path over 8 KiB never matches a path entry, and matches a host entry */
    assert_int_equal(allow(p, "a.example/", NULL, 0), 0);
    assert_int_equal(gw_egress_check(p, url, 17 + 8000, 0), GW_EGRESS_OK);
    assert_int_equal(gw_egress_check(p, url, 17 + 9000, 0), GW_EGRESS_NOT_ALLOWED);
    assert_int_equal(allow(p, "a.example", NULL, 0), 0);
    assert_int_equal(gw_egress_check(p, url, 17 + 9000, 0), GW_EGRESS_OK);
    /* an entry over 2 KiB, or with a path of 1 KiB or more, is refused */
    char entry[3000];
    memcpy(entry, "a.example/", 10);
    memset(entry + 10, 'b', sizeof(entry) - 10);
    char err[128] = "";
    assert_int_equal(gw_egress_policy_allow(p, entry, 9 + 1023, err, sizeof(err)), 0);
    assert_int_equal(gw_egress_policy_allow(p, entry, 9 + 1024, err, sizeof(err)), -1);
    assert_int_equal(gw_egress_policy_allow(p, entry, sizeof(entry), err, sizeof(err)), -1);
    free(url);
    gw_egress_policy_free(p);
}

static void
test_names(void **state)
{
    (void)state;
    assert_string_equal(gw_egress_why_name(GW_EGRESS_OK), "ok");
    assert_string_equal(gw_egress_why_name(GW_EGRESS_UNPARSED), "unparsed");
    assert_string_equal(gw_egress_why_name(GW_EGRESS_SCHEME), "scheme");
    assert_string_equal(gw_egress_why_name(GW_EGRESS_INTERNAL), "internal");
    assert_string_equal(gw_egress_why_name(GW_EGRESS_NOT_ALLOWED), "not_allowed");
    assert_string_equal(gw_egress_why_name((enum gw_egress_why)99), "unknown");
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),       cmocka_unit_test(test_counts),
        cmocka_unit_test(test_bad_entries), cmocka_unit_test(test_good_entries),
        cmocka_unit_test(test_duplicates),  cmocka_unit_test(test_schemes),
        cmocka_unit_test(test_limits),      cmocka_unit_test(test_names),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
