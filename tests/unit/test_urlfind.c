/*
 * Unit tests for filters/urlfind.c: a table of free texts with the URLs gw_urlfind_next must find
 * in them (and the prose it must leave alone), a table of whole values with and without the key
 * hint, key hints, and gw_urlfind_text / gw_urlfind_json: visits (decoded strings, keys, nested
 * JSON, hint inheritance, text that is not JSON), offsets, replacements and their exact output,
 * the visitor's stop, NUL bytes, the nesting limit, and large inputs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <jansson.h>

#include "filters/urlfind.h"

#define MAXU 4

/* An expected URL; a leading '~' stands for GW_URLFIND_BARE. */
struct text_case {
    const char *text;
    const char *urls[MAXU];
};

static const struct text_case TEXT[] = {
    /* schemes followed by "//", any scheme, any case */
    {"https://evil.example/x", {"https://evil.example/x"}},
    {"see https://evil.example/?d=secret now", {"https://evil.example/?d=secret"}},
    {"HTTPS://EVIL.EXAMPLE/", {"HTTPS://EVIL.EXAMPLE/"}},
    {"HtTp://evil.example", {"HtTp://evil.example"}},
    {"gopher://evil.example:70/_x", {"gopher://evil.example:70/_x"}},
    {"dict://127.0.0.1:11211/stat", {"dict://127.0.0.1:11211/stat"}},
    {"ldap://10.0.0.1/o=x", {"ldap://10.0.0.1/o=x"}},
    {"svn+ssh://host.example/repo", {"svn+ssh://host.example/repo"}},
    {"file:///etc/passwd", {"file:///etc/passwd"}},
    {"read file:/etc/passwd", {"file:/etc/passwd"}},
    {"Ftp://files.example/a", {"Ftp://files.example/a"}},
    {"x-https://evil.example", {"x-https://evil.example"}},
    {"1https://evil.example", {"https://evil.example"}},
    {"c://host.example/x", {"c://host.example/x"}},
    /* slashes written otherwise */
    {"https:\\/\\/evil.example\\/x", {"https:\\/\\/evil.example\\/x"}},
    {"https:\\\\\\\\evil.example", {"https:\\\\\\\\evil.example"}},
    {"http:/\\evil.example", {"http:/\\evil.example"}},
    {"gopher:\\\\evil.example", {"gopher:\\\\evil.example"}},
    {"gopher:\\/\\/evil.example", {"gopher:\\/\\/evil.example"}},
    /* special schemes without slashes */
    {"https:evil.example/x", {"https:evil.example/x"}},
    {"Go to https:evil.example.", {"https:evil.example"}},
    {"ws:evil.example", {"ws:evil.example"}},
    {"WSS://x.example", {"WSS://x.example"}},
    {"ftp:files.example", {"ftp:files.example"}},
    {"HTTP:8080", {"HTTP:8080"}},
    /* protocol-relative */
    {"//evil.example/x", {"//evil.example/x"}},
    {"see //evil.example/x", {"//evil.example/x"}},
    {"<a href=\"//evil.example\">", {"//evil.example"}},
    {"<a href=//evil.example>x</a>", {"//evil.example"}},
    {"src='\\\\evil.example\\share'", {"\\\\evil.example\\share"}},
    {"(//evil.example)", {"//evil.example"}},
    {"url=//evil.example&x", {"//evil.example&x"}},
    {"a,//evil.example", {"//evil.example"}},
    {"\\/\\/evil.example", {"\\/\\/evil.example"}},
    {"///evil.example", {"///evil.example"}},
    {"//[::1]/x", {"//[::1]/x"}},
    {"//%65vil.example", {"//%65vil.example"}},
    {"//\xef\xbd\x85vil.example", {"//\xef\xbd\x85vil.example"}},
    {"javascript:fetch('//evil.example')", {"//evil.example"}},
    {"\xe3\x80\x80//evil.example", {"//evil.example"}},
    /* www. */
    {"www.evil.example/x", {"~www.evil.example/x"}},
    {"visit WWW.Evil.Example.", {"~WWW.Evil.Example"}},
    {"(www.evil.example)", {"~www.evil.example"}},
    /* where URLs end */
    {"(see https://evil.example/a_(b)).", {"https://evil.example/a_(b)"}},
    {"[link](https://evil.example/x)", {"https://evil.example/x"}},
    {"![i](https://evil.example/i.png?d=1)", {"https://evil.example/i.png?d=1"}},
    {"[https://evil.example]", {"https://evil.example"}},
    {"https://evil.example/[a]", {"https://evil.example/[a]"}},
    {"<https://evil.example/>", {"https://evil.example/"}},
    {"\"https://evil.example\"", {"https://evil.example"}},
    {"'https://evil.example'", {"https://evil.example"}},
    {"`https://evil.example`", {"https://evil.example"}},
    {"x https://evil.example/<script>", {"https://evil.example/"}},
    {"https://evil.example/a|b", {"https://evil.example/a"}},
    {"https://evil.example/a^b", {"https://evil.example/a"}},
    {"https://evil.example/x?", {"https://evil.example/x"}},
    {"https://evil.example/x!?;:", {"https://evil.example/x"}},
    {"https://evil.example/\x01x", {"https://evil.example/"}},
    {"https://evil.example\\\"}", {"https://evil.example"}},
    {"https://evil.example\xe3\x80\x82", {"https://evil.example"}},
    {"https://evil.example\xef\xbc\x8c next", {"https://evil.example"}},
    {"https://evil.example\xc2\xa0next", {"https://evil.example"}},
    {"https://[::1]:8080/x", {"https://[::1]:8080/x"}},
    {"http://user:pass@10.0.0.1/", {"http://user:pass@10.0.0.1/"}},
    {"http://a.example/?next=http://b.example", {"http://a.example/?next=http://b.example"}},
    /* several */
    {"https://a.example, https://b.example; ok", {"https://a.example", "https://b.example"}},
    {"https://a.example https://b.example", {"https://a.example", "https://b.example"}},
    {"a //b.example www.c.example d:e ftp://f.example",
     {"//b.example", "~www.c.example", "ftp://f.example"}},
    /* JSON read as text */
    {"{\"url\":\"https://evil.example/?d=1\"}", {"https://evil.example/?d=1"}},
    {"{\\\"u\\\":\\\"http://10.0.0.1/\\\"}", {"http://10.0.0.1/"}},
    {"\"a\\nhttps:evil.example\"", {"https:evil.example"}},
    {"\"line\\nwww.evil.example\"", {"~www.evil.example"}},
    {"\"\\n//evil.example\"", {"//evil.example"}},
    {"\"\\u0068ttps://evil.example\"", {"ttps://evil.example"}},
    /* prose, paths and numbers */
    {"Note: this", {NULL}},
    {"ratio 1:2", {NULL}},
    {"a//b", {NULL}},
    {"src/main.c", {NULL}},
    {"C:\\Users\\x", {NULL}},
    {"C:\\\\Users\\\\x", {NULL}},
    {"v1.2.3", {NULL}},
    {"e.g. this", {NULL}},
    {"3.14", {NULL}},
    {"10.0.0.1", {NULL}},
    {"evil.example/x", {NULL}},
    {"x = 1; // comment", {NULL}},
    {"// comment", {NULL}},
    {"\\/usr\\/bin", {NULL}},
    {"awww.example", {NULL}},
    {"docs/www.conf", {NULL}},
    {"www.", {NULL}},
    {"prefix https:// and http://", {NULL}},
    {"http:", {NULL}},
    {"http:.", {NULL}},
    {"ws:", {NULL}},
    {"mailto:a@b.example", {NULL}},
    {"data:text/html,x", {NULL}},
    {"Profile:x", {NULL}},
    {"file:report.txt", {NULL}},
    {"12:30:45", {NULL}},
    {"std::vector<int>", {NULL}},
    {"\xc3\xa9//evil.example", {NULL}},
    {"//", {NULL}},
    {"", {NULL}},
};

