/*
 * Unit tests for providers/jsonload.c: gw_json_loadb builds jansson's tree (compared as compact
 * dumps: values, key order, integer or real, -0.0) and fails where json_loadb fails, with
 * jansson's message; the fast path handles every ordinary body itself and hands over exactly what
 * it does not build (deep nesting, long numbers, jansson's raw-NUL quirk).
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

#include "providers/jsonload.h"
#include "providers/jsonscan.h"

static char *
dump(const json_t *j)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));
    assert_non_null(s);
    return s;
}

/* gw_json_loadb and json_loadb agree on t (n bytes); returns the fast path's verdict. */
static enum gw_json_fast
same(const char *t, size_t n, size_t flags)
{
    json_error_t we, ge;
    json_t *want = json_loadb(t, n, flags, &we);
    json_t *got = gw_json_loadb(t, n, flags, &ge);
    enum gw_json_fast why;
    json_t *fast = gw_json_load_fast(t, n, flags, &why);
    if (want) {
        assert_non_null(got);
        char *a = dump(want), *b = dump(got);
        assert_string_equal(a, b);
        if (fast) {
            char *c = dump(fast);
            assert_string_equal(a, c);
            free(c);
        }
        free(a);
        free(b);
    } else {
        assert_null(got);
        assert_null(fast);
        assert_int_equal(why, GW_JSON_FAST_INVALID);
        assert_string_equal(we.text, ge.text);
        assert_int_equal(we.position, ge.position);
    }
    json_decref(want);
    json_decref(got);
    json_decref(fast);
    return why;
}

static enum gw_json_fast
same_s(const char *t, size_t flags)
{
    return same(t, strlen(t), flags);
}

static void
test_bodies(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "{}",
        "[]",
        " \t\r\n{ } \n",
        "{\"model\":\"gpt-4o\",\"temperature\":0.7,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"hi\"}],\"stream\":true,\"n\":1,\"stop\":null,\"logprobs\":false}",
        /* a repeated key: first position, last value (as jansson) */
        "{\"a\":1,\"b\":2,\"a\":3}",
        /* escapes of every kind, in keys and values; a surrogate pair; UTF-8 as it is */
        "{\"k\\n\\\"\\u00e9\":\"caf\\u00e9 \\ud83d\\ude00 \\/ \\\\ \\b\\f\\r\\t\",\"\xc3\xa9\":"
        "\"\xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x98\x80\"}",
        /* numbers: kinds and edges jansson accepts */
        "[0,-0,-0.0,1.5E+3,1e-400,2.5e-3,9223372036854775807,-9223372036854775808,1E5,0.1,"
        "0.30000000000000004]",
        /* a long escaped string (heap buffer) and a long plain one */
        "[\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "a"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\\n\"]",
        "[[[[[[[[[[{\"deep\":[true,false,null]}]]]]]]]]]]",
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        assert_int_equal(same_s(ok[i], 0), GW_JSON_FAST_OK);
}

static void
test_invalid(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "   ",
        "{",
        "{\"a\":}",
        "{\"a\" 1}",
        "{\"a\":1,}",
        "[1,]",
        "[1 2]",
        "{} x",
        "\"top-level string\"",
        "42",
        "[01]",
        "[1.]",
        "[.5]",
        "[1e]",
        "[-]",
        "[+1]",
        "[1e400]",               /* real number overflow */
        "[9223372036854775808]", /* too big integer */
        "[tru]",
        "[nul]",
        "[True]",
        "[\"a\nb\"]",         /* raw control character */
        "[\"\\x41\"]",        /* unknown escape */
        "[\"\\ud83d\"]",      /* lone high surrogate */
        "[\"\\ude00\"]",      /* lone low surrogate */
        "[\"\\u00e\"]",       /* short \u */
        "[\"\xc3\x28\"]",     /* bad UTF-8 */
        "[\"\xed\xa0\x80\"]", /* an encoded surrogate */
        "[\"\xc0\xaf\"]",     /* overlong */
        "[\"unterminated]",
        "{\"k\\u0000\":1}", /* NUL in a key, never accepted */
        "[\"\\u0000\"]",    /* NUL in a value, without JSON_ALLOW_NUL */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        same_s(bad[i], 0);
}

static void
test_flags(void **state)
{
    (void)state;
    /* \u0000 in values with JSON_ALLOW_NUL: kept, length counted */
    assert_int_equal(same_s("[\"a\\u0000b\"]", JSON_ALLOW_NUL), GW_JSON_FAST_OK);
    json_t *j = gw_json_loadb("[\"a\\u0000b\"]", 12, JSON_ALLOW_NUL, NULL);
    assert_int_equal(json_string_length(json_array_get(j, 0)), 3);
    json_decref(j);
    /* ... never in keys */
    same_s("{\"a\\u0000\":1}", JSON_ALLOW_NUL);
    /* JSON_DECODE_ANY: any value at the top */
    assert_int_equal(same_s("\"s\\n\"", JSON_DECODE_ANY), GW_JSON_FAST_OK);
    assert_int_equal(same_s(" -1.5 ", JSON_DECODE_ANY), GW_JSON_FAST_OK);
    assert_int_equal(same_s("null", JSON_DECODE_ANY | JSON_ALLOW_NUL), GW_JSON_FAST_OK);
    same_s("1 2", JSON_DECODE_ANY);
    /* a flag the fast path does not know: jansson alone */
    assert_int_equal(same_s("{\"a\":1,\"b\":2}", JSON_REJECT_DUPLICATES), GW_JSON_FAST_UNSUPPORTED);
}

/* What the fast path leaves to jansson, and jansson then decides. */
static void
test_handover(void **state)
{
    (void)state;
    /* nesting beyond GW_JSON_MAX_DEPTH (jansson allows 2048) */
    size_t d = GW_JSON_MAX_DEPTH + 1;
    char *t = malloc(2 * d + 1);
    assert_non_null(t);
    memset(t, '[', d);
    memset(t + d, ']', d);
    assert_int_equal(same(t, 2 * d, 0), GW_JSON_FAST_UNSUPPORTED);
    /* ... exactly at it: built here */
    assert_int_equal(same(t + 1, 2 * d - 2, 0), GW_JSON_FAST_OK);
    free(t);
    /* a 70-digit real */
    assert_int_equal(
        same_s("[1.000000000000000000000000000000000000000000000000000000000000000000001]", 0),
        GW_JSON_FAST_UNSUPPORTED);
    /* jansson drops one raw NUL right after a number or literal; the fast path refuses it */
    static const char quirk[] = "{\"a\":1\0}";
    assert_int_equal(same(quirk, sizeof(quirk) - 1, 0), GW_JSON_FAST_INVALID);
    json_t *j = gw_json_loadb(quirk, sizeof(quirk) - 1, 0, NULL);
    assert_non_null(j);
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bodies),
        cmocka_unit_test(test_invalid),
        cmocka_unit_test(test_flags),
        cmocka_unit_test(test_handover),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
