/*
 * Unit tests for providers/jsondump.c: gw_json_dumps writes what json_dumps writes (compact,
 * insertion order, escapes, integers, reals at a precision), fails where it fails (a string that
 * is not UTF-8, a scalar without JSON_ENCODE_ANY) and hands other flags to it.
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

#include "providers/jsondump.h"

/* Both writers on j with flags; returns gw_json_dumps' text (to free), NULL when both failed. */
static char *
same(const json_t *j, size_t flags)
{
    char *want = json_dumps(j, flags);
    size_t n = 0;
    char *got = gw_json_dumps(j, flags, &n);
    if (!want) {
        assert_null(got);
        return NULL;
    }
    assert_non_null(got);
    assert_string_equal(got, want);
    assert_int_equal(n, strlen(want));
    free(want);
    return got;
}

static void
test_values(void **state)
{
    (void)state;
    json_t *j = json_loads("{\"z\":1,\"a\":[true,false,null,-0,-9223372036854775808],\"e\":{},"
                           "\"l\":[],\"s\":\"caf\\u00e9 \\ud83d\\ude00 / \\\" \\\\ \\b\\f\\n\\r\\t"
                           "\\u0001\\u001f\\u007f\\u0000\",\"k\\n\":\"\"}",
                           JSON_ALLOW_NUL, NULL);
    assert_non_null(j);
    char *s = same(j, JSON_COMPACT);
    /* the exact text, as a reminder of jansson's conventions */
    assert_string_equal(s, "{\"z\":1,\"a\":[true,false,null,0,-9223372036854775808],\"e\":{},"
                           "\"l\":[],\"s\":\"caf\xc3\xa9 \xf0\x9f\x98\x80 / \\\" \\\\ "
                           "\\b\\f\\n\\r\\t\\u0001\\u001F\x7f\\u0000\",\"k\\n\":\"\"}");
    free(s);
    json_decref(j);
}

static void
test_reals(void **state)
{
    (void)state;
    static const double v[] = {0.0,
                               -0.0,
                               1.0,
                               0.1,
                               0.7,
                               1.5e300,
                               1e22,
                               1e-7,
                               123456789.0,
                               0.30000000000000004,
                               3.141592653589793,
                               -2.5e-310};
    json_t *a = json_array();
    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++)
        json_array_append_new(a, json_real(v[i]));
    for (int p = 0; p <= 17; p++)
        free(same(a, JSON_COMPACT | JSON_REAL_PRECISION(p)));
    char *s = same(a, JSON_COMPACT | JSON_REAL_PRECISION(3));
    assert_string_equal(s, "[0.0,-0.0,1.0,0.1,0.7,1.5e300,1e22,1e-7,1.23e8,0.3,3.14,-2.5e-310]");
    free(s);
    json_decref(a);
}

static void
test_failures_and_flags(void **state)
{
    (void)state;
    /* a string that is not UTF-8 (made without a check): both fail */
    json_t *a = json_array();
    json_array_append_new(a, json_stringn_nocheck("ok \xff", 4));
    assert_null(same(a, JSON_COMPACT));
    json_decref(a);
    /* a key that is not UTF-8: jansson writes it anyway (the writer hands it over) */
    json_t *o = json_object();
    json_object_setn_new_nocheck(o, "\xc3\x28", 2, json_null());
    char *k = same(o, JSON_COMPACT);
    assert_non_null(k);
    free(k);
    json_decref(o);
    /* a scalar: only with JSON_ENCODE_ANY */
    json_t *s = json_string("x");
    assert_null(same(s, JSON_COMPACT));
    free(same(s, JSON_COMPACT | JSON_ENCODE_ANY));
    json_decref(s);
    /* flags the writer does not handle: json_dumps' own output */
    json_t *j = json_loads("{\"b\":1,\"a\":[1,2]}", 0, NULL);
    free(same(j, JSON_COMPACT | JSON_SORT_KEYS));
    free(same(j, JSON_INDENT(2)));
    free(same(j, 0));
    json_decref(j);
}

int
main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_reals),
        cmocka_unit_test(test_failures_and_flags),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