static void
expect_url(const char *what, const char *got, size_t len, unsigned flags, const char *want)
{
    int bare = want[0] == '~';
    const char *w = want + bare;
    if (len != strlen(w) || memcmp(got, w, len) != 0 || ((flags & GW_URLFIND_BARE) != 0) != bare)
        fail_msg("%s: found '%.*s' (flags %u), expected '%s'", what, (int)len, got, flags, want);
}

static void
test_next_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(TEXT) / sizeof(TEXT[0]); c++) {
        const struct text_case *tc = &TEXT[c];
        size_t n = strlen(tc->text), pos = 0, off, len, k = 0, last = 0;
        unsigned flags;
        while (gw_urlfind_next(tc->text, n, &pos, &off, &len, &flags)) {
            if (k == MAXU || !tc->urls[k])
                fail_msg("'%s': unexpected URL '%.*s'", tc->text, (int)len, tc->text + off);
            assert_true(len > 0 && off >= last && off + len <= n && pos == off + len);
            expect_url(tc->text, tc->text + off, len, flags, tc->urls[k]);
            last = pos;
            k++;
        }
        if (k < MAXU && tc->urls[k])
            fail_msg("'%s': '%s' not found", tc->text, tc->urls[k]);
        assert_int_equal(pos, n);
    }
}

/* No URL starts before *pos (a scheme is read from *pos on); the search goes on from there. */
static void
test_next_pos(void **state)
{
    (void)state;
    const char *t = "http://a.example http://b.example";
    size_t n = strlen(t), pos = 1, off, len;
    unsigned flags;
    assert_int_equal(gw_urlfind_next(t, n, &pos, &off, &len, &flags), 1);
    assert_int_equal(off, 1); /* "ttp://a.example" */
    assert_int_equal(gw_urlfind_next(t, n, &pos, &off, &len, &flags), 1);
    assert_int_equal(off, 17);
    assert_int_equal(gw_urlfind_next(t, n, &pos, &off, &len, &flags), 0);
    pos = 0;
    assert_int_equal(gw_urlfind_next(t, 4, &pos, &off, &len, &flags), 0);
    assert_int_equal(pos, 4);
    /* NUL bytes end a URL like any control */
    const char nul[] = "x\0http://a.example\0y";
    pos = 0;
    assert_int_equal(gw_urlfind_next(nul, sizeof(nul) - 1, &pos, &off, &len, &flags), 1);
    assert_int_equal(off, 2);
    assert_int_equal(len, 16);
}

struct whole_case {
    const char *s;
    int hint;
    int yes;
};

static const struct whole_case WHOLE[] = {
    /* IP addresses */
    {"10.0.0.1", 0, 0}, /* alone: a netmask, a version or a bind address as often */
    {"10.0.0.1", 1, 1},
    {"10.0.0.1:6379", 0, 1},
    {"169.254.169.254/latest/meta-data", 0, 1},
    {"0177.0.0.1", 0, 1},
    {"255.255.255.0", 0, 0},
    {"1.2.3.4", 0, 0},
    {"[::1]:8080", 0, 1},
    {"[::1]", 0, 1},
    {"[::ffff:127.0.0.1]/x", 0, 1},
    {"2130706433", 0, 0},
    {"2130706433", 1, 1},
    {"2130706433:80", 0, 1},
    {"0x7f000001/x", 0, 1},
    {"0x7f000001", 0, 0},
    {"0x7f.1", 0, 1},
    {"127.1", 0, 0},
    {"127.1", 1, 1},
    {"127.1/x", 0, 1},
    {"0:8080", 0, 1},
    {"3.14", 0, 0},
    {"1.2.3", 0, 0},
    {"10:30", 0, 0},
    {"16:9", 0, 0},
    {"10.0.19041.1", 0, 0},
    {"1.2.3.4.5", 0, 0},
    {"09.1.1.1", 0, 0},
    {"[1]", 0, 0},
    {"[a:b]", 0, 0},
    {"[::1", 0, 0},
    /* names */
    {"localhost:8080/admin", 0, 1},
    {"localhost:8080", 0, 1},
    {"LOCALHOST/admin", 0, 1},
    {"localhost", 0, 0},
    {"localhost", 1, 1},
    {"db:5432", 0, 1},
    {"Page:12", 0, 0},
    {"Page:12", 1, 1},
    {"evil.example/x", 0, 1},
    {"evil.example/x y z", 0, 1},
    {"evil.example", 0, 0},
    {"evil.example", 1, 1},
    {"evil.example.", 1, 1},
    {"evil.example.:80", 0, 1},
    {"evil.example:", 1, 1},
    {"evil.example:8443", 0, 1},
    {"evil.example?d=1", 0, 1},
    {"evil.example#x", 0, 0},
    {"evil.example#x", 1, 1},
    {"evil\xe3\x80\x82"
     "example/x",
     0, 1},
    {"%31%32%37.0.0.1/x", 0, 1},
    {"ex%61mple.com/x", 0, 1},
    {"100%25.example/x", 0, 0},
    {"xn--mnchen-3ya.de", 1, 1},
    {"m\xc3\xbcnchen.de/x", 0, 1},
    {"notes.md", 0, 0},
    {"notes.md", 1, 1},
    {"README.md#install", 0, 0},
    {"v1.2.3", 1, 0},
    {"e.g.", 1, 0},
    {"a.b2/x", 0, 0},
    {"a..example/x", 0, 0},
    {".example/x", 0, 0},
    {"src/main.c", 1, 0},
    {"C:\\Users", 1, 0},
    {"alice@example.com", 1, 0},
    {"user:pass@evil.example", 1, 0},
    {"https://x.example", 1, 0},
    {"Step 1: x", 1, 0},
    {"evil.example x", 1, 0},
    {"www.evil.example", 0, 0},
    {"", 1, 0},
    {" \t\n", 1, 0},
};

static void
test_whole_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(WHOLE) / sizeof(WHOLE[0]); c++) {
        const struct whole_case *wc = &WHOLE[c];
        size_t n = strlen(wc->s), off = 99, len = 99;
        int r = gw_urlfind_whole(wc->s, n, wc->hint, &off, &len);
        if (r != wc->yes)
            fail_msg("whole('%s', hint %d) = %d", wc->s, wc->hint, r);
        if (r)
            assert_true(off == 0 && len == n);
    }
}

static void
test_whole_trim(void **state)
{
    (void)state;
    const char *s = " \n\t10.0.0.1:80/x \r\n";
    size_t off, len;
    assert_int_equal(gw_urlfind_whole(s, strlen(s), 0, &off, &len), 1);
    assert_int_equal(off, 3);
    assert_int_equal(len, 13);
    const char nul[] = "10.0.0.1\0";
    assert_int_equal(gw_urlfind_whole(nul, sizeof(nul) - 1, 1, &off, &len), 1);
    assert_int_equal(len, 8);
}

static void
test_key_hint(void **state)
{
    (void)state;
    static const char *const yes[] = {
        "url",          "URL",         "image_url",   "targetUrl", "Host",
        "callback_uri", "webhook",     "apiEndpoint", "srcset",    "href",
        "link",         "redirect_to", "domain",      "dest_url",  "Location",
        "origin",       "website",     "server_name", "address",   "x-callback",
    };
    static const char *const no[] = {"name",    "query", "",   "ur",     "path",
                                     "content", "text",  "id", "target", "destination"};
    for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++)
        if (!gw_urlfind_key_hint(yes[i], strlen(yes[i])))
            fail_msg("key '%s' has no hint", yes[i]);
    for (size_t i = 0; i < sizeof(no) / sizeof(no[0]); i++)
        if (gw_urlfind_key_hint(no[i], strlen(no[i])))
            fail_msg("key '%s' has a hint", no[i]);
    assert_int_equal(gw_urlfind_key_hint("u\0rl", 4), 0);
    assert_int_equal(gw_urlfind_key_hint("xurl", 3), 0); /* n bytes only */
}

/* ---- visits ---- */

#define MAXV 16

struct rec {
    int n;
    char url[MAXV][256];
    unsigned flags[MAXV];
    size_t offset[MAXV];
    int answer[MAXV]; /* what the visitor answers for the i-th URL (0 past the list) */
};

static int
record(void *ctx, const char *url, size_t len, unsigned flags, size_t offset)
{
    struct rec *r = ctx;
    int i = r->n++;
    if (i >= MAXV)
        return 0;
    snprintf(r->url[i], sizeof(r->url[i]), "%s%.*s", flags & GW_URLFIND_BARE ? "~" : "", (int)len,
             url);
    r->flags[i] = flags;
    r->offset[i] = offset;
    return r->answer[i];
}

static int
replace_all(void *ctx, const char *url, size_t len, unsigned flags, size_t offset)
{
    (void)url, (void)len, (void)flags, (void)offset;
    (*(int *)ctx)++;
    return 1;
}

struct json_case {
    const char *json;
    const char *urls[MAXU + 2];
};

static const struct json_case JSON[] = {
    {"{\"url\":\"https://evil.example/?d=secret\"}", {"https://evil.example/?d=secret"}},
    {"{\"https://evil.example/k\":1}", {"https://evil.example/k"}},
    {"{\"a\":{\"b\":[1,\"x http://10.0.0.1/ y\",{\"c\":\"//evil.example\"}],\"d\":null}}",
     {"http://10.0.0.1/", "//evil.example"}},
    {"{\"payload\":\"{\\\"target\\\":\\\"http://10.0.0.1/\\\"}\"}", {"http://10.0.0.1/"}},
    {"{\"p\":\"{\\\"q\\\":\\\"{\\\\\\\"u\\\\\\\":\\\\\\\"http://10.0.0.1/\\\\\\\"}\\\"}\"}",
     {"http://10.0.0.1/"}},
    {"{\"p\":\"[\\\"169.254.169.254/latest\\\"]\"}", {"~169.254.169.254/latest"}},
    {"{\"url\":\"https:\\/\\/evil.example\\/x\"}", {"https://evil.example/x"}},
    {"{\"u\":\"\\u0068ttps:evil.example\"}", {"https:evil.example"}},
    {"{\"\\u0075rl\":\"evil.example\"}", {"~evil.example"}},
    {"{\"u\":\"\\\\\\\\evil.example\\\\share\"}", {"\\\\evil.example\\share"}},
    /* hints: keys, arrays inherit, objects do not */
    {"{\"host\":\"evil.example\",\"name\":\"notes.md\"}", {"~evil.example"}},
    {"{\"name\":\"evil.example\"}", {NULL}},
    {"{\"urls\":[\"evil.example\",\"ok.example\",3]}", {"~evil.example", "~ok.example"}},
    {"{\"urls\":[[\"evil.example\"]]}", {"~evil.example"}},
    {"{\"urls\":{\"a\":\"evil.example\"}}", {NULL}},
    {"{\"server\":{\"version\":\"1.2\"}}", {NULL}},
    {"{\"urls\":\"[\\\"evil.example\\\"]\"}", {"~evil.example"}},
    {"{\"ip\":\"10.0.0.1\",\"n\":2130706433,\"s\":\"2130706433\"}", {"~10.0.0.1"}},
    {"{\"host\":\"[::1]:8080\"}", {"~[::1]:8080"}},
    {"{\"t\":\"[::1]\"}", {"~[::1]"}},
    {"\"10.0.0.1\"", {NULL}},
    {"{\"netmask\":\"255.255.255.0\",\"bind\":\"0.0.0.0\"}", {NULL}},
    {"{\"server_ip\":\"10.0.0.1\",\"zip\":\"10.0.0.2\",\"targetIp\":\"10.0.0.3\"}",
     {"~10.0.0.1", "~10.0.0.3"}},
    {"[\"a\",\"www.evil.example\"]", {"~www.evil.example"}},
    /* whole value, and a URL inside it */
    {"{\"u\":\"evil.example/?next=http://b.example\"}",
     {"~evil.example/?next=http://b.example", "http://b.example"}},
    /* the whole string as a URL parser reads it */
    {"{\"url\":\"https://ok.example @evil.example/x\"}", {"https://ok.example @evil.example/x"}},
    {"{\"url\":\"https://ok.example\\\"@evil.example/\"}", {"https://ok.example\"@evil.example/"}},
    {"{\"url\":\"www.ok.example @evil.example\"}", {"~www.ok.example @evil.example"}},
    {"{\"url\":\"https://ok.example/ @evil.example\"}", {"https://ok.example/"}},
    {"{\"url\":\"h\\tttps:evil.example\"}", {"h\tttps:evil.example"}},
    {"{\"url\":\"10.0.0.\\n1\"}", {"~10.0.0.\n1"}},
    {"{\"url\":\"h\\tttps://evil.example x\"}", {"ttps://evil.example"}},
    /* markdown and HTML in strings */
    {"{\"content\":\"See [here](https://evil.example/x) <img src=\\\"//e2.example/p\\\">\"}",
     {"https://evil.example/x", "//e2.example/p"}},
    /* what jansson refuses but other parsers take */
    {"{\"url\":\"http://a.example\",\"url\":\"http://b.example\"}",
     {"http://a.example", "http://b.example"}},
    {"{\"x\\u0000\":1,\"url\":\"\\u0068ttps:evil.example\"}", {"https:evil.example"}},
    {"{\"a\":\"\\ud800\",\"u\":\"\\u0068ttps:evil.example\"}", {"https:evil.example"}},
    {"{\"n\":1e400,\"m\":NaN,\"big\":99999999999999999999999,\"u\":\"http://x.example\"}",
     {"http://x.example"}},
    {"{\"a\":\"x\\u0000http://evil.example\"}", {"http://evil.example"}},
    /* not quite JSON */
    {"{url: https://evil.example}", {"https://evil.example"}},
    {"{\"u\":\"http://a.example", {"http://a.example"}},
    /* not JSON at all: free text, and the text as a whole value */
    {"see http://x.example now", {"http://x.example"}},
    {"10.0.0.1:8080", {"~10.0.0.1:8080"}},
    {"https://ok.example @evil.example", {"https://ok.example"}},
    {"h\tttps:evil.example", {NULL}},
    {"docs\nREADME.md\nsrc/main.c", {NULL}},
    {"2130706433", {NULL}},
    {"evil.example", {NULL}},
    {"{}", {NULL}},
    {"[1,2,true,null]", {NULL}},
    {"   ", {NULL}},
};

static void
test_json_table(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(JSON) / sizeof(JSON[0]); c++) {
        const struct json_case *jc = &JSON[c];
        struct rec r;
        memset(&r, 0, sizeof(r));
        char *out = (char *)1;
        long got = gw_urlfind_json(jc->json, strlen(jc->json), record, &r, "[URL]", &out, NULL);
        assert_null(out);
        int want = 0;
        while (want < MAXU + 2 && jc->urls[want])
            want++;
        if (got != want || r.n != want)
            fail_msg("%s: %ld URLs, expected %d (first: '%s')", jc->json, got, want,
                     r.n ? r.url[0] : "");
        for (int i = 0; i < want; i++)
            if (strcmp(r.url[i], jc->urls[i]) != 0)
                fail_msg("%s: URL %d is '%s', expected '%s'", jc->json, i, r.url[i], jc->urls[i]);
    }
}

/* The text mode of gw_urlfind_json leaves escapes as they are. */
static void
test_json_text_mode(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    const char *t = "args: https:\\/\\/evil.example\\/x";
    assert_int_equal(gw_urlfind_json(t, strlen(t), record, &r, "", NULL, NULL), 1);
    assert_string_equal(r.url[0], "https:\\/\\/evil.example\\/x");
    assert_int_equal(r.offset[0], 6);
}

static void
test_json_offsets(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    /* exact where the URL is written as it is read; else where its string starts */
    const char *j =
        "{\"a\":\"x\",\"u\":\"see http://x.example/\",\"e\":\"\\u0041 http://y.example\","
        "\"n\":\"{\\\"v\\\":\\\"http://z.example\\\"}\"}";
    assert_int_equal(gw_urlfind_json(j, strlen(j), record, &r, "", NULL, NULL), 3);
    assert_int_equal(r.offset[0], (size_t)(strstr(j, "http://x") - j));
    assert_int_equal(r.offset[1], (size_t)(strstr(j, "\\u0041") - j));
    assert_int_equal(r.offset[2], (size_t)(strstr(j, "{\\\"v") - j));
    memset(&r, 0, sizeof(r));
    const char *t = "a http://x.example b //y.example";
    assert_int_equal(gw_urlfind_text(t, strlen(t), record, &r, "", NULL, NULL), 2);
    assert_int_equal(r.offset[0], 2);
    assert_int_equal(r.offset[1], 21);
}

/* ---- replacements ---- */

struct repl_case {
    const char *in;
    int answers[MAXU]; /* the visitor's answers, in order */
    long ret;
    const char *out; /* NULL: nothing written */
};

static const struct repl_case REPL[] = {
    {"{\"url\": \"https://evil.example/x\", \"n\": 1.50}",
     {1},
     1,
     "{\"url\": \"[URL]\", \"n\": 1.50}"},
    {"{\"t\":\"see http://a.example and http://b.example.\"}",
     {1, 1},
     2,
     "{\"t\":\"see [URL] and [URL].\"}"},
    {"{\"t\":\"see http://a.example and http://b.example.\"}",
     {0, 1},
     2,
     "{\"t\":\"see http://a.example and [URL].\"}"},
    {"{\"t\":\"see http://a.example\"}", {0}, 1, NULL},
    {"{\"payload\":\"{\\\"target\\\": \\\"http://10.0.0.1/\\\", \\\"n\\\": 1}\"}",
     {1},
     1,
     "{\"payload\":\"{\\\"target\\\": \\\"[URL]\\\", \\\"n\\\": 1}\"}"},
    {"{\"p\":\"{\\\"q\\\":\\\"{\\\\\\\"u\\\\\\\":\\\\\\\"http://10.0.0.1/\\\\\\\"}\\\"}\"}",
     {1},
     1,
     "{\"p\":\"{\\\"q\\\":\\\"{\\\\\\\"u\\\\\\\":\\\\\\\"[URL]\\\\\\\"}\\\"}\"}"},
    {"{\"a\":\"\\u00e9 http://x.example \\n\\/\",\"b\":\"\\u00e9\"}",
     {1},
     1,
     "{\"a\":\"\xc3\xa9 [URL] \\n/\",\"b\":\"\\u00e9\"}"},
    {"{\"a\":\"x\\u0000http://evil.example\"}", {1}, 1, "{\"a\":\"x\\u0000[URL]\"}"},
    {"{\"u\":\"\\ud800 http://x.example\"}", {1}, 1, "{\"u\":\"\\ud800 [URL]\"}"},
    {"{\"u\":\"evil.example/?next=http://b.example\"}", {1, 1}, 2, "{\"u\":\"[URL]\"}"},
    {"{\"u\":\"evil.example/?next=http://b.example\"}",
     {0, 1},
     2,
     "{\"u\":\"evil.example/?next=[URL]\"}"},
    {"{\"url\":\"https://evil.example\",\"url\":\"https://evil.example\"}",
     {1, 1},
     2,
     "{\"url\":\"[URL]\",\"url\":\"[URL]\"}"},
    {"{\"https://evil.example/k\":\"v\"}", {1}, -2, NULL},
    {"{\"p\":\"{\\\"http://evil.example/\\\":1}\"}", {1}, -2, NULL},
    {"{\"https://evil.example/k\":\"v\"}", {0}, 1, NULL},
    {"[\"http://a.example\",\"http://b.example\"]", {1, -1}, -1, NULL},
    {"see http://x.example, or www.y.example.", {1, 1}, 2, "see [URL], or [URL]."},
    {"10.0.0.1:8080", {1}, 1, "[URL]"},
    {"{url: https://evil.example}", {1}, 1, "{url: [URL]}"},
    {"\"http://x.example\"", {1}, 1, "\"[URL]\""},
};

static void
test_json_replace(void **state)
{
    (void)state;
    for (size_t c = 0; c < sizeof(REPL) / sizeof(REPL[0]); c++) {
        const struct repl_case *rc = &REPL[c];
        struct rec r;
        memset(&r, 0, sizeof(r));
        memcpy(r.answer, rc->answers, sizeof(rc->answers));
        char *out = NULL;
        size_t outlen = 7;
        long got = gw_urlfind_json(rc->in, strlen(rc->in), record, &r, "[URL]", &out, &outlen);
        if (got != rc->ret)
            fail_msg("%s: returned %ld, expected %ld", rc->in, got, rc->ret);
        if (!rc->out) {
            assert_null(out);
            assert_int_equal(outlen, 0);
            continue;
        }
        if (!out)
            fail_msg("%s: nothing written, expected %s", rc->in, rc->out);
        if (strcmp(out, rc->out) != 0)
            fail_msg("%s: wrote %s, expected %s", rc->in, out, rc->out);
        assert_int_equal(outlen, strlen(out));
        /* JSON in, JSON out */
        json_t *a = json_loadb(rc->in, strlen(rc->in), JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (a) {
            json_t *b = json_loadb(out, outlen, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            if (!b)
                fail_msg("%s: output %s is not JSON", rc->in, out);
            json_decref(b);
            json_decref(a);
        }
        free(out);
    }
}

/* A marker that needs escaping inside a JSON string is escaped; one that is not UTF-8 is -2. */
static void
test_json_marker(void **state)
{
    (void)state;
    const char *j = "{\"u\":\"http://x.example\"}";
    int k = 0;
    char *out = NULL;
    size_t outlen = 0;
    assert_int_equal(gw_urlfind_json(j, strlen(j), replace_all, &k, "\"<\\>\"\n", &out, &outlen),
                     1);
    assert_string_equal(out, "{\"u\":\"\\\"<\\\\>\\\"\\n\"}");
    free(out);
    assert_int_equal(gw_urlfind_json(j, strlen(j), replace_all, &k, "\xff", &out, &outlen), -2);
    assert_null(out);
    /* free text takes any marker, an empty one too */
    const char *t = "a http://x.example b";
    assert_int_equal(gw_urlfind_json(t, strlen(t), replace_all, &k, NULL, &out, &outlen), 1);
    assert_string_equal(out, "a  b");
    assert_int_equal(outlen, 4);
    free(out);
    /* the visitor's 1 without out: counted, nothing written */
    assert_int_equal(gw_urlfind_json(j, strlen(j), replace_all, &k, "[URL]", NULL, NULL), 1);
    assert_int_equal(gw_urlfind_json(j, strlen(j), NULL, NULL, "[URL]", &out, NULL), 1);
    assert_null(out);
}

static void
test_text_replace(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    r.answer[1] = 1;
    char *out = NULL;
    size_t outlen = 0;
    const char *t = "a http://x.example b //y.example c www.z.example";
    assert_int_equal(gw_urlfind_text(t, strlen(t), record, &r, "[URL]", &out, &outlen), 3);
    assert_string_equal(out, "a http://x.example b [URL] c www.z.example");
    assert_int_equal(outlen, strlen(out));
    free(out);
    memset(&r, 0, sizeof(r));
    r.answer[0] = -1;
    assert_int_equal(gw_urlfind_text(t, strlen(t), record, &r, "[URL]", &out, &outlen), -1);
    assert_int_equal(r.n, 1);
    assert_null(out);
    memset(&r, 0, sizeof(r));
    assert_int_equal(gw_urlfind_text(t, strlen(t), record, &r, "[URL]", &out, &outlen), 3);
    assert_null(out);
    assert_int_equal(gw_urlfind_text("", 0, record, &r, "[URL]", &out, &outlen), 0);
    assert_int_equal(gw_urlfind_text(NULL, 0, record, &r, "[URL]", &out, &outlen), 0);
}

static void
test_json_stop(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    r.answer[0] = 1;
    r.answer[1] = -1;
    char *out = NULL;
    const char *j =
        "{\"a\":\"http://a.example\",\"b\":[\"http://b.example\",\"http://c.example\"]}";
    assert_int_equal(gw_urlfind_json(j, strlen(j), record, &r, "[URL]", &out, NULL), -1);
    assert_int_equal(r.n, 2);
    assert_null(out);
}

static void
test_json_empty(void **state)
{
    (void)state;
    struct rec r;
    memset(&r, 0, sizeof(r));
    char *out = NULL;
    assert_int_equal(gw_urlfind_json("", 0, record, &r, "[URL]", &out, NULL), 0);
    assert_int_equal(gw_urlfind_json(NULL, 0, record, &r, "[URL]", &out, NULL), 0);
    assert_int_equal(gw_urlfind_json("\"\"", 2, record, &r, "[URL]", &out, NULL), 0);
    assert_int_equal(r.n, 0);
    assert_null(out);
}

/* doc wrapped levels times: {"p":"<the JSON of the level below>"}. */
static char *
wrapped(json_t *doc, int levels)
{
    json_t *v = json_incref(doc);
    for (int i = 0; i < levels; i++) {
        char *s = json_dumps(v, JSON_COMPACT);
        json_decref(v);
        v = json_pack("{s:s}", "p", s);
        free(s);
    }
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    return s;
}

static void
test_json_depth(void **state)
{
    (void)state;
    json_t *url = json_pack("{s:s}", "u", "http://10.0.0.1/");
    json_t *host = json_pack("{s:s}", "host", "evil.example");
    for (int levels = 0; levels <= 12; levels++) {
        char *j = wrapped(url, levels);
        struct rec r;
        memset(&r, 0, sizeof(r));
        r.answer[0] = 1;
        char *out = NULL;
        assert_int_equal(gw_urlfind_json(j, strlen(j), record, &r, "[URL]", &out, NULL), 1);
        assert_memory_equal(r.url[0], "http://10.0.0.1/", 16);
        /* below 8 levels walked as JSON; then read as text, where escapes end it up to 10 */
        if (levels <= 10)
            assert_string_equal(r.url[0], "http://10.0.0.1/");
        else
            assert_true(strlen(r.url[0]) > 16);
        assert_non_null(out);
        assert_null(strstr(out, "10.0.0.1"));
        json_t *x = json_loads(out, 0, NULL);
        assert_non_null(x);
        json_decref(x);
        free(out);
        free(j);
        /* a whole value needs its key: found while the levels are walked as JSON */
        j = wrapped(host, levels);
        memset(&r, 0, sizeof(r));
        assert_int_equal(gw_urlfind_json(j, strlen(j), record, &r, "[URL]", NULL, NULL),
                         levels <= 8 ? 1 : 0);
        free(j);
    }
    json_decref(url);
    json_decref(host);
    /* containers nested deeper than the key tracking: values read with the hint, never edited */
    size_t deep = 300;
    char *j = malloc(2 * deep + 32);
    size_t n = 0;
    for (size_t i = 0; i < deep; i++)
        j[n++] = '[';
    n += (size_t)sprintf(j + n, "\"evil.example\"");
    for (size_t i = 0; i < deep; i++)
        j[n++] = ']';
    struct rec r;
    memset(&r, 0, sizeof(r));
    char *out = NULL;
    assert_int_equal(gw_urlfind_json(j, n, record, &r, "[URL]", &out, NULL), 1);
    assert_string_equal(r.url[0], "~evil.example");
    memset(&r, 0, sizeof(r));
    r.answer[0] = 1;
    assert_int_equal(gw_urlfind_json(j, n, record, &r, "[URL]", &out, NULL), -2);
    assert_null(out);
    free(j);
}

static void
test_json_huge(void **state)
{
    (void)state;
    size_t count = 100000;
    size_t cap = count * 40 + 16, n = 0;
    char *j = malloc(cap);
    j[n++] = '[';
    for (size_t i = 0; i < count; i++)
        n += (size_t)sprintf(j + n, "%s\"http://h%zu.example/\"", i ? "," : "", i);
    j[n++] = ']';
    int k = 0;
    char *out = NULL;
    size_t outlen = 0;
    assert_int_equal(gw_urlfind_json(j, n, replace_all, &k, "[URL]", &out, &outlen), (long)count);
    assert_int_equal(k, (int)count);
    assert_int_equal(outlen, 2 + count * 7 + (count - 1));
    free(out);
    assert_int_equal(gw_urlfind_text(j, n, NULL, NULL, "", NULL, NULL), (long)count);
    free(j);
    /* 8 MiB of prose in one string, and as text: nothing found, nothing written */
    n = 8u << 20;
    j = malloc(n);
    for (size_t i = 0; i < n; i++)
        j[i] = "Note: this a//b 3.14 v1.2.3 e.g. src/main.c www ratio 1:2 \\n "[i % 61];
    j[0] = '"';
    j[n - 1] = '"';
    assert_int_equal(gw_urlfind_json(j, n, replace_all, &k, "[URL]", &out, NULL), 0);
    assert_null(out);
    j[0] = 'x';
    assert_int_equal(gw_urlfind_json(j, n, replace_all, &k, "[URL]", &out, NULL), 0);
    assert_int_equal(gw_urlfind_text(j, n, replace_all, &k, "[URL]", &out, NULL), 0);
    free(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_next_table),     cmocka_unit_test(test_next_pos),
        cmocka_unit_test(test_whole_table),    cmocka_unit_test(test_whole_trim),
        cmocka_unit_test(test_key_hint),       cmocka_unit_test(test_json_table),
        cmocka_unit_test(test_json_text_mode), cmocka_unit_test(test_json_offsets),
        cmocka_unit_test(test_json_replace),   cmocka_unit_test(test_json_marker),
        cmocka_unit_test(test_text_replace),   cmocka_unit_test(test_json_stop),
        cmocka_unit_test(test_json_empty),     cmocka_unit_test(test_json_depth),
        cmocka_unit_test(test_json_huge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
